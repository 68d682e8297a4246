// peer-finder: tells the members of a stateful cluster who their peers are, flag-compatible
// with the classic tool (`-on-start=/script.sh -on-change=/script.sh -service=nginx -ns=default
// -domain=cluster.local`). The peers are the FQDNs `<hostname>.<svc>.<ns>.svc.<domain>` of the
// headless service's endpoints, sorted, given to the script on stdin one a line: on-start once,
// then on-change each time the set changes. Scripts never overlap; a change during a run queues
// the newest set.
//
// It watches the service's EndpointSlices with the pod's service-account token (in-cluster
// config), so a change reaches the script within milliseconds; where the API cannot be reached
// it polls the service's DNS SRV records every second, as the classic tool does.
import { spawn } from 'node:child_process';
import { promises as dnsp } from 'node:dns';
import os from 'node:os';
import { isApiStatusError, KubeClient, type ResourceRef } from '../client/rest.ts';
import { Informer } from '../client/informer.ts';
import type { ClientConfig } from '../client/kubeconfig.ts';
import type { KubeObject } from '../registry/types.ts';
import { loadToolConfig } from './incluster.ts';

const ENDPOINT_SLICES: ResourceRef = { group: 'discovery.k8s.io', version: 'v1', plural: 'endpointslices', namespaced: true, kind: 'EndpointSlice' };
const SERVICES: ResourceRef = { group: '', version: 'v1', plural: 'services', namespaced: true, kind: 'Service' };

export type PeerLog = (message: string) => void;

export interface PeerFinderOptions {
  service: string;
  namespace: string;
  domain: string;
  onStart?: string;
  onChange?: string;
  /** API access (watch mode); without it, DNS mode. */
  client?: ClientConfig;
  /** 'auto' (default): watch, DNS when the API does not answer within apiTimeoutMs. */
  mode?: 'auto' | 'watch' | 'dns';
  apiTimeoutMs?: number;
  /** DNS servers (`ip` or `ip:port`) for DNS mode (default: the system's). */
  dnsServers?: string[];
  /** DNS poll interval (default 1000 ms). */
  pollMs?: number;
  /** Run scripts only once this FQDN is among the peers (the classic tool waits for itself). */
  self?: string;
  env?: NodeJS.ProcessEnv;
  log?: PeerLog;
}

export interface ScriptRun {
  script: string;
  peers: string[];
  code: number | null;
  /** When the change was seen (performance.now()), when the script was spawned and when it ended. */
  seenAt: number;
  spawnedAt: number;
  endedAt: number;
}

export interface PeerFinder {
  readonly mode: 'watch' | 'dns';
  /** The latest peer set seen. */
  peers(): string[];
  /** Script runs so far. */
  readonly runs: readonly ScriptRun[];
  /** Called after each script run ends. */
  onRun?: (run: ScriptRun) => void;
  /** Called when a new peer set is seen (before its script is spawned). */
  onPeers?: (peers: string[], seenAt: number) => void;
  stop(): Promise<void>;
}

function rec(v: unknown): Record<string, unknown> {
  return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
}

/**
 * The peers of a headless service from its EndpointSlices: every endpoint that is ready (all of
 * them when the service publishes not-ready addresses), named `<hostname>.<svc>.<ns>.svc.<domain>`
 * (the dashed IP when the endpoint has no hostname, as cluster DNS names it). Sorted, unique.
 */
export function peersFromSlices(slices: readonly KubeObject[], service: string, namespace: string, domain: string, publishNotReady = false): string[] {
  const out = new Set<string>();
  const suffix = `${service}.${namespace}.svc.${domain}`;
  for (const s of slices) {
    const eps = (s as KubeObject & { endpoints?: unknown }).endpoints;
    if (!Array.isArray(eps)) continue;
    for (const e of eps) {
      const ep = rec(e);
      const cond = rec(ep.conditions);
      if (!publishNotReady && cond.ready === false) continue;
      let host = typeof ep.hostname === 'string' && ep.hostname ? ep.hostname : undefined;
      if (!host) {
        const addr = Array.isArray(ep.addresses) ? ep.addresses.find((a): a is string => typeof a === 'string') : undefined;
        if (!addr) continue;
        host = addr.includes(':') ? addr.replace(/:/g, '-') : addr.replace(/\./g, '-');
      }
      out.add(`${host}.${suffix}`);
    }
  }
  return [...out].sort();
}

