// One store watch for all of /registry/, decoded once and fanned out to every API watch, with
// a window of recent events so a watch from a recent resourceVersion resumes without touching
// the store. Older starts fall back to a watch on the store itself (which may answer Compacted).
import type { Store, StoreError, WatchEvent, Watcher } from '../store/types.ts';
import { StoreError as StoreErrorClass } from '../store/types.ts';
import type { KubeObject } from '../registry/types.ts';
import { decodeStored } from './objectstore.ts';
import type { Logger } from '../util/log.ts';

export interface CacheEvent {
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  key: string;
  rev: number;
  /** Stored form with resourceVersion = rev (for DELETED: the last state). Never mutate. */
  readonly obj: KubeObject;
  /** The state before this event, for MODIFIED and DELETED. Never mutate. */
  readonly prev?: KubeObject;
  /** Serialized watch lines (framed as HTTP chunks), shared by every watch that renders this
   *  event the same way. */
  frames?: Map<string, Buffer>;
}

/** An event decoded on first use: most events reach no watcher of their kind. */
class LazyEvent implements CacheEvent {
  private decoded?: KubeObject;
  private prevDecoded?: KubeObject | null;
  frames?: Map<string, Buffer>;
  constructor(
    readonly type: CacheEvent['type'],
    readonly key: string,
    readonly rev: number,
    private readonly value: string,
    private readonly prevValue: string | undefined,
    private readonly prevRev: number,
  ) {}
  get obj(): KubeObject {
    return (this.decoded ??= decodeStored(this.value, this.rev));
  }
  get prev(): KubeObject | undefined {
    if (this.type === 'DELETED') return this.obj;
    if (this.prevDecoded === undefined) this.prevDecoded = this.prevValue === undefined ? null : decodeStored(this.prevValue, this.prevRev);
    return this.prevDecoded ?? undefined;
  }
}

export interface Subscription {
  close(): void;
}

interface Subscriber {
  prefix: string;
  /** Events up to this revision were delivered (or did not concern it). */
  afterRev: number;
  onEvent: (e: CacheEvent) => void;
  onError: (err: StoreError) => void;
  /** Deferred subscribers: called after each delivery pass with what it handed them. */
  onFlush?: () => void;
  closed: boolean;
}

export interface SubscribeOptions {
  /**
   * Hand live events over on setImmediate instead of at once (in the store's dispatch): the
   * acknowledgements of the writes that caused them, answered from microtasks of the same
   * turn, go out first, and each subscriber gets all of a turn's events in one pass, followed
   * by onFlush. For API watches, which write to sockets.
   */
  deferred?: boolean;
  onFlush?: () => void;
}

export function toCacheEvent(e: WatchEvent): CacheEvent {
  if (e.type === 'DELETE') {
    return new LazyEvent('DELETED', e.kv.key, e.kv.modRevision, e.prevKv?.value ?? '{"metadata":{}}', undefined, 0);
  }
  const created = e.kv.createRevision === e.kv.modRevision;
  return new LazyEvent(created ? 'ADDED' : 'MODIFIED', e.kv.key, e.kv.modRevision, e.kv.value, e.prevKv?.value, e.prevKv?.modRevision ?? 0);
}

export class WatchCache {
  private buffer: CacheEvent[] = [];
  private bufferStart = 0; // events with rev > bufferStart are all in the buffer
  private latest = 0;
  private subscribers = new Set<Subscriber>();
  private deferredSubs = new Set<Subscriber>();
  /** Events not yet handed to the deferred subscribers, and whether a pass is scheduled. */
  private pendingDeferred: CacheEvent[] = [];
  private deferredScheduled = false;
  private watcher: Watcher | null = null;
  private readonly capacity: number;

  constructor(
    private readonly store: Store,
    private readonly log: Logger,
    opts: { capacity?: number } = {},
  ) {
    this.capacity = opts.capacity ?? 20000;
  }

  /** The newest revision the cache has seen. */
  get revision(): number {
    return this.latest;
  }

  async start(): Promise<void> {
    const rev = await this.store.currentRevision();
    this.bufferStart = rev;
    this.latest = rev;
    this.watchFrom(rev);
  }

  private watchFrom(rev: number): void {
    this.watcher = this.store.watch(
      '/registry/',
      rev,
      (events) => this.onStoreEvents(events),
      (err) => this.onStoreError(err),
    );
  }

