// bench/pod-startup: create→Ready latency of pods on a real node. `kennel up` runs as its own
// process; this one creates BENCH_PODS pods (default 50) through the API, BENCH_CONCURRENCY at
// a time (default 10: a new pod is created as soon as one of the 10 in flight is Ready), and
// times each from just before its POST to the watch event that shows it Ready (target p99 < 1 s).
//
// Runtimes (BENCH_RUNTIMES, default "containerd,process"):
//   containerd: kennel's own containerd, the busybox-static image pushed to a docker-registry on
//               127.0.0.1 and pulled once by a warm-up pod before measuring ("image cached"),
//               after the node has imported its tools image (one-off start-up work).
//               Needs root and the container stack (else reported as skipped, with the reason).
// Besides the latencies, cpuMsPerPod: CPU time per pod over the measured run by process (kennel,
// containerd, what containerd ran: CNI plugins, iptables, shim start-ups; the shims with runc),
// which the machine's other load does not change as it does the latencies.
//   process:    host processes with 127.x pod IPs (the image is only recorded).
// Each pod runs `sh` looping on `sleep 1` (trapping TERM) and has no probes: Ready = started.
//
// BENCH_PER_POD=1 logs every measured pod on stderr (start offset and create→Ready latency).
//
// Prints one JSON line.
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { KubeClient } from '../src/client/rest.ts';
import type { KubeObject } from '../src/registry/types.ts';
import { startKennel, type Kennel } from '../test/support/kennel.ts';
import { containerStackMissing, startBusyboxRegistry, type BusyboxRegistry } from '../test/support/images.ts';
import { PODS, PodWatch } from './lib/pod-watch.ts';
import { nowMs, round, summarize } from './lib/stats.ts';

const COUNT = Number(process.env.BENCH_PODS ?? 50);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 10);
const PER_POD = process.env.BENCH_PER_POD === '1';
const RUNTIMES = (process.env.BENCH_RUNTIMES ?? 'containerd,process').split(',').map((s) => s.trim()).filter(Boolean);

/** BENCH_PROFILE=DIR: run `kennel up` with the CPU profiler, writing DIR/<runtime>/*.cpuprofile at its exit. */
function profileArgs(runtime: string): string[] {
  const dir = process.env.BENCH_PROFILE;
  return dir ? ['--cpu-prof', `--cpu-prof-dir=${join(dir, runtime)}`] : [];
}

function log(msg: string): void {
  process.stderr.write(`pod-startup: ${msg}\n`);
}

// -- CPU time per pod, by component (ms): the machine is shared, so wall-clock figures are noisy
// and CPU per pod is what a change is judged by.

const CLK_TCK = 100;

function cmdlineOf(pid: number): string[] {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
  } catch {
    return [];
  }
}

/** utime+stime and cutime+cstime (waited-for children) of a process, in ms; zeros when it is gone. */
function cpuOf(pid: number): { own: number; children: number } {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // fields 14..17 of stat (1-based), i.e. 11..14 after the comm field and state
    const n = (i: number) => (Number(f[i]) * 1000) / CLK_TCK;
    return { own: n(11) + n(12), children: n(13) + n(14) };
  } catch {
    return { own: 0, children: 0 };
  }
}

interface CpuSample {
  /** kennel up (API server, controllers, scheduler, agent) and its waited-for children. */
  kennel: number;
  /** containerd itself. */
  containerd: number;
  /** What containerd ran and waited for: CNI plugins (and their iptables), shim start-ups. */
  containerdChildren: number;
  /** The shims and what they waited for (runc create/start/state per container). */
  shims: number;
}

