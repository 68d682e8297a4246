// Pod workers: shared types (options, per-pod worker state) and small helpers.
import { type KubeClient, type ResourceRef } from '../client/rest.ts';
import { type EnvSources } from './env.ts';
import { type EventRecorder } from './events.ts';
import { type DependencyTracker } from './dependencies.ts';
import type { FenceGate } from './fencing.ts';
import type { Logger } from '../util/log.ts';
import type { Pod, PodCondition, PodStatus } from './kube-types.ts';
import type { ProbeManager } from './probe-types.ts';
import type { PodSandboxConfig, Runtime } from './runtime/types.ts';
import { type WaitingReason } from './status.ts';
import { Backoff } from './sync.ts';
import { podDnsConfig, type PodNetworkFiles, type VolumeSources } from './volumes.ts';

export const PODS: ResourceRef = { group: '', version: 'v1', plural: 'pods', namespaced: true, kind: 'Pod' };

/** Status fields the agent owns: a field it stops reporting is removed (merge patch null). */
export const OWNED_STATUS_KEYS = ['phase', 'reason', 'message', 'conditions', 'hostIP', 'hostIPs', 'podIP', 'podIPs', 'startTime', 'initContainerStatuses', 'containerStatuses'];

export const MIN_GRACE_SECONDS = 2;

export interface PodWorkersOptions {
  client: KubeClient;
  runtime: Runtime;
  /** containerID prefix: the runtime's name as version() reports it (`containerd`). */
  runtimeName: string;
  nodeName: string;
  dataDir: string;
  /** Root of container logs: <root>/<ns>_<name>_<uid>/<container>/<n>.log. */
  podLogsDir: string;
  logger: Logger;
  recorder: EventRecorder;
  now: () => number;
  hostIP: () => string;
  nodeAllocatable: () => Record<string, string>;
  sources: EnvSources & VolumeSources;
  net: PodNetworkFiles;
  /** Set up volumes and the per-pod files (false for the simulated runtime). */
  volumes: boolean;
  /** Add a service-account volume to pods that have none (until admission does it). */
  implicitServiceAccountVolume: boolean;
  probes?: ProbeManager;
  /** Crash back-off (default 10 s doubling to 5 min). */
  backoff?: Backoff;
  imageBackoff?: Backoff;
  /** Every pod is synced at least this often (default 60 s). */
  resyncMs?: number;
  /** The runtime is listed this often to notice container changes (default 1 s). */
  relistMs?: number;
  /** Start-up dependencies (kennel.dev/depends-on): without it the annotation is ignored. */
  dependencies?: DependencyTracker;
  /** Called when a written status changes the pod's Ready condition (set by PodWorkers). */
  onLocalReadyChange?: () => void;
  /** Self-fencing (fencing.ts): which pods must not run now, and stale pods to ignore. */
  fence?: FenceGate;
}

