// core/v1 PersistentVolumeClaim: defaults (Filesystem), Pending on create, spec validation and
// the immutability rules for updates, and the table kubectl prints.
import type { FieldCause, KubeObject, ResourceDef } from './types.ts';
import { age } from './printing.ts';
import { validateQuantityField } from './podspec.ts';
import { accessModesString, STORAGE_CLASS_ANNOTATION, storageString, validateAccessModes, VOLUME_MODES } from './persistentvolumes.ts';
import { canonicalizeResourceList, compareQuantities, formatQuantity, tryParseQuantity } from './quantity.ts';
import {
  asRecord,
  asArray,
  dns1123SubdomainErrors,
  forbidden,
  invalid,
  isRecord,
  jsonEqual,
  notSupported,
  qualifiedNameErrors,
  required,
  requiredDetail,
  validateDNS1123LabelField,
  validateImmutable,
  validateLabelSelector,
} from './validation.ts';

type Obj = Record<string, unknown>;
const str = (v: unknown): string => (typeof v === 'string' ? v : '');
const present = (v: unknown): boolean => v !== undefined && v !== null;
const AGE_DESC = 'CreationTimestamp is a timestamp representing the server time when this object was created.';

export const PVC_IMMUTABLE_MSG = 'spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims';

function clone<T>(v: T): T {
  return v === undefined ? v : (JSON.parse(JSON.stringify(v)) as T);
}

/** SetDefaults_PersistentVolumeClaim(Spec): volumeMode Filesystem, phase Pending. */
export function defaultPersistentVolumeClaim(obj: KubeObject): void {
  if (!isRecord(obj.spec)) obj.spec = {};
  const spec = obj.spec as Obj;
  if (!present(spec.volumeMode)) spec.volumeMode = 'Filesystem';
  if (isRecord(spec.resources)) {
    canonicalizeResourceList(spec.resources.requests);
    canonicalizeResourceList(spec.resources.limits);
  }
  if (isRecord(obj.status)) {
    if (!str(obj.status.phase)) obj.status.phase = 'Pending';
    canonicalizeResourceList(obj.status.capacity);
  }
}

function validateDataSource(ds: Obj, field: string, namespaced: boolean): FieldCause[] {
  const out: FieldCause[] = [];
  if (!str(ds.name)) out.push(required(`${field}.name`));
  if (!str(ds.kind)) out.push(required(`${field}.kind`));
  const group = str(ds.apiGroup);
  if (!group && ds.kind !== 'PersistentVolumeClaim') {
    out.push(invalid(field, str(ds.kind), "must be 'PersistentVolumeClaim' when referencing the default apiGroup"));
  }
  if (group) for (const m of dns1123SubdomainErrors(group)) out.push(invalid(`${field}.apiGroup`, group, m));
  if (namespaced && str(ds.namespace)) out.push(...validateDNS1123LabelField(str(ds.namespace), `${field}.namespace`));
  return out;
}

/** ValidatePersistentVolumeClaimSpec, with `field` the spec path (claim templates use others). */
export function validatePersistentVolumeClaimSpec(specIn: unknown, field: string): FieldCause[] {
  const out: FieldCause[] = [];
  const spec = asRecord(specIn);
  if (asArray(spec.accessModes).length === 0) out.push(requiredDetail(`${field}.accessModes`, 'at least 1 access mode is required'));
  if (present(spec.selector)) out.push(...validateLabelSelector(spec.selector, `${field}.selector`));
  out.push(...validateAccessModes(spec.accessModes, `${field}.accessModes`));
  const requests = asRecord(asRecord(spec.resources).requests);
  // Kubernetes names this path `spec.resources[storage]`.
  const sf = `${field}.resources[storage]`;
  if (!Object.prototype.hasOwnProperty.call(requests, 'storage')) out.push(required(sf));
  else {
    const errs: FieldCause[] = [];
    const q = validateQuantityField(requests.storage, sf, errs);
    if (!q) out.push(...errs);
    else if (q.nanos <= 0n) out.push(invalid(sf, formatQuantity(q), 'must be greater than zero'));
  }
  const sc = str(spec.storageClassName);
  if (sc) for (const m of dns1123SubdomainErrors(sc)) out.push(invalid(`${field}.storageClassName`, sc, m));
  if (present(spec.volumeMode) && !VOLUME_MODES.includes(str(spec.volumeMode))) {
    out.push(notSupported(`${field}.volumeMode`, str(spec.volumeMode), VOLUME_MODES));
  }
  if (isRecord(spec.dataSource)) out.push(...validateDataSource(spec.dataSource, `${field}.dataSource`, false));
  if (isRecord(spec.dataSourceRef)) out.push(...validateDataSource(spec.dataSourceRef, `${field}.dataSourceRef`, true));
  if (isRecord(spec.dataSourceRef) && str(spec.dataSourceRef.namespace)) {
    if (isRecord(spec.dataSource)) out.push(invalid(field, `${field}.dataSource`, 'may not be specified when dataSourceRef.namespace is specified'));
  } else if (isRecord(spec.dataSource) && isRecord(spec.dataSourceRef)) {
    const a = spec.dataSource;
    const b = spec.dataSourceRef;
    if ((a.apiGroup ?? null) !== (b.apiGroup ?? null) || a.kind !== b.kind || a.name !== b.name) {
      out.push(invalid(field, `${field}.dataSource`, 'must match dataSourceRef'));
    }
  }
  const vac = str(spec.volumeAttributesClassName);
  if (vac) for (const m of dns1123SubdomainErrors(vac)) out.push(invalid(`${field}.volumeAttributesClassName`, vac, m));
  return out;
}

