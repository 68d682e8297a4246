// The CronJob control algorithm as pure functions: (cron job, the jobs it controls, now) → the
// jobs to delete and to create, the status, the Events Kubernetes records and when to look
// again. No I/O, no clock.
//
// Semantics follow Kubernetes v1.32 pkg/controller/cronjob (ControllerV2: sync,
// cleanupFinishedJobs, syncCronJob, mostRecentScheduleTime, getJobFromTemplate2):
// - History: finished jobs beyond successfulJobsHistoryLimit / failedJobsHistoryLimit are
//   deleted, oldest start time first (Background propagation; SuccessfulDelete "Deleted job x").
// - Bookkeeping: an active job that finished leaves status.active (SawCompletedJob "Saw completed
//   job: x, condition: Complete"); a succeeded job's completionTime advances
//   status.lastSuccessfulTime; an unfinished job the cron job controls but does not list is
//   reported (UnexpectedJob); an active reference whose job is gone from the API is dropped
//   (MissingJob).
// - Nothing is started while the cron job is being deleted, suspended, or has a schedule or time
//   zone that does not parse (UnparseableSchedule, InvalidSchedule, UnknownTimeZone).
// - Scheduling: the most recent unmet activation after status.lastScheduleTime (or the creation
//   time; or now − startingDeadlineSeconds when later) is started — only that one, however many
//   were missed (>100 missed → TooManyMissedTimes "too many missed start times. Set or decrease
//   .spec.startingDeadlineSeconds or check clock skew"). With startingDeadlineSeconds the search
//   starts no earlier than now − startingDeadlineSeconds, so activations missed by more than that
//   are skipped (Kubernetes keeps the MissSchedule check after it; it cannot trigger then).
//   Already started (an active job of that name, or lastScheduleTime) → nothing.
//   concurrencyPolicy Forbid with an active job → JobAlreadyActive; Replace → the active jobs are
//   deleted first.
// - The job: name `<cronjob>-<scheduled time in minutes since the epoch>`, the template's labels
//   and annotations plus `batch.kubernetes.io/cronjob-scheduled-timestamp` (RFC 3339 in the cron
//   job's time zone, UTC without one), a controller reference, the template's spec.
//   SuccessfulCreate "Created job x"; it goes into status.active and its time into
//   status.lastScheduleTime.
// - The next look is at the next activation (+100 ms).
import type { KubeObject, OwnerReference } from '../../registry/types.ts';
import { asArray, asRecord, isRecord } from '../../registry/validation.ts';
import { formatRFC1123Z, formatRFC3339InZone, loadLocationError, parseStandard, type CronSchedule } from '../../util/cron.ts';

type Obj = Record<string, unknown>;

export const CRONJOB_API_VERSION = 'batch/v1';
export const CRONJOB_KIND = 'CronJob';
export const SCHEDULED_TIMESTAMP_ANNOTATION = 'batch.kubernetes.io/cronjob-scheduled-timestamp';
/** Added to each requeue so that the activation has passed when the sync runs. */
export const NEXT_SCHEDULE_DELTA_MS = 100;
/** More missed activations than this are reported. */
export const MANY_MISSED = 100;

export interface ControlEvent {
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
}

/** core/v1 ObjectReference as status.active holds it. */
export interface JobReference {
  apiVersion?: string;
  kind?: string;
  namespace?: string;
  name?: string;
  uid?: string;
  resourceVersion?: string;
}

/** batch/v1 CronJobStatus. */
export interface CronJobStatus {
  active?: JobReference[];
  lastScheduleTime?: string;
  lastSuccessfulTime?: string;
}

export type CronJobAction =
  /** Delete the job (Background propagation, uid precondition). */
  | { type: 'deleteJob'; name: string; uid: string; reason: 'history' | 'replace' }
  /** Create the job for `scheduledTime`; once created it joins status.active. */
  | { type: 'createJob'; object: KubeObject; scheduledTime: number };

