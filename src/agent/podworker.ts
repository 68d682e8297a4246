// Pod workers: one serialized sync loop per pod bound to the node, as the kubelet's pod
// workers run SyncPod. A sync reads what the runtime holds for the pod, sets up its volumes,
// asks computePodActions (sync.ts) what to do, does it — sandbox, image pulls, container
// create/start with env and mounts, hooks, kills with preStop and the grace period, crash and
// image-pull back-off — then writes the status built by buildPodStatus (status.ts) when it
// changed. A pod being deleted is stopped and then deleted from the API with grace 0; a pod no
// longer bound here (or gone) has its sandboxes and containers removed.
//
// A relister (like the kubelet's PLEG) lists the runtime every second and wakes the workers of
// pods whose containers changed; it also finds sandboxes of pods nobody knows (orphans).
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import { isConflict, isNotFound, type KubeClient, type ResourceRef } from '../client/rest.ts';
import { defaultPullPolicy } from '../registry/podspec.ts';
import { parseQuantity } from '../registry/quantity.ts';
import type { KubeObject } from '../registry/types.ts';
import type { Logger } from '../util/log.ts';
import { ContainerConfigError, expandCommandAndArgs, makeEnvironment, type EnvSources } from './env.ts';
import { podTarget, type EventRecorder } from './events.ts';
import { DEPENDENCIES_CONDITION, DependencySyntaxError, DEPENDS_ON_ANNOTATION, podDependencies, WAITING_FOR_DEPENDENCIES, type DependencyTracker } from './dependencies.ts';
import type { Container, LifecycleHandler, Pod, PodCondition, PodStatus } from './kube-types.ts';
import type { ProbeManager } from './probe-types.ts';
import type { AuthConfig, ContainerConfig, ContainerResources, ContainerStatus, PodSandboxConfig, PortMapping, Runtime, SandboxStatus } from './runtime/types.ts';
import { RuntimeError } from './runtime/types.ts';
import { buildPodStatus, type WaitingReason } from './status.ts';
import {
  ANNOTATION_CONTAINER_HASH,
  ANNOTATION_GRACE_PERIOD,
  ANNOTATION_PRESTOP,
  ANNOTATION_RESTART_COUNT,
  ANNOTATION_TERMINATION_MESSAGE_PATH,
  Backoff,
  LABEL_CONTAINER_NAME,
  LABEL_INIT_CONTAINER,
  LABEL_NODE_NAME,
  LABEL_POD_NAME,
  LABEL_POD_NAMESPACE,
  LABEL_POD_UID,
  byNewest,
  computePodActions,
  containerNameOf,
  currentSandbox,
  hashContainer,
  podGracePeriodSeconds,
  restartCountOf,
  type PodActions,
  type PodRuntimeState,
  type StartAction,
} from './sync.ts';
import {
  VolumeError,
  containerMounts,
  implicitServiceAccountVolume,
  podDnsConfig,
  serviceAccountVolumeMount,
  setUpPodVolumes,
  tearDownPod,
  writePodFiles,
  type PodFiles,
  type PodNetworkFiles,
  type PodVolumes,
  type VolumeSources,
} from './volumes.ts';

export const PODS: ResourceRef = { group: '', version: 'v1', plural: 'pods', namespaced: true, kind: 'Pod' };

/** Status fields the agent owns: a field it stops reporting is removed (merge patch null). */
const OWNED_STATUS_KEYS = ['phase', 'reason', 'message', 'conditions', 'hostIP', 'hostIPs', 'podIP', 'podIPs', 'startTime', 'initContainerStatuses', 'containerStatuses'];

const MIN_GRACE_SECONDS = 2;

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
}

