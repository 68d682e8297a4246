// Conversions between kennel's runtime types and the CRI messages, and gRPC errors → RuntimeError.
import {
  grpcCode,
  grpcDetails,
  type CriAuthConfig,
  type CriContainerConfig,
  type CriContainerState,
  type CriContainerStatus,
  type CriMount,
  type CriPodSandboxConfig,
  type CriPodSandboxStatus,
  type Int64,
} from './cri-proto.ts';
import {
  RuntimeError,
  type AuthConfig,
  type ContainerConfig,
  type ContainerStateName,
  type ContainerStatus,
  type PodSandboxConfig,
  type SandboxStatus,
} from './types.ts';

export const NOT_FOUND = 5;
export const DEADLINE_EXCEEDED = 4;
export const UNAVAILABLE = 14;
export const INVALID_ARGUMENT = 3;

/** Nanoseconds since the epoch (int64 as a decimal string) → milliseconds. */
export function nsToMs(ns: Int64 | number | undefined | null): number {
  if (ns === undefined || ns === null || ns === '' || ns === '0' || ns === 0) return 0;
  return Number(BigInt(ns) / 1_000_000n);
}

const STATE: Record<CriContainerState, ContainerStateName> = {
  CONTAINER_CREATED: 'created',
  CONTAINER_RUNNING: 'running',
  CONTAINER_EXITED: 'exited',
  CONTAINER_UNKNOWN: 'unknown',
};

const PROPAGATION: Record<NonNullable<ContainerConfig['mounts'][number]['propagation']>, CriMount['propagation']> = {
  None: 'PROPAGATION_PRIVATE',
  HostToContainer: 'PROPAGATION_HOST_TO_CONTAINER',
  Bidirectional: 'PROPAGATION_BIDIRECTIONAL',
};

export function toCriSandboxConfig(c: PodSandboxConfig, opts: { privileged?: boolean } = {}): CriPodSandboxConfig {
  return {
    metadata: { name: c.name, uid: c.uid, namespace: c.namespace, attempt: c.attempt },
    // With the node's network the pod shares the node's UTS namespace: runc refuses a hostname.
    hostname: c.hostNetwork ? '' : c.hostname,
    logDirectory: c.logDirectory,
    ...(c.dnsConfig ? { dnsConfig: { servers: c.dnsConfig.servers, searches: c.dnsConfig.searches, options: c.dnsConfig.options } } : {}),
    portMappings: c.portMappings.map((p) => ({
      protocol: p.protocol,
      containerPort: p.containerPort,
      hostPort: p.hostPort ?? 0,
      hostIp: p.hostIp ?? '',
    })),
    labels: c.labels,
    annotations: c.annotations,
    linux: {
      cgroupParent: c.cgroupParent ?? '',
      securityContext: {
        namespaceOptions: { network: c.hostNetwork ? 'NODE' : 'POD', pid: 'CONTAINER', ipc: 'POD' },
        privileged: opts.privileged ?? false,
      },
    },
  };
}

export function toCriContainerConfig(c: ContainerConfig, sandbox: PodSandboxConfig, hostsPath?: string): CriContainerConfig {
  const mounts: CriMount[] = c.mounts.map((m) => ({
    containerPath: m.containerPath,
    hostPath: m.hostPath,
    readonly: m.readonly,
    propagation: PROPAGATION[m.propagation ?? 'None'],
  }));
  // The pod's managed /etc/hosts (as the kubelet mounts it, host network included).
  if (hostsPath && !mounts.some((m) => m.containerPath === '/etc/hosts')) {
    mounts.push({ containerPath: '/etc/hosts', hostPath: hostsPath, readonly: false, propagation: 'PROPAGATION_PRIVATE' });
  }
  const resources = c.resources
    ? {
        ...(c.resources.cpuShares !== undefined ? { cpuShares: c.resources.cpuShares } : {}),
        ...(c.resources.cpuQuota !== undefined ? { cpuQuota: c.resources.cpuQuota } : {}),
        ...(c.resources.cpuPeriod !== undefined ? { cpuPeriod: c.resources.cpuPeriod } : {}),
        ...(c.resources.memoryLimitBytes !== undefined ? { memoryLimitInBytes: c.resources.memoryLimitBytes } : {}),
      }
    : undefined;
  return {
    metadata: { name: c.name, attempt: c.attempt },
    image: { image: c.image },
    command: c.command,
    args: c.args,
    workingDir: c.workingDir ?? '',
    envs: c.envs.map((e) => ({ key: e.key, value: e.value })),
    mounts,
    labels: c.labels,
    annotations: c.annotations,
    logPath: c.logPath,
    stdin: c.stdin,
    stdinOnce: c.stdinOnce,
    tty: c.tty,
    linux: {
      ...(resources ? { resources } : {}),
      securityContext: {
        privileged: c.privileged ?? false,
        namespaceOptions: { network: sandbox.hostNetwork ? 'NODE' : 'POD', pid: 'CONTAINER', ipc: 'POD' },
        ...(c.runAsUser !== undefined ? { runAsUser: { value: c.runAsUser } } : {}),
        ...(c.runAsGroup !== undefined ? { runAsGroup: { value: c.runAsGroup } } : {}),
      },
    },
  };
}

