// Many nodes on one machine: a `kennel server` in the host's network namespace and agents each
// in a network namespace of its own, joined over a bridge — for multi-node e2e tests.
//
//   host netns                          netns kennel-<id>-<i> (one per agent)
//   bridge knb<id> 10.200.X.1/24 ──veth── eth0 10.200.X.(10+i)/24, default via 10.200.X.1
//   kennel server --bind 10.200.X.1     kennel agent --node-ip 10.200.X.(10+i)
//     (API, and cluster DNS on :53)       pod CIDR 10.244.N.0/24 (from the join)
//
// Every namespace also gets a route to every other node's pod CIDR via that node's address
// (pods on different nodes reach each other over the bridge, L2, without forwarding on the
// host), and reaches the cluster DNS at 10.200.X.1:53 (the server's) and at its node-local
// address (the agent's own DNS: 127.0.0.10 for process pods). X is random per cluster, and no
// route is added on the host: the host keeps its own 10.244.x routes (a containerd `kennel up`
// may be using 10.244.0.0/24 there). Agents run under `nsenter --net` only (not `ip netns exec`,
// which remounts /sys and would hide the cgroup mounts from the process runtime).
//
// partition(node) cuts a node off (its host-side veth down) and heal(node) reconnects it.
// stop() removes every pod (so process pods end), then ends every process in the namespaces,
// and deletes every namespace, veth and the bridge; leftovers() reports what would remain.
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startKennel, type Kennel } from './kennel.ts';
import { waitFor } from './wait.ts';

const BIN = new URL('../../bin/kennel.mjs', import.meta.url).pathname;

/** Whether this machine can run the harness: root, iproute2 with netns, and nsenter. */
export function netnsAvailable(): boolean {
  if (process.getuid?.() !== 0) return false;
  const ok = (cmd: string) => spawnSync('sh', ['-c', cmd], { stdio: 'ignore' }).status === 0;
  return ok('command -v ip && command -v nsenter && ip netns list');
}

export interface NetnsNode {
  name: string;
  netns: string;
  /** The node's address (its --node-ip). */
  ip: string;
  dataDir: string;
  /** From the join (10.244.N.0/24). */
  podCIDR: string;
  child: ChildProcess;
  stderr(): string;
  /** Resolves with the agent's exit code (or signal name). */
  exited: Promise<number | string>;
  /** Runs a command inside the node's network namespace. */
  exec(cmd: string[], opts?: { timeoutMs?: number; input?: string }): { code: number | null; stdout: string; stderr: string };
}

export interface NetnsCluster {
  server: Kennel;
  /** 10.200.X.1: the bridge, the API server and the server's cluster DNS. */
  gateway: string;
  nodes: NetnsNode[];
  /** Starts one more agent in a namespace of its own and waits until its Node is Ready. */
  addNode(o?: { name?: string; labels?: string; taints?: string }): Promise<NetnsNode>;
  /** Sends a signal to a node's agent (SIGKILL: as a crash) and waits for it to exit. */
  stopAgent(node: NetnsNode, signal?: NodeJS.Signals): Promise<number | string>;
  partition(node: NetnsNode): void;
  heal(node: NetnsNode): void;
  /** Names of namespaces and links of this cluster that still exist. */
  leftovers(): string[];
  stop(): Promise<void>;
}

export interface NetnsClusterOptions {
  nodes?: number;
  runtime?: 'process' | 'simulated';
  /** Extra flags for `kennel server`. */
  serverArgs?: string[];
  /** Extra flags for every `kennel agent` (e.g. --node-lease-duration-seconds). */
  agentArgs?: string[];
}

