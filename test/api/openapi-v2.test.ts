// /openapi/v2: the Swagger 2.0 document derived from the v3 documents, as JSON and as the gnostic
// protobuf kubectl decodes (checked here with a decoder of its own, written from OpenAPIv2.proto).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import protobuf from 'protobufjs';
import { defaultRegistry } from '../../src/registry/index.ts';
import { OPENAPI_V2_PROTOBUF, openapiV2Document, openapiV2Response, wantsOpenApiV2Protobuf } from '../../src/api/openapi-v2.ts';
import { startTestServer, type TestServer } from '../support/apiserver.ts';

const defs = defaultRegistry().defs;

// The messages of gnostic's openapi.v2 package that the document uses (field numbers from
// OpenAPIv2.proto).
const root = protobuf.Root.fromJSON({
  nested: {
    Document: {
      fields: {
        swagger: { type: 'string', id: 1 },
        info: { type: 'Info', id: 2 },
        paths: { type: 'Paths', id: 8 },
        definitions: { type: 'Definitions', id: 9 },
        security: { rule: 'repeated', type: 'SecurityRequirement', id: 12 },
        securityDefinitions: { type: 'SecurityDefinitions', id: 13 },
      },
    },
    Info: { fields: { title: { type: 'string', id: 1 }, version: { type: 'string', id: 2 } } },
    Paths: { fields: { path: { rule: 'repeated', type: 'NamedPathItem', id: 2 } } },
    NamedPathItem: { fields: { name: { type: 'string', id: 1 }, value: { type: 'PathItem', id: 2 } } },
    PathItem: {
      fields: {
        get: { type: 'Operation', id: 2 },
        put: { type: 'Operation', id: 3 },
        post: { type: 'Operation', id: 4 },
        delete: { type: 'Operation', id: 5 },
        patch: { type: 'Operation', id: 8 },
        parameters: { rule: 'repeated', type: 'ParametersItem', id: 9 },
      },
    },
    Operation: {
      fields: {
        tags: { rule: 'repeated', type: 'string', id: 1 },
        description: { type: 'string', id: 3 },
        operationId: { type: 'string', id: 5 },
        produces: { rule: 'repeated', type: 'string', id: 6 },
        consumes: { rule: 'repeated', type: 'string', id: 7 },
        parameters: { rule: 'repeated', type: 'ParametersItem', id: 8 },
        responses: { type: 'Responses', id: 9 },
        schemes: { rule: 'repeated', type: 'string', id: 10 },
        vendorExtension: { rule: 'repeated', type: 'NamedAny', id: 13 },
      },
    },
    ParametersItem: { fields: { parameter: { type: 'Parameter', id: 1 } } },
    Parameter: { fields: { bodyParameter: { type: 'BodyParameter', id: 1 }, nonBodyParameter: { type: 'NonBodyParameter', id: 2 } } },
    BodyParameter: {
      fields: { description: { type: 'string', id: 1 }, name: { type: 'string', id: 2 }, in: { type: 'string', id: 3 }, required: { type: 'bool', id: 4 }, schema: { type: 'Schema', id: 5 } },
    },
    NonBodyParameter: { fields: { queryParameterSubSchema: { type: 'QueryParameter', id: 3 }, pathParameterSubSchema: { type: 'PathParameter', id: 4 } } },
    QueryParameter: {
      fields: { required: { type: 'bool', id: 1 }, in: { type: 'string', id: 2 }, description: { type: 'string', id: 3 }, name: { type: 'string', id: 4 }, type: { type: 'string', id: 6 }, uniqueItems: { type: 'bool', id: 20 } },
    },
    PathParameter: {
      fields: { required: { type: 'bool', id: 1 }, in: { type: 'string', id: 2 }, description: { type: 'string', id: 3 }, name: { type: 'string', id: 4 }, type: { type: 'string', id: 5 }, uniqueItems: { type: 'bool', id: 19 } },
    },
    Responses: { fields: { responseCode: { rule: 'repeated', type: 'NamedResponseValue', id: 1 } } },
    NamedResponseValue: { fields: { name: { type: 'string', id: 1 }, value: { type: 'ResponseValue', id: 2 } } },
    ResponseValue: { fields: { response: { type: 'Response', id: 1 } } },
    Response: { fields: { description: { type: 'string', id: 1 }, schema: { type: 'SchemaItem', id: 2 } } },
    SchemaItem: { fields: { schema: { type: 'Schema', id: 1 } } },
    Definitions: { fields: { additionalProperties: { rule: 'repeated', type: 'NamedSchema', id: 1 } } },
    NamedSchema: { fields: { name: { type: 'string', id: 1 }, value: { type: 'Schema', id: 2 } } },
    Schema: {
      fields: {
        ref: { type: 'string', id: 1 },
        format: { type: 'string', id: 2 },
        description: { type: 'string', id: 4 },
        required: { rule: 'repeated', type: 'string', id: 19 },
        additionalProperties: { type: 'AdditionalPropertiesItem', id: 21 },
        type: { type: 'TypeItem', id: 22 },
        items: { type: 'ItemsItem', id: 23 },
        allOf: { rule: 'repeated', type: 'Schema', id: 24 },
        properties: { type: 'Properties', id: 25 },
        vendorExtension: { rule: 'repeated', type: 'NamedAny', id: 31 },
      },
    },
    AdditionalPropertiesItem: { fields: { schema: { type: 'Schema', id: 1 }, boolean: { type: 'bool', id: 2 } } },
    TypeItem: { fields: { value: { rule: 'repeated', type: 'string', id: 1 } } },
    ItemsItem: { fields: { schema: { rule: 'repeated', type: 'Schema', id: 1 } } },
    Properties: { fields: { additionalProperties: { rule: 'repeated', type: 'NamedSchema', id: 1 } } },
    NamedAny: { fields: { name: { type: 'string', id: 1 }, value: { type: 'Any', id: 2 } } },
    Any: { fields: { yaml: { type: 'string', id: 2 } } },
    SecurityRequirement: { fields: { additionalProperties: { rule: 'repeated', type: 'NamedStringArray', id: 1 } } },
    NamedStringArray: { fields: { name: { type: 'string', id: 1 }, value: { type: 'StringArray', id: 2 } } },
    StringArray: { fields: { value: { rule: 'repeated', type: 'string', id: 1 } } },
    SecurityDefinitions: { fields: { additionalProperties: { rule: 'repeated', type: 'NamedSecurityDefinitionsItem', id: 1 } } },
    NamedSecurityDefinitionsItem: { fields: { name: { type: 'string', id: 1 }, value: { type: 'SecurityDefinitionsItem', id: 2 } } },
    SecurityDefinitionsItem: { fields: { apiKeySecurity: { type: 'ApiKeySecurity', id: 2 } } },
    ApiKeySecurity: { fields: { type: { type: 'string', id: 1 }, name: { type: 'string', id: 2 }, in: { type: 'string', id: 3 } } },
  },
});

