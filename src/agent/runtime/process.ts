// The process runtime: for machines without containerd or root, every container is a host
// process. The image is only recorded; the command runs from the host's filesystem with the
// container's environment, in a directory of its own, and the pod gets a 127.x.y.z address.
//
// State (everything under <dataDir>/process-runtime):
//   sandboxes/<id>.json        pod sandbox records
//   pods/<id>/                 per-pod files (hostname, resolv.conf)
//   containers/<id>/           container.json, the FIFOs out, err, in, the shim's exit file,
//                              shim.log, main (pid of a tty program) and root/ — the
//                              container's own directory: default working dir and HOME, with
//                              each mount's containerPath as a symlink to its hostPath
//   ips/<127.a.b.c>            pod IP registry (process-ips.ts)
//   images.json                recorded images
//   runtime.lock               pid of the agent using this state dir
//
// A container is started through a small /bin/sh shim, detached from the agent (its own
// session and process group):
//   sh -c SHIM kennel-shim <dir> <out> <err> <in> <hold-stdin> -- <program…>
// The shim ignores the stop signals sent to its group (a trap, so the program gets the default
// dispositions back), holds both ends of the output FIFOs so the program never gets EPIPE while
// no agent reads them, runs the program in the foreground and writes its exit status to
// <dir>/exit. So a restarted agent knows how a container ended while it was away: it adopts
// a container whose shim pid is alive with the recorded start time (/proc/<pid>/stat), and
// reads the exit file of one that ended. While the agent is away, output waits in the FIFOs
// (64 KiB each); beyond that the program blocks on write until an agent reads again.
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  chownSync,
  closeSync,
  constants,
  existsSync,
  lstatSync,
  mkdirSync,
  openSync,
  readFileSync,
  readdirSync,
  rmSync,
  rmdirSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import net from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { PassThrough } from 'node:stream';
import { silentLogger, type Logger } from '../../util/log.ts';
import { ContainerOutput } from './process-log.ts';
import { PodIpRegistry } from './process-ips.ts';
import { execCollect, execStream, exitCodeOf, helpers, resizeTty, ttyArgv, waitPidFile, type ExecContext } from './process-exec.ts';
import {
  DEFAULT_PATH,
  bootId,
  descendants,
  invalidImageName,
  isProcessAlive,
  lookPath,
  primaryGroup,
  readJson,
  readProcStat,
  signal,
  underRoot,
  writeJsonAtomic,
} from './process-util.ts';
import {
  RuntimeError,
  type AuthConfig,
  type ContainerConfig,
  type ContainerStatus,
  type ExecOptions,
  type ExecSyncResult,
  type ImageRef,
  type PodSandboxConfig,
  type Runtime,
  type SandboxState,
  type SandboxStatus,
  type StreamSession,
} from './types.ts';

export const PROCESS_RUNTIME_NAME = 'kennel-process';
export const PROCESS_RUNTIME_VERSION = '0.1.0';

export interface ProcessRuntimeOptions {
  /** kennel's data dir; the runtime keeps its state in <dataDir>/process-runtime. */
  dataDir: string;
  /**
   * The pod IP registry directory. Agents on one host that must not hand out the same
   * 127.x.y.z address share one (e.g. /run/kennel/ips); default <stateDir>/ips.
   */
  ipRegistryDir?: string;
  logger?: Logger;
  now?: () => number;
  /** How often running containers are checked for an exit the agent did not see (ms); default 1000. */
  pollIntervalMs?: number;
}

