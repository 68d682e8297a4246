import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  STATEFULSET_SPEC_FORBIDDEN_MSG,
  statefulsets,
  volumeClaimTemplateUpdateCauses,
} from '../../src/registry/statefulsets.ts';
import type { FieldCause, KubeObject } from '../../src/registry/types.ts';

type Obj = Record<string, unknown>;

function baseSet(): KubeObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: { name: 'web', namespace: 'default', creationTimestamp: '2024-01-01T00:00:00Z' },
    spec: {
      serviceName: 'nginx',
      selector: { matchLabels: { app: 'nginx' } },
      template: {
        metadata: { labels: { app: 'nginx' } },
        spec: {
          containers: [
            { name: 'nginx', image: 'nginx:1.25', volumeMounts: [{ name: 'www', mountPath: '/usr/share/nginx/html' }] },
            { name: 'sidecar', image: 'busybox:1.36' },
          ],
        },
      },
      volumeClaimTemplates: [
        { metadata: { name: 'www' }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } } },
      ],
    },
  };
}

function defaulted(mutate?: (o: KubeObject & { spec: Obj }) => void): KubeObject {
  const o = baseSet() as KubeObject & { spec: Obj };
  mutate?.(o);
  statefulsets.defaults!(o);
  return o;
}

function spec(o: KubeObject): Obj {
  return o.spec as Obj;
}

function tpl(o: KubeObject): Obj {
  return spec(o).template as Obj;
}

function podSpec(o: KubeObject): Obj {
  return tpl(o).spec as Obj;
}

function vct(o: KubeObject, i = 0): Obj {
  return (spec(o).volumeClaimTemplates as Obj[])[i];
}

function brief(causes: FieldCause[]): string[] {
  return causes.map((c) => `${c.field} ${c.reason}`);
}

describe('statefulsets: registry identity', () => {
  it('is apps/v1 StatefulSet with sts, all, status and scale', () => {
    assert.equal(statefulsets.group, 'apps');
    assert.equal(statefulsets.version, 'v1');
    assert.equal(statefulsets.kind, 'StatefulSet');
    assert.deepEqual(statefulsets.shortNames, ['sts']);
    assert.deepEqual(statefulsets.categories, ['all']);
    assert.equal(statefulsets.modelName, 'V1StatefulSet');
    assert.equal(statefulsets.subresources?.status, true);
    assert.deepEqual(statefulsets.subresources?.scale, {
      specReplicasPath: 'spec.replicas',
      statusReplicasPath: 'status.replicas',
      labelSelectorPath: 'spec.selector',
    });
    assert.ok(!statefulsets.columns.some((c) => c.name.toLowerCase() === 'name'));
  });
});

describe('statefulsets: defaults', () => {
  it('fills the Kubernetes defaults', () => {
    const o = defaulted();
    const s = spec(o);
    assert.equal(s.replicas, 1);
    assert.equal(s.podManagementPolicy, 'OrderedReady');
    assert.deepEqual(s.updateStrategy, { type: 'RollingUpdate', rollingUpdate: { partition: 0 } });
    assert.equal(s.revisionHistoryLimit, 10);
    assert.deepEqual(s.persistentVolumeClaimRetentionPolicy, { whenDeleted: 'Retain', whenScaled: 'Retain' });
  });

  it('applies pod-spec defaults to the template', () => {
    const ps = podSpec(defaulted());
    assert.equal(ps.restartPolicy, 'Always');
    assert.equal(ps.dnsPolicy, 'ClusterFirst');
    assert.equal(ps.terminationGracePeriodSeconds, 30);
    const c0 = (ps.containers as Obj[])[0];
    assert.equal(c0.imagePullPolicy, 'IfNotPresent');
    assert.equal(c0.terminationMessagePath, '/dev/termination-log');
  });

  it('defaults claim templates like PersistentVolumeClaims and canonicalizes storage', () => {
    const o = defaulted((x) => {
      ((x.spec.volumeClaimTemplates as Obj[])[0].spec as Obj).resources = { requests: { storage: '1024Mi' } };
    });
    const t = vct(o);
    assert.equal(t.apiVersion, 'v1');
    assert.equal(t.kind, 'PersistentVolumeClaim');
    assert.equal((t.spec as Obj).volumeMode, 'Filesystem');
    assert.deepEqual(t.status, { phase: 'Pending' });
    assert.equal(((t.spec as Obj).resources as { requests: Obj }).requests.storage, '1Gi');
  });

  it('keeps given values and adds partition only for RollingUpdate', () => {
    const onDelete = defaulted((x) => {
      x.spec.updateStrategy = { type: 'OnDelete' };
      x.spec.replicas = 0;
      x.spec.podManagementPolicy = 'Parallel';
      x.spec.revisionHistoryLimit = 2;
      x.spec.persistentVolumeClaimRetentionPolicy = { whenScaled: 'Delete' };
    });
    const s = spec(onDelete);
    assert.deepEqual(s.updateStrategy, { type: 'OnDelete' });
    assert.equal(s.replicas, 0);
    assert.equal(s.podManagementPolicy, 'Parallel');
    assert.equal(s.revisionHistoryLimit, 2);
    assert.deepEqual(s.persistentVolumeClaimRetentionPolicy, { whenDeleted: 'Retain', whenScaled: 'Delete' });
    const ru = defaulted((x) => {
      x.spec.updateStrategy = { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 2 } };
    });
    assert.deepEqual(spec(ru).updateStrategy, { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 2, partition: 0 } });
  });

  it('is idempotent', () => {
    const o = defaulted();
    const again = JSON.parse(JSON.stringify(o)) as KubeObject;
    statefulsets.defaults!(again);
    assert.deepEqual(again, o);
  });

  it('prepareForCreate resets status', () => {
    const o = defaulted();
    o.status = { replicas: 7, readyReplicas: 7 };
    statefulsets.prepareForCreate!(o);
    assert.deepEqual(o.status, { replicas: 0, availableReplicas: 0 });
  });
});

