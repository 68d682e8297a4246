// Table and scenario tests of the DaemonSet control algorithm (computeDaemonSetActions) on plain
// objects: a small simulated cluster applies the actions of each round (the API server's part)
// and plays scheduler + kubelet between rounds (bind pods to the node their affinity pins,
// mark them Running and Ready, finish terminating pods).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { KubeObject } from '../../src/registry/types.ts';
import { computeDaemonSetActions, type DaemonSetControlResult, type FailedPodBackoff } from '../../src/controllers/daemonset/control.ts';
import { describeAction, executionPhases, actionEvent, type ControlEvent, type DaemonSetAction } from '../../src/controllers/daemonset/actions.ts';
import { targetNodeName } from '../../src/controllers/daemonset/nodes.ts';
import { daemonSetRevisionData } from '../../src/controllers/daemonset/history.ts';
import { canonicalJSON } from '../../src/controllers/revisions.ts';

type Obj = Record<string, unknown>;
const T0 = Date.parse('2024-05-01T12:00:00Z');
const iso = (ms: number): string => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
const clone = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;

function node(name: string, opts: { labels?: Record<string, string>; taints?: Obj[] } = {}): KubeObject {
  return { apiVersion: 'v1', kind: 'Node', metadata: { name, uid: `node-${name}`, labels: { 'kubernetes.io/hostname': name, ...opts.labels } }, spec: { taints: opts.taints ?? [] } };
}

interface DsOpts {
  image?: string;
  podSpec?: Obj;
  strategy?: Obj;
  minReadySeconds?: number;
  revisionHistoryLimit?: number;
}

function daemonSet(opts: DsOpts = {}): KubeObject {
  const spec: Obj = {
    selector: { matchLabels: { app: 'fluentd' } },
    template: { metadata: { labels: { app: 'fluentd' } }, spec: { containers: [{ name: 'fluentd', image: opts.image ?? 'fluentd:1' }], ...opts.podSpec } },
    updateStrategy: opts.strategy ?? { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1, maxSurge: 0 } },
    revisionHistoryLimit: opts.revisionHistoryLimit ?? 10,
  };
  if (opts.minReadySeconds !== undefined) spec.minReadySeconds = opts.minReadySeconds;
  return {
    apiVersion: 'apps/v1',
    kind: 'DaemonSet',
    metadata: { name: 'fluentd', namespace: 'kube-system', uid: 'ds-uid', generation: 1, annotations: { 'deprecated.daemonset.template.generation': '1' } },
    spec,
    status: { currentNumberScheduled: 0, numberMisscheduled: 0, desiredNumberScheduled: 0, numberReady: 0 },
  };
}

const hashOf = (p: KubeObject): string => p.metadata.labels?.['controller-revision-hash'] ?? '';
const imageOf = (p: KubeObject): string => ((p.spec as Obj).containers as Obj[])[0].image as string;
const phaseOf = (p: KubeObject): string => String((p.status as Obj | undefined)?.phase ?? '');

/** A cluster the algorithm acts on. */
class Cluster {
  ds: KubeObject;
  nodes: KubeObject[];
  pods: KubeObject[] = [];
  revisions: KubeObject[] = [];
  now = T0;
  backoff: FailedPodBackoff = {};
  events: ControlEvent[] = [];
  deleted: string[] = [];
  private seq = 0;

  constructor(ds: KubeObject, nodes: KubeObject[]) {
    this.ds = ds;
    this.nodes = nodes;
  }

  compute(): DaemonSetControlResult {
    return computeDaemonSetActions({ ds: this.ds, nodes: this.nodes, pods: this.pods, revisions: this.revisions, now: new Date(this.now), backoff: this.backoff });
  }

  /** One round: compute, apply every action, store the status. */
  round(): DaemonSetControlResult {
    const r = this.compute();
    this.backoff = r.backoff;
    this.events.push(...r.events);
    for (const a of r.actions) this.apply(a);
    if (r.statusChanged) this.ds = { ...this.ds, status: r.status };
    return r;
  }

