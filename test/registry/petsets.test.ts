// apps/v1alpha1 PetSet: a view of apps/v1 StatefulSets (conversion, defaults, the API paths,
// and the old guides' kubectl commands).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { petsets, petSetToStatefulSet, statefulSetToPetSet, defaultPetSetSelector } from '../../src/registry/petsets.ts';
import { statefulsets } from '../../src/registry/statefulsets.ts';
import { defaultRegistry } from '../../src/registry/index.ts';
import type { KubeObject } from '../../src/registry/types.ts';
import { startTestServer, type TestServer } from '../support/apiserver.ts';

type Obj = Record<string, unknown>;

/** The PetSet from the Kubernetes 1.3 "PetSet" guide (no selector: v1alpha1 defaulted it). */
function guidePetSet(name = 'web'): KubeObject {
  return {
    apiVersion: 'apps/v1alpha1',
    kind: 'PetSet',
    metadata: { name },
    spec: {
      serviceName: 'nginx',
      replicas: 2,
      template: {
        metadata: { labels: { app: name }, annotations: { 'pod.alpha.kubernetes.io/initialized': 'true' } },
        spec: {
          terminationGracePeriodSeconds: 0,
          containers: [{ name: 'nginx', image: 'gcr.io/google_containers/nginx-slim:0.8', ports: [{ containerPort: 80, name: 'web' }], volumeMounts: [{ name: 'www', mountPath: '/usr/share/nginx/html' }] }],
        },
      },
      volumeClaimTemplates: [{ metadata: { name: 'www' }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } } }],
    },
  };
}

describe('PetSet registry entry', () => {
  it('is apps/v1alpha1 PetSet stored as apps/v1 statefulsets, with the StatefulSet model and subresources', () => {
    assert.equal(petsets.group, 'apps');
    assert.equal(petsets.version, 'v1alpha1');
    assert.equal(petsets.kind, 'PetSet');
    assert.equal(petsets.listKind, 'PetSetList');
    assert.equal(petsets.plural, 'petsets');
    assert.equal(petsets.singular, 'petset');
    assert.equal(petsets.namespaced, true);
    assert.equal(petsets.modelName, 'V1StatefulSet');
    assert.deepEqual(petsets.storedAs && { group: petsets.storedAs.group, plural: petsets.storedAs.plural }, { group: 'apps', plural: 'statefulsets' });
    assert.equal(petsets.subresources?.status, true);
    assert.equal(petsets.subresources?.scale?.specReplicasPath, 'spec.replicas');
    assert.equal(petsets.shortNames, undefined, 'Kubernetes gave PetSet no short name');
    assert.ok(!(petsets.categories ?? []).includes('all'), 'kubectl get all lists each set once');
    assert.equal(petsets.columns, statefulsets.columns);
    assert.equal(defaultRegistry().lookup('apps', 'v1alpha1', 'petsets'), petsets);
  });

  it('converts kind and apiVersion both ways and keeps every other field', () => {
    const sts: KubeObject = {
      apiVersion: 'apps/v1',
      kind: 'StatefulSet',
      metadata: { name: 'mongo', namespace: 'db', uid: 'u', resourceVersion: '9', generation: 3 },
      spec: { replicas: 3, serviceName: 'mongo', updateStrategy: { type: 'OnDelete' }, podManagementPolicy: 'Parallel' },
      status: { replicas: 3, observedGeneration: 3, readyReplicas: 2, currentRevision: 'mongo-abc' },
    };
    const pet = statefulSetToPetSet(sts);
    assert.equal(pet.apiVersion, 'apps/v1alpha1');
    assert.equal(pet.kind, 'PetSet');
    assert.deepEqual({ ...pet, apiVersion: 'apps/v1', kind: 'StatefulSet' }, sts);
    assert.deepEqual(petSetToStatefulSet(pet), sts);
    (pet.spec as Obj).replicas = 7;
    assert.equal((sts.spec as Obj).replicas, 3, 'conversion copies');
  });

  it('defaults an absent selector and empty labels from the template, as v1alpha1 did', () => {
    const pet = guidePetSet();
    petsets.defaults?.(pet);
    const spec = pet.spec as Obj;
    assert.deepEqual(spec.selector, { matchLabels: { app: 'web' } });
    assert.deepEqual(pet.metadata.labels, { app: 'web' });
    assert.equal(spec.podManagementPolicy, 'OrderedReady', 'then the StatefulSet defaults');
    assert.deepEqual(petsets.validate?.(pet), []);

    const explicit = guidePetSet();
    (explicit.spec as Obj).selector = { matchLabels: { app: 'web', tier: 'x' } };
    explicit.metadata.labels = { mine: 'yes' };
    defaultPetSetSelector(explicit);
    assert.deepEqual((explicit.spec as Obj).selector, { matchLabels: { app: 'web', tier: 'x' } });
    assert.deepEqual(explicit.metadata.labels, { mine: 'yes' });
  });
});

