// The generic write paths every kind shares (create, update, patch, status and scale writes),
// with Kubernetes semantics: defaults, validation, spec/status split, generation, managed
// fields, optimistic concurrency, no-op writes that keep the resourceVersion, and dry runs.
import type { KubeObject, ResourceDef } from '../registry/types.ts';
import { apiVersionOf } from '../registry/types.ts';
import { isStoreError } from '../store/types.ts';
import type { ObjectStore } from './objectstore.ts';
import { ApiError, errors, toApiError } from './errors.ts';
import { bumpGeneration, deepClone, preserveMetaOnUpdate, prepareMetaForCreate, semanticEqual, stampTypeMeta, validateObjectMeta } from './meta.ts';
import { trackUpdate } from './patch/index.ts';
import type { Logger } from '../util/log.ts';

export interface WriteOptions {
  dryRun?: boolean;
  fieldManager: string;
  subresource?: 'status' | 'scale' | 'binding' | string;
  /** The write is a server-side apply whose result already carries its managedFields. */
  applied?: boolean;
}

/**
 * What a mutation does with the object it is given (updateObject's copy costs a deep clone):
 * - `modifies` (the default): it may change it in place, so it gets a private copy;
 * - `shares`: it never changes it, but its result may share parts with it (a merge patch
 *   copies only the paths it patches): it gets a private copy except on status writes, whose
 *   result then shares the untouched parts with the stored object (cheaper to compare);
 * - `fresh`: it never changes it and its result shares nothing with it (a PUT body, an apply,
 *   which copies what it keeps): it gets the stored object itself.
 */
export type MutationKind = 'modifies' | 'shares' | 'fresh';

export interface Hooks {
  /** Called on create after defaults, before validation (admission-style defaulting). */
  admit?(def: ResourceDef, obj: KubeObject): Promise<void>;
  /** Called before a create is stored (namespace existence checks, allocations). May return
   *  an undo, run when the create does not happen (dry run, or the store refused it). */
  beforeCreate?(def: ResourceDef, obj: KubeObject): Promise<(() => Promise<void>) | void>;
  /** Called after an object is finally removed from the store. */
  afterDelete?(def: ResourceDef, obj: KubeObject): void;
}

export interface ResourceContext {
  objects: ObjectStore;
  log: Logger;
  now(): Date;
  hooks: Hooks;
}

const MAX_RETRIES = 16;

function ctxOf(def: ResourceDef, name?: string) {
  return { group: def.group, plural: def.plural, name };
}

export async function getObject(ctx: ResourceContext, def: ResourceDef, ns: string | undefined, name: string): Promise<{ obj: KubeObject; rev: number }> {
  let found;
  try {
    found = await ctx.objects.get(def, ns, name);
  } catch (e) {
    throw toApiError(e, ctxOf(def, name));
  }
  if (!found) throw errors.notFound(def.group, def.plural, name);
  stampTypeMeta(def, found.obj);
  return found;
}

function checkTypeMeta(def: ResourceDef, obj: KubeObject): void {
  const want = apiVersionOf(def);
  if (obj.kind !== undefined && obj.kind !== def.kind) {
    throw errors.badRequest(`the kind of the provided object (${String(obj.kind)}) does not match the kind of the resource (${def.kind})`);
  }
  if (obj.apiVersion !== undefined && obj.apiVersion !== want) {
    throw errors.badRequest(`the API version in the data (${String(obj.apiVersion)}) does not match the expected API version (${want})`);
  }
}

function checkNamespace(def: ResourceDef, obj: KubeObject, ns: string | undefined): void {
  if (!def.namespaced) {
    delete obj.metadata.namespace;
    return;
  }
  if (obj.metadata.namespace === undefined || obj.metadata.namespace === '') obj.metadata.namespace = ns;
  else if (ns !== undefined && obj.metadata.namespace !== ns) {
    throw errors.badRequest('the namespace of the provided object does not match the namespace sent on the request');
  }
}

function validateAll(def: ResourceDef, obj: KubeObject, old?: KubeObject, subresource?: string): void {
  const causes = validateObjectMeta(def, obj.metadata);
  if (subresource === 'status') {
    if (def.validateStatus && old) causes.push(...def.validateStatus(obj, old));
  } else {
    if (subresource === 'binding' && def.validateBinding && old) causes.push(...def.validateBinding(obj, old));
    else if (def.validate) causes.push(...def.validate(obj));
    if (!old && def.validateCreate) causes.push(...def.validateCreate(obj));
    // A binding only sets spec.nodeName, which ordinary pod updates may not change.
    if (old && def.validateUpdate && subresource !== 'binding') causes.push(...def.validateUpdate(obj, old));
  }
  if (causes.length > 0) throw errors.invalid(def.group, def.kind, obj.metadata.name ?? obj.metadata.generateName ?? '', causes);
}

