// Table tests of the Deployment helpers (deployment_util.go's counterparts): maxSurge and
// maxUnavailable resolution with percentages, the pod-template hash, template equality without
// the hash label, revisions and their annotations, proportions, conditions.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { KubeObject } from '../../src/registry/types.ts';
import {
  DESIRED_REPLICAS_ANNOTATION,
  MAX_REPLICAS_ANNOTATION,
  REVISION_ANNOTATION,
  REVISION_HISTORY_ANNOTATION,
  computeHash,
  equalIgnoreHash,
  findActiveOrLatest,
  findNewReplicaSet,
  fnv32a,
  getProportion,
  maxRevision,
  maxSurge,
  maxUnavailable,
  newCondition,
  newRSNewReplicas,
  resolveFenceposts,
  scaledValue,
  setCondition,
  setNewReplicaSetAnnotations,
} from '../../src/controllers/deployment/util.ts';

type Obj = Record<string, unknown>;

function deployment(replicas: number, strategy: Obj = { type: 'RollingUpdate', rollingUpdate: { maxSurge: '25%', maxUnavailable: '25%' } }, annotations: Record<string, string> = {}): KubeObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web', namespace: 'default', uid: 'd-uid', generation: 1, annotations },
    spec: { replicas, selector: { matchLabels: { app: 'web' } }, strategy, template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'c', image: 'nginx:1' }] } } },
  };
}

function rs(name: string, replicas: number, opts: { image?: string; created?: string; annotations?: Record<string, string>; hash?: string } = {}): KubeObject {
  const labels: Record<string, string> = { app: 'web', ...(opts.hash ? { 'pod-template-hash': opts.hash } : {}) };
  return {
    apiVersion: 'apps/v1',
    kind: 'ReplicaSet',
    metadata: { name, namespace: 'default', uid: `${name}-uid`, creationTimestamp: opts.created ?? '2024-01-01T00:00:00Z', annotations: opts.annotations ?? {} },
    spec: { replicas, template: { metadata: { labels }, spec: { containers: [{ name: 'c', image: opts.image ?? 'nginx:1' }] } } },
  };
}

describe('maxSurge and maxUnavailable', () => {
  const cases: [unknown, unknown, number, number, number][] = [
    // maxSurge, maxUnavailable, desired → surge (rounded up), unavailable (rounded down)
    ['25%', '25%', 4, 1, 1],
    ['25%', '25%', 10, 3, 2],
    ['25%', '25%', 1, 1, 0],
    ['25%', '25%', 1000, 250, 250],
    [1, 0, 3, 1, 0],
    ['0%', '10%', 5, 0, 1], // both resolve to 0 → unavailable 1
    [0, '30%', 10, 0, 3],
    ['50%', 2, 3, 2, 2],
  ];
  for (const [s, u, n, es, eu] of cases) {
    it(`maxSurge ${String(s)}, maxUnavailable ${String(u)} of ${n} → ${es} / ${eu}`, () => {
      assert.deepEqual(resolveFenceposts(s, u, n), { surge: es, unavailable: eu });
    });
  }

  it('scales percentages up or down', () => {
    assert.equal(scaledValue('33%', 10, true), 4);
    assert.equal(scaledValue('33%', 10, false), 3);
    assert.equal(scaledValue(7, 10, false), 7);
  });

  it('MaxUnavailable never exceeds replicas and is 0 for Recreate or no replicas', () => {
    assert.equal(maxUnavailable(deployment(2, { type: 'RollingUpdate', rollingUpdate: { maxSurge: 0, maxUnavailable: 5 } })), 2);
    assert.equal(maxUnavailable(deployment(0)), 0);
    assert.equal(maxUnavailable(deployment(4, { type: 'Recreate' })), 0);
    assert.equal(maxSurge(deployment(4, { type: 'Recreate' })), 0);
    assert.equal(maxSurge(deployment(10)), 3);
  });
});

