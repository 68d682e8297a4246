// storage.k8s.io/v1 StorageClass (cluster-scoped): defaults, validation and printer columns
// (Kubernetes v1.32, pkg/apis/storage/v1/defaults.go and pkg/apis/storage/validation).
import type { FieldCause, KubeObject, ResourceDef } from './types.ts';
import {
  asArray,
  asRecord,
  duplicate,
  forbidden,
  invalid,
  isRecord,
  jsonEqual,
  notSupported,
  qualifiedNameErrors,
  required,
  requiredDetail,
  tooLong,
  validateImmutable,
} from './validation.ts';
import { age } from './printing.ts';

export const DEFAULT_CLASS_ANNOTATION = 'storageclass.kubernetes.io/is-default-class';
export const BETA_DEFAULT_CLASS_ANNOTATION = 'storageclass.beta.kubernetes.io/is-default-class';

const RECLAIM_POLICIES = ['Delete', 'Retain'];
const BINDING_MODES = ['Immediate', 'WaitForFirstConsumer'];
const MAX_PARAMETERS = 512;
const MAX_PARAMETERS_SIZE = 256 * 1024;

/** Whether a StorageClass is marked as the cluster default (storageutil.IsDefaultAnnotation). */
export function isDefaultStorageClass(obj: KubeObject): boolean {
  const a = obj.metadata.annotations ?? {};
  return a[DEFAULT_CLASS_ANNOTATION] === 'true' || a[BETA_DEFAULT_CLASS_ANNOTATION] === 'true';
}

/** The NAME cell Kubernetes prints: the name, with ` (default)` for the default class. */
export function storageClassNameCell(obj: KubeObject): string {
  const name = obj.metadata.name ?? '';
  return isDefaultStorageClass(obj) ? `${name} (default)` : name;
}

function defaultStorageClass(obj: KubeObject): void {
  if (obj.reclaimPolicy === undefined || obj.reclaimPolicy === null) obj.reclaimPolicy = 'Delete';
  if (obj.volumeBindingMode === undefined || obj.volumeBindingMode === null) obj.volumeBindingMode = 'Immediate';
}

function validateParameters(params: unknown): FieldCause[] {
  if (params === undefined || params === null) return [];
  if (!isRecord(params)) return [invalid('parameters', params, 'must be a map of string to string')];
  const entries = Object.entries(params);
  if (entries.length > MAX_PARAMETERS) return [tooLong('parameters', MAX_PARAMETERS)];
  const out: FieldCause[] = [];
  let size = 0;
  for (const [k, v] of entries) {
    if (k.length < 1) out.push(invalid('parameters', k, 'field can not be empty.'));
    if (typeof v !== 'string') out.push(invalid(`parameters[${k}]`, v, 'must be a string'));
    size += k.length + (typeof v === 'string' ? v.length : 0);
  }
  if (size > MAX_PARAMETERS_SIZE) out.push(tooLong('parameters', MAX_PARAMETERS_SIZE));
  return out;
}

function validateAllowedTopologies(terms: unknown): FieldCause[] {
  if (terms === undefined || terms === null) return [];
  if (!Array.isArray(terms)) return [invalid('allowedTopologies', terms, 'must be a list')];
  const out: FieldCause[] = [];
  terms.forEach((term, i) => {
    const exprs = asArray(asRecord(term).matchLabelExpressions);
    const tf = `allowedTopologies[${i}].matchLabelExpressions`;
    if (exprs.length === 0) out.push(requiredDetail(tf, 'must have at least one label selector'));
    const keys = new Set<string>();
    exprs.forEach((e, j) => {
      const r = asRecord(e);
      const f = `${tf}[${j}]`;
      const key = typeof r.key === 'string' ? r.key : '';
      for (const m of qualifiedNameErrors(key)) out.push(invalid(`${f}.key`, r.key ?? '', m));
      if (keys.has(key)) out.push(duplicate(`${f}.key`, key));
      keys.add(key);
      const values = asArray(r.values);
      if (values.length === 0) out.push(requiredDetail(`${f}.values`, 'must specify as least one value'));
    });
  });
  return out;
}

