// core/v1 ConfigMap: key and size validation, `immutable: true` semantics, NAME DATA AGE table.
import type { FieldCause, KubeObject, ResourceDef } from './types.ts';
import { age } from './printing.ts';
import { asRecord, configMapKeyErrors, forbidden, invalid, jsonEqual, tooLong } from './validation.ts';

const AGE_DESC = 'CreationTimestamp is a timestamp representing the server time when this object was created.';

/** Kubernetes' MaxSecretSize, which also bounds ConfigMaps: 1 MiB. */
export const MAX_CONFIG_SIZE = 1024 * 1024;

const BASE64_RE = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Decoded length of a base64 value, or -1 when it is not valid base64. */
export function base64DecodedLength(v: unknown): number {
  if (typeof v !== 'string' || !BASE64_RE.test(v)) return -1;
  return Buffer.from(v, 'base64').length;
}

export function validateConfigMap(obj: KubeObject): FieldCause[] {
  const out: FieldCause[] = [];
  const data = asRecord(obj.data);
  const binary = asRecord(obj.binaryData);
  let total = 0;
  for (const [key, value] of Object.entries(data)) {
    for (const m of configMapKeyErrors(key)) out.push(invalid(`data[${key}]`, key, m));
    if (Object.prototype.hasOwnProperty.call(binary, key)) out.push(invalid(`data[${key}]`, key, 'duplicate of key present in binaryData'));
    if (typeof value !== 'string') out.push(invalid(`data[${key}]`, value ?? null, 'must be a string'));
    else total += Buffer.byteLength(value, 'utf8');
  }
  for (const [key, value] of Object.entries(binary)) {
    for (const m of configMapKeyErrors(key)) out.push(invalid(`binaryData[${key}]`, key, m));
    const n = base64DecodedLength(value);
    if (n < 0) out.push(invalid(`binaryData[${key}]`, '<binary>', 'must be base64-encoded bytes'));
    else total += n;
  }
  // Kubernetes reports the size on the empty path: the whole object.
  if (total > MAX_CONFIG_SIZE) out.push(tooLong('', MAX_CONFIG_SIZE));
  return out;
}

/** ValidateConfigMapUpdate: nothing changes once `immutable: true` was set. */
export function validateConfigMapUpdate(obj: KubeObject, old: KubeObject): FieldCause[] {
  const out: FieldCause[] = [];
  if (old.immutable === true) {
    const msg = 'field is immutable when `immutable` is set';
    if (obj.immutable !== true) out.push(forbidden('immutable', msg));
    if (!jsonEqual(obj.data ?? {}, old.data ?? {})) out.push(forbidden('data', msg));
    if (!jsonEqual(obj.binaryData ?? {}, old.binaryData ?? {})) out.push(forbidden('binaryData', msg));
  }
  return out;
}

export const configmaps: ResourceDef = {
  group: '',
  version: 'v1',
  kind: 'ConfigMap',
  listKind: 'ConfigMapList',
  plural: 'configmaps',
  singular: 'configmap',
  namespaced: true,
  shortNames: ['cm'],
  nameRule: 'dns1123Subdomain',
  modelName: 'V1ConfigMap',
  generationFields: [],
  validate: validateConfigMap,
  validateUpdate: validateConfigMapUpdate,
  columns: [
    {
      name: 'Data',
      type: 'integer',
      priority: 0,
      description: 'Data contains the configuration data.',
      cell: (o) => Object.keys(asRecord(o.data)).length + Object.keys(asRecord(o.binaryData)).length,
    },
    { name: 'Age', type: 'string', priority: 0, description: AGE_DESC, cell: (o) => age(o.metadata.creationTimestamp) },
  ],
};
