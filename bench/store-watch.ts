// bench/store-watch: 1,000 watchers on one prefix while 50 writers write to the sqlite store.
// Latency is measured from the moment a writer sees its write acknowledged to the moment each
// watcher's handler receives the event. Prints one JSON line on stdout.
//
// Environment: BENCH_SECONDS (default 3), BENCH_WATCHERS (default 1000), BENCH_WRITERS
// (default 50), BENCH_VALUE_BYTES (default 512), BENCH_BACKEND (sqlite | memory, default sqlite).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore } from '../src/store/index.ts';
import type { KeyValue, Store, WatchEvent } from '../src/store/types.ts';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);
const WATCHERS = Number(process.env.BENCH_WATCHERS ?? 1000);
const WRITERS = Number(process.env.BENCH_WRITERS ?? 50);
const VALUE_BYTES = Number(process.env.BENCH_VALUE_BYTES ?? 512);
const BACKEND = process.env.BENCH_BACKEND === 'memory' ? 'memory' : 'sqlite';

// Latency histogram: 10 µs buckets up to 2 s.
const BUCKET_MS = 0.01;
const hist = new Uint32Array(200_000 + 1);
let samples = 0;
let maxMs = 0;
let early = 0;

function record(ms: number): void {
  if (ms < 0) {
    early++; // delivered before the writer saw its acknowledgement
    ms = 0;
  }
  if (ms > maxMs) maxMs = ms;
  hist[Math.min(hist.length - 1, Math.floor(ms / BUCKET_MS))]++;
  samples++;
}

function percentile(p: number): number {
  const want = Math.ceil(samples * p);
  let seen = 0;
  for (let i = 0; i < hist.length; i++) {
    seen += hist[i];
    if (seen >= want) return (i + 1) * BUCKET_MS;
  }
  return maxMs;
}

const round = (x: number, d = 2) => Math.round(x * 10 ** d) / 10 ** d;

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'kennel-bench-watch-'));
  let store: Store | null = null;
  try {
    store =
      BACKEND === 'memory' ? await openStore({ backend: 'memory' }) : await openStore({ backend: 'sqlite', path: join(dir, 'store.db') });
    const s = store;
    const start = await s.currentRevision();
    const ackAt = new Map<number, number>();
    const counts = new Uint32Array(WATCHERS);
    let sentinelSeen = 0;
    let sentinelRev = Infinity;
    let onSentinel: () => void = () => {};
    const watchers = Array.from({ length: WATCHERS }, (_, i) =>
      s.watch(
        'watch/',
        start,
        (events: WatchEvent[]) => {
          const now = performance.now();
          for (const e of events) {
            const rev = e.kv.modRevision;
            if (rev >= sentinelRev) {
              if (++sentinelSeen === WATCHERS) onSentinel();
              continue;
            }
            counts[i]++;
            const a = ackAt.get(rev);
            record(a === undefined ? -1 : now - a);
          }
        },
        (err) => process.stderr.write(`store-watch: watcher ${i} failed: ${err.code} ${err.message}\n`),
      ),
    );
    // Watchers start at `start`, so whatever is written while they go live is replayed.
    const end = performance.now() + SECONDS * 1000;
    let writes = 0;
    const pad = 'x'.repeat(VALUE_BYTES);
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: WRITERS }, async (_, w) => {
        const known: (KeyValue | null)[] = new Array(8).fill(null);
        for (let i = 0; performance.now() < end; i++) {
          const j = i % 8;
          const key = `watch/w${w}/k${j}`;
          const prev = known[j];
          const kv = prev ? await s.update(key, pad, prev.modRevision) : await s.create(key, pad);
          ackAt.set(kv.modRevision, performance.now());
          known[j] = kv;
          writes++;
        }
      }),
    );
    const elapsed = (performance.now() - t0) / 1000;

    // Everything written before the sentinel must reach every watcher.
    const settled = new Promise<boolean>((resolve) => {
      const t = setTimeout(() => resolve(false), 10_000);
      onSentinel = () => {
        clearTimeout(t);
        resolve(true);
      };
    });
    sentinelRev = (await s.currentRevision()) + 1;
    await s.create('watch/zz-sentinel', 'end');
    const complete = await settled;
    for (const w of watchers) w.close();

    let missing = 0;
    let duplicates = 0;
    for (let i = 0; i < WATCHERS; i++) {
      missing += Math.max(0, writes - counts[i]);
      duplicates += Math.max(0, counts[i] - writes);
    }
    if (!complete) process.stderr.write('store-watch: not every watcher saw the sentinel within 10 s\n');
    const result = {
      bench: 'store-watch',
      backend: BACKEND,
      watchers: WATCHERS,
      writers: WRITERS,
      seconds: SECONDS,
      writes,
      writesPerSec: Math.round(writes / elapsed),
      deliveries: samples,
      missing,
      duplicates,
      deliveredBeforeAck: early,
      p50Ms: round(percentile(0.5)),
      p99Ms: round(percentile(0.99)),
      maxMs: round(maxMs),
      target: { p99Ms: 10, met: percentile(0.99) < 10 && missing === 0 && duplicates === 0 && complete },
    };
    process.stderr.write(`store-watch: ${writes} writes, ${samples} deliveries, p99 ${result.p99Ms} ms\n`);
    process.stdout.write(JSON.stringify(result) + '\n');
  } finally {
    await store?.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  process.stderr.write(`store-watch: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
