// Pod workers: container start/kill execution (sandbox and container config, lifecycle hooks, stop with grace).
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import { parseQuantity } from '../registry/quantity.ts';
import { ContainerConfigError, expandCommandAndArgs, makeEnvironment } from './env.ts';
import { podTarget } from './events.ts';
import type { Container, LifecycleHandler, Pod } from './kube-types.ts';
import type { ContainerConfig, ContainerResources, ContainerStatus, PodSandboxConfig, PortMapping } from './runtime/types.ts';
import { RuntimeError } from './runtime/types.ts';
import {
  ANNOTATION_CONTAINER_HASH,
  ANNOTATION_GRACE_PERIOD,
  ANNOTATION_PRESTOP,
  ANNOTATION_RESTART_COUNT,
  ANNOTATION_TERMINATION_MESSAGE_PATH,
  LABEL_CONTAINER_NAME,
  LABEL_INIT_CONTAINER,
  LABEL_NODE_NAME,
  LABEL_POD_NAME,
  LABEL_POD_NAMESPACE,
  LABEL_POD_UID,
  containerNameOf,
  hashContainer,
  podGracePeriodSeconds,
  type PodRuntimeState,
  type StartAction,
} from './sync.ts';
import { containerMounts, serviceAccountVolumeMount, type PodFiles, type PodVolumes } from './volumes.ts';
import type { ImagePuller } from './podworker-images.ts';
import { MIN_GRACE_SECONDS, errMessage, podDns, podFullName, sleep, type PodWorkersOptions, type Worker } from './podworker-types.ts';

/** Container execution for the pod workers: sandbox and container configs, start, hooks, stop with grace. */
export class ContainerOps {
  constructor(
    private readonly o: PodWorkersOptions,
    private readonly images: ImagePuller,
  ) {}

  sandboxConfig(pod: Pod, attempt: number): PodSandboxConfig {
    const uid = pod.metadata.uid ?? '';
    const ns = pod.metadata.namespace ?? 'default';
    const name = pod.metadata.name ?? '';
    const ports: PortMapping[] = [];
    for (const c of pod.spec.containers ?? []) {
      for (const p of c.ports ?? []) {
        if (!p.hostPort) continue;
        const m: PortMapping = { protocol: (p.protocol as PortMapping['protocol']) ?? 'TCP', containerPort: p.containerPort, hostPort: p.hostPort };
        if (p.hostIP) m.hostIp = p.hostIP;
        ports.push(m);
      }
    }
    const cfg: PodSandboxConfig = {
      uid,
      name,
      namespace: ns,
      attempt,
      hostname: pod.spec.hostNetwork ? this.o.net.nodeHostname : (pod.spec.hostname || name).slice(0, 63).replace(/[-.]+$/, ''),
      logDirectory: join(this.o.podLogsDir, `${ns}_${name}_${uid}`),
      portMappings: ports,
      labels: { ...(pod.metadata.labels ?? {}), [LABEL_POD_NAME]: name, [LABEL_POD_NAMESPACE]: ns, [LABEL_POD_UID]: uid, [LABEL_NODE_NAME]: this.o.nodeName },
      annotations: { ...(pod.metadata.annotations ?? {}), [ANNOTATION_GRACE_PERIOD]: String(pod.spec.terminationGracePeriodSeconds ?? 30) },
      hostNetwork: pod.spec.hostNetwork === true,
    };
    if (this.o.volumes) {
      cfg.hostsFile = join(this.o.dataDir, 'pods', uid, 'etc-hosts');
    }
    const dns = this.dnsFor(pod);
    if (dns) cfg.dnsConfig = dns;
    // A fenceable pod's containers are the fence watchdog's targets before they start.
    this.o.fence?.markSandbox?.(pod, cfg);
    return cfg;
  }

  private dnsFor(pod: Pod): PodSandboxConfig['dnsConfig'] {
    return podDns(pod, this.o.net);
  }

