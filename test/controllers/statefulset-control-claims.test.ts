// The control algorithm and PersistentVolumeClaims: created before their pod, owner references
// per persistentVolumeClaimRetentionPolicy (Kubernetes 1.32), stale and terminating claims,
// repairs, and kennel's storage resize through volumeClaimTemplates (kubernetes issue 68737).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { KubeObject } from '../../src/registry/types.ts';
import type { Action } from '../../src/controllers/statefulset/actions.ts';
import { claimsFor, mkClaim, mkPod, mkSet, podRef, revOf, setRef, table, type SetOptions } from './statefulset-fixtures.ts';

function fixture(o: SetOptions = {}) {
  const set = mkSet(o);
  const rev = revOf(set);
  return { set, rev, R: rev.metadata.name!, P: (ord: number, state: Parameters<typeof mkPod>[3] = 'ready') => mkPod(set, ord, rev, state) };
}

const claimAction = (r: { actions: Action[] }, name: string) => {
  const a = r.actions.find((x) => (x.type === 'createClaim' || x.type === 'updateClaim') && x.name === name);
  assert.ok(a && (a.type === 'createClaim' || a.type === 'updateClaim'), `no claim action for ${name}`);
  return a.object;
};
const owners = (claim: KubeObject) => (claim.metadata.ownerReferences ?? []).map((r) => `${r.kind}/${r.name}/${r.uid}`);

describe('statefulset control: claims and the retention policy', () => {
  const del = fixture({ whenDeleted: 'Delete' });
  const scaled = fixture({ whenScaled: 'Delete', replicas: 2 });
  const both = fixture({ whenScaled: 'Delete', whenDeleted: 'Delete', replicas: 2 });
  const retain = fixture();
  const up = fixture({ whenScaled: 'Delete' });
  table(it, [
    {
      name: 'whenDeleted Delete: a new claim is created owned by the set (controller, blockOwnerDeletion)',
      set: del.set,
      revisions: [del.rev],
      want: ['createClaim www-web-0', `createPod web-0 @${del.R}`],
      waiting: /web-0/,
      check: (r) => {
        const claim = claimAction(r, 'www-web-0');
        assert.deepEqual(claim.metadata.ownerReferences, [setRef(del.set)]);
        assert.deepEqual(claim.metadata.labels, { app: 'nginx' });
        assert.equal(claim.metadata.namespace, 'default');
        assert.equal('status' in claim, false);
      },
    },
    {
      name: 'whenDeleted switched to Delete: existing claims of healthy pods get the set as owner',
      set: del.set,
      revisions: [del.rev],
      pods: [del.P(0), del.P(1), del.P(2)],
      claims: claimsFor(del.set, [0, 1, 2]),
      want: ['updateClaim www-web-0 (retention)', 'updateClaim www-web-1 (retention)', 'updateClaim www-web-2 (retention)'],
      check: (r) => {
        const claim = claimAction(r, 'www-web-1');
        assert.deepEqual(owners(claim), ['StatefulSet/web/uid-web']);
        assert.equal(claim.metadata.resourceVersion, '42', 'updates carry the resourceVersion they were computed from');
      },
    },
    {
      name: 'whenScaled Delete, 3 → 2: www-web-2 is handed to pod web-2, then web-2 is deleted (GC removes the claim)',
      set: scaled.set,
      revisions: [scaled.rev],
      pods: [scaled.P(0), scaled.P(1), scaled.P(2)],
      claims: claimsFor(scaled.set, [0, 1, 2]),
      want: ['updateClaim www-web-2 (retention)', 'deletePod web-2 (condemned)'],
      waiting: /web-2/,
      check: (r) => assert.deepEqual(owners(claimAction(r, 'www-web-2')), ['Pod/web-2/uid-web-2']),
    },
    {
      name: 'Delete/Delete, 3 → 2: the set reference of www-web-2 is replaced by the pod\'s',
      set: both.set,
      revisions: [both.rev],
      pods: [both.P(0), both.P(1), both.P(2)],
      claims: [...claimsFor(both.set, [0, 1], { owners: [setRef(both.set)] }), mkClaim(both.set, 2, { owners: [setRef(both.set)] })],
      want: ['updateClaim www-web-2 (retention)', 'deletePod web-2 (condemned)'],
      waiting: /web-2/,
      check: (r) => assert.deepEqual(owners(claimAction(r, 'www-web-2')), ['Pod/web-2/uid-web-2']),
    },
    {
      name: 'Retain/Retain: owner references left from an earlier Delete policy are removed',
      set: retain.set,
      revisions: [retain.rev],
      pods: [retain.P(0)],
      claims: [mkClaim(retain.set, 0, { owners: [setRef(retain.set)] })],
      want: ['updateClaim www-web-0 (retention)', 'createClaim www-web-1', `createPod web-1 @${retain.R}`],
      waiting: /web-1/,
      check: (r) => assert.equal(claimAction(r, 'www-web-0').metadata.ownerReferences, undefined),
    },
    {
      name: 'whenScaled Delete, scaled back up before GC removed www-web-2 (still owned by the old pod): wait',
      set: up.set,
      revisions: [up.rev],
      pods: [up.P(0), up.P(1)],
      claims: [...claimsFor(up.set, [0, 1]), mkClaim(up.set, 2, { owners: [podRef('web-2', 'uid-old-web-2')] })],
      want: [],
      waiting: /claim www-web-2 of an earlier Pod web-2 to be deleted/,
    },
    {
      name: 'a claim being deleted: the pod is not created on it (FailedCreate)',
      set: retain.set,
      revisions: [retain.rev],
      pods: [retain.P(0)],
      claims: [mkClaim(retain.set, 0), mkClaim(retain.set, 1, { deleting: true })],
      want: [],
      waiting: /claim www-web-1 to finish terminating/,
      events: ['FailedCreate: create Pod web-1 in StatefulSet web failed error: pvc www-web-1 is being deleted'],
    },
    {
      name: 'a Pending pod whose claim was deleted gets the claim again',
      set: retain.set,
      revisions: [retain.rev],
      pods: [retain.P(0, 'pending')],
      want: ['createClaim www-web-0'],
      waiting: /web-0 to be Running and Ready/,
    },
    {
      name: 'Parallel: a Pending pod without its claim and without the claim volume: one createClaim, then the repair',
      ...(() => {
        const par = fixture({ policy: 'Parallel', replicas: 1 });
        const p = par.P(0, 'pending');
        (p.spec as Record<string, unknown>).volumes = [];
        return { set: par.set, revisions: [par.rev], pods: [p] };
      })(),
      want: ['createClaim www-web-0', 'updatePod web-0 (storage)'],
    },
    {
      name: 'a claim another controller manages is left alone',
      set: del.set,
      revisions: [del.rev],
      pods: [del.P(0), del.P(1), del.P(2)],
      claims: [
        mkClaim(del.set, 0, { owners: [{ apiVersion: 'example.com/v1', kind: 'Backup', name: 'b', uid: 'uid-b', controller: true }] }),
        ...claimsFor(del.set, [1, 2], { owners: [setRef(del.set)] }),
      ],
      want: [],
    },
    {
      name: 'a pod that lost its identity label is repaired',
      set: retain.set,
      revisions: [retain.rev],
      pods: [
        retain.P(0),
        (() => {
          const p = retain.P(1);
          delete p.metadata.labels?.['apps.kubernetes.io/pod-index'];
          return p;
        })(),
        retain.P(2),
      ],
      claims: claimsFor(retain.set, [0, 1, 2]),
      want: ['updatePod web-1 (identity)'],
      check: (r) => {
        const a = r.actions[0];
        assert.ok(a.type === 'updatePod');
        assert.equal(a.object.metadata.labels?.['apps.kubernetes.io/pod-index'], '1');
        assert.equal(a.object.metadata.uid, 'uid-web-1');
      },
    },
  ]);
});

