// The scheduling queue, shaped like kube-scheduler's PriorityQueue:
// - activeQ: pods ready to be tried, highest spec.priority first, then the oldest;
// - backoffQ: pods that failed and wait out their back-off (1 s doubling per attempt to 10 s);
// - unschedulable: pods no node fits. A cluster change that may help (a node added or changed,
//   a bound pod gone, a claim or volume changed — matched against the plugins that rejected the
//   pod) moves them back to activeQ (or backoffQ if their back-off is not over); pods that stay
//   there longer than maxUnschedulableMs are retried anyway.
// Time comes from an injected Clock.
import { realClock, type Clock, type TimerHandle } from '../client/clock.ts';

export interface QueueOptions {
  clock?: Clock;
  /** First back-off after a failed attempt (default 1000 ms), doubling per attempt… */
  initialBackoffMs?: number;
  /** …up to this (default 10 000 ms). */
  maxBackoffMs?: number;
  /** Retry an unschedulable pod after this long even without a cluster change (default 60 000 ms). */
  maxUnschedulableMs?: number;
  /** Called when a pod becomes ready to pop. */
  onActive?: () => void;
}

interface Entry {
  key: string;
  priority: number;
  /** When the pod entered the queue (orders pods of equal priority). */
  timestamp: number;
  /** Scheduling attempts so far. */
  attempts: number;
  /** Back-off ends (ms since epoch). */
  backoffUntil: number;
  /** When the pod was put in unschedulable. */
  unschedulableSince: number;
  /** Plugins that rejected the pod in its last attempt. */
  plugins: Set<string>;
  /** Heap entries with an older generation are stale. */
  gen: number;
}

type Where = 'active' | 'backoff' | 'unschedulable' | 'inflight';

class Heap<T> {
  private readonly a: T[] = [];
  constructor(private readonly less: (x: T, y: T) => boolean) {}
  get size(): number {
    return this.a.length;
  }
  peek(): T | undefined {
    return this.a[0];
  }
  push(v: T): void {
    const a = this.a;
    a.push(v);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.less(a[i], a[p])) break;
      [a[i], a[p]] = [a[p], a[i]];
      i = p;
    }
  }
  pop(): T | undefined {
    const a = this.a;
    if (a.length === 0) return undefined;
    const top = a[0];
    const last = a.pop()!;
    if (a.length > 0) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && this.less(a[l], a[m])) m = l;
        if (r < a.length && this.less(a[r], a[m])) m = r;
        if (m === i) break;
        [a[i], a[m]] = [a[m], a[i]];
        i = m;
      }
    }
    return top;
  }
  clear(): void {
    this.a.length = 0;
  }
}

interface HeapItem {
  e: Entry;
  gen: number;
}

export interface QueueStats {
  active: number;
  backoff: number;
  unschedulable: number;
  inflight: number;
}

export class SchedulingQueue {
  private readonly clock: Clock;
  private readonly initialBackoffMs: number;
  private readonly maxBackoffMs: number;
  private readonly maxUnschedulableMs: number;
  private readonly onActive?: () => void;
  private readonly entries = new Map<string, { e: Entry; where: Where }>();
  private readonly active = new Heap<HeapItem>((x, y) => x.e.priority > y.e.priority || (x.e.priority === y.e.priority && x.e.timestamp < y.e.timestamp));
  private readonly backoff = new Heap<HeapItem>((x, y) => x.e.backoffUntil < y.e.backoffUntil);
  private activeCount = 0;
  private backoffCount = 0;
  /** Keys of the unschedulable pods (so a cluster change looks at them only). */
  private readonly parked = new Set<string>();
  private backoffTimer: { at: number; h: TimerHandle } | null = null;
  private flushTimer: TimerHandle | null = null;
  private closed = false;

  constructor(opts: QueueOptions = {}) {
    this.clock = opts.clock ?? realClock;
    this.initialBackoffMs = opts.initialBackoffMs ?? 1000;
    this.maxBackoffMs = opts.maxBackoffMs ?? 10_000;
    this.maxUnschedulableMs = opts.maxUnschedulableMs ?? 60_000;
    this.onActive = opts.onActive;
    this.scheduleFlush();
  }

