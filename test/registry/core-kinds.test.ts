import { test } from 'node:test';
import assert from 'node:assert/strict';
import { namespaces, validateNamespaceFinalize } from '../../src/registry/namespaces.ts';
import { configmaps } from '../../src/registry/configmaps.ts';
import { secrets } from '../../src/registry/secrets.ts';
import { serviceaccounts } from '../../src/registry/serviceaccounts.ts';
import { events, eventTableCells } from '../../src/registry/events.ts';
import { nodes } from '../../src/registry/nodes.ts';
import { persistentvolumes } from '../../src/registry/persistentvolumes.ts';
import { persistentvolumeclaims } from '../../src/registry/persistentvolumeclaims.ts';
import type { FieldCause, KubeObject, ResourceDef } from '../../src/registry/types.ts';

type Obj = Record<string, any>;
const fields = (def: ResourceDef, o: KubeObject): string[] => (def.validate?.(o) ?? []).map((c) => c.field);
const cellOf = (def: ResourceDef, name: string, o: KubeObject): unknown => def.columns.find((c) => c.name === name)?.cell(o);
const obj = (kind: string, rest: Obj, meta: Obj = {}): KubeObject => ({ apiVersion: 'v1', kind, metadata: { name: 'x', ...meta }, ...rest });

test('identity of the core/v1 entries', () => {
  const rows = [namespaces, configmaps, secrets, serviceaccounts, events, nodes, persistentvolumes, persistentvolumeclaims].map((d) => [
    d.kind,
    d.plural,
    d.namespaced,
    (d.shortNames ?? []).join(','),
    d.nameRule,
    d.modelName,
    Boolean(d.subresources?.status),
    d.allowCreateOnUpdate ?? false,
  ]);
  assert.deepEqual(rows, [
    ['Namespace', 'namespaces', false, 'ns', 'dns1123Label', 'V1Namespace', true, false],
    ['ConfigMap', 'configmaps', true, 'cm', 'dns1123Subdomain', 'V1ConfigMap', false, false],
    ['Secret', 'secrets', true, '', 'dns1123Subdomain', 'V1Secret', false, false],
    ['ServiceAccount', 'serviceaccounts', true, 'sa', 'dns1123Subdomain', 'V1ServiceAccount', false, false],
    ['Event', 'events', true, 'ev', 'pathSegment', 'CoreV1Event', false, true],
    ['Node', 'nodes', false, 'no', 'dns1123Subdomain', 'V1Node', true, false],
    ['PersistentVolume', 'persistentvolumes', false, 'pv', 'dns1123Subdomain', 'V1PersistentVolume', true, false],
    ['PersistentVolumeClaim', 'persistentvolumeclaims', true, 'pvc', 'dns1123Subdomain', 'V1PersistentVolumeClaim', true, false],
  ]);
  assert.deepEqual(namespaces.subresources?.others, ['finalize']);
  assert.deepEqual(serviceaccounts.subresources?.others, ['token']);
});

test('namespaces: label, Active phase, kubernetes finalizer, status rules', () => {
  const ns = obj('Namespace', {}, { name: 'team-a', labels: { owner: 'me' } });
  namespaces.defaults?.(ns);
  namespaces.prepareForCreate?.(ns);
  assert.deepEqual(ns.metadata.labels, { owner: 'me', 'kubernetes.io/metadata.name': 'team-a' });
  assert.deepEqual(ns.status, { phase: 'Active' });
  assert.deepEqual(ns.spec, { finalizers: ['kubernetes'] });
  assert.deepEqual(namespaces.validate?.(ns), []);
  assert.equal(cellOf(namespaces, 'Status', ns), 'Active');
  // A main-resource update keeps spec.finalizers; only /finalize changes them.
  const upd = JSON.parse(JSON.stringify(ns)) as KubeObject;
  upd.spec = { finalizers: [] };
  namespaces.prepareForUpdate?.(upd, ns);
  assert.deepEqual(upd.spec, { finalizers: ['kubernetes'] });
  const bad = obj('Namespace', { spec: { finalizers: ['custom'] } });
  assert.deepEqual(fields(namespaces, bad), ['spec.finalizers']);
  assert.deepEqual(validateNamespaceFinalize(bad).map((c) => c.field), ['spec.finalizers[0]']);
  const terminating = JSON.parse(JSON.stringify(ns)) as KubeObject;
  terminating.metadata.deletionTimestamp = '2025-01-01T00:00:00Z';
  assert.deepEqual(namespaces.validateStatus?.(terminating, ns).map((c) => c.message), [
    "Invalid value: \"Active\": may only be 'Terminating' if `deletionTimestamp` is not empty",
  ]);
  assert.equal(namespaces.fieldSelectors?.['status.phase'](ns), 'Active');
});

