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

// ---- Helpers added for the core/v1 entries (field-level wrappers and apimachinery checks) ----

/** A plain JSON object (not null, not an array). */
export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** v as an object, or an empty one (read-only use). */
export function asRecord(v: unknown): Record<string, unknown> {
  return isRecord(v) ? v : {};
}

/** v as an array, or an empty one (read-only use). */
export function asArray(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}

/** validation.InclusiveRangeError. */
export function inclusiveRangeError(lo: number, hi: number): string {
  return `must be between ${lo} and ${hi}, inclusive`;
}

/** One Invalid cause per DNS-1123 label problem of value. */
export function validateDNS1123LabelField(value: string, field: string): FieldCause[] {
  return dns1123LabelErrors(value).map((m) => invalid(field, value, m));
}

export function validateDNS1123SubdomainField(value: string, field: string): FieldCause[] {
  return dns1123SubdomainErrors(value).map((m) => invalid(field, value, m));
}

export function validateQualifiedNameField(value: string, field: string): FieldCause[] {
  return qualifiedNameErrors(value).map((m) => invalid(field, value, m));
}

/** validation.IsValidPortNum. */
export function portNumErrors(port: unknown): string[] {
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) return [inclusiveRangeError(1, 65535)];
  return [];
}

/** validation.IsValidPortName (IANA_SVC_NAME). */
export function portNameErrors(name: string): string[] {
  const errs: string[] = [];
  if (name.length > 15) errs.push('must be no more than 15 characters');
  if (!/^[-a-z0-9]+$/.test(name)) errs.push('must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)');
  if (!/[a-z]/.test(name)) errs.push('must contain at least one letter (a-z)');
  if (name.includes('--')) errs.push('must not contain consecutive hyphens');
  if (name.length > 0 && (name.startsWith('-') || name.endsWith('-'))) errs.push('must not begin or end with a hyphen');
  return errs;
}

const IPV4_RE = /^(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(\.(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3}$/;

/** IPv4 in dotted-quad form (no leading zeros, as Go's netip parser requires). */
export function isIPv4(s: string): boolean {
  return IPV4_RE.test(s);
}

/** IPv6 in any RFC 4291 text form (optionally with an embedded IPv4 tail). */
export function isIPv6(s: string): boolean {
  if (!s.includes(':') || s.includes('%')) return false;
  let groups = s;
  let extra = 0;
  const lastColon = s.lastIndexOf(':');
  const tail = s.slice(lastColon + 1);
  if (tail.includes('.')) {
    if (!isIPv4(tail)) return false;
    groups = s.slice(0, lastColon + 1) + '0:0';
    extra = 0;
  }
  const dbl = groups.split('::');
  if (dbl.length > 2) return false;
  const part = (p: string): string[] | null => {
    if (p === '') return [];
    const gs = p.split(':');
    return gs.every((g) => /^[0-9a-fA-F]{1,4}$/.test(g)) ? gs : null;
  };
  const head = part(dbl[0]);
  const rest = dbl.length === 2 ? part(dbl[1]) : [];
  if (!head || !rest) return false;
  const n = head.length + rest.length + extra;
  return dbl.length === 2 ? n <= 7 : n === 8;
}

export function isIP(s: string): boolean {
  return isIPv4(s) || isIPv6(s);
}

export const INVALID_IP_MSG = 'must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)';

/** A CIDR like 10.0.0.0/24 or fd00::/64. */
export function isCIDR(s: string): boolean {
  const i = s.indexOf('/');
  if (i < 0) return false;
  const ip = s.slice(0, i);
  const bits = s.slice(i + 1);
  if (!/^[0-9]{1,3}$/.test(bits)) return false;
  const n = Number(bits);
  if (isIPv4(ip)) return n <= 32;
  if (isIPv6(ip)) return n <= 128;
  return false;
}

/** validation.IsConfigMapKey (also used for Secret keys). */
export function configMapKeyErrors(key: string): string[] {
  const errs: string[] = [];
  if (key.length > 253) errs.push('must be no more than 253 characters');
  if (!/^[-._a-zA-Z0-9]+$/.test(key)) {
    errs.push(
      "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')",
    );
  }
  if (key === '.') errs.push("must not be '.'");
  else if (key === '..') errs.push("must not be '..'");
  else if (key.startsWith('..')) errs.push("must not start with '..'");
  return errs;
}

/** field.NotFound. */
export function notFound(field: string, value: unknown): FieldCause {
  return { reason: 'FieldValueNotFound', field, message: `Not found: ${quote(value)}` };
}

/** field.Required with a detail message (`Required value: <detail>`). */
export function requiredDetail(field: string, detail: string): FieldCause {
  return { reason: 'FieldValueRequired', field, message: detail ? `Required value: ${detail}` : 'Required value' };
}

/** apimachinery's ValidateNonnegativeField for an optional number. */
export function validateNonnegative(value: unknown, field: string): FieldCause[] {
  if (value === undefined || value === null) return [];
  if (typeof value !== 'number' || !Number.isInteger(value)) return [invalid(field, value, 'must be an integer')];
  return value < 0 ? [negative(field, value)] : [];
}

/** FieldImmutableErrorMsg. */
export const FIELD_IMMUTABLE_MSG = 'field is immutable';

/** Structural equality of JSON values (key order does not matter). */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== typeof b || a === null || b === null || typeof a !== 'object') return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) {
    const bb = b as unknown[];
    return a.length === bb.length && a.every((x, i) => jsonEqual(x, bb[i]));
  }
  const ra = a as Record<string, unknown>;
  const rb = b as Record<string, unknown>;
  const ka = Object.keys(ra).filter((k) => ra[k] !== undefined);
  const kb = Object.keys(rb).filter((k) => rb[k] !== undefined);
  return ka.length === kb.length && ka.every((k) => Object.prototype.hasOwnProperty.call(rb, k) && jsonEqual(ra[k], rb[k]));
}

