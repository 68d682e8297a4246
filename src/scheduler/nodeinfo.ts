// What the scheduler knows about a pod's demands (PodInfo) and a node's supply and load
// (NodeInfo), computed the way kube-scheduler computes them (v1.32):
// - effective requests: the sum of the app containers and the restartable (sidecar) init
//   containers, or the largest init container plus the sidecars started before it, whichever is
//   larger, plus spec.overhead (k8s.io/component-helpers resource.PodRequests);
// - "non-zero" cpu/memory for scoring: a container that names no cpu (memory) request counts as
//   100m (200 MiB), so best-effort pods still spread;
// - host ports of app containers (hostIP "" = 0.0.0.0, protocol "" = TCP);
// - the controller owner uid, for spreading.
// NodeInfo keeps the sums up to date as pods are added and removed, so a filter or score is
// O(1) per node.
import { tryParseQuantity, quantityMilliValue, quantityValue } from '../registry/quantity.ts';
import type { Container, Node, Pod, PodSpec, Taint } from './types.ts';

/** Requests or capacity. cpu is in millicores, everything else in whole units. */
export interface Resources {
  milliCPU: number;
  memory: number;
  ephemeralStorage: number;
  /** Extended resources (`example.com/gpu`) and hugepages-*, by name. */
  scalar: Map<string, number>;
}

export function emptyResources(): Resources {
  return { milliCPU: 0, memory: 0, ephemeralStorage: 0, scalar: new Map() };
}

/** A resource Kubernetes' scheduler tracks beyond cpu/memory/ephemeral-storage/pods. */
export function isScalarResourceName(name: string): boolean {
  return name.startsWith('hugepages-') || name.includes('/');
}

/** A quantity as the scheduler counts it (millicores for cpu, units otherwise); 0 if invalid. */
export function quantityFor(name: string, v: unknown): number {
  const q = tryParseQuantity(v);
  if (!q) return 0;
  return Number(name === 'cpu' ? quantityMilliValue(q) : quantityValue(q));
}

type ResourceMap = Map<string, number>;

function toMap(list: unknown): ResourceMap {
  const out: ResourceMap = new Map();
  if (!list || typeof list !== 'object' || Array.isArray(list)) return out;
  for (const [k, v] of Object.entries(list as Record<string, unknown>)) out.set(k, quantityFor(k, v));
  return out;
}

function addInto(into: ResourceMap, add: ResourceMap): void {
  for (const [k, v] of add) into.set(k, (into.get(k) ?? 0) + v);
}

function maxInto(into: ResourceMap, other: ResourceMap): void {
  for (const [k, v] of other) {
    const cur = into.get(k);
    if (cur === undefined || v > cur) into.set(k, v);
  }
}

const NON_MISSING: [string, number][] = [
  ['cpu', 100],
  ['memory', 200 * 1024 * 1024],
];

function containerRequests(c: Container, nonMissing: boolean): ResourceMap {
  const m = toMap(c.resources?.requests);
  if (nonMissing) for (const [k, v] of NON_MISSING) if (!m.has(k)) m.set(k, v);
  return m;
}

/**
 * The pod's effective requests (resource.PodRequests): app containers and sidecars summed,
 * maxed with each init container's need at its turn, plus overhead. With nonMissing, a
 * container without a cpu/memory request counts the scheduler's defaults (100m, 200 MiB).
 */
export function podRequests(pod: Pod, nonMissing = false): ResourceMap {
  const spec: Partial<PodSpec> = pod.spec ?? {};
  const reqs: ResourceMap = new Map();
  for (const c of spec.containers ?? []) addInto(reqs, containerRequests(c, nonMissing));
  const sidecars: ResourceMap = new Map();
  const initMax: ResourceMap = new Map();
  for (const c of spec.initContainers ?? []) {
    const r = containerRequests(c, nonMissing);
    if (c.restartPolicy === 'Always') {
      addInto(reqs, r);
      addInto(sidecars, r);
      maxInto(initMax, sidecars);
    } else {
      const tmp: ResourceMap = new Map(r);
      addInto(tmp, sidecars);
      maxInto(initMax, tmp);
    }
  }
  maxInto(reqs, initMax);
  if (spec.overhead) addInto(reqs, toMap(spec.overhead));
  return reqs;
}

