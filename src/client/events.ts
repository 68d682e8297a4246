// Kubernetes core/v1 Events, recorded the way client-go's event recorder records them. Every
// kennel component (controllers, scheduler, node agent) records through this one recorder:
// - an Event is about one object (involvedObject: kind, namespace, name, uid, apiVersion,
//   resourceVersion, and optionally a fieldPath such as `spec.containers{web}`), lives in that
//   object's namespace (`default` for cluster-scoped objects), and is named
//   `<object>.<unix nanoseconds in hex>`;
// - source.component / reportingComponent name the component (e.g. `statefulset-controller`),
//   source.host the process or node when one is given, reportingInstance the instance;
// - a repeat of the same event (same object, type, reason and message) is not a new Event: the
//   existing one gets count + 1 and a new lastTimestamp through a merge PATCH (client-go's
//   EventCorrelator); when that Event has expired meanwhile, a new one is created with count 1;
// - events of one object, type and reason that differ only in their message are aggregated as
//   client-go's EventAggregator does: once 10 different messages were seen within 10 minutes of
//   each other, each further one is written into a single Event whose message is
//   "(combined from similar events): <the newest message>" (its count counts them);
// - writes of one event are made in order; at most `concurrency` writes are in flight; past
//   `maxPending` accepted-but-unwritten events, new ones are dropped (counted, logged now and
//   then), as the broadcaster drops when its channel is full;
// - each object may emit a burst of 25 events, then one per 5 minutes, as client-go's
//   EventSourceObjectSpamFilter allows every recorder by default (per recorder, i.e. per source
//   component and host): a 500-replica StatefulSet shows 25 SuccessfulCreate events, as in
//   Kubernetes, and a crash-looping pod cannot flood the API;
// - recording never blocks and never fails the caller: API errors are logged and dropped.
import { isAlreadyExists, isNotFound, type KubeClient, type ResourceRef } from './rest.ts';
import { rfc3339 } from './types.ts';
import type { KubeObject } from '../registry/types.ts';
import type { Logger } from '../util/log.ts';

export const EVENTS: ResourceRef = { group: '', version: 'v1', plural: 'events', namespaced: true, kind: 'Event' };

export type EventType = 'Normal' | 'Warning';

/** What an event is about: an object and optionally a part of it (`spec.containers{web}`). */
export interface EventTarget {
  kind: string;
  apiVersion?: string;
  namespace?: string;
  name: string;
  uid?: string;
  resourceVersion?: string;
  fieldPath?: string;
}

/** What controllers record events through (tests may pass a MemoryEventRecorder). */
export interface Recorder {
  /** Record an event about obj. Never throws, never waits. */
  event(obj: KubeObject | EventTarget, type: EventType, reason: string, message: string): void;
}

/** The target of an event about obj: the fields obj has, none made up. */
export function eventTarget(obj: KubeObject | EventTarget): EventTarget {
  if (!('metadata' in obj)) return obj;
  const t: EventTarget = { kind: obj.kind ?? '', name: obj.metadata.name ?? '' };
  if (obj.metadata.namespace) t.namespace = obj.metadata.namespace;
  if (obj.metadata.uid) t.uid = obj.metadata.uid;
  if (obj.apiVersion) t.apiVersion = obj.apiVersion;
  if (obj.metadata.resourceVersion) t.resourceVersion = obj.metadata.resourceVersion;
  return t;
}

export interface RecordedEvent {
  target: EventTarget;
  type: EventType;
  reason: string;
  message: string;
}

/** Keeps events in memory (tests; or, with `store` false, to turn events off). */
export class MemoryEventRecorder implements Recorder {
  readonly events: RecordedEvent[] = [];
  constructor(private readonly store = true) {}
  event(obj: KubeObject | EventTarget, type: EventType, reason: string, message: string): void {
    if (this.store) this.events.push({ target: eventTarget(obj), type, reason, message });
  }
}

export interface SpamFilterOptions {
  /** Events an object may emit at once… */
  burst: number;
  /** …then one per this many ms (0: no refill). */
  refillMs: number;
}

