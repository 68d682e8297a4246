// bench/api-watch: 1,000 HTTP watches on the configmaps of one namespace (from the resource
// version of a LIST), then paced writes (create, create, merge patch, delete, repeated). For
// every write and every watch: the delay from the write's acknowledgement (the writer's
// response arrival) to the event's arrival on that watch; p50/p99 over all deliveries, and
// missing / duplicate / unexpected deliveries (each must be 0). Prints one JSON line on stdout.
//
// The API server (sqlite backend) runs on the main thread; the watches run in worker threads,
// the writer in another, all on one clock (performance.timeOrigin + now()). A negative delay
// means the event arrived before the writer had read its acknowledgement.
//
// The first BENCH_WARMUP_WRITES writes (default 8) are a warm-up: their deliveries are checked
// (missing, duplicate, order) but left out of the latency figures, as api-writes leaves out its
// warm-up phase. On the first events every watch path runs cold, in the server and in the load
// generator's parsing of 1,000 streams alike; with 100 measured writes those few writes alone
// (4% of the deliveries) would set the p99. The p99 over every write is reported too.
//
// Environment: BENCH_WATCHES (default 1000), BENCH_SECONDS (writing time, default 5),
// BENCH_WRITE_RATE (writes/s, default 20), BENCH_WATCH_THREADS (default 1),
// BENCH_BACKEND (sqlite | memory, default sqlite), BENCH_PER_WRITE=1 (each measured write's
// last-delivery delay on stderr), BENCH_PROFILE=DIR (CPU-profile the server
// thread while writing: DIR/api-watch.cpuprofile, top functions in the JSON line).
import { join } from 'node:path';
import type { Worker } from 'node:worker_threads';
import { startProfiler } from './lib/profile.ts';
import { startTestServer } from '../test/support/apiserver.ts';
import { nextMessage, startTsWorker } from './lib/threads.ts';
import { mib, round, summarize } from './lib/stats.ts';
import type { WatchWorkerData, WatchersDone, WriterDone } from './lib/watch-workers.ts';

const WATCHES = Number(process.env.BENCH_WATCHES ?? 1000);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const WARMUP_WRITES = Math.max(0, Number(process.env.BENCH_WARMUP_WRITES ?? 8));
const RATE = Number(process.env.BENCH_WRITE_RATE ?? 20);
const THREADS = Math.max(1, Number(process.env.BENCH_WATCH_THREADS ?? 1));
const BACKEND = process.env.BENCH_BACKEND === 'memory' ? 'memory' : 'sqlite';
const NAMESPACE = 'bench-watch';
const GRACE_MS = 10_000;
const PROFILE_DIR = process.env.BENCH_PROFILE;

function log(msg: string): void {
  process.stderr.write(`api-watch: ${msg}\n`);
}

async function stopWorker(w: Worker): Promise<void> {
  w.postMessage({ type: 'stop' });
  await new Promise<void>((resolve) => {
    const t = setTimeout(() => void w.terminate().then(() => resolve()), 2000);
    w.once('exit', () => {
      clearTimeout(t);
      resolve();
    });
  });
}

