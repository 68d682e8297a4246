import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import type { ResourceDef } from '../../src/registry/types.ts';
import {
  clearOpenapiCache,
  groupPackage,
  modelAttributes,
  openapiPathKey,
  openapiV3Document,
  openapiV3DocumentForPath,
  openapiV3DocumentJson,
  openapiV3Index,
  parseTypeRef,
} from '../../src/api/openapi.ts';
import type { OpenApiDocument } from '../../src/api/openapi.ts';

function def(partial: Partial<ResourceDef> & Pick<ResourceDef, 'group' | 'version' | 'kind' | 'plural'>): ResourceDef {
  return { listKind: `${partial.kind}List`, singular: partial.kind.toLowerCase(), namespaced: true, nameRule: 'dns1123Subdomain', modelName: `V1${partial.kind}`, columns: [], ...partial };
}

const DEFS: ResourceDef[] = [
  def({ group: '', version: 'v1', kind: 'Pod', plural: 'pods', subresources: { status: true, others: ['log', 'exec'] } }),
  def({ group: '', version: 'v1', kind: 'Node', plural: 'nodes', namespaced: false, subresources: { status: true } }),
  def({ group: '', version: 'v1', kind: 'Event', plural: 'events', modelName: 'CoreV1Event' }),
  def({ group: 'apps', version: 'v1', kind: 'StatefulSet', plural: 'statefulsets', subresources: { status: true, scale: { specReplicasPath: 'spec.replicas', statusReplicasPath: 'status.replicas' } } }),
  def({ group: 'discovery.k8s.io', version: 'v1', kind: 'EndpointSlice', plural: 'endpointslices' }),
  def({ group: 'storage.k8s.io', version: 'v1', kind: 'StorageClass', plural: 'storageclasses', namespaced: false }),
  def({ group: 'events.k8s.io', version: 'v1', kind: 'Event', plural: 'events', modelName: 'EventsV1Event' }),
];

type Json = Record<string, unknown>;

/** Every `$ref` string anywhere in a value. */
function refs(v: unknown, out: string[] = []): string[] {
  if (Array.isArray(v)) for (const x of v) refs(x, out);
  else if (v && typeof v === 'object') {
    for (const [k, x] of Object.entries(v)) {
      if (k === '$ref' && typeof x === 'string') out.push(x);
      else refs(x, out);
    }
  }
  return out;
}

function doc(group: string, version: string): OpenApiDocument {
  const d = openapiV3Document(DEFS, group, version);
  assert.ok(d, `${group}/${version}`);
  return d;
}

test('index lists every group-version with a content hash', () => {
  clearOpenapiCache();
  const t0 = performance.now();
  const index = openapiV3Index(DEFS);
  const ms = performance.now() - t0;
  // first generation of all documents (the figure the report quotes); generous bound for CI
  assert.ok(ms < 5000, `generation took ${ms}ms`);
  assert.deepEqual(Object.keys(index.paths), [
    'api/v1',
    'apis/apps/v1',
    'apis/authentication.k8s.io/v1',
    'apis/authorization.k8s.io/v1',
    'apis/discovery.k8s.io/v1',
    'apis/events.k8s.io/v1',
    'apis/storage.k8s.io/v1',
  ]);
  for (const [key, { serverRelativeURL }] of Object.entries(index.paths)) {
    const m = /^\/openapi\/v3\/(.+)\?hash=([0-9A-F]{128})$/.exec(serverRelativeURL);
    assert.ok(m, serverRelativeURL);
    assert.equal(m[1], key);
    const served = openapiV3DocumentForPath(DEFS, `/openapi/v3/${key}`);
    assert.ok(served);
    assert.equal(m[2], createHash('sha512').update(served.json).digest('hex').toUpperCase());
    assert.equal(served.hash, m[2]);
  }
  // cached: same object back, a second call is cheap
  assert.equal(openapiV3Index(DEFS), index);
  assert.equal(openapiV3Document(DEFS, '', 'v1'), openapiV3Document([...DEFS], '', 'v1'));
});

test('hash is stable across regenerations and changes with the registry', () => {
  clearOpenapiCache();
  const a = openapiV3DocumentJson(DEFS, 'apps', 'v1');
  clearOpenapiCache();
  const b = openapiV3DocumentJson(DEFS, 'apps', 'v1');
  assert.equal(a?.hash, b?.hash);
  const changed = DEFS.map((d) => (d.plural === 'statefulsets' ? { ...d, verbs: ['get', 'list'] } : d));
  assert.notEqual(openapiV3DocumentJson(changed, 'apps', 'v1')?.hash, a?.hash);
  // a group-version nobody serves
  assert.equal(openapiV3Document(DEFS, 'apps', 'v2'), null);
  assert.equal(openapiV3DocumentForPath(DEFS, '/openapi/v3/apis/nope/v1'), null);
  assert.equal(openapiV3DocumentForPath(DEFS, '/openapi/v3/bogus'), null);
  assert.equal(openapiPathKey('', 'v1'), 'api/v1');
});

