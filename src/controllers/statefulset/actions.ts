// What the StatefulSet control algorithm asks the acting layer to do, the order it may be done
// in, and the Events Kubernetes records for each outcome (stateful_pod_control.go wording).
import type { KubeObject, OwnerReference } from '../../registry/types.ts';
import type { RevisionAction } from './revision.ts';
import type { PodRepair } from './pods.ts';
import { setName, setNamespace } from './set.ts';
import { claimStorage } from './claims.ts';
import type { ActionError } from '../common/errors.ts';

/** Why a pod is deleted. */
export type DeletePodReason =
  /** phase Failed: deleted, recreated with the same name once it is gone */
  | 'failed'
  /** phase Succeeded (e.g. evicted or stopped on node reboot): same as failed */
  | 'succeeded'
  /** its ordinal is outside the set's range (scale down, or ordinals.start raised) */
  | 'condemned'
  /** rolling update: not at the update revision; recreated at it once gone */
  | 'update'
  /** kennel (kubernetes issue 67250): not Ready and not at the update revision, so it is
   *  replaced at the update revision instead of blocking the rollout */
  | 'outdated-unready';

export type Action =
  /** Patch the pod's metadata.ownerReferences to `ownerReferences` (adds the set's controller
   *  reference), with metadata.uid = uid as precondition. */
  | { type: 'adoptPod'; name: string; uid: string; ownerReferences: OwnerReference[] }
  /** Patch the pod's metadata.ownerReferences to `ownerReferences` (drops the set's), uid as
   *  precondition: its labels no longer match the selector. */
  | { type: 'releasePod'; name: string; uid: string; ownerReferences: OwnerReference[] }
  /** Patch the revision's metadata.ownerReferences (adds the set's controller reference). */
  | { type: 'adoptRevision'; name: string; uid: string; ownerReferences: OwnerReference[] }
  | RevisionAction
  /** Create the claim `object`. AlreadyExists means another actor made it: requeue. */
  | { type: 'createClaim'; name: string; ordinal: number; podName: string; object: KubeObject }
  /** Update (PUT, resourceVersion included) the claim to `object`: owner references for the
   *  retention policy and/or a raised storage request. */
  | { type: 'updateClaim'; name: string; ordinal: number; podName: string; reasons: Array<'retention' | 'resize'>; object: KubeObject }
  /** Create the pod `object` (its claims were created by earlier actions of the same ordinal). */
  | { type: 'createPod'; name: string; ordinal: number; revision: string; object: KubeObject }
  /** Update (PUT) the pod to `object`: identity labels and/or claim volumes repaired. */
  | { type: 'updatePod'; name: string; ordinal: number; repairs: PodRepair[]; object: KubeObject }
  /** Delete the pod (default grace period) with preconditions.uid = uid. NotFound is success. */
  | { type: 'deletePod'; name: string; ordinal: number; uid: string; reason: DeletePodReason };

export type ActionType = Action['type'];

export interface ControlEvent {
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
}

/** A one-line description of an action, for logs and tests: `createPod web-0 @web-7c9`. */
export function describeAction(a: Action): string {
  switch (a.type) {
    case 'createPod':
      return `createPod ${a.name} @${a.revision}`;
    case 'deletePod':
      return `deletePod ${a.name} (${a.reason})`;
    case 'updatePod':
      return `updatePod ${a.name} (${a.repairs.join('+')})`;
    case 'updateClaim':
      return `updateClaim ${a.name} (${a.reasons.map((r) => (r === 'resize' ? `resize to ${String(claimStorage(a.object))}` : r)).join('+')})`;
    case 'updateRevision':
      return `updateRevision ${a.name} -> ${a.revision}`;
    default:
      return `${a.type} ${a.name}`;
  }
}

function ordinalOfAction(a: Action): number | undefined {
  return 'ordinal' in a ? a.ordinal : undefined;
}

