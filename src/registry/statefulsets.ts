// apps/v1 StatefulSet: defaults, validation (create, update, status) and printer columns.
//
// Follows Kubernetes v1.32 (pkg/apis/apps/v1/defaults.go, pkg/apis/apps/validation) with one
// deliberate extension (kubernetes issue 68737): in an existing volumeClaimTemplate the storage
// request (spec.resources.requests.storage) may be raised; the StatefulSet controller then
// resizes the claims. Shrinking it, or any other change to volumeClaimTemplates, is rejected
// with a cause that names the field.
//
// The helpers for pod templates (defaults, selector/label checks, container cells) are in
// workloads.ts, shared with the DaemonSet entry; they are re-exported here.
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
  required,
  requiredDetail,
  validateAnnotations,
  validateDNS1123LabelField,
  validateDNS1123SubdomainField,
  validateLabels,
  validateNonnegative,
  positiveIntOrPercentCauses,
  intOrPercentValue,
  notMoreThan100PercentCauses,
} from './validation.ts';
import {
  QUANTITY_FORMAT_ERROR,
  canonicalizeResourceList,
  compareQuantities,
  formatQuantity,
  tryParseQuantity,
} from './quantity.ts';
import {
  ageColumn,
  collisionCountCauses,
  containersColumns,
  defaultPodTemplate,
  ensureChild,
  nonNegativeFields,
  num,
  validateWorkloadSelectorAndTemplate,
} from './workloads.ts';

export {
  ageColumn,
  collisionCountCauses,
  containerCells,
  containersColumns,
  defaultPodTemplate,
  ensureChild,
  nonNegativeFields,
  num,
  validateWorkloadSelectorAndTemplate,
} from './workloads.ts';

type Obj = Record<string, unknown>;

/** The spec fields an update may change (Kubernetes v1.33 semantics: revisionHistoryLimit
 *  included, see kubernetes issue 56341/130263). volumeClaimTemplates are checked separately. */
const MUTABLE_SPEC_FIELDS = [
  'replicas',
  'ordinals',
  'template',
  'updateStrategy',
  'revisionHistoryLimit',
  'persistentVolumeClaimRetentionPolicy',
  'minReadySeconds',
];

export const STATEFULSET_SPEC_FORBIDDEN_MSG =
  "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'revisionHistoryLimit', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden";

const ACCESS_MODES = ['ReadOnlyMany', 'ReadWriteMany', 'ReadWriteOnce', 'ReadWriteOncePod'];
const VOLUME_MODES = ['Block', 'Filesystem'];
const RETENTION_POLICIES = ['Retain', 'Delete'];
const STORAGE_PATH = 'spec.resources.requests.storage';

function defaultStatefulSet(obj: KubeObject): void {
  const spec = ensureChild(obj, 'spec');
  if (!spec) return;
  if (spec.replicas === undefined || spec.replicas === null) spec.replicas = 1;
  if (!spec.podManagementPolicy) spec.podManagementPolicy = 'OrderedReady';
  const us = ensureChild(spec, 'updateStrategy');
  if (us) {
    if (!us.type) {
      us.type = 'RollingUpdate';
      if (us.rollingUpdate === undefined || us.rollingUpdate === null) us.rollingUpdate = {};
    }
    const ru = us.rollingUpdate;
    if (us.type === 'RollingUpdate' && isRecord(ru) && (ru.partition === undefined || ru.partition === null)) ru.partition = 0;
  }
  if (spec.revisionHistoryLimit === undefined || spec.revisionHistoryLimit === null) spec.revisionHistoryLimit = 10;
  const policy = ensureChild(spec, 'persistentVolumeClaimRetentionPolicy');
  if (policy) {
    if (!policy.whenDeleted) policy.whenDeleted = 'Retain';
    if (!policy.whenScaled) policy.whenScaled = 'Retain';
  }
  defaultPodTemplate(spec);
  for (const t of asArray(spec.volumeClaimTemplates)) {
    if (!isRecord(t)) continue;
    if (t.apiVersion === undefined) t.apiVersion = 'v1';
    if (t.kind === undefined) t.kind = 'PersistentVolumeClaim';
    const ts = t.spec;
    if (isRecord(ts)) {
      if (!ts.volumeMode) ts.volumeMode = 'Filesystem';
      const res = ts.resources;
      if (isRecord(res)) {
        canonicalizeResourceList(res.requests);
        canonicalizeResourceList(res.limits);
      }
    }
    const status = ensureChild(t, 'status');
    if (status && !status.phase) status.phase = 'Pending';
  }
}

