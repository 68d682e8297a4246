// Kubernetes strategic merge patch (application/strategic-merge-patch+json).
//
// Like a JSON merge patch, except where the kind's Go types say otherwise (./strategies.ts):
// - lists with patch strategy `merge` are merged: lists of objects item by item on the merge key
//   (`containers` by `name`, container `ports` by `containerPort`, …), lists of scalars as sets
//   (`finalizers`); other lists are replaced; maps with strategy `replace` are replaced;
// - directives: `$patch: replace|delete` in a map (replace it by the rest of the patch map / by an
//   empty map) or as a list item (`replace`: the list becomes the patch items; `delete`: drop the
//   item with that merge key), `$deleteFromPrimitiveList/<field>: [values]`,
//   `$setElementOrder/<field>: [...]` (final order of a merged list), `$retainKeys: [keys]`
//   (drop the other keys of the original map), `null` (delete the key).
// Order of a merged list without `$setElementOrder` follows Kubernetes: items named in the patch
// keep the patch's order, the others the original's, interleaved by the original order — so an
// item only in the patch comes first.
import { badRequest, guardDepth, PatchError, unprocessable } from './errors.ts';
import { clone, getOwn, goString, isObject, setKey, type JsonObject } from './json.ts';
import { fieldOf, modelExists, rootType, UNTYPED, type FieldInfo, type TypeRef } from './schema.ts';
import { applyMergePatch } from './json-patch.ts';

const DIRECTIVE = '$patch';
const RETAIN_KEYS = '$retainKeys';
const DELETE_FROM_PRIMITIVE_LIST = '$deleteFromPrimitiveList/';
const SET_ELEMENT_ORDER = '$setElementOrder/';

const ERR_NO_LIST_OF_LISTS = 'lists of lists are not supported';
const ERR_PRIMITIVE_LIST = 'invalid patch format of primitive list';
const ERR_RETAIN_KEYS = 'invalid patch format of retainKeys';
const ERR_SET_ELEMENT_ORDER = 'invalid patch format of setElementOrder list';

/**
 * Whether Kubernetes accepts a strategic merge patch for this model: only kinds with Go types
 * (built-in kinds); for others (custom resources) the apiserver answers 415 UnsupportedMediaType
 * — see `strategicMergeUnsupported()` in ./errors.ts.
 */
export function strategicMergeSupported(modelName: string): boolean {
  return modelExists(modelName);
}

/**
 * Applies a strategic merge patch to a copy of `doc`, using the patch metadata of client-node
 * model `modelName` (e.g. `V1Pod`). For a model without Go types it behaves as a JSON merge
 * patch (the API layer answers 415 for those before calling, as Kubernetes does).
 * Throws PatchError 400 (malformed patch/directive) or 422 (lists of lists).
 */
export function applyStrategicMergePatch(doc: unknown, patch: unknown, modelName: string): unknown {
  return guardDepth(() => applyStrategicMergePatchImpl(doc, patch, modelName));
}

function applyStrategicMergePatchImpl(doc: unknown, patch: unknown, modelName: string): unknown {
  if (!isObject(patch)) {
    const what = patch === null ? 'null' : Array.isArray(patch) ? 'array' : typeof patch;
    throw badRequest(`json: cannot unmarshal ${what} into Go value of type map[string]interface {}`);
  }
  if (!strategicMergeSupported(modelName)) return applyMergePatch(doc, patch);
  const original = isObject(doc) ? clone(doc) : {};
  return mergeMap(original, clone(patch), rootType(modelName));
}

type Kind = 'map' | 'slice' | 'string' | 'number' | 'boolean' | 'null';

function kindOf(v: unknown): Kind {
  if (v === null || v === undefined) return 'null';
  if (Array.isArray(v)) return 'slice';
  if (typeof v === 'object') return 'map';
  return typeof v === 'string' ? 'string' : typeof v === 'boolean' ? 'boolean' : 'number';
}

function goType(v: unknown): string {
  switch (kindOf(v)) {
    case 'map':
      return 'map[string]interface {}';
    case 'slice':
      return '[]interface {}';
    case 'string':
      return 'string';
    case 'number':
      return 'float64';
    case 'boolean':
      return 'bool';
    default:
      return '<nil>';
  }
}

function errNoMergeKey(m: unknown, key: string): PatchError {
  return badRequest(`map: ${goString(m)} does not contain declared merge key: ${key}`);
}

function expectedList(v: unknown): PatchError {
  return badRequest(`expected a []interface {}, but received a ${goType(v)}`);
}

function isMergeStrategy(info: FieldInfo): boolean {
  return info.strategy?.split(',').includes('merge') ?? false;
}

