// bench/api-list: LIST of 30,000 pods in one namespace, paged by 500 as kubectl does
// (limit=500, then continue=… until no continue), several passes, on the sqlite backend:
// p50/p99 per page, total time per pass, and the server's memory (RSS). Prints one JSON line.
//
// The pods are made realistic by the API itself: one pod is created through the API (so it
// carries the defaults, uid, managedFields … the API adds), and the rest are copies of its
// stored form with their own name and uid, written straight to the store (fast). With
// BENCH_POPULATE=api every pod is created through the API instead (50 concurrent clients).
//
// The API server runs in this process; the listing client is one keep-alive TLS connection in
// the main thread (pages are fetched one after another, so it never competes with the
// server). processRss is this whole process (server + client, which holds at most one page).
//
// Environment: BENCH_PODS (default 30000), BENCH_PAGE (default 500), BENCH_PASSES (per
// representation, default 3), BENCH_POPULATE (store | api, default store), BENCH_PROFILE=DIR
// (CPU-profile the process while listing: DIR/api-list-<json|table>.cpuprofile, top functions
// in the JSON line). Run with node --expose-gc for heap figures after a full collection.
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { startProfiler } from './lib/profile.ts';
import { startTestServer, type TestServer } from '../test/support/apiserver.ts';
import { HttpsConnection } from './lib/https-client.ts';
import { mib, round, summarize } from './lib/stats.ts';

const PODS = Number(process.env.BENCH_PODS ?? 30000);
const PAGE = Number(process.env.BENCH_PAGE ?? 500);
const PASSES = Number(process.env.BENCH_PASSES ?? 3);
const POPULATE = process.env.BENCH_POPULATE === 'api' ? 'api' : 'store';
const PROFILE_DIR = process.env.BENCH_PROFILE;
const NAMESPACE = 'bench-list';
const TABLE_ACCEPT = 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json';

function log(msg: string): void {
  process.stderr.write(`api-list: ${msg}\n`);
}

function podBody(name: string, i: number): Record<string, unknown> {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, labels: { app: 'bench', shard: String(i % 16) } },
    spec: { containers: [{ name: 'app', image: 'registry.example.com/bench/app:1.0' }] },
  };
}

const podName = (i: number) => `pod-${String(i).padStart(5, '0')}`;

async function populateThroughStore(s: TestServer): Promise<void> {
  const first = await s.request('POST', `/api/v1/namespaces/${NAMESPACE}/pods`, podBody(podName(0), 0));
  if (first.status !== 201) throw new Error(`creating the template pod: ${first.status} ${first.text}`);
  const key = `/registry/core/pods/${NAMESPACE}/${podName(0)}`;
  const kv = await s.store.get(key);
  if (!kv) throw new Error(`the template pod is not at ${key}`);
  const template = JSON.parse(kv.value) as { metadata: Record<string, unknown> };
  const BATCH = 1000;
  for (let i = 1; i < PODS; i += BATCH) {
    const writes: Promise<unknown>[] = [];
    for (let j = i; j < Math.min(PODS, i + BATCH); j++) {
      const name = podName(j);
      const obj = { ...template, metadata: { ...template.metadata, name, uid: randomUUID(), labels: { app: 'bench', shard: String(j % 16) } } };
      writes.push(s.store.create(`/registry/core/pods/${NAMESPACE}/${name}`, JSON.stringify(obj)));
    }
    await Promise.all(writes);
  }
}

async function populateThroughApi(s: TestServer): Promise<void> {
  const conns = await Promise.all(Array.from({ length: 50 }, () => HttpsConnection.connect({ url: s.url, ca: s.ca })));
  const headers = { authorization: `Bearer ${s.token}`, 'content-type': 'application/json' };
  let next = 0;
  try {
    await Promise.all(
      conns.map(async (c) => {
        for (let i = next++; i < PODS; i = next++) {
          const r = await c.request('POST', `/api/v1/namespaces/${NAMESPACE}/pods`, headers, JSON.stringify(podBody(podName(i), i)));
          if (r.status !== 201) throw new Error(`creating ${podName(i)}: ${r.status} ${r.body.toString('utf8').slice(0, 300)}`);
        }
      }),
    );
  } finally {
    for (const c of conns) c.close();
  }
}

interface Pass {
  pages: number;
  items: number;
  totalMs: number;
  bytes: number;
  pageMs: number[];
}