/** CPU used so far by the processes of the kennel whose data dir is `dataDir` (containerd runtime: its daemon and shims). */
function sampleCpu(dataDir: string): CpuSample {
  const out: CpuSample = { kennel: 0, containerd: 0, containerdChildren: 0, shims: 0 };
  const socket = join(dataDir, 'agent', 'containerd', 'containerd.sock');
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const pid = Number(name);
    const argv = cmdlineOf(pid);
    if (argv.length === 0) continue;
    if (argv.includes('--data-dir') && argv[argv.indexOf('--data-dir') + 1] === dataDir && argv.includes('up')) {
      const c = cpuOf(pid);
      out.kennel += c.own + c.children;
    } else if (/containerd$/.test(argv[0]) && argv[argv.indexOf('--config') + 1]?.startsWith(join(dataDir, 'agent'))) {
      const c = cpuOf(pid);
      out.containerd += c.own;
      out.containerdChildren += c.children;
    } else if (/containerd-shim/.test(argv[0]) && argv[argv.indexOf('-address') + 1] === socket) {
      const c = cpuOf(pid);
      out.shims += c.own + c.children;
    }
  }
  return out;
}

function podBody(name: string, image: string): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'default', labels: { bench: 'pod-startup' } },
    spec: {
      terminationGracePeriodSeconds: 2,
      containers: [{ name: 'app', image, command: ['sh', '-c', "trap 'exit 0' TERM; while true; do sleep 1; done"] }],
    },
  };
}

