// Beyond Kubernetes: the safe replacement of a dead node's StatefulSet pods.
//
// Kubernetes leaves a StatefulSet pod on an unreachable node Terminating for ever: the taint
// manager deletes it gracefully, only the node's kubelet could confirm the containers are gone,
// and until then the StatefulSet controller must not create a second pod of the same identity
// (two `web-0`s writing one volume or claiming one cluster membership). kennel closes the gap with
// self-fencing, timed by lease durations so that no clock is ever compared with another:
//
//   AGENT  — stops its own fenceable pods once its lease would have expired;
//   SERVER — once that moment has surely passed, plus a margin, knows the pods are dead and
//            force-deletes them (grace 0, uid precondition); the StatefulSet controller then
//            creates them again, and the scheduler puts them on a healthy node.
//
// THE TIMING RULE (at no moment may two pods of one identity run)
//
// Every party measures durations only, on its own monotonic clock (not the wall clock, which NTP
// may step). ρ bounds how far any clock's RATE differs from real time (quartz with NTP slewing:
// ≤ 500 ppm; we assume ρ ≤ 0.001). L is the lease duration the agent writes into its Lease
// (spec.leaseDurationSeconds, 40 s) and M the fence margin (10 s by default).
//
//   agent:  S = the instant the agent SENT the last lease renewal that succeeded. By S + L on its
//           clock every fenceable container of the node is dead (killed, not merely signalled),
//           unless a later renewal succeeded first. In real time: by s + L(1 + ρ).
//   server: the renewal was committed at c ≥ s and seen by this controller at o ≥ c (the lease
//           informer's delivery; a controller that just started counts its first sight). It
//           force-deletes only when its clock shows L + M elapsed since o with no newer renewal
//           seen, and only after a live read of the Lease confirms no renewal happened since. In
//           real time: not before o + (L + M)(1 − ρ) ≥ s + (L + M)(1 − ρ).
//
//   safe ⇔ s + L(1 + ρ) + K ≤ s + (L + M)(1 − ρ) ⇔ K ≤ M − ρ(2L + M)
//
// where K is how late the agent may be in killing its containers. With L = 40 s, M = 10 s and
// ρ = 0.001: K ≤ 9.9 s (maxAgentLatenessMs). The replacement pod starts later still (create,
// schedule, pull, start).
//
// The agent (src/agent/fencing.ts) starts fencing at S + L − lead (lead = L/8, at most 5 s) and
// stops each container with a grace period cut so that its SIGKILL is sent at least 1 s before
// S + L: on time, K ≤ 0, and the whole margin is left for a slow machine (a blocked event loop,
// a slow runtime). Its clock is CLOCK_BOOTTIME, which keeps counting through a suspend.
// S must be the SEND time: the server may see a renewal whose response the agent never got (no
// harm: the agent fences earlier than needed), but an agent counting from the RESPONSE could
// fence after the server has already replaced its pods.
//
// An agent that is dead (crashed, SIGKILLed, hung, stopped) fences nothing itself: its fence
// watchdog (src/agent/fence-watchdog.ts), a separate process that outlives it, kills the node's
// fenceable containers by the same deadline. The agent says so on its Node: annotation
// kennel.dev/fencing = watchdog (agent: a simulated runtime, where no container outlives the
// agent). On a node without it (an agent without fencing, another kubelet) nothing is replaced:
// the pods wait for their node, as in Kubernetes.
//
// The server acts only on pods that are (0) on a node annotated kennel.dev/fencing (watchdog or
// agent; the out-of-service taint below needs none), (1) bound to a node whose Ready is Unknown,
// (2) controlled by an apps/v1 StatefulSet (isFenceablePod), (3) Terminating, or not tolerating the
// unreachable taint for ever — the default 300 s toleration does not hold the pod: its agent has
// stopped it, so waiting for the eviction would only keep the identity down (the issue's "runs
// elsewhere within a minute") — and (4) past the node's fence time. A pod that tolerates the
// taint for ever (no tolerationSeconds) is replaced only once deleted. The agent never restarts a
// fenced pod before it has renewed its lease and then read the pod afresh (finding it
// Terminating or gone), so a returning agent cannot race the force-delete.
//
// Per set, the annotation `kennel.dev/on-node-loss` says what happens to a claim whose volume
// can live only on the lost node (a local PersistentVolume whose node affinity no Ready node
// satisfies, or a claim provisioned for that node and not bound yet):
//   wait (default)  — Kubernetes' behaviour: the claim stays; the new pod is Pending until the
//                     node returns (a Warning WaitingForNode event says so);
//   recreate-volume — the claim is deleted first (uid precondition), so the StatefulSet
//                     controller provisions a fresh one wherever the new pod is scheduled (for
//                     replicated databases that re-sync a member). The old volume is left to its
//                     reclaim policy.
// Another value counts as wait, with a Warning InvalidOnNodeLoss event on the set.
//
// Also (Kubernetes' PodGC with non-graceful node shutdown): the Terminating pods of a node that
// is not Ready and carries the node.kubernetes.io/out-of-service taint, which an administrator
// sets to state that the node is down for good, are force-deleted at once, whatever owns them.
import type { KubeObject } from '../../registry/types.ts';
import type { Node, PersistentVolume, PersistentVolumeClaim, Pod } from '../../client/types.ts';
import { ANN_SELECTED_NODE } from '../../client/types.ts';
import { compileNodeSelector, termsMatch } from '../../scheduler/filters.ts';
import { claimTemplateName, claimTemplatesOf } from '../statefulset/set.ts';
import type { NodeHealth } from './health.ts';
import { TAINT_OUT_OF_SERVICE, readyStatusOf, taintsOf, type ConditionStatus } from './taints.ts';

