// wait-for: the init-container step that waits for a service, instead of a curl/jq loop.
//   wait-for service grafana -n monitoring --ready 1 --timeout 5m
// Exit 0 once the service has at least N ready endpoints, 1 (with what it saw) on timeout or
// failure, 2 on bad arguments. It watches the service's EndpointSlices (in-cluster config).
import { Informer } from '../client/informer.ts';
import { KubeClient, type ResourceRef } from '../client/rest.ts';
import type { ClientConfig } from '../client/kubeconfig.ts';
import type { KubeObject } from '../registry/types.ts';
import { readyAddressesOfSlices } from '../agent/dependencies.ts';
import { loadToolConfig } from './incluster.ts';
import { parseFlags, UsageError } from './peer-finder.ts';

const ENDPOINT_SLICES: ResourceRef = { group: 'discovery.k8s.io', version: 'v1', plural: 'endpointslices', namespaced: true, kind: 'EndpointSlice' };

export interface WaitForServiceOptions {
  client: ClientConfig;
  namespace: string;
  service: string;
  ready: number;
  timeoutMs: number;
  signal?: AbortSignal;
  /** Called each time the ready count changes. */
  onProgress?: (ready: number) => void;
}

export interface WaitResult {
  ok: boolean;
  ready: number;
  /** Why not ok (timeout, abort, API failure). */
  message?: string;
}

/** Wait until the service has `ready` ready endpoints (through a watch of its EndpointSlices). */
export async function waitForService(o: WaitForServiceOptions): Promise<WaitResult> {
  const client = new KubeClient(o.client, { userAgent: 'kennel-wait-for' });
  const inf = new Informer<KubeObject>(client, ENDPOINT_SLICES, { namespace: o.namespace, labelSelector: `kubernetes.io/service-name=${o.service}`, name: 'wait-for', backoff: { initialMs: 200, maxMs: 5000 } });
  let last = -1;
  try {
    return await new Promise<WaitResult>((resolve) => {
      const count = (): number => readyAddressesOfSlices(inf.list()).size;
      const check = (): void => {
        const n = count();
        if (n !== last) {
          last = n;
          o.onProgress?.(n);
        }
        if (inf.hasSynced() && n >= o.ready) done({ ok: true, ready: n });
      };
      let finished = false;
      const timer = setTimeout(() => done({ ok: false, ready: Math.max(0, last), message: `timed out after ${formatDuration(o.timeoutMs)}: service ${o.namespace}/${o.service} has ${Math.max(0, last)}/${o.ready} ready endpoints` }), o.timeoutMs);
      const onAbort = (): void => done({ ok: false, ready: Math.max(0, last), message: 'aborted' });
      function done(r: WaitResult): void {
        if (finished) return;
        finished = true;
        clearTimeout(timer);
        o.signal?.removeEventListener('abort', onAbort);
        resolve(r);
      }
      o.signal?.addEventListener('abort', onAbort, { once: true });
      inf.addEventHandler({ onAdd: check, onUpdate: check, onDelete: check });
      inf.start();
      inf.waitForSync().then(check, () => undefined);
    });
  } finally {
    await inf.stop();
    client.close();
  }
}

/** `300ms`, `10s`, `5m`, `1h`, `1h30m` or plain seconds → ms; NaN when malformed. */
export function parseDuration(s: string): number {
  if (/^\d+(\.\d+)?$/.test(s)) return Number(s) * 1000;
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h)/gy;
  let total = 0;
  let pos = 0;
  let m: RegExpExecArray | null;
  while ((m = re.exec(s))) {
    total += Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as 'ms' | 's' | 'm' | 'h'];
    pos = re.lastIndex;
  }
  return pos === s.length && s.length > 0 ? total : NaN;
}

function formatDuration(ms: number): string {
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}

export const WAIT_FOR_USAGE = `usage: wait-for service <name> [-n <namespace>] [--ready N] [--timeout 5m] [--kubeconfig <path>]
  Exits 0 once the service has at least N (default 1) ready endpoints, 1 on timeout, 2 on bad arguments.`;

/** `wait-for …`: the exit code. */
export async function waitForMain(argv: readonly string[], io: { env?: NodeJS.ProcessEnv; signal?: AbortSignal; out?: (line: string) => void; err?: (line: string) => void } = {}): Promise<number> {
  const out = io.out ?? ((l: string) => process.stdout.write(`${l}\n`));
  const err = io.err ?? ((l: string) => process.stderr.write(`${l}\n`));
  let parsed;
  try {
    parsed = parseFlags(argv, { namespace: 'string', ready: 'string', timeout: 'string', kubeconfig: 'string', quiet: 'boolean', help: 'boolean' }, { n: 'namespace', q: 'quiet' });
  } catch (e) {
    err(`wait-for: ${(e as UsageError).message}\n${WAIT_FOR_USAGE}`);
    return 2;
  }
  const { flags, positional } = parsed;
  if (flags.help) {
    out(WAIT_FOR_USAGE);
    return 0;
  }
  const bad = (m: string): number => {
    err(`wait-for: ${m}\n${WAIT_FOR_USAGE}`);
    return 2;
  };
  if (positional[0] !== 'service' && positional[0] !== 'svc') return bad(positional[0] ? `unknown kind "${positional[0]}" (only "service")` : 'missing "service <name>"');
  const service = positional[1];
  if (!service || positional.length > 2) return bad(service ? 'too many arguments' : 'missing the service name');
  const ready = flags.ready === undefined ? 1 : Number(flags.ready);
  if (!Number.isInteger(ready) || ready < 0) return bad(`--ready must be a whole number, not "${String(flags.ready)}"`);
  const timeoutMs = flags.timeout === undefined ? 5 * 60_000 : parseDuration(String(flags.timeout));
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) return bad(`--timeout must be a duration like 30s or 5m, not "${String(flags.timeout)}"`);
  let cfg;
  try {
    cfg = loadToolConfig({ kubeconfig: typeof flags.kubeconfig === 'string' ? flags.kubeconfig : undefined, env: io.env });
  } catch (e) {
    err(`wait-for: ${(e as Error).message}`);
    return 1;
  }
  if (!cfg.client) {
    err('wait-for: no API access: not in a pod (no KUBERNETES_SERVICE_HOST and service-account token) and no --kubeconfig or $KUBECONFIG');
    return 1;
  }
  const namespace = typeof flags.namespace === 'string' ? flags.namespace : cfg.namespace;
  const quiet = flags.quiet === true;
  const r = await waitForService({
    client: cfg.client,
    namespace,
    service,
    ready,
    timeoutMs,
    signal: io.signal,
    onProgress: (n) => quiet || out(`service ${namespace}/${service}: ${n}/${ready} ready`),
  });
  if (r.ok) return 0;
  err(`wait-for: ${r.message ?? 'failed'}`);
  return 1;
}