describe('pod-template-hash', () => {
  it('FNV-1a 32 as Go computes it', () => {
    assert.equal(fnv32a(new TextEncoder().encode('')), 0x811c9dc5);
    assert.equal(fnv32a(new TextEncoder().encode('a')), 0xe40c292c);
    assert.equal(fnv32a(new TextEncoder().encode('foobar')), 0xbf9cf968);
  });

  it('is stable, ignores key order, and changes with the template and the collision count', () => {
    const t1 = { metadata: { labels: { app: 'web', tier: 'fe' } }, spec: { containers: [{ name: 'c', image: 'nginx:1' }] } };
    const t1b = { spec: { containers: [{ image: 'nginx:1', name: 'c' }] }, metadata: { labels: { tier: 'fe', app: 'web' } } };
    const t2 = { metadata: { labels: { app: 'web', tier: 'fe' } }, spec: { containers: [{ name: 'c', image: 'nginx:2' }] } };
    const h = computeHash(t1);
    assert.match(h, /^[bcdfghjklmnpqrstvwxz2456789]{1,10}$/);
    assert.equal(computeHash(t1b), h);
    assert.notEqual(computeHash(t2), h);
    assert.notEqual(computeHash(t1, 0), h, 'a collision count, even 0, is hashed');
    assert.notEqual(computeHash(t1, 1), computeHash(t1, 0));
    assert.equal(computeHash(t1, 1), computeHash(t1b, 1));
  });

  it('template equality ignores the hash label and empty fields', () => {
    const a = { metadata: { labels: { app: 'web', 'pod-template-hash': 'abc' } }, spec: { containers: [{ name: 'c', image: 'x', env: [] }] } };
    const b = { metadata: { labels: { app: 'web' }, annotations: {} }, spec: { containers: [{ name: 'c', image: 'x' }] } };
    const c = { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'c', image: 'y' }] } };
    assert.equal(equalIgnoreHash(a, b), true);
    assert.equal(equalIgnoreHash(a, c), false);
  });
});

describe('new and old ReplicaSets', () => {
  it('the new ReplicaSet is the oldest with the same template', () => {
    const d = deployment(3);
    const old = rs('web-old', 3, { image: 'nginx:0', created: '2024-01-01T00:00:00Z', hash: 'a' });
    const n1 = rs('web-n1', 0, { created: '2024-01-03T00:00:00Z', hash: 'b' });
    const n2 = rs('web-n2', 0, { created: '2024-01-02T00:00:00Z', hash: 'c' });
    assert.equal(findNewReplicaSet(d, [old, n1, n2])?.metadata.name, 'web-n2');
    assert.equal(findNewReplicaSet(d, [old]), undefined);
  });

  it('FindActiveOrLatest', () => {
    const a = rs('a', 0, { created: '2024-01-01T00:00:00Z' });
    const b = rs('b', 0, { created: '2024-01-02T00:00:00Z' });
    const c = rs('c', 2, { created: '2024-01-03T00:00:00Z' });
    assert.equal(findActiveOrLatest(undefined, [a, b])?.metadata.name, 'b', 'none active: the newest old one');
    assert.equal(findActiveOrLatest(a, [b])?.metadata.name, 'a', 'none active: the new one');
    assert.equal(findActiveOrLatest(a, [b, c])?.metadata.name, 'c', 'one active');
    assert.equal(findActiveOrLatest(rs('n', 1), [c]), undefined, 'two active');
  });

  it('NewRSNewReplicas', () => {
    // replicas, maxSurge, old replicas, new replicas → new replicas allowed (rolling_test.go)
    const cases: [number, number, number, number, number][] = [
      [10, 0, 10, 0, 0],
      [10, 2, 10, 0, 2],
      [10, 2, 5, 0, 7],
      [10, 2, 10, 2, 2],
    ];
    for (const [n, surge, oldN, newN, want] of cases) {
      const d = deployment(n, { type: 'RollingUpdate', rollingUpdate: { maxSurge: surge, maxUnavailable: 1 } });
      const newRS = rs('new', newN);
      assert.equal(newRSNewReplicas(d, [rs('old', oldN, { image: 'nginx:0' }), newRS], newRS), want, JSON.stringify([n, surge, oldN, newN]));
    }
    assert.equal(newRSNewReplicas(deployment(5, { type: 'Recreate' }), [rs('new', 0)], rs('new', 0)), 5);
  });
});

