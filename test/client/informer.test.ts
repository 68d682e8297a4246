// Informers against a real API server: list, live events, indexes, selectors, and recovery
// after the watch breaks (410 Expired → relist, deletions missed while disconnected).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type TestServer } from '../support/apiserver.ts';
import { openStore } from '../../src/store/index.ts';
import { StoreError, type KeyValue, type ListOptions, type ListResult, type Store, type WatchErrorHandler, type WatchHandler, type Watcher } from '../../src/store/types.ts';
import { defaultRegistry } from '../../src/registry/index.ts';
import type { KubeObject } from '../../src/registry/types.ts';
import { KubeClient, resourceOf, resourceRef, type ResourceRef } from '../../src/client/rest.ts';
import { Informer, InformerFactory, CONTROLLER_INDEX, NODE_NAME_INDEX, freezeCacheFromEnv, type EventHandler } from '../../src/client/informer.ts';

const registry = defaultRegistry();
const CM = resourceOf(registry, 'v1', 'configmaps');
const PODS = resourceOf(registry, 'v1', 'pods');
const NS = resourceOf(registry, 'v1', 'namespaces');

/**
 * A store whose watches the test can cut: pause() drops every event on the floor (the API
 * server's watch cache is "disconnected"), breakWatches() fails them with Compacted, as a
 * store does when compaction outruns a watcher. The watch cache then tells every API watch to
 * relist with a 410.
 */
class BreakableStore implements Store {
  paused = false;
  private readonly watches = new Set<{ closed: boolean; inner: Watcher; onError: WatchErrorHandler }>();
  constructor(private readonly inner: Store) {}
  currentRevision(): Promise<number> {
    return this.inner.currentRevision();
  }
  get(key: string): Promise<KeyValue | null> {
    return this.inner.get(key);
  }
  list(prefix: string, opts?: ListOptions): Promise<ListResult> {
    return this.inner.list(prefix, opts);
  }
  create(key: string, value: string): Promise<KeyValue> {
    return this.inner.create(key, value);
  }
  update(key: string, value: string, expectedModRevision: number): Promise<KeyValue> {
    return this.inner.update(key, value, expectedModRevision);
  }
  delete(key: string, expectedModRevision?: number): Promise<KeyValue & { deleteRevision: number }> {
    return this.inner.delete(key, expectedModRevision);
  }
  compact(revision: number): Promise<void> {
    return this.inner.compact(revision);
  }
  compactedRevision(): Promise<number> {
    return this.inner.compactedRevision();
  }
  close(): Promise<void> {
    return this.inner.close();
  }
  watch(prefix: string, afterRevision: number, onEvents: WatchHandler, onError: WatchErrorHandler): Watcher {
    const entry = { closed: false, inner: null as unknown as Watcher, onError };
    entry.inner = this.inner.watch(
      prefix,
      afterRevision,
      (evs) => {
        if (!entry.closed && !this.paused) onEvents(evs);
      },
      (err) => {
        if (!entry.closed) onError(err);
      },
    );
    this.watches.add(entry);
    return {
      close: () => {
        entry.closed = true;
        entry.inner.close();
        this.watches.delete(entry);
      },
    };
  }
  /** Compact everything and fail every watch with Compacted; events flow again afterwards. */
  async breakWatches(): Promise<void> {
    const rev = await this.inner.currentRevision();
    await this.inner.compact(rev);
    const ws = [...this.watches];
    this.watches.clear();
    this.paused = false;
    for (const w of ws) {
      w.closed = true;
      w.inner.close();
      w.onError(new StoreError('Compacted', `revision has been compacted`, { compactRevision: rev }));
    }
  }
}

async function eventually(what: string, fn: () => boolean, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!fn()) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

type Ev = [string, string, ...unknown[]];

