// Validation helpers shared by the registry entries, following Kubernetes' apimachinery rules
// and wording (validation.IsDNS1123Subdomain, IsQualifiedName, label values, selectors).
import type { FieldCause } from './types.ts';

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const QUALIFIED_NAME_PART = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const C_IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

export const DNS1123_LABEL_MSG =
  "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
export const DNS1123_SUBDOMAIN_MSG =
  "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";

/** Problems with value as a DNS-1123 label (empty list when valid). */
export function dns1123LabelErrors(value: string): string[] {
  const errs: string[] = [];
  if (value.length > 63) errs.push('must be no more than 63 characters');
  if (!DNS1123_LABEL.test(value)) errs.push(DNS1123_LABEL_MSG);
  return errs;
}

export function dns1123SubdomainErrors(value: string): string[] {
  const errs: string[] = [];
  if (value.length > 253) errs.push('must be no more than 253 characters');
  if (!DNS1123_SUBDOMAIN.test(value)) errs.push(DNS1123_SUBDOMAIN_MSG);
  return errs;
}

/** Path-segment names (Kubernetes' ValidatePathSegmentName): not '.', '..', no '/' or '%'. */
export function pathSegmentErrors(value: string): string[] {
  if (value === '.' || value === '..') return [`may not be '${value}'`];
  for (const c of ['/', '%']) if (value.includes(c)) return [`may not contain '${c}'`];
  return [];
}

/** Qualified names (label and annotation keys): optional DNS-subdomain prefix + '/' + name. */
export function qualifiedNameErrors(value: string): string[] {
  const parts = value.split('/');
  let name: string;
  const errs: string[] = [];
  if (parts.length === 1) name = parts[0];
  else if (parts.length === 2) {
    const [prefix, n] = parts;
    name = n;
    if (prefix.length === 0) errs.push('prefix part must be non-empty');
    else for (const e of dns1123SubdomainErrors(prefix)) errs.push(`prefix part ${e}`);
  } else {
    return [
      "a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')",
    ];
  }
  if (name.length === 0) errs.push('name part must be non-empty');
  else if (name.length > 63) errs.push('name part must be no more than 63 characters');
  if (name.length > 0 && !QUALIFIED_NAME_PART.test(name)) {
    errs.push(
      "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')",
    );
  }
  return errs;
}

export function labelValueErrors(value: string): string[] {
  const errs: string[] = [];
  if (value.length > 63) errs.push('must be no more than 63 characters');
  if (!LABEL_VALUE.test(value)) {
    errs.push(
      "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')",
    );
  }
  return errs;
}

export function isCIdentifier(value: string): boolean {
  return C_IDENTIFIER.test(value);
}

/** Go's %q-ish quoting used in Kubernetes messages. */
export function quote(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  return JSON.stringify(v) ?? String(v);
}

export function required(field: string): FieldCause {
  return { reason: 'FieldValueRequired', field, message: 'Required value' };
}

export function invalid(field: string, value: unknown, detail: string): FieldCause {
  const shown = value === undefined ? '' : `${typeof value === 'object' ? JSON.stringify(value) : quote(value)}: `;
  return { reason: 'FieldValueInvalid', field, message: `Invalid value: ${shown}${detail}` };
}

export function notSupported(field: string, value: unknown, supported: string[]): FieldCause {
  return {
    reason: 'FieldValueNotSupported',
    field,
    message: `Unsupported value: ${quote(value)}: supported values: ${supported.map((s) => quote(s)).join(', ')}`,
  };
}

export function duplicate(field: string, value: unknown): FieldCause {
  return { reason: 'FieldValueDuplicate', field, message: `Duplicate value: ${quote(value)}` };
}

export function forbidden(field: string, detail: string): FieldCause {
  return { reason: 'FieldValueForbidden', field, message: `Forbidden: ${detail}` };
}

export function tooLong(field: string, max: number): FieldCause {
  return { reason: 'FieldValueTooLong', field, message: `Too long: may not be more than ${max} bytes` };
}

export function negative(field: string, value: number): FieldCause {
  return invalid(field, value, 'must be greater than or equal to 0');
}

/** Labels: keys are qualified names, values label values. */
export function validateLabels(labels: unknown, field: string): FieldCause[] {
  if (labels === undefined || labels === null) return [];
  if (typeof labels !== 'object' || Array.isArray(labels)) return [invalid(field, labels, 'must be a map of string to string')];
  const out: FieldCause[] = [];
  for (const [k, v] of Object.entries(labels as Record<string, unknown>)) {
    for (const e of qualifiedNameErrors(k)) out.push(invalid(field, k, e));
    if (typeof v !== 'string') out.push(invalid(`${field}[${k}]`, v, 'must be a string'));
    else for (const e of labelValueErrors(v)) out.push(invalid(field, v, e));
  }
  return out;
}

