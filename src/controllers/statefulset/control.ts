// The StatefulSet control algorithm as a pure function: (set, pods, claims, revisions, now) →
// the actions that move the cluster one step towards the set's spec, the status to write, and
// the Events Kubernetes would record for its own decisions. No I/O, no clock: `now` is given.
//
// Semantics follow Kubernetes v1.32 pkg/controller/statefulset/stateful_set_control.go:
// - Revisions: the update revision is the set's template (created, or an equal older revision
//   renumbered); the current revision is status.currentRevision (the update revision when there
//   is none); history beyond revisionHistoryLimit is trimmed, oldest unused first.
// - Pods are split into replicas (ordinals start..start+replicas-1) and condemned (other valid
//   ordinals). Every replica is processed in ordinal order: a Failed/Succeeded pod is deleted
//   (and created again, same name, once it is gone); a missing pod is created — its claims first
//   — at the current revision below start+partition and at the update revision otherwise; a
//   Pending pod gets any missing claim; identity labels and claim volumes are repaired; claim
//   owner references follow persistentVolumeClaimRetentionPolicy.
// - OrderedReady ("monotonic"): processing stops at the first pod that was just created, is
//   terminating, not Running and Ready, or not yet available (minReadySeconds); condemned pods
//   are deleted only once every replica is healthy, from the highest ordinal, one at a time, each
//   only when every other condemned pod is healthy (or it is the first unhealthy one). Parallel:
//   nothing waits.
// - Scaling takes precedence over updates. RollingUpdate then deletes pods not at the update
//   revision from the highest ordinal down to the partition, at most maxUnavailable (default 1)
//   unavailable at a time (pods not yet available for minReadySeconds count as unavailable);
//   each comes back at the update revision. OnDelete updates nothing.
// - currentRevision := updateRevision once every replica exists, is ready and is at the update
//   revision (for OnDelete too: Kubernetes leaves it stale there, kubernetes issue 106055).
// - The legacy PetSet annotation pod.alpha.kubernetes.io/initialized: "false" makes the set
//   treat the pod as not ready, so OrderedReady start-up pauses after it until it is "true".
//
// Beyond Kubernetes (each in a comment where it happens and in the table tests):
// (a) kubernetes issue 67250: a pod at an ordinal >= partition that is not Running and Ready
//     and not at the update revision is replaced at the update revision instead of blocking
//     the rollout forever (OrderedReady) or holding maxUnavailable (Parallel) — so a rollout
//     stuck on a broken template recovers once the template is fixed. Reason `outdated-unready`,
//     Event RecreatingUnreadyPod.
// (b) kubernetes issue 68737: bound claims whose storage request is below their template's
//     (the registry lets that request grow) get updateClaim actions raising it.
import type { KubeObject } from '../../registry/types.ts';
import { asRecord } from '../../registry/validation.ts';
import type { Action, ControlEvent, DeletePodReason } from './actions.ts';
import { setKey } from './actions.ts';
import {
  claimTemplateName,
  claimTemplatesOf,
  clone,
  controllerRefOf,
  isBeingDeleted,
  maxUnavailableOf,
  minReadySecondsOf,
  partitionOf,
  podManagementPolicy,
  replicasOf,
  selectorMatches,
  setName,
  setNamespace,
  startOrdinal,
  updateStrategyType,
} from './set.ts';
import { claimName, isMemberOf, ordinalOf, podName } from './names.ts';
import {
  availableAt,
  heldByInitAnnotation,
  isCreated,
  isFailed,
  isPending,
  isPodReady,
  isRunningAndAvailable,
  isRunningAndReady,
  isSucceeded,
  isTerminating,
  isUnavailable,
  newVersionedPod,
  podPhase,
  repairPod,
  withControllerRef,
  withoutRefTo,
} from './pods.ts';
import { claimIsStale, claimOwnerRefsFor, isClaimOwnerUpToDate, newClaims, resizedClaim } from './claims.ts';
import { podRevision, selectRevisions, truncateHistory } from './revision.ts';

/** The status the controller writes (apps/v1 StatefulSetStatus). */
export interface StatefulSetStatus {
  observedGeneration: number;
  replicas: number;
  readyReplicas: number;
  currentReplicas: number;
  updatedReplicas: number;
  availableReplicas: number;
  currentRevision: string;
  updateRevision: string;
  collisionCount: number;
  /** Carried over unchanged from the set's status (the algorithm sets none). */
  conditions?: unknown[];
}

