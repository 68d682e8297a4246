// Table and scenario tests of the Job control algorithm (planJobSync + completeTracking) on plain
// objects. A small simulated cluster applies each round's actions the way the acting layer and
// the API server would (create pods with generated names, delete, write status, remove
// finalizers) and plays kubelet between rounds (finish pods with a phase).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { KubeObject } from '../../src/registry/types.ts';
import {
  BACKOFF_LIMIT_MESSAGE,
  COMPLETIONS_REACHED_MESSAGE,
  DEADLINE_MESSAGE,
  actionEvent,
  backoffRemainingMs,
  completeTracking,
  describeAction,
  nextBackoff,
  planJobSync,
  podNamePrefixWithIndex,
  wireStatus,
  type ControlEvent,
  type JobBackoff,
  type JobSyncPlan,
} from '../../src/controllers/job/control.ts';
import { orphanedFinalizer, ttlVerdict } from '../../src/controllers/job/cleanup.ts';
import { failJobMessage, matchPodFailurePolicy } from '../../src/controllers/job/failure-policy.ts';
import { matchSuccessPolicy } from '../../src/controllers/job/success-policy.ts';
import { parseIndexes } from '../../src/controllers/job/indexes.ts';
import { JOB_TRACKING_FINALIZER } from '../../src/controllers/job/job.ts';
import { jobCompletionsCell, jobDurationCell, jobStatusCell } from '../../src/registry/jobs.ts';

type Obj = Record<string, unknown>;
const T0 = Date.parse('2024-05-01T12:00:00Z');
const iso = (ms: number): string => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
const UID = 'job-uid';

interface JobOpts {
  completions?: number | null;
  parallelism?: number;
  backoffLimit?: number;
  indexed?: boolean;
  suspend?: boolean;
  activeDeadlineSeconds?: number;
  restartPolicy?: string;
  podReplacementPolicy?: string;
  status?: Obj;
  ttl?: number;
  podFailurePolicy?: Obj;
  successPolicy?: Obj;
  backoffLimitPerIndex?: number;
  maxFailedIndexes?: number;
}

function job(o: JobOpts = {}): KubeObject {
  const spec: Obj = {
    parallelism: o.parallelism ?? 1,
    backoffLimit: o.backoffLimit ?? 6,
    completionMode: o.indexed ? 'Indexed' : 'NonIndexed',
    suspend: o.suspend ?? false,
    podReplacementPolicy: o.podReplacementPolicy ?? 'TerminatingOrFailed',
    selector: { matchLabels: { 'batch.kubernetes.io/controller-uid': UID } },
    template: {
      metadata: { labels: { 'batch.kubernetes.io/controller-uid': UID, 'batch.kubernetes.io/job-name': 'pi', 'controller-uid': UID, 'job-name': 'pi' } },
      spec: { restartPolicy: o.restartPolicy ?? 'Never', containers: [{ name: 'pi', image: 'perl', env: [{ name: 'A', value: '1' }] }], initContainers: [{ name: 'init', image: 'busybox' }] },
    },
  };
  if (o.completions !== null) spec.completions = o.completions ?? 1;
  if (o.activeDeadlineSeconds !== undefined) spec.activeDeadlineSeconds = o.activeDeadlineSeconds;
  if (o.ttl !== undefined) spec.ttlSecondsAfterFinished = o.ttl;
  if (o.podFailurePolicy !== undefined) spec.podFailurePolicy = o.podFailurePolicy;
  if (o.successPolicy !== undefined) spec.successPolicy = o.successPolicy;
  if (o.backoffLimitPerIndex !== undefined) spec.backoffLimitPerIndex = o.backoffLimitPerIndex;
  if (o.maxFailedIndexes !== undefined) spec.maxFailedIndexes = o.maxFailedIndexes;
  return { apiVersion: 'batch/v1', kind: 'Job', metadata: { name: 'pi', namespace: 'default', uid: UID, creationTimestamp: iso(T0) }, spec, status: o.status ?? {} };
}

let podSeq = 0;
function pod(phase: string, o: { index?: number; ready?: boolean; finalizer?: boolean; restarts?: number; finishedAt?: number; deleting?: boolean; owner?: boolean; labels?: Record<string, string> } = {}): KubeObject {
  const n = ++podSeq;
  const annotations: Record<string, string> = {};
  if (o.index !== undefined) annotations['batch.kubernetes.io/job-completion-index'] = String(o.index);
  const status: Obj = { phase };
  if (o.ready) status.conditions = [{ type: 'Ready', status: 'True', lastTransitionTime: iso(T0) }];
  const cs: Obj = { name: 'pi', restartCount: o.restarts ?? 0 };
  if (o.finishedAt !== undefined) cs.state = { terminated: { exitCode: phase === 'Succeeded' ? 0 : 1, finishedAt: iso(o.finishedAt) } };
  status.containerStatuses = [cs];
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: `pi-${n}`,
      namespace: 'default',
      uid: `pod-${n}`,
      creationTimestamp: iso(T0 + n),
      labels: o.labels ?? { 'batch.kubernetes.io/controller-uid': UID, 'job-name': 'pi' },
      annotations,
      finalizers: o.finalizer === false ? [] : [JOB_TRACKING_FINALIZER],
      ownerReferences: o.owner === false ? [] : [{ apiVersion: 'batch/v1', kind: 'Job', name: 'pi', uid: UID, controller: true, blockOwnerDeletion: true }],
      ...(o.deleting ? { deletionTimestamp: iso(T0) } : {}),
    },
    spec: { nodeName: 'n1' },
    status,
  };
}

const conds = (s: Obj | { conditions?: { type: string; status: string; reason?: string }[] }): string[] =>
  ((s as { conditions?: { type: string; status: string; reason?: string }[] }).conditions ?? []).map((c) => `${c.type}=${c.status}/${c.reason ?? ''}`);

/** A cluster the algorithm acts on: applies each round like the acting layer, with every write succeeding. */
class Cluster {
  pods: KubeObject[] = [];
  now = T0;
  backoff: JobBackoff | undefined;
  events: ControlEvent[] = [];
  writes = 0;
  constructor(public job: KubeObject) {}

