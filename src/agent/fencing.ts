// Self-fencing: the agent's half of kennel's safe replacement of a dead node's pods (the server's
// half, and the timing rule both obey, are in src/controllers/nodelifecycle/fencing.ts).
//
// The agent remembers S, the instant (on its own clock) it SENT the last lease renewal that
// succeeded, and L, the leaseDurationSeconds that renewal wrote. Its deadline is D = S + L
// (agentFenceDeadline): once D has passed without a newer successful renewal, the server may
// count the node's lease as expired and — after its margin — force-delete the node's StatefulSet
// pods so that they run elsewhere. So:
//
//   - at F = D − lead (lead = L/8, at most 5 s) the agent FENCES: it stops the containers of its
//     pods locally, each with a grace period cut so that the SIGKILL comes at least 1 s before D
//     (no preStop hooks: they could outlast D), and stops their sandboxes; while fenced it looks
//     again every check period and stops whatever an in-flight pod sync may have started;
//   - while fenced, no container of a fenced pod is started (the pod workers ask holds());
//   - a renewal that succeeds lifts the fence only after a fresh LIST of the node's pods, made
//     after that renewal (revalidation): a pod the server force-deleted meanwhile is gone from
//     it, a pod it evicted is Terminating in it. The LIST is a snapshot at resourceVersion R:
//     from then on a pod absent from it, delivered with a resourceVersion ≤ R (a stale informer
//     event — the informer may still replay what it listed before the agent renewed), counts as
//     gone, and a pod older than its snapshot copy counts as that copy. Only then do the pod
//     workers sync again: deleted pods are cleaned up, pods still bound restart.
//
// Why this suffices (with the server's rule): the server force-deletes only Terminating pods,
// only after its own clock shows L + margin since it last saw a renewal, and only after a live
// read of the Lease shows no newer one. A pod the revalidation LIST shows not Terminating can
// only become Terminating after that LIST, hence after the renewal — and then the server's live
// read sees the renewal and does not force-delete it. A pod the LIST shows Terminating is never
// restarted (deletionTimestamp is never unset). A pod the LIST lacks is gone for good (a uid
// never comes back).
//
// Which pods (scope): by default 'replaceable' — the pods the server may replace: those
// controlled by an apps StatefulSet (isFenceablePod, the very test the server applies), and
// those with no controller at all (a StatefulSet may adopt an orphan named like one of its pods
// while the node is cut off — e.g. after `kubectl delete sts --cascade=orphan` and a re-create —
// and the server would then replace it). Pods of a ReplicaSet, DaemonSet, Job … keep running, as
// in Kubernetes: the server never force-deletes them on a lease (their replacements do not
// depend on it), and a control plane that is down or overloaded for longer than a lease does not
// take every workload down with it (bench/nodes-scale, 1,000 nodes on a busy 2-core machine: some
// renewals were answered 20–30 s late and agents fenced; with every pod fenced, most nodes ended
// with their pods stopped, and restarting them added to the load). `scope: 'all'` fences every
// pod (kennel has no static pods) for clusters that prefer that.
//
// The clock: CLOCK_BOOTTIME (read from /proc/uptime, 10 ms steps, read rounded down), which,
// unlike performance.now (CLOCK_MONOTONIC), keeps counting while the machine is suspended: an
// agent whose machine slept through its deadline fences at the first check after it wakes, not
// a lease later. It never jumps when the wall clock is stepped. Rounding down makes S look
// earlier (fence earlier) and makes now look earlier by < 10 ms — well inside the server's margin.
//
// An agent that is not running (crashed, SIGKILLed, hung, stopped, or restarting while it cannot
// reach the API server) fences nothing, and its containers outlive it (they are detached, for
// adoption). The fence watchdog (fence-watchdog.ts) covers that: a tiny process beside the agent
// that outlives it, armed with every renewal (renewed → watchdog.arm), which SIGKILLs the
// fenceable containers just before the deadline unless the agent pushes it back. Fenceable pods'
// sandboxes are marked when created (markSandbox), so their containers are its targets before
// they start. The Node's annotation kennel.dev/fencing says which of the two covers the node
// (watchdog; agent for the simulated runtime, where nothing outlives the agent); the server
// replaces a dead node's pods only when it is set.
import { readFileSync } from 'node:fs';
import { agentFenceDeadline, isFenceablePod } from '../controllers/nodelifecycle/fencing.ts';
import { rvNumber } from '../controllers/common/cache-sync.ts';
import type { Logger } from '../util/log.ts';
import type { EventRecorder } from './events.ts';
import type { Pod } from './kube-types.ts';
import type { ContainerStatus, PodSandboxConfig, Runtime } from './runtime/types.ts';
import { LABEL_FENCE, watchdogKillOffsetMs } from './fence-watchdog.ts';
import { LABEL_NODE_NAME, LABEL_POD_UID, podGracePeriodSeconds } from './sync.ts';

