// `kennel agent`: joins this machine to a cluster as a node and runs the node stack there until
// SIGINT/SIGTERM.
//
//  1. Join (join.ts): check the server's CA against the join token, trade the token's secret and
//     this machine's node identity (<data-dir>/node/identity) for a node credential (user
//     system:node:<name>, restricted by the server's node authorizer) and a pod CIDR. The
//     credential, the CA and a kubeconfig for it are kept in <data-dir>/node/.
//  2. The node, as `kennel up` runs its local node (node.ts): the runtime, the Node with
//     --labels/--taints/--node-ip, its Lease, the pod workers, the HTTPS endpoint the API server
//     proxies logs/exec/attach to (its certificate signed by the cluster CA at the join, for a
//     key made here; self-signed when the server signed none; it accepts only the API server's
//     client certificate, signed by the cluster CA), and the service proxy.
//  3. Cluster DNS for this node's pods: a node-local cluster DNS server (the same server
//     `kennel up` runs, an API client reading services, endpoints and pods with the node's
//     credential) on the node's cluster-DNS address — the bridge gateway for containerd pods,
//     127.0.0.10 for process pods, port 53 (root only). Pods' resolv.conf names that address, so
//     they resolve cluster names without a route to the server machine's DNS. When the address
//     is already served on this machine (the server's own DNS, for an agent beside `kennel up`)
//     the agent uses that one. The simulated runtime needs none.
import { existsSync, promises as fs } from 'node:fs';
import { join } from 'node:path';
import { getHeapStatistics } from 'node:v8';
import type { AgentOptions } from './args.ts';
import { JoinError, joinCluster } from './join.ts';
import { createLogger, type Logger } from '../util/log.ts';

export interface AgentDeps {
  logger: Logger;
  /** Resolves when the agent should stop (default: the first SIGINT or SIGTERM). */
  stopSignal: Promise<string>;
  /** Called once the node runs (tests). */
  onReady: (info: { nodeName: string; podCIDR: string; kubeconfig: string }) => void;
}

function signalPromise(log: Logger): { promise: Promise<string>; dispose(): void } {
  let resolveFn: (s: string) => void = () => {};
  const promise = new Promise<string>((r) => (resolveFn = r));
  let count = 0;
  const on = (signal: NodeJS.Signals) => {
    count++;
    if (count > 1) {
      log.warn('second signal, exiting without waiting', { signal });
      process.exit(1);
    }
    resolveFn(signal);
  };
  process.on('SIGINT', on);
  process.on('SIGTERM', on);
  return {
    promise,
    dispose() {
      process.off('SIGINT', on);
      process.off('SIGTERM', on);
    },
  };
}