describe('revisions', () => {
  it('MaxRevision ignores absent and malformed annotations', () => {
    assert.equal(maxRevision([rs('a', 0, { annotations: { [REVISION_ANNOTATION]: '3' } }), rs('b', 0, { annotations: { [REVISION_ANNOTATION]: 'x' } }), rs('c', 0)]), 3);
    assert.equal(maxRevision([]), 0);
  });

  it('a new ReplicaSet gets the deployment annotations (but the skipped ones), its revision and the replica annotations', () => {
    const d = deployment(4, undefined, { team: 'a', [REVISION_ANNOTATION]: '7', 'kubectl.kubernetes.io/last-applied-configuration': '{}' });
    const r = rs('new', 0);
    assert.equal(setNewReplicaSetAnnotations(d, r, 2, false), true);
    assert.deepEqual(r.metadata.annotations, { team: 'a', [REVISION_ANNOTATION]: '2', [DESIRED_REPLICAS_ANNOTATION]: '4', [MAX_REPLICAS_ANNOTATION]: '5' });
    assert.equal(setNewReplicaSetAnnotations(d, r, 2, true), false, 'nothing changes the second time');
  });

  it('a rollback renumbers the ReplicaSet and keeps its earlier revisions', () => {
    const d = deployment(4);
    const r = rs('back', 0, { annotations: { [REVISION_ANNOTATION]: '1' } });
    setNewReplicaSetAnnotations(d, r, 3, true);
    assert.equal(r.metadata.annotations?.[REVISION_ANNOTATION], '3');
    assert.equal(r.metadata.annotations?.[REVISION_HISTORY_ANNOTATION], '1');
    setNewReplicaSetAnnotations(d, r, 5, true);
    assert.equal(r.metadata.annotations?.[REVISION_HISTORY_ANNOTATION], '1,3');
    assert.equal(setNewReplicaSetAnnotations(d, r, 4, true), false, 'never lowered');
    assert.equal(r.metadata.annotations?.[DESIRED_REPLICAS_ANNOTATION], undefined, 'existing ReplicaSets keep their replica annotations');
  });
});

describe('proportions', () => {
  it('GetProportion caps the fraction by what is left to add or remove', () => {
    const d = deployment(10, { type: 'RollingUpdate', rollingUpdate: { maxSurge: 0, maxUnavailable: 1 } });
    const r = rs('a', 3, { annotations: { [MAX_REPLICAS_ANNOTATION]: '5' } });
    assert.equal(getProportion(r, d, 5, 0), 3);
    assert.equal(getProportion(r, d, 5, 4), 1);
    assert.equal(getProportion(rs('z', 0), d, 5, 0), 0);
    const down = deployment(3, { type: 'RollingUpdate', rollingUpdate: { maxSurge: 0, maxUnavailable: 1 } });
    assert.equal(getProportion(r, down, -2, 0), -1); // round(3*3/5)=2 → -1
    assert.equal(getProportion(r, deployment(0), -5, 0), -3, 'to zero: the whole size');
  });
});

describe('conditions', () => {
  const T = Date.parse('2024-05-01T00:00:00Z');
  it('same status and reason: unchanged; same status, new reason: transition time kept', () => {
    const c1 = newCondition('Progressing', 'True', 'NewReplicaSetCreated', 'x', T);
    let cs = setCondition([], c1);
    const again = setCondition(cs, newCondition('Progressing', 'True', 'NewReplicaSetCreated', 'y', T + 5000));
    assert.equal(again, cs);
    cs = setCondition(cs, newCondition('Progressing', 'True', 'ReplicaSetUpdated', 'z', T + 5000));
    assert.equal(cs[0].lastTransitionTime, '2024-05-01T00:00:00Z');
    assert.equal(cs[0].lastUpdateTime, '2024-05-01T00:00:05Z');
    cs = setCondition(cs, newCondition('Progressing', 'False', 'ProgressDeadlineExceeded', 'w', T + 9000));
    assert.equal(cs[0].lastTransitionTime, '2024-05-01T00:00:09Z');
  });
});
