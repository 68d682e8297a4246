// The controllers' work queue, with client-go's semantics:
// - de-duplicated: a key added many times before a worker takes it is processed once;
// - a key is never processed by two workers at once: a key added while it is being processed is
//   queued again when the worker calls done(key);
// - rate-limited retries: addRateLimited(key) waits per-key exponential backoff (5 ms doubling
//   to 1000 s), bounded overall by a token bucket (10/s, burst 100), like client-go's
//   DefaultControllerRateLimiter; forget(key) resets the key's backoff after a success;
// - addAfter(key, ms) for requeues at a time (e.g. minReadySeconds);
// - shutDown() wakes every waiting worker with `undefined`.
// Time comes from an injected Clock, so backoff is tested with a FakeClock.
import { realClock, type Clock, type TimerHandle } from './clock.ts';
import type { Logger } from '../util/log.ts';

export interface RateLimiter<K> {
  /** How long to wait before (re)processing item; counts a failure of item. */
  when(item: K): number;
  /** The item succeeded: reset its failures. */
  forget(item: K): void;
  /** Failures counted for item since it was last forgotten. */
  numRequeues(item: K): number;
}

/** Per-item exponential backoff: base·2^failures, capped at max (ms). */
export class ItemExponentialRateLimiter<K> implements RateLimiter<K> {
  private readonly failures = new Map<K, number>();
  constructor(
    readonly baseMs = 5,
    readonly maxMs = 1_000_000,
  ) {}
  when(item: K): number {
    const n = this.failures.get(item) ?? 0;
    this.failures.set(item, n + 1);
    const d = this.baseMs * Math.pow(2, n);
    return !Number.isFinite(d) || d > this.maxMs ? this.maxMs : d;
  }
  forget(item: K): void {
    this.failures.delete(item);
  }
  numRequeues(item: K): number {
    return this.failures.get(item) ?? 0;
  }
}

/** An overall token bucket: qps tokens a second, at most burst saved up. Each when() takes one. */
export class BucketRateLimiter<K> implements RateLimiter<K> {
  private tokens: number;
  private last: number;
  constructor(
    readonly qps = 10,
    readonly burst = 100,
    private readonly clock: Clock = realClock,
  ) {
    this.tokens = burst;
    this.last = clock.now();
  }
  when(_item: K): number {
    const now = this.clock.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) * this.qps) / 1000);
    this.last = now;
    this.tokens -= 1;
    return this.tokens >= 0 ? 0 : (-this.tokens * 1000) / this.qps;
  }
  forget(_item: K): void {}
  numRequeues(_item: K): number {
    return 0;
  }
}

/** The longest wait any of the limiters asks for. */
export class MaxOfRateLimiter<K> implements RateLimiter<K> {
  private readonly limiters: RateLimiter<K>[];
  constructor(...limiters: RateLimiter<K>[]) {
    this.limiters = limiters;
  }
  when(item: K): number {
    let max = 0;
    for (const l of this.limiters) max = Math.max(max, l.when(item));
    return max;
  }
  forget(item: K): void {
    for (const l of this.limiters) l.forget(item);
  }
  numRequeues(item: K): number {
    let max = 0;
    for (const l of this.limiters) max = Math.max(max, l.numRequeues(item));
    return max;
  }
}

/** client-go's default: max(per-item 5 ms → 1000 s exponential, overall 10 qps burst 100). */
export function defaultControllerRateLimiter<K>(clock: Clock = realClock): RateLimiter<K> {
  return new MaxOfRateLimiter<K>(new ItemExponentialRateLimiter<K>(5, 1_000_000), new BucketRateLimiter<K>(10, 100, clock));
}

export interface WorkQueueOptions<K> {
  /** For logs. */
  name?: string;
  clock?: Clock;
  rateLimiter?: RateLimiter<K>;
  logger?: Logger;
}

export interface RunWorkersOptions<K> {
  /** Called when reconcile throws (before the key is requeued with rate limit). */
  onError?(key: K, err: unknown, requeues: number): void;
  /** Give up on a key after this many consecutive failures (forget it). Default: never. */
  maxRetries?: number;
}

export class WorkQueue<K = string> {
  readonly name: string;
  private readonly clock: Clock;
  private readonly limiter: RateLimiter<K>;
  private readonly log?: Logger;
  private items: K[] = [];
  private head = 0;
  /** Keys that need processing (queued, or re-added while being processed). */
  private readonly dirty = new Set<K>();
  private readonly processing = new Set<K>();
  private readonly waiting = new Map<K, { at: number; timer: TimerHandle }>();
  private waiters: ((k: K | undefined) => void)[] = [];
  private shuttingDown = false;
  private drainWaiters: (() => void)[] = [];

  constructor(opts: WorkQueueOptions<K> = {}) {
    this.name = opts.name ?? 'queue';
    this.clock = opts.clock ?? realClock;
    this.limiter = opts.rateLimiter ?? defaultControllerRateLimiter<K>(this.clock);
    this.log = opts.logger;
  }

