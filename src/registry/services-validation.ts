// core/v1 Service validation: ValidateService, its update rules and the status (load-balancer
// ingress) rules, with the spec predicates defaulting shares.
import type { FieldCause, KubeObject } from './types.ts';
import { validatePortNumOrName } from './podspec.ts';
import {
  asArray,
  asRecord,
  dns1123LabelErrors,
  duplicate,
  forbidden,
  INVALID_IP_MSG,
  invalid,
  isCIDR,
  isIP,
  isIPv4,
  isIPv6,
  isRecord,
  jsonEqual,
  notSupported,
  portNumErrors,
  required,
  requiredDetail,
  validateDNS1123LabelField,
  validateDNS1123SubdomainField,
  validateLabels,
  validateQualifiedNameField,
} from './validation.ts';

type Obj = Record<string, unknown>;

export const str = (v: unknown): string => (typeof v === 'string' ? v : '');
export const present = (v: unknown): boolean => v !== undefined && v !== null;

const SERVICE_TYPES = ['ClusterIP', 'ExternalName', 'LoadBalancer', 'NodePort'];
const PROTOCOLS = ['SCTP', 'TCP', 'UDP'];
const MAX_AFFINITY_SECONDS = 86400;

export const DNS1035_LABEL_MSG =
  "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')";

function isHeadless(spec: Obj): boolean {
  const ips = asArray(spec.clusterIPs);
  return ips.length === 1 && ips[0] === 'None';
}

/** LoadBalancer and NodePort services, and ClusterIP ones with external IPs. */
export function externallyAccessible(spec: Obj): boolean {
  const t = spec.type;
  return t === 'LoadBalancer' || t === 'NodePort' || (t === 'ClusterIP' && asArray(spec.externalIPs).length > 0);
}

export function needsHealthCheck(spec: Obj): boolean {
  return spec.type === 'LoadBalancer' && spec.externalTrafficPolicy === 'Local';
}

/** ValidateNonSpecialIP: no unspecified, loopback or link-local addresses. */
export function nonSpecialIPErrors(ip: string, field: string): FieldCause[] {
  const out: FieldCause[] = [];
  const lower = ip.toLowerCase();
  if (ip === '0.0.0.0' || lower === '::') out.push(invalid(field, ip, `may not be unspecified (${ip})`));
  if (ip.startsWith('127.') || lower === '::1') out.push(invalid(field, ip, 'may not be in the loopback range (127.0.0.0/8, ::1/128)'));
  if (ip.startsWith('169.254.') || /^fe[89ab]/.test(lower)) out.push(invalid(field, ip, 'may not be in the link-local range (169.254.0.0/16, fe80::/10)'));
  if (ip.startsWith('224.0.0.') || lower.startsWith('ff02:')) {
    out.push(invalid(field, ip, 'may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)'));
  }
  return out;
}

