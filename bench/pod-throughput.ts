// bench/pod-throughput: pods per second from creation to Running through the scheduler and the
// node agents, on simulated nodes (no processes: what kwok measures). Three processes:
//   - `kennel server` (API server, controllers, scheduler; no local node), a child;
//   - BENCH_NODES node agents (default 20), each startAgent() with its own SimulatedRuntime,
//     its own API connection and events off, all in one child process (this file, `agents`);
//     (or the one BENCH_KUBECONFIG and BENCH_SERVER_PID name);
//   - this process: creates BENCH_PODS pods (default 5,000; BENCH_CREATORS requests in flight,
//     default 32) and watches them.
// pods/s = pods / (first create → the watch shows the last pod Running). Also reported: the
// create rate alone, and the resident memory (RSS now and peak) of the server and of the agents'
// process, idle (nodes registered) and with every pod running. Target ≥ 500 pods/s.
//
// Prints one JSON line.
import { runSimulatedNodes } from './lib/simulated-nodes.ts';
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeClient } from '../src/client/rest.ts';
import { mib, nowMs, round } from './lib/stats.ts';
import { PODS, PodWatch } from './lib/pod-watch.ts';

const NODES = Number(process.env.BENCH_NODES ?? 20);
const COUNT = Number(process.env.BENCH_PODS ?? 5000);
const CREATORS = Number(process.env.BENCH_CREATORS ?? 32);
/** Pods per simulated node (capacity): room for every pod even if spread unevenly. */
const PODS_PER_NODE = Math.max(110, Math.ceil((COUNT / NODES) * 2));

function log(msg: string): void {
  process.stderr.write(`pod-throughput: ${msg}\n`);
}

/** VmRSS and VmHWM (peak RSS) of a process, bytes. */
function rssOf(pid: number): { rss: number; peak: number } {
  const st = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(st)?.[1] ?? 0) * 1024;
  return { rss: kb('VmRSS'), peak: kb('VmHWM') };
}

/** User + system CPU seconds a process has used. */
function cpuSeconds(pid: number): number {
  const st = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
  // Fields 14 and 15 (utime, stime) counted from 1 with pid and comm as 1 and 2.
  return (Number(f[11]) + Number(f[12])) / 100;
}

function memFigures(pid: number): { rssMiB: number; peakRssMiB: number } {
  const m = rssOf(pid);
  return { rssMiB: mib(m.rss), peakRssMiB: mib(m.peak) };
}

// ---------------------------------------------------------------------------------------------
// The agents' child process

function runAgents(kubeconfig: string, count: number, dir: string): Promise<void> {
  return runSimulatedNodes({ kubeconfig, count, podsPerNode: PODS_PER_NODE, dir, cidrOctet: 100, userAgentPrefix: 'kennel-agent/sim', parallel: true });
}

// ---------------------------------------------------------------------------------------------
// The benchmark

