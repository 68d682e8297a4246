// HTTP handlers for resource requests: one generic path per verb, driven by the registry entry.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { KubeObject, ResourceDef } from '../registry/types.ts';
import { apiVersionOf } from '../registry/types.ts';
import type { ResourceRequest } from './requestinfo.ts';
import { errors, ApiError, successStatus } from './errors.ts';
import { decodeObjectBody, fieldValidationMode, mediaTypeOf, parseAnyBody, parseText, readBody } from './body.ts';
import { createObject, getObject, updateObject, type ResourceContext, type WriteOptions } from './resources.ts';
import { deleteCollection, deleteObject, parseDeleteOptions } from './delete.ts';
import { listObjects } from './list.ts';
import { serveWatch } from './watch.ts';
import type { WatchCache } from './watchcache.ts';
import { includeObjectOf, partialObject, representationOf, toTable } from './tables.ts';
import { stampTypeMeta, rfc3339 } from './meta.ts';
import { applyJsonPatch, applyMergePatch, applyStrategicMergePatch, serverSideApply, strategicMergeSupported, PatchError } from './patch/index.ts';
import { scaleOf, applyScale } from './scale.ts';
import { jsonClone } from './patch/json.ts';
import { labelSelectorString } from '../registry/validation.ts';
import { checkJsonPatch, checkMergePatch, strictPatchInvalid } from './fieldvalidation.ts';
import { DEFAULT_AUDIENCE, ServiceAccountTokens, type BoundObject } from './satokens.ts';
import { proxyPodLog, type PodProxyContext } from './podproxy.ts';
import { evictPod } from './eviction.ts';

export interface HandlerContext extends ResourceContext {
  cache: WatchCache;
  /** Issues service-account tokens (TokenRequest); absent: the token subresource is not served. */
  tokens?: ServiceAccountTokens;
  /** pods/log, exec and attach to the node agents (podproxy.ts); without it they answer 503. */
  podProxy?: PodProxyContext;
}

export interface Reply {
  code: number;
  body: unknown;
  warnings?: string[];
  contentType?: string;
}

function fieldManagerOf(req: IncomingMessage, query: URLSearchParams, fallback: string): string {
  const fm = query.get('fieldManager');
  if (fm !== null) {
    if (fm.length > 128) throw errors.badRequest('fieldManager: Too long: may not be more than 128 bytes');
    return fm;
  }
  const ua = String(req.headers['user-agent'] ?? '');
  const first = ua.split('/')[0];
  return first || fallback;
}

function dryRunOf(query: URLSearchParams): boolean {
  const all = query.getAll('dryRun');
  for (const v of all) if (v !== 'All') throw errors.badRequest(`dryRun: Unsupported value: "${v}": supported values: "All"`);
  return all.length > 0;
}

function render(def: ResourceDef, obj: KubeObject, req: IncomingMessage, query: URLSearchParams): unknown {
  const rep = representationOf(req.headers.accept);
  stampTypeMeta(def, obj);
  if (rep === 'table') return toTable(def, [obj], { include: includeObjectOf(query), resourceVersion: obj.metadata.resourceVersion });
  if (rep === 'partial') return partialObject(obj);
  return obj;
}