export type FenceScope = 'all' | 'replaceable';
export type FenceState = 'open' | 'fenced' | 'revalidating';

/** The lead (how long before the deadline the agent starts stopping pods) is at most this. */
export const MAX_FENCE_LEAD_MS = 5_000;
/** The SIGKILL of a fenced container comes at least this long before the deadline. */
export const FENCE_KILL_SLACK_MS = 1_000;
/** How often the fence is checked (and, while fenced, enforced) at most. */
export const MAX_FENCE_CHECK_MS = 1_000;
export const FENCE_KILL_MESSAGE = 'the node cannot renew its lease (self-fencing)';

/** lead = L/8, at most 5 s: 5 s for the default 40 s lease; 125 ms for a 1 s lease in tests. */
export function defaultFenceLeadMs(leaseDurationSeconds: number): number {
  return Math.min(MAX_FENCE_LEAD_MS, (leaseDurationSeconds * 1000) / 8);
}

export interface FenceInput {
  /** When the last renewal that succeeded was SENT (the agent's clock, ms); undefined: none. */
  lastRenewalSentAt: number | undefined;
  /** The leaseDurationSeconds that renewal wrote. */
  leaseDurationSeconds: number;
  now: number;
  leadMs: number;
}

export interface FenceDecision {
  /** Pods must be stopped now (and none started). */
  fenced: boolean;
  /** When fencing begins: deadline − lead (−Infinity without a renewal). */
  fenceAt: number;
  /** S + L: every fenced container is dead by then (−Infinity without a renewal). */
  deadline: number;
}

/** The agent's fencing decision: fenced from deadline − lead on, and without any renewal. */
export function decideFence(i: FenceInput): FenceDecision {
  if (i.lastRenewalSentAt === undefined || !Number.isFinite(i.lastRenewalSentAt)) return { fenced: true, fenceAt: -Infinity, deadline: -Infinity };
  const deadline = agentFenceDeadline(i.lastRenewalSentAt, i.leaseDurationSeconds);
  const fenceAt = deadline - Math.max(0, i.leadMs);
  return { fenced: i.now >= fenceAt, fenceAt, deadline };
}

/**
 * The grace period (whole seconds) to stop a fenced container with at `now`: the pod's own, cut
 * so that the SIGKILL comes at least FENCE_KILL_SLACK_MS before the deadline (0: kill at once).
 */
export function fenceGraceSeconds(now: number, deadline: number, podGraceSeconds: number): number {
  const left = Math.floor((deadline - now - FENCE_KILL_SLACK_MS) / 1000);
  return Math.max(0, Math.min(Math.max(0, podGraceSeconds), Number.isFinite(left) ? left : 0));
}

/**
 * Whether the fence stops this pod (undefined: a sandbox of a pod the agent does not know):
 * 'all' — every pod; 'replaceable' — StatefulSet pods and pods without a controller.
 */
export function shouldFencePod(pod: Pod | undefined, scope: FenceScope): boolean {
  if (!pod || scope === 'all') return true;
  const controlled = pod.metadata.ownerReferences?.some((r) => r.controller === true) === true;
  return !controlled || isFenceablePod(pod);
}

/**
 * What the pod workers act on, given what their informer delivered and the last revalidation
 * snapshot: undefined = the pod is gone; the snapshot's copy when it is newer.
 */
