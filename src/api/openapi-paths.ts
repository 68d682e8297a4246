// OpenAPI paths and operations of a resource (list, create, get, update, patch, delete, status and
// scale subresources), named and parameterised as Kubernetes does.
import type { ResourceDef } from '../registry/types.ts';
import { type Gvk, PATCH_SCHEMA, REF_PREFIX, type Schema, USES_PATCH, listModelName } from './openapi-schemas.ts';

export type Operation = Record<string, unknown>;

function queryParam(name: string, description: string, type: 'string' | 'boolean' | 'integer' = 'string'): Schema {
  return { name, in: 'query', description, schema: type === 'string' ? { type: 'string', uniqueItems: true } : { type, uniqueItems: true } };
}

const P_DRY_RUN = queryParam(
  'dryRun',
  'When present, indicates that modifications should not be persisted. An invalid or unrecognized dryRun directive will result in an error response and no further processing of the request. Valid values are: - All: all dry run stages will be processed',
);
const P_FIELD_MANAGER = queryParam(
  'fieldManager',
  'fieldManager is a name associated with the actor or entity that is making these changes. The value must be less than or 128 characters long, and only contain printable characters, as defined by https://golang.org/pkg/unicode/#IsPrint.',
);
const P_FIELD_VALIDATION = queryParam(
  'fieldValidation',
  'fieldValidation instructs the server on how to handle objects in the request (POST/PUT/PATCH) containing unknown or duplicate fields. Valid values are: - Ignore: This will ignore any unknown fields that are silently dropped from the object, and will ignore all but the last duplicate field that the decoder encounters. - Warn: This will send a warning via the standard warning response header for each unknown field that is dropped from the object, and for each duplicate field that is encountered. The request will still succeed if there are no other errors, and will only persist the last of any duplicate fields. This is the default. - Strict: This will fail the request with a BadRequest error if any unknown fields would be dropped from the object, or if any duplicate fields are present. The error returned from the server will contain all unknown and duplicate fields encountered.',
);
const P_FORCE = queryParam(
  'force',
  'Force is going to "force" Apply requests. It means user will re-acquire conflicting fields owned by other people. Force flag must be unset for non-apply patch requests.',
  'boolean',
);
const P_PRETTY = queryParam('pretty', "If 'true', then the output is pretty printed.");
const LIST_PARAMS = [
  queryParam('allowWatchBookmarks', 'allowWatchBookmarks requests watch events with type "BOOKMARK".', 'boolean'),
  queryParam('continue', 'The continue option should be set when retrieving more results from the server.'),
  queryParam('fieldSelector', 'A selector to restrict the list of returned objects by their fields. Defaults to everything.'),
  queryParam('labelSelector', 'A selector to restrict the list of returned objects by their labels. Defaults to everything.'),
  queryParam('limit', 'limit is a maximum number of responses to return for a list call.', 'integer'),
  queryParam('resourceVersion', 'resourceVersion sets a constraint on what resource versions a request may be served from.'),
  queryParam('resourceVersionMatch', 'resourceVersionMatch determines how resourceVersion is applied to list calls.'),
  queryParam('sendInitialEvents', 'With `sendInitialEvents=true` a watch stream starts with synthetic events for all existing objects.', 'boolean'),
  queryParam('timeoutSeconds', 'Timeout for the list/watch call.', 'integer'),
  queryParam('watch', 'Watch for changes to the described resources and return them as a stream of add, update, and remove notifications.', 'boolean'),
];
const DELETE_PARAMS = [
  P_DRY_RUN,
  queryParam('gracePeriodSeconds', 'The duration in seconds before the object should be deleted.', 'integer'),
  queryParam('orphanDependents', 'Deprecated: please use the PropagationPolicy.', 'boolean'),
  queryParam('propagationPolicy', "Whether and how garbage collection will be performed. Acceptable values are: 'Orphan', 'Background', 'Foreground'."),
];

const PATCH_CONTENT_TYPES = ['application/apply-patch+yaml', 'application/json-patch+json', 'application/merge-patch+json'];

