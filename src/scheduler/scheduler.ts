// The scheduler: an API client that binds pending pods to nodes, the thin acting layer around
// the pure decision in schedule.ts.
//
// - Informers: pods that are not terminal (bound ones feed the node cache, unbound ones with our
//   schedulerName feed the queue), nodes, and the claims/volumes/classes pods use — its own, or
//   those of a factory shared with the rest of the process (opts.informers: then the pod
//   informer is the unfiltered one and finished pods are skipped here), so that a process
//   running the controllers too decodes each pod event once instead of once per component.
// - One pod at a time: decide against the cache, *assume* the pod onto the node at once (so
//   the next decision already counts it), then bind it through pods/binding in the background
//   (up to maxInflightBinds at once). A failed binding forgets the assumption and retries later.
// - No node fits: a FailedScheduling Warning event and the pod's PodScheduled condition (False,
//   Unschedulable) say why, in kube-scheduler's words; the pod waits in the queue until a
//   change that may help (node added or changed, a bound pod gone, a claim or volume changed)
//   or until its retry interval.
// - Success: the API server sets PodScheduled True; a Scheduled event says where.
// - With leaderElection, only the holder of the `kube-scheduler` Lease schedules (caches stay warm
//   on the others).
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { Informer, reportCacheMutation, waitForCacheSync, type InformerFactory } from '../client/informer.ts';
import { LeaderElector } from '../client/leaderelection.ts';
import { isApiStatusError, isNotFound, objectKey, type KubeClient, type ResourceRef } from '../client/rest.ts';
import { realClock, type Clock } from '../client/clock.ts';
import { silentLogger, type Logger } from '../util/log.ts';
import { SchedulerCache } from './cache.ts';
import { EventRecorder, rfc3339, type EventRecorderOptions } from './events.ts';
import { claimInfoOf, newSchedulingContext, podClaimNames, type ClaimInfo } from './filters.ts';
import { podInfoOf } from './nodeinfo.ts';
import { SchedulingQueue } from './queue.ts';
import { schedulePod } from './schedule.ts';
import { DEFAULT_WEIGHTS, seededRandom, type ScoreWeights } from './scores.ts';
import {
  ANN_SELECTED_NODE,
  DEFAULT_SCHEDULER_NAME,
  type Node,
  type PersistentVolume,
  type PersistentVolumeClaim,
  type Pod,
  type PodCondition,
  type StorageClass,
} from './types.ts';

const PODS: ResourceRef = { group: '', version: 'v1', plural: 'pods', namespaced: true, kind: 'Pod' };
const NODES: ResourceRef = { group: '', version: 'v1', plural: 'nodes', namespaced: false, kind: 'Node' };
const PVCS: ResourceRef = { group: '', version: 'v1', plural: 'persistentvolumeclaims', namespaced: true, kind: 'PersistentVolumeClaim' };
const PVS: ResourceRef = { group: '', version: 'v1', plural: 'persistentvolumes', namespaced: false, kind: 'PersistentVolume' };
const STORAGE_CLASSES: ResourceRef = { group: 'storage.k8s.io', version: 'v1', plural: 'storageclasses', namespaced: false, kind: 'StorageClass' };

/** Plugins whose verdict can change when a bound pod goes away (its resources and ports free up). */
const POD_GONE_PLUGINS: ReadonlySet<string> = new Set(['NodeResourcesFit', 'NodePorts']);
/** Plugins whose verdict can change when a claim, volume or storage class changes. */
const VOLUME_PLUGINS: ReadonlySet<string> = new Set(['VolumeBinding']);

export interface SchedulerOptions {
  client: KubeClient;
  logger?: Logger;
  /** Pods with this spec.schedulerName are ours (default `default-scheduler`). */
  schedulerName?: string;
  clock?: Clock;
  /** Seed of the tie-break among equally good nodes (default 1). */
  seed?: number;
  weights?: ScoreWeights;
  /** Back-off after a failed attempt: initial, doubling to max (defaults 1 s, 10 s). */
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  /** An unschedulable pod is retried after this long even if nothing changed (default 60 s). */
  maxUnschedulableMs?: number;
  /** Bindings in flight at once (default 32; more mostly adds contention at the API server). */
  maxInflightBinds?: number;
  /** reportingInstance of events (default: host name). */
  instance?: string;
  /** Tuning of the event writer: writes in flight (default maxInflightBinds), queue bound, per-object spam filter. */
  events?: Partial<Pick<EventRecorderOptions, 'concurrency' | 'maxPending' | 'burst' | 'refillMs'>>;
  /** Schedule only while holding this Lease (coordination.k8s.io, default name kube-scheduler in kube-system). */
  leaderElection?: { identity: string; name?: string; namespace?: string };
  /**
   * Take the informers from this factory (shared with other components of the process, e.g.
   * the controller manager's) instead of making its own: every pod event is then decoded once
   * for all of them. Its pod informer is the unfiltered one (terminal pods are ignored here).
   * The scheduler starts them if need be and never stops them.
   */
  informers?: InformerFactory;
}

