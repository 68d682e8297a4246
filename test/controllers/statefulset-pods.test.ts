import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { KubeObject } from '../../src/registry/types.ts';
import {
  claimName,
  identityMatches,
  isFailed,
  isHealthy,
  isRunningAndAvailable,
  isRunningAndReady,
  isTerminating,
  isUnavailable,
  newClaims,
  newStatefulSetPod,
  newVersionedPod,
  parseOrdinal,
  podName,
  repairPod,
  storageMatches,
} from '../../src/controllers/statefulset/pods.ts';
import { claimIsStale, claimOwnerRefsFor, isClaimOwnerUpToDate, resizedClaim } from '../../src/controllers/statefulset/claims.ts';
import { claimTemplatesOf } from '../../src/controllers/statefulset/set.ts';
import { NOW, mkClaim, mkPod, mkSet, podRef, revOf, setRef, withImage, type PodState } from './statefulset-fixtures.ts';

describe('statefulset pods: identity', () => {
  const rows: Array<[string, { parent: string; ordinal: number }]> = [
    ['web-0', { parent: 'web', ordinal: 0 }],
    ['web-12', { parent: 'web', ordinal: 12 }],
    ['my-db-3', { parent: 'my-db', ordinal: 3 }],
    ['web-1-0', { parent: 'web-1', ordinal: 0 }],
    ['web', { parent: '', ordinal: -1 }],
    ['web-x', { parent: '', ordinal: -1 }],
    ['web-99999999999', { parent: 'web', ordinal: -1 }],
  ];
  for (const [name, want] of rows) {
    it(`parses ${name}`, () => assert.deepEqual(parseOrdinal(name), want));
  }

  it('names pods <set>-<ordinal> and claims <template>-<set>-<ordinal>', () => {
    const set = mkSet();
    assert.equal(podName(set, 4), 'web-4');
    assert.equal(claimName(set, 'www', 4), 'www-web-4');
  });

  it('newStatefulSetPod: labels, owner, hostname/subdomain, claim volumes, template metadata', () => {
    const set = mkSet({ start: 5 });
    const spec = set.spec as { template: { metadata: Record<string, unknown>; spec: Record<string, unknown> } };
    spec.template.metadata.annotations = { 'prometheus.io/scrape': 'true' };
    spec.template.spec.volumes = [{ name: 'www', emptyDir: {} }, { name: 'config', configMap: { name: 'cfg' } }];
    const rev = revOf(set);
    const pod = newStatefulSetPod(set, rev, 5);
    assert.deepEqual(pod.metadata, {
      name: 'web-5',
      generateName: 'web-',
      namespace: 'default',
      labels: {
        app: 'nginx',
        'statefulset.kubernetes.io/pod-name': 'web-5',
        'apps.kubernetes.io/pod-index': '5',
        'controller-revision-hash': rev.metadata.name,
      },
      annotations: { 'prometheus.io/scrape': 'true' },
      ownerReferences: [setRef(set)],
    });
    const podSpec = pod.spec as Record<string, unknown>;
    assert.equal(podSpec.hostname, 'web-5');
    assert.equal(podSpec.subdomain, 'nginx');
    assert.deepEqual(podSpec.volumes, [
      { name: 'www', persistentVolumeClaim: { claimName: 'www-web-5' } },
      { name: 'config', configMap: { name: 'cfg' } },
    ]);
    assert.equal(identityMatches(set, pod), true);
    assert.equal(storageMatches(set, pod), true);
  });

  it('a pod made from an older revision carries that revision\'s template', () => {
    const v1 = mkSet({ image: 'nginx:1.24' });
    const v2 = withImage(v1, 'nginx:1.25');
    const pod = newStatefulSetPod(v2, revOf(v1), 0);
    assert.equal((pod.spec as { containers: Array<{ image: string }> }).containers[0].image, 'nginx:1.24');
  });

  const partitionRows: Array<{ name: string; opts: Parameters<typeof mkSet>[0]; ordinal: number; want: 'current' | 'update' }> = [
    { name: 'partition 2: ordinal 1 is created at the current revision', opts: { partition: 2 }, ordinal: 1, want: 'current' },
    { name: 'partition 2: ordinal 2 is created at the update revision', opts: { partition: 2 }, ordinal: 2, want: 'update' },
    { name: 'partition 2 with ordinals.start 10: ordinal 11 stays current', opts: { partition: 2, start: 10 }, ordinal: 11, want: 'current' },
    { name: 'partition 2 with ordinals.start 10: ordinal 12 is updated', opts: { partition: 2, start: 10 }, ordinal: 12, want: 'update' },
    { name: 'OnDelete: new pods always get the update revision', opts: { onDelete: true }, ordinal: 0, want: 'update' },
  ];
  for (const row of partitionRows) {
    it(row.name, () => {
      const v1 = mkSet(row.opts);
      const v2 = withImage(v1, 'nginx:2');
      const cur = revOf(v1, 1);
      const upd = revOf(v2, 2);
      const pod = newVersionedPod(v2, cur, upd, row.ordinal);
      assert.equal(pod.metadata.labels?.['controller-revision-hash'], (row.want === 'current' ? cur : upd).metadata.name);
    });
  }

  it('repairs identity labels and claim volumes of a pod that lost them', () => {
    const set = mkSet();
    const pod = mkPod(set, 1, revOf(set));
    delete pod.metadata.labels?.['statefulset.kubernetes.io/pod-name'];
    (pod.spec as Record<string, unknown>).volumes = [{ name: 'www', emptyDir: {} }];
    assert.equal(identityMatches(set, pod), false);
    assert.equal(storageMatches(set, pod), false);
    const fixed = repairPod(set, pod);
    assert.ok(fixed);
    assert.deepEqual(fixed.repairs, ['identity', 'storage']);
    assert.equal(fixed.pod.metadata.labels?.['statefulset.kubernetes.io/pod-name'], 'web-1');
    assert.deepEqual((fixed.pod.spec as Record<string, unknown>).volumes, [{ name: 'www', persistentVolumeClaim: { claimName: 'www-web-1' } }]);
    assert.equal(repairPod(set, fixed.pod), undefined);
  });
});

