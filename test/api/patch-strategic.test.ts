import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  applyStrategicMergePatch,
  PatchError,
  strategicMergeSupported,
} from '../../src/api/patch/index.ts';

type Json = Record<string, unknown>;

function pod(): Json {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'web', labels: { app: 'web' }, finalizers: ['example.com/a'] },
    spec: {
      containers: [
        {
          name: 'nginx',
          image: 'nginx:1.25',
          env: [
            { name: 'A', value: '1' },
            { name: 'B', value: '2' },
          ],
          ports: [{ containerPort: 80, protocol: 'TCP' }],
          volumeMounts: [{ name: 'data', mountPath: '/data' }],
        },
        { name: 'sidecar', image: 'busybox' },
      ],
      volumes: [{ name: 'data', emptyDir: {} }],
      tolerations: [{ key: 'a', operator: 'Exists' }],
    },
    status: { phase: 'Running' },
  };
}

function containers(p: unknown): Json[] {
  return ((p as Json).spec as Json).containers as Json[];
}
function names(list: Json[]): unknown[] {
  return list.map((c) => c.name);
}

function expectPatchError(fn: () => unknown, code: number, text?: string): PatchError {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof PatchError, `expected PatchError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    if (text) assert.ok(e.message.includes(text) || e.causes?.some((c) => c.message.includes(text)), e.message);
    return e;
  }
  assert.fail('expected an error');
}

describe('strategic merge patch on a Pod', () => {
  const table: { name: string; patch: Json; check(out: Json): void }[] = [
    {
      name: 'adds a container by name (new items come first, as in Kubernetes)',
      patch: { spec: { containers: [{ name: 'logger', image: 'fluentd' }] } },
      check(out) {
        assert.deepEqual(names(containers(out)), ['logger', 'nginx', 'sidecar']);
        assert.deepEqual(containers(out)[0], { name: 'logger', image: 'fluentd' });
        assert.deepEqual(containers(out)[1], containers(pod())[0]);
      },
    },
    {
      name: "changes one container's image and leaves the rest",
      patch: { spec: { containers: [{ name: 'sidecar', image: 'busybox:2' }] } },
      check(out) {
        assert.deepEqual(names(containers(out)), ['nginx', 'sidecar']);
        assert.deepEqual(containers(out)[1], { name: 'sidecar', image: 'busybox:2' });
        assert.deepEqual(containers(out)[0], containers(pod())[0]);
        assert.deepEqual(out.status, { phase: 'Running' });
      },
    },
    {
      name: 'deletes a container with $patch: delete',
      patch: { spec: { containers: [{ name: 'sidecar', $patch: 'delete' }] } },
      check(out) {
        assert.deepEqual(names(containers(out)), ['nginx']);
      },
    },
    {
      name: 'merges env by name (changed kept in place, new after the original ones it follows)',
      patch: {
        spec: {
          containers: [
            {
              name: 'nginx',
              env: [
                { name: 'B', value: '20' },
                { name: 'C', value: '3' },
              ],
            },
          ],
        },
      },
      check(out) {
        assert.deepEqual(containers(out)[0]!.env, [
          { name: 'A', value: '1' },
          { name: 'B', value: '20' },
          { name: 'C', value: '3' },
        ]);
        assert.equal(containers(out)[0]!.image, 'nginx:1.25');
      },
    },
    {
      name: 'null inside a merged item deletes that field only; $patch: delete drops an env var',
      patch: {
        spec: {
          containers: [
            {
              name: 'nginx',
              env: [
                { name: 'A', value: null },
                { name: 'B', $patch: 'delete' },
              ],
            },
          ],
        },
      },
      check(out) {
        assert.deepEqual(containers(out)[0]!.env, [{ name: 'A' }]);
      },
    },
    {
      name: 'merges ports by containerPort and volumeMounts by mountPath',
      patch: {
        spec: {
          containers: [
            {
              name: 'nginx',
              ports: [{ containerPort: 443, protocol: 'TCP' }],
              volumeMounts: [
                { name: 'data', mountPath: '/data', readOnly: true },
                { name: 'cache', mountPath: '/cache' },
              ],
            },
          ],
        },
      },
      check(out) {
        const c = containers(out)[0]!;
        assert.deepEqual(c.ports, [
          { containerPort: 443, protocol: 'TCP' },
          { containerPort: 80, protocol: 'TCP' },
        ]);
        assert.deepEqual(c.volumeMounts, [
          { name: 'data', mountPath: '/data', readOnly: true },
          { name: 'cache', mountPath: '/cache' },
        ]);
      },
    },
    {
      name: 'replaces tolerations (no patch strategy)',
      patch: { spec: { tolerations: [{ key: 'b', operator: 'Exists', effect: 'NoSchedule' }] } },
      check(out) {
        assert.deepEqual((out.spec as Json).tolerations, [{ key: 'b', operator: 'Exists', effect: 'NoSchedule' }]);
      },
    },
    {
      name: '$setElementOrder reorders without changing items',
      patch: { spec: { '$setElementOrder/containers': [{ name: 'sidecar' }, { name: 'nginx' }] } },
      check(out) {
        assert.deepEqual(names(containers(out)), ['sidecar', 'nginx']);
        assert.deepEqual(containers(out)[1], containers(pod())[0]);
      },
    },
    {
      name: '$setElementOrder places a new item where the order says',
      patch: {
        spec: {
          '$setElementOrder/containers': [{ name: 'nginx' }, { name: 'new' }, { name: 'sidecar' }],
          containers: [{ name: 'new', image: 'x' }],
        },
      },
      check(out) {
        assert.deepEqual(names(containers(out)), ['nginx', 'new', 'sidecar']);
        assert.ok(!('$setElementOrder/containers' in (out.spec as Json)));
      },
    },
    {
      name: '$retainKeys on a volume switches its source',
      patch: {
        spec: { volumes: [{ name: 'data', $retainKeys: ['hostPath', 'name'], hostPath: { path: '/srv' } }] },
      },
      check(out) {
        assert.deepEqual((out.spec as Json).volumes, [{ name: 'data', hostPath: { path: '/srv' } }]);
      },
    },
    {
      name: 'finalizers merge as a set (new ones first)',
      patch: { metadata: { finalizers: ['example.com/b', 'example.com/a'] } },
      check(out) {
        assert.deepEqual((out.metadata as Json).finalizers, ['example.com/b', 'example.com/a']);
      },
    },
    {
      name: 'a finalizer added alone is merged, not replacing',
      patch: { metadata: { finalizers: ['example.com/b'] } },
      check(out) {
        assert.deepEqual((out.metadata as Json).finalizers, ['example.com/b', 'example.com/a']);
      },
    },
    {
      name: '$deleteFromPrimitiveList removes finalizers',
      patch: { metadata: { '$deleteFromPrimitiveList/finalizers': ['example.com/a'] } },
      check(out) {
        assert.deepEqual((out.metadata as Json).finalizers, []);
      },
    },
    {
      name: 'null deletes a label; new labels merge',
      patch: { metadata: { labels: { app: null, tier: 'front' } } },
      check(out) {
        assert.deepEqual((out.metadata as Json).labels, { tier: 'front' });
      },
    },
    {
      name: '$patch: replace on a map replaces it',
      patch: { metadata: { labels: { $patch: 'replace', only: 'this' } } },
      check(out) {
        assert.deepEqual((out.metadata as Json).labels, { only: 'this' });
      },
    },
    {
      name: '$patch: replace in a merged list replaces the list',
      patch: { spec: { containers: [{ name: 'solo', image: 'x' }, { $patch: 'replace' }] } },
      check(out) {
        assert.deepEqual(containers(out), [{ name: 'solo', image: 'x' }]);
      },
    },
    {
      name: '$patch: delete on a map empties it',
      patch: { metadata: { labels: { $patch: 'delete' } } },
      check(out) {
        assert.deepEqual((out.metadata as Json).labels, {});
      },
    },
    {
      name: 'a new list field is taken from the patch with its directives applied',
      patch: {
        spec: {
          imagePullSecrets: [{ name: 'reg' }, { name: 'gone', $patch: 'delete' }],
          hostAliases: [{ ip: '10.0.0.1', hostnames: ['db'] }],
        },
      },
      check(out) {
        assert.deepEqual((out.spec as Json).imagePullSecrets, [{ name: 'reg' }]);
        assert.deepEqual((out.spec as Json).hostAliases, [{ ip: '10.0.0.1', hostnames: ['db'] }]);
      },
    },
  ];
  for (const tc of table) {
    it(tc.name, () => {
      const doc = pod();
      const patch = structuredClone(tc.patch);
      const out = applyStrategicMergePatch(doc, patch, 'V1Pod') as Json;
      tc.check(out);
      assert.deepEqual(doc, pod(), 'document not mutated');
      assert.deepEqual(patch, tc.patch, 'patch not mutated');
    });
  }

  const errors: { name: string; patch: unknown; code: number; text: string }[] = [
    { name: 'item without its merge key', patch: { spec: { containers: [{ image: 'x' }] } }, code: 400, text: 'does not contain declared merge key: name' },
    { name: 'list of lists', patch: { spec: { imagePullSecrets: [['x']] } }, code: 422, text: 'lists of lists are not supported' },
    { name: 'retainKeys that is not a list', patch: { spec: { volumes: [{ name: 'data', $retainKeys: 'x' }] } }, code: 400, text: 'invalid patch format of retainKeys' },
    { name: 'patch key missing from retainKeys', patch: { spec: { volumes: [{ name: 'data', $retainKeys: ['name'], hostPath: { path: '/x' } }] } }, code: 400, text: 'retainKeys' },
    { name: 'unknown $patch directive', patch: { metadata: { labels: { $patch: 'frob' } } }, code: 400, text: 'unknown patch type: frob' },
    { name: '$patch: merge in a list', patch: { spec: { containers: [{ name: 'x', $patch: 'merge' }] } }, code: 400, text: 'merging lists cannot yet be specified' },
    { name: 'setElementOrder not matching the patch list', patch: { spec: { '$setElementOrder/containers': [{ name: 'nginx' }], containers: [{ name: 'other', image: 'x' }] } }, code: 400, text: "doesn't match" },
    { name: 'a patch that is not an object', patch: [{ op: 'add' }], code: 400, text: 'cannot unmarshal array' },
  ];
  for (const tc of errors) {
    it(`error: ${tc.name} → ${tc.code}`, () => {
      expectPatchError(() => applyStrategicMergePatch(pod(), tc.patch, 'V1Pod'), tc.code, tc.text);
    });
  }
});

describe('strategic merge patch on workloads', () => {
  it('kubectl patch statefulset mysql -p {"spec":{"updateStrategy":{…partition: 2}}}', () => {
    const sts = {
      apiVersion: 'apps/v1',
      kind: 'StatefulSet',
      metadata: { name: 'mysql', namespace: 'default' },
      spec: {
        replicas: 3,
        serviceName: 'mysql',
        selector: { matchLabels: { app: 'mysql' } },
        updateStrategy: { type: 'RollingUpdate', rollingUpdate: { partition: 0 } },
        template: {
          metadata: { labels: { app: 'mysql' } },
          spec: { containers: [{ name: 'mysql', image: 'mysql:8.0' }] },
        },
        volumeClaimTemplates: [{ metadata: { name: 'data' }, spec: { accessModes: ['ReadWriteOnce'] } }],
      },
    };
    const patch = JSON.parse('{"spec":{"updateStrategy":{"type":"RollingUpdate","rollingUpdate":{"partition":2}}}}');
    const out = applyStrategicMergePatch(sts, patch, 'V1StatefulSet') as typeof sts;
    assert.deepEqual(out.spec.updateStrategy, { type: 'RollingUpdate', rollingUpdate: { partition: 2 } });
    assert.deepEqual({ ...out.spec, updateStrategy: null }, { ...sts.spec, updateStrategy: null });
    assert.equal(sts.spec.updateStrategy.rollingUpdate.partition, 0);

    // volumeClaimTemplates have no strategy: a patch replaces them.
    const out2 = applyStrategicMergePatch(
      sts,
      { spec: { volumeClaimTemplates: [{ metadata: { name: 'logs' } }] } },
      'V1StatefulSet',
    ) as typeof sts;
    assert.deepEqual(out2.spec.volumeClaimTemplates, [{ metadata: { name: 'logs' } }]);

    // containers of the pod template merge by name.
    const out3 = applyStrategicMergePatch(
      sts,
      { spec: { template: { spec: { containers: [{ name: 'mysql', image: 'mysql:8.4' }] } } } },
      'V1StatefulSet',
    ) as typeof sts;
    assert.deepEqual(out3.spec.template.spec.containers, [{ name: 'mysql', image: 'mysql:8.4' }]);
  });

  it('kubectl rollout restart: a template annotation is merged in', () => {
    const ds = {
      spec: { template: { metadata: { labels: { app: 'x' } }, spec: { containers: [{ name: 'c', image: 'i' }] } } },
    };
    const patch = {
      spec: { template: { metadata: { annotations: { 'kubectl.kubernetes.io/restartedAt': '2024-01-01T00:00:00Z' } } } },
    };
    const out = applyStrategicMergePatch(ds, patch, 'V1DaemonSet') as { spec: { template: { metadata: Json } } };
    assert.deepEqual(out.spec.template.metadata, {
      labels: { app: 'x' },
      annotations: { 'kubectl.kubernetes.io/restartedAt': '2024-01-01T00:00:00Z' },
    });
  });

  it('Service ports merge by port; selector (no strategy on a map) merges', () => {
    const svc = {
      spec: {
        selector: { app: 'web' },
        ports: [
          { name: 'http', port: 80, targetPort: 8080 },
          { name: 'https', port: 443, targetPort: 8443 },
        ],
      },
    };
    const out = applyStrategicMergePatch(
      svc,
      { spec: { ports: [{ port: 80, targetPort: 9090 }], selector: { tier: 'front' } } },
      'V1Service',
    ) as typeof svc;
    assert.deepEqual(out.spec.ports, [
      { name: 'http', port: 80, targetPort: 9090 },
      { name: 'https', port: 443, targetPort: 8443 },
    ]);
    assert.deepEqual(out.spec.selector, { app: 'web', tier: 'front' });
  });

  it('PodDisruptionBudget selector has strategy replace', () => {
    const pdb = { spec: { minAvailable: 1, selector: { matchLabels: { app: 'a', tier: 't' } } } };
    const out = applyStrategicMergePatch(pdb, { spec: { selector: { matchLabels: { app: 'b' } } } }, 'V1PodDisruptionBudget');
    assert.deepEqual(out, { spec: { minAvailable: 1, selector: { matchLabels: { app: 'b' } } } });
  });

  it('Node status conditions merge by type', () => {
    const node = {
      status: {
        conditions: [
          { type: 'Ready', status: 'True' },
          { type: 'DiskPressure', status: 'False' },
        ],
      },
    };
    const out = applyStrategicMergePatch(node, { status: { conditions: [{ type: 'Ready', status: 'False' }] } }, 'V1Node');
    assert.deepEqual(out, {
      status: {
        conditions: [
          { type: 'Ready', status: 'False' },
          { type: 'DiskPressure', status: 'False' },
        ],
      },
    });
  });

  it('ownerReferences merge by uid', () => {
    const cm = { metadata: { ownerReferences: [{ uid: '1', name: 'a', kind: 'X', apiVersion: 'v1' }] } };
    const out = applyStrategicMergePatch(
      cm,
      { metadata: { ownerReferences: [{ uid: '2', name: 'b', kind: 'X', apiVersion: 'v1' }] } },
      'V1ConfigMap',
    ) as typeof cm;
    assert.deepEqual(
      out.metadata.ownerReferences.map((o) => o.uid),
      ['2', '1'],
    );
  });
});

describe('the client-side kubectl apply flow', () => {
  it('applies the three-way patch kubectl computes, with the last-applied annotation', () => {
    const LAST = 'kubectl.kubernetes.io/last-applied-configuration';
    const oldConfig = {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'web', namespace: 'default' },
      spec: {
        replicas: 2,
        selector: { matchLabels: { app: 'web' } },
        template: {
          metadata: { labels: { app: 'web' } },
          spec: {
            containers: [
              {
                name: 'nginx',
                image: 'nginx:1.25',
                env: [
                  { name: 'A', value: '1' },
                  { name: 'B', value: '2' },
                ],
              },
            ],
          },
        },
      },
    };
    const live = {
      ...structuredClone(oldConfig),
      metadata: {
        name: 'web',
        namespace: 'default',
        uid: 'u1',
        resourceVersion: '7',
        annotations: { [LAST]: JSON.stringify(oldConfig) + '\n', 'deployment.kubernetes.io/revision': '1' },
      },
      spec: {
        ...structuredClone(oldConfig.spec),
        strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: '25%', maxUnavailable: '25%' } },
        template: {
          metadata: { labels: { app: 'web' } },
          spec: {
            containers: [
              {
                name: 'nginx',
                image: 'nginx:1.25',
                imagePullPolicy: 'IfNotPresent',
                env: [
                  { name: 'A', value: '1' },
                  { name: 'B', value: '2' },
                ],
              },
              // added by someone else (not in last-applied): apply must keep it
              { name: 'injected', image: 'proxy' },
            ],
            restartPolicy: 'Always',
          },
        },
      },
      status: { replicas: 2 },
    };
    const newConfig = structuredClone(oldConfig) as Json;
    // The user's new manifest: new image, env A dropped, a label, strategy Recreate.
    const patch = {
      metadata: {
        annotations: { [LAST]: JSON.stringify(newConfig) + '\n' },
        labels: { tier: 'web' },
      },
      spec: {
        strategy: { $retainKeys: ['type'], type: 'Recreate' },
        template: {
          spec: {
            '$setElementOrder/containers': [{ name: 'nginx' }],
            containers: [
              {
                '$setElementOrder/env': [{ name: 'B' }],
                env: [{ $patch: 'delete', name: 'A' }],
                image: 'nginx:1.26',
                name: 'nginx',
              },
            ],
          },
        },
      },
    };
    const out = applyStrategicMergePatch(live, patch, 'V1Deployment') as typeof live & { metadata: Json };
    assert.equal(out.metadata.annotations[LAST], JSON.stringify(newConfig) + '\n');
    assert.equal(out.metadata.annotations['deployment.kubernetes.io/revision'], '1');
    assert.deepEqual(out.metadata.labels, { tier: 'web' });
    assert.deepEqual(out.spec.strategy, { type: 'Recreate' });
    assert.deepEqual(out.spec.template.spec.containers, [
      { name: 'nginx', image: 'nginx:1.26', imagePullPolicy: 'IfNotPresent', env: [{ name: 'B', value: '2' }] },
      { name: 'injected', image: 'proxy' },
    ]);
    assert.equal(out.spec.template.spec.restartPolicy, 'Always');
    assert.equal(out.spec.replicas, 2);
    assert.deepEqual(out.status, { replicas: 2 });
    assert.equal(out.metadata.resourceVersion, '7');
  });
});

describe('kinds without Go types', () => {
  it('strategicMergeSupported answers by model', () => {
    assert.equal(strategicMergeSupported('V1Pod'), true);
    assert.equal(strategicMergeSupported('V1StatefulSet'), true);
    assert.equal(strategicMergeSupported('CoreV1Event'), true);
    assert.equal(strategicMergeSupported('ExampleComV1Widget'), false);
    assert.equal(strategicMergeSupported('constructor'), false);
  });

  it('an unknown model behaves as a JSON merge patch', () => {
    const doc = { spec: { items: [{ name: 'a', v: 1 }], keep: true } };
    const out = applyStrategicMergePatch(doc, { spec: { items: [{ name: 'b' }] } }, 'ExampleComV1Widget');
    assert.deepEqual(out, { spec: { items: [{ name: 'b' }], keep: true } });
  });
});

describe('the patch strategy table', () => {
  it('names existing client-node fields of the right shape', async () => {
    const models = (await import('@kubernetes/client-node/dist/gen/models/all.js')) as unknown as Record<
      string,
      { attributeTypeMap?: { baseName: string; type: string }[] }
    >;
    const { FIELD_STRATEGIES, ATOMIC_STRUCTS } = await import('../../src/api/patch/index.ts');
    for (const [key, s] of FIELD_STRATEGIES) {
      const [model, field] = key.split('.') as [string, string];
      const attr = models[model]?.attributeTypeMap?.find((a) => a.baseName === field);
      assert.ok(attr, `${key} exists`);
      if (s.mergeKey || s.listType || s.strategy?.includes('merge')) {
        assert.match(attr.type, /^Array</, `${key} is a list`);
      }
      if (s.mapType) assert.match(attr.type, /^\{ \[key: string\]/, `${key} is a map`);
      if (s.mergeKey) {
        const elem = /^Array<(.+)>$/.exec(attr.type)![1]!;
        const keys = [s.mergeKey, ...(s.listMapKeys ?? [])];
        for (const k of keys) {
          assert.ok(models[elem]?.attributeTypeMap?.some((a) => a.baseName === k), `${key}: ${elem}.${k} exists`);
        }
      }
    }
    for (const m of ATOMIC_STRUCTS) assert.ok(models[m]?.attributeTypeMap, `${m} exists`);
  });
});

describe('hostile keys', () => {
  it('__proto__ in patches is an ordinary key and never reaches Object.prototype', async () => {
    const { applyMergePatch, serverSideApply } = await import('../../src/api/patch/index.ts');
    const patch = JSON.parse('{"metadata":{"labels":{"__proto__":{"polluted":1}}},"__proto__":{"x":1}}');
    for (const out of [
      applyStrategicMergePatch({ metadata: { labels: {} } }, patch, 'V1Pod'),
      applyMergePatch({ metadata: { labels: {} } }, patch),
    ] as Json[]) {
      assert.equal(Object.getPrototypeOf(out), Object.prototype);
      assert.equal(JSON.stringify(out), '{"metadata":{"labels":{"__proto__":{"polluted":1}}},"__proto__":{"x":1}}');
    }
    const applied = JSON.parse('{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x"},"data":{"__proto__":"z"}}');
    const obj = serverSideApply({ live: null, applied, manager: 'm', force: false, modelName: 'V1ConfigMap', apiVersion: 'v1', now: 't' }).object;
    assert.equal(JSON.stringify(obj.data), '{"__proto__":"z"}');
    assert.equal(({} as Json).polluted, undefined);
    assert.equal(({} as Json).x, undefined);
  });
});
