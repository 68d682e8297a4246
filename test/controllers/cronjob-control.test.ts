// Table tests of the CronJob control algorithm (computeCronJobSync) on plain objects.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { KubeObject } from '../../src/registry/types.ts';
import {
  SCHEDULED_TIMESTAMP_ANNOTATION,
  actionEvent,
  computeCronJobSync,
  jobNameFor,
  mostRecentScheduleTime,
  withCreatedJob,
  type CronJobSyncInput,
} from '../../src/controllers/cronjob/control.ts';
import { parseStandard, type CronSchedule } from '../../src/util/cron.ts';

type Obj = Record<string, unknown>;
const iso = (ms: number): string => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
const at = (s: string): number => Date.parse(s);
const CREATED = at('2024-01-01T10:00:30Z');

function cronJob(spec: Obj = {}, status: Obj = {}): KubeObject {
  return {
    apiVersion: 'batch/v1',
    kind: 'CronJob',
    metadata: { name: 'tick', namespace: 'default', uid: 'cj-uid', creationTimestamp: iso(CREATED) },
    spec: {
      schedule: '*/1 * * * *',
      concurrencyPolicy: 'Allow',
      suspend: false,
      successfulJobsHistoryLimit: 3,
      failedJobsHistoryLimit: 1,
      jobTemplate: { metadata: { labels: { team: 'a' }, annotations: { note: 'x' } }, spec: { template: { spec: { restartPolicy: 'Never', containers: [{ name: 'c', image: 'busybox' }] } } } },
      ...spec,
    },
    status,
  };
}

function job(name: string, o: { finished?: 'Complete' | 'Failed'; start?: number; completion?: number; uid?: string } = {}): KubeObject {
  const status: Obj = {};
  if (o.start !== undefined) status.startTime = iso(o.start);
  if (o.finished) status.conditions = [{ type: o.finished, status: 'True' }];
  if (o.completion !== undefined) status.completionTime = iso(o.completion);
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name, namespace: 'default', uid: o.uid ?? `uid-${name}`, ownerReferences: [{ apiVersion: 'batch/v1', kind: 'CronJob', name: 'tick', uid: 'cj-uid', controller: true }] },
    status,
  };
}

const ref = (j: KubeObject): Obj => ({ apiVersion: 'batch/v1', kind: 'Job', namespace: 'default', name: j.metadata.name, uid: j.metadata.uid });
const sync = (input: Partial<CronJobSyncInput> & { cronJob: KubeObject; now: number }) => computeCronJobSync({ jobs: [], localZone: 'UTC', ...input });
const reasons = (r: { events: { reason: string }[] }): string[] => r.events.map((e) => e.reason);