export interface CronJobSyncInput {
  cronJob: KubeObject;
  /** Jobs of the cron job's namespace whose controller reference names it. */
  jobs: KubeObject[];
  now: number;
  /** uids of active references the API confirmed gone. */
  missing?: ReadonlySet<string>;
  /** The time zone of a schedule without spec.timeZone (the controller's own). */
  localZone: string;
}

export interface CronJobSyncResult {
  /** Deletions first (a failed one ends the round), then at most one creation. */
  actions: CronJobAction[];
  /** The status before a creation (withCreatedJob() adds the created job). */
  status: CronJobStatus;
  statusChanged: boolean;
  events: ControlEvent[];
  /** Sync again after this many ms (the next activation). */
  requeueAfterMs?: number;
}

function int(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? Math.trunc(v) : undefined;
}

function spec(cj: KubeObject): Obj {
  return asRecord(cj.spec);
}

export function parseTime(v: unknown): number | undefined {
  if (typeof v !== 'string') return undefined;
  const t = Date.parse(v);
  return Number.isNaN(t) ? undefined : t;
}

export function rfc3339(ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function jobConditionTrue(job: KubeObject, type: string): boolean {
  return asArray(asRecord(job.status).conditions).some((c) => asRecord(c).type === type && asRecord(c).status === 'True');
}

/** The finished condition type of a job (Complete or Failed), if finished. */
export function jobFinishedAs(job: KubeObject): 'Complete' | 'Failed' | undefined {
  if (jobConditionTrue(job, 'Complete')) return 'Complete';
  if (jobConditionTrue(job, 'Failed')) return 'Failed';
  return undefined;
}

export function statusOf(cj: KubeObject): CronJobStatus {
  const st = asRecord(cj.status);
  const out: CronJobStatus = {};
  const active = asArray(st.active).filter(isRecord) as JobReference[];
  if (active.length > 0) out.active = active.map((r) => ({ ...r }));
  if (typeof st.lastScheduleTime === 'string') out.lastScheduleTime = st.lastScheduleTime;
  if (typeof st.lastSuccessfulTime === 'string') out.lastSuccessfulTime = st.lastSuccessfulTime;
  return out;
}

/** The controller reference a cron job puts on its jobs. */
export function cronJobControllerRef(cj: KubeObject): OwnerReference {
  return { apiVersion: CRONJOB_API_VERSION, kind: CRONJOB_KIND, name: cj.metadata.name ?? '', uid: cj.metadata.uid ?? '', controller: true, blockOwnerDeletion: true };
}

/** getJobName: `<cronjob>-<scheduled time in minutes since the epoch>`. */
export function jobNameFor(cj: KubeObject, scheduledTime: number): string {
  return `${cj.metadata.name ?? ''}-${Math.floor(scheduledTime / 60_000)}`;
}

/** getJobFromTemplate2: the job for one activation. */
export function jobFromTemplate(cj: KubeObject, scheduledTime: number): KubeObject {
  const jt = asRecord(spec(cj).jobTemplate);
  const meta = asRecord(jt.metadata);
  const labels: Record<string, string> = {};
  for (const [k, v] of Object.entries(asRecord(meta.labels))) if (typeof v === 'string') labels[k] = v;
  const annotations: Record<string, string> = {};
  for (const [k, v] of Object.entries(asRecord(meta.annotations))) if (typeof v === 'string') annotations[k] = v;
  const tz = spec(cj).timeZone;
  annotations[SCHEDULED_TIMESTAMP_ANNOTATION] = formatRFC3339InZone(scheduledTime, typeof tz === 'string' ? tz : 'UTC');
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: {
      name: jobNameFor(cj, scheduledTime),
      namespace: cj.metadata.namespace ?? 'default',
      labels,
      annotations,
      ownerReferences: [cronJobControllerRef(cj)],
    },
    spec: JSON.parse(JSON.stringify(asRecord(jt.spec))) as Obj,
  };
}

