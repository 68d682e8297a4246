// Table tests of the PV binder's decisions (src/controllers/volumes/binder.ts and matching.ts):
// which volume a claim gets, the writes of a binding, WaitForFirstConsumer, provisioning
// hand-off, default classes, lost claims, and the volume phases through release and reclaim.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  ANN_BETA_STORAGE_PROVISIONER,
  ANN_BIND_COMPLETED,
  ANN_BOUND_BY_CONTROLLER,
  ANN_DEFAULT_CLASS,
  ANN_PROVISIONED_BY,
  ANN_SELECTED_NODE,
  ANN_STORAGE_PROVISIONER,
  MSG_LOST_REFERENCE,
  MSG_LOST_VOLUME,
  MSG_MISBOUND,
  MSG_NO_CLASS,
  MSG_NO_RECYCLER,
  MSG_WAIT_FOR_CONSUMER,
  defaultClassOf,
  externalProvisioningMessage,
  failedDeleteMessage,
  findBestMatch,
  syncClaim,
  syncVolume,
  withClaimStatus,
  type BinderView,
  type Decision,
  type NodeObject,
  type PersistentVolume,
  type PersistentVolumeClaim,
  type StorageClass,
} from '../../src/controllers/volumes/index.ts';

const NOW = '2024-05-01T10:00:00Z';
const NS = 'default';

interface PvOpts {
  size?: string;
  modes?: string[];
  cls?: string;
  mode?: string;
  labels?: Record<string, string>;
  claimRef?: { name: string; namespace?: string; uid?: string };
  phase?: string;
  policy?: string;
  annotations?: Record<string, string>;
  node?: string;
  deleting?: boolean;
}

function pv(name: string, o: PvOpts = {}): PersistentVolume {
  return {
    apiVersion: 'v1',
    kind: 'PersistentVolume',
    metadata: {
      name,
      uid: `uid-${name}`,
      resourceVersion: '10',
      ...(o.labels ? { labels: o.labels } : {}),
      ...(o.annotations ? { annotations: o.annotations } : {}),
      ...(o.deleting ? { deletionTimestamp: NOW } : {}),
    },
    spec: {
      capacity: { storage: o.size ?? '1Gi' },
      accessModes: o.modes ?? ['ReadWriteOnce'],
      persistentVolumeReclaimPolicy: o.policy ?? 'Retain',
      volumeMode: o.mode ?? 'Filesystem',
      hostPath: { path: `/data/${name}` },
      ...(o.cls !== undefined ? { storageClassName: o.cls } : {}),
      ...(o.claimRef ? { claimRef: { kind: 'PersistentVolumeClaim', namespace: o.claimRef.namespace ?? NS, name: o.claimRef.name, ...(o.claimRef.uid ? { uid: o.claimRef.uid } : {}) } } : {}),
      ...(o.node ? { nodeAffinity: { required: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'In', values: [o.node] }] }] } } } : {}),
    },
    status: { phase: o.phase ?? 'Available' },
  };
}

interface PvcOpts {
  size?: string;
  modes?: string[];
  cls?: string | null;
  mode?: string;
  selector?: Record<string, unknown>;
  volumeName?: string;
  annotations?: Record<string, string>;
  phase?: string;
  capacity?: string;
}

function pvc(name: string, o: PvcOpts = {}): PersistentVolumeClaim {
  const spec: Record<string, unknown> = {
    accessModes: o.modes ?? ['ReadWriteOnce'],
    resources: { requests: { storage: o.size ?? '1Gi' } },
    volumeMode: o.mode ?? 'Filesystem',
  };
  if (o.cls !== null) spec.storageClassName = o.cls ?? '';
  if (o.selector) spec.selector = o.selector;
  if (o.volumeName) spec.volumeName = o.volumeName;
  return {
    apiVersion: 'v1',
    kind: 'PersistentVolumeClaim',
    metadata: { name, namespace: NS, uid: `uid-${name}`, resourceVersion: '20', ...(o.annotations ? { annotations: o.annotations } : {}) },
    spec: spec as PersistentVolumeClaim['spec'],
    status: { phase: o.phase ?? 'Pending', ...(o.capacity ? { capacity: { storage: o.capacity }, accessModes: o.modes ?? ['ReadWriteOnce'] } : {}) },
  };
}