/** apimachinery's ValidateImmutableField: Invalid(field, new, "field is immutable") when changed. */
export function validateImmutable(newVal: unknown, oldVal: unknown, field: string): FieldCause[] {
  return jsonEqual(newVal, oldVal) ? [] : [invalid(field, newVal ?? null, FIELD_IMMUTABLE_MSG)];
}

// ---- Helpers added for the apps, discovery, storage and events.k8s.io entries ----

/** field.TooMany: `Too many: <n>: must have at most <max> items`. */
export function tooMany(field: string, actual: number, max: number): FieldCause {
  return { reason: 'FieldValueTooMany', field, message: `Too many: ${actual}: must have at most ${max} items` };
}

/** validation.IsValidPercent's message. */
export const PERCENT_MSG =
  "a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')";

const PERCENT_RE = /^[0-9]+%$/;

/** The number in an IntOrString: the percentage of a percent string, the integer otherwise
 *  (apps validation's getIntOrPercentValue; a non-numeric string counts as 0). */
export function intOrPercentValue(v: unknown): number {
  if (typeof v === 'number') return Number.isFinite(v) ? Math.trunc(v) : 0;
  if (typeof v === 'string') {
    if (PERCENT_RE.test(v)) return Number(v.slice(0, -1));
    return /^-?[0-9]+$/.test(v) ? Number(v) : 0;
  }
  return 0;
}

/** apps validation's ValidatePositiveIntOrPercent: a percent string or a nonnegative integer. */
export function positiveIntOrPercentCauses(v: unknown, field: string): FieldCause[] {
  if (typeof v === 'string') return PERCENT_RE.test(v) ? [] : [invalid(field, v, PERCENT_MSG)];
  if (typeof v === 'number' && Number.isInteger(v)) return v < 0 ? [negative(field, v)] : [];
  return [invalid(field, v, "must be an integer or percentage (e.g '5%')")];
}

/** apps validation's IsNotMoreThan100Percent. */
export function notMoreThan100PercentCauses(v: unknown, field: string): FieldCause[] {
  if (typeof v !== 'string' || !PERCENT_RE.test(v)) return [];
  return Number(v.slice(0, -1)) > 100 ? [invalid(field, v, 'must not be greater than 100%')] : [];
}
