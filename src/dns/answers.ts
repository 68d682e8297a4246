// The answer builder: one question + the cluster state → the records of the response, as
// CoreDNS's kubernetes plugin answers them (Kubernetes DNS-Based Service Discovery spec 1.1.0;
// Corefile `kubernetes cluster.local in-addr.arpa ip6.arpa { pods insecure; fallthrough
// in-addr.arpa ip6.arpa }` plus `forward . /etc/resolv.conf`). A pure function: the server turns
// the result into wire format.
//
// Names in the zone:
//   <svc>.<ns>.svc.<zone>              A/AAAA: cluster IPs; headless: every ready endpoint IP
//   <host>.<svc>.<ns>.svc.<zone>       A/AAAA: the endpoints whose hostname (or dashed IP) is host
//   _<port>._<proto>.<svc>.<ns>.svc.<zone>, and the bare service name
//                                      SRV 0 <100/n> <port> <target>, targets
//                                      <host>.<svc>.<ns>.svc.<zone> (headless) or
//                                      <svc>.<ns>.svc.<zone>, their addresses in additional
//   <a-b-c-d>.<ns>.pod.<zone>          A (pods insecure: any IP; verified: a pod's IP in ns)
//   <ns>.svc.<zone>, svc.<zone>, pod.<zone>, <zone>   exist (NODATA), SOA/NS at the apex
//   dns-version.<zone>                 TXT "1.1.0"
// An ExternalName service answers a CNAME (chased: in the zone here, outside by the server).
//
// NXDOMAIN vs NODATA, as CoreDNS: a name answers NXDOMAIN when nothing exists under it — an
// unknown namespace, service, endpoint hostname or named port, a headless service with no ready
// endpoint, a label that is neither `svc` nor `pod`, too many labels; a name that exists but has
// no record of the asked type (AAAA of an IPv4 service, TXT of a service, the namespace name)
// answers NODATA. Both carry the zone's SOA in the authority section, with the AA bit.
//
// Reverse names: PTR of a cluster IP → its service; of an endpoint IP with a hostname → that
// name (every service the endpoint is in). Other reverse names, and every name outside the zone,
// go to the upstream resolvers.
import type { Answer, Question, SoaAnswer } from 'dns-packet';
import { isIPv4, isIPv6 } from '../registry/validation.ts';
import { endpointHostname, type DnsEndpoint, type DnsService, type DnsView } from './state.ts';

export type Rcode = 'NOERROR' | 'FORMERR' | 'SERVFAIL' | 'NXDOMAIN' | 'NOTIMP' | 'REFUSED';

export interface AnswerConfig {
  /** The cluster domain, e.g. `cluster.local` (no trailing dot). */
  zone: string;
  /** TTL of every answer, seconds (CoreDNS default 5). */
  ttl: number;
  /** `<a-b-c-d>.<ns>.pod.<zone>` records: insecure (any IP, the kubeadm default), verified (only
   *  IPs of pods in that namespace), disabled. */
  pods?: 'insecure' | 'verified' | 'disabled';
  /** Addresses of this DNS server, for the NS records of the zone (`ns.dns.<zone>`). */
  nsAddresses?: string[];
}

export interface BuiltAnswer {
  kind: 'answer';
  rcode: Rcode;
  authoritative: boolean;
  answers: Answer[];
  authorities: Answer[];
  additionals: Answer[];
  /** A CNAME to a name outside the zone: the server resolves it upstream and appends. */
  chase?: { name: string; type: 'A' | 'AAAA' };
}

export type AnswerResult = BuiltAnswer | { kind: 'forward' };

export const DNS_SCHEMA_VERSION = '1.1.0';

/** Lower-case, without the trailing dot. */
export function normalizeName(name: string): string {
  const n = name.endsWith('.') ? name.slice(0, -1) : name;
  return n.toLowerCase();
}

function inZone(lname: string, zone: string): boolean {
  return lname === zone || lname.endsWith(`.${zone}`);
}

