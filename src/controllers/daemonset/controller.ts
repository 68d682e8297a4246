// The DaemonSet controller: the acting layer around the pure control algorithm (control.ts).
// Informers on DaemonSets, Nodes, Pods and ControllerRevisions feed a work queue of set keys;
// reconcile(key) runs computeDaemonSetActions() on the cache, carries out the actions phase by
// phase (executionPhases: revisions and ownership, then pod creations in slow-start batches of
// 1, 2, 4, … as Kubernetes' syncNodes does, then deletions, then history trimming; a phase in
// which anything failed ends the round and the key is retried with rate-limited back-off),
// records the Events Kubernetes records, and writes the status through the status subresource.
//
// Which sets a change concerns (Kubernetes' addNode/updateNode/addPod/updatePod/…):
// - a node added → the sets that should run on it; a node changed → the sets for which it
//   changed whether they should run or may keep running there (labels, taints), or all sets
//   when it starts being deleted; a node deleted → every set (its pod and counts go);
// - a pod or revision with a controller reference → that set (if its uid still matches);
//   an orphan → every set of its namespace whose selector matches it (to adopt it).
//
// Acting on a stale cache: like the StatefulSet controller, a round remembers the
// resourceVersion each of its writes returned, and the set's next round waits until the
// informers have caught up with them (Kubernetes' expectations serve the same end), so a pod
// just created is never created twice and a pod just deleted is not counted as available.
//
// Failed-pod back-off is kept per set uid and observed generation, per node (as Kubernetes keys
// it), so a new template gets a fresh start.
import type { KubeObject } from '../../registry/types.ts';
import { isRecord } from '../../registry/validation.ts';
import { isNotFound, objectKey } from '../../client/rest.ts';
import type { Informer } from '../../client/informer.ts';
import type { ControllerContext, ControllerFactory, RunningController } from '../manager.ts';
import { ControllerBase, roundRetryLogger, type ControllerBaseOptions } from '../common/base.ts';
import { WriteExpectations } from '../common/cache-sync.ts';
import { carryOutBatches, finishRound } from '../common/rounds.ts';
import { enqueueOwnersOf, ownerKeysOf, writeOwnership, type OwnerLookup } from '../common/owners.ts';
import { RoundFailure, toActionError, type ActionError } from '../common/errors.ts';
import { writeStatus } from '../common/status.ts';
import { actionEvent, describeAction, executionPhases, type DaemonSetAction } from './actions.ts';
import { BACKOFF_MAX_MS, computeDaemonSetActions, type DaemonSetStatus, type FailedPodBackoff } from './control.ts';
import { DAEMONSET_KIND, REVISION_HASH_LABEL, controllerRefOf, isBeingDeleted, selectorMatches } from './daemonset.ts';
import { nodeShouldRunDaemonPod } from './nodes.ts';
import { DAEMONSETS, NODES, PODS, REVISIONS } from '../common/resources.ts';

export const DAEMONSET_CONTROLLER_COMPONENT = 'daemonset-controller';
export const DAEMONSET_USER_AGENT = 'kennel-daemonset-controller';
/** The field manager Kubernetes' controllers write with. */
export const DAEMONSET_FIELD_MANAGER = 'kube-controller-manager';

export { DAEMONSETS, NODES, PODS, REVISIONS };

/** The controller makes its own client from opts.client's config (user agent
 *  `kennel-daemonset-controller`, field manager `kube-controller-manager`); its default
 *  recorder writes core/v1 Events from `daemonset-controller`. */
export interface DaemonSetControllerOptions extends ControllerBaseOptions {
  /** Sets reconciled at once (default 4); one set is never reconciled by two workers. */
  workers?: number;
  /** Requests of one phase in flight at once (default 64). */
  concurrency?: number;
}

export interface DaemonSetController extends RunningController {
  /** Rounds completed so far (reconciles that computed actions). */
  readonly rounds: number;
  /** Writes made so far (actions carried out, status writes included). */
  readonly writes: number;
  /** Nothing queued, waiting (requeues, back-off) or being reconciled. */
  idle(): boolean;
}

/** A round failed after some actions: the key is retried with back-off. */
export class DaemonSetRoundError extends RoundFailure {
  constructor(setKey: string, failures: { action: string; error: ActionError }[]) {
    super('DaemonSet', setKey, failures);
    this.name = 'DaemonSetRoundError';
  }
}

/** Kubernetes' slow start: batches of 1, 2, 4, … items (the last one smaller). */
export function slowStartBatches<T>(items: T[], initial = 1): T[][] {
  const out: T[][] = [];
  let size = Math.max(1, initial);
  for (let pos = 0; pos < items.length; pos += size, size *= 2) out.push(items.slice(pos, pos + size));
  return out;
}

