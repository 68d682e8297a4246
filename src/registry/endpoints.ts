// core/v1 Endpoints: port protocol default, subset validation, NAME ENDPOINTS AGE table.
import type { FieldCause, KubeObject, ResourceDef } from './types.ts';
import { age } from './printing.ts';
import { nonSpecialIPErrors } from './services-validation.ts';
import {
  asArray,
  asRecord,
  dns1123SubdomainErrors,
  INVALID_IP_MSG,
  invalid,
  isIP,
  isIPv6,
  isRecord,
  notSupported,
  portNumErrors,
  required,
  requiredDetail,
  validateDNS1123LabelField,
  validateQualifiedNameField,
} from './validation.ts';

const str = (v: unknown): string => (typeof v === 'string' ? v : '');
const AGE_DESC = 'CreationTimestamp is a timestamp representing the server time when this object was created.';
const PROTOCOLS = ['SCTP', 'TCP', 'UDP'];

/** SetDefaults_EndpointPort: protocol TCP. */
export function defaultEndpoints(obj: KubeObject): void {
  for (const ss of asArray(obj.subsets)) {
    for (const p of asArray(asRecord(ss).ports)) if (isRecord(p) && !str(p.protocol)) p.protocol = 'TCP';
  }
}

function validateAddress(a: unknown, field: string): FieldCause[] {
  const addr = asRecord(a);
  const out: FieldCause[] = [];
  const ip = str(addr.ip);
  if (!isIP(ip)) out.push(invalid(`${field}.ip`, ip, INVALID_IP_MSG));
  const hostname = str(addr.hostname);
  if (hostname) out.push(...validateDNS1123LabelField(hostname, `${field}.hostname`));
  if (addr.nodeName !== undefined && addr.nodeName !== null) {
    const n = str(addr.nodeName);
    for (const m of dns1123SubdomainErrors(n)) out.push(invalid(`${field}.nodeName`, n, m));
  }
  // Kubernetes also refuses loopback addresses here; kennel allows them, because its process
  // runtime gives each pod an address in 127.0.0.0/8 (as EndpointSlices allow).
  if (isIP(ip)) out.push(...nonSpecialIPErrors(ip, `${field}.ip`).filter((c) => !c.message.includes('loopback range')));
  return out;
}

/** ValidateEndpoints (subsets). */
export function validateEndpoints(obj: KubeObject): FieldCause[] {
  const out: FieldCause[] = [];
  asArray(obj.subsets).forEach((ss0, i) => {
    const ss = asRecord(ss0);
    const f = `subsets[${i}]`;
    const addrs = asArray(ss.addresses);
    const notReady = asArray(ss.notReadyAddresses);
    if (addrs.length === 0 && notReady.length === 0) out.push(requiredDetail(f, 'must specify `addresses` or `notReadyAddresses`'));
    addrs.forEach((a, j) => out.push(...validateAddress(a, `${f}.addresses[${j}]`)));
    notReady.forEach((a, j) => out.push(...validateAddress(a, `${f}.notReadyAddresses[${j}]`)));
    const ports = asArray(ss.ports);
    ports.forEach((p0, j) => {
      const p = asRecord(p0);
      const pf = `${f}.ports[${j}]`;
      const name = str(p.name);
      if (ports.length > 1 && !name) out.push(required(`${pf}.name`));
      else if (name) out.push(...validateDNS1123LabelField(name, `${pf}.name`));
      for (const m of portNumErrors(p.port)) out.push(invalid(`${pf}.port`, p.port ?? 0, m));
      const proto = str(p.protocol);
      if (!proto) out.push(required(`${pf}.protocol`));
      else if (!PROTOCOLS.includes(proto)) out.push(notSupported(`${pf}.protocol`, proto, PROTOCOLS));
      if (p.appProtocol !== undefined && p.appProtocol !== null) out.push(...validateQualifiedNameField(str(p.appProtocol), `${pf}.appProtocol`));
    });
  });
  return out;
}

/** The ENDPOINTS cell: up to three ip:port pairs, then `+ N more...`. */
export function endpointsCell(obj: KubeObject): string {
  const subsets = asArray(obj.subsets);
  if (subsets.length === 0) return '<none>';
  const list: string[] = [];
  const max = 3;
  let more = false;
  let count = 0;
  for (const ss0 of subsets) {
    const ss = asRecord(ss0);
    const addrs = asArray(ss.addresses).map((a) => str(asRecord(a).ip));
    const ports = asArray(ss.ports);
    if (ports.length === 0) {
      count += addrs.length;
      for (const ip of addrs) {
        if (list.length === max) {
          more = true;
          break;
        }
        list.push(ip);
      }
      continue;
    }
    for (const p of ports) {
      count += addrs.length;
      for (const ip of addrs) {
        if (list.length === max) {
          more = true;
          break;
        }
        const port = String(asRecord(p).port);
        list.push(isIPv6(ip) ? `[${ip}]:${port}` : `${ip}:${port}`);
      }
    }
  }
  const joined = list.join(',');
  return more ? `${joined} + ${count - max} more...` : joined;
}

export const endpoints: ResourceDef = {
  group: '',
  version: 'v1',
  kind: 'Endpoints',
  listKind: 'EndpointsList',
  plural: 'endpoints',
  singular: 'endpoints',
  namespaced: true,
  shortNames: ['ep'],
  nameRule: 'dns1123Subdomain',
  modelName: 'V1Endpoints',
  allowCreateOnUpdate: true,
  generationFields: [],
  defaults: defaultEndpoints,
  validate: validateEndpoints,
  columns: [
    { name: 'Endpoints', type: 'string', priority: 0, description: 'The set of all endpoints is the union of all subsets.', cell: endpointsCell },
    { name: 'Age', type: 'string', priority: 0, description: AGE_DESC, cell: (o) => age(o.metadata.creationTimestamp) },
  ],
};
