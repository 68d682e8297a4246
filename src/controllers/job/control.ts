// The Job control algorithm as pure functions: (job, pods of its namespace, now, the pod-failure
// back-off so far) → what to do with the pods, the status to write and the Events Kubernetes
// records. No I/O, no clock.
//
// Semantics follow Kubernetes v1.32 pkg/controller/job (syncJob, manageJob,
// trackJobStatusAndRemoveFinalizers, enactJobFinished), with the JobPodReplacementPolicy and
// JobSuccessPolicy behaviour on by default:
// - Pods: the job's own (controller reference with its uid) that its selector matches; orphans
//   it matches are adopted (with the tracking finalizer), own pods it no longer matches released.
// - Counting with finalizers: every pod is created with `batch.kubernetes.io/job-tracking`. A
//   finished pod (Succeeded, Failed, or — unless podReplacementPolicy is Failed — deleted before
//   it succeeded) is first recorded by uid in status.uncountedTerminatedPods (or, Indexed, by
//   index in status.completedIndexes), that status is written, then the finalizer is removed, and
//   only then the uid moves to status.succeeded/failed. A crash between the steps loses nothing
//   and counts nothing twice. planJobSync() computes the first write and the removals;
//   completeTracking() the second write, once the acting layer knows which removals went through.
// - Failure: more failed pods than backoffLimit (or, restartPolicy OnFailure, container restarts
//   of running pods reaching it) → FailureTarget BackoffLimitExceeded "Job has reached the
//   specified backoff limit"; running longer than activeDeadlineSeconds (not while suspended) →
//   FailureTarget DeadlineExceeded "Job was active longer than specified deadline"; a failed pod
//   that a podFailurePolicy FailJob rule matches → FailureTarget PodFailurePolicy with the rule's
//   message, and failures an Ignore rule matches are not counted (failure-policy.ts); with
//   backoffLimitPerIndex (per-index.ts), more failed indexes than maxFailedIndexes →
//   FailureTarget MaxFailedIndexesExceeded, and every index succeeded or failed with some failed →
//   FailureTarget FailedIndexes (failed indexes get no new pod, each index has its own back-off,
//   and new pods carry their index's failure counts). Active pods are
//   then deleted (finalizers kept: they count as failed); once nothing is uncounted or
//   terminating, the terminal Failed condition (same reason and message) is added and a Warning
//   event with that reason recorded.
// - Success: `completions` pods (Indexed: indexes) succeeded — or, without completions, one pod
//   succeeded — and none is active → SuccessCriteriaMet CompletionsReached "Reached expected
//   number of succeeded pods", then (nothing uncounted or terminating) Complete with
//   status.completionTime and the Normal event Completed "Job completed". An Indexed job whose
//   successPolicy a rule of is met (success-policy.ts) gets SuccessCriteriaMet SuccessPolicy
//   "Matched rules at index N" at once; its active pods are deleted (not counted as failed).
// - Otherwise (manageJob): suspended → delete every active pod (finalizer removed first: they are
//   not counted) and set Suspended True (event Suspended "Job suspended"); resumed → Suspended
//   False (event Resumed "Job resumed") and startTime reset. Else keep min(parallelism, remaining
//   completions) pods active: delete the least valuable extras (Indexed: pods with a repeated or
//   invalid index first), or create the missing ones — not before the pod-failure back-off
//   (10 s doubling to 6 min per failure since the last success) has passed, at most 500 a round;
//   Indexed jobs create the lowest indexes neither succeeded nor active, each pod with the
//   annotation and label `batch.kubernetes.io/job-completion-index`, the env variable
//   JOB_COMPLETION_INDEX from that annotation in every container, hostname `<job>-<index>` and
//   generateName `<job>-<index>-`.
// - status: startTime at the first sync of an unsuspended job; active, ready, terminating;
//   succeeded and failed; completedIndexes; uncountedTerminatedPods; conditions.
// - A finished job's pods that still carry the finalizer lose it; nothing else happens.
import type { KubeObject, OwnerReference } from '../../registry/types.ts';
import { asArray, asRecord, isRecord } from '../../registry/validation.ts';
import {
  COMPLETION_INDEX_ENV,
  JOB_COMPLETION_INDEX_ANNOTATION,
  JOB_TRACKING_FINALIZER,
  activeDeadlineSecondsOf,
  backoffLimitOf,
  clone,
  compareForRemoval,
  completionIndexOf,
  completionsOf,
  controllerRefOf,
  findCondition,
  hasTrackingFinalizer,
  isBeingDeleted,
  isControlledBy,
  isIndexed,
  isJobFinished,
  isPodActive,
  isPodFailed,
  isPodReady,
  isPodTerminating,
  isSuspended,
  jobControllerRef,
  jobName,
  jobNamespace,
  onlyReplaceFailedPods,
  parallelismOf,
  parseTime,
  podFinishedTime,
  podPhase,
  restartPolicyOf,
  rfc3339,
  selectorMatches,
  validIndexOf,
  type JobCondition,
} from './job.ts';
import { failJobMessage, matchPodFailurePolicy } from './failure-policy.ts';
import { matchSuccessPolicy, SUCCESS_POLICY_REASON } from './success-policy.ts';
import { firstPendingIndexes, formatIndexes, hasIndex, parseIndexes, totalIndexes, withIndexes, type OrderedIntervals } from './indexes.ts';
import {
  FAILED_INDEXES_MESSAGE,
  FAILED_INDEXES_REASON,
  MAX_FAILED_INDEXES_MESSAGE,
  MAX_FAILED_INDEXES_REASON,
  backoffLimitPerIndexOf,
  calculateFailedIndexes,
  indexBackoff,
  indexFailureAnnotations,
  maxFailedIndexesOf,
  podsWithDelayedDeletion,
} from './per-index.ts';

