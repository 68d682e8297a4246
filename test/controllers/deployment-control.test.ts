// Table and scenario tests of the Deployment control algorithm (computeDeploymentActions) on
// plain objects. A small simulated cluster applies each round's writes (the API server's part)
// and plays the ReplicaSet controller and the kubelets between rounds: it makes or removes pods
// to match each ReplicaSet's spec (pods that are not available go first), marks a pod available
// one step after it was made (never, for images listed as broken), and writes the ReplicaSets'
// status. Rollouts are checked at every step against maxUnavailable and maxSurge.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { KubeObject } from '../../src/registry/types.ts';
import {
  actionEvent,
  claimReplicaSets,
  computeDeploymentActions,
  createFailure,
  describeAction,
  oldPodsRunning,
  type DeploymentAction,
  type DeploymentControlResult,
} from '../../src/controllers/deployment/control.ts';
import {
  DESIRED_REPLICAS_ANNOTATION,
  MAX_REPLICAS_ANNOTATION,
  POD_TEMPLATE_HASH_LABEL,
  REVISION_ANNOTATION,
  REVISION_HISTORY_ANNOTATION,
  computeHash,
  maxSurge,
  maxUnavailable,
} from '../../src/controllers/deployment/util.ts';

type Obj = Record<string, unknown>;
const T0 = Date.parse('2024-05-01T12:00:00Z');
const iso = (ms: number): string => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
const clone = <T>(v: T): T => structuredClone(v);
const spec = (o: KubeObject): Obj => o.spec as Obj;
const status = (o: KubeObject): Obj => (o.status ?? {}) as Obj;
const replicasOf = (o: KubeObject): number => spec(o).replicas as number;
const imageOf = (o: KubeObject): string => (((spec(o).template as Obj).spec as Obj).containers as Obj[])[0].image as string;

interface DeployOpts {
  replicas?: number;
  image?: string;
  strategy?: Obj;
  revisionHistoryLimit?: number;
  progressDeadlineSeconds?: number | null;
  paused?: boolean;
  selector?: Obj;
}

function deployment(o: DeployOpts = {}): KubeObject {
  const s: Obj = {
    replicas: o.replicas ?? 4,
    selector: o.selector ?? { matchLabels: { app: 'web' } },
    template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'web', image: o.image ?? 'nginx:1' }] } },
    strategy: o.strategy ?? { type: 'RollingUpdate', rollingUpdate: { maxSurge: '25%', maxUnavailable: '25%' } },
    revisionHistoryLimit: o.revisionHistoryLimit ?? 10,
  };
  if (o.progressDeadlineSeconds !== null) s.progressDeadlineSeconds = o.progressDeadlineSeconds ?? 600;
  if (o.paused) s.paused = true;
  return { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web', namespace: 'default', uid: 'dep-uid', generation: 1 }, spec: s, status: {} };
}

interface SimPod {
  name: string;
  rsUid: string;
  available: boolean;
  image: string;
}

/** The cluster the algorithm acts on. */
class Cluster {
  d: KubeObject;
  rss: KubeObject[] = [];
  pods: SimPod[] = [];
  now = T0;
  events: string[] = [];
  broken = new Set<string>();
  last: DeploymentControlResult | undefined;
  /** Largest number of unavailable pods (replicas − available) and of pods seen while checking. */
  maxUnavailableSeen = 0;
  maxPodsSeen = 0;
  private seq = 0;

  constructor(d: KubeObject) {
    this.d = d;
  }

  /** One controller round; every action succeeds. */
  round(): DeploymentControlResult {
    this.now += 1000;
    const pods = this.pods.map((p) => this.podObject(p));
    const r = computeDeploymentActions({ deployment: clone(this.d), replicaSets: clone(this.rss), pods, now: new Date(this.now) });
    for (const e of r.events) this.events.push(`${e.reason} ${e.message}`);
    for (const a of r.actions) this.apply(a);
    if (r.statusChanged) this.d.status = clone(r.status);
    this.last = r;
    return r;
  }