export function soaRecord(cfg: AnswerConfig, serial: number): SoaAnswer {
  return {
    name: cfg.zone,
    type: 'SOA',
    class: 'IN',
    ttl: Math.min(300, cfg.ttl),
    data: { mname: `ns.dns.${cfg.zone}`, rname: `hostmaster.${cfg.zone}`, serial: serial >>> 0, refresh: 7200, retry: 1800, expire: 86400, minimum: cfg.ttl },
  };
}

function reply(rcode: Rcode, answers: Answer[], additionals: Answer[] = []): BuiltAnswer {
  return { kind: 'answer', rcode, authoritative: true, answers, authorities: [], additionals };
}

/** NXDOMAIN or NODATA, with the SOA in the authority section. */
function negative(view: DnsView, cfg: AnswerConfig, rcode: 'NXDOMAIN' | 'NOERROR'): BuiltAnswer {
  return { kind: 'answer', rcode, authoritative: true, answers: [], authorities: [soaRecord(cfg, view.serial)], additionals: [] };
}

/** A positive answer, or NODATA when there is no record of the type. */
function records(view: DnsView, cfg: AnswerConfig, answers: Answer[], additionals: Answer[] = []): BuiltAnswer {
  return answers.length > 0 ? reply('NOERROR', answers, additionals) : negative(view, cfg, 'NOERROR');
}

/** An address record of the right type for ip, or undefined when ip is of the other family. */
function addressRecord(name: string, ip: string, qtype: string, ttl: number): Answer | undefined {
  if (qtype === 'A' && isIPv4(ip)) return { name, type: 'A', class: 'IN', ttl, data: ip };
  if (qtype === 'AAAA' && isIPv6(ip)) return { name, type: 'AAAA', class: 'IN', ttl, data: ip };
  return undefined;
}

function addressRecordAny(name: string, ip: string, ttl: number): Answer | undefined {
  return addressRecord(name, ip, isIPv4(ip) ? 'A' : 'AAAA', ttl);
}

/** One (address, port) a service name stands for — CoreDNS's msg.Service. */
interface Item {
  host: string;
  port: number;
  /** The SRV target, relative to the zone: `<host>.<svc>.<ns>.svc` or `<svc>.<ns>.svc`. */
  target: string;
}

function stripUnderscore(s: string): string {
  return s.startsWith('_') ? s.slice(1) : s;
}

function matchPortAndProtocol(qPort: string, port: string, qProto: string, proto: string): boolean {
  return (qPort === '' || qPort === port.toLowerCase()) && (qProto === '' || qProto === proto.toLowerCase());
}

/**
 * The items of a service name (findServices): undefined = NXDOMAIN; an ExternalName service
 * gives its target instead.
 */
function serviceItems(view: DnsView, svc: DnsService, endpoint: string, port: string, proto: string): { items: Item[] } | { external: string } | undefined {
  if (svc.type === 'ExternalName') {
    if (endpoint !== '' || !svc.externalName) return undefined;
    return { external: svc.externalName };
  }
  const base = `${svc.name}.${svc.namespace}.svc`;
  if (svc.headless || endpoint !== '') {
    const eps: readonly DnsEndpoint[] = endpoint !== '' ? view.endpointsByHostname(svc.namespace, svc.name, endpoint) : view.endpoints(svc.namespace, svc.name);
    const items: Item[] = [];
    for (const ep of eps) {
      const target = `${endpointHostname(ep)}.${base}`;
      if (ep.ports.length === 0) {
        if (port === '' && proto === '') items.push({ host: ep.ip, port: -1, target });
        continue;
      }
      for (const p of ep.ports) {
        if (matchPortAndProtocol(port, p.name, proto, p.protocol)) items.push({ host: ep.ip, port: p.port, target });
      }
    }
    return items.length > 0 ? { items } : undefined;
  }
  const items: Item[] = [];
  let found = false;
  for (const p of svc.ports) {
    if (!matchPortAndProtocol(port, p.name, proto, p.protocol)) continue;
    found = true;
    for (const ip of svc.clusterIPs) items.push({ host: ip, port: p.port, target: base });
  }
  return found ? { items } : undefined;
}

