// Table tests of the local-path provisioner's decisions (src/controllers/volumes/provisioner.ts):
// the volume it makes for a claim, what it refuses, growing volumes, deleting released ones, and
// which directories a node's cleaner may touch (node-cleaner.ts ownedLocalPath).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  ANN_NODE_DATA_DIR,
  ANN_PROVISIONED_BY,
  ANN_SELECTED_NODE,
  ANN_STORAGE_PROVISIONER,
  LOCAL_PATH_FINALIZER,
  decideClaim,
  decideVolume,
  localPathFor,
  localPathStorageClass,
  ownedLocalPath,
  type NodeObject,
  type PersistentVolume,
  type PersistentVolumeClaim,
  type ProvisionerDecision,
  type ProvisionerView,
  type StorageClass,
} from '../../src/controllers/volumes/index.ts';

const NS = 'shop';
const DATA = '/var/lib/kennel';
const UID = '0b5e0f9c-3f4a-4d1e-9a57-1c2d3e4f5a6b';

function claim(o: { name?: string; size?: string; modes?: string[]; cls?: string; node?: string; handed?: boolean; extra?: Record<string, unknown>; volumeName?: string; phase?: string; capacity?: string } = {}): PersistentVolumeClaim {
  const annotations: Record<string, string> = {};
  if (o.handed !== false) annotations[ANN_STORAGE_PROVISIONER] = 'kennel.dev/local-path';
  if (o.node) annotations[ANN_SELECTED_NODE] = o.node;
  return {
    apiVersion: 'v1',
    kind: 'PersistentVolumeClaim',
    metadata: { name: o.name ?? 'www-web-0', namespace: NS, uid: UID, resourceVersion: '42', annotations },
    spec: {
      accessModes: o.modes ?? ['ReadWriteOnce'],
      resources: { requests: { storage: o.size ?? '1Gi' } },
      storageClassName: o.cls ?? 'local-path',
      volumeMode: 'Filesystem',
      ...(o.volumeName ? { volumeName: o.volumeName } : {}),
      ...(o.extra ?? {}),
    } as PersistentVolumeClaim['spec'],
    status: { phase: o.phase ?? 'Pending', ...(o.capacity ? { capacity: { storage: o.capacity } } : {}) },
  };
}

function node(name: string, dataDir: string | null = DATA): NodeObject {
  return { metadata: { name, labels: { 'kubernetes.io/hostname': name }, ...(dataDir ? { annotations: { [ANN_NODE_DATA_DIR]: dataDir } } : {}) } };
}

function view(o: { volumes?: PersistentVolume[]; classes?: StorageClass[]; nodes?: NodeObject[]; defaultDataDir?: string } = {}): ProvisionerView {
  const classes = o.classes ?? [localPathStorageClass()];
  const nodes = o.nodes ?? [node('node-a')];
  return {
    volume: (n) => (o.volumes ?? []).find((v) => v.metadata.name === n),
    storageClass: (n) => classes.find((c) => c.metadata.name === n),
    node: (n) => nodes.find((x) => x.metadata.name === n),
    defaultDataDir: o.defaultDataDir,
  };
}

function ops(d: ProvisionerDecision): string[] {
  return d.writes.map((w) => ('object' in w ? `${w.op} ${w.object.metadata.name}` : `${w.op} ${w.name}`));
}

function provisioned(d: ProvisionerDecision): PersistentVolume {
  const w = d.writes[0];
  assert.ok(w && w.op === 'create', `expected a create; got ${JSON.stringify(ops(d))}`);
  return w.object as PersistentVolume;
}

