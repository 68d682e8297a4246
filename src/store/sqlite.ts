// The SQLite backend of the store contract: embedded, durable (WAL, synchronous=FULL).
//
// Layout (like kine's): `kv` is the log, one row per write, id = revision. A key's current state
// is its row with the highest id; a delete writes a tombstone row (deleted = 1). `meta` holds
// the compacted revision, so the revision keeps counting after compaction removed old rows.
//
// Writes are group-committed: callers' requests are queued, and one flush (on setImmediate)
// decides every queued request, checking each compare-and-swap against the state including
// earlier requests of the same batch, hands the batch's rows to the writer thread
// (sqlite-writer.ts), which commits them in one transaction (one fsync), and settles every
// request individually once that commit is durable. One batch is in flight at a time: the
// requests that arrive while it commits wait for the next one, and the main thread keeps
// serving requests (and reads, from a connection of its own) meanwhile.
//
// An in-memory index holds, for every live key, its latest revision and createRevision (not
// its value). It changes only after a commit succeeded, so it always matches the file.
//
// Watches are fed in process from committed batches (no polling); a watch from an old revision
// first replays the log in chunks, then switches to live events without gap or duplicate.
// Compaction deletes old rows in bounded slices, yielding to writers between slices.
//
// The database file, its schema and the main thread's queries are in sqlite-db.ts; the decision
// of a group-commit batch (which requests succeed, what rows and events they make) in
// sqlite-batch.ts; the writer thread and the file's lock in sqlite-writer.ts.
import { WatchHub } from './watch-hub.ts';
import Database from 'better-sqlite3';
import { StoreError } from './types.ts';
import type { KeyValue, ListOptions, ListResult, Store, WatchErrorHandler, WatchHandler, Watcher } from './types.ts';
import {
  checkKey,
  checkPrefix,
  checkRevision,
  checkValue,
  compareKeys,
  encodeContinue,
  prefixRangeEnd,
  resolveListRevision,
} from './validate.ts';
import type { HubWatcher, RevEvent } from './watch-hub.ts';
import { createLogger } from '../util/log.ts';
import type { Logger } from '../util/log.ts';
import {
  liveRows,
  maxRowId,
  openDatabase,
  prepareStatements,
  readListPage,
  readMeta,
  replayEvents,
  unavailable,
  type RowTuple,
  type Statements,
} from './sqlite-db.ts';
import { batchSize, planBatch, type BatchPlan, type Latest, type Op, type Pending, type Settle } from './sqlite-batch.ts';
import { lockDatabase, SqliteWriter } from './sqlite-writer.ts';

export interface SqliteStoreOptions {
  /** The database file (created if missing). */
  path: string;
  logger?: Logger;
  /** Background compaction, off by default: every intervalMs, compact to
   *  currentRevision - keepRevisions. */
  autoCompact?: { keepRevisions: number; intervalMs?: number };
  /** Log rows examined per compaction transaction (default 1,000). */
  compactSliceRows?: number;
  /** Most writes per group-commit transaction (default 2,000). */
  maxBatchWrites?: number;
  /** Most value bytes (approximately) per group-commit transaction (default 32 MiB). */
  maxBatchBytes?: number;
  /** Log rows read per step when a watch replays history (default 1,000). */
  replayChunkRows?: number;
  /** Batches decided ahead of the last commit (default 2: one committing, one waiting). */
  maxInflightBatches?: number;
}

/** A decided batch on its way through the writer. */
interface Inflight {
  batch: Op[];
  plan: BatchPlan;
  watching: boolean;
  /** The writer answered (or there was nothing to write). */
  done: boolean;
  error: StoreError | null;
}

export interface SqliteStoreStats {
  /** Writes acknowledged (committed). */
  writes: number;
  /** Write requests refused (AlreadyExists, NotFound, Conflict, Unavailable). */
  refused: number;
  /** Write transactions committed. */
  batches: number;
  /** Most writes committed in one transaction. */
  maxBatchWrites: number;
  compactionSlices: number;
  compactionRowsDeleted: number;
  /** Longest single compaction transaction, in milliseconds. */
  maxCompactionSliceMs: number;
}

/** How much of the recently written values SqliteStore keeps (see `recent`): characters. */
const RECENT_CHARS = 8 * 1024 * 1024;

