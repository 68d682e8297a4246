// bench/nodes-scale: many nodes. `kennel server` (API server, controllers, scheduler; no local
// node) in a child process, and BENCH_NODES simulated nodes (default 1,000) — real node agents
// on the simulated runtime, events off — spread over BENCH_AGENT_PROCS child processes (default
// 2). Then, timed from one instant: a DaemonSet (one pod per node) and BENCH_PODS bare pods
// (default 30,000; created by this process over BENCH_CREATORS keep-alive connections, bound by
// the scheduler) until every one of them is Running. Figures:
//   - time to all Running (and when the last pod was created, the DaemonSet's pods all Running);
//   - LIST latency: pages of 500 pods over all namespaces, as kubectl pages (limit=500 +
//     continue): a pass every 5 s during the load, passes back to back in the steady state after it
//     (p50/p99 per page; target p99 < 1 s); in the steady state also LIST nodes (pages of 500)
//     and LIST of one node's pods (fieldSelector spec.nodeName, what an agent lists);
//   - the API server process's RSS (peak, and at the end);
//   - lease renewals: the rate the server committed (a watch on kube-node-lease counts them)
//     during the load and in the steady state against what the agents ask for (one per node per
//     10 s), the longest gap between two renewals of one node (40 s would expire the lease),
//     and how often an agent fenced itself (could not renew in time; must be 0);
//   - CPU seconds of the server, the agents' processes and this process.
// Prints one JSON line on stdout; progress on stderr. On a 2-core machine the defaults can take
// long: BENCH_NODES=100 BENCH_PODS=3000 is a quick check.
//
// Environment: BENCH_NODES, BENCH_PODS, BENCH_AGENT_PROCS, BENCH_PODS_PER_NODE (capacity, 110),
// BENCH_CREATORS (32), BENCH_STEADY_SECONDS (30), BENCH_TIMEOUT_SECONDS (1200),
// BENCH_START_CONCURRENCY (agents registering at once per process, 8), BENCH_AGENT_LOG (the
// agents' log level, e.g. warn; default silent).
import { fork, spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeClient, type ResourceRef } from '../src/client/rest.ts';
import type { KubeObject } from '../src/registry/types.ts';
import { HttpsConnection } from './lib/https-client.ts';
import { runSimulatedNodes, type SimulatedNodesStats } from './lib/simulated-nodes.ts';
import { mib, nowMs, round, summarize } from './lib/stats.ts';

const NODES = Number(process.env.BENCH_NODES ?? 1000);
const PODS = Number(process.env.BENCH_PODS ?? 30000);
const AGENT_PROCS = Math.max(1, Math.min(NODES, Number(process.env.BENCH_AGENT_PROCS ?? 2)));
const PODS_PER_NODE = Number(process.env.BENCH_PODS_PER_NODE ?? 110);
const CREATORS = Number(process.env.BENCH_CREATORS ?? 32);
const STEADY_S = Number(process.env.BENCH_STEADY_SECONDS ?? 30);
const TIMEOUT_MS = Number(process.env.BENCH_TIMEOUT_SECONDS ?? 1200) * 1000;
const START_CONCURRENCY = Number(process.env.BENCH_START_CONCURRENCY ?? 8);
const NS = 'default';
const PAGE = 500;
const RENEW_EVERY_S = 10; // the agents' default (lease 40 s / 4)
/** During the load, one LIST pass (every page) of all pods this often: a kubectl user, not a hammer. */
const LOAD_LIST_PAUSE_MS = 5000;

const PODS_RES: ResourceRef = { group: '', version: 'v1', plural: 'pods', namespaced: true, kind: 'Pod' };
const NODES_RES: ResourceRef = { group: '', version: 'v1', plural: 'nodes', namespaced: false, kind: 'Node' };
const LEASES: ResourceRef = { group: 'coordination.k8s.io', version: 'v1', plural: 'leases', namespaced: true, kind: 'Lease' };
const DAEMONSETS: ResourceRef = { group: 'apps', version: 'v1', plural: 'daemonsets', namespaced: true, kind: 'DaemonSet' };

function log(msg: string): void {
  process.stderr.write(`nodes-scale: ${msg}\n`);
}