test('configmaps: keys, size and immutability', () => {
  const good = obj('ConfigMap', { data: { 'app.conf': 'x=1', KEY_2: 'y' }, binaryData: { blob: Buffer.from('hi').toString('base64') } });
  assert.deepEqual(configmaps.validate?.(good), []);
  assert.equal(cellOf(configmaps, 'Data', good), 3);
  assert.deepEqual(fields(configmaps, obj('ConfigMap', { data: { 'a/b': 'x' } })), ['data[a/b]']);
  assert.deepEqual(fields(configmaps, obj('ConfigMap', { data: { '..x': 'x' } })), ['data[..x]']);
  assert.deepEqual(fields(configmaps, obj('ConfigMap', { data: { k: 'x' }, binaryData: { k: 'eA==' } })), ['data[k]']);
  const big = obj('ConfigMap', { data: { a: 'x'.repeat(600 * 1024), b: 'y'.repeat(600 * 1024) } });
  assert.deepEqual(configmaps.validate?.(big), [{ reason: 'FieldValueTooLong', field: '', message: 'Too long: may not be more than 1048576 bytes' }]);
  const frozen = obj('ConfigMap', { immutable: true, data: { a: '1' } });
  const edited = obj('ConfigMap', { immutable: true, data: { a: '2' } });
  assert.deepEqual(configmaps.validateUpdate?.(edited, frozen).map((c) => [c.field, c.message]), [
    ['data', 'Forbidden: field is immutable when `immutable` is set'],
  ]);
  const thawed = obj('ConfigMap', { data: { a: '1' } });
  assert.deepEqual(configmaps.validateUpdate?.(thawed, frozen).map((c) => c.field), ['immutable']);
  assert.deepEqual(configmaps.validateUpdate?.(edited, obj('ConfigMap', { data: { a: '1' } })), []);
});

test('secrets: Opaque default, stringData, type rules and immutable type', () => {
  const s = obj('Secret', { data: { a: Buffer.from('1').toString('base64') }, stringData: { b: 'two' } });
  secrets.defaults?.(s);
  assert.equal(s.type, 'Opaque');
  assert.deepEqual(s.data, { a: 'MQ==', b: Buffer.from('two').toString('base64') });
  assert.equal(s.stringData, undefined);
  assert.deepEqual(secrets.validate?.(s), []);
  assert.equal(cellOf(secrets, 'Data', s), 2);
  assert.equal(cellOf(secrets, 'Type', s), 'Opaque');
  assert.equal(secrets.fieldSelectors?.type(s), 'Opaque');
  const tls = obj('Secret', { type: 'kubernetes.io/tls', data: { 'tls.crt': 'eA==' } });
  assert.deepEqual(fields(secrets, tls), ['data[tls.key]']);
  const docker = obj('Secret', { type: 'kubernetes.io/dockerconfigjson', data: { '.dockerconfigjson': Buffer.from('not json').toString('base64') } });
  assert.deepEqual(fields(secrets, docker), ['data[.dockerconfigjson]']);
  const sa = obj('Secret', { type: 'kubernetes.io/service-account-token' });
  assert.deepEqual(fields(secrets, sa), ['metadata.annotations[kubernetes.io/service-account.name]']);
  assert.deepEqual(fields(secrets, obj('Secret', { type: 'Opaque', data: { k: 'not base64!' } })), ['data[k]']);
  const retyped = obj('Secret', { type: 'kubernetes.io/tls', data: {} });
  assert.deepEqual(secrets.validateUpdate?.(retyped, obj('Secret', { type: 'Opaque' })).map((c) => [c.field, c.message]), [
    ['type', 'Invalid value: "kubernetes.io/tls": field is immutable'],
  ]);
});

test('serviceaccounts table', () => {
  assert.equal(cellOf(serviceaccounts, 'Secrets', obj('ServiceAccount', { secrets: [{ name: 'a' }, { name: 'b' }] })), 2);
  assert.equal(cellOf(serviceaccounts, 'Secrets', obj('ServiceAccount', {})), 0);
});

