import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  PatchError,
  serverSideApply,
  trackUpdate,
  LAST_APPLIED_ANNOTATION,
  type ServerSideApplyOptions,
} from '../../src/api/patch/index.ts';
import type { KubeObject, ManagedFieldsEntry } from '../../src/registry/types.ts';

type Json = Record<string, unknown>;
const T1 = '2024-05-01T10:00:00Z';
const T2 = '2024-05-01T11:00:00Z';
const T3 = '2024-05-01T12:00:00Z';

function cm(data: Record<string, string>, labels?: Record<string, string>): KubeObject {
  const metadata: Json = { name: 'cfg', namespace: 'default' };
  if (labels) metadata.labels = labels;
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata, data } as KubeObject;
}

function applyCm(live: KubeObject | null, applied: KubeObject, manager: string, now: string, force = false): KubeObject {
  return serverSideApply({ live, applied, manager, force, modelName: 'V1ConfigMap', apiVersion: 'v1', now }).object;
}

function entry(obj: KubeObject, manager: string, operation?: string): ManagedFieldsEntry | undefined {
  return obj.metadata.managedFields?.find((e) => e.manager === manager && (!operation || e.operation === operation));
}

function expectConflict(fn: () => unknown): PatchError {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof PatchError, String(e));
    assert.equal(e.code, 409);
    assert.equal(e.reason, 'Conflict');
    return e;
  }
  assert.fail('expected a conflict');
}

function statefulSet(replicas: number, image: string): KubeObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: { name: 'web', namespace: 'default', labels: { app: 'web' } },
    spec: {
      replicas,
      serviceName: 'web',
      selector: { matchLabels: { app: 'web' } },
      template: {
        metadata: { labels: { app: 'web' } },
        spec: { containers: [{ name: 'nginx', image, ports: [{ containerPort: 80, name: 'http' }] }] },
      },
    },
  } as KubeObject;
}

