// Helpers of the process runtime: /proc (is a pid still the process we started, descendants),
// PATH look-up with the container's environment, image-name syntax, shell quoting and atomic
// JSON files.
import { accessSync, constants, readFileSync, readdirSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';

export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

// -- /proc

export interface ProcStat {
  pid: number;
  /** One-letter state (R, S, D, Z, T …). */
  state: string;
  ppid: number;
  pgrp: number;
  session: number;
  /** Start time in clock ticks after boot (field 22). */
  startTime: number;
}

/** Parse /proc/<pid>/stat; null when the process does not exist. */
export function readProcStat(pid: number): ProcStat | null {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'latin1');
  } catch {
    return null;
  }
  return parseProcStat(pid, text);
}

export function parseProcStat(pid: number, text: string): ProcStat | null {
  // The command name (field 2) is in parentheses and may itself contain spaces and ')'.
  const close = text.lastIndexOf(')');
  if (close < 0) return null;
  const f = text.slice(close + 2).split(' ');
  // f[0] is field 3 (state); field n is f[n - 3].
  if (f.length < 20) return null;
  return {
    pid,
    state: f[0]!,
    ppid: Number(f[1]),
    pgrp: Number(f[2]),
    session: Number(f[3]),
    startTime: Number(f[19]),
  };
}

/** True when `pid` runs (not a zombie) and is the process that started at `startTime`. */
export function isProcessAlive(pid: number, startTime: number): boolean {
  if (!(pid > 0)) return false;
  const st = readProcStat(pid);
  return st !== null && st.startTime === startTime && st.state !== 'Z' && st.state !== 'X';
}

/** Every process below `root` (children, grandchildren …), found by scanning /proc. */
export function descendants(root: number): ProcStat[] {
  const byParent = new Map<number, ProcStat[]>();
  let names: string[];
  try {
    names = readdirSync('/proc');
  } catch {
    return [];
  }
  for (const name of names) {
    const pid = Number(name);
    if (!Number.isInteger(pid) || pid <= 0) continue;
    const st = readProcStat(pid);
    if (!st) continue;
    const list = byParent.get(st.ppid);
    if (list) list.push(st);
    else byParent.set(st.ppid, [st]);
  }
  const out: ProcStat[] = [];
  const queue = [root];
  const seen = new Set<number>([root]);
  while (queue.length > 0) {
    const p = queue.shift()!;
    for (const child of byParent.get(p) ?? []) {
      if (seen.has(child.pid)) continue;
      seen.add(child.pid);
      out.push(child);
      queue.push(child.pid);
    }
  }
  return out;
}

/** process.kill that ignores ESRCH (already gone); returns whether the signal was delivered. */
export function signal(pidOrGroup: number, sig: NodeJS.Signals): boolean {
  try {
    process.kill(pidOrGroup, sig);
    return true;
  } catch {
    return false;
  }
}

let bootIdCache: string | undefined;
/** The kernel's boot id: tells a restarted agent whether the machine rebooted meanwhile. */
export function bootId(): string {
  if (bootIdCache === undefined) {
    try {
      bootIdCache = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    } catch {
      bootIdCache = '';
    }
  }
  return bootIdCache;
}

// -- executables

export type LookPathResult = { path: string } | { error: string };

function isExecutableFile(p: string): 'ok' | 'missing' | 'notfile' | 'denied' {
  let st;
  try {
    st = statSync(p);
  } catch {
    return 'missing';
  }
  if (!st.isFile()) return 'notfile';
  try {
    accessSync(p, constants.X_OK);
    return 'ok';
  } catch {
    return 'denied';
  }
}

/**
 * Resolve a command as execvp would with the container's PATH and working directory, and word
 * failures as Go's exec/runc do (which is what Kubernetes users see from containerd).
 */
export function lookPath(cmd: string, pathEnv: string, cwd: string): LookPathResult {
  if (cmd === '') return { error: 'exec: "": executable file not found in $PATH' };
  if (cmd.includes('/')) {
    const p = isAbsolute(cmd) ? cmd : resolve(cwd, cmd);
    const r = isExecutableFile(p);
    if (r === 'ok') return { path: p };
    if (r === 'missing') return { error: `exec: "${cmd}": stat ${cmd}: no such file or directory` };
    if (r === 'notfile') return { error: `exec: "${cmd}": is a directory` };
    return { error: `exec: "${cmd}": permission denied` };
  }
  for (const dir of pathEnv.split(':')) {
    const p = resolve(cwd, dir === '' ? '.' : dir, cmd);
    if (isExecutableFile(p) === 'ok') return { path: p };
  }
  return { error: `exec: "${cmd}": executable file not found in $PATH` };
}

/** Find a helper program (script, env, stty, mkfifo) on the agent's own PATH. */
export function findHelper(name: string): string | null {
  const r = lookPath(name, process.env.PATH || DEFAULT_PATH, '/');
  return 'path' in r ? r.path : null;
}

// -- image names

const COMPONENT = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*';
const DOMAIN_LABEL = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const DOMAIN = `(?:${DOMAIN_LABEL}(?:\\.${DOMAIN_LABEL})*|\\[[0-9a-fA-F:.]+\\])(?::[0-9]+)?`;
const TAG = '[\\w][\\w.-]{0,127}';
const DIGEST = '[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}';
const REFERENCE = new RegExp(`^(?:(${DOMAIN})/)?(${COMPONENT}(?:/${COMPONENT})*)(?::(${TAG}))?(?:@(${DIGEST}))?$`);

/**
 * Check an image reference's syntax (the distribution reference grammar the kubelet applies
 * before pulling). Returns the kubelet's message for an invalid name, or null when valid.
 */
export function invalidImageName(image: string): string | null {
  const bad = `Failed to apply default image tag "${image}": couldn't parse image reference "${image}": invalid reference format`;
  if (image === '' || image.length > 255 + 128 + 80) return bad;
  const m = REFERENCE.exec(image);
  if (!m) {
    // Upper case in the path is the usual mistake: Go words it separately.
    if (REFERENCE.exec(image.toLowerCase())) {
      return `Failed to apply default image tag "${image}": couldn't parse image reference "${image}": invalid reference format: repository name must be lowercase`;
    }
    return bad;
  }
  const name = (m[1] ? m[1] + '/' : '') + m[2]!;
  if (name.length > 255) return bad;
  return null;
}

// -- shell quoting and files

/** Quote a word for /bin/sh. */
export function shQuote(s: string): string {
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(s)) return s;
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** Write JSON through a temporary file and rename, so a reader never sees half a file. */
export function writeJsonAtomic(path: string, value: unknown): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, JSON.stringify(value));
  renameSync(tmp, path);
}

export function readJson<T>(path: string): T | null {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as T;
  } catch {
    return null;
  }
}

/** The primary group of a uid in the host's /etc/passwd (0 when unknown). */
export function primaryGroup(uid: number): number {
  try {
    for (const line of readFileSync('/etc/passwd', 'utf8').split('\n')) {
      const f = line.split(':');
      if (f.length >= 4 && Number(f[2]) === uid && f[2] !== '') return Number(f[3]) || 0;
    }
  } catch {
    // no passwd file: group 0
  }
  return 0;
}

/** Join a container path onto a root directory, refusing `..` escapes. */
export function underRoot(root: string, containerPath: string): string | null {
  const parts = containerPath.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.some((p) => p === '..')) return null;
  return parts.length === 0 ? root : join(root, ...parts);
}