function validateClusterIPsRelated(spec: Obj): FieldCause[] {
  if (spec.type === 'ExternalName') return [];
  const out: FieldCause[] = [];
  const ips = asArray(spec.clusterIPs).map((x) => str(x));
  const clusterIP = str(spec.clusterIP);
  if (clusterIP) {
    if (ips.length === 0) out.push(required('spec.clusterIPs'));
    else if (ips[0] !== clusterIP) out.push(invalid('spec.clusterIPs', ips, 'first value must match `clusterIP`'));
  } else if (ips.length !== 0) {
    out.push(invalid('spec.clusterIPs', ips, 'must be empty when `clusterIP` is not specified'));
  }
  const seen = new Set<string>();
  asArray(spec.ipFamilies).forEach((f0, i) => {
    const f = str(f0);
    if (f !== 'IPv4' && f !== 'IPv6') out.push(notSupported(`spec.ipFamilies[${i}]`, f, ['IPv4', 'IPv6']));
    if (seen.has(f)) out.push(duplicate(`spec.ipFamilies[${i}]`, f));
    seen.add(f);
  });
  if (present(spec.ipFamilyPolicy)) {
    const p = str(spec.ipFamilyPolicy);
    const supported = ['PreferDualStack', 'RequireDualStack', 'SingleStack'];
    if (!supported.includes(p)) out.push(notSupported('spec.ipFamilyPolicy', p, supported));
  }
  let badIPs = false;
  ips.forEach((ip, i) => {
    if (i === 0 && ip === 'None') {
      if (ips.length > 1) {
        badIPs = true;
        out.push(invalid('spec.clusterIPs', ips, "'None' must be the first and only value"));
      }
      return;
    }
    if (!isIP(ip)) {
      badIPs = true;
      out.push(invalid(`spec.clusterIPs[${i}]`, ip, INVALID_IP_MSG));
    }
  });
  if (ips.length > 2) out.push(invalid('spec.clusterIPs', ips, 'may only hold up to 2 values'));
  if (badIPs) return out;
  if (ips.length > 1 && !(ips.length === 2 && isIPv4(ips[0]) !== isIPv4(ips[1]))) {
    out.push(invalid('spec.clusterIPs', ips, 'may specify no more than one IP for each IP family'));
  }
  const families = asArray(spec.ipFamilies).map((x) => str(x));
  if (!isHeadless(spec) && ips.length > 0 && families.length > 0) {
    ips.forEach((ip, i) => {
      if (i >= families.length) return;
      if (families[i] === 'IPv4' && isIPv6(ip)) out.push(invalid(`spec.clusterIPs[${i}]`, ip, `expected an IPv4 value as indicated by \`ipFamilies[${i}]\``));
      if (families[i] === 'IPv6' && !isIPv6(ip)) out.push(invalid(`spec.clusterIPs[${i}]`, ip, `expected an IPv6 value as indicated by \`ipFamilies[${i}]\``));
    });
  }
  return out;
}

