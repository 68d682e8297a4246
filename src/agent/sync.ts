// The pod sync decision, as the kubelet's computePodActions makes it: given a pod, what the
// runtime holds for it and the time, decide what to do next — (re)create the sandbox, which
// init container to run, which containers to start, kill or leave in back-off. Pure: the pod
// worker (podworker.ts) executes the actions; tests call this with plain objects.
import { createHash } from 'node:crypto';
import type { ContainerStatus, SandboxStatus } from './runtime/types.ts';
import type { Container, Pod } from './kube-types.ts';

// Runtime labels and annotations, with the kubelet's keys, so that an agent restart can adopt
// what runs and statuses stay correct.
export const LABEL_POD_NAME = 'io.kubernetes.pod.name';
export const LABEL_POD_NAMESPACE = 'io.kubernetes.pod.namespace';
export const LABEL_POD_UID = 'io.kubernetes.pod.uid';
export const LABEL_CONTAINER_NAME = 'io.kubernetes.container.name';
export const ANNOTATION_CONTAINER_HASH = 'io.kubernetes.container.hash';
export const ANNOTATION_RESTART_COUNT = 'io.kubernetes.container.restartCount';
export const ANNOTATION_TERMINATION_MESSAGE_PATH = 'io.kubernetes.container.terminationMessagePath';
export const ANNOTATION_GRACE_PERIOD = 'io.kubernetes.pod.terminationGracePeriod';
export const ANNOTATION_PRESTOP = 'io.kubernetes.container.preStopHandler';
/** kennel's own: the node whose agent made the sandbox (agents sharing a runtime leave each other's alone). */
export const LABEL_NODE_NAME = 'kennel.io/node-name';
/** kennel's own: the container is an init container. */
export const LABEL_INIT_CONTAINER = 'kennel.io/init-container';

export const DEFAULT_BACKOFF_INITIAL_MS = 10_000;
export const DEFAULT_BACKOFF_MAX_MS = 300_000;

/**
 * Per-key exponential back-off, as client-go's flowcontrol.Backoff works for the kubelet:
 * the first restart is immediate, then 10 s, 20 s, 40 s … up to 5 min. An entry is forgotten
 * (the next restart is immediate again and the delay starts over) when the event (a crash)
 * comes more than twice the maximum (10 min) after the last restart.
 */
export class Backoff {
  private readonly entries = new Map<string, { backoffMs: number; lastUpdate: number }>();
  constructor(
    readonly initialMs = DEFAULT_BACKOFF_INITIAL_MS,
    readonly maxMs = DEFAULT_BACKOFF_MAX_MS,
  ) {}

  /** The current delay of key (0 when none). */
  get(key: string): number {
    return this.entries.get(key)?.backoffMs ?? 0;
  }

  /** Whether an event at eventTime (e.g. the container's finish) is still inside key's back-off at now. */
  isInBackOffSince(key: string, eventTime: number, now: number): boolean {
    const e = this.entries.get(key);
    if (!e) return false;
    if (this.expired(eventTime, e.lastUpdate)) return false;
    return now - eventTime < e.backoffMs;
  }

  /** When the back-off of an event at eventTime ends. */
  until(key: string, eventTime: number): number {
    return eventTime + this.get(key);
  }

  /** Record a retry at now for an event at eventTime: start at the initial delay or double it. */
  next(key: string, eventTime: number, now: number): void {
    const e = this.entries.get(key);
    if (!e || this.expired(eventTime, e.lastUpdate)) {
      this.entries.set(key, { backoffMs: this.initialMs, lastUpdate: now });
    } else {
      e.backoffMs = Math.min(e.backoffMs * 2, this.maxMs);
      e.lastUpdate = now;
    }
  }

  reset(key: string): void {
    this.entries.delete(key);
  }

  /** Forget every key with this prefix (a pod's keys when it goes). */
  forgetPrefix(prefix: string): void {
    for (const k of this.entries.keys()) if (k.startsWith(prefix)) this.entries.delete(k);
  }