/** A handler that records events as [type, key, extra…]. */
function recorder(): { events: Ev[]; handler: EventHandler<KubeObject> } {
  const events: Ev[] = [];
  const key = (o: KubeObject) => `${o.metadata.namespace ? o.metadata.namespace + '/' : ''}${o.metadata.name}`;
  return {
    events,
    handler: {
      onAdd: (o, initial) => events.push(['add', key(o), initial]),
      onUpdate: (a, b) => events.push(['update', key(b), (a.data as Record<string, string> | undefined)?.v, (b.data as Record<string, string> | undefined)?.v]),
      onDelete: (o, unknown) => events.push(['delete', key(o), unknown]),
    },
  };
}

function cm(name: string, ns = 'default', v = '1', labels?: Record<string, string>): KubeObject {
  return { metadata: { name, namespace: ns, ...(labels ? { labels } : {}) }, data: { v } };
}

describe('Informer', () => {
  let s: TestServer;
  let store: BreakableStore;
  let client: KubeClient;
  const informers: Informer[] = [];
  const informer = (res: ResourceRef = CM, opts: ConstructorParameters<typeof Informer>[2] = {}): Informer => {
    const i = new Informer(client, res, { backoff: { initialMs: 20, maxMs: 200 }, ...opts });
    informers.push(i);
    return i;
  };

  before(async () => {
    store = new BreakableStore(await openStore({ backend: 'memory' }));
    s = await startTestServer({ store });
    client = new KubeClient({ server: s.url, ca: s.ca, token: s.token });
    await client.create(NS, { metadata: { name: 'inf-a' } });
    await client.create(NS, { metadata: { name: 'inf-b' } });
  });
  after(async () => {
    for (const i of informers) await i.stop();
    client.close();
    await s.stop();
    await store.close();
  });

  it('lists in pages, delivers the initial objects as adds, then follows live changes', async () => {
    for (let i = 0; i < 5; i++) await client.create(CM, cm(`init-${i}`, 'inf-a'));
    const inf = informer(CM, { namespace: 'inf-a', pageSize: 2 });
    const r = recorder();
    inf.addEventHandler(r.handler);
    assert.equal(inf.hasSynced(), false);
    inf.start();
    await inf.waitForSync({ timeoutMs: 5000 });
    assert.equal(inf.hasSynced(), true);
    assert.equal(inf.lists, 1);
    assert.deepEqual(inf.keys().sort(), ['inf-a/init-0', 'inf-a/init-1', 'inf-a/init-2', 'inf-a/init-3', 'inf-a/init-4']);
    assert.deepEqual(r.events.map((e) => e[0] + ':' + String(e[2])), Array(5).fill('add:true'));
    assert.ok(Number(inf.lastSyncResourceVersion()) > 0);

    r.events.length = 0;
    await client.create(CM, cm('live', 'inf-a', '1'));
    await client.create(CM, cm('elsewhere', 'inf-b', '1')); // other namespace: not seen
    await client.patch(CM, 'inf-a', 'live', { data: { v: '2' } });
    await client.delete(CM, 'inf-a', 'live');
    await eventually('3 live events', () => r.events.length >= 3);
    assert.deepEqual(r.events, [
      ['add', 'inf-a/live', false],
      ['update', 'inf-a/live', '1', '2'],
      ['delete', 'inf-a/live', false],
    ]);
    assert.equal(inf.get('inf-a', 'live'), undefined);
    assert.equal(inf.get('inf-b', 'elsewhere'), undefined);
    assert.equal((inf.get('inf-a', 'init-3')?.data as { v: string }).v, '1');
  });

  it('keeps namespace, controller-owner, node and custom indexes current', async () => {
    const inf = informer(PODS, { indexers: { app: (o) => (o.metadata.labels?.app ? [o.metadata.labels.app] : []) } });
    inf.start();
    await inf.waitForSync({ timeoutMs: 5000 });
    const owner = { apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'web', uid: '11111111-2222-3333-4444-555555555555', controller: true };
    const pod = (name: string, ns: string, app: string, withOwner: boolean): KubeObject => ({
      metadata: { name, namespace: ns, labels: { app }, ...(withOwner ? { ownerReferences: [owner] } : {}) },
      spec: { containers: [{ name: 'c', image: 'busybox' }] },
    });
    await client.create(PODS, pod('web-0', 'inf-a', 'web', true));
    await client.create(PODS, pod('web-1', 'inf-a', 'web', true));
    await client.create(PODS, pod('db-0', 'inf-b', 'db', false));
    await eventually('3 pods', () => inf.size === 3);

    const names = (xs: KubeObject[]) => xs.map((o) => o.metadata.name).sort();
    assert.deepEqual(names(inf.listByNamespace('inf-a')), ['web-0', 'web-1']);
    assert.deepEqual(names(inf.listByNamespace('inf-b')), ['db-0']);
    assert.deepEqual(names(inf.listByController(owner.uid)), ['web-0', 'web-1']);
    assert.deepEqual(names(inf.byIndex('app', 'db')), ['db-0']);
    assert.deepEqual(inf.listByNodeName('node-1'), []);

    await client.bindPod('inf-a', 'web-0', 'node-1');
    await client.patch(PODS, 'inf-b', 'db-0', { metadata: { labels: { app: 'cache' } } });
    await client.patch(PODS, 'inf-a', 'web-1', { metadata: { ownerReferences: null } });
    await eventually('index updates', () => inf.listByNodeName('node-1').length === 1 && inf.byIndex('app', 'cache').length === 1 && inf.listByController(owner.uid).length === 1);
    assert.deepEqual(names(inf.byIndex(NODE_NAME_INDEX, 'node-1')), ['web-0']);
    assert.deepEqual(inf.byIndex('app', 'db'), [], 'the old index value no longer lists the pod');
    assert.deepEqual(inf.indexKeys(CONTROLLER_INDEX, owner.uid), ['inf-a/web-0']);

    await client.delete(PODS, 'inf-a', 'web-0', { gracePeriodSeconds: 0 });
    await eventually('web-0 gone', () => inf.listByNodeName('node-1').length === 0);
    assert.deepEqual(inf.listByController(owner.uid), []);
    assert.throws(() => inf.byIndex('nope', 'x'), /no index nope/);

    // An index added after start covers the cached objects.
    inf.addIndexer('name', (o) => [o.metadata.name ?? '']);
    assert.deepEqual(names(inf.byIndex('name', 'db-0')), ['db-0']);
  });

  it('relists after a 410: changes missed while disconnected arrive as adds, updates and deletes', async () => {
    await client.create(CM, cm('keep', 'inf-b', '1'));
    await client.create(CM, cm('change', 'inf-b', '1'));
    await client.create(CM, cm('doomed', 'inf-b', '1'));
    const inf = informer(CM, { namespace: 'inf-b' });
    const r = recorder();
    inf.addEventHandler(r.handler);
    inf.start();
    await inf.waitForSync({ timeoutMs: 5000 });
    const keepBefore = inf.get('inf-b', 'keep');
    r.events.length = 0;

    // Disconnect: the server's watch cache hears nothing while these happen.
    store.paused = true;
    await client.create(CM, cm('born', 'inf-b', '1'));
    await client.patch(CM, 'inf-b', 'change', { data: { v: '2' } });
    await client.delete(CM, 'inf-b', 'doomed');
    await new Promise((res) => setTimeout(res, 50));
    assert.equal(r.events.length, 0, 'nothing is delivered while the watch hears nothing');

    // The store compacts and fails its watches: every API watch gets ERROR 410 → relist.
    await store.breakWatches();
    await eventually('the relist', () => inf.lists === 2 && r.events.length >= 3);
    assert.deepEqual(
      [...r.events].sort((a, b) => a[1].localeCompare(b[1])),
      [
        ['add', 'inf-b/born', false],
        ['update', 'inf-b/change', '1', '2'],
        ['delete', 'inf-b/doomed', true],
      ],
    );
    assert.equal(inf.get('inf-b', 'keep'), keepBefore, 'an unchanged object keeps its cached instance and gets no event');
    assert.equal(inf.get('inf-b', 'doomed'), undefined);

    // And the new watch is live.
    r.events.length = 0;
    await client.delete(CM, 'inf-b', 'keep');
    await eventually('live delete after the relist', () => r.events.length === 1);
    assert.deepEqual(r.events[0], ['delete', 'inf-b/keep', false]);
  });

  it('honours label and field selectors: objects leaving the selection are deleted', async () => {
    const inf = informer(CM, { namespace: 'inf-a', labelSelector: 'tier=front', fieldSelector: 'metadata.name!=skip-me' });
    const r = recorder();
    inf.addEventHandler(r.handler);
    inf.start();
    await inf.waitForSync({ timeoutMs: 5000 });
    await client.create(CM, cm('sel-1', 'inf-a', '1', { tier: 'front' }));
    await client.create(CM, cm('sel-2', 'inf-a', '1', { tier: 'back' }));
    await client.create(CM, cm('skip-me', 'inf-a', '1', { tier: 'front' }));
    await eventually('sel-1', () => inf.size === 1);
    await client.patch(CM, 'inf-a', 'sel-1', { metadata: { labels: { tier: 'back' } } });
    await client.patch(CM, 'inf-a', 'sel-2', { metadata: { labels: { tier: 'front' } } });
    await eventually('selection moves', () => inf.keys().join() === 'inf-a/sel-2');
    assert.deepEqual(r.events, [
      ['add', 'inf-a/sel-1', false],
      ['delete', 'inf-a/sel-1', false],
      ['add', 'inf-a/sel-2', false],
    ]);
  });

  it('replays the cache to a late handler, resyncs periodically, and freezes cached objects', async () => {
    await client.create(CM, cm('late-1', 'inf-b', '1'));
    const inf = informer(CM, { namespace: 'inf-b', resyncPeriodMs: 100, freeze: true });
    inf.start();
    await inf.waitForSync({ timeoutMs: 5000 });
    const r = recorder();
    inf.addEventHandler(r.handler);
    assert.ok(r.events.some((e) => e[0] === 'add' && e[1] === 'inf-b/late-1' && e[2] === true));
    await eventually('a resync', () => r.events.some((e) => e[0] === 'update' && e[1] === 'inf-b/late-1' && e[2] === e[3]), 2000);
    const obj = inf.get('inf-b', 'late-1')!;
    assert.throws(() => {
      (obj.metadata as { name?: string }).name = 'mutated';
    }, TypeError);
  });

  it('stops: no events after stop(), and waitForSync rejects for a stopped informer', async () => {
    const inf = informer(CM, { namespace: 'inf-a' });
    const r = recorder();
    inf.addEventHandler(r.handler);
    inf.start();
    await inf.waitForSync({ timeoutMs: 5000 });
    await inf.stop();
    r.events.length = 0;
    await client.create(CM, cm('after-stop', 'inf-a'));
    await new Promise((res) => setTimeout(res, 100));
    assert.equal(r.events.length, 0);
    const never = new Informer(client, CM, {});
    await never.stop();
    await assert.rejects(never.waitForSync(), /stopped before it synced/);
  });

  it('retries a failing list with backoff and does not report synced', async () => {
    const inf = informer(resourceRef('example.com/v1', 'widgets', true));
    inf.start();
    await assert.rejects(inf.waitForSync({ timeoutMs: 300 }), /did not sync within 300 ms/);
    assert.equal(inf.hasSynced(), false);
    assert.equal(inf.lists, 0);
    const t0 = Date.now();
    await inf.stop();
    assert.ok(Date.now() - t0 < 1000, 'stop ends the backoff sleep at once');
  });

  it('an InformerFactory shares one informer per resource and selection', async () => {
    const f = new InformerFactory(client, { backoff: { initialMs: 20 } });
    try {
      const a = f.informer(CM, { namespace: 'inf-a' });
      const b = f.informer(CM, { namespace: 'inf-a' });
      const c = f.informer(CM, { namespace: 'inf-b' });
      assert.equal(a, b);
      assert.notEqual(a, c);
      f.start();
      const late = f.informer(PODS);
      await f.waitForSync({ timeoutMs: 5000 });
      assert.ok(late.hasSynced(), 'an informer made after start() is started too');
      assert.ok(a.size > 0);
    } finally {
      await f.stop();
    }
  });

  it('a shared factory: scoped views start it, wait for their own informers, and never stop it', async () => {
    await client.create(NS, { metadata: { name: 'inf-shared' } });
    await client.create(CM, cm('shared-1', 'inf-shared'));
    const f = new InformerFactory(client, { backoff: { initialMs: 20, maxMs: 200 } });
    try {
      // Component 1 asks for a kind that cannot be listed: its wait fails, component 2's not.
      const one = f.scoped();
      const broken = one.informer(resourceRef('example.com/v1', 'gadgets', true));
      const cms1 = one.informer(CM, { namespace: 'inf-shared' });
      one.start();
      one.start();
      const two = f.scoped();
      const cms2 = two.informer(CM, { namespace: 'inf-shared' });
      assert.equal(cms1, cms2, 'one informer for both');
      two.start();
      await two.waitForSync({ timeoutMs: 5000 });
      await assert.rejects(one.waitForSync({ timeoutMs: 200 }), /did not sync within 200 ms/);
      assert.equal(broken.hasSynced(), false);
      assert.equal(cms1.lists, 1, 'started once, listed once');

      // A handler added after the first list gets every cached object as an initial add.
      const r = recorder();
      const unregister = cms2.addEventHandler(r.handler);
      assert.deepEqual(r.events, [['add', 'inf-shared/shared-1', true]]);

      // Indexes of two components coexist; the same function under a taken name is a no-op
      // (a restarted controller), another function under it throws.
      const byV = (o: KubeObject): string[] => [String((o.data as Record<string, string> | undefined)?.v ?? '')];
      const byName = (o: KubeObject): string[] => [o.metadata.name ?? ''];
      cms1.addIndexer('test/one-by-v', byV);
      cms2.addIndexer('test/two-by-name', byName);
      cms2.addIndexer('test/one-by-v', byV);
      assert.throws(() => cms2.addIndexer('test/one-by-v', byName), /already has another index named test\/one-by-v/);
      assert.deepEqual(cms1.indexKeys('test/one-by-v', '1'), ['inf-shared/shared-1']);
      assert.deepEqual(cms1.indexKeys('test/two-by-name', 'shared-1'), ['inf-shared/shared-1']);

      // Stopping a view stops nothing: the shared informer follows changes.
      await one.stop();
      await client.create(CM, cm('shared-2', 'inf-shared', '2'));
      await eventually('the shared informer to see shared-2', () => r.events.some((e) => e[0] === 'add' && e[1] === 'inf-shared/shared-2'));
      assert.deepEqual(cms2.indexKeys('test/one-by-v', '2'), ['inf-shared/shared-2']);
      unregister();

      // The owner's stop() ends every informer; no new informer after it.
      await f.stop();
      await assert.rejects(cms1.waitForSync().then(() => broken.waitForSync()), /stopped before it synced/);
      assert.throws(() => f.informer(PODS), /factory stopped/);
    } finally {
      await f.stop();
    }
  });

  it('KENNEL_FREEZE_CACHE=1 freezes every informer\'s cache by default', () => {
    assert.equal(freezeCacheFromEnv({ KENNEL_FREEZE_CACHE: '1' }), true);
    assert.equal(freezeCacheFromEnv({ KENNEL_FREEZE_CACHE: 'true' }), true);
    assert.equal(freezeCacheFromEnv({ KENNEL_FREEZE_CACHE: '0' }), false);
    assert.equal(freezeCacheFromEnv({}), false);
  });
});