describe('statefulset pods: health', () => {
  const set = mkSet();
  const rev = revOf(set);
  const rows: Array<{ name: string; pod: KubeObject; ready: boolean; available30: boolean; healthy: boolean; failed?: boolean; terminating?: boolean }> = [
    { name: 'Running + Ready for an hour', pod: mkPod(set, 0, rev, 'ready'), ready: true, available30: true, healthy: true },
    { name: 'Running + Ready for 10s (minReadySeconds 30 not reached)', pod: mkPod(set, 0, rev, 'ready', { readyFor: 10 }), ready: true, available30: false, healthy: true },
    { name: 'Ready for exactly 30s is not yet available (strictly after)', pod: mkPod(set, 0, rev, 'ready', { readyFor: 30 }), ready: true, available30: false, healthy: true },
    { name: 'Running, not Ready', pod: mkPod(set, 0, rev, 'running'), ready: false, available30: false, healthy: false },
    { name: 'Pending', pod: mkPod(set, 0, rev, 'pending'), ready: false, available30: false, healthy: false },
    { name: 'Failed', pod: mkPod(set, 0, rev, 'failed'), ready: false, available30: false, healthy: false, failed: true },
    { name: 'Ready but terminating', pod: mkPod(set, 0, rev, 'ready', { deleting: true }), ready: true, available30: true, healthy: false, terminating: true },
    {
      name: 'Ready but held by pod.alpha.kubernetes.io/initialized: "false"',
      pod: mkPod(set, 0, rev, 'ready', { annotations: { 'pod.alpha.kubernetes.io/initialized': 'false' } }),
      ready: false,
      available30: false,
      healthy: false,
    },
    {
      name: 'initialized: "true" changes nothing',
      pod: mkPod(set, 0, rev, 'ready', { annotations: { 'pod.alpha.kubernetes.io/initialized': 'true' } }),
      ready: true,
      available30: true,
      healthy: true,
    },
    {
      name: 'an unparsable initialized value is ignored',
      pod: mkPod(set, 0, rev, 'ready', { annotations: { 'pod.alpha.kubernetes.io/initialized': 'maybe' } }),
      ready: true,
      available30: true,
      healthy: true,
    },
  ];
  for (const row of rows) {
    it(row.name, () => {
      assert.equal(isRunningAndReady(row.pod), row.ready, 'ready');
      assert.equal(isRunningAndAvailable(row.pod, 30, NOW), row.available30, 'available');
      assert.equal(isRunningAndAvailable(row.pod, 0, NOW), row.ready, 'available without minReadySeconds');
      assert.equal(isHealthy(row.pod), row.healthy, 'healthy');
      assert.equal(isUnavailable(row.pod, 30, NOW), !row.available30 || row.terminating === true, 'unavailable');
      assert.equal(isFailed(row.pod), row.failed === true, 'failed');
      assert.equal(isTerminating(row.pod), row.terminating === true, 'terminating');
    });
  }

  it('states used in tables are distinct', () => {
    const states: PodState[] = ['ready', 'running', 'pending', 'failed', 'succeeded'];
    assert.equal(new Set(states.map((s) => JSON.stringify(mkPod(set, 0, rev, s).status))).size, states.length);
  });
});

