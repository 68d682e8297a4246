// Plumbing the volume controllers share: a cache that remembers the controller's own writes
// until the informer has them (Kubernetes' PV controller keeps its caches the same way, with
// storeObjectUpdate), the writes of one sync made in order on top of each other, an event sink
// that records a repeat of an object's last event only once, and resourceVersion arithmetic.
import type { Informer } from '../../client/informer.ts';
import type { KubeClient } from '../../client/rest.ts';
import type { KubeObject } from '../../registry/types.ts';
import type { Recorder } from '../events.ts';
import type { BinderEvent } from './binder.ts';
import { PVCS, PVS, type PersistentVolume, type PersistentVolumeClaim } from './types.ts';

export { errText } from '../common/errors.ts';

/** The numeric value of a resourceVersion (-1 when it is not a number). */
export function rvOf(o: KubeObject | undefined): bigint {
  const rv = o?.metadata.resourceVersion;
  return rv && /^[0-9]+$/.test(rv) ? BigInt(rv) : -1n;
}

export function keyOf(o: KubeObject): string {
  const ns = o.metadata.namespace;
  return ns ? `${ns}/${o.metadata.name ?? ''}` : (o.metadata.name ?? '');
}

/**
 * An informer's cache overlaid with the objects this controller wrote: reads answer the newer
 * of the two (by resourceVersion), so a sync right after a write does not act on the state
 * before it. An object the informer no longer has is gone, whatever was written.
 */
export class AssumeCache<T extends KubeObject> {
  private readonly assumed = new Map<string, T>();
  constructor(readonly informer: Informer<T>) {}

  getByKey(key: string): T | undefined {
    const cached = this.informer.getByKey(key);
    const mine = this.assumed.get(key);
    if (!mine) return cached;
    if (!cached || cached.metadata.uid !== mine.metadata.uid || rvOf(cached) >= rvOf(mine)) {
      this.assumed.delete(key);
      return cached;
    }
    return mine;
  }

  get(namespace: string | undefined, name: string): T | undefined {
    return this.getByKey(namespace ? `${namespace}/${name}` : name);
  }

  list(): T[] {
    if (this.assumed.size === 0) return this.informer.list();
    return this.informer.list().map((o) => this.getByKey(keyOf(o)) ?? o);
  }

  /** Remember an object this controller wrote (as the server answered it). */
  assume(obj: T): void {
    const key = keyOf(obj);
    const cached = this.informer.getByKey(key);
    if (cached && cached.metadata.uid === obj.metadata.uid && rvOf(cached) >= rvOf(obj)) return;
    this.assumed.set(key, obj);
  }

  forget(key: string): void {
    this.assumed.delete(key);
  }
}

/** A write of a volume or claim (its resource is the plural). */
export interface VolumeWrite {
  op: 'update' | 'updateStatus';
  resource: string;
  object: KubeObject;
}

/**
 * The writes of one sync, made in order: a write of an object already written in the sync goes
 * on top of that write's resourceVersion, and what the server answered is assumed into the
 * caches.
 */
export class SyncWriter {
  private readonly versions = new Map<string, string>();
  constructor(
    private readonly client: KubeClient,
    private readonly caches: { volumes: AssumeCache<PersistentVolume>; claims: AssumeCache<PersistentVolumeClaim> },
    private readonly signal: AbortSignal,
  ) {}

  async write(w: VolumeWrite): Promise<KubeObject> {
    const obj: KubeObject = { ...w.object, metadata: { ...w.object.metadata } };
    const id = `${w.resource}|${keyOf(obj)}`;
    const rv = this.versions.get(id);
    if (rv) obj.metadata.resourceVersion = rv;
    const isVolume = w.resource === 'persistentvolumes';
    const res = isVolume ? PVS : PVCS;
    const out = w.op === 'update' ? await this.client.update(res, obj, { signal: this.signal }) : await this.client.updateStatus(res, obj, { signal: this.signal });
    if (out.metadata.resourceVersion) this.versions.set(id, out.metadata.resourceVersion);
    if (isVolume) this.caches.volumes.assume(out as PersistentVolume);
    else this.caches.claims.assume(out as PersistentVolumeClaim);
    return out;
  }
}

/**
 * Records events about volumes and claims, skipping an event that repeats the last one recorded
 * for the same object (a waiting claim is synced again and again; `kubectl describe` should say
 * why it waits once, not once per sync).
 */
export class EventSink {
  private readonly last = new Map<string, string>();
  constructor(private readonly recorder: Recorder) {}

  /** Record e (its object: a claim when namespaced, else a volume). */
  record(e: BinderEvent): void {
    const kind = e.object.metadata.namespace ? 'PersistentVolumeClaim' : 'PersistentVolume';
    const obj: KubeObject = { ...e.object, apiVersion: e.object.apiVersion ?? 'v1', kind: e.object.kind ?? kind };
    const id = obj.metadata.uid ?? `${kind}/${keyOf(obj)}`;
    const sig = `${e.type}\u0000${e.reason}\u0000${e.message}`;
    if (this.last.get(id) === sig) return;
    this.last.set(id, sig);
    this.recorder.event(obj, e.type, e.reason, e.message);
  }

  /** Forget an object (deleted): its next event is recorded whatever it says. */
  forget(uid: string | undefined): void {
    if (uid) this.last.delete(uid);
  }
}


export function clone<T>(v: T): T {
  return JSON.parse(JSON.stringify(v)) as T;
}