type Obj = Record<string, unknown>;

/** Pods created or deleted in one round at most (MaxPodCreateDeletePerSync). */
export const MAX_POD_CREATE_DELETE_PER_SYNC = 500;
/** Finished pods recorded in uncountedTerminatedPods at most before a round stops (MaxUncountedPods). */
export const MAX_UNCOUNTED_PODS = 500;
export const DEFAULT_POD_FAILURE_BACKOFF_MS = 10_000;
export const MAX_POD_FAILURE_BACKOFF_MS = 6 * 60_000;

export const BACKOFF_LIMIT_MESSAGE = 'Job has reached the specified backoff limit';
export const DEADLINE_MESSAGE = 'Job was active longer than specified deadline';
export const COMPLETIONS_REACHED_MESSAGE = 'Reached expected number of succeeded pods';

export interface ControlEvent {
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
}

/** The pod-failure back-off of one job (backoffRecord). */
export interface JobBackoff {
  failuresAfterLastSuccess: number;
  /** When the last counted failure happened (ms since the epoch). */
  lastFailureTime?: number;
}

export type JobAction =
  /** Patch the pod: the job's controller reference (and the tracking finalizer), uid precondition. */
  | { type: 'adoptPod'; name: string; uid: string; ownerReferences: OwnerReference[] }
  /** Patch the pod's ownerReferences without the job's: its labels no longer match. */
  | { type: 'releasePod'; name: string; uid: string; ownerReferences: OwnerReference[] }
  /** Create `object` (generateName) — `index` for Indexed jobs. */
  | { type: 'createPod'; object: KubeObject; index?: number }
  /**
   * Delete the pod (uid precondition; NotFound is success). `removeFinalizer`: take the tracking
   * finalizer off first (the pod is not counted: suspension, too many active); otherwise it is
   * kept and the pod counts as failed (the job failed).
   */
  | { type: 'deletePod'; name: string; uid: string; removeFinalizer: boolean; reason: 'suspended' | 'excess' | 'finished' };

/** batch/v1 JobStatus as the controller writes it. */
export interface JobStatus {
  conditions?: JobCondition[];
  startTime?: string;
  completionTime?: string;
  active?: number;
  ready: number;
  succeeded?: number;
  failed?: number;
  terminating: number;
  completedIndexes?: string;
  failedIndexes?: string;
  uncountedTerminatedPods: { succeeded?: string[]; failed?: string[] };
}

export interface JobSyncInput {
  /** The Job as stored (batch/v1). */
  job: KubeObject;
  /** Pods of the job's namespace: its own, orphans it may adopt, and others (ignored). */
  pods: KubeObject[];
  now: number;
  /** The back-off record the previous rounds kept (none at first). */
  backoff?: JobBackoff;
}

/** A pod whose tracking finalizer is to be removed. */
export interface FinalizerRemoval {
  name: string;
  uid: string;
}

export interface JobSyncPlan {
  /** The job was already finished: only `removeFinalizers` (leftovers) is to be done. */
  finished: boolean;
  /** Ownership first, then deletions or creations. Carried out before the status writes. */
  actions: JobAction[];
  /** The status after this round's pod actions, with the newly finished pods recorded as
   *  uncounted (and interim conditions): written before any finalizer is removed. */
  status: JobStatus;
  /** `status` differs from what is stored: write it before removing finalizers. */
  needsFlush: boolean;
  /** Finalizers to remove once `status` is written. */
  removeFinalizers: FinalizerRemoval[];
  /** The terminal condition to add once nothing is uncounted or terminating (Complete/Failed). */
  finishing?: JobCondition;
  /** Too many finished pods for one round: finishing waits for the next. */
  reachedMaxUncounted: boolean;
  /** Pods with the tracking finalizer at the start (uids), for completeTracking(). */
  uidsWithFinalizer: string[];
  /** Events of the algorithm's own decisions (the acting layer adds those of pod actions). */
  events: ControlEvent[];
  /** Sync again after this many ms (active deadline, back-off). */
  requeueAfterMs?: number;
  /** The back-off record to keep once `status` is written. */
  backoff: JobBackoff;
}

export interface TrackingResult {
  status: JobStatus;
  /** Write `status` (counters moved from uncounted, or the job finished). */
  write: boolean;
  /** The job finished this round. */
  finished: boolean;
  events: ControlEvent[];
}

// ---------------------------------------------------------------------------------------------
// Status helpers

function int(v: unknown): number {
  return typeof v === 'number' && Number.isFinite(v) ? Math.trunc(v) : 0;
}

function strings(v: unknown): string[] {
  return asArray(v).filter((s): s is string => typeof s === 'string');
}

