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
import { setMaxListeners } from 'node:events';
import type { KubeObject } from '../../registry/types.ts';
import { isRecord } from '../../registry/validation.ts';
import {
  ApiStatusError,
  KubeClient,
  isAlreadyExists,
  isConflict,
  isNotFound,
  objectKey,
  splitApiVersion,
  type ResourceRef,
} from '../../client/rest.ts';
import { InformerFactory, type Informer } from '../../client/informer.ts';
import { WorkQueue } from '../../client/workqueue.ts';
import { realClock, type Clock } from '../../client/clock.ts';
import { createLogger, type Logger } from '../../util/log.ts';
import type { ControllerContext, ControllerFactory, RunningController } from '../manager.ts';
import { EventRecorder, type Recorder } from '../events.ts';
import { actionEvent, describeAction, executionWaves, type Action, type ActionError } from './actions.ts';
import { computeActions, type StatefulSetStatus } from './control.ts';
import { claimTemplateName, claimTemplatesOf, controllerRefOf, isBeingDeleted, selectorMatches, serviceNameOf, startOrdinal } from './set.ts';
import { isMemberOf, podName } from './names.ts';

export const STATEFULSET_CONTROLLER_COMPONENT = 'statefulset-controller';
export const STATEFULSET_USER_AGENT = 'kennel-statefulset-controller';
/** The field manager Kubernetes' controllers write with. */
export const STATEFULSET_FIELD_MANAGER = 'kube-controller-manager';
/** Reason of kennel's Warning about a missing governing Service. */
export const SERVICE_NOT_FOUND_REASON = 'ServiceNotFound';

export const STATEFULSETS: ResourceRef = { group: 'apps', version: 'v1', plural: 'statefulsets', namespaced: true, kind: 'StatefulSet' };
export const PODS: ResourceRef = { group: '', version: 'v1', plural: 'pods', namespaced: true, kind: 'Pod' };
export const CLAIMS: ResourceRef = { group: '', version: 'v1', plural: 'persistentvolumeclaims', namespaced: true, kind: 'PersistentVolumeClaim' };
export const REVISIONS: ResourceRef = { group: 'apps', version: 'v1', plural: 'controllerrevisions', namespaced: true, kind: 'ControllerRevision' };
export const SERVICES: ResourceRef = { group: '', version: 'v1', plural: 'services', namespaced: true, kind: 'Service' };

export interface StatefulSetControllerOptions {
  /** A client of the API server; the controller makes its own from its config (user agent
   *  `kennel-statefulset-controller`, field manager `kube-controller-manager`). */
  client: KubeClient;
  logger?: Logger;
  /** Share informers with the process's other controllers (started here, not stopped). */
  informers?: InformerFactory;
  /** Sets reconciled at once (default 4); one set is never reconciled by two workers. */
  workers?: number;
  /** Actions of one wave in flight at once (default 64). */
  concurrency?: number;
  /** Where events go (default: core/v1 Events from `statefulset-controller`). */
  recorder?: Recorder;
  /** source.host / reportingInstance of the default recorder. */
  identity?: string;
  /** Fail start() when the caches have not synced within this long (default: wait). */
  syncTimeoutMs?: number;
  clock?: Clock;
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
export class RoundError extends Error {
  constructor(
    readonly setKey: string,
    readonly failures: { action: string; error: ActionError }[],
  ) {
    super(`sync of StatefulSet ${setKey} failed: ${failures.map((f) => `${f.action}: ${f.error.message}`).join('; ')}`);
    this.name = 'RoundError';
  }
  /** Every failure is a create that found the object already there (a stale cache). */
  get onlyStaleCache(): boolean {
    return this.failures.every((f) => f.error.reason === 'AlreadyExists');
  }
}

function errText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function toActionError(e: unknown): ActionError {
  if (e instanceof ApiStatusError) return { message: e.message, reason: e.reason };
  return { message: errText(e) };
}

/** Run fn over items with at most `limit` in flight; results in item order. */
export async function mapLimit<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(Math.max(1, limit), items.length) }, () => worker()));
  return out;
}

function isStatefulSetRef(apiVersion: string, kind: string): boolean {
  return kind === 'StatefulSet' && splitApiVersion(apiVersion).group === 'apps';
}

