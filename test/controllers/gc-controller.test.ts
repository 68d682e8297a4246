// The garbage collector against a real API server (memory store): background, foreground and
// orphan propagation, blockOwnerDeletion with a held dependent, owners recreated under the same
// name, and objects with several owners.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type TestServer } from '../support/apiserver.ts';
import { defaultRegistry } from '../../src/registry/index.ts';
import type { KubeObject, OwnerReference } from '../../src/registry/types.ts';
import { KubeClient, isNotFound, resourceOf, type WatchHandle } from '../../src/client/rest.ts';
import { silentLogger } from '../../src/util/log.ts';
import { gcResources, ownerDefOf, startGarbageCollector, type GarbageCollector } from '../../src/controllers/gc/controller.ts';
import { waitUntil } from '../support/wait.ts';

const registry = defaultRegistry();
const CM = resourceOf(registry, 'v1', 'configmaps');
const SECRETS = resourceOf(registry, 'v1', 'secrets');
const SC = resourceOf(registry, 'storage.k8s.io/v1', 'storageclasses');
const NS = 'default';

const waitFor = <T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 5000): Promise<T> => waitUntil(what, fn, { timeoutMs });

function ownerRef(owner: KubeObject, extra: Partial<OwnerReference> = {}): OwnerReference {
  return { apiVersion: owner.apiVersion ?? 'v1', kind: owner.kind ?? 'ConfigMap', name: owner.metadata.name ?? '', uid: owner.metadata.uid ?? '', ...extra };
}