interface PbSchema {
  ref?: string;
  format?: string;
  description?: string;
  required?: string[];
  additionalProperties?: { schema?: PbSchema };
  type?: { value: string[] };
  items?: { schema: PbSchema[] };
  allOf?: PbSchema[];
  properties?: { additionalProperties: { name: string; value: PbSchema }[] };
  vendorExtension?: { name: string; value: { yaml: string } }[];
}
interface PbParam {
  parameter: {
    bodyParameter?: { name: string; in: string; required?: boolean; schema?: PbSchema };
    nonBodyParameter?: { queryParameterSubSchema?: { name: string; in: string; type: string }; pathParameterSubSchema?: { name: string; in: string; type: string; required?: boolean } };
  };
}
interface PbOperation {
  operationId: string;
  consumes?: string[];
  produces?: string[];
  parameters?: PbParam[];
  responses?: { responseCode: { name: string; value: { response: { description: string; schema?: { schema: PbSchema } } } }[] };
  vendorExtension?: { name: string; value: { yaml: string } }[];
}
interface PbDocument {
  swagger: string;
  info: { title: string; version: string };
  paths: { path: { name: string; value: { get?: PbOperation; patch?: PbOperation; post?: PbOperation; parameters?: PbParam[] } }[] };
  definitions: { additionalProperties: { name: string; value: PbSchema }[] };
  securityDefinitions: { additionalProperties: { name: string; value: { apiKeySecurity: { type: string; name: string; in: string } } }[] };
}