describe('server-side apply', () => {
  it('first apply creates the object and records an Apply entry in FieldsV1', () => {
    const applied = cm({ a: '1', b: '2' }, { app: 'demo' });
    const out = applyCm(null, applied, 'kubectl', T1);
    assert.deepEqual(out.data, { a: '1', b: '2' });
    assert.deepEqual(out.metadata.labels, { app: 'demo' });
    assert.equal(out.metadata.name, 'cfg');
    assert.deepEqual(out.metadata.managedFields, [
      {
        manager: 'kubectl',
        operation: 'Apply',
        apiVersion: 'v1',
        time: T1,
        fieldsType: 'FieldsV1',
        fieldsV1: { 'f:data': { 'f:a': {}, 'f:b': {} }, 'f:metadata': { 'f:labels': { 'f:app': {} } } },
      },
    ]);
    assert.equal(applied.metadata.managedFields, undefined, 'input not mutated');
  });

  it('a Pod apply keys containers and ports as Kubernetes does', () => {
    const applied = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'p', namespace: 'default' },
      spec: {
        containers: [
          {
            name: 'nginx',
            image: 'nginx',
            ports: [{ containerPort: 80 }],
            env: [{ name: 'A', value: 'x' }],
            resources: {},
          },
        ],
        nodeSelector: { disk: 'ssd' },
      },
    } as KubeObject;
    const out = serverSideApply({ live: null, applied, manager: 'mgr', force: false, modelName: 'V1Pod', apiVersion: 'v1', now: T1 }).object;
    assert.deepEqual(out.metadata.managedFields?.[0]?.fieldsV1, {
      'f:spec': {
        'f:containers': {
          'k:{"name":"nginx"}': {
            '.': {},
            'f:env': { 'k:{"name":"A"}': { '.': {}, 'f:name': {}, 'f:value': {} } },
            'f:image': {},
            'f:name': {},
            'f:ports': { 'k:{"containerPort":80,"protocol":"TCP"}': { '.': {}, 'f:containerPort': {} } },
            'f:resources': {},
          },
        },
        'f:nodeSelector': {},
      },
    });
  });

  it('re-applying without a field removes it; an identical re-apply changes nothing', () => {
    const first = applyCm(null, cm({ a: '1', b: '2' }, { app: 'demo', tier: 'x' }), 'kubectl', T1);
    const second = applyCm(first, cm({ a: '1' }, { app: 'demo' }), 'kubectl', T2);
    assert.deepEqual(second.data, { a: '1' });
    assert.deepEqual(second.metadata.labels, { app: 'demo' });
    const e = entry(second, 'kubectl')!;
    assert.deepEqual(e.fieldsV1, { 'f:data': { 'f:a': {} }, 'f:metadata': { 'f:labels': { 'f:app': {} } } });
    assert.equal(e.time, T2);

    const third = applyCm(second, cm({ a: '1' }, { app: 'demo' }), 'kubectl', T3);
    assert.deepEqual(third, second, 'no-op apply: same object, same managedFields (time kept)');

    const none = applyCm(third, cm({}), 'kubectl', T3);
    assert.equal(none.metadata.labels, undefined, 'a map emptied by pruning goes away');
    assert.deepEqual(none.data, {});
  });

  it('two managers: shared values do not conflict, different values do, force takes over', () => {
    const a = applyCm(null, cm({ x: '1' }), 'alice', T1);
    const ab = applyCm(a, cm({ y: '2' }), 'bob', T2);
    assert.deepEqual(ab.data, { x: '1', y: '2' });
    assert.deepEqual(entry(ab, 'alice')!.fieldsV1, { 'f:data': { 'f:x': {} } });
    assert.deepEqual(entry(ab, 'bob')!.fieldsV1, { 'f:data': { 'f:y': {} } });

    // bob applies x with alice's value: shared ownership.
    const shared = applyCm(ab, cm({ x: '1', y: '2' }), 'bob', T2);
    assert.deepEqual(entry(shared, 'bob')!.fieldsV1, { 'f:data': { 'f:x': {}, 'f:y': {} } });
    assert.deepEqual(entry(shared, 'alice')!.fieldsV1, { 'f:data': { 'f:x': {} } });

    // alice stops applying x: bob still owns it, so it stays.
    const bare = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cfg', namespace: 'default' } } as KubeObject;
    const kept = applyCm(shared, bare, 'alice', T3);
    assert.deepEqual(kept.data, { x: '1', y: '2' });
    assert.equal(entry(kept, 'alice'), undefined, 'an entry left empty is dropped');

    // bob changes x while alice owns it: conflict.
    const e = expectConflict(() => applyCm(ab, cm({ x: '9', y: '2' }), 'bob', T3));
    assert.equal(e.message, 'Apply failed with 1 conflict: conflict with "alice": .data.x');
    assert.deepEqual(e.causes, [{ reason: 'FieldManagerConflict', field: '.data.x', message: 'conflict with "alice"' }]);

    const forced = applyCm(ab, cm({ x: '9', y: '2' }), 'bob', T3, true);
    assert.equal((forced.data as Json).x, '9');
    assert.equal(entry(forced, 'alice'), undefined, "alice's only field went to bob");
    assert.deepEqual(entry(forced, 'bob')!.fieldsV1, { 'f:data': { 'f:x': {}, 'f:y': {} } });
  });

  it('conflict with an Update manager names its apiVersion; several conflicts are listed', () => {
    const created = trackUpdate({ old: null, updated: statefulSet(3, 'nginx:1'), manager: 'kubectl-client-side-apply', modelName: 'V1StatefulSet', apiVersion: 'apps/v1', now: T1 });
    const opts: ServerSideApplyOptions = {
      live: created,
      applied: { apiVersion: 'apps/v1', kind: 'StatefulSet', metadata: { name: 'web', namespace: 'default' }, spec: { replicas: 5 } } as KubeObject,
      manager: 'hpa',
      force: false,
      modelName: 'V1StatefulSet',
      apiVersion: 'apps/v1',
      now: T2,
    };
    const e = expectConflict(() => serverSideApply(opts));
    assert.equal(e.message, 'Apply failed with 1 conflict: conflict with "kubectl-client-side-apply" using apps/v1: .spec.replicas');
    assert.deepEqual(e.causes, [
      { reason: 'FieldManagerConflict', field: '.spec.replicas', message: 'conflict with "kubectl-client-side-apply" using apps/v1' },
    ]);

    const two = expectConflict(() =>
      serverSideApply({
        ...opts,
        applied: {
          apiVersion: 'apps/v1',
          kind: 'StatefulSet',
          metadata: { name: 'web', namespace: 'default' },
          spec: { replicas: 5, template: { spec: { containers: [{ name: 'nginx', image: 'nginx:2' }] } } },
        } as KubeObject,
      }),
    );
    assert.equal(
      two.message,
      'Apply failed with 2 conflicts: conflicts with "kubectl-client-side-apply" using apps/v1:\n' +
        '- .spec.replicas\n- .spec.template.spec.containers[name="nginx"].image',
    );
    assert.deepEqual(
      two.causes?.map((c) => c.field),
      ['.spec.replicas', '.spec.template.spec.containers[name="nginx"].image'],
    );

    const forced = serverSideApply({ ...opts, force: true }).object;
    assert.equal((forced.spec as Json).replicas, 5);
    const hpa = entry(forced, 'hpa')!;
    assert.equal(hpa.operation, 'Apply');
    assert.deepEqual(hpa.fieldsV1, { 'f:spec': { 'f:replicas': {} } });
    const csa = entry(forced, 'kubectl-client-side-apply')!;
    assert.equal(((csa.fieldsV1 as Json)['f:spec'] as Json)['f:replicas'], undefined);
    assert.ok(((csa.fieldsV1 as Json)['f:spec'] as Json)['f:template'], 'the rest stays with its owner');
    assert.deepEqual(
      forced.metadata.managedFields?.map((m) => m.operation),
      ['Apply', 'Update'],
      'Apply entries sort first',
    );
  });

  it('kubectl --server-side takes over fields of the client-side last-applied configuration', () => {
    const config = statefulSet(3, 'nginx:1');
    const withAnnotation = structuredClone(config);
    withAnnotation.metadata.annotations = { [LAST_APPLIED_ANNOTATION]: JSON.stringify(config) };
    const live = trackUpdate({ old: null, updated: withAnnotation, manager: 'kubectl-client-side-apply', modelName: 'V1StatefulSet', apiVersion: 'apps/v1', now: T1 });
    const applied = statefulSet(4, 'nginx:1');
    const out = serverSideApply({ live, applied, manager: 'kubectl', force: false, modelName: 'V1StatefulSet', apiVersion: 'apps/v1', now: T2 }).object;
    assert.equal((out.spec as Json).replicas, 4);
    assert.equal(out.metadata.annotations?.[LAST_APPLIED_ANNOTATION], JSON.stringify(applied), 'annotation kept in sync');
    // Another manager name gets the conflict.
    expectConflict(() => serverSideApply({ live, applied, manager: 'other', force: false, modelName: 'V1StatefulSet', apiVersion: 'apps/v1', now: T2 }));
  });

  it('list items: another manager’s item survives a re-apply; dropping an own item removes it', () => {
    const base = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'p', namespace: 'default' },
      spec: { containers: [{ name: 'app', image: 'app:1' }, { name: 'helper', image: 'h:1' }] },
    } as KubeObject;
    const first = serverSideApply({ live: null, applied: base, manager: 'me', force: false, modelName: 'V1Pod', apiVersion: 'v1', now: T1 }).object;
    // An injector adds a sidecar with a plain update.
    const injected = structuredClone(first);
    (injected.spec as { containers: Json[] }).containers.push({ name: 'proxy', image: 'envoy' });
    const afterInject = trackUpdate({ old: first, updated: injected, manager: 'injector', modelName: 'V1Pod', apiVersion: 'v1', now: T2 });
    assert.deepEqual(entry(afterInject, 'injector')!.fieldsV1, {
      'f:spec': { 'f:containers': { 'k:{"name":"proxy"}': { '.': {}, 'f:image': {}, 'f:name': {} } } },
    });
    const reapplied = serverSideApply({
      live: afterInject,
      applied: { ...base, spec: { containers: [{ name: 'app', image: 'app:2' }] } } as KubeObject,
      manager: 'me',
      force: false,
      modelName: 'V1Pod',
      apiVersion: 'v1',
      now: T3,
    }).object;
    assert.deepEqual((reapplied.spec as Json).containers, [
      { name: 'app', image: 'app:2' },
      { name: 'proxy', image: 'envoy' },
    ]);
  });

  it('an item dropped by its applier keeps its key and what others own', () => {
    const base = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'p' },
      spec: { containers: [{ name: 'app', image: 'app:1' }, { name: 'helper', image: 'h:1', args: ['x'] }] },
    } as KubeObject;
    const first = serverSideApply({ live: null, applied: base, manager: 'me', force: false, modelName: 'V1Pod', apiVersion: 'v1', now: T1 }).object;
    const edited = structuredClone(first);
    (edited.spec as { containers: Json[] }).containers[1]!.image = 'h:2';
    const afterEdit = trackUpdate({ old: first, updated: edited, manager: 'editor', modelName: 'V1Pod', apiVersion: 'v1', now: T2 });
    const out = serverSideApply({
      live: afterEdit,
      applied: { ...base, spec: { containers: [{ name: 'app', image: 'app:1' }] } } as KubeObject,
      manager: 'me',
      force: false,
      modelName: 'V1Pod',
      apiVersion: 'v1',
      now: T3,
    }).object;
    assert.deepEqual((out.spec as Json).containers, [
      { name: 'app', image: 'app:1' },
      { name: 'helper', image: 'h:2' },
    ]);
  });

  it('objects without managedFields: their fields belong to before-first-apply', () => {
    const live = cm({ a: '1' });
    const e = expectConflict(() => applyCm(live, cm({ a: '2' }), 'kubectl', T1));
    assert.equal(e.causes?.[0]?.message, 'conflict with "before-first-apply" using v1');
    const ok = applyCm(live, cm({ a: '1', b: '2' }), 'kubectl', T1);
    // (ConfigMap data is a map absent from the zero object: added as a whole, hence ".")
    assert.deepEqual(entry(ok, 'before-first-apply', 'Update')!.fieldsV1, { 'f:data': { '.': {}, 'f:a': {} } });
  });

  it('status is not applied or owned through the main resource; the status subresource owns only status', () => {
    const applied = { ...cm({ a: '1' }), status: { phase: 'x' } } as KubeObject;
    const out = applyCm(null, applied, 'm', T1);
    assert.equal(out.status, undefined);

    const sts = trackUpdate({ old: null, updated: statefulSet(1, 'i'), manager: 'create', modelName: 'V1StatefulSet', apiVersion: 'apps/v1', now: T1 });
    const st = serverSideApply({
      live: sts,
      applied: { apiVersion: 'apps/v1', kind: 'StatefulSet', metadata: { name: 'web' }, spec: { replicas: 9 }, status: { replicas: 1, readyReplicas: 1 } } as KubeObject,
      manager: 'controller',
      force: false,
      modelName: 'V1StatefulSet',
      apiVersion: 'apps/v1',
      subresource: 'status',
      now: T2,
    }).object;
    assert.equal((st.spec as Json).replicas, 1, 'spec ignored on the status subresource');
    const e = entry(st, 'controller')!;
    assert.equal(e.subresource, 'status');
    assert.deepEqual(e.fieldsV1, { 'f:status': { 'f:readyReplicas': {}, 'f:replicas': {} } });
  });

  it('rejects managedFields in the configuration, a missing manager, and unkeyable lists', () => {
    const bad = cm({ a: '1' });
    bad.metadata.managedFields = [];
    for (const [live, applied, manager, code] of [
      [null, bad, 'm', 400],
      [null, cm({}), '', 400],
      [
        null,
        { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, spec: { containers: [{ name: 'a' }, { name: 'a' }] } },
        'm',
        422,
      ],
      [null, { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, spec: { containers: [{ image: 'x' }] } }, 'm', 422],
    ] as const) {
      assert.throws(
        () => serverSideApply({ live, applied: applied as KubeObject, manager, force: false, modelName: 'V1Pod', apiVersion: 'v1', now: T1 }),
        (e: unknown) => e instanceof PatchError && e.code === code,
      );
    }
  });
});