export interface ControlInput {
  /** The StatefulSet as stored (apps/v1). */
  set: KubeObject;
  /** Pods of the set's namespace: the set's own, orphans it may adopt, and others (ignored). */
  pods: KubeObject[];
  /** PersistentVolumeClaims of the set's namespace (looked up by name). */
  claims: KubeObject[];
  /** ControllerRevisions of the set's namespace (the set's, orphans, others for name clashes). */
  revisions: KubeObject[];
  now: Date;
}

export interface ControlResult {
  /** In the order Kubernetes performs them; see executionWaves() for what may run together. */
  actions: Action[];
  status: StatefulSetStatus;
  /** The status differs from set.status: write it (status subresource). */
  statusChanged: boolean;
  /** Events for the controller's own decisions (the acting layer adds actionEvent() ones). */
  events: ControlEvent[];
  /** Why this round stopped early (OrderedReady waiting on a pod, a stale claim, …), for logs. */
  waiting?: string;
  /** Sync again after this many milliseconds: a ready pod becomes available (minReadySeconds). */
  requeueAfterMs?: number;
}

interface Slot {
  ordinal: number;
  name: string;
  pod?: KubeObject;
}

type ClaimUpdate = Extract<Action, { type: 'updateClaim' }>;

/** Running with a True Ready condition, whatever the PetSet annotation says. */
function readyByCondition(pod: KubeObject): boolean {
  return podPhase(pod) === 'Running' && isPodReady(pod);
}