describe('PetSet through the API server', () => {
  let ts: TestServer;
  const base = '/apis/apps/v1alpha1/namespaces/default/petsets';
  before(async () => {
    ts = await startTestServer();
  });
  after(async () => {
    await ts?.stop();
  });

  it('a PetSet written through v1alpha1 is the StatefulSet of the same name', async () => {
    const created = await ts.request('POST', base, guidePetSet('web'));
    assert.equal(created.status, 201, created.text);
    const pet = created.json<KubeObject>();
    assert.equal(pet.kind, 'PetSet');
    const sts = (await ts.request('GET', '/apis/apps/v1/namespaces/default/statefulsets/web')).json<KubeObject>();
    assert.equal(sts.kind, 'StatefulSet');
    assert.equal(sts.metadata.uid, pet.metadata.uid);
    assert.equal(sts.metadata.resourceVersion, pet.metadata.resourceVersion);
    assert.deepEqual((sts.spec as Obj).selector, { matchLabels: { app: 'web' } });

    const again = petSetToStatefulSet(guidePetSet('web'));
    (again.spec as Obj).selector = { matchLabels: { app: 'web' } };
    const dup = await ts.request('POST', '/apis/apps/v1/namespaces/default/statefulsets', again);
    assert.equal(dup.status, 409, `one name for both kinds: ${dup.text}`);
    assert.equal(dup.json<{ reason: string }>().reason, 'AlreadyExists');

    const list = (await ts.request('GET', base)).json<{ kind: string; items: KubeObject[] }>();
    assert.equal(list.kind, 'PetSetList');
    assert.deepEqual(list.items.map((i) => [i.kind, i.metadata.name]), [['PetSet', 'web']]);
  });

  it('a PUT through the PetSet keeps fields PetSet never had; validation speaks of PetSet', async () => {
    const onDelete = await ts.request('PATCH', '/apis/apps/v1/namespaces/default/statefulsets/web', { spec: { updateStrategy: { type: 'OnDelete', rollingUpdate: null } } }, { 'content-type': 'application/merge-patch+json' });
    assert.equal(onDelete.status, 200, onDelete.text);
    const pet = (await ts.request('GET', `${base}/web`)).json<KubeObject>();
    (pet.spec as Obj).replicas = 4;
    const put = await ts.request('PUT', `${base}/web`, pet);
    assert.equal(put.status, 200, put.text);
    const sts = (await ts.request('GET', '/apis/apps/v1/namespaces/default/statefulsets/web')).json<KubeObject>();
    assert.equal((sts.spec as Obj).replicas, 4);
    assert.deepEqual((sts.spec as Obj).updateStrategy, { type: 'OnDelete' });
    assert.equal(sts.metadata.generation, 3);

    const bad = await ts.request('PATCH', `${base}/web`, { spec: { replicas: -1 } }, { 'content-type': 'application/merge-patch+json' });
    assert.equal(bad.status, 422);
    assert.match(bad.json<{ message: string }>().message, /^PetSet.apps "web" is invalid: spec.replicas: Invalid value: -1/);
  });

  it('the scale and status subresources work through the PetSet', async () => {
    const scale = await ts.request('PUT', `${base}/web/scale`, { apiVersion: 'autoscaling/v1', kind: 'Scale', metadata: { name: 'web', namespace: 'default' }, spec: { replicas: 5 } });
    assert.equal(scale.status, 200, scale.text);
    assert.deepEqual((scale.json<KubeObject>().spec as Obj).replicas, 5);
    const sts = (await ts.request('GET', '/apis/apps/v1/namespaces/default/statefulsets/web')).json<KubeObject>();
    assert.equal((sts.spec as Obj).replicas, 5);

    const st = await ts.request('PATCH', `${base}/web/status`, { status: { replicas: 2, observedGeneration: 4 } }, { 'content-type': 'application/merge-patch+json' });
    assert.equal(st.status, 200, st.text);
    const after = (await ts.request('GET', '/apis/apps/v1/namespaces/default/statefulsets/web')).json<KubeObject>();
    assert.equal((after.status as Obj).replicas, 2);
    assert.equal((after.status as Obj).observedGeneration, 4);
  });

  it('a watch on petsets sees changes made through statefulsets, as PetSets', async () => {
    const rv = (await ts.request('GET', `${base}/web`)).json<KubeObject>().metadata.resourceVersion ?? '';
    const patched = await ts.request('PATCH', '/apis/apps/v1/namespaces/default/statefulsets/web', { metadata: { labels: { touched: 'yes' } } }, { 'content-type': 'application/merge-patch+json' });
    assert.equal(patched.status, 200);
    const watch = await ts.request('GET', `${base}?watch=true&resourceVersion=${rv}&timeoutSeconds=1`);
    const events = watch.text
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { type: string; object: KubeObject });
    const mod = events.find((e) => e.type === 'MODIFIED');
    assert.ok(mod, watch.text);
    assert.equal(mod.object.kind, 'PetSet');
    assert.equal(mod.object.metadata.labels?.touched, 'yes');
  });
});

