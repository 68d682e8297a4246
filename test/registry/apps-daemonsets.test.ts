import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { TEMPLATE_GENERATION_ANNOTATION, daemonsets, prepareDaemonSetForUpdate } from '../../src/registry/daemonsets.ts';
import type { FieldCause, KubeObject } from '../../src/registry/types.ts';

type Obj = Record<string, unknown>;
type DS = KubeObject & { spec: Obj };

function defaulted(mutate?: (o: DS) => void): DS {
  const o: DS = {
    apiVersion: 'apps/v1',
    kind: 'DaemonSet',
    metadata: { name: 'agent', namespace: 'kube-system' },
    spec: {
      selector: { matchLabels: { app: 'agent' } },
      template: {
        metadata: { labels: { app: 'agent' } },
        spec: { nodeSelector: { 'kubernetes.io/os': 'linux', disk: 'ssd' }, containers: [{ name: 'agent', image: 'agent:2' }] },
      },
    },
  };
  mutate?.(o);
  daemonsets.defaults!(o);
  return o;
}

function brief(causes: FieldCause[]): string[] {
  return causes.map((c) => `${c.field} ${c.reason}`);
}

const template = (o: DS) => o.spec.template as Obj;

describe('daemonsets: identity and defaults', () => {
  it('is apps/v1 DaemonSet with ds, all and status', () => {
    assert.equal(daemonsets.group, 'apps');
    assert.equal(daemonsets.kind, 'DaemonSet');
    assert.deepEqual(daemonsets.shortNames, ['ds']);
    assert.deepEqual(daemonsets.categories, ['all']);
    assert.equal(daemonsets.subresources?.status, true);
    assert.equal(daemonsets.subresources?.scale, undefined);
    assert.equal(daemonsets.modelName, 'V1DaemonSet');
  });

  it('defaults RollingUpdate 1/0, history 10 and the pod template', () => {
    const o = defaulted();
    assert.deepEqual(o.spec.updateStrategy, { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1, maxSurge: 0 } });
    assert.equal(o.spec.revisionHistoryLimit, 10);
    const ps = template(o).spec as Obj;
    assert.equal(ps.restartPolicy, 'Always');
    assert.equal(ps.dnsPolicy, 'ClusterFirst');
  });

  it('keeps OnDelete without rollingUpdate, and fills a partial rollingUpdate', () => {
    assert.deepEqual(defaulted((o) => (o.spec.updateStrategy = { type: 'OnDelete' })).spec.updateStrategy, { type: 'OnDelete' });
    assert.deepEqual(
      defaulted((o) => (o.spec.updateStrategy = { rollingUpdate: { maxSurge: '10%' } })).spec.updateStrategy,
      { type: 'RollingUpdate', rollingUpdate: { maxSurge: '10%', maxUnavailable: 1 } },
    );
  });

  it('starts the template generation at 1 and bumps it only when the template changes', () => {
    const o = defaulted();
    o.metadata.annotations = { [TEMPLATE_GENERATION_ANNOTATION]: '9' };
    daemonsets.prepareForCreate!(o);
    assert.equal(o.metadata.annotations[TEMPLATE_GENERATION_ANNOTATION], '1');
    assert.deepEqual(o.status, { currentNumberScheduled: 0, numberMisscheduled: 0, desiredNumberScheduled: 0, numberReady: 0 });

    const same = JSON.parse(JSON.stringify(o)) as DS;
    same.spec.minReadySeconds = 5;
    delete same.metadata.annotations;
    prepareDaemonSetForUpdate(same, o);
    assert.equal(same.metadata.annotations?.[TEMPLATE_GENERATION_ANNOTATION], '1');

    const changed = JSON.parse(JSON.stringify(o)) as DS;
    ((template(changed).spec as Obj).containers as Obj[])[0].image = 'agent:3';
    prepareDaemonSetForUpdate(changed, o);
    assert.equal(changed.metadata.annotations?.[TEMPLATE_GENERATION_ANNOTATION], '2');
  });
});

