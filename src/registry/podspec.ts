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
  isCIdentifier,
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
  validateDNS1123LabelField,
  validateDNS1123SubdomainField,
  validateLabels,
  validateLabelSelector,
  validateNonnegative,
  validateQualifiedNameField,
  INVALID_IP_MSG,
} from './validation.ts';
import { canonicalizeResourceList, compareQuantities, formatQuantity, parseQuantity, QuantityError, type Quantity } from './quantity.ts';

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
  setIfAbsent(p, 'timeoutSeconds', 1);
  setIfAbsent(p, 'periodSeconds', 10);
  setIfAbsent(p, 'successThreshold', 1);
  setIfAbsent(p, 'failureThreshold', 3);
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

const VOLUME_SOURCES = [
  'hostPath', 'emptyDir', 'gcePersistentDisk', 'awsElasticBlockStore', 'gitRepo', 'secret', 'nfs', 'iscsi',
  'glusterfs', 'persistentVolumeClaim', 'rbd', 'flexVolume', 'cinder', 'cephfs', 'flocker', 'downwardAPI', 'fc',
  'azureFile', 'configMap', 'vsphereVolume', 'quobyte', 'azureDisk', 'photonPersistentDisk', 'projected',
  'portworxVolume', 'scaleIO', 'storageos', 'csi', 'ephemeral', 'image',
];

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

const ENV_VAR_NAME_MSG = "a valid environment variable name must consist only of printable ASCII characters other than '='";

/** IsRelaxedEnvVarName (RelaxedEnvironmentVariableValidation, on by default since v1.32). */
function envVarNameErrors(name: string): string[] {
  if (name.length === 0) return [];
  for (const ch of name) {
    const c = ch.codePointAt(0) ?? 0;
    if (c < 32 || c > 126 || ch === '=') return [ENV_VAR_NAME_MSG];
  }
  return [];
}

const PORT_PROTOCOLS = ['SCTP', 'TCP', 'UDP'];

/** A port given as a number (1–65535) or an IANA service name. */
export function validatePortNumOrName(port: unknown, field: string): FieldCause[] {
  if (typeof port === 'number') return portNumErrors(port).map((m) => invalid(field, port, m));
  if (typeof port === 'string') {
    if (port === '') return [required(field)];
    return portNameErrors(port).map((m) => invalid(field, port, m));
  }
  if (port === undefined || port === null) return [required(field)];
  return [invalid(field, port, 'must be an integer or a string')];
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
    if (p.containerPort === undefined || p.containerPort === 0) out.push(required(`${f}.containerPort`));
    else for (const m of portNumErrors(p.containerPort)) out.push(invalid(`${f}.containerPort`, p.containerPort, m));
    if (p.hostPort !== undefined && p.hostPort !== 0) {
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
].sort();
const VOLUME_FIELD_PATHS = ['metadata.annotations', 'metadata.labels', 'metadata.name', 'metadata.namespace', 'metadata.uid'];
const RESOURCE_FIELD_REFS = [
  'limits.cpu', 'limits.ephemeral-storage', 'limits.memory', 'requests.cpu', 'requests.ephemeral-storage', 'requests.memory',
];

function validateObjectFieldSelector(fs: Obj, expressions: string[], field: string, subscriptsAllowed: boolean): FieldCause[] {
  const out: FieldCause[] = [];
  const apiVersion = str(fs.apiVersion);
  const fieldPath = str(fs.fieldPath);
  if (!apiVersion) {
    out.push(required(`${field}.apiVersion`));
    return out;
  }
  if (!fieldPath) {
    out.push(required(`${field}.fieldPath`));
    return out;
  }
  const sub = /^(metadata\.(?:labels|annotations))\['(.*)'\]$/.exec(fieldPath);
  if (sub && subscriptsAllowed) {
    const key = sub[2];
    const errs = sub[1] === 'metadata.labels' ? qualifiedNameErrors(key) : qualifiedNameErrors(key.toLowerCase());
    for (const m of errs) out.push(invalid(`${field}.fieldPath`, fieldPath, m));
    return out;
  }
  if (!expressions.includes(fieldPath)) out.push(notSupported(`${field}.fieldPath`, fieldPath, expressions));
  return out;
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
    for (const m of envVarNameErrors(name)) out.push(invalid(`${f}.name`, name, m));
    if (e.valueFrom === undefined || e.valueFrom === null) return;
    const vf = asRecord(e.valueFrom);
    const vfPath = `${f}.valueFrom`;
    let n = 0;
    const errs: FieldCause[] = [];
    if (isRecord(vf.fieldRef)) {
      n++;
      errs.push(...validateObjectFieldSelector(vf.fieldRef, ENV_FIELD_PATHS, `${vfPath}.fieldRef`, true));
    }
    if (isRecord(vf.resourceFieldRef)) {
      n++;
      const r = vf.resourceFieldRef;
      const res = str(r.resource);
      if (!res) errs.push(required(`${vfPath}.resourceFieldRef.resource`));
      else if (!RESOURCE_FIELD_REFS.includes(res) && !/^(limits|requests)\.hugepages-/.test(res)) {
        errs.push(notSupported(`${vfPath}.resourceFieldRef.resource`, res, RESOURCE_FIELD_REFS));
      }
    }
    if (isRecord(vf.configMapKeyRef)) {
      n++;
      errs.push(...validateKeySelector(vf.configMapKeyRef, `${vfPath}.configMapKeyRef`));
    }
    if (isRecord(vf.secretKeyRef)) {
      n++;
      errs.push(...validateKeySelector(vf.secretKeyRef, `${vfPath}.secretKeyRef`));
    }
    if (n === 0) {
      out.push(invalid(vfPath, '', 'must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`'));
      return;
    }
    if (str(e.value) !== '') {
      out.push(invalid(vfPath, '', 'may not be specified when `value` is not empty'));
      return;
    }
    if (n > 1) {
      out.push(invalid(vfPath, '', 'may not have more than one field specified at a time'));
      return;
    }
    out.push(...errs);
  });
  return out;
}