interface RuntimeResult {
  count: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** Create→bound to the node (the scheduler's part), p50/p99. */
  scheduledP50Ms: number;
  scheduledP99Ms: number;
  /** Pods Ready per second over the measured run. */
  podsPerSecond: number;
  elapsedMs: number;
  warmupMs?: number;
  /**
   * CPU time per pod over the measured run (ms), by process: kennel; containerd and what it ran
   * (CNI plugins, iptables); the shims and what they ran (runc). The machine's other load does
   * not enter these, unlike the latencies.
   */
  cpuMsPerPod?: Record<keyof CpuSample | 'total', number>;
}

async function measure(kn: Kennel, image: string, warmup: boolean, dataDir: string): Promise<RuntimeResult> {
  const client = KubeClient.fromKubeconfig(kn.kubeconfig, { userAgent: 'bench-pod-startup' });
  const watch = new PodWatch(client, 'default', 'bench=pod-startup');
  await watch.start();
  try {
    let warmupMs: number | undefined;
    if (warmup) {
      // Pull the image once (and start the node's first sandbox) before measuring.
      const t0 = nowMs();
      await client.create(PODS, podBody('warmup', image));
      warmupMs = (await watch.until('warmup', 'Ready', 120_000)) - t0;
      log(`warm-up pod Ready in ${round(warmupMs)} ms`);
    }
    const ready: number[] = [];
    const podLines: string[] = [];
    const scheduled: number[] = [];
    let next = 0;
    const cpu0 = sampleCpu(dataDir);
    const start = nowMs();
    const worker = async (): Promise<void> => {
      while (next < COUNT) {
        const name = `p-${next++}`;
        const t0 = nowMs();
        await client.create(PODS, podBody(name, image));
        const tReady = await watch.until(name, 'Ready', 120_000);
        ready.push(tReady - t0);
        podLines.push(`${name}@${round(t0 - start, 0)}:${round(tReady - t0, 0)}`);
        const tBound = watch.seen.get(name)?.Scheduled;
        if (tBound !== undefined) scheduled.push(tBound - t0);
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    const elapsedMs = nowMs() - start;
    if (PER_POD) log(`create→Ready per pod (name@start ms:latency ms, in order of readiness): ${podLines.join(' ')}`);
    const cpu1 = sampleCpu(dataDir);
    const perPod = (k: keyof CpuSample) => round((cpu1[k] - cpu0[k]) / COUNT, 1);
    const cpuMsPerPod = { kennel: perPod('kennel'), containerd: perPod('containerd'), containerdChildren: perPod('containerdChildren'), shims: perPod('shims'), total: 0 };
    cpuMsPerPod.total = round(cpuMsPerPod.kennel + cpuMsPerPod.containerd + cpuMsPerPod.containerdChildren + cpuMsPerPod.shims, 1);
    const r = summarize(ready);
    const sch = summarize(scheduled);
    return {
      ...r,
      scheduledP50Ms: sch.p50Ms,
      scheduledP99Ms: sch.p99Ms,
      podsPerSecond: round((COUNT / elapsedMs) * 1000, 1),
      elapsedMs: round(elapsedMs, 0),
      ...(warmupMs !== undefined ? { warmupMs: round(warmupMs, 0) } : {}),
      cpuMsPerPod,
    };
  } finally {
    watch.stop();
    client.close();
  }
}

async function deletePods(kn: Kennel): Promise<void> {
  const r = await kn.kubectl(['delete', 'pods', '--all', '--wait=true', '--timeout=120s'], { timeoutMs: 130_000 });
  if (r.code !== 0) log(`deleting pods failed: ${r.stderr.trim()}`);
}

/**
 * A containerd node builds and imports its tools image (kennel.local/tools:1) in the background
 * after it starts: one-off start-up work of the node, not part of starting a pod, so the
 * measurement waits for it (as it waits for the warm-up pod's image pull).
 */
async function nodeSettled(kn: Kennel): Promise<void> {
  const t0 = nowMs();
  const deadline = t0 + 120_000;
  while (!/"msg":"(tools image imported|could not build the tools image)"/.test(kn.logs())) {
    if (nowMs() > deadline) throw new Error('the node did not finish importing its tools image within 120 s');
    await new Promise((r) => setTimeout(r, 100));
  }
  log(`containerd: the node's tools image import done after ${round(nowMs() - t0, 0)} ms`);
}

async function runContainerd(): Promise<RuntimeResult | { skipped: string }> {
  const missing = containerStackMissing();
  if (missing) return { skipped: missing };
  let reg: BusyboxRegistry | undefined;
  let kn: Kennel | undefined;
  const root = mkdtempSync('/tmp/kennel-bench-ctd-');
  const dataDir = join(root, 'data');
  try {
    reg = await startBusyboxRegistry();
    mkdirSync(join(dataDir, 'agent'), { recursive: true });
    writeFileSync(join(dataDir, 'agent', 'registries.yaml'), `mirrors:\n  "${reg.host}":\n    endpoint: ["http://${reg.host}"]\n`);
    kn = await startKennel(['--runtime', 'containerd'], { dataDir, nodeArgs: profileArgs('containerd') });
    log('containerd: kennel up');
    await nodeSettled(kn);
    return await measure(kn, reg.image, true, dataDir);
  } finally {
    if (kn) {
      await deletePods(kn);
      await kn.stop();
    }
    const { purgeContainerd } = await import('../src/agent/runtime/containerd.ts');
    await purgeContainerd(join(dataDir, 'agent'), { bridgeName: 'kennel0' });
    rmSync(root, { recursive: true, force: true });
    await reg?.stop();
  }
}

async function runProcess(): Promise<RuntimeResult> {
  const root = mkdtempSync('/tmp/kennel-bench-proc-');
  let kn: Kennel | undefined;
  try {
    kn = await startKennel(['--runtime', 'process'], { dataDir: join(root, 'data'), nodeArgs: profileArgs('process') });
    log('process: kennel up');
    return await measure(kn, 'busybox', true, join(root, 'data'));
  } finally {
    if (kn) {
      await deletePods(kn);
      await kn.stop();
    }
    rmSync(root, { recursive: true, force: true });
  }
}

const results: Record<string, unknown> = {};
for (const rt of RUNTIMES) {
  if (rt === 'containerd') results.containerd = await runContainerd();
  else if (rt === 'process') results.process = await runProcess();
  else throw new Error(`unknown runtime ${rt} in BENCH_RUNTIMES`);
  log(`${rt}: ${JSON.stringify(results[rt])}`);
}
const p99s = Object.values(results).filter((r): r is RuntimeResult => typeof (r as RuntimeResult).p99Ms === 'number');
console.log(
  JSON.stringify({
    bench: 'pod-startup',
    pods: COUNT,
    concurrency: CONCURRENCY,
    measure: 'create (POST) → Ready (watch event), image cached, ms',
    ...results,
    targetP99Ms: 1000,
    meetsTarget: p99s.length > 0 && p99s.every((r) => r.p99Ms < 1000),
  }),
);
