// The probe manager: startup, liveness and readiness probes of running containers, as the
// kubelet's prober workers (pkg/kubelet/prober/worker.go) run them.
//
// One worker per probe of a container. A worker probes every periodSeconds, the first time
// initialDelaySeconds after the container started. Liveness and readiness wait until the
// startup probe has succeeded; the startup probe stops after its first published success.
// A result is published after failureThreshold failures / successThreshold successes in a row
// (defaults 3 and 1); until then the previous result stands: readiness starts as failure,
// liveness as success. Each failed attempt records an Unhealthy event
// (`Liveness probe failed: <output>`); a probe that cannot run (unknown port, no pod IP yet)
// records `… probe errored …` and its result is thrown away, as the kubelet does.
// A published liveness or startup failure asks the agent to restart the container
// (onLivenessFailure) and holds that probe until a new container id arrives. Readiness and
// startup results that flip call onResultChange, so the agent rewrites Ready/ContainersReady.
import { realClock, type Clock, type TimerHandle } from '../client/clock.ts';
import type { Logger } from '../util/log.ts';
import { podTarget } from './events.ts';
import type { EventTarget } from '../client/events.ts';
import type { Container, Pod, Probe } from './kube-types.ts';
import type { ProbeManager, ProbeManagerDeps, ProbeManagerFactory } from './probe-types.ts';
import { runProbe, type ProbeOutcome, type ProbeTarget } from './probes-run.ts';

export type ProbeKind = 'startup' | 'liveness' | 'readiness';

/** The probe settings with Kubernetes' defaults applied. */
export interface ProbeTiming {
  initialDelaySeconds: number;
  periodSeconds: number;
  timeoutSeconds: number;
  successThreshold: number;
  failureThreshold: number;
}

export function probeTiming(p: Probe, kind: ProbeKind): ProbeTiming {
  const pos = (v: number | undefined, d: number) => (v !== undefined && v !== null && v > 0 ? v : d);
  return {
    initialDelaySeconds: p.initialDelaySeconds && p.initialDelaySeconds > 0 ? p.initialDelaySeconds : 0,
    periodSeconds: pos(p.periodSeconds, 10),
    timeoutSeconds: pos(p.timeoutSeconds, 1),
    // Liveness and startup must succeed once (the API rejects anything else); be lenient here.
    successThreshold: kind === 'readiness' ? pos(p.successThreshold, 1) : 1,
    failureThreshold: pos(p.failureThreshold, 3),
  };
}

const TITLE: Record<ProbeKind, string> = { startup: 'Startup', liveness: 'Liveness', readiness: 'Readiness' };

/** Runs one probe attempt (tests pass a scripted one). */
export type ProbeRunner = (probe: Probe, target: ProbeTarget, kind: ProbeKind) => Promise<ProbeOutcome>;

export interface KubeletProbeManagerOptions extends ProbeManagerDeps {
  /** Default: runProbe (exec through the runtime, real HTTP/TCP/gRPC). */
  runner?: ProbeRunner;
}

interface Probed {
  uid: string;
  /**
   * The pod as events and logs name it (not the pod object itself: that copy would go stale
   * with the pod's next status write and stay in memory beside the informer's newer one).
   */
  target: EventTarget;
  podKey: string;
  name: string;
  containerId: string;
  container: Container;
  startedAt: number;
  /** The startup probe has succeeded (true at once without one). */
  started: boolean;
  /** The readiness probe's published result (true at once without one). */
  ready: boolean;
  workers: Partial<Record<ProbeKind, Worker>>;
}

class Worker {
  /** The last attempt's result and how many times in a row it came. */
  lastResult: 'success' | 'failure' | undefined;
  resultRun = 0;
  /** Liveness/startup gave up on this container: no more attempts. */
  onHold = false;
  stopped = false;
  inFlight = false;
  timer: TimerHandle | undefined;
  readonly timing: ProbeTiming;

  constructor(
    readonly kind: ProbeKind,
    readonly probe: Probe,
  ) {
    this.timing = probeTiming(probe, kind);
  }
}

