// core/v1 PersistentVolume: defaults (Retain, Filesystem), Pending on create, validation of the
// spec and its update rules, and the table kubectl prints.
import type { FieldCause, KubeObject, ResourceDef } from './types.ts';
import { age } from './printing.ts';
import { validateHostPathSource, validateNodeSelector, validateQuantityField } from './podspec.ts';
import { canonicalizeResourceList, formatQuantity, tryParseQuantity } from './quantity.ts';
import {
  asArray,
  asRecord,
  dns1123SubdomainErrors,
  forbidden,
  invalid,
  isRecord,
  jsonEqual,
  notSupported,
  required,
  requiredDetail,
  validateDNS1123LabelField,
  validateImmutable,
} from './validation.ts';

type Obj = Record<string, unknown>;
const str = (v: unknown): string => (typeof v === 'string' ? v : '');
const present = (v: unknown): boolean => v !== undefined && v !== null;
const AGE_DESC = 'CreationTimestamp is a timestamp representing the server time when this object was created.';

export const ACCESS_MODES = ['ReadOnlyMany', 'ReadWriteMany', 'ReadWriteOnce', 'ReadWriteOncePod'];
export const VOLUME_MODES = ['Block', 'Filesystem'];
const RECLAIM_POLICIES = ['Delete', 'Recycle', 'Retain'];
export const STORAGE_CLASS_ANNOTATION = 'volume.beta.kubernetes.io/storage-class';

/** The PersistentVolumeSource fields (exactly one is set). */
export const PV_SOURCES = [
  'hostPath', 'gcePersistentDisk', 'awsElasticBlockStore', 'glusterfs', 'flocker', 'nfs', 'rbd', 'quobyte', 'cephfs',
  'iscsi', 'cinder', 'fc', 'flexVolume', 'azureFile', 'vsphereVolume', 'photonPersistentDisk', 'portworxVolume',
  'azureDisk', 'scaleIO', 'local', 'storageos', 'csi',
];

function specOf(obj: KubeObject): Obj {
  if (!isRecord(obj.spec)) obj.spec = {};
  return obj.spec as Obj;
}

/** SetDefaults_PersistentVolume. */
export function defaultPersistentVolume(obj: KubeObject): void {
  const spec = specOf(obj);
  if (!str(spec.persistentVolumeReclaimPolicy)) spec.persistentVolumeReclaimPolicy = 'Retain';
  if (!present(spec.volumeMode)) spec.volumeMode = 'Filesystem';
  if (isRecord(spec.hostPath) && spec.hostPath.type === undefined) spec.hostPath.type = '';
  canonicalizeResourceList(spec.capacity);
  if (isRecord(obj.status) && !str(obj.status.phase)) obj.status.phase = 'Pending';
}

/** Access-mode checks shared by volumes and claims. */
export function validateAccessModes(modes: unknown, field: string): FieldCause[] {
  const out: FieldCause[] = [];
  let rwop = false;
  let other = false;
  for (const m0 of asArray(modes)) {
    const m = str(m0);
    if (!ACCESS_MODES.includes(m)) out.push(notSupported(field, m, ACCESS_MODES));
    if (m === 'ReadWriteOncePod') rwop = true;
    else if (ACCESS_MODES.includes(m)) other = true;
  }
  if (rwop && other) out.push(forbidden(field, 'may not use ReadWriteOncePod with other access modes'));
  return out;
}

