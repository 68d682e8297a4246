// Field ownership (metadata.managedFields) and server-side apply, as the Kubernetes apiserver
// does them:
// - every non-apply write (create, update, patch) gives its field manager (operation `Update`)
//   the fields it changed and takes them from every other manager (`trackUpdate`);
// - an apply (`serverSideApply`) merges the applied configuration into the live object, removes
//   what the manager applied last time but omits now (unless another manager owns it), makes
//   the manager (operation `Apply`) own exactly the fields of its configuration, and fails with
//   409 Conflict when that changes a field another manager owns, unless forced.
// Entries are kept per manager identity: (manager, operation, subresource) for appliers, plus
// apiVersion for updaters. Server-set fields (apiVersion, kind, metadata name/namespace/uid/
// resourceVersion/generation/creationTimestamp/managedFields …) are never owned, nor `status` on
// writes to the main resource, nor `spec` on writes to the status subresource.
import type { KubeObject, ManagedFieldsEntry } from '../../registry/types.ts';
import { badRequest, guardDepth, PatchError, type PatchCause } from './errors.ts';
import { FieldSet, pathString } from './fieldset.ts';
import { clone, deepEqual, isObject, setKey, type JsonObject } from './json.ts';
import { rootType, zeroObject } from './schema.ts';
import { compareValues, mergeValues, pruneValue, toFieldSet } from './typed.ts';

export const LAST_APPLIED_ANNOTATION = 'kubectl.kubernetes.io/last-applied-configuration';
/** Owner of the fields of an object that had no managedFields when first applied to. */
export const BEFORE_FIRST_APPLY = 'before-first-apply';
/** Kubernetes keeps at most this many `Update` entries; older ones merge into one. */
export const MAX_UPDATE_MANAGERS = 10;
export const ANCIENT_CHANGES = 'ancient-changes';

interface EntryMeta {
  manager: string;
  operation: 'Apply' | 'Update';
  apiVersion: string;
  subresource?: string;
  time?: string;
}

/**
 * One manager's entry. An entry read from managedFields keeps its FieldsV1 as it came (`raw`)
 * and decodes it only when its set is read: most writes leave most entries alone, and those are
 * written back as they came (when they are in the form encoding would give them anyway).
 */
class Entry implements EntryMeta {
  manager: string;
  operation: 'Apply' | 'Update';
  apiVersion: string;
  subresource?: string;
  time?: string;
  private decoded: FieldSet | undefined;
  /** The FieldsV1 this entry came with, while its set is neither read nor replaced. */
  private raw: unknown;

  constructor(meta: EntryMeta, set: FieldSet | undefined, raw?: unknown) {
    this.manager = meta.manager;
    this.operation = meta.operation;
    this.apiVersion = meta.apiVersion;
    if (meta.subresource !== undefined) this.subresource = meta.subresource;
    if (meta.time !== undefined) this.time = meta.time;
    this.decoded = set;
    this.raw = set === undefined ? raw : undefined;
  }

  /** The field set (decoded on first use; the caller may keep and change it). */
  get set(): FieldSet {
    if (this.decoded === undefined) {
      this.decoded = FieldSet.fromFieldsV1(this.raw);
      this.raw = undefined;
    }
    return this.decoded;
  }

  set set(s: FieldSet) {
    this.decoded = s;
    this.raw = undefined;
  }

  isEmpty(): boolean {
    return this.decoded === undefined ? FieldSet.isEmptyFieldsV1(this.raw) : this.decoded.isEmpty();
  }

  /** Whether every member of `other` is in the set (an untouched entry stays undecoded). */
  covers(other: FieldSet): boolean {
    return this.decoded === undefined ? other.subsetOfFieldsV1(this.raw) : other.difference(this.decoded).isEmpty();
  }

  /** Whether every member of the set is in `other` (an untouched entry stays undecoded). */
  within(other: FieldSet): boolean {
    return this.decoded === undefined ? other.containsFieldsV1(this.raw) : this.decoded.difference(other).isEmpty();
  }