  apply(a: DeploymentAction): void {
    switch (a.type) {
      case 'createReplicaSet': {
        assert.ok(!this.rss.some((x) => x.metadata.name === a.name), `create of existing ${a.name}`);
        const o = clone(a.object);
        o.metadata.uid = `rs-${++this.seq}`;
        o.metadata.creationTimestamp = iso(this.now);
        o.metadata.generation = 1;
        o.metadata.resourceVersion = String(this.seq);
        o.status = { replicas: 0 };
        this.rss.push(o);
        break;
      }
      case 'updateReplicaSet': {
        const i = this.rss.findIndex((x) => x.metadata.name === a.name);
        assert.ok(i >= 0, `update of missing ${a.name}`);
        const cur = this.rss[i];
        assert.equal(a.object.metadata.resourceVersion, cur.metadata.resourceVersion, 'updates build on the cached object');
        const o = clone(a.object);
        o.status = cur.status;
        o.metadata.generation = (cur.metadata.generation ?? 1) + (JSON.stringify(o.spec) === JSON.stringify(cur.spec) ? 0 : 1);
        o.metadata.resourceVersion = String(++this.seq);
        this.rss[i] = o;
        break;
      }
      case 'deleteReplicaSet':
        this.rss = this.rss.filter((x) => x.metadata.name !== a.name);
        break;
      case 'setDeploymentRevision':
        this.d.metadata.annotations = { ...this.d.metadata.annotations, [REVISION_ANNOTATION]: a.revision };
        break;
      case 'adoptReplicaSet':
      case 'releaseReplicaSet': {
        const x = this.rss.find((r) => r.metadata.name === a.name) as KubeObject;
        x.metadata.ownerReferences = a.ownerReferences;
        break;
      }
    }
    const ev = actionEvent(a);
    if (ev) this.events.push(`${ev.reason} ${ev.message}`);
  }

  podObject(p: SimPod): KubeObject {
    return {
      metadata: { name: p.name, namespace: 'default', ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: '', uid: p.rsUid, controller: true }] },
      status: { phase: 'Running' },
    };
  }

  /** The ReplicaSet controller and the kubelets: one step. */
  step(): void {
    // Pods made last step start (unless their image is broken).
    for (const p of this.pods) if (!this.broken.has(p.image)) p.available = true;
    for (const rs of this.rss) {
      const uid = rs.metadata.uid as string;
      const mine = this.pods.filter((p) => p.rsUid === uid);
      const want = replicasOf(rs);
      for (let i = mine.length; i < want; i++) this.pods.push({ name: `${rs.metadata.name}-${++this.seq}`, rsUid: uid, available: false, image: imageOf(rs) });
      if (mine.length > want) {
        const drop = [...mine].sort((a, b) => Number(a.available) - Number(b.available)).slice(0, mine.length - want);
        this.pods = this.pods.filter((p) => !drop.includes(p));
      }
    }
    this.pods = this.pods.filter((p) => this.rss.some((rs) => rs.metadata.uid === p.rsUid));
    for (const rs of this.rss) {
      const mine = this.pods.filter((p) => p.rsUid === rs.metadata.uid);
      const avail = mine.filter((p) => p.available).length;
      rs.status = { replicas: mine.length, readyReplicas: avail, availableReplicas: avail, observedGeneration: rs.metadata.generation };
    }
    const unavailable = replicasOf(this.d) - this.pods.filter((p) => p.available).length;
    this.maxUnavailableSeen = Math.max(this.maxUnavailableSeen, unavailable);
    this.maxPodsSeen = Math.max(this.maxPodsSeen, this.pods.length);
  }

  /** Rounds and steps until a round changes nothing; returns the number of rounds. */
  settle(limit = 200): number {
    for (let i = 0; i < limit; i++) {
      const r = this.round();
      this.step();
      if (r.actions.length === 0 && !r.statusChanged && this.pods.every((p) => p.available || this.broken.has(p.image))) return i;
    }
    throw new Error(`did not settle: ${JSON.stringify(this.rss.map((r) => [r.metadata.name, replicasOf(r), r.status]))}`);
  }

  resetWatch(): void {
    this.maxUnavailableSeen = 0;
    this.maxPodsSeen = 0;
  }

  setImage(image: string): void {
    const t = spec(this.d).template as Obj;
    ((t.spec as Obj).containers as Obj[])[0].image = image;
    this.d.metadata.generation = (this.d.metadata.generation ?? 1) + 1;
  }

  setReplicas(n: number): void {
    spec(this.d).replicas = n;
    this.d.metadata.generation = (this.d.metadata.generation ?? 1) + 1;
  }

  rsByImage(image: string): KubeObject[] {
    return this.rss.filter((r) => imageOf(r) === image);
  }

  condition(type: string): Obj | undefined {
    return ((status(this.d).conditions as Obj[] | undefined) ?? []).find((c) => c.type === type);
  }
}

// ---------------------------------------------------------------------------------------------