interface Worker {
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

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function errMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function podName(pod: Pod): string {
  return `${pod.metadata.namespace ?? ''}/${pod.metadata.name ?? ''}`;
}

function podFullName(pod: Pod): string {
  return `${pod.metadata.name ?? ''}_${pod.metadata.namespace ?? ''}(${pod.metadata.uid ?? ''})`;
}

function canonical(v: unknown): string {
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

function isTerminalPhase(p: string | undefined): boolean {
  return p === 'Succeeded' || p === 'Failed';
}

export class PodWorkers {
  private readonly o: PodWorkersOptions;
  private readonly workers = new Map<string, Worker>();
  private readonly backoff: Backoff;
  private readonly imageBackoff: Backoff;
  private relistTimer: NodeJS.Timeout | undefined;
  private resyncTimer: NodeJS.Timeout | undefined;
  private relisting: Promise<void> | undefined;
  private fingerprints = new Map<string, string>();
  private stopped = false;
  /** Pods bound here are known (the informer has synced): orphans can be told apart. */
  private podsSynced = false;
  /** Syncs wait for the first relist after the pods are known, so no sandbox is made twice. */
  private ready = false;
  private readonly pullsInFlight = new Map<string, Promise<void>>();
  private readonly tokenCache = new Map<string, { token: string; refreshAt: number }>();
  /** Status writes in flight are limited, so a burst of pods reuses a few connections. */
  private readonly writes = new Semaphore(16);

  constructor(opts: PodWorkersOptions) {
    this.o = opts;
    this.backoff = opts.backoff ?? new Backoff();
    this.imageBackoff = opts.imageBackoff ?? new Backoff();
  }

  /** Use this probe manager (made after the workers, since it calls back into them). */
  attachProbes(probes: ProbeManager): void {
    this.o.probes = probes;
  }

  // -- inputs

  /** The pod was added or changed in the API. */
  update(pod: Pod): void {
    if (this.stopped) return;
    const uid = pod.metadata.uid;
    if (!uid) return;
    let w = this.workers.get(uid);
    if (!w) {
      w = this.newWorker(uid, pod);
      if (isTerminalPhase(pod.status?.phase)) w.terminal = true;
    } else {
      const prev = w.pod;
      w.pod = pod;
      // Our own status writes come back as updates: only a change of what the pod asks for
      // (spec, deletion, labels and annotations for the downward API, readiness gates) needs a sync.
      if (prev && !needsSync(prev, pod)) return;
    }
    this.requestSync(uid);
  }

  /** The pod is gone from the API. */
  remove(uid: string): void {
    const w = this.workers.get(uid);
    if (!w) return;
    w.pod = undefined;
    this.requestSync(uid);
  }

  /**
   * Every pod bound to the node has been delivered (the informer synced): list the runtime so
   * that each pod finds the sandboxes it already has (adoption), then start syncing.
   */
  async markSynced(): Promise<void> {
    this.podsSynced = true;
    await this.relist();
    this.ready = true;
    for (const w of this.workers.values()) if (w.dirty && !w.running) void this.run(w);
  }

  /** Wake the worker of a pod (probe results, config changes). */
  requestSync(uid: string): void {
    const w = this.workers.get(uid);
    if (!w || this.stopped) return;
    w.dirty = true;
    if (!w.running && this.ready) void this.run(w);
  }

  /** A service or EndpointSlice changed: pods held for their dependencies check again. */
  dependenciesChanged(): void {
    for (const w of this.workers.values()) if (w.depWaiting) this.requestSync(w.uid);
  }

  /** Pods (by uid) whose spec references an object, to wake them when it changes. */
  podsReferencing(namespace: string, kind: 'configmap' | 'secret', name: string): string[] {
    const out: string[] = [];
    for (const w of this.workers.values()) {
      const p = w.pod;
      if (!p || p.metadata.namespace !== namespace) continue;
      if (referencesObject(p, kind, name)) out.push(w.uid);
    }
    return out;
  }

  onLivenessFailure(uid: string, _containerName: string, containerId: string, message: string): void {
    const w = this.workers.get(uid);
    if (!w) return;
    w.probeKills.set(containerId, message.replace(/, will be restarted$/, ''));
    this.requestSync(uid);
  }

  /** The pod's IP as the runtime gave it (for probes). */
  podIP(uid: string): string | undefined {
    const w = this.workers.get(uid);
    if (!w) return undefined;
    if (w.pod?.spec.hostNetwork) return this.o.hostIP();
    return w.podIPs[0] ?? w.lastStatus?.podIP;
  }

  /** Look up a pod's container for logs/exec/attach: the newest runtime container of that name. */
  async findContainer(namespace: string, name: string, container?: string, previous = false): Promise<{ pod: Pod; container: ContainerStatus } | undefined> {
    for (const w of this.workers.values()) {
      const p = w.pod;
      if (!p || p.metadata.namespace !== namespace || p.metadata.name !== name) continue;
      const cname = container ?? p.spec.containers?.[0]?.name;
      const state = await this.runtimeState(w);
      const list = state.containers.filter((c) => containerNameOf(c) === cname).sort(byNewest);
      const c = previous ? list[1] : list[0];
      return c ? { pod: p, container: c } : undefined;
    }
    return undefined;
  }

  get size(): number {
    return this.workers.size;
  }

  // -- lifecycle

  start(): void {
    this.scheduleRelist();
    this.scheduleResync();
  }

  /** Stop syncing (containers keep running: a restarted agent adopts them). */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.relistTimer) clearTimeout(this.relistTimer);
    if (this.resyncTimer) clearTimeout(this.resyncTimer);
    for (const w of this.workers.values()) if (w.timer) clearTimeout(w.timer);
    await Promise.allSettled([...this.workers.values()].map((w) => w.idle));
    await this.relisting;
  }

  /** Resolves when no worker is syncing (tests). */
  async quiesce(): Promise<void> {
    for (let i = 0; i < 100; i++) {
      const busy = [...this.workers.values()].filter((w) => w.running);
      if (busy.length === 0) return;
      await Promise.allSettled(busy.map((w) => w.idle));
    }
  }

  // -- relist (PLEG)

  private scheduleRelist(): void {
    if (this.stopped) return;
    this.relistTimer = setTimeout(() => {
      void this.relist().finally(() => this.scheduleRelist());
    }, this.o.relistMs ?? 1000);
    this.relistTimer.unref();
  }

  private scheduleResync(): void {
    if (this.stopped) return;
    const every = this.o.resyncMs ?? 60_000;
    this.resyncTimer = setTimeout(() => {
      for (const w of this.workers.values()) if (!w.finished) this.requestSync(w.uid);
      this.backoff.gc(this.o.now());
      this.imageBackoff.gc(this.o.now());
      this.scheduleResync();
    }, every);
    this.resyncTimer.unref();
  }

  /** List the runtime; wake workers whose pods changed; adopt or clean up what nobody owns. */
  relist(): Promise<void> {
    if (this.relisting) return this.relisting;
    this.relisting = this.doRelist()
      .catch((e: unknown) => this.o.logger.warn('listing the runtime failed', { error: errMessage(e) }))
      .finally(() => {
        this.relisting = undefined;
      });
    return this.relisting;
  }

  private async doRelist(): Promise<void> {
    if (this.stopped) return;
    const [sandboxes, containers] = await Promise.all([this.o.runtime.listPodSandboxes(), this.o.runtime.listContainers()]);
    const sbUid = new Map<string, string>();
    const prints = new Map<string, string[]>();
    for (const s of sandboxes) {
      const uid = s.labels[LABEL_POD_UID] ?? s.uid;
      if (!uid) continue;
      const owner = s.labels[LABEL_NODE_NAME];
      if (owner !== undefined && owner !== this.o.nodeName) continue; // another agent's

      sbUid.set(s.id, uid);
      let p = prints.get(uid);
      if (!p) prints.set(uid, (p = []));
      p.push(`${s.id}:${s.state}`);
      const w = this.workers.get(uid);
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
      const w = this.workers.get(uid);
      if (!w) {
        if (this.podsSynced) {
          // Nobody owns this pod's sandboxes: stop and remove them.
          const orphan = this.newWorker(uid, undefined);
          for (const s of sandboxes) if (sbUid.get(s.id) === uid) orphan.sandboxIds.add(s.id);
          this.o.logger.info('cleaning up sandboxes of a pod not bound to this node', { uid });
          this.requestSync(uid);
        }
        continue;
      }
      if (this.fingerprints.get(uid) !== fp) this.requestSync(uid);
    }
    // A worker whose sandboxes all vanished also needs a look.
    for (const uid of this.fingerprints.keys()) if (!next.has(uid)) this.requestSync(uid);
    this.fingerprints = next;
  }

  // -- the worker loop

  private newWorker(uid: string, pod: Pod | undefined): Worker {
    const w: Worker = {
      uid,
      pod,
      sandboxIds: new Set(),
      reasons: new Map(),
      probeKills: new Map(),
      running: false,
      dirty: false,
      timer: undefined,
      timerAt: 0,
      lastStatus: undefined,
      lastStatusJson: '',
      terminal: false,
      finished: false,
      idle: Promise.resolve(),
      resolveIdle: undefined,
      lastMountError: '',
      imagePullWaitUntil: 0,
      warnedToken: false,
      podIPs: [],
    };
    this.workers.set(uid, w);
    return w;
  }