export interface SchedulerStats {
  /** Pods bound by this scheduler. */
  bound: number;
  /** Attempts that found no node. */
  unschedulable: number;
  /** Bindings that failed. */
  bindErrors: number;
  bindsInFlight: number;
  queue: { active: number; backoff: number; unschedulable: number; inflight: number };
  eventsDropped: number;
}

export interface Scheduler {
  stop(): Promise<void>;
  stats(): SchedulerStats;
  /** Resolves when nothing is queued to run now and no binding is in flight (tests, benchmarks). */
  idle(): Promise<void>;
}

function isTerminal(pod: Pod): boolean {
  const phase = pod.status?.phase;
  return phase === 'Succeeded' || phase === 'Failed';
}

function podScheduledCondition(pod: Pod): PodCondition | undefined {
  return pod.status?.conditions?.find((c) => c.type === 'PodScheduled');
}

/** Whether anything the filters read of a node changed. */
function nodeSchedulingPropsChanged(a: Node, b: Node): boolean {
  return (
    a.spec?.unschedulable !== b.spec?.unschedulable ||
    JSON.stringify(a.metadata.labels ?? {}) !== JSON.stringify(b.metadata.labels ?? {}) ||
    JSON.stringify(a.spec?.taints ?? []) !== JSON.stringify(b.spec?.taints ?? []) ||
    JSON.stringify(a.status?.allocatable ?? {}) !== JSON.stringify(b.status?.allocatable ?? {})
  );
}

/** Whether a pending pod changed in a way that may change its verdict. */
function podSchedulingPropsChanged(a: Pod, b: Pod): boolean {
  return JSON.stringify(a.spec) !== JSON.stringify(b.spec) || JSON.stringify(a.metadata.labels ?? {}) !== JSON.stringify(b.metadata.labels ?? {});
}

class SchedulerImpl implements Scheduler {
  private readonly client: KubeClient;
  private readonly log: Logger;
  private readonly schedulerName: string;
  private readonly weights: ScoreWeights;
  private readonly random: () => number;
  private readonly maxInflight: number;
  private readonly clock: Clock;
  private readonly cache = new SchedulerCache();
  private readonly queue: SchedulingQueue;
  private readonly events: EventRecorder;
  readonly pods: Informer<Pod>;
  readonly nodes: Informer<Node>;
  readonly pvcs: Informer<PersistentVolumeClaim>;
  readonly pvs: Informer<PersistentVolume>;
  readonly classes: Informer<StorageClass>;
  private elector: LeaderElector | null = null;
  private active = false;
  private stopped = false;
  private drainScheduled = false;
  private inflightBinds = 0;
  private readonly writes = new Set<Promise<void>>();
  /** The informers are the factory's: stop() leaves them running. */
  private readonly sharedInformers: boolean;
  private readonly unregister: (() => void)[] = [];
  private idleWaiters: (() => void)[] = [];
  private counters = { bound: 0, unschedulable: 0, bindErrors: 0 };