describe('a new deployment', () => {
  it('creates its ReplicaSet with the hash, revision 1 and the replica annotations', () => {
    const c = new Cluster(deployment({ replicas: 4 }));
    const r = c.round();
    const hash = computeHash(spec(c.d).template);
    const name = `web-${hash}`;
    assert.deepEqual(r.actions.map(describeAction), [`create replicaset ${name} (4)`, 'set deployment revision 1']);
    const rs = c.rss[0];
    assert.equal(rs.metadata.labels?.[POD_TEMPLATE_HASH_LABEL], hash);
    assert.deepEqual(spec(rs).selector, { matchLabels: { app: 'web', [POD_TEMPLATE_HASH_LABEL]: hash } });
    assert.deepEqual(((spec(rs).template as Obj).metadata as Obj).labels, { app: 'web', [POD_TEMPLATE_HASH_LABEL]: hash });
    assert.deepEqual(rs.metadata.annotations, { [REVISION_ANNOTATION]: '1', [DESIRED_REPLICAS_ANNOTATION]: '4', [MAX_REPLICAS_ANNOTATION]: '5' });
    assert.deepEqual(rs.metadata.ownerReferences, [{ apiVersion: 'apps/v1', kind: 'Deployment', name: 'web', uid: 'dep-uid', controller: true, blockOwnerDeletion: true }]);
    assert.equal(c.d.metadata.annotations?.[REVISION_ANNOTATION], '1');
    assert.deepEqual(c.events, [`ScalingReplicaSet Scaled up replica set ${name} from 0 to 4`]);
    assert.equal(c.condition('Progressing')?.reason, 'NewReplicaSetCreated');
    assert.equal(c.condition('Progressing')?.message, `Created new replica set "${name}"`);
    assert.equal(c.condition('Available')?.status, 'False');
    assert.equal(c.condition('Available')?.reason, 'MinimumReplicasUnavailable');
    assert.equal(status(c.d).observedGeneration, 1);
  });

  it('reports the rollout complete once every pod is available', () => {
    const c = new Cluster(deployment({ replicas: 4 }));
    c.settle();
    const s = status(c.d);
    assert.deepEqual(
      { replicas: s.replicas, updatedReplicas: s.updatedReplicas, readyReplicas: s.readyReplicas, availableReplicas: s.availableReplicas, unavailableReplicas: s.unavailableReplicas },
      { replicas: 4, updatedReplicas: 4, readyReplicas: 4, availableReplicas: 4, unavailableReplicas: undefined },
    );
    assert.equal(c.condition('Available')?.reason, 'MinimumReplicasAvailable');
    assert.equal(c.condition('Available')?.message, 'Deployment has minimum availability.');
    assert.equal(c.condition('Progressing')?.reason, 'NewReplicaSetAvailable');
    assert.equal(c.condition('Progressing')?.message, `ReplicaSet "${c.rss[0].metadata.name}" has successfully progressed.`);
    assert.equal(c.last?.requeueAfterMs, undefined, 'a complete rollout needs no progress check');
  });

  it('a deployment selecting everything only gets a warning', () => {
    const d = deployment({ selector: {} });
    const r = computeDeploymentActions({ deployment: d, replicaSets: [], now: new Date(T0) });
    assert.deepEqual(r.actions, []);
    assert.deepEqual(r.events, [{ type: 'Warning', reason: 'SelectingAll', message: 'This deployment is selecting all pods. A non-empty selector is required.' }]);
    assert.equal(r.status.observedGeneration, 1);
  });

  it('a deployment being deleted only gets its status', () => {
    const c = new Cluster(deployment({ replicas: 2 }));
    c.settle();
    c.d.metadata.deletionTimestamp = iso(T0);
    c.setImage('nginx:2');
    c.setReplicas(5);
    const r = c.round();
    assert.deepEqual(r.actions, []);
    assert.equal(r.status.observedGeneration, 3);
  });
});

