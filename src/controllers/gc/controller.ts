// The garbage collector: informers on every stored kind feed an owner → dependents graph
// (graph.ts); a work queue of uids runs the pure decision (decide.ts) for each object whose
// situation may have changed, and this file carries the actions out through the API.
//
// Safety, as Kubernetes' garbage collector does it:
// - an owner counts as absent only after a live GET (404, or an object of that name with another
//   uid) — the informer caches may lag — or when a GET already said so for that reference
//   (uids are never reused);
// - before deleting an object, or editing its ownerReferences, the object is read again live and
//   the decision is taken again on what the API says; the delete carries preconditions on its
//   uid and resourceVersion, and patches carry JSON-patch `test`s on the uid and the list they
//   change, so nothing acts on a stale view;
// - a failure is retried with the work queue's rate limit.
import { setMaxListeners } from 'node:events';
import type { KubeObject, ObjectMeta, OwnerReference, ResourceDef } from '../../registry/types.ts';
import type { Registry } from '../../registry/index.ts';
import { isInvalid, isNotFound, isConflict, KubeClient, splitApiVersion } from '../../client/rest.ts';
import { InformerFactory, reportCacheMutation, type Informer } from '../../client/informer.ts';
import { WorkQueue } from '../../client/workqueue.ts';
import type { Clock } from '../../client/clock.ts';
import { createLogger, type Logger } from '../../util/log.ts';
import {
  decide,
  isBeingDeleted,
  isDeletingDependents,
  unblockedOwnerReferences,
  withoutFinalizer,
  withoutOwnerReferences,
  type GcAction,
  type GcObjectMeta,
  type OwnerState,
} from './decide.ts';
import { OwnerGraph, type GraphNode } from './graph.ts';

export const GC_FIELD_MANAGER = 'kennel-garbage-collector';
export const GC_USER_AGENT = 'kennel-garbage-collector';

export interface GarbageCollectorOptions {
  /** A client of the API server. The collector makes its own client from its config, so its
   *  requests carry the user agent and field manager `kennel-garbage-collector`. */
  client: KubeClient;
  registry: Registry;
  logger?: Logger;
  /** Share informers (and their caches) with the process's other controllers. Default: the
   *  collector's own factory. A shared factory is started (idempotent) but not stopped. */
  informers?: InformerFactory;
  /** Concurrent reconciles (default 4). */
  workers?: number;
  /** Give up starting when the caches have not synced within this long (default: wait). */
  syncTimeoutMs?: number;
  /** Aborting it stops the collector (e.g. the leader-election signal). */
  signal?: AbortSignal;
  clock?: Clock;
}

export interface GarbageCollector {
  /** Stop the workers and informers; in-flight requests are aborted. Idempotent. */
  stop(): Promise<void>;
  /** Objects in the graph (observed, or referenced by a dependent). */
  graphSize(): number;
}

/** Kinds the collector watches: every kind stored in its own right (views with `storedAs`
 *  are the same objects) except events, which never own anything and churn the most. */
export function gcResources(registry: Registry): ResourceDef[] {
  return registry.defs.filter((d) => {
    if (d.storedAs) return false;
    if (d.kind === 'Event') return false;
    const verbs = d.verbs;
    return !verbs || (verbs.includes('list') && verbs.includes('watch'));
  });
}

/** The registry entry an ownerReference names: exact apiVersion, else the kind in another
 *  version of the same group (as Kubernetes' REST mapper resolves it). */
export function ownerDefOf(registry: Registry, apiVersion: string, kind: string): ResourceDef | undefined {
  const exact = registry.byKind(apiVersion, kind);
  if (exact) return exact;
  const { group } = splitApiVersion(apiVersion);
  const same = registry.defs.filter((d) => d.group === group && d.kind === kind);
  return same.find((d) => !d.storedAs) ?? same[0];
}

const ABSENT_CACHE_MAX = 1000;

interface Live {
  meta: GcObjectMeta;
  resourceVersion?: string;
}

/** An object to act on, as the graph knew it when the work began (the node may change or go
 *  while requests are in flight). */
interface Target {
  uid: string;
  def: ResourceDef;
  namespace?: string;
  name: string;
  ownerReferences?: readonly OwnerReference[];
  finalizers?: readonly string[];
}

function targetOf(n: GraphNode): Target | null {
  if (!n.observed || !n.def) return null;
  return { uid: n.uid, def: n.def, namespace: n.namespace, name: n.name ?? '', ownerReferences: n.ownerReferences, finalizers: n.finalizers };
}

