// Node health, decided the way Kubernetes' node lifecycle controller decides it
// (tryUpdateNodeHealth, v1.32), as pure functions of plain objects and the controller's clock.
//
// Heartbeats. A node shows it is alive in two ways: its agent renews the node's Lease in
// kube-node-lease (every 10 s), and it posts the Ready condition with a new lastHeartbeatTime.
// The controller never compares those timestamps with its own clock — the agent's clock may be
// anything. It only notices that one of them CHANGED, and remembers when (by its own clock) it
// noticed: that instant is the node's probe time (Kubernetes' probeTimestamp). A node whose
// probe time is older than the grace period (50 s by default; 60 s for a node that has never
// posted a Ready condition) is no longer heard from: its Ready, MemoryPressure, DiskPressure and
// PIDPressure conditions become Unknown with reason NodeStatusUnknown ("Kubelet stopped posting
// node status.") — or, for conditions never posted, NodeStatusNeverUpdated ("Kubelet never
// posted node status."). NetworkUnavailable is left alone, as Kubernetes leaves it.
//
// Unlike Kubernetes, any change of the Lease's renewTime counts as a renewal (Kubernetes wants
// it to move forward): an agent whose wall clock was stepped back keeps its node Ready.
//
// A restarted controller (or a new leader) has no memory: it counts every node as heard from at
// the moment it first sees it, so a node gets at least one full grace period after a failover
// before it is marked Unknown — never less.
import type { V1NodeCondition } from '@kubernetes/client-node';
import type { KubeObject } from '../../registry/types.ts';
import type { Node, Wire } from '../../client/types.ts';
import type { ConditionStatus } from './taints.ts';

export type NodeCondition = Wire<V1NodeCondition>;

export const DEFAULT_GRACE_PERIOD_MS = 50_000;
export const DEFAULT_STARTUP_GRACE_PERIOD_MS = 60_000;
export const DEFAULT_LEASE_DURATION_SECONDS = 40;
export const NODE_LEASE_NAMESPACE = 'kube-node-lease';

export const REASON_STATUS_UNKNOWN = 'NodeStatusUnknown';
export const MESSAGE_STATUS_UNKNOWN = 'Kubelet stopped posting node status.';
export const REASON_NEVER_UPDATED = 'NodeStatusNeverUpdated';
export const MESSAGE_NEVER_UPDATED = 'Kubelet never posted node status.';

/** The conditions set to Unknown when a node is no longer heard from. */
export const UNKNOWN_CONDITION_TYPES = ['Ready', 'MemoryPressure', 'DiskPressure', 'PIDPressure'] as const;

/** A coordination.k8s.io/v1 Lease as read from the API. */
export type Lease = KubeObject & {
  spec?: { holderIdentity?: string; leaseDurationSeconds?: number; renewTime?: string; acquireTime?: string };
};

/** What the controller remembers of one node between passes (Kubernetes' nodeHealthData). */
export interface NodeHealth {
  /** Controller time (ms) the node was last heard from: a new heartbeat or lease renewal. */
  probeAt: number;
  /** The Ready condition's lastHeartbeatTime as last seen ('' = none posted by the agent). */
  heartbeat: string;
  /** The Lease's spec.renewTime as last seen ('' = none). */
  leaseRenewTime: string;
  /** Controller time the Lease was last seen renewed (first seen counts); undefined = never seen. */
  leaseObservedAt?: number;
  /** spec.leaseDurationSeconds of the Lease as last seen renewed. */
  leaseDurationSeconds?: number;
}

function conditionOf(node: Node, type: string): NodeCondition | undefined {
  return (node.status?.conditions ?? []).find((c) => c.type === type);
}

/** The agent's heartbeat on the Ready condition ('' when the controller itself wrote it). */
export function agentHeartbeat(node: Node): string {
  const c = conditionOf(node, 'Ready');
  if (!c || c.reason === REASON_NEVER_UPDATED) return '';
  return typeof c.lastHeartbeatTime === 'string' ? c.lastHeartbeatTime : '';
}

function renewTimeOf(lease: Lease): string {
  const s = lease.spec ?? {};
  return typeof s.renewTime === 'string' ? s.renewTime : typeof s.acquireTime === 'string' ? s.acquireTime : '';
}

function leaseDurationOf(lease: Lease): number | undefined {
  const d = lease.spec?.leaseDurationSeconds;
  return typeof d === 'number' && d > 0 ? d : undefined;
}