export function fromCriSandbox(s: CriPodSandboxStatus): SandboxStatus {
  const ips: string[] = [];
  if (s.network?.ip) ips.push(s.network.ip);
  for (const a of s.network?.additionalIps ?? []) if (a.ip) ips.push(a.ip);
  return {
    id: s.id,
    state: s.state === 'SANDBOX_READY' ? 'ready' : 'notready',
    ips,
    createdAt: nsToMs(s.createdAt),
    uid: s.metadata?.uid ?? '',
    name: s.metadata?.name ?? '',
    namespace: s.metadata?.namespace ?? '',
    attempt: s.metadata?.attempt ?? 0,
    labels: { ...s.labels },
    annotations: { ...s.annotations },
  };
}

export function fromCriContainer(s: CriContainerStatus, sandboxId: string): ContainerStatus {
  const startedAt = nsToMs(s.startedAt);
  let finishedAt = nsToMs(s.finishedAt);
  // containerd stamps startedAt after the start call returns, the exit from the shim's event:
  // a process that exits at once can look finished before it started. Never report that.
  if (finishedAt && startedAt && finishedAt < startedAt) finishedAt = startedAt;
  return {
    id: s.id,
    sandboxId,
    name: s.metadata?.name ?? '',
    attempt: s.metadata?.attempt ?? 0,
    image: s.image?.image ?? '',
    imageRef: s.imageRef,
    state: STATE[s.state] ?? 'unknown',
    createdAt: nsToMs(s.createdAt),
    startedAt,
    finishedAt,
    exitCode: s.exitCode,
    reason: s.reason,
    message: s.message,
    logPath: s.logPath,
    labels: { ...s.labels },
    annotations: { ...s.annotations },
  };
}

/** The registry host of an image reference, as containerd resolves it (docker.io by default). */
export function imageRegistryHost(image: string): string {
  const first = image.split('/')[0] ?? '';
  if (image.includes('/') && (first.includes('.') || first.includes(':') || first === 'localhost')) return first;
  return 'docker.io';
}

/**
 * containerd parses AuthConfig.server_address as a URL and sends the credentials only to a
 * registry whose host equals the URL's host: a bare `host:port` (as docker config keys often
 * are) must become `https://host:port`, and Docker Hub's names the host containerd talks to.
 */
export function normalizeServerAddress(address: string | undefined): string {
  if (!address) return '';
  let url: URL;
  try {
    url = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(address) ? address : `https://${address}`);
  } catch {
    return address;
  }
  if (['docker.io', 'index.docker.io', 'registry-1.docker.io', 'registry.hub.docker.com'].includes(url.hostname)) {
    return 'https://registry-1.docker.io';
  }
  return `${url.protocol}//${url.host}`;
}

export function toCriAuth(a: AuthConfig): CriAuthConfig {
  return {
    username: a.username ?? '',
    password: a.password ?? '',
    auth: a.auth ?? '',
    serverAddress: normalizeServerAddress(a.serverAddress),
    identityToken: a.identityToken ?? '',
    registryToken: a.registryToken ?? '',
  };
}

/** A runtime error with the given Kubernetes reason, from a gRPC failure. */
export function wrap(reason: string, err: unknown, what: string): RuntimeError {
  if (err instanceof RuntimeError) return err;
  const code = grpcCode(err);
  if (code === UNAVAILABLE) return new RuntimeError('RuntimeUnavailable', `${what}: containerd is not reachable: ${grpcDetails(err)}`);
  return new RuntimeError(reason, `${what}: ${grpcDetails(err)}`);
}
