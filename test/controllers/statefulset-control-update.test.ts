// The control algorithm: rolling updates (highest ordinal first, partition, maxUnavailable,
// minReadySeconds), OnDelete, completion of a rollout, and kennel's recovery from a broken
// template (kubernetes issue 67250).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { KubeObject } from '../../src/registry/types.ts';
import { claimsFor, mkPod, mkSet, revOf, run, table, withImage, type SetOptions } from './statefulset-fixtures.ts';

/** A set rolled from nginx:1.25 (revision 1) to nginx:1.26 (revision 2), status still at 1. */
function rollout(o: SetOptions = {}) {
  const v1 = mkSet(o);
  const r1 = revOf(v1, 1);
  const v2 = withImage(v1, 'nginx:1.26');
  const r2 = revOf(v2, 2);
  const set: KubeObject = { ...v2, status: { currentRevision: r1.metadata.name, updateRevision: r1.metadata.name, collisionCount: 0 } };
  const at = (rev: KubeObject) => (ord: number, state: Parameters<typeof mkPod>[3] = 'ready', po?: Parameters<typeof mkPod>[4]) => mkPod(set, ord, rev, state, po);
  return { set, r1, r2, R1: r1.metadata.name!, R2: r2.metadata.name!, old: at(r1), neu: at(r2), revisions: [r1, r2] };
}

describe('statefulset control: RollingUpdate', () => {
  const x = rollout();
  const claims = claimsFor(x.set, [0, 1, 2]);
  table(it, [
    {
      name: 'template changed, all Ready at revision 1: web-2 (highest) is deleted first, only it',
      set: x.set,
      revisions: x.revisions,
      pods: [x.old(0), x.old(1), x.old(2)],
      claims,
      want: ['deletePod web-2 (update)'],
      check: (r) => {
        assert.equal(r.status.updateRevision, x.R2);
        assert.equal(r.status.currentRevision, x.R1);
        assert.equal(r.status.currentReplicas, 2, 'the deleted pod no longer counts as current');
        assert.equal(r.status.updatedReplicas, 0);
      },
    },
    {
      name: 'the revision is created in the same round the update starts',
      set: x.set,
      revisions: [x.r1],
      pods: [x.old(0), x.old(1), x.old(2)],
      claims,
      want: [`createRevision ${x.R2}`, 'deletePod web-2 (update)'],
    },
    {
      name: 'web-2 terminating: wait',
      set: x.set,
      revisions: x.revisions,
      pods: [x.old(0), x.old(1), x.old(2, 'ready', { deleting: true })],
      claims,
      want: [],
      waiting: /web-2 to terminate/,
    },
    {
      name: 'web-2 gone: recreated at revision 2',
      set: x.set,
      revisions: x.revisions,
      pods: [x.old(0), x.old(1)],
      claims,
      want: [`createPod web-2 @${x.R2}`],
      waiting: /web-2/,
    },
    {
      name: 'web-2 at revision 2 not Ready yet: wait (Kubernetes behaviour, it is at the update revision)',
      set: x.set,
      revisions: x.revisions,
      pods: [x.old(0), x.old(1), x.neu(2, 'running')],
      claims,
      want: [],
      waiting: /web-2 to be Running and Ready/,
    },
    {
      name: 'web-2 at revision 2 Ready: web-1 is next',
      set: x.set,
      revisions: x.revisions,
      pods: [x.old(0), x.old(1), x.neu(2)],
      claims,
      want: ['deletePod web-1 (update)'],
    },
    {
      name: 'web-0 is last',
      set: x.set,
      revisions: x.revisions,
      pods: [x.old(0), x.neu(1), x.neu(2)],
      claims,
      want: ['deletePod web-0 (update)'],
    },
    {
      name: 'all at revision 2 and Ready: nothing to do; currentRevision := updateRevision',
      set: x.set,
      revisions: x.revisions,
      pods: [x.neu(0), x.neu(1), x.neu(2)],
      claims,
      want: [],
      check: (r) => {
        assert.equal(r.status.currentRevision, x.R2);
        assert.equal(r.status.currentReplicas, 3);
        assert.equal(r.status.updatedReplicas, 3);
      },
    },
    {
      name: 'all at revision 2 but web-0 not Ready: the rollout is not complete yet',
      set: x.set,
      revisions: x.revisions,
      pods: [x.neu(0, 'running'), x.neu(1), x.neu(2)],
      claims,
      want: [],
      waiting: /web-0/,
      check: (r) => assert.equal(r.status.currentRevision, x.R1),
    },
    {
      name: 'a new replica during a rollout (partition 0) is created at revision 2',
      set: { ...x.set, spec: { ...(x.set.spec as object), replicas: 4 } },
      revisions: x.revisions,
      pods: [x.old(0), x.old(1), x.old(2)],
      claims,
      want: ['createClaim www-web-3', `createPod web-3 @${x.R2}`],
      waiting: /web-3/,
    },
    {
      name: 'scaling takes precedence: with a condemned pod, no update this round',
      set: { ...x.set, spec: { ...(x.set.spec as object), replicas: 2 } },
      revisions: x.revisions,
      pods: [x.old(0), x.old(1), x.old(2)],
      claims,
      want: ['deletePod web-2 (condemned)'],
      waiting: /web-2/,
    },
  ]);
});