/** Where the sets a pod, revision or node concerns are looked up. */
export interface DaemonSetLookup extends OwnerLookup {
  list(): KubeObject[];
}

/** Keys of the sets a pod or revision concerns: its controller, or (orphan) every set selecting it. */
export function daemonSetsForObject(sets: DaemonSetLookup, obj: KubeObject): string[] {
  const orphanable = !isBeingDeleted(obj);
  return ownerKeysOf(obj, controllerRefOf(obj), sets, { group: 'apps', kind: DAEMONSET_KIND }, (ds) => orphanable && selectorMatches(ds, obj.metadata.labels));
}

/** Keys of the sets a node change concerns (old undefined: added; cur undefined: deleted). */
export function daemonSetsForNodeChange(sets: DaemonSetLookup, old: KubeObject | undefined, cur: KubeObject | undefined): string[] {
  const all = sets.list();
  if (!old || !cur) {
    if (!cur) return all.map((ds) => objectKey(ds));
    return all.filter((ds) => nodeShouldRunDaemonPod(ds, cur).shouldRun).map((ds) => objectKey(ds));
  }
  if (isBeingDeleted(old) !== isBeingDeleted(cur)) return all.map((ds) => objectKey(ds));
  return all
    .filter((ds) => {
      const a = nodeShouldRunDaemonPod(ds, old);
      const b = nodeShouldRunDaemonPod(ds, cur);
      return a.shouldRun !== b.shouldRun || a.shouldContinueRunning !== b.shouldContinueRunning;
    })
    .map((ds) => objectKey(ds));
}

/** Poll interval while waiting for the caches. */
const CACHE_WAIT_MS = 50;