describe('statefulset control: beyond Kubernetes — storage requests grow with the template (issue 68737)', () => {
  const big = fixture({ storage: '2Gi' });
  const bigDel = fixture({ storage: '2Gi', whenDeleted: 'Delete', replicas: 1 });
  const small = (set: KubeObject, ords: number[]) => claimsFor(set, ords, { storage: '1Gi' });
  table(it, [
    {
      name: 'template 1Gi → 2Gi: every bound claim of the set is raised to 2Gi; pods are not touched',
      set: big.set,
      revisions: [big.rev],
      pods: [big.P(0), big.P(1), big.P(2)],
      claims: small(big.set, [0, 1, 2]),
      want: ['updateClaim www-web-0 (resize to 2Gi)', 'updateClaim www-web-1 (resize to 2Gi)', 'updateClaim www-web-2 (resize to 2Gi)'],
      check: (r) => {
        const claim = claimAction(r, 'www-web-0');
        assert.deepEqual((claim.spec as Record<string, unknown>).resources, { requests: { storage: '2Gi' } });
        assert.equal(r.status.updateRevision, big.R, 'claim templates are not part of the pod template revision');
      },
    },
    {
      name: 'the template revision is unchanged by a storage change (same name as with 1Gi)',
      set: big.set,
      revisions: [revOf(mkSet({ storage: '1Gi' }))],
      pods: [big.P(0), big.P(1), big.P(2)],
      claims: claimsFor(big.set, [0, 1, 2]),
      want: [],
    },
    {
      name: 'a claim not bound yet is left for a later round; one larger already is never shrunk',
      set: big.set,
      revisions: [big.rev],
      pods: [big.P(0), big.P(1), big.P(2)],
      claims: [mkClaim(big.set, 0, { storage: '1Gi', phase: 'Pending' }), mkClaim(big.set, 1, { storage: '5Gi' }), mkClaim(big.set, 2, { storage: '1Gi' })],
      want: ['updateClaim www-web-2 (resize to 2Gi)'],
    },
    {
      name: 'resizing does not wait for OrderedReady progress; claims outside the set\'s range are left',
      set: big.set,
      revisions: [big.rev],
      pods: [big.P(0, 'running')],
      claims: small(big.set, [0, 1, 2, 3]),
      want: ['updateClaim www-web-0 (resize to 2Gi)', 'updateClaim www-web-1 (resize to 2Gi)', 'updateClaim www-web-2 (resize to 2Gi)'],
      waiting: /web-0 to be Running and Ready/,
    },
    {
      name: 'a resize and an owner change of the same claim are one update',
      set: bigDel.set,
      revisions: [bigDel.rev],
      pods: [bigDel.P(0)],
      claims: small(bigDel.set, [0]),
      want: ['updateClaim www-web-0 (resize to 2Gi+retention)'],
      check: (r) => {
        const claim = claimAction(r, 'www-web-0');
        assert.deepEqual(owners(claim), ['StatefulSet/web/uid-web']);
        assert.deepEqual((claim.spec as Record<string, unknown>).resources, { requests: { storage: '2Gi' } });
      },
    },
  ]);
});
