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
}

export async function runSimulatedNodes(o: SimulatedNodesOptions): Promise<void> {
  const { KubeClient } = await import('../../src/client/rest.ts');
  const { startAgent } = await import('../../src/agent/agent.ts');
  const { SimulatedRuntime } = await import('../../src/agent/runtime/simulated.ts');
  const { collectMachineInfo } = await import('../../src/agent/node.ts');
  const { silentLogger } = await import('../../src/util/log.ts');
  const machine = await collectMachineInfo(o.dir);
  const agents: { stop(): Promise<void> }[] = [];
  const clients: KubeClient[] = [];
  const start = async (i: number): Promise<void> => {
    const client = KubeClient.fromKubeconfig(o.kubeconfig, { userAgent: `${o.userAgentPrefix}-${i}` });
    clients.push(client);
    const podCIDR = `10.${o.cidrOctet + (i >> 6)}.${(i & 63) * 4}.0/22`;
    agents.push(
      await startAgent({
        client,
        nodeName: `sim-${i}`,
        runtime: new SimulatedRuntime({ podCIDR }),
        dataDir: join(o.dir, `sim-${i}`),
        logger: silentLogger,
        podCIDR,
        nodeIP: '127.0.0.1',
        events: false,
        machine,
        capacity: { pods: String(o.podsPerNode) },
      }),
    );
  };
  if (o.parallel) await Promise.all(Array.from({ length: o.count }, (_, i) => start(i)));
  else for (let i = 0; i < o.count; i++) await start(i);
  process.send!({ type: 'ready' });
  process.on('message', (m: { type: string }) => {
    if (m.type !== 'stop') return;
    void (async () => {
      await Promise.all(agents.map((a) => a.stop()));
      for (const c of clients) c.close();
      process.exit(0);
    })();
  });
  process.on('disconnect', () => process.exit(0));
}
