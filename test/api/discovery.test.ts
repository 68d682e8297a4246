import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ResourceDef } from '../../src/registry/types.ts';
import {
  AGGREGATED_DISCOVERY_CONTENT_TYPE,
  DISCOVERY_EXTRAS,
  aggregatedDiscovery,
  apiGroup,
  apiGroupList,
  apiResourceList,
  apiVersions,
  compareKubeVersions,
  versionInfo,
  wantsAggregatedDiscovery,
  withDiscoveryExtras,
} from '../../src/api/discovery.ts';

function def(partial: Partial<ResourceDef> & Pick<ResourceDef, 'group' | 'version' | 'kind' | 'plural'>): ResourceDef {
  return {
    listKind: `${partial.kind}List`,
    singular: partial.kind.toLowerCase(),
    namespaced: true,
    nameRule: 'dns1123Subdomain',
    modelName: `V1${partial.kind}`,
    columns: [],
    ...partial,
  };
}

const pods = def({
  group: '',
  version: 'v1',
  kind: 'Pod',
  plural: 'pods',
  shortNames: ['po'],
  categories: ['all'],
  subresources: { status: true, others: ['log', 'exec', 'attach', 'portforward', 'binding', 'eviction', 'proxy'] },
});
const namespaces = def({ group: '', version: 'v1', kind: 'Namespace', plural: 'namespaces', namespaced: false, shortNames: ['ns'], subresources: { status: true, others: ['finalize'] } });
const serviceaccounts = def({ group: '', version: 'v1', kind: 'ServiceAccount', plural: 'serviceaccounts', shortNames: ['sa'], subresources: { others: ['token'] } });
const statefulsets = def({
  group: 'apps',
  version: 'v1',
  kind: 'StatefulSet',
  plural: 'statefulsets',
  shortNames: ['sts'],
  categories: ['all'],
  subresources: { status: true, scale: { specReplicasPath: 'spec.replicas', statusReplicasPath: 'status.replicas' } },
});
const controllerrevisions = def({ group: 'apps', version: 'v1', kind: 'ControllerRevision', plural: 'controllerrevisions' });
const leases = def({ group: 'coordination.k8s.io', version: 'v1', kind: 'Lease', plural: 'leases' });
const storageclasses = def({ group: 'storage.k8s.io', version: 'v1', kind: 'StorageClass', plural: 'storageclasses', namespaced: false, shortNames: ['sc'] });
const widgetsV1 = def({ group: 'example.com', version: 'v1', kind: 'Widget', plural: 'widgets', verbs: ['get', 'list', 'watch'] });
const widgetsV2b = def({ group: 'example.com', version: 'v2beta1', kind: 'Widget', plural: 'widgets' });
const widgetsV2 = def({ group: 'example.com', version: 'v2', kind: 'Widget', plural: 'widgets' });

const DEFS = [pods, namespaces, serviceaccounts, statefulsets, controllerrevisions, leases, storageclasses, widgetsV1, widgetsV2b, widgetsV2];

type Json = Record<string, unknown>;

function findResource(list: Json, group: string, version: string, resource: string): Json | undefined {
  const items = list.items as Json[];
  const g = items.find((i) => (i.metadata as Json).name === group);
  const v = (g?.versions as Json[] | undefined)?.find((x) => x.version === version);
  return (v?.resources as Json[] | undefined)?.find((r) => r.resource === resource);
}

test('version reports 1.32 with the real platform', () => {
  const v = versionInfo();
  assert.equal(v.major, '1');
  assert.equal(v.minor, '32');
  assert.equal(v.gitVersion, 'v1.32.0-kennel');
  const arch = { x64: 'amd64', arm64: 'arm64' }[process.arch as 'x64' | 'arm64'] ?? process.arch;
  assert.equal(v.platform, `${process.platform}/${arch}`);
  for (const k of ['gitCommit', 'gitTreeState', 'buildDate', 'goVersion', 'compiler'] as const) assert.equal(typeof v[k], 'string');
});

