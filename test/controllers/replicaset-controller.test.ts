// The ReplicaSet controller (and the replication controller) against a real API server (memory
// store). No scheduler or node agent runs: pods stay unscheduled (so a delete removes them at
// once), and the test marks pods Ready itself through the status subresource.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type TestServer } from '../support/apiserver.ts';
import { KubeClient } from '../../src/client/rest.ts';
import { Informer } from '../../src/client/informer.ts';
import type { KubeObject } from '../../src/registry/types.ts';
import { silentLogger } from '../../src/util/log.ts';
import { EVENTS_RESOURCE } from '../../src/controllers/events.ts';
import {
  PODS,
  REPLICASETS,
  REPLICATIONCONTROLLERS,
  startReplicaSetController,
  type ReplicaSetController,
} from '../../src/controllers/replicaset/controller.ts';
import { waitFor } from '../support/wait.ts';
import { openStore } from '../../src/store/index.ts';
import type { Store, WatchHandler } from '../../src/store/types.ts';

type Obj = Record<string, unknown>;
const NS = 'default';
const status = (o: KubeObject | undefined): Obj => (o?.status ?? {}) as Obj;

function replicaSet(name: string, replicas: number, image = 'nginx:1.27'): KubeObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'ReplicaSet',
    metadata: { name, namespace: NS },
    spec: {
      replicas,
      selector: { matchLabels: { app: name } },
      template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'c', image }] } },
    },
  };
}

