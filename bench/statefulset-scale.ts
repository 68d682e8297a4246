// bench/statefulset-scale: the StatefulSet controller at scale on simulated nodes.
//   - `kennel up --runtime simulated` (API server, controller manager, scheduler and the local
//     simulated node), a child process. Its node holds at most 110 pods (the kubelet default),
//     so BENCH_NODES more simulated nodes (default 4, BENCH_PODS_PER_NODE pods each, default
//     150) run as node agents in a second child process (this file, `agents`), events off.
//   - this process creates the sets and times them with one watch on the StatefulSets.
// Three runs, one after the other:
//   1. a Parallel set of BENCH_PARALLEL replicas (default 500; no volumeClaimTemplates) from
//      create to status.readyReplicas = replicas: pods/s (target ≥ 300);
//   2. an OrderedReady set of BENCH_ORDERED replicas (default 100; no volumeClaimTemplates) from
//      create to all Ready: seconds and pods/s;
//   3. a rolling update of that set (a JSON patch of the image) from the patch to
//      updatedReplicas = readyReplicas = replicas and currentRevision = updateRevision: seconds.
// "All Ready" is what the set's status says (the controller's view), as `kubectl rollout
// status` sees it. The sets are deleted between runs and their pods waited for (not timed).
// CPU: user+system seconds from /proc/<pid>/stat during each run, of the `kennel up` process
// (API server + store + every controller + scheduler + the local node's agent: the controller
// cannot be separated from the rest of that process), of the extra agents' process, and of
// this process (the client).
//
// Prints one JSON line on stdout; progress on stderr.
import { runSimulatedNodes } from './lib/simulated-nodes.ts';
import { fork, spawn, type ChildProcess, execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { topOfProfile } from './lib/cpuprofile-top.ts';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeClient, type ResourceRef } from '../src/client/rest.ts';
import type { KubeObject } from '../src/registry/types.ts';
import { nowMs, round } from './lib/stats.ts';

const PARALLEL = Number(process.env.BENCH_PARALLEL ?? 500);
const ORDERED = Number(process.env.BENCH_ORDERED ?? 100);
const NODES = Number(process.env.BENCH_NODES ?? 4);
const PODS_PER_NODE = Number(process.env.BENCH_PODS_PER_NODE ?? 150);
const TIMEOUT_MS = Number(process.env.BENCH_TIMEOUT_SECONDS ?? 300) * 1000;
const NS = 'default';
/** BENCH_PROFILE=DIR: run `kennel up` with --cpu-prof into DIR and add its top functions to the JSON line. */
/** BENCH_NODE_ARGS: extra node flags for the `kennel up` child (e.g. V8 heap flags to try). */
const PROFILE_DIR = process.env.BENCH_PROFILE;

const STS: ResourceRef = { group: 'apps', version: 'v1', plural: 'statefulsets', namespaced: true, kind: 'StatefulSet' };
const PODS: ResourceRef = { group: '', version: 'v1', plural: 'pods', namespaced: true, kind: 'Pod' };
const NODE_RES: ResourceRef = { group: '', version: 'v1', plural: 'nodes', namespaced: false, kind: 'Node' };

function log(msg: string): void {
  process.stderr.write(`statefulset-scale: ${msg}\n`);
}

