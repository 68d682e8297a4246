// kubectl 1.32's `create <kind>` generators send protobuf bodies (application/vnd.kubernetes.protobuf):
// `create deployment|job|cronjob|pdb` and `create job --from=cronjob/…` against
// `kennel up --runtime simulated`, each object read back with `kubectl get -o json`.
//
// The tests run in order and share one cluster.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startKennel, type Kennel } from '../support/kennel.ts';

interface Container {
  name: string;
  image: string;
  command?: string[];
}
interface PodTemplate {
  metadata?: { labels?: Record<string, string> };
  spec: { containers: Container[]; restartPolicy?: string };
}
interface Obj {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    uid: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    ownerReferences?: { apiVersion: string; kind: string; name: string; uid: string; controller?: boolean }[];
  };
  spec: Record<string, unknown>;
}

describe('kubectl create generators (protobuf request bodies)', () => {
  let kennel: Kennel;

  before(async () => {
    kennel = await startKennel();
  });
  after(async () => {
    await kennel?.stop();
  });

  const get = async (kind: string, name: string): Promise<Obj> => JSON.parse(await kennel.k(['get', kind, name, '-o', 'json'])) as Obj;
  const container = (t: PodTemplate): Container => {
    assert.equal(t.spec.containers.length, 1);
    return t.spec.containers[0]!;
  };

  it('create deployment --replicas=2, and --replicas=0 keeps its explicit zero', async () => {
    assert.match(await kennel.k(['create', 'deployment', 'd', '--image=busybox', '--replicas=2']), /deployment\.apps\/d created/);
    const d = await get('deployment', 'd');
    assert.equal(d.apiVersion, 'apps/v1');
    assert.equal(d.kind, 'Deployment');
    assert.deepEqual(d.metadata.labels, { app: 'd' });
    assert.equal(d.spec.replicas, 2);
    assert.deepEqual(d.spec.selector, { matchLabels: { app: 'd' } });
    const template = d.spec.template as PodTemplate;
    assert.deepEqual(template.metadata?.labels, { app: 'd' });
    assert.equal(container(template).name, 'busybox');
    assert.equal(container(template).image, 'busybox');

    await kennel.k(['create', 'deployment', 'z', '--image=busybox', '--replicas=0']);
    const z = await get('deployment', 'z');
    assert.equal(z.spec.replicas, 0, 'an explicit replicas: 0 must not be defaulted to 1');
  });

  it('create job with a command', async () => {
    assert.match(await kennel.k(['create', 'job', 'j', '--image=busybox', '--', 'echo', 'hi']), /job\.batch\/j created/);
    const j = await get('job', 'j');
    assert.equal(j.apiVersion, 'batch/v1');
    assert.equal(j.kind, 'Job');
    const template = j.spec.template as PodTemplate;
    assert.equal(template.spec.restartPolicy, 'Never');
    assert.equal(container(template).name, 'j');
    assert.equal(container(template).image, 'busybox');
    assert.deepEqual(container(template).command, ['echo', 'hi']);
  });

  it('create cronjob with a schedule and a command', async () => {
    assert.match(
      await kennel.k(['create', 'cronjob', 'c', '--image=busybox', '--schedule=*/5 * * * *', '--', 'echo', 'hi']),
      /cronjob\.batch\/c created/,
    );
    const c = await get('cronjob', 'c');
    assert.equal(c.apiVersion, 'batch/v1');
    assert.equal(c.kind, 'CronJob');
    assert.equal(c.spec.schedule, '*/5 * * * *');
    const jobTemplate = c.spec.jobTemplate as { metadata?: { name?: string }; spec: { template: PodTemplate } };
    assert.equal(jobTemplate.metadata?.name, 'c');
    assert.equal(jobTemplate.spec.template.spec.restartPolicy, 'OnFailure');
    assert.equal(container(jobTemplate.spec.template).image, 'busybox');
    assert.deepEqual(container(jobTemplate.spec.template).command, ['echo', 'hi']);
  });

  it('create job --from=cronjob: owned by the CronJob, its template copied', async () => {
    const cron = await get('cronjob', 'c');
    assert.match(await kennel.k(['create', 'job', 'j2', '--from=cronjob/c']), /job\.batch\/j2 created/);
    const j2 = await get('job', 'j2');
    assert.equal(j2.metadata.annotations?.['cronjob.kubernetes.io/instantiate'], 'manual');
    const owners = j2.metadata.ownerReferences ?? [];
    assert.equal(owners.length, 1);
    assert.deepEqual(
      { apiVersion: owners[0]!.apiVersion, kind: owners[0]!.kind, name: owners[0]!.name, uid: owners[0]!.uid, controller: owners[0]!.controller },
      { apiVersion: 'batch/v1', kind: 'CronJob', name: 'c', uid: cron.metadata.uid, controller: true },
    );
    const template = j2.spec.template as PodTemplate;
    assert.equal(template.spec.restartPolicy, 'OnFailure');
    assert.equal(container(template).image, 'busybox');
    assert.deepEqual(container(template).command, ['echo', 'hi']);
  });

  it('create pdb with --min-available and with a percentage --max-unavailable', async () => {
    assert.match(
      await kennel.k(['create', 'pdb', 'p', '--selector=app=x', '--min-available=1']),
      /poddisruptionbudget\.policy\/p created/,
    );
    const p = await get('pdb', 'p');
    assert.equal(p.apiVersion, 'policy/v1');
    assert.equal(p.kind, 'PodDisruptionBudget');
    assert.equal(p.spec.minAvailable, 1);
    assert.equal(p.spec.maxUnavailable, undefined);
    assert.deepEqual(p.spec.selector, { matchLabels: { app: 'x' } });

    await kennel.k(['create', 'pdb', 'p2', '--selector=app=x', '--max-unavailable=50%']);
    const p2 = await get('pdb', 'p2');
    assert.equal(p2.spec.maxUnavailable, '50%');
    assert.equal(p2.spec.minAvailable, undefined);
  });
});