describe('daemonsets: validation', () => {
  it('accepts a defaulted daemon set', () => {
    assert.deepEqual(daemonsets.validate!(defaulted()), []);
  });

  const ru = (v: Obj) => (o: DS) => (o.spec.updateStrategy = { type: 'RollingUpdate', rollingUpdate: v });
  const cases: Array<{ name: string; mutate: (o: DS) => void; field: string; reason: string; message?: string }> = [
    { name: 'missing selector', mutate: (o) => delete o.spec.selector, field: 'spec.selector', reason: 'FieldValueRequired' },
    { name: 'empty selector', mutate: (o) => (o.spec.selector = { matchLabels: {} }), field: 'spec.selector', reason: 'FieldValueInvalid', message: 'empty selector is invalid for daemonset' },
    {
      name: 'selector not matching the template',
      mutate: (o) => (o.spec.selector = { matchLabels: { app: 'other' } }),
      field: 'spec.template.metadata.labels',
      reason: 'FieldValueInvalid',
      message: '`selector` does not match template `labels`',
    },
    {
      name: 'restartPolicy OnFailure',
      mutate: (o) => ((template(o).spec as Obj).restartPolicy = 'OnFailure'),
      field: 'spec.template.spec.restartPolicy',
      reason: 'FieldValueNotSupported',
    },
    {
      name: 'a container without image',
      mutate: (o) => ((template(o).spec as Obj).containers = [{ name: 'agent' }]),
      field: 'spec.template.spec.containers[0].image',
      reason: 'FieldValueRequired',
    },
    {
      name: 'both maxUnavailable and maxSurge zero',
      mutate: ru({ maxUnavailable: 0, maxSurge: 0 }),
      field: 'spec.updateStrategy.rollingUpdate.maxUnavailable',
      reason: 'FieldValueRequired',
      message: 'cannot be 0 when maxSurge is 0',
    },
    {
      name: 'both maxUnavailable and maxSurge zero percent',
      mutate: ru({ maxUnavailable: '0%', maxSurge: '0%' }),
      field: 'spec.updateStrategy.rollingUpdate.maxUnavailable',
      reason: 'FieldValueRequired',
    },
    {
      name: 'both maxUnavailable and maxSurge set',
      mutate: ru({ maxUnavailable: 1, maxSurge: 1 }),
      field: 'spec.updateStrategy.rollingUpdate.maxSurge',
      reason: 'FieldValueInvalid',
      message: 'may not be set when maxUnavailable is non-zero',
    },
    { name: 'a negative maxUnavailable', mutate: ru({ maxUnavailable: -1, maxSurge: 0 }), field: 'spec.updateStrategy.rollingUpdate.maxUnavailable', reason: 'FieldValueInvalid' },
    {
      name: 'a malformed percent',
      mutate: ru({ maxUnavailable: '10 percent', maxSurge: 0 }),
      field: 'spec.updateStrategy.rollingUpdate.maxUnavailable',
      reason: 'FieldValueInvalid',
      message: 'a valid percent string must be a numeric string',
    },
    { name: 'maxSurge over 100%', mutate: ru({ maxUnavailable: 0, maxSurge: '101%' }), field: 'spec.updateStrategy.rollingUpdate.maxSurge', reason: 'FieldValueInvalid', message: 'must not be greater than 100%' },
    {
      name: 'an unknown update type',
      mutate: (o) => (o.spec.updateStrategy = { type: 'Recreate' }),
      field: 'spec.updateStrategy',
      reason: 'FieldValueNotSupported',
      message: 'supported values: "RollingUpdate", "OnDelete"',
    },
    { name: 'negative minReadySeconds', mutate: (o) => (o.spec.minReadySeconds = -5), field: 'spec.minReadySeconds', reason: 'FieldValueInvalid' },
    { name: 'negative revisionHistoryLimit', mutate: (o) => (o.spec.revisionHistoryLimit = -1), field: 'spec.revisionHistoryLimit', reason: 'FieldValueInvalid' },
  ];
  for (const c of cases) {
    it(`rejects ${c.name} at ${c.field}`, () => {
      const causes = daemonsets.validate!(defaulted(c.mutate));
      const hit = causes.find((x) => x.field === c.field);
      assert.ok(hit, `no cause at ${c.field}; got ${JSON.stringify(brief(causes))}`);
      assert.equal(hit.reason, c.reason);
      if (c.message) assert.ok(hit.message.includes(c.message), hit.message);
    });
  }

  it('accepts surge-only and percentage strategies', () => {
    assert.deepEqual(daemonsets.validate!(defaulted(ru({ maxUnavailable: 0, maxSurge: '25%' }))), []);
    assert.deepEqual(daemonsets.validate!(defaulted(ru({ maxUnavailable: '100%', maxSurge: 0 }))), []);
  });

  it('makes the selector immutable on update', () => {
    const old = defaulted();
    const next = defaulted((o) => {
      o.spec.selector = { matchLabels: { app: 'agent', tier: 'node' } };
      (template(o).metadata as Obj).labels = { app: 'agent', tier: 'node' };
    });
    const causes = daemonsets.validateUpdate!(next, old);
    assert.deepEqual(brief(causes), ['spec.selector FieldValueInvalid']);
    assert.match(causes[0].message, /field is immutable$/);
    assert.deepEqual(daemonsets.validateUpdate!(defaulted((o) => (o.spec.minReadySeconds = 3)), old), []);
  });

  it('validates status counters', () => {
    const o = defaulted();
    o.status = { desiredNumberScheduled: 2, currentNumberScheduled: -1, numberReady: 0, numberMisscheduled: 0, collisionCount: 0 };
    const prev = defaulted();
    prev.status = { collisionCount: 1 };
    assert.deepEqual(brief(daemonsets.validateStatus!(o, prev)), ['status.currentNumberScheduled FieldValueInvalid', 'status.collisionCount FieldValueInvalid']);
  });
});

describe('daemonsets: printer', () => {
  it('has the kubectl columns in order, wide ones last', () => {
    assert.deepEqual(
      daemonsets.columns.map((c) => [c.name.toUpperCase(), c.priority]),
      [
        ['DESIRED', 0],
        ['CURRENT', 0],
        ['READY', 0],
        ['UP-TO-DATE', 0],
        ['AVAILABLE', 0],
        ['NODE SELECTOR', 0],
        ['AGE', 0],
        ['CONTAINERS', 1],
        ['IMAGES', 1],
        ['SELECTOR', 1],
      ],
    );
  });

  it('prints the status counters, the sorted node selector and the selector', () => {
    const o = defaulted();
    o.status = { desiredNumberScheduled: 3, currentNumberScheduled: 3, numberReady: 2, updatedNumberScheduled: 1, numberAvailable: 2 };
    o.metadata.creationTimestamp = new Date(Date.now() - 3 * 3600_000).toISOString();
    const cells = daemonsets.columns.map((c) => c.cell(o));
    assert.deepEqual(cells, [3, 3, 2, 1, 2, 'disk=ssd,kubernetes.io/os=linux', '3h', 'agent', 'agent:2', 'app=agent']);
    const bare = defaulted((x) => delete (template(x).spec as Obj).nodeSelector);
    assert.deepEqual(daemonsets.columns.map((c) => c.cell(bare)).slice(0, 6), [0, 0, 0, 0, 0, '<none>']);
  });
});