describe('statefulsets: validation', () => {
  it('accepts the classic web set (mounts of claim templates resolve)', () => {
    assert.deepEqual(statefulsets.validate!(defaulted()), []);
  });

  const cases: Array<{ name: string; mutate: (o: KubeObject & { spec: Obj }) => void; field: string; reason: string; message?: string }> = [
    { name: 'missing selector', mutate: (o) => delete o.spec.selector, field: 'spec.selector', reason: 'FieldValueRequired' },
    {
      name: 'empty selector',
      mutate: (o) => (o.spec.selector = {}),
      field: 'spec.selector',
      reason: 'FieldValueInvalid',
      message: 'empty selector is invalid for statefulset',
    },
    {
      name: 'selector not matching template labels',
      mutate: (o) => (o.spec.selector = { matchLabels: { app: 'other' } }),
      field: 'spec.template.metadata.labels',
      reason: 'FieldValueInvalid',
      message: '`selector` does not match template `labels`',
    },
    {
      name: 'selector expression not matching',
      mutate: (o) => (o.spec.selector = { matchExpressions: [{ key: 'tier', operator: 'Exists' }] }),
      field: 'spec.template.metadata.labels',
      reason: 'FieldValueInvalid',
    },
    { name: 'negative replicas', mutate: (o) => (o.spec.replicas = -1), field: 'spec.replicas', reason: 'FieldValueInvalid', message: 'Invalid value: -1: must be greater than or equal to 0' },
    {
      name: 'negative partition',
      mutate: (o) => (o.spec.updateStrategy = { type: 'RollingUpdate', rollingUpdate: { partition: -2 } }),
      field: 'spec.updateStrategy.rollingUpdate.partition',
      reason: 'FieldValueInvalid',
    },
    {
      name: 'maxUnavailable 0',
      mutate: (o) => (o.spec.updateStrategy = { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0 } }),
      field: 'spec.updateStrategy.rollingUpdate.maxUnavailable',
      reason: 'FieldValueInvalid',
      message: 'cannot be 0',
    },
    {
      name: 'maxUnavailable 0%',
      mutate: (o) => (o.spec.updateStrategy = { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: '0%' } }),
      field: 'spec.updateStrategy.rollingUpdate.maxUnavailable',
      reason: 'FieldValueInvalid',
      message: 'cannot be 0',
    },
    {
      name: 'maxUnavailable over 100%',
      mutate: (o) => (o.spec.updateStrategy = { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: '150%' } }),
      field: 'spec.updateStrategy.rollingUpdate.maxUnavailable',
      reason: 'FieldValueInvalid',
      message: 'must not be greater than 100%',
    },
    {
      name: 'maxUnavailable not a percent',
      mutate: (o) => (o.spec.updateStrategy = { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 'half' } }),
      field: 'spec.updateStrategy.rollingUpdate.maxUnavailable',
      reason: 'FieldValueInvalid',
      message: 'a valid percent string',
    },
    {
      name: 'negative ordinals.start',
      mutate: (o) => (o.spec.ordinals = { start: -1 }),
      field: 'spec.ordinals.start',
      reason: 'FieldValueInvalid',
    },
    {
      name: 'unknown podManagementPolicy',
      mutate: (o) => (o.spec.podManagementPolicy = 'Random'),
      field: 'spec.podManagementPolicy',
      reason: 'FieldValueInvalid',
      message: "must be 'OrderedReady' or 'Parallel'",
    },
    {
      name: 'unknown updateStrategy type',
      mutate: (o) => (o.spec.updateStrategy = { type: 'Rolling' }),
      field: 'spec.updateStrategy',
      reason: 'FieldValueInvalid',
      message: "must be 'RollingUpdate' or 'OnDelete'",
    },
    {
      name: 'rollingUpdate with OnDelete',
      mutate: (o) => (o.spec.updateStrategy = { type: 'OnDelete', rollingUpdate: { partition: 1 } }),
      field: 'spec.updateStrategy.rollingUpdate',
      reason: 'FieldValueInvalid',
      message: "only allowed for updateStrategy 'RollingUpdate'",
    },
    {
      name: 'restartPolicy Never',
      mutate: (o) => (((o.spec.template as Obj).spec as Obj).restartPolicy = 'Never'),
      field: 'spec.template.spec.restartPolicy',
      reason: 'FieldValueNotSupported',
      message: 'Unsupported value: "Never": supported values: "Always"',
    },
    {
      name: 'activeDeadlineSeconds',
      mutate: (o) => (((o.spec.template as Obj).spec as Obj).activeDeadlineSeconds = 10),
      field: 'spec.template.spec.activeDeadlineSeconds',
      reason: 'FieldValueForbidden',
    },
    {
      name: 'retention policy value',
      mutate: (o) => (o.spec.persistentVolumeClaimRetentionPolicy = { whenDeleted: 'Keep', whenScaled: 'Retain' }),
      field: 'spec.persistentVolumeClaimRetentionPolicy.whenDeleted',
      reason: 'FieldValueNotSupported',
    },
    {
      name: 'serviceName not a DNS label',
      mutate: (o) => (o.spec.serviceName = 'My_Service'),
      field: 'spec.serviceName',
      reason: 'FieldValueInvalid',
    },
    {
      name: 'claim template without a name',
      mutate: (o) => ((o.spec.volumeClaimTemplates as Obj[])[0].metadata = {}),
      field: 'spec.volumeClaimTemplates[0].metadata.name',
      reason: 'FieldValueRequired',
    },
    {
      name: 'claim template with an invalid name',
      mutate: (o) => ((o.spec.volumeClaimTemplates as Obj[])[0].metadata = { name: 'WWW' }),
      field: 'spec.volumeClaimTemplates[0].metadata.name',
      reason: 'FieldValueInvalid',
    },
    {
      name: 'duplicate claim template names',
      mutate: (o) => {
        const list = o.spec.volumeClaimTemplates as Obj[];
        list.push(JSON.parse(JSON.stringify(list[0])) as Obj);
      },
      field: 'spec.volumeClaimTemplates[1].metadata.name',
      reason: 'FieldValueDuplicate',
    },
    {
      name: 'claim template without access modes',
      mutate: (o) => ((((o.spec.volumeClaimTemplates as Obj[])[0].spec as Obj).accessModes = [])),
      field: 'spec.volumeClaimTemplates[0].spec.accessModes',
      reason: 'FieldValueRequired',
    },
    {
      name: 'claim template without storage',
      mutate: (o) => ((((o.spec.volumeClaimTemplates as Obj[])[0].spec as Obj).resources = {})),
      field: 'spec.volumeClaimTemplates[0].spec.resources.requests.storage',
      reason: 'FieldValueRequired',
    },
    {
      name: 'claim template with a malformed storage quantity',
      mutate: (o) => ((((o.spec.volumeClaimTemplates as Obj[])[0].spec as Obj).resources = { requests: { storage: 'lots' } })),
      field: 'spec.volumeClaimTemplates[0].spec.resources.requests.storage',
      reason: 'FieldValueInvalid',
    },
    {
      name: 'mount of a volume that is neither a volume nor a claim template',
      mutate: (o) => {
        const c = (((o.spec.template as Obj).spec as Obj).containers as Obj[])[1];
        c.volumeMounts = [{ name: 'data', mountPath: '/data' }];
      },
      field: 'spec.template.spec.containers[1].volumeMounts[0].name',
      reason: 'FieldValueNotFound',
    },
  ];

  for (const c of cases) {
    it(`rejects ${c.name} at ${c.field}`, () => {
      const causes = statefulsets.validate!(defaulted(c.mutate));
      const hit = causes.find((x) => x.field === c.field);
      assert.ok(hit, `no cause at ${c.field}; got ${JSON.stringify(brief(causes))}`);
      assert.equal(hit.reason, c.reason);
      if (c.message) assert.ok(hit.message.includes(c.message), hit.message);
    });
  }

  it('accepts replicas 0, partition beyond replicas, ordinals.start and Parallel', () => {
    const o = defaulted((x) => {
      x.spec.replicas = 0;
      x.spec.ordinals = { start: 5 };
      x.spec.podManagementPolicy = 'Parallel';
      x.spec.updateStrategy = { type: 'RollingUpdate', rollingUpdate: { partition: 10, maxUnavailable: '50%' } };
      delete x.spec.serviceName;
    });
    assert.deepEqual(statefulsets.validate!(o), []);
  });
});