function elemType(info: FieldInfo): TypeRef {
  return info.type.kind === 'list' ? info.type.elem : UNTYPED;
}

function mergeMap(original: JsonObject | undefined, patch: JsonObject, t: TypeRef): JsonObject {
  if (Object.hasOwn(patch, DIRECTIVE)) {
    const directive = patch[DIRECTIVE];
    if (directive === 'delete') return {};
    if (directive === 'replace') {
      delete patch[DIRECTIVE];
      return mergeMap(undefined, patch, t);
    }
    // `$patch: merge` asks for what happens anyway.
    if (directive !== 'merge') {
      throw badRequest(`unknown patch type: ${goString(directive)} in map: ${goString(patch)}`);
    }
    delete patch[DIRECTIVE];
  }
  const out: JsonObject = original ?? {};
  applyRetainKeys(out, patch);
  applySetElementOrder(out, patch, t);

  for (const [rawKey, patchV] of Object.entries(patch)) {
    let key = rawKey;
    let isDeleteList = false;
    if (rawKey.startsWith(DELETE_FROM_PRIMITIVE_LIST)) {
      key = rawKey.slice(DELETE_FROM_PRIMITIVE_LIST.length);
      if (!key) throw badRequest(ERR_PRIMITIVE_LIST);
      isDeleteList = true;
    }
    if (patchV === null) {
      if (!isDeleteList) delete out[key];
      continue;
    }
    const info = fieldOf(t, key);
    const origV = getOwn(out, key);
    if (origV === undefined || kindOf(origV) !== kindOf(patchV)) {
      if (!isDeleteList) setKey(out, key, freshValue(patchV, info));
      continue;
    }
    if (isObject(origV) && isObject(patchV)) {
      setKey(
        out,
        key,
        info.strategy === 'replace' ? mergeMap(undefined, patchV, info.type) : mergeMap(origV, patchV, info.type),
      );
    } else if (Array.isArray(origV) && Array.isArray(patchV)) {
      setKey(out, key, mergeListField(origV, patchV, info, isDeleteList));
    } else {
      setKey(out, key, patchV);
    }
  }
  return out;
}

/** The value of a key the original does not have: the patch value with its directives applied. */
function freshValue(patchV: unknown, info: FieldInfo): unknown {
  if (isObject(patchV)) return mergeMap(undefined, patchV, info.type);
  if (Array.isArray(patchV)) return mergeListField([], patchV, info, false);
  return patchV;
}

function mergeListField(
  original: unknown[],
  patch: unknown[],
  info: FieldInfo,
  isDeleteList: boolean,
): unknown[] {
  if (isMergeStrategy(info) || isDeleteList) {
    return mergeSlice(original, patch, elemType(info), info.mergeKey ?? '', isDeleteList);
  }
  return patch;
}

function sliceElementKind(...slices: unknown[][]): Kind | undefined {
  let prev: Kind | undefined;
  for (const s of slices) {
    for (const v of s) {
      const k = kindOf(v);
      if (prev === undefined) {
        if (k === 'slice') throw unprocessableList();
        prev = k;
      } else if (prev !== k) {
        throw badRequest(`list element types are not identical: ${goString(slices)}`);
      }
    }
  }
  return prev;
}

function unprocessableList(): PatchError {
  return unprocessable(ERR_NO_LIST_OF_LISTS);
}

function mergeSlice(
  originalIn: unknown[],
  patchIn: unknown[],
  elem: TypeRef,
  mergeKey: string,
  isDeleteList: boolean,
): unknown[] {
  if (originalIn.length === 0 && patchIn.length === 0) return originalIn;
  const kind = sliceElementKind(originalIn, patchIn)!;
  let original = originalIn;
  let patch = patchIn;
  let merged: unknown[];
  if (kind !== 'map') {
    if (isDeleteList) {
      const drop = new Set(patch);
      return original.filter((v) => !drop.has(v));
    }
    merged = [];
    for (const v of [...original, ...patch]) if (!merged.includes(v)) merged.push(v);
  } else {
    if (!mergeKey) throw badRequest(`cannot merge lists without merge key for type map`);
    [original, patch] = mergeSpecialElements(original as JsonObject[], patch as JsonObject[], mergeKey, elem);
    merged = mergeItems(original as JsonObject[], patch as JsonObject[], mergeKey, elem);
  }
  const [patchItems, serverOnly] = partition(merged, patch, mergeKey, kind);
  return normalizeElementOrder(patchItems, serverOnly, patch, original, mergeKey, kind);
}

