// Pod workers: one serialized sync loop per pod bound to the node, as the kubelet's pod
// workers run SyncPod. A sync reads what the runtime holds for the pod, sets up its volumes,
// asks computePodActions (sync.ts) what to do, does it — sandbox, image pulls, container
// create/start with env and mounts, hooks, kills with preStop and the grace period, crash and
// image-pull back-off — then writes the status built by buildPodStatus (status.ts) when it
// changed. A pod being deleted is stopped and then deleted from the API with grace 0; a pod no
// longer bound here (or gone) has its sandboxes and containers removed.
// Split into podworker-*.ts (types/helpers, relist, images, containers, status); this module
// keeps the PodWorkers class (inputs, lifecycle, worker loop, sync, termination) and re-exports.
//
// A relister (like the kubelet's PLEG) lists the runtime every second and wakes the workers of
// pods whose containers changed; it also finds sandboxes of pods nobody knows (orphans).
// While the node is self-fenced (fencing.ts) a held pod's sync only stops its containers, and
// pods are seen through the fence's last revalidation snapshot (stale copies count as gone).
import { isConflict, isNotFound } from '../client/rest.ts';
import { podTarget } from './events.ts';
import type { Pod, Volume } from './kube-types.ts';
import type { ProbeManager } from './probe-types.ts';
import type { ContainerStatus, PodSandboxConfig } from './runtime/types.ts';
import {
  ANNOTATION_GRACE_PERIOD,
  Backoff,
  byNewest,
  computePodActions,
  containerNameOf,
  currentSandbox,
  podGracePeriodSeconds,
  type PodActions,
  type PodRuntimeState,
} from './sync.ts';
import { VolumeError, implicitServiceAccountVolume, setUpPodVolumes, tearDownPod, volumesCannotFail, writePodFiles, type PodFiles, type PodVolumes, type VolumeSources } from './volumes.ts';
import { ContainerOps } from './podworker-containers.ts';
import { ImagePuller } from './podworker-images.ts';
import { collectGarbage, doRelist, runtimeState, settledFingerprint } from './podworker-relist.ts';
import { holdForDependencies, writeStatus } from './podworker-status.ts';
import { FENCE_KILL_MESSAGE, stopForFence } from './fencing.ts';
import { PODS, Semaphore, errMessage, isTerminalPhase, needsSync, podFullName, podName, referencesObject, type PodWorkersOptions, type Worker } from './podworker-types.ts';

/** Whether anything of the pod runs: a new sandbox is then made only once it is stopped (killPod). */
function runsAnything(state: PodRuntimeState): boolean {
  return state.sandboxes.some((s) => s.state === 'ready') || state.containers.some((c) => c.state === 'running' || c.state === 'created');
}

/** A sandbox made for a pod, with the config it was made from. */
interface MadeSandbox {
  id: string;
  config: PodSandboxConfig;
}

/** A sandbox creation taking longer than this gives its place to the next one (it goes on). */
export const SANDBOX_START_MAX_HOLD_MS = 10_000;

export class PodWorkers {
  private readonly o: PodWorkersOptions;
  private readonly workers = new Map<string, Worker>();
  private readonly backoff: Backoff;
  private readonly images: ImagePuller;
  private readonly ops: ContainerOps;
  private relistTimer: NodeJS.Timeout | undefined;
  private resyncTimer: NodeJS.Timeout | undefined;
  private relisting: Promise<void> | undefined;
  private readonly fingerprints = new Map<string, string>();
  /** Fingerprints recorded by workers after a sync (RelistContext.seen). */
  private readonly seen = new Map<string, { fp: string; at: number }>();
  private stopped = false;
  /** Pods bound here are known (the informer has synced): orphans can be told apart. */
  private podsSynced = false;
  /** Syncs wait for the first relist after the pods are known, so no sandbox is made twice. */
  private ready = false;
  private readonly tokenCache = new Map<string, { token: string; refreshAt: number }>();
  /** Status writes in flight are limited, so a burst of pods reuses a few connections. */
  private readonly writes = new Semaphore(16);
  /** Sandbox creations admitted in order, as many at once as the runtime takes (see Runtime). */
  private readonly sandboxStarts: Semaphore | undefined;