function decode(buf: Uint8Array): PbDocument {
  const Document = root.lookupType('Document');
  return Document.toObject(Document.decode(buf), { defaults: false, arrays: true }) as unknown as PbDocument;
}

function extension(list: { name: string; value: { yaml: string } }[] | undefined, name: string): unknown {
  const e = list?.find((x) => x.name === name);
  return e ? JSON.parse(e.value.yaml) : undefined;
}

/** Every `$ref` in a JSON value. */
function jsonRefs(v: unknown, out: string[] = []): string[] {
  if (Array.isArray(v)) for (const x of v) jsonRefs(x, out);
  else if (v && typeof v === 'object') {
    for (const [k, x] of Object.entries(v)) {
      if (k === '$ref' && typeof x === 'string') out.push(x);
      else jsonRefs(x, out);
    }
  }
  return out;
}

function pbRefs(s: PbSchema | undefined, out: string[] = []): string[] {
  if (!s) return out;
  if (s.ref) out.push(s.ref);
  pbRefs(s.additionalProperties?.schema, out);
  for (const i of s.items?.schema ?? []) pbRefs(i, out);
  for (const a of s.allOf ?? []) pbRefs(a, out);
  for (const p of s.properties?.additionalProperties ?? []) pbRefs(p.value, out);
  return out;
}

describe('OpenAPI v2 document (JSON)', () => {
  const doc = openapiV2Document(defs);

  it('is Swagger 2.0 with definitions for the served kinds, matched by GVK', () => {
    assert.equal(doc.swagger, '2.0');
    const cm = doc.definitions['io.k8s.api.core.v1.ConfigMap'] as Record<string, unknown>;
    assert.ok(cm, 'ConfigMap definition');
    assert.deepEqual(cm['x-kubernetes-group-version-kind'], [{ group: '', version: 'v1', kind: 'ConfigMap' }]);
    assert.deepEqual(Object.keys(cm.properties as object).sort(), ['apiVersion', 'binaryData', 'data', 'immutable', 'kind', 'metadata']);
    const sts = doc.definitions['io.k8s.api.apps.v1.StatefulSet'] as Record<string, unknown>;
    assert.deepEqual((sts['x-kubernetes-group-version-kind'] as unknown[])[0], { group: 'apps', version: 'v1', kind: 'StatefulSet' });
  });

  it('writes v2 references: #/definitions/, a description beside $ref, every one resolving', () => {
    const refs = jsonRefs(doc);
    assert.ok(refs.length > 100);
    for (const r of refs) {
      assert.ok(r.startsWith('#/definitions/'), r);
      assert.ok(r.slice('#/definitions/'.length) in doc.definitions, `dangling ${r}`);
    }
    const text = JSON.stringify(doc);
    assert.ok(!text.includes('"allOf"'), 'no allOf');
    assert.ok(!text.includes('"anyOf"'), 'no anyOf');
    assert.ok(!text.includes('"requestBody"'), 'no requestBody');
    const meta = (doc.definitions['io.k8s.api.core.v1.ConfigMap'].properties as Record<string, Record<string, unknown>>).metadata;
    assert.equal(meta.$ref, '#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta');
    assert.equal(typeof meta.description, 'string');
  });

  it('spells IntOrString as Kubernetes v2 does', () => {
    const ios = doc.definitions['io.k8s.apimachinery.pkg.util.intstr.IntOrString'] as Record<string, unknown>;
    assert.equal(ios.type, 'string');
    assert.equal(ios.format, 'int-or-string');
  });

  it('turns operations into v2 form: body and inline query parameters, consumes/produces, response schemas', () => {
    const item = doc.paths['/api/v1/namespaces/{namespace}/configmaps/{name}'] as Record<string, Record<string, unknown>>;
    const patch = item.patch;
    assert.deepEqual(patch['x-kubernetes-group-version-kind'], { group: '', version: 'v1', kind: 'ConfigMap' });
    assert.equal(patch['x-kubernetes-action'], 'patch');
    const params = patch.parameters as Record<string, unknown>[];
    assert.deepEqual(params[0], { name: 'body', in: 'body', required: true, schema: { $ref: '#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.Patch' } });
    const fv = params.find((p) => p.name === 'fieldValidation');
    assert.equal(fv?.in, 'query');
    assert.equal(fv?.type, 'string');
    assert.equal(fv?.schema, undefined);
    assert.ok((patch.consumes as string[]).includes('application/merge-patch+json'));
    const ok = (patch.responses as Record<string, Record<string, unknown>>)['200'];
    assert.deepEqual(ok.schema, { $ref: '#/definitions/io.k8s.api.core.v1.ConfigMap' });
    assert.ok((patch.produces as string[]).includes('application/json'));
    const pathParams = item.parameters as unknown as Record<string, unknown>[];
    assert.deepEqual(
      pathParams.filter((p) => p.in === 'path').map((p) => [p.name, p.type, p.required]),
      [
        ['name', 'string', true],
        ['namespace', 'string', true],
      ],
    );
  });
});

