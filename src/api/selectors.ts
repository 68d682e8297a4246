// Label and field selectors in their query-string forms (`?labelSelector=`, `?fieldSelector=`),
// parsed as apimachinery's labels.Parse and fields.ParseSelector do.
import { errors } from './errors.ts';

export type LabelRequirement =
  | { key: string; op: 'exists' | 'notexists' }
  | { key: string; op: 'in' | 'notin'; values: string[] }
  | { key: string; op: '=' | '!='; values: [string] }
  | { key: string; op: 'gt' | 'lt'; values: [string] };

export type LabelQuery = LabelRequirement[];

const KEY_RE = /^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const VALUE_RE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

function checkKey(key: string, whole: string): void {
  if (!KEY_RE.test(key) || key.length > 317) throw errors.badRequest(`unable to parse requirement: invalid label key "${key}" in selector "${whole}"`);
}
function checkValue(v: string, whole: string): void {
  if (!VALUE_RE.test(v) || v.length > 63) throw errors.badRequest(`unable to parse requirement: invalid label value: "${v}" in selector "${whole}"`);
}

/** Split on commas that are not inside parentheses. */
function splitTop(s: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let cur = '';
  for (const c of s) {
    if (c === '(') depth++;
    if (c === ')') depth--;
    if (c === ',' && depth === 0) {
      out.push(cur);
      cur = '';
    } else cur += c;
  }
  out.push(cur);
  return out;
}

export function parseLabelSelector(input: string | undefined | null): LabelQuery {
  if (!input || input.trim() === '') return [];
  const reqs: LabelQuery = [];
  for (const raw of splitTop(input)) {
    const part = raw.trim();
    if (part === '') throw errors.badRequest(`unable to parse requirement: found '', expected: identifier in selector "${input}"`);
    let m: RegExpMatchArray | null;
    if ((m = part.match(/^!\s*(\S+)$/))) {
      checkKey(m[1], input);
      reqs.push({ key: m[1], op: 'notexists' });
    } else if ((m = part.match(/^(\S+?)\s+(in|notin)\s*\(([^)]*)\)$/))) {
      checkKey(m[1], input);
      const values = m[3].split(',').map((v) => v.trim());
      for (const v of values) checkValue(v, input);
      reqs.push({ key: m[1], op: m[2] as 'in' | 'notin', values });
    } else if ((m = part.match(/^([^=!<>\s]+)\s*(==|=|!=)\s*(.*)$/))) {
      checkKey(m[1], input);
      const v = m[3].trim();
      checkValue(v, input);
      reqs.push({ key: m[1], op: m[2] === '!=' ? '!=' : '=', values: [v] });
    } else if ((m = part.match(/^([^=!<>\s]+)\s*(<|>)\s*(-?\d+)$/))) {
      checkKey(m[1], input);
      reqs.push({ key: m[1], op: m[2] === '>' ? 'gt' : 'lt', values: [m[3]] });
    } else if (/^[^=!<>\s()]+$/.test(part)) {
      checkKey(part, input);
      reqs.push({ key: part, op: 'exists' });
    } else {
      throw errors.badRequest(`unable to parse requirement: invalid selector "${input}"`);
    }
  }
  return reqs;
}

export function labelsMatch(q: LabelQuery, labels: Record<string, string> | undefined): boolean {
  const l = labels ?? {};
  for (const r of q) {
    const has = Object.prototype.hasOwnProperty.call(l, r.key);
    const v = l[r.key];
    switch (r.op) {
      case 'exists':
        if (!has) return false;
        break;
      case 'notexists':
        if (has) return false;
        break;
      case '=':
      case 'in':
        if (!has || !r.values.includes(v)) return false;
        break;
      case '!=':
      case 'notin':
        if (has && r.values.includes(v)) return false;
        break;
      case 'gt':
      case 'lt': {
        if (!has) return false;
        const n = Number(v);
        const t = Number(r.values[0]);
        if (!Number.isFinite(n) || (r.op === 'gt' ? !(n > t) : !(n < t))) return false;
        break;
      }
    }
  }
  return true;
}

export interface FieldRequirement {
  field: string;
  op: '=' | '!=';
  value: string;
}

/** Field selectors: `a=b,c!=d` (also `==`), with backslash escapes as apimachinery allows. */
export function parseFieldSelector(input: string | undefined | null): FieldRequirement[] {
  if (!input || input.trim() === '') return [];
  const out: FieldRequirement[] = [];
  for (const raw of input.split(',')) {
    const part = raw.trim();
    const m = part.match(/^([^=!]+?)\s*(==|=|!=)\s*(.*)$/);
    if (!m) throw errors.badRequest(`invalid selector: '${input}'; can't understand '${part}'`);
    out.push({ field: m[1].trim(), op: m[2] === '!=' ? '!=' : '=', value: m[3].trim().replace(/\\(.)/g, '$1') });
  }
  return out;
}

export function fieldsMatch(reqs: FieldRequirement[], fields: Record<string, string>): boolean {
  for (const r of reqs) {
    const v = fields[r.field] ?? '';
    if (r.op === '=' ? v !== r.value : v === r.value) return false;
  }
  return true;
}
