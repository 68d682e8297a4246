// The pure half of the Endpoints and EndpointSlice controllers: which pods a Service selects,
// which of their addresses and ports it publishes, and the Endpoints object that follows
// (Kubernetes v1.32 pkg/controller/endpoint and staging/src/k8s.io/endpointslice semantics).
//
// - A Service without a selector (or with an empty one), an ExternalName Service and the
//   `kubernetes` Service in `default` get nothing from these controllers: their endpoints are
//   written by someone else (the user, the API server).
// - A pod is published when it has an IP, is not terminal (Succeeded/Failed) and, for
//   Endpoints, is not terminating (deletionTimestamp) — unless the Service has
//   publishNotReadyAddresses, which keeps terminating and not-ready pods among the ready ones.
//   EndpointSlices always list terminating pods, with conditions {ready, serving, terminating}.
// - A pod's address carries hostname = spec.hostname when spec.subdomain is the Service's name.
// - A port's targetPort is a number, or a name looked up in the pod's container ports (with the
//   service port's protocol); a pod without that named port is left out of that port only.
// - Endpoints subsets are packed: addresses that share the same set of ports form one subset;
//   addresses are sorted by IP, ports by name. Comparing with the current object ignores the
//   targetRef resourceVersions, so a pod update that changes nothing else does not rewrite it.
import type { KubeObject } from '../../registry/types.ts';
import { asArray, asRecord, isIPv4, isIPv6, isRecord } from '../../registry/validation.ts';

type Obj = Record<string, unknown>;

export const HEADLESS_LABEL = 'service.kubernetes.io/headless';
export const OVER_CAPACITY_ANNOTATION = 'endpoints.kubernetes.io/over-capacity';
export const LAST_CHANGE_TRIGGER_TIME_ANNOTATION = 'endpoints.kubernetes.io/last-change-trigger-time';
/** Most addresses one Endpoints object carries (Kubernetes truncates beyond, ready ones first). */
export const ENDPOINTS_MAX_CAPACITY = 1000;

export interface ObjectRef {
  kind: 'Pod';
  namespace: string;
  name: string;
  uid: string;
  resourceVersion?: string;
}

export interface EndpointAddress {
  ip: string;
  hostname?: string;
  nodeName?: string;
  targetRef?: ObjectRef;
}

export interface EndpointPort {
  name?: string;
  port: number;
  protocol: string;
  appProtocol?: string;
}

export interface EndpointSubset {
  addresses?: EndpointAddress[];
  notReadyAddresses?: EndpointAddress[];
  ports?: EndpointPort[];
}

export interface ServicePort {
  name: string;
  port: number;
  protocol: string;
  targetPort: number | string;
  appProtocol?: string;
}

const str = (v: unknown): string => (typeof v === 'string' ? v : '');

// ---------------------------------------------------------------------------------------------
// Services

export function serviceSpec(svc: KubeObject): Obj {
  return asRecord(svc.spec);
}

/** The service's selector, or undefined when it has none (or an empty one). */
export function serviceSelector(svc: KubeObject): Record<string, string> | undefined {
  const sel = serviceSpec(svc).selector;
  if (!isRecord(sel)) return undefined;
  const out: Record<string, string> = {};
  let n = 0;
  for (const [k, v] of Object.entries(sel)) {
    if (typeof v !== 'string') continue;
    out[k] = v;
    n++;
  }
  return n > 0 ? out : undefined;
}

/** Whether a selector (from serviceSelector) matches a pod's labels. */
export function selectorMatchesLabels(selector: Record<string, string>, labels: Record<string, string> | undefined): boolean {
  if (!labels) return false;
  for (const k in selector) if (labels[k] !== selector[k]) return false;
  return true;
}

export function isKubernetesService(svc: KubeObject): boolean {
  return svc.metadata.name === 'kubernetes' && (svc.metadata.namespace ?? 'default') === 'default';
}

export function isHeadless(svc: KubeObject): boolean {
  return str(serviceSpec(svc).clusterIP) === 'None';
}

/** Whether these controllers publish endpoints for the service. */
export function managesEndpoints(svc: KubeObject): boolean {
  if (isKubernetesService(svc)) return false;
  if (str(serviceSpec(svc).type) === 'ExternalName') return false;
  return serviceSelector(svc) !== undefined;
}