describe('cronjob control: scheduling', () => {
  it('before the first activation: nothing, and a look just after it', () => {
    const r = sync({ cronJob: cronJob(), now: at('2024-01-01T10:00:40Z') });
    assert.deepEqual(r.actions, []);
    assert.equal(r.statusChanged, false);
    assert.equal(r.requeueAfterMs, 20_100);
  });

  it('at the activation: the job `<cronjob>-<minutes>` from the template, owned, annotated; the next look a minute on', () => {
    const now = at('2024-01-01T10:01:00.050Z');
    const r = sync({ cronJob: cronJob(), now });
    assert.equal(r.actions.length, 1);
    const a = r.actions[0];
    assert.equal(a.type, 'createJob');
    if (a.type !== 'createJob') return;
    const scheduled = at('2024-01-01T10:01:00Z');
    assert.equal(a.scheduledTime, scheduled);
    assert.equal(a.object.metadata.name, `tick-${scheduled / 60_000}`);
    assert.equal(a.object.metadata.name, jobNameFor(cronJob(), scheduled));
    assert.deepEqual(a.object.metadata.labels, { team: 'a' });
    assert.deepEqual(a.object.metadata.annotations, { note: 'x', [SCHEDULED_TIMESTAMP_ANNOTATION]: '2024-01-01T10:01:00Z' });
    assert.deepEqual(a.object.metadata.ownerReferences, [{ apiVersion: 'batch/v1', kind: 'CronJob', name: 'tick', uid: 'cj-uid', controller: true, blockOwnerDeletion: true }]);
    assert.deepEqual((a.object.spec as Obj).template, { spec: { restartPolicy: 'Never', containers: [{ name: 'c', image: 'busybox' }] } });
    assert.equal(r.requeueAfterMs, 60_050);
    // Once created it is active and the schedule time recorded.
    const created = { ...a.object, metadata: { ...a.object.metadata, uid: 'new', resourceVersion: '7' } };
    assert.deepEqual(withCreatedJob(r.status, created, scheduled), {
      active: [{ apiVersion: 'batch/v1', kind: 'Job', namespace: 'default', name: a.object.metadata.name, uid: 'new', resourceVersion: '7' }],
      lastScheduleTime: '2024-01-01T10:01:00Z',
    });
    assert.deepEqual(actionEvent(a, undefined, created), { type: 'Normal', reason: 'SuccessfulCreate', message: `Created job ${a.object.metadata.name}` });
  });

  it('an activation already started (lastScheduleTime, or its job active) is not started again', () => {
    const now = at('2024-01-01T10:01:20Z');
    const r = sync({ cronJob: cronJob({}, { lastScheduleTime: '2024-01-01T10:01:00Z' }), now });
    assert.deepEqual(r.actions, []);
    assert.equal(r.requeueAfterMs, 40_100);
  });

  it('time zone: 09:00 in New York is 14:00Z in winter; the annotation carries the offset', () => {
    const cj = cronJob({ schedule: '0 9 * * *', timeZone: 'America/New_York' });
    const r = sync({ cronJob: cj, now: at('2024-01-01T14:00:01Z') });
    const a = r.actions[0];
    assert.equal(a?.type === 'createJob' && a.object.metadata.annotations?.[SCHEDULED_TIMESTAMP_ANNOTATION], '2024-01-01T09:00:00-05:00');
    // Without spec.timeZone the controller's own zone applies.
    assert.equal(sync({ cronJob: cronJob({ schedule: '0 9 * * *' }), now: at('2024-01-01T14:00:01Z'), localZone: 'America/New_York' }).actions.length, 1);
    assert.equal(sync({ cronJob: cronJob({ schedule: '0 9 * * *' }), now: at('2024-01-01T14:00:01Z'), localZone: 'UTC' }).actions.length, 0);
  });

  it('many missed activations: only the most recent starts, with TooManyMissedTimes past 100', () => {
    const now = at('2024-01-01T13:00:10Z');
    const r = sync({ cronJob: cronJob(), now });
    assert.deepEqual(reasons(r), ['TooManyMissedTimes']);
    assert.equal(r.events[0].message, 'too many missed start times. Set or decrease .spec.startingDeadlineSeconds or check clock skew');
    assert.equal(r.actions.length, 1);
    assert.equal(r.actions[0].type === 'createJob' && r.actions[0].scheduledTime, at('2024-01-01T13:00:00Z'));
    // A few missed: no warning.
    assert.deepEqual(reasons(sync({ cronJob: cronJob(), now: at('2024-01-01T10:05:10Z') })), []);
  });

  it('startingDeadlineSeconds: an activation older than the deadline is skipped, the next one awaited', () => {
    // Kubernetes starts the search at now - startingDeadlineSeconds, so a run missed by more
    // than the deadline is not even considered (MissSchedule cannot follow from it).
    const cj = cronJob({ schedule: '0 * * * *', startingDeadlineSeconds: 30 });
    const late = sync({ cronJob: cj, now: at('2024-01-01T11:01:00Z') });
    assert.deepEqual(late.actions, []);
    assert.deepEqual(late.events, []);
    assert.equal(late.requeueAfterMs, 59 * 60_000 + 100);
    const inTime = sync({ cronJob: cj, now: at('2024-01-01T11:00:20Z') });
    assert.equal(inTime.actions.length === 1 && inTime.actions[0].type === 'createJob' && inTime.actions[0].scheduledTime, at('2024-01-01T11:00:00Z'));
  });

  it('concurrencyPolicy Forbid skips while a job is active; Replace deletes it first; Allow runs both', () => {
    const running = job('tick-1');
    const status = { active: [ref(running)], lastScheduleTime: '2024-01-01T10:01:00Z' };
    const now = at('2024-01-01T10:02:00.5Z');
    const forbid = sync({ cronJob: cronJob({ concurrencyPolicy: 'Forbid' }, status), jobs: [running], now });
    assert.deepEqual(forbid.actions, []);
    assert.deepEqual(forbid.events, [{ type: 'Normal', reason: 'JobAlreadyActive', message: 'Not starting job because prior execution is running and concurrency policy is Forbid' }]);
    const replace = sync({ cronJob: cronJob({ concurrencyPolicy: 'Replace' }, status), jobs: [running], now });
    assert.deepEqual(replace.actions.map((a) => a.type), ['deleteJob', 'createJob']);
    assert.deepEqual(replace.actions[0], { type: 'deleteJob', name: 'tick-1', uid: 'uid-tick-1', reason: 'replace' });
    assert.deepEqual(replace.status.active, []);
    const allow = sync({ cronJob: cronJob({}, status), jobs: [running], now });
    assert.deepEqual(allow.actions.map((a) => a.type), ['createJob']);
  });

  it('suspended, being deleted, or with a time zone Go cannot load: nothing starts', () => {
    const now = at('2024-01-01T10:01:00.5Z');
    assert.deepEqual(sync({ cronJob: cronJob({ suspend: true }), now }).actions, []);
    const deleting = cronJob();
    deleting.metadata.deletionTimestamp = iso(now);
    assert.deepEqual(sync({ cronJob: deleting, now }).actions, []);
    const tz = sync({ cronJob: cronJob({ timeZone: 'Mars/Olympus' }), now });
    assert.deepEqual(tz.actions, []);
    assert.deepEqual(tz.events, [{ type: 'Warning', reason: 'UnknownTimeZone', message: 'invalid timeZone: "Mars/Olympus": unknown time zone Mars/Olympus' }]);
    const bad = sync({ cronJob: cronJob({ schedule: 'never' }), now });
    assert.deepEqual(bad.events, [{ type: 'Warning', reason: 'UnparseableSchedule', message: 'unparseable schedule: "never" : expected exactly 5 fields, found 1: [never]' }]);
    const impossible = sync({ cronJob: cronJob({ schedule: '0 0 31 2 *' }), now });
    assert.deepEqual(reasons(impossible), ['InvalidSchedule']);
  });
});