  /** The same entry (undecoded if this one is) with other metadata. */
  withMeta(meta: EntryMeta): Entry {
    return this.decoded === undefined ? new Entry(meta, undefined, this.raw) : new Entry(meta, this.decoded);
  }

  /** Whether the set shares a member with `other` (an untouched entry stays undecoded). */
  overlaps(other: FieldSet): boolean {
    return this.decoded === undefined ? other.overlapsFieldsV1(this.raw) : !this.decoded.intersection(other).isEmpty();
  }

  toFieldsV1(): JsonObject {
    if (this.decoded === undefined && FieldSet.isCanonicalFieldsV1(this.raw)) return this.raw as JsonObject;
    return this.set.toFieldsV1();
  }
}

function identity(e: Pick<Entry, 'manager' | 'operation' | 'apiVersion' | 'subresource'>): string {
  return JSON.stringify([e.manager, e.operation, e.operation === 'Update' ? e.apiVersion : '', e.subresource ?? '']);
}

const SERVER_SET_METADATA = [
  'name',
  'namespace',
  'creationTimestamp',
  'selfLink',
  'uid',
  'clusterName',
  'generation',
  'managedFields',
  'resourceVersion',
  'deletionTimestamp',
  'deletionGracePeriodSeconds',
].map((f) => `f:${f}`);

/** Removes the fields nobody owns from a set (in place) and returns it. */
function stripIgnored(set: FieldSet, subresource: string | undefined): FieldSet {
  set.member = false;
  set.remove('f:apiVersion');
  set.remove('f:kind');
  set.remove(subresource === 'status' ? 'f:spec' : 'f:status');
  const meta = set.get('f:metadata');
  if (meta) {
    meta.member = false;
    for (const pe of SERVER_SET_METADATA) meta.remove(pe);
  }
  return set;
}

function decodeManaged(list: unknown): Map<string, Entry> {
  const out = new Map<string, Entry>();
  if (!Array.isArray(list)) return out;
  for (const raw of list) {
    if (!isObject(raw)) continue;
    const manager = typeof raw.manager === 'string' ? raw.manager : '';
    const operation = raw.operation;
    if (operation !== 'Apply' && operation !== 'Update') continue;
    const meta: EntryMeta = { manager, operation, apiVersion: typeof raw.apiVersion === 'string' ? raw.apiVersion : '' };
    if (typeof raw.subresource === 'string' && raw.subresource) meta.subresource = raw.subresource;
    if (typeof raw.time === 'string') meta.time = raw.time;
    const e = new Entry(meta, undefined, raw.fieldsV1);
    const key = identity(e);
    const prev = out.get(key);
    if (prev) prev.set = prev.set.union(e.set);
    else out.set(key, e);
  }
  return out;
}

/** Parsed entry times (few distinct ones recur: the times of recent writes). */
const parsedTimes = new Map<string, number>();

function timeOf(e: Entry): number {
  if (!e.time) return 0;
  let s = parsedTimes.get(e.time);
  if (s === undefined) {
    const t = Date.parse(e.time);
    s = Number.isNaN(t) ? 0 : Math.floor(t / 1000);
    if (parsedTimes.size >= 4096) parsedTimes.clear();
    parsedTimes.set(e.time, s);
  }
  return s;
}

