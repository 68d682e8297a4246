// bench/api-writes: ConfigMap creates through the API server over HTTPS, 50 concurrent
// keep-alive clients (one TLS connection each, one request at a time each, as real clients),
// for a fixed time, on the sqlite backend and on a real single-member etcd in the same run:
// creates/s, p50/p99 latency, and the sqlite/etcd ratio. Prints one JSON line on stdout.
//
// The API server runs in this process's main thread. The load generator runs in worker
// threads by default (BENCH_LOADGEN=worker), so its TLS and parsing do not compete with the
// server's event loop; BENCH_LOADGEN=inprocess runs it on the main thread too.
//
// Environment: BENCH_SECONDS (per backend, default 5), BENCH_WARMUP_SECONDS (default 1),
// BENCH_CLIENTS (default 50), BENCH_BACKENDS (default "sqlite,etcd"; "memory" may be added to
// see the API server's own ceiling without store costs),
// BENCH_LOADGEN ("worker" | "inprocess", default worker), BENCH_LOADGEN_THREADS (default 1),
// BENCH_PROFILE=DIR: CPU-profile the server thread during each measured run, write
// DIR/api-writes-<backend>.cpuprofile and add the top functions to the JSON line.
import { withEtcdStore, withSqliteStore } from './lib/stores.ts';
import { join } from 'node:path';
import type { Worker } from 'node:worker_threads';
import { openStore } from '../src/store/index.ts';
import { SqliteStore } from '../src/store/sqlite.ts';
import type { Store } from '../src/store/types.ts';
import { startTestServer, type TestServer } from '../test/support/apiserver.ts';
import { CreateLoad, type CreateLoadOptions, type CreateLoadResult } from './lib/create-load.ts';
import { nextMessage, startTsWorker } from './lib/threads.ts';
import { nowMs, percentile, round } from './lib/stats.ts';
import { startProfiler } from './lib/profile.ts';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const WARMUP = Number(process.env.BENCH_WARMUP_SECONDS ?? 1);
const CLIENTS = Number(process.env.BENCH_CLIENTS ?? 50);
const BACKENDS = (process.env.BENCH_BACKENDS ?? 'sqlite,etcd').split(',');
const LOADGEN = process.env.BENCH_LOADGEN === 'inprocess' ? 'inprocess' : 'worker';
const THREADS = Math.max(1, Number(process.env.BENCH_LOADGEN_THREADS ?? 1));
const PROFILE_DIR = process.env.BENCH_PROFILE;
const NAMESPACE = 'bench';

interface Figures {
  creates: number;
  createsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  errors: number;
  firstError?: string;
  /** Event-loop utilisation of the server's thread during the measured run (1 = saturated). */
  serverLoopUtilization: number;
  /** CPU seconds per wall second of the whole process (all threads) during the run. */
  processCpu: number;
  /** sqlite only: creates per committed transaction. */
  writesPerCommit?: number;
  /** With BENCH_PROFILE: the server thread's top functions, % of samples. */
  profile?: { self: [string, number][]; total: [string, number][] };
}

function log(msg: string): void {
  process.stderr.write(`api-writes: ${msg}\n`);
}

/** Load generators: in this thread, or spread over worker threads. */
interface Generator {
  run(deadline: number): Promise<CreateLoadResult>;
  close(): Promise<void>;
}

async function startGenerators(s: TestServer, run: string): Promise<Generator[]> {
  const per = (i: number) => Math.floor(CLIENTS / THREADS) + (i < CLIENTS % THREADS ? 1 : 0);
  const opts = (i: number): CreateLoadOptions => ({ url: s.url, ca: s.ca, token: s.token, namespace: NAMESPACE, clients: LOADGEN === 'worker' ? per(i) : CLIENTS, namePrefix: `${run}-g${i}` });
  if (LOADGEN === 'inprocess') {
    const load = new CreateLoad(opts(0));
    await load.connect();
    return [{ run: (d) => load.run(d), close: async () => load.close() }];
  }
  const gens: Generator[] = [];
  for (let i = 0; i < THREADS; i++) {
    const w: Worker = startTsWorker(new URL('./lib/create-load-worker.ts', import.meta.url), opts(i));
    await nextMessage<{ type: 'ready' }>(w);
    gens.push({
      async run(deadline) {
        const done = nextMessage<{ type: 'done'; result: CreateLoadResult }>(w);
        w.postMessage({ type: 'go', deadline });
        return (await done).result;
      },
      async close() {
        w.postMessage({ type: 'stop' });
        await new Promise<void>((r) => {
          const t = setTimeout(() => void w.terminate().then(() => r()), 2000);
          w.once('exit', () => {
            clearTimeout(t);
            r();
          });
        });
      },
    });
  }
  return gens;
}