function content(schemaRef: string, types: string[]): Record<string, Schema> {
  const out: Record<string, Schema> = {};
  for (const t of types) out[t] = { schema: { $ref: REF_PREFIX + schemaRef } };
  return out;
}

const OBJECT_TYPES = ['application/json', 'application/yaml', 'application/vnd.kubernetes.protobuf'];
const LIST_TYPES = [...OBJECT_TYPES, 'application/json;stream=watch', 'application/vnd.kubernetes.protobuf;stream=watch'];

function responses(schemaRef: string, codes: string[], types = OBJECT_TYPES): Record<string, unknown> {
  const text: Record<string, string> = { '200': 'OK', '201': 'Created', '202': 'Accepted' };
  const out: Record<string, unknown> = {};
  for (const c of codes) out[c] = { description: text[c], content: content(schemaRef, types) };
  out['401'] = { description: 'Unauthorized' };
  return out;
}

function camel(s: string): string {
  return s ? s[0].toUpperCase() + s.slice(1) : s;
}

/** `Core`, `Apps`, `Coordination`, `RbacAuthorization`, `FlowcontrolApiserver`. */
function groupCamel(group: string): string {
  if (!group) return 'Core';
  return group
    .replace(/\.k8s\.io$/, '')
    .split(/[.-]/)
    .map(camel)
    .join('');
}

function tagOf(group: string, version: string): string {
  const g = group ? group.replace(/\.k8s\.io$/, '').replace(/\./g, '_') : 'core';
  return `${g}_${version}`;
}

interface OpContext {
  gvk: Gvk;
  tag: string;
  opSuffix: string;
}

function op(ctx: OpContext, action: string, verb: string, description: string, extra: Operation): Operation {
  return {
    tags: [ctx.tag],
    description,
    operationId: `${verb}${ctx.opSuffix}`,
    ...extra,
    'x-kubernetes-action': action,
    'x-kubernetes-group-version-kind': ctx.gvk,
  };
}

