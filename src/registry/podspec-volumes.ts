// PodSpec validation of volumes (every volume source kind); the list of those kinds is shared
// with defaulting.
import type { FieldCause } from './types.ts';
import {
  asArray,
  asRecord,
  dns1123SubdomainErrors,
  duplicate,
  forbidden,
  invalid,
  isRecord,
  notSupported,
  required,
  requiredDetail,
  tooLong,
  validateDNS1123LabelField,
} from './validation.ts';
import {
  type Obj,
  isInt,
  localDescendingPathErrors,
  localNonReservedPathErrors,
  pathNoBacksteps,
  present,
  str,
  validatePullPolicy,
} from './podspec-common.ts';
import { VOLUME_FIELD_PATHS, validateObjectFieldSelector, validateResourceFieldSelector } from './podspec-env.ts';
import { validateQuantityField } from './podspec-resources.ts';

/** Volume source fields, in the order Kubernetes checks them (the first one set wins). */
export const VOLUME_SOURCES = [
  'emptyDir', 'hostPath', 'gitRepo', 'gcePersistentDisk', 'awsElasticBlockStore', 'secret', 'nfs', 'iscsi', 'glusterfs',
  'flocker', 'persistentVolumeClaim', 'rbd', 'cinder', 'cephfs', 'quobyte', 'downwardAPI', 'fc', 'flexVolume', 'configMap',
  'azureFile', 'vsphereVolume', 'photonPersistentDisk', 'portworxVolume', 'azureDisk', 'storageos', 'projected', 'scaleIO',
  'csi', 'ephemeral', 'image',
];
/** Kubernetes' own spelling of two of them in the "more than 1 volume type" error path. */
const VOLUME_SOURCE_ERROR_NAME: Record<string, string> = { downwardAPI: 'downwarAPI', cephfs: 'cephFS' };

const FILE_MODE_MSG = 'must be a number between 0 and 0777 (octal), both inclusive';

function validateMode(v: unknown, field: string): FieldCause[] {
  if (!present(v)) return [];
  if (!isInt(v) || v < 0 || v > 0o777) return [invalid(field, v, FILE_MODE_MSG)];
  return [];
}

function validateKeyToPaths(items: unknown, field: string, paths?: Set<string>, conflictField?: string, conflictValue?: string): FieldCause[] {
  const out: FieldCause[] = [];
  asArray(items).forEach((it0, i) => {
    const it = asRecord(it0);
    const f = `${field}[${i}]`;
    const p = str(it.path);
    if (!str(it.key)) out.push(required(`${f}.key`));
    if (!p) out.push(required(`${f}.path`));
    out.push(...localNonReservedPathErrors(p, `${f}.path`));
    out.push(...validateMode(it.mode, `${f}.mode`));
    if (paths && p) {
      if (paths.has(p)) out.push(invalid(conflictField ?? field, conflictValue ?? p, 'conflicting duplicate paths'));
      paths.add(p);
    }
  });
  return out;
}

/** validateDownwardAPIVolumeFile (Kubernetes reports items on the source path, not per item). */
function validateDownwardAPIFile(it: Obj, field: string): FieldCause[] {
  const out: FieldCause[] = [];
  const p = str(it.path);
  if (!p) out.push(required(`${field}.path`));
  out.push(...localNonReservedPathErrors(p, `${field}.path`));
  if (isRecord(it.fieldRef)) {
    out.push(...validateObjectFieldSelector(it.fieldRef, VOLUME_FIELD_PATHS, `${field}.fieldRef`));
    if (isRecord(it.resourceFieldRef)) out.push(invalid(field, 'resource', 'fieldRef and resourceFieldRef can not be specified simultaneously'));
  } else if (isRecord(it.resourceFieldRef)) {
    out.push(...validateResourceFieldSelector(it.resourceFieldRef, `${field}.resourceFieldRef`, true));
  } else {
    out.push(requiredDetail(field, 'one of fieldRef and resourceFieldRef is required'));
  }
  out.push(...validateMode(it.mode, `${field}.mode`));
  return out;
}

const HOST_PATH_TYPES = ['', 'BlockDevice', 'CharDevice', 'Directory', 'DirectoryOrCreate', 'File', 'FileOrCreate', 'Socket'];

/** validateHostPathVolumeSource (shared with PersistentVolumes). */
export function validateHostPathSource(s: Obj, field: string): FieldCause[] {
  const p = str(s.path);
  if (!p) return [required(`${field}.path`)];
  const out = pathNoBacksteps(p, `${field}.path`);
  if (present(s.type) && !HOST_PATH_TYPES.includes(str(s.type))) out.push(notSupported(`${field}.type`, str(s.type), HOST_PATH_TYPES));
  return out;
}

