// Kubernetes core/v1 Events for the node agent (source component `kubelet`, host = the node),
// with the reasons and messages the kubelet uses, written through the shared recorder of
// src/client/events.ts (repeats of the same event — same object, field path, type, reason and
// message — fold into one Event whose count and lastTimestamp grow; writes are asynchronous,
// bounded, and never fail the caller).
import { EventRecorder as SharedEventRecorder, type EventTarget, type EventType } from '../client/events.ts';
import type { KubeClient } from '../client/rest.ts';
import type { KubeObject } from '../registry/types.ts';
import type { Logger } from '../util/log.ts';

export { EVENTS, MemoryEventRecorder, type EventTarget, type EventType, type RecordedEvent } from '../client/events.ts';

/** What the agent's parts record events through. */
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
  /** Writes in flight at once (default 16). */
  concurrency?: number;
}

/** Writes Events through the API, as the kubelet's recorder. */
export class ApiEventRecorder extends SharedEventRecorder implements EventRecorder {
  constructor(opts: ApiEventRecorderOptions) {
    super({
      client: opts.client,
      component: opts.component ?? 'kubelet',
      host: opts.host,
      logger: opts.logger,
      now: opts.now,
      cacheSize: opts.cacheSize,
      concurrency: opts.concurrency ?? 16,
      failureLogLevel: 'debug',
    });
  }

  override event(target: EventTarget | KubeObject, type: EventType, reason: string, message: string): void {
    // The kubelet's targets are core/v1 objects.
    super.event('metadata' in target || target.apiVersion ? target : { ...target, apiVersion: 'v1' }, type, reason, message);
  }
}
