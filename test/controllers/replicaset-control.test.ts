// Table tests of the ReplicaSet algorithm's decisions (pure: plain objects in, actions out).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { KubeObject, OwnerReference } from '../../src/registry/types.ts';
import { computeReplicaSetActions, replicaSetStatus, rfc3339, type ReplicaSetControlInput } from '../../src/controllers/replicaset/control.ts';
import { actionEvent, describeAction, executionPhases, slowStartBatches, type ReplicaSetAction } from '../../src/controllers/replicaset/actions.ts';
import { compareForDeletion, podsToDelete } from '../../src/controllers/replicaset/pods.ts';
import { REPLICATION_CONTROLLER } from '../../src/controllers/replicaset/kinds.ts';

type Obj = Record<string, unknown>;
const NOW = new Date('2025-03-01T12:00:00Z');
const ago = (s: number): string => rfc3339(new Date(NOW.getTime() - s * 1000));

function rs(name = 'web', o: { replicas?: number; minReadySeconds?: number; uid?: string; owner?: string; deleting?: boolean; generation?: number; status?: Obj; selector?: Obj } = {}): KubeObject {
  const meta: KubeObject['metadata'] = { name, namespace: 'default', uid: o.uid ?? `uid-${name}`, generation: o.generation ?? 1 };
  if (o.owner) meta.ownerReferences = [{ apiVersion: 'apps/v1', kind: 'Deployment', name: 'd', uid: o.owner, controller: true }];
  if (o.deleting) meta.deletionTimestamp = ago(1);
  return {
    apiVersion: 'apps/v1',
    kind: 'ReplicaSet',
    metadata: meta,
    spec: {
      replicas: o.replicas ?? 3,
      minReadySeconds: o.minReadySeconds ?? 0,
      selector: o.selector ?? { matchLabels: { app: name } },
      template: { metadata: { labels: { app: name, tier: 'fe' }, annotations: { note: 'x' } }, spec: { containers: [{ name: 'c', image: 'nginx' }] } },
    },
    status: o.status ?? { replicas: 0 },
  };
}

interface PodOpts {
  owner?: KubeObject | null;
  labels?: Record<string, string>;
  node?: string;
  phase?: string;
  ready?: boolean;
  readyFor?: number;
  created?: number;
  restarts?: number;
  deleting?: boolean;
  cost?: string;
  ownerKind?: string;
}

function pod(name: string, o: PodOpts = {}): KubeObject {
  const owner = o.owner === undefined ? undefined : o.owner;
  const refs: OwnerReference[] = owner
    ? [{ apiVersion: 'apps/v1', kind: o.ownerKind ?? 'ReplicaSet', name: owner.metadata.name ?? '', uid: owner.metadata.uid ?? '', controller: true, blockOwnerDeletion: true }]
    : [];
  const meta: KubeObject['metadata'] = { name, namespace: 'default', uid: `uid-${name}`, labels: o.labels ?? { app: 'web', tier: 'fe' }, creationTimestamp: ago(o.created ?? 3600) };
  if (refs.length) meta.ownerReferences = refs;
  if (o.deleting) meta.deletionTimestamp = ago(0);
  if (o.cost !== undefined) meta.annotations = { 'controller.kubernetes.io/pod-deletion-cost': o.cost };
  const ready = o.ready ?? true;
  return {
    metadata: meta,
    spec: { nodeName: o.node ?? 'n1', containers: [{ name: 'c', image: 'nginx' }] },
    status: {
      phase: o.phase ?? 'Running',
      conditions: [{ type: 'Ready', status: ready ? 'True' : 'False', lastTransitionTime: ago(o.readyFor ?? 600) }],
      containerStatuses: [{ name: 'c', restartCount: o.restarts ?? 0 }],
    },
  };
}

function run(set: KubeObject, pods: KubeObject[], extra: Partial<ReplicaSetControlInput> = {}) {
  return computeReplicaSetActions({ set, pods, now: NOW, ...extra });
}

const brief = (actions: ReplicaSetAction[]): string[] => actions.map(describeAction);

