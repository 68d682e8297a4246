// Small figures helpers shared by the benchmarks.

/** The p-quantile (0..1) of an ascending-sorted array (nearest rank). */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(sorted.length * p) - 1))];
}

export const round = (x: number, d = 2): number => Math.round(x * 10 ** d) / 10 ** d;

/** p50/p99/max of a list of millisecond durations. */
export function summarize(values: ArrayLike<number>): { count: number; p50Ms: number; p99Ms: number; maxMs: number } {
  const sorted = Float64Array.from(values).sort();
  return {
    count: sorted.length,
    p50Ms: round(percentile(sorted, 0.5)),
    p99Ms: round(percentile(sorted, 0.99)),
    maxMs: round(sorted.length ? sorted[sorted.length - 1] : 0),
  };
}

/** A clock shared by every thread of the process: ms since the epoch, sub-ms precision. */
export function nowMs(): number {
  return performance.timeOrigin + performance.now();
}

export function mib(bytes: number): number {
  return round(bytes / (1024 * 1024), 1);
}