  /** A pending pod appeared: queue it unless it is queued already. */
  add(key: string, priority: number): void {
    if (this.closed || this.entries.has(key)) return;
    const e: Entry = { key, priority, timestamp: this.clock.now(), attempts: 0, backoffUntil: 0, unschedulableSince: 0, plugins: new Set(), gen: 0 };
    this.entries.set(key, { e, where: 'active' });
    this.pushActive(e);
  }

  /** The pod's spec changed in a way that may help it: retry it (after its back-off). */
  update(key: string, priority: number): void {
    const cur = this.entries.get(key);
    if (!cur) {
      this.add(key, priority);
      return;
    }
    cur.e.priority = priority;
    if (cur.where === 'unschedulable') this.requeue(cur.e, cur.where);
    else if (cur.where === 'active') this.pushActive(cur.e, true);
  }

  /** The pod is gone, bound, or no longer ours. */
  delete(key: string): void {
    const cur = this.entries.get(key);
    if (!cur) return;
    this.leave(cur.where, cur.e.key);
    cur.e.gen++;
    this.entries.delete(key);
  }

  has(key: string): boolean {
    return this.entries.has(key);
  }

  /** The next pod to try (marked in flight), or undefined. */
  pop(): string | undefined {
    for (;;) {
      const it = this.active.pop();
      if (!it) return undefined;
      const cur = this.entries.get(it.e.key);
      if (!cur || cur.e !== it.e || cur.where !== 'active' || it.gen !== it.e.gen) continue;
      this.activeCount--;
      cur.where = 'inflight';
      cur.e.attempts++;
      return cur.e.key;
    }
  }

  /** The attempt placed the pod (binding is under way): forget it. */
  done(key: string): void {
    this.delete(key);
  }

  /** No node fits: park the pod until a change that may help (rejected by these plugins). */
  unschedulable(key: string, plugins: Iterable<string>): void {
    const cur = this.entries.get(key);
    if (!cur) return;
    this.leave(cur.where, cur.e.key);
    const e = cur.e;
    e.gen++;
    e.plugins = new Set(plugins);
    const now = this.clock.now();
    e.backoffUntil = now + this.backoffFor(e.attempts);
    e.unschedulableSince = now;
    cur.where = 'unschedulable';
    this.parked.add(key);
  }

  /** An error (not a verdict): retry after the pod's back-off. */
  retryLater(key: string, priority?: number): void {
    let cur = this.entries.get(key);
    if (!cur) {
      if (this.closed) return;
      const e: Entry = { key, priority: priority ?? 0, timestamp: this.clock.now(), attempts: 1, backoffUntil: 0, unschedulableSince: 0, plugins: new Set(), gen: 0 };
      cur = { e, where: 'inflight' };
      this.entries.set(key, cur);
    }
    this.leave(cur.where, cur.e.key);
    cur.e.gen++;
    cur.e.backoffUntil = this.clock.now() + this.backoffFor(Math.max(1, cur.e.attempts));
    this.toBackoff(cur.e);
  }

  /**
   * A cluster change: move the unschedulable pods it may help (those rejected by one of
   * `plugins`; undefined = all) to activeQ, or to backoffQ while their back-off lasts.
   */
  moveUnschedulable(plugins?: ReadonlySet<string>): number {
    if (this.parked.size === 0) return 0;
    let moved = 0;
    for (const key of [...this.parked]) {
      const cur = this.entries.get(key);
      if (!cur || cur.where !== 'unschedulable') continue;
      if (plugins && !intersects(cur.e.plugins, plugins)) continue;
      this.requeue(cur.e, cur.where);
      moved++;
    }
    return moved;
  }

  stats(): QueueStats {
    return { active: this.activeCount, backoff: this.backoffCount, unschedulable: this.parked.size, inflight: this.entries.size - this.activeCount - this.backoffCount - this.parked.size };
  }