describe('replicaset control: create and delete', () => {
  const set = rs('web');
  const cases: { name: string; pods: KubeObject[]; replicas: number; want: string[] }[] = [
    { name: 'no pods, 3 wanted: 3 creations', pods: [], replicas: 3, want: ['createPod', 'createPod', 'createPod'] },
    { name: 'all there: nothing', pods: ['a', 'b', 'c'].map((n) => pod(n, { owner: set })), replicas: 3, want: [] },
    { name: 'one short', pods: ['a', 'b'].map((n) => pod(n, { owner: set })), replicas: 3, want: ['createPod'] },
    { name: 'scale to 0 deletes all', pods: ['a', 'b'].map((n) => pod(n, { owner: set })), replicas: 0, want: ['deletePod a', 'deletePod b'] },
    {
      name: 'terminating, failed and succeeded pods do not count: replaced at once',
      pods: [pod('a', { owner: set }), pod('b', { owner: set, deleting: true }), pod('c', { owner: set, phase: 'Failed' }), pod('d', { owner: set, phase: 'Succeeded' })],
      replicas: 3,
      want: ['createPod', 'createPod'],
    },
    {
      name: 'pods of other sets and of other labels are left alone',
      pods: [pod('x', { owner: rs('other') }), pod('y', { labels: { app: 'db' } })],
      replicas: 1,
      want: ['createPod'],
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const s = rs('web', { replicas: c.replicas });
      const r = run(s, c.pods);
      assert.deepEqual(brief(r.actions), c.want);
      assert.equal(r.diff, r.claimed.length - c.replicas);
    });
  }

  it('builds pods from the template with generateName and a controller reference', () => {
    const [a] = run(rs('web', { replicas: 1 }), []).actions;
    assert.equal(a.type, 'createPod');
    if (a.type !== 'createPod') return;
    assert.deepEqual(a.object.metadata, {
      generateName: 'web-',
      namespace: 'default',
      labels: { app: 'web', tier: 'fe' },
      annotations: { note: 'x' },
      ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web', uid: 'uid-web', controller: true, blockOwnerDeletion: true }],
    });
    assert.deepEqual(a.object.spec, { containers: [{ name: 'c', image: 'nginx' }] });
  });

  it('caps creations and deletions at burstReplicas', () => {
    assert.equal(run(rs('web', { replicas: 10 }), [], { burstReplicas: 4 }).actions.length, 4);
    assert.equal(run(rs('web', { replicas: 700 }), []).actions.length, 500);
  });

  it('a set being deleted neither creates, deletes, adopts nor releases, but still reports status', () => {
    const set2 = rs('web', { replicas: 5, deleting: true });
    const r = run(set2, [pod('a', { owner: set2 }), pod('b', { owner: null }), pod('c', { owner: set2, labels: { app: 'gone' } })]);
    assert.deepEqual(r.actions, []);
    assert.deepEqual(r.claimed.map((p) => p.metadata.name), ['a']);
    assert.equal(r.status.replicas, 1);
  });
});