export async function startDaemonSetController(opts: DaemonSetControllerOptions): Promise<DaemonSetController> {
  const base = new ControllerBase(opts, {
    component: DAEMONSET_CONTROLLER_COMPONENT,
    userAgent: DAEMONSET_USER_AGENT,
    fieldManager: DAEMONSET_FIELD_MANAGER,
    queueName: 'daemonset',
    stopMessage: 'daemonset controller',
  });
  const { log, clock, client, factory, recorder, queue, signal } = base;
  const concurrency = Math.max(1, opts.concurrency ?? 64);

  const sets = factory.informer(DAEMONSETS);
  const nodes = factory.informer(NODES);
  const pods = factory.informer(PODS);
  const revisions = factory.informer(REVISIONS);
  const informerOf: Record<string, Informer> = { daemonsets: sets, pods, controllerrevisions: revisions };

  /** Per set key, the writes of its previous rounds the caches must show first. */
  const expectations = new WriteExpectations(() => clock.now());
  /** `<uid>/<observedGeneration>` → failed-pod back-off per node. */
  const backoffs = new Map<string, FailedPodBackoff>();
  let rounds = 0;
  let writes = 0;

  const lookup: DaemonSetLookup = {
    get: (ns, name) => sets.get(ns, name),
    listByNamespace: (ns) => sets.listByNamespace(ns),
    list: () => sets.list(),
  };
  const enqueueAll = (keys: string[]): void => {
    for (const k of keys) queue.add(k);
  };
  const forObject = (o: KubeObject): string[] => daemonSetsForObject(lookup, o);
  const dropBackoff = (ds: KubeObject): void => {
    const prefix = `${ds.metadata.uid ?? ''}/`;
    for (const k of backoffs.keys()) if (k.startsWith(prefix)) backoffs.delete(k);
  };
  base.handle(
    sets.addEventHandler({
      onAdd: (s) => queue.add(objectKey(s)),
      onUpdate: (_o, s) => queue.add(objectKey(s)),
      onDelete: (s) => {
        dropBackoff(s);
        queue.add(objectKey(s));
      },
    }),
    nodes.addEventHandler({
      onAdd: (n) => enqueueAll(daemonSetsForNodeChange(lookup, undefined, n)),
      onUpdate: (o, n) => enqueueAll(daemonSetsForNodeChange(lookup, o, n)),
      onDelete: (n) => enqueueAll(daemonSetsForNodeChange(lookup, n, undefined)),
    }),
    pods.addEventHandler(enqueueOwnersOf(forObject, (k) => queue.add(k))),
    revisions.addEventHandler(enqueueOwnersOf(forObject, (k) => queue.add(k))),
  );

  const expect = (key: string, plural: string, written: KubeObject | undefined): void => {
    writes++;
    expectations.expect(key, informerOf[plural], written);
  };

  // -- actions

  const nsOf = (ds: KubeObject): string => ds.metadata.namespace ?? 'default';

  /** Carry out one action; resolves with the error (undefined on success) and, for a created
   *  pod, its generated name. Never rejects. */
  const execute = async (key: string, ds: KubeObject, a: DaemonSetAction): Promise<{ error?: ActionError; created?: string }> => {
    const namespace = nsOf(ds);
    try {
      switch (a.type) {
        case 'createRevision':
        case 'updateRevision':
        case 'deleteRevision':
        case 'adoptPod':
        case 'releasePod':
        case 'adoptRevision':
        case 'releaseRevision':
          await writeOwnership(client, namespace, a, { signal, wrote: (plural, o) => expect(key, plural, o) });
          return {};
        case 'relabelPod':
          expect(key, 'pods', await client.patch(PODS, namespace, a.name, { metadata: { uid: a.uid, labels: { [REVISION_HASH_LABEL]: a.hash } } }, 'merge', { signal }));
          return {};
        case 'createPod': {
          const created = await client.create(PODS, a.object, { signal });
          expect(key, 'pods', created);
          return { created: created.metadata.name };
        }
        case 'deletePod':
          try {
            expect(key, 'pods', await client.delete(PODS, namespace, a.name, { signal, preconditions: a.uid ? { uid: a.uid } : undefined }));
          } catch (e) {
            if (!isNotFound(e)) throw e;
            return { error: toActionError(e) }; // NotFound: recorded as no event, not a failure
          }
          return {};
      }
    } catch (e) {
      return { error: toActionError(e) };
    }
  };

  /** Write status through the status subresource; on a conflict, onto the live object. */
  const writeSetStatus = (key: string, ds: KubeObject, status: DaemonSetStatus): Promise<void> =>
    writeStatus(client, DAEMONSETS, ds, status, {
      signal,
      // A newer generation (or another set of that name): the round it triggers writes status.
      still: (live) => live.metadata.uid === ds.metadata.uid && live.metadata.generation === ds.metadata.generation,
      wrote: (o) => expect(key, 'daemonsets', o),
    });

  // -- reconcile

  const reconcileSet = async (key: string): Promise<void> => {
    const ds = sets.getByKey(key);
    if (!ds) {
      expectations.forget(key);
      return;
    }
    if (!expectations.caughtUp(key)) {
      queue.addAfter(key, CACHE_WAIT_MS);
      return;
    }
    const namespace = nsOf(ds);
    const observed = isRecord(ds.status) && typeof ds.status.observedGeneration === 'number' ? ds.status.observedGeneration : 0;
    const backoffKey = `${ds.metadata.uid ?? ''}/${observed}`;
    const now = clock.now();
    const result = computeDaemonSetActions({
      ds,
      nodes: nodes.list(),
      pods: pods.listByNamespace(namespace),
      revisions: revisions.listByNamespace(namespace),
      now: new Date(now),
      backoff: backoffs.get(backoffKey),
    });
    // Keep only live back-off entries of this set's current generation.
    dropBackoff(ds);
    const kept: FailedPodBackoff = {};
    for (const [node, e] of Object.entries(result.backoff)) if (now - e.lastUpdateMs <= 2 * BACKOFF_MAX_MS) kept[node] = e;
    if (Object.keys(kept).length > 0) backoffs.set(backoffKey, kept);

    if (result.actions.length > 0) log.debug('sync', { daemonset: key, actions: result.actions.map(describeAction) });
    const target: KubeObject = ds.kind && ds.apiVersion ? ds : { ...ds, apiVersion: 'apps/v1', kind: 'DaemonSet' };
    for (const ev of result.events) recorder.event(target, ev.type, ev.reason, ev.message);

    // Phase by phase; creations in slow-start batches (the rest is skipped after a failing batch).
    const batches = executionPhases(result.actions).flatMap(({ phase, actions }) => (phase === 'create' ? slowStartBatches(actions) : [actions]));
    const failures = await carryOutBatches(batches, {
      concurrency,
      signal,
      execute: (a) => execute(key, ds, a),
      settle: (a, r) => {
        const ev = actionEvent(a, r.error, r.created);
        if (ev) recorder.event(target, ev.type, ev.reason, ev.message);
        return r.error && !(a.type === 'deletePod' && r.error.reason === 'NotFound') ? { action: describeAction(a), error: r.error } : undefined;
      },
    });
    await finishRound({
      statusChanged: result.statusChanged,
      signal,
      writeStatus: () => writeSetStatus(key, ds, result.status),
      counted: () => rounds++,
      failures,
      roundError: (f) => new DaemonSetRoundError(key, f),
    });
    if (result.requeueAfterMs !== undefined) queue.addAfter(key, result.requeueAfterMs);
  };

  // -- start

  await base.sync();
  const workers = Math.max(1, opts.workers ?? 4);
  base.run(workers, reconcileSet, roundRetryLogger(log, 'daemonset'));
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

/** The DaemonSet controller for the controller manager. */
export const daemonSetController: ControllerFactory = {
  name: 'daemonset',
  start: (ctx: ControllerContext) => startDaemonSetController({ client: ctx.client, logger: ctx.logger, informers: ctx.informers }),
};
