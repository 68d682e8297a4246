// The etcd backend against a real single-member etcd: the shared contract suite (a fresh key
// prefix per test on one etcd), then etcd-specific behaviour: prefix isolation, compaction seen
// by another client, values at the size limit, and a watch that survives an etcd restart.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Etcd3 } from 'etcd3';
import { openEtcdStore } from '../../src/store/etcd.ts';
import { isStoreError, MAX_VALUE_BYTES } from '../../src/store/types.ts';
import type { Store, StoreError, WatchEvent } from '../../src/store/types.ts';
import { silentLogger } from '../../src/util/log.ts';
import { etcdAvailable, etcdMissingError, startEtcd, type EtcdHandle } from '../support/etcd.ts';
import { runStoreContract } from './contract.ts';

let etcd: EtcdHandle | null = null;
const run = randomBytes(4).toString('hex');
let seq = 0;

function endpoints(): string[] {
  if (!etcd) throw new Error('etcd did not start');
  return etcd.endpoints;
}

before(async () => {
  if (!etcdAvailable()) throw etcdMissingError();
  etcd = await startEtcd();
});

after(async () => {
  await etcd?.stop();
});

runStoreContract('etcd', async () => {
  const prefix = `/kennel-test/${run}/${++seq}/`;
  const open = () => openEtcdStore({ endpoints: endpoints(), prefix });
  const store = await open();
  const opened: Store[] = [store];
  return {
    store,
    reopen: async () => {
      const s = await open();
      opened.push(s);
      return s;
    },
    cleanup: async () => {
      for (const s of opened) await s.close();
    },
  };
});

