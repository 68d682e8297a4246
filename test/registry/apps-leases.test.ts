import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { leases } from '../../src/registry/leases.ts';
import type { KubeObject } from '../../src/registry/types.ts';

function lease(spec: Record<string, unknown>): KubeObject {
  return { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: 'node-1', namespace: 'kube-node-lease' }, spec };
}

const brief = (o: KubeObject) => leases.validate!(o).map((c) => `${c.field} ${c.reason}`);

describe('leases', () => {
  it('is coordination.k8s.io/v1 Lease without generation tracking', () => {
    assert.equal(leases.group, 'coordination.k8s.io');
    assert.equal(leases.modelName, 'V1Lease');
    assert.deepEqual(leases.generationFields, []);
  });

  it('accepts a node heartbeat lease and an empty one', () => {
    assert.deepEqual(leases.validate!(lease({ holderIdentity: 'node-1', leaseDurationSeconds: 40, renewTime: '2024-01-01T00:00:00.000000Z' })), []);
    assert.deepEqual(leases.validate!({ metadata: { name: 'x', namespace: 'default' } }), []);
  });

  const cases: Array<[string, Record<string, unknown>, string]> = [
    ['zero duration', { leaseDurationSeconds: 0 }, 'spec.leaseDurationSeconds FieldValueInvalid'],
    ['negative duration', { leaseDurationSeconds: -3 }, 'spec.leaseDurationSeconds FieldValueInvalid'],
    ['negative transitions', { leaseTransitions: -1 }, 'spec.leaseTransitions FieldValueInvalid'],
    ['an unknown built-in strategy', { strategy: 'Newest' }, 'spec.strategy FieldValueNotSupported'],
    ['an invalid custom strategy', { strategy: 'example.com/-bad-' }, 'spec.strategy FieldValueInvalid'],
    ['preferredHolder without strategy', { preferredHolder: 'a' }, 'spec.preferredHolder FieldValueForbidden'],
    ['a bad renewTime', { renewTime: 'yesterday' }, 'spec.renewTime FieldValueInvalid'],
  ];
  for (const [name, spec, want] of cases) {
    it(`rejects ${name}`, () => assert.deepEqual(brief(lease(spec)), [want]));
  }

  it('accepts the coordinated-leader strategies', () => {
    assert.deepEqual(leases.validate!(lease({ strategy: 'OldestEmulationVersion', preferredHolder: 'a' })), []);
    assert.deepEqual(leases.validate!(lease({ strategy: 'example.com/custom' })), []);
  });

  it('prints HOLDER and AGE', () => {
    assert.deepEqual(leases.columns.map((c) => c.name.toUpperCase()), ['HOLDER', 'AGE']);
    assert.equal(leases.columns[0].cell(lease({ holderIdentity: 'kennel-1_abc' })), 'kennel-1_abc');
    assert.equal(leases.columns[0].cell(lease({})), '');
    const o = lease({});
    o.metadata.creationTimestamp = new Date(Date.now() - 30_000).toISOString();
    assert.equal(leases.columns[1].cell(o), '30s');
  });
});