describe('ReplicaSet controller against the API server', () => {
  let ts: TestServer;
  let client: KubeClient;
  let rsc: ReplicaSetController;
  let rcc: ReplicaSetController;
  let watcher: Informer;
  /** Every pod uid ever seen, per app label. */
  const seen = new Map<string, Set<string>>();

  const live = async (app: string): Promise<KubeObject[]> =>
    (await client.list(PODS, NS, { labelSelector: `app=${app}` })).items.filter((p) => !p.metadata.deletionTimestamp);
  /** The set has `n` pods and its status says so for its generation. */
  const settled = (res: typeof REPLICASETS, name: string, n: number, ready = 0): Promise<KubeObject> =>
    waitFor(`${name} at ${n} pods (${ready} ready)`, async () => {
      const set = await client.get(res, NS, name);
      const st = status(set);
      const pods = await live(name);
      return pods.length === n && st.replicas === n && (st.readyReplicas ?? 0) === ready && st.observedGeneration === set.metadata.generation ? set : undefined;
    });
  const markReady = async (pod: KubeObject): Promise<void> => {
    const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
    await client.patch(PODS, NS, pod.metadata.name ?? '', { status: { phase: 'Running', conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: now }] } }, 'merge', {
      subresource: 'status',
    });
  };
  const eventsOf = async (name: string, reason: string): Promise<KubeObject[]> =>
    (await client.list(EVENTS_RESOURCE, NS, { fieldSelector: `involvedObject.name=${name}` })).items.filter((e) => e.reason === reason);

  before(async () => {
    ts = await startTestServer();
    client = KubeClient.fromKubeconfig(ts.kubeconfig);
    watcher = new Informer(client, PODS, { namespace: NS });
    watcher.addEventHandler({
      onAdd: (p) => {
        const app = p.metadata.labels?.app ?? '';
        if (!seen.has(app)) seen.set(app, new Set());
        seen.get(app)!.add(p.metadata.uid ?? '');
      },
    });
    watcher.start();
    await watcher.waitForSync({ timeoutMs: 5000 });
    rsc = await startReplicaSetController({ client, logger: silentLogger, syncTimeoutMs: 5000 });
    rcc = await startReplicaSetController({ client, logger: silentLogger, syncTimeoutMs: 5000, kind: 'ReplicationController' });
  });

  after(async () => {
    await rsc?.stop();
    await rcc?.stop();
    await watcher?.stop();
    client?.close();
    await ts?.stop();
  });

  it('creates the pods with generated names and a controller reference, and reports status', async () => {
    const created = await client.create(REPLICASETS, replicaSet('web', 3));
    const set = await settled(REPLICASETS, 'web', 3);
    assert.deepEqual(status(set), { replicas: 3, fullyLabeledReplicas: 3, observedGeneration: 1 });
    const pods = await live('web');
    for (const p of pods) {
      assert.match(p.metadata.name ?? '', /^web-[a-z0-9]{5}$/);
      assert.deepEqual(p.metadata.ownerReferences, [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web', uid: created.metadata.uid, controller: true, blockOwnerDeletion: true }]);
    }
    const events = await waitFor('3 SuccessfulCreate events', async () => {
      const evs = await eventsOf('web', 'SuccessfulCreate');
      return evs.length === 3 ? evs : undefined;
    });
    assert.deepEqual(events.map((e) => e.message).sort(), pods.map((p) => `Created pod: ${p.metadata.name}`).sort());
    assert.deepEqual(events[0].source, { component: 'replicaset-controller' });
  });

  it('counts ready pods, and scales down by deleting the not-ready pod first', async () => {
    const pods = await live('web');
    await markReady(pods[0]);
    await markReady(pods[1]);
    const set = await settled(REPLICASETS, 'web', 3, 2);
    assert.equal(status(set).availableReplicas, 2);

    await client.patch(REPLICASETS, NS, 'web', { spec: { replicas: 2 } }, 'merge');
    await settled(REPLICASETS, 'web', 2, 2);
    const left = (await live('web')).map((p) => p.metadata.name).sort();
    assert.deepEqual(left, [pods[0].metadata.name, pods[1].metadata.name].sort());
    const del = await waitFor('SuccessfulDelete', async () => ((await eventsOf('web', 'SuccessfulDelete')).length ? await eventsOf('web', 'SuccessfulDelete') : undefined));
    assert.deepEqual(del.map((e) => e.message), [`Deleted pod: ${pods[2].metadata.name}`]);
  });

  it('replaces a deleted pod', async () => {
    const [victim] = await live('web');
    await client.delete(PODS, NS, victim.metadata.name ?? '', { gracePeriodSeconds: 0 });
    await settled(REPLICASETS, 'web', 2, 1);
    assert.ok(!(await live('web')).some((p) => p.metadata.uid === victim.metadata.uid));
  });

  it('adopts a matching orphan instead of creating a pod', async () => {
    const orphan = await client.create(PODS, { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'stray', namespace: NS, labels: { app: 'adopter' } }, spec: { containers: [{ name: 'c', image: 'nginx' }] } });
    const set = await client.create(REPLICASETS, replicaSet('adopter', 1));
    await settled(REPLICASETS, 'adopter', 1);
    const pod = await client.get(PODS, NS, 'stray');
    assert.equal(pod.metadata.uid, orphan.metadata.uid);
    assert.deepEqual(pod.metadata.ownerReferences?.map((r) => [r.kind, r.uid, r.controller]), [['ReplicaSet', set.metadata.uid, true]]);
    assert.equal(seen.get('adopter')?.size, 1, 'no pod was created');
  });

  it('releases a pod whose labels stop matching, and replaces it', async () => {
    await client.patch(PODS, NS, 'stray', { metadata: { labels: { app: 'debugging' } } }, 'merge');
    await settled(REPLICASETS, 'adopter', 1);
    const released = await waitFor('stray released', async () => {
      const p = await client.get(PODS, NS, 'stray');
      return p.metadata.ownerReferences === undefined ? p : undefined;
    });
    assert.equal(released.metadata.labels?.app, 'debugging');
    assert.equal(seen.get('adopter')?.size, 2);
  });

  it('creates exactly `replicas` pods in slow-start batches, never more', async () => {
    await client.create(REPLICASETS, replicaSet('burst', 40));
    await settled(REPLICASETS, 'burst', 40);
    assert.equal(seen.get('burst')?.size, 40);
    // Scale up and down again: the pod count passes through no extra pods.
    await client.patch(REPLICASETS, NS, 'burst', { spec: { replicas: 5 } }, 'merge');
    await settled(REPLICASETS, 'burst', 5);
    assert.equal(seen.get('burst')?.size, 40);
  });

  it('records FailedCreate and the ReplicaFailure condition when pods cannot be created, and clears it once fixed', async () => {
    // A trailing space in the image passes template validation but not pod validation.
    await client.create(REPLICASETS, replicaSet('broken', 2, 'nginx '));
    const failed = await waitFor('ReplicaFailure condition', async () => {
      const s = await client.get(REPLICASETS, NS, 'broken');
      return ((status(s).conditions as Obj[] | undefined) ?? []).find((c) => c.type === 'ReplicaFailure') ? s : undefined;
    });
    const cond = (status(failed).conditions as Obj[])[0];
    assert.equal(cond.status, 'True');
    assert.equal(cond.reason, 'FailedCreate');
    assert.match(String(cond.message), /image/);
    const evs = await waitFor('FailedCreate event', async () => ((await eventsOf('broken', 'FailedCreate')).length ? await eventsOf('broken', 'FailedCreate') : undefined));
    assert.match(String(evs[0].message), /^Error creating: /);
    assert.equal(evs[0].type, 'Warning');

    await client.patch(REPLICASETS, NS, 'broken', { spec: { template: { spec: { containers: [{ name: 'c', image: 'nginx' }] } } } }, 'strategic');
    const fixed = await settled(REPLICASETS, 'broken', 2);
    assert.equal(status(fixed).conditions, undefined);
  });

  it('runs ReplicationControllers with the same algorithm', async () => {
    const rc = await client.create(REPLICATIONCONTROLLERS, {
      apiVersion: 'v1',
      kind: 'ReplicationController',
      metadata: { name: 'legacy', namespace: NS },
      spec: { replicas: 2, template: { metadata: { labels: { app: 'legacy' } }, spec: { containers: [{ name: 'c', image: 'busybox' }] } } },
    });
    await settled(REPLICATIONCONTROLLERS, 'legacy', 2);
    const pods = await live('legacy');
    for (const p of pods) {
      assert.match(p.metadata.name ?? '', /^legacy-[a-z0-9]{5}$/);
      assert.deepEqual(p.metadata.ownerReferences?.map((r) => [r.apiVersion, r.kind, r.uid, r.controller]), [['v1', 'ReplicationController', rc.metadata.uid, true]]);
    }
    const evs = await waitFor('RC events', async () => ((await eventsOf('legacy', 'SuccessfulCreate')).length === 2 ? await eventsOf('legacy', 'SuccessfulCreate') : undefined));
    assert.deepEqual(evs[0].source, { component: 'replication-controller' });
    // The ReplicaSet controller leaves RC pods alone (a ReplicaSet selecting them would adopt
    // only orphans).
    await client.patch(REPLICATIONCONTROLLERS, NS, 'legacy', { spec: { replicas: 0 } }, 'merge');
    await settled(REPLICATIONCONTROLLERS, 'legacy', 0);
  });
});