  apply(a: DaemonSetAction): void {
    switch (a.type) {
      case 'createPod': {
        const pod = clone(a.object);
        const n = this.seq++;
        pod.metadata.name = `${pod.metadata.generateName ?? ''}p${String(n).padStart(3, '0')}`;
        pod.metadata.uid = `pod-uid-${n}`;
        pod.metadata.creationTimestamp = iso(this.now + n); // distinct, increasing
        pod.status = { phase: 'Pending' };
        this.pods.push(pod);
        this.events.push(actionEvent(a, undefined, pod.metadata.name) as ControlEvent);
        return;
      }
      case 'deletePod': {
        const pod = this.pods.find((p) => p.metadata.name === a.name && p.metadata.uid === a.uid);
        assert.ok(pod, `delete of a pod that is not there: ${a.name}`);
        if ((pod.spec as Obj).nodeName && !['Failed', 'Succeeded'].includes(phaseOf(pod))) {
          pod.metadata.deletionTimestamp = iso(this.now + 30_000); // graceful: the kubelet finishes it
        } else this.pods = this.pods.filter((p) => p !== pod);
        this.deleted.push(a.name);
        return;
      }
      case 'createRevision': {
        assert.ok(!this.revisions.some((r) => r.metadata.name === a.name), `revision ${a.name} exists`);
        const rev = clone(a.object);
        rev.metadata.uid = `rev-uid-${this.seq++}`;
        rev.metadata.creationTimestamp = iso(this.now);
        this.revisions.push(rev);
        return;
      }
      case 'updateRevision':
        this.revisions = this.revisions.map((r) => (r.metadata.name === a.name ? clone(a.object) : r));
        return;
      case 'deleteRevision':
        this.revisions = this.revisions.filter((r) => r.metadata.name !== a.name);
        return;
      case 'adoptPod':
      case 'releasePod':
        for (const p of this.pods) if (p.metadata.uid === a.uid) p.metadata.ownerReferences = a.ownerReferences;
        return;
      case 'adoptRevision':
      case 'releaseRevision':
        for (const r of this.revisions) if (r.metadata.uid === a.uid) r.metadata.ownerReferences = a.ownerReferences;
        return;
      case 'relabelPod':
        for (const p of this.pods) if (p.metadata.uid === a.uid) p.metadata.labels = { ...p.metadata.labels, 'controller-revision-hash': a.hash };
        return;
    }
  }

  /** Scheduler + kubelet: bind pending pods to their pinned node, start them (Ready unless
   *  `ready` says otherwise), and finish terminating pods. */
  kubelet(ready: (p: KubeObject) => boolean = () => true): void {
    this.pods = this.pods.filter((p) => !p.metadata.deletionTimestamp);
    for (const p of this.pods) {
      const spec = p.spec as Obj;
      if (!spec.nodeName) spec.nodeName = targetNodeName(p);
      if (phaseOf(p) !== 'Pending') continue;
      if (!ready(p)) continue;
      p.status = { phase: 'Running', conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: iso(this.now) }] };
    }
  }

  /** Rounds with the kubelet in between until a round does nothing (at most `max`). */
  settle(max = 30, ready?: (p: KubeObject) => boolean): number {
    for (let i = 0; i < max; i++) {
      const r = this.round();
      this.kubelet(ready);
      if (r.actions.length === 0 && !r.statusChanged) return i;
    }
    throw new Error('did not settle');
  }

  setImage(image: string): void {
    const ds = clone(this.ds);
    ((((ds.spec as Obj).template as Obj).spec as Obj).containers as Obj[])[0].image = image;
    ds.metadata.generation = (ds.metadata.generation ?? 1) + 1;
    const gen = Number(ds.metadata.annotations?.['deprecated.daemonset.template.generation'] ?? '1') + 1;
    ds.metadata.annotations = { ...ds.metadata.annotations, 'deprecated.daemonset.template.generation': String(gen) };
    this.ds = ds;
  }

  live(): KubeObject[] {
    return this.pods.filter((p) => !p.metadata.deletionTimestamp);
  }

  podsOn(nodeName: string): KubeObject[] {
    return this.live().filter((p) => targetNodeName(p) === nodeName);
  }

  status(): Obj {
    return this.ds.status as Obj;
  }
}

const kinds = (r: DaemonSetControlResult): string[] => r.actions.map(describeAction);
const podActions = (r: DaemonSetControlResult): DaemonSetAction[] => r.actions.filter((a) => a.type === 'createPod' || a.type === 'deletePod');