interface SandboxRecord {
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

interface ContainerRecord {
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

interface Live {
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
const SHIM = [
  'd=$1 out=$2 err=$3 in=$4 hold=$5',
  'shift 6',
  'trap : TERM INT HUP QUIT',
  'exec 3<>"$out" 4<>"$err" || exit 125',
  'if [ "$hold" = 1 ]; then exec 5<>"$in" || exit 125; fi',
  '"$@" <"$in" >"$out" 2>"$err" 3>&- 4>&- 5>&-',
  's=$?',
  'echo "$s" >"$d/exit"',
  'exit "$s"',
].join('\n');

const delay = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function newId(): string {
  return randomBytes(32).toString('hex');
}

function exitReason(code: number): string {
  return code === 0 ? 'Completed' : 'Error';
}

function errnoMessage(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  return e?.message ?? String(err);
}

let ownPgrp: number | undefined;
function agentProcessGroup(): number {
  ownPgrp ??= readProcStat(process.pid)?.pgrp ?? -1;
  return ownPgrp;
}

export class ProcessRuntime implements Runtime {
  readonly name = 'process' as const;
  /** <dataDir>/process-runtime */
  readonly stateDir: string;
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly ips: PodIpRegistry;
  private readonly sandboxes = new Map<string, SandboxRecord>();
  private readonly containers = new Map<string, Live>();
  private images: Record<string, ImageRef> = {};
  private readonly sessions = new Set<StreamSession>();
  private readonly timer: NodeJS.Timeout;
  private readonly isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  private closed = false;

  constructor(opts: ProcessRuntimeOptions) {
    this.stateDir = resolve(opts.dataDir, 'process-runtime');
    this.log = opts.logger ?? silentLogger;
    this.now = opts.now ?? Date.now;
    for (const d of ['sandboxes', 'pods', 'containers']) mkdirSync(join(this.stateDir, d), { recursive: true });
    this.takeLock();
    this.ips = new PodIpRegistry(opts.ipRegistryDir ?? join(this.stateDir, 'ips'), this.stateDir);
    this.images = readJson<Record<string, ImageRef>>(join(this.stateDir, 'images.json')) ?? {};
    this.load();
    // Referenced: a runtime with containers to watch keeps the event loop alive until close().
    this.timer = setInterval(() => this.poll(), opts.pollIntervalMs ?? 1000);
  }

  // -- paths and persistence

  private sandboxFile(id: string): string {
    return join(this.stateDir, 'sandboxes', `${id}.json`);
  }
  private podDir(id: string): string {
    return join(this.stateDir, 'pods', id);
  }
  private containerDir(id: string): string {
    return join(this.stateDir, 'containers', id);
  }

  private saveSandbox(sb: SandboxRecord): void {
    if (!this.closed) writeJsonAtomic(this.sandboxFile(sb.id), sb);
  }
  private saveContainer(rec: ContainerRecord): void {
    if (this.closed || !existsSync(this.containerDir(rec.id))) return;
    writeJsonAtomic(join(this.containerDir(rec.id), 'container.json'), rec);
  }

  private takeLock(): void {
    const lock = join(this.stateDir, 'runtime.lock');
    const held = readJson<{ pid: number; start: number }>(lock);
    if (held && held.pid !== process.pid && isProcessAlive(held.pid, held.start)) {
      throw new Error(`another kennel agent (pid ${held.pid}) uses the process runtime state in ${this.stateDir}`);
    }
    writeJsonAtomic(lock, { pid: process.pid, start: readProcStat(process.pid)?.startTime ?? 0 });
  }

  /** Read every record back and adopt the containers that still run. */
  private load(): void {
    for (const f of readdirSync(join(this.stateDir, 'sandboxes'))) {
      if (!f.endsWith('.json')) continue;
      const sb = readJson<SandboxRecord>(join(this.stateDir, 'sandboxes', f));
      if (sb?.id) this.sandboxes.set(sb.id, sb);
    }
    for (const id of readdirSync(join(this.stateDir, 'containers'))) {
      const rec = readJson<ContainerRecord>(join(this.containerDir(id), 'container.json'));
      if (!rec?.id) continue;
      const c: Live = { rec, exitWaiters: new Set() };
      this.containers.set(rec.id, c);
      if (rec.state !== 'running') continue;
      if (this.alive(c)) this.adopt(c);
      else void this.finalize(c);
    }
  }

  private adopt(c: Live): void {
    const { rec } = c;
    const dir = this.containerDir(rec.id);
    try {
      c.output = new ContainerOutput(rec.logPath, { stdout: join(dir, 'out'), stderr: rec.config.tty ? undefined : join(dir, 'err') });
      c.output.ended.then(() => this.check(c));
    } catch (err) {
      this.log.warn('cannot read the output of an adopted container', { container: rec.id, err: errnoMessage(err) });
    }
    if (rec.config.stdin) {
      if (rec.config.stdinOnce) {
        // The agent that held the container's stdin is gone: the program has seen EOF.
        rec.stdinClosed = true;
        this.saveContainer(rec);
      } else {
        c.stdin = this.openStdin(rec);
      }
    }
    this.log.info('adopted running container', { container: rec.id, name: rec.config.name, pid: rec.pid });
  }

