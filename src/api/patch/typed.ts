// Schema-aware operations on JSON values for server-side apply, after Kubernetes'
// structured-merge-diff: the set of fields a value sets, merging an applied configuration into a
// live object, comparing two objects field by field, and pruning fields a manager stopped
// applying. Lists follow their list type (./schema.ts): `atomic` lists and `+structType=atomic`
// structs are single values; `set` lists hold scalars keyed by value; `map` lists hold objects
// keyed by their key fields.
import { PatchError } from './errors.ts';
import { canonicalJson, FieldSet, pathString } from './fieldset.ts';
import { clone, deepEqual, getOwn, isObject, setKey, type JsonObject } from './json.ts';
import { fieldTypeOf, isDeclaredField, SCALAR, type TypeRef } from './schema.ts';

type ListRef = Extract<TypeRef, { kind: 'list' }>;

/** Whether values of this type are owned and compared as one value. */
function isAtomic(t: TypeRef): boolean {
  switch (t.kind) {
    case 'scalar':
    case 'untyped':
      return true;
    case 'struct':
    case 'map':
      return t.atomic;
    case 'list':
      return t.listType === 'atomic';
    default:
      return false;
  }
}

/** Whether `v` has the shape a granular type `t` walks into (deduced types: objects). */
function walkable(t: TypeRef, v: unknown): boolean {
  if (isAtomic(t)) return false;
  if (t.kind === 'list') return Array.isArray(v);
  return isObject(v);
}

function invalid(path: readonly string[], message: string): PatchError {
  const where = pathString(path) || '.';
  return new PatchError(422, 'Invalid', `${where}: ${message}`);
}

/**
 * The path elements of a list's items (`k:{…}` / `v:…`), or undefined when the list cannot be
 * keyed (an item without its key fields, duplicate keys) and must be treated as one value.
 * With `strict` (an applied configuration) those cases throw 422 instead.
 */
export function itemElements(
  list: readonly unknown[],
  t: ListRef,
  strict: boolean,
  path: readonly string[],
): string[] | undefined {
  const out: string[] = [];
  const seen = new Set<string>();
  for (let i = 0; i < list.length; i++) {
    const item = list[i];
    let pe: string;
    if (t.listType === 'set') {
      if (isObject(item) || Array.isArray(item)) {
        if (strict) throw invalid(path, `element ${i}: set items must be scalars`);
        return undefined;
      }
      pe = `v:${canonicalJson(item)}`;
    } else {
      if (!isObject(item)) {
        if (strict) throw invalid(path, `element ${i}: associative list items must be objects`);
        return undefined;
      }
      for (const k of t.keys) {
        const v = item[k] ?? t.keyDefaults[k];
        if (v === undefined || v === null) {
          if (strict) {
            throw invalid(
              path,
              `element ${i}: associative list with keys has an element that omits key field ${JSON.stringify(k)} (and doesn't have default value)`,
            );
          }
          return undefined;
        }
      }
      pe = keyElement(item, t);
    }
    if (seen.has(pe)) {
      if (strict) throw invalid(path, `duplicate entries for key ${pathString([pe])}`);
      return undefined;
    }
    seen.add(pe);
    out.push(pe);
  }
  return out;
}

/** The key fields of a map list's items, sorted (canonicalJson's order), with their JSON names. */
const sortedKeyFields = new WeakMap<ListRef, { name: string; json: string }[]>();

/**
 * `k:` + the canonical JSON of an item's key fields (defaults filled in), which must all be
 * present: what canonicalJson of an object of them spells, without building that object.
 */
function keyElement(item: JsonObject, t: ListRef): string {
  let fields = sortedKeyFields.get(t);
  if (fields === undefined) {
    fields = [...new Set(t.keys)].sort().map((name) => ({ name, json: JSON.stringify(name) }));
    sortedKeyFields.set(t, fields);
  }
  let out = 'k:{';
  for (let i = 0; i < fields.length; i++) {
    const f = fields[i]!;
    const v = item[f.name] ?? t.keyDefaults[f.name];
    const j = typeof v === 'string' ? JSON.stringify(v) : canonicalJson(v);
    out += i === 0 ? `${f.json}:${j}` : `,${f.json}:${j}`;
  }
  return `${out}}`;
}

// ---------------------------------------------------------------------------------------------
// The fields a value sets

/**
 * The set of fields `v` sets: every scalar and atomic value, every list item, every map entry,
 * every empty object or null. `strict` rejects lists that cannot be keyed (applied configs).
 */
export function toFieldSet(v: unknown, t: TypeRef, strict: boolean): FieldSet {
  const root = new FieldSet();
  collect(v, t, root, [], strict);
  root.member = false;
  return root;
}

