// Jobs and CronJobs end to end: `kennel up --runtime process` (pods are real host processes) and
// the real kubectl. An Indexed Job whose pods print their JOB_COMPLETION_INDEX completes; a
// failing Job retries once and fails with BackoffLimitExceeded; a Job whose podFailurePolicy
// matches its pod's exit code fails at once with PodFailurePolicy; an Indexed Job whose
// successPolicy index 0 meets completes and stops its other pods; an Indexed Job with
// backoffLimitPerIndex retries a failing index once and fails another at once on a FailIndex
// rule, then fails with FailedIndexes while its other indexes succeed; a CronJob on `*/1 * * * *` starts
// a job within the minute (created first, so the wait overlaps the other tests);
// `kubectl create job --from=cronjob/…` works; a bad schedule is refused naming spec.schedule.
// Every job, cron job and pod is deleted before kennel stops, and no process is left.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import YAML from 'yaml';
import { startKennel, type Kennel } from '../support/kennel.ts';
import { deleteAllPods, processesOf } from '../support/pod-helpers.ts';
import { waitUntil } from '../support/wait.ts';

// Named in every command, so that leftovers can be found on the host.
const MARKER = `kennel-e2e-jobs-${randomBytes(4).toString('hex')}`;

type Obj = Record<string, unknown>;

function podTemplate(command: string, restartPolicy = 'Never'): Obj {
  return { spec: { restartPolicy, terminationGracePeriodSeconds: 1, containers: [{ name: 'main', image: 'busybox', command: ['/bin/sh', '-c', `${command}; : ${MARKER}`] }] } };
}

function manifests(): string {
  const objs: Obj[] = [
    {
      apiVersion: 'batch/v1',
      kind: 'CronJob',
      metadata: { name: 'tick' },
      spec: { schedule: '*/1 * * * *', jobTemplate: { spec: { template: podTemplate('echo tick at $(date)', 'OnFailure') } } },
    },
    {
      apiVersion: 'batch/v1',
      kind: 'Job',
      metadata: { name: 'indexed' },
      spec: { completions: 3, parallelism: 2, completionMode: 'Indexed', template: podTemplate('echo "index $JOB_COMPLETION_INDEX on $HOSTNAME"') },
    },
    { apiVersion: 'batch/v1', kind: 'Job', metadata: { name: 'failing' }, spec: { backoffLimit: 1, template: podTemplate('echo giving up; exit 3') } },
    {
      apiVersion: 'batch/v1',
      kind: 'Job',
      metadata: { name: 'policy' },
      spec: {
        backoffLimit: 6,
        podFailurePolicy: {
          rules: [
            { action: 'FailJob', onExitCodes: { containerName: 'main', operator: 'In', values: [42] } },
            { action: 'Ignore', onPodConditions: [{ type: 'DisruptionTarget' }] },
          ],
        },
        template: podTemplate('echo a configuration error; exit 42'),
      },
    },
    {
      apiVersion: 'batch/v1',
      kind: 'Job',
      metadata: { name: 'leader' },
      spec: {
        completions: 3,
        parallelism: 3,
        completionMode: 'Indexed',
        successPolicy: { rules: [{ succeededIndexes: '0' }] },
        template: podTemplate('if [ "$JOB_COMPLETION_INDEX" = 0 ]; then echo leader done; else exec sleep 300; fi'),
      },
    },
    {
      apiVersion: 'batch/v1',
      kind: 'Job',
      metadata: { name: 'per-index' },
      spec: {
        completions: 4,
        parallelism: 4,
        completionMode: 'Indexed',
        backoffLimitPerIndex: 1,
        podFailurePolicy: { rules: [{ action: 'FailIndex', onExitCodes: { containerName: 'main', operator: 'In', values: [42] } }] },
        template: podTemplate('case "$JOB_COMPLETION_INDEX" in 1) echo flaky; exit 1;; 2) echo broken; exit 42;; *) echo fine;; esac'),
      },
    },
  ];
  return objs.map((o) => YAML.stringify(o)).join('---\n');
}

interface JobJson {
  metadata: { name: string; annotations?: Record<string, string>; ownerReferences?: { kind: string; name: string }[] };
  spec?: { backoffLimit?: number };
  status?: { succeeded?: number; failed?: number; completedIndexes?: string; failedIndexes?: string; conditions?: { type: string; status: string; reason?: string; message?: string }[] };
}

