// Table tests of the garbage collector's decision: plain metadata in, actions out.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { OwnerReference } from '../../src/registry/types.ts';
import {
  classifyReference,
  classifyReferences,
  decide,
  isDeletingDependents,
  isOrphaning,
  unblockedOwnerReferences,
  withoutFinalizer,
  withoutOwnerReferences,
  type DependentInfo,
  type GcAction,
  type GcInput,
  type OwnerState,
} from '../../src/controllers/gc/decide.ts';

const NOW = '2024-05-01T10:00:00Z';

function ref(uid: string, extra: Partial<OwnerReference> = {}): OwnerReference {
  return { apiVersion: 'v1', kind: 'ConfigMap', name: `owner-${uid}`, uid, ...extra };
}

const present = (uid: string): OwnerState => ({ state: 'present', uid });
const waiting = (uid: string): OwnerState => ({ state: 'present', uid, deletingDependents: true });
const absent: OwnerState = { state: 'absent' };
const unknown: OwnerState = { state: 'unknown' };

function dep(uid: string, o: Partial<DependentInfo> = {}): DependentInfo {
  return { uid, blockOwnerDeletion: false, beingDeleted: false, deletingDependents: false, ...o };
}

interface Case {
  name: string;
  input: GcInput;
  want: GcAction[];
}

