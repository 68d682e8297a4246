// What the ReplicaSet control algorithm asks the acting layer to do, in what order, and the
// Events Kubernetes records for each outcome (controller.RealPodControl wording:
// SuccessfulCreate "Created pod: web-x7k2q", FailedCreate "Error creating: …",
// SuccessfulDelete "Deleted pod: …", FailedDelete "Error deleting: …").
import type { KubeObject, OwnerReference } from '../../registry/types.ts';
import type { ActionError } from '../common/errors.ts';

export type ReplicaSetAction =
  /** Patch the pod's metadata.ownerReferences to `ownerReferences` (uid as precondition):
   *  adopt an orphan the selector matches, or release an own pod it no longer matches. */
  | { type: 'adoptPod' | 'releasePod'; name: string; uid: string; ownerReferences: OwnerReference[] }
  /** Create `object` (generateName `<set>-`, controller reference to the set). */
  | { type: 'createPod'; object: KubeObject }
  /** Delete the pod (default grace period), uid as precondition. NotFound is success. */
  | { type: 'deletePod'; name: string; uid: string };

export type ReplicaSetActionType = ReplicaSetAction['type'];

export interface ControlEvent {
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
}

/** One line per action, for logs and tests: `createPod`, `deletePod web-abcde`. */
export function describeAction(a: ReplicaSetAction): string {
  return a.type === 'createPod' ? 'createPod' : `${a.type} ${a.name}`;
}

/** The phases of a round, in order (claimPods, then manageReplicas' creations or deletions). */
export type Phase = 'ownership' | 'create' | 'delete';

export function phaseOf(a: ReplicaSetAction): Phase {
  switch (a.type) {
    case 'adoptPod':
    case 'releasePod':
      return 'ownership';
    case 'createPod':
      return 'create';
    case 'deletePod':
      return 'delete';
  }
}

export const PHASES: readonly Phase[] = ['ownership', 'create', 'delete'];

/** Actions grouped by phase, in PHASES order, empty phases left out. */
export function executionPhases(actions: ReplicaSetAction[]): { phase: Phase; actions: ReplicaSetAction[] }[] {
  return PHASES.map((phase) => ({ phase, actions: actions.filter((a) => phaseOf(a) === phase) })).filter((p) => p.actions.length > 0);
}

/** Kubernetes' slow start: batches of 1, 2, 4, … items (the last one smaller). */
export function slowStartBatches<T>(items: T[], initial = 1): T[][] {
  const out: T[][] = [];
  let size = Math.max(1, initial);
  for (let pos = 0; pos < items.length; pos += size, size *= 2) out.push(items.slice(pos, pos + size));
  return out;
}

export type { ActionError };

/**
 * The Event Kubernetes records for the outcome of a pod action, undefined when it records none
 * (ownership changes, NotFound on delete). `createdName` is the name the API server generated.
 */
export function actionEvent(action: ReplicaSetAction, error?: ActionError, createdName?: string): ControlEvent | undefined {
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
