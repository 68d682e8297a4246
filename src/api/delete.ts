// DELETE with Kubernetes semantics: preconditions, graceful deletion of pods, finalizers,
// and propagationPolicy (Foreground / Orphan become finalizers the garbage collector honours).
import type { KubeObject, ResourceDef } from '../registry/types.ts';
import { isStoreError } from '../store/types.ts';
import { errors, toApiError } from './errors.ts';
import { deepClone, rfc3339, stampTypeMeta } from './meta.ts';
import { readyToRemove, removeFinalized, type ResourceContext } from './resources.ts';
import { listObjects } from './list.ts';

export interface DeleteOptions {
  gracePeriodSeconds?: number;
  propagationPolicy?: 'Foreground' | 'Background' | 'Orphan';
  orphanDependents?: boolean;
  preconditions?: { uid?: string; resourceVersion?: string };
  dryRun?: boolean;
}

export interface DeleteResult {
  obj: KubeObject;
  /** true when the object is gone from the store; false when it is only marked. */
  deleted: boolean;
}

const MAX_RETRIES = 16;

export function parseDeleteOptions(body: unknown, query: URLSearchParams): DeleteOptions {
  const o: DeleteOptions = {};
  if (body && typeof body === 'object' && !Array.isArray(body)) {
    const b = body as Record<string, unknown>;
    if (b.kind !== undefined && b.kind !== 'DeleteOptions') throw errors.badRequest(`expected DeleteOptions, got ${String(b.kind)}`);
    if (b.gracePeriodSeconds !== undefined && b.gracePeriodSeconds !== null) o.gracePeriodSeconds = Number(b.gracePeriodSeconds);
    if (typeof b.propagationPolicy === 'string') o.propagationPolicy = b.propagationPolicy as DeleteOptions['propagationPolicy'];
    if (typeof b.orphanDependents === 'boolean') o.orphanDependents = b.orphanDependents;
    if (b.preconditions && typeof b.preconditions === 'object') o.preconditions = b.preconditions as DeleteOptions['preconditions'];
    if (Array.isArray(b.dryRun) && b.dryRun.includes('All')) o.dryRun = true;
  }
  const g = query.get('gracePeriodSeconds');
  if (g !== null && g !== '') o.gracePeriodSeconds = Number(g);
  const p = query.get('propagationPolicy');
  if (p) o.propagationPolicy = p as DeleteOptions['propagationPolicy'];
  const od = query.get('orphanDependents');
  if (od !== null) o.orphanDependents = od === 'true';
  if (query.getAll('dryRun').includes('All')) o.dryRun = true;
  if (o.gracePeriodSeconds !== undefined && (!Number.isSafeInteger(o.gracePeriodSeconds) || o.gracePeriodSeconds < 0)) {
    throw errors.invalid('', 'DeleteOptions', '', [{ reason: 'FieldValueInvalid', field: 'gracePeriodSeconds', message: `Invalid value: ${o.gracePeriodSeconds}: must be greater than or equal to 0` }]);
  }
  if (o.propagationPolicy && !['Foreground', 'Background', 'Orphan'].includes(o.propagationPolicy)) {
    throw errors.invalid('', 'DeleteOptions', '', [
      { reason: 'FieldValueNotSupported', field: 'propagationPolicy', message: `Unsupported value: "${o.propagationPolicy}": supported values: "Foreground", "Background", "Orphan"` },
    ]);
  }
  if (o.propagationPolicy && o.orphanDependents !== undefined) {
    throw errors.invalid('', 'DeleteOptions', '', [{ reason: 'FieldValueInvalid', field: 'propagationPolicy', message: 'Invalid value: "' + o.propagationPolicy + '": orphanDependents and deletionPropagation cannot be both set' }]);
  }
  return o;
}

function podGracePeriod(obj: KubeObject, requested: number | undefined): number {
  const spec = (obj.spec ?? {}) as { nodeName?: string; terminationGracePeriodSeconds?: number };
  const status = (obj.status ?? {}) as { phase?: string };
  // An unscheduled or finished pod has nothing to stop: it goes at once.
  if (!spec.nodeName || status.phase === 'Succeeded' || status.phase === 'Failed') return 0;
  return requested ?? spec.terminationGracePeriodSeconds ?? 30;
}

