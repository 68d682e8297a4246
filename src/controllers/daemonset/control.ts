// The DaemonSet control algorithm as a pure function: (set, nodes, pods, revisions, now,
// failed-pod back-off) → the actions that move the cluster one step towards the set's spec, the
// status to write, the Events Kubernetes records for its own decisions, and when to look again.
// No I/O, no clock.
//
// Semantics follow Kubernetes v1.32 pkg/controller/daemon (syncDaemonSet, manage,
// podsShouldBeOnNode, rollingUpdate, updateDaemonSetStatus):
// - A set selecting everything ({} selector) gets a Warning SelectingAll and nothing else; a set
//   being deleted gets nothing (not even status).
// - Pods: the set's own (controller reference with its uid) whose labels its selector matches;
//   orphans it matches are adopted, own pods it no longer matches are released. Each pod belongs
//   to the node it is bound to, or (not yet bound) the node its required node affinity pins.
// - Revisions: see history.ts. New pods carry the current revision's hash.
// - Per node (nodes being deleted are skipped), with NodeShouldRunDaemonPod (nodes.ts):
//   · should run and has no pod → create one pinned to it;
//   · may keep its pod → delete Failed pods (Warning FailedDaemonPod, at most once per back-off
//     window per node: 1 s doubling to 15 min) and Succeeded ones (Normal SucceededDaemonPod);
//     of several live pods keep the first (comparePods) — when surging, keep the first pod at
//     the current revision and the first older one, and drop the older one once it is not
//     ready or the new one is available;
//   · may not keep its pod (selector, affinity, untolerated NoExecute taint) → delete them all.
//   Unbound pods pinned to nodes that do not exist are deleted.
// - Only when that leaves nothing to create or delete (Kubernetes' expectations), RollingUpdate:
//   · maxSurge 0: delete old pods, first those not available, then available ones while the
//     count of unavailable nodes stays within maxUnavailable (scaled to desiredNumberScheduled,
//     rounded up); the loop above recreates them at the new revision;
//   · maxSurge > 0: create a new pod next to an old one — at once where the old one is not
//     available, otherwise for at most maxSurge nodes at a time — and delete the old pod once the
//     new one is available (minReadySeconds).
//   OnDelete: pods are replaced only when the user deletes them.
// - History beyond revisionHistoryLimit is trimmed.
// - Status (about the pods as they are at the start of the round): desiredNumberScheduled
//   (nodes that should run the pod), currentNumberScheduled (of those, nodes with a pod),
//   numberReady / numberAvailable / updatedNumberScheduled (their first pod ready, available,
//   at the current revision), numberUnavailable = desired − available, numberMisscheduled
//   (nodes with a pod that should not run one), observedGeneration, collisionCount.
// - Sync again when a ready pod becomes available (minReadySeconds) or a back-off ends.
import type { KubeObject } from '../../registry/types.ts';
import { asRecord } from '../../registry/validation.ts';
import { actionEvent, type ControlEvent, type DaemonSetAction, type DeletePodReason } from './actions.ts';
import {
  REVISION_HASH_LABEL,
  allowsSurge,
  controllerRefOf,
  dsNamespace,
  generationOf,
  isBeingDeleted,
  isControlledBy,
  minReadySecondsOf,
  selectorMatches,
  selectsEverything,
  templateGenerationOf,
  templateSpecOf,
  updateBudget,
  updateStrategyOf,
  withControllerRef,
  withoutRefTo,
} from './daemonset.ts';
import { cleanupHistory, constructHistory } from './history.ts';
import { liveNodes, nodeVerdict, targetNodeName, withDaemonTolerations, type NodeVerdict } from './nodes.ts';
import { availableAt, isPodAvailable, isPodReady, isPodUpdated, isScheduled, isTerminating, newDaemonPod, podPhase, sortPods } from './pods.ts';

export { actionEvent };

/** apps/v1 DaemonSetStatus as the controller writes it. */
export interface DaemonSetStatus {
  observedGeneration: number;
  desiredNumberScheduled: number;
  currentNumberScheduled: number;
  numberReady: number;
  numberAvailable: number;
  numberUnavailable: number;
  updatedNumberScheduled: number;
  numberMisscheduled: number;
  /** Present once the set has had a revision name collision. */
  collisionCount?: number;
  /** Carried over unchanged (the controller sets none). */
  conditions?: unknown[];
}

/** Failed-pod deletion back-off of one node (flowcontrol.Backoff entry). */
export interface BackoffEntry {
  /** The current back-off window. */
  delayMs: number;
  /** When the last failed pod was deleted (ms since the epoch). */
  lastUpdateMs: number;
}