export function viewThroughSnapshot(pod: Pod | undefined, snapshot: Snapshot | undefined): Pod | undefined {
  if (!pod || !snapshot) return pod;
  const uid = pod.metadata.uid ?? '';
  const listed = snapshot.pods.get(uid);
  const rv = rvNumber(pod.metadata.resourceVersion);
  if (!listed) {
    // Absent from the snapshot: gone at R, unless this copy is newer than the snapshot (a pod
    // created after it). A resourceVersion that is not a number cannot be compared: trust it.
    return rv !== undefined && rv <= snapshot.rv ? undefined : pod;
  }
  const lrv = rvNumber(listed.metadata.resourceVersion);
  if (rv !== undefined && lrv !== undefined && rv < lrv) return listed;
  // deletionTimestamp is never unset: whatever the versions say, a Terminating copy wins.
  if (listed.metadata.deletionTimestamp && !pod.metadata.deletionTimestamp) return listed;
  return pod;
}

/** A revalidation LIST: the node's pods at resourceVersion rv. */
export interface Snapshot {
  rv: bigint;
  pods: Map<string, Pod>;
}

/** CLOCK_BOOTTIME in ms (counts through suspend), from /proc/uptime; performance.now elsewhere. */
export function bootClock(): () => number {
  const read = (): number => {
    const s = readFileSync('/proc/uptime', 'latin1');
    return Math.round(Number(s.slice(0, s.indexOf(' '))) * 1000);
  };
  try {
    if (Number.isFinite(read())) return read;
  } catch {
    // not Linux
  }
  return () => performance.now();
}

// ---------------------------------------------------------------------------------------------
// Stopping pods for the fence

export interface FenceKillDeps {
  runtime: Runtime;
  nodeName: string;
  /** The pod of a uid as the agent knows it (undefined: unknown). */
  podOf(uid: string): Pod | undefined;
  /** Stop one container with at most graceSeconds (no preStop hook). */
  killContainer(pod: Pod | undefined, c: ContainerStatus, graceSeconds: number): Promise<void>;
  logger: Logger;
}

/**
 * Stop every running container of this node's sandboxes whose pod `select` picks, each with at
 * most graceSeconds(pod), then those sandboxes — whatever the pod workers are doing. Returns how
 * many pods and containers were running.
 */
export async function stopForFence(
  d: FenceKillDeps,
  select: (pod: Pod | undefined) => boolean,
  graceSeconds: (pod: Pod | undefined) => number,
): Promise<{ pods: number; containers: number }> {
  const rt = d.runtime;
  const [sandboxes, containers] = await Promise.all([rt.listPodSandboxes(), rt.listContainers()]);
  const byUid = new Map<string, { sandboxes: string[]; containers: ContainerStatus[] }>();
  const uidOfSandbox = new Map<string, string>();
  for (const s of sandboxes) {
    const owner = s.labels[LABEL_NODE_NAME];
    if (owner !== undefined && owner !== d.nodeName) continue;
    const uid = s.labels[LABEL_POD_UID] ?? s.uid;
    if (!uid) continue;
    uidOfSandbox.set(s.id, uid);
    let e = byUid.get(uid);
    if (!e) byUid.set(uid, (e = { sandboxes: [], containers: [] }));
    if (s.state === 'ready') e.sandboxes.push(s.id);
  }
  for (const c of containers) {
    const uid = uidOfSandbox.get(c.sandboxId);
    if (uid === undefined || (c.state !== 'running' && c.state !== 'created')) continue;
    byUid.get(uid)!.containers.push(c);
  }
  let pods = 0;
  let count = 0;
  await Promise.all(
    [...byUid].map(async ([uid, e]) => {
      const pod = d.podOf(uid);
      if ((e.containers.length === 0 && e.sandboxes.length === 0) || !select(pod)) return;
      pods++;
      count += e.containers.length;
      const grace = graceSeconds(pod);
      await Promise.all(e.containers.map((c) => d.killContainer(pod, c, grace)));
      for (const id of e.sandboxes) {
        await rt.stopPodSandbox(id).catch((err: unknown) => d.logger.warn('fencing: stopping a sandbox failed', { uid, sandbox: id, error: err instanceof Error ? err.message : String(err) }));
      }
    }),
  );
  return { pods, containers: count };
}

