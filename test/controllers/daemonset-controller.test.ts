// The DaemonSet controller against a real API server (memory store). There is no scheduler or
// node agent: the test plays both — it binds each pod (POST pods/<name>/binding) to the node its
// required node affinity names, marks it Running and Ready through /status a little later, and
// finishes graceful deletions — while watching that a rolling update never has more than
// maxUnavailable nodes without a ready pod.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type TestServer } from '../support/apiserver.ts';
import { KubeClient, isNotFound } from '../../src/client/rest.ts';
import { Informer } from '../../src/client/informer.ts';
import type { KubeObject } from '../../src/registry/types.ts';
import { silentLogger } from '../../src/util/log.ts';
import { EVENTS_RESOURCE } from '../../src/controllers/events.ts';
import {
  DAEMONSETS,
  NODES,
  PODS,
  REVISIONS,
  daemonSetController,
  daemonSetsForNodeChange,
  daemonSetsForObject,
  slowStartBatches,
  startDaemonSetController,
  type DaemonSetController,
  type DaemonSetLookup,
} from '../../src/controllers/daemonset/controller.ts';
import { targetNodeName } from '../../src/controllers/daemonset/nodes.ts';
import { waitFor } from '../support/wait.ts';
import { haveKubectl, kubectlAgainst } from '../support/cluster.ts';

type Obj = Record<string, unknown>;
const NS = 'kube-system';

const spec = (o: KubeObject | undefined): Obj => (o?.spec ?? {}) as Obj;
const status = (o: KubeObject | undefined): Obj => (o?.status ?? {}) as Obj;
const imageOf = (o: KubeObject): string => ((spec(o).containers as Obj[])[0].image as string) ?? '';
const isReady = (p: KubeObject): boolean => ((status(p).conditions as Obj[] | undefined) ?? []).some((c) => c.type === 'Ready' && c.status === 'True');

function node(name: string, labels: Record<string, string> = {}, taints: Obj[] = []): KubeObject {
  return { apiVersion: 'v1', kind: 'Node', metadata: { name, labels: { 'kubernetes.io/hostname': name, ...labels } }, spec: { taints } };
}

function daemonSet(name: string, podSpec: Obj, image = 'fluentd:1'): KubeObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'DaemonSet',
    metadata: { name, namespace: NS },
    spec: {
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: { containers: [{ name, image, volumeMounts: [{ name: 'varlog', mountPath: '/var/log' }] }], volumes: [{ name: 'varlog', hostPath: { path: '/var/log' } }], ...podSpec },
      },
    },
  };
}

/**
 * Scheduler + kubelet for the test: binds pods to their pinned node, marks them Running and
 * Ready after `readyDelayMs`, removes pods being deleted (as a kubelet confirms the kill), and
 * samples, for the set `watched`, the largest number of nodes that lacked a ready pod at once.
 */
class FakeNodes {
  readonly deleted: string[] = [];
  watched = '';
  watchedNodes: string[] = [];
  maxUnavailable = 0;
  readyDelayMs = 60;
  private readonly informer: Informer;
  private readonly inflight = new Set<Promise<unknown>>();
  private readonly handled = new Set<string>();
  private stopped = false;

  constructor(private readonly client: KubeClient) {
    this.informer = new Informer(client, PODS, { namespace: NS });
    this.informer.addEventHandler({ onAdd: (p) => this.consider(p), onUpdate: (_o, p) => this.consider(p), onDelete: () => this.sample() });
  }

  async start(): Promise<void> {
    this.informer.start();
    await this.informer.waitForSync({ timeoutMs: 5000 });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.informer.stop();
    await Promise.allSettled([...this.inflight]);
  }

  private sample(): void {
    if (!this.watched) return;
    const pods = this.informer.list().filter((p) => p.metadata.labels?.app === this.watched);
    const down = this.watchedNodes.filter((n) => !pods.some((p) => spec(p).nodeName === n && isReady(p) && !p.metadata.deletionTimestamp)).length;
    this.maxUnavailable = Math.max(this.maxUnavailable, down);
  }