/** Back-off per node name, for one set and one observed generation. */
export type FailedPodBackoff = Record<string, BackoffEntry>;

export const BACKOFF_INITIAL_MS = 1_000;
export const BACKOFF_MAX_MS = 15 * 60_000;

export interface DaemonSetControlInput {
  /** The DaemonSet as stored (apps/v1). */
  ds: KubeObject;
  /** Every node of the cluster. */
  nodes: KubeObject[];
  /** Pods of the set's namespace: the set's own, orphans it may adopt, and others (ignored). */
  pods: KubeObject[];
  /** ControllerRevisions of the set's namespace (the set's, orphans, others for name clashes). */
  revisions: KubeObject[];
  now: Date;
  /** The failed-pod back-off state the previous rounds returned (empty at first). */
  backoff?: FailedPodBackoff;
}

export interface DaemonSetControlResult {
  /** Grouped and ordered by executionPhases() in the acting layer. */
  actions: DaemonSetAction[];
  status: DaemonSetStatus;
  /** The status differs from ds.status: write it (status subresource). */
  statusChanged: boolean;
  /** Events for the controller's own decisions (the acting layer adds actionEvent() ones). */
  events: ControlEvent[];
  /** Sync again after this many milliseconds (a pod becomes available, a back-off ends). */
  requeueAfterMs?: number;
  /** The failed-pod back-off state to pass to the next round. */
  backoff: FailedPodBackoff;
  /** The hash of the current revision ('' when the set was not processed). */
  hash: string;
}

/** What the algorithm found about one node, for status and the update loop. */
interface NodePlan {
  name: string;
  verdict: NodeVerdict;
  pods: KubeObject[];
}

function statusOf(ds: KubeObject): Record<string, unknown> {
  return asRecord(ds.status);
}

function sameStatus(ds: KubeObject, s: DaemonSetStatus): boolean {
  const cur = statusOf(ds);
  const keys: (keyof DaemonSetStatus)[] = [
    'desiredNumberScheduled',
    'currentNumberScheduled',
    'numberReady',
    'numberAvailable',
    'numberUnavailable',
    'updatedNumberScheduled',
    'numberMisscheduled',
  ];
  for (const k of keys) if ((cur[k] ?? 0) !== s[k]) return false;
  if (s.collisionCount !== undefined && cur.collisionCount !== s.collisionCount) return false;
  const observed = typeof cur.observedGeneration === 'number' ? cur.observedGeneration : 0;
  return observed >= s.observedGeneration;
}

function inBackoff(entry: BackoffEntry | undefined, now: number): boolean {
  if (!entry) return false;
  if (now - entry.lastUpdateMs > 2 * BACKOFF_MAX_MS) return false; // expired: treated as fresh
  return now - entry.lastUpdateMs < entry.delayMs;
}

function nextBackoff(entry: BackoffEntry | undefined, now: number): BackoffEntry {
  if (!entry || now - entry.lastUpdateMs > 2 * BACKOFF_MAX_MS) return { delayMs: BACKOFF_INITIAL_MS, lastUpdateMs: now };
  return { delayMs: Math.min(entry.delayMs * 2, BACKOFF_MAX_MS), lastUpdateMs: now };
}