export function servicePorts(svc: KubeObject): ServicePort[] {
  const out: ServicePort[] = [];
  for (const p0 of asArray(serviceSpec(svc).ports)) {
    const p = asRecord(p0);
    if (typeof p.port !== 'number') continue;
    const tp = p.targetPort;
    const sp: ServicePort = {
      name: str(p.name),
      port: p.port,
      protocol: str(p.protocol) || 'TCP',
      targetPort: typeof tp === 'number' && tp > 0 ? tp : typeof tp === 'string' && tp !== '' ? (/^[0-9]+$/.test(tp) ? Number(tp) : tp) : p.port,
    };
    if (typeof p.appProtocol === 'string' && p.appProtocol) sp.appProtocol = p.appProtocol;
    out.push(sp);
  }
  return out;
}

/** The service's primary IP family (what its endpoints carry). */
export function serviceIPFamily(svc: KubeObject): 'IPv4' | 'IPv6' {
  const spec = serviceSpec(svc);
  const fam = asArray(spec.ipFamilies)[0];
  if (fam === 'IPv6' || fam === 'IPv4') return fam;
  return isIPv6(str(spec.clusterIP)) ? 'IPv6' : 'IPv4';
}

/** Every IP family the service serves (one EndpointSlice address type each). */
export function serviceIPFamilies(svc: KubeObject): ('IPv4' | 'IPv6')[] {
  const fams = asArray(serviceSpec(svc).ipFamilies).filter((f): f is 'IPv4' | 'IPv6' => f === 'IPv4' || f === 'IPv6');
  return fams.length > 0 ? [...new Set(fams)] : [serviceIPFamily(svc)];
}

// ---------------------------------------------------------------------------------------------
// Pods

function podSpec(pod: KubeObject): Obj {
  return asRecord(pod.spec);
}
function podStatus(pod: KubeObject): Obj {
  return asRecord(pod.status);
}

/** The pod's Ready condition is True. */
export function isPodReady(pod: KubeObject): boolean {
  for (const c of asArray(podStatus(pod).conditions)) {
    const r = asRecord(c);
    if (r.type === 'Ready') return r.status === 'True';
  }
  return false;
}

export function isPodTerminating(pod: KubeObject): boolean {
  return typeof pod.metadata.deletionTimestamp === 'string' && pod.metadata.deletionTimestamp !== '';
}

export function isPodTerminal(pod: KubeObject): boolean {
  const phase = podStatus(pod).phase;
  return phase === 'Succeeded' || phase === 'Failed';
}

/** Every IP of the pod (status.podIPs, or status.podIP). */
export function podIPs(pod: KubeObject): string[] {
  const st = podStatus(pod);
  const ips = asArray(st.podIPs)
    .map((x) => str(asRecord(x).ip))
    .filter((ip) => ip !== '');
  if (ips.length > 0) return ips;
  const one = str(st.podIP);
  return one ? [one] : [];
}

/** The pod's IP of a family, if it has one. */
export function podIPOfFamily(pod: KubeObject, family: 'IPv4' | 'IPv6'): string | undefined {
  return podIPs(pod).find((ip) => (family === 'IPv4' ? isIPv4(ip) : isIPv6(ip)));
}

/** endpointsliceutil.ShouldPodBeInEndpoints. */
export function shouldPodBeInEndpoints(pod: KubeObject, includeTerminating: boolean): boolean {
  if (isPodTerminal(pod)) return false;
  if (podIPs(pod).length === 0) return false;
  if (!includeTerminating && isPodTerminating(pod)) return false;
  return true;
}

/** The pod's address carries its hostname when its subdomain is the service's name. */
export function shouldSetHostname(pod: KubeObject, svc: KubeObject): boolean {
  const spec = podSpec(pod);
  return str(spec.hostname) !== '' && str(spec.subdomain) === svc.metadata.name && (pod.metadata.namespace ?? '') === (svc.metadata.namespace ?? '');
}

/** podutil.FindPort: the container port a service port's targetPort means in this pod. */
export function findPort(pod: KubeObject, sp: ServicePort): number | undefined {
  if (typeof sp.targetPort === 'number') return sp.targetPort;
  for (const c of asArray(podSpec(pod).containers)) {
    for (const p0 of asArray(asRecord(c).ports)) {
      const p = asRecord(p0);
      if (p.name === sp.targetPort && (str(p.protocol) || 'TCP') === sp.protocol && typeof p.containerPort === 'number') return p.containerPort;
    }
  }
  return undefined;
}