  constructor(opts: SchedulerOptions) {
    this.client = opts.client;
    this.log = opts.logger ?? silentLogger;
    this.schedulerName = opts.schedulerName ?? DEFAULT_SCHEDULER_NAME;
    this.weights = opts.weights ?? DEFAULT_WEIGHTS;
    this.random = seededRandom(opts.seed ?? 1);
    this.maxInflight = Math.max(1, opts.maxInflightBinds ?? 32);
    const clock = opts.clock ?? realClock;
    this.clock = clock;
    this.queue = new SchedulingQueue({
      clock,
      initialBackoffMs: opts.initialBackoffMs,
      maxBackoffMs: opts.maxBackoffMs,
      maxUnschedulableMs: opts.maxUnschedulableMs,
      onActive: () => this.kick(),
    });
    const instance = opts.instance ?? `${hostname()}_${randomBytes(4).toString('hex')}`;
    // As many event writes as bindings in flight, so Scheduled events keep pace with a burst.
    this.events = new EventRecorder({ concurrency: this.maxInflight, ...opts.events, client: this.client, component: this.schedulerName, instance, logger: this.log, now: () => clock.now() });
    const shared = opts.informers;
    this.sharedInformers = shared !== undefined;
    if (shared) {
      this.pods = shared.informer<Pod>(PODS);
      this.nodes = shared.informer<Node>(NODES);
      this.pvcs = shared.informer<PersistentVolumeClaim>(PVCS);
      this.pvs = shared.informer<PersistentVolume>(PVS);
      this.classes = shared.informer<StorageClass>(STORAGE_CLASSES);
    } else {
      const informerOpts = { clock, logger: this.log };
      this.pods = new Informer<Pod>(this.client, PODS, { ...informerOpts, fieldSelector: 'status.phase!=Succeeded,status.phase!=Failed' });
      this.nodes = new Informer<Node>(this.client, NODES, informerOpts);
      this.pvcs = new Informer<PersistentVolumeClaim>(this.client, PVCS, informerOpts);
      this.pvs = new Informer<PersistentVolume>(this.client, PVS, informerOpts);
      this.classes = new Informer<StorageClass>(this.client, STORAGE_CLASSES, informerOpts);
    }
    this.wire();
    if (opts.leaderElection) {
      const le = opts.leaderElection;
      this.elector = new LeaderElector({
        client: this.client,
        name: le.name ?? 'kube-scheduler',
        namespace: le.namespace ?? 'kube-system',
        identity: le.identity,
        clock,
        logger: this.log,
        onStartedLeading: () => {
          this.log.info('started leading; scheduling', { identity: le.identity });
          this.setActive(true);
        },
        onStoppedLeading: () => {
          this.log.info('stopped leading; not scheduling', { identity: le.identity });
          this.setActive(false);
        },
      });
    }
  }

  async start(): Promise<void> {
    for (const i of this.informers()) i.start();
    await waitForCacheSync(this.informers());
    if (this.stopped) return;
    if (this.elector) this.elector.start();
    else this.setActive(true);
    this.log.info('scheduler started', { schedulerName: this.schedulerName, nodes: this.cache.nodeInfos().length, pending: this.queue.stats().active });
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.active = false;
    await this.elector?.stop();
    for (const u of this.unregister.splice(0)) u();
    if (!this.sharedInformers) await Promise.all(this.informers().map((i) => i.stop()));
    this.queue.close();
    while (this.writes.size > 0) await Promise.all([...this.writes]);
    await this.events.close();
    this.notifyIdle();
  }

  stats(): SchedulerStats {
    return { ...this.counters, bindsInFlight: this.inflightBinds, queue: this.queue.stats(), eventsDropped: this.events.dropped };
  }