/** Runs the agent until it stops; resolves to the process exit code. */
export async function runAgent(opts: AgentOptions, print: (line: string) => void = (l) => process.stderr.write(l + '\n'), deps: Partial<AgentDeps> = {}): Promise<number> {
  const log = deps.logger ?? createLogger('kennel-agent');
  const signals = deps.stopSignal ? undefined : signalPromise(log);
  const stopSignal = deps.stopSignal ?? signals!.promise;
  const abort = new AbortController();
  void stopSignal.then(() => abort.abort());
  const stops: { name: string; stop: () => Promise<void> }[] = [];
  const stopAll = async (quiet = false) => {
    for (const c of stops.reverse()) {
      try {
        await c.stop();
        if (!quiet) log.child(c.name).info('stopped');
      } catch (e) {
        log.child(c.name).error('stop failed', { error: (e as Error).message });
      }
    }
  };
  try {
    // 0. The data dir is this agent's alone.
    await claimDataDir(opts.dataDir, stops);
    // 1. Join.
    const joined = await joinCluster({
      server: opts.server,
      caHash: opts.caHash,
      secret: opts.secret,
      nodeName: opts.nodeName,
      stateDir: join(opts.dataDir, 'node'),
      ...(opts.nodeIP ? { servingIPs: [opts.nodeIP] } : {}),
      signal: abort.signal,
      logger: log.child('join'),
    });
    log.info(joined.rejoined ? 'joined the cluster again' : 'joined the cluster', { server: opts.server, node: joined.nodeName, podCIDR: joined.podCIDR });
    if (abort.signal.aborted) {
      await stopAll(true);
      return 0;
    }

    // 2. The node.
    const { KubeClient } = await import('../client/rest.ts');
    const config = { server: opts.server, ca: joined.caPem, token: joined.token };
    const clientOpts = { userAgent: `kennel-agent/${joined.nodeName}`, fieldManager: 'kennel-agent', fieldValidation: 'Ignore' as const };
    // Watches and the node's heartbeats; and, apart, the pods' requests on a few pooled
    // connections: a burst of pod starts queues briefly instead of leaving dozens of idle TLS
    // connections in the agent's memory (see AgentOptions.requestClient).
    const client = new KubeClient(config, clientOpts);
    const requestClient = new KubeClient(config, { ...clientOpts, maxSockets: POD_REQUEST_SOCKETS });
    stops.push({
      name: 'client',
      stop: async () => {
        requestClient.close();
        client.close();
      },
    });
    const { startNode, clusterDnsAddress } = await import('./node.ts');
    const node = await startNode({
      client,
      requestClient,
      nodeName: joined.nodeName,
      runtime: opts.runtime,
      dataDir: opts.dataDir,
      podCIDR: joined.podCIDR,
      nodeIP: opts.nodeIP,
      labels: opts.labels,
      taints: opts.taints,
      leaseDurationSeconds: opts.leaseDurationSeconds,
      logger: log.child('agent'),
      ca: { certPem: joined.caPem },
      serving: joined.serving,
    });
    if (!joined.serving) log.info('the server signed no serving certificate for this node; its HTTPS endpoint uses a self-signed one');
    stops.push({ name: 'node', stop: () => node.stop() });
    const trimmer = startHeapTrimmer();
    stops.push({ name: 'heap-trimmer', stop: async () => trimmer.stop() });

    // 3. Node-local cluster DNS (see the header).
    const root = typeof process.getuid === 'function' && process.getuid() === 0;
    if (node.runtime !== 'simulated') {
      const host = clusterDnsAddress(node.runtime, joined.podCIDR);
      if (!root) {
        log.warn('not root: no node-local cluster DNS on port 53; pods use the cluster DNS only if something serves it on this machine', { address: host });
      } else {
        const { startDnsServer } = await import('../dns/server.ts');
        try {
          const dns = await startDnsServer({ client, listen: [{ host, port: 53 }], logger: log.child('dns') });
          stops.push({ name: 'dns', stop: () => dns.stop() });
          log.info('node-local cluster DNS listening', { addresses: dns.addresses });
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code === 'EADDRINUSE' || /EADDRINUSE/.test(String(e))) {
            log.info('the cluster DNS address is already served on this machine; pods use that server', { address: `${host}:53` });
          } else {
            log.warn('node-local cluster DNS not started', { address: `${host}:53`, error: (e as Error).message });
          }
        }
      }
    }

    print(`kennel agent: node ${joined.nodeName} joined ${opts.server} (runtime ${node.runtime}, pod CIDR ${joined.podCIDR}); node credential: ${joined.kubeconfigPath}`);
    deps.onReady?.({ nodeName: joined.nodeName, podCIDR: joined.podCIDR, kubeconfig: joined.kubeconfigPath });
    const signal = await stopSignal;
    log.info('shutting down', { signal });
    await stopAll();
    log.info('stopped');
    return 0;
  } catch (e) {
    // What had started goes again; the one line below is all the user needs to read.
    await stopAll(true);
    if (abort.signal.aborted) return 0;
    if (e instanceof JoinError || e instanceof DataDirError) {
      print(`kennel agent: ${e.message}`);
      return 1;
    }
    print(`kennel agent: ${describeAgentError(e)}`);
    if (process.env.KENNEL_DEBUG) print(String((e as Error)?.stack ?? e));
    return 1;
  } finally {
    signals?.dispose();
  }
}

