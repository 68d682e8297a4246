// PodSpec validation of the pod and container security contexts.
import type { FieldCause } from './types.ts';
import {
  asArray,
  asRecord,
  duplicate,
  inclusiveRangeError,
  invalid,
  notSupported,
  required,
  requiredDetail,
} from './validation.ts';
import { MAX_INT32, type Obj, isInt, localDescendingPathErrors, present, str } from './podspec-common.ts';

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

export function validateContainerSecurityContext(sc: unknown, field: string, hostUsers: boolean): FieldCause[] {
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

export function validatePodSecurityContext(sc: unknown, spec: Obj, field: string): FieldCause[] {
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
