// Pod workers: runtime-state gathering, the relist of running sandboxes (PLEG-like, with adoption), and garbage collection.
import type { Pod } from './kube-types.ts';
import type { ContainerStatus, Runtime, SandboxStatus } from './runtime/types.ts';
import { LABEL_NODE_NAME, LABEL_POD_UID, byNewest, containerNameOf, currentSandbox, type PodRuntimeState } from './sync.ts';
import { type PodWorkersOptions, type Worker } from './podworker-types.ts';

/** What the relister needs from the pod workers. */
export interface RelistContext {
  o: PodWorkersOptions;
  workers: Map<string, Worker>;
  stopped: () => boolean;
  podsSynced: () => boolean;
  /** The fingerprint of each pod's runtime state as last seen, by pod uid (updated in place). */
  fingerprints: Map<string, string>;
  /**
   * Fingerprints workers recorded after a sync (settledFingerprint), by pod uid, with when
   * (performance.now()) they began the read it is of. One begun after a listing ended is newer
   * than the listing: it stands for the pod, and the worker is not woken for the difference.
   * The relister removes the entries it has outdated.
   */
  seen: Map<string, { fp: string; at: number }>;
  newWorker: (uid: string, pod: Pod | undefined) => Worker;
  requestSync: (uid: string) => void;
  /** What the runtime holds for a known pod changed, as a listing that ended at listedAt shows. */
  changed: (uid: string, listedAt: number) => void;
}

/**
 * List the runtime (PLEG-like): note each known pod's sandboxes (adoption), adopt sandboxes of
 * pods nobody knows as orphans, tell the workers whose containers changed, and update the
 * fingerprints. Everything after the listing is synchronous, so a worker's record of what it
 * saw (seen) comes either before the comparison or after the update.
 */
export async function doRelist(x: RelistContext): Promise<void> {
  if (x.stopped()) return;
  const [sandboxes, containers] = await Promise.all([x.o.runtime.listPodSandboxes(), x.o.runtime.listContainers()]);
  if (x.stopped()) return;
  const listedAt = performance.now();
  // What workers read after this listing (a sync that ran meanwhile) is newer than it.
  const newer = new Map<string, string>();
  for (const [uid, r] of x.seen) {
    if (r.at > listedAt) newer.set(uid, r.fp);
    else x.seen.delete(uid);
  }
  const sbUid = new Map<string, string>();
  const prints = new Map<string, string[]>();
  for (const s of sandboxes) {
    const uid = s.labels[LABEL_POD_UID] ?? s.uid;
    if (!uid) continue;
    const owner = s.labels[LABEL_NODE_NAME];
    if (owner !== undefined && owner !== x.o.nodeName) continue; // another agent's

    sbUid.set(s.id, uid);
    let p = prints.get(uid);
    if (!p) prints.set(uid, (p = []));
    p.push(sandboxPrint(s));
    const w = x.workers.get(uid);
    if (w) w.sandboxIds.add(s.id);
  }
  for (const c of containers) {
    const uid = sbUid.get(c.sandboxId);
    if (!uid) continue;
    let p = prints.get(uid);
    if (!p) prints.set(uid, (p = []));
    p.push(containerPrint(c));
  }
  const prev = x.fingerprints;
  const next = new Map<string, string>();
  for (const [uid, p] of prints) {
    const fp = newer.get(uid) ?? joinPrints(p);
    next.set(uid, fp);
    const w = x.workers.get(uid);
    if (!w) {
      if (x.podsSynced()) {
        // Nobody owns this pod's sandboxes: stop and remove them.
        const orphan = x.newWorker(uid, undefined);
        for (const s of sandboxes) if (sbUid.get(s.id) === uid) orphan.sandboxIds.add(s.id);
        x.o.logger.info('cleaning up sandboxes of a pod not bound to this node', { uid });
        x.requestSync(uid);
      }
      continue;
    }
    if (prev.get(uid) !== fp) x.changed(uid, listedAt);
  }
  // A pod whose sandbox came after the listing, as its worker saw.
  for (const [uid, fp] of newer) if (!next.has(uid) && x.workers.has(uid)) next.set(uid, fp);
  // A worker whose sandboxes all vanished also needs a look.
  for (const uid of prev.keys()) if (!next.has(uid)) x.changed(uid, listedAt);
  prev.clear();
  for (const [uid, fp] of next) prev.set(uid, fp);
}

