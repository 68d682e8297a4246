// Generic object-metadata semantics every kind shares: names, generateName, uid, timestamps,
// generation, the spec/status split, and metadata validation.
import { randomUUID, randomInt } from 'node:crypto';
import type { FieldCause, KubeObject, ObjectMeta, ResourceDef } from '../registry/types.ts';
import { apiVersionOf } from '../registry/types.ts';
import { jsonClone } from './patch/json.ts';
import {
  dns1123LabelErrors,
  dns1123SubdomainErrors,
  invalid,
  pathSegmentErrors,
  qualifiedNameErrors,
  required,
  forbidden,
  validateAnnotations,
  validateLabels,
} from '../registry/validation.ts';

/** Characters Kubernetes uses for generateName suffixes (no vowels, no look-alikes). */
const SUFFIX_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';

export function randomSuffix(n = 5): string {
  let s = '';
  for (let i = 0; i < n; i++) s += SUFFIX_ALPHABET[randomInt(SUFFIX_ALPHABET.length)];
  return s;
}

export function nameErrors(def: ResourceDef, name: string): string[] {
  switch (def.nameRule) {
    case 'dns1123Label':
      return dns1123LabelErrors(name);
    case 'dns1123Subdomain':
      return dns1123SubdomainErrors(name);
    case 'pathSegment':
      return pathSegmentErrors(name);
  }
}

export function validateObjectMeta(def: ResourceDef, meta: ObjectMeta | undefined): FieldCause[] {
  const out: FieldCause[] = [];
  if (!meta || typeof meta !== 'object') return [required('metadata')];
  if (!meta.name) {
    if (!meta.generateName) out.push({ reason: 'FieldValueRequired', field: 'metadata.name', message: 'Required value: name or generateName is required' });
  } else if (typeof meta.name !== 'string') {
    out.push(invalid('metadata.name', meta.name, 'must be a string'));
  } else {
    for (const e of nameErrors(def, meta.name)) out.push(invalid('metadata.name', meta.name, e));
  }
  if (meta.generateName && !meta.name) {
    const probe = `${meta.generateName}${'x'.repeat(5)}`;
    for (const e of nameErrors(def, probe.replace(/-x+$/, '-x').replace(/x+$/, 'x'))) out.push(invalid('metadata.generateName', meta.generateName, e));
  }
  if (def.namespaced) {
    if (!meta.namespace) out.push(required('metadata.namespace'));
    else for (const e of dns1123LabelErrors(meta.namespace)) out.push(invalid('metadata.namespace', meta.namespace, e));
  } else if (meta.namespace) {
    out.push(forbidden('metadata.namespace', 'not allowed on this type'));
  }
  out.push(...validateLabels(meta.labels, 'metadata.labels'));
  out.push(...validateAnnotations(meta.annotations, 'metadata.annotations'));
  if (meta.finalizers !== undefined) {
    if (!Array.isArray(meta.finalizers)) out.push(invalid('metadata.finalizers', meta.finalizers, 'must be a list of strings'));
    else
      meta.finalizers.forEach((f, i) => {
        for (const e of qualifiedNameErrors(String(f))) out.push(invalid(`metadata.finalizers[${i}]`, f, e));
      });
  }
  if (meta.ownerReferences !== undefined) {
    if (!Array.isArray(meta.ownerReferences)) out.push(invalid('metadata.ownerReferences', meta.ownerReferences, 'must be a list'));
    else {
      let controllers = 0;
      meta.ownerReferences.forEach((r, i) => {
        const f = `metadata.ownerReferences[${i}]`;
        if (!r?.apiVersion) out.push(invalid(`${f}.apiVersion`, r?.apiVersion ?? '', 'version must not be empty'));
        if (!r?.kind) out.push(invalid(`${f}.kind`, r?.kind ?? '', 'kind must not be empty'));
        if (!r?.name) out.push(invalid(`${f}.name`, r?.name ?? '', 'name must not be empty'));
        if (!r?.uid) out.push(invalid(`${f}.uid`, r?.uid ?? '', 'uid must not be empty'));
        if (r?.controller) controllers++;
      });
      if (controllers > 1) out.push(invalid('metadata.ownerReferences', meta.ownerReferences, 'Only one reference can have Controller set to true'));
    }
  }
  return out;
}

/** Server-owned metadata on create. */
export function prepareMetaForCreate(def: ResourceDef, obj: KubeObject, now: Date): void {
  const m = obj.metadata;
  // Kubernetes cuts the base to 58 characters so the name with its 5-character suffix fits 63.
  if (!m.name && m.generateName) m.name = `${m.generateName.slice(0, 58)}${randomSuffix()}`;
  m.uid = randomUUID();
  m.creationTimestamp = rfc3339(now);
  if ((def.generationFields ?? []).length > 0) m.generation = 1;
  else delete m.generation;
  delete m.resourceVersion;
  delete m.deletionTimestamp;
  delete m.deletionGracePeriodSeconds;
  delete (m as Record<string, unknown>).selfLink;
}

