// The volume controllers against a real API server (memory store): the default StorageClass,
// WaitForFirstConsumer provisioning of a local-path volume on the selected node, growing it,
// deleting it with its claim (Released, then gone with its directory), static volumes bound to
// Immediate-class claims, the default class written into claims without one, lost claims, and
// the node's local-path cleaner in a temporary data dir. The test plays the scheduler (it
// writes volume.kubernetes.io/selected-node) and the node (a Node object with its data dir).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, rm, stat, writeFile, readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestServer, type TestServer } from '../support/apiserver.ts';
import { KubeClient, type ResourceRef } from '../../src/client/rest.ts';
import { Informer } from '../../src/client/informer.ts';
import type { KubeObject } from '../../src/registry/types.ts';
import { silentLogger } from '../../src/util/log.ts';
import {
  ANN_BIND_COMPLETED,
  ANN_BOUND_BY_CONTROLLER,
  ANN_DEFAULT_CLASS,
  ANN_NODE_DATA_DIR,
  ANN_PROVISIONED_BY,
  ANN_SELECTED_NODE,
  ANN_STORAGE_PROVISIONER,
  LOCAL_PATH_FINALIZER,
  NODES,
  PVCS,
  PVS,
  STORAGE_CLASSES,
  ensureDefaultStorageClass,
  localPathProvisioner,
  startLocalPathCleaner,
  startLocalPathProvisioner,
  startVolumeBinder,
  volumeBinderController,
  type LocalPathCleaner,
  type LocalPathProvisioner,
  type PersistentVolume,
  type PersistentVolumeClaim,
  type StorageClass,
  type VolumeBinder,
} from '../../src/controllers/volumes/index.ts';
import { waitFor } from '../support/wait.ts';
import { getOrNull as getObjectOrNull } from '../support/cluster.ts';

const EVENTS: ResourceRef = { group: '', version: 'v1', plural: 'events', namespaced: true, kind: 'Event' };
const NS = 'default';
const NODE = 'node-a';

function claimBody(name: string, o: { cls?: string | null; size?: string; annotations?: Record<string, string> } = {}): PersistentVolumeClaim {
  return {
    apiVersion: 'v1',
    kind: 'PersistentVolumeClaim',
    metadata: { name, namespace: NS, ...(o.annotations ? { annotations: o.annotations } : {}) },
    spec: {
      accessModes: ['ReadWriteOnce'],
      resources: { requests: { storage: o.size ?? '1Gi' } },
      ...(o.cls === null ? {} : { storageClassName: o.cls ?? 'local-path' }),
    },
  };
}

