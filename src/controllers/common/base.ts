// The plumbing every controller's acting layer shares: its own API client (user agent, field
// manager), the informer factory (the process's shared one, or its own), the event recorder
// (given, or core/v1 Events from the controller's component), an abort signal every request
// listens on, the work queue with its workers, start-up (start the informers, wait for their
// caches, release everything when that fails), idle(), and an orderly stop().
import { setMaxListeners } from 'node:events';
import { KubeClient, isAlreadyExists, isConflict } from '../../client/rest.ts';
import { RoundFailure, errText } from './errors.ts';
import { InformerFactory, reportCacheMutation, type InformerSource } from '../../client/informer.ts';
import { WorkQueue } from '../../client/workqueue.ts';
import { realClock, type Clock } from '../../client/clock.ts';
import { EventRecorder, type Recorder } from '../../client/events.ts';
import { createLogger, type Logger } from '../../util/log.ts';

/** The options every controller takes. */
export interface ControllerBaseOptions {
  /** A client of the API server; the controller makes its own from its config. */
  client: KubeClient;
  logger?: Logger;
  /** Share informers with the process's other controllers: started here (idempotent), only
   *  this controller's informers waited for, never stopped here (the owner stops it). */
  informers?: InformerFactory;
  /** Where events go (default: core/v1 Events from the controller's component). */
  recorder?: Recorder;
  /** source.host / reportingInstance of the default recorder. */
  identity?: string;
  /** Fail start() when the caches have not synced within this long (default: wait). */
  syncTimeoutMs?: number;
  clock?: Clock;
}

export interface ControllerSpec {
  /** Events' source component, and the logger's name unless logName says otherwise. */
  component: string;
  logName?: string;
  userAgent: string;
  fieldManager: string;
  /** The work queue's name (metrics, logs). */
  queueName: string;
  /** What stop() aborts requests in flight with: `<stopMessage> stopped`. */
  stopMessage: string;
}

export type RetryLogger = (key: string, err: unknown, requeues: number) => void;

/**
 * The retry logger of a controller whose rounds fail with a RoundFailure: a create that met a
 * stale cache, or a write conflict, is expected (debug); anything else is a warning. `field`
 * names the key in the log line (e.g. `statefulset`); with `conflictRounds`, a round whose every
 * failure is a Conflict counts as a conflict too.
 */
export function roundRetryLogger(log: Logger, field: string, opts: { conflictRounds?: boolean } = {}): RetryLogger {
  return (key, err, requeues) => {
    if (err instanceof RoundFailure && err.onlyStaleCache) log.debug('objects already exist; retrying once the cache has them', { [field]: key, retries: requeues });
    else if (isAlreadyExists(err) || isConflict(err) || (opts.conflictRounds && err instanceof RoundFailure && err.failures.every((f) => f.error.reason === 'Conflict'))) {
      log.debug('sync conflict; retrying', { [field]: key, error: errText(err), retries: requeues });
    } else log.warn('sync failed; retrying', { [field]: key, error: errText(err), retries: requeues });
  };
}

export interface StopHooks {
  /** Before anything else stops (e.g. clear a resync timer). */
  first?: () => void;
  /** Once the workers have returned. */
  afterWorkers?: () => void;
}

export class ControllerBase {
  readonly log: Logger;
  readonly clock: Clock;
  readonly client: KubeClient;
  /** The shared factory seen through scoped(), or the controller's own. */
  readonly factory: InformerSource;
  readonly recorder: Recorder;
  readonly queue: WorkQueue<string>;
  readonly signal: AbortSignal;
  private readonly abort = new AbortController();
  private readonly ownFactory: boolean;
  private readonly ownRecorder: EventRecorder | undefined;
  private readonly unregister: (() => void)[] = [];
  private readonly syncTimeoutMs?: number;
  private readonly stopMessage: string;
  private workersDone: Promise<void> = Promise.resolve();
  private inFlight = 0;
  private stopped?: Promise<void>;

  constructor(opts: ControllerBaseOptions, spec: ControllerSpec) {
    this.log = opts.logger ?? createLogger(spec.logName ?? spec.component);
    this.clock = opts.clock ?? realClock;
    this.client = opts.client.derive({ userAgent: spec.userAgent, fieldManager: spec.fieldManager });
    this.ownFactory = !opts.informers;
    this.factory = opts.informers ? opts.informers.scoped() : new InformerFactory(this.client, { clock: this.clock, logger: this.log });
    const clock = this.clock;
    this.ownRecorder = opts.recorder ? undefined : new EventRecorder({ client: this.client, component: spec.component, host: opts.identity, logger: this.log, now: () => clock.now() });
    this.recorder = opts.recorder ?? (this.ownRecorder as EventRecorder);
    this.signal = this.abort.signal;
    // Every request in flight listens on it (a wave may hold many of them).
    setMaxListeners(0, this.signal);
    this.queue = new WorkQueue<string>({ name: spec.queueName, clock: this.clock, logger: this.log });
    this.syncTimeoutMs = opts.syncTimeoutMs;
    this.stopMessage = `${spec.stopMessage} stopped`;
  }

  /** Keep event-handler registrations; stop() (or a failed start) removes them. */
  handle(...unregister: (() => void)[]): void {
    this.unregister.push(...unregister);
  }

  /** Start the informers and wait for their caches; on failure release everything and throw. */
  async sync(): Promise<void> {
    this.factory.start();
    try {
      await this.factory.waitForSync({ timeoutMs: this.syncTimeoutMs, signal: this.signal });
    } catch (e) {
      for (const u of this.unregister) u();
      this.abort.abort(e);
      if (this.ownFactory) await this.factory.stop();
      this.client.close();
      throw e;
    }
  }

  /** Run `workers` workers over the queue; a failed key (not while stopping) goes to onError
   *  and is retried with rate-limited backoff. */
  run(workers: number, reconcile: (key: string) => Promise<void>, onError: RetryLogger): void {
    this.workersDone = this.queue.runWorkers(
      Math.max(1, workers),
      async (key) => {
        this.inFlight++;
        try {
          await reconcile(key);
        } finally {
          this.inFlight--;
        }
      },
      {
        onError: (key, err, requeues) => {
          reportCacheMutation(`${this.queue.name} ${key}`, err);
          if (!this.signal.aborted) onError(key, err, requeues);
        },
      },
    );
  }

  /** Nothing queued, waiting (requeues, backoff) or being reconciled. */
  idle(): boolean {
    return this.inFlight === 0 && this.queue.len() === 0 && this.queue.delayed() === 0;
  }

  /** Stop handlers, queue and requests in flight; wait for the workers; then flush the own
   *  recorder and stop the own informers and the client. Idempotent. */
  stop(hooks: StopHooks = {}): Promise<void> {
    this.stopped ??= (async () => {
      hooks.first?.();
      for (const u of this.unregister) u();
      this.queue.shutDown();
      this.abort.abort(new Error(this.stopMessage));
      await this.workersDone;
      hooks.afterWorkers?.();
      if (this.ownRecorder) await this.ownRecorder.stop();
      if (this.ownFactory) await this.factory.stop();
      this.client.close();
      this.log.info('stopped');
    })();
    return this.stopped;
  }
}