describe('rolling updates', () => {
  const cases: { replicas: number; surge: number | string; unavailable: number | string }[] = [
    { replicas: 4, surge: '25%', unavailable: '25%' },
    { replicas: 10, surge: '25%', unavailable: '25%' },
    { replicas: 10, surge: 0, unavailable: 3 },
    { replicas: 10, surge: 3, unavailable: 0 },
    { replicas: 7, surge: '50%', unavailable: '10%' },
    { replicas: 1, surge: '25%', unavailable: '25%' },
    { replicas: 5, surge: '0%', unavailable: '10%' },
  ];
  for (const k of cases) {
    it(`${k.replicas} replicas, maxSurge ${k.surge}, maxUnavailable ${k.unavailable}: within the limits at every step`, () => {
      const c = new Cluster(deployment({ replicas: k.replicas, strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: k.surge, maxUnavailable: k.unavailable } } }));
      c.settle();
      c.resetWatch();
      c.setImage('nginx:2');
      const rounds = c.settle();
      assert.ok(rounds > 1);
      assert.ok(c.maxUnavailableSeen <= maxUnavailable(c.d), `unavailable ${c.maxUnavailableSeen} > ${maxUnavailable(c.d)}`);
      assert.ok(c.maxPodsSeen <= k.replicas + maxSurge(c.d), `pods ${c.maxPodsSeen} > ${k.replicas + maxSurge(c.d)}`);
      const [next] = c.rsByImage('nginx:2');
      const [prev] = c.rsByImage('nginx:1');
      assert.equal(replicasOf(next), k.replicas);
      assert.equal(replicasOf(prev), 0, 'the old ReplicaSet is kept at 0 as history');
      assert.equal(next.metadata.annotations?.[REVISION_ANNOTATION], '2');
      assert.equal(c.d.metadata.annotations?.[REVISION_ANNOTATION], '2');
      assert.equal(status(c.d).updatedReplicas, k.replicas);
      assert.equal(c.condition('Progressing')?.reason, 'NewReplicaSetAvailable');
      assert.ok(c.pods.every((p) => p.image === 'nginx:2'));
    });
  }

  it('the first round surges and scales the old set down, as Kubernetes words it', () => {
    const c = new Cluster(deployment({ replicas: 4 }));
    c.settle();
    c.events = [];
    c.setImage('nginx:2');
    c.round();
    const next = c.rsByImage('nginx:2')[0].metadata.name;
    const prev = c.rsByImage('nginx:1')[0].metadata.name;
    assert.deepEqual(c.events, [`ScalingReplicaSet Scaled up replica set ${next} from 0 to 1`, `ScalingReplicaSet Scaled down replica set ${prev} from 4 to 3`]);
    assert.equal(c.condition('Progressing')?.reason, 'NewReplicaSetCreated');
    assert.ok((c.last?.requeueAfterMs ?? 0) > 600_000, 'a progress check is due after the deadline');
  });

  // rolling_test.go TestDeploymentController_reconcileNewReplicaSet
  const newCases: { replicas: number; surge: number; oldN: number; newN: number; want?: number }[] = [
    { replicas: 10, surge: 0, oldN: 10, newN: 0 },
    { replicas: 10, surge: 2, oldN: 10, newN: 0, want: 2 },
    { replicas: 10, surge: 2, oldN: 5, newN: 0, want: 7 },
    { replicas: 10, surge: 2, oldN: 10, newN: 2 },
    { replicas: 2, surge: 2, oldN: 2, newN: 4, want: 2 },
  ];
  for (const k of newCases) {
    it(`new ReplicaSet: ${k.replicas} replicas, maxSurge ${k.surge}, old ${k.oldN}, new ${k.newN} → ${k.want ?? 'unchanged'}`, () => {
      const d = deployment({ replicas: k.replicas, image: 'nginx:2', strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: k.surge, maxUnavailable: 0 } } });
      const r = computeDeploymentActions({ deployment: d, replicaSets: [ownedRS(d, 'old', 'nginx:1', k.oldN, k.oldN, 1), ownedRS(d, 'new', 'nginx:2', k.newN, 0, 2)], now: new Date(T0) });
      const up = r.actions.find((a) => a.type === 'updateReplicaSet' && a.name === 'new');
      assert.equal(up && up.type === 'updateReplicaSet' ? up.to : undefined, k.want);
    });
  }

  // rolling_test.go TestDeploymentController_reconcileOldReplicaSets
  const oldCases: { unavailable: number; oldN: number; newN: number; oldReady: number; want?: number }[] = [
    { unavailable: 0, oldN: 10, newN: 0, oldReady: 10, want: 9 },
    { unavailable: 2, oldN: 10, newN: 0, oldReady: 10, want: 8 },
    { unavailable: 2, oldN: 10, newN: 0, oldReady: 8, want: 8 }, // unhealthy ones go first
    { unavailable: 2, oldN: 10, newN: 0, oldReady: 9, want: 8 }, // 1 unhealthy + 1 ready
    { unavailable: 2, oldN: 8, newN: 2, oldReady: 8 }, // the new ones are not available yet
  ];
  for (const k of oldCases) {
    it(`old ReplicaSets: maxUnavailable ${k.unavailable}, old ${k.oldN} (${k.oldReady} ready), new ${k.newN} → ${k.want ?? 'unchanged'}`, () => {
      const d = deployment({ replicas: 10, image: 'nginx:2', strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 0, maxUnavailable: k.unavailable } } });
      const r = computeDeploymentActions({ deployment: d, replicaSets: [ownedRS(d, 'old', 'nginx:1', k.oldN, k.oldReady, 1), ownedRS(d, 'new', 'nginx:2', k.newN, 0, 2)], now: new Date(T0) });
      const down = r.actions.find((a) => a.type === 'updateReplicaSet' && a.name === 'old');
      assert.equal(down && down.type === 'updateReplicaSet' ? down.to : undefined, k.want);
    });
  }

  it('a status that still counts pods beyond the spec is not counted on', () => {
    // old: spec lowered to 3 but its status still says 4 available; new: 2, 1 available.
    // Available for the rollout: 3 + 1 = 4, one more than replicas − maxUnavailable = 3, so
    // the old set may lose one more (not two, as the raw 4 + 1 would allow).
    const d = deployment({ replicas: 4, image: 'nginx:2' });
    const r = computeDeploymentActions({ deployment: d, replicaSets: [ownedRS(d, 'old', 'nginx:1', 3, 4, 1), ownedRS(d, 'new', 'nginx:2', 2, 1, 2)], now: new Date(T0) });
    assert.deepEqual(r.actions.filter((a) => a.type === 'updateReplicaSet').map(describeAction), ['scale replicaset old 3→2']);
  });

  it('a broken new template stops at maxUnavailable and times out after progressDeadlineSeconds', () => {
    const c = new Cluster(deployment({ replicas: 10, progressDeadlineSeconds: 30, strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 3, maxUnavailable: 2 } } }));
    c.settle();
    c.broken.add('nginx:bad');
    c.setImage('nginx:bad');
    c.settle();
    assert.equal(replicasOf(c.rsByImage('nginx:bad')[0]), 5);
    assert.equal(replicasOf(c.rsByImage('nginx:1')[0]), 8);
    assert.equal(c.condition('Progressing')?.reason, 'ReplicaSetUpdated');
    const due = c.last?.requeueAfterMs;
    assert.ok(due !== undefined && due > 0 && due <= 31_000, `progress check due in ${due}`);
    c.now += 31_000;
    c.round();
    assert.equal(c.condition('Progressing')?.status, 'False');
    assert.equal(c.condition('Progressing')?.reason, 'ProgressDeadlineExceeded');
    assert.equal(c.condition('Progressing')?.message, `ReplicaSet "${c.rsByImage('nginx:bad')[0].metadata.name}" has timed out progressing.`);
    assert.equal(c.condition('Available')?.status, 'True', '8 of 10 available is within maxUnavailable');
    assert.equal(c.round().requeueAfterMs, undefined, 'timed out: no more checks');

    // Resized mid-rollout: the extra replicas go to both sets in proportion (3 old, 2 new).
    c.setReplicas(15);
    c.round();
    assert.equal(replicasOf(c.rsByImage('nginx:1')[0]), 11);
    assert.equal(replicasOf(c.rsByImage('nginx:bad')[0]), 7);

    // Fixing the template rolls on to a third ReplicaSet.
    c.setImage('nginx:3');
    c.resetWatch();
    c.settle();
    assert.equal(replicasOf(c.rsByImage('nginx:3')[0]), 15);
    assert.equal(replicasOf(c.rsByImage('nginx:bad')[0]), 0);
    assert.equal(c.condition('Progressing')?.reason, 'NewReplicaSetAvailable');
    assert.equal(c.d.metadata.annotations?.[REVISION_ANNOTATION], '3');
  });
});