  private async run(w: Worker): Promise<void> {
    w.running = true;
    w.idle = new Promise((r) => (w.resolveIdle = r));
    try {
      while (w.dirty && !this.stopped) {
        w.dirty = false;
        try {
          await this.sync(w);
        } catch (e) {
          this.o.logger.warn('pod sync failed', { pod: w.pod ? podName(w.pod) : w.uid, error: errMessage(e) });
          this.requeue(w, this.o.now() + 2000);
        }
      }
    } finally {
      w.running = false;
      w.resolveIdle?.();
      if (w.finished && !w.dirty) this.workers.delete(w.uid);
    }
  }

  private requeue(w: Worker, at: number): void {
    if (this.stopped || w.finished) return;
    if (w.timer && w.timerAt <= at) return;
    if (w.timer) clearTimeout(w.timer);
    w.timerAt = at;
    w.timer = setTimeout(
      () => {
        w.timer = undefined;
        this.requestSync(w.uid);
      },
      Math.max(0, at - this.o.now()),
    );
    w.timer.unref();
  }

  /** What the runtime holds for the worker's pod, read fresh. */
  private async runtimeState(w: Worker): Promise<PodRuntimeState> {
    const rt = this.o.runtime;
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

  private async sync(w: Worker): Promise<void> {
    const pod = w.pod;
    if (!pod) {
      await this.cleanUpOrphan(w);
      return;
    }
    if (pod.metadata.deletionTimestamp) {
      await this.terminate(w, pod);
      return;
    }
    let state = await this.runtimeState(w);
    if (w.terminal) {
      // Finished for good: make sure nothing runs, keep the status.
      await this.killPod(w, pod, state, podGracePeriodSeconds(pod));
      return;
    }
    const now = this.o.now();

    // activeDeadlineSeconds: a pod active longer than that fails (DeadlineExceeded).
    const deadline = pod.spec.activeDeadlineSeconds;
    const startTime = Date.parse(w.lastStatus?.startTime ?? pod.status?.startTime ?? '');
    if (typeof deadline === 'number' && Number.isFinite(startTime)) {
      const end = startTime + deadline * 1000;
      if (now >= end) {
        const message = 'Pod was active on the node longer than the specified deadline';
        this.o.recorder.event(podTarget(pod), 'Normal', 'DeadlineExceeded', message);
        await this.killPod(w, pod, state, podGracePeriodSeconds(pod));
        state = await this.runtimeState(w);
        w.terminal = true;
        await this.writeStatus(w, pod, state, true, { reason: 'DeadlineExceeded', message });
        return;
      }
      this.requeue(w, end);
    }

    // Volumes first: a pod whose volumes cannot be set up waits (ContainerCreating).
    let vols: PodVolumes = { paths: new Map(), readOnly: new Set(), changed: [] };
    const implicit = this.o.implicitServiceAccountVolume ? implicitServiceAccountVolume(pod) : undefined;
    if (this.o.volumes) {
      try {
        vols = await setUpPodVolumes(pod, this.o.dataDir, this.volumeSources(), this.volumeContext(pod, state), implicit ? [implicit] : []);
        w.lastMountError = '';
        w.mountRetries = 0;
      } catch (e) {
        if (!(e instanceof VolumeError)) throw e;
        if (implicit && e.volume === implicit.name) {
          // No token to be had (no TokenRequest yet): the volume still gives ca.crt and namespace.
          if (!w.warnedToken) this.o.logger.warn('no service-account token for the pod; its service-account volume has no token', { pod: podName(pod), error: e.message });
          w.warnedToken = true;
          const withoutToken: typeof implicit = { ...implicit, projected: { ...implicit.projected, sources: (implicit.projected?.sources ?? []).filter((x) => !x.serviceAccountToken) } };
          vols = await setUpPodVolumes(pod, this.o.dataDir, this.volumeSources(), this.volumeContext(pod, state), [withoutToken]);
        } else {
          this.o.recorder.event(podTarget(pod), 'Warning', 'FailedMount', e.message);
          w.lastMountError = e.message;
          await this.writeStatus(w, pod, state, false);
          // Retry soon at first (a claim is usually bound within a second of its pod being
          // scheduled), then back off to every 10 s.
          w.mountRetries = (w.mountRetries ?? 0) + 1;
          this.requeue(w, now + Math.min(10_000, 250 * 2 ** (w.mountRetries - 1)));
          return;
        }
      }
    }

    const actions = computePodActions(pod, state, now, this.backoff, { probeKills: w.probeKills });
    // Start-up dependencies gate every container start (also after a restart of the node).
    if (actions.containersToStart.length > 0 && this.holdForDependencies(w, pod)) actions.containersToStart = [];
    await this.execute(w, pod, state, actions, vols, implicit?.name);
    state = await this.runtimeState(w);

    const sandboxNow = currentSandbox(state);
    if (sandboxNow && sandboxNow.ips.length > 0) w.podIPs = sandboxNow.ips;
    // Probes follow running containers (also adopted ones after an agent restart).
    if (this.o.probes) {
      for (const c of state.containers) {
        if (c.state !== 'running' || c.sandboxId !== currentSandbox(state)?.id) continue;
        this.o.probes.start(pod, containerNameOf(c), c.id);
      }
    }
    const status = await this.writeStatus(w, pod, state, false);
    if (isTerminalPhase(status.phase)) {
      w.terminal = true;
      await this.killPod(w, pod, state, podGracePeriodSeconds(pod));
    }
    await this.collectGarbage(w, state);
    if (typeof deadline === 'number' && status.startTime) this.requeue(w, Date.parse(status.startTime) + deadline * 1000);
    if (actions.requeueAt !== undefined) this.requeue(w, actions.requeueAt);
    if (w.imagePullWaitUntil > now) this.requeue(w, w.imagePullWaitUntil);
  }

  // -- executing actions

  private async execute(w: Worker, pod: Pod, state: PodRuntimeState, a: PodActions, vols: PodVolumes, implicitVolume: string | undefined): Promise<void> {
    const rt = this.o.runtime;
    const grace = podGracePeriodSeconds(pod);
    if (a.killPod) await this.killPod(w, pod, state, grace);
    let sandboxId = a.sandboxId;
    let sandboxConfig: PodSandboxConfig | undefined;
    if (a.createSandbox) {
      sandboxConfig = this.sandboxConfig(pod, a.sandboxAttempt);
      try {
        sandboxId = await rt.runPodSandbox(sandboxConfig);
        w.sandboxIds.add(sandboxId);
      } catch (e) {
        const msg = `Failed to create pod sandbox: ${errMessage(e)}`;
        this.o.recorder.event(podTarget(pod), 'Warning', 'FailedCreatePodSandBox', msg);
        this.requeue(w, this.o.now() + 5000);
        return;
      }
    }
    if (!sandboxId) return;
    sandboxConfig ??= this.sandboxConfig(pod, currentSandbox(state)?.attempt ?? a.sandboxAttempt);
    for (const k of a.containersToKill) {
      const c = state.containers.find((x) => x.id === k.id);
      if (c) await this.killContainer(pod, c, grace, k.message);
      w.probeKills.delete(k.id);
    }
    for (const b of a.backOff) {
      w.reasons.set(b.name, { reason: 'CrashLoopBackOff', message: b.message });
      this.o.recorder.event(podTarget(pod, b.name), 'Warning', 'BackOff', `Back-off restarting failed container ${b.name} in pod ${podFullName(pod)}`);
    }
    if (a.containersToStart.length === 0) return;
    // Pod files need the IP, known once the sandbox runs.
    let files: PodFiles | undefined;
    if (this.o.volumes) {
      const sb = await rt.podSandboxStatus(sandboxId);
      files = await writePodFiles(pod, this.o.dataDir, sb?.ips ?? [], this.o.net);
    }
    const sb = await rt.podSandboxStatus(sandboxId);
    for (const s of a.containersToStart) {
      if (s.backoff) this.backoff.next(s.backoff.key, s.backoff.eventTime, this.o.now());
      await this.startContainer(w, pod, sandboxId, sandboxConfig, sb?.ips ?? [], s, vols, files, implicitVolume);
    }
  }

  /**
   * Whether the pod's containers must wait for its kennel.dev/depends-on services. Sets the
   * DependenciesReady condition and, when what it waits for changes, a Normal event.
   */
  private holdForDependencies(w: Worker, pod: Pod): boolean {
    const tracker = this.o.dependencies;
    const deps = tracker ? podDependencies(pod) : undefined;
    if (!tracker || deps === undefined) {
      w.depWaiting = false;
      return false;
    }
    let met: boolean;
    let reason: string;
    let message: string;
    if (deps instanceof DependencySyntaxError) {
      met = false;
      reason = 'InvalidDependencies';
      message = `Invalid ${DEPENDS_ON_ANNOTATION} annotation: ${deps.message}`;
    } else {
      const { synced, evaluation } = tracker.check(deps, pod.metadata.namespace ?? 'default');
      if (!synced) {
        // The caches are filling (woken when they have synced): hold, say nothing yet.
        w.depWaiting = true;
        return true;
      }
      met = evaluation.met;
      reason = met ? 'DependenciesReady' : WAITING_FOR_DEPENDENCIES;
      message = evaluation.message;
    }
    const prev = w.depCondition ?? (w.lastStatus ?? pod.status)?.conditions?.find((c) => c.type === DEPENDENCIES_CONDITION);
    if (!met && (prev?.status !== 'False' || prev.message !== message)) this.o.recorder.event(podTarget(pod), 'Normal', reason, message);
    const status = met ? 'True' : 'False';
    const cond: PodCondition = { type: DEPENDENCIES_CONDITION, status, reason };
    if (message) cond.message = message;
    cond.lastTransitionTime = prev && prev.status === status && prev.lastTransitionTime ? prev.lastTransitionTime : new Date(this.o.now()).toISOString().replace(/\.\d{3}Z$/, 'Z');
    w.depCondition = cond;
    w.depWaiting = !met;
    return !met;
  }

  private sandboxConfig(pod: Pod, attempt: number): PodSandboxConfig {
    const uid = pod.metadata.uid ?? '';
    const ns = pod.metadata.namespace ?? 'default';
    const name = pod.metadata.name ?? '';
    const ports: PortMapping[] = [];
    for (const c of pod.spec.containers ?? []) {
      for (const p of c.ports ?? []) {
        if (!p.hostPort) continue;
        const m: PortMapping = { protocol: (p.protocol as PortMapping['protocol']) ?? 'TCP', containerPort: p.containerPort, hostPort: p.hostPort };
        if (p.hostIP) m.hostIp = p.hostIP;
        ports.push(m);
      }
    }
    const cfg: PodSandboxConfig = {
      uid,
      name,
      namespace: ns,
      attempt,
      hostname: pod.spec.hostNetwork ? this.o.net.nodeHostname : (pod.spec.hostname || name).slice(0, 63).replace(/[-.]+$/, ''),
      logDirectory: join(this.o.podLogsDir, `${ns}_${name}_${uid}`),
      portMappings: ports,
      labels: { ...(pod.metadata.labels ?? {}), [LABEL_POD_NAME]: name, [LABEL_POD_NAMESPACE]: ns, [LABEL_POD_UID]: uid, [LABEL_NODE_NAME]: this.o.nodeName },
      annotations: { ...(pod.metadata.annotations ?? {}), [ANNOTATION_GRACE_PERIOD]: String(pod.spec.terminationGracePeriodSeconds ?? 30) },
      hostNetwork: pod.spec.hostNetwork === true,
    };
    if (this.o.volumes) {
      cfg.hostsFile = join(this.o.dataDir, 'pods', uid, 'etc-hosts');
    }
    const dns = this.dnsFor(pod);
    if (dns) cfg.dnsConfig = dns;
    return cfg;
  }

  private dnsFor(pod: Pod): PodSandboxConfig['dnsConfig'] {
    return podDns(pod, this.o.net);
  }

  private async startContainer(
    w: Worker,
    pod: Pod,
    sandboxId: string,
    sandboxConfig: PodSandboxConfig,
    podIPs: string[],
    s: StartAction,
    vols: PodVolumes,
    files: PodFiles | undefined,
    implicitVolume: string | undefined,
  ): Promise<void> {
    const c = s.container;
    const rt = this.o.runtime;
    const target = podTarget(pod, c.name);
    const rec = this.o.recorder;
    // 1. the image
    const imageOk = await this.ensureImage(w, pod, c);
    if (!imageOk) return;
    // 2. the configuration
    let config: ContainerConfig;
    try {
      config = await this.containerConfig(pod, c, s, podIPs, vols, files, implicitVolume);
    } catch (e) {
      if (e instanceof ContainerConfigError) {
        w.reasons.set(c.name, { reason: 'CreateContainerConfigError', message: e.message });
        rec.event(target, 'Warning', 'Failed', `Error: ${e.message}`);
        return;
      }
      throw e;
    }
    // 3. create and start
    let id: string;
    try {
      id = await rt.createContainer(sandboxId, config, sandboxConfig);
    } catch (e) {
      const msg = errMessage(e);
      w.reasons.set(c.name, { reason: 'CreateContainerError', message: msg });
      rec.event(target, 'Warning', 'Failed', `Error: ${msg}`);
      return;
    }
    rec.event(target, 'Normal', 'Created', `Created container ${c.name}`);
    try {
      await rt.startContainer(id);
    } catch (e) {
      const msg = errMessage(e);
      w.reasons.set(c.name, { reason: e instanceof RuntimeError && e.reason ? e.reason : 'RunContainerError', message: msg });
      rec.event(target, 'Warning', 'Failed', `Error: failed to start container "${c.name}": ${msg}`);
      return;
    }
    rec.event(target, 'Normal', 'Started', `Started container ${c.name}`);
    w.reasons.delete(c.name);
    // 4. postStart
    const post = c.lifecycle?.postStart;
    if (post) {
      const err = await this.runHook('PostStart', post, pod, c, id, podIPs[0] ?? this.o.hostIP(), 30);
      if (err) {
        rec.event(target, 'Warning', 'FailedPostStartHook', err);
        const st = await rt.containerStatus(id);
        if (st) await this.killContainer(pod, st, podGracePeriodSeconds(pod), 'FailedPostStartHook', false);
        w.reasons.set(c.name, { reason: 'PostStartHookError', message: err });
      }
    }
  }

  private async ensureImage(w: Worker, pod: Pod, c: Container): Promise<boolean> {
    const rt = this.o.runtime;
    const image = c.image ?? '';
    const target = podTarget(pod, c.name);
    const rec = this.o.recorder;
    const policy = c.imagePullPolicy || defaultPullPolicy(image);
    const present = await rt.imageStatus(image).catch(() => null);
    if (policy === 'Never') {
      if (present) return true;
      const msg = `Container image "${image}" is not present with pull policy of Never`;
      w.reasons.set(c.name, { reason: 'ErrImageNeverPull', message: msg });
      rec.event(target, 'Warning', 'ErrImageNeverPull', msg);
      return false;
    }
    if (present && policy !== 'Always') {
      rec.event(target, 'Normal', 'Pulled', `Container image "${image}" already present on machine`);
      return true;
    }
    const key = `${pod.metadata.uid ?? ''}/${image}`;
    const now = this.o.now();
    if (this.inImageBackoff(key, now)) {
      const until = this.imageBackoffUntil(key);
      w.imagePullWaitUntil = until;
      const why = this.imageBackoffState.get(key)?.message;
      w.reasons.set(c.name, { reason: 'ImagePullBackOff', message: `Back-off pulling image "${image}"${why ? `: ErrImagePull: ${why}` : ''}` });
      rec.event(target, 'Normal', 'BackOff', `Back-off pulling image "${image}"`);
      return false;
    }
    rec.event(target, 'Normal', 'Pulling', `Pulling image "${image}"`);
    const started = this.o.now();
    // One pull of an image at a time; others wait for it.
    const inflight = this.pullsInFlight.get(image);
    let waited = 0;
    if (inflight) {
      const t0 = this.o.now();
      await inflight.catch(() => undefined);
      waited = this.o.now() - t0;
    }
    let size = 0;
    try {
      const auth = await this.pullAuth(pod, image);
      const p = rt.pullImage(image, auth).then((ref) => {
        size = ref.size ?? 0;
      });
      this.pullsInFlight.set(image, p);
      try {
        await p;
      } finally {
        if (this.pullsInFlight.get(image) === p) this.pullsInFlight.delete(image);
      }
    } catch (e) {
      const msg = errMessage(e);
      this.imageBackoff.next(key, this.o.now(), this.o.now());
      this.imageBackoffState.set(key, { at: this.o.now(), message: msg });
      w.imagePullWaitUntil = this.imageBackoffUntil(key);
      w.reasons.set(c.name, { reason: 'ErrImagePull', message: msg });
      rec.event(target, 'Warning', 'Failed', `Failed to pull image "${image}": ${msg}`);
      rec.event(target, 'Warning', 'Failed', 'Error: ErrImagePull');
      return false;
    }
    this.imageBackoff.reset(key);
    this.imageBackoffState.delete(key);
    const total = this.o.now() - started;
    rec.event(target, 'Normal', 'Pulled', `Successfully pulled image "${image}" in ${seconds(total - waited)} (${seconds(total)} including waiting). Image size: ${size} bytes.`);
    return true;
  }

  /** Per pod/image: when the last pull failed and why. */
  private readonly imageBackoffState = new Map<string, { at: number; message: string }>();

  private inImageBackoff(key: string, now: number): boolean {
    return now < this.imageBackoffUntil(key);
  }

  private imageBackoffUntil(key: string): number {
    // The back-off runs from the last failed pull (the entry's last update).
    const d = this.imageBackoff.get(key);
    if (!d) return 0;
    const last = this.imageBackoffState.get(key);
    return last === undefined ? 0 : last.at + d;
  }

  private async pullAuth(pod: Pod, image: string): Promise<AuthConfig | undefined> {
    const secrets = pod.spec.imagePullSecrets ?? [];
    if (secrets.length === 0) return undefined;
    const host = registryHost(image);
    for (const ref of secrets) {
      if (!ref.name) continue;
      const s = await this.o.sources.getSecret(pod.metadata.namespace ?? 'default', ref.name);
      if (!s) continue;
      const auth = dockerAuthFor(s, host);
      if (auth) return auth;
    }
    return undefined;
  }

  private async containerConfig(pod: Pod, c: Container, s: StartAction, podIPs: string[], vols: PodVolumes, files: PodFiles | undefined, implicitVolume: string | undefined): Promise<ContainerConfig> {
    const uid = pod.metadata.uid ?? '';
    const envs = await makeEnvironment(pod, c, this.o.sources, { hostIP: this.o.hostIP(), podIPs, nodeAllocatable: this.o.nodeAllocatable() });
    const { command, args } = expandCommandAndArgs(c, envs);
    const withSa: Container = implicitVolume ? { ...c, volumeMounts: [...(c.volumeMounts ?? []), serviceAccountVolumeMount(implicitVolume)] } : c;
    const mounts = this.o.volumes ? await containerMounts(pod, withSa, vols, files, envs) : [];
    const sc = c.securityContext ?? {};
    const psc = pod.spec.securityContext ?? {};
    const config: ContainerConfig = {
      name: c.name,
      attempt: s.restartCount,
      image: c.image ?? '',
      command,
      args,
      envs,
      mounts,
      logPath: `${c.name}/${s.restartCount}.log`,
      stdin: c.stdin === true,
      stdinOnce: c.stdinOnce === true,
      tty: c.tty === true,
      labels: { [LABEL_CONTAINER_NAME]: c.name, [LABEL_POD_NAME]: pod.metadata.name ?? '', [LABEL_POD_NAMESPACE]: pod.metadata.namespace ?? '', [LABEL_POD_UID]: uid, [LABEL_INIT_CONTAINER]: String(s.isInit) },
      annotations: {
        [ANNOTATION_CONTAINER_HASH]: hashContainer(c),
        [ANNOTATION_RESTART_COUNT]: String(s.restartCount),
        [ANNOTATION_TERMINATION_MESSAGE_PATH]: c.terminationMessagePath ?? '/dev/termination-log',
        [ANNOTATION_GRACE_PERIOD]: String(pod.spec.terminationGracePeriodSeconds ?? 30),
      },
    };
    if (c.lifecycle?.preStop) config.annotations[ANNOTATION_PRESTOP] = JSON.stringify(c.lifecycle.preStop);
    if (c.workingDir) config.workingDir = c.workingDir;
    const res = containerResources(c);
    if (res) config.resources = res;
    const user = sc.runAsUser ?? psc.runAsUser;
    if (typeof user === 'number') config.runAsUser = user;
    const group = sc.runAsGroup ?? psc.runAsGroup;
    if (typeof group === 'number') config.runAsGroup = group;
    if (sc.privileged) config.privileged = true;
    return config;
  }

  // -- hooks

  private async runHook(kind: 'PostStart' | 'PreStop', h: LifecycleHandler, pod: Pod, c: Container, containerId: string, host: string, timeoutSeconds: number): Promise<string | undefined> {
    if (h.exec) {
      const cmd = h.exec.command ?? [];
      try {
        const r = await this.o.runtime.execSync(containerId, cmd, timeoutSeconds);
        if (r.exitCode === 0 && !r.timedOut) return undefined;
        const detail = r.timedOut ? `command '${cmd.join(' ')}' timed out` : `command '${cmd.join(' ')}' exited with ${r.exitCode}: ${r.stderr.toString().trim()}`;
        return `Exec lifecycle hook ([${cmd.join(' ')}]) for Container "${c.name}" in Pod "${podFullName(pod)}" failed - error: ${detail}, message: ${JSON.stringify(r.stdout.toString())}`;
      } catch (e) {
        return `Exec lifecycle hook ([${cmd.join(' ')}]) for Container "${c.name}" in Pod "${podFullName(pod)}" failed - error: ${errMessage(e)}, message: ""`;
      }
    }
    if (h.httpGet) {
      const g = h.httpGet;
      const port = resolvePort(g.port, c);
      const path = g.path ?? '/';
      try {
        await httpGet(g.scheme === 'HTTPS' ? 'https' : 'http', g.host || host, port, path, g.httpHeaders ?? [], timeoutSeconds);
        return undefined;
      } catch (e) {
        return `HTTP lifecycle hook (${path}) for Container "${c.name}" in Pod "${podFullName(pod)}" failed - error: ${errMessage(e)}`;
      }
    }
    const sleepSpec = (h as { sleep?: { seconds?: number } }).sleep;
    if (sleepSpec?.seconds) {
      await sleep(Math.min(sleepSpec.seconds, timeoutSeconds) * 1000);
      return undefined;
    }
    void kind;
    return undefined;
  }

  // -- killing

  /** Stop one container: Killing event, preStop, then SIGTERM and SIGKILL after the grace period. */
  private async killContainer(pod: Pod | undefined, c: ContainerStatus, graceSeconds: number, message?: string, runPreStop = true): Promise<void> {
    const name = containerNameOf(c);
    const uid = c.labels[LABEL_POD_UID] ?? '';
    this.o.probes?.stop(uid, name);
    if (c.state !== 'running' && c.state !== 'created') return;
    if (pod) this.o.recorder.event(podTarget(pod, name), 'Normal', 'Killing', message ?? `Stopping container ${name}`);
    let grace = graceSeconds;
    if (runPreStop && c.state === 'running') {
      const spec = pod ? [...(pod.spec.containers ?? []), ...(pod.spec.initContainers ?? [])].find((x) => x.name === name) : undefined;
      let pre: LifecycleHandler | undefined = spec?.lifecycle?.preStop;
      if (!pre && c.annotations[ANNOTATION_PRESTOP]) {
        try {
          pre = JSON.parse(c.annotations[ANNOTATION_PRESTOP]) as LifecycleHandler;
        } catch {
          pre = undefined;
        }
      }
      if (pre && grace > 0) {
        const t0 = Date.now();
        const host = pod?.status?.podIP ?? this.o.hostIP();
        const hookSpec: Container = spec ?? { name, image: c.image };
        let timer: NodeJS.Timeout | undefined;
        const err = await Promise.race([
          this.runHook('PreStop', pre, pod ?? ({ metadata: { name: c.labels[LABEL_POD_NAME], namespace: c.labels[LABEL_POD_NAMESPACE], uid }, spec: { containers: [] } } as Pod), hookSpec, c.id, host, grace),
          new Promise<string>((r) => {
            timer = setTimeout(() => r(`PreStop hook for Container "${name}" did not complete in ${grace}s`), grace * 1000);
          }),
        ]).finally(() => clearTimeout(timer));
        if (err && pod) this.o.recorder.event(podTarget(pod, name), 'Warning', 'FailedPreStopHook', err);
        grace = Math.max(MIN_GRACE_SECONDS, grace - Math.round((Date.now() - t0) / 1000));
      }
    }
    try {
      await this.o.runtime.stopContainer(c.id, grace);
    } catch (e) {
      this.o.logger.warn('stopping a container failed', { container: name, id: c.id, error: errMessage(e) });
    }
  }

  /** Stop every container (app containers first, in parallel) and the sandboxes. */
  private async killPod(w: Worker, pod: Pod | undefined, state: PodRuntimeState, graceSeconds: number): Promise<void> {
    const running = state.containers.filter((c) => c.state === 'running' || c.state === 'created');
    const isInit = (c: ContainerStatus): boolean => c.labels[LABEL_INIT_CONTAINER] === 'true';
    await Promise.all(running.filter((c) => !isInit(c)).map((c) => this.killContainer(pod, c, graceSeconds)));
    await Promise.all(running.filter(isInit).map((c) => this.killContainer(pod, c, graceSeconds)));
    for (const s of state.sandboxes) {
      if (s.state !== 'ready') continue;
      try {
        await this.o.runtime.stopPodSandbox(s.id);
      } catch (e) {
        this.o.logger.warn('stopping a sandbox failed', { uid: w.uid, sandbox: s.id, error: errMessage(e) });
      }
    }
    if (pod) this.o.probes?.removePod(w.uid);
  }

  private async removeAll(w: Worker, state: PodRuntimeState): Promise<void> {
    for (const c of state.containers) await this.o.runtime.removeContainer(c.id).catch(() => undefined);
    for (const s of state.sandboxes) {
      await this.o.runtime.removePodSandbox(s.id).catch(() => undefined);
      w.sandboxIds.delete(s.id);
    }
  }

  /** A pod with a deletionTimestamp: stop it, report its final status, delete it with grace 0. */
  private async terminate(w: Worker, pod: Pod): Promise<void> {
    let state = await this.runtimeState(w);
    const ran = state.sandboxes.length > 0;
    await this.killPod(w, pod, state, podGracePeriodSeconds(pod));
    this.o.probes?.removePod(w.uid);
    state = await this.runtimeState(w);
    if (ran) {
      try {
        await this.writeStatus(w, pod, state, true);
      } catch (e) {
        if (!isNotFound(e)) this.o.logger.debug('final status write failed', { pod: podName(pod), error: errMessage(e) });
      }
    }
    await this.removeAll(w, state);
    if (this.o.volumes) await tearDownPod(this.o.dataDir, w.uid);
    this.forget(w.uid);
    try {
      await this.o.client.delete(PODS, pod.metadata.namespace, pod.metadata.name ?? '', { gracePeriodSeconds: 0, preconditions: { uid: w.uid } });
    } catch (e) {
      if (!isNotFound(e) && !isConflict(e)) throw e;
    }
    w.finished = true;
  }

  /** Sandboxes of a pod that is not (or no longer) bound here: stop and remove them. */
  private async cleanUpOrphan(w: Worker): Promise<void> {
    const state = await this.runtimeState(w);
    let grace = 30;
    for (const s of state.sandboxes) {
      const g = Number(s.annotations[ANNOTATION_GRACE_PERIOD]);
      if (Number.isFinite(g)) grace = g;
    }
    await this.killPod(w, undefined, state, Math.min(grace, 30));
    this.o.probes?.removePod(w.uid);
    const after = await this.runtimeState(w);
    await this.removeAll(w, after);
    if (this.o.volumes) await tearDownPod(this.o.dataDir, w.uid);
    this.forget(w.uid);
    w.finished = true;
  }

  private forget(uid: string): void {
    this.backoff.forgetPrefix(`${uid}/`);
    this.imageBackoff.forgetPrefix(`${uid}/`);
    for (const k of this.imageBackoffState.keys()) if (k.startsWith(`${uid}/`)) this.imageBackoffState.delete(k);
    for (const k of this.tokenCache.keys()) if (k.startsWith(`${uid}/`)) this.tokenCache.delete(k);
    this.fingerprints.delete(uid);
  }

  /** Keep the newest two containers of each name (state and lastState) and the newest sandbox. */
  private async collectGarbage(w: Worker, state: PodRuntimeState): Promise<void> {
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
      for (const c of list.slice(2)) if (c.state === 'exited') await this.o.runtime.removeContainer(c.id).catch(() => undefined);
    }
    const cur = currentSandbox(state);
    for (const s of state.sandboxes) {
      if (s.id === cur?.id || s.state === 'ready') continue;
      if (state.containers.some((c) => c.sandboxId === s.id && kept.has(c.id))) continue;
      await this.o.runtime.removePodSandbox(s.id).catch(() => undefined);
      w.sandboxIds.delete(s.id);
    }
  }

