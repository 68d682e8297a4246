// The CronJob controller: the acting layer around the pure algorithm (control.ts). Informers on
// CronJobs and Jobs feed a work queue of cron job keys; reconcile(key):
//   1. waits until the caches show this controller's previous writes for the cron job;
//   2. asks the API about active references whose job is not in the cache (a slow watch must not
//      make a running job look missing);
//   3. runs computeCronJobSync() and records its Events;
//   4. deletes jobs (history, Replace) with Background propagation — a failure ends the round,
//      retried with back-off — then creates the job of the activation due; a job of that name
//      that already exists and is this cron job's joins status.active (the name is the lock
//      against starting one activation twice);
//   5. writes the status when it changed, and requeues the key for the next activation.
// Time comes from the injected clock, so tests move through minutes at once.
import type { KubeObject } from '../../registry/types.ts';
import { isAlreadyExists, isConflict, isNotFound, objectKey, splitApiVersion, type ResourceRef } from '../../client/rest.ts';
import type { Informer } from '../../client/informer.ts';
import type { ControllerContext, ControllerFactory, RunningController } from '../manager.ts';
import { ControllerBase, type ControllerBaseOptions } from '../common/base.ts';
import { WriteExpectations } from '../common/cache-sync.ts';
import { errText, toActionError, RoundFailure, type ActionError } from '../common/errors.ts';
import { JOBS } from '../job/controller.ts';
import { CRONJOB_KIND, actionEvent, computeCronJobSync, statusOf, wireStatus, withCreatedJob, type CronJobAction, type CronJobStatus } from './control.ts';
import { localTimeZone } from '../../util/cron.ts';

export const CRONJOBS: ResourceRef = { group: 'batch', version: 'v1', plural: 'cronjobs', namespaced: true, kind: 'CronJob' };
export { JOBS };

export const CRONJOB_CONTROLLER_COMPONENT = 'cronjob-controller';
export const CRONJOB_USER_AGENT = 'kennel-cronjob-controller';
export const CRONJOB_FIELD_MANAGER = 'kube-controller-manager';

const CACHE_WAIT_MS = 50;

export interface CronJobControllerOptions extends ControllerBaseOptions {
  /** Cron jobs reconciled at once (default 5). */
  workers?: number;
  /** The zone of schedules without spec.timeZone (default: this process's local zone). */
  localZone?: string;
}

export interface CronJobController extends RunningController {
  readonly rounds: number;
  idle(): boolean;
}

export class CronJobRoundError extends RoundFailure {
  constructor(key: string, failures: { action: string; error: ActionError }[]) {
    super('CronJob', key, failures);
    this.name = 'CronJobRoundError';
  }
}

/** The key of the cron job a job's controller reference names (any uid: Kubernetes matches
 *  cron jobs' jobs by name), if any. */
export function cronJobKeyOf(job: KubeObject): string | undefined {
  const ref = (job.metadata.ownerReferences ?? []).find((r) => r.controller === true);
  if (!ref || ref.kind !== CRONJOB_KIND || splitApiVersion(ref.apiVersion).group !== 'batch') return undefined;
  return `${job.metadata.namespace ?? 'default'}/${ref.name}`;
}