const cases: Case[] = [
  // --- an owner whose deletion orphans its dependents
  {
    name: 'orphan finalizer: each dependent loses its reference, then the finalizer goes',
    input: { object: { uid: 'o', deletionTimestamp: NOW, finalizers: ['orphan'] }, owners: new Map(), dependents: [dep('a'), dep('b', { blockOwnerDeletion: true })] },
    want: [
      { type: 'orphanDependent', dependentUid: 'a' },
      { type: 'orphanDependent', dependentUid: 'b' },
      { type: 'removeFinalizer', finalizer: 'orphan' },
    ],
  },
  {
    name: 'orphan finalizer without dependents: only the finalizer goes',
    input: { object: { uid: 'o', deletionTimestamp: NOW, finalizers: ['orphan', 'example.com/keep'] }, owners: new Map(), dependents: [] },
    want: [{ type: 'removeFinalizer', finalizer: 'orphan' }],
  },
  {
    name: 'orphan and foregroundDeletion both (set by hand): orphan wins, both finalizers go',
    input: { object: { uid: 'o', deletionTimestamp: NOW, finalizers: ['foregroundDeletion', 'orphan'] }, owners: new Map(), dependents: [dep('a', { blockOwnerDeletion: true })] },
    want: [
      { type: 'orphanDependent', dependentUid: 'a' },
      { type: 'removeFinalizer', finalizer: 'orphan' },
      { type: 'removeFinalizer', finalizer: 'foregroundDeletion' },
    ],
  },
  {
    name: 'orphan finalizer without deletionTimestamp: not being deleted, so nothing (no owners)',
    input: { object: { uid: 'o', finalizers: ['orphan'] }, owners: new Map(), dependents: [dep('a')] },
    want: [],
  },
  // --- an owner in foreground deletion
  {
    name: 'foreground without dependents: the finalizer goes',
    input: { object: { uid: 'o', deletionTimestamp: NOW, finalizers: ['foregroundDeletion'] }, owners: new Map(), dependents: [] },
    want: [{ type: 'removeFinalizer', finalizer: 'foregroundDeletion' }],
  },
  {
    name: 'foreground with a blocking dependent: the dependent is processed, the owner waits',
    input: { object: { uid: 'o', deletionTimestamp: NOW, finalizers: ['foregroundDeletion'] }, owners: new Map(), dependents: [dep('a', { blockOwnerDeletion: true })] },
    want: [{ type: 'processDependent', dependentUid: 'a' }],
  },
  {
    name: 'foreground with only non-blocking dependents: they are processed and the owner goes at once',
    input: { object: { uid: 'o', deletionTimestamp: NOW, finalizers: ['foregroundDeletion'] }, owners: new Map(), dependents: [dep('a'), dep('b')] },
    want: [
      { type: 'processDependent', dependentUid: 'a' },
      { type: 'processDependent', dependentUid: 'b' },
      { type: 'removeFinalizer', finalizer: 'foregroundDeletion' },
    ],
  },
  {
    name: 'foreground with a blocking dependent already being deleted (held by its own finalizer): wait',
    input: {
      object: { uid: 'o', deletionTimestamp: NOW, finalizers: ['foregroundDeletion'] },
      owners: new Map(),
      dependents: [dep('a', { blockOwnerDeletion: true, beingDeleted: true })],
    },
    want: [],
  },
  {
    name: 'foreground: a dependent being deleted is not processed again; a live non-blocking one is',
    input: {
      object: { uid: 'o', deletionTimestamp: NOW, finalizers: ['foregroundDeletion'] },
      owners: new Map(),
      dependents: [dep('a', { blockOwnerDeletion: true, beingDeleted: true, deletingDependents: true }), dep('b')],
    },
    want: [{ type: 'processDependent', dependentUid: 'b' }],
  },
  {
    name: 'foreground owner that is itself a dependent of an absent owner: only its dependents matter',
    input: {
      object: { uid: 'o', deletionTimestamp: NOW, finalizers: ['foregroundDeletion'], ownerReferences: [ref('x')] },
      owners: new Map([['x', absent]]),
      dependents: [],
    },
    want: [{ type: 'removeFinalizer', finalizer: 'foregroundDeletion' }],
  },
  // --- objects being deleted for other reasons
  {
    name: 'being deleted, held by another finalizer, owner absent: not the collector’s business',
    input: { object: { uid: 'd', deletionTimestamp: NOW, finalizers: ['example.com/hold'], ownerReferences: [ref('x')] }, owners: new Map([['x', absent]]), dependents: [] },
    want: [],
  },
  {
    name: 'being deleted without finalizers (a pod in its grace period), owner absent: nothing',
    input: { object: { uid: 'd', deletionTimestamp: NOW, ownerReferences: [ref('x')] }, owners: new Map([['x', absent]]), dependents: [] },
    want: [],
  },
  // --- dependents
  {
    name: 'no ownerReferences: nothing',
    input: { object: { uid: 'd' }, owners: new Map(), dependents: [dep('z')] },
    want: [],
  },
  {
    name: 'owner present with the referenced uid: nothing',
    input: { object: { uid: 'd', ownerReferences: [ref('x')] }, owners: new Map([['x', present('x')]]), dependents: [] },
    want: [],
  },
  {
    name: 'owner absent: delete in the background',
    input: { object: { uid: 'd', ownerReferences: [ref('x')] }, owners: new Map([['x', absent]]), dependents: [] },
    want: [{ type: 'delete', propagationPolicy: 'Background' }],
  },
  {
    name: 'owner recreated with the same name (other uid): the reference dangles, delete',
    input: { object: { uid: 'd', ownerReferences: [ref('x')] }, owners: new Map([['x', present('x2')]]), dependents: [] },
    want: [{ type: 'delete', propagationPolicy: 'Background' }],
  },
  {
    name: 'two owners, one absent: only the dangling reference goes',
    input: { object: { uid: 'd', ownerReferences: [ref('x'), ref('y')] }, owners: new Map([['x', absent], ['y', present('y')]]), dependents: [] },
    want: [{ type: 'removeOwnerReferences', uids: ['x'] }],
  },
  {
    name: 'two owners, one recreated: only its reference goes',
    input: { object: { uid: 'd', ownerReferences: [ref('x'), ref('y')] }, owners: new Map([['x', present('y')], ['y', present('y')]]), dependents: [] },
    want: [{ type: 'removeOwnerReferences', uids: ['x'] }],
  },
  {
    name: 'every owner absent: delete',
    input: { object: { uid: 'd', ownerReferences: [ref('x'), ref('y')] }, owners: new Map([['x', absent], ['y', present('other')]]), dependents: [] },
    want: [{ type: 'delete', propagationPolicy: 'Background' }],
  },
  {
    name: 'the only owner waits for its dependents, no dependents of its own: delete in the background',
    input: { object: { uid: 'd', ownerReferences: [ref('x', { blockOwnerDeletion: true })] }, owners: new Map([['x', waiting('x')]]), dependents: [] },
    want: [{ type: 'delete', propagationPolicy: 'Background' }],
  },
  {
    name: 'owner waits and the object has dependents of its own: delete in the foreground',
    input: { object: { uid: 'd', ownerReferences: [ref('x', { blockOwnerDeletion: true })] }, owners: new Map([['x', waiting('x')]]), dependents: [dep('e', { blockOwnerDeletion: true })] },
    want: [{ type: 'delete', propagationPolicy: 'Foreground' }],
  },
  {
    name: 'owner waits, object has a dependent itself in foreground deletion: unblock (cycle) then delete in the foreground',
    input: {
      object: { uid: 'd', ownerReferences: [ref('x', { blockOwnerDeletion: true })] },
      owners: new Map([['x', waiting('x')]]),
      dependents: [dep('e', { blockOwnerDeletion: true, beingDeleted: true, deletingDependents: true })],
    },
    want: [{ type: 'unblockOwnerReferences' }, { type: 'delete', propagationPolicy: 'Foreground' }],
  },
  {
    name: 'one owner waits, another is solid: the waiting reference goes, the object stays',
    input: { object: { uid: 'd', ownerReferences: [ref('x', { blockOwnerDeletion: true }), ref('y')] }, owners: new Map([['x', waiting('x')], ['y', present('y')]]), dependents: [] },
    want: [{ type: 'removeOwnerReferences', uids: ['x'] }],
  },
  {
    name: 'solid, dangling and waiting owners: dangling and waiting references go',
    input: {
      object: { uid: 'd', ownerReferences: [ref('w'), ref('s'), ref('g')] },
      owners: new Map([['w', waiting('w')], ['s', present('s')], ['g', absent]]),
      dependents: [],
    },
    want: [{ type: 'removeOwnerReferences', uids: ['g', 'w'] }],
  },
  {
    name: 'an owner of a kind the server does not serve counts as solid: only the absent reference goes',
    input: { object: { uid: 'd', ownerReferences: [ref('u', { apiVersion: 'example.com/v1', kind: 'Thing' }), ref('x')] }, owners: new Map<string, OwnerState>([['u', unknown], ['x', absent]]), dependents: [] },
    want: [{ type: 'removeOwnerReferences', uids: ['x'] }],
  },
  {
    name: 'an owner not resolved at all is treated as unknown: nothing is deleted on a guess',
    input: { object: { uid: 'd', ownerReferences: [ref('x')] }, owners: new Map(), dependents: [] },
    want: [],
  },
  {
    name: 'owner absent, object carries the orphan finalizer: delete with Orphan',
    input: { object: { uid: 'd', finalizers: ['orphan'], ownerReferences: [ref('x')] }, owners: new Map([['x', absent]]), dependents: [dep('e')] },
    want: [{ type: 'delete', propagationPolicy: 'Orphan' }],
  },
  {
    name: 'owner absent, object carries foregroundDeletion: delete with Foreground',
    input: { object: { uid: 'd', finalizers: ['foregroundDeletion'], ownerReferences: [ref('x')] }, owners: new Map([['x', absent]]), dependents: [] },
    want: [{ type: 'delete', propagationPolicy: 'Foreground' }],
  },
  {
    name: 'the same absent owner referenced twice next to a solid one: its uid is removed once',
    input: { object: { uid: 'd', ownerReferences: [ref('x'), ref('x'), ref('y')] }, owners: new Map([['x', absent], ['y', present('y')]]), dependents: [] },
    want: [{ type: 'removeOwnerReferences', uids: ['x'] }],
  },
  {
    name: 'owners given as a plain record',
    input: { object: { uid: 'd', ownerReferences: [ref('x'), ref('y')] }, owners: { x: absent, y: present('y') }, dependents: [] },
    want: [{ type: 'removeOwnerReferences', uids: ['x'] }],
  },
];

