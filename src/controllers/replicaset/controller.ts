// The ReplicaSet controller (and, the same code with kind ReplicationController, the
// replication controller): the acting layer around the pure algorithm (control.ts). Informers on
// the sets and on Pods feed a work queue of set keys; reconcile(key) runs
// computeReplicaSetActions() on the cache and carries out its actions phase by phase — adoptions
// and releases, then creations in slow-start batches of 1, 2, 4, … (a batch with a failure ends
// the creations, as Kubernetes' slowStartBatch), or deletions all at once — records the Events
// Kubernetes records, and writes the status (with the ReplicaFailure condition when creating or
// deleting failed) through the status subresource. A round with failures is retried with
// rate-limited back-off.
//
// Which sets a pod change concerns (Kubernetes' addPod/updatePod/deletePod): its controller (if
// the uid still matches), or — an orphan — every set of its namespace whose selector matches it
// (to adopt it); an update concerns those of the old and of the new pod.
//
// Not acting twice (Kubernetes' expectations): one set is never reconciled by two workers at
// once, and a round remembers the resourceVersion each of its writes returned; the set's next
// round waits until the informers have caught up with them, so pods whose creation is still
// unseen are never created again and pods being deleted are never deleted twice.
//
// Before adopting, the set is read again from the API server (Kubernetes' RecheckDeletionTimestamp):
// a set deleted or recreated meanwhile adopts nothing.
import type { KubeObject } from '../../registry/types.ts';
import { isNotFound, objectKey } from '../../client/rest.ts';
import type { Informer } from '../../client/informer.ts';
import type { ControllerContext, ControllerFactory, RunningController } from '../manager.ts';
import { ControllerBase, roundRetryLogger, type ControllerBaseOptions } from '../common/base.ts';
import { WriteExpectations } from '../common/cache-sync.ts';
import { carryOutBatches, finishRound } from '../common/rounds.ts';
import { enqueueOwnersOf, ownerKeysOf, writeOwnership, type OwnerLookup } from '../common/owners.ts';
import { RoundFailure, toActionError, type ActionError } from '../common/errors.ts';
import { writeStatus } from '../common/status.ts';
import { PODS } from '../common/resources.ts';
import { actionEvent, describeAction, executionPhases, slowStartBatches, type ReplicaSetAction } from './actions.ts';
import { computeReplicaSetActions, replicaSetStatus } from './control.ts';
import { controllerRefOf, isBeingDeleted, replicaKind, selectorMatches, type ReplicaKind, type ReplicaKindName } from './kinds.ts';
import { isPodActive } from './pods.ts';

export { REPLICASETS, REPLICATIONCONTROLLERS } from './kinds.ts';
export { PODS };

export const REPLICASET_USER_AGENT = 'kennel-replicaset-controller';
/** The field manager Kubernetes' controllers write with. */
export const REPLICASET_FIELD_MANAGER = 'kube-controller-manager';

/** The controller makes its own client from opts.client's config; its default recorder writes
 *  core/v1 Events from `replicaset-controller` (`replication-controller` for RCs). */
export interface ReplicaSetControllerOptions extends ControllerBaseOptions {
  /** Which kind to run (default ReplicaSet). */
  kind?: ReplicaKindName;
  /** Sets reconciled at once (default 5, Kubernetes' --concurrent-replicaset-syncs). */
  workers?: number;
  /** Requests of one batch in flight at once (default 64). */
  concurrency?: number;
  /** Creations or deletions per round at most (default 500, Kubernetes' BurstReplicas). */
  burstReplicas?: number;
}

export interface ReplicaSetController extends RunningController {
  readonly kind: ReplicaKindName;
  /** Rounds completed so far (reconciles that computed actions). */
  readonly rounds: number;
  /** Writes made so far (actions carried out, status writes included). */
  readonly writes: number;
  /** Nothing queued, waiting (requeues, back-off) or being reconciled. */
  idle(): boolean;
}

/** A round failed after some actions: the key is retried with back-off. */
export class ReplicaSetRoundError extends RoundFailure {
  constructor(kind: ReplicaKindName, setKey: string, failures: { action: string; error: ActionError }[]) {
    super(kind, setKey, failures);
    this.name = 'ReplicaSetRoundError';
  }
}

/** Keys of the sets a pod concerns: its controller, or (an active orphan) every set selecting it. */
export function setsForPod(kind: ReplicaKind, sets: OwnerLookup, pod: KubeObject): string[] {
  const adoptable = isPodActive(pod);
  return ownerKeysOf(pod, controllerRefOf(pod), sets, { group: kind.resource.group, kind: kind.name }, (s) => adoptable && !isBeingDeleted(s) && selectorMatches(kind, s, pod.metadata.labels));
}

/** The status fields the controller owns, unset: what writeStatus() must drop from the old
 *  status when the new one leaves them out. */
const CLEARED_STATUS = { fullyLabeledReplicas: undefined, readyReplicas: undefined, availableReplicas: undefined, observedGeneration: undefined, conditions: undefined };

/** Poll interval while waiting for the caches. */
const CACHE_WAIT_MS = 50;