describe('replicaset control: adoption and release', () => {
  const set = rs('web', { replicas: 2 });

  it('adopts an orphan the selector matches and counts it', () => {
    const orphan = pod('o', { owner: null });
    orphan.metadata.ownerReferences = [{ apiVersion: 'v1', kind: 'ConfigMap', name: 'cm', uid: 'cm-uid' }];
    const r = run(set, [pod('a', { owner: set }), orphan]);
    assert.deepEqual(brief(r.actions), ['adoptPod o']);
    const [adopt] = r.actions;
    assert.ok(adopt.type === 'adoptPod');
    assert.deepEqual(adopt.ownerReferences, [
      { apiVersion: 'v1', kind: 'ConfigMap', name: 'cm', uid: 'cm-uid' },
      { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web', uid: 'uid-web', controller: true, blockOwnerDeletion: true },
    ]);
    assert.equal(adopt.uid, 'uid-o');
    assert.equal(r.claimed.length, 2);
  });

  it('does not adopt orphans that are terminating, finished, or not matched', () => {
    const r = run(set, [pod('t', { owner: null, deleting: true }), pod('f', { owner: null, phase: 'Failed' }), pod('x', { owner: null, labels: { app: 'web2' } })]);
    assert.deepEqual(brief(r.actions), ['createPod', 'createPod']);
  });

  it('releases an owned pod whose labels stopped matching, and replaces it', () => {
    const moved = pod('m', { owner: set, labels: { app: 'debug' } });
    moved.metadata.ownerReferences = [...(moved.metadata.ownerReferences ?? []), { apiVersion: 'v1', kind: 'Node', name: 'n', uid: 'node-uid' }];
    const r = run(set, [pod('a', { owner: set }), moved]);
    assert.deepEqual(brief(r.actions), ['releasePod m', 'createPod']);
    const [release] = r.actions;
    assert.ok(release.type === 'releasePod');
    assert.deepEqual(release.ownerReferences, [{ apiVersion: 'v1', kind: 'Node', name: 'n', uid: 'node-uid' }]);
  });

  it('a reference to an older set of the same name (another uid) is not the set’s', () => {
    const stale = pod('s', { owner: rs('web', { uid: 'old-uid' }) });
    const r = run(set, [stale]);
    assert.deepEqual(brief(r.actions), ['createPod', 'createPod']);
  });

  it('matchExpressions selectors adopt what they match', () => {
    const s = rs('web', { replicas: 1, selector: { matchExpressions: [{ key: 'tier', operator: 'In', values: ['fe'] }] } });
    assert.deepEqual(brief(run(s, [pod('o', { owner: null })]).actions), ['adoptPod o']);
  });
});

describe('replicaset control: which pods go first on scale-down', () => {
  const set = rs('web', { replicas: 1 });
  // Each case: two pods; the first named is deleted first.
  const cases: { name: string; first: PodOpts; second: PodOpts }[] = [
    { name: 'unassigned before assigned', first: { node: '', phase: 'Pending', ready: false }, second: { node: 'n1' } },
    { name: 'Pending before Unknown', first: { phase: 'Pending', ready: false }, second: { phase: 'Unknown', ready: false } },
    { name: 'Unknown before Running', first: { phase: 'Unknown', ready: false }, second: { phase: 'Running', ready: false } },
    { name: 'not ready before ready', first: { ready: false }, second: { ready: true } },
    { name: 'lower deletion cost before higher', first: { cost: '-5' }, second: { cost: '10' } },
    { name: 'ready for less time before longer (different log2 buckets)', first: { readyFor: 10 }, second: { readyFor: 5000 } },
    { name: 'more restarts before fewer (ready at the same time)', first: { restarts: 4, readyFor: 100 }, second: { restarts: 1, readyFor: 100 } },
    { name: 'newer before older', first: { created: 60, ready: false }, second: { created: 86400, ready: false } },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const a = pod('a', { owner: set, ...c.first });
      const b = pod('b', { owner: set, ...c.second });
      assert.ok(compareForDeletion(a, b, 0, 0, NOW) < 0);
      assert.ok(compareForDeletion(b, a, 0, 0, NOW) > 0);
      for (const order of [[a, b], [b, a]]) assert.deepEqual(brief(run(set, order).actions), ['deletePod a']);
    });
  }

  it('a pod doubled up with related pods on its node goes before one alone', () => {
    const dep = 'dep-uid';
    const mine = rs('new', { replicas: 1, owner: dep });
    const sibling = rs('old', { replicas: 1, owner: dep });
    const a = pod('a', { owner: mine, labels: { app: 'new' }, node: 'busy' });
    const b = pod('b', { owner: mine, labels: { app: 'new' }, node: 'quiet' });
    const neighbour = pod('s', { owner: sibling, labels: { app: 'old' }, node: 'busy' });
    const r = run(mine, [b, a, neighbour], { sets: [mine, sibling] });
    assert.deepEqual(brief(r.actions), ['deletePod a']);
    // Without a shared owner the neighbour does not count, and the tie ends on uid order.
    assert.deepEqual(podsToDelete([b, a], [], 1, NOW).map((p) => p.metadata.name), ['a']);
  });

  it('deletes the least valuable ones of many', () => {
    const s = rs('web', { replicas: 2 });
    const pods = [
      pod('old-ready', { owner: s, readyFor: 90000, created: 100000 }),
      pod('pending', { owner: s, node: '', phase: 'Pending', ready: false }),
      pod('fresh-ready', { owner: s, readyFor: 5, created: 10 }),
      pod('crashy', { owner: s, ready: false, restarts: 7 }),
      pod('mid-ready', { owner: s, readyFor: 3000, created: 4000 }),
    ];
    assert.deepEqual(brief(run(s, pods).actions), ['deletePod pending', 'deletePod crashy', 'deletePod fresh-ready']);
  });
});