  private consider(pod: KubeObject): void {
    this.sample();
    if (this.stopped) return;
    const name = pod.metadata.name ?? '';
    const uid = pod.metadata.uid ?? '';
    if (pod.metadata.deletionTimestamp) {
      if (this.handled.has(`del/${uid}`)) return;
      this.handled.add(`del/${uid}`);
      this.deleted.push(name);
      this.run(this.client.delete(PODS, NS, name, { gracePeriodSeconds: 0, preconditions: { uid } }));
      return;
    }
    if (!spec(pod).nodeName) {
      const target = targetNodeName(pod);
      if (!target || this.handled.has(`bind/${uid}`)) return;
      this.handled.add(`bind/${uid}`);
      this.run(this.client.bindPod(NS, name, target));
      return;
    }
    if (this.handled.has(`ready/${uid}`)) return;
    this.handled.add(`ready/${uid}`);
    const markReady = async (): Promise<void> => {
      await new Promise((r) => setTimeout(r, this.readyDelayMs));
      const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
      await this.client.patch(PODS, NS, name, { metadata: { uid }, status: { phase: 'Running', conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: now }] } }, 'merge', { subresource: 'status' });
    };
    this.run(markReady());
  }

  private run(p: Promise<unknown>): void {
    const q = p.catch((e: unknown) => {
      if (!isNotFound(e) && !this.stopped) throw e;
    });
    this.inflight.add(q);
    void q.finally(() => this.inflight.delete(q)).catch(() => undefined);
  }
}