/** The fields of a pod these controllers read, as one string (labels aside): a pod update that
 *  leaves it unchanged cannot change any endpoint. */
export function podEndpointFingerprint(pod: KubeObject): string {
  const spec = podSpec(pod);
  const ports = asArray(spec.containers).map((c) => asArray(asRecord(c).ports).map((p) => [asRecord(p).name, asRecord(p).containerPort, asRecord(p).protocol]));
  return JSON.stringify([
    podIPs(pod),
    isPodReady(pod),
    isPodTerminating(pod),
    str(podStatus(pod).phase),
    str(spec.nodeName),
    str(spec.hostname),
    str(spec.subdomain),
    ports,
    pod.metadata.uid ?? '',
  ]);
}

// ---------------------------------------------------------------------------------------------
// Endpoints

function podAddress(pod: KubeObject, svc: KubeObject, ip: string): EndpointAddress {
  const a: EndpointAddress = { ip };
  if (shouldSetHostname(pod, svc)) a.hostname = str(podSpec(pod).hostname);
  const node = str(podSpec(pod).nodeName);
  if (node) a.nodeName = node;
  a.targetRef = {
    kind: 'Pod',
    namespace: pod.metadata.namespace ?? '',
    name: pod.metadata.name ?? '',
    uid: pod.metadata.uid ?? '',
    ...(pod.metadata.resourceVersion ? { resourceVersion: pod.metadata.resourceVersion } : {}),
  };
  return a;
}

function portKey(p: EndpointPort): string {
  return `${p.name ?? ''}\u0000${p.port}\u0000${p.protocol}\u0000${p.appProtocol ?? ''}`;
}

function comparePorts(a: EndpointPort, b: EndpointPort): number {
  const an = a.name ?? '';
  const bn = b.name ?? '';
  if (an !== bn) return an < bn ? -1 : 1;
  if (a.port !== b.port) return a.port - b.port;
  return a.protocol < b.protocol ? -1 : a.protocol > b.protocol ? 1 : 0;
}

/** Addresses sort by IP (numerically for IPv4), then by pod uid. */
export function compareAddresses(a: { ip: string; targetRef?: { uid?: string } }, b: { ip: string; targetRef?: { uid?: string } }): number {
  const c = compareIPs(a.ip, b.ip);
  if (c !== 0) return c;
  const au = a.targetRef?.uid ?? '';
  const bu = b.targetRef?.uid ?? '';
  return au < bu ? -1 : au > bu ? 1 : 0;
}

export function compareIPs(a: string, b: string): number {
  if (isIPv4(a) && isIPv4(b)) {
    const pa = a.split('.');
    const pb = b.split('.');
    for (let i = 0; i < 4; i++) {
      const d = Number(pa[i]) - Number(pb[i]);
      if (d !== 0) return d;
    }
    return 0;
  }
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * The subsets of the Service's Endpoints for these pods (those of its namespace that its
 * selector matches — the caller may pass the whole namespace; non-matching pods are skipped).
 * Returns [] for a service with no endpoints (or one these controllers leave alone).
 */
export function computeSubsets(svc: KubeObject, pods: Iterable<KubeObject>): EndpointSubset[] {
  const selector = serviceSelector(svc);
  if (!selector || !managesEndpoints(svc)) return [];
  const publishNotReady = serviceSpec(svc).publishNotReadyAddresses === true;
  const family = serviceIPFamily(svc);
  const ports = servicePorts(svc);
  const headless = isHeadless(svc);
  // port-set key → { ports, ready by ip|uid, notReady by ip|uid }
  const groups = new Map<string, { ports: EndpointPort[]; ready: Map<string, EndpointAddress>; notReady: Map<string, EndpointAddress> }>();
  const add = (epPorts: EndpointPort[], addr: EndpointAddress, ready: boolean): void => {
    const sorted = [...epPorts].sort(comparePorts);
    const key = sorted.map(portKey).join('\u0001');
    let g = groups.get(key);
    if (!g) groups.set(key, (g = { ports: sorted, ready: new Map(), notReady: new Map() }));
    const akey = `${addr.ip}|${addr.targetRef?.uid ?? ''}`;
    if (ready) {
      g.ready.set(akey, addr);
      g.notReady.delete(akey);
    } else if (!g.ready.has(akey)) {
      g.notReady.set(akey, addr);
    }
  };
  const ns = svc.metadata.namespace ?? '';
  for (const pod of pods) {
    if ((pod.metadata.namespace ?? '') !== ns) continue;
    if (!selectorMatchesLabels(selector, pod.metadata.labels)) continue;
    if (!shouldPodBeInEndpoints(pod, publishNotReady)) continue;
    const ip = podIPOfFamily(pod, family);
    if (!ip) continue;
    const addr = podAddress(pod, svc, ip);
    const ready = publishNotReady || isPodReady(pod);
    if (ports.length === 0) {
      // A headless service may have no ports; a ClusterIP service without ports gets nothing.
      if (headless) add([], addr, ready);
      continue;
    }
    // Kubernetes adds one subset per (pod, port) and repacks: the pod ends up in the subset of
    // the exact set of ports it resolved.
    const epPorts: EndpointPort[] = [];
    for (const sp of ports) {
      const num = findPort(pod, sp);
      if (num === undefined) continue;
      const ep: EndpointPort = { port: num, protocol: sp.protocol };
      if (sp.name) ep.name = sp.name;
      if (sp.appProtocol) ep.appProtocol = sp.appProtocol;
      epPorts.push(ep);
    }
    // Each resolved port is its own single-port subset before repacking; repacking merges the
    // addresses of equal port sets, so a pod lands once per port in the port's subset.
    for (const ep of epPorts) add([ep], addr, ready);
  }
  return repack(groups);
}