const TOTAL_ANNOTATION_SIZE_LIMIT = 256 * 1024;

export function validateAnnotations(annotations: unknown, field: string): FieldCause[] {
  if (annotations === undefined || annotations === null) return [];
  if (typeof annotations !== 'object' || Array.isArray(annotations)) {
    return [invalid(field, annotations, 'must be a map of string to string')];
  }
  const out: FieldCause[] = [];
  let total = 0;
  for (const [k, v] of Object.entries(annotations as Record<string, unknown>)) {
    for (const e of qualifiedNameErrors(k.toLowerCase())) out.push(invalid(field, k, e));
    if (typeof v !== 'string') out.push(invalid(`${field}[${k}]`, v, 'must be a string'));
    else total += k.length + v.length;
  }
  if (total > TOTAL_ANNOTATION_SIZE_LIMIT) out.push(tooLong(field, TOTAL_ANNOTATION_SIZE_LIMIT));
  return out;
}

export interface LabelSelectorRequirement {
  key: string;
  operator: string;
  values?: string[];
}

export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: LabelSelectorRequirement[];
}

/** metav1.LabelSelector validation (ValidateLabelSelector). */
export function validateLabelSelector(sel: unknown, field: string): FieldCause[] {
  if (sel === undefined || sel === null) return [];
  if (typeof sel !== 'object' || Array.isArray(sel)) return [invalid(field, sel, 'must be a label selector')];
  const s = sel as LabelSelector;
  const out = validateLabels(s.matchLabels, `${field}.matchLabels`);
  (s.matchExpressions ?? []).forEach((req, i) => {
    const f = `${field}.matchExpressions[${i}]`;
    for (const e of qualifiedNameErrors(String(req?.key ?? ''))) out.push(invalid(`${f}.key`, req?.key, e));
    const vals = req?.values ?? [];
    switch (req?.operator) {
      case 'In':
      case 'NotIn':
        if (vals.length === 0) out.push(required(`${f}.values`));
        break;
      case 'Exists':
      case 'DoesNotExist':
        if (vals.length > 0) out.push(forbidden(`${f}.values`, 'may not be specified when `operator` is \'Exists\' or \'DoesNotExist\''));
        break;
      default:
        out.push(invalid(`${f}.operator`, req?.operator, 'not a valid selector operator'));
    }
    vals.forEach((v, j) => {
      for (const e of labelValueErrors(String(v))) out.push(invalid(`${f}.values[${j}]`, v, e));
    });
  });
  return out;
}

/** Whether labels satisfy a metav1.LabelSelector. An empty selector matches everything. */
export function labelSelectorMatches(sel: LabelSelector | undefined, labels: Record<string, string> | undefined): boolean {
  if (!sel) return false;
  const l = labels ?? {};
  for (const [k, v] of Object.entries(sel.matchLabels ?? {})) if (l[k] !== v) return false;
  for (const req of sel.matchExpressions ?? []) {
    const has = Object.prototype.hasOwnProperty.call(l, req.key);
    const vals = req.values ?? [];
    switch (req.operator) {
      case 'In':
        if (!has || !vals.includes(l[req.key])) return false;
        break;
      case 'NotIn':
        if (has && vals.includes(l[req.key])) return false;
        break;
      case 'Exists':
        if (!has) return false;
        break;
      case 'DoesNotExist':
        if (has) return false;
        break;
      default:
        return false;
    }
  }
  return true;
}

/** The string form kubectl and Scale.status.selector use (`a=b,c in (d,e)`). */
export function labelSelectorString(sel: LabelSelector | undefined): string {
  if (!sel) return '';
  const parts: string[] = [];
  for (const [k, v] of Object.entries(sel.matchLabels ?? {}).sort(([a], [b]) => a.localeCompare(b))) parts.push(`${k}=${v}`);
  for (const r of sel.matchExpressions ?? []) {
    const vals = [...(r.values ?? [])].sort().join(',');
    if (r.operator === 'In') parts.push(`${r.key} in (${vals})`);
    else if (r.operator === 'NotIn') parts.push(`${r.key} notin (${vals})`);
    else if (r.operator === 'Exists') parts.push(r.key);
    else if (r.operator === 'DoesNotExist') parts.push(`!${r.key}`);
  }
  return parts.join(',');
}
