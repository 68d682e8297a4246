// The runtime contract of the node agent, shaped like the CRI (runtime.v1 RuntimeService and
// ImageService): pod sandboxes, containers, images, exec/attach and container logs. Three
// implementations: containerd (a CRI gRPC client), process (host processes) and simulated.
import type { Readable, Writable } from 'node:stream';

export interface KeyValuePair {
  key: string;
  value: string;
}

export interface DnsConfig {
  servers: string[];
  searches: string[];
  options: string[];
}

export interface PortMapping {
  protocol: 'TCP' | 'UDP' | 'SCTP';
  containerPort: number;
  hostPort?: number;
  hostIp?: string;
}

export interface PodSandboxConfig {
  /** Pod identity (CRI PodSandboxMetadata). */
  uid: string;
  name: string;
  namespace: string;
  attempt: number;
  hostname: string;
  /** Directory where container logs of this pod go (`<podLogsRoot>/<ns>_<name>_<uid>`). */
  logDirectory: string;
  dnsConfig?: DnsConfig;
  portMappings: PortMapping[];
  labels: Record<string, string>;
  annotations: Record<string, string>;
  hostNetwork: boolean;
  /** Extra /etc/hosts entries (hostAliases) and the pod's own FQDN line are written by the agent. */
  hostsFile?: string;
  /** cgroup parent for the pod (containerd/runc). */
  cgroupParent?: string;
}

export interface Mount {
  containerPath: string;
  hostPath: string;
  readonly: boolean;
  /** Mount propagation: None (private) by default. */
  propagation?: 'None' | 'HostToContainer' | 'Bidirectional';
}

export interface ContainerResources {
  cpuShares?: number;
  cpuQuota?: number;
  cpuPeriod?: number;
  memoryLimitBytes?: number;
}

export interface ContainerConfig {
  name: string;
  attempt: number;
  image: string;
  command: string[];
  args: string[];
  workingDir?: string;
  envs: KeyValuePair[];
  mounts: Mount[];
  /** Path of the log file, relative to the sandbox's logDirectory (`<name>/<attempt>.log`). */
  logPath: string;
  stdin: boolean;
  stdinOnce: boolean;
  tty: boolean;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  resources?: ContainerResources;
  /** runAsUser etc. are applied where the runtime can. */
  runAsUser?: number;
  runAsGroup?: number;
  privileged?: boolean;
}

export type SandboxState = 'ready' | 'notready';

export interface SandboxStatus {
  id: string;
  state: SandboxState;
  /** The pod's IP (primary first). */
  ips: string[];
  createdAt: number; // ms since epoch
  uid: string;
  name: string;
  namespace: string;
  attempt: number;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

export type ContainerStateName = 'created' | 'running' | 'exited' | 'unknown';

export interface ContainerStatus {
  id: string;
  sandboxId: string;
  name: string;
  attempt: number;
  image: string;
  imageRef: string;
  state: ContainerStateName;
  createdAt: number; // ms
  startedAt: number; // ms, 0 if never started
  finishedAt: number; // ms, 0 if not finished
  exitCode: number;
  /** Runtime reason for the exit (e.g. `OOMKilled`, `Error`, `Completed`). */
  reason: string;
  message: string;
  /** Absolute path of the container's CRI-format log file. */
  logPath: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

export interface ImageRef {
  /** Image id / digest the runtime resolved. */
  ref: string;
  size?: number;
}

export interface AuthConfig {
  username?: string;
  password?: string;
  auth?: string;
  serverAddress?: string;
  identityToken?: string;
  registryToken?: string;
}

export interface ExecOptions {
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
  tty: boolean;
}

/** A running exec or attach session: streams plus the exit code when it ends. */
export interface StreamSession {
  stdin?: Writable;
  stdout?: Readable;
  stderr?: Readable;
  resize?(width: number, height: number): void;
  /** Resolves with the exit code (attach: the container's when it exits, or 0 on detach). */
  exitCode: Promise<number>;
  close(): void;
}

export interface ExecSyncResult {
  exitCode: number;
  stdout: Buffer;
  stderr: Buffer;
  timedOut: boolean;
}

export class RuntimeError extends Error {
  constructor(
    /** Kubernetes-facing reason: ErrImagePull, ImageNotFound, CreateContainerError, RunContainerError … */
    readonly reason: string,
    message: string,
  ) {
    super(message);
    this.name = 'RuntimeError';
  }
}

export interface Runtime {
  readonly name: 'containerd' | 'process' | 'simulated';
  /**
   * Pod sandboxes the agent should have this runtime create at once, at most (the others wait,
   * in the order they came): creating one is CPU-bound (runc, CNI plugins, the shim), so on a
   * burst of pods the first ones become ready first instead of all of them late. Undefined: no
   * limit.
   */
  readonly sandboxStartLimit?: number;
  version(): Promise<{ runtimeName: string; runtimeVersion: string }>;

  runPodSandbox(config: PodSandboxConfig): Promise<string>;
  stopPodSandbox(id: string): Promise<void>;
  removePodSandbox(id: string): Promise<void>;
  podSandboxStatus(id: string): Promise<SandboxStatus | null>;
  listPodSandboxes(): Promise<SandboxStatus[]>;

  pullImage(image: string, auth?: AuthConfig): Promise<ImageRef>;
  imageStatus(image: string): Promise<ImageRef | null>;

  createContainer(sandboxId: string, config: ContainerConfig, sandboxConfig: PodSandboxConfig): Promise<string>;
  startContainer(id: string): Promise<void>;
  /** SIGTERM, then SIGKILL after timeoutSeconds. */
  stopContainer(id: string, timeoutSeconds: number): Promise<void>;
  removeContainer(id: string): Promise<void>;
  containerStatus(id: string): Promise<ContainerStatus | null>;
  listContainers(filter?: { sandboxId?: string }): Promise<ContainerStatus[]>;

  execSync(containerId: string, cmd: string[], timeoutSeconds: number): Promise<ExecSyncResult>;
  exec(containerId: string, cmd: string[], opts: ExecOptions): Promise<StreamSession>;
  attach(containerId: string, opts: ExecOptions): Promise<StreamSession>;

  /** Release connections and helpers (not the containers: they keep running). */
  close(): Promise<void>;
}
