import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_CLASS_ANNOTATION, storageClassNameCell, storageclasses } from '../../src/registry/storageclasses.ts';
import type { KubeObject } from '../../src/registry/types.ts';

type Obj = Record<string, unknown>;

function sc(extra: Obj = {}, annotations?: Record<string, string>): KubeObject {
  const o: KubeObject = {
    apiVersion: 'storage.k8s.io/v1',
    kind: 'StorageClass',
    metadata: { name: 'local-path', ...(annotations ? { annotations } : {}) },
    provisioner: 'kennel.dev/local-path',
    ...extra,
  };
  storageclasses.defaults!(o);
  return o;
}

const brief = (causes: { field: string; reason: string }[]) => causes.map((c) => `${c.field} ${c.reason}`);

describe('storageclasses', () => {
  it('is cluster-scoped storage.k8s.io/v1 with short name sc', () => {
    assert.equal(storageclasses.namespaced, false);
    assert.equal(storageclasses.group, 'storage.k8s.io');
    assert.deepEqual(storageclasses.shortNames, ['sc']);
    assert.equal(storageclasses.modelName, 'V1StorageClass');
  });

  it('defaults reclaimPolicy Delete and volumeBindingMode Immediate, keeping given values', () => {
    const o = sc();
    assert.equal(o.reclaimPolicy, 'Delete');
    assert.equal(o.volumeBindingMode, 'Immediate');
    const w = sc({ reclaimPolicy: 'Retain', volumeBindingMode: 'WaitForFirstConsumer' });
    assert.equal(w.reclaimPolicy, 'Retain');
    assert.equal(w.volumeBindingMode, 'WaitForFirstConsumer');
    assert.deepEqual(storageclasses.validate!(w), []);
  });

  const cases: Array<[string, Obj, string]> = [
    ['a missing provisioner', { provisioner: undefined }, 'provisioner FieldValueRequired'],
    ['an invalid provisioner', { provisioner: 'bad provisioner!' }, 'provisioner FieldValueInvalid'],
    ['an unknown reclaimPolicy', { reclaimPolicy: 'Recycle' }, 'reclaimPolicy FieldValueNotSupported'],
    ['an unknown volumeBindingMode', { volumeBindingMode: 'Later' }, 'volumeBindingMode FieldValueNotSupported'],
    ['an empty parameter key', { parameters: { '': 'x' } }, 'parameters FieldValueInvalid'],
    ['a non-boolean allowVolumeExpansion', { allowVolumeExpansion: 'yes' }, 'allowVolumeExpansion FieldValueInvalid'],
    ['a topology term without expressions', { allowedTopologies: [{ matchLabelExpressions: [] }] }, 'allowedTopologies[0].matchLabelExpressions FieldValueRequired'],
  ];
  for (const [name, extra, want] of cases) {
    it(`rejects ${name}`, () => assert.deepEqual(brief(storageclasses.validate!(sc(extra))), [want]));
  }

  it('keeps provisioner, parameters, reclaimPolicy and volumeBindingMode immutable', () => {
    const old = sc({ parameters: { path: '/var/lib/kennel/storage' } });
    const next = sc({
      provisioner: 'other.dev/x',
      parameters: { path: '/tmp' },
      reclaimPolicy: 'Retain',
      volumeBindingMode: 'WaitForFirstConsumer',
    });
    const causes = storageclasses.validateUpdate!(next, old);
    assert.deepEqual(brief(causes), [
      'parameters FieldValueForbidden',
      'provisioner FieldValueForbidden',
      'reclaimPolicy FieldValueForbidden',
      'volumeBindingMode FieldValueInvalid',
    ]);
    assert.equal(causes[0].message, 'Forbidden: updates to parameters are forbidden.');
    // Labels, annotations (the default-class marker), allowVolumeExpansion and mountOptions may change.
    const ok = sc({ parameters: { path: '/var/lib/kennel/storage' }, allowVolumeExpansion: true, mountOptions: ['ro'] }, { [DEFAULT_CLASS_ANNOTATION]: 'true' });
    assert.deepEqual(storageclasses.validateUpdate!(ok, old), []);
  });

  it('prints the Kubernetes columns and marks the default class in the name cell', () => {
    assert.deepEqual(storageclasses.columns.map((c) => c.name.toUpperCase()), [
      'PROVISIONER',
      'RECLAIMPOLICY',
      'VOLUMEBINDINGMODE',
      'ALLOWVOLUMEEXPANSION',
      'AGE',
    ]);
    const o = sc({ volumeBindingMode: 'WaitForFirstConsumer' }, { [DEFAULT_CLASS_ANNOTATION]: 'true' });
    assert.deepEqual(storageclasses.columns.slice(0, 4).map((c) => c.cell(o)), ['kennel.dev/local-path', 'Delete', 'WaitForFirstConsumer', false]);
    assert.equal(storageClassNameCell(o), 'local-path (default)');
    assert.equal(storageClassNameCell(sc({}, { [DEFAULT_CLASS_ANNOTATION]: 'false' })), 'local-path');
    assert.equal(storageclasses.columns[3].cell(sc({ allowVolumeExpansion: true })), true);
  });
});