describe('decideClaim: provisioning', () => {
  it('makes the volume of a claim handed to it with a selected node', () => {
    const c = claim({ size: '2Gi', modes: ['ReadWriteOncePod'], node: 'node-a' });
    const d = decideClaim(c, view());
    const v = provisioned(d);
    assert.equal(v.metadata.name, `pvc-${UID}`);
    assert.deepEqual(v.metadata.annotations, { [ANN_PROVISIONED_BY]: 'kennel.dev/local-path' });
    assert.deepEqual(v.metadata.finalizers, [LOCAL_PATH_FINALIZER]);
    assert.deepEqual(v.spec?.local, { path: `${DATA}/storage/pvc-${UID}_${NS}_www-web-0` });
    assert.deepEqual(v.spec?.nodeAffinity, { required: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'In', values: ['node-a'] }] }] } });
    assert.deepEqual(v.spec?.capacity, { storage: '2Gi' });
    assert.deepEqual(v.spec?.accessModes, ['ReadWriteOncePod']);
    assert.equal(v.spec?.persistentVolumeReclaimPolicy, 'Delete');
    assert.equal(v.spec?.storageClassName, 'local-path');
    assert.equal(v.spec?.volumeMode, 'Filesystem');
    assert.deepEqual(v.spec?.claimRef, { apiVersion: 'v1', kind: 'PersistentVolumeClaim', namespace: NS, name: 'www-web-0', uid: UID, resourceVersion: '42' });
    assert.deepEqual(d.events, []);
    assert.deepEqual(d.successEvents.map((e) => [e.type, e.reason, e.message]), [['Normal', 'ProvisioningSucceeded', `Successfully provisioned volume pvc-${UID}`]]);
  });

  it('takes the reclaim policy and mount options of the class, and the node’s own data dir', () => {
    const cls: StorageClass = { ...localPathStorageClass(false), metadata: { name: 'keep' }, reclaimPolicy: 'Retain', mountOptions: ['noatime'] };
    const d = decideClaim(claim({ cls: 'keep', node: 'node-b' }), view({ classes: [cls], nodes: [node('node-b', '/srv/kennel/')] }));
    const v = provisioned(d);
    assert.equal(v.spec?.persistentVolumeReclaimPolicy, 'Retain');
    assert.deepEqual(v.spec?.mountOptions, ['noatime']);
    assert.equal(v.spec?.local?.path, `/srv/kennel/storage/pvc-${UID}_${NS}_www-web-0`);
  });

  it('a node without the annotation uses the configured default data dir', () => {
    const v = provisioned(decideClaim(claim({ node: 'node-a' }), view({ nodes: [node('node-a', null)], defaultDataDir: '/data' })));
    assert.equal(v.spec?.local?.path, `/data/storage/pvc-${UID}_${NS}_www-web-0`);
  });

  it('cuts the directory name to 255 bytes', () => {
    const long = 'x'.repeat(253);
    const path = localPathFor(DATA, claim({ name: long }));
    const base = path.slice(`${DATA}/storage/`.length);
    assert.equal(Buffer.byteLength(base), 255);
    assert.ok(base.startsWith(`pvc-${UID}_${NS}_xxx`));
  });

  const ignored: { name: string; c: PersistentVolumeClaim; v?: ProvisionerView }[] = [
    { name: 'not handed to it', c: claim({ node: 'node-a', handed: false }) },
    { name: 'handed to another provisioner', c: { ...claim({ node: 'node-a' }), metadata: { ...claim().metadata, annotations: { [ANN_STORAGE_PROVISIONER]: 'example.com/nfs', [ANN_SELECTED_NODE]: 'node-a' } } } },
    { name: 'its class belongs to another provisioner', c: claim({ node: 'node-a' }), v: view({ classes: [{ ...localPathStorageClass(), provisioner: 'example.com/nfs' }] }) },
    { name: 'its class is gone', c: claim({ node: 'node-a' }), v: view({ classes: [] }) },
    { name: 'WaitForFirstConsumer and no node chosen yet', c: claim() },
    { name: 'already provisioned (the binder binds it)', c: claim({ node: 'node-a' }), v: view({ volumes: [{ metadata: { name: `pvc-${UID}` } }] }) },
    { name: 'being deleted', c: { ...claim({ node: 'node-a' }), metadata: { ...claim({ node: 'node-a' }).metadata, deletionTimestamp: '2024-01-01T00:00:00Z' } } },
  ];
  for (const x of ignored) {
    it(`does nothing for a claim ${x.name}`, () => {
      const d = decideClaim(x.c, x.v ?? view());
      assert.deepEqual(ops(d), []);
      assert.deepEqual(d.events, []);
      assert.equal(d.failed, undefined);
    });
  }

  const refused: { name: string; c: PersistentVolumeClaim; v?: ProvisionerView; message: RegExp }[] = [
    {
      name: 'Immediate class without a node',
      c: claim(),
      v: view({ classes: [{ ...localPathStorageClass(), volumeBindingMode: 'Immediate' }] }),
      message: /^configuration error, no node was specified: .*WaitForFirstConsumer/,
    },
    { name: 'a selector', c: claim({ node: 'node-a', extra: { selector: { matchLabels: { a: 'b' } } } }), message: /^claim Selector is not supported$/ },
    { name: 'volumeMode Block', c: claim({ node: 'node-a', extra: { volumeMode: 'Block' } }), message: /volumeMode Block is not supported/ },
    { name: 'a data source', c: claim({ node: 'node-a', extra: { dataSource: { kind: 'PersistentVolumeClaim', name: 'src' } } }), message: /data sources are not supported/ },
    { name: 'ReadWriteMany', c: claim({ node: 'node-a', modes: ['ReadWriteOnce', 'ReadWriteMany'] }), message: /access mode ReadWriteMany is not supported/ },
    { name: 'a node that does not exist', c: claim({ node: 'ghost' }), message: /^node "ghost" not found$/ },
    { name: 'a node without data dir', c: claim({ node: 'node-a' }), v: view({ nodes: [node('node-a', null)] }), message: /^node "node-a" does not report its data directory \(annotation kennel.dev\/data-dir/ },
    { name: 'a relative data dir', c: claim({ node: 'node-a' }), v: view({ nodes: [node('node-a', 'data')] }), message: /does not report its data directory/ },
  ];
  for (const r of refused) {
    it(`refuses ${r.name}: ProvisioningFailed, retried`, () => {
      const d = decideClaim(r.c, r.v ?? view());
      assert.deepEqual(ops(d), []);
      assert.equal(d.events.length, 1);
      assert.equal(d.events[0].type, 'Warning');
      assert.equal(d.events[0].reason, 'ProvisioningFailed');
      assert.match(d.events[0].message, r.message);
      assert.equal(d.failed, d.events[0].message);
    });
  }
});

