// OpenAPI v3 documents (/openapi/v3 and /openapi/v3/<api|apis/g>/<v>) built from the resource
// registry and the model classes of @kubernetes/client-node, whose static `attributeTypeMap`
// lists every field with its JSON name and type. Field descriptions and required fields come from
// the models' .d.ts files (their JSDoc), so `kubectl explain` reads like it does on Kubernetes.
//
// What kubectl 1.32 takes from these documents:
// - `apply`/`create`/`replace`/`edit` look for the kind's PATCH operation (matched by
//   `x-kubernetes-group-version-kind`) and, when it declares an inline `fieldValidation` query
//   parameter, leave validation to the server (`?fieldValidation=Strict`).
// - `explain` reads `components.schemas` (the schema whose `x-kubernetes-group-version-kind`
//   names the kind) and follows `$ref`s.
// - client-side `apply` computes its strategic merge patch from the OpenAPI v3 schema only when
//   the PATCH operation lists `application/strategic-merge-patch+json` in its request body;
//   otherwise it uses the patch metadata compiled into kubectl for built-in kinds (exactly
//   Kubernetes' merge keys). The client-node models carry no merge keys, so that content type is
//   deliberately left out and kubectl falls back to its built-in, correct patch metadata. The
//   server still accepts strategic merge patches.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as clientModels from '@kubernetes/client-node/dist/gen/models/all.js';
import type { ResourceDef } from '../registry/types.ts';
import { withDiscoveryExtras } from './discovery.ts';

// ---------------------------------------------------------------------------------------------
// Model introspection

/** One entry of a client-node model's `attributeTypeMap`. */
export interface ModelAttribute {
  /** TypeScript property name. */
  name: string;
  /** JSON field name. */
  baseName: string;
  /** e.g. `string`, `V1PodSpec`, `Array<V1Container>`, `{ [key: string]: string; }`. */
  type: string;
  format: string;
}

/** A parsed attribute type. */
export type TypeRef =
  | { t: 'string'; format?: string }
  | { t: 'boolean' }
  | { t: 'integer'; format?: string }
  | { t: 'number'; format?: string }
  | { t: 'date' }
  | { t: 'intOrString' }
  | { t: 'any' }
  | { t: 'model'; name: string }
  | { t: 'array'; of: TypeRef }
  | { t: 'map'; of: TypeRef };

const MODELS = clientModels as unknown as Record<string, unknown>;
const attributeCache = new Map<string, ModelAttribute[] | null>();

function isAttribute(v: unknown): v is ModelAttribute {
  if (!v || typeof v !== 'object') return false;
  const o = v as Record<string, unknown>;
  return typeof o.name === 'string' && typeof o.baseName === 'string' && typeof o.type === 'string';
}

/** The attributes of a client-node model (`V1Pod`), or undefined when there is no such model. */
export function modelAttributes(model: string): ModelAttribute[] | undefined {
  const cached = attributeCache.get(model);
  if (cached !== undefined) return cached ?? undefined;
  const cls = Object.prototype.hasOwnProperty.call(MODELS, model) ? MODELS[model] : undefined;
  const map = typeof cls === 'function' ? (cls as { attributeTypeMap?: unknown }).attributeTypeMap : undefined;
  let attrs: ModelAttribute[] | null = null;
  if (Array.isArray(map) && map.every(isAttribute)) {
    attrs = map.map((a) => ({ name: a.name, baseName: a.baseName, type: a.type, format: typeof a.format === 'string' ? a.format : '' }));
  }
  attributeCache.set(model, attrs);
  return attrs ?? undefined;
}

/** Whether a client-node model of this name exists. */
export function modelExists(model: string): boolean {
  return modelAttributes(model) !== undefined;
}

const typeRefCache = new Map<string, TypeRef>();

/** Parses an attributeTypeMap type (and format) into a TypeRef. */
export function parseTypeRef(type: string, format = ''): TypeRef {
  const key = `${type}|${format}`;
  const hit = typeRefCache.get(key);
  if (hit) return hit;
  const ref = parseTypeUncached(type.trim(), format);
  typeRefCache.set(key, ref);
  return ref;
}