/** client-go's aggregation defaults (tools/record: defaultAggregateMaxEvents, defaultAggregateIntervalInSeconds). */
export const AGGREGATE_MAX_EVENTS = 10;
export const AGGREGATE_INTERVAL_MS = 600_000;
export const AGGREGATE_MESSAGE_PREFIX = '(combined from similar events): ';

/** client-go's defaults (tools/record: defaultSpamBurst, defaultSpamQPS = 1/300). */
export const DEFAULT_SPAM_FILTER: SpamFilterOptions = { burst: 25, refillMs: 300_000 };

export interface EventRecorderOptions {
  client: KubeClient;
  /** source.component and reportingComponent, e.g. `statefulset-controller`. */
  component: string;
  /** source.host (omitted when empty) and, unless `instance` says otherwise, reportingInstance. */
  host?: string;
  /** reportingInstance (default: host, or empty). */
  instance?: string;
  logger?: Logger;
  /** Wall-clock milliseconds (default Date.now). */
  now?: () => number;
  /** Events accepted and not yet written (queued or in flight) beyond which new ones are
   *  dropped (default 1000, as client-go's broadcaster queue). */
  maxPending?: number;
  /** Distinct events remembered for folding repeats (default 4096, as client-go). */
  cacheSize?: number;
  /** Writes in flight at once (default 4). */
  concurrency?: number;
  /** Per-object spam filter (default: burst 25, then one per 300 000 ms, as client-go); false: none. */
  spamFilter?: SpamFilterOptions | false;
  /** Level of the log line for a write that failed (default `warn`). */
  failureLogLevel?: 'warn' | 'debug';
}

interface Pending {
  key: string;
  involved: EventTarget;
  namespace: string;
  type: EventType;
  reason: string;
  message: string;
  action?: string;
  /** ms since the epoch, when the event was recorded */
  at: number;
}

interface Folded {
  name: string;
  namespace: string;
  count: number;
}

/** The messages seen of one object, type and reason, and when the last one came. */
interface Aggregate {
  messages: Set<string>;
  last: number;
}

interface Bucket {
  tokens: number;
  last: number;
}

function errText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** Forget the oldest entries of an insertion-ordered map beyond max. */
function trim<K, V>(m: Map<K, V>, max: number): void {
  while (m.size > max) {
    const oldest = m.keys().next();
    if (oldest.done) return;
    m.delete(oldest.value);
  }
}

/**
 * The event recorder of one component. Call stop() (or close()) when the component stops: it
 * waits for queued events to be written.
 */
export class EventRecorder implements Recorder {
  private readonly client: KubeClient;
  private readonly component: string;
  private readonly host: string;
  private readonly instance: string;
  private readonly log?: Logger;
  private readonly now: () => number;
  private readonly maxPending: number;
  private readonly cacheSize: number;
  private readonly concurrency: number;
  private readonly spam: SpamFilterOptions | undefined;
  private readonly failureLevel: 'warn' | 'debug';
  /** Events waiting per aggregation key, in order; a key is written by one write at a time. */
  private readonly waiting = new Map<string, Pending[]>();
  /** Keys with waiting events and no write in flight, oldest first. */
  private readonly ready: string[] = [];
  private readonly writing = new Set<string>();
  private readonly folded = new Map<string, Folded>();
  private readonly buckets = new Map<string, Bucket>();
  private readonly aggregates = new Map<string, Aggregate>();
  private outstanding = 0;
  private seq = 0;
  private droppedCount = 0;
  private writtenCount = 0;
  private lastDropLog = Number.NEGATIVE_INFINITY;
  private stopped = false;
  private idleWaiters: (() => void)[] = [];

