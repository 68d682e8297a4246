// bench/agent-rss: resident memory of the node agent alone, idle and running BENCH_PODS real
// pods (default 100). Target: < 60 MB for the agent, excluding containerd.
//
// What runs:
//   - `kennel server` (API server, controllers, scheduler; no local node), a child process;
//   - `kennel agent --server URL --token T --node-name N --runtime R --data-dir D`, started as a
//     user starts it: bin/kennel.mjs executed directly (its first line picks node and the
//     agent's V8 flags), joining with the server's join token. It runs the runtime, the Node and
//     its Lease, the pod workers, the HTTPS endpoint for logs/exec/attach and (as root) the
//     node-local cluster DNS. Once per variant (BENCH_AGENT_BUILDS, default "bundle"):
//       bundle: how `kennel agent` runs — the bundle of scripts/agent-bundle.mjs by plain node
//               (rebuilt here first when a source changed, so the figures are of the sources);
//       tsx:    KENNEL_AGENT_BUNDLE=0, the sources under the tsx loader, for comparison;
//   - this process creates the pods (busybox `sh` loops on `sleep 1`, no probes) bound to the
//     agent's node, 10 at a time, and reads the agent's /proc/<pid>/status: VmRSS (now), VmHWM
//     (peak since it started: the figure held against the target), RssAnon (heaps, stacks) and
//     RssFile (mapped files: mostly node's own binary), after BENCH_SETTLE_MS (5 s) idle and
//     again with the pods Ready; and its CPU time (/proc/<pid>/stat) for the pods' start and
//     while they run, to see what a memory measure costs in throughput.
//     Container processes, containerd and its shims are other processes and not counted.
// BENCH_AGENT_NODE_ARGS: run `node <args> bin/kennel.mjs agent …` instead (to try V8 flags;
// "none" runs `node bin/kennel.mjs agent …`: no flags at all). The figures are then of that
// command line, not of `kennel agent`.
// BENCH_RUNTIME: process (default: host processes) or containerd (kennel's own containerd, the
// busybox-static image from a docker-registry on 127.0.0.1; needs root and the container stack).
//
// Prints one JSON line.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { KubeClient } from '../src/client/rest.ts';
import { PODS, PodWatch } from './lib/pod-watch.ts';
import { mib, nowMs, round } from './lib/stats.ts';

const COUNT = Number(process.env.BENCH_PODS ?? 100);
const RUNTIME = (process.env.BENCH_RUNTIME ?? 'process') as 'process' | 'containerd';
const SETTLE_MS = Number(process.env.BENCH_SETTLE_MS ?? 5000);
const BUILDS = (process.env.BENCH_AGENT_BUILDS ?? 'bundle').split(',').map((s) => s.trim()) as ('tsx' | 'bundle')[];
const NODE_ARGS_RAW = process.env.BENCH_AGENT_NODE_ARGS;
const NODE_ARGS = NODE_ARGS_RAW === undefined ? undefined : NODE_ARGS_RAW.split(' ').filter((a) => a && a !== 'none');
const BIN = new URL('../bin/kennel.mjs', import.meta.url).pathname;
const CLK_TCK = 100;

function log(msg: string): void {
  process.stderr.write(`agent-rss: ${msg}\n`);
}

interface Mem {
  rssMiB: number;
  peakRssMiB: number;
  anonMiB: number;
  fileMiB: number;
}

function vm(pid: number): Mem {
  const st = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(st)?.[1] ?? 0) * 1024;
  return { rssMiB: mib(kb('VmRSS')), peakRssMiB: mib(kb('VmHWM')), anonMiB: mib(kb('RssAnon')), fileMiB: mib(kb('RssFile')) };
}

/** CPU seconds (user + system) the process has used. */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / CLK_TCK;
}

interface Figures {
  idle: Mem;
  withPods: Mem;
  perPodKiB: number;
  allReadyMs: number;
  joinMs: number;
  /** CPU seconds of the agent: from the first create until all Ready; then over the settle time with the pods running. */
  cpuStartPodsS: number;
  cpuRunningPodsS: number;
}