/** A ReplicaSet of deployment d at an image, with available pods. */
function ownedRS(d: KubeObject, name: string, image: string, replicas: number, available: number, revision: number, extra: Record<string, string> = {}): KubeObject {
  const t = clone(spec(d).template as Obj);
  ((t.spec as Obj).containers as Obj[])[0].image = image;
  const hash = `h${name}`;
  ((t.metadata as Obj).labels as Obj)[POD_TEMPLATE_HASH_LABEL] = hash;
  return {
    apiVersion: 'apps/v1',
    kind: 'ReplicaSet',
    metadata: {
      name,
      namespace: 'default',
      uid: `uid-${name}`,
      generation: 1,
      creationTimestamp: iso(T0 - 100_000 + revision * 1000),
      labels: { app: 'web', [POD_TEMPLATE_HASH_LABEL]: hash },
      annotations: { [REVISION_ANNOTATION]: String(revision), [DESIRED_REPLICAS_ANNOTATION]: String(replicasOf(d)), [MAX_REPLICAS_ANNOTATION]: String(replicasOf(d) + maxSurge(d)), ...extra },
      ownerReferences: [{ apiVersion: 'apps/v1', kind: 'Deployment', name: 'web', uid: 'dep-uid', controller: true }],
      resourceVersion: '1',
    },
    spec: { replicas, selector: { matchLabels: { app: 'web', [POD_TEMPLATE_HASH_LABEL]: hash } }, template: t },
    status: { replicas, readyReplicas: available, availableReplicas: available, observedGeneration: 1 },
  };
}

