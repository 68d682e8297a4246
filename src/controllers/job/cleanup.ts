// Two clean-up decisions beside the job algorithm, as pure functions:
// - ttlSecondsAfterFinished (Kubernetes' ttl-after-finished controller): a finished job is
//   deleted — in the foreground, with a uid precondition, as that controller deletes — once
//   ttlSecondsAfterFinished have passed since its Complete or Failed condition turned True;
// - orphaned tracking finalizers (the job controller's orphan-pod queue): a pod still carrying
//   `batch.kubernetes.io/job-tracking` whose job is gone, replaced (another uid) or finished, or
//   that no Job controls, loses the finalizer, so that it can go.
import type { KubeObject } from '../../registry/types.ts';
import { splitApiVersion } from '../../client/rest.ts';
import { JOB_KIND, controllerRefOf, finishedConditionOf, hasTrackingFinalizer, isBeingDeleted, isJobFinished, parseTime, ttlSecondsAfterFinishedOf } from './job.ts';

export type TtlVerdict =
  /** Nothing to do (no TTL, not finished, already being deleted, no finish time). */
  | { kind: 'none' }
  /** Look again after this many ms. */
  | { kind: 'wait'; afterMs: number }
  /** Delete the job now. */
  | { kind: 'expired' };

export function ttlVerdict(job: KubeObject, now: number): TtlVerdict {
  const ttl = ttlSecondsAfterFinishedOf(job);
  if (ttl === undefined || isBeingDeleted(job) || !isJobFinished(job)) return { kind: 'none' };
  const finishedAt = parseTime(finishedConditionOf(job)?.lastTransitionTime);
  if (finishedAt === undefined) return { kind: 'none' };
  const remaining = finishedAt + ttl * 1000 - now;
  return remaining <= 0 ? { kind: 'expired' } : { kind: 'wait', afterMs: remaining };
}

/** Whether a pod's tracking finalizer is left without a job to remove it (syncOrphanPod). */
export function orphanedFinalizer(pod: KubeObject, jobOf: (namespace: string, name: string) => KubeObject | undefined): boolean {
  if (!hasTrackingFinalizer(pod)) return false;
  const ref = controllerRefOf(pod);
  if (ref) {
    const { group, version } = splitApiVersion(ref.apiVersion);
    // Controlled by something else than a batch/v1 Job: not ours to touch.
    if (ref.kind !== JOB_KIND || group !== 'batch' || version !== 'v1') return false;
    const job = jobOf(pod.metadata.namespace ?? 'default', ref.name);
    if (job && job.metadata.uid === ref.uid && !isJobFinished(job)) return false;
  }
  return true;
}