  async startContainer(
    w: Worker,
    pod: Pod,
    sandboxId: string,
    sandboxConfig: PodSandboxConfig,
    podIPs: string[],
    s: StartAction,
    vols: PodVolumes,
    files: PodFiles | undefined,
    implicitVolume: string | undefined,
  ): Promise<void> {
    const c = s.container;
    const rt = this.o.runtime;
    const target = podTarget(pod, c.name);
    const rec = this.o.recorder;
    // 1. the image
    const imageOk = await this.images.ensureImage(w, pod, c);
    if (!imageOk) return;
    // 2. the configuration
    let config: ContainerConfig;
    try {
      config = await this.containerConfig(pod, c, s, podIPs, vols, files, implicitVolume);
    } catch (e) {
      if (e instanceof ContainerConfigError) {
        w.reasons.set(c.name, { reason: 'CreateContainerConfigError', message: e.message });
        rec.event(target, 'Warning', 'Failed', `Error: ${e.message}`);
        return;
      }
      throw e;
    }
    // 3. create and start
    let id: string;
    try {
      id = await rt.createContainer(sandboxId, config, sandboxConfig);
    } catch (e) {
      const msg = errMessage(e);
      w.reasons.set(c.name, { reason: 'CreateContainerError', message: msg });
      rec.event(target, 'Warning', 'Failed', `Error: ${msg}`);
      return;
    }
    rec.event(target, 'Normal', 'Created', `Created container ${c.name}`);
    try {
      await rt.startContainer(id);
    } catch (e) {
      const msg = errMessage(e);
      w.reasons.set(c.name, { reason: e instanceof RuntimeError && e.reason ? e.reason : 'RunContainerError', message: msg });
      rec.event(target, 'Warning', 'Failed', `Error: failed to start container "${c.name}": ${msg}`);
      return;
    }
    rec.event(target, 'Normal', 'Started', `Started container ${c.name}`);
    w.reasons.delete(c.name);
    // 4. postStart
    const post = c.lifecycle?.postStart;
    if (post) {
      const err = await this.runHook('PostStart', post, pod, c, id, podIPs[0] ?? this.o.hostIP(), 30);
      if (err) {
        rec.event(target, 'Warning', 'FailedPostStartHook', err);
        const st = await rt.containerStatus(id);
        if (st) await this.killContainer(pod, st, podGracePeriodSeconds(pod), 'FailedPostStartHook', false);
        w.reasons.set(c.name, { reason: 'PostStartHookError', message: err });
      }
    }
  }

  private async containerConfig(pod: Pod, c: Container, s: StartAction, podIPs: string[], vols: PodVolumes, files: PodFiles | undefined, implicitVolume: string | undefined): Promise<ContainerConfig> {
    const uid = pod.metadata.uid ?? '';
    const envs = await makeEnvironment(pod, c, this.o.sources, { hostIP: this.o.hostIP(), podIPs, nodeAllocatable: this.o.nodeAllocatable() });
    const { command, args } = expandCommandAndArgs(c, envs);
    const withSa: Container = implicitVolume ? { ...c, volumeMounts: [...(c.volumeMounts ?? []), serviceAccountVolumeMount(implicitVolume)] } : c;
    const mounts = this.o.volumes ? await containerMounts(pod, withSa, vols, files, envs) : [];
    const sc = c.securityContext ?? {};
    const psc = pod.spec.securityContext ?? {};
    const config: ContainerConfig = {
      name: c.name,
      attempt: s.restartCount,
      image: c.image ?? '',
      command,
      args,
      envs,
      mounts,
      logPath: `${c.name}/${s.restartCount}.log`,
      stdin: c.stdin === true,
      stdinOnce: c.stdinOnce === true,
      tty: c.tty === true,
      labels: { [LABEL_CONTAINER_NAME]: c.name, [LABEL_POD_NAME]: pod.metadata.name ?? '', [LABEL_POD_NAMESPACE]: pod.metadata.namespace ?? '', [LABEL_POD_UID]: uid, [LABEL_INIT_CONTAINER]: String(s.isInit) },
      annotations: {
        [ANNOTATION_CONTAINER_HASH]: hashContainer(c),
        [ANNOTATION_RESTART_COUNT]: String(s.restartCount),
        [ANNOTATION_TERMINATION_MESSAGE_PATH]: c.terminationMessagePath ?? '/dev/termination-log',
        [ANNOTATION_GRACE_PERIOD]: String(pod.spec.terminationGracePeriodSeconds ?? 30),
      },
    };
    if (c.lifecycle?.preStop) config.annotations[ANNOTATION_PRESTOP] = JSON.stringify(c.lifecycle.preStop);
    if (c.workingDir) config.workingDir = c.workingDir;
    const res = containerResources(c);
    if (res) config.resources = res;
    const user = sc.runAsUser ?? psc.runAsUser;
    if (typeof user === 'number') config.runAsUser = user;
    const group = sc.runAsGroup ?? psc.runAsGroup;
    if (typeof group === 'number') config.runAsGroup = group;
    if (sc.privileged) config.privileged = true;
    return config;
  }