  private onStoreEvents(events: WatchEvent[]): void {
    for (const e of events) {
      let ce: CacheEvent;
      try {
        ce = toCacheEvent(e);
      } catch (err) {
        this.log.error('undecodable stored object', { key: e.kv.key, error: String(err) });
        continue;
      }
      if (ce.rev <= this.latest) continue;
      this.latest = ce.rev;
      this.buffer.push(ce);
      for (const s of this.subscribers) {
        if (!s.closed && ce.rev > s.afterRev && ce.key.startsWith(s.prefix)) s.onEvent(ce);
      }
      if (this.deferredSubs.size > 0) this.pendingDeferred.push(ce);
    }
    if (this.pendingDeferred.length > 0 && !this.deferredScheduled) {
      this.deferredScheduled = true;
      setImmediate(() => this.deliverDeferred());
    }
    // Trimmed back to capacity once it is an eighth over: a copy of the window per few thousand
    // events rather than per batch.
    if (this.buffer.length > this.capacity + (this.capacity >> 3)) {
      const drop = this.buffer.length - this.capacity;
      this.bufferStart = this.buffer[drop - 1].rev;
      this.buffer = this.buffer.slice(drop);
    }
  }

  /** One pass over the deferred subscribers: each gets its events in order, then onFlush. */
  private deliverDeferred(): void {
    this.deferredScheduled = false;
    const events = this.pendingDeferred;
    this.pendingDeferred = [];
    for (const s of this.deferredSubs) {
      let delivered = false;
      for (const ce of events) {
        if (s.closed) break;
        if (ce.rev <= s.afterRev || !ce.key.startsWith(s.prefix)) continue;
        s.afterRev = ce.rev;
        delivered = true;
        s.onEvent(ce);
      }
      if (delivered && !s.closed) s.onFlush?.();
    }
  }

  private onStoreError(err: StoreError): void {
    // The cache's own watch broke (compaction outran it, or the store went away): restart from
    // the current revision; API watches older than that will be told to relist (410).
    this.log.warn('watch cache restarting', { error: err.message, code: err.code });
    this.watcher?.close();
    void this.store
      .currentRevision()
      .then((rev) => {
        this.buffer = [];
        this.bufferStart = rev;
        // Every live subscriber may have missed events: tell each to relist.
        const subs = [...this.subscribers, ...this.deferredSubs];
        this.subscribers.clear();
        this.deferredSubs.clear();
        this.pendingDeferred = [];
        for (const s of subs) if (!s.closed) s.onError(compactedError(rev));
        this.latest = Math.max(this.latest, rev);
        this.watchFrom(rev);
      })
      .catch((e2) => {
        this.log.error('watch cache cannot restart', { error: String(e2) });
        setTimeout(() => this.onStoreError(err), 1000).unref();
      });
  }

  /**
   * Deliver every event under prefix with rev > afterRev, then live ones. onError gets Compacted
   * when afterRev is older than anything still available.
   */
  subscribe(prefix: string, afterRev: number, onEvent: (e: CacheEvent) => void, onError: (err: StoreError) => void, opts: SubscribeOptions = {}): Subscription {
    if (afterRev >= this.bufferStart) {
      const sub: Subscriber = { prefix, afterRev, onEvent, onError, closed: false };
      if (opts.onFlush) sub.onFlush = opts.onFlush;
      // Replay buffered events after afterRev (synchronously, so no live event slips in between).
      let lo = 0;
      let hi = this.buffer.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (this.buffer[mid].rev <= afterRev) lo = mid + 1;
        else hi = mid;
      }
      let replayed = false;
      for (let i = lo; i < this.buffer.length; i++) {
        const ce = this.buffer[i];
        if (ce.key.startsWith(prefix)) {
          replayed = true;
          onEvent(ce);
        }
      }
      const set = opts.deferred ? this.deferredSubs : this.subscribers;
      if (opts.deferred) {
        // Everything buffered was considered, including events still waiting for a deferred pass.
        sub.afterRev = Math.max(afterRev, this.latest);
        if (replayed) sub.onFlush?.();
      }
      set.add(sub);
      return {
        close: () => {
          sub.closed = true;
          set.delete(sub);
        },
      };
    }
    // Older than the window: a dedicated store watch.
    let closed = false;
    const w = this.store.watch(
      prefix,
      afterRev,
      (events) => {
        if (closed) return;
        for (const e of events) onEvent(toCacheEvent(e));
        opts.onFlush?.();
      },
      (err) => {
        if (!closed) onError(err);
      },
    );
    return {
      close: () => {
        closed = true;
        w.close();
      },
    };
  }

  stop(): void {
    this.watcher?.close();
    this.watcher = null;
    this.subscribers.clear();
    this.deferredSubs.clear();
    this.pendingDeferred = [];
  }
}

export function compactedError(rev: number): StoreError {
  return new StoreErrorClass('Compacted', `revision ${rev} has been compacted`, { compactRevision: rev });
}
