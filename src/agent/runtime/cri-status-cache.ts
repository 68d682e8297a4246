// The last ContainerStatus / PodSandboxStatus answer of the CRI per id, with the CRI state it
// was read in (CriRuntime's cache). A status only changes together with its state (start and
// finish times, exit code, reason, IPs are fixed within a state; see reusable()), so a listing
// that shows an id in the same state reuses the answer instead of asking again. The agent lists
// the runtime every second and on every pod sync: one status call per sandbox and container
// each time was most of its CRI traffic and of containerd's CPU on a node with many pods.
// A ready sandbox's answer seen (by a status call or a listing) within the last
// SANDBOX_FRESH_MS, the relist's period, also serves podSandboxStatus: a sandbox leaves the
// ready state only by our own stop (which drops the entry) or by its pause process dying, which
// the agent learns from the relist in any case (as the kubelet reads pod status from its PLEG
// cache); one pod start asked for the same sandbox's status three times.
// Answers are copied in and out, so a caller's change never reaches the cache.
import type { ContainerStatus, SandboxStatus } from './types.ts';

/** How long a ready sandbox's status serves podSandboxStatus (the agent's relist period). */
const SANDBOX_FRESH_MS = 1_000;

export class CriStatusCache {
  private readonly containers = new Map<string, { criState: string; status: ContainerStatus }>();
  private readonly sandboxes = new Map<string, { criState: string; status: SandboxStatus; seenAt: number }>();
  /** Sandboxes we stopped: never ready again, so never served from the cache (an answer racing the stop). */
  private readonly stopped = new Set<string>();

  /** A ready sandbox's recent status, for podSandboxStatus. */
  freshSandbox(id: string): SandboxStatus | undefined {
    const hit = this.sandboxes.get(id);
    if (hit && hit.criState === 'SANDBOX_READY' && Date.now() - hit.seenAt < SANDBOX_FRESH_MS && !this.stopped.has(id)) return copySandbox(hit.status);
    return undefined;
  }

  /** A listed sandbox's status, when the listing shows it in the state it was read in. */
  listedSandbox(id: string, criState: string): SandboxStatus | undefined {
    const hit = this.sandboxes.get(id);
    if (!hit || hit.criState !== criState) return undefined;
    hit.seenAt = Date.now();
    return copySandbox(hit.status);
  }

  /** A status call's answer (undefined: the sandbox is gone). */
  sandboxRead(id: string, criState: string, status: SandboxStatus | undefined): void {
    if (status) this.sandboxes.set(id, { criState, status: copySandbox(status), seenAt: Date.now() });
    else this.sandboxes.delete(id);
  }

  sandboxStopping(id: string): void {
    this.stopped.add(id);
    this.sandboxes.delete(id);
  }

  sandboxRemoved(id: string): void {
    this.sandboxes.delete(id);
    this.stopped.delete(id);
  }

  /** After a full sandbox listing: forget what it no longer shows. */
  sandboxesListed(ids: ReadonlySet<string>): void {
    for (const id of this.sandboxes.keys()) if (!ids.has(id)) this.sandboxes.delete(id);
    for (const id of this.stopped) if (!ids.has(id)) this.stopped.delete(id);
  }

  /** A listed container's status, when the listing shows it in the state it was read in. */
  listedContainer(id: string, criState: string): ContainerStatus | undefined {
    const hit = this.containers.get(id);
    return hit && hit.criState === criState && reusable(hit.status) ? copyContainer(hit.status) : undefined;
  }

  /** The sandbox a container was last seen in. */
  sandboxOf(id: string): string | undefined {
    return this.containers.get(id)?.status.sandboxId;
  }

  /** A status call's answer (undefined: the container is gone). */
  containerRead(id: string, criState: string, status: ContainerStatus | undefined): void {
    if (status && reusable(status)) this.containers.set(id, { criState, status: copyContainer(status) });
    else this.containers.delete(id);
  }

  /** After a container listing (of one sandbox, or of all): forget what it covered and no longer shows. */
  containersListed(ids: ReadonlySet<string>, sandboxId?: string): void {
    for (const [id, hit] of this.containers) {
      if (!ids.has(id) && (!sandboxId || hit.status.sandboxId === sandboxId)) this.containers.delete(id);
    }
  }
}

/**
 * Whether a container's status may be reused while the listing shows the same state: created,
 * or running (started); exited for two seconds or more (containerd may learn of an OOM kill
 * just after the exit and then reports the reason OOMKilled instead of Error in the same
 * state). Never an unknown state (containerd could not reach the shim: that passes).
 */
function reusable(s: ContainerStatus, now = Date.now()): boolean {
  if (s.state === 'created') return true;
  if (s.state === 'running') return s.startedAt > 0;
  return s.state === 'exited' && s.finishedAt > 0 && now - s.finishedAt >= 2_000;
}

function copyContainer(s: ContainerStatus): ContainerStatus {
  return { ...s, labels: { ...s.labels }, annotations: { ...s.annotations } };
}

function copySandbox(s: SandboxStatus): SandboxStatus {
  return { ...s, ips: [...s.ips], labels: { ...s.labels }, annotations: { ...s.annotations } };
}