describe('trackUpdate', () => {
  it('a create gives the creator every field it set, in Kubernetes’ shape', () => {
    const out = trackUpdate({ old: null, updated: statefulSet(2, 'nginx:1'), manager: 'kubectl-create', modelName: 'V1StatefulSet', apiVersion: 'apps/v1', now: T1 });
    assert.deepEqual(out.metadata.managedFields, [
      {
        manager: 'kubectl-create',
        operation: 'Update',
        apiVersion: 'apps/v1',
        time: T1,
        fieldsType: 'FieldsV1',
        fieldsV1: {
          'f:metadata': { 'f:labels': { '.': {}, 'f:app': {} } },
          'f:spec': {
            'f:replicas': {},
            'f:selector': {},
            'f:serviceName': {},
            'f:template': {
              'f:metadata': { 'f:labels': { '.': {}, 'f:app': {} } },
              'f:spec': {
                'f:containers': {
                  'k:{"name":"nginx"}': {
                    '.': {},
                    'f:image': {},
                    'f:name': {},
                    'f:ports': {
                      '.': {},
                      'k:{"containerPort":80,"protocol":"TCP"}': { '.': {}, 'f:containerPort': {}, 'f:name': {} },
                    },
                  },
                },
              },
            },
          },
        },
      },
    ]);
  });

  it('a kubectl edit-like update moves the changed fields to the editor', () => {
    const created = trackUpdate({ old: null, updated: statefulSet(2, 'nginx:1'), manager: 'kubectl-create', modelName: 'V1StatefulSet', apiVersion: 'apps/v1', now: T1 });
    const edited = structuredClone(created);
    (edited.spec as Json).replicas = 3;
    ((edited.spec as { template: { spec: { containers: Json[] } } }).template.spec.containers[0]!).image = 'nginx:2';
    delete edited.metadata.labels;
    edited.metadata.annotations = { note: 'x' };
    edited.metadata.resourceVersion = '42';
    const out = trackUpdate({ old: created, updated: edited, manager: 'kubectl-edit', modelName: 'V1StatefulSet', apiVersion: 'apps/v1', now: T2 });
    assert.deepEqual(
      out.metadata.managedFields?.map((e) => [e.manager, e.operation, e.time]),
      [
        ['kubectl-create', 'Update', T1],
        ['kubectl-edit', 'Update', T2],
      ],
    );
    assert.deepEqual(entry(out, 'kubectl-edit')!.fieldsV1, {
      'f:metadata': { 'f:annotations': { '.': {}, 'f:note': {} } },
      'f:spec': {
        'f:replicas': {},
        'f:template': { 'f:spec': { 'f:containers': { 'k:{"name":"nginx"}': { 'f:image': {} } } } },
      },
    });
    const creator = entry(out, 'kubectl-create')!.fieldsV1 as Json;
    assert.equal(creator['f:metadata'], undefined, 'removed labels leave the creator');
    const spec = creator['f:spec'] as Json;
    assert.equal(spec['f:replicas'], undefined);
    assert.deepEqual(
      ((((spec['f:template'] as Json)['f:spec'] as Json)['f:containers'] as Json)['k:{"name":"nginx"}'] as Json)['f:image'],
      undefined,
    );
    assert.ok(spec['f:serviceName']);

    // The same editor again: its entry grows, the time moves.
    const again = structuredClone(out);
    (again.spec as Json).serviceName = 'web2';
    const out2 = trackUpdate({ old: out, updated: again, manager: 'kubectl-edit', modelName: 'V1StatefulSet', apiVersion: 'apps/v1', now: T3 });
    const ed = entry(out2, 'kubectl-edit')!;
    assert.equal(ed.time, T3);
    assert.ok(((ed.fieldsV1 as Json)['f:spec'] as Json)['f:serviceName']);
    assert.ok(((ed.fieldsV1 as Json)['f:spec'] as Json)['f:replicas']);
    assert.equal(out2.metadata.managedFields?.filter((e) => e.manager === 'kubectl-edit').length, 1);
  });

  it('a no-op update leaves managedFields exactly as they were', () => {
    const created = trackUpdate({ old: null, updated: statefulSet(2, 'nginx:1'), manager: 'kubectl-create', modelName: 'V1StatefulSet', apiVersion: 'apps/v1', now: T1 });
    const out = trackUpdate({ old: created, updated: structuredClone(created), manager: 'kubectl-edit', modelName: 'V1StatefulSet', apiVersion: 'apps/v1', now: T2 });
    assert.deepEqual(out, created);
  });

  it('status-subresource writes own only status; main-resource writes never own status', () => {
    const created = trackUpdate({ old: null, updated: { ...statefulSet(2, 'i'), status: { replicas: 0 } } as KubeObject, manager: 'create', modelName: 'V1StatefulSet', apiVersion: 'apps/v1', now: T1 });
    assert.equal((entry(created, 'create')!.fieldsV1 as Json)['f:status'], undefined);
    const next = structuredClone(created);
    next.status = { replicas: 2, readyReplicas: 2 };
    (next.spec as Json).replicas = 7;
    const out = trackUpdate({ old: created, updated: next, manager: 'kennel-controller', modelName: 'V1StatefulSet', apiVersion: 'apps/v1', subresource: 'status', now: T2 });
    const e = entry(out, 'kennel-controller')!;
    assert.equal(e.subresource, 'status');
    assert.deepEqual(e.fieldsV1, { 'f:status': { 'f:readyReplicas': {}, 'f:replicas': {} } });
  });

  it('scale-subresource writes are their own entry', () => {
    const created = trackUpdate({ old: null, updated: statefulSet(2, 'i'), manager: 'create', modelName: 'V1StatefulSet', apiVersion: 'apps/v1', now: T1 });
    const next = structuredClone(created);
    (next.spec as Json).replicas = 5;
    const out = trackUpdate({ old: created, updated: next, manager: 'kubectl', modelName: 'V1StatefulSet', apiVersion: 'apps/v1', subresource: 'scale', now: T2 });
    assert.deepEqual(entry(out, 'kubectl')!.fieldsV1, { 'f:spec': { 'f:replicas': {} } });
    assert.equal(entry(out, 'kubectl')!.subresource, 'scale');
  });

  it('managedFields [{}] strips them; untracked objects stay untracked until applied', () => {
    const created = trackUpdate({ old: null, updated: cm({ a: '1' }), manager: 'c', modelName: 'V1ConfigMap', apiVersion: 'v1', now: T1 });
    const reset = structuredClone(created);
    reset.metadata.managedFields = [{}];
    const out = trackUpdate({ old: created, updated: reset, manager: 'x', modelName: 'V1ConfigMap', apiVersion: 'v1', now: T2 });
    assert.equal(out.metadata.managedFields, undefined);
    const changed = structuredClone(out);
    (changed.data as Json).a = '2';
    assert.equal(trackUpdate({ old: out, updated: changed, manager: 'x', modelName: 'V1ConfigMap', apiVersion: 'v1', now: T3 }).metadata.managedFields, undefined);
  });

  it('a client may rewrite managedFields; otherwise the old ones are kept', () => {
    const created = trackUpdate({ old: null, updated: cm({ a: '1', b: '2' }), manager: 'c', modelName: 'V1ConfigMap', apiVersion: 'v1', now: T1 });
    const rewritten = structuredClone(created);
    rewritten.metadata.managedFields = [
      { manager: 'someone', operation: 'Apply', apiVersion: 'v1', time: T1, fieldsType: 'FieldsV1', fieldsV1: { 'f:data': { 'f:a': {} } } },
    ];
    const out = trackUpdate({ old: created, updated: rewritten, manager: 'x', modelName: 'V1ConfigMap', apiVersion: 'v1', now: T2 });
    assert.deepEqual(out.metadata.managedFields?.map((e) => e.manager), ['someone']);
    const stripped = structuredClone(created);
    delete stripped.metadata.managedFields;
    (stripped.data as Json).b = '3';
    const out2 = trackUpdate({ old: created, updated: stripped, manager: 'x', modelName: 'V1ConfigMap', apiVersion: 'v1', now: T2 });
    assert.deepEqual(out2.metadata.managedFields?.map((e) => e.manager), ['c', 'x']);
  });

  it('more than ten Update managers fold the oldest into ancient-changes', () => {
    let obj = trackUpdate({ old: null, updated: cm({ k0: 'v' }), manager: 'm0', modelName: 'V1ConfigMap', apiVersion: 'v1', now: '2024-01-01T00:00:00Z' });
    for (let i = 1; i <= 11; i++) {
      const next = structuredClone(obj);
      (next.data as Json)[`k${i}`] = 'v';
      obj = trackUpdate({ old: obj, updated: next, manager: `m${i}`, modelName: 'V1ConfigMap', apiVersion: 'v1', now: `2024-01-01T00:00:${String(i).padStart(2, '0')}Z` });
    }
    const managers = obj.metadata.managedFields!.map((e) => e.manager);
    assert.equal(managers.length, 10);
    assert.equal(managers[0], 'ancient-changes');
    assert.deepEqual(entry(obj, 'ancient-changes')!.fieldsV1, { 'f:data': { '.': {}, 'f:k0': {}, 'f:k1': {}, 'f:k2': {} } });
  });
});

describe('parseApplyPatch', () => {
  it('parses YAML and JSON bodies into the configuration', async () => {
    const { parseApplyPatch } = await import('../../src/api/patch/index.ts');
    const yamlBody = 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\ndata:\n  a: "1"\n';
    assert.deepEqual(parseApplyPatch(yamlBody), { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cfg' }, data: { a: '1' } });
    const jsonBody = JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cfg' } });
    assert.deepEqual(parseApplyPatch(new TextEncoder().encode(jsonBody)), JSON.parse(jsonBody));
    for (const bad of ['a: [1\n', '- 1\n- 2\n', 'a: 1\na: 2\n', '', 'a: 1\n---\nb: 2\n', 'metadata: 3\n', 'a: &x [*x]\n']) {
      assert.throws(() => parseApplyPatch(bad), (e: unknown) => e instanceof PatchError && e.code === 400, bad);
    }
  });
});