describe('OpenAPI v2 document (protobuf)', () => {
  const json = openapiV2Document(defs);
  const r = openapiV2Response(defs, 'application/com.github.proto-openapi.spec.v2@v1.0+protobuf');
  const pb = decode(r.body as Buffer);

  it('answers in protobuf for the media type kubectl asks for, JSON otherwise', () => {
    assert.equal(r.contentType, OPENAPI_V2_PROTOBUF);
    assert.ok(Buffer.isBuffer(r.body));
    assert.equal(wantsOpenApiV2Protobuf('application/com.github.proto-openapi.spec.v2@v1.0+protobuf'), true);
    assert.equal(wantsOpenApiV2Protobuf('application/com.github.proto-openapi.spec.v2.v1.0+protobuf, application/json'), true);
    assert.equal(wantsOpenApiV2Protobuf('application/json, application/com.github.proto-openapi.spec.v2.v1.0+protobuf'), false);
    assert.equal(wantsOpenApiV2Protobuf('application/com.github.proto-openapi.spec.v2.v1.0+protobuf;q=0, application/json'), false);
    assert.equal(wantsOpenApiV2Protobuf(undefined), false);
    const j = openapiV2Response(defs, 'application/json');
    assert.equal(j.contentType, 'application/json');
    assert.deepEqual(JSON.parse(j.body as string), json);
    assert.equal(j.etag, r.etag);
  });

  it('decodes to the same definitions, with GVK extensions as YAML and resolvable references', () => {
    assert.equal(pb.swagger, '2.0');
    assert.deepEqual(pb.info, { title: 'Kubernetes', version: 'v1.32.0-kennel' });
    const names = pb.definitions.additionalProperties.map((d) => d.name);
    assert.deepEqual(names, Object.keys(json.definitions));
    const byName = new Map(pb.definitions.additionalProperties.map((d) => [d.name, d.value]));
    const cm = byName.get('io.k8s.api.core.v1.ConfigMap')!;
    assert.deepEqual(cm.type?.value, ['object']);
    assert.deepEqual(extension(cm.vendorExtension, 'x-kubernetes-group-version-kind'), [{ group: '', version: 'v1', kind: 'ConfigMap' }]);
    const props = new Map(cm.properties!.additionalProperties.map((p) => [p.name, p.value]));
    assert.equal(props.get('metadata')?.ref, '#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta');
    assert.deepEqual(props.get('data')?.type?.value, ['object']);
    assert.deepEqual(props.get('data')?.additionalProperties?.schema?.type?.value, ['string']);
    const pod = byName.get('io.k8s.api.core.v1.PodSpec')!;
    const containers = pod.properties!.additionalProperties.find((p) => p.name === 'containers')!.value;
    assert.deepEqual(containers.type?.value, ['array']);
    assert.equal(containers.items?.schema.length, 1);
    assert.equal(containers.items?.schema[0].ref, '#/definitions/io.k8s.api.core.v1.Container');
    assert.ok(pod.required?.includes('containers'));
    for (const [name, s] of byName) {
      for (const ref of pbRefs(s)) assert.ok(byName.has(ref.slice('#/definitions/'.length)), `${name}: dangling ${ref}`);
    }
    const ios = byName.get('io.k8s.apimachinery.pkg.util.intstr.IntOrString')!;
    assert.equal(ios.format, 'int-or-string');
    assert.deepEqual(ios.type?.value, ['string']);
  });

  it('carries the paths, operations, parameters and responses', () => {
    assert.equal(pb.paths.path.length, Object.keys(json.paths).length);
    const item = pb.paths.path.find((p) => p.name === '/api/v1/namespaces/{namespace}/configmaps/{name}')!.value;
    const patch = item.patch!;
    assert.equal(patch.operationId, 'patchCoreV1NamespacedConfigMap');
    assert.deepEqual(extension(patch.vendorExtension, 'x-kubernetes-group-version-kind'), { group: '', version: 'v1', kind: 'ConfigMap' });
    const body = patch.parameters!.find((p) => p.parameter.bodyParameter)!.parameter.bodyParameter!;
    assert.equal(body.in, 'body');
    assert.equal(body.required, true);
    assert.equal(body.schema?.ref, '#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.Patch');
    const query = patch.parameters!.map((p) => p.parameter.nonBodyParameter?.queryParameterSubSchema).filter((q) => q !== undefined);
    assert.ok(query.some((q) => q.name === 'fieldValidation' && q.in === 'query' && q.type === 'string'));
    const ok = patch.responses!.responseCode.find((c) => c.name === '200')!.value.response;
    assert.equal(ok.schema?.schema.ref, '#/definitions/io.k8s.api.core.v1.ConfigMap');
    const pathParams = item.parameters!.map((p) => p.parameter.nonBodyParameter?.pathParameterSubSchema).filter((q) => q !== undefined);
    assert.deepEqual(
      pathParams.map((p) => [p.name, p.type, p.required]),
      [
        ['name', 'string', true],
        ['namespace', 'string', true],
      ],
    );
    assert.deepEqual(pb.securityDefinitions.additionalProperties[0], { name: 'BearerToken', value: { apiKeySecurity: { type: 'apiKey', name: 'authorization', in: 'header' } } });
  });
});

