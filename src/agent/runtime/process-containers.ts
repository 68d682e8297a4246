// Process runtime records, the container shim, container root set-up and record→status conversion.
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, rmSync, rmdirSync, statSync, symlinkSync } from 'node:fs';
import type net from 'node:net';
import { dirname, join, resolve } from 'node:path';
import type { Logger } from '../../util/log.ts';
import type { ContainerOutput } from './process-log.ts';
import { DEFAULT_PATH, bootId, readProcStat, underRoot } from './process-util.ts';
import {
  RuntimeError,
  type ContainerConfig,
  type ContainerStatus,
  type PodSandboxConfig,
  type SandboxState,
  type SandboxStatus,
} from './types.ts';

export interface SandboxRecord {
  id: string;
  config: PodSandboxConfig;
  /** null for hostNetwork pods (they share the host's addresses, 127.0.0.1 included). */
  ip: string | null;
  createdAt: number;
  state: SandboxState;
  bootId: string;
  /** Log files of this sandbox's removed containers: deleted with the sandbox. */
  logFiles: string[];
}

export interface ContainerRecord {
  id: string;
  sandboxId: string;
  config: ContainerConfig;
  imageRef: string;
  logPath: string;
  argv: string[];
  env: Record<string, string>;
  cwd: string;
  root: string;
  uid?: number;
  gid?: number;
  createdAt: number;
  state: 'created' | 'running' | 'exited';
  /** The shim's pid (= the container's process group) and its /proc start time. */
  pid: number;
  pidStart: number;
  bootId: string;
  startedAt: number;
  finishedAt: number;
  exitCode: number;
  reason: string;
  message: string;
  /** stdinOnce: the first attach has ended (or the agent that held stdin restarted). */
  stdinClosed?: boolean;
}

export interface Live {
  rec: ContainerRecord;
  child?: ChildProcess;
  childExit?: { code: number | null; signal: NodeJS.Signals | null };
  output?: ContainerOutput;
  stdin?: net.Socket;
  finalizing?: Promise<void>;
  killedByUs?: boolean;
  exitWaiters: Set<(code: number) => void>;
}

// The shim (see the header). $0 is its name; positional: dir out err in hold-stdin -- program…
export const SHIM = [
  'd=$1 out=$2 err=$3 in=$4 hold=$5',
  'shift 6',
  'trap : TERM INT HUP QUIT',
  // "<pgid> <start time>" for the fence watchdog, before the program runs (fence-watchdog.ts).
  'kennel_pg() { shift 19; echo "$$ $1" >"$d/pgid"; }',
  '{ read -r s </proc/$$/stat && kennel_pg ${s##*")"}; } 2>/dev/null || :',
  'exec 3<>"$out" 4<>"$err" || exit 125',
  'if [ "$hold" = 1 ]; then exec 5<>"$in" || exit 125; fi',
  '"$@" <"$in" >"$out" 2>"$err" 3>&- 4>&- 5>&-',
  's=$?',
  'echo "$s" >"$d/exit"',
  'exit "$s"',
].join('\n');

export const delay = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export function newId(): string {
  return randomBytes(32).toString('hex');
}

export function exitReason(code: number): string {
  return code === 0 ? 'Completed' : 'Error';
}

export function errnoMessage(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  return e?.message ?? String(err);
}

let ownPgrp: number | undefined;
export function agentProcessGroup(): number {
  ownPgrp ??= readProcStat(process.pid)?.pgrp ?? -1;
  return ownPgrp;
}

/**
 * Mounts cannot be bind-mounted without root (and never at host paths): each mount's
 * containerPath becomes a symlink to its hostPath inside the container's root directory.
 */
export function linkMounts(log: Logger, pod: string, root: string, config: ContainerConfig, sandboxConfig: PodSandboxConfig): void {
  const mounts = [...config.mounts].sort((a, b) => depth(a.containerPath) - depth(b.containerPath));
  const linked = new Set<string>();
  for (const m of mounts) {
    const target = underRoot(root, m.containerPath);
    if (target === null || target === root) {
      throw new RuntimeError('CreateContainerError', `invalid mount point ${JSON.stringify(m.containerPath)}`);
    }
    if (insideLink(root, target)) {
      log.warn('mount inside another mount: not linked', { container: config.name, containerPath: m.containerPath });
      continue;
    }
    if (!existsSync(m.hostPath)) {
      // As containerd does for a bind mount whose source is missing.
      try {
        mkdirSync(m.hostPath, { recursive: true });
      } catch (err) {
        throw new RuntimeError('CreateContainerError', `failed to create the mount source ${m.hostPath}: ${errnoMessage(err)}`);
      }
    }
    mkdirSync(dirname(target), { recursive: true });
    rmSync(target, { recursive: true, force: true });
    symlinkSync(m.hostPath, target);
    linked.add(target);
  }
  // The pod's own files, unless a mount provides them.
  const extra: [string, string][] = [
    ['etc/hostname', join(pod, 'hostname')],
    ['etc/resolv.conf', join(pod, 'resolv.conf')],
  ];
  if (sandboxConfig.hostsFile && sandboxConfig.hostsFile.startsWith('/')) extra.push(['etc/hosts', sandboxConfig.hostsFile]);
  for (const [rel, src] of extra) {
    const target = join(root, rel);
    if (linked.has(target) || !existsSync(src) || insideLink(root, target)) continue;
    mkdirSync(dirname(target), { recursive: true });
    if (!lexists(target)) symlinkSync(src, target);
  }
}

