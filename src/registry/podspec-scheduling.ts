// PodSpec validation of scheduling constraints: tolerations, node selectors, affinity and
// topology spread constraints.
import type { FieldCause } from './types.ts';
import {
  asArray,
  asRecord,
  dns1123SubdomainErrors,
  duplicate,
  forbidden,
  invalid,
  isRecord,
  labelValueErrors,
  notSupported,
  required,
  requiredDetail,
  validateDNS1123LabelField,
  validateLabelSelector,
  validateQualifiedNameField,
} from './validation.ts';
import { type Obj, isInt, present, str } from './podspec-common.ts';

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

export function validateAffinity(a: unknown, field: string): FieldCause[] {
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

export function validateTopologySpread(list: unknown, field: string): FieldCause[] {
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
