// The control algorithm: creation order, scaling, failed pods, ordinals.start, the PetSet
// annotation, minReadySeconds, adoption and status. Each row states a situation and the exact
// actions Kubernetes' StatefulSet controller (v1.32) would take in one round.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { KubeObject } from '../../src/registry/types.ts';
import { NOW, claimsFor, mkClaim, mkPod, mkSet, revOf, run, setRef, table } from './statefulset-fixtures.ts';

const set = mkSet(); // web, 3 replicas, OrderedReady, claim template www
const r1 = revOf(set);
const R1 = r1.metadata.name!;
const P = (ord: number, state: Parameters<typeof mkPod>[3] = 'ready', o?: Parameters<typeof mkPod>[4]) => mkPod(set, ord, r1, state, o);
const C = (...ords: number[]) => claimsFor(set, ords);

const parallel = mkSet({ policy: 'Parallel' });
const pr1 = revOf(parallel);
const PR1 = pr1.metadata.name!;
const PP = (ord: number, state: Parameters<typeof mkPod>[3] = 'ready') => mkPod(parallel, ord, pr1, state);

describe('statefulset control: ordered creation (OrderedReady) and Parallel', () => {
  table(it, [
    {
      name: 'OrderedReady, no pods: claim www-web-0, then pod web-0 — nothing for web-1 yet',
      set,
      revisions: [r1],
      want: ['createClaim www-web-0', `createPod web-0 @${R1}`],
      waiting: /web-0 to be Running and Ready/,
    },
    {
      name: 'OrderedReady, no revision yet: the revision is created first',
      set,
      want: [`createRevision ${R1}`, 'createClaim www-web-0', `createPod web-0 @${R1}`],
      waiting: /web-0/,
    },
    { name: 'web-0 Pending: wait', set, revisions: [r1], pods: [P(0, 'pending')], claims: C(0), want: [], waiting: /web-0 to be Running and Ready/ },
    { name: 'web-0 Running but not Ready: wait', set, revisions: [r1], pods: [P(0, 'running')], claims: C(0), want: [], waiting: /web-0 to be Running and Ready/ },
    {
      name: 'web-0 Ready: web-1 is created (its claim first)',
      set,
      revisions: [r1],
      pods: [P(0)],
      claims: C(0),
      want: ['createClaim www-web-1', `createPod web-1 @${R1}`],
      waiting: /web-1/,
    },
    {
      name: 'web-0, web-1 Ready and www-web-2 kept from an earlier scale-down: the claim is reused',
      set,
      revisions: [r1],
      pods: [P(0), P(1)],
      claims: C(0, 1, 2),
      want: [`createPod web-2 @${R1}`],
      waiting: /web-2/,
    },
    { name: 'all three Ready: nothing to do', set, revisions: [r1], pods: [P(0), P(1), P(2)], claims: C(0, 1, 2), want: [] },
    {
      name: 'web-1 terminating (someone deleted it): wait, create nothing after it',
      set,
      revisions: [r1],
      pods: [P(0), P(1, 'ready', { deleting: true })],
      claims: C(0, 1),
      want: [],
      waiting: /web-1 to terminate/,
    },
    {
      name: 'web-1 deleted by a user while web-2 runs: web-1 is created again, same name and claim',
      set,
      revisions: [r1],
      pods: [P(0), P(2)],
      claims: C(0, 1, 2),
      want: [`createPod web-1 @${R1}`],
      waiting: /web-1/,
    },
    {
      name: 'Parallel, no pods: all three created at once, each claim before its pod',
      set: parallel,
      revisions: [pr1],
      want: ['createClaim www-web-0', `createPod web-0 @${PR1}`, 'createClaim www-web-1', `createPod web-1 @${PR1}`, 'createClaim www-web-2', `createPod web-2 @${PR1}`],
    },
    {
      name: 'Parallel: a Pending web-0 holds nothing back',
      set: parallel,
      revisions: [pr1],
      pods: [PP(0, 'pending')],
      claims: claimsFor(parallel, [0]),
      want: ['createClaim www-web-1', `createPod web-1 @${PR1}`, 'createClaim www-web-2', `createPod web-2 @${PR1}`],
    },
    {
      name: 'no volumeClaimTemplates: pods only',
      set: mkSet({ storage: null, replicas: 1 }),
      revisions: [revOf(mkSet({ storage: null, replicas: 1 }))],
      want: [`createPod web-0 @${revOf(mkSet({ storage: null })).metadata.name}`],
      waiting: /web-0/,
    },
  ]);
});

