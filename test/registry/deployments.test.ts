// The apps/v1 Deployment registry entry (src/registry/deployments.ts): identity, defaults,
// validation with Kubernetes' field names and messages, status checks, printer columns.
// (Kept beside the controller's tests; it belongs with test/registry/apps-*.test.ts.)
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { deployments } from '../../src/registry/deployments.ts';
import type { FieldCause, KubeObject } from '../../src/registry/types.ts';

type Obj = Record<string, unknown>;
type D = KubeObject & { spec: Obj };

function defaulted(mutate?: (o: D) => void): D {
  const o: D = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web', namespace: 'default', creationTimestamp: new Date(Date.now() - 90_000).toISOString() },
    spec: { selector: { matchLabels: { app: 'web' } }, template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'nginx', image: 'nginx:1' }, { name: 'side', image: 'busybox' }] } } },
  };
  mutate?.(o);
  deployments.defaults!(o);
  return o;
}

const line = (causes: FieldCause[]): string[] => causes.map((c) => `${c.field}: ${c.message}`);

describe('deployments: identity and defaults', () => {
  it('is apps/v1 Deployment with deploy, all, status and scale', () => {
    assert.equal(deployments.group, 'apps');
    assert.equal(deployments.kind, 'Deployment');
    assert.deepEqual(deployments.shortNames, ['deploy']);
    assert.deepEqual(deployments.categories, ['all']);
    assert.equal(deployments.subresources?.status, true);
    assert.deepEqual(deployments.subresources?.scale, { specReplicasPath: 'spec.replicas', statusReplicasPath: 'status.replicas', labelSelectorPath: 'spec.selector' });
    assert.equal(deployments.modelName, 'V1Deployment');
    assert.deepEqual(deployments.generationFields, ['spec']);
  });

  it('defaults as Kubernetes apps/v1 does', () => {
    const o = defaulted();
    assert.equal(o.spec.replicas, 1);
    assert.deepEqual(o.spec.strategy, { type: 'RollingUpdate', rollingUpdate: { maxSurge: '25%', maxUnavailable: '25%' } });
    assert.equal(o.spec.revisionHistoryLimit, 10);
    assert.equal(o.spec.progressDeadlineSeconds, 600);
    const pod = (o.spec.template as Obj).spec as Obj;
    assert.equal(pod.restartPolicy, 'Always');
    assert.equal(pod.dnsPolicy, 'ClusterFirst');
    // Recreate gets no rollingUpdate; given values stay.
    const r = defaulted((x) => (x.spec.strategy = { type: 'Recreate' }));
    assert.deepEqual(r.spec.strategy, { type: 'Recreate' });
    const k = defaulted((x) => (x.spec.strategy = { rollingUpdate: { maxSurge: 2 } }));
    assert.deepEqual(k.spec.strategy, { type: 'RollingUpdate', rollingUpdate: { maxSurge: 2, maxUnavailable: '25%' } });
    const obj: KubeObject = { metadata: { name: 'x' } };
    deployments.prepareForCreate!(obj);
    assert.deepEqual(obj.status, {});
  });
});