/** The reference status.active keeps of a job (ref.GetReference). */
export function jobReference(job: KubeObject): JobReference {
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    namespace: job.metadata.namespace,
    name: job.metadata.name,
    uid: job.metadata.uid,
    resourceVersion: job.metadata.resourceVersion,
  };
}

/** The status once the job for `scheduledTime` exists: in active, and the schedule time. */
export function withCreatedJob(status: CronJobStatus, job: KubeObject, scheduledTime: number): CronJobStatus {
  const active = (status.active ?? []).filter((r) => r.uid !== job.metadata.uid);
  return { ...status, active: [...active, jobReference(job)], lastScheduleTime: rfc3339(scheduledTime) };
}

/** The status as it goes on the wire (an empty active list left out). */
export function wireStatus(s: CronJobStatus): Obj {
  const out: Obj = {};
  if (s.active && s.active.length > 0) out.active = s.active;
  if (s.lastScheduleTime) out.lastScheduleTime = s.lastScheduleTime;
  if (s.lastSuccessfulTime) out.lastSuccessfulTime = s.lastSuccessfulTime;
  return out;
}

export interface MostRecent {
  /** Where the search started (lastScheduleTime, creation, or the starting deadline). */
  earliest: number;
  /** The latest activation at or before now after `earliest`, if any. */
  mostRecent?: number;
  /** Activations missed since `earliest` (approximate, as Kubernetes estimates it). */
  missed: number;
  error?: string;
}

/** mostRecentScheduleTime. */
export function mostRecentScheduleTime(cj: KubeObject, now: number, sched: CronSchedule, includeStartingDeadline: boolean): MostRecent {
  let earliest = parseTime(asRecord(cj.status).lastScheduleTime) ?? parseTime(cj.metadata.creationTimestamp) ?? now;
  const sds = int(spec(cj).startingDeadlineSeconds);
  if (includeStartingDeadline && sds !== undefined) {
    const deadline = now - sds * 1000;
    if (deadline > earliest) earliest = deadline;
  }
  const tooClose = 'time difference between two schedules is less than 1 second';
  const t1 = sched.next(earliest);
  if (t1 === undefined) return { earliest, missed: 0, error: tooClose };
  if (now < t1) return { earliest, missed: 0 };
  const t2 = sched.next(t1);
  if (t2 === undefined) return { earliest, missed: 0, error: tooClose };
  if (now < t2) return { earliest, mostRecent: t1, missed: 1 };
  const between = Math.round((t2 - t1) / 1000);
  if (between < 1) return { earliest, missed: 0, error: tooClose };
  const elapsed = Math.floor((now - t1) / 1000);
  const missed = Math.floor(elapsed / between) + 1;
  let mostRecent: number | undefined;
  let t = sched.next(t1 + (missed - 2) * between * 1000);
  for (let guard = 0; t !== undefined && t <= now && guard < 100_000; guard++) {
    mostRecent = t;
    t = sched.next(t);
  }
  return { earliest, mostRecent, missed };
}

/** nextScheduleTimeDuration: how long until the next activation (+100 ms). */
export function nextScheduleDelay(cj: KubeObject, now: number, sched: CronSchedule): number | undefined {
  const r = mostRecentScheduleTime(cj, now, sched, false);
  let from: number;
  if (r.error !== undefined) from = now;
  else if (r.mostRecent !== undefined) from = r.mostRecent;
  else from = r.missed === 0 ? r.earliest : now;
  const next = sched.next(from);
  return next === undefined ? undefined : Math.max(0, next + NEXT_SCHEDULE_DELTA_MS - now);
}

/** byJobStartTime: by status.startTime (unset last), then name. */
function byStartTime(a: KubeObject, b: KubeObject): number {
  const ta = parseTime(asRecord(a.status).startTime);
  const tb = parseTime(asRecord(b.status).startTime);
  if (ta === undefined && tb === undefined) return (a.metadata.name ?? '').localeCompare(b.metadata.name ?? '');
  if (ta === undefined) return 1;
  if (tb === undefined) return -1;
  if (ta === tb) return (a.metadata.name ?? '').localeCompare(b.metadata.name ?? '');
  return ta - tb;
}

