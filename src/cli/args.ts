// Command-line parsing for `kennel`: turns argv into validated options without starting
// anything, so every flag rule is testable. Bad input becomes one plain line that says what was
// wrong and where to look (`kennel up --help`), with exit code 2 — never a stack trace.
import { Command, CommanderError } from 'commander';
import { readFileSync } from 'node:fs';
import { homedir, hostname } from 'node:os';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { parseJoinToken } from '../api/pki.ts';

export const RUNTIMES = ['auto', 'containerd', 'process', 'simulated'] as const;
export type RuntimeKind = (typeof RUNTIMES)[number];
export const STORES = ['sqlite', 'etcd'] as const;

export type StoreConfig =
  | { backend: 'sqlite'; path: string }
  | { backend: 'etcd'; endpoints: string[]; prefix?: string };

export interface ListenAddress {
  host: string;
  port: number;
}

/** `kennel up` (control plane + local node) and `kennel server` (control plane only). */
export interface ControlPlaneOptions {
  dataDir: string;
  bind: string;
  port: number;
  store: StoreConfig;
  /** The local node agent's runtime; undefined for `kennel server` (no local node). */
  runtime?: RuntimeKind;
  /** Where the cluster DNS listens (default: decided by the DNS component). */
  dnsListen?: ListenAddress;
  /** The node lifecycle controller's durations (--node-monitor-grace-period, --node-fence-margin). */
  nodeLifecycle?: { gracePeriodMs?: number; fenceMarginMs?: number };
}

export interface Taint {
  key: string;
  value?: string;
  effect: 'NoSchedule' | 'PreferNoSchedule' | 'NoExecute';
}

export interface AgentOptions {
  server: string;
  token: string;
  /** The CA hash and secret inside the token. */
  caHash: string;
  secret: string;
  nodeName: string;
  nodeIP?: string;
  labels: Record<string, string>;
  taints: Taint[];
  runtime: RuntimeKind;
  dataDir: string;
  /** spec.leaseDurationSeconds of the node's Lease (--node-lease-duration-seconds, default 40). */
  leaseDurationSeconds?: number;
}

export type CliCommand =
  | { command: 'up'; options: ControlPlaneOptions }
  | { command: 'server'; options: ControlPlaneOptions }
  | { command: 'agent'; options: AgentOptions }
  | { command: 'version' };

export type ParseResult =
  | { ok: true; run: CliCommand }
  /** Nothing to run: help was printed (exit 0) or the input was bad (exit 2). */
  | { ok: false; exitCode: number; stdout: string; stderr: string };

/** A bad flag or argument; the message is the one line the user sees. */
export class CliUsageError extends Error {
  readonly command: string;
  constructor(command: string, message: string) {
    super(message);
    this.name = 'CliUsageError';
    this.command = command;
  }
}

export function kennelVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string };
    return pkg.version ?? '0.0.0';
  } catch {
    return '0.0.0';
  }
}

/** /var/lib/kennel as root, else $XDG_DATA_HOME/kennel or ~/.local/share/kennel. */
export function defaultDataDir(env: NodeJS.ProcessEnv = process.env, uid: number | undefined = process.getuid?.()): string {
  if (uid === 0) return '/var/lib/kennel';
  const xdg = env.XDG_DATA_HOME;
  if (xdg && xdg.startsWith('/')) return join(xdg, 'kennel');
  return join(env.HOME || homedir(), '.local', 'share', 'kennel');
}

// ---------------------------------------------------------------------------------------------
// Validators: each returns the parsed value or throws CliUsageError with one clear line.
// ---------------------------------------------------------------------------------------------
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const HOSTNAME = /^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$/;

export function parsePort(cmd: string, flag: string, raw: string, { allowZero = true } = {}): number {
  const n = /^\d{1,5}$/.test(raw.trim()) ? Number(raw.trim()) : NaN;
  const min = allowZero ? 0 : 1;
  if (!Number.isInteger(n) || n < min || n > 65535) {
    throw new CliUsageError(cmd, `${flag} must be a port number from ${min} to 65535, got "${raw}"`);
  }
  return n;
}