  round(): JobSyncPlan {
    const plan = planJobSync({ job: this.job, pods: this.pods, now: this.now, backoff: this.backoff });
    this.events.push(...plan.events);
    for (const a of plan.actions) {
      if (a.type === 'createPod') {
        const p = JSON.parse(JSON.stringify(a.object)) as KubeObject;
        const n = ++podSeq;
        p.metadata.name = `${p.metadata.generateName}${n}`;
        p.metadata.uid = `pod-${n}`;
        p.metadata.creationTimestamp = iso(this.now);
        p.status = { phase: 'Pending' };
        this.pods.push(p);
        this.events.push(actionEvent(a, undefined, p.metadata.name)!);
      } else if (a.type === 'deletePod') {
        const p = this.pods.find((x) => x.metadata.uid === a.uid)!;
        if (a.removeFinalizer) p.metadata.finalizers = [];
        p.metadata.deletionTimestamp = iso(this.now);
        this.events.push(actionEvent(a)!);
      } else if (a.type === 'adoptPod' || a.type === 'releasePod') {
        const p = this.pods.find((x) => x.metadata.uid === a.uid)!;
        p.metadata.ownerReferences = a.ownerReferences;
        if (a.type === 'adoptPod') p.metadata.finalizers = [...(p.metadata.finalizers ?? []), JOB_TRACKING_FINALIZER];
      }
    }
    if (plan.finished) {
      for (const r of plan.removeFinalizers) this.pods.find((p) => p.metadata.uid === r.uid)!.metadata.finalizers = [];
      return plan;
    }
    if (plan.needsFlush) {
      this.job = { ...this.job, status: wireStatus(plan.status) };
      this.backoff = plan.backoff;
      this.writes++;
    }
    const removed = new Set<string>();
    for (const r of plan.removeFinalizers) {
      this.pods.find((p) => p.metadata.uid === r.uid)!.metadata.finalizers = [];
      removed.add(r.uid);
    }
    const done = completeTracking(plan, removed, (this.job.spec as Obj).completions as number | undefined);
    if (done.write) {
      this.job = { ...this.job, status: wireStatus(done.status) };
      this.writes++;
    }
    this.events.push(...done.events);
    // Pods whose deletion finished (no finalizer left) go; the kubelet marks deleted running pods Failed.
    for (const p of this.pods) if (p.metadata.deletionTimestamp && (p.status as Obj).phase !== 'Succeeded') (p.status as Obj).phase = 'Failed';
    this.pods = this.pods.filter((p) => !(p.metadata.deletionTimestamp && (p.metadata.finalizers ?? []).length === 0));
    return plan;
  }

  finish(p: KubeObject, phase: 'Succeeded' | 'Failed'): void {
    p.status = { phase, containerStatuses: [{ name: 'pi', restartCount: 0, state: { terminated: { exitCode: phase === 'Succeeded' ? 0 : 1, finishedAt: iso(this.now) } } }] };
  }

  active(): KubeObject[] {
    return this.pods.filter((p) => !p.metadata.deletionTimestamp && !['Succeeded', 'Failed'].includes(String((p.status as Obj).phase)));
  }

  get status(): Obj {
    return this.job.status as Obj;
  }

  reasons(): string[] {
    return this.events.map((e) => e.reason);
  }
}