describe('DaemonSet control: placement', () => {
  it('one pinned pod per eligible node; a NoSchedule-tainted node gets none', () => {
    const c = new Cluster(daemonSet(), [node('n1'), node('n2'), node('n3', { taints: [{ key: 'dedicated', value: 'db', effect: 'NoSchedule' }] })]);
    const r = c.round();
    assert.deepEqual(kinds(r).filter((k) => k.startsWith('createPod')), ['createPod @n1', 'createPod @n2']);
    const rev = c.revisions[0];
    assert.equal(c.revisions.length, 1);
    assert.equal(rev.revision, 1);
    assert.equal(rev.metadata.name, `fluentd-${r.hash}`);
    assert.equal(rev.metadata.labels?.['controller-revision-hash'], r.hash);
    assert.deepEqual(rev.metadata.ownerReferences?.[0]?.kind, 'DaemonSet');
    for (const p of c.pods) {
      assert.equal(hashOf(p), r.hash);
      assert.equal(p.metadata.labels?.['pod-template-generation'], '1');
      assert.equal((p.spec as Obj).nodeName, undefined, 'the scheduler binds, not the controller');
    }
    assert.deepEqual(r.status, {
      observedGeneration: 1,
      desiredNumberScheduled: 2,
      currentNumberScheduled: 0,
      numberReady: 0,
      numberAvailable: 0,
      numberUnavailable: 2,
      updatedNumberScheduled: 0,
      numberMisscheduled: 0,
    });
    c.kubelet();
    const r2 = c.round();
    assert.equal(podActions(r2).length, 0);
    assert.deepEqual(
      { ...r2.status },
      { observedGeneration: 1, desiredNumberScheduled: 2, currentNumberScheduled: 2, numberReady: 2, numberAvailable: 2, numberUnavailable: 0, updatedNumberScheduled: 2, numberMisscheduled: 0 },
    );
    assert.equal(c.round().statusChanged, false, 'nothing changes: no status write');
    assert.deepEqual(
      c.events.map((e) => `${e.reason}: ${e.message}`),
      ['SuccessfulCreate: Created pod: fluentd-p001', 'SuccessfulCreate: Created pod: fluentd-p002'],
    );
  });

  it('a toleration of the taint puts a pod on all three nodes', () => {
    const c = new Cluster(daemonSet({ podSpec: { tolerations: [{ key: 'dedicated', operator: 'Exists', effect: 'NoSchedule' }] } }), [
      node('n1'),
      node('n2'),
      node('n3', { taints: [{ key: 'dedicated', value: 'db', effect: 'NoSchedule' }] }),
    ]);
    c.settle();
    assert.deepEqual(c.live().map((p) => (p.spec as Obj).nodeName).sort(), ['n1', 'n2', 'n3']);
    assert.equal(c.status().desiredNumberScheduled, 3);
    assert.equal(c.status().numberAvailable, 3);
  });

  it('a new node gets its pod; a node that stops matching loses it', () => {
    const c = new Cluster(daemonSet({ podSpec: { nodeSelector: { logs: 'yes' } } }), [node('n1', { labels: { logs: 'yes' } }), node('n2', { labels: { logs: 'yes' } }), node('n3')]);
    c.settle();
    assert.equal(c.live().length, 2);
    c.nodes.push(node('n4', { labels: { logs: 'yes' } }));
    assert.deepEqual(kinds(c.round()).filter((k) => k.startsWith('createPod')), ['createPod @n4']);
    c.kubelet();
    c.round();
    assert.equal(c.status().desiredNumberScheduled, 3);
    // n2 loses the label: its pod counts as misscheduled, then is deleted.
    c.nodes[1] = node('n2', { labels: { logs: 'no' } });
    const r = c.round();
    const del = podActions(r);
    assert.equal(del.length, 1);
    assert.equal(describeAction(del[0]).endsWith('@n2 (misscheduled)'), true, describeAction(del[0]));
    assert.equal(r.status.numberMisscheduled, 1);
    assert.equal(r.status.desiredNumberScheduled, 2);
    c.kubelet();
    c.round();
    assert.equal(c.status().numberMisscheduled, 0);
    assert.deepEqual(c.live().map((p) => (p.spec as Obj).nodeName).sort(), ['n1', 'n4']);
  });

  it('a NoSchedule taint after the fact keeps the pod (misscheduled); NoExecute removes it', () => {
    const c = new Cluster(daemonSet(), [node('n1'), node('n2')]);
    c.settle();
    c.nodes[1] = node('n2', { taints: [{ key: 'maint', effect: 'NoSchedule' }] });
    let r = c.round();
    assert.equal(podActions(r).length, 0);
    assert.equal(r.status.desiredNumberScheduled, 1);
    assert.equal(r.status.numberMisscheduled, 1);
    c.nodes[1] = node('n2', { taints: [{ key: 'maint', effect: 'NoExecute' }] });
    r = c.round();
    assert.deepEqual(kinds(r), [`deletePod ${c.deleted.at(-1)}@n2 (misscheduled)`]);
  });

  it('nodes being deleted are skipped; unbound pods pinned to missing nodes are deleted', () => {
    const c = new Cluster(daemonSet(), [node('n1'), node('n2')]);
    c.round(); // two pending pods, unbound
    c.nodes = [node('n1'), { ...node('n3'), metadata: { ...node('n3').metadata, deletionTimestamp: iso(T0) } }];
    const r = c.round();
    assert.deepEqual(kinds(r), ['deletePod fluentd-p002@n2 (node-gone)']);
    assert.equal(r.status.desiredNumberScheduled, 1);
    // A bound pod on a vanished node is left to pod garbage collection.
    c.kubelet();
    c.pods.push({ ...clone(c.pods[0]), metadata: { ...clone(c.pods[0].metadata), name: 'fluentd-old', uid: 'u-old' }, spec: { ...clone(c.pods[0].spec as Obj), nodeName: 'gone' } });
    assert.equal(podActions(c.round()).length, 0);
  });

  it('extra pods on a node: the first bound, ready, oldest pod stays', () => {
    const c = new Cluster(daemonSet(), [node('n1')]);
    c.settle();
    const first = c.pods[0];
    // A younger duplicate that is ready, and the original made unready: the ready one stays.
    const dup = clone(first);
    dup.metadata.name = 'fluentd-dup';
    dup.metadata.uid = 'dup';
    dup.metadata.creationTimestamp = iso(T0 + 60_000);
    c.pods.push(dup);
    let r = c.compute();
    assert.deepEqual(kinds(r), ['deletePod fluentd-dup@n1 (excess)'], 'both ready: the older stays');
    first.status = { phase: 'Running', conditions: [{ type: 'Ready', status: 'False' }] };
    r = c.compute();
    assert.deepEqual(kinds(r), [`deletePod ${first.metadata.name}@n1 (excess)`], 'the ready one stays');
  });

  it('adopts matching orphans and releases pods its selector no longer matches', () => {
    const c = new Cluster(daemonSet(), [node('n1'), node('n2')]);
    c.settle();
    const orphan = clone(c.pods[0]);
    delete orphan.metadata.ownerReferences;
    c.pods[0] = orphan;
    c.pods[1].metadata.labels = { app: 'other' };
    const r = c.compute();
    assert.deepEqual(kinds(r).slice(0, 2).sort(), [`adoptPod ${orphan.metadata.name}`, `releasePod ${c.pods[1].metadata.name}`].sort());
    const adopt = r.actions.find((a) => a.type === 'adoptPod');
    assert.ok(adopt && adopt.type === 'adoptPod');
    assert.deepEqual(adopt.ownerReferences, [{ apiVersion: 'apps/v1', kind: 'DaemonSet', name: 'fluentd', uid: 'ds-uid', controller: true, blockOwnerDeletion: true }]);
    // The released pod no longer counts: n2 needs a pod.
    assert.ok(kinds(r).includes('createPod @n2'));
  });

  it('does nothing for a set selecting everything, or one being deleted', () => {
    const all = daemonSet();
    (all.spec as Obj).selector = {};
    const r = new Cluster(all, [node('n1')]).compute();
    assert.deepEqual(r.actions, []);
    assert.equal(r.statusChanged, false);
    assert.deepEqual(r.events, [{ type: 'Warning', reason: 'SelectingAll', message: 'This daemon set is selecting all pods. A non-empty selector is required.' }]);
    const deleting = daemonSet();
    deleting.metadata.deletionTimestamp = iso(T0);
    const d = new Cluster(deleting, [node('n1')]).compute();
    assert.deepEqual(d.actions, []);
    assert.equal(d.statusChanged, false);
  });
});