/**
 * Split actions into waves that may each run concurrently, in order: the actions without an
 * ordinal (adoption, revisions) at the front form one wave, and so do those at the end
 * (history trimming); in between, wave k holds the k-th action of every ordinal, so each
 * ordinal's actions keep their order (claims before their pod) while different ordinals
 * proceed side by side. Stop after a wave in which anything failed, and requeue.
 */
export function executionWaves(actions: Action[]): Action[][] {
  const waves: Action[][] = [];
  let i = 0;
  while (i < actions.length) {
    if (ordinalOfAction(actions[i]) === undefined) {
      const wave: Action[] = [];
      while (i < actions.length && ordinalOfAction(actions[i]) === undefined) wave.push(actions[i++]);
      waves.push(wave);
      continue;
    }
    const chains = new Map<number, Action[]>();
    while (i < actions.length) {
      const ord = ordinalOfAction(actions[i]);
      if (ord === undefined) break;
      let chain = chains.get(ord);
      if (!chain) chains.set(ord, (chain = []));
      chain.push(actions[i++]);
    }
    const depth = Math.max(...[...chains.values()].map((c) => c.length));
    for (let k = 0; k < depth; k++) {
      const wave: Action[] = [];
      for (const chain of chains.values()) if (k < chain.length) wave.push(chain[k]);
      waves.push(wave);
    }
  }
  return waves;
}

/** An API error as the acting layer saw it (its message and Kubernetes Status reason). */
export type { ActionError };

/**
 * The Event to record for the outcome of an action, worded as Kubernetes' StatefulSet
 * controller words it (SuccessfulCreate "create Pod web-0 in StatefulSet web successful",
 * FailedCreate "… failed error: …", SuccessfulDelete, SuccessfulUpdate, claim events); undefined
 * when Kubernetes records none (revisions, adoption, AlreadyExists on create, NotFound on delete,
 * successful retention updates).
 */
export function actionEvent(set: KubeObject, action: Action, error?: ActionError): ControlEvent | undefined {
  const sts = setName(set);
  const podEvent = (verb: 'create' | 'update' | 'delete', pod: string): ControlEvent => {
    const title = verb[0].toUpperCase() + verb.slice(1);
    return error
      ? { type: 'Warning', reason: `Failed${title}`, message: `${verb} Pod ${pod} in StatefulSet ${sts} failed error: ${error.message}` }
      : { type: 'Normal', reason: `Successful${title}`, message: `${verb} Pod ${pod} in StatefulSet ${sts} successful` };
  };
  const claimEvent = (verb: 'create' | 'update', claim: string, pod: string): ControlEvent => {
    const title = verb[0].toUpperCase() + verb.slice(1);
    return error
      ? { type: 'Warning', reason: `Failed${title}`, message: `${verb} Claim ${claim} for Pod ${pod} in StatefulSet ${sts} failed error: ${error.message}` }
      : { type: 'Normal', reason: `Successful${title}`, message: `${verb} Claim ${claim} Pod ${pod} in StatefulSet ${sts} success` };
  };
  switch (action.type) {
    case 'createPod':
      return error?.reason === 'AlreadyExists' ? undefined : podEvent('create', action.name);
    case 'deletePod':
      return error?.reason === 'NotFound' ? undefined : podEvent('delete', action.name);
    case 'updatePod':
      return podEvent('update', action.name);
    case 'createClaim':
      return error?.reason === 'AlreadyExists' ? undefined : claimEvent('create', action.name, action.podName);
    case 'updateClaim':
      if (action.reasons.includes('resize')) return claimEvent('update', action.name, action.podName);
      if (!error) return undefined;
      return {
        type: 'Warning',
        reason: 'FailedUpdate',
        message: `update Pod ${action.podName} in StatefulSet ${sts} failed error: could not update claim ${action.name} for delete policy ownerRefs: ${error.message}`,
      };
    default:
      return undefined;
  }
}

/** `<namespace>/<name>` of the set, as controller event messages print it. */
export function setKey(set: KubeObject): string {
  return `${setNamespace(set)}/${setName(set)}`;
}
