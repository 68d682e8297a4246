// PodSpec defaulting and validation, shared by pods and every kind with a pod template
// (statefulsets, daemonsets, …). Follows Kubernetes v1.32: pkg/apis/core/v1/defaults.go for
// defaults and pkg/apis/core/validation ValidatePodSpec for validation (field paths and
// messages as the API server reports them).
//
// defaultPodSpec() is what Kubernetes applies to every PodSpec, templates included.
// defaultPodOnlySpec() adds what only a Pod gets (requests from limits, and what admission
// plugins add on pod create: serviceAccountName, default not-ready/unreachable tolerations,
// priority and preemptionPolicy).
import type { FieldCause } from './types.ts';
import {
  asArray,
  asRecord,
  configMapKeyErrors,
  dns1123SubdomainErrors,
  duplicate,
  forbidden,
  inclusiveRangeError,
  invalid,
  isIP,
  isRecord,
  jsonEqual,
  labelValueErrors,
  notFound,
  notSupported,
  portNameErrors,
  portNumErrors,
  qualifiedNameErrors,
  required,
  requiredDetail,
  tooLong,
  validateDNS1123LabelField,
  validateDNS1123SubdomainField,
  validateLabels,
  validateLabelSelector,
  validateNonnegative,
  validateQualifiedNameField,
  INVALID_IP_MSG,
} from './validation.ts';
import {
  canonicalizeResourceList,
  compareQuantities,
  formatQuantity,
  parseQuantity,
  QUANTITY_FORMAT_ERROR,
  QuantityError,
  type Quantity,
} from './quantity.ts';

type Obj = Record<string, unknown>;

const MAX_INT32 = 2147483647;

// ---------------------------------------------------------------------------------------------
// Defaults
// ---------------------------------------------------------------------------------------------

function setIfAbsent(o: Obj, key: string, value: unknown): void {
  if (o[key] === undefined || o[key] === null || o[key] === '') o[key] = value;
}

/** The tag parsers.ParseImageName finds: 'latest' when neither tag nor digest is given. */
export function imageTag(image: string): string {
  let name = image;
  let digest = '';
  const at = name.indexOf('@');
  if (at >= 0) {
    digest = name.slice(at + 1);
    name = name.slice(0, at);
  }
  const slash = name.lastIndexOf('/');
  const colon = name.lastIndexOf(':');
  if (colon > slash) return name.slice(colon + 1);
  return digest ? '' : 'latest';
}

/** Default pull policy for an image: Always for `:latest` or no tag, else IfNotPresent. */
export function defaultPullPolicy(image: unknown): string {
  if (typeof image !== 'string' || image.trim() === '') return 'IfNotPresent';
  return imageTag(image) === 'latest' ? 'Always' : 'IfNotPresent';
}

function defaultHTTPGet(h: unknown): void {
  if (!isRecord(h)) return;
  setIfAbsent(h, 'path', '/');
  setIfAbsent(h, 'scheme', 'HTTP');
}

function defaultHandler(h: unknown): void {
  if (!isRecord(h)) return;
  defaultHTTPGet(h.httpGet);
}

function defaultProbe(p: unknown): void {
  if (!isRecord(p)) return;
  // Kubernetes treats 0 as unset for these.
  for (const [k, v] of [['timeoutSeconds', 1], ['periodSeconds', 10], ['successThreshold', 1], ['failureThreshold', 3]] as const) {
    if (p[k] === undefined || p[k] === null || p[k] === 0) p[k] = v;
  }
  defaultHTTPGet(p.httpGet);
  if (isRecord(p.grpc) && p.grpc.service === undefined) p.grpc.service = '';
}

function defaultEnv(env: unknown): void {
  for (const e of asArray(env)) {
    if (!isRecord(e) || !isRecord(e.valueFrom)) continue;
    const fr = e.valueFrom.fieldRef;
    if (isRecord(fr)) setIfAbsent(fr, 'apiVersion', 'v1');
    const rr = e.valueFrom.resourceFieldRef;
    if (isRecord(rr) && rr.divisor !== undefined) {
      const c = canonicalize(rr.divisor);
      if (c !== undefined) rr.divisor = c;
    }
  }
}

function canonicalize(v: unknown): string | undefined {
  if (typeof v !== 'string' && typeof v !== 'number') return undefined;
  try {
    return formatQuantity(parseQuantity(v));
  } catch {
    return undefined;
  }
}

function defaultContainer(c: unknown, hostNetwork: boolean): void {
  if (!isRecord(c)) return;
  setIfAbsent(c, 'imagePullPolicy', defaultPullPolicy(c.image));
  setIfAbsent(c, 'terminationMessagePath', '/dev/termination-log');
  setIfAbsent(c, 'terminationMessagePolicy', 'File');
  if (!isRecord(c.resources)) c.resources = {};
  const res = c.resources as Obj;
  canonicalizeResourceList(res.limits);
  canonicalizeResourceList(res.requests);
  for (const p of asArray(c.ports)) {
    if (!isRecord(p)) continue;
    setIfAbsent(p, 'protocol', 'TCP');
    if (hostNetwork && (p.hostPort === undefined || p.hostPort === 0)) p.hostPort = p.containerPort;
  }
  defaultEnv(c.env);
  defaultProbe(c.livenessProbe);
  defaultProbe(c.readinessProbe);
  defaultProbe(c.startupProbe);
  if (isRecord(c.lifecycle)) {
    defaultHandler(c.lifecycle.postStart);
    defaultHandler(c.lifecycle.preStop);
  }
  for (const rp of asArray(c.resizePolicy)) if (isRecord(rp)) setIfAbsent(rp, 'restartPolicy', 'NotRequired');
}

/** Volume source fields, in the order Kubernetes checks them (the first one set wins). */
const VOLUME_SOURCES = [
  'emptyDir', 'hostPath', 'gitRepo', 'gcePersistentDisk', 'awsElasticBlockStore', 'secret', 'nfs', 'iscsi', 'glusterfs',
  'flocker', 'persistentVolumeClaim', 'rbd', 'cinder', 'cephfs', 'quobyte', 'downwardAPI', 'fc', 'flexVolume', 'configMap',
  'azureFile', 'vsphereVolume', 'photonPersistentDisk', 'portworxVolume', 'azureDisk', 'storageos', 'projected', 'scaleIO',
  'csi', 'ephemeral', 'image',
];
/** Kubernetes' own spelling of two of them in the "more than 1 volume type" error path. */
const VOLUME_SOURCE_ERROR_NAME: Record<string, string> = { downwardAPI: 'downwarAPI', cephfs: 'cephFS' };

function defaultDownwardAPIItems(items: unknown): void {
  for (const it of asArray(items)) {
    if (isRecord(it) && isRecord(it.fieldRef)) setIfAbsent(it.fieldRef, 'apiVersion', 'v1');
  }
}

function defaultVolume(v: unknown): void {
  if (!isRecord(v)) return;
  if (!VOLUME_SOURCES.some((s) => v[s] !== undefined && v[s] !== null)) v.emptyDir = {};
  if (isRecord(v.secret)) setIfAbsent(v.secret, 'defaultMode', 0o644);
  if (isRecord(v.configMap)) setIfAbsent(v.configMap, 'defaultMode', 0o644);
  if (isRecord(v.downwardAPI)) {
    setIfAbsent(v.downwardAPI, 'defaultMode', 0o644);
    defaultDownwardAPIItems(v.downwardAPI.items);
  }
  if (isRecord(v.projected)) {
    setIfAbsent(v.projected, 'defaultMode', 0o644);
    for (const src of asArray(v.projected.sources)) {
      if (!isRecord(src)) continue;
      if (isRecord(src.downwardAPI)) defaultDownwardAPIItems(src.downwardAPI.items);
      if (isRecord(src.serviceAccountToken)) setIfAbsent(src.serviceAccountToken, 'expirationSeconds', 3600);
    }
  }
  if (isRecord(v.hostPath) && v.hostPath.type === undefined) v.hostPath.type = '';
  if (isRecord(v.emptyDir) && v.emptyDir.sizeLimit !== undefined) {
    const c = canonicalize(v.emptyDir.sizeLimit);
    if (c !== undefined) v.emptyDir.sizeLimit = c;
  }
  if (isRecord(v.iscsi)) {
    setIfAbsent(v.iscsi, 'iscsiInterface', 'default');
  }
  if (isRecord(v.rbd)) {
    setIfAbsent(v.rbd, 'pool', 'rbd');
    setIfAbsent(v.rbd, 'user', 'admin');
    setIfAbsent(v.rbd, 'keyring', '/etc/ceph/keyring');
  }
  if (isRecord(v.azureDisk)) {
    setIfAbsent(v.azureDisk, 'cachingMode', 'ReadWrite');
    setIfAbsent(v.azureDisk, 'fsType', 'ext4');
    if (v.azureDisk.readOnly === undefined) v.azureDisk.readOnly = false;
    setIfAbsent(v.azureDisk, 'kind', 'Shared');
  }
  if (isRecord(v.scaleIO)) {
    setIfAbsent(v.scaleIO, 'storageMode', 'ThinProvisioned');
    setIfAbsent(v.scaleIO, 'fsType', 'xfs');
  }
  if (isRecord(v.ephemeral) && isRecord(v.ephemeral.volumeClaimTemplate) && isRecord(v.ephemeral.volumeClaimTemplate.spec)) {
    setIfAbsent(v.ephemeral.volumeClaimTemplate.spec, 'volumeMode', 'Filesystem');
  }
}

