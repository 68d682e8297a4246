import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { controllerrevisions } from '../../src/registry/controllerrevisions.ts';
import type { KubeObject } from '../../src/registry/types.ts';

function revision(extra: Partial<KubeObject> = {}): KubeObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'ControllerRevision',
    metadata: {
      name: 'web-7b5d6c8f9',
      namespace: 'default',
      ownerReferences: [
        { apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'web', uid: 'u1', controller: true },
      ],
    },
    data: { spec: { template: { $patch: 'replace' } } },
    revision: 2,
    ...extra,
  };
}

const col = (name: string) => {
  const c = controllerrevisions.columns.find((x) => x.name === name);
  assert.ok(c, name);
  return c;
};

describe('controllerrevisions', () => {
  it('is apps/v1 ControllerRevision without generation tracking', () => {
    assert.equal(controllerrevisions.group, 'apps');
    assert.equal(controllerrevisions.modelName, 'V1ControllerRevision');
    assert.deepEqual(controllerrevisions.generationFields, []);
  });

  it('accepts a revision and rejects a missing or negative revision and missing data', () => {
    assert.deepEqual(controllerrevisions.validate!(revision()), []);
    assert.deepEqual(controllerrevisions.validate!(revision({ revision: -1 })), [
      { reason: 'FieldValueInvalid', field: 'revision', message: 'Invalid value: -1: must be greater than or equal to 0' },
    ]);
    const noRev = revision();
    delete noRev.revision;
    assert.deepEqual(controllerrevisions.validate!(noRev).map((c) => `${c.field} ${c.reason}`), ['revision FieldValueRequired']);
    const noData = revision();
    delete noData.data;
    assert.deepEqual(controllerrevisions.validate!(noData), [{ reason: 'FieldValueRequired', field: 'data', message: 'Required value: data is mandatory' }]);
    assert.deepEqual(controllerrevisions.validate!(revision({ revision: 1.5 })).map((c) => c.field), ['revision']);
  });

  it('keeps data immutable but lets the revision number change', () => {
    const old = revision();
    assert.deepEqual(controllerrevisions.validateUpdate!(revision({ revision: 5 }), old), []);
    const causes = controllerrevisions.validateUpdate!(revision({ data: { spec: { template: { x: 1 } } } }), old);
    assert.deepEqual(causes.map((c) => `${c.field} ${c.reason}`), ['data FieldValueInvalid']);
    assert.match(causes[0].message, /field is immutable$/);
  });

  it('prints CONTROLLER as kind.group/name and REVISION', () => {
    assert.deepEqual(controllerrevisions.columns.map((c) => c.name.toUpperCase()), ['CONTROLLER', 'REVISION', 'AGE']);
    assert.equal(col('Controller').cell(revision()), 'statefulset.apps/web');
    assert.equal(col('Revision').cell(revision()), 2);
    const core = revision();
    core.metadata.ownerReferences = [{ apiVersion: 'v1', kind: 'Pod', name: 'p', uid: 'u', controller: true }];
    assert.equal(col('Controller').cell(core), 'pod/p');
    const orphan = revision();
    orphan.metadata.ownerReferences = [{ apiVersion: 'apps/v1', kind: 'DaemonSet', name: 'd', uid: 'u' }];
    assert.equal(col('Controller').cell(orphan), '<none>');
  });
});
