// The fence watchdog: self-fencing (fencing.ts) for an agent that is not running.
//
// The agent's own fence stops its fenceable pods when it cannot renew its lease — but only while
// it runs. A crashed, SIGKILLed or hung agent fences nothing, and its containers outlive it (the
// process runtime's containers are detached host processes; containerd's run under shims), while
// the server replaces its StatefulSet pods after lease + margin: two copies of one identity. So
// each agent keeps a watchdog beside it: a tiny POSIX shell loop (fence-watchdog.sh, ~2 MB of
// memory: dash with builtins, one `sleep` a second) in a session of its own, which outlives the
// agent and kills the fenceable containers once the deadline passes without the agent pushing it
// back:
//
//   - After every lease renewal that succeeded, the agent rewrites <dir>/state atomically (temp
//     file + rename): `armed <cs> <boot_id>`, the kill time on the boot clock (/proc/uptime,
//     centiseconds — CLOCK_BOOTTIME, the clock the fence runs on, which counts through suspend),
//     and the targets. The kill time is the fence deadline S + L (S: when the renewal was SENT,
//     L: the lease duration it wrote) less min(1 s, lead): when a live agent's own fence sends
//     its last SIGKILLs (1 s before S + L; at once from S + L − lead for a lead under 1 s), so a
//     graceful stop is never cut short, and it leaves a second for a slow machine. The server
//     force-deletes no earlier than L + margin after it saw that renewal
//     (src/controllers/nodelifecycle/fencing.ts).
//   - Past the kill time the watchdog SIGKILLs every target, logs it to <dir>/watchdog.log, and
//     goes on killing whatever appears (every 0.5 s) until the agent writes a later deadline. A
//     deadline written during another boot counts as passed.
//   - Targets (which pods: the agent's fence scope, shouldFencePod). The agent marks the sandbox
//     of every fenceable pod when it creates it (label kennel.dev/fence=true, and for containerd
//     a cgroup parent), so a container is a target BEFORE it starts — an agent killed just after
//     starting one leaves no gap:
//       process runtime: each marked container gets <stateDir>/fence/<id> → its directory, and
//         its shim writes "<pgid> <starttime>" to <dir>/pgid before it runs the program; target
//         `pidfiles <stateDir>/fence`. The watchdog checks the start time (PID reuse), freezes
//         the group and every descendant (a program in a session of its own: tty, setsid), then
//         SIGKILLs them all.
//       containerd: marked pods run under the cgroup parent /kennel-fenced/<node>-<hash>
//         (cgroupfs: one cgroup per container below it); target `cgroup` at that path in every
//         mounted cgroup hierarchy: cgroup.kill on cgroup v2, else SIGKILL to every process
//         listed, until none is left.
//       simulated runtime: nothing outlives the agent (no real containers); no watchdog.
//   - The agent starts it (detached, own session) when it starts, or reuses the one running
//     (<dir>/watchdog.pid: pid and start time, checked with /proc/<pid>/cmdline); a new version
//     of the script replaces an old one. It exits when <dir> disappears, when told `stop`, and
//     once the deadline has been past for `linger` seconds (default 10 min: all its targets are
//     dead by then, and a returning agent starts it again before it runs any container).
//
// A clean stop of the agent (SIGTERM) leaves every container running (a restarted agent adopts
// them), so it leaves the watchdog ARMED with the current deadline: the server cannot tell a
// stopped agent from a dead one, and replaces its StatefulSet pods after lease + margin. An agent
// back within the lease renews and pushes the deadline back; one that stays away longer loses
// its fenceable containers (they restart when it returns, after its fence has revalidated them),
// exactly as a node cut off from the server. `disarmed` (kill nothing) is for a node whose
// fenceable pods are stopped; `stop` retires the watchdog (an agent running without fencing).
//
// The Node carries the annotation kennel.dev/fencing=watchdog while the watchdog runs (agent: a
// simulated-runtime agent, whose in-process fence covers everything); the server replaces a dead
// node's pods only when it is there (isFencingNode).
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Logger } from '../util/log.ts';

/** Sandbox label: the pod is fenceable (the process runtime links its containers for the watchdog). */
export const LABEL_FENCE = 'kennel.dev/fence';
/** The watchdog kills this long before the deadline (the lead, for a lead under it). */
export const WATCHDOG_SLACK_MS = 1000;
/** Default: the watchdog exits once the deadline has been past this long. */
export const DEFAULT_LINGER_SECONDS = 600;
export const WATCHDOG_DIR = 'fence-watchdog';

