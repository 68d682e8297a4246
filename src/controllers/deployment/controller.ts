// The Deployment controller: the acting layer around the pure control algorithm (control.ts).
// Informers on Deployments, ReplicaSets and Pods feed a work queue of deployment keys;
// reconcile(key) runs computeDeploymentActions() on the cache, carries out its writes one after
// the other (ownership patches, ReplicaSet creates, updates and deletes, the deployment's
// revision annotation; a failed write ends the round and the key is retried with rate-limited
// back-off), records the Events Kubernetes records (ScalingReplicaSet, SelectingAll,
// ReplicaSetCreateError), and writes the status through the status subresource. The
// controller only ever writes ReplicaSets; the ReplicaSet controller makes the pods.
//
// Which deployments a change concerns (Kubernetes' addReplicaSet/updateReplicaSet/deletePod…):
// a ReplicaSet with a controller reference → that deployment (if its uid still matches); an
// orphan → every deployment of its namespace whose selector matches it (to adopt it); a pod
// deleted → the deployment of its ReplicaSet when that one uses Recreate (which waits for the
// old pods to be gone).
//
// Acting on a stale cache: a round remembers the resourceVersion each of its writes returned,
// and the deployment's next round waits until the informers have caught up with them, so a
// ReplicaSet is never created twice and a scale-down never builds on a count from before the
// previous one. An update is sent on top of the cached resourceVersion: if the cache was
// behind, the server answers 409 and the round is retried.
import type { KubeObject } from '../../registry/types.ts';
import { isNotFound, objectKey, type ResourceRef } from '../../client/rest.ts';
import type { Informer } from '../../client/informer.ts';
import type { ControllerContext, ControllerFactory, RunningController } from '../manager.ts';
import { ControllerBase, roundRetryLogger, type ControllerBaseOptions } from '../common/base.ts';
import { WriteExpectations } from '../common/cache-sync.ts';
import { enqueueOwnersOf, ownerKeysOf, type OwnerLookup } from '../common/owners.ts';
import { RoundFailure, errText, toActionError, type ActionError } from '../common/errors.ts';
import { writeStatus } from '../common/status.ts';
import { PODS } from '../common/resources.ts';
import {
  actionEvent,
  computeDeploymentActions,
  createFailure,
  describeAction,
  type DeploymentAction,
  type DeploymentStatus,
} from './control.ts';
import { DEPLOYMENT_KIND, REVISION_ANNOTATION, controllerRefOf, isBeingDeleted, selectorMatches, strategyType } from './util.ts';

export const DEPLOYMENTS: ResourceRef = { group: 'apps', version: 'v1', plural: 'deployments', namespaced: true, kind: 'Deployment' };
export const REPLICASETS: ResourceRef = { group: 'apps', version: 'v1', plural: 'replicasets', namespaced: true, kind: 'ReplicaSet' };

export const DEPLOYMENT_CONTROLLER_COMPONENT = 'deployment-controller';
export const DEPLOYMENT_USER_AGENT = 'kennel-deployment-controller';
/** The field manager Kubernetes' controllers write with. */
export const DEPLOYMENT_FIELD_MANAGER = 'kube-controller-manager';

export interface DeploymentControllerOptions extends ControllerBaseOptions {
  /** Deployments reconciled at once (default 4); one deployment is never reconciled by two workers. */
  workers?: number;
}

export interface DeploymentController extends RunningController {
  /** Rounds completed so far (reconciles that computed actions). */
  readonly rounds: number;
  /** Writes made so far (actions carried out, status writes included). */
  readonly writes: number;
  /** Nothing queued, waiting (requeues, back-off) or being reconciled. */
  idle(): boolean;
}

/** A round failed after some actions: the key is retried with back-off. */
export class DeploymentRoundError extends RoundFailure {
  constructor(key: string, failures: { action: string; error: ActionError }[]) {
    super('Deployment', key, failures);
    this.name = 'DeploymentRoundError';
  }
}

/** Where the deployments a ReplicaSet or pod concerns are looked up. */
export type DeploymentLookup = OwnerLookup;

/** Keys of the deployments a ReplicaSet concerns: its controller, or (orphan) every deployment selecting it. */
export function deploymentsForReplicaSet(deployments: DeploymentLookup, rs: KubeObject): string[] {
  const orphanable = !isBeingDeleted(rs);
  return ownerKeysOf(rs, controllerRefOf(rs), deployments, { group: 'apps', kind: DEPLOYMENT_KIND }, (d) => orphanable && selectorMatches(d, rs.metadata.labels));
}

