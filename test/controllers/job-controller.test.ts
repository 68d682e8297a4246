// The Job controller (and the garbage collector) against a real API server (memory store). There
// is no scheduler or node agent: the test plays kubelet — it runs each pod "for a moment" and
// finishes it Succeeded, or Failed when its command says `exit 1`, and finishes graceful
// deletions (terminal phase, then delete with grace 0: the tracking finalizer keeps the pod
// until the controller has counted it). The API part checks the batch/v1 Job strategy:
// defaults, the generated selector, and 422s that name the field.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type TestServer } from '../support/apiserver.ts';
import { KubeClient, isApiStatusError, isNotFound, type ApiStatusError } from '../../src/client/rest.ts';
import { Informer } from '../../src/client/informer.ts';
import type { KubeObject } from '../../src/registry/types.ts';
import { silentLogger } from '../../src/util/log.ts';
import { defaultRegistry } from '../../src/registry/index.ts';
import { EVENTS_RESOURCE } from '../../src/controllers/events.ts';
import { startGarbageCollector, type GarbageCollector } from '../../src/controllers/gc/controller.ts';
import { JOBS, PODS, jobController, jobsForPod, startJobController, type JobController } from '../../src/controllers/job/controller.ts';
import { waitFor } from '../support/wait.ts';
import { haveKubectl, kubectlAgainst } from '../support/cluster.ts';

type Obj = Record<string, unknown>;
const NS = 'default';
const status = (o: KubeObject | undefined): Obj => (o?.status ?? {}) as Obj;
const condTypes = (j: KubeObject): string[] => ((status(j).conditions as Obj[] | undefined) ?? []).filter((c) => c.status === 'True').map((c) => String(c.type));

function jobObj(name: string, spec: Obj, command = 'true'): KubeObject {
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name, namespace: NS },
    spec: { template: { spec: { restartPolicy: 'Never', terminationGracePeriodSeconds: 1, containers: [{ name: 'c', image: 'busybox', command: ['sh', '-c', command] }] } }, ...spec },
  };
}

/** Kubelet for the test: finishes pods by their command, and graceful deletions. */
class FakeKubelet {
  runMs = 30;
  private readonly informer: Informer;
  private readonly handled = new Set<string>();
  private readonly inflight = new Set<Promise<unknown>>();
  private stopped = false;

  constructor(private readonly client: KubeClient) {
    this.informer = new Informer(client, PODS, { namespace: NS });
    this.informer.addEventHandler({ onAdd: (p) => this.consider(p), onUpdate: (_o, p) => this.consider(p) });
  }
  async start(): Promise<void> {
    this.informer.start();
    await this.informer.waitForSync({ timeoutMs: 5000 });
  }
  async stop(): Promise<void> {
    this.stopped = true;
    await this.informer.stop();
    await Promise.allSettled([...this.inflight]);
  }
  private run(p: Promise<unknown>): void {
    const q = p.catch((e: unknown) => {
      if (!isNotFound(e) && !this.stopped) throw e;
    });
    this.inflight.add(q);
    void q.finally(() => this.inflight.delete(q)).catch(() => undefined);
  }
  private setPhase(pod: KubeObject, phase: string, exitCode: number): Promise<unknown> {
    const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
    const terminated = { exitCode, reason: exitCode === 0 ? 'Completed' : 'Error', finishedAt: now, startedAt: now };
    return this.client.patch(PODS, NS, pod.metadata.name ?? '', { metadata: { uid: pod.metadata.uid }, status: { phase, containerStatuses: [{ name: 'c', ready: false, restartCount: 0, image: 'busybox', imageID: '', state: { terminated } }] } }, 'merge', { subresource: 'status' });
  }
  private consider(pod: KubeObject): void {
    if (this.stopped) return;
    const uid = pod.metadata.uid ?? '';
    const phase = String(status(pod).phase ?? '');
    if (pod.metadata.deletionTimestamp) {
      if (this.handled.has(`del/${uid}`)) return;
      this.handled.add(`del/${uid}`);
      this.run(
        (async () => {
          if (phase !== 'Succeeded' && phase !== 'Failed') await this.setPhase(pod, 'Failed', 137);
          await this.client.delete(PODS, NS, pod.metadata.name ?? '', { gracePeriodSeconds: 0, preconditions: { uid } });
        })(),
      );
      return;
    }
    if (phase === 'Succeeded' || phase === 'Failed' || this.handled.has(`run/${uid}`)) return;
    this.handled.add(`run/${uid}`);
    const command = JSON.stringify((pod.spec as { containers: Obj[] }).containers[0].command);
    const fails = command.includes('exit 1');
    const sleeps = command.includes('sleep');
    if (sleeps) return; // runs until deleted
    this.run(
      (async () => {
        await new Promise((r) => setTimeout(r, this.runMs));
        await this.setPhase(pod, fails ? 'Failed' : 'Succeeded', fails ? 1 : 0);
      })(),
    );
  }
}

