// core/v1 Events for the scheduler (source component `default-scheduler`), written in the
// background so scheduling never waits on them, the way client-go's event broadcaster does:
// - repeats of the same event (same object, type, reason, message) are folded into one Event
//   whose count and lastTimestamp grow (the event correlator; 4096 remembered);
// - each object may emit a burst of 25 events, then one per 5 minutes (the spam filter), so a
//   pod that keeps failing cannot flood the API;
// - at most `concurrency` writes are in flight; past `maxPending` queued writes new events are
//   dropped (and counted), as the broadcaster drops when its channel is full.
// This belongs in src/client once a shared recorder exists there.
import { isNotFound, type KubeClient, type ResourceRef } from '../client/rest.ts';
import type { KubeObject } from '../registry/types.ts';
import type { Logger } from '../util/log.ts';

export const EVENTS: ResourceRef = { group: '', version: 'v1', plural: 'events', namespaced: true, kind: 'Event' };

export type EventType = 'Normal' | 'Warning';

export interface EventRecorderOptions {
  client: KubeClient;
  /** source.component and reportingComponent (default `default-scheduler`). */
  component?: string;
  /** reportingInstance (e.g. the host name). */
  instance: string;
  logger?: Logger;
  now?: () => number;
  /** Writes in flight at once (default 16). */
  concurrency?: number;
  /** Queued writes beyond which new events are dropped (default 1000). */
  maxPending?: number;
  /** Spam filter: events an object may emit at once (default 25)… */
  burst?: number;
  /** …then one per this many ms (default 300 000). */
  refillMs?: number;
}

interface Folded {
  name: string;
  namespace: string;
  count: number;
  /** Settles when the last write queued for this event has finished (writes are ordered). */
  chain: Promise<void>;
}

interface Bucket {
  tokens: number;
  last: number;
}