describe('statefulset control: partition (canary)', () => {
  const p2 = rollout({ partition: 2 });
  const claims = claimsFor(p2.set, [0, 1, 2]);
  const p0 = rollout({ partition: 0 });
  const p5 = rollout({ partition: 5 });
  table(it, [
    {
      name: 'partition 2: web-2 (ordinal ≥ 2) is updated',
      set: p2.set,
      revisions: p2.revisions,
      pods: [p2.old(0), p2.old(1), p2.old(2)],
      claims,
      want: ['deletePod web-2 (update)'],
    },
    {
      name: 'partition 2, web-2 updated: web-0 and web-1 stay at revision 1',
      set: p2.set,
      revisions: p2.revisions,
      pods: [p2.old(0), p2.old(1), p2.neu(2)],
      claims,
      want: [],
      check: (r) => {
        assert.equal(r.status.currentRevision, p2.R1, 'not complete: pods below the partition are at revision 1');
        assert.equal(r.status.updatedReplicas, 1);
        assert.equal(r.status.currentReplicas, 2);
      },
    },
    {
      name: 'partition 2: a deleted web-1 comes back at revision 1 (the current revision)',
      set: p2.set,
      revisions: p2.revisions,
      pods: [p2.old(0), p2.neu(2)],
      claims,
      want: [`createPod web-1 @${p2.R1}`],
      waiting: /web-1/,
    },
    {
      name: 'partition lowered 2 → 0: web-1 is updated next, then web-0',
      set: p0.set,
      revisions: p0.revisions,
      pods: [p0.old(0), p0.old(1), p0.neu(2)],
      claims,
      want: ['deletePod web-1 (update)'],
    },
    {
      name: 'partition ≥ replicas: nothing is updated',
      set: p5.set,
      revisions: p5.revisions,
      pods: [p5.old(0), p5.old(1), p5.old(2)],
      claims,
      want: [],
    },
    {
      name: 'partition counts from ordinals.start: start 10, partition 1 updates web-12 and web-11, never web-10',
      ...(() => {
        const s = rollout({ start: 10, partition: 1 });
        return {
          set: s.set,
          revisions: s.revisions,
          pods: [s.old(10), s.old(11), s.neu(12)],
          claims: claimsFor(s.set, [10, 11, 12]),
        };
      })(),
      want: ['deletePod web-11 (update)'],
    },
  ]);
});

