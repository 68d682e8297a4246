// The memory backend: the store contract on an in-process MVCC log, for unit tests and for
// embedding without persistence. Every write appends a row to the log; history is kept until
// compacted, so lists at past revisions and watches from old revisions work as on SQLite/etcd.
import { WatchHub } from './watch-hub.ts';
import { StoreError } from './types.ts';
import type { KeyValue, ListOptions, ListResult, Store, WatchErrorHandler, WatchEvent, WatchHandler, Watcher } from './types.ts';
import {
  checkKey,
  checkPrefix,
  checkRevision,
  checkValue,
  compareKeys,
  encodeContinue,
  resolveListRevision,
} from './validate.ts';
import type { RevEvent } from './watch-hub.ts';
import { createLogger } from '../util/log.ts';
import type { Logger } from '../util/log.ts';

interface Row {
  key: string;
  value: string;
  createRevision: number;
  modRevision: number;
  deleted: boolean;
  /** The live row this write replaced (update/delete), if any. */
  prev: Row | null;
}

function toKv(r: Row): KeyValue {
  return { key: r.key, value: r.value, createRevision: r.createRevision, modRevision: r.modRevision };
}

function toEvent(r: Row): WatchEvent {
  if (r.deleted) {
    return {
      type: 'DELETE',
      kv: { key: r.key, value: '', createRevision: r.createRevision, modRevision: r.modRevision },
      prevKv: r.prev ? toKv(r.prev) : undefined,
    };
  }
  return r.prev ? { type: 'PUT', kv: toKv(r), prevKv: toKv(r.prev) } : { type: 'PUT', kv: toKv(r) };
}

