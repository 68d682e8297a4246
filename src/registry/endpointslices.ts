// discovery.k8s.io/v1 EndpointSlice: defaults, validation and printer columns (Kubernetes v1.32,
// pkg/apis/discovery/validation and pkg/printers/internalversion).
//
// One deliberate difference: addresses are checked for syntax only. Kubernetes also rejects
// loopback and link-local addresses, but kennel's process runtime may give pods loopback
// addresses, and its own endpoints controller must be able to publish them.
import type { FieldCause, KubeObject, ResourceDef } from './types.ts';
import {
  asArray,
  asRecord,
  dns1123LabelErrors,
  dns1123SubdomainErrors,
  duplicate,
  inclusiveRangeError,
  invalid,
  isIPv4,
  isIPv6,
  isRecord,
  notSupported,
  qualifiedNameErrors,
  required,
  requiredDetail,
  tooMany,
  validateDNS1123LabelField,
  validateImmutable,
  validateLabels,
} from './validation.ts';
import { age } from './printing.ts';

const ADDRESS_TYPES = ['FQDN', 'IPv4', 'IPv6'];
const PROTOCOLS = ['SCTP', 'TCP', 'UDP'];
const MAX_ENDPOINTS = 1000;
const MAX_ADDRESSES = 100;
const MAX_PORTS = 20000;
const MAX_TOPOLOGY_LABELS = 16;
const MAX_ZONE_HINTS = 8;

function defaultEndpointSlice(obj: KubeObject): void {
  for (const p of asArray(obj.ports)) {
    if (!isRecord(p)) continue;
    if (p.name === undefined || p.name === null) p.name = '';
    if (p.protocol === undefined || p.protocol === null) p.protocol = 'TCP';
  }
}

/** validation.IsFullyQualifiedDomainName. */
function fqdnCauses(name: string, field: string): FieldCause[] {
  if (name.length === 0) return [required(field)];
  const n = name.endsWith('.') ? name.slice(0, -1) : name;
  const sub = dns1123SubdomainErrors(n);
  if (sub.length > 0) return sub.map((m) => invalid(field, n, m));
  const labels = n.split('.');
  if (labels.length < 2) return [invalid(field, n, 'should be a domain with at least two segments separated by dots')];
  return labels.flatMap((l) => dns1123LabelErrors(l).map((m) => invalid(field, l, m)));
}

function addressCauses(address: unknown, addressType: unknown, field: string): FieldCause[] {
  if (typeof address !== 'string') return [invalid(field, address, 'must be a string')];
  switch (addressType) {
    case 'IPv4':
      return isIPv4(address) ? [] : [invalid(field, address, 'must be a valid IPv4 address')];
    case 'IPv6':
      return isIPv6(address) ? [] : [invalid(field, address, 'must be a valid IPv6 address')];
    case 'FQDN':
      return fqdnCauses(address, field);
    default:
      return [];
  }
}

function validateHints(hints: unknown, field: string): FieldCause[] {
  if (!isRecord(hints)) return [invalid(field, hints, 'must be an object')];
  const zones = asArray(hints.forZones);
  if (zones.length > MAX_ZONE_HINTS) return [tooMany(`${field}.forZones`, zones.length, MAX_ZONE_HINTS)];
  const out: FieldCause[] = [];
  const seen = new Set<string>();
  zones.forEach((z, i) => {
    const name = asRecord(z).name;
    const f = `${field}.forZones[${i}].name`;
    if (typeof name !== 'string' || name === '') out.push(required(f));
    else if (seen.has(name)) out.push(duplicate(f, name));
    else seen.add(name);
  });
  return out;
}

function validateEndpoints(endpoints: unknown, addressType: unknown): FieldCause[] {
  if (endpoints === undefined || endpoints === null) return [];
  if (!Array.isArray(endpoints)) return [invalid('endpoints', endpoints, 'must be a list')];
  if (endpoints.length > MAX_ENDPOINTS) return [tooMany('endpoints', endpoints.length, MAX_ENDPOINTS)];
  const out: FieldCause[] = [];
  endpoints.forEach((ep, i) => {
    const f = `endpoints[${i}]`;
    if (!isRecord(ep)) {
      out.push(invalid(f, ep, 'must be an object'));
      return;
    }
    const addresses = asArray(ep.addresses);
    if (addresses.length === 0) out.push(requiredDetail(`${f}.addresses`, 'must contain at least 1 address'));
    else if (addresses.length > MAX_ADDRESSES) out.push(tooMany(`${f}.addresses`, addresses.length, MAX_ADDRESSES));
    addresses.forEach((a, j) => out.push(...addressCauses(a, addressType, `${f}.addresses[${j}]`)));
    const nodeName = ep.nodeName;
    if (nodeName !== undefined && nodeName !== null) {
      if (typeof nodeName !== 'string') out.push(invalid(`${f}.nodeName`, nodeName, 'must be a string'));
      else for (const m of dns1123SubdomainErrors(nodeName)) out.push(invalid(`${f}.nodeName`, nodeName, m));
    }
    const hostname = ep.hostname;
    if (hostname !== undefined && hostname !== null) {
      if (typeof hostname !== 'string') out.push(invalid(`${f}.hostname`, hostname, 'must be a string'));
      else out.push(...validateDNS1123LabelField(hostname, `${f}.hostname`));
    }
    const topology = ep.deprecatedTopology;
    if (isRecord(topology) && Object.keys(topology).length > MAX_TOPOLOGY_LABELS) {
      out.push(tooMany(`${f}.deprecatedTopology`, Object.keys(topology).length, MAX_TOPOLOGY_LABELS));
    }
    out.push(...validateLabels(topology, `${f}.deprecatedTopology`));
    if (ep.hints !== undefined && ep.hints !== null) out.push(...validateHints(ep.hints, `${f}.hints`));
  });
  return out;
}

