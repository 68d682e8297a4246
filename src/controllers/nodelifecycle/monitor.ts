// The node lifecycle controller's monitor pass, over every node at once: heartbeats and nodes
// that came or went (RegisteredNode / RemovingNode), conditions (health.ts: Ready → Unknown,
// NodeNotReady), full disruption (no node Ready → no NoExecute taints), taints (taints.ts),
// then the pods of tainted or silent nodes: taint-based eviction countdowns (eviction.ts),
// marking pods not ready on Unknown nodes, and the safe force-delete of a dead node's
// StatefulSet pods (fencing.ts). The writes run with bounded concurrency once the pass has
// decided; the next pass is due when the earliest decision falls due (a grace period running
// out, a toleration expiring, a fence time) or after the monitor period.
import type { Clock } from '../../client/clock.ts';
import type { KubeClient } from '../../client/rest.ts';
import type { Informer } from '../../client/informer.ts';
import { rfc3339, type Node, type PersistentVolume, type PersistentVolumeClaim, type Pod, type Taint } from '../../client/types.ts';
import type { Recorder } from '../../client/events.ts';
import type { Logger } from '../../util/log.ts';
import { ObjectWrites } from '../common/cache-sync.ts';
import { runLimited } from '../common/concurrency.ts';
import { errText } from '../common/errors.ts';
import { NODE_LEASE_NAMESPACE, decideNodeHealth, isFullDisruption, nodeEventMessage, nodeStatusMessage, observeNode, type HealthDecision, type HealthOptions, type Lease, type NodeHealth } from './health.ts';
import { TAINT_OUT_OF_SERVICE, reconcileTaints, readyStatusOf, taintString, taintsOf, wantedTaints, type ConditionStatus } from './taints.ts';
import { TAINT_EVICTION_REASON, cancelEvictionMessage, decideEviction, needsNotReadyMark, noExecuteTaints, podKey, taintStart } from './eviction.ts';
import { REASON_INVALID_ON_NODE_LOSS, decideFencedDeletions, invalidOnNodeLossMessage } from './fencing.ts';
import { NodeWriter, nodeRef, podRef, setRef } from './writes.ts';

/** Retry delay after failed writes. */
const RETRY_MS = 1_000;

export interface MonitorSettings {
  grace: HealthOptions;
  monitorPeriodMs: number;
  /** Fenced pods are force-deleted this long after the lease expired. */
  marginMs: number;
  defaultLeaseSeconds: number;
  /** Evict nothing when no node is Ready. */
  fullDisruptionGuard: boolean;
  /** Force-delete fenced StatefulSet pods. */
  replaceFencedPods: boolean;
  /** Writes in flight at once. */
  concurrency: number;
}

export interface MonitorCaches {
  nodes: Informer<Node>;
  leases: Informer<Lease>;
  pods: Informer<Pod>;
  sets: Informer;
  claims: Informer<PersistentVolumeClaim>;
  volumes: Informer<PersistentVolume>;
}

export interface MonitorDeps {
  caches: MonitorCaches;
  settings: MonitorSettings;
  client: KubeClient;
  recorder: Recorder;
  log: Logger;
  signal: AbortSignal;
  /** The wall clock (written timestamps). */
  clock: Clock;
  /** The monotonic clock durations are measured on. */
  mono: () => number;
  /** Run a pass soon (something changed under a write). */
  requeue(): void;
  /** Run the next pass after ms. */
  requeueAfter(ms: number): void;
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

/** What the controller remembers between passes, and the pass itself. */
export class NodeMonitor {
  readonly health = new Map<string, NodeHealth>();
  /** Ready of each node as decided by the last pass. */
  readonly lastReady = new Map<string, ConditionStatus | undefined>();
  /** Whether every node is not Ready (no NoExecute taints are applied). */
  fullDisruption = false;
  /** Nodes announced with RegisteredNode. */
  private readonly known = new Set<string>();
  /** node \0 key \0 effect → controller time the taint was first seen. */
  private readonly taintSeen = new Map<string, number>();
  /** pod uid → pending eviction countdown. */
  private readonly countdowns = new Map<string, { since: number; key: string }>();
  /** pod uid → when the eviction / force-delete was issued (not repeated while the cache lags). */
  private readonly evicted = new Map<string, { at: number; key: string }>();
  private readonly fenced = new Map<string, { at: number; key: string }>();
  /** set uid → invalid on-node-loss value already warned about. */
  private readonly warnedInvalid = new Map<string, string>();
  /** `node/<name>` or `pod/<uid>` → resourceVersion this controller wrote. */
  private readonly writes: ObjectWrites;
  private readonly writer: NodeWriter;

