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
  fingerprints: () => Map<string, string>;
  newWorker: (uid: string, pod: Pod | undefined) => Worker;
  requestSync: (uid: string) => void;
}

/**
 * List the runtime (PLEG-like): note each known pod's sandboxes (adoption), adopt sandboxes of
 * pods nobody knows as orphans, wake workers whose containers changed. Returns the new
 * fingerprints (undefined when stopped).
 */
export async function doRelist(x: RelistContext): Promise<Map<string, string> | undefined> {
  if (x.stopped()) return undefined;
  const [sandboxes, containers] = await Promise.all([x.o.runtime.listPodSandboxes(), x.o.runtime.listContainers()]);
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
    p.push(`${s.id}:${s.state}`);
    const w = x.workers.get(uid);
    if (w) w.sandboxIds.add(s.id);
  }
  for (const c of containers) {
    const uid = sbUid.get(c.sandboxId);
    if (!uid) continue;
    let p = prints.get(uid);
    if (!p) prints.set(uid, (p = []));
    p.push(`${c.id}:${c.state}:${c.exitCode}`);
  }
  const next = new Map<string, string>();
  for (const [uid, p] of prints) {
    const fp = p.sort().join(',');
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
    if (x.fingerprints().get(uid) !== fp) x.requestSync(uid);
  }
  // A worker whose sandboxes all vanished also needs a look.
  for (const uid of x.fingerprints().keys()) if (!next.has(uid)) x.requestSync(uid);
  return next;
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