describe('job control: pods', () => {
  it('creates min(parallelism, completions) pods from the template, with the tracking finalizer and a controller reference', () => {
    const plan = planJobSync({ job: job({ completions: 5, parallelism: 2 }), pods: [], now: T0 });
    assert.deepEqual(plan.actions.map(describeAction), ['createPod', 'createPod']);
    const p = (plan.actions[0] as { object: KubeObject }).object;
    assert.equal(p.metadata.generateName, 'pi-');
    assert.deepEqual(p.metadata.finalizers, [JOB_TRACKING_FINALIZER]);
    assert.deepEqual(p.metadata.ownerReferences, [{ apiVersion: 'batch/v1', kind: 'Job', name: 'pi', uid: UID, controller: true, blockOwnerDeletion: true }]);
    assert.equal(p.metadata.labels?.['job-name'], 'pi');
    assert.equal((p.spec as Obj).hostname, undefined);
    assert.equal(plan.status.active, 2);
    assert.equal(plan.status.startTime, iso(T0));
    assert.equal(plan.needsFlush, true);
    // Fewer completions than parallelism: only as many pods as completions are left.
    assert.equal(planJobSync({ job: job({ completions: 1, parallelism: 4 }), pods: [], now: T0 }).actions.length, 1);
    // No completions: parallelism pods.
    assert.equal(planJobSync({ job: job({ completions: null, parallelism: 3 }), pods: [], now: T0 }).actions.length, 3);
  });

  it('Indexed: the lowest free indexes, each with annotation, label, JOB_COMPLETION_INDEX, hostname and generateName', () => {
    const j = job({ completions: 5, parallelism: 3, indexed: true });
    const done = pod('Succeeded', { index: 0, finalizer: false });
    const running = pod('Running', { index: 2 });
    const plan = planJobSync({ job: { ...j, status: { completedIndexes: '0', succeeded: 1 } }, pods: [done, running], now: T0 });
    assert.deepEqual(plan.actions.map(describeAction), ['createPod #1', 'createPod #3']);
    const p = (plan.actions[0] as { object: KubeObject }).object;
    assert.equal(p.metadata.generateName, 'pi-1-');
    assert.equal(p.metadata.annotations?.['batch.kubernetes.io/job-completion-index'], '1');
    assert.equal(p.metadata.labels?.['batch.kubernetes.io/job-completion-index'], '1');
    assert.equal((p.spec as Obj).hostname, 'pi-1');
    const fieldRef = { fieldRef: { fieldPath: "metadata.annotations['batch.kubernetes.io/job-completion-index']" } };
    const spec = p.spec as { containers: Obj[]; initContainers: Obj[] };
    assert.deepEqual(spec.containers[0].env, [{ name: 'A', value: '1' }, { name: 'JOB_COMPLETION_INDEX', valueFrom: fieldRef }]);
    assert.deepEqual(spec.initContainers[0].env, [{ name: 'JOB_COMPLETION_INDEX', valueFrom: fieldRef }]);
    // The job's own template is untouched.
    assert.equal(((j.spec as Obj).template as { spec: { containers: Obj[] } }).spec.containers[0].env instanceof Array, true);
    assert.equal((((j.spec as Obj).template as { spec: { containers: Obj[] } }).spec.containers[0].env as unknown[]).length, 1);
    assert.equal(podNamePrefixWithIndex({ metadata: { name: 'x'.repeat(60) } }, 12), `${'x'.repeat(54)}-12-`);
  });

  it('Indexed: pods with a repeated or out-of-range index are deleted (the best of a repeated index stays)', () => {
    const j = job({ completions: 2, parallelism: 2, indexed: true });
    const a = pod('Running', { index: 0, ready: true });
    const b = pod('Pending', { index: 0 });
    const c = pod('Running', { index: 7 });
    const plan = planJobSync({ job: j, pods: [a, b, c], now: T0 });
    assert.deepEqual(plan.actions.map(describeAction).sort(), [`deletePod ${b.metadata.name} (excess)`, `deletePod ${c.metadata.name} (excess)`].sort());
    assert.ok(plan.actions.every((x) => x.type === 'deletePod' && x.removeFinalizer));
  });

  it('too many active pods (parallelism lowered): the least valuable go, not counted', () => {
    const ready = pod('Running', { ready: true });
    const pending = pod('Pending');
    const running = pod('Running');
    const plan = planJobSync({ job: job({ completions: 5, parallelism: 1 }), pods: [ready, pending, running], now: T0 });
    assert.deepEqual(plan.actions.map(describeAction), [`deletePod ${pending.metadata.name} (excess)`, `deletePod ${running.metadata.name} (excess)`]);
    assert.equal(plan.status.active, 1);
    assert.equal(plan.status.terminating, 2);
    assert.equal(plan.status.ready, 1);
  });

  it('adopts a matching orphan (with the finalizer) and releases an own pod that stopped matching', () => {
    const orphan = pod('Running', { owner: false, finalizer: false });
    const stray = pod('Running', { labels: { other: 'x' } });
    const plan = planJobSync({ job: job({ completions: 2, parallelism: 2 }), pods: [orphan, stray], now: T0 });
    const adopt = plan.actions.find((a) => a.type === 'adoptPod');
    const release = plan.actions.find((a) => a.type === 'releasePod');
    assert.equal(adopt?.type === 'adoptPod' && adopt.uid, orphan.metadata.uid);
    assert.equal(adopt?.type === 'adoptPod' && adopt.ownerReferences[0].uid, UID);
    assert.equal(release?.type === 'releasePod' && release.uid, stray.metadata.uid);
    assert.deepEqual(release?.type === 'releasePod' && release.ownerReferences, []);
    // The adopted pod counts as active: one more is created for parallelism 2.
    assert.equal(plan.actions.filter((a) => a.type === 'createPod').length, 1);
  });

  it('a pod owned by another controller or in another namespace is ignored', () => {
    const foreign = pod('Running');
    foreign.metadata.ownerReferences = [{ apiVersion: 'batch/v1', kind: 'Job', name: 'other', uid: 'other', controller: true }];
    const elsewhere = pod('Running');
    elsewhere.metadata.namespace = 'ns2';
    const plan = planJobSync({ job: job(), pods: [foreign, elsewhere], now: T0 });
    assert.deepEqual(plan.actions.map(describeAction), ['createPod']);
  });
});

describe('job control: tracking with finalizers', () => {
  it('a succeeded pod is recorded as uncounted first, then counted once its finalizer is gone; then Complete', () => {
    const p = pod('Succeeded', { finishedAt: T0 + 5000 });
    const j = job({ status: { active: 1, startTime: iso(T0), ready: 0, terminating: 0, uncountedTerminatedPods: {} } });
    const plan = planJobSync({ job: j, pods: [p], now: T0 + 6000 });
    assert.deepEqual(plan.status.uncountedTerminatedPods.succeeded, [p.metadata.uid]);
    assert.equal(plan.status.succeeded ?? 0, 0);
    assert.deepEqual(conds(plan.status as unknown as Obj), ['SuccessCriteriaMet=True/CompletionsReached']);
    assert.equal(plan.status.conditions?.[0].message, COMPLETIONS_REACHED_MESSAGE);
    assert.deepEqual(plan.removeFinalizers, [{ name: p.metadata.name, uid: p.metadata.uid }]);
    assert.equal(plan.finishing?.type, 'Complete');
    assert.equal(plan.needsFlush, true);
    // The removal failed: nothing moves, the job is not finished.
    const failedRemoval = completeTracking(plan, new Set(), 1);
    assert.equal(failedRemoval.finished, false);
    assert.deepEqual(failedRemoval.status.uncountedTerminatedPods.succeeded, [p.metadata.uid]);
    // The removal went through: counted, Complete with completionTime, event.
    const done = completeTracking(plan, new Set([p.metadata.uid ?? '']), 1);
    assert.equal(done.finished, true);
    assert.equal(done.status.succeeded, 1);
    assert.deepEqual(done.status.uncountedTerminatedPods, { succeeded: [], failed: [] });
    assert.deepEqual(conds(done.status as unknown as Obj), ['SuccessCriteriaMet=True/CompletionsReached', 'Complete=True/CompletionsReached']);
    assert.equal(done.status.completionTime, iso(T0 + 6000));
    assert.deepEqual(done.events, [{ type: 'Normal', reason: 'Completed', message: 'Job completed' }]);
    assert.deepEqual(wireStatus(done.status).uncountedTerminatedPods, {});
  });

  it('an uncounted pod whose finalizer is already gone moves to the counter without being counted twice', () => {
    const p = pod('Failed', { finalizer: false });
    const j = job({ completions: 2, status: { failed: 1, startTime: iso(T0), uncountedTerminatedPods: { failed: [p.metadata.uid] } } });
    const plan = planJobSync({ job: j, pods: [p], now: T0 + 60_000, backoff: { failuresAfterLastSuccess: 0 } });
    assert.equal(plan.status.failed, 2);
    assert.deepEqual(plan.status.uncountedTerminatedPods.failed, []);
    assert.equal(plan.needsFlush, true);
  });

  it('Indexed: completedIndexes is the compressed list and succeeded its size', () => {
    const j = job({ completions: 6, parallelism: 6, indexed: true, status: { completedIndexes: '0', succeeded: 1, startTime: iso(T0) } });
    const pods = [1, 2, 4].map((i) => pod('Succeeded', { index: i })).concat([pod('Running', { index: 3 }), pod('Running', { index: 5 })]);
    const plan = planJobSync({ job: j, pods, now: T0 });
    assert.equal(plan.status.completedIndexes, '0-2,4');
    assert.equal(plan.status.succeeded, 4);
    assert.deepEqual(plan.status.uncountedTerminatedPods.succeeded, [], 'Indexed jobs track succeeded pods by index');
    assert.equal(plan.removeFinalizers.length, 3);
    assert.equal(plan.actions.length, 0);
  });
});