describe('gc decide', () => {
  for (const c of cases) {
    it(c.name, () => {
      assert.deepEqual(decide(c.input), c.want);
    });
  }

  it('does not modify its input', () => {
    const input: GcInput = {
      object: { uid: 'd', ownerReferences: [ref('x'), ref('y')], finalizers: ['orphan'] },
      owners: new Map([['x', absent], ['y', present('y')]]),
      dependents: [dep('e')],
    };
    const before = JSON.stringify(input.object) + JSON.stringify([...(input.owners as Map<string, OwnerState>)]) + JSON.stringify(input.dependents);
    decide(input);
    assert.equal(JSON.stringify(input.object) + JSON.stringify([...(input.owners as Map<string, OwnerState>)]) + JSON.stringify(input.dependents), before);
  });
});

describe('gc reference classification', () => {
  const table: [string, OwnerState, string][] = [
    ['x', absent, 'dangling'],
    ['x', present('x'), 'solid'],
    ['x', present('x2'), 'dangling'],
    ['x', waiting('x'), 'waiting'],
    ['x', waiting('x2'), 'dangling'],
    ['x', unknown, 'solid'],
  ];
  for (const [uid, state, want] of table) {
    it(`${JSON.stringify(state)} → ${want}`, () => assert.equal(classifyReference({ uid }, state), want));
  }
  it('classifies every reference once, in order', () => {
    const got = classifyReferences({ uid: 'd', ownerReferences: [ref('a'), ref('b'), ref('a'), ref('c')] }, new Map([['a', absent], ['b', present('b')], ['c', waiting('c')]]));
    assert.deepEqual(got, { solid: ['b'], dangling: ['a'], waiting: ['c'] });
  });
});