/** Fields a client may not set through managedFields garbage; keep only well-formed entries. */
function sanitizeManagedFields(obj: KubeObject): void {
  const mf = obj.metadata.managedFields;
  if (mf !== undefined && !Array.isArray(mf)) delete obj.metadata.managedFields;
}

export async function createObject(ctx: ResourceContext, def: ResourceDef, ns: string | undefined, input: KubeObject, opts: WriteOptions): Promise<KubeObject> {
  const obj = input;
  checkTypeMeta(def, obj);
  checkNamespace(def, obj, ns);
  sanitizeManagedFields(obj);
  prepareMetaForCreate(def, obj, ctx.now());
  stampTypeMeta(def, obj);
  if (def.subresources?.status && def.kind !== 'Node') delete obj.status;
  def.defaults?.(obj);
  def.prepareForCreate?.(obj);
  await ctx.hooks.admit?.(def, obj);
  validateAll(def, obj);
  const tracked = opts.applied
    ? obj
    : trackUpdate({ old: null, updated: obj, manager: opts.fieldManager, modelName: def.modelName, apiVersion: apiVersionOf(def), now: obj.metadata.creationTimestamp ?? '' });
  const undo = await ctx.hooks.beforeCreate?.(def, tracked);
  if (opts.dryRun) {
    await undo?.();
    return tracked;
  }
  try {
    const stored = await ctx.objects.create(def, tracked);
    return stampTypeMeta(def, stored.obj);
  } catch (e) {
    await undo?.();
    throw toApiError(e, ctxOf(def, tracked.metadata.name));
  }
}

export type Mutation = (current: KubeObject | null) => KubeObject | Promise<KubeObject>;

export interface UpdateResult {
  obj: KubeObject;
  created: boolean;
}

/**
 * The guaranteed-update loop: read, let `mutate` produce the desired object, apply the
 * generic semantics, compare-and-swap; retried on conflicts (a client-pinned resourceVersion
 * then no longer matches and the client gets 409). `current` is null when the object does not exist (mutate may then ask
 * to create it by returning an object, if the def or the patch type allows it).
 */
export async function updateObject(
  ctx: ResourceContext,
  def: ResourceDef,
  ns: string | undefined,
  name: string,
  mutate: Mutation,
  opts: WriteOptions & { createIfMissing?: boolean; mutation?: MutationKind },
): Promise<UpdateResult> {
  const kind = opts.mutation ?? 'modifies';
  const giveStored = kind === 'fresh' || (kind === 'shares' && opts.subresource === 'status');
  for (let attempt = 0; ; attempt++) {
    let found;
    try {
      found = await ctx.objects.get(def, ns, name);
    } catch (e) {
      throw toApiError(e, ctxOf(def, name));
    }
    if (!found) {
      if (!opts.createIfMissing || opts.subresource) throw errors.notFound(def.group, def.plural, name);
      const desired = await mutate(null);
      if (desired.metadata.name === undefined) desired.metadata.name = name;
      if (desired.metadata.name !== name) throw errors.badRequest(`the name of the object (${desired.metadata.name}) does not match the name on the URL (${name})`);
      const created = await createObject(ctx, def, ns, desired, opts);
      return { obj: created, created: true };
    }
    const current = stampTypeMeta(def, found.obj);
    // A resourceVersion in the result is a precondition: the client's own (PUT body, patch) or,
    // for a patch that leaves it alone, the one just read. Either way it must match the stored
    // one; on a lost compare-and-swap the loop reads again and re-checks.
    let desired = await mutate(giveStored ? current : deepClone(current));
    checkTypeMeta(def, desired);
    if (!desired.metadata || typeof desired.metadata !== 'object') throw errors.badRequest('metadata must be an object');
    // Below, desired's top level and metadata are written to: never the stored object's own.
    if (desired === current || desired.metadata === current.metadata) desired = { ...desired, metadata: { ...desired.metadata } };
    if (desired.metadata.name !== undefined && desired.metadata.name !== name) {
      throw errors.badRequest(`the name of the object (${String(desired.metadata.name)}) does not match the name on the URL (${name})`);
    }
    desired.metadata.name = name;
    checkNamespace(def, desired, ns);
    const pinned = desired.metadata.resourceVersion;
    if (pinned !== undefined && pinned !== '' && pinned !== String(found.rev)) {
      throw errors.conflict(def.group, def.plural, name, 'the object has been modified; please apply your changes to the latest version and try again');
    }
    if (desired.metadata.uid !== undefined && desired.metadata.uid !== '' && desired.metadata.uid !== current.metadata.uid) {
      throw errors.conflict(def.group, def.plural, name, `Precondition failed: UID in precondition: ${desired.metadata.uid}, UID in object meta: ${current.metadata.uid}`);
    }
    const semantic = applyUpdateSemantics(def, desired, current, opts);
    // Managed fields are left out of the comparison: a no-op write needs none computed.
    if (semanticEqual(stripVolatile(semantic), stripVolatile(current))) return { obj: current, created: false };
    // A binding writes the pod straight through, as Kubernetes' binding storage does: the pod's
    // managed fields stay as they were (no scheduler entry for spec.nodeName).
    const next = opts.applied || opts.subresource === 'binding' ? semantic : trackManaged(def, semantic, current, opts);
    if (opts.dryRun) return { obj: next, created: false };
    try {
      const stored = await ctx.objects.update(def, next, found.rev);
      const obj = stampTypeMeta(def, stored.obj);
      if (obj.metadata.deletionTimestamp && readyToRemove(def, obj)) {
        await removeFinalized(ctx, def, obj, stored.rev);
      }
      return { obj, created: false };
    } catch (e) {
      if (isStoreError(e, 'Conflict') && attempt < MAX_RETRIES) continue;
      if (isStoreError(e, 'NotFound') && attempt < MAX_RETRIES) continue;
      throw toApiError(e, ctxOf(def, name));
    }
  }
}

