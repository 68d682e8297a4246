// OpenAPI schemas for client-node models: Kubernetes schema names (io.k8s.api.core.v1.Pod) and
// model → schema conversion.
import type { ResourceDef } from '../registry/types.ts';
import { type TypeRef, modelAttributes, modelClosure, modelDoc, parseTypeRef } from './openapi-models.ts';

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
export function schemaNamer(defs: ResourceDef[]): (model: string) => string {
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

export function listModelName(def: ResourceDef): string {
  return `${def.modelName}List`;
}

// ---------------------------------------------------------------------------------------------
// Schemas

export type Schema = Record<string, unknown>;

export interface Gvk {
  group: string;
  version: string;
  kind: string;
}

export const REF_PREFIX = '#/components/schemas/';
export const PATCH_SCHEMA = 'io.k8s.apimachinery.pkg.apis.meta.v1.Patch';
export const INT_OR_STRING_SCHEMA = 'io.k8s.apimachinery.pkg.util.intstr.IntOrString';
/** Markers in the `used` set for the hand-written schemas. */
export const USES_PATCH = '#Patch';
export const USES_INT_OR_STRING = '#IntOrString';

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

export const INT_OR_STRING_DESCRIPTION =
  'IntOrString is a type that can hold an int32 or a string.  When used in JSON or YAML marshalling and unmarshalling, it produces or consumes the inner type.  This allows you to have, for example, a JSON field that can accept a name or number.';

export function modelSchema(model: string, nameOf: (m: string) => string, used: Set<string>, gvks: Gvk[] | undefined): Schema {
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