describe('Job controller against the API server', () => {
  let ts: TestServer;
  let client: KubeClient;
  let ctl: JobController;
  let gc: GarbageCollector;
  let kubelet: FakeKubelet;

  const events = async (name: string): Promise<Obj[]> => (await client.list(EVENTS_RESOURCE, NS, { fieldSelector: `involvedObject.name=${name}` })).items as unknown as Obj[];
  const podsOf = async (name: string): Promise<KubeObject[]> => (await client.list(PODS, NS, { labelSelector: `job-name=${name}` })).items;
  const finished = (name: string, cond: string, timeoutMs = 10_000): Promise<KubeObject> =>
    waitFor(`${name} ${cond}`, async () => {
      const j = await client.get(JOBS, NS, name);
      return condTypes(j).includes(cond) ? j : undefined;
    }, timeoutMs);
  const invalid = async (obj: KubeObject): Promise<ApiStatusError> => {
    try {
      await client.create(JOBS, obj);
    } catch (e) {
      if (isApiStatusError(e)) return e;
      throw e;
    }
    throw new Error(`${obj.metadata.name} was accepted`);
  };
  const causes = (e: ApiStatusError): string[] => (e.status.details?.causes ?? []).map((c) => `${c.field}: ${c.message}`);

  before(async () => {
    ts = await startTestServer();
    client = KubeClient.fromKubeconfig(ts.kubeconfig);
    kubelet = new FakeKubelet(client);
    await kubelet.start();
    ctl = await startJobController({ client, logger: silentLogger, syncTimeoutMs: 5000 });
    gc = await startGarbageCollector({ client, registry: defaultRegistry(), logger: silentLogger, syncTimeoutMs: 5000 });
  });

  after(async () => {
    await ctl?.stop();
    await gc?.stop();
    await kubelet?.stop();
    client?.close();
    await ts?.stop();
  });

  it('API: Kubernetes defaults, the generated selector and labels, 422s naming the field', async () => {
    const j = await client.create(JOBS, { ...jobObj('defaults', {}), spec: { ...(jobObj('defaults', {}).spec as Obj), suspend: true } });
    const spec = j.spec as Obj;
    const uid = j.metadata.uid;
    assert.deepEqual(
      [spec.completions, spec.parallelism, spec.backoffLimit, spec.completionMode, spec.suspend, spec.manualSelector, spec.podReplacementPolicy],
      [1, 1, 6, 'NonIndexed', true, false, 'TerminatingOrFailed'],
    );
    assert.deepEqual(spec.selector, { matchLabels: { 'batch.kubernetes.io/controller-uid': uid } });
    const labels = { 'batch.kubernetes.io/controller-uid': uid, 'batch.kubernetes.io/job-name': 'defaults', 'controller-uid': uid, 'job-name': 'defaults' };
    assert.deepEqual(((spec.template as Obj).metadata as Obj).labels, labels);
    assert.deepEqual(j.metadata.labels, labels, 'the job takes its template labels');
    assert.equal(j.metadata.generation, 1);

    const neg = await invalid(jobObj('neg', { parallelism: -1, completions: -2, backoffLimit: -3 }));
    assert.equal(neg.status.code, 422);
    assert.deepEqual(causes(neg).sort(), [
      'spec.backoffLimit: Invalid value: -3: must be greater than or equal to 0',
      'spec.completions: Invalid value: -2: must be greater than or equal to 0',
      'spec.parallelism: Invalid value: -1: must be greater than or equal to 0',
    ]);
    const always = jobObj('always', {});
    ((always.spec as Obj).template as { spec: Obj }).spec.restartPolicy = 'Always';
    assert.deepEqual(causes(await invalid(always)), ['spec.template.spec.restartPolicy: Required value: valid values: "OnFailure", "Never"']);
    assert.deepEqual(causes(await invalid(jobObj('idx', { completionMode: 'Indexed', parallelism: 2 }))), ['spec.completions: Required value: when completion mode is Indexed']);
    // podFailurePolicy and successPolicy rules, as Kubernetes validates them.
    const pfp = jobObj('pfp', {
      podFailurePolicy: {
        rules: [
          { action: 'FailJob', onExitCodes: { containerName: 'nope', operator: 'In', values: [0, 3, 3, 2] } },
          { action: 'Retry', onPodConditions: [{ type: 'DisruptionTarget', status: 'Maybe' }] },
          { action: 'Ignore' },
          { action: 'FailIndex', onExitCodes: { operator: 'NotIn', values: [1] }, onPodConditions: [{ type: 'X' }] },
        ],
      },
    });
    assert.deepEqual(causes(await invalid(pfp)), [
      'spec.podFailurePolicy.rules[0].onExitCodes.containerName: Invalid value: "nope": must be one of the container or initContainer names in the pod template',
      'spec.podFailurePolicy.rules[0].onExitCodes.values[0]: Invalid value: 0: must not be 0 for the In operator',
      'spec.podFailurePolicy.rules[0].onExitCodes.values[2]: Duplicate value: 3',
      'spec.podFailurePolicy.rules[0].onExitCodes.values: Invalid value: [0,3,3,2]: must be ordered',
      'spec.podFailurePolicy.rules[1].action: Unsupported value: "Retry": supported values: "Count", "FailIndex", "FailJob", "Ignore"',
      'spec.podFailurePolicy.rules[1].onPodConditions[0].status: Unsupported value: "Maybe": supported values: "False", "True", "Unknown"',
      'spec.podFailurePolicy.rules[2]: Invalid value: specifying one of OnExitCodes and OnPodConditions is required',
      'spec.podFailurePolicy.rules[3].action: Invalid value: "FailIndex": requires the backoffLimitPerIndex to be set',
      'spec.podFailurePolicy.rules[3]: Invalid value: specifying both OnExitCodes and OnPodConditions is not supported',
    ]);
    assert.deepEqual(causes(await invalid(jobObj('sp-mode', { successPolicy: { rules: [{ succeededCount: 1 }] } }))), ['spec.successPolicy: Invalid value: {"rules":[{"succeededCount":1}]}: requires indexed completion mode']);
    const sp = jobObj('sp', { completionMode: 'Indexed', completions: 5, successPolicy: { rules: [{}, { succeededIndexes: '0-2,2' }, { succeededIndexes: '1-2', succeededCount: 3 }, { succeededIndexes: '9' }, { succeededCount: 6 }] } });
    assert.deepEqual(causes(await invalid(sp)), [
      'spec.successPolicy.rules[0]: Required value: at least one of succeededCount or succeededIndexes must be specified',
      'spec.successPolicy.rules[1].succeededIndexes: Invalid value: "0-2,2": error parsing succeededIndexes: non-increasing order, previous: 2, current: 2',
      'spec.successPolicy.rules[2].succeededCount: Invalid value: 3: must be less than or equal to 2 (the number of indexes in the specified succeededIndexes field)',
      'spec.successPolicy.rules[3].succeededIndexes: Invalid value: "9": error parsing succeededIndexes: too large index: "9"',
      'spec.successPolicy.rules[4].succeededCount: Invalid value: 6: must be less than or equal to 5 (the number of specified completions)',
    ]);
    // backoffLimitPerIndex and maxFailedIndexes.
    assert.deepEqual(causes(await invalid(jobObj('bpi-mode', { backoffLimitPerIndex: 1, maxFailedIndexes: 1 }))), [
      'spec.backoffLimitPerIndex: Invalid value: 1: requires indexed completion mode',
      'spec.maxFailedIndexes: Invalid value: 1: requires indexed completion mode',
    ]);
    assert.deepEqual(causes(await invalid(jobObj('bpi-max', { completionMode: 'Indexed', completions: 3, maxFailedIndexes: 4 }))), [
      'spec.backoffLimitPerIndex: Required value: when maxFailedIndexes is specified',
      'spec.maxFailedIndexes: Invalid value: 4: must be less than or equal to completions',
    ]);
    assert.deepEqual(causes(await invalid(jobObj('bpi-neg', { completionMode: 'Indexed', completions: 3, backoffLimitPerIndex: -1 }))), ['spec.backoffLimitPerIndex: Invalid value: -1: must be greater than or equal to 0']);
    const perIndex = await client.create(JOBS, jobObj('bpi-ok', { completionMode: 'Indexed', completions: 2, backoffLimitPerIndex: 1, maxFailedIndexes: 1, suspend: true }));
    assert.equal((perIndex.spec as Obj).backoffLimit, 2147483647, 'backoffLimit defaults to the largest int32 with backoffLimitPerIndex');
    await assert.rejects(
      client.update(JOBS, { ...perIndex, metadata: { name: 'bpi-ok', namespace: NS }, spec: { ...(perIndex.spec as Obj), backoffLimitPerIndex: 2 } }),
      (e: unknown) => isApiStatusError(e) && causes(e).some((c) => c.startsWith('spec.backoffLimitPerIndex: Invalid value: 2') && c.endsWith('field is immutable')),
    );
    await client.delete(JOBS, NS, 'bpi-ok');
    const manual = await invalid(jobObj('manual', { selector: { matchLabels: { app: 'x' } } }));
    assert.ok(causes(manual).some((c) => c.startsWith('spec.selector: Invalid value') && c.endsWith('`selector` not auto-generated')), causes(manual).join('\n'));

    // Updates: the selector is immutable; the template too, except the scheduling directives of
    // a suspended job that never started.
    // (No resourceVersion: the controller writes the status meanwhile.)
    const meta = { name: 'defaults', namespace: NS };
    const sel = { ...j, metadata: meta, spec: { ...spec, selector: { matchLabels: { other: 'x' } } } };
    await assert.rejects(client.update(JOBS, sel), (e: unknown) => isApiStatusError(e) && causes(e).some((c) => c.startsWith('spec.selector: Invalid value') && c.endsWith('field is immutable')));
    const tmpl = spec.template as { metadata: Obj; spec: Obj };
    const moved = await client.update(JOBS, { ...j, metadata: meta, spec: { ...spec, template: { ...tmpl, spec: { ...tmpl.spec, nodeSelector: { disk: 'ssd' } } } } });
    assert.deepEqual(((moved.spec as Obj).template as { spec: Obj }).spec.nodeSelector, { disk: 'ssd' });
    await assert.rejects(
      client.update(JOBS, { ...moved, metadata: meta, spec: { ...(moved.spec as Obj), template: { ...tmpl, spec: { ...tmpl.spec, nodeSelector: { disk: 'ssd' }, containers: [{ name: 'c', image: 'other' }] } } } }),
      (e: unknown) => isApiStatusError(e) && causes(e).some((c) => c.startsWith('spec.template: Invalid value') && c.endsWith('field is immutable')),
    );
    await client.delete(JOBS, NS, 'defaults');
  });

  it('an Indexed job (3 completions, parallelism 2) completes: completedIndexes, conditions, events, finalizers gone', async () => {
    await client.create(JOBS, jobObj('indexed', { completions: 3, parallelism: 2, completionMode: 'Indexed' }));
    const j = await finished('indexed', 'Complete');
    const st = status(j);
    assert.equal(st.completedIndexes, '0-2');
    assert.equal(st.succeeded, 3);
    assert.equal(st.active, undefined);
    assert.deepEqual(st.uncountedTerminatedPods, {});
    assert.equal(st.ready, 0);
    assert.equal(st.terminating, 0);
    assert.deepEqual(condTypes(j), ['SuccessCriteriaMet', 'Complete']);
    assert.ok(typeof st.completionTime === 'string' && typeof st.startTime === 'string');
    const pods = await podsOf('indexed');
    assert.equal(pods.length, 3);
    assert.deepEqual(pods.map((p) => p.metadata.annotations?.['batch.kubernetes.io/job-completion-index']).sort(), ['0', '1', '2']);
    for (const p of pods) {
      const ix = p.metadata.annotations?.['batch.kubernetes.io/job-completion-index'];
      assert.match(p.metadata.name ?? '', new RegExp(`^indexed-${ix}-[a-z0-9]{5}$`));
      assert.equal((p.spec as Obj).hostname, `indexed-${ix}`);
      assert.deepEqual(p.metadata.finalizers ?? [], [], 'the tracking finalizer is removed once counted');
      const env = ((p.spec as { containers: Obj[] }).containers[0].env as Obj[]) ?? [];
      assert.deepEqual(env, [{ name: 'JOB_COMPLETION_INDEX', valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: "metadata.annotations['batch.kubernetes.io/job-completion-index']" } } }]);
    }
    const evs = await waitFor('events', async () => {
      const e = await events('indexed');
      return e.some((x) => x.reason === 'Completed') ? e : undefined;
    });
    assert.deepEqual(evs.filter((e) => e.reason === 'SuccessfulCreate').map((e) => e.message).sort(), pods.map((p) => `Created pod: ${p.metadata.name}`).sort());
    assert.deepEqual(evs.find((e) => e.reason === 'Completed')?.message, 'Job completed');
    assert.deepEqual(evs[0].source, { component: 'job-controller' });

    if (!haveKubectl) return;
    const table = await kubectlAgainst(ts, ['get', 'jobs', 'indexed']);
    assert.match(table, /^NAME\s+STATUS\s+COMPLETIONS\s+DURATION\s+AGE\nindexed\s+Complete\s+3\/3\s+\d+s\s+\d+s\n$/);
    const wide = await kubectlAgainst(ts, ['get', 'jobs', 'indexed', '-o', 'wide']);
    assert.match(wide, /^NAME\s+STATUS\s+COMPLETIONS\s+DURATION\s+AGE\s+CONTAINERS\s+IMAGES\s+SELECTOR\nindexed\s+Complete\s+3\/3\s+\S+\s+\S+\s+c\s+busybox\s+batch\.kubernetes\.io\/controller-uid=[0-9a-f-]+\n$/);
  });

  it('a failing job with backoffLimit 0 fails with BackoffLimitExceeded', async () => {
    await client.create(JOBS, jobObj('doomed', { backoffLimit: 0 }, 'echo no; exit 1'));
    const j = await finished('doomed', 'Failed');
    assert.deepEqual(condTypes(j), ['FailureTarget', 'Failed']);
    const failed = ((status(j).conditions as Obj[]) ?? []).find((c) => c.type === 'Failed');
    assert.equal(failed?.reason, 'BackoffLimitExceeded');
    assert.equal(failed?.message, 'Job has reached the specified backoff limit');
    assert.equal(status(j).failed, 1);
    assert.equal(status(j).completionTime, undefined);
    const evs = await waitFor('BackoffLimitExceeded event', async () => (await events('doomed')).find((e) => e.reason === 'BackoffLimitExceeded'));
    assert.equal(evs.type, 'Warning');
    if (haveKubectl) assert.match(await kubectlAgainst(ts, ['get', 'job', 'doomed']), /\ndoomed\s+Failed\s+0\/1\s/);
  });

  it('activeDeadlineSeconds stops a running job with DeadlineExceeded; its pod is deleted and counted', async () => {
    await client.create(JOBS, jobObj('slow', { activeDeadlineSeconds: 1 }, 'sleep 100'));
    const j = await finished('slow', 'Failed');
    const failed = ((status(j).conditions as Obj[]) ?? []).find((c) => c.type === 'Failed');
    assert.equal(failed?.reason, 'DeadlineExceeded');
    assert.equal(status(j).failed, 1);
    await waitFor('the pod gone', async () => ((await podsOf('slow')).length === 0 ? true : undefined));
  });

  it('ttlSecondsAfterFinished: the finished job and its pods are deleted', async () => {
    await client.create(JOBS, jobObj('short-lived', { ttlSecondsAfterFinished: 0 }));
    await waitFor('job deleted', async () => {
      try {
        await client.get(JOBS, NS, 'short-lived');
        return undefined;
      } catch (e) {
        return isNotFound(e) ? true : undefined;
      }
    });
    await waitFor('pods deleted', async () => ((await podsOf('short-lived')).length === 0 ? true : undefined));
  });

  it('deleting a running job: its pods lose the tracking finalizer and go', async () => {
    await client.create(JOBS, jobObj('forever', { parallelism: 2, completions: 2 }, 'sleep 100'));
    await waitFor('2 pods', async () => ((await podsOf('forever')).length === 2 ? true : undefined));
    await client.delete(JOBS, NS, 'forever', { propagationPolicy: 'Background' });
    await waitFor('pods gone', async () => ((await podsOf('forever')).length === 0 ? true : undefined), 10_000);
  });

  it('suspend deletes the pods and sets Suspended; resume starts them again', async () => {
    await client.create(JOBS, jobObj('pausable', { parallelism: 2, completions: 4 }, 'sleep 100'));
    await waitFor('2 pods', async () => ((await podsOf('pausable')).filter((p) => !p.metadata.deletionTimestamp).length === 2 ? true : undefined));
    await client.patch(JOBS, NS, 'pausable', { spec: { suspend: true } }, 'merge');
    const j = await finished('pausable', 'Suspended');
    assert.equal(status(j).active, undefined);
    await waitFor('pods gone', async () => ((await podsOf('pausable')).length === 0 ? true : undefined));
    assert.equal(status(await client.get(JOBS, NS, 'pausable')).failed, undefined, 'suspension is no failure');
    if (haveKubectl) assert.match(await kubectlAgainst(ts, ['get', 'job', 'pausable']), /\npausable\s+Suspended\s+0\/4\s/);
    await client.patch(JOBS, NS, 'pausable', { spec: { suspend: false } }, 'merge');
    await waitFor('2 pods again', async () => ((await podsOf('pausable')).filter((p) => !p.metadata.deletionTimestamp).length === 2 ? true : undefined));
    const resumed = await client.get(JOBS, NS, 'pausable');
    assert.deepEqual(((status(resumed).conditions as Obj[]) ?? []).map((c) => `${c.type}=${c.status}/${c.reason}`), ['Suspended=False/JobResumed']);
    await client.delete(JOBS, NS, 'pausable', { propagationPolicy: 'Background' });
    await waitFor('pods gone', async () => ((await podsOf('pausable')).length === 0 ? true : undefined));
  });

  it('a pod change concerns its job (or, an orphan, every job selecting it)', () => {
    const job = { metadata: { name: 'j', namespace: NS, uid: 'u' }, spec: { selector: { matchLabels: { a: 'b' } } } } as KubeObject;
    const lookup = { get: (_ns: string, n: string) => (n === 'j' ? job : undefined), listByNamespace: () => [job] };
    const owned = { metadata: { name: 'p', namespace: NS, ownerReferences: [{ apiVersion: 'batch/v1', kind: 'Job', name: 'j', uid: 'u', controller: true }] } } as KubeObject;
    assert.deepEqual(jobsForPod(lookup, owned), [`${NS}/j`]);
    assert.deepEqual(jobsForPod(lookup, { metadata: { name: 'o', namespace: NS, labels: { a: 'b' } } }), [`${NS}/j`]);
    assert.deepEqual(jobsForPod(lookup, { metadata: { name: 'o', namespace: NS, labels: { a: 'c' } } }), []);
    assert.equal(jobController.name, 'job');
  });
});
