// Node status: resources, conditions with heartbeat and transition times, reports only on
// change or when a heartbeat is due; the Lease re-created when it disappears.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type TestServer } from '../support/apiserver.ts';
import { KubeClient } from '../../src/client/rest.ts';
import { silentLogger } from '../../src/util/log.ts';
import { MemoryEventRecorder } from '../../src/agent/events.ts';
import { SimulatedRuntime } from '../../src/agent/runtime/simulated.ts';
import { LEASES, NODES, NodeManager, machineResources, mergeConditions, nodeConditions, nodeStatusChanged, type MachineInfo, type Pressure } from '../../src/agent/node.ts';
import type { KubeObject } from '../../src/registry/types.ts';
import { rfc3339 } from '../../src/agent/status.ts';

const machine: MachineInfo = {
  cpus: 4,
  memoryBytes: 8 * 1024 ** 3,
  ephemeralStorageBytes: 100 * 1024 ** 3,
  hostname: 'box',
  ip: '10.0.0.2',
  osImage: 'Debian GNU/Linux 12 (bookworm)',
  kernelVersion: '6.1.0',
  architecture: 'amd64',
  operatingSystem: 'linux',
  machineID: 'm',
  bootID: 'b',
  systemUUID: 's',
};

describe('node status (pure)', () => {
  it('capacity from the machine; allocatable minus the eviction thresholds; overrides', () => {
    const r = machineResources(machine);
    assert.equal(r.capacity.cpu, '4');
    assert.equal(r.capacity.memory, `${8 * 1024 * 1024}Ki`);
    assert.equal(r.capacity.pods, '110');
    assert.equal(r.capacity['ephemeral-storage'], `${100 * 1024 * 1024}Ki`);
    assert.equal(r.allocatable.memory, `${8 * 1024 * 1024 - 100 * 1024}Ki`);
    assert.equal(r.allocatable['ephemeral-storage'], String(Math.floor(100 * 1024 ** 3 * 0.9)));
    const o = machineResources(machine, { cpu: '32', pods: '250' });
    assert.equal(o.capacity.cpu, '32');
    assert.equal(o.allocatable.pods, '250');
  });

  it('conditions keep their transition time until they flip; the heartbeat always moves', () => {
    const ok: Pressure = { memory: false, disk: false, pid: false };
    const c1 = mergeConditions(undefined, nodeConditions(ok, undefined), 1_000_000);
    const c2 = mergeConditions(c1, nodeConditions(ok, undefined), 2_000_000);
    const c3 = mergeConditions(c2, nodeConditions({ ...ok, memory: true }, 'connection refused'), 3_000_000);
    const by = (cs: typeof c1, t: string) => cs.find((c) => c.type === t)!;
    assert.equal(by(c2, 'Ready').lastTransitionTime, by(c1, 'Ready').lastTransitionTime);
    assert.notEqual(by(c2, 'Ready').lastHeartbeatTime, by(c1, 'Ready').lastHeartbeatTime);
    assert.deepEqual([by(c3, 'Ready').status, by(c3, 'Ready').reason, by(c3, 'Ready').message], ['False', 'KubeletNotReady', 'container runtime is down: connection refused']);
    assert.equal(by(c3, 'Ready').lastTransitionTime, rfc3339(3_000_000));
    assert.deepEqual([by(c3, 'MemoryPressure').status, by(c3, 'MemoryPressure').reason], ['True', 'KubeletHasInsufficientMemory']);
    assert.equal(by(c3, 'DiskPressure').lastTransitionTime, by(c1, 'DiskPressure').lastTransitionTime);
    assert.equal(nodeStatusChanged({ conditions: c1 }, { conditions: c2 }), false, 'a heartbeat alone is no change');
    assert.equal(nodeStatusChanged({ conditions: c2 }, { conditions: c3 }), true);
  });
});