describe('statefulset claims', () => {
  it('newClaims: template copy, name, selector labels merged, no status', () => {
    const set = mkSet();
    const t = claimTemplatesOf(set)[0];
    (t.metadata as Record<string, unknown>).labels = { tier: 'data' };
    const [claim] = newClaims(set, 2);
    assert.deepEqual(claim, {
      apiVersion: 'v1',
      kind: 'PersistentVolumeClaim',
      metadata: { name: 'www-web-2', namespace: 'default', labels: { tier: 'data', app: 'nginx' } },
      spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } }, volumeMode: 'Filesystem' },
    });
  });

  const pod2 = (set: KubeObject) => mkPod(set, 2, revOf(set));
  const ownerRows: Array<{
    name: string;
    whenDeleted: 'Retain' | 'Delete';
    whenScaled: 'Retain' | 'Delete';
    replicas: number;
    owners: string[];
  }> = [
    { name: 'Retain/Retain: no owner', whenDeleted: 'Retain', whenScaled: 'Retain', replicas: 3, owners: [] },
    { name: 'whenDeleted Delete: owned by the set', whenDeleted: 'Delete', whenScaled: 'Retain', replicas: 3, owners: ['StatefulSet/web'] },
    { name: 'whenDeleted Delete, condemned: still the set', whenDeleted: 'Delete', whenScaled: 'Retain', replicas: 2, owners: ['StatefulSet/web'] },
    { name: 'whenScaled Delete, in range: no owner', whenDeleted: 'Retain', whenScaled: 'Delete', replicas: 3, owners: [] },
    { name: 'whenScaled Delete, condemned: owned by the pod', whenDeleted: 'Retain', whenScaled: 'Delete', replicas: 2, owners: ['Pod/web-2'] },
    { name: 'Delete/Delete, in range: the set', whenDeleted: 'Delete', whenScaled: 'Delete', replicas: 3, owners: ['StatefulSet/web'] },
    { name: 'Delete/Delete, condemned: the pod only', whenDeleted: 'Delete', whenScaled: 'Delete', replicas: 2, owners: ['Pod/web-2'] },
  ];
  for (const row of ownerRows) {
    it(`owners per retention policy — ${row.name}`, () => {
      const set = mkSet({ replicas: row.replicas, whenDeleted: row.whenDeleted, whenScaled: row.whenScaled });
      const pod = pod2(set);
      const [fresh] = newClaims(set, 2, pod);
      const names = (fresh.metadata.ownerReferences ?? []).map((r) => `${r.kind}/${r.name}`);
      assert.deepEqual(names, row.owners);
      for (const r of fresh.metadata.ownerReferences ?? []) {
        assert.equal(r.controller, true);
        assert.equal(r.blockOwnerDeletion, true);
      }
      // A claim without owners is up to date only when none are wanted; fixing it gives the
      // same owners as a fresh claim, and the fixed claim is up to date.
      const bare = mkClaim(set, 2);
      assert.equal(isClaimOwnerUpToDate(bare, set, pod), row.owners.length === 0);
      const refs = claimOwnerRefsFor(bare, set, pod);
      assert.deepEqual(refs.map((r) => `${r.kind}/${r.name}`), row.owners);
      assert.equal(isClaimOwnerUpToDate({ ...bare, metadata: { ...bare.metadata, ownerReferences: refs } }, set, pod), true);
    });
  }

  it('owner references of an earlier set or pod with the same name (other uid) are left alone', () => {
    const set = mkSet({ whenDeleted: 'Delete' });
    const pod = pod2(set);
    const claim = mkClaim(set, 2, { owners: [{ ...setRef(set), uid: 'uid-of-an-old-web' }] });
    assert.equal(isClaimOwnerUpToDate(claim, set, pod), true);
  });

  it('another controller on the claim: our refs are removed, none added', () => {
    const set = mkSet({ whenDeleted: 'Delete' });
    const pod = pod2(set);
    const foreign = { apiVersion: 'example.com/v1', kind: 'Backup', name: 'b', uid: 'uid-b', controller: true };
    assert.equal(isClaimOwnerUpToDate(mkClaim(set, 2, { owners: [foreign] }), set, pod), true);
    const both = mkClaim(set, 2, { owners: [foreign, setRef(set)] });
    assert.equal(isClaimOwnerUpToDate(both, set, pod), false);
    assert.deepEqual(claimOwnerRefsFor(both, set, pod), [foreign]);
  });

  it('a non-controller reference to the set is made a controller reference', () => {
    const set = mkSet({ whenDeleted: 'Delete' });
    const pod = pod2(set);
    const claim = mkClaim(set, 2, { owners: [{ ...setRef(set), controller: false }] });
    assert.equal(isClaimOwnerUpToDate(claim, set, pod), false);
    assert.deepEqual(claimOwnerRefsFor(claim, set, pod), [setRef(set)]);
  });

  it('stale: with whenScaled Delete, a claim still owned by an earlier pod of the name blocks the new pod', () => {
    const stub: KubeObject = { metadata: { name: 'web-2', namespace: 'default' } };
    const scaledDelete = mkSet({ whenScaled: 'Delete' });
    const owned = mkClaim(scaledDelete, 2, { owners: [podRef('web-2', 'uid-old')] });
    assert.equal(claimIsStale(scaledDelete, owned, stub), true);
    assert.equal(claimIsStale(scaledDelete, mkClaim(scaledDelete, 2), stub), false);
    assert.equal(claimIsStale(mkSet(), owned, stub), false, 'whenScaled Retain never blocks');
  });

  const resizeRows: Array<{ name: string; template: string; claim: Parameters<typeof mkClaim>[2]; want?: string }> = [
    { name: 'bound 1Gi claim, template 2Gi: raised to 2Gi', template: '2Gi', claim: { storage: '1Gi' }, want: '2Gi' },
    { name: 'bound 1Gi claim, template 1500Mi: raised', template: '1500Mi', claim: { storage: '1Gi' }, want: '1500Mi' },
    { name: 'template equal: untouched', template: '1Gi', claim: { storage: '1Gi' } },
    { name: 'equal in other units (1024Mi = 1Gi): untouched', template: '1024Mi', claim: { storage: '1Gi' } },
    { name: 'claim larger than template: never shrunk', template: '1Gi', claim: { storage: '3Gi' } },
    { name: 'claim not bound yet: untouched', template: '2Gi', claim: { storage: '1Gi', phase: 'Pending' } },
    { name: 'claim being deleted: untouched', template: '2Gi', claim: { storage: '1Gi', deleting: true } },
  ];
  for (const row of resizeRows) {
    it(`resize — ${row.name}`, () => {
      const set = mkSet({ storage: row.template });
      const claim = mkClaim(set, 0, row.claim);
      const got = resizedClaim(claim, claimTemplatesOf(set)[0]);
      if (row.want === undefined) return assert.equal(got, undefined);
      assert.ok(got);
      assert.equal((got.spec as { resources: { requests: { storage: string } } }).resources.requests.storage, row.want);
      assert.equal(got.metadata.resourceVersion, '42', 'keeps resourceVersion for an optimistic update');
      assert.equal((claim.spec as { resources: { requests: { storage: string } } }).resources.requests.storage, row.claim?.storage, 'input untouched');
    });
  }
});