describe('job control: failure', () => {
  it('more failures than backoffLimit: FailureTarget, active pods deleted (counted failed), then Failed with BackoffLimitExceeded', () => {
    const c = new Cluster(job({ completions: 2, parallelism: 2, backoffLimit: 0 }));
    c.round();
    assert.equal(c.active().length, 2);
    c.finish(c.pods[0], 'Failed');
    const plan = c.round();
    assert.deepEqual(conds(c.status), ['FailureTarget=True/BackoffLimitExceeded']);
    assert.equal((c.status.conditions as Obj[])[0].message, BACKOFF_LIMIT_MESSAGE);
    assert.equal(plan.actions.filter((a) => a.type === 'deletePod' && !a.removeFinalizer).length, 1);
    assert.equal(c.status.terminating, 1);
    assert.equal(c.status.failed, 2, 'the failed pod and the deleted one');
    // The deleted pod is gone: the terminal condition follows.
    c.now += 1000;
    c.round();
    assert.deepEqual(conds(c.status), ['FailureTarget=True/BackoffLimitExceeded', 'Failed=True/BackoffLimitExceeded']);
    assert.equal(c.status.completionTime, undefined);
    assert.equal(c.events.filter((e) => e.reason === 'BackoffLimitExceeded').length, 1);
    assert.deepEqual(c.events.find((e) => e.reason === 'BackoffLimitExceeded'), { type: 'Warning', reason: 'BackoffLimitExceeded', message: BACKOFF_LIMIT_MESSAGE });
    // Finished: nothing more happens.
    const after = c.round();
    assert.equal(after.finished, true);
    assert.equal(after.actions.length, 0);
  });

  it('podFailurePolicy: the first matching rule decides (exit codes of app then init containers, pod conditions)', () => {
    const policy = {
      rules: [
        { action: 'FailJob', onExitCodes: { containerName: 'main', operator: 'In', values: [42] } },
        { action: 'FailIndex', onExitCodes: { operator: 'In', values: [42] } },
        { action: 'Ignore', onPodConditions: [{ type: 'DisruptionTarget', status: 'True' }] },
        { action: 'Count', onExitCodes: { operator: 'NotIn', values: [1, 2] } },
        { action: 'FailJob', onExitCodes: { operator: 'In', values: [1] } },
      ],
    };
    const j = job({ podFailurePolicy: policy, podReplacementPolicy: 'Failed' });
    const failed = (containers: [string, number | null][], extra: Obj = {}, init: [string, number][] = []): KubeObject => {
      const p = pod('Failed');
      const cs = (l: [string, number | null][]) => l.map(([name, code]) => ({ name, restartCount: 0, state: code === null ? { running: {} } : { terminated: { exitCode: code } } }));
      p.status = { phase: 'Failed', containerStatuses: cs(containers), initContainerStatuses: cs(init), ...extra };
      return p;
    };
    const cases: [string, KubeObject, { countFailed: boolean; action?: string; failJobMessage?: string }][] = [
      ['exit 42 of the named container', failed([['main', 42]]), { countFailed: true, action: 'FailJob' }],
      ['exit 42 of another container: FailIndex', failed([['side', 42]]), { countFailed: true, action: 'FailIndex' }],
      ['exit 43: Count (43 is not in [1, 2])', failed([['side', 43]]), { countFailed: true, action: 'Count' }],
      ['a disruption condition', failed([['main', 137]], { conditions: [{ type: 'DisruptionTarget', status: 'True' }] }), { countFailed: false, action: 'Ignore' }],
      ['the condition False does not match', failed([['main', 2]], { conditions: [{ type: 'DisruptionTarget', status: 'False' }] }), { countFailed: true }],
      ['exit 1: the last rule', failed([['main', 1]]), { countFailed: true, action: 'FailJob' }],
      ['exit 0 and a running container never match', failed([['main', 0], ['side', null]]), { countFailed: true }],
      ['an init container', failed([], {}, [['setup', 1]]), { countFailed: true, action: 'FailJob' }],
    ];
    for (const [name, p, want] of cases) {
      const got = matchPodFailurePolicy(j, p);
      assert.deepEqual({ countFailed: got.countFailed, action: got.action }, { countFailed: want.countFailed, action: want.action }, name);
      assert.equal(got.failJobMessage !== undefined, want.action === 'FailJob', name);
    }
    const p42 = failed([['main', 42]]);
    assert.equal(matchPodFailurePolicy(j, p42).failJobMessage, `Container main for pod default/${p42.metadata.name} failed with exit code 42 matching FailJob rule at index 0`);
    const pc = failed([['main', 3]], { conditions: [{ type: 'ConfigIssue', status: 'True' }] });
    const byCondition = job({ podFailurePolicy: { rules: [{ action: 'FailJob', onPodConditions: [{ type: 'ConfigIssue' }] }] } });
    assert.equal(failJobMessage(byCondition, [pc]), `Pod default/${pc.metadata.name} has condition ConfigIssue matching FailJob rule at index 0`);
    assert.deepEqual(matchPodFailurePolicy(job(), p42), { countFailed: true }, 'no policy: every failure counts');
    assert.equal(failJobMessage(job(), [p42]), undefined);
  });

  it('podFailurePolicy FailJob: one matching failure fails the job at once with reason PodFailurePolicy, the other pods deleted', () => {
    const policy = { rules: [{ action: 'FailJob', onExitCodes: { containerName: 'pi', operator: 'In', values: [42] } }] };
    const c = new Cluster(job({ completions: 2, parallelism: 2, backoffLimit: 6, podFailurePolicy: policy, podReplacementPolicy: 'Failed' }));
    c.round();
    assert.equal(c.active().length, 2);
    const [first] = c.pods;
    first.status = { phase: 'Failed', containerStatuses: [{ name: 'pi', restartCount: 0, state: { terminated: { exitCode: 42, finishedAt: iso(c.now) } } }] };
    const plan = c.round();
    const message = `Container pi for pod default/${first.metadata.name} failed with exit code 42 matching FailJob rule at index 0`;
    assert.deepEqual(conds(c.status), ['FailureTarget=True/PodFailurePolicy']);
    assert.equal((c.status.conditions as Obj[])[0].message, message);
    assert.equal(plan.actions.filter((a) => a.type === 'deletePod').length, 1, 'the other active pod is deleted');
    c.now += 1000;
    c.round();
    assert.deepEqual(conds(c.status), ['FailureTarget=True/PodFailurePolicy', 'Failed=True/PodFailurePolicy']);
    assert.deepEqual(c.events.find((e) => e.reason === 'PodFailurePolicy'), { type: 'Warning', reason: 'PodFailurePolicy', message });
    assert.equal(c.status.failed, 2);
  });

  it('podFailurePolicy Ignore: a disrupted pod does not count against backoffLimit 0 and is replaced', () => {
    const policy = { rules: [{ action: 'Ignore', onPodConditions: [{ type: 'DisruptionTarget', status: 'True' }] }] };
    const c = new Cluster(job({ completions: 1, backoffLimit: 0, podFailurePolicy: policy, podReplacementPolicy: 'Failed' }));
    c.round();
    const [evicted] = c.pods;
    evicted.status = { phase: 'Failed', conditions: [{ type: 'DisruptionTarget', status: 'True', reason: 'EvictionByEvictionAPI' }], containerStatuses: [{ name: 'pi', restartCount: 0, state: { terminated: { exitCode: 137, finishedAt: iso(c.now) } } }] };
    c.round();
    assert.deepEqual(conds(c.status), [], 'not failed');
    assert.equal(c.status.failed, undefined, 'not counted');
    assert.deepEqual(evicted.metadata.finalizers, [], 'but no longer tracked');
    c.now += 10_000;
    c.round();
    assert.equal(c.active().length, 1, 'replaced after the pod-failure back-off');
    // A failure no rule matches still counts: with backoffLimit 0 the job fails.
    c.finish(c.active()[0], 'Failed');
    c.round();
    assert.deepEqual(conds(c.status), ['FailureTarget=True/BackoffLimitExceeded', 'Failed=True/BackoffLimitExceeded']);
    assert.equal(c.status.failed, 1);
  });

  it('a failed pod is replaced only after the back-off (10 s, doubling per failure since the last success)', () => {
    const c = new Cluster(job({ completions: 1, backoffLimit: 6 }));
    c.round();
    c.finish(c.pods[0], 'Failed');
    c.now += 1000;
    const plan = c.round();
    assert.equal(plan.actions.length, 0);
    assert.equal(plan.requeueAfterMs, 9000);
    assert.equal(c.status.failed, 1);
    c.now += 9000;
    assert.deepEqual(c.round().actions.map(describeAction), ['createPod']);
    c.finish(c.active()[0], 'Failed');
    c.now += 1000;
    assert.equal(c.round().requeueAfterMs, 19_000);
    assert.equal(backoffRemainingMs({ failuresAfterLastSuccess: 10, lastFailureTime: T0 }, T0), 360_000, 'at most 6 min');
    assert.deepEqual(nextBackoff({ failuresAfterLastSuccess: 3, lastFailureTime: T0 }, [pod('Succeeded', { finishedAt: T0 + 10_000 })], [pod('Failed', { finishedAt: T0 + 5000 }), pod('Failed', { finishedAt: T0 + 20_000 })]), {
      failuresAfterLastSuccess: 1,
      lastFailureTime: T0 + 20_000,
    });
  });

  it('restartPolicy OnFailure: container restarts reaching backoffLimit fail the job', () => {
    const j = job({ restartPolicy: 'OnFailure', backoffLimit: 2, status: { active: 1, startTime: iso(T0) } });
    assert.equal(planJobSync({ job: j, pods: [pod('Running', { restarts: 1 })], now: T0 }).status.conditions, undefined);
    const plan = planJobSync({ job: j, pods: [pod('Running', { restarts: 2 })], now: T0 });
    assert.deepEqual(conds(plan.status as unknown as Obj), ['FailureTarget=True/BackoffLimitExceeded']);
  });

  it('activeDeadlineSeconds: a sync is due at the deadline; past it the job fails with DeadlineExceeded', () => {
    const j = job({ activeDeadlineSeconds: 30, status: { active: 1, startTime: iso(T0) } });
    const running = pod('Running');
    assert.equal(planJobSync({ job: j, pods: [running], now: T0 + 10_000 }).requeueAfterMs, 20_000);
    const plan = planJobSync({ job: j, pods: [running], now: T0 + 30_000 });
    assert.deepEqual(conds(plan.status as unknown as Obj), ['FailureTarget=True/DeadlineExceeded']);
    assert.equal(plan.status.conditions?.[0].message, DEADLINE_MESSAGE);
    assert.deepEqual(plan.actions.map(describeAction), [`deletePod ${running.metadata.name} (finished)`]);
    assert.equal(plan.finishing?.type, 'Failed');
    assert.equal(completeTracking(plan, new Set([running.metadata.uid ?? '']), 1).finished, false, 'waits for the terminating pod');
  });
});