  // -- hooks

  private async runHook(kind: 'PostStart' | 'PreStop', h: LifecycleHandler, pod: Pod, c: Container, containerId: string, host: string, timeoutSeconds: number): Promise<string | undefined> {
    if (h.exec) {
      const cmd = h.exec.command ?? [];
      try {
        const r = await this.o.runtime.execSync(containerId, cmd, timeoutSeconds);
        if (r.exitCode === 0 && !r.timedOut) return undefined;
        const detail = r.timedOut ? `command '${cmd.join(' ')}' timed out` : `command '${cmd.join(' ')}' exited with ${r.exitCode}: ${r.stderr.toString().trim()}`;
        return `Exec lifecycle hook ([${cmd.join(' ')}]) for Container "${c.name}" in Pod "${podFullName(pod)}" failed - error: ${detail}, message: ${JSON.stringify(r.stdout.toString())}`;
      } catch (e) {
        return `Exec lifecycle hook ([${cmd.join(' ')}]) for Container "${c.name}" in Pod "${podFullName(pod)}" failed - error: ${errMessage(e)}, message: ""`;
      }
    }
    if (h.httpGet) {
      const g = h.httpGet;
      const port = resolvePort(g.port, c);
      const path = g.path ?? '/';
      try {
        await httpGet(g.scheme === 'HTTPS' ? 'https' : 'http', g.host || host, port, path, g.httpHeaders ?? [], timeoutSeconds);
        return undefined;
      } catch (e) {
        return `HTTP lifecycle hook (${path}) for Container "${c.name}" in Pod "${podFullName(pod)}" failed - error: ${errMessage(e)}`;
      }
    }
    const sleepSpec = (h as { sleep?: { seconds?: number } }).sleep;
    if (sleepSpec?.seconds) {
      await sleep(Math.min(sleepSpec.seconds, timeoutSeconds) * 1000);
      return undefined;
    }
    void kind;
    return undefined;
  }

  // -- killing

  /** Stop one container: Killing event, preStop, then SIGTERM and SIGKILL after the grace period. */
  async killContainer(pod: Pod | undefined, c: ContainerStatus, graceSeconds: number, message?: string, runPreStop = true): Promise<void> {
    const name = containerNameOf(c);
    const uid = c.labels[LABEL_POD_UID] ?? '';
    this.o.probes?.stop(uid, name);
    if (c.state !== 'running' && c.state !== 'created') return;
    if (pod) this.o.recorder.event(podTarget(pod, name), 'Normal', 'Killing', message ?? `Stopping container ${name}`);
    let grace = graceSeconds;
    if (runPreStop && c.state === 'running') {
      const spec = pod ? [...(pod.spec.containers ?? []), ...(pod.spec.initContainers ?? [])].find((x) => x.name === name) : undefined;
      let pre: LifecycleHandler | undefined = spec?.lifecycle?.preStop;
      if (!pre && c.annotations[ANNOTATION_PRESTOP]) {
        try {
          pre = JSON.parse(c.annotations[ANNOTATION_PRESTOP]) as LifecycleHandler;
        } catch {
          pre = undefined;
        }
      }
      if (pre && grace > 0) {
        const t0 = Date.now();
        const host = pod?.status?.podIP ?? this.o.hostIP();
        const hookSpec: Container = spec ?? { name, image: c.image };
        let timer: NodeJS.Timeout | undefined;
        const err = await Promise.race([
          this.runHook('PreStop', pre, pod ?? ({ metadata: { name: c.labels[LABEL_POD_NAME], namespace: c.labels[LABEL_POD_NAMESPACE], uid }, spec: { containers: [] } } as Pod), hookSpec, c.id, host, grace),
          new Promise<string>((r) => {
            timer = setTimeout(() => r(`PreStop hook for Container "${name}" did not complete in ${grace}s`), grace * 1000);
          }),
        ]).finally(() => clearTimeout(timer));
        if (err && pod) this.o.recorder.event(podTarget(pod, name), 'Warning', 'FailedPreStopHook', err);
        grace = Math.max(MIN_GRACE_SECONDS, grace - Math.round((Date.now() - t0) / 1000));
      }
    }
    try {
      await this.o.runtime.stopContainer(c.id, grace);
    } catch (e) {
      this.o.logger.warn('stopping a container failed', { container: name, id: c.id, error: errMessage(e) });
    }
  }

