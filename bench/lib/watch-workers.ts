// Worker threads of bench/api-watch, selected by workerData.role:
//
// - 'watchers': opens `watches` HTTP watches (one TLS connection each) on one namespace's
//   configmaps from a resourceVersion, and records, for every event line, the object's
//   resourceVersion and the arrival time (nowMs(), shared by every thread of the process).
//     → {type:'ready', opened} once every watch has its 200 head;
//     ← {type:'collect', expected: number[] (rvs), graceMs} → {type:'done', ...} when every
//       watch has every expected rv or the grace ran out.
// - 'writer': paced writes (create / merge patch / delete of ConfigMaps) on one connection.
//     ← {type:'go', writes, rate} → {type:'done', acks: Float64Array (ack time per write),
//       rvs: Float64Array (resourceVersion per write), errors, firstError}.
// Both: ← {type:'stop'} closes every connection; the worker then exits.
import { parentPort, workerData } from 'node:worker_threads';
import { HttpsConnection } from './https-client.ts';
import { nowMs } from './stats.ts';

export interface WatchWorkerData {
  role: 'watchers' | 'writer';
  url: string;
  ca: string;
  token: string;
  namespace: string;
  /** watchers: how many watches, and the resourceVersion to start from. */
  watches?: number;
  resourceVersion?: string;
  /** watchers: index of the first watch (for names in errors). */
  firstIndex?: number;
}

export interface WatchersDone {
  type: 'done';
  /** Per watch: [rv, time, rv, time, …] of every event line received. */
  events: Float64Array[];
  /** Watches that ended or failed before collection finished. */
  broken: number;
  firstError?: string;
  /** Lines that were not a JSON {type, object} event. */
  badLines: number;
  /** Event-loop utilisation of this worker from 'ready' to the end of collection. */
  loopUtilization: number;
}

export interface WriterDone {
  type: 'done';
  acks: Float64Array;
  rvs: Float64Array;
  errors: number;
  firstError?: string;
}

const port = parentPort!;
const data = workerData as WatchWorkerData;
const auth = { authorization: `Bearer ${data.token}`, accept: 'application/json', 'user-agent': 'kennel-bench/1' };
const conns: HttpsConnection[] = [];
const RV = /"resourceVersion":"(\d+)"/;

class Recorder {
  buf = new Float64Array(512);
  n = 0;
  push(rv: number, t: number): void {
    if (this.n + 2 > this.buf.length) {
      const b = new Float64Array(this.buf.length * 2);
      b.set(this.buf);
      this.buf = b;
    }
    this.buf[this.n++] = rv;
    this.buf[this.n++] = t;
  }
  has(rv: number): boolean {
    for (let i = 0; i < this.n; i += 2) if (this.buf[i] === rv) return true;
    return false;
  }
}

