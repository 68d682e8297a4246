// The garbage collector's owner → dependents graph: what it records from informer events and
// which uids each event asks the controller to process.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { KubeObject, OwnerReference } from '../../src/registry/types.ts';
import { defaultRegistry } from '../../src/registry/index.ts';
import { resourceOf } from '../../src/client/rest.ts';
import { OwnerGraph } from '../../src/controllers/gc/graph.ts';

const registry = defaultRegistry();
const CM = resourceOf(registry, 'v1', 'configmaps');
const NOW = '2024-05-01T10:00:00Z';

function ref(uid: string, extra: Partial<OwnerReference> = {}): OwnerReference {
  return { apiVersion: 'v1', kind: 'ConfigMap', name: `cm-${uid}`, uid, ...extra };
}

function cm(uid: string, meta: Partial<KubeObject['metadata']> = {}): KubeObject {
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: `cm-${uid}`, namespace: 'default', uid, resourceVersion: '1', ...meta } };
}

describe('gc owner graph', () => {
  it('an object with owners is queued once; its unseen owner becomes a virtual node', () => {
    const g = new OwnerGraph();
    assert.deepEqual(g.observe(CM, cm('d', { ownerReferences: [ref('o')] })), ['d']);
    assert.equal(g.get('o')?.observed, false);
    assert.deepEqual(g.dependentsOf('o').map((n) => n.uid), ['d']);
    // The same state again (a resync) asks for nothing.
    assert.deepEqual(g.observe(CM, cm('d', { ownerReferences: [ref('o')], resourceVersion: '2' })), []);
    // The owner shows up: it is observed now, nothing to do.
    assert.deepEqual(g.observe(CM, cm('o')), []);
    assert.equal(g.get('o')?.observed, true);
    assert.equal(g.size, 2);
  });

  it('objects without owners are recorded and not queued', () => {
    const g = new OwnerGraph();
    assert.deepEqual(g.observe(CM, cm('a')), []);
    assert.equal(g.get('a')?.name, 'cm-a');
    assert.equal(g.get('a')?.namespace, 'default');
  });

  it('changed references queue the dependent; a removed reference leaves the owner’s dependents', () => {
    const g = new OwnerGraph();
    g.observe(CM, cm('o1'));
    g.observe(CM, cm('o2'));
    g.observe(CM, cm('d', { ownerReferences: [ref('o1')] }));
    assert.deepEqual(g.observe(CM, cm('d', { ownerReferences: [ref('o2')] })), ['d']);
    assert.deepEqual(g.dependentsOf('o1'), []);
    assert.deepEqual(g.dependentsOf('o2').map((n) => n.uid), ['d']);
    // Removing every reference: nothing to decide for it any more.
    assert.deepEqual(g.observe(CM, cm('d')), []);
    assert.deepEqual(g.dependentsOf('o2'), []);
  });

  it('an owner entering foreground deletion or orphaning is queued', () => {
    const g = new OwnerGraph();
    g.observe(CM, cm('o'));
    g.observe(CM, cm('p'));
    assert.deepEqual(g.observe(CM, cm('o', { deletionTimestamp: NOW, finalizers: ['foregroundDeletion'] })), ['o']);
    assert.deepEqual(g.observe(CM, cm('o', { deletionTimestamp: NOW, finalizers: ['foregroundDeletion'], resourceVersion: '3' })), [], 'no transition, no work');
    assert.deepEqual(g.observe(CM, cm('p', { deletionTimestamp: NOW, finalizers: ['orphan'] })), ['p']);
    // A finalizer without deletionTimestamp is not a deletion.
    g.observe(CM, cm('q'));
    assert.deepEqual(g.observe(CM, cm('q', { finalizers: ['orphan'] })), []);
  });

  it('an owner in foreground deletion is queued when a dependent stops blocking it, lets go of it, or goes', () => {
    const g = new OwnerGraph();
    g.observe(CM, cm('o', { deletionTimestamp: NOW, finalizers: ['foregroundDeletion'] }));
    g.observe(CM, cm('a', { ownerReferences: [ref('o', { blockOwnerDeletion: true })] }));
    g.observe(CM, cm('b', { ownerReferences: [ref('o', { blockOwnerDeletion: true })] }));
    g.observe(CM, cm('c', { ownerReferences: [ref('o', { blockOwnerDeletion: true })] }));
    assert.deepEqual(
      g.dependentInfos('o').map((d) => [d.uid, d.blockOwnerDeletion]),
      [
        ['a', true],
        ['b', true],
        ['c', true],
      ],
    );
    assert.deepEqual(g.observe(CM, cm('a', { ownerReferences: [ref('o', { blockOwnerDeletion: false })] })).sort(), ['a', 'o']);
    assert.deepEqual(g.observe(CM, cm('b')), ['o']);
    assert.deepEqual(g.forget(cm('c', { ownerReferences: [ref('o', { blockOwnerDeletion: true })] })), ['o']);
    assert.deepEqual(g.dependentInfos('o'), [{ uid: 'a', blockOwnerDeletion: false, beingDeleted: false, deletingDependents: false }]);
  });

  it('a new dependent of an orphaning owner queues the owner too', () => {
    const g = new OwnerGraph();
    g.observe(CM, cm('o', { deletionTimestamp: NOW, finalizers: ['orphan'] }));
    assert.deepEqual(g.observe(CM, cm('d', { ownerReferences: [ref('o')] })).sort(), ['d', 'o']);
  });

  it('a deleted owner queues its dependents and stays as a virtual node while they reference it', () => {
    const g = new OwnerGraph();
    g.observe(CM, cm('o'));
    g.observe(CM, cm('a', { ownerReferences: [ref('o')] }));
    g.observe(CM, cm('b', { ownerReferences: [ref('o')] }));
    assert.deepEqual(g.forget(cm('o')).sort(), ['a', 'b']);
    assert.equal(g.get('o')?.observed, false);
    assert.equal(g.get('o')?.def, undefined);
    g.forget(cm('a', { ownerReferences: [ref('o')] }));
    assert.ok(g.get('o'), 'b still references it');
    g.forget(cm('b', { ownerReferences: [ref('o')] }));
    assert.equal(g.get('o'), undefined, 'pruned once nobody references it');
    assert.equal(g.size, 0);
  });

  it('forgetting an unknown object, or one without uid, is harmless', () => {
    const g = new OwnerGraph();
    assert.deepEqual(g.forget(cm('nope')), []);
    assert.deepEqual(g.observe(CM, { metadata: { name: 'x' } }), []);
    assert.equal(g.size, 0);
  });

  it('the dependent view carries being-deleted and foreground states', () => {
    const g = new OwnerGraph();
    g.observe(CM, cm('o'));
    g.observe(CM, cm('a', { ownerReferences: [ref('o')], deletionTimestamp: NOW, finalizers: ['foregroundDeletion'] }));
    g.observe(CM, cm('b', { ownerReferences: [ref('o')], deletionTimestamp: NOW, finalizers: ['example.com/hold'] }));
    assert.deepEqual(g.dependentInfos('o'), [
      { uid: 'a', blockOwnerDeletion: false, beingDeleted: true, deletingDependents: true },
      { uid: 'b', blockOwnerDeletion: false, beingDeleted: true, deletingDependents: false },
    ]);
  });
});
