// The watch cache's deferred subscribers (what API watches use): events come after the
// acknowledgements of the writes that caused them, each subscriber gets a turn's events in one
// pass followed by onFlush, in revision order, and a subscription made while a pass is pending
// gets every event exactly once.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { openStore } from '../../src/store/index.ts';
import type { Store } from '../../src/store/types.ts';
import { WatchCache, type CacheEvent } from '../../src/api/watchcache.ts';
import { silentLogger } from '../../src/util/log.ts';

const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('watch cache: deferred subscribers', () => {
  let store: Store;
  let cache: WatchCache;
  before(async () => {
    store = await openStore({ backend: 'memory' });
    cache = new WatchCache(store, silentLogger);
    await cache.start();
  });
  after(async () => {
    cache.stop();
    await store.close();
  });

  it('hand events over after the writes were acknowledged, in one pass per turn', async () => {
    const order: string[] = [];
    const rev0 = await store.currentRevision();
    const sub = cache.subscribe('/registry/t/d1/', rev0, (e) => order.push(`event ${e.key}`), () => order.push('error'), { deferred: true, onFlush: () => order.push('flush') });
    const immediate = cache.subscribe('/registry/t/d1/', rev0, (e) => order.push(`immediate ${e.key}`), () => {});
    try {
      await Promise.all([
        store.create('/registry/t/d1/a', '{"metadata":{"name":"a"}}').then(() => order.push('ack a')),
        store.create('/registry/t/d1/b', '{"metadata":{"name":"b"}}').then(() => order.push('ack b')),
      ]);
      await turn();
      await turn();
      const deferred = order.filter((x) => !x.startsWith('immediate'));
      assert.deepEqual(deferred, ['ack a', 'ack b', 'event /registry/t/d1/a', 'event /registry/t/d1/b', 'flush']);
      // An ordinary subscriber still gets them in the store's dispatch, before the deferred pass.
      assert.ok(order.indexOf('immediate /registry/t/d1/b') < order.indexOf('event /registry/t/d1/a'));
    } finally {
      sub.close();
      immediate.close();
    }
  });

  it('a subscription made while a pass is pending gets each event once', async () => {
    const rev0 = await store.currentRevision();
    const early: number[] = [];
    const late: number[] = [];
    const lateFlushes: number[] = [];
    const subA = cache.subscribe('/registry/t/d2/', rev0, (e: CacheEvent) => early.push(e.rev), () => {}, { deferred: true });
    const w1 = await store.create('/registry/t/d2/x', '{"metadata":{"name":"x"}}');
    // The event is in the cache now, its deferred pass not yet run: subscribe from before it.
    let subB = cache.subscribe('/registry/t/d2/', rev0, (e: CacheEvent) => late.push(e.rev), () => {}, { deferred: true, onFlush: () => lateFlushes.push(late.length) });
    assert.deepEqual(late, [w1.modRevision], 'replayed at once');
    assert.deepEqual(lateFlushes, [1], 'and flushed');
    await turn();
    await turn();
    const w2 = await store.update('/registry/t/d2/x', '{"metadata":{"name":"x","labels":{"a":"b"}}}', w1.modRevision);
    await turn();
    await turn();
    assert.deepEqual(early, [w1.modRevision, w2.modRevision]);
    assert.deepEqual(late, [w1.modRevision, w2.modRevision], 'no duplicate of the replayed event');
    assert.deepEqual(lateFlushes, [1, 2]);
    subA.close();
    subB.close();
    // Closed subscribers get nothing more.
    await store.delete('/registry/t/d2/x');
    await turn();
    await turn();
    assert.equal(late.length, 2);
    subB = cache.subscribe('/registry/t/d2/', w2.modRevision, (e: CacheEvent) => late.push(e.rev), () => {}, { deferred: true });
    assert.equal(late.length, 3, 'the delete replays to a new subscriber');
    subB.close();
  });
});