describe('statefulsets: updates', () => {
  function update(mutate: (o: KubeObject & { spec: Obj }) => void): FieldCause[] {
    const old = defaulted();
    const next = JSON.parse(JSON.stringify(old)) as KubeObject & { spec: Obj };
    mutate(next);
    statefulsets.defaults!(next);
    return statefulsets.validateUpdate!(next, old);
  }

  it('allows replicas, template, updateStrategy, ordinals, minReadySeconds, retention policy and history limit', () => {
    const causes = update((o) => {
      o.spec.replicas = 5;
      ((((o.spec.template as Obj).spec as Obj).containers as Obj[])[0]).image = 'nginx:1.26';
      o.spec.updateStrategy = { type: 'RollingUpdate', rollingUpdate: { partition: 2 } };
      o.spec.ordinals = { start: 1 };
      o.spec.minReadySeconds = 10;
      o.spec.persistentVolumeClaimRetentionPolicy = { whenDeleted: 'Delete', whenScaled: 'Delete' };
      o.spec.revisionHistoryLimit = 3;
    });
    assert.deepEqual(causes, []);
  });

  for (const [name, mutate] of [
    ['selector', (o: KubeObject & { spec: Obj }) => (o.spec.selector = { matchLabels: { app: 'nginx', tier: 'web' } })],
    ['serviceName', (o: KubeObject & { spec: Obj }) => (o.spec.serviceName = 'other')],
    ['podManagementPolicy', (o: KubeObject & { spec: Obj }) => (o.spec.podManagementPolicy = 'Parallel')],
  ] as const) {
    it(`forbids changing ${name} with the Kubernetes message`, () => {
      const causes = update(mutate);
      assert.deepEqual(causes, [{ reason: 'FieldValueForbidden', field: 'spec', message: `Forbidden: ${STATEFULSET_SPEC_FORBIDDEN_MSG}` }]);
    });
  }

  it('allows raising the storage request of a claim template (kennel extension)', () => {
    const causes = update((o) => {
      (((o.spec.volumeClaimTemplates as Obj[])[0].spec as Obj).resources as Obj).requests = { storage: '5Gi' };
    });
    assert.deepEqual(causes, []);
  });

  it('treats an equal quantity written differently as no change', () => {
    const causes = update((o) => {
      (((o.spec.volumeClaimTemplates as Obj[])[0].spec as Obj).resources as Obj).requests = { storage: '1024Mi' };
    });
    assert.deepEqual(causes, []);
  });

  it('rejects shrinking storage naming the field and both sizes', () => {
    const causes = update((o) => {
      (((o.spec.volumeClaimTemplates as Obj[])[0].spec as Obj).resources as Obj).requests = { storage: '500Mi' };
    });
    assert.deepEqual(causes, [
      {
        reason: 'FieldValueForbidden',
        field: 'spec.volumeClaimTemplates[0].spec.resources.requests.storage',
        message: 'Forbidden: storage can only be increased (was 1Gi, now 500Mi)',
      },
    ]);
  });

  const otherChanges: Array<[string, (o: KubeObject & { spec: Obj }) => void, string]> = [
    ['accessModes', (o) => (((o.spec.volumeClaimTemplates as Obj[])[0].spec as Obj).accessModes = ['ReadWriteMany']), 'spec.volumeClaimTemplates[0].spec.accessModes'],
    ['storageClassName', (o) => (((o.spec.volumeClaimTemplates as Obj[])[0].spec as Obj).storageClassName = 'fast'), 'spec.volumeClaimTemplates[0].spec.storageClassName'],
    ['template name', (o) => ((o.spec.volumeClaimTemplates as Obj[])[0].metadata = { name: 'data' }), 'spec.volumeClaimTemplates[0].metadata.name'],
    ['a storage limit', (o) => ((((o.spec.volumeClaimTemplates as Obj[])[0].spec as Obj).resources as Obj).limits = { storage: '2Gi' }), 'spec.volumeClaimTemplates[0].spec.resources.limits'],
  ];
  for (const [name, mutate, field] of otherChanges) {
    it(`rejects changing ${name} in a claim template at ${field}`, () => {
      const causes = update(mutate);
      assert.equal(causes.length, 1, JSON.stringify(causes));
      assert.equal(causes[0].field, field);
      assert.equal(causes[0].reason, 'FieldValueForbidden');
      assert.match(causes[0].message, /only spec\.resources\.requests\.storage of an existing volumeClaimTemplate may change, and only upward/);
    });
  }

  it('rejects adding or removing claim templates', () => {
    const added = update((o) => {
      (o.spec.volumeClaimTemplates as Obj[]).push({ metadata: { name: 'logs' }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } } });
    });
    assert.deepEqual(brief(added), ['spec.volumeClaimTemplates FieldValueForbidden']);
    assert.match(added[0].message, /may not be added \(had 1, now 2\)/);
    const removed = update((o) => delete o.spec.volumeClaimTemplates);
    assert.deepEqual(brief(removed), ['spec.volumeClaimTemplates FieldValueForbidden']);
    assert.match(removed[0].message, /may not be removed \(had 1, now 0\)/);
  });

  it('reports a storage increase combined with another change only for the other change', () => {
    const causes = volumeClaimTemplateUpdateCauses(
      [{ metadata: { name: 'www' }, spec: { accessModes: ['ReadOnlyMany'], resources: { requests: { storage: '2Gi' } } } }],
      [{ metadata: { name: 'www' }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } } }],
    );
    assert.deepEqual(brief(causes), ['spec.volumeClaimTemplates[0].spec.accessModes FieldValueForbidden']);
  });
});

