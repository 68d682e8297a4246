// PodSpec defaulting, as Kubernetes v1.32 pkg/apis/core/v1/defaults.go: what every PodSpec gets
// (templates included) and what only a Pod gets on create (defaultPodOnlySpec).
import { asArray, isRecord } from './validation.ts';
import { canonicalizeResourceList, formatQuantity, parseQuantity } from './quantity.ts';
import type { Obj } from './podspec-common.ts';
import { VOLUME_SOURCES } from './podspec-volumes.ts';

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
