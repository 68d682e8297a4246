// core/v1 Node: defaults (allocatable from capacity, podCIDR ↔ podCIDRs), validation (taints,
// resource quantities, pod CIDRs and their update rules) and the table kubectl prints.
import type { FieldCause, KubeObject, ResourceDef } from './types.ts';
import { age } from './printing.ts';
import { validateQuantityField, validateTaintEffect } from './podspec.ts';
import { canonicalizeResourceList } from './quantity.ts';
import {
  asArray,
  asRecord,
  duplicate,
  forbidden,
  invalid,
  isCIDR,
  isRecord,
  jsonEqual,
  labelValueErrors,
  validateQualifiedNameField,
} from './validation.ts';

type Obj = Record<string, unknown>;
const str = (v: unknown): string => (typeof v === 'string' ? v : '');

const AGE_DESC = 'CreationTimestamp is a timestamp representing the server time when this object was created.';
const CIDR_MSG = 'must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)';
const INTEGER_RESOURCES = ['pods'];

/** Node defaults: allocatable defaults to capacity; v1 podCIDR mirrors podCIDRs[0]. */
export function defaultNode(obj: KubeObject): void {
  if (!isRecord(obj.spec)) obj.spec = {};
  const spec = obj.spec as Obj;
  const cidrs = asArray(spec.podCIDRs);
  if (str(spec.podCIDR) && cidrs.length === 0) spec.podCIDRs = [spec.podCIDR];
  else if (!str(spec.podCIDR) && cidrs.length > 0 && typeof cidrs[0] === 'string') spec.podCIDR = cidrs[0];
  if (isRecord(obj.status)) {
    const status = obj.status;
    canonicalizeResourceList(status.capacity);
    canonicalizeResourceList(status.allocatable);
    if (!isRecord(status.allocatable) && isRecord(status.capacity)) status.allocatable = { ...status.capacity };
  }
}

/** validateNodeTaints (Kubernetes reports them under `metadata.taints`, its own path quirk). */
export function validateNodeTaints(taints: unknown, field: string): FieldCause[] {
  const out: FieldCause[] = [];
  const seen = new Set<string>();
  asArray(taints).forEach((t0, i) => {
    const t = asRecord(t0);
    const f = `${field}[${i}]`;
    const key = str(t.key);
    out.push(...validateQualifiedNameField(key, `${f}.key`));
    const errs = labelValueErrors(str(t.value));
    if (errs.length) out.push(invalid(`${f}.value`, str(t.value), errs.join(';')));
    out.push(...validateTaintEffect(t.effect, false, `${f}.effect`));
    const k = `${str(t.effect)}\u0000${key}`;
    if (seen.has(k)) {
      const d = duplicate(f, t);
      out.push({ ...d, message: `${d.message}: taints must be unique by key and effect pair` });
      return;
    }
    seen.add(k);
  });
  return out;
}

function validateNodeResources(obj: KubeObject): FieldCause[] {
  const out: FieldCause[] = [];
  const status = asRecord(obj.status);
  for (const list of ['capacity', 'allocatable']) {
    for (const [k, v] of Object.entries(asRecord(status[list]))) {
      const integer = INTEGER_RESOURCES.includes(k) || (k.includes('/') && !k.includes('kubernetes.io/'));
      validateQuantityField(v, `status.${list}.${k}`, out, integer);
    }
  }
  return out;
}

/** ValidateNode. */
export function validateNode(obj: KubeObject): FieldCause[] {
  const spec = asRecord(obj.spec);
  const out = validateNodeTaints(spec.taints, 'metadata.taints');
  out.push(...validateNodeResources(obj));
  const cidrs = asArray(spec.podCIDRs).map((c) => str(c));
  cidrs.forEach((c, i) => {
    if (!isCIDR(c)) out.push(invalid(`spec.podCIDRs[${i}]`, c, CIDR_MSG));
  });
  if (cidrs.length > 1 && cidrs.every((c) => isCIDR(c))) {
    const v4 = cidrs.filter((c) => !c.includes(':')).length;
    if (cidrs.length > 2 || v4 !== 1) out.push(invalid('spec.podCIDRs', cidrs, 'may specify no more than one CIDR for each IP family'));
    const seen = new Set<string>();
    cidrs.forEach((c, i) => {
      if (seen.has(c)) out.push(duplicate(`spec.podCIDRs[${i}]`, c));
      seen.add(c);
    });
  }
  return out;
}

