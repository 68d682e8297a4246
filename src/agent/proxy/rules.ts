// The pure half of the service proxy: from Services and EndpointSlices, the ClusterIP rules
// kube-proxy would write, rendered as one nftables script that atomically replaces a
// kennel-owned `ip` table (kube-proxy's nftables mode, simplified):
//
// - nat prerouting (pods) and nat output (the host): `ip daddr . l4proto . dport` looked up in
//   a verdict map of ClusterIP ports; each goes to a service chain that picks one endpoint
//   with `numgen random mod N` and jumps to an endpoint chain that DNATs to ip:port;
// - endpoints: the ready ones; if none is ready, the serving+terminating ones (kube-proxy's
//   fallback); endpoint ports come from the slice port with the service port's name, so named
//   targetPorts are already resolved;
// - masquerade (a mark bit, cleared and acted on in nat postrouting): hairpin (a pod reaching
//   itself through its service), traffic from the pod network to an endpoint outside it (not
//   to loopback endpoints: locally delivered packets never see postrouting), and, with
//   masqueradeAll, everything that is DNATed;
// - ClusterIP ports without endpoints: rejected in filter forward/output (TCP reset, ICMP
//   port-unreachable for the rest), as kube-proxy does;
// - a guard in filter input drops packets to 127.0.0.0/8 that arrive on a non-loopback
//   interface without having been DNATed (route_localnet, which loopback endpoints need, would
//   otherwise expose every host service bound to 127.0.0.1 to the pods: CVE-2020-8558).
// IPv4 only. sessionAffinity is ignored.
import { createHash } from 'node:crypto';
import type { KubeObject } from '../../registry/types.ts';

export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';
export const DEFAULT_TABLE = 'kennel-proxy';
/** The packet-mark bit that asks nat postrouting to masquerade. */
export const DEFAULT_MASQUERADE_MARK = 0x8000;

export type L4Protocol = 'tcp' | 'udp' | 'sctp';

export interface ProxyEndpoint {
  ip: string;
  port: number;
}

/** One ClusterIP port and the endpoints its traffic is spread over (none: rejected). */
export interface ServicePortRule {
  /** namespace/name:portName (portName may be empty). */
  key: string;
  clusterIP: string;
  port: number;
  protocol: L4Protocol;
  endpoints: ProxyEndpoint[];
}

export interface ComputeOptions {
  /** Replace loopback endpoint addresses (127.0.0.0/8) by this one (e.g. the pod bridge's gateway). */
  hostEndpointAddress?: string;
}

