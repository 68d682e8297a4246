// Helpers for the pod e2e tests (test/e2e/pods-*.test.ts): read pods and events through kubectl,
// wait for a pod condition, and find host processes that still belong to a test's data dir.
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import type { Kennel } from './kennel.ts';

export interface ContainerStateJson {
  running?: { startedAt?: string };
  waiting?: { reason?: string; message?: string };
  terminated?: { reason?: string; message?: string; exitCode?: number; startedAt?: string; finishedAt?: string };
}

export interface ContainerStatusJson {
  name: string;
  ready: boolean;
  restartCount: number;
  image?: string;
  imageID?: string;
  containerID?: string;
  state?: ContainerStateJson;
  lastState?: ContainerStateJson;
}

export interface PodJson {
  metadata: { name: string; uid?: string; deletionTimestamp?: string };
  spec: { nodeName?: string };
  status?: {
    phase?: string;
    podIP?: string;
    hostIP?: string;
    conditions?: { type: string; status: string }[];
    initContainerStatuses?: ContainerStatusJson[];
    containerStatuses?: ContainerStatusJson[];
  };
}

export interface EventJson {
  type: string;
  reason: string;
  message: string;
}

export async function getPod(kn: Kennel, name: string, namespace = 'default'): Promise<PodJson | undefined> {
  const r = await kn.kubectl(['get', 'pod', name, '-n', namespace, '-o', 'json']);
  if (r.code !== 0) {
    if (/NotFound/.test(r.stderr)) return undefined;
    throw new Error(`kubectl get pod ${name}: ${r.stderr}`);
  }
  return JSON.parse(r.stdout) as PodJson;
}

export function podReady(p: PodJson | undefined): boolean {
  return p?.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
}

/** The status of container `name` (app or init). */
export function containerStatus(p: PodJson | undefined, name: string): ContainerStatusJson | undefined {
  return [...(p?.status?.containerStatuses ?? []), ...(p?.status?.initContainerStatuses ?? [])].find((c) => c.name === name);
}

/** Poll the pod until `pred` holds; fails with the last seen status after timeoutMs. */
export async function waitForPod(kn: Kennel, name: string, pred: (p: PodJson | undefined) => boolean, what: string, timeoutMs = 30_000): Promise<PodJson | undefined> {
  const deadline = Date.now() + timeoutMs;
  let last: PodJson | undefined;
  for (;;) {
    last = await getPod(kn, name);
    if (pred(last)) return last;
    if (Date.now() > deadline) {
      throw new Error(`pod ${name}: timed out after ${timeoutMs} ms waiting for ${what}; last status: ${JSON.stringify(last?.status ?? 'gone')}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

export async function podEvents(kn: Kennel, name: string, namespace = 'default'): Promise<EventJson[]> {
  const out = await kn.k(['get', 'events', '-n', namespace, '--field-selector', `involvedObject.name=${name}`, '-o', 'json']);
  return (JSON.parse(out) as { items: EventJson[] }).items;
}

/** Poll the pod's events until one with `reason` (and a message matching `message`) is there. */
export async function waitForEvent(kn: Kennel, name: string, reason: string, message: RegExp = /./, timeoutMs = 30_000): Promise<EventJson> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const evs = await podEvents(kn, name);
    const e = evs.find((x) => x.reason === reason && message.test(x.message));
    if (e) return e;
    if (Date.now() > deadline) {
      throw new Error(`pod ${name}: no event ${reason} ${message} after ${timeoutMs} ms; events: ${evs.map((x) => `${x.reason}: ${x.message}`).join(' | ')}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Delete every pod in the namespace and wait until they are gone; returns how long it took. */
export async function deleteAllPods(kn: Kennel, timeoutMs = 60_000, namespace = 'default'): Promise<number> {
  const t0 = Date.now();
  await kn.k(['delete', 'pods', '--all', '-n', namespace, '--wait=true', `--timeout=${Math.round(timeoutMs / 1000)}s`], { timeoutMs: timeoutMs + 5_000 });
  const left = await kn.k(['get', 'pods', '-n', namespace, '-o', 'name']);
  if (left.trim()) throw new Error(`pods left after deletion: ${left.trim()}`);
  return Date.now() - t0;
}

export interface HostProcess {
  pid: number;
  cmdline: string;
  why: string;
}

function safe<T>(f: () => T): T | undefined {
  try {
    return f();
  } catch {
    return undefined;
  }
}

/**
 * Host processes tied to `dir` or `marker`: the command line mentions either, the working
 * directory lies under `dir` (process-runtime containers), or an ancestor is such a process
 * (container processes under a shim whose command line names kennel's containerd socket).
 * Processes whose command line matches `ignore` are left out, with their descendants; so is a
 * node's fence watchdog (src/agent/fence-watchdog.ts: node infrastructure, not a container,
 * which outlives its agent and exits once the data dir is removed).
 */
export function processesOf(dir: string, marker?: string, opts: { ignore?: RegExp } = {}): HostProcess[] {
  const under = (p: string | undefined): boolean => p !== undefined && (p === dir || p.startsWith(dir + '/'));
  const procs = new Map<number, { ppid: number; cmdline: string; why: string }>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const pid = Number(name);
    if (pid === process.pid) continue;
    const stat = safe(() => readFileSync(`/proc/${pid}/stat`, 'utf8'));
    const cmdline = safe(() => readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim());
    if (stat === undefined || cmdline === undefined) continue;
    // pid (comm) state ppid …: comm may hold spaces and parentheses.
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    const cwd = safe(() => readlinkSync(`/proc/${pid}/cwd`));
    let why = '';
    if (opts.ignore?.test(cmdline) || /\/fence-watchdog\/watchdog-[0-9a-f]+\.sh /.test(cmdline)) why = 'ignored';
    else if (cmdline.includes(dir)) why = 'cmdline';
    else if (marker && cmdline.includes(marker)) why = 'marker';
    else if (under(cwd)) why = `cwd ${cwd}`;
    procs.set(pid, { ppid, cmdline, why });
  }
  const out: HostProcess[] = [];
  for (const [pid, p] of procs) {
    let why = p.why;
    if (why === 'ignored') continue;
    for (let a = procs.get(p.ppid), n = 0; !why && a && n < 64; a = procs.get(a.ppid), n++) {
      if (a.why === 'ignored') break;
      if (a.why) why = `descendant of a process tied by ${a.why}`;
    }
    if (why) out.push({ pid, cmdline: p.cmdline, why });
  }
  return out;
}
