// The OpenAPI v2 (Swagger 2.0) document at /openapi/v2, derived from the v3 documents of every
// group-version (openapi.ts: the same client-node models, names and GVK extensions), as JSON or
// as the protobuf kubectl asks for (openapi-v2-protobuf.ts).
//
// What kubectl 1.32 takes from it: `apply`/`create -f` of a `kind: List` document validates the
// List's items on the client (the v3 field-validation check finds no v1/List kind, and Strict
// validation then falls back to client-side validation), with the definitions of /openapi/v2
// (a definition is matched to an item by its `x-kubernetes-group-version-kind`). kubectl asks for
// `Accept: application/com.github.proto-openapi.spec.v2@v1.0+protobuf` and decodes the answer as
// protobuf whatever its content type, so JSON alone does not do.
//
// From v3 to v2: `#/components/schemas/` references become `#/definitions/`; a described
// reference (`{description, allOf: [{$ref}]}`) becomes `{description, $ref}` as Kubernetes writes
// it; IntOrString is `type: string, format: int-or-string`; request bodies become `body`
// parameters, responses carry their schema directly, and media types move to consumes/produces.
import { createHash } from 'node:crypto';
import type { ResourceDef } from '../registry/types.ts';
import { openapiV3Document, openapiV3Index, type OpenApiDocument } from './openapi.ts';
import { INT_OR_STRING_DESCRIPTION, INT_OR_STRING_SCHEMA, REF_PREFIX, type Schema } from './openapi-schemas.ts';
import { encodeOpenApiV2Protobuf } from './openapi-v2-protobuf.ts';

/** The protobuf media type as Kubernetes answers it (the `@v1.0` spelling kubectl asks for is
 *  not a valid media type to Go's mime parser, which kubectl runs on the answer). */
export const OPENAPI_V2_PROTOBUF = 'application/com.github.proto-openapi.spec.v2.v1.0+protobuf';
const OPENAPI_V2_PROTOBUF_AT = 'application/com.github.proto-openapi.spec.v2@v1.0+protobuf';

const V2_REF_PREFIX = '#/definitions/';

export interface SwaggerDocument {
  swagger: '2.0';
  info: { title: string; version: string };
  paths: Record<string, Record<string, unknown>>;
  definitions: Record<string, Schema>;
  securityDefinitions: Record<string, Schema>;
  security: Record<string, string[]>[];
}

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A v3 schema as v2 writes it (recursively). */
function schemaV2(s: unknown): unknown {
  if (Array.isArray(s)) return s.map(schemaV2);
  if (!isObject(s)) return s;
  // A described reference: Kubernetes' v2 puts the description beside the $ref.
  const allOf = s.allOf;
  if (Array.isArray(allOf) && allOf.length === 1 && isObject(allOf[0]) && typeof allOf[0].$ref === 'string') {
    const out: Json = {};
    if (typeof s.description === 'string') out.description = s.description;
    out.$ref = refV2(allOf[0].$ref);
    return out;
  }
  const out: Json = {};
  for (const [k, v] of Object.entries(s)) {
    if (k === '$ref' && typeof v === 'string') out.$ref = refV2(v);
    else if (k === 'properties' && isObject(v)) {
      const props: Json = {};
      for (const [name, p] of Object.entries(v)) props[name] = schemaV2(p);
      out.properties = props;
    } else if (k === 'items' || k === 'additionalProperties') out[k] = schemaV2(v);
    else out[k] = v;
  }
  return out;
}

function refV2(ref: string): string {
  return ref.startsWith(REF_PREFIX) ? V2_REF_PREFIX + ref.slice(REF_PREFIX.length) : ref;
}

/** A v3 parameter (`schema: {type, …}`) as a v2 non-body parameter (`type`, … inline). */
function parameterV2(p: unknown): Json {
  const param = isObject(p) ? p : {};
  const out: Json = {};
  for (const [k, v] of Object.entries(param)) {
    if (k === 'schema' && isObject(v)) Object.assign(out, v);
    else out[k] = v;
  }
  return out;
}

/** The schema of the first media type of a v3 `content` map, and the media types. */
function fromContent(content: unknown): { schema?: unknown; types: string[] } {
  if (!isObject(content)) return { types: [] };
  const types = Object.keys(content);
  const first = types.length ? content[types[0]] : undefined;
  return { schema: isObject(first) ? schemaV2(first.schema) : undefined, types };
}