async function runWatchers(): Promise<void> {
  const n = data.watches ?? 0;
  const path = `/api/v1/namespaces/${data.namespace}/configmaps?watch=true&resourceVersion=${data.resourceVersion}&timeoutSeconds=3600`;
  const recs = Array.from({ length: n }, () => new Recorder());
  let broken = 0;
  let badLines = 0;
  let firstError: string | undefined;
  let ending = false;
  const open = async (i: number) => {
    const conn = await HttpsConnection.connect({ url: data.url, ca: data.ca });
    conns.push(conn);
    let rest = '';
    const rec = recs[i];
    const onData = (b: Buffer) => {
      const t = nowMs();
      const text = rest + b.toString('utf8');
      let start = 0;
      for (let nl = text.indexOf('\n'); nl >= 0; nl = text.indexOf('\n', start)) {
        const line = text.slice(start, nl);
        start = nl + 1;
        if (!line) continue;
        // A cheap check of the event's shape (the load generator must cost little): an event
        // line starts with {"type": and the object's resourceVersion is its only such field.
        const m = RV.exec(line);
        if (line.startsWith('{"type":"') && m) rec.push(Number(m[1]), t);
        else badLines++;
      }
      rest = text.slice(start);
    };
    const onEnd = (err?: Error) => {
      if (ending) return;
      broken++;
      firstError ??= `watch ${(data.firstIndex ?? 0) + i} ended: ${err ? err.message : 'stream closed'}`;
    };
    const head = await conn.openStream(path, auth, onData, onEnd);
    if (head.status !== 200) throw new Error(`watch ${i}: ${head.status} ${head.body.toString('utf8').slice(0, 300)}`);
  };
  // Open in waves, so the TLS handshakes do not all land on the server at once.
  const WAVE = 50;
  for (let i = 0; i < n; i += WAVE) {
    await Promise.all(Array.from({ length: Math.min(WAVE, n - i) }, (_, k) => open(i + k)));
  }
  port.postMessage({ type: 'ready', opened: n });
  const elu0 = performance.eventLoopUtilization();

  const msg = await new Promise<{ type: 'collect'; expected: number[]; graceMs: number }>((resolve) => {
    const on = (m: { type: string }) => {
      if (m.type === 'collect') {
        port.off('message', on);
        resolve(m as { type: 'collect'; expected: number[]; graceMs: number });
      }
    };
    port.on('message', on);
  });
  const deadline = nowMs() + msg.graceMs;
  const expected = msg.expected;
  const last = expected.length ? Math.max(...expected) : 0;
  // Every expected rv has arrived on a watch once its last event is at least the newest rv
  // (events come in rv order); poll for that, then check completeness in the parent.
  const complete = () => recs.every((r) => r.n >= 2 && r.buf[r.n - 2] >= last);
  while (!complete() && nowMs() < deadline && broken === 0) await new Promise((r) => setTimeout(r, 10));
  ending = true;
  const events = recs.map((r) => r.buf.slice(0, r.n));
  const done: WatchersDone = { type: 'done', events, broken, badLines, loopUtilization: performance.eventLoopUtilization(elu0).utilization };
  if (firstError) done.firstError = firstError;
  port.postMessage(done, events.map((e) => e.buffer as ArrayBuffer));
}

async function runWriter(): Promise<void> {
  const conn = await HttpsConnection.connect({ url: data.url, ca: data.ca });
  conns.push(conn);
  port.postMessage({ type: 'ready' });
  const msg = await new Promise<{ type: 'go'; writes: number; rate: number }>((resolve) => {
    const on = (m: { type: string }) => {
      if (m.type === 'go') {
        port.off('message', on);
        resolve(m as { type: 'go'; writes: number; rate: number });
      }
    };
    port.on('message', on);
  });
  const base = `/api/v1/namespaces/${data.namespace}/configmaps`;
  const json = { ...auth, 'content-type': 'application/json' };
  const merge = { ...auth, 'content-type': 'application/merge-patch+json' };
  const acks = new Float64Array(msg.writes).fill(NaN);
  const rvs = new Float64Array(msg.writes).fill(NaN);
  let errors = 0;
  let firstError: string | undefined;
  const t0 = nowMs();
  for (let i = 0; i < msg.writes; i++) {
    const due = t0 + (i * 1000) / msg.rate;
    const wait = due - nowMs();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    // Pattern of 4: create a, create b, patch a, delete b: ADDED, ADDED, MODIFIED, DELETED.
    const k = i % 4;
    const group = i - k;
    let r;
    if (k === 0 || k === 1) {
      const name = `w-${group + k}`;
      const body = JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, labels: { app: 'bench', seq: String(i) } }, data: { a: 'x'.repeat(64), seq: String(i) } });
      r = await conn.request('POST', base, json, body);
    } else if (k === 2) {
      r = await conn.request('PATCH', `${base}/w-${group}`, merge, JSON.stringify({ data: { a: 'patched', seq: String(i) } }));
    } else {
      r = await conn.request('DELETE', `${base}/w-${group + 1}`, auth);
    }
    const t = nowMs();
    if (r.status >= 200 && r.status < 300) {
      acks[i] = t;
      rvs[i] = Number((JSON.parse(r.body.toString('utf8')) as { metadata?: { resourceVersion?: string } }).metadata?.resourceVersion);
    } else {
      errors++;
      firstError ??= `write ${i}: ${r.status} ${r.body.toString('utf8').slice(0, 300)}`;
    }
  }
  const done: WriterDone = { type: 'done', acks, rvs, errors };
  if (firstError) done.firstError = firstError;
  port.postMessage(done, [acks.buffer as ArrayBuffer, rvs.buffer as ArrayBuffer]);
}

port.on('message', (m: { type: string }) => {
  if (m.type === 'stop') {
    for (const c of conns) c.close();
    port.close();
  }
});

const run = data.role === 'watchers' ? runWatchers : runWriter;
run().catch((e: unknown) => {
  for (const c of conns) c.close();
  throw e;
});