export class KubeletProbeManager implements ProbeManager {
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly runner: ProbeRunner;
  /** uid → container name → probes */
  private readonly pods = new Map<string, Map<string, Probed>>();
  private readonly inFlight = new Set<Promise<void>>();
  private closed = false;

  constructor(private readonly deps: KubeletProbeManagerOptions) {
    this.clock = deps.clock ?? realClock;
    this.log = deps.logger;
    this.runner = deps.runner ?? ((probe, target) => runProbe(probe, target, deps.runtime));
  }

  start(pod: Pod, containerName: string, containerId: string): void {
    if (this.closed) return;
    const uid = pod.metadata.uid ?? '';
    let byName = this.pods.get(uid);
    const existing = byName?.get(containerName);
    if (existing && existing.containerId === containerId) return;
    if (existing) this.stopProbed(existing);
    const container = [...(pod.spec.containers ?? []), ...(pod.spec.initContainers ?? [])].find((c) => c.name === containerName);
    if (!container) return;
    if (!byName) {
      byName = new Map();
      this.pods.set(uid, byName);
    }
    const c: Probed = {
      uid,
      target: podTarget(pod, containerName),
      podKey: podKey(pod),
      name: containerName,
      containerId,
      container,
      startedAt: startedAtOf(pod, containerName, containerId) ?? this.clock.now(),
      started: !container.startupProbe,
      ready: !container.readinessProbe,
      workers: {},
    };
    byName.set(containerName, c);
    const kinds: [ProbeKind, Probe | undefined][] = [
      ['startup', container.startupProbe],
      ['liveness', container.livenessProbe],
      ['readiness', container.readinessProbe],
    ];
    for (const [kind, probe] of kinds) {
      if (!probe) continue;
      const w = new Worker(kind, probe);
      c.workers[kind] = w;
      this.schedule(c, w, c.startedAt + w.timing.initialDelaySeconds * 1000);
    }
  }

  stop(podUid: string, containerName: string): void {
    const byName = this.pods.get(podUid);
    const c = byName?.get(containerName);
    if (!c) return;
    this.stopProbed(c);
    byName!.delete(containerName);
    if (byName!.size === 0) this.pods.delete(podUid);
  }

  removePod(podUid: string): void {
    const byName = this.pods.get(podUid);
    if (!byName) return;
    for (const c of byName.values()) this.stopProbed(c);
    this.pods.delete(podUid);
  }

  readiness(podUid: string, containerName: string): boolean | undefined {
    const c = this.pods.get(podUid)?.get(containerName);
    if (!c) return undefined;
    return c.started && c.ready;
  }