export function computeActions(input: ControlInput): ControlResult {
  const { set, now } = input;
  const ns = setNamespace(set);
  const setUid = set.metadata.uid;
  const deleting = isBeingDeleted(set);
  const inNamespace = (o: KubeObject) => (o.metadata.namespace ?? ns) === ns;
  const actions: Action[] = [];
  const events: ControlEvent[] = [];

  // --- Which pods are the set's (ClaimPods): owned ones whose name and labels still fit,
  // orphans that fit are adopted, owned ones that no longer fit are released.
  const pods: KubeObject[] = [];
  for (const pod of input.pods) {
    if (!inNamespace(pod)) continue;
    const fits = isMemberOf(set, pod) && selectorMatches(set, pod.metadata.labels);
    const ref = controllerRefOf(pod);
    if (ref) {
      if (ref.uid !== setUid) continue;
      if (fits) pods.push(pod);
      else if (!deleting && pod.metadata.uid) {
        actions.push({ type: 'releasePod', name: pod.metadata.name ?? '', uid: pod.metadata.uid, ownerReferences: withoutRefTo(pod, setUid) });
      }
      continue;
    }
    if (deleting || !fits || isTerminating(pod) || !pod.metadata.uid) continue;
    actions.push({ type: 'adoptPod', name: pod.metadata.name ?? '', uid: pod.metadata.uid, ownerReferences: withControllerRef(pod, set) });
    pods.push(pod);
  }

  // --- Revisions (ListControllerRevisions + AdoptOrphanRevisions + getStatefulSetRevisions).
  const nsRevisions = input.revisions.filter(inNamespace);
  const owned: KubeObject[] = [];
  for (const rev of nsRevisions) {
    if (!selectorMatches(set, rev.metadata.labels)) continue;
    const ref = controllerRefOf(rev);
    if (ref) {
      if (ref.uid === setUid) owned.push(rev);
      continue;
    }
    owned.push(rev);
    if (!deleting && rev.metadata.uid) {
      actions.push({ type: 'adoptRevision', name: rev.metadata.name ?? '', uid: rev.metadata.uid, ownerReferences: withControllerRef(rev, set) });
    }
  }
  const selection = selectRevisions(set, owned, nsRevisions);
  actions.push(...selection.actions);
  const { current, update } = selection;
  const updateName = update.metadata.name ?? '';

  const claimTemplates = claimTemplatesOf(set);
  const claims = new Map<string, KubeObject>();
  for (const c of input.claims) if (inNamespace(c) && c.metadata.name) claims.set(c.metadata.name, c);

  // --- Replicas (by ordinal) and condemned pods (highest ordinal first).
  const start = startOrdinal(set);
  const count = replicasOf(set);
  const replicas: Slot[] = Array.from({ length: count }, (_, i) => ({ ordinal: start + i, name: podName(set, start + i) }));
  const condemned: KubeObject[] = [];
  for (const pod of pods) {
    const ord = ordinalOf(pod);
    if (ord >= start && ord < start + count) replicas[ord - start].pod = pod;
    else if (ord >= 0) condemned.push(pod);
  }
  condemned.sort((a, b) => ordinalOf(b) - ordinalOf(a));

  const minReady = minReadySecondsOf(set);
  const monotonic = podManagementPolicy(set) === 'OrderedReady';
  const rolling = updateStrategyType(set) === 'RollingUpdate';
  const partition = partitionOf(set);
  const deleted = new Set<string>();
  const deletedForUpdate: KubeObject[] = [];
  const claimUpdates = new Map<string, ClaimUpdate>();
  let waiting: string | undefined;

  const deletePod = (pod: KubeObject, reason: DeletePodReason) => {
    const name = pod.metadata.name ?? '';
    actions.push({ type: 'deletePod', name, ordinal: ordinalOf(pod), uid: pod.metadata.uid ?? '', reason });
    deleted.add(name);
  };

  /** Queue a claim update, merging with one already queued for the same claim. */
  const updateClaim = (claim: KubeObject, ordinal: number, reason: 'retention' | 'resize', change: (c: KubeObject) => void) => {
    const name = claim.metadata.name ?? '';
    const queued = claimUpdates.get(name);
    if (queued) {
      change(queued.object);
      if (!queued.reasons.includes(reason)) queued.reasons.push(reason);
      return;
    }
    const object = clone(claim);
    change(object);
    const a: ClaimUpdate = { type: 'updateClaim', name, ordinal, podName: podName(set, ordinal), reasons: [reason], object };
    claimUpdates.set(name, a);
    actions.push(a);
  };

  /** Owner references of the pod's existing claims per the retention policy. */
  const fixRetention = (pod: KubeObject, ordinal: number) => {
    for (const t of claimTemplates) {
      const claim = claims.get(claimName(set, claimTemplateName(t), ordinal));
      if (!claim || isClaimOwnerUpToDate(claim, set, pod)) continue;
      const refs = claimOwnerRefsFor(claim, set, pod);
      updateClaim(claim, ordinal, 'retention', (c) => {
        if (refs.length > 0) c.metadata.ownerReferences = refs;
        else delete c.metadata.ownerReferences;
      });
    }
  };

  const createdClaims = new Set<string>();
  /**
   * Create the ordinal's missing claims (each once per round). Returns the name of a claim that
   * is being deleted (the pod must not start on it), if any.
   */
  const createMissingClaims = (ordinal: number, pod?: KubeObject): string | undefined => {
    let terminating: string | undefined;
    for (const claim of newClaims(set, ordinal, pod)) {
      const name = claim.metadata.name ?? '';
      const existing = claims.get(name);
      if (existing) {
        if (isTerminating(existing)) terminating ??= name;
      } else if (!createdClaims.has(name)) {
        createdClaims.add(name);
        actions.push({ type: 'createClaim', name, ordinal, podName: podName(set, ordinal), object: claim });
      }
    }
    return terminating;
  };

  // (b) Beyond Kubernetes (issue 68737): raise the storage request of bound claims of the set's
  // ordinals to what their template now asks for.
  if (!deleting) {
    for (const slot of replicas) {
      for (const t of claimTemplates) {
        const claim = claims.get(claimName(set, claimTemplateName(t), slot.ordinal));
        const resized = claim && resizedClaim(claim, t);
        if (claim && resized) updateClaim(claim, slot.ordinal, 'resize', (c) => (c.spec = resized.spec));
      }
    }
  }

  /** processReplica: returns why an OrderedReady set must stop here, or undefined. */
  const processReplica = (slot: Slot, index: number): string | undefined => {
    const pod = slot.pod;
    if (pod && (isFailed(pod) || isSucceeded(pod))) {
      if (!isTerminating(pod)) {
        events.push(
          isFailed(pod)
            ? { type: 'Warning', reason: 'RecreatingFailedPod', message: `StatefulSet ${setKey(set)} is recreating failed Pod ${slot.name}` }
            : { type: 'Normal', reason: 'RecreatingTerminatedPod', message: `StatefulSet ${setKey(set)} is recreating terminated Pod ${slot.name}` },
        );
        deletePod(pod, isFailed(pod) ? 'failed' : 'succeeded');
      }
      // The pod is created again, with the same name, once the deletion has gone through.
      return `waiting for ${isFailed(pod) ? 'failed' : 'terminated'} Pod ${slot.name} to be deleted and recreated`;
    }

    if (!pod) {
      const stub: KubeObject = { apiVersion: 'v1', kind: 'Pod', metadata: { name: slot.name, namespace: ns } };
      for (const t of claimTemplates) {
        const claim = claims.get(claimName(set, claimTemplateName(t), slot.ordinal));
        if (claim && claimIsStale(set, claim, stub)) {
          return `waiting for claim ${claim.metadata.name} of an earlier Pod ${slot.name} to be deleted`;
        }
      }
      const terminating = createMissingClaims(slot.ordinal);
      if (terminating) {
        events.push({
          type: 'Warning',
          reason: 'FailedCreate',
          message: `create Pod ${slot.name} in StatefulSet ${setName(set)} failed error: pvc ${terminating} is being deleted`,
        });
        return `waiting for claim ${terminating} to finish terminating`;
      }
      fixRetention(stub, slot.ordinal);
      const created = newVersionedPod(set, current, update, slot.ordinal);
      actions.push({ type: 'createPod', name: slot.name, ordinal: slot.ordinal, revision: podRevision(created), object: created });
      return monotonic ? `waiting for Pod ${slot.name} to be Running and Ready` : undefined;
    }

    if (isPending(pod)) {
      const terminating = createMissingClaims(slot.ordinal, pod);
      if (terminating) return `waiting for claim ${terminating} to finish terminating`;
      fixRetention(pod, slot.ordinal);
    }

    if (isTerminating(pod) && monotonic) return `waiting for Pod ${slot.name} to terminate`;

    // (a) Beyond Kubernetes (issue 67250): Kubernetes waits here forever for a pod of a broken
    // template. A pod that should move to the update revision and is not Running and Ready is
    // replaced at the update revision instead (its Ready condition decides, not the PetSet
    // annotation, so a pod deliberately held by that annotation is not replaced).
    if (monotonic && rolling && index >= partition && !isTerminating(pod) && podRevision(pod) !== updateName && !readyByCondition(pod)) {
      events.push({
        type: 'Warning',
        reason: 'RecreatingUnreadyPod',
        message: `StatefulSet ${setKey(set)} is recreating Pod ${slot.name}, which is not ready, at update revision ${updateName}`,
      });
      deletePod(pod, 'outdated-unready');
      return `waiting for Pod ${slot.name} to be recreated at revision ${updateName}`;
    }

    if (monotonic && !isRunningAndReady(pod)) {
      return heldByInitAnnotation(pod)
        ? `waiting for Pod ${slot.name}: annotation pod.alpha.kubernetes.io/initialized is "false"`
        : `waiting for Pod ${slot.name} to be Running and Ready`;
    }
    if (monotonic && !isRunningAndAvailable(pod, minReady, now)) {
      return `waiting for Pod ${slot.name} to be available (minReadySeconds ${minReady})`;
    }

    fixRetention(pod, slot.ordinal);
    const repair = repairPod(set, pod);
    if (repair) {
      if (repair.repairs.includes('storage')) createMissingClaims(slot.ordinal, pod);
      actions.push({ type: 'updatePod', name: slot.name, ordinal: slot.ordinal, repairs: repair.repairs, object: repair.pod });
    }
    return undefined;
  };

  let blocked = deleting;
  if (!deleting) {
    for (let i = 0; i < replicas.length; i++) {
      const why = processReplica(replicas[i], i);
      if (why !== undefined && monotonic) {
        blocked = true;
        waiting = why;
        break;
      }
    }
  }

  // --- Scale down: condemned pods' claims first get the owners the retention policy wants
  // (e.g. the pod, for whenScaled: Delete), then the pods go, highest ordinal first.
  if (!blocked) {
    for (const pod of condemned) fixRetention(pod, ordinalOf(pod));
    let firstUnavailable: string | undefined;
    for (const slot of replicas) {
      if (!slot.pod || deleted.has(slot.name) || isUnavailable(slot.pod, minReady, now)) {
        firstUnavailable = slot.name;
        break;
      }
    }
    for (let i = condemned.length - 1; i >= 0 && firstUnavailable === undefined; i--) {
      if (isUnavailable(condemned[i], minReady, now)) firstUnavailable = condemned[i].metadata.name;
    }
    for (const pod of condemned) {
      const name = pod.metadata.name ?? '';
      if (isTerminating(pod)) {
        if (!monotonic) continue;
        blocked = true;
        waiting = `waiting for Pod ${name} to terminate before scaling down further`;
        break;
      }
      if (monotonic && name !== firstUnavailable && !isRunningAndAvailable(pod, minReady, now)) {
        blocked = true;
        waiting = `waiting for Pod ${firstUnavailable} to be Running and Ready before scaling down ${name}`;
        break;
      }
      deletePod(pod, 'condemned');
      if (monotonic) {
        blocked = true;
        waiting = `scaling down: deleting Pod ${name}`;
        break;
      }
    }
  }

  // --- Rolling update, from the highest ordinal down to the partition.
  if (!blocked && rolling) {
    const maxUnavailable = maxUnavailableOf(set);
    let unavailable = 0;
    for (const slot of replicas) {
      if (!slot.pod || deleted.has(slot.name) || isUnavailable(slot.pod, minReady, now)) unavailable++;
    }
    let budget = maxUnavailable - unavailable;
    let outdatedLeft = 0;
    for (let index = replicas.length - 1; index >= partition; index--) {
      const pod = replicas[index].pod;
      if (!pod || deleted.has(replicas[index].name) || isTerminating(pod) || podRevision(pod) === updateName) continue;
      if (!readyByCondition(pod)) {
        // (a) for Parallel sets: an outdated pod that is not ready costs no availability to
        // replace, so it does not wait for (or use up) maxUnavailable.
        events.push({
          type: 'Warning',
          reason: 'RecreatingUnreadyPod',
          message: `StatefulSet ${setKey(set)} is recreating Pod ${replicas[index].name}, which is not ready, at update revision ${updateName}`,
        });
        deletePod(pod, 'outdated-unready');
        deletedForUpdate.push(pod);
      } else if (budget > 0) {
        deletePod(pod, 'update');
        deletedForUpdate.push(pod);
        budget--;
      } else outdatedLeft++;
    }
    if (outdatedLeft > 0 && deletedForUpdate.length === 0) {
      waiting = `rolling update: ${unavailable} Pod(s) unavailable (maxUnavailable ${maxUnavailable}), ${outdatedLeft} Pod(s) left to update`;
    }
  }

  // --- History limit.
  actions.push(...truncateHistory(set, owned, pods, current, update));

  // --- Status.
  const status = computeStatus(set, [...replicas.flatMap((s) => (s.pod ? [s.pod] : [])), ...condemned], minReady, now, current, update);
  status.collisionCount = selection.collisionCount;
  for (const pod of deletedForUpdate) {
    if (isCreated(pod) && podRevision(pod) === status.currentRevision) status.currentReplicas--;
  }
  const specReplicas = replicasOf(set);
  if (status.updatedReplicas === specReplicas && status.readyReplicas === specReplicas && status.replicas === specReplicas) {
    status.currentRevision = status.updateRevision;
    status.currentReplicas = status.updatedReplicas;
  }
  const old = asRecord(set.status);
  if (Array.isArray(old.conditions)) status.conditions = old.conditions;

  const result: ControlResult = { actions, status, statusChanged: statusDiffers(old, status), events };
  if (waiting !== undefined) result.waiting = waiting;
  if (minReady > 0) {
    let soonest: number | undefined;
    for (const pod of pods) {
      const at = availableAt(pod, minReady);
      if (at === undefined || isRunningAndAvailable(pod, minReady, now)) continue;
      const wait = Math.max(1, at - now.getTime() + 1);
      soonest = soonest === undefined ? wait : Math.min(soonest, wait);
    }
    if (soonest !== undefined) result.requeueAfterMs = soonest;
  }
  return result;
}

