// Test harness: starts real etcd processes (Debian's etcd-server, binary `etcd`) on 127.0.0.1
// with free ports and fresh temp data dirs, waits until they are healthy, and tears them down.
//
//   const etcd = await startEtcd();              // one member
//   const cluster = await startEtcd({ members: 3 }); // static 3-member cluster
//   ... etcd.endpoints ...
//   await etcd.stop();                           // SIGTERM, then SIGKILL; data dirs removed
//
// The binary is `etcd` on PATH, or $KENNEL_ETCD_BIN. A missing binary is an error, never a skip.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const ETCD_BIN = process.env.KENNEL_ETCD_BIN || 'etcd';

/** Values up to MAX_VALUE_BYTES (3 MiB) plus key and framing must fit in one request. */
const MAX_REQUEST_BYTES = 4 * 1024 * 1024;
const HEALTH_TIMEOUT_MS = 20_000;
const STOP_GRACE_MS = 3_000;
const TEARDOWN_GRACE_MS = 500;

let availableCache: boolean | undefined;

/** True when the etcd binary can be run. Tests call this and fail loudly when it is false. */
export function etcdAvailable(): boolean {
  if (availableCache === undefined) {
    const r = spawnSync(ETCD_BIN, ['--version'], { stdio: 'ignore', timeout: 10_000 });
    availableCache = r.status === 0;
  }
  return availableCache;
}

/** The error a test should throw when etcd is missing. */
export function etcdMissingError(): Error {
  return new Error(
    `etcd binary "${ETCD_BIN}" not found or not runnable: install the Debian package etcd-server ` +
      '(apt-get install etcd-server etcd-client) or set KENNEL_ETCD_BIN',
  );
}

export interface EtcdMember {
  readonly name: string;
  readonly clientUrl: string;
  readonly peerUrl: string;
  /** True while the process runs. */
  readonly running: boolean;
  /** Stop this member (SIGTERM, then SIGKILL); its data dir is kept so start() can resume it. */
  stop(): Promise<void>;
  /** Crash this member (SIGKILL, no leadership transfer); its data dir is kept. */
  kill(): Promise<void>;
  /** Start a stopped member again on the same ports and data dir; resolves once it serves. */
  start(): Promise<void>;
}

export interface EtcdHandle {
  /** Client URLs (http://127.0.0.1:PORT), one per member. */
  endpoints: string[];
  members: EtcdMember[];
  /** Stop every member and remove the data dirs (idempotent). */
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => (port ? resolve(port) : reject(new Error('no port'))));
    });
  });
}

function httpGet(url: string, timeoutMs: number): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'GET', timeout: timeoutMs, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

// Children still alive when the test process exits are killed, so a crashed test leaves no etcd.
const liveChildren = new Set<ChildProcess>();
let exitHookInstalled = false;
function trackChild(child: ChildProcess): void {
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.on('exit', () => {
      for (const c of liveChildren) {
        try {
          c.kill('SIGKILL');
        } catch {
          // already gone
        }
      }
    });
  }
  liveChildren.add(child);
  child.once('exit', () => liveChildren.delete(child));
}

class PortInUse extends Error {}

class Member implements EtcdMember {
  readonly clientUrl: string;
  readonly peerUrl: string;
  private child: ChildProcess | null = null;
  private exited: Promise<void> = Promise.resolve();
  private log = '';

  constructor(
    readonly name: string,
    readonly clientPort: number,
    readonly peerPort: number,
    readonly dataDir: string,
    private readonly initialCluster: string,
    private readonly clusterToken: string,
  ) {
    this.clientUrl = `http://127.0.0.1:${clientPort}`;
    this.peerUrl = `http://127.0.0.1:${peerPort}`;
  }