const CLK_TCK = ((): number => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

function cpuSeconds(pid: number): number {
  try {
    const st = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / CLK_TCK;
  } catch {
    return 0;
  }
}

function rssBytes(pid: number): number {
  try {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

// ---------------------------------------------------------------------------------------------
// Processes

/** `kennel server` as a child: the control plane without a local node. */
async function startKennelServer(root: string): Promise<{ pid: number; kubeconfig: string; stop(): Promise<void> }> {
  const dataDir = join(root, 'server');
  const bin = new URL('../bin/kennel.mjs', import.meta.url).pathname;
  const child = spawn(process.execPath, [bin, 'server', '--data-dir', dataDir, '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, KENNEL_LOG_LEVEL: 'warn' } });
  let out = '';
  let err = '';
  child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (err = (err + c.toString()).slice(-4000)));
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(t);
    }
  };
  const deadline = Date.now() + 60_000;
  while (!/is up at https:\/\//.test(out)) {
    if (child.exitCode !== null || Date.now() > deadline) {
      await stop();
      throw new Error(`kennel server did not start: ${err}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return { pid: child.pid!, kubeconfig: join(dataDir, 'kubeconfig'), stop };
}

/** One child process hosting `count` simulated nodes from sim-<first>. */
async function startAgents(kubeconfig: string, first: number, count: number, dir: string): Promise<ChildProcess> {
  const child = fork(new URL(import.meta.url).pathname, ['agents', kubeconfig, String(first), String(count), dir], {
    execArgv: ['--import', 'tsx', '--max-old-space-size=4096'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  await new Promise<void>((resolve, reject) => {
    const onMsg = (m: { type: string }): void => {
      if (m.type !== 'ready') return;
      child.off('message', onMsg);
      resolve();
    };
    child.on('message', onMsg);
    child.once('exit', (code) => reject(new Error(`an agents process exited (${code})`)));
  });
  return child;
}

function agentStats(child: ChildProcess): Promise<SimulatedNodesStats> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('no stats from an agents process')), 30_000);
    const onMsg = (m: SimulatedNodesStats): void => {
      if (m.type !== 'stats') return;
      clearTimeout(t);
      child.off('message', onMsg);
      resolve(m);
    };
    child.on('message', onMsg);
    child.send({ type: 'stats' });
  });
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  if (child.connected) child.send({ type: 'stop' });
  else child.kill('SIGTERM');
  const t = setTimeout(() => child.kill('SIGKILL'), 20_000);
  await exited;
  clearTimeout(t);
}

// ---------------------------------------------------------------------------------------------
// Observers

/** A watch that restarts from its last resourceVersion when it ends. */
function keepWatching<T extends KubeObject>(client: KubeClient, res: ResourceRef, ns: string | undefined, rv: string, onEvent: (type: string, o: T) => void): { stop(): void } {
  let stopped = false;
  let last = rv;
  let handle: { abort(): void } | undefined;
  const run = (): void => {
    handle = client.watch<T>(
      res,
      ns,
      { resourceVersion: last, allowWatchBookmarks: true },
      (e) => {
        if (e.object.metadata.resourceVersion) last = e.object.metadata.resourceVersion;
        if (e.type !== 'BOOKMARK') onEvent(e.type, e.object);
      },
      (err) => {
        if (stopped) return;
        if (err) log(`watch of ${res.plural} ended: ${err.message}; watching again`);
        setTimeout(run, 200);
      },
    );
  };
  run();
  return {
    stop: () => {
      stopped = true;
      handle?.abort();
    },
  };
}

/** Lease renewals as the server committed them: counts and per-node gaps (as this watch saw
 *  them arrive, and by the renewTime each renewal carries — the agent's clock when it built it,
 *  the same machine's clock as this one), and how late the watch delivered them. */
class LeaseObserver {
  private readonly lastAt = new Map<string, number>();
  private readonly lastRenew = new Map<string, number>();
  renewals = 0;
  maxGapMs = 0;
  maxRenewTimeGapMs = 0;
  readonly lagMs: number[] = [];
  private watch: { stop(): void } | undefined;

  async start(client: KubeClient): Promise<void> {
    const list = await client.list(LEASES, 'kube-node-lease');
    const t = nowMs();
    for (const l of list.items) this.lastAt.set(l.metadata.name ?? '', t);
    this.watch = keepWatching(client, LEASES, 'kube-node-lease', list.metadata.resourceVersion ?? '', (type, l) => {
      if (type !== 'MODIFIED' && type !== 'ADDED') return;
      const name = l.metadata.name ?? '';
      const now = nowMs();
      const prev = this.lastAt.get(name);
      if (prev !== undefined) this.maxGapMs = Math.max(this.maxGapMs, now - prev);
      this.lastAt.set(name, now);
      this.renewals++;
      const renew = Date.parse(String((l.spec as { renewTime?: string } | undefined)?.renewTime ?? ''));
      if (Number.isFinite(renew)) {
        const before = this.lastRenew.get(name);
        if (before !== undefined) this.maxRenewTimeGapMs = Math.max(this.maxRenewTimeGapMs, renew - before);
        this.lastRenew.set(name, renew);
        this.lagMs.push(Date.now() - renew);
      }
    });
  }

  /** The longest any node has gone without a renewal so far (including now). */
  currentMaxGapMs(): number {
    const now = nowMs();
    let m = this.maxGapMs;
    for (const t of this.lastAt.values()) m = Math.max(m, now - t);
    return m;
  }

  stop(): void {
    this.watch?.stop();
  }
}

interface PodLike extends KubeObject {
  spec?: { nodeName?: string };
  status?: { phase?: string };
}

/** Which pods are Running (one watch over all namespaces). */
class RunningCounter {
  private readonly running = new Set<string>();
  private readonly dsRunning = new Set<string>();
  private watch: { stop(): void } | undefined;
  private waiters: { n: number; ds: boolean; resolve: (t: number) => void }[] = [];

  async start(client: KubeClient): Promise<void> {
    const list = await client.list<PodLike>(PODS_RES);
    for (const p of list.items) this.observe('ADDED', p);
    this.watch = keepWatching<PodLike>(client, PODS_RES, undefined, list.metadata.resourceVersion ?? '', (type, p) => this.observe(type, p));
  }

  get count(): number {
    return this.running.size;
  }

  get dsCount(): number {
    return this.dsRunning.size;
  }

  private observe(type: string, p: PodLike): void {
    const uid = p.metadata.uid ?? '';
    const isDs = p.metadata.ownerReferences?.some((r) => r.kind === 'DaemonSet') === true;
    if (type !== 'DELETED' && p.status?.phase === 'Running') {
      this.running.add(uid);
      if (isDs) this.dsRunning.add(uid);
    } else {
      this.running.delete(uid);
      this.dsRunning.delete(uid);
    }
    const t = nowMs();
    this.waiters = this.waiters.filter((w) => {
      if ((w.ds ? this.dsRunning.size : this.running.size) < w.n) return true;
      w.resolve(t);
      return false;
    });
  }

  /** Resolves with the time (nowMs) the count first reached n. */
  until(n: number, ds = false): Promise<number> {
    if ((ds ? this.dsRunning.size : this.running.size) >= n) return Promise.resolve(nowMs());
    return new Promise((resolve) => this.waiters.push({ n, ds, resolve }));
  }

  stop(): void {
    this.watch?.stop();
  }
}

/** LIST passes (pages of 500) one after another until stopped; page latencies. */
class Lister {
  readonly pageMs: number[] = [];
  passes = 0;
  private stopped = false;
  private loop: Promise<void> | undefined;

  constructor(
    private readonly conn: HttpsConnection,
    private readonly token: string,
    private readonly path: string,
  ) {}

  /** One pass: every page; returns the items seen. */
  async pass(into: number[] = this.pageMs): Promise<number> {
    const headers = { authorization: `Bearer ${this.token}`, accept: 'application/json', 'user-agent': 'kubectl/v1.32.0 (linux/amd64) kubernetes/bench' };
    let cont: string | undefined;
    let items = 0;
    do {
      const sep = this.path.includes('?') ? '&' : '?';
      const t = performance.now();
      const r = await this.conn.request('GET', `${this.path}${sep}limit=${PAGE}${cont ? `&continue=${encodeURIComponent(cont)}` : ''}`, headers);
      into.push(performance.now() - t);
      if (r.status !== 200) throw new Error(`LIST ${this.path}: ${r.status} ${r.body.toString('utf8').slice(0, 200)}`);
      const body = JSON.parse(r.body.toString('utf8')) as { metadata: { continue?: string }; items?: unknown[] };
      items += body.items?.length ?? 0;
      cont = body.metadata.continue || undefined;
    } while (cont && !this.stopped);
    return items;
  }

  /** Passes one after another, pauseMs apart, until stopped. */
  start(pauseMs: number): void {
    this.loop = (async () => {
      while (!this.stopped) {
        await this.pass();
        this.passes++;
        await new Promise((r) => setTimeout(r, pauseMs));
      }
    })().catch((e: unknown) => log(`lister failed: ${(e as Error).message}`));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
  }
}

// ---------------------------------------------------------------------------------------------
// The load

function daemonSet(): KubeObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'DaemonSet',
    metadata: { name: 'node-agent', namespace: NS },
    spec: {
      selector: { matchLabels: { app: 'node-agent' } },
      template: {
        metadata: { labels: { app: 'node-agent' } },
        spec: { terminationGracePeriodSeconds: 0, containers: [{ name: 'agent', image: 'registry.example/node-agent:1' }] },
      },
    },
  };
}

function podBody(i: number): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: `app-${String(i).padStart(6, '0')}`, namespace: NS, labels: { app: 'scale', shard: String(i % 100) } },
    spec: { terminationGracePeriodSeconds: 0, containers: [{ name: 'app', image: 'registry.example/app:1', ports: [{ containerPort: 8080 }] }] },
  });
}

/** Create n pods over `clients` keep-alive connections; resolves with the time the last was created. */
async function createPods(url: string, ca: string, token: string, n: number, clients: number): Promise<{ doneAt: number; errors: number; firstError?: string }> {
  let next = 0;
  let errors = 0;
  let firstError: string | undefined;
  const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json', accept: 'application/json' };
  const worker = async (): Promise<void> => {
    const c = await HttpsConnection.connect({ url, ca });
    try {
      while (next < n) {
        const i = next++;
        for (let attempt = 0; ; attempt++) {
          const r = await c.request('POST', `/api/v1/namespaces/${NS}/pods`, headers, podBody(i)).catch((e: Error) => ({ status: 0, body: Buffer.from(e.message) }));
          if (r.status === 201 || r.status === 409) break;
          if (attempt >= 5) {
            errors++;
            firstError ??= `${r.status} ${r.body.toString('utf8').slice(0, 200)}`;
            break;
          }
          await new Promise((res) => setTimeout(res, 200 * (attempt + 1)));
        }
      }
    } finally {
      c.close();
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, clients) }, worker));
  return { doneAt: nowMs(), errors, firstError };
}

async function waitForReadyNodes(client: KubeClient, n: number): Promise<void> {
  const deadline = Date.now() + Math.max(120_000, n * 200);
  for (;;) {
    const list = await client.list<{ metadata: { name?: string }; status?: { conditions?: { type: string; status: string }[] } }>(NODES_RES);
    const ready = list.items.filter((x) => x.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')).length;
    if (ready >= n) return;
    if (Date.now() > deadline) throw new Error(`only ${ready} of ${n} nodes Ready`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  return Promise.race([p, new Promise<T>((_, reject) => (t = setTimeout(() => reject(new Error(`timed out: ${what}`)), ms)))]).finally(() => clearTimeout(t));
}

async function main(): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), 'kennel-bench-nodes-'));
  const kn = await startKennelServer(root);
  const client = KubeClient.fromKubeconfig(kn.kubeconfig, { userAgent: 'bench-nodes-scale' });
  const { server: url, ca, token } = client.config as { server: string; ca: string; token: string };
  const agents: ChildProcess[] = [];
  const leases = new LeaseObserver();
  const pods = new RunningCounter();
  let loadLister: Lister | undefined;
  const conns: HttpsConnection[] = [];
  let rssPeak = 0;
  const rssTimer = setInterval(() => (rssPeak = Math.max(rssPeak, rssBytes(kn.pid))), 1000);
  try {
    // 1. The nodes.
    const tJoin = nowMs();
    const per = Math.ceil(NODES / AGENT_PROCS);
    const starts: Promise<ChildProcess>[] = [];
    for (let p = 0; p < AGENT_PROCS; p++) {
      const first = p * per;
      const count = Math.min(per, NODES - first);
      if (count > 0) starts.push(startAgents(kn.kubeconfig, first, count, join(root, `agents-${p}`)));
    }
    agents.push(...(await Promise.all(starts)));
    await waitForReadyNodes(client, NODES);
    const joinS = round((nowMs() - tJoin) / 1000, 1);
    log(`${NODES} nodes Ready in ${joinS} s (${AGENT_PROCS} agent processes)`);
    const rssIdle = rssBytes(kn.pid);

    await leases.start(client);
    await pods.start(client);
    const cpu = (): { server: number; agents: number; bench: number } => {
      const u = process.cpuUsage();
      return { server: cpuSeconds(kn.pid), agents: agents.reduce((n, a) => n + cpuSeconds(a.pid!), 0), bench: (u.user + u.system) / 1e6 };
    };
    const cpuDelta = (a: ReturnType<typeof cpu>): ReturnType<typeof cpu> => {
      const b = cpu();
      return { server: round(b.server - a.server), agents: round(b.agents - a.agents), bench: round(b.bench - a.bench) };
    };

    // 2. The load: the DaemonSet and the pods, timed from one instant; pages of pods listed all along.
    const listConn = await HttpsConnection.connect({ url, ca });
    conns.push(listConn);
    loadLister = new Lister(listConn, token, '/api/v1/pods');
    const cpu0 = cpu();
    const renewals0 = leases.renewals;
    const t0 = nowMs();
    await client.create(DAEMONSETS, daemonSet());
    loadLister.start(LOAD_LIST_PAUSE_MS);
    const created = createPods(url, ca, token, PODS, CREATORS);
    const dsRunningAt = pods.until(NODES, true);
    const total = NODES + PODS;
    let lastLog = 0;
    const progress = setInterval(() => {
      const t = nowMs();
      if (t - lastLog < 10_000) return;
      lastLog = t;
      log(`${round((t - t0) / 1000, 0)} s: ${pods.count}/${total} Running (DaemonSet ${pods.dsCount}/${NODES}); server RSS ${mib(rssBytes(kn.pid))} MiB; longest lease gap ${round(leases.currentMaxGapMs() / 1000, 1)} s`);
    }, 1000);
    let allRunningAt: number | undefined;
    try {
      allRunningAt = await withTimeout(pods.until(total), TIMEOUT_MS, `${total} pods Running`);
    } catch (e) {
      log((e as Error).message);
    } finally {
      clearInterval(progress);
    }
    const loadEnd = nowMs();
    const creation = await withTimeout(created, 60_000, 'the pod creators').catch(() => undefined);
    const dsAt = await Promise.race([dsRunningAt, Promise.resolve(undefined)]);
    await loadLister.stop();
    const loadCpu = cpuDelta(cpu0);
    const loadRenewals = leases.renewals - renewals0;
    const loadSeconds = (loadEnd - t0) / 1000;
    log(`load: ${pods.count}/${total} Running after ${round(loadSeconds, 1)} s`);

    // 3. Steady state: leases, and LISTs.
    const steadyGap0 = leases.maxGapMs;
    const steadyRenewals0 = leases.renewals;
    const tSteady = nowMs();
    const steadyPodPages: number[] = [];
    const steadyNodePages: number[] = [];
    const perNodeMs: number[] = [];
    const podLister = new Lister(listConn, token, '/api/v1/pods');
    const nodeLister = new Lister(listConn, token, '/api/v1/nodes');
    let podPasses = 0;
    let podItems = 0;
    while (nowMs() - tSteady < STEADY_S * 1000) {
      podItems = await podLister.pass(steadyPodPages);
      podPasses++;
      await nodeLister.pass(steadyNodePages);
      for (let k = 0; k < 20; k++) {
        const node = `sim-${Math.floor(Math.random() * NODES)}`;
        const t = performance.now();
        const r = await listConn.request('GET', `/api/v1/pods?fieldSelector=${encodeURIComponent(`spec.nodeName=${node}`)}`, { authorization: `Bearer ${token}`, accept: 'application/json' });
        perNodeMs.push(performance.now() - t);
        if (r.status !== 200) throw new Error(`LIST pods of ${node}: ${r.status}`);
      }
      await new Promise((r) => setTimeout(r, 500));
    }
    const steadySeconds = (nowMs() - tSteady) / 1000;
    const steadyRenewals = leases.renewals - steadyRenewals0;
    const stats = await Promise.all(agents.map((a) => agentStats(a)));
    const fences = stats.reduce((n, s) => n + s.fences, 0);
    const fencedNow = stats.reduce((n, s) => n + s.fenced, 0);
    const rssEnd = rssBytes(kn.pid);
    rssPeak = Math.max(rssPeak, rssEnd);

    const loadPages = summarize(loadLister.pageMs);
    const steadyPages = summarize(steadyPodPages);
    console.log(
      JSON.stringify({
        bench: 'nodes-scale',
        runtime: 'simulated',
        nodes: NODES,
        agentProcesses: AGENT_PROCS,
        daemonSetPods: NODES,
        otherPods: PODS,
        nodesReadySeconds: joinS,
        allRunning: allRunningAt !== undefined,
        running: pods.count,
        timeToAllRunningSeconds: allRunningAt !== undefined ? round((allRunningAt - t0) / 1000, 2) : null,
        daemonSetRunningSeconds: dsAt !== undefined ? round((dsAt - t0) / 1000, 2) : null,
        lastPodCreatedSeconds: creation ? round((creation.doneAt - t0) / 1000, 2) : null,
        podsPerSecond: allRunningAt !== undefined ? round(total / ((allRunningAt - t0) / 1000), 1) : null,
        createErrors: creation?.errors ?? null,
        ...(creation?.firstError ? { firstCreateError: creation.firstError } : {}),
        listPodsPage500: {
          duringLoad: { ...loadPages, passes: loadLister.passes },
          steady: { ...steadyPages, passes: podPasses, items: podItems },
        },
        listNodesPage500Steady: summarize(steadyNodePages),
        listOneNodesPodsSteady: summarize(perNodeMs),
        listTargetP99Ms: 1000,
        meetsListTarget: steadyPages.p99Ms < 1000 && loadPages.p99Ms < 1000,
        serverRssMiB: { idleWithNodes: mib(rssIdle), peak: mib(rssPeak), end: mib(rssEnd) },
        leaseRenewals: {
          expectedPerSecond: round(NODES / RENEW_EVERY_S, 1),
          duringLoadPerSecond: round(loadRenewals / loadSeconds, 1),
          steadyPerSecond: round(steadyRenewals / steadySeconds, 1),
          maxGapSecondsDuringLoad: round(steadyGap0 / 1000, 1),
          maxGapSeconds: round(leases.currentMaxGapMs() / 1000, 1),
          maxRenewTimeGapSeconds: round(leases.maxRenewTimeGapMs / 1000, 1),
          watchDeliveryLagMs: summarize(leases.lagMs),
          leaseDurationSeconds: 40,
          agentFences: fences,
          agentsFencedAtEnd: fencedNow,
          agentProcessEventLoopDelayMs: stats.map((x) => x.eventLoopDelayMs),
        },
        cpuSecondsDuringLoad: loadCpu,
        cpuNote: 'server = the `kennel server` process (API server, store, controllers, scheduler); agents = the simulated nodes; bench = this process (pod creation, watches, LISTs)',
      }),
    );
  } finally {
    clearInterval(rssTimer);
    leases.stop();
    pods.stop();
    await loadLister?.stop().catch(() => undefined);
    for (const c of conns) c.close();
    client.close();
    await Promise.all(agents.map((a) => stopChild(a)));
    await kn.stop();
    rmSync(root, { recursive: true, force: true });
  }
}

if (process.argv[2] === 'agents') {
  const [kubeconfig, first, count, dir] = process.argv.slice(3) as [string, string, string, string];
  await runSimulatedNodes({
    kubeconfig,
    count: Number(count),
    firstIndex: Number(first),
    podsPerNode: PODS_PER_NODE,
    dir,
    cidrOctet: 100,
    userAgentPrefix: 'kennel-agent/nodes-bench',
    parallel: false,
    startConcurrency: START_CONCURRENCY,
    logLevel: process.env.BENCH_AGENT_LOG as 'debug' | 'info' | 'warn' | 'error' | undefined,
  });
} else await main();