  private alive(c: Live): boolean {
    return c.rec.bootId === bootId() && isProcessAlive(c.rec.pid, c.rec.pidStart);
  }

  /** Notice exits of running containers (the agent's own children report at once; adopted ones here). */
  private poll(): void {
    for (const c of this.containers.values()) this.check(c);
  }

  private check(c: Live): void {
    if (c.rec.state === 'running' && !this.alive(c)) void this.finalize(c);
  }

  /** Record how a container ended: the shim's exit file, else what we know. */
  private finalize(c: Live): Promise<void> {
    if (c.finalizing) return c.finalizing;
    c.finalizing = (async () => {
      if (c.output && !c.output.isEnded) await Promise.race([c.output.ended, delay(500)]);
      const { rec } = c;
      if (rec.state !== 'running') return;
      const dir = this.containerDir(rec.id);
      let code: number | null = null;
      let finishedAt = this.now();
      try {
        const text = readFileSync(join(dir, 'exit'), 'utf8').trim();
        if (/^\d+$/.test(text)) {
          code = Number(text);
          if (!c.child) finishedAt = Math.min(finishedAt, Math.floor(statSync(join(dir, 'exit')).mtimeMs));
        }
      } catch {
        // no exit file
      }
      let message = '';
      if (code === null) {
        if (c.killedByUs) code = 137;
        else if (c.childExit) code = exitCodeOf(c.childExit.code, c.childExit.signal);
        else {
          code = 137;
          message = 'the process group ended while no agent watched it and left no exit status';
        }
        if (code === 125) message = this.shimLog(rec.id) || 'the container shim could not open its streams';
      }
      rec.state = 'exited';
      rec.exitCode = code;
      rec.reason = exitReason(code);
      rec.message = message;
      rec.finishedAt = finishedAt;
      if (!rec.startedAt) rec.startedAt = finishedAt;
      this.saveContainer(rec);
      c.stdin?.destroy();
      c.stdin = undefined;
      for (const w of c.exitWaiters) w(code);
      c.exitWaiters.clear();
      this.log.info('container exited', { container: rec.id, name: rec.config.name, exitCode: code });
    })();
    return c.finalizing;
  }

  private shimLog(id: string): string {
    try {
      return readFileSync(join(this.containerDir(id), 'shim.log'), 'utf8').trim().slice(-1024);
    } catch {
      return '';
    }
  }

  /** Bring a container's state up to date before reporting it. */
  private async refresh(c: Live): Promise<void> {
    if (c.rec.state === 'running' && (c.finalizing || !this.alive(c))) await this.finalize(c);
  }

  private openStdin(rec: ContainerRecord): net.Socket | undefined {
    try {
      // Read+write: never blocks, and the program's open of the FIFO finds a writer.
      const fd = openSync(join(this.containerDir(rec.id), 'in'), constants.O_RDWR | constants.O_NONBLOCK);
      const s = new net.Socket({ fd, readable: false, writable: true });
      s.on('error', () => {});
      return s;
    } catch (err) {
      this.log.warn('cannot open the stdin of a container', { container: rec.id, err: errnoMessage(err) });
      return undefined;
    }
  }

  // -- version and images

  async version(): Promise<{ runtimeName: string; runtimeVersion: string }> {
    return { runtimeName: PROCESS_RUNTIME_NAME, runtimeVersion: PROCESS_RUNTIME_VERSION };
  }

  async pullImage(image: string, _auth?: AuthConfig): Promise<ImageRef> {
    const bad = invalidImageName(image);
    if (bad) throw new RuntimeError('InvalidImageName', bad);
    const ref: ImageRef = { ref: image, size: 0 };
    if (!this.images[image]) {
      this.images[image] = ref;
      if (!this.closed) writeJsonAtomic(join(this.stateDir, 'images.json'), this.images);
    }
    return { ...ref };
  }