export const ANNOTATION_ON_NODE_LOSS = 'kennel.dev/on-node-loss';
export type OnNodeLoss = 'wait' | 'recreate-volume';
export const ON_NODE_LOSS_VALUES: readonly OnNodeLoss[] = ['wait', 'recreate-volume'];
export const DEFAULT_FENCE_MARGIN_MS = 10_000;
/** ρ: how far any clock's rate may differ from real time (NTP-disciplined quartz: ≤ 500 ppm). */
export const CLOCK_RATE_BOUND = 0.001;

/**
 * K: how late (ms, real time) an agent may be past its deadline S + L in having its containers
 * dead, for a server that force-deletes L + margin after it saw the renewal — M − ρ(2L + M).
 */
export function maxAgentLatenessMs(leaseDurationSeconds: number, marginMs: number, rho = CLOCK_RATE_BOUND): number {
  return marginMs - rho * (2 * leaseDurationSeconds * 1000 + marginMs);
}

/** Node annotation, set by the node's agent: how its fenceable containers die by the deadline. */
export const ANNOTATION_FENCING = 'kennel.dev/fencing';
/** watchdog: the agent and its fence watchdog (which outlives it); agent: the agent alone, for a
 *  runtime whose containers cannot outlive it (simulated). */
export type FencingMode = 'watchdog' | 'agent';

/** Whether the node's StatefulSet pods may be replaced once its lease + margin has passed. */
export function isFencingNode(node: KubeObject): boolean {
  const v = node.metadata.annotations?.[ANNOTATION_FENCING];
  return v === 'watchdog' || v === 'agent';
}

export const REASON_NODE_LOST = 'NodeLost';
export const REASON_VOLUME_RECREATED = 'VolumeRecreated';
export const REASON_WAITING_FOR_NODE = 'WaitingForNode';
export const REASON_INVALID_ON_NODE_LOSS = 'InvalidOnNodeLoss';

/**
 * Whether a pod is one the server may force-delete after its node's fence time — so the agent
 * must stop it when its own lease would have expired: a pod controlled by an apps StatefulSet.
 */
/** Whether the pod tolerates node.kubernetes.io/unreachable:NoExecute with no time limit. */
export function toleratesUnreachableForever(pod: Pod): boolean {
  return (pod.spec?.tolerations ?? []).some((t) => {
    const keyMatches = t.operator === 'Exists' && !t.key ? true : t.key === 'node.kubernetes.io/unreachable';
    const effectMatches = !t.effect || t.effect === 'NoExecute';
    return keyMatches && effectMatches && (t.tolerationSeconds === undefined || t.tolerationSeconds === null);
  });
}

export function isFenceablePod(pod: KubeObject): boolean {
  const ref = pod.metadata.ownerReferences?.find((r) => r.controller === true);
  return !!ref && ref.kind === 'StatefulSet' && (ref.apiVersion === 'apps/v1' || ref.apiVersion.startsWith('apps/'));
}

/**
 * For the agent: the instant (its monotonic clock, ms) by which its fenceable pods must be dead,
 * given when it SENT the last lease renewal that succeeded and the leaseDurationSeconds that
 * renewal wrote.
 */