/**
 * Fold what the caches show now into what the controller remembers of a node. `now` is the
 * controller's (monotonic) clock. Only changes move the probe time; the same objects seen again
 * leave the record as it is (the same object is returned).
 */
export function observeNode(prev: NodeHealth | undefined, node: Node, lease: Lease | undefined, now: number): NodeHealth {
  const heartbeat = agentHeartbeat(node);
  if (!prev) {
    return {
      probeAt: now,
      heartbeat,
      leaseRenewTime: lease ? renewTimeOf(lease) : '',
      leaseObservedAt: lease ? now : undefined,
      leaseDurationSeconds: lease ? leaseDurationOf(lease) : undefined,
    };
  }
  let next = prev;
  if (heartbeat !== prev.heartbeat) next = { ...next, heartbeat, probeAt: now };
  if (lease) {
    const renew = renewTimeOf(lease);
    if (renew !== prev.leaseRenewTime || prev.leaseObservedAt === undefined) {
      next = { ...next, leaseRenewTime: renew, probeAt: now, leaseObservedAt: now, leaseDurationSeconds: leaseDurationOf(lease) };
    }
  }
  return next;
}

export interface HealthOptions {
  /** How long a node with a Ready condition may go unheard (default 50 s). */
  gracePeriodMs: number;
  /** The same for a node that has never posted a Ready condition (default 60 s). */
  startupGracePeriodMs: number;
}

export interface HealthDecision {
  /** Ready as the node carries it now (undefined: no Ready condition). */
  observedReady?: ConditionStatus;
  /** Ready after this decision. */
  ready?: ConditionStatus;
  /** The node's new status.conditions, when the decision changes them. */
  conditions?: NodeCondition[];
  /** The node has not been heard from for longer than its grace period. */
  expired: boolean;
  /** Controller time after which the node counts as not heard from (probeAt + grace). */
  expiresAt: number;
}

/**
 * The node's conditions after `now` (controller clock). `wallNow` (RFC 3339) is what is written
 * into lastTransitionTime. Ready True is never written here: only the agent makes a node Ready.
 */
export function decideNodeHealth(node: Node, health: NodeHealth, now: number, wallNow: string, opts: HealthOptions): HealthDecision {
  const observed = conditionOf(node, 'Ready');
  const observedReady = observed ? (observed.status as ConditionStatus) : undefined;
  const grace = observed ? opts.gracePeriodMs : opts.startupGracePeriodMs;
  const expiresAt = health.probeAt + grace;
  const expired = now > expiresAt;
  if (!expired) return { observedReady, ready: observedReady, expired, expiresAt };

  const conditions: NodeCondition[] = (node.status?.conditions ?? []).map((c) => ({ ...c }));
  let changed = false;
  for (const type of UNKNOWN_CONDITION_TYPES) {
    const c = conditions.find((x) => x.type === type);
    if (!c) {
      conditions.push({
        type,
        status: 'Unknown',
        reason: REASON_NEVER_UPDATED,
        message: MESSAGE_NEVER_UPDATED,
        lastHeartbeatTime: node.metadata.creationTimestamp ?? wallNow,
        lastTransitionTime: wallNow,
      });
      changed = true;
    } else if (c.status !== 'Unknown') {
      c.status = 'Unknown';
      c.reason = REASON_STATUS_UNKNOWN;
      c.message = MESSAGE_STATUS_UNKNOWN;
      c.lastTransitionTime = wallNow;
      changed = true;
    }
  }
  return { observedReady, ready: 'Unknown', expired, expiresAt, conditions: changed ? conditions : undefined };
}

/**
 * Full disruption (Kubernetes' handleDisruption with every zone fully disrupted): there are
 * nodes and none of them is Ready. Then it is more likely that the control plane lost the
 * network than that every machine died, and no pod is evicted: the NoExecute taints are not
 * added (and removed where present). kennel treats the cluster as one zone.
 */
export function isFullDisruption(ready: readonly (ConditionStatus | undefined)[]): boolean {
  return ready.length > 0 && ready.every((r) => r !== 'True');
}

/** `Node <name> status is now: <status>` (RecordNodeStatusChange). */
export function nodeStatusMessage(name: string, status: string): string {
  return `Node ${name} status is now: ${status}`;
}

/** `Node <name> event: <what>` (RecordNodeEvent). */
export function nodeEventMessage(name: string, what: string): string {
  return `Node ${name} event: ${what}`;
}