  constructor(opts: PodWorkersOptions) {
    // Held pods look again when one of ours changes readiness (see localReady).
    opts.onLocalReadyChange ??= () => this.dependenciesChanged();
    this.o = opts;
    this.backoff = opts.backoff ?? new Backoff();
    this.images = new ImagePuller(opts);
    this.ops = new ContainerOps(opts, this.images);
    const limit = opts.runtime.sandboxStartLimit;
    this.sandboxStarts = limit !== undefined && limit > 0 ? new Semaphore(limit) : undefined;
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

  /**
   * Whether a pod this agent runs is Ready, as this agent last wrote it: false until its first
   * status since the agent started (what the API says may be stale); undefined for other pods.
   */
  localReady(uid: string): boolean | undefined {
    const w = this.workers.get(uid);
    if (!w?.pod) return undefined;
    return w.lastStatus?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
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
      const state = await runtimeState(this.o.runtime, w);
      const list = state.containers.filter((c) => containerNameOf(c) === cname).sort(byNewest);
      const c = previous ? list[1] : list[0];
      return c ? { pod: p, container: c } : undefined;
    }
    return undefined;
  }

  get size(): number {
    return this.workers.size;
  }

  /** Self-fencing: stop the containers of the pods select picks, whatever their workers do. */
  fenceStop(select: (pod: Pod | undefined) => boolean, graceSeconds: (pod: Pod | undefined) => number): Promise<{ pods: number; containers: number }> {
    const kill = (pod: Pod | undefined, c: ContainerStatus, grace: number): Promise<void> =>
      this.ops.killContainer(pod, c, grace, `Stopping container ${containerNameOf(c)}: ${FENCE_KILL_MESSAGE}`, false);
    return stopForFence({ runtime: this.o.runtime, nodeName: this.o.nodeName, podOf: (uid) => this.workers.get(uid)?.pod, killContainer: kill, logger: this.o.logger }, select, graceSeconds);
  }

  /** Sync every pod now (the fence was lifted). */
  resyncAll(): void {
    for (const w of this.workers.values()) if (!w.finished) this.requestSync(w.uid);
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
      this.images.imageBackoff.gc(this.o.now());
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
    await doRelist({
      o: this.o,
      workers: this.workers,
      stopped: () => this.stopped,
      podsSynced: () => this.podsSynced,
      fingerprints: this.fingerprints,
      seen: this.seen,
      newWorker: (uid, pod) => this.newWorker(uid, pod),
      requestSync: (uid) => this.requestSync(uid),
      changed: (uid, listedAt) => this.runtimeChanged(uid, listedAt),
    });
  }