function sc(name: string, o: { mode?: string; provisioner?: string; isDefault?: boolean; created?: string } = {}): StorageClass {
  return {
    apiVersion: 'storage.k8s.io/v1',
    kind: 'StorageClass',
    metadata: { name, creationTimestamp: o.created ?? '2024-01-01T00:00:00Z', ...(o.isDefault ? { annotations: { [ANN_DEFAULT_CLASS]: 'true' } } : {}) },
    provisioner: o.provisioner ?? 'kennel.dev/local-path',
    reclaimPolicy: 'Delete',
    volumeBindingMode: o.mode ?? 'Immediate',
  };
}

function node(name: string, labels: Record<string, string> = {}): NodeObject {
  return { apiVersion: 'v1', kind: 'Node', metadata: { name, labels: { 'kubernetes.io/hostname': name, ...labels } } };
}

function view(o: { volumes?: PersistentVolume[]; claims?: PersistentVolumeClaim[]; classes?: StorageClass[]; nodes?: NodeObject[] } = {}): BinderView {
  const volumes = o.volumes ?? [];
  const claims = o.claims ?? [];
  const classes = o.classes ?? [];
  const nodes = o.nodes ?? [];
  return {
    volume: (n) => volumes.find((v) => v.metadata.name === n),
    volumes: () => volumes,
    claim: (ns, n) => claims.find((c) => c.metadata.namespace === ns && c.metadata.name === n),
    storageClass: (n) => classes.find((c) => c.metadata.name === n),
    storageClasses: () => classes,
    node: (n) => nodes.find((x) => x.metadata.name === n),
    now: NOW,
  };
}

/** The writes as `op resource name`, for order checks. */
function ops(d: Decision): string[] {
  return d.writes.map((w) => `${w.op} ${w.resource === 'persistentvolumes' ? 'pv' : 'pvc'} ${w.object.metadata.name}`);
}

function reasons(d: Decision): string[] {
  return d.events.map((e) => `${e.type} ${e.reason}`);
}

const BIND_ORDER = (volume: string, claim: string): string[] => [`update pv ${volume}`, `updateStatus pv ${volume}`, `update pvc ${claim}`, `updateStatus pvc ${claim}`];

