// The shared core/v1 Event recorder (src/client/events.ts) against a fake API: the Event it
// writes for an object and for a container target, per-event write order under bounded
// concurrency, the aggregation of similar events, the per-object spam filter, a name clash
// retried, dropping past maxPending, and stop() never hanging.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { KubeClient, ResourceRef } from '../../src/client/rest.ts';
import { ApiStatusError } from '../../src/client/rest.ts';
import type { KubeObject } from '../../src/registry/types.ts';
import { EventRecorder, MemoryEventRecorder, eventTarget } from '../../src/client/events.ts';

interface Call {
  verb: 'create' | 'patch';
  name: string;
  body: Record<string, unknown>;
}

function status(code: number, reason: string): ApiStatusError {
  return new ApiStatusError({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', code, reason, message: reason });
}

/** create and patch, recorded; each call takes delayMs; names in `clash` are taken once. */
function fakeClient(opts: { delayMs?: number; clash?: Set<string>; gate?: Promise<void> } = {}): { client: KubeClient; calls: Call[]; peak: () => number } {
  const calls: Call[] = [];
  let live = 0;
  let peak = 0;
  const slow = async <T>(fn: () => T): Promise<T> => {
    live++;
    peak = Math.max(peak, live);
    try {
      await opts.gate;
      await new Promise((r) => setTimeout(r, opts.delayMs ?? 0));
      return fn();
    } finally {
      live--;
    }
  };
  const client = {
    create: (_res: ResourceRef, obj: KubeObject) =>
      slow(() => {
        const name = obj.metadata.name ?? '';
        if (opts.clash?.delete(name)) throw status(409, 'AlreadyExists');
        calls.push({ verb: 'create', name, body: obj as Record<string, unknown> });
        return obj;
      }),
    patch: (_res: ResourceRef, _ns: string, name: string, body: Record<string, unknown>) =>
      slow(() => {
        calls.push({ verb: 'patch', name, body });
        return { metadata: { name } };
      }),
  };
  return { client: client as unknown as KubeClient, calls, peak: () => peak };
}

const SET: KubeObject = { apiVersion: 'apps/v1', kind: 'StatefulSet', metadata: { name: 'web', namespace: 'prod', uid: 'u-1', resourceVersion: '7' } };

describe('client: event recorder', () => {
  it('writes a core/v1 Event with the fields the object has, source host and instance', async () => {
    const { client, calls } = fakeClient();
    const r = new EventRecorder({ client, component: 'statefulset-controller', host: 'server-1', now: () => Date.parse('2025-03-01T10:00:00.250Z') });
    r.event(SET, 'Normal', 'SuccessfulCreate', 'create Pod web-0 in StatefulSet web successful');
    r.event({ apiVersion: 'v1', kind: 'Node', metadata: { name: 'n1' } }, 'Normal', 'RegisteredNode', 'x');
    await r.flush();
    const [ev, node] = calls.map((c) => c.body);
    assert.match(calls[0].name, /^web\.[0-9a-f]+$/);
    assert.deepEqual(ev.involvedObject, { kind: 'StatefulSet', namespace: 'prod', name: 'web', uid: 'u-1', apiVersion: 'apps/v1', resourceVersion: '7' });
    assert.deepEqual(ev.metadata, { name: calls[0].name, namespace: 'prod' });
    assert.deepEqual(ev.source, { component: 'statefulset-controller', host: 'server-1' });
    assert.equal(ev.reportingInstance, 'server-1');
    assert.equal(ev.firstTimestamp, '2025-03-01T10:00:00Z');
    assert.equal(ev.count, 1);
    assert.equal('action' in ev, false);
    // A cluster-scoped object's events live in `default`.
    assert.deepEqual(node.involvedObject, { kind: 'Node', name: 'n1', apiVersion: 'v1' });
    assert.equal((node.metadata as { namespace: string }).namespace, 'default');
    assert.equal(r.written, 2);
  });

  it('keeps a target\'s fieldPath and folds repeats per field path', async () => {
    const { client, calls } = fakeClient();
    const r = new EventRecorder({ client, component: 'kubelet', host: 'node-a' });
    const c1 = { kind: 'Pod', apiVersion: 'v1', namespace: 'd', name: 'p', uid: 'u', fieldPath: 'spec.containers{a}' };
    const c2 = { ...c1, fieldPath: 'spec.containers{b}' };
    r.event(c1, 'Warning', 'BackOff', 'm');
    r.event(c1, 'Warning', 'BackOff', 'm');
    r.event(c2, 'Warning', 'BackOff', 'm');
    await r.close();
    assert.deepEqual(calls.map((c) => c.verb).sort(), ['create', 'create', 'patch']);
    const created = calls.filter((c) => c.verb === 'create').map((c) => (c.body.involvedObject as { fieldPath: string }).fieldPath);
    assert.deepEqual(created.sort(), ['spec.containers{a}', 'spec.containers{b}']);
  });

  it('writes one event in order while others proceed, never more than `concurrency` at once', async () => {
    const { client, calls, peak } = fakeClient({ delayMs: 3 });
    const r = new EventRecorder({ client, component: 'c', concurrency: 3, spamFilter: false });
    for (let round = 0; round < 4; round++) for (let i = 0; i < 6; i++) r.event(SET, 'Normal', 'R', `m${i}`);
    await r.flush();
    assert.equal(calls.length, 24);
    assert.ok(peak() <= 3, `peak ${peak()}`);
    assert.ok(peak() > 1, 'different events are written concurrently');
    for (let i = 0; i < 6; i++) {
      const mine = calls.filter((c) => c.verb === 'create' && c.body.message === `m${i}`);
      assert.equal(mine.length, 1);
      const counts = calls.filter((c) => c.verb === 'patch' && c.name === mine[0].name).map((c) => c.body.count);
      assert.deepEqual(counts, [2, 3, 4], 'folds of one event are written in order');
    }
  });

  it('lets an object have 25 events at once, then one per 5 minutes (client-go’s default spam filter); false turns it off', async () => {
    let now = Date.parse('2025-03-01T10:00:00Z');
    const { client, calls } = fakeClient();
    const r = new EventRecorder({ client, component: 'statefulset-controller', now: () => now });
    const OTHER: KubeObject = { ...SET, metadata: { ...SET.metadata, name: 'db', uid: 'u-2' } };
    for (let i = 0; i < 40; i++) r.event(SET, 'Normal', 'SuccessfulCreate', `create Pod web-${i} in StatefulSet web successful`);
    r.event(OTHER, 'Normal', 'SuccessfulCreate', 'create Pod db-0 in StatefulSet db successful');
    await r.flush();
    // Writes about an object: its Events created, and the patches of those Events.
    const about = (name: string) => calls.filter((c) => (c.verb === 'create' ? (c.body.involvedObject as { name?: string }).name === name : c.name.startsWith(`${name}.`)));
    assert.equal(about('web').length, 25);
    // The first 25, in order: 9 Events, then the aggregated one (its creation and 15 patches).
    assert.equal(about('web').filter((c) => c.verb === 'create').length, 10);
    assert.equal(about('web').at(-1)?.body.message, '(combined from similar events): create Pod web-24 in StatefulSet web successful');
    assert.equal(about('web').at(-1)?.body.count, 16);
    assert.equal(about('db').length, 1, 'each object has its own allowance');
    assert.equal(r.dropped, 15);
    // One more token after 5 minutes, not before.
    now += 299_000;
    r.event(SET, 'Normal', 'SuccessfulDelete', 'delete Pod web-39 in StatefulSet web successful');
    now += 2_000;
    r.event(SET, 'Normal', 'SuccessfulDelete', 'delete Pod web-38 in StatefulSet web successful');
    await r.flush();
    assert.deepEqual(about('web').slice(25).map((c) => c.body.message), ['delete Pod web-38 in StatefulSet web successful']);

    const off = fakeClient();
    const unfiltered = new EventRecorder({ client: off.client, component: 'c', spamFilter: false });
    for (let i = 0; i < 40; i++) unfiltered.event(SET, 'Normal', 'R', `m${i}`);
    await unfiltered.flush();
    assert.equal(off.calls.length, 40);
  });

  it('aggregates the 10th and later different messages of one object, type and reason into one Event (client-go’s EventAggregator)', async () => {
    let now = Date.parse('2025-03-01T10:00:00Z');
    const { client, calls } = fakeClient();
    const r = new EventRecorder({ client, component: 'kubelet', host: 'node-a', now: () => now, spamFilter: false });
    const pod = { kind: 'Pod', apiVersion: 'v1', namespace: 'd', name: 'p', uid: 'u' };
    // Different containers of one pod: fieldPath is not part of the aggregate (as in client-go).
    for (let i = 0; i < 12; i++) r.event({ ...pod, fieldPath: `spec.containers{c${i}}` }, 'Normal', 'Created', `Created container c${i}`);
    r.event(pod, 'Warning', 'Failed', 'another reason is another aggregate');
    r.event({ ...pod, name: 'q', uid: 'v' }, 'Normal', 'Created', 'Created container c0');
    await r.flush();
    const created = calls.filter((c) => c.verb === 'create' && c.body.reason === 'Created' && (c.body.involvedObject as { name: string }).name === 'p');
    assert.deepEqual(
      created.map((c) => c.body.message),
      [...Array.from({ length: 9 }, (_, i) => `Created container c${i}`), '(combined from similar events): Created container c9'],
    );
    const combined = created[9];
    assert.equal(combined.body.count, 1);
    assert.equal((combined.body.involvedObject as { fieldPath?: string }).fieldPath, 'spec.containers{c9}');
    const patches = calls.filter((c) => c.verb === 'patch');
    assert.deepEqual(
      patches.map((c) => [c.name, c.body.count, c.body.message]),
      [
        [combined.name, 2, '(combined from similar events): Created container c10'],
        [combined.name, 3, '(combined from similar events): Created container c11'],
      ],
    );
    assert.equal(calls.filter((c) => c.verb === 'create').length, 12, 'the other reason and the other pod are not combined');

    // Within 10 minutes of the last one, a new message still folds in; after 10 quiet minutes the
    // aggregate starts over and messages are recorded one by one again.
    now += 599_000;
    r.event(pod, 'Normal', 'Created', 'Created container c12');
    now += 600_001;
    r.event(pod, 'Normal', 'Created', 'Created container c13');
    await r.flush();
    const tail = calls.slice(-2);
    assert.deepEqual([tail[0].verb, tail[0].name, tail[0].body.count, tail[0].body.message], ['patch', combined.name, 4, '(combined from similar events): Created container c12']);
    assert.deepEqual([tail[1].verb, tail[1].body.message, tail[1].body.count], ['create', 'Created container c13', 1]);
  });

  it('retries a create whose generated name is taken', async () => {
    const clash = new Set<string>();
    const { client, calls } = fakeClient({ clash });
    const r = new EventRecorder({ client, component: 'c', now: () => 1_000 });
    // The first name the recorder generates: web.<1000 ms in ns, hex>.
    clash.add(`web.${(1_000n * 1_000_000n).toString(16)}`);
    r.event(SET, 'Normal', 'R', 'x');
    await r.flush();
    assert.equal(calls.length, 1);
    assert.equal(calls[0].name, `web.${(1_000n * 1_000_000n + 1n).toString(16)}`);
  });

  it('drops past maxPending, counts it, and stop() gives up after its timeout', async () => {
    let open = (): void => undefined;
    const gate = new Promise<void>((r) => (open = r));
    const { client, calls } = fakeClient({ gate });
    // Keeps the process alive while stop() waits on its unref'd timer.
    const alive = setTimeout(() => undefined, 5_000);
    const r = new EventRecorder({ client, component: 'c', maxPending: 2 });
    for (let i = 0; i < 5; i++) r.event(SET, 'Normal', 'R', `m${i}`);
    assert.equal(r.pending, 2);
    assert.equal(r.dropped, 3);
    const t0 = Date.now();
    await r.stop(50);
    assert.ok(Date.now() - t0 < 1000);
    r.event(SET, 'Normal', 'R', 'after stop');
    assert.equal(r.pending, 2, 'nothing is accepted after stop');
    open();
    clearTimeout(alive);
    await r.flush();
    assert.equal(calls.length, 2);
  });

  it('memory recorder and eventTarget', () => {
    const m = new MemoryEventRecorder();
    m.event(SET, 'Warning', 'FailedCreate', 'boom');
    assert.deepEqual(m.events, [{ target: eventTarget(SET), type: 'Warning', reason: 'FailedCreate', message: 'boom' }]);
    const off = new MemoryEventRecorder(false);
    off.event(SET, 'Normal', 'R', 'x');
    assert.equal(off.events.length, 0);
  });
});