/** The key of the Recreate deployment whose ReplicaSet controlled a deleted pod, if any. */
export function recreateDeploymentForPod(deployments: DeploymentLookup, replicaSets: OwnerLookup, pod: KubeObject): string | undefined {
  const ns = pod.metadata.namespace ?? '';
  const ref = controllerRefOf(pod);
  if (!ref || ref.kind !== 'ReplicaSet') return undefined;
  const rs = replicaSets.get(ns, ref.name);
  if (!rs || rs.metadata.uid !== ref.uid) return undefined;
  const dref = controllerRefOf(rs);
  if (!dref || dref.kind !== DEPLOYMENT_KIND) return undefined;
  const d = deployments.get(ns, dref.name);
  if (!d || d.metadata.uid !== dref.uid || strategyType(d) !== 'Recreate') return undefined;
  return objectKey(d);
}

/** Poll interval while waiting for the caches. */
const CACHE_WAIT_MS = 50;

/** Every status field, so that a count that went to 0 (left out of the status) is cleared. */
const STATUS_FIELDS: DeploymentStatus = {
  observedGeneration: undefined,
  replicas: undefined,
  updatedReplicas: undefined,
  readyReplicas: undefined,
  availableReplicas: undefined,
  unavailableReplicas: undefined,
  conditions: undefined,
  collisionCount: undefined,
};

