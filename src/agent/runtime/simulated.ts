// The simulated runtime: no processes, no files. Sandboxes get an IP from the node's pod CIDR,
// containers are running as soon as they start, exec answers exit 0 with no output. One
// machine can host hundreds of simulated nodes (what kwok does), so every object is a small
// record in a Map. Tests drive failures through the hooks at the bottom (exitContainer,
// failPull, failCreate).
import { randomBytes } from 'node:crypto';
import { PassThrough } from 'node:stream';
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

export interface SimulatedRuntimeOptions {
  /** The node's pod CIDR (IPv4), default 10.244.0.0/24. */
  podCIDR?: string;
  now?: () => number;
  /** Images that "do not exist": pulling them fails with ErrImagePull and this message. */
  failPull?: (image: string) => string | undefined;
}

interface SimSandbox {
  status: SandboxStatus;
  ipIndex: number;
}

interface SimContainer {
  status: ContainerStatus;
}

/** Parse an IPv4 CIDR into its network address (as a number) and size. */
export function parseCidr(cidr: string): { base: number; size: number } {
  const m = /^(\d+)\.(\d+)\.(\d+)\.(\d+)\/(\d+)$/.exec(cidr.trim());
  if (!m) throw new Error(`pod CIDR ${JSON.stringify(cidr)} is not an IPv4 CIDR such as 10.244.0.0/24`);
  const octets = m.slice(1, 5).map(Number);
  const bits = Number(m[5]);
  if (octets.some((o) => o > 255) || bits < 8 || bits > 30) throw new Error(`pod CIDR ${cidr} is not usable (prefix must be /8 to /30)`);
  const addr = ((octets[0]! << 24) >>> 0) + (octets[1]! << 16) + (octets[2]! << 8) + octets[3]!;
  const size = 2 ** (32 - bits);
  const base = addr - (addr % size);
  return { base, size };
}