describe('findBestMatch: which volume a claim gets', () => {
  const cases: { name: string; claim: PersistentVolumeClaim; volumes: PersistentVolume[]; delay?: boolean; node?: NodeObject; want: string | undefined }[] = [
    { name: 'smallest volume that fits', claim: pvc('c', { size: '3Gi' }), volumes: [pv('big', { size: '10Gi' }), pv('small', { size: '1Gi' }), pv('mid', { size: '5Gi' })], want: 'mid' },
    { name: 'exact size fits', claim: pvc('c', { size: '5Gi' }), volumes: [pv('a', { size: '5Gi' }), pv('b', { size: '6Gi' })], want: 'a' },
    { name: 'quantities compare by value, not text', claim: pvc('c', { size: '1500Mi' }), volumes: [pv('a', { size: '1Gi' }), pv('b', { size: '2G' })], want: 'b' },
    { name: 'nothing big enough', claim: pvc('c', { size: '20Gi' }), volumes: [pv('a', { size: '10Gi' })], want: undefined },
    { name: 'class must be equal', claim: pvc('c', { cls: 'fast' }), volumes: [pv('a', { cls: 'slow' }), pv('b', { cls: 'fast', size: '2Gi' })], want: 'b' },
    { name: 'a claim without class takes only volumes without class', claim: pvc('c', { cls: '' }), volumes: [pv('a', { cls: 'fast' }), pv('b')], want: 'b' },
    { name: 'access modes must include the requested ones', claim: pvc('c', { modes: ['ReadWriteMany'] }), volumes: [pv('a'), pv('b', { modes: ['ReadWriteOnce', 'ReadWriteMany'], size: '2Gi' })], want: 'b' },
    {
      name: 'fewest access modes first, then smallest',
      claim: pvc('c'),
      volumes: [pv('two', { modes: ['ReadWriteOnce', 'ReadOnlyMany'], size: '1Gi' }), pv('one', { modes: ['ReadWriteOnce'], size: '5Gi' })],
      want: 'one',
    },
    { name: 'volume mode must be equal', claim: pvc('c', { mode: 'Block' }), volumes: [pv('fs'), pv('blk', { mode: 'Block', size: '2Gi' })], want: 'blk' },
    {
      name: 'selector must match the labels',
      claim: pvc('c', { selector: { matchLabels: { tier: 'gold' } } }),
      volumes: [pv('plain'), pv('silver', { labels: { tier: 'silver' } }), pv('gold', { labels: { tier: 'gold' }, size: '3Gi' })],
      want: 'gold',
    },
    {
      name: 'selector expressions',
      claim: pvc('c', { selector: { matchExpressions: [{ key: 'zone', operator: 'NotIn', values: ['a'] }] } }),
      volumes: [pv('za', { labels: { zone: 'a' } }), pv('zb', { labels: { zone: 'b' }, size: '2Gi' })],
      want: 'zb',
    },
    { name: 'volumes bound to another claim are skipped', claim: pvc('c'), volumes: [pv('taken', { claimRef: { name: 'other', uid: 'x' }, phase: 'Bound' }), pv('free', { size: '2Gi' })], want: 'free' },
    { name: 'volumes being deleted are skipped', claim: pvc('c'), volumes: [pv('going', { deleting: true }), pv('staying', { size: '2Gi' })], want: 'staying' },
    {
      name: 'a volume pre-bound to the claim wins over a smaller free one',
      claim: pvc('c'),
      volumes: [pv('free'), pv('reserved', { size: '9Gi', claimRef: { name: 'c' } })],
      want: 'reserved',
    },
    { name: 'a volume pre-bound to the claim with its uid', claim: pvc('c'), volumes: [pv('reserved', { claimRef: { name: 'c', uid: 'uid-c' } })], want: 'reserved' },
    { name: 'a volume reserved for a same-named claim of another uid is not this claim’s', claim: pvc('c'), volumes: [pv('old', { claimRef: { name: 'c', uid: 'uid-old' } })], want: undefined },
    { name: 'a pre-bound volume that is too small is not taken', claim: pvc('c', { size: '5Gi' }), volumes: [pv('reserved', { claimRef: { name: 'c' } })], want: undefined },
    { name: 'claimRef in another namespace is another claim', claim: pvc('c'), volumes: [pv('r', { claimRef: { name: 'c', namespace: 'other' } })], want: undefined },
    { name: 'WaitForFirstConsumer without a node: only pre-bound volumes', claim: pvc('c'), volumes: [pv('free')], delay: true, want: undefined },
    { name: 'WaitForFirstConsumer without a node: pre-bound volume taken', claim: pvc('c'), volumes: [pv('free'), pv('r', { claimRef: { name: 'c' } })], delay: true, want: 'r' },
    {
      name: 'WaitForFirstConsumer with a node: free volumes usable on that node',
      claim: pvc('c'),
      volumes: [pv('on-b', { node: 'b' }), pv('on-a', { node: 'a', size: '2Gi' }), pv('anywhere', { size: '3Gi' })],
      delay: true,
      node: node('a'),
      want: 'on-a',
    },
    { name: 'WaitForFirstConsumer with a node: a pre-bound volume on another node is no match', claim: pvc('c'), volumes: [pv('r', { node: 'b', claimRef: { name: 'c' } })], delay: true, node: node('a'), want: undefined },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const got = findBestMatch(c.claim, c.volumes, { delayBinding: c.delay ?? false, node: c.node });
      assert.equal(got?.metadata.name, c.want);
    });
  }
});