describe('job control: completion and suspension', () => {
  it('Indexed job 3 completions, parallelism 2: runs to Complete with completedIndexes 0-2', () => {
    const c = new Cluster(job({ completions: 3, parallelism: 2, indexed: true }));
    c.round();
    assert.deepEqual(c.active().map((p) => p.metadata.annotations?.['batch.kubernetes.io/job-completion-index']).sort(), ['0', '1']);
    c.finish(c.active()[1], 'Succeeded');
    c.round();
    assert.equal(c.status.completedIndexes, '1');
    assert.deepEqual(c.active().map((p) => p.metadata.annotations?.['batch.kubernetes.io/job-completion-index']).sort(), ['0', '2']);
    for (const p of c.active()) c.finish(p, 'Succeeded');
    c.round();
    assert.equal(c.status.completedIndexes, '0-2');
    assert.equal(c.status.succeeded, 3);
    assert.deepEqual(conds(c.status), ['SuccessCriteriaMet=True/CompletionsReached', 'Complete=True/CompletionsReached']);
    assert.deepEqual(c.reasons().filter((r) => r !== 'SuccessfulCreate'), ['Completed']);
    assert.equal(c.reasons().filter((r) => r === 'SuccessfulCreate').length, 3);
    assert.ok(c.pods.every((p) => (p.metadata.finalizers ?? []).length === 0), 'every finalizer removed');
  });

  it('successPolicy: the first rule the succeeded indexes satisfy (all listed indexes, or succeededCount of them, or a count alone)', () => {
    const rules = [{ succeededIndexes: '0,2-3' }, { succeededIndexes: '4-9', succeededCount: 2 }, { succeededCount: 4 }];
    const j = job({ completions: 10, indexed: true, successPolicy: { rules } });
    const cases: [string, string | undefined][] = [
      ['', undefined],
      ['0,2', undefined],
      ['0,2-3', 'Matched rules at index 0'],
      ['0-3', 'Matched rules at index 0'],
      ['4', undefined],
      ['5,9', 'Matched rules at index 1'],
      ['0-1,4', undefined],
      ['0-2,4-5', 'Matched rules at index 1'],
      ['0-1,3,5,7', 'Matched rules at index 1'],
      ['0-2,5', 'Matched rules at index 2'],
    ];
    for (const [succeeded, want] of cases) assert.equal(matchSuccessPolicy(j, 10, parseIndexes(succeeded, 10)), want, succeeded || '(none)');
    assert.equal(matchSuccessPolicy(job({ completions: 10, indexed: true }), 10, parseIndexes('0-9', 10)), undefined, 'no policy');
    const outOfRange = job({ completions: 3, indexed: true, successPolicy: { rules: [{ succeededIndexes: '7' }, { succeededIndexes: '1' }] } });
    assert.equal(matchSuccessPolicy(outOfRange, 3, parseIndexes('1', 3)), 'Matched rules at index 1', 'a rule with no index below completions is passed over');
  });

  it('successPolicy met: SuccessCriteriaMet SuccessPolicy at once, the other pods deleted uncounted, then Complete', () => {
    const c = new Cluster(job({ completions: 4, parallelism: 4, indexed: true, successPolicy: { rules: [{ succeededIndexes: '0' }] } }));
    c.round();
    assert.equal(c.active().length, 4);
    const leader = c.active().find((p) => p.metadata.annotations?.['batch.kubernetes.io/job-completion-index'] === '0')!;
    c.finish(leader, 'Succeeded');
    const plan = c.round();
    assert.deepEqual(conds(c.status), ['SuccessCriteriaMet=True/SuccessPolicy']);
    assert.equal((c.status.conditions as Obj[])[0].message, 'Matched rules at index 0');
    assert.equal(plan.actions.filter((a) => a.type === 'deletePod').length, 3, 'the workers are deleted');
    c.now += 1000;
    c.round();
    assert.deepEqual(conds(c.status), ['SuccessCriteriaMet=True/SuccessPolicy', 'Complete=True/SuccessPolicy']);
    assert.equal(c.status.succeeded, 1);
    assert.equal(c.status.completedIndexes, '0');
    assert.equal(c.status.failed, undefined, 'the deleted workers are not failures');
    assert.ok(c.status.completionTime);
    assert.deepEqual(c.reasons().filter((r) => r !== 'SuccessfulCreate' && r !== 'SuccessfulDelete'), ['Completed']);
  });

  it('without completions: the first success completes the job once no pod is active', () => {
    const c = new Cluster(job({ completions: null, parallelism: 2 }));
    c.round();
    c.finish(c.pods[0], 'Succeeded');
    const plan = c.round();
    assert.equal(plan.actions.length, 0, 'no replacement once a pod succeeded');
    assert.equal(c.status.conditions, undefined);
    c.finish(c.pods[1], 'Succeeded');
    c.round();
    assert.deepEqual(conds(c.status), ['SuccessCriteriaMet=True/CompletionsReached', 'Complete=True/CompletionsReached']);
    assert.equal(c.status.succeeded, 2);
  });

  it('suspend deletes active pods uncounted and sets Suspended; resume sets it False and restarts the clock', () => {
    const c = new Cluster(job({ completions: 4, parallelism: 2 }));
    c.round();
    c.job = { ...c.job, spec: { ...(c.job.spec as Obj), suspend: true } };
    c.now += 5000;
    const plan = c.round();
    assert.ok(plan.actions.every((a) => a.type === 'deletePod' && a.removeFinalizer && a.reason === 'suspended'));
    assert.equal(plan.actions.length, 2);
    assert.deepEqual(conds(c.status), ['Suspended=True/JobSuspended']);
    assert.equal(c.status.failed, undefined, 'suspended pods are not failures');
    assert.equal(c.active().length, 0);
    c.job = { ...c.job, spec: { ...(c.job.spec as Obj), suspend: false } };
    c.now += 5000;
    c.round();
    assert.deepEqual(conds(c.status), ['Suspended=False/JobResumed']);
    assert.equal(c.status.startTime, iso(c.now));
    assert.equal(c.active().length, 2);
    assert.deepEqual(c.reasons().filter((r) => r === 'Suspended' || r === 'Resumed'), ['Suspended', 'Resumed']);
  });

  it('a job created suspended has no startTime and no pods', () => {
    const plan = planJobSync({ job: job({ suspend: true }), pods: [], now: T0 });
    assert.equal(plan.actions.length, 0);
    assert.equal(plan.status.startTime, undefined);
    assert.deepEqual(conds(plan.status as unknown as Obj), ['Suspended=True/JobSuspended']);
  });

  it('podReplacementPolicy Failed: a terminating pod is replaced only once it failed', () => {
    const terminating = pod('Running', { deleting: true });
    const orFailed = planJobSync({ job: job({ status: { startTime: iso(T0) } }), pods: [terminating], now: T0 });
    assert.equal(orFailed.actions.filter((a) => a.type === 'createPod').length, 0, 'the deleted pod counts as failed: back-off first');
    assert.equal(orFailed.status.uncountedTerminatedPods.failed?.length, 1);
    const onlyFailed = planJobSync({ job: job({ podReplacementPolicy: 'Failed', status: { startTime: iso(T0) } }), pods: [terminating], now: T0 });
    assert.equal(onlyFailed.actions.length, 0);
    assert.equal(onlyFailed.status.terminating, 1);
    assert.equal(onlyFailed.removeFinalizers.length, 0);
  });

  it('a finished job only loses the finalizers its pods still carry', () => {
    const j = job({ status: { conditions: [{ type: 'Complete', status: 'True' }] } });
    const p = pod('Succeeded');
    const plan = planJobSync({ job: j, pods: [p, pod('Succeeded', { finalizer: false })], now: T0 });
    assert.equal(plan.finished, true);
    assert.deepEqual(plan.removeFinalizers, [{ name: p.metadata.name, uid: p.metadata.uid }]);
    assert.equal(plan.actions.length, 0);
  });

  it('an unknown completionMode is skipped with a Warning', () => {
    const j = job();
    (j.spec as Obj).completionMode = 'Sometimes';
    const plan = planJobSync({ job: j, pods: [], now: T0 });
    assert.deepEqual(plan.events, [{ type: 'Warning', reason: 'UnknownCompletionMode', message: 'Skipped Job sync because completion mode is unknown' }]);
    assert.equal(plan.actions.length, 0);
  });
});

