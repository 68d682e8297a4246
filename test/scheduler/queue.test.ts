// The scheduling queue: priority order, back-off, parking unschedulable pods and moving them
// back on the cluster changes that may help, with a fake clock.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock } from '../../src/client/clock.ts';
import { SchedulingQueue } from '../../src/scheduler/queue.ts';

function drain(q: SchedulingQueue): string[] {
  const out: string[] = [];
  for (let k = q.pop(); k !== undefined; k = q.pop()) out.push(k);
  return out;
}

describe('scheduler: queue', () => {
  it('pops the highest priority first, then the oldest; adds are de-duplicated', () => {
    const clock = new FakeClock();
    const q = new SchedulingQueue({ clock });
    q.add('ns/a', 0);
    clock.advance(1);
    q.add('ns/b', 10);
    clock.advance(1);
    q.add('ns/c', 0);
    q.add('ns/a', 0);
    q.add('ns/d', 10);
    assert.deepEqual(drain(q), ['ns/b', 'ns/d', 'ns/a', 'ns/c']);
    q.close();
  });

  it('a deleted pod is not popped; an update changes its priority', () => {
    const clock = new FakeClock();
    const q = new SchedulingQueue({ clock });
    q.add('a', 0);
    q.add('b', 0);
    q.add('c', 0);
    q.delete('b');
    q.update('c', 5);
    assert.deepEqual(drain(q), ['c', 'a']);
    assert.deepEqual(q.stats(), { active: 0, backoff: 0, unschedulable: 0, inflight: 2 });
    q.done('a');
    q.done('c');
    assert.deepEqual(q.stats(), { active: 0, backoff: 0, unschedulable: 0, inflight: 0 });
    q.close();
  });

  it('unschedulable pods wait for a change that may help, then their back-off', () => {
    const clock = new FakeClock();
    let kicks = 0;
    const q = new SchedulingQueue({ clock, onActive: () => kicks++, maxUnschedulableMs: 60_000 });
    q.add('cpu', 0);
    q.add('taint', 0);
    assert.deepEqual(drain(q), ['cpu', 'taint']);
    q.unschedulable('cpu', ['NodeResourcesFit']);
    q.unschedulable('taint', ['TaintToleration']);
    assert.equal(q.where('cpu'), 'unschedulable');
    // nothing happens by itself before the retry interval
    clock.advance(5_000);
    assert.equal(q.pop(), undefined);
    // a bound pod went away: only the resource-bound pod moves (its 1 s back-off is over)
    assert.equal(q.moveUnschedulable(new Set(['NodeResourcesFit', 'NodePorts'])), 1);
    assert.equal(q.where('cpu'), 'active');
    assert.equal(q.where('taint'), 'unschedulable');
    const before = kicks;
    assert.equal(q.pop(), 'cpu');
    assert.ok(kicks > 0 && before > 0);
    // second failure: back-off 2 s; a node event right away puts it in backoffQ first
    q.unschedulable('cpu', ['NodeResourcesFit']);
    assert.equal(q.moveUnschedulable(), 2);
    assert.equal(q.where('cpu'), 'backoff');
    assert.equal(q.where('taint'), 'active');
    assert.equal(q.pop(), 'taint');
    assert.equal(q.pop(), undefined);
    clock.advance(1_999);
    assert.equal(q.pop(), undefined);
    clock.advance(1);
    assert.equal(q.pop(), 'cpu');
    q.close();
  });

  it('back-off doubles per attempt up to the maximum', () => {
    const clock = new FakeClock();
    const q = new SchedulingQueue({ clock, initialBackoffMs: 1000, maxBackoffMs: 4000 });
    q.add('p', 0);
    const waits: number[] = [];
    for (let i = 0; i < 4; i++) {
      assert.equal(q.pop(), 'p');
      q.unschedulable('p', ['X']);
      q.moveUnschedulable();
      const start = clock.now();
      while (q.where('p') !== 'active') clock.advance(100);
      waits.push(clock.now() - start);
    }
    assert.deepEqual(waits, [1000, 2000, 4000, 4000]);
    q.close();
  });

  it('unschedulable pods are retried after maxUnschedulableMs without any change', () => {
    const clock = new FakeClock();
    const q = new SchedulingQueue({ clock, maxUnschedulableMs: 10_000 });
    q.add('p', 0);
    q.pop();
    q.unschedulable('p', ['NodeAffinity']);
    clock.advance(9_000);
    assert.equal(q.where('p'), 'unschedulable');
    clock.advance(6_000);
    assert.equal(q.where('p'), 'active');
    assert.equal(q.pop(), 'p');
    q.close();
  });

  it('retryLater (a binding error) waits out the back-off, even for a key no longer queued', () => {
    const clock = new FakeClock();
    const q = new SchedulingQueue({ clock });
    q.add('p', 0);
    q.pop();
    q.done('p');
    q.retryLater('p', 3);
    assert.equal(q.where('p'), 'backoff');
    clock.advance(999);
    assert.equal(q.pop(), undefined);
    clock.advance(1);
    assert.equal(q.pop(), 'p');
    q.close();
    assert.equal(clock.pending(), 0);
  });
});