  /** Drop entries not updated for 2 × max. */
  gc(now: number): void {
    for (const [k, e] of this.entries) if (this.expired(now, e.lastUpdate)) this.entries.delete(k);
  }

  private expired(eventTime: number, lastUpdate: number): boolean {
    return eventTime - lastUpdate > 2 * this.maxMs;
  }
}

/** The back-off key of a container of a pod. */
export function containerBackoffKey(podUid: string, containerName: string): string {
  return `${podUid}/${containerName}`;
}

/** A stable hash of a container's spec; a change (a new image) restarts the container. */
export function hashContainer(c: Container): string {
  const { resources: _r, ...rest } = c as Container & { resources?: unknown };
  return createHash('sha256').update(canonicalJson(rest)).digest('hex').slice(0, 16);
}

function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (v && typeof v === 'object') {
    const keys = Object.keys(v as Record<string, unknown>)
      .filter((k) => (v as Record<string, unknown>)[k] !== undefined)
      .sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson((v as Record<string, unknown>)[k])}`).join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}

/** The restart count a container carries in its runtime annotations. */
export function restartCountOf(c: ContainerStatus): number {
  const n = Number(c.annotations[ANNOTATION_RESTART_COUNT]);
  return Number.isFinite(n) && n >= 0 ? n : c.attempt;
}

/** Which container of the pod spec a runtime container is. */
export function containerNameOf(c: ContainerStatus): string {
  return c.labels[LABEL_CONTAINER_NAME] ?? c.name;
}

/** What the runtime holds for one pod. */
export interface PodRuntimeState {
  sandboxes: SandboxStatus[];
  containers: ContainerStatus[];
}

/** Newest first (by creation time, then attempt). */
export function byNewest<T extends { createdAt: number; attempt: number }>(a: T, b: T): number {
  return b.createdAt - a.createdAt || b.attempt - a.attempt;
}

/** The newest sandbox of the pod, or undefined. */
export function currentSandbox(state: PodRuntimeState): SandboxStatus | undefined {
  let best: SandboxStatus | undefined;
  for (const s of state.sandboxes) if (!best || byNewest(s, best) < 0) best = s;
  return best;
}

/** The newest runtime container of each name (optionally only those in one sandbox). */
export function latestByName(containers: ContainerStatus[], sandboxId?: string): Map<string, ContainerStatus> {
  const out = new Map<string, ContainerStatus>();
  for (const c of containers) {
    if (sandboxId !== undefined && c.sandboxId !== sandboxId) continue;
    const name = containerNameOf(c);
    const prev = out.get(name);
    if (!prev || byNewest(c, prev) < 0) out.set(name, c);
  }
  return out;
}

export interface StartAction {
  container: Container;
  isInit: boolean;
  /** restartCount (and CRI attempt) of the new container. */
  restartCount: number;
  /** The back-off to advance when the start is executed (a restart after an exit). */
  backoff?: { key: string; eventTime: number };
}

export interface KillAction {
  id: string;
  name: string;
  /** For the Killing event: `Stopping container c`, or why it is killed and restarted. */
  message: string;
}

export interface PodActions {
  /** Stop every container and the sandbox (before a new sandbox, or the pod is done). */
  killPod: boolean;
  createSandbox: boolean;
  /** The sandbox the containers go into when no new one is made. */
  sandboxId?: string;
  /** CRI attempt of a new sandbox. */
  sandboxAttempt: number;
  /** Containers to start, init containers one at a time and before any app container. */
  containersToStart: StartAction[];
  containersToKill: KillAction[];
  /** Containers left waiting in crash back-off: reason CrashLoopBackOff. */
  backOff: { name: string; isInit: boolean; message: string; until: number }[];
  /** When a back-off ends and the pod must be synced again (ms since epoch). */
  requeueAt?: number;
  /** Whether all init containers have succeeded (in the current sandbox). */
  initialized: boolean;
}

export interface ComputeOptions {
  /** Containers a liveness or startup probe asked to restart: id → why (`Container c failed liveness probe`). */
  probeKills?: ReadonlyMap<string, string>;
}

function restartPolicy(pod: Pod): 'Always' | 'OnFailure' | 'Never' {
  const p = pod.spec.restartPolicy;
  return p === 'Never' || p === 'OnFailure' ? p : 'Always';
}

/** A restartable init container (a sidecar: restartPolicy Always on the init container). */
export function isSidecar(c: Container): boolean {
  return (c as Container & { restartPolicy?: string }).restartPolicy === 'Always';
}

function podFullName(pod: Pod): string {
  return `${pod.metadata.name ?? ''}_${pod.metadata.namespace ?? ''}(${pod.metadata.uid ?? ''})`;
}

/** `40s`, `1m20s`, `5m0s` (Go's time.Duration formatting for whole seconds). */
export function goDuration(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  return h > 0 ? `${h}h${m}m${sec}s` : `${m}m${sec}s`;
}

/** The grace period to stop a pod's containers with. */
export function podGracePeriodSeconds(pod: Pod): number {
  const d = pod.metadata.deletionGracePeriodSeconds;
  if (typeof d === 'number') return d;
  const t = pod.spec.terminationGracePeriodSeconds;
  return typeof t === 'number' ? t : 30;
}

/**
 * The kubelet's decision for one pod sync. `state` is everything the runtime holds for the pod
 * (all its sandboxes and their containers, running or not).
 */
export function computePodActions(pod: Pod, state: PodRuntimeState, now: number, backoff: Backoff, opts: ComputeOptions = {}): PodActions {
  const spec = pod.spec;
  const policy = restartPolicy(pod);
  const uid = pod.metadata.uid ?? '';
  const inits = spec.initContainers ?? [];
  const apps = spec.containers ?? [];
  const sandbox = currentSandbox(state);
  const readySandboxes = state.sandboxes.filter((s) => s.state === 'ready').length;
  const createSandbox = !sandbox || sandbox.state !== 'ready' || readySandboxes > 1;
  const actions: PodActions = {
    killPod: createSandbox,
    createSandbox,
    sandboxId: createSandbox ? undefined : sandbox!.id,
    sandboxAttempt: sandbox ? sandbox.attempt + 1 : 0,
    containersToStart: [],
    containersToKill: [],
    backOff: [],
    initialized: inits.length === 0,
  };
  // A pod being deleted: stop everything, start nothing.
  if (pod.metadata.deletionTimestamp) {
    actions.killPod = true;
    actions.createSandbox = false;
    return actions;
  }
  const latestAll = latestByName(state.containers);
  const latestCur = createSandbox ? new Map<string, ContainerStatus>() : latestByName(state.containers, sandbox!.id);

  const start = (c: Container, isInit: boolean): void => {
    const prev = latestAll.get(c.name);
    const restartCount = prev ? restartCountOf(prev) + 1 : 0;
    const a: StartAction = { container: c, isInit, restartCount };
    // A container restarted while its previous instance still runs (a liveness or startup
    // failure kills it in this same sync) counts as having exited now: without that, liveness
    // restarts would never back off, where the kubelet backs them off from the last exit.
    if (prev && (prev.state === 'exited' || prev.state === 'running')) {
      const key = containerBackoffKey(uid, c.name);
      const eventTime = prev.state === 'running' ? now : prev.finishedAt || prev.createdAt;
      if (backoff.isInBackOffSince(key, eventTime, now)) {
        const until = backoff.until(key, eventTime);
        actions.backOff.push({ name: c.name, isInit, until, message: `back-off ${goDuration(backoff.get(key))} restarting failed container=${c.name} pod=${podFullName(pod)}` });
        actions.requeueAt = actions.requeueAt === undefined ? until : Math.min(actions.requeueAt, until);
        return;
      }
      a.backoff = { key, eventTime };
    }
    actions.containersToStart.push(a);
  };

  if (createSandbox) {
    // Never restart a pod whose containers already ran under restartPolicy Never.
    if (policy === 'Never' && actions.sandboxAttempt !== 0 && state.containers.length > 0) {
      actions.createSandbox = false;
      return actions;
    }
    // OnFailure: containers that succeeded are done; with none left to start, so is the pod.
    const toStart = apps.filter((c) => !(policy === 'OnFailure' && succeeded(latestAll.get(c.name))));
    if (toStart.length === 0) {
      actions.createSandbox = false;
      return actions;
    }
    if (inits.length > 0) {
      start(inits[0]!, true);
      return actions;
    }
    for (const c of toStart) start(c, false);
    return actions;
  }

  // Init containers, one at a time, in order (sidecars: once running, the next one may go).
  const anyAppStarted = apps.some((c) => {
    const s = latestCur.get(c.name);
    return s !== undefined && (s.state === 'running' || s.state === 'exited');
  });
  if (inits.length > 0 && !anyAppStarted) {
    for (let i = 0; i < inits.length; i++) {
      const c = inits[i]!;
      const s = latestCur.get(c.name);
      if (isSidecar(c)) {
        if (s?.state === 'running') {
          const kill = runningKill(c, s, opts, true);
          if (kill) {
            actions.containersToKill.push(kill);
            start(c, true);
            return actions;
          }
          continue;
        }
        start(c, true);
        return actions;
      }
      if (!s || s.state === 'created' || s.state === 'unknown') {
        start(c, true);
        return actions;
      }
      if (s.state === 'running') return actions; // wait for it to finish
      if (s.exitCode === 0) continue; // done: the next one
      // Failed: Never gives up (the pod fails); otherwise retry it (Always acts as OnFailure).
      if (policy === 'Never') {
        actions.killPod = true;
        return actions;
      }
      start(c, true);
      return actions;
    }
  }
  actions.initialized = true;

  // Sidecars keep running (and restart) after initialization.
  let keep = 0;
  for (const c of inits) {
    if (!isSidecar(c)) continue;
    const s = latestCur.get(c.name);
    if (s?.state === 'running') {
      const kill = runningKill(c, s, opts, true);
      if (kill) {
        actions.containersToKill.push(kill);
        start(c, true);
      }
      continue;
    }
    start(c, true);
  }

  for (const c of apps) {
    const cur = latestCur.get(c.name);
    if (cur?.state === 'running') {
      const kill = runningKill(c, cur, opts, policy !== 'Never');
      if (!kill) {
        keep++;
        continue;
      }
      actions.containersToKill.push(kill);
      if (kill.message.endsWith('will be restarted')) start(c, false);
      continue;
    }
    // Not running: start it if the restart policy says so.
    const last = cur ?? latestAll.get(c.name);
    if (shouldRestart(last, policy)) start(c, false);
  }
  const startingApps = actions.containersToStart.some((a) => !a.isInit) || actions.backOff.some((b) => !b.isInit);
  if (keep === 0 && !startingApps) {
    // Nothing runs and nothing will: the pod is done (its sidecars go too).
    actions.killPod = true;
    actions.containersToStart = [];
    actions.backOff = [];
    actions.requeueAt = undefined;
  }
  return actions;
}

function succeeded(s: ContainerStatus | undefined): boolean {
  return s !== undefined && s.state === 'exited' && s.exitCode === 0;
}

function shouldRestart(s: ContainerStatus | undefined, policy: 'Always' | 'OnFailure' | 'Never'): boolean {
  if (!s) return true;
  if (s.state === 'running') return false;
  if (s.state === 'created' || s.state === 'unknown') return true;
  if (policy === 'Never') return false;
  if (policy === 'OnFailure') return s.exitCode !== 0;
  return true;
}

function runningKill(c: Container, s: ContainerStatus, opts: ComputeOptions, restartable: boolean): KillAction | undefined {
  let message: string | undefined;
  let restart = restartable;
  const hash = s.annotations[ANNOTATION_CONTAINER_HASH];
  if (hash !== undefined && hash !== hashContainer(c)) {
    message = `Container ${c.name} definition changed`;
    restart = true;
  } else if (opts.probeKills?.has(s.id)) {
    message = opts.probeKills.get(s.id)!;
  }
  if (message === undefined) return undefined;
  return { id: s.id, name: c.name, message: restart ? `${message}, will be restarted` : message };
}