  constructor(opts: EventRecorderOptions) {
    this.client = opts.client;
    this.component = opts.component;
    this.host = opts.host ?? '';
    this.instance = opts.instance ?? this.host;
    this.log = opts.logger;
    this.now = opts.now ?? Date.now;
    this.maxPending = opts.maxPending ?? 1000;
    this.cacheSize = opts.cacheSize ?? 4096;
    this.concurrency = Math.max(1, opts.concurrency ?? 4);
    this.spam = opts.spamFilter === false ? undefined : (opts.spamFilter ?? DEFAULT_SPAM_FILTER);
    this.failureLevel = opts.failureLogLevel ?? 'warn';
  }

  /** Events dropped because the queue was full or the spam filter said no. */
  get dropped(): number {
    return this.droppedCount;
  }

  /** Events written (created or folded into an existing one). */
  get written(): number {
    return this.writtenCount;
  }

  /** Events accepted and not yet written. */
  get pending(): number {
    return this.outstanding;
  }

  /** Record an event about obj (an object, or a target such as a container of a pod). */
  event(obj: KubeObject | EventTarget, type: EventType, reason: string, message: string): void {
    this.record(eventTarget(obj), type, reason, message);
  }

  /** Record an event about target; action is the events.k8s.io `action` (e.g. `Binding`). */
  record(target: EventTarget, type: EventType, reason: string, message: string, action?: string): void {
    if (this.stopped) return;
    const namespace = target.namespace || 'default';
    const at = this.now();
    // client-go's EventAggregator comes first, then the spam filter (EventCorrelate's order).
    const combined = this.aggregate([target.kind, namespace, target.name, target.uid ?? '', target.apiVersion ?? '', type, reason].join('\u0000'), message, at);
    if (this.spam && !this.allow(`${target.kind}/${namespace}/${target.name}/${target.uid ?? ''}`, at)) {
      this.droppedCount++;
      return;
    }
    if (this.outstanding >= this.maxPending) {
      this.droppedCount++;
      if (at - this.lastDropLog > 10_000) {
        this.lastDropLog = at;
        this.log?.warn('event queue full; dropping events', { component: this.component, dropped: this.droppedCount, reason, object: `${namespace}/${target.name}` });
      }
      return;
    }
    const involved: EventTarget = { kind: target.kind, name: target.name };
    if (target.namespace) involved.namespace = target.namespace;
    if (target.uid) involved.uid = target.uid;
    if (target.apiVersion) involved.apiVersion = target.apiVersion;
    if (target.resourceVersion) involved.resourceVersion = target.resourceVersion;
    if (target.fieldPath) involved.fieldPath = target.fieldPath;
    // client-go's getEventKey: the object (without resourceVersion), type, reason, message; or,
    // for an aggregated event, the aggregate's key, so that every further one folds into it.
    const key = combined ?? [involved.kind, namespace, involved.name, involved.uid ?? '', involved.apiVersion ?? '', involved.fieldPath ?? '', type, reason, message].join('\u0000');
    const item: Pending = { key, involved, namespace, type, reason, message: combined ? AGGREGATE_MESSAGE_PREFIX + message : message, at };
    if (action !== undefined) item.action = action;
    const list = this.waiting.get(key);
    if (list) list.push(item);
    else {
      this.waiting.set(key, [item]);
      if (!this.writing.has(key)) this.ready.push(key);
    }
    this.outstanding++;
    this.pump();
  }