function validateEnvFrom(envFrom: unknown, field: string): FieldCause[] {
  const out: FieldCause[] = [];
  asArray(envFrom).forEach((e0, i) => {
    const e = asRecord(e0);
    const f = `${field}[${i}]`;
    const prefix = str(e.prefix);
    for (const m of envVarNameErrors(prefix)) out.push(invalid(`${f}.prefix`, prefix, m));
    let n = 0;
    const errs: FieldCause[] = [];
    for (const key of ['configMapRef', 'secretRef']) {
      const ref = e[key];
      if (!isRecord(ref)) continue;
      n++;
      for (const m of dns1123SubdomainErrors(str(ref.name))) errs.push(invalid(`${f}.${key}.name`, str(ref.name), m));
    }
    if (n === 0) out.push(invalid(f, '', 'must specify one of: `configMapRef` or `secretRef`'));
    else if (n > 1) out.push(invalid(f, '', 'may not have more than one field specified at a time'));
    else out.push(...errs);
  });
  return out;
}

/** validateLocalDescendingPath: relative, no '..' element. */
function localDescendingPathErrors(p: string, field: string): FieldCause[] {
  const out: FieldCause[] = [];
  if (p.startsWith('/')) out.push(invalid(field, p, 'must be a relative path'));
  if (p.split(/[\\/]/).includes('..')) out.push(invalid(field, p, "must not contain '..'"));
  return out;
}

