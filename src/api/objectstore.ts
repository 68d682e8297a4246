// Kubernetes objects on top of the key–value store: key layout, JSON encoding, and the
// resourceVersion (the store's modRevision, never stored inside the value).
import type { KeyValue, Store } from '../store/types.ts';
import type { KubeObject, ResourceDef } from '../registry/types.ts';

export interface StoredObject {
  obj: KubeObject;
  rev: number;
}

/** Where a def's objects live: its own group/plural, or the resource it is a view of. */
export function storageIdentity(def: ResourceDef): { group: string; plural: string } {
  return def.storedAs ? { group: def.storedAs.group, plural: def.storedAs.plural } : { group: def.group, plural: def.plural };
}

export function resourcePrefix(def: ResourceDef): string {
  const s = storageIdentity(def);
  return `/registry/${s.group || 'core'}/${s.plural}/`;
}

export function listPrefix(def: ResourceDef, namespace?: string): string {
  return def.namespaced && namespace ? `${resourcePrefix(def)}${namespace}/` : resourcePrefix(def);
}

export function objectKey(def: ResourceDef, namespace: string | undefined, name: string): string {
  return def.namespaced ? `${resourcePrefix(def)}${namespace ?? ''}/${name}` : `${resourcePrefix(def)}${name}`;
}

export function encodeObject(obj: KubeObject): string {
  return encodeWithMetaEnd(obj).text;
}

/**
 * The stored form's JSON (metadata without resourceVersion), and the offset of the closing
 * brace of its metadata object (-1 when there is none), where a resourceVersion can be spliced
 * in to get the JSON of the object as answered. The same text JSON.stringify would make of
 * `{ ...obj, metadata }`, built key by key to know where metadata ends.
 */
function encodeWithMetaEnd(obj: KubeObject): { text: string; metaEnd: number; metaEmpty: boolean } {
  let text = '{';
  let metaEnd = -1;
  let metaEmpty = false;
  const o = obj as unknown as Record<string, unknown>;
  for (const k of Object.keys(o)) {
    let v = o[k];
    if (k === 'metadata' && v !== null && typeof v === 'object' && !Array.isArray(v)) {
      const { resourceVersion: _rv, ...meta } = v as Record<string, unknown>;
      v = meta;
    }
    const j = JSON.stringify(v);
    if (j === undefined) continue;
    if (text.length > 1) text += ',';
    text += `${JSON.stringify(k)}:${j}`;
    if (k === 'metadata' && j.charCodeAt(0) === 0x7b) {
      metaEnd = text.length - 1;
      metaEmpty = j === '{}';
    }
  }
  return { text: `${text}}`, metaEnd, metaEmpty };
}

/**
 * The JSON of objects just written, as answered (with their resourceVersion): made from the
 * stored text rather than serializing the object again. The write paths hand the object
 * straight to the response, which takes its entry out; a cheap check (same metadata object,
 * kind, apiVersion and top-level keys) guards against a caller that replaced parts of it since.
 * Nested fields must not be modified in place after a write (nothing does: objects are rebuilt,
 * not patched in place). Writes nobody answers (internal ones) age out: at most ANSWERS_KEPT
 * entries are kept. (A Map, not a WeakMap: V8 pays dearly for many short-lived WeakMap keys.)
 */
interface Answer {
  text: string;
  metadata: unknown;
  apiVersion: unknown;
  kind: unknown;
  keys: number;
}
const answers = new Map<object, Answer>();
const ANSWERS_KEPT = 1024;

export function serializedAnswer(obj: object): string | undefined {
  const a = answers.get(obj);
  if (a === undefined) return undefined;
  answers.delete(obj);
  const o = obj as KubeObject;
  if (o.metadata !== a.metadata || o.apiVersion !== a.apiVersion || o.kind !== a.kind || Object.keys(o).length !== a.keys) return undefined;
  return a.text;
}

