// Taint-based eviction (Kubernetes' tainteviction controller, v1.32) and markPodsNotReady, as
// pure functions.
//
// A pod bound to a node with NoExecute taints:
// - some NoExecute taint is tolerated by none of its tolerations → it is evicted now;
// - every one is tolerated: each taint uses the FIRST toleration that tolerates it (Kubernetes'
//   GetMatchingTolerations); the smallest tolerationSeconds among those is how long the pod may
//   stay (≤ 0 → evict now; none set → it stays for ever);
// - the countdown starts when the pod first became due for eviction — the time the taint took
//   effect — and keeps running while the node stays NoExecute-tainted for the pod, also when one
//   taint replaces another (unreachable → not-ready); it is cancelled when the taints go.
// Every pod gets the not-ready and unreachable NoExecute tolerations with tolerationSeconds 300
// at creation (the API server's DefaultTolerationSeconds defaulting), hence the 5 minutes a pod
// stays on a dead node.
//
// When a taint took effect (taintStart): when this controller first saw it — or, for the taints
// the node lifecycle controller itself adds, earlier when their timeAdded says they are older, so
// a controller restart or leader change does not restart every countdown. Only the AGE of
// timeAdded by the controller's wall clock is used (a timeAdded in the future counts as now);
// timeAdded of other taints (kubectl taint, written by a laptop's clock) is not trusted.
//
// Evicting is a DELETE with the pod's own grace period and a uid precondition, after a
// DisruptionTarget condition (reason DeletionByTaintManager) is put into the pod's status, with
// the Normal event TaintManagerEviction "Marking for deletion Pod <ns>/<name>" (and
// "Cancelling deletion of Pod <ns>/<name>" when a countdown is cancelled).
//
// markPodsNotReady: the pods of a node whose Ready became Unknown get their Ready condition set
// to False (the agent cannot do it), with a Warning NodeNotReady "Node is not ready" event, so
// that endpoints stop sending them traffic at once. The condition keeps its reason and message,
// as Kubernetes' MarkPodsNotReady keeps them; only status and lastTransitionTime change. A node
// whose agent reports Ready False is alive and reports its pods itself: its pods are not touched.
import type { V1PodCondition } from '@kubernetes/client-node';
import type { Pod, Taint, Toleration, Wire } from '../../client/types.ts';
import { toleratesTaint } from '../../scheduler/filters.ts';
import { isManagedTaint, type ConditionStatus } from './taints.ts';

type PodCondition = Wire<V1PodCondition>;

export const TAINT_EVICTION_REASON = 'TaintManagerEviction';
export const DISRUPTION_TARGET = 'DisruptionTarget';
export const DELETION_BY_TAINT_MANAGER = 'DeletionByTaintManager';
export const DELETION_BY_TAINT_MANAGER_MESSAGE = 'Taint manager: deleting due to NoExecute taint';
export const POD_NODE_NOT_READY_REASON = 'NodeNotReady';
export const POD_NODE_NOT_READY_MESSAGE = 'Node is not ready';
/** What the API server's defaulting gives every pod for not-ready and unreachable. */
export const DEFAULT_TOLERATION_SECONDS = 300;

export function podKey(pod: Pod): string {
  return `${pod.metadata.namespace ?? ''}/${pod.metadata.name ?? ''}`;
}

export function evictionMessage(pod: Pod): string {
  return `Marking for deletion Pod ${podKey(pod)}`;
}

export function cancelEvictionMessage(pod: Pod): string {
  return `Cancelling deletion of Pod ${podKey(pod)}`;
}

export function noExecuteTaints(taints: readonly Taint[]): Taint[] {
  return taints.filter((t) => t.effect === 'NoExecute');
}

export interface ToleranceMatch {
  /** Every taint is tolerated. */
  allTolerated: boolean;
  /** A taint no toleration tolerates (when not allTolerated). */
  untolerated?: Taint;
  /** Per taint, the first toleration that tolerates it (when allTolerated). */
  used: { taint: Taint; toleration: Toleration }[];
}

/** GetMatchingTolerations. */
export function matchTolerations(taints: readonly Taint[], tolerations: readonly Toleration[]): ToleranceMatch {
  const used: { taint: Taint; toleration: Toleration }[] = [];
  for (const taint of taints) {
    const toleration = tolerations.find((t) => toleratesTaint(t, taint));
    if (!toleration) return { allTolerated: false, untolerated: taint, used: [] };
    used.push({ taint, toleration });
  }
  return { allTolerated: true, used };
}

