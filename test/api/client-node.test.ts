// The official JavaScript client (@kubernetes/client-node) against the API server: list, watch,
// create and patch as an application would use them.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as k8s from '@kubernetes/client-node';
import { startTestServer, type TestServer } from '../support/apiserver.ts';

describe('@kubernetes/client-node', () => {
  let s: TestServer;
  let kc: k8s.KubeConfig;
  before(async () => {
    s = await startTestServer();
    kc = new k8s.KubeConfig();
    kc.loadFromFile(s.kubeconfig);
  });
  after(async () => {
    await s.stop();
  });

  it('creates, lists, patches and reads typed objects', async () => {
    const core = kc.makeApiClient(k8s.CoreV1Api);
    const created = await core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: 'from-client', labels: { app: 'x' } }, data: { k: 'v' } } });
    assert.equal(created.metadata?.name, 'from-client');
    assert.ok(created.metadata?.creationTimestamp instanceof Date);
    const list = await core.listNamespacedConfigMap({ namespace: 'default', labelSelector: 'app=x' });
    assert.deepEqual(list.items.map((c) => c.metadata?.name), ['from-client']);
    const patched = await core.patchNamespacedConfigMap(
      { namespace: 'default', name: 'from-client', body: { data: { k: 'patched' } } },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
    );
    assert.equal(patched.data?.k, 'patched');
    const apps = kc.makeApiClient(k8s.AppsV1Api);
    const sts = await apps.createNamespacedStatefulSet({
      namespace: 'default',
      body: {
        metadata: { name: 'db' },
        spec: {
          serviceName: 'db',
          selector: { matchLabels: { app: 'db' } },
          template: { metadata: { labels: { app: 'db' } }, spec: { containers: [{ name: 'db', image: 'postgres:16' }] } },
        },
      },
    });
    assert.equal(sts.spec?.replicas, 1);
    assert.equal(sts.spec?.podManagementPolicy, 'OrderedReady');
    await assert.rejects(core.readNamespacedConfigMap({ namespace: 'default', name: 'missing' }), (e: unknown) => {
      assert.equal((e as { code?: number }).code, 404);
      return true;
    });
  });

  it('watches with the Watch helper', async () => {
    const core = kc.makeApiClient(k8s.CoreV1Api);
    const list = await core.listNamespacedConfigMap({ namespace: 'default' });
    const seen: string[] = [];
    const watch = new k8s.Watch(kc);
    const got = new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`watch saw only ${seen.join(',')}`)), 5000);
      void watch
        .watch(
          '/api/v1/namespaces/default/configmaps',
          { resourceVersion: list.metadata?.resourceVersion },
          (type: string, obj: k8s.V1ConfigMap) => {
            seen.push(`${type} ${obj.metadata?.name}`);
            if (seen.length === 2) {
              clearTimeout(t);
              resolve();
            }
          },
          () => {},
        )
        .then((ctl) => got.finally(() => ctl.abort()));
    });
    await core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: 'watched' } } });
    await core.deleteNamespacedConfigMap({ namespace: 'default', name: 'watched' });
    await got;
    assert.deepEqual(seen, ['ADDED watched', 'DELETED watched']);
  });
});