function resourcesOf(m: ResourceMap): Resources {
  const r = emptyResources();
  for (const [k, v] of m) {
    if (k === 'cpu') r.milliCPU = v;
    else if (k === 'memory') r.memory = v;
    else if (k === 'ephemeral-storage') r.ephemeralStorage = v;
    else if (isScalarResourceName(k)) r.scalar.set(k, v);
  }
  return r;
}

export interface HostPort {
  /** '0.0.0.0' when the pod names none. */
  ip: string;
  /** TCP, UDP or SCTP. */
  protocol: string;
  port: number;
}

/** A pod as the scheduler accounts for it. Computed once per pod (its spec does not change). */
export interface PodInfo {
  /** `namespace/name`. */
  key: string;
  uid: string;
  namespace: string;
  name: string;
  priority: number;
  requests: Resources;
  /** cpu (milli) and memory with the scheduler's defaults for missing container requests. */
  nonZeroCPU: number;
  nonZeroMemory: number;
  hostPorts: HostPort[];
  /** uid of the controller ownerReference, if any. */
  ownerUid: string | undefined;
  pod: Pod;
}

export function hostPortsOf(pod: Pod): HostPort[] {
  const out: HostPort[] = [];
  for (const c of pod.spec?.containers ?? []) {
    for (const p of c.ports ?? []) {
      const port = typeof p.hostPort === 'number' ? p.hostPort : 0;
      if (port <= 0) continue;
      out.push({ ip: p.hostIP || '0.0.0.0', protocol: p.protocol || 'TCP', port });
    }
  }
  return out;
}

export function podInfoOf(pod: Pod): PodInfo {
  const reqs = podRequests(pod);
  const nonZero = podRequests(pod, true);
  const owner = pod.metadata.ownerReferences?.find((r) => r.controller === true);
  const namespace = pod.metadata.namespace ?? '';
  const name = pod.metadata.name ?? '';
  return {
    key: namespace ? `${namespace}/${name}` : name,
    uid: pod.metadata.uid ?? `${namespace}/${name}`,
    namespace,
    name,
    priority: typeof pod.spec?.priority === 'number' ? pod.spec.priority : 0,
    requests: resourcesOf(reqs),
    nonZeroCPU: nonZero.get('cpu') ?? 0,
    nonZeroMemory: nonZero.get('memory') ?? 0,
    hostPorts: hostPortsOf(pod),
    ownerUid: owner?.uid || undefined,
    pod,
  };
}

/** Host ports in use on a node: ip → `protocol/port` → how many pods use it. */
export class HostPortSet {
  private readonly byIP = new Map<string, Map<string, number>>();

  add(p: HostPort): void {
    let m = this.byIP.get(p.ip);
    if (!m) this.byIP.set(p.ip, (m = new Map()));
    const k = `${p.protocol}/${p.port}`;
    m.set(k, (m.get(k) ?? 0) + 1);
  }

  remove(p: HostPort): void {
    const m = this.byIP.get(p.ip);
    if (!m) return;
    const k = `${p.protocol}/${p.port}`;
    const n = (m.get(k) ?? 0) - 1;
    if (n > 0) m.set(k, n);
    else m.delete(k);
    if (m.size === 0) this.byIP.delete(p.ip);
  }

  /** HostPortInfo.CheckConflict: 0.0.0.0 conflicts with any ip; a specific ip with itself and 0.0.0.0. */
  conflicts(p: HostPort): boolean {
    const k = `${p.protocol}/${p.port}`;
    if (p.ip === '0.0.0.0') {
      for (const m of this.byIP.values()) if (m.has(k)) return true;
      return false;
    }
    return (this.byIP.get('0.0.0.0')?.has(k) ?? false) || (this.byIP.get(p.ip)?.has(k) ?? false);
  }

  get size(): number {
    return this.byIP.size;
  }
}