/** ValidateNodeUpdate's extra rules (also used for status writes, as Kubernetes does). */
export function validateNodeUpdate(obj: KubeObject, old: KubeObject): FieldCause[] {
  const out: FieldCause[] = [];
  const spec = asRecord(obj.spec);
  const oldSpec = asRecord(old.spec);
  const seen: unknown[] = [];
  asArray(asRecord(obj.status).addresses).forEach((a, i) => {
    if (seen.some((s) => jsonEqual(s, a))) out.push(duplicate(`status.addresses[${i}]`, a));
    seen.push(a);
  });
  const oldCidrs = asArray(oldSpec.podCIDRs);
  const newCidrs = asArray(spec.podCIDRs);
  if (oldCidrs.length > 0) {
    const msg = 'node updates may not change podCIDR except from "" to valid';
    if (oldCidrs.length !== newCidrs.length) out.push(forbidden('spec.podCIDRs', msg));
    else oldCidrs.forEach((c, i) => {
      if (c !== newCidrs[i]) out.push(forbidden('spec.podCIDRs', msg));
    });
  }
  if (str(oldSpec.providerID) && oldSpec.providerID !== spec.providerID) {
    out.push(forbidden('spec.providerID', 'node updates may not change providerID except from "" to valid'));
  }
  if (str(spec.externalID) !== str(oldSpec.externalID)) out.push(forbidden('spec.externalID', 'may not be updated'));
  return out;
}

/** STATUS cell: Ready / NotReady / Unknown, plus SchedulingDisabled when cordoned. */
export function nodeStatusCell(obj: KubeObject): string {
  const status: string[] = [];
  const ready = asArray(asRecord(obj.status).conditions).map(asRecord).find((c) => c.type === 'Ready');
  if (ready) status.push(ready.status === 'True' ? 'Ready' : 'NotReady');
  if (status.length === 0) status.push('Unknown');
  if (asRecord(obj.spec).unschedulable === true) status.push('SchedulingDisabled');
  return status.join(',');
}

/** ROLES cell: node-role.kubernetes.io/<role> labels and the kubernetes.io/role label. */
export function nodeRolesCell(obj: KubeObject): string {
  const roles = new Set<string>();
  for (const [k, v] of Object.entries(obj.metadata.labels ?? {})) {
    if (k.startsWith('node-role.kubernetes.io/')) {
      const role = k.slice('node-role.kubernetes.io/'.length);
      if (role) roles.add(role);
    } else if (k === 'kubernetes.io/role' && v) roles.add(v);
  }
  const list = [...roles].sort();
  return list.length ? list.join(',') : '<none>';
}

function address(obj: KubeObject, type: string): string {
  const a = asArray(asRecord(obj.status).addresses).map(asRecord).find((x) => x.type === type);
  return a ? str(a.address) : '<none>';
}

function nodeInfo(obj: KubeObject, key: string): string {
  return str(asRecord(asRecord(obj.status).nodeInfo)[key]);
}

export const nodes: ResourceDef = {
  group: '',
  version: 'v1',
  kind: 'Node',
  listKind: 'NodeList',
  plural: 'nodes',
  singular: 'node',
  namespaced: false,
  shortNames: ['no'],
  subresources: { status: true, others: ['proxy'] },
  nameRule: 'dns1123Subdomain',
  modelName: 'V1Node',
  allowCreateOnUpdate: false,
  generationFields: [],
  defaults: defaultNode,
  validate: validateNode,
  validateUpdate: validateNodeUpdate,
  validateStatus: (obj, old) => [...validateNode(obj), ...validateNodeUpdate(obj, old)],
  columns: [
    { name: 'Status', type: 'string', priority: 0, description: 'The status of the node', cell: nodeStatusCell },
    { name: 'Roles', type: 'string', priority: 0, description: 'The roles of the node', cell: nodeRolesCell },
    { name: 'Age', type: 'string', priority: 0, description: AGE_DESC, cell: (o) => age(o.metadata.creationTimestamp) },
    { name: 'Version', type: 'string', priority: 0, description: 'Kubelet Version reported by the node.', cell: (o) => nodeInfo(o, 'kubeletVersion') },
    { name: 'Internal-IP', type: 'string', priority: 1, description: 'List of addresses reachable to the node.', cell: (o) => address(o, 'InternalIP') },
    { name: 'External-IP', type: 'string', priority: 1, description: 'List of addresses reachable to the node.', cell: (o) => address(o, 'ExternalIP') },
    { name: 'OS-Image', type: 'string', priority: 1, description: 'OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy)).', cell: (o) => nodeInfo(o, 'osImage') || '<unknown>' },
    { name: 'Kernel-Version', type: 'string', priority: 1, description: "Kernel Version reported by the node from 'uname -r' (e.g. 3.16.0-0.bpo.4-amd64).", cell: (o) => nodeInfo(o, 'kernelVersion') || '<unknown>' },
    {
      name: 'Container-Runtime',
      type: 'string',
      priority: 1,
      description: 'ContainerRuntime Version reported by the node through runtime remote API (e.g. containerd://1.4.2).',
      cell: (o) => nodeInfo(o, 'containerRuntimeVersion') || '<unknown>',
    },
  ],
  fieldSelectors: {
    'spec.unschedulable': (o) => String(asRecord(o.spec).unschedulable === true),
  },
};
