// The store contract suite: every backend (memory, sqlite, etcd) runs these same tests.
// It only uses the Store interface, relative revisions (a fresh etcd starts at revision 1, not
// 0) and waits for watch events with a promise and a timeout, never fixed sleeps.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { isStoreError, MAX_VALUE_BYTES, StoreError } from '../../src/store/types.ts';
import type { KeyValue, Store, StoreErrorCode, WatchEvent } from '../../src/store/types.ts';

export interface OpenedStore {
  store: Store;
  /** Opens a new Store on the same data. The suite closes the old store before calling it and
   *  closes the store it returns itself. */
  reopen?: () => Promise<Store>;
  /** Releases everything open() made (closing the original store if still open). */
  cleanup: () => Promise<void>;
}

const WATCH_TIMEOUT_MS = 10_000;

async function expectError(p: Promise<unknown>, code: StoreErrorCode): Promise<StoreError> {
  try {
    await p;
  } catch (err) {
    assert.ok(isStoreError(err), `expected a StoreError ${code}, got ${String(err)}`);
    assert.equal(err.code, code, `expected StoreError ${code}, got ${err.code}: ${err.message}`);
    return err;
  }
  assert.fail(`expected StoreError ${code}, but the call succeeded`);
}

function kv(key: string, value: string, createRevision: number, modRevision: number): KeyValue {
  return { key, value, createRevision, modRevision };
}

/** Collects watch events; waitFor resolves once the predicate holds (or rejects on timeout). */
function collect(store: Store, prefix: string, afterRevision: number) {
  const events: WatchEvent[] = [];
  const errors: StoreError[] = [];
  let wake: (() => void) | null = null;
  const watcher = store.watch(
    prefix,
    afterRevision,
    (evs) => {
      events.push(...evs);
      wake?.();
    },
    (err) => {
      errors.push(err);
      wake?.();
    },
  );
  async function waitFor(pred: () => boolean, what: string, timeoutMs = WATCH_TIMEOUT_MS): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!pred()) {
      const left = deadline - Date.now();
      if (left <= 0) {
        assert.fail(`timed out waiting for ${what}: ${events.length} events, errors: ${errors.map((e) => e.code).join(',')}`);
      }
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
      wake = null;
    }
  }
  return { events, errors, waitFor, close: () => watcher.close() };
}

/** Writes a sentinel key and waits for its event: everything written before it has arrived. */
async function settle(store: Store, w: ReturnType<typeof collect>, sentinelKey: string): Promise<KeyValue> {
  const s = await store.create(sentinelKey, 'sentinel');
  await w.waitFor(() => w.events.some((e) => e.kv.modRevision >= s.modRevision), `sentinel ${sentinelKey}`);
  return s;
}

function keysOf(items: KeyValue[]): string[] {
  return items.map((i) => i.key);
}