describe('syncClaim: binding a Pending claim', () => {
  it('binds a claim to a free volume: volume first, then the claim, then both statuses', () => {
    const claim = pvc('data', { size: '2Gi', modes: ['ReadWriteOnce'] });
    const vol = pv('pv1', { size: '5Gi', modes: ['ReadWriteOnce', 'ReadOnlyMany'], phase: 'Available' });
    const d = syncClaim(claim, view({ volumes: [vol], claims: [claim] }));
    assert.deepEqual(ops(d), BIND_ORDER('pv1', 'data'));
    const boundVol = d.writes[0].object as PersistentVolume;
    assert.deepEqual(boundVol.spec?.claimRef, { kind: 'PersistentVolumeClaim', namespace: NS, name: 'data', uid: 'uid-data', apiVersion: 'v1', resourceVersion: '20' });
    assert.equal(boundVol.metadata.annotations?.[ANN_BOUND_BY_CONTROLLER], 'yes');
    const volStatus = d.writes[1].object as PersistentVolume;
    assert.equal(volStatus.status?.phase, 'Bound');
    assert.equal(volStatus.status?.lastPhaseTransitionTime, NOW);
    assert.deepEqual(volStatus.spec?.claimRef, boundVol.spec?.claimRef, 'the status write builds on the bound volume');
    const boundClaim = d.writes[2].object as PersistentVolumeClaim;
    assert.equal(boundClaim.spec?.volumeName, 'pv1');
    assert.equal(boundClaim.metadata.annotations?.[ANN_BOUND_BY_CONTROLLER], 'yes');
    assert.equal(boundClaim.metadata.annotations?.[ANN_BIND_COMPLETED], 'yes');
    const claimStatus = d.writes[3].object as PersistentVolumeClaim;
    assert.equal(claimStatus.status?.phase, 'Bound');
    assert.deepEqual(claimStatus.status?.capacity, { storage: '5Gi' }, 'capacity is the volume’s, not the request');
    assert.deepEqual(claimStatus.status?.accessModes, ['ReadWriteOnce', 'ReadOnlyMany']);
    assert.equal(claimStatus.spec?.volumeName, 'pv1');
    assert.deepEqual(d.events, []);
  });

  it('a volume pre-bound by a user (claimRef without uid) gets the uid but no bound-by-controller', () => {
    const claim = pvc('data');
    const vol = pv('reserved', { claimRef: { name: 'data' } });
    const d = syncClaim(claim, view({ volumes: [vol], claims: [claim] }));
    assert.deepEqual(ops(d), BIND_ORDER('reserved', 'data'));
    const v = d.writes[0].object as PersistentVolume;
    assert.equal(v.spec?.claimRef?.uid, 'uid-data');
    assert.equal(v.metadata.annotations?.[ANN_BOUND_BY_CONTROLLER], undefined);
    assert.equal((d.writes[2].object as PersistentVolumeClaim).metadata.annotations?.[ANN_BOUND_BY_CONTROLLER], 'yes');
  });

  it('a claim naming its volume (spec.volumeName) binds it; the claim is not marked bound-by-controller', () => {
    const claim = pvc('data', { volumeName: 'wanted' });
    const vol = pv('wanted', { size: '3Gi' });
    const d = syncClaim(claim, view({ volumes: [pv('smaller'), vol], claims: [claim] }));
    assert.deepEqual(ops(d), ['update pv wanted', 'updateStatus pv wanted', 'update pvc data', 'updateStatus pvc data']);
    const c = d.writes[2].object as PersistentVolumeClaim;
    assert.equal(c.metadata.annotations?.[ANN_BOUND_BY_CONTROLLER], undefined);
    assert.equal(c.metadata.annotations?.[ANN_BIND_COMPLETED], 'yes');
    assert.equal((d.writes[0].object as PersistentVolume).metadata.annotations?.[ANN_BOUND_BY_CONTROLLER], 'yes');
  });

  const mismatches: { name: string; vol: PersistentVolume; claim: PvcOpts; why: string }[] = [
    { name: 'too small', vol: pv('w', { size: '1Gi' }), claim: { size: '2Gi' }, why: 'requested PV is too small' },
    { name: 'other class', vol: pv('w', { cls: 'slow' }), claim: { cls: 'fast' }, why: 'storageClassName does not match' },
    { name: 'other volume mode', vol: pv('w', { mode: 'Block' }), claim: {}, why: 'incompatible volumeMode' },
    { name: 'missing access mode', vol: pv('w'), claim: { modes: ['ReadWriteMany'] }, why: 'incompatible accessMode' },
  ];
  for (const m of mismatches) {
    it(`a requested volume that does not fit (${m.name}) is a VolumeMismatch; the claim stays Pending`, () => {
      const claim = pvc('data', { ...m.claim, volumeName: 'w' });
      const d = syncClaim(claim, view({ volumes: [m.vol], claims: [claim] }));
      assert.deepEqual(ops(d), []);
      assert.deepEqual(d.events.map((e) => [e.type, e.reason, e.message]), [['Warning', 'VolumeMismatch', `Cannot bind to requested volume "w": ${m.why}`]]);
    });
  }

  it('a requested volume that does not exist yet: Pending, nothing written when already Pending', () => {
    const claim = pvc('data', { volumeName: 'later' });
    assert.deepEqual(ops(syncClaim(claim, view({ claims: [claim] }))), []);
    const lost = pvc('data2', { volumeName: 'later', phase: 'Lost', capacity: '1Gi' });
    const d = syncClaim(lost, view({ claims: [lost] }));
    assert.deepEqual(ops(d), ['updateStatus pvc data2']);
    const st = (d.writes[0].object as PersistentVolumeClaim).status;
    assert.equal(st?.phase, 'Pending');
    assert.equal(st?.capacity, undefined);
    assert.equal(st?.accessModes, undefined);
  });

  it('a requested volume bound to another claim: FailedBinding, Pending', () => {
    const claim = pvc('data', { volumeName: 'taken' });
    const d = syncClaim(claim, view({ volumes: [pv('taken', { claimRef: { name: 'other', uid: 'uid-other' }, phase: 'Bound' })], claims: [claim] }));
    assert.deepEqual(ops(d), []);
    assert.deepEqual(reasons(d), ['Warning FailedBinding']);
    assert.equal(d.events[0].message, 'volume "taken" already bound to a different claim.');
  });

  it('a half-done binding (volume points at the claim, claim Pending) is finished without touching the volume spec', () => {
    const claim = pvc('data');
    const vol = pv('pv1', { claimRef: { name: 'data', uid: 'uid-data' }, phase: 'Bound', annotations: { [ANN_BOUND_BY_CONTROLLER]: 'yes' } });
    const d = syncClaim(claim, view({ volumes: [vol], claims: [claim] }));
    assert.deepEqual(ops(d), ['update pvc data', 'updateStatus pvc data']);
  });
});

