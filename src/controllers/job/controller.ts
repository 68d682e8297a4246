// The Job controller: the acting layer around the pure algorithm (control.ts) and the clean-up
// decisions (cleanup.ts). Informers on Jobs and Pods feed a work queue of job keys (and
// `pod:<ns>/<name>` keys for pods left with a tracking finalizer); reconcile(key):
//   1. waits until the caches show this controller's previous writes for the job (Kubernetes'
//      expectations serve the same end: a pod just created is never created twice, a finalizer
//      just removed is not removed — or counted — again);
//   2. runs planJobSync() on the cache and records its Events;
//   3. carries out the pod actions — ownership, then deletions (taking the tracking finalizer
//      off first where the pod is not to be counted), then creations in slow-start batches of
//      1, 2, 4, … (Kubernetes' SlowStartInitialBatchSize); a failure ends the round, which is
//      retried with rate-limited back-off — with the Events RealPodControl records
//      (SuccessfulCreate "Created pod: x", SuccessfulDelete "Deleted pod: x", FailedCreate …);
//   4. writes the status through the status subresource when it changed (newly finished pods
//      recorded as uncounted, interim conditions), then removes the finalizers of the finished
//      pods, then writes the counters (and, when the job is done, its Complete or Failed
//      condition with Events Completed "Job completed" / BackoffLimitExceeded / DeadlineExceeded);
//   5. for finished jobs: removes leftover finalizers and applies ttlSecondsAfterFinished
//      (deletes the job in the foreground, as Kubernetes' ttl-after-finished controller does).
// Pod-failure back-off records are kept in memory per job, as Kubernetes keeps them.
import type { KubeObject } from '../../registry/types.ts';
import { isConflict, isNotFound, objectKey, type ResourceRef } from '../../client/rest.ts';
import type { Informer } from '../../client/informer.ts';
import type { ControllerContext, ControllerFactory, RunningController } from '../manager.ts';
import { ControllerBase, roundRetryLogger, type ControllerBaseOptions } from '../common/base.ts';
import { WriteExpectations } from '../common/cache-sync.ts';
import { carryOutBatches } from '../common/rounds.ts';
import { enqueueOwnersOf, ownerKeysOf, type OwnerLookup } from '../common/owners.ts';
import { RoundFailure, toActionError, type ActionError } from '../common/errors.ts';
import { mapLimit } from '../common/concurrency.ts';
import { PODS } from '../common/resources.ts';
import { actionEvent, completeTracking, describeAction, planJobSync, wireStatus, type JobAction, type JobBackoff, type JobStatus } from './control.ts';
import { orphanedFinalizer, ttlVerdict } from './cleanup.ts';
import { JOB_KIND, JOB_TRACKING_FINALIZER, completionsOf, controllerRefOf, hasTrackingFinalizer, isBeingDeleted, isControlledBy, selectorMatches } from './job.ts';

export const JOBS: ResourceRef = { group: 'batch', version: 'v1', plural: 'jobs', namespaced: true, kind: 'Job' };
export { PODS };

export const JOB_CONTROLLER_COMPONENT = 'job-controller';
export const JOB_USER_AGENT = 'kennel-job-controller';
export const JOB_FIELD_MANAGER = 'kube-controller-manager';

/** Prefix of the queue keys of pods whose tracking finalizer lost its job. */
const ORPHAN_POD_PREFIX = 'pod:';
/** Poll interval while waiting for the caches. */
const CACHE_WAIT_MS = 50;

export interface JobControllerOptions extends ControllerBaseOptions {
  /** Jobs reconciled at once (default 5, as Kubernetes' --concurrent-job-syncs). */
  workers?: number;
  /** Requests of one batch in flight at once (default 64). */
  concurrency?: number;
}

export interface JobController extends RunningController {
  /** Rounds completed so far. */
  readonly rounds: number;
  idle(): boolean;
}

export class JobRoundError extends RoundFailure {
  constructor(key: string, failures: { action: string; error: ActionError }[]) {
    super('Job', key, failures);
    this.name = 'JobRoundError';
  }
}

/** Batches of 1, 2, 4, … items. */
function slowStart<T>(items: T[]): T[][] {
  const out: T[][] = [];
  for (let pos = 0, size = 1; pos < items.length; pos += size, size *= 2) out.push(items.slice(pos, pos + size));
  return out;
}

/** Keys of the jobs a pod concerns: its controller, or (orphan) every job whose selector
 *  matches it. */
export function jobsForPod(jobs: OwnerLookup, pod: KubeObject): string[] {
  const orphanable = !isBeingDeleted(pod);
  return ownerKeysOf(pod, controllerRefOf(pod), jobs, { group: 'batch', kind: JOB_KIND }, (job) => orphanable && selectorMatches(job, pod.metadata.labels));
}