describe('replicaset control: status', () => {
  it('counts replicas, fully labeled, ready and available pods, and observes the generation', () => {
    const set = rs('web', { replicas: 4, minReadySeconds: 30, generation: 3 });
    const pods = [
      pod('a', { owner: set, readyFor: 600 }),
      pod('b', { owner: set, readyFor: 10 }),
      pod('c', { owner: set, ready: false }),
      pod('d', { owner: set, labels: { app: 'web' }, readyFor: 600 }),
    ];
    const r = run(set, pods);
    assert.deepEqual(r.status, { replicas: 4, fullyLabeledReplicas: 3, readyReplicas: 3, availableReplicas: 2, observedGeneration: 3 });
    assert.equal(r.statusChanged, true);
    // b becomes available 30 s after it became ready, 10 s ago.
    assert.equal(r.requeueAfterMs, 20_001);
    const again = run({ ...set, status: r.status }, pods);
    assert.equal(again.statusChanged, false);
  });

  it('sets ReplicaFailure on a failed create, keeps it while failing, removes it after a clean round', () => {
    const set = rs('web', { replicas: 2 });
    const claimed = [pod('a', { owner: set })];
    const failed = replicaSetStatus(set, claimed, NOW, { message: 'pods "web-x" is forbidden: exceeded quota' });
    assert.equal(failed.changed, true);
    assert.deepEqual(failed.status.conditions, [
      { type: 'ReplicaFailure', status: 'True', lastTransitionTime: rfc3339(NOW), reason: 'FailedCreate', message: 'pods "web-x" is forbidden: exceeded quota' },
    ]);
    const withCond = { ...set, status: failed.status };
    const later = new Date(NOW.getTime() + 60_000);
    const still = replicaSetStatus(withCond, claimed, later, { message: 'other error' });
    assert.equal(still.changed, false, 'an existing ReplicaFailure condition is kept as it is');
    const cleared = replicaSetStatus(withCond, claimed, later);
    assert.equal(cleared.changed, true);
    assert.equal(cleared.status.conditions, undefined);
    const del = replicaSetStatus(rs('web', { replicas: 0 }), claimed, NOW, { message: 'boom' });
    assert.equal(del.status.conditions?.[0].reason, 'FailedDelete');
  });
});

describe('replicaset control: ReplicationControllers', () => {
  function rc(replicas: number): KubeObject {
    return {
      apiVersion: 'v1',
      kind: 'ReplicationController',
      metadata: { name: 'old', namespace: 'default', uid: 'uid-rc', generation: 1 },
      spec: { replicas, selector: { app: 'old' }, template: { metadata: { labels: { app: 'old' } }, spec: { containers: [{ name: 'c', image: 'busybox' }] } } },
    };
  }

  it('runs the same algorithm with a label-map selector and v1 owner references', () => {
    const set = rc(2);
    const orphan = pod('o', { owner: null, labels: { app: 'old', extra: 'y' } });
    const r = run(set, [orphan, pod('z', { owner: null, labels: { app: 'other' } })]);
    assert.deepEqual(brief(r.actions), ['adoptPod o', 'createPod']);
    const create = r.actions[1];
    assert.ok(create.type === 'createPod');
    assert.deepEqual(create.object.metadata.ownerReferences, [{ apiVersion: 'v1', kind: 'ReplicationController', name: 'old', uid: 'uid-rc', controller: true, blockOwnerDeletion: true }]);
    assert.equal(create.object.metadata.generateName, 'old-');
  });

  it('an RC with an empty selector does nothing', () => {
    const set = rc(2);
    (set.spec as Obj).selector = {};
    assert.deepEqual(computeReplicaSetActions({ set, kind: REPLICATION_CONTROLLER, pods: [pod('o', { owner: null })], now: NOW }).actions, []);
  });
});

describe('replicaset actions', () => {
  it('orders ownership, then creations, then deletions, and batches creations 1, 2, 4, …', () => {
    const set = rs('web');
    const acts: ReplicaSetAction[] = [
      { type: 'deletePod', name: 'd', uid: 'u' },
      { type: 'createPod', object: pod('x') },
      { type: 'adoptPod', name: 'o', uid: 'u', ownerReferences: [] },
    ];
    assert.deepEqual(executionPhases(acts).map((p) => p.phase), ['ownership', 'create', 'delete']);
    assert.deepEqual(slowStartBatches([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]).map((b) => b.length), [1, 2, 4, 3]);
    void set;
  });

  it('words events as Kubernetes does', () => {
    const create: ReplicaSetAction = { type: 'createPod', object: pod('x') };
    const del: ReplicaSetAction = { type: 'deletePod', name: 'web-abcde', uid: 'u' };
    assert.deepEqual(actionEvent(create, undefined, 'web-q7k2z'), { type: 'Normal', reason: 'SuccessfulCreate', message: 'Created pod: web-q7k2z' });
    assert.deepEqual(actionEvent(create, { message: 'pods "web-" is forbidden: exceeded quota', reason: 'Forbidden' }), {
      type: 'Warning',
      reason: 'FailedCreate',
      message: 'Error creating: pods "web-" is forbidden: exceeded quota',
    });
    assert.deepEqual(actionEvent(del), { type: 'Normal', reason: 'SuccessfulDelete', message: 'Deleted pod: web-abcde' });
    assert.equal(actionEvent(del, { message: 'gone', reason: 'NotFound' }), undefined);
  });
});
