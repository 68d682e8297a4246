// Exec sessions and terminals of the process runtime. A command run "in" a container is a new
// host process with the container's working directory and environment, in its own process
// group (so a timeout or a closed session kills everything it started). A terminal (tty) is a
// pseudo-terminal from util-linux `script`; its window size is set from outside with
// `stty -F /proc/<pid>/fd/0`, which makes the kernel send SIGWINCH to the program.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { PassThrough } from 'node:stream';
import { constants as osConstants } from 'node:os';
import type { ExecOptions, ExecSyncResult, StreamSession } from './types.ts';
import { findHelper, shQuote, signal } from './process-util.ts';

export interface ExecContext {
  cwd: string;
  env: Record<string, string>;
  uid?: number;
  gid?: number;
}

export interface Helpers {
  script: string | null;
  stty: string | null;
  env: string | null;
  mkfifo: string | null;
}

let helperCache: Helpers | undefined;
export function helpers(): Helpers {
  helperCache ??= { script: findHelper('script'), stty: findHelper('stty'), env: findHelper('env'), mkfifo: findHelper('mkfifo') };
  return helperCache;
}

/** Exit code as a shell reports it: the code, or 128 + the signal number. */
export function exitCodeOf(code: number | null, sig: NodeJS.Signals | null): number {
  if (code !== null) return code;
  if (sig) return 128 + (osConstants.signals[sig] ?? 0);
  return 255;
}

/**
 * The argv that runs `argv` on a pseudo-terminal: `script` runs `$SHELL -c <string>`, so SHELL
 * is pinned to /bin/sh for script and restored for the program; the shell first writes its pid
 * (the session leader on the terminal) to `pidFile`, then execs the program.
 */
export function ttyArgv(scriptPath: string, envPath: string, argv: string[], pidFile: string, shellEnv: string | undefined): string[] {
  const restore = shellEnv === undefined ? 'unset SHELL' : `SHELL=${shQuote(shellEnv)}`;
  const inner = `echo $$ >${shQuote(pidFile)}; ${restore}; exec ${argv.map(shQuote).join(' ')}`;
  return [envPath, 'SHELL=/bin/sh', scriptPath, '-qefc', inner, '/dev/null'];
}

/** Set a terminal's size through the tty of `pid` (best effort). */
export function resizeTty(pid: number, width: number, height: number): Promise<boolean> {
  const stty = helpers().stty;
  if (!stty || !(pid > 0)) return Promise.resolve(false);
  return new Promise((resolve) => {
    const c = spawn(stty, ['-F', `/proc/${pid}/fd/0`, 'rows', String(Math.max(0, Math.floor(height))), 'cols', String(Math.max(0, Math.floor(width)))], {
      stdio: 'ignore',
    });
    c.on('error', () => resolve(false));
    c.on('exit', (code) => resolve(code === 0));
  });
}

/** Read a pid file written by a tty shell, polling briefly while it does not exist yet. */
export async function waitPidFile(path: string, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const pid = Number(readFileSync(path, 'utf8').trim());
      if (pid > 0) return pid;
    } catch {
      // not yet
    }
    if (Date.now() >= deadline) return 0;
    await new Promise((r) => setTimeout(r, 10));
  }
}

function spawnIn(ctx: ExecContext, file: string, args: string[], stdio: ('pipe' | 'ignore')[]): ChildProcess {
  return spawn(file, args, {
    cwd: ctx.cwd,
    env: ctx.env,
    detached: true, // own process group: killed as a whole
    stdio,
    ...(ctx.uid !== undefined ? { uid: ctx.uid, gid: ctx.gid ?? 0 } : {}),
  });
}

/**
 * The exit code once the process has exited and its output is drained: at most `drainMs` after
 * the exit, so a background child that keeps stdout open does not hold the session forever.
 */
function exitAndDrain(child: ChildProcess, drainMs = 500): Promise<number> {
  return new Promise((resolve) => {
    let code = 255;
    let timer: NodeJS.Timeout | undefined;
    const done = () => {
      if (timer) clearTimeout(timer);
      resolve(code);
    };
    child.once('close', done);
    child.once('exit', (c, sig) => {
      code = exitCodeOf(c, sig);
      timer = setTimeout(() => {
        child.stdout?.destroy();
        child.stderr?.destroy();
        child.removeListener('close', done);
        done();
      }, drainMs);
    });
  });
}

function waitSpawn(child: ChildProcess): Promise<void> {
  return new Promise((resolve, reject) => {
    child.once('spawn', () => resolve());
    child.once('error', reject);
  });
}