/** ValidateService (the spec part; the name's DNS-1035 rule is checked here too). */
export function validateService(obj: KubeObject): FieldCause[] {
  const out: FieldCause[] = [];
  const name = str(obj.metadata.name);
  // Services use DNS-1035 labels: like DNS-1123 labels, but starting with a letter.
  if (name && dns1123LabelErrors(name).length === 0 && !/^[a-z]/.test(name)) out.push(invalid('metadata.name', name, DNS1035_LABEL_MSG));
  const spec = asRecord(obj.spec);
  const type = str(spec.type);
  const ports = asArray(spec.ports);
  const headless = isHeadless(spec);
  if (ports.length === 0 && !headless && type !== 'ExternalName') out.push(required('spec.ports'));
  if ((type === 'LoadBalancer' || type === 'NodePort') && headless) {
    out.push(invalid('spec.clusterIPs[0]', 'None', `may not be set to 'None' for ${type} services`));
  }
  if (type === 'ExternalName') {
    if (asArray(spec.clusterIPs).length > 0) out.push(forbidden('spec.clusterIPs', 'may not be set for ExternalName services'));
    if (asArray(spec.ipFamilies).length > 0) out.push(forbidden('spec.ipFamilies', 'may not be set for ExternalName services'));
    if (present(spec.ipFamilyPolicy)) out.push(forbidden('spec.ipFamilyPolicy', 'may not be set for ExternalName services'));
    const cname = str(spec.externalName).replace(/\.$/, '');
    if (cname) out.push(...validateDNS1123SubdomainField(cname, 'spec.externalName'));
    else out.push(required('spec.externalName'));
  }
  const names = new Set<string>();
  ports.forEach((p0, i) => {
    const p = asRecord(p0);
    const f = `spec.ports[${i}]`;
    const pname = str(p.name);
    if (ports.length > 1 && !pname) out.push(required(`${f}.name`));
    else if (pname) {
      out.push(...validateDNS1123LabelField(pname, `${f}.name`));
      if (names.has(pname)) out.push(duplicate(`${f}.name`, pname));
      else names.add(pname);
    }
    for (const m of portNumErrors(p.port)) out.push(invalid(`${f}.port`, p.port ?? 0, m));
    const proto = str(p.protocol);
    if (!proto) out.push(required(`${f}.protocol`));
    else if (!PROTOCOLS.includes(proto)) out.push(notSupported(`${f}.protocol`, proto, PROTOCOLS));
    out.push(...validatePortNumOrName(p.targetPort, `${f}.targetPort`));
    if (present(p.appProtocol)) out.push(...validateQualifiedNameField(str(p.appProtocol), `${f}.appProtocol`));
  });
  if (present(spec.selector)) out.push(...validateLabels(spec.selector, 'spec.selector'));
  const sa = str(spec.sessionAffinity);
  if (!sa) out.push(required('spec.sessionAffinity'));
  else if (sa !== 'ClientIP' && sa !== 'None') out.push(notSupported('spec.sessionAffinity', sa, ['ClientIP', 'None']));
  if (sa === 'ClientIP') {
    const cfg = spec.sessionAffinityConfig;
    const detail = 'when session affinity type is ClientIP';
    if (!isRecord(cfg)) out.push(requiredDetail('spec.sessionAffinityConfig', detail));
    else if (!isRecord(cfg.clientIP)) out.push(requiredDetail('spec.sessionAffinityConfig.clientIP', detail));
    else if (!present(cfg.clientIP.timeoutSeconds)) out.push(requiredDetail('spec.sessionAffinityConfig.clientIP.timeoutSeconds', detail));
    else {
      const t = cfg.clientIP.timeoutSeconds;
      if (typeof t !== 'number' || t <= 0 || t > MAX_AFFINITY_SECONDS) {
        out.push(invalid('spec.sessionAffinityConfig.clientIP.timeoutSeconds', t, `must be greater than 0 and less than ${MAX_AFFINITY_SECONDS}`));
      }
    }
  } else if (sa === 'None' && present(spec.sessionAffinityConfig)) {
    out.push(forbidden('spec.sessionAffinityConfig', 'must not be set when session affinity is None'));
  }
  out.push(...validateClusterIPsRelated(spec));
  asArray(spec.externalIPs).forEach((ip0, i) => {
    const ip = str(ip0);
    const f = `spec.externalIPs[${i}]`;
    if (!isIP(ip)) out.push(invalid(f, ip, INVALID_IP_MSG));
    else out.push(...nonSpecialIPErrors(ip, f));
  });
  if (!type) out.push(required('spec.type'));
  else if (!SERVICE_TYPES.includes(type)) out.push(notSupported('spec.type', type, SERVICE_TYPES));
  if (type === 'ClusterIP') {
    ports.forEach((p, i) => {
      if (present(asRecord(p).nodePort) && asRecord(p).nodePort !== 0) out.push(forbidden(`spec.ports[${i}].nodePort`, "may not be used when `type` is 'ClusterIP'"));
    });
  }
  const nodePorts = new Set<string>();
  ports.forEach((p0, i) => {
    const p = asRecord(p0);
    if (!present(p.nodePort) || p.nodePort === 0) return;
    const key = `${str(p.protocol)}/${String(p.nodePort)}`;
    if (nodePorts.has(key)) out.push(duplicate(`spec.ports[${i}].nodePort`, p.nodePort));
    nodePorts.add(key);
  });
  const portKeys = new Set<string>();
  ports.forEach((p0, i) => {
    const p = asRecord(p0);
    const key = `${str(p.protocol)}/${String(p.port)}`;
    if (portKeys.has(key)) out.push(duplicate(`spec.ports[${i}]`, { port: p.port, protocol: p.protocol }));
    portKeys.add(key);
  });
  const ranges = asArray(spec.loadBalancerSourceRanges);
  if (ranges.length > 0) {
    if (type !== 'LoadBalancer') out.push(forbidden('spec.LoadBalancerSourceRanges', "may only be used when `type` is 'LoadBalancer'"));
    ranges.forEach((r, i) => {
      const v = str(r).trim();
      if (!isCIDR(v)) out.push(invalid(`spec.LoadBalancerSourceRanges[${i}]`, v, 'must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)'));
    });
  }
  if (present(spec.allocateLoadBalancerNodePorts) && type !== 'LoadBalancer') {
    out.push(forbidden('spec.allocateLoadBalancerNodePorts', "may only be used when `type` is 'LoadBalancer'"));
  }
  if (type === 'LoadBalancer' && !present(spec.allocateLoadBalancerNodePorts)) out.push(required('allocateLoadBalancerNodePorts'));
  if (present(spec.loadBalancerClass)) {
    if (type === 'LoadBalancer') out.push(...validateQualifiedNameField(str(spec.loadBalancerClass), 'spec.loadBalancerClass'));
    else out.push(forbidden('spec.loadBalancerClass', "may only be used when `type` is 'LoadBalancer'"));
  }
  const etp = str(spec.externalTrafficPolicy);
  if (!externallyAccessible(spec)) {
    if (etp) out.push(invalid('spec.externalTrafficPolicy', etp, 'may only be set for externally-accessible services'));
  } else if (!etp) out.push(required('spec.externalTrafficPolicy'));
  else if (etp !== 'Cluster' && etp !== 'Local') out.push(notSupported('spec.externalTrafficPolicy', etp, ['Cluster', 'Local']));
  const hcnp = typeof spec.healthCheckNodePort === 'number' ? spec.healthCheckNodePort : 0;
  if (!needsHealthCheck(spec)) {
    if (hcnp !== 0) out.push(invalid('spec.healthCheckNodePort', hcnp, "may only be set when `type` is 'LoadBalancer' and `externalTrafficPolicy` is 'Local'"));
  } else if (hcnp !== 0) {
    for (const m of portNumErrors(hcnp)) out.push(invalid('spec.healthCheckNodePort', hcnp, m));
  }
  if (!present(spec.internalTrafficPolicy)) {
    if (['NodePort', 'LoadBalancer', 'ClusterIP'].includes(type)) out.push(required('spec.internalTrafficPolicy'));
  } else if (!['Cluster', 'Local'].includes(str(spec.internalTrafficPolicy))) {
    out.push(notSupported('spec.internalTrafficPolicy', str(spec.internalTrafficPolicy), ['Cluster', 'Local']));
  }
  if (present(spec.trafficDistribution) && spec.trafficDistribution !== 'PreferClose') {
    out.push(notSupported('spec.trafficDistribution', str(spec.trafficDistribution), ['PreferClose']));
  }
  return out;
}

