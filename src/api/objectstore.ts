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
  const { resourceVersion: _rv, ...meta } = obj.metadata;
  return JSON.stringify({ ...obj, metadata: meta });
}

/** Parse a stored value (stored form) and stamp its resourceVersion. */
export function decodeStored(value: string, rev: number): KubeObject {
  const obj = JSON.parse(value) as KubeObject;
  obj.metadata = { ...(obj.metadata ?? {}), resourceVersion: String(rev) };
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
    const stored = toStored(def, obj);
    const kv = await this.kv.create(objectKey(def, obj.metadata.namespace, obj.metadata.name ?? ''), encodeObject(stored));
    return this.written(def, obj, kv);
  }

  async update(def: ResourceDef, obj: KubeObject, expectedRev: number): Promise<StoredObject> {
    const stored = toStored(def, obj);
    const kv = await this.kv.update(objectKey(def, obj.metadata.namespace, obj.metadata.name ?? ''), encodeObject(stored), expectedRev);
    return this.written(def, obj, kv);
  }

  /** What was just written, with its new resourceVersion — without parsing it back. The caller
   *  hands over `obj`; views of another resource are decoded so they read as a GET would. */
  private written(def: ResourceDef, obj: KubeObject, kv: KeyValue): StoredObject {
    if (def.storedAs) return this.fromKv(def, kv);
    obj.metadata = { ...obj.metadata, resourceVersion: String(kv.modRevision) };
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