async function rejects(p: Promise<unknown>, code: string): Promise<StoreError> {
  try {
    await p;
  } catch (err) {
    assert.ok(isStoreError(err), `expected StoreError ${code}, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    return err;
  }
  return assert.fail(`expected StoreError ${code}, the call succeeded`);
}

/** Resolves when pred() holds, polling the collected state on every callback. */
function waiter() {
  let wake: (() => void) | null = null;
  return {
    notify: () => wake?.(),
    async until(pred: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
      const deadline = Date.now() + timeoutMs;
      while (!pred()) {
        const left = deadline - Date.now();
        if (left <= 0) assert.fail(`timed out waiting for ${what}`);
        await new Promise<void>((r) => {
          const t = setTimeout(r, Math.min(left, 200));
          wake = () => {
            clearTimeout(t);
            r();
          };
        });
        wake = null;
      }
    },
  };
}

describe('etcd store specifics', () => {
  it('stores keys under its prefix, strips it, and sees nothing outside it', async () => {
    const prefix = `/kennel-test/${run}/iso-a/`;
    const a = await openEtcdStore({ endpoints: endpoints(), prefix });
    const b = await openEtcdStore({ endpoints: endpoints(), prefix: `/kennel-test/${run}/iso-b/` });
    const raw = new Etcd3({ hosts: endpoints() });
    try {
      const x = await a.create('ns/x', '{"v":1}');
      assert.equal(await raw.get(`${prefix}ns/x`).string(), '{"v":1}');
      assert.equal(x.key, 'ns/x');
      assert.equal(await b.get('ns/x'), null);
      assert.deepEqual((await b.list('')).items, []);
      // A key written by someone else under the prefix is visible, stripped.
      await raw.put(`${prefix}ns/y`).value('raw');
      const l = await a.list('ns/');
      assert.deepEqual(l.items.map((i) => [i.key, i.value]), [['ns/x', '{"v":1}'], ['ns/y', 'raw']]);
      // Revisions are etcd's own.
      const header = await raw.get('anything').exec();
      assert.equal(l.revision, Number(header.header.revision));
    } finally {
      raw.close();
      await a.close();
      await b.close();
    }
  });

  it('compactedRevision learns compactions made by another client', async () => {
    const prefix = `/kennel-test/${run}/cmp/`;
    const a = await openEtcdStore({ endpoints: endpoints(), prefix });
    const b = await openEtcdStore({ endpoints: endpoints(), prefix });
    try {
      const k = await a.create('k', '1');
      const k2 = await a.update('k', '2', k.modRevision);
      await a.compact(k.modRevision);
      assert.equal(await b.compactedRevision(), k.modRevision);
      await a.update('k', '3', k2.modRevision);
      await a.compact(k2.modRevision);
      assert.equal(await b.compactedRevision(), k2.modRevision);
      // Compacting again at or below the compacted revision is a no-op.
      await b.compact(k.modRevision);
      assert.equal(await a.compactedRevision(), k2.modRevision);
      const err = await rejects(b.list('', { revision: k.modRevision }), 'Compacted');
      assert.equal(err.compactRevision, k2.modRevision);
      await rejects(a.compact((await a.currentRevision()) + 5), 'FutureRevision');
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('round-trips a value of exactly MAX_VALUE_BYTES through etcd', async () => {
    const s = await openEtcdStore({ endpoints: endpoints(), prefix: `/kennel-test/${run}/big/` });
    try {
      const value = 'x'.repeat(MAX_VALUE_BYTES);
      const c = await s.create('big', value);
      assert.equal((await s.get('big'))?.value.length, MAX_VALUE_BYTES);
      const l = await s.list('');
      assert.equal(l.items[0].value, value);
      await s.delete('big', c.modRevision);
    } finally {
      await s.close();
    }
  });

  it('close() stops its watchers without an error, and later calls fail with Unavailable', async () => {
    const s = await openEtcdStore({ endpoints: endpoints(), prefix: `/kennel-test/${run}/close/` });
    const other = await openEtcdStore({ endpoints: endpoints(), prefix: `/kennel-test/${run}/close/` });
    try {
      const events: WatchEvent[] = [];
      const errors: StoreError[] = [];
      const w = waiter();
      s.watch('', await s.currentRevision(), (evs) => (events.push(...evs), w.notify()), (e) => (errors.push(e), w.notify()));
      const a = await other.create('a', '1');
      await w.until(() => events.length === 1, 'first event');
      await s.close();
      await other.create('b', '2');
      // The watch of a still open store on the same keys proves 'b' was published meanwhile.
      const seen: WatchEvent[] = [];
      const w2 = waiter();
      other.watch('', a.modRevision, (evs) => (seen.push(...evs), w2.notify()), (e) => assert.fail(e));
      await w2.until(() => seen.some((e) => e.kv.key === 'b'), 'b on the other store');
      assert.equal(events.length, 1);
      assert.deepEqual(errors, []);
      await rejects(s.get('a'), 'Unavailable');
      const errs: StoreError[] = [];
      s.watch('', 0, () => {}, (e) => errs.push(e));
      await new Promise((r) => setImmediate(r));
      assert.equal(errs[0]?.code, 'Unavailable');
    } finally {
      await s.close();
      await other.close();
    }
  });

  it('fails with Unavailable, not a hang, when no endpoint answers', async () => {
    const t0 = Date.now();
    // A port that was just free: nothing listens there.
    const dead = etcd!.endpoints[0].replace(/:\d+$/, ':1');
    await rejects(openEtcdStore({ endpoints: [dead], retryTimeoutMs: 300 }), 'Unavailable');
    assert.ok(Date.now() - t0 < 5_000, 'gave up within the retry budget');
  });
});

describe('etcd store across an etcd restart', () => {
  let own: EtcdHandle | null = null;
  before(async () => {
    if (!etcdAvailable()) throw etcdMissingError();
    own = await startEtcd();
  });
  after(async () => {
    await own?.stop();
  });

  it('a watch reconnects and continues from its last revision; calls, and watches out of patience, fail with Unavailable meanwhile', async () => {
    const member = own!.members[0];
    const opts = { endpoints: own!.endpoints, prefix: '/restart/', retryTimeoutMs: 300, logger: silentLogger };
    const s = await openEtcdStore(opts);
    const writer = await openEtcdStore(opts);
    try {
      const events: WatchEvent[] = [];
      const errors: StoreError[] = [];
      const w = waiter();
      s.watch('k/', await s.currentRevision(), (evs) => (events.push(...evs), w.notify()), (e) => (errors.push(e), w.notify()));
      const before = [];
      for (let i = 0; i < 5; i++) before.push(await writer.create(`k/${i}`, `v${i}`));
      await w.until(() => events.length === 5, 'events before the restart');

      // A watch with a short reconnect budget gives up with Unavailable while etcd is down.
      const impatient = await openEtcdStore({ ...opts, watchRetryTimeoutMs: 200 });
      const given: StoreError[] = [];
      const gw = waiter();
      impatient.watch('k/', before[4].modRevision, () => {}, (e) => (given.push(e), gw.notify()));
      await impatient.get('k/0'); // round trip so the watch is up before the stop

      await member.stop();
      await rejects(writer.create('k/down', 'x'), 'Unavailable');
      await rejects(s.get('k/0'), 'Unavailable');
      await gw.until(() => given.length === 1, 'Unavailable on the impatient watch');
      assert.equal(given[0].code, 'Unavailable');
      await impatient.close();
      await member.start();

      // Writes resume (the endpoint's circuit may still be open for up to a second).
      const deadline = Date.now() + 10_000;
      let first = null;
      while (!first) {
        try {
          first = await writer.update('k/0', 'after', before[0].modRevision);
        } catch (err) {
          assert.ok(isStoreError(err, 'Unavailable'), String(err));
          if (Date.now() > deadline) throw err;
          await new Promise((r) => setTimeout(r, 100));
        }
      }
      const more = [first];
      for (let i = 5; i < 10; i++) more.push(await writer.create(`k/${i}`, `v${i}`));
      await w.until(() => events.length >= 11, 'events after the restart', 15_000);
      assert.deepEqual(errors, []);
      assert.deepEqual(
        events.map((e) => e.kv.modRevision),
        [...before, ...more].map((kv) => kv.modRevision),
        'every event once, in order, none lost across the restart',
      );
      assert.deepEqual(events[5], { type: 'PUT', kv: first, prevKv: before[0] });
    } finally {
      await s.close();
      await writer.close();
    }
  });
});