describe('job clean-up decisions', () => {
  it('ttlSecondsAfterFinished counts from the terminal condition', () => {
    const finished = job({ ttl: 30, status: { conditions: [{ type: 'Complete', status: 'True', lastTransitionTime: iso(T0) }] } });
    assert.deepEqual(ttlVerdict(finished, T0 + 10_000), { kind: 'wait', afterMs: 20_000 });
    assert.deepEqual(ttlVerdict(finished, T0 + 30_000), { kind: 'expired' });
    assert.deepEqual(ttlVerdict(job({ ttl: 30 }), T0 + 99_000), { kind: 'none' }, 'not finished');
    assert.deepEqual(ttlVerdict({ ...finished, spec: { ...(finished.spec as Obj), ttlSecondsAfterFinished: undefined } }, T0 + 99_000), { kind: 'none' });
  });

  it('a tracking finalizer without a live, unfinished job is orphaned', () => {
    const live = job();
    const lookup = (j?: KubeObject) => (_ns: string, name: string) => (j && name === 'pi' ? j : undefined);
    const p = pod('Running');
    assert.equal(orphanedFinalizer(p, lookup(live)), false);
    assert.equal(orphanedFinalizer(p, lookup(undefined)), true, 'job gone');
    assert.equal(orphanedFinalizer(p, lookup({ ...live, metadata: { ...live.metadata, uid: 'new' } })), true, 'job replaced');
    assert.equal(orphanedFinalizer(p, lookup(job({ status: { conditions: [{ type: 'Failed', status: 'True' }] } }))), true, 'job finished');
    assert.equal(orphanedFinalizer(pod('Running', { owner: false }), lookup(live)), true, 'no controller');
    assert.equal(orphanedFinalizer(pod('Running', { finalizer: false }), lookup(undefined)), false, 'no finalizer');
    const rs = pod('Running');
    rs.metadata.ownerReferences = [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'x', uid: 'x', controller: true }];
    assert.equal(orphanedFinalizer(rs, lookup(undefined)), false, 'another controller’s pod');
  });
});