export class SqliteStore implements Store {
  private readonly db: Database.Database;
  private readonly lock: Database.Database;
  private writer: SqliteWriter | null = null;
  /** Batches handed to the writer (or waiting behind one), oldest first. */
  private inflight: Inflight[] = [];
  private readonly maxInflight: number;
  /** Batches are sent with an epoch; after a failure the writer refuses the older ones. */
  private epoch = 0;
  /** A batch failed: no new batch is decided until those in flight are answered. */
  private recovering = false;
  /** Resolved whenever batches settle (close waits on it). */
  private settled: (() => void)[] = [];
  private readonly log: Logger;
  private readonly hub: WatchHub;
  private readonly index = new Map<string, Latest>();
  /** The values of rows the latest commits wrote, by row id (a row never changes), at most
   *  about RECENT_CHARS of them: an object just written is usually read again soon (its next
   *  update, the previous value of that update's watch event), then without a query. */
  private readonly recent = new Map<number, string>();
  private recentChars = 0;
  private rev = 0;
  private compactRev = 0;
  private compactDone = 0;
  private closed = false;
  private closing: Promise<void> | null = null;
  private queue: Op[] = [];
  private flushScheduled = false;
  private compaction: Promise<void> | null = null;
  /** The write of the latest compact_revision mark (slices wait for it). */
  private compactMark: Promise<unknown> = Promise.resolve();
  private autoTimer: NodeJS.Timeout | null = null;
  private readonly sliceRows: number;
  private readonly maxBatchWrites: number;
  private readonly maxBatchBytes: number;
  private readonly replayChunk: number;
  private readonly counters: SqliteStoreStats = {
    writes: 0,
    refused: 0,
    batches: 0,
    maxBatchWrites: 0,
    compactionSlices: 0,
    compactionRowsDeleted: 0,
    maxCompactionSliceMs: 0,
  };

  private readonly st: Statements;
  private readonly path: string;
  private readonly autoCompact: SqliteStoreOptions['autoCompact'];

  /** Use openSqliteStore(), which also starts the writer thread. */
  constructor(opts: SqliteStoreOptions) {
    this.log = opts.logger ?? createLogger('store/sqlite');
    this.hub = new WatchHub((err) => this.log.error('watch handler threw', { err: String(err) }));
    this.sliceRows = Math.max(1, opts.compactSliceRows ?? 1000);
    this.maxBatchWrites = Math.max(1, opts.maxBatchWrites ?? 2000);
    this.maxBatchBytes = Math.max(1, opts.maxBatchBytes ?? 32 * 1024 * 1024);
    this.replayChunk = Math.max(1, opts.replayChunkRows ?? 1000);
    this.maxInflight = Math.max(1, opts.maxInflightBatches ?? 2);

    this.lock = lockDatabase(opts.path);
    try {
      this.db = openDatabase(opts.path);
    } catch (err) {
      this.lock.close();
      throw err;
    }
    this.st = prepareStatements(this.db);
    this.loadState();
    this.path = opts.path;
    this.autoCompact = opts.autoCompact;
  }

  /** Starts the writer thread; writes queued before it is up wait for it. */
  async start(): Promise<void> {
    try {
      this.writer = await SqliteWriter.start(this.path);
    } catch (err) {
      this.closed = true;
      this.db.close();
      this.lock.close();
      throw unavailable(err);
    }
    this.flush();
    if (this.compactDone < this.compactRev) void this.runCompaction().catch(() => {}); // resume an interrupted compaction
    const auto = this.autoCompact;
    if (auto) {
      const keep = Math.max(1, auto.keepRevisions);
      const every = Math.max(10, auto.intervalMs ?? 300_000);
      this.autoTimer = setInterval(() => {
        const target = this.rev - keep;
        if (target > this.compactRev && !this.closed) {
          this.compact(target).catch((err) => this.log.warn('auto-compaction failed', { err: String(err) }));
        }
      }, every);
      this.autoTimer.unref();
    }
  }

  /** Counters for tests and benchmarks. */
  stats(): SqliteStoreStats {
    return { ...this.counters };
  }

  async currentRevision(): Promise<number> {
    this.checkOpen();
    return this.rev;
  }

  async compactedRevision(): Promise<number> {
    this.checkOpen();
    return this.compactRev;
  }

  async get(key: string): Promise<KeyValue | null> {
    this.checkOpen();
    checkKey(key);
    const l = this.index.get(key);
    if (!l) return null;
    return { key, value: this.readValue(l.id), createRevision: l.createRevision, modRevision: l.id };
  }