describe('DaemonSet controller against the API server', () => {
  let ts: TestServer;
  let client: KubeClient;
  let ctl: DaemonSetController;
  let nodes: FakeNodes;

  const kubectl = (args: string[], timeoutMs = 30_000): Promise<string> => kubectlAgainst(ts, args, { timeoutMs });
  const podsOf = async (name: string): Promise<KubeObject[]> =>
    (await client.list(PODS, NS, { labelSelector: `app=${name}` })).items.filter((p) => !p.metadata.deletionTimestamp);
  /** Every node in `want` runs exactly one ready pod of the set (on `image`), and the status
   *  says so for this generation. */
  const settled = async (name: string, want: string[], image?: string): Promise<KubeObject> =>
    waitFor(`${name} on ${want.join(',')}${image ? ` with ${image}` : ''}`, async () => {
      const ds = await client.get(DAEMONSETS, NS, name);
      const st = status(ds);
      const pods = (await client.list(PODS, NS, { labelSelector: `app=${name}` })).items;
      const ok =
        st.observedGeneration === ds.metadata.generation &&
        st.desiredNumberScheduled === want.length &&
        st.currentNumberScheduled === want.length &&
        st.numberReady === want.length &&
        st.numberAvailable === want.length &&
        st.updatedNumberScheduled === want.length &&
        st.numberMisscheduled === 0 &&
        pods.length === want.length &&
        pods.every((p) => !p.metadata.deletionTimestamp && isReady(p) && (!image || imageOf(p) === image)) &&
        JSON.stringify(pods.map((p) => spec(p).nodeName).sort()) === JSON.stringify([...want].sort());
      return ok ? ds : undefined;
    });

  before(async () => {
    ts = await startTestServer();
    client = KubeClient.fromKubeconfig(ts.kubeconfig);
    nodes = new FakeNodes(client);
    await nodes.start();
    ctl = await startDaemonSetController({ client, logger: silentLogger, syncTimeoutMs: 5000 });
    await client.create(NODES, node('n1', { logging: 'on' }));
    await client.create(NODES, node('n2', { logging: 'on' }));
    await client.create(NODES, node('n3', { logging: 'on' }, [{ key: 'dedicated', value: 'db', effect: 'NoSchedule' }]));
  });

  after(async () => {
    await ctl?.stop();
    await nodes?.stop();
    client?.close();
    await ts?.stop();
  });

  it('runs one pinned pod per eligible node: 2 of 3 with a NoSchedule taint, 3 with a toleration', async () => {
    await client.create(DAEMONSETS, daemonSet('fluentd', { nodeSelector: { logging: 'on' } }));
    await client.create(DAEMONSETS, daemonSet('agent', { tolerations: [{ key: 'dedicated', operator: 'Exists', effect: 'NoSchedule' }] }));
    const fluentd = await settled('fluentd', ['n1', 'n2']);
    await settled('agent', ['n1', 'n2', 'n3']);

    const st = status(fluentd);
    assert.deepEqual(
      [st.observedGeneration, st.desiredNumberScheduled, st.currentNumberScheduled, st.numberReady, st.numberAvailable, st.numberUnavailable, st.updatedNumberScheduled, st.numberMisscheduled],
      [1, 2, 2, 2, 2, 0, 2, 0],
    );
    const [pod] = await podsOf('fluentd');
    assert.match(pod.metadata.name ?? '', /^fluentd-[a-z0-9]{5}$/);
    assert.deepEqual(pod.metadata.ownerReferences?.map((r) => [r.kind, r.name, r.uid, r.controller, r.blockOwnerDeletion]), [['DaemonSet', 'fluentd', fluentd.metadata.uid, true, true]]);
    assert.equal(pod.metadata.labels?.['pod-template-generation'], '1');
    const terms = (((spec(pod).affinity as Obj).nodeAffinity as Obj).requiredDuringSchedulingIgnoredDuringExecution as Obj).nodeSelectorTerms;
    assert.deepEqual(terms, [{ matchFields: [{ key: 'metadata.name', operator: 'In', values: [spec(pod).nodeName] }] }]);
    const tolerations = (spec(pod).tolerations as Obj[]).map((t) => t.key);
    assert.ok(tolerations.includes('node.kubernetes.io/unreachable') && tolerations.includes('node.kubernetes.io/unschedulable'), tolerations.join(','));

    const revs = (await client.list(REVISIONS, NS, { labelSelector: 'app=fluentd' })).items;
    assert.equal(revs.length, 1);
    assert.equal(revs[0].revision, 1);
    assert.equal(revs[0].metadata.labels?.['controller-revision-hash'], pod.metadata.labels?.['controller-revision-hash']);

    const events = await waitFor('SuccessfulCreate events', async () => {
      const evs = (await client.list(EVENTS_RESOURCE, NS, { fieldSelector: 'involvedObject.name=fluentd' })).items;
      return evs.filter((e) => e.reason === 'SuccessfulCreate').length >= 2 ? evs : undefined;
    });
    const created = events.filter((e) => e.reason === 'SuccessfulCreate').map((e) => String(e.message)).sort();
    const names = (await podsOf('fluentd')).map((p) => `Created pod: ${p.metadata.name}`).sort();
    assert.deepEqual(created, names);
    assert.deepEqual(events[0].source, { component: 'daemonset-controller' });
  });

  it('a fourth node gets its pods; a node losing the selected label loses its pod', async () => {
    await client.create(NODES, node('n4', { logging: 'on' }));
    await settled('fluentd', ['n1', 'n2', 'n4']);
    await settled('agent', ['n1', 'n2', 'n3', 'n4']);

    const before = nodes.deleted.length;
    await client.patch(NODES, undefined, 'n2', { metadata: { labels: { logging: null } } }, 'merge');
    await settled('fluentd', ['n1', 'n4']);
    assert.equal(nodes.deleted.length - before, 1);
    await settled('agent', ['n1', 'n2', 'n3', 'n4']); // untouched
    const evs = (await client.list(EVENTS_RESOURCE, NS, { fieldSelector: 'involvedObject.name=fluentd' })).items;
    assert.ok(evs.some((e) => e.reason === 'SuccessfulDelete' && e.message === `Deleted pod: ${nodes.deleted[before]}`));
  });

  it('rolls a new image one node at a time; kubectl rollout status waits for it; rollout undo restores the old image', async () => {
    const want = ['n1', 'n2', 'n3', 'n4'];
    const first = await settled('agent', want);
    nodes.watched = 'agent';
    nodes.watchedNodes = want;
    nodes.maxUnavailable = 0;
    const before = nodes.deleted.length;
    await client.patch(DAEMONSETS, NS, 'agent', { spec: { template: { spec: { containers: [{ name: 'agent', image: 'fluentd:2' }] } } } }, 'strategic');
    const rolloutStatus = haveKubectl ? kubectl(['rollout', 'status', 'daemonset/agent', '-n', NS, '--timeout=30s']) : undefined;
    const updated = await settled('agent', want, 'fluentd:2');
    assert.equal(nodes.deleted.length - before, 4, 'each old pod was deleted once');
    assert.equal(nodes.maxUnavailable, 1, 'never more than maxUnavailable (1) nodes without a ready pod');
    const st = status(updated);
    assert.deepEqual(
      [st.observedGeneration, st.desiredNumberScheduled, st.currentNumberScheduled, st.numberReady, st.numberAvailable, st.numberUnavailable, st.updatedNumberScheduled, st.numberMisscheduled],
      [2, 4, 4, 4, 4, 0, 4, 0],
    );
    assert.equal(updated.metadata.annotations?.['deprecated.daemonset.template.generation'], '2');
    assert.ok((await podsOf('agent')).every((p) => p.metadata.labels?.['pod-template-generation'] === '2'));
    assert.notEqual(first.metadata.generation, updated.metadata.generation);
    const revs = (await client.list(REVISIONS, NS, { labelSelector: 'app=agent' })).items.sort((a, b) => Number(a.revision) - Number(b.revision));
    assert.deepEqual(revs.map((r) => r.revision), [1, 2]);

    if (!haveKubectl) return;
    // kubectl watched the rollout: progress lines, then success (exit status 0).
    const progress = (await rolloutStatus) ?? '';
    assert.match(progress, /daemon set "agent" successfully rolled out\n$/);
    assert.match(progress, /^Waiting for daemon set "agent" rollout to finish: \d out of 4 new pods have been updated\.\.\.$/m);
    assert.match(await kubectl(['rollout', 'history', 'daemonset/agent', '-n', NS]), /^REVISION\s+CHANGE-CAUSE\n1\s+<none>\n2\s+<none>\n/m);

    nodes.maxUnavailable = 0;
    assert.equal(await kubectl(['rollout', 'undo', 'daemonset/agent', '-n', NS]), 'daemonset.apps/agent rolled back\n');
    const undone = await settled('agent', want, 'fluentd:1');
    assert.equal(nodes.maxUnavailable, 1);
    assert.equal(imageOf(spec(undone).template as KubeObject), 'fluentd:1');
    const after = (await client.list(REVISIONS, NS, { labelSelector: 'app=agent' })).items;
    const byRevision = new Map(after.map((r) => [r.revision, r.metadata.name]));
    assert.deepEqual([...byRevision.keys()].sort(), [2, 3], 'revision 1 was renumbered 3, not copied');
    assert.equal(byRevision.get(3), revs[0].metadata.name);
    assert.equal(await kubectl(['rollout', 'status', 'daemonset/agent', '-n', NS, '--timeout=10s']), 'daemon set "agent" successfully rolled out\n');
    assert.match(await kubectl(['rollout', 'undo', 'daemonset/agent', '-n', NS, '--to-revision=3']), /skipped rollback \(current template already matches revision 3\)/);
  });

  it('recreates a pod that failed, with a FailedDaemonPod warning', async () => {
    const [victim] = (await podsOf('fluentd')).filter((p) => spec(p).nodeName === 'n1');
    await client.patch(PODS, NS, victim.metadata.name ?? '', { status: { phase: 'Failed', reason: 'Error' } }, 'merge', { subresource: 'status' });
    await waitFor('a new fluentd pod on n1', async () => (await podsOf('fluentd')).some((p) => spec(p).nodeName === 'n1' && p.metadata.uid !== victim.metadata.uid && isReady(p)));
    await settled('fluentd', ['n1', 'n4']);
    const evs = (await client.list(EVENTS_RESOURCE, NS, { fieldSelector: 'involvedObject.name=fluentd' })).items;
    assert.ok(
      evs.some((e) => e.type === 'Warning' && e.reason === 'FailedDaemonPod' && e.message === `Found failed daemon pod ${NS}/${victim.metadata.name} on node n1, will try to kill it`),
      evs.map((e) => `${String(e.reason)}: ${String(e.message)}`).join('\n'),
    );
  });

  it('is a ControllerFactory named daemonset', () => {
    assert.equal(daemonSetController.name, 'daemonset');
    assert.equal(typeof daemonSetController.start, 'function');
  });
});