const CLK_TCK = ((): number => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** User + system CPU seconds a process has used so far. */
function cpuSeconds(pid: number): number {
  const st = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
  // utime and stime are fields 14 and 15 (pid = 1, comm = 2), here at 11 and 12.
  return (Number(f[11]) + Number(f[12])) / CLK_TCK;
}

function selfCpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

interface SetStatus {
  observedGeneration?: number;
  replicas?: number;
  readyReplicas?: number;
  updatedReplicas?: number;
  currentRevision?: string;
  updateRevision?: string;
}
interface SetObject extends KubeObject {
  status?: SetStatus;
}

/** One watch on the namespace's StatefulSets; until() resolves with the time (nowMs) a set first satisfied a predicate. */
class SetWatch {
  private readonly latest = new Map<string, SetObject>();
  private waiters: { name: string; pred: (s: SetObject) => boolean; resolve: (t: number) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }[] = [];
  private handle: { abort(): void } | undefined;
  private failed: Error | undefined;

  constructor(private readonly client: KubeClient) {}

  async start(): Promise<void> {
    const list = await this.client.list<SetObject>(STS, NS);
    for (const s of list.items) this.latest.set(s.metadata.name ?? '', s);
    this.handle = this.client.watch<SetObject>(
      STS,
      NS,
      { resourceVersion: list.metadata.resourceVersion },
      (e) => {
        const name = e.object.metadata.name ?? '';
        if (e.type === 'DELETED') this.latest.delete(name);
        else if (e.type !== 'BOOKMARK') this.latest.set(name, e.object);
        this.check();
      },
      (err) => {
        if (!err) return;
        this.failed = err;
        for (const w of this.waiters) {
          clearTimeout(w.timer);
          w.reject(err);
        }
        this.waiters = [];
      },
    );
  }

  private check(): void {
    const t = nowMs();
    this.waiters = this.waiters.filter((w) => {
      const s = this.latest.get(w.name);
      if (!s || !w.pred(s)) return true;
      clearTimeout(w.timer);
      w.resolve(t);
      return false;
    });
  }

  until(name: string, what: string, pred: (s: SetObject) => boolean, timeoutMs = TIMEOUT_MS): Promise<number> {
    if (this.failed) return Promise.reject(this.failed);
    const s = this.latest.get(name);
    if (s && pred(s)) return Promise.resolve(nowMs());
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w.timer !== timer);
        const st = this.latest.get(name)?.status;
        reject(new Error(`timed out waiting for ${name}: ${what} (status ${JSON.stringify(st)})`));
      }, timeoutMs);
      this.waiters.push({ name, pred, resolve, reject, timer });
    });
  }

  stop(): void {
    this.handle?.abort();
  }
}

interface PodLike extends KubeObject {
  spec?: { nodeName?: string };
  status?: { conditions?: { type: string; status: string }[] };
}

/** When the last of a set's pods was first seen created, bound to a node, and Ready (nowMs). */
class PodMilestones {
  private readonly seen = new Map<string, { created: number; scheduled?: number; ready?: number }>();
  private handle: { abort(): void } | undefined;

  constructor(
    private readonly client: KubeClient,
    private readonly selector: string,
  ) {}

  async start(): Promise<void> {
    const list = await this.client.list<PodLike>(PODS, NS, { labelSelector: this.selector });
    for (const p of list.items) this.observe(p);
    this.handle = this.client.watch<PodLike>(
      PODS,
      NS,
      { resourceVersion: list.metadata.resourceVersion, labelSelector: this.selector },
      (e) => {
        if (e.type === 'ADDED' || e.type === 'MODIFIED') this.observe(e.object);
      },
      () => {},
    );
  }

  private observe(p: PodLike): void {
    const now = nowMs();
    const name = p.metadata.name ?? '';
    let s = this.seen.get(name);
    if (!s) this.seen.set(name, (s = { created: now }));
    if (s.scheduled === undefined && p.spec?.nodeName) s.scheduled = now;
    if (s.ready === undefined && p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')) s.ready = now;
  }

  /** Seconds from t0 until the last pod reached each milestone (null if one never did). */
  summary(t0: number): { lastCreatedS: number | null; lastScheduledS: number | null; lastPodReadyS: number | null } {
    const last = (k: 'created' | 'scheduled' | 'ready'): number | null => {
      let m = 0;
      for (const s of this.seen.values()) {
        const v = s[k];
        if (v === undefined) return null;
        m = Math.max(m, v);
      }
      return this.seen.size ? round((m - t0) / 1000, 3) : null;
    };
    return { lastCreatedS: last('created'), lastScheduledS: last('scheduled'), lastPodReadyS: last('ready') };
  }

  stop(): void {
    this.handle?.abort();
  }
}

function statefulSet(name: string, replicas: number, policy: 'Parallel' | 'OrderedReady'): SetObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: { name, namespace: NS },
    spec: {
      replicas,
      podManagementPolicy: policy,
      serviceName: name,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: { terminationGracePeriodSeconds: 0, containers: [{ name: 'app', image: 'registry.example/app:1', ports: [{ containerPort: 8080 }] }] },
      },
    },
  };
}

const observed = (s: SetObject): boolean => (s.status?.observedGeneration ?? 0) >= (s.metadata.generation ?? 1);
const allReady = (n: number) => (s: SetObject): boolean => observed(s) && s.status?.readyReplicas === n && s.status.replicas === n;
const rolledOut = (n: number, oldRevision: string) => (s: SetObject): boolean => {
  const st = s.status ?? {};
  return observed(s) && st.updateRevision !== oldRevision && st.updatedReplicas === n && st.readyReplicas === n && st.currentRevision === st.updateRevision;
};