export async function startDeploymentController(opts: DeploymentControllerOptions): Promise<DeploymentController> {
  const base = new ControllerBase(opts, {
    component: DEPLOYMENT_CONTROLLER_COMPONENT,
    userAgent: DEPLOYMENT_USER_AGENT,
    fieldManager: DEPLOYMENT_FIELD_MANAGER,
    queueName: 'deployment',
    stopMessage: 'deployment controller',
  });
  const { log, clock, client, factory, recorder, queue, signal } = base;

  const deployments = factory.informer(DEPLOYMENTS);
  const replicaSets = factory.informer(REPLICASETS);
  const pods = factory.informer(PODS);
  const informerOf: Record<string, Informer> = { deployments, replicasets: replicaSets };

  const expectations = new WriteExpectations(() => clock.now());
  let rounds = 0;
  let writes = 0;

  const lookup: DeploymentLookup = {
    get: (ns, name) => deployments.get(ns, name),
    listByNamespace: (ns) => deployments.listByNamespace(ns),
  };
  const rsLookup: OwnerLookup = {
    get: (ns, name) => replicaSets.get(ns, name),
    listByNamespace: (ns) => replicaSets.listByNamespace(ns),
  };
  base.handle(
    deployments.addEventHandler({
      onAdd: (d) => queue.add(objectKey(d)),
      onUpdate: (_o, d) => queue.add(objectKey(d)),
      onDelete: (d) => queue.add(objectKey(d)),
    }),
    replicaSets.addEventHandler(enqueueOwnersOf((rs) => deploymentsForReplicaSet(lookup, rs), (k) => queue.add(k))),
    pods.addEventHandler({
      onDelete: (p) => {
        const k = recreateDeploymentForPod(lookup, rsLookup, p);
        if (k) queue.add(k);
      },
    }),
  );

  const expect = (key: string, plural: string, written: KubeObject | undefined): void => {
    writes++;
    expectations.expect(key, informerOf[plural], written);
  };

  const nsOf = (d: KubeObject): string => d.metadata.namespace ?? 'default';

  /** Carry out one action; resolves with the error, if any. Never rejects. */
  const execute = async (key: string, d: KubeObject, a: DeploymentAction): Promise<ActionError | undefined> => {
    const namespace = nsOf(d);
    try {
      switch (a.type) {
        case 'adoptReplicaSet':
        case 'releaseReplicaSet': {
          const patch = { metadata: { uid: a.uid, ownerReferences: a.ownerReferences.length > 0 ? a.ownerReferences : null } };
          expect(key, 'replicasets', await client.patch(REPLICASETS, namespace, a.name, patch, 'merge', { signal }));
          return undefined;
        }
        case 'createReplicaSet':
          expect(key, 'replicasets', await client.create(REPLICASETS, a.object, { signal }));
          return undefined;
        case 'updateReplicaSet':
          expect(key, 'replicasets', await client.update(REPLICASETS, a.object, { signal }));
          return undefined;
        case 'deleteReplicaSet':
          try {
            expect(key, 'replicasets', await client.delete(REPLICASETS, namespace, a.name, { signal, preconditions: a.uid ? { uid: a.uid } : undefined }));
          } catch (e) {
            if (!isNotFound(e)) throw e;
          }
          return undefined;
        case 'setDeploymentRevision':
          expect(key, 'deployments', await client.patch(DEPLOYMENTS, namespace, d.metadata.name ?? '', { metadata: { annotations: { [REVISION_ANNOTATION]: a.revision } } }, 'merge', { signal }));
          return undefined;
      }
    } catch (e) {
      return toActionError(e);
    }
  };

  const writeDeploymentStatus = (key: string, d: KubeObject, status: DeploymentStatus): Promise<void> =>
    writeStatus(client, DEPLOYMENTS, d, { ...STATUS_FIELDS, ...status }, {
      signal,
      // A newer generation (or another deployment of that name): the round it triggers writes status.
      still: (live) => live.metadata.uid === d.metadata.uid && live.metadata.generation === d.metadata.generation,
      wrote: (o) => expect(key, 'deployments', o),
    });

  const reconcile = async (key: string): Promise<void> => {
    const d = deployments.getByKey(key);
    if (!d) {
      expectations.forget(key);
      return;
    }
    if (!expectations.caughtUp(key)) {
      queue.addAfter(key, CACHE_WAIT_MS);
      return;
    }
    const namespace = nsOf(d);
    const now = new Date(clock.now());
    let podsOfSets: KubeObject[] | undefined;
    if (strategyType(d) === 'Recreate' && d.metadata.uid) {
      podsOfSets = replicaSets.listByController(d.metadata.uid).flatMap((rs) => (rs.metadata.uid ? pods.listByController(rs.metadata.uid) : []));
    }
    const result = computeDeploymentActions({ deployment: d, replicaSets: replicaSets.listByNamespace(namespace), pods: podsOfSets, now });
    if (result.actions.length > 0) log.debug('sync', { deployment: key, actions: result.actions.map(describeAction) });
    const target: KubeObject = d.kind && d.apiVersion ? d : { ...d, apiVersion: 'apps/v1', kind: DEPLOYMENT_KIND };
    for (const ev of result.events) recorder.event(target, ev.type, ev.reason, ev.message);

    const failures: { action: string; error: ActionError }[] = [];
    for (const a of result.actions) {
      const error = await execute(key, d, a);
      if (signal.aborted) return;
      if (!error) {
        const ev = actionEvent(a);
        if (ev) recorder.event(target, ev.type, ev.reason, ev.message);
        continue;
      }
      failures.push({ action: describeAction(a), error });
      if (a.type === 'createReplicaSet' && error.reason !== 'AlreadyExists') {
        // Kubernetes reports a failed create in the Progressing condition and an Event.
        const f = createFailure(d, result.status, a.name, error.message, now);
        recorder.event(target, f.event.type, f.event.reason, f.event.message);
        if (f.status) {
          try {
            await writeDeploymentStatus(key, d, f.status);
          } catch (e) {
            log.debug('status write after a failed create failed', { deployment: key, error: errText(e) });
          }
        }
      }
      break;
    }
    rounds++;
    if (failures.length > 0) throw new DeploymentRoundError(key, failures);
    if (result.statusChanged && !signal.aborted) {
      try {
        await writeDeploymentStatus(key, d, result.status);
      } catch (e) {
        if (!isNotFound(e)) throw e;
      }
    }
    if (result.requeueAfterMs !== undefined) queue.addAfter(key, result.requeueAfterMs);
  };

  await base.sync();
  const workers = Math.max(1, opts.workers ?? 4);
  base.run(workers, reconcile, roundRetryLogger(log, 'deployment', { conflictRounds: true }));
  log.info('started', { workers });

  return {
    get rounds() {
      return rounds;
    },
    get writes() {
      return writes;
    },
    idle: () => base.idle(),
    stop: () => base.stop(),
  };
}

/** The Deployment controller for the controller manager. */
export const deploymentController: ControllerFactory = {
  name: 'deployment',
  start: (ctx: ControllerContext) => startDeploymentController({ client: ctx.client, logger: ctx.logger, informers: ctx.informers }),
};
