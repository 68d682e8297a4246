// Kubernetes core/v1 Events for controllers, recorded the way client-go's event recorder
// records them:
// - an Event is about one object (involvedObject: kind, namespace, name, uid, apiVersion,
//   resourceVersion), lives in that object's namespace, and is named `<object>.<hex nanotime>`;
// - source.component / reportingComponent name the controller (e.g. `statefulset-controller`),
//   source.host / reportingInstance the process when one is given;
// - a repeat of the same event (same object, type, reason and message from the same source) is
//   not a new Event: the existing one gets count + 1 and a new lastTimestamp (client-go's
//   EventCorrelator/EventAggregator does this with a PATCH of count and lastTimestamp);
// - recording never blocks and never fails the caller: writes happen in the background, a full
//   queue drops the event (counted, logged once in a while), API errors are logged and dropped.
//
// Unlike client-go, no per-object spam filter drops events after a burst (client-go allows 25 per
// object, then one every 5 minutes): a 500-replica set shows every SuccessfulCreate. The bounded
// queue is what keeps a misbehaving controller from flooding the API server.
import { isNotFound, type KubeClient, type ResourceRef } from '../client/rest.ts';
import { realClock, type Clock } from '../client/clock.ts';
import type { KubeObject } from '../registry/types.ts';
import type { Logger } from '../util/log.ts';

export const EVENTS_RESOURCE: ResourceRef = { group: '', version: 'v1', plural: 'events', namespaced: true, kind: 'Event' };

export type EventType = 'Normal' | 'Warning';

/** What controllers record events through (tests may pass a MemoryRecorder). */
export interface Recorder {
  /** Record an event about obj. Never throws, never waits. */
  event(obj: KubeObject, type: EventType, reason: string, message: string): void;
}

export interface RecordedEvent {
  object: { kind: string; namespace?: string; name: string; uid?: string };
  type: EventType;
  reason: string;
  message: string;
}

/** Keeps events in memory, for tests of controllers without an API server. */
export class MemoryRecorder implements Recorder {
  readonly events: RecordedEvent[] = [];
  event(obj: KubeObject, type: EventType, reason: string, message: string): void {
    this.events.push({
      object: { kind: obj.kind ?? '', namespace: obj.metadata.namespace, name: obj.metadata.name ?? '', uid: obj.metadata.uid },
      type,
      reason,
      message,
    });
  }
}

export interface EventRecorderOptions {
  client: KubeClient;
  /** source.component and reportingComponent, e.g. `statefulset-controller`. */
  component: string;
  /** source.host and reportingInstance (the process's identity); empty when absent. */
  host?: string;
  logger?: Logger;
  clock?: Clock;
  /** Events waiting to be written beyond which new ones are dropped (default 1000, as
   *  client-go's broadcaster queue). */
  maxPending?: number;
  /** Distinct events remembered for aggregating repeats (default 4096, as client-go). */
  cacheSize?: number;
  /** Concurrent writes (default 4). Events with the same aggregation key are written in order. */
  concurrency?: number;
}

interface InvolvedObject {
  kind: string;
  namespace?: string;
  name: string;
  uid?: string;
  apiVersion?: string;
  resourceVersion?: string;
}

interface Pending {
  key: string;
  involved: InvolvedObject;
  namespace: string;
  type: EventType;
  reason: string;
  message: string;
  /** ms since the epoch, when event() was called */
  at: number;
}

interface Seen {
  name: string;
  namespace: string;
  count: number;
  firstTimestamp: string;
}