describe('decideClaim: growing a volume', () => {
  const volume = (size: string, o: { uid?: string; ours?: boolean } = {}): PersistentVolume => ({
    apiVersion: 'v1',
    kind: 'PersistentVolume',
    metadata: { name: 'pv1', resourceVersion: '7', annotations: o.ours === false ? {} : { [ANN_PROVISIONED_BY]: 'kennel.dev/local-path' } },
    spec: { capacity: { storage: size }, accessModes: ['ReadWriteOnce'], claimRef: { name: 'www-web-0', namespace: NS, uid: o.uid ?? UID }, local: { path: '/x' } },
    status: { phase: 'Bound' },
  });
  const bound = (size: string, capacity: string): PersistentVolumeClaim => claim({ size, volumeName: 'pv1', phase: 'Bound', capacity });

  it('a request above the capacity grows the volume, then the claim’s status', () => {
    const d = decideClaim(bound('3Gi', '1Gi'), view({ volumes: [volume('1Gi')] }));
    assert.deepEqual(ops(d), ['update pv1', 'updateStatus www-web-0']);
    const [pvw, cw] = d.writes as { object: PersistentVolume & PersistentVolumeClaim }[];
    assert.deepEqual(pvw.object.spec?.capacity, { storage: '3Gi' });
    assert.deepEqual(cw.object.status?.capacity, { storage: '3Gi' });
    assert.deepEqual(cw.object.status?.allocatedResources, { storage: '3Gi' });
    assert.equal(cw.object.status?.phase, 'Bound');
    assert.deepEqual(d.successEvents.map((e) => e.reason), ['VolumeResizeSuccessful']);
  });

  it('a claim status behind its (grown) volume catches up', () => {
    const d = decideClaim(bound('3Gi', '1Gi'), view({ volumes: [volume('3Gi')] }));
    assert.deepEqual(ops(d), ['updateStatus www-web-0']);
  });

  it('nothing to do when the volume is big enough and the status says so', () => {
    assert.deepEqual(ops(decideClaim(bound('1Gi', '1Gi'), view({ volumes: [volume('1Gi')] }))), []);
    assert.deepEqual(ops(decideClaim(bound('1Gi', '2Gi'), view({ volumes: [volume('2Gi')] }))), []);
  });

  it('a class without allowVolumeExpansion: a warning, nothing grown', () => {
    const cls = { ...localPathStorageClass(), allowVolumeExpansion: false };
    const d = decideClaim(bound('3Gi', '1Gi'), view({ volumes: [volume('1Gi')], classes: [cls] }));
    assert.deepEqual(ops(d), []);
    assert.deepEqual(d.events.map((e) => [e.type, e.reason]), [['Warning', 'VolumeResizeFailed']]);
  });

  it('not grown: volumes of other provisioners, claims not Bound, volumes bound to another uid', () => {
    assert.deepEqual(ops(decideClaim(bound('3Gi', '1Gi'), view({ volumes: [volume('1Gi', { ours: false })] }))), []);
    assert.deepEqual(ops(decideClaim(claim({ size: '3Gi', volumeName: 'pv1', phase: 'Pending' }), view({ volumes: [volume('1Gi')] }))), []);
    assert.deepEqual(ops(decideClaim(bound('3Gi', '1Gi'), view({ volumes: [volume('1Gi', { uid: 'other' })] }))), []);
  });
});

