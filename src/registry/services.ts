// core/v1 Service: defaults (SetDefaults_Service plus the clusterIP/clusterIPs and IP-family
// normalisation the service REST layer does), validation (ValidateService and its update
// rules) and the table kubectl prints. Allocating cluster IPs and node ports is not done here.
// The validation lives in services-validation.ts and is re-exported here.
import type { KubeObject, ResourceDef } from './types.ts';
import { age } from './printing.ts';
import { asArray, asRecord, isIPv6, isRecord } from './validation.ts';
import {
  externallyAccessible,
  needsHealthCheck,
  present,
  str,
  validateService,
  validateServiceStatus,
  validateServiceUpdate,
} from './services-validation.ts';

export {
  DNS1035_LABEL_MSG,
  nonSpecialIPErrors,
  validateService,
  validateServiceStatus,
  validateServiceUpdate,
} from './services-validation.ts';

type Obj = Record<string, unknown>;

const AGE_DESC = 'CreationTimestamp is a timestamp representing the server time when this object was created.';

function specOf(obj: KubeObject): Obj {
  if (!isRecord(obj.spec)) obj.spec = {};
  return obj.spec as Obj;
}

/** SetDefaults_Service, plus clusterIP ↔ clusterIPs and ipFamilies/ipFamilyPolicy filling. */
export function defaultService(obj: KubeObject): void {
  const spec = specOf(obj);
  if (!str(spec.sessionAffinity)) spec.sessionAffinity = 'None';
  if (spec.sessionAffinity === 'None') delete spec.sessionAffinityConfig;
  if (spec.sessionAffinity === 'ClientIP') {
    const cfg = asRecord(spec.sessionAffinityConfig);
    if (!isRecord(cfg.clientIP) || !present(cfg.clientIP.timeoutSeconds)) {
      spec.sessionAffinityConfig = { clientIP: { timeoutSeconds: 10800 } };
    }
  }
  if (!str(spec.type)) spec.type = 'ClusterIP';
  for (const p0 of asArray(spec.ports)) {
    if (!isRecord(p0)) continue;
    if (!str(p0.protocol)) p0.protocol = 'TCP';
    if (!present(p0.targetPort) || p0.targetPort === 0 || p0.targetPort === '') p0.targetPort = p0.port;
  }
  if (externallyAccessible(spec) && !str(spec.externalTrafficPolicy)) spec.externalTrafficPolicy = 'Cluster';
  if (!present(spec.internalTrafficPolicy) && ['NodePort', 'LoadBalancer', 'ClusterIP'].includes(str(spec.type))) {
    spec.internalTrafficPolicy = 'Cluster';
  }
  if (spec.type === 'LoadBalancer' && !present(spec.allocateLoadBalancerNodePorts)) spec.allocateLoadBalancerNodePorts = true;
  // The v1 clusterIP field mirrors clusterIPs[0].
  const ips = asArray(spec.clusterIPs);
  if (str(spec.clusterIP) && ips.length === 0) spec.clusterIPs = [spec.clusterIP];
  else if (!str(spec.clusterIP) && ips.length > 0 && typeof ips[0] === 'string') spec.clusterIP = ips[0];
  if (spec.type !== 'ExternalName') {
    if (!present(spec.ipFamilyPolicy)) spec.ipFamilyPolicy = 'SingleStack';
    if (asArray(spec.ipFamilies).length === 0) {
      const first = str(asArray(spec.clusterIPs)[0]);
      spec.ipFamilies = [isIPv6(first) ? 'IPv6' : 'IPv4'];
    }
  }
  const lb = asRecord(asRecord(obj.status).loadBalancer);
  if (spec.type === 'LoadBalancer') {
    for (const ing of asArray(lb.ingress)) {
      if (isRecord(ing) && str(ing.ip) && !present(ing.ipMode)) ing.ipMode = 'VIP';
    }
  }
}

/**
 * The service REST layer's patchAllocatedValues: an update that leaves out the allocated
 * clusterIP(s), node ports or health-check node port (`kubectl replace` of a manifest) keeps
 * the old ones instead of releasing them.
 */
