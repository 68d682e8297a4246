// The node agent: registers the Node and keeps its Lease, watches the pods bound to the node
// and runs them through the runtime with one pod worker per pod (podworker.ts), adopting
// whatever the runtime already runs for them. It is an API client only.
import { ensureLocalPathDirectory, startLocalPathCleaner } from '../controllers/volumes/node-cleaner.ts';
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { Informer, dropManagedFields } from '../client/informer.ts';
import { isNotFound, type KubeClient, type ResourceRef } from '../client/rest.ts';
import type { KubeObject } from '../registry/types.ts';
import type { Logger } from '../util/log.ts';
import { DependencyTracker } from './dependencies.ts';
import { ApiEventRecorder, MemoryEventRecorder, type EventRecorder } from './events.ts';
import { startServiceProxy, type ServiceProxy } from './proxy/service-proxy.ts';
import type { Pod } from './kube-types.ts';
import { collectMachineInfo, NodeManager, type MachineInfo, type Pressure, type Taint } from './node.ts';
import type { ProbeManager, ProbeManagerFactory } from './probe-types.ts';
import { PODS, PodWorkers } from './podworker.ts';
import { createProbeManager } from './probes.ts';
import type { ContainerStatus, Runtime } from './runtime/types.ts';
import type { Backoff } from './sync.ts';
import { AgentFence, type AgentFenceOptions, type FenceStatus } from './fencing.ts';
import { FenceWatchdog, WATCHDOG_DIR, retireFenceWatchdog, takeWatchdogLog, watchdogPlanFor } from './fence-watchdog.ts';
import { ANNOTATION_FENCING, type FencingMode } from '../controllers/nodelifecycle/fencing.ts';

const SERVICES: ResourceRef = { group: '', version: 'v1', plural: 'services', namespaced: true, kind: 'Service' };
const ENDPOINT_SLICES: ResourceRef = { group: 'discovery.k8s.io', version: 'v1', plural: 'endpointslices', namespaced: true, kind: 'EndpointSlice' };
const CONFIGMAPS: ResourceRef = { group: '', version: 'v1', plural: 'configmaps', namespaced: true, kind: 'ConfigMap' };
const SECRETS: ResourceRef = { group: '', version: 'v1', plural: 'secrets', namespaced: true, kind: 'Secret' };
const PVCS: ResourceRef = { group: '', version: 'v1', plural: 'persistentvolumeclaims', namespaced: true, kind: 'PersistentVolumeClaim' };
const PVS: ResourceRef = { group: '', version: 'v1', plural: 'persistentvolumes', namespaced: false, kind: 'PersistentVolume' };

export interface AgentOptions {
  client: KubeClient;
  /**
   * The client for the pods' requests (status writes, events, volume sources, tokens), e.g. one
   * with a small connection pool: a burst of pod starts then queues briefly instead of opening,
   * and keeping open, a TLS connection per concurrent request (some 230 KiB of memory each).
   * The informers' watches and the node's heartbeats (Lease, status) stay on `client`, so they
   * never wait behind pod work (as a kubelet's heartbeat client). Default: client.
   */
  requestClient?: KubeClient;
  nodeName: string;
  runtime: Runtime;
  /** Pod volumes under <dataDir>/pods, container logs under <dataDir>/logs/pods (unless podLogsDir). */
  dataDir: string;
  logger: Logger;
  podCIDR?: string;
  /** The node's InternalIP (default: the machine's first non-loopback IPv4). */
  nodeIP?: string;
  /** Cluster DNS address for dnsPolicy ClusterFirst (without it pods use the host's resolv.conf). */
  clusterDNS?: string;
  clusterDomain?: string;
  labels?: Record<string, string>;
  taints?: Taint[];
  leaseDurationSeconds?: number;
  now?: () => number;