export function agentFenceDeadline(lastRenewalSentAt: number, leaseDurationSeconds: number): number {
  return lastRenewalSentAt + leaseDurationSeconds * 1000;
}

/**
 * For the server: the controller time after which a silent node's fenceable pods are known dead
 * (lease last seen renewed + lease duration + margin); undefined when no Lease was ever seen
 * (no fencing agent: nothing is force-deleted).
 */
export function serverFenceTime(health: NodeHealth, marginMs: number, defaultLeaseDurationSeconds: number): number | undefined {
  if (health.leaseObservedAt === undefined) return undefined;
  return health.leaseObservedAt + (health.leaseDurationSeconds ?? defaultLeaseDurationSeconds) * 1000 + marginMs;
}

/** The set's on-node-loss mode; `invalid` is the value when it is not one kennel knows. */
export function onNodeLossOf(set: KubeObject | undefined): { mode: OnNodeLoss; invalid?: string } {
  const v = set?.metadata.annotations?.[ANNOTATION_ON_NODE_LOSS];
  if (v === undefined || v === '') return { mode: 'wait' };
  if ((ON_NODE_LOSS_VALUES as readonly string[]).includes(v)) return { mode: v as OnNodeLoss };
  return { mode: 'wait', invalid: v };
}

export function invalidOnNodeLossMessage(value: string): string {
  return `annotation ${ANNOTATION_ON_NODE_LOSS}: unknown value ${JSON.stringify(value)} (use wait or recreate-volume); using wait`;
}

interface Lookup<T> {
  get(namespace: string | undefined, name: string): T | undefined;
}

/** The claim names of the pod that are its set's per-ordinal claims (`<template>-<pod>`). */
export function perOrdinalClaimNames(pod: Pod, set: KubeObject): string[] {
  const referenced = new Set((pod.spec?.volumes ?? []).map((v) => v.persistentVolumeClaim?.claimName).filter((n): n is string => !!n));
  const out: string[] = [];
  for (const t of claimTemplatesOf(set)) {
    const name = `${claimTemplateName(t)}-${pod.metadata.name ?? ''}`;
    if (referenced.has(name)) out.push(name);
  }
  return out;
}

/**
 * Whether a claim's volume can live only on `node`: its PV's required node affinity matches
 * `node` and none of `elsewhere` (the Ready nodes); an unbound claim counts when it was
 * provisioned for that node (volume.kubernetes.io/selected-node). A PV without node affinity
 * (network storage) is not node-bound.
 */
export function isNodeBoundClaim(claim: PersistentVolumeClaim, pvs: Lookup<PersistentVolume>, node: Node, elsewhere: readonly Node[]): boolean {
  const nodeName = node.metadata.name ?? '';
  const volumeName = claim.spec?.volumeName;
  const pv = volumeName ? pvs.get(undefined, volumeName) : undefined;
  if (!pv) return claim.metadata.annotations?.[ANN_SELECTED_NODE] === nodeName;
  const terms = compileNodeSelector(pv.spec?.nodeAffinity?.required);
  if (!terms) return false;
  const matches = (n: Node): boolean => termsMatch(terms, n.metadata.labels ?? {}, n.metadata.name);
  return matches(node) && !elsewhere.some((n) => n.metadata.name !== nodeName && matches(n));
}

export interface FencedDeletion {
  pod: Pod;
  /** lease: the node's fence time passed; out-of-service: the administrator's taint. */
  why: 'lease' | 'out-of-service';
  /** The controlling StatefulSet, when it exists. */
  set?: KubeObject;
  mode: OnNodeLoss;
  /** The set's annotation value when it is not valid. */
  invalidMode?: string;
  /** Claims to delete before the pod (recreate-volume). */
  deleteClaims: { name: string; uid: string }[];
  /** Node-bound claims kept (wait): the new pod will wait for the node. */
  keptClaims: string[];
}

export interface FenceInput {
  node: Node;
  /** The node's Ready after this pass's decision. */
  ready: ConditionStatus | undefined;
  health: NodeHealth;
  /** The pods bound to the node. */
  pods: readonly Pod[];
  /** Controller time now. */
  now: number;
  marginMs: number;
  defaultLeaseDurationSeconds: number;
  sets: Lookup<KubeObject>;
  claims: Lookup<PersistentVolumeClaim>;
  pvs: Lookup<PersistentVolume>;
  /** The Ready nodes (where a node-bound volume could otherwise live). */
  readyNodes: readonly Node[];
}