/** A node's supply (from the Node object) and load (the pods bound or assumed onto it). */
export class NodeInfo {
  readonly name: string;
  /** Undefined while pods reference a node the scheduler has not seen (or that was deleted). */
  node: Node | undefined;
  labels: Record<string, string> = {};
  taints: Taint[] = [];
  unschedulable = false;
  allocatable: Resources = emptyResources();
  allowedPodNumber = 0;
  readonly requested: Resources = emptyResources();
  nonZeroCPU = 0;
  nonZeroMemory = 0;
  readonly pods = new Map<string, PodInfo>();
  readonly usedPorts = new HostPortSet();
  /** Controller owner uid → pods of that owner here. */
  readonly ownerCounts = new Map<string, number>();

  constructor(name: string, node?: Node) {
    this.name = name;
    if (node) this.setNode(node);
  }

  setNode(node: Node): void {
    this.node = node;
    this.labels = node.metadata.labels ?? {};
    this.taints = node.spec?.taints ?? [];
    this.unschedulable = node.spec?.unschedulable === true;
    const alloc = toMap(node.status?.allocatable);
    this.allocatable = resourcesOf(alloc);
    this.allowedPodNumber = alloc.get('pods') ?? 0;
  }

  addPod(pi: PodInfo): void {
    if (this.pods.has(pi.uid)) this.removePod(pi.uid);
    this.pods.set(pi.uid, pi);
    const r = pi.requests;
    this.requested.milliCPU += r.milliCPU;
    this.requested.memory += r.memory;
    this.requested.ephemeralStorage += r.ephemeralStorage;
    for (const [k, v] of r.scalar) this.requested.scalar.set(k, (this.requested.scalar.get(k) ?? 0) + v);
    this.nonZeroCPU += pi.nonZeroCPU;
    this.nonZeroMemory += pi.nonZeroMemory;
    for (const p of pi.hostPorts) this.usedPorts.add(p);
    if (pi.ownerUid) this.ownerCounts.set(pi.ownerUid, (this.ownerCounts.get(pi.ownerUid) ?? 0) + 1);
  }

  removePod(uid: string): PodInfo | undefined {
    const pi = this.pods.get(uid);
    if (!pi) return undefined;
    this.pods.delete(uid);
    const r = pi.requests;
    this.requested.milliCPU -= r.milliCPU;
    this.requested.memory -= r.memory;
    this.requested.ephemeralStorage -= r.ephemeralStorage;
    for (const [k, v] of r.scalar) {
      const n = (this.requested.scalar.get(k) ?? 0) - v;
      if (n !== 0) this.requested.scalar.set(k, n);
      else this.requested.scalar.delete(k);
    }
    this.nonZeroCPU -= pi.nonZeroCPU;
    this.nonZeroMemory -= pi.nonZeroMemory;
    for (const p of pi.hostPorts) this.usedPorts.remove(p);
    if (pi.ownerUid) {
      const n = (this.ownerCounts.get(pi.ownerUid) ?? 0) - 1;
      if (n > 0) this.ownerCounts.set(pi.ownerUid, n);
      else this.ownerCounts.delete(pi.ownerUid);
    }
    return pi;
  }

  /** A copy with its own pod accounting (used to simulate removing pods). */
  clone(): NodeInfo {
    const c = new NodeInfo(this.name, this.node);
    for (const pi of this.pods.values()) c.addPod(pi);
    return c;
  }
}

/** NodeInfos for plain objects: each node with the non-terminal pods bound to it. */
export function buildNodeInfos(nodes: Node[], pods: Pod[]): NodeInfo[] {
  const byName = new Map<string, NodeInfo>();
  for (const n of nodes) {
    const name = n.metadata.name ?? '';
    byName.set(name, new NodeInfo(name, n));
  }
  for (const p of pods) {
    const nodeName = p.spec?.nodeName;
    if (!nodeName) continue;
    const phase = p.status?.phase;
    if (phase === 'Succeeded' || phase === 'Failed') continue;
    byName.get(nodeName)?.addPod(podInfoOf(p));
  }
  return [...byName.values()];
}