function metaOf(m: Pick<ObjectMeta, 'uid' | 'ownerReferences' | 'finalizers' | 'deletionTimestamp'>): GcObjectMeta {
  return { uid: m.uid ?? '', ownerReferences: m.ownerReferences, finalizers: m.finalizers, deletionTimestamp: m.deletionTimestamp };
}

function describe(n: { def?: ResourceDef; namespace?: string; name?: string }): string {
  const kind = n.def?.kind ?? 'object';
  return n.namespace ? `${kind} ${n.namespace}/${n.name ?? ''}` : `${kind} ${n.name ?? ''}`;
}

function errText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

export async function startGarbageCollector(opts: GarbageCollectorOptions): Promise<GarbageCollector> {
  const { registry } = opts;
  const log = opts.logger ?? createLogger('garbage-collector');
  const client = opts.client.derive({ userAgent: GC_USER_AGENT, fieldManager: GC_FIELD_MANAGER });
  const ownFactory = !opts.informers;
  const factory = opts.informers ?? new InformerFactory(client, { clock: opts.clock, logger: log });
  const graph = new OwnerGraph();
  const queue = new WorkQueue<string>({ name: 'garbage-collector', clock: opts.clock, logger: log });
  const abort = new AbortController();
  const signal = abort.signal;
  // One signal is shared by every informer's sync wait (one per kind): not a leak.
  setMaxListeners(0, signal);
  /** `uid|group|kind|namespace|name` of owner references a live GET found absent. */
  const absent = new Set<string>();
  const warned = new Set<string>();

  const enqueue = (uids: string[]): void => {
    for (const u of uids) queue.add(u);
  };

  // -- informers → graph

  const unregister: (() => void)[] = [];
  const informers: Informer[] = [];
  for (const def of gcResources(registry)) {
    const inf = factory.informer(def);
    informers.push(inf);
    unregister.push(
      inf.addEventHandler({
        onAdd: (obj) => enqueue(graph.observe(def, obj)),
        onUpdate: (old, obj) => {
          if (old.metadata.uid !== obj.metadata.uid) enqueue(graph.forget(old));
          enqueue(graph.observe(def, obj));
        },
        onDelete: (obj) => enqueue(graph.forget(obj)),
      }),
    );
  }

  // -- owners

  const warnOnce = (key: string, msg: string, fields: Record<string, unknown>): void => {
    if (warned.has(key)) return;
    if (warned.size > ABSENT_CACHE_MAX) warned.clear();
    warned.add(key);
    log.warn(msg, fields);
  };

  const rememberAbsent = (key: string): void => {
    if (absent.size >= ABSENT_CACHE_MAX) {
      const first = absent.values().next();
      if (!first.done) absent.delete(first.value);
    }
    absent.add(key);
  };

  /** The state of the owner `ref` names, for a dependent in `dependent`'s namespace and scope. */
  const resolveOwner = async (dependent: Target, ref: OwnerReference): Promise<OwnerState> => {
    const def = ownerDefOf(registry, ref.apiVersion, ref.kind);
    if (!def) {
      warnOnce(`kind|${ref.apiVersion}|${ref.kind}`, 'ownerReference names a kind the server does not serve; keeping the reference', {
        object: describe(dependent),
        reason: 'OwnerKindUnknown',
        owner: `${ref.apiVersion}/${ref.kind} ${ref.name}`,
      });
      return { state: 'unknown' };
    }
    if (def.namespaced && !dependent.def.namespaced) {
      // As in Kubernetes: an unresolvable reference, which keeps the object from being collected.
      warnOnce(`scope|${dependent.uid}|${ref.uid}`, 'a cluster-scoped object cannot have a namespaced owner; the reference cannot be resolved', {
        object: describe(dependent),
        reason: 'OwnerRefInvalidNamespace',
        owner: `${ref.kind} ${ref.name}`,
      });
      return { state: 'unknown' };
    }
    const ns = def.namespaced ? dependent.namespace : undefined;
    const g = graph.get(ref.uid);
    if (g?.observed && g.name === ref.name && (g.namespace ?? '') === (ns ?? '') && !isBeingDeleted(g)) {
      return { state: 'present', uid: g.uid, deletingDependents: false };
    }
    const key = `${ref.uid}|${def.group}|${def.kind}|${ns ?? ''}|${ref.name}`;
    if (absent.has(key)) return { state: 'absent' };
    let live: KubeObject;
    try {
      live = await client.get(def, ns, ref.name, { signal });
    } catch (e) {
      if (isNotFound(e)) {
        rememberAbsent(key);
        return { state: 'absent' };
      }
      throw e;
    }
    const liveUid = live.metadata.uid ?? '';
    if (liveUid !== ref.uid) {
      rememberAbsent(key);
      return { state: 'present', uid: liveUid };
    }
    return { state: 'present', uid: liveUid, deletingDependents: isDeletingDependents(live.metadata) };
  };

  const resolveOwners = async (dependent: Target, meta: GcObjectMeta, into: Map<string, OwnerState>): Promise<void> => {
    if (isBeingDeleted(meta)) return;
    for (const ref of meta.ownerReferences ?? []) {
      if (!ref.uid || into.has(ref.uid)) continue;
      into.set(ref.uid, await resolveOwner(dependent, ref));
    }
  };

  // -- acting

  const getLive = async (n: Target): Promise<KubeObject | null> => {
    try {
      const obj = await client.get(n.def, n.namespace, n.name, { signal });
      return obj.metadata.uid === n.uid ? obj : null;
    } catch (e) {
      if (isNotFound(e)) return null;
      throw e;
    }
  };

  /** JSON patch of one metadata list, guarded by `test`s on the uid and the list's current value. */
  const listPatch = (uid: string, field: 'ownerReferences' | 'finalizers', current: readonly unknown[] | undefined, next: readonly unknown[]): unknown[] | null => {
    if (current === undefined) return null; // nothing to remove from
    if (current.length === next.length && JSON.stringify(current) === JSON.stringify(next)) return null;
    const path = `/metadata/${field}`;
    return [
      { op: 'test', path: '/metadata/uid', value: uid },
      { op: 'test', path, value: current },
      next.length > 0 ? { op: 'replace', path, value: next } : { op: 'remove', path },
    ];
  };

  /**
   * Patch one metadata list of n, computed from the graph's copy; when the graph was stale (a
   * `test` failed: 422) compute it again from a live read and try once more. Answers the
   * object as patched, or null when the object is gone or has nothing to change.
   */
  const patchList = async (
    n: Target,
    field: 'ownerReferences' | 'finalizers',
    next: (cur: readonly unknown[] | undefined) => readonly unknown[],
    known?: { current: readonly unknown[] | undefined },
  ): Promise<KubeObject | null> => {
    const send = async (current: readonly unknown[] | undefined): Promise<KubeObject | null> => {
      const ops = listPatch(n.uid, field, current, next(current));
      if (!ops) return null;
      return client.patch(n.def, n.namespace, n.name, ops, 'json', { fieldManager: GC_FIELD_MANAGER, signal });
    };
    try {
      return await send(known ? known.current : field === 'ownerReferences' ? n.ownerReferences : n.finalizers);
    } catch (e) {
      if (isNotFound(e)) return null;
      if (!isInvalid(e)) throw e;
    }
    const live = await getLive(n);
    if (!live) return null;
    try {
      return await send(field === 'ownerReferences' ? live.metadata.ownerReferences : live.metadata.finalizers);
    } catch (e) {
      if (isNotFound(e)) return null;
      throw e;
    }
  };

  const act = async (n: Target, a: GcAction, self: Live | null): Promise<void> => {
    switch (a.type) {
      case 'processDependent':
        queue.add(a.dependentUid);
        return;
      case 'orphanDependent': {
        const node = graph.get(a.dependentUid);
        const dep = node ? targetOf(node) : null;
        if (!dep) return;
        const done = await patchList(dep, 'ownerReferences', (cur) => withoutOwnerReferences(cur as OwnerReference[] | undefined, [n.uid]));
        if (done) log.info('orphaned dependent', { object: describe(dep), owner: describe(n), reason: 'OwnerOrphaning' });
        return;
      }
      case 'removeFinalizer': {
        const done = await patchList(n, 'finalizers', (cur) => withoutFinalizer(cur as string[] | undefined, a.finalizer));
        if (done) log.info('removed finalizer', { object: describe(n), finalizer: a.finalizer, reason: a.finalizer === 'orphan' ? 'DependentsOrphaned' : 'DependentsDeleted' });
        return;
      }
      case 'removeOwnerReferences':
      case 'unblockOwnerReferences': {
        const refs = self?.meta.ownerReferences;
        const compute =
          a.type === 'removeOwnerReferences'
            ? (cur: readonly unknown[] | undefined) => withoutOwnerReferences(cur as OwnerReference[] | undefined, a.uids)
            : (cur: readonly unknown[] | undefined) => unblockedOwnerReferences(cur as OwnerReference[] | undefined);
        const patched = await patchList(n, 'ownerReferences', compute, self ? { current: refs } : undefined);
        if (patched && self) {
          self.resourceVersion = patched.metadata.resourceVersion;
          self.meta = metaOf(patched.metadata);
        }
        if (patched) {
          log.info(a.type === 'removeOwnerReferences' ? 'removed dangling ownerReferences' : 'made ownerReferences non-blocking', {
            object: describe(n),
            owners: a.type === 'removeOwnerReferences' ? a.uids : undefined,
            reason: a.type === 'removeOwnerReferences' ? 'OwnerGone' : 'OwnerCycle',
          });
        }
        return;
      }
      case 'delete': {
        const preconditions: { uid: string; resourceVersion?: string } = { uid: n.uid };
        if (self?.resourceVersion) preconditions.resourceVersion = self.resourceVersion;
        try {
          await client.delete(n.def, n.namespace, n.name, { propagationPolicy: a.propagationPolicy, preconditions, signal });
          log.info('deleting object', { object: describe(n), propagationPolicy: a.propagationPolicy, reason: 'OwnerGone' });
        } catch (e) {
          if (isNotFound(e)) return;
          // A changed uid means another object now has the name: this one is gone already.
          if (isConflict(e) && (e as Error).message.includes('UID in precondition')) return;
          throw e;
        }
        return;
      }
    }
  };

  const SELF_ACTIONS = new Set<GcAction['type']>(['delete', 'removeOwnerReferences', 'unblockOwnerReferences']);

  const reconcile = async (uid: string): Promise<void> => {
    const node = graph.get(uid);
    const n = node ? targetOf(node) : null;
    if (!n) return;
    const owners = new Map<string, OwnerState>();
    const meta: GcObjectMeta = { uid, ownerReferences: n.ownerReferences, finalizers: n.finalizers, deletionTimestamp: node!.deletionTimestamp };
    await resolveOwners(n, meta, owners);
    let actions = decide({ object: meta, owners, dependents: graph.dependentInfos(uid) });
    if (actions.length === 0) return;
    let self: Live | null = null;
    if (actions.some((a) => SELF_ACTIONS.has(a.type))) {
      // About to delete or edit the object itself: take the decision again on its live state.
      const live = await getLive(n);
      if (!live) return;
      self = { meta: metaOf(live.metadata), resourceVersion: live.metadata.resourceVersion };
      await resolveOwners(n, self.meta, owners);
      actions = decide({ object: self.meta, owners, dependents: graph.dependentInfos(uid) });
    }
    for (const a of actions) {
      if (signal.aborted) return;
      await act(n, a, self);
    }
  };

  // -- start

  let stopped = false;
  let workers: Promise<void> | null = null;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    opts.signal?.removeEventListener('abort', onAbort);
    abort.abort(new Error('the garbage collector stopped'));
    queue.shutDown();
    await workers;
    for (const u of unregister) u();
    if (ownFactory) await factory.stop();
    client.close();
  };
  const onAbort = (): void => void stop();
  if (opts.signal?.aborted) {
    await stop();
    throw new Error('the garbage collector was asked to stop before it started');
  }
  opts.signal?.addEventListener('abort', onAbort, { once: true });

  factory.start();
  try {
    await Promise.all(informers.map((i) => i.waitForSync({ signal, timeoutMs: opts.syncTimeoutMs })));
  } catch (e) {
    await stop();
    throw new Error(`the garbage collector could not sync its caches: ${errText(e)}`);
  }
  log.info('garbage collector started', { resources: informers.length, graph: graph.size });
  workers = queue.runWorkers(opts.workers ?? 4, reconcile, {
    onError: (key, err, requeues) => {
      reportCacheMutation(`garbage-collector ${key}`, err);
      if (signal.aborted) return;
      const n = graph.get(key);
      // A conflict only means the object changed under us: routine, retried with backoff.
      const fields = { object: n ? describe(n) : key, uid: key, error: errText(err), retries: requeues };
      if (isConflict(err)) log.debug('garbage collection raced a change; retrying', fields);
      else log.warn('garbage collection failed; retrying', fields);
    },
  });

  return { stop, graphSize: () => graph.size };
}