// ---------------------------------------------------------------------------------------------
// The fence of one agent

/** What the pod workers ask the fence. */
export interface FenceGate {
  /** What to act on for this uid (undefined: the pod is gone). */
  view(uid: string, pod: Pod | undefined): Pod | undefined;
  /** The pod must not run now: stop it, start nothing. */
  holds(pod: Pod): boolean;
  /** The grace period to stop a held pod's containers with now. */
  graceSeconds(pod: Pod | undefined): number;
  /** Mark the sandbox of a fenceable pod for the fence watchdog (label, cgroup parent). */
  markSandbox?(pod: Pod, config: PodSandboxConfig): void;
}

/** The fence watchdog as the fence sees it (fence-watchdog.ts: FenceWatchdog). */
export interface FenceWatchdogLink {
  /** Kill the fenceable containers in inMs unless armed again before. */
  arm(inMs: number): void;
  /** The cgroup parent of fenceable sandboxes (containerd). */
  cgroupParent?: string;
}

/** What the fence asks of the rest of the agent (attached once the pod workers exist). */
export interface FenceHooks {
  /** Stop the containers of the pods select picks (stopForFence). */
  stop(select: (pod: Pod | undefined) => boolean, graceSeconds: (pod: Pod | undefined) => number): Promise<{ pods: number; containers: number }>;
  /** A fresh LIST of the pods bound to the node (items and the list's resourceVersion). */
  listPods(): Promise<{ items: Pod[]; resourceVersion: string }>;
  /** Sync every pod (the fence was lifted). */
  resyncAll(): void;
}

export interface AgentFenceOptions {
  nodeName: string;
  logger: Logger;
  recorder?: EventRecorder;
  /** Which pods are fenced (default replaceable: StatefulSet pods and pods without a controller). */
  scope?: FenceScope;
  /** How long before the deadline fencing starts (default defaultFenceLeadMs(L)). */
  leadMs?: number;
  /** How often the fence is checked (default lead / 2, at most 1 s). */
  checkMs?: number;
  /** The clock S and now are read from (default bootClock()). */
  clock?: () => number;
  /** The fence watchdog: armed after every renewal; fenceable sandboxes are marked for it. */
  watchdog?: FenceWatchdogLink;
}

export interface FenceStatus {
  state: FenceState;
  scope: FenceScope;
  lastRenewalSentAt?: number;
  leaseDurationSeconds?: number;
  fenceAt?: number;
  deadline?: number;
  /** Times the agent fenced itself. */
  fences: number;
  /** Clock time the last fence's first stop pass finished, and the deadline it worked to. */
  lastStopDoneAt?: number;
  lastStopDeadline?: number;
}

export class AgentFence implements FenceGate {
  readonly clock: () => number;
  readonly scope: FenceScope;
  private state: FenceState = 'open';
  private sentAt: number | undefined;
  private duration = 40;
  private snapshot: Snapshot | undefined;
  private hooks: FenceHooks | undefined;
  private timer: NodeJS.Timeout | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private stopping: Promise<void> | undefined;
  private revalidating: Promise<void> | undefined;
  /** Bumped by every fence and every revalidation: a revalidation only lifts its own fence. */
  private generation = 0;
  private fences = 0;
  private firstStopPending = false;
  private lastStopDoneAt: number | undefined;
  private lastStopDeadline: number | undefined;
  private closed = false;

  constructor(private readonly o: AgentFenceOptions) {
    this.clock = o.clock ?? bootClock();
    this.scope = o.scope ?? 'replaceable';
  }

  private leadMs(): number {
    return this.o.leadMs ?? defaultFenceLeadMs(this.duration);
  }

  private checkMs(): number {
    return this.o.checkMs ?? Math.max(10, Math.min(MAX_FENCE_CHECK_MS, this.leadMs() / 2));
  }