describe('syncClaim: classes, WaitForFirstConsumer and provisioning', () => {
  const wffc = sc('local-path', { mode: 'WaitForFirstConsumer' });

  it('WaitForFirstConsumer without a selected node: waits (event), binds nothing, even with a free volume', () => {
    const claim = pvc('data', { cls: 'local-path' });
    const d = syncClaim(claim, view({ volumes: [pv('free', { cls: 'local-path' })], classes: [wffc], claims: [claim] }));
    assert.deepEqual(ops(d), []);
    assert.deepEqual(d.events.map((e) => [e.type, e.reason, e.message]), [['Normal', 'WaitForFirstConsumer', MSG_WAIT_FOR_CONSUMER]]);
  });

  it('WaitForFirstConsumer with a selected node and no volume: handed to the class provisioner (both annotations)', () => {
    const claim = pvc('data', { cls: 'local-path', annotations: { [ANN_SELECTED_NODE]: 'node-a' } });
    const d = syncClaim(claim, view({ classes: [wffc], claims: [claim], nodes: [node('node-a')] }));
    assert.deepEqual(ops(d), ['update pvc data']);
    const c = d.writes[0].object as PersistentVolumeClaim;
    assert.equal(c.metadata.annotations?.[ANN_STORAGE_PROVISIONER], 'kennel.dev/local-path');
    assert.equal(c.metadata.annotations?.[ANN_BETA_STORAGE_PROVISIONER], 'kennel.dev/local-path');
    assert.equal(c.metadata.annotations?.[ANN_SELECTED_NODE], 'node-a');
    assert.deepEqual(d.events.map((e) => [e.reason, e.message]), [['ExternalProvisioning', externalProvisioningMessage('kennel.dev/local-path')]]);
  });

  it('already handed to the provisioner: no write, the claim waits Pending', () => {
    const claim = pvc('data', {
      cls: 'local-path',
      annotations: { [ANN_SELECTED_NODE]: 'node-a', [ANN_STORAGE_PROVISIONER]: 'kennel.dev/local-path', [ANN_BETA_STORAGE_PROVISIONER]: 'kennel.dev/local-path' },
    });
    assert.deepEqual(ops(syncClaim(claim, view({ classes: [wffc], claims: [claim] }))), []);
  });

  it('WaitForFirstConsumer with a selected node: a free volume on that node is bound instead of provisioning', () => {
    const claim = pvc('data', { cls: 'local-path', annotations: { [ANN_SELECTED_NODE]: 'node-a' } });
    const v = view({ volumes: [pv('on-b', { cls: 'local-path', node: 'node-b' }), pv('on-a', { cls: 'local-path', node: 'node-a' })], classes: [wffc], claims: [claim], nodes: [node('node-a'), node('node-b')] });
    assert.deepEqual(ops(syncClaim(claim, v)), BIND_ORDER('on-a', 'data'));
  });

  it('node affinity is checked against the node’s labels (zone)', () => {
    const claim = pvc('data', { cls: 'local-path', annotations: { [ANN_SELECTED_NODE]: 'node-a' } });
    const zoned = pv('zoned', { cls: 'local-path' });
    zoned.spec!.nodeAffinity = { required: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'topology.kubernetes.io/zone', operator: 'In', values: ['z1'] }] }] } };
    const inZone = view({ volumes: [zoned], classes: [wffc], claims: [claim], nodes: [node('node-a', { 'topology.kubernetes.io/zone': 'z1' })] });
    assert.deepEqual(ops(syncClaim(claim, inZone)), BIND_ORDER('zoned', 'data'));
    const elsewhere = view({ volumes: [zoned], classes: [wffc], claims: [claim], nodes: [node('node-a', { 'topology.kubernetes.io/zone': 'z2' })] });
    assert.deepEqual(ops(syncClaim(claim, elsewhere)), ['update pvc data'], 'no volume on the node: provisioning');
  });

  it('Immediate class, no volume: handed to the provisioner at once', () => {
    const claim = pvc('data', { cls: 'fast' });
    const d = syncClaim(claim, view({ classes: [sc('fast', { provisioner: 'example.com/nfs' })], claims: [claim] }));
    assert.equal((d.writes[0].object as PersistentVolumeClaim).metadata.annotations?.[ANN_STORAGE_PROVISIONER], 'example.com/nfs');
  });

  it('a class that does not exist: ProvisioningFailed, Pending', () => {
    const claim = pvc('data', { cls: 'nope' });
    const d = syncClaim(claim, view({ claims: [claim] }));
    assert.deepEqual(ops(d), []);
    assert.deepEqual(d.events.map((e) => [e.type, e.reason, e.message]), [['Warning', 'ProvisioningFailed', 'storageclass.storage.k8s.io "nope" not found']]);
  });

  it('no class and no default class: FailedBinding', () => {
    const claim = pvc('data', { cls: null });
    const d = syncClaim(claim, view({ claims: [claim], classes: [sc('other')] }));
    assert.deepEqual(ops(d), []);
    assert.deepEqual(d.events.map((e) => [e.reason, e.message]), [['FailedBinding', MSG_NO_CLASS]]);
  });

  it('no class at all and a default class: the default is written into spec.storageClassName', () => {
    const claim = pvc('data', { cls: null });
    const d = syncClaim(claim, view({ claims: [claim], classes: [sc('other'), sc('local-path', { mode: 'WaitForFirstConsumer', isDefault: true })] }));
    assert.deepEqual(ops(d), ['update pvc data']);
    assert.equal((d.writes[0].object as PersistentVolumeClaim).spec?.storageClassName, 'local-path');
  });

  it('storageClassName "" means no class: never defaulted', () => {
    const claim = pvc('data', { cls: '' });
    const d = syncClaim(claim, view({ claims: [claim], classes: [sc('local-path', { isDefault: true })] }));
    assert.deepEqual(ops(d), []);
    assert.deepEqual(reasons(d), ['Normal FailedBinding']);
  });

  it('no class but a volume without class fits: bound before any defaulting', () => {
    const claim = pvc('data', { cls: null });
    const d = syncClaim(claim, view({ volumes: [pv('plain')], claims: [claim], classes: [sc('local-path', { isDefault: true })] }));
    assert.deepEqual(ops(d), BIND_ORDER('plain', 'data'));
  });

  it('the beta class annotation counts as the class', () => {
    const claim = pvc('data', { cls: null, annotations: { 'volume.beta.kubernetes.io/storage-class': 'fast' } });
    const d = syncClaim(claim, view({ volumes: [pv('slow', { cls: 'slow' }), pv('fast', { cls: 'fast', size: '2Gi' })], claims: [claim], classes: [sc('x', { isDefault: true })] }));
    assert.deepEqual(ops(d), BIND_ORDER('fast', 'data'));
  });

  it('defaultClassOf: the newest default class', () => {
    const classes = [sc('old', { isDefault: true, created: '2024-01-01T00:00:00Z' }), sc('new', { isDefault: true, created: '2024-02-01T00:00:00Z' }), sc('plain', { created: '2024-03-01T00:00:00Z' })];
    assert.equal(defaultClassOf(classes)?.metadata.name, 'new');
    assert.equal(defaultClassOf([sc('plain')]), undefined);
  });
});

