// The StatefulSet controller: the acting layer around the pure control algorithm
// (control.ts). Informers on StatefulSets, Pods, PersistentVolumeClaims and ControllerRevisions
// (all namespaces) feed a work queue of set keys; reconcile(key) runs computeActions() on the
// cache contents of the set's namespace, carries out the actions wave by wave
// (executionWaves: a wave's actions run concurrently; after a wave in which anything failed the
// round stops and the key is retried with rate-limited backoff), records the Events Kubernetes
// records (actionEvent and the algorithm's own), and writes the status through the status
// subresource. The key is synced again after requeueAfterMs (minReadySeconds).
//
// Which set a change concerns (Kubernetes' getPodStatefulSets and friends):
// - a pod or revision with a controller reference → that set (if its uid still matches);
// - an orphan pod → every set in its namespace whose selector matches it and whose name it
//   carries (so the set can adopt it); an orphan revision → every set whose selector matches;
// - a claim → the sets it names (`<template>-<set>-<ordinal>`) and any set among its owners.
//
// Acting on a stale cache: after its writes a round remembers the resourceVersion each write
// returned, and the next round of that set waits until the informers have caught up with them
// (resourceVersions are the store's global revision, so an informer has seen a write once its
// last synced resourceVersion is at least the write's). Without this, a round started before
// the watch delivered the previous round's pod deletion would count that pod as still available
// and could take down a second one during a rolling update.
//
// Beyond Kubernetes: a set whose spec.serviceName names a Service that does not exist gets one
// Warning event `ServiceNotFound` per set generation ("service "nginx" not found: pod DNS names
// (web-0.nginx.default.svc.cluster.local) will not resolve until it exists"). Kubernetes accepts
// such a set silently. The absence is confirmed with a live GET before warning, so a Service
// created just before the set (kubectl apply of one file) never triggers it.
import type { KubeObject } from '../../registry/types.ts';
import { isNotFound, objectKey } from '../../client/rest.ts';
import type { Informer } from '../../client/informer.ts';
import type { ControllerContext, ControllerFactory, RunningController } from '../manager.ts';
import { ControllerBase, roundRetryLogger, type ControllerBaseOptions } from '../common/base.ts';
import { WriteExpectations } from '../common/cache-sync.ts';
import { carryOutBatches, finishRound } from '../common/rounds.ts';
import { enqueueOwnersOf, ownerKeysOf, referencedOwner, refersTo, writeOwnership, type OwnerLookup } from '../common/owners.ts';
import { RoundFailure, toActionError, type ActionError } from '../common/errors.ts';
import { writeStatus } from '../common/status.ts';
import { actionEvent, describeAction, executionWaves, type Action } from './actions.ts';
import { computeActions, type StatefulSetStatus } from './control.ts';
import { claimTemplateName, claimTemplatesOf, controllerRefOf, isBeingDeleted, selectorMatches, serviceNameOf, startOrdinal } from './set.ts';
import { isMemberOf, podName } from './names.ts';
import { CLAIMS, PODS, REVISIONS, SERVICES, STATEFULSETS } from '../common/resources.ts';

export const STATEFULSET_CONTROLLER_COMPONENT = 'statefulset-controller';
export const STATEFULSET_USER_AGENT = 'kennel-statefulset-controller';
/** The field manager Kubernetes' controllers write with. */
export const STATEFULSET_FIELD_MANAGER = 'kube-controller-manager';
/** Reason of kennel's Warning about a missing governing Service. */
export const SERVICE_NOT_FOUND_REASON = 'ServiceNotFound';

export { CLAIMS, PODS, REVISIONS, SERVICES, STATEFULSETS };

/** The controller makes its own client from opts.client's config (user agent
 *  `kennel-statefulset-controller`, field manager `kube-controller-manager`); its default
 *  recorder writes core/v1 Events from `statefulset-controller`. */
export interface StatefulSetControllerOptions extends ControllerBaseOptions {
  /** Sets reconciled at once (default 4); one set is never reconciled by two workers. */
  workers?: number;
  /** Actions of one wave in flight at once (default 64). */
  concurrency?: number;
}

export interface StatefulSetController extends RunningController {
  /** Rounds completed so far (reconciles that computed actions), for tests and benchmarks. */
  readonly rounds: number;
  /** Writes made so far (actions carried out, status writes included). */
  readonly writes: number;
  /** Nothing queued, waiting (requeues, backoff) or being reconciled. */
  idle(): boolean;
}

/** A round failed after some actions: the key is retried with backoff. */
export class RoundError extends RoundFailure {
  constructor(setKey: string, failures: { action: string; error: ActionError }[]) {
    super('StatefulSet', setKey, failures);
    this.name = 'RoundError';
  }
}

/** Bounded-concurrency map (shared by the controllers). */
export { mapLimit } from '../common/concurrency.ts';