  decision(now = this.clock()): FenceDecision {
    return decideFence({ lastRenewalSentAt: this.sentAt, leaseDurationSeconds: this.duration, now, leadMs: this.leadMs() });
  }

  status(): FenceStatus {
    const d = this.decision();
    return {
      state: this.state,
      scope: this.scope,
      lastRenewalSentAt: this.sentAt,
      leaseDurationSeconds: this.sentAt === undefined ? undefined : this.duration,
      fenceAt: Number.isFinite(d.fenceAt) ? d.fenceAt : undefined,
      deadline: Number.isFinite(d.deadline) ? d.deadline : undefined,
      fences: this.fences,
      lastStopDoneAt: this.lastStopDoneAt,
      lastStopDeadline: this.lastStopDeadline,
    };
  }

  /** A lease renewal sent at sentAt (this.clock) that wrote leaseDurationSeconds succeeded. */
  renewed(sentAt: number, leaseDurationSeconds: number): void {
    // Renewals may complete out of order: the latest send counts.
    if (this.sentAt === undefined || sentAt >= this.sentAt) {
      this.sentAt = sentAt;
      this.duration = leaseDurationSeconds;
    }
    this.armWatchdog();
    if (this.state === 'fenced' && !this.decision().fenced) {
      this.state = 'revalidating';
      this.o.logger.info('lease renewed: reading the pods afresh before lifting the fence', { node: this.o.nodeName });
      this.startRevalidation();
    }
  }

  /** Start checking (the pod workers exist). */
  attach(hooks: FenceHooks): void {
    this.hooks = hooks;
    this.loop();
  }

