// What the cluster DNS answers from: services, their ready endpoints, namespaces and (for
// `pods verified`) pod IPs, kept as indexes so every lookup a query needs is a map access:
// - services by `<namespace>/<name>`;
// - a service's ready endpoints, merged from its EndpointSlices (label
//   kubernetes.io/service-name; endpoints whose conditions.ready is false are left out, a
//   missing ready counts as ready) or, for a service without slices, from its Endpoints object
//   (`addresses`, never `notReadyAddresses`) — so a selector-less service with hand-written
//   Endpoints resolves too;
// - endpoints by hostname (the pod hostname, or the dashed IP when it has none);
// - reverse: a cluster IP → its service; an endpoint IP with a hostname → those names.
// Every change bumps `generation` (the server drops its response cache) and `serial` (the SOA
// serial: the time of the last change, in seconds).
import type { KubeObject } from '../registry/types.ts';
import { asArray, asRecord, isIPv4, isIPv6 } from '../registry/validation.ts';

export interface DnsPort {
  name: string;
  protocol: string;
  /** -1 for the pseudo port of an endpoint without ports (it answers A, never SRV). */
  port: number;
}

export interface DnsService {
  namespace: string;
  name: string;
  type: string;
  headless: boolean;
  clusterIPs: string[];
  ports: DnsPort[];
  /** spec.externalName of an ExternalName service. */
  externalName?: string;
}

export interface DnsEndpoint {
  ip: string;
  /** The explicit hostname ('' when none). */
  hostname: string;
  ports: DnsPort[];
}

/** The read side the answer builder uses. */
export interface DnsView {
  readonly serial: number;
  namespaceExists(ns: string): boolean;
  service(ns: string, name: string): DnsService | undefined;
  /** Ready endpoints of the service. */
  endpoints(ns: string, name: string): readonly DnsEndpoint[];
  /** Ready endpoints whose hostname (explicit, or dashed IP) is `host` (lower case). */
  endpointsByHostname(ns: string, name: string, host: string): readonly DnsEndpoint[];
  /** PTR targets (relative to the zone, e.g. `web-0.nginx.default.svc`) of an IP. */
  reverse(ip: string): string[];
  /** Whether a pod in ns has this IP (pods verified). */
  podIP(ns: string, ip: string): boolean;
}

const str = (v: unknown): string => (typeof v === 'string' ? v : '');

/** The hostname an endpoint answers to: its hostname, or its IP with dashes. */
export function endpointHostname(ep: DnsEndpoint): string {
  if (ep.hostname) return ep.hostname;
  if (ep.ip.includes('.')) return ep.ip.replace(/\./g, '-');
  return ep.ip.replace(/:/g, '-');
}

/** A canonical key for an IP (IPv6 expanded to 32 hex digits), or undefined. */
export function ipKey(ip: string): string | undefined {
  if (isIPv4(ip)) return ip.split('.').map((x) => String(Number(x))).join('.');
  if (!isIPv6(ip)) return undefined;
  let s = ip.toLowerCase();
  // An embedded IPv4 tail becomes two groups.
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(s);
  if (v4) {
    const b = v4[1].split('.').map(Number);
    s = s.slice(0, -v4[1].length) + `${((b[0] << 8) | b[1]).toString(16)}:${((b[2] << 8) | b[3]).toString(16)}`;
  }
  const [head, tail] = s.includes('::') ? s.split('::') : [s, undefined];
  const h = head ? head.split(':') : [];
  const t = tail !== undefined && tail !== '' ? tail.split(':') : [];
  const fill = tail === undefined ? 0 : 8 - h.length - t.length;
  const groups = [...h, ...Array<string>(Math.max(0, fill)).fill('0'), ...t];
  if (groups.length !== 8) return undefined;
  return groups.map((g) => g.padStart(4, '0')).join('');
}

function portsOf(list: unknown): DnsPort[] {
  const out: DnsPort[] = [];
  for (const p0 of asArray(list)) {
    const p = asRecord(p0);
    if (typeof p.port !== 'number') continue;
    out.push({ name: str(p.name), protocol: str(p.protocol) || 'TCP', port: p.port });
  }
  return out;
}