  /** Keys by where they wait (tests and debugging). */
  where(key: string): Where | undefined {
    return this.entries.get(key)?.where;
  }

  close(): void {
    this.closed = true;
    if (this.backoffTimer) this.clock.clearTimeout(this.backoffTimer.h);
    if (this.flushTimer) this.clock.clearTimeout(this.flushTimer);
    this.backoffTimer = null;
    this.flushTimer = null;
    this.entries.clear();
    this.active.clear();
    this.backoff.clear();
    this.parked.clear();
    this.activeCount = this.backoffCount = 0;
  }

  // -- internals

  private backoffFor(attempts: number): number {
    let d = this.initialBackoffMs;
    for (let i = 1; i < attempts && d < this.maxBackoffMs; i++) d *= 2;
    return Math.min(d, this.maxBackoffMs);
  }

  private leave(where: Where, key: string): void {
    if (where === 'active') this.activeCount--;
    else if (where === 'backoff') this.backoffCount--;
    else if (where === 'unschedulable') this.parked.delete(key);
  }

  private requeue(e: Entry, from: Where): void {
    this.leave(from, e.key);
    e.gen++;
    if (e.backoffUntil > this.clock.now()) this.toBackoff(e);
    else {
      this.entries.get(e.key)!.where = 'active';
      this.pushActive(e);
    }
  }

  private pushActive(e: Entry, already = false): void {
    if (!already) this.activeCount++;
    else e.gen++;
    this.active.push({ e, gen: e.gen });
    this.onActive?.();
  }

  private toBackoff(e: Entry): void {
    this.entries.get(e.key)!.where = 'backoff';
    this.backoffCount++;
    this.backoff.push({ e, gen: e.gen });
    this.armBackoffTimer();
  }

  private armBackoffTimer(): void {
    if (this.closed) return;
    let top = this.backoff.peek();
    while (top && (top.gen !== top.e.gen || this.entries.get(top.e.key)?.where !== 'backoff')) {
      this.backoff.pop();
      top = this.backoff.peek();
    }
    if (!top) {
      if (this.backoffTimer) this.clock.clearTimeout(this.backoffTimer.h);
      this.backoffTimer = null;
      return;
    }
    const at = top.e.backoffUntil;
    if (this.backoffTimer && this.backoffTimer.at <= at) return;
    if (this.backoffTimer) this.clock.clearTimeout(this.backoffTimer.h);
    const h = this.clock.setTimeout(() => {
      this.backoffTimer = null;
      this.flushBackoff();
    }, Math.max(0, at - this.clock.now()));
    this.backoffTimer = { at, h };
  }

  private flushBackoff(): void {
    const now = this.clock.now();
    for (;;) {
      const top = this.backoff.peek();
      if (!top) break;
      const cur = this.entries.get(top.e.key);
      if (top.gen !== top.e.gen || !cur || cur.e !== top.e || cur.where !== 'backoff') {
        this.backoff.pop();
        continue;
      }
      if (top.e.backoffUntil > now) break;
      this.backoff.pop();
      this.backoffCount--;
      cur.where = 'active';
      this.pushActive(top.e);
    }
    this.armBackoffTimer();
  }

  private scheduleFlush(): void {
    if (this.closed) return;
    const period = Math.max(10, Math.min(30_000, Math.floor(this.maxUnschedulableMs / 2)));
    this.flushTimer = this.clock.setTimeout(() => {
      this.flushTimer = null;
      this.flushUnschedulable();
      this.scheduleFlush();
    }, period);
  }

  private flushUnschedulable(): void {
    const now = this.clock.now();
    for (const key of [...this.parked]) {
      const cur = this.entries.get(key);
      if (cur && cur.where === 'unschedulable' && now - cur.e.unschedulableSince >= this.maxUnschedulableMs) this.requeue(cur.e, cur.where);
    }
  }
}

function intersects(a: ReadonlySet<string>, b: ReadonlySet<string>): boolean {
  for (const x of a) if (b.has(x)) return true;
  return false;
}