test('events: v1 validation, columns and cells', () => {
  const ev = obj(
    'Event',
    {
      involvedObject: { kind: 'Pod', namespace: 'default', name: 'web-0', fieldPath: 'spec.containers{nginx}' },
      reason: 'Started',
      message: ' Started container nginx ',
      type: 'Normal',
      source: { component: 'kubelet', host: 'node-1' },
      count: 3,
      firstTimestamp: '2025-01-01T11:50:00Z',
      lastTimestamp: '2025-01-01T11:59:00Z',
    },
    { name: 'web-0.181f', namespace: 'default' },
  );
  assert.deepEqual(events.validate?.(ev), []);
  const now = Date.parse('2025-01-01T12:00:00Z');
  assert.deepEqual(eventTableCells(ev, now), { lastSeen: '60s', firstSeen: '10m', count: 3, object: 'pod/web-0', source: 'kubelet, node-1' });
  assert.equal(events.omitNameColumn, true);
  assert.deepEqual(
    events.columns.map((c) => [c.name, c.priority]),
    [
      ['Last Seen', 0],
      ['Type', 0],
      ['Reason', 0],
      ['Object', 0],
      ['Subobject', 1],
      ['Source', 1],
      ['Message', 0],
      ['First Seen', 1],
      ['Count', 1],
      ['Name', 1],
    ],
  );
  assert.equal(cellOf(events, 'Message', ev), 'Started container nginx');
  assert.equal(cellOf(events, 'Name', ev), 'web-0.181f');
  const mismatch = JSON.parse(JSON.stringify(ev)) as KubeObject;
  (mismatch.involvedObject as Obj).namespace = 'other';
  assert.deepEqual(fields(events, mismatch), ['involvedObject.namespace']);
  const series = obj('Event', { eventTime: '2025-01-01T11:00:00.000000Z', involvedObject: { kind: 'Node', name: 'n1' } }, { namespace: 'default' });
  assert.deepEqual(fields(events, series), ['reportingComponent', 'reportingComponent', 'reportingInstance', 'action', 'reason']);
  assert.deepEqual(eventTableCells(series, now).count, 1);
  assert.equal(eventTableCells(series, now).lastSeen, '60m');
  assert.equal(events.fieldSelectors?.['involvedObject.name'](ev), 'web-0');
  assert.equal(events.fieldSelectors?.source(ev), 'kubelet');
});

test('nodes: defaults, taints, CIDRs, status cells', () => {
  const n = obj('Node', { spec: { podCIDR: '10.244.1.0/24', taints: [{ key: 'dedicated', value: 'db', effect: 'NoSchedule' }] }, status: { capacity: { cpu: '4', memory: '8Gi', pods: '110' } } }, { labels: { 'node-role.kubernetes.io/control-plane': '' } });
  nodes.defaults?.(n);
  assert.deepEqual((n.spec as Obj).podCIDRs, ['10.244.1.0/24']);
  assert.deepEqual((n.status as Obj).allocatable, { cpu: '4', memory: '8Gi', pods: '110' });
  assert.deepEqual(nodes.validate?.(n), []);
  assert.equal(cellOf(nodes, 'Status', n), 'Unknown');
  (n.status as Obj).conditions = [{ type: 'Ready', status: 'True' }];
  (n.spec as Obj).unschedulable = true;
  assert.equal(cellOf(nodes, 'Status', n), 'Ready,SchedulingDisabled');
  assert.equal(cellOf(nodes, 'Roles', n), 'control-plane');
  assert.equal(nodes.fieldSelectors?.['spec.unschedulable'](n), 'true');
  (n.status as Obj).addresses = [{ type: 'InternalIP', address: '192.168.1.5' }];
  (n.status as Obj).nodeInfo = { kubeletVersion: 'v1.32.0-kennel' };
  assert.equal(cellOf(nodes, 'Internal-IP', n), '192.168.1.5');
  assert.equal(cellOf(nodes, 'External-IP', n), '<none>');
  assert.equal(cellOf(nodes, 'Version', n), 'v1.32.0-kennel');
  assert.equal(cellOf(nodes, 'OS-Image', n), '<unknown>');

  const badTaint = obj('Node', { spec: { taints: [{ key: 'k', effect: 'NoRun' }, { key: 'k', effect: 'NoRun' }] } });
  assert.deepEqual(fields(nodes, badTaint), ['metadata.taints[0].effect', 'metadata.taints[1].effect', 'metadata.taints[1]']);
  const noEffect = obj('Node', { spec: { taints: [{ key: 'k' }] } });
  assert.deepEqual((nodes.validate?.(noEffect) ?? []).map((c) => c.message), ['Required value']);
  assert.deepEqual(fields(nodes, obj('Node', { spec: { podCIDRs: ['10.0.0.0/33'] } })), ['spec.podCIDRs[0]']);
  assert.deepEqual(fields(nodes, obj('Node', { status: { capacity: { cpu: '-1' } } })), ['status.capacity.cpu']);
  const moved = obj('Node', { spec: { podCIDRs: ['10.0.1.0/24'] } });
  assert.deepEqual(nodes.validateUpdate?.(moved, obj('Node', { spec: { podCIDRs: ['10.0.0.0/24'] } })).map((c) => c.field), ['spec.podCIDRs']);
  assert.deepEqual(nodes.validateUpdate?.(moved, obj('Node', { spec: {} })), []);
});