async function runPhase(gens: Generator[], seconds: number) {
  const deadline = nowMs() + seconds * 1000;
  const results = await Promise.all(gens.map((g) => g.run(deadline)));
  return results;
}

async function bench(name: string, store: Store): Promise<Figures> {
  const s = await startTestServer({ store });
  try {
    const ns = await s.request('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NAMESPACE } });
    if (ns.status !== 201) throw new Error(`creating namespace: ${ns.status} ${ns.text}`);
    const gens = await startGenerators(s, name);
    try {
      if (WARMUP > 0) await runPhase(gens, WARMUP);
      const stats0 = store instanceof SqliteStore ? store.stats() : null;
      const elu0 = performance.eventLoopUtilization();
      const cpu0 = process.cpuUsage();
      const profiler = PROFILE_DIR ? await startProfiler() : null;
      const t0 = nowMs();
      const results = await runPhase(gens, SECONDS);
      const profile = profiler ? await profiler.stop(join(PROFILE_DIR!, `api-writes-${name}.cpuprofile`)) : undefined;
      const wall = (nowMs() - t0) / 1000;
      const cpu = process.cpuUsage(cpu0);
      const elu = performance.eventLoopUtilization(elu0);
      const all = new Float64Array(results.reduce((n, r) => n + r.latencies.length, 0));
      let off = 0;
      for (const r of results) {
        all.set(r.latencies, off);
        off += r.latencies.length;
      }
      all.sort();
      const creates = all.length;
      const elapsed = Math.max(...results.map((r) => r.elapsedMs)) / 1000;
      const f: Figures = {
        creates,
        createsPerSec: Math.round(creates / elapsed),
        p50Ms: round(percentile(all, 0.5)),
        p99Ms: round(percentile(all, 0.99)),
        maxMs: round(all.length ? all[all.length - 1] : 0),
        errors: results.reduce((n, r) => n + r.errors, 0),
        serverLoopUtilization: round(elu.utilization, 3),
        processCpu: round((cpu.user + cpu.system) / 1e6 / wall, 2),
      };
      if (profile) f.profile = profile;
      const firstError = results.find((r) => r.firstError)?.firstError;
      if (firstError) f.firstError = firstError;
      if (stats0 && store instanceof SqliteStore) {
        const st = store.stats();
        f.writesPerCommit = round((st.writes - stats0.writes) / Math.max(1, st.batches - stats0.batches), 1);
      }
      return f;
    } finally {
      await Promise.all(gens.map((g) => g.close()));
    }
  } finally {
    await s.stop();
  }
}

async function main(): Promise<void> {
  const result: Record<string, unknown> = {
    bench: 'api-writes',
    seconds: SECONDS,
    clients: CLIENTS,
    loadGenerator: LOADGEN === 'worker' ? `worker_threads x${THREADS} (server on the main thread)` : 'in-process (same thread as the server)',
  };
  let sqlite: Figures | undefined;
  let etcd: Figures | undefined;

  if (BACKENDS.includes('memory')) {
    // Not part of the default run: the API server's own ceiling, without any store cost.
    const store = await openStore({ backend: 'memory' });
    try {
      const m = await bench('memory', store);
      log(`memory: ${m.createsPerSec} creates/s, p50 ${m.p50Ms} ms, p99 ${m.p99Ms} ms, server loop ${m.serverLoopUtilization}`);
      result.memory = m;
    } finally {
      await store.close();
    }
  }

  if (BACKENDS.includes('sqlite')) {
    sqlite = await withSqliteStore((store) => bench('sqlite', store));
    log(`sqlite: ${sqlite.createsPerSec} creates/s, p50 ${sqlite.p50Ms} ms, p99 ${sqlite.p99Ms} ms, server loop ${sqlite.serverLoopUtilization}`);
    result.sqlite = sqlite;
  }

  if (BACKENDS.includes('etcd')) {
    try {
      etcd = await withEtcdStore((store) => bench('etcd', store));
      log(`etcd: ${etcd.createsPerSec} creates/s, p50 ${etcd.p50Ms} ms, p99 ${etcd.p99Ms} ms, server loop ${etcd.serverLoopUtilization}`);
      result.etcd = etcd;
    } catch (err) {
      log(`etcd failed: ${String(err)}`);
      result.etcd = { error: String(err) };
    }
  }

  const ratio = sqlite && etcd ? round(sqlite.createsPerSec / Math.max(1, etcd.createsPerSec), 2) : null;
  result.sqliteOverEtcd = ratio;
  result.targets = {
    sqliteCreatesPerSec: 10000,
    sqliteOverEtcd: 3,
    met: sqlite !== undefined && sqlite.createsPerSec >= 10000 && ratio !== null && ratio >= 3,
  };
  process.stdout.write(JSON.stringify(result) + '\n');
}

main().catch((err) => {
  process.stderr.write(`api-writes: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