function validateStorageClass(obj: KubeObject): FieldCause[] {
  const out: FieldCause[] = [];
  const prov = obj.provisioner;
  if (prov === undefined || prov === null || prov === '') out.push(required('provisioner'));
  else if (typeof prov !== 'string') out.push(invalid('provisioner', prov, 'must be a string'));
  else for (const m of qualifiedNameErrors(prov.toLowerCase())) out.push(invalid('provisioner', prov, m));
  out.push(...validateParameters(obj.parameters));
  const rp = obj.reclaimPolicy;
  if (rp !== undefined && rp !== null && rp !== '' && !RECLAIM_POLICIES.includes(rp as string)) {
    out.push(notSupported('reclaimPolicy', rp, RECLAIM_POLICIES));
  }
  const mode = obj.volumeBindingMode;
  if (mode === undefined || mode === null) out.push(required('volumeBindingMode'));
  else if (!BINDING_MODES.includes(mode as string)) out.push(notSupported('volumeBindingMode', mode, BINDING_MODES));
  const ave = obj.allowVolumeExpansion;
  if (ave !== undefined && ave !== null && typeof ave !== 'boolean') out.push(invalid('allowVolumeExpansion', ave, 'must be a boolean'));
  const mo = obj.mountOptions;
  if (mo !== undefined && mo !== null && (!Array.isArray(mo) || mo.some((m) => typeof m !== 'string'))) {
    out.push(invalid('mountOptions', mo, 'must be a list of strings'));
  }
  out.push(...validateAllowedTopologies(obj.allowedTopologies));
  return out;
}

function validateStorageClassUpdate(obj: KubeObject, old: KubeObject): FieldCause[] {
  const out: FieldCause[] = [];
  const params = (o: KubeObject) => (isRecord(o.parameters) && Object.keys(o.parameters).length > 0 ? o.parameters : undefined);
  if (!jsonEqual(params(obj), params(old))) {
    out.push(forbidden('parameters', 'updates to parameters are forbidden.'));
  }
  if (obj.provisioner !== old.provisioner) out.push(forbidden('provisioner', 'updates to provisioner are forbidden.'));
  if (obj.reclaimPolicy !== old.reclaimPolicy) out.push(forbidden('reclaimPolicy', 'updates to reclaimPolicy are forbidden.'));
  out.push(...validateImmutable(obj.volumeBindingMode, old.volumeBindingMode, 'volumeBindingMode'));
  return out;
}

export const storageclasses: ResourceDef = {
  group: 'storage.k8s.io',
  version: 'v1',
  kind: 'StorageClass',
  listKind: 'StorageClassList',
  plural: 'storageclasses',
  singular: 'storageclass',
  namespaced: false,
  shortNames: ['sc'],
  nameRule: 'dns1123Subdomain',
  modelName: 'V1StorageClass',
  defaults: defaultStorageClass,
  validate: validateStorageClass,
  validateUpdate: validateStorageClassUpdate,
  // No spec: Kubernetes does not track generation for storage classes.
  generationFields: [],
  nameCell: storageClassNameCell,
  columns: [
    {
      name: 'Provisioner',
      type: 'string',
      priority: 0,
      description: 'provisioner indicates the type of the provisioner.',
      cell: (o) => (typeof o.provisioner === 'string' ? o.provisioner : ''),
    },
    {
      name: 'ReclaimPolicy',
      type: 'string',
      priority: 0,
      description: 'reclaimPolicy controls the reclaimPolicy for dynamically provisioned PersistentVolumes of this storage class.',
      cell: (o) => (typeof o.reclaimPolicy === 'string' && o.reclaimPolicy ? o.reclaimPolicy : 'Delete'),
    },
    {
      name: 'VolumeBindingMode',
      type: 'string',
      priority: 0,
      description: 'volumeBindingMode indicates how PersistentVolumeClaims should be provisioned and bound.',
      cell: (o) => (typeof o.volumeBindingMode === 'string' && o.volumeBindingMode ? o.volumeBindingMode : 'Immediate'),
    },
    {
      name: 'AllowVolumeExpansion',
      type: 'string',
      priority: 0,
      description: 'allowVolumeExpansion shows whether the storage class allow volume expand.',
      cell: (o) => o.allowVolumeExpansion === true,
    },
    { name: 'Age', type: 'string', priority: 0, description: 'Time since creation.', cell: (o) => age(o.metadata.creationTimestamp) },
  ],
};