/**
 * Kubernetes' defaults for any PodSpec (SetDefaults_PodSpec, _Container, _Volume, _Probe, …),
 * applied in place. Templates in workloads get exactly these.
 */
export function defaultPodSpec(spec: Record<string, unknown>): void {
  setIfAbsent(spec, 'dnsPolicy', 'ClusterFirst');
  setIfAbsent(spec, 'restartPolicy', 'Always');
  if (!isRecord(spec.securityContext)) spec.securityContext = {};
  if (spec.terminationGracePeriodSeconds === undefined || spec.terminationGracePeriodSeconds === null) {
    spec.terminationGracePeriodSeconds = 30;
  }
  setIfAbsent(spec, 'schedulerName', 'default-scheduler');
  if (spec.enableServiceLinks === undefined || spec.enableServiceLinks === null) spec.enableServiceLinks = true;
  // The deprecated serviceAccount field mirrors serviceAccountName (v1 conversion).
  if (!spec.serviceAccountName && typeof spec.serviceAccount === 'string' && spec.serviceAccount) {
    spec.serviceAccountName = spec.serviceAccount;
  }
  if (typeof spec.serviceAccountName === 'string' && spec.serviceAccountName) spec.serviceAccount = spec.serviceAccountName;
  const hostNetwork = spec.hostNetwork === true;
  for (const c of asArray(spec.containers)) defaultContainer(c, hostNetwork);
  for (const c of asArray(spec.initContainers)) defaultContainer(c, hostNetwork);
  for (const c of asArray(spec.ephemeralContainers)) defaultContainer(c, false);
  for (const v of asArray(spec.volumes)) defaultVolume(v);
  canonicalizeResourceList(spec.overhead);
  if (isRecord(spec.resources)) {
    canonicalizeResourceList(spec.resources.limits);
    canonicalizeResourceList(spec.resources.requests);
  }
}

/** Whether the tolerations already tolerate a NoExecute taint with this key. */
function toleratesNoExecute(tolerations: unknown[], key: string): boolean {
  return tolerations.some((t) => {
    if (!isRecord(t)) return false;
    const effect = t.effect ?? '';
    if (effect !== '' && effect !== 'NoExecute') return false;
    if (t.operator === 'Exists' && (t.key ?? '') === '') return true;
    return t.key === key;
  });
}

/**
 * What a Pod (not a template) gets on top of defaultPodSpec(): requests defaulted from limits
 * (SetDefaults_Pod), serviceAccountName `default` (ServiceAccount admission), the not-ready and
 * unreachable NoExecute tolerations for 300 s (DefaultTolerationSeconds admission), and priority 0
 * with preemptionPolicy PreemptLowerPriority (Priority admission).
 */
export function defaultPodOnlySpec(spec: Record<string, unknown>): void {
  for (const list of [spec.containers, spec.initContainers]) {
    for (const c of asArray(list)) {
      if (!isRecord(c) || !isRecord(c.resources) || !isRecord(c.resources.limits)) continue;
      const res = c.resources;
      const limits = res.limits as Obj;
      if (!isRecord(res.requests)) res.requests = {};
      const requests = res.requests as Obj;
      for (const [k, v] of Object.entries(limits)) if (requests[k] === undefined) requests[k] = v;
    }
  }
  setIfAbsent(spec, 'serviceAccountName', typeof spec.serviceAccount === 'string' && spec.serviceAccount ? spec.serviceAccount : 'default');
  spec.serviceAccount = spec.serviceAccountName;
  const tolerations = Array.isArray(spec.tolerations) ? spec.tolerations : [];
  const add: Obj[] = [];
  for (const key of ['node.kubernetes.io/not-ready', 'node.kubernetes.io/unreachable']) {
    if (!toleratesNoExecute(tolerations, key)) {
      add.push({ key, operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 });
    }
  }
  if (add.length > 0) spec.tolerations = [...tolerations, ...add];
  if (spec.priority === undefined || spec.priority === null) spec.priority = 0;
  setIfAbsent(spec, 'preemptionPolicy', 'PreemptLowerPriority');
}

// ---------------------------------------------------------------------------------------------
// Validation
// ---------------------------------------------------------------------------------------------

const str = (v: unknown): string => (typeof v === 'string' ? v : v === undefined || v === null ? '' : String(v));
const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v);
const present = (v: unknown): boolean => v !== undefined && v !== null;

export interface PodSpecValidationOptions {
  /** The spec belongs to a Pod (not a template): stricter hostNetwork port and image rules. */
  isPod?: boolean;
}

const ENV_VAR_NAME_MSG = "a valid environment variable name must consist only of printable ASCII characters other than '='";

/** IsRelaxedEnvVarName (RelaxedEnvironmentVariableValidation is beta, on by default, in v1.32). */
function envVarNameErrors(name: string): string[] {
  for (const ch of name) {
    const c = ch.codePointAt(0) ?? 0;
    if (c < 32 || c > 126 || ch === '=') return [ENV_VAR_NAME_MSG];
  }
  return [];
}

const PORT_PROTOCOLS = ['SCTP', 'TCP', 'UDP'];

/** ValidatePortNumOrName: a port number (1–65535) or an IANA service name. */
export function validatePortNumOrName(port: unknown, field: string): FieldCause[] {
  if (typeof port === 'number') return portNumErrors(port).map((m) => invalid(field, port, m));
  if (typeof port === 'string') return portNameErrors(port).map((m) => invalid(field, port, m));
  return portNumErrors(0).map((m) => invalid(field, 0, m));
}

function validateContainerPorts(ports: unknown, field: string): FieldCause[] {
  const out: FieldCause[] = [];
  const names = new Set<string>();
  asArray(ports).forEach((p0, i) => {
    const p = asRecord(p0);
    const f = `${field}[${i}]`;
    const name = str(p.name);
    if (name) {
      const errs = portNameErrors(name);
      if (errs.length) for (const m of errs) out.push(invalid(`${f}.name`, name, m));
      else if (names.has(name)) out.push(duplicate(`${f}.name`, name));
      else names.add(name);
    }
    if (!present(p.containerPort) || p.containerPort === 0) out.push(required(`${f}.containerPort`));
    else for (const m of portNumErrors(p.containerPort)) out.push(invalid(`${f}.containerPort`, p.containerPort, m));
    if (present(p.hostPort) && p.hostPort !== 0) {
      for (const m of portNumErrors(p.hostPort)) out.push(invalid(`${f}.hostPort`, p.hostPort, m));
    }
    const proto = str(p.protocol);
    if (!proto) out.push(required(`${f}.protocol`));
    else if (!PORT_PROTOCOLS.includes(proto)) out.push(notSupported(`${f}.protocol`, proto, PORT_PROTOCOLS));
  });
  return out;
}

const ENV_FIELD_PATHS = [
  'metadata.name', 'metadata.namespace', 'metadata.uid', 'spec.nodeName', 'spec.serviceAccountName',
  'status.hostIP', 'status.hostIPs', 'status.podIP', 'status.podIPs',
];
const VOLUME_FIELD_PATHS = ['metadata.annotations', 'metadata.labels', 'metadata.name', 'metadata.namespace', 'metadata.uid'];
/** Field labels the v1 downward API conversion knows (ConvertDownwardAPIFieldLabel). */
const DOWNWARD_API_LABELS = [
  'metadata.annotations', 'metadata.labels', 'metadata.name', 'metadata.namespace', 'metadata.uid',
  'spec.nodeName', 'spec.restartPolicy', 'spec.serviceAccountName', 'spec.schedulerName', 'status.phase',
  'status.hostIP', 'status.hostIPs', 'status.podIP', 'status.podIPs',
];
const RESOURCE_FIELD_REFS = [
  'limits.cpu', 'limits.ephemeral-storage', 'limits.memory', 'requests.cpu', 'requests.ephemeral-storage', 'requests.memory',
];