/** ValidatePersistentVolumeClaimUpdate. */
export function validatePersistentVolumeClaimUpdate(obj: KubeObject, old: KubeObject): FieldCause[] {
  const out: FieldCause[] = [];
  const newSpec = clone(asRecord(obj.spec));
  const oldSpec = clone(asRecord(old.spec));
  // The volume binder may set volumeName once.
  if (!str(oldSpec.volumeName)) {
    if (newSpec.volumeName === undefined) delete oldSpec.volumeName;
    else oldSpec.volumeName = newSpec.volumeName;
  }
  const oldAnn = old.metadata.annotations ?? {};
  const newAnn = obj.metadata.annotations ?? {};
  const oldScAnn = oldAnn[STORAGE_CLASS_ANNOTATION];
  const upgradeFromAnnotation =
    oldScAnn !== undefined &&
    !present(oldSpec.storageClassName) &&
    present(newSpec.storageClassName) &&
    newSpec.storageClassName === oldScAnn &&
    (newAnn[STORAGE_CLASS_ANNOTATION] === undefined || newAnn[STORAGE_CLASS_ANNOTATION] === oldScAnn);
  if (upgradeFromAnnotation) delete newSpec.storageClassName;
  else {
    if ((newAnn[STORAGE_CLASS_ANNOTATION] ?? '') !== (oldAnn[STORAGE_CLASS_ANNOTATION] ?? '')) {
      out.push(invalid(`metadata.annotations.${STORAGE_CLASS_ANNOTATION}`, newAnn[STORAGE_CLASS_ANNOTATION] ?? '', 'field is immutable'));
    }
    const fromNil = present(newSpec.storageClassName) && !present(oldSpec.storageClassName) && (oldScAnn === undefined || newSpec.storageClassName === oldScAnn);
    if (fromNil) delete newSpec.storageClassName;
  }
  const bound = asRecord(obj.status).phase === 'Bound';
  if (bound && isRecord(newSpec.resources) && isRecord(newSpec.resources.requests)) {
    const oldStorage = asRecord(asRecord(oldSpec.resources).requests).storage;
    if (oldStorage === undefined) delete newSpec.resources.requests.storage;
    else newSpec.resources.requests.storage = oldStorage;
  }
  if (bound && present(newSpec.volumeAttributesClassName)) {
    if (oldSpec.volumeAttributesClassName === undefined) delete newSpec.volumeAttributesClassName;
    else newSpec.volumeAttributesClassName = oldSpec.volumeAttributesClassName;
  }
  if (!jsonEqual(newSpec, oldSpec)) {
    out.push(forbidden('spec', `${PVC_IMMUTABLE_MSG}\n  ${JSON.stringify(oldSpec)} -> ${JSON.stringify(newSpec)}`));
  }
  const oldSize = tryParseQuantity(asRecord(asRecord(asRecord(old.spec).resources).requests).storage);
  const newSize = tryParseQuantity(asRecord(asRecord(asRecord(obj.spec).resources).requests).storage);
  const statusSize = tryParseQuantity(asRecord(asRecord(old.status).capacity).storage) ?? { nanos: 0n, format: 'BinarySI' as const };
  if (oldSize && newSize && compareQuantities(newSize, oldSize) < 0 && compareQuantities(newSize, statusSize) <= 0) {
    // RecoverVolumeExpansionFailure (beta, on in v1.32): shrinking is allowed down to status.capacity.
    out.push(forbidden('spec.resources.requests.storage', 'field can not be less than status.capacity'));
  }
  out.push(...validateImmutable(asRecord(obj.spec).volumeMode ?? null, asRecord(old.spec).volumeMode ?? null, 'volumeMode'));
  const oldVac = asRecord(old.spec).volumeAttributesClassName;
  const newVac = asRecord(obj.spec).volumeAttributesClassName;
  if (present(oldVac) && !jsonEqual(oldVac, newVac)) {
    if (!present(newVac)) out.push(forbidden('spec.volumeAttributesClassName', 'update from non-nil value to nil is forbidden'));
    else if (newVac === '') out.push(forbidden('spec.volumeAttributesClassName', 'update from non-nil value to an empty string is forbidden'));
  }
  return out;
}