describe('statefulsets: status', () => {
  function status(s: Obj, old: Obj = {}): FieldCause[] {
    const o = defaulted();
    o.status = s;
    const prev = defaulted();
    prev.status = old;
    return statefulsets.validateStatus!(o, prev);
  }

  it('accepts a consistent status', () => {
    assert.deepEqual(status({ replicas: 3, readyReplicas: 2, availableReplicas: 2, currentReplicas: 3, updatedReplicas: 1, observedGeneration: 4, collisionCount: 0 }), []);
  });

  it('rejects negatives, counts above replicas and a decremented collisionCount', () => {
    const neg = status({ replicas: 2, currentReplicas: -1 });
    assert.deepEqual(neg, [{ reason: 'FieldValueInvalid', field: 'status.currentReplicas', message: 'Invalid value: -1: must be greater than or equal to 0' }]);
    assert.deepEqual(brief(status({ replicas: 1, readyReplicas: 2, availableReplicas: 0 })), ['status.readyReplicas FieldValueInvalid']);
    assert.deepEqual(brief(status({ replicas: 2, readyReplicas: 1, availableReplicas: 2 })), ['status.availableReplicas FieldValueInvalid']);
    const dec = status({ replicas: 0, collisionCount: 1 }, { collisionCount: 2 });
    assert.deepEqual(dec, [{ reason: 'FieldValueInvalid', field: 'status.collisionCount', message: 'Invalid value: 1: cannot be decremented' }]);
  });
});

describe('statefulsets: printer', () => {
  const col = (name: string) => {
    const c = statefulsets.columns.find((x) => x.name === name);
    assert.ok(c, name);
    return c;
  };

  it('has READY AGE and wide CONTAINERS IMAGES', () => {
    assert.deepEqual(
      statefulsets.columns.map((c) => [c.name.toUpperCase(), c.priority]),
      [['READY', 0], ['AGE', 0], ['CONTAINERS', 1], ['IMAGES', 1]],
    );
  });

  it('prints readyReplicas/spec.replicas, age and the containers', () => {
    const o = defaulted((x) => (x.spec.replicas = 3));
    o.status = { replicas: 3, readyReplicas: 2 };
    o.metadata.creationTimestamp = new Date(Date.now() - 5 * 60_000).toISOString();
    assert.equal(col('Ready').cell(o), '2/3');
    assert.equal(col('Age').cell(o), '5m');
    assert.equal(col('Containers').cell(o), 'nginx,sidecar');
    assert.equal(col('Images').cell(o), 'nginx:1.25,busybox:1.36');
    const fresh = defaulted();
    assert.equal(col('Ready').cell(fresh), '0/1');
  });
});