describe('proportional scaling (sync_test.go TestScale)', () => {
  // deployment replicas before → after (maxSurge 0, maxUnavailable 0 → 1), ReplicaSet sizes before → after
  const cases: { name: string; from: number; to: number; newRS: [number, number]; oldRSs: [number, number][] }[] = [
    { name: 'normal scaling event: 10 -> 12', from: 10, to: 12, newRS: [10, 12], oldRSs: [] },
    { name: 'normal scaling event: 10 -> 5', from: 10, to: 5, newRS: [10, 5], oldRSs: [] },
    { name: 'proportional scaling: 5 -> 10', from: 5, to: 10, newRS: [2, 4], oldRSs: [[3, 6]] },
    { name: 'proportional scaling: 5 -> 3', from: 5, to: 3, newRS: [2, 1], oldRSs: [[3, 2]] },
    { name: 'proportional scaling: 9 -> 4', from: 9, to: 4, newRS: [8, 4], oldRSs: [[1, 0]] },
    { name: 'proportional scaling: 7 -> 10', from: 7, to: 10, newRS: [2, 3], oldRSs: [[3, 4], [2, 3]] },
    { name: 'proportional scaling: 13 -> 8', from: 13, to: 8, newRS: [2, 1], oldRSs: [[8, 5], [3, 2]] },
  ];
  for (const k of cases) {
    it(k.name, () => {
      const strategy = { type: 'RollingUpdate', rollingUpdate: { maxSurge: 0, maxUnavailable: 0 } };
      const before = deployment({ replicas: k.from, image: 'nginx:new', strategy });
      const d = deployment({ replicas: k.to, image: 'nginx:new', strategy });
      d.status = { replicas: k.from };
      const rss = [ownedRS(before, 'new', 'nginx:new', k.newRS[0], k.newRS[0], 9)];
      k.oldRSs.forEach(([n], i) => rss.push(ownedRS(before, `old${i}`, `nginx:old${i}`, n, n, i + 1)));
      const r = computeDeploymentActions({ deployment: d, replicaSets: rss, now: new Date(T0) });
      const sizeOf = (name: string, was: number): number => {
        const a = r.actions.find((x) => x.type === 'updateReplicaSet' && x.name === name);
        return a && a.type === 'updateReplicaSet' ? a.to : was;
      };
      assert.equal(sizeOf('new', k.newRS[0]), k.newRS[1], 'new');
      k.oldRSs.forEach(([was, want], i) => assert.equal(sizeOf(`old${i}`, was), want, `old${i}`));
      // Every active ReplicaSet now records the new size of the deployment.
      for (const a of r.actions) if (a.type === 'updateReplicaSet' && a.to > 0) assert.equal(a.object.metadata.annotations?.[DESIRED_REPLICAS_ANNOTATION], String(k.to));
    });
  }
});