function operationV2(op: Json): Json {
  const out: Json = {};
  const produces = new Set<string>();
  let consumes: string[] | undefined;
  const parameters: Json[] = [];
  for (const p of Array.isArray(op.parameters) ? op.parameters : []) parameters.push(parameterV2(p));
  if (isObject(op.requestBody)) {
    const { schema, types } = fromContent(op.requestBody.content);
    consumes = types;
    const body: Json = { name: 'body', in: 'body' };
    if (op.requestBody.required === true) body.required = true;
    if (schema !== undefined) body.schema = schema;
    parameters.unshift(body);
  }
  const responses: Json = {};
  if (isObject(op.responses)) {
    for (const [code, r] of Object.entries(op.responses)) {
      if (!isObject(r)) continue;
      const resp: Json = { description: r.description ?? '' };
      const { schema, types } = fromContent(r.content);
      if (schema !== undefined) resp.schema = schema;
      for (const t of types) produces.add(t);
      responses[code] = resp;
    }
  }
  for (const [k, v] of Object.entries(op)) {
    if (k === 'parameters' || k === 'requestBody' || k === 'responses') continue;
    if (k.startsWith('x-')) continue;
    out[k] = v;
  }
  if (consumes?.length) out.consumes = consumes;
  if (produces.size) out.produces = [...produces];
  if (parameters.length) out.parameters = parameters;
  out.responses = responses;
  out.schemes = ['https'];
  for (const [k, v] of Object.entries(op)) if (k.startsWith('x-')) out[k] = v;
  return out;
}

function pathItemV2(item: Json): Json {
  const out: Json = {};
  for (const [k, v] of Object.entries(item)) {
    if (k === 'parameters' && Array.isArray(v)) out.parameters = v.map(parameterV2);
    else if (isObject(v)) out[k] = operationV2(v);
  }
  return out;
}

/** The v2 document of a set of v3 group-version documents. */
export function swaggerFromV3(docs: OpenApiDocument[]): SwaggerDocument {
  const paths: Record<string, Json> = {};
  const definitions: Record<string, Schema> = {};
  for (const d of docs) {
    for (const [p, item] of Object.entries(d.paths)) if (!(p in paths)) paths[p] = pathItemV2(item as Json);
    for (const [name, s] of Object.entries(d.components.schemas)) {
      if (name in definitions) continue;
      definitions[name] = name === INT_OR_STRING_SCHEMA ? { description: INT_OR_STRING_DESCRIPTION, type: 'string', format: 'int-or-string' } : (schemaV2(s) as Schema);
    }
  }
  const sortedPaths: Record<string, Json> = {};
  for (const k of Object.keys(paths).sort()) sortedPaths[k] = paths[k];
  const sortedDefs: Record<string, Schema> = {};
  for (const k of Object.keys(definitions).sort()) sortedDefs[k] = definitions[k];
  return {
    swagger: '2.0',
    info: { title: 'Kubernetes', version: 'v1.32.0-kennel' },
    paths: sortedPaths,
    definitions: sortedDefs,
    securityDefinitions: { BearerToken: { description: 'Bearer Token authentication', type: 'apiKey', name: 'authorization', in: 'header' } },
    security: [{ BearerToken: [] }],
  };
}

interface Built {
  doc: SwaggerDocument;
  json?: string;
  protobuf?: Buffer;
  etag?: string;
}

const built = new WeakMap<readonly ResourceDef[], Built>();

function build(defs: readonly ResourceDef[]): Built {
  let b = built.get(defs);
  if (!b) {
    const list = defs as ResourceDef[];
    const docs: OpenApiDocument[] = [];
    for (const key of Object.keys(openapiV3Index(list).paths)) {
      const m = /^(?:api\/([^/]+)|apis\/([^/]+)\/([^/]+))$/.exec(key);
      if (!m) continue;
      const d = m[1] !== undefined ? openapiV3Document(list, '', m[1]) : openapiV3Document(list, m[2], m[3]);
      if (d) docs.push(d);
    }
    b = { doc: swaggerFromV3(docs) };
    built.set(defs, b);
  }
  return b;
}

/** The /openapi/v2 document of the registry's kinds. Cached per defs array; do not modify. */
export function openapiV2Document(defs: readonly ResourceDef[]): SwaggerDocument {
  return build(defs).doc;
}

/** Whether an Accept header asks for the protobuf form (JSON otherwise, as Kubernetes does). */
export function wantsOpenApiV2Protobuf(accept: string | undefined): boolean {
  if (!accept) return false;
  for (const part of accept.split(',')) {
    const [type, ...params] = part.split(';').map((s) => s.trim().toLowerCase());
    const q = params.find((p) => p.startsWith('q='));
    if (q && Number(q.slice(2)) === 0) continue;
    if (type === OPENAPI_V2_PROTOBUF || type === OPENAPI_V2_PROTOBUF_AT) return true;
    if (type === 'application/json' || type === '*/*' || type === 'application/*') return false;
  }
  return false;
}

/** The serialized document in the form the Accept header asks for, with its content type. */
export function openapiV2Response(defs: readonly ResourceDef[], accept: string | undefined): { body: string | Buffer; contentType: string; etag: string } {
  const b = build(defs);
  b.json ??= JSON.stringify(b.doc);
  b.etag ??= `"${createHash('sha512').update(b.json).digest('hex').slice(0, 64).toUpperCase()}"`;
  if (wantsOpenApiV2Protobuf(accept)) {
    b.protobuf ??= encodeOpenApiV2Protobuf(b.doc);
    return { body: b.protobuf, contentType: OPENAPI_V2_PROTOBUF, etag: b.etag };
  }
  return { body: b.json, contentType: 'application/json', etag: b.etag };
}