describe('volume controllers against the API server', () => {
  let ts: TestServer;
  let client: KubeClient;
  let dataDir: string;
  let outside: string;
  let binder: VolumeBinder;
  let provisioner: LocalPathProvisioner;
  let cleaner: LocalPathCleaner;
  let pvWatch: Informer<PersistentVolume>;
  /** volume name → the phases it went through, as the watch saw them. */
  const phases = new Map<string, string[]>();

  before(async () => {
    ts = await startTestServer();
    client = new KubeClient({ server: ts.url, ca: ts.ca, token: ts.token });
    dataDir = await mkdtemp(join(tmpdir(), 'kennel-node-'));
    outside = await mkdtemp(join(tmpdir(), 'kennel-outside-'));
    await client.create(NODES, { apiVersion: 'v1', kind: 'Node', metadata: { name: NODE, labels: { 'kubernetes.io/hostname': NODE }, annotations: { [ANN_NODE_DATA_DIR]: dataDir } } });
    pvWatch = new Informer<PersistentVolume>(client, PVS, { logger: silentLogger });
    const note = (v: PersistentVolume): void => {
      const name = v.metadata.name ?? '';
      const list = phases.get(name) ?? [];
      const p = v.status?.phase ?? '';
      if (list[list.length - 1] !== p) list.push(p);
      phases.set(name, list);
    };
    pvWatch.addEventHandler({ onAdd: note, onUpdate: (_o, v) => note(v) });
    pvWatch.start();
    await pvWatch.waitForSync({ timeoutMs: 10_000 });
    binder = await startVolumeBinder({ client, logger: silentLogger, syncTimeoutMs: 10_000, resyncMs: 500 });
    provisioner = await startLocalPathProvisioner({ client, logger: silentLogger, syncTimeoutMs: 10_000 });
    cleaner = await startLocalPathCleaner({ client, nodeName: NODE, dataDir, logger: silentLogger, syncTimeoutMs: 10_000 });
  });

  after(async () => {
    await cleaner?.stop();
    await provisioner?.stop();
    await binder?.stop();
    await pvWatch?.stop();
    client?.close();
    await ts?.stop();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
    if (outside) await rm(outside, { recursive: true, force: true });
  });

  const getOrNull = <T extends KubeObject>(res: ResourceRef, ns: string | undefined, name: string): Promise<T | null> => getObjectOrNull<T>(client, res, ns, name);
  const claimNow = (name: string) => client.get<PersistentVolumeClaim>(PVCS, NS, name);
  const eventsAbout = async (name: string): Promise<{ reason: string; type: string; message: string }[]> => {
    const list = await client.list<KubeObject & { involvedObject?: { name?: string }; reason?: string; type?: string; message?: string }>(EVENTS, undefined);
    return list.items.filter((e) => e.involvedObject?.name === name).map((e) => ({ reason: e.reason ?? '', type: e.type ?? '', message: e.message ?? '' }));
  };

  it('creates the default StorageClass local-path (WaitForFirstConsumer, Delete, kennel.dev/local-path)', async () => {
    const sc = await waitFor('the local-path class', async () => (await getOrNull<StorageClass>(STORAGE_CLASSES, undefined, 'local-path')) ?? undefined);
    assert.equal(sc.provisioner, 'kennel.dev/local-path');
    assert.equal(sc.volumeBindingMode, 'WaitForFirstConsumer');
    assert.equal(sc.reclaimPolicy, 'Delete');
    assert.equal(sc.allowVolumeExpansion, true);
    assert.equal(sc.metadata.annotations?.[ANN_DEFAULT_CLASS], 'true');
    const again = await ensureDefaultStorageClass(client);
    assert.equal(again.created, false, 'a second call leaves it alone');
    assert.equal(volumeBinderController.name, 'persistentvolume-binder');
    assert.equal(localPathProvisioner.name, 'local-path-provisioner');
  });

  let claimUid = '';
  let volumeName = '';
  let volumePath = '';

  it('a local-path claim stays Pending until a node is selected, then gets a volume on that node and both are Bound', async () => {
    const created = await client.create<PersistentVolumeClaim>(PVCS, claimBody('www-web-0'));
    claimUid = created.metadata.uid ?? '';
    volumeName = `pvc-${claimUid}`;
    await waitFor('the WaitForFirstConsumer event', async () => (await eventsAbout('www-web-0')).find((e) => e.reason === 'WaitForFirstConsumer'));
    await new Promise((r) => setTimeout(r, 300));
    const waiting = await claimNow('www-web-0');
    assert.equal(waiting.status?.phase, 'Pending');
    assert.equal(waiting.spec?.volumeName, undefined);
    assert.equal(await getOrNull(PVS, undefined, volumeName), null, 'no volume before a node is chosen');

    await client.patch(PVCS, NS, 'www-web-0', { metadata: { annotations: { [ANN_SELECTED_NODE]: NODE } } }, 'merge');
    const bound = await waitFor('the claim to be Bound', async () => {
      const c = await claimNow('www-web-0');
      return c.status?.phase === 'Bound' ? c : undefined;
    });
    assert.equal(bound.spec?.volumeName, volumeName);
    assert.equal(bound.metadata.annotations?.[ANN_BIND_COMPLETED], 'yes');
    assert.equal(bound.metadata.annotations?.[ANN_BOUND_BY_CONTROLLER], 'yes');
    assert.equal(bound.metadata.annotations?.[ANN_STORAGE_PROVISIONER], 'kennel.dev/local-path');
    assert.deepEqual(bound.status?.capacity, { storage: '1Gi' });
    assert.deepEqual(bound.status?.accessModes, ['ReadWriteOnce']);

    const pv = await waitFor('the volume to be Bound', async () => {
      const v = await client.get<PersistentVolume>(PVS, undefined, volumeName);
      return v.status?.phase === 'Bound' ? v : undefined;
    });
    volumePath = pv.spec?.local?.path ?? '';
    assert.equal(volumePath, join(dataDir, 'storage', `${volumeName}_${NS}_www-web-0`));
    assert.deepEqual(pv.spec?.nodeAffinity?.required?.nodeSelectorTerms, [{ matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'In', values: [NODE] }] }]);
    assert.equal(pv.spec?.claimRef?.uid, claimUid);
    assert.equal(pv.spec?.persistentVolumeReclaimPolicy, 'Delete');
    assert.equal(pv.spec?.storageClassName, 'local-path');
    assert.equal(pv.metadata.annotations?.[ANN_PROVISIONED_BY], 'kennel.dev/local-path');
    assert.deepEqual(pv.metadata.finalizers, [LOCAL_PATH_FINALIZER]);
    // Created Pending; Bound (the claim's sync may bind it before the volume's sync calls it Available).
    const seen = phases.get(volumeName) ?? [];
    assert.equal(seen[0], 'Pending');
    assert.equal(seen[seen.length - 1], 'Bound');

    // The node's cleaner made the directory, writable by anyone.
    const st = await waitFor('the volume directory', () => stat(volumePath).catch(() => undefined));
    assert.ok(st.isDirectory());
    assert.equal(st.mode & 0o777, 0o777);
    await writeFile(join(volumePath, 'index.html'), 'web-0\n');
    const evs = await waitFor('ProvisioningSucceeded', async () => {
      const e = await eventsAbout('www-web-0');
      return e.some((x) => x.reason === 'ProvisioningSucceeded') ? e : undefined;
    });
    assert.ok(evs.some((e) => e.reason === 'ExternalProvisioning'));
    assert.ok(evs.some((e) => e.reason === 'Provisioning'));
  });

  it('raising the claim’s request grows the volume and the claim’s status capacity', async () => {
    await client.patch(PVCS, NS, 'www-web-0', { spec: { resources: { requests: { storage: '2Gi' } } } }, 'merge');
    const pv = await waitFor('the volume to grow', async () => {
      const v = await client.get<PersistentVolume>(PVS, undefined, volumeName);
      return v.spec?.capacity?.storage === '2Gi' ? v : undefined;
    });
    assert.equal(pv.status?.phase, 'Bound');
    const c = await waitFor('the claim capacity', async () => {
      const x = await claimNow('www-web-0');
      return x.status?.capacity?.storage === '2Gi' ? x : undefined;
    });
    assert.equal(c.status?.phase, 'Bound');
    assert.equal(c.status?.allocatedResources?.storage, '2Gi');
    assert.equal(await readFile(join(volumePath, 'index.html'), 'utf8'), 'web-0\n', 'the data is untouched');
  });

  it('deleting the claim releases the volume, which is then deleted with its directory (reclaimPolicy Delete)', async () => {
    await client.delete(PVCS, NS, 'www-web-0');
    await waitFor('the volume to go', async () => (await getOrNull(PVS, undefined, volumeName)) === null);
    assert.deepEqual(phases.get(volumeName)?.slice(-2), ['Bound', 'Released']);
    assert.equal(existsSync(volumePath), false, 'the directory is gone');
    assert.ok(existsSync(join(dataDir, 'storage')), 'the storage dir itself stays');
  });

  it('an Available volume binds a matching claim of an Immediate class (the smallest that fits); Retain keeps it Released', async () => {
    await client.create(STORAGE_CLASSES, { apiVersion: 'storage.k8s.io/v1', kind: 'StorageClass', metadata: { name: 'manual' }, provisioner: 'kubernetes.io/no-provisioner', volumeBindingMode: 'Immediate', reclaimPolicy: 'Retain' });
    const staticPv = (name: string, size: string): PersistentVolume => ({
      apiVersion: 'v1',
      kind: 'PersistentVolume',
      metadata: { name },
      spec: { capacity: { storage: size }, accessModes: ['ReadWriteOnce'], storageClassName: 'manual', hostPath: { path: join(outside, name) } },
    });
    await client.create(PVS, staticPv('small', '1Gi'));
    await client.create(PVS, staticPv('big', '5Gi'));
    await waitFor('both volumes Available', async () => {
      const a = await client.get<PersistentVolume>(PVS, undefined, 'small');
      const b = await client.get<PersistentVolume>(PVS, undefined, 'big');
      return a.status?.phase === 'Available' && b.status?.phase === 'Available';
    });
    await client.create(PVCS, claimBody('data', { cls: 'manual', size: '500Mi' }));
    const c = await waitFor('the claim to be Bound', async () => {
      const x = await claimNow('data');
      return x.status?.phase === 'Bound' ? x : undefined;
    });
    assert.equal(c.spec?.volumeName, 'small');
    assert.deepEqual(c.status?.capacity, { storage: '1Gi' });
    const small = await waitFor('small Bound', async () => {
      const v = await client.get<PersistentVolume>(PVS, undefined, 'small');
      return v.status?.phase === 'Bound' ? v : undefined;
    });
    assert.equal(small.spec?.claimRef?.name, 'data');
    assert.equal(small.metadata.annotations?.[ANN_BOUND_BY_CONTROLLER], 'yes');
    assert.equal((await client.get<PersistentVolume>(PVS, undefined, 'big')).status?.phase, 'Available');

    await client.delete(PVCS, NS, 'data');
    await waitFor('small Released', async () => (await client.get<PersistentVolume>(PVS, undefined, 'small')).status?.phase === 'Released');
    await new Promise((r) => setTimeout(r, 700)); // a resync later, it is still there and still Released
    const kept = await client.get<PersistentVolume>(PVS, undefined, 'small');
    assert.equal(kept.status?.phase, 'Released');
    assert.equal(kept.spec?.claimRef?.name, 'data', 'a released volume keeps its claimRef until an administrator clears it');
  });

  it('a bound claim whose volume is deleted is Lost', async () => {
    await client.create(PVCS, claimBody('fragile', { cls: 'manual', size: '2Gi' }));
    await waitFor('fragile Bound to big', async () => {
      const x = await claimNow('fragile');
      return x.status?.phase === 'Bound' && x.spec?.volumeName === 'big';
    });
    await client.delete(PVS, undefined, 'big');
    const lost = await waitFor('fragile Lost', async () => {
      const x = await claimNow('fragile');
      return x.status?.phase === 'Lost' ? x : undefined;
    });
    assert.equal(lost.status?.capacity, undefined);
    await waitFor('the ClaimLost event', async () => (await eventsAbout('fragile')).find((e) => e.reason === 'ClaimLost' && e.type === 'Warning'));
    await client.delete(PVCS, NS, 'fragile');
  });

  it('a claim without storageClassName gets the default class written into it', async () => {
    await client.create(PVCS, claimBody('plain', { cls: null }));
    const c = await waitFor('the default class', async () => {
      const x = await claimNow('plain');
      return x.spec?.storageClassName ? x : undefined;
    });
    assert.equal(c.spec?.storageClassName, 'local-path');
    assert.equal(c.status?.phase, 'Pending', 'and then waits for its first consumer');
    await client.delete(PVCS, NS, 'plain');
  });

  describe('the node’s local-path cleaner', () => {
    const handMade = (name: string, path: string, o: { policy?: string; node?: string } = {}): PersistentVolume => ({
      apiVersion: 'v1',
      kind: 'PersistentVolume',
      metadata: { name, annotations: { [ANN_PROVISIONED_BY]: 'kennel.dev/local-path' }, finalizers: [LOCAL_PATH_FINALIZER] },
      spec: {
        capacity: { storage: '1Gi' },
        accessModes: ['ReadWriteOnce'],
        persistentVolumeReclaimPolicy: o.policy ?? 'Delete',
        storageClassName: 'local-path',
        local: { path },
        nodeAffinity: { required: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'In', values: [o.node ?? NODE] }] }] } },
      },
    });

    it('makes the directory of a volume of its node and removes it when the volume is deleted', async () => {
      const path = join(dataDir, 'storage', 'pvc-manual-1_ns_c');
      await client.create(PVS, handMade('pvc-manual-1', path));
      await waitFor('the directory', () => existsSync(path));
      await writeFile(join(path, 'f'), 'x');
      await client.delete(PVS, undefined, 'pvc-manual-1');
      await waitFor('the volume to go', async () => (await getOrNull(PVS, undefined, 'pvc-manual-1')) === null);
      assert.equal(existsSync(path), false);
    });

    it('keeps the data of a deleted volume whose reclaim policy is Retain (and lets the volume go)', async () => {
      const path = join(dataDir, 'storage', 'pvc-manual-2_ns_c');
      await client.create(PVS, handMade('pvc-manual-2', path, { policy: 'Retain' }));
      await waitFor('the directory', () => existsSync(path));
      await client.delete(PVS, undefined, 'pvc-manual-2');
      await waitFor('the volume to go', async () => (await getOrNull(PVS, undefined, 'pvc-manual-2')) === null);
      assert.ok(existsSync(path), 'retained data stays on the node');
    });

    it('a Bound volume being deleted keeps its directory until its claim is gone', async () => {
      const path = join(dataDir, 'storage', 'pvc-manual-3_default_held');
      const body = handMade('pvc-manual-3', path);
      body.spec!.claimRef = { kind: 'PersistentVolumeClaim', namespace: NS, name: 'held' };
      await client.create(PVS, body);
      await client.create(PVCS, claimBody('held'));
      await waitFor('held Bound', async () => (await claimNow('held')).status?.phase === 'Bound');
      await waitFor('the directory', () => existsSync(path));
      await client.delete(PVS, undefined, 'pvc-manual-3');
      await new Promise((r) => setTimeout(r, 400));
      assert.ok(existsSync(path), 'still in use: kept');
      const terminating = await client.get<PersistentVolume>(PVS, undefined, 'pvc-manual-3');
      assert.ok(terminating.metadata.deletionTimestamp);
      assert.equal(terminating.status?.phase, 'Bound');
      await client.delete(PVCS, NS, 'held');
      await waitFor('the volume to go', async () => (await getOrNull(PVS, undefined, 'pvc-manual-3')) === null);
      assert.equal(existsSync(path), false);
    });

    it('never touches a path outside <dataDir>/storage, whatever the volume says', async () => {
      const path = join(outside, 'pvc-evil');
      await mkdir(path);
      await writeFile(join(path, 'precious'), 'keep');
      await client.create(PVS, handMade('pvc-evil', path));
      await client.delete(PVS, undefined, 'pvc-evil');
      await new Promise((r) => setTimeout(r, 400));
      assert.equal(await readFile(join(path, 'precious'), 'utf8'), 'keep');
      const stuck = await client.get<PersistentVolume>(PVS, undefined, 'pvc-evil');
      assert.ok(stuck.metadata.deletionTimestamp, 'the volume waits (Terminating) for a cleaner that owns it');
      await client.patch(PVS, undefined, 'pvc-evil', { metadata: { finalizers: null } }, 'merge');
      await waitFor('the volume to go', async () => (await getOrNull(PVS, undefined, 'pvc-evil')) === null);
    });

    it('a deleted volume of a node that no longer exists is let go by the provisioner', async () => {
      await client.create(PVS, handMade('pvc-ghost', '/nowhere/storage/pvc-ghost', { node: 'ghost' }));
      await client.delete(PVS, undefined, 'pvc-ghost');
      await waitFor('the volume to go', async () => (await getOrNull(PVS, undefined, 'pvc-ghost')) === null);
      await waitFor('the NodeNotFound event', async () => (await eventsAbout('pvc-ghost')).find((e) => e.reason === 'NodeNotFound'));
    });

    it('counts what it did', () => {
      assert.ok(cleaner.created >= 3, `created ${cleaner.created}`);
      assert.ok(cleaner.removed >= 2, `removed ${cleaner.removed}`);
      assert.ok(provisioner.provisioned >= 1);
    });
  });
});
