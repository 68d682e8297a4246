// bench/deployment-rollout: a rolling update of a large Deployment on simulated nodes.
//   - `kennel server` (API server, controllers, scheduler; no local node), a child;
//   - BENCH_NODES simulated node agents (default 10, room for twice the surge-sized pod count),
//     all in a second child process (this file, `agents`), events off;
//   - this process creates a Deployment of BENCH_REPLICAS replicas (default 1,000; RollingUpdate
//     with the default maxSurge 25% and maxUnavailable 25%), waits until it is rolled out, then
//     changes its image (a JSON patch) and times the rollout from the patch until the status
//     says it is done as `kubectl rollout status` reads it (observedGeneration caught up,
//     updatedReplicas = replicas = availableReplicas = spec.replicas).
// Meanwhile one watch on the deployment's pods counts, after every event, the pods that are
// unavailable (spec.replicas − pods Ready and not being deleted) and the pods that exist (not
// being deleted); the maxima are reported beside what the strategy allows (maxUnavailable 25%
// rounded down, replicas + maxSurge 25% rounded up).
// CPU: user+system seconds of the server process, of the agents' process and of this client
// during the rollout.
//
// Prints one JSON line on stdout; progress on stderr.
import { runSimulatedNodes } from './lib/simulated-nodes.ts';
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeClient, type ResourceRef } from '../src/client/rest.ts';
import type { KubeObject } from '../src/registry/types.ts';
import { nowMs, round } from './lib/stats.ts';
import { PODS } from './lib/pod-watch.ts';

const REPLICAS = Number(process.env.BENCH_REPLICAS ?? 1000);
const NODES = Number(process.env.BENCH_NODES ?? 10);
/** Room for every pod of the surge twice over, spread unevenly. */
const PODS_PER_NODE = Math.max(110, Math.ceil(((REPLICAS * 1.25) / NODES) * 2));
const TIMEOUT_MS = Number(process.env.BENCH_TIMEOUT_SECONDS ?? 600) * 1000;
const NS = 'default';
const APP = 'rollout-bench';

const DEPLOYMENTS: ResourceRef = { group: 'apps', version: 'v1', plural: 'deployments', namespaced: true, kind: 'Deployment' };
const NODE_RES: ResourceRef = { group: '', version: 'v1', plural: 'nodes', namespaced: false, kind: 'Node' };

function log(msg: string): void {
  process.stderr.write(`deployment-rollout: ${msg}\n`);
}

/** User + system CPU seconds a process has used. */
function cpuSeconds(pid: number): number {
  const st = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
}

interface DeploymentStatus {
  observedGeneration?: number;
  replicas?: number;
  updatedReplicas?: number;
  availableReplicas?: number;
}
interface DeploymentObj extends KubeObject {
  status?: DeploymentStatus;
}
interface PodObj extends KubeObject {
  status?: { conditions?: { type: string; status: string }[] };
}

/** kubectl rollout status' notion of done. */
function rolledOut(d: DeploymentObj): boolean {
  const s = d.status ?? {};
  return (s.observedGeneration ?? 0) >= (d.metadata.generation ?? 1) && s.updatedReplicas === REPLICAS && s.replicas === REPLICAS && s.availableReplicas === REPLICAS;
}

/** One watch on the deployment; until() resolves (nowMs) once a predicate holds. */
class DeploymentWatch {
  private latest: DeploymentObj | undefined;
  private waiter: { pred: (d: DeploymentObj) => boolean; resolve: (t: number) => void } | undefined;
  private handle: { abort(): void } | undefined;

  constructor(private readonly client: KubeClient) {}

