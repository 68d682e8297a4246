// core/v1 Namespace: the kubernetes.io/metadata.name label, Active phase and the `kubernetes`
// finalizer on create, finalizer-name and status-phase validation, NAME STATUS AGE table.
import type { FieldCause, KubeObject, ResourceDef } from './types.ts';
import { age } from './printing.ts';
import { asArray, asRecord, invalid, isRecord, qualifiedNameErrors } from './validation.ts';

const str = (v: unknown): string => (typeof v === 'string' ? v : '');
const AGE_DESC = 'CreationTimestamp is a timestamp representing the server time when this object was created.';

export const NAMESPACE_NAME_LABEL = 'kubernetes.io/metadata.name';
const STANDARD_FINALIZERS = ['kubernetes', 'orphan', 'foregroundDeletion'];

/** SetDefaults_Namespace / _NamespaceStatus: the name label (always), phase Active. */
export function defaultNamespace(obj: KubeObject): void {
  const name = str(obj.metadata.name);
  if (name) obj.metadata.labels = { ...(obj.metadata.labels ?? {}), [NAMESPACE_NAME_LABEL]: name };
  if (isRecord(obj.status) && !str(obj.status.phase)) obj.status.phase = 'Active';
}

/** Namespace create: status Active and the `kubernetes` finalizer in spec.finalizers. */
export function prepareNamespaceForCreate(obj: KubeObject): void {
  defaultNamespace(obj);
  obj.status = { phase: 'Active' };
  if (!isRecord(obj.spec)) obj.spec = {};
  const spec = obj.spec as Record<string, unknown>;
  const finalizers = asArray(spec.finalizers);
  if (!finalizers.includes('kubernetes')) spec.finalizers = [...finalizers, 'kubernetes'];
}

/**
 * What Kubernetes' namespace strategy does on a main-resource update: spec.finalizers can only
 * change through the `finalize` subresource, so the old ones are kept (the generic status/spec
 * split already keeps the old status).
 */
export function prepareNamespaceForUpdate(obj: KubeObject, old: KubeObject): void {
  const oldFinalizers = asRecord(old.spec).finalizers;
  if (!isRecord(obj.spec)) obj.spec = {};
  const spec = obj.spec as Record<string, unknown>;
  if (oldFinalizers === undefined) delete spec.finalizers;
  else spec.finalizers = oldFinalizers;
}

/** validateFinalizerName: a qualified name, or one of the standard unqualified ones. */
export function finalizerNameErrors(name: string, field: string): FieldCause[] {
  const out = qualifiedNameErrors(name).map((m) => invalid(field, name, m));
  if (!name.includes('/') && !STANDARD_FINALIZERS.includes(name)) {
    out.push(invalid(field, name, 'name is neither a standard finalizer name nor is it fully qualified'));
  }
  return out;
}

/** ValidateNamespace (spec part). Kubernetes reports these on `spec.finalizers` without an index. */
export function validateNamespace(obj: KubeObject): FieldCause[] {
  return asArray(asRecord(obj.spec).finalizers).flatMap((f) => finalizerNameErrors(str(f), 'spec.finalizers'));
}

/** ValidateNamespaceFinalizeUpdate, for PUT namespaces/<name>/finalize. */
export function validateNamespaceFinalize(obj: KubeObject): FieldCause[] {
  return asArray(asRecord(obj.spec).finalizers).flatMap((f, i) => finalizerNameErrors(str(f), `spec.finalizers[${i}]`));
}

/** ValidateNamespaceStatusUpdate: Active while alive, Terminating once deletion started. */
export function validateNamespaceStatus(obj: KubeObject): FieldCause[] {
  const phase = str(asRecord(obj.status).phase);
  if (!obj.metadata.deletionTimestamp) {
    if (phase !== 'Active') return [invalid('status.Phase', phase, "may only be 'Active' if `deletionTimestamp` is empty")];
  } else if (phase !== 'Terminating') {
    return [invalid('status.Phase', phase, "may only be 'Terminating' if `deletionTimestamp` is not empty")];
  }
  return [];
}

export const namespaces: ResourceDef = {
  group: '',
  version: 'v1',
  kind: 'Namespace',
  listKind: 'NamespaceList',
  plural: 'namespaces',
  singular: 'namespace',
  namespaced: false,
  shortNames: ['ns'],
  subresources: { status: true, others: ['finalize'] },
  nameRule: 'dns1123Label',
  modelName: 'V1Namespace',
  generationFields: [],
  defaults: defaultNamespace,
  prepareForCreate: prepareNamespaceForCreate,
  prepareForUpdate: prepareNamespaceForUpdate,
  validate: validateNamespace,
  validateStatus: (obj) => validateNamespaceStatus(obj),
  columns: [
    { name: 'Status', type: 'string', priority: 0, description: 'The status of the namespace', cell: (o) => str(asRecord(o.status).phase) },
    { name: 'Age', type: 'string', priority: 0, description: AGE_DESC, cell: (o) => age(o.metadata.creationTimestamp) },
  ],
  fieldSelectors: {
    'status.phase': (o) => str(asRecord(o.status).phase),
  },
};