/** The numeric value of a resourceVersion, or undefined when it is not a number. */
function rvNumber(rv: string | undefined): bigint | undefined {
  return rv && /^[0-9]+$/.test(rv) ? BigInt(rv) : undefined;
}

/** Where the sets a pod, claim or revision concerns are looked up. */
export interface SetLookup {
  get(namespace: string, name: string): KubeObject | undefined;
  listByNamespace(namespace: string): KubeObject[];
}

/** Keys of the sets a pod concerns: its controller, or (orphan) every set that may adopt it. */
export function setsForPod(sets: SetLookup, pod: KubeObject): string[] {
  const ns = pod.metadata.namespace ?? '';
  const ref = controllerRefOf(pod);
  if (ref) {
    if (!isStatefulSetRef(ref.apiVersion, ref.kind)) return [];
    const set = sets.get(ns, ref.name);
    return set && set.metadata.uid === ref.uid ? [objectKey(set)] : [];
  }
  return sets
    .listByNamespace(ns)
    .filter((s) => isMemberOf(s, pod) && selectorMatches(s, pod.metadata.labels))
    .map((s) => objectKey(s));
}

/** Keys of the sets a revision concerns: its controller, or (orphan) every set selecting it. */
export function setsForRevision(sets: SetLookup, rev: KubeObject): string[] {
  const ns = rev.metadata.namespace ?? '';
  const ref = controllerRefOf(rev);
  if (ref) {
    if (!isStatefulSetRef(ref.apiVersion, ref.kind)) return [];
    const set = sets.get(ns, ref.name);
    return set && set.metadata.uid === ref.uid ? [objectKey(set)] : [];
  }
  return sets
    .listByNamespace(ns)
    .filter((s) => selectorMatches(s, rev.metadata.labels))
    .map((s) => objectKey(s));
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
    if (!isStatefulSetRef(ref.apiVersion, ref.kind)) continue;
    const set = sets.get(ns, ref.name);
    if (set && set.metadata.uid === ref.uid) out.add(objectKey(set));
  }
  return [...out];
}

/** The Warning message for a set whose governing Service does not exist. */
export function serviceNotFoundMessage(set: KubeObject): string {
  const svc = serviceNameOf(set);
  const ns = set.metadata.namespace ?? 'default';
  return `service "${svc}" not found: pod DNS names (${podName(set, startOrdinal(set))}.${svc}.${ns}.svc.cluster.local) will not resolve until it exists`;
}

interface Expectation {
  informer: Informer;
  rv: bigint;
  at: number;
}

/** How long a round waits for the caches to show its previous writes before going ahead. */
const EXPECTATION_TTL_MS = 10_000;
/** Poll interval while waiting for the caches. */
const CACHE_WAIT_MS = 50;