  // -- status

  private async writeStatus(w: Worker, pod: Pod, state: PodRuntimeState, terminal: boolean, evicted?: { reason: string; message: string }): Promise<PodStatus> {
    const base: Pod = { ...pod, status: w.lastStatus ?? pod.status ?? {} };
    const probes = this.o.probes;
    const status = buildPodStatus({
      pod: base,
      state,
      runtimeName: this.o.runtimeName,
      hostIP: this.o.hostIP(),
      now: this.o.now(),
      reasons: w.reasons,
      readiness: probes ? (n) => probes.readiness(w.uid, n) : undefined,
      started: probes ? (n) => probes.started(w.uid, n) : undefined,
      terminal,
      evicted,
    });
    if (pod.status?.qosClass && !status.qosClass) status.qosClass = pod.status.qosClass;
    if (w.depCondition) status.conditions = [...(status.conditions ?? []).filter((c) => c.type !== DEPENDENCIES_CONDITION), w.depCondition];
    const json = canonical(status);
    if (json === w.lastStatusJson) return status;
    const prev = (w.lastStatus ?? pod.status ?? {}) as Record<string, unknown>;
    const patch: Record<string, unknown> = { ...status };
    for (const k of OWNED_STATUS_KEYS) if (prev[k] !== undefined && patch[k] === undefined) patch[k] = null;
    await this.writes.run(() => this.o.client.patch(PODS, pod.metadata.namespace, pod.metadata.name ?? '', { metadata: { uid: w.uid }, status: patch }, 'merge', { subresource: 'status' }));
    w.lastStatus = status;
    w.lastStatusJson = json;
    return status;
  }

