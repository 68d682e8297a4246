// The node side of local-path volumes, run by each node's agent with its own client, node name
// and data dir. The provisioner (control plane) only writes PersistentVolume objects; the
// directories live on the nodes, and only the node's agent touches them (DESIGN: the agent is
// the only part that touches files of pods).
//
// For every local-path volume of this node — provisioned by kennel.dev/local-path, node affinity
// kubernetes.io/hostname In [<this node>], spec.local.path directly under <dataDir>/storage/
// with a `pvc-` name — the cleaner:
// - makes the directory (mode 0777, so containers of any user may write) as soon as the volume
//   exists, so it is there when a pod mounts the claim (the agent may also call
//   ensureLocalPathDirectory itself before mounting, closing the race);
// - once the volume is being deleted (it carries the finalizer kennel.dev/local-path-cleanup,
//   so the API server keeps it until then) and no longer Bound: removes the directory when the
//   reclaim policy is Delete, keeps it (the data stays, as Retain promises) otherwise, and then
//   removes the finalizer so the volume goes. A Bound volume being deleted waits, as
//   Kubernetes' pv-protection finalizer makes it wait, until its claim is gone.
// A path anywhere else is never created or removed, whatever a volume object says.
import { setMaxListeners } from 'node:events';
import { promises as fsp } from 'node:fs';
import { basename, dirname, isAbsolute, posix, resolve } from 'node:path';
import { Informer } from '../../client/informer.ts';
import { KubeClient, isConflict, isNotFound } from '../../client/rest.ts';
import { WorkQueue } from '../../client/workqueue.ts';
import { realClock, type Clock } from '../../client/clock.ts';
import { createLogger, type Logger } from '../../util/log.ts';
import { volumeHostnames } from './matching.ts';
import { isLocalPathVolume } from './provisioner.ts';
import { CLEANER_COMPONENT, LOCAL_PATH_FINALIZER, LOCAL_PATH_SUBDIR, PVS, type PersistentVolume } from './types.ts';
import { errText } from './common.ts';

/** The directory that holds a node's local-path volumes. */
export function localPathRoot(dataDir: string): string {
  return resolve(dataDir, LOCAL_PATH_SUBDIR);
}

/**
 * The directory of a local-path volume if it belongs to this node and lies directly under
 * <dataDir>/storage/ with a `pvc-` name; undefined otherwise (not ours: never touched).
 */
export function ownedLocalPath(volume: PersistentVolume, nodeName: string, dataDir: string): string | undefined {
  if (!isLocalPathVolume(volume)) return undefined;
  if (!volumeHostnames(volume).includes(nodeName)) return undefined;
  const path = volume.spec?.local?.path;
  if (!path || !isAbsolute(path) || path.includes('\0')) return undefined;
  if (posix.normalize(path) !== path || path.endsWith('/')) return undefined;
  if (dirname(path) !== localPathRoot(dataDir)) return undefined;
  const name = basename(path);
  if (!name.startsWith('pvc-') || name === '.' || name === '..') return undefined;
  return path;
}

function phaseWantsDirectory(volume: PersistentVolume): boolean {
  const phase = volume.status?.phase;
  return !phase || phase === 'Pending' || phase === 'Available' || phase === 'Bound';
}

/**
 * Make the directory of a local-path volume of this node (mode 0777) if it is missing. Returns
 * whether the volume is one of this node's (false: nothing was done). For the agent to call
 * before it mounts a claim's volume.
 */