/**
 * RepackSubsets: per port, the addresses that have it; then addresses with the same set of
 * ports share one subset.
 */
function repack(groups: Map<string, { ports: EndpointPort[]; ready: Map<string, EndpointAddress>; notReady: Map<string, EndpointAddress> }>): EndpointSubset[] {
  // address key → { addr, ready, ports }
  const byAddr = new Map<string, { addr: EndpointAddress; ready: boolean; ports: EndpointPort[] }>();
  for (const g of groups.values()) {
    for (const [k, a] of g.ready) {
      let e = byAddr.get(`r|${k}`);
      if (!e) byAddr.set(`r|${k}`, (e = { addr: a, ready: true, ports: [] }));
      e.ports.push(...g.ports);
    }
    for (const [k, a] of g.notReady) {
      let e = byAddr.get(`n|${k}`);
      if (!e) byAddr.set(`n|${k}`, (e = { addr: a, ready: false, ports: [] }));
      e.ports.push(...g.ports);
    }
  }
  const subsets = new Map<string, { ports: EndpointPort[]; ready: EndpointAddress[]; notReady: EndpointAddress[] }>();
  for (const e of byAddr.values()) {
    const uniq = new Map<string, EndpointPort>();
    for (const p of e.ports) uniq.set(portKey(p), p);
    const ports = [...uniq.values()].sort(comparePorts);
    const key = ports.map(portKey).join('\u0001');
    let s = subsets.get(key);
    if (!s) subsets.set(key, (s = { ports, ready: [], notReady: [] }));
    (e.ready ? s.ready : s.notReady).push(e.addr);
  }
  // An address ready in one subset and not ready in another stays ready only.
  return [...subsets.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([, s]) => {
      const out: EndpointSubset = {};
      if (s.ready.length > 0) out.addresses = s.ready.sort(compareAddresses);
      if (s.notReady.length > 0) out.notReadyAddresses = s.notReady.sort(compareAddresses);
      if (s.ports.length > 0) out.ports = s.ports;
      return out;
    });
}

/** Subsets with the targetRef resourceVersions removed, as canonical JSON (for comparisons). */
export function subsetsFingerprint(subsets: unknown): string {
  const strip = (a: unknown): unknown => {
    const r = asRecord(a);
    const out: Obj = { ip: r.ip };
    if (r.hostname) out.hostname = r.hostname;
    if (r.nodeName) out.nodeName = r.nodeName;
    if (isRecord(r.targetRef)) {
      const t = r.targetRef;
      out.targetRef = { kind: t.kind, namespace: t.namespace, name: t.name, uid: t.uid };
    }
    return out;
  };
  return JSON.stringify(
    asArray(subsets).map((s0) => {
      const s = asRecord(s0);
      return {
        addresses: asArray(s.addresses).map(strip),
        notReadyAddresses: asArray(s.notReadyAddresses).map(strip),
        ports: asArray(s.ports).map((p0) => {
          const p = asRecord(p0);
          return { name: p.name || '', port: p.port, protocol: p.protocol || 'TCP', appProtocol: p.appProtocol || '' };
        }),
      };
    }),
  );
}