export async function startReplicaSetController(opts: ReplicaSetControllerOptions): Promise<ReplicaSetController> {
  const kind = replicaKind(opts.kind ?? 'ReplicaSet');
  const base = new ControllerBase(opts, {
    component: kind.component,
    userAgent: REPLICASET_USER_AGENT,
    fieldManager: REPLICASET_FIELD_MANAGER,
    queueName: kind.controllerName,
    stopMessage: `${kind.controllerName} controller`,
  });
  const { log, clock, client, factory, recorder, queue, signal } = base;
  const concurrency = Math.max(1, opts.concurrency ?? 64);
  const res = kind.resource;

  const sets = factory.informer(res);
  const pods = factory.informer(PODS);
  const informerOf: Record<string, Informer> = { [res.plural]: sets, pods };
  const expectations = new WriteExpectations(() => clock.now());
  let rounds = 0;
  let writes = 0;

  const lookup: OwnerLookup = { get: (ns, name) => sets.get(ns, name), listByNamespace: (ns) => sets.listByNamespace(ns) };
  base.handle(
    sets.addEventHandler({
      onAdd: (s) => queue.add(objectKey(s)),
      onUpdate: (_o, s) => queue.add(objectKey(s)),
      onDelete: (s) => queue.add(objectKey(s)),
    }),
    pods.addEventHandler(enqueueOwnersOf((p) => setsForPod(kind, lookup, p), (k) => queue.add(k))),
  );

  const expect = (key: string, plural: string, written: KubeObject | undefined): void => {
    writes++;
    expectations.expect(key, informerOf[plural], written);
  };

  /** Carry out one action; resolves with the error (undefined on success) and, for a created
   *  pod, its generated name. Never rejects. */
  const execute = async (key: string, namespace: string, a: ReplicaSetAction): Promise<{ error?: ActionError; created?: string }> => {
    try {
      switch (a.type) {
        case 'adoptPod':
        case 'releasePod':
          await writeOwnership(client, namespace, a, { signal, wrote: (plural, o) => expect(key, plural, o) });
          return {};
        case 'createPod': {
          const created = await client.create(PODS, a.object, { signal });
          expect(key, 'pods', created);
          return { created: created.metadata.name };
        }
        case 'deletePod':
          expect(key, 'pods', await client.delete(PODS, namespace, a.name, { signal, preconditions: { uid: a.uid } }));
          return {};
      }
    } catch (e) {
      return { error: toActionError(e) };
    }
  };

  /** RecheckDeletionTimestamp: the live set is still this one and not being deleted. */
  const mayAdopt = async (set: KubeObject): Promise<boolean> => {
    try {
      const live = await client.get(res, set.metadata.namespace, set.metadata.name ?? '', { signal });
      return live.metadata.uid === set.metadata.uid && !isBeingDeleted(live);
    } catch (e) {
      if (isNotFound(e)) return false;
      throw e;
    }
  };

  const reconcile = async (key: string): Promise<void> => {
    const cached = sets.getByKey(key);
    if (!cached) {
      expectations.forget(key);
      return;
    }
    if (!expectations.caughtUp(key)) {
      queue.addAfter(key, CACHE_WAIT_MS);
      return;
    }
    const set: KubeObject = { ...cached, apiVersion: kind.apiVersion, kind: kind.name };
    const namespace = set.metadata.namespace ?? 'default';
    const now = new Date(clock.now());
    const result = computeReplicaSetActions({ set, kind, pods: pods.listByNamespace(namespace), sets: sets.listByNamespace(namespace), now, burstReplicas: opts.burstReplicas });
    if (result.actions.length > 0) log.debug('sync', { [kind.controllerName]: key, diff: result.diff, actions: result.actions.map(describeAction) });
    if (result.actions.some((a) => a.type === 'adoptPod') && !(await mayAdopt(set))) {
      throw new Error(`${kind.name} ${key} was deleted or replaced; not adopting its orphans`);
    }

    /** The first create or delete error: the ReplicaFailure condition's message. */
    let manageError: ActionError | undefined;
    const batches = executionPhases(result.actions).flatMap(({ phase, actions }) => (phase === 'create' ? slowStartBatches(actions) : [actions]));
    const failures = await carryOutBatches(batches, {
      concurrency,
      signal,
      execute: (a) => execute(key, namespace, a),
      settle: (a, r) => {
        const ev = actionEvent(a, r.error, r.created);
        if (ev) recorder.event(set, ev.type, ev.reason, ev.message);
        if (!r.error || (a.type === 'deletePod' && r.error.reason === 'NotFound')) return undefined;
        if (a.type !== 'adoptPod' && a.type !== 'releasePod') manageError ??= r.error;
        return { action: describeAction(a), error: r.error };
      },
    });
    const final = manageError ? replicaSetStatus(set, result.claimed, now, manageError) : { status: result.status, changed: result.statusChanged };
    await finishRound({
      statusChanged: final.changed,
      signal,
      writeStatus: () =>
        // Counts left out (zero) and a removed condition must not survive from the old status.
        writeStatus(client, res, set, { ...CLEARED_STATUS, ...final.status }, {
          signal,
          // Another set of that name: its own rounds write its status.
          still: (live) => live.metadata.uid === set.metadata.uid,
          wrote: (o) => expect(key, res.plural, o),
        }),
      counted: () => rounds++,
      failures,
      roundError: (f) => new ReplicaSetRoundError(kind.name, key, f),
    });
    if (result.requeueAfterMs !== undefined) queue.addAfter(key, result.requeueAfterMs);
  };

  await base.sync();
  const workers = Math.max(1, opts.workers ?? 5);
  base.run(workers, reconcile, roundRetryLogger(log, kind.controllerName));
  log.info('started', { kind: kind.name, workers });

  return {
    kind: kind.name,
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

/** The ReplicaSet controller for the controller manager. */
export const replicaSetController: ControllerFactory = {
  name: 'replicaset',
  start: (ctx: ControllerContext) => startReplicaSetController({ client: ctx.client, logger: ctx.logger, kind: 'ReplicaSet', informers: ctx.informers }),
};

/** The replication controller (ReplicationControllers, same algorithm) for the controller manager. */
export const replicationControllerController: ControllerFactory = {
  name: 'replicationcontroller',
  start: (ctx: ControllerContext) => startReplicaSetController({ client: ctx.client, logger: ctx.logger, kind: 'ReplicationController', informers: ctx.informers }),
};