function validatePVSource(kind: string, s: Obj, f: string): FieldCause[] {
  const out: FieldCause[] = [];
  switch (kind) {
    case 'hostPath':
      out.push(...validateHostPathSource(s, f));
      break;
    case 'local':
      if (!str(s.path)) out.push(required(`${f}.path`));
      else if (str(s.path).split('/').includes('..')) out.push(invalid(`${f}.path`, str(s.path), "must not contain '..'"));
      break;
    case 'nfs':
      if (!str(s.server)) out.push(required(`${f}.server`));
      if (!str(s.path)) out.push(required(`${f}.path`));
      if (!str(s.path).startsWith('/')) out.push(invalid(`${f}.path`, str(s.path), 'must be an absolute path'));
      break;
    case 'csi': {
      const driver = str(s.driver);
      if (!driver) out.push(required(`${f}.driver`));
      for (const m of dns1123SubdomainErrors(driver.toLowerCase())) if (driver) out.push(invalid(`${f}.driver`, driver, m));
      if (!str(s.volumeHandle)) out.push(required(`${f}.volumeHandle`));
      for (const ref of ['controllerPublishSecretRef', 'controllerExpandSecretRef', 'nodePublishSecretRef', 'nodeExpandSecretRef']) {
        if (!isRecord(s[ref])) continue;
        const r = s[ref] as Obj;
        if (!str(r.name)) out.push(required(`${f}.${ref}.name`));
        else for (const m of dns1123SubdomainErrors(str(r.name))) out.push(invalid(`${f}.${ref}.name`, str(r.name), m));
        if (!str(r.namespace)) out.push(required(`${f}.${ref}.namespace`));
        else out.push(...validateDNS1123LabelField(str(r.namespace), `${f}.${ref}.namespace`));
      }
      break;
    }
    case 'iscsi':
      if (!str(s.targetPortal)) out.push(required(`${f}.targetPortal`));
      if (!str(s.iqn)) out.push(required(`${f}.iqn`));
      break;
    case 'rbd':
      if (asArray(s.monitors).length === 0) out.push(required(`${f}.monitors`));
      if (!str(s.image)) out.push(required(`${f}.image`));
      break;
    case 'cephfs':
      if (asArray(s.monitors).length === 0) out.push(required(`${f}.monitors`));
      break;
    case 'glusterfs':
      if (!str(s.endpoints)) out.push(required(`${f}.endpoints`));
      if (!str(s.path)) out.push(required(`${f}.path`));
      break;
    case 'flexVolume':
      if (!str(s.driver)) out.push(required(`${f}.driver`));
      break;
    default:
      break;
  }
  return out;
}

