// The controller manager: runs a set of controllers, each an API client, while this process
// holds the `kennel-controller-manager` Lease. Several `kennel server` processes on one etcd
// thus run each controller exactly once; a new leader starts them when the old one goes.
import { LeaderElector } from '../client/leaderelection.ts';
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
}

export interface ControllerFactory {
  name: string;
  start(ctx: ControllerContext): Promise<RunningController>;
}

export interface ManagerOptions extends ControllerContext {
  identity: string;
  controllers: ControllerFactory[];
  /** Lease name (one per group of controllers run together). */
  leaseName?: string;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
}

export async function startControllerManager(opts: ManagerOptions): Promise<{ stop(): Promise<void>; isLeader(): boolean }> {
  const log = opts.logger;
  let running: { name: string; c: RunningController }[] = [];
  const stopAll = async () => {
    const rs = running.reverse();
    running = [];
    for (const r of rs) {
      try {
        await r.c.stop();
      } catch (e) {
        log.error('controller stop failed', { controller: r.name, error: String(e) });
      }
    }
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
    onStartedLeading: async () => {
      log.info('became leader; starting controllers', { identity: opts.identity, controllers: opts.controllers.map((c) => c.name) });
      for (const f of opts.controllers) {
        try {
          const c = await f.start({ client: opts.client, registry: opts.registry, logger: log.child(f.name) });
          running.push({ name: f.name, c });
        } catch (e) {
          log.error('controller failed to start', { controller: f.name, error: String(e) });
        }
      }
    },
    onStoppedLeading: () => {
      log.warn('lost leadership; stopping controllers', { identity: opts.identity });
      void stopAll();
    },
  });
  elector.start();
  return {
    isLeader: () => elector.isLeader(),
    async stop() {
      await stopAll();
      await elector.stop();
    },
  };
}
