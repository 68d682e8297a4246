import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { KubeObject } from '../../src/registry/types.ts';
import {
  applyRevision,
  canonicalJSON,
  fnv32,
  hashRevisionData,
  newRevision,
  nextRevisionNumber,
  revisionData,
  revisionName,
  safeEncodeString,
  selectRevisions,
  sortRevisions,
  templateFromRevision,
  truncateHistory,
} from '../../src/controllers/statefulset/revision.ts';
import { mkPod, mkSet, revOf, withImage } from './statefulset-fixtures.ts';

const enc = (s: string) => new TextEncoder().encode(s);

describe('statefulset revisions: hashing and naming', () => {
  it('FNV-1 32 matches the reference vectors (Go hash/fnv New32)', () => {
    for (const [input, want] of [
      ['', 0x811c9dc5],
      ['a', 0x050c5d7e],
      ['foobar', 0x31f0b262],
    ] as const) {
      assert.equal(fnv32(enc(input)), want, input);
    }
  });

  it('SafeEncodeString maps decimal digits into the vowel-free alphabet', () => {
    assert.equal(safeEncodeString('0123456789'), '456789bcdf');
  });

  it('serializes like Go: sorted keys, no spaces, HTML-safe escapes, undefined dropped', () => {
    assert.equal(canonicalJSON({ b: 1, a: { d: [true, null], c: 'x<y&z>' }, u: undefined }), '{"a":{"c":"x\\u003cy\\u0026z\\u003e","d":[true,null]},"b":1}');
  });

  it('hash = safe-encoded decimal FNV of data + collisionCount; equal data, equal hash', () => {
    const data = { spec: { template: { $patch: 'replace', metadata: { labels: { app: 'nginx' } } } } };
    const h0 = hashRevisionData(data, 0);
    assert.match(h0, /^[bcdf4-9]+$/);
    assert.equal(h0, safeEncodeString(String(fnv32(enc(`${canonicalJSON(data)}0`)))));
    assert.equal(hashRevisionData(JSON.parse(JSON.stringify(data)), 0), h0, 'key order does not matter');
    assert.notEqual(hashRevisionData(data, 1), h0, 'collisionCount changes the hash');
    assert.equal(revisionName('web', h0), `web-${h0}`);
    assert.equal(revisionName('x'.repeat(300), 'abc'), `${'x'.repeat(223)}-abc`);
  });

  it('revision data is the template patch Kubernetes stores', () => {
    const set = mkSet();
    const data = revisionData(set) as { spec: { template: Record<string, unknown> } };
    assert.deepEqual(Object.keys(data), ['spec']);
    assert.deepEqual(Object.keys(data.spec), ['template']);
    assert.equal(data.spec.template.$patch, 'replace');
    assert.deepEqual(data.spec.template.spec, (set.spec as { template: { spec: unknown } }).template.spec);
  });

  it('newRevision: name <set>-<hash>, template labels + hash label, set annotations, controller ref', () => {
    const set = mkSet();
    set.metadata.annotations = { 'kubernetes.io/change-cause': 'kubectl set image' };
    const rev = newRevision(set, 3, 0);
    const hash = hashRevisionData(revisionData(set), 0);
    assert.equal(rev.metadata.name, `web-${hash}`);
    assert.equal(rev.metadata.namespace, 'default');
    assert.equal(rev.revision, 3);
    assert.deepEqual(rev.metadata.labels, { app: 'nginx', 'controller.kubernetes.io/hash': hash });
    assert.deepEqual(rev.metadata.annotations, { 'kubernetes.io/change-cause': 'kubectl set image' });
    assert.deepEqual(rev.metadata.ownerReferences, [
      { apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'web', uid: 'uid-web', controller: true, blockOwnerDeletion: true },
    ]);
  });

  it('a pod template comes back from a revision, and applyRevision puts it into the set', () => {
    const old = mkSet({ image: 'nginx:1.24' });
    const rev = revOf(old);
    const template = templateFromRevision(rev);
    assert.ok(template);
    assert.equal('$patch' in template, false);
    const now = withImage(old, 'nginx:1.26');
    const restored = applyRevision(now, rev) as unknown as { spec: { template: { spec: { containers: Array<{ image: string }> } }; replicas: number } };
    assert.equal(restored.spec.template.spec.containers[0].image, 'nginx:1.24');
    assert.equal(restored.spec.replicas, 3, 'everything but the template stays the live set');
    assert.equal(((now.spec as { template: { spec: { containers: Array<{ image: string }> } } }).template.spec.containers[0]).image, 'nginx:1.26', 'input untouched');
  });

  it('sorts by revision number, then creation time, then name; next number is max + 1', () => {
    const mk = (name: string, revision: number, ts: string): KubeObject => ({ metadata: { name, creationTimestamp: ts }, revision });
    const revs = [mk('c', 2, '2025-01-01T00:00:00Z'), mk('b', 1, '2025-01-02T00:00:00Z'), mk('a', 1, '2025-01-02T00:00:00Z'), mk('d', 1, '2025-01-01T00:00:00Z')];
    assert.deepEqual(sortRevisions(revs).map((r) => r.metadata.name), ['d', 'a', 'b', 'c']);
    assert.equal(nextRevisionNumber(revs), 3);
    assert.equal(nextRevisionNumber([]), 1);
  });
});