  /**
   * The relister saw a pod's runtime state change. A worker in the middle of a sync may be
   * seeing it itself: it decides when that sync ends (see run), so that the sandbox and
   * containers it is making do not cost a second sync.
   */
  private runtimeChanged(uid: string, listedAt: number): void {
    const w = this.workers.get(uid);
    if (w?.running && !w.dirty) w.relistAt = Math.max(w.relistAt ?? 0, listedAt);
    else this.requestSync(uid);
  }

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
        w.relistAt = undefined;
        try {
          await this.sync(w);
          // A change the relister saw during the sync needs another, unless the sync read a
          // settled state after that listing (see sync).
          if (w.relistAt !== undefined && !((w.settledAt ?? -1) > w.relistAt)) w.dirty = true;
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


  private async sync(w: Worker): Promise<void> {
    const fence = this.o.fence;
    const pod = fence ? fence.view(w.uid, w.pod) : w.pod;
    if (!pod) {
      await this.cleanUpOrphan(w);
      return;
    }
    if (pod.metadata.deletionTimestamp) {
      await this.terminate(w, pod);
      return;
    }
    let state = await runtimeState(this.o.runtime, w);
    if (fence?.holds(pod)) {
      // Self-fenced: stop what runs (an earlier sync may have started it), start nothing.
      const grace = fence.graceSeconds(pod);
      await Promise.all(state.containers.map((c) => this.ops.killContainer(pod, c, grace, `Stopping container ${containerNameOf(c)}: ${FENCE_KILL_MESSAGE}`, false)));
      for (const s of state.sandboxes) if (s.state === 'ready') await this.o.runtime.stopPodSandbox(s.id).catch(() => undefined);
      return;
    }
    if (w.terminal) {
      // Finished for good: make sure nothing runs, keep the status.
      await this.ops.killPod(w, pod, state, podGracePeriodSeconds(pod));
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
        await this.ops.killPod(w, pod, state, podGracePeriodSeconds(pod));
        state = await runtimeState(this.o.runtime, w);
        w.terminal = true;
        await writeStatus(this.o, this.writes, w, pod, state, true, { reason: 'DeadlineExceeded', message });
        return;
      }
      this.requeue(w, end);
    }

    // Volumes first: a pod whose volumes cannot be set up waits (ContainerCreating), without a
    // sandbox. The actions do not depend on the volumes, and only the containers need them: a
    // new pod whose volumes cannot fail to set up (volumesCannotFail: the service-account
    // token, say) has its sandbox made meanwhile.
    const actions = computePodActions(pod, state, now, this.backoff, { probeKills: w.probeKills });
    const implicit = this.o.implicitServiceAccountVolume ? implicitServiceAccountVolume(pod) : undefined;
    const early = this.o.volumes && actions.createSandbox && !runsAnything(state) && volumesCannotFail(pod) ? this.runSandbox(w, pod, actions.sandboxAttempt) : undefined;
    // (Awaited below whatever happens; this only keeps a rejection from counting as unhandled meanwhile.)
    early?.catch(() => undefined);
    let vols: PodVolumes | undefined;
    try {
      vols = await this.setUpVolumes(w, pod, state, now, implicit);
    } finally {
      // The volumes failed: the sandbox stays (a later sync finds it), any failure of it reported.
      if (early && !vols) await early;
    }
    if (!vols) return;
    // Start-up dependencies gate every container start (also after a restart of the node).
    if (actions.containersToStart.length > 0 && holdForDependencies(this.o, w, pod)) actions.containersToStart = [];
    await this.execute(w, pod, state, actions, vols, implicit?.name, early);
    const before = state;
    const readAt = performance.now();
    state = await runtimeState(this.o.runtime, w);
    // What this sync made is seen: the next relist need not wake the worker for it again (it
    // still does for any change after this read, or one in it that the sync did not act on).
    // Not when a container failed to start (its image, config, create or start: see ContainerOps,
    // which keeps the reason): the relist's wake is then the retry, as it always was (for an
    // image, the sync that reports ImagePullBackOff).
    const startFailed = actions.containersToStart.some((s) => w.reasons.has(s.container.name));
    const seen = startFailed ? undefined : settledFingerprint(before, state);
    if (seen !== undefined) {
      this.fingerprints.set(w.uid, seen);
      this.seen.set(w.uid, { fp: seen, at: readAt });
      w.settledAt = readAt;
    }

    const sandboxNow = currentSandbox(state);
    if (sandboxNow && sandboxNow.ips.length > 0) w.podIPs = sandboxNow.ips;
    // Probes follow running containers (also adopted ones after an agent restart).
    if (this.o.probes) {
      for (const c of state.containers) {
        if (c.state !== 'running' || c.sandboxId !== currentSandbox(state)?.id) continue;
        this.o.probes.start(pod, containerNameOf(c), c.id);
      }
    }
    const status = await writeStatus(this.o, this.writes, w, pod, state, false);
    if (isTerminalPhase(status.phase)) {
      w.terminal = true;
      await this.ops.killPod(w, pod, state, podGracePeriodSeconds(pod));
    }
    await collectGarbage(this.o.runtime, w, state);
    if (typeof deadline === 'number' && status.startTime) this.requeue(w, Date.parse(status.startTime) + deadline * 1000);
    if (actions.requeueAt !== undefined) this.requeue(w, actions.requeueAt);
    if (w.imagePullWaitUntil > now) this.requeue(w, w.imagePullWaitUntil);
  }