const SCRIPT_SOURCE = new URL('./fence-watchdog.sh', import.meta.url);
const STATE = 'state';
const PIDFILE = 'watchdog.pid';
const LOG = 'watchdog.log';

export type WatchdogTarget =
  /** Every <dir>/<id>/pgid ("<pgid> <starttime>"): the process runtime's fenced containers. */
  | { kind: 'pidfiles'; dir: string }
  /** One process group whose leader started at `start` (/proc/<pid>/stat field 22). */
  | { kind: 'pg'; pgid: number; start: number }
  /** Everything in a cgroup directory and below. */
  | { kind: 'cgroup'; dir: string };

export type WatchdogState =
  | { mode: 'armed'; deadlineCs: number; bootId: string; lingerSeconds: number; targets: readonly WatchdogTarget[] }
  | { mode: 'disarmed' }
  | { mode: 'stop' };

/** The watchdog's state file. */
export function renderWatchdogState(s: WatchdogState): string {
  if (s.mode !== 'armed') return `kennel-fence-watchdog 1\n${s.mode}\n`;
  const lines = ['kennel-fence-watchdog 1', `armed ${Math.max(0, Math.floor(s.deadlineCs))} ${s.bootId || '-'}`, `linger ${Math.max(0, Math.floor(s.lingerSeconds))}`];
  for (const t of s.targets) {
    if (t.kind === 'pg') lines.push(`pg ${t.pgid} ${t.start}`);
    else if (/[\n\r]/.test(t.dir)) throw new Error(`fence watchdog: a target path with a line break: ${JSON.stringify(t.dir)}`);
    else lines.push(`${t.kind} ${t.dir}`);
  }
  return lines.join('\n') + '\n';
}

/** CLOCK_BOOTTIME in ms, read from /proc/uptime (undefined: not Linux). */
export function uptimeMs(): number | undefined {
  try {
    const s = readFileSync('/proc/uptime', 'latin1');
    const v = Number(s.slice(0, s.indexOf(' '))) * 1000;
    return Number.isFinite(v) ? Math.round(v) : undefined;
  } catch {
    return undefined;
  }
}

export function currentBootId(): string {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'latin1').trim();
  } catch {
    return '';
  }
}

/** When the watchdog kills, relative to the fence deadline S + L: min(1 s, lead) before it. */
export function watchdogKillOffsetMs(leadMs: number): number {
  return Math.min(WATCHDOG_SLACK_MS, Math.max(0, leadMs));
}

/** The start time of a process (/proc/<pid>/stat field 22; undefined when gone). */
export function procStartTime(pid: number): number | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'latin1');
    const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
    const v = Number(f[19]);
    return Number.isFinite(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

function cmdline(pid: number): string[] | undefined {
  try {
    const raw = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return raw.split('\0').filter((s, i, a) => i < a.length - 1 || s !== '');
  } catch {
    return undefined;
  }
}

/** The mount points of the cgroup hierarchies (v1 and v2) in this mount namespace. */
export function cgroupMountPoints(mountinfo?: string): string[] {
  let text = mountinfo;
  if (text === undefined) {
    try {
      text = readFileSync('/proc/self/mountinfo', 'utf8');
    } catch {
      return [];
    }
  }
  const out: string[] = [];
  for (const line of text.split('\n')) {
    // <id> <parent> <major:minor> <root> <mount point> <options> [optional…] - <fstype> <source> <super options>
    const sep = line.indexOf(' - ');
    if (sep < 0) continue;
    const fstype = line.slice(sep + 3).split(' ')[0];
    if (fstype !== 'cgroup' && fstype !== 'cgroup2') continue;
    const mountPoint = line.split(' ')[4];
    if (mountPoint) out.push(mountPoint.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8))));
  }
  return [...new Set(out)];
}

/** The cgroup parent (cgroupfs) of a node's fenceable containerd pods: /kennel-fenced/<node>-<hash of the data dir>. */
export function fencedCgroupParent(nodeName: string, dataDir: string): string {
  const h = createHash('sha256').update(resolve(dataDir)).digest('hex').slice(0, 8);
  return `/kennel-fenced/${nodeName.replace(/[^A-Za-z0-9._-]/g, '_')}-${h}`;
}