/** workingDir: inside a mount → through its link; on the host → as is; else made under root. */
export function workingDir(root: string, config: ContainerConfig): string {
  const wd = config.workingDir;
  if (!wd) return root;
  const inRoot = underRoot(root, wd);
  if (inRoot === null) throw new RuntimeError('CreateContainerError', `invalid working directory ${JSON.stringify(wd)}`);
  const covered = config.mounts.some((m) => {
    const mp = m.containerPath.replace(/\/+$/, '');
    return wd === mp || wd.startsWith(mp + '/');
  });
  if (!covered && wd.startsWith('/')) {
    try {
      if (statSync(wd).isDirectory()) return wd;
    } catch {
      // not on the host
    }
  }
  try {
    mkdirSync(inRoot, { recursive: true });
  } catch (err) {
    throw new RuntimeError('CreateContainerError', `failed to create the working directory ${wd}: ${errnoMessage(err)}`);
  }
  return inRoot;
}

export function containerEnv(config: ContainerConfig, sb: SandboxRecord, root: string): Record<string, string> {
  const env: Record<string, string> = {
    PATH: DEFAULT_PATH,
    HOSTNAME: sb.config.hostname || sb.config.name,
    HOME: root,
    KENNEL_POD_IP: sb.ip ?? '127.0.0.1',
    KENNEL_ROOT: root,
  };
  for (const kv of config.envs) env[kv.key] = kv.value;
  return env;
}

export function status(rec: ContainerRecord): ContainerStatus {
  return {
    id: rec.id,
    sandboxId: rec.sandboxId,
    name: rec.config.name,
    attempt: rec.config.attempt,
    image: rec.config.image,
    imageRef: rec.imageRef,
    state: rec.state,
    createdAt: rec.createdAt,
    startedAt: rec.startedAt,
    finishedAt: rec.finishedAt,
    exitCode: rec.exitCode,
    reason: rec.reason,
    message: rec.message,
    logPath: rec.logPath,
    labels: { ...rec.config.labels },
    annotations: { ...rec.config.annotations },
  };
}

export function sandboxStatus(sb: SandboxRecord): SandboxStatus {
  const c = sb.config;
  return {
    id: sb.id,
    // After a reboot nothing of the pod runs any more: it needs a new sandbox.
    state: sb.bootId === bootId() ? sb.state : 'notready',
    ips: sb.ip ? [sb.ip] : [],
    createdAt: sb.createdAt,
    uid: c.uid,
    name: c.name,
    namespace: c.namespace,
    attempt: c.attempt,
    labels: { ...c.labels },
    annotations: { ...c.annotations },
  };
}

export function resolvConf(d: { servers: string[]; searches: string[]; options: string[] }): string {
  const lines = d.servers.map((s) => `nameserver ${s}`);
  if (d.searches.length) lines.push(`search ${d.searches.join(' ')}`);
  if (d.options.length) lines.push(`options ${d.options.join(' ')}`);
  return lines.join('\n') + '\n';
}

export function depth(p: string): number {
  return p.split('/').filter(Boolean).length;
}

export function lexists(p: string): boolean {
  try {
    lstatSync(p);
    return true;
  } catch {
    return false;
  }
}

/** True when a parent of `target` below `root` is a symlink (i.e. inside another mount). */
export function insideLink(root: string, target: string): boolean {
  let p = dirname(target);
  while (p.length > root.length && p.startsWith(root)) {
    try {
      if (lstatSync(p).isSymbolicLink()) return true;
    } catch {
      // does not exist yet
    }
    p = dirname(p);
  }
  return false;
}

/** rmdir `dir` and its parents while empty, stopping at `stop` (exclusive). */
export function removeEmptyDirs(dir: string, stop: string): void {
  let d = resolve(dir);
  const end = resolve(stop);
  while (d !== end && d.startsWith(end + '/')) {
    try {
      rmdirSync(d);
    } catch {
      return;
    }
    d = dirname(d);
  }
}