interface ServiceSpecLike {
  type?: string;
  clusterIP?: string;
  clusterIPs?: string[];
  ports?: { name?: string; port?: number; protocol?: string }[];
}
interface SliceLike {
  addressType?: string;
  endpoints?: { addresses?: string[]; conditions?: { ready?: boolean | null; serving?: boolean | null; terminating?: boolean | null } }[] | null;
  ports?: { name?: string | null; port?: number | null; protocol?: string | null }[] | null;
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

export function isIPv4(s: string): boolean {
  return IPV4.test(s);
}

export function ipv4ToInt(ip: string): number {
  return ip.split('.').reduce((a, o) => a * 256 + Number(o), 0);
}

/** Whether ip is inside cidr (a.b.c.d/n). */
export function ipv4InCIDR(ip: string, cidr: string): boolean {
  const [base, bitsText] = cidr.split('/');
  const bits = Number(bitsText ?? '32');
  if (!base || !isIPv4(base) || !isIPv4(ip) || !Number.isInteger(bits) || bits < 0 || bits > 32) return false;
  if (bits === 0) return true;
  const mask = bits === 32 ? 0xffffffff : (0xffffffff << (32 - bits)) >>> 0;
  return ((ipv4ToInt(ip) & mask) >>> 0) === ((ipv4ToInt(base) & mask) >>> 0);
}

function protocolOf(p: string | null | undefined): L4Protocol | undefined {
  const v = (p || 'TCP').toUpperCase();
  return v === 'TCP' ? 'tcp' : v === 'UDP' ? 'udp' : v === 'SCTP' ? 'sctp' : undefined;
}

function serviceClusterIPv4(spec: ServiceSpecLike): string | undefined {
  if (spec.type === 'ExternalName') return undefined;
  const ips = spec.clusterIPs && spec.clusterIPs.length > 0 ? spec.clusterIPs : spec.clusterIP ? [spec.clusterIP] : [];
  return ips.find((ip) => isIPv4(ip));
}

/**
 * The rules for every ClusterIP port of the given services, from the EndpointSlices (matched
 * by the kubernetes.io/service-name label in the service's namespace). Sorted by key.
 */
export function computeServiceRules(services: readonly KubeObject[], slices: readonly KubeObject[], opts: ComputeOptions = {}): ServicePortRule[] {
  const byService = new Map<string, SliceLike[]>();
  for (const s of slices) {
    const svc = s.metadata?.labels?.[SERVICE_NAME_LABEL];
    if (!svc) continue;
    const slice = s as unknown as SliceLike;
    if (slice.addressType && slice.addressType !== 'IPv4') continue;
    const k = `${s.metadata?.namespace ?? ''}/${svc}`;
    let list = byService.get(k);
    if (!list) byService.set(k, (list = []));
    list.push(slice);
  }
  const out: ServicePortRule[] = [];
  for (const svc of services) {
    const spec = (svc.spec ?? {}) as ServiceSpecLike;
    const clusterIP = serviceClusterIPv4(spec);
    if (!clusterIP) continue;
    const ns = svc.metadata?.namespace ?? '';
    const name = svc.metadata?.name ?? '';
    const svcSlices = byService.get(`${ns}/${name}`) ?? [];
    for (const p of spec.ports ?? []) {
      const protocol = protocolOf(p.protocol);
      if (!protocol || typeof p.port !== 'number') continue;
      const portName = p.name ?? '';
      const ready: ProxyEndpoint[] = [];
      const fallback: ProxyEndpoint[] = [];
      for (const slice of svcSlices) {
        const sp = (slice.ports ?? []).find((x) => (x.name ?? '') === portName && protocolOf(x.protocol) === protocol);
        if (!sp || typeof sp.port !== 'number') continue;
        for (const ep of slice.endpoints ?? []) {
          const c = ep.conditions ?? {};
          const isReady = c.ready !== false; // nil means ready
          const serving = c.serving ?? isReady;
          const terminating = c.terminating ?? false;
          for (const raw of ep.addresses ?? []) {
            if (!isIPv4(raw)) continue;
            const ip = opts.hostEndpointAddress && raw.startsWith('127.') ? opts.hostEndpointAddress : raw;
            if (isReady && !terminating) ready.push({ ip, port: sp.port });
            else if (serving && terminating) fallback.push({ ip, port: sp.port });
          }
        }
      }
      out.push({ key: `${ns}/${name}:${portName}`, clusterIP, port: p.port, protocol, endpoints: uniqueSorted(ready.length > 0 ? ready : fallback) });
    }
  }
  return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

function uniqueSorted(eps: ProxyEndpoint[]): ProxyEndpoint[] {
  const seen = new Map<string, ProxyEndpoint>();
  for (const e of eps) seen.set(`${e.ip}:${e.port}`, e);
  return [...seen.values()].sort((a, b) => ipv4ToInt(a.ip) - ipv4ToInt(b.ip) || a.port - b.port);
}

export interface RenderOptions {
  /** The pod network (e.g. 10.244.0.0/24). */
  podCIDR: string;
  /** nftables table name in family ip (default kennel-proxy). */
  table?: string;
  /** Masquerade all DNATed traffic (needed where bridged replies bypass netfilter, i.e. without br_netfilter). */
  masqueradeAll?: boolean;
  masqueradeMark?: number;
}

function shortHash(s: string): string {
  return createHash('sha256').update(s).digest('hex').slice(0, 12);
}

/** The chain name of a service port (stable across renders). */
export function serviceChainName(r: ServicePortRule): string {
  return `svc-${shortHash(`${r.key}/${r.protocol}`)}`;
}

export function endpointChainName(r: ServicePortRule, e: ProxyEndpoint): string {
  return `ep-${shortHash(`${r.key}/${r.protocol}/${e.ip}:${e.port}`)}`;
}

function comment(s: string): string {
  return `comment "${s.replace(/["\\]/g, '')}"`;
}

/**
 * The nft script that replaces the table as one transaction (create-if-missing, delete,
 * define): `nft -f -` applies all of it or nothing.
 */
export function renderNftRuleset(rules: readonly ServicePortRule[], opts: RenderOptions): string {
  const table = opts.table ?? DEFAULT_TABLE;
  if (!/^[A-Za-z][A-Za-z0-9_-]*$/.test(table)) throw new Error(`invalid nft table name ${table}`);
  if (!/^\d+\.\d+\.\d+\.\d+\/\d+$/.test(opts.podCIDR)) throw new Error(`invalid pod CIDR ${opts.podCIDR}`);
  const mark = `0x${(opts.masqueradeMark ?? DEFAULT_MASQUERADE_MARK).toString(16)}`;
  const L: string[] = [];
  L.push(`table ip ${table} {}`, `delete table ip ${table}`, `table ip ${table} {`);

  const withEps = rules.filter((r) => r.endpoints.length > 0);
  const without = rules.filter((r) => r.endpoints.length === 0);

  L.push('  map service-ips {', '    type ipv4_addr . inet_proto . inet_service : verdict');
  if (withEps.length > 0) L.push(`    elements = { ${withEps.map((r) => `${r.clusterIP} . ${r.protocol} . ${r.port} : goto ${serviceChainName(r)}`).join(',\n      ')} }`);
  L.push('  }');
  L.push('  map no-endpoint-services {', '    type ipv4_addr . inet_proto . inet_service : verdict');
  if (without.length > 0) L.push(`    elements = { ${without.map((r) => `${r.clusterIP} . ${r.protocol} . ${r.port} : goto reject-chain`).join(',\n      ')} }`);
  L.push('  }');

  L.push('  chain nat-prerouting {', '    type nat hook prerouting priority dstnat; policy accept;', '    jump services', '  }');
  L.push('  chain nat-output {', '    type nat hook output priority -100; policy accept;', '    jump services', '  }');
  L.push(
    '  chain nat-postrouting {',
    '    type nat hook postrouting priority srcnat; policy accept;',
    `    meta mark & ${mark} == 0 return`,
    `    meta mark set meta mark ^ ${mark}`,
    '    masquerade fully-random',
    '  }',
  );
  L.push('  chain mark-for-masquerade {', `    meta mark set meta mark | ${mark}`, '  }');
  L.push('  chain services {', '    ip daddr . meta l4proto . th dport vmap @service-ips', '  }');

  L.push('  chain filter-forward {', '    type filter hook forward priority -110; policy accept;', '    ct state new jump service-endpoints-check', '  }');
  L.push('  chain filter-output {', '    type filter hook output priority -110; policy accept;', '    ct state new jump service-endpoints-check', '  }');
  L.push(
    '  chain filter-input {',
    '    type filter hook input priority -110; policy accept;',
    '    iifname != "lo" ip daddr 127.0.0.0/8 ct status & dnat == 0 drop',
    '  }',
  );
  L.push('  chain service-endpoints-check {', '    ip daddr . meta l4proto . th dport vmap @no-endpoint-services', '  }');
  L.push('  chain reject-chain {', '    meta l4proto tcp reject with tcp reset', '    reject', '  }');

  for (const r of withEps) {
    L.push(`  chain ${serviceChainName(r)} {`, `    ${comment(`${r.key} ${r.protocol}`)}`);
    if (opts.masqueradeAll) L.push('    jump mark-for-masquerade');
    if (r.endpoints.length === 1) L.push(`    goto ${endpointChainName(r, r.endpoints[0]!)}`);
    else L.push(`    numgen random mod ${r.endpoints.length} vmap { ${r.endpoints.map((e, i) => `${i} : goto ${endpointChainName(r, e)}`).join(', ')} }`);
    L.push('  }');
    for (const e of r.endpoints) {
      L.push(`  chain ${endpointChainName(r, e)} {`, `    ${comment(`${r.key} -> ${e.ip}:${e.port}`)}`);
      if (!e.ip.startsWith('127.')) {
        L.push(`    ip saddr ${e.ip} jump mark-for-masquerade`);
        if (!ipv4InCIDR(e.ip, opts.podCIDR)) L.push(`    ip saddr ${opts.podCIDR} jump mark-for-masquerade`);
      }
      L.push(`    meta l4proto ${r.protocol} dnat to ${e.ip}:${e.port}`, '  }');
    }
  }
  L.push('}');
  return L.join('\n') + '\n';
}

/** The script that removes the table (ignored by nft when missing: created first). */
export function renderNftDelete(table = DEFAULT_TABLE): string {
  return `table ip ${table} {}\ndelete table ip ${table}\n`;
}