describe('statefulset revisions: choosing current and update revision', () => {
  const v1 = mkSet({ image: 'nginx:1.24' });
  const v2 = withImage(v1, 'nginx:1.25');
  const v3 = withImage(v2, 'nginx:1.26');
  const r1 = revOf(v1, 1);
  const r2 = revOf(v2, 2);
  const r3 = revOf(v3, 3);
  const withStatus = (set: KubeObject, status: Record<string, unknown>): KubeObject => ({ ...set, status });

  const rows: Array<{
    name: string;
    set: KubeObject;
    owned: KubeObject[];
    all?: KubeObject[];
    actions: string[];
    current: string;
    update: string;
    collisionCount: number;
  }> = [
    {
      name: 'empty history: revision 1 is created and is both current and update',
      set: v1,
      owned: [],
      actions: [`createRevision ${r1.metadata.name} #1`],
      current: r1.metadata.name!,
      update: r1.metadata.name!,
      collisionCount: 0,
    },
    {
      name: 'template unchanged: the latest revision is reused, nothing created',
      set: withStatus(v2, { currentRevision: r1.metadata.name }),
      owned: [r1, r2],
      actions: [],
      current: r1.metadata.name!,
      update: r2.metadata.name!,
      collisionCount: 0,
    },
    {
      name: 'template changed: revision max+1 is created; current stays status.currentRevision',
      set: withStatus(v3, { currentRevision: r2.metadata.name }),
      owned: [r1, r2],
      actions: [`createRevision ${r3.metadata.name} #3`],
      current: r2.metadata.name!,
      update: r3.metadata.name!,
      collisionCount: 0,
    },
    {
      name: 'rollback (rollout undo) to revision 1: it is renumbered to 4, not duplicated',
      set: withStatus(v1, { currentRevision: r3.metadata.name }),
      owned: [r1, r2, r3],
      actions: [`updateRevision ${r1.metadata.name} -> 4`],
      current: r3.metadata.name!,
      update: r1.metadata.name!,
      collisionCount: 0,
    },
    {
      name: 'status.currentRevision names a revision that is gone: current = update',
      set: withStatus(v2, { currentRevision: 'web-gone' }),
      owned: [r2],
      actions: [],
      current: r2.metadata.name!,
      update: r2.metadata.name!,
      collisionCount: 0,
    },
    {
      name: 'name collision (same name, other data): collisionCount 0 → 1 and a new name',
      set: v2,
      owned: [{ ...r1, metadata: { ...r1.metadata, name: revOf(v2, 9).metadata.name } }],
      actions: [`createRevision ${revOf(v2, 2, 1).metadata.name} #2`],
      current: revOf(v2, 2, 1).metadata.name!,
      update: revOf(v2, 2, 1).metadata.name!,
      collisionCount: 1,
    },
    {
      name: 'a revision of another owner holding the name is a collision too',
      set: withStatus(v2, { collisionCount: 0 }),
      owned: [],
      all: [{ ...revOf(v2, 1), metadata: { ...revOf(v2, 1).metadata, ownerReferences: [{ apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'other', uid: 'x', controller: true }] } }],
      actions: [`createRevision ${revOf(v2, 1, 1).metadata.name} #1`],
      current: revOf(v2, 1, 1).metadata.name!,
      update: revOf(v2, 1, 1).metadata.name!,
      collisionCount: 1,
    },
    {
      name: 'the name is held by our own equal revision that the selector no longer lists: reused, no collision',
      set: v2,
      owned: [],
      all: [revOf(v2, 5)],
      actions: [],
      current: revOf(v2, 5).metadata.name!,
      update: revOf(v2, 5).metadata.name!,
      collisionCount: 0,
    },
    {
      name: 'a set that already saw a collision keeps probing from its collisionCount',
      set: withStatus(v2, { collisionCount: 2 }),
      owned: [],
      actions: [`createRevision ${revOf(v2, 1, 2).metadata.name} #1`],
      current: revOf(v2, 1, 2).metadata.name!,
      update: revOf(v2, 1, 2).metadata.name!,
      collisionCount: 2,
    },
  ];

  for (const row of rows) {
    it(row.name, () => {
      const sel = selectRevisions(row.set, row.owned, row.all ?? row.owned);
      const described = sel.actions.map((a) =>
        a.type === 'createRevision' ? `createRevision ${a.name} #${String(a.object.revision)}` : a.type === 'updateRevision' ? `updateRevision ${a.name} -> ${a.revision}` : `${a.type} ${a.name}`,
      );
      assert.deepEqual(described, row.actions);
      assert.equal(sel.current.metadata.name, row.current);
      assert.equal(sel.update.metadata.name, row.update);
      assert.equal(sel.collisionCount, row.collisionCount);
    });
  }

  it('the renumbered revision keeps its name and data, only the number changes', () => {
    const sel = selectRevisions(v1, [r1, r2, r3]);
    const a = sel.actions[0];
    assert.equal(a.type, 'updateRevision');
    if (a.type !== 'updateRevision') return;
    assert.equal(a.object.metadata.name, r1.metadata.name);
    assert.deepEqual(a.object.data, r1.data);
    assert.equal(a.object.revision, 4);
    assert.equal(r1.revision, 1, 'input untouched');
  });
});