async function main(): Promise<void> {
  const s = await startTestServer({ backend: BACKEND });
  const workers: Worker[] = [];
  try {
    const ns = await s.request('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NAMESPACE } });
    if (ns.status !== 201) throw new Error(`creating namespace: ${ns.status} ${ns.text}`);
    const list = await s.request('GET', `/api/v1/namespaces/${NAMESPACE}/configmaps`);
    const rv = String(list.json<{ metadata: { resourceVersion: string } }>().metadata.resourceVersion);
    const base: Omit<WatchWorkerData, 'role'> = { url: s.url, ca: s.ca, token: s.token, namespace: NAMESPACE };

    const t0 = performance.now();
    const watchers: Worker[] = [];
    for (let i = 0; i < THREADS; i++) {
      const count = Math.floor(WATCHES / THREADS) + (i < WATCHES % THREADS ? 1 : 0);
      const firstIndex = i * Math.floor(WATCHES / THREADS) + Math.min(i, WATCHES % THREADS);
      const w = startTsWorker(new URL('./lib/watch-workers.ts', import.meta.url), { ...base, role: 'watchers', watches: count, resourceVersion: rv, firstIndex } satisfies WatchWorkerData);
      workers.push(w);
      watchers.push(w);
    }
    await Promise.all(watchers.map((w) => nextMessage<{ type: 'ready' }>(w)));
    const openMs = performance.now() - t0;
    log(`${WATCHES} watches open in ${Math.round(openMs)} ms`);

    const writer = startTsWorker(new URL('./lib/watch-workers.ts', import.meta.url), { ...base, role: 'writer' } satisfies WatchWorkerData);
    workers.push(writer);
    await nextMessage<{ type: 'ready' }>(writer);
    const writes = WARMUP_WRITES + Math.max(4, Math.round(SECONDS * RATE));
    const elu0 = performance.eventLoopUtilization();
    const profiler = PROFILE_DIR ? await startProfiler() : null;
    const wdone = nextMessage<WriterDone>(writer);
    writer.postMessage({ type: 'go', writes, rate: RATE });
    const wr = await wdone;
    const expected: number[] = [];
    for (const r of wr.rvs) if (Number.isFinite(r)) expected.push(r);
    const results = await Promise.all(
      watchers.map((w) => {
        const p = nextMessage<WatchersDone>(w);
        w.postMessage({ type: 'collect', expected, graceMs: GRACE_MS });
        return p;
      }),
    );
    const elu = performance.eventLoopUtilization(elu0);
    const profile = profiler ? await profiler.stop(join(PROFILE_DIR!, 'api-watch.cpuprofile')) : undefined;
    const rss = process.memoryUsage().rss;

    // rv → write index and ack time.
    const ackOf = new Map<number, number>();
    for (let i = 0; i < wr.rvs.length; i++) if (Number.isFinite(wr.rvs[i])) ackOf.set(wr.rvs[i], wr.acks[i]);
    // The warm-up writes' revisions: checked like the others, left out of the latency figures.
    const warmupRvs = new Set<number>();
    for (let i = 0; i < Math.min(WARMUP_WRITES, wr.rvs.length); i++) if (Number.isFinite(wr.rvs[i])) warmupRvs.add(wr.rvs[i]);
    const delays: number[] = [];
    const allDelays: number[] = [];
    let missing = 0;
    let duplicates = 0;
    let unexpected = 0;
    let outOfOrder = 0;
    let early = 0;
    let watchesSeen = 0;
    /** Per measured write: the delay of its last delivery (when every watch had it). */
    const lastOf = new Map<number, number>();
    for (const r of results) {
      for (const ev of r.events) {
        watchesSeen++;
        const seen = new Set<number>();
        let prev = -1;
        for (let i = 0; i < ev.length; i += 2) {
          const evRv = ev[i];
          const t = ev[i + 1];
          if (evRv < prev) outOfOrder++;
          prev = evRv;
          const ack = ackOf.get(evRv);
          if (ack === undefined) {
            unexpected++;
            continue;
          }
          if (seen.has(evRv)) {
            duplicates++;
            continue;
          }
          seen.add(evRv);
          const d = t - ack;
          allDelays.push(d);
          if (warmupRvs.has(evRv)) continue;
          if (d > (lastOf.get(evRv) ?? -Infinity)) lastOf.set(evRv, d);
          if (d < 0) early++;
          delays.push(d);
        }
        missing += ackOf.size - seen.size;
      }
    }
    const lat = summarize(delays);
    const latAll = summarize(allDelays);
    const lastPerWrite = summarize([...lastOf.values()]);
    if (process.env.BENCH_PER_WRITE) log(`last delivery per write (ms, in write order): ${[...lastOf.entries()].sort((a, b) => a[0] - b[0]).map(([, d]) => d.toFixed(1)).join(' ')}`);
    const result = {
      bench: 'api-watch',
      backend: BACKEND,
      watches: WATCHES,
      watchesReporting: watchesSeen,
      writes: wr.acks.length,
      warmupWrites: Math.min(WARMUP_WRITES, wr.acks.length),
      writeErrors: wr.errors,
      ...(wr.firstError ? { firstWriteError: wr.firstError } : {}),
      writeRatePerSec: RATE,
      loadGenerator: `watches in worker_threads x${THREADS}, writer in its own worker thread (server on the main thread)`,
      openWatchesMs: Math.round(openMs),
      deliveries: lat.count,
      p50Ms: lat.p50Ms,
      p99Ms: lat.p99Ms,
      maxMs: lat.maxMs,
      /** Per measured write, the delay until its last watch had it: p50 / max. */
      lastDeliveryPerWriteMs: { p50: lastPerWrite.p50Ms, max: lastPerWrite.maxMs },
      /** The same over every write, the warm-up writes included. */
      p99MsAllWrites: latAll.p99Ms,
      /** Deliveries that arrived before the writer read its acknowledgement (delay < 0). */
      beforeAck: early,
      missing,
      duplicates,
      unexpected,
      outOfOrder,
      brokenWatches: results.reduce((n, r) => n + r.broken, 0),
      badLines: results.reduce((n, r) => n + r.badLines, 0),
      ...(results.find((r) => r.firstError) ? { firstWatchError: results.find((r) => r.firstError)!.firstError } : {}),
      serverLoopUtilization: round(elu.utilization, 3),
      watchThreadLoopUtilization: results.map((r) => round(r.loopUtilization, 3)),
      ...(profile ? { profile } : {}),
      processRssMiB: mib(rss),
      targets: { p99Ms: 20, met: lat.p99Ms < 20 && missing === 0 && duplicates === 0 && unexpected === 0 && wr.errors === 0 },
    };
    log(`p50 ${lat.p50Ms} ms, p99 ${lat.p99Ms} ms over ${lat.count} deliveries after ${result.warmupWrites} warm-up writes (p99 ${latAll.p99Ms} ms with them); missing ${missing}, duplicates ${duplicates}`);
    process.stdout.write(JSON.stringify(result) + '\n');
  } finally {
    await Promise.all(workers.map(stopWorker));
    await s.stop();
  }
}

main().catch((err) => {
  process.stderr.write(`api-watch: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
