// Pod workers: status writing (merge patch of the owned fields) and the depends-on gate (holdForDependencies).
import { podTarget } from './events.ts';
import { DEPENDENCIES_CONDITION, DependencySyntaxError, DEPENDS_ON_ANNOTATION, podDependencies, WAITING_FOR_DEPENDENCIES } from './dependencies.ts';
import type { Pod, PodCondition, PodStatus } from './kube-types.ts';
import { buildPodStatus } from './status.ts';
import { type PodRuntimeState } from './sync.ts';
import { OWNED_STATUS_KEYS, PODS, canonical, type PodWorkersOptions, type Semaphore, type Worker } from './podworker-types.ts';

export async function writeStatus(o: PodWorkersOptions, writes: Semaphore, w: Worker, pod: Pod, state: PodRuntimeState, terminal: boolean, evicted?: { reason: string; message: string }): Promise<PodStatus> {
  const base: Pod = { ...pod, status: w.lastStatus ?? pod.status ?? {} };
  const probes = o.probes;
  const status = buildPodStatus({
    pod: base,
    state,
    runtimeName: o.runtimeName,
    hostIP: o.hostIP(),
    now: o.now(),
    reasons: w.reasons,
    readiness: probes ? (n) => probes.readiness(w.uid, n) : undefined,
    started: probes ? (n) => probes.started(w.uid, n) : undefined,
    terminal,
    evicted,
  });
  if (pod.status?.qosClass && !status.qosClass) status.qosClass = pod.status.qosClass;
  if (w.depCondition) status.conditions = [...(status.conditions ?? []).filter((c) => c.type !== DEPENDENCIES_CONDITION), w.depCondition];
  const json = canonical(status);
  if (json === w.lastStatusJson) return status;
  const prev = (w.lastStatus ?? pod.status ?? {}) as Record<string, unknown>;
  const patch: Record<string, unknown> = { ...status };
  for (const k of OWNED_STATUS_KEYS) if (prev[k] !== undefined && patch[k] === undefined) patch[k] = null;
  await writes.run(() => o.client.patch(PODS, pod.metadata.namespace, pod.metadata.name ?? '', { metadata: { uid: w.uid }, status: patch }, 'merge', { subresource: 'status' }));
  const wasReady = w.lastStatus?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
  w.lastStatus = status;
  w.lastStatusJson = json;
  // Pods held for dependencies judge this agent's own pods by their last written readiness.
  if (wasReady !== (status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false)) o.onLocalReadyChange?.();
  return status;
}

/**
 * Whether the pod's containers must wait for its kennel.dev/depends-on services. Sets the
 * DependenciesReady condition and, when what it waits for changes, a Normal event.
 */
export function holdForDependencies(o: PodWorkersOptions, w: Worker, pod: Pod): boolean {
  const tracker = o.dependencies;
  const deps = tracker ? podDependencies(pod) : undefined;
  if (!tracker || deps === undefined) {
    w.depWaiting = false;
    return false;
  }
  let met: boolean;
  let reason: string;
  let message: string;
  if (deps instanceof DependencySyntaxError) {
    met = false;
    reason = 'InvalidDependencies';
    message = `Invalid ${DEPENDS_ON_ANNOTATION} annotation: ${deps.message}`;
  } else {
    const { synced, evaluation } = tracker.check(deps, pod.metadata.namespace ?? 'default');
    if (!synced) {
      // The caches are filling (woken when they have synced): hold, say nothing yet.
      w.depWaiting = true;
      return true;
    }
    met = evaluation.met;
    reason = met ? 'DependenciesReady' : WAITING_FOR_DEPENDENCIES;
    message = evaluation.message;
  }
  const prev = w.depCondition ?? (w.lastStatus ?? pod.status)?.conditions?.find((c) => c.type === DEPENDENCIES_CONDITION);
  if (!met && (prev?.status !== 'False' || prev.message !== message)) o.recorder.event(podTarget(pod), 'Normal', reason, message);
  const status = met ? 'True' : 'False';
  const cond: PodCondition = { type: DEPENDENCIES_CONDITION, status, reason };
  if (message) cond.message = message;
  cond.lastTransitionTime = prev && prev.status === status && prev.lastTransitionTime ? prev.lastTransitionTime : new Date(o.now()).toISOString().replace(/\.\d{3}Z$/, 'Z');
  w.depCondition = cond;
  w.depWaiting = !met;
  return !met;
}
