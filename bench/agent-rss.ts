// bench/agent-rss: resident memory of the node agent alone, idle and running BENCH_PODS real
// pods (default 100). Target: < 60 MB for the agent, excluding containerd.
//
// What runs:
//   - `kennel server` (API server, controllers, scheduler; no local node), a child process;
//   - the agent in a child process of its own (bench/lib/agent-child.ts): exactly what
//     `kennel up` runs for its local node — startNode() of src/cli/node.ts: the runtime client,
//     the agent (informers, pod workers, probes, status) and its HTTPS endpoint for
//     logs/exec/attach — with the admin credentials of the server's kubeconfig (there is no
//     `kennel agent` yet). Twice (BENCH_AGENT_BUILDS, default "tsx,bundle"): under the tsx
//     loader as bin/kennel.mjs runs kennel today, and as one esbuild bundle run by plain node
//     (what a compiled kennel would cost);
//   - this process creates the pods (busybox `sh` loops on `sleep 1`, no probes) and reads the
//     agent's /proc/<pid>/status: VmRSS (now) and VmHWM (peak), after BENCH_SETTLE_MS (5 s);
//     then the agent forces a full GC and reports its RSS again (rssAfterGcMiB) and its heap.
//     Container processes, containerd and its shims are other processes and not counted.
// BENCH_AGENT_NODE_ARGS: extra node flags for the agent (e.g. --max-semi-space-size=1).
// BENCH_RUNTIME: process (default: host processes) or containerd (kennel's own containerd, the
// busybox-static image from a docker-registry on 127.0.0.1; needs root and the container stack).
//
// Prints one JSON line.
import { execFileSync, fork, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { KubeClient } from '../src/client/rest.ts';
import { PODS, PodWatch } from './lib/pod-watch.ts';
import { mib, nowMs, round } from './lib/stats.ts';

const COUNT = Number(process.env.BENCH_PODS ?? 100);
const RUNTIME = (process.env.BENCH_RUNTIME ?? 'process') as 'process' | 'containerd';
const SETTLE_MS = Number(process.env.BENCH_SETTLE_MS ?? 5000);
const BUILDS = (process.env.BENCH_AGENT_BUILDS ?? 'tsx,bundle').split(',').map((s) => s.trim()) as ('tsx' | 'bundle')[];
const NODE_NAME = 'bench-agent';
/** Extra node flags for the agent (e.g. "--max-semi-space-size=1" to see the young generation's share). */
const NODE_ARGS = (process.env.BENCH_AGENT_NODE_ARGS ?? '').split(' ').filter(Boolean);

function log(msg: string): void {
  process.stderr.write(`agent-rss: ${msg}\n`);
}

function vm(pid: number): { rssMiB: number; peakRssMiB: number } {
  const st = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(st)?.[1] ?? 0) * 1024;
  return { rssMiB: mib(kb('VmRSS')), peakRssMiB: mib(kb('VmHWM')) };
}

interface MemReply {
  type: 'mem';
  heapUsedMiB: number;
  heapTotalMiB: number;
  externalMiB: number;
  rssAfterGcMiB?: number;
}

// ---------------------------------------------------------------------------------------------
// The benchmark

function ask(child: ChildProcess): Promise<MemReply> {
  return new Promise((resolve) => {
    const on = (m: { type: string }) => {
      if (m.type !== 'mem') return;
      child.off('message', on);
      resolve(m as MemReply);
    };
    child.on('message', on);
    child.send({ type: 'mem' });
  });
}

interface Figures {
  idle: { rssMiB: number; peakRssMiB: number } & Omit<MemReply, 'type'>;
  withPods: { rssMiB: number; peakRssMiB: number } & Omit<MemReply, 'type'>;
  perPodKiB: number;
  allReadyMs: number;
}

/** The agent child as one esbuild bundle run by plain node (packages stay external). */
async function bundleAgent(dir: string): Promise<string> {
  const { build } = await import('esbuild');
  const out = join(dir, 'agent-child.mjs');
  await build({
    entryPoints: [new URL('./lib/agent-child.ts', import.meta.url).pathname],
    outfile: out,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    packages: 'external',
    logLevel: 'error',
  });
  // Bare imports resolve from the bundle's directory upwards: point it at kennel's packages.
  symlinkSync(new URL('../node_modules', import.meta.url).pathname, join(dir, 'node_modules'));
  return out;
}