describe('DaemonSet control: failed pods', () => {
  it('deletes a failed pod with FailedDaemonPod, recreates it, and backs off per node', () => {
    const c = new Cluster(daemonSet(), [node('n1'), node('n2')]);
    c.settle();
    const fail = (): KubeObject => {
      const p = c.podsOn('n1')[0];
      p.status = { phase: 'Failed', reason: 'Error' };
      return p;
    };
    let p = fail();
    let r = c.round();
    assert.deepEqual(kinds(r), [`deletePod ${p.metadata.name}@n1 (failed)`]);
    assert.deepEqual(r.events, [{ type: 'Warning', reason: 'FailedDaemonPod', message: `Found failed daemon pod kube-system/${p.metadata.name} on node n1, will try to kill it` }]);
    assert.deepEqual(c.backoff.n1, { delayMs: 1000, lastUpdateMs: T0 });
    r = c.round();
    assert.deepEqual(kinds(r), ['createPod @n1'], 'recreated once gone');
    c.kubelet();
    // It fails again within the back-off window: left alone, look again when the window ends.
    c.now += 400;
    p = fail();
    r = c.round();
    assert.deepEqual(kinds(r), []);
    assert.equal(r.requeueAfterMs, 600);
    c.now += 600;
    r = c.round();
    assert.deepEqual(kinds(r), [`deletePod ${p.metadata.name}@n1 (failed)`]);
    assert.deepEqual(c.backoff.n1, { delayMs: 2000, lastUpdateMs: T0 + 1000 }, 'the window doubles');
  });

  it('deletes a succeeded pod with SucceededDaemonPod', () => {
    const c = new Cluster(daemonSet(), [node('n1')]);
    c.settle();
    const p = c.pods[0];
    p.status = { phase: 'Succeeded' };
    const r = c.round();
    assert.deepEqual(kinds(r), [`deletePod ${p.metadata.name}@n1 (succeeded)`]);
    assert.equal(r.events[0].reason, 'SucceededDaemonPod');
    assert.equal(r.events[0].type, 'Normal');
  });
});