/** Counts over the set's pods (computeReplicaStatus), before completion of a rollout. */
export function computeStatus(
  set: KubeObject,
  pods: KubeObject[],
  minReadySeconds: number,
  now: Date,
  current: KubeObject,
  update: KubeObject,
): StatefulSetStatus {
  const status: StatefulSetStatus = {
    observedGeneration: typeof set.metadata.generation === 'number' ? set.metadata.generation : 0,
    replicas: 0,
    readyReplicas: 0,
    currentReplicas: 0,
    updatedReplicas: 0,
    availableReplicas: 0,
    currentRevision: current.metadata.name ?? '',
    updateRevision: update.metadata.name ?? '',
    collisionCount: 0,
  };
  for (const pod of pods) {
    if (isCreated(pod)) status.replicas++;
    if (isRunningAndReady(pod)) {
      status.readyReplicas++;
      if (isRunningAndAvailable(pod, minReadySeconds, now)) status.availableReplicas++;
    }
    if (isCreated(pod) && !isTerminating(pod)) {
      const rev = podRevision(pod);
      if (rev === status.currentRevision) status.currentReplicas++;
      if (rev === status.updateRevision) status.updatedReplicas++;
    }
  }
  return status;
}

const STATUS_FIELDS = [
  'observedGeneration',
  'replicas',
  'readyReplicas',
  'currentReplicas',
  'updatedReplicas',
  'availableReplicas',
  'currentRevision',
  'updateRevision',
  'collisionCount',
] as const;

/** Whether the computed status differs from the stored one in any field the controller owns. */
export function statusDiffers(old: Record<string, unknown>, status: StatefulSetStatus): boolean {
  return STATUS_FIELDS.some((f) => {
    const was = old[f];
    const now = status[f];
    if (typeof now === 'number') return (typeof was === 'number' ? was : 0) !== now;
    return (typeof was === 'string' ? was : '') !== now;
  });
}