function encodeManaged(managed: Map<string, Entry>): ManagedFieldsEntry[] {
  const entries = [...managed.values()].filter((e) => !e.isEmpty());
  const times = new Map<Entry, number>();
  for (const e of entries) times.set(e, timeOf(e));
  entries.sort((p, q) => {
    if (p.operation !== q.operation) return p.operation < q.operation ? -1 : 1;
    const tp = times.get(p)!;
    const tq = times.get(q)!;
    if (tp !== tq) return tp - tq;
    if (p.manager !== q.manager) return p.manager < q.manager ? -1 : 1;
    if (p.apiVersion !== q.apiVersion) return p.apiVersion < q.apiVersion ? -1 : 1;
    const sp = p.subresource ?? '';
    const sq = q.subresource ?? '';
    return sp < sq ? -1 : sp > sq ? 1 : 0;
  });
  return entries.map((e) => {
    const out: ManagedFieldsEntry = { manager: e.manager, operation: e.operation, apiVersion: e.apiVersion };
    if (e.time) out.time = e.time;
    out.fieldsType = 'FieldsV1';
    out.fieldsV1 = e.toFieldsV1();
    if (e.subresource) out.subresource = e.subresource;
    return out;
  });
}

/** Merges the oldest `Update` entries into one when there are more than Kubernetes keeps. */
function capUpdateManagers(managed: Map<string, Entry>): void {
  const updates = [...managed.entries()].filter(([, e]) => e.operation === 'Update' && !e.isEmpty());
  if (updates.length <= MAX_UPDATE_MANAGERS) return;
  updates.sort(([, a], [, b]) => timeOf(a) - timeOf(b));
  const excess = updates.slice(0, updates.length - MAX_UPDATE_MANAGERS + 1);
  const newest = excess[excess.length - 1]![1];
  let set = new FieldSet();
  for (const [key, e] of excess) {
    set = set.union(e.set);
    managed.delete(key);
  }
  const ancient = new Entry({ manager: ANCIENT_CHANGES, operation: 'Update', apiVersion: newest.apiVersion }, set);
  if (newest.time) ancient.time = newest.time;
  const key = identity(ancient);
  const prev = managed.get(key);
  if (prev) prev.set = prev.set.union(set);
  else managed.set(key, ancient);
}

/** A shallow copy of `obj` without metadata.managedFields (the rest is shared, not copied). */
function withoutManagedFields(obj: KubeObject): JsonObject {
  const out: JsonObject = { ...obj };
  if (isObject(out.metadata) && 'managedFields' in out.metadata) {
    // Copied key by key rather than with `delete`, which would leave a slow dictionary object.
    const src = out.metadata;
    const meta: JsonObject = {};
    for (const k of Object.keys(src)) if (k !== 'managedFields') setKey(meta, k, src[k]);
    out.metadata = meta;
  }
  return out;
}

function withManaged(obj: JsonObject, managed: Map<string, Entry>): KubeObject {
  const meta: JsonObject = isObject(obj.metadata) ? { ...obj.metadata } : {};
  const encoded = encodeManaged(managed);
  if (encoded.length > 0) meta.managedFields = encoded;
  else delete meta.managedFields;
  return { ...obj, metadata: meta } as KubeObject;
}

/**
 * Applies the effect of one write on ownership: `changed` (added or modified fields) move to
 * the entry `self` (whose time becomes `now`); `removed` fields leave every entry.
 */
function recordUpdate(
  managed: Map<string, Entry>,
  self: Entry,
  changed: FieldSet,
  removed: FieldSet,
  now: string,
): void {
  const selfKey = identity(self);
  // The manager setting only fields it already owns (a status writer writing its status again)
  // keeps its set: (S − changed − removed) ∪ changed = S; only its time moves.
  const own = managed.get(selfKey);
  const keepsOwn = own !== undefined && !changed.isEmpty() && own.covers(changed) && !own.overlaps(removed);
  for (const [key, e] of managed) {
    if (key === selfKey && keepsOwn) continue;
    // An entry the write does not touch keeps its set (and, undecoded, its FieldsV1 as it came).
    if (key !== selfKey && !e.overlaps(changed) && !e.overlaps(removed)) {
      if (e.isEmpty()) managed.delete(key);
      continue;
    }
    const next = e.set.difference(changed).difference(removed);
    if (next.isEmpty()) managed.delete(key);
    else e.set = next;
  }
  if (keepsOwn) {
    // Where the general path would have dropped the entry (S ⊆ changed) and added it anew, it
    // moves to the end of the map as there: capUpdateManagers breaks ties of time by that order.
    if (own.within(changed)) managed.delete(selfKey);
    managed.set(selfKey, own.withMeta({ ...metaOf(self), time: now }));
    return;
  }
  if (changed.isEmpty()) return;
  const prev = managed.get(selfKey);
  const set = prev ? prev.set.union(changed) : changed;
  managed.set(selfKey, new Entry({ ...metaOf(self), time: now }, set));
}

