// One scheduling decision, as a pure function: pre-filter, filter every node, then either score
// the feasible nodes and pick one, or explain — in kube-scheduler's exact words — why none fits:
//
//   0/3 nodes are available: 1 Insufficient cpu, 1 node(s) didn't match Pod's node
//   affinity/selector, 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }.
//   preemption: 0/3 nodes are available: 1 No preemption victims found for incoming pod,
//   2 Preemption is not helpful for scheduling.
//
// The reason counts are sorted as strings (Go's sort.Strings), the "preemption:" part is what
// DefaultPreemption's dry run concludes. kennel does not evict pods to make room: when lower-
// priority pods could be preempted, the message stops after the filter part (as Kubernetes'
// does when preemption goes ahead) and the pod waits.
import type { Node, Pod } from './types.ts';
import { buildNodeInfos, type NodeInfo } from './nodeinfo.ts';
import {
  newSchedulingContext,
  runFilters,
  runPreFilters,
  type ClaimInfo,
  type FilterStatus,
  type SchedulingContext,
} from './filters.ts';
import { scoreNodes, selectHost, DEFAULT_WEIGHTS, type NodeScore, type ScoreWeights } from './scores.ts';

export const NO_NODES_MESSAGE = 'no nodes available to schedule pods';
export const PREEMPTION_NOT_HELPFUL = 'Preemption is not helpful for scheduling';
export const NO_PREEMPTION_VICTIMS = 'No preemption victims found for incoming pod';

/** Why no node fits (kube-scheduler's Diagnosis). */
export interface Diagnosis {
  numAllNodes: number;
  /** Verdicts of the nodes that were filtered. */
  statuses: Map<string, FilterStatus>;
  /** The verdict of every node not in statuses (a pre-filter failure, or nodes it excluded). */
  absent?: FilterStatus;
  preFilterMsg?: string;
  postFilterMsg?: string;
}

/** FitError.Error(). */
export function fitErrorMessage(d: Diagnosis): string {
  let msg = `0/${d.numAllNodes} nodes are available:`;
  if (d.preFilterMsg) {
    msg += ` ${d.preFilterMsg}.`;
  } else {
    const counts = new Map<string, number>();
    for (const s of d.statuses.values()) for (const r of s.reasons) counts.set(r, (counts.get(r) ?? 0) + 1);
    if (d.statuses.size < d.numAllNodes && d.absent) {
      for (const r of d.absent.reasons) counts.set(r, (counts.get(r) ?? 0) + d.numAllNodes - d.statuses.size);
    }
    const parts = [...counts].map(([r, n]) => `${n} ${r}`);
    parts.sort(goStringCompare);
    if (parts.length) msg += ` ${parts.join(', ')}.`;
  }
  if (d.postFilterMsg) msg += ` ${d.postFilterMsg}`;
  return msg;
}

/** Byte-wise comparison of the UTF-8 encodings (Go's string order). */
function goStringCompare(a: string, b: string): number {
  const ba = Buffer.from(a, 'utf8');
  const bb = Buffer.from(b, 'utf8');
  return Buffer.compare(ba, bb);
}

/** Kubernetes truncates event and condition messages to 1024 bytes. */
export function truncateMessage(message: string, max = 1024): string {
  if (Buffer.byteLength(message, 'utf8') <= max) return message;
  const suffix = ' ...';
  const buf = Buffer.from(message, 'utf8').subarray(0, max - suffix.length);
  return buf.toString('utf8').replace(/\uFFFD$/, '') + suffix;
}

/**
 * DefaultPreemption's verdict when no node fits: the "preemption: …" message, or undefined when
 * evicting lower-priority pods on some node would make room (kennel does not preempt).
 */
export function preemptionMessage(ctx: SchedulingContext, nodes: readonly NodeInfo[], d: Diagnosis): string | undefined {
  if (ctx.preemptionPolicy === 'Never') return 'preemption: not eligible due to preemptionPolicy=Never.';
  const statuses = new Map<string, FilterStatus>();
  const notHelpful: FilterStatus = { code: 'UnschedulableAndUnresolvable', reasons: [PREEMPTION_NOT_HELPFUL], plugin: 'DefaultPreemption' };
  for (const ni of nodes) {
    const st = d.statuses.get(ni.name) ?? d.absent;
    if (!st || st.code === 'UnschedulableAndUnresolvable') {
      statuses.set(ni.name, notHelpful);
      continue;
    }
    const victims: string[] = [];
    for (const pi of ni.pods.values()) if (pi.priority < ctx.info.priority) victims.push(pi.uid);
    if (victims.length === 0) {
      statuses.set(ni.name, { code: 'UnschedulableAndUnresolvable', reasons: [NO_PREEMPTION_VICTIMS], plugin: 'DefaultPreemption' });
      continue;
    }
    const sim = ni.clone();
    for (const uid of victims) sim.removePod(uid);
    const after = runFilters(ctx, sim);
    if (!after) return undefined;
    statuses.set(ni.name, after);
  }
  return `preemption: ${fitErrorMessage({ numAllNodes: nodes.length, statuses })}`;
}

