// The controller loop the Endpoints and EndpointSlice controllers share: informers on Services,
// Pods and the kind the controller writes (all namespaces), a work queue of service keys fed by
// service events, by pod events (through the selector index: only the services that select the
// pod) and by events of the written kind, and workers that reconcile one service at a time.
// There is no batching delay: a pod's Ready flip reaches reconcile as soon as its watch event
// arrives, and reconcile writes only what changed.
import { setMaxListeners } from 'node:events';
import type { KubeObject } from '../../registry/types.ts';
import { ApiStatusError, KubeClient, isConflict, isAlreadyExists, isNotFound, type ResourceRef } from '../../client/rest.ts';
import { InformerFactory, type IndexFunc, type Informer } from '../../client/informer.ts';
import { WorkQueue } from '../../client/workqueue.ts';
import { realClock, type Clock } from '../../client/clock.ts';
import { createLogger, type Logger } from '../../util/log.ts';
import { EventRecorder, type Recorder } from '../events.ts';
import type { RunningController } from '../manager.ts';
import { ServiceSelectorIndex, watchServicesAndPods } from './service-index.ts';

export const SERVICES: ResourceRef = { group: '', version: 'v1', plural: 'services', namespaced: true, kind: 'Service' };
export const PODS: ResourceRef = { group: '', version: 'v1', plural: 'pods', namespaced: true, kind: 'Pod' };
export const ENDPOINTS: ResourceRef = { group: '', version: 'v1', plural: 'endpoints', namespaced: true, kind: 'Endpoints' };
export const ENDPOINT_SLICES: ResourceRef = { group: 'discovery.k8s.io', version: 'v1', plural: 'endpointslices', namespaced: true, kind: 'EndpointSlice' };
/** The field manager Kubernetes' controllers write with. */
export const CONTROLLER_FIELD_MANAGER = 'kube-controller-manager';

export interface ServiceControllerOptions {
  /** A client of the API server; the controller makes its own from its config. */
  client: KubeClient;
  logger?: Logger;
  /** Share informers with the process's other controllers (started here, not stopped). */
  informers?: InformerFactory;
  /** Services reconciled at once (default 4); one service is never reconciled by two workers. */
  workers?: number;
  /** Where events go (default: core/v1 Events from the controller's component). */
  recorder?: Recorder;
  /** source.host / reportingInstance of the default recorder. */
  identity?: string;
  /** Fail start() when the caches have not synced within this long (default: wait). */
  syncTimeoutMs?: number;
  clock?: Clock;
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

function errText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

export async function startServiceLoop(spec: LoopSpec, opts: ServiceControllerOptions): Promise<ServiceController> {
  const log = opts.logger ?? createLogger(spec.component);
  const clock = opts.clock ?? realClock;
  const client = new KubeClient(opts.client.config, { userAgent: spec.userAgent, fieldManager: CONTROLLER_FIELD_MANAGER });
  const ownFactory = !opts.informers;
  const factory = opts.informers ?? new InformerFactory(client, { clock, logger: log });
  const ownRecorder = !opts.recorder;
  const recorder = opts.recorder ?? new EventRecorder({ client, component: spec.component, host: opts.identity, logger: log, clock });
  const abort = new AbortController();
  setMaxListeners(0, abort.signal);
  const queue = new WorkQueue<string>({ name: spec.component, clock, logger: log });

  const services = factory.informer(SERVICES);
  const pods = factory.informer(PODS);
  const target = factory.informer(spec.target);
  for (const [name, fn] of Object.entries(spec.targetIndexers ?? {})) {
    try {
      target.addIndexer(name, fn);
    } catch {
      // a shared informer may already carry it
    }
  }
  const index = new ServiceSelectorIndex();
  const enqueue = (k: string): void => queue.add(k);
  const unregister: (() => void)[] = [watchServicesAndPods(services, pods, index, enqueue)];
  unregister.push(
    target.addEventHandler({
      onAdd: (o) => spec.targetKeys(o, 'add', services).forEach(enqueue),
      onUpdate: (_old, o) => spec.targetKeys(o, 'update', services).forEach(enqueue),
      onDelete: (o) => spec.targetKeys(o, 'delete', services).forEach(enqueue),
    }),
  );

  let writes = 0;
  let syncs = 0;
  let inFlight = 0;
  const ctx: LoopContext = {
    client,
    services,
    pods,
    target,
    queue,
    log,
    recorder,
    signal: abort.signal,
    clock,
    wrote: () => {
      writes++;
    },
  };

  factory.start();
  try {
    await factory.waitForSync({ timeoutMs: opts.syncTimeoutMs, signal: abort.signal });
  } catch (e) {
    for (const u of unregister) u();
    if (ownFactory) await factory.stop();
    client.close();
    throw e;
  }
  const workers = Math.max(1, opts.workers ?? 4);
  const workersDone = queue.runWorkers(
    workers,
    async (key) => {
      inFlight++;
      try {
        await spec.reconcile(ctx, key);
        syncs++;
      } finally {
        inFlight--;
      }
    },
    {
      onError: (key, err, requeues) => {
        if (abort.signal.aborted) return;
        if (isConflict(err) || isAlreadyExists(err) || isNotFound(err)) log.debug('stale cache; retrying', { service: key, error: errText(err), retries: requeues });
        else log.warn('sync failed; retrying', { service: key, error: errText(err), retries: requeues, reason: err instanceof ApiStatusError ? err.reason : undefined });
      },
    },
  );
  log.info('started', { workers });

  let stopped: Promise<void> | undefined;
  return {
    get writes() {
      return writes;
    },
    get syncs() {
      return syncs;
    },
    idle: () => inFlight === 0 && queue.len() === 0 && queue.delayed() === 0,
    stop(): Promise<void> {
      stopped ??= (async () => {
        for (const u of unregister) u();
        queue.shutDown();
        abort.abort(new Error(`${spec.component} stopped`));
        await workersDone;
        if (ownRecorder && recorder instanceof EventRecorder) await recorder.stop();
        if (ownFactory) await factory.stop();
        client.close();
        log.info('stopped');
      })();
      return stopped;
    },
  };
}