const sandboxPrint = (s: SandboxStatus): string => `${s.id}:${s.state}`;
const containerPrint = (c: ContainerStatus): string => `${c.id}:${c.state}:${c.exitCode}`;
const joinPrints = (p: string[]): string => p.sort().join(',');

/** The relist's fingerprint of one pod's runtime state (what doRelist computes for it). */
export function fingerprintOf(state: PodRuntimeState): string {
  return joinPrints([...state.sandboxes.map(sandboxPrint), ...state.containers.map(containerPrint)]);
}

/**
 * The fingerprint a worker may record for the relister after a sync, so that the next relist
 * does not wake it again for what the sync itself did (the sandbox it ran, the containers it
 * started); undefined when `after` holds a change the sync did not act on. `before` is the state
 * the sync decided on, `after` the state read once its actions were done. Settled: every
 * sandbox is ready or as it was before, and every container is running or as it was before.
 * Anything else — a container that exited meanwhile (a crash right after its start, an init
 * container that finished), one created but not started, a sandbox that stopped — keeps the
 * relister's old fingerprint, so the next relist wakes the worker to act on it, as it always did.
 */
export function settledFingerprint(before: PodRuntimeState, after: PodRuntimeState): string | undefined {
  if (after.sandboxes.length === 0) return undefined;
  for (const s of after.sandboxes) {
    if (s.state === 'ready') continue;
    const was = before.sandboxes.find((b) => b.id === s.id);
    if (!was || was.state !== s.state) return undefined;
  }
  for (const c of after.containers) {
    if (c.state === 'running') continue;
    const was = before.containers.find((b) => b.id === c.id);
    if (!was || was.state !== c.state || was.exitCode !== c.exitCode) return undefined;
  }
  return fingerprintOf(after);
}

// -- the worker loop

/** What the runtime holds for the worker's pod, read fresh. */
export async function runtimeState(rt: Runtime, w: Worker): Promise<PodRuntimeState> {
  const sandboxes: SandboxStatus[] = [];
  const containers: ContainerStatus[] = [];
  for (const id of [...w.sandboxIds]) {
    const s = await rt.podSandboxStatus(id);
    if (!s) {
      w.sandboxIds.delete(id);
      continue;
    }
    sandboxes.push(s);
    for (const c of await rt.listContainers({ sandboxId: id })) containers.push(c);
  }
  return { sandboxes, containers };
}

/** Keep the newest two containers of each name (state and lastState) and the newest sandbox. */
export async function collectGarbage(rt: Runtime, w: Worker, state: PodRuntimeState): Promise<void> {
  const byName = new Map<string, ContainerStatus[]>();
  for (const c of state.containers) {
    const n = containerNameOf(c);
    let l = byName.get(n);
    if (!l) byName.set(n, (l = []));
    l.push(c);
  }
  const kept = new Set<string>();
  for (const list of byName.values()) {
    list.sort(byNewest);
    list.slice(0, 2).forEach((c) => kept.add(c.id));
    for (const c of list.slice(2)) if (c.state === 'exited') await rt.removeContainer(c.id).catch(() => undefined);
  }
  const cur = currentSandbox(state);
  for (const s of state.sandboxes) {
    if (s.id === cur?.id || s.state === 'ready') continue;
    if (state.containers.some((c) => c.sandboxId === s.id && kept.has(c.id))) continue;
    await rt.removePodSandbox(s.id).catch(() => undefined);
    w.sandboxIds.delete(s.id);
  }
}
