// The node lifecycle controller: the acting layer around the pure decisions in health.ts
// (Ready → Unknown), taints.ts (the condition and cordon taints), eviction.ts (taint-based
// eviction, markPodsNotReady) and fencing.ts (kennel's safe replacement of a dead node's
// StatefulSet pods). The monitor pass is monitor.ts; the writes it makes are writes.ts.
//
// Informers on Nodes, Leases (kube-node-lease), Pods, StatefulSets, PersistentVolumeClaims and
// PersistentVolumes feed one work-queue key: a monitor pass over every node, run every 5 s
// (Kubernetes' nodeMonitorPeriod), whenever something relevant changes, and at the exact moment
// the next decision falls due (a grace period running out, a toleration expiring, a fence time).
// Lease renewals and node heartbeats are noted the moment the informers deliver them (the
// probe times of health.ts), so a pass never makes a node look fresher or staler than it is.
//
// What a pass writes:
// - node conditions through nodes/{name}/status (PUT with the cached resourceVersion, so an
//   agent's newer report is never overwritten: a conflict just means the next pass decides
//   again on the newer object);
// - the node's taints with a merge patch of spec.taints carrying the resourceVersion it was
//   computed from (the same optimistic concurrency);
// - pod Ready → False through pods/{name}/status; evictions as DELETE with a uid precondition
//   (they act only on NoExecute taints the node really carries in the cache, never on taints
//   this pass is about to add or remove);
//   force-deletes of fenced pods as DELETE grace 0 with a uid precondition, after a live read of
//   the node's Lease;
// - Events from `node-controller`: RegisteredNode / RemovingNode and NodeNotReady on nodes,
//   TaintManagerEviction and NodeNotReady on pods, NodeLost / VolumeRecreated / WaitingForNode /
//   InvalidOnNodeLoss for fenced StatefulSet pods.
//
// Time: decisions measure durations on a monotonic clock (performance.now, or the injected
// clock in tests) and never compare another machine's timestamps with it; written timestamps
// (lastTransitionTime, timeAdded) come from the injected wall clock.
import type { Node, PersistentVolume, PersistentVolumeClaim, Pod } from '../../client/types.ts';
import type { ControllerContext, ControllerFactory, RunningController } from '../manager.ts';
import { ControllerBase, type ControllerBaseOptions } from '../common/base.ts';
import { errText } from '../common/errors.ts';
import { DEFAULT_GRACE_PERIOD_MS, DEFAULT_LEASE_DURATION_SECONDS, DEFAULT_STARTUP_GRACE_PERIOD_MS, NODE_LEASE_NAMESPACE, type Lease, type NodeHealth } from './health.ts';
import { taintsOf } from './taints.ts';
import { noExecuteTaints } from './eviction.ts';
import { DEFAULT_FENCE_MARGIN_MS, maxAgentLatenessMs } from './fencing.ts';
import { NodeMonitor } from './monitor.ts';
import { CLAIMS, LEASES, NODES, PODS, STATEFULSETS, VOLUMES } from '../common/resources.ts';

export { CLAIMS, LEASES, NODES, PODS, STATEFULSETS, VOLUMES };

export const NODE_CONTROLLER_COMPONENT = 'node-controller';
export const NODE_LIFECYCLE_USER_AGENT = 'kennel-node-lifecycle-controller';
export const NODE_LIFECYCLE_FIELD_MANAGER = 'kube-controller-manager';
export const DEFAULT_MONITOR_PERIOD_MS = 5_000;

/** The controller makes its own client from opts.client's config; its default recorder writes
 *  core/v1 Events from `node-controller`. */