function prepareStatefulSetForCreate(obj: KubeObject): void {
  // Kubernetes resets status on create (the controller fills it in); replicas and
  // availableReplicas are always serialized.
  obj.status = { replicas: 0, availableReplicas: 0 };
}

function validateRollingUpdate(ru: Obj, prefix: string): FieldCause[] {
  const out = validateNonnegative(ru.partition, `${prefix}.partition`);
  const mu = ru.maxUnavailable;
  if (mu !== undefined && mu !== null) {
    const f = `${prefix}.maxUnavailable`;
    const c = positiveIntOrPercentCauses(mu, f);
    out.push(...c);
    if (c.length === 0 && intOrPercentValue(mu) === 0) out.push(invalid(f, mu, 'cannot be 0'));
    out.push(...notMoreThan100PercentCauses(mu, f));
  }
  return out;
}

/** Checks of one claim template (a PersistentVolumeClaim without namespace). */
function validateClaimTemplate(t: unknown, f: string): FieldCause[] {
  if (!isRecord(t)) return [invalid(f, t, 'must be a PersistentVolumeClaim template object')];
  const out: FieldCause[] = [];
  const meta = asRecord(t.metadata);
  const name = meta.name;
  if (typeof name !== 'string' || name === '') out.push(required(`${f}.metadata.name`));
  else out.push(...validateDNS1123SubdomainField(name, `${f}.metadata.name`));
  out.push(...validateLabels(meta.labels, `${f}.metadata.labels`));
  out.push(...validateAnnotations(meta.annotations, `${f}.metadata.annotations`));
  const spec = t.spec;
  if (!isRecord(spec)) {
    out.push(required(`${f}.spec`));
    return out;
  }
  const modes = spec.accessModes;
  if (!Array.isArray(modes) || modes.length === 0) {
    out.push(requiredDetail(`${f}.spec.accessModes`, 'at least 1 access mode is required'));
  } else {
    for (const m of modes) if (!ACCESS_MODES.includes(m as string)) out.push(notSupported(`${f}.spec.accessModes`, m, ACCESS_MODES));
  }
  const storageField = `${f}.${STORAGE_PATH}`;
  const storage = asRecord(asRecord(spec.resources).requests).storage;
  if (storage === undefined || storage === null || storage === '') {
    out.push(required(storageField));
  } else {
    const q = tryParseQuantity(storage);
    if (!q) out.push(invalid(storageField, storage, QUANTITY_FORMAT_ERROR));
    else if (q.nanos <= 0n) out.push(invalid(storageField, storage, 'must be greater than zero'));
  }
  if (spec.volumeMode !== undefined && !VOLUME_MODES.includes(spec.volumeMode as string)) {
    out.push(notSupported(`${f}.spec.volumeMode`, spec.volumeMode, VOLUME_MODES));
  }
  const sc = spec.storageClassName;
  if (sc !== undefined && sc !== null) {
    if (typeof sc !== 'string') out.push(invalid(`${f}.spec.storageClassName`, sc, 'must be a string'));
    else if (sc !== '') out.push(...validateDNS1123SubdomainField(sc, `${f}.spec.storageClassName`));
  }
  return out;
}