  started(podUid: string, containerName: string): boolean | undefined {
    return this.pods.get(podUid)?.get(containerName)?.started;
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const uid of [...this.pods.keys()]) this.removePod(uid);
    await Promise.allSettled([...this.inFlight]);
  }

  /** Resolves when no probe attempt is running (tests). */
  async idle(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }

  /** The containers being probed (tests, debugging). */
  get size(): number {
    let n = 0;
    for (const m of this.pods.values()) n += m.size;
    return n;
  }

  // -- workers

  private stopProbed(c: Probed): void {
    for (const w of Object.values(c.workers)) {
      w.stopped = true;
      if (w.timer) this.clock.clearTimeout(w.timer);
      w.timer = undefined;
    }
  }

  private schedule(c: Probed, w: Worker, at: number): void {
    if (w.stopped) return;
    if (w.timer) this.clock.clearTimeout(w.timer);
    w.timer = this.clock.setTimeout(() => {
      w.timer = undefined;
      this.tick(c, w);
    }, Math.max(0, at - this.clock.now()));
  }

  private tick(c: Probed, w: Worker): void {
    if (w.stopped || w.inFlight) return;
    const now = this.clock.now();
    const periodMs = w.timing.periodSeconds * 1000;
    const due = c.startedAt + w.timing.initialDelaySeconds * 1000;
    if (now < due) {
      this.schedule(c, w, due);
      return;
    }
    // Liveness and readiness wait for the startup probe; startup stops once it succeeded.
    if (w.kind === 'startup' && c.started) {
      w.stopped = true;
      return;
    }
    if ((w.kind !== 'startup' && !c.started) || w.onHold) {
      this.schedule(c, w, now + periodMs);
      return;
    }
    w.inFlight = true;
    const target: ProbeTarget = { container: c.container, containerId: c.containerId, podIP: this.deps.podIP(c.uid) };
    const p = this.runner(w.probe, target, w.kind)
      .catch((e: unknown): ProbeOutcome => ({ result: 'unknown', output: e instanceof Error ? e.message : String(e) }))
      .then((outcome) => {
        w.inFlight = false;
        if (w.stopped || this.closed) return;
        this.apply(c, w, outcome);
        if (!w.stopped) this.schedule(c, w, Math.max(this.clock.now(), now + periodMs));
      });
    this.inFlight.add(p);
    void p.finally(() => this.inFlight.delete(p));
  }

  private apply(c: Probed, w: Worker, o: ProbeOutcome): void {
    const title = TITLE[w.kind];
    const target = c.target;
    if (o.result === 'unknown') {
      this.deps.recorder.event(target, 'Warning', 'Unhealthy', `${title} probe errored and resulted in unknown state: ${o.output}`);
      this.log.debug('probe errored', { pod: c.podKey, container: c.name, probe: w.kind, output: o.output });
      return;
    }
    if (o.result === 'warning') this.deps.recorder.event(target, 'Warning', 'ProbeWarning', `${title} probe warning: ${o.output}`);
    if (o.result === 'failure') this.deps.recorder.event(target, 'Warning', 'Unhealthy', `${title} probe failed: ${o.output}`);
    const result = o.result === 'failure' ? 'failure' : 'success';
    if (w.lastResult === result) w.resultRun++;
    else {
      w.lastResult = result;
      w.resultRun = 1;
    }
    if ((result === 'failure' && w.resultRun < w.timing.failureThreshold) || (result === 'success' && w.resultRun < w.timing.successThreshold)) return;
    const ok = result === 'success';
    switch (w.kind) {
      case 'readiness':
        if (c.ready !== ok) {
          c.ready = ok;
          this.log.debug('readiness changed', { pod: c.podKey, container: c.name, ready: ok });
          this.deps.onResultChange(c.uid);
        }
        return;
      case 'startup':
        if (ok) {
          w.stopped = true;
          if (!c.started) {
            c.started = true;
            this.deps.onResultChange(c.uid);
            // As the kubelet does: probe readiness at once instead of waiting for its next tick.
            const r = c.workers.readiness;
            if (r && !r.inFlight) this.schedule(c, r, this.clock.now());
          }
          return;
        }
        this.giveUp(c, w, `Container ${c.name} failed startup probe, will be restarted`);
        return;
      case 'liveness':
        if (!ok) this.giveUp(c, w, `Container ${c.name} failed liveness probe, will be restarted`);
        return;
    }
  }

  private giveUp(c: Probed, w: Worker, message: string): void {
    w.onHold = true;
    w.resultRun = 0;
    this.log.info('container failed its probe', { pod: c.podKey, container: c.name, probe: w.kind, containerId: c.containerId });
    this.deps.onLivenessFailure(c.uid, c.name, c.containerId, message);
  }
}

function podKey(pod: Pod): string {
  return `${pod.metadata.namespace ?? ''}/${pod.metadata.name ?? ''}`;
}

/** When the container started, from the pod's status (adopted containers keep their start time). */
function startedAtOf(pod: Pod, name: string, containerId: string): number | undefined {
  const all = [...(pod.status?.containerStatuses ?? []), ...(pod.status?.initContainerStatuses ?? [])];
  for (const s of all) {
    if (s.name !== name || !s.containerID) continue;
    const id = s.containerID.replace(/^[a-z0-9]+:\/\//, '');
    if (id !== containerId) continue;
    const at = s.state?.running?.startedAt;
    if (!at) return undefined;
    const ms = Date.parse(at);
    return Number.isFinite(ms) ? ms : undefined;
  }
  return undefined;
}

/** The agent's factory (AgentOptions.probes). */
export const createProbeManager: ProbeManagerFactory = (deps) => new KubeletProbeManager(deps);