/** The stored status as a working copy. */
export function statusOf(job: KubeObject): JobStatus {
  const st = asRecord(job.status);
  const uncounted = asRecord(st.uncountedTerminatedPods);
  const out: JobStatus = {
    ready: int(st.ready),
    terminating: int(st.terminating),
    uncountedTerminatedPods: { succeeded: strings(uncounted.succeeded), failed: strings(uncounted.failed) },
  };
  if (Array.isArray(st.conditions)) out.conditions = clone(st.conditions.filter(isRecord)) as unknown as JobCondition[];
  if (typeof st.startTime === 'string') out.startTime = st.startTime;
  if (typeof st.completionTime === 'string') out.completionTime = st.completionTime;
  if (int(st.active) > 0) out.active = int(st.active);
  if (int(st.succeeded) > 0) out.succeeded = int(st.succeeded);
  if (int(st.failed) > 0) out.failed = int(st.failed);
  if (typeof st.completedIndexes === 'string' && st.completedIndexes !== '') out.completedIndexes = st.completedIndexes;
  if (typeof st.failedIndexes === 'string') out.failedIndexes = st.failedIndexes;
  return out;
}

/** The status as it goes on the wire: zero counters and empty lists left out, as Go's
 *  omitempty does (ready, terminating and uncountedTerminatedPods are always there). */
export function wireStatus(s: JobStatus): Obj {
  const uncounted: Obj = {};
  if ((s.uncountedTerminatedPods.succeeded ?? []).length > 0) uncounted.succeeded = [...(s.uncountedTerminatedPods.succeeded ?? [])];
  if ((s.uncountedTerminatedPods.failed ?? []).length > 0) uncounted.failed = [...(s.uncountedTerminatedPods.failed ?? [])];
  const out: Obj = {};
  if (s.conditions && s.conditions.length > 0) out.conditions = clone(s.conditions);
  if (s.startTime) out.startTime = s.startTime;
  if (s.completionTime) out.completionTime = s.completionTime;
  if (s.active) out.active = s.active;
  if (s.succeeded) out.succeeded = s.succeeded;
  if (s.failed) out.failed = s.failed;
  if (s.completedIndexes) out.completedIndexes = s.completedIndexes;
  if (s.failedIndexes !== undefined) out.failedIndexes = s.failedIndexes;
  out.terminating = s.terminating;
  out.ready = s.ready;
  out.uncountedTerminatedPods = uncounted;
  return out;
}

function newCondition(type: string, status: 'True' | 'False', reason: string, message: string, now: number): JobCondition {
  const t = rfc3339(now);
  return { type, status, lastProbeTime: t, lastTransitionTime: t, reason, message };
}

/** ensureJobConditionStatus: set the condition (a new one replaces a differing one); a False
 *  condition is never added where there was none. Returns whether anything changed. */
export function ensureCondition(s: JobStatus, type: string, status: 'True' | 'False', reason: string, message: string, now: number): boolean {
  const list = s.conditions ?? [];
  const i = list.findIndex((c) => c.type === type);
  if (i >= 0) {
    const c = list[i];
    if (c.status !== status || (c.reason ?? '') !== reason || (c.message ?? '') !== message) {
      list[i] = newCondition(type, status, reason, message, now);
      return true;
    }
    return false;
  }
  if (status === 'False') return false;
  s.conditions = [...list, newCondition(type, status, reason, message, now)];
  return true;
}

/** cleanUncountedPodsWithoutFinalizers: uncounted uids whose finalizer is gone move to the
 *  counters. Returns whether anything changed. */
function cleanUncounted(s: JobStatus, withFinalizer: Set<string>): boolean {
  let changed = false;
  const u = s.uncountedTerminatedPods;
  const keepS = (u.succeeded ?? []).filter((uid) => withFinalizer.has(uid));
  if (keepS.length !== (u.succeeded ?? []).length) {
    s.succeeded = (s.succeeded ?? 0) + (u.succeeded ?? []).length - keepS.length;
    u.succeeded = keepS;
    changed = true;
  }
  const keepF = (u.failed ?? []).filter((uid) => withFinalizer.has(uid));
  if (keepF.length !== (u.failed ?? []).length) {
    s.failed = (s.failed ?? 0) + (u.failed ?? []).length - keepF.length;
    u.failed = keepF;
    changed = true;
  }
  return changed;
}

// ---------------------------------------------------------------------------------------------
// Back-off

/** newBackoffRecord: failures since the last success (by finish time) and the latest one. */
export function nextBackoff(prev: JobBackoff | undefined, newSucceeded: KubeObject[], newFailed: KubeObject[]): JobBackoff {
  const b: JobBackoff = { ...(prev ?? { failuresAfterLastSuccess: 0 }) };
  const failedTimes = newFailed.map(podFinishedTime).sort((x, y) => x - y);
  if (newSucceeded.length === 0) {
    if (failedTimes.length === 0) return b;
    return { failuresAfterLastSuccess: b.failuresAfterLastSuccess + failedTimes.length, lastFailureTime: failedTimes[failedTimes.length - 1] };
  }
  const lastSuccess = Math.max(...newSucceeded.map(podFinishedTime));
  const out: JobBackoff = { failuresAfterLastSuccess: 0 };
  for (let i = failedTimes.length - 1; i >= 0; i--) {
    if (failedTimes[i] <= lastSuccess) break;
    out.lastFailureTime ??= failedTimes[i];
    out.failuresAfterLastSuccess++;
  }
  return out;
}