describe('DaemonSet control: rolling update', () => {
  const nodes = (n: number) => Array.from({ length: n }, (_, i) => node(`n${i + 1}`));

  it('maxUnavailable 1 replaces pods one node at a time and ends with every status field right', () => {
    const c = new Cluster(daemonSet(), nodes(4));
    c.settle();
    const oldHash = hashOf(c.pods[0]);
    c.setImage('fluentd:2');
    let maxDown = 0;
    let rounds = 0;
    for (; rounds < 40; rounds++) {
      const r = c.round();
      const down = 4 - c.live().filter((p) => phaseOf(p) === 'Running').length;
      maxDown = Math.max(maxDown, down);
      assert.ok(r.actions.filter((a) => a.type === 'deletePod').length <= 1, `round ${rounds}: ${kinds(r).join(', ')}`);
      c.kubelet();
      if (r.actions.length === 0 && !r.statusChanged) break;
    }
    assert.equal(maxDown, 1);
    assert.ok(c.live().every((p) => imageOf(p) === 'fluentd:2'));
    const newHash = hashOf(c.live()[0]);
    assert.notEqual(newHash, oldHash);
    assert.ok(c.live().every((p) => hashOf(p) === newHash && p.metadata.labels?.['pod-template-generation'] === '2'));
    assert.deepEqual(
      { ...c.status() },
      { observedGeneration: 2, desiredNumberScheduled: 4, currentNumberScheduled: 4, numberReady: 4, numberAvailable: 4, numberUnavailable: 0, updatedNumberScheduled: 4, numberMisscheduled: 0 },
    );
    assert.deepEqual(c.revisions.map((r) => [r.revision, r.metadata.labels?.['controller-revision-hash']]).sort(), [
      [1, oldHash],
      [2, newHash],
    ]);
  });

  it('the first update round counts updated pods against the new revision', () => {
    const c = new Cluster(daemonSet(), nodes(2));
    c.settle();
    c.setImage('fluentd:2');
    const r = c.round();
    assert.equal(r.status.observedGeneration, 2);
    assert.equal(r.status.updatedNumberScheduled, 0);
    assert.equal(kinds(r).filter((k) => k.startsWith('deletePod')).length, 1);
  });

  it('maxUnavailable 50% of 4 nodes takes two down at once', () => {
    const c = new Cluster(daemonSet({ strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: '50%', maxSurge: 0 } } }), nodes(4));
    c.settle();
    c.setImage('fluentd:2');
    assert.deepEqual(kinds(c.round()).filter((k) => k.startsWith('deletePod')).length, 2);
  });

  it('an old pod that is not available is replaced at once and uses up the budget', () => {
    const c = new Cluster(daemonSet(), nodes(3));
    c.settle();
    const sick = c.podsOn('n3')[0];
    sick.status = { phase: 'Running', conditions: [{ type: 'Ready', status: 'False' }] };
    c.setImage('fluentd:2');
    assert.deepEqual(kinds(c.round()).filter((k) => k.startsWith('deletePod')), [`deletePod ${sick.metadata.name}@n3 (update)`]);
  });

  it('does not take another pod down while a new one is not yet available', () => {
    const c = new Cluster(daemonSet(), nodes(3));
    c.settle();
    c.setImage('fluentd:2');
    c.round(); // deletes one old pod
    c.kubelet(() => false); // its replacement never becomes ready
    c.round(); // creates the replacement
    c.kubelet(() => false);
    for (let i = 0; i < 3; i++) {
      const r = c.round();
      c.kubelet(() => false);
      assert.deepEqual(podActions(r), [], `round ${i}: ${kinds(r).join(', ')}`);
    }
    assert.equal(c.status().numberUnavailable, 1);
    assert.equal(c.status().updatedNumberScheduled, 1);
  });

  it('maxSurge 1: a new pod starts next to the old one, which goes once the new one is available', () => {
    const c = new Cluster(
      daemonSet({ minReadySeconds: 5, strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } } }),
      nodes(3),
    );
    c.settle(30);
    c.now += 10_000;
    c.settle();
    assert.equal(c.status().numberAvailable, 3);
    c.setImage('fluentd:2');
    let r = c.round();
    assert.deepEqual(podActions(r).map(describeAction), ['createPod @n1'], 'surge: create first, delete nothing');
    c.kubelet();
    assert.equal(c.podsOn('n1').length, 2);
    r = c.round();
    assert.deepEqual(podActions(r), [], 'new pod ready but not yet available (minReadySeconds)');
    assert.equal(r.requeueAfterMs, 5001);
    let minAvailable = 3;
    for (let i = 0; i < 40; i++) {
      c.now += 6_000;
      r = c.round();
      c.kubelet();
      const availableNodes = ['n1', 'n2', 'n3'].filter((n) => c.podsOn(n).some((p) => phaseOf(p) === 'Running')).length;
      minAvailable = Math.min(minAvailable, availableNodes);
      assert.ok(r.actions.filter((a) => a.type === 'createPod').length <= 1);
      if (r.actions.length === 0 && !r.statusChanged) break;
    }
    assert.equal(minAvailable, 3, 'every node kept a running pod throughout');
    assert.ok(c.live().every((p) => imageOf(p) === 'fluentd:2'));
    assert.equal(c.live().length, 3);
    assert.equal(c.status().updatedNumberScheduled, 3);
    assert.equal(c.status().numberAvailable, 3);
  });

  it('maxSurge: an old pod that is not ready is replaced without waiting', () => {
    const c = new Cluster(daemonSet({ strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } } }), nodes(3));
    c.settle();
    c.podsOn('n2')[0].status = { phase: 'Running', conditions: [{ type: 'Ready', status: 'False' }] };
    c.setImage('fluentd:2');
    assert.deepEqual(podActions(c.round()).map(describeAction), ['createPod @n2', 'createPod @n1']);
  });

  it('OnDelete: nothing is replaced until the user deletes a pod', () => {
    const c = new Cluster(daemonSet({ strategy: { type: 'OnDelete' } }), nodes(2));
    c.settle();
    c.setImage('fluentd:2');
    const r = c.round();
    assert.deepEqual(podActions(r), []);
    assert.equal(r.status.updatedNumberScheduled, 0);
    c.pods = c.pods.filter((p) => (p.spec as Obj).nodeName !== 'n1'); // kubectl delete pod
    assert.deepEqual(kinds(c.round()), ['createPod @n1']);
    c.kubelet();
    c.round();
    assert.equal(imageOf(c.podsOn('n1')[0]), 'fluentd:2');
    assert.equal(imageOf(c.podsOn('n2')[0]), 'fluentd:1');
    assert.equal(c.status().updatedNumberScheduled, 1);
  });

  it('minReadySeconds: ready is not available until it has passed; look again then', () => {
    const c = new Cluster(daemonSet({ minReadySeconds: 10 }), nodes(1));
    c.round();
    c.kubelet();
    c.now += 3_000;
    const r = c.round();
    assert.equal(r.status.numberReady, 1);
    assert.equal(r.status.numberAvailable, 0);
    assert.equal(r.status.numberUnavailable, 1);
    assert.equal(r.requeueAfterMs, 7_001);
    c.now += 7_001;
    assert.equal(c.round().status.numberAvailable, 1);
  });
});

