// In-process watch fan-out shared by the memory and SQLite backends. A backend publishes the
import type { StoreError, WatchErrorHandler, WatchEvent, WatchHandler } from './types.ts';
// events of every committed write (in revision order); the hub hands them to live watchers
// after the current synchronous work (a microtask), so acknowledgements are never held up by
// watch handlers. A new watcher first replays history (the backend reads its log and calls
// deliver), then goLive() switches it to published events without gap or duplicate: each
// watcher remembers the last revision it received and skips anything at or below it.
export interface HubWatcher {
  readonly prefix: string;
  /** Last revision delivered (or the watch's afterRevision before anything was delivered). */
  pos: number;
  live: boolean;
  closed: boolean;
  readonly onEvents: WatchHandler;
  readonly onError: WatchErrorHandler;
}

export interface RevEvent {
  rev: number;
  event: WatchEvent;
}

export class WatchHub {
  private readonly watchers = new Set<HubWatcher>();
  private pending: RevEvent[] = [];
  private scheduled = false;

  constructor(private readonly reportHandlerError: (err: unknown) => void) {}

  get size(): number {
    return this.watchers.size;
  }

  create(prefix: string, afterRevision: number, onEvents: WatchHandler, onError: WatchErrorHandler): HubWatcher {
    const w: HubWatcher = { prefix, pos: afterRevision, live: false, closed: false, onEvents, onError };
    this.watchers.add(w);
    return w;
  }

  close(w: HubWatcher): void {
    w.closed = true;
    this.watchers.delete(w);
  }

  /** Ends a watcher with an error (delivered at most once). */
  fail(w: HubWatcher, err: StoreError): void {
    if (w.closed) return;
    this.close(w);
    try {
      w.onError(err);
    } catch (e) {
      this.reportHandlerError(e);
    }
  }

  /** Hands replayed events (ascending revisions, already filtered by prefix) to one watcher. */
  deliver(w: HubWatcher, events: RevEvent[]): void {
    if (w.closed) return;
    let i = 0;
    while (i < events.length && events[i].rev <= w.pos) i++;
    if (i === events.length) return;
    w.pos = events[events.length - 1].rev;
    this.call(w, events.slice(i).map((e) => e.event));
  }

  /** The watcher has replayed everything up to currentRevision: feed it published events. */
  goLive(w: HubWatcher, currentRevision: number): void {
    if (w.closed) return;
    if (w.pos < currentRevision) w.pos = currentRevision;
    w.live = true;
  }

  /** Events of a committed write batch, ascending revisions. */
  publish(events: RevEvent[]): void {
    if (events.length === 0 || this.watchers.size === 0) return;
    for (const e of events) this.pending.push(e);
    if (!this.scheduled) {
      this.scheduled = true;
      queueMicrotask(() => this.dispatch());
    }
  }

  /** Delivers every published event now (also called before compaction and close). */
  dispatch(): void {
    this.scheduled = false;
    const events = this.pending;
    if (events.length === 0) return;
    this.pending = [];
    const byPrefix = new Map<string, { matched: RevEvent[]; all: WatchEvent[] }>();
    for (const w of [...this.watchers]) {
      if (!w.live || w.closed) continue;
      let group = byPrefix.get(w.prefix);
      if (group === undefined) {
        const matched = w.prefix === '' ? events : events.filter((e) => e.event.kv.key.startsWith(w.prefix));
        group = { matched, all: matched.map((e) => e.event) };
        byPrefix.set(w.prefix, group);
      }
      const { matched, all } = group;
      if (matched.length === 0) continue;
      const last = matched[matched.length - 1].rev;
      if (last <= w.pos) continue;
      let i = 0;
      while (matched[i].rev <= w.pos) i++;
      w.pos = last;
      // Watchers of one prefix share the array: handlers must not modify it.
      this.call(w, i === 0 ? all : all.slice(i));
    }
  }

  /** Stops every watcher without an error (store closed). */
  closeAll(): void {
    for (const w of this.watchers) w.closed = true;
    this.watchers.clear();
    this.pending = [];
  }

  private call(w: HubWatcher, events: WatchEvent[]): void {
    try {
      w.onEvents(events);
    } catch (e) {
      this.reportHandlerError(e);
    }
  }
}