  /** Stop every container (app containers first, in parallel) and the sandboxes. */
  async killPod(w: Worker, pod: Pod | undefined, state: PodRuntimeState, graceSeconds: number): Promise<void> {
    const running = state.containers.filter((c) => c.state === 'running' || c.state === 'created');
    const isInit = (c: ContainerStatus): boolean => c.labels[LABEL_INIT_CONTAINER] === 'true';
    await Promise.all(running.filter((c) => !isInit(c)).map((c) => this.killContainer(pod, c, graceSeconds)));
    await Promise.all(running.filter(isInit).map((c) => this.killContainer(pod, c, graceSeconds)));
    for (const s of state.sandboxes) {
      if (s.state !== 'ready') continue;
      try {
        await this.o.runtime.stopPodSandbox(s.id);
      } catch (e) {
        this.o.logger.warn('stopping a sandbox failed', { uid: w.uid, sandbox: s.id, error: errMessage(e) });
      }
    }
    if (pod) this.o.probes?.removePod(w.uid);
  }

  async removeAll(w: Worker, state: PodRuntimeState): Promise<void> {
    for (const c of state.containers) await this.o.runtime.removeContainer(c.id).catch(() => undefined);
    for (const s of state.sandboxes) {
      await this.o.runtime.removePodSandbox(s.id).catch(() => undefined);
      w.sandboxIds.delete(s.id);
    }
  }

}

function containerResources(c: Container): ContainerResources | undefined {
  const req = (c.resources?.requests ?? {}) as Record<string, string>;
  const lim = (c.resources?.limits ?? {}) as Record<string, string>;
  const milli = (v: string | undefined): number | undefined => {
    if (v === undefined) return undefined;
    try {
      return Number(parseQuantity(v).nanos / 1_000_000n);
    } catch {
      return undefined;
    }
  };
  const bytes = (v: string | undefined): number | undefined => {
    if (v === undefined) return undefined;
    try {
      return Number(parseQuantity(v).nanos / 1_000_000_000n);
    } catch {
      return undefined;
    }
  };
  const out: ContainerResources = {};
  const cpuReq = milli(req.cpu ?? lim.cpu);
  out.cpuShares = cpuReq === undefined ? 2 : Math.max(2, Math.floor((cpuReq * 1024) / 1000));
  const cpuLim = milli(lim.cpu);
  if (cpuLim !== undefined) {
    out.cpuPeriod = 100_000;
    out.cpuQuota = Math.max(1000, Math.floor((cpuLim * 100_000) / 1000));
  }
  const mem = bytes(lim.memory);
  if (mem !== undefined) out.memoryLimitBytes = mem;
  return out;
}

function resolvePort(port: number | string | undefined, c: Container): number {
  if (typeof port === 'number') return port;
  const n = Number(port);
  if (Number.isInteger(n) && n > 0) return n;
  const named = (c.ports ?? []).find((p) => p.name === port);
  if (named) return named.containerPort;
  throw new Error(`couldn't find port: ${String(port)} in container ${c.name}`);
}

function httpGet(scheme: 'http' | 'https', host: string, port: number, path: string, headers: { name: string; value: string }[], timeoutSeconds: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const h: Record<string, string> = { 'user-agent': 'kube-lifecycle/1.32' };
    for (const x of headers) h[x.name] = x.value;
    const req = (scheme === 'https' ? httpsRequest : httpRequest)({ host, port, path, method: 'GET', headers: h, timeout: timeoutSeconds * 1000, rejectUnauthorized: false }, (res) => {
      res.resume();
      res.on('end', () => {
        const code = res.statusCode ?? 0;
        if (code >= 200 && code < 400) resolve();
        else reject(new Error(`HTTP lifecycle hook returned status ${code}`));
      });
    });
    req.on('timeout', () => req.destroy(new Error(`timeout after ${timeoutSeconds}s`)));
    req.on('error', reject);
    req.end();
  });
}
