// Type information for the patch engines: the shape of every field of a kind, walked from its
// client-node model (`V1Pod` → `V1PodSpec` → `Array<V1Container>` …), joined with the patch
// strategies and list types of ./strategies.ts.
import * as clientModels from '@kubernetes/client-node/dist/gen/models/all.js';
import {
  ATOMIC_STRUCTS,
  FIELD_STRATEGIES,
  NULL_ZERO_FIELDS,
  VALUE_STRUCT_FIELDS,
  type PatchStrategy,
} from './strategies.ts';

export type ListType = 'atomic' | 'set' | 'map';

export type TypeRef =
  /** A client-node model: known fields. `atomic` for `+structType=atomic`. */
  | { kind: 'struct'; model: string; atomic: boolean }
  /** `{ [key: string]: X }`: any keys, each of the element type. */
  | { kind: 'map'; elem: TypeRef; atomic: boolean }
  | {
      kind: 'list';
      elem: TypeRef;
      /** Server-side apply list type. */
      listType: ListType;
      /** Keys of an associative (`map`) list. */
      keys: readonly string[];
      keyDefaults: Readonly<Record<string, unknown>>;
    }
  /** string, number, boolean, Date, IntOrString, quantities … */
  | { kind: 'scalar' }
  /** A field typed `any` (RawExtension …) or not in the model: one opaque value. */
  | { kind: 'untyped' }
  /** No schema at all (unknown kinds): objects are granular maps, lists are atomic. */
  | { kind: 'deduced' };

export interface FieldInfo {
  type: TypeRef;
  /** Strategic merge patch strategy of the field, if any. */
  strategy?: PatchStrategy;
  mergeKey?: string;
}

export const SCALAR: TypeRef = { kind: 'scalar' };
export const UNTYPED: TypeRef = { kind: 'untyped' };
export const DEDUCED: TypeRef = { kind: 'deduced' };

interface RawAttribute {
  name: string;
  baseName: string;
  type: string;
}

const modelTable = clientModels as unknown as Record<string, { attributeTypeMap?: unknown } | undefined>;

function rawAttributes(name: string): RawAttribute[] | undefined {
  if (!Object.hasOwn(modelTable, name)) return undefined;
  const cls = modelTable[name];
  const map = cls?.attributeTypeMap;
  return Array.isArray(map) ? (map as RawAttribute[]) : undefined;
}

/** Whether client-node has a model class of this name. */
export function modelExists(name: string): boolean {
  return rawAttributes(name) !== undefined;
}

const fieldCache = new Map<string, Map<string, FieldInfo>>();

function parseType(type: string, strategyKey: string | undefined): TypeRef {
  const t = type.trim();
  const arr = /^Array<(.+)>$/.exec(t);
  if (arr) {
    const elem = parseType(arr[1]!, undefined);
    const s = strategyKey ? FIELD_STRATEGIES.get(strategyKey) : undefined;
    let listType: ListType = 'atomic';
    let keys: readonly string[] = [];
    if (s?.listType) listType = s.listType;
    else if (s?.strategy?.split(',').includes('merge')) listType = s.mergeKey ? 'map' : 'set';
    if (listType === 'map') keys = s?.listMapKeys ?? (s?.mergeKey ? [s.mergeKey] : []);
    if (listType === 'map' && keys.length === 0) listType = 'atomic';
    return { kind: 'list', elem, listType, keys, keyDefaults: s?.keyDefaults ?? {} };
  }
  const map = /^\{ *\[key: string\]: *(.+?);? *\}$/.exec(t);
  if (map) {
    const s = strategyKey ? FIELD_STRATEGIES.get(strategyKey) : undefined;
    return { kind: 'map', elem: parseType(map[1]!, undefined), atomic: s?.mapType === 'atomic' };
  }
  if (t === 'any' || t === 'object') return UNTYPED;
  if (modelExists(t)) return { kind: 'struct', model: t, atomic: ATOMIC_STRUCTS.has(t) };
  return SCALAR;
}

/** The fields of a model by JSON name, or undefined for an unknown model. */
export function modelFields(name: string): Map<string, FieldInfo> | undefined {
  const cached = fieldCache.get(name);
  if (cached) return cached;
  const attrs = rawAttributes(name);
  if (!attrs) return undefined;
  const fields = new Map<string, FieldInfo>();
  for (const a of attrs) {
    const key = `${name}.${a.baseName}`;
    const s = FIELD_STRATEGIES.get(key);
    const info: FieldInfo = { type: parseType(a.type, key) };
    if (s?.strategy) info.strategy = s.strategy;
    if (s?.mergeKey) info.mergeKey = s.mergeKey;
    fields.set(a.baseName, info);
  }
  fieldCache.set(name, fields);
  return fields;
}

const rootCache = new Map<string, TypeRef>();

/** The root type of a kind's model; `deduced` when client-node has no such model. */
export function rootType(modelName: string): TypeRef {
  let t = rootCache.get(modelName);
  if (!t) {
    t = modelExists(modelName) ? { kind: 'struct', model: modelName, atomic: false } : DEDUCED;
    rootCache.set(modelName, t);
  }
  return t;
}

/** The type and patch metadata of one key of an object of type `t`. */
export function fieldOf(t: TypeRef, key: string): FieldInfo {
  switch (t.kind) {
    case 'struct':
      return modelFields(t.model)?.get(key) ?? { type: UNTYPED };
    case 'map':
      return { type: t.elem };
    case 'deduced':
      return { type: DEDUCED };
    default:
      return { type: UNTYPED };
  }
}

/** The type of one key of an object of type `t` (fieldOf(t, key).type without allocating). */
export function fieldTypeOf(t: TypeRef, key: string): TypeRef {
  switch (t.kind) {
    case 'struct':
      return modelFields(t.model)?.get(key)?.type ?? UNTYPED;
    case 'map':
      return t.elem;
    case 'deduced':
      return DEDUCED;
    default:
      return UNTYPED;
  }
}

/** Whether `key` is a declared field of struct type `t` (not an arbitrary map key). */
export function isDeclaredField(t: TypeRef, key: string): boolean {
  return t.kind === 'struct' && (modelFields(t.model)?.has(key) ?? false);
}

/**
 * The zero value Kubernetes' Go type of a kind marshals to: nested value (non-pointer) structs as
 * empty objects (`{"metadata":{},"spec":{"template":{"metadata":{},"spec":{}}}, …}`), fields
 * without `omitempty` as null.
 */
const zeroCache = new Map<string, Readonly<Record<string, unknown>>>();

/** Shared and read-only: callers must not modify it. */
export function zeroObject(modelName: string): Readonly<Record<string, unknown>> {
  let z = zeroCache.get(modelName);
  if (!z) {
    z = buildZero(modelName);
    zeroCache.set(modelName, z);
  }
  return z;
}

function buildZero(modelName: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const fields = modelFields(modelName);
  if (!fields) return out;
  for (const name of ['metadata', 'spec', 'status']) {
    const f = fields.get(name);
    if (f?.type.kind === 'struct') out[name] = zeroStruct(f.type.model, 0);
  }
  return out;
}

function zeroStruct(model: string, depth: number): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (depth > 6) return out;
  const fields = modelFields(model);
  for (const name of NULL_ZERO_FIELDS.get(model) ?? []) out[name] = null;
  for (const name of VALUE_STRUCT_FIELDS.get(model) ?? []) {
    const f = fields?.get(name);
    if (f?.type.kind === 'struct') out[name] = zeroStruct(f.type.model, depth + 1);
  }
  return out;
}