  get running(): boolean {
    return this.child !== null && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Launch the process (does not wait for health). */
  spawn(): void {
    if (this.running) return;
    this.log = '';
    const args = [
      '--name', this.name,
      '--data-dir', this.dataDir,
      '--listen-client-urls', this.clientUrl,
      '--advertise-client-urls', this.clientUrl,
      '--listen-peer-urls', this.peerUrl,
      '--initial-advertise-peer-urls', this.peerUrl,
      '--initial-cluster', this.initialCluster,
      '--initial-cluster-state', 'new',
      '--initial-cluster-token', this.clusterToken,
      '--max-request-bytes', String(MAX_REQUEST_BYTES),
      '--logger', 'zap',
      '--log-outputs', 'stderr',
      '--log-level', 'warn',
    ];
    const child = spawn(ETCD_BIN, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    trackChild(child);
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (chunk: string) => {
      this.log = (this.log + chunk).slice(-8000);
    });
    this.exited = new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.once('error', (err) => {
        this.log += `\nspawn error: ${err.message}`;
        resolve();
      });
    });
    this.child = child;
  }

  /** Resolves once /health says true; throws (PortInUse for bind failures) if the process dies. */
  async waitHealthy(deadline: number): Promise<void> {
    for (;;) {
      if (!this.running) {
        await sleep(20); // let stderr drain
        if (/address already in use/i.test(this.log)) throw new PortInUse(this.log);
        throw new Error(`etcd member ${this.name} exited before becoming healthy:\n${this.log}`);
      }
      try {
        const res = await httpGet(`${this.clientUrl}/health`, 1000);
        if (res.status === 200 && /"health":\s*"true"/.test(res.body)) return;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) {
        throw new Error(`etcd member ${this.name} not healthy after ${HEALTH_TIMEOUT_MS} ms:\n${this.log}`);
      }
      await sleep(25);
    }
  }

  async stop(graceMs = STOP_GRACE_MS): Promise<void> {
    const child = this.child;
    if (!child || !this.running) return;
    child.kill('SIGTERM');
    const timer = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), graceMs).unref());
    if ((await Promise.race([this.exited.then(() => 'exited' as const), timer])) === 'timeout') {
      child.kill('SIGKILL');
      await this.exited;
    }
  }

  async kill(): Promise<void> {
    const child = this.child;
    if (!child || !this.running) return;
    child.kill('SIGKILL');
    await this.exited;
  }

  async start(): Promise<void> {
    this.spawn();
    await this.waitHealthy(Date.now() + HEALTH_TIMEOUT_MS);
  }
}

async function attempt(members: number): Promise<{ list: Member[]; dirs: string[] }> {
  const token = `kennel-test-${randomBytes(6).toString('hex')}`;
  const ports: number[] = [];
  while (ports.length < members * 2) {
    const p = await freePort();
    if (!ports.includes(p)) ports.push(p);
  }
  const names = Array.from({ length: members }, (_, i) => `m${i}`);
  const initialCluster = names.map((n, i) => `${n}=http://127.0.0.1:${ports[i * 2 + 1]}`).join(',');
  const dirs: string[] = [];
  const list: Member[] = [];
  for (let i = 0; i < members; i++) {
    const dir = mkdtempSync(join(tmpdir(), 'kennel-etcd-'));
    dirs.push(dir);
    list.push(new Member(names[i], ports[i * 2], ports[i * 2 + 1], dir, initialCluster, token));
  }
  try {
    for (const m of list) m.spawn();
    const deadline = Date.now() + HEALTH_TIMEOUT_MS;
    await Promise.all(list.map((m) => m.waitHealthy(deadline)));
    return { list, dirs };
  } catch (err) {
    await Promise.all(list.map((m) => m.stop(TEARDOWN_GRACE_MS)));
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
    throw err;
  }
}

/** Start etcd: one member (default) or a static 3-member cluster, all on 127.0.0.1. */
export async function startEtcd(opts: { members?: 1 | 3 } = {}): Promise<EtcdHandle> {
  if (!etcdAvailable()) throw etcdMissingError();
  const members = opts.members ?? 1;
  let lastErr: unknown;
  for (let tries = 0; tries < 5; tries++) {
    let started: { list: Member[]; dirs: string[] };
    try {
      started = await attempt(members);
    } catch (err) {
      lastErr = err;
      if (err instanceof PortInUse) continue; // another process took a port between probe and bind
      throw err;
    }
    const { list, dirs } = started;
    let stopped = false;
    return {
      endpoints: list.map((m) => m.clientUrl),
      members: list,
      async stop() {
        if (stopped) return;
        stopped = true;
        // A whole-cluster teardown need not wait for leadership transfer: short grace, then KILL.
        await Promise.all(list.map((m) => m.stop(TEARDOWN_GRACE_MS)));
        for (const d of dirs) rmSync(d, { recursive: true, force: true });
      },
    };
  }
  throw new Error(`could not start etcd after 5 attempts (ports in use): ${String(lastErr)}`);
}