/** The DNS view of a Service object. */
export function dnsServiceOf(obj: KubeObject): DnsService {
  const spec = asRecord(obj.spec);
  const type = str(spec.type) || 'ClusterIP';
  const clusterIP = str(spec.clusterIP);
  const ips = asArray(spec.clusterIPs).map(str).filter((ip) => ip !== '' && ip !== 'None');
  const clusterIPs = ips.length > 0 ? ips : clusterIP && clusterIP !== 'None' ? [clusterIP] : [];
  const svc: DnsService = {
    namespace: obj.metadata.namespace ?? '',
    name: obj.metadata.name ?? '',
    type,
    headless: clusterIP === 'None',
    clusterIPs: type === 'ExternalName' ? [] : clusterIPs,
    ports: portsOf(spec.ports),
  };
  if (type === 'ExternalName' && str(spec.externalName)) svc.externalName = str(spec.externalName).replace(/\.$/, '');
  return svc;
}

/** The ready endpoints of an EndpointSlice (one per address). */
export function dnsEndpointsOfSlice(obj: KubeObject): DnsEndpoint[] {
  const ports = portsOf(obj.ports);
  const out: DnsEndpoint[] = [];
  for (const e0 of asArray(obj.endpoints)) {
    const e = asRecord(e0);
    if (asRecord(e.conditions).ready === false) continue;
    for (const a of asArray(e.addresses)) {
      const ip = str(a);
      if (!ipKey(ip)) continue;
      out.push({ ip, hostname: str(e.hostname), ports });
    }
  }
  return out;
}

/** The ready endpoints of an Endpoints object. */
export function dnsEndpointsOfEndpoints(obj: KubeObject): DnsEndpoint[] {
  const out: DnsEndpoint[] = [];
  for (const s0 of asArray(obj.subsets)) {
    const s = asRecord(s0);
    const ports = portsOf(s.ports);
    for (const a0 of asArray(s.addresses)) {
      const a = asRecord(a0);
      const ip = str(a.ip);
      if (!ipKey(ip)) continue;
      out.push({ ip, hostname: str(a.hostname), ports });
    }
  }
  return out;
}

const svcKey = (ns: string, name: string): string => `${ns.toLowerCase()}/${name.toLowerCase()}`;

interface Merged {
  list: DnsEndpoint[];
  byHost?: Map<string, DnsEndpoint[]>;
}

export class DnsState implements DnsView {
  /** Bumped on every change. */
  generation = 0;
  serial: number;
  private readonly now: () => number;
  private readonly namespaces = new Set<string>();
  private readonly services = new Map<string, DnsService>();
  private readonly servicesPerNs = new Map<string, number>();
  /** service key → slice key → endpoints */
  private readonly slices = new Map<string, Map<string, DnsEndpoint[]>>();
  /** slice key → service key (to move a slice whose label changed) */
  private readonly sliceOwner = new Map<string, string>();
  private readonly endpointsObjects = new Map<string, DnsEndpoint[]>();
  private readonly merged = new Map<string, Merged>();
  /** ip key → service key (cluster IPs) */
  private readonly clusterIPs = new Map<string, string>();
  /** ip key → service key → hostnames */
  private readonly hostIPs = new Map<string, Map<string, Set<string>>>();
  /** service key → ip keys it put into hostIPs */
  private readonly hostIPsOf = new Map<string, string[]>();
  /** pod key → { ns, ip keys } and ns → ip key → count (pods verified) */
  private readonly pods = new Map<string, { ns: string; ips: string[] }>();
  private readonly podIPsByNs = new Map<string, Map<string, number>>();
  private readonly listeners = new Set<() => void>();

  constructor(opts: { now?: () => number } = {}) {
    this.now = opts.now ?? Date.now;
    this.serial = Math.floor(this.now() / 1000);
  }