/** Handles `$patch` items of a merged list; returns the new original and the plain patch items. */
function mergeSpecialElements(
  original: JsonObject[],
  patch: JsonObject[],
  mergeKey: string,
  elem: TypeRef,
): [JsonObject[], JsonObject[]] {
  const plain: JsonObject[] = [];
  let replace = false;
  let out = original;
  for (const item of patch) {
    if (!Object.hasOwn(item, DIRECTIVE)) {
      plain.push(item);
      continue;
    }
    const directive = item[DIRECTIVE];
    if (directive === 'delete') {
      if (!Object.hasOwn(item, mergeKey)) throw errNoMergeKey(item, mergeKey);
      const value = item[mergeKey];
      out = out.filter((o) => !(Object.hasOwn(o, mergeKey) && o[mergeKey] === value));
    } else if (directive === 'replace') {
      replace = true;
    } else if (directive === 'merge') {
      throw badRequest('merging lists cannot yet be specified in the patch');
    } else {
      throw badRequest(`unknown patch type: ${goString(directive)} in map: ${goString(item)}`);
    }
  }
  // `$patch: replace`: the list becomes the patch's plain items.
  if (replace) return [plain.map((p) => mergeMap(undefined, p, elem)), []];
  return [out, plain];
}

function mergeItems(original: JsonObject[], patch: JsonObject[], mergeKey: string, elem: TypeRef): JsonObject[] {
  const out = [...original];
  for (const item of patch) {
    if (!Object.hasOwn(item, mergeKey)) throw errNoMergeKey(item, mergeKey);
    const value = item[mergeKey];
    const idx = out.findIndex((o) => isObject(o) && Object.hasOwn(o, mergeKey) && o[mergeKey] === value);
    if (idx >= 0) out[idx] = mergeMap(out[idx], item, elem);
    else out.push(mergeMap(undefined, item, elem));
  }
  return out;
}

function keyOf(item: unknown, mergeKey: string, kind: Kind): unknown {
  return kind === 'map' ? (item as JsonObject)[mergeKey] : item;
}

function indexIn(list: unknown[], item: unknown, mergeKey: string, kind: Kind): number {
  const k = keyOf(item, mergeKey, kind);
  for (let i = 0; i < list.length; i++) {
    if (keyOf(list[i], mergeKey, kind) === k) return i;
  }
  return -1;
}

function requireMergeKeys(mergeKey: string, ...lists: unknown[][]): void {
  for (const list of lists) {
    for (const item of list) {
      if (!isObject(item)) throw badRequest(`expected a map[string]interface {}, but received a ${goType(item)}`);
      if (!Object.hasOwn(item, mergeKey)) throw errNoMergeKey(item, mergeKey);
    }
  }
}

/** Splits `merged` into the items present in `by` and the others, keeping their order. */
function partition(merged: unknown[], by: unknown[], mergeKey: string, kind: Kind): [unknown[], unknown[]] {
  if (kind === 'map') requireMergeKeys(mergeKey, merged);
  const inBy: unknown[] = [];
  const others: unknown[] = [];
  for (const v of merged) {
    const found =
      kind === 'map'
        ? by.some((b) => isObject(b) && Object.hasOwn(b, mergeKey) && b[mergeKey] === (v as JsonObject)[mergeKey])
        : by.includes(v);
    (found ? inBy : others).push(v);
  }
  return [inBy, others];
}

/** Sorts `toSort` by the positions of its items in `order` (Kubernetes' stable insertion order). */
function normalizeSliceOrder(toSort: unknown[], order: unknown[], mergeKey: string, kind: Kind): unknown[] {
  let keep = [...toSort];
  let toDelete: unknown[] = [];
  if (kind === 'map') {
    requireMergeKeys(mergeKey, toSort, order);
    toDelete = keep.filter((v) => (v as JsonObject)[DIRECTIVE] === 'delete');
    keep = keep.filter((v) => (v as JsonObject)[DIRECTIVE] !== 'delete');
  }
  const less = (a: unknown, b: unknown): boolean => {
    const ia = indexIn(order, a, mergeKey, kind);
    if (ia >= 0) {
      const ib = indexIn(order, b, mergeKey, kind);
      if (ib >= 0) return ia < ib;
    }
    return true;
  };
  for (let i = 1; i < keep.length; i++) {
    for (let j = i; j > 0 && less(keep[j], keep[j - 1]); j--) {
      const tmp = keep[j];
      keep[j] = keep[j - 1];
      keep[j - 1] = tmp;
    }
  }
  return [...keep, ...toDelete];
}

/**
 * Orders the patch items by `patchOrder`, the server-only items by `serverOrder`, then inserts the
 * server-only items among the patch items where the original order puts them.
 */