test('every kind has a PATCH with its GVK and an inline fieldValidation query parameter', () => {
  for (const d of DEFS) {
    const gv = doc(d.group, d.version);
    const patches = Object.entries(gv.paths).filter(([, p]) => {
      const op = p.patch as Json | undefined;
      const gvk = op?.['x-kubernetes-group-version-kind'] as Json | undefined;
      return gvk?.group === d.group && gvk.version === d.version && gvk.kind === d.kind;
    });
    assert.ok(patches.length >= 1, `${d.kind}`);
    for (const [path, p] of patches) {
      const op = p.patch as Json;
      const params = op.parameters as Json[];
      assert.ok(params.some((x) => x.name === 'fieldValidation' && x.in === 'query'), path);
      assert.equal(op['x-kubernetes-action'], 'patch');
      const contentTypes = Object.keys(((op.requestBody as Json).content as Json) ?? {});
      assert.ok(contentTypes.includes('application/merge-patch+json'));
      assert.ok(contentTypes.includes('application/apply-patch+yaml'));
      // left out on purpose: kubectl then uses its built-in strategic merge metadata
      assert.ok(!contentTypes.includes('application/strategic-merge-patch+json'));
    }
  }
  const core = doc('', 'v1');
  assert.deepEqual(Object.keys(core.paths), [
    '/api/v1/events',
    '/api/v1/namespaces/{namespace}/events',
    '/api/v1/namespaces/{namespace}/events/{name}',
    '/api/v1/namespaces/{namespace}/pods',
    '/api/v1/namespaces/{namespace}/pods/{name}',
    '/api/v1/namespaces/{namespace}/pods/{name}/status',
    '/api/v1/nodes',
    '/api/v1/nodes/{name}',
    '/api/v1/nodes/{name}/status',
    '/api/v1/pods',
  ]);
  const podItem = core.paths['/api/v1/namespaces/{namespace}/pods/{name}'];
  assert.deepEqual(Object.keys(podItem).sort(), ['delete', 'get', 'parameters', 'patch', 'put']);
  assert.equal((podItem.get as Json).operationId, 'readCoreV1NamespacedPod');
  assert.equal((core.paths['/api/v1/nodes/{name}'].patch as Json).operationId, 'patchCoreV1Node');
  assert.ok(((core.paths['/api/v1/namespaces/{namespace}/pods'].post as Json).parameters as Json[]).some((p) => p.name === 'fieldValidation'));
  assert.ok(((podItem.put as Json).parameters as Json[]).some((p) => p.name === 'fieldValidation'));

  const apps = doc('apps', 'v1');
  const scale = apps.paths['/apis/apps/v1/namespaces/{namespace}/statefulsets/{name}/scale'];
  assert.deepEqual((scale.patch as Json)['x-kubernetes-group-version-kind'], { group: 'autoscaling', version: 'v1', kind: 'Scale' });
  assert.ok(apps.components.schemas['io.k8s.api.autoscaling.v1.Scale']);
  // verbs limit the operations
  const limited = openapiV3Document([def({ group: 'x.example.com', version: 'v1', kind: 'Pod', plural: 'things', verbs: ['create'] })], 'x.example.com', 'v1');
  assert.deepEqual(Object.keys(limited?.paths ?? {}), ['/apis/x.example.com/v1/namespaces/{namespace}/things']);
  assert.deepEqual(Object.keys(limited?.paths['/apis/x.example.com/v1/namespaces/{namespace}/things'] ?? {}), ['post', 'parameters']);
});

test('every $ref resolves inside its document', () => {
  for (const key of Object.keys(openapiV3Index(DEFS).paths)) {
    const served = openapiV3DocumentForPath(DEFS, `/openapi/v3/${key}`);
    assert.ok(served);
    const d = JSON.parse(served.json) as OpenApiDocument;
    const all = refs(d);
    assert.ok(all.length > 0, key);
    for (const r of all) {
      assert.ok(r.startsWith('#/components/schemas/'), r);
      assert.ok(d.components.schemas[r.slice('#/components/schemas/'.length)], `${key}: ${r}`);
    }
  }
});

