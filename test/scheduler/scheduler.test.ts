// The scheduler against a real API server: pods land on the right nodes through pods/binding,
// an unschedulable pod gets the FailedScheduling event and PodScheduled condition in
// kube-scheduler's words, and is bound once a node that fits appears (or a label is added, or
// a bound pod goes away); a burst of pods of one owner spreads over the nodes.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type TestServer } from '../support/apiserver.ts';
import { KubeClient, type ResourceRef } from '../../src/client/rest.ts';
import type { KubeObject } from '../../src/registry/types.ts';
import { startScheduler, type Scheduler } from '../../src/scheduler/scheduler.ts';
import { InformerFactory } from '../../src/client/informer.ts';
import type { Node, Pod, Taint, Toleration } from '../../src/scheduler/types.ts';

const PODS: ResourceRef = { group: '', version: 'v1', plural: 'pods', namespaced: true, kind: 'Pod' };
const NODES: ResourceRef = { group: '', version: 'v1', plural: 'nodes', namespaced: false, kind: 'Node' };
const EVENTS: ResourceRef = { group: '', version: 'v1', plural: 'events', namespaced: true, kind: 'Event' };
const PVCS: ResourceRef = { group: '', version: 'v1', plural: 'persistentvolumeclaims', namespaced: true, kind: 'PersistentVolumeClaim' };
const PVS: ResourceRef = { group: '', version: 'v1', plural: 'persistentvolumes', namespaced: false, kind: 'PersistentVolume' };

function nodeObj(name: string, cpu: string, labels: Record<string, string> = {}, taints?: Taint[]): Node {
  const allocatable = { cpu, memory: '4Gi', pods: '110', 'ephemeral-storage': '20Gi' };
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name, labels: { 'kubernetes.io/hostname': name, 'kubernetes.io/os': 'linux', ...labels } },
    spec: taints ? { taints } : {},
    status: {
      capacity: allocatable,
      allocatable,
      conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'ready', lastHeartbeatTime: new Date().toISOString(), lastTransitionTime: new Date().toISOString() }],
    },
  };
}

interface PodOpts {
  cpu?: string;
  nodeSelector?: Record<string, string>;
  tolerations?: Toleration[];
  owner?: string;
  claim?: string;
}

function podObj(name: string, o: PodOpts = {}): Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace: 'default',
      ...(o.owner ? { ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: o.owner, uid: `uid-${o.owner}`, controller: true }] } : {}),
    },
    spec: {
      containers: [{ name: 'c', image: 'busybox:1.36', ...(o.cpu ? { resources: { requests: { cpu: o.cpu } } } : {}) }],
      ...(o.nodeSelector ? { nodeSelector: o.nodeSelector } : {}),
      ...(o.tolerations ? { tolerations: o.tolerations } : {}),
      ...(o.claim ? { volumes: [{ name: 'data', persistentVolumeClaim: { claimName: o.claim } }] } : {}),
    },
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await sleep(20);
  }
}