export async function ensureLocalPathDirectory(volume: PersistentVolume, nodeName: string, dataDir: string): Promise<boolean> {
  const path = ownedLocalPath(volume, nodeName, dataDir);
  if (!path) return false;
  try {
    const st = await fsp.stat(path);
    if (st.isDirectory()) return true;
    throw new Error(`${path} exists and is not a directory`);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  await fsp.mkdir(localPathRoot(dataDir), { recursive: true, mode: 0o755 });
  await fsp.mkdir(path, { mode: 0o777 });
  await fsp.chmod(path, 0o777); // mkdir's mode is filtered by the umask
  return true;
}

export interface LocalPathCleanerOptions {
  /** A client of the API server (the agent's). */
  client: KubeClient;
  nodeName: string;
  /** The agent's data dir: volumes live under <dataDir>/storage/. */
  dataDir: string;
  logger?: Logger;
  clock?: Clock;
  /** Fail start() when the volume cache has not synced within this long (default: wait). */
  syncTimeoutMs?: number;
}

export interface LocalPathCleaner {
  /** Directories made so far. */
  readonly created: number;
  /** Directories removed so far. */
  readonly removed: number;
  idle(): boolean;
  stop(): Promise<void>;
}

/** Start the node's local-path cleaner (see the header). */
export async function startLocalPathCleaner(opts: LocalPathCleanerOptions): Promise<LocalPathCleaner> {
  const log = opts.logger ?? createLogger(CLEANER_COMPONENT);
  const clock = opts.clock ?? realClock;
  const client = opts.client;
  const dataDir = resolve(opts.dataDir);
  const abort = new AbortController();
  const signal = abort.signal;
  setMaxListeners(0, signal);
  const queue = new WorkQueue<string>({ name: CLEANER_COMPONENT, clock, logger: log });
  const volumes = new Informer<PersistentVolume>(client, PVS, { clock, logger: log, name: 'persistentvolumes/local-path' });
  const mine = (v: PersistentVolume): boolean => ownedLocalPath(v, opts.nodeName, dataDir) !== undefined;
  const unregister = volumes.addEventHandler({
    onAdd: (v) => {
      if (mine(v)) queue.add(v.metadata.name ?? '');
    },
    onUpdate: (_o, v) => {
      if (mine(v)) queue.add(v.metadata.name ?? '');
    },
  });

  let created = 0;
  let removed = 0;
  let inFlight = 0;

  const reconcile = async (name: string): Promise<void> => {
    const volume = volumes.get(undefined, name);
    if (!volume) return;
    const path = ownedLocalPath(volume, opts.nodeName, dataDir);
    if (!path) return;
    if (!volume.metadata.deletionTimestamp) {
      if (!phaseWantsDirectory(volume)) return;
      const existed = await fsp.stat(path).then(
        () => true,
        () => false,
      );
      await ensureLocalPathDirectory(volume, opts.nodeName, dataDir);
      if (!existed) {
        created++;
        log.info('created volume directory', { volume: name, path });
      }
      return;
    }
    const finalizers = volume.metadata.finalizers ?? [];
    if (!finalizers.includes(LOCAL_PATH_FINALIZER)) return;
    if (volume.status?.phase === 'Bound') return; // still in use by its claim
    if (volume.spec?.persistentVolumeReclaimPolicy === 'Delete') {
      await fsp.rm(path, { recursive: true, force: true });
      removed++;
      log.info('removed volume directory', { volume: name, path });
    } else {
      log.info('keeping the data of a deleted volume (reclaim policy is not Delete)', { volume: name, path });
    }
    try {
      await client.patch(
        PVS,
        undefined,
        name,
        { metadata: { finalizers: finalizers.filter((f) => f !== LOCAL_PATH_FINALIZER), resourceVersion: volume.metadata.resourceVersion } },
        'merge',
        { signal },
      );
    } catch (e) {
      if (!isNotFound(e)) throw e;
    }
  };

  volumes.start();
  try {
    await volumes.waitForSync({ timeoutMs: opts.syncTimeoutMs, signal });
  } catch (e) {
    unregister();
    await volumes.stop();
    throw e;
  }
  const workersDone = queue.runWorkers(1, async (name) => {
    inFlight++;
    try {
      await reconcile(name);
    } finally {
      inFlight--;
    }
  }, {
    onError: (key, err, requeues) => {
      if (signal.aborted) return;
      if (isConflict(err)) log.debug('conflict; retrying', { volume: key, retries: requeues });
      else log.warn('volume directory sync failed; retrying', { volume: key, error: errText(err), retries: requeues });
    },
  });
  log.info('started', { node: opts.nodeName, root: localPathRoot(dataDir) });

  let stopped: Promise<void> | undefined;
  return {
    get created() {
      return created;
    },
    get removed() {
      return removed;
    },
    idle: () => inFlight === 0 && queue.len() === 0 && queue.delayed() === 0,
    stop(): Promise<void> {
      stopped ??= (async () => {
        unregister();
        queue.shutDown();
        abort.abort(new Error('local-path cleaner stopped'));
        await workersDone;
        await volumes.stop();
        log.info('stopped');
      })();
      return stopped;
    },
  };
}