  async list(prefix: string, opts: ListOptions = {}): Promise<ListResult> {
    this.checkOpen();
    const { rev, after, remaining, limit } = resolveListRevision(prefix, opts, this.rev, this.compactRev);
    const end = prefixRangeEnd(prefix);
    try {
      const { items, more } = readListPage(this.st, prefix, end, after, rev, limit);
      if (!more) return { items, revision: rev };
      const last = items[items.length - 1].key;
      const left = remaining !== undefined && remaining > items.length ? remaining - items.length : this.countAfter(prefix, end, last, rev);
      return { items, revision: rev, continue: encodeContinue({ rev, after: last, prefix, remaining: left }), remaining: left };
    } catch (err) {
      throw unavailable(err);
    }
  }

  create(key: string, value: string): Promise<KeyValue> {
    return this.enqueue((s) => {
      checkKey(key);
      checkValue(key, value);
      return { kind: 'create', key, value, ...s };
    });
  }

  update(key: string, value: string, expectedModRevision: number): Promise<KeyValue> {
    return this.enqueue((s) => {
      checkKey(key);
      checkValue(key, value);
      checkRevision('expectedModRevision', expectedModRevision);
      return { kind: 'update', key, value, expected: expectedModRevision, ...s };
    });
  }

  delete(key: string, expectedModRevision?: number): Promise<KeyValue & { deleteRevision: number }> {
    return this.enqueue((s) => {
      checkKey(key);
      if (expectedModRevision !== undefined) checkRevision('expectedModRevision', expectedModRevision);
      return { kind: 'delete', key, expected: expectedModRevision, ...s };
    });
  }

  watch(prefix: string, afterRevision: number, onEvents: WatchHandler, onError: WatchErrorHandler): Watcher {
    const w = this.hub.create(prefix, typeof afterRevision === 'number' ? afterRevision : 0, onEvents, onError);
    queueMicrotask(() => {
      if (w.closed) return;
      try {
        this.checkOpen();
        checkPrefix(prefix);
        checkRevision('afterRevision', afterRevision);
      } catch (err) {
        this.hub.fail(w, unavailable(err));
        return;
      }
      this.replayStep(w, prefixRangeEnd(prefix));
    });
    return { close: () => this.hub.close(w) };
  }

  async compact(revision: number): Promise<void> {
    this.checkOpen();
    checkRevision('revision', revision);
    if (revision > this.rev) {
      throw new StoreError('FutureRevision', `revision ${revision} is newer than the current revision ${this.rev}`);
    }
    if (revision > this.compactRev) {
      // From now on reads and watches below `revision` fail; the rows go in the background,
      // once the mark is durable.
      this.compactMark = this.writerOrFail().setMeta('compact_revision', revision);
      this.compactRev = revision;
    }
    if (this.compactDone < this.compactRev) await this.runCompaction();
  }

  close(): Promise<void> {
    if (this.closing) return this.closing;
    this.closing = (async () => {
      // Commit what was already accepted, stop background work, end watchers quietly.
      while (this.inflight.length > 0 || (this.queue.length > 0 && this.writer)) {
        if (this.inflight.length === 0) this.flush();
        if (this.inflight.length > 0) await new Promise<void>((resolve) => this.settled.push(resolve));
      }
      // Only a store whose writer never started has requests left: they cannot be committed.
      const left = this.queue;
      this.queue = [];
      for (const op of left) op.reject(new StoreError('Unavailable', 'store is closed'));
      this.closed = true;
      if (this.autoTimer) clearInterval(this.autoTimer);
      await this.compaction?.catch(() => {});
      this.hub.dispatch();
      this.hub.closeAll();
      await this.writer?.close();
      this.db.close();
      this.lock.close();
    })();
    return this.closing;
  }

  // ---------------------------------------------------------------------------------------------

  private checkOpen(): void {
    if (this.closed || this.closing) throw new StoreError('Unavailable', 'store is closed');
  }

  private readValue(id: number): string {
    const hit = this.recent.get(id);
    if (hit !== undefined) return hit;
    let v: string | undefined;
    try {
      v = this.st.value.get(id);
    } catch (err) {
      throw unavailable(err);
    }
    if (v === undefined) throw new StoreError('Unavailable', `sqlite: row ${id} is missing`);
    return v;
  }