describe('syncClaim: bound claims', () => {
  const boundAnns = { [ANN_BIND_COMPLETED]: 'yes', [ANN_BOUND_BY_CONTROLLER]: 'yes' };

  it('fully bound: nothing to write', () => {
    const claim = pvc('data', { volumeName: 'pv1', annotations: boundAnns, phase: 'Bound', capacity: '1Gi' });
    const vol = pv('pv1', { claimRef: { name: 'data', uid: 'uid-data' }, phase: 'Bound', annotations: { [ANN_BOUND_BY_CONTROLLER]: 'yes' } });
    vol.spec!.claimRef!.apiVersion = 'v1';
    const d = syncClaim(claim, view({ volumes: [vol], claims: [claim] }));
    assert.deepEqual(ops(d), []);
    assert.deepEqual(d.events, []);
  });

  it('its volume is gone: Lost, ClaimLost, capacity and access modes cleared', () => {
    const claim = pvc('data', { volumeName: 'pv1', annotations: boundAnns, phase: 'Bound', capacity: '1Gi' });
    const d = syncClaim(claim, view({ claims: [claim] }));
    assert.deepEqual(ops(d), ['updateStatus pvc data']);
    const st = (d.writes[0].object as PersistentVolumeClaim).status;
    assert.equal(st?.phase, 'Lost');
    assert.equal(st?.capacity, undefined);
    assert.equal(st?.accessModes, undefined);
    assert.deepEqual(d.events.map((e) => [e.type, e.reason, e.message]), [['Warning', 'ClaimLost', MSG_LOST_VOLUME]]);
  });

  it('its volumeName was removed: Lost', () => {
    const claim = pvc('data', { annotations: boundAnns, phase: 'Bound' });
    const d = syncClaim(claim, view({ claims: [claim] }));
    assert.equal((d.writes[0].object as PersistentVolumeClaim).status?.phase, 'Lost');
    assert.equal(d.events[0].message, MSG_LOST_REFERENCE);
  });

  it('its volume is bound to another claim: Lost, ClaimMisbound', () => {
    const claim = pvc('data', { volumeName: 'pv1', annotations: boundAnns, phase: 'Bound' });
    const d = syncClaim(claim, view({ volumes: [pv('pv1', { claimRef: { name: 'thief', uid: 'uid-thief' }, phase: 'Bound' })], claims: [claim] }));
    assert.equal((d.writes[0].object as PersistentVolumeClaim).status?.phase, 'Lost');
    assert.deepEqual(reasons(d), ['Warning ClaimMisbound']);
    assert.equal(d.events[0].message, MSG_MISBOUND);
  });

  it('its volume lost the claimRef: bound again', () => {
    const claim = pvc('data', { volumeName: 'pv1', annotations: boundAnns, phase: 'Bound', capacity: '1Gi' });
    const d = syncClaim(claim, view({ volumes: [pv('pv1', { phase: 'Available' })], claims: [claim] }));
    assert.deepEqual(ops(d), ['update pv pv1', 'updateStatus pv pv1']);
  });
});