function parseTypeUncached(type: string, format: string): TypeRef {
  const arr = /^Array<(.+)>$/.exec(type);
  if (arr) return { t: 'array', of: parseTypeRef(arr[1], format) };
  const map = /^\{\s*\[key: string\]:\s*(.+?);\s*\}$/.exec(type);
  if (map) return { t: 'map', of: parseTypeRef(map[1], format) };
  switch (type) {
    case 'string':
      return format ? { t: 'string', format } : { t: 'string' };
    case 'boolean':
      return { t: 'boolean' };
    case 'number':
      if (format === 'int32' || format === 'int64') return { t: 'integer', format };
      return format ? { t: 'number', format } : { t: 'number' };
    case 'Date':
      return { t: 'date' };
    case 'IntOrString':
      return { t: 'intOrString' };
    case 'any':
    case 'object':
      return { t: 'any' };
    default:
      return modelExists(type) ? { t: 'model', name: type } : { t: 'any' };
  }
}

interface FieldDoc {
  description?: string;
  required: boolean;
}

interface ModelDoc {
  description?: string;
  /** Keyed by TypeScript property name. */
  fields: Map<string, FieldDoc>;
}

let modelsDir: string | null | undefined;

function clientModelsDir(): string | null {
  if (modelsDir !== undefined) return modelsDir;
  try {
    const req = createRequire(import.meta.url);
    modelsDir = dirname(req.resolve('@kubernetes/client-node/dist/gen/models/all.js'));
  } catch {
    modelsDir = null;
  }
  return modelsDir;
}

const docCache = new Map<string, ModelDoc>();

