// The containerd runtime: the Runtime contract over the CRI v1 gRPC API (runtime.v1
// RuntimeService and ImageService) spoken to kennel's own containerd (containerd.ts).
//
// Exec and attach. The CRI's Exec/Attach calls return a URL on containerd's streaming server,
// which speaks the kubelet's remotecommand protocol: SPDY/3.1, or WebSocket with the
// `v4.channel.k8s.io` subprotocol (one byte of channel — 0 stdin, 1 stdout, 2 stderr,
// 3 status, 4 resize — then data). containerd 1.6 has no v5 protocol, so a WebSocket client
// cannot half-close stdin. kennel therefore uses:
//   - exec without a TTY: `ctr tasks exec` (containerd's task API: the process joins the
//     container's namespaces and cgroup with the container's env and user, exactly like the
//     CRI's exec). Its stdin/stdout/stderr are plain pipes, so the end of stdin reaches the
//     process (`kubectl cp`, `sh -c 'cat > f'`), and ctr exits with the process's exit code.
//   - exec with a TTY, and attach: the CRI streaming URL over WebSocket (v4.channel.k8s.io);
//     resize messages go on channel 4; the exit code comes from the status on channel 3.
//     (With a TTY, end of input is a ^D byte, so no half-close is needed. Attach without a
//     TTY delivers end of stdin by closing the stream, which is what stdinOnce wants.)
// execSync (probes) is the CRI ExecSync call.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, isAbsolute, join } from 'node:path';
import { PassThrough } from 'node:stream';
import { silentLogger, type Logger } from '../../util/log.ts';
import { startContainerd, type ContainerdHandle, type ContainerdOptions, type RegistriesConfig } from './containerd.ts';
import {
  CriClient,
  grpcCode,
  grpcDetails,
} from './cri-proto.ts';
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
  type SandboxStatus,
  type StreamSession,
} from './types.ts';
import {
  DEADLINE_EXCEEDED,
  INVALID_ARGUMENT,
  NOT_FOUND,
  UNAVAILABLE,
  fromCriContainer,
  fromCriSandbox,
  imageRegistryHost,
  normalizeServerAddress,
  toCriAuth,
  toCriContainerConfig,
  toCriSandboxConfig,
  wrap,
} from './cri-convert.ts';
import { exitCodeFromStatus, streamSession } from './cri-streams.ts';
import { CriStatusCache } from './cri-status-cache.ts';
export { imageRegistryHost, normalizeServerAddress, nsToMs, toCriContainerConfig, toCriSandboxConfig } from './cri-convert.ts';
export { exitCodeFromStatus } from './cri-streams.ts';

export interface CriRuntimeOptions {
  /** containerd's gRPC socket. */
  socket: string;
  /** Where the runtime keeps its own small files (/etc/hosts contents given inline). */
  stateDir: string;
  logger?: Logger;
  /** The ctr binary (for exec without a TTY). */
  ctrBin?: string;
  /** Registry configs (k3s registries.yaml): their auth is used for pulls that bring none. */
  registries?: RegistriesConfig;
  /** Deadline of ordinary CRI calls; default 2 min (pulls: 10 min). */
  callTimeoutMs?: number;
}

// -------------------------------------------------------------- runtime ----

export class CriRuntime implements Runtime {
  readonly name = 'containerd' as const;
  /** One sandbox being made per CPU: runc, the CNI plugins and the shim keep a CPU busy each. */
  readonly sandboxStartLimit = Math.max(2, availableParallelism());
  private readonly client: CriClient;
  private readonly log: Logger;
  private readonly timeout: number;
  private readonly ctrBin: string;
  private readonly sessions = new Set<() => void>();
  /** Status answers reused while the CRI state they were read in holds (cri-status-cache.ts). */
  private readonly statuses = new CriStatusCache();

  constructor(private readonly opts: CriRuntimeOptions) {
    this.client = new CriClient(opts.socket);
    this.log = (opts.logger ?? silentLogger).child('cri');
    this.timeout = opts.callTimeoutMs ?? 120_000;
    this.ctrBin = opts.ctrBin ?? process.env.KENNEL_CTR ?? 'ctr';
  }

  /** The underlying CRI client (for callers that need a call the contract lacks). */
  get cri(): CriClient {
    return this.client;
  }