function metaOf(e: EntryMeta): EntryMeta {
  const m: EntryMeta = { manager: e.manager, operation: e.operation, apiVersion: e.apiVersion };
  if (e.subresource !== undefined) m.subresource = e.subresource;
  if (e.time !== undefined) m.time = e.time;
  return m;
}

export interface TrackUpdateOptions {
  /** The object before the write; null for a create. */
  old: KubeObject | null;
  /** The object as it will be stored (after defaulting). */
  updated: KubeObject;
  /** The field manager (`?fieldManager=`, else derived from the user agent). */
  manager: string;
  /** client-node model of the kind, e.g. `V1StatefulSet`. */
  modelName: string;
  /** apiVersion the request used, e.g. `apps/v1`. */
  apiVersion: string;
  /** `status`, `scale`, … for writes to a subresource. */
  subresource?: string;
  /** RFC 3339 time of the write. */
  now: string;
}

/**
 * Records a create/update/patch in `updated.metadata.managedFields` and returns the object with
 * them (a new top-level object and metadata; the rest is shared with `updated`, never `old`). The entries start from those the update carries (a client may rewrite managedFields;
 * exactly `[{}]` strips them) or, if it carries none (or writes a subresource), the old object's. As in
 * Kubernetes, an existing object without managedFields stays untracked until its first apply.
 */
export function trackUpdate(opts: TrackUpdateOptions): KubeObject {
  return guardDepth(() => trackUpdateImpl(opts));
}

function trackUpdateImpl(opts: TrackUpdateOptions): KubeObject {
  const { old, updated, manager, modelName, apiVersion, subresource, now } = opts;
  const given = updated.metadata?.managedFields;
  if (
    !subresource &&
    Array.isArray(given) &&
    given.length === 1 &&
    isObject(given[0]) &&
    Object.keys(given[0]).length === 0
  ) {
    // Kubernetes' documented reset: managedFields `[{}]` strips them entirely.
    return withManaged(withoutManagedFields(updated), new Map());
  }
  let managed = subresource ? new Map<string, Entry>() : decodeManaged(updated.metadata?.managedFields);
  if (managed.size === 0 || [...managed.values()].every((e) => e.isEmpty())) {
    managed = decodeManaged(old?.metadata?.managedFields);
  }
  const next = withoutManagedFields(updated);
  if (old !== null && managed.size === 0) return withManaged(next, managed);
  const t = rootType(modelName);
  const before = old ? withoutManagedFields(old) : zeroObject(modelName);
  const cmp = compareValues(before, next, t);
  cmp.added.addAll(cmp.modified); // the comparison is ours: no copy needed
  const changed = stripIgnored(cmp.added, subresource);
  if (old === null && managed.size === 0) {
    // A create with no entries to start from: its manager owns what it set, nobody else owns
    // anything (what recordUpdate and encodeManaged would make of it, without their work).
    const meta: JsonObject = isObject(next.metadata) ? { ...next.metadata } : {};
    if (changed.isEmpty()) delete meta.managedFields;
    else {
      const entry: ManagedFieldsEntry = { manager, operation: 'Update', apiVersion };
      if (now) entry.time = now;
      entry.fieldsType = 'FieldsV1';
      entry.fieldsV1 = changed.toFieldsV1();
      if (subresource) entry.subresource = subresource;
      meta.managedFields = [entry];
    }
    return { ...next, metadata: meta } as KubeObject;
  }
  const removed = stripIgnored(cmp.removed, subresource);
  const self = new Entry({ manager, operation: 'Update', apiVersion }, new FieldSet());
  if (subresource) self.subresource = subresource;
  recordUpdate(managed, self, changed, removed, now);
  capUpdateManagers(managed);
  return withManaged(next, managed);
}