describe('cronjob control: the jobs it has', () => {
  it('an active job that finished leaves status.active (SawCompletedJob); its completion time becomes lastSuccessfulTime', () => {
    const done = job('tick-1', { finished: 'Complete', completion: at('2024-01-01T10:01:05Z') });
    const cj = cronJob({}, { active: [ref(done)], lastScheduleTime: '2024-01-01T10:01:00Z' });
    const now = at('2024-01-01T10:01:10Z');
    const r = sync({ cronJob: cj, jobs: [done], now });
    assert.deepEqual(r.events, [{ type: 'Normal', reason: 'SawCompletedJob', message: 'Saw completed job: tick-1, condition: Complete' }]);
    assert.equal(r.status.active?.length, 0);
    assert.equal(r.statusChanged, true);
    // Next round (no longer active): lastSuccessfulTime.
    const r2 = sync({ cronJob: { ...cj, status: { lastScheduleTime: '2024-01-01T10:01:00Z' } }, jobs: [done], now });
    assert.equal(r2.status.lastSuccessfulTime, '2024-01-01T10:01:05Z');
    assert.deepEqual(reasons(r2), []);
  });

  it('an unfinished job it does not list is reported; an active job gone from the API is dropped', () => {
    const stray = job('manual');
    const gone = job('tick-9');
    const cj = cronJob({}, { active: [ref(gone)], lastScheduleTime: '2024-01-01T10:01:00Z' });
    const now = at('2024-01-01T10:01:10Z');
    const r = sync({ cronJob: cj, jobs: [stray], now, missing: new Set(['uid-tick-9']) });
    assert.deepEqual(r.events, [
      { type: 'Warning', reason: 'UnexpectedJob', message: 'Saw a job that the controller did not create or forgot: manual' },
      { type: 'Normal', reason: 'MissingJob', message: 'Active job went missing: tick-9' },
    ]);
    assert.deepEqual(r.status.active, []);
    // Not confirmed gone (the cache may lag): kept.
    assert.equal(sync({ cronJob: cj, jobs: [], now }).status.active?.length, 1);
  });

  it('history limits: the oldest finished jobs beyond them are deleted', () => {
    const t = at('2024-01-01T09:00:00Z');
    const ok = [5, 1, 4, 2, 3].map((i) => job(`ok-${i}`, { finished: 'Complete', start: t + i * 60_000 }));
    const failed = [1, 2].map((i) => job(`bad-${i}`, { finished: 'Failed', start: t + i * 60_000 }));
    const r = sync({ cronJob: cronJob({ suspend: true }), jobs: [...ok, ...failed, job('running', { start: t })], now: at('2024-01-01T10:00:40Z') });
    assert.deepEqual(
      r.actions.map((a) => (a.type === 'deleteJob' ? `${a.name}/${a.reason}` : a.type)),
      ['ok-1/history', 'ok-2/history', 'bad-1/history'],
    );
    assert.deepEqual(actionEvent(r.actions[0]), { type: 'Normal', reason: 'SuccessfulDelete', message: 'Deleted job ok-1' });
    assert.equal(actionEvent(r.actions[0], { message: 'nope', reason: 'NotFound' }), undefined);
  });
});

describe('cronjob control: mostRecentScheduleTime', () => {
  const s: CronSchedule = (() => {
    const p = parseStandard('*/5 * * * *', 'UTC');
    if (!p.ok) throw new Error(p.error);
    return p.schedule;
  })();
  it('counts missed activations since the last one and finds the latest', () => {
    const cj = cronJob({}, { lastScheduleTime: '2024-01-01T10:00:00Z' });
    assert.deepEqual(mostRecentScheduleTime(cj, at('2024-01-01T10:04:59Z'), s, true), { earliest: at('2024-01-01T10:00:00Z'), missed: 0 });
    assert.deepEqual(mostRecentScheduleTime(cj, at('2024-01-01T10:07:00Z'), s, true), { earliest: at('2024-01-01T10:00:00Z'), mostRecent: at('2024-01-01T10:05:00Z'), missed: 1 });
    const r = mostRecentScheduleTime(cj, at('2024-01-01T10:31:00Z'), s, true);
    assert.equal(r.mostRecent, at('2024-01-01T10:30:00Z'));
    assert.equal(r.missed, 6);
    // startingDeadlineSeconds moves the start of the search forward.
    const withDeadline = cronJob({ startingDeadlineSeconds: 120 }, { lastScheduleTime: '2024-01-01T10:00:00Z' });
    assert.equal(mostRecentScheduleTime(withDeadline, at('2024-01-01T10:31:00Z'), s, true).earliest, at('2024-01-01T10:29:00Z'));
  });
});