describe('scheduler: against the API server', () => {
  let s: TestServer;
  let client: KubeClient;
  let sched: Scheduler;

  const createNode = async (n: Node): Promise<void> => {
    const created = await client.create<Node>(NODES, n);
    // The API may drop status on create (it has a status subresource): write it.
    if (!created.status?.allocatable) await client.updateStatus<Node>(NODES, { ...created, status: n.status });
  };
  const nodeOf = async (name: string): Promise<string | undefined> => (await client.get<Pod>(PODS, 'default', name)).spec?.nodeName || undefined;
  const boundTo = (name: string, timeoutMs?: number) => waitFor(`${name} to be bound`, () => nodeOf(name), timeoutMs);
  const eventsFor = async (name: string): Promise<KubeObject[]> => {
    const list = await client.list(EVENTS, 'default', { fieldSelector: `involvedObject.name=${name}` });
    return list.items;
  };

  before(async () => {
    s = await startTestServer();
    client = new KubeClient({ server: s.url, ca: s.ca, token: s.token });
    await createNode(nodeObj('node-a', '2'));
    await createNode(nodeObj('node-b', '2', {}, [{ key: 'dedicated', value: 'infra', effect: 'NoSchedule' }]));
    await createNode(nodeObj('node-c', '2', { disk: 'ssd' }));
    // Pods created before the scheduler starts are picked up from its first list.
    await client.create(PODS, podObj('web-ssd', { nodeSelector: { disk: 'ssd' }, cpu: '500m' }));
    await client.create(PODS, podObj('infra-agent', { nodeSelector: { 'kubernetes.io/hostname': 'node-b' }, tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'infra', effect: 'NoSchedule' }] }));
    sched = await startScheduler({ client, initialBackoffMs: 50, maxBackoffMs: 200, instance: 'test' });
  });

  after(async () => {
    await sched?.stop();
    client?.close();
    await s?.stop();
  });

  it('binds pods to the nodes their selectors and tolerations allow, with a Scheduled event', async () => {
    assert.equal(await boundTo('web-ssd'), 'node-c');
    assert.equal(await boundTo('infra-agent'), 'node-b');
    // A plain pod never goes to the tainted node.
    for (let i = 0; i < 4; i++) await client.create(PODS, podObj(`plain-${i}`, { cpu: '100m' }));
    for (let i = 0; i < 4; i++) assert.notEqual(await boundTo(`plain-${i}`), 'node-b');
    const pod = await client.get<Pod>(PODS, 'default', 'web-ssd');
    const cond = pod.status?.conditions?.find((c) => c.type === 'PodScheduled');
    assert.equal(cond?.status, 'True');
    const ev = await waitFor('the Scheduled event', async () => (await eventsFor('web-ssd')).find((e) => e.reason === 'Scheduled'));
    assert.equal(ev.message, 'Successfully assigned default/web-ssd to node-c');
    assert.equal(ev.type, 'Normal');
    assert.deepEqual(ev.source, { component: 'default-scheduler' });
    assert.equal(ev.reportingComponent, 'default-scheduler');
    assert.equal(ev.count, 1);
    assert.equal((ev.involvedObject as { uid?: string }).uid, pod.metadata.uid);
    assert.match(ev.metadata.name ?? '', /^web-ssd\.[0-9a-f]+$/);
  });

  it('explains an unschedulable pod, then binds it when a node that fits appears', async () => {
    await client.create(PODS, podObj('big', { cpu: '3' }));
    const want =
      '0/3 nodes are available: 1 node(s) had untolerated taint {dedicated: infra}, 2 Insufficient cpu. ' +
      'preemption: 0/3 nodes are available: 1 Preemption is not helpful for scheduling, 2 No preemption victims found for incoming pod.';
    const cond = await waitFor('the PodScheduled=False condition', async () => {
      const p = await client.get<Pod>(PODS, 'default', 'big');
      const c = p.status?.conditions?.find((x) => x.type === 'PodScheduled');
      return c?.status === 'False' ? c : undefined;
    });
    assert.equal(cond.reason, 'Unschedulable');
    assert.equal(cond.message, want);
    assert.ok(cond.lastTransitionTime);
    const ev = await waitFor('the FailedScheduling event', async () => (await eventsFor('big')).find((e) => e.reason === 'FailedScheduling'));
    assert.equal(ev.type, 'Warning');
    assert.equal(ev.message, want);
    assert.deepEqual(ev.source, { component: 'default-scheduler' });
    assert.equal(await nodeOf('big'), undefined);

    await createNode(nodeObj('node-d', '4'));
    assert.equal(await boundTo('big'), 'node-d');
    const after = await client.get<Pod>(PODS, 'default', 'big');
    assert.equal(after.status?.conditions?.find((c) => c.type === 'PodScheduled')?.status, 'True');
  });

  it('retries when a node gains the label a pod selects', async () => {
    await client.create(PODS, podObj('gpu-job', { nodeSelector: { accel: 'gpu' } }));
    await waitFor('FailedScheduling for gpu-job', async () => (await eventsFor('gpu-job')).find((e) => e.reason === 'FailedScheduling'));
    const ev = (await eventsFor('gpu-job')).find((e) => e.reason === 'FailedScheduling')!;
    assert.equal(
      ev.message,
      "0/4 nodes are available: 1 node(s) had untolerated taint {dedicated: infra}, 3 node(s) didn't match Pod's node affinity/selector. preemption: 0/4 nodes are available: 4 Preemption is not helpful for scheduling.",
    );
    await client.patch(NODES, undefined, 'node-a', { metadata: { labels: { accel: 'gpu' } } }, 'merge');
    assert.equal(await boundTo('gpu-job'), 'node-a');
  });

  it('retries when a bound pod goes away and frees room', async () => {
    // node-d has 4 cpu and holds `big` (3): another 3-cpu pod does not fit anywhere.
    await client.create(PODS, podObj('big-2', { cpu: '3' }));
    await waitFor('FailedScheduling for big-2', async () => (await eventsFor('big-2')).find((e) => e.reason === 'FailedScheduling'));
    assert.equal(await nodeOf('big-2'), undefined);
    await client.delete(PODS, 'default', 'big', { gracePeriodSeconds: 0 });
    assert.equal(await boundTo('big-2'), 'node-d');
  });

  it('checks a bound local PV\'s node affinity', async () => {
    await client.create(PVS, {
      apiVersion: 'v1',
      kind: 'PersistentVolume',
      metadata: { name: 'local-c' },
      spec: {
        capacity: { storage: '1Gi' },
        accessModes: ['ReadWriteOnce'],
        persistentVolumeReclaimPolicy: 'Retain',
        storageClassName: 'manual',
        local: { path: '/tmp/x' },
        nodeAffinity: { required: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'In', values: ['node-c'] }] }] } },
      },
    });
    await client.create(PVCS, {
      apiVersion: 'v1',
      kind: 'PersistentVolumeClaim',
      metadata: { name: 'data-db', namespace: 'default' },
      spec: { accessModes: ['ReadWriteOnce'], storageClassName: 'manual', volumeName: 'local-c', resources: { requests: { storage: '1Gi' } } },
    });
    for (let i = 0; i < 3; i++) await client.create(PODS, podObj(`db-${i}`, { claim: 'data-db' }));
    for (let i = 0; i < 3; i++) assert.equal(await boundTo(`db-${i}`), 'node-c');
    // a claim that does not exist yet: explained, then bound once the claim appears
    await client.create(PODS, podObj('orphan', { claim: 'nope' }));
    const ev = await waitFor('FailedScheduling for orphan', async () => (await eventsFor('orphan')).find((e) => e.reason === 'FailedScheduling'));
    assert.equal(ev.message, '0/4 nodes are available: persistentvolumeclaim "nope" not found. preemption: 0/4 nodes are available: 4 Preemption is not helpful for scheduling.');
    // An unbound WaitForFirstConsumer claim: the pod is placed and the claim told where.
    await client.create(
      { group: 'storage.k8s.io', version: 'v1', plural: 'storageclasses', namespaced: false, kind: 'StorageClass' },
      { apiVersion: 'storage.k8s.io/v1', kind: 'StorageClass', metadata: { name: 'local-path' }, provisioner: 'kennel.io/local-path', volumeBindingMode: 'WaitForFirstConsumer' },
    );
    await client.create(PVCS, {
      apiVersion: 'v1',
      kind: 'PersistentVolumeClaim',
      metadata: { name: 'nope', namespace: 'default' },
      spec: { accessModes: ['ReadWriteOnce'], storageClassName: 'local-path', resources: { requests: { storage: '1Gi' } } },
    });
    const node = await boundTo('orphan');
    const pvc = await client.get(PVCS, 'default', 'nope');
    assert.equal(pvc.metadata.annotations?.['volume.kubernetes.io/selected-node'], node);
  });

  it('only schedules pods that name it; with leader election, only the Lease holder schedules', async () => {
    const stray = podObj('stray');
    stray.spec!.schedulerName = 'nobody';
    await client.create(PODS, stray);
    const mine = podObj('other-pod');
    mine.spec!.schedulerName = 'kennel-other';
    await client.create(PODS, mine);
    const other = await startScheduler({ client, schedulerName: 'kennel-other', leaderElection: { identity: 'other-a', name: 'kennel-other' }, instance: 'test-other' });
    try {
      assert.ok(await boundTo('other-pod'));
      const lease = await client.get<KubeObject & { spec?: { holderIdentity?: string } }>(
        { group: 'coordination.k8s.io', version: 'v1', plural: 'leases', namespaced: true, kind: 'Lease' },
        'kube-system',
        'kennel-other',
      );
      assert.equal(lease.spec?.holderIdentity, 'other-a');
      const ev = await waitFor('the Scheduled event', async () => (await eventsFor('other-pod')).find((e) => e.reason === 'Scheduled'));
      assert.deepEqual(ev.source, { component: 'kennel-other' });
    } finally {
      await other.stop();
    }
    // Neither scheduler touched the stray pod.
    assert.equal(await nodeOf('stray'), undefined);
    assert.deepEqual(await eventsFor('stray'), []);
  });

  it('spreads a burst of one owner\'s pods over the nodes that fit', async () => {
    const n = 30;
    await Promise.all(Array.from({ length: n }, (_, i) => client.create(PODS, podObj(`burst-${i}`, { owner: 'burst' }))));
    const counts = new Map<string, number>();
    await waitFor(
      'the burst to be bound',
      async () => {
        const list = await client.list<Pod>(PODS, 'default');
        const bound = list.items.filter((p) => p.metadata.name?.startsWith('burst-') && p.spec?.nodeName);
        if (bound.length < n) return undefined;
        counts.clear();
        for (const p of bound) counts.set(p.spec!.nodeName!, (counts.get(p.spec!.nodeName!) ?? 0) + 1);
        return true;
      },
      20_000,
    );
    // node-b is tainted; the three others share the burst evenly.
    assert.deepEqual([...counts.keys()].sort(), ['node-a', 'node-c', 'node-d']);
    for (const c of counts.values()) assert.equal(c, 10);
    const st = sched.stats();
    assert.ok(st.bound >= n + 12, `bound ${st.bound}`);
    assert.equal(st.bindsInFlight, 0);
  });
});

