// PodSpec defaulting and validation, shared by pods and every kind with a pod template
// (statefulsets, daemonsets, …). Follows Kubernetes v1.32: pkg/apis/core/v1/defaults.go for
// defaults and pkg/apis/core/validation ValidatePodSpec for validation (field paths and
// messages as the API server reports them).
//
// defaultPodSpec() is what Kubernetes applies to every PodSpec, templates included.
// defaultPodOnlySpec() adds what only a Pod gets (requests from limits, and what admission
// plugins add on pod create: serviceAccountName, default not-ready/unreachable tolerations,
// priority and preemptionPolicy).
//
// This file keeps the entry points (validatePodSpec, validatePodSpecUpdate, computeQOSClass) and
// re-exports the parts in podspec-*.ts (defaults, containers, env, resources, security, volumes,
// scheduling), so importers keep using this path.
import type { FieldCause } from './types.ts';
import {
  asArray,
  asRecord,
  dns1123SubdomainErrors,
  duplicate,
  forbidden,
  inclusiveRangeError,
  invalid,
  isIP,
  isRecord,
  jsonEqual,
  notSupported,
  required,
  requiredDetail,
  validateDNS1123LabelField,
  validateDNS1123SubdomainField,
  validateLabels,
  validateQualifiedNameField,
  INVALID_IP_MSG,
} from './validation.ts';
import { parseQuantity } from './quantity.ts';
import { MAX_INT32, isInt, present, str } from './podspec-common.ts';
import {
  type Ctx,
  validateContainers,
  validateEphemeralContainers,
  validateInitContainers,
} from './podspec-containers.ts';
import { validateResourceRequirements } from './podspec-resources.ts';
import { validatePodSecurityContext } from './podspec-security.ts';
import { validateVolumes } from './podspec-volumes.ts';
import { validateAffinity, validateTolerations, validateTopologySpread } from './podspec-scheduling.ts';

export { defaultPodOnlySpec, defaultPodSpec, defaultPullPolicy, imageTag } from './podspec-defaults.ts';
export { validatePortNumOrName } from './podspec-containers.ts';
export {
  isExtendedResourceName,
  isNativeResource,
  validateQuantityField,
  validateResourceName,
  validateResourceRequirements,
} from './podspec-resources.ts';
export { validateHostPathSource } from './podspec-volumes.ts';
export {
  validateNodeSelector,
  validateNodeSelectorTerm,
  validateTaintEffect,
  validateTolerations,
} from './podspec-scheduling.ts';

export interface PodSpecValidationOptions {
  /** The spec belongs to a Pod (not a template): stricter hostNetwork port and image rules. */
  isPod?: boolean;
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

/** The checks of spec.nodeName (part of validatePodSpec; alone for a binding, which sets only it). */
export function validateNodeName(specIn: unknown, field: string): FieldCause[] {
  const nodeName = str(asRecord(specIn).nodeName);
  const out: FieldCause[] = [];
  if (nodeName) for (const m of dns1123SubdomainErrors(nodeName)) out.push(invalid(`${field}.nodeName`, nodeName, m));
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
  out.push(...validateNodeName(spec, field));
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