function ip(...args: string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

function tryIp(...args: string[]): void {
  spawnSync('ip', args, { stdio: 'ignore' });
}

function pickSubnet(): number {
  const used = execFileSync('ip', ['-4', '-o', 'addr', 'show'], { encoding: 'utf8' }) + execFileSync('ip', ['-4', 'route', 'show'], { encoding: 'utf8' });
  for (let tries = 0; tries < 100; tries++) {
    const x = 1 + Math.floor(Math.random() * 254);
    if (!used.includes(`10.200.${x}.`)) return x;
  }
  throw new Error('no free 10.200.X.0/24 subnet for the test network');
}

export async function startNetnsCluster(o: NetnsClusterOptions = {}): Promise<NetnsCluster> {
  const id = randomBytes(2).toString('hex');
  const x = pickSubnet();
  const gateway = `10.200.${x}.1`;
  const bridge = `knb${id}`;
  const runtime = o.runtime ?? 'simulated';
  const root = await mkdtemp(join(tmpdir(), 'kennel-netns-'));
  const nodes: NetnsNode[] = [];
  const namespaces: string[] = [];
  const hostLinks: string[] = [bridge];
  let server: Kennel | undefined;
  let token = '';
  let stopped = false;

  const cleanup = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    // Pods first, so that process pods end through their agent.
    if (server && nodes.some((n) => n.child.exitCode === null)) {
      // Their controllers first, so that no pod is made again (a DaemonSet pod on a dead node).
      await server.kubectl(['delete', 'daemonsets,statefulsets,deployments,replicasets,jobs,cronjobs', '--all', '--all-namespaces', '--timeout=20s'], { timeoutMs: 25_000 }).catch(() => undefined);
      // The pods of a node whose agent is gone can never be confirmed deleted: remove them at once.
      for (const n of nodes.filter((d) => d.child.exitCode !== null || d.child.signalCode !== null)) {
        await server.kubectl(['delete', 'pods', '--all-namespaces', '--field-selector', `spec.nodeName=${n.name}`, '--grace-period=0', '--force'], { timeoutMs: 20_000 }).catch(() => undefined);
      }
      await server.kubectl(['delete', 'pods', '--all', '--all-namespaces', '--wait=true', '--timeout=30s'], { timeoutMs: 40_000 }).catch(() => undefined);
    }
    for (const n of nodes) {
      if (n.child.exitCode === null && n.child.signalCode === null) {
        n.child.kill('SIGTERM');
        const t = setTimeout(() => n.child.kill('SIGKILL'), 10_000);
        await n.exited;
        clearTimeout(t);
      }
    }
    // Whatever still runs in a namespace (a pod process an agent left behind) ends with it.
    for (const ns of namespaces) {
      const pids = spawnSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' }).stdout.split(/\s+/).filter(Boolean);
      for (const pid of pids) {
        try {
          process.kill(Number(pid), 'SIGKILL');
        } catch {
          // gone
        }
      }
      tryIp('netns', 'del', ns);
    }
    for (const l of hostLinks) tryIp('link', 'del', l);
    await server?.stop();
    await rm(root, { recursive: true, force: true });
  };

  const linksOf = (): string[] =>
    execFileSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' })
      .split('\n')
      .map((l) => l.split(':')[1]?.trim().split('@')[0] ?? '')
      .filter((n) => n.startsWith('kn') && n.includes(id));

  const addRoutes = (): void => {
    for (const a of nodes) {
      for (const b of nodes) {
        if (a === b || !b.podCIDR) continue;
        tryIp('-n', a.netns, 'route', 'replace', b.podCIDR, 'via', b.ip);
      }
    }
  };

  try {
    ip('link', 'add', bridge, 'type', 'bridge');
    ip('addr', 'add', `${gateway}/24`, 'dev', bridge);
    ip('link', 'set', bridge, 'up');
    server = await startKennel(['--bind', gateway, '--dns-listen', `${gateway}:53`, ...(o.serverArgs ?? [])], { dataDir: join(root, 'server'), command: 'server' });
    token = (await readFile(join(server.dataDir, 'join-token'), 'utf8')).trim();

    const addNode = async (opts: { name?: string; labels?: string; taints?: string } = {}): Promise<NetnsNode> => {
      const i = nodes.length + 1;
      if (i > 200) throw new Error('at most 200 nodes');
      const name = opts.name ?? `node-${i}`;
      const netns = `kennel-${id}-${i}`;
      const hostSide = `knh${id}${i}`;
      const nodeSide = `knn${id}${i}`;
      const nodeIP = `10.200.${x}.${10 + i}`;
      ip('netns', 'add', netns);
      namespaces.push(netns);
      ip('link', 'add', hostSide, 'type', 'veth', 'peer', 'name', nodeSide);
      hostLinks.push(hostSide);
      ip('link', 'set', nodeSide, 'netns', netns);
      ip('link', 'set', hostSide, 'master', bridge);
      ip('link', 'set', hostSide, 'up');
      ip('-n', netns, 'link', 'set', 'lo', 'up');
      ip('-n', netns, 'link', 'set', nodeSide, 'name', 'eth0');
      ip('-n', netns, 'addr', 'add', `${nodeIP}/24`, 'dev', 'eth0');
      ip('-n', netns, 'link', 'set', 'eth0', 'up');
      ip('-n', netns, 'route', 'add', 'default', 'via', gateway);
      spawnSync('nsenter', [`--net=/run/netns/${netns}`, 'sysctl', '-qw', 'net.ipv4.ip_forward=1'], { stdio: 'ignore' });

      const dataDir = join(root, name);
      const args = ['agent', '--server', server!.url, '--token', token, '--node-name', name, '--node-ip', nodeIP, '--runtime', runtime, '--data-dir', dataDir];
      if (opts.labels) args.push('--labels', opts.labels);
      if (opts.taints) args.push('--taints', opts.taints);
      args.push(...(o.agentArgs ?? []));
      const child = spawn('nsenter', [`--net=/run/netns/${netns}`, process.execPath, BIN, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
      let err = '';
      child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
      const exited = new Promise<number | string>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown')));
      const node: NetnsNode = {
        name,
        netns,
        ip: nodeIP,
        dataDir,
        podCIDR: '',
        child,
        stderr: () => err,
        exited,
        exec(cmd, eo = {}) {
          const r = spawnSync('nsenter', [`--net=/run/netns/${netns}`, ...cmd], { encoding: 'utf8', timeout: eo.timeoutMs ?? 20_000, input: eo.input });
          return { code: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
        },
      };
      nodes.push(node);
      await waitFor(`agent ${name} to join`, () => /kennel agent: node \S+ joined/.test(err) || (child.exitCode !== null ? Promise.reject(new Error(`agent ${name} exited: ${err.slice(-2000)}`)) : undefined), 60_000, 50);
      node.podCIDR = (JSON.parse(await readFile(join(dataDir, 'node', 'node.json'), 'utf8')) as { podCIDR: string }).podCIDR;
      addRoutes();
      await waitFor(
        `node ${name} Ready`,
        async () => (await server!.k(['get', 'node', name, '-o', 'jsonpath={.status.conditions[?(@.type=="Ready")].status}'])).trim() === 'True',
        60_000,
        200,
      );
      return node;
    };

    for (let i = 0; i < (o.nodes ?? 3); i++) await addNode();

    return {
      server,
      gateway,
      nodes,
      addNode,
      async stopAgent(node, signal = 'SIGTERM') {
        if (node.child.exitCode === null && node.child.signalCode === null) node.child.kill(signal);
        return node.exited;
      },
      partition(node) {
        ip('link', 'set', `knh${id}${nodes.indexOf(node) + 1}`, 'down');
      },
      heal(node) {
        ip('link', 'set', `knh${id}${nodes.indexOf(node) + 1}`, 'up');
      },
      leftovers() {
        const ns = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })
          .split('\n')
          .map((l) => l.split(' ')[0] ?? '')
          .filter((n) => n.startsWith(`kennel-${id}-`));
        return [...ns, ...linksOf()];
      },
      stop: cleanup,
    };
  } catch (e) {
    const logs = nodes.map((n) => `${n.name}: ${n.stderr().slice(-1500)}`).join('\n');
    await cleanup();
    throw new Error(`${(e as Error).message}${logs ? `\n${logs}` : ''}`);
  }
}