test('schemas use Kubernetes names and carry GVKs, descriptions, required fields', () => {
  const core = doc('', 'v1');
  const s = core.components.schemas;
  const pod = s['io.k8s.api.core.v1.Pod'];
  assert.deepEqual(pod['x-kubernetes-group-version-kind'], [{ group: '', version: 'v1', kind: 'Pod' }]);
  assert.match(String(pod.description), /^Pod is a collection of containers/);
  const props = pod.properties as Record<string, Json>;
  assert.deepEqual(Object.keys(props), ['apiVersion', 'kind', 'metadata', 'spec', 'status']);
  assert.deepEqual((props.spec.allOf as Json[])[0], { $ref: '#/components/schemas/io.k8s.api.core.v1.PodSpec' });
  assert.deepEqual((props.metadata.allOf as Json[])[0], { $ref: '#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta' });
  assert.deepEqual(s['io.k8s.api.core.v1.PodList']['x-kubernetes-group-version-kind'], [{ group: '', version: 'v1', kind: 'PodList' }]);
  assert.deepEqual(s['io.k8s.api.core.v1.Event']['x-kubernetes-group-version-kind'], [{ group: '', version: 'v1', kind: 'Event' }]);

  const spec = s['io.k8s.api.core.v1.PodSpec'];
  assert.deepEqual(spec.required, ['containers']);
  const sp = spec.properties as Record<string, Json>;
  assert.deepEqual(sp.containers.type, 'array');
  assert.deepEqual(sp.containers.items, { $ref: '#/components/schemas/io.k8s.api.core.v1.Container' });
  assert.deepEqual(sp.nodeSelector.additionalProperties, { type: 'string' });
  assert.equal(sp.activeDeadlineSeconds.type, 'integer');
  assert.equal(sp.activeDeadlineSeconds.format, 'int64');
  assert.equal(sp.hostNetwork.type, 'boolean');
  assert.match(String(sp.hostNetwork.description), /host networking/i);

  const cm = s['io.k8s.api.core.v1.ContainerPort'].properties as Record<string, Json>;
  assert.deepEqual(cm.containerPort, { description: cm.containerPort.description, type: 'integer', format: 'int32' });
  const meta = s['io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta'].properties as Record<string, Json>;
  assert.equal(meta.creationTimestamp.type, 'string');
  assert.equal(meta.creationTimestamp.format, 'date-time');
  const probe = s['io.k8s.api.core.v1.HTTPGetAction'].properties as Record<string, Json>;
  assert.deepEqual((probe.port.allOf as Json[])[0], { $ref: '#/components/schemas/io.k8s.apimachinery.pkg.util.intstr.IntOrString' });
  assert.equal(s['io.k8s.apimachinery.pkg.util.intstr.IntOrString']['x-kubernetes-int-or-string'], true);
  const mf = s['io.k8s.apimachinery.pkg.apis.meta.v1.ManagedFieldsEntry'].properties as Record<string, Json>;
  assert.equal(mf.fieldsV1['x-kubernetes-preserve-unknown-fields'], true);
  const secretish = s['io.k8s.api.core.v1.SecretVolumeSource'];
  assert.ok(secretish);

  // groups: apps types in apps, core types they use stay core, Scale in autoscaling
  const apps = doc('apps', 'v1').components.schemas;
  assert.ok(apps['io.k8s.api.apps.v1.StatefulSetSpec']);
  assert.ok(apps['io.k8s.api.core.v1.PodTemplateSpec']);
  assert.ok(apps['io.k8s.api.core.v1.PersistentVolumeClaim']);
  assert.ok(apps['io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelector']);
  assert.ok(!Object.keys(apps).some((k) => k.startsWith('V1') || k.startsWith('io.k8s.kennel')));
  // prefixed client-node names
  assert.ok(doc('discovery.k8s.io', 'v1').components.schemas['io.k8s.api.discovery.v1.EndpointPort']);
  assert.deepEqual(doc('events.k8s.io', 'v1').components.schemas['io.k8s.api.events.v1.Event']['x-kubernetes-group-version-kind'], [
    { group: 'events.k8s.io', version: 'v1', kind: 'Event' },
  ]);
  assert.ok(doc('storage.k8s.io', 'v1').components.schemas['io.k8s.api.storage.v1.StorageClass']);
  assert.ok(doc('authorization.k8s.io', 'v1').components.schemas['io.k8s.api.authorization.v1.SelfSubjectAccessReview']);
  assert.equal(groupPackage('example.com'), 'com.example');
  assert.equal(groupPackage('rbac.authorization.k8s.io'), 'io.k8s.api.rbac');
});

test('client-node type strings parse', () => {
  assert.deepEqual(parseTypeRef('Array<V1Container>'), { t: 'array', of: { t: 'model', name: 'V1Container' } });
  assert.deepEqual(parseTypeRef('{ [key: string]: string; }'), { t: 'map', of: { t: 'string' } });
  assert.deepEqual(parseTypeRef('{ [key: string]: Array<string>; }'), { t: 'map', of: { t: 'array', of: { t: 'string' } } });
  assert.deepEqual(parseTypeRef('number', 'int32'), { t: 'integer', format: 'int32' });
  assert.deepEqual(parseTypeRef('number', 'double'), { t: 'number', format: 'double' });
  assert.deepEqual(parseTypeRef('Date', 'date-time'), { t: 'date' });
  assert.deepEqual(parseTypeRef('IntOrString', 'int-or-string'), { t: 'intOrString' });
  assert.deepEqual(parseTypeRef('any'), { t: 'any' });
  assert.deepEqual(parseTypeRef('V1NoSuchModel'), { t: 'any' });
  assert.ok(modelAttributes('V1Pod')?.some((a) => a.baseName === 'spec' && a.type === 'V1PodSpec'));
  assert.equal(modelAttributes('NotAModel'), undefined);
  assert.equal(modelAttributes('constructor'), undefined);
});