/** RFC 3339 with seconds, as Kubernetes serializes metav1.Time. */
function rfc3339(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function errText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/**
 * The event recorder of one controller. Call stop() when the controller stops: it waits
 * (briefly) for queued events to be written.
 */
export class EventRecorder implements Recorder {
  private readonly client: KubeClient;
  private readonly component: string;
  private readonly host: string;
  private readonly log?: Logger;
  private readonly clock: Clock;
  private readonly maxPending: number;
  private readonly cacheSize: number;
  private readonly lanes: Pending[][];
  private readonly running: boolean[];
  private readonly seen = new Map<string, Seen>();
  private pendingCount = 0;
  private seq = 0;
  private droppedCount = 0;
  private lastDropLog = 0;
  private stopped = false;
  private idleWaiters: (() => void)[] = [];

  constructor(opts: EventRecorderOptions) {
    this.client = opts.client;
    this.component = opts.component;
    this.host = opts.host ?? '';
    this.log = opts.logger;
    this.clock = opts.clock ?? realClock;
    this.maxPending = opts.maxPending ?? 1000;
    this.cacheSize = opts.cacheSize ?? 4096;
    const n = Math.max(1, opts.concurrency ?? 4);
    this.lanes = Array.from({ length: n }, () => []);
    this.running = Array.from({ length: n }, () => false);
  }

  /** Events dropped because the queue was full. */
  get dropped(): number {
    return this.droppedCount;
  }

  /** Events queued and not yet written. */
  get pending(): number {
    return this.pendingCount;
  }

  event(obj: KubeObject, type: EventType, reason: string, message: string): void {
    if (this.stopped) return;
    if (this.pendingCount >= this.maxPending) {
      this.droppedCount++;
      const now = this.clock.now();
      if (now - this.lastDropLog > 10_000) {
        this.lastDropLog = now;
        this.log?.warn('event queue full; dropping events', { component: this.component, dropped: this.droppedCount, reason, object: obj.metadata.name });
      }
      return;
    }
    const involved: InvolvedObject = { kind: obj.kind ?? '', name: obj.metadata.name ?? '' };
    if (obj.metadata.namespace) involved.namespace = obj.metadata.namespace;
    if (obj.metadata.uid) involved.uid = obj.metadata.uid;
    if (obj.apiVersion) involved.apiVersion = obj.apiVersion;
    if (obj.metadata.resourceVersion) involved.resourceVersion = obj.metadata.resourceVersion;
    const namespace = obj.metadata.namespace || 'default';
    // client-go's getEventKey: source, object (without resourceVersion), type, reason, message.
    const key = [this.component, this.host, involved.kind, namespace, involved.name, involved.uid ?? '', involved.apiVersion ?? '', type, reason, message].join('\u0000');
    const item: Pending = { key, involved, namespace, type, reason, message, at: this.clock.now() };
    const lane = this.laneOf(key);
    this.lanes[lane].push(item);
    this.pendingCount++;
    if (!this.running[lane]) void this.drain(lane);
  }

  /** Resolves once every event queued so far has been written (or given up on). */
  flush(): Promise<void> {
    if (this.pendingCount === 0 && !this.running.some((r) => r)) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Stop accepting events; wait up to timeoutMs (default 2 s) for queued ones to be written. */
  async stop(timeoutMs = 2000): Promise<void> {
    this.stopped = true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      this.flush(),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, timeoutMs);
        timer.unref();
      }),
    ]);
    if (timer) clearTimeout(timer);
  }

  private laneOf(key: string): number {
    let h = 0;
    for (let i = 0; i < key.length; i++) h = (Math.imul(h, 31) + key.charCodeAt(i)) | 0;
    return Math.abs(h) % this.lanes.length;
  }

  private async drain(lane: number): Promise<void> {
    this.running[lane] = true;
    const queue = this.lanes[lane];
    while (queue.length > 0) {
      const item = queue.shift() as Pending;
      try {
        await this.write(item);
      } catch (e) {
        this.log?.warn('could not write event', { component: this.component, reason: item.reason, object: `${item.involved.kind} ${item.namespace}/${item.involved.name}`, error: errText(e) });
      }
      this.pendingCount--;
    }
    this.running[lane] = false;
    if (this.pendingCount === 0 && !this.running.some((r) => r)) {
      const ws = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of ws) w();
    }
  }

  private remember(key: string, s: Seen): void {
    this.seen.delete(key);
    this.seen.set(key, s);
    while (this.seen.size > this.cacheSize) {
      const oldest = this.seen.keys().next().value as string;
      this.seen.delete(oldest);
    }
  }

  private async write(item: Pending): Promise<void> {
    const now = rfc3339(item.at);
    const prev = this.seen.get(item.key);
    if (prev) {
      const count = prev.count + 1;
      try {
        await this.client.patch(EVENTS_RESOURCE, prev.namespace, prev.name, { count, lastTimestamp: now, message: item.message }, 'merge');
        this.remember(item.key, { ...prev, count });
        return;
      } catch (e) {
        // The event expired (or was deleted): record it afresh.
        if (!isNotFound(e)) throw e;
        this.seen.delete(item.key);
      }
    }
    const name = this.eventName(item.involved.name, item.at);
    const ev: KubeObject = {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name, namespace: item.namespace },
      involvedObject: item.involved,
      reason: item.reason,
      message: item.message,
      source: this.host ? { component: this.component, host: this.host } : { component: this.component },
      firstTimestamp: now,
      lastTimestamp: now,
      count: 1,
      type: item.type,
      reportingComponent: this.component,
      reportingInstance: this.host,
    };
    const created = await this.client.create(EVENTS_RESOURCE, ev);
    this.remember(item.key, { name: created.metadata.name ?? name, namespace: item.namespace, count: 1, firstTimestamp: now });
  }

  /** `<object>.<unix nanoseconds in hex>`, unique within this recorder. */
  private eventName(objectName: string, atMs: number): string {
    const nanos = BigInt(atMs) * 1_000_000n + BigInt(this.seq++ % 1_000_000);
    return `${objectName}.${nanos.toString(16)}`;
  }
}