describe('NodeManager against the API', () => {
  let srv: TestServer;
  let client: KubeClient;
  let mgr: NodeManager;
  let pressure: Pressure = { memory: false, disk: false, pid: false };
  let now = Date.parse('2024-06-01T00:00:00Z');

  before(async () => {
    srv = await startTestServer();
    client = KubeClient.fromKubeconfig(srv.kubeconfig);
    mgr = new NodeManager({
      client,
      nodeName: 'n-1',
      runtime: new SimulatedRuntime(),
      logger: silentLogger,
      recorder: new MemoryEventRecorder(),
      dataDir: '/tmp',
      machine,
      statusUpdateMs: 3_600_000,
      leaseRenewMs: 3_600_000,
      kubeletPort: 10250,
      pressure: async () => pressure,
      now: () => now,
    });
    await mgr.start();
  });
  after(async () => {
    await mgr.stop();
    client.close();
    await srv.stop();
  });

  const node = () => client.get<KubeObject & { status: Record<string, any> }>(NODES, undefined, 'n-1');

  it('reports the daemon endpoint and node addresses', async () => {
    const n = await node();
    assert.deepEqual(n.status.daemonEndpoints, { kubeletEndpoint: { Port: 10250 } });
    assert.equal(n.status.addresses[0].address, '10.0.0.2');
    assert.equal(n.status.nodeInfo.osImage, 'Debian GNU/Linux 12 (bookworm)');
  });

  it('writes nothing when nothing changed and no heartbeat is due; writes on a change and when the heartbeat is due', async () => {
    const rv0 = (await node()).metadata.resourceVersion;
    now += 10_000;
    await mgr.syncStatus();
    assert.equal((await node()).metadata.resourceVersion, rv0, 'no write');
    pressure = { memory: false, disk: true, pid: false };
    now += 10_000;
    await mgr.syncStatus();
    const n1 = await node();
    assert.notEqual(n1.metadata.resourceVersion, rv0);
    const disk = n1.status.conditions.find((c: { type: string }) => c.type === 'DiskPressure');
    assert.equal(disk.status, 'True');
    assert.equal(disk.lastTransitionTime, rfc3339(now));
    now += 5 * 60_000 + 1;
    await mgr.syncStatus();
    const n2 = await node();
    assert.notEqual(n2.metadata.resourceVersion, n1.metadata.resourceVersion, 'heartbeat after 5 minutes');
    assert.equal(n2.status.conditions.find((c: { type: string }) => c.type === 'DiskPressure').lastTransitionTime, disk.lastTransitionTime);
  });

  it('renews the lease, and re-creates it when it was deleted', async () => {
    now += 10_000;
    await mgr.syncLease();
    const l1 = await client.get<KubeObject & { spec: Record<string, any> }>(LEASES, 'kube-node-lease', 'n-1');
    assert.equal(Date.parse(l1.spec.renewTime), now);
    await client.delete(LEASES, 'kube-node-lease', 'n-1');
    now += 10_000;
    await mgr.syncLease();
    const l2 = await client.get<KubeObject & { spec: Record<string, any> }>(LEASES, 'kube-node-lease', 'n-1');
    assert.equal(Date.parse(l2.spec.renewTime), now);
    assert.equal(l2.spec.holderIdentity, 'n-1');
  });

  it('sets Ready back to True when another component marked it Unknown', async () => {
    const n = await node();
    const conditions = n.status.conditions.map((c: { type: string }) => (c.type === 'Ready' ? { ...c, status: 'Unknown', reason: 'NodeStatusUnknown', message: 'Kubelet stopped posting node status.' } : c));
    await client.patch(NODES, undefined, 'n-1', { status: { conditions } }, 'merge', { subresource: 'status' });
    now += 10_000;
    await mgr.syncStatus();
    const ready = (await node()).status.conditions.find((c: { type: string }) => c.type === 'Ready');
    assert.deepEqual([ready.status, ready.reason], ['True', 'KubeletReady']);
    assert.equal(ready.lastTransitionTime, rfc3339(now));
  });

  it('registers again when the Node object was deleted', async () => {
    await client.delete(NODES, undefined, 'n-1');
    now += 10_000;
    await mgr.syncStatus();
    const n = await node();
    assert.equal(n.metadata.labels?.['kubernetes.io/hostname'], 'n-1');
  });
});