  constructor(private readonly d: MonitorDeps) {
    this.writes = new ObjectWrites(d.mono);
    this.writer = new NodeWriter({
      client: d.client,
      signal: d.signal,
      log: d.log,
      recorder: d.recorder,
      writes: this.writes,
      health: this.health,
      mono: d.mono,
      defaultLeaseSeconds: d.settings.defaultLeaseSeconds,
      marginMs: d.settings.marginMs,
      requeue: () => d.requeue(),
    });
  }

  /** Note a node's heartbeat or lease renewal the moment the informers deliver it. */
  observe(name: string | undefined): void {
    if (!name) return;
    const { nodes, leases } = this.d.caches;
    const node = nodes.get(undefined, name);
    if (!node) return;
    this.health.set(name, observeNode(this.health.get(name), node, leases.get(NODE_LEASE_NAMESPACE, name), this.d.mono()));
  }

  async pass(): Promise<void> {
    const { caches, settings, recorder, log, signal, mono } = this.d;
    const { nodes, leases, pods } = caches;
    const now = mono();
    const wallMs = this.d.clock.now();
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
      this.health.set(name, observeNode(this.health.get(name), node, leases.get(NODE_LEASE_NAMESPACE, name), now));
      if (!this.known.has(name)) {
        this.known.add(name);
        recorder.event(nodeRef(name), 'Normal', 'RegisteredNode', nodeEventMessage(name, `Registered Node ${name} in Controller`));
      }
    }
    for (const name of [...this.known]) {
      if (names.has(name)) continue;
      this.known.delete(name);
      this.health.delete(name);
      this.lastReady.delete(name);
      recorder.event(nodeRef(name), 'Normal', 'RemovingNode', nodeEventMessage(name, `Removing Node ${name} from Controller`));
    }
    for (const k of [...this.health.keys()]) if (!names.has(k)) this.health.delete(k);

    // 2. Conditions.
    const states: NodeState[] = [];
    for (const node of all) {
      const name = node.metadata.name ?? '';
      const decision = decideNodeHealth(node, this.health.get(name)!, now, wall, settings.grace);
      const effective: Node = decision.conditions ? { ...node, status: { ...(node.status ?? {}), conditions: decision.conditions } } : node;
      states.push({ node: effective, decision, ready: readyStatusOf(effective), taints: taintsOf(node), removing: [] });
      if (decision.observedReady === 'True' && decision.ready !== 'True' && !this.writes.behind(`node/${name}`, node)) {
        recorder.event(nodeRef(name), 'Normal', 'NodeNotReady', nodeStatusMessage(name, 'NodeNotReady'));
        log.info('node is not ready', { node: name, ready: decision.ready });
      }
    }

    // 3. Full disruption: no node Ready → no NoExecute taints.
    const full = settings.fullDisruptionGuard && isFullDisruption(states.map((s) => s.ready));
    if (full !== this.fullDisruption) {
      this.fullDisruption = full;
      if (full) log.warn('no node is ready: entering full-disruption mode; nothing is evicted', { nodes: states.length });
      else log.info('a node is ready again: leaving full-disruption mode');
    }

    // 4. Status and taints, node by node (the taint patch builds on the status write).
    for (const s of states) {
      const name = s.node.metadata.name ?? '';
      this.lastReady.set(name, s.ready);
      const cached = nodes.get(undefined, name) ?? s.node;
      const change = reconcileTaints(s.taints, wantedTaints(s.node, { noExecute: !full }), wall);
      if (change) s.removing = change.removed;
      if (this.writes.behind(`node/${name}`, cached)) continue;
      const conditions = s.decision.conditions;
      if (!conditions && !change) continue;
      task(`update of node ${name}`, async () => {
        let rv = cached.metadata.resourceVersion;
        if (conditions) {
          const out = await this.writer.nodeStatus(cached, conditions);
          if (!out) return;
          rv = out.metadata.resourceVersion;
        }
        if (change) {
          await this.writer.taints(name, rv, change.taints);
          log.info('node taints changed', { node: name, added: change.added.map(taintString), removed: change.removed.map(taintString) });
        }
      });
    }

    // 5. Pods on tainted or silent nodes.
    let nextAt = now + settings.monitorPeriodMs;
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
        if (!this.taintSeen.has(k)) this.taintSeen.set(k, now);
      }
      const unknown = s.ready === 'Unknown';
      const outOfService = s.ready !== 'True' && s.taints.some((t) => t.key === TAINT_OUT_OF_SERVICE);
      if (noExec.length === 0 && !unknown && !outOfService) continue;
      const onNode = pods.listByNodeName(name);