  /** Queue key unless it is already queued. A key being processed is queued again at done(). */
  add(key: K): void {
    if (this.shuttingDown || this.dirty.has(key)) return;
    this.dirty.add(key);
    if (this.processing.has(key)) return;
    this.push(key);
  }

  /** add(key) after ms. If key is already waiting to be added sooner, the sooner time stands. */
  addAfter(key: K, ms: number): void {
    if (this.shuttingDown) return;
    if (!(ms > 0)) {
      this.add(key);
      return;
    }
    const at = this.clock.now() + ms;
    const cur = this.waiting.get(key);
    if (cur) {
      if (cur.at <= at) return;
      this.clock.clearTimeout(cur.timer);
    }
    const timer = this.clock.setTimeout(() => {
      this.waiting.delete(key);
      this.add(key);
    }, ms);
    this.waiting.set(key, { at, timer });
  }

  /** add(key) after the rate limiter's backoff for it (counts a failure of key). */
  addRateLimited(key: K): void {
    if (this.shuttingDown) return;
    this.addAfter(key, this.limiter.when(key));
  }

  /** Reset key's backoff (call after it was processed successfully). */
  forget(key: K): void {
    this.limiter.forget(key);
  }

  numRequeues(key: K): number {
    return this.limiter.numRequeues(key);
  }

  /** Keys queued and not yet taken by a worker. */
  len(): number {
    return this.items.length - this.head;
  }

  /** Keys waiting for addAfter / addRateLimited. */
  delayed(): number {
    return this.waiting.size;
  }

  isProcessing(key: K): boolean {
    return this.processing.has(key);
  }

  isShuttingDown(): boolean {
    return this.shuttingDown;
  }

  /** The next key, marked as being processed (call done(key) when finished); undefined after shutDown. */
  get(): Promise<K | undefined> {
    const k = this.tryGet();
    if (k !== undefined || this.shuttingDown) return Promise.resolve(k);
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** The next key if one is queued now (marked as being processed), else undefined. */
  tryGet(): K | undefined {
    if (this.head >= this.items.length) return undefined;
    const k = this.items[this.head++];
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    this.dirty.delete(k);
    this.processing.add(k);
    return k;
  }

  /** The worker finished key; if it was added meanwhile, it is queued again. */
  done(key: K): void {
    if (!this.processing.delete(key)) return;
    if (this.dirty.has(key)) this.push(key);
    if (this.processing.size === 0 && this.drainWaiters.length > 0) {
      const ws = this.drainWaiters;
      this.drainWaiters = [];
      for (const w of ws) w();
    }
  }

  /** Stop: no more adds, delayed adds are dropped, waiting get()s resolve undefined. */
  shutDown(): void {
    if (this.shuttingDown) return;
    this.shuttingDown = true;
    for (const w of this.waiting.values()) this.clock.clearTimeout(w.timer);
    this.waiting.clear();
    this.items = [];
    this.head = 0;
    this.dirty.clear();
    const ws = this.waiters;
    this.waiters = [];
    for (const w of ws) w(undefined);
  }

  /** shutDown(), then wait for the keys being processed to be done. */
  async shutDownWithDrain(): Promise<void> {
    this.shutDown();
    if (this.processing.size === 0) return;
    await new Promise<void>((r) => this.drainWaiters.push(r));
  }

  /**
   * Run n workers until shutDown: each takes a key, awaits reconcile(key), then forgets the key
   * on success or requeues it with rate limit on a throw. Resolves when every worker has exited.
   */
  async runWorkers(n: number, reconcile: (key: K) => Promise<void>, opts: RunWorkersOptions<K> = {}): Promise<void> {
    const worker = async (): Promise<void> => {
      for (;;) {
        const key = await this.get();
        if (key === undefined) return;
        try {
          await reconcile(key);
          this.forget(key);
        } catch (err) {
          const requeues = this.numRequeues(key);
          try {
            opts.onError?.(key, err, requeues);
          } catch {
            // an error reporter must not stop the worker
          }
          if (opts.maxRetries !== undefined && requeues >= opts.maxRetries) {
            this.log?.warn('dropping key after repeated failures', { queue: this.name, key: String(key), retries: requeues, error: String(err) });
            this.forget(key);
          } else {
            if (!opts.onError) this.log?.warn('reconcile failed; retrying', { queue: this.name, key: String(key), retries: requeues, error: String(err) });
            this.addRateLimited(key);
          }
        } finally {
          this.done(key);
        }
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, n) }, () => worker()));
  }

  private push(key: K): void {
    const w = this.waiters.shift();
    if (w) {
      this.dirty.delete(key);
      this.processing.add(key);
      w(key);
      return;
    }
    this.items.push(key);
  }
}