export interface ServerSideApplyOptions {
  /** The stored object; null when the apply creates it. */
  live: KubeObject | null;
  /** The applied configuration (YAML already parsed). */
  applied: KubeObject;
  manager: string;
  force: boolean;
  modelName: string;
  apiVersion: string;
  subresource?: string;
  now: string;
}

function printManager(e: Entry): string {
  let s = JSON.stringify(e.manager);
  if (e.subresource) s += ` with subresource ${JSON.stringify(e.subresource)}`;
  if (e.operation === 'Update') s += ` using ${e.apiVersion}`;
  return s;
}

function conflictError(conflicts: { entry: Entry; paths: string[][] }[]): PatchError {
  const causes: PatchCause[] = [];
  const sorted = [...conflicts].sort((a, b) => (identity(a.entry) < identity(b.entry) ? -1 : 1));
  for (const { entry, paths } of sorted) {
    for (const p of paths) {
      causes.push({
        reason: 'FieldManagerConflict',
        field: pathString(p),
        message: `conflict with ${printManager(entry)}`,
      });
    }
  }
  let message: string;
  if (causes.length === 1) {
    message = `Apply failed with 1 conflict: ${causes[0]!.message}: ${causes[0]!.field}`;
  } else {
    const lines: string[] = [];
    for (const { entry, paths } of sorted) {
      lines.push(`conflicts with ${printManager(entry)}:`);
      for (const p of paths) lines.push(`- ${pathString(p)}`);
    }
    message = `Apply failed with ${causes.length} conflicts: ${lines.join('\n')}`;
  }
  return new PatchError(409, 'Conflict', message, causes);
}

function lastAppliedSet(live: KubeObject | null, modelName: string): FieldSet | undefined {
  const raw = live?.metadata?.annotations?.[LAST_APPLIED_ANNOTATION];
  if (typeof raw !== 'string' || !raw) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    return undefined;
  }
  if (!isObject(parsed)) return undefined;
  return stripIgnored(toFieldSet(parsed, rootType(modelName), false), undefined);
}

/** The last-applied annotation kubectl's server-side apply keeps in sync, as Kubernetes builds it. */
function buildLastApplied(applied: KubeObject): string {
  const copy = clone(applied) as JsonObject;
  const meta = isObject(copy.metadata) ? copy.metadata : undefined;
  if (meta && isObject(meta.annotations)) {
    delete meta.annotations[LAST_APPLIED_ANNOTATION];
    if (Object.keys(meta.annotations).length === 0) delete meta.annotations;
  }
  return JSON.stringify(copy);
}

/**
 * Server-side apply of `applied` by `manager` onto `live` (or a new object). Returns the
 * resulting object with its managedFields. Throws PatchError 409 Conflict (one cause per field,
 * reason FieldManagerConflict) when the apply would change fields other managers own and
 * `force` is false; 400 when the configuration carries managedFields or no manager is named;
 * 422 for lists it cannot key (duplicate keys, items without their key fields).
 */
export function serverSideApply(opts: ServerSideApplyOptions): { object: KubeObject } {
  return guardDepth(() => serverSideApplyImpl(opts));
}