export type ScheduleResult =
  | {
      ok: true;
      node: string;
      /** Nodes that passed the filters. */
      feasible: number;
      /** Scores of the feasible nodes (absent when only one fit). */
      scores?: NodeScore[];
    }
  | {
      ok: false;
      /** The FailedScheduling event / PodScheduled condition message. */
      message: string;
      /** Set unless no node exists at all. */
      diagnosis?: Diagnosis;
      /** Plugins that rejected the pod somewhere (to decide which cluster changes may help). */
      plugins: Set<string>;
    };

export interface ScheduleOptions {
  weights?: ScoreWeights;
  /** Tie-break source; without one, ties go to the first node by name. */
  random?: () => number;
}

/** Decide where the pod goes among nodes (NodeInfos without a Node object are ignored). */
export function schedulePod(ctx: SchedulingContext, allNodes: readonly NodeInfo[], opts: ScheduleOptions = {}): ScheduleResult {
  const nodes = allNodes.filter((n) => n.node !== undefined);
  if (nodes.length === 0) return { ok: false, message: NO_NODES_MESSAGE, plugins: new Set(['NoNodes']) };
  const d: Diagnosis = { numAllNodes: nodes.length, statuses: new Map() };
  const pre = runPreFilters(ctx);
  if (pre.status) {
    d.absent = pre.status;
    d.preFilterMsg = pre.status.reasons.join(', ');
    return fail(ctx, nodes, d, new Set([pre.status.plugin]));
  }
  let candidates = nodes;
  if (pre.nodeNames) {
    const names = pre.nodeNames;
    candidates = nodes.filter((n) => names.has(n.name));
    d.absent = { code: 'UnschedulableAndUnresolvable', reasons: [`node(s) didn't satisfy plugin(s) [${[...pre.narrowedBy].sort().join(' ')}]`], plugin: pre.narrowedBy[0] };
  }
  const feasible: NodeInfo[] = [];
  const plugins = new Set<string>(pre.nodeNames ? pre.narrowedBy : []);
  for (const ni of candidates) {
    const st = runFilters(ctx, ni);
    if (st) {
      d.statuses.set(ni.name, st);
      plugins.add(st.plugin);
    } else feasible.push(ni);
  }
  if (feasible.length === 0) return fail(ctx, nodes, d, plugins);
  if (feasible.length === 1) return { ok: true, node: feasible[0].name, feasible: 1 };
  const scores = scoreNodes(ctx, feasible, opts.weights ?? DEFAULT_WEIGHTS);
  return { ok: true, node: selectHost(scores, opts.random), feasible: feasible.length, scores };
}

function fail(ctx: SchedulingContext, nodes: readonly NodeInfo[], d: Diagnosis, plugins: Set<string>): ScheduleResult {
  const post = preemptionMessage(ctx, nodes, d);
  if (post) d.postFilterMsg = post;
  return { ok: false, message: truncateMessage(fitErrorMessage(d)), diagnosis: d, plugins };
}

export interface PlainScheduleInput {
  pod: Pod;
  nodes: Node[];
  /** Pods already bound (spec.nodeName set); terminal ones are ignored. */
  pods?: Pod[];
  /** What is known of the pod's claims, by claim name. */
  claims?: ReadonlyMap<string, ClaimInfo>;
  weights?: ScoreWeights;
  random?: () => number;
}

/** schedulePod over plain objects: the pod, the nodes and the pods already on them. */
export function schedule(input: PlainScheduleInput): ScheduleResult {
  const infos = buildNodeInfos(input.nodes, input.pods ?? []);
  const ctx = newSchedulingContext(input.pod, input.claims);
  return schedulePod(ctx, infos, { weights: input.weights, random: input.random });
}