function stripVolatile(obj: KubeObject): KubeObject {
  const { resourceVersion: _r, managedFields: _m, ...meta } = obj.metadata;
  return { ...obj, metadata: meta };
}

/** Spec/status split, server-owned metadata, defaults, validation, generation (managed fields
 *  are trackManaged's: the result carries those `desired` came with). */
function applyUpdateSemantics(def: ResourceDef, desired: KubeObject, current: KubeObject, opts: WriteOptions): KubeObject {
  let next: KubeObject;
  if (opts.subresource === 'status') {
    // Only status (and managed fields) change through /status. The rest is the stored object's
    // own (shared, never modified: nothing below writes below the top level and metadata).
    next = { ...current, metadata: { ...current.metadata } };
    if (desired.status === undefined) delete next.status;
    else next.status = desired.status;
    if (def.kind === 'Namespace') next.status = desired.status;
  } else {
    next = desired;
    preserveMetaOnUpdate(next, current);
    if (def.subresources?.status && opts.subresource !== 'binding') {
      if (current.status === undefined) delete next.status;
      else next.status = deepClone(current.status);
    }
    stampTypeMeta(def, next);
    def.defaults?.(next);
    if (opts.subresource === undefined) def.prepareForUpdate?.(next, current);
  }
  validateAll(def, next, current, opts.subresource);
  if (opts.subresource !== 'status') bumpGeneration(def, next, current);
  delete next.metadata.resourceVersion;
  return next;
}

/** The update's managed fields (trackUpdate: `next` as stored, `current` before). */
function trackManaged(def: ResourceDef, next: KubeObject, current: KubeObject, opts: WriteOptions): KubeObject {
  return trackUpdate({
    old: current,
    updated: next,
    manager: opts.fieldManager,
    modelName: def.modelName,
    apiVersion: apiVersionOf(def),
    subresource: opts.subresource,
    now: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
  });
}

/** An object marked for deletion goes once nothing holds it any more. */
export function readyToRemove(def: ResourceDef, obj: KubeObject): boolean {
  if ((obj.metadata.finalizers ?? []).length > 0) return false;
  if (def.kind === 'Namespace') {
    const spec = obj.spec as { finalizers?: string[] } | undefined;
    if ((spec?.finalizers ?? []).length > 0) return false;
  }
  if (def.kind === 'Pod' && (obj.metadata.deletionGracePeriodSeconds ?? 0) > 0) return false;
  return true;
}

export async function removeFinalized(ctx: ResourceContext, def: ResourceDef, obj: KubeObject, rev: number): Promise<KubeObject | null> {
  try {
    const deleted = await ctx.objects.delete(def, obj.metadata.namespace, obj.metadata.name ?? '', rev);
    ctx.hooks.afterDelete?.(def, deleted.obj);
    return deleted.obj;
  } catch (e) {
    if (isStoreError(e, 'Conflict') || isStoreError(e, 'NotFound')) return null;
    throw toApiError(e, ctxOf(def, obj.metadata.name));
  }
}

export function isApiError(e: unknown): e is ApiError {
  return e instanceof ApiError;
}