function normalizeElementOrder(
  patchItems: unknown[],
  serverOnly: unknown[],
  patchOrder: unknown[],
  serverOrder: unknown[],
  mergeKey: string,
  kind: Kind,
): unknown[] {
  const right = normalizeSliceOrder(patchItems, patchOrder, mergeKey, kind);
  const left = normalizeSliceOrder(serverOnly, serverOrder, mergeKey, kind);
  const out: unknown[] = [];
  let i = 0;
  let j = 0;
  while (i < left.length || j < right.length) {
    if (i >= left.length) out.push(right[j++]);
    else if (j >= right.length) out.push(left[i++]);
    else {
      const li = indexIn(serverOrder, left[i], mergeKey, kind);
      const ri = indexIn(serverOrder, right[j], mergeKey, kind);
      if (li >= 0 && ri >= 0 && li < ri) out.push(left[i++]);
      else out.push(right[j++]);
    }
  }
  return out;
}

function applyRetainKeys(original: JsonObject, patch: JsonObject): void {
  if (!Object.hasOwn(patch, RETAIN_KEYS)) return;
  const keys = patch[RETAIN_KEYS];
  delete patch[RETAIN_KEYS];
  if (!Array.isArray(keys)) throw badRequest(ERR_RETAIN_KEYS);
  const keep = new Set(keys);
  for (const [k, v] of Object.entries(patch)) {
    if (v === null || k.startsWith(DELETE_FROM_PRIMITIVE_LIST) || k.startsWith(SET_ELEMENT_ORDER)) continue;
    if (!keep.has(k)) throw badRequest(ERR_RETAIN_KEYS);
  }
  for (const k of Object.keys(original)) if (!keep.has(k)) delete original[k];
}

function checkSetElementOrder(patchList: unknown[], order: unknown[], mergeKey: string): void {
  if (order.length === 0 || patchList.length === 0) return;
  let items = patchList;
  if (mergeKey) {
    for (const v of patchList) if (!isObject(v)) throw badRequest(`expected a map[string]interface {}, but received a ${goType(v)}`);
    items = patchList.filter((v) => (v as JsonObject)[DIRECTIVE] !== 'delete');
  }
  let p = 0;
  let s = 0;
  while (p < items.length && s < order.length) {
    const item = items[p];
    if (isObject(item) && Object.hasOwn(item, DIRECTIVE)) {
      p++;
      continue;
    }
    let equal: boolean;
    if (!mergeKey) equal = item === order[s];
    else {
      const o = order[s];
      if (!isObject(item) || !isObject(o)) throw badRequest(`expected a map[string]interface {}, but received a ${goType(isObject(item) ? o : item)}`);
      if (!Object.hasOwn(item, mergeKey)) throw errNoMergeKey(item, mergeKey);
      if (!Object.hasOwn(o, mergeKey)) throw errNoMergeKey(o, mergeKey);
      equal = item[mergeKey] === o[mergeKey];
    }
    if (equal) p++;
    s++;
  }
  if (p < items.length && s >= order.length) {
    throw badRequest(
      `The order in patch list:\n${goString(patchList)}\n doesn't match ${SET_ELEMENT_ORDER.slice(0, -1)} list:\n${goString(order)}\n`,
    );
  }
}

function applySetElementOrder(original: JsonObject, patch: JsonObject, t: TypeRef): void {
  for (const key of Object.keys(patch)) {
    if (!key.startsWith(SET_ELEMENT_ORDER)) continue;
    const order = patch[key];
    delete patch[key];
    const field = key.slice(SET_ELEMENT_ORDER.length);
    if (!field || !Array.isArray(order)) throw badRequest(ERR_SET_ELEMENT_ORDER);
    const origList = getOwn(original, field);
    const patchList = getOwn(patch, field);
    const foundOriginal = origList !== undefined;
    const foundPatch = Object.hasOwn(patch, field);
    if (foundOriginal && !Array.isArray(origList)) throw expectedList(origList);
    if (foundPatch && !Array.isArray(patchList)) throw expectedList(patchList);
    const info = fieldOf(t, field);
    const mergeKey = info.mergeKey ?? '';
    const o = (origList as unknown[] | undefined) ?? [];
    const p = (patchList as unknown[] | undefined) ?? [];
    checkSetElementOrder(p, order, mergeKey);
    let merged: unknown[];
    if (foundOriginal && !foundPatch) merged = o;
    else if (!foundOriginal && foundPatch) merged = mergeListField([], p, info, false);
    else if (foundOriginal && foundPatch) merged = mergeListField(o, p, info, false);
    else continue;
    delete patch[field];
    const kind = sliceElementKind(o, p);
    if (merged.length === 0 || kind === undefined) {
      setKey(original, field, merged);
      continue;
    }
    const [patchItems, serverOnly] = partition(merged, order, mergeKey, kind);
    setKey(original, field, normalizeElementOrder(patchItems, serverOnly, order, o, mergeKey, kind));
  }
}