/** How long a toleration lets a pod stay, in ms: Infinity = for ever; ≤ 0 seconds → 0. */
export function tolerationMs(t: Toleration): number {
  const s = t.tolerationSeconds;
  if (typeof s !== 'number') return Infinity;
  return s <= 0 ? 0 : s * 1000;
}

/**
 * Controller time a taint took effect: when the controller first saw it, or earlier by the age
 * of its timeAdded (measured on the controller's wall clock) for the controller's own taints.
 */
export function taintStart(taint: Taint, firstSeenAt: number, now: number, wallNowMs: number): number {
  if (!isManagedTaint(taint) || typeof taint.timeAdded !== 'string') return firstSeenAt;
  const parsed = Date.parse(taint.timeAdded);
  if (Number.isNaN(parsed)) return firstSeenAt;
  // metav1.Time has whole seconds: the taint was added within the second after it says.
  const added = /\.\d+/.test(taint.timeAdded) ? parsed : parsed + 1000;
  return Math.min(firstSeenAt, now - Math.max(0, wallNowMs - added));
}

export type EvictionVerdict =
  /** Nothing to do (no NoExecute taint, tolerated for ever, already terminating, not bound). */
  | { action: 'none' }
  /** Evict now. untolerated: the taint no toleration tolerates (else the tolerations ran out). */
  | { action: 'evict'; untolerated?: Taint; since?: number }
  /** Evict at `at` (controller time); remember `since` for the next decision. */
  | { action: 'wait'; since: number; at: number };

export interface EvictionInput {
  pod: Pod;
  /** The node's taints (all effects). */
  taints: readonly Taint[];
  /** Controller time now. */
  now: number;
  /** When the pod became due for eviction, from an earlier decision (undefined: not yet). */
  scheduledSince?: number;
  /** Controller time a taint took effect (see taintStart). */
  taintSince(t: Taint): number;
}

/** The taint eviction decision for one pod. */
export function decideEviction(input: EvictionInput): EvictionVerdict {
  const { pod, now } = input;
  if (pod.metadata.deletionTimestamp || !pod.spec?.nodeName) return { action: 'none' };
  const taints = noExecuteTaints(input.taints);
  if (taints.length === 0) return { action: 'none' };
  const match = matchTolerations(taints, pod.spec.tolerations ?? []);
  if (!match.allTolerated) return { action: 'evict', untolerated: match.untolerated };
  let minMs = Infinity;
  let since = Infinity;
  for (const u of match.used) {
    const ms = tolerationMs(u.toleration);
    if (ms === Infinity) continue;
    minMs = Math.min(minMs, ms);
    since = Math.min(since, input.taintSince(u.taint));
  }
  if (minMs === Infinity) return { action: 'none' };
  if (input.scheduledSince !== undefined) since = Math.min(since, input.scheduledSince);
  const at = since + minMs;
  if (now >= at) return { action: 'evict', since };
  return { action: 'wait', since, at };
}

/** The DisruptionTarget condition the taint manager puts on a pod before deleting it. */
export function disruptionCondition(wallNow: string): PodCondition {
  return {
    type: DISRUPTION_TARGET,
    status: 'True',
    reason: DELETION_BY_TAINT_MANAGER,
    message: DELETION_BY_TAINT_MANAGER_MESSAGE,
    lastTransitionTime: wallNow,
  };
}

/** Whether markPodsNotReady changes this pod: its node is Unknown and the pod is Ready True. */
export function needsNotReadyMark(pod: Pod, nodeReady: ConditionStatus | undefined): boolean {
  if (nodeReady !== 'Unknown') return false;
  const ready = (pod.status?.conditions ?? []).find((c) => c.type === 'Ready');
  return ready?.status === 'True';
}

/** The pod's status.conditions with Ready set to False (as UpdatePodCondition would). */
export function notReadyConditions(pod: Pod, wallNow: string): PodCondition[] {
  return (pod.status?.conditions ?? []).map((c) => (c.type === 'Ready' && c.status !== 'False' ? { ...c, status: 'False', lastTransitionTime: wallNow } : c));
}