function pv(spec: Obj): KubeObject {
  const o = obj('PersistentVolume', { spec });
  persistentvolumes.defaults?.(o);
  persistentvolumes.prepareForCreate?.(o);
  return o;
}

test('persistent volumes', () => {
  const good = pv({ capacity: { storage: '10Gi' }, accessModes: ['ReadWriteOnce'], hostPath: { path: '/data/pv1' }, storageClassName: 'local' });
  assert.equal((good.spec as Obj).persistentVolumeReclaimPolicy, 'Retain');
  assert.equal((good.spec as Obj).volumeMode, 'Filesystem');
  assert.equal((good.status as Obj).phase, 'Pending');
  assert.match(String((good.status as Obj).lastPhaseTransitionTime), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  assert.deepEqual(persistentvolumes.validate?.(good), []);
  const cases: Array<[Obj, string[]]> = [
    [{ capacity: { storage: '10Gi' }, hostPath: { path: '/x' } }, ['spec.accessModes']],
    [{ capacity: { storage: '10Gi' }, accessModes: ['ReadWriteAlways'], hostPath: { path: '/x' } }, ['spec.accessModes']],
    [{ accessModes: ['ReadWriteOnce'], hostPath: { path: '/x' } }, ['spec.capacity', 'spec.capacity']],
    [{ capacity: { storage: '0' }, accessModes: ['ReadWriteOnce'], hostPath: { path: '/x' } }, ['spec.capacity[storage]']],
    [{ capacity: { storage: '1Gi' }, accessModes: ['ReadWriteOnce'] }, ['spec']],
    [{ capacity: { storage: '1Gi' }, accessModes: ['ReadWriteOnce'], hostPath: { path: '/x' }, nfs: { server: 's', path: '/e' } }, ['spec.nfs']],
    [{ capacity: { storage: '1Gi' }, accessModes: ['ReadWriteOnce'], hostPath: { path: '/x' }, persistentVolumeReclaimPolicy: 'Keep' }, ['spec.persistentVolumeReclaimPolicy']],
    [{ capacity: { storage: '1Gi' }, accessModes: ['ReadWriteOnce'], local: { path: '/mnt/disk' } }, ['spec.nodeAffinity']],
  ];
  for (const [spec, expected] of cases) assert.deepEqual(fields(persistentvolumes, pv(spec)), expected, JSON.stringify(spec));
  const moved = pv({ capacity: { storage: '10Gi' }, accessModes: ['ReadWriteOnce'], hostPath: { path: '/data/other' } });
  assert.deepEqual(persistentvolumes.validateUpdate?.(moved, good).map((c) => c.field), ['spec.persistentvolumesource']);
  const grown = pv({ capacity: { storage: '20Gi' }, accessModes: ['ReadWriteOnce'], hostPath: { path: '/data/pv1' } });
  assert.deepEqual(persistentvolumes.validateUpdate?.(grown, good), []);
  good.spec = { ...(good.spec as Obj), claimRef: { namespace: 'default', name: 'data-web-0' }, accessModes: ['ReadWriteMany', 'ReadWriteOnce'] };
  assert.equal(cellOf(persistentvolumes, 'Capacity', good), '10Gi');
  assert.equal(cellOf(persistentvolumes, 'Access Modes', good), 'RWO,RWX');
  assert.equal(cellOf(persistentvolumes, 'Claim', good), 'default/data-web-0');
  assert.equal(cellOf(persistentvolumes, 'StorageClass', good), 'local');
  assert.equal(cellOf(persistentvolumes, 'VolumeAttributesClass', good), '<unset>');
  assert.equal(cellOf(persistentvolumes, 'Status', good), 'Pending');
  assert.equal(cellOf(persistentvolumes, 'VolumeMode', good), 'Filesystem');
  assert.deepEqual(
    persistentvolumes.columns.map((c) => c.name),
    ['Capacity', 'Access Modes', 'Reclaim Policy', 'Status', 'Claim', 'StorageClass', 'VolumeAttributesClass', 'Reason', 'Age', 'VolumeMode'],
  );
});

function pvc(spec: Obj, status?: Obj): KubeObject {
  const o = obj('PersistentVolumeClaim', { spec }, { namespace: 'default' });
  persistentvolumeclaims.defaults?.(o);
  persistentvolumeclaims.prepareForCreate?.(o);
  if (status) o.status = status;
  return o;
}

test('persistent volume claims', () => {
  const base = { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } };
  const good = pvc(base);
  assert.equal((good.spec as Obj).volumeMode, 'Filesystem');
  assert.deepEqual(good.status, { phase: 'Pending' });
  assert.deepEqual(persistentvolumeclaims.validate?.(good), []);
  const cases: Array<[Obj, string, string]> = [
    [{ resources: { requests: { storage: '1Gi' } } }, 'spec.accessModes', 'Required value: at least 1 access mode is required'],
    [{ accessModes: ['ReadWriteOnce'] }, 'spec.resources[storage]', 'Required value'],
    [{ accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '0' } } }, 'spec.resources[storage]', 'Invalid value: "0": must be greater than zero'],
    [{ ...base, accessModes: ['ReadWriteOncePod', 'ReadWriteOnce'] }, 'spec.accessModes', 'Forbidden: may not use ReadWriteOncePod with other access modes'],
    [{ ...base, volumeMode: 'Raw' }, 'spec.volumeMode', 'Unsupported value: "Raw": supported values: "Block", "Filesystem"'],
    [{ ...base, storageClassName: 'Fast_SSD' }, 'spec.storageClassName', ''],
  ];
  for (const [spec, field, message] of cases) {
    const found: FieldCause[] = persistentvolumeclaims.validate?.(pvc(spec)) ?? [];
    assert.deepEqual(found.map((c) => c.field), [field], JSON.stringify(spec));
    if (message) assert.equal(found[0].message, message);
  }
  // Unbound: the whole spec is fixed, except setting volumeName once.
  const bigger = pvc({ ...base, resources: { requests: { storage: '2Gi' } } });
  const causes = persistentvolumeclaims.validateUpdate?.(bigger, good) ?? [];
  assert.deepEqual(causes.map((c) => c.field), ['spec']);
  assert.ok(causes[0].message.startsWith('Forbidden: spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims'));
  const named = pvc({ ...base, volumeName: 'pv-1' });
  assert.deepEqual(persistentvolumeclaims.validateUpdate?.(named, good), []);
  // Bound: storage may grow, and shrink only down to the current capacity.
  const bound = pvc({ ...base, volumeName: 'pv-1' }, { phase: 'Bound', capacity: { storage: '1Gi' }, accessModes: ['ReadWriteOnce'] });
  const grown = pvc({ ...base, volumeName: 'pv-1', resources: { requests: { storage: '5Gi' } } }, bound.status as Obj);
  assert.deepEqual(persistentvolumeclaims.validateUpdate?.(grown, bound), []);
  const shrunk = pvc({ ...base, volumeName: 'pv-1', resources: { requests: { storage: '512Mi' } } }, bound.status as Obj);
  assert.deepEqual(persistentvolumeclaims.validateUpdate?.(shrunk, grown).map((c) => c.message), ['Forbidden: field can not be less than status.capacity']);
  const remode = pvc({ ...base, volumeName: 'pv-1', volumeMode: 'Block' }, bound.status as Obj);
  assert.ok((persistentvolumeclaims.validateUpdate?.(remode, bound) ?? []).some((c) => c.field === 'volumeMode'));
  assert.equal(cellOf(persistentvolumeclaims, 'Capacity', bound), '1Gi');
  assert.equal(cellOf(persistentvolumeclaims, 'Access Modes', bound), 'RWO');
  assert.equal(cellOf(persistentvolumeclaims, 'Volume', bound), 'pv-1');
  assert.equal(cellOf(persistentvolumeclaims, 'Capacity', good), '');
  assert.equal(cellOf(persistentvolumeclaims, 'Status', good), 'Pending');
  assert.deepEqual(
    persistentvolumeclaims.columns.map((c) => [c.name, c.priority]),
    [
      ['Status', 0],
      ['Volume', 0],
      ['Capacity', 0],
      ['Access Modes', 0],
      ['StorageClass', 0],
      ['VolumeAttributesClass', 0],
      ['Age', 0],
      ['VolumeMode', 1],
    ],
  );
});