/** How long pod creation must still wait: 10 s doubled per failure since the last success,
 *  at most 6 min, counted from the last failure. */
export function backoffRemainingMs(b: JobBackoff, now: number): number {
  if (b.failuresAfterLastSuccess <= 0 || b.lastFailureTime === undefined) return 0;
  let d = DEFAULT_POD_FAILURE_BACKOFF_MS;
  for (let i = 1; i < b.failuresAfterLastSuccess; i++) {
    d *= 2;
    if (d >= MAX_POD_FAILURE_BACKOFF_MS) {
      d = MAX_POD_FAILURE_BACKOFF_MS;
      break;
    }
  }
  const elapsed = now - b.lastFailureTime;
  return d < elapsed ? 0 : d - elapsed;
}

// ---------------------------------------------------------------------------------------------
// Pods

/** generateName of a job's pods: `<job>-` (at most 58 characters before the random suffix). */
export function podNamePrefix(job: KubeObject): string {
  return `${jobName(job)}-`.slice(0, 58);
}

/** podGenerateNameWithIndex: `<job>-<index>-`, the job name shortened to fit 58 characters. */
export function podNamePrefixWithIndex(job: KubeObject, index: number): string {
  const suffix = `-${index}-`;
  const prefix = `${jobName(job)}${suffix}`;
  return prefix.length > 58 ? `${prefix.slice(0, 58 - suffix.length)}${suffix}` : prefix;
}

function addIndexEnv(containers: unknown): void {
  for (const c of asArray(containers)) {
    if (!isRecord(c)) continue;
    const env = Array.isArray(c.env) ? (c.env as unknown[]) : [];
    if (env.some((e) => asRecord(e).name === COMPLETION_INDEX_ENV)) continue;
    env.push({ name: COMPLETION_INDEX_ENV, valueFrom: { fieldRef: { fieldPath: `metadata.annotations['${JOB_COMPLETION_INDEX_ANNOTATION}']` } } });
    c.env = env;
  }
}

/**
 * A new pod of the job (controller.GetPodFromTemplate plus the job's additions): labels,
 * annotations, finalizers and spec from the template, the tracking finalizer, a controller
 * reference; for an index, the index annotation and label, JOB_COMPLETION_INDEX, hostname
 * `<job>-<index>` and generateName `<job>-<index>-`.
 */
export function newJobPod(job: KubeObject, index?: number): KubeObject {
  const template = clone(asRecord(asRecord(job.spec).template));
  const tmeta = asRecord(template.metadata);
  const labels: Record<string, string> = {};
  for (const [k, v] of Object.entries(asRecord(tmeta.labels))) if (typeof v === 'string') labels[k] = v;
  const annotations: Record<string, string> = {};
  for (const [k, v] of Object.entries(asRecord(tmeta.annotations))) if (typeof v === 'string') annotations[k] = v;
  const finalizers = strings(tmeta.finalizers);
  if (!finalizers.includes(JOB_TRACKING_FINALIZER)) finalizers.push(JOB_TRACKING_FINALIZER);
  const spec = asRecord(template.spec);
  const metadata: KubeObject['metadata'] = { namespace: jobNamespace(job), labels, finalizers, ownerReferences: [jobControllerRef(job)] };
  if (index !== undefined) {
    addIndexEnv(spec.initContainers);
    addIndexEnv(spec.containers);
    annotations[JOB_COMPLETION_INDEX_ANNOTATION] = String(index);
    labels[JOB_COMPLETION_INDEX_ANNOTATION] = String(index);
    spec.hostname = `${jobName(job)}-${index}`;
    metadata.generateName = podNamePrefixWithIndex(job, index);
  } else {
    metadata.generateName = podNamePrefix(job);
  }
  if (Object.keys(annotations).length > 0) metadata.annotations = annotations;
  return { apiVersion: 'v1', kind: 'Pod', metadata, spec };
}

interface Claim {
  pods: KubeObject[];
  actions: JobAction[];
}

/** ClaimPods: own pods the selector matches; adopt matching orphans (their copy here gets the
 *  finalizer, as the patch gives it); release own pods that stopped matching. */
function claimPods(job: KubeObject, all: KubeObject[]): Claim {
  const ns = jobNamespace(job);
  const pods: KubeObject[] = [];
  const actions: JobAction[] = [];
  const jobDeleting = isBeingDeleted(job);
  for (const pod of all) {
    if ((pod.metadata.namespace ?? ns) !== ns) continue;
    const matches = selectorMatches(job, pod.metadata.labels);
    const ref = controllerRefOf(pod);
    if (ref) {
      if (!isControlledBy(pod, job)) continue;
      if (matches) pods.push(pod);
      else if (!jobDeleting) {
        const refs = asArray(pod.metadata.ownerReferences).filter(isRecord) as unknown as OwnerReference[];
        actions.push({ type: 'releasePod', name: pod.metadata.name ?? '', uid: pod.metadata.uid ?? '', ownerReferences: refs.filter((r) => r.uid !== job.metadata.uid) });
      }
      continue;
    }
    if (!matches || jobDeleting || isBeingDeleted(pod)) continue;
    const refs = asArray(pod.metadata.ownerReferences).filter(isRecord) as unknown as OwnerReference[];
    actions.push({ type: 'adoptPod', name: pod.metadata.name ?? '', uid: pod.metadata.uid ?? '', ownerReferences: [...refs, jobControllerRef(job)] });
    const adopted = clone(pod);
    if (!hasTrackingFinalizer(adopted)) adopted.metadata.finalizers = [...(adopted.metadata.finalizers ?? []), JOB_TRACKING_FINALIZER];
    pods.push(adopted);
  }
  return { pods, actions };
}

