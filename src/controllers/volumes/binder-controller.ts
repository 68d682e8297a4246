// The PersistentVolume binder: the acting layer around binder.ts. Informers on volumes, claims,
// storage classes and nodes feed one work queue of keys `claim:<ns>/<name>` and
// `volume:<name>`; reconcile(key) runs syncClaim or syncVolume on the caches and carries out
// the writes in order (a write of an object already written in the round goes on top of that
// write's resourceVersion). A failed write (a conflict with a stale cache, most often) stops the
// round and the key is retried with backoff. The caches remember the binder's own writes until
// the informers have them (AssumeCache), as Kubernetes' PV controller does.
//
// What is synced when:
// - a volume changes → the volume, and the claim its claimRef names; a free volume (no
//   claimRef) appears → every unbound claim (it may fit one);
// - a volume is deleted → the claim it was bound to (which becomes Lost);
// - a claim changes → the claim; deleted → the volumes bound or reserved for it (Released);
// - a storage class appears or changes → every unbound claim (default class, provisioning);
// - every resyncMs (default 15 s, as Kubernetes) → every claim and volume.
// Before releasing a volume whose claim is missing from the cache, and before calling a bound
// claim Lost because its volume is missing, the binder reads the object from the API server:
// a cache that is merely behind must not release anything.
import { isConflict, isNotFound, splitKey } from '../../client/rest.ts';
import { rfc3339 } from '../../client/types.ts';
import type { TimerHandle } from '../../client/clock.ts';
import type { KubeObject } from '../../registry/types.ts';
import type { ControllerContext, ControllerFactory, RunningController } from '../manager.ts';
import { ControllerBase, type ControllerBaseOptions } from '../common/base.ts';
import { claimOfVolume, syncClaim, syncVolume, type BinderView, type Decision, type Write } from './binder.ts';
import { AssumeCache, EventSink, SyncWriter, errText, keyOf } from './common.ts';
import { BINDER_COMPONENT, NODES, PVCS, PVS, STORAGE_CLASSES, type NodeObject, type PersistentVolume, type PersistentVolumeClaim, type StorageClass } from './types.ts';

export const BINDER_USER_AGENT = 'kennel-persistentvolume-binder';
/** The field manager Kubernetes' controllers write with. */
export const BINDER_FIELD_MANAGER = 'kube-controller-manager';
/** Volumes by `namespace/name` of their spec.claimRef (the binder's index on the shared PV informer). */
const CLAIM_REF_INDEX = 'volume-binder/claimRef';
const claimRefIndexFunc = (v: PersistentVolume): string[] => {
  const ref = v.spec?.claimRef;
  return ref?.name ? [`${ref.namespace ?? ''}/${ref.name}`] : [];
};

export interface VolumeBinderOptions extends ControllerBaseOptions {
  /** Keys synced at once (default 2). */
  workers?: number;
  /** Every claim and volume is synced again this often (default 15 000 ms; 0 = never). */
  resyncMs?: number;
}

export interface VolumeBinder extends RunningController {
  /** Nothing queued, waiting or being synced. */
  idle(): boolean;
  /** Syncs done so far. */
  readonly syncs: number;
}