const STATEFULSET_KIND = { group: 'apps', kind: 'StatefulSet' };

/** Where the sets a pod, claim or revision concerns are looked up. */
export type SetLookup = OwnerLookup;

/** Keys of the sets a pod concerns: its controller, or (orphan) every set that may adopt it. */
export function setsForPod(sets: SetLookup, pod: KubeObject): string[] {
  return ownerKeysOf(pod, controllerRefOf(pod), sets, STATEFULSET_KIND, (s) => isMemberOf(s, pod) && selectorMatches(s, pod.metadata.labels));
}

/** Keys of the sets a revision concerns: its controller, or (orphan) every set selecting it. */
export function setsForRevision(sets: SetLookup, rev: KubeObject): string[] {
  return ownerKeysOf(rev, controllerRefOf(rev), sets, STATEFULSET_KIND, (s) => selectorMatches(s, rev.metadata.labels));
}

/** Keys of the sets a claim concerns: those whose claim names it has, and set owners. */
export function setsForClaim(sets: SetLookup, claim: KubeObject): string[] {
  const ns = claim.metadata.namespace ?? '';
  const name = claim.metadata.name ?? '';
  const out = new Set<string>();
  for (const set of sets.listByNamespace(ns)) {
    const setName = set.metadata.name ?? '';
    for (const t of claimTemplatesOf(set)) {
      const prefix = `${claimTemplateName(t)}-${setName}-`;
      if (name.startsWith(prefix) && /^[0-9]+$/.test(name.slice(prefix.length))) out.add(objectKey(set));
    }
  }
  for (const ref of claim.metadata.ownerReferences ?? []) {
    if (!refersTo(ref, STATEFULSET_KIND)) continue;
    const set = referencedOwner(sets, ns, ref);
    if (set) out.add(objectKey(set));
  }
  return [...out];
}

/** The Warning message for a set whose governing Service does not exist. */
export function serviceNotFoundMessage(set: KubeObject): string {
  const svc = serviceNameOf(set);
  const ns = set.metadata.namespace ?? 'default';
  return `service "${svc}" not found: pod DNS names (${podName(set, startOrdinal(set))}.${svc}.${ns}.svc.cluster.local) will not resolve until it exists`;
}

/** Poll interval while waiting for the caches. */
const CACHE_WAIT_MS = 50;