function unescapeDoc(s: string): string {
  return s.replace(/\\(["'\\])/g, '$1');
}

/** JSDoc of a model and its fields, read from the model's .d.ts (empty when unavailable). */
function modelDoc(model: string): ModelDoc {
  const hit = docCache.get(model);
  if (hit) return hit;
  const doc: ModelDoc = { fields: new Map() };
  docCache.set(model, doc);
  const dir = clientModelsDir();
  if (!dir || !/^[A-Za-z0-9]+$/.test(model)) return doc;
  let text: string;
  try {
    text = readFileSync(join(dir, `${model}.d.ts`), 'utf8');
  } catch {
    return doc;
  }
  const lines = text.split('\n');
  let comment: string[] | null = null;
  let pending: string | undefined;
  let inClass = false;
  for (const raw of lines) {
    const line = raw.trim();
    if (line.startsWith('/**')) {
      comment = [];
      continue;
    }
    if (comment) {
      if (line.startsWith('*/')) {
        pending = comment.join('\n').trim() || undefined;
        comment = null;
      } else {
        comment.push(line.replace(/^\*\s?/, ''));
      }
      continue;
    }
    if (!inClass) {
      if (line.startsWith('export declare class ')) {
        inClass = true;
        if (pending) doc.description = unescapeDoc(pending);
      }
      pending = line === '' ? pending : undefined;
      continue;
    }
    const prop = /^'([^']+)'(\??):/.exec(line);
    if (prop) {
      doc.fields.set(prop[1], { description: pending ? unescapeDoc(pending) : undefined, required: prop[2] !== '?' });
      pending = undefined;
    } else if (line !== '') {
      pending = undefined;
    }
  }
  return doc;
}

/** Description of a model (from its JSDoc), if any. */
export function modelDescription(model: string): string | undefined {
  return modelDoc(model).description;
}

/** Every model reachable from `roots` (the roots included), in a stable order. */
export function modelClosure(roots: string[]): string[] {
  const seen = new Set<string>();
  const out: string[] = [];
  const stack = [...roots].reverse();
  while (stack.length) {
    const m = stack.pop() as string;
    if (seen.has(m) || !modelExists(m)) continue;
    seen.add(m);
    out.push(m);
    const children: string[] = [];
    for (const a of modelAttributes(m) ?? []) collectModels(parseTypeRef(a.type, a.format), children);
    for (let i = children.length - 1; i >= 0; i--) if (!seen.has(children[i])) stack.push(children[i]);
  }
  return out;
}

function collectModels(ref: TypeRef, out: string[]): void {
  if (ref.t === 'model') out.push(ref.name);
  else if (ref.t === 'array' || ref.t === 'map') collectModels(ref.of, out);
}

// ---------------------------------------------------------------------------------------------
// Kubernetes schema names (io.k8s.api.core.v1.Pod) for client-node model names (V1Pod)

const META_MODELS = new Set([
  'V1ObjectMeta', 'V1ListMeta', 'V1Status', 'V1StatusDetails', 'V1StatusCause', 'V1DeleteOptions', 'V1Preconditions',
  'V1OwnerReference', 'V1ManagedFieldsEntry', 'V1LabelSelector', 'V1LabelSelectorRequirement', 'V1Condition',
  'V1APIResource', 'V1APIResourceList', 'V1APIGroup', 'V1APIGroupList', 'V1APIVersions', 'V1GroupVersionForDiscovery',
  'V1ServerAddressByClientCIDR', 'V1WatchEvent', 'V1FieldSelectorRequirement',
]);

/** Models whose group the walk from core kinds would get wrong. */
const FIXED_GROUPS: Record<string, string> = {
  V1Scale: 'autoscaling',
  V1ScaleSpec: 'autoscaling',
  V1ScaleStatus: 'autoscaling',
  V1Eviction: 'policy',
};

/** Top-level core/v1 kinds: everything reachable from them (and not meta) is core/v1. */
const CORE_ROOTS = [
  'V1Pod', 'V1PodList', 'V1Service', 'V1Node', 'V1Namespace', 'V1ConfigMap', 'V1Secret', 'V1ServiceAccount',
  'V1Endpoints', 'CoreV1Event', 'V1PersistentVolume', 'V1PersistentVolumeClaim', 'V1PodTemplate',
  'V1ReplicationController', 'V1ResourceQuota', 'V1LimitRange', 'V1ComponentStatus', 'V1Binding',
  'V1TopologySelectorTerm', 'V1TypedLocalObjectReference',
];

/** client-node name prefixes for models whose plain name exists in several groups. */
const PREFIX_GROUPS: Record<string, string> = {
  Core: '',
  Events: 'events.k8s.io',
  Discovery: 'discovery.k8s.io',
  Storage: 'storage.k8s.io',
  Authentication: 'authentication.k8s.io',
  Rbac: 'rbac.authorization.k8s.io',
  Flowcontrol: 'flowcontrol.apiserver.k8s.io',
  Resource: 'resource.k8s.io',
  Admissionregistration: 'admissionregistration.k8s.io',
  Apiextensions: 'apiextensions.k8s.io',
  Apiregistration: 'apiregistration.k8s.io',
  Storagemigration: 'storagemigration.k8s.io',
};

const MODEL_NAME_RE = /^([A-Z][a-z]+)?(V\d+(?:(?:alpha|beta)\d+)?)([A-Z][A-Za-z0-9]*)$/;

/** Splits `CoreV1EndpointPort` into prefix `Core`, version `v1`, base `EndpointPort`. */
function splitModelName(model: string): { prefix?: string; version: string; base: string } | null {
  const m = MODEL_NAME_RE.exec(model);
  if (!m) return null;
  return { prefix: m[1], version: m[2].toLowerCase(), base: m[3] };
}

/** The Go package path Kubernetes uses in schema names for an API group. */
export function groupPackage(group: string): string {
  if (group === '') return 'io.k8s.api.core';
  if (group === 'apiextensions.k8s.io') return 'io.k8s.apiextensions-apiserver.pkg.apis.apiextensions';
  if (group === 'apiregistration.k8s.io') return 'io.k8s.kube-aggregator.pkg.apis.apiregistration';
  if (group === 'internal.apiserver.k8s.io') return 'io.k8s.api.apiserverinternal';
  if (!group.includes('.') || group.endsWith('.k8s.io')) return `io.k8s.api.${group.split('.')[0]}`;
  return group.split('.').reverse().join('.');
}

let coreModels: Set<string> | undefined;

function coreModelSet(): Set<string> {
  if (!coreModels) {
    coreModels = new Set();
    for (const m of modelClosure(CORE_ROOTS)) if (!META_MODELS.has(m) && !(m in FIXED_GROUPS)) coreModels.add(m);
  }
  return coreModels;
}

/**
 * Returns a namer mapping client-node model names to Kubernetes schema names for a set of defs:
 * meta types → io.k8s.apimachinery.pkg.apis.meta.v1.*, core types → io.k8s.api.core.v1.*, and
 * the rest to the package of the first def (in registry order) whose kind reaches them.
 */
function schemaNamer(defs: ResourceDef[]): (model: string) => string {
  const owner = new Map<string, string>();
  const core = coreModelSet();
  for (const def of defs) {
    if (def.group === '') continue;
    for (const m of modelClosure([def.modelName, listModelName(def)])) {
      if (!owner.has(m) && !core.has(m) && !META_MODELS.has(m)) owner.set(m, def.group);
    }
  }
  const cache = new Map<string, string>();
  return (model: string): string => {
    const hit = cache.get(model);
    if (hit) return hit;
    const parts = splitModelName(model);
    let name: string;
    if (!parts) name = model;
    else if (META_MODELS.has(model)) name = `io.k8s.apimachinery.pkg.apis.meta.${parts.version}.${parts.base}`;
    else if (model in FIXED_GROUPS) name = `${groupPackage(FIXED_GROUPS[model])}.${parts.version}.${parts.base}`;
    else if (parts.prefix && parts.prefix in PREFIX_GROUPS) name = `${groupPackage(PREFIX_GROUPS[parts.prefix])}.${parts.version}.${parts.base}`;
    else if (core.has(model)) name = `io.k8s.api.core.${parts.version}.${parts.base}`;
    else if (owner.has(model)) name = `${groupPackage(owner.get(model) as string)}.${parts.version}.${parts.base}`;
    else name = `io.k8s.kennel.${parts.version}.${parts.base}`;
    cache.set(model, name);
    return name;
  };
}

function listModelName(def: ResourceDef): string {
  return `${def.modelName}List`;
}

// ---------------------------------------------------------------------------------------------
// Schemas

export type Schema = Record<string, unknown>;

interface Gvk {
  group: string;
  version: string;
  kind: string;
}

const REF_PREFIX = '#/components/schemas/';
const PATCH_SCHEMA = 'io.k8s.apimachinery.pkg.apis.meta.v1.Patch';
const INT_OR_STRING_SCHEMA = 'io.k8s.apimachinery.pkg.util.intstr.IntOrString';
/** Markers in the `used` set for the hand-written schemas. */
const USES_PATCH = '#Patch';
const USES_INT_OR_STRING = '#IntOrString';

function typeSchema(ref: TypeRef, nameOf: (m: string) => string, used: Set<string>): Schema {
  switch (ref.t) {
    case 'string':
      return ref.format ? { type: 'string', format: ref.format } : { type: 'string' };
    case 'boolean':
      return { type: 'boolean' };
    case 'integer':
      return ref.format ? { type: 'integer', format: ref.format } : { type: 'integer' };
    case 'number':
      return ref.format ? { type: 'number', format: ref.format } : { type: 'number' };
    case 'date':
      return { type: 'string', format: 'date-time' };
    case 'intOrString':
      used.add(USES_INT_OR_STRING);
      return { $ref: REF_PREFIX + INT_OR_STRING_SCHEMA };
    case 'any':
      return { 'x-kubernetes-preserve-unknown-fields': true };
    case 'model':
      used.add(ref.name);
      return { $ref: REF_PREFIX + nameOf(ref.name) };
    case 'array':
      return { type: 'array', items: typeSchema(ref.of, nameOf, used) };
    case 'map':
      return { type: 'object', additionalProperties: typeSchema(ref.of, nameOf, used) };
  }
}

const INT_OR_STRING_DESCRIPTION =
  'IntOrString is a type that can hold an int32 or a string.  When used in JSON or YAML marshalling and unmarshalling, it produces or consumes the inner type.  This allows you to have, for example, a JSON field that can accept a name or number.';

function modelSchema(model: string, nameOf: (m: string) => string, used: Set<string>, gvks: Gvk[] | undefined): Schema {
  const doc = modelDoc(model);
  const properties: Record<string, Schema> = {};
  const required: string[] = [];
  for (const a of modelAttributes(model) ?? []) {
    const fdoc = doc.fields.get(a.name);
    const ref = parseTypeRef(a.type, a.format);
    let s = typeSchema(ref, nameOf, used);
    if (typeof s.$ref === 'string') {
      // Kubernetes wraps a described reference in allOf so the description can sit beside it.
      // client-node drops the descriptions of model-typed fields; the model's own stands in.
      const description = fdoc?.description ?? (ref.t === 'model' ? modelDoc(ref.name).description : ref.t === 'intOrString' ? INT_OR_STRING_DESCRIPTION : undefined);
      s = description ? { description, allOf: [s] } : { allOf: [s] };
    } else if (fdoc?.description) {
      s = { description: fdoc.description, ...s };
    }
    properties[a.baseName] = s;
    if (fdoc?.required) required.push(a.baseName);
  }
  const schema: Schema = {};
  if (doc.description) schema.description = doc.description;
  schema.type = 'object';
  if (required.length) schema.required = required;
  schema.properties = properties;
  if (gvks && gvks.length) schema['x-kubernetes-group-version-kind'] = gvks;
  return schema;
}

// ---------------------------------------------------------------------------------------------
// Paths and operations

type Operation = Record<string, unknown>;

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

function addPaths(paths: Record<string, Operation>, def: ResourceDef, nameOf: (m: string) => string, used: Set<string>, hasList: boolean): void {
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

// ---------------------------------------------------------------------------------------------
// Documents, index and cache

export interface OpenApiDocument {
  openapi: string;
  info: { title: string; version: string };
  paths: Record<string, Operation>;
  components: { schemas: Record<string, Schema>; securitySchemes: Record<string, Schema> };
  security: Record<string, string[]>[];
}

export interface OpenApiIndex {
  paths: Record<string, { serverRelativeURL: string }>;
}

interface BuiltDoc {
  doc: OpenApiDocument;
  json: string;
  hash: string;
}

interface CacheEntry {
  defs: ResourceDef[];
  docs: Map<string, BuiltDoc | null>;
  index?: OpenApiIndex;
}

const cache = new Map<string, CacheEntry>();
const MAX_CACHE_ENTRIES = 8;

/** The registry fields that shape the documents: equal signatures give equal documents. */
function signature(defs: ResourceDef[]): string {
  return JSON.stringify(
    defs.map((d) => [d.group, d.version, d.kind, d.plural, d.namespaced, d.modelName, d.verbs ?? null, !!d.subresources?.status, !!d.subresources?.scale]),
  );
}

function entryFor(defs: ResourceDef[]): CacheEntry {
  const all = withDiscoveryExtras(defs);
  const sig = signature(all);
  let e = cache.get(sig);
  if (!e) {
    if (cache.size >= MAX_CACHE_ENTRIES) cache.delete(cache.keys().next().value as string);
    e = { defs: all, docs: new Map() };
    cache.set(sig, e);
  }
  return e;
}

/** `api/v1` or `apis/apps/v1`: the key of a group-version in the /openapi/v3 index. */
export function openapiPathKey(group: string, version: string): string {
  return group ? `apis/${group}/${version}` : `api/${version}`;
}

function buildDocument(all: ResourceDef[], group: string, version: string): OpenApiDocument | null {
  const gvDefs = all.filter((d) => d.group === group && d.version === version && modelExists(d.modelName));
  if (!gvDefs.length) return null;
  const nameOf = schemaNamer(all);

  // GVKs of every kind (and list kind) any def names, so schemas carry them wherever they appear.
  const gvkByModel = new Map<string, Gvk[]>();
  const addGvk = (model: string, g: Gvk): void => {
    const list = gvkByModel.get(model) ?? [];
    if (!list.some((x) => x.group === g.group && x.version === g.version && x.kind === g.kind)) list.push(g);
    gvkByModel.set(model, list);
  };
  for (const d of all) {
    addGvk(d.modelName, { group: d.group, version: d.version, kind: d.kind });
    if (modelExists(listModelName(d))) addGvk(listModelName(d), { group: d.group, version: d.version, kind: d.listKind });
  }
  addGvk('V1Scale', { group: 'autoscaling', version: 'v1', kind: 'Scale' });
  addGvk('V1Eviction', { group: 'policy', version: 'v1', kind: 'Eviction' });
  addGvk('V1Status', { group: '', version: 'v1', kind: 'Status' });
  for (const g of new Set(all.map((d) => `${d.group}\u0000${d.version}`))) {
    const [gg, vv] = g.split('\u0000');
    addGvk('V1DeleteOptions', { group: gg, version: vv, kind: 'DeleteOptions' });
  }

  const paths: Record<string, Operation> = {};
  const used = new Set<string>();
  for (const d of gvDefs) addPaths(paths, d, nameOf, used, modelExists(listModelName(d)));

  const schemas: Record<string, Schema> = {};
  const roots = [...used].filter((m) => !m.startsWith('#'));
  for (const m of modelClosure(roots)) schemas[nameOf(m)] = modelSchema(m, nameOf, used, gvkByModel.get(m));
  if (used.has(USES_PATCH)) {
    schemas[PATCH_SCHEMA] = { description: 'Patch is provided to give a concrete name and type to the Kubernetes PATCH request body.', type: 'object' };
  }
  if (used.has(USES_INT_OR_STRING)) {
    schemas[INT_OR_STRING_SCHEMA] = {
      description: INT_OR_STRING_DESCRIPTION,
      'x-kubernetes-int-or-string': true,
      anyOf: [{ type: 'integer' }, { type: 'string' }],
    };
  }
  const sortedSchemas: Record<string, Schema> = {};
  for (const k of Object.keys(schemas).sort()) sortedSchemas[k] = schemas[k];
  const sortedPaths: Record<string, Operation> = {};
  for (const k of Object.keys(paths).sort()) sortedPaths[k] = paths[k];

  return {
    openapi: '3.0.0',
    info: { title: 'Kubernetes', version: 'v1.32.0-kennel' },
    paths: sortedPaths,
    components: {
      schemas: sortedSchemas,
      securitySchemes: { BearerToken: { type: 'apiKey', description: 'Bearer Token authentication', name: 'authorization', in: 'header' } },
    },
    security: [{ BearerToken: [] }],
  };
}

function built(e: CacheEntry, group: string, version: string): BuiltDoc | null {
  const key = openapiPathKey(group, version);
  if (e.docs.has(key)) return e.docs.get(key) ?? null;
  const doc = buildDocument(e.defs, group, version);
  let b: BuiltDoc | null = null;
  if (doc) {
    const json = JSON.stringify(doc);
    b = { doc, json, hash: createHash('sha512').update(json).digest('hex').toUpperCase() };
  }
  e.docs.set(key, b);
  return b;
}

/**
 * The OpenAPI v3 document of one group-version (`''`/`v1` for the core group), or null when no
 * kind is served there. Cached: the returned object is shared and must not be modified.
 */
export function openapiV3Document(defs: ResourceDef[], group: string, version: string): OpenApiDocument | null {
  return built(entryFor(defs), group, version)?.doc ?? null;
}

/** The serialized document and its hash (the `hash` query of its serverRelativeURL). Cached. */
export function openapiV3DocumentJson(defs: ResourceDef[], group: string, version: string): { json: string; hash: string } | null {
  const b = built(entryFor(defs), group, version);
  return b ? { json: b.json, hash: b.hash } : null;
}

/**
 * Resolves an /openapi/v3/... request path (`/openapi/v3/apis/apps/v1`) to its document, for the
 * router: null when the path names no served group-version.
 */
export function openapiV3DocumentForPath(defs: ResourceDef[], path: string): { json: string; hash: string } | null {
  const m = /^\/?openapi\/v3\/(?:api\/([^/]+)|apis\/([^/]+)\/([^/]+))\/?$/.exec(path);
  if (!m) return null;
  return m[1] !== undefined ? openapiV3DocumentJson(defs, '', m[1]) : openapiV3DocumentJson(defs, m[2], m[3]);
}

/** The /openapi/v3 index: every served group-version with a content-hashed URL. Cached. */
export function openapiV3Index(defs: ResourceDef[]): OpenApiIndex {
  const e = entryFor(defs);
  if (e.index) return e.index;
  const gvs = new Map<string, { group: string; version: string }>();
  for (const d of e.defs) gvs.set(openapiPathKey(d.group, d.version), { group: d.group, version: d.version });
  const paths: Record<string, { serverRelativeURL: string }> = {};
  for (const key of [...gvs.keys()].sort()) {
    const { group, version } = gvs.get(key) as { group: string; version: string };
    const b = built(e, group, version);
    if (b) paths[key] = { serverRelativeURL: `/openapi/v3/${key}?hash=${b.hash}` };
  }
  e.index = { paths };
  return e.index;
}

/** Drops every cached document (for tests and registry reloads). */
export function clearOpenapiCache(): void {
  cache.clear();
}