describe('Recreate', () => {
  it('scales the old ReplicaSet to 0, waits for its pods, then creates the new one at full size', () => {
    const c = new Cluster(deployment({ replicas: 3, strategy: { type: 'Recreate' } }));
    c.settle();
    c.setImage('nginx:2');
    let r = c.round();
    assert.deepEqual(r.actions.map(describeAction), [`scale replicaset ${c.rss[0].metadata.name} 3→0`]);
    // The old pods are still there: nothing new yet.
    r = c.round();
    assert.deepEqual(r.actions, []);
    assert.equal(c.rsByImage('nginx:2').length, 0);
    c.step();
    assert.equal(c.pods.length, 0);
    r = c.round();
    const created = r.actions.find((a) => a.type === 'createReplicaSet');
    assert.ok(created && created.type === 'createReplicaSet' && created.replicas === 3);
    c.settle();
    assert.equal(status(c.d).availableReplicas, 3);
    assert.equal(c.condition('Progressing')?.reason, 'NewReplicaSetAvailable');
  });

  it('oldPodsRunning ignores finished pods and the new ReplicaSet', () => {
    const old: KubeObject = { metadata: { name: 'o', uid: 'o' }, spec: { replicas: 0 }, status: { replicas: 0 } };
    const nu: KubeObject = { metadata: { name: 'n', uid: 'n' }, spec: { replicas: 1 }, status: { replicas: 1 } };
    const pod = (owner: string, phase: string): KubeObject => ({ metadata: { name: `p-${owner}-${phase}`, ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: owner, uid: owner, controller: true }] }, status: { phase } });
    assert.equal(oldPodsRunning(nu, [old], [pod('n', 'Running'), pod('o', 'Succeeded'), pod('o', 'Failed')]), false);
    assert.equal(oldPodsRunning(nu, [old], [pod('o', 'Pending')]), true);
    assert.equal(oldPodsRunning(nu, [{ ...old, status: { replicas: 1 } }], []), true);
  });
});

describe('paused deployments', () => {
  it('do not roll out, still scale, and roll out once resumed', () => {
    const c = new Cluster(deployment({ replicas: 4 }));
    c.settle();
    spec(c.d).paused = true;
    c.d.metadata.generation = 2;
    c.round();
    assert.equal(c.condition('Progressing')?.status, 'Unknown');
    assert.equal(c.condition('Progressing')?.reason, 'DeploymentPaused');
    assert.equal(c.condition('Progressing')?.message, 'Deployment is paused');
    c.setImage('nginx:2');
    c.settle();
    assert.equal(c.rsByImage('nginx:2').length, 0, 'no new ReplicaSet while paused');
    assert.equal(status(c.d).observedGeneration, 3);
    c.setReplicas(6);
    c.settle();
    assert.equal(replicasOf(c.rsByImage('nginx:1')[0]), 6, 'scaling works while paused');
    spec(c.d).paused = false;
    c.d.metadata.generation = 5;
    c.round();
    assert.equal(c.rsByImage('nginx:2').length, 1);
    c.settle();
    assert.equal(replicasOf(c.rsByImage('nginx:2')[0]), 6);
    assert.equal(c.condition('Progressing')?.reason, 'NewReplicaSetAvailable');
  });

  it('resuming records DeploymentResumed', () => {
    const d = deployment();
    d.status = { conditions: [{ type: 'Progressing', status: 'Unknown', reason: 'DeploymentPaused', message: 'Deployment is paused', lastUpdateTime: iso(T0), lastTransitionTime: iso(T0) }] };
    const r = computeDeploymentActions({ deployment: d, replicaSets: [], now: new Date(T0 + 5000) });
    // The same round creates the ReplicaSet, which replaces the condition again.
    assert.equal(r.status.conditions?.find((c) => c.type === 'Progressing')?.reason, 'NewReplicaSetCreated');
    d.spec = { ...spec(d), paused: true };
    const p = computeDeploymentActions({ deployment: clone(d), replicaSets: [], now: new Date(T0) });
    assert.deepEqual(p.actions, [], 'a new paused deployment creates nothing');
  });
});