const RESIZE_STATUSES = ['ControllerResizeInProgress', 'ControllerResizeInfeasible', 'NodeResizeInProgress', 'NodeResizeInfeasible', 'NodeResizePending'];

/** ValidatePersistentVolumeClaimStatusUpdate. */
export function validatePersistentVolumeClaimStatus(obj: KubeObject): FieldCause[] {
  const out: FieldCause[] = [];
  if (asArray(asRecord(obj.spec).accessModes).length === 0) out.push(required('Spec.accessModes'));
  const status = asRecord(obj.status);
  for (const [k, v] of Object.entries(asRecord(status.capacity))) validateQuantityField(v, `status.capacity[${k}]`, out);
  const keyErrs = (k: string, field: string): FieldCause[] => {
    const errs = qualifiedNameErrors(k).map((m) => invalid(field, k, m));
    if (errs.length === 0 && (!k.includes('/') || k.includes('kubernetes.io/')) && k !== 'storage') errs.push(notSupported(field, k, ['storage']));
    return errs;
  };
  for (const [k, v] of Object.entries(asRecord(status.allocatedResourceStatuses))) {
    out.push(...keyErrs(k, 'status.allocatedResourceStatus'));
    if (!RESIZE_STATUSES.includes(str(v))) out.push(notSupported('status.allocatedResourceStatus', k, RESIZE_STATUSES));
  }
  for (const [k, v] of Object.entries(asRecord(status.allocatedResources))) {
    const errs = keyErrs(k, 'status.allocatedResources');
    if (errs.length) out.push(...errs);
    else validateQuantityField(v, `status.allocatedResources[${k}]`, out);
  }
  return out;
}

export const persistentvolumeclaims: ResourceDef = {
  group: '',
  version: 'v1',
  kind: 'PersistentVolumeClaim',
  listKind: 'PersistentVolumeClaimList',
  plural: 'persistentvolumeclaims',
  singular: 'persistentvolumeclaim',
  namespaced: true,
  shortNames: ['pvc'],
  subresources: { status: true },
  nameRule: 'dns1123Subdomain',
  modelName: 'V1PersistentVolumeClaim',
  generationFields: [],
  defaults: defaultPersistentVolumeClaim,
  prepareForCreate(obj) {
    obj.status = { phase: 'Pending' };
  },
  validate: (obj) => validatePersistentVolumeClaimSpec(obj.spec, 'spec'),
  validateUpdate: validatePersistentVolumeClaimUpdate,
  validateStatus: (obj) => validatePersistentVolumeClaimStatus(obj),
  columns: [
    { name: 'Status', type: 'string', priority: 0, description: 'phase represents the current phase of PersistentVolumeClaim.', cell: (o) => (o.metadata.deletionTimestamp ? 'Terminating' : str(asRecord(o.status).phase)) },
    { name: 'Volume', type: 'string', priority: 0, description: 'volumeName is the binding reference to the PersistentVolume backing this claim.', cell: (o) => str(asRecord(o.spec).volumeName) },
    {
      name: 'Capacity',
      type: 'string',
      priority: 0,
      description: 'capacity represents the actual resources of the underlying volume.',
      cell: (o) => (str(asRecord(o.spec).volumeName) ? storageString(asRecord(asRecord(o.status).capacity).storage) : ''),
    },
    {
      name: 'Access Modes',
      type: 'string',
      priority: 0,
      description: 'accessModes contains the actual access modes the volume backing the PVC has.',
      cell: (o) => (str(asRecord(o.spec).volumeName) ? accessModesString(asRecord(o.status).accessModes) : ''),
    },
    {
      name: 'StorageClass',
      type: 'string',
      priority: 0,
      description: 'StorageClass of the pvc',
      cell: (o) => o.metadata.annotations?.[STORAGE_CLASS_ANNOTATION] ?? str(asRecord(o.spec).storageClassName),
    },
    {
      name: 'VolumeAttributesClass',
      type: 'string',
      priority: 0,
      description: 'VolumeAttributesClass of the pvc',
      cell: (o) => str(asRecord(o.spec).volumeAttributesClassName) || '<unset>',
    },
    { name: 'Age', type: 'string', priority: 0, description: AGE_DESC, cell: (o) => age(o.metadata.creationTimestamp) },
    { name: 'VolumeMode', type: 'string', priority: 1, description: 'volumeMode defines what type of volume is required by the claim.', cell: (o) => str(asRecord(o.spec).volumeMode) || '<unset>' },
  ],
};