export function ipv4ToString(n: number): string {
  return [(n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

function newId(): string {
  return randomBytes(32).toString('hex');
}

export class SimulatedRuntime implements Runtime {
  readonly name = 'simulated' as const;
  private readonly now: () => number;
  private readonly base: number;
  private readonly size: number;
  /** Next host index to try (.2 and up; .1 is the gateway). */
  private nextIp = 2;
  private readonly usedIps = new Set<number>();
  private readonly sandboxes = new Map<string, SimSandbox>();
  private readonly containers = new Map<string, SimContainer>();
  private readonly images = new Map<string, ImageRef>();
  private readonly failPullFn?: (image: string) => string | undefined;
  private readonly createFailures = new Map<string, string>();

  constructor(opts: SimulatedRuntimeOptions = {}) {
    this.now = opts.now ?? Date.now;
    const { base, size } = parseCidr(opts.podCIDR ?? '10.244.0.0/24');
    this.base = base;
    this.size = size;
    this.failPullFn = opts.failPull;
  }

  async version(): Promise<{ runtimeName: string; runtimeVersion: string }> {
    return { runtimeName: 'simulated', runtimeVersion: '1.0.0' };
  }

  // -- sandboxes

  async runPodSandbox(config: PodSandboxConfig): Promise<string> {
    const id = newId();
    let ips: string[] = [];
    let ipIndex = -1;
    if (!config.hostNetwork) {
      ipIndex = this.allocateIp();
      ips = [ipv4ToString(this.base + ipIndex)];
    }
    this.sandboxes.set(id, {
      ipIndex,
      status: {
        id,
        state: 'ready',
        ips,
        createdAt: this.now(),
        uid: config.uid,
        name: config.name,
        namespace: config.namespace,
        attempt: config.attempt,
        labels: { ...config.labels },
        annotations: { ...config.annotations },
      },
    });
    return id;
  }

  async stopPodSandbox(id: string): Promise<void> {
    const sb = this.sandboxes.get(id);
    if (!sb) return;
    for (const c of this.containers.values()) {
      if (c.status.sandboxId === id && c.status.state === 'running') this.exit(c, 137, 'Error');
    }
    sb.status.state = 'notready';
    this.releaseIp(sb);
  }

  async removePodSandbox(id: string): Promise<void> {
    const sb = this.sandboxes.get(id);
    if (!sb) return;
    for (const [cid, c] of this.containers) if (c.status.sandboxId === id) this.containers.delete(cid);
    this.releaseIp(sb);
    this.sandboxes.delete(id);
  }

  async podSandboxStatus(id: string): Promise<SandboxStatus | null> {
    const sb = this.sandboxes.get(id);
    return sb ? copySandbox(sb.status) : null;
  }

  async listPodSandboxes(): Promise<SandboxStatus[]> {
    return [...this.sandboxes.values()].map((s) => copySandbox(s.status));
  }

  // -- images

  async pullImage(image: string, _auth?: AuthConfig): Promise<ImageRef> {
    const failure = this.failPullFn?.(image);
    if (failure !== undefined) throw new RuntimeError('ErrImagePull', failure);
    const ref = { ref: `sha256:${sha(image)}`, size: 1024 * 1024 };
    this.images.set(image, ref);
    return { ...ref };
  }

  async imageStatus(image: string): Promise<ImageRef | null> {
    const r = this.images.get(image);
    return r ? { ...r } : null;
  }

  // -- containers

  async createContainer(sandboxId: string, config: ContainerConfig, sandboxConfig: PodSandboxConfig): Promise<string> {
    const sb = this.sandboxes.get(sandboxId);
    if (!sb) throw new RuntimeError('CreateContainerError', `pod sandbox ${sandboxId} not found`);
    if (sb.status.state !== 'ready') throw new RuntimeError('CreateContainerError', `pod sandbox ${sandboxId} is not ready`);
    const failure = this.createFailures.get(config.image);
    if (failure !== undefined) throw new RuntimeError('CreateContainerError', failure);
    const id = newId();
    const img = this.images.get(config.image);
    this.containers.set(id, {
      status: {
        id,
        sandboxId,
        name: config.name,
        attempt: config.attempt,
        image: config.image,
        imageRef: img?.ref ?? `sha256:${sha(config.image)}`,
        state: 'created',
        createdAt: this.now(),
        startedAt: 0,
        finishedAt: 0,
        exitCode: 0,
        reason: '',
        message: '',
        logPath: `${sandboxConfig.logDirectory}/${config.logPath}`,
        labels: { ...config.labels },
        annotations: { ...config.annotations },
      },
    });
    return id;
  }

  async startContainer(id: string): Promise<void> {
    const c = this.containers.get(id);
    if (!c) throw new RuntimeError('RunContainerError', `container ${id} not found`);
    if (c.status.state !== 'created') throw new RuntimeError('RunContainerError', `container ${id} is ${c.status.state}, not created`);
    c.status.state = 'running';
    c.status.startedAt = this.now();
  }

  async stopContainer(id: string, timeoutSeconds: number): Promise<void> {
    const c = this.containers.get(id);
    if (!c || c.status.state !== 'running') {
      if (c && c.status.state === 'created') this.exit(c, 0, 'Completed');
      return;
    }
    // A simulated process ends gracefully on SIGTERM; without a grace period it is killed.
    if (timeoutSeconds <= 0) this.exit(c, 137, 'Error');
    else this.exit(c, 0, 'Completed');
  }

  async removeContainer(id: string): Promise<void> {
    this.containers.delete(id);
  }

  async containerStatus(id: string): Promise<ContainerStatus | null> {
    const c = this.containers.get(id);
    return c ? copyContainer(c.status) : null;
  }

  async listContainers(filter?: { sandboxId?: string }): Promise<ContainerStatus[]> {
    const out: ContainerStatus[] = [];
    for (const c of this.containers.values()) {
      if (filter?.sandboxId !== undefined && c.status.sandboxId !== filter.sandboxId) continue;
      out.push(copyContainer(c.status));
    }
    return out;
  }

  // -- exec / attach

  async execSync(containerId: string, _cmd: string[], _timeoutSeconds: number): Promise<ExecSyncResult> {
    this.requireRunning(containerId);
    return { exitCode: 0, stdout: Buffer.alloc(0), stderr: Buffer.alloc(0), timedOut: false };
  }

  async exec(containerId: string, _cmd: string[], opts: ExecOptions): Promise<StreamSession> {
    this.requireRunning(containerId);
    return emptySession(opts);
  }

  async attach(containerId: string, opts: ExecOptions): Promise<StreamSession> {
    this.requireRunning(containerId);
    return emptySession(opts);
  }

  async close(): Promise<void> {}

  // -- test hooks

  /** Make a running container exit (as if its process ended). */
  exitContainer(id: string, exitCode: number, reason?: string): void {
    const c = this.containers.get(id);
    if (!c || c.status.state !== 'running') throw new Error(`simulated container ${id} is not running`);
    this.exit(c, exitCode, reason ?? (exitCode === 0 ? 'Completed' : 'Error'));
  }

  /** Make createContainer fail for an image (CreateContainerError with this message); undefined clears it. */
  failCreate(image: string, message: string | undefined): void {
    if (message === undefined) this.createFailures.delete(image);
    else this.createFailures.set(image, message);
  }

  /** Counts, for benchmarks and tests. */
  stats(): { sandboxes: number; containers: number; running: number } {
    let running = 0;
    for (const c of this.containers.values()) if (c.status.state === 'running') running++;
    return { sandboxes: this.sandboxes.size, containers: this.containers.size, running };
  }

  // -- internals

  private exit(c: SimContainer, exitCode: number, reason: string): void {
    c.status.state = 'exited';
    c.status.exitCode = exitCode;
    c.status.reason = reason;
    c.status.finishedAt = this.now();
    if (!c.status.startedAt) c.status.startedAt = c.status.finishedAt;
  }

  private requireRunning(id: string): void {
    const c = this.containers.get(id);
    if (!c) throw new RuntimeError('NotFound', `container ${id} not found`);
    if (c.status.state !== 'running') throw new RuntimeError('NotRunning', `container ${id} is not running`);
  }

  private allocateIp(): number {
    const last = this.size - 2; // the broadcast address is size - 1
    for (let tries = 0; tries < this.size; tries++) {
      const idx = this.nextIp;
      this.nextIp = this.nextIp >= last ? 2 : this.nextIp + 1;
      if (!this.usedIps.has(idx)) {
        this.usedIps.add(idx);
        return idx;
      }
    }
    throw new RuntimeError('CreatePodSandboxError', 'no IP addresses left in the pod CIDR');
  }

  private releaseIp(sb: SimSandbox): void {
    if (sb.ipIndex >= 0) this.usedIps.delete(sb.ipIndex);
    sb.ipIndex = -1;
  }
}

function sha(s: string): string {
  // Not cryptographic: a stable fake digest for an image name.
  let h1 = 0x811c9dc5;
  let h2 = 0x01000193;
  for (let i = 0; i < s.length; i++) {
    h1 = Math.imul(h1 ^ s.charCodeAt(i), 16777619) >>> 0;
    h2 = Math.imul(h2 + s.charCodeAt(i), 2246822519) >>> 0;
  }
  return (h1.toString(16).padStart(8, '0') + h2.toString(16).padStart(8, '0')).repeat(4);
}

function copySandbox(s: SandboxStatus): SandboxStatus {
  return { ...s, ips: [...s.ips], labels: { ...s.labels }, annotations: { ...s.annotations } };
}

function copyContainer(c: ContainerStatus): ContainerStatus {
  return { ...c, labels: { ...c.labels }, annotations: { ...c.annotations } };
}

function emptySession(opts: ExecOptions): StreamSession {
  const stdout = opts.stdout ? new PassThrough() : undefined;
  const stderr = opts.stderr && !opts.tty ? new PassThrough() : undefined;
  const stdin = opts.stdin ? new PassThrough() : undefined;
  stdout?.end();
  stderr?.end();
  stdin?.resume();
  return {
    stdin,
    stdout,
    stderr,
    resize: () => {},
    exitCode: Promise.resolve(0),
    close: () => {
      stdin?.destroy();
    },
  };
}