test('aggregated /api is the core group with empty name and every core def', () => {
  const doc = aggregatedDiscovery(DEFS, 'api') as unknown as Json;
  assert.equal(doc.kind, 'APIGroupDiscoveryList');
  assert.equal(doc.apiVersion, 'apidiscovery.k8s.io/v2');
  const items = doc.items as Json[];
  assert.equal(items.length, 1);
  assert.equal((items[0].metadata as Json).name, '');
  const versions = items[0].versions as Json[];
  assert.deepEqual(versions.map((v) => v.version), ['v1']);
  assert.equal(versions[0].freshness, 'Current');
  const names = (versions[0].resources as Json[]).map((r) => r.resource);
  assert.deepEqual(names, ['namespaces', 'pods', 'serviceaccounts']);

  const pod = findResource(doc, '', 'v1', 'pods') as Json;
  assert.deepEqual(pod.responseKind, { group: '', version: '', kind: 'Pod' });
  assert.equal(pod.scope, 'Namespaced');
  assert.equal(pod.singularResource, 'pod');
  assert.deepEqual(pod.verbs, ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch']);
  assert.deepEqual(pod.shortNames, ['po']);
  assert.deepEqual(pod.categories, ['all']);
  const subs = Object.fromEntries((pod.subresources as Json[]).map((s) => [s.subresource, s]));
  assert.deepEqual(Object.keys(subs), ['attach', 'binding', 'eviction', 'exec', 'log', 'portforward', 'proxy', 'status']);
  assert.deepEqual(subs.status, { subresource: 'status', responseKind: { group: '', version: '', kind: 'Pod' }, verbs: ['get', 'patch', 'update'] });
  assert.deepEqual(subs.log, { subresource: 'log', responseKind: { group: '', version: '', kind: 'Pod' }, verbs: ['get'] });
  assert.deepEqual(subs.eviction.responseKind, { group: 'policy', version: 'v1', kind: 'Eviction' });
  assert.deepEqual(subs.eviction.verbs, ['create']);
  assert.deepEqual(subs.binding, { subresource: 'binding', responseKind: { group: '', version: '', kind: 'Binding' }, verbs: ['create'] });
  assert.deepEqual(subs.exec, { subresource: 'exec', responseKind: { group: '', version: '', kind: 'PodExecOptions' }, verbs: ['create', 'get'] });
  assert.deepEqual(subs.attach.responseKind, { group: '', version: '', kind: 'PodAttachOptions' });
  assert.deepEqual(subs.portforward.verbs, ['create', 'get']);
  assert.deepEqual(subs.proxy.verbs, ['create', 'delete', 'get', 'patch', 'update']);

  const ns = findResource(doc, '', 'v1', 'namespaces') as Json;
  assert.equal(ns.scope, 'Cluster');
  assert.equal(ns.categories, undefined);
  const nsSubs = ns.subresources as Json[];
  assert.deepEqual(nsSubs.find((s) => s.subresource === 'finalize'), { subresource: 'finalize', responseKind: { group: '', version: '', kind: 'Namespace' }, verbs: ['update'] });

  const sa = findResource(doc, '', 'v1', 'serviceaccounts') as Json;
  assert.deepEqual(sa.subresources, [{ subresource: 'token', responseKind: { group: 'authentication.k8s.io', version: 'v1', kind: 'TokenRequest' }, verbs: ['create'] }]);
});

test('aggregated /apis lists every named group in priority order with extras', () => {
  const doc = aggregatedDiscovery(DEFS, 'apis') as unknown as Json;
  const groups = (doc.items as Json[]).map((i) => (i.metadata as Json).name);
  assert.deepEqual(groups, ['apps', 'authentication.k8s.io', 'authorization.k8s.io', 'storage.k8s.io', 'coordination.k8s.io', 'example.com']);
  // every def appears
  for (const d of DEFS.filter((x) => x.group)) assert.ok(findResource(doc, d.group, d.version, d.plural), `${d.group}/${d.version}/${d.plural}`);
  const sts = findResource(doc, 'apps', 'v1', 'statefulsets') as Json;
  assert.deepEqual(sts.shortNames, ['sts']);
  assert.deepEqual(sts.subresources, [
    { subresource: 'scale', responseKind: { group: 'autoscaling', version: 'v1', kind: 'Scale' }, verbs: ['get', 'patch', 'update'] },
    { subresource: 'status', responseKind: { group: '', version: '', kind: 'StatefulSet' }, verbs: ['get', 'patch', 'update'] },
  ]);
  // no subresources key when there are none
  assert.equal('subresources' in (findResource(doc, 'apps', 'v1', 'controllerrevisions') as Json), false);
  // explicit verbs are kept (sorted)
  assert.deepEqual((findResource(doc, 'example.com', 'v1', 'widgets') as Json).verbs, ['get', 'list', 'watch']);
  // preferred version first
  const example = (doc.items as Json[]).find((i) => (i.metadata as Json).name === 'example.com') as Json;
  assert.deepEqual((example.versions as Json[]).map((v) => v.version), ['v2', 'v1', 'v2beta1']);
  // review resources
  const ssar = findResource(doc, 'authorization.k8s.io', 'v1', 'selfsubjectaccessreviews') as Json;
  assert.deepEqual(ssar, {
    resource: 'selfsubjectaccessreviews',
    responseKind: { group: '', version: '', kind: 'SelfSubjectAccessReview' },
    scope: 'Cluster',
    singularResource: 'selfsubjectaccessreview',
    verbs: ['create'],
  });
  assert.ok(findResource(doc, 'authorization.k8s.io', 'v1', 'selfsubjectrulesreviews'));
  assert.ok(findResource(doc, 'authentication.k8s.io', 'v1', 'selfsubjectreviews'));
});

test('extras are not duplicated when the registry defines them', () => {
  const own = def({ group: 'authorization.k8s.io', version: 'v1', kind: 'SelfSubjectAccessReview', plural: 'selfsubjectaccessreviews', namespaced: false, verbs: ['create', 'get'] });
  const all = withDiscoveryExtras([own]);
  assert.equal(all.filter((d) => d.plural === 'selfsubjectaccessreviews').length, 1);
  assert.equal(all.length, DISCOVERY_EXTRAS.length);
  const doc = aggregatedDiscovery([own], 'apis') as unknown as Json;
  assert.deepEqual((findResource(doc, 'authorization.k8s.io', 'v1', 'selfsubjectaccessreviews') as Json).verbs, ['create', 'get']);
});

test('the content type is exact', () => {
  assert.equal(AGGREGATED_DISCOVERY_CONTENT_TYPE, 'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList');
});

test('Accept negotiation picks aggregated discovery like the apiserver', () => {
  const cases: [string | undefined, boolean][] = [
    // what kubectl 1.32 sends
    ['application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json', true],
    ['application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList', true],
    ['application/json; as=APIGroupDiscoveryList; v=v2; g=apidiscovery.k8s.io', true],
    // protobuf first (not served) falls through to the JSON v2 entry
    ['application/vnd.kubernetes.protobuf;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json', true],
    // only v2beta1 asked: legacy
    ['application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json', false],
    // plain JSON first wins
    ['application/json,application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList', false],
    // q values reorder
    ['application/json;q=0.5,application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList', true],
    ['application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList;q=0,application/json', false],
    ['*/*', false],
    ['application/json', false],
    ['', false],
    [undefined, false],
  ];
  for (const [accept, want] of cases) assert.equal(wantsAggregatedDiscovery(accept), want, String(accept));
});

test('legacy /api and /apis', () => {
  assert.deepEqual(apiVersions('10.0.0.1:6443'), { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: '10.0.0.1:6443' }] });
  const list = apiGroupList(DEFS);
  assert.equal(list.kind, 'APIGroupList');
  assert.deepEqual(list.groups.map((g) => g.name), ['apps', 'authentication.k8s.io', 'authorization.k8s.io', 'storage.k8s.io', 'coordination.k8s.io', 'example.com']);
  const example = list.groups.find((g) => g.name === 'example.com');
  assert.deepEqual(example?.preferredVersion, { groupVersion: 'example.com/v2', version: 'v2' });
  assert.deepEqual(example?.versions.map((v) => v.groupVersion), ['example.com/v2', 'example.com/v1', 'example.com/v2beta1']);
  assert.deepEqual(apiGroup(DEFS, 'apps'), {
    kind: 'APIGroup',
    apiVersion: 'v1',
    name: 'apps',
    versions: [{ groupVersion: 'apps/v1', version: 'v1' }],
    preferredVersion: { groupVersion: 'apps/v1', version: 'v1' },
  });
  assert.equal(apiGroup(DEFS, 'nope.example'), null);
  assert.equal(apiGroup(DEFS, ''), null);
});