/** pastBackoffLimitOnFailure: restartPolicy OnFailure and the container restarts of running and
 *  pending pods reach the limit (exceed it, for a limit of 0). */
function pastBackoffLimitOnFailure(job: KubeObject, pods: KubeObject[]): boolean {
  if (restartPolicyOf(job) !== 'OnFailure') return false;
  let restarts = 0;
  for (const p of pods) {
    if (podPhase(p) !== 'Running' && podPhase(p) !== 'Pending') continue;
    for (const c of [...asArray(asRecord(p.status).initContainerStatuses), ...asArray(asRecord(p.status).containerStatuses)]) {
      restarts += int(asRecord(c).restartCount);
    }
  }
  const limit = backoffLimitOf(job);
  return limit === 0 ? restarts > 0 : restarts >= limit;
}

/** activePodsForRemoval: for Indexed jobs pods with an invalid or repeated index first (of a
 *  repeated index the best pod stays), then the least valuable, `atLeast` in all. */
function activePodsForRemoval(job: KubeObject, active: KubeObject[], atLeast: number): KubeObject[] {
  const rm: KubeObject[] = [];
  let left: KubeObject[] = active;
  if (isIndexed(job)) {
    left = [];
    const completions = completionsOf(job) ?? 0;
    const byIndex = new Map<number, KubeObject[]>();
    for (const p of active) {
      const ix = completionIndexOf(p);
      if (ix < 0 || ix >= completions) rm.push(p);
      else byIndex.set(ix, [...(byIndex.get(ix) ?? []), p]);
    }
    for (const ix of [...byIndex.keys()].sort((a, b) => a - b)) {
      const group = [...(byIndex.get(ix) ?? [])].sort(compareForRemoval);
      rm.push(...group.slice(0, -1));
      left.push(group[group.length - 1]);
    }
  }
  if (rm.length < atLeast) rm.push(...[...left].sort(compareForRemoval).slice(0, atLeast - rm.length));
  return rm;
}

/** Every index of the intervals, in order. */
function indexesIn(oi: OrderedIntervals): number[] {
  const out: number[] = [];
  for (const iv of oi) for (let ix = iv.first; ix <= iv.last; ix++) out.push(ix);
  return out;
}

function deleteAction(p: KubeObject, removeFinalizer: boolean, reason: 'suspended' | 'excess' | 'finished'): JobAction {
  return { type: 'deletePod', name: p.metadata.name ?? '', uid: p.metadata.uid ?? '', removeFinalizer, reason };
}

// ---------------------------------------------------------------------------------------------
// The round