/** ValidateServiceUpdate's extra rules: cluster IPs and IP families may not change once set. */
export function validateServiceUpdate(obj: KubeObject, old: KubeObject): FieldCause[] {
  const out: FieldCause[] = [];
  const spec = asRecord(obj.spec);
  const oldSpec = asRecord(old.spec);
  const newIPs = asArray(spec.clusterIPs).map((x) => str(x));
  const oldIPs = asArray(oldSpec.clusterIPs).map((x) => str(x));
  const external = spec.type === 'ExternalName' || oldSpec.type === 'ExternalName';
  const newHeadless = isHeadless(spec);
  const oldHeadless = isHeadless(oldSpec);
  if (!external && !(newHeadless && oldHeadless)) {
    if (oldIPs.length === newIPs.length) {
      oldIPs.forEach((ip, i) => {
        if (ip !== newIPs[i]) out.push(invalid(`spec.clusterIPs[${i}]`, newIPs, 'may not change once set'));
      });
    } else if (oldIPs.length > newIPs.length) {
      if (newIPs.length === 0) out.push(invalid('spec.clusterIPs[0]', newIPs, 'primary clusterIP can not be unset'));
      if (oldIPs.length > 0 && newIPs.length > 0 && newIPs[0] !== oldIPs[0]) out.push(invalid('spec.clusterIPs[0]', newIPs, 'may not change once set'));
      if (newIPs.length === 1 && spec.ipFamilyPolicy !== 'SingleStack') {
        out.push(invalid('spec.ipFamilyPolicy', spec.ipFamilyPolicy ?? null, "must be set to 'SingleStack' when releasing the secondary clusterIP"));
      }
    } else if (oldIPs.length > 0 && newIPs[0] !== oldIPs[0]) {
      out.push(invalid('spec.clusterIPs[0]', newIPs, 'may not change once set'));
    }
  }
  const newFam = asArray(spec.ipFamilies).map((x) => str(x));
  const oldFam = asArray(oldSpec.ipFamilies).map((x) => str(x));
  if (!external && newHeadless === oldHeadless && !newHeadless) {
    if (oldFam.length === newFam.length) {
      oldFam.forEach((f, i) => {
        if (f !== newFam[i]) out.push(invalid('spec.ipFamilies[0]', newFam, 'may not change once set'));
      });
    } else if (oldFam.length > newFam.length) {
      if (newIPs.length === 0) out.push(invalid('spec.ipFamilies[0]', newFam, 'primary ipFamily can not be unset'));
      if (newFam.length > 0 && newFam[0] !== oldFam[0]) out.push(invalid('spec.ipFamilies[0]', newIPs, 'may not change once set'));
      if (newFam.length === 1 && spec.ipFamilyPolicy !== 'SingleStack') {
        out.push(invalid('spec.ipFamilyPolicy', spec.ipFamilyPolicy ?? null, "must be set to 'SingleStack' when releasing the secondary ipFamily"));
      }
    } else if (oldFam.length > 0 && newFam.length > 0 && newFam[0] !== oldFam[0]) {
      out.push(invalid('spec.ipFamilies[0]', newIPs, 'may not change once set'));
    }
  }
  if (spec.type === 'LoadBalancer' && oldSpec.type === 'LoadBalancer' && !jsonEqual(spec.loadBalancerClass ?? null, oldSpec.loadBalancerClass ?? null)) {
    out.push(invalid('spec.loadBalancerClass', spec.loadBalancerClass ?? null, 'may not change once set'));
  }
  if (needsHealthCheck(spec) && needsHealthCheck(oldSpec) && spec.healthCheckNodePort !== oldSpec.healthCheckNodePort) {
    out.push(forbidden('spec.healthCheckNodePort', 'field is immutable'));
  }
  return out;
}