export async function deleteObject(ctx: ResourceContext, def: ResourceDef, ns: string | undefined, name: string, opts: DeleteOptions): Promise<DeleteResult> {
  for (let attempt = 0; ; attempt++) {
    let found;
    try {
      found = await ctx.objects.get(def, ns, name);
    } catch (e) {
      throw toApiError(e, { group: def.group, plural: def.plural, name });
    }
    if (!found) throw errors.notFound(def.group, def.plural, name);
    const cur = stampTypeMeta(def, found.obj);
    const pre = opts.preconditions;
    if (pre?.uid && pre.uid !== cur.metadata.uid) {
      throw errors.conflict(def.group, def.plural, name, `Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${cur.metadata.uid}`);
    }
    if (pre?.resourceVersion && pre.resourceVersion !== String(found.rev)) {
      throw errors.conflict(def.group, def.plural, name, `Precondition failed: ResourceVersion in precondition: ${pre.resourceVersion}, ResourceVersion in meta: ${found.rev}`);
    }
    const policy = opts.propagationPolicy ?? (opts.orphanDependents === true ? 'Orphan' : opts.orphanDependents === false ? 'Background' : def.defaultPropagation ?? 'Background');
    const next = deepClone(cur);
    const finalizers = new Set(next.metadata.finalizers ?? []);
    if (policy === 'Foreground') {
      finalizers.add('foregroundDeletion');
      finalizers.delete('orphan');
    } else if (policy === 'Orphan') {
      finalizers.add('orphan');
      finalizers.delete('foregroundDeletion');
    } else if (opts.propagationPolicy === 'Background') {
      finalizers.delete('orphan');
      finalizers.delete('foregroundDeletion');
    }
    const hadFinalizerChange = finalizers.size !== (next.metadata.finalizers ?? []).length || [...finalizers].some((f) => !(next.metadata.finalizers ?? []).includes(f));
    let grace = 0;
    if (def.kind === 'Pod') grace = podGracePeriod(cur, opts.gracePeriodSeconds);
    const isNamespace = def.kind === 'Namespace';
    const now = ctx.now();

    if (finalizers.size > 0 || grace > 0 || isNamespace) {
      // Mark for deletion; the object stays until its finalizers (or the node agent) let go.
      if (!next.metadata.deletionTimestamp) {
        next.metadata.deletionTimestamp = rfc3339(new Date(now.getTime() + grace * 1000));
        next.metadata.deletionGracePeriodSeconds = grace;
        if (isNamespace) next.status = { ...((next.status as object) ?? {}), phase: 'Terminating' };
      } else if (def.kind === 'Pod' && grace < (next.metadata.deletionGracePeriodSeconds ?? 0)) {
        // A shorter grace period may replace a longer one (kubectl delete --grace-period=N).
        next.metadata.deletionTimestamp = rfc3339(new Date(now.getTime() + grace * 1000));
        next.metadata.deletionGracePeriodSeconds = grace;
      } else if (!hadFinalizerChange) {
        return { obj: cur, deleted: false };
      }
      if (finalizers.size > 0) next.metadata.finalizers = [...finalizers];
      else delete next.metadata.finalizers;
      if (opts.dryRun) return { obj: next, deleted: false };
      if (readyToRemove(def, next) && !isNamespace) {
        // Grace shortened to 0 and nothing else holds it: remove now.
        const gone = await tryDelete(ctx, def, cur, found.rev);
        if (gone === 'retry' && attempt < MAX_RETRIES) continue;
        if (gone === 'retry') throw errors.conflict(def.group, def.plural, name, 'the object keeps changing');
        return { obj: gone, deleted: true };
      }
      try {
        delete next.metadata.resourceVersion;
        const stored = await ctx.objects.update(def, next, found.rev);
        return { obj: stampTypeMeta(def, stored.obj), deleted: false };
      } catch (e) {
        if ((isStoreError(e, 'Conflict') || isStoreError(e, 'NotFound')) && attempt < MAX_RETRIES) continue;
        throw toApiError(e, { group: def.group, plural: def.plural, name });
      }
    }
    if (opts.dryRun) return { obj: cur, deleted: true };
    const gone = await tryDelete(ctx, def, cur, found.rev);
    if (gone === 'retry' && attempt < MAX_RETRIES) continue;
    if (gone === 'retry') throw errors.conflict(def.group, def.plural, name, 'the object keeps changing');
    return { obj: gone, deleted: true };
  }
}

async function tryDelete(ctx: ResourceContext, def: ResourceDef, cur: KubeObject, rev: number): Promise<KubeObject | 'retry'> {
  try {
    const deleted = await ctx.objects.delete(def, cur.metadata.namespace, cur.metadata.name ?? '', rev);
    ctx.hooks.afterDelete?.(def, deleted.obj);
    return stampTypeMeta(def, deleted.obj);
  } catch (e) {
    if (isStoreError(e, 'Conflict')) return 'retry';
    if (isStoreError(e, 'NotFound')) throw errors.notFound(def.group, def.plural, cur.metadata.name ?? '');
    throw toApiError(e, { group: def.group, plural: def.plural, name: cur.metadata.name });
  }
}

export async function deleteCollection(
  ctx: ResourceContext,
  def: ResourceDef,
  ns: string | undefined,
  selectors: { labelSelector?: string | null; fieldSelector?: string | null },
  opts: DeleteOptions,
): Promise<KubeObject[]> {
  const page = await listObjects(ctx.objects, def, { namespace: ns, ...selectors });
  const out: KubeObject[] = [];
  for (const obj of page.items) {
    try {
      const r = await deleteObject(ctx, def, obj.metadata.namespace, obj.metadata.name ?? '', opts);
      out.push(r.obj);
    } catch (e) {
      if (e instanceof Error && (e as { code?: number }).code === 404) continue;
      throw e;
    }
  }
  return out;
}

export { removeFinalized };
