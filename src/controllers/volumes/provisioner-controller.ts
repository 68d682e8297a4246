// The local-path provisioner: the acting layer around provisioner.ts. It makes sure the default
// StorageClass `local-path` exists, then informers on claims, volumes, storage classes and
// nodes feed a work queue of `claim:<ns>/<name>` and `volume:<name>` keys:
// - a claim handed to kennel.dev/local-path with a selected node gets its volume
//   (events Provisioning, then ProvisioningSucceeded or ProvisioningFailed, as an external
//   provisioner records them); a failure is retried with backoff, and at once when the node
//   starts reporting its data dir;
// - a bound claim whose request outgrew its volume gets a bigger one (VolumeResizeSuccessful);
// - a Released volume with reclaim policy Delete is deleted; a deleted volume whose node is
//   gone (confirmed with the API server) is freed of the cleanup finalizer.
import { isAlreadyExists, isConflict, isNotFound } from '../../client/rest.ts';
import { sleep } from '../../client/clock.ts';
import type { KubeObject } from '../../registry/types.ts';
import type { ControllerContext, ControllerFactory, RunningController } from '../manager.ts';
import { ControllerBase, type ControllerBaseOptions } from '../common/base.ts';
import { AssumeCache, EventSink, SyncWriter, errText, keyOf } from './common.ts';
import { decideClaim, decideVolume, isLocalPathVolume, type ProvisionerDecision, type ProvisionerView } from './provisioner.ts';
import { ensureDefaultStorageClass } from './storageclass.ts';
import {
  ANN_NODE_DATA_DIR,
  ANN_SELECTED_NODE,
  LOCAL_PATH_FINALIZER,
  NODES,
  PROVISIONER_COMPONENT,
  PVCS,
  PVS,
  STORAGE_CLASSES,
  type NodeObject,
  type PersistentVolume,
  type PersistentVolumeClaim,
  type StorageClass,
} from './types.ts';

export const PROVISIONER_USER_AGENT = 'kennel-local-path-provisioner';

export interface LocalPathProvisionerOptions extends ControllerBaseOptions {
  /** Keys synced at once (default 2). */
  workers?: number;
  /** The data dir of nodes without the kennel.dev/data-dir annotation (default: none — such
   *  nodes cannot get local-path volumes). */
  defaultDataDir?: string;
  /** Create the default StorageClass `local-path` when absent (default true). */
  ensureStorageClass?: boolean;
}

export interface LocalPathProvisioner extends RunningController {
  idle(): boolean;
  /** Volumes created so far. */
  readonly provisioned: number;
}

/** A sync that failed for a reason already told to the user (an event): retried with backoff. */
class ProvisioningError extends Error {}