/** Runs scripts one at a time; a set that arrives during a run replaces any queued one. */
class ScriptQueue {
  private running = false;
  private queued: { script: string; peers: string[]; seenAt: number } | undefined;
  private idleWaiters: (() => void)[] = [];
  readonly runs: ScriptRun[] = [];
  constructor(
    private readonly env: NodeJS.ProcessEnv,
    private readonly log: PeerLog,
    private readonly after: (run: ScriptRun) => void,
  ) {}

  push(script: string, peers: string[], seenAt: number): void {
    this.queued = { script, peers, seenAt };
    if (!this.running) this.next();
  }

  idle(): Promise<void> {
    if (!this.running) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  private next(): void {
    const job = this.queued;
    this.queued = undefined;
    if (!job) {
      this.running = false;
      for (const w of this.idleWaiters.splice(0)) w();
      return;
    }
    this.running = true;
    const spawnedAt = performance.now();
    const finish = (code: number | null, err?: Error): void => {
      const run: ScriptRun = { script: job.script, peers: job.peers, code, seenAt: job.seenAt, spawnedAt, endedAt: performance.now() };
      this.runs.push(run);
      this.log(err ? `${job.script} failed to run: ${err.message}` : `${job.script} exited with ${code === null ? 'a signal' : `code ${code}`}`);
      try {
        this.after(run);
      } finally {
        this.next();
      }
    };
    let done = false;
    const child = spawn(job.script, [], { env: this.env, stdio: ['pipe', 'inherit', 'inherit'] });
    child.on('error', (e) => {
      if (!done) {
        done = true;
        finish(null, e);
      }
    });
    child.on('close', (code) => {
      if (!done) {
        done = true;
        finish(code);
      }
    });
    child.stdin.on('error', () => undefined); // a script that does not read its stdin
    child.stdin.end(job.peers.map((p) => `${p}\n`).join(''));
  }
}

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** Start finding peers; resolves once the first source (watch or DNS) is running. */
export async function startPeerFinder(opts: PeerFinderOptions): Promise<PeerFinder> {
  const log = opts.log ?? ((m: string) => process.stderr.write(`peer-finder: ${m}\n`));
  const { service, namespace, domain } = opts;
  let current: string[] | undefined;
  let started = false;
  const finder: PeerFinder = {
    mode: 'dns',
    peers: () => current ?? [],
    runs: [],
    stop: async () => undefined,
  };
  const queue = new ScriptQueue(opts.env ?? process.env, log, (run) => finder.onRun?.(run));
  (finder as { runs: readonly ScriptRun[] }).runs = queue.runs;

  const seen = (peers: string[]): void => {
    const seenAt = performance.now();
    if (current && sameSet(current, peers)) return;
    current = peers;
    log(`peers: ${peers.length === 0 ? '(none)' : peers.join(', ')}`);
    finder.onPeers?.(peers, seenAt);
    if (opts.self && !peers.includes(opts.self)) return;
    const script = started ? opts.onChange : (opts.onStart ?? opts.onChange);
    started = true;
    if (script) queue.push(script, peers, seenAt);
  };

  const mode = opts.mode ?? 'auto';
  if (opts.client && mode !== 'dns') {
    const client = new KubeClient(opts.client, { userAgent: 'kennel-peer-finder' });
    let publishNotReady = false;
    let apiOk = true;
    try {
      const svc = await client.get<KubeObject & { spec?: { publishNotReadyAddresses?: boolean } }>(SERVICES, namespace, service, { timeoutMs: opts.apiTimeoutMs ?? 3000 });
      publishNotReady = svc.spec?.publishNotReadyAddresses === true;
    } catch (e) {
      // A service that does not exist (yet) or a token that may not read services is fine;
      // an API that does not answer is not.
      if (!isApiStatusError(e)) apiOk = false;
    }
    if (apiOk || mode === 'watch') {
      const inf = new Informer<KubeObject>(client, ENDPOINT_SLICES, { namespace, labelSelector: `kubernetes.io/service-name=${service}`, name: 'peer-endpointslices', backoff: { initialMs: 200, maxMs: 5000 } });
      const recompute = (): void => seen(peersFromSlices(inf.list(), service, namespace, domain, publishNotReady));
      inf.addEventHandler({ onAdd: (_o, initial) => !initial && recompute(), onUpdate: recompute, onDelete: recompute });
      inf.start();
      try {
        await inf.waitForSync({ timeoutMs: opts.apiTimeoutMs ?? 3000 });
        recompute();
        (finder as { mode: 'watch' | 'dns' }).mode = 'watch';
        log(`watching EndpointSlices of ${namespace}/${service}`);
        finder.stop = async () => {
          await inf.stop();
          client.close();
          await queue.idle();
        };
        return finder;
      } catch (e) {
        await inf.stop();
        if (mode === 'watch') {
          client.close();
          throw e;
        }
      }
    }
    client.close();
    log(`the API server is not reachable; polling DNS SRV records of ${service}.${namespace}.svc.${domain}`);
  }

  // DNS mode: the SRV records of the service, every pollMs.
  const resolver = new dnsp.Resolver({ timeout: 500, tries: 1 });
  if (opts.dnsServers?.length) resolver.setServers(opts.dnsServers);
  const name = `${service}.${namespace}.svc.${domain}`;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let inFlight: Promise<void> | undefined;
  const poll = async (): Promise<void> => {
    try {
      const recs = await resolver.resolveSrv(name);
      seen([...new Set(recs.map((r) => r.name.replace(/\.$/, '')))].sort());
    } catch (e) {
      const code = (e as { code?: string }).code;
      if (code === 'ENOTFOUND' || code === 'ENODATA') seen([]);
      else log(`SRV lookup of ${name}: ${code ?? String(e)}`);
    }
  };
  const loop = (): void => {
    if (stopped) return;
    inFlight = poll().finally(() => {
      inFlight = undefined;
      if (!stopped) timer = setTimeout(loop, opts.pollMs ?? 1000);
    });
  };
  loop();
  finder.stop = async () => {
    stopped = true;
    if (timer) clearTimeout(timer);
    resolver.cancel();
    await inFlight;
    await queue.idle();
  };
  return finder;
}

// ---------------------------------------------------------------------------------------------
// Command line

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/**
 * Go-flag style arguments: `-name=value`, `-name value`, `--name=value`, `--name value`;
 * booleans as `-name` or `-name=true|false`.
 */
export function parseFlags(argv: readonly string[], spec: Record<string, 'string' | 'boolean'>, aliases: Record<string, string> = {}): { flags: Record<string, string | boolean>; positional: string[] } {
  const flags: Record<string, string | boolean> = {};
  const positional: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      positional.push(...argv.slice(i + 1));
      break;
    }
    if (!a.startsWith('-') || a === '-') {
      positional.push(a);
      continue;
    }
    const body = a.replace(/^--?/, '');
    const eq = body.indexOf('=');
    let key = eq >= 0 ? body.slice(0, eq) : body;
    key = aliases[key] ?? key;
    const kind = spec[key];
    if (!kind) throw new UsageError(`unknown flag ${a}`);
    if (kind === 'boolean') {
      const v = eq >= 0 ? body.slice(eq + 1) : 'true';
      if (v !== 'true' && v !== 'false') throw new UsageError(`flag -${key} takes true or false`);
      flags[key] = v === 'true';
      continue;
    }
    let v: string | undefined;
    if (eq >= 0) v = body.slice(eq + 1);
    else {
      v = argv[i + 1];
      i++;
    }
    if (v === undefined) throw new UsageError(`flag -${key} needs a value`);
    flags[key] = v;
  }
  return { flags, positional };
}