export async function startVolumeBinder(opts: VolumeBinderOptions): Promise<VolumeBinder> {
  const base = new ControllerBase(opts, {
    component: BINDER_COMPONENT,
    userAgent: BINDER_USER_AGENT,
    fieldManager: BINDER_FIELD_MANAGER,
    queueName: 'volume-binder',
    stopMessage: 'volume binder',
  });
  const { log, clock, client, factory, recorder, queue, signal } = base;
  const events = new EventSink(recorder);

  const volumeInformer = factory.informer<PersistentVolume>(PVS);
  volumeInformer.addIndexer(CLAIM_REF_INDEX, claimRefIndexFunc);
  const claimInformer = factory.informer<PersistentVolumeClaim>(PVCS);
  const classes = factory.informer<StorageClass>(STORAGE_CLASSES);
  const nodes = factory.informer<NodeObject>(NODES);
  const volumes = new AssumeCache(volumeInformer);
  const claims = new AssumeCache(claimInformer);

  const claimKey = (ns: string, name: string): string => `claim:${ns}/${name}`;
  const enqueueUnboundClaims = (): void => {
    for (const c of claimInformer.list()) if (!c.spec?.volumeName) queue.add(claimKey(c.metadata.namespace ?? '', c.metadata.name ?? ''));
  };
  const onVolume = (v: PersistentVolume): void => {
    queue.add(`volume:${v.metadata.name ?? ''}`);
    const ref = v.spec?.claimRef;
    if (ref?.name) queue.add(claimKey(ref.namespace ?? '', ref.name));
    else if (!v.metadata.deletionTimestamp) enqueueUnboundClaims();
  };
  base.handle(
    volumeInformer.addEventHandler({
      onAdd: (v, initial) => (initial ? queue.add(`volume:${v.metadata.name ?? ''}`) : onVolume(v)),
      onUpdate: (o, v) => {
        // A volume that has just become free may fit a waiting claim.
        if (o.spec?.claimRef && !v.spec?.claimRef) onVolume(v);
        else {
          queue.add(`volume:${v.metadata.name ?? ''}`);
          const ref = v.spec?.claimRef;
          if (ref?.name) queue.add(claimKey(ref.namespace ?? '', ref.name));
        }
      },
      onDelete: (v) => {
        volumes.forget(v.metadata.name ?? '');
        events.forget(v.metadata.uid);
        const ref = v.spec?.claimRef;
        if (ref?.name) queue.add(claimKey(ref.namespace ?? '', ref.name));
      },
    }),
    claimInformer.addEventHandler({
      onAdd: (c) => queue.add(claimKey(c.metadata.namespace ?? '', c.metadata.name ?? '')),
      onUpdate: (_o, c) => queue.add(claimKey(c.metadata.namespace ?? '', c.metadata.name ?? '')),
      onDelete: (c) => {
        const k = keyOf(c);
        claims.forget(k);
        events.forget(c.metadata.uid);
        if (c.spec?.volumeName) queue.add(`volume:${c.spec.volumeName}`);
        for (const v of volumeInformer.byIndex(CLAIM_REF_INDEX, k)) queue.add(`volume:${v.metadata.name ?? ''}`);
      },
    }),
    classes.addEventHandler({
      onAdd: (_c, initial) => {
        if (!initial) enqueueUnboundClaims();
      },
      onUpdate: () => enqueueUnboundClaims(),
    }),
  );

  const view = (): BinderView => ({
    volume: (name) => volumes.get(undefined, name),
    volumes: () => volumes.list(),
    claim: (ns, name) => claims.get(ns, name),
    storageClass: (name) => classes.get(undefined, name),
    storageClasses: () => classes.list(),
    node: (name) => nodes.get(undefined, name),
    now: rfc3339(clock.now()),
  });

  const getLive = async <T extends KubeObject>(res: typeof PVS, ns: string | undefined, name: string): Promise<T | undefined> => {
    try {
      return await client.get<T>(res, ns, name, { signal });
    } catch (e) {
      if (isNotFound(e)) return undefined;
      throw e;
    }
  };

  /** Carry out the writes in order; each write of an object builds on the previous one's version. */
  const carryOut = async (writes: Write[]): Promise<void> => {
    const writer = new SyncWriter(client, { volumes, claims }, signal);
    for (const w of writes) {
      const out = await writer.write(w);
      log.debug('wrote', { what: w.what, resourceVersion: out.metadata.resourceVersion });
    }
  };

  const act = async (d: Decision, subject: string): Promise<void> => {
    for (const e of d.events) events.record(e);
    if (d.problem) log.warn('cannot sync', { object: subject, problem: d.problem });
    for (const k of d.enqueueClaims) queue.add(`claim:${k}`);
    if (d.writes.length > 0) await carryOut(d.writes);
  };

  let syncs = 0;
  const reconcile = async (key: string): Promise<void> => {
    syncs++;
    if (key.startsWith('claim:')) await reconcileClaim(key.slice(6));
    else if (key.startsWith('volume:')) await reconcileVolume(key.slice(7));
  };

  const reconcileClaim = async (k: string): Promise<void> => {
    const claim = claims.getByKey(k);
    if (!claim) return;
    let v = view();
    const volumeName = claim.spec?.volumeName;
    if (volumeName && !volumes.get(undefined, volumeName)) {
      // Confirm with the API server before calling the claim Lost (or waiting forever).
      const live = await getLive<PersistentVolume>(PVS, undefined, volumeName);
      if (live) {
        const base = v;
        v = { ...base, volume: (name) => (name === volumeName ? live : base.volume(name)) };
      }
    }
    await act(syncClaim(claim, v), `claim ${k}`);
  };

  const reconcileVolume = async (name: string): Promise<void> => {
    const volume = volumes.get(undefined, name);
    if (!volume) return;
    let v = view();
    const ref = volume.spec?.claimRef;
    const phase = volume.status?.phase;
    if (ref?.name && ref.uid && phase !== 'Released' && phase !== 'Failed' && !claimOfVolume(volume, v)) {
      // The claim looks gone: confirm with the API server before releasing the volume.
      const ns = ref.namespace ?? '';
      const live = await getLive<PersistentVolumeClaim>(PVCS, ns, ref.name);
      if (live) {
        const base = v;
        v = { ...base, claim: (n, c) => (n === ns && c === ref.name ? live : base.claim(n, c)) };
      }
    }
    await act(syncVolume(volume, v), `volume ${name}`);
  };

  // -- start

  await base.sync();
  const enqueueEverything = (): void => {
    for (const c of claimInformer.list()) queue.add(claimKey(c.metadata.namespace ?? '', c.metadata.name ?? ''));
    for (const v of volumeInformer.list()) queue.add(`volume:${v.metadata.name ?? ''}`);
  };
  // Handlers added before the sync got every object; the caches are complete now.
  enqueueEverything();

  base.run(opts.workers ?? 2, reconcile, (key, err, requeues) => {
    if (isConflict(err)) log.debug('sync conflict; retrying', { key, error: errText(err), retries: requeues });
    else log.warn('sync failed; retrying', { key, error: errText(err), retries: requeues });
  });

  const resyncMs = opts.resyncMs ?? 15_000;
  let resyncTimer: TimerHandle | undefined;
  const scheduleResync = (): void => {
    if (resyncMs <= 0 || signal.aborted) return;
    resyncTimer = clock.setTimeout(() => {
      enqueueEverything();
      scheduleResync();
    }, resyncMs);
  };
  scheduleResync();
  log.info('started', { workers: opts.workers ?? 2 });

  return {
    get syncs() {
      return syncs;
    },
    idle: () => base.idle(),
    stop: () =>
      base.stop({
        first: () => {
          if (resyncTimer) clock.clearTimeout(resyncTimer);
        },
      }),
  };
}

/** Split a queue key into its kind and object key (for tests and logs). */
export function parseBinderKey(key: string): { kind: 'claim' | 'volume'; namespace?: string; name: string } | undefined {
  if (key.startsWith('claim:')) return { kind: 'claim', ...splitKey(key.slice(6)) };
  if (key.startsWith('volume:')) return { kind: 'volume', name: key.slice(7) };
  return undefined;
}

/** The PV/PVC binder for the controller manager. */
export const volumeBinderController: ControllerFactory = {
  name: 'persistentvolume-binder',
  start: (ctx: ControllerContext) => startVolumeBinder({ client: ctx.client, logger: ctx.logger, informers: ctx.informers }),
};