describe('statefulset control: maxUnavailable and minReadySeconds', () => {
  const m2 = rollout({ maxUnavailable: 2, replicas: 4 });
  const c4 = claimsFor(m2.set, [0, 1, 2, 3]);
  const pm2 = rollout({ maxUnavailable: 2, replicas: 4, policy: 'Parallel' });
  const half = rollout({ maxUnavailable: '50%', replicas: 4, policy: 'Parallel' });
  const slow = rollout({ minReadySeconds: 60 });
  const pslow = rollout({ minReadySeconds: 60, policy: 'Parallel' });
  const c3 = claimsFor(slow.set, [0, 1, 2]);
  table(it, [
    {
      name: 'maxUnavailable 2: web-3 and web-2 are deleted together',
      set: m2.set,
      revisions: m2.revisions,
      pods: [0, 1, 2, 3].map((i) => m2.old(i)),
      claims: c4,
      want: ['deletePod web-3 (update)', 'deletePod web-2 (update)'],
    },
    {
      name: 'maxUnavailable 2 (Parallel) with web-3 updated but not Ready: only web-2 may go',
      set: pm2.set,
      revisions: pm2.revisions,
      pods: [pm2.old(0), pm2.old(1), pm2.old(2), pm2.neu(3, 'running')],
      claims: c4,
      want: ['deletePod web-2 (update)'],
    },
    {
      name: 'maxUnavailable 2 (Parallel) with two pods unavailable: nothing more',
      set: pm2.set,
      revisions: pm2.revisions,
      pods: [pm2.old(0), pm2.old(1), pm2.neu(2, 'running'), pm2.neu(3, 'running')],
      claims: c4,
      want: [],
      waiting: /2 Pod\(s\) unavailable \(maxUnavailable 2\), 2 Pod\(s\) left/,
    },
    {
      name: 'maxUnavailable 50% of 4 = 2',
      set: half.set,
      revisions: half.revisions,
      pods: [0, 1, 2, 3].map((i) => half.old(i)),
      claims: c4,
      want: ['deletePod web-3 (update)', 'deletePod web-2 (update)'],
    },
    {
      name: 'minReadySeconds 60, web-2 Ready at revision 2 for 30s (OrderedReady): wait',
      set: slow.set,
      revisions: slow.revisions,
      pods: [slow.old(0), slow.old(1), slow.neu(2, 'ready', { readyFor: 30 })],
      claims: c3,
      want: [],
      waiting: /web-2 to be available/,
      check: (r) => assert.equal(r.requeueAfterMs, 30_001),
    },
    {
      name: 'minReadySeconds 60, Parallel: web-2 not yet available holds maxUnavailable 1',
      set: pslow.set,
      revisions: pslow.revisions,
      pods: [pslow.old(0), pslow.old(1), pslow.neu(2, 'ready', { readyFor: 30 })],
      claims: c3,
      want: [],
      waiting: /1 Pod\(s\) unavailable/,
    },
    {
      name: 'minReadySeconds 60, web-2 Ready for 61s: web-1 is next',
      set: slow.set,
      revisions: slow.revisions,
      pods: [slow.old(0), slow.old(1), slow.neu(2, 'ready', { readyFor: 61 })],
      claims: c3,
      want: ['deletePod web-1 (update)'],
    },
    {
      name: 'Parallel, default maxUnavailable: one pod at a time from the top',
      set: rollout({ policy: 'Parallel' }).set,
      revisions: rollout({ policy: 'Parallel' }).revisions,
      pods: [0, 1, 2].map((i) => rollout({ policy: 'Parallel' }).old(i)),
      claims: c3,
      want: ['deletePod web-2 (update)'],
    },
  ]);
});

describe('statefulset control: OnDelete', () => {
  const od = rollout({ onDelete: true });
  const claims = claimsFor(od.set, [0, 1, 2]);
  table(it, [
    {
      name: 'template changed: nothing is deleted',
      set: od.set,
      revisions: od.revisions,
      pods: [od.old(0), od.old(1), od.old(2)],
      claims,
      want: [],
    },
    {
      name: 'the user deleted web-1: it comes back at revision 2',
      set: od.set,
      revisions: od.revisions,
      pods: [od.old(0), od.old(2)],
      claims,
      want: [`createPod web-1 @${od.R2}`],
      waiting: /web-1/,
    },
    {
      name: 'every pod replaced by hand: currentRevision := updateRevision (kennel also does this for OnDelete)',
      set: od.set,
      revisions: od.revisions,
      pods: [od.neu(0), od.neu(1), od.neu(2)],
      claims,
      want: [],
      check: (r) => assert.equal(r.status.currentRevision, od.R2),
    },
  ]);
});

