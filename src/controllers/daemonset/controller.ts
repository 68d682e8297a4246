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
import { setMaxListeners } from 'node:events';
import type { KubeObject } from '../../registry/types.ts';
import { isRecord } from '../../registry/validation.ts';
import { ApiStatusError, KubeClient, isAlreadyExists, isConflict, isNotFound, objectKey, splitApiVersion, type ResourceRef } from '../../client/rest.ts';
import { InformerFactory, type Informer } from '../../client/informer.ts';
import { WorkQueue } from '../../client/workqueue.ts';
import { realClock, type Clock } from '../../client/clock.ts';
import { createLogger, type Logger } from '../../util/log.ts';
import type { ControllerContext, ControllerFactory, RunningController } from '../manager.ts';
import { EventRecorder, type Recorder } from '../events.ts';
import { actionEvent, describeAction, executionPhases, type ActionError, type DaemonSetAction } from './actions.ts';
import { BACKOFF_MAX_MS, computeDaemonSetActions, type DaemonSetStatus, type FailedPodBackoff } from './control.ts';
import { DAEMONSET_KIND, REVISION_HASH_LABEL, controllerRefOf, isBeingDeleted, selectorMatches } from './daemonset.ts';
import { nodeShouldRunDaemonPod } from './nodes.ts';

export const DAEMONSET_CONTROLLER_COMPONENT = 'daemonset-controller';
export const DAEMONSET_USER_AGENT = 'kennel-daemonset-controller';
/** The field manager Kubernetes' controllers write with. */
export const DAEMONSET_FIELD_MANAGER = 'kube-controller-manager';

export const DAEMONSETS: ResourceRef = { group: 'apps', version: 'v1', plural: 'daemonsets', namespaced: true, kind: 'DaemonSet' };
export const NODES: ResourceRef = { group: '', version: 'v1', plural: 'nodes', namespaced: false, kind: 'Node' };
export const PODS: ResourceRef = { group: '', version: 'v1', plural: 'pods', namespaced: true, kind: 'Pod' };
export const REVISIONS: ResourceRef = { group: 'apps', version: 'v1', plural: 'controllerrevisions', namespaced: true, kind: 'ControllerRevision' };