/** First index in the sorted array whose element is >= key (or > key when strict). */
function lowerBound(sorted: string[], key: string, strict: boolean): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const c = compareKeys(sorted[mid], key);
    if (c < 0 || (strict && c === 0)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** First index of a row with modRevision > rev in a revision-ordered array. */
function firstAfter(rows: Row[], rev: number): number {
  let lo = 0;
  let hi = rows.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (rows[mid].modRevision <= rev) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export class MemoryStore implements Store {
  private rev = 0;
  private compactRev = 0;
  private closed = false;
  /** Every row above the compacted revision, in revision order. */
  private log: Row[] = [];
  /** Per key: its rows in revision order (the latest one at or below compactRev is kept). */
  private readonly history = new Map<string, Row[]>();
  /** Every key in `history`, in key order. */
  private keys: string[] = [];
  private readonly hub: WatchHub;

  constructor(opts: { logger?: Logger } = {}) {
    const log = opts.logger ?? createLogger('store/memory');
    this.hub = new WatchHub((err) => log.error('watch handler threw', { err: String(err) }));
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
    const latest = this.latest(key);
    return latest ? toKv(latest) : null;
  }

  async list(prefix: string, opts: ListOptions = {}): Promise<ListResult> {
    this.checkOpen();
    const { rev, after, remaining, limit } = resolveListRevision(prefix, opts, this.rev, this.compactRev);
    const items: KeyValue[] = [];
    let i = after === null ? lowerBound(this.keys, prefix, false) : lowerBound(this.keys, after, true);
    let more = 0;
    for (; i < this.keys.length; i++) {
      const key = this.keys[i];
      if (!key.startsWith(prefix)) break;
      const rows = this.history.get(key) as Row[];
      const j = firstAfter(rows, rev) - 1;
      if (j < 0 || rows[j].deleted) continue;
      if (limit > 0 && items.length === limit) {
        // The page is full: count what is left, unless an earlier page already did.
        if (remaining !== undefined && remaining > items.length) {
          more = remaining - items.length;
          break;
        }
        more++;
        continue;
      }
      items.push(toKv(rows[j]));
    }
    if (more > 0) {
      const last = items[items.length - 1].key;
      return { items, revision: rev, continue: encodeContinue({ rev, after: last, prefix, remaining: more }), remaining: more };
    }
    return { items, revision: rev };
  }

  async create(key: string, value: string): Promise<KeyValue> {
    this.checkOpen();
    checkKey(key);
    checkValue(key, value);
    if (this.latest(key)) throw new StoreError('AlreadyExists', `key ${key} already exists`, { key });
    const rev = this.rev + 1;
    return toKv(this.append({ key, value, createRevision: rev, modRevision: rev, deleted: false, prev: null }));
  }

  async update(key: string, value: string, expectedModRevision: number): Promise<KeyValue> {
    this.checkOpen();
    checkKey(key);
    checkValue(key, value);
    checkRevision('expectedModRevision', expectedModRevision);
    const cur = this.latest(key);
    if (!cur) throw new StoreError('NotFound', `key ${key} not found`, { key });
    if (cur.modRevision !== expectedModRevision) {
      throw new StoreError('Conflict', `key ${key} is at revision ${cur.modRevision}, not ${expectedModRevision}`, {
        key,
        current: toKv(cur),
      });
    }
    const rev = this.rev + 1;
    return toKv(this.append({ key, value, createRevision: cur.createRevision, modRevision: rev, deleted: false, prev: cur }));
  }

  async delete(key: string, expectedModRevision?: number): Promise<KeyValue & { deleteRevision: number }> {
    this.checkOpen();
    checkKey(key);
    if (expectedModRevision !== undefined) checkRevision('expectedModRevision', expectedModRevision);
    const cur = this.latest(key);
    if (!cur) throw new StoreError('NotFound', `key ${key} not found`, { key });
    if (expectedModRevision !== undefined && cur.modRevision !== expectedModRevision) {
      throw new StoreError('Conflict', `key ${key} is at revision ${cur.modRevision}, not ${expectedModRevision}`, {
        key,
        current: toKv(cur),
      });
    }
    const rev = this.rev + 1;
    this.append({ key, value: '', createRevision: cur.createRevision, modRevision: rev, deleted: true, prev: cur });
    return { ...toKv(cur), deleteRevision: rev };
  }

  watch(prefix: string, afterRevision: number, onEvents: WatchHandler, onError: WatchErrorHandler): Watcher {
    const w = this.hub.create(prefix, typeof afterRevision === 'number' ? afterRevision : 0, onEvents, onError);
    queueMicrotask(() => {
      if (w.closed) return;
      try {
        if (this.closed) throw new StoreError('Unavailable', 'store is closed');
        checkPrefix(prefix);
        checkRevision('afterRevision', afterRevision);
        if (afterRevision < this.compactRev) {
          throw new StoreError('Compacted', `revision ${afterRevision} has been compacted (compacted to ${this.compactRev})`, {
            compactRevision: this.compactRev,
          });
        }
      } catch (err) {
        this.hub.fail(w, err instanceof StoreError ? err : new StoreError('Unavailable', String(err)));
        return;
      }
      const replay: RevEvent[] = [];
      for (let i = firstAfter(this.log, afterRevision); i < this.log.length; i++) {
        const r = this.log[i];
        if (r.key.startsWith(prefix)) replay.push({ rev: r.modRevision, event: toEvent(r) });
      }
      this.hub.deliver(w, replay);
      this.hub.goLive(w, this.rev);
    });
    return { close: () => this.hub.close(w) };
  }

  async compact(revision: number): Promise<void> {
    this.checkOpen();
    checkRevision('revision', revision);
    if (revision > this.rev) {
      throw new StoreError('FutureRevision', `revision ${revision} is newer than the current revision ${this.rev}`);
    }
    if (revision <= this.compactRev) return;
    this.hub.dispatch(); // live watchers get everything published before history goes
    this.compactRev = revision;
    this.log = this.log.slice(firstAfter(this.log, revision));
    let dropped = false;
    for (const [key, rows] of this.history) {
      const j = firstAfter(rows, revision) - 1; // latest row at or below the compacted revision
      if (j < 0) continue;
      const keep = rows[j].deleted ? rows.slice(j + 1) : rows.slice(j);
      if (keep.length === 0) {
        this.history.delete(key);
        dropped = true;
      } else if (keep.length !== rows.length) {
        this.history.set(key, keep);
      }
    }
    if (dropped) this.keys = this.keys.filter((k) => this.history.has(k));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.hub.dispatch();
    this.closed = true;
    this.hub.closeAll();
  }

  private checkOpen(): void {
    if (this.closed) throw new StoreError('Unavailable', 'store is closed');
  }

  private latest(key: string): Row | null {
    const rows = this.history.get(key);
    if (!rows) return null;
    const r = rows[rows.length - 1];
    return r.deleted ? null : r;
  }

  private append(row: Row): Row {
    this.rev = row.modRevision;
    this.log.push(row);
    let rows = this.history.get(row.key);
    if (!rows) {
      rows = [];
      this.history.set(row.key, rows);
      this.keys.splice(lowerBound(this.keys, row.key, false), 0, row.key);
    }
    rows.push(row);
    this.hub.publish([{ rev: row.modRevision, event: toEvent(row) }]);
    return row;
  }
}

export async function openMemoryStore(opts: { logger?: Logger } = {}): Promise<MemoryStore> {
  return new MemoryStore(opts);
}