export function planJobSync(input: JobSyncInput): JobSyncPlan {
  const { job, now } = input;
  const events: ControlEvent[] = [];
  const actions: JobAction[] = [];
  const status = statusOf(job);
  const base = (): JobSyncPlan => ({
    finished: false,
    actions,
    status,
    needsFlush: false,
    removeFinalizers: [],
    reachedMaxUncounted: false,
    uidsWithFinalizer: [],
    events,
    backoff: input.backoff ?? { failuresAfterLastSuccess: 0 },
  });

  if (isJobFinished(job)) {
    // Leftover finalizers of a finished job's pods go; nothing else happens.
    const plan = base();
    plan.finished = true;
    plan.backoff = { failuresAfterLastSuccess: 0 };
    plan.removeFinalizers = input.pods
      .filter((p) => isControlledBy(p, job) && hasTrackingFinalizer(p))
      .map((p) => ({ name: p.metadata.name ?? '', uid: p.metadata.uid ?? '' }));
    return plan;
  }
  const mode = asRecord(job.spec).completionMode;
  if (mode !== undefined && mode !== null && mode !== 'NonIndexed' && mode !== 'Indexed') {
    events.push({ type: 'Warning', reason: 'UnknownCompletionMode', message: 'Skipped Job sync because completion mode is unknown' });
    return base();
  }

  const indexed = isIndexed(job);
  const completions = completionsOf(job);
  const claim = claimPods(job, input.pods);
  actions.push(...claim.actions);
  const pods = claim.pods;
  const activePods = pods.filter(isPodActive);
  let active = activePods.length;
  let terminating = pods.filter(isPodTerminating).length;
  let ready = activePods.filter(isPodReady).length;

  const uncountedSucceeded = new Set(status.uncountedTerminatedPods.succeeded ?? []);
  const uncountedFailed = new Set(status.uncountedTerminatedPods.failed ?? []);
  // Finished pods not yet counted anywhere (getNewFinishedPods).
  const uncountedValid = (p: KubeObject, uncounted: Set<string>): boolean =>
    hasTrackingFinalizer(p) && !uncounted.has(p.metadata.uid ?? '') && (!indexed || validIndexOf(p, job) >= 0);
  const newSucceeded = pods.filter((p) => uncountedValid(p, uncountedSucceeded) && podPhase(p) === 'Succeeded');
  const newFailed = pods.filter((p) => uncountedValid(p, uncountedFailed) && isPodFailed(p, job));
  let succeeded = (status.succeeded ?? 0) + newSucceeded.length + uncountedSucceeded.size;
  // Failures a podFailurePolicy Ignore rule matches do not count against backoffLimit.
  const failed = (status.failed ?? 0) + newFailed.filter((p) => matchPodFailurePolicy(job, p).countFailed).length + uncountedFailed.size;

  const suspended = isSuspended(job);
  let startTimeSet = false;
  if (!status.startTime && !suspended) {
    status.startTime = rfc3339(now);
    startTimeSet = true;
  }
  const backoff = nextBackoff(input.backoff, newSucceeded, newFailed);
  let requeueAfterMs: number | undefined;
  const requeue = (ms: number): void => {
    const v = Math.max(0, ms);
    requeueAfterMs = requeueAfterMs === undefined ? v : Math.min(requeueAfterMs, v);
  };

  // -- is the job done?
  let finished: JobCondition | undefined;
  const scm = findCondition(job, 'SuccessCriteriaMet');
  if (scm?.status === 'True') finished = { ...scm };
  if (!finished) {
    const ft = findCondition(job, 'FailureTarget');
    if (ft?.status === 'True') finished = newCondition('Failed', 'True', ft.reason ?? '', ft.message ?? '', now);
  }
  if (!finished) {
    // A failed pod that a podFailurePolicy FailJob rule matches fails the job at once.
    const message = failJobMessage(job, pods.filter((p) => isPodFailed(p, job)));
    if (message !== undefined) finished = newCondition('FailureTarget', 'True', 'PodFailurePolicy', message, now);
  }
  if (!finished) {
    const deadline = activeDeadlineSecondsOf(job);
    const started = parseTime(status.startTime);
    if (failed > backoffLimitOf(job) || pastBackoffLimitOnFailure(job, pods)) {
      finished = newCondition('FailureTarget', 'True', 'BackoffLimitExceeded', BACKOFF_LIMIT_MESSAGE, now);
    } else if (deadline !== undefined && started !== undefined && !suspended && now - started >= deadline * 1000) {
      finished = newCondition('FailureTarget', 'True', 'DeadlineExceeded', DEADLINE_MESSAGE, now);
    } else if (deadline !== undefined && started !== undefined && !suspended) {
      requeue(deadline * 1000 - (now - started));
    }
  }

  let prevSucceededIndexes: OrderedIntervals = [];
  let succeededIndexes: OrderedIntervals = [];
  // backoffLimitPerIndex (per-index.ts): the failed indexes, and per index the failed pod that
  // keeps its finalizer until its replacement carries its failure counts.
  const perIndex = indexed && backoffLimitPerIndexOf(job) !== undefined;
  let failedIndexes: OrderedIntervals = [];
  let delayed = new Map<number, KubeObject>();
  if (indexed) {
    prevSucceededIndexes = parseIndexes(status.completedIndexes, completions ?? 0);
    const fresh = pods.filter((p) => podPhase(p) === 'Succeeded' && hasTrackingFinalizer(p)).map((p) => validIndexOf(p, job)).filter((ix) => ix >= 0);
    succeededIndexes = withIndexes(prevSucceededIndexes, fresh);
    succeeded = totalIndexes(succeededIndexes);
    if (perIndex) {
      failedIndexes = calculateFailedIndexes(job, pods, completions ?? 0, status.failedIndexes);
      const nFailed = totalIndexes(failedIndexes);
      const maxFailed = maxFailedIndexesOf(job);
      if (!finished && maxFailed !== undefined && nFailed > maxFailed) {
        finished = newCondition('FailureTarget', 'True', MAX_FAILED_INDEXES_REASON, MAX_FAILED_INDEXES_MESSAGE, now);
      } else if (!finished && nFailed > 0 && nFailed + succeeded >= (completions ?? 0)) {
        finished = newCondition('FailureTarget', 'True', FAILED_INDEXES_REASON, FAILED_INDEXES_MESSAGE, now);
      }
      const activeIndexes = new Set(activePods.map((p) => validIndexOf(p, job)).filter((ix) => ix >= 0));
      delayed = podsWithDelayedDeletion(job, pods, activeIndexes, succeededIndexes, failedIndexes);
    }
    if (!finished) {
      const message = matchSuccessPolicy(job, completions ?? 0, succeededIndexes);
      if (message !== undefined) finished = newCondition('SuccessCriteriaMet', 'True', SUCCESS_POLICY_REASON, message, now);
    }
  }

  let suspendChanged = false;
  if (finished) {
    // Failed (or succeeding with pods left): delete the active pods, keeping their finalizers.
    for (const p of activePods) actions.push(deleteAction(p, false, 'finished'));
    ready -= activePods.filter(isPodReady).length;
    terminating += activePods.length;
    active = 0;
  } else {
    let manageCalled = false;
    if (!isBeingDeleted(job)) {
      manageCalled = true;
      const parallelism = parallelismOf(job);
      if (suspended) {
        for (const p of activePods) actions.push(deleteAction(p, true, 'suspended'));
        ready -= activePods.filter(isPodReady).length;
        terminating += activePods.length;
        active = 0;
      } else {
        let wantActive: number;
        if (completions === undefined) wantActive = succeeded > 0 ? active : parallelism;
        else wantActive = Math.max(0, Math.min(completions - succeeded, parallelism));
        const toDelete = activePodsForRemoval(job, activePods, Math.max(0, active - wantActive)).slice(0, MAX_POD_CREATE_DELETE_PER_SYNC);
        if (toDelete.length > 0) {
          for (const p of toDelete) actions.push(deleteAction(p, true, 'excess'));
          ready -= toDelete.filter(isPodReady).length;
          terminating += toDelete.length;
          active -= toDelete.length;
        } else {
          const waitingFor = onlyReplaceFailedPods(job) ? terminating : 0;
          let diff = wantActive - waitingFor - active;
          if (diff > 0) {
            // With backoffLimitPerIndex the back-off is per index (below), not the job's.
            const remaining = perIndex ? 0 : backoffRemainingMs(backoff, now);
            if (remaining > 0) requeue(remaining);
            else {
              diff = Math.min(diff, MAX_POD_CREATE_DELETE_PER_SYNC);
              if (indexed) {
                let taken = withIndexes(succeededIndexes, activePods.map(completionIndexOf).filter((ix) => ix >= 0));
                if (onlyReplaceFailedPods(job)) taken = withIndexes(taken, pods.filter(isPodTerminating).map(completionIndexOf).filter((ix) => ix >= 0));
                if (perIndex) taken = withIndexes(taken, indexesIn(failedIndexes));
                let indexes = firstPendingIndexes(taken, diff, completions ?? 0);
                if (perIndex) {
                  // getPodCreationInfoForIndependentIndexes: the indexes out of back-off now; the
                  // others are synced again when theirs ends.
                  const wait = new Map(indexes.map((ix) => [ix, backoffRemainingMs(indexBackoff(delayed.get(ix)), now)]));
                  for (const ms of wait.values()) if (ms > 0) requeue(ms);
                  indexes = indexes.filter((ix) => wait.get(ix) === 0);
                }
                for (const ix of indexes) {
                  const object = newJobPod(job, ix);
                  if (perIndex) object.metadata.annotations = { ...object.metadata.annotations, ...indexFailureAnnotations(job, delayed.get(ix)) };
                  actions.push({ type: 'createPod', object, index: ix });
                  active++;
                }
              } else {
                for (let i = 0; i < diff; i++) actions.push({ type: 'createPod', object: newJobPod(job) });
                active += diff;
              }
            }
          }
        }
      }
    }
    const complete = completions === undefined ? succeeded > 0 && active === 0 : succeeded >= completions && active === 0;
    if (complete) {
      finished = newCondition('SuccessCriteriaMet', 'True', 'CompletionsReached', COMPLETIONS_REACHED_MESSAGE, now);
    } else if (manageCalled) {
      if (suspended) {
        if (ensureCondition(status, 'Suspended', 'True', 'JobSuspended', 'Job suspended', now)) {
          suspendChanged = true;
          events.push({ type: 'Normal', reason: 'Suspended', message: 'Job suspended' });
        }
      } else if (ensureCondition(status, 'Suspended', 'False', 'JobResumed', 'Job resumed', now)) {
        suspendChanged = true;
        events.push({ type: 'Normal', reason: 'Resumed', message: 'Job resumed' });
        // activeDeadlineSeconds counts continuous activity: a resumed job starts anew.
        status.startTime = rfc3339(now);
      }
    }
  }

  const prevStatus = statusOf(job);
  let needsFlush = suspendChanged || startTimeSet || active !== (prevStatus.active ?? 0) || ready !== prevStatus.ready || terminating !== prevStatus.terminating;
  status.active = active;
  status.ready = ready;
  status.terminating = terminating;

  // -- trackJobStatusAndRemoveFinalizers, up to the first write
  const withFinalizer = new Set(pods.filter(hasTrackingFinalizer).map((p) => p.metadata.uid ?? ''));
  if (cleanUncounted(status, withFinalizer)) needsFlush = true;
  const uncounted = status.uncountedTerminatedPods;
  uncounted.succeeded ??= [];
  uncounted.failed ??= [];
  const removeFinalizers: FinalizerRemoval[] = [];
  const newSucceededIndexes: number[] = [];
  let reachedMaxUncounted = false;
  const ordered = indexed ? [...pods].sort((a, b) => completionIndexOf(a) - completionIndexOf(b)) : pods;
  for (const pod of ordered) {
    if (!hasTrackingFinalizer(pod)) continue;
    const uid = pod.metadata.uid ?? '';
    const consideredFailed = isPodFailed(pod, job);
    let canRemove = isBeingDeleted(job) || finished !== undefined || podPhase(pod) === 'Succeeded' || consideredFailed;
    // The failed pod that carries its index's failure counts stays until its replacement exists.
    if (canRemove && perIndex && !isBeingDeleted(job) && finished === undefined && podPhase(pod) !== 'Succeeded' && delayed.get(completionIndexOf(pod))?.metadata.uid === uid) canRemove = false;
    if (!canRemove) continue;
    removeFinalizers.push({ name: pod.metadata.name ?? '', uid });
    if (podPhase(pod) === 'Succeeded' && !uncountedFailed.has(uid)) {
      if (indexed) {
        const ix = validIndexOf(pod, job);
        if (ix >= 0 && !hasIndex(prevSucceededIndexes, ix)) {
          newSucceededIndexes.push(ix);
          needsFlush = true;
        }
      } else if (!uncountedSucceeded.has(uid)) {
        uncounted.succeeded.push(uid);
        needsFlush = true;
      }
    } else if (consideredFailed || (finished !== undefined && finished.type !== 'SuccessCriteriaMet')) {
      // A failing job counts every pod that did not succeed as failed.
      if (!uncountedFailed.has(uid) && (!indexed || validIndexOf(pod, job) >= 0) && matchPodFailurePolicy(job, pod).countFailed) {
        uncounted.failed.push(uid);
        needsFlush = true;
      }
    }
    if (newSucceededIndexes.length + uncounted.succeeded.length + uncounted.failed.length >= MAX_UNCOUNTED_PODS) {
      reachedMaxUncounted = true;
      break;
    }
  }
  if (indexed) {
    succeededIndexes = withIndexes(succeededIndexes, newSucceededIndexes);
    const str = formatIndexes(succeededIndexes);
    if (str !== (prevStatus.completedIndexes ?? '')) needsFlush = true;
    status.succeeded = totalIndexes(succeededIndexes);
    status.completedIndexes = str;
    if (perIndex) {
      const failedStr = formatIndexes(failedIndexes);
      if (failedStr !== prevStatus.failedIndexes) needsFlush = true;
      status.failedIndexes = failedStr;
    }
  }
  if (finished?.type === 'FailureTarget') {
    // The interim condition is written first, with the failure's reason and message…
    status.conditions = [...(status.conditions ?? []), finished];
    needsFlush = true;
    // …and the terminal one once the pods are accounted for.
    finished = newCondition('Failed', 'True', finished.reason ?? '', finished.message ?? '', now);
  }
  if (finished?.type === 'SuccessCriteriaMet') {
    if (!(status.conditions ?? []).some((c) => c.type === 'SuccessCriteriaMet')) {
      status.conditions = [...(status.conditions ?? []), finished];
      needsFlush = true;
    }
    finished = newCondition('Complete', 'True', finished.reason ?? '', finished.message ?? '', now);
  }

  return {
    finished: false,
    actions,
    status,
    needsFlush,
    removeFinalizers,
    finishing: finished,
    reachedMaxUncounted,
    uidsWithFinalizer: [...withFinalizer],
    events,
    requeueAfterMs,
    backoff,
  };
}

