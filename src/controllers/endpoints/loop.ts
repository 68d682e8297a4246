// The controller loop the Endpoints and EndpointSlice controllers share: informers on Services,
// Pods and the kind the controller writes (all namespaces), a work queue of service keys fed by
// service events, by pod events (through the selector index: only the services that select the
// pod) and by events of the written kind, and workers that reconcile one service at a time.
// There is no batching delay: a pod's Ready flip reaches reconcile as soon as its watch event
// arrives, and reconcile writes only what changed.
import type { KubeObject } from '../../registry/types.ts';
import { ApiStatusError, isConflict, isAlreadyExists, isNotFound, type KubeClient, type ResourceRef } from '../../client/rest.ts';
import type { IndexFunc, Informer } from '../../client/informer.ts';
import type { WorkQueue } from '../../client/workqueue.ts';
import type { Clock } from '../../client/clock.ts';
import type { Logger } from '../../util/log.ts';
import type { Recorder } from '../events.ts';
import type { RunningController } from '../manager.ts';
import { ControllerBase, type ControllerBaseOptions } from '../common/base.ts';
import { errText } from '../common/errors.ts';
import { ServiceSelectorIndex, watchServicesAndPods } from './service-index.ts';
import { ENDPOINTS, ENDPOINT_SLICES, PODS, SERVICES } from '../common/resources.ts';

export { ENDPOINTS, ENDPOINT_SLICES, PODS, SERVICES };
/** The field manager Kubernetes' controllers write with. */
export const CONTROLLER_FIELD_MANAGER = 'kube-controller-manager';

export interface ServiceControllerOptions extends ControllerBaseOptions {
  /** Services reconciled at once (default 4); one service is never reconciled by two workers. */
  workers?: number;
}

export interface ServiceController extends RunningController {
  /** Writes made so far (creates, updates, deletes). */
  readonly writes: number;
  /** Reconciles completed so far. */
  readonly syncs: number;
  /** Nothing queued, waiting or being reconciled. */
  idle(): boolean;
}

export interface LoopContext {
  client: KubeClient;
  services: Informer;
  pods: Informer;
  target: Informer;
  queue: WorkQueue<string>;
  log: Logger;
  recorder: Recorder;
  signal: AbortSignal;
  clock: Clock;
  /** Count one write. */
  wrote(): void;
}

export interface LoopSpec {
  component: string;
  userAgent: string;
  target: ResourceRef;
  targetIndexers?: Record<string, IndexFunc>;
  /** Service keys an event of the written kind concerns (e.g. the service of a deleted slice). */
  targetKeys(obj: KubeObject, event: 'add' | 'update' | 'delete', services: Informer): string[];
  reconcile(ctx: LoopContext, key: string): Promise<void>;
}

export async function startServiceLoop(spec: LoopSpec, opts: ServiceControllerOptions): Promise<ServiceController> {
  const base = new ControllerBase(opts, {
    component: spec.component,
    userAgent: spec.userAgent,
    fieldManager: CONTROLLER_FIELD_MANAGER,
    queueName: spec.component,
    stopMessage: spec.component,
  });
  const { log, clock, client, factory, recorder, queue, signal } = base;

  const services = factory.informer(SERVICES);
  const pods = factory.informer(PODS);
  const target = factory.informer(spec.target);
  // Module-level functions: adding one again to a shared informer is a no-op.
  for (const [name, fn] of Object.entries(spec.targetIndexers ?? {})) target.addIndexer(name, fn);
  const index = new ServiceSelectorIndex();
  const enqueue = (k: string): void => queue.add(k);
  base.handle(
    watchServicesAndPods(services, pods, index, enqueue),
    target.addEventHandler({
      onAdd: (o) => spec.targetKeys(o, 'add', services).forEach(enqueue),
      onUpdate: (_old, o) => spec.targetKeys(o, 'update', services).forEach(enqueue),
      onDelete: (o) => spec.targetKeys(o, 'delete', services).forEach(enqueue),
    }),
  );

  let writes = 0;
  let syncs = 0;
  const ctx: LoopContext = {
    client,
    services,
    pods,
    target,
    queue,
    log,
    recorder,
    signal,
    clock,
    wrote: () => {
      writes++;
    },
  };

  await base.sync();
  const workers = Math.max(1, opts.workers ?? 4);
  base.run(
    workers,
    async (key) => {
      await spec.reconcile(ctx, key);
      syncs++;
    },
    (key, err, requeues) => {
      if (isConflict(err) || isAlreadyExists(err) || isNotFound(err)) log.debug('stale cache; retrying', { service: key, error: errText(err), retries: requeues });
      else log.warn('sync failed; retrying', { service: key, error: errText(err), retries: requeues, reason: err instanceof ApiStatusError ? err.reason : undefined });
    },
  );
  log.info('started', { workers });

  return {
    get writes() {
      return writes;
    },
    get syncs() {
      return syncs;
    },
    idle: () => base.idle(),
    stop: () => base.stop(),
  };
}
