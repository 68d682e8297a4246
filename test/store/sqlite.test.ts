import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runStoreContract } from './contract.ts';
import { openSqliteStore, SqliteStore } from '../../src/store/sqlite.ts';
import { openStore } from '../../src/store/index.ts';
import { isStoreError, MAX_VALUE_BYTES } from '../../src/store/types.ts';
import type { Store } from '../../src/store/types.ts';

const dirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'kennel-sqlite-'));
  dirs.push(d);
  return d;
}
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

runStoreContract('sqlite', async () => {
  const dir = tempDir();
  const path = join(dir, 'store.db');
  const opened: Store[] = [];
  const store = await openSqliteStore({ path });
  opened.push(store);
  return {
    store,
    reopen: async () => {
      const s = await openSqliteStore({ path });
      opened.push(s);
      return s;
    },
    cleanup: async () => {
      for (const s of opened) await s.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});

function fresh(): { path: string } {
  return { path: join(tempDir(), 'store.db') };
}

describe('sqlite store', () => {
  it('group commit: 200 concurrent writes go into a few transactions', async () => {
    const store = await openSqliteStore(fresh());
    try {
      const before = store.stats();
      const r0 = await store.currentRevision();
      const res = await Promise.all(Array.from({ length: 200 }, (_, i) => store.create(`g/${i}`, `v${i}`)));
      const after = store.stats();
      assert.equal(after.writes - before.writes, 200);
      assert.ok(after.batches - before.batches <= 5, `200 writes took ${after.batches - before.batches} transactions`);
      // Each request got its own revision and result, in request order.
      assert.deepEqual(
        res.map((r) => r.modRevision),
        Array.from({ length: 200 }, (_, i) => r0 + 1 + i),
      );
    } finally {
      await store.close();
    }
  });

  it('CAS checks inside one batch see the earlier writes of the same batch', async () => {
    const store = await openSqliteStore(fresh());
    try {
      const a = await store.create('b/a', '0');
      const batches = store.stats().batches;
      // Queued in the same tick, so they share one transaction.
      const results = await Promise.allSettled([
        store.update('b/a', '1', a.modRevision),
        store.update('b/a', '2', a.modRevision), // conflicts with the first
        store.update('b/a', '3', a.modRevision + 1), // follows the first
        store.create('b/new', 'x'),
        store.create('b/new', 'y'), // already exists (created just before in this batch)
        store.delete('b/new'),
        store.update('b/new', 'z', a.modRevision + 3), // deleted just before
      ]);
      assert.equal(store.stats().batches, batches + 1);
      const status = results.map((r) => (r.status === 'fulfilled' ? 'ok' : (r.reason as { code: string }).code));
      assert.deepEqual(status, ['ok', 'Conflict', 'ok', 'ok', 'AlreadyExists', 'ok', 'NotFound']);
      const conflict = results[1] as PromiseRejectedResult;
      assert.equal(conflict.reason.current.value, '1');
      assert.deepEqual(await store.get('b/a'), { key: 'b/a', value: '3', createRevision: a.modRevision, modRevision: a.modRevision + 2 });
      assert.equal(await store.get('b/new'), null);
      assert.equal(await store.currentRevision(), a.modRevision + 4);
    } finally {
      await store.close();
    }
  });

  it('compaction runs in slices and writers get in between them', async () => {
    const store = await openSqliteStore({ ...fresh(), compactSliceRows: 1000 });
    try {
      // 1,000 keys with 12 revisions each.
      for (let round = 0; round < 12; round++) {
        await Promise.all(
          Array.from({ length: 1000 }, async (_, i) => {
            const key = `c/${i}`;
            const cur = await store.get(key);
            if (cur) await store.update(key, `r${round}`, cur.modRevision);
            else await store.create(key, `r${round}`);
          }),
        );
      }
      const target = await store.currentRevision();
      let done = false;
      let writesDuring = 0;
      let maxLatency = 0;
      const compaction = store.compact(target).finally(() => {
        done = true;
      });
      let i = 0;
      while (!done) {
        const t = performance.now();
        await store.create(`during/${i++}`, 'x');
        maxLatency = Math.max(maxLatency, performance.now() - t);
        if (!done) writesDuring++;
      }
      await compaction;
      const s = store.stats();
      assert.equal(s.compactionRowsDeleted, 11_000);
      assert.ok(s.compactionSlices >= 11, `${s.compactionSlices} slices`);
      assert.ok(writesDuring >= 5, `only ${writesDuring} writes got in during ${s.compactionSlices} compaction slices`);
      // Generous bounds for a shared 2-core machine; the figures are logged for the record.
      assert.ok(s.maxCompactionSliceMs < 250, `a slice took ${s.maxCompactionSliceMs} ms`);
      assert.ok(maxLatency < 500, `a write waited ${maxLatency} ms`);
      console.error(`compaction: ${s.compactionSlices} slices, longest ${s.maxCompactionSliceMs.toFixed(1)} ms, ${writesDuring} writes in between, max write latency ${maxLatency.toFixed(1)} ms`);
      const all = await store.list('c/');
      assert.equal(all.items.length, 1000);
      assert.ok(all.items.every((it) => it.value === 'r11'));
    } finally {
      await store.close();
    }
  });

  it('an interrupted compaction resumes after reopening', async () => {
    const { path } = fresh();
    let store = await openSqliteStore({ path, compactSliceRows: 100 });
    for (let i = 0; i < 50; i++) {
      const a = await store.create(`i/${i}`, 'a');
      await store.update(`i/${i}`, 'b', a.modRevision);
      await store.delete(`i/${i}`);
    }
    const target = await store.currentRevision();
    const pending = store.compact(target);
    await store.close(); // stops after the first slice
    await pending;
    const first = store.stats();
    assert.equal(first.compactionSlices, 1, 'close stops compaction after the running slice');
    assert.equal(first.compactionRowsDeleted, 100);
    store = await openSqliteStore({ path, compactSliceRows: 100 });
    try {
      assert.equal(await store.compactedRevision(), target);
      await store.compact(target); // waits for the resumed background compaction
      assert.equal(store.stats().compactionRowsDeleted, 50, 'the rest is deleted after reopening');
      assert.equal(await store.currentRevision(), target);
      const n = await store.create('i/next', 'x');
      assert.equal(n.modRevision, target + 1, 'revision continues although every old row is gone');
    } finally {
      await store.close();
    }
    store = await openSqliteStore({ path });
    try {
      assert.equal(await store.currentRevision(), target + 1);
    } finally {
      await store.close();
    }
  });

  it('auto-compaction keeps the last N revisions', async () => {
    const store = await openSqliteStore({ ...fresh(), autoCompact: { keepRevisions: 10, intervalMs: 20 } });
    try {
      for (let i = 0; i < 60; i++) await store.create(`ac/${i}`, 'x');
      const deadline = Date.now() + 5000;
      while ((await store.compactedRevision()) < 50 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 10));
      }
      assert.equal(await store.compactedRevision(), 50);
      assert.equal((await store.list('ac/', { revision: 50 })).items.length, 50);
      await assert.rejects(store.list('ac/', { revision: 49 }), (e: unknown) => isStoreError(e, 'Compacted'));
    } finally {
      await store.close();
    }
  });

  it('a watch replaying a long history in chunks hands over to live events without gaps', async () => {
    const store = await openSqliteStore({ ...fresh(), replayChunkRows: 7 });
    try {
      const r0 = await store.currentRevision();
      for (let i = 0; i < 100; i++) await store.create(`rp/${i}`, 'old');
      const seen: number[] = [];
      let wake = () => {};
      const w = store.watch('rp/', r0, (evs) => {
        for (const e of evs) seen.push(e.kv.modRevision);
        wake();
      }, () => {});
      // Writers keep going while the watcher replays.
      await Promise.all(Array.from({ length: 20 }, async (_, i) => {
        for (let j = 0; j < 5; j++) await store.create(`rp/live-${i}-${j}`, 'new');
      }));
      const end = await store.currentRevision();
      const deadline = Date.now() + 5000;
      while (seen.length < 200 && Date.now() < deadline) await new Promise<void>((r) => { wake = r; setTimeout(r, 50); });
      w.close();
      assert.deepEqual(seen, Array.from({ length: 200 }, (_, i) => r0 + 1 + i));
      assert.equal(end, r0 + 200);
    } finally {
      await store.close();
    }
  });

  it('lists tens of thousands of keys in pages of 500', async () => {
    const store = await openSqliteStore(fresh());
    try {
      const N = 20_000;
      for (let b = 0; b < N; b += 1000) {
        await Promise.all(Array.from({ length: 1000 }, (_, i) => store.create(`big/${String(b + i).padStart(6, '0')}`, `{"n":${b + i}}`)));
      }
      await Promise.all(Array.from({ length: 100 }, (_, i) => store.delete(`big/${String(i * 7).padStart(6, '0')}`)));
      await store.create('big0', 'outside');
      const t = performance.now();
      let page = await store.list('big/', { limit: 500 });
      const keys = page.items.map((i) => i.key);
      assert.equal(page.remaining, N - 100 - 500);
      let pages = 1;
      while (page.continue) {
        const expectRemaining: number = (page.remaining ?? 0) - 500;
        page = await store.list('big/', { limit: 500, continue: page.continue });
        keys.push(...page.items.map((i) => i.key));
        if (page.continue) assert.equal(page.remaining, expectRemaining);
        pages++;
      }
      const ms = performance.now() - t;
      console.error(`listed ${keys.length} keys in ${pages} pages in ${ms.toFixed(0)} ms`);
      assert.equal(keys.length, N - 100);
      assert.equal(new Set(keys).size, keys.length);
      assert.deepEqual(keys, [...keys].sort());
      assert.ok(ms < 5000, `paging took ${ms} ms`);
      // A past-revision first page counts from the log instead of the index.
      const past = await store.list('big/', { limit: 500, revision: N });
      assert.equal(past.remaining, N - 500);
    } finally {
      await store.close();
    }
  });

  it('stores a value of exactly MAX_VALUE_BYTES and keeps it across a reopen', async () => {
    const { path } = fresh();
    const big = 'é'.repeat(MAX_VALUE_BYTES / 2);
    let store = await openSqliteStore({ path });
    const kv = await store.create('max', big);
    await store.close();
    store = await openSqliteStore({ path });
    try {
      assert.deepEqual(await store.get('max'), kv);
      assert.equal(Buffer.byteLength((await store.get('max'))!.value), MAX_VALUE_BYTES);
    } finally {
      await store.close();
    }
  });

  it('close commits accepted writes; afterwards calls fail with Unavailable', async () => {
    const { path } = fresh();
    const store = await openSqliteStore({ path });
    const pending = store.create('late', 'v');
    await store.close();
    assert.equal((await pending).value, 'v');
    await assert.rejects(store.get('late'), (e: unknown) => isStoreError(e, 'Unavailable'));
    await assert.rejects(store.create('x', 'v'), (e: unknown) => isStoreError(e, 'Unavailable'));
    const again = await openSqliteStore({ path });
    try {
      assert.equal((await again.get('late'))?.value, 'v');
    } finally {
      await again.close();
    }
  });

  it('a second store on the same file is refused while the first is open', async () => {
    const { path } = fresh();
    const first = await openSqliteStore({ path });
    try {
      await assert.rejects(openSqliteStore({ path }), (e: unknown) => isStoreError(e, 'Unavailable'));
      await first.create('still', 'works');
    } finally {
      await first.close();
    }
    const second = await openSqliteStore({ path });
    try {
      assert.equal((await second.get('still'))?.value, 'works');
    } finally {
      await second.close();
    }
  });

  it('openStore picks the backend', async () => {
    const mem = await openStore({ backend: 'memory' });
    await mem.create('a', '1');
    await mem.close();
    const sq = await openStore({ backend: 'sqlite', ...fresh() });
    assert.ok(sq instanceof SqliteStore);
    await sq.close();
  });
});