  /**
   * Makes the probe manager. Default: the kubelet-like one of probes.ts; for the simulated
   * runtime every probe succeeds (as kwok does). false: no probes (running containers without
   * a readiness probe are ready, those with one never are).
   */
  probes?: ProbeManagerFactory | false;
  /** Token for projected serviceAccountToken volumes. Default: the TokenRequest API (POST serviceaccounts/<sa>/token). */
  serviceAccountToken?: (pod: Pod, audience: string | undefined, expirationSeconds: number) => Promise<string>;
  /** Add the service-account volume (token, ca.crt, namespace) to pods that have none, as admission would (default true). */
  implicitServiceAccountVolume?: boolean;
  /** Set up volumes and /etc/hosts, resolv.conf, hostname (default: not for the simulated runtime). */
  volumes?: boolean;
  /** Write Events to the API (default true); false records none. */
  events?: boolean | EventRecorder;
  /** Capacity/allocatable overrides (e.g. cpu, memory, pods for simulated nodes). */
  capacity?: Record<string, string>;
  /** Machine facts (default: measured once); simulated nodes can share one. */
  machine?: MachineInfo;
  /** Node health (default: measured; simulated runtime: no pressure). */
  pressure?: () => Promise<Pressure>;
  /** Port of the agent's HTTPS endpoint, reported in status.daemonEndpoints. */
  kubeletPort?: number;
  podLogsDir?: string;
  /** Intervals (tests shorten them). */
  statusUpdateMs?: number;
  statusReportMs?: number;
  leaseRenewMs?: number;
  relistMs?: number;
  resyncMs?: number;
  backoff?: Backoff;
  imageBackoff?: Backoff;
  /** Program ClusterIP rules for pods as kube-proxy does (nftables table `ip kennel-proxy`); default: containerd runtime as root. */
  serviceProxy?: boolean;
  /** Self-fencing (fencing.ts): stop the pods the server may replace once the node's lease would
   *  have expired (default on, scope replaceable); false: never (only safe with a server that
   *  does not replace a dead node's pods). */
  fencing?: boolean | Omit<AgentFenceOptions, 'nodeName' | 'logger' | 'recorder' | 'watchdog'>;
  /** The fence watchdog (fence-watchdog.ts), which kills the fenceable containers by the deadline
   *  also when the agent is dead (default: on with fencing, for the process and containerd
   *  runtimes; it outlives agent.stop(), armed). false: none — the Node then does not say it
   *  fences, and the server does not replace its pods. */
  fenceWatchdog?: boolean | { lingerSeconds?: number };
}

export interface Agent {
  /** Stop the agent; containers keep running (a new agent adopts them), and the fence watchdog
   *  stays armed: the fenceable ones die at the deadline unless an agent renews the lease first. */
  stop(): Promise<void>;
  readonly nodeName: string;
  /** The node's IP (hostIP of its pods). */
  readonly hostIP: string;
  /** The newest runtime container of a pod's container (previous: the one before), for logs/exec/attach. */
  findContainer(namespace: string, pod: string, container?: string, previous?: boolean): Promise<{ pod: Pod; container: ContainerStatus } | undefined>;
  /** Re-sync the node status and lease now (tests). */
  syncNode(): Promise<void>;
  /** Resolves when no pod worker is busy (tests). */
  quiesce(): Promise<void>;
  /** The self-fencing state (undefined: fencing off). */
  fence(): FenceStatus | undefined;
  readonly probes: ProbeManager | undefined;
}

/** Namespace-scoped informers for configMaps or secrets, started the first time a pod needs one. */
class LazyNamespaceCache {
  private readonly informers = new Map<string, Informer<KubeObject>>();
  constructor(
    private readonly client: KubeClient,
    private readonly res: ResourceRef,
    private readonly logger: Logger,
    private readonly onChange: (namespace: string, name: string) => void,
  ) {}

  async get(namespace: string, name: string): Promise<KubeObject | undefined> {
    let inf = this.informers.get(namespace);
    if (!inf) {
      inf = new Informer<KubeObject>(this.client, this.res, { namespace, logger: this.logger, name: `${this.res.plural}/${namespace}`, transform: dropManagedFields });
      const changed = (o: KubeObject): void => this.onChange(namespace, o.metadata.name ?? '');
      inf.addEventHandler({ onAdd: (o, initial) => !initial && changed(o), onUpdate: (_a, b) => changed(b), onDelete: (o) => changed(o) });
      this.informers.set(namespace, inf);
      inf.start();
    }
    await inf.waitForSync({ timeoutMs: 30_000 });
    return inf.get(namespace, name);
  }

