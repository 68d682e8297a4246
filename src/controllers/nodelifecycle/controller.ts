// The node lifecycle controller: the acting layer around the pure decisions in health.ts
// (Ready → Unknown), taints.ts (the condition and cordon taints), eviction.ts (taint-based
// eviction, markPodsNotReady) and fencing.ts (kennel's safe replacement of a dead node's
// StatefulSet pods).
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
import { setMaxListeners } from 'node:events';
import type { KubeObject } from '../../registry/types.ts';
import { KubeClient, isConflict, isNotFound, type ResourceRef } from '../../client/rest.ts';
import { InformerFactory } from '../../client/informer.ts';
import { WorkQueue } from '../../client/workqueue.ts';
import { realClock, type Clock } from '../../client/clock.ts';
import { createLogger, type Logger } from '../../util/log.ts';
import type { Node, PersistentVolume, PersistentVolumeClaim, Pod, Taint } from '../../scheduler/types.ts';
import type { ControllerContext, ControllerFactory, RunningController } from '../manager.ts';
import { EventRecorder, type Recorder } from '../events.ts';
import {
  DEFAULT_GRACE_PERIOD_MS,
  DEFAULT_LEASE_DURATION_SECONDS,
  DEFAULT_STARTUP_GRACE_PERIOD_MS,
  NODE_LEASE_NAMESPACE,
  decideNodeHealth,
  isFullDisruption,
  nodeEventMessage,
  nodeStatusMessage,
  observeNode,
  type HealthDecision,
  type Lease,
  type NodeCondition,
  type NodeHealth,
} from './health.ts';
import { TAINT_OUT_OF_SERVICE, reconcileTaints, readyStatusOf, taintString, taintsOf, wantedTaints, type ConditionStatus } from './taints.ts';
import {
  POD_NODE_NOT_READY_MESSAGE,
  POD_NODE_NOT_READY_REASON,
  TAINT_EVICTION_REASON,
  cancelEvictionMessage,
  decideEviction,
  disruptionCondition,
  evictionMessage,
  needsNotReadyMark,
  noExecuteTaints,
  notReadyConditions,
  podKey,
  taintStart,
} from './eviction.ts';
import {
  DEFAULT_FENCE_MARGIN_MS,
  REASON_INVALID_ON_NODE_LOSS,
  REASON_NODE_LOST,
  REASON_VOLUME_RECREATED,
  REASON_WAITING_FOR_NODE,
  decideFencedDeletions,
  invalidOnNodeLossMessage,
  nodeLostMessage,
  volumeRecreatedMessage,
  waitingForNodeMessage,
  type FencedDeletion,
} from './fencing.ts';

export const NODE_CONTROLLER_COMPONENT = 'node-controller';
export const NODE_LIFECYCLE_USER_AGENT = 'kennel-node-lifecycle-controller';
export const NODE_LIFECYCLE_FIELD_MANAGER = 'kube-controller-manager';
export const DEFAULT_MONITOR_PERIOD_MS = 5_000;

export const NODES: ResourceRef = { group: '', version: 'v1', plural: 'nodes', namespaced: false, kind: 'Node' };
export const LEASES: ResourceRef = { group: 'coordination.k8s.io', version: 'v1', plural: 'leases', namespaced: true, kind: 'Lease' };
export const PODS: ResourceRef = { group: '', version: 'v1', plural: 'pods', namespaced: true, kind: 'Pod' };
export const STATEFULSETS: ResourceRef = { group: 'apps', version: 'v1', plural: 'statefulsets', namespaced: true, kind: 'StatefulSet' };
export const CLAIMS: ResourceRef = { group: '', version: 'v1', plural: 'persistentvolumeclaims', namespaced: true, kind: 'PersistentVolumeClaim' };
export const VOLUMES: ResourceRef = { group: '', version: 'v1', plural: 'persistentvolumes', namespaced: false, kind: 'PersistentVolume' };