function srvAnswer(qname: string, items: Item[], cfg: AnswerConfig): { answers: Answer[]; additionals: Answer[] } {
  // CoreDNS: every item weighs 100 in its priority (all 0): weight = floor(100/n), at least 1.
  const n = items.length;
  const weight = Math.max(1, Math.floor((100 / (100 * n)) * 100));
  const answers: Answer[] = [];
  const additionals: Answer[] = [];
  const seenSrv = new Set<string>();
  const seenAddr = new Set<string>();
  for (const it of items) {
    if (it.port === -1) continue;
    const target = `${it.target}.${cfg.zone}`;
    const k = `${target}|${it.port}`;
    if (!seenSrv.has(k)) {
      seenSrv.add(k);
      answers.push({ name: qname, type: 'SRV', class: 'IN', ttl: cfg.ttl, data: { priority: 0, weight, port: it.port, target } });
    }
    const a = `${target}|${it.host}`;
    if (!seenAddr.has(a)) {
      seenAddr.add(a);
      const rr = addressRecordAny(target, it.host, cfg.ttl);
      if (rr) additionals.push(rr);
    }
  }
  return { answers, additionals };
}

/** Build the response to one question. */
export function buildAnswer(view: DnsView, q: Question, cfg: AnswerConfig, depth = 0): AnswerResult {
  const qname = q.name.endsWith('.') ? q.name.slice(0, -1) : q.name;
  const lname = qname.toLowerCase();
  const zone = normalizeName(cfg.zone);
  const qtype = String(q.type).toUpperCase();
  if (inZone(lname, zone)) {
    if (q.class !== undefined && q.class !== 'IN') return { kind: 'answer', rcode: 'REFUSED', authoritative: false, answers: [], authorities: [], additionals: [] };
    return zoneAnswer(view, { ...cfg, zone }, qname, lname.slice(0, Math.max(0, lname.length - zone.length - 1)), qtype, depth);
  }
  if (lname.endsWith('.in-addr.arpa') || lname.endsWith('.ip6.arpa')) {
    if (qtype !== 'PTR') return { kind: 'forward' };
    const ip = addressFromReverse(lname);
    if (!ip) return { kind: 'forward' };
    const targets = view.reverse(ip);
    if (targets.length === 0) return { kind: 'forward' };
    return reply(
      'NOERROR',
      [...new Set(targets)].map((t): Answer => ({ name: qname, type: 'PTR', class: 'IN', ttl: cfg.ttl, data: `${t}.${zone}` })),
    );
  }
  return { kind: 'forward' };
}