describe('statefulset control: spec.ordinals.start', () => {
  const s5 = mkSet({ start: 5 });
  const r5 = revOf(s5);
  const R5 = r5.metadata.name!;
  const s2 = mkSet({ start: 2 });
  const r2 = revOf(s2);
  table(it, [
    {
      name: 'start 5, no pods: web-5 (claim www-web-5) comes first',
      set: s5,
      revisions: [r5],
      want: ['createClaim www-web-5', `createPod web-5 @${R5}`],
      waiting: /web-5/,
    },
    {
      name: 'start 5, web-5 and web-6 Ready: web-7 is next and last',
      set: s5,
      revisions: [r5],
      pods: [mkPod(s5, 5, r5), mkPod(s5, 6, r5)],
      claims: claimsFor(s5, [5, 6]),
      want: ['createClaim www-web-7', `createPod web-7 @${R5}`],
      waiting: /web-7/,
    },
    {
      name: 'start raised 0 → 2 (3 replicas): web-3 and web-4 are created before web-0/web-1 go',
      set: s2,
      revisions: [r2],
      pods: [0, 1, 2].map((i) => mkPod(s2, i, r2)),
      claims: claimsFor(s2, [0, 1, 2]),
      want: ['createClaim www-web-3', `createPod web-3 @${r2.metadata.name}`],
      waiting: /web-3/,
    },
    {
      name: 'start raised 0 → 2, web-2..4 Ready: web-1 (highest condemned) goes first',
      set: s2,
      revisions: [r2],
      pods: [0, 1, 2, 3, 4].map((i) => mkPod(s2, i, r2)),
      claims: claimsFor(s2, [0, 1, 2, 3, 4]),
      want: ['deletePod web-1 (condemned)'],
      waiting: /web-1/,
    },
  ]);
});

describe('statefulset control: scale down from the highest ordinal', () => {
  const five = [0, 1, 2, 3, 4];
  table(it, [
    {
      name: 'OrderedReady 5 → 3: only web-4 is deleted this round',
      set,
      revisions: [r1],
      pods: five.map((i) => P(i)),
      claims: C(...five),
      want: ['deletePod web-4 (condemned)'],
      waiting: /deleting Pod web-4/,
    },
    {
      name: 'web-4 still terminating: web-3 waits',
      set,
      revisions: [r1],
      pods: [P(0), P(1), P(2), P(3), P(4, 'ready', { deleting: true })],
      claims: C(...five),
      want: [],
      waiting: /web-4 to terminate/,
    },
    {
      name: 'web-4 gone: web-3 is deleted; claims stay (Retain)',
      set,
      revisions: [r1],
      pods: [P(0), P(1), P(2), P(3)],
      claims: C(...five),
      want: ['deletePod web-3 (condemned)'],
      waiting: /web-3/,
    },
    {
      name: 'a remaining replica (web-1) is not Ready: no scale-down until it is',
      set,
      revisions: [r1],
      pods: [P(0), P(1, 'running'), P(2), P(3), P(4)],
      claims: C(...five),
      want: [],
      waiting: /web-1 to be Running and Ready/,
    },
    {
      name: 'condemned web-3 unhealthy, web-4 healthy: web-4 (highest) may still go',
      set,
      revisions: [r1],
      pods: [P(0), P(1), P(2), P(3, 'running'), P(4)],
      claims: C(...five),
      want: ['deletePod web-4 (condemned)'],
      waiting: /web-4/,
    },
    {
      name: 'condemned web-4 is the first unhealthy pod: it is deleted',
      set,
      revisions: [r1],
      pods: [P(0), P(1), P(2), P(3), P(4, 'running')],
      claims: C(...five),
      want: ['deletePod web-4 (condemned)'],
      waiting: /web-4/,
    },
    {
      name: 'condemned web-3 and web-4 both unhealthy: wait (web-4 must go first, web-3 is the first unhealthy)',
      set,
      revisions: [r1],
      pods: [P(0), P(1), P(2), P(3, 'running'), P(4, 'running')],
      claims: C(...five),
      want: [],
      waiting: /web-3 to be Running and Ready before scaling down web-4/,
    },
    {
      name: 'scale to 0: web-2 first',
      set: mkSet({ replicas: 0 }),
      revisions: [revOf(mkSet({ replicas: 0 }))],
      pods: [0, 1, 2].map((i) => mkPod(mkSet({ replicas: 0 }), i, revOf(mkSet({ replicas: 0 })))),
      claims: C(0, 1, 2),
      want: ['deletePod web-2 (condemned)'],
      waiting: /web-2/,
    },
    {
      name: 'Parallel 5 → 3: web-4 and web-3 deleted together',
      set: parallel,
      revisions: [pr1],
      pods: five.map((i) => PP(i)),
      claims: claimsFor(parallel, five),
      want: ['deletePod web-4 (condemned)', 'deletePod web-3 (condemned)'],
    },
    {
      name: 'Parallel: a terminating condemned pod does not stop the others',
      set: parallel,
      revisions: [pr1],
      pods: [PP(0), PP(1), PP(2), PP(3), { ...PP(4), metadata: { ...PP(4).metadata, deletionTimestamp: '2025-01-01T11:59:00Z' } }],
      claims: claimsFor(parallel, five),
      want: ['deletePod web-3 (condemned)'],
    },
  ]);
});