describe('scheduler: on a shared informer factory', () => {
  let s: TestServer;
  let client: KubeClient;
  let factory: InformerFactory;

  before(async () => {
    s = await startTestServer();
    client = new KubeClient({ server: s.url, ca: s.ca, token: s.token });
    factory = new InformerFactory(client);
  });

  after(async () => {
    await factory?.stop();
    client?.close();
    await s?.stop();
  });

  it('uses the factory\'s (unfiltered) pod informer, ignores finished pods, and leaves the informers running when stopped', async () => {
    const node = nodeObj('only', '1');
    const created = await client.create<Node>(NODES, node);
    if (!created.status?.allocatable) await client.updateStatus<Node>(NODES, { ...created, status: node.status });
    // A finished pod on the node: its cpu request no longer counts.
    const finished = podObj('done', { cpu: '1' });
    finished.spec!.nodeName = 'only';
    const done = await client.create<Pod>(PODS, finished);
    await client.updateStatus<Pod>(PODS, { ...done, status: { ...done.status, phase: 'Succeeded' } });
    factory.start();
    const sched = await startScheduler({ client, informers: factory, initialBackoffMs: 50, maxBackoffMs: 200, instance: 'shared' });
    try {
      // The factory's pod informer sees every pod, the finished one included.
      assert.ok(factory.informer<Pod>(PODS).get('default', 'done'));
      await client.create(PODS, podObj('fits', { cpu: '1' }));
      await waitFor('fits to be bound', async () => (await client.get<Pod>(PODS, 'default', 'fits')).spec?.nodeName || undefined);
      // The node is full now: the next pod waits.
      await client.create(PODS, podObj('waits', { cpu: '500m' }));
      await waitFor('waits to be unschedulable', async () => (await client.get<Pod>(PODS, 'default', 'waits')).status?.conditions?.find((c) => c.type === 'PodScheduled' && c.status === 'False'));
      // Finishing the bound pod frees the node (an update, not a delete, in an unfiltered informer).
      const fits = await client.get<Pod>(PODS, 'default', 'fits');
      await client.updateStatus<Pod>(PODS, { ...fits, status: { ...fits.status, phase: 'Failed' } });
      await waitFor('waits to be bound', async () => (await client.get<Pod>(PODS, 'default', 'waits')).spec?.nodeName || undefined);
    } finally {
      await sched.stop();
    }
    // Stopping the scheduler stopped none of the shared informers.
    await client.create(PODS, podObj('after-stop'));
    await waitFor('the shared pod informer to see a new pod', async () => factory.informer<Pod>(PODS).get('default', 'after-stop'));
    assert.equal(await client.get<Pod>(PODS, 'default', 'after-stop').then((p) => p.spec?.nodeName), undefined);
  });
});