  // -- sources for volumes (the token comes from the configured source, cached)

  private volumeSources(): VolumeSources {
    const src = this.o.sources;
    return {
      getConfigMap: (ns, n) => src.getConfigMap(ns, n),
      getSecret: (ns, n) => src.getSecret(ns, n),
      getPersistentVolumeClaim: (ns, n) => src.getPersistentVolumeClaim(ns, n),
      getPersistentVolume: (n) => src.getPersistentVolume(n),
      serviceAccountToken: async (pod, audience, exp) => {
        const key = `${pod.metadata.uid ?? ''}/${audience ?? ''}`;
        const now = this.o.now();
        const hit = this.tokenCache.get(key);
        if (hit && hit.refreshAt > now) return hit.token;
        const token = await src.serviceAccountToken(pod, audience, exp);
        this.tokenCache.set(key, { token, refreshAt: now + Math.max(60, exp * 0.8) * 1000 });
        return token;
      },
      clusterCA: src.clusterCA,
    };
  }

  private volumeContext(pod: Pod, state: PodRuntimeState) {
    const sb = currentSandbox(state);
    return { hostIP: this.o.hostIP(), podIPs: sb?.ips ?? (pod.status?.podIPs ?? []).map((p) => p.ip ?? ''), nodeAllocatable: this.o.nodeAllocatable() };
  }
}