describe('jobs and cron jobs on the process runtime', () => {
  let kn: Kennel | undefined;
  let root = '';
  let cronCreated = 0;

  const getJob = async (name: string): Promise<JobJson | undefined> => {
    const r = await kn!.kubectl(['get', 'job', name, '-o', 'json']);
    return r.code === 0 ? (JSON.parse(r.stdout) as JobJson) : undefined;
  };
  const jobDone = (name: string, type: 'Complete' | 'Failed', timeoutMs = 45_000): Promise<JobJson> =>
    waitUntil(`job ${name} ${type}`, async () => {
      const j = await getJob(name);
      return j?.status?.conditions?.some((c) => c.type === type && c.status === 'True') ? j : undefined;
    }, { timeoutMs, everyMs: 250 });
  const podsOf = async (job: string): Promise<{ name: string; index?: string; phase: string }[]> => {
    const list = JSON.parse(await kn!.k(['get', 'pods', '-l', `job-name=${job}`, '-o', 'json'])) as { items: { metadata: { name: string; annotations?: Record<string, string> }; status: { phase: string } }[] };
    return list.items.map((p) => ({ name: p.metadata.name, index: p.metadata.annotations?.['batch.kubernetes.io/job-completion-index'], phase: p.status.phase }));
  };

  before(async () => {
    root = mkdtempSync(join(tmpdir(), 'kennel-e2e-jobs-'));
    kn = await startKennel(['--runtime', 'process'], { dataDir: join(root, 'data') });
    cronCreated = Date.now();
    await kn.k(['apply', '-f', '-'], { input: manifests() });
  });

  after(async () => {
    const problems: string[] = [];
    try {
      if (kn) {
        // Nothing may start new pods while they are deleted.
        await kn.kubectl(['delete', 'cronjobs,jobs', '--all', '--wait=true', '--timeout=30s']);
        await deleteAllPods(kn, 30_000);
      }
    } catch (e) {
      problems.push(`deleting: ${(e as Error).message}`);
    }
    await kn?.stop();
    if (root) {
      const left = processesOf(root, MARKER);
      if (left.length) {
        problems.push(`processes left: ${left.map((p) => `${p.pid} (${p.why}) ${p.cmdline}`).join('; ')}`);
        for (const p of left) {
          try {
            process.kill(p.pid, 'SIGKILL');
          } catch {
            // gone
          }
        }
      }
      rmSync(root, { recursive: true, force: true });
    }
    assert.deepEqual(problems, [], 'clean-up');
  });

  it('an Indexed job (3 completions, parallelism 2) completes; each pod prints its index', async () => {
    const j = await jobDone('indexed', 'Complete');
    assert.equal(j.status?.succeeded, 3);
    assert.equal(j.status?.completedIndexes, '0-2');
    const pods = await podsOf('indexed');
    assert.deepEqual(pods.map((p) => p.index).sort(), ['0', '1', '2']);
    for (const p of pods) {
      assert.equal(p.phase, 'Succeeded');
      assert.match(p.name, new RegExp(`^indexed-${p.index}-[a-z0-9]{5}$`));
      assert.equal(await kn!.k(['logs', p.name]), `index ${p.index} on indexed-${p.index}\n`);
    }
    assert.match(await kn!.k(['get', 'jobs', 'indexed']), /^NAME\s+STATUS\s+COMPLETIONS\s+DURATION\s+AGE\nindexed\s+Complete\s+3\/3\s+\d+s\s+\d+s\n$/);
    assert.match(
      await kn!.k(['get', 'jobs', 'indexed', '-o', 'wide']),
      /^NAME\s+STATUS\s+COMPLETIONS\s+DURATION\s+AGE\s+CONTAINERS\s+IMAGES\s+SELECTOR\nindexed\s+Complete\s+3\/3\s+\S+\s+\S+\s+main\s+busybox\s+batch\.kubernetes\.io\/controller-uid=[0-9a-f-]+\n$/,
    );
  });

  it('a failing job is retried once (backoffLimit 1), then Failed with BackoffLimitExceeded', async () => {
    const j = await jobDone('failing', 'Failed');
    const failed = j.status?.conditions?.find((c) => c.type === 'Failed');
    assert.equal(failed?.reason, 'BackoffLimitExceeded');
    assert.equal(failed?.message, 'Job has reached the specified backoff limit');
    assert.equal(j.status?.failed, 2);
    const pods = await podsOf('failing');
    assert.deepEqual(pods.map((p) => p.phase), ['Failed', 'Failed']);
    assert.equal(await kn!.k(['logs', pods[0].name]), 'giving up\n');
    assert.match(await kn!.k(['get', 'job', 'failing']), /\nfailing\s+Failed\s+0\/1\s/);
    const events = await kn!.k(['get', 'events', '--field-selector', 'involvedObject.name=failing', '-o', 'custom-columns=TYPE:.type,REASON:.reason,MESSAGE:.message', '--no-headers']);
    assert.match(events, /^Warning\s+BackoffLimitExceeded\s+Job has reached the specified backoff limit$/m);
    assert.equal(events.match(/SuccessfulCreate/g)?.length, 2);
  });

  it('a podFailurePolicy FailJob rule fails the job on the first matching exit code, without retries', async () => {
    const j = await jobDone('policy', 'Failed');
    const pods = await podsOf('policy');
    assert.deepEqual(pods.map((p) => p.phase), ['Failed'], 'one pod, not retried although backoffLimit is 6');
    const message = `Container main for pod default/${pods[0].name} failed with exit code 42 matching FailJob rule at index 0`;
    const failed = j.status?.conditions?.find((c) => c.type === 'Failed');
    assert.deepEqual([failed?.reason, failed?.message], ['PodFailurePolicy', message]);
    assert.deepEqual(
      j.status?.conditions?.filter((c) => c.type === 'FailureTarget').map((c) => c.reason),
      ['PodFailurePolicy'],
    );
    assert.equal(j.status?.failed, 1);
    const events = await kn!.k(['get', 'events', '--field-selector', 'involvedObject.name=policy', '-o', 'custom-columns=TYPE:.type,REASON:.reason,MESSAGE:.message', '--no-headers']);
    assert.ok(events.split('\n').some((l) => /^Warning\s+PodFailurePolicy\s+/.test(l) && l.endsWith(message)), events);
  });

  it('a successPolicy met by index 0 completes the job with SuccessPolicy and stops the other indexes', async () => {
    const j = await jobDone('leader', 'Complete');
    const complete = j.status?.conditions?.find((c) => c.type === 'Complete');
    assert.deepEqual([complete?.reason, complete?.message], ['SuccessPolicy', 'Matched rules at index 0']);
    assert.deepEqual(
      j.status?.conditions?.filter((c) => c.type === 'SuccessCriteriaMet').map((c) => c.reason),
      ['SuccessPolicy'],
    );
    assert.equal(j.status?.succeeded, 1);
    assert.equal(j.status?.completedIndexes, '0');
    assert.equal(j.status?.failed ?? 0, 0, 'the stopped indexes are not failures');
    // The other two pods were deleted; none is left running.
    const left = await waitUntil('the other indexes gone', async () => {
      const pods = await podsOf('leader');
      return pods.every((p) => p.index === '0') ? pods : undefined;
    }, { timeoutMs: 20_000, everyMs: 250 });
    assert.deepEqual(left.map((p) => [p.index, p.phase]), [['0', 'Succeeded']]);
  });

  it('backoffLimitPerIndex: index 1 is retried once after its back-off, index 2 fails at once on a FailIndex rule; the job fails with FailedIndexes', async () => {
    const j = await jobDone('per-index', 'Failed', 60_000);
    const failed = j.status?.conditions?.find((c) => c.type === 'Failed');
    assert.deepEqual([failed?.reason, failed?.message], ['FailedIndexes', 'Job has failed indexes']);
    assert.equal(j.status?.failedIndexes, '1,2');
    assert.equal(j.status?.completedIndexes, '0,3');
    assert.equal(j.status?.succeeded, 2);
    assert.equal(j.status?.failed, 3, 'two failures of index 1, one of index 2');
    assert.equal(j.spec?.backoffLimit, 2147483647);
    const list = JSON.parse(await kn!.k(['get', 'pods', '-l', 'job-name=per-index', '-o', 'json'])) as { items: { metadata: { annotations?: Record<string, string>; creationTimestamp: string }; status: { phase: string } }[] };
    const byIndex = (ix: string) =>
      list.items
        .filter((p) => p.metadata.annotations?.['batch.kubernetes.io/job-completion-index'] === ix)
        .sort((a, b) => a.metadata.creationTimestamp.localeCompare(b.metadata.creationTimestamp))
        .map((p) => [p.status.phase, p.metadata.annotations?.['batch.kubernetes.io/job-index-failure-count']]);
    assert.deepEqual(byIndex('1'), [['Failed', '0'], ['Failed', '1']], 'retried once, the retry knowing the failure before it');
    assert.deepEqual(byIndex('2'), [['Failed', '0']], 'not retried');
    assert.deepEqual(byIndex('0'), [['Succeeded', '0']]);
    assert.match(await kn!.k(['get', 'job', 'per-index']), /\nper-index\s+Failed\s+2\/4\s/);
  });

  it('a bad schedule is refused naming spec.schedule', async () => {
    const bad = YAML.stringify({ apiVersion: 'batch/v1', kind: 'CronJob', metadata: { name: 'bad' }, spec: { schedule: '61 * * * *', jobTemplate: { spec: { template: podTemplate('true') } } } });
    const r = await kn!.kubectl(['apply', '-f', '-'], { input: bad });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /The CronJob "bad" is invalid: spec\.schedule: Invalid value: "61 \* \* \* \*": end of range \(61\) above maximum \(59\): 61/);
    const created = await kn!.kubectl(['create', 'cronjob', 'bad', '--image=busybox', '--schedule=@every-day', '--', 'true']);
    assert.notEqual(created.code, 0);
    assert.match(created.stderr, /spec\.schedule: Invalid value: "@every-day": unrecognized descriptor: @every-day/);
    assert.match((await kn!.kubectl(['get', 'cronjob', 'bad'])).stderr, /NotFound/);
  });

  it('kubectl create job --from=cronjob/tick runs the cron job’s template now', async () => {
    assert.match(await kn!.k(['create', 'job', 'manual', '--from=cronjob/tick']), /^job\.batch\/manual created\n$/);
    const j = await jobDone('manual', 'Complete');
    assert.equal(j.metadata.annotations?.['cronjob.kubernetes.io/instantiate'], 'manual');
    assert.deepEqual(j.metadata.ownerReferences?.map((r) => `${r.kind}/${r.name}`), ['CronJob/tick']);
    const [pod] = await podsOf('manual');
    assert.match(await kn!.k(['logs', pod.name]), /^tick at /);
  });

  it('the */1 cron job starts a job within the minute and records it', async () => {
    const job = await waitUntil('a scheduled job', async () => {
      const list = JSON.parse(await kn!.k(['get', 'jobs', '-o', 'json'])) as { items: JobJson[] };
      return list.items.find((x) => /^tick-\d+$/.test(x.metadata.name));
    }, { timeoutMs: 75_000, everyMs: 500 });
    assert.ok(Date.now() - cronCreated <= 70_000, `created ${Math.round((Date.now() - cronCreated) / 1000)} s after the cron job`);
    const minutes = Number(job.metadata.name.slice('tick-'.length));
    assert.equal(job.metadata.annotations?.['batch.kubernetes.io/cronjob-scheduled-timestamp'], new Date(minutes * 60_000).toISOString().replace('.000Z', 'Z'));
    await jobDone(job.metadata.name, 'Complete');
    const table = await waitUntil('LAST SCHEDULE', async () => {
      const t = await kn!.k(['get', 'cronjobs']);
      return /\ntick\s+\*\/1 \* \* \* \*\s+<none>\s+False\s+\d+\s+\d+s\s+\S+\n/.test(t) ? t : undefined;
    }, { timeoutMs: 10_000, everyMs: 250 });
    assert.match(table, /^NAME\s+SCHEDULE\s+TIMEZONE\s+SUSPEND\s+ACTIVE\s+LAST SCHEDULE\s+AGE\n/);
    const events = await kn!.k(['get', 'events', '--field-selector', 'involvedObject.name=tick', '-o', 'custom-columns=REASON:.reason,MESSAGE:.message', '--no-headers']);
    assert.match(events, new RegExp(`^SuccessfulCreate\\s+Created job ${job.metadata.name}$`, 'm'));
  });
});