/** Run a command to completion, collecting its output (probes, `kubectl exec` without streams). */
export async function execCollect(ctx: ExecContext, argv: string[], timeoutSeconds: number, maxOutput = 16 * 1024 * 1024): Promise<ExecSyncResult> {
  const child = spawnIn(ctx, argv[0]!, argv.slice(1), ['ignore', 'pipe', 'pipe']);
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  let outLen = 0;
  let errLen = 0;
  child.stdout!.on('data', (b: Buffer) => {
    if (outLen < maxOutput) out.push(b.subarray(0, maxOutput - outLen));
    outLen += b.length;
  });
  child.stderr!.on('data', (b: Buffer) => {
    if (errLen < maxOutput) err.push(b.subarray(0, maxOutput - errLen));
    errLen += b.length;
  });
  let timedOut = false;
  const exited = exitAndDrain(child);
  await waitSpawn(child);
  const timer =
    timeoutSeconds > 0
      ? setTimeout(() => {
          timedOut = true;
          if (!signal(-child.pid!, 'SIGKILL')) signal(child.pid!, 'SIGKILL');
        }, timeoutSeconds * 1000)
      : undefined;
  const exitCode = await exited;
  if (timer) clearTimeout(timer);
  return { exitCode, stdout: Buffer.concat(out), stderr: Buffer.concat(err), timedOut };
}

/** A streaming exec session (kubectl exec): pipes, or a terminal when opts.tty. */
export async function execStream(
  ctx: ExecContext,
  argv: string[],
  opts: ExecOptions,
  ttyPidFile: string,
  onEnd: () => void,
): Promise<StreamSession> {
  const h = helpers();
  let child: ChildProcess;
  if (opts.tty) {
    if (!h.script || !h.env) throw new Error('a terminal needs util-linux `script`, which is not installed');
    const [file, ...args] = ttyArgv(h.script, h.env, argv, ttyPidFile, ctx.env.SHELL);
    child = spawnIn(ctx, file!, args, [opts.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe']);
  } else {
    child = spawnIn(ctx, argv[0]!, argv.slice(1), [opts.stdin ? 'pipe' : 'ignore', opts.stdout ? 'pipe' : 'ignore', opts.stderr ? 'pipe' : 'ignore']);
  }
  await waitSpawn(child);
  const pgid = child.pid!;
  let stdout: PassThrough | undefined;
  let stderr: PassThrough | undefined;
  if (opts.tty) {
    // One stream on a terminal: script's own complaints go with it.
    stdout = new PassThrough();
    let open = 2;
    const done = () => {
      if (--open === 0) stdout!.end();
    };
    for (const r of [child.stdout!, child.stderr!]) {
      r.on('data', (b: Buffer) => {
        if (opts.stdout) stdout!.write(b);
      });
      r.on('close', done);
    }
  } else {
    if (child.stdout) {
      stdout = new PassThrough();
      child.stdout.pipe(stdout);
    }
    if (child.stderr) {
      stderr = new PassThrough();
      child.stderr.pipe(stderr);
    }
  }
  child.stdin?.on('error', () => {
    // the program closed its stdin
  });
  let running = true;
  child.once('exit', () => {
    running = false;
  });
  const exitCode = exitAndDrain(child).then((code) => {
    running = false;
    stdout?.end();
    stderr?.end();
    if (opts.tty) rmSync(ttyPidFile, { force: true });
    onEnd();
    return code;
  });
  let ttyPid = 0;
  let pendingSize: [number, number] | null = null;
  let resizing = false;
  const applySize = async () => {
    if (resizing) return;
    resizing = true;
    try {
      if (!ttyPid) ttyPid = await waitPidFile(ttyPidFile, 2000);
      while (pendingSize && running && ttyPid) {
        const [w, hgt] = pendingSize;
        pendingSize = null;
        await resizeTty(ttyPid, w, hgt);
      }
    } finally {
      resizing = false;
    }
  };
  return {
    stdin: child.stdin ?? undefined,
    stdout: opts.stdout ? stdout : undefined,
    stderr: opts.stderr && !opts.tty ? stderr : undefined,
    resize: (width, height) => {
      if (!opts.tty) return;
      pendingSize = [width, height];
      void applySize();
    },
    exitCode,
    close: () => {
      if (!running) return;
      signal(-pgid, 'SIGKILL');
      if (ttyPid) signal(-ttyPid, 'SIGKILL');
      else {
        try {
          const p = Number(readFileSync(ttyPidFile, 'utf8').trim());
          if (p > 0) signal(-p, 'SIGKILL');
        } catch {
          // no terminal shell yet
        }
      }
    },
  };
}