export async function startStatefulSetController(opts: StatefulSetControllerOptions): Promise<StatefulSetController> {
  const log = opts.logger ?? createLogger(STATEFULSET_CONTROLLER_COMPONENT);
  const clock = opts.clock ?? realClock;
  const client = new KubeClient(opts.client.config, { userAgent: STATEFULSET_USER_AGENT, fieldManager: STATEFULSET_FIELD_MANAGER });
  const ownFactory = !opts.informers;
  const factory = opts.informers ?? new InformerFactory(client, { clock, logger: log });
  const ownRecorder = !opts.recorder;
  const recorder = opts.recorder ?? new EventRecorder({ client, component: STATEFULSET_CONTROLLER_COMPONENT, host: opts.identity, logger: log, clock });
  const concurrency = Math.max(1, opts.concurrency ?? 64);
  const abort = new AbortController();
  const signal = abort.signal;
  // Every request in flight listens on it (a wave may hold `concurrency` of them).
  setMaxListeners(0, signal);
  const queue = new WorkQueue<string>({ name: 'statefulset', clock, logger: log });

  const sets = factory.informer(STATEFULSETS);
  const pods = factory.informer(PODS);
  const claims = factory.informer(CLAIMS);
  const revisions = factory.informer(REVISIONS);
  const services = factory.informer(SERVICES);
  const informerOf: Record<string, Informer> = { statefulsets: sets, pods, persistentvolumeclaims: claims, controllerrevisions: revisions };

  // -- per-set state

  /** set key → resource plural → the newest resourceVersion this controller wrote. */
  const expectations = new Map<string, Map<string, Expectation>>();
  /** set uid → generation already warned about a missing Service. */
  const serviceWarned = new Map<string, number>();
  let rounds = 0;
  let writes = 0;

  const lookup: SetLookup = { get: (ns, name) => sets.get(ns, name), listByNamespace: (ns) => sets.listByNamespace(ns) };
  const enqueueAll = (keys: string[]): void => {
    for (const k of keys) queue.add(k);
  };
  const unregister: (() => void)[] = [];
  unregister.push(
    sets.addEventHandler({
      onAdd: (s) => queue.add(objectKey(s)),
      onUpdate: (_o, s) => queue.add(objectKey(s)),
      onDelete: (s) => {
        if (s.metadata.uid) serviceWarned.delete(s.metadata.uid);
        queue.add(objectKey(s));
      },
    }),
    pods.addEventHandler({
      onAdd: (p) => enqueueAll(setsForPod(lookup, p)),
      onUpdate: (o, p) => enqueueAll([...new Set([...setsForPod(lookup, o), ...setsForPod(lookup, p)])]),
      onDelete: (p) => enqueueAll(setsForPod(lookup, p)),
    }),
    claims.addEventHandler({
      onAdd: (c) => enqueueAll(setsForClaim(lookup, c)),
      onUpdate: (o, c) => enqueueAll([...new Set([...setsForClaim(lookup, o), ...setsForClaim(lookup, c)])]),
      onDelete: (c) => enqueueAll(setsForClaim(lookup, c)),
    }),
    revisions.addEventHandler({
      onAdd: (r) => enqueueAll(setsForRevision(lookup, r)),
      onUpdate: (o, r) => enqueueAll([...new Set([...setsForRevision(lookup, o), ...setsForRevision(lookup, r)])]),
      onDelete: (r) => enqueueAll(setsForRevision(lookup, r)),
    }),
  );

  const expect = (key: string, plural: string, written: KubeObject | undefined): void => {
    writes++;
    const rv = rvNumber(written?.metadata?.resourceVersion);
    const informer = informerOf[plural];
    if (rv === undefined || !informer) return;
    let m = expectations.get(key);
    if (!m) expectations.set(key, (m = new Map()));
    const cur = m.get(plural);
    if (!cur || cur.rv < rv) m.set(plural, { informer, rv, at: clock.now() });
  };

  /** Whether the informers have seen every write of the set's previous rounds. */
  const caughtUp = (key: string): boolean => {
    const m = expectations.get(key);
    if (!m) return true;
    const now = clock.now();
    for (const [plural, e] of m) {
      const seen = rvNumber(e.informer.lastSyncResourceVersion()) ?? 0n;
      if (seen >= e.rv || now - e.at > EXPECTATION_TTL_MS) m.delete(plural);
    }
    if (m.size === 0) expectations.delete(key);
    return m.size === 0;
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
          expect(key, 'controllerrevisions', await client.create(REVISIONS, a.object, { signal }));
          return undefined;
        case 'updateRevision':
          expect(key, 'controllerrevisions', await client.update(REVISIONS, a.object, { signal }));
          return undefined;
        case 'deleteRevision':
          try {
            expect(key, 'controllerrevisions', await client.delete(REVISIONS, namespace, a.name, { signal, preconditions: a.uid ? { uid: a.uid } : undefined }));
          } catch (e) {
            if (!isNotFound(e)) throw e;
          }
          return undefined;
        case 'adoptPod':
        case 'releasePod':
        case 'adoptRevision': {
          const res = a.type === 'adoptRevision' ? REVISIONS : PODS;
          const patch = { metadata: { uid: a.uid, ownerReferences: a.ownerReferences.length > 0 ? a.ownerReferences : null } };
          expect(key, res.plural, await client.patch(res, namespace, a.name, patch, 'merge', { signal }));
          return undefined;
        }
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
  const writeStatus = async (key: string, set: KubeObject, status: StatefulSetStatus): Promise<void> => {
    const body = (base: KubeObject): KubeObject => ({
      apiVersion: 'apps/v1',
      kind: 'StatefulSet',
      metadata: { name: base.metadata.name, namespace: base.metadata.namespace, uid: base.metadata.uid, resourceVersion: base.metadata.resourceVersion },
      spec: base.spec,
      status: { ...(isRecord(base.status) ? base.status : {}), ...status },
    });
    try {
      expect(key, 'statefulsets', await client.updateStatus(STATEFULSETS, body(set), { signal }));
      return;
    } catch (e) {
      if (!isConflict(e)) throw e;
    }
    const live = await client.get(STATEFULSETS, ns(set), set.metadata.name ?? '', { signal });
    if (live.metadata.uid !== set.metadata.uid) return;
    expect(key, 'statefulsets', await client.updateStatus(STATEFULSETS, body(live), { signal }));
  };

  // -- reconcile

  let inFlight = 0;
  const reconcile = async (key: string): Promise<void> => {
    inFlight++;
    try {
      await reconcileSet(key);
    } finally {
      inFlight--;
    }
  };

  const reconcileSet = async (key: string): Promise<void> => {
    const set = sets.getByKey(key);
    if (!set) {
      expectations.delete(key);
      return;
    }
    if (!caughtUp(key)) {
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

    const failures: { action: string; error: ActionError }[] = [];
    for (const wave of executionWaves(result.actions)) {
      const errs = await mapLimit(wave, concurrency, (a) => execute(key, set, a));
      if (signal.aborted) break; // stopping: the failures are ours, not the cluster's
      wave.forEach((a, i) => {
        const err = errs[i];
        const ev = actionEvent(set, a, err);
        if (ev) recorder.event(target, ev.type, ev.reason, ev.message);
        if (err) failures.push({ action: describeAction(a), error: err });
      });
      if (failures.length > 0) break;
    }

    let statusError: unknown;
    if (result.statusChanged && !signal.aborted) {
      try {
        await writeStatus(key, set, result.status);
      } catch (e) {
        if (!isNotFound(e)) statusError = e;
      }
    }
    rounds++;
    if (failures.length > 0) throw new RoundError(key, failures);
    if (statusError) throw statusError;
    if (result.requeueAfterMs !== undefined) queue.addAfter(key, result.requeueAfterMs);
  };

  // -- start

  factory.start();
  try {
    await factory.waitForSync({ timeoutMs: opts.syncTimeoutMs, signal });
  } catch (e) {
    for (const u of unregister) u();
    if (ownFactory) await factory.stop();
    client.close();
    throw e;
  }
  const workersDone = queue.runWorkers(Math.max(1, opts.workers ?? 4), reconcile, {
    onError: (key, err, requeues) => {
      if (signal.aborted) return;
      if (err instanceof RoundError && err.onlyStaleCache) log.debug('objects already exist; retrying once the cache has them', { statefulset: key, retries: requeues });
      else if (isAlreadyExists(err) || isConflict(err)) log.debug('sync conflict; retrying', { statefulset: key, error: errText(err), retries: requeues });
      else log.warn('sync failed; retrying', { statefulset: key, error: errText(err), retries: requeues });
    },
  });
  log.info('started', { workers: opts.workers ?? 4 });

  let stopped: Promise<void> | undefined;
  return {
    get rounds() {
      return rounds;
    },
    get writes() {
      return writes;
    },
    idle: () => inFlight === 0 && queue.len() === 0 && queue.delayed() === 0,
    stop(): Promise<void> {
      stopped ??= (async () => {
        for (const u of unregister) u();
        queue.shutDown();
        abort.abort(new Error('statefulset controller stopped'));
        await workersDone;
        if (ownRecorder && recorder instanceof EventRecorder) await recorder.stop();
        if (ownFactory) await factory.stop();
        client.close();
        log.info('stopped');
      })();
      return stopped;
    },
  };
}

/** The StatefulSet controller for the controller manager. */
export const statefulSetController: ControllerFactory = {
  name: 'statefulset',
  start: (ctx: ControllerContext) => startStatefulSetController({ client: ctx.client, logger: ctx.logger }),
};