// ---------------------------------------------------------------------------------------------
// helpers

function podDns(pod: Pod, net: PodNetworkFiles): PodSandboxConfig['dnsConfig'] {
  if (pod.spec.hostNetwork && (pod.spec.dnsPolicy ?? 'ClusterFirst') === 'ClusterFirst') return undefined;
  return podDnsConfig(pod, net);
}

/** At most n tasks at a time; the others wait in order. */
export class Semaphore {
  private active = 0;
  private readonly waiting: (() => void)[] = [];
  constructor(private readonly n: number) {}
  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.active >= this.n) await new Promise<void>((r) => this.waiting.push(r));
    this.active++;
    try {
      return await fn();
    } finally {
      this.active--;
      this.waiting.shift()?.();
    }
  }
}

function needsSync(a: Pod, b: Pod): boolean {
  if (a.metadata.deletionTimestamp !== b.metadata.deletionTimestamp) return true;
  if (a.metadata.deletionGracePeriodSeconds !== b.metadata.deletionGracePeriodSeconds) return true;
  if ((b.spec.readinessGates ?? []).length > 0) return true;
  if (JSON.stringify(a.metadata.labels ?? {}) !== JSON.stringify(b.metadata.labels ?? {})) return true;
  if (JSON.stringify(a.metadata.annotations ?? {}) !== JSON.stringify(b.metadata.annotations ?? {})) return true;
  return JSON.stringify(a.spec) !== JSON.stringify(b.spec);
}