function validateObjectFieldSelector(fs: Obj, expressions: string[], field: string): FieldCause[] {
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

function validateResourceFieldSelector(fs: Obj, field: string, volume: boolean): FieldCause[] {
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

function validateEnv(env: unknown, field: string): FieldCause[] {
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

function validateEnvFrom(envFrom: unknown, field: string): FieldCause[] {
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

function pathNoBacksteps(p: string, field: string): FieldCause[] {
  return p.replace(/\\/g, '/').split('/').includes('..') ? [invalid(field, p, "must not contain '..'")] : [];
}

/** validateLocalDescendingPath: relative, no '..' element. */
function localDescendingPathErrors(p: string, field: string): FieldCause[] {
  const out: FieldCause[] = [];
  if (p.startsWith('/')) out.push(invalid(field, p, 'must be a relative path'));
  out.push(...pathNoBacksteps(p, field));
  return out;
}

/** ValidateLocalNonReservedPath: a local descending path that does not start with '..'. */
function localNonReservedPathErrors(p: string, field: string): FieldCause[] {
  const out = localDescendingPathErrors(p, field);
  if (p.startsWith('..') && !p.startsWith('../')) out.push(invalid(field, p, "must not start with '..'"));
  return out;
}

function validateVolumeMounts(mounts: unknown, devices: unknown, volumes: Map<string, Obj>, container: Obj, field: string): FieldCause[] {
  const out: FieldCause[] = [];
  const points = new Set<string>();
  const devMap = new Map<string, string>();
  for (const d of asArray(devices)) devMap.set(str(asRecord(d).name), str(asRecord(d).devicePath));
  const privileged = asRecord(container.securityContext).privileged === true;
  asArray(mounts).forEach((m0, i) => {
    const m = asRecord(m0);
    const f = `${field}[${i}]`;
    const name = str(m.name);
    if (!name) out.push(required(`${f}.name`));
    if (!volumes.has(name)) out.push(notFound(`${f}.name`, name));
    const mp = str(m.mountPath);
    if (!mp) out.push(required(`${f}.mountPath`));
    if (points.has(mp)) out.push(invalid(`${f}.mountPath`, mp, 'must be unique'));
    points.add(mp);
    if (devMap.has(name)) out.push(invalid(`${f}.name`, name, 'must not already exist in volumeDevices'));
    if ([...devMap.values()].includes(mp)) out.push(invalid(`${f}.mountPath`, mp, 'must not already exist as a path in volumeDevices'));
    const subPath = str(m.subPath);
    const subPathExpr = str(m.subPathExpr);
    if (isRecord(volumes.get(name)?.image)) {
      if (subPath) out.push(invalid(`${f}.subPath`, subPath, 'not allowed in image volume sources'));
      if (subPathExpr) out.push(invalid(`${f}.subPathExpr`, subPathExpr, 'not allowed in image volume sources'));
    }
    // Kubernetes reports the following on the list path (volumeMounts.subPath, …), not the item.
    if (subPath) out.push(...localDescendingPathErrors(subPath, `${field}.subPath`));
    if (subPathExpr) {
      if (subPath) out.push(invalid(`${f}.subPathExpr`, subPathExpr, 'subPathExpr and subPath are mutually exclusive'));
      out.push(...localDescendingPathErrors(subPathExpr, `${field}.subPathExpr`));
    }
    if (present(m.mountPropagation)) {
      const mpv = str(m.mountPropagation);
      const supported = ['Bidirectional', 'HostToContainer', 'None'];
      if (!supported.includes(mpv)) out.push(notSupported(`${field}.mountPropagation`, mpv, supported));
      if (mpv === 'Bidirectional' && !privileged) {
        out.push(forbidden(`${field}.mountPropagation`, 'Bidirectional mount propagation is available only to privileged containers'));
      }
    }
    if (present(m.recursiveReadOnly)) {
      const rro = str(m.recursiveReadOnly);
      const rf = `${field}.recursiveReadOnly`;
      if (rro === 'Enabled' || rro === 'IfPossible') {
        if (m.readOnly !== true) out.push(forbidden(rf, 'may only be specified when readOnly is true'));
        if (present(m.mountPropagation) && m.mountPropagation !== 'None') {
          out.push(forbidden(rf, 'may only be specified when mountPropagation is None or not specified'));
        }
      } else if (rro !== 'Disabled') out.push(notSupported(rf, rro, ['Disabled', 'Enabled', 'IfPossible']));
    }
  });
  return out;
}

function validateVolumeDevices(devices: unknown, mounts: unknown, volumes: Map<string, Obj>, field: string): FieldCause[] {
  const out: FieldCause[] = [];
  const mountMap = new Map<string, string>();
  for (const m of asArray(mounts)) mountMap.set(str(asRecord(m).name), str(asRecord(m).mountPath));
  const paths = new Set<string>();
  const names = new Set<string>();
  asArray(devices).forEach((d0, i) => {
    const d = asRecord(d0);
    const f = `${field}[${i}]`;
    const name = str(d.name);
    const path = str(d.devicePath);
    const vol = volumes.get(name);
    if (!name) out.push(required(`${f}.name`));
    if (names.has(name)) out.push(invalid(`${f}.name`, name, 'must be unique'));
    if (vol && !isRecord(vol.persistentVolumeClaim) && !isRecord(vol.ephemeral)) {
      out.push(invalid(`${f}.name`, name, 'can only use volume source type of PersistentVolumeClaim or Ephemeral for block mode'));
    }
    if (!vol) out.push(notFound(`${f}.name`, name));
    if (!path) out.push(required(`${f}.devicePath`));
    if (paths.has(path)) out.push(invalid(`${f}.devicePath`, path, 'must be unique'));
    if (path && pathNoBacksteps(path, f).length) out.push(invalid(`${f}.devicePath`, path, "can not contain backsteps ('..')"));
    else paths.add(path);
    if (mountMap.has(name)) out.push(invalid(`${f}.name`, name, 'must not already exist in volumeMounts'));
    if ([...mountMap.values()].includes(path)) out.push(invalid(`${f}.devicePath`, path, 'must not already exist as a path in volumeMounts'));
    if (name) names.add(name);
  });
  return out;
}

const PULL_POLICIES = ['Always', 'IfNotPresent', 'Never'];

function validatePullPolicy(policy: unknown, field: string): FieldCause[] {
  const p = str(policy);
  if (!p) return [required(field)];
  return PULL_POLICIES.includes(p) ? [] : [notSupported(field, p, PULL_POLICIES)];
}

// Resource names ---------------------------------------------------------------------------

const STANDARD_CONTAINER_RESOURCES = ['cpu', 'memory', 'ephemeral-storage'];
const STANDARD_RESOURCES = [
  'cpu', 'memory', 'ephemeral-storage', 'storage', 'pods', 'services', 'replicationcontrollers', 'resourcequotas',
  'secrets', 'configmaps', 'persistentvolumeclaims', 'services.nodeports', 'services.loadbalancers',
  'requests.cpu', 'requests.memory', 'requests.storage', 'requests.ephemeral-storage',
  'limits.cpu', 'limits.memory', 'limits.ephemeral-storage',
];
const isHugePages = (n: string): boolean => n.startsWith('hugepages-');
const isStandardResourceName = (n: string): boolean =>
  STANDARD_RESOURCES.includes(n) || isHugePages(n) || n.startsWith('requests.hugepages-') || n.startsWith('limits.hugepages-');

/** Resources in the kubernetes.io namespace (or without a prefix) are native. */
export function isNativeResource(name: string): boolean {
  return !name.includes('/') || name.includes('kubernetes.io/');
}

/** Extended resources: fully qualified, outside kubernetes.io, not prefixed `requests.`. */
export function isExtendedResourceName(name: string): boolean {
  if (isNativeResource(name) || name.startsWith('requests.')) return false;
  return qualifiedNameErrors(`requests.${name}`).length === 0;
}

/** validateResourceName: a qualified name, standard when unprefixed. */
export function validateResourceName(name: string, field: string): FieldCause[] {
  const out = validateQualifiedNameField(name, field);
  if (out.length) return out;
  if (!name.includes('/') && !isStandardResourceName(name)) {
    out.push(invalid(field, name, 'must be a standard resource type or fully qualified'));
  }
  return out;
}

function validateContainerResourceName(name: string, field: string): FieldCause[] {
  const out = validateResourceName(name, field);
  if (!name.includes('/')) {
    if (!STANDARD_CONTAINER_RESOURCES.includes(name) && !isHugePages(name)) {
      out.push(invalid(field, name, 'must be a standard resource for containers'));
    }
  } else if (!isNativeResource(name) && !isExtendedResourceName(name)) {
    out.push(invalid(field, name, "doesn't follow extended resource name standard"));
  }
  return out;
}

/** Requests may be below limits for native resources other than hugepages. */
function isOvercommitAllowed(name: string): boolean {
  return isNativeResource(name) && !isHugePages(name);
}

/**
 * Parse a quantity field. Pushes an Invalid cause for a malformed value (Kubernetes fails the
 * decode with 400 there; we report it as a field cause) and, unless `allowNegative`, for a
 * negative one. `integer` adds the "must be an integer" rule of integer resources.
 */
export function validateQuantityField(v: unknown, field: string, out: FieldCause[], integer = false): Quantity | undefined {
  if (typeof v !== 'string' && typeof v !== 'number') {
    out.push(invalid(field, v ?? null, QUANTITY_FORMAT_ERROR));
    return undefined;
  }
  let q: Quantity;
  try {
    q = parseQuantity(v);
  } catch (e) {
    out.push(invalid(field, v, e instanceof QuantityError ? e.message : String(e)));
    return undefined;
  }
  if (q.nanos < 0n) out.push(invalid(field, formatQuantity(q), 'must be greater than or equal to 0'));
  if (integer && q.nanos % 1_000_000_000n !== 0n) out.push(invalid(field, formatQuantity(q), 'must be an integer'));
  return q;
}

/** ValidateContainerResourceRequirements (limits/requests of a container, or pod overhead). */
export function validateResourceRequirements(res: unknown, field: string): FieldCause[] {
  const out: FieldCause[] = [];
  if (!present(res)) return out;
  const r = asRecord(res);
  const limPath = `${field}.limits`;
  const reqPath = `${field}.requests`;
  const limits = new Map<string, Quantity>();
  const limitsRaw = asRecord(r.limits);
  let cpuMem = false;
  let huge = false;
  for (const [name, v] of Object.entries(limitsRaw)) {
    const f = `${limPath}[${name}]`;
    out.push(...validateContainerResourceName(name, f));
    const q = validateQuantityField(v, f, out, isExtendedResourceName(name));
    if (q) limits.set(name, q);
    if (isHugePages(name)) huge = true;
    if (name === 'cpu' || name === 'memory') cpuMem = true;
  }
  for (const [name, v] of Object.entries(asRecord(r.requests))) {
    const f = `${reqPath}[${name}]`;
    out.push(...validateContainerResourceName(name, f));
    const q = validateQuantityField(v, f, out, isExtendedResourceName(name));
    if (isHugePages(name)) huge = true;
    if (name === 'cpu' || name === 'memory') cpuMem = true;
    if (!q) continue;
    const lim = limits.get(name);
    if (lim) {
      if (compareQuantities(q, lim) !== 0 && !isOvercommitAllowed(name)) {
        out.push(invalid(reqPath, formatQuantity(q), `must be equal to ${name} limit of ${formatQuantity(lim)}`));
      } else if (compareQuantities(q, lim) > 0) {
        out.push(invalid(reqPath, formatQuantity(q), `must be less than or equal to ${name} limit of ${formatQuantity(lim)}`));
      }
    } else if (!isOvercommitAllowed(name) && !(name in limitsRaw)) {
      out.push(requiredDetail(limPath, 'Limit must be set for non overcommitable resources'));
    }
  }
  if (huge && !cpuMem) out.push(forbidden(field, 'HugePages require cpu or memory'));
  return out;
}

// Probes and handlers ----------------------------------------------------------------------

const HTTP_HEADER_NAME_MSG =
  "a valid HTTP header must consist of alphanumeric characters or '-' (e.g. 'X-Header-Name', regex used for validation is '[-A-Za-z0-9]+')";

function validateHTTPGet(h: Obj, field: string): FieldCause[] {
  const out: FieldCause[] = [];
  if (!str(h.path)) out.push(required(`${field}.path`));
  out.push(...validatePortNumOrName(h.port, `${field}.port`));
  const scheme = str(h.scheme);
  if (scheme !== 'HTTP' && scheme !== 'HTTPS') out.push(notSupported(`${field}.scheme`, scheme, ['HTTP', 'HTTPS']));
  for (const hd of asArray(h.httpHeaders)) {
    const name = str(asRecord(hd).name);
    if (!/^[-A-Za-z0-9]+$/.test(name)) out.push(invalid(`${field}.httpHeaders`, name, HTTP_HEADER_NAME_MSG));
  }
  return out;
}

/** validateHandler: exactly one of exec, httpGet, tcpSocket, grpc (probes) or sleep (hooks). */
function validateHandler(h: Obj, field: string, kinds: string[], gracePeriod: number | undefined): FieldCause[] {
  const out: FieldCause[] = [];
  let n = 0;
  for (const kind of kinds) {
    const v = h[kind];
    if (!present(v)) continue;
    const f = `${field}.${kind}`;
    if (n > 0) {
      out.push(forbidden(f, 'may not specify more than 1 handler type'));
      continue;
    }
    n++;
    const r = asRecord(v);
    switch (kind) {
      case 'exec':
        if (asArray(r.command).length === 0) out.push(required(`${f}.command`));
        break;
      case 'httpGet':
        out.push(...validateHTTPGet(r, f));
        break;
      case 'tcpSocket':
        out.push(...validatePortNumOrName(r.port, `${f}.port`));
        break;
      case 'grpc':
        out.push(...validatePortNumOrName(isInt(r.port) ? r.port : 0, `${f}.port`));
        break;
      case 'sleep': {
        const s = isInt(r.seconds) ? r.seconds : 0;
        if (gracePeriod !== undefined && (s <= 0 || s > gracePeriod)) {
          out.push(invalid(f, s, `must be greater than 0 and less than terminationGracePeriodSeconds (${gracePeriod}). Enable AllowPodLifecycleSleepActionZeroValue feature gate for zero sleep.`));
        }
        break;
      }
    }
  }
  if (n === 0) out.push(requiredDetail(field, 'must specify a handler type'));
  return out;
}

const PROBE_HANDLERS = ['exec', 'httpGet', 'tcpSocket', 'grpc'];
const LIFECYCLE_HANDLERS = ['exec', 'httpGet', 'tcpSocket', 'sleep'];

function validateProbe(p: unknown, field: string, kind: 'liveness' | 'readiness' | 'startup'): FieldCause[] {
  if (!present(p)) return [];
  const probe = asRecord(p);
  const out = validateHandler(probe, field, PROBE_HANDLERS, undefined);
  for (const k of ['initialDelaySeconds', 'timeoutSeconds', 'periodSeconds', 'successThreshold', 'failureThreshold']) {
    out.push(...validateNonnegative(probe[k], `${field}.${k}`));
  }
  const tgp = probe.terminationGracePeriodSeconds;
  if (present(tgp) && (!isInt(tgp) || tgp <= 0)) out.push(invalid(`${field}.terminationGracePeriodSeconds`, tgp, 'must be greater than 0'));
  if (kind === 'readiness') {
    if (present(tgp)) out.push(invalid(`${field}.terminationGracePeriodSeconds`, tgp, 'must not be set for readinessProbes'));
  } else if ((isInt(probe.successThreshold) ? probe.successThreshold : 0) !== 1) {
    out.push(invalid(`${field}.successThreshold`, isInt(probe.successThreshold) ? probe.successThreshold : 0, 'must be 1'));
  }
  return out;
}

function validateLifecycle(l: unknown, field: string, gracePeriod: number | undefined): FieldCause[] {
  const out: FieldCause[] = [];
  const lc = asRecord(l);
  for (const hook of ['postStart', 'preStop']) {
    if (present(lc[hook])) out.push(...validateHandler(asRecord(lc[hook]), `${field}.${hook}`, LIFECYCLE_HANDLERS, gracePeriod));
  }
  return out;
}

// Security context -------------------------------------------------------------------------

function validateIdRange(v: unknown, field: string): FieldCause[] {
  if (!present(v)) return [];
  if (!isInt(v) || v < 0 || v > MAX_INT32) return [invalid(field, v, inclusiveRangeError(0, MAX_INT32))];
  return [];
}

function validateSeccompProfile(sp: unknown, field: string): FieldCause[] {
  if (!present(sp)) return [];
  const p = asRecord(sp);
  const t = str(p.type);
  const out: FieldCause[] = [];
  if (!t) out.push(requiredDetail(`${field}.type`, 'type is required when seccompProfile is set'));
  else if (!['Localhost', 'RuntimeDefault', 'Unconfined'].includes(t)) out.push(notSupported(`${field}.type`, t, ['Localhost', 'RuntimeDefault', 'Unconfined']));
  if (t === 'Localhost') {
    if (!present(p.localhostProfile)) out.push(requiredDetail(`${field}.localhostProfile`, 'must be set when seccomp type is Localhost'));
    else out.push(...localDescendingPathErrors(str(p.localhostProfile), `${field}.localhostProfile`));
  } else if (present(p.localhostProfile)) {
    out.push(invalid(`${field}.localhostProfile`, p, 'can only be set when seccomp type is Localhost'));
  }
  return out;
}

function validateContainerSecurityContext(sc: unknown, field: string, hostUsers: boolean): FieldCause[] {
  if (!present(sc)) return [];
  const s = asRecord(sc);
  const out: FieldCause[] = [];
  out.push(...validateIdRange(s.runAsUser, `${field}.runAsUser`));
  out.push(...validateIdRange(s.runAsGroup, `${field}.runAsGroup`));
  if (present(s.procMount)) {
    const pm = str(s.procMount);
    if (!['Default', 'Unmasked'].includes(pm)) out.push(notSupported(`${field}.procMount`, pm, ['Default', 'Unmasked']));
    if (hostUsers && pm === 'Unmasked') out.push(invalid(`${field}.procMount`, pm, '`hostUsers` must be false to use `Unmasked`'));
  }
  out.push(...validateSeccompProfile(s.seccompProfile, `${field}.seccompProfile`));
  if (s.allowPrivilegeEscalation === false) {
    if (s.privileged === true) out.push(invalid(field, s, 'cannot set `allowPrivilegeEscalation` to false and `privileged` to true'));
    for (const cap of asArray(asRecord(s.capabilities).add)) {
      if (cap === 'CAP_SYS_ADMIN') out.push(invalid(field, s, 'cannot set `allowPrivilegeEscalation` to false and `capabilities.Add` CAP_SYS_ADMIN'));
    }
  }
  return out;
}

const SYSCTL_RE = /^([a-z0-9]([-_a-z0-9]*[a-z0-9])?[./])*[a-z0-9]([-_a-z0-9]*[a-z0-9])?$/;

function validatePodSecurityContext(sc: unknown, spec: Obj, field: string): FieldCause[] {
  if (!present(sc)) return [];
  const s = asRecord(sc);
  const out: FieldCause[] = [];
  out.push(...validateIdRange(s.fsGroup, `${field}.fsGroup`));
  out.push(...validateIdRange(s.runAsUser, `${field}.runAsUser`));
  out.push(...validateIdRange(s.runAsGroup, `${field}.runAsGroup`));
  asArray(s.supplementalGroups).forEach((g, i) => out.push(...validateIdRange(g, `${field}.supplementalGroups[${i}]`)));
  if (s.shareProcessNamespace === true && spec.hostPID === true) {
    out.push(invalid(`${field}.shareProcessNamespace`, true, 'ShareProcessNamespace and HostPID cannot both be enabled'));
  }
  const seen = new Set<string>();
  asArray(s.sysctls).forEach((sy, i) => {
    const name = str(asRecord(sy).name);
    const f = `${field}.sysctls[${i}].name`;
    if (!name) out.push(required(f));
    else if (name.length > 253 || !SYSCTL_RE.test(name)) {
      out.push(invalid(f, name, `must have at most 253 characters and match regex ${SYSCTL_RE.source}`));
    } else if (seen.has(name)) out.push(duplicate(f, name));
    seen.add(name);
  });
  if (present(s.fsGroupChangePolicy)) {
    const p = str(s.fsGroupChangePolicy);
    if (!['Always', 'OnRootMismatch'].includes(p)) out.push(notSupported(`${field}.fsGroupChangePolicy`, p, ['Always', 'OnRootMismatch']));
  }
  out.push(...validateSeccompProfile(s.seccompProfile, `${field}.seccompProfile`));
  if (present(s.supplementalGroupsPolicy)) {
    const p = str(s.supplementalGroupsPolicy);
    if (!['Merge', 'Strict'].includes(p)) out.push(notSupported(`${field}.supplementalGroupsPolicy`, p, ['Merge', 'Strict']));
  }
  return out;
}

// Containers -------------------------------------------------------------------------------

const TERMINATION_MESSAGE_POLICIES = ['File', 'FallbackToLogsOnError'];

function validateContainerCommon(c: Obj, volumes: Map<string, Obj>, field: string, podRestartPolicy: string, hostUsers: boolean): FieldCause[] {
  const out: FieldCause[] = [];
  const name = str(c.name);
  if (!name) out.push(required(`${field}.name`));
  else out.push(...validateDNS1123LabelField(name, `${field}.name`));
  if (!str(c.image)) out.push(required(`${field}.image`));
  const tmp = str(c.terminationMessagePolicy);
  if (!tmp) out.push(required(`${field}.terminationMessagePolicy`));
  else if (!TERMINATION_MESSAGE_POLICIES.includes(tmp)) out.push(notSupported(`${field}.terminationMessagePolicy`, tmp, TERMINATION_MESSAGE_POLICIES));
  out.push(...validateContainerPorts(c.ports, `${field}.ports`));
  out.push(...validateEnv(c.env, `${field}.env`));
  out.push(...validateEnvFrom(c.envFrom, `${field}.envFrom`));
  out.push(...validateVolumeMounts(c.volumeMounts, c.volumeDevices, volumes, c, `${field}.volumeMounts`));
  out.push(...validateVolumeDevices(c.volumeDevices, c.volumeMounts, volumes, `${field}.volumeDevices`));
  out.push(...validatePullPolicy(c.imagePullPolicy, `${field}.imagePullPolicy`));
  out.push(...validateResourceRequirements(c.resources, `${field}.resources`));
  const rpPath = `${field}.resizePolicy`;
  const seen = new Set<string>();
  asArray(c.resizePolicy).forEach((rp0, i) => {
    const rp = asRecord(rp0);
    const rn = str(rp.resourceName);
    if (seen.has(rn)) out.push(duplicate(`${rpPath}[${i}]`, rn));
    seen.add(rn);
    if (!rn) out.push(required(rpPath));
    else if (!['cpu', 'memory'].includes(rn)) out.push(notSupported(rpPath, rn, ['cpu', 'memory']));
    const pol = str(rp.restartPolicy);
    if (!pol) out.push(required(rpPath));
    else if (!['NotRequired', 'RestartContainer'].includes(pol)) out.push(notSupported(rpPath, pol, ['NotRequired', 'RestartContainer']));
    if (podRestartPolicy === 'Never' && pol !== 'NotRequired') out.push(invalid(rpPath, pol, "must be 'NotRequired' when `restartPolicy` is 'Never'"));
  });
  out.push(...validateContainerSecurityContext(c.securityContext, `${field}.securityContext`, hostUsers));
  return out;
}

/** checkHostPortConflicts: a protocol/hostIP/hostPort triple may appear once among the containers. */
function hostPortConflicts(containers: unknown[], field: string): FieldCause[] {
  const out: FieldCause[] = [];
  const seen = new Set<string>();
  containers.forEach((c0, ci) => {
    asArray(asRecord(c0).ports).forEach((p0, pi) => {
      const p = asRecord(p0);
      if (!isInt(p.hostPort) || p.hostPort === 0) return;
      const key = `${str(p.protocol)}/${str(p.hostIP)}/${p.hostPort}`;
      if (seen.has(key)) out.push(duplicate(`${field}[${ci}].ports[${pi}].hostPort`, key));
      else seen.add(key);
    });
  });
  return out;
}

interface Ctx {
  volumes: Map<string, Obj>;
  grace: number | undefined;
  restartPolicy: string;
  hostUsers: boolean;
}

function validateContainers(containers: unknown, ctx: Ctx, field: string): FieldCause[] {
  const list = asArray(containers);
  if (list.length === 0) return [required(field)];
  const out: FieldCause[] = [];
  const names = new Set<string>();
  list.forEach((c0, i) => {
    const c = asRecord(c0);
    const f = `${field}[${i}]`;
    out.push(...validateContainerCommon(c, ctx.volumes, f, ctx.restartPolicy, ctx.hostUsers));
    const name = str(c.name);
    if (names.has(name)) out.push(duplicate(`${f}.name`, name));
    else names.add(name);
    if (present(c.lifecycle)) out.push(...validateLifecycle(c.lifecycle, `${f}.lifecycle`, ctx.grace));
    out.push(...validateProbe(c.livenessProbe, `${f}.livenessProbe`, 'liveness'));
    out.push(...validateProbe(c.readinessProbe, `${f}.readinessProbe`, 'readiness'));
    out.push(...validateProbe(c.startupProbe, `${f}.startupProbe`, 'startup'));
    if (present(c.restartPolicy)) out.push(forbidden(`${f}.restartPolicy`, 'may not be set for non-init containers'));
  });
  out.push(...hostPortConflicts(list, field));
  return out;
}

function validateInitContainers(inits: unknown, containers: unknown, ctx: Ctx, field: string): FieldCause[] {
  const out: FieldCause[] = [];
  const names = new Set<string>();
  for (const c of asArray(containers)) names.add(str(asRecord(c).name));
  asArray(inits).forEach((c0, i) => {
    const c = asRecord(c0);
    const f = `${field}[${i}]`;
    out.push(...validateContainerCommon(c, ctx.volumes, f, ctx.restartPolicy, ctx.hostUsers));
    let restartAlways = false;
    if (present(c.restartPolicy)) {
      const rp = str(c.restartPolicy);
      if (rp !== 'Always') out.push(notSupported(`${f}.restartPolicy`, rp, ['Always']));
      restartAlways = rp === 'Always';
    }
    const name = str(c.name);
    if (names.has(name)) out.push(duplicate(`${f}.name`, name));
    else if (name) names.add(name);
    // Init containers run one at a time, so each is checked on its own (Kubernetes indexes it as [0]).
    out.push(...hostPortConflicts([c], field));
    if (restartAlways) {
      if (present(c.lifecycle)) out.push(...validateLifecycle(c.lifecycle, `${f}.lifecycle`, ctx.grace));
      out.push(...validateProbe(c.livenessProbe, `${f}.livenessProbe`, 'liveness'));
      out.push(...validateProbe(c.readinessProbe, `${f}.readinessProbe`, 'readiness'));
      out.push(...validateProbe(c.startupProbe, `${f}.startupProbe`, 'startup'));
    } else {
      for (const k of ['lifecycle', 'livenessProbe', 'readinessProbe', 'startupProbe']) {
        if (present(c[k])) out.push(forbidden(`${f}.${k}`, 'may not be set for init containers without restartPolicy=Always'));
      }
    }
    if (asArray(c.resizePolicy).length > 0 && !restartAlways) out.push(invalid(`${f}.resizePolicy`, c.resizePolicy, 'must not be set for init containers'));
  });
  return out;
}

const EPHEMERAL_ALLOWED = new Set([
  'name', 'image', 'command', 'args', 'workingDir', 'envFrom', 'env', 'volumeMounts', 'volumeDevices',
  'terminationMessagePath', 'terminationMessagePolicy', 'imagePullPolicy', 'securityContext', 'stdin', 'stdinOnce', 'tty',
  'targetContainerName', 'resources',
]);

function validateEphemeralContainers(eph: unknown, containers: unknown, inits: unknown, ctx: Ctx, field: string): FieldCause[] {
  const out: FieldCause[] = [];
  const others = new Set<string>();
  for (const c of [...asArray(containers), ...asArray(inits)]) others.add(str(asRecord(c).name));
  const all = new Set(others);
  asArray(eph).forEach((c0, i) => {
    const c = asRecord(c0);
    const f = `${field}[${i}]`;
    out.push(...validateContainerCommon(c, ctx.volumes, f, ctx.restartPolicy, ctx.hostUsers));
    const image = str(c.image);
    if (image.length !== image.trim().length) out.push(invalid(`${f}.image`, image, 'must not have leading or trailing whitespace'));
    const name = str(c.name);
    if (all.has(name)) out.push(duplicate(`${f}.name`, name));
    else all.add(name);
    const target = str(c.targetContainerName);
    if (target && !others.has(target)) out.push(notFound(`${f}.targetContainerName`, target));
    for (const [k, v] of Object.entries(c)) {
      if (EPHEMERAL_ALLOWED.has(k) || !present(v)) continue;
      if (k === 'resources' || (Array.isArray(v) && v.length === 0)) continue;
      out.push(forbidden(`${f}.${k}`, 'cannot be set for an Ephemeral Container'));
    }
    if (isRecord(c.resources) && (Object.keys(asRecord(c.resources.limits)).length || Object.keys(asRecord(c.resources.requests)).length)) {
      out.push(forbidden(`${f}.resources`, 'cannot be set for an Ephemeral Container'));
    }
    asArray(c.volumeMounts).forEach((vm, j) => {
      if (str(asRecord(vm).subPath)) out.push(forbidden(`${f}.volumeMounts[${j}].subPath`, 'cannot be set for an Ephemeral Container'));
      if (str(asRecord(vm).subPathExpr)) out.push(forbidden(`${f}.volumeMounts[${j}].subPathExpr`, 'cannot be set for an Ephemeral Container'));
    });
  });
  return out;
}

// Volumes ----------------------------------------------------------------------------------

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
function validateVolumes(volumes: unknown, field: string): { vols: Map<string, Obj>; errs: FieldCause[] } {
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

// Scheduling -------------------------------------------------------------------------------

const TAINT_EFFECTS = ['NoSchedule', 'PreferNoSchedule', 'NoExecute'];

/** validateTaintEffect. */
export function validateTaintEffect(effect: unknown, allowEmpty: boolean, field: string): FieldCause[] {
  const e = str(effect);
  if (!allowEmpty && e === '') return [required(field)];
  if (!TAINT_EFFECTS.includes(e)) return [notSupported(field, e, TAINT_EFFECTS)];
  return [];
}

/** ValidateTolerations. */
export function validateTolerations(tolerations: unknown, field: string): FieldCause[] {
  const out: FieldCause[] = [];
  asArray(tolerations).forEach((t0, i) => {
    const t = asRecord(t0);
    const f = `${field}[${i}]`;
    const key = str(t.key);
    const op = str(t.operator);
    const effect = str(t.effect);
    const value = str(t.value);
    if (key) out.push(...validateQualifiedNameField(key, `${f}.key`));
    if (!key && op !== 'Exists') {
      out.push(invalid(`${f}.operator`, op, 'operator must be Exists when `key` is empty, which means "match all values and all keys"'));
    }
    if (present(t.tolerationSeconds) && effect !== 'NoExecute') {
      out.push(invalid(`${f}.effect`, effect, "effect must be 'NoExecute' when `tolerationSeconds` is set"));
    }
    switch (op) {
      case 'Equal':
      case '': {
        const errs = labelValueErrors(value);
        if (errs.length) out.push(invalid(`${f}.operator`, value, errs.join(';')));
        break;
      }
      case 'Exists':
        if (value) out.push(invalid(`${f}.operator`, value, "value must be empty when `operator` is 'Exists'"));
        break;
      default:
        out.push(notSupported(`${f}.operator`, op, ['Equal', 'Exists']));
    }
    if (effect) out.push(...validateTaintEffect(effect, true, `${f}.effect`));
  });
  return out;
}

function validateNodeSelectorRequirement(r: Obj, field: string, allowInvalidValues = false): FieldCause[] {
  const out: FieldCause[] = [];
  const op = str(r.operator);
  const values = asArray(r.values);
  switch (op) {
    case 'In':
    case 'NotIn':
      if (values.length === 0) out.push(requiredDetail(`${field}.values`, "must be specified when `operator` is 'In' or 'NotIn'"));
      break;
    case 'Exists':
    case 'DoesNotExist':
      if (values.length > 0) out.push(forbidden(`${field}.values`, "may not be specified when `operator` is 'Exists' or 'DoesNotExist'"));
      break;
    case 'Gt':
    case 'Lt':
      if (values.length !== 1) out.push(requiredDetail(`${field}.values`, "must be specified single value when `operator` is 'Lt' or 'Gt'"));
      break;
    default:
      out.push(invalid(`${field}.operator`, op, 'not a valid selector operator'));
  }
  out.push(...validateQualifiedNameField(str(r.key), `${field}.key`));
  if (!allowInvalidValues) {
    values.forEach((v, i) => {
      for (const m of labelValueErrors(str(v))) out.push(invalid(`${field}.values[${i}]`, str(v), m));
    });
  }
  return out;
}

function validateNodeFieldSelectorRequirement(r: Obj, field: string): FieldCause[] {
  const out: FieldCause[] = [];
  const op = str(r.operator);
  const values = asArray(r.values);
  if (op === 'In' || op === 'NotIn') {
    if (values.length !== 1) {
      out.push(requiredDetail(`${field}.values`, "must be only one value when `operator` is 'In' or 'NotIn' for node field selector"));
    }
  } else out.push(invalid(`${field}.operator`, op, 'not a valid selector operator'));
  if (str(r.key) !== 'metadata.name') out.push(invalid(`${field}.key`, str(r.key), 'not a valid field selector key'));
  else values.forEach((v, i) => {
    for (const m of dns1123SubdomainErrors(str(v))) out.push(invalid(`${field}.values[${i}]`, str(v), m));
  });
  return out;
}

/** ValidateNodeSelectorTerm (shared with PersistentVolume node affinity). */
export function validateNodeSelectorTerm(t: Obj, field: string): FieldCause[] {
  const out: FieldCause[] = [];
  asArray(t.matchExpressions).forEach((r, j) => out.push(...validateNodeSelectorRequirement(asRecord(r), `${field}.matchExpressions[${j}]`)));
  asArray(t.matchFields).forEach((r, j) => out.push(...validateNodeFieldSelectorRequirement(asRecord(r), `${field}.matchFields[${j}]`)));
  return out;
}

/** ValidateNodeSelector: at least one term. */
export function validateNodeSelector(sel: Obj, field: string): FieldCause[] {
  const terms = asArray(sel.nodeSelectorTerms);
  if (terms.length === 0) return [requiredDetail(`${field}.nodeSelectorTerms`, 'must have at least one node selector term')];
  return terms.flatMap((t, i) => validateNodeSelectorTerm(asRecord(t), `${field}.nodeSelectorTerms[${i}]`));
}

function validatePodAffinityTerm(t: Obj, field: string): FieldCause[] {
  const out: FieldCause[] = [];
  out.push(...validateLabelSelector(t.labelSelector, `${field}.labelSelector`));
  out.push(...validateLabelSelector(t.namespaceSelector, `${field}.namespaceSelector`));
  for (const ns of asArray(t.namespaces)) out.push(...validateDNS1123LabelField(str(ns), `${field}.namespace`));
  for (const k of ['matchLabelKeys', 'mismatchLabelKeys']) {
    const keys = asArray(t[k]);
    if (keys.length && !present(t.labelSelector)) out.push(forbidden(`${field}.${k}`, 'must not be specified when labelSelector is not set'));
    else keys.forEach((key, i) => out.push(...validateQualifiedNameField(str(key), `${field}.${k}[${i}]`)));
  }
  const tk = str(t.topologyKey);
  if (!tk) out.push(requiredDetail(`${field}.topologyKey`, 'can not be empty'));
  out.push(...validateQualifiedNameField(tk, `${field}.topologyKey`));
  return out;
}

function validateAffinity(a: unknown, field: string): FieldCause[] {
  if (!present(a)) return [];
  const af = asRecord(a);
  const out: FieldCause[] = [];
  if (isRecord(af.nodeAffinity)) {
    const na = af.nodeAffinity;
    const f = `${field}.nodeAffinity`;
    if (isRecord(na.requiredDuringSchedulingIgnoredDuringExecution)) {
      out.push(...validateNodeSelector(na.requiredDuringSchedulingIgnoredDuringExecution, `${f}.requiredDuringSchedulingIgnoredDuringExecution`));
    }
    asArray(na.preferredDuringSchedulingIgnoredDuringExecution).forEach((w0, i) => {
      const w = asRecord(w0);
      const pf = `${f}.preferredDuringSchedulingIgnoredDuringExecution[${i}]`;
      if (!isInt(w.weight) || w.weight <= 0 || w.weight > 100) out.push(invalid(`${pf}.weight`, w.weight ?? 0, 'must be in the range 1-100'));
      // Preferred terms tolerate invalid label values (they may still match on a one-node cluster).
      const pref = asRecord(w.preference);
      asArray(pref.matchExpressions).forEach((r, j) =>
        out.push(...validateNodeSelectorRequirement(asRecord(r), `${pf}.preference.matchExpressions[${j}]`, true)),
      );
      asArray(pref.matchFields).forEach((r, j) => out.push(...validateNodeFieldSelectorRequirement(asRecord(r), `${pf}.preference.matchFields[${j}]`)));
    });
  }
  for (const kind of ['podAffinity', 'podAntiAffinity']) {
    if (!isRecord(af[kind])) continue;
    const pa = af[kind] as Obj;
    const f = `${field}.${kind}`;
    asArray(pa.requiredDuringSchedulingIgnoredDuringExecution).forEach((t, i) =>
      out.push(...validatePodAffinityTerm(asRecord(t), `${f}.requiredDuringSchedulingIgnoredDuringExecution[${i}]`)),
    );
    asArray(pa.preferredDuringSchedulingIgnoredDuringExecution).forEach((w0, i) => {
      const w = asRecord(w0);
      const pf = `${f}.preferredDuringSchedulingIgnoredDuringExecution[${i}]`;
      if (!isInt(w.weight) || w.weight <= 0 || w.weight > 100) out.push(invalid(`${pf}.weight`, w.weight ?? 0, 'must be in the range 1-100'));
      out.push(...validatePodAffinityTerm(asRecord(w.podAffinityTerm), `${pf}.podAffinityTerm`));
    });
  }
  return out;
}

function validateTopologySpread(list: unknown, field: string): FieldCause[] {
  const out: FieldCause[] = [];
  const items = asArray(list).map(asRecord);
  items.forEach((c, i) => {
    const f = `${field}[${i}]`;
    const maxSkew = isInt(c.maxSkew) ? c.maxSkew : 0;
    if (maxSkew <= 0) out.push(invalid(`${f}.maxSkew`, maxSkew, 'must be greater than zero'));
    const tk = str(c.topologyKey);
    if (!tk) out.push(requiredDetail(`${f}.topologyKey`, 'can not be empty'));
    const wu = str(c.whenUnsatisfiable);
    if (!['DoNotSchedule', 'ScheduleAnyway'].includes(wu)) out.push(notSupported(`${f}.whenUnsatisfiable`, wu, ['DoNotSchedule', 'ScheduleAnyway']));
    if (items.slice(i + 1).some((o) => str(o.topologyKey) === tk && str(o.whenUnsatisfiable) === wu)) {
      out.push(duplicate(`${f}.{topologyKey, whenUnsatisfiable}`, `{${tk}, ${wu}}`));
    }
    if (present(c.minDomains)) {
      const md = isInt(c.minDomains) ? c.minDomains : 0;
      if (md <= 0) out.push(invalid(`${f}.minDomains`, md, 'must be greater than zero'));
      if (wu !== 'DoNotSchedule') out.push(invalid(`${f}.minDomains`, md, `can only use minDomains if whenUnsatisfiable=DoNotSchedule, not ${wu}`));
    }
    for (const pol of ['nodeAffinityPolicy', 'nodeTaintsPolicy']) {
      if (!present(c[pol])) continue;
      const v = str(c[pol]);
      if (!['Honor', 'Ignore'].includes(v)) out.push(notSupported(`${f}.${pol}`, v, ['Honor', 'Ignore']));
    }
    const mlk = asArray(c.matchLabelKeys);
    if (mlk.length) {
      const sel = asRecord(c.labelSelector);
      const selKeys = new Set([...Object.keys(asRecord(sel.matchLabels)), ...asArray(sel.matchExpressions).map((e) => str(asRecord(e).key))]);
      if (!present(c.labelSelector)) out.push(forbidden(`${f}.matchLabelKeys`, 'must not be specified when labelSelector is not set'));
      mlk.forEach((k, j) => {
        out.push(...validateQualifiedNameField(str(k), `${f}.matchLabelKeys[${j}]`));
        if (selKeys.has(str(k))) out.push(invalid(`${f}.matchLabelKeys[${j}]`, str(k), 'exists in both matchLabelKeys and labelSelector'));
      });
    }
    out.push(...validateLabelSelector(c.labelSelector, `${f}.labelSelector`));
  });
  return out;
}

const RESTART_POLICIES = ['Always', 'OnFailure', 'Never'];
const DNS_POLICIES = ['ClusterFirstWithHostNet', 'ClusterFirst', 'Default', 'None'];

function validateDNSConfig(cfg: unknown, dnsPolicy: string, field: string): FieldCause[] {
  const c = asRecord(cfg);
  const nameservers = asArray(c.nameservers);
  if (dnsPolicy === 'None') {
    if (!present(cfg)) return [requiredDetail(field, 'must provide `dnsConfig` when `dnsPolicy` is None')];
    if (nameservers.length === 0) return [requiredDetail(`${field}.nameservers`, 'must provide at least one DNS nameserver when `dnsPolicy` is None')];
  }
  if (!present(cfg)) return [];
  const out: FieldCause[] = [];
  if (nameservers.length > 3) out.push(invalid(`${field}.nameservers`, nameservers, 'must not have more than 3 nameservers'));
  nameservers.forEach((ns, i) => {
    if (!isIP(str(ns))) out.push(invalid(`${field}.nameservers[${i}]`, str(ns), INVALID_IP_MSG));
  });
  const searches = asArray(c.searches).map(str);
  if (searches.length > 32) out.push(invalid(`${field}.searches`, searches, 'must not have more than 32 search paths'));
  if (searches.join(' ').length > 2048) {
    out.push(invalid(`${field}.searches`, searches, 'must not have more than 2048 characters (including spaces) in the search list'));
  }
  searches.forEach((s, i) => out.push(...validateDNS1123SubdomainField(s.endsWith('.') ? s.slice(0, -1) : s, `${field}.searches[${i}]`)));
  asArray(c.options).forEach((o, i) => {
    if (!str(asRecord(o).name)) out.push(requiredDetail(`${field}.options[${i}]`, 'must not be empty'));
  });
  return out;
}

/**
 * ValidatePodSpec: every problem of a PodSpec (of a pod or of a template), with `field` the path
 * of the spec (`spec`, `spec.template.spec`). Run defaultPodSpec() first, as Kubernetes does.
 */
export function validatePodSpec(spec: unknown, field: string, opts: PodSpecValidationOptions = {}): FieldCause[] {
  if (!isRecord(spec)) return [required(field)];
  const out: FieldCause[] = [];
  if (!present(spec.terminationGracePeriodSeconds)) out.push(required(`${field}.terminationGracePeriodSeconds`));
  const sc = asRecord(spec.securityContext);
  const ctx: Ctx = {
    volumes: new Map(),
    grace: isInt(spec.terminationGracePeriodSeconds) ? spec.terminationGracePeriodSeconds : undefined,
    restartPolicy: str(spec.restartPolicy),
    hostUsers: sc.hostUsers !== false,
  };
  const { vols, errs } = validateVolumes(spec.volumes, `${field}.volumes`);
  ctx.volumes = vols;
  out.push(...errs);
  out.push(...validateContainers(spec.containers, ctx, `${field}.containers`));
  out.push(...validateInitContainers(spec.initContainers, spec.containers, ctx, `${field}.initContainers`));
  out.push(...validateEphemeralContainers(spec.ephemeralContainers, spec.containers, spec.initContainers, ctx, `${field}.ephemeralContainers`));
  if (spec.hostNetwork === true) {
    asArray(spec.containers).forEach((c, ci) => {
      asArray(asRecord(c).ports).forEach((p0, pi) => {
        const p = asRecord(p0);
        const hp = isInt(p.hostPort) ? p.hostPort : 0;
        if ((opts.isPod || hp !== 0) && hp !== p.containerPort) {
          out.push(invalid(`${field}.containers[${ci}].ports[${pi}].hostPort`, hp, 'must match `containerPort` when `hostNetwork` is true'));
        }
      });
    });
  }
  const rp = str(spec.restartPolicy);
  if (!rp) out.push(required(`${field}.restartPolicy`));
  else if (!RESTART_POLICIES.includes(rp)) out.push(notSupported(`${field}.restartPolicy`, rp, RESTART_POLICIES));
  const dp = str(spec.dnsPolicy);
  if (!dp) out.push(required(`${field}.dnsPolicy`));
  else if (!DNS_POLICIES.includes(dp)) out.push(notSupported(`${field}.dnsPolicy`, dp, DNS_POLICIES));
  out.push(...validateLabels(spec.nodeSelector, `${field}.nodeSelector`));
  out.push(...validatePodSecurityContext(spec.securityContext, spec, `${field}.securityContext`));
  asArray(spec.imagePullSecrets).forEach((s, i) => {
    const r = asRecord(s);
    if (Object.keys(r).some((k) => k !== 'name')) out.push(invalid(`${field}.imagePullSecrets[${i}]`, r, 'only name may be set'));
  });
  out.push(...validateAffinity(spec.affinity, `${field}.affinity`));
  out.push(...validateDNSConfig(spec.dnsConfig, dp, `${field}.dnsConfig`));
  asArray(spec.readinessGates).forEach((g, i) => {
    out.push(...validateQualifiedNameField(str(asRecord(g).conditionType), `${field}.readinessGates[${i}].conditionType`));
  });
  const gates = new Set<string>();
  asArray(spec.schedulingGates).forEach((g, i) => {
    const name = str(asRecord(g).name);
    out.push(...validateQualifiedNameField(name, `${field}.schedulingGates[${i}]`));
    if (gates.has(name)) out.push(duplicate(`${field}.schedulingGates[${i}]`, name));
    gates.add(name);
  });
  out.push(...validateTopologySpread(spec.topologySpreadConstraints, `${field}.topologySpreadConstraints`));
  if (sc.hostUsers === false) {
    if (spec.hostNetwork === true) out.push(forbidden(`${field}.hostNetwork`, 'when `pod.Spec.HostUsers` is false'));
    if (spec.hostPID === true) out.push(forbidden(`${field}.HostPID`, 'when `pod.Spec.HostUsers` is false'));
    if (spec.hostIPC === true) out.push(forbidden(`${field}.HostIPC`, 'when `pod.Spec.HostUsers` is false'));
  }
  const san = str(spec.serviceAccountName);
  if (san) for (const m of dns1123SubdomainErrors(san)) out.push(invalid(`${field}.serviceAccountName`, san, m));
  const nodeName = str(spec.nodeName);
  if (nodeName) for (const m of dns1123SubdomainErrors(nodeName)) out.push(invalid(`${field}.nodeName`, nodeName, m));
  if (present(spec.activeDeadlineSeconds)) {
    const v = spec.activeDeadlineSeconds;
    if (!isInt(v) || v < 1 || v > MAX_INT32) out.push(invalid(`${field}.activeDeadlineSeconds`, v, inclusiveRangeError(1, MAX_INT32)));
  }
  const hostname = str(spec.hostname);
  if (hostname) out.push(...validateDNS1123LabelField(hostname, `${field}.hostname`));
  const subdomain = str(spec.subdomain);
  if (subdomain) out.push(...validateDNS1123LabelField(subdomain, `${field}.subdomain`));
  out.push(...validateTolerations(spec.tolerations, `${field}.tolerations`));
  asArray(spec.hostAliases).forEach((h0, i) => {
    const h = asRecord(h0);
    const f = `${field}.hostAliases[${i}]`;
    if (!isIP(str(h.ip))) out.push(invalid(`${f}.ip`, str(h.ip), INVALID_IP_MSG));
    asArray(h.hostnames).forEach((hn, j) => out.push(...validateDNS1123SubdomainField(str(hn), `${f}.hostnames[${j}]`)));
  });
  const pcn = str(spec.priorityClassName);
  if (pcn) for (const m of dns1123SubdomainErrors(pcn)) out.push(invalid(`${field}.priorityClassName`, pcn, m));
  if (present(spec.runtimeClassName)) {
    const rcn = str(spec.runtimeClassName);
    for (const m of dns1123SubdomainErrors(rcn)) out.push(invalid(`${field}.runtimeClassName`, rcn, m));
  }
  if (present(spec.preemptionPolicy)) {
    const pp = str(spec.preemptionPolicy);
    if (!pp) out.push(required(`${field}.preemptionPolicy`));
    else if (!['PreemptLowerPriority', 'Never'].includes(pp)) out.push(notSupported(`${field}.preemptionPolicy`, pp, ['PreemptLowerPriority', 'Never']));
  }
  if (present(spec.overhead)) out.push(...validateResourceRequirements({ limits: spec.overhead }, `${field}.overhead`));
  if (present(spec.os)) {
    const os = str(asRecord(spec.os).name);
    if (!os) out.push(requiredDetail(`${field}.os.name`, 'cannot be empty'));
    else if (!['linux', 'windows'].includes(os)) out.push(notSupported(`${field}.os`, os, ['linux', 'windows']));
  }
  if (opts.isPod) {
    for (const list of ['containers', 'initContainers']) {
      asArray(spec[list]).forEach((c, i) => {
        const image = str(asRecord(c).image);
        if (image.length !== image.trim().length) out.push(invalid(`${field}.${list}[${i}].image`, image, 'must not have leading or trailing whitespace'));
      });
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Pod updates
// ---------------------------------------------------------------------------------------------

export const POD_UPDATE_FORBIDDEN_MSG =
  'pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)';

function clone<T>(v: T): T {
  return v === undefined ? v : (JSON.parse(JSON.stringify(v)) as T);
}

/** A short description of where two JSON values differ (stands in for Kubernetes' cmp.Diff). */
function describeDiff(a: unknown, b: unknown, path: string, out: string[]): void {
  if (out.length >= 10 || jsonEqual(a, b)) return;
  if (isRecord(a) && isRecord(b)) {
    for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) describeDiff(a[k], b[k], `${path}.${k}`, out);
    return;
  }
  if (Array.isArray(a) && Array.isArray(b) && a.length === b.length) {
    a.forEach((x, i) => describeDiff(x, b[i], `${path}[${i}]`, out));
    return;
  }
  out.push(`  ${path}: ${JSON.stringify(a) ?? 'null'} -> ${JSON.stringify(b) ?? 'null'}`);
}

/** Existing tolerations stay (only tolerationSeconds may change); new ones may be added. */
function validateOnlyAddedTolerations(newT: unknown, oldT: unknown, field: string): FieldCause[] {
  const news = asArray(newT).map(asRecord);
  for (const o0 of asArray(oldT)) {
    const o = asRecord(o0);
    const found = news.some((n) => jsonEqual({ ...o, tolerationSeconds: n.tolerationSeconds }, n));
    if (!found) return [forbidden(field, 'existing toleration can not be modified except its tolerationSeconds')];
  }
  return validateTolerations(newT, field);
}

/**
 * ValidatePodUpdate's spec rules: only container images, activeDeadlineSeconds (lowered, or set
 * once), added tolerations and removed scheduling gates may change; a gated pod may also gain
 * nodeSelector entries. `field` is the spec path (`spec`).
 */
export function validatePodSpecUpdate(newSpec: unknown, oldSpec: unknown, field: string): FieldCause[] {
  const out: FieldCause[] = [];
  const ns = asRecord(newSpec);
  const os = asRecord(oldSpec);
  for (const list of ['containers', 'initContainers']) {
    const nl = asArray(ns[list]);
    const ol = asArray(os[list]);
    if (nl.length !== ol.length) {
      out.push(forbidden(`${field}.${list}`, 'pod updates may not add or remove containers'));
      return out;
    }
    nl.forEach((c, i) => {
      const image = str(asRecord(c).image);
      if (!image) out.push(required(`${field}.${list}[${i}].image`));
      if (image.trim().length !== image.length) out.push(invalid(`${field}.${list}[${i}].image`, image, 'must not have leading or trailing whitespace'));
    });
  }
  const nad = ns.activeDeadlineSeconds;
  const oad = os.activeDeadlineSeconds;
  if (present(nad)) {
    if (!isInt(nad) || nad < 0 || nad > MAX_INT32) {
      out.push(invalid(`${field}.activeDeadlineSeconds`, nad, inclusiveRangeError(0, MAX_INT32)));
      return out;
    }
    if (isInt(oad) && oad < nad) {
      out.push(invalid(`${field}.activeDeadlineSeconds`, nad, 'must be less than or equal to previous value'));
      return out;
    }
  } else if (present(oad)) {
    out.push(invalid(`${field}.activeDeadlineSeconds`, null, 'must not update from a positive integer to nil value'));
  }
  out.push(...validateOnlyAddedTolerations(ns.tolerations, os.tolerations, `${field}.tolerations`));
  const oldGates = new Set(asArray(os.schedulingGates).map((g) => str(asRecord(g).name)));
  asArray(ns.schedulingGates).forEach((g, i) => {
    const name = str(asRecord(g).name);
    if (!oldGates.has(name)) out.push(forbidden(`${field}.schedulingGates[${i}].name`, `only deletion is allowed, but found new scheduling gate '${name}'`));
  });
  if (jsonEqual(ns, os)) return out;
  const munged = clone(ns);
  for (const list of ['containers', 'initContainers']) {
    const ol = asArray(os[list]);
    asArray(munged[list]).forEach((c, i) => {
      if (isRecord(c)) c.image = asRecord(ol[i]).image;
    });
  }
  const restore = (key: string): void => {
    if (os[key] === undefined) delete munged[key];
    else munged[key] = clone(os[key]);
  };
  restore('activeDeadlineSeconds');
  restore('schedulingGates');
  restore('tolerations');
  const otg = os.terminationGracePeriodSeconds;
  if (isInt(otg) && otg < 0 && munged.terminationGracePeriodSeconds === 1) munged.terminationGracePeriodSeconds = otg;
  if (asArray(os.schedulingGates).length > 0 && !jsonEqual(munged.nodeSelector, os.nodeSelector)) {
    const onsel = asRecord(os.nodeSelector);
    const nnsel = asRecord(munged.nodeSelector);
    if (!Object.entries(onsel).every(([k, v]) => nnsel[k] === v)) {
      out.push(invalid(`${field}.nodeSelector`, nnsel, 'only additions to spec.nodeSelector are allowed (no mutations or deletions)'));
    }
    restore('nodeSelector');
  }
  if (!jsonEqual(munged, os)) {
    const diff: string[] = [];
    describeDiff(os, munged, field, diff);
    out.push(forbidden(field, `${POD_UPDATE_FORBIDDEN_MSG}\n${diff.join('\n')}`));
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// QoS
// ---------------------------------------------------------------------------------------------

/** The pod's QoS class (Guaranteed, Burstable, BestEffort) from its containers' cpu/memory. */
export function computeQOSClass(spec: unknown): 'Guaranteed' | 'Burstable' | 'BestEffort' {
  const s = asRecord(spec);
  const requests = new Map<string, bigint>();
  const limits = new Map<string, bigint>();
  let guaranteed = true;
  for (const c of [...asArray(s.containers), ...asArray(s.initContainers)]) {
    const res = asRecord(asRecord(c).resources);
    for (const [name, v] of Object.entries(asRecord(res.requests))) {
      if (name !== 'cpu' && name !== 'memory') continue;
      const q = tryQ(v);
      if (q !== undefined && q > 0n) requests.set(name, (requests.get(name) ?? 0n) + q);
    }
    const found = new Set<string>();
    for (const [name, v] of Object.entries(asRecord(res.limits))) {
      if (name !== 'cpu' && name !== 'memory') continue;
      const q = tryQ(v);
      if (q !== undefined && q > 0n) {
        found.add(name);
        limits.set(name, (limits.get(name) ?? 0n) + q);
      }
    }
    if (!found.has('cpu') || !found.has('memory')) guaranteed = false;
  }
  if (requests.size === 0 && limits.size === 0) return 'BestEffort';
  if (guaranteed) {
    for (const [name, req] of requests) {
      if (limits.get(name) !== req) {
        guaranteed = false;
        break;
      }
    }
  }
  return guaranteed && requests.size === limits.size ? 'Guaranteed' : 'Burstable';
}

function tryQ(v: unknown): bigint | undefined {
  if (typeof v !== 'string' && typeof v !== 'number') return undefined;
  try {
    return parseQuantity(v).nanos;
  } catch {
    return undefined;
  }
}