/**
 * The rest of trackJobStatusAndRemoveFinalizers once the finalizer removals are done: uncounted
 * pods whose finalizer is gone move to the counters; when the job is finishing and nothing is
 * uncounted or terminating any more, the terminal condition is added (Complete with
 * completionTime) and its Events recorded.
 */
export function completeTracking(plan: JobSyncPlan, removed: Set<string>, completions: number | undefined): TrackingResult {
  const status = clone(plan.status);
  const events: ControlEvent[] = [];
  const stillWith = new Set(plan.uidsWithFinalizer.filter((uid) => !removed.has(uid)));
  let write = cleanUncounted(status, stillWith);
  let finished = false;
  const cond = plan.finishing;
  const uncounted = (status.uncountedTerminatedPods.succeeded ?? []).length + (status.uncountedTerminatedPods.failed ?? []).length;
  if (cond && !plan.reachedMaxUncounted && uncounted === 0 && status.terminating === 0) {
    const t = Date.parse(cond.lastTransitionTime ?? '') || 0;
    ensureCondition(status, cond.type, 'True', cond.reason ?? '', cond.message ?? '', t);
    if (cond.type === 'Complete') status.completionTime = cond.lastTransitionTime;
    finished = true;
    write = true;
    if (cond.type === 'Complete') {
      if (completions !== undefined && (status.succeeded ?? 0) > completions) {
        events.push({ type: 'Warning', reason: 'TooManySucceededPods', message: 'Too many succeeded pods running after completion count reached' });
      }
      events.push({ type: 'Normal', reason: 'Completed', message: 'Job completed' });
    } else {
      events.push({ type: 'Warning', reason: cond.reason ?? '', message: cond.message ?? '' });
    }
  }
  return { status, write, finished, events };
}

/** The Event Kubernetes records for the outcome of a pod action (RealPodControl), if any. */
export function actionEvent(a: JobAction, error?: { message: string; reason?: string }, createdName?: string): ControlEvent | undefined {
  switch (a.type) {
    case 'createPod':
      if (error) return { type: 'Warning', reason: 'FailedCreate', message: `Error creating: ${error.message}` };
      return { type: 'Normal', reason: 'SuccessfulCreate', message: `Created pod: ${createdName ?? a.object.metadata.name ?? ''}` };
    case 'deletePod':
      if (error?.reason === 'NotFound') return undefined;
      if (error) return { type: 'Warning', reason: 'FailedDelete', message: `Error deleting: ${error.message}` };
      return { type: 'Normal', reason: 'SuccessfulDelete', message: `Deleted pod: ${a.name}` };
    default:
      return undefined;
  }
}

/** A one-line description of an action, for logs and tests. */
export function describeAction(a: JobAction): string {
  switch (a.type) {
    case 'createPod':
      return a.index === undefined ? 'createPod' : `createPod #${a.index}`;
    case 'deletePod':
      return `deletePod ${a.name} (${a.reason})`;
    default:
      return `${a.type} ${a.name}`;
  }
}
