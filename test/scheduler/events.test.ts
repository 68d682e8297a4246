// The scheduler's event writer: the core/v1 Event it creates, repeats folded into a count, the
// per-object spam filter, and the bounded queue.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { KubeClient, ResourceRef } from '../../src/client/rest.ts';
import { ApiStatusError } from '../../src/client/rest.ts';
import type { KubeObject } from '../../src/registry/types.ts';
import { EventRecorder } from '../../src/scheduler/events.ts';

interface Call {
  verb: 'create' | 'patch';
  name: string;
  body: Record<string, unknown>;
}

/** Just enough of KubeClient for the recorder: create and patch, recorded; optionally slow. */
function fakeClient(opts: { delayMs?: number; missing?: Set<string> } = {}): { client: KubeClient; calls: Call[] } {
  const calls: Call[] = [];
  const wait = () => new Promise((r) => setTimeout(r, opts.delayMs ?? 0));
  const client = {
    async create(_res: ResourceRef, obj: KubeObject) {
      await wait();
      calls.push({ verb: 'create', name: obj.metadata.name ?? '', body: obj as Record<string, unknown> });
      return obj;
    },
    async patch(_res: ResourceRef, _ns: string, name: string, body: Record<string, unknown>) {
      await wait();
      if (opts.missing?.has(name)) {
        throw new ApiStatusError({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', code: 404, reason: 'NotFound', message: 'not found' });
      }
      calls.push({ verb: 'patch', name, body });
      return { metadata: { name } };
    },
  };
  return { client: client as unknown as KubeClient, calls };
}

const POD: KubeObject = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web-0', namespace: 'prod', uid: 'u-1' } };

describe('scheduler: event recorder', () => {
  it('creates a core/v1 Event and folds repeats into count and lastTimestamp', async () => {
    let now = Date.parse('2025-01-01T00:00:00Z');
    const { client, calls } = fakeClient();
    const r = new EventRecorder({ client, instance: 'sched-1', now: () => now });
    r.event(POD, 'Warning', 'FailedScheduling', 'Scheduling', '0/1 nodes are available: 1 Insufficient cpu.');
    now += 5000;
    r.event(POD, 'Warning', 'FailedScheduling', 'Scheduling', '0/1 nodes are available: 1 Insufficient cpu.');
    r.event(POD, 'Warning', 'FailedScheduling', 'Scheduling', 'something else');
    await r.flush();
    assert.equal(calls.length, 3);
    // Writes of one event are ordered (create before its patch); other events do not wait.
    const first = calls[0];
    const second = calls.find((c) => c.verb === 'patch')!;
    const third = calls.find((c) => c.verb === 'create' && c.body.message === 'something else')!;
    assert.ok(calls.indexOf(second) > 0);
    assert.equal(first.verb, 'create');
    assert.match(first.name, /^web-0\.[0-9a-f]+$/);
    assert.deepEqual(
      { ...first.body, metadata: undefined },
      {
        apiVersion: 'v1',
        kind: 'Event',
        metadata: undefined,
        involvedObject: { kind: 'Pod', namespace: 'prod', name: 'web-0', uid: 'u-1', apiVersion: 'v1' },
        reason: 'FailedScheduling',
        message: '0/1 nodes are available: 1 Insufficient cpu.',
        type: 'Warning',
        action: 'Scheduling',
        source: { component: 'default-scheduler' },
        firstTimestamp: '2025-01-01T00:00:00Z',
        lastTimestamp: '2025-01-01T00:00:00Z',
        count: 1,
        reportingComponent: 'default-scheduler',
        reportingInstance: 'sched-1',
      },
    );
    assert.deepEqual(first.body.metadata, { name: first.name, namespace: 'prod' });
    assert.deepEqual(second, { verb: 'patch', name: first.name, body: { count: 2, lastTimestamp: '2025-01-01T00:00:05Z', message: '0/1 nodes are available: 1 Insufficient cpu.' } });
    assert.equal(third.verb, 'create');
    assert.notEqual(third.name, first.name);
  });

  it('starts a new Event when the folded one is gone', async () => {
    const missing = new Set<string>();
    const { client, calls } = fakeClient({ missing });
    const r = new EventRecorder({ client, instance: 'i' });
    r.event(POD, 'Normal', 'Scheduled', 'Binding', 'x');
    await r.flush();
    missing.add(calls[0].name);
    r.event(POD, 'Normal', 'Scheduled', 'Binding', 'x');
    await r.flush();
    assert.equal(calls.length, 2);
    assert.equal(calls[1].verb, 'create');
    assert.equal(calls[1].body.count, 1);
  });

  it('lets an object emit a burst, then one event per refill interval', async () => {
    let now = 1_000_000;
    const { client, calls } = fakeClient();
    const r = new EventRecorder({ client, instance: 'i', burst: 3, refillMs: 1000, now: () => now });
    for (let i = 0; i < 5; i++) r.event(POD, 'Warning', 'FailedScheduling', 'Scheduling', `m${i}`);
    // another object has its own bucket
    r.event({ ...POD, metadata: { ...POD.metadata, name: 'web-1', uid: 'u-2' } }, 'Warning', 'FailedScheduling', 'Scheduling', 'm');
    await r.flush();
    assert.equal(calls.length, 4);
    assert.equal(r.dropped, 2);
    now += 1000;
    r.event(POD, 'Warning', 'FailedScheduling', 'Scheduling', 'later');
    r.event(POD, 'Warning', 'FailedScheduling', 'Scheduling', 'later again');
    await r.flush();
    assert.equal(calls.length, 5);
    assert.equal(r.dropped, 3);
  });

  it('bounds the queue: past maxPending new events are dropped, the rest are written', async () => {
    const { client, calls } = fakeClient({ delayMs: 5 });
    const r = new EventRecorder({ client, instance: 'i', concurrency: 2, maxPending: 5 });
    for (let i = 0; i < 20; i++) r.event({ ...POD, metadata: { name: `p${i}`, namespace: 'prod', uid: `u${i}` } }, 'Normal', 'Scheduled', 'Binding', 'ok');
    assert.ok(r.pending <= 7);
    await r.close();
    assert.equal(calls.length + r.dropped, 20);
    assert.equal(calls.length, 7);
    // closed: nothing more is recorded
    r.event(POD, 'Normal', 'Scheduled', 'Binding', 'ok');
    await r.flush();
    assert.equal(calls.length, 7);
  });
});