export async function startLocalPathProvisioner(opts: LocalPathProvisionerOptions): Promise<LocalPathProvisioner> {
  const base = new ControllerBase(opts, {
    component: PROVISIONER_COMPONENT,
    logName: 'local-path-provisioner',
    userAgent: PROVISIONER_USER_AGENT,
    fieldManager: PROVISIONER_USER_AGENT,
    queueName: 'local-path-provisioner',
    stopMessage: 'local-path provisioner',
  });
  const { log, clock, client, factory, recorder, queue, signal } = base;
  const events = new EventSink(recorder);

  const claimInformer = factory.informer<PersistentVolumeClaim>(PVCS);
  const volumeInformer = factory.informer<PersistentVolume>(PVS);
  const classes = factory.informer<StorageClass>(STORAGE_CLASSES);
  const nodes = factory.informer<NodeObject>(NODES);
  const claims = new AssumeCache(claimInformer);
  const volumes = new AssumeCache(volumeInformer);

  const claimKey = (c: KubeObject): string => `claim:${keyOf(c)}`;
  const volumeKey = (v: KubeObject): string => `volume:${v.metadata.name ?? ''}`;
  const waitingClaims = (node?: string): void => {
    for (const c of claimInformer.list()) {
      if (c.spec?.volumeName) continue;
      if (node === undefined || c.metadata.annotations?.[ANN_SELECTED_NODE] === node) queue.add(claimKey(c));
    }
  };
  const dataDirOf = (n: NodeObject): string | undefined => n.metadata.annotations?.[ANN_NODE_DATA_DIR];
  base.handle(
    claimInformer.addEventHandler({
      onAdd: (c) => queue.add(claimKey(c)),
      onUpdate: (_o, c) => queue.add(claimKey(c)),
      onDelete: (c) => {
        claims.forget(keyOf(c));
        events.forget(c.metadata.uid);
      },
    }),
    volumeInformer.addEventHandler({
      onAdd: (v) => {
        if (isLocalPathVolume(v)) queue.add(volumeKey(v));
      },
      onUpdate: (_o, v) => {
        if (!isLocalPathVolume(v)) return;
        queue.add(volumeKey(v));
        const ref = v.spec?.claimRef;
        if (ref?.name) queue.add(`claim:${ref.namespace ?? ''}/${ref.name}`);
      },
      onDelete: (v) => {
        volumes.forget(v.metadata.name ?? '');
        events.forget(v.metadata.uid);
      },
    }),
    classes.addEventHandler({
      onAdd: (_c, initial) => {
        if (!initial) waitingClaims();
      },
      onUpdate: () => waitingClaims(),
    }),
    nodes.addEventHandler({
      onAdd: (n, initial) => {
        if (!initial) waitingClaims(n.metadata.name ?? '');
      },
      onUpdate: (o, n) => {
        if (dataDirOf(o) !== dataDirOf(n)) waitingClaims(n.metadata.name ?? '');
      },
      onDelete: () => {
        for (const v of volumeInformer.list()) if (v.metadata.deletionTimestamp && isLocalPathVolume(v)) queue.add(volumeKey(v));
      },
    }),
  );

  const view = (): ProvisionerView => ({
    volume: (name) => volumes.get(undefined, name),
    storageClass: (name) => classes.get(undefined, name),
    node: (name) => nodes.get(undefined, name),
    defaultDataDir: opts.defaultDataDir,
  });

  let provisioned = 0;

  const releaseFinalizer = async (name: string, node: string): Promise<void> => {
    try {
      await client.get(NODES, undefined, node, { signal });
      return; // the node exists: its cleaner removes the directory and the finalizer
    } catch (e) {
      if (!isNotFound(e)) throw e;
    }
    let pv: PersistentVolume;
    try {
      pv = await client.get<PersistentVolume>(PVS, undefined, name, { signal });
    } catch (e) {
      if (isNotFound(e)) return;
      throw e;
    }
    const finalizers = (pv.metadata.finalizers ?? []).filter((f) => f !== LOCAL_PATH_FINALIZER);
    if (finalizers.length === (pv.metadata.finalizers ?? []).length) return;
    events.record({
      object: pv,
      type: 'Warning',
      reason: 'NodeNotFound',
      message: `node "${node}" no longer exists: the directory ${pv.spec?.local?.path ?? ''} cannot be removed; deleting the volume without it`,
    });
    await client.patch(PVS, undefined, name, { metadata: { finalizers, resourceVersion: pv.metadata.resourceVersion } }, 'merge', { signal });
    log.warn('released a volume whose node is gone', { volume: name, node });
  };

  const act = async (d: ProvisionerDecision, subject: string): Promise<void> => {
    for (const e of d.events) events.record(e);
    if (d.failed) throw new ProvisioningError(d.failed);
    const writer = new SyncWriter(client, { volumes, claims }, signal);
    for (const w of d.writes) {
      switch (w.op) {
        case 'create': {
          const claim = d.successEvents[0]?.object;
          if (claim) events.record({ object: claim, type: 'Normal', reason: 'Provisioning', message: `External provisioner is provisioning volume for claim "${keyOf(claim)}"` });
          try {
            await client.create(PVS, w.object, { signal });
            provisioned++;
            log.info('provisioned', { what: w.what });
          } catch (e) {
            if (isAlreadyExists(e)) return; // made by an earlier sync; the binder binds it
            if (claim) events.record({ object: claim, type: 'Warning', reason: 'ProvisioningFailed', message: `failed to create volume ${w.object.metadata.name}: ${errText(e)}` });
            throw e;
          }
          break;
        }
        case 'update':
        case 'updateStatus': {
          await writer.write({ op: w.op, resource: w.resource, object: w.object });
          log.info('wrote', { what: w.what });
          break;
        }
        case 'delete':
          try {
            await client.delete(PVS, undefined, w.name, { signal, preconditions: w.uid ? { uid: w.uid } : undefined });
            log.info('deleted', { what: w.what });
          } catch (e) {
            if (!isNotFound(e)) throw e;
          }
          break;
        case 'releaseFinalizer':
          await releaseFinalizer(w.name, w.node);
          break;
      }
    }
    for (const e of d.successEvents) events.record(e);
    log.debug('synced', { object: subject });
  };

  const reconcile = async (key: string): Promise<void> => {
    if (key.startsWith('claim:')) {
      const claim = claims.getByKey(key.slice(6));
      if (claim) await act(decideClaim(claim, view()), key);
    } else if (key.startsWith('volume:')) {
      const volume = volumes.get(undefined, key.slice(7));
      if (volume) await act(decideVolume(volume, view()), key);
    }
  };

  // -- start

  if (opts.ensureStorageClass !== false) {
    // The class matters more than this process: keep trying in the background if the API
    // server is not answering yet.
    void (async () => {
      for (let delay = 200; !signal.aborted; delay = Math.min(delay * 2, 10_000)) {
        try {
          await ensureDefaultStorageClass(client, { logger: log, signal });
          return;
        } catch (e) {
          if (signal.aborted) return;
          log.warn('cannot create the default StorageClass yet; retrying', { error: errText(e) });
          await sleep(clock, delay, signal).catch(() => undefined);
        }
      }
    })();
  }

  await base.sync();
  base.run(opts.workers ?? 2, reconcile, (key, err, requeues) => {
    if (err instanceof ProvisioningError) log.info('cannot provision yet; retrying', { key, error: err.message, retries: requeues });
    else if (isConflict(err)) log.debug('sync conflict; retrying', { key, error: errText(err), retries: requeues });
    else log.warn('sync failed; retrying', { key, error: errText(err), retries: requeues });
  });
  log.info('started', { workers: opts.workers ?? 2, defaultDataDir: opts.defaultDataDir });

  return {
    get provisioned() {
      return provisioned;
    },
    idle: () => base.idle(),
    stop: () => base.stop(),
  };
}

/** A ControllerFactory for the provisioner with options (e.g. defaultDataDir for `kennel up`). */
export function makeLocalPathProvisioner(extra: Omit<LocalPathProvisionerOptions, 'client' | 'logger'> = {}): ControllerFactory {
  return {
    name: 'local-path-provisioner',
    start: (ctx: ControllerContext) => startLocalPathProvisioner({ ...extra, client: ctx.client, logger: ctx.logger, informers: ctx.informers }),
  };
}

/** The local-path provisioner (and the default StorageClass) for the controller manager. */
export const localPathProvisioner: ControllerFactory = makeLocalPathProvisioner();