/** Keep at most `max` addresses (ready ones first, each subset its share), as Kubernetes'
 *  truncateEndpoints does. Returns whether anything was cut. */
export function truncateSubsets(subsets: EndpointSubset[], max = ENDPOINTS_MAX_CAPACITY): boolean {
  let ready = 0;
  let notReady = 0;
  for (const s of subsets) {
    ready += s.addresses?.length ?? 0;
    notReady += s.notReadyAddresses?.length ?? 0;
  }
  if (ready + notReady <= max) return false;
  const truncateReady = ready > max;
  const budget = truncateReady ? max : max - ready;
  const total = truncateReady ? ready : notReady;
  let left = budget;
  for (const s of subsets) {
    const n = truncateReady ? (s.addresses?.length ?? 0) : (s.notReadyAddresses?.length ?? 0);
    const take = Math.min(left, Math.ceil((n / total) * budget));
    if (truncateReady) {
      if (s.addresses) s.addresses = s.addresses.slice(0, take);
      delete s.notReadyAddresses;
      left -= s.addresses?.length ?? 0;
    } else {
      if (s.notReadyAddresses) s.notReadyAddresses = s.notReadyAddresses.slice(0, take);
      left -= s.notReadyAddresses?.length ?? 0;
    }
    if (s.addresses?.length === 0) delete s.addresses;
    if (s.notReadyAddresses?.length === 0) delete s.notReadyAddresses;
  }
  return true;
}

/** The labels an Endpoints object carries: the service's, plus the headless marker. */
export function endpointsLabels(svc: KubeObject): Record<string, string> {
  const out: Record<string, string> = { ...(svc.metadata.labels ?? {}) };
  if (isHeadless(svc)) out[HEADLESS_LABEL] = '';
  else delete out[HEADLESS_LABEL];
  return out;
}

function sameStringMap(a: Record<string, string> | undefined, b: Record<string, string> | undefined): boolean {
  const ak = Object.keys(a ?? {});
  const bk = Object.keys(b ?? {});
  if (ak.length !== bk.length) return false;
  for (const k of ak) if ((a ?? {})[k] !== (b ?? {})[k]) return false;
  return true;
}

export interface EndpointsDecision {
  /** What to write: undefined when the current object is already right (or the service is
   *  not one these controllers manage). */
  write?: KubeObject;
  /** create (no current object) or update (PUT with the current resourceVersion). */
  op?: 'create' | 'update';
  /** Ready and not-ready address counts (for logs). */
  ready: number;
  notReady: number;
}

/**
 * The Endpoints object the service should have, given its namespace's pods and the current
 * Endpoints (undefined when there is none). Pure: the controller writes `write` if set.
 */
export function decideEndpoints(svc: KubeObject, pods: Iterable<KubeObject>, current: KubeObject | undefined): EndpointsDecision {
  if (!managesEndpoints(svc)) return { ready: 0, notReady: 0 };
  const subsets = computeSubsets(svc, pods);
  const truncated = truncateSubsets(subsets);
  let ready = 0;
  let notReady = 0;
  for (const s of subsets) {
    ready += s.addresses?.length ?? 0;
    notReady += s.notReadyAddresses?.length ?? 0;
  }
  const labels = endpointsLabels(svc);
  const annotations: Record<string, string> = { ...(current?.metadata.annotations ?? {}) };
  if (truncated) annotations[OVER_CAPACITY_ANNOTATION] = 'truncated';
  else delete annotations[OVER_CAPACITY_ANNOTATION];
  if (current) {
    const same =
      subsetsFingerprint(current.subsets) === subsetsFingerprint(subsets) &&
      sameStringMap(current.metadata.labels, labels) &&
      sameStringMap(current.metadata.annotations, annotations);
    if (same) return { ready, notReady };
  }
  const metadata: KubeObject['metadata'] = current
    ? { ...current.metadata, labels, annotations }
    : { name: svc.metadata.name, namespace: svc.metadata.namespace, labels, ...(Object.keys(annotations).length > 0 ? { annotations } : {}) };
  if (current) {
    delete metadata.managedFields;
    if (Object.keys(annotations).length === 0) delete metadata.annotations;
  }
  const write: KubeObject = { apiVersion: 'v1', kind: 'Endpoints', metadata, subsets };
  return { write, op: current ? 'update' : 'create', ready, notReady };
}
