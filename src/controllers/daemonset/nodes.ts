// Which nodes a DaemonSet runs on, and how its pods are tied to them (Kubernetes
// pkg/controller/daemon: NodeShouldRunDaemonPod, util.AddOrUpdateDaemonPodTolerations,
// util.ReplaceDaemonSetPodNodeNameNodeAffinity, util.GetTargetNodeName).
//
// A node runs the set's pod when the template's nodeName (if any) names it, its labels satisfy
// the template's nodeSelector and required node affinity, and every NoSchedule/NoExecute taint
// is tolerated — by the template's tolerations plus the ones every daemon pod gets:
//   node.kubernetes.io/not-ready, node.kubernetes.io/unreachable   Exists NoExecute (no seconds)
//   node.kubernetes.io/disk-pressure, memory-pressure, pid-pressure Exists NoSchedule
//   node.kubernetes.io/unschedulable                                 Exists NoSchedule
//   node.kubernetes.io/network-unavailable (hostNetwork pods only)  Exists NoSchedule
// A pod already there may stay when only NoSchedule taints are untolerated (shouldRun false,
// shouldContinueRunning true): a NoSchedule taint keeps new pods off but evicts nobody.
//
// Selector and taint matching are the scheduler's own (src/scheduler/filters.ts), so the
// controller and the scheduler never disagree about a node.
import type { KubeObject } from '../../registry/types.ts';
import { asArray, asRecord, isRecord } from '../../registry/validation.ts';
import { compileNodeSelector, findUntoleratedTaint, termsMatch } from '../../scheduler/filters.ts';
import type { NodeSelector, NodeSelectorTerm, Taint, Toleration } from '../../client/types.ts';
import { clone, isBeingDeleted, templateSpecOf } from './daemonset.ts';

type Obj = Record<string, unknown>;

export const TAINT_NOT_READY = 'node.kubernetes.io/not-ready';
export const TAINT_UNREACHABLE = 'node.kubernetes.io/unreachable';
export const TAINT_DISK_PRESSURE = 'node.kubernetes.io/disk-pressure';
export const TAINT_MEMORY_PRESSURE = 'node.kubernetes.io/memory-pressure';
export const TAINT_PID_PRESSURE = 'node.kubernetes.io/pid-pressure';
export const TAINT_UNSCHEDULABLE = 'node.kubernetes.io/unschedulable';
export const TAINT_NETWORK_UNAVAILABLE = 'node.kubernetes.io/network-unavailable';

/** The field a DaemonSet pod's required node affinity pins it with. */
export const NODE_NAME_FIELD = 'metadata.name';

/** The tolerations every daemon pod gets (hostNetwork pods also tolerate network-unavailable). */
export function daemonTolerations(hostNetwork: boolean): Toleration[] {
  const out: Toleration[] = [
    { key: TAINT_NOT_READY, operator: 'Exists', effect: 'NoExecute' },
    { key: TAINT_UNREACHABLE, operator: 'Exists', effect: 'NoExecute' },
    { key: TAINT_DISK_PRESSURE, operator: 'Exists', effect: 'NoSchedule' },
    { key: TAINT_MEMORY_PRESSURE, operator: 'Exists', effect: 'NoSchedule' },
    { key: TAINT_PID_PRESSURE, operator: 'Exists', effect: 'NoSchedule' },
    { key: TAINT_UNSCHEDULABLE, operator: 'Exists', effect: 'NoSchedule' },
  ];
  if (hostNetwork) out.push({ key: TAINT_NETWORK_UNAVAILABLE, operator: 'Exists', effect: 'NoSchedule' });
  return out;
}

function sameToleration(a: Toleration, b: Toleration): boolean {
  // Toleration.MatchToleration: key, operator, value and effect all equal.
  return (a.key ?? '') === (b.key ?? '') && (a.operator ?? '') === (b.operator ?? '') && (a.value ?? '') === (b.value ?? '') && (a.effect ?? '') === (b.effect ?? '');
}

/**
 * The pod spec's tolerations with the daemon tolerations added (AddOrUpdateTolerationInPodSpec
 * for each): a toleration matching one of them (same key, operator, value, effect) is replaced
 * by it — so a template's not-ready toleration with tolerationSeconds loses the seconds, as in
 * Kubernetes — others are kept in order and missing ones appended.
 */
export function withDaemonTolerations(podSpec: Obj): Toleration[] {
  let tolerations = asArray(podSpec.tolerations).filter(isRecord) as Toleration[];
  for (const t of daemonTolerations(podSpec.hostNetwork === true)) {
    let replaced = false;
    const next: Toleration[] = [];
    for (const existing of tolerations) {
      if (sameToleration(existing, t)) {
        next.push({ ...t });
        replaced = true;
      } else next.push(existing);
    }
    if (!replaced) next.push({ ...t });
    tolerations = next;
  }
  return tolerations;
}