interface Ctx {
  url: string;
  token: string;
  root: string;
  image: string;
  kubeconfig: string;
  kubectl: (args: string[]) => Promise<{ code: number | null; stderr: string }>;
}

/** Start `kennel agent`; resolves once it printed that its node joined. */
async function startAgent(build: 'tsx' | 'bundle', nodeName: string, dataDir: string, ctx: Ctx): Promise<{ child: ChildProcess; watchdogs: Set<number>; output: () => string }> {
  const args = ['agent', '--server', ctx.url, '--token', ctx.token, '--node-name', nodeName, '--runtime', RUNTIME, '--data-dir', dataDir];
  const env = { ...process.env, KENNEL_AGENT_BUNDLE: build === 'tsx' ? '0' : '1' };
  const child = NODE_ARGS ? spawn(process.execPath, [...NODE_ARGS, BIN, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] }) : spawn(BIN, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  // The last 64 KiB of its output (for errors), and the fence watchdogs it started.
  let out = '';
  const watchdogs = new Set<number>();
  const take = (c: Buffer) => {
    out = (out + c.toString()).slice(-65536);
    for (const m of c.toString().matchAll(/"msg":"fence watchdog started","pid":(\d+)/g)) watchdogs.add(Number(m[1]));
  };
  child.stdout!.on('data', take);
  child.stderr!.on('data', take);
  const deadline = Date.now() + 120_000;
  while (!/kennel agent: node \S+ joined/.test(out)) {
    if (child.exitCode !== null) throw new Error(`kennel agent exited ${child.exitCode}: ${out.slice(-2000)}`);
    if (Date.now() > deadline) throw new Error(`kennel agent did not join in time: ${out.slice(-2000)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  if (build === 'bundle' && /agent bundle/.test(out)) throw new Error(`kennel agent did not run from the bundle: ${out.slice(0, 500)}`);
  return { child, watchdogs, output: () => out };
}

async function stopAgent(child: ChildProcess, watchdogs: Set<number>): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) {
    const exited = new Promise((res) => child.once('exit', res));
    child.kill('SIGTERM');
    const t = setTimeout(() => child.kill('SIGKILL'), 15_000);
    await exited;
    clearTimeout(t);
  }
  // The fence watchdog (src/agent/fence-watchdog.ts) outlives the agent by design: stop ours.
  for (const pid of watchdogs) {
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      // gone
    }
  }
}

async function measure(build: 'tsx' | 'bundle', ctx: Ctx): Promise<Figures> {
  const nodeName = `bench-agent-${build}`;
  const dataDir = join(ctx.root, `node-${build}`);
  if (RUNTIME === 'containerd') {
    mkdirSync(join(dataDir, 'agent'), { recursive: true });
    const host = ctx.image.split('/')[0];
    writeFileSync(join(dataDir, 'agent', 'registries.yaml'), `mirrors:\n  "${host}":\n    endpoint: ["http://${host}"]\n`);
  }
  const client = KubeClient.fromKubeconfig(ctx.kubeconfig, { userAgent: 'bench-agent-rss' });
  const watch = new PodWatch(client, 'default', 'bench=agent-rss');
  const t0 = nowMs();
  const { child, watchdogs } = await startAgent(build, nodeName, dataDir, ctx);
  const joinMs = nowMs() - t0;
  try {
    log(`${build}: agent (${RUNTIME}) joined in ${round(joinMs, 0)} ms; settling ${SETTLE_MS} ms`);
    await new Promise((r) => setTimeout(r, SETTLE_MS));
    const idle = vm(child.pid!);
    log(`${build}: idle ${JSON.stringify(idle)}`);

    await watch.start();
    const start = nowMs();
    const cpu0 = cpuSeconds(child.pid!);
    let next = 0;
    const creator = async (): Promise<void> => {
      while (next < COUNT) {
        const i = next++;
        await client.create(PODS, {
          apiVersion: 'v1',
          kind: 'Pod',
          metadata: { name: `rss-${build}-${i}`, namespace: 'default', labels: { bench: 'agent-rss' } },
          spec: {
            nodeName,
            terminationGracePeriodSeconds: 2,
            containers: [{ name: 'app', image: ctx.image, command: ['sh', '-c', "trap 'exit 0' TERM; while true; do sleep 1; done"] }],
          },
        });
      }
    };
    await Promise.all(Array.from({ length: 10 }, creator));
    await watch.untilCount('Ready', COUNT, 300_000);
    const allReadyMs = nowMs() - start;
    const cpu1 = cpuSeconds(child.pid!);
    log(`${build}: ${COUNT} pods Ready in ${round(allReadyMs, 0)} ms; settling ${SETTLE_MS} ms`);
    await new Promise((r) => setTimeout(r, SETTLE_MS));
    const withPods = vm(child.pid!);
    const cpu2 = cpuSeconds(child.pid!);
    log(`${build}: with pods ${JSON.stringify(withPods)}`);
    return {
      idle,
      withPods,
      perPodKiB: round(((withPods.rssMiB - idle.rssMiB) * 1024) / COUNT, 1),
      allReadyMs: round(allReadyMs, 0),
      joinMs: round(joinMs, 0),
      cpuStartPodsS: round(cpu1 - cpu0, 2),
      cpuRunningPodsS: round(cpu2 - cpu1, 2),
    };
  } finally {
    watch.stop();
    // The agent deletes the pods (it is the one that stops their containers).
    const r = await ctx.kubectl(['delete', 'pods', '--all', '--wait=true', '--timeout=120s']);
    if (r.code !== 0) log(`deleting pods failed: ${r.stderr.trim()}`);
    client.close();
    await stopAgent(child, watchdogs);
    if (RUNTIME === 'containerd') {
      const { purgeContainerd } = await import('../src/agent/runtime/containerd.ts');
      await purgeContainerd(join(dataDir, 'agent'), { bridgeName: 'kennel0' });
    }
  }
}

async function main(): Promise<void> {
  if (BUILDS.includes('bundle')) {
    // The figures are of the sources as they are: build the bundle if a source changed.
    execFileSync(process.execPath, [new URL('../scripts/agent-bundle.mjs', import.meta.url).pathname], { stdio: ['ignore', 'ignore', 'inherit'] });
  }
  const { startKennel } = await import('../test/support/kennel.ts');
  const root = mkdtempSync('/tmp/kennel-bench-rss-');
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
    }
    kn = await startKennel([], { command: 'server', dataDir: join(root, 'server') });
    const k = kn;
    const ctx: Ctx = {
      url: kn.url,
      token: readFileSync(join(root, 'server', 'join-token'), 'utf8').trim(),
      root,
      image,
      kubeconfig: kn.kubeconfig,
      kubectl: (args: string[]) => k.kubectl(args, { timeoutMs: 130_000 }),
    };
    const results: Partial<Record<'tsx' | 'bundle', Figures>> = {};
    for (const build of BUILDS) results[build] = await measure(build, ctx);
    console.log(
      JSON.stringify({
        bench: 'agent-rss',
        runtime: RUNTIME,
        pods: COUNT,
        agentCommand: NODE_ARGS ? `node ${NODE_ARGS.join(' ')} bin/kennel.mjs agent …` : 'bin/kennel.mjs agent … (as npx kennel agent runs it)',
        ...results,
        measured:
          'VmRSS (now), VmHWM (peak since start), RssAnon and RssFile of the `kennel agent` process, idle and with the pods Ready; ' +
          'containerd, shims and container processes are other processes and not counted. bundle: how kennel agent runs ' +
          '(the bundle of scripts/agent-bundle.mjs, plain node); tsx: KENNEL_AGENT_BUNDLE=0, the sources under the tsx loader',
        baselineMiB: baseline(),
        targetMiB: 60,
        meetsTarget: Object.fromEntries(Object.entries(results).map(([b, f]) => [b, f.idle.peakRssMiB < 60 && f.withPods.peakRssMiB < 60])),
      }),
    );
  } finally {
    await kn?.stop();
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
