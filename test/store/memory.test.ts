import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { runStoreContract } from './contract.ts';
import { MemoryStore, openMemoryStore } from '../../src/store/memory.ts';
import { isStoreError } from '../../src/store/types.ts';

runStoreContract('memory', async () => {
  const store = await openMemoryStore();
  return { store, cleanup: () => store.close() };
});

describe('memory store', () => {
  it('rejects calls after close with Unavailable', async () => {
    const store = new MemoryStore();
    await store.create('a', '1');
    await store.close();
    await assert.rejects(store.get('a'), (e: unknown) => isStoreError(e, 'Unavailable'));
    await assert.rejects(store.create('b', '1'), (e: unknown) => isStoreError(e, 'Unavailable'));
  });

  it('compaction keeps the latest value of every key and drops deleted ones', async () => {
    const store = new MemoryStore();
    const a = await store.create('a', '1');
    await store.update('a', '2', a.modRevision);
    await store.create('b', '1');
    await store.delete('b');
    const rev = await store.currentRevision();
    await store.compact(rev);
    assert.deepEqual((await store.list('')).items.map((i) => [i.key, i.value]), [['a', '2']]);
    assert.deepEqual((await store.list('', { revision: rev })).items.map((i) => i.key), ['a']);
    const b = await store.create('b', 'again');
    assert.equal(b.createRevision, rev + 1);
    await store.close();
  });
});