describe('statefulset control: failed pods are recreated with the same name', () => {
  table(it, [
    {
      name: 'web-1 Failed: deleted (RecreatingFailedPod); web-2 is not created meanwhile',
      set,
      revisions: [r1],
      pods: [P(0), P(1, 'failed')],
      claims: C(0, 1),
      want: ['deletePod web-1 (failed)'],
      waiting: /failed Pod web-1/,
      events: ['RecreatingFailedPod: StatefulSet default/web is recreating failed Pod web-1'],
    },
    {
      name: 'web-1 Failed and already being deleted: wait for it',
      set,
      revisions: [r1],
      pods: [P(0), P(1, 'failed', { deleting: true })],
      claims: C(0, 1),
      want: [],
      waiting: /web-1/,
    },
    {
      name: 'failed web-1 gone: web-1 is created again with the same name, on the same claim',
      set,
      revisions: [r1],
      pods: [P(0)],
      claims: C(0, 1),
      want: [`createPod web-1 @${R1}`],
      waiting: /web-1/,
    },
    {
      name: 'web-0 Succeeded (e.g. evicted): deleted too (RecreatingTerminatedPod)',
      set,
      revisions: [r1],
      pods: [P(0, 'succeeded')],
      claims: C(0),
      want: ['deletePod web-0 (succeeded)'],
      waiting: /terminated Pod web-0/,
      events: ['RecreatingTerminatedPod: StatefulSet default/web is recreating terminated Pod web-0'],
    },
    {
      name: 'Parallel: failed web-0 is deleted while web-2 is created',
      set: parallel,
      revisions: [pr1],
      pods: [PP(0, 'failed'), PP(1)],
      claims: claimsFor(parallel, [0, 1]),
      want: ['deletePod web-0 (failed)', 'createClaim www-web-2', `createPod web-2 @${PR1}`],
      events: ['RecreatingFailedPod: StatefulSet default/web is recreating failed Pod web-0'],
    },
    {
      name: 'scaling down with a failed replica: the failed pod is handled first, no scale-down',
      set,
      revisions: [r1],
      pods: [P(0), P(1, 'failed'), P(2), P(3)],
      claims: C(0, 1, 2, 3),
      want: ['deletePod web-1 (failed)'],
      waiting: /web-1/,
      events: ['RecreatingFailedPod: StatefulSet default/web is recreating failed Pod web-1'],
    },
  ]);
});