export async function startCronJobController(opts: CronJobControllerOptions): Promise<CronJobController> {
  const base = new ControllerBase(opts, {
    component: CRONJOB_CONTROLLER_COMPONENT,
    userAgent: CRONJOB_USER_AGENT,
    fieldManager: CRONJOB_FIELD_MANAGER,
    queueName: 'cronjob',
    stopMessage: 'cronjob controller',
  });
  const { log, clock, client, factory, recorder, queue, signal } = base;
  const localZone = opts.localZone ?? localTimeZone();
  const cronJobs = factory.informer(CRONJOBS);
  const jobs = factory.informer(JOBS);
  const informerOf: Record<string, Informer> = { cronjobs: cronJobs, jobs };
  const expectations = new WriteExpectations(() => clock.now());
  let rounds = 0;

  const enqueueOwner = (j: KubeObject): void => {
    const k = cronJobKeyOf(j);
    if (k) queue.add(k);
  };
  base.handle(
    cronJobs.addEventHandler({
      onAdd: (c) => queue.add(objectKey(c)),
      onUpdate: (_o, c) => queue.add(objectKey(c)),
      onDelete: (c) => queue.add(objectKey(c)),
    }),
    jobs.addEventHandler({
      onAdd: enqueueOwner,
      onUpdate: (o, j) => {
        enqueueOwner(o);
        enqueueOwner(j);
      },
      onDelete: enqueueOwner,
    }),
  );

  const expect = (key: string, plural: string, written: KubeObject | undefined): void => expectations.expect(key, informerOf[plural], written);

  const putStatus = async (key: string, cj: KubeObject, status: CronJobStatus): Promise<void> => {
    const body: KubeObject = {
      apiVersion: 'batch/v1',
      kind: 'CronJob',
      metadata: { name: cj.metadata.name, namespace: cj.metadata.namespace, uid: cj.metadata.uid, resourceVersion: cj.metadata.resourceVersion },
      spec: cj.spec,
      status: wireStatus(status),
    };
    expect(key, 'cronjobs', await client.updateStatus(CRONJOBS, body, { signal }));
  };

  const reconcile = async (key: string): Promise<void> => {
    const cj = cronJobs.getByKey(key);
    if (!cj) {
      expectations.forget(key);
      return;
    }
    if (!expectations.caughtUp(key)) {
      queue.addAfter(key, CACHE_WAIT_MS);
      return;
    }
    const namespace = cj.metadata.namespace ?? 'default';
    const target: KubeObject = cj.kind && cj.apiVersion ? cj : { ...cj, apiVersion: 'batch/v1', kind: 'CronJob' };
    const owned = jobs.listByNamespace(namespace).filter((j) => cronJobKeyOf(j) === key);
    // Active references the cache does not show: ask the API before calling them missing.
    const missing = new Set<string>();
    const cached = new Set(owned.map((j) => j.metadata.uid));
    for (const ref of statusOf(cj).active ?? []) {
      if (cached.has(ref.uid)) continue;
      try {
        await client.get(JOBS, ref.namespace ?? namespace, ref.name ?? '', { signal });
      } catch (e) {
        if (isNotFound(e)) missing.add(ref.uid ?? '');
        else throw e;
      }
    }
    const result = computeCronJobSync({ cronJob: cj, jobs: owned, now: clock.now(), missing, localZone });
    for (const ev of result.events) recorder.event(target, ev.type, ev.reason, ev.message);

    let status = result.status;
    let changed = result.statusChanged;
    const failures: { action: string; error: ActionError }[] = [];
    const deletes = result.actions.filter((a): a is Extract<CronJobAction, { type: 'deleteJob' }> => a.type === 'deleteJob');
    for (const a of deletes) {
      try {
        expect(key, 'jobs', await client.delete(JOBS, namespace, a.name, { signal, propagationPolicy: 'Background', preconditions: a.uid ? { uid: a.uid } : undefined }));
        const ev = actionEvent(a);
        if (ev) recorder.event(target, ev.type, ev.reason, ev.message);
      } catch (e) {
        if (isNotFound(e)) continue;
        const err = toActionError(e);
        const ev = actionEvent(a, err);
        if (ev) recorder.event(target, ev.type, ev.reason, ev.message);
        failures.push({ action: `deleteJob ${a.name}`, error: err });
      }
    }
    if (failures.length > 0) {
      rounds++;
      throw new CronJobRoundError(key, failures);
    }
    let createError: unknown;
    for (const a of result.actions) {
      if (a.type !== 'createJob') continue;
      try {
        const created = await client.create(JOBS, a.object, { signal });
        expect(key, 'jobs', created);
        const ev = actionEvent(a, undefined, created);
        if (ev) recorder.event(target, ev.type, ev.reason, ev.message);
        status = withCreatedJob(status, created, a.scheduledTime);
        changed = true;
      } catch (e) {
        if (!isAlreadyExists(e)) {
          const ev = actionEvent(a, toActionError(e));
          if (ev) recorder.event(target, ev.type, ev.reason, ev.message);
          createError = e;
          continue;
        }
        // Created before (a round whose status write was lost): it is ours if it says so.
        log.info('job already exists', { cronjob: key, job: a.object.metadata.name });
        const existing = await client.get(JOBS, namespace, a.object.metadata.name ?? '', { signal });
        const ref = (existing.metadata.ownerReferences ?? []).find((r) => r.controller === true);
        if (!ref || ref.uid !== cj.metadata.uid) continue;
        if ((status.active ?? []).some((r) => r.uid === existing.metadata.uid)) continue;
        status = withCreatedJob(status, existing, a.scheduledTime);
        changed = true;
      }
    }
    if (changed && !signal.aborted) {
      try {
        await putStatus(key, cj, status);
      } catch (e) {
        if (!isNotFound(e)) throw e;
      }
    }
    rounds++;
    if (createError) throw createError;
    if (result.requeueAfterMs !== undefined) queue.addAfter(key, result.requeueAfterMs);
  };

  await base.sync();
  const workers = Math.max(1, opts.workers ?? 5);
  base.run(workers, reconcile, (key, err, requeues) => {
    if (isConflict(err)) log.debug('sync conflict; retrying', { cronjob: key, error: errText(err), retries: requeues });
    else log.warn('sync failed; retrying', { cronjob: key, error: errText(err), retries: requeues });
  });
  log.info('started', { workers, localZone });

  return {
    get rounds() {
      return rounds;
    },
    idle: () => base.idle(),
    stop: () => base.stop(),
  };
}

/** The CronJob controller for the controller manager. */
export const cronJobController: ControllerFactory = {
  name: 'cronjob',
  start: (ctx: ControllerContext) => startCronJobController({ client: ctx.client, logger: ctx.logger, informers: ctx.informers }),
};