export function parseBind(cmd: string, raw: string): string {
  const v = raw.trim();
  if (isIP(v) || (v.length <= 253 && HOSTNAME.test(v))) return v;
  throw new CliUsageError(cmd, `--bind must be an IP address such as 127.0.0.1, 0.0.0.0 or ::, got "${raw}"`);
}

/** ADDR:PORT, with IPv6 addresses in brackets ([::1]:53). */
export function parseListenAddress(cmd: string, flag: string, raw: string): ListenAddress {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(raw.trim()) ?? /^([^:\[\]]+):(\d+)$/.exec(raw.trim());
  if (!m || !isIP(m[1]!)) {
    throw new CliUsageError(cmd, `${flag} must be ADDRESS:PORT such as 127.0.0.1:1053 or [::1]:1053, got "${raw}"`);
  }
  return { host: m[1]!, port: parsePort(cmd, flag, m[2]!, { allowZero: false }) };
}

export function parseChoice<T extends string>(cmd: string, flag: string, raw: string, choices: readonly T[]): T {
  if ((choices as readonly string[]).includes(raw)) return raw as T;
  throw new CliUsageError(cmd, `${flag} must be one of ${choices.join(', ')}, got "${raw}"`);
}

export function parseEtcdEndpoints(cmd: string, raw: string): string[] {
  const items = raw.split(',').map((s) => s.trim()).filter(Boolean);
  if (items.length === 0) throw new CliUsageError(cmd, '--etcd-endpoints needs at least one endpoint, such as http://127.0.0.1:2379');
  return items.map((item) => {
    const withScheme = /^[a-z]+:\/\//i.test(item) ? item : `http://${item}`;
    let url: URL;
    try {
      url = new URL(withScheme);
    } catch {
      throw new CliUsageError(cmd, `--etcd-endpoints: "${item}" is not an endpoint such as http://127.0.0.1:2379`);
    }
    if ((url.protocol !== 'http:' && url.protocol !== 'https:') || !url.hostname || !url.port || (url.pathname !== '/' && url.pathname !== '')) {
      throw new CliUsageError(cmd, `--etcd-endpoints: "${item}" is not an endpoint such as http://127.0.0.1:2379 (scheme, host and port)`);
    }
    return `${url.protocol}//${url.host}`;
  });
}

const DURATION_UNITS: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1000, ms: 1, us: 0.001, 'µs': 0.001, ns: 0.000001 };

/** A Go duration as Kubernetes' flags take it (50s, 1m30s, 500ms), in ms, at least minMs. */
export function parseDuration(cmd: string, flag: string, raw: string, minMs = 0): number {
  const v = raw.trim();
  let ms = 0;
  let rest = v;
  while (rest) {
    const m = /^(\d+(?:\.\d+)?)(h|ms|m|s|us|µs|ns)/.exec(rest);
    if (!m) {
      ms = NaN;
      break;
    }
    ms += Number(m[1]) * DURATION_UNITS[m[2]!]!;
    rest = rest.slice(m[0].length);
  }
  if (!v || !Number.isFinite(ms)) throw new CliUsageError(cmd, `${flag} must be a duration such as 40s, 1m30s or 500ms, got "${raw}"`);
  if (ms < minMs) throw new CliUsageError(cmd, `${flag} must be at least ${minMs >= 1000 ? `${minMs / 1000}s` : `${minMs}ms`}, got "${raw}"`);
  return Math.round(ms);
}

export function parseDataDir(cmd: string, raw: string): string {
  if (!raw.trim()) throw new CliUsageError(cmd, '--data-dir must not be empty');
  return raw;
}

export function parseServerUrl(cmd: string, raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new CliUsageError(cmd, `--server must be the API server's URL such as https://10.0.0.5:6443, got "${raw}"`);
  }
  if (url.protocol !== 'https:') throw new CliUsageError(cmd, `--server must be an https:// URL (kennel serves the API over TLS only), got "${raw}"`);
  if (url.pathname !== '/' || url.search || url.hash) throw new CliUsageError(cmd, `--server must be a URL without a path, got "${raw}"`);
  return `https://${url.host}`;
}

export function parseNodeName(cmd: string, raw: string): string {
  const v = raw.trim();
  if (v.length > 253 || !DNS1123_SUBDOMAIN.test(v)) {
    throw new CliUsageError(cmd, `--node-name must be lower-case letters, digits, '-' and '.' (a DNS subdomain), got "${raw}"`);
  }
  return v;
}