describe('statefulset control: PetSet annotation pod.alpha.kubernetes.io/initialized', () => {
  const held = { annotations: { 'pod.alpha.kubernetes.io/initialized': 'false' } };
  table(it, [
    {
      name: '"false" on web-1 pauses ordered start-up after it',
      set,
      revisions: [r1],
      pods: [P(0), P(1, 'ready', held)],
      claims: C(0, 1),
      want: [],
      waiting: /web-1: annotation pod.alpha.kubernetes.io\/initialized is "false"/,
      check: (r) => assert.equal(r.status.readyReplicas, 1, 'the held pod does not count as ready'),
    },
    {
      name: 'set to "true": start-up continues with web-2',
      set,
      revisions: [r1],
      pods: [P(0), P(1, 'ready', { annotations: { 'pod.alpha.kubernetes.io/initialized': 'true' } })],
      claims: C(0, 1),
      want: ['createClaim www-web-2', `createPod web-2 @${R1}`],
      waiting: /web-2/,
    },
    {
      name: 'Parallel sets do not pause on it',
      set: parallel,
      revisions: [pr1],
      pods: [PP(0), { ...PP(1), metadata: { ...PP(1).metadata, annotations: held.annotations } }],
      claims: claimsFor(parallel, [0, 1]),
      want: ['createClaim www-web-2', `createPod web-2 @${PR1}`],
    },
  ]);
});

describe('statefulset control: minReadySeconds', () => {
  const slow = mkSet({ minReadySeconds: 30 });
  const sr = revOf(slow);
  table(it, [
    {
      name: 'web-0 Ready for 10s of 30: wait, and ask to be woken when it becomes available',
      set: slow,
      revisions: [sr],
      pods: [mkPod(slow, 0, sr, 'ready', { readyFor: 10 })],
      claims: claimsFor(slow, [0]),
      want: [],
      waiting: /web-0 to be available \(minReadySeconds 30\)/,
      check: (r) => {
        assert.equal(r.requeueAfterMs, 20_001);
        assert.equal(r.status.readyReplicas, 1);
        assert.equal(r.status.availableReplicas, 0);
      },
    },
    {
      name: 'web-0 Ready for 31s: web-1 is created',
      set: slow,
      revisions: [sr],
      pods: [mkPod(slow, 0, sr, 'ready', { readyFor: 31 })],
      claims: claimsFor(slow, [0]),
      want: ['createClaim www-web-1', `createPod web-1 @${sr.metadata.name}`],
      waiting: /web-1/,
      check: (r) => {
        assert.equal(r.requeueAfterMs, undefined);
        assert.equal(r.status.availableReplicas, 1);
      },
    },
  ]);
});