/** Carry server-owned metadata from the stored object into an update. */
export function preserveMetaOnUpdate(obj: KubeObject, old: KubeObject): void {
  const m = obj.metadata;
  const o = old.metadata;
  m.uid = o.uid;
  m.creationTimestamp = o.creationTimestamp;
  m.generation = o.generation;
  if (o.deletionTimestamp) {
    m.deletionTimestamp = o.deletionTimestamp;
    if (o.deletionGracePeriodSeconds !== undefined) m.deletionGracePeriodSeconds = o.deletionGracePeriodSeconds;
  } else {
    delete m.deletionTimestamp;
    delete m.deletionGracePeriodSeconds;
  }
  if (m.generateName === undefined && o.generateName !== undefined) m.generateName = o.generateName;
  delete (m as Record<string, unknown>).selfLink;
}

/** Bump generation when any of the def's generation fields changed. */
export function bumpGeneration(def: ResourceDef, obj: KubeObject, old: KubeObject): void {
  const fields = def.generationFields ?? [];
  if (fields.length === 0) {
    // Kinds without a generation (leases, events …) never get one.
    if (old.metadata.generation === undefined) delete obj.metadata.generation;
    else obj.metadata.generation = old.metadata.generation;
    return;
  }
  const changed = fields.some((f) => JSON.stringify(obj[f]) !== JSON.stringify(old[f]));
  const base = typeof old.metadata.generation === 'number' ? old.metadata.generation : 1;
  obj.metadata.generation = changed ? base + 1 : base;
}

export function rfc3339(d: Date): string {
  const iso = d.toISOString();
  // YYYY-MM-DDTHH:mm:ss.sssZ → drop the milliseconds (other years have other lengths).
  return iso.length === 24 ? `${iso.slice(0, 19)}Z` : iso.replace(/\.\d{3}Z$/, 'Z');
}

/** Set apiVersion and kind of the def on an object (responses always carry them). */
export function stampTypeMeta(def: ResourceDef, obj: KubeObject): KubeObject {
  obj.apiVersion = apiVersionOf(def);
  obj.kind = def.kind;
  return obj;
}

/** Deep equality through JSON, ignoring key order of objects: whether canonical(a) ===
 *  canonical(b), found by walking both values instead of serializing them. */
export function semanticEqual(a: unknown, b: unknown): boolean {
  return jsonEqual(a, b);
}

/** Whether a member of an object appears in its JSON (JSON.stringify drops the others). */
function inJson(v: unknown): boolean {
  return v !== undefined && typeof v !== 'function' && typeof v !== 'symbol';
}

function isPlain(v: object): boolean {
  const p: unknown = Object.getPrototypeOf(v);
  return p === Object.prototype || p === null;
}

function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a === 'object' && typeof b === 'object' && a !== null && b !== null) {
    if (Array.isArray(a)) {
      if (!Array.isArray(b) || a.length !== b.length) return false;
      for (let i = 0; i < a.length; i++) {
        // JSON writes null for array members it cannot represent.
        const x: unknown = inJson(a[i]) ? a[i] : null;
        const y: unknown = inJson(b[i]) ? b[i] : null;
        if (!jsonEqual(x, y)) return false;
      }
      return true;
    }
    if (Array.isArray(b)) return false;
    if (!isPlain(a) || !isPlain(b)) return canonical(a) === canonical(b);
    const ao = a as Record<string, unknown>;
    const bo = b as Record<string, unknown>;
    let n = 0;
    for (const k of Object.keys(ao)) {
      const x = ao[k];
      if (!inJson(x)) continue;
      n++;
      if (!Object.hasOwn(bo, k)) return false;
      const y = bo[k];
      if (!inJson(y) || !jsonEqual(x, y)) return false;
    }
    for (const k of Object.keys(bo)) if (inJson(bo[k])) n--;
    return n === 0;
  }
  // Scalars (and mixed pairs): as JSON writes them (NaN is null, and so on).
  return canonical(a) === canonical(b);
}

export function canonical(v: unknown): string {
  return JSON.stringify(v, (_k, val: unknown) => {
    if (val && typeof val === 'object' && !Array.isArray(val)) {
      const o = val as Record<string, unknown>;
      const sorted: Record<string, unknown> = {};
      for (const k of Object.keys(o).sort()) if (o[k] !== undefined) sorted[k] = o[k];
      return sorted;
    }
    return val;
  });
}

export function deepClone<T>(v: T): T {
  return jsonClone(v);
}