export function computeDaemonSetActions(input: DaemonSetControlInput): DaemonSetControlResult {
  const { ds, now } = input;
  const nowMs = now.getTime();
  const actions: DaemonSetAction[] = [];
  const events: ControlEvent[] = [];
  const backoff: FailedPodBackoff = { ...(input.backoff ?? {}) };
  const previous = statusOf(ds);
  const carried: DaemonSetStatus = {
    observedGeneration: typeof previous.observedGeneration === 'number' ? previous.observedGeneration : 0,
    desiredNumberScheduled: Number(previous.desiredNumberScheduled ?? 0),
    currentNumberScheduled: Number(previous.currentNumberScheduled ?? 0),
    numberReady: Number(previous.numberReady ?? 0),
    numberAvailable: Number(previous.numberAvailable ?? 0),
    numberUnavailable: Number(previous.numberUnavailable ?? 0),
    updatedNumberScheduled: Number(previous.updatedNumberScheduled ?? 0),
    numberMisscheduled: Number(previous.numberMisscheduled ?? 0),
  };
  const untouched = (): DaemonSetControlResult => ({ actions, status: carried, statusChanged: false, events, backoff, hash: '' });

  if (selectsEverything(ds)) {
    events.push({ type: 'Warning', reason: 'SelectingAll', message: 'This daemon set is selecting all pods. A non-empty selector is required.' });
    return untouched();
  }
  if (isBeingDeleted(ds)) return untouched();

  const namespace = dsNamespace(ds);
  const minReady = minReadySecondsOf(ds);
  const generation = templateGenerationOf(ds);

  // -- claim pods (ClaimPods): own + adopted orphans; release own pods the selector dropped
  const claimed: KubeObject[] = [];
  for (const pod of input.pods) {
    if ((pod.metadata.namespace ?? namespace) !== namespace) continue;
    const labels = pod.metadata.labels;
    const ref = controllerRefOf(pod);
    if (ref) {
      if (!isControlledBy(pod, ds)) continue;
      if (selectorMatches(ds, labels)) claimed.push(pod);
      else if (pod.metadata.uid) actions.push({ type: 'releasePod', name: pod.metadata.name ?? '', uid: pod.metadata.uid, ownerReferences: withoutRefTo(pod, ds) });
      continue;
    }
    if (isTerminating(pod) || !selectorMatches(ds, labels) || !pod.metadata.uid) continue;
    actions.push({ type: 'adoptPod', name: pod.metadata.name ?? '', uid: pod.metadata.uid, ownerReferences: withControllerRef(pod, ds) });
    claimed.push(pod);
  }

  // -- claim revisions
  const owned: KubeObject[] = [];
  for (const rev of input.revisions) {
    if ((rev.metadata.namespace ?? namespace) !== namespace) continue;
    const ref = controllerRefOf(rev);
    if (ref) {
      if (!isControlledBy(rev, ds)) continue;
      if (selectorMatches(ds, rev.metadata.labels)) owned.push(rev);
      else if (rev.metadata.uid) actions.push({ type: 'releaseRevision', name: rev.metadata.name ?? '', uid: rev.metadata.uid, ownerReferences: withoutRefTo(rev, ds) });
      continue;
    }
    if (isBeingDeleted(rev) || !selectorMatches(ds, rev.metadata.labels) || !rev.metadata.uid) continue;
    actions.push({ type: 'adoptRevision', name: rev.metadata.name ?? '', uid: rev.metadata.uid, ownerReferences: withControllerRef(rev, ds) });
    owned.push(rev);
  }
  const history = constructHistory(ds, owned, input.revisions, claimed);
  actions.push(...history.actions);
  const hash = history.hash;

  // -- group pods by node
  const byNode = new Map<string, KubeObject[]>();
  for (const pod of claimed) {
    const node = targetNodeName(pod);
    if (node === undefined) continue;
    let list = byNode.get(node);
    if (!list) byNode.set(node, (list = []));
    list.push(pod);
  }
  const nodes = liveNodes(input.nodes).sort((a, b) => ((a.metadata.name ?? '') < (b.metadata.name ?? '') ? -1 : 1));
  const podSpec = templateSpecOf(ds);
  const tolerations = withDaemonTolerations(podSpec);
  const plans: NodePlan[] = nodes.map((n) => ({ name: n.metadata.name ?? '', verdict: nodeVerdict(podSpec, n, tolerations), pods: sortPods(byNode.get(n.metadata.name ?? '') ?? []) }));
  const planOf = new Map(plans.map((p) => [p.name, p]));

  // -- manage
  let requeue: number | undefined;
  const requeueIn = (ms: number): void => {
    const v = Math.max(1, Math.ceil(ms));
    requeue = requeue === undefined ? v : Math.min(requeue, v);
  };
  const podActions: DaemonSetAction[] = [];
  const create = (node: string): void => {
    podActions.push({ type: 'createPod', node, object: newDaemonPod(ds, node, hash) });
  };
  const remove = (pod: KubeObject, node: string, reason: DeletePodReason): void => {
    podActions.push({ type: 'deletePod', name: pod.metadata.name ?? '', uid: pod.metadata.uid ?? '', node, reason });
  };
  const surge = allowsSurge(ds);

  for (const plan of plans) {
    const { shouldRun, shouldContinueRunning } = plan.verdict;
    const exists = plan.pods.length > 0;
    if (shouldRun && !exists) {
      create(plan.name);
    } else if (shouldContinueRunning) {
      const running: KubeObject[] = [];
      for (const pod of plan.pods) {
        if (isTerminating(pod)) continue;
        const phase = podPhase(pod);
        if (phase === 'Failed') {
          const entry = backoff[plan.name];
          if (inBackoff(entry, nowMs)) {
            requeueIn(entry.lastUpdateMs + entry.delayMs - nowMs);
            continue;
          }
          backoff[plan.name] = nextBackoff(entry, nowMs);
          events.push({
            type: 'Warning',
            reason: 'FailedDaemonPod',
            message: `Found failed daemon pod ${namespace}/${pod.metadata.name ?? ''} on node ${plan.name}, will try to kill it`,
          });
          remove(pod, plan.name, 'failed');
        } else if (phase === 'Succeeded') {
          events.push({
            type: 'Normal',
            reason: 'SucceededDaemonPod',
            message: `Found succeeded daemon pod ${namespace}/${pod.metadata.name ?? ''} on node ${plan.name}, will try to delete it`,
          });
          remove(pod, plan.name, 'succeeded');
        } else running.push(pod);
      }
      if (!surge) {
        for (const extra of running.slice(1)) remove(extra, plan.name, 'excess');
      } else if (running.length === 0) {
        // Surging: a node that should run the set needs one pod that is not going away.
        if (shouldRun) create(plan.name);
      } else if (running.length > 1) {
        // Keep the first pod at the current revision and the first older one; drop the older
        // one once it is not ready or the new one is available.
        let newest: KubeObject | undefined;
        let oldest: KubeObject | undefined;
        for (const pod of running) {
          const current = pod.metadata.labels?.[REVISION_HASH_LABEL] === hash;
          if (current && !newest) newest = pod;
          else if (!current && !oldest) oldest = pod;
          else remove(pod, plan.name, 'excess');
        }
        if (newest && oldest) {
          if (!isPodReady(oldest)) remove(oldest, plan.name, 'update');
          else if (isPodAvailable(newest, minReady, now)) remove(oldest, plan.name, 'update');
        }
      }
    } else if (exists) {
      for (const pod of plan.pods) if (!isTerminating(pod)) remove(pod, plan.name, 'misscheduled');
    }
  }
  // Unbound pods pinned to nodes that do not exist (nothing else would ever delete them).
  for (const [node, pods] of [...byNode.entries()].sort(([a], [b]) => (a < b ? -1 : 1))) {
    if (planOf.has(node)) continue;
    for (const pod of pods) if (!isScheduled(pod) && !isTerminating(pod)) remove(pod, node, 'node-gone');
  }

  // -- rolling update, once nothing else is in flight
  if (podActions.length === 0 && updateStrategyOf(ds) === 'RollingUpdate') {
    podActions.push(...rollingUpdate(ds, plans, byNode, hash, generation, now));
  }
  actions.push(...podActions);
  actions.push(...cleanupHistory(ds, history.old, claimed));

  // -- status
  let desired = 0;
  let current = 0;
  let ready = 0;
  let available = 0;
  let updated = 0;
  let misscheduled = 0;
  for (const plan of plans) {
    const scheduled = plan.pods.length > 0;
    if (!plan.verdict.shouldRun) {
      if (scheduled) misscheduled++;
      continue;
    }
    desired++;
    if (!scheduled) continue;
    current++;
    const pod = plan.pods[0];
    if (isPodReady(pod)) {
      ready++;
      if (isPodAvailable(pod, minReady, now)) available++;
    }
    if (isPodUpdated(pod, hash, generation)) updated++;
  }
  // A ready pod not yet available because of minReadySeconds makes the set look again then.
  for (const pods of byNode.values()) {
    for (const pod of pods) {
      if (!isPodReady(pod) || isPodAvailable(pod, minReady, now)) continue;
      const at = availableAt(pod, minReady);
      if (at !== undefined) requeueIn(at - nowMs + 1);
    }
  }
  const status: DaemonSetStatus = {
    observedGeneration: generationOf(ds),
    desiredNumberScheduled: desired,
    currentNumberScheduled: current,
    numberReady: ready,
    numberAvailable: available,
    numberUnavailable: desired - available,
    updatedNumberScheduled: updated,
    numberMisscheduled: misscheduled,
  };
  if (history.collisionCount !== undefined) status.collisionCount = history.collisionCount;
  if (Array.isArray(previous.conditions)) status.conditions = previous.conditions;

  const result: DaemonSetControlResult = { actions, status, statusChanged: !sameStatus(ds, status), events, backoff, hash };
  if (requeue !== undefined) result.requeueAfterMs = requeue;
  return result;
}