export interface NodeLifecycleOptions {
  /** A client of the API server; the controller makes its own from its config. */
  client: KubeClient;
  logger?: Logger;
  /** Share informers with the process's other controllers (started here, not stopped). */
  informers?: InformerFactory;
  /** Where events go (default: core/v1 Events from `node-controller`). */
  recorder?: Recorder;
  /** source.host / reportingInstance of the default recorder. */
  identity?: string;
  /** Timers and written timestamps (default: the system clock). */
  clock?: Clock;
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
  /** Fail start() when the caches have not synced within this long (default: wait). */
  syncTimeoutMs?: number;
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
/** How long a write's resourceVersion is waited for in the caches before acting regardless. */
const EXPECTATION_TTL_MS = 10_000;
/** Retry delay after failed writes. */
const RETRY_MS = 1_000;

function errText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function rfc3339(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function rvNumber(rv: string | undefined): bigint | undefined {
  return rv && /^[0-9]+$/.test(rv) ? BigInt(rv) : undefined;
}

async function runLimited(tasks: (() => Promise<void>)[], limit: number): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < tasks.length) await tasks[next++]();
  };
  await Promise.all(Array.from({ length: Math.min(Math.max(1, limit), tasks.length) }, () => worker()));
}

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

function nodeRef(name: string): KubeObject {
  // The node controller's node events carry the node name as uid, as Kubernetes' do (kubectl
  // describe node looks for both).
  return { apiVersion: 'v1', kind: 'Node', metadata: { name, uid: name } };
}

function podRef(pod: Pod): KubeObject {
  return { ...pod, apiVersion: 'v1', kind: 'Pod' };
}

function setRef(set: KubeObject): KubeObject {
  return { ...set, apiVersion: 'apps/v1', kind: 'StatefulSet' };
}

interface NodeState {
  node: Node;
  decision: HealthDecision;
  ready: ConditionStatus | undefined;
  /** The taints the node has (as cached: evictions act only on taints really on the node). */
  taints: Taint[];
  /** Taints this pass removes (no eviction acts on them any more). */
  removing: Taint[];
}