/** How often the heap trimmer looks, and by how much the heap must have grown for it to collect. */
const TRIM_EVERY_MS = 2_000;
const TRIM_GROWTH_BYTES = 3 * 1024 * 1024;
/** …or by this much, when it has not changed for an interval since (the end of a burst). */
const TRIM_SETTLED_GROWTH_BYTES = 512 * 1024;

/**
 * Gives memory back after a burst of work: when the heap V8 holds has grown by TRIM_GROWTH_BYTES
 * since the last full collection, or by TRIM_SETTLED_GROWTH_BYTES and then stayed the same for an
 * interval, one now (V8 then returns the emptied pages). V8 alone keeps
 * the heap it grew for a burst of pod starts (most of it garbage) for a long while. A full
 * collection of the agent's heap (some 10 MiB live) takes a few ms. Needs --expose-gc, which
 * bin/kennel.mjs sets for `kennel agent`; without it, nothing.
 */
export function startHeapTrimmer(): { stop(): void } {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (typeof gc !== 'function') return { stop() {} };
  let base = getHeapStatistics().total_heap_size;
  let last = base;
  const timer = setInterval(() => {
    const now = getHeapStatistics().total_heap_size;
    // Grown a lot, or grown some and then quiet for a whole interval (a burst has ended).
    const settled = Math.abs(now - last) < 256 * 1024 && now - base >= TRIM_SETTLED_GROWTH_BYTES;
    last = now;
    if (now < base) base = now;
    else if (now - base >= TRIM_GROWTH_BYTES || settled) {
      gc();
      base = last = getHeapStatistics().total_heap_size;
    }
  }, TRIM_EVERY_MS);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}

/** Connections the agent keeps for its pods' requests (status writes, events, tokens …). */
const POD_REQUEST_SOCKETS = 4;

class DataDirError extends Error {}

/**
 * Refuses a data dir that a kennel server uses (its local node's identity lives there: an agent
 * with the same node name would pass for it) or that another running agent holds; otherwise
 * records this agent's pid in <data-dir>/node/agent.pid until it stops.
 */
async function claimDataDir(dataDir: string, stops: { name: string; stop: () => Promise<void> }[]): Promise<void> {
  if (existsSync(join(dataDir, 'pki', 'ca.key'))) {
    throw new DataDirError(`${dataDir} is the data dir of a kennel server on this machine; give the agent its own --data-dir`);
  }
  const dir = join(dataDir, 'node');
  const pidFile = join(dir, 'agent.pid');
  await fs.mkdir(dir, { recursive: true, mode: 0o700 });
  try {
    const pid = Number((await fs.readFile(pidFile, 'utf8')).trim());
    if (pid > 0 && pid !== process.pid) {
      let alive = true;
      try {
        process.kill(pid, 0);
      } catch (e) {
        alive = (e as NodeJS.ErrnoException).code === 'EPERM';
      }
      if (alive) throw new DataDirError(`another kennel agent (pid ${pid}) runs with the data dir ${dataDir}; stop it or choose another --data-dir`);
    }
  } catch (e) {
    if (e instanceof DataDirError) throw e;
    // no pid file (or an unreadable one): ours now
  }
  await fs.writeFile(pidFile, `${process.pid}\n`);
  stops.push({ name: 'data-dir', stop: () => fs.rm(pidFile, { force: true }) });
}

/** One line for a failure after the join (the runtime, the node registration …). */
export function describeAgentError(e: unknown): string {
  const err = e as NodeJS.ErrnoException & { status?: { code?: number; message?: string } };
  if (err?.status?.code === 403) return `the server refused the node's request: ${err.status.message ?? err.message}`;
  if (err?.code === 'EACCES' || err?.code === 'EPERM') return `permission denied: ${err.path ?? err.message}; choose a writable --data-dir or run as root`;
  return err?.message ?? String(e);
}
