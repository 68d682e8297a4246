// The ReplicaSet control algorithm as a pure function: (set, the pods of its namespace, the
// sets of its namespace, now) → the actions that move the cluster one step towards
// spec.replicas, the status to write, and when to look again. No I/O, no clock. The same
// algorithm runs ReplicationControllers (kinds.ts), as in Kubernetes.
//
// Semantics follow Kubernetes v1.32 pkg/controller/replicaset (syncReplicaSet, claimPods,
// manageReplicas, getPodsToDelete, calculateStatus):
// - Only active pods count (not Succeeded, not Failed, not being deleted); inactive pods are
//   neither adopted nor released.
// - Claiming: a pod whose controller reference names the set (by uid) is the set's while the
//   selector matches it, and is released (the reference removed) when it no longer does; an
//   orphan the selector matches is adopted (the set's controller reference added). A set being
//   deleted keeps what it owns and matches, adopts nothing and releases nothing. Pods controlled
//   by anything else are left alone.
// - Unless the set is being deleted (or has no usable selector): with `diff` = claimed − replicas,
//   diff < 0 → create −diff pods from the template; diff > 0 → delete the diff least valuable
//   pods (pods.ts: compareForDeletion, ranked by the related pods on the same node). At most
//   burstReplicas (500) of either per round.
// - Status, about the claimed pods as the round found them: replicas, fullyLabeledReplicas (the
//   template's labels all present), readyReplicas, availableReplicas (ready for more than
//   minReadySeconds), observedGeneration; a ReplicaFailure condition (reason FailedCreate or
//   FailedDelete, the error as message) when creating or deleting failed, removed after a round
//   without failures (replicaSetStatus(), called again by the acting layer with the error).
// - Look again when a ready pod becomes available (minReadySeconds).
import type { KubeObject } from '../../registry/types.ts';
import { asArray, asRecord, isRecord, jsonEqual } from '../../registry/validation.ts';
import type { ReplicaSetAction } from './actions.ts';
import {
  controllerRefOf,
  generationOf,
  hasUsableSelector,
  isBeingDeleted,
  kindOfSet,
  minReadySecondsOf,
  replicasOf,
  selectorMatches,
  templateLabelsOf,
  withControllerRef,
  withoutRefTo,
  type ReplicaKind,
} from './kinds.ts';
import { hasLabels, isPodActive, isPodAvailable, isPodReady, newPodFromTemplate, podsToDelete, readySince } from './pods.ts';

/** Kubernetes' BurstReplicas: creations or deletions per round at most. */
export const BURST_REPLICAS = 500;

/** The condition type a failed create or delete sets (apps.ReplicaSetReplicaFailure). */
export const REPLICA_FAILURE = 'ReplicaFailure';

export interface ReplicaSetCondition {
  type: string;
  status: string;
  lastTransitionTime?: string;
  reason?: string;
  message?: string;
}

/** apps/v1 ReplicaSetStatus (= core/v1 ReplicationControllerStatus) as the controller writes
 *  it: zero counts other than replicas are left out, as Go's omitempty does. */
export interface ReplicaSetStatus {
  replicas: number;
  fullyLabeledReplicas?: number;
  readyReplicas?: number;
  availableReplicas?: number;
  observedGeneration?: number;
  conditions?: ReplicaSetCondition[];
}

export interface ReplicaSetControlInput {
  /** The ReplicaSet or ReplicationController as stored. */
  set: KubeObject;
  /** Which kind the set is (default: from set.kind, else ReplicaSet). */
  kind?: ReplicaKind;
  /** Pods of the set's namespace: its own, orphans it may adopt, and others. */
  pods: KubeObject[];
  /** Sets of the same kind in the namespace (those sharing the set's controlling owner rank
   *  scale-down by the pods doubled up on a node). */
  sets?: KubeObject[];
  now: Date;
  burstReplicas?: number;
}

export interface ReplicaSetControlResult {
  /** Adoptions and releases, then creations or deletions (executionPhases). */
  actions: ReplicaSetAction[];
  /** The active pods the set owns once the adoptions and releases are done. */
  claimed: KubeObject[];
  /** claimed − spec.replicas: < 0 pods are missing, > 0 pods are too many. */
  diff: number;
  /** The status if every action succeeds. */
  status: ReplicaSetStatus;
  /** That status differs from the set's: write it. */
  statusChanged: boolean;
  /** Sync again after this many milliseconds (a ready pod becomes available). */
  requeueAfterMs?: number;
}

function uidOf(o: KubeObject): string {
  return o.metadata.uid ?? '';
}

/** The set's pods, claimed as ClaimPods does, with the ownership actions that takes. */
function claimPods(kind: ReplicaKind, set: KubeObject, pods: KubeObject[]): { claimed: KubeObject[]; actions: ReplicaSetAction[] } {
  const claimed: KubeObject[] = [];
  const actions: ReplicaSetAction[] = [];
  const deleting = isBeingDeleted(set);
  const usable = hasUsableSelector(kind, set);
  for (const pod of pods) {
    if (!isPodActive(pod)) continue;
    const matches = usable && selectorMatches(kind, set, pod.metadata.labels);
    const ref = controllerRefOf(pod);
    if (ref) {
      if (ref.uid !== uidOf(set) || uidOf(set) === '') continue;
      if (matches || !usable) claimed.push(pod);
      else if (!deleting) actions.push({ type: 'releasePod', name: pod.metadata.name ?? '', uid: uidOf(pod), ownerReferences: withoutRefTo(pod, set) });
      continue;
    }
    if (deleting || !matches) continue;
    const ownerReferences = withControllerRef(kind, pod, set);
    actions.push({ type: 'adoptPod', name: pod.metadata.name ?? '', uid: uidOf(pod), ownerReferences });
    claimed.push({ ...pod, metadata: { ...pod.metadata, ownerReferences } });
  }
  return { claimed, actions };
}