describe('DaemonSet controller: which sets a change concerns', () => {
  const sets: KubeObject[] = [
    { apiVersion: 'apps/v1', kind: 'DaemonSet', metadata: { name: 'a', namespace: 'ns', uid: 'ua' }, spec: { selector: { matchLabels: { app: 'a' } }, template: { spec: { nodeSelector: { role: 'x' } } } } },
    { apiVersion: 'apps/v1', kind: 'DaemonSet', metadata: { name: 'b', namespace: 'ns', uid: 'ub' }, spec: { selector: { matchLabels: { app: 'b' } }, template: { spec: {} } } },
  ];
  const lookup: DaemonSetLookup = {
    get: (ns, name) => sets.find((s) => s.metadata.namespace === ns && s.metadata.name === name),
    listByNamespace: (ns) => sets.filter((s) => s.metadata.namespace === ns),
    list: () => sets,
  };
  const n = (labels: Record<string, string>, taints: Obj[] = []): KubeObject => ({ metadata: { name: 'n', labels }, spec: { taints } });

  it('pods and revisions: their controller, or the sets that would adopt them', () => {
    assert.deepEqual(daemonSetsForObject(lookup, { metadata: { namespace: 'ns', ownerReferences: [{ apiVersion: 'apps/v1', kind: 'DaemonSet', name: 'a', uid: 'ua', controller: true }] } }), ['ns/a']);
    assert.deepEqual(daemonSetsForObject(lookup, { metadata: { namespace: 'ns', ownerReferences: [{ apiVersion: 'apps/v1', kind: 'DaemonSet', name: 'a', uid: 'stale', controller: true }] } }), []);
    assert.deepEqual(daemonSetsForObject(lookup, { metadata: { namespace: 'ns', ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'a', uid: 'ua', controller: true }] } }), []);
    assert.deepEqual(daemonSetsForObject(lookup, { metadata: { namespace: 'ns', labels: { app: 'b' } } }), ['ns/b']);
    assert.deepEqual(daemonSetsForObject(lookup, { metadata: { namespace: 'other', labels: { app: 'b' } } }), []);
  });

  it('nodes: added → sets that should run there; changed → sets whose verdict changed; deleted → all', () => {
    assert.deepEqual(daemonSetsForNodeChange(lookup, undefined, n({ role: 'x' })), ['ns/a', 'ns/b']);
    assert.deepEqual(daemonSetsForNodeChange(lookup, undefined, n({})), ['ns/b']);
    assert.deepEqual(daemonSetsForNodeChange(lookup, n({ role: 'x' }), n({ role: 'y' })), ['ns/a']);
    assert.deepEqual(daemonSetsForNodeChange(lookup, n({}), n({}, [{ key: 'k', effect: 'NoExecute' }])), ['ns/b']);
    assert.deepEqual(daemonSetsForNodeChange(lookup, n({ role: 'x' }), n({ role: 'x', other: '1' })), []);
    assert.deepEqual(daemonSetsForNodeChange(lookup, n({}), undefined), ['ns/a', 'ns/b']);
  });

  it('slow start batches double: 1, 2, 4, …', () => {
    assert.deepEqual(slowStartBatches([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]).map((b) => b.length), [1, 2, 4, 3]);
    assert.deepEqual(slowStartBatches([]), []);
  });
});
