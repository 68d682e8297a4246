// What the DaemonSet control algorithm asks the acting layer to do, the order it is done in,
// and the Events Kubernetes records for each outcome (controller.RealPodControl wording:
// SuccessfulCreate "Created pod: fluentd-x7k2q", FailedCreate "Error creating: …",
// SuccessfulDelete "Deleted pod: …", FailedDelete "Error deleting: …").
import type { KubeObject, OwnerReference } from '../../registry/types.ts';
import type { ActionError } from '../common/errors.ts';

/** Why a pod is deleted. */
export type DeletePodReason =
  /** phase Failed on a node that should run the set (recreated once it is gone) */
  | 'failed'
  /** phase Succeeded on a node that should run the set (recreated once it is gone) */
  | 'succeeded'
  /** more than one pod on a node: all but the first (comparePods) go */
  | 'excess'
  /** on a node that should not run the set (selector, affinity, NoExecute taint, template nodeName) */
  | 'misscheduled'
  /** not yet bound and pinned to a node that does not exist */
  | 'node-gone'
  /** rolling update: an old pod taken down within maxUnavailable (or replaced by an available
   *  new pod when surging) */
  | 'update';

export type PodOwnerAction =
  /** Patch the object's metadata.ownerReferences (adds the set's controller reference), uid as
   *  precondition: an orphan the set's selector matches. */
  | { type: 'adoptPod' | 'adoptRevision'; name: string; uid: string; ownerReferences: OwnerReference[] }
  /** Patch the object's metadata.ownerReferences (drops the set's): its labels no longer match. */
  | { type: 'releasePod' | 'releaseRevision'; name: string; uid: string; ownerReferences: OwnerReference[] };

export type RevisionAction =
  /** Create the ControllerRevision `object` (the set's template as it is now). */
  | { type: 'createRevision'; name: string; object: KubeObject }
  /** Update (PUT) the revision to `object`: a new revision number (the template went back to
   *  it: rollout undo) and/or the controller-revision-hash label it lacked. */
  | { type: 'updateRevision'; name: string; object: KubeObject; reasons: Array<'renumber' | 'label'> }
  /** Delete the revision (uid precondition): a duplicate of the current one, or history beyond
   *  revisionHistoryLimit. NotFound is success. */
  | { type: 'deleteRevision'; name: string; uid?: string; reason: 'duplicate' | 'history' };

export type DaemonSetAction =
  | PodOwnerAction
  | RevisionAction
  /** Patch the pod's controller-revision-hash label to `hash` (its revision was a duplicate). */
  | { type: 'relabelPod'; name: string; uid: string; hash: string }
  /** Create `object` (generateName `<set>-`) pinned to `node`. */
  | { type: 'createPod'; node: string; object: KubeObject }
  /** Delete the pod (default grace period) with preconditions.uid = uid. NotFound is success. */
  | { type: 'deletePod'; name: string; uid: string; node: string; reason: DeletePodReason };

export type DaemonSetActionType = DaemonSetAction['type'];

export interface ControlEvent {
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
}

/** A one-line description of an action, for logs and tests: `createPod @node-1`. */
export function describeAction(a: DaemonSetAction): string {
  switch (a.type) {
    case 'createPod':
      return `createPod @${a.node}`;
    case 'deletePod':
      return `deletePod ${a.name}@${a.node} (${a.reason})`;
    case 'updateRevision':
      return `updateRevision ${a.name} (${a.reasons.join('+')}) -> ${String(a.object.revision)}`;
    case 'deleteRevision':
      return `deleteRevision ${a.name} (${a.reason})`;
    case 'relabelPod':
      return `relabelPod ${a.name} -> ${a.hash}`;
    default:
      return `${a.type} ${a.name}`;
  }
}

/**
 * The order of a round, as syncDaemonSet does it: revisions (adopt, create, renumber) and pod
 * ownership (adopt, release, relabel) first; then pod creations; then pod deletions; deleting
 * revisions (duplicates, history beyond the limit) last. Each phase's actions may run concurrently (creations in slow-start batches); a phase in
 * which anything failed ends the round.
 */
export type Phase = 'revisions' | 'ownership' | 'create' | 'delete' | 'history';

export function phaseOf(a: DaemonSetAction): Phase {
  switch (a.type) {
    case 'adoptRevision':
    case 'releaseRevision':
    case 'createRevision':
    case 'updateRevision':
      return 'revisions';
    case 'deleteRevision':
      return 'history';
    case 'adoptPod':
    case 'releasePod':
    case 'relabelPod':
      return 'ownership';
    case 'createPod':
      return 'create';
    case 'deletePod':
      return 'delete';
  }
}

export const PHASES: readonly Phase[] = ['revisions', 'ownership', 'create', 'delete', 'history'];

/** Actions grouped by phase, in PHASES order, empty phases left out. */
export function executionPhases(actions: DaemonSetAction[]): { phase: Phase; actions: DaemonSetAction[] }[] {
  return PHASES.map((phase) => ({ phase, actions: actions.filter((a) => phaseOf(a) === phase) })).filter((p) => p.actions.length > 0);
}

/** An API error as the acting layer saw it (its message and Kubernetes Status reason). */
export type { ActionError };

/**
 * The Event Kubernetes records for the outcome of a pod action (RealPodControl), undefined when
 * it records none (revisions, ownership, relabelling, NotFound on delete). `createdName` is the
 * name the API server generated for a created pod.
 */
export function actionEvent(action: DaemonSetAction, error?: ActionError, createdName?: string): ControlEvent | undefined {
  switch (action.type) {
    case 'createPod':
      if (error) return { type: 'Warning', reason: 'FailedCreate', message: `Error creating: ${error.message}` };
      return { type: 'Normal', reason: 'SuccessfulCreate', message: `Created pod: ${createdName ?? action.object.metadata.name ?? ''}` };
    case 'deletePod':
      if (error?.reason === 'NotFound') return undefined;
      if (error) return { type: 'Warning', reason: 'FailedDelete', message: `Error deleting: ${error.message}` };
      return { type: 'Normal', reason: 'SuccessfulDelete', message: `Deleted pod: ${action.name}` };
    default:
      return undefined;
  }
}