export function prepareServiceForUpdate(obj: KubeObject, old: KubeObject): void {
  const spec = specOf(obj);
  const oldSpec = asRecord(old.spec);
  if (spec.type !== 'ExternalName' && oldSpec.type !== 'ExternalName') {
    if (!str(spec.clusterIP) && str(oldSpec.clusterIP)) spec.clusterIP = oldSpec.clusterIP;
    if (asArray(spec.clusterIPs).length === 0 && asArray(oldSpec.clusterIPs).length > 0) spec.clusterIPs = [...asArray(oldSpec.clusterIPs)];
  }
  const needsNodePorts = (x: Obj): boolean => x.type === 'NodePort' || (x.type === 'LoadBalancer' && x.allocateLoadBalancerNodePorts !== false);
  if (needsNodePorts(spec) && needsNodePorts(oldSpec)) {
    const used = (x: Obj): Set<unknown> => new Set(asArray(x.ports).map((p) => asRecord(p).nodePort).filter((n) => typeof n === 'number' && n > 0));
    const newUsed = used(spec);
    const inBoth = new Set([...used(oldSpec)].filter((n) => newUsed.has(n)));
    const byName = new Map<string, unknown>();
    for (const p of asArray(oldSpec.ports)) byName.set(str(asRecord(p).name), asRecord(p).nodePort);
    for (const p of asArray(spec.ports)) {
      if (!isRecord(p) || (typeof p.nodePort === 'number' && p.nodePort !== 0)) continue;
      const oldVal = byName.get(str(p.name));
      if (typeof oldVal === 'number' && oldVal > 0 && !inBoth.has(oldVal)) p.nodePort = oldVal;
    }
  }
  if (needsHealthCheck(spec) && needsHealthCheck(oldSpec) && !spec.healthCheckNodePort && oldSpec.healthCheckNodePort) {
    spec.healthCheckNodePort = oldSpec.healthCheckNodePort;
  }
}

// Table cells ----------------------------------------------------------------------------------

function portsCell(spec: Obj): string {
  const s = asArray(spec.ports)
    .map((p0) => {
      const p = asRecord(p0);
      const np = typeof p.nodePort === 'number' ? p.nodePort : 0;
      return np > 0 ? `${String(p.port)}:${np}/${str(p.protocol)}` : `${String(p.port)}/${str(p.protocol)}`;
    })
    .join(',');
  return s || '<none>';
}

function externalIPCell(obj: KubeObject): string {
  const spec = asRecord(obj.spec);
  const ext = asArray(spec.externalIPs).map((x) => str(x));
  switch (spec.type) {
    case 'ClusterIP':
    case 'NodePort':
      return ext.length > 0 ? ext.join(',') : '<none>';
    case 'LoadBalancer': {
      const set = new Set<string>();
      for (const i0 of asArray(asRecord(asRecord(obj.status).loadBalancer).ingress)) {
        const ing = asRecord(i0);
        if (str(ing.ip)) set.add(str(ing.ip));
        else if (str(ing.hostname)) set.add(str(ing.hostname));
      }
      const lb = [...set].sort();
      if (ext.length > 0) return [...lb, ...ext].join(',');
      return lb.length > 0 ? lb.join(',') : '<pending>';
    }
    case 'ExternalName':
      return str(spec.externalName);
  }
  return '<unknown>';
}

/** labels.FormatLabels: sorted `k=v` pairs, `<none>` when empty. */
export function formatLabels(m: unknown): string {
  const entries = Object.entries(asRecord(m)).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return entries.length === 0 ? '<none>' : entries.map(([k, v]) => `${k}=${str(v)}`).join(',');
}

export const services: ResourceDef = {
  group: '',
  version: 'v1',
  kind: 'Service',
  listKind: 'ServiceList',
  plural: 'services',
  singular: 'service',
  namespaced: true,
  shortNames: ['svc'],
  categories: ['all'],
  subresources: { status: true, others: ['proxy'] },
  nameRule: 'dns1123Label',
  modelName: 'V1Service',
  allowCreateOnUpdate: true,
  generationFields: [],
  defaults: defaultService,
  prepareForUpdate: prepareServiceForUpdate,
  validate: validateService,
  validateUpdate: validateServiceUpdate,
  validateStatus: (obj) => validateServiceStatus(obj),
  columns: [
    { name: 'Type', type: 'string', priority: 0, description: 'type determines how the Service is exposed.', cell: (o) => str(asRecord(o.spec).type) },
    {
      name: 'Cluster-IP',
      type: 'string',
      priority: 0,
      description: 'clusterIP is the IP address of the service and is usually assigned randomly.',
      cell: (o) => {
        const ips = asArray(asRecord(o.spec).clusterIPs);
        return ips.length > 0 ? str(ips[0]) : '<none>';
      },
    },
    { name: 'External-IP', type: 'string', priority: 0, description: 'externalIPs is a list of IP addresses for which nodes in the cluster will also accept traffic for this service.', cell: externalIPCell },
    { name: 'Port(s)', type: 'string', priority: 0, description: 'The list of ports that are exposed by this service.', cell: (o) => portsCell(asRecord(o.spec)) },
    { name: 'Age', type: 'string', priority: 0, description: AGE_DESC, cell: (o) => age(o.metadata.creationTimestamp) },
    {
      name: 'Selector',
      type: 'string',
      priority: 1,
      description: 'Route service traffic to pods with label keys and values matching this selector.',
      cell: (o) => formatLabels(asRecord(o.spec).selector),
    },
  ],
  fieldSelectors: {
    'spec.clusterIP': (o) => str(asRecord(o.spec).clusterIP),
    'spec.type': (o) => str(asRecord(o.spec).type),
  },
};
