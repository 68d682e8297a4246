// The body of a benchmark's child process that hosts many simulated nodes: one node agent per
// node, each on the simulated runtime, all against the kubeconfig's server. It tells its parent
// `ready`, and stops every agent on `stop` (or when the parent goes away).
import { join } from 'node:path';
import type { KubeClient } from '../../src/client/rest.ts';

export interface SimulatedNodesOptions {
  kubeconfig: string;
  count: number;
  podsPerNode: number;
  dir: string;
  /** Second octet of the nodes' pod CIDRs (10.<octet>.x.0/22), so benchmarks do not overlap. */
  cidrOctet: number;
  userAgentPrefix: string;
  /** Start the agents all at once (else one after another). */
  parallel: boolean;
  /** Number of the first node (sim-<firstIndex> …), when several processes host nodes. */
  firstIndex?: number;
  /** Start this many agents at a time (overrides parallel). */
  startConcurrency?: number;
  /** Log the agents at this level to stderr (default: silent). */
  logLevel?: 'debug' | 'info' | 'warn' | 'error';
}

/** What a nodes process answers to {type:'stats'}: its agents' self-fencing. */
export interface SimulatedNodesStats {
  type: 'stats';
  agents: number;
  /** Times an agent fenced itself (could not renew its lease in time). */
  fences: number;
  /** Agents fenced right now. */
  fenced: number;
  /** The process's event-loop delay since it was ready (a busy loop delays lease renewals). */
  eventLoopDelayMs: { p50: number; p99: number; max: number };
}

export async function runSimulatedNodes(o: SimulatedNodesOptions): Promise<void> {
  const { KubeClient } = await import('../../src/client/rest.ts');
  const { startAgent } = await import('../../src/agent/agent.ts');
  const { SimulatedRuntime } = await import('../../src/agent/runtime/simulated.ts');
  const { collectMachineInfo } = await import('../../src/agent/node.ts');
  const { silentLogger, createLogger } = await import('../../src/util/log.ts');
  const machine = await collectMachineInfo(o.dir);
  const agents: { stop(): Promise<void>; fence(): { state: string; fences: number } | undefined }[] = [];
  const clients: KubeClient[] = [];
  const start = async (j: number): Promise<void> => {
    const i = j + (o.firstIndex ?? 0);
    const client = KubeClient.fromKubeconfig(o.kubeconfig, { userAgent: `${o.userAgentPrefix}-${i}` });
    clients.push(client);
    const podCIDR = `10.${o.cidrOctet + (i >> 6)}.${(i & 63) * 4}.0/22`;
    agents.push(
      await startAgent({
        client,
        nodeName: `sim-${i}`,
        runtime: new SimulatedRuntime({ podCIDR }),
        dataDir: join(o.dir, `sim-${i}`),
        logger: o.logLevel ? createLogger(`sim-${i}`, { level: o.logLevel }) : silentLogger,
        podCIDR,
        nodeIP: '127.0.0.1',
        events: false,
        machine,
        capacity: { pods: String(o.podsPerNode) },
      }),
    );
  };
  if (o.startConcurrency !== undefined) {
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < o.count) await start(next++);
    };
    await Promise.all(Array.from({ length: Math.max(1, o.startConcurrency) }, worker));
  } else if (o.parallel) await Promise.all(Array.from({ length: o.count }, (_, i) => start(i)));
  else for (let i = 0; i < o.count; i++) await start(i);
  const { monitorEventLoopDelay } = await import('node:perf_hooks');
  const loopDelay = monitorEventLoopDelay({ resolution: 10 });
  loopDelay.enable();
  process.send!({ type: 'ready' });
  process.on('message', (m: { type: string }) => {
    if (m.type === 'stats') {
      const ms = (ns: number): number => Math.round(ns / 1e5) / 10;
      const fences = agents.map((a) => a.fence());
      const stats: SimulatedNodesStats = {
        type: 'stats',
        agents: agents.length,
        fences: fences.reduce((n, f) => n + (f?.fences ?? 0), 0),
        fenced: fences.filter((f) => f && f.state !== 'open').length,
        eventLoopDelayMs: { p50: ms(loopDelay.percentile(50)), p99: ms(loopDelay.percentile(99)), max: ms(loopDelay.max) },
      };
      process.send!(stats);
      return;
    }
    if (m.type !== 'stop') return;
    void (async () => {
      await Promise.all(agents.map((a) => a.stop()));
      for (const c of clients) c.close();
      process.exit(0);
    })();
  });
  process.on('disconnect', () => process.exit(0));
}