async function listPass(conn: HttpsConnection, token: string, accept: string, onPage: () => void): Promise<Pass> {
  const headers = { authorization: `Bearer ${token}`, accept, 'user-agent': 'kubectl/v1.32.0 (linux/amd64) kubernetes/bench' };
  const names = new Set<string>();
  const pageMs: number[] = [];
  let cont: string | undefined;
  let bytes = 0;
  let items = 0;
  const t0 = performance.now();
  do {
    const path = `/api/v1/namespaces/${NAMESPACE}/pods?limit=${PAGE}${cont ? `&continue=${encodeURIComponent(cont)}` : ''}`;
    const t = performance.now();
    const r = await conn.request('GET', path, headers);
    pageMs.push(performance.now() - t);
    onPage();
    if (r.status !== 200) throw new Error(`list page ${pageMs.length}: ${r.status} ${r.body.toString('utf8').slice(0, 300)}`);
    bytes += r.body.length;
    const body = JSON.parse(r.body.toString('utf8')) as {
      kind: string;
      metadata: { continue?: string };
      items?: { metadata: { name: string } }[];
      rows?: { object: { metadata: { name: string } } }[];
    };
    const got = body.kind === 'Table' ? (body.rows ?? []).map((x) => x.object.metadata.name) : (body.items ?? []).map((x) => x.metadata.name);
    for (const n of got) names.add(n);
    items += got.length;
    cont = body.metadata.continue || undefined;
  } while (cont);
  const totalMs = performance.now() - t0;
  if (names.size !== PODS || items !== PODS) throw new Error(`a pass returned ${items} items (${names.size} distinct), want ${PODS}`);
  return { pages: pageMs.length, items, totalMs, bytes, pageMs };
}

async function main(): Promise<void> {
  const s = await startTestServer({ backend: 'sqlite' });
  let conn: HttpsConnection | undefined;
  try {
    const rssStart = process.memoryUsage().rss;
    const ns = await s.request('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NAMESPACE } });
    if (ns.status !== 201) throw new Error(`creating namespace: ${ns.status} ${ns.text}`);
    const tp = performance.now();
    if (POPULATE === 'api') await populateThroughApi(s);
    else await populateThroughStore(s);
    const populateMs = performance.now() - tp;
    log(`${PODS} pods created in ${Math.round(populateMs)} ms (${POPULATE})`);
    const gc = (globalThis as { gc?: () => void }).gc;
    gc?.();
    const afterPopulate = process.memoryUsage();

    conn = await HttpsConnection.connect({ url: s.url, ca: s.ca });
    let rssPeak = 0;
    let heapPeak = 0;
    const sample = () => {
      const m = process.memoryUsage();
      rssPeak = Math.max(rssPeak, m.rss);
      heapPeak = Math.max(heapPeak, m.heapUsed);
    };
    const out: Record<string, unknown> = {};
    for (const [label, accept] of [
      ['json', 'application/json'],
      ['table', TABLE_ACCEPT],
    ] as const) {
      const passes: Pass[] = [];
      const profiler = PROFILE_DIR ? await startProfiler() : null;
      for (let p = 0; p < PASSES; p++) {
        const pass = await listPass(conn, s.token, accept, sample);
        log(`${label} pass ${p + 1}: ${pass.pages} pages, ${Math.round(pass.totalMs)} ms, ${mib(pass.bytes)} MiB`);
        passes.push(pass);
      }
      const profile = profiler ? await profiler.stop(join(PROFILE_DIR!, `api-list-${label}.cpuprofile`)) : undefined;
      const pages = summarize(passes.flatMap((x) => x.pageMs));
      const totals = passes.map((x) => round(x.totalMs, 0));
      out[label] = {
        pagesPerPass: passes[0].pages,
        pageP50Ms: pages.p50Ms,
        pageP99Ms: pages.p99Ms,
        pageMaxMs: pages.maxMs,
        passTotalMs: totals,
        mibPerPass: mib(passes[0].bytes),
        ...(profile ? { profile } : {}),
      };
    }
    const result = {
      bench: 'api-list',
      backend: 'sqlite',
      pods: PODS,
      pageSize: PAGE,
      passes: PASSES,
      populate: POPULATE,
      populateMs: Math.round(populateMs),
      // kubectl get -o json / informers (plain JSON) and kubectl get (Table).
      ...out,
      serverInProcess: true,
      rssMiB: { start: mib(rssStart), afterPopulate: mib(afterPopulate.rss), peakWhileListing: mib(rssPeak) },
      heapUsedMiB: { afterPopulate: mib(afterPopulate.heapUsed), peakWhileListing: mib(heapPeak), afterGc: gc !== undefined },
    };
    process.stdout.write(JSON.stringify(result) + '\n');
  } finally {
    conn?.close();
    await s.stop();
  }
}

main().catch((err) => {
  process.stderr.write(`api-list: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
