// The agent's Node: registration (capacity and allocatable from the machine, addresses,
// podCIDR, well-known labels, nodeInfo, taints), conditions (Ready, MemoryPressure,
// DiskPressure, PIDPressure) with heartbeat and transition times, status reports every ~10 s
// when something changed or a heartbeat is due (5 min), and the node Lease in kube-node-lease
// renewed every leaseDuration/4 (10 s for 40 s), held by the node and owned by the Node. Each
// renewal that succeeds is reported with the time it was sent, for self-fencing (fencing.ts).
import { resolve as resolvePath } from 'node:path';
import { isAlreadyExists, isConflict, isNotFound, type KubeClient, type ResourceRef } from '../client/rest.ts';
import { microTime } from '../client/leaderelection.ts';
import type { KubeObject } from '../registry/types.ts';
import type { Logger } from '../util/log.ts';
import type { EventRecorder } from './events.ts';
import type { Runtime } from './runtime/types.ts';
import {
  collectMachineInfo,
  machineResources,
  measurePressure,
  mergeConditions,
  nodeConditions,
  nodeStatusChanged,
  type MachineInfo,
  type NodeCondition,
  type Pressure,
} from './node-machine.ts';
export * from './node-machine.ts';

export const NODES: ResourceRef = { group: '', version: 'v1', plural: 'nodes', namespaced: false, kind: 'Node' };
export const LEASES: ResourceRef = { group: 'coordination.k8s.io', version: 'v1', plural: 'leases', namespaced: true, kind: 'Lease' };
const NAMESPACES: ResourceRef = { group: '', version: 'v1', plural: 'namespaces', namespaced: false, kind: 'Namespace' };
export const NODE_LEASE_NAMESPACE = 'kube-node-lease';
export const KUBELET_VERSION = 'v1.32.0-kennel';

export interface Taint {
  key: string;
  value?: string;
  effect: 'NoSchedule' | 'PreferNoSchedule' | 'NoExecute';
}

export interface NodeManagerOptions {
  client: KubeClient;
  nodeName: string;
  runtime: Runtime;
  logger: Logger;
  recorder: EventRecorder;
  dataDir: string;
  machine: MachineInfo;
  nodeIP?: string;
  podCIDR?: string;
  labels?: Record<string, string>;
  taints?: Taint[];
  /** Resource overrides (capacity = allocatable = these), e.g. for simulated nodes. */
  capacity?: Record<string, string>;
  leaseDurationSeconds?: number;
  /** Port of the agent's kubelet-like HTTPS endpoint (status.daemonEndpoints). */
  kubeletPort?: number;
  /** How often node health is checked (default 10 s). */
  statusUpdateMs?: number;
  /** A status report is sent at least this often even when nothing changed (default 5 min). */
  statusReportMs?: number;
  /** Lease renewal interval (default leaseDuration / 4). */
  leaseRenewMs?: number;
  /** Health of the machine (default: measured; simulated nodes pass a constant). */
  pressure?: () => Promise<Pressure>;
  now?: () => number;
  /** Self-fencing (fencing.ts): told of every lease renewal that succeeded — when it was SENT
   *  (read from leaseClock just before the request) and the leaseDurationSeconds it wrote. */
  onLeaseRenewed?: (sentAt: number, leaseDurationSeconds: number) => void;
  leaseClock?: () => number;
  /** Annotations the agent owns on its Node (null: removed), e.g. kennel.dev/fencing. */
  annotations?: Record<string, string | null>;
}

type Node = KubeObject & { spec?: Record<string, unknown>; status?: Record<string, unknown> };

export class NodeManager {
  private readonly o: NodeManagerOptions;
  private readonly now: () => number;
  private node: Node | undefined;
  private lease: KubeObject | undefined;
  private lastReport = 0;
  private statusTimer: NodeJS.Timeout | undefined;
  private leaseTimer: NodeJS.Timeout | undefined;
  private stopped = false;
  private statusBusy: Promise<void> = Promise.resolve();
  private leaseBusy: Promise<void> = Promise.resolve();
  private lastReady: string | undefined;
  private leaseFailures = 0;
  private lastLeaseSentAt: number | undefined;