export function runStoreContract(name: string, open: () => Promise<OpenedStore>): void {
  /** Runs body against a fresh store and always cleans up. */
  async function withStore(body: (o: OpenedStore) => Promise<void>): Promise<void> {
    const o = await open();
    try {
      await body(o);
    } finally {
      await o.cleanup();
    }
  }

  describe(`store contract: ${name}`, () => {
    it('create, get, update and delete move the revision by exactly one', () =>
      withStore(async ({ store }) => {
        const r0 = await store.currentRevision();
        assert.ok(Number.isSafeInteger(r0) && r0 >= 0);
        assert.equal(await store.get('c/a'), null);

        const a1 = await store.create('c/a', 'v1');
        assert.deepEqual(a1, kv('c/a', 'v1', r0 + 1, r0 + 1));
        assert.equal(await store.currentRevision(), r0 + 1);
        assert.deepEqual(await store.get('c/a'), a1);

        const a2 = await store.update('c/a', 'v2', r0 + 1);
        assert.deepEqual(a2, kv('c/a', 'v2', r0 + 1, r0 + 2));
        assert.deepEqual(await store.get('c/a'), a2);

        const b = await store.create('c/b', '{"json":true}');
        assert.deepEqual(b, kv('c/b', '{"json":true}', r0 + 3, r0 + 3));

        const del = await store.delete('c/a', r0 + 2);
        assert.deepEqual(del, { ...kv('c/a', 'v2', r0 + 1, r0 + 2), deleteRevision: r0 + 4 });
        assert.equal(await store.get('c/a'), null);
        assert.equal(await store.currentRevision(), r0 + 4);

        // A new incarnation of a deleted key gets a new createRevision.
        const a3 = await store.create('c/a', 'v3');
        assert.deepEqual(a3, kv('c/a', 'v3', r0 + 5, r0 + 5));

        // Unconditional delete.
        const delB = await store.delete('c/b');
        assert.equal(delB.deleteRevision, r0 + 6);
        assert.equal(delB.modRevision, r0 + 3);
        assert.equal(delB.value, '{"json":true}');
        assert.equal(await store.currentRevision(), r0 + 6);
        assert.deepEqual(await store.get('c/b'), null);
        assert.deepEqual(await store.get('c/a'), a3);
      }));

    it('create of an existing key fails with AlreadyExists and writes nothing', () =>
      withStore(async ({ store }) => {
        const a = await store.create('e/a', 'one');
        const err = await expectError(store.create('e/a', 'two'), 'AlreadyExists');
        assert.equal(err.key, 'e/a');
        assert.equal(await store.currentRevision(), a.modRevision);
        assert.deepEqual(await store.get('e/a'), a);
      }));

    it('update and delete of a missing key fail with NotFound', () =>
      withStore(async ({ store }) => {
        const r0 = await store.currentRevision();
        await expectError(store.update('n/x', 'v', r0), 'NotFound');
        await expectError(store.delete('n/x'), 'NotFound');
        await expectError(store.delete('n/x', r0), 'NotFound');
        const x = await store.create('n/x', 'v');
        await store.delete('n/x', x.modRevision);
        await expectError(store.update('n/x', 'v2', x.modRevision), 'NotFound');
        await expectError(store.delete('n/x'), 'NotFound');
        assert.equal(await store.currentRevision(), r0 + 2);
      }));

    it('update and delete are compare-and-swap: Conflict carries the current value', () =>
      withStore(async ({ store }) => {
        const a1 = await store.create('cas/a', 'one');
        const a2 = await store.update('cas/a', 'two', a1.modRevision);
        const rev = await store.currentRevision();

        const e1 = await expectError(store.update('cas/a', 'stale', a1.modRevision), 'Conflict');
        assert.equal(e1.key, 'cas/a');
        assert.deepEqual(e1.current, a2);
        const e2 = await expectError(store.delete('cas/a', a1.modRevision), 'Conflict');
        assert.deepEqual(e2.current, a2);
        assert.equal(await store.currentRevision(), rev, 'failed CAS must not write');
        assert.deepEqual(await store.get('cas/a'), a2);

        // Concurrent updates from the same revision: exactly one wins.
        const results = await Promise.allSettled(
          Array.from({ length: 10 }, (_, i) => store.update('cas/a', `racer-${i}`, a2.modRevision)),
        );
        const won = results.filter((r): r is PromiseFulfilledResult<KeyValue> => r.status === 'fulfilled');
        assert.equal(won.length, 1, 'exactly one concurrent CAS update succeeds');
        const winner = won[0].value;
        assert.equal(winner.modRevision, rev + 1);
        for (const r of results) {
          if (r.status === 'rejected') {
            assert.ok(isStoreError(r.reason, 'Conflict'), `loser got ${String(r.reason)}`);
            assert.deepEqual(r.reason.current, winner);
          }
        }
        // Concurrent CAS deletes: one wins, the rest conflict or find nothing.
        const dels = await Promise.allSettled(Array.from({ length: 5 }, () => store.delete('cas/a', winner.modRevision)));
        assert.equal(dels.filter((r) => r.status === 'fulfilled').length, 1);
        for (const r of dels) {
          if (r.status === 'rejected') {
            assert.ok(isStoreError(r.reason, 'Conflict') || isStoreError(r.reason, 'NotFound'), String(r.reason));
          }
        }
        assert.equal(await store.get('cas/a'), null);
        assert.equal(await store.currentRevision(), rev + 2);
      }));

    it('list returns the keys under a prefix in key order, and only those', () =>
      withStore(async ({ store }) => {
        const keys = ['a/2', 'a/1', 'a/10', 'a0', 'a', 'b/1', 'a/sub/x', 'a/', 'a/z', 'a/é', 'a/😀', 'a/\uFFFD', 'a/gone'];
        for (const k of keys) await store.create(k, `value of ${k}`);
        const gone = await store.delete('a/gone');
        const l = await store.list('a/');
        // Byte (code point) order: 'z' < 'é' < U+FFFD < U+1F600.
        assert.deepEqual(keysOf(l.items), ['a/', 'a/1', 'a/10', 'a/2', 'a/sub/x', 'a/z', 'a/é', 'a/\uFFFD', 'a/😀']);
        assert.equal(l.revision, gone.deleteRevision);
        assert.equal(l.revision, await store.currentRevision());
        assert.equal(l.continue, undefined);
        for (const item of l.items) {
          assert.equal(item.value, `value of ${item.key}`);
          assert.equal(item.createRevision, item.modRevision);
        }
        assert.deepEqual(keysOf((await store.list('a')).items), [
          'a',
          'a/',
          'a/1',
          'a/10',
          'a/2',
          'a/sub/x',
          'a/z',
          'a/é',
          'a/\uFFFD',
          'a/😀',
          'a0',
        ]);
        assert.deepEqual(keysOf((await store.list('b/')).items), ['b/1']);
        assert.deepEqual((await store.list('zzz/')).items, []);
        assert.equal((await store.list('')).items.length, keys.length - 1);
      }));

    it('list pages with limit and continue from one snapshot across concurrent writes', () =>
      withStore(async ({ store }) => {
        const names = Array.from({ length: 10 }, (_, i) => `p/${String(i).padStart(2, '0')}`);
        const created = new Map<string, KeyValue>();
        for (const n of names) created.set(n, await store.create(n, `v-${n}`));
        await store.create('p0', 'outside');

        const page1 = await store.list('p/', { limit: 4 });
        const snap = page1.revision;
        assert.equal(snap, await store.currentRevision());
        assert.deepEqual(page1.items, names.slice(0, 4).map((n) => created.get(n)));
        assert.equal(typeof page1.continue, 'string');
        assert.equal(page1.remaining, 6);

        // Writes between pages must not show up in the following pages.
        await store.create('p/045', 'new');
        await store.update('p/05', 'changed', created.get('p/05')!.modRevision);
        await store.delete('p/06');
        await store.create('p/99', 'new');

        const page2 = await store.list('p/', { limit: 4, continue: page1.continue });
        assert.equal(page2.revision, snap);
        assert.deepEqual(page2.items, names.slice(4, 8).map((n) => created.get(n)));
        assert.equal(page2.remaining, 2);
        const page3 = await store.list('p/', { limit: 4, continue: page2.continue });
        assert.equal(page3.revision, snap);
        assert.deepEqual(page3.items, names.slice(8).map((n) => created.get(n)));
        assert.equal(page3.continue, undefined);

        // A new list sees the new state; a limit equal to the size gives no continue.
        const now = await store.list('p/');
        assert.deepEqual(keysOf(now.items), ['p/00', 'p/01', 'p/02', 'p/03', 'p/04', 'p/045', 'p/05', 'p/07', 'p/08', 'p/09', 'p/99']);
        const exact = await store.list('p/', { limit: 11 });
        assert.equal(exact.items.length, 11);
        assert.equal(exact.continue, undefined);

        await expectError(store.list('p/', { limit: 4, continue: 'not a token' }), 'InvalidContinue');
        await expectError(store.list('q/', { limit: 4, continue: page1.continue }), 'InvalidContinue');
      }));

    it('list at an explicit past revision, and FutureRevision ahead of the store', () =>
      withStore(async ({ store }) => {
        const x1 = await store.create('h/x', 'x1');
        const x2 = await store.update('h/x', 'x2', x1.modRevision);
        const y = await store.create('h/y', 'y1');
        const del = await store.delete('h/x');

        assert.deepEqual((await store.list('h/', { revision: x1.modRevision })).items, [x1]);
        const at2 = await store.list('h/', { revision: x2.modRevision });
        assert.deepEqual(at2.items, [x2]);
        assert.equal(at2.revision, x2.modRevision);
        assert.deepEqual((await store.list('h/', { revision: y.modRevision })).items, [x2, y]);
        assert.deepEqual((await store.list('h/', { revision: del.deleteRevision })).items, [y]);
        // Paging at a past revision keeps that revision.
        const p1 = await store.list('h/', { revision: y.modRevision, limit: 1 });
        assert.deepEqual(p1.items, [x2]);
        const p2 = await store.list('h/', { limit: 1, continue: p1.continue });
        assert.deepEqual(p2.items, [y]);
        assert.equal(p2.revision, y.modRevision);

        const cur = await store.currentRevision();
        await expectError(store.list('h/', { revision: cur + 1 }), 'FutureRevision');
        await expectError(store.list('h/', { revision: cur + 1000 }), 'FutureRevision');
      }));

    it('watch delivers every write of 50 concurrent writers once, in revision order, with prevKv', () =>
      withStore(async ({ store }) => {
        const r0 = await store.currentRevision();
        const w = collect(store, 'w/', r0);
        try {
          type Ack = { type: 'PUT' | 'DELETE'; kv: KeyValue; prev?: KeyValue };
          const acks: Ack[] = [];
          const writer = async (i: number) => {
            const key = `w/${String(i).padStart(2, '0')}`;
            let cur = await store.create(key, `${i}:0`);
            acks.push({ type: 'PUT', kv: cur });
            for (let n = 1; n <= 3; n++) {
              const prev = cur;
              cur = await store.update(key, `${i}:${n}`, prev.modRevision);
              acks.push({ type: 'PUT', kv: cur, prev });
            }
            const d = await store.delete(key, cur.modRevision);
            acks.push({ type: 'DELETE', kv: kv(key, '', d.createRevision, d.deleteRevision), prev: cur });
            // Writes outside the prefix ('w0' sorts right after 'w/') must not be delivered.
            await store.create(`w0/${i}`, 'noise');
          };
          await Promise.all(Array.from({ length: 50 }, (_, i) => writer(i)));
          assert.equal(acks.length, 250);

          // Every write took exactly one revision.
          const end = await store.currentRevision();
          assert.equal(end, r0 + 300);
          const revs = acks.map((a) => a.kv.modRevision).sort((a, b) => a - b);
          assert.equal(new Set(revs).size, 250);

          await w.waitFor(() => w.events.length >= 250, '250 events');
          await settle(store, w, 'w/zz-sentinel');
          assert.deepEqual(w.errors, []);
          const events = w.events.filter((e) => e.kv.key !== 'w/zz-sentinel');
          assert.equal(events.length, 250, 'every event exactly once');
          for (let i = 1; i < w.events.length; i++) {
            assert.ok(w.events[i].kv.modRevision > w.events[i - 1].kv.modRevision, 'revisions strictly increase');
          }
          const byRev = new Map(acks.map((a) => [a.kv.modRevision, a]));
          for (const e of events) {
            const a = byRev.get(e.kv.modRevision);
            assert.ok(a, `event at revision ${e.kv.modRevision} matches an acknowledged write`);
            assert.equal(e.type, a.type);
            assert.deepEqual(e.kv, a.kv);
            assert.deepEqual(e.prevKv, a.prev);
          }
        } finally {
          w.close();
        }
      }));

    it('watch from an old revision replays history in order, then continues live', () =>
      withStore(async ({ store }) => {
        const r0 = await store.currentRevision();
        const a1 = await store.create('o/a', 'a1');
        const b1 = await store.create('o/b', 'b1');
        const a2 = await store.update('o/a', 'a2', a1.modRevision);
        await store.create('other/x', 'x');
        const delB = await store.delete('o/b');

        const all = collect(store, 'o/', r0);
        const fromMid = collect(store, 'o/', a2.modRevision);
        try {
          await all.waitFor(() => all.events.length >= 4, 'history replay');
          assert.deepEqual(all.events, [
            { type: 'PUT', kv: a1 },
            { type: 'PUT', kv: b1 },
            { type: 'PUT', kv: a2, prevKv: a1 },
            { type: 'DELETE', kv: kv('o/b', '', b1.createRevision, delB.deleteRevision), prevKv: b1 },
          ]);
          await fromMid.waitFor(() => fromMid.events.length >= 1, 'replay from the middle');
          assert.equal(fromMid.events[0].kv.modRevision, delB.deleteRevision);

          const a3 = await store.update('o/a', 'a3', a2.modRevision);
          await all.waitFor(() => all.events.length >= 5, 'live event after replay');
          await fromMid.waitFor(() => fromMid.events.length >= 2, 'live event after replay');
          assert.deepEqual(all.events[4], { type: 'PUT', kv: a3, prevKv: a2 });
          assert.deepEqual(fromMid.events[1], { type: 'PUT', kv: a3, prevKv: a2 });
          await settle(store, all, 'o/zz-sentinel');
          await fromMid.waitFor(() => fromMid.events.length >= 3, 'sentinel');
          assert.equal(all.events.length, 6, 'no duplicates between replay and live');
          assert.equal(fromMid.events.length, 3);
          assert.deepEqual(all.errors, []);

          // A watch from the current revision sees only what comes next.
          const cur = await store.currentRevision();
          const fresh = collect(store, 'o/', cur);
          try {
            const c = await store.create('o/c', 'c');
            await fresh.waitFor(() => fresh.events.length >= 1, 'live event');
            assert.deepEqual(fresh.events, [{ type: 'PUT', kv: c }]);
          } finally {
            fresh.close();
          }
        } finally {
          all.close();
          fromMid.close();
        }
      }));

    it('a closed watcher receives nothing more', () =>
      withStore(async ({ store }) => {
        const r0 = await store.currentRevision();
        const w1 = collect(store, 'cl/', r0);
        const w2 = collect(store, 'cl/', r0);
        try {
          await store.create('cl/a', '1');
          await w1.waitFor(() => w1.events.length === 1, 'first event');
          w1.close();
          await store.create('cl/b', '2');
          await w2.waitFor(() => w2.events.length === 2, 'second event on the open watcher');
          await settle(store, w2, 'cl/zz');
          assert.equal(w1.events.length, 1);
        } finally {
          w1.close();
          w2.close();
        }
      }));

    it('compaction: older reads and watches fail with Compacted, newer ones work', () =>
      withStore(async ({ store }) => {
        const r0 = await store.currentRevision();
        const a1 = await store.create('k/a', 'a1');
        const b1 = await store.create('k/b', 'b1');
        const a2 = await store.update('k/a', 'a2', a1.modRevision);
        const c1 = await store.create('k/c', 'c1');
        await store.delete('k/c');
        const page = await store.list('k/', { limit: 1 });
        const mid = (await store.create('k/d', 'd1')).modRevision;
        const a3 = await store.update('k/a', 'a3', a2.modRevision);

        await store.compact(mid);
        assert.equal(await store.compactedRevision(), mid);

        const e = await expectError(store.list('k/', { revision: mid - 1 }), 'Compacted');
        assert.ok(e.compactRevision === undefined || e.compactRevision === mid);
        await expectError(store.list('k/', { revision: r0 + 1 }), 'Compacted');
        await expectError(store.list('k/', { limit: 1, continue: page.continue }), 'Compacted');

        // The snapshot at the compacted revision itself is still readable.
        const atMid = await store.list('k/', { revision: mid });
        assert.deepEqual(keysOf(atMid.items), ['k/a', 'k/b', 'k/d']);
        assert.equal(atMid.items[0].value, 'a2');
        const now = await store.list('k/');
        assert.deepEqual(now.items.map((i) => i.value), ['a3', 'b1', 'd1']);
        assert.deepEqual(await store.get('k/b'), b1);
        assert.equal(await store.get('k/c'), null);
        assert.equal(c1.key, 'k/c');

        // Watch from before the compaction fails (asynchronously); from after it works.
        let syncError = false;
        const old = collect(store, 'k/', r0);
        syncError = old.errors.length > 0;
        try {
          await old.waitFor(() => old.errors.length > 0, 'Compacted error');
          assert.equal(syncError, false, 'the error is delivered asynchronously');
          assert.equal(old.errors[0].code, 'Compacted');
          assert.equal(old.events.length, 0);
        } finally {
          old.close();
        }
        const fresh = collect(store, 'k/', mid);
        try {
          await fresh.waitFor(() => fresh.events.length >= 1, 'events after the compacted revision');
          assert.deepEqual(fresh.events[0], { type: 'PUT', kv: a3, prevKv: a2 });
          const a4 = await store.update('k/a', 'a4', a3.modRevision);
          assert.equal(a4.modRevision, a3.modRevision + 1, 'revisions continue after compaction');
          await fresh.waitFor(() => fresh.events.length >= 2, 'live event');
          assert.deepEqual(fresh.events[1], { type: 'PUT', kv: a4, prevKv: a3 });
          assert.deepEqual(fresh.errors, []);
        } finally {
          fresh.close();
        }
      }));

    it('bad input gives a typed error and the store keeps working', () =>
      withStore(async ({ store }) => {
        const r0 = await store.currentRevision();
        await expectError(store.create('', 'v'), 'InvalidKey');
        await expectError(store.get(''), 'InvalidKey');
        await expectError(store.create('bad/\uD800', 'v'), 'InvalidKey');
        await expectError(store.create('bad/lone-low-\uDC00-x', 'v'), 'InvalidKey');
        await expectError(store.create('bad/v', 'v\uDC00'), 'InvalidValue');
        await expectError(store.create('bad/v', 123 as unknown as string), 'InvalidValue');
        await expectError(store.create(42 as unknown as string, 'v'), 'InvalidKey');
        await expectError(store.create('bad/big', 'x'.repeat(MAX_VALUE_BYTES + 1)), 'ValueTooLarge');
        // The limit is in UTF-8 bytes, not characters.
        await expectError(store.create('bad/big', '€'.repeat(Math.floor(MAX_VALUE_BYTES / 3) + 1)), 'ValueTooLarge');
        await expectError(store.list('\uD800'), 'InvalidKey');
        assert.equal(await store.currentRevision(), r0, 'rejected input writes nothing');

        const ok = await store.create('bad/v', 'fine');
        await expectError(store.update('bad/v', 'y'.repeat(MAX_VALUE_BYTES + 1), ok.modRevision), 'ValueTooLarge');
        await expectError(store.update('bad/v', 'lone \uD83D', ok.modRevision), 'InvalidValue');
        assert.deepEqual(await store.get('bad/v'), ok);

        // Ordinary non-ASCII text and a large value round-trip.
        const big = '{"data":"' + 'ü€😀'.repeat(30_000) + '"}';
        const u = await store.update('bad/v', big, ok.modRevision);
        assert.equal(u.modRevision, r0 + 2);
        assert.equal((await store.get('bad/v'))?.value, big);
        const uni = await store.create('bad/ключ/键', 'значение');
        assert.equal((await store.get('bad/ключ/键'))?.value, 'значение');
        assert.equal(uni.modRevision, r0 + 3);
      }));

    it('restart: the same data, and revisions continue', async (t) => {
      const o = await open();
      if (!o.reopen) {
        await o.cleanup();
        t.skip('backend has no persistence to reopen');
        return;
      }
      let again: Store | null = null;
      try {
        const { store } = o;
        const a1 = await store.create('r/a', 'a1');
        const b1 = await store.create('r/b', 'b1');
        const a2 = await store.update('r/a', 'a2', a1.modRevision);
        await store.create('r/c', 'c1');
        const delC = await store.delete('r/c');
        await store.compact(b1.modRevision);
        const rev = await store.currentRevision();
        assert.equal(rev, delC.deleteRevision);
        const before = await store.list('r/');
        await store.close();

        again = await o.reopen();
        assert.equal(await again.currentRevision(), rev);
        assert.equal(await again.compactedRevision(), b1.modRevision);
        assert.deepEqual(await again.list('r/'), before);
        assert.deepEqual(await again.get('r/a'), a2);
        assert.equal(await again.get('r/c'), null);
        await expectError(again.create('r/a', 'dup'), 'AlreadyExists');
        await expectError(again.update('r/a', 'stale', a1.modRevision), 'Conflict');
        await expectError(again.list('r/', { revision: b1.modRevision - 1 }), 'Compacted');

        // History after the compaction survives the restart.
        const w = collect(again, 'r/', b1.modRevision);
        try {
          const a3 = await again.update('r/a', 'a3', a2.modRevision);
          assert.equal(a3.modRevision, rev + 1, 'the revision continues after a restart');
          await w.waitFor(() => w.events.length >= 4, 'replayed and live events');
          assert.deepEqual(
            w.events.map((e) => [e.type, e.kv.key, e.kv.modRevision]),
            [
              ['PUT', 'r/a', a2.modRevision],
              ['PUT', 'r/c', delC.deleteRevision - 1],
              ['DELETE', 'r/c', delC.deleteRevision],
              ['PUT', 'r/a', a3.modRevision],
            ],
          );
          assert.deepEqual(w.events[3].prevKv, a2);
        } finally {
          w.close();
        }
      } finally {
        await again?.close();
        await o.cleanup();
      }
    });
  });
}