  /**
   * Every well-formed image is "present": the process runtime needs none, so imagePullPolicy
   * Never and IfNotPresent start pods without a pull (Always still records one).
   */
  async imageStatus(image: string): Promise<ImageRef | null> {
    const r = this.images[image];
    if (r) return { ...r };
    return invalidImageName(image) ? null : { ref: image, size: 0 };
  }

  // -- sandboxes

  async runPodSandbox(config: PodSandboxConfig): Promise<string> {
    const id = newId();
    const sb: SandboxRecord = {
      id,
      config: structuredClone(config),
      ip: null,
      createdAt: this.now(),
      state: 'ready',
      bootId: bootId(),
      logFiles: [],
    };
    // The record exists before the address is taken, so the registry never sees it as stale.
    this.saveSandbox(sb);
    try {
      if (!config.hostNetwork) sb.ip = this.ips.allocate(id);
      const pod = this.podDir(id);
      mkdirSync(pod, { recursive: true });
      writeFileSync(join(pod, 'hostname'), `${config.hostname || config.name}\n`);
      if (config.dnsConfig) writeFileSync(join(pod, 'resolv.conf'), resolvConf(config.dnsConfig));
      this.saveSandbox(sb);
    } catch (err) {
      if (sb.ip) this.ips.release(sb.ip, id);
      rmSync(this.sandboxFile(id), { force: true });
      rmSync(this.podDir(id), { recursive: true, force: true });
      throw new RuntimeError('CreatePodSandboxError', `failed to set up the pod sandbox: ${errnoMessage(err)}`);
    }
    this.sandboxes.set(id, sb);
    this.log.info('pod sandbox ready', { sandbox: id, pod: `${config.namespace}/${config.name}`, ip: sb.ip ?? 'host network' });
    return id;
  }

  async stopPodSandbox(id: string): Promise<void> {
    const sb = this.sandboxes.get(id);
    if (!sb) return;
    await Promise.all(
      [...this.containers.values()].filter((c) => c.rec.sandboxId === id && c.rec.state === 'running').map((c) => this.stopContainer(c.rec.id, 0)),
    );
    if (sb.state !== 'notready') {
      sb.state = 'notready';
      this.saveSandbox(sb);
    }
  }

  async removePodSandbox(id: string): Promise<void> {
    const sb = this.sandboxes.get(id);
    if (!sb) return;
    await this.stopPodSandbox(id);
    for (const c of [...this.containers.values()]) if (c.rec.sandboxId === id) await this.removeContainer(c.rec.id);
    const logDir = sb.config.logDirectory;
    for (const f of sb.logFiles) {
      rmSync(f, { force: true });
      if (logDir) removeEmptyDirs(dirname(f), logDir);
    }
    if (logDir) removeEmptyDirs(logDir, dirname(logDir));
    if (sb.ip) this.ips.release(sb.ip, id);
    rmSync(this.podDir(id), { recursive: true, force: true });
    rmSync(this.sandboxFile(id), { force: true });
    this.sandboxes.delete(id);
  }

  async podSandboxStatus(id: string): Promise<SandboxStatus | null> {
    const sb = this.sandboxes.get(id);
    return sb ? this.sandboxStatus(sb) : null;
  }

  async listPodSandboxes(): Promise<SandboxStatus[]> {
    return [...this.sandboxes.values()].map((sb) => this.sandboxStatus(sb));
  }