describe('GET /openapi/v2', () => {
  let s: TestServer;
  before(async () => {
    s = await startTestServer();
  });
  after(async () => {
    await s?.stop();
  });

  it('serves protobuf to kubectl and JSON to everyone else', async () => {
    const asKubectl = await new Promise<{ status: number; type: string; body: Buffer }>((resolve, reject) => {
      // TestServer.request decodes text; fetch the bytes through a raw request instead.
      void import('node:https').then(({ default: https }) => {
        const req = https.request(`${s.url}/openapi/v2?timeout=32s`, { ca: s.ca, headers: { authorization: `Bearer ${s.token}`, accept: 'application/com.github.proto-openapi.spec.v2@v1.0+protobuf' } }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), body: Buffer.concat(chunks) }));
          res.on('error', reject);
        });
        req.on('error', reject);
        req.end();
      }, reject);
    });
    assert.equal(asKubectl.status, 200);
    assert.equal(asKubectl.type, 'application/com.github.proto-openapi.spec.v2.v1.0+protobuf');
    const pb = decode(asKubectl.body);
    assert.equal(pb.swagger, '2.0');
    assert.ok(pb.definitions.additionalProperties.some((d) => d.name === 'io.k8s.api.apps.v1.StatefulSet'));

    const asJson = await s.request('GET', '/openapi/v2', undefined, { accept: 'application/json' });
    assert.equal(asJson.status, 200);
    assert.match(String(asJson.headers['content-type']), /^application\/json/);
    const doc = asJson.json<{ swagger: string; definitions: Record<string, unknown> }>();
    assert.equal(doc.swagger, '2.0');
    assert.equal(Object.keys(doc.definitions).length, pb.definitions.additionalProperties.length);

    const rootPaths = (await s.request('GET', '/')).json<{ paths: string[] }>().paths;
    assert.ok(rootPaths.includes('/openapi/v2'));
  });
});