  idle(): Promise<void> {
    if (this.isIdle()) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  // -- informer wiring

  private informers(): Informer<Pod | Node | PersistentVolumeClaim | PersistentVolume | StorageClass>[] {
    return [this.pods, this.nodes, this.pvcs, this.pvs, this.classes] as Informer<Pod | Node | PersistentVolumeClaim | PersistentVolume | StorageClass>[];
  }

  private wire(): void {
    this.unregister.push(
      ...this.wirePods(),
      this.nodes.addEventHandler({
        onAdd: (node) => {
          this.cache.setNode(node);
          this.queue.moveUnschedulable();
        },
        onUpdate: (old, node) => {
          this.cache.setNode(node);
          if (nodeSchedulingPropsChanged(old, node)) this.queue.moveUnschedulable();
        },
        onDelete: (node) => this.cache.removeNode(node.metadata.name ?? ''),
      }),
    );
    const volumeChanged = (): void => {
      this.queue.moveUnschedulable(VOLUME_PLUGINS);
    };
    for (const inf of [this.pvcs, this.pvs, this.classes] as Informer<PersistentVolumeClaim | PersistentVolume | StorageClass>[]) {
      this.unregister.push(inf.addEventHandler({ onAdd: volumeChanged, onUpdate: volumeChanged }));
    }
  }

  private wirePods(): (() => void)[] {
    return [
      this.pods.addEventHandler({
        onAdd: (pod) => this.podSeen(pod),
        onUpdate: (old, pod) => {
          if (old.metadata.uid !== pod.metadata.uid) {
            this.podGone(old);
            this.podSeen(pod);
            return;
          }
          this.podSeen(pod, old);
        },
        onDelete: (pod) => this.podGone(pod),
      }),
    ];
  }

  private responsible(pod: Pod): boolean {
    const spec = pod.spec;
    return (
      (spec?.schedulerName ?? DEFAULT_SCHEDULER_NAME) === this.schedulerName &&
      !pod.metadata.deletionTimestamp &&
      !isTerminal(pod) &&
      (spec?.schedulingGates ?? []).length === 0
    );
  }

  private podSeen(pod: Pod, old?: Pod): void {
    const key = objectKey(pod);
    if (pod.spec?.nodeName) {
      const wasAccounted = this.cache.nodeOf(pod.metadata.uid ?? key) !== undefined;
      this.cache.setPod(pod);
      this.queue.delete(key);
      // A bound pod turning terminal frees its node's resources.
      if (wasAccounted && isTerminal(pod)) this.queue.moveUnschedulable(POD_GONE_PLUGINS);
      return;
    }
    // Ours and being bound: the informer has not caught up yet.
    if (this.cache.isAssumed(pod.metadata.uid ?? key)) return;
    if (!this.responsible(pod)) {
      this.queue.delete(key);
      return;
    }
    const priority = typeof pod.spec?.priority === 'number' ? pod.spec.priority : 0;
    if (!this.queue.has(key)) this.queue.add(key, priority);
    else if (old && podSchedulingPropsChanged(old, pod)) this.queue.update(key, priority);
  }

  private podGone(pod: Pod): void {
    const key = objectKey(pod);
    this.queue.delete(key);
    if (this.cache.removePod(pod.metadata.uid ?? key)) this.queue.moveUnschedulable(POD_GONE_PLUGINS);
  }

  // -- the scheduling loop

  private setActive(on: boolean): void {
    this.active = on && !this.stopped;
    if (this.active) this.kick();
  }

  private kick(): void {
    if (this.drainScheduled || !this.active || this.stopped) return;
    this.drainScheduled = true;
    setImmediate(() => this.drain());
  }

  private drain(): void {
    this.drainScheduled = false;
    if (!this.active || this.stopped) return;
    const start = performance.now();
    while (this.inflightBinds < this.maxInflight) {
      const key = this.queue.pop();
      if (key === undefined) break;
      try {
        this.scheduleOne(key);
      } catch (e) {
        reportCacheMutation(`the scheduler (pod ${key})`, e);
        this.log.error('scheduling attempt failed', { pod: key, error: e instanceof Error ? (e.stack ?? e.message) : String(e) });
        this.queue.retryLater(key);
      }
      // Let watch events and binding answers in now and then.
      if (performance.now() - start > 15) {
        this.kick();
        return;
      }
    }
    this.notifyIdle();
  }

  private scheduleOne(key: string): void {
    const pod = this.pods.getByKey(key);
    if (!pod || pod.spec?.nodeName || !this.responsible(pod) || this.cache.isAssumed(pod.metadata.uid ?? key)) {
      this.queue.delete(key);
      return;
    }
    const info = podInfoOf(pod);
    const claims = this.claimsOf(pod);
    const ctx = newSchedulingContext(pod, claims, info);
    const result = schedulePod(ctx, this.cache.nodeInfos(), { weights: this.weights, random: this.random });
    if (!result.ok) {
      this.counters.unschedulable++;
      this.queue.unschedulable(key, result.plugins);
      this.log.info('unable to schedule pod', { pod: key, reason: 'FailedScheduling', message: result.message });
      this.reportFailure(pod, 'Unschedulable', result.message);
      return;
    }
    this.cache.assume(info, result.node);
    this.queue.done(key);
    const wffc: string[] = [];
    if (claims) {
      for (const [name, c] of claims) if (c.state === 'unbound' && c.bindingMode === 'WaitForFirstConsumer') wffc.push(name);
    }
    this.inflightBinds++;
    this.track(this.bind(pod, info.uid, result.node, wffc));
  }

  private claimsOf(pod: Pod): Map<string, ClaimInfo> | undefined {
    const names = podClaimNames(pod);
    if (names.length === 0) return undefined;
    const ns = pod.metadata.namespace ?? '';
    const out = new Map<string, ClaimInfo>();
    for (const n of names) {
      out.set(
        n,
        claimInfoOf(
          this.pvcs.get(ns, n),
          (pv) => this.pvs.get(undefined, pv),
          (sc) => this.classes.get(undefined, sc),
        ),
      );
    }
    return out;
  }

  private async bind(pod: Pod, uid: string, node: string, wffcClaims: string[]): Promise<void> {
    const ns = pod.metadata.namespace ?? 'default';
    const name = pod.metadata.name ?? '';
    const key = `${ns}/${name}`;
    try {
      // WaitForFirstConsumer claims: tell the provisioner where the pod goes (as the
      // VolumeBinding plugin does before binding).
      for (const claim of wffcClaims) {
        const pvc = this.pvcs.get(ns, claim);
        if (pvc?.metadata.annotations?.[ANN_SELECTED_NODE] === node) continue;
        await this.client.patch(PVCS, ns, claim, { metadata: { annotations: { [ANN_SELECTED_NODE]: node } } }, 'merge');
      }
      await this.client.bindPod(ns, name, node);
      this.counters.bound++;
      this.log.debug('bound pod', { pod: key, node });
      this.events.event({ ...pod, kind: 'Pod', apiVersion: 'v1' }, 'Normal', 'Scheduled', 'Binding', `Successfully assigned ${key} to ${node}`);
    } catch (e) {
      this.counters.bindErrors++;
      const freed = this.cache.forget(uid);
      const msg = e instanceof Error ? e.message : String(e);
      if (isNotFound(e) || (isApiStatusError(e) && e.code === 409)) {
        // Gone, being deleted, or bound by someone else: the informer will tell.
        this.log.info('binding not needed', { pod: key, node, error: msg });
      } else if (!this.stopped) {
        this.log.warn('binding failed; will retry', { pod: key, node, error: msg });
        const priority = typeof pod.spec?.priority === 'number' ? pod.spec.priority : 0;
        this.queue.retryLater(key, priority);
        this.reportFailure(pod, 'SchedulerError', msg);
      }
      if (freed) this.queue.moveUnschedulable(POD_GONE_PLUGINS);
    } finally {
      this.inflightBinds--;
      this.kick();
      this.notifyIdle();
    }
  }

  /** FailedScheduling event, and the PodScheduled condition if it changes. */
  private reportFailure(pod: Pod, reason: 'Unschedulable' | 'SchedulerError', message: string): void {
    this.events.event({ ...pod, kind: 'Pod', apiVersion: 'v1' }, 'Warning', 'FailedScheduling', 'Scheduling', message);
    const cur = podScheduledCondition(pod);
    if (cur && cur.status === 'False' && cur.reason === reason && cur.message === message) return;
    const lastTransitionTime = cur && cur.status === 'False' && cur.lastTransitionTime ? cur.lastTransitionTime : rfc3339(this.clock.now());
    const condition = { type: 'PodScheduled', status: 'False', reason, message, lastTransitionTime };
    const ns = pod.metadata.namespace ?? 'default';
    const name = pod.metadata.name ?? '';
    const patch = { metadata: { uid: pod.metadata.uid }, status: { conditions: [condition] } };
    this.track(
      this.client
        .patch(PODS, ns, name, patch, 'strategic', { subresource: 'status' })
        .then(() => undefined)
        .catch((e: unknown) => {
          if (!isNotFound(e) && !(isApiStatusError(e) && e.code === 409)) {
            this.log.warn('could not update the PodScheduled condition', { pod: `${ns}/${name}`, error: e instanceof Error ? e.message : String(e) });
          }
        }),
    );
  }

  private track(p: Promise<void>): void {
    this.writes.add(p);
    void p.finally(() => this.writes.delete(p));
  }

  private isIdle(): boolean {
    return this.inflightBinds === 0 && this.queue.stats().active === 0;
  }

  private notifyIdle(): void {
    if (this.idleWaiters.length === 0 || (!this.isIdle() && !this.stopped)) return;
    const ws = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of ws) w();
  }
}

/**
 * Start the scheduler: informers, then (once they have synced, and while holding the Lease if
 * leaderElection is given) the scheduling loop. Resolves once the caches have synced.
 */
export async function startScheduler(opts: SchedulerOptions): Promise<Scheduler> {
  const s = new SchedulerImpl(opts);
  try {
    await s.start();
  } catch (e) {
    await s.stop();
    throw e;
  }
  return s;
}