/** A store whose watches deliver every change `ms` late: the controller's caches then lag
 *  behind its own writes, as they can on a busy server. */
function laggingStore(inner: Store, ms: number): Store {
  return new Proxy(inner, {
    get(target, prop, receiver) {
      if (prop === 'watch') {
        return (prefix: string, after: number, onEvents: WatchHandler, onError: Parameters<Store['watch']>[3]) =>
          target.watch(prefix, after, (evs) => void setTimeout(() => onEvents(evs), ms), onError);
      }
      const v: unknown = Reflect.get(target, prop, receiver);
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}

describe('ReplicaSet controller with caches lagging behind its writes', () => {
  let ts: TestServer;
  let client: KubeClient;
  let rsc: ReplicaSetController;
  let watcher: Informer;
  const uids = new Set<string>();

  before(async () => {
    ts = await startTestServer({ store: laggingStore(await openStore({ backend: 'memory' }), 150) });
    client = KubeClient.fromKubeconfig(ts.kubeconfig);
    watcher = new Informer(client, PODS, { namespace: NS });
    watcher.addEventHandler({ onAdd: (p) => void uids.add(p.metadata.uid ?? '') });
    watcher.start();
    await watcher.waitForSync({ timeoutMs: 5000 });
    rsc = await startReplicaSetController({ client, logger: silentLogger, syncTimeoutMs: 5000 });
  });

  after(async () => {
    await rsc?.stop();
    await watcher?.stop();
    client?.close();
    await ts?.stop();
  });

  it('waits for its own creations to show before counting again: never creates too many', async () => {
    await client.create(REPLICASETS, replicaSet('lag', 30));
    await waitFor('30 pods and status', async () => {
      const set = await client.get(REPLICASETS, NS, 'lag');
      return uids.size >= 30 && status(set).replicas === 30 ? set : undefined;
    });
    // Give a controller that double-counted time to overshoot, then check it did not.
    await new Promise((r) => setTimeout(r, 400));
    assert.equal(uids.size, 30);
    assert.equal((await client.list(PODS, NS)).items.length, 30);
  });
});