describe('job control: backoffLimitPerIndex', () => {
  const FAILURES = 'batch.kubernetes.io/job-index-failure-count';
  const IGNORED = 'batch.kubernetes.io/job-index-ignored-failure-count';
  const indexOf = (p: KubeObject): number => Number(p.metadata.annotations?.['batch.kubernetes.io/job-completion-index']);
  const ofIndex = (c: Cluster, ix: number): KubeObject[] => c.pods.filter((p) => indexOf(p) === ix);
  const failWith = (c: Cluster, p: KubeObject, exitCode: number, extra: Obj = {}): void => {
    p.status = { phase: 'Failed', containerStatuses: [{ name: 'pi', restartCount: 0, state: { terminated: { exitCode, finishedAt: iso(c.now) } } }], ...extra };
  };

  it('an index is retried backoffLimitPerIndex times, each after its own back-off, then failed; the job fails with FailedIndexes once the others are done', () => {
    const c = new Cluster(job({ indexed: true, completions: 3, parallelism: 3, backoffLimit: 2147483647, backoffLimitPerIndex: 1 }));
    c.round();
    assert.equal(c.active().length, 3);
    for (const p of c.pods) assert.equal(p.metadata.annotations?.[FAILURES], '0', 'the first pod of an index has no failures before it');
    assert.equal(c.status.failedIndexes, '');
    const [first] = ofIndex(c, 0);
    c.finish(first, 'Failed');
    c.now += 1000;
    let plan = c.round();
    assert.equal(plan.actions.filter((a) => a.type === 'createPod').length, 0, 'index 0 waits out its back-off');
    assert.ok(plan.requeueAfterMs !== undefined && plan.requeueAfterMs <= 9000 && plan.requeueAfterMs > 8000, `requeue ${plan.requeueAfterMs}`);
    assert.deepEqual(first.metadata.finalizers, [JOB_TRACKING_FINALIZER], 'the failed pod carries the index’s failures until it is replaced');
    assert.equal(c.status.failed, undefined, 'and is not counted yet');
    // Index 1 failing meanwhile is not held up by index 0's back-off, nor does it hold index 0 up.
    c.now += 9000;
    plan = c.round();
    const created = plan.actions.filter((a) => a.type === 'createPod') as { index?: number; object: KubeObject }[];
    assert.deepEqual(created.map((a) => a.index), [0]);
    assert.equal(created[0].object.metadata.annotations?.[FAILURES], '1');
    assert.equal(created[0].object.metadata.annotations?.[IGNORED], undefined);
    c.round();
    assert.deepEqual(first.metadata.finalizers, [], 'released once its replacement exists');
    assert.equal(c.status.failed, 1);
    // The replacement fails too: 1 failure before it = backoffLimitPerIndex, so index 0 fails.
    const [, second] = ofIndex(c, 0);
    c.finish(second, 'Failed');
    plan = c.round();
    assert.equal(c.status.failedIndexes, '0');
    assert.equal(plan.actions.filter((a) => a.type === 'createPod').length, 0, 'a failed index gets no new pod');
    assert.deepEqual(second.metadata.finalizers, [], 'a failed index’s pod is counted at once');
    assert.equal(c.status.failed, 2);
    assert.deepEqual(conds(c.status), [], 'the other indexes still run');
    for (const ix of [1, 2]) c.finish(ofIndex(c, ix)[0], 'Succeeded');
    c.round();
    assert.deepEqual(conds(c.status), ['FailureTarget=True/FailedIndexes', 'Failed=True/FailedIndexes']);
    assert.equal((c.status.conditions as Obj[])[1].message, 'Job has failed indexes');
    assert.equal(c.status.completedIndexes, '1,2');
    assert.equal(c.status.failedIndexes, '0');
    assert.equal(c.status.succeeded, 2);
  });

  it('maxFailedIndexes: one failed index more than allowed fails the job at once (MaxFailedIndexesExceeded), its other pods deleted', () => {
    const c = new Cluster(job({ indexed: true, completions: 4, parallelism: 4, backoffLimit: 2147483647, backoffLimitPerIndex: 0, maxFailedIndexes: 1 }));
    c.round();
    c.finish(ofIndex(c, 2)[0], 'Failed');
    c.round();
    assert.equal(c.status.failedIndexes, '2');
    assert.deepEqual(conds(c.status), []);
    c.finish(ofIndex(c, 0)[0], 'Failed');
    const plan = c.round();
    assert.equal(c.status.failedIndexes, '0,2');
    assert.deepEqual(conds(c.status), ['FailureTarget=True/MaxFailedIndexesExceeded']);
    assert.equal(plan.actions.filter((a) => a.type === 'deletePod').length, 2, 'indexes 1 and 3 are stopped');
    c.round();
    assert.deepEqual(conds(c.status), ['FailureTarget=True/MaxFailedIndexesExceeded', 'Failed=True/MaxFailedIndexesExceeded']);
    assert.equal((c.status.conditions as Obj[])[1].message, 'Job has exceeded the specified maximal number of failed indexes');
  });

  it('podFailurePolicy: FailIndex fails the index without a retry; an ignored failure is retried and counted apart', () => {
    const policy = {
      rules: [
        { action: 'FailIndex', onExitCodes: { operator: 'In', values: [42] } },
        { action: 'Ignore', onPodConditions: [{ type: 'DisruptionTarget', status: 'True' }] },
      ],
    };
    const c = new Cluster(job({ indexed: true, completions: 2, parallelism: 2, backoffLimit: 2147483647, backoffLimitPerIndex: 3, podFailurePolicy: policy, podReplacementPolicy: 'Failed' }));
    c.round();
    failWith(c, ofIndex(c, 1)[0], 42);
    failWith(c, ofIndex(c, 0)[0], 137, { conditions: [{ type: 'DisruptionTarget', status: 'True' }] });
    c.round();
    assert.equal(c.status.failedIndexes, '1', 'exit 42 fails index 1 though 3 retries were allowed');
    assert.equal(c.status.failed, 1, 'the ignored failure is not counted');
    c.now += 10_000;
    const plan = c.round();
    const created = plan.actions.filter((a) => a.type === 'createPod') as { index?: number; object: KubeObject }[];
    assert.deepEqual(created.map((a) => a.index), [0]);
    assert.equal(created[0].object.metadata.annotations?.[FAILURES], '0');
    assert.equal(created[0].object.metadata.annotations?.[IGNORED], '1');
    c.finish(c.active()[0], 'Succeeded');
    c.round();
    assert.deepEqual(conds(c.status), ['FailureTarget=True/FailedIndexes', 'Failed=True/FailedIndexes']);
    assert.equal(c.status.failed, 1);
  });
});