function collect(v: unknown, t: TypeRef, node: FieldSet, path: string[], strict: boolean): void {
  if (v === null || v === undefined || !walkable(t, v)) {
    node.member = true;
    return;
  }
  if (t.kind === 'list') {
    const list = v as unknown[];
    const els = itemElements(list, t, strict, path);
    if (!els) {
      node.member = true;
      return;
    }
    for (let i = 0; i < list.length; i++) {
      const c = node.child(els[i]!);
      if (t.listType === 'map') collect(list[i], t.elem, c, [...path, els[i]!], strict);
      c.member = true;
    }
    return;
  }
  const obj = v as JsonObject;
  for (const [k, val] of Object.entries(obj)) {
    if (val === undefined) continue;
    const pe = `f:${k}`;
    const c = node.child(pe);
    collect(val, fieldTypeOf(t, k), c, [...path, pe], strict);
    if (val === null || (isObject(val) && Object.keys(val).length === 0) || !isDeclaredField(t, k)) {
      c.member = true;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Merging an applied configuration into a live object

function withoutNulls(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(withoutNulls);
  if (isObject(v)) {
    const out: JsonObject = {};
    for (const [k, val] of Object.entries(v)) if (val !== null && val !== undefined) setKey(out, k, withoutNulls(val));
    return out;
  }
  return v;
}

/** `live` with `config` merged in (config wins; `null` in config removes the field). */
export function mergeValues(live: unknown, config: unknown, t: TypeRef): unknown {
  return merge(live, config, t, []);
}

function merge(l: unknown, r: unknown, t: TypeRef, path: string[]): unknown {
  if (r === undefined) return l;
  if (r === null) return undefined;
  if (l === undefined || l === null || !walkable(t, l) || !walkable(t, r)) return withoutNulls(clone(r));
  if (t.kind === 'list') return mergeList(l as unknown[], r as unknown[], t, path);
  return mergeObject(l as JsonObject, r as JsonObject, t, path);
}

function mergeObject(l: JsonObject, r: JsonObject, t: TypeRef, path: string[]): JsonObject {
  const out: JsonObject = { ...l };
  for (const [k, rv] of Object.entries(r)) {
    const m = merge(getOwn(l, k), rv, fieldTypeOf(t, k), [...path, `f:${k}`]);
    if (m === undefined) delete out[k];
    else setKey(out, k, m);
  }
  return out;
}

function mergeList(l: unknown[], r: unknown[], t: ListRef, path: string[]): unknown[] {
  const rEls = itemElements(r, t, true, path)!;
  const lEls = itemElements(l, t, false, path);
  if (!lEls) return withoutNulls(clone(r)) as unknown[];
  const lIdx = new Map(lEls.map((pe, i) => [pe, i]));
  const rIdx = new Map(rEls.map((pe, i) => [pe, i]));
  const shared = rEls.filter((pe) => lIdx.has(pe));
  let s = 0;
  const mergedR = new Set<string>();
  const out: unknown[] = [];
  const item = (pe: string, lv: unknown, rv: unknown): unknown =>
    t.listType === 'map' ? merge(lv, rv, t.elem, [...path, pe]) : rv;
  let li = 0;
  let ri = 0;
  while (li < l.length || ri < r.length) {
    if (li < l.length && ri < r.length) {
      const pe = lEls[li]!;
      if (pe === rEls[ri]) {
        out.push(item(pe, l[li], r[ri]));
        mergedR.add(pe);
        if (shared[s] === pe) s++;
        li++;
        ri++;
        continue;
      }
      if (rIdx.has(pe) && s < shared.length && shared[s] !== pe) {
        li++;
        continue;
      }
    }
    if (li < l.length) {
      const pe = lEls[li]!;
      if (!rIdx.has(pe)) {
        out.push(l[li]);
        li++;
        continue;
      }
      if (mergedR.has(pe)) {
        li++;
        continue;
      }
    }
    if (ri < r.length) {
      const pe = rEls[ri]!;
      mergedR.add(pe);
      const at = lIdx.get(pe);
      out.push(item(pe, at === undefined ? undefined : l[at], r[ri]));
      if (shared[s] === pe) s++;
      ri++;
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Comparing two objects

export interface Comparison {
  added: FieldSet;
  modified: FieldSet;
  removed: FieldSet;
}

/**
 * The fields added, modified and removed going from `lhs` to `rhs`. A granular value (object,
 * keyed list, list item) that appears or disappears as a whole is itself added/removed too.
 */
export function compareValues(lhs: unknown, rhs: unknown, t: TypeRef): Comparison {
  const c: Comparison = { added: new FieldSet(), modified: new FieldSet(), removed: new FieldSet() };
  compare(lhs, rhs, t, [], c);
  return c;
}

function compare(lIn: unknown, rIn: unknown, t: TypeRef, path: string[], c: Comparison): void {
  // The same value (a subtree both objects share, or equal scalars) changes nothing.
  if (lIn === rIn) return;
  const l = lIn === null ? undefined : lIn;
  const r = rIn === null ? undefined : rIn;
  if (l === undefined && r === undefined) return;
  const granular = (l === undefined || walkable(t, l)) && (r === undefined || walkable(t, r));
  let leaf = !granular;
  // Equal values change nothing: lists (keying their items costs) and the top-level fields are
  // checked whole first, which is cheap where they are equal and stops early where they differ.
  if (granular && l !== undefined && r !== undefined && (t.kind === 'list' || path.length === 1) && deepEqual(l, r)) return;
  if (granular && t.kind === 'list') {
    const lList = (l as unknown[] | undefined) ?? [];
    const rList = (r as unknown[] | undefined) ?? [];
    const lEls = itemElements(lList, t, false, path);
    const rEls = itemElements(rList, t, false, path);
    if (!lEls || !rEls) leaf = true;
    else {
      const lMap = new Map(lEls.map((pe, i) => [pe, lList[i]]));
      const rMap = new Map(rEls.map((pe, i) => [pe, rList[i]]));
      const elem = t.listType === 'map' ? t.elem : SCALAR;
      for (const [pe, lv] of lMap) {
        path.push(pe);
        compare(lv, rMap.get(pe), elem, path, c);
        path.pop();
      }
      for (const [pe, rv] of rMap) {
        if (lMap.has(pe)) continue;
        path.push(pe);
        compare(undefined, rv, elem, path, c);
        path.pop();
      }
    }
  } else if (granular) {
    const lo = (l as JsonObject | undefined) ?? {};
    const ro = (r as JsonObject | undefined) ?? {};
    for (const k of Object.keys(lo)) {
      path.push(`f:${k}`);
      compare(lo[k], getOwn(ro, k), fieldTypeOf(t, k), path, c);
      path.pop();
    }
    for (const k of Object.keys(ro)) {
      if (Object.hasOwn(lo, k)) continue;
      path.push(`f:${k}`);
      compare(undefined, ro[k], fieldTypeOf(t, k), path, c);
      path.pop();
    }
  }
  if (leaf) {
    if (l === undefined) c.added.insert(path);
    else if (r === undefined) c.removed.insert(path);
    else if (!deepEqual(l, r)) c.modified.insert(path);
    return;
  }
  // A granular value that appears or disappears as a whole (an explicit null counts as present,
  // as Go's zero values have them for fields without omitempty).
  if (path.length === 0) return;
  if (lIn === undefined) c.added.insert(path);
  else if (rIn === undefined) c.removed.insert(path);
}

// ---------------------------------------------------------------------------------------------
// Pruning what a manager stopped applying

const REMOVE = Symbol('remove');

function isEmptyContainer(v: unknown): boolean {
  return (Array.isArray(v) && v.length === 0) || (isObject(v) && Object.keys(v).length === 0);
}

/**
 * Removes from `v` the fields in `last` (what the applying manager applied before) that no
 * manager owns any more (`owned`: every manager's set, the applier's new one included). A
 * removed list item keeps its key fields while someone still owns part of it; a struct or map
 * left empty by the removal goes too.
 */
export function pruneValue(v: unknown, t: TypeRef, last: FieldSet, owned: FieldSet): unknown {
  return prune(v, t, last, owned);
}

function prune(v: unknown, t: TypeRef, last: FieldSet, owned: FieldSet | undefined): unknown {
  if (t.kind === 'list') {
    if (!walkable(t, v)) return v;
    const list = v as unknown[];
    const els = itemElements(list, t, false, []);
    if (!els) return v;
    const elem = t.listType === 'map' ? t.elem : SCALAR;
    const out: unknown[] = [];
    for (let i = 0; i < list.length; i++) {
      const lc = last.get(els[i]!);
      if (!lc) {
        out.push(list[i]);
        continue;
      }
      const res = pruneChild(list[i], elem, lc, owned?.get(els[i]!), t.keys);
      if (res !== REMOVE) out.push(res);
    }
    return out;
  }
  if (!isObject(v) || isAtomic(t)) return v;
  const out: JsonObject = { ...v };
  for (const [pe, lc] of last.children) {
    if (!pe.startsWith('f:')) continue;
    const key = pe.slice(2);
    const child = getOwn(out, key);
    if (child === undefined) continue;
    const res = pruneChild(child, fieldTypeOf(t, key), lc, owned?.get(pe), []);
    if (res === REMOVE) delete out[key];
    else setKey(out, key, res);
  }
  return out;
}

function pruneChild(
  val: unknown,
  t: TypeRef,
  last: FieldSet,
  owned: FieldSet | undefined,
  keyFields: readonly string[],
): unknown {
  const ownedBelow = owned !== undefined && !owned.isEmpty();
  if (!ownedBelow && last.member) return REMOVE;
  if (last.children.size === 0) return val;
  const pruned = prune(val, t, last, owned);
  if (!ownedBelow) return isEmptyContainer(pruned) && !isEmptyContainer(val) ? REMOVE : pruned;
  if (keyFields.length > 0 && isObject(pruned) && isObject(val)) {
    for (const k of keyFields) if (val[k] !== undefined) setKey(pruned, k, val[k]);
  }
  return pruned;
}
