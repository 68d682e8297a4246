// PodSpec validation of container environment (env, envFrom) and of the downward API field
// selectors that env and downwardAPI volumes share.
import type { FieldCause } from './types.ts';
import {
  asArray,
  asRecord,
  configMapKeyErrors,
  dns1123SubdomainErrors,
  invalid,
  isRecord,
  notSupported,
  qualifiedNameErrors,
  required,
} from './validation.ts';
import { type Obj, present, str } from './podspec-common.ts';

const ENV_VAR_NAME_MSG = "a valid environment variable name must consist only of printable ASCII characters other than '='";

/** IsRelaxedEnvVarName (RelaxedEnvironmentVariableValidation is beta, on by default, in v1.32). */
function envVarNameErrors(name: string): string[] {
  for (const ch of name) {
    const c = ch.codePointAt(0) ?? 0;
    if (c < 32 || c > 126 || ch === '=') return [ENV_VAR_NAME_MSG];
  }
  return [];
}

const ENV_FIELD_PATHS = [
  'metadata.name', 'metadata.namespace', 'metadata.uid', 'spec.nodeName', 'spec.serviceAccountName',
  'status.hostIP', 'status.hostIPs', 'status.podIP', 'status.podIPs',
];
export const VOLUME_FIELD_PATHS = ['metadata.annotations', 'metadata.labels', 'metadata.name', 'metadata.namespace', 'metadata.uid'];
/** Field labels the v1 downward API conversion knows (ConvertDownwardAPIFieldLabel). */
const DOWNWARD_API_LABELS = [
  'metadata.annotations', 'metadata.labels', 'metadata.name', 'metadata.namespace', 'metadata.uid',
  'spec.nodeName', 'spec.restartPolicy', 'spec.serviceAccountName', 'spec.schedulerName', 'status.phase',
  'status.hostIP', 'status.hostIPs', 'status.podIP', 'status.podIPs',
];
const RESOURCE_FIELD_REFS = [
  'limits.cpu', 'limits.ephemeral-storage', 'limits.memory', 'requests.cpu', 'requests.ephemeral-storage', 'requests.memory',
];

export function validateObjectFieldSelector(fs: Obj, expressions: string[], field: string): FieldCause[] {
  const apiVersion = str(fs.apiVersion);
  const fieldPath = str(fs.fieldPath);
  if (!apiVersion) return [required(`${field}.apiVersion`)];
  if (!fieldPath) return [required(`${field}.fieldPath`)];
  const sub = /^([^[]+)\[(.*)\]$/.exec(fieldPath);
  if (apiVersion !== 'v1') {
    return [invalid(`${field}.fieldPath`, fieldPath, `error converting fieldPath: unsupported pod version: ${apiVersion}`)];
  }
  if (sub) {
    const path = sub[1];
    let key = sub[2];
    if (path !== 'metadata.annotations' && path !== 'metadata.labels') {
      return [invalid(`${field}.fieldPath`, fieldPath, `error converting fieldPath: field label does not support subscript: ${fieldPath}`)];
    }
    if (key.length >= 2 && key.startsWith("'") && key.endsWith("'")) key = key.slice(1, -1);
    const errs = path === 'metadata.labels' ? qualifiedNameErrors(key) : qualifiedNameErrors(key.toLowerCase());
    const shown = path === 'metadata.labels' ? key : key.toLowerCase();
    return errs.map((m) => invalid(field, shown, m));
  }
  if (!DOWNWARD_API_LABELS.includes(fieldPath)) {
    return [invalid(`${field}.fieldPath`, fieldPath, `error converting fieldPath: field label not supported: ${fieldPath}`)];
  }
  if (!expressions.includes(fieldPath)) return [notSupported(`${field}.fieldPath`, fieldPath, [...expressions].sort())];
  return [];
}

export function validateResourceFieldSelector(fs: Obj, field: string, volume: boolean): FieldCause[] {
  const res = str(fs.resource);
  if (volume && !str(fs.containerName)) return [required(`${field}.containerName`)];
  if (!res) return [required(`${field}.resource`)];
  if (!RESOURCE_FIELD_REFS.includes(res) && !/^(limits|requests)\.hugepages-/.test(res)) {
    return [notSupported(`${field}.resource`, res, RESOURCE_FIELD_REFS)];
  }
  return [];
}

function validateKeySelector(sel: Obj, field: string): FieldCause[] {
  const out: FieldCause[] = [];
  for (const m of dns1123SubdomainErrors(str(sel.name))) out.push(invalid(`${field}.name`, str(sel.name), m));
  const key = str(sel.key);
  if (!key) out.push(required(`${field}.key`));
  else for (const m of configMapKeyErrors(key)) out.push(invalid(`${field}.key`, key, m));
  return out;
}

export function validateEnv(env: unknown, field: string): FieldCause[] {
  const out: FieldCause[] = [];
  asArray(env).forEach((e0, i) => {
    const e = asRecord(e0);
    const f = `${field}[${i}]`;
    const name = str(e.name);
    if (!name) out.push(required(`${f}.name`));
    else for (const m of envVarNameErrors(name)) out.push(invalid(`${f}.name`, name, m));
    if (!present(e.valueFrom)) return;
    const vf = asRecord(e.valueFrom);
    const vfPath = `${f}.valueFrom`;
    let n = 0;
    if (isRecord(vf.fieldRef)) {
      n++;
      out.push(...validateObjectFieldSelector(vf.fieldRef, ENV_FIELD_PATHS, `${vfPath}.fieldRef`));
    }
    if (isRecord(vf.resourceFieldRef)) {
      n++;
      out.push(...validateResourceFieldSelector(vf.resourceFieldRef, `${vfPath}.resourceFieldRef`, false));
    }
    if (isRecord(vf.configMapKeyRef)) {
      n++;
      out.push(...validateKeySelector(vf.configMapKeyRef, `${vfPath}.configMapKeyRef`));
    }
    if (isRecord(vf.secretKeyRef)) {
      n++;
      out.push(...validateKeySelector(vf.secretKeyRef, `${vfPath}.secretKeyRef`));
    }
    if (n === 0) out.push(invalid(vfPath, '', 'must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`'));
    else if (str(e.value) !== '') out.push(invalid(vfPath, '', 'may not be specified when `value` is not empty'));
    else if (n > 1) out.push(invalid(vfPath, '', 'may not have more than one field specified at a time'));
  });
  return out;
}

export function validateEnvFrom(envFrom: unknown, field: string): FieldCause[] {
  const out: FieldCause[] = [];
  asArray(envFrom).forEach((e0, i) => {
    const e = asRecord(e0);
    const f = `${field}[${i}]`;
    const prefix = str(e.prefix);
    if (prefix) for (const m of envVarNameErrors(prefix)) out.push(invalid(`${f}.prefix`, prefix, m));
    let n = 0;
    for (const key of ['configMapRef', 'secretRef']) {
      const ref = e[key];
      if (!isRecord(ref)) continue;
      n++;
      const name = str(ref.name);
      if (!name) out.push(required(`${f}.${key}.name`));
      else for (const m of dns1123SubdomainErrors(name)) out.push(invalid(`${f}.${key}.name`, name, m));
    }
    // Kubernetes reports these two on the list path, not the item.
    if (n === 0) out.push(invalid(field, '', 'must specify one of: `configMapRef` or `secretRef`'));
    else if (n > 1) out.push(invalid(field, '', 'may not have more than one field specified at a time'));
  });
  return out;
}