async function main(): Promise<void> {
  // BENCH_KUBECONFIG + BENCH_SERVER_PID: use a kennel server started by hand (e.g. under
  // `node --cpu-prof bin/kennel.mjs server …` to profile it) instead of starting one.
  const { startKennel } = await import('../test/support/kennel.ts');
  const external = process.env.BENCH_KUBECONFIG;
  // BENCH_PROFILE=DIR: the server child runs with --cpu-prof and writes DIR/*.cpuprofile when
  // it stops (summarise with bench/lib/cpuprofile-top.ts).
  const profileDir = process.env.BENCH_PROFILE;
  const kn = external
    ? { kubeconfig: external, dataDir: '', stop: async () => {} }
    : await startKennel([], { command: 'server', nodeArgs: profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [] });
  const serverPid = external ? Number(process.env.BENCH_SERVER_PID) : findServerPid(kn.dataDir);
  const agentsDir = mkdtempSync(join(tmpdir(), 'kennel-bench-agents-'));
  let agents: ChildProcess | undefined;
  const client = KubeClient.fromKubeconfig(kn.kubeconfig, { userAgent: 'bench-pod-throughput' });
  const watch = new PodWatch(client, 'default', 'bench=throughput');
  try {
    const serverIdleBefore = memFigures(serverPid);
    agents = fork(new URL(import.meta.url).pathname, ['agents', kn.kubeconfig, String(NODES), agentsDir], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const t0 = nowMs();
    await new Promise<void>((resolve, reject) => {
      agents!.once('message', () => resolve());
      agents!.once('exit', (code) => reject(new Error(`the agents' process exited (${code})`)));
    });
    log(`${NODES} agents registered in ${round(nowMs() - t0, 0)} ms`);
    await waitForReadyNodes(client, NODES);
    await watch.start();
    // Let start-up settle before the idle figures.
    await new Promise((r) => setTimeout(r, 2000));
    const idle = { server: memFigures(serverPid), agents: memFigures(agents.pid!) };

    const cpu0 = { server: cpuSeconds(serverPid), agents: cpuSeconds(agents.pid!), bench: process.cpuUsage() };
    let next = 0;
    let createErrors = 0;
    let firstError: string | undefined;
    const start = nowMs();
    let createdAt = 0;
    const creator = async (): Promise<void> => {
      while (next < COUNT) {
        const i = next++;
        const body = {
          apiVersion: 'v1',
          kind: 'Pod',
          metadata: { name: `tp-${i}`, namespace: 'default', labels: { bench: 'throughput', app: `app-${i % 50}` } },
          spec: { containers: [{ name: 'app', image: 'registry.example/app:1', ports: [{ containerPort: 8080 }] }] },
        };
        try {
          await client.create(PODS, body);
        } catch (e) {
          createErrors++;
          firstError ??= (e as Error).message;
          next = COUNT;
        }
      }
    };
    await Promise.all(Array.from({ length: CREATORS }, creator));
    createdAt = nowMs();
    if (createErrors) throw new Error(`${createErrors} creates failed: ${firstError}`);
    log(`${COUNT} pods created in ${round(createdAt - start, 0)} ms; scheduled ${watch.count('Scheduled')}, running ${watch.count('Running')}`);
    const scheduledAt = await watch.untilCount('Scheduled', COUNT, 600_000);
    const runningAt = await watch.untilCount('Running', COUNT, 600_000);
    const elapsed = runningAt - start;
    const loaded = { server: memFigures(serverPid), agents: memFigures(agents.pid!) };
    const benchCpu = process.cpuUsage(cpu0.bench);
    const cpu = {
      serverSeconds: round(cpuSeconds(serverPid) - cpu0.server),
      agentsSeconds: round(cpuSeconds(agents.pid!) - cpu0.agents),
      benchClientSeconds: round((benchCpu.user + benchCpu.system) / 1e6),
    };
    const perNode = await podsPerNode(client);
    console.log(
      JSON.stringify({
        bench: 'pod-throughput',
        runtime: 'simulated',
        nodes: NODES,
        pods: COUNT,
        creators: CREATORS,
        podsPerSecond: round((COUNT / elapsed) * 1000, 1),
        elapsedMs: round(elapsed, 0),
        createPerSecond: round((COUNT / (createdAt - start)) * 1000, 1),
        scheduledPerSecond: round((COUNT / (scheduledAt - start)) * 1000, 1),
        lastRunningAfterLastCreateMs: round(runningAt - createdAt, 0),
        podsPerNode: perNode,
        writesPerPod: round(watch.events / COUNT, 2),
        cpuDuringRun: cpu,
        memory: {
          serverBeforeAgents: serverIdleBefore,
          idle,
          allRunning: loaded,
          agentsPerNodeMiB: round(loaded.agents.rssMiB / NODES, 2),
          note: `server: the kennel server process (API, store, controllers, scheduler); agents: one process hosting all ${NODES} simulated agents`,
        },
        targetPodsPerSecond: 500,
        meetsTarget: (COUNT / elapsed) * 1000 >= 500,
      }),
    );
  } finally {
    watch.stop();
    client.close();
    if (agents && agents.exitCode === null) {
      const exited = new Promise((r) => agents!.once('exit', r));
      agents.send({ type: 'stop' });
      const t = setTimeout(() => agents!.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(t);
    }
    await kn.stop();
    rmSync(agentsDir, { recursive: true, force: true });
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

async function waitForReadyNodes(client: KubeClient, n: number): Promise<void> {
  const NODE_RES = { group: '', version: 'v1', plural: 'nodes', namespaced: false, kind: 'Node' };
  const deadline = Date.now() + 60_000;
  for (;;) {
    const list = await client.list<{ metadata: { name?: string }; status?: { conditions?: { type: string; status: string }[] } }>(NODE_RES);
    const ready = list.items.filter((x) => x.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')).length;
    if (ready >= n) return;
    if (Date.now() > deadline) throw new Error(`only ${ready} of ${n} nodes Ready`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function podsPerNode(client: KubeClient): Promise<{ min: number; max: number }> {
  const { items } = await client.listAll<{ metadata: { name?: string }; spec?: { nodeName?: string } }>(PODS, 'default', { labelSelector: 'bench=throughput', pageSize: 1000 });
  const counts = new Map<string, number>();
  for (const p of items) counts.set(p.spec?.nodeName ?? '', (counts.get(p.spec?.nodeName ?? '') ?? 0) + 1);
  const v = [...counts.values()];
  return { min: Math.min(...v), max: Math.max(...v) };
}

if (process.argv[2] === 'agents') await runAgents(process.argv[3]!, Number(process.argv[4]), process.argv[5]!);
else await main();