  async version(): Promise<{ runtimeName: string; runtimeVersion: string }> {
    try {
      const v = await this.client.call('Version', { version: 'v1' }, 10_000);
      return { runtimeName: v.runtimeName, runtimeVersion: v.runtimeVersion };
    } catch (e) {
      throw wrap('RuntimeUnavailable', e, 'Version');
    }
  }

  // ---- sandboxes ----

  private ownHostsFile(p: { namespace: string; name: string; uid: string }): string {
    return join(this.opts.stateDir, 'hosts', `${p.namespace}_${p.name}_${p.uid}`);
  }

  /**
   * The host file to mount at /etc/hosts: `hostsFile` when it is an absolute path, else
   * (content given inline) a file of our own per pod, removed with the pod's last sandbox.
   */
  private hostsPath(c: PodSandboxConfig): string | undefined {
    if (!c.hostsFile) return undefined;
    if (isAbsolute(c.hostsFile) && !c.hostsFile.includes('\n')) return c.hostsFile;
    const path = this.ownHostsFile(c);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, c.hostsFile.endsWith('\n') ? c.hostsFile : c.hostsFile + '\n');
    return path;
  }

  async runPodSandbox(config: PodSandboxConfig): Promise<string> {
    if (config.logDirectory) mkdirSync(config.logDirectory, { recursive: true });
    this.hostsPath(config);
    try {
      const r = await this.client.call('RunPodSandbox', { config: toCriSandboxConfig(config) }, this.timeout);
      this.log.debug('sandbox running', { pod: `${config.namespace}/${config.name}`, sandbox: r.podSandboxId });
      return r.podSandboxId;
    } catch (e) {
      throw wrap('CreatePodSandboxError', e, `RunPodSandbox ${config.namespace}/${config.name}`);
    }
  }

  async stopPodSandbox(id: string): Promise<void> {
    this.statuses.sandboxStopping(id);
    try {
      await this.client.call('StopPodSandbox', { podSandboxId: id }, this.timeout);
    } catch (e) {
      if (grpcCode(e) === NOT_FOUND) return;
      throw wrap('KillPodSandboxError', e, `StopPodSandbox ${id}`);
    }
  }

  async removePodSandbox(id: string): Promise<void> {
    const st = await this.podSandboxStatus(id).catch(() => null);
    try {
      await this.client.call('RemovePodSandbox', { podSandboxId: id }, this.timeout);
    } catch (e) {
      if (grpcCode(e) === NOT_FOUND) return;
      throw wrap('RemovePodSandboxError', e, `RemovePodSandbox ${id}`);
    } finally {
      this.statuses.sandboxRemoved(id);
    }
    if (st) {
      // Another attempt of the same pod may still use the hosts file.
      const others = await this.client.call('ListPodSandbox', { filter: {} }, this.timeout).catch(() => null);
      if (others && !others.items.some((s) => s.metadata?.uid === st.uid)) rmSync(this.ownHostsFile(st), { force: true });
    }
  }

  async podSandboxStatus(id: string): Promise<SandboxStatus | null> {
    return this.statuses.freshSandbox(id) ?? this.fetchSandboxStatus(id);
  }

  private async fetchSandboxStatus(id: string): Promise<SandboxStatus | null> {
    try {
      const r = await this.client.call('PodSandboxStatus', { podSandboxId: id }, this.timeout);
      const status = r.status ? fromCriSandbox(r.status) : undefined;
      this.statuses.sandboxRead(id, r.status?.state ?? '', status);
      return status ?? null;
    } catch (e) {
      if (grpcCode(e) === NOT_FOUND) {
        this.statuses.sandboxRead(id, '', undefined);
        return null;
      }
      throw wrap('RuntimeError', e, `PodSandboxStatus ${id}`);
    }
  }

  async listPodSandboxes(): Promise<SandboxStatus[]> {
    let items;
    try {
      items = (await this.client.call('ListPodSandbox', {}, this.timeout)).items;
    } catch (e) {
      throw wrap('RuntimeError', e, 'ListPodSandbox');
    }
    this.statuses.sandboxesListed(new Set(items.map((s) => s.id)));
    const statuses = await Promise.all(items.map((s) => this.statuses.listedSandbox(s.id, s.state) ?? this.fetchSandboxStatus(s.id)));
    return statuses.filter((s): s is SandboxStatus => s !== null);
  }

  // ---- images ----

  private registryAuth(image: string): AuthConfig | undefined {
    const host = imageRegistryHost(image);
    const a = this.opts.registries?.configs?.[host]?.auth;
    if (!a) return undefined;
    return { username: a.username, password: a.password, auth: a.auth, identityToken: a.identity_token, serverAddress: host };
  }

  async pullImage(image: string, auth?: AuthConfig): Promise<ImageRef> {
    const creds = auth ?? this.registryAuth(image);
    try {
      const r = await this.client.call(
        'PullImage',
        { image: { image }, ...(creds ? { auth: toCriAuth(creds) } : {}) },
        Math.max(this.timeout, 600_000),
      );
      return { ref: r.imageRef };
    } catch (e) {
      const msg = grpcDetails(e);
      if (grpcCode(e) === INVALID_ARGUMENT || /failed to parse image reference|invalid reference format/i.test(msg)) {
        throw new RuntimeError('InvalidImageName', `Failed to apply default image tag "${image}": ${msg}`);
      }
      if (grpcCode(e) === UNAVAILABLE) throw wrap('ErrImagePull', e, `pull ${image}`);
      throw new RuntimeError('ErrImagePull', msg);
    }
  }

  async imageStatus(image: string): Promise<ImageRef | null> {
    try {
      const r = await this.client.call('ImageStatus', { image: { image } }, this.timeout);
      if (!r.image) return null;
      return { ref: r.image.id, size: Number(r.image.size) };
    } catch (e) {
      if (grpcCode(e) === NOT_FOUND) return null;
      throw wrap('RuntimeError', e, `ImageStatus ${image}`);
    }
  }

  // ---- containers ----

  async createContainer(sandboxId: string, config: ContainerConfig, sandboxConfig: PodSandboxConfig): Promise<string> {
    if (sandboxConfig.logDirectory && config.logPath) {
      mkdirSync(dirname(join(sandboxConfig.logDirectory, config.logPath)), { recursive: true });
    }
    const hosts = this.hostsPath(sandboxConfig);
    try {
      const r = await this.client.call(
        'CreateContainer',
        {
          podSandboxId: sandboxId,
          config: toCriContainerConfig(config, sandboxConfig, hosts),
          // containerd refuses a privileged container in a sandbox not marked privileged.
          sandboxConfig: toCriSandboxConfig(sandboxConfig, { privileged: config.privileged ?? false }),
        },
        this.timeout,
      );
      return r.containerId;
    } catch (e) {
      throw wrap('CreateContainerError', e, `CreateContainer ${config.name}`);
    }
  }

  async startContainer(id: string): Promise<void> {
    try {
      await this.client.call('StartContainer', { containerId: id }, this.timeout);
    } catch (e) {
      throw wrap('RunContainerError', e, `StartContainer ${id}`);
    }
  }

  async stopContainer(id: string, timeoutSeconds: number): Promise<void> {
    const t = Math.max(0, Math.floor(timeoutSeconds));
    try {
      await this.client.call('StopContainer', { containerId: id, timeout: t }, t * 1000 + this.timeout);
    } catch (e) {
      if (grpcCode(e) === NOT_FOUND) return;
      throw wrap('KillContainerError', e, `StopContainer ${id}`);
    }
  }

  async removeContainer(id: string): Promise<void> {
    try {
      await this.client.call('RemoveContainer', { containerId: id }, this.timeout);
    } catch (e) {
      if (grpcCode(e) === NOT_FOUND) return;
      throw wrap('RemoveContainerError', e, `RemoveContainer ${id}`);
    } finally {
      this.statuses.containerRead(id, '', undefined);
    }
  }

  private async statusWithSandbox(id: string, sandboxId: string | undefined): Promise<ContainerStatus | null> {
    try {
      const r = await this.client.call('ContainerStatus', { containerId: id }, this.timeout);
      if (!r.status) {
        this.statuses.containerRead(id, '', undefined);
        return null;
      }
      let sb = sandboxId ?? this.statuses.sandboxOf(id);
      if (sb === undefined) {
        const l = await this.client.call('ListContainers', { filter: { id } }, this.timeout);
        sb = l.containers[0]?.podSandboxId ?? '';
      }
      const status = fromCriContainer(r.status, sb);
      this.statuses.containerRead(id, r.status.state, status);
      return status;
    } catch (e) {
      if (grpcCode(e) === NOT_FOUND) {
        this.statuses.containerRead(id, '', undefined);
        return null;
      }
      throw wrap('RuntimeError', e, `ContainerStatus ${id}`);
    }
  }

  async containerStatus(id: string): Promise<ContainerStatus | null> {
    return this.statusWithSandbox(id, undefined);
  }

  async listContainers(filter?: { sandboxId?: string }): Promise<ContainerStatus[]> {
    let containers;
    try {
      containers = (
        await this.client.call('ListContainers', { filter: filter?.sandboxId ? { podSandboxId: filter.sandboxId } : {} }, this.timeout)
      ).containers;
    } catch (e) {
      throw wrap('RuntimeError', e, 'ListContainers');
    }
    this.statuses.containersListed(new Set(containers.map((c) => c.id)), filter?.sandboxId);
    const statuses = await Promise.all(containers.map((c) => this.statuses.listedContainer(c.id, c.state) ?? this.statusWithSandbox(c.id, c.podSandboxId)));
    return statuses.filter((s): s is ContainerStatus => s !== null);
  }

  // ---- exec / attach ----

  async execSync(containerId: string, cmd: string[], timeoutSeconds: number): Promise<ExecSyncResult> {
    const t = Math.max(0, Math.floor(timeoutSeconds));
    try {
      const r = await this.client.call(
        'ExecSync',
        { containerId, cmd, timeout: t },
        t > 0 ? t * 1000 + 10_000 : this.timeout,
      );
      return { exitCode: r.exitCode, stdout: Buffer.from(r.stdout), stderr: Buffer.from(r.stderr), timedOut: false };
    } catch (e) {
      const msg = grpcDetails(e);
      if (grpcCode(e) === DEADLINE_EXCEEDED || /timeout .* exceeded|deadline exceeded/i.test(msg)) {
        return { exitCode: -1, stdout: Buffer.alloc(0), stderr: Buffer.from(msg), timedOut: true };
      }
      if (grpcCode(e) === NOT_FOUND) throw new RuntimeError('ContainerNotFound', `exec in ${containerId}: ${msg}`);
      if (/exec failed|failed to start exec/.test(msg)) {
        // The command could not be started (not found, not executable): a failed run, as in a shell.
        const exitCode = /not found|no such file or directory/i.test(msg) ? 127 : 126;
        return { exitCode, stdout: Buffer.alloc(0), stderr: Buffer.from(msg), timedOut: false };
      }
      throw wrap('ExecError', e, `exec in ${containerId}`);
    }
  }

  async exec(containerId: string, cmd: string[], opts: ExecOptions): Promise<StreamSession> {
    if (cmd.length === 0) throw new RuntimeError('ExecError', 'exec: no command given');
    if (opts.tty) {
      let url: string;
      try {
        url = (
          await this.client.call(
            'Exec',
            { containerId, cmd, tty: true, stdin: opts.stdin, stdout: opts.stdout, stderr: false },
            this.timeout,
          )
        ).url;
      } catch (e) {
        if (grpcCode(e) === NOT_FOUND) throw new RuntimeError('ContainerNotFound', `exec in ${containerId}: ${grpcDetails(e)}`);
        throw wrap('ExecError', e, `exec in ${containerId}`);
      }
      return this.track(await streamSession(url, opts, (st) => (st ? exitCodeFromStatus(st) : 1)));
    }
    return this.track(this.ctrExec(containerId, cmd, opts));
  }

  private ctrExec(containerId: string, cmd: string[], opts: ExecOptions): StreamSession {
    const execId = `kennel-${randomBytes(6).toString('hex')}`;
    const fifoDir = join(this.opts.stateDir, 'fifo');
    mkdirSync(fifoDir, { recursive: true });
    const args = ['-a', this.opts.socket, '-n', 'k8s.io', 'tasks', 'exec', '--exec-id', execId, '--fifo-dir', fifoDir, containerId, ...cmd];
    const child: ChildProcess = spawn(this.ctrBin, args, {
      stdio: [opts.stdin ? 'pipe' : 'ignore', opts.stdout ? 'pipe' : 'ignore', 'pipe'],
    });
    child.stdin?.on('error', () => {});
    // ctr's own failure ("ctr: OCI runtime exec failed: … executable file not found …") comes
    // on its stderr with exit status 1; report it as a shell would (127 not found, 126 other).
    const stderr = opts.stderr ? new PassThrough() : undefined;
    let startFailure: number | undefined;
    let head = '';
    child.stderr?.on('data', (b: Buffer) => {
      if (head.length < 4096) {
        head += b.toString('utf8');
        const m = /^ctr: .*(?:exec failed|failed to start).*$/m.exec(head);
        if (m) startFailure = /not found|no such file or directory/i.test(m[0]) ? 127 : 126;
      }
      stderr?.write(b);
    });
    child.stderr?.on('end', () => stderr?.end());
    const exitCode = new Promise<number>((resolve) => {
      child.once('error', (e) => {
        stderr?.end(`cannot run ${this.ctrBin}: ${e.message}\n`);
        resolve(126);
      });
      child.once('close', (code, signal) => {
        if (code === 1 && startFailure !== undefined) resolve(startFailure);
        else resolve(code ?? (signal ? 137 : 1));
      });
    });
    let closed = false;
    return {
      stdin: child.stdin ?? undefined,
      stdout: child.stdout ?? undefined,
      stderr,
      exitCode,
      close: () => {
        if (closed || child.exitCode !== null || child.signalCode !== null) return;
        closed = true;
        // ctr forwards SIGTERM to the exec'd process, then exits with its status.
        child.kill('SIGTERM');
        const t = setTimeout(() => child.kill('SIGKILL'), 2_000);
        t.unref();
        child.once('close', () => clearTimeout(t));
      },
    };
  }

  async attach(containerId: string, opts: ExecOptions): Promise<StreamSession> {
    let url: string;
    try {
      url = (
        await this.client.call(
          'Attach',
          { containerId, stdin: opts.stdin, tty: opts.tty, stdout: opts.stdout, stderr: opts.stderr && !opts.tty },
          this.timeout,
        )
      ).url;
    } catch (e) {
      if (grpcCode(e) === NOT_FOUND) throw new RuntimeError('ContainerNotFound', `attach to ${containerId}: ${grpcDetails(e)}`);
      throw wrap('AttachError', e, `attach to ${containerId}`);
    }
    return this.track(
      await streamSession(url, opts, async (_status, closedByUs) => {
        // The server ends an attach when the container's output ends, i.e. it exited; its
        // exit is recorded a moment later. A detach on our side is exit code 0.
        const deadline = Date.now() + (closedByUs ? 0 : 2_000);
        for (;;) {
          const st = await this.containerStatus(containerId).catch(() => null);
          if (st && st.state === 'exited') return st.exitCode;
          if (!st || Date.now() >= deadline) return 0;
          await new Promise((r) => setTimeout(r, 50));
        }
      }),
    );
  }

  private track(s: StreamSession): StreamSession {
    const close = () => s.close();
    this.sessions.add(close);
    void s.exitCode.finally(() => this.sessions.delete(close));
    return s;
  }

  async close(): Promise<void> {
    for (const close of this.sessions) close();
    this.sessions.clear();
    this.client.close();
  }
}

export function createCriRuntime(opts: CriRuntimeOptions): CriRuntime {
  return new CriRuntime(opts);
}

/**
 * Start (or adopt) kennel's containerd for `opts.dataDir` and connect a CRI runtime to it.
 * `runtime.close()` releases the connection only; `containerd.stop()` stops the daemon
 * (containers keep running under their shims and are found again on the next start).
 */
export async function startContainerdRuntime(
  opts: ContainerdOptions,
): Promise<{ runtime: CriRuntime; containerd: ContainerdHandle }> {
  const containerd = await startContainerd(opts);
  const runtime = new CriRuntime({
    socket: containerd.socket,
    stateDir: join(containerd.paths.dir, 'kennel'),
    logger: opts.logger,
    ctrBin: opts.ctrBin,
    registries: containerd.registries,
  });
  return { runtime, containerd };
}