  async start(): Promise<void> {
    const list = await this.client.list<DeploymentObj>(DEPLOYMENTS, NS);
    this.latest = list.items.find((d) => d.metadata.name === APP);
    this.handle = this.client.watch<DeploymentObj>(
      DEPLOYMENTS,
      NS,
      { resourceVersion: list.metadata.resourceVersion, fieldSelector: `metadata.name=${APP}` },
      (e) => {
        if (e.type === 'ADDED' || e.type === 'MODIFIED') this.latest = e.object;
        const w = this.waiter;
        if (w && this.latest && w.pred(this.latest)) {
          this.waiter = undefined;
          w.resolve(nowMs());
        }
      },
      () => {},
    );
  }

  until(what: string, pred: (d: DeploymentObj) => boolean): Promise<number> {
    if (this.latest && pred(this.latest)) return Promise.resolve(nowMs());
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what} (status ${JSON.stringify(this.latest?.status)})`)), TIMEOUT_MS);
      this.waiter = {
        pred,
        resolve: (t) => {
          clearTimeout(timer);
          resolve(t);
        },
      };
    });
  }

  stop(): void {
    this.handle?.abort();
  }
}

/** Counts unavailable and existing pods of the app after every watch event (incrementally). */
class AvailabilityWatch {
  private readonly state = new Map<string, { live: boolean; ready: boolean }>();
  private live = 0;
  private ready = 0;
  maxUnavailable = 0;
  maxPods = 0;
  events = 0;
  private handle: { abort(): void } | undefined;

  constructor(private readonly client: KubeClient) {}

  async start(): Promise<void> {
    const list = await this.client.listAll<PodObj>(PODS, NS, { labelSelector: `app=${APP}`, pageSize: 1000 });
    for (const p of list.items) this.observe(p, false);
    this.reset();
    this.handle = this.client.watch<PodObj>(
      PODS,
      NS,
      { resourceVersion: list.resourceVersion, labelSelector: `app=${APP}`, allowWatchBookmarks: true },
      (e) => {
        if (e.type === 'BOOKMARK') return;
        this.events++;
        this.observe(e.object, e.type === 'DELETED');
      },
      () => {},
    );
  }

  /** Start the maxima from the current state. */
  reset(): void {
    this.maxUnavailable = REPLICAS - this.ready;
    this.maxPods = this.live;
  }

  private observe(p: PodObj, deleted: boolean): void {
    const name = p.metadata.name ?? '';
    const prev = this.state.get(name) ?? { live: false, ready: false };
    const live = !deleted && !p.metadata.deletionTimestamp;
    const ready = live && (p.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');
    this.live += Number(live) - Number(prev.live);
    this.ready += Number(ready) - Number(prev.ready);
    if (deleted) this.state.delete(name);
    else this.state.set(name, { live, ready });
    this.maxUnavailable = Math.max(this.maxUnavailable, REPLICAS - this.ready);
    this.maxPods = Math.max(this.maxPods, this.live);
  }

  stop(): void {
    this.handle?.abort();
  }
}

function deployment(image: string): KubeObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: APP, namespace: NS },
    spec: {
      replicas: REPLICAS,
      selector: { matchLabels: { app: APP } },
      template: {
        metadata: { labels: { app: APP } },
        spec: { terminationGracePeriodSeconds: 0, containers: [{ name: 'app', image, ports: [{ containerPort: 8080 }] }] },
      },
    },
  };
}

// ---------------------------------------------------------------------------------------------

function runAgents(kubeconfig: string, count: number, dir: string): Promise<void> {
  return runSimulatedNodes({ kubeconfig, count, podsPerNode: PODS_PER_NODE, dir, cidrOctet: 150, userAgentPrefix: 'kennel-agent/deploy-bench', parallel: true });
}

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

function findServerPid(dataDir: string): number {
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const argv = readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0');
      if (argv.includes('server') && argv.includes(dataDir)) return Number(name);
    } catch {
      // gone
    }
  }
  throw new Error(`no kennel server process for ${dataDir}`);
}

async function main(): Promise<void> {
  const { startKennel } = await import('../test/support/kennel.ts');
  const kn = await startKennel([], { command: 'server' });
  const serverPid = findServerPid(kn.dataDir);
  const agentsDir = mkdtempSync(join(tmpdir(), 'kennel-bench-deploy-agents-'));
  let agents: ChildProcess | undefined;
  const client = KubeClient.fromKubeconfig(kn.kubeconfig, { userAgent: 'bench-deployment-rollout' });
  const deployWatch = new DeploymentWatch(client);
  const pods = new AvailabilityWatch(client);
  try {
    agents = fork(new URL(import.meta.url).pathname, ['agents', kn.kubeconfig, String(NODES), agentsDir], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    await new Promise<void>((resolve, reject) => {
      agents!.once('message', () => resolve());
      agents!.once('exit', (code) => reject(new Error(`the agents' process exited (${code})`)));
    });
    await waitForReadyNodes(client, NODES);
    log(`${NODES} simulated nodes Ready (${PODS_PER_NODE} pods each)`);
    await deployWatch.start();

    let t0 = nowMs();
    await client.create(DEPLOYMENTS, deployment('registry.example/app:1'));
    const created = await deployWatch.until(`${REPLICAS} replicas available`, rolledOut);
    const initialSeconds = round((created - t0) / 1000, 3);
    log(`${REPLICAS} replicas available after ${initialSeconds} s`);
    await pods.start();
    await new Promise((r) => setTimeout(r, 1000)); // let the last status writes settle
    pods.reset();

    const cpu0 = { server: cpuSeconds(serverPid), agents: cpuSeconds(agents.pid!), bench: process.cpuUsage() };
    t0 = nowMs();
    await client.patch(DEPLOYMENTS, NS, APP, [{ op: 'replace', path: '/spec/template/spec/containers/0/image', value: 'registry.example/app:2' }], 'json');
    const patched = await client.get<DeploymentObj>(DEPLOYMENTS, NS, APP);
    const generation = patched.metadata.generation ?? 2;
    const done = await deployWatch.until('the rollout', (d) => (d.metadata.generation ?? 0) >= generation && rolledOut(d));
    const benchCpu = process.cpuUsage(cpu0.bench);
    const cpu = {
      server: round(cpuSeconds(serverPid) - cpu0.server),
      agents: round(cpuSeconds(agents.pid!) - cpu0.agents),
      bench: round((benchCpu.user + benchCpu.system) / 1e6),
    };
    const seconds = round((done - t0) / 1000, 3);
    log(`rolled out in ${seconds} s; at most ${pods.maxUnavailable} unavailable, ${pods.maxPods} pods`);
    const allowedUnavailable = Math.floor(REPLICAS * 0.25);
    const allowedPods = REPLICAS + Math.ceil(REPLICAS * 0.25);
    console.log(
      JSON.stringify({
        bench: 'deployment-rollout',
        runtime: 'simulated',
        nodes: NODES,
        replicas: REPLICAS,
        strategy: { maxSurge: '25%', maxUnavailable: '25%' },
        initialRolloutSeconds: initialSeconds,
        rolloutSeconds: seconds,
        maxUnavailablePods: pods.maxUnavailable,
        allowedUnavailablePods: allowedUnavailable,
        maxPods: pods.maxPods,
        allowedPods,
        withinLimits: pods.maxUnavailable <= allowedUnavailable && pods.maxPods <= allowedPods,
        podEventsDuringRollout: pods.events,
        cpuSecondsDuringRollout: cpu,
        note: 'rolloutSeconds: image patch → status rolled out as kubectl rollout status reads it; unavailable = replicas − pods Ready and not being deleted, after every pod watch event; cpu: server = the kennel server process (API, store, controllers, scheduler), agents = the simulated nodes, bench = this client',
      }),
    );
  } finally {
    deployWatch.stop();
    pods.stop();
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

if (process.argv[2] === 'agents') await runAgents(process.argv[3]!, Number(process.argv[4]), process.argv[5]!);
else await main();
