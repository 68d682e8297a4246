// The work queue: de-duplication, processing semantics, delays and rate-limited retries, all
// on a fake clock.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock } from '../../src/client/clock.ts';
import { BucketRateLimiter, ItemExponentialRateLimiter, WorkQueue, defaultControllerRateLimiter } from '../../src/client/workqueue.ts';

/** Let pending promise callbacks (workers) run. */
async function flush(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
}

describe('WorkQueue', () => {
  it('processes a key added many times once, in first-added order', () => {
    const q = new WorkQueue({ clock: new FakeClock() });
    q.add('a');
    q.add('b');
    q.add('a');
    q.add('c');
    q.add('b');
    assert.equal(q.len(), 3);
    assert.equal(q.tryGet(), 'a');
    assert.equal(q.tryGet(), 'b');
    assert.equal(q.tryGet(), 'c');
    assert.equal(q.tryGet(), undefined);
  });

  it('a key re-added while being processed is processed again only after done()', async () => {
    const q = new WorkQueue({ clock: new FakeClock() });
    q.add('a');
    const k = await q.get();
    assert.equal(k, 'a');
    assert.ok(q.isProcessing('a'));
    q.add('a');
    q.add('a');
    assert.equal(q.len(), 0, 'not handed to another worker while in flight');
    assert.equal(q.tryGet(), undefined);
    q.done('a');
    assert.equal(q.len(), 1);
    assert.equal(q.tryGet(), 'a');
    q.done('a');
    assert.equal(q.len(), 0, 'done without a re-add queues nothing');
  });

  it('wakes a waiting get() when a key arrives, and shutDown() wakes it with undefined', async () => {
    const q = new WorkQueue<string>({ clock: new FakeClock() });
    const p = q.get();
    q.add('x');
    assert.equal(await p, 'x');
    const waiting = q.get();
    q.shutDown();
    assert.equal(await waiting, undefined);
    q.add('y');
    assert.equal(q.len(), 0, 'adds after shutDown are ignored');
    assert.equal(await q.get(), undefined);
  });

  it('addAfter adds at the given time; the earliest of several requests wins', () => {
    const clock = new FakeClock();
    const q = new WorkQueue({ clock });
    q.addAfter('a', 100);
    q.addAfter('a', 50);
    q.addAfter('a', 200);
    q.addAfter('b', 0); // no delay: at once
    assert.equal(q.len(), 1);
    assert.equal(q.delayed(), 1);
    clock.advance(49);
    assert.equal(q.len(), 1);
    clock.advance(1);
    assert.equal(q.len(), 2);
    assert.equal(q.delayed(), 0);
    clock.advance(1000);
    assert.equal(q.len(), 2, 'the later requests were folded into the earliest one');
  });

  it('backs a failing key off exponentially from 5 ms, and forget() resets it', () => {
    const clock = new FakeClock();
    const q = new WorkQueue({ clock });
    const readyAfter = (): number => {
      const start = clock.now();
      q.addRateLimited('k');
      assert.equal(q.len(), 0);
      clock.set(clock.nextDue()!);
      assert.equal(q.len(), 1);
      assert.equal(q.tryGet(), 'k');
      q.done('k');
      return clock.now() - start;
    };
    assert.deepEqual([readyAfter(), readyAfter(), readyAfter(), readyAfter()], [5, 10, 20, 40]);
    assert.equal(q.numRequeues('k'), 4);
    q.forget('k');
    assert.equal(q.numRequeues('k'), 0);
    assert.equal(readyAfter(), 5);

    // Exactly: not ready one millisecond early.
    q.addRateLimited('k'); // 10 ms
    clock.advance(9);
    assert.equal(q.len(), 0);
    clock.advance(1);
    assert.equal(q.len(), 1);
  });

  it('caps per-key backoff at 1000 s', () => {
    const l = new ItemExponentialRateLimiter<string>();
    const delays = Array.from({ length: 40 }, () => l.when('x'));
    assert.equal(delays[0], 5);
    assert.equal(delays[17], 5 * 2 ** 17);
    assert.equal(delays[18], 1_000_000);
    assert.equal(delays[39], 1_000_000);
    assert.equal(l.when('other'), 5, 'keys back off independently');
  });

  it('limits retries overall with a 10/s token bucket (burst 100)', () => {
    const clock = new FakeClock();
    const l = defaultControllerRateLimiter<string>(clock);
    for (let i = 0; i < 100; i++) assert.equal(l.when(`key-${i}`), 5);
    assert.equal(l.when('key-100'), 100, 'the 101st retry in the same instant waits for a token');
    assert.equal(l.when('key-101'), 200);
    clock.advance(1000); // 10 tokens come back
    assert.equal(l.when('key-102'), 5, 'refilled: only the per-key backoff applies again');
    const b = new BucketRateLimiter<string>(10, 2, clock);
    assert.deepEqual([b.when('a'), b.when('a'), b.when('a')], [0, 0, 100]);
  });

  it('runWorkers requeues a failing key with backoff and forgets it on success', async () => {
    const clock = new FakeClock();
    const q = new WorkQueue({ clock });
    const attempts: number[] = [];
    const errors: string[] = [];
    const run = q.runWorkers(
      2,
      async (key) => {
        attempts.push(clock.now());
        if (attempts.length < 3) throw new Error(`boom ${key}`);
      },
      { onError: (key, err) => errors.push(`${key}: ${(err as Error).message}`) },
    );
    const t0 = clock.now();
    q.add('k');
    await flush();
    assert.equal(attempts.length, 1);
    assert.equal(q.numRequeues('k'), 1);
    clock.advance(4);
    await flush();
    assert.equal(attempts.length, 1, 'not retried before the 5 ms backoff');
    clock.advance(1);
    await flush();
    assert.equal(attempts.length, 2);
    clock.advance(10);
    await flush();
    assert.equal(attempts.length, 3);
    assert.deepEqual(
      attempts.map((t) => t - t0),
      [0, 5, 15],
    );
    assert.equal(q.numRequeues('k'), 0, 'forgotten after the success');
    assert.deepEqual(errors, ['k: boom k', 'k: boom k']);
    q.shutDown();
    await run;
  });

  it('never runs one key on two workers at once, and processes a key changed mid-flight again', async () => {
    const q = new WorkQueue({ clock: new FakeClock() });
    const running = new Set<string>();
    let overlap = false;
    const processed: string[] = [];
    let release!: () => void;
    let gate = new Promise<void>((r) => (release = r));
    const run = q.runWorkers(4, async (key) => {
      if (running.has(key)) overlap = true;
      running.add(key);
      processed.push(key);
      await gate;
      running.delete(key);
    });
    q.add('a');
    q.add('b');
    await flush();
    q.add('a'); // changed while being processed
    q.add('a');
    await flush();
    assert.deepEqual(processed, ['a', 'b']);
    release();
    gate = Promise.resolve();
    await flush();
    assert.deepEqual(processed, ['a', 'b', 'a'], 'a runs once more after its first run is done');
    assert.equal(overlap, false);
    await q.shutDownWithDrain();
    await run;
  });

  it('shutDownWithDrain waits for keys in flight', async () => {
    const q = new WorkQueue({ clock: new FakeClock() });
    let finished = false;
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const run = q.runWorkers(1, async () => {
      await gate;
      finished = true;
    });
    q.add('a');
    q.addAfter('later', 1000);
    await flush();
    const drained = q.shutDownWithDrain();
    let drainedYet = false;
    void drained.then(() => (drainedYet = true));
    await flush();
    assert.equal(drainedYet, false);
    release();
    await drained;
    assert.equal(finished, true);
    assert.equal(q.delayed(), 0, 'delayed adds are dropped');
    await run;
  });

  it('gives up on a key after maxRetries', async () => {
    const clock = new FakeClock();
    const q = new WorkQueue({ clock });
    let attempts = 0;
    const run = q.runWorkers(1, async () => {
      attempts++;
      throw new Error('always');
    }, { maxRetries: 2, onError: () => {} });
    q.add('k');
    for (let i = 0; i < 10; i++) {
      await flush();
      clock.advance(1000);
    }
    await flush();
    assert.equal(attempts, 3, 'the first attempt and two retries');
    assert.equal(q.delayed() + q.len(), 0);
    q.shutDown();
    await run;
  });
});