/** What the watchdog kills for a runtime, and the cgroup parent of fenceable sandboxes (undefined: no watchdog). */
export function watchdogPlanFor(runtime: { name: string; stateDir?: unknown }, nodeName: string, dataDir: string): { targets: WatchdogTarget[]; cgroupParent?: string } | undefined {
  if (runtime.name === 'process' && typeof runtime.stateDir === 'string') {
    return { targets: [{ kind: 'pidfiles', dir: join(runtime.stateDir, 'fence') }] };
  }
  if (runtime.name === 'containerd') {
    const parent = fencedCgroupParent(nodeName, dataDir);
    const roots = cgroupMountPoints();
    if (roots.length === 0) return undefined;
    return { targets: roots.map((r) => ({ kind: 'cgroup', dir: join(r, parent) })), cgroupParent: parent };
  }
  return undefined;
}

function writeAtomic(path: string, text: string, mode?: number): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, text, mode === undefined ? undefined : { mode });
  renameSync(tmp, path);
}

function alive(pid: number, start: number): boolean {
  return pid > 0 && procStartTime(pid) === start && readProcState(pid) !== 'Z';
}

function readProcState(pid: number): string | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'latin1');
    return text.slice(text.lastIndexOf(')') + 2, text.lastIndexOf(')') + 3);
  } catch {
    return undefined;
  }
}

export interface FenceWatchdogOptions {
  /** The watchdog's directory (<agent data dir>/fence-watchdog). */
  dir: string;
  logger: Logger;
  /** What it kills once the deadline has passed. */
  targets: readonly WatchdogTarget[];
  /** Exit once the deadline has been past this long (default 600 s; 0: never). */
  lingerSeconds?: number;
  /** The shell (default /bin/sh). */
  shell?: string;
}

export interface FenceWatchdogStatus {
  pid: number;
  /** Reused: it was running when the agent started. */
  reused: boolean;
  state: WatchdogState['mode'] | 'none';
  /** The kill time written last (boot clock, ms). */
  killAtMs?: number;
}

/** The agent's handle on its watchdog process (see the header). */
export class FenceWatchdog {
  readonly dir: string;
  private pid = 0;
  private start = 0;
  private reused = false;
  private last: WatchdogState | undefined;
  private readonly scriptPath: string;
  private readonly shell: string;

  private constructor(
    private readonly o: FenceWatchdogOptions,
    private readonly script: string,
  ) {
    this.dir = resolve(o.dir);
    this.shell = o.shell ?? '/bin/sh';
    const hash = createHash('sha256').update(script).digest('hex').slice(0, 12);
    this.scriptPath = join(this.dir, `watchdog-${hash}.sh`);
  }

  /** Start the watchdog, or reuse the one running for this directory. Throws when it cannot run. */
  static start(o: FenceWatchdogOptions): FenceWatchdog {
    if (uptimeMs() === undefined) throw new Error('the fence watchdog needs /proc/uptime (Linux)');
    const w = new FenceWatchdog(o, readFileSync(SCRIPT_SOURCE, 'utf8'));
    w.ensure();
    return w;
  }

  /** The pid of the watchdog process. */
  get processId(): number {
    return this.pid;
  }

  status(): FenceWatchdogStatus {
    const s = this.last;
    return { pid: this.pid, reused: this.reused, state: s?.mode ?? 'none', killAtMs: s?.mode === 'armed' ? s.deadlineCs * 10 : undefined };
  }

  /** Whether the watchdog process runs. */
  running(): boolean {
    return alive(this.pid, this.start);
  }

  /**
   * Kill the targets in `inMs` milliseconds (from now, on any clock: the boot-clock deadline is
   * now + inMs, rounded down) unless armed again before. Restarts the watchdog if it died.
   */
  arm(inMs: number): void {
    const now = uptimeMs();
    if (now === undefined) return;
    this.write({
      mode: 'armed',
      deadlineCs: Math.floor((now + inMs) / 10),
      bootId: currentBootId(),
      lingerSeconds: this.o.lingerSeconds ?? DEFAULT_LINGER_SECONDS,
      targets: this.o.targets,
    });
  }

  /** Kill nothing (the node's fenceable pods are stopped). */
  disarm(): void {
    this.write({ mode: 'disarmed' });
  }