const PEER_FINDER_FLAGS: Record<string, 'string' | 'boolean'> = {
  'on-start': 'string',
  'on-change': 'string',
  service: 'string',
  ns: 'string',
  domain: 'string',
  kubeconfig: 'string',
  mode: 'string',
  'dns-server': 'string',
  'poll-interval': 'string',
  'wait-for-self': 'boolean',
  once: 'boolean',
  help: 'boolean',
};

export const PEER_FINDER_USAGE = `usage: peer-finder -service=<headless service> [-on-start=<script>] [-on-change=<script>] [-ns=<namespace>] [-domain=cluster.local]
  -ns              default: $POD_NAMESPACE, else the service-account namespace
  -kubeconfig      use a kubeconfig instead of the in-cluster config
  -mode            auto (default: watch, DNS SRV polling when the API is unreachable), watch or dns
  -dns-server      ip[:port] of the DNS server for DNS mode (default: the system's)
  -poll-interval   DNS poll interval in ms (default 1000)
  -wait-for-self   run scripts only once this pod (\`hostname\`) is a peer (default: true in a pod)
  -once            exit after the on-start script has run (also the default without -on-change,
                   as the classic tool does); the exit code is 1 when the script failed`;

/** `peer-finder …`: 0 on a clean stop, 2 on bad flags, 1 on failure. */
export async function peerFinderMain(argv: readonly string[], io: { env?: NodeJS.ProcessEnv; signal?: AbortSignal; log?: PeerLog } = {}): Promise<number> {
  const env = io.env ?? process.env;
  const log = io.log ?? ((m: string) => process.stderr.write(`peer-finder: ${m}\n`));
  let flags: Record<string, string | boolean>;
  try {
    flags = parseFlags(argv, PEER_FINDER_FLAGS, { 'on_start': 'on-start', 'on_change': 'on-change', namespace: 'ns' }).flags;
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n${PEER_FINDER_USAGE}\n`);
    return 2;
  }
  if (flags.help) {
    process.stdout.write(`${PEER_FINDER_USAGE}\n`);
    return 0;
  }
  const service = typeof flags.service === 'string' ? flags.service : '';
  const mode = typeof flags.mode === 'string' ? flags.mode : 'auto';
  const pollMs = typeof flags['poll-interval'] === 'string' ? Number(flags['poll-interval']) : 1000;
  if (!service || !['auto', 'watch', 'dns'].includes(mode) || !Number.isFinite(pollMs) || pollMs <= 0) {
    process.stderr.write(`${!service ? 'missing -service' : 'bad -mode or -poll-interval'}\n${PEER_FINDER_USAGE}\n`);
    return 2;
  }
  let cfg;
  try {
    cfg = loadToolConfig({ kubeconfig: typeof flags.kubeconfig === 'string' ? flags.kubeconfig : undefined, env });
  } catch (e) {
    log((e as Error).message);
    return 1;
  }
  const namespace = typeof flags.ns === 'string' && flags.ns ? flags.ns : cfg.namespace;
  const domain = typeof flags.domain === 'string' && flags.domain ? flags.domain : 'cluster.local';
  const waitForSelf = typeof flags['wait-for-self'] === 'boolean' ? flags['wait-for-self'] : cfg.source === 'in-cluster';
  const self = waitForSelf ? `${(env.HOSTNAME || os.hostname()).split('.')[0]}.${service}.${namespace}.svc.${domain}` : undefined;
  let finder: PeerFinder;
  try {
    finder = await startPeerFinder({
      service,
      namespace,
      domain,
      onStart: typeof flags['on-start'] === 'string' ? flags['on-start'] : undefined,
      onChange: typeof flags['on-change'] === 'string' ? flags['on-change'] : undefined,
      client: cfg.client,
      mode: mode as 'auto' | 'watch' | 'dns',
      dnsServers: typeof flags['dns-server'] === 'string' ? [flags['dns-server']] : undefined,
      pollMs,
      self,
      env,
      log,
    });
  } catch (e) {
    log(`cannot start: ${(e as Error).message}`);
    return 1;
  }
  return new Promise<number>((resolve) => {
    const end = (code: number): void => {
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
      void finder.stop().then(() => resolve(code));
    };
    const onSignal = (): void => end(0);
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
    io.signal?.addEventListener('abort', () => end(0), { once: true });
    // As the classic tool: without -on-change there is nothing to do after on-start, so it
    // exits (the init-container use: `peer-finder -on-start=/work-dir/on-start.sh -service=x`).
    // The exit code says whether that script succeeded, so a failed init container is retried.
    if (flags.once || (typeof flags['on-start'] === 'string' && typeof flags['on-change'] !== 'string')) finder.onRun = (run) => end(run.code === 0 ? 0 : 1);
  });
}