export interface NodeVerdict {
  /** A pod should be created on the node if it has none. */
  shouldRun: boolean;
  /** A pod already on the node may stay (only NoSchedule taints are untolerated). */
  shouldContinueRunning: boolean;
}

const NEITHER: NodeVerdict = { shouldRun: false, shouldContinueRunning: false };

function stringMap(v: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, val] of Object.entries(asRecord(v))) if (typeof val === 'string') out[k] = val;
  return out;
}

function requiredNodeAffinity(podSpec: Obj): NodeSelector | undefined {
  const req = asRecord(asRecord(podSpec.affinity).nodeAffinity).requiredDuringSchedulingIgnoredDuringExecution;
  return isRecord(req) ? (req as NodeSelector) : undefined;
}

/** The template's nodeSelector and required node affinity admit the node (GetRequiredNodeAffinity). */
export function nodeMatchesTemplate(podSpec: Obj, node: KubeObject): boolean {
  const labels = node.metadata.labels ?? {};
  for (const [k, v] of Object.entries(stringMap(podSpec.nodeSelector))) if (labels[k] !== v) return false;
  const terms = compileNodeSelector(requiredNodeAffinity(podSpec));
  if (terms && !termsMatch(terms, labels, node.metadata.name ?? '')) return false;
  return true;
}

export function nodeTaints(node: KubeObject): Taint[] {
  return asArray(asRecord(node.spec).taints).filter(isRecord) as Taint[];
}

/**
 * NodeShouldRunDaemonPod for a template pod spec (tolerations not yet added) and a node.
 * Pass a precomputed `tolerations` (withDaemonTolerations) when checking many nodes.
 */
export function nodeVerdict(podSpec: Obj, node: KubeObject, tolerations: Toleration[] = withDaemonTolerations(podSpec)): NodeVerdict {
  const name = node.metadata.name ?? '';
  const nodeName = podSpec.nodeName;
  if (typeof nodeName === 'string' && nodeName !== '' && nodeName !== name) return NEITHER;
  if (!nodeMatchesTemplate(podSpec, node)) return NEITHER;
  const taints = nodeTaints(node);
  if (!findUntoleratedTaint(taints, tolerations)) return { shouldRun: true, shouldContinueRunning: true };
  const noExecute = taints.filter((t) => t.effect === 'NoExecute');
  return { shouldRun: false, shouldContinueRunning: !findUntoleratedTaint(noExecute, tolerations) };
}

/** Whether the set should run a pod on the node (its template, with the daemon tolerations). */
export function nodeShouldRunDaemonPod(ds: KubeObject, node: KubeObject): NodeVerdict {
  return nodeVerdict(templateSpecOf(ds), node);
}

/** Nodes the controller considers: nodes being deleted are skipped. */
export function liveNodes(nodes: KubeObject[]): KubeObject[] {
  return nodes.filter((n) => !isBeingDeleted(n) && typeof n.metadata.name === 'string' && n.metadata.name !== '');
}

// ---------------------------------------------------------------------------------------------
// Pinning pods to nodes

function pinTerm(nodeName: string): NodeSelectorTerm {
  return { matchFields: [{ key: NODE_NAME_FIELD, operator: 'In', values: [nodeName] }] };
}

/**
 * ReplaceDaemonSetPodNodeNameNodeAffinity: the affinity with its required node affinity set to
 * the single term `matchFields metadata.name In [<node>]`. Like Kubernetes, the term replaces
 * every required term the template had (the controller has already checked them against the
 * node); preferred node affinity and pod (anti-)affinity are kept.
 */
export function pinToNode(affinity: unknown, nodeName: string): Obj {
  const out = isRecord(affinity) ? clone(affinity) : {};
  const nodeAffinity = isRecord(out.nodeAffinity) ? out.nodeAffinity : {};
  const required = isRecord(nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution) ? nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution : {};
  required.nodeSelectorTerms = [pinTerm(nodeName)];
  nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution = required;
  out.nodeAffinity = nodeAffinity;
  return out;
}

/**
 * GetTargetNodeName: spec.nodeName once bound; before that, the node named by the first
 * `matchFields metadata.name In [x]` requirement (exactly one value) of the required node
 * affinity. Undefined when the pod names no node.
 */
export function targetNodeName(pod: KubeObject): string | undefined {
  const spec = asRecord(pod.spec);
  if (typeof spec.nodeName === 'string' && spec.nodeName !== '') return spec.nodeName;
  const terms = asArray(requiredNodeAffinity(spec)?.nodeSelectorTerms);
  for (const t of terms) {
    for (const r of asArray(asRecord(t).matchFields)) {
      const req = asRecord(r);
      if (req.key !== NODE_NAME_FIELD || req.operator !== 'In') continue;
      const values = asArray(req.values);
      return values.length === 1 && typeof values[0] === 'string' ? values[0] : undefined;
    }
  }
  return undefined;
}
