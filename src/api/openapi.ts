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
//
// This file builds the documents, the index and their cache; the parts are openapi-models.ts
// (client-node model introspection), openapi-schemas.ts and openapi-paths.ts.
import { createHash } from 'node:crypto';
import type { ResourceDef } from '../registry/types.ts';
import { withDiscoveryExtras } from './discovery.ts';
import { modelClosure, modelExists } from './openapi-models.ts';
import {
  type Gvk,
  INT_OR_STRING_DESCRIPTION,
  INT_OR_STRING_SCHEMA,
  PATCH_SCHEMA,
  type Schema,
  USES_INT_OR_STRING,
  USES_PATCH,
  listModelName,
  modelSchema,
  schemaNamer,
} from './openapi-schemas.ts';
import { type Operation, addPaths } from './openapi-paths.ts';

export { modelAttributes, modelClosure, modelDescription, modelExists, parseTypeRef } from './openapi-models.ts';
export type { ModelAttribute, TypeRef } from './openapi-models.ts';
export { groupPackage } from './openapi-schemas.ts';
export type { Schema } from './openapi-schemas.ts';

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