  // -- executing actions

  /** Make the pod's sandbox; a failure is reported (event, retry in 5 s) and gives undefined. */
  private async runSandbox(w: Worker, pod: Pod, attempt: number): Promise<MadeSandbox | undefined> {
    const config = this.ops.sandboxConfig(pod, attempt);
    try {
      const run = (): Promise<string> => this.o.runtime.runPodSandbox(config);
      const id = await (this.sandboxStarts ? this.sandboxStarts.run(run, SANDBOX_START_MAX_HOLD_MS) : run());
      w.sandboxIds.add(id);
      return { id, config };
    } catch (e) {
      const msg = `Failed to create pod sandbox: ${errMessage(e)}`;
      this.o.recorder.event(podTarget(pod), 'Warning', 'FailedCreatePodSandBox', msg);
      this.requeue(w, this.o.now() + 5000);
      return undefined;
    }
  }

  /**
   * Set up the pod's volumes (none without this.o.volumes). undefined: they cannot be, which is
   * reported (FailedMount event, status) with a retry scheduled: the sync ends there.
   */
  private async setUpVolumes(w: Worker, pod: Pod, state: PodRuntimeState, now: number, implicit: Volume | undefined): Promise<PodVolumes | undefined> {
    if (!this.o.volumes) return { paths: new Map(), readOnly: new Set(), changed: [] };
    try {
      const vols = await setUpPodVolumes(pod, this.o.dataDir, this.volumeSources(), this.volumeContext(pod, state), implicit ? [implicit] : []);
      w.lastMountError = '';
      w.mountRetries = 0;
      return vols;
    } catch (e) {
      if (!(e instanceof VolumeError)) throw e;
      if (implicit && e.volume === implicit.name) {
        // No token to be had (no TokenRequest yet): the volume still gives ca.crt and namespace.
        if (!w.warnedToken) this.o.logger.warn('no service-account token for the pod; its service-account volume has no token', { pod: podName(pod), error: e.message });
        w.warnedToken = true;
        const withoutToken: Volume = { ...implicit, projected: { ...implicit.projected, sources: (implicit.projected?.sources ?? []).filter((x) => !x.serviceAccountToken) } };
        return await setUpPodVolumes(pod, this.o.dataDir, this.volumeSources(), this.volumeContext(pod, state), [withoutToken]);
      }
      this.o.recorder.event(podTarget(pod), 'Warning', 'FailedMount', e.message);
      w.lastMountError = e.message;
      await writeStatus(this.o, this.writes, w, pod, state, false);
      // Retry soon at first (a claim is usually bound within a second of its pod being
      // scheduled), then back off to every 10 s.
      w.mountRetries = (w.mountRetries ?? 0) + 1;
      this.requeue(w, now + Math.min(10_000, 250 * 2 ** (w.mountRetries - 1)));
      return undefined;
    }
  }