/** ValidatePersistentVolumeSpec (not inline). */
export function validatePersistentVolume(obj: KubeObject): FieldCause[] {
  const out: FieldCause[] = [];
  const spec = asRecord(obj.spec);
  if (asArray(spec.accessModes).length === 0) out.push(required('spec.accessModes'));
  out.push(...validateAccessModes(spec.accessModes, 'spec.accessModes'));
  const capacity = asRecord(spec.capacity);
  const keys = Object.keys(capacity);
  if (keys.length === 0) out.push(required('spec.capacity'));
  if (!keys.includes('storage') || keys.length > 1) out.push(notSupported('spec.capacity', capacity, ['storage']));
  for (const [k, v] of Object.entries(capacity)) {
    const f = `spec.capacity[${k}]`;
    const errs: FieldCause[] = [];
    const q = validateQuantityField(v, f, errs);
    if (!q) out.push(...errs);
    else if (q.nanos < 0n) out.push(invalid(f, formatQuantity(q), 'must be a valid resource quantity'));
    if (q && q.nanos <= 0n) out.push(invalid(f, formatQuantity(q), 'must be greater than zero'));
  }
  const policy = str(spec.persistentVolumeReclaimPolicy);
  if (policy && !RECLAIM_POLICIES.includes(policy)) out.push(notSupported('spec.persistentVolumeReclaimPolicy', policy, RECLAIM_POLICIES));
  let affinity = false;
  if (present(spec.nodeAffinity)) {
    affinity = true;
    const req = asRecord(spec.nodeAffinity).required;
    if (isRecord(req)) out.push(...validateNodeSelector(req, 'spec.nodeAffinity.required'));
    else out.push(requiredDetail('spec.nodeAffinity.required', 'must specify required node constraints'));
  }
  let n = 0;
  for (const kind of PV_SOURCES) {
    if (!present(spec[kind])) continue;
    const f = `spec.${kind}`;
    if (n > 0 && kind !== 'flexVolume') {
      out.push(forbidden(f, 'may not specify more than 1 volume type'));
      continue;
    }
    n++;
    out.push(...validatePVSource(kind, asRecord(spec[kind]), f));
    if (kind === 'local' && !affinity) out.push(requiredDetail('spec.nodeAffinity', 'Local volume requires node affinity'));
  }
  if (n === 0) out.push(requiredDetail('spec', 'must specify a volume type'));
  if (isRecord(spec.hostPath) && str(spec.hostPath.path).replace(/\/+$/, '') === '' && str(spec.hostPath.path) !== '' && policy === 'Recycle') {
    out.push(forbidden('spec.persistentVolumeReclaimPolicy', "may not be 'recycle' for a hostPath mount of '/'"));
  }
  const sc = str(spec.storageClassName);
  if (sc) for (const m of dns1123SubdomainErrors(sc)) out.push(invalid('spec.storageClassName', sc, m));
  if (present(spec.volumeMode) && !VOLUME_MODES.includes(str(spec.volumeMode))) {
    out.push(notSupported('spec.volumeMode', str(spec.volumeMode), VOLUME_MODES));
  }
  if (present(spec.volumeAttributesClassName)) {
    const vac = str(spec.volumeAttributesClassName);
    if (!vac) out.push(requiredDetail('spec.volumeAttributesClassName', 'an empty string is disallowed'));
    else for (const m of dns1123SubdomainErrors(vac)) out.push(invalid('spec.volumeAttributesClassName', vac, m));
    if (!present(spec.csi)) out.push(requiredDetail('spec.csi', 'has to be specified when using volumeAttributesClassName'));
  }
  return out;
}

function sourceOf(spec: Obj): Obj {
  const out: Obj = {};
  for (const k of PV_SOURCES) if (present(spec[k])) out[k] = spec[k];
  return out;
}

/** ValidatePersistentVolumeUpdate: the volume source, volumeMode and node affinity are fixed. */
export function validatePersistentVolumeUpdate(obj: KubeObject, old: KubeObject): FieldCause[] {
  const out: FieldCause[] = [];
  const spec = asRecord(obj.spec);
  const oldSpec = asRecord(old.spec);
  const newSource = sourceOf(spec);
  const oldSource = sourceOf(oldSpec);
  // Adding a controllerExpandSecretRef to a CSI volume is allowed.
  if (isRecord(newSource.csi) && isRecord(oldSource.csi) && !present(oldSource.csi.controllerExpandSecretRef)) {
    const { controllerExpandSecretRef: _ignored, ...rest } = newSource.csi;
    newSource.csi = rest;
  }
  if (!jsonEqual(newSource, oldSource)) {
    out.push(forbidden('spec.persistentvolumesource', `spec.persistentvolumesource is immutable after creation\n  ${JSON.stringify(oldSource)} -> ${JSON.stringify(newSource)}`));
  }
  out.push(...validateImmutable(spec.volumeMode ?? null, oldSpec.volumeMode ?? null, 'volumeMode'));
  if (present(oldSpec.nodeAffinity) && !jsonEqual(spec.nodeAffinity, oldSpec.nodeAffinity)) {
    out.push(invalid('nodeAffinity', spec.nodeAffinity ?? null, 'field is immutable, except for updating from beta label to GA'));
  }
  if (present(oldSpec.volumeAttributesClassName) && !present(spec.volumeAttributesClassName)) {
    out.push(forbidden('spec.volumeAttributesClassName', 'update from non-nil value to nil is forbidden'));
  }
  return out;
}