describe('garbage collector against the API server', () => {
  let ts: TestServer;
  let client: KubeClient;
  let gc: GarbageCollector;

  before(async () => {
    ts = await startTestServer();
    client = new KubeClient({ server: ts.url, ca: ts.ca, token: ts.token });
    gc = await startGarbageCollector({ client, registry, logger: silentLogger, syncTimeoutMs: 10_000 });
  });

  after(async () => {
    await gc?.stop();
    client?.close();
    await ts?.stop();
  });

  const cm = (name: string, refs?: OwnerReference[], finalizers?: string[]): Promise<KubeObject> =>
    client.create(CM, { metadata: { name, namespace: NS, ...(refs ? { ownerReferences: refs } : {}), ...(finalizers ? { finalizers } : {}) }, data: { k: name } });
  const secret = (name: string, refs?: OwnerReference[], finalizers?: string[]): Promise<KubeObject> =>
    client.create(SECRETS, { metadata: { name, namespace: NS, ...(refs ? { ownerReferences: refs } : {}), ...(finalizers ? { finalizers } : {}) }, stringData: { k: name } });
  const getOrNull = async (res: typeof CM, name: string): Promise<KubeObject | null> => {
    try {
      return await client.get(res, res.namespaced ? NS : undefined, name);
    } catch (e) {
      if (isNotFound(e)) return null;
      throw e;
    }
  };
  const gone = (res: typeof CM, name: string) => waitFor(`${res.plural}/${name} to be gone`, async () => (await getOrNull(res, name)) === null);

  it('watches every stored kind except events and views', () => {
    const kinds = gcResources(registry).map((d) => `${d.group}/${d.kind}`);
    assert.ok(kinds.includes('/ConfigMap') && kinds.includes('/Pod') && kinds.includes('apps/StatefulSet') && kinds.includes('/Namespace'));
    assert.ok(!kinds.includes('/Event') && !kinds.includes('events.k8s.io/Event'));
    assert.equal(ownerDefOf(registry, 'apps/v1beta2', 'StatefulSet')?.plural, 'statefulsets', 'another version of a served group resolves');
    assert.equal(ownerDefOf(registry, 'example.com/v1', 'Thing'), undefined);
  });

  it('background: deleting an owner removes its dependents and nothing else', async () => {
    const owner = await cm('bg-owner');
    await secret('bg-s1', [ownerRef(owner, { controller: true })]);
    await cm('bg-c1', [ownerRef(owner)]);
    await cm('bg-bystander');
    await client.delete(CM, NS, 'bg-owner');
    await gone(SECRETS, 'bg-s1');
    await gone(CM, 'bg-c1');
    assert.ok(await getOrNull(CM, 'bg-bystander'), 'an object without owners is left alone');
  });

  it('foreground: the owner stays, marked, until its dependents are gone, then goes', async () => {
    const owner = await cm('fg-owner');
    await cm('fg-d1', [ownerRef(owner, { blockOwnerDeletion: true })]);
    await cm('fg-d2', [ownerRef(owner, { blockOwnerDeletion: true })]);
    // Record the order of deletions as the API reports them.
    const order: string[] = [];
    const rv = (await client.list(CM, NS)).metadata.resourceVersion;
    let watch: WatchHandle | null = null;
    try {
      watch = client.watch(CM, NS, { resourceVersion: rv }, (e) => {
        if (e.type === 'DELETED') order.push(e.object.metadata.name ?? '');
      }, () => {});
      const marked = await client.delete(CM, NS, 'fg-owner', { propagationPolicy: 'Foreground' });
      assert.ok(marked.metadata.deletionTimestamp, 'the owner is marked for deletion');
      assert.deepEqual(marked.metadata.finalizers, ['foregroundDeletion']);
      await gone(CM, 'fg-owner');
      await waitFor('the owner’s DELETED event', async () => order.includes('fg-owner'));
      assert.deepEqual(order.slice().sort(), ['fg-d1', 'fg-d2', 'fg-owner']);
      assert.equal(order[2], 'fg-owner', `dependents go first (order: ${order.join(', ')})`);
    } finally {
      watch?.abort();
    }
  });

  it('foreground: a blocking dependent held by its own finalizer holds the owner until released', async () => {
    const owner = await cm('hold-owner');
    await secret('hold-s', [ownerRef(owner, { blockOwnerDeletion: true })], ['example.com/hold']);
    await cm('hold-free', [ownerRef(owner)]);
    await client.delete(CM, NS, 'hold-owner', { propagationPolicy: 'Foreground' });
    // The held dependent is marked for deletion by the collector but stays; the free one goes.
    await waitFor('the held dependent to be marked', async () => (await getOrNull(SECRETS, 'hold-s'))?.metadata.deletionTimestamp);
    await gone(CM, 'hold-free');
    await new Promise((r) => setTimeout(r, 300));
    const stillThere = await getOrNull(CM, 'hold-owner');
    assert.ok(stillThere, 'the owner waits for the blocking dependent');
    assert.ok(stillThere.metadata.deletionTimestamp);
    assert.deepEqual(stillThere.metadata.finalizers, ['foregroundDeletion']);
    // Release the dependent: it goes, and then so does the owner.
    await client.patch(SECRETS, NS, 'hold-s', { metadata: { finalizers: null } }, 'merge');
    await gone(SECRETS, 'hold-s');
    await gone(CM, 'hold-owner');
  });

  it('foreground: dependents without blockOwnerDeletion do not hold the owner', async () => {
    const owner = await cm('nb-owner');
    await secret('nb-s', [ownerRef(owner)], ['example.com/hold']);
    await client.delete(CM, NS, 'nb-owner', { propagationPolicy: 'Foreground' });
    await gone(CM, 'nb-owner');
    // The dependent is still collected (it is held only by its own finalizer).
    const s = await waitFor('the dependent to be marked', async () => {
      const o = await getOrNull(SECRETS, 'nb-s');
      return o?.metadata.deletionTimestamp ? o : undefined;
    });
    assert.deepEqual(s.metadata.finalizers, ['example.com/hold']);
    await client.patch(SECRETS, NS, 'nb-s', { metadata: { finalizers: null } }, 'merge');
    await gone(SECRETS, 'nb-s');
  });

  it('orphan: the owner goes and its dependents stay without the reference', async () => {
    const owner = await cm('or-owner');
    const other = await cm('or-other');
    await cm('or-d1', [ownerRef(owner, { controller: true, blockOwnerDeletion: true })]);
    await secret('or-d2', [ownerRef(owner), ownerRef(other)]);
    const marked = await client.delete(CM, NS, 'or-owner', { propagationPolicy: 'Orphan' });
    assert.deepEqual(marked.metadata.finalizers, ['orphan']);
    await gone(CM, 'or-owner');
    const d1 = await getOrNull(CM, 'or-d1');
    const d2 = await getOrNull(SECRETS, 'or-d2');
    assert.ok(d1 && d2, 'dependents stay');
    assert.equal(d1.metadata.ownerReferences, undefined, 'the only reference is removed');
    assert.deepEqual(d2.metadata.ownerReferences?.map((r) => r.name), ['or-other'], 'only the orphaning owner’s reference is removed');
    // And they are not collected later on account of the owner being gone.
    await new Promise((r) => setTimeout(r, 300));
    assert.ok(await getOrNull(CM, 'or-d1'));
    assert.ok(await getOrNull(SECRETS, 'or-d2'));
  });

  it('an object whose owner was recreated with the same name (other uid) is collected', async () => {
    const first = await cm('rc-owner');
    await client.delete(CM, NS, 'rc-owner');
    await gone(CM, 'rc-owner');
    const second = await cm('rc-owner');
    assert.notEqual(second.metadata.uid, first.metadata.uid);
    await cm('rc-stale', [ownerRef(first)]);
    await cm('rc-current', [ownerRef(second)]);
    await gone(CM, 'rc-stale');
    await new Promise((r) => setTimeout(r, 200));
    assert.ok(await getOrNull(CM, 'rc-current'), 'a reference to the live owner keeps its object');
    assert.ok(await getOrNull(CM, 'rc-owner'));
  });

  it('an object with two owners, one gone: only the dangling reference is removed', async () => {
    const a = await cm('two-a');
    const b = await cm('two-b');
    await secret('two-d', [ownerRef(a), ownerRef(b, { controller: true })]);
    await client.delete(CM, NS, 'two-b');
    const d = await waitFor('the dangling reference to be removed', async () => {
      const o = await getOrNull(SECRETS, 'two-d');
      return o && o.metadata.ownerReferences?.length === 1 ? o : undefined;
    });
    assert.deepEqual(d.metadata.ownerReferences, [ownerRef(a)]);
    // (Removing a field gives the collector no field ownership: it does not appear in managedFields.)
    // Deleting the last owner then collects it.
    await client.delete(CM, NS, 'two-a');
    await gone(SECRETS, 'two-d');
  });

  it('an object created with a reference to an owner that never existed is collected', async () => {
    await cm('ghost-d', [{ apiVersion: 'v1', kind: 'ConfigMap', name: 'ghost', uid: '00000000-0000-0000-0000-000000000001' }]);
    await gone(CM, 'ghost-d');
  });

  it('a cluster-scoped owner of namespaced dependents; unresolvable references keep their objects', async () => {
    const sc = await client.create(SC, { metadata: { name: 'gc-owner-class' }, provisioner: 'example.com/none' });
    await cm('cs-d', [ownerRef(sc)]);
    // A cluster-scoped object naming a namespaced owner, and one naming a kind nobody serves.
    const nsOwner = await cm('cs-ns-owner');
    await client.create(SC, { metadata: { name: 'gc-bad-ref', ownerReferences: [ownerRef(nsOwner)] }, provisioner: 'example.com/none' });
    await cm('cs-unknown', [{ apiVersion: 'example.com/v1', kind: 'Thing', name: 't', uid: '00000000-0000-0000-0000-000000000002' }]);
    await client.delete(SC, undefined, 'gc-owner-class');
    await gone(CM, 'cs-d');
    await client.delete(CM, NS, 'cs-ns-owner');
    await gone(CM, 'cs-ns-owner');
    await new Promise((r) => setTimeout(r, 300));
    assert.ok(await getOrNull(SC, 'gc-bad-ref'), 'a cluster-scoped dependent of a namespaced owner is not collected');
    assert.ok(await getOrNull(CM, 'cs-unknown'), 'a reference to an unserved kind is kept');
    assert.ok(gc.graphSize() > 0);
  });
});