function validateStatefulSet(obj: KubeObject): FieldCause[] {
  const spec = obj.spec;
  if (!isRecord(spec)) return [required('spec')];
  const out: FieldCause[] = [];

  const pmp = spec.podManagementPolicy;
  if (pmp === undefined || pmp === null || pmp === '') out.push(required('spec.podManagementPolicy'));
  else if (pmp !== 'OrderedReady' && pmp !== 'Parallel') {
    out.push(invalid('spec.podManagementPolicy', pmp, "must be 'OrderedReady' or 'Parallel'"));
  }

  const us = asRecord(spec.updateStrategy);
  switch (us.type) {
    case undefined:
    case null:
    case '':
      out.push(required('spec.updateStrategy'));
      break;
    case 'OnDelete':
      if (us.rollingUpdate !== undefined && us.rollingUpdate !== null) {
        out.push(invalid('spec.updateStrategy.rollingUpdate', us.rollingUpdate, "only allowed for updateStrategy 'RollingUpdate'"));
      }
      break;
    case 'RollingUpdate':
      if (isRecord(us.rollingUpdate)) out.push(...validateRollingUpdate(us.rollingUpdate, 'spec.updateStrategy.rollingUpdate'));
      break;
    default:
      out.push(invalid('spec.updateStrategy', spec.updateStrategy, "must be 'RollingUpdate' or 'OnDelete'"));
  }

  const policy = spec.persistentVolumeClaimRetentionPolicy;
  if (isRecord(policy)) {
    for (const k of ['whenDeleted', 'whenScaled']) {
      if (!RETENTION_POLICIES.includes(policy[k] as string)) {
        out.push(notSupported(`spec.persistentVolumeClaimRetentionPolicy.${k}`, policy[k] ?? '', RETENTION_POLICIES));
      }
    }
  }

  out.push(...nonNegativeFields(spec, 'spec', ['replicas', 'minReadySeconds', 'revisionHistoryLimit']));
  if (isRecord(spec.ordinals)) out.push(...validateNonnegative(spec.ordinals.start, 'spec.ordinals.start'));

  const serviceName = spec.serviceName;
  if (serviceName !== undefined && serviceName !== null && serviceName !== '') {
    if (typeof serviceName !== 'string') out.push(invalid('spec.serviceName', serviceName, 'must be a string'));
    else out.push(...validateDNS1123LabelField(serviceName, 'spec.serviceName'));
  }

  // Claim templates: each valid, names unique; they become pod volumes of the same name.
  const templates = spec.volumeClaimTemplates;
  const extraVolumes: Obj[] = [];
  if (templates !== undefined && templates !== null) {
    if (!Array.isArray(templates)) out.push(invalid('spec.volumeClaimTemplates', templates, 'must be a list'));
    else {
      const seen = new Set<string>();
      templates.forEach((t, i) => {
        const f = `spec.volumeClaimTemplates[${i}]`;
        out.push(...validateClaimTemplate(t, f));
        const name = asRecord(asRecord(t).metadata).name;
        if (typeof name === 'string' && name !== '') {
          if (seen.has(name)) out.push(duplicate(`${f}.metadata.name`, name));
          seen.add(name);
          if (validateDNS1123LabelField(name, 'x').length === 0) {
            extraVolumes.push({ name, persistentVolumeClaim: { claimName: name } });
          }
        }
      });
    }
  }

  out.push(...validateWorkloadSelectorAndTemplate(spec, 'statefulset', 'StatefulSet', extraVolumes));
  return out;
}

/** Paths (under base) where a and b differ, descending into objects only. */
function diffPaths(a: unknown, b: unknown, base: string, out: string[]): void {
  if (jsonEqual(a, b)) return;
  if (isRecord(a) && isRecord(b)) {
    const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
    for (const k of keys) {
      if (jsonEqual(a[k], b[k])) continue;
      if (a[k] === undefined || b[k] === undefined) out.push(`${base}.${k}`);
      else diffPaths(a[k], b[k], `${base}.${k}`, out);
    }
    return;
  }
  out.push(base);
}

function storageOf(t: unknown): unknown {
  return asRecord(asRecord(asRecord(asRecord(t).spec).resources).requests).storage;
}

/** A copy of a claim template with its storage request replaced by `storage`. */
function withStorage(t: unknown, storage: unknown): unknown {
  if (!isRecord(t) || !isRecord(t.spec)) return t;
  const spec = t.spec;
  const resources = asRecord(spec.resources);
  const requests: Obj = { ...asRecord(resources.requests) };
  if (storage === undefined) delete requests.storage;
  else requests.storage = storage;
  return { ...t, spec: { ...spec, resources: { ...resources, requests } } };
}

function showQuantity(v: unknown): string {
  const q = tryParseQuantity(v);
  return q ? formatQuantity(q) : String(v);
}

/**
 * kennel's volumeClaimTemplates update rule: the list keeps its length and every template
 * stays as it was, except that spec.resources.requests.storage may grow.
 */