export async function startNodeLifecycleController(opts: NodeLifecycleOptions): Promise<NodeLifecycleController> {
  const log = opts.logger ?? createLogger(NODE_CONTROLLER_COMPONENT);
  const clock = opts.clock ?? realClock;
  const injected = opts.clock;
  const mono = opts.monotonicNow ?? (injected ? () => injected.now() : () => performance.timeOrigin + performance.now());
  const grace = { gracePeriodMs: opts.gracePeriodMs ?? DEFAULT_GRACE_PERIOD_MS, startupGracePeriodMs: opts.startupGracePeriodMs ?? DEFAULT_STARTUP_GRACE_PERIOD_MS };
  const monitorPeriodMs = opts.monitorPeriodMs ?? DEFAULT_MONITOR_PERIOD_MS;
  const marginMs = opts.fenceMarginMs ?? DEFAULT_FENCE_MARGIN_MS;
  const defaultLeaseSeconds = opts.defaultLeaseDurationSeconds ?? DEFAULT_LEASE_DURATION_SECONDS;
  const guard = opts.fullDisruptionGuard ?? true;
  const replaceFenced = opts.replaceFencedPods ?? true;
  const concurrency = Math.max(1, opts.concurrency ?? 16);

  const client = new KubeClient(opts.client.config, { userAgent: NODE_LIFECYCLE_USER_AGENT, fieldManager: NODE_LIFECYCLE_FIELD_MANAGER });
  const ownFactory = !opts.informers;
  const factory = opts.informers ?? new InformerFactory(client, { clock, logger: log });
  const ownRecorder = !opts.recorder;
  const recorder = opts.recorder ?? new EventRecorder({ client, component: NODE_CONTROLLER_COMPONENT, host: opts.identity, logger: log, clock });
  const abort = new AbortController();
  const signal = abort.signal;
  setMaxListeners(0, signal);
  const queue = new WorkQueue<string>({ name: 'node-lifecycle', clock, logger: log });

  const nodes = factory.informer<Node>(NODES);
  const leases = factory.informer<Lease>(LEASES, { namespace: NODE_LEASE_NAMESPACE });
  const pods = factory.informer<Pod>(PODS);
  const sets = factory.informer(STATEFULSETS);
  const claims = factory.informer<PersistentVolumeClaim>(CLAIMS);
  const volumes = factory.informer<PersistentVolume>(VOLUMES);

  // -- memory

  const health = new Map<string, NodeHealth>();
  /** Nodes announced with RegisteredNode. */
  const known = new Set<string>();
  /** Ready of each node as decided by the last pass. */
  const lastReady = new Map<string, ConditionStatus | undefined>();
  /** node \0 key \0 effect → controller time the taint was first seen. */
  const taintSeen = new Map<string, number>();
  /** pod uid → pending eviction countdown. */
  const countdowns = new Map<string, { since: number; key: string }>();
  /** `node/<name>` or `pod/<uid>` → resourceVersion this controller wrote. */
  const written = new Map<string, { rv: bigint; at: number }>();
  /** pod uid → when the eviction / force-delete was issued (not repeated while the cache lags). */
  const evicted = new Map<string, { at: number; key: string }>();
  const fenced = new Map<string, { at: number; key: string }>();
  /** set uid → invalid on-node-loss value already warned about. */
  const warnedInvalid = new Map<string, string>();
  let inFullDisruption = false;

  const observe = (name: string | undefined): void => {
    if (!name) return;
    const node = nodes.get(undefined, name);
    if (!node) return;
    health.set(name, observeNode(health.get(name), node, leases.get(NODE_LEASE_NAMESPACE, name), mono()));
  };

  const expectWrite = (key: string, obj: KubeObject | undefined): void => {
    const rv = rvNumber(obj?.metadata.resourceVersion);
    if (rv !== undefined) written.set(key, { rv, at: mono() });
  };
  /** The cache has not caught up with this controller's last write of the object. */
  const cacheBehind = (key: string, obj: KubeObject): boolean => {
    const w = written.get(key);
    if (!w) return false;
    const seen = rvNumber(obj.metadata.resourceVersion) ?? 0n;
    if (seen >= w.rv || mono() - w.at > EXPECTATION_TTL_MS) {
      written.delete(key);
      return false;
    }
    return true;
  };

  const nodeHasNoExecute = (name: string): boolean => {
    const n = nodes.get(undefined, name);
    return !!n && noExecuteTaints(taintsOf(n)).length > 0;
  };

  // -- handlers

  const unregister: (() => void)[] = [];
  unregister.push(
    nodes.addEventHandler({
      onAdd: (n) => {
        observe(n.metadata.name);
        queue.add(KEY);
      },
      onUpdate: (o, n) => {
        observe(n.metadata.name);
        if (significantNodeChange(o, n)) queue.add(KEY);
      },
      onDelete: () => queue.add(KEY),
    }),
    leases.addEventHandler({
      onAdd: (l) => {
        observe(l.metadata.name);
        if (lastReady.get(l.metadata.name ?? '') !== 'True') queue.add(KEY);
      },
      onUpdate: (_o, l) => {
        observe(l.metadata.name);
        if (lastReady.get(l.metadata.name ?? '') !== 'True') queue.add(KEY);
      },
    }),
    pods.addEventHandler({
      onAdd: (p) => {
        const n = p.spec?.nodeName;
        if (n && (lastReady.get(n) !== 'True' || nodeHasNoExecute(n))) queue.add(KEY);
      },
      onUpdate: (_o, p) => {
        const n = p.spec?.nodeName;
        if (n && (lastReady.get(n) !== 'True' || nodeHasNoExecute(n))) queue.add(KEY);
      },
    }),
  );

  // -- writes

  const writeNodeStatus = async (node: Node, conditions: NodeCondition[]): Promise<Node | undefined> => {
    const body: Node = {
      apiVersion: 'v1',
      kind: 'Node',
      metadata: { name: node.metadata.name, uid: node.metadata.uid, resourceVersion: node.metadata.resourceVersion },
      spec: node.spec,
      status: { ...(node.status ?? {}), conditions },
    };
    try {
      const out = await client.updateStatus<Node>(NODES, body, { signal });
      expectWrite(`node/${node.metadata.name}`, out);
      return out;
    } catch (e) {
      if (isConflict(e) || isNotFound(e)) {
        log.debug('node changed meanwhile; deciding again', { node: node.metadata.name });
        queue.add(KEY);
        return undefined;
      }
      throw e;
    }
  };

  const patchTaints = async (name: string, resourceVersion: string | undefined, taints: Taint[]): Promise<void> => {
    const patch = { metadata: { resourceVersion }, spec: { taints: taints.length > 0 ? taints : null } };
    try {
      expectWrite(`node/${name}`, await client.patch(NODES, undefined, name, patch, 'merge', { signal }));
    } catch (e) {
      if (isConflict(e) || isNotFound(e)) {
        queue.add(KEY);
        return;
      }
      throw e;
    }
  };

  const evictPod = async (pod: Pod, wallMs: number): Promise<void> => {
    recorder.event(podRef(pod), 'Normal', TAINT_EVICTION_REASON, evictionMessage(pod));
    log.info('evicting pod from tainted node', { pod: podKey(pod), node: pod.spec?.nodeName });
    const conditions = [...(pod.status?.conditions ?? []).filter((c) => c.type !== 'DisruptionTarget'), disruptionCondition(rfc3339(wallMs))];
    try {
      await client.updateStatus(PODS, { ...pod, apiVersion: 'v1', kind: 'Pod', status: { ...(pod.status ?? {}), conditions } }, { signal });
    } catch (e) {
      if (isNotFound(e)) return;
      log.debug('could not add the DisruptionTarget condition', { pod: podKey(pod), error: errText(e) });
    }
    try {
      await client.delete(PODS, pod.metadata.namespace, pod.metadata.name ?? '', { preconditions: { uid: pod.metadata.uid }, signal });
    } catch (e) {
      if (!isNotFound(e) && !isConflict(e)) throw e;
    }
  };

  const markNotReady = async (pod: Pod, wallMs: number): Promise<void> => {
    const body = { ...pod, apiVersion: 'v1', kind: 'Pod', status: { ...(pod.status ?? {}), conditions: notReadyConditions(pod, rfc3339(wallMs)) } };
    try {
      expectWrite(`pod/${pod.metadata.uid}`, await client.updateStatus(PODS, body, { signal }));
    } catch (e) {
      if (isConflict(e)) {
        queue.add(KEY);
        return;
      }
      if (isNotFound(e)) return;
      throw e;
    }
    recorder.event(podRef(pod), 'Warning', POD_NODE_NOT_READY_REASON, POD_NODE_NOT_READY_MESSAGE);
  };

  const forceDelete = async (node: Node, d: FencedDeletion, decidedFrom: NodeHealth): Promise<void> => {
    const nodeName = node.metadata.name ?? '';
    const pod = d.pod;
    if (d.why === 'lease') {
      // The agent may be back: a live read of its Lease, not the cache, decides.
      let live: Lease | undefined;
      try {
        live = await client.get<Lease>(LEASES, NODE_LEASE_NAMESPACE, nodeName, { signal });
      } catch (e) {
        if (!isNotFound(e)) throw e;
      }
      const current = health.get(nodeName) ?? decidedFrom;
      const after = live ? observeNode(current, node, live, mono()) : current;
      if (after !== decidedFrom) {
        health.set(nodeName, after);
        log.info('node renewed its lease; not deleting its pods', { node: nodeName, pod: podKey(pod) });
        return;
      }
    }
    const set = d.set ? setRef(d.set) : undefined;
    for (const c of d.deleteClaims) {
      try {
        await client.delete(CLAIMS, pod.metadata.namespace, c.name, { preconditions: { uid: c.uid }, signal });
      } catch (e) {
        if (!isNotFound(e) && !isConflict(e)) throw e;
      }
      log.info('deleted the claim of a pod on a lost node', { claim: `${pod.metadata.namespace}/${c.name}`, node: nodeName });
      if (set) recorder.event(set, 'Normal', REASON_VOLUME_RECREATED, volumeRecreatedMessage(c.name, pod.metadata.name ?? '', nodeName));
    }
    try {
      await client.delete(PODS, pod.metadata.namespace, pod.metadata.name ?? '', { gracePeriodSeconds: 0, preconditions: { uid: pod.metadata.uid }, signal });
    } catch (e) {
      if (!isNotFound(e) && !isConflict(e)) throw e;
      return;
    }
    const h = health.get(nodeName) ?? decidedFrom;
    const leaseMs = (h.leaseDurationSeconds ?? defaultLeaseSeconds) * 1000;
    const message = nodeLostMessage(d, nodeName, mono() - (h.leaseObservedAt ?? mono()), leaseMs, marginMs);
    log.warn('force-deleted a pod of a lost node', { pod: podKey(pod), node: nodeName, why: d.why });
    recorder.event(podRef(pod), 'Warning', REASON_NODE_LOST, message);
    if (set) {
      recorder.event(set, 'Warning', REASON_NODE_LOST, message);
      if (d.keptClaims.length > 0) recorder.event(set, 'Warning', REASON_WAITING_FOR_NODE, waitingForNodeMessage(d.keptClaims, pod.metadata.name ?? '', nodeName));
    }
  };

  // -- the monitor pass

  let passes = 0;
  let started = 0;
  let waiters: { seq: number; resolve: () => void }[] = [];

  const pass = async (): Promise<void> => {
    const seq = ++started;
    try {
      await monitor();
    } finally {
      passes++;
      const done = waiters.filter((w) => w.seq <= seq);
      waiters = waiters.filter((w) => w.seq > seq);
      for (const w of done) w.resolve();
    }
  };

  const monitor = async (): Promise<void> => {
    const now = mono();
    const wallMs = clock.now();
    const wall = rfc3339(wallMs);
    const all = nodes.list();
    const tasks: (() => Promise<void>)[] = [];
    let failures = 0;
    const task = (what: string, fn: () => Promise<void>): void => {
      tasks.push(async () => {
        try {
          await fn();
        } catch (e) {
          if (signal.aborted) return;
          failures++;
          log.warn(`${what} failed; retrying`, { error: errText(e) });
        }
      });
    };

    // 1. Heartbeats, and nodes that came or went.
    const names = new Set<string>();
    for (const node of all) {
      const name = node.metadata.name ?? '';
      names.add(name);
      health.set(name, observeNode(health.get(name), node, leases.get(NODE_LEASE_NAMESPACE, name), now));
      if (!known.has(name)) {
        known.add(name);
        recorder.event(nodeRef(name), 'Normal', 'RegisteredNode', nodeEventMessage(name, `Registered Node ${name} in Controller`));
      }
    }
    for (const name of [...known]) {
      if (names.has(name)) continue;
      known.delete(name);
      health.delete(name);
      lastReady.delete(name);
      recorder.event(nodeRef(name), 'Normal', 'RemovingNode', nodeEventMessage(name, `Removing Node ${name} from Controller`));
    }
    for (const k of [...health.keys()]) if (!names.has(k)) health.delete(k);

    // 2. Conditions.
    const states: NodeState[] = [];
    for (const node of all) {
      const name = node.metadata.name ?? '';
      const decision = decideNodeHealth(node, health.get(name)!, now, wall, grace);
      const effective: Node = decision.conditions ? { ...node, status: { ...(node.status ?? {}), conditions: decision.conditions } } : node;
      states.push({ node: effective, decision, ready: readyStatusOf(effective), taints: taintsOf(node), removing: [] });
      if (decision.observedReady === 'True' && decision.ready !== 'True' && !cacheBehind(`node/${name}`, node)) {
        recorder.event(nodeRef(name), 'Normal', 'NodeNotReady', nodeStatusMessage(name, 'NodeNotReady'));
        log.info('node is not ready', { node: name, ready: decision.ready });
      }
    }

    // 3. Full disruption: no node Ready → no NoExecute taints.
    const full = guard && isFullDisruption(states.map((s) => s.ready));
    if (full !== inFullDisruption) {
      inFullDisruption = full;
      if (full) log.warn('no node is ready: entering full-disruption mode; nothing is evicted', { nodes: states.length });
      else log.info('a node is ready again: leaving full-disruption mode');
    }

    // 4. Status and taints, node by node (the taint patch builds on the status write).
    for (const s of states) {
      const name = s.node.metadata.name ?? '';
      lastReady.set(name, s.ready);
      const cached = nodes.get(undefined, name) ?? s.node;
      const change = reconcileTaints(s.taints, wantedTaints(s.node, { noExecute: !full }), wall);
      if (change) s.removing = change.removed;
      if (cacheBehind(`node/${name}`, cached)) continue;
      const conditions = s.decision.conditions;
      if (!conditions && !change) continue;
      task(`update of node ${name}`, async () => {
        let rv = cached.metadata.resourceVersion;
        if (conditions) {
          const out = await writeNodeStatus(cached, conditions);
          if (!out) return;
          rv = out.metadata.resourceVersion;
        }
        if (change) {
          await patchTaints(name, rv, change.taints);
          log.info('node taints changed', { node: name, added: change.added.map(taintString), removed: change.removed.map(taintString) });
        }
      });
    }

    // 5. Pods on tainted or silent nodes.
    let nextAt = now + monitorPeriodMs;
    const visited = new Set<string>();
    const seenTaints = new Set<string>();
    const readyNodes = states.filter((s) => s.ready === 'True').map((s) => s.node);
    for (const s of states) {
      const name = s.node.metadata.name ?? '';
      if (!s.decision.expired) nextAt = Math.min(nextAt, s.decision.expiresAt + 1);
      const noExec = noExecuteTaints(s.taints).filter((t) => !s.removing.includes(t));
      for (const t of noExec) {
        const k = `${name}\u0000${t.key}\u0000${t.effect}`;
        seenTaints.add(k);
        if (!taintSeen.has(k)) taintSeen.set(k, now);
      }
      const unknown = s.ready === 'Unknown';
      const outOfService = s.ready !== 'True' && s.taints.some((t) => t.key === TAINT_OUT_OF_SERVICE);
      if (noExec.length === 0 && !unknown && !outOfService) continue;
      const onNode = pods.listByNodeName(name);

      for (const pod of onNode) {
        const uid = pod.metadata.uid ?? '';
        if (noExec.length > 0) {
          const prev = countdowns.get(uid);
          const verdict = decideEviction({
            pod,
            taints: noExec,
            now,
            scheduledSince: prev?.since,
            taintSince: (t) => taintStart(t, taintSeen.get(`${name}\u0000${t.key}\u0000${t.effect}`) ?? now, now, wallMs),
          });
          if (verdict.action === 'wait') {
            visited.add(uid);
            countdowns.set(uid, { since: verdict.since, key: podKey(pod) });
            nextAt = Math.min(nextAt, verdict.at);
          } else if (verdict.action === 'evict') {
            countdowns.delete(uid);
            if (!evicted.has(uid)) {
              evicted.set(uid, { at: now, key: podKey(pod) });
              task(`eviction of pod ${podKey(pod)}`, () =>
                evictPod(pod, wallMs).catch((e: unknown) => {
                  evicted.delete(uid);
                  throw e;
                }),
              );
            }
          }
        }
        if (unknown && needsNotReadyMark(pod, s.ready) && !cacheBehind(`pod/${uid}`, pod)) {
          task(`marking pod ${podKey(pod)} not ready`, () => markNotReady(pod, wallMs));
        }
      }

      if (!replaceFenced && !outOfService) continue;
      const h = health.get(name);
      if (!h) continue;
      const fence = decideFencedDeletions({
        node: s.node,
        ready: s.ready,
        health: h,
        pods: onNode,
        now,
        marginMs,
        defaultLeaseDurationSeconds: defaultLeaseSeconds,
        sets: { get: (ns, n) => sets.get(ns, n) },
        claims: { get: (ns, n) => claims.get(ns, n) },
        pvs: { get: (_ns, n) => volumes.get(undefined, n) },
        readyNodes,
      });
      if (fence.fenceAt !== undefined) nextAt = Math.min(nextAt, fence.fenceAt);
      for (const d of fence.deletions) {
        if (d.why === 'lease' && !replaceFenced) continue;
        const uid = d.pod.metadata.uid ?? '';
        if (d.set && d.invalidMode !== undefined && warnedInvalid.get(d.set.metadata.uid ?? '') !== d.invalidMode) {
          warnedInvalid.set(d.set.metadata.uid ?? '', d.invalidMode);
          recorder.event(setRef(d.set), 'Warning', REASON_INVALID_ON_NODE_LOSS, invalidOnNodeLossMessage(d.invalidMode));
        }
        if (fenced.has(uid)) continue;
        fenced.set(uid, { at: now, key: podKey(d.pod) });
        task(`force-delete of pod ${podKey(d.pod)}`, () =>
          forceDelete(s.node, d, h).catch((e: unknown) => {
            fenced.delete(uid);
            throw e;
          }),
        );
      }
    }

    // Forget what is over: countdowns of pods no longer due (cancelled: say so), taints gone,
    // issued deletions whose pods are gone (or stuck for long: try again).
    for (const [uid, c] of countdowns) {
      if (visited.has(uid)) continue;
      countdowns.delete(uid);
      const pod = pods.getByKey(c.key);
      if (pod && pod.metadata.uid === uid && !pod.metadata.deletionTimestamp) {
        recorder.event(podRef(pod), 'Normal', TAINT_EVICTION_REASON, cancelEvictionMessage(pod));
      }
    }
    for (const k of [...taintSeen.keys()]) if (!seenTaints.has(k)) taintSeen.delete(k);
    for (const m of [evicted, fenced]) {
      for (const [uid, e] of m) if (pods.getByKey(e.key)?.metadata.uid !== uid || now - e.at > 30_000) m.delete(uid);
    }
    for (const [k, w] of written) if (now - w.at > EXPECTATION_TTL_MS) written.delete(k);

    await runLimited(tasks, concurrency);
    if (signal.aborted) return;
    if (failures > 0) nextAt = Math.min(nextAt, mono() + RETRY_MS);
    queue.addAfter(KEY, Math.max(1, nextAt - mono()));
  };

  // -- start

  factory.start();
  try {
    await factory.waitForSync({ timeoutMs: opts.syncTimeoutMs, signal });
  } catch (e) {
    for (const u of unregister) u();
    if (ownFactory) await factory.stop();
    client.close();
    throw e;
  }
  queue.add(KEY);
  const workersDone = queue.runWorkers(1, pass, {
    onError: (_key, err, requeues) => {
      if (!signal.aborted) log.warn('monitor pass failed; retrying', { error: errText(err), retries: requeues });
    },
  });
  log.info('started', { gracePeriodMs: grace.gracePeriodMs, monitorPeriodMs, fenceMarginMs: marginMs });

  let stopped: Promise<void> | undefined;
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
    health: (name) => health.get(name),
    fullDisruption: () => inFullDisruption,
    stop(): Promise<void> {
      stopped ??= (async () => {
        for (const u of unregister) u();
        queue.shutDown();
        abort.abort(new Error('node lifecycle controller stopped'));
        await workersDone;
        for (const w of waiters) w.resolve();
        waiters = [];
        if (ownRecorder && recorder instanceof EventRecorder) await recorder.stop();
        if (ownFactory) await factory.stop();
        client.close();
        log.info('stopped');
      })();
      return stopped;
    },
  };
}

/** The node lifecycle controller for the controller manager, with other durations. */
export function nodeLifecycleControllerWith(options: Omit<NodeLifecycleOptions, 'client' | 'logger'>): ControllerFactory {
  return {
    name: 'node-lifecycle',
    start: (ctx: ControllerContext) => startNodeLifecycleController({ ...options, client: ctx.client, logger: ctx.logger }),
  };
}

/** The node lifecycle controller for the controller manager (Kubernetes' durations). */
export const nodeLifecycleController: ControllerFactory = nodeLifecycleControllerWith({});