export interface Worker {
  uid: string;
  /** The pod as last seen in the API; undefined once it is gone from the API. */
  pod: Pod | undefined;
  /** Sandboxes this pod has in the runtime (known ids only grow, except when removed). */
  sandboxIds: Set<string>;
  reasons: Map<string, WaitingReason>;
  probeKills: Map<string, string>;
  /** Consecutive failed volume set-ups (for the retry back-off). */
  mountRetries?: number;
  running: boolean;
  dirty: boolean;
  /** The relister saw a change while the worker synced (when that listing ended): see PodWorkers.run. */
  relistAt?: number;
  /** When (performance.now()) the worker last began reading a state it found settled after a sync. */
  settledAt?: number;
  timer: NodeJS.Timeout | undefined;
  timerAt: number;
  /** The status last written (the base of the next one). */
  lastStatus: PodStatus | undefined;
  lastStatusJson: string;
  /** The pod finished for good (Succeeded/Failed): nothing more is started. */
  terminal: boolean;
  /** Deleted from the API by us: done. */
  finished: boolean;
  /** Resolves when the current sync ends. */
  idle: Promise<void>;
  resolveIdle: (() => void) | undefined;
  lastMountError: string;
  imagePullWaitUntil: number;
  warnedToken: boolean;
  /** The pod's IPs as its sandbox reported them (for probes). */
  podIPs: string[];
  /** kennel.dev/DependenciesReady as last computed (set when the pod has the annotation). */
  depCondition?: PodCondition;
  /** Held: its containers wait for dependencies (woken by dependenciesChanged). */
  depWaiting?: boolean;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export function errMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

export function podName(pod: Pod): string {
  return `${pod.metadata.namespace ?? ''}/${pod.metadata.name ?? ''}`;
}

export function podFullName(pod: Pod): string {
  return `${pod.metadata.name ?? ''}_${pod.metadata.namespace ?? ''}(${pod.metadata.uid ?? ''})`;
}

export function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o)
      .filter((k) => o[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical(o[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}

export function isTerminalPhase(p: string | undefined): boolean {
  return p === 'Succeeded' || p === 'Failed';
}


export function podDns(pod: Pod, net: PodNetworkFiles): PodSandboxConfig['dnsConfig'] {
  if (pod.spec.hostNetwork && (pod.spec.dnsPolicy ?? 'ClusterFirst') === 'ClusterFirst') return undefined;
  return podDnsConfig(pod, net);
}

/**
 * At most n tasks at a time; the others wait in order. With maxHoldMs, a task that runs longer
 * gives its place to the next one after that long (and goes on running), so one stuck task
 * delays the others by maxHoldMs at most.
 */
export class Semaphore {
  private active = 0;
  private readonly waiting: (() => void)[] = [];
  constructor(private readonly n: number) {}
  async run<T>(fn: () => Promise<T>, maxHoldMs?: number): Promise<T> {
    if (this.active >= this.n) await new Promise<void>((r) => this.waiting.push(r));
    this.active++;
    let held = true;
    const release = (): void => {
      if (!held) return;
      held = false;
      this.active--;
      this.waiting.shift()?.();
    };
    const timer = maxHoldMs === undefined ? undefined : setTimeout(release, maxHoldMs);
    try {
      return await fn();
    } finally {
      if (timer) clearTimeout(timer);
      release();
    }
  }

  /** Tasks holding a place now. */
  get running(): number {
    return this.active;
  }
}

export function needsSync(a: Pod, b: Pod): boolean {
  if (a.metadata.deletionTimestamp !== b.metadata.deletionTimestamp) return true;
  if (a.metadata.deletionGracePeriodSeconds !== b.metadata.deletionGracePeriodSeconds) return true;
  if ((b.spec.readinessGates ?? []).length > 0) return true;
  if (JSON.stringify(a.metadata.labels ?? {}) !== JSON.stringify(b.metadata.labels ?? {})) return true;
  if (JSON.stringify(a.metadata.annotations ?? {}) !== JSON.stringify(b.metadata.annotations ?? {})) return true;
  return JSON.stringify(a.spec) !== JSON.stringify(b.spec);
}

export function seconds(ms: number): string {
  const s = ms / 1000;
  if (s < 1) return `${Math.round(ms)}ms`;
  return `${Number(s.toFixed(3))}s`;
}

/** Whether a pod spec references a configMap or secret (volumes, env, envFrom, projected, pull secrets). */
export function referencesObject(pod: Pod, kind: 'configmap' | 'secret', name: string): boolean {
  const spec = pod.spec;
  for (const v of spec.volumes ?? []) {
    if (kind === 'configmap' && v.configMap?.name === name) return true;
    if (kind === 'secret' && v.secret?.secretName === name) return true;
    for (const s of v.projected?.sources ?? []) {
      if (kind === 'configmap' && s.configMap?.name === name) return true;
      if (kind === 'secret' && s.secret?.name === name) return true;
    }
  }
  for (const c of [...(spec.initContainers ?? []), ...(spec.containers ?? [])]) {
    for (const f of c.envFrom ?? []) {
      if (kind === 'configmap' && f.configMapRef?.name === name) return true;
      if (kind === 'secret' && f.secretRef?.name === name) return true;
    }
    for (const e of c.env ?? []) {
      if (kind === 'configmap' && e.valueFrom?.configMapKeyRef?.name === name) return true;
      if (kind === 'secret' && e.valueFrom?.secretKeyRef?.name === name) return true;
    }
  }
  if (kind === 'secret' && (spec.imagePullSecrets ?? []).some((s) => s.name === name)) return true;
  if (kind === 'configmap' && name === 'kube-root-ca.crt') return true;
  return false;
}