/** The parsed schedule of a cron job (formatSchedule + ParseStandard), with the Event it records. */
export function scheduleOf(cj: KubeObject, localZone: string): { schedule?: CronSchedule; events: ControlEvent[]; error?: string } {
  const events: ControlEvent[] = [];
  const schedule = String(spec(cj).schedule ?? '');
  const tz = spec(cj).timeZone;
  if (schedule.includes('TZ')) {
    events.push({
      type: 'Warning',
      reason: 'UnsupportedSchedule',
      message: `CRON_TZ or TZ used in schedule ${JSON.stringify(schedule)} is not officially supported, see https://kubernetes.io/docs/concepts/workloads/controllers/cron-jobs/ for more details`,
    });
  }
  const zone = typeof tz === 'string' ? (tz === '' ? 'UTC' : tz) : localZone;
  const parsed = parseStandard(schedule, zone);
  if (!parsed.ok) return { events, error: parsed.error };
  return { schedule: parsed.schedule, events };
}

export function computeCronJobSync(input: CronJobSyncInput): CronJobSyncResult {
  const { cronJob: cj, now } = input;
  const events: ControlEvent[] = [];
  const actions: CronJobAction[] = [];
  const status = statusOf(cj);
  let changed = false;
  const removeActive = (uid: string | undefined): boolean => {
    const before = (status.active ?? []).length;
    status.active = (status.active ?? []).filter((r) => r.uid !== uid);
    return status.active.length !== before;
  };
  const done = (requeueAfterMs?: number): CronJobSyncResult => ({ actions, status, statusChanged: changed, events, requeueAfterMs });

  // -- cleanupFinishedJobs
  const s = spec(cj);
  for (const [kind, limit] of [
    ['Complete', int(s.successfulJobsHistoryLimit)],
    ['Failed', int(s.failedJobsHistoryLimit)],
  ] as const) {
    if (limit === undefined) continue;
    const finished = input.jobs.filter((j) => jobFinishedAs(j) === kind).sort(byStartTime);
    for (const j of finished.slice(0, Math.max(0, finished.length - limit))) {
      actions.push({ type: 'deleteJob', name: j.metadata.name ?? '', uid: j.metadata.uid ?? '', reason: 'history' });
      removeActive(j.metadata.uid);
      changed = true;
    }
  }

  // -- bookkeeping of the jobs it has
  const children = new Set(input.jobs.map((j) => j.metadata.uid ?? ''));
  for (const j of input.jobs) {
    const found = (status.active ?? []).some((r) => r.uid === j.metadata.uid);
    const finishedAs = jobFinishedAs(j);
    if (!found && !finishedAs) {
      events.push({ type: 'Warning', reason: 'UnexpectedJob', message: `Saw a job that the controller did not create or forgot: ${j.metadata.name ?? ''}` });
    } else if (found && finishedAs) {
      removeActive(j.metadata.uid);
      events.push({ type: 'Normal', reason: 'SawCompletedJob', message: `Saw completed job: ${j.metadata.name ?? ''}, condition: ${finishedAs}` });
      changed = true;
    } else if (finishedAs === 'Complete') {
      const completed = asRecord(j.status).completionTime;
      const ct = parseTime(completed);
      const last = parseTime(status.lastSuccessfulTime);
      if (typeof completed === 'string' && ct !== undefined && (last === undefined || ct > last)) {
        status.lastSuccessfulTime = completed;
        changed = true;
      }
    }
  }
  for (const ref of [...(status.active ?? [])]) {
    if (children.has(ref.uid ?? '') || !input.missing?.has(ref.uid ?? '')) continue;
    events.push({ type: 'Normal', reason: 'MissingJob', message: `Active job went missing: ${ref.name ?? ''}` });
    removeActive(ref.uid);
    changed = true;
  }

  if (typeof cj.metadata.deletionTimestamp === 'string' && cj.metadata.deletionTimestamp !== '') return done();
  const tz = s.timeZone;
  if (typeof tz === 'string') {
    const err = loadLocationError(tz);
    if (err !== undefined) {
      events.push({ type: 'Warning', reason: 'UnknownTimeZone', message: `invalid timeZone: ${JSON.stringify(tz)}: ${err}` });
      return done();
    }
  }
  if (s.suspend === true) return done();

  const parsed = scheduleOf(cj, input.localZone);
  events.push(...parsed.events);
  if (!parsed.schedule) {
    events.push({ type: 'Warning', reason: 'UnparseableSchedule', message: `unparseable schedule: ${JSON.stringify(String(s.schedule ?? ''))} : ${parsed.error ?? ''}` });
    return done();
  }
  const sched = parsed.schedule;
  // The status as this round leaves it (lastScheduleTime matters for the next activation).
  const view = (): KubeObject => ({ ...cj, status: wireStatus(status) });
  const recent = mostRecentScheduleTime(view(), now, sched, true);
  if (recent.error !== undefined) {
    events.push({ type: 'Warning', reason: 'InvalidSchedule', message: `invalid schedule: ${String(s.schedule ?? '')} : ${recent.error}` });
    return done();
  }
  if (recent.mostRecent === undefined || recent.mostRecent > now) return done(nextScheduleDelay(view(), now, sched));
  if (recent.missed > MANY_MISSED) {
    events.push({ type: 'Warning', reason: 'TooManyMissedTimes', message: 'too many missed start times. Set or decrease .spec.startingDeadlineSeconds or check clock skew' });
  }
  const scheduled = recent.mostRecent;
  const sds = int(s.startingDeadlineSeconds);
  if (sds !== undefined && scheduled + sds * 1000 < now) {
    events.push({ type: 'Warning', reason: 'MissSchedule', message: `Missed scheduled time to start a job: ${formatRFC1123Z(scheduled)}` });
    return done(nextScheduleDelay(view(), now, sched));
  }
  const name = jobNameFor(cj, scheduled);
  if ((status.active ?? []).some((r) => r.name === name) || parseTime(status.lastScheduleTime) === Math.floor(scheduled / 1000) * 1000) {
    return done(nextScheduleDelay(view(), now, sched));
  }
  if (s.concurrencyPolicy === 'Forbid' && (status.active ?? []).length > 0) {
    events.push({ type: 'Normal', reason: 'JobAlreadyActive', message: 'Not starting job because prior execution is running and concurrency policy is Forbid' });
    return done(nextScheduleDelay(view(), now, sched));
  }
  if (s.concurrencyPolicy === 'Replace') {
    for (const ref of [...(status.active ?? [])]) {
      actions.push({ type: 'deleteJob', name: ref.name ?? '', uid: ref.uid ?? '', reason: 'replace' });
      removeActive(ref.uid);
      changed = true;
    }
  }
  actions.push({ type: 'createJob', object: jobFromTemplate(cj, scheduled), scheduledTime: scheduled });
  // The requeue counts from this activation.
  const after: KubeObject = { ...cj, status: { ...wireStatus(status), lastScheduleTime: rfc3339(scheduled) } };
  return done(nextScheduleDelay(after, now, sched));
}

/** The Event recorded for the outcome of an action (ControllerV2's wording). */
export function actionEvent(a: CronJobAction, error?: { message: string; reason?: string }, created?: KubeObject): ControlEvent | undefined {
  if (a.type === 'deleteJob') {
    if (error?.reason === 'NotFound') return undefined;
    if (error) return { type: 'Warning', reason: 'FailedDelete', message: `Deleted job: ${error.message}` };
    return { type: 'Normal', reason: 'SuccessfulDelete', message: `Deleted job ${a.name}` };
  }
  if (error) return error.reason === 'AlreadyExists' ? undefined : { type: 'Warning', reason: 'FailedCreate', message: `Error creating job: ${error.message}` };
  return { type: 'Normal', reason: 'SuccessfulCreate', message: `Created job ${created?.metadata.name ?? a.object.metadata.name ?? ''}` };
}
