// The scheduler's scores: how good each feasible node is for the pod, 0–100 per plugin after
// normalization, summed with the plugin weights kube-scheduler uses by default.
// - NodeResourcesFit (LeastAllocated, cpu and memory weight 1 each): free share of allocatable
//   after placing the pod, counting 100m/200 MiB for containers without requests.
// - TaintToleration: fewer untolerated PreferNoSchedule taints is better (weight 3).
// - NodeAffinity: sum of the weights of the preferred terms the node matches (weight 2).
// - PodSpread: fewer pods of the same controller owner (ownerReference uid) is better
//   (weight 2; node-level, in the manner of the SelectorSpread plugin).
// The node with the highest total wins; ties go to a node chosen uniformly at random with the
// random source given (kube-scheduler's reservoir sampling), or, without one, to the first name.
import type { NodeInfo } from './nodeinfo.ts';
import type { SchedulingContext } from './filters.ts';
import { termMatches, tolerationsTolerateTaint } from './filters.ts';

export const MAX_NODE_SCORE = 100;

export interface ScoreWeights {
  nodeResourcesFit: number;
  taintToleration: number;
  nodeAffinity: number;
  podSpread: number;
}

export const DEFAULT_WEIGHTS: Readonly<ScoreWeights> = { nodeResourcesFit: 1, taintToleration: 3, nodeAffinity: 2, podSpread: 2 };

/** leastRequestedScore: share of capacity left, 0 when over-committed or no capacity. */
export function leastRequestedScore(requested: number, capacity: number): number {
  if (capacity === 0 || requested > capacity) return 0;
  return Math.floor(((capacity - requested) * MAX_NODE_SCORE) / capacity);
}

/** LeastAllocated over cpu and memory (weights 1), with non-zero requests; 0–100. */
export function leastAllocatedScore(ctx: SchedulingContext, ni: NodeInfo): number {
  let score = 0;
  let weights = 0;
  const cpuCap = ni.allocatable.milliCPU;
  if (cpuCap !== 0) {
    score += leastRequestedScore(ni.nonZeroCPU + ctx.info.nonZeroCPU, cpuCap);
    weights++;
  }
  const memCap = ni.allocatable.memory;
  if (memCap !== 0) {
    score += leastRequestedScore(ni.nonZeroMemory + ctx.info.nonZeroMemory, memCap);
    weights++;
  }
  return weights === 0 ? 0 : Math.floor(score / weights);
}

/** Untolerated PreferNoSchedule taints on the node (raw; normalized reversed). */
export function intolerablePreferNoScheduleTaints(ctx: SchedulingContext, ni: NodeInfo): number {
  let n = 0;
  for (const t of ni.taints) {
    if (t.effect !== 'PreferNoSchedule') continue;
    if (!tolerationsTolerateTaint(ctx.preferNoScheduleTolerations, t)) n++;
  }
  return n;
}

/** Sum of the weights of the preferred node affinity terms the node matches (raw). */
export function preferredAffinityScore(ctx: SchedulingContext, ni: NodeInfo): number {
  let s = 0;
  for (const p of ctx.preferred) if (termMatches(p.term, ni.labels, ni.name)) s += p.weight;
  return s;
}

/** DefaultNormalizeScore: scale to 0–100 by the maximum; reverse turns it upside down. */
export function defaultNormalizeScore(scores: number[], reverse: boolean): number[] {
  let max = 0;
  for (const s of scores) if (s > max) max = s;
  if (max === 0) return scores.map(() => (reverse ? MAX_NODE_SCORE : 0));
  return scores.map((s) => {
    const v = Math.floor((MAX_NODE_SCORE * s) / max);
    return reverse ? MAX_NODE_SCORE - v : v;
  });
}

/** Spread of one owner's pods: 100 on nodes with none of them, less as they hold more. */
export function spreadScores(ctx: SchedulingContext, nodes: readonly NodeInfo[]): number[] {
  const owner = ctx.info.ownerUid;
  if (!owner) return nodes.map(() => 0);
  const counts = nodes.map((ni) => ni.ownerCounts.get(owner) ?? 0);
  let max = 0;
  for (const c of counts) if (c > max) max = c;
  if (max === 0) return counts.map(() => MAX_NODE_SCORE);
  return counts.map((c) => Math.floor((MAX_NODE_SCORE * (max - c)) / max));
}

export interface NodeScore {
  name: string;
  total: number;
  /** Normalized per-plugin scores (before weights). */
  nodeResourcesFit: number;
  taintToleration: number;
  nodeAffinity: number;
  podSpread: number;
}

/** Score every feasible node. */
export function scoreNodes(ctx: SchedulingContext, nodes: readonly NodeInfo[], weights: ScoreWeights = DEFAULT_WEIGHTS): NodeScore[] {
  const fit = nodes.map((ni) => leastAllocatedScore(ctx, ni));
  const taint = defaultNormalizeScore(
    nodes.map((ni) => intolerablePreferNoScheduleTaints(ctx, ni)),
    true,
  );
  const affinity = ctx.preferred.length ? defaultNormalizeScore(nodes.map((ni) => preferredAffinityScore(ctx, ni)), false) : nodes.map(() => 0);
  const spread = spreadScores(ctx, nodes);
  return nodes.map((ni, i) => ({
    name: ni.name,
    nodeResourcesFit: fit[i],
    taintToleration: taint[i],
    nodeAffinity: affinity[i],
    podSpread: spread[i],
    total: fit[i] * weights.nodeResourcesFit + taint[i] * weights.taintToleration + affinity[i] * weights.nodeAffinity + spread[i] * weights.podSpread,
  }));
}

/**
 * The best node. Among equal totals: with `random` (values in [0,1)), one of them uniformly
 * (ordered by name, so a seeded source gives a reproducible choice); without, the first by name.
 */
export function selectHost(scores: readonly NodeScore[], random?: () => number): string {
  if (scores.length === 0) throw new Error('selectHost needs at least one node');
  let max = -Infinity;
  for (const s of scores) if (s.total > max) max = s.total;
  const best: string[] = [];
  for (const s of scores) if (s.total === max) best.push(s.name);
  if (best.length === 1) return best[0];
  best.sort();
  if (!random) return best[0];
  const i = Math.min(best.length - 1, Math.floor(random() * best.length));
  return best[i];
}

/** A small seeded PRNG (mulberry32) for reproducible tie-breaks. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