/**
 * getIndirectlyRelatedPods: the pods selected by every set of the namespace with the same
 * controlling owner as this one (itself included); none when the set has no controller.
 */
function relatedPods(kind: ReplicaKind, set: KubeObject, sets: KubeObject[], pods: KubeObject[]): KubeObject[] {
  const owner = controllerRefOf(set);
  if (!owner) return [];
  const siblings = sets.filter((s) => controllerRefOf(s)?.uid === owner.uid);
  if (!siblings.some((s) => uidOf(s) === uidOf(set))) siblings.push(set);
  const seen = new Set<string>();
  const out: KubeObject[] = [];
  for (const s of siblings) {
    for (const p of pods) {
      if (seen.has(uidOf(p)) || !selectorMatches(kind, s, p.metadata.labels)) continue;
      seen.add(uidOf(p));
      out.push(p);
    }
  }
  return out;
}

function conditionsOf(set: KubeObject): ReplicaSetCondition[] {
  return asArray(asRecord(set.status).conditions).filter(isRecord) as unknown as ReplicaSetCondition[];
}

/** RFC 3339 with second precision, as metav1.Time serializes. */
export function rfc3339(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/**
 * calculateStatus + the update check of updateReplicaSetStatus: the status for the claimed pods;
 * `manageError` (what failed creating or deleting pods this round) sets the ReplicaFailure
 * condition when there is none yet, a round without one removes it. `changed` is false when the
 * set's status already says all this (nothing to write).
 */
export function replicaSetStatus(
  set: KubeObject,
  claimed: KubeObject[],
  now: Date,
  manageError?: { message: string },
): { status: ReplicaSetStatus; changed: boolean } {
  const templateLabels = templateLabelsOf(set);
  const minReady = minReadySecondsOf(set);
  let fully = 0;
  let ready = 0;
  let available = 0;
  for (const pod of claimed) {
    if (hasLabels(pod, templateLabels)) fully++;
    if (isPodReady(pod)) {
      ready++;
      if (isPodAvailable(pod, minReady, now)) available++;
    }
  }
  const old = conditionsOf(set);
  let conditions = old;
  const failure = old.find((c) => c.type === REPLICA_FAILURE);
  if (manageError && !failure) {
    const diff = claimed.length - replicasOf(set);
    const reason = diff < 0 ? 'FailedCreate' : diff > 0 ? 'FailedDelete' : '';
    const cond: ReplicaSetCondition = { type: REPLICA_FAILURE, status: 'True', lastTransitionTime: rfc3339(now), reason, message: manageError.message };
    if (!reason) delete cond.reason;
    conditions = [...old, cond];
  } else if (!manageError && failure) {
    conditions = old.filter((c) => c.type !== REPLICA_FAILURE);
  }
  const status: ReplicaSetStatus = { replicas: claimed.length };
  if (fully) status.fullyLabeledReplicas = fully;
  if (ready) status.readyReplicas = ready;
  if (available) status.availableReplicas = available;
  const generation = generationOf(set);
  if (generation) status.observedGeneration = generation;
  if (conditions.length > 0) status.conditions = conditions;

  const cur = asRecord(set.status);
  const n = (v: unknown): number => (typeof v === 'number' ? v : 0);
  const changed =
    n(cur.replicas) !== status.replicas ||
    n(cur.fullyLabeledReplicas) !== fully ||
    n(cur.readyReplicas) !== ready ||
    n(cur.availableReplicas) !== available ||
    n(cur.observedGeneration) !== generation ||
    !jsonEqual(old, conditions);
  return { status, changed };
}

/** One round of the algorithm; see the file comment. */
export function computeReplicaSetActions(input: ReplicaSetControlInput): ReplicaSetControlResult {
  const { set, now } = input;
  const kind = input.kind ?? kindOfSet(set);
  const burst = Math.max(1, input.burstReplicas ?? BURST_REPLICAS);
  const { claimed, actions } = claimPods(kind, set, input.pods);
  const replicas = replicasOf(set);
  const diff = claimed.length - replicas;

  if (!isBeingDeleted(set) && hasUsableSelector(kind, set)) {
    if (diff < 0) {
      const n = Math.min(-diff, burst);
      for (let i = 0; i < n; i++) actions.push({ type: 'createPod', object: newPodFromTemplate(kind, set) });
    } else if (diff > 0) {
      const related = relatedPods(kind, set, input.sets ?? [], input.pods);
      for (const pod of podsToDelete(claimed, related, Math.min(diff, burst), now)) {
        actions.push({ type: 'deletePod', name: pod.metadata.name ?? '', uid: uidOf(pod) });
      }
    }
  }

  const { status, changed } = replicaSetStatus(set, claimed, now);

  // A ready pod that is not yet available becomes available minReadySeconds after it became
  // ready: look again then (isPodAvailable is strict, hence the extra millisecond).
  let requeueAfterMs: number | undefined;
  const minReady = minReadySecondsOf(set);
  if (minReady > 0) {
    for (const pod of claimed) {
      if (!isPodReady(pod) || isPodAvailable(pod, minReady, now)) continue;
      const since = readySince(pod);
      if (since === undefined) continue;
      const wait = Math.max(1, since + minReady * 1000 - now.getTime() + 1);
      requeueAfterMs = requeueAfterMs === undefined ? wait : Math.min(requeueAfterMs, wait);
    }
  }
  return { actions, claimed, diff, status, statusChanged: changed, requeueAfterMs };
}