export async function handleResource(
  ctx: HandlerContext,
  def: ResourceDef,
  ri: ResourceRequest,
  req: IncomingMessage,
  res: ServerResponse,
  query: URLSearchParams,
): Promise<Reply | null> {
  const ns = def.namespaced ? ri.namespace : undefined;
  if (def.namespaced && ri.namespace === undefined && ri.verb !== 'list' && ri.verb !== 'watch' && ri.verb !== 'deletecollection') {
    throw errors.notFound(def.group, def.plural, ri.name ?? '');
  }
  if (ctx.podProxy && def.kind === 'Pod' && def.group === '' && (ri.subresource === 'log' || ri.subresource === 'exec' || ri.subresource === 'attach')) {
    // exec and attach arrive as upgrades (server.ts 'upgrade'); a plain request is refused as Kubernetes does.
    if (ri.subresource !== 'log') throw errors.badRequest('Upgrade request required');
    if (ri.verb !== 'get') throw errors.methodNotAllowed();
    await proxyPodLog(ctx.podProxy, { namespace: ns!, name: ri.name! }, query, res);
    return null;
  }
  if (ri.subresource) return handleSubresource(ctx, def, ri, req, query);
  if ((ri.verb === 'update' || ri.verb === 'patch') && !ri.name) throw errors.methodNotAllowed();

  switch (ri.verb) {
    case 'get': {
      const { obj } = await getObject(ctx, def, ns, ri.name!);
      return { code: 200, body: render(def, obj, req, query) };
    }
    case 'list': {
      const limit = Number(query.get('limit') ?? '0');
      if (!Number.isSafeInteger(limit) || limit < 0) throw errors.badRequest(`limit: Invalid value: "${query.get('limit')}": must be a non-negative integer`);
      const page = await listObjects(ctx.objects, def, {
        namespace: ns,
        labelSelector: query.get('labelSelector'),
        fieldSelector: query.get('fieldSelector'),
        limit,
        continue: query.get('continue'),
        resourceVersion: query.get('resourceVersion'),
        resourceVersionMatch: query.get('resourceVersionMatch'),
      });
      const rep = representationOf(req.headers.accept);
      for (const o of page.items) stampTypeMeta(def, o);
      if (rep === 'table') {
        return { code: 200, body: toTable(def, page.items, { include: includeObjectOf(query), resourceVersion: page.resourceVersion, continue: page.continue, remaining: page.remaining }) };
      }
      const metadata: Record<string, unknown> = { resourceVersion: page.resourceVersion };
      if (page.continue) metadata.continue = page.continue;
      if (page.remaining !== undefined) metadata.remainingItemCount = page.remaining;
      if (rep === 'partial') {
        return { code: 200, body: { kind: 'PartialObjectMetadataList', apiVersion: 'meta.k8s.io/v1', metadata, items: page.items.map(partialObject) } };
      }
      return { code: 200, body: { kind: def.listKind, apiVersion: apiVersionOf(def), metadata, items: page.items } };
    }
    case 'watch': {
      await serveWatch(req, res, ctx.objects, ctx.cache, { def, namespace: ns, name: ri.name, query, representation: representationOf(req.headers.accept) });
      return null;
    }
    case 'create': {
      const mode = fieldValidationMode(query);
      const buf = await readBody(req);
      const { obj, warnings } = decodeObjectBody(buf, req.headers['content-type'], def, mode);
      const opts: WriteOptions = { dryRun: dryRunOf(query), fieldManager: fieldManagerOf(req, query, 'unknown') };
      const created = await createObject(ctx, def, ns, obj, opts);
      return { code: 201, body: render(def, created, req, query), warnings };
    }
    case 'update': {
      const mode = fieldValidationMode(query);
      const buf = await readBody(req);
      const { obj, warnings } = decodeObjectBody(buf, req.headers['content-type'], def, mode);
      const opts = { dryRun: dryRunOf(query), fieldManager: fieldManagerOf(req, query, 'unknown'), createIfMissing: def.allowCreateOnUpdate === true, mutation: 'fresh' as const };
      const r = await updateObject(ctx, def, ns, ri.name!, () => jsonClone(obj), opts);
      return { code: r.created ? 201 : 200, body: render(def, r.obj, req, query), warnings };
    }
    case 'patch': {
      const r = await patchResource(ctx, def, ns, ri.name!, req, query, undefined);
      return { code: r.created ? 201 : 200, body: render(def, r.obj, req, query), warnings: r.warnings };
    }
    case 'delete': {
      const buf = await readBody(req);
      const opts = parseDeleteOptions(parseAnyBody(buf, req.headers['content-type']), query);
      const r = await deleteObject(ctx, def, ns, ri.name!, opts);
      return { code: r.deleted ? 200 : 202, body: render(def, r.obj, req, query) };
    }
    case 'deletecollection': {
      const buf = await readBody(req);
      const body = buf.length > 0 ? parseText(buf, 'json') : undefined;
      const opts = parseDeleteOptions(body, query);
      const items = await deleteCollection(ctx, def, ns, { labelSelector: query.get('labelSelector'), fieldSelector: query.get('fieldSelector') }, opts);
      return { code: 200, body: { kind: def.listKind, apiVersion: apiVersionOf(def), metadata: {}, items: items.map((o) => stampTypeMeta(def, o)) } };
    }
  }
}