  /** Resolves once every event accepted so far has been written (or given up on). */
  flush(): Promise<void> {
    if (this.outstanding === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Stop accepting events; wait for the ones accepted to be written. */
  async close(): Promise<void> {
    this.stopped = true;
    await this.flush();
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

  private pump(): void {
    while (this.writing.size < this.concurrency && this.ready.length > 0) {
      const key = this.ready.shift() as string;
      const list = this.waiting.get(key) as Pending[];
      const item = list.shift() as Pending;
      if (list.length === 0) this.waiting.delete(key);
      this.writing.add(key);
      this.write(item)
        .then(
          () => {
            this.writtenCount++;
          },
          (e: unknown) => {
            this.log?.[this.failureLevel]('could not write event', { component: this.component, reason: item.reason, object: `${item.involved.kind} ${item.namespace}/${item.involved.name}`, error: errText(e) });
          },
        )
        .finally(() => {
          this.writing.delete(key);
          this.outstanding--;
          if (this.waiting.has(key)) this.ready.push(key);
          this.pump();
          if (this.outstanding === 0) {
            const ws = this.idleWaiters;
            this.idleWaiters = [];
            for (const w of ws) w();
          }
        });
    }
  }

  private async write(item: Pending): Promise<void> {
    const ts = rfc3339(item.at);
    const prev = this.folded.get(item.key);
    if (prev) {
      const count = prev.count + 1;
      try {
        // As client-go's patch of an observed repeat: count, lastTimestamp and the message (which
        // is the newest one's for an aggregated event).
        await this.client.patch(EVENTS, prev.namespace, prev.name, { count, lastTimestamp: ts, message: item.message }, 'merge');
        this.remember(item.key, { ...prev, count });
        return;
      } catch (e) {
        // The event expired (or was deleted): record it afresh.
        if (!isNotFound(e)) throw e;
        this.folded.delete(item.key);
      }
    }
    let name = this.eventName(item.involved.name, item.at);
    let created: KubeObject;
    try {
      created = await this.client.create(EVENTS, this.body(name, item, ts));
    } catch (e) {
      if (!isAlreadyExists(e)) throw e;
      name = this.eventName(item.involved.name, item.at);
      created = await this.client.create(EVENTS, this.body(name, item, ts));
    }
    this.remember(item.key, { name: created.metadata.name ?? name, namespace: item.namespace, count: 1 });
  }

  private body(name: string, item: Pending, ts: string): KubeObject {
    const ev: KubeObject = {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name, namespace: item.namespace },
      involvedObject: item.involved,
      reason: item.reason,
      message: item.message,
      type: item.type,
      source: this.host ? { component: this.component, host: this.host } : { component: this.component },
      firstTimestamp: ts,
      lastTimestamp: ts,
      count: 1,
      reportingComponent: this.component,
      reportingInstance: this.instance,
    };
    if (item.action !== undefined) ev.action = item.action;
    return ev;
  }

  private remember(key: string, f: Folded): void {
    this.folded.delete(key);
    this.folded.set(key, f);
    trim(this.folded, this.cacheSize);
  }

  /**
   * client-go's EventAggregator: remembers the messages of one object, type and reason (the
   * aggregate key; the recorder's source is fixed) while they come within 10 minutes of each
   * other. Returns the key of the aggregated event when this message is the 10th different one
   * or later (one remembered message is then forgotten, as client-go's PopAny), else undefined.
   */
  private aggregate(aggregateKey: string, message: string, now: number): string | undefined {
    let a = this.aggregates.get(aggregateKey);
    if (!a || now - a.last > AGGREGATE_INTERVAL_MS) a = { messages: new Set(), last: now };
    a.messages.add(message);
    a.last = now;
    this.aggregates.delete(aggregateKey);
    this.aggregates.set(aggregateKey, a);
    trim(this.aggregates, this.cacheSize);
    if (a.messages.size < AGGREGATE_MAX_EVENTS) return undefined;
    const oldest = a.messages.values().next();
    if (!oldest.done) a.messages.delete(oldest.value);
    return `aggregate\u0000${aggregateKey}`;
  }

  /** The spam filter: a token bucket per object. */
  private allow(key: string, now: number): boolean {
    const spam = this.spam as SpamFilterOptions;
    let b = this.buckets.get(key);
    if (!b) {
      b = { tokens: spam.burst, last: now };
      this.buckets.set(key, b);
      trim(this.buckets, this.cacheSize);
    } else if (spam.refillMs > 0) {
      b.tokens = Math.min(spam.burst, b.tokens + (now - b.last) / spam.refillMs);
      b.last = now;
    }
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }

  /** `<object>.<unix nanoseconds in hex>`, unique within this recorder. */
  private eventName(objectName: string, atMs: number): string {
    const nanos = BigInt(Math.floor(atMs)) * 1_000_000n + BigInt(this.seq++ % 1_000_000);
    return `${objectName}.${nanos.toString(16)}`;
  }
}