describe('DaemonSet control: revisions', () => {
  it('rollout undo renumbers the old revision instead of creating one, and its pods count as updated', () => {
    const c = new Cluster(daemonSet({ strategy: { type: 'OnDelete' } }), [node('n1')]);
    c.settle();
    const first = c.revisions[0];
    c.setImage('fluentd:2');
    c.round();
    assert.equal(c.revisions.length, 2);
    c.setImage('fluentd:1'); // back to the first template
    const r = c.round();
    assert.deepEqual(kinds(r), [`updateRevision ${first.metadata.name} (renumber) -> 3`]);
    assert.equal(r.hash, first.metadata.labels?.['controller-revision-hash']);
    assert.equal(r.status.updatedNumberScheduled, 1, 'the pod at revision 1 is current again');
  });

  it('revision data is the template patch kubectl rollout undo sends, keys sorted', () => {
    const c = new Cluster(daemonSet(), [node('n1')]);
    c.round();
    const data = c.revisions[0].data as Obj;
    assert.equal(JSON.stringify(data), canonicalJSON(data));
    assert.equal(((data.spec as Obj).template as Obj).$patch, 'replace');
    assert.deepEqual(data, daemonSetRevisionData(c.ds));
  });

  it('trims history beyond revisionHistoryLimit, keeping revisions pods still use', () => {
    const c = new Cluster(daemonSet({ revisionHistoryLimit: 1, strategy: { type: 'OnDelete' } }), [node('n1')]);
    c.settle();
    const pinned = c.revisions[0].metadata.name; // the running pod's revision
    c.setImage('fluentd:2');
    assert.deepEqual(kinds(c.round()).filter((k) => k.startsWith('deleteRevision')), [], 'one old revision: within the limit');
    const second = c.revisions.find((x) => x.revision === 2)?.metadata.name;
    c.setImage('fluentd:3');
    let r = c.round();
    assert.deepEqual(kinds(r).filter((k) => k.startsWith('deleteRevision')), [`deleteRevision ${second} (history)`], 'two old: the unused one goes');
    c.setImage('fluentd:4');
    r = c.round();
    assert.deepEqual(
      c.revisions.map((x) => x.revision).sort(),
      [1, 4],
      'revision 3 (unused) was trimmed; revision 1 is kept while a pod uses it',
    );
    assert.ok(c.revisions.some((x) => x.metadata.name === pinned));
    assert.deepEqual(
      r.actions.filter((a) => a.type === 'deleteRevision').map((a) => (a.type === 'deleteRevision' ? a.reason : '')),
      ['history'],
    );
  });

  it('a name taken by another revision is a collision: collisionCount goes up', () => {
    const c = new Cluster(daemonSet(), [node('n1')]);
    const probe = c.compute();
    const taken = probe.actions.find((a) => a.type === 'createRevision');
    assert.ok(taken && taken.type === 'createRevision');
    c.revisions.push({ apiVersion: 'apps/v1', kind: 'ControllerRevision', metadata: { name: taken.name, namespace: 'kube-system', uid: 'foreign', ownerReferences: [{ apiVersion: 'apps/v1', kind: 'DaemonSet', name: 'other', uid: 'other', controller: true }] }, data: { other: true }, revision: 1 });
    const r = c.round();
    const created = r.actions.find((a) => a.type === 'createRevision');
    assert.ok(created && created.type === 'createRevision');
    assert.notEqual(created.name, taken.name);
    assert.equal(r.status.collisionCount, 1);
    assert.equal(c.round().status.collisionCount, 1, 'the existing revision is found by its data afterwards');
  });

  it('duplicate current revisions: the newest is kept, the pods of the other relabelled', () => {
    const c = new Cluster(daemonSet(), [node('n1')]);
    c.settle();
    const keep = c.revisions[0];
    const dup = clone(keep);
    dup.metadata.name = 'fluentd-dup';
    dup.metadata.uid = 'dup-uid';
    dup.metadata.labels = { ...dup.metadata.labels, 'controller-revision-hash': 'dup' };
    dup.revision = 0;
    c.revisions.push(dup);
    c.pods[0].metadata.labels = { ...c.pods[0].metadata.labels, 'controller-revision-hash': 'dup' };
    const r = c.round();
    assert.deepEqual(kinds(r), [`relabelPod ${c.pods[0].metadata.name} -> ${hashOf({ metadata: { labels: keep.metadata.labels } })}`, 'deleteRevision fluentd-dup (duplicate)']);
    assert.deepEqual(
      executionPhases(r.actions).map((p) => p.phase),
      ['ownership', 'history'],
    );
  });

  it('adopts an orphan revision and labels a revision lacking the hash label with its name', () => {
    const c = new Cluster(daemonSet(), [node('n1')]);
    c.round();
    const rev = c.revisions[0];
    delete rev.metadata.ownerReferences;
    delete rev.metadata.labels?.['controller-revision-hash'];
    const r = c.compute();
    assert.deepEqual(kinds(r).slice(0, 2), [`adoptRevision ${rev.metadata.name}`, `updateRevision ${rev.metadata.name} (label) -> 1`]);
    assert.equal(r.hash, rev.metadata.name);
  });
});

