// Field validation against a kind's schema (client-node models): the cursor that says which keys
// an object may have where it sits, and the unknown fields of a decoded object.
import { modelAttributes, parseTypeRef, type TypeRef } from './openapi-models.ts';
import { MAX_ERRORS } from './fieldvalidation-errors.ts';

interface FieldIndex {
  /** JSON field name → type. */
  fields: Map<string, TypeRef>;
}

const fieldIndexCache = new Map<string, FieldIndex | null>();

export function fieldIndex(model: string): FieldIndex | null {
  const hit = fieldIndexCache.get(model);
  if (hit !== undefined) return hit;
  const attrs = modelAttributes(model);
  const idx = attrs ? { fields: new Map(attrs.map((a) => [a.baseName, parseTypeRef(a.type, a.format)] as const)) } : null;
  fieldIndexCache.set(model, idx);
  return idx;
}

const TOP_LEVEL: Record<string, TypeRef> = {
  apiVersion: { t: 'string' },
  kind: { t: 'string' },
  metadata: { t: 'model', name: 'V1ObjectMeta' },
};

/** Where a value sits in the schema: how to check the keys of an object found there. */
export type Cursor =
  | { c: 'model'; model: string; top: boolean }
  | { c: 'map'; of: TypeRef }
  | { c: 'array'; of: TypeRef }
  | { c: 'free' } // any JSON: duplicates reported, unknown fields not
  | { c: 'skip' }; // inside an unknown field, or a type mismatch: nothing reported

/** The cursor for an object (`{`) or array (`[`) found where `ref` is expected. */
export function containerCursor(ref: TypeRef | 'skip', top: boolean, container: 'object' | 'array'): Cursor {
  if (ref === 'skip') return { c: 'skip' };
  if (ref.t === 'any') return { c: 'free' };
  if (container === 'object') {
    if (ref.t === 'model') return fieldIndex(ref.name) ? { c: 'model', model: ref.name, top } : { c: 'free' };
    if (ref.t === 'map') return { c: 'map', of: ref.of };
    return { c: 'skip' };
  }
  return ref.t === 'array' ? { c: 'array', of: ref.of } : { c: 'skip' };
}

export function childPath(path: string, key: string): string {
  return path ? `${path}.${key}` : key;
}

export const ANY: TypeRef = { t: 'any' };

/** The type expected for a key of an object at `cur`, 'skip', or null when the key is unknown. */
export function keyType(cur: Cursor, key: string): TypeRef | 'skip' | null {
  switch (cur.c) {
    case 'model':
      return fieldIndex(cur.model)?.fields.get(key) ?? (cur.top ? TOP_LEVEL[key] : undefined) ?? null;
    case 'map':
      return cur.of;
    case 'free':
      return ANY;
    default:
      return 'skip';
  }
}

export interface UnknownFieldsOptions {
  /**
   * Visit object keys in sorted order (how Kubernetes reports a patched object or a YAML body,
   * which it sees as a Go map) instead of insertion order (a JSON body's document order).
   */
  sortKeys?: boolean;
}

/**
 * Paths of fields not in the schema of `modelName` (a client-node model such as `V1Pod`), as
 * Kubernetes prints them: `spec.containers[0].imagePullPolcy`. Values of unknown fields are not
 * descended into. An unknown model name reports nothing.
 */
export function unknownFields(obj: unknown, modelName: string, opts: UnknownFieldsOptions = {}): string[] {
  const out: string[] = [];
  if (!fieldIndex(modelName)) return out;
  // Iterative pre-order walk (deeply nested input must not overflow the stack). An unknown key
  // is reported when its turn comes, so reports interleave with descents as in a decoder. Paths
  // are kept as links to the parent and spelled out only for what is reported; scalars, which
  // report nothing, are not visited.
  const stack: Visit[] = [{ value: obj, ref: { t: 'model', name: modelName }, at: null, top: true }];
  while (stack.length && out.length < MAX_ERRORS) {
    const item = stack.pop()!;
    if (item.report !== undefined) {
      out.push(pathOf(item.report));
      continue;
    }
    const { value, ref, at, top } = item;
    if (value === null || typeof value !== 'object') continue;
    if (Array.isArray(value)) {
      const cur = containerCursor(ref, false, 'array');
      if (cur.c !== 'array') continue;
      for (let i = value.length - 1; i >= 0; i--) {
        const v: unknown = value[i];
        if (v !== null && typeof v === 'object') stack.push({ value: v, ref: cur.of, at: { parent: at, key: '', index: i }, top: false });
      }
      continue;
    }
    const cur = containerCursor(ref, top, 'object');
    if (cur.c !== 'model' && cur.c !== 'map') continue;
    const o = value as Record<string, unknown>;
    const keys = Object.keys(o);
    if (opts.sortKeys) keys.sort(compareGoStrings);
    for (let i = keys.length - 1; i >= 0; i--) {
      const k = keys[i]!;
      const t = keyType(cur, k);
      if (t === null) stack.push({ report: { parent: at, key: k, index: -1 } });
      else if (t !== 'skip') {
        const v = o[k];
        if (v !== null && typeof v === 'object') stack.push({ value: v, ref: t, at: { parent: at, key: k, index: -1 }, top: false });
      }
    }
  }
  return out;
}

/** Where a visited value sits: its parent's place and its key (index < 0) or index. */
interface Place {
  parent: Place | null;
  key: string;
  index: number;
}

type Visit = { value: unknown; ref: TypeRef; at: Place | null; top: boolean; report?: undefined } | { report: Place };

/** `spec.containers[0].name` for a place (as childPath would have built it step by step). */
function pathOf(place: Place): string {
  const chain: Place[] = [];
  for (let p: Place | null = place; p !== null; p = p.parent) chain.push(p);
  let path = '';
  for (let i = chain.length - 1; i >= 0; i--) {
    const p = chain[i]!;
    path = p.index >= 0 ? `${path}[${p.index}]` : childPath(path, p.key);
  }
  return path;
}

/** Go sorts map keys by bytes; for the ASCII keys of API objects that is code-unit order. */
function compareGoStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