function seconds(ms: number): string {
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

function containerResources(c: Container): ContainerResources | undefined {
  const req = (c.resources?.requests ?? {}) as Record<string, string>;
  const lim = (c.resources?.limits ?? {}) as Record<string, string>;
  const milli = (v: string | undefined): number | undefined => {
    if (v === undefined) return undefined;
    try {
      return Number(parseQuantity(v).nanos / 1_000_000n);
    } catch {
      return undefined;
    }
  };
  const bytes = (v: string | undefined): number | undefined => {
    if (v === undefined) return undefined;
    try {
      return Number(parseQuantity(v).nanos / 1_000_000_000n);
    } catch {
      return undefined;
    }
  };
  const out: ContainerResources = {};
  const cpuReq = milli(req.cpu ?? lim.cpu);
  out.cpuShares = cpuReq === undefined ? 2 : Math.max(2, Math.floor((cpuReq * 1024) / 1000));
  const cpuLim = milli(lim.cpu);
  if (cpuLim !== undefined) {
    out.cpuPeriod = 100_000;
    out.cpuQuota = Math.max(1000, Math.floor((cpuLim * 100_000) / 1000));
  }
  const mem = bytes(lim.memory);
  if (mem !== undefined) out.memoryLimitBytes = mem;
  return out;
}

function resolvePort(port: number | string | undefined, c: Container): number {
  if (typeof port === 'number') return port;
  const n = Number(port);
  if (Number.isInteger(n) && n > 0) return n;
  const named = (c.ports ?? []).find((p) => p.name === port);
  if (named) return named.containerPort;
  throw new Error(`couldn't find port: ${String(port)} in container ${c.name}`);
}

function httpGet(scheme: 'http' | 'https', host: string, port: number, path: string, headers: { name: string; value: string }[], timeoutSeconds: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const h: Record<string, string> = { 'user-agent': 'kube-lifecycle/1.32' };
    for (const x of headers) h[x.name] = x.value;
    const req = (scheme === 'https' ? httpsRequest : httpRequest)({ host, port, path, method: 'GET', headers: h, timeout: timeoutSeconds * 1000, rejectUnauthorized: false }, (res) => {
      res.resume();
      res.on('end', () => {
        const code = res.statusCode ?? 0;
        if (code >= 200 && code < 400) resolve();
        else reject(new Error(`HTTP lifecycle hook returned status ${code}`));
      });
    });
    req.on('timeout', () => req.destroy(new Error(`timeout after ${timeoutSeconds}s`)));
    req.on('error', reject);
    req.end();
  });
}