function validateVolumeMounts(mounts: unknown, volumes: Set<string>, field: string): FieldCause[] {
  const out: FieldCause[] = [];
  const points = new Set<string>();
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
    const subPath = str(m.subPath);
    if (subPath) out.push(...localDescendingPathErrors(subPath, `${field}.subPath`));
    const subPathExpr = str(m.subPathExpr);
    if (subPathExpr) {
      if (subPath) out.push(invalid(`${f}.subPathExpr`, subPathExpr, 'subPathExpr and subPath are mutually exclusive'));
      out.push(...localDescendingPathErrors(subPathExpr, `${f}.subPathExpr`));
    }
    if (m.mountPropagation !== undefined && m.mountPropagation !== null) {
      const mpv = str(m.mountPropagation);
      const supported = ['Bidirectional', 'HostToContainer', 'None'];
      if (!supported.includes(mpv)) out.push(notSupported(`${f}.mountPropagation`, mpv, supported));
    }
    if (m.recursiveReadOnly !== undefined && m.recursiveReadOnly !== null) {
      const rro = str(m.recursiveReadOnly);
      const supported = ['Disabled', 'Enabled', 'IfPossible'];
      if (!supported.includes(rro)) out.push(notSupported(`${f}.recursiveReadOnly`, rro, supported));
      else if (rro !== 'Disabled' && m.readOnly !== true) {
        out.push(forbidden(`${f}.recursiveReadOnly`, 'may only be specified when readOnly is true'));
      }
    }
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
const isHugePages = (n: string): boolean => n.startsWith('hugepages-');
/** Resources in the kubernetes.io namespace (or without a prefix) are native. */
function isNativeResource(name: string): boolean {
  return !name.includes('/') || name.includes('kubernetes.io/');
}
/** Extended resources: fully qualified, outside kubernetes.io, not prefixed `requests.`. */
export function isExtendedResourceName(name: string): boolean {
  if (isNativeResource(name) || name.startsWith('requests.')) return false;
  return qualifiedNameErrors(`requests.${name}`).length === 0;
}

function validateResourceName(name: string, field: string): FieldCause[] {
  const out = validateQualifiedNameField(name, field);
  if (out.length) return out;
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

/** Whether requests may be below limits for this resource (not for hugepages or extended ones). */
function isOvercommitAllowed(name: string): boolean {
  return isNativeResource(name) && !isHugePages(name);
}

function parseQ(v: unknown, field: string, out: FieldCause[]): Quantity | undefined {
  if (typeof v !== 'string' && typeof v !== 'number') {
    out.push(invalid(field, v, 'must be a quantity'));
    return undefined;
  }
  try {
    return parseQuantity(v);
  } catch (e) {
    out.push(invalid(field, v, e instanceof QuantityError ? e.message : String(e)));
    return undefined;
  }
}

/** Parse a quantity field; pushes an Invalid cause on a bad value or a negative one. */
export function validateQuantityField(v: unknown, field: string, out: FieldCause[], integer = false): Quantity | undefined {
  const q = parseQ(v, field, out);
  if (!q) return undefined;
  if (q.nanos < 0n) out.push(invalid(field, formatQuantity(q), 'must be greater than or equal to 0'));
  if (integer && q.nanos % 1_000_000_000n !== 0n) out.push(invalid(field, formatQuantity(q), 'must be an integer'));
  return q;
}

/** ValidateContainerResourceRequirements (limits/requests of a container or pod overhead). */
export function validateResourceRequirements(res: unknown, field: string): FieldCause[] {
  const out: FieldCause[] = [];
  if (res === undefined || res === null) return out;
  const r = asRecord(res);
  const limPath = `${field}.limits`;
  const reqPath = `${field}.requests`;
  const limits = new Map<string, Quantity>();
  for (const [name, v] of Object.entries(asRecord(r.limits))) {
    const f = `${limPath}[${name}]`;
    out.push(...validateContainerResourceName(name, f));
    const q = validateQuantityField(v, f, out, isExtendedResourceName(name));
    if (q) limits.set(name, q);
  }
  for (const [name, v] of Object.entries(asRecord(r.requests))) {
    const f = `${reqPath}[${name}]`;
    out.push(...validateContainerResourceName(name, f));
    const q = validateQuantityField(v, f, out, isExtendedResourceName(name));
    if (!q) continue;
    const lim = limits.get(name);
    if (lim) {
      if (compareQuantities(q, lim) !== 0 && !isOvercommitAllowed(name)) {
        out.push(invalid(reqPath, formatQuantity(q), `must be equal to ${name} limit of ${formatQuantity(lim)}`));
      } else if (compareQuantities(q, lim) > 0) {
        out.push(invalid(reqPath, formatQuantity(q), `must be less than or equal to ${name} limit of ${formatQuantity(lim)}`));
      }
    } else if (!isOvercommitAllowed(name) && Object.prototype.hasOwnProperty.call(asRecord(r.limits), name) === false) {
      out.push(requiredDetail(limPath, 'Limit must be set for non overcommitable resources'));
    }
  }
  return out;
}

// Probes and handlers ----------------------------------------------------------------------

function validateHTTPGet(h: Obj, field: string): FieldCause[] {
  const out: FieldCause[] = [];
  if (!str(h.path)) out.push(required(`${field}.path`));
  out.push(...validatePortNumOrName(h.port, `${field}.port`));
  const scheme = str(h.scheme);
  if (scheme && !['HTTP', 'HTTPS'].includes(scheme)) out.push(notSupported(`${field}.scheme`, scheme, ['HTTP', 'HTTPS']));
  asArray(h.httpHeaders).forEach((hd, i) => {
    const name = str(asRecord(hd).name);
    if (!/^[-!#$%&'*+.^_`|~0-9A-Za-z]+$/.test(name)) {
      out.push(invalid(`${field}.httpHeaders[${i}].name`, name, 'a valid HTTP header must consist of alphanumeric characters or \'-\' (e.g. \'X-Header-Name\', regex used for validation is \'[-A-Za-z0-9]+\')'));
    }
  });
  return out;
}

/** Exactly one handler (exec, httpGet, tcpSocket, grpc; sleep for lifecycle hooks). */
function validateHandler(h: Obj, field: string, kinds: string[], gracePeriod: number | undefined): FieldCause[] {
  const out: FieldCause[] = [];
  let n = 0;
  for (const kind of kinds) {
    const v = h[kind];
    if (v === undefined || v === null) continue;
    if (n > 0) {
      out.push(forbidden(`${field}.${kind}`, 'may not specify more than 1 handler type'));
      continue;
    }
    n++;
    const f = `${field}.${kind}`;
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
        for (const m of portNumErrors(r.port)) out.push(invalid(`${f}.port`, r.port, m));
        break;
      case 'sleep': {
        const s = r.seconds;
        const max = gracePeriod ?? 30;
        if (!isInt(s) || s <= 0 || s > max) out.push(invalid(`${f}.seconds`, s, `must be greater than 0 and less than terminationGracePeriodSeconds (${max})`));
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
  if (p === undefined || p === null) return [];
  const probe = asRecord(p);
  const out = validateHandler(probe, field, PROBE_HANDLERS, undefined);
  for (const k of ['initialDelaySeconds', 'timeoutSeconds', 'periodSeconds', 'successThreshold', 'failureThreshold']) {
    out.push(...validateNonnegative(probe[k], `${field}.${k}`));
  }
  const tgp = probe.terminationGracePeriodSeconds;
  if (tgp !== undefined && tgp !== null) {
    if (kind === 'readiness') out.push(invalid(`${field}.terminationGracePeriodSeconds`, tgp, 'must not be set for readinessProbes'));
    else if (!isInt(tgp) || tgp <= 0) out.push(invalid(`${field}.terminationGracePeriodSeconds`, tgp, 'must be greater than 0'));
  }
  if (kind !== 'readiness' && probe.successThreshold !== undefined && probe.successThreshold !== 1) {
    out.push(invalid(`${field}.successThreshold`, probe.successThreshold, 'must be 1'));
  }
  return out;
}

function validateLifecycle(l: unknown, field: string, gracePeriod: number | undefined): FieldCause[] {
  const out: FieldCause[] = [];
  const lc = asRecord(l);
  for (const hook of ['postStart', 'preStop']) {
    if (lc[hook] !== undefined && lc[hook] !== null) out.push(...validateHandler(asRecord(lc[hook]), `${field}.${hook}`, LIFECYCLE_HANDLERS, gracePeriod));
  }
  if (lc.stopSignal !== undefined) out.push(forbidden(`${field}.stopSignal`, 'may not be set'));
  return out;
}

// Security context -------------------------------------------------------------------------

function validateIdRange(v: unknown, field: string): FieldCause[] {
  if (v === undefined || v === null) return [];
  if (!isInt(v) || v < 0 || v > MAX_INT32) return [invalid(field, v, inclusiveRangeError(0, MAX_INT32))];
  return [];
}

function validateContainerSecurityContext(sc: unknown, field: string): FieldCause[] {
  if (sc === undefined || sc === null) return [];
  const s = asRecord(sc);
  const out: FieldCause[] = [];
  out.push(...validateIdRange(s.runAsUser, `${field}.runAsUser`));
  out.push(...validateIdRange(s.runAsGroup, `${field}.runAsGroup`));
  if (s.privileged === true && s.allowPrivilegeEscalation === false) {
    out.push(invalid(field, s, 'cannot set `allowPrivilegeEscalation` to false and `privileged` to true'));
  }
  if (s.procMount !== undefined && s.procMount !== null) {
    const pm = str(s.procMount);
    if (!['Default', 'Unmasked'].includes(pm)) out.push(notSupported(`${field}.procMount`, pm, ['Default', 'Unmasked']));
  }
  return out;
}

function validatePodSecurityContext(sc: unknown, field: string): FieldCause[] {
  if (sc === undefined || sc === null) return [];
  const s = asRecord(sc);
  const out: FieldCause[] = [];
  out.push(...validateIdRange(s.fsGroup, `${field}.fsGroup`));
  out.push(...validateIdRange(s.runAsUser, `${field}.runAsUser`));
  out.push(...validateIdRange(s.runAsGroup, `${field}.runAsGroup`));
  asArray(s.supplementalGroups).forEach((g, i) => out.push(...validateIdRange(g, `${field}.supplementalGroups[${i}]`)));
  if (s.fsGroupChangePolicy !== undefined && s.fsGroupChangePolicy !== null) {
    const p = str(s.fsGroupChangePolicy);
    const supported = ['OnRootMismatch', 'Always'];
    if (!supported.includes(p)) out.push(notSupported(`${field}.fsGroupChangePolicy`, p, supported));
  }
  asArray(s.sysctls).forEach((sy, i) => {
    const name = str(asRecord(sy).name);
    if (!name) out.push(required(`${field}.sysctls[${i}].name`));
    else if (!/^([a-z0-9]([-_a-z0-9]*[a-z0-9])?[./])*[a-z0-9]([-_a-z0-9]*[a-z0-9])?$/.test(name)) {
      out.push(invalid(`${field}.sysctls[${i}].name`, name, "must have at most 253 characters and match regex ^([a-z0-9]([-_a-z0-9]*[a-z0-9])?[\\./])*[a-z0-9]([-_a-z0-9]*[a-z0-9])?$"));
    }
  });
  return out;
}

// Containers -------------------------------------------------------------------------------

const TERMINATION_MESSAGE_POLICIES = ['File', 'FallbackToLogsOnError'];

function validateContainerCommon(c: Obj, volumes: Set<string>, field: string): FieldCause[] {
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
  out.push(...validateVolumeMounts(c.volumeMounts, volumes, `${field}.volumeMounts`));
  out.push(...validatePullPolicy(c.imagePullPolicy, `${field}.imagePullPolicy`));
  out.push(...validateResourceRequirements(c.resources, `${field}.resources`));
  asArray(c.resizePolicy).forEach((rp0, i) => {
    const rp = asRecord(rp0);
    const f = `${field}.resizePolicy[${i}]`;
    const rn = str(rp.resourceName);
    if (!['cpu', 'memory'].includes(rn)) out.push(notSupported(`${f}.resourceName`, rn, ['cpu', 'memory']));
    const pol = str(rp.restartPolicy);
    if (!['NotRequired', 'RestartContainer'].includes(pol)) out.push(notSupported(`${f}.restartPolicy`, pol, ['NotRequired', 'RestartContainer']));
  });
  out.push(...validateContainerSecurityContext(c.securityContext, `${field}.securityContext`));
  return out;
}

function validateContainers(containers: unknown, volumes: Set<string>, field: string, gracePeriod: number | undefined): FieldCause[] {
  const list = asArray(containers);
  if (list.length === 0) return [required(field)];
  const out: FieldCause[] = [];
  const names = new Set<string>();
  list.forEach((c0, i) => {
    const c = asRecord(c0);
    const f = `${field}[${i}]`;
    out.push(...validateContainerCommon(c, volumes, f));
    const name = str(c.name);
    if (names.has(name)) out.push(duplicate(`${f}.name`, name));
    else names.add(name);
    if (c.lifecycle !== undefined && c.lifecycle !== null) out.push(...validateLifecycle(c.lifecycle, `${f}.lifecycle`, gracePeriod));
    out.push(...validateProbe(c.livenessProbe, `${f}.livenessProbe`, 'liveness'));
    out.push(...validateProbe(c.readinessProbe, `${f}.readinessProbe`, 'readiness'));
    out.push(...validateProbe(c.startupProbe, `${f}.startupProbe`, 'startup'));
    if (c.restartPolicy !== undefined && c.restartPolicy !== null) out.push(forbidden(`${f}.restartPolicy`, 'may not be set for non-init containers'));
  });
  return out;
}

function validateInitContainers(inits: unknown, containers: unknown, volumes: Set<string>, field: string, gracePeriod: number | undefined): FieldCause[] {
  const out: FieldCause[] = [];
  const names = new Set<string>();
  for (const c of asArray(containers)) names.add(str(asRecord(c).name));
  asArray(inits).forEach((c0, i) => {
    const c = asRecord(c0);
    const f = `${field}[${i}]`;
    out.push(...validateContainerCommon(c, volumes, f));
    let restartAlways = false;
    if (c.restartPolicy !== undefined && c.restartPolicy !== null) {
      const rp = str(c.restartPolicy);
      if (rp !== 'Always') out.push(notSupported(`${f}.restartPolicy`, rp, ['Always']));
      restartAlways = rp === 'Always';
    }
    const name = str(c.name);
    if (names.has(name)) out.push(duplicate(`${f}.name`, name));
    else if (name) names.add(name);
    out.push(...hostPortConflicts([c], field));
    if (restartAlways) {
      if (c.lifecycle !== undefined && c.lifecycle !== null) out.push(...validateLifecycle(c.lifecycle, `${f}.lifecycle`, gracePeriod));
      out.push(...validateProbe(c.livenessProbe, `${f}.livenessProbe`, 'liveness'));
      out.push(...validateProbe(c.readinessProbe, `${f}.readinessProbe`, 'readiness'));
      out.push(...validateProbe(c.startupProbe, `${f}.startupProbe`, 'startup'));
    } else {
      for (const k of ['lifecycle', 'livenessProbe', 'readinessProbe', 'startupProbe']) {
        if (c[k] !== undefined && c[k] !== null) out.push(forbidden(`${f}.${k}`, 'may not be set for init containers without restartPolicy=Always'));
      }
    }
    if (asArray(c.resizePolicy).length > 0) out.push(invalid(`${f}.resizePolicy`, c.resizePolicy, 'must not be set for init containers'));
  });
  return out;
}

function validateEphemeralContainers(eph: unknown, containers: unknown, inits: unknown, volumes: Set<string>, field: string): FieldCause[] {
  const out: FieldCause[] = [];
  const names = new Set<string>();
  for (const c of [...asArray(containers), ...asArray(inits)]) names.add(str(asRecord(c).name));
  asArray(eph).forEach((c0, i) => {
    const c = asRecord(c0);
    const f = `${field}[${i}]`;
    out.push(...validateContainerCommon(c, volumes, f));
    const name = str(c.name);
    if (names.has(name)) out.push(duplicate(`${f}.name`, name));
    else names.add(name);
    for (const k of ['ports', 'livenessProbe', 'readinessProbe', 'startupProbe', 'lifecycle']) {
      if (c[k] !== undefined && c[k] !== null) out.push(forbidden(`${f}.${k}`, 'cannot be set for an Ephemeral Container'));
    }
  });
  return out;
}

/** checkHostPortConflicts: a hostPort/protocol pair may appear once among the containers. */
function hostPortConflicts(containers: unknown[], field: string): FieldCause[] {
  const out: FieldCause[] = [];
  const seen = new Set<string>();
  containers.forEach((c0, ci) => {
    asArray(asRecord(c0).ports).forEach((p0, pi) => {
      const p = asRecord(p0);
      if (!isInt(p.hostPort) || p.hostPort === 0) return;
      const key = `${str(p.hostIP)}/${p.hostPort}/${str(p.protocol)}`;
      if (seen.has(key)) out.push(duplicate(`${field}[${ci}].ports[${pi}].hostPort`, `${p.hostPort}/${str(p.protocol)}`));
      seen.add(key);
    });
  });
  return out;
}

// Volumes ----------------------------------------------------------------------------------

const FILE_MODE_MSG = 'must be a number between 0 and 0777 (octal), both inclusive';

function validateMode(v: unknown, field: string): FieldCause[] {
  if (v === undefined || v === null) return [];
  if (!isInt(v) || v < 0 || v > 0o777) return [invalid(field, v, FILE_MODE_MSG)];
  return [];
}

function validateKeyToPaths(items: unknown, field: string): FieldCause[] {
  const out: FieldCause[] = [];
  asArray(items).forEach((it0, i) => {
    const it = asRecord(it0);
    const f = `${field}[${i}]`;
    if (!str(it.key)) out.push(required(`${f}.key`));
    const p = str(it.path);
    if (!p) out.push(required(`${f}.path`));
    else out.push(...localDescendingPathErrors(p, `${f}.path`));
    out.push(...validateMode(it.mode, `${f}.mode`));
  });
  return out;
}

function validateDownwardAPIItems(items: unknown, field: string): FieldCause[] {
  const out: FieldCause[] = [];
  asArray(items).forEach((it0, i) => {
    const it = asRecord(it0);
    const f = `${field}[${i}]`;
    const p = str(it.path);
    if (!p) out.push(required(`${f}.path`));
    else out.push(...localDescendingPathErrors(p, `${f}.path`));
    out.push(...validateMode(it.mode, `${f}.mode`));
    if (isRecord(it.fieldRef)) {
      out.push(...validateObjectFieldSelector(it.fieldRef, VOLUME_FIELD_PATHS, `${f}.fieldRef`, true));
      if (isRecord(it.resourceFieldRef)) out.push(invalid(f, 'resource', 'fieldRef and resourceFieldRef can not be specified simultaneously'));
    } else if (isRecord(it.resourceFieldRef)) {
      const res = str(it.resourceFieldRef.resource);
      if (!RESOURCE_FIELD_REFS.includes(res) && !/^(limits|requests)\.hugepages-/.test(res)) {
        out.push(notSupported(`${f}.resourceFieldRef.resource`, res, RESOURCE_FIELD_REFS));
      }
    } else {
      out.push(requiredDetail(f, 'one of fieldRef and resourceFieldRef is required'));
    }
  });
  return out;
}

const HOST_PATH_TYPES = ['', 'DirectoryOrCreate', 'Directory', 'FileOrCreate', 'File', 'Socket', 'CharDevice', 'BlockDevice'];
const STORAGE_MEDIA = ['', 'Memory', 'HugePages'];

function validateVolumeSource(v: Obj, field: string): FieldCause[] {
  const out: FieldCause[] = [];
  let n = 0;
  for (const kind of VOLUME_SOURCES) {
    const src = v[kind];
    if (src === undefined || src === null) continue;
    const f = `${field}.${kind}`;
    if (n > 0) {
      out.push(forbidden(f, 'may not specify more than 1 volume type'));
      continue;
    }
    n++;
    const s = asRecord(src);
    switch (kind) {
      case 'hostPath': {
        const p = str(s.path);
        if (!p) out.push(required(`${f}.path`));
        if (p.split('/').includes('..')) out.push(invalid(`${f}.path`, p, "must not contain '..'"));
        const t = str(s.type);
        if (!HOST_PATH_TYPES.includes(t)) out.push(notSupported(`${f}.type`, t, HOST_PATH_TYPES));
        break;
      }
      case 'emptyDir': {
        const medium = str(s.medium);
        if (!STORAGE_MEDIA.includes(medium)) out.push(notSupported(`${f}.medium`, medium, STORAGE_MEDIA));
        if (s.sizeLimit !== undefined && s.sizeLimit !== null) validateQuantityField(s.sizeLimit, `${f}.sizeLimit`, out);
        break;
      }
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
        else if (!str(s.path).startsWith('/')) out.push(invalid(`${f}.path`, str(s.path), 'must be an absolute path'));
        break;
      case 'downwardAPI':
        out.push(...validateMode(s.defaultMode, `${f}.defaultMode`));
        out.push(...validateDownwardAPIItems(s.items, `${f}.items`));
        break;
      case 'projected': {
        out.push(...validateMode(s.defaultMode, `${f}.defaultMode`));
        asArray(s.sources).forEach((ps0, i) => {
          const ps = asRecord(ps0);
          const pf = `${f}.sources[${i}]`;
          let m = 0;
          for (const k of ['secret', 'configMap', 'downwardAPI', 'serviceAccountToken', 'clusterTrustBundle']) {
            if (ps[k] === undefined || ps[k] === null) continue;
            if (m > 0) out.push(forbidden(`${pf}.${k}`, 'may not specify more than 1 volume type per source'));
            m++;
            const r = asRecord(ps[k]);
            if (k === 'secret' || k === 'configMap') out.push(...validateKeyToPaths(r.items, `${pf}.${k}.items`));
            if (k === 'downwardAPI') out.push(...validateDownwardAPIItems(r.items, `${pf}.downwardAPI.items`));
            if (k === 'serviceAccountToken') {
              if (!str(r.path)) out.push(required(`${pf}.serviceAccountToken.path`));
              const exp = r.expirationSeconds;
              if (isInt(exp) && exp < 600) out.push(invalid(`${pf}.serviceAccountToken.expirationSeconds`, exp, 'may not specify a duration less than 10 minutes'));
              if (isInt(exp) && exp > 2 ** 32) out.push(invalid(`${pf}.serviceAccountToken.expirationSeconds`, exp, 'may not specify a duration larger than 2^32 seconds'));
            }
          }
          if (m === 0) out.push(requiredDetail(pf, 'must specify exactly 1 volume type'));
        });
        break;
      }
      case 'csi':
        if (!str(s.driver)) out.push(required(`${f}.driver`));
        break;
      case 'ephemeral':
        if (!isRecord(s.volumeClaimTemplate)) out.push(required(`${f}.volumeClaimTemplate`));
        break;
      case 'image':
        if (!str(s.reference)) out.push(required(`${f}.reference`));
        break;
      default:
        break;
    }
  }
  if (n === 0) out.push(requiredDetail(field, 'must specify a volume type'));
  return out;
}

/** ValidateVolumes: returns the names of the valid volumes (for volumeMounts checks). */
function validateVolumes(volumes: unknown, field: string): { names: Set<string>; errs: FieldCause[] } {
  const names = new Set<string>();
  const errs: FieldCause[] = [];
  asArray(volumes).forEach((v0, i) => {
    const v = asRecord(v0);
    const f = `${field}[${i}]`;
    const el = validateVolumeSource(v, f);
    const name = str(v.name);
    if (!name) el.push(required(`${f}.name`));
    else el.push(...validateDNS1123LabelField(name, `${f}.name`));
    if (names.has(name)) el.push(duplicate(`${f}.name`, name));
    if (el.length === 0) names.add(name);
    else errs.push(...el);
  });
  return { names, errs };
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
    if (t.tolerationSeconds !== undefined && t.tolerationSeconds !== null && effect !== 'NoExecute') {
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
        if (value) out.push(invalid(`${f}.operator`, t, "value must be empty when `operator` is 'Exists'"));
        break;
      default:
        out.push(notSupported(`${f}.operator`, op, ['Equal', 'Exists']));
    }
    if (effect) out.push(...validateTaintEffect(effect, true, `${f}.effect`));
  });
  return out;
}

function validateNodeSelectorRequirement(r: Obj, field: string, fieldsOnly: boolean): FieldCause[] {
  const out: FieldCause[] = [];
  const op = str(r.operator);
  const values = asArray(r.values);
  if (fieldsOnly) {
    if (str(r.key) !== 'metadata.name') out.push(invalid(`${field}.key`, str(r.key), 'not a valid field selector key'));
    if (op !== 'In' && op !== 'NotIn') out.push(invalid(`${field}.operator`, op, 'not a valid selector operator'));
    if (values.length !== 1) out.push(requiredDetail(`${field}.values`, 'must be only one value when `operator` is \'In\' or \'NotIn\' for node field selector'));
    return out;
  }
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
  return out;
}

function validateNodeSelectorTerm(t: Obj, field: string): FieldCause[] {
  const out: FieldCause[] = [];
  asArray(t.matchExpressions).forEach((r, j) => out.push(...validateNodeSelectorRequirement(asRecord(r), `${field}.matchExpressions[${j}]`, false)));
  asArray(t.matchFields).forEach((r, j) => out.push(...validateNodeSelectorRequirement(asRecord(r), `${field}.matchFields[${j}]`, true)));
  return out;
}

function validatePodAffinityTerm(t: Obj, field: string): FieldCause[] {
  const out: FieldCause[] = [];
  out.push(...validateLabelSelector(t.labelSelector, `${field}.labelSelector`));
  out.push(...validateLabelSelector(t.namespaceSelector, `${field}.namespaceSelector`));
  asArray(t.namespaces).forEach((ns) => {
    for (const m of validateDNS1123LabelField(str(ns), `${field}.namespace`)) out.push(m);
  });
  const tk = str(t.topologyKey);
  if (!tk) out.push(requiredDetail(`${field}.topologyKey`, 'can not be empty'));
  else out.push(...validateQualifiedNameField(tk, `${field}.topologyKey`));
  return out;
}

function validateWeighted(list: unknown, field: string, inner: (t: Obj, f: string) => FieldCause[], innerKey: string): FieldCause[] {
  const out: FieldCause[] = [];
  asArray(list).forEach((w0, i) => {
    const w = asRecord(w0);
    const f = `${field}[${i}]`;
    if (!isInt(w.weight) || w.weight < 1 || w.weight > 100) out.push(invalid(`${f}.weight`, w.weight, 'must be in the range 1-100'));
    out.push(...inner(asRecord(w[innerKey]), `${f}.${innerKey}`));
  });
  return out;
}

function validateAffinity(a: unknown, field: string): FieldCause[] {
  if (a === undefined || a === null) return [];
  const af = asRecord(a);
  const out: FieldCause[] = [];
  if (isRecord(af.nodeAffinity)) {
    const na = af.nodeAffinity;
    const f = `${field}.nodeAffinity`;
    if (isRecord(na.requiredDuringSchedulingIgnoredDuringExecution)) {
      const sel = na.requiredDuringSchedulingIgnoredDuringExecution;
      const rf = `${f}.requiredDuringSchedulingIgnoredDuringExecution`;
      const terms = asArray(sel.nodeSelectorTerms);
      if (terms.length === 0) out.push(requiredDetail(`${rf}.nodeSelectorTerms`, 'must have at least one node selector term'));
      terms.forEach((t, i) => out.push(...validateNodeSelectorTerm(asRecord(t), `${rf}.nodeSelectorTerms[${i}]`)));
    }
    out.push(...validateWeighted(na.preferredDuringSchedulingIgnoredDuringExecution, `${f}.preferredDuringSchedulingIgnoredDuringExecution`, validateNodeSelectorTerm, 'preference'));
  }
  for (const kind of ['podAffinity', 'podAntiAffinity']) {
    if (!isRecord(af[kind])) continue;
    const pa = af[kind] as Obj;
    const f = `${field}.${kind}`;
    asArray(pa.requiredDuringSchedulingIgnoredDuringExecution).forEach((t, i) =>
      out.push(...validatePodAffinityTerm(asRecord(t), `${f}.requiredDuringSchedulingIgnoredDuringExecution[${i}]`)),
    );
    out.push(...validateWeighted(pa.preferredDuringSchedulingIgnoredDuringExecution, `${f}.preferredDuringSchedulingIgnoredDuringExecution`, validatePodAffinityTerm, 'podAffinityTerm'));
  }
  return out;
}

function validateTopologySpread(list: unknown, field: string): FieldCause[] {
  const out: FieldCause[] = [];
  const seen = new Set<string>();
  asArray(list).forEach((c0, i) => {
    const c = asRecord(c0);
    const f = `${field}[${i}]`;
    if (!isInt(c.maxSkew) || c.maxSkew <= 0) out.push(invalid(`${f}.maxSkew`, c.maxSkew, 'must be greater than zero'));
    const tk = str(c.topologyKey);
    if (!tk) out.push(required(`${f}.topologyKey`));
    else out.push(...validateQualifiedNameField(tk, `${f}.topologyKey`));
    const wu = str(c.whenUnsatisfiable);
    const supported = ['DoNotSchedule', 'ScheduleAnyway'];
    if (!supported.includes(wu)) out.push(notSupported(`${f}.whenUnsatisfiable`, wu, supported));
    if (c.minDomains !== undefined && c.minDomains !== null) {
      if (!isInt(c.minDomains) || c.minDomains <= 0) out.push(invalid(`${f}.minDomains`, c.minDomains, 'must be greater than zero'));
      else if (wu !== 'DoNotSchedule') out.push(invalid(`${f}.minDomains`, c.minDomains, 'can only use minDomains if whenUnsatisfiable=DoNotSchedule, not ScheduleAnyway'));
    }
    const key = `${tk}/${wu}`;
    if (seen.has(key)) out.push(duplicate(`${f}.{topologyKey, whenUnsatisfiable}`, key));
    seen.add(key);
    out.push(...validateLabelSelector(c.labelSelector, `${f}.labelSelector`));
    for (const pol of ['nodeAffinityPolicy', 'nodeTaintsPolicy']) {
      if (c[pol] === undefined || c[pol] === null) continue;
      const v = str(c[pol]);
      if (!['Honor', 'Ignore'].includes(v)) out.push(notSupported(`${f}.${pol}`, v, ['Honor', 'Ignore']));
    }
  });
  return out;
}

const RESTART_POLICIES = ['Always', 'OnFailure', 'Never'];
const DNS_POLICIES = ['ClusterFirstWithHostNet', 'ClusterFirst', 'Default', 'None'];

function validateDNSConfig(cfg: unknown, dnsPolicy: string, field: string): FieldCause[] {
  const out: FieldCause[] = [];
  const c = asRecord(cfg);
  const nameservers = asArray(c.nameservers);
  if (dnsPolicy === 'None') {
    if (cfg === undefined || cfg === null) return [requiredDetail(field, 'must provide `dnsConfig` when `dnsPolicy` is None')];
    if (nameservers.length === 0) out.push(requiredDetail(`${field}.nameservers`, 'must provide at least one DNS nameserver when `dnsPolicy` is None'));
  }
  if (cfg === undefined || cfg === null) return out;
  if (nameservers.length > 3) out.push(invalid(`${field}.nameservers`, nameservers, 'must not have more than 3 nameservers'));
  nameservers.forEach((ns, i) => {
    if (!isIP(str(ns))) out.push(invalid(`${field}.nameservers[${i}]`, ns, 'must be valid IP address'));
  });
  const searches = asArray(c.searches);
  if (searches.length > 32) out.push(invalid(`${field}.searches`, searches, 'must not have more than 32 search paths'));
  searches.forEach((s0, i) => {
    let s = str(s0);
    if (s === '.') return;
    if (s.endsWith('.')) s = s.slice(0, -1);
    out.push(...validateDNS1123SubdomainField(s, `${field}.searches[${i}]`));
  });
  asArray(c.options).forEach((o, i) => {
    if (!str(asRecord(o).name)) out.push(requiredDetail(`${field}.options[${i}]`, 'Option.Name must not be empty'));
  });
  return out;
}

/**
 * ValidatePodSpec: every problem of a PodSpec (of a pod or of a template), with `field` the
 * path of the spec (`spec`, `spec.template.spec`).
 */
export function validatePodSpec(spec: unknown, field: string): FieldCause[] {
  if (!isRecord(spec)) return [required(field)];
  const out: FieldCause[] = [];
  const grace = isInt(spec.terminationGracePeriodSeconds) ? spec.terminationGracePeriodSeconds : undefined;
  const { names: volumes, errs } = validateVolumes(spec.volumes, `${field}.volumes`);
  out.push(...errs);
  out.push(...validateContainers(spec.containers, volumes, `${field}.containers`, grace));
  out.push(...validateInitContainers(spec.initContainers, spec.containers, volumes, `${field}.initContainers`, grace));
  out.push(...validateEphemeralContainers(spec.ephemeralContainers, spec.containers, spec.initContainers, volumes, `${field}.ephemeralContainers`));
  out.push(...hostPortConflicts(asArray(spec.containers), `${field}.containers`));
  if (spec.hostNetwork === true) {
    asArray(spec.containers).forEach((c, ci) => {
      asArray(asRecord(c).ports).forEach((p0, pi) => {
        const p = asRecord(p0);
        if (p.hostPort !== undefined && p.hostPort !== p.containerPort) {
          out.push(invalid(`${field}.containers[${ci}].ports[${pi}].containerPort`, p.containerPort, 'must match `hostPort` when `hostNetwork` is true'));
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
  out.push(...validatePodSecurityContext(spec.securityContext, `${field}.securityContext`));
  asArray(spec.imagePullSecrets).forEach((s, i) => {
    if (!str(asRecord(s).name)) out.push(required(`${field}.imagePullSecrets[${i}].name`));
  });
  out.push(...validateAffinity(spec.affinity, `${field}.affinity`));
  out.push(...validateDNSConfig(spec.dnsConfig, dp, `${field}.dnsConfig`));
  asArray(spec.readinessGates).forEach((g, i) => {
    out.push(...validateQualifiedNameField(str(asRecord(g).conditionType), `${field}.readinessGates[${i}].conditionType`));
  });
  out.push(...validateTopologySpread(spec.topologySpreadConstraints, `${field}.topologySpreadConstraints`));
  const san = str(spec.serviceAccountName);
  if (san) for (const m of dns1123SubdomainErrors(san)) out.push(invalid(`${field}.serviceAccountName`, san, m));
  const nodeName = str(spec.nodeName);
  if (nodeName) for (const m of dns1123SubdomainErrors(nodeName)) out.push(invalid(`${field}.nodeName`, nodeName, m));
  if (spec.activeDeadlineSeconds !== undefined && spec.activeDeadlineSeconds !== null) {
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
    asArray(h.hostnames).forEach((hn) => out.push(...validateDNS1123SubdomainField(str(hn), `${f}.hostnames`)));
  });
  const pcn = str(spec.priorityClassName);
  if (pcn) for (const m of dns1123SubdomainErrors(pcn)) out.push(invalid(`${field}.priorityClassName`, pcn, m));
  if (typeof spec.runtimeClassName === 'string') {
    for (const m of dns1123SubdomainErrors(spec.runtimeClassName)) out.push(invalid(`${field}.runtimeClassName`, spec.runtimeClassName, m));
  }
  if (spec.preemptionPolicy !== undefined && spec.preemptionPolicy !== null) {
    const pp = str(spec.preemptionPolicy);
    const supported = ['Never', 'PreemptLowerPriority'];
    if (!supported.includes(pp)) out.push(notSupported(`${field}.preemptionPolicy`, pp, supported));
  }
  if (spec.overhead !== undefined && spec.overhead !== null) {
    out.push(...validateResourceRequirements({ limits: spec.overhead }, `${field}.overhead`).map((c) => ({ ...c, field: c.field.replace(`${field}.overhead.limits`, `${field}.overhead`) })));
  }
  if (isRecord(spec.os)) {
    const os = str(spec.os.name);
    if (!os) out.push(required(`${field}.os.name`));
    else if (!['linux', 'windows'].includes(os)) out.push(notSupported(`${field}.os.name`, os, ['linux', 'windows']));
  }
  const gates = new Set<string>();
  asArray(spec.schedulingGates).forEach((g, i) => {
    const name = str(asRecord(g).name);
    out.push(...validateQualifiedNameField(name, `${field}.schedulingGates[${i}].name`));
    if (gates.has(name)) out.push(duplicate(`${field}.schedulingGates[${i}]`, name));
    gates.add(name);
  });
  for (const k of ['terminationGracePeriodSeconds']) {
    const v = spec[k];
    if (v !== undefined && v !== null && !isInt(v)) out.push(invalid(`${field}.${k}`, v, 'must be an integer'));
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

function validateOnlyAddedTolerations(newT: unknown, oldT: unknown, field: string): FieldCause[] {
  const news = asArray(newT);
  for (const o0 of asArray(oldT)) {
    const o = asRecord(o0);
    let found = false;
    for (const n0 of news) {
      const n = asRecord(n0);
      const oc = { ...o, tolerationSeconds: n.tolerationSeconds };
      if (jsonEqual(oc, n)) {
        // tolerationSeconds may only be lowered (or kept), never raised or removed.
        const os = o.tolerationSeconds;
        const ns = n.tolerationSeconds;
        if (os === undefined || os === null) found = ns === undefined || ns === null || true;
        else found = isInt(ns) && isInt(os) && (ns <= os || os < 0) ;
        if (os !== undefined && os !== null && (ns === undefined || ns === null)) found = false;
        break;
      }
    }
    if (!found) return [forbidden(field, 'existing toleration can not be modified except its tolerationSeconds')];
  }
  return validateTolerations(newT, field);
}

/** ValidatePodUpdate's spec rules: only images, activeDeadlineSeconds and added tolerations change. */
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
      if (!str(asRecord(c).image)) out.push(required(`${field}.${list}[${i}].image`));
    });
  }
  if (out.length) return out;
  out.push(...validateOnlyAddedTolerations(ns.tolerations, os.tolerations, `${field}.tolerations`));
  const nad = ns.activeDeadlineSeconds;
  const oad = os.activeDeadlineSeconds;
  if (nad !== undefined && nad !== null) {
    if (!isInt(nad) || nad < 0 || nad > MAX_INT32) {
      out.push(invalid(`${field}.activeDeadlineSeconds`, nad, inclusiveRangeError(0, MAX_INT32)));
      return out;
    }
    if (isInt(oad) && oad < nad) {
      out.push(invalid(`${field}.activeDeadlineSeconds`, nad, 'must be less than or equal to previous value'));
      return out;
    }
  } else if (oad !== undefined && oad !== null) {
    out.push(invalid(`${field}.activeDeadlineSeconds`, null, 'must not update from a positive integer to nil value'));
  }
  const munged = clone(ns);
  for (const list of ['containers', 'initContainers']) {
    const ml = asArray(munged[list]);
    const ol = asArray(os[list]);
    ml.forEach((c, i) => {
      if (isRecord(c)) c.image = asRecord(ol[i]).image;
    });
  }
  if (oad === undefined) delete munged.activeDeadlineSeconds;
  else munged.activeDeadlineSeconds = oad;
  if (os.schedulingGates === undefined) delete munged.schedulingGates;
  else munged.schedulingGates = os.schedulingGates;
  if (os.tolerations === undefined) delete munged.tolerations;
  else munged.tolerations = os.tolerations;
  const otg = os.terminationGracePeriodSeconds;
  if (isInt(otg) && otg < 0 && munged.terminationGracePeriodSeconds === 1) munged.terminationGracePeriodSeconds = otg;
  // Gated pods may gain nodeSelector entries and node affinity.
  if (asArray(os.schedulingGates).length > 0) {
    const onsel = asRecord(os.nodeSelector);
    const nnsel = asRecord(munged.nodeSelector);
    if (Object.entries(onsel).every(([k, v]) => nnsel[k] === v)) {
      if (os.nodeSelector === undefined) delete munged.nodeSelector;
      else munged.nodeSelector = os.nodeSelector;
    }
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

export { isCIdentifier };