/** Apply a PATCH body of any supported type to the current object. */
async function patchResource(
  ctx: HandlerContext,
  def: ResourceDef,
  ns: string | undefined,
  name: string,
  req: IncomingMessage,
  query: URLSearchParams,
  subresource: string | undefined,
) {
  const type = mediaTypeOf(req.headers['content-type']);
  const buf = await readBody(req);
  const dryRun = dryRunOf(query);
  const mode = fieldValidationMode(query);
  const warnings: string[] = [];
  const force = query.get('force') === 'true';
  if (type === 'apply-yaml') {
    const manager = query.get('fieldManager');
    if (!manager) throw errors.invalid('meta.k8s.io', 'PatchOptions', '', [{ reason: 'FieldValueRequired', field: 'fieldManager', message: 'Required value: is required for apply patch' }]);
    const applied = parseText(buf, 'yaml');
    if (!applied || typeof applied !== 'object' || Array.isArray(applied)) throw errors.badRequest('the apply patch must be a YAML or JSON object');
    const appliedObj = applied as KubeObject;
    if (!appliedObj.metadata) appliedObj.metadata = {};
    return updateObject(
      ctx,
      def,
      ns,
      name,
      (cur) => {
        if (appliedObj.kind !== def.kind || appliedObj.apiVersion !== apiVersionOf(def)) {
          throw errors.badRequest(`the apply patch must name apiVersion ${apiVersionOf(def)} and kind ${def.kind}`);
        }
        try {
          // serverSideApply builds its result from its own copy of `live`: a fresh object.
          return serverSideApply({ live: cur, applied: jsonClone(appliedObj), manager, force, modelName: def.modelName, apiVersion: apiVersionOf(def), subresource, now: rfc3339(ctx.now()) }).object;
        } catch (e) {
          throw patchErrorToApi(e, def, name);
        }
      },
      { dryRun, fieldManager: manager, subresource, createIfMissing: subresource === undefined, applied: true, mutation: 'fresh' },
    ).then((r) => ({ ...r, warnings }));
  }
  let patch: unknown;
  if (type === 'json-patch' || type === 'merge-patch' || type === 'strategic-merge-patch') patch = parseText(buf, 'json');
  else throw new ApiError(415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json`);
  if (type === 'strategic-merge-patch' && !strategicMergeSupported(def.modelName)) {
    throw new ApiError(415, 'UnsupportedMediaType', `strategic merge patch is not supported for ${def.kind}`);
  }
  const manager = fieldManagerOf(req, query, 'unknown');
  return updateObject(
    ctx,
    def,
    ns,
    name,
    (cur) => {
      try {
        let out: unknown;
        if (type === 'json-patch') out = applyJsonPatch(cur, patch);
        else if (type === 'merge-patch') out = applyMergePatch(cur, patch, { shareDoc: true });
        else out = applyStrategicMergePatch(cur, patch, def.modelName);
        if (!out || typeof out !== 'object' || Array.isArray(out)) throw errors.badRequest('the patch result is not an object');
        if (mode !== 'Ignore') {
          const text = buf.toString('utf8');
          const found = type === 'json-patch' ? checkJsonPatch(text, out, def.modelName) : checkMergePatch(text, out, def.modelName);
          if (found.errors.length > 0 && mode === 'Strict') {
            const inv = strictPatchInvalid(JSON.stringify(out), found.errors);
            throw new ApiError(422, 'Invalid', inv.message, { causes: inv.causes });
          }
          if (mode === 'Warn') warnings.splice(0, warnings.length, ...found.warnings);
        }
        return out as KubeObject;
      } catch (e) {
        throw patchErrorToApi(e, def, name);
      }
    },
    // The JSON and strategic patch engines work on their own copies; a merge patch shares what it
    // leaves alone with `cur`. None of them modifies `cur`.
    { dryRun, fieldManager: manager, subresource, mutation: type === 'merge-patch' ? 'shares' : 'fresh' },
  ).then((r) => ({ ...r, warnings }));
}

function patchErrorToApi(e: unknown, def: ResourceDef, name: string): ApiError {
  if (e instanceof ApiError) return e;
  if (e instanceof PatchError) {
    const details = e.causes ? { name, group: def.group || undefined, kind: def.plural, causes: e.causes } : undefined;
    return new ApiError(e.code, e.reason, e.message, details);
  }
  return errors.badRequest(e instanceof Error ? e.message : String(e));
}

async function handleSubresource(ctx: HandlerContext, def: ResourceDef, ri: ResourceRequest, req: IncomingMessage, query: URLSearchParams): Promise<Reply> {
  const ns = def.namespaced ? ri.namespace : undefined;
  const name = ri.name!;
  const sub = ri.subresource!;
  const dryRun = () => dryRunOf(query);
  if (sub === 'status' && def.subresources?.status) {
    switch (ri.verb) {
      case 'get':
        return { code: 200, body: render(def, (await getObject(ctx, def, ns, name)).obj, req, query) };
      case 'update': {
        const { obj, warnings } = decodeObjectBody(await readBody(req), req.headers['content-type'], def, fieldValidationMode(query));
        const r = await updateObject(ctx, def, ns, name, () => jsonClone(obj), { dryRun: dryRun(), fieldManager: fieldManagerOf(req, query, 'unknown'), subresource: 'status', mutation: 'fresh' });
        return { code: 200, body: render(def, r.obj, req, query), warnings };
      }
      case 'patch': {
        const r = await patchResource(ctx, def, ns, name, req, query, 'status');
        return { code: 200, body: render(def, r.obj, req, query) };
      }
    }
  }
  if (sub === 'scale' && def.subresources?.scale) {
    const spec = def.subresources.scale;
    switch (ri.verb) {
      case 'get':
        return { code: 200, body: scaleOf(def, spec, (await getObject(ctx, def, ns, name)).obj, labelSelectorString) };
      case 'update': {
        const body = parseText(await readBody(req), mediaTypeOf(req.headers['content-type']) === 'yaml' ? 'yaml' : 'json') as KubeObject;
        const r = await updateObject(ctx, def, ns, name, (cur) => applyScale(def, spec, cur!, body), { dryRun: dryRun(), fieldManager: fieldManagerOf(req, query, 'unknown'), subresource: 'scale' });
        return { code: 200, body: scaleOf(def, spec, r.obj, labelSelectorString) };
      }
      case 'patch': {
        const type = mediaTypeOf(req.headers['content-type']);
        const patch = parseText(await readBody(req), type === 'apply-yaml' ? 'yaml' : 'json');
        const r = await updateObject(
          ctx,
          def,
          ns,
          name,
          (cur) => {
            const scale = scaleOf(def, spec, cur!, labelSelectorString) as KubeObject;
            let patched: unknown;
            try {
              if (type === 'json-patch') patched = applyJsonPatch(scale, patch);
              else if (type === 'strategic-merge-patch') patched = applyStrategicMergePatch(scale, patch, 'V1Scale');
              else patched = applyMergePatch(scale, patch);
            } catch (e) {
              throw patchErrorToApi(e, def, name);
            }
            return applyScale(def, spec, cur!, patched as KubeObject);
          },
          { dryRun: dryRun(), fieldManager: fieldManagerOf(req, query, 'unknown'), subresource: 'scale' },
        );
        return { code: 200, body: scaleOf(def, spec, r.obj, labelSelectorString) };
      }
    }
  }
  if (sub === 'binding' && def.kind === 'Pod' && ri.verb === 'create') {
    const body = parseAnyBody(await readBody(req), req.headers['content-type']) as { target?: { name?: string; kind?: string }; metadata?: { name?: string } } | undefined;
    const node = body?.target?.name;
    if (!node) throw errors.invalid('', 'Binding', name, [{ reason: 'FieldValueRequired', field: 'target.name', message: 'Required value' }]);
    await updateObject(
      ctx,
      def,
      ns,
      name,
      (cur) => {
        const spec = (cur!.spec ?? {}) as { nodeName?: string };
        if (cur!.metadata.deletionTimestamp) throw errors.conflict('', 'pods', name, 'pod is being deleted, cannot be assigned to a host');
        if (spec.nodeName) throw errors.conflict('', 'pods', name, `pod ${name} is already assigned to node "${spec.nodeName}"`);
        spec.nodeName = node;
        cur!.spec = spec;
        const status = (cur!.status ?? {}) as { conditions?: { type: string; status: string; lastTransitionTime?: string; lastProbeTime?: null }[] };
        const conds = (status.conditions ?? []).filter((c) => c.type !== 'PodScheduled');
        conds.push({ type: 'PodScheduled', status: 'True', lastProbeTime: null, lastTransitionTime: rfc3339(ctx.now()) });
        status.conditions = conds;
        cur!.status = status;
        return cur!;
      },
      { dryRun: dryRun(), fieldManager: fieldManagerOf(req, query, 'unknown'), subresource: 'binding' },
    );
    return { code: 201, body: { ...successStatus(), code: 201 } };
  }
  if (sub === 'eviction' && def.kind === 'Pod') {
    if (ri.verb !== 'create') throw errors.methodNotAllowed();
    return evictPod(ctx, def, ns ?? '', name, parseAnyBody(await readBody(req), req.headers['content-type']), { dryRun: dryRun(), fieldManager: fieldManagerOf(req, query, 'unknown') });
  }
  if (sub === 'finalize' && def.kind === 'Namespace' && ri.verb === 'update') {
    const body = parseText(await readBody(req), 'json') as KubeObject;
    const r = await updateObject(
      ctx,
      def,
      ns,
      name,
      (cur) => {
        const spec = (body?.spec ?? {}) as { finalizers?: string[] };
        cur!.spec = { ...((cur!.spec as object) ?? {}), finalizers: spec.finalizers ?? [] };
        return cur!;
      },
      { dryRun: dryRun(), fieldManager: fieldManagerOf(req, query, 'unknown'), subresource: 'finalize' },
    );
    return { code: 200, body: render(def, r.obj, req, query) };
  }
  if (sub === 'token' && def.kind === 'ServiceAccount' && ri.verb === 'create' && ctx.tokens) {
    return { code: 201, body: await tokenRequest(ctx, ctx.tokens, ns ?? '', name, parseAnyBody(await readBody(req), req.headers['content-type'])) };
  }
  const known = def.subresources?.others?.includes(sub);
  if (known) {
    throw errors.unavailable(`${def.plural}/${sub} is not served yet: no node agent is connected to proxy it`);
  }
  throw errors.notFound(def.group, `${def.plural}/${sub}`, name);
}

/** TokenRequest: a bound, expiring token for a service account (kubectl create token). */
async function tokenRequest(ctx: HandlerContext, tokens: ServiceAccountTokens, ns: string, name: string, body: unknown): Promise<unknown> {
  const saDef = { group: '', plural: 'serviceaccounts' };
  const sa = await ctx.objects.kv.get(`/registry/core/serviceaccounts/${ns}/${name}`);
  if (!sa) throw errors.notFound(saDef.group, saDef.plural, name);
  const saObj = JSON.parse(sa.value) as KubeObject;
  const req = (body && typeof body === 'object' ? body : {}) as { spec?: { audiences?: string[]; expirationSeconds?: number; boundObjectRef?: { kind?: string; apiVersion?: string; name?: string; uid?: string } } };
  const spec = req.spec ?? {};
  const causes: { reason: string; field: string; message: string }[] = [];
  if (spec.expirationSeconds !== undefined && (!Number.isInteger(spec.expirationSeconds) || spec.expirationSeconds < 600)) {
    causes.push({ reason: 'FieldValueInvalid', field: 'spec.expirationSeconds', message: `Invalid value: ${JSON.stringify(spec.expirationSeconds)}: may not specify a duration less than 10 minutes` });
  }
  let bound: BoundObject | undefined;
  const ref = spec.boundObjectRef;
  if (ref) {
    if (ref.kind !== 'Pod' && ref.kind !== 'Secret' && ref.kind !== 'Node') {
      causes.push({ reason: 'FieldValueNotSupported', field: 'spec.boundObjectRef.kind', message: `Unsupported value: ${JSON.stringify(ref.kind)}: supported values: "Pod", "Secret", "Node"` });
    } else {
      const key = ref.kind === 'Node' ? `/registry/core/nodes/${ref.name}` : `/registry/core/${ref.kind === 'Pod' ? 'pods' : 'secrets'}/${ns}/${ref.name}`;
      const target = await ctx.objects.kv.get(key);
      const uid = target ? (JSON.parse(target.value) as KubeObject).metadata.uid : undefined;
      if (!target || (ref.uid && ref.uid !== uid)) throw errors.notFound('', ref.kind === 'Pod' ? 'pods' : ref.kind === 'Secret' ? 'secrets' : 'nodes', ref.name ?? '');
      bound = { kind: ref.kind, name: ref.name ?? '', uid: uid ?? '' };
    }
  }
  if (causes.length) throw errors.invalid('authentication.k8s.io', 'TokenRequest', name, causes);
  const expirationSeconds = ServiceAccountTokens.expiration(spec.expirationSeconds);
  const t = tokens.issue({ namespace: ns, name, uid: saObj.metadata.uid ?? '', audiences: spec.audiences, expirationSeconds, bound });
  return {
    kind: 'TokenRequest',
    apiVersion: 'authentication.k8s.io/v1',
    metadata: { name, namespace: ns, creationTimestamp: null },
    spec: { audiences: spec.audiences?.length ? spec.audiences : [DEFAULT_AUDIENCE], expirationSeconds, boundObjectRef: ref ?? null },
    status: { token: t.token, expirationTimestamp: rfc3339(new Date(t.expiresAt)) },
  };
}