describe('statefulset revisions: history limit', () => {
  const base = mkSet({ image: 'nginx:1.0' });
  const sets = [base];
  for (let i = 1; i < 6; i++) sets.push(withImage(sets[i - 1], `nginx:1.${i}`));
  const revs = sets.map((s, i) => revOf(s, i + 1)); // revisions 1..6
  const name = (i: number) => revs[i - 1].metadata.name!;
  const limited = (limit: number) => ({ ...base, spec: { ...(base.spec as object), revisionHistoryLimit: limit } });

  const rows: Array<{ name: string; limit: number; podRevs: number[]; current: number; update: number; deleted: number[] }> = [
    { name: 'limit 2, current=update=6, no pods: revisions 1-3 go (oldest first)', limit: 2, podRevs: [], current: 6, update: 6, deleted: [1, 2, 3] },
    { name: 'limit 2, current 5 and update 6 are kept beyond the limit', limit: 2, podRevs: [], current: 5, update: 6, deleted: [1, 2] },
    { name: 'a revision a pod still runs (2) is kept', limit: 1, podRevs: [2, 6], current: 6, update: 6, deleted: [1, 3, 4] },
    { name: 'limit 0 keeps only live revisions', limit: 0, podRevs: [5], current: 6, update: 6, deleted: [1, 2, 3, 4] },
    { name: 'limit 10 with 6 revisions deletes nothing', limit: 10, podRevs: [], current: 6, update: 6, deleted: [] },
    { name: 'a negative limit keeps everything', limit: -1, podRevs: [], current: 6, update: 6, deleted: [] },
  ];
  for (const row of rows) {
    it(row.name, () => {
      const set = limited(row.limit);
      const pods = row.podRevs.map((r, i) => mkPod(set, i, revs[r - 1]));
      const got = truncateHistory(set, [...revs].reverse(), pods, revs[row.current - 1], revs[row.update - 1]);
      assert.deepEqual(
        got.map((a) => a.name),
        row.deleted.map(name),
      );
      for (const a of got) assert.equal(a.type, 'deleteRevision');
    });
  }

  it('deleteRevision carries the uid (for a delete precondition)', () => {
    const got = truncateHistory(limited(0), revs.slice(0, 2), [], revs[1], revs[1]);
    assert.deepEqual(got, [{ type: 'deleteRevision', name: name(1), uid: `uid-${name(1)}` }]);
  });
});