  stop(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.retryTimer) clearTimeout(this.retryTimer);
  }

  /** Push the watchdog's kill time back: the deadline less min(1 s, lead). */
  private armWatchdog(): void {
    const w = this.o.watchdog;
    if (!w || this.closed) return;
    const d = this.decision();
    if (!Number.isFinite(d.deadline)) return;
    try {
      w.arm(d.deadline - watchdogKillOffsetMs(this.leadMs()) - this.clock());
    } catch (e) {
      this.o.logger.error('fencing: could not arm the fence watchdog', { node: this.o.nodeName, error: e instanceof Error ? e.message : String(e) });
    }
  }

  // -- the gate

  markSandbox(pod: Pod, config: PodSandboxConfig): void {
    const w = this.o.watchdog;
    if (!w || !shouldFencePod(pod, this.scope)) return;
    config.labels[LABEL_FENCE] = 'true';
    if (w.cgroupParent) config.cgroupParent = w.cgroupParent;
  }

  view(_uid: string, pod: Pod | undefined): Pod | undefined {
    return viewThroughSnapshot(pod, this.snapshot);
  }

  holds(pod: Pod): boolean {
    return this.state !== 'open' && shouldFencePod(pod, this.scope);
  }

  graceSeconds(pod: Pod | undefined): number {
    const podGrace = pod ? podGracePeriodSeconds(pod) : 30;
    return fenceGraceSeconds(this.clock(), this.decision().deadline, podGrace);
  }

  // -- checking

  private loop(): void {
    if (this.closed) return;
    try {
      this.poll();
    } finally {
      if (!this.closed) {
        this.timer = setTimeout(() => this.loop(), this.checkMs());
        this.timer.unref();
      }
    }
  }

  /** One check: fence when it is time; while fenced, stop whatever runs. Returns the state and
   *  the stop pass in flight, if any (the loop calls it every check period; tests call it). */
  poll(): { state: FenceState; stopping?: Promise<void> } {
    if (!this.closed) {
      const d = this.decision();
      if (d.fenced && this.state !== 'fenced') this.enter(d);
      if (this.state === 'fenced') this.enforce(d);
    }
    return { state: this.state, stopping: this.stopping };
  }

  /** The revalidation in flight (tests). */
  revalidation(): Promise<void> | undefined {
    return this.revalidating;
  }

  private enter(d: FenceDecision): void {
    this.state = 'fenced';
    this.generation++;
    this.fences++;
    this.firstStopPending = true;
    const silentMs = this.sentAt === undefined ? undefined : Math.round(this.clock() - this.sentAt);
    this.o.logger.warn('the node lease could not be renewed: fencing (stopping pods, starting none) until it is', {
      node: this.o.nodeName,
      scope: this.scope,
      sinceLastRenewalMs: silentMs,
      leaseDurationSeconds: this.duration,
      deadlineInMs: Number.isFinite(d.deadline) ? Math.round(d.deadline - this.clock()) : undefined,
    });
    this.o.recorder?.event(nodeTarget(this.o.nodeName), 'Warning', 'NodeFenced', `Node ${this.o.nodeName} could not renew its lease: stopping its pods (self-fencing)`);
  }

  /** Stop whatever runs (one pass at a time). */
  private enforce(d: FenceDecision): void {
    const hooks = this.hooks;
    if (!hooks || this.stopping) return;
    const first = this.firstStopPending;
    const gen = this.generation;
    this.stopping = hooks
      .stop(
        (pod) => shouldFencePod(pod, this.scope),
        (pod) => this.graceSeconds(pod),
      )
      .then((r) => {
        if (!first || gen !== this.generation) return;
        this.firstStopPending = false;
        const done = this.clock();
        this.lastStopDoneAt = done;
        this.lastStopDeadline = d.deadline;
        const fields = { node: this.o.nodeName, pods: r.pods, containers: r.containers, beforeDeadlineMs: Number.isFinite(d.deadline) ? Math.round(d.deadline - done) : undefined };
        if (done > d.deadline) this.o.logger.error('fencing: pods stopped AFTER the deadline (the server allows a margin, but this node was slow)', fields);
        else this.o.logger.warn('fencing: pods stopped', fields);
      })
      .catch((e: unknown) => this.o.logger.error('fencing: stopping pods failed; trying again', { node: this.o.nodeName, error: e instanceof Error ? e.message : String(e) }))
      .finally(() => {
        this.stopping = undefined;
      });
  }

  private startRevalidation(): void {
    const p = this.revalidate().finally(() => {
      if (this.revalidating === p) this.revalidating = undefined;
    });
    this.revalidating = p;
  }

  /** After a renewal: LIST the node's pods, then lift the fence (unless it was fenced again). */
  private async revalidate(): Promise<void> {
    const hooks = this.hooks;
    if (!hooks || this.closed) return;
    const gen = ++this.generation;
    let list: { items: Pod[]; resourceVersion: string };
    try {
      list = await hooks.listPods();
    } catch (e) {
      if (this.state !== 'revalidating' || gen !== this.generation || this.closed) return;
      this.o.logger.warn('fencing: listing the pods failed; trying again', { node: this.o.nodeName, error: e instanceof Error ? e.message : String(e) });
      this.retryTimer = setTimeout(() => {
        if (this.state === 'revalidating' && gen === this.generation) this.startRevalidation();
      }, this.checkMs());
      this.retryTimer.unref();
      return;
    }
    if (this.state !== 'revalidating' || gen !== this.generation || this.closed) return;
    // Past the fence time again meanwhile (that renewal was the last for a while): the next
    // check fences again.
    if (this.decision().fenced) return;
    const rv = rvNumber(list.resourceVersion);
    if (rv !== undefined) this.snapshot = { rv, pods: new Map(list.items.map((p) => [p.metadata.uid ?? '', p])) };
    else this.o.logger.warn('fencing: the pod list has no numeric resourceVersion; stale pod events cannot be told apart', { node: this.o.nodeName });
    this.state = 'open';
    this.o.logger.info('fence lifted: pods sync from the API again', { node: this.o.nodeName, pods: list.items.length });
    this.o.recorder?.event(nodeTarget(this.o.nodeName), 'Normal', 'NodeFenceLifted', `Node ${this.o.nodeName} renewed its lease: its pods run again`);
    hooks.resyncAll();
  }
}

function nodeTarget(name: string) {
  return { kind: 'Node', apiVersion: 'v1', name, uid: name, namespace: 'default' };
}