interface Cpu {
  server: number;
  agents: number;
  bench: number;
}

// ---------------------------------------------------------------------------------------------
// The extra simulated nodes' child process

function runAgents(kubeconfig: string, count: number, podsPerNode: number, dir: string): Promise<void> {
  return runSimulatedNodes({ kubeconfig, count, podsPerNode, dir, cidrOctet: 200, userAgentPrefix: 'kennel-agent/sts-bench', parallel: false });
}

// ---------------------------------------------------------------------------------------------
// The benchmark

async function waitForReadyNodes(client: KubeClient, n: number): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const list = await client.list<{ metadata: { name?: string }; status?: { conditions?: { type: string; status: string }[] } }>(NODE_RES);
    const ready = list.items.filter((x) => x.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')).length;
    if (ready >= n) return;
    if (Date.now() > deadline) throw new Error(`only ${ready} of ${n} nodes Ready`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function waitForNoPods(client: KubeClient, selector: string): Promise<void> {
  const deadline = Date.now() + TIMEOUT_MS;
  for (;;) {
    const { items } = await client.list(PODS, NS, { labelSelector: selector });
    if (items.length === 0) return;
    if (Date.now() > deadline) throw new Error(`${items.length} pods of ${selector} still there`);
    await new Promise((r) => setTimeout(r, 300));
  }
}

/** `kennel up --runtime simulated` as a child (with --cpu-prof when BENCH_PROFILE is set). */
async function startKennelUp(): Promise<{ pid: number; kubeconfig: string; stop(): Promise<void> }> {
  const root = mkdtempSync(join(tmpdir(), 'kennel-bench-sts-'));
  const dataDir = join(root, 'data');
  const bin = new URL('../bin/kennel.mjs', import.meta.url).pathname;
  const nodeArgs = [...(process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean), ...(PROFILE_DIR ? ['--cpu-prof', `--cpu-prof-dir=${PROFILE_DIR}`] : [])];
  const child = spawn(process.execPath, [...nodeArgs, bin, 'up', '--data-dir', dataDir, '--port', '0', '--runtime', 'simulated'], { stdio: ['ignore', 'pipe', 'pipe'] });
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
    rmSync(root, { recursive: true, force: true });
  };
  const deadline = Date.now() + 60_000;
  while (!/is up at https:\/\//.test(out)) {
    if (child.exitCode !== null || Date.now() > deadline) {
      await stop();
      throw new Error(`kennel up did not start: ${err}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return { pid: child.pid!, kubeconfig: join(dataDir, 'kubeconfig'), stop };
}

async function main(): Promise<void> {
  const kn = await startKennelUp();
  const upPid = kn.pid;
  const agentsDir = mkdtempSync(join(tmpdir(), 'kennel-bench-sts-agents-'));
  let agents: ChildProcess | undefined;
  const client = KubeClient.fromKubeconfig(kn.kubeconfig, { userAgent: 'bench-statefulset-scale' });
  const sets = new SetWatch(client);
  try {
    agents = fork(new URL(import.meta.url).pathname, ['agents', kn.kubeconfig, String(NODES), String(PODS_PER_NODE), agentsDir], {
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    await new Promise<void>((resolve, reject) => {
      agents!.once('message', () => resolve());
      agents!.once('exit', (code) => reject(new Error(`the agents' process exited (${code})`)));
    });
    await waitForReadyNodes(client, NODES + 1);
    log(`${NODES + 1} nodes Ready (the local node: 110 pods; ${NODES} simulated: ${PODS_PER_NODE} each)`);
    await sets.start();
    await new Promise((r) => setTimeout(r, 1000)); // let start-up work settle before measuring CPU
    const agentsPid = agents.pid!;
    const cpuNow = (): Cpu => ({ server: cpuSeconds(upPid), agents: cpuSeconds(agentsPid), bench: selfCpuSeconds() });
    const cpuSince = (a: Cpu): Cpu => {
      const b = cpuNow();
      return { server: round(b.server - a.server), agents: round(b.agents - a.agents), bench: round(b.bench - a.bench) };
    };

    // 1. Parallel
    const parPods = new PodMilestones(client, 'app=par');
    await parPods.start();
    let cpu0 = cpuNow();
    let t0 = nowMs();
    await client.create(STS, statefulSet('par', PARALLEL, 'Parallel'));
    const parReady = await sets.until('par', `${PARALLEL} Ready`, allReady(PARALLEL));
    const parallel = {
      replicas: PARALLEL,
      seconds: round((parReady - t0) / 1000, 3),
      podsPerSecond: round((PARALLEL / (parReady - t0)) * 1000, 1),
      cpuSeconds: cpuSince(cpu0),
      pods: parPods.summary(t0),
    };
    parPods.stop();
    log(`Parallel ${PARALLEL}: ${JSON.stringify(parallel)}`);
    await client.delete(STS, NS, 'par', { propagationPolicy: 'Background' });
    await waitForNoPods(client, 'app=par');
    log('Parallel set and its pods deleted');

    // 2. OrderedReady
    cpu0 = cpuNow();
    t0 = nowMs();
    await client.create(STS, statefulSet('ord', ORDERED, 'OrderedReady'));
    const ordReady = await sets.until('ord', `${ORDERED} Ready`, allReady(ORDERED));
    const ordered = { replicas: ORDERED, seconds: round((ordReady - t0) / 1000, 3), podsPerSecond: round((ORDERED / (ordReady - t0)) * 1000, 1), cpuSeconds: cpuSince(cpu0) };
    log(`OrderedReady ${ORDERED}: ${JSON.stringify(ordered)}`);

    // 3. Rolling update of the OrderedReady set
    const before = await client.get<SetObject>(STS, NS, 'ord');
    const oldRevision = before.status?.updateRevision ?? '';
    cpu0 = cpuNow();
    t0 = nowMs();
    await client.patch(STS, NS, 'ord', [{ op: 'replace', path: '/spec/template/spec/containers/0/image', value: 'registry.example/app:2' }], 'json');
    const rolled = await sets.until('ord', 'the rolling update', rolledOut(ORDERED, oldRevision));
    const rollingUpdate = { replicas: ORDERED, seconds: round((rolled - t0) / 1000, 3), podsPerSecond: round((ORDERED / (rolled - t0)) * 1000, 1), cpuSeconds: cpuSince(cpu0) };
    log(`rolling update of ${ORDERED}: ${JSON.stringify(rollingUpdate)}`);
    await client.delete(STS, NS, 'ord', { propagationPolicy: 'Background' });
    await waitForNoPods(client, 'app=ord');

    let profile: ReturnType<typeof topOfProfile> | undefined;
    if (PROFILE_DIR) {
      await kn.stop();
      // CPU.<date>.<time>.<pid>.<thread>.<seq>.cpuprofile: the main thread is thread 0 (the
      // loader's and the store writer's threads write their own files).
      const files = readdirSync(PROFILE_DIR).filter((f) => /\.\d+\.0\.\d+\.cpuprofile$/.test(f));
      const newest = files.map((f) => join(PROFILE_DIR, f)).sort().pop();
      if (newest) profile = topOfProfile(JSON.parse(readFileSync(newest, 'utf8')) as Parameters<typeof topOfProfile>[0], 25);
    }
    console.log(
      JSON.stringify({
        bench: 'statefulset-scale',
        runtime: 'simulated',
        nodes: { local: 1, simulated: NODES, podsPerSimulatedNode: PODS_PER_NODE },
        volumeClaimTemplates: false,
        parallel,
        orderedReady: ordered,
        rollingUpdate,
        targetParallelPodsPerSecond: 300,
        meetsTarget: parallel.podsPerSecond >= 300,
        ...(profile ? { kennelUpProfile: profile } : {}),
        cpuNote: 'cpuSeconds: user+system CPU during each run; server = the whole `kennel up` process (API server, store, controllers, scheduler, local node agent); agents = the extra simulated nodes; bench = this client',
      }),
    );
  } finally {
    sets.stop();
    client.close();
    if (agents && agents.exitCode === null && agents.signalCode === null) {
      const exited = new Promise((r) => agents!.once('exit', r));
      if (agents.connected) agents.send({ type: 'stop' });
      else agents.kill('SIGTERM');
      const t = setTimeout(() => agents!.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(t);
    }
    await kn.stop();
    rmSync(agentsDir, { recursive: true, force: true });
  }
}

if (process.argv[2] === 'agents') await runAgents(process.argv[3]!, Number(process.argv[4]), Number(process.argv[5]), process.argv[6]!);
else await main();
