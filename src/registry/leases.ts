// coordination.k8s.io/v1 Lease: node heartbeats (kube-node-lease) and leader election.
// Validation and printer follow Kubernetes v1.32 (pkg/apis/coordination/validation).
import type { FieldCause, KubeObject, ResourceDef } from './types.ts';
import { asRecord, forbidden, invalid, isRecord, notSupported, qualifiedNameErrors } from './validation.ts';
import { age } from './printing.ts';

const LEASE_STRATEGIES = ['OldestEmulationVersion'];

function validateStrategy(strategy: unknown, field: string): FieldCause[] {
  if (typeof strategy !== 'string') return [invalid(field, strategy, 'must be a string')];
  if (!strategy.includes('/')) {
    return LEASE_STRATEGIES.includes(strategy) ? [] : [notSupported(field, strategy, LEASE_STRATEGIES)];
  }
  return qualifiedNameErrors(strategy).map((m) => invalid(field, strategy, m));
}

function validateMicroTime(v: unknown, field: string): FieldCause[] {
  if (v === undefined || v === null) return [];
  if (typeof v !== 'string' || Number.isNaN(Date.parse(v))) return [invalid(field, v, 'must be an RFC 3339 timestamp')];
  return [];
}

function validateLease(obj: KubeObject): FieldCause[] {
  if (obj.spec === undefined || obj.spec === null) return [];
  if (!isRecord(obj.spec)) return [invalid('spec', obj.spec, 'must be an object')];
  const spec = obj.spec;
  const out: FieldCause[] = [];
  const dur = spec.leaseDurationSeconds;
  if (dur !== undefined && dur !== null) {
    if (typeof dur !== 'number' || !Number.isInteger(dur)) out.push(invalid('spec.leaseDurationSeconds', dur, 'must be an integer'));
    else if (dur <= 0) out.push(invalid('spec.leaseDurationSeconds', dur, 'must be greater than 0'));
  }
  const transitions = spec.leaseTransitions;
  if (transitions !== undefined && transitions !== null) {
    if (typeof transitions !== 'number' || !Number.isInteger(transitions)) {
      out.push(invalid('spec.leaseTransitions', transitions, 'must be an integer'));
    } else if (transitions < 0) out.push(invalid('spec.leaseTransitions', transitions, 'must be greater than or equal to 0'));
  }
  const holder = spec.holderIdentity;
  if (holder !== undefined && holder !== null && typeof holder !== 'string') {
    out.push(invalid('spec.holderIdentity', holder, 'must be a string'));
  }
  out.push(...validateMicroTime(spec.acquireTime, 'spec.acquireTime'));
  out.push(...validateMicroTime(spec.renewTime, 'spec.renewTime'));
  const strategy = spec.strategy;
  const hasStrategy = strategy !== undefined && strategy !== null && strategy !== '';
  if (hasStrategy) out.push(...validateStrategy(strategy, 'spec.strategy'));
  const preferred = spec.preferredHolder;
  if (preferred !== undefined && preferred !== null && preferred !== '' && !hasStrategy) {
    out.push(forbidden('spec.preferredHolder', 'may only be specified if `strategy` is defined'));
  }
  return out;
}

export const leases: ResourceDef = {
  group: 'coordination.k8s.io',
  version: 'v1',
  kind: 'Lease',
  listKind: 'LeaseList',
  plural: 'leases',
  singular: 'lease',
  namespaced: true,
  nameRule: 'dns1123Subdomain',
  modelName: 'V1Lease',
  validate: validateLease,
  // Kubernetes does not track generation for leases: a renewal every 10 s is not a new spec.
  generationFields: [],
  columns: [
    {
      name: 'Holder',
      type: 'string',
      priority: 0,
      description: 'holderIdentity contains the identity of the holder of a current lease.',
      cell: (o) => {
        const h = asRecord(o.spec).holderIdentity;
        return typeof h === 'string' ? h : '';
      },
    },
    { name: 'Age', type: 'string', priority: 0, description: 'Time since creation.', cell: (o) => age(o.metadata.creationTimestamp) },
  ],
};
