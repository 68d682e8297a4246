// trackUpdate (managed fields of non-apply writes): the cases its shortcuts must get exactly as
// the full computation does — entries a write does not touch come back as they were (sorted into
// FieldsV1's order if they were not), a manager writing fields it already owns keeps its set and
// gets a new time, objects sharing unchanged parts compare as if copied, and the oldest entries
// merged into ancient-changes are picked as before when times tie.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { trackUpdate } from '../../src/api/patch/index.ts';
import type { KubeObject, ManagedFieldsEntry } from '../../src/registry/types.ts';

const T0 = '2026-11-26T00:00:00Z';
const T1 = '2026-11-26T00:00:05Z';

function pod(status: Record<string, unknown>, managedFields: ManagedFieldsEntry[]): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'p', namespace: 'default', labels: { app: 'a' }, managedFields },
    spec: { containers: [{ name: 'c', image: 'nginx' }], nodeName: 'n1' },
    status,
  } as KubeObject;
}

const creator: ManagedFieldsEntry = {
  manager: 'creator',
  operation: 'Update',
  apiVersion: 'v1',
  time: T0,
  fieldsType: 'FieldsV1',
  fieldsV1: { 'f:metadata': { 'f:labels': { '.': {}, 'f:app': {} } }, 'f:spec': { 'f:containers': { 'k:{"name":"c"}': { '.': {}, 'f:image': {}, 'f:name': {} } } } },
};
const agent: ManagedFieldsEntry = {
  manager: 'agent',
  operation: 'Update',
  apiVersion: 'v1',
  time: T0,
  fieldsType: 'FieldsV1',
  fieldsV1: { 'f:status': { 'f:phase': {}, 'f:podIP': {} } },
  subresource: 'status',
};

const track = (old: KubeObject, updated: KubeObject, manager: string, subresource?: string) =>
  trackUpdate({ old, updated, manager, modelName: 'V1Pod', apiVersion: 'v1', subresource, now: T1 }).metadata.managedFields ?? [];

describe('managed fields of updates', () => {
  it('a status writer writing its own fields again: same set, new time, the others untouched', () => {
    const old = pod({ phase: 'Pending', podIP: '10.0.0.1' }, [creator, agent]);
    const updated = { ...old, status: { phase: 'Running', podIP: '10.0.0.1' } };
    const mf = track(old, updated, 'agent', 'status');
    assert.deepEqual(mf, [creator, { ...agent, time: T1 }]);
  });

  it('a status writer adding a field: its set grows; another manager taking a field over', () => {
    const old = pod({ phase: 'Pending', podIP: '10.0.0.1' }, [creator, agent]);
    const grown = track(old, { ...old, status: { phase: 'Pending', podIP: '10.0.0.1', hostIP: '192.168.0.1' } }, 'agent', 'status');
    assert.deepEqual(grown[1]!.fieldsV1, { 'f:status': { 'f:hostIP': {}, 'f:phase': {}, 'f:podIP': {} } });
    assert.equal(grown[1]!.time, T1);

    const taken = track(old, { ...old, status: { phase: 'Failed', podIP: '10.0.0.1' } }, 'other', 'status');
    // (Entries of equal times sort by manager.)
    assert.deepEqual(taken.map((e) => [e.manager, e.time, e.fieldsV1]), [
      ['agent', T0, { 'f:status': { 'f:podIP': {} } }],
      ['creator', T0, creator.fieldsV1],
      ['other', T1, { 'f:status': { 'f:phase': {} } }],
    ]);
  });

  it('an entry given out of FieldsV1 order comes back sorted even when untouched', () => {
    const unsorted: ManagedFieldsEntry = {
      ...creator,
      fieldsV1: { 'f:spec': { 'f:containers': { 'k:{"name":"c"}': { 'f:name': {}, 'f:image': {}, '.': {} } } }, 'f:metadata': { 'f:labels': { 'f:app': {}, '.': {} } } },
    };
    const old = pod({ phase: 'Pending', podIP: '10.0.0.1' }, [unsorted, agent]);
    const mf = track(old, { ...old, status: { phase: 'Running', podIP: '10.0.0.1' } }, 'agent', 'status');
    assert.equal(JSON.stringify(mf[0]!.fieldsV1), JSON.stringify(creator.fieldsV1));
  });

  it('an update sharing unchanged parts with the old object owns only what changed', () => {
    const old = pod({ phase: 'Pending' }, [creator]);
    // spec and metadata.labels are the same objects in both.
    const updated = { ...old, metadata: { ...old.metadata }, status: { phase: 'Pending', podIP: '10.0.0.9' } };
    const mf = track(old, updated, 'agent', 'status');
    assert.deepEqual(mf.map((e) => [e.manager, e.fieldsV1]), [
      ['creator', creator.fieldsV1],
      ['agent', { 'f:status': { 'f:podIP': {} } }],
    ]);
  });

  it('with more update managers than kept and equal times, the same oldest entries merge into ancient-changes', () => {
    const mf: ManagedFieldsEntry[] = [];
    const labels: Record<string, string> = {};
    for (let i = 0; i < 12; i++) {
      mf.push({ manager: `m${i}`, operation: 'Update', apiVersion: 'v1', time: T0, fieldsType: 'FieldsV1', fieldsV1: { 'f:metadata': { 'f:labels': { [`f:l${i}`]: {} } } } });
      labels[`l${i}`] = 'a';
    }
    const old = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'd', labels, managedFields: mf }, spec: { containers: [{ name: 'c', image: 'i' }] } } as KubeObject;
    const updated = structuredClone(old);
    updated.metadata.labels!.l1 = 'b';
    // m1 writes exactly the field it owns: as before, its entry counts as the newest of the tie.
    const out = trackUpdate({ old, updated, manager: 'm1', modelName: 'V1Pod', apiVersion: 'v1', now: T0 }).metadata.managedFields ?? [];
    assert.deepEqual(
      out.map((e) => [e.manager, Object.keys((e.fieldsV1 as Record<string, Record<string, object>>)['f:metadata']!['f:labels']!)]),
      [
        ['ancient-changes', ['f:l0', 'f:l2', 'f:l3']],
        ['m1', ['f:l1']],
        ['m10', ['f:l10']],
        ['m11', ['f:l11']],
        ['m4', ['f:l4']],
        ['m5', ['f:l5']],
        ['m6', ['f:l6']],
        ['m7', ['f:l7']],
        ['m8', ['f:l8']],
        ['m9', ['f:l9']],
      ],
    );
  });
});