function validatePorts(ports: unknown): FieldCause[] {
  if (ports === undefined || ports === null) return [];
  if (!Array.isArray(ports)) return [invalid('ports', ports, 'must be a list')];
  if (ports.length > MAX_PORTS) return [tooMany('ports', ports.length, MAX_PORTS)];
  const out: FieldCause[] = [];
  const names = new Set<string>();
  ports.forEach((p, i) => {
    const f = `ports[${i}]`;
    if (!isRecord(p)) {
      out.push(invalid(f, p, 'must be an object'));
      return;
    }
    const name = typeof p.name === 'string' ? p.name : '';
    if (p.name !== undefined && p.name !== null && typeof p.name !== 'string') out.push(invalid(`${f}.name`, p.name, 'must be a string'));
    if (name.length > 0) out.push(...validateDNS1123LabelField(name, `${f}.name`));
    if (names.has(name)) out.push(duplicate(`${f}.name`, name));
    else names.add(name);
    if (p.protocol === undefined || p.protocol === null || p.protocol === '') out.push(required(`${f}.protocol`));
    else if (!PROTOCOLS.includes(p.protocol as string)) out.push(notSupported(`${f}.protocol`, p.protocol, PROTOCOLS));
    if (p.port !== undefined && p.port !== null) {
      if (typeof p.port !== 'number' || !Number.isInteger(p.port) || p.port < 1 || p.port > 65535) {
        out.push(invalid(`${f}.port`, p.port, inclusiveRangeError(1, 65535)));
      }
    }
    if (p.appProtocol !== undefined && p.appProtocol !== null) {
      if (typeof p.appProtocol !== 'string') out.push(invalid(`${f}.appProtocol`, p.appProtocol, 'must be a string'));
      else for (const m of qualifiedNameErrors(p.appProtocol)) out.push(invalid(`${f}.appProtocol`, p.appProtocol, m));
    }
  });
  return out;
}

function validateEndpointSlice(obj: KubeObject): FieldCause[] {
  const out: FieldCause[] = [];
  const at = obj.addressType;
  if (at === undefined || at === null || at === '') out.push(required('addressType'));
  else if (!ADDRESS_TYPES.includes(at as string)) out.push(notSupported('addressType', at, ADDRESS_TYPES));
  out.push(...validateEndpoints(obj.endpoints, at));
  out.push(...validatePorts(obj.ports));
  return out;
}

function validateEndpointSliceUpdate(obj: KubeObject, old: KubeObject): FieldCause[] {
  return validateImmutable(obj.addressType, old.addressType, 'addressType');
}

/** Kubernetes' listWithMoreString: the first three, then `+ N more...`; `<unset>` if none. */
function listWithMore(items: string[], max = 3): string {
  const shown = items.slice(0, max).join(',');
  if (items.length > max) return `${shown} + ${items.length - max} more...`;
  return shown === '' ? '<unset>' : shown;
}

export function endpointSlicePortsCell(obj: KubeObject): string {
  return listWithMore(
    asArray(obj.ports).map((p) => {
      const r = asRecord(p);
      if (typeof r.port === 'number') return String(r.port);
      // Kubernetes prints the (defaulted, possibly empty) name; an empty one shows as '*'.
      if (typeof r.name === 'string' && r.name !== '') return r.name;
      return '*';
    }),
  );
}

export function endpointSliceEndpointsCell(obj: KubeObject): string {
  return listWithMore(asArray(obj.endpoints).flatMap((e) => asArray(asRecord(e).addresses).map((a) => String(a))));
}

export const endpointslices: ResourceDef = {
  group: 'discovery.k8s.io',
  version: 'v1',
  kind: 'EndpointSlice',
  listKind: 'EndpointSliceList',
  plural: 'endpointslices',
  singular: 'endpointslice',
  namespaced: true,
  nameRule: 'dns1123Subdomain',
  modelName: 'V1EndpointSlice',
  defaults: defaultEndpointSlice,
  validate: validateEndpointSlice,
  validateUpdate: validateEndpointSliceUpdate,
  // Kubernetes bumps an EndpointSlice's generation on any change outside metadata.
  generationFields: ['addressType', 'endpoints', 'ports'],
  columns: [
    {
      name: 'AddressType',
      type: 'string',
      priority: 0,
      description: 'addressType specifies the type of address carried by this EndpointSlice.',
      cell: (o) => (typeof o.addressType === 'string' ? o.addressType : ''),
    },
    { name: 'Ports', type: 'string', priority: 0, description: 'ports specifies the list of network ports exposed by each endpoint in this slice.', cell: endpointSlicePortsCell },
    { name: 'Endpoints', type: 'string', priority: 0, description: 'endpoints is a list of unique endpoints in this slice.', cell: endpointSliceEndpointsCell },
    { name: 'Age', type: 'string', priority: 0, description: 'Time since creation.', cell: (o) => age(o.metadata.creationTimestamp) },
  ],
};
