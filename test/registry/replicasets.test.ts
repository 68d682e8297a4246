import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { replicasets } from '../../src/registry/replicasets.ts';
import { replicationcontrollers } from '../../src/registry/replicationcontrollers.ts';
import type { FieldCause, KubeObject } from '../../src/registry/types.ts';
import { startTestServer, type TestServer } from '../support/apiserver.ts';

type Obj = Record<string, unknown>;
type W = KubeObject & { spec: Obj };

function rs(mutate?: (o: W) => void): W {
  const o: W = {
    apiVersion: 'apps/v1',
    kind: 'ReplicaSet',
    metadata: { name: 'web', namespace: 'default' },
    spec: {
      selector: { matchLabels: { app: 'web' } },
      template: { metadata: { labels: { app: 'web', tier: 'fe' } }, spec: { containers: [{ name: 'nginx', image: 'nginx:1.27' }] } },
    },
  };
  mutate?.(o);
  replicasets.defaults!(o);
  return o;
}

function rc(mutate?: (o: W) => void): W {
  const o: W = {
    apiVersion: 'v1',
    kind: 'ReplicationController',
    metadata: { name: 'old', namespace: 'default' },
    spec: {
      template: { metadata: { labels: { app: 'old' } }, spec: { containers: [{ name: 'c', image: 'busybox' }] } },
    },
  };
  mutate?.(o);
  replicationcontrollers.defaults!(o);
  return o;
}

const brief = (causes: FieldCause[]): string[] => causes.map((c) => `${c.field} ${c.reason}`);

describe('replicasets registry entry', () => {
  it('is apps/v1 ReplicaSet with rs, all, status and scale', () => {
    assert.equal(replicasets.group, 'apps');
    assert.equal(replicasets.version, 'v1');
    assert.equal(replicasets.plural, 'replicasets');
    assert.deepEqual(replicasets.shortNames, ['rs']);
    assert.deepEqual(replicasets.categories, ['all']);
    assert.equal(replicasets.subresources?.status, true);
    assert.equal(replicasets.subresources?.scale?.labelSelectorPath, 'spec.selector');
    assert.equal(replicasets.modelName, 'V1ReplicaSet');
    assert.deepEqual(replicasets.generationFields, ['spec']);
  });

  it('defaults replicas to 1 (keeping an explicit 0) and the pod template', () => {
    const o = rs();
    assert.equal(o.spec.replicas, 1);
    assert.equal(((o.spec.template as Obj).spec as Obj).restartPolicy, 'Always');
    assert.equal(rs((x) => (x.spec.replicas = 0)).spec.replicas, 0);
    assert.deepEqual(replicasets.validate!(o), []);
  });

  it('requires a selector that matches the template labels', () => {
    assert.deepEqual(brief(replicasets.validate!(rs((o) => delete o.spec.selector))), ['spec.selector FieldValueRequired']);
    const mismatch = replicasets.validate!(rs((o) => (o.spec.selector = { matchLabels: { app: 'db' } })));
    assert.deepEqual(brief(mismatch), ['spec.template.metadata.labels FieldValueInvalid']);
    assert.match(mismatch[0].message, /`selector` does not match template `labels`/);
    const empty = replicasets.validate!(rs((o) => (o.spec.selector = {})));
    assert.deepEqual(brief(empty), ['spec.selector FieldValueInvalid']);
    assert.match(empty[0].message, /empty selector is invalid for deployment/);
    const expr = rs((o) => (o.spec.selector = { matchExpressions: [{ key: 'tier', operator: 'In', values: ['fe', 'be'] }] }));
    assert.deepEqual(replicasets.validate!(expr), []);
  });

  it('rejects negative counts, other restart policies and activeDeadlineSeconds', () => {
    const o = rs((x) => {
      x.spec.replicas = -1;
      x.spec.minReadySeconds = -5;
      const ps = (x.spec.template as Obj).spec as Obj;
      ps.restartPolicy = 'Never';
      ps.activeDeadlineSeconds = 10;
    });
    const causes = replicasets.validate!(o);
    assert.deepEqual(brief(causes), [
      'spec.replicas FieldValueInvalid',
      'spec.minReadySeconds FieldValueInvalid',
      'spec.template.spec.restartPolicy FieldValueNotSupported',
      'spec.template.spec.activeDeadlineSeconds FieldValueForbidden',
    ]);
    assert.match(causes[0].message, /-1: must be greater than or equal to 0/);
    assert.match(causes[3].message, /activeDeadlineSeconds in ReplicaSet is not Supported/);
  });

  it('keeps the selector immutable and allows scaling and template changes', () => {
    const old = rs();
    const scaled = rs((o) => (o.spec.replicas = 5));
    assert.deepEqual(replicasets.validateUpdate!(scaled, old), []);
    const moved = rs((o) => (o.spec.selector = { matchLabels: { app: 'web', tier: 'fe' } }));
    const causes = replicasets.validateUpdate!(moved, old);
    assert.deepEqual(brief(causes), ['spec.selector FieldValueInvalid']);
    assert.match(causes[0].message, /field is immutable/);
  });

  it('checks status counts against each other', () => {
    const o = rs();
    o.status = { replicas: 2, fullyLabeledReplicas: 3, readyReplicas: 1, availableReplicas: 2, observedGeneration: -1 };
    assert.deepEqual(brief(replicasets.validateStatus!(o, rs())), [
      'status.observedGeneration FieldValueInvalid',
      'status.fullyLabeledReplicas FieldValueInvalid',
      'status.availableReplicas FieldValueInvalid',
    ]);
    o.status = { replicas: 2, fullyLabeledReplicas: 2, readyReplicas: 2, availableReplicas: 1, observedGeneration: 1 };
    assert.deepEqual(replicasets.validateStatus!(o, rs()), []);
  });

  it('prints DESIRED CURRENT READY AGE, and CONTAINERS IMAGES SELECTOR when wide', () => {
    const o = rs((x) => (x.spec.replicas = 3));
    o.status = { replicas: 2, readyReplicas: 1 };
    const cols = replicasets.columns;
    assert.deepEqual(cols.map((c) => `${c.name}/${c.priority}`), ['Desired/0', 'Current/0', 'Ready/0', 'Age/0', 'Containers/1', 'Images/1', 'Selector/1']);
    assert.deepEqual(cols.filter((c) => c.name !== 'Age').map((c) => c.cell(o)), [3, 2, 1, 'nginx', 'nginx:1.27', 'app=web']);
  });
});