  /**
   * Carry out the actions. early: the sandbox the actions ask for, already being made (see
   * sync); otherwise it is made here, after any kill.
   */
  private async execute(w: Worker, pod: Pod, state: PodRuntimeState, a: PodActions, vols: PodVolumes, implicitVolume: string | undefined, early?: Promise<MadeSandbox | undefined>): Promise<void> {
    const rt = this.o.runtime;
    const grace = podGracePeriodSeconds(pod);
    if (a.killPod) await this.ops.killPod(w, pod, state, grace);
    let sandboxId = a.sandboxId;
    let sandboxConfig: PodSandboxConfig | undefined;
    if (a.createSandbox) {
      const made = await (early ?? this.runSandbox(w, pod, a.sandboxAttempt));
      if (!made) return;
      sandboxId = made.id;
      sandboxConfig = made.config;
    }
    if (!sandboxId) return;
    sandboxConfig ??= this.ops.sandboxConfig(pod, currentSandbox(state)?.attempt ?? a.sandboxAttempt);
    for (const k of a.containersToKill) {
      const c = state.containers.find((x) => x.id === k.id);
      if (c) await this.ops.killContainer(pod, c, grace, k.message);
      w.probeKills.delete(k.id);
    }
    for (const b of a.backOff) {
      w.reasons.set(b.name, { reason: 'CrashLoopBackOff', message: b.message });
      this.o.recorder.event(podTarget(pod, b.name), 'Warning', 'BackOff', `Back-off restarting failed container ${b.name} in pod ${podFullName(pod)}`);
    }
    if (a.containersToStart.length === 0) return;
    // Pod files need the IP, known once the sandbox runs.
    const sb = await rt.podSandboxStatus(sandboxId);
    let files: PodFiles | undefined;
    if (this.o.volumes) files = await writePodFiles(pod, this.o.dataDir, sb?.ips ?? [], this.o.net);
    for (const s of a.containersToStart) {
      if (s.backoff) this.backoff.next(s.backoff.key, s.backoff.eventTime, this.o.now());
      await this.ops.startContainer(w, pod, sandboxId, sandboxConfig, sb?.ips ?? [], s, vols, files, implicitVolume);
    }
  }

  /** A pod with a deletionTimestamp: stop it, report its final status, delete it with grace 0. */
  private async terminate(w: Worker, pod: Pod): Promise<void> {
    let state = await runtimeState(this.o.runtime, w);
    const ran = state.sandboxes.length > 0;
    await this.ops.killPod(w, pod, state, podGracePeriodSeconds(pod));
    this.o.probes?.removePod(w.uid);
    state = await runtimeState(this.o.runtime, w);
    if (ran) {
      try {
        await writeStatus(this.o, this.writes, w, pod, state, true);
      } catch (e) {
        if (!isNotFound(e)) this.o.logger.debug('final status write failed', { pod: podName(pod), error: errMessage(e) });
      }
    }
    await this.ops.removeAll(w, state);
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
    const state = await runtimeState(this.o.runtime, w);
    let grace = 30;
    for (const s of state.sandboxes) {
      const g = Number(s.annotations[ANNOTATION_GRACE_PERIOD]);
      if (Number.isFinite(g)) grace = g;
    }
    await this.ops.killPod(w, undefined, state, Math.min(grace, 30));
    this.o.probes?.removePod(w.uid);
    const after = await runtimeState(this.o.runtime, w);
    await this.ops.removeAll(w, after);
    if (this.o.volumes) await tearDownPod(this.o.dataDir, w.uid);
    this.forget(w.uid);
    w.finished = true;
  }

  private forget(uid: string): void {
    this.backoff.forgetPrefix(`${uid}/`);
    this.images.imageBackoff.forgetPrefix(`${uid}/`);
    for (const k of this.images.imageBackoffState.keys()) if (k.startsWith(`${uid}/`)) this.images.imageBackoffState.delete(k);
    for (const k of this.tokenCache.keys()) if (k.startsWith(`${uid}/`)) this.tokenCache.delete(k);
    this.fingerprints.delete(uid);
    this.seen.delete(uid);
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

export { PODS, Semaphore, referencesObject, type PodWorkersOptions } from './podworker-types.ts';
export { dockerAuthFor, registryHost } from './podworker-images.ts';
export { restartCountOf } from './sync.ts';