/** Parse a stored value (stored form) and stamp its resourceVersion. */
export function decodeStored(value: string, rev: number): KubeObject {
  const obj = JSON.parse(value) as KubeObject;
  const meta = obj.metadata as unknown;
  // The parsed metadata is ours: the resourceVersion goes at its end, where a copy would put it.
  if (meta !== null && typeof meta === 'object' && !Array.isArray(meta) && !Object.hasOwn(meta, 'resourceVersion')) obj.metadata.resourceVersion = String(rev);
  else obj.metadata = { ...(obj.metadata ?? {}), resourceVersion: String(rev) };
  return obj;
}

/** Stored form → the def's view. */
export function toView(def: ResourceDef, stored: KubeObject): KubeObject {
  return def.storedAs ? def.storedAs.fromStored(stored) : stored;
}

export function toStored(def: ResourceDef, view: KubeObject): KubeObject {
  return def.storedAs ? def.storedAs.toStored(view) : view;
}

export class ObjectStore {
  constructor(readonly kv: Store) {}

  async get(def: ResourceDef, namespace: string | undefined, name: string): Promise<StoredObject | null> {
    const kv = await this.kv.get(objectKey(def, namespace, name));
    if (!kv) return null;
    return { obj: toView(def, decodeStored(kv.value, kv.modRevision)), rev: kv.modRevision };
  }

  async create(def: ResourceDef, obj: KubeObject): Promise<StoredObject> {
    const enc = encodeWithMetaEnd(toStored(def, obj));
    const kv = await this.kv.create(objectKey(def, obj.metadata.namespace, obj.metadata.name ?? ''), enc.text);
    return this.written(def, obj, kv, enc);
  }

  async update(def: ResourceDef, obj: KubeObject, expectedRev: number): Promise<StoredObject> {
    const enc = encodeWithMetaEnd(toStored(def, obj));
    const kv = await this.kv.update(objectKey(def, obj.metadata.namespace, obj.metadata.name ?? ''), enc.text, expectedRev);
    return this.written(def, obj, kv, enc);
  }

  /** What was just written, with its new resourceVersion — without parsing it back. The caller
   *  hands over `obj`; views of another resource are decoded so they read as a GET would. The
   *  answer's JSON is the stored text with the resourceVersion added at the end of metadata,
   *  where the spread below puts it. */
  private written(def: ResourceDef, obj: KubeObject, kv: KeyValue, enc: ReturnType<typeof encodeWithMetaEnd>): StoredObject {
    if (def.storedAs) return this.fromKv(def, kv);
    const rv = String(kv.modRevision);
    const hadRv = Object.hasOwn(obj.metadata, 'resourceVersion');
    obj.metadata = { ...obj.metadata, resourceVersion: rv };
    if (!hadRv && enc.metaEnd > 0) {
      const { text, metaEnd } = enc;
      if (answers.size >= ANSWERS_KEPT) answers.delete(answers.keys().next().value as object);
      answers.set(obj, {
        text: `${text.slice(0, metaEnd)}${enc.metaEmpty ? '' : ','}"resourceVersion":${JSON.stringify(rv)}${text.slice(metaEnd)}`,
        metadata: obj.metadata,
        apiVersion: obj.apiVersion,
        kind: obj.kind,
        keys: Object.keys(obj).length,
      });
    }
    return { obj, rev: kv.modRevision };
  }

  async delete(def: ResourceDef, namespace: string | undefined, name: string, expectedRev?: number): Promise<StoredObject> {
    const kv = await this.kv.delete(objectKey(def, namespace, name), expectedRev);
    return { obj: toView(def, decodeStored(kv.value, kv.deleteRevision)), rev: kv.deleteRevision };
  }

  fromKv(def: ResourceDef, kv: KeyValue): StoredObject {
    return { obj: toView(def, decodeStored(kv.value, kv.modRevision)), rev: kv.modRevision };
  }
}