function validateProjected(s: Obj, f: string): FieldCause[] {
  const out: FieldCause[] = [];
  out.push(...validateMode(s.defaultMode, `${f}.defaultMode`));
  const paths = new Set<string>();
  asArray(s.sources).forEach((ps0, i) => {
    const ps = asRecord(ps0);
    const pf = `${f}.sources[${i}]`;
    let m = 0;
    for (const k of ['secret', 'configMap']) {
      if (!isRecord(ps[k])) continue;
      m++;
      const r = ps[k] as Obj;
      if (!str(r.name)) out.push(required(`${pf}.${k}.name`));
      out.push(...validateKeyToPaths(r.items, `${pf}.${k}.items`, paths, f, str(r.name)));
    }
    if (isRecord(ps.downwardAPI)) {
      m++;
      for (const it of asArray(ps.downwardAPI.items)) {
        const item = asRecord(it);
        out.push(...validateDownwardAPIFile(item, `${pf}.downwardAPI`));
        const p = str(item.path);
        if (p) {
          if (paths.has(p)) out.push(invalid(f, p, 'conflicting duplicate paths'));
          paths.add(p);
        }
      }
    }
    if (isRecord(ps.serviceAccountToken)) {
      m++;
      const r = ps.serviceAccountToken;
      const exp = isInt(r.expirationSeconds) ? r.expirationSeconds : 0;
      const ef = `${pf}.serviceAccountToken.expirationSeconds`;
      if (exp < 600) out.push(invalid(ef, exp, 'may not specify a duration less than 10 minutes'));
      if (exp > 2 ** 32) out.push(invalid(ef, exp, 'may not specify a duration larger than 2^32 seconds'));
      if (!str(r.path)) out.push(required(`${f}.path`));
      else out.push(...localNonReservedPathErrors(str(r.path), `${f}.path`));
    }
    if (isRecord(ps.clusterTrustBundle)) {
      m++;
      const r = ps.clusterTrustBundle;
      if (!str(r.path)) out.push(required(`${pf}.clusterTrustBundle.path`));
      if (!present(r.name) && !present(r.signerName)) out.push(requiredDetail(`${pf}.clusterTrustBundle`, 'either name or signerName must be specified'));
    }
    if (m > 1) out.push(forbidden(pf, 'may not specify more than 1 volume type per source'));
  });
  return out;
}

function validateVolumeSource(v: Obj, field: string): FieldCause[] {
  const out: FieldCause[] = [];
  let n = 0;
  for (const kind of VOLUME_SOURCES) {
    const src = v[kind];
    if (!present(src)) continue;
    const f = `${field}.${kind}`;
    if (n > 0) {
      out.push(forbidden(`${field}.${VOLUME_SOURCE_ERROR_NAME[kind] ?? kind}`, 'may not specify more than 1 volume type'));
      continue;
    }
    n++;
    const s = asRecord(src);
    switch (kind) {
      case 'hostPath':
        out.push(...validateHostPathSource(s, f));
        break;
      case 'emptyDir':
        if (present(s.sizeLimit)) {
          const errs: FieldCause[] = [];
          const q = validateQuantityField(s.sizeLimit, `${f}.sizeLimit`, errs);
          if (!q) out.push(...errs);
          else if (q.nanos < 0n) out.push(forbidden(`${f}.sizeLimit`, 'SizeLimit field must be a valid resource quantity'));
        }
        break;
      case 'secret':
        if (!str(s.secretName)) out.push(required(`${f}.secretName`));
        out.push(...validateMode(s.defaultMode, `${f}.defaultMode`));
        out.push(...validateKeyToPaths(s.items, `${f}.items`));
        break;
      case 'configMap':
        if (!str(s.name)) out.push(required(`${f}.name`));
        out.push(...validateMode(s.defaultMode, `${f}.defaultMode`));
        out.push(...validateKeyToPaths(s.items, `${f}.items`));
        break;
      case 'persistentVolumeClaim':
        if (!str(s.claimName)) out.push(required(`${f}.claimName`));
        break;
      case 'nfs':
        if (!str(s.server)) out.push(required(`${f}.server`));
        if (!str(s.path)) out.push(required(`${f}.path`));
        if (!str(s.path).startsWith('/')) out.push(invalid(`${f}.path`, str(s.path), 'must be an absolute path'));
        break;
      case 'downwardAPI':
        out.push(...validateMode(s.defaultMode, `${f}.defaultMode`));
        for (const it of asArray(s.items)) out.push(...validateDownwardAPIFile(asRecord(it), f));
        break;
      case 'projected':
        out.push(...validateProjected(s, f));
        break;
      case 'gitRepo':
        if (!str(s.repository)) out.push(required(`${f}.repository`));
        out.push(...localDescendingPathErrors(str(s.directory), `${f}.directory`));
        break;
      case 'csi':
        if (!str(s.driver)) out.push(required(`${f}.driver`));
        if (str(s.driver).length > 63) out.push(tooLong(`${f}.driver`, 63));
        for (const m of dns1123SubdomainErrors(str(s.driver).toLowerCase())) if (str(s.driver)) out.push(invalid(`${f}.driver`, str(s.driver), m));
        break;
      case 'ephemeral':
        if (!isRecord(s.volumeClaimTemplate)) out.push(required(`${f}.volumeClaimTemplate`));
        break;
      case 'image':
        if (!str(s.reference)) out.push(required(`${f}.reference`));
        if (present(s.pullPolicy)) out.push(...validatePullPolicy(s.pullPolicy, `${f}.pullPolicy`));
        break;
      default:
        break;
    }
  }
  if (n === 0) out.push(requiredDetail(field, 'must specify a volume type'));
  return out;
}

/** ValidateVolumes: returns the valid volumes by name (for volumeMounts checks). */
export function validateVolumes(volumes: unknown, field: string): { vols: Map<string, Obj>; errs: FieldCause[] } {
  const vols = new Map<string, Obj>();
  const errs: FieldCause[] = [];
  asArray(volumes).forEach((v0, i) => {
    const v = asRecord(v0);
    const f = `${field}[${i}]`;
    const el = validateVolumeSource(v, f);
    const name = str(v.name);
    if (!name) el.push(required(`${f}.name`));
    else el.push(...validateDNS1123LabelField(name, `${f}.name`));
    if (vols.has(name)) el.push(duplicate(`${f}.name`, name));
    if (el.length === 0) vols.set(name, v);
    else errs.push(...el);
  });
  return { vols, errs };
}