export interface FenceDecision {
  deletions: FencedDeletion[];
  /** Controller time when pods of this node become deletable (Terminating fenceable pods wait). */
  fenceAt?: number;
}

/** The pods of one node to force-delete now, and when to look again. */
export function decideFencedDeletions(input: FenceInput): FenceDecision {
  const { node } = input;
  const outOfService = input.ready !== 'True' && taintsOf(node).some((t) => t.key === TAINT_OUT_OF_SERVICE);
  const fenceAt = input.ready === 'Unknown' && isFencingNode(node) ? serverFenceTime(input.health, input.marginMs, input.defaultLeaseDurationSeconds) : undefined;
  const fenced = fenceAt !== undefined && input.now >= fenceAt;
  const deletions: FencedDeletion[] = [];
  let waiting = false;
  for (const pod of input.pods) {
    if (pod.spec?.nodeName !== node.metadata.name) continue;
    const fenceable = isFenceablePod(pod);
    const terminating = !!pod.metadata.deletionTimestamp;
    if (!terminating && !(fenceable && !toleratesUnreachableForever(pod))) continue;
    let why: FencedDeletion['why'];
    if (outOfService && terminating) why = 'out-of-service';
    else if (fenceable && fenced) why = 'lease';
    else {
      if (fenceable && fenceAt !== undefined) waiting = true;
      continue;
    }
    const ref = fenceable ? pod.metadata.ownerReferences?.find((r) => r.controller === true) : undefined;
    const candidate = ref ? input.sets.get(pod.metadata.namespace, ref.name) : undefined;
    const set = candidate && candidate.metadata.uid === ref?.uid ? candidate : undefined;
    const { mode, invalid } = onNodeLossOf(set);
    const deleteClaims: { name: string; uid: string }[] = [];
    const keptClaims: string[] = [];
    if (set) {
      for (const name of perOrdinalClaimNames(pod, set)) {
        const claim = input.claims.get(pod.metadata.namespace, name);
        if (!claim || claim.metadata.deletionTimestamp || !isNodeBoundClaim(claim, input.pvs, node, input.readyNodes)) continue;
        if (mode === 'recreate-volume' && claim.metadata.uid) deleteClaims.push({ name, uid: claim.metadata.uid });
        else keptClaims.push(name);
      }
    }
    deletions.push({ pod, why, set, mode, invalidMode: invalid, deleteClaims, keptClaims });
  }
  return { deletions, fenceAt: waiting ? fenceAt : undefined };
}

/** Whole seconds, for messages. */
function secs(ms: number): string {
  return `${Math.round(ms / 1000)}s`;
}

/** The Warning NodeLost message on the pod and its set. */
export function nodeLostMessage(d: FencedDeletion, nodeName: string, silentForMs: number, leaseMs: number, marginMs: number): string {
  const pod = d.pod.metadata.name ?? '';
  if (d.why === 'out-of-service') {
    return `node ${nodeName} is not ready and tainted ${TAINT_OUT_OF_SERVICE}: force-deleting pod ${pod}`;
  }
  const owner = d.set ? ` so that StatefulSet ${d.set.metadata.name} can recreate it on another node` : '';
  return `node ${nodeName} has not renewed its lease for ${secs(silentForMs)} (lease ${secs(leaseMs)} + fence margin ${secs(marginMs)}): its agent has stopped pod ${pod}; force-deleting it${owner}`;
}

export function volumeRecreatedMessage(claim: string, pod: string, nodeName: string): string {
  return `claim ${claim} of pod ${pod} is a volume on lost node ${nodeName}: deleted it so that a fresh claim is provisioned (${ANNOTATION_ON_NODE_LOSS}: recreate-volume)`;
}

export function waitingForNodeMessage(claims: readonly string[], pod: string, nodeName: string): string {
  const list = claims.join(', ');
  return `pod ${pod} will stay Pending until node ${nodeName} returns: claim ${list} is a volume on that node (set ${ANNOTATION_ON_NODE_LOSS}: recreate-volume to provision a fresh claim elsewhere)`;
}

/** Ready nodes among `nodes` (by the decided Ready of each, falling back to the object's). */
export function readyNodesOf(nodes: readonly Node[], ready: (n: Node) => ConditionStatus | undefined = readyStatusOf): Node[] {
  return nodes.filter((n) => ready(n) === 'True');
}