  /** Tell the watchdog to exit, and wait for it (at most timeoutMs; then SIGTERM). */
  async stop(timeoutMs = 3000): Promise<void> {
    writeAtomic(join(this.dir, STATE), renderWatchdogState({ mode: 'stop' }));
    this.last = { mode: 'stop' };
    const until = Date.now() + timeoutMs;
    while (this.running() && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    if (this.running()) {
      try {
        process.kill(this.pid, 'SIGTERM');
      } catch {
        // gone
      }
    }
    rmSync(join(this.dir, PIDFILE), { force: true });
  }

  private write(s: WatchdogState): void {
    if (!existsSync(this.dir)) mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    writeAtomic(join(this.dir, STATE), renderWatchdogState(s));
    this.last = s;
    if (!this.running()) {
      this.o.logger.warn('the fence watchdog is not running; starting it again', { dir: this.dir, pid: this.pid });
      this.ensure();
    }
  }

  /** Reuse the running watchdog of this version, or start one (and retire an older version). */
  private ensure(): void {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    if (!existsSync(this.scriptPath)) writeAtomic(this.scriptPath, this.script, 0o644);
    const want = [this.shell, this.scriptPath, this.dir];
    const held = readPidFile(join(this.dir, PIDFILE));
    let old: number | undefined;
    if (held && alive(held.pid, held.start)) {
      const cmd = cmdline(held.pid);
      if (cmd && cmd.length === want.length && cmd.every((a, i) => a === want[i])) {
        this.pid = held.pid;
        this.start = held.start;
        this.reused = true;
        this.o.logger.info('fence watchdog running; reusing it', { pid: this.pid, dir: this.dir });
        return;
      }
      // Another version of the script watching this directory: replaced below.
      if (cmd && cmd[cmd.length - 1] === this.dir && /\/watchdog-[0-9a-f]+\.sh$/.test(cmd[cmd.length - 2] ?? '')) old = held.pid;
    }
    const child = spawn(this.shell, [this.scriptPath, this.dir], { detached: true, stdio: 'ignore', cwd: '/' });
    child.on('error', (e) => this.o.logger.error('the fence watchdog failed', { error: e.message }));
    child.unref();
    // Read the start time before returning to the event loop: the child cannot be reaped before.
    const pid = child.pid ?? 0;
    const start = pid ? procStartTime(pid) : undefined;
    if (!pid || start === undefined) throw new Error(`could not start the fence watchdog (${this.shell} ${this.scriptPath})`);
    this.pid = pid;
    this.start = start;
    this.reused = false;
    writeAtomic(join(this.dir, PIDFILE), `${pid} ${start}\n`);
    this.o.logger.info('fence watchdog started', { pid, dir: this.dir });
    if (old !== undefined) {
      try {
        process.kill(old, 'SIGTERM');
      } catch {
        // gone meanwhile
      }
    }
    for (const f of readdirSync(this.dir)) {
      if (/^watchdog-[0-9a-f]+\.sh$/.test(f) && join(this.dir, f) !== this.scriptPath) rmSync(join(this.dir, f), { force: true });
    }
  }
}

function readPidFile(path: string): { pid: number; start: number } | undefined {
  try {
    const [pid, start] = readFileSync(path, 'utf8').trim().split(/\s+/).map(Number);
    return pid && Number.isFinite(start) ? { pid, start: start! } : undefined;
  } catch {
    return undefined;
  }
}

/**
 * What the watchdog of `dir` did since it was last asked (its log, which is then rotated to
 * watchdog.log.1): the agent reports it when it starts — kills while it was away.
 */
export function takeWatchdogLog(dir: string): string[] {
  const path = join(dir, LOG);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return [];
  }
  try {
    renameSync(path, `${path}.1`);
  } catch {
    // keep it
  }
  return text.split('\n').filter((l) => l.trim() !== '');
}

/** Retire the watchdog of `dir`, if one runs (an agent started without fencing). */
export async function retireFenceWatchdog(dir: string, timeoutMs = 3000): Promise<boolean> {
  const held = readPidFile(join(dir, PIDFILE));
  if (!held || !alive(held.pid, held.start)) return false;
  const cmd = cmdline(held.pid);
  if (!cmd || cmd[cmd.length - 1] !== resolve(dir)) return false;
  writeAtomic(join(dir, STATE), renderWatchdogState({ mode: 'stop' }));
  const until = Date.now() + timeoutMs;
  while (alive(held.pid, held.start) && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
  if (alive(held.pid, held.start)) {
    try {
      process.kill(held.pid, 'SIGTERM');
    } catch {
      // gone
    }
  }
  rmSync(join(dir, PIDFILE), { force: true });
  return true;
}