describe('DaemonSet actions', () => {
  it('events use Kubernetes words', () => {
    const create: DaemonSetAction = { type: 'createPod', node: 'n1', object: { metadata: { generateName: 'fluentd-' } } };
    const del: DaemonSetAction = { type: 'deletePod', name: 'fluentd-x', uid: 'u', node: 'n1', reason: 'update' };
    assert.deepEqual(actionEvent(create, undefined, 'fluentd-abc12'), { type: 'Normal', reason: 'SuccessfulCreate', message: 'Created pod: fluentd-abc12' });
    assert.deepEqual(actionEvent(create, { message: 'quota exceeded' }), { type: 'Warning', reason: 'FailedCreate', message: 'Error creating: quota exceeded' });
    assert.deepEqual(actionEvent(del), { type: 'Normal', reason: 'SuccessfulDelete', message: 'Deleted pod: fluentd-x' });
    assert.deepEqual(actionEvent(del, { message: 'boom' }), { type: 'Warning', reason: 'FailedDelete', message: 'Error deleting: boom' });
    assert.equal(actionEvent(del, { message: 'gone', reason: 'NotFound' }), undefined);
  });

  it('phases run revisions, ownership, creations, deletions, then history', () => {
    const actions: DaemonSetAction[] = [
      { type: 'deleteRevision', name: 'r0', reason: 'history' },
      { type: 'deletePod', name: 'p', uid: 'u', node: 'n', reason: 'excess' },
      { type: 'createPod', node: 'n', object: { metadata: {} } },
      { type: 'adoptPod', name: 'q', uid: 'v', ownerReferences: [] },
      { type: 'createRevision', name: 'r1', object: { metadata: {} } },
    ];
    assert.deepEqual(
      executionPhases(actions).map((p) => `${p.phase}:${p.actions.map((a) => a.type).join(',')}`),
      ['revisions:createRevision', 'ownership:adoptPod', 'create:createPod', 'delete:deletePod', 'history:deleteRevision'],
    );
  });
});