describe('statefulset control: beyond Kubernetes — a rollout stuck on a broken template recovers (issue 67250)', () => {
  // nginx:1.25 (revision 1) → broken nginx:doesnotexist (revision 2) → fixed nginx:1.27 (revision 3).
  function broken(o: SetOptions = {}) {
    const v1 = mkSet(o);
    const r1 = revOf(v1, 1);
    const v2 = withImage(v1, 'nginx:doesnotexist');
    const r2 = revOf(v2, 2);
    const v3 = withImage(v2, 'nginx:1.27');
    const r3 = revOf(v3, 3);
    const status = { currentRevision: r1.metadata.name, updateRevision: r2.metadata.name };
    return {
      stuck: { ...v2, status } as KubeObject,
      fixed: { ...v3, status } as KubeObject,
      r1,
      r2,
      r3,
      at: (set: KubeObject, rev: KubeObject, ord: number, state: Parameters<typeof mkPod>[3] = 'ready', po?: Parameters<typeof mkPod>[4]) => mkPod(set, ord, rev, state, po),
    };
  }
  const b = broken();
  const claims = claimsFor(b.stuck, [0, 1, 2]);
  const pods = (set: KubeObject) => [b.at(set, b.r1, 0), b.at(set, b.r1, 1), b.at(set, b.r2, 2, 'pending')];
  const bp = broken({ policy: 'Parallel' });
  const bpart = broken({ partition: 3 });
  const bod = broken({ onDelete: true });
  table(it, [
    {
      name: 'broken template: web-2 at revision 2 never becomes Ready — Kubernetes and kennel both wait',
      set: b.stuck,
      revisions: [b.r1, b.r2],
      pods: pods(b.stuck),
      claims,
      want: [],
      waiting: /web-2 to be Running and Ready/,
    },
    {
      name: 'template fixed: revision 3 is created and the unready web-2 (at revision 2) is replaced at once',
      set: b.fixed,
      revisions: [b.r1, b.r2],
      pods: pods(b.fixed),
      claims,
      want: [`createRevision ${b.r3.metadata.name}`, 'deletePod web-2 (outdated-unready)'],
      waiting: /web-2 to be recreated at revision/,
      events: [`RecreatingUnreadyPod: StatefulSet default/web is recreating Pod web-2, which is not ready, at update revision ${b.r3.metadata.name}`],
    },
    {
      name: 'then web-2 comes back at revision 3, and the rollout continues normally',
      set: b.fixed,
      revisions: [b.r1, b.r2, b.r3],
      pods: [b.at(b.fixed, b.r1, 0), b.at(b.fixed, b.r1, 1), b.at(b.fixed, b.r3, 2)],
      claims,
      want: ['deletePod web-1 (update)'],
    },
    {
      name: 'a not-Ready pod below the partition is not touched (it stays at the current revision)',
      set: bpart.fixed,
      revisions: [bpart.r1, bpart.r2, bpart.r3],
      pods: [bpart.at(bpart.fixed, bpart.r1, 0), bpart.at(bpart.fixed, bpart.r1, 1), bpart.at(bpart.fixed, bpart.r1, 2, 'running')],
      claims,
      want: [],
      waiting: /web-2 to be Running and Ready/,
    },
    {
      name: 'OnDelete: no automatic replacement',
      set: bod.fixed,
      revisions: [bod.r1, bod.r2, bod.r3],
      pods: [bod.at(bod.fixed, bod.r1, 0), bod.at(bod.fixed, bod.r1, 1), bod.at(bod.fixed, bod.r2, 2, 'running')],
      claims,
      want: [],
      waiting: /web-2 to be Running and Ready/,
    },
    {
      name: 'a pod held by the PetSet annotation but Ready is not replaced (it is not broken)',
      set: b.fixed,
      revisions: [b.r1, b.r2, b.r3],
      pods: [b.at(b.fixed, b.r1, 0), b.at(b.fixed, b.r1, 1, 'ready', { annotations: { 'pod.alpha.kubernetes.io/initialized': 'false' } })],
      claims,
      want: [],
      waiting: /initialized/,
    },
    {
      name: 'Parallel: an unready outdated web-0 is replaced without waiting for maxUnavailable; healthy outdated pods wait',
      set: bp.fixed,
      revisions: [bp.r1, bp.r2, bp.r3],
      pods: [bp.at(bp.fixed, bp.r2, 0, 'running'), bp.at(bp.fixed, bp.r1, 1), bp.at(bp.fixed, bp.r1, 2)],
      claims,
      want: ['deletePod web-0 (outdated-unready)'],
      events: [`RecreatingUnreadyPod: StatefulSet default/web is recreating Pod web-0, which is not ready, at update revision ${bp.r3.metadata.name}`],
    },
  ]);

  it('the replacement happens within one round of the fix, whatever the ordinal', () => {
    const r = run({
      set: b.fixed,
      revisions: [b.r1, b.r2, b.r3],
      pods: [b.at(b.fixed, b.r2, 0, 'running')],
      claims,
    });
    assert.deepEqual(r.described, ['deletePod web-0 (outdated-unready)']);
  });
});