export interface NodeLifecycleOptions extends ControllerBaseOptions {
  /** The clock durations are measured on (default: performance.now, or clock.now when a clock
   *  is given). Must never go backwards. */
  monotonicNow?: () => number;
  /** A node unheard of for longer is Unknown (default 50 s, Kubernetes' nodeMonitorGracePeriod). */
  gracePeriodMs?: number;
  /** The same for a node that never posted Ready (default 60 s). */
  startupGracePeriodMs?: number;
  /** How often every node is looked at (default 5 s). */
  monitorPeriodMs?: number;
  /** Fenced pods are force-deleted this long after the lease expired (default 20 s). */
  fenceMarginMs?: number;
  /** Lease duration assumed when a Lease does not say (default 40 s). */
  defaultLeaseDurationSeconds?: number;
  /** Evict nothing when no node is Ready (default true, as Kubernetes). */
  fullDisruptionGuard?: boolean;
  /** Force-delete fenced StatefulSet pods (default true; false = Kubernetes' behaviour). */
  replaceFencedPods?: boolean;
  /** Writes in flight at once (default 16). */
  concurrency?: number;
}

export interface NodeLifecycleController extends RunningController {
  /** Monitor passes completed. */
  readonly passes: number;
  /** Run a monitor pass now; resolves when a pass started after this call has finished. */
  sync(): Promise<void>;
  /** What the controller remembers of a node (for tests and debugging). */
  health(name: string): NodeHealth | undefined;
  /** Whether every node is not Ready (no NoExecute taints are applied). */
  fullDisruption(): boolean;
}

const KEY = 'monitor';

function conditionsKey(n: Node): string {
  return (n.status?.conditions ?? []).map((c) => `${c.type}=${c.status}`).join(',');
}

/** A node change a pass must look at (not a mere heartbeat). */
function significantNodeChange(a: Node, b: Node): boolean {
  return (
    (a.spec?.unschedulable === true) !== (b.spec?.unschedulable === true) ||
    JSON.stringify(a.spec?.taints ?? []) !== JSON.stringify(b.spec?.taints ?? []) ||
    conditionsKey(a) !== conditionsKey(b)
  );
}