      for (const pod of onNode) {
        const uid = pod.metadata.uid ?? '';
        if (noExec.length > 0) {
          const prev = this.countdowns.get(uid);
          const verdict = decideEviction({
            pod,
            taints: noExec,
            now,
            scheduledSince: prev?.since,
            taintSince: (t) => taintStart(t, this.taintSeen.get(`${name}\u0000${t.key}\u0000${t.effect}`) ?? now, now, wallMs),
          });
          if (verdict.action === 'wait') {
            visited.add(uid);
            this.countdowns.set(uid, { since: verdict.since, key: podKey(pod) });
            nextAt = Math.min(nextAt, verdict.at);
          } else if (verdict.action === 'evict') {
            this.countdowns.delete(uid);
            if (!this.evicted.has(uid)) {
              this.evicted.set(uid, { at: now, key: podKey(pod) });
              task(`eviction of pod ${podKey(pod)}`, () =>
                this.writer.evict(pod, wallMs).catch((e: unknown) => {
                  this.evicted.delete(uid);
                  throw e;
                }),
              );
            }
          }
        }
        if (unknown && needsNotReadyMark(pod, s.ready) && !this.writes.behind(`pod/${uid}`, pod)) {
          task(`marking pod ${podKey(pod)} not ready`, () => this.writer.markNotReady(pod, wallMs));
        }
      }

      if (!settings.replaceFencedPods && !outOfService) continue;
      const h = this.health.get(name);
      if (!h) continue;
      const fence = decideFencedDeletions({
        node: s.node,
        ready: s.ready,
        health: h,
        pods: onNode,
        now,
        marginMs: settings.marginMs,
        defaultLeaseDurationSeconds: settings.defaultLeaseSeconds,
        sets: { get: (ns, n) => caches.sets.get(ns, n) },
        claims: { get: (ns, n) => caches.claims.get(ns, n) },
        pvs: { get: (_ns, n) => caches.volumes.get(undefined, n) },
        readyNodes,
      });
      if (fence.fenceAt !== undefined) nextAt = Math.min(nextAt, fence.fenceAt);
      for (const d of fence.deletions) {
        if (d.why === 'lease' && !settings.replaceFencedPods) continue;
        const uid = d.pod.metadata.uid ?? '';
        if (d.set && d.invalidMode !== undefined && this.warnedInvalid.get(d.set.metadata.uid ?? '') !== d.invalidMode) {
          this.warnedInvalid.set(d.set.metadata.uid ?? '', d.invalidMode);
          recorder.event(setRef(d.set), 'Warning', REASON_INVALID_ON_NODE_LOSS, invalidOnNodeLossMessage(d.invalidMode));
        }
        if (this.fenced.has(uid)) continue;
        this.fenced.set(uid, { at: now, key: podKey(d.pod) });
        task(`force-delete of pod ${podKey(d.pod)}`, () =>
          this.writer.forceDelete(s.node, d, h).catch((e: unknown) => {
            this.fenced.delete(uid);
            throw e;
          }),
        );
      }
    }

    this.forgetWhatIsOver(visited, seenTaints, now);

    await runLimited(tasks, settings.concurrency);
    if (signal.aborted) return;
    if (failures > 0) nextAt = Math.min(nextAt, mono() + RETRY_MS);
    this.d.requeueAfter(Math.max(1, nextAt - mono()));
  }

  /** Forget what is over: countdowns of pods no longer due (cancelled: say so), taints gone,
   *  issued deletions whose pods are gone (or stuck for long: try again), old writes. */
  private forgetWhatIsOver(visited: Set<string>, seenTaints: Set<string>, now: number): void {
    const { pods } = this.d.caches;
    for (const [uid, c] of this.countdowns) {
      if (visited.has(uid)) continue;
      this.countdowns.delete(uid);
      const pod = pods.getByKey(c.key);
      if (pod && pod.metadata.uid === uid && !pod.metadata.deletionTimestamp) {
        this.d.recorder.event(podRef(pod), 'Normal', TAINT_EVICTION_REASON, cancelEvictionMessage(pod));
      }
    }
    for (const k of [...this.taintSeen.keys()]) if (!seenTaints.has(k)) this.taintSeen.delete(k);
    for (const m of [this.evicted, this.fenced]) {
      for (const [uid, e] of m) if (pods.getByKey(e.key)?.metadata.uid !== uid || now - e.at > 30_000) m.delete(uid);
    }
    this.writes.prune();
  }
}
