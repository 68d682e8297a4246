// Read-only views of a Job and of its pods with batch/v1 defaults applied (table tests and old
// stored objects may omit fields), the names Kubernetes gives the labels, annotations,
// finalizers and references involved, and the pod predicates the job controller counts by
// (pkg/controller/job, pkg/controller/controller_utils.go).
import type { KubeObject, OwnerReference } from '../../registry/types.ts';
import { asArray, asRecord, isRecord, labelSelectorMatches, type LabelSelector } from '../../registry/validation.ts';
import {
  CONTROLLER_UID_LABEL,
  JOB_COMPLETION_INDEX_ANNOTATION,
  JOB_NAME_LABEL,
  JOB_TRACKING_FINALIZER,
  LEGACY_CONTROLLER_UID_LABEL,
  LEGACY_JOB_NAME_LABEL,
} from '../../registry/jobs.ts';

export { CONTROLLER_UID_LABEL, JOB_COMPLETION_INDEX_ANNOTATION, JOB_NAME_LABEL, JOB_TRACKING_FINALIZER, LEGACY_CONTROLLER_UID_LABEL, LEGACY_JOB_NAME_LABEL };

type Obj = Record<string, unknown>;

export const JOB_API_VERSION = 'batch/v1';
export const JOB_KIND = 'Job';
/** The environment variable an Indexed job's containers read their index from. */
export const COMPLETION_INDEX_ENV = 'JOB_COMPLETION_INDEX';

export type ConditionType = 'Complete' | 'Failed' | 'Suspended' | 'FailureTarget' | 'SuccessCriteriaMet';

/** batch/v1 JobCondition. */
export interface JobCondition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  lastProbeTime?: string;
  lastTransitionTime?: string;
  reason?: string;
  message?: string;
}

function spec(job: KubeObject): Obj {
  return asRecord(job.spec);
}

function int(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? Math.trunc(v) : undefined;
}

export function jobName(job: KubeObject): string {
  return job.metadata.name ?? '';
}

export function jobNamespace(job: KubeObject): string {
  return job.metadata.namespace ?? 'default';
}

/** spec.completions, undefined when unset (the job is done at its first success). */
export function completionsOf(job: KubeObject): number | undefined {
  const c = int(spec(job).completions);
  return c === undefined ? undefined : Math.max(0, c);
}

export function parallelismOf(job: KubeObject): number {
  return Math.max(0, int(spec(job).parallelism) ?? 1);
}

export function backoffLimitOf(job: KubeObject): number {
  return Math.max(0, int(spec(job).backoffLimit) ?? 6);
}

export function activeDeadlineSecondsOf(job: KubeObject): number | undefined {
  return int(spec(job).activeDeadlineSeconds);
}

export function ttlSecondsAfterFinishedOf(job: KubeObject): number | undefined {
  return int(spec(job).ttlSecondsAfterFinished);
}

export function isIndexed(job: KubeObject): boolean {
  return spec(job).completionMode === 'Indexed';
}

export function isSuspended(job: KubeObject): boolean {
  return spec(job).suspend === true;
}

/** Terminating pods are replaced only once they failed (podReplacementPolicy Failed, or a
 *  podFailurePolicy). */
export function onlyReplaceFailedPods(job: KubeObject): boolean {
  return spec(job).podReplacementPolicy === 'Failed' || isRecord(spec(job).podFailurePolicy);
}

export function restartPolicyOf(job: KubeObject): string {
  return String(asRecord(asRecord(spec(job).template).spec).restartPolicy ?? '');
}

export function selectorOf(job: KubeObject): LabelSelector | undefined {
  const s = spec(job).selector;
  return isRecord(s) ? (s as LabelSelector) : undefined;
}

/** Whether labels match the job's selector (an absent or empty selector matches nothing). */
export function selectorMatches(job: KubeObject, labels: Record<string, string> | undefined): boolean {
  const s = selectorOf(job);
  if (!s) return false;
  if (Object.keys(asRecord(s.matchLabels)).length === 0 && asArray(s.matchExpressions).length === 0) return false;
  return labelSelectorMatches(s, labels);
}

export function conditionsOf(job: KubeObject): JobCondition[] {
  return asArray(asRecord(job.status).conditions).filter((c): c is JobCondition => isRecord(c) && typeof c.type === 'string') as JobCondition[];
}

export function findCondition(job: KubeObject, type: string): JobCondition | undefined {
  return conditionsOf(job).find((c) => c.type === type);
}

export function hasTrueCondition(job: KubeObject, type: string): boolean {
  return findCondition(job, type)?.status === 'True';
}

/** util.IsJobFinished: a Complete or Failed condition with status True. */
export function isJobFinished(job: KubeObject): boolean {
  return hasTrueCondition(job, 'Complete') || hasTrueCondition(job, 'Failed');
}

/** The terminal condition of a finished job. */
export function finishedConditionOf(job: KubeObject): JobCondition | undefined {
  return conditionsOf(job).find((c) => (c.type === 'Complete' || c.type === 'Failed') && c.status === 'True');
}

export function isBeingDeleted(obj: KubeObject): boolean {
  return typeof obj.metadata.deletionTimestamp === 'string' && obj.metadata.deletionTimestamp !== '';
}

/** The controller ownerReference a job puts on its pods (metav1.NewControllerRef). */
export function jobControllerRef(job: KubeObject): OwnerReference {
  return { apiVersion: JOB_API_VERSION, kind: JOB_KIND, name: jobName(job), uid: job.metadata.uid ?? '', controller: true, blockOwnerDeletion: true };
}

