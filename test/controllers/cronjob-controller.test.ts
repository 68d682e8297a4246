// The CronJob controller against a real API server (memory store), on a fake clock: the test
// moves time to the next minute and sees the job appear, without waiting for it. Jobs are
// finished by the test (status subresource) — no job controller runs here. The API part checks
// the batch/v1 CronJob strategy: defaults and 422s naming spec.schedule and spec.timeZone.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type TestServer } from '../support/apiserver.ts';
import { KubeClient, isApiStatusError, type ApiStatusError } from '../../src/client/rest.ts';
import { InformerFactory } from '../../src/client/informer.ts';
import { FakeClock } from '../../src/client/clock.ts';
import type { KubeObject } from '../../src/registry/types.ts';
import { silentLogger } from '../../src/util/log.ts';
import { EVENTS_RESOURCE } from '../../src/controllers/events.ts';
import { CRONJOBS, JOBS, cronJobController, cronJobKeyOf, startCronJobController, type CronJobController } from '../../src/controllers/cronjob/controller.ts';
import { waitFor } from '../support/wait.ts';
import { haveKubectl, kubectlAgainst } from '../support/cluster.ts';

type Obj = Record<string, unknown>;
const NS = 'default';
const MIN = 60_000;
const iso = (ms: number): string => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

function cronJobObj(name: string, spec: Obj = {}): KubeObject {
  return {
    apiVersion: 'batch/v1',
    kind: 'CronJob',
    metadata: { name, namespace: NS },
    spec: {
      schedule: '*/1 * * * *',
      jobTemplate: { spec: { template: { spec: { restartPolicy: 'OnFailure', containers: [{ name: 'c', image: 'busybox', command: ['date'] }] } } } },
      ...spec,
    },
  };
}