/** The registry host of an image reference (docker.io for bare names). */
export function registryHost(image: string): string {
  const first = image.split('/')[0] ?? '';
  if (image.includes('/') && (first.includes('.') || first.includes(':') || first === 'localhost')) return first;
  return 'docker.io';
}

/** Credentials for a registry host from a dockerconfigjson / dockercfg secret. */
export function dockerAuthFor(secret: KubeObject, host: string): AuthConfig | undefined {
  const data = (secret.data ?? {}) as Record<string, string>;
  const raw = data['.dockerconfigjson'] ?? data['.dockercfg'];
  if (!raw) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(raw, 'base64').toString('utf8'));
  } catch {
    return undefined;
  }
  const auths = ((parsed as { auths?: unknown }).auths ?? parsed) as Record<string, { username?: string; password?: string; auth?: string }>;
  const norm = (k: string): string => k.replace(/^https?:\/\//, '').replace(/\/.*$/, '');
  const aliases = host === 'docker.io' ? ['docker.io', 'index.docker.io', 'registry-1.docker.io'] : [host];
  for (const [k, v] of Object.entries(auths)) {
    if (!aliases.includes(norm(k))) continue;
    const out: AuthConfig = { serverAddress: host };
    if (v.username) out.username = v.username;
    if (v.password) out.password = v.password;
    if (v.auth) {
      out.auth = v.auth;
      if (!v.username) {
        const dec = Buffer.from(v.auth, 'base64').toString('utf8');
        const i = dec.indexOf(':');
        if (i > 0) {
          out.username = dec.slice(0, i);
          out.password = dec.slice(i + 1);
        }
      }
    }
    return out;
  }
  return undefined;
}

export { restartCountOf };