export interface DaemonSetControllerOptions {
  /** A client of the API server; the controller makes its own from its config (user agent
   *  `kennel-daemonset-controller`, field manager `kube-controller-manager`). */
  client: KubeClient;
  logger?: Logger;
  /** Share informers with the process's other controllers (started here, not stopped). */
  informers?: InformerFactory;
  /** Sets reconciled at once (default 4); one set is never reconciled by two workers. */
  workers?: number;
  /** Requests of one phase in flight at once (default 64). */
  concurrency?: number;
  /** Where events go (default: core/v1 Events from `daemonset-controller`). */
  recorder?: Recorder;
  /** source.host / reportingInstance of the default recorder. */
  identity?: string;
  /** Fail start() when the caches have not synced within this long (default: wait). */
  syncTimeoutMs?: number;
  clock?: Clock;
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
export class DaemonSetRoundError extends Error {
  constructor(
    readonly setKey: string,
    readonly failures: { action: string; error: ActionError }[],
  ) {
    super(`sync of DaemonSet ${setKey} failed: ${failures.map((f) => `${f.action}: ${f.error.message}`).join('; ')}`);
    this.name = 'DaemonSetRoundError';
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
async function mapLimit<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
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

/** Kubernetes' slow start: batches of 1, 2, 4, … items (the last one smaller). */
export function slowStartBatches<T>(items: T[], initial = 1): T[][] {
  const out: T[][] = [];
  let size = Math.max(1, initial);
  for (let pos = 0; pos < items.length; pos += size, size *= 2) out.push(items.slice(pos, pos + size));
  return out;
}

function rvNumber(rv: string | undefined): bigint | undefined {
  return rv && /^[0-9]+$/.test(rv) ? BigInt(rv) : undefined;
}

function isDaemonSetRef(apiVersion: string, kind: string): boolean {
  return kind === DAEMONSET_KIND && splitApiVersion(apiVersion).group === 'apps';
}

/** Where the sets a pod, revision or node concerns are looked up. */
export interface DaemonSetLookup {
  get(namespace: string, name: string): KubeObject | undefined;
  listByNamespace(namespace: string): KubeObject[];
  list(): KubeObject[];
}

/** Keys of the sets a pod or revision concerns: its controller, or (orphan) every set selecting it. */
export function daemonSetsForObject(sets: DaemonSetLookup, obj: KubeObject): string[] {
  const ns = obj.metadata.namespace ?? '';
  const ref = controllerRefOf(obj);
  if (ref) {
    if (!isDaemonSetRef(ref.apiVersion, ref.kind)) return [];
    const ds = sets.get(ns, ref.name);
    return ds && ds.metadata.uid === ref.uid ? [objectKey(ds)] : [];
  }
  if (isBeingDeleted(obj)) return [];
  return sets
    .listByNamespace(ns)
    .filter((ds) => selectorMatches(ds, obj.metadata.labels))
    .map((ds) => objectKey(ds));
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

interface Expectation {
  informer: Informer;
  rv: bigint;
  at: number;
}

/** How long a round waits for the caches to show its previous writes before going ahead. */
const EXPECTATION_TTL_MS = 10_000;
/** Poll interval while waiting for the caches. */
const CACHE_WAIT_MS = 50;

export async function startDaemonSetController(opts: DaemonSetControllerOptions): Promise<DaemonSetController> {
  const log = opts.logger ?? createLogger(DAEMONSET_CONTROLLER_COMPONENT);
  const clock = opts.clock ?? realClock;
  const client = new KubeClient(opts.client.config, { userAgent: DAEMONSET_USER_AGENT, fieldManager: DAEMONSET_FIELD_MANAGER });
  const ownFactory = !opts.informers;
  const factory = opts.informers ?? new InformerFactory(client, { clock, logger: log });
  const ownRecorder = !opts.recorder;
  const recorder = opts.recorder ?? new EventRecorder({ client, component: DAEMONSET_CONTROLLER_COMPONENT, host: opts.identity, logger: log, clock });
  const concurrency = Math.max(1, opts.concurrency ?? 64);
  const abort = new AbortController();
  const signal = abort.signal;
  setMaxListeners(0, signal);
  const queue = new WorkQueue<string>({ name: 'daemonset', clock, logger: log });

  const sets = factory.informer(DAEMONSETS);
  const nodes = factory.informer(NODES);
  const pods = factory.informer(PODS);
  const revisions = factory.informer(REVISIONS);
  const informerOf: Record<string, Informer> = { daemonsets: sets, pods, controllerrevisions: revisions };

  /** set key → resource plural → the newest resourceVersion this controller wrote. */
  const expectations = new Map<string, Map<string, Expectation>>();
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
  const both = (o: KubeObject, c: KubeObject): string[] => [...new Set([...forObject(o), ...forObject(c)])];
  const dropBackoff = (ds: KubeObject): void => {
    const prefix = `${ds.metadata.uid ?? ''}/`;
    for (const k of backoffs.keys()) if (k.startsWith(prefix)) backoffs.delete(k);
  };
  const unregister: (() => void)[] = [];
  unregister.push(
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
    pods.addEventHandler({
      onAdd: (p) => enqueueAll(forObject(p)),
      onUpdate: (o, p) => enqueueAll(both(o, p)),
      onDelete: (p) => enqueueAll(forObject(p)),
    }),
    revisions.addEventHandler({
      onAdd: (r) => enqueueAll(forObject(r)),
      onUpdate: (o, r) => enqueueAll(both(o, r)),
      onDelete: (r) => enqueueAll(forObject(r)),
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

  // -- actions

  const nsOf = (ds: KubeObject): string => ds.metadata.namespace ?? 'default';

  /** Carry out one action; resolves with the error (undefined on success) and, for a created
   *  pod, its generated name. Never rejects. */
  const execute = async (key: string, ds: KubeObject, a: DaemonSetAction): Promise<{ error?: ActionError; created?: string }> => {
    const namespace = nsOf(ds);
    try {
      switch (a.type) {
        case 'createRevision':
          expect(key, 'controllerrevisions', await client.create(REVISIONS, a.object, { signal }));
          return {};
        case 'updateRevision':
          expect(key, 'controllerrevisions', await client.update(REVISIONS, a.object, { signal }));
          return {};
        case 'deleteRevision':
          try {
            expect(key, 'controllerrevisions', await client.delete(REVISIONS, namespace, a.name, { signal, preconditions: a.uid ? { uid: a.uid } : undefined }));
          } catch (e) {
            if (!isNotFound(e)) throw e;
          }
          return {};
        case 'adoptPod':
        case 'releasePod':
        case 'adoptRevision':
        case 'releaseRevision': {
          const res = a.type === 'adoptRevision' || a.type === 'releaseRevision' ? REVISIONS : PODS;
          const patch = { metadata: { uid: a.uid, ownerReferences: a.ownerReferences.length > 0 ? a.ownerReferences : null } };
          expect(key, res.plural, await client.patch(res, namespace, a.name, patch, 'merge', { signal }));
          return {};
        }
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
  const writeStatus = async (key: string, ds: KubeObject, status: DaemonSetStatus): Promise<void> => {
    const body = (base: KubeObject): KubeObject => ({
      apiVersion: 'apps/v1',
      kind: 'DaemonSet',
      metadata: { name: base.metadata.name, namespace: base.metadata.namespace, uid: base.metadata.uid, resourceVersion: base.metadata.resourceVersion },
      spec: base.spec,
      status: { ...(isRecord(base.status) ? base.status : {}), ...status },
    });
    try {
      expect(key, 'daemonsets', await client.updateStatus(DAEMONSETS, body(ds), { signal }));
      return;
    } catch (e) {
      if (!isConflict(e)) throw e;
    }
    const live = await client.get(DAEMONSETS, nsOf(ds), ds.metadata.name ?? '', { signal });
    // A newer generation (or another set of that name): the round it triggers writes status.
    if (live.metadata.uid !== ds.metadata.uid || live.metadata.generation !== ds.metadata.generation) return;
    expect(key, 'daemonsets', await client.updateStatus(DAEMONSETS, body(live), { signal }));
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
    const ds = sets.getByKey(key);
    if (!ds) {
      expectations.delete(key);
      return;
    }
    if (!caughtUp(key)) {
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

    const failures: { action: string; error: ActionError }[] = [];
    const record = (a: DaemonSetAction, r: { error?: ActionError; created?: string }): void => {
      const ev = actionEvent(a, r.error, r.created);
      if (ev) recorder.event(target, ev.type, ev.reason, ev.message);
      if (r.error && !(a.type === 'deletePod' && r.error.reason === 'NotFound')) failures.push({ action: describeAction(a), error: r.error });
    };
    for (const { phase, actions } of executionPhases(result.actions)) {
      const batches = phase === 'create' ? slowStartBatches(actions) : [actions];
      for (const batch of batches) {
        const results = await mapLimit(batch, concurrency, (a) => execute(key, ds, a));
        if (signal.aborted) break;
        batch.forEach((a, i) => record(a, results[i]));
        if (failures.length > 0) break; // slow start: skip the rest after a failing batch
      }
      if (signal.aborted || failures.length > 0) break;
    }

    let statusError: unknown;
    if (result.statusChanged && !signal.aborted) {
      try {
        await writeStatus(key, ds, result.status);
      } catch (e) {
        if (!isNotFound(e)) statusError = e;
      }
    }
    rounds++;
    if (failures.length > 0) throw new DaemonSetRoundError(key, failures);
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
  const workers = Math.max(1, opts.workers ?? 4);
  const workersDone = queue.runWorkers(workers, reconcile, {
    onError: (key, err, requeues) => {
      if (signal.aborted) return;
      if (err instanceof DaemonSetRoundError && err.onlyStaleCache) log.debug('objects already exist; retrying once the cache has them', { daemonset: key, retries: requeues });
      else if (isAlreadyExists(err) || isConflict(err)) log.debug('sync conflict; retrying', { daemonset: key, error: errText(err), retries: requeues });
      else log.warn('sync failed; retrying', { daemonset: key, error: errText(err), retries: requeues });
    },
  });
  log.info('started', { workers });

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
        abort.abort(new Error('daemonset controller stopped'));
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

/** The DaemonSet controller for the controller manager. */
export const daemonSetController: ControllerFactory = {
  name: 'daemonset',
  start: (ctx: ControllerContext) => startDaemonSetController({ client: ctx.client, logger: ctx.logger }),
};
