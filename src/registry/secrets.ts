// core/v1 Secret: type Opaque by default, stringData folded into data, key/size/type-specific
// validation, immutable type and `immutable: true` semantics, NAME TYPE DATA AGE table.
import type { FieldCause, KubeObject, ResourceDef } from './types.ts';
import { age } from './printing.ts';
import { base64DecodedLength, MAX_CONFIG_SIZE } from './configmaps.ts';
import { asRecord, configMapKeyErrors, forbidden, invalid, isRecord, jsonEqual, required, tooLong, validateImmutable } from './validation.ts';

const str = (v: unknown): string => (typeof v === 'string' ? v : '');
const AGE_DESC = 'CreationTimestamp is a timestamp representing the server time when this object was created.';

/** SetDefaults_Secret plus the v1 conversion of stringData (write-only) into base64 data. */
export function defaultSecret(obj: KubeObject): void {
  if (!str(obj.type)) obj.type = 'Opaque';
  if (isRecord(obj.stringData)) {
    const data: Record<string, unknown> = { ...asRecord(obj.data) };
    for (const [k, v] of Object.entries(obj.stringData)) {
      if (typeof v === 'string') data[k] = Buffer.from(v, 'utf8').toString('base64');
    }
    obj.data = data;
  }
  delete obj.stringData;
}

function decoded(data: Record<string, unknown>, key: string): Buffer | undefined {
  const v = data[key];
  return typeof v === 'string' && base64DecodedLength(v) >= 0 ? Buffer.from(v, 'base64') : undefined;
}

/** ValidateSecret. */
export function validateSecret(obj: KubeObject): FieldCause[] {
  const out: FieldCause[] = [];
  const data = asRecord(obj.data);
  let total = 0;
  for (const [key, value] of Object.entries(data)) {
    for (const m of configMapKeyErrors(key)) out.push(invalid(`data[${key}]`, key, m));
    const n = base64DecodedLength(value);
    if (n < 0) out.push(invalid(`data[${key}]`, '<secret contents redacted>', 'must be base64-encoded bytes'));
    else total += n;
  }
  if (total > MAX_CONFIG_SIZE) out.push(tooLong('data', MAX_CONFIG_SIZE));
  const has = (k: string): boolean => Object.prototype.hasOwnProperty.call(data, k);
  const jsonKey = (k: string): void => {
    if (!has(k)) {
      out.push(required(`data[${k}]`));
      return;
    }
    const buf = decoded(data, k);
    if (!buf) return;
    try {
      const parsed: unknown = JSON.parse(buf.toString('utf8'));
      if (!isRecord(parsed)) throw new Error('json: cannot unmarshal into Go value of type map[string]interface {}');
    } catch (e) {
      out.push(invalid(`data[${k}]`, '<secret contents redacted>', e instanceof Error ? e.message : String(e)));
    }
  };
  switch (str(obj.type)) {
    case 'kubernetes.io/service-account-token':
      if (!str(obj.metadata.annotations?.['kubernetes.io/service-account.name'])) {
        out.push(required('metadata.annotations[kubernetes.io/service-account.name]'));
      }
      break;
    case 'kubernetes.io/dockercfg':
      jsonKey('.dockercfg');
      break;
    case 'kubernetes.io/dockerconfigjson':
      jsonKey('.dockerconfigjson');
      break;
    case 'kubernetes.io/basic-auth':
      if (!has('username') && !has('password')) {
        out.push(required('data[username]'));
        out.push(required('data[password]'));
      }
      break;
    case 'kubernetes.io/ssh-auth':
      if ((decoded(data, 'ssh-privatekey')?.length ?? 0) === 0) out.push(required('data[ssh-privatekey]'));
      break;
    case 'kubernetes.io/tls':
      if (!has('tls.crt')) out.push(required('data[tls.crt]'));
      if (!has('tls.key')) out.push(required('data[tls.key]'));
      break;
    default:
      break;
  }
  return out;
}

/** ValidateSecretUpdate: the type never changes; nothing changes once `immutable: true`. */
export function validateSecretUpdate(obj: KubeObject, old: KubeObject): FieldCause[] {
  const out = validateImmutable(str(obj.type), str(old.type), 'type');
  if (old.immutable === true) {
    const msg = 'field is immutable when `immutable` is set';
    if (obj.immutable !== true) out.push(forbidden('immutable', msg));
    if (!jsonEqual(obj.data ?? {}, old.data ?? {})) out.push(forbidden('data', msg));
  }
  return out;
}

export const secrets: ResourceDef = {
  group: '',
  version: 'v1',
  kind: 'Secret',
  listKind: 'SecretList',
  plural: 'secrets',
  singular: 'secret',
  namespaced: true,
  nameRule: 'dns1123Subdomain',
  modelName: 'V1Secret',
  generationFields: [],
  defaults: defaultSecret,
  validate: validateSecret,
  validateUpdate: validateSecretUpdate,
  columns: [
    { name: 'Type', type: 'string', priority: 0, description: 'Used to facilitate programmatic handling of secret data.', cell: (o) => str(o.type) },
    { name: 'Data', type: 'integer', priority: 0, description: 'Data contains the secret data.', cell: (o) => Object.keys(asRecord(o.data)).length },
    { name: 'Age', type: 'string', priority: 0, description: AGE_DESC, cell: (o) => age(o.metadata.creationTimestamp) },
  ],
  fieldSelectors: {
    type: (o) => str(o.type),
  },
};