describe('statefulset control: which pods and revisions are the set\'s', () => {
  const orphan = (p: KubeObject) => ({ ...p, metadata: { ...p.metadata, ownerReferences: [] } });
  const foreign = (p: KubeObject) => ({
    ...p,
    metadata: { ...p.metadata, ownerReferences: [{ apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'other', uid: 'uid-other', controller: true }] },
  });
  table(it, [
    {
      name: 'an orphan web-1 matching the selector is adopted and counts as the set\'s',
      set,
      revisions: [r1],
      pods: [P(0), orphan(P(1))],
      claims: C(0, 1),
      want: ['adoptPod web-1', 'createClaim www-web-2', `createPod web-2 @${R1}`],
      waiting: /web-2/,
      check: (r) => {
        const a = r.actions[0];
        assert.ok(a.type === 'adoptPod');
        assert.deepEqual(a.ownerReferences, [setRef(set)]);
        assert.equal(a.uid, 'uid-web-1');
      },
    },
    {
      name: 'an owned pod whose labels no longer match is released, and replaced',
      set,
      revisions: [r1],
      pods: [P(0), { ...P(1), metadata: { ...P(1).metadata, labels: { app: 'debug' } } }],
      claims: C(0, 1),
      want: ['releasePod web-1', `createPod web-1 @${R1}`],
      waiting: /web-1/,
      check: (r) => {
        const a = r.actions[0];
        assert.ok(a.type === 'releasePod');
        assert.deepEqual(a.ownerReferences, []);
      },
    },
    {
      name: 'a pod of another controller is neither counted nor touched (its create will clash)',
      set,
      revisions: [r1],
      pods: [P(0), foreign(P(1))],
      claims: C(0, 1),
      want: [`createPod web-1 @${R1}`],
      waiting: /web-1/,
      check: (r) => assert.equal(r.status.replicas, 1),
    },
    {
      name: 'pods of another set (web-1-0) and of other namespaces are ignored',
      set,
      revisions: [r1],
      pods: [
        P(0),
        P(1),
        P(2),
        { ...P(0), metadata: { ...P(0).metadata, name: 'web-1-0', uid: 'x', ownerReferences: [{ ...setRef(set), name: 'web-1', uid: 'uid-web-1' }] } },
        { ...P(2), metadata: { ...P(2).metadata, namespace: 'other' } },
      ],
      claims: C(0, 1, 2),
      want: [],
      check: (r) => assert.equal(r.status.replicas, 3),
    },
    {
      name: 'an orphan revision of the template is adopted and reused',
      set,
      revisions: [{ ...r1, metadata: { ...r1.metadata, ownerReferences: [] } }],
      pods: [P(0), P(1), P(2)],
      claims: C(0, 1, 2),
      want: [`adoptRevision ${R1}`],
    },
    {
      name: 'a set being deleted: no pod is created, adopted or deleted; status only',
      set: mkSet({ deleting: true, replicas: 1 }),
      revisions: [r1],
      pods: [P(1), orphan(P(2))],
      want: [],
      check: (r) => assert.equal(r.status.replicas, 1, 'web-1 (condemned, owned) counts; the orphan web-2 does not'),
    },
  ]);
});

describe('statefulset control: status', () => {
  it('counts replicas, ready, available, current and updated pods; observedGeneration; collisionCount', () => {
    const s = mkSet({ replicas: 4, minReadySeconds: 60, generation: 7, status: { collisionCount: 0 } });
    const rev = revOf(s);
    const r = run({
      set: s,
      revisions: [rev],
      pods: [mkPod(s, 0, rev), mkPod(s, 1, rev, 'ready', { readyFor: 5 }), mkPod(s, 2, rev, 'running'), mkPod(s, 3, rev, 'pending')],
      claims: claimsFor(s, [0, 1, 2, 3]),
    });
    assert.deepEqual(r.status, {
      observedGeneration: 7,
      replicas: 4,
      readyReplicas: 2,
      availableReplicas: 1,
      currentReplicas: 4,
      updatedReplicas: 4,
      currentRevision: rev.metadata.name,
      updateRevision: rev.metadata.name,
      collisionCount: 0,
    });
    assert.equal(r.statusChanged, true);
  });

  it('statusChanged is false when the stored status already says the same', () => {
    const first = run({ set, revisions: [r1], pods: [P(0), P(1), P(2)], claims: C(0, 1, 2) });
    const again = run({ set: { ...set, status: first.status }, revisions: [r1], pods: [P(0), P(1), P(2)], claims: C(0, 1, 2) });
    assert.equal(again.statusChanged, false);
    assert.deepEqual(again.actions, []);
  });

  it('pods counted while terminating are replicas but neither current nor updated', () => {
    const r = run({ set, revisions: [r1], pods: [P(0), P(1), P(2, 'ready', { deleting: true })], claims: C(0, 1, 2) });
    assert.equal(r.status.replicas, 3);
    assert.equal(r.status.currentReplicas, 2);
    assert.equal(r.status.updatedReplicas, 2);
    assert.equal(r.status.readyReplicas, 3);
  });

  it('conditions in the stored status are carried over; NOW is the injected clock', () => {
    const conditions = [{ type: 'Example', status: 'True' }];
    const r = run({ set: { ...set, status: { conditions } }, revisions: [r1], pods: [P(0)], claims: [mkClaim(set, 0)] });
    assert.deepEqual(r.status.conditions, conditions);
    assert.equal(NOW.getTime(), Date.parse('2025-01-01T12:00:00Z'));
  });
});