export function controllerRefOf(obj: KubeObject): OwnerReference | undefined {
  return asArray(obj.metadata.ownerReferences).find((r): r is OwnerReference => isRecord(r) && r.controller === true);
}

export function isControlledBy(obj: KubeObject, owner: KubeObject): boolean {
  const ref = controllerRefOf(obj);
  return ref !== undefined && ref.uid !== '' && ref.uid === owner.metadata.uid;
}

/** A deep copy of plain JSON data. */
export function clone<T>(v: T): T {
  return v === undefined ? v : (JSON.parse(JSON.stringify(v)) as T);
}

export function rfc3339(ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export function parseTime(v: unknown): number | undefined {
  if (typeof v !== 'string') return undefined;
  const t = Date.parse(v);
  return Number.isNaN(t) ? undefined : t;
}

// ---------------------------------------------------------------------------------------------
// Pods

export function podPhase(pod: KubeObject): string {
  const p = asRecord(pod.status).phase;
  return typeof p === 'string' ? p : '';
}

export function hasTrackingFinalizer(pod: KubeObject): boolean {
  return (pod.metadata.finalizers ?? []).includes(JOB_TRACKING_FINALIZER);
}

/** controller.IsPodActive: not finished and not being deleted. */
export function isPodActive(pod: KubeObject): boolean {
  const phase = podPhase(pod);
  return phase !== 'Succeeded' && phase !== 'Failed' && !isBeingDeleted(pod);
}

/** controller.IsPodTerminating: being deleted and not finished. */
export function isPodTerminating(pod: KubeObject): boolean {
  const phase = podPhase(pod);
  return isBeingDeleted(pod) && phase !== 'Succeeded' && phase !== 'Failed';
}

/** isPodFailed: phase Failed; a deleted pod that never succeeded counts too, unless the job
 *  replaces only failed pods (podReplacementPolicy Failed). */
export function isPodFailed(pod: KubeObject, job: KubeObject): boolean {
  if (podPhase(pod) === 'Failed') return true;
  if (onlyReplaceFailedPods(job)) return false;
  return isBeingDeleted(pod) && podPhase(pod) !== 'Succeeded';
}

export function isPodReady(pod: KubeObject): boolean {
  return asArray(asRecord(pod.status).conditions).some((c) => asRecord(c).type === 'Ready' && asRecord(c).status === 'True');
}

function containerStatuses(pod: KubeObject): Obj[] {
  const st = asRecord(pod.status);
  return [...asArray(st.initContainerStatuses), ...asArray(st.containerStatuses)].filter(isRecord);
}

export function restartCount(pod: KubeObject): number {
  return containerStatuses(pod).reduce((n, c) => n + (typeof c.restartCount === 'number' ? c.restartCount : 0), 0);
}

/** getFinishedTime: the latest container finishedAt, else when Ready turned False, else the
 *  deletion timestamp, else the creation timestamp. */
export function podFinishedTime(pod: KubeObject): number {
  let latest: number | undefined;
  for (const c of containerStatuses(pod)) {
    const t = parseTime(asRecord(asRecord(c.state).terminated).finishedAt);
    if (t !== undefined && (latest === undefined || t > latest)) latest = t;
  }
  if (latest !== undefined) return latest;
  const ready = asArray(asRecord(pod.status).conditions).map(asRecord).find((c) => c.type === 'Ready' && c.status === 'False');
  const readyFalse = parseTime(ready?.lastTransitionTime);
  if (readyFalse !== undefined) return readyFalse;
  return parseTime(pod.metadata.deletionTimestamp) ?? parseTime(pod.metadata.creationTimestamp) ?? 0;
}

/** The pod's completion index from its annotation, or -1 (unknownCompletionIndex). */
export function completionIndexOf(pod: KubeObject): number {
  const v = pod.metadata.annotations?.[JOB_COMPLETION_INDEX_ANNOTATION];
  if (typeof v !== 'string' || !/^(0|[1-9][0-9]*)$/.test(v)) return -1;
  const n = Number(v);
  return Number.isSafeInteger(n) ? n : -1;
}

/** The index of a pod an Indexed job counts: valid and below completions; -1 otherwise. */
export function validIndexOf(pod: KubeObject, job: KubeObject): number {
  const ix = completionIndexOf(pod);
  return ix >= 0 && ix < (completionsOf(job) ?? 0) ? ix : -1;
}

/** controller.ActivePods ordering: the pods to remove first come first (unscheduled, pending,
 *  not ready, ready for less time, more restarts, newer). */
export function compareForRemoval(a: KubeObject, b: KubeObject): number {
  const nodeA = asRecord(a.spec).nodeName ? 1 : 0;
  const nodeB = asRecord(b.spec).nodeName ? 1 : 0;
  if (nodeA !== nodeB) return nodeA - nodeB;
  const rank = (p: KubeObject): number => ({ Pending: 0, Unknown: 1, Running: 2 })[podPhase(p)] ?? 0;
  if (rank(a) !== rank(b)) return rank(a) - rank(b);
  const readyA = isPodReady(a) ? 1 : 0;
  const readyB = isPodReady(b) ? 1 : 0;
  if (readyA !== readyB) return readyA - readyB;
  const readySince = (p: KubeObject): number =>
    parseTime(asArray(asRecord(p.status).conditions).map(asRecord).find((c) => c.type === 'Ready')?.lastTransitionTime) ?? 0;
  if (readyA && readyB && readySince(a) !== readySince(b)) return readySince(b) - readySince(a);
  if (restartCount(a) !== restartCount(b)) return restartCount(b) - restartCount(a);
  const created = (p: KubeObject): number => parseTime(p.metadata.creationTimestamp) ?? 0;
  return created(b) - created(a);
}
