// LIST with Kubernetes semantics: label/field selectors, limit/continue chunking over one
// store snapshot, and resourceVersion / resourceVersionMatch.
import type { KubeObject, ResourceDef } from '../registry/types.ts';
import type { ObjectStore } from './objectstore.ts';
import { decodeStored, listPrefix, toView } from './objectstore.ts';
import { errors } from './errors.ts';
import { labelsMatch, parseFieldSelector, parseLabelSelector, type FieldRequirement, type LabelQuery } from './selectors.ts';

export interface ListQuery {
  namespace?: string;
  labelSelector?: string | null;
  fieldSelector?: string | null;
  limit?: number;
  continue?: string | null;
  resourceVersion?: string | null;
  resourceVersionMatch?: string | null;
}

export interface ListPage {
  items: KubeObject[];
  resourceVersion: string;
  continue?: string;
  remaining?: number;
}

/** The field-selector attributes of an object: metadata.name, metadata.namespace + the def's. */
export function objectFields(def: ResourceDef, obj: KubeObject): Record<string, string> {
  const f: Record<string, string> = { 'metadata.name': obj.metadata.name ?? '' };
  if (def.namespaced) f['metadata.namespace'] = obj.metadata.namespace ?? '';
  for (const [k, get] of Object.entries(def.fieldSelectors ?? {})) {
    try {
      f[k] = get(obj);
    } catch {
      f[k] = '';
    }
  }
  return f;
}

export interface Filter {
  labels: LabelQuery;
  fields: FieldRequirement[];
  empty: boolean;
}

export function compileFilter(def: ResourceDef, labelSelector?: string | null, fieldSelector?: string | null): Filter {
  const labels = parseLabelSelector(labelSelector);
  const fields = parseFieldSelector(fieldSelector);
  const known = new Set(['metadata.name', ...(def.namespaced ? ['metadata.namespace'] : []), ...Object.keys(def.fieldSelectors ?? {})]);
  for (const f of fields) {
    if (!known.has(f.field)) {
      throw errors.badRequest(`"${f.field}" is not a known field selector: only "${[...known].join('", "')}"`);
    }
  }
  return { labels, fields, empty: labels.length === 0 && fields.length === 0 };
}

export function matches(def: ResourceDef, filter: Filter, obj: KubeObject): boolean {
  if (filter.empty) return true;
  if (!labelsMatch(filter.labels, obj.metadata.labels)) return false;
  // Only the fields the selector names (what fieldsMatch would read of objectFields): a watch
  // filters every event of its resource, and kinds have many field-selector attributes.
  for (const r of filter.fields) {
    const v = fieldValue(def, obj, r.field) ?? '';
    if (r.op === '=' ? v !== r.value : v === r.value) return false;
  }
  return true;
}

/** One attribute of objectFields(def, obj). */
function fieldValue(def: ResourceDef, obj: KubeObject, field: string): string | undefined {
  const sel = def.fieldSelectors;
  if (sel !== undefined && Object.hasOwn(sel, field)) {
    try {
      return sel[field]!(obj);
    } catch {
      return '';
    }
  }
  if (field === 'metadata.name') return obj.metadata.name ?? '';
  if (field === 'metadata.namespace' && def.namespaced) return obj.metadata.namespace ?? '';
  return undefined;
}

interface ApiContinue {
  s: string; // store continue token
  rv: number;
}

function decodeApiContinue(token: string): ApiContinue {
  try {
    const o = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as ApiContinue;
    if (typeof o.s !== 'string' || typeof o.rv !== 'number') throw new Error('shape');
    return o;
  } catch {
    throw errors.badRequest('The provided continue parameter is invalid: invalid continue token');
  }
}

function encodeApiContinue(c: ApiContinue): string {
  return Buffer.from(JSON.stringify(c)).toString('base64url');
}

export async function listObjects(objects: ObjectStore, def: ResourceDef, q: ListQuery): Promise<ListPage> {
  const filter = compileFilter(def, q.labelSelector, q.fieldSelector);
  const prefix = listPrefix(def, q.namespace);
  const limit = q.limit && q.limit > 0 ? q.limit : 0;
  let revision: number | undefined;
  let storeContinue: string | undefined;
  if (q.continue) {
    const c = decodeApiContinue(q.continue);
    storeContinue = c.s;
    revision = c.rv;
  } else if (q.resourceVersion && q.resourceVersion !== '0') {
    const rv = Number(q.resourceVersion);
    if (!Number.isSafeInteger(rv) || rv < 0) throw errors.badRequest(`resourceVersion: Invalid value: "${q.resourceVersion}": must be a non-negative integer`);
    if (q.resourceVersionMatch === 'Exact') revision = rv;
    else {
      const cur = await objects.kv.currentRevision();
      if (rv > cur) throw errors.timeout(`Too large resource version: ${rv}, current: ${cur}`);
    }
  }
  if (q.resourceVersionMatch && !['Exact', 'NotOlderThan'].includes(q.resourceVersionMatch)) {
    throw errors.badRequest(`resourceVersionMatch: Unsupported value: "${q.resourceVersionMatch}": supported values: "Exact", "NotOlderThan"`);
  }

  const items: KubeObject[] = [];
  let rev = revision ?? 0;
  for (;;) {
    const need = limit ? limit - items.length : 0;
    const page = await objects.kv.list(prefix, { limit: need, continue: storeContinue, revision: storeContinue ? undefined : revision });
    rev = page.revision;
    for (const kv of page.items) {
      const obj = toView(def, decodeStored(kv.value, kv.modRevision));
      if (matches(def, filter, obj)) items.push(obj);
    }
    storeContinue = page.continue;
    if (!storeContinue) return { items, resourceVersion: String(rev) };
    if (limit && items.length >= limit) {
      const out: ListPage = { items, resourceVersion: String(rev), continue: encodeApiContinue({ s: storeContinue, rv: rev }) };
      if (filter.empty && page.remaining !== undefined) out.remaining = page.remaining;
      return out;
    }
  }
}