test('legacy APIResourceList includes subresources as pods/status entries', () => {
  const core = apiResourceList(DEFS, '', 'v1');
  assert.ok(core);
  assert.equal(core.kind, 'APIResourceList');
  assert.equal(core.groupVersion, 'v1');
  const byName = Object.fromEntries(core.resources.map((r) => [r.name, r]));
  assert.deepEqual(core.resources.map((r) => r.name), [
    'namespaces', 'namespaces/finalize', 'namespaces/status',
    'pods', 'pods/attach', 'pods/binding', 'pods/eviction', 'pods/exec', 'pods/log', 'pods/portforward', 'pods/proxy', 'pods/status',
    'serviceaccounts', 'serviceaccounts/token',
  ]);
  const pod = byName.pods;
  assert.equal(pod.singularName, 'pod');
  assert.equal(pod.namespaced, true);
  assert.equal(pod.kind, 'Pod');
  assert.deepEqual(pod.shortNames, ['po']);
  assert.deepEqual(pod.categories, ['all']);
  assert.match(pod.storageVersionHash ?? '', /^[A-Za-z0-9+/]{11}=$/);
  assert.deepEqual(byName['pods/status'], { name: 'pods/status', singularName: '', namespaced: true, kind: 'Pod', verbs: ['get', 'patch', 'update'] });
  assert.deepEqual(byName['pods/eviction'], { name: 'pods/eviction', singularName: '', namespaced: true, group: 'policy', version: 'v1', kind: 'Eviction', verbs: ['create'] });
  assert.equal(byName.namespaces.namespaced, false);

  const apps = apiResourceList(DEFS, 'apps', 'v1');
  assert.equal(apps?.groupVersion, 'apps/v1');
  const scale = apps?.resources.find((r) => r.name === 'statefulsets/scale');
  assert.deepEqual(scale, { name: 'statefulsets/scale', singularName: '', namespaced: true, group: 'autoscaling', version: 'v1', kind: 'Scale', verbs: ['get', 'patch', 'update'] });
  assert.equal(apiResourceList(DEFS, 'apps', 'v2'), null);
  const authz = apiResourceList(DEFS, 'authorization.k8s.io', 'v1');
  assert.deepEqual(authz?.resources.map((r) => [r.name, r.verbs, r.namespaced]), [
    ['selfsubjectaccessreviews', ['create'], false],
    ['selfsubjectrulesreviews', ['create'], false],
  ]);
});

test('Kubernetes version priority', () => {
  const vs = ['v1alpha1', 'v2beta1', 'v1', 'v1beta2', 'v10', 'foo', 'v2', 'v1beta1', 'v11alpha2'];
  assert.deepEqual([...vs].sort(compareKubeVersions), ['v10', 'v2', 'v1', 'v2beta1', 'v1beta2', 'v1beta1', 'v11alpha2', 'v1alpha1', 'foo']);
});
