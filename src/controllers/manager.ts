// The controller manager: runs a set of controllers, each an API client, while this process
// holds the `kennel-controller-manager` Lease. Several `kennel server` processes on one etcd
// thus run each controller exactly once; a new leader starts them when the old one goes.
//
// Informers: every controller of a term shares one InformerFactory (ctx.informers: one
// list+watch and one cache per resource for all of them, as kube-controller-manager's
// SharedInformerFactory). Either the process's (opts.informers: its owner, e.g. `kennel
// server`, also gives it to the scheduler and stops it; caches stay warm across terms and a
// new term's controllers get the cached objects replayed as adds), or, without one, a factory
// the manager makes per leadership term and stops once the term's controllers have stopped (a
// new term starts with fresh caches).
import { LeaderElector } from '../client/leaderelection.ts';
import { InformerFactory } from '../client/informer.ts';
import type { KubeClient } from '../client/rest.ts';
import type { Registry } from '../registry/index.ts';
import type { Logger } from '../util/log.ts';

export interface RunningController {
  stop(): Promise<void>;
}

export interface ControllerContext {
  client: KubeClient;
  registry: Registry;
  logger: Logger;
  /** Shared by every controller of the term: start it (idempotent), never stop it, never
   *  mutate what its caches return (copy first). */
  informers: InformerFactory;
}

export interface ControllerFactory {
  name: string;
  start(ctx: ControllerContext): Promise<RunningController>;
}

export interface ManagerOptions extends Omit<ControllerContext, 'informers'> {
  identity: string;
  controllers: ControllerFactory[];
  /** The process's factory, shared by every term (not stopped here). Default: one per term. */
  informers?: InformerFactory;
  /** Lease name (one per group of controllers run together). */
  leaseName?: string;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
}

interface Term {
  informers: InformerFactory;
  ownInformers: boolean;
  running: { name: string; c: RunningController }[];
  ended: boolean;
}

export async function startControllerManager(opts: ManagerOptions): Promise<{ stop(): Promise<void>; isLeader(): boolean }> {
  const log = opts.logger;
  let term: Term | null = null;
  let stopping: Promise<void> = Promise.resolve();
  /** Stop the term's controllers (last started first), then its own factory. */
  const endTerm = async (t: Term): Promise<void> => {
    t.ended = true;
    const rs = t.running.reverse();
    t.running = [];
    for (const r of rs) {
      try {
        await r.c.stop();
      } catch (e) {
        log.error('controller stop failed', { controller: r.name, error: String(e) });
      }
    }
    if (t.ownInformers) await t.informers.stop();
  };
  const stopTerm = (): Promise<void> => {
    const t = term;
    term = null;
    if (t) stopping = stopping.then(() => endTerm(t));
    return stopping;
  };
  const elector = new LeaderElector({
    client: opts.client,
    name: opts.leaseName ?? 'kennel-controller-manager',
    namespace: 'kube-system',
    identity: opts.identity,
    leaseDurationMs: opts.leaseDurationMs ?? 15000,
    renewDeadlineMs: opts.renewDeadlineMs ?? 10000,
    retryPeriodMs: opts.retryPeriodMs ?? 2000,
    logger: log,
    onStartedLeading: async (signal) => {
      log.info('became leader; starting controllers', { identity: opts.identity, controllers: opts.controllers.map((c) => c.name) });
      // The previous term's controllers (and its factory) are gone first.
      await stopping;
      if (signal.aborted) return;
      const informers = opts.informers ?? new InformerFactory(opts.client, { logger: log.child('informers') });
      const t: Term = { informers, ownInformers: !opts.informers, running: [], ended: false };
      term = t;
      for (const f of opts.controllers) {
        if (t.ended) break;
        try {
          const c = await f.start({ client: opts.client, registry: opts.registry, logger: log.child(f.name), informers });
          // The term ended while this one was starting: stop it at once.
          if (t.ended) await c.stop();
          else t.running.push({ name: f.name, c });
        } catch (e) {
          if (!t.ended) log.error('controller failed to start', { controller: f.name, error: String(e) });
        }
      }
    },
    onStoppedLeading: () => {
      log.warn('lost leadership; stopping controllers', { identity: opts.identity });
      void stopTerm();
    },
  });
  elector.start();
  return {
    isLeader: () => elector.isLeader(),
    async stop() {
      await stopTerm();
      await elector.stop();
      // onStoppedLeading may have queued the end of the term.
      await stopping;
    },
  };
}