async function measure(
  build: 'tsx' | 'bundle',
  entry: string,
  ctx: { kubeconfig: string; serverDataDir: string; agentDataDir: string; image: string; kubectl: (args: string[]) => Promise<{ code: number | null; stderr: string }> },
): Promise<Figures> {
  const client = KubeClient.fromKubeconfig(ctx.kubeconfig, { userAgent: 'bench-agent-rss' });
  const watch = new PodWatch(client, 'default', 'bench=agent-rss');
  const agent = fork(entry, [ctx.kubeconfig, ctx.serverDataDir, ctx.agentDataDir, RUNTIME, NODE_NAME], {
    execArgv: [...NODE_ARGS, '--expose-gc', ...(build === 'tsx' ? ['--import', 'tsx'] : [])],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  try {
    const t0 = nowMs();
    await new Promise<void>((resolve, reject) => {
      agent.once('message', () => resolve());
      agent.once('exit', (code) => reject(new Error(`the agent's process exited (${code})`)));
    });
    log(`${build}: agent (${RUNTIME}) registered in ${round(nowMs() - t0, 0)} ms; settling ${SETTLE_MS} ms`);
    await new Promise((r) => setTimeout(r, SETTLE_MS));
    const { type: _t1, ...idleHeap } = await ask(agent);
    const idle = { ...vm(agent.pid!), ...idleHeap };
    log(`${build}: idle ${JSON.stringify(idle)}`);

    await watch.start();
    const start = nowMs();
    let next = 0;
    const creator = async (): Promise<void> => {
      while (next < COUNT) {
        const i = next++;
        await client.create(PODS, {
          apiVersion: 'v1',
          kind: 'Pod',
          metadata: { name: `rss-${i}`, namespace: 'default', labels: { bench: 'agent-rss' } },
          spec: {
            nodeName: NODE_NAME,
            terminationGracePeriodSeconds: 2,
            containers: [{ name: 'app', image: ctx.image, command: ['sh', '-c', "trap 'exit 0' TERM; while true; do sleep 1; done"] }],
          },
        });
      }
    };
    await Promise.all(Array.from({ length: 10 }, creator));
    await watch.untilCount('Ready', COUNT, 300_000);
    const allReadyMs = nowMs() - start;
    log(`${build}: ${COUNT} pods Ready in ${round(allReadyMs, 0)} ms; settling ${SETTLE_MS} ms`);
    await new Promise((r) => setTimeout(r, SETTLE_MS));
    const { type: _t2, ...loadedHeap } = await ask(agent);
    const withPods = { ...vm(agent.pid!), ...loadedHeap };
    log(`${build}: with pods ${JSON.stringify(withPods)}`);
    return { idle, withPods, perPodKiB: round(((withPods.rssMiB - idle.rssMiB) * 1024) / COUNT, 1), allReadyMs: round(allReadyMs, 0) };
  } finally {
    watch.stop();
    const r = await ctx.kubectl(['delete', 'pods', '--all', '--wait=true', '--timeout=120s']);
    if (r.code !== 0) log(`deleting pods failed: ${r.stderr.trim()}`);
    client.close();
    if (agent.exitCode === null) {
      const exited = new Promise((res) => agent.once('exit', res));
      agent.send({ type: 'stop' });
      const t = setTimeout(() => agent.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(t);
    }
  }
}

async function main(): Promise<void> {
  const { startKennel } = await import('../test/support/kennel.ts');
  const root = mkdtempSync('/tmp/kennel-bench-rss-');
  const agentDataDir = join(root, 'node');
  let reg: { host: string; image: string; stop(): Promise<void> } | undefined;
  let kn: Awaited<ReturnType<typeof startKennel>> | undefined;
  try {
    let image = 'busybox';
    if (RUNTIME === 'containerd') {
      const { containerStackMissing, startBusyboxRegistry } = await import('../test/support/images.ts');
      const missing = containerStackMissing();
      if (missing) throw new Error(`BENCH_RUNTIME=containerd: ${missing}`);
      reg = await startBusyboxRegistry();
      image = reg.image;
      mkdirSync(join(agentDataDir, 'agent'), { recursive: true });
      writeFileSync(join(agentDataDir, 'agent', 'registries.yaml'), `mirrors:\n  "${reg.host}":\n    endpoint: ["http://${reg.host}"]\n`);
    }
    kn = await startKennel([], { command: 'server', dataDir: join(root, 'server') });
    const k = kn;
    const ctx = {
      kubeconfig: kn.kubeconfig,
      serverDataDir: join(root, 'server'),
      agentDataDir,
      image,
      kubectl: (args: string[]) => k.kubectl(args, { timeoutMs: 130_000 }),
    };
    const results: Partial<Record<'tsx' | 'bundle', Figures>> = {};
    for (const build of BUILDS) {
      const entry = build === 'tsx' ? new URL('./lib/agent-child.ts', import.meta.url).pathname : await bundleAgent(mkdtempSync(join(root, 'bundle-')));
      results[build] = await measure(build, entry, ctx);
    }
    console.log(
      JSON.stringify({
        bench: 'agent-rss',
        runtime: RUNTIME,
        pods: COUNT,
        ...(NODE_ARGS.length ? { agentNodeArgs: NODE_ARGS.join(' ') } : {}),
        ...results,
        measured:
          'VmRSS (now) and VmHWM (peak) of a process running only startNode() — runtime client, agent, HTTPS endpoint — as kennel up runs its node; ' +
          'containerd, shims and container processes are other processes and not counted. tsx: run through the tsx loader as bin/kennel.mjs does (the loader adds a worker thread); ' +
          'bundle: the same code bundled by esbuild and run by plain node',
        baselineMiB: baseline(),
        targetMiB: 60,
        meetsTarget: Object.fromEntries(Object.entries(results).map(([b, f]) => [b, f.idle.peakRssMiB < 60 && f.withPods.peakRssMiB < 60])),
      }),
    );
  } finally {
    await kn?.stop();
    if (RUNTIME === 'containerd') {
      const { purgeContainerd } = await import('../src/agent/runtime/containerd.ts');
      await purgeContainerd(join(agentDataDir, 'agent'), { bridgeName: 'kennel0' });
    }
    rmSync(root, { recursive: true, force: true });
    await reg?.stop();
  }
}

/** RSS of an empty node process, plain and with the tsx loader: the floor under the figures. */
function baseline(): { plainNode: number; nodeWithTsx: number } {
  const rss = (args: string[]): number => {
    const out = execFileSync(process.execPath, [...args, '-e', 'setTimeout(() => process.stdout.write(String(process.memoryUsage().rss)), 300)'], { encoding: 'utf8' });
    return mib(Number(out));
  };
  return { plainNode: rss([]), nodeWithTsx: rss(['--import', 'tsx']) };
}

await main();