  constructor(opts: NodeManagerOptions) {
    this.o = opts;
    this.now = opts.now ?? Date.now;
  }

  get hostIP(): string {
    return this.o.nodeIP ?? this.o.machine.ip;
  }

  /** The Node as last written. */
  get current(): Node | undefined {
    return this.node;
  }

  /** Allocatable of the node (for resourceFieldRef limits). */
  get allocatable(): Record<string, string> {
    return machineResources(this.o.machine, this.o.capacity).allocatable;
  }

  /** Register (or update) the Node and take the Lease; then keep both fresh. */
  async start(): Promise<Node> {
    this.o.recorder.event(this.nodeTarget(), 'Normal', 'Starting', 'Starting kubelet.');
    await this.register();
    await this.renewLease();
    this.scheduleStatus();
    this.scheduleLease();
    return this.node!;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.statusTimer) clearTimeout(this.statusTimer);
    if (this.leaseTimer) clearTimeout(this.leaseTimer);
    await Promise.allSettled([this.statusBusy, this.leaseBusy]);
  }

  /** Check health and report now (tests; the timer does it periodically). */
  syncStatus(force = false): Promise<void> {
    const p = this.statusBusy.then(() => this.updateStatus(force));
    this.statusBusy = p.catch(() => undefined);
    return p;
  }

  /** Renew the lease now. */
  syncLease(): Promise<void> {
    const p = this.leaseBusy.then(() => this.renewLease());
    this.leaseBusy = p.catch(() => undefined);
    return p;
  }

  private nodeTarget() {
    return { kind: 'Node', name: this.o.nodeName, uid: this.o.nodeName, namespace: 'default', apiVersion: 'v1' };
  }

  private labels(): Record<string, string> {
    const arch = this.o.machine.architecture;
    return {
      'beta.kubernetes.io/arch': arch,
      'beta.kubernetes.io/os': 'linux',
      'kubernetes.io/arch': arch,
      'kubernetes.io/hostname': this.o.nodeName,
      'kubernetes.io/os': 'linux',
      ...(this.o.labels ?? {}),
    };
  }

  private async buildStatus(old: Record<string, unknown> | undefined): Promise<Record<string, unknown>> {
    const m = this.o.machine;
    const { capacity, allocatable } = machineResources(m, this.o.capacity);
    let runtimeError: string | undefined;
    let runtimeVersion = '';
    try {
      const v = await this.o.runtime.version();
      runtimeVersion = `${v.runtimeName}://${v.runtimeVersion}`;
    } catch (e) {
      runtimeError = e instanceof Error ? e.message : String(e);
      runtimeVersion = String(((old?.nodeInfo ?? {}) as Record<string, unknown>).containerRuntimeVersion ?? `${this.o.runtime.name}://unknown`);
    }
    const pressure = await (this.o.pressure ?? (() => measurePressure(this.o.dataDir)))();
    const conditions = mergeConditions(old?.conditions as NodeCondition[] | undefined, nodeConditions(pressure, runtimeError), this.now());
    const status: Record<string, unknown> = {
      capacity,
      allocatable,
      conditions,
      addresses: [
        { type: 'InternalIP', address: this.hostIP },
        { type: 'Hostname', address: this.o.nodeName },
      ],
      daemonEndpoints: { kubeletEndpoint: { Port: this.o.kubeletPort ?? 10250 } },
      nodeInfo: {
        machineID: m.machineID,
        systemUUID: m.systemUUID,
        bootID: m.bootID,
        kernelVersion: m.kernelVersion,
        osImage: m.osImage,
        containerRuntimeVersion: runtimeVersion,
        kubeletVersion: KUBELET_VERSION,
        kubeProxyVersion: KUBELET_VERSION,
        operatingSystem: m.operatingSystem,
        architecture: m.architecture,
      },
    };
    return status;
  }

  /** Where this node keeps local-path volumes (`<dataDir>/storage`), for the provisioner. */
  private dataDirAnnotation(): Record<string, string> {
    return this.o.dataDir ? { 'kennel.dev/data-dir': resolvePath(this.o.dataDir) } : {};
  }

  /** The agent's own annotations that are set (null ones are only removed from an existing Node). */
  private ownAnnotations(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(this.o.annotations ?? {})) if (v !== null) out[k] = v;
    return out;
  }

  private async register(): Promise<void> {
    const c = this.o.client;
    const status = await this.buildStatus(undefined);
    const spec: Record<string, unknown> = {};
    if (this.o.podCIDR) {
      spec.podCIDR = this.o.podCIDR;
      spec.podCIDRs = [this.o.podCIDR];
    }
    if (this.o.taints?.length) spec.taints = this.o.taints;
    const body: Node = {
      apiVersion: 'v1',
      kind: 'Node',
      metadata: {
        name: this.o.nodeName,
        labels: this.labels(),
        annotations: { 'node.alpha.kubernetes.io/ttl': '0', 'volumes.kubernetes.io/controller-managed-attach-detach': 'true', ...this.dataDirAnnotation(), ...this.ownAnnotations() },
      },
      spec,
      status,
    };
    try {
      this.node = await c.create<Node>(NODES, body);
      this.o.logger.info('registered node', { node: this.o.nodeName });
    } catch (e) {
      if (!isAlreadyExists(e)) throw e;
      // Already registered (an agent restart): bring labels and podCIDR up to date, keep the rest.
      const existing = await c.get<Node>(NODES, undefined, this.o.nodeName);
      const patch: Record<string, unknown> = { metadata: { labels: this.labels(), annotations: { ...this.dataDirAnnotation(), ...this.o.annotations } } };
      const exSpec = (existing.spec ?? {}) as Record<string, unknown>;
      if (this.o.podCIDR && !exSpec.podCIDR) patch.spec = { podCIDR: this.o.podCIDR, podCIDRs: [this.o.podCIDR] };
      this.node = await c.patch<Node>(NODES, undefined, this.o.nodeName, patch, 'merge');
      this.o.logger.info('node already registered; updated it', { node: this.o.nodeName });
    }
    await this.writeStatus(await this.buildStatus(this.node.status));
  }

  private async writeStatus(status: Record<string, unknown>): Promise<void> {
    this.node = await this.o.client.patch<Node>(NODES, undefined, this.o.nodeName, { status }, 'merge', { subresource: 'status' });
    this.lastReport = this.now();
    const ready = ((status.conditions ?? []) as NodeCondition[]).find((c) => c.type === 'Ready');
    if (ready && ready.status !== this.lastReady) {
      if (this.lastReady === undefined) {
        this.o.recorder.event(this.nodeTarget(), 'Normal', 'NodeHasSufficientMemory', `Node ${this.o.nodeName} status is now: NodeHasSufficientMemory`);
        this.o.recorder.event(this.nodeTarget(), 'Normal', 'NodeHasNoDiskPressure', `Node ${this.o.nodeName} status is now: NodeHasNoDiskPressure`);
        this.o.recorder.event(this.nodeTarget(), 'Normal', 'NodeHasSufficientPID', `Node ${this.o.nodeName} status is now: NodeHasSufficientPID`);
      }
      const reason = ready.status === 'True' ? 'NodeReady' : 'NodeNotReady';
      this.o.recorder.event(this.nodeTarget(), 'Normal', reason, `Node ${this.o.nodeName} status is now: ${reason}`);
      this.lastReady = ready.status;
    }
  }

  private async updateStatus(force: boolean): Promise<void> {
    if (this.stopped) return;
    if (!this.node) {
      await this.register();
      return;
    }
    // Read the Node as the API has it: someone else (the node controller) may have changed its
    // conditions, or deleted it.
    try {
      this.node = await this.o.client.get<Node>(NODES, undefined, this.o.nodeName);
    } catch (e) {
      if (!isNotFound(e)) throw e;
      this.o.logger.warn('node object is gone; registering it again', { node: this.o.nodeName });
      this.node = undefined;
      await this.register();
      return;
    }
    const old = this.node.status;
    const next = await this.buildStatus(old);
    const due = this.now() - this.lastReport >= (this.o.statusReportMs ?? 300_000);
    if (!force && !due && !nodeStatusChanged(old, next)) return;
    await this.writeStatus(next);
  }

  private scheduleStatus(): void {
    if (this.stopped) return;
    this.statusTimer = setTimeout(() => {
      this.syncStatus()
        .catch((e: unknown) => this.o.logger.warn('node status update failed', { node: this.o.nodeName, error: e instanceof Error ? e.message : String(e) }))
        .finally(() => this.scheduleStatus());
    }, this.o.statusUpdateMs ?? 10_000);
    this.statusTimer.unref();
  }

  private leaseBody(): KubeObject {
    const duration = this.o.leaseDurationSeconds ?? 40;
    const meta: Record<string, unknown> = { name: this.o.nodeName, namespace: NODE_LEASE_NAMESPACE };
    if (this.node?.metadata.uid) {
      meta.ownerReferences = [{ apiVersion: 'v1', kind: 'Node', name: this.o.nodeName, uid: this.node.metadata.uid }];
    }
    return {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: meta,
      spec: { holderIdentity: this.o.nodeName, leaseDurationSeconds: duration, renewTime: microTime(this.now()) },
    };
  }

  private async renewLease(): Promise<void> {
    if (this.stopped) return;
    const c = this.o.client;
    for (let attempt = 0; attempt < 3; attempt++) {
      if (!this.lease) {
        try {
          this.lease = await c.get(LEASES, NODE_LEASE_NAMESPACE, this.o.nodeName, { timeoutMs: this.leaseTimeoutMs() });
        } catch (e) {
          if (!isNotFound(e)) throw e;
          try {
            const body = this.leaseBody();
            const sentAt = this.leaseNow();
            this.lease = await c.create(LEASES, body, { timeoutMs: this.leaseTimeoutMs() });
            this.leaseRenewed(sentAt);
            return;
          } catch (err) {
            if (isAlreadyExists(err)) continue;
            if (isNotFound(err)) {
              // kube-node-lease does not exist yet: make it.
              await c.create(NAMESPACES, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NODE_LEASE_NAMESPACE } }).catch((x: unknown) => {
                if (!isAlreadyExists(x)) throw x;
              });
              continue;
            }
            throw err;
          }
        }
      }
      const body = this.leaseBody();
      body.metadata.resourceVersion = this.lease.metadata.resourceVersion;
      try {
        const sentAt = this.leaseNow();
        this.lease = await c.update(LEASES, body, { timeoutMs: this.leaseTimeoutMs() });
        this.leaseRenewed(sentAt);
        return;
      } catch (e) {
        if (isConflict(e) || isNotFound(e)) {
          this.lease = undefined;
          continue;
        }
        throw e;
      }
    }
    throw new Error('could not renew the node lease after 3 attempts');
  }

  private leaseNow(): number {
    return (this.o.leaseClock ?? performance.now.bind(performance))();
  }

  private leaseRenewed(sentAt: number): void {
    this.lastLeaseSentAt = sentAt;
    this.o.onLeaseRenewed?.(sentAt, this.o.leaseDurationSeconds ?? 40);
  }

  /** A renewal that hangs (a cut network) gives up after half the lease (20 s for 40 s; 1 s at
   *  least): long enough for a busy server to answer, short enough to try again before the
   *  agent fences itself (at 35 s). */
  private leaseTimeoutMs(): number {
    return Math.max(1000, Math.min(20_000, ((this.o.leaseDurationSeconds ?? 40) * 1000) / 2));
  }

  private scheduleLease(): void {
    if (this.stopped) return;
    const every = this.o.leaseRenewMs ?? ((this.o.leaseDurationSeconds ?? 40) * 1000) / 4;
    // Every interval from one send to the next (a slow answer does not push the next renewal
    // back); after a failure, again soon (200 ms, doubling up to the interval), as the kubelet.
    const delay =
      this.leaseFailures === 0
        ? Math.max(0, Math.min(every, (this.lastLeaseSentAt ?? -Infinity) + every - this.leaseNow()))
        : Math.min(every, 200 * 2 ** (this.leaseFailures - 1));
    this.leaseTimer = setTimeout(() => {
      this.syncLease()
        .then(() => (this.leaseFailures = 0))
        .catch((e: unknown) => {
          this.leaseFailures++;
          this.o.logger.warn('node lease renewal failed', { node: this.o.nodeName, error: e instanceof Error ? e.message : String(e) });
        })
        .finally(() => this.scheduleLease());
    }, delay);
    this.leaseTimer.unref();
  }
}
