// backoffLimitPerIndex of Indexed Jobs, as the Kubernetes job controller does it
// (pkg/controller/job: indexed_job_utils.go, backoff_utils.go):
// - Each pod of an index carries the failures of the index before it in the annotation
//   batch.kubernetes.io/job-index-failure-count (and, when a podFailurePolicy Ignore rule matched
//   some, batch.kubernetes.io/job-index-ignored-failure-count): the replacement of a failed pod
//   gets its counts plus one.
// - An index fails when a failed pod of it is counted (not ignored) and already had
//   backoffLimitPerIndex failures before it, or when a FailIndex rule of the podFailurePolicy
//   matches the pod. Failed indexes are kept in status.failedIndexes and get no new pod.
// - The last failed pod of an index that is neither done nor running keeps its tracking finalizer
//   (and is not counted yet) until its replacement exists: it is what carries the counts over.
// - The pod-failure back-off is per index: 10 s doubled per failure of the index, at most 6 min,
//   from the finish time of its last failed pod (the job-wide back-off does not apply).
import type { KubeObject } from '../../registry/types.ts';
import { asRecord } from '../../registry/validation.ts';
import { matchPodFailurePolicy } from './failure-policy.ts';
import { hasIndex, parseIndexes, withIndexes, type OrderedIntervals } from './indexes.ts';
import { hasTrackingFinalizer, isPodFailed, podFinishedTime, validIndexOf } from './job.ts';

export const INDEX_FAILURE_COUNT_ANNOTATION = 'batch.kubernetes.io/job-index-failure-count';
export const INDEX_IGNORED_FAILURE_COUNT_ANNOTATION = 'batch.kubernetes.io/job-index-ignored-failure-count';
export const MAX_FAILED_INDEXES_REASON = 'MaxFailedIndexesExceeded';
export const MAX_FAILED_INDEXES_MESSAGE = 'Job has exceeded the specified maximal number of failed indexes';
export const FAILED_INDEXES_REASON = 'FailedIndexes';
export const FAILED_INDEXES_MESSAGE = 'Job has failed indexes';

/** spec.backoffLimitPerIndex of an Indexed job; undefined when unset (or the job is not Indexed). */
export function backoffLimitPerIndexOf(job: KubeObject): number | undefined {
  const spec = asRecord(job.spec);
  const v = spec.backoffLimitPerIndex;
  return spec.completionMode === 'Indexed' && typeof v === 'number' && Number.isFinite(v) ? Math.max(0, Math.trunc(v)) : undefined;
}

export function maxFailedIndexesOf(job: KubeObject): number | undefined {
  const v = asRecord(job.spec).maxFailedIndexes;
  return typeof v === 'number' && Number.isFinite(v) ? Math.trunc(v) : undefined;
}

function countAnnotation(pod: KubeObject, key: string): number {
  const v = pod.metadata.annotations?.[key];
  if (v === undefined || !/^\d+$/.test(v)) return 0;
  const n = Number(v);
  return Number.isSafeInteger(n) ? n : 0;
}

/** The failures of the pod's index before this pod (its failure-count annotation; 0 if absent or malformed). */
export function indexFailureCount(pod: KubeObject): number {
  return countAnnotation(pod, INDEX_FAILURE_COUNT_ANNOTATION);
}

/** The failures before this pod, ignored ones included (getIndexAbsoluteFailureCount). */
export function indexAbsoluteFailureCount(pod: KubeObject): number {
  return countAnnotation(pod, INDEX_FAILURE_COUNT_ANNOTATION) + countAnnotation(pod, INDEX_IGNORED_FAILURE_COUNT_ANNOTATION);
}

/** isIndexFailed: the pod's failure fails its index. */
export function isIndexFailed(job: KubeObject, pod: KubeObject): boolean {
  const limit = backoffLimitPerIndexOf(job);
  if (limit === undefined || !isPodFailed(pod, job)) return false;
  const m = matchPodFailurePolicy(job, pod);
  if (m.action === 'FailIndex') return true;
  return m.countFailed && indexFailureCount(pod) >= limit;
}

/** calculateFailedIndexes: status.failedIndexes and the indexes that failed since (pods not counted yet). */
export function calculateFailedIndexes(job: KubeObject, pods: KubeObject[], completions: number, previous: string | undefined): OrderedIntervals {
  const fresh = new Set<number>();
  for (const p of pods) {
    if (!hasTrackingFinalizer(p) || !isIndexFailed(job, p)) continue;
    const ix = validIndexOf(p, job);
    if (ix >= 0) fresh.add(ix);
  }
  return withIndexes(parseIndexes(previous, completions), [...fresh].sort((a, b) => a - b));
}

/**
 * getPodsWithDelayedDeletionPerIndex: per index that has not succeeded, not failed and has no
 * active pod, its failed pod (still with the tracking finalizer) with the most failures before it.
 */
export function podsWithDelayedDeletion(job: KubeObject, pods: KubeObject[], activeIndexes: Set<number>, succeeded: OrderedIntervals, failed: OrderedIntervals): Map<number, KubeObject> {
  const out = new Map<number, KubeObject>();
  for (const p of pods) {
    if (!hasTrackingFinalizer(p) || !isPodFailed(p, job)) continue;
    const ix = validIndexOf(p, job);
    if (ix < 0 || hasIndex(succeeded, ix) || hasIndex(failed, ix) || activeIndexes.has(ix)) continue;
    const prev = out.get(ix);
    if (!prev || indexAbsoluteFailureCount(p) > indexAbsoluteFailureCount(prev)) out.set(ix, p);
  }
  return out;
}

/** The annotations of a new pod of an index that replaces `replaced` (getNewIndexFailureCounts). */
export function indexFailureAnnotations(job: KubeObject, replaced: KubeObject | undefined): Record<string, string> {
  let failures = 0;
  let ignored = 0;
  if (replaced) {
    failures = indexFailureCount(replaced);
    ignored = countAnnotation(replaced, INDEX_IGNORED_FAILURE_COUNT_ANNOTATION);
    if (matchPodFailurePolicy(job, replaced).countFailed) failures++;
    else ignored++;
  }
  const out: Record<string, string> = { [INDEX_FAILURE_COUNT_ANNOTATION]: String(failures) };
  if (ignored > 0) out[INDEX_IGNORED_FAILURE_COUNT_ANNOTATION] = String(ignored);
  return out;
}

/** The back-off of an index whose last failed pod is `lastFailed`: failures so far (with it) and when it finished. */
export function indexBackoff(lastFailed: KubeObject | undefined): { failuresAfterLastSuccess: number; lastFailureTime?: number } {
  if (!lastFailed) return { failuresAfterLastSuccess: 0 };
  return { failuresAfterLastSuccess: indexAbsoluteFailureCount(lastFailed) + 1, lastFailureTime: podFinishedTime(lastFailed) };
}