const haveKubectl = spawnSync('sh', ['-c', 'command -v kubectl'], { stdio: 'ignore' }).status === 0;

describe('PetSet with kubectl', { skip: haveKubectl ? false : 'kubectl not installed' }, () => {
  let ts: TestServer;
  const kubectl = (args: string[]): Promise<{ code: number; out: string; err: string }> =>
    new Promise((resolve) => {
      execFile('kubectl', ['--kubeconfig', ts.kubeconfig, '--cache-dir', join(ts.dir, 'kubectl-cache'), ...args], { timeout: 20_000 }, (e, out, err) => {
        resolve({ code: e ? (typeof e.code === 'number' ? e.code : 1) : 0, out, err });
      });
    });
  const k = async (args: string[]): Promise<string> => {
    const r = await kubectl(args);
    assert.equal(r.code, 0, `kubectl ${args.join(' ')}: ${r.err}${r.out}`);
    return r.out;
  };
  before(async () => {
    ts = await startTestServer();
    const created = await ts.request('POST', '/apis/apps/v1alpha1/namespaces/default/petsets', guidePetSet('mongo'));
    assert.equal(created.status, 201, created.text);
  });
  after(async () => {
    await ts?.stop();
  });

  it('api-resources lists petsets; get petset prints the StatefulSet columns', async () => {
    assert.match(await k(['api-resources', '--api-group=apps']), /^petsets\s+apps\/v1alpha1\s+true\s+PetSet$/m);
    const table = await k(['get', 'petset']);
    assert.match(table, /^NAME\s+READY\s+AGE\n/);
    assert.match(table, /^mongo\s+0\/2\s+\S+$/m);
    const wide = await k(['get', 'petsets', '-o', 'wide']);
    assert.match(wide, /^mongo\s+0\/2\s+\S+\s+nginx\s+gcr\.io\/google_containers\/nginx-slim:0\.8$/m);
  });

  it('scale petset and patch petset act on the StatefulSet', async () => {
    assert.match(await k(['scale', 'petset', 'mongo', '--replicas=5']), /petset.apps\/mongo scaled/);
    assert.equal(await k(['get', 'statefulset', 'mongo', '-o', 'jsonpath={.spec.replicas}']), '5');
    assert.match(await k(['patch', 'petset', 'mongo', '-p', '{"spec":{"replicas":3}}']), /petset.apps\/mongo patched/);
    assert.equal(await k(['get', 'statefulset', 'mongo', '-o', 'jsonpath={.spec.replicas}']), '3');
    assert.equal(await k(['get', 'petset', 'mongo', '-o', 'jsonpath={.kind} {.apiVersion} {.spec.replicas}']), 'PetSet apps/v1alpha1 3');
    const all = await k(['get', 'all', '-o', 'name']);
    assert.deepEqual(all.split('\n').filter((l) => l.includes('mongo')), ['statefulset.apps/mongo']);
  });
});