describe('decideVolume: deleting', () => {
  const vol = (o: { phase?: string; policy?: string; ours?: boolean; deleting?: boolean; finalizer?: boolean; node?: string } = {}): PersistentVolume => ({
    metadata: {
      name: 'pv1',
      uid: 'uid-pv1',
      annotations: o.ours === false ? {} : { [ANN_PROVISIONED_BY]: 'kennel.dev/local-path' },
      ...(o.deleting ? { deletionTimestamp: '2024-01-01T00:00:00Z' } : {}),
      ...(o.finalizer === false ? {} : { finalizers: [LOCAL_PATH_FINALIZER] }),
    },
    spec: {
      persistentVolumeReclaimPolicy: o.policy ?? 'Delete',
      local: { path: '/x' },
      nodeAffinity: { required: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'In', values: [o.node ?? 'node-a'] }] }] } },
    },
    status: { phase: o.phase ?? 'Released' },
  });
  const cases: { name: string; v: PersistentVolume; want: string[] }[] = [
    { name: 'Released with Delete: deleted (uid precondition)', v: vol(), want: ['delete pv1'] },
    { name: 'Released with Retain: kept', v: vol({ policy: 'Retain' }), want: [] },
    { name: 'Bound: kept', v: vol({ phase: 'Bound' }), want: [] },
    { name: 'not provisioned here: left alone', v: vol({ ours: false }), want: [] },
    { name: 'being deleted, node present: the node’s cleaner finishes it', v: vol({ deleting: true }), want: [] },
    { name: 'being deleted, node gone: the finalizer is released', v: vol({ deleting: true, node: 'gone' }), want: ['releaseFinalizer pv1'] },
    { name: 'being deleted without the finalizer: nothing', v: vol({ deleting: true, node: 'gone', finalizer: false }), want: [] },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const d = decideVolume(c.v, view());
      assert.deepEqual(ops(d), c.want);
      const del = d.writes.find((w) => w.op === 'delete');
      if (del && del.op === 'delete') assert.equal(del.uid, 'uid-pv1');
    });
  }
});

describe('ownedLocalPath: which directories a node may touch', () => {
  const pvAt = (path: string, o: { node?: string; ours?: boolean } = {}): PersistentVolume => ({
    metadata: { name: 'pv', annotations: o.ours === false ? {} : { [ANN_PROVISIONED_BY]: 'kennel.dev/local-path' } },
    spec: {
      local: { path },
      nodeAffinity: { required: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'In', values: [o.node ?? 'node-a'] }] }] } },
    },
  });
  const good = `${DATA}/storage/pvc-${UID}_ns_c`;
  const cases: { name: string; v: PersistentVolume; want: string | undefined }[] = [
    { name: 'its own volume', v: pvAt(good), want: good },
    { name: 'another node’s', v: pvAt(good, { node: 'node-b' }), want: undefined },
    { name: 'not provisioned by local-path', v: pvAt(good, { ours: false }), want: undefined },
    { name: 'outside the storage dir', v: pvAt('/etc/pvc-x'), want: undefined },
    { name: 'the storage dir itself', v: pvAt(`${DATA}/storage`), want: undefined },
    { name: 'nested deeper', v: pvAt(`${DATA}/storage/pvc-a/b`), want: undefined },
    { name: 'with ..', v: pvAt(`${DATA}/storage/../pvc-x`), want: undefined },
    { name: 'not a pvc- name', v: pvAt(`${DATA}/storage/data`), want: undefined },
    { name: 'relative', v: pvAt(`storage/pvc-x`), want: undefined },
    { name: 'trailing slash', v: pvAt(`${good}/`), want: undefined },
  ];
  for (const c of cases) {
    it(c.name, () => assert.equal(ownedLocalPath(c.v, 'node-a', DATA), c.want));
  }
});