/** RFC 3339 with whole seconds, as metav1.Time serializes. */
export function rfc3339(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export class EventRecorder {
  private readonly client: KubeClient;
  private readonly component: string;
  private readonly instance: string;
  private readonly log?: Logger;
  private readonly now: () => number;
  private readonly concurrency: number;
  private readonly maxPending: number;
  private readonly burst: number;
  private readonly refillMs: number;
  private readonly folded = new Map<string, Folded>();
  private readonly buckets = new Map<string, Bucket>();
  private readonly queue: (() => Promise<void>)[] = [];
  private inflight = 0;
  private seq = 0;
  private closed = false;
  private idleWaiters: (() => void)[] = [];
  /** Events dropped because the queue was full or the spam filter said no. */
  dropped = 0;
  /** Events written (created or folded). */
  written = 0;

  constructor(opts: EventRecorderOptions) {
    this.client = opts.client;
    this.component = opts.component ?? 'default-scheduler';
    this.instance = opts.instance;
    this.log = opts.logger;
    this.now = opts.now ?? Date.now;
    this.concurrency = opts.concurrency ?? 16;
    this.maxPending = opts.maxPending ?? 1000;
    this.burst = opts.burst ?? 25;
    this.refillMs = opts.refillMs ?? 300_000;
  }

  /** Record an event about obj (a namespaced object). Never throws, never waits. */
  event(obj: KubeObject, type: EventType, reason: string, action: string, message: string): void {
    if (this.closed) return;
    const uid = obj.metadata.uid ?? '';
    const namespace = obj.metadata.namespace || 'default';
    const name = obj.metadata.name ?? '';
    const now = this.now();
    if (!this.allow(`${obj.kind ?? 'Pod'}/${namespace}/${name}/${uid}`, now)) {
      this.dropped++;
      return;
    }
    if (this.queue.length >= this.maxPending) {
      this.dropped++;
      if (this.dropped % 100 === 1) this.log?.warn('event queue full; dropping events', { dropped: this.dropped, reason, object: `${namespace}/${name}` });
      return;
    }
    const key = [obj.kind ?? 'Pod', namespace, name, uid, type, reason, message].join('\u0000');
    const ts = rfc3339(now);
    const involvedObject = { kind: obj.kind ?? 'Pod', namespace, name, uid, apiVersion: obj.apiVersion ?? 'v1' };
    const prev = this.folded.get(key);
    if (prev) {
      this.folded.delete(key);
      this.folded.set(key, prev);
      prev.count++;
      const count = prev.count;
      const before = prev.chain;
      prev.chain = this.enqueue(async () => {
        await before;
        try {
          await this.client.patch(EVENTS, prev.namespace, prev.name, { count, lastTimestamp: ts }, 'merge');
        } catch (e) {
          if (!isNotFound(e)) throw e;
          // The folded event is gone (expired): start a new one.
          prev.name = this.eventName(name, now);
          prev.count = 1;
          await this.create(prev.name, namespace, involvedObject, type, reason, action, message, ts, 1);
        }
      });
      return;
    }
    const f: Folded = { name: this.eventName(name, now), namespace, count: 1, chain: Promise.resolve() };
    this.folded.set(key, f);
    if (this.folded.size > 4096) {
      const oldest = this.folded.keys().next().value;
      if (oldest !== undefined) this.folded.delete(oldest);
    }
    f.chain = this.enqueue(() => this.create(f.name, namespace, involvedObject, type, reason, action, message, ts, 1));
  }

  /** Resolves when every queued write has finished. */
  async flush(): Promise<void> {
    if (this.inflight === 0 && this.queue.length === 0) return;
    await new Promise<void>((r) => this.idleWaiters.push(r));
  }

  /** Stop accepting events; waits for the writes already queued. */
  async close(): Promise<void> {
    this.closed = true;
    await this.flush();
  }

  get pending(): number {
    return this.queue.length + this.inflight;
  }

  private eventName(objName: string, now: number): string {
    // client-go: `<name>.<UnixNano in hex>`; a counter keeps names unique within a millisecond.
    const nanos = BigInt(now) * 1_000_000n + BigInt(this.seq++ % 1_000_000);
    return `${objName}.${nanos.toString(16)}`;
  }

  private async create(
    name: string,
    namespace: string,
    involvedObject: Record<string, string>,
    type: EventType,
    reason: string,
    action: string,
    message: string,
    ts: string,
    count: number,
  ): Promise<void> {
    const ev: KubeObject = {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name, namespace },
      involvedObject,
      reason,
      message,
      type,
      action,
      source: { component: this.component },
      firstTimestamp: ts,
      lastTimestamp: ts,
      count,
      reportingComponent: this.component,
      reportingInstance: this.instance,
    };
    await this.client.create(EVENTS, ev);
  }

  private allow(key: string, now: number): boolean {
    let b = this.buckets.get(key);
    if (!b) {
      b = { tokens: this.burst, last: now };
      this.buckets.set(key, b);
      if (this.buckets.size > 4096) {
        const oldest = this.buckets.keys().next().value;
        if (oldest !== undefined) this.buckets.delete(oldest);
      }
    } else if (this.refillMs > 0) {
      b.tokens = Math.min(this.burst, b.tokens + (now - b.last) / this.refillMs);
      b.last = now;
    }
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }

  /** Queue a write; the promise settles (never rejects) when it has run. */
  private enqueue(job: () => Promise<void>): Promise<void> {
    return new Promise<void>((resolve) => {
      this.queue.push(async () => {
        try {
          await job();
        } finally {
          resolve();
        }
      });
      this.pump();
    });
  }

  private pump(): void {
    while (this.inflight < this.concurrency && this.queue.length > 0) {
      const job = this.queue.shift()!;
      this.inflight++;
      job()
        .then(() => {
          this.written++;
        })
        .catch((e: unknown) => {
          this.log?.warn('could not write event', { error: e instanceof Error ? e.message : String(e) });
        })
        .finally(() => {
          this.inflight--;
          this.pump();
          if (this.inflight === 0 && this.queue.length === 0) {
            const ws = this.idleWaiters;
            this.idleWaiters = [];
            for (const w of ws) w();
          }
        });
    }
  }
}