describe('history', () => {
  it('old ReplicaSets beyond revisionHistoryLimit are deleted, lowest revision first', () => {
    const c = new Cluster(deployment({ replicas: 2, revisionHistoryLimit: 2 }));
    c.settle();
    for (const img of ['nginx:2', 'nginx:3', 'nginx:4', 'nginx:5']) {
      c.setImage(img);
      c.settle();
    }
    const names = c.rss.map((r) => imageOf(r)).sort();
    assert.deepEqual(names, ['nginx:3', 'nginx:4', 'nginx:5']);
    assert.deepEqual(
      c.rss.map((r) => r.metadata.annotations?.[REVISION_ANNOTATION]).sort(),
      ['3', '4', '5'],
    );
  });

  it('a rollback reuses the old ReplicaSet and renumbers it', () => {
    const c = new Cluster(deployment({ replicas: 3 }));
    c.settle();
    const first = c.rss[0].metadata.name;
    c.setImage('nginx:2');
    c.settle();
    c.setImage('nginx:1'); // what `kubectl rollout undo` writes
    c.resetWatch();
    c.settle();
    assert.equal(c.rss.length, 2, 'no third ReplicaSet');
    const back = c.rss.find((r) => r.metadata.name === first) as KubeObject;
    assert.equal(replicasOf(back), 3);
    assert.equal(back.metadata.annotations?.[REVISION_ANNOTATION], '3');
    assert.equal(back.metadata.annotations?.[REVISION_HISTORY_ANNOTATION], '1');
    assert.equal(c.d.metadata.annotations?.[REVISION_ANNOTATION], '3');
    assert.ok(c.maxUnavailableSeen <= 0 + maxUnavailable(c.d));
  });

  it('copies deployment annotations to the new ReplicaSet (not the skipped ones)', () => {
    const c = new Cluster(deployment({ replicas: 1 }));
    c.d.metadata.annotations = { 'kubernetes.io/change-cause': 'first', 'kubectl.kubernetes.io/last-applied-configuration': '{}' };
    c.settle();
    assert.equal(c.rss[0].metadata.annotations?.['kubernetes.io/change-cause'], 'first');
    assert.equal(c.rss[0].metadata.annotations?.['kubectl.kubernetes.io/last-applied-configuration'], undefined);
    c.d.metadata.annotations['kubernetes.io/change-cause'] = 'second';
    const r = c.round();
    assert.deepEqual(r.actions.map(describeAction), [`update replicaset ${c.rss[0].metadata.name}`]);
    assert.equal(c.rss[0].metadata.annotations?.['kubernetes.io/change-cause'], 'second');
  });
});

describe('ownership and collisions', () => {
  it('adopts a matching orphan and releases an own ReplicaSet that no longer matches', () => {
    const d = deployment();
    const orphan = ownedRS(d, 'orphan', 'nginx:1', 1, 1, 1);
    orphan.metadata.ownerReferences = [];
    const stray = ownedRS(d, 'stray', 'nginx:0', 1, 1, 1);
    stray.metadata.labels = { app: 'other' };
    const foreign = ownedRS(d, 'foreign', 'nginx:1', 1, 1, 1);
    foreign.metadata.ownerReferences = [{ apiVersion: 'apps/v1', kind: 'Deployment', name: 'x', uid: 'x', controller: true }];
    const claim = claimReplicaSets(d, [orphan, stray, foreign]);
    assert.deepEqual(
      claim.actions.map((a) => [a.type, 'name' in a ? a.name : '']),
      [
        ['adoptReplicaSet', 'orphan'],
        ['releaseReplicaSet', 'stray'],
      ],
    );
    const r = computeDeploymentActions({ deployment: d, replicaSets: [orphan, stray, foreign], now: new Date(T0) });
    assert.equal(r.actions.length, 2, 'a round that changes ownership does only that');
    assert.equal(r.statusChanged, false);
  });

  it('a name taken by another ReplicaSet raises collisionCount', () => {
    const d = deployment();
    const hash = computeHash(spec(d).template);
    const squatter = ownedRS(d, `web-${hash}`, 'nginx:9', 1, 1, 1);
    squatter.metadata.ownerReferences = [{ apiVersion: 'apps/v1', kind: 'Deployment', name: 'x', uid: 'x', controller: true }];
    const r = computeDeploymentActions({ deployment: d, replicaSets: [squatter], now: new Date(T0) });
    const created = r.actions.find((a) => a.type === 'createReplicaSet');
    assert.ok(created && created.type === 'createReplicaSet');
    assert.equal(created.name, `web-${computeHash(spec(d).template, 1)}`);
    assert.equal(r.status.collisionCount, 1);
    assert.ok(r.statusChanged);
  });

  it('a failed create is reported as ReplicaSetCreateError', () => {
    const d = deployment();
    const f = createFailure(d, {}, 'web-abc', 'quota exceeded', new Date(T0));
    assert.deepEqual(f.event, { type: 'Warning', reason: 'ReplicaSetCreateError', message: 'Failed to create new replica set "web-abc": quota exceeded' });
    assert.equal(f.status?.conditions?.[0].status, 'False');
    assert.equal(f.status?.conditions?.[0].reason, 'ReplicaSetCreateError');
    assert.equal(createFailure(deployment({ progressDeadlineSeconds: null }), {}, 'x', 'y', new Date(T0)).status, undefined);
  });

  it('without progressDeadlineSeconds there is no Progressing condition', () => {
    const c = new Cluster(deployment({ progressDeadlineSeconds: null }));
    c.settle();
    assert.equal(c.condition('Progressing'), undefined);
    assert.equal(c.condition('Available')?.status, 'True');
  });
});