/**
 * rollingUpdate for the nodes that should run the set and the nodes that have its pods, in
 * node-name order. Returns pod creations (surge) and deletions.
 */
function rollingUpdate(
  ds: KubeObject,
  plans: NodePlan[],
  byNode: Map<string, KubeObject[]>,
  hash: string,
  generation: number | undefined,
  now: Date,
): DaemonSetAction[] {
  const minReady = minReadySecondsOf(ds);
  const desired = plans.filter((p) => p.verdict.shouldRun).length;
  const { maxSurge, maxUnavailable } = updateBudget(ds, desired);
  const verdictOf = new Map(plans.map((p) => [p.name, p.verdict]));
  // Nodes with pods, plus nodes that should run the set (updatedDesiredNodeCounts).
  const names = new Set<string>(byNode.keys());
  for (const p of plans) if (p.verdict.shouldRun) names.add(p.name);
  const nodeNames = [...names].sort();
  const available = (pod: KubeObject): boolean => isPodAvailable(pod, minReady, now);
  const out: DaemonSetAction[] = [];
  const del = (pod: KubeObject, node: string): void => {
    out.push({ type: 'deletePod', name: pod.metadata.name ?? '', uid: pod.metadata.uid ?? '', node, reason: 'update' });
  };

  /** findUpdatedPodsOnNode: at most one live pod at the current revision and one older one. */
  const split = (pods: KubeObject[]): { newPod?: KubeObject; oldPod?: KubeObject; ok: boolean } => {
    let newPod: KubeObject | undefined;
    let oldPod: KubeObject | undefined;
    for (const pod of pods) {
      if (isTerminating(pod)) continue;
      if (isPodUpdated(pod, hash, generation)) {
        if (newPod) return { ok: false };
        newPod = pod;
      } else {
        if (oldPod) return { ok: false };
        oldPod = pod;
      }
    }
    return { newPod, oldPod, ok: true };
  };

  if (maxSurge === 0) {
    let numUnavailable = 0;
    const replacements: [KubeObject, string][] = [];
    const candidates: [KubeObject, string][] = [];
    for (const node of nodeNames) {
      const { newPod, oldPod, ok } = split(byNode.get(node) ?? []);
      if (!ok) {
        numUnavailable++; // the manage loop prunes the excess first
        continue;
      }
      if ((!oldPod && !newPod) || (oldPod && newPod)) {
        numUnavailable++; // the manage loop creates or deletes here
      } else if (newPod) {
        if (!available(newPod)) numUnavailable++;
      } else if (oldPod) {
        if (!available(oldPod)) {
          replacements.push([oldPod, node]); // already down: replace it at once
          numUnavailable++;
        } else if (numUnavailable < maxUnavailable) {
          candidates.push([oldPod, node]);
        }
      }
    }
    const room = Math.min(Math.max(0, maxUnavailable - numUnavailable), candidates.length);
    for (const [pod, node] of [...replacements, ...candidates.slice(0, room)]) del(pod, node);
    return out;
  }

  let numSurge = 0;
  let numAvailable = 0;
  const allowedNew: string[] = [];
  const candidateNew: string[] = [];
  const sunset: [KubeObject, string][] = [];
  for (const node of nodeNames) {
    const { newPod, oldPod, ok } = split(byNode.get(node) ?? []);
    if (!ok) {
      numSurge++;
      continue;
    }
    if (oldPod) {
      if (available(oldPod)) numAvailable++;
    } else if (newPod && available(newPod)) numAvailable++;
    if (!oldPod) continue; // nothing to update here; the manage loop creates if needed
    const shouldRun = verdictOf.get(node)?.shouldRun ?? false;
    if (!newPod) {
      if (!available(oldPod)) {
        if (!shouldRun) del(oldPod, node);
        else allowedNew.push(node);
      } else if (!shouldRun) {
        sunset.push([oldPod, node]);
      } else if (numSurge < maxSurge) {
        candidateNew.push(node);
      }
    } else if (!available(newPod)) {
      numSurge++; // waiting for the new pod
    } else {
      del(oldPod, node); // the new pod is available: the old one goes
    }
  }
  // Old pods on nodes that no longer should run the set go only while enough pods elsewhere
  // are available (with maxSurge the owner expects no loss of availability).
  const deletable = Math.min(numAvailable - desired, sunset.length);
  for (const [pod, node] of sunset.slice(0, Math.max(0, deletable))) del(pod, node);
  const room = Math.min(Math.max(0, maxSurge - numSurge), candidateNew.length);
  for (const node of [...allowedNew, ...candidateNew.slice(0, room)]) {
    out.push({ type: 'createPod', node, object: newDaemonPod(ds, node, hash) });
  }
  return out;
}