describe('deployments: validation', () => {
  const causes = (mutate: (o: D) => void): string[] => line(deployments.validate!(defaulted(mutate)));

  it('accepts a defaulted deployment', () => {
    assert.deepEqual(line(deployments.validate!(defaulted())), []);
  });

  it('refuses maxSurge and maxUnavailable both 0, naming maxUnavailable', () => {
    assert.deepEqual(
      causes((o) => (o.spec.strategy = { type: 'RollingUpdate', rollingUpdate: { maxSurge: 0, maxUnavailable: 0 } })),
      ['spec.strategy.rollingUpdate.maxUnavailable: Invalid value: 0: may not be 0 when `maxSurge` is 0'],
    );
    assert.deepEqual(
      causes((o) => (o.spec.strategy = { type: 'RollingUpdate', rollingUpdate: { maxSurge: '0%', maxUnavailable: '0%' } })),
      ['spec.strategy.rollingUpdate.maxUnavailable: Invalid value: "0%": may not be 0 when `maxSurge` is 0'],
    );
  });

  it('checks the strategy', () => {
    assert.deepEqual(causes((o) => (o.spec.strategy = { type: 'Recreate', rollingUpdate: {} })), [
      "spec.strategy.rollingUpdate: Forbidden: may not be specified when strategy `type` is 'Recreate'",
    ]);
    assert.deepEqual(causes((o) => (o.spec.strategy = { type: 'BlueGreen' })), ['spec.strategy: Unsupported value: {"type":"BlueGreen"}: supported values: "Recreate", "RollingUpdate"']);
    assert.deepEqual(causes((o) => (o.spec.strategy = { type: 'RollingUpdate', rollingUpdate: { maxSurge: -1, maxUnavailable: '110%' } })), [
      'spec.strategy.rollingUpdate.maxSurge: Invalid value: -1: must be greater than or equal to 0',
      'spec.strategy.rollingUpdate.maxUnavailable: Invalid value: "110%": must not be greater than 100%',
    ]);
    assert.match(causes((o) => (o.spec.strategy = { type: 'RollingUpdate', rollingUpdate: { maxSurge: 'ten', maxUnavailable: 1 } }))[0], /^spec\.strategy\.rollingUpdate\.maxSurge: Invalid value: "ten": a valid percent string/);
  });

  it('checks counts, the selector and the template', () => {
    assert.deepEqual(causes((o) => (o.spec.replicas = -1)), ['spec.replicas: Invalid value: -1: must be greater than or equal to 0']);
    assert.deepEqual(causes((o) => (o.spec.revisionHistoryLimit = -2)), ['spec.revisionHistoryLimit: Invalid value: -2: must be greater than or equal to 0']);
    assert.deepEqual(causes((o) => ((o.spec.minReadySeconds = 30), (o.spec.progressDeadlineSeconds = 30))), ['spec.progressDeadlineSeconds: Invalid value: 30: must be greater than minReadySeconds']);
    assert.deepEqual(causes((o) => delete o.spec.selector), ['spec.selector: Required value']);
    assert.deepEqual(causes((o) => (o.spec.selector = { matchLabels: { app: 'other' } })), ['spec.template.metadata.labels: Invalid value: {"app":"web"}: `selector` does not match template `labels`']);
    assert.deepEqual(causes((o) => (o.spec.selector = {})), ['spec.selector: Invalid value: {}: empty selector is invalid for deployment']);
    assert.deepEqual(causes((o) => (((o.spec.template as Obj).spec as Obj).restartPolicy = 'Never')), ['spec.template.spec.restartPolicy: Unsupported value: "Never": supported values: "Always"']);
  });

  it('keeps the selector immutable', () => {
    const old = defaulted();
    const next = defaulted((o) => (o.spec.selector = { matchLabels: { app: 'web', tier: 'fe' } }));
    assert.deepEqual(line(deployments.validateUpdate!(next, old)), ['spec.selector: Invalid value: {"matchLabels":{"app":"web","tier":"fe"}}: field is immutable']);
    assert.deepEqual(line(deployments.validateUpdate!(defaulted((o) => (o.spec.replicas = 7)), old)), []);
  });

  it('checks status writes', () => {
    const old = defaulted();
    old.status = { collisionCount: 2 };
    const s = (status: Obj): string[] => line(deployments.validateStatus!({ ...old, status }, old));
    assert.deepEqual(s({ replicas: 3, updatedReplicas: 3, readyReplicas: 3, availableReplicas: 3, collisionCount: 2 }), []);
    assert.deepEqual(s({ replicas: 2, updatedReplicas: 3, readyReplicas: 2, availableReplicas: 1, collisionCount: 2 }), ['status.updatedReplicas: Invalid value: 3: cannot be greater than status.replicas']);
    assert.deepEqual(s({ replicas: 3, readyReplicas: 1, availableReplicas: 2, collisionCount: 2 }), ['status.availableReplicas: Invalid value: 2: cannot be greater than readyReplicas']);
    assert.deepEqual(s({ unavailableReplicas: -1, collisionCount: 1 }), [
      'status.unavailableReplicas: Invalid value: -1: must be greater than or equal to 0',
      'status.collisionCount: Invalid value: 1: cannot be decremented',
    ]);
  });
});

describe('deployments: printer columns', () => {
  it('prints NAME READY UP-TO-DATE AVAILABLE AGE, wide CONTAINERS IMAGES SELECTOR', () => {
    const o = defaulted((x) => (x.spec.replicas = 4));
    o.status = { replicas: 5, readyReplicas: 3, updatedReplicas: 2, availableReplicas: 3 };
    assert.deepEqual(
      deployments.columns.map((c) => [c.name, c.priority]),
      [
        ['Ready', 0],
        ['Up-to-date', 0],
        ['Available', 0],
        ['Age', 0],
        ['Containers', 1],
        ['Images', 1],
        ['Selector', 1],
      ],
    );
    assert.deepEqual(
      deployments.columns.map((c) => c.cell(o)),
      ['3/4', 2, 3, '90s', 'nginx,side', 'nginx:1,busybox', 'app=web'],
    );
  });
});
