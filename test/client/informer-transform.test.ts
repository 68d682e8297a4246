// Informer transforms (InformerOptions.transform, as client-go's SetTransform): applied to every
// object of the list and of the watch, deletions included, before it is cached, indexed and
// handed to handlers; dropManagedFields keeps everything but metadata.managedFields.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type TestServer } from '../support/apiserver.ts';
import { defaultRegistry } from '../../src/registry/index.ts';
import type { KubeObject } from '../../src/registry/types.ts';
import { KubeClient, resourceOf } from '../../src/client/rest.ts';
import { Informer, dropManagedFields } from '../../src/client/informer.ts';
import { waitUntil } from '../support/wait.ts';

const registry = defaultRegistry();
const CM = resourceOf(registry, 'v1', 'configmaps');
const NS = resourceOf(registry, 'v1', 'namespaces');

describe('Informer transform', () => {
  let s: TestServer;
  let client: KubeClient;
  const informers: Informer[] = [];

  before(async () => {
    s = await startTestServer();
    client = new KubeClient({ server: s.url, ca: s.ca, token: s.token }, { fieldManager: 'transform-test' });
    await client.create(NS, { metadata: { name: 'tf' } });
  });
  after(async () => {
    for (const i of informers) await i.stop();
    client.close();
    await s.stop();
  });

  it('dropManagedFields drops metadata.managedFields and nothing else', () => {
    const obj: KubeObject = {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'a', namespace: 'ns', resourceVersion: '7', labels: { x: 'y' }, managedFields: [{ manager: 'm', operation: 'Update' }] },
      data: { k: 'v' },
    };
    const out = dropManagedFields(obj);
    assert.deepEqual(out, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'a', namespace: 'ns', resourceVersion: '7', labels: { x: 'y' } }, data: { k: 'v' } });
    assert.equal('managedFields' in out.metadata, false);
    const plain: KubeObject = { metadata: { name: 'b' } };
    assert.equal(dropManagedFields(plain), plain);
    assert.deepEqual(plain, { metadata: { name: 'b' } });
  });

  it('transforms listed and watched objects before the cache, the indexes and the handlers see them', async () => {
    await client.create(CM, { metadata: { name: 'listed', namespace: 'tf', labels: { app: 'a' } }, data: { v: '1' } });
    const seen: string[] = [];
    const transformed: string[] = [];
    const inf = new Informer<KubeObject>(client, CM, {
      namespace: 'tf',
      indexers: { app: (o) => [String(o.metadata.labels?.app ?? '')] },
      transform: (o) => {
        transformed.push(o.metadata.name ?? '');
        // Handlers and indexes must see the transformed object.
        return { ...dropManagedFields(o), metadata: { ...dropManagedFields(o).metadata, labels: { ...o.metadata.labels, app: 'mapped' } } };
      },
    });
    informers.push(inf);
    const check = (o: KubeObject, what: string): void => {
      assert.equal(o.metadata.managedFields, undefined, `${what}: managedFields dropped`);
      assert.equal(o.metadata.labels?.app, 'mapped', `${what}: transformed`);
      seen.push(`${what}:${o.metadata.name}`);
    };
    inf.addEventHandler({
      onAdd: (o) => check(o, 'add'),
      onUpdate: (a, b) => {
        check(a, 'update-old');
        check(b, 'update');
      },
      onDelete: (o) => check(o, 'delete'),
    });
    inf.start();
    await inf.waitForSync({ timeoutMs: 5000 });
    // The server keeps managedFields: only the informer's copy lacks them.
    assert.ok(((await client.get(CM, 'tf', 'listed')).metadata.managedFields ?? []).length > 0);
    const cached = inf.get('tf', 'listed')!;
    assert.equal(cached.metadata.managedFields, undefined);
    assert.equal(cached.metadata.resourceVersion !== undefined, true);
    assert.deepEqual(cached.data, { v: '1' });
    assert.deepEqual(inf.byIndex('app', 'mapped').map((o) => o.metadata.name), ['listed']);
    assert.deepEqual(inf.byIndex('app', 'a'), []);

    await client.create(CM, { metadata: { name: 'watched', namespace: 'tf', labels: { app: 'b' } }, data: { v: '1' } });
    await client.patch(CM, 'tf', 'watched', { data: { v: '2' } });
    await client.delete(CM, 'tf', 'watched');
    await waitUntil('the watch events', () => seen.includes('delete:watched'), { timeoutMs: 5000, everyMs: 10 });
    assert.deepEqual(seen, ['add:listed', 'add:watched', 'update-old:watched', 'update:watched', 'delete:watched']);
    assert.deepEqual(transformed, ['listed', 'watched', 'watched', 'watched']);
    assert.equal(inf.get('tf', 'watched'), undefined);
  });
});