  async stop(): Promise<void> {
    await Promise.all([...this.informers.values()].map((i) => i.stop()));
  }
}

/** Simulated pods pass every probe: running containers are started and ready. */
const healthyProbes: ProbeManagerFactory = () => ({
  start: () => {},
  stop: () => {},
  removePod: () => {},
  readiness: () => true,
  started: () => true,
  close: async () => {},
});

async function readOr(path: string, dflt: string): Promise<string> {
  try {
    return await fsp.readFile(path, 'utf8');
  } catch {
    return dflt;
  }
}

/** Start the node agent. Resolves once the Node is registered and pods are being watched. */
export async function startAgent(opts: AgentOptions): Promise<Agent> {
  const { client, nodeName, runtime, logger } = opts;
  const requests = opts.requestClient ?? client;
  const log = logger.child ? logger.child('agent') : logger;
  const now = opts.now ?? Date.now;
  const simulated = runtime.name === 'simulated';
  await fsp.mkdir(opts.dataDir, { recursive: true });

  const recorder: EventRecorder =
    opts.events === false ? new MemoryEventRecorder(false) : typeof opts.events === 'object' ? opts.events : new ApiEventRecorder({ client: requests, host: nodeName, logger: log, now });
  const machine = opts.machine ?? (await collectMachineInfo(opts.dataDir));
  const runtimeName = (await runtime.version().catch(() => ({ runtimeName: runtime.name }))).runtimeName || runtime.name;

  // The fence watchdog: started (or the running one reused) before the first renewal arms it.
  const watchdogDir = join(opts.dataDir, WATCHDOG_DIR);
  for (const line of takeWatchdogLog(watchdogDir)) {
    if (/ killed /.test(line)) log.warn('the fence watchdog killed fenceable containers (the agent was away or cut off)', { line });
  }
  const plan = opts.fencing !== false && opts.fenceWatchdog !== false ? watchdogPlanFor(runtime, nodeName, opts.dataDir) : undefined;
  let watchdog: FenceWatchdog | undefined;
  if (plan) {
    try {
      watchdog = FenceWatchdog.start({
        dir: watchdogDir,
        logger: log,
        targets: plan.targets,
        lingerSeconds: typeof opts.fenceWatchdog === 'object' ? opts.fenceWatchdog.lingerSeconds : undefined,
      });
    } catch (e) {
      log.error('the fence watchdog could not start: the server will not replace this node\'s pods when it is lost', { error: e instanceof Error ? e.message : String(e) });
    }
  }
  if (!watchdog) await retireFenceWatchdog(watchdogDir);
  const fence =
    opts.fencing === false
      ? undefined
      : new AgentFence({
          ...(typeof opts.fencing === 'object' ? opts.fencing : {}),
          nodeName,
          logger: log,
          recorder,
          watchdog: watchdog && { arm: (inMs) => watchdog.arm(inMs), cgroupParent: plan?.cgroupParent },
        });
  // How this node's fenceable containers die by the deadline (the server replaces pods only then).
  const fencingMode: FencingMode | null = !fence ? null : watchdog ? 'watchdog' : simulated ? 'agent' : null;
  const node = new NodeManager({
    client,
    nodeName,
    runtime,
    logger: log,
    recorder,
    dataDir: opts.dataDir,
    machine,
    nodeIP: opts.nodeIP,
    podCIDR: opts.podCIDR,
    labels: opts.labels,
    taints: opts.taints,
    capacity: opts.capacity,
    leaseDurationSeconds: opts.leaseDurationSeconds,
    kubeletPort: opts.kubeletPort,
    statusUpdateMs: opts.statusUpdateMs,
    statusReportMs: opts.statusReportMs,
    leaseRenewMs: opts.leaseRenewMs,
    pressure: opts.pressure ?? (simulated ? async () => ({ memory: false, disk: false, pid: false }) : undefined),
    now,
    onLeaseRenewed: fence ? (sentAt, seconds) => fence.renewed(sentAt, seconds) : undefined,
    leaseClock: fence?.clock,
    annotations: { [ANNOTATION_FENCING]: fencingMode },
  });
  await node.start();

  // Services, for service-link variables and KUBERNETES_SERVICE_HOST.
  const services = new Informer<KubeObject>(client, SERVICES, { logger: log, name: 'services', transform: dropManagedFields });
  services.start();

  // Start-up dependencies (kennel.dev/depends-on): EndpointSlices are watched from the first
  // pod that declares some; a change wakes the pods held for theirs.
  let slices: Informer<KubeObject> | undefined;
  const dependencies = new DependencyTracker({
    services,
    localReady: (uid) => workers?.localReady(uid),
    slices: () => {
      if (!slices) {
        const inf = new Informer<KubeObject>(client, ENDPOINT_SLICES, { logger: log, name: 'endpointslices', transform: dropManagedFields });
        const changed = (): void => workers?.dependenciesChanged();
        inf.addEventHandler({ onAdd: changed, onUpdate: changed, onDelete: changed });
        inf.start();
        void inf.waitForSync().then(changed, () => undefined);
        slices = inf;
      }
      return slices;
    },
  });

  let workers: PodWorkers | undefined;
  const wake = (kind: 'configmap' | 'secret') => (ns: string, name: string) => {
    if (!workers) return;
    for (const uid of workers.podsReferencing(ns, kind, name)) workers.requestSync(uid);
  };
  const configMaps = new LazyNamespaceCache(client, CONFIGMAPS, log, wake('configmap'));
  const secrets = new LazyNamespaceCache(client, SECRETS, log, wake('secret'));
  const getOrUndefined = async (res: ResourceRef, ns: string | undefined, name: string): Promise<KubeObject | undefined> => {
    try {
      return await requests.get(res, ns, name);
    } catch (e) {
      if (isNotFound(e)) return undefined;
      throw e;
    }
  };
  const tokenRequest = async (pod: Pod, audience: string | undefined, expirationSeconds: number): Promise<string> => {
    const sa = pod.spec.serviceAccountName || 'default';
    const body: KubeObject = {
      apiVersion: 'authentication.k8s.io/v1',
      kind: 'TokenRequest',
      metadata: { name: sa, namespace: pod.metadata.namespace },
      spec: {
        audiences: audience ? [audience] : [],
        expirationSeconds,
        boundObjectRef: { apiVersion: 'v1', kind: 'Pod', name: pod.metadata.name, uid: pod.metadata.uid },
      },
    };
    const res = await requests.createSubresource<KubeObject>({ group: '', version: 'v1', plural: 'serviceaccounts', namespaced: true, kind: 'ServiceAccount' }, pod.metadata.namespace, sa, 'token', body);
    const token = ((res.status ?? {}) as { token?: string }).token;
    if (!token) throw new Error(`the TokenRequest for service account ${pod.metadata.namespace}/${sa} returned no token`);
    return token;
  };

  const hostResolvConf = await readOr('/etc/resolv.conf', '');
  const hostHosts = await readOr('/etc/hosts', '127.0.0.1\tlocalhost\n');
  let probes: ProbeManager | undefined;
  const w = new PodWorkers({
    client: requests,
    runtime,
    runtimeName,
    nodeName,
    dataDir: opts.dataDir,
    podLogsDir: opts.podLogsDir ?? join(opts.dataDir, 'logs', 'pods'),
    logger: log,
    recorder,
    now,
    hostIP: () => node.hostIP,
    nodeAllocatable: () => node.allocatable,
    sources: {
      getConfigMap: (ns, n) => configMaps.get(ns, n),
      getSecret: (ns, n) => secrets.get(ns, n),
      listServices: (ns) => [...services.listByNamespace(ns), ...(ns === 'default' ? [] : services.listByNamespace('default'))],
      getPersistentVolumeClaim: (ns, n) => getOrUndefined(PVCS, ns, n),
      getPersistentVolume: (n) => getOrUndefined(PVS, undefined, n),
      serviceAccountToken: opts.serviceAccountToken ?? tokenRequest,
      clusterCA: client.config.ca,
      ensureLocalPath: async (pv) => {
        await ensureLocalPathDirectory(pv, nodeName, opts.dataDir);
      },
    },
    net: {
      clusterDNS: opts.clusterDNS,
      clusterDomain: opts.clusterDomain ?? 'cluster.local',
      hostResolvConf,
      hostHosts,
      nodeHostname: os.hostname(),
    },
    volumes: opts.volumes ?? !simulated,
    implicitServiceAccountVolume: opts.implicitServiceAccountVolume ?? true,
    backoff: opts.backoff,
    imageBackoff: opts.imageBackoff,
    resyncMs: opts.resyncMs,
    relistMs: opts.relistMs,
    dependencies,
    fence,
  });
  workers = w;
  services.addEventHandler({ onAdd: () => w.dependenciesChanged(), onUpdate: () => w.dependenciesChanged(), onDelete: () => w.dependenciesChanged() });
  const probeFactory = opts.probes === false ? undefined : (opts.probes ?? (simulated ? healthyProbes : createProbeManager));
  if (probeFactory) {
    probes = probeFactory({
      runtime,
      recorder,
      logger: log.child ? log.child('probes') : log,
      podIP: (uid) => w.podIP(uid),
      onLivenessFailure: (uid, name, id, message) => w.onLivenessFailure(uid, name, id, message),
      onResultChange: (uid) => w.requestSync(uid),
    });
  }
  if (probes) w.attachProbes(probes);

  // The pods bound to this node. Every informer of the agent drops metadata.managedFields, which
  // nothing in the agent reads (its status writes are merge patches of the fields it owns), and
  // which is much of a pod's metadata: the cache and each pod worker's copy stay smaller.
  const pods = new Informer<Pod>(client, PODS, { fieldSelector: `spec.nodeName=${nodeName}`, logger: log, name: 'pods', transform: dropManagedFields });
  pods.addEventHandler({
    onAdd: (p) => w.update(p),
    onUpdate: (_o, p) => w.update(p),
    onDelete: (p) => {
      if (p.metadata.uid) w.remove(p.metadata.uid);
    },
  });
  // Adopt what runs before the first sync: every known sandbox gets attached to its pod.
  pods.start();
  w.start();
  await Promise.all([pods.waitForSync({ timeoutMs: 60_000 }), services.waitForSync({ timeoutMs: 60_000 })]);
  // ClusterIPs → endpoints (nftables), sharing the services informer.
  let serviceProxy: ServiceProxy | undefined;
  if (opts.serviceProxy ?? (runtime.name === 'containerd' && process.getuid?.() === 0)) {
    serviceProxy = await startServiceProxy({ client, logger: log, podCIDR: opts.podCIDR ?? '10.244.0.0/24', services }).catch((e: Error) => {
      log.error('service proxy not started: ClusterIPs are unreachable from pods', { error: e.message });
      return undefined;
    });
  }
  await w.markSynced();
  fence?.attach({
    stop: (select, grace) => w.fenceStop(select, grace),
    listPods: async () => {
      const list = await client.list<Pod>(PODS, undefined, { fieldSelector: `spec.nodeName=${nodeName}` });
      return { items: list.items, resourceVersion: list.metadata.resourceVersion ?? '' };
    },
    resyncAll: () => w.resyncAll(),
  });
  // Local-path volumes of this node: directories of deleted volumes are removed here, on the
  // node that holds them (simulated nodes hold no directories).
  const cleaner = simulated ? null : await startLocalPathCleaner({ client: requests, nodeName, dataDir: opts.dataDir, logger: log.child('local-path') });
  log.info('node agent running', { node: nodeName, runtime: runtimeName, pods: pods.size });

  let stopped = false;
  return {
    nodeName,
    get hostIP() {
      return node.hostIP;
    },
    probes,
    findContainer: (ns, name, container, previous) => w.findContainer(ns, name, container, previous),
    syncNode: async () => {
      await node.syncStatus(true);
      await node.syncLease();
    },
    quiesce: () => w.quiesce(),
    fence: () => fence?.status(),
    async stop() {
      if (stopped) return;
      stopped = true;
      fence?.stop();
      await cleaner?.stop();
      await serviceProxy?.stop();
      await pods.stop();
      await w.stop();
      await probes?.close();
      await Promise.all([services.stop(), slices?.stop(), configMaps.stop(), secrets.stop(), node.stop()]);
      if (recorder instanceof ApiEventRecorder) await recorder.close();
    },
  };
}