export async function startStatefulSetController(opts: StatefulSetControllerOptions): Promise<StatefulSetController> {
  const base = new ControllerBase(opts, {
    component: STATEFULSET_CONTROLLER_COMPONENT,
    userAgent: STATEFULSET_USER_AGENT,
    fieldManager: STATEFULSET_FIELD_MANAGER,
    queueName: 'statefulset',
    stopMessage: 'statefulset controller',
  });
  const { log, clock, client, factory, recorder, queue, signal } = base;
  const concurrency = Math.max(1, opts.concurrency ?? 64);

  const sets = factory.informer(STATEFULSETS);
  const pods = factory.informer(PODS);
  const claims = factory.informer(CLAIMS);
  const revisions = factory.informer(REVISIONS);
  const services = factory.informer(SERVICES);
  const informerOf: Record<string, Informer> = { statefulsets: sets, pods, persistentvolumeclaims: claims, controllerrevisions: revisions };

  // -- per-set state

  /** Per set key, the writes of its previous rounds the caches must show first. */
  const expectations = new WriteExpectations(() => clock.now());
  /** set uid → generation already warned about a missing Service. */
  const serviceWarned = new Map<string, number>();
  let rounds = 0;
  let writes = 0;

  const lookup: SetLookup = { get: (ns, name) => sets.get(ns, name), listByNamespace: (ns) => sets.listByNamespace(ns) };
  const enqueue = (key: string): void => queue.add(key);
  base.handle(
    sets.addEventHandler({
      onAdd: (s) => queue.add(objectKey(s)),
      onUpdate: (_o, s) => queue.add(objectKey(s)),
      onDelete: (s) => {
        if (s.metadata.uid) serviceWarned.delete(s.metadata.uid);
        queue.add(objectKey(s));
      },
    }),
    pods.addEventHandler(enqueueOwnersOf((p) => setsForPod(lookup, p), enqueue)),
    claims.addEventHandler(enqueueOwnersOf((c) => setsForClaim(lookup, c), enqueue)),
    revisions.addEventHandler(enqueueOwnersOf((r) => setsForRevision(lookup, r), enqueue)),
  );

  const expect = (key: string, plural: string, written: KubeObject | undefined): void => {
    writes++;
    expectations.expect(key, informerOf[plural], written);
  };

  // -- the governing Service (kennel's warning)

  const checkService = (set: KubeObject): void => {
    const svc = serviceNameOf(set);
    const uid = set.metadata.uid ?? '';
    if (!svc || !uid || isBeingDeleted(set) || !services.hasSynced()) return;
    const ns = set.metadata.namespace ?? 'default';
    if (services.get(ns, svc)) return;
    const generation = typeof set.metadata.generation === 'number' ? set.metadata.generation : 0;
    if (serviceWarned.get(uid) === generation) return;
    serviceWarned.set(uid, generation);
    // Confirm with a live read: the Service may be younger than what the cache shows.
    client.get(SERVICES, ns, svc, { signal }).then(
      () => undefined,
      (e: unknown) => {
        if (isNotFound(e)) recorder.event(set, 'Warning', SERVICE_NOT_FOUND_REASON, serviceNotFoundMessage(set));
        else if (!signal.aborted) serviceWarned.delete(uid);
      },
    );
  };

  // -- actions

  const ns = (set: KubeObject): string => set.metadata.namespace ?? 'default';

  /** Carry out one action; resolves with the error (undefined on success), never rejects. */
  const execute = async (key: string, set: KubeObject, a: Action): Promise<ActionError | undefined> => {
    const namespace = ns(set);
    try {
      switch (a.type) {
        case 'createRevision':
        case 'updateRevision':
        case 'deleteRevision':
        case 'adoptPod':
        case 'releasePod':
        case 'adoptRevision':
          await writeOwnership(client, namespace, a, { signal, wrote: (plural, o) => expect(key, plural, o) });
          return undefined;
        case 'createClaim':
          expect(key, 'persistentvolumeclaims', await client.create(CLAIMS, a.object, { signal }));
          return undefined;
        case 'updateClaim':
          expect(key, 'persistentvolumeclaims', await client.update(CLAIMS, a.object, { signal }));
          return undefined;
        case 'createPod':
          expect(key, 'pods', await client.create(PODS, a.object, { signal }));
          return undefined;
        case 'updatePod':
          expect(key, 'pods', await client.update(PODS, a.object, { signal }));
          return undefined;
        case 'deletePod':
          try {
            expect(key, 'pods', await client.delete(PODS, namespace, a.name, { signal, preconditions: { uid: a.uid } }));
          } catch (e) {
            if (!isNotFound(e)) throw e;
          }
          return undefined;
      }
    } catch (e) {
      return toActionError(e);
    }
  };

  /** Write status through the status subresource; on a conflict, onto the live object. */
  const writeSetStatus = (key: string, set: KubeObject, status: StatefulSetStatus): Promise<void> =>
    writeStatus(client, STATEFULSETS, set, status, {
      signal,
      still: (live) => live.metadata.uid === set.metadata.uid,
      wrote: (o) => expect(key, 'statefulsets', o),
    });

  // -- reconcile

  const reconcileSet = async (key: string): Promise<void> => {
    const set = sets.getByKey(key);
    if (!set) {
      expectations.forget(key);
      return;
    }
    if (!expectations.caughtUp(key)) {
      queue.addAfter(key, CACHE_WAIT_MS);
      return;
    }
    const namespace = ns(set);
    const result = computeActions({
      set,
      pods: pods.listByNamespace(namespace),
      claims: claims.listByNamespace(namespace),
      revisions: revisions.listByNamespace(namespace),
      now: new Date(clock.now()),
    });
    if (result.actions.length > 0 || result.waiting) {
      log.debug('sync', { statefulset: key, actions: result.actions.map(describeAction), waiting: result.waiting });
    }
    // Events name the set as apps/v1 StatefulSet whatever the cache's copy carries.
    const target: KubeObject = set.kind && set.apiVersion ? set : { ...set, apiVersion: 'apps/v1', kind: 'StatefulSet' };
    checkService(target);
    for (const ev of result.events) recorder.event(target, ev.type, ev.reason, ev.message);

    const failures = await carryOutBatches(executionWaves(result.actions), {
      concurrency,
      signal,
      execute: (a) => execute(key, set, a),
      settle: (a, err) => {
        const ev = actionEvent(set, a, err);
        if (ev) recorder.event(target, ev.type, ev.reason, ev.message);
        return err ? { action: describeAction(a), error: err } : undefined;
      },
    });
    await finishRound({
      statusChanged: result.statusChanged,
      signal,
      writeStatus: () => writeSetStatus(key, set, result.status),
      counted: () => rounds++,
      failures,
      roundError: (f) => new RoundError(key, f),
    });
    if (result.requeueAfterMs !== undefined) queue.addAfter(key, result.requeueAfterMs);
  };

  // -- start

  await base.sync();
  base.run(opts.workers ?? 4, reconcileSet, roundRetryLogger(log, 'statefulset'));
  log.info('started', { workers: opts.workers ?? 4 });

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

/** The StatefulSet controller for the controller manager (on the manager's shared informers). */
export const statefulSetController: ControllerFactory = {
  name: 'statefulset',
  start: (ctx: ControllerContext) => startStatefulSetController({ client: ctx.client, logger: ctx.logger, informers: ctx.informers }),
};