describe('gc metadata helpers', () => {
  it('withoutOwnerReferences keeps the others, in order', () => {
    assert.deepEqual(withoutOwnerReferences([ref('a'), ref('b'), ref('c')], ['b']), [ref('a'), ref('c')]);
    assert.deepEqual(withoutOwnerReferences(undefined, ['b']), []);
  });
  it('unblockedOwnerReferences clears blockOwnerDeletion only where it was true', () => {
    const refs = [ref('a', { blockOwnerDeletion: true, controller: true }), ref('b')];
    assert.deepEqual(unblockedOwnerReferences(refs), [ref('a', { blockOwnerDeletion: false, controller: true }), ref('b')]);
    assert.equal(refs[0].blockOwnerDeletion, true, 'the input is not modified');
  });
  it('withoutFinalizer', () => {
    assert.deepEqual(withoutFinalizer(['a', 'orphan', 'b'], 'orphan'), ['a', 'b']);
    assert.deepEqual(withoutFinalizer(undefined, 'orphan'), []);
  });
  it('isDeletingDependents / isOrphaning need both the timestamp and the finalizer', () => {
    assert.equal(isDeletingDependents({ deletionTimestamp: NOW, finalizers: ['foregroundDeletion'] }), true);
    assert.equal(isDeletingDependents({ finalizers: ['foregroundDeletion'] }), false);
    assert.equal(isDeletingDependents({ deletionTimestamp: NOW }), false);
    assert.equal(isOrphaning({ deletionTimestamp: NOW, finalizers: ['orphan'] }), true);
    assert.equal(isOrphaning({ finalizers: ['orphan'] }), false);
  });
});
