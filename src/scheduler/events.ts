// core/v1 Events for the scheduler (source component `default-scheduler`), written through the
// shared recorder of src/client/events.ts so scheduling never waits on them:
// - repeats of the same event (same object, type, reason, message) are folded into one Event
//   whose count and lastTimestamp grow (4096 remembered);
// - each object may emit a burst of 25 events, then one per 5 minutes (the spam filter), so a
//   pod that keeps failing cannot flood the API;
// - at most `concurrency` writes are in flight; past `maxPending` queued writes new events are
//   dropped (and counted), as the broadcaster drops when its channel is full.
// The events carry the events.k8s.io `action` (Scheduling, Binding) as the kube-scheduler's do.
import { EventRecorder as SharedEventRecorder, type EventType } from '../client/events.ts';
import type { KubeClient } from '../client/rest.ts';
import type { KubeObject } from '../registry/types.ts';
import type { Logger } from '../util/log.ts';

export { EVENTS, type EventType } from '../client/events.ts';
export { rfc3339 } from '../client/types.ts';

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
  /** Queued writes (beyond those in flight) past which new events are dropped (default 1000). */
  maxPending?: number;
  /** Spam filter: events an object may emit at once (default 25)… */
  burst?: number;
  /** …then one per this many ms (default 300 000). */
  refillMs?: number;
}

export class EventRecorder {
  private readonly shared: SharedEventRecorder;

  constructor(opts: EventRecorderOptions) {
    const concurrency = Math.max(1, opts.concurrency ?? 16);
    this.shared = new SharedEventRecorder({
      client: opts.client,
      component: opts.component ?? 'default-scheduler',
      instance: opts.instance,
      logger: opts.logger,
      now: opts.now,
      concurrency,
      maxPending: (opts.maxPending ?? 1000) + concurrency,
      spamFilter: { burst: opts.burst ?? 25, refillMs: opts.refillMs ?? 300_000 },
    });
  }

  /** Record an event about obj (a namespaced object, a Pod unless it says). Never throws, never waits. */
  event(obj: KubeObject, type: EventType, reason: string, action: string, message: string): void {
    const target = {
      kind: obj.kind ?? 'Pod',
      namespace: obj.metadata.namespace || 'default',
      name: obj.metadata.name ?? '',
      uid: obj.metadata.uid ?? '',
      apiVersion: obj.apiVersion ?? 'v1',
    };
    this.shared.record(target, type, reason, message, action);
  }

  /** Events dropped because the queue was full or the spam filter said no. */
  get dropped(): number {
    return this.shared.dropped;
  }

  /** Events written (created or folded). */
  get written(): number {
    return this.shared.written;
  }

  /** Events accepted and not yet written. */
  get pending(): number {
    return this.shared.pending;
  }

  /** Resolves when every queued write has finished. */
  flush(): Promise<void> {
    return this.shared.flush();
  }

  /** Stop accepting events; waits for the writes already queued. */
  close(): Promise<void> {
    return this.shared.close();
  }
}
