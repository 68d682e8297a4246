// Kubernetes core/v1 Events for the node agent (source component `kubelet`, host = the node),
// with the reasons and messages the kubelet uses. Repeats of the same event (same object, field
// path, type, reason and message) are folded into one Event whose count and lastTimestamp grow,
// as client-go's event correlator does. Writes are asynchronous and never fail the caller.
import type { KubeClient, ResourceRef } from '../client/rest.ts';
import { isAlreadyExists, isNotFound } from '../client/rest.ts';
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

export interface EventRecorder {
  event(target: EventTarget, type: EventType, reason: string, message: string): void;
}

/** The kubelet's field path for a container: `spec.containers{name}` / `spec.initContainers{name}`. */
export function containerFieldPath(pod: KubeObject, containerName: string): string {
  const spec = (pod.spec ?? {}) as { initContainers?: { name: string }[] };
  const init = (spec.initContainers ?? []).some((c) => c.name === containerName);
  return `${init ? 'spec.initContainers' : 'spec.containers'}{${containerName}}`;
}

/** The target of a pod event (optionally about one of its containers). */
export function podTarget(pod: KubeObject, containerName?: string): EventTarget {
  const t: EventTarget = {
    kind: 'Pod',
    apiVersion: 'v1',
    namespace: pod.metadata.namespace,
    name: pod.metadata.name ?? '',
    uid: pod.metadata.uid,
    resourceVersion: pod.metadata.resourceVersion,
  };
  if (containerName !== undefined) t.fieldPath = containerFieldPath(pod, containerName);
  return t;
}

export interface RecordedEvent {
  target: EventTarget;
  type: EventType;
  reason: string;
  message: string;
}

/** Records events in memory (tests, or to turn events off: pass `store: false`). */
export class MemoryEventRecorder implements EventRecorder {
  readonly events: RecordedEvent[] = [];
  constructor(private readonly store = true) {}
  event(target: EventTarget, type: EventType, reason: string, message: string): void {
    if (this.store) this.events.push({ target, type, reason, message });
  }
}

export interface ApiEventRecorderOptions {
  client: KubeClient;
  /** Source component (default `kubelet`). */
  component?: string;
  /** Source host: the node name. */
  host: string;
  logger?: Logger;
  now?: () => number;
  /** How many distinct events to remember for folding repeats (default 4096). */
  cacheSize?: number;
}

interface Folded {
  name: string;
  namespace: string;
  count: number;
  firstTimestamp: string;
  /** Writes of this event are serialized. */
  chain: Promise<void>;
}

/** Writes Events through the API. */
export class ApiEventRecorder implements EventRecorder {
  private readonly o: ApiEventRecorderOptions;
  private readonly now: () => number;
  private readonly cache = new Map<string, Folded>();
  private readonly pending = new Set<Promise<void>>();
  private seq = 0;
  private closed = false;

  constructor(opts: ApiEventRecorderOptions) {
    this.o = opts;
    this.now = opts.now ?? Date.now;
  }

  event(target: EventTarget, type: EventType, reason: string, message: string): void {
    if (this.closed) return;
    const namespace = target.namespace || 'default';
    const key = [target.kind, namespace, target.name, target.uid ?? '', target.fieldPath ?? '', type, reason, message].join('\u0000');
    const ts = new Date(this.now()).toISOString().replace(/\.\d{3}Z$/, 'Z');
    let f = this.cache.get(key);
    if (f) {
      // refresh LRU position
      this.cache.delete(key);
      this.cache.set(key, f);
      f.count++;
      const entry = f;
      const count = f.count;
      entry.chain = entry.chain.then(() => this.patchCount(entry, count, ts, target, type, reason, message));
      this.track(entry.chain);
      return;
    }
    const name = this.newName(target.name);
    f = { name, namespace, count: 1, firstTimestamp: ts, chain: Promise.resolve() };
    this.cache.set(key, f);
    if (this.cache.size > (this.o.cacheSize ?? 4096)) {
      const oldest = this.cache.keys().next().value;
      if (oldest !== undefined) this.cache.delete(oldest);
    }
    const entry = f;
    entry.chain = this.create(entry, ts, target, type, reason, message);
    this.track(entry.chain);
  }

  /** Wait for the writes in flight. */
  async flush(): Promise<void> {
    while (this.pending.size > 0) await Promise.all([...this.pending]);
  }

  /** Stop recording; waits for the writes in flight. */
  async close(): Promise<void> {
    this.closed = true;
    await this.flush();
  }

  /** `<object>.<unix nanoseconds in hex>`, as client-go names events (unique within this recorder). */
  private newName(objectName: string): string {
    const ns = BigInt(Math.floor(this.now())) * 1_000_000n + BigInt(this.seq++ % 1_000_000);
    return `${objectName}.${ns.toString(16)}`;
  }

  private track(p: Promise<void>): void {
    this.pending.add(p);
    void p.finally(() => this.pending.delete(p));
  }

  private body(f: Folded, ts: string, target: EventTarget, type: EventType, reason: string, message: string): KubeObject {
    const component = this.o.component ?? 'kubelet';
    const involved: Record<string, string> = { kind: target.kind, name: target.name, apiVersion: target.apiVersion ?? 'v1' };
    if (target.namespace) involved.namespace = target.namespace;
    if (target.uid) involved.uid = target.uid;
    if (target.resourceVersion) involved.resourceVersion = target.resourceVersion;
    if (target.fieldPath) involved.fieldPath = target.fieldPath;
    return {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name: f.name, namespace: f.namespace },
      involvedObject: involved,
      reason,
      message,
      type,
      source: { component, host: this.o.host },
      reportingComponent: component,
      reportingInstance: this.o.host,
      firstTimestamp: f.firstTimestamp,
      lastTimestamp: ts,
      count: f.count,
    };
  }

  private async create(f: Folded, ts: string, target: EventTarget, type: EventType, reason: string, message: string): Promise<void> {
    try {
      try {
        await this.o.client.create(EVENTS, this.body(f, ts, target, type, reason, message));
      } catch (e) {
        if (!isAlreadyExists(e)) throw e;
        f.name = this.newName(target.name);
        await this.o.client.create(EVENTS, this.body(f, ts, target, type, reason, message));
      }
    } catch (e) {
      this.o.logger?.debug('could not write event', { reason, object: `${f.namespace}/${target.name}`, error: e instanceof Error ? e.message : String(e) });
    }
  }

  private async patchCount(f: Folded, count: number, ts: string, target: EventTarget, type: EventType, reason: string, message: string): Promise<void> {
    try {
      await this.o.client.patch(EVENTS, f.namespace, f.name, { count, lastTimestamp: ts }, 'merge');
    } catch (e) {
      if (isNotFound(e)) {
        // The event expired or was deleted: write it again.
        await this.create(f, ts, target, type, reason, message);
        return;
      }
      this.o.logger?.debug('could not update event', { reason, object: `${f.namespace}/${target.name}`, error: e instanceof Error ? e.message : String(e) });
    }
  }
}