  private sandboxStatus(sb: SandboxRecord): SandboxStatus {
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

  // -- containers

  async createContainer(sandboxId: string, config: ContainerConfig, sandboxConfig: PodSandboxConfig): Promise<string> {
    const sb = this.sandboxes.get(sandboxId);
    if (!sb) throw new RuntimeError('CreateContainerError', `pod sandbox ${sandboxId} not found`);
    if (sb.state !== 'ready') throw new RuntimeError('CreateContainerError', `pod sandbox ${sandboxId} is not ready`);
    const argv = [...config.command, ...config.args];
    if (argv.length === 0) {
      throw new RuntimeError(
        'CreateContainerError',
        'no command specified: the process runtime does not run images, so the container needs a command (or args)',
      );
    }
    const h = helpers();
    if (!h.mkfifo || !h.env) throw new RuntimeError('CreateContainerError', 'the process runtime needs `mkfifo` and `env` on the host');
    if (config.tty && !h.script) {
      throw new RuntimeError('CreateContainerError', 'tty: true needs util-linux `script` on the host for a pseudo-terminal');
    }
    const id = newId();
    const dir = this.containerDir(id);
    const root = join(dir, 'root');
    try {
      mkdirSync(root, { recursive: true });
      const logPath = resolve(sandboxConfig.logDirectory || sb.config.logDirectory, config.logPath);
      this.linkMounts(root, config, sandboxId, sandboxConfig);
      const cwd = this.workingDir(root, config);
      const env = this.containerEnv(config, sb, root);
      // A shell's `pwd` then shows the path through a mount's link, not the volume's host path.
      if (config.envs.every((kv) => kv.key !== 'PWD')) env.PWD = cwd;
      const rec: ContainerRecord = {
        id,
        sandboxId,
        config: structuredClone(config),
        imageRef: this.images[config.image]?.ref ?? config.image,
        logPath,
        argv,
        env,
        cwd,
        root,
        createdAt: this.now(),
        state: 'created',
        pid: 0,
        pidStart: 0,
        bootId: bootId(),
        startedAt: 0,
        finishedAt: 0,
        exitCode: 0,
        reason: '',
        message: '',
      };
      if (config.runAsUser !== undefined && this.isRoot) {
        rec.uid = config.runAsUser;
        rec.gid = config.runAsGroup ?? primaryGroup(config.runAsUser);
      } else if (config.runAsUser !== undefined && config.runAsUser !== process.getuid?.()) {
        this.log.warn('runAsUser ignored: the process runtime runs containers as the agent user when not root', {
          container: config.name,
          runAsUser: config.runAsUser,
        });
      }
      const fifos = [join(dir, 'out')];
      if (!config.tty) fifos.push(join(dir, 'err'));
      if (config.stdin) fifos.push(join(dir, 'in'));
      await new Promise<void>((res, rej) => execFile(h.mkfifo!, ['-m', '600', ...fifos], (err) => (err ? rej(err) : res())));
      if (rec.uid !== undefined) {
        for (const p of [dir, root, ...fifos]) chownSync(p, rec.uid, rec.gid ?? 0);
      }
      writeJsonAtomic(join(dir, 'container.json'), rec);
      this.containers.set(id, { rec, exitWaiters: new Set() });
      return id;
    } catch (err) {
      rmSync(dir, { recursive: true, force: true });
      if (err instanceof RuntimeError) throw err;
      throw new RuntimeError('CreateContainerError', `failed to create the container: ${errnoMessage(err)}`);
    }
  }

  /**
   * Mounts cannot be bind-mounted without root (and never at host paths): each mount's
   * containerPath becomes a symlink to its hostPath inside the container's root directory.
   */
  private linkMounts(root: string, config: ContainerConfig, sandboxId: string, sandboxConfig: PodSandboxConfig): void {
    const mounts = [...config.mounts].sort((a, b) => depth(a.containerPath) - depth(b.containerPath));
    const linked = new Set<string>();
    for (const m of mounts) {
      const target = underRoot(root, m.containerPath);
      if (target === null || target === root) {
        throw new RuntimeError('CreateContainerError', `invalid mount point ${JSON.stringify(m.containerPath)}`);
      }
      if (insideLink(root, target)) {
        this.log.warn('mount inside another mount: not linked', { container: config.name, containerPath: m.containerPath });
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
    const pod = this.podDir(sandboxId);
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
  private workingDir(root: string, config: ContainerConfig): string {
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

  private containerEnv(config: ContainerConfig, sb: SandboxRecord, root: string): Record<string, string> {
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

  async startContainer(id: string): Promise<void> {
    const c = this.containers.get(id);
    if (!c) throw new RuntimeError('RunContainerError', `container ${id} not found`);
    const { rec } = c;
    if (rec.state !== 'created') throw new RuntimeError('RunContainerError', `container ${id} is ${rec.state}, not created`);
    const dir = this.containerDir(id);
    const h = helpers();
    // What runc would refuse: a missing working directory or program.
    if (!existsSync(rec.cwd)) {
      this.failStart(c, `unable to start container process: chdir to cwd (${JSON.stringify(rec.config.workingDir ?? rec.cwd)}) set in config.json failed: no such file or directory`);
    }
    const found = lookPath(rec.argv[0]!, rec.env.PATH ?? DEFAULT_PATH, rec.cwd);
    if ('error' in found) this.failStart(c, `unable to start container process: ${found.error}`);

    const out = join(dir, 'out');
    const err = rec.config.tty ? out : join(dir, 'err');
    const stdinPath = rec.config.stdin ? join(dir, 'in') : '/dev/null';
    try {
      c.output = new ContainerOutput(rec.logPath, { stdout: out, stderr: rec.config.tty ? undefined : err });
    } catch (e) {
      this.failStart(c, `failed to open the container's log ${rec.logPath}: ${errnoMessage(e)}`);
    }
    if (rec.config.stdin) c.stdin = this.openStdin(rec);
    const program = rec.config.tty
      ? ttyArgv(h.script!, h.env!, rec.argv, join(dir, 'main'), rec.env.SHELL)
      : [h.env!, '--', ...rec.argv];
    const hold = rec.config.stdin && !rec.config.stdinOnce ? '1' : '0';
    const shimLog = openSync(join(dir, 'shim.log'), 'a');
    let child: ChildProcess;
    try {
      child = spawn('/bin/sh', ['-c', SHIM, 'kennel-shim', dir, out, err, stdinPath, hold, '--', ...program], {
        cwd: rec.cwd,
        env: rec.env,
        detached: true,
        stdio: ['ignore', 'ignore', shimLog],
        ...(rec.uid !== undefined ? { uid: rec.uid, gid: rec.gid ?? 0 } : {}),
      });
    } finally {
      closeSync(shimLog);
    }
    // Read the start time before returning to the event loop: until then the shim cannot be
    // reaped, so its /proc entry exists even if the program already ended.
    const pid = child.pid;
    const st = pid ? readProcStat(pid) : null;
    if (!pid || !st) {
      const reason = await new Promise<string>((r) => {
        child.once('error', (e) => r(errnoMessage(e)));
        setTimeout(() => r('the container shim did not start'), 1000).unref();
      });
      c.output?.close();
      c.output = undefined;
      c.stdin?.destroy();
      c.stdin = undefined;
      this.failStart(c, `unable to start container process: ${reason}`);
    }
    c.child = child;
    child.on('error', () => {});
    child.on('exit', (code, sig) => {
      if (this.closed) return;
      c.childExit = { code, signal: sig };
      void this.finalize(c);
    });
    rec.pid = pid;
    rec.pidStart = st.startTime;
    rec.bootId = bootId();
    rec.state = 'running';
    rec.startedAt = this.now();
    this.saveContainer(rec);
    c.output?.ended.then(() => this.check(c));
    this.log.info('container started', { container: id, name: rec.config.name, pid });
  }

  /** Record a start failure as containerd does (exited, 128, StartError) and throw. */
  private failStart(c: Live, message: string): never {
    const { rec } = c;
    const t = this.now();
    rec.state = 'exited';
    rec.exitCode = 128;
    rec.reason = 'StartError';
    rec.message = message;
    rec.startedAt = t;
    rec.finishedAt = t;
    this.saveContainer(rec);
    throw new RuntimeError('RunContainerError', message);
  }

  async stopContainer(id: string, timeoutSeconds: number): Promise<void> {
    const c = this.containers.get(id);
    if (!c) return;
    await this.refresh(c);
    if (c.rec.state !== 'running') return;
    const { rec } = c;
    if (timeoutSeconds > 0) {
      // The program's process group (a terminal program has its own, under script).
      let target = rec.pid;
      if (rec.config.tty) target = (await waitPidFile(join(this.containerDir(id), 'main'), 200)) || rec.pid;
      if (!signal(-target, 'SIGTERM')) signal(target, 'SIGTERM');
      if (await this.waitExit(c, timeoutSeconds * 1000)) {
        await this.finalize(c);
        return;
      }
    }
    this.killAll(c);
    await this.waitExit(c, 5000);
    await this.finalize(c);
  }

  /** SIGKILL the container's process group and everything below its shim, wherever it went. */
  private killAll(c: Live): void {
    const { rec } = c;
    if (!this.alive(c) && rec.state !== 'running') return;
    c.killedByUs = true;
    const mine = agentProcessGroup();
    const groups = new Set<number>([rec.pid]);
    const pids: number[] = [];
    if (this.alive(c)) {
      for (const p of descendants(rec.pid)) {
        pids.push(p.pid);
        if (p.pgrp > 1 && p.pgrp !== mine) groups.add(p.pgrp);
      }
    }
    for (const g of groups) signal(-g, 'SIGKILL');
    for (const p of pids) signal(p, 'SIGKILL');
    if (this.alive(c)) signal(rec.pid, 'SIGKILL');
  }

  private async waitExit(c: Live, ms: number): Promise<boolean> {
    const deadline = Date.now() + ms;
    for (;;) {
      if (!this.alive(c)) return true;
      const left = deadline - Date.now();
      if (left <= 0) return false;
      await delay(Math.min(20, left));
    }
  }

  async removeContainer(id: string): Promise<void> {
    const c = this.containers.get(id);
    if (!c) return;
    if (c.rec.state === 'running') await this.stopContainer(id, 0);
    c.output?.close();
    c.stdin?.destroy();
    c.child?.removeAllListeners('exit');
    this.containers.delete(id);
    rmSync(this.containerDir(id), { recursive: true, force: true });
    // The log stays until the sandbox goes (as the kubelet keeps it for `logs --previous`).
    const sb = this.sandboxes.get(c.rec.sandboxId);
    if (sb) {
      if (!sb.logFiles.includes(c.rec.logPath)) sb.logFiles.push(c.rec.logPath);
      this.saveSandbox(sb);
    } else {
      rmSync(c.rec.logPath, { force: true });
    }
  }

  async containerStatus(id: string): Promise<ContainerStatus | null> {
    const c = this.containers.get(id);
    if (!c) return null;
    await this.refresh(c);
    return this.status(c.rec);
  }

  async listContainers(filter?: { sandboxId?: string }): Promise<ContainerStatus[]> {
    const list = [...this.containers.values()].filter((c) => filter?.sandboxId === undefined || c.rec.sandboxId === filter.sandboxId);
    await Promise.all(list.map((c) => this.refresh(c)));
    return list.map((c) => this.status(c.rec));
  }

  private status(rec: ContainerRecord): ContainerStatus {
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

  // -- exec and attach

  private running(id: string): Live {
    const c = this.containers.get(id);
    if (!c) throw new RuntimeError('NotFound', `container ${id} not found`);
    if (c.rec.state !== 'running' || !this.alive(c)) {
      if (c.rec.state === 'running') void this.finalize(c);
      throw new RuntimeError('NotRunning', `container ${id} is not running`);
    }
    return c;
  }

  private execContext(c: Live, cmd: string[]): ExecContext {
    if (cmd.length === 0) throw new RuntimeError('ExecError', 'no command given to exec');
    const { rec } = c;
    const found = lookPath(cmd[0]!, rec.env.PATH ?? DEFAULT_PATH, rec.cwd);
    if ('error' in found) throw new RuntimeError('ExecError', `exec failed: unable to start container process: ${found.error}`);
    return { cwd: rec.cwd, env: rec.env, uid: rec.uid, gid: rec.gid };
  }

  async execSync(containerId: string, cmd: string[], timeoutSeconds: number): Promise<ExecSyncResult> {
    const c = this.running(containerId);
    const ctx = this.execContext(c, cmd);
    try {
      return await execCollect(ctx, cmd, timeoutSeconds);
    } catch (err) {
      throw new RuntimeError('ExecError', `exec failed: ${errnoMessage(err)}`);
    }
  }

  async exec(containerId: string, cmd: string[], opts: ExecOptions): Promise<StreamSession> {
    const c = this.running(containerId);
    const ctx = this.execContext(c, cmd);
    const pidFile = join(this.containerDir(containerId), `exec-${randomBytes(6).toString('hex')}.pid`);
    let session: StreamSession | undefined;
    try {
      session = await execStream(ctx, cmd, opts, pidFile, () => {
        if (session) this.sessions.delete(session);
      });
    } catch (err) {
      throw new RuntimeError('ExecError', `exec failed: ${errnoMessage(err)}`);
    }
    this.sessions.add(session);
    return session;
  }

  async attach(containerId: string, opts: ExecOptions): Promise<StreamSession> {
    const c = this.running(containerId);
    const { rec } = c;
    const tty = rec.config.tty;
    const sub = c.output?.subscribe(!tty);
    if (!sub) throw new RuntimeError('NotRunning', `the output of container ${containerId} is not available`);
    let stdin: PassThrough | undefined;
    if (opts.stdin && rec.config.stdin && c.stdin && !rec.stdinClosed) {
      const target = c.stdin;
      stdin = new PassThrough();
      stdin.on('data', (b: Buffer) => target.write(b));
      stdin.on('end', () => {
        if (rec.config.stdinOnce) {
          // The first attach's stdin ended: the program sees EOF.
          rec.stdinClosed = true;
          this.saveContainer(rec);
          target.end();
          if (c.stdin === target) c.stdin = undefined;
        }
      });
    }
    let settle!: (code: number) => void;
    const exitCode = new Promise<number>((r) => (settle = r));
    const waiter = (code: number) => settle(code);
    c.exitWaiters.add(waiter);
    if (rec.state !== 'running') settle(rec.exitCode);
    const dir = this.containerDir(containerId);
    return {
      stdin,
      stdout: opts.stdout ? sub.stdout : undefined,
      stderr: opts.stderr && !tty ? sub.stderr : undefined,
      resize: (width, height) => {
        if (!tty) return;
        void waitPidFile(join(dir, 'main'), 1000).then((pid) => (pid ? resizeTty(pid, width, height) : false));
      },
      exitCode,
      close: () => {
        c.exitWaiters.delete(waiter);
        sub.unsubscribe();
        stdin?.end();
        settle(0);
      },
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    for (const s of this.sessions) s.close();
    this.sessions.clear();
    for (const c of this.containers.values()) {
      c.output?.close();
      c.stdin?.destroy();
      c.child?.removeAllListeners('exit');
      c.child?.unref();
      // Attach sessions end as a detach does.
      for (const w of c.exitWaiters) w(0);
      c.exitWaiters.clear();
    }
    const lock = join(this.stateDir, 'runtime.lock');
    if (readJson<{ pid: number }>(lock)?.pid === process.pid) rmSync(lock, { force: true });
  }

  /**
   * CRI ReopenContainerLog: after the agent's log rotation renamed the log file, continue in a
   * new file at the container's log path. (Not part of the Runtime contract.)
   */
  async reopenContainerLog(id: string): Promise<void> {
    const c = this.running(id);
    c.output?.reopen();
  }

  // -- for tests and diagnostics

  /** The shim pid (= process group) of a container, 0 when not started. */
  containerPid(id: string): number {
    return this.containers.get(id)?.rec.pid ?? 0;
  }

  /** The container's working directory and root directory. */
  containerDirs(id: string): { cwd: string; root: string } | null {
    const c = this.containers.get(id);
    return c ? { cwd: c.rec.cwd, root: c.rec.root } : null;
  }
}

function resolvConf(d: { servers: string[]; searches: string[]; options: string[] }): string {
  const lines = d.servers.map((s) => `nameserver ${s}`);
  if (d.searches.length) lines.push(`search ${d.searches.join(' ')}`);
  if (d.options.length) lines.push(`options ${d.options.join(' ')}`);
  return lines.join('\n') + '\n';
}

function depth(p: string): number {
  return p.split('/').filter(Boolean).length;
}

function lexists(p: string): boolean {
  try {
    lstatSync(p);
    return true;
  } catch {
    return false;
  }
}

/** True when a parent of `target` below `root` is a symlink (i.e. inside another mount). */
function insideLink(root: string, target: string): boolean {
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
function removeEmptyDirs(dir: string, stop: string): void {
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
