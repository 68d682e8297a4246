// Completion indexes of Indexed Jobs as Kubernetes keeps them (pkg/controller/job/indexed_job_utils.go):
// sets of indexes as ordered, non-overlapping intervals, written in status.completedIndexes as a
// compressed list — `1-3` for three or more consecutive indexes, `1,2` for two, `5` for one,
// joined by commas: `0-2,4,6,7`.

export interface Interval {
  first: number;
  last: number;
}

/** Ordered, disjoint, non-adjacent intervals. */
export type OrderedIntervals = Interval[];

/** Intervals from a status string, keeping only indexes below `completions` (malformed parts
 *  are skipped, as Kubernetes does when it reads the status back). */
export function parseIndexes(s: string | undefined, completions: number): OrderedIntervals {
  if (!s) return [];
  const intervals: OrderedIntervals = [];
  for (const part of s.split(',')) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (!m) continue;
    const first = Number(m[1]);
    let last = m[2] === undefined ? first : Number(m[2]);
    if (last < first || first >= completions) continue;
    last = Math.min(last, completions - 1);
    intervals.push({ first, last });
  }
  return normalize(intervals);
}

function normalize(intervals: Interval[]): OrderedIntervals {
  const sorted = [...intervals].sort((a, b) => a.first - b.first);
  const out: OrderedIntervals = [];
  for (const iv of sorted) {
    const prev = out[out.length - 1];
    if (prev && iv.first <= prev.last + 1) prev.last = Math.max(prev.last, iv.last);
    else out.push({ ...iv });
  }
  return out;
}

/** The set with more indexes added. */
export function withIndexes(oi: OrderedIntervals, indexes: number[]): OrderedIntervals {
  return normalize([...oi, ...indexes.map((i) => ({ first: i, last: i }))]);
}

export function hasIndex(oi: OrderedIntervals, ix: number): boolean {
  return oi.some((iv) => ix >= iv.first && ix <= iv.last);
}

export function totalIndexes(oi: OrderedIntervals): number {
  return oi.reduce((n, iv) => n + iv.last - iv.first + 1, 0);
}

/** The compressed string form. */
export function formatIndexes(oi: OrderedIntervals): string {
  const parts: string[] = [];
  for (const iv of oi) {
    if (iv.last === iv.first) parts.push(String(iv.first));
    else if (iv.last === iv.first + 1) parts.push(`${iv.first},${iv.last}`);
    else parts.push(`${iv.first}-${iv.last}`);
  }
  return parts.join(',');
}

/** The first `count` indexes below `completions` not in `taken`, in order (firstPendingIndexes). */
export function firstPendingIndexes(taken: OrderedIntervals, count: number, completions: number): number[] {
  const out: number[] = [];
  let candidate = 0;
  for (const iv of taken) {
    for (; candidate < completions && out.length < count && candidate < iv.first; candidate++) out.push(candidate);
    if (candidate < iv.last + 1) candidate = iv.last + 1;
  }
  for (; candidate < completions && out.length < count; candidate++) out.push(candidate);
  return out;
}