function serverSideApplyImpl(opts: ServerSideApplyOptions): { object: KubeObject } {
  const { live, applied, manager, force, modelName, apiVersion, subresource, now } = opts;
  if (!manager) throw badRequest('fieldManager is required for apply requests');
  if (!isObject(applied)) throw badRequest('the applied configuration must be an object');
  if (isObject(applied.metadata) && applied.metadata.managedFields != null) {
    throw badRequest('metadata.managedFields must be nil');
  }
  const t = rootType(modelName);
  const config = clone(applied) as JsonObject;
  delete config[subresource === 'status' ? 'spec' : 'status'];
  const configSet = stripIgnored(toFieldSet(config, t, true), subresource);

  const managed = decodeManaged(live?.metadata?.managedFields);
  // A private copy: the result is built from it and must not share structure with `live`.
  const liveVal: JsonObject | null = live ? clone(withoutManagedFields(live)) : null;
  const zero = zeroObject(modelName);
  if (liveVal && managed.size === 0) {
    const cmp = compareValues(zero, liveVal, t);
    const fields = stripIgnored(cmp.added.union(cmp.modified), subresource);
    const first = new Entry({ manager: BEFORE_FIRST_APPLY, operation: 'Update', apiVersion }, new FieldSet());
    recordUpdate(managed, first, fields, new FieldSet(), now);
  }

  const self = new Entry({ manager, operation: 'Apply', apiVersion }, configSet);
  if (subresource) self.subresource = subresource;
  const selfKey = identity(self);
  const previous = managed.get(selfKey);
  if (previous?.time) self.time = previous.time;
  managed.set(selfKey, self);

  let object = mergeValues(liveVal ?? {}, config, t) as JsonObject;
  if (previous && !previous.set.isEmpty()) {
    let owned = new FieldSet();
    for (const e of managed.values()) owned = owned.union(e.set);
    object = pruneValue(object, t, previous.set, owned) as JsonObject;
  }

  const cmp = compareValues(liveVal ?? zero, object, t);
  const changed = stripIgnored(cmp.added.union(cmp.modified), subresource);
  const removed = stripIgnored(cmp.removed, subresource);
  const conflicts: { key: string; entry: Entry; set: FieldSet }[] = [];
  for (const [key, e] of managed) {
    if (key === selfKey) continue;
    const c = e.set.intersection(changed);
    if (!c.isEmpty()) conflicts.push({ key, entry: e, set: c });
  }
  if (conflicts.length > 0 && !force) {
    let remaining = conflicts;
    // kubectl taking over from client-side apply: conflicts on fields of the last-applied
    // configuration are allowed (Kubernetes' upgrade path for `kubectl apply --server-side`).
    const allowed = manager === 'kubectl' ? lastAppliedSet(live, modelName) : undefined;
    if (allowed) {
      remaining = conflicts
        .map((c) => ({ ...c, set: c.set.difference(allowed) }))
        .filter((c) => !c.set.isEmpty());
    }
    if (remaining.length > 0) {
      throw conflictError(remaining.map((c) => ({ entry: c.entry, paths: c.set.paths() })));
    }
  }
  for (const { key, set } of conflicts) {
    const e = managed.get(key)!;
    e.set = e.set.difference(set);
  }
  for (const [key, e] of managed) {
    if (key === selfKey) continue;
    e.set = e.set.difference(removed);
    if (e.set.isEmpty()) managed.delete(key);
  }

  const objectChanged = !liveVal || !deepEqual(liveVal, object);
  if (objectChanged || !previous || !previous.set.equals(configSet) || previous.apiVersion !== apiVersion) {
    self.time = now;
  }
  capUpdateManagers(managed);

  if (manager === 'kubectl' && typeof live?.metadata?.annotations?.[LAST_APPLIED_ANNOTATION] === 'string') {
    const meta = isObject(object.metadata) ? { ...object.metadata } : {};
    const annotations = isObject(meta.annotations) ? { ...meta.annotations } : {};
    annotations[LAST_APPLIED_ANNOTATION] = buildLastApplied(applied);
    meta.annotations = annotations;
    object = { ...object, metadata: meta };
  }
  return { object: withManaged(object, managed) };
}