const LABEL_NAME = /^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)$/;
const LABEL_VALUE = /^(([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?)$/;

function validLabelKey(key: string): boolean {
  const slash = key.indexOf('/');
  if (slash < 0) return LABEL_NAME.test(key);
  const prefix = key.slice(0, slash);
  return prefix.length <= 253 && DNS1123_SUBDOMAIN.test(prefix) && LABEL_NAME.test(key.slice(slash + 1));
}

export function parseLabels(cmd: string, raw: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of raw.split(',').map((s) => s.trim()).filter(Boolean)) {
    const eq = item.indexOf('=');
    const key = eq < 0 ? item : item.slice(0, eq);
    const value = eq < 0 ? '' : item.slice(eq + 1);
    if (eq < 0 || !validLabelKey(key) || !LABEL_VALUE.test(value)) {
      throw new CliUsageError(cmd, `--labels: "${item}" is not a label key=value (e.g. disk=ssd,zone=a)`);
    }
    out[key] = value;
  }
  return out;
}

const EFFECTS = ['NoSchedule', 'PreferNoSchedule', 'NoExecute'] as const;

export function parseTaints(cmd: string, raw: string): Taint[] {
  const out: Taint[] = [];
  for (const item of raw.split(',').map((s) => s.trim()).filter(Boolean)) {
    const m = /^([^=:]+)(?:=([^:]*))?:([^:]+)$/.exec(item);
    if (!m || !validLabelKey(m[1]!) || (m[2] !== undefined && !LABEL_VALUE.test(m[2]))) {
      throw new CliUsageError(cmd, `--taints: "${item}" is not a taint key[=value]:Effect (e.g. dedicated=db:NoSchedule)`);
    }
    if (!(EFFECTS as readonly string[]).includes(m[3]!)) {
      throw new CliUsageError(cmd, `--taints: "${item}" has effect "${m[3]}"; the effect must be one of ${EFFECTS.join(', ')}`);
    }
    const taint: Taint = { key: m[1]!, effect: m[3] as Taint['effect'] };
    if (m[2]) taint.value = m[2];
    out.push(taint);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// The command tree
// ---------------------------------------------------------------------------------------------
interface RawControlPlane {
  dataDir?: string;
  bind: string;
  port: string;
  runtime?: string;
  dnsListen?: string;
  store?: string;
  etcdEndpoints?: string;
  etcdPrefix?: string;
  nodeMonitorGracePeriod?: string;
  nodeFenceMargin?: string;
}

interface RawAgent {
  server?: string;
  token?: string;
  nodeName?: string;
  nodeIp?: string;
  labels?: string;
  taints?: string;
  runtime?: string;
  dataDir?: string;
  nodeLeaseDurationSeconds?: string;
}

function controlPlaneOptions(cmd: string, raw: RawControlPlane, withRuntime: boolean): ControlPlaneOptions {
  const dataDir = raw.dataDir !== undefined ? parseDataDir(cmd, raw.dataDir) : defaultDataDir();
  const bind = parseBind(cmd, raw.bind);
  const port = parsePort(cmd, '--port', raw.port);
  let backend = raw.store !== undefined ? parseChoice(cmd, '--store', raw.store, STORES) : undefined;
  if (backend === undefined) backend = raw.etcdEndpoints !== undefined ? 'etcd' : 'sqlite';
  let store: StoreConfig;
  if (backend === 'etcd') {
    if (raw.etcdEndpoints === undefined) {
      throw new CliUsageError(cmd, '--store etcd needs --etcd-endpoints, such as --etcd-endpoints http://127.0.0.1:2379');
    }
    store = { backend: 'etcd', endpoints: parseEtcdEndpoints(cmd, raw.etcdEndpoints) };
    if (raw.etcdPrefix !== undefined) {
      if (!raw.etcdPrefix || /\s/.test(raw.etcdPrefix)) throw new CliUsageError(cmd, `--etcd-prefix must be a non-empty key prefix without spaces, such as /kennel/`);
      store.prefix = raw.etcdPrefix;
    }
  } else {
    if (raw.etcdEndpoints !== undefined || raw.etcdPrefix !== undefined) {
      throw new CliUsageError(cmd, '--etcd-endpoints and --etcd-prefix only apply with --store etcd');
    }
    store = { backend: 'sqlite', path: join(dataDir, 'state.db') };
  }
  const out: ControlPlaneOptions = { dataDir, bind, port, store };
  if (withRuntime) out.runtime = parseChoice(cmd, '--runtime', raw.runtime ?? 'auto', RUNTIMES);
  if (raw.dnsListen !== undefined) out.dnsListen = parseListenAddress(cmd, '--dns-listen', raw.dnsListen);
  if (raw.nodeMonitorGracePeriod !== undefined || raw.nodeFenceMargin !== undefined) {
    out.nodeLifecycle = {};
    if (raw.nodeMonitorGracePeriod !== undefined) out.nodeLifecycle.gracePeriodMs = parseDuration(cmd, '--node-monitor-grace-period', raw.nodeMonitorGracePeriod, 1000);
    if (raw.nodeFenceMargin !== undefined) out.nodeLifecycle.fenceMarginMs = parseDuration(cmd, '--node-fence-margin', raw.nodeFenceMargin, 1000);
  }
  return out;
}

function agentOptions(raw: RawAgent): AgentOptions {
  const cmd = 'agent';
  if (raw.server === undefined) throw new CliUsageError(cmd, '--server is required: the URL `kennel up` printed, such as https://10.0.0.5:6443');
  if (raw.token === undefined) throw new CliUsageError(cmd, '--token is required: the join token `kennel up` printed (also in <data-dir>/join-token on the server)');
  const server = parseServerUrl(cmd, raw.server);
  const parsed = parseJoinToken(raw.token);
  if (!parsed) throw new CliUsageError(cmd, '--token is not a join token: expected K10<hash>::server:<secret> as printed by `kennel up`');
  const out: AgentOptions = {
    server,
    token: raw.token.trim(),
    caHash: parsed.caHash,
    secret: parsed.secret,
    nodeName: parseNodeName(cmd, raw.nodeName ?? hostname().toLowerCase()),
    labels: raw.labels !== undefined ? parseLabels(cmd, raw.labels) : {},
    taints: raw.taints !== undefined ? parseTaints(cmd, raw.taints) : [],
    runtime: parseChoice(cmd, '--runtime', raw.runtime ?? 'auto', RUNTIMES),
    dataDir: raw.dataDir !== undefined ? parseDataDir(cmd, raw.dataDir) : defaultDataDir(),
  };
  if (raw.nodeIp !== undefined) {
    if (!isIP(raw.nodeIp)) throw new CliUsageError(cmd, `--node-ip must be an IP address, got "${raw.nodeIp}"`);
    out.nodeIP = raw.nodeIp;
  }
  if (raw.nodeLeaseDurationSeconds !== undefined) {
    const n = /^\d{1,5}$/.test(raw.nodeLeaseDurationSeconds.trim()) ? Number(raw.nodeLeaseDurationSeconds.trim()) : NaN;
    if (!(n >= 1 && n <= 3600)) throw new CliUsageError(cmd, `--node-lease-duration-seconds must be a whole number of seconds from 1 to 3600, got "${raw.nodeLeaseDurationSeconds}"`);
    out.leaseDurationSeconds = n;
  }
  return out;
}

function addControlPlaneFlags(c: Command, withRuntime: boolean): Command {
  c.option('--data-dir <dir>', `state, certificates and kubeconfig (default: ${defaultDataDir()})`)
    .option('--bind <address>', 'address the API server listens on', '127.0.0.1')
    .option('--port <port>', 'API server port (0 picks a free one)', '6443')
    .option('--store <backend>', 'where cluster state lives: sqlite (in the data dir) or etcd', undefined)
    .option('--etcd-endpoints <urls>', 'comma-separated etcd endpoints, e.g. http://127.0.0.1:2379 (implies --store etcd)')
    .option('--etcd-prefix <prefix>', 'key prefix inside etcd (default /kennel/)');
  if (withRuntime) c.option('--runtime <runtime>', `how the local node runs pods: ${RUNTIMES.join('|')}`, 'auto');
  c.option('--dns-listen <address:port>', 'where the cluster DNS server listens');
  c.option('--node-monitor-grace-period <duration>', 'a node whose lease is not renewed for this long becomes Ready=Unknown and is tainted unreachable (default 50s)');
  c.option('--node-fence-margin <duration>', "a silent node's StatefulSet pods are force-deleted this long after its lease expired (default 10s)");
  return c;
}

function buildProgram(out: { stdout: string; stderr: string }, onRun: (run: CliCommand) => void): Command {
  const program = new Command('kennel');
  program
    .description('A lightweight orchestrator for stateful and per-node workloads that speaks the Kubernetes API')
    .version(`kennel v${kennelVersion()} (Kubernetes API v1.32)`, '-v, --version', 'print the version')
    .exitOverride()
    .configureOutput({
      writeOut: (s) => (out.stdout += s),
      writeErr: (s) => (out.stderr += s),
      outputError: () => {}, // errors are reworded below
    })
    .showSuggestionAfterError(true);

  addControlPlaneFlags(program.command('up').description('start a single-machine cluster: control plane and a local node'), true).action(
    (raw: RawControlPlane) => onRun({ command: 'up', options: controlPlaneOptions('up', raw, true) }),
  );
  addControlPlaneFlags(program.command('server').description('start the control plane only (nodes join with `kennel agent`)'), false).action(
    (raw: RawControlPlane) => onRun({ command: 'server', options: controlPlaneOptions('server', raw, false) }),
  );
  program
    .command('agent')
    .description('join this machine to a cluster as a node')
    .option('--server <url>', 'the API server, e.g. https://10.0.0.5:6443')
    .option('--token <token>', 'the join token printed by `kennel up`')
    .option('--node-name <name>', 'this node\'s name (default: the host name)')
    .option('--node-ip <ip>', 'the address other nodes reach this node at')
    .option('--labels <k=v,...>', 'labels for the Node')
    .option('--taints <k=v:Effect,...>', 'taints for the Node')
    .option('--runtime <runtime>', `how pods run: ${RUNTIMES.join('|')}`, 'auto')
    .option('--data-dir <dir>', 'agent state (default: as for kennel up)')
    .option('--node-lease-duration-seconds <seconds>', "the node Lease's duration, renewed every quarter of it; the agent stops its pods when it cannot renew it for this long (default 40)")
    .action((raw: RawAgent) => onRun({ command: 'agent', options: agentOptions(raw) }));
  program
    .command('version')
    .description('print the version')
    .action(() => onRun({ command: 'version' }));
  return program;
}

function usageLine(command: string, message: string): string {
  const where = command ? `kennel ${command}` : 'kennel';
  return `${where}: ${message} (see '${where} --help')\n`;
}

/** Rewords commander's messages ("error: unknown option '--x'") as one kennel line. */
function commanderMessage(err: CommanderError): string {
  return err.message.replace(/^error:\s*/i, '').replace(/\n+/g, ' ').replace(/[\s.]+$/, '');
}

/** Parses argv (without node and script) into a command to run, or output and an exit code. */
export function parseCli(argv: string[]): ParseResult {
  const out = { stdout: '', stderr: '' };
  let run: CliCommand | undefined;
  const program = buildProgram(out, (r) => (run = r));
  if (argv.length === 0) {
    return { ok: false, exitCode: 2, stdout: '', stderr: usageLine('', 'a command is needed: up, server, agent or version') };
  }
  const sub = argv[0] && !argv[0].startsWith('-') ? argv[0] : '';
  try {
    program.parse(argv, { from: 'user' });
  } catch (err) {
    if (err instanceof CliUsageError) return { ok: false, exitCode: 2, stdout: '', stderr: usageLine(err.command, err.message) };
    if (err instanceof CommanderError) {
      if (err.exitCode === 0 || err.code === 'commander.helpDisplayed' || err.code === 'commander.version') {
        return { ok: false, exitCode: 0, stdout: out.stdout, stderr: '' };
      }
      const known = ['up', 'server', 'agent', 'version'].includes(sub) ? sub : '';
      return { ok: false, exitCode: 2, stdout: '', stderr: usageLine(known, commanderMessage(err)) };
    }
    throw err;
  }
  if (!run) return { ok: false, exitCode: 2, stdout: '', stderr: usageLine('', 'a command is needed: up, server, agent or version') };
  return { ok: true, run };
}