describe('CronJob controller against the API server (fake clock)', () => {
  let ts: TestServer;
  let client: KubeClient;
  let informers: InformerFactory;
  let ctl: CronJobController;
  const clock = new FakeClock(Date.now());

  /** Poll, nudging the fake clock 50 ms a time (the controller's cache waits run on it). */
  const settle = <T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 5000): Promise<T> =>
    waitFor(what, async () => {
      clock.advance(50);
      return fn();
    }, timeoutMs, 30);
  const jobsOf = async (cj: string): Promise<KubeObject[]> => (await client.list(JOBS, NS)).items.filter((j) => cronJobKeyOf(j) === `${NS}/${cj}`);
  const events = async (name: string): Promise<Obj[]> => (await client.list(EVENTS_RESOURCE, NS, { fieldSelector: `involvedObject.name=${name}` })).items as unknown as Obj[];
  /** Move the fake clock to just after the next minute boundary after t. */
  const toMinuteAfter = (t: number): number => {
    const target = (Math.floor(t / MIN) + 1) * MIN + 200;
    clock.set(target);
    return target - 200;
  };
  const complete = async (j: KubeObject): Promise<void> => {
    const now = iso(clock.now());
    await client.patch(JOBS, NS, j.metadata.name ?? '', { status: { startTime: now, completionTime: now, succeeded: 1, conditions: [{ type: 'Complete', status: 'True', lastTransitionTime: now }] } }, 'merge', { subresource: 'status' });
  };
  const causes = (e: unknown): string[] => (isApiStatusError(e) ? (e as ApiStatusError).status.details?.causes ?? [] : []).map((c) => `${c.field}: ${c.message}`);

  before(async () => {
    ts = await startTestServer();
    client = KubeClient.fromKubeconfig(ts.kubeconfig);
    informers = new InformerFactory(client, { logger: silentLogger });
    ctl = await startCronJobController({ client, logger: silentLogger, clock, informers, localZone: 'UTC', syncTimeoutMs: 5000 });
  });

  after(async () => {
    await ctl?.stop();
    await informers?.stop();
    client?.close();
    await ts?.stop();
  });

  it('API: defaults, and 422s for a bad schedule, TZ= in it, an unknown zone, a long name', async () => {
    const cj = await client.create(CRONJOBS, cronJobObj('defaults', { suspend: true }));
    const spec = cj.spec as Obj;
    assert.deepEqual([spec.concurrencyPolicy, spec.suspend, spec.successfulJobsHistoryLimit, spec.failedJobsHistoryLimit], ['Allow', true, 3, 1]);
    const podSpec = (((spec.jobTemplate as Obj).spec as Obj).template as { spec: Obj }).spec;
    assert.equal(podSpec.dnsPolicy, 'ClusterFirst', 'the template gets pod defaults');
    assert.equal(((spec.jobTemplate as Obj).spec as Obj).backoffLimit, undefined, 'but no job defaults');
    await client.delete(CRONJOBS, NS, 'defaults');

    const reject = async (obj: KubeObject): Promise<string[]> => {
      try {
        await client.create(CRONJOBS, obj);
      } catch (e) {
        assert.equal((e as ApiStatusError).status.code, 422);
        return causes(e);
      }
      throw new Error('accepted');
    };
    assert.deepEqual(await reject(cronJobObj('bad', { schedule: 'every minute' })), ['spec.schedule: Invalid value: "every minute": expected exactly 5 fields, found 2: [every minute]']);
    assert.deepEqual(await reject(cronJobObj('bad', { schedule: '*/0 * * * *' })), ['spec.schedule: Invalid value: "*/0 * * * *": step of range should be a positive number: */0']);
    assert.deepEqual(await reject(cronJobObj('bad', { schedule: 'TZ=UTC 0 * * * *' })), ['spec.schedule: Invalid value: "TZ=UTC 0 * * * *": cannot use TZ or CRON_TZ in schedule, use timeZone field instead']);
    assert.deepEqual(await reject(cronJobObj('bad', { timeZone: 'Mars/Olympus' })), ['spec.timeZone: Invalid value: "Mars/Olympus": unknown time zone Mars/Olympus']);
    assert.deepEqual(await reject(cronJobObj('bad', { concurrencyPolicy: 'Sometimes' })), ['spec.concurrencyPolicy: Unsupported value: "Sometimes": supported values: "Allow", "Forbid", "Replace"']);
    assert.deepEqual(await reject(cronJobObj('bad', { startingDeadlineSeconds: -1 })), ['spec.startingDeadlineSeconds: Invalid value: -1: must be greater than or equal to 0']);
    assert.deepEqual(await reject(cronJobObj('x'.repeat(53))), [`metadata.name: Invalid value: "${'x'.repeat(53)}": must be no more than 52 characters`]);
    const withSelector = cronJobObj('bad');
    ((withSelector.spec as Obj).jobTemplate as { spec: Obj }).spec.selector = { matchLabels: { a: 'b' } };
    assert.deepEqual(await reject(withSelector), ['spec.jobTemplate.spec.selector: Invalid value: {"matchLabels":{"a":"b"}}: `selector` will be auto-generated']);
    const always = cronJobObj('bad');
    (((always.spec as Obj).jobTemplate as { spec: { template: { spec: Obj } } }).spec.template.spec).restartPolicy = 'Always';
    assert.deepEqual(await reject(always), ['spec.jobTemplate.spec.template.spec.restartPolicy: Required value: valid values: "OnFailure", "Never"']);
    // A good zone is fine.
    await client.create(CRONJOBS, cronJobObj('zoned', { timeZone: 'Europe/Berlin', suspend: true }));
    await client.delete(CRONJOBS, NS, 'zoned');
  });

  it('fires at the next minute: job `<cronjob>-<minutes>`, annotation, status.active, lastScheduleTime, event', async () => {
    const rounds = ctl.rounds;
    const cj = await client.create(CRONJOBS, cronJobObj('tick', { successfulJobsHistoryLimit: 1, jobTemplate: { metadata: { labels: { team: 'a' } }, spec: (cronJobObj('x').spec as { jobTemplate: { spec: Obj } }).jobTemplate.spec } }));
    await settle('a first sync', async () => (ctl.rounds > rounds ? true : undefined));
    assert.deepEqual(await jobsOf('tick'), [], 'nothing before the minute');
    const scheduled = toMinuteAfter(Date.parse(cj.metadata.creationTimestamp ?? ''));
    const [job] = await settle('the job', async () => {
      const js = await jobsOf('tick');
      return js.length === 1 ? js : undefined;
    });
    assert.equal(job.metadata.name, `tick-${scheduled / MIN}`);
    assert.equal(job.metadata.annotations?.['batch.kubernetes.io/cronjob-scheduled-timestamp'], iso(scheduled));
    assert.equal(job.metadata.labels?.team, 'a');
    assert.deepEqual(job.metadata.ownerReferences?.map((r) => [r.kind, r.name, r.uid, r.controller]), [['CronJob', 'tick', cj.metadata.uid, true]]);
    const withStatus = await settle('status.active', async () => {
      const c = await client.get(CRONJOBS, NS, 'tick');
      return ((c.status as Obj).active as Obj[] | undefined)?.length === 1 ? c : undefined;
    });
    const st = withStatus.status as Obj;
    assert.equal(st.lastScheduleTime, iso(scheduled));
    assert.deepEqual(((st.active as Obj[])[0] as Obj).name, job.metadata.name);
    assert.equal(((st.active as Obj[])[0] as Obj).uid, job.metadata.uid);
    const ev = await settle('SuccessfulCreate', async () => (await events('tick')).find((e) => e.reason === 'SuccessfulCreate'));
    assert.equal(ev.message, `Created job ${job.metadata.name}`);
    assert.deepEqual(ev.source, { component: 'cronjob-controller' });

    if (haveKubectl) {
      const table = await kubectlAgainst(ts, ['get', 'cronjobs']);
      assert.match(table, /^NAME\s+SCHEDULE\s+TIMEZONE\s+SUSPEND\s+ACTIVE\s+LAST SCHEDULE\s+AGE\ntick\s+\*\/1 \* \* \* \*\s+<none>\s+False\s+1\s+\S+\s+\S+\n$/);
      assert.match(await kubectlAgainst(ts, ['get', 'cj', 'tick', '-o', 'wide']), /\s+CONTAINERS\s+IMAGES\s+SELECTOR\ntick\s.*\sc\s+busybox\s+<none>\n$/);
    }

    // The job finishes: it leaves status.active and sets lastSuccessfulTime.
    await complete(job);
    const done = await settle('lastSuccessfulTime', async () => {
      const c = await client.get(CRONJOBS, NS, 'tick');
      const s = c.status as Obj;
      return !s.active && typeof s.lastSuccessfulTime === 'string' ? c : undefined;
    });
    assert.equal((done.status as Obj).lastScheduleTime, iso(scheduled));
    assert.ok((await events('tick')).some((e) => e.reason === 'SawCompletedJob' && e.message === `Saw completed job: ${job.metadata.name}, condition: Complete`));

    // The next minute: a second job; with successfulJobsHistoryLimit 1 the first goes once the second completes.
    const second = toMinuteAfter(clock.now());
    const [, next] = await settle('the second job', async () => {
      const js = (await jobsOf('tick')).sort((a, b) => (a.metadata.name ?? '').localeCompare(b.metadata.name ?? ''));
      return js.length === 2 ? js : undefined;
    });
    assert.equal(next.metadata.name, `tick-${second / MIN}`);
    await complete(next);
    await settle('the first job deleted', async () => {
      const js = await jobsOf('tick');
      return js.length === 1 && js[0].metadata.name === next.metadata.name ? true : undefined;
    });
    assert.ok((await events('tick')).some((e) => e.reason === 'SuccessfulDelete' && e.message === `Deleted job ${job.metadata.name}`));
    await client.patch(CRONJOBS, NS, 'tick', { spec: { suspend: true } }, 'merge');
  });

  it('Forbid: no new job while one is active (JobAlreadyActive); Replace: the active one is replaced', async () => {
    const cj = await client.create(CRONJOBS, cronJobObj('solo', { concurrencyPolicy: 'Forbid' }));
    toMinuteAfter(Math.max(clock.now(), Date.parse(cj.metadata.creationTimestamp ?? '')));
    const [first] = await settle('the first job', async () => {
      const js = await jobsOf('solo');
      return js.length === 1 ? js : undefined;
    });
    await settle('active', async () => (((await client.get(CRONJOBS, NS, 'solo')).status as Obj).active ? true : undefined));
    toMinuteAfter(clock.now());
    await settle('JobAlreadyActive', async () => (await events('solo')).find((e) => e.reason === 'JobAlreadyActive'));
    assert.equal((await jobsOf('solo')).length, 1);

    await client.patch(CRONJOBS, NS, 'solo', { spec: { concurrencyPolicy: 'Replace' } }, 'merge');
    const replaced = toMinuteAfter(clock.now());
    await settle('the replacement', async () => {
      const js = await jobsOf('solo');
      return js.length === 1 && js[0].metadata.name === `solo-${replaced / MIN}` ? true : undefined;
    });
    assert.ok((await events('solo')).some((e) => e.reason === 'SuccessfulDelete' && e.message === `Deleted job ${first.metadata.name}`));
    const st = (await client.get(CRONJOBS, NS, 'solo')).status as Obj;
    assert.deepEqual(((st.active as Obj[]) ?? []).map((r) => r.name), [`solo-${replaced / MIN}`]);
    await client.delete(CRONJOBS, NS, 'solo');
    assert.equal(cronJobController.name, 'cronjob');
  });
});