describe('replicationcontrollers registry entry', () => {
  it('is core/v1 ReplicationController with rc, all, status and scale', () => {
    assert.equal(replicationcontrollers.group, '');
    assert.equal(replicationcontrollers.plural, 'replicationcontrollers');
    assert.deepEqual(replicationcontrollers.shortNames, ['rc']);
    assert.deepEqual(replicationcontrollers.categories, ['all']);
    assert.ok(replicationcontrollers.subresources?.scale);
    assert.equal(replicationcontrollers.modelName, 'V1ReplicationController');
  });

  it('defaults the selector and its own labels to the template labels', () => {
    const o = rc();
    assert.deepEqual(o.spec.selector, { app: 'old' });
    assert.deepEqual(o.metadata.labels, { app: 'old' });
    assert.equal(o.spec.replicas, 1);
    assert.deepEqual(replicationcontrollers.validate!(o), []);
    const kept = rc((x) => {
      x.metadata.labels = { team: 'a' };
      x.spec.selector = { app: 'old' };
    });
    assert.deepEqual(kept.metadata.labels, { team: 'a' });
  });

  it('rejects a selector the template labels do not satisfy, and negative replicas', () => {
    const bad = rc((x) => {
      x.spec.selector = { app: 'other' };
      x.spec.replicas = -2;
    });
    assert.deepEqual(brief(replicationcontrollers.validate!(bad)), ['spec.replicas FieldValueInvalid', 'spec.template.metadata.labels FieldValueInvalid']);
    const noLabels = rc((x) => delete ((x.spec.template as Obj).metadata as Obj).labels);
    assert.deepEqual(brief(replicationcontrollers.validate!(noLabels)), ['spec.selector FieldValueRequired']);
  });

  it('lets the selector change (core/v1 has no immutability rule)', () => {
    assert.equal(replicationcontrollers.validateUpdate, undefined);
  });

  it('prints the selector as a sorted label map', () => {
    const o = rc((x) => (x.spec.selector = { b: '2', app: 'old' }));
    const sel = replicationcontrollers.columns.find((c) => c.name === 'Selector');
    assert.equal(sel?.cell(o), 'app=old,b=2');
  });
});

describe('replicasets through the API server', () => {
  let srv: TestServer;
  before(async () => {
    srv = await startTestServer();
  });
  after(async () => {
    await srv.stop();
  });

  it('creates with defaults and reset status, and serves the scale subresource', async () => {
    const body = rs();
    delete body.spec.replicas;
    body.status = { replicas: 9 };
    const res = await srv.request('POST', '/apis/apps/v1/namespaces/default/replicasets', body);
    assert.equal(res.status, 201, res.text);
    const created = res.json<{ spec: Obj; status: Obj; metadata: Obj }>();
    assert.equal(created.spec.replicas, 1);
    assert.deepEqual(created.status, { replicas: 0 });
    assert.equal(created.metadata.generation, 1);

    const put = await srv.request('PATCH', '/apis/apps/v1/namespaces/default/replicasets/web/scale', { spec: { replicas: 4 } }, { 'content-type': 'application/merge-patch+json' });
    assert.equal(put.status, 200, put.text);
    const scale = put.json<{ spec: Obj; status: Obj }>();
    assert.equal(scale.spec.replicas, 4);
    assert.equal(scale.status.selector, 'app=web');
    const after = (await srv.request('GET', '/apis/apps/v1/namespaces/default/replicasets/web')).json<{ spec: Obj; metadata: Obj }>();
    assert.equal(after.spec.replicas, 4);
    assert.equal(after.metadata.generation, 2);
  });

  it('answers 422 naming the field for a mismatched selector and for negative replicas', async () => {
    const bad = rs((o) => {
      o.metadata.name = 'bad';
      o.spec.selector = { matchLabels: { app: 'db' } };
      o.spec.replicas = -1;
    });
    const res = await srv.request('POST', '/apis/apps/v1/namespaces/default/replicasets', bad);
    assert.equal(res.status, 422);
    const st = res.json<{ details: { causes: FieldCause[] } }>();
    assert.deepEqual(st.details.causes.map((c) => c.field).sort(), ['spec.replicas', 'spec.template.metadata.labels']);
  });

  it('creates an old-style ReplicationController with a defaulted selector', async () => {
    const body = rc();
    delete body.spec.selector;
    delete body.metadata.labels;
    const res = await srv.request('POST', '/api/v1/namespaces/default/replicationcontrollers', body);
    assert.equal(res.status, 201, res.text);
    const created = res.json<{ spec: Obj; metadata: Obj }>();
    assert.deepEqual(created.spec.selector, { app: 'old' });
    assert.deepEqual(created.metadata.labels, { app: 'old' });
  });
});
