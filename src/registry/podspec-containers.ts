// PodSpec validation of containers, init containers and ephemeral containers: ports, volume
// mounts and devices, probes and lifecycle handlers.
import type { FieldCause } from './types.ts';
import {
  asArray,
  asRecord,
  duplicate,
  forbidden,
  invalid,
  isRecord,
  notFound,
  notSupported,
  portNameErrors,
  portNumErrors,
  required,
  requiredDetail,
  validateDNS1123LabelField,
  validateNonnegative,
} from './validation.ts';
import {
  type Obj,
  isInt,
  localDescendingPathErrors,
  pathNoBacksteps,
  present,
  str,
  validatePullPolicy,
} from './podspec-common.ts';
import { validateEnv, validateEnvFrom } from './podspec-env.ts';
import { validateResourceRequirements } from './podspec-resources.ts';
import { validateContainerSecurityContext } from './podspec-security.ts';

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

export interface Ctx {
  volumes: Map<string, Obj>;
  grace: number | undefined;
  restartPolicy: string;
  hostUsers: boolean;
}

export function validateContainers(containers: unknown, ctx: Ctx, field: string): FieldCause[] {
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

export function validateInitContainers(inits: unknown, containers: unknown, ctx: Ctx, field: string): FieldCause[] {
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

export function validateEphemeralContainers(eph: unknown, containers: unknown, inits: unknown, ctx: Ctx, field: string): FieldCause[] {
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
