// bench/pod-startup: create→Ready latency of pods on a real node. `kennel up` runs as its own
// process; this one creates BENCH_PODS pods (default 50) through the API, BENCH_CONCURRENCY at
// a time (default 10: a new pod is created as soon as one of the 10 in flight is Ready), and
// times each from just before its POST to the watch event that shows it Ready (target p99 < 1 s).
//
// Runtimes (BENCH_RUNTIMES, default "containerd,process"):
//   containerd: kennel's own containerd, the busybox-static image pushed to a docker-registry on
//               127.0.0.1 and pulled once by a warm-up pod before measuring ("image cached").
//               Needs root and the container stack (else reported as skipped, with the reason).
//   process:    host processes with 127.x pod IPs (the image is only recorded).
// Each pod runs `sh` looping on `sleep 1` (trapping TERM) and has no probes: Ready = started.
//
// Prints one JSON line.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { KubeClient } from '../src/client/rest.ts';
import type { KubeObject } from '../src/registry/types.ts';
import { startKennel, type Kennel } from '../test/support/kennel.ts';
import { containerStackMissing, startBusyboxRegistry, type BusyboxRegistry } from '../test/support/images.ts';
import { PODS, PodWatch } from './lib/pod-watch.ts';
import { nowMs, round, summarize } from './lib/stats.ts';

const COUNT = Number(process.env.BENCH_PODS ?? 50);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 10);
const RUNTIMES = (process.env.BENCH_RUNTIMES ?? 'containerd,process').split(',').map((s) => s.trim()).filter(Boolean);

function log(msg: string): void {
  process.stderr.write(`pod-startup: ${msg}\n`);
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
}

async function measure(kn: Kennel, image: string, warmup: boolean): Promise<RuntimeResult> {
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
    const scheduled: number[] = [];
    let next = 0;
    const start = nowMs();
    const worker = async (): Promise<void> => {
      while (next < COUNT) {
        const name = `p-${next++}`;
        const t0 = nowMs();
        await client.create(PODS, podBody(name, image));
        const tReady = await watch.until(name, 'Ready', 120_000);
        ready.push(tReady - t0);
        const tBound = watch.seen.get(name)?.Scheduled;
        if (tBound !== undefined) scheduled.push(tBound - t0);
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    const elapsedMs = nowMs() - start;
    const r = summarize(ready);
    const sch = summarize(scheduled);
    return {
      ...r,
      scheduledP50Ms: sch.p50Ms,
      scheduledP99Ms: sch.p99Ms,
      podsPerSecond: round((COUNT / elapsedMs) * 1000, 1),
      elapsedMs: round(elapsedMs, 0),
      ...(warmupMs !== undefined ? { warmupMs: round(warmupMs, 0) } : {}),
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
    kn = await startKennel(['--runtime', 'containerd'], { dataDir });
    log('containerd: kennel up');
    return await measure(kn, reg.image, true);
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
    kn = await startKennel(['--runtime', 'process'], { dataDir: join(root, 'data') });
    log('process: kennel up');
    return await measure(kn, 'busybox', true);
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