  private loadState(): void {
    const meta = readMeta(this.db);
    this.compactRev = meta.get('compact_revision') ?? 0;
    this.compactDone = meta.get('compact_done') ?? 0;
    const maxId = maxRowId(this.db);
    this.rev = Math.max(maxId, this.compactRev);
    this.index.clear();
    this.recent.clear();
    this.recentChars = 0;
    for (const [name, id, createRevision] of liveRows(this.db)) this.index.set(name, { id, createRevision });
  }

  /** Live keys under prefix strictly after `after` at rev (for ListResult.remaining). */
  private countAfter(prefix: string, end: string | null, after: string, rev: number): number {
    let n = 0;
    if (rev === this.rev) {
      for (const key of this.index.keys()) {
        if (key.startsWith(prefix) && compareKeys(key, after) > 0) n++;
      }
      return n;
    }
    const rows = end === null ? this.st.listAfter.iterate(after, rev) : this.st.listAfterTo.iterate(after, end, rev);
    for (const r of rows) if (!r[2]) n++;
    return n;
  }

  private enqueue<T>(make: (s: Settle) => Op): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (this.closed || this.closing) {
        reject(new StoreError('Unavailable', 'store is closed'));
        return;
      }
      let op: Op;
      try {
        op = make({ resolve: resolve as (v: never) => void, reject });
      } catch (err) {
        reject(unavailable(err));
        return;
      }
      this.queue.push(op);
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        setImmediate(() => {
          this.flushScheduled = false;
          this.flush(); // reschedules itself while requests remain
        });
      }
    });
  }

  private writerOrFail(): SqliteWriter {
    if (!this.writer) throw new StoreError('Unavailable', 'store is not started');
    return this.writer;
  }

  /** The state of a key as the next batch sees it: the newest in-flight batch that wrote it,
   *  else the committed index. */
  private lookup(key: string): Latest | Pending | null {
    const inflight = this.inflight;
    for (let i = inflight.length - 1; i >= 0; i--) {
      const p = inflight[i].plan.overlay.get(key);
      if (p !== undefined) return p;
    }
    return this.index.get(key) ?? null;
  }

  /**
   * Decides the next batches of queued writes and hands their rows to the writer thread, up to
   * maxInflight batches ahead of the last commit: a batch is decided on top of the ones still
   * committing, so the writer always has the next one waiting. Requests are settled in order,
   * each once its batch is durable; a batch decided on top of one that failed fails too (the
   * writer refuses batches of a failed epoch), and the index is then re-read from the file.
   */
  private flush(): void {
    while (this.writer && !this.recovering && this.queue.length > 0 && this.inflight.length < this.maxInflight) {
      const n = batchSize(this.queue, this.maxBatchWrites, this.maxBatchBytes);
      const batch = this.queue.length === n ? this.queue : this.queue.slice(0, n);
      this.queue = this.queue.length === n ? [] : this.queue.slice(n);

      const watching = this.hub.size > 0;
      const base = this.inflight.length > 0 ? this.inflight[this.inflight.length - 1].plan.rev : this.rev;
      let plan: BatchPlan;
      try {
        plan = planBatch(batch, base, (key) => this.lookup(key), (id) => this.readValue(id), watching);
      } catch (err) {
        this.refuse(batch, unavailable(err));
        continue;
      }
      const entry: Inflight = { batch, plan, watching, done: false, error: null };
      if (plan.rows.length === 0 && this.inflight.length === 0) {
        this.settle(entry);
        continue;
      }
      this.inflight.push(entry);
      if (plan.rows.length === 0) {
        // Nothing to write, but its answers depend on the batches before it: settled after them.
        entry.done = true;
        continue;
      }
      this.writer.commit(plan.rows, this.epoch).then(
        () => {
          entry.done = true;
          this.drain();
        },
        (err: unknown) => {
          entry.done = true;
          entry.error = unavailable(err);
          this.drain();
        },
      );
    }
  }

  /** Settles the finished batches at the head of the in-flight queue, in order. */
  private drain(): void {
    while (this.inflight.length > 0 && this.inflight[0].done) {
      const entry = this.inflight.shift()!;
      if (entry.error === null && !this.recovering) {
        this.settle(entry);
        continue;
      }
      // This batch failed, or one before it did (then the writer refused this one, or it
      // wrote nothing but was decided on state that never came to be).
      const err = entry.error ?? new StoreError('Unavailable', 'sqlite: an earlier write batch failed');
      if (!this.recovering) {
        this.log.error('write batch failed', { err: err.message, writes: entry.batch.length });
        this.recovering = true;
        this.epoch++; // batches sent from now on are not refused by the writer
      }
      this.refuse(entry.batch, err);
    }
    if (this.recovering && this.inflight.length === 0) {
      // Every batch decided on the failed one has been answered: re-read the file, in case the
      // failure left it in a state the index does not describe, and go on.
      this.recovering = false;
      if (!this.closed) {
        try {
          this.loadState();
        } catch (reloadErr) {
          this.log.error('could not reload state after a failed batch', { err: String(reloadErr) });
        }
      }
    }
    const waiting = this.settled;
    this.settled = [];
    for (const w of waiting) w();
    this.flush();
  }

  /** Nothing of a batch is acknowledged. */
  private refuse(batch: Op[], err: StoreError): void {
    this.counters.refused += batch.length;
    for (const op of batch) op.reject(err);
  }

  /** The batch's rows are durable (or it wrote none): apply it to the index, answer, publish. */
  private settle(entry: Inflight): void {
    const { batch, plan, watching } = entry;
    const { overlay, rows, outcomes, events, rev } = plan;
    if (rows.length > 0) {
      this.rev = rev;
      for (const [key, p] of overlay) {
        if (p === null) this.index.delete(key);
        else {
          this.index.set(key, { id: p.id, createRevision: p.createRevision });
          this.recent.set(p.id, p.value);
          this.recentChars += p.value.length;
        }
      }
      for (const [id, v] of this.recent) {
        if (this.recentChars <= RECENT_CHARS) break;
        this.recent.delete(id);
        this.recentChars -= v.length;
      }
      this.counters.batches++;
      this.counters.writes += rows.length;
      if (rows.length > this.counters.maxBatchWrites) this.counters.maxBatchWrites = rows.length;
    }
    this.counters.refused += batch.length - rows.length;
    for (let i = 0; i < batch.length; i++) {
      const o = outcomes[i];
      if (o.ok) batch[i].resolve(o.value as never);
      else batch[i].reject(o.err);
    }
    if (watching) this.hub.publish(events);
  }

  /** Replays one chunk of history to a new watcher; goes live once caught up. */
  private replayStep(w: HubWatcher, end: string | null): void {
    if (w.closed) return;
    if (this.closed) {
      this.hub.close(w);
      return;
    }
    if (w.pos < this.compactRev) {
      this.hub.fail(
        w,
        new StoreError('Compacted', `revision ${w.pos} has been compacted (compacted to ${this.compactRev})`, {
          compactRevision: this.compactRev,
        }),
      );
      return;
    }
    let rows: RowTuple[];
    try {
      rows =
        end === null
          ? this.st.replay.all(w.pos, this.rev, w.prefix, this.replayChunk)
          : this.st.replayTo.all(w.pos, this.rev, w.prefix, end, this.replayChunk);
    } catch (err) {
      this.hub.fail(w, unavailable(err));
      return;
    }
    const events: RevEvent[] = replayEvents(rows);
    this.hub.deliver(w, events);
    if (rows.length < this.replayChunk) {
      this.hub.goLive(w, this.rev);
    } else {
      setImmediate(() => this.replayStep(w, end));
    }
  }

  /** Deletes compacted rows slice by slice until compactDone reaches compactRev. */
  private runCompaction(): Promise<void> {
    if (this.compaction) return this.compaction;
    this.compaction = (async () => {
      try {
        // A compaction asked for before close() still runs its first slice.
        for (let first = true; (first || !this.closed) && this.compactDone < this.compactRev; first = false) {
          await this.compactMark;
          const target = this.compactRev;
          const started = performance.now();
          const lo = this.compactDone;
          const hi = this.st.sliceEnd.get(lo, target, this.sliceRows - 1) ?? target;
          const deleted = await this.writerOrFail().compactSlice(lo, hi, target);
          this.compactDone = hi;
          const ms = performance.now() - started;
          this.counters.compactionSlices++;
          this.counters.compactionRowsDeleted += deleted;
          if (ms > this.counters.maxCompactionSliceMs) this.counters.maxCompactionSliceMs = ms;
          await new Promise<void>((resolve) => setImmediate(resolve)); // let writers in
        }
      } catch (err) {
        this.log.error('compaction failed', { err: String(err) });
        throw unavailable(err);
      } finally {
        this.compaction = null;
      }
    })();
    return this.compaction;
  }
}

export async function openSqliteStore(opts: SqliteStoreOptions): Promise<SqliteStore> {
  const store = new SqliteStore(opts);
  await store.start();
  return store;
}