export function volumeClaimTemplateUpdateCauses(newList: unknown, oldList: unknown): FieldCause[] {
  const n = asArray(newList);
  const o = asArray(oldList);
  const only = 'only spec.resources.requests.storage of an existing volumeClaimTemplate may change, and only upward';
  if (n.length !== o.length) {
    const verb = n.length > o.length ? 'added' : 'removed';
    return [forbidden('spec.volumeClaimTemplates', `volumeClaimTemplates may not be ${verb} (had ${o.length}, now ${n.length}); ${only}`)];
  }
  const out: FieldCause[] = [];
  n.forEach((nt, i) => {
    const ot = o[i];
    const base = `spec.volumeClaimTemplates[${i}]`;
    const ns = storageOf(nt);
    const os = storageOf(ot);
    const paths: string[] = [];
    diffPaths(withStorage(nt, os), ot, base, paths);
    for (const p of paths) out.push(forbidden(p, `field is immutable: ${only}`));
    if (jsonEqual(ns, os)) return;
    const qn = tryParseQuantity(ns);
    const qo = tryParseQuantity(os);
    if (!qn) return; // validate() reports a missing or malformed quantity
    if (!qo) {
      out.push(forbidden(`${base}.${STORAGE_PATH}`, `field is immutable: ${only}`));
      return;
    }
    if (compareQuantities(qn, qo) < 0) {
      out.push(forbidden(`${base}.${STORAGE_PATH}`, `storage can only be increased (was ${showQuantity(os)}, now ${showQuantity(ns)})`));
    }
  });
  return out;
}

function validateStatefulSetUpdate(obj: KubeObject, old: KubeObject): FieldCause[] {
  const spec = asRecord(obj.spec);
  const oldSpec = asRecord(old.spec);
  const masked: Obj = { ...spec };
  for (const f of [...MUTABLE_SPEC_FIELDS, 'volumeClaimTemplates']) {
    if (oldSpec[f] === undefined) delete masked[f];
    else masked[f] = oldSpec[f];
  }
  const out: FieldCause[] = [];
  if (!jsonEqual(masked, oldSpec)) out.push(forbidden('spec', STATEFULSET_SPEC_FORBIDDEN_MSG));
  out.push(...volumeClaimTemplateUpdateCauses(spec.volumeClaimTemplates, oldSpec.volumeClaimTemplates));
  return out;
}

function validateStatefulSetStatus(obj: KubeObject, old: KubeObject): FieldCause[] {
  const status = asRecord(obj.status);
  const out = nonNegativeFields(status, 'status', [
    'replicas',
    'readyReplicas',
    'currentReplicas',
    'updatedReplicas',
    'availableReplicas',
    'observedGeneration',
    'collisionCount',
  ]);
  const replicas = num(status.replicas);
  const msg = 'cannot be greater than status.replicas';
  for (const k of ['readyReplicas', 'currentReplicas', 'updatedReplicas', 'availableReplicas']) {
    if (num(status[k]) > replicas) out.push(invalid(`status.${k}`, num(status[k]), msg));
  }
  if (num(status.availableReplicas) > num(status.readyReplicas)) {
    out.push(invalid('status.availableReplicas', num(status.availableReplicas), 'cannot be greater than status.readyReplicas'));
  }
  out.push(...collisionCountCauses(status, asRecord(old.status)));
  return out;
}

export const statefulsets: ResourceDef = {
  group: 'apps',
  version: 'v1',
  kind: 'StatefulSet',
  listKind: 'StatefulSetList',
  plural: 'statefulsets',
  singular: 'statefulset',
  namespaced: true,
  shortNames: ['sts'],
  categories: ['all'],
  subresources: {
    status: true,
    scale: { specReplicasPath: 'spec.replicas', statusReplicasPath: 'status.replicas', labelSelectorPath: 'spec.selector' },
  },
  // Pods are named <set>-<ordinal> and must be DNS labels, so the set's name must be one too.
  nameRule: 'dns1123Label',
  modelName: 'V1StatefulSet',
  generationFields: ['spec'],
  defaults: defaultStatefulSet,
  prepareForCreate: prepareStatefulSetForCreate,
  validate: validateStatefulSet,
  validateUpdate: validateStatefulSetUpdate,
  validateStatus: validateStatefulSetStatus,
  columns: [
    {
      name: 'Ready',
      type: 'string',
      priority: 0,
      description: 'Number of the pod with ready state',
      cell: (o) => `${num(asRecord(o.status).readyReplicas)}/${num(asRecord(o.spec).replicas, 1)}`,
    },
    ageColumn(),
    ...containersColumns(),
  ],
};