describe('job printer cells (kubectl 1.32)', () => {
  const withStatus = (spec: Obj, status: Obj, deleting = false): KubeObject => ({ metadata: { name: 'j', ...(deleting ? { deletionTimestamp: iso(T0) } : {}) }, spec, status });
  it('STATUS: Complete, Failed, Terminating, Suspended, FailureTarget, SuccessCriteriaMet, Running — in that order', () => {
    const c = (type: string, status = 'True'): Obj => ({ type, status });
    assert.equal(jobStatusCell(withStatus({}, { conditions: [c('SuccessCriteriaMet'), c('Complete')] })), 'Complete');
    assert.equal(jobStatusCell(withStatus({}, { conditions: [c('FailureTarget'), c('Failed')] }, true)), 'Failed');
    assert.equal(jobStatusCell(withStatus({}, { conditions: [c('Suspended')] }, true)), 'Terminating');
    assert.equal(jobStatusCell(withStatus({}, { conditions: [c('Suspended')] })), 'Suspended');
    assert.equal(jobStatusCell(withStatus({}, { conditions: [c('Suspended', 'False'), c('FailureTarget')] })), 'FailureTarget');
    assert.equal(jobStatusCell(withStatus({}, { conditions: [c('SuccessCriteriaMet')] })), 'SuccessCriteriaMet');
    assert.equal(jobStatusCell(withStatus({}, {})), 'Running');
  });
  it('COMPLETIONS and DURATION', () => {
    assert.equal(jobCompletionsCell(withStatus({ completions: 3 }, { succeeded: 2 })), '2/3');
    assert.equal(jobCompletionsCell(withStatus({ parallelism: 3 }, { succeeded: 1 })), '1/1 of 3');
    assert.equal(jobCompletionsCell(withStatus({ parallelism: 1 }, {})), '0/1');
    assert.equal(jobDurationCell(withStatus({}, {}), T0), '');
    assert.equal(jobDurationCell(withStatus({}, { startTime: iso(T0) }), T0 + 75_000), '75s');
    assert.equal(jobDurationCell(withStatus({}, { startTime: iso(T0), completionTime: iso(T0 + 4000) }), T0 + 999_000), '4s');
  });
});
