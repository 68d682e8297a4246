// bench/store-writes: durable write throughput and latency of the sqlite store against a real
// single-member etcd, in the same run, at 1, 10, 50 and 200 concurrent writers.
// Each writer updates its own keys by compare-and-swap (creating each on first use), so every
// write is a real CAS, as the API server does them. Prints one JSON line on stdout.
//
// Environment: BENCH_SECONDS (per level, default 3), BENCH_LEVELS (default "1,10,50,200"),
// BENCH_VALUE_BYTES (default 1024), BENCH_BACKENDS (default "sqlite,etcd").
import { withEtcdStore, withSqliteStore } from './lib/stores.ts';
import { SqliteStore } from '../src/store/sqlite.ts';
import type { KeyValue, Store } from '../src/store/types.ts';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);
const LEVELS = (process.env.BENCH_LEVELS ?? '1,10,50,200').split(',').map(Number);
const VALUE_BYTES = Number(process.env.BENCH_VALUE_BYTES ?? 1024);
const BACKENDS = (process.env.BENCH_BACKENDS ?? 'sqlite,etcd').split(',');
const KEYS_PER_WRITER = 16;

interface Level {
  writers: number;
  writes: number;
  writesPerSec: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** sqlite only: writes per committed transaction. */
  writesPerCommit?: number;
}

function log(msg: string): void {
  process.stderr.write(`store-writes: ${msg}\n`);
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];
}

const round = (x: number, d = 2) => Math.round(x * 10 ** d) / 10 ** d;

function value(w: number, i: number): string {
  const head = `{"writer":${w},"seq":${i},"data":"`;
  return head + 'x'.repeat(Math.max(0, VALUE_BYTES - head.length - 2)) + '"}';
}

async function runLevel(store: Store, run: string, writers: number): Promise<Level> {
  const latencies: number[] = [];
  const stats0 = store instanceof SqliteStore ? store.stats() : null;
  const end = performance.now() + SECONDS * 1000;
  let writes = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: writers }, async (_, w) => {
      const known: (KeyValue | null)[] = new Array(KEYS_PER_WRITER).fill(null);
      for (let i = 0; performance.now() < end; i++) {
        const j = i % KEYS_PER_WRITER;
        const key = `bench/${run}/w${w}/k${j}`;
        const prev = known[j];
        const t = performance.now();
        known[j] = prev ? await store.update(key, value(w, i), prev.modRevision) : await store.create(key, value(w, i));
        latencies.push(performance.now() - t);
        writes++;
      }
    }),
  );
  const elapsed = (performance.now() - t0) / 1000;
  const sorted = Float64Array.from(latencies).sort();
  const level: Level = {
    writers,
    writes,
    writesPerSec: Math.round(writes / elapsed),
    p50Ms: round(percentile(sorted, 0.5)),
    p99Ms: round(percentile(sorted, 0.99)),
    maxMs: round(sorted[sorted.length - 1] ?? 0),
  };
  if (stats0 && store instanceof SqliteStore) {
    const s = store.stats();
    level.writesPerCommit = round((s.writes - stats0.writes) / Math.max(1, s.batches - stats0.batches), 1);
  }
  return level;
}

async function bench(name: string, store: Store): Promise<Record<string, Level>> {
  const out: Record<string, Level> = {};
  for (const writers of LEVELS) {
    const l = await runLevel(store, `${name}-${writers}`, writers);
    log(`${name} ${writers} writers: ${l.writesPerSec} writes/s, p50 ${l.p50Ms} ms, p99 ${l.p99Ms} ms`);
    out[String(writers)] = l;
  }
  return out;
}

async function main(): Promise<void> {
  const result: Record<string, unknown> = { bench: 'store-writes', secondsPerLevel: SECONDS, valueBytes: VALUE_BYTES };
  let sqlite: Record<string, Level> | undefined;
  let etcd: Record<string, Level> | undefined;

  if (BACKENDS.includes('sqlite')) {
    sqlite = await withSqliteStore((store) => bench('sqlite', store));
    result.sqlite = sqlite;
  }

  if (BACKENDS.includes('etcd')) {
    try {
      etcd = await withEtcdStore((store) => bench('etcd', store));
      result.etcd = etcd;
    } catch (err) {
      log(`etcd failed: ${String(err)}`);
      result.etcd = { error: String(err) };
    }
  }

  const s50 = sqlite?.['50']?.writesPerSec;
  const e50 = etcd?.['50']?.writesPerSec;
  result.sqliteOverEtcdAt50 = s50 !== undefined && e50 ? round(s50 / e50, 2) : null;
  result.targets = {
    sqliteWritesPerSecAt50: 15000,
    sqliteOverEtcdAt50: 3,
    met: s50 !== undefined && s50 >= 15000 && (e50 ? s50 / e50 >= 3 : false),
  };
  process.stdout.write(JSON.stringify(result) + '\n');
}

main().catch((err) => {
  process.stderr.write(`store-writes: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