describe('syncVolume: volume phases, release and reclaim', () => {
  it('a new volume without claim: Pending → Available', () => {
    const d = syncVolume(pv('new', { phase: 'Pending' }), view());
    assert.deepEqual(ops(d), ['updateStatus pv new']);
    assert.equal((d.writes[0].object as PersistentVolume).status?.phase, 'Available');
    assert.deepEqual(ops(syncVolume(pv('new', { phase: 'Available' }), view())), [], 'already Available');
  });

  it('a volume reserved for a claim (claimRef without uid) is Available', () => {
    const d = syncVolume(pv('r', { phase: 'Pending', claimRef: { name: 'data' } }), view());
    assert.equal((d.writes[0].object as PersistentVolume).status?.phase, 'Available');
  });

  it('bound both ways: Bound', () => {
    const claim = pvc('data', { volumeName: 'pv1', phase: 'Bound' });
    const d = syncVolume(pv('pv1', { claimRef: { name: 'data', uid: 'uid-data' }, phase: 'Available' }), view({ claims: [claim] }));
    assert.deepEqual(ops(d), ['updateStatus pv pv1']);
    assert.equal((d.writes[0].object as PersistentVolume).status?.phase, 'Bound');
  });

  it('points at a claim that does not point back yet: the claim is synced next', () => {
    const claim = pvc('data');
    const d = syncVolume(pv('pv1', { claimRef: { name: 'data', uid: 'uid-data' }, phase: 'Bound' }), view({ claims: [claim] }));
    assert.deepEqual(ops(d), []);
    assert.deepEqual(d.enqueueClaims, ['default/data']);
  });

  const releases: { name: string; vol: PersistentVolume; phase: string | undefined; event?: [string, string] }[] = [
    { name: 'Retain: Released, kept', vol: pv('pv1', { claimRef: { name: 'gone', uid: 'uid-gone' }, phase: 'Bound', policy: 'Retain' }), phase: 'Released' },
    {
      name: 'Delete, provisioned: Released, left to its provisioner',
      vol: pv('pv1', { claimRef: { name: 'gone', uid: 'uid-gone' }, phase: 'Bound', policy: 'Delete', annotations: { [ANN_PROVISIONED_BY]: 'kennel.dev/local-path' } }),
      phase: 'Released',
    },
    {
      name: 'Delete, static: Failed (no plugin can delete it)',
      vol: pv('pv1', { claimRef: { name: 'gone', uid: 'uid-gone' }, phase: 'Bound', policy: 'Delete' }),
      phase: 'Failed',
      event: ['VolumeFailedDelete', failedDeleteMessage('pv1')],
    },
    { name: 'Recycle: Failed', vol: pv('pv1', { claimRef: { name: 'gone', uid: 'uid-gone' }, phase: 'Bound', policy: 'Recycle' }), phase: 'Failed', event: ['VolumeFailedRecycle', MSG_NO_RECYCLER] },
    { name: 'already Released: nothing', vol: pv('pv1', { claimRef: { name: 'gone', uid: 'uid-gone' }, phase: 'Released', policy: 'Retain' }), phase: undefined },
    { name: 'already Failed: nothing', vol: pv('pv1', { claimRef: { name: 'gone', uid: 'uid-gone' }, phase: 'Failed', policy: 'Delete' }), phase: undefined },
  ];
  for (const r of releases) {
    it(`its claim is gone — ${r.name}`, () => {
      const d = syncVolume(r.vol, view());
      if (r.phase === undefined) {
        assert.deepEqual(ops(d), []);
        return;
      }
      assert.deepEqual(ops(d), ['updateStatus pv pv1']);
      const st = (d.writes[0].object as PersistentVolume).status;
      assert.equal(st?.phase, r.phase);
      assert.equal(st?.lastPhaseTransitionTime, NOW);
      assert.deepEqual(d.writes.length, 1);
      if (r.event) {
        assert.deepEqual(d.events.map((e) => [e.type, e.reason, e.message]), [['Warning', ...r.event]]);
        assert.equal(st?.message, r.event[1]);
      } else assert.deepEqual(d.events, []);
      assert.deepEqual((d.writes[0].object as PersistentVolume).spec?.claimRef, r.vol.spec?.claimRef, 'a released volume keeps its claimRef');
    });
  }

  it('its claim was recreated under the same name (new uid): Released', () => {
    const newClaim = pvc('data');
    newClaim.metadata.uid = 'uid-new';
    const d = syncVolume(pv('pv1', { claimRef: { name: 'data', uid: 'uid-data' }, phase: 'Bound' }), view({ claims: [newClaim] }));
    assert.equal((d.writes[0].object as PersistentVolume).status?.phase, 'Released');
  });

  it('the claim got another volume; this one was picked by the binder: freed (claimRef and annotation removed), Available', () => {
    const claim = pvc('data', { volumeName: 'other' });
    const vol = pv('pv1', { claimRef: { name: 'data', uid: 'uid-data' }, phase: 'Bound', annotations: { [ANN_BOUND_BY_CONTROLLER]: 'yes' } });
    const d = syncVolume(vol, view({ claims: [claim] }));
    assert.deepEqual(ops(d), ['update pv pv1', 'updateStatus pv pv1']);
    const v = d.writes[0].object as PersistentVolume;
    assert.equal(v.spec?.claimRef, undefined);
    assert.equal(v.metadata.annotations, undefined);
    assert.equal((d.writes[1].object as PersistentVolume).status?.phase, 'Available');
  });

  it('the claim got another volume; this one was reserved by a user: keeps the reservation without uid', () => {
    const claim = pvc('data', { volumeName: 'other' });
    const d = syncVolume(pv('pv1', { claimRef: { name: 'data', uid: 'uid-data' }, phase: 'Bound' }), view({ claims: [claim] }));
    const v = d.writes[0].object as PersistentVolume;
    assert.deepEqual(v.spec?.claimRef, { kind: 'PersistentVolumeClaim', namespace: NS, name: 'data' });
  });

  it('the claim got another volume; this one was provisioned for it with Delete: Released', () => {
    const claim = pvc('data', { volumeName: 'other' });
    const vol = pv('pv1', { claimRef: { name: 'data', uid: 'uid-data' }, phase: 'Bound', policy: 'Delete', annotations: { [ANN_PROVISIONED_BY]: 'kennel.dev/local-path' } });
    const d = syncVolume(vol, view({ claims: [claim] }));
    assert.deepEqual(ops(d), ['updateStatus pv pv1']);
    assert.equal((d.writes[0].object as PersistentVolume).status?.phase, 'Released');
  });
});

describe('withClaimStatus', () => {
  it('copies capacity when the claim becomes Bound, not after (a resize in progress is kept)', () => {
    const vol = pv('pv1', { size: '2Gi' });
    const becoming = withClaimStatus(pvc('c'), 'Bound', vol);
    assert.deepEqual(becoming?.status?.capacity, { storage: '2Gi' });
    const already = pvc('c', { phase: 'Bound', capacity: '1Gi' });
    assert.equal(withClaimStatus(already, 'Bound', vol), undefined, 'nothing to change for a Bound claim with other capacity');
  });

  it('Pending without volume: unchanged claim → undefined', () => {
    assert.equal(withClaimStatus(pvc('c'), 'Pending', undefined), undefined);
  });
});