export function addPaths(paths: Record<string, Operation>, def: ResourceDef, nameOf: (m: string) => string, used: Set<string>, hasList: boolean): void {
  const verbs = new Set(def.verbs ?? ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch']);
  const prefix = def.group ? `/apis/${def.group}/${def.version}` : `/api/${def.version}`;
  const nsSeg = def.namespaced ? '/namespaces/{namespace}' : '';
  const collection = `${prefix}${nsSeg}/${def.plural}`;
  const item = `${collection}/{name}`;
  const gvk: Gvk = { group: def.group, version: def.version, kind: def.kind };
  const gv = `${groupCamel(def.group)}${camel(def.version)}`;
  const ns = def.namespaced ? 'Namespaced' : '';
  const kindRef = nameOf(def.modelName);
  used.add(def.modelName);
  const listRef = hasList ? nameOf(listModelName(def)) : undefined;
  if (hasList) used.add(listModelName(def));
  const ctx: OpContext = { gvk, tag: tagOf(def.group, def.version), opSuffix: `${gv}${ns}${def.kind}` };
  const pathParams = (withName: boolean): Schema[] => {
    const ps: Schema[] = [];
    if (withName) ps.push({ name: 'name', in: 'path', description: `name of the ${def.kind}`, required: true, schema: { type: 'string', uniqueItems: true } });
    if (def.namespaced) ps.push({ name: 'namespace', in: 'path', description: 'object name and auth scope, such as for teams and projects', required: true, schema: { type: 'string', uniqueItems: true } });
    ps.push(P_PRETTY);
    return ps;
  };
  const writeParams = [P_DRY_RUN, P_FIELD_MANAGER, P_FIELD_VALIDATION];
  const body = (ref: string): Operation => ({ requestBody: { content: content(ref, ['*/*']), required: true } });
  const deleteBody = (): Operation => {
    used.add('V1DeleteOptions');
    return { requestBody: { content: content(nameOf('V1DeleteOptions'), ['*/*']) } };
  };
  const statusRef = (): string => {
    used.add('V1Status');
    return nameOf('V1Status');
  };

  const coll: Operation = {};
  if (verbs.has('list') && listRef) {
    coll.get = op(ctx, 'list', 'list', `list or watch objects of kind ${def.kind}`, { parameters: LIST_PARAMS, responses: responses(listRef, ['200'], LIST_TYPES) });
  }
  if (verbs.has('create')) {
    coll.post = op(ctx, 'post', 'create', `create a ${def.kind}`, { parameters: writeParams, ...body(kindRef), responses: responses(kindRef, ['200', '201', '202']) });
  }
  if (verbs.has('deletecollection')) {
    coll.delete = op(ctx, 'deletecollection', 'deleteCollection', `delete collection of ${def.kind}`, {
      parameters: [...DELETE_PARAMS, ...LIST_PARAMS.filter((p) => p.name !== 'watch' && p.name !== 'allowWatchBookmarks')],
      ...deleteBody(),
      responses: responses(statusRef(), ['200']),
    });
  }
  if (Object.keys(coll).length) paths[collection] = { ...coll, parameters: pathParams(false) };

  const one: Operation = {};
  if (verbs.has('get')) one.get = op(ctx, 'get', 'read', `read the specified ${def.kind}`, { responses: responses(kindRef, ['200']) });
  if (verbs.has('update')) {
    one.put = op(ctx, 'put', 'replace', `replace the specified ${def.kind}`, { parameters: writeParams, ...body(kindRef), responses: responses(kindRef, ['200', '201']) });
  }
  if (verbs.has('delete')) {
    one.delete = op(ctx, 'delete', 'delete', `delete a ${def.kind}`, { parameters: DELETE_PARAMS, ...deleteBody(), responses: responses(statusRef(), ['200', '202']) });
  }
  if (verbs.has('patch')) {
    used.add(USES_PATCH);
    one.patch = op(ctx, 'patch', 'patch', `partially update the specified ${def.kind}`, {
      parameters: [...writeParams, P_FORCE],
      requestBody: { content: content(PATCH_SCHEMA, PATCH_CONTENT_TYPES), required: true },
      responses: responses(kindRef, ['200', '201']),
    });
  }
  if (Object.keys(one).length) paths[item] = { ...one, parameters: pathParams(true) };

  if (def.namespaced && verbs.has('list') && listRef) {
    const allCtx: OpContext = { ...ctx, opSuffix: `${gv}${def.kind}ForAllNamespaces` };
    paths[`${prefix}/${def.plural}`] = {
      get: op(allCtx, 'list', 'list', `list or watch objects of kind ${def.kind}`, { parameters: LIST_PARAMS, responses: responses(listRef, ['200'], LIST_TYPES) }),
      parameters: [P_PRETTY],
    };
  }

  const subs: { name: string; model: string; gvk: Gvk }[] = [];
  if (def.subresources?.status) subs.push({ name: 'status', model: def.modelName, gvk });
  if (def.subresources?.scale) subs.push({ name: 'scale', model: 'V1Scale', gvk: { group: 'autoscaling', version: 'v1', kind: 'Scale' } });
  for (const s of subs) {
    used.add(s.model);
    const ref = nameOf(s.model);
    const sctx: OpContext = { gvk: s.gvk, tag: ctx.tag, opSuffix: `${gv}${ns}${def.kind}${camel(s.name)}` };
    paths[`${item}/${s.name}`] = {
      get: op(sctx, 'get', 'read', `read ${s.name} of the specified ${def.kind}`, { responses: responses(ref, ['200']) }),
      put: op(sctx, 'put', 'replace', `replace ${s.name} of the specified ${def.kind}`, { parameters: writeParams, ...body(ref), responses: responses(ref, ['200', '201']) }),
      patch: op(sctx, 'patch', 'patch', `partially update ${s.name} of the specified ${def.kind}`, {
        parameters: [...writeParams, P_FORCE],
        requestBody: { content: content(PATCH_SCHEMA, PATCH_CONTENT_TYPES), required: true },
        responses: responses(ref, ['200', '201']),
      }),
      parameters: pathParams(true),
    };
  }
}