function zoneAnswer(view: DnsView, cfg: AnswerConfig, qname: string, base: string, qtype: string, depth: number): BuiltAnswer {
  const ttl = cfg.ttl;
  const zone = cfg.zone;
  if (base === '') {
    // The apex: SOA and NS; nothing else.
    if (qtype === 'SOA') return reply('NOERROR', [{ ...soaRecord(cfg, view.serial), name: qname }]);
    if (qtype === 'NS') {
      const ns = `ns.dns.${zone}`;
      const glue = (cfg.nsAddresses ?? []).map((ip) => addressRecordAny(ns, ip, ttl)).filter((r): r is Answer => r !== undefined);
      return reply('NOERROR', [{ name: qname, type: 'NS', class: 'IN', ttl, data: ns }], glue);
    }
    return negative(view, cfg, 'NOERROR');
  }
  if (base === 'dns-version') {
    if (qtype === 'TXT') return reply('NOERROR', [{ name: qname, type: 'TXT', class: 'IN', ttl: 28800, data: DNS_SCHEMA_VERSION }]);
    return negative(view, cfg, 'NXDOMAIN');
  }
  if (base === 'ns.dns') {
    const recs = (cfg.nsAddresses ?? []).map((ip) => addressRecord(qname, ip, qtype, ttl)).filter((r): r is Answer => r !== undefined);
    return records(view, cfg, recs);
  }
  const segs = base.split('.');
  const kind = segs.pop();
  if (kind !== 'svc' && kind !== 'pod') return negative(view, cfg, 'NXDOMAIN');
  if (segs.length === 0) return negative(view, cfg, 'NOERROR');
  const ns = segs.pop()!;
  if (!view.namespaceExists(ns)) return negative(view, cfg, 'NXDOMAIN');
  if (segs.length === 0) return negative(view, cfg, 'NOERROR');
  const name = segs.pop()!;

  if (kind === 'pod') {
    if (segs.length > 0 || cfg.pods === 'disabled') return negative(view, cfg, 'NXDOMAIN');
    const ip = name.split('-').length === 4 && !name.includes('--') ? name.replace(/-/g, '.') : name.replace(/-/g, ':');
    if (!isIPv4(ip) && !isIPv6(ip)) return negative(view, cfg, 'NXDOMAIN');
    if (cfg.pods === 'verified' && !view.podIP(ns, ip)) return negative(view, cfg, 'NXDOMAIN');
    const rr = qtype === 'A' || qtype === 'AAAA' ? addressRecord(qname, ip, qtype, ttl) : undefined;
    return records(view, cfg, rr ? [rr] : []);
  }

  if (segs.length > 2) return negative(view, cfg, 'NXDOMAIN');
  const endpoint = segs.length === 1 ? segs[0] : '';
  const port = segs.length === 2 ? stripUnderscore(segs[0]) : '';
  const proto = segs.length === 2 ? stripUnderscore(segs[1]) : '';
  const svc = view.service(ns, name);
  if (!svc) return negative(view, cfg, 'NXDOMAIN');
  const found = serviceItems(view, svc, endpoint, port, proto);
  if (!found) return negative(view, cfg, 'NXDOMAIN');

  if ('external' in found) {
    if (qtype !== 'A' && qtype !== 'AAAA' && qtype !== 'CNAME') return negative(view, cfg, 'NOERROR');
    const cname: Answer = { name: qname, type: 'CNAME', class: 'IN', ttl, data: found.external };
    if (qtype === 'CNAME') return reply('NOERROR', [cname]);
    const target = normalizeName(found.external);
    if (inZone(target, zone)) {
      if (depth >= 8 || target === normalizeName(qname)) return reply('NOERROR', [cname]);
      const next = buildAnswer(view, { name: found.external, type: qtype, class: 'IN' }, cfg, depth + 1);
      return reply('NOERROR', next.kind === 'answer' && next.rcode === 'NOERROR' ? [cname, ...next.answers] : [cname]);
    }
    return { ...reply('NOERROR', [cname]), chase: { name: found.external, type: qtype } };
  }

  const items = found.items;
  switch (qtype) {
    case 'A':
    case 'AAAA': {
      const seen = new Set<string>();
      const out: Answer[] = [];
      for (const it of items) {
        if (seen.has(it.host)) continue;
        seen.add(it.host);
        const rr = addressRecord(qname, it.host, qtype, ttl);
        if (rr) out.push(rr);
      }
      return records(view, cfg, out);
    }
    case 'SRV': {
      const { answers, additionals } = srvAnswer(qname, items, cfg);
      return records(view, cfg, answers, additionals);
    }
    default:
      return negative(view, cfg, 'NOERROR');
  }
}

/** The IP a reverse name (`4.3.2.1.in-addr.arpa`, 32 nibbles `.ip6.arpa`) stands for. */
export function addressFromReverse(lname: string): string | undefined {
  if (lname.endsWith('.in-addr.arpa')) {
    const parts = lname.slice(0, -'.in-addr.arpa'.length).split('.');
    if (parts.length !== 4 || !parts.every((p) => /^(0|[1-9][0-9]{0,2})$/.test(p) && Number(p) <= 255)) return undefined;
    return parts.reverse().join('.');
  }
  if (lname.endsWith('.ip6.arpa')) {
    const nibbles = lname.slice(0, -'.ip6.arpa'.length).split('.');
    if (nibbles.length !== 32 || !nibbles.every((n) => /^[0-9a-f]$/.test(n))) return undefined;
    const hex = nibbles.reverse().join('');
    const groups: string[] = [];
    for (let i = 0; i < 32; i += 4) groups.push(hex.slice(i, i + 4).replace(/^0+(?=.)/, ''));
    return groups.join(':');
  }
  return undefined;
}