  /** Called after every change. */
  onChange(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  // -- reads

  namespaceExists(ns: string): boolean {
    const n = ns.toLowerCase();
    // A namespace the informer has not delivered yet but that holds services exists too.
    return this.namespaces.has(n) || (this.servicesPerNs.get(n) ?? 0) > 0;
  }

  service(ns: string, name: string): DnsService | undefined {
    return this.services.get(svcKey(ns, name));
  }

  endpoints(ns: string, name: string): readonly DnsEndpoint[] {
    return this.mergedOf(svcKey(ns, name)).list;
  }

  endpointsByHostname(ns: string, name: string, host: string): readonly DnsEndpoint[] {
    const m = this.mergedOf(svcKey(ns, name));
    if (!m.byHost) {
      m.byHost = new Map();
      for (const ep of m.list) {
        const h = endpointHostname(ep).toLowerCase();
        let l = m.byHost.get(h);
        if (!l) m.byHost.set(h, (l = []));
        l.push(ep);
      }
    }
    return m.byHost.get(host.toLowerCase()) ?? [];
  }

  reverse(ip: string): string[] {
    const k = ipKey(ip);
    if (!k) return [];
    const svc = this.clusterIPs.get(k);
    if (svc) {
      const s = this.services.get(svc);
      if (s) return [`${s.name}.${s.namespace}.svc`];
    }
    const hosts = this.hostIPs.get(k);
    if (!hosts) return [];
    const out: string[] = [];
    for (const [key, names] of hosts) {
      const s = this.services.get(key);
      if (!s) continue;
      for (const h of names) out.push(`${h}.${s.name}.${s.namespace}.svc`);
    }
    return out;
  }

  podIP(ns: string, ip: string): boolean {
    const k = ipKey(ip);
    return k !== undefined && (this.podIPsByNs.get(ns.toLowerCase())?.has(k) ?? false);
  }

  /** How many services are known. */
  get serviceCount(): number {
    return this.services.size;
  }

  // -- writes (from informer events, or directly in tests and benchmarks)

  setNamespace(name: string): void {
    const n = name.toLowerCase();
    if (this.namespaces.has(n)) return;
    this.namespaces.add(n);
    this.changed();
  }

  deleteNamespace(name: string): void {
    if (this.namespaces.delete(name.toLowerCase())) this.changed();
  }

  setService(obj: KubeObject | DnsService): void {
    const svc = 'metadata' in obj ? dnsServiceOf(obj) : obj;
    const key = svcKey(svc.namespace, svc.name);
    const old = this.services.get(key);
    if (old && JSON.stringify(old) === JSON.stringify(svc)) return;
    if (old) for (const ip of old.clusterIPs) this.dropClusterIP(ip, key);
    else this.countService(svc.namespace, 1);
    this.services.set(key, svc);
    for (const ip of svc.clusterIPs) {
      const k = ipKey(ip);
      if (k) this.clusterIPs.set(k, key);
    }
    this.reindexHosts(key);
    this.changed();
  }

  deleteService(ns: string, name: string): void {
    const key = svcKey(ns, name);
    const old = this.services.get(key);
    if (!old) return;
    for (const ip of old.clusterIPs) this.dropClusterIP(ip, key);
    this.services.delete(key);
    this.countService(old.namespace, -1);
    this.changed();
  }

  /** Add or replace an EndpointSlice (its service is its kubernetes.io/service-name label). */
  setEndpointSlice(obj: KubeObject): void {
    const sliceKey = `${obj.metadata.namespace ?? ''}/${obj.metadata.name ?? ''}`;
    const svcName = obj.metadata.labels?.['kubernetes.io/service-name'];
    const prev = this.sliceOwner.get(sliceKey);
    const key = svcName ? svcKey(obj.metadata.namespace ?? '', svcName) : undefined;
    if (prev && prev !== key) {
      this.removeSlice(prev, sliceKey);
      this.endpointsChanged(prev);
    }
    if (!key) {
      if (prev) this.changed();
      return;
    }
    let m = this.slices.get(key);
    if (!m) this.slices.set(key, (m = new Map()));
    m.set(sliceKey, dnsEndpointsOfSlice(obj));
    this.sliceOwner.set(sliceKey, key);
    this.endpointsChanged(key);
    this.changed();
  }

  deleteEndpointSlice(obj: KubeObject): void {
    const sliceKey = `${obj.metadata.namespace ?? ''}/${obj.metadata.name ?? ''}`;
    const prev = this.sliceOwner.get(sliceKey);
    if (!prev) return;
    this.removeSlice(prev, sliceKey);
    this.endpointsChanged(prev);
    this.changed();
  }

  /** Add or replace an Endpoints object (used for services without EndpointSlices). */
  setEndpoints(obj: KubeObject): void {
    const key = svcKey(obj.metadata.namespace ?? '', obj.metadata.name ?? '');
    this.endpointsObjects.set(key, dnsEndpointsOfEndpoints(obj));
    this.endpointsChanged(key);
    this.changed();
  }

  deleteEndpoints(obj: KubeObject): void {
    const key = svcKey(obj.metadata.namespace ?? '', obj.metadata.name ?? '');
    if (!this.endpointsObjects.delete(key)) return;
    this.endpointsChanged(key);
    this.changed();
  }

  /** Set a service's endpoints directly (tests, benchmarks), as if from one slice. */
  setServiceEndpoints(ns: string, name: string, endpoints: DnsEndpoint[]): void {
    const key = svcKey(ns, name);
    this.slices.set(key, new Map([[`${ns}/${name}#direct`, endpoints]]));
    this.endpointsChanged(key);
    this.changed();
  }

  setPod(obj: KubeObject): void {
    const key = `${obj.metadata.namespace ?? ''}/${obj.metadata.name ?? ''}`;
    const ns = (obj.metadata.namespace ?? '').toLowerCase();
    const st = asRecord(obj.status);
    const list = asArray(st.podIPs)
      .map((x) => str(asRecord(x).ip))
      .filter((x) => x !== '');
    if (list.length === 0 && str(st.podIP)) list.push(str(st.podIP));
    const ips = list.map(ipKey).filter((k): k is string => k !== undefined);
    const old = this.pods.get(key);
    if (old && old.ns === ns && old.ips.join() === ips.join()) return;
    if (old) this.dropPodIPs(old);
    const rec = { ns, ips };
    this.pods.set(key, rec);
    let m = this.podIPsByNs.get(ns);
    if (!m) this.podIPsByNs.set(ns, (m = new Map()));
    for (const k of ips) m.set(k, (m.get(k) ?? 0) + 1);
    this.changed();
  }

  deletePod(obj: KubeObject): void {
    const key = `${obj.metadata.namespace ?? ''}/${obj.metadata.name ?? ''}`;
    const old = this.pods.get(key);
    if (!old) return;
    this.pods.delete(key);
    this.dropPodIPs(old);
    this.changed();
  }

  // -- internals

  private changed(): void {
    this.generation++;
    this.serial = Math.floor(this.now() / 1000);
    for (const l of this.listeners) {
      try {
        l();
      } catch {
        // a listener must not break the state
      }
    }
  }

  private mergedOf(key: string): Merged {
    let m = this.merged.get(key);
    if (m) return m;
    const slices = this.slices.get(key);
    let list: DnsEndpoint[];
    if (slices && slices.size > 0) {
      list = [];
      for (const eps of slices.values()) for (const e of eps) list.push(e);
    } else {
      list = this.endpointsObjects.get(key) ?? [];
    }
    m = { list };
    this.merged.set(key, m);
    return m;
  }

  private removeSlice(key: string, sliceKey: string): void {
    const m = this.slices.get(key);
    m?.delete(sliceKey);
    if (m && m.size === 0) this.slices.delete(key);
    this.sliceOwner.delete(sliceKey);
  }

  private endpointsChanged(key: string): void {
    this.merged.delete(key);
    this.reindexHosts(key);
  }

  /** Rebuild the reverse entries of a service's endpoints that have hostnames. */
  private reindexHosts(key: string): void {
    for (const k of this.hostIPsOf.get(key) ?? []) {
      const m = this.hostIPs.get(k);
      m?.delete(key);
      if (m && m.size === 0) this.hostIPs.delete(k);
    }
    this.hostIPsOf.delete(key);
    const added: string[] = [];
    for (const ep of this.mergedOf(key).list) {
      if (!ep.hostname) continue;
      const k = ipKey(ep.ip);
      if (!k) continue;
      let m = this.hostIPs.get(k);
      if (!m) this.hostIPs.set(k, (m = new Map()));
      let s = m.get(key);
      if (!s) m.set(key, (s = new Set()));
      s.add(ep.hostname);
      added.push(k);
    }
    if (added.length > 0) this.hostIPsOf.set(key, added);
  }

  private countService(ns: string, d: number): void {
    const n = ns.toLowerCase();
    const c = (this.servicesPerNs.get(n) ?? 0) + d;
    if (c > 0) this.servicesPerNs.set(n, c);
    else this.servicesPerNs.delete(n);
  }

  private dropClusterIP(ip: string, key: string): void {
    const k = ipKey(ip);
    if (k && this.clusterIPs.get(k) === key) this.clusterIPs.delete(k);
  }

  private dropPodIPs(rec: { ns: string; ips: string[] }): void {
    const m = this.podIPsByNs.get(rec.ns);
    if (!m) return;
    for (const k of rec.ips) {
      const n = (m.get(k) ?? 0) - 1;
      if (n <= 0) m.delete(k);
      else m.set(k, n);
    }
    if (m.size === 0) this.podIPsByNs.delete(rec.ns);
  }
}