/** ValidateServiceStatusUpdate: load-balancer ingress entries. */
export function validateServiceStatus(obj: KubeObject): FieldCause[] {
  const out: FieldCause[] = [];
  const spec = asRecord(obj.spec);
  const ingress = asArray(asRecord(asRecord(obj.status).loadBalancer).ingress);
  if (spec.type !== 'LoadBalancer' && ingress.length > 0) {
    return [forbidden('status.loadBalancer.ingress', "may only be used when `spec.type` is 'LoadBalancer'")];
  }
  ingress.forEach((i0, i) => {
    const ing = asRecord(i0);
    const f = `status.loadBalancer.ingress[${i}]`;
    const ip = str(ing.ip);
    if (ip && !isIP(ip)) out.push(invalid(`${f}.ip`, ip, INVALID_IP_MSG));
    if (!present(ing.ipMode)) {
      if (ip) out.push(requiredDetail(`${f}.ipMode`, 'must be specified when `ip` is set'));
    } else if (!ip) out.push(forbidden(`${f}.ipMode`, 'may not be specified when `ip` is not set'));
    else if (!['Proxy', 'VIP'].includes(str(ing.ipMode))) out.push(notSupported(`${f}.ipMode`, str(ing.ipMode), ['Proxy', 'VIP']));
    const host = str(ing.hostname);
    if (host) {
      out.push(...validateDNS1123SubdomainField(host, `${f}.hostname`));
      if (isIP(host)) out.push(invalid(`${f}.hostname`, host, 'must be a DNS name, not an IP address'));
    }
  });
  return out;
}