export async function startJobController(opts: JobControllerOptions): Promise<JobController> {
  const base = new ControllerBase(opts, {
    component: JOB_CONTROLLER_COMPONENT,
    userAgent: JOB_USER_AGENT,
    fieldManager: JOB_FIELD_MANAGER,
    queueName: 'job',
    stopMessage: 'job controller',
  });
  const { log, clock, client, factory, recorder, queue, signal } = base;
  const concurrency = Math.max(1, opts.concurrency ?? 64);
  const jobs = factory.informer(JOBS);
  const pods = factory.informer(PODS);
  const informerOf: Record<string, Informer> = { jobs, pods };
  const expectations = new WriteExpectations(() => clock.now());
  const backoffs = new Map<string, JobBackoff>();
  let rounds = 0;

  const lookup: OwnerLookup = { get: (ns, name) => jobs.get(ns, name), listByNamespace: (ns) => jobs.listByNamespace(ns) };
  const considerPod = (pod: KubeObject): void => {
    if (orphanedFinalizer(pod, (ns, name) => jobs.get(ns, name))) queue.add(`${ORPHAN_POD_PREFIX}${objectKey(pod)}`);
  };
  const podHandler = enqueueOwnersOf((p) => jobsForPod(lookup, p), (k) => queue.add(k));
  base.handle(
    jobs.addEventHandler({
      onAdd: (j) => queue.add(objectKey(j)),
      onUpdate: (_o, j) => queue.add(objectKey(j)),
      onDelete: (j) => {
        queue.add(objectKey(j));
        // Its pods' finalizers have nobody left to remove them.
        for (const p of pods.listByNamespace(j.metadata.namespace ?? 'default')) {
          if (isControlledBy(p, j) && hasTrackingFinalizer(p)) queue.add(`${ORPHAN_POD_PREFIX}${objectKey(p)}`);
        }
      },
    }),
    pods.addEventHandler({
      onAdd: (p, initial) => {
        podHandler.onAdd?.(p, initial);
        considerPod(p);
      },
      onUpdate: (o, p) => {
        podHandler.onUpdate?.(o, p);
        considerPod(p);
      },
      onDelete: (p, unknown) => podHandler.onDelete?.(p, unknown),
    }),
  );

  const expect = (key: string, plural: string, written: KubeObject | undefined): void => {
    expectations.expect(key, informerOf[plural], written);
  };

  /** Remove a pod's tracking finalizer (`key`: the job whose next round must see it). */
  const removeFinalizer = async (key: string | undefined, namespace: string, name: string, uid: string): Promise<void> => {
    const patch = { metadata: { uid, [`$deleteFromPrimitiveList/finalizers`]: [JOB_TRACKING_FINALIZER] } };
    try {
      const written = await client.patch(PODS, namespace, name, patch, 'strategic', { signal });
      if (key !== undefined) expect(key, 'pods', written);
    } catch (e) {
      // Gone, or another pod of that name now: either way this finalizer is not there any more.
      if (!isNotFound(e) && !isConflict(e)) throw e;
    }
  };

  /** Carry out one pod action; resolves with its error (never rejects). */
  const execute = async (key: string, namespace: string, a: JobAction): Promise<{ error?: ActionError; created?: string }> => {
    try {
      switch (a.type) {
        case 'adoptPod': {
          const patch = { metadata: { uid: a.uid, ownerReferences: a.ownerReferences, finalizers: [JOB_TRACKING_FINALIZER] } };
          expect(key, 'pods', await client.patch(PODS, namespace, a.name, patch, 'strategic', { signal }));
          return {};
        }
        case 'releasePod': {
          const patch = { metadata: { uid: a.uid, ownerReferences: a.ownerReferences.length > 0 ? a.ownerReferences : null } };
          expect(key, 'pods', await client.patch(PODS, namespace, a.name, patch, 'merge', { signal }));
          return {};
        }
        case 'createPod': {
          const created = await client.create(PODS, a.object, { signal });
          expect(key, 'pods', created);
          return { created: created.metadata.name };
        }
        case 'deletePod':
          try {
            if (a.removeFinalizer) await removeFinalizer(key, namespace, a.name, a.uid);
            expect(key, 'pods', await client.delete(PODS, namespace, a.name, { signal, preconditions: { uid: a.uid } }));
          } catch (e) {
            if (isNotFound(e)) return { error: toActionError(e) };
            throw e;
          }
          return {};
      }
    } catch (e) {
      return { error: toActionError(e) };
    }
  };

  /** Replace the job's status (status subresource) on top of `job`'s resourceVersion. A conflict
   *  fails the round: it is computed again from the newer object. */
  const putStatus = async (key: string, job: KubeObject, status: JobStatus): Promise<KubeObject> => {
    const body: KubeObject = {
      apiVersion: 'batch/v1',
      kind: 'Job',
      metadata: { name: job.metadata.name, namespace: job.metadata.namespace, uid: job.metadata.uid, resourceVersion: job.metadata.resourceVersion },
      spec: job.spec,
      status: wireStatus(status),
    };
    const written = await client.updateStatus(JOBS, body, { signal });
    expect(key, 'jobs', written);
    return written;
  };

  const ttlCleanup = async (key: string, job: KubeObject): Promise<void> => {
    const v = ttlVerdict(job, clock.now());
    if (v.kind === 'wait') queue.addAfter(key, v.afterMs);
    if (v.kind !== 'expired') return;
    try {
      log.info('deleting finished job after its ttlSecondsAfterFinished', { job: key });
      expect(key, 'jobs', await client.delete(JOBS, job.metadata.namespace, job.metadata.name ?? '', { signal, propagationPolicy: 'Foreground', preconditions: { uid: job.metadata.uid } }));
    } catch (e) {
      if (!isNotFound(e) && !isConflict(e)) throw e;
    }
  };

  const syncOrphanPod = async (podKey: string): Promise<void> => {
    const pod = pods.getByKey(podKey);
    if (!pod || !orphanedFinalizer(pod, (ns, name) => jobs.get(ns, name))) return;
    await removeFinalizer(undefined, pod.metadata.namespace ?? 'default', pod.metadata.name ?? '', pod.metadata.uid ?? '');
  };

  const syncJob = async (key: string): Promise<void> => {
    const job = jobs.getByKey(key);
    if (!job) {
      expectations.forget(key);
      backoffs.delete(key);
      return;
    }
    if (!expectations.caughtUp(key)) {
      queue.addAfter(key, CACHE_WAIT_MS);
      return;
    }
    const namespace = job.metadata.namespace ?? 'default';
    const target: KubeObject = job.kind && job.apiVersion ? job : { ...job, apiVersion: 'batch/v1', kind: 'Job' };
    const plan = planJobSync({ job, pods: pods.listByNamespace(namespace), now: clock.now(), backoff: backoffs.get(key) });
    for (const ev of plan.events) recorder.event(target, ev.type, ev.reason, ev.message);

    if (plan.finished) {
      backoffs.delete(key);
      await mapLimit(plan.removeFinalizers, concurrency, (r) => removeFinalizer(key, namespace, r.name, r.uid));
      await ttlCleanup(key, job);
      rounds++;
      return;
    }
    if (plan.actions.length > 0) log.debug('sync', { job: key, actions: plan.actions.map(describeAction) });

    const ownership: JobAction[] = plan.actions.filter((a) => a.type === 'adoptPod' || a.type === 'releasePod');
    const deletions: JobAction[] = plan.actions.filter((a) => a.type === 'deletePod');
    const creations: JobAction[] = plan.actions.filter((a) => a.type === 'createPod');
    const batches = [ownership, deletions, ...slowStart(creations)].filter((b) => b.length > 0);
    const failures = await carryOutBatches<JobAction, { error?: ActionError; created?: string }>(batches, {
      concurrency,
      signal,
      execute: (a) => execute(key, namespace, a),
      settle: (a, r) => {
        const ev = actionEvent(a, r.error, r.created);
        if (ev) recorder.event(target, ev.type, ev.reason, ev.message);
        return r.error && !(a.type === 'deletePod' && r.error.reason === 'NotFound') ? { action: describeAction(a), error: r.error } : undefined;
      },
    });
    if (signal.aborted) return;
    if (failures.length > 0) {
      rounds++;
      throw new JobRoundError(key, failures);
    }

    let current = job;
    if (plan.needsFlush) {
      current = await putStatus(key, job, plan.status);
      backoffs.set(key, plan.backoff);
    }
    const removed = new Set<string>();
    const rmFailures: { action: string; error: ActionError }[] = [];
    await mapLimit(plan.removeFinalizers, concurrency, async (r) => {
      try {
        await removeFinalizer(key, namespace, r.name, r.uid);
        removed.add(r.uid);
      } catch (e) {
        rmFailures.push({ action: `removeFinalizer ${r.name}`, error: toActionError(e) });
      }
    });
    const result = completeTracking(plan, removed, completionsOf(job));
    if (result.write && !signal.aborted) current = await putStatus(key, current, result.status);
    for (const ev of result.events) recorder.event(target, ev.type, ev.reason, ev.message);
    rounds++;
    if (rmFailures.length > 0) throw new JobRoundError(key, rmFailures);
    if (result.finished) {
      backoffs.delete(key);
      await ttlCleanup(key, current);
    }
    if (plan.requeueAfterMs !== undefined) queue.addAfter(key, plan.requeueAfterMs);
  };

  const reconcile = (key: string): Promise<void> => (key.startsWith(ORPHAN_POD_PREFIX) ? syncOrphanPod(key.slice(ORPHAN_POD_PREFIX.length)) : syncJob(key));

  await base.sync();
  const workers = Math.max(1, opts.workers ?? 5);
  base.run(workers, reconcile, roundRetryLogger(log, 'job'));
  log.info('started', { workers });

  return {
    get rounds() {
      return rounds;
    },
    idle: () => base.idle(),
    stop: () => base.stop(),
  };
}

/** The Job controller for the controller manager. */
export const jobController: ControllerFactory = {
  name: 'job',
  start: (ctx: ControllerContext) => startJobController({ client: ctx.client, logger: ctx.logger, informers: ctx.informers }),
};