export async function startNodeLifecycleController(opts: NodeLifecycleOptions): Promise<NodeLifecycleController> {
  const base = new ControllerBase(opts, {
    component: NODE_CONTROLLER_COMPONENT,
    userAgent: NODE_LIFECYCLE_USER_AGENT,
    fieldManager: NODE_LIFECYCLE_FIELD_MANAGER,
    queueName: 'node-lifecycle',
    stopMessage: 'node lifecycle controller',
  });
  const { log, clock, client, factory, recorder, queue, signal } = base;
  const injected = opts.clock;
  const mono = opts.monotonicNow ?? (injected ? () => injected.now() : () => performance.timeOrigin + performance.now());
  const grace = { gracePeriodMs: opts.gracePeriodMs ?? DEFAULT_GRACE_PERIOD_MS, startupGracePeriodMs: opts.startupGracePeriodMs ?? DEFAULT_STARTUP_GRACE_PERIOD_MS };
  const monitorPeriodMs = opts.monitorPeriodMs ?? DEFAULT_MONITOR_PERIOD_MS;
  const marginMs = opts.fenceMarginMs ?? DEFAULT_FENCE_MARGIN_MS;

  const nodes = factory.informer<Node>(NODES);
  const leases = factory.informer<Lease>(LEASES, { namespace: NODE_LEASE_NAMESPACE });
  const pods = factory.informer<Pod>(PODS);
  const sets = factory.informer(STATEFULSETS);
  const claims = factory.informer<PersistentVolumeClaim>(CLAIMS);
  const volumes = factory.informer<PersistentVolume>(VOLUMES);

  const monitor = new NodeMonitor({
    caches: { nodes, leases, pods, sets, claims, volumes },
    settings: {
      grace,
      monitorPeriodMs,
      marginMs,
      defaultLeaseSeconds: opts.defaultLeaseDurationSeconds ?? DEFAULT_LEASE_DURATION_SECONDS,
      fullDisruptionGuard: opts.fullDisruptionGuard ?? true,
      replaceFencedPods: opts.replaceFencedPods ?? true,
      concurrency: Math.max(1, opts.concurrency ?? 16),
    },
    client,
    recorder,
    log,
    signal,
    clock,
    mono,
    requeue: () => queue.add(KEY),
    requeueAfter: (ms) => queue.addAfter(KEY, ms),
  });

  const nodeHasNoExecute = (name: string): boolean => {
    const n = nodes.get(undefined, name);
    return !!n && noExecuteTaints(taintsOf(n)).length > 0;
  };
  /** Whether a change on this node matters to a pass (it is not Ready, or evicts). */
  const watched = (name: string | undefined): boolean => !!name && (monitor.lastReady.get(name) !== 'True' || nodeHasNoExecute(name));

  // -- handlers

  base.handle(
    nodes.addEventHandler({
      onAdd: (n) => {
        monitor.observe(n.metadata.name);
        queue.add(KEY);
      },
      onUpdate: (o, n) => {
        monitor.observe(n.metadata.name);
        if (significantNodeChange(o, n)) queue.add(KEY);
      },
      onDelete: () => queue.add(KEY),
    }),
    leases.addEventHandler({
      onAdd: (l) => {
        monitor.observe(l.metadata.name);
        if (monitor.lastReady.get(l.metadata.name ?? '') !== 'True') queue.add(KEY);
      },
      onUpdate: (_o, l) => {
        monitor.observe(l.metadata.name);
        if (monitor.lastReady.get(l.metadata.name ?? '') !== 'True') queue.add(KEY);
      },
    }),
    pods.addEventHandler({
      onAdd: (p) => {
        if (watched(p.spec?.nodeName)) queue.add(KEY);
      },
      onUpdate: (_o, p) => {
        if (watched(p.spec?.nodeName)) queue.add(KEY);
      },
    }),
  );

  // -- the monitor pass, and who waits for one

  let passes = 0;
  let started = 0;
  let waiters: { seq: number; resolve: () => void }[] = [];

  const pass = async (): Promise<void> => {
    const seq = ++started;
    try {
      await monitor.pass();
    } finally {
      passes++;
      const done = waiters.filter((w) => w.seq <= seq);
      waiters = waiters.filter((w) => w.seq > seq);
      for (const w of done) w.resolve();
    }
  };

  // -- start

  await base.sync();
  queue.add(KEY);
  base.run(1, pass, (_key, err, requeues) => log.warn('monitor pass failed; retrying', { error: errText(err), retries: requeues }));
  log.info('started', { gracePeriodMs: grace.gracePeriodMs, monitorPeriodMs, fenceMarginMs: marginMs });
  if ((opts.replaceFencedPods ?? true) && maxAgentLatenessMs(opts.defaultLeaseDurationSeconds ?? DEFAULT_LEASE_DURATION_SECONDS, marginMs) <= 0) {
    log.warn('the fence margin does not cover clock-rate differences: a dead node\'s pods may be replaced before its agent has stopped them', { fenceMarginMs: marginMs });
  }

  return {
    get passes() {
      return passes;
    },
    sync(): Promise<void> {
      return new Promise((resolve) => {
        if (queue.isShuttingDown()) {
          resolve();
          return;
        }
        waiters.push({ seq: started + 1, resolve });
        queue.add(KEY);
      });
    },
    health: (name) => monitor.health.get(name),
    fullDisruption: () => monitor.fullDisruption,
    stop: () =>
      base.stop({
        afterWorkers: () => {
          for (const w of waiters) w.resolve();
          waiters = [];
        },
      }),
  };
}

/** The node lifecycle controller for the controller manager, with other durations. */
export function nodeLifecycleControllerWith(options: Omit<NodeLifecycleOptions, 'client' | 'logger'>): ControllerFactory {
  return {
    name: 'node-lifecycle',
    start: (ctx: ControllerContext) => startNodeLifecycleController({ ...options, client: ctx.client, logger: ctx.logger, informers: ctx.informers }),
  };
}

/** The node lifecycle controller for the controller manager (Kubernetes' durations). */
export const nodeLifecycleController: ControllerFactory = nodeLifecycleControllerWith({});
