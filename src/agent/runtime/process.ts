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
//   fence/<id>                 → containers/<id> of a fenceable pod's container (sandbox label
//                              kennel.dev/fence): the shim writes <dir>/pgid ("<pgid> <start
//                              time>") before the program runs; the fence watchdog kills these
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
import { chownSync, closeSync, existsSync, mkdirSync, openSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { PassThrough } from 'node:stream';
import { ContainerOutput } from './process-log.ts';
import { execCollect, execStream, helpers, resizeTty, ttyArgv, waitPidFile } from './process-exec.ts';
import { DEFAULT_PATH, bootId, invalidImageName, lookPath, primaryGroup, readJson, readProcStat, signal, writeJsonAtomic } from './process-util.ts';
import { SHIM, containerEnv, errnoMessage, linkMounts, newId, removeEmptyDirs, resolvConf, sandboxStatus, status, workingDir } from './process-containers.ts';
import type { ContainerRecord, SandboxRecord } from './process-containers.ts';
import { ProcessRuntimeBase, type ProcessRuntimeOptions } from './process-store.ts';
import { LABEL_FENCE } from '../fence-watchdog.ts';
import { RuntimeError } from './types.ts';
import type { AuthConfig, ContainerConfig, ContainerStatus, ExecOptions, ExecSyncResult, ImageRef } from './types.ts';
import type { PodSandboxConfig, Runtime, SandboxStatus, StreamSession } from './types.ts';

export const PROCESS_RUNTIME_NAME = 'kennel-process';
export const PROCESS_RUNTIME_VERSION = '0.1.0';

export type { ProcessRuntimeOptions };

export class ProcessRuntime extends ProcessRuntimeBase implements Runtime {
  readonly name = 'process' as const;
  private readonly sessions = new Set<StreamSession>();

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
    return sb ? sandboxStatus(sb) : null;
  }

  async listPodSandboxes(): Promise<SandboxStatus[]> {
    return [...this.sandboxes.values()].map((sb) => sandboxStatus(sb));
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
      linkMounts(this.log, this.podDir(sandboxId), root, config, sandboxConfig);
      const cwd = workingDir(root, config);
      const env = containerEnv(config, sb, root);
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
      if (sandboxConfig.labels[LABEL_FENCE] === 'true' || sb.config.labels[LABEL_FENCE] === 'true') {
        mkdirSync(join(this.stateDir, 'fence'), { recursive: true });
        symlinkSync(dir, this.fenceLink(id));
      }
      this.containers.set(id, { rec, exitWaiters: new Set() });
      return id;
    } catch (err) {
      rmSync(this.fenceLink(id), { force: true });
      rmSync(dir, { recursive: true, force: true });
      if (err instanceof RuntimeError) throw err;
      throw new RuntimeError('CreateContainerError', `failed to create the container: ${errnoMessage(err)}`);
    }
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

  async removeContainer(id: string): Promise<void> {
    const c = this.containers.get(id);
    if (!c) return;
    if (c.rec.state === 'running') await this.stopContainer(id, 0);
    c.output?.close();
    c.stdin?.destroy();
    c.child?.removeAllListeners('exit');
    this.containers.delete(id);
    rmSync(this.fenceLink(id), { force: true });
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
    return status(c.rec);
  }

  async listContainers(filter?: { sandboxId?: string }): Promise<ContainerStatus[]> {
    const list = [...this.containers.values()].filter((c) => filter?.sandboxId === undefined || c.rec.sandboxId === filter.sandboxId);
    await Promise.all(list.map((c) => this.refresh(c)));
    return list.map((c) => status(c.rec));
  }

  // -- exec and attach

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

  /** The fence watchdog's link to a fenceable container's directory. */
  private fenceLink(id: string): string {
    return join(this.stateDir, 'fence', id);
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