/** helper.GetAccessModesAsString: RWO,ROX,RWX,RWOP in that order. */
export function accessModesString(modes: unknown): string {
  const list = asArray(modes).map((m) => str(m));
  const out: string[] = [];
  if (list.includes('ReadWriteOnce')) out.push('RWO');
  if (list.includes('ReadOnlyMany')) out.push('ROX');
  if (list.includes('ReadWriteMany')) out.push('RWX');
  if (list.includes('ReadWriteOncePod')) out.push('RWOP');
  return out.join(',');
}

/** A storage quantity as Kubernetes prints it (canonical form; `0` when absent). */
export function storageString(v: unknown): string {
  const q = tryParseQuantity(v);
  return q ? formatQuantity(q) : '0';
}

function phaseCell(obj: KubeObject): string {
  return obj.metadata.deletionTimestamp ? 'Terminating' : str(asRecord(obj.status).phase);
}

export const persistentvolumes: ResourceDef = {
  group: '',
  version: 'v1',
  kind: 'PersistentVolume',
  listKind: 'PersistentVolumeList',
  plural: 'persistentvolumes',
  singular: 'persistentvolume',
  namespaced: false,
  shortNames: ['pv'],
  subresources: { status: true },
  nameRule: 'dns1123Subdomain',
  modelName: 'V1PersistentVolume',
  generationFields: [],
  defaults: defaultPersistentVolume,
  prepareForCreate(obj) {
    obj.status = { phase: 'Pending', lastPhaseTransitionTime: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z') };
  },
  validate: validatePersistentVolume,
  validateUpdate: validatePersistentVolumeUpdate,
  columns: [
    { name: 'Capacity', type: 'string', priority: 0, description: 'capacity is the description of the persistent volume\'s resources and capacity.', cell: (o) => storageString(asRecord(asRecord(o.spec).capacity).storage) },
    { name: 'Access Modes', type: 'string', priority: 0, description: 'accessModes contains all ways the volume can be mounted.', cell: (o) => accessModesString(asRecord(o.spec).accessModes) },
    { name: 'Reclaim Policy', type: 'string', priority: 0, description: 'persistentVolumeReclaimPolicy defines what happens to a persistent volume when released from its claim.', cell: (o) => str(asRecord(o.spec).persistentVolumeReclaimPolicy) },
    { name: 'Status', type: 'string', priority: 0, description: 'phase indicates if a volume is available, bound to a claim, or released by a claim.', cell: phaseCell },
    {
      name: 'Claim',
      type: 'string',
      priority: 0,
      description: 'claimRef is part of a bi-directional binding between PersistentVolume and PersistentVolumeClaim.',
      cell: (o) => {
        const ref = asRecord(o.spec).claimRef;
        return isRecord(ref) ? `${str(ref.namespace)}/${str(ref.name)}` : '';
      },
    },
    {
      name: 'StorageClass',
      type: 'string',
      priority: 0,
      description: 'StorageClass of the pv',
      cell: (o) => o.metadata.annotations?.[STORAGE_CLASS_ANNOTATION] ?? str(asRecord(o.spec).storageClassName),
    },
    {
      name: 'VolumeAttributesClass',
      type: 'string',
      priority: 0,
      description: 'VolumeAttributesClass of the pv',
      cell: (o) => {
        const v = asRecord(o.spec).volumeAttributesClassName;
        return typeof v === 'string' ? v : '<unset>';
      },
    },
    { name: 'Reason', type: 'string', priority: 0, description: 'reason is a brief CamelCase string that describes any failure and is meant for machine parsing and tidy display in the CLI.', cell: (o) => str(asRecord(o.status).reason) },
    { name: 'Age', type: 'string', priority: 0, description: AGE_DESC, cell: (o) => age(o.metadata.creationTimestamp) },
    { name: 'VolumeMode', type: 'string', priority: 1, description: 'volumeMode defines if a volume is intended to be used with a formatted filesystem or to remain in raw block state.', cell: (o) => str(asRecord(o.spec).volumeMode) || '<unset>' },
  ],
};
