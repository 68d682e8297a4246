// The node agent against a real API server, with the simulated runtime: node registration and
// lease, a bound pod becoming Running and Ready, deletion, and adoption after an agent restart.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestServer, type TestServer } from '../support/apiserver.ts';
import { KubeClient } from '../../src/client/rest.ts';
import { silentLogger } from '../../src/util/log.ts';
import { startAgent, type Agent } from '../../src/agent/agent.ts';
import { SimulatedRuntime } from '../../src/agent/runtime/simulated.ts';
import { LEASES, NODES } from '../../src/agent/node.ts';
import { PODS } from '../../src/agent/podworker.ts';
import { MemoryEventRecorder } from '../../src/agent/events.ts';
import type { Pod } from '../../src/agent/kube-types.ts';
import type { KubeObject } from '../../src/registry/types.ts';
import { waitUntil } from '../support/wait.ts';

const waitFor = <T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 10_000): Promise<T> => waitUntil(what, fn, { timeoutMs, everyMs: 25, truthy: true });

function cond(pod: Pod, type: string): { status?: string; lastTransitionTime?: string; reason?: string } | undefined {
  return pod.status?.conditions?.find((c) => c.type === type);
}

describe('node agent (simulated runtime)', () => {
  let srv: TestServer;
  let client: KubeClient;
  let dataDir: string;
  let runtime: SimulatedRuntime;
  let agent: Agent | undefined;
  const events = new MemoryEventRecorder();

  const start = (): Promise<Agent> =>
    startAgent({
      client,
      nodeName: 'node-a',
      runtime,
      dataDir,
      logger: silentLogger,
      podCIDR: '10.244.3.0/24',
      nodeIP: '127.0.0.1',
      labels: { 'topology.kubernetes.io/zone': 'z1' },
      taints: [{ key: 'example.com/dedicated', value: 'x', effect: 'PreferNoSchedule' }],
      events,
      relistMs: 100,
      leaseRenewMs: 200,
      statusUpdateMs: 200,
    });

  before(async () => {
    srv = await startTestServer();
    client = KubeClient.fromKubeconfig(srv.kubeconfig);
    dataDir = await mkdtemp(join(tmpdir(), 'kennel-agent-'));
    runtime = new SimulatedRuntime({ podCIDR: '10.244.3.0/24' });
  });

  after(async () => {
    await agent?.stop();
    client.close();
    await srv.stop();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('registers the Node with capacity, addresses, labels, nodeInfo and conditions', async () => {
    agent = await start();
    const node = await client.get<KubeObject & { spec: Record<string, unknown>; status: Record<string, any> }>(NODES, undefined, 'node-a');
    const labels = node.metadata.labels ?? {};
    assert.equal(labels['kubernetes.io/hostname'], 'node-a');
    assert.equal(labels['kubernetes.io/os'], 'linux');
    assert.ok(['amd64', 'arm64'].includes(labels['kubernetes.io/arch']!));
    assert.equal(labels['topology.kubernetes.io/zone'], 'z1');
    assert.equal(node.spec.podCIDR, '10.244.3.0/24');
    assert.deepEqual(node.spec.podCIDRs, ['10.244.3.0/24']);
    assert.deepEqual(node.spec.taints, [{ key: 'example.com/dedicated', value: 'x', effect: 'PreferNoSchedule' }]);
    const st = node.status;
    assert.equal(st.capacity.pods, '110');
    assert.match(st.capacity.cpu, /^\d+$/);
    assert.match(st.capacity.memory, /^\d+Ki$/);
    assert.ok(st.capacity['ephemeral-storage']);
    assert.ok(st.allocatable.memory);
    assert.deepEqual(st.addresses, [
      { type: 'InternalIP', address: '127.0.0.1' },
      { type: 'Hostname', address: 'node-a' },
    ]);
    assert.equal(st.nodeInfo.kubeletVersion, 'v1.32.0-kennel');
    assert.equal(st.nodeInfo.containerRuntimeVersion, 'simulated://1.0.0');
    assert.equal(st.nodeInfo.operatingSystem, 'linux');
    assert.ok(st.nodeInfo.kernelVersion);
    const types = (st.conditions as { type: string; status: string; reason: string; lastHeartbeatTime: string; lastTransitionTime: string }[]).map((c) => `${c.type}=${c.status}:${c.reason}`).sort();
    assert.deepEqual(types, ['DiskPressure=False:KubeletHasNoDiskPressure', 'MemoryPressure=False:KubeletHasSufficientMemory', 'PIDPressure=False:KubeletHasSufficientPID', 'Ready=True:KubeletReady']);
    for (const c of st.conditions) {
      assert.ok(c.lastHeartbeatTime);
      assert.ok(c.lastTransitionTime);
    }
    assert.ok(events.events.some((e) => e.reason === 'NodeReady' && e.target.kind === 'Node'));
  });

  it('holds and renews the node Lease in kube-node-lease', async () => {
    const node = await client.get(NODES, undefined, 'node-a');
    const lease = await client.get<KubeObject & { spec: Record<string, any> }>(LEASES, 'kube-node-lease', 'node-a');
    assert.equal(lease.spec.holderIdentity, 'node-a');
    assert.equal(lease.spec.leaseDurationSeconds, 40);
    assert.deepEqual(lease.metadata.ownerReferences, [{ apiVersion: 'v1', kind: 'Node', name: 'node-a', uid: node.metadata.uid }]);
    const first = lease.spec.renewTime as string;
    const renewed = await waitFor('the lease to be renewed', async () => {
      const l = await client.get<KubeObject & { spec: Record<string, any> }>(LEASES, 'kube-node-lease', 'node-a');
      return l.spec.renewTime !== first ? l : undefined;
    });
    assert.ok(Date.parse(renewed.spec.renewTime) > Date.parse(first));
  });

  it('runs a pod bound to the node: Running, Ready, container statuses, pod IP', async () => {
    await client.create<Pod>(PODS, {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'web', namespace: 'default', labels: { app: 'web' } },
      spec: {
        nodeName: 'node-a',
        initContainers: [{ name: 'init', image: 'busybox:1.36' }],
        containers: [
          { name: 'app', image: 'nginx:1.25', env: [{ name: 'POD', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } }] },
          { name: 'side', image: 'busybox:1.36' },
        ],
      },
    } as Pod);
    // The init container runs first, alone.
    const initId = await waitFor('the init container', async () => {
      const cs = await runtime.listContainers();
      return cs.find((c) => c.name === 'init')?.id;
    });
    assert.equal((await runtime.listContainers()).filter((c) => c.name !== 'init').length, 0, 'no app container before the init container exits');
    const pending = await client.get<Pod>(PODS, 'default', 'web');
    assert.equal(pending.status?.phase, 'Pending');
    runtime.exitContainer(initId, 0);
    const pod = await waitFor('the pod to be Running and Ready', async () => {
      const p = await client.get<Pod>(PODS, 'default', 'web');
      return p.status?.phase === 'Running' && cond(p, 'Ready')?.status === 'True' ? p : undefined;
    });
    const st = pod.status!;
    assert.match(st.podIP ?? '', /^10\.244\.3\.\d+$/);
    assert.deepEqual(st.podIPs, [{ ip: st.podIP }]);
    assert.equal(st.hostIP, '127.0.0.1');
    assert.ok(st.startTime);
    assert.equal(st.qosClass, 'BestEffort');
    for (const t of ['PodScheduled', 'PodReadyToStartContainers', 'Initialized', 'ContainersReady', 'Ready']) assert.equal(cond(pod, t)?.status, 'True', t);
    const [init] = st.initContainerStatuses ?? [];
    assert.equal(init?.name, 'init');
    assert.equal(init?.state?.terminated?.reason, 'Completed');
    assert.equal(init?.state?.terminated?.exitCode, 0);
    assert.equal(init?.ready, true);
    const app = st.containerStatuses?.find((c) => c.name === 'app');
    assert.ok(app?.state?.running?.startedAt);
    assert.equal(app?.ready, true);
    assert.equal(app?.started, true);
    assert.equal(app?.restartCount, 0);
    assert.equal(app?.image, 'nginx:1.25');
    assert.match(app?.imageID ?? '', /^sha256:/);
    assert.match(app?.containerID ?? '', /^simulated:\/\/[0-9a-f]{64}$/);
    const reasons = events.events.filter((e) => e.target.name === 'web').map((e) => `${e.reason}:${e.target.fieldPath ?? ''}`);
    for (const r of ['Pulling:spec.initContainers{init}', 'Pulled:spec.initContainers{init}', 'Created:spec.initContainers{init}', 'Started:spec.initContainers{init}', 'Created:spec.containers{app}', 'Started:spec.containers{app}']) {
      assert.ok(reasons.includes(r), `event ${r} in ${reasons.join(', ')}`);
    }
    assert.ok(events.events.some((e) => e.reason === 'Started' && e.message === 'Started container app'));
    assert.ok(events.events.some((e) => e.reason === 'Pulled' && /^Successfully pulled image "busybox:1\.36" in /.test(e.message)));
  });

  it('runs a pod bound through the binding subresource, as the scheduler binds', async () => {
    await client.create<Pod>(PODS, { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'bound', namespace: 'default' }, spec: { containers: [{ name: 'c', image: 'busybox:1.36' }] } } as Pod);
    await new Promise((r) => setTimeout(r, 100));
    assert.equal((await client.get<Pod>(PODS, 'default', 'bound')).status?.phase, 'Pending', 'not bound: not run');
    await client.bindPod('default', 'bound', 'node-a');
    const p = await waitFor('the bound pod to run', async () => {
      const q = await client.get<Pod>(PODS, 'default', 'bound');
      return q.status?.phase === 'Running' ? q : undefined;
    });
    assert.equal(p.spec.nodeName, 'node-a');
    await client.delete(PODS, 'default', 'bound');
    await waitFor('the bound pod to go', async () => (await runtime.listPodSandboxes()).every((s) => s.uid !== p.metadata.uid));
  });

  it('restarts a crashed container (restartPolicy Always) and keeps lastState', async () => {
    const app = (await runtime.listContainers()).find((c) => c.name === 'app' && c.state === 'running')!;
    runtime.exitContainer(app.id, 3);
    const pod = await waitFor('the restart', async () => {
      const p = await client.get<Pod>(PODS, 'default', 'web');
      const s = p.status?.containerStatuses?.find((c) => c.name === 'app');
      return s?.restartCount === 1 && s.state?.running ? p : undefined;
    });
    const s = pod.status!.containerStatuses!.find((c) => c.name === 'app')!;
    assert.equal(s.lastState?.terminated?.exitCode, 3);
    assert.equal(s.lastState?.terminated?.reason, 'Error');
    assert.equal(s.lastState?.terminated?.containerID, `simulated://${app.id}`);
  });

  it('adopts running pods after an agent restart without restarting them', async () => {
    const before = await client.get<Pod>(PODS, 'default', 'web');
    const idsBefore = (await runtime.listContainers()).map((c) => c.id).sort();
    await agent!.stop();
    agent = await start();
    await agent.quiesce();
    await new Promise((r) => setTimeout(r, 300));
    await agent.quiesce();
    const idsAfter = (await runtime.listContainers()).map((c) => c.id).sort();
    assert.deepEqual(idsAfter, idsBefore, 'no container was created or removed');
    const after = await client.get<Pod>(PODS, 'default', 'web');
    assert.equal(after.status?.phase, 'Running');
    const rc = (p: Pod) => p.status?.containerStatuses?.map((c) => `${c.name}:${c.restartCount}:${c.containerID}`).sort();
    assert.deepEqual(rc(after), rc(before));
    assert.equal(cond(after, 'Ready')?.lastTransitionTime, cond(before, 'Ready')?.lastTransitionTime);
  });

  it('stops and removes sandboxes of pods not bound to the node', async () => {
    const stray = await runtime.runPodSandbox({
      uid: 'stray-uid',
      name: 'stray',
      namespace: 'default',
      attempt: 0,
      hostname: 'stray',
      logDirectory: join(dataDir, 'logs', 'stray'),
      portMappings: [],
      labels: { 'io.kubernetes.pod.uid': 'stray-uid', 'io.kubernetes.pod.name': 'stray', 'io.kubernetes.pod.namespace': 'default' },
      annotations: {},
      hostNetwork: false,
    });
    const others = await runtime.runPodSandbox({
      uid: 'other-uid',
      name: 'theirs',
      namespace: 'default',
      attempt: 0,
      hostname: 'theirs',
      logDirectory: join(dataDir, 'logs', 'theirs'),
      portMappings: [],
      labels: { 'io.kubernetes.pod.uid': 'other-uid', 'kennel.io/node-name': 'node-z' },
      annotations: {},
      hostNetwork: false,
    });
    await waitFor('the stray sandbox to go', async () => (await runtime.podSandboxStatus(stray)) === null);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal((await runtime.podSandboxStatus(others))?.state, 'ready', "another node's sandbox is left alone");
    await runtime.removePodSandbox(others);
  });

  it('deletes a pod gracefully: stops its containers, then removes it from the API', async () => {
    const pod = await client.get<Pod>(PODS, 'default', 'web');
    await client.delete(PODS, 'default', 'web');
    await waitFor('the pod to be gone from the API', async () => {
      try {
        await client.get(PODS, 'default', 'web');
        return false;
      } catch (e) {
        return (e as { code?: number }).code === 404;
      }
    });
    const left = (await runtime.listPodSandboxes()).filter((s) => s.uid === pod.metadata.uid);
    assert.deepEqual(left, []);
    assert.ok(events.events.some((e) => e.reason === 'Killing' && e.message === 'Stopping container app' && e.target.name === 'web'));
  });

  it('reports a failed pod (restartPolicy Never) as Failed with the exit code', async () => {
    await client.create<Pod>(PODS, {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'job', namespace: 'default' },
      spec: { nodeName: 'node-a', restartPolicy: 'Never', containers: [{ name: 'main', image: 'busybox:1.36' }] },
    } as Pod);
    const id = await waitFor('the job container', async () => (await runtime.listContainers()).find((c) => c.name === 'main' && c.state === 'running')?.id);
    runtime.exitContainer(id, 2);
    const pod = await waitFor('the pod to fail', async () => {
      const p = await client.get<Pod>(PODS, 'default', 'job');
      return p.status?.phase === 'Failed' ? p : undefined;
    });
    const s = pod.status!.containerStatuses![0]!;
    assert.equal(s.state?.terminated?.exitCode, 2);
    assert.equal(s.state?.terminated?.reason, 'Error');
    assert.equal(s.restartCount, 0);
    assert.equal(cond(pod, 'Ready')?.reason, 'PodFailed');
    // nothing is restarted
    await new Promise((r) => setTimeout(r, 300));
    assert.equal((await runtime.listContainers()).filter((c) => c.name === 'main').length, 1);
  });

  it('shows ErrImagePull for an image that cannot be pulled and keeps serving other pods', async () => {
    const rt2 = runtime as unknown as { failPullFn?: (i: string) => string | undefined };
    rt2.failPullFn = (image) => (image.startsWith('nope/') ? `rpc error: pull access denied for ${image}` : undefined);
    await client.create<Pod>(PODS, {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'bad', namespace: 'default' },
      spec: { nodeName: 'node-a', containers: [{ name: 'c', image: 'nope/missing:1' }] },
    } as Pod);
    const pod = await waitFor('ErrImagePull', async () => {
      const p = await client.get<Pod>(PODS, 'default', 'bad');
      const w = p.status?.containerStatuses?.[0]?.state?.waiting;
      return w?.reason === 'ErrImagePull' || w?.reason === 'ImagePullBackOff' ? p : undefined;
    });
    assert.equal(pod.status?.phase, 'Pending');
    assert.match(pod.status!.containerStatuses![0]!.state!.waiting!.message ?? '', /pull access denied/);
    assert.ok(events.events.some((e) => e.reason === 'Failed' && e.message === 'Failed to pull image "nope/missing:1": rpc error: pull access denied for nope/missing:1'));
    await client.create<Pod>(PODS, {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'good', namespace: 'default' },
      spec: { nodeName: 'node-a', containers: [{ name: 'c', image: 'busybox:1.36' }] },
    } as Pod);
    await waitFor('the good pod to run', async () => (await client.get<Pod>(PODS, 'default', 'good')).status?.phase === 'Running');
  });

  it('shows CreateContainerConfigError for a missing configMap key', async () => {
    await client.create(
      { group: '', version: 'v1', plural: 'configmaps', namespaced: true, kind: 'ConfigMap' },
      { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cfg', namespace: 'default' }, data: { present: 'yes' } },
    );
    await client.create<Pod>(PODS, {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'cfgpod', namespace: 'default' },
      spec: { nodeName: 'node-a', containers: [{ name: 'c', image: 'busybox:1.36', env: [{ name: 'X', valueFrom: { configMapKeyRef: { name: 'cfg', key: 'absent' } } }] }] },
    } as Pod);
    const pod = await waitFor('CreateContainerConfigError', async () => {
      const p = await client.get<Pod>(PODS, 'default', 'cfgpod');
      return p.status?.containerStatuses?.[0]?.state?.waiting?.reason === 'CreateContainerConfigError' ? p : undefined;
    });
    assert.equal(pod.status!.containerStatuses![0]!.state!.waiting!.message, "couldn't find key absent in ConfigMap default/cfg");
    // Adding the key lets the pod start (the agent watches the configMap).
    await client.patch({ group: '', version: 'v1', plural: 'configmaps', namespaced: true, kind: 'ConfigMap' }, 'default', 'cfg', { data: { absent: 'now here' } }, 'merge');
    await waitFor('the pod to start', async () => (await client.get<Pod>(PODS, 'default', 'cfgpod')).status?.phase === 'Running', 15_000);
  });
});
