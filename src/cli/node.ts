// The node part of `kennel up` (the local machine as a node) and of `kennel agent`: choose and
// start a runtime, then the node agent as an API client with the node's own credentials.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { Logger } from '../util/log.ts';
import type { Runtime } from '../agent/runtime/types.ts';
import type { KubeClient } from '../client/rest.ts';
import type { RuntimeKind } from './args.ts';
import type { Taint } from '../agent/node.ts';

export interface NodeComponents {
  runtime: Runtime;
  stop(): Promise<void>;
}

function has(cmd: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** `auto`: containerd when running as root with containerd and runc installed, else process. */
export function chooseRuntime(kind: RuntimeKind): 'containerd' | 'process' | 'simulated' {
  if (kind !== 'auto') return kind;
  const root = typeof process.getuid === 'function' && process.getuid() === 0;
  return root && has('containerd') && has('runc') ? 'containerd' : 'process';
}

export async function startRuntime(kind: 'containerd' | 'process' | 'simulated', dataDir: string, podCIDR: string, log: Logger): Promise<NodeComponents> {
  switch (kind) {
    case 'simulated': {
      const { SimulatedRuntime } = await import('../agent/runtime/simulated.ts');
      const runtime = new SimulatedRuntime({ podCIDR });
      return { runtime, stop: () => runtime.close() };
    }
    case 'process': {
      const { ProcessRuntime } = await import('../agent/runtime/process.ts');
      const runtime = new ProcessRuntime({ dataDir, logger: log });
      return { runtime, stop: () => runtime.close() };
    }
    case 'containerd': {
      // The bridge exists (with its gateway address) before the first pod, so the cluster DNS
      // can listen on the gateway from the start; the CNI bridge plugin adopts it.
      ensureBridge(BRIDGE, gatewayOf(podCIDR), log);
      const { startContainerdRuntime } = await import('../agent/runtime/cri.ts');
      const { runtime, containerd } = await startContainerdRuntime({ dataDir, podCIDR, logger: log });
      // containerd keeps running when kennel stops, so pods survive a kennel restart; the next
      // start adopts both. The tools image (peer-finder, wait-for) is built and imported in the
      // background: pods can use kennel.local/tools:1 with imagePullPolicy IfNotPresent.
      void importToolsImage(containerd.socket, dataDir, log);
      return { runtime, stop: () => runtime.close() };
    }
  }
}

const BRIDGE = 'kennel0';

/** The first address of a pod CIDR (the bridge's gateway), e.g. 10.244.0.1. */
export function gatewayOf(podCIDR: string): string {
  const [ip] = podCIDR.split('/');
  const o = ip.split('.').map(Number);
  o[3] = (o[3] ?? 0) + 1;
  return o.join('.');
}

function ensureBridge(name: string, gateway: string, log: Logger): void {
  const ip = (...args: string[]) => execFileSync('ip', args, { stdio: 'ignore' });
  try {
    try {
      ip('link', 'show', name);
    } catch {
      ip('link', 'add', name, 'type', 'bridge');
    }
    try {
      ip('addr', 'add', `${gateway}/24`, 'dev', name);
    } catch {
      // already there
    }
    ip('link', 'set', name, 'up');
  } catch (e) {
    log.warn('could not prepare the pod bridge; the cluster DNS will wait for it', { bridge: name, error: String(e) });
  }
}

async function importToolsImage(socket: string, dataDir: string, log: Logger): Promise<void> {
  try {
    const { TOOLS_IMAGE } = await import('../tools/bundle.ts');
    const { buildToolsImageInChild, importImage } = await import('../agent/runtime/images.ts');
    // Built once per node binary: a later start reuses the archive. In a child process at low
    // priority: compressing the node binary would otherwise stall this agent's event loop for
    // a second or two and raise its memory peak.
    const tar = join(dataDir, `tools-image-node${process.version}.tar`);
    if (!existsSync(tar)) await buildToolsImageInChild(tar);
    await importImage(socket, tar);
    log.info('tools image imported', { image: TOOLS_IMAGE });
  } catch (e) {
    log.warn('could not build the tools image (peer-finder, wait-for)', { error: String(e) });
  }
}

/** Where pods of this runtime find the cluster DNS. */
export function clusterDnsAddress(kind: 'containerd' | 'process' | 'simulated', podCIDR: string): string {
  return kind === 'containerd' ? gatewayOf(podCIDR) : '127.0.0.10';
}

export interface LocalNodeOptions {
  client: KubeClient;
  /** For the pods' requests (see AgentOptions.requestClient of src/agent/agent.ts); default: client. */
  requestClient?: KubeClient;
  nodeName?: string;
  runtime: RuntimeKind;
  dataDir: string;
  podCIDR?: string;
  nodeIP?: string;
  clusterDNS?: string;
  labels?: Record<string, string>;
  taints?: Taint[];
  logger: Logger;
  /** The cluster CA: signs the agent's serving certificate (key: `kennel up`) and verifies the API server's client certificate. */
  ca: { certPem: string; keyPem?: string };
  /**
   * The serving certificate of the agent's HTTPS endpoint, signed at the join (`kennel agent`).
   * Without it one is made here: signed by ca.keyPem when given, else self-signed.
   */
  serving?: { cert: string; key: string };
  /** Port of the agent's HTTPS endpoint (logs, exec, attach); 0 picks a free one. */
  kubeletPort?: number;
  /** The node Lease's duration (default 40 s). */
  leaseDurationSeconds?: number;
}

export async function startNode(opts: LocalNodeOptions): Promise<{ nodeName: string; runtime: 'containerd' | 'process' | 'simulated'; stop(): Promise<void> }> {
  const kind = chooseRuntime(opts.runtime);
  const podCIDR = opts.podCIDR ?? '10.244.0.0/24';
  const nodeName = (opts.nodeName ?? hostname()).toLowerCase();
  const agentDir = join(opts.dataDir, 'agent');
  const rt = await startRuntime(kind, agentDir, podCIDR, opts.logger.child('runtime'));
  const { startAgent } = await import('../agent/agent.ts');
  const { startAgentServer, containerFinder } = await import('../agent/server.ts');
  // The endpoint the API server proxies logs, exec and attach to. Its port goes into the Node.
  type AgentHandle = Awaited<ReturnType<typeof startAgent>>;
  let agent: AgentHandle | undefined;
  // Made here (node-forge, loaded only then) when the join brought none.
  const serving =
    opts.serving ??
    (await (await import('../agent/server-certs.ts')).agentServingCertificate(nodeName, opts.nodeIP ? [opts.nodeIP] : [], opts.ca.keyPem ? { certPem: opts.ca.certPem, keyPem: opts.ca.keyPem } : undefined));
  const endpoint = await startAgentServer({
    runtime: rt.runtime,
    port: opts.kubeletPort ?? 0,
    bind: '0.0.0.0',
    tls: { cert: serving.cert, key: serving.key, ca: opts.ca.certPem },
    findContainer: containerFinder({ findContainer: (ns, pod, container, previous) => (agent ? agent.findContainer(ns, pod, container, previous) : Promise.resolve(undefined)) }),
    logger: opts.logger.child('endpoint'),
  });
  try {
    agent = await startAgent({
      kubeletPort: endpoint.port,
      client: opts.client,
      requestClient: opts.requestClient,
      nodeName,
      runtime: rt.runtime,
      dataDir: agentDir,
      logger: opts.logger,
      podCIDR,
      nodeIP: opts.nodeIP,
      clusterDNS: opts.clusterDNS ?? clusterDnsAddress(kind, podCIDR),
      labels: opts.labels,
      taints: opts.taints,
      leaseDurationSeconds: opts.leaseDurationSeconds,
    });
  } catch (e) {
    await endpoint.close();
    await rt.stop();
    throw e;
  }
  const started = agent;
  return {
    nodeName,
    runtime: kind,
    async stop() {
      await started.stop();
      await endpoint.close();
      await rt.stop();
    },
  };
}
