// Pod start-up work of the pod workers: after a sync the worker records the relist fingerprint
// of the state it read (settledFingerprint), so the relister does not wake it a second time for
// the sandbox and containers it made itself — while a change it did not make (a container that
// exits right after its start, a failed start or pull) still wakes it; and a new pod whose volumes cannot fail has its
// sandbox made while its volumes (the service-account token) are set up, while a pod whose
// volumes can fail still gets no sandbox before they are set up. The agent's pods lack managedFields.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestServer, type TestServer } from '../support/apiserver.ts';
import { KubeClient } from '../../src/client/rest.ts';
import { silentLogger } from '../../src/util/log.ts';
import { startAgent, type Agent } from '../../src/agent/agent.ts';
import { SimulatedRuntime } from '../../src/agent/runtime/simulated.ts';
import { PODS } from '../../src/agent/podworker.ts';
import { doRelist, fingerprintOf, runtimeState, settledFingerprint } from '../../src/agent/podworker-relist.ts';
import { MemoryEventRecorder } from '../../src/agent/events.ts';
import { Backoff, LABEL_POD_UID } from '../../src/agent/sync.ts';
import { volumesCannotFail } from '../../src/agent/volumes.ts';
import type { Pod } from '../../src/agent/kube-types.ts';
import type { ContainerStatus, SandboxStatus } from '../../src/agent/runtime/types.ts';
import type { PodWorkersOptions, Worker } from '../../src/agent/podworker-types.ts';
import { waitUntil } from '../support/wait.ts';

const waitFor = <T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 10_000): Promise<T> => waitUntil(what, fn, { timeoutMs, everyMs: 20, truthy: true });

const sb = (id: string, state: SandboxStatus['state']): SandboxStatus =>
  ({ id, state, ips: [], createdAt: 0, uid: 'u', name: 'p', namespace: 'ns', attempt: 0, labels: {}, annotations: {} }) as SandboxStatus;
const ctr = (id: string, state: ContainerStatus['state'], exitCode = 0): ContainerStatus =>
  ({ id, sandboxId: 's1', name: 'c', attempt: 0, image: 'i', imageRef: 'i', state, createdAt: 0, startedAt: 0, finishedAt: 0, exitCode, reason: '', message: '', logPath: '', labels: {}, annotations: {} }) as ContainerStatus;

describe('settledFingerprint', () => {
  it('is the state a sync made: a new sandbox and running containers', () => {
    const after = { sandboxes: [sb('s1', 'ready')], containers: [ctr('c1', 'running')] };
    assert.equal(settledFingerprint({ sandboxes: [], containers: [] }, after), fingerprintOf(after));
  });
  it('keeps what did not change, and containers the sync stopped or started', () => {
    const before = { sandboxes: [sb('s0', 'notready'), sb('s1', 'ready')], containers: [ctr('c0', 'exited', 2), ctr('c1', 'running')] };
    const after = { sandboxes: [sb('s0', 'notready'), sb('s1', 'ready')], containers: [ctr('c0', 'exited', 2), ctr('c1', 'running'), ctr('c2', 'running')] };
    assert.equal(settledFingerprint(before, after), fingerprintOf(after));
  });
  it('is undefined for a change the sync did not act on', () => {
    const empty = { sandboxes: [], containers: [] };
    // A container that exited right after its start.
    assert.equal(settledFingerprint(empty, { sandboxes: [sb('s1', 'ready')], containers: [ctr('c1', 'exited', 1)] }), undefined);
    // One created but not started.
    assert.equal(settledFingerprint(empty, { sandboxes: [sb('s1', 'ready')], containers: [ctr('c1', 'created')] }), undefined);
    // A running one that exited during the sync.
    const before = { sandboxes: [sb('s1', 'ready')], containers: [ctr('c1', 'running')] };
    assert.equal(settledFingerprint(before, { sandboxes: [sb('s1', 'ready')], containers: [ctr('c1', 'exited', 137)] }), undefined);
    // An exit code that changed, a sandbox that stopped, nothing at all.
    const exited = { sandboxes: [sb('s1', 'ready')], containers: [ctr('c1', 'exited', 1)] };
    assert.equal(settledFingerprint(exited, { sandboxes: [sb('s1', 'ready')], containers: [ctr('c1', 'exited', 2)] }), undefined);
    assert.equal(settledFingerprint(before, { sandboxes: [sb('s1', 'notready')], containers: [ctr('c1', 'running')] }), undefined);
    assert.equal(settledFingerprint(empty, empty), undefined);
  });
  it('is what the relister computes for the same state', async () => {
    const rt = new SimulatedRuntime();
    const base = { uid: 'u1', name: 'p', namespace: 'ns', attempt: 0, hostname: 'p', logDirectory: '/tmp', portMappings: [], annotations: {}, hostNetwork: false };
    const sbId = await rt.runPodSandbox({ ...base, labels: { [LABEL_POD_UID]: 'u1' } });
    for (const name of ['a', 'b']) {
      const id = await rt.createContainer(sbId, { name, attempt: 0, image: 'img', command: [], args: [], envs: [], mounts: [], logPath: `${name}.log`, stdin: false, stdinOnce: false, tty: false, labels: {}, annotations: {} }, { ...base, labels: {} });
      if (name === 'a') await rt.startContainer(id);
    }
    const w = { uid: 'u1', sandboxIds: new Set([sbId]) } as Worker;
    const fingerprints = new Map<string, string>();
    const woken: string[] = [];
    await doRelist({
      o: { runtime: rt, nodeName: 'n', logger: silentLogger } as unknown as PodWorkersOptions,
      workers: new Map([['u1', w]]),
      stopped: () => false,
      podsSynced: () => true,
      fingerprints,
      seen: new Map(),
      newWorker: () => w,
      requestSync: () => undefined,
      changed: (uid) => woken.push(uid),
    });
    assert.deepEqual(woken, ['u1']);
    assert.equal(fingerprints.get('u1'), fingerprintOf(await runtimeState(rt, w)));
  });
});

describe('volumesCannotFail', () => {
  const pod = (volumes: Pod['spec']['volumes']): Pod => ({ metadata: { name: 'p' }, spec: { containers: [], volumes } }) as Pod;
  it('holds for pods with no volumes, emptyDirs on disk and downwardAPI only', () => {
    assert.equal(volumesCannotFail(pod(undefined)), true);
    assert.equal(volumesCannotFail(pod([{ name: 'a', emptyDir: {} }, { name: 'b', downwardAPI: { items: [] } }])), true);
  });
  it('does not hold for volumes that need the API, a claim, the host or a mount', () => {
    for (const v of [
      { name: 'm', emptyDir: { medium: 'Memory' } },
      { name: 'c', configMap: { name: 'x' } },
      { name: 's', secret: { secretName: 'x' } },
      { name: 'p', projected: { sources: [] } },
      { name: 'h', hostPath: { path: '/tmp' } },
      { name: 'v', persistentVolumeClaim: { claimName: 'x' } },
    ]) {
      assert.equal(volumesCannotFail(pod([v])), false, v.name);
    }
  });
});

/** Counts what the pod workers read of a pod's sandbox, and can make containers exit at once. */
class CountingRuntime extends SimulatedRuntime {
  statusReads = 0;
  crashOnStart = new Set<string>();
  sandboxesMade = 0;
  override async podSandboxStatus(id: string): Promise<SandboxStatus | null> {
    this.statusReads++;
    return super.podSandboxStatus(id);
  }
  override async runPodSandbox(...args: Parameters<SimulatedRuntime['runPodSandbox']>): Promise<string> {
    this.sandboxesMade++;
    return super.runPodSandbox(...args);
  }
  override async startContainer(id: string): Promise<void> {
    await super.startContainer(id);
    const st = await this.containerStatus(id);
    if (st && this.crashOnStart.has(st.labels['io.kubernetes.pod.name'] ?? '')) this.exitContainer(id, 1);
  }
}

describe('pod start-up (agent, simulated runtime with volumes)', () => {
  let srv: TestServer;
  let client: KubeClient;
  let dataDir: string;
  let agent: Agent | undefined;
  const runtime = new CountingRuntime({ podCIDR: '10.244.7.0/24', failPull: (image) => (image.startsWith('missing/') ? 'not found' : undefined) });
  const events = new MemoryEventRecorder();
  /** The token source waits (up to 2 s) for the pod's sandbox: it answers at once only if the sandbox is made meanwhile. */
  const tokenSawSandbox: string[] = [];

  before(async () => {
    srv = await startTestServer();
    client = KubeClient.fromKubeconfig(srv.kubeconfig);
    dataDir = await mkdtemp(join(tmpdir(), 'kennel-startup-'));
    agent = await startAgent({
      client,
      nodeName: 'node-s',
      runtime,
      dataDir,
      logger: silentLogger,
      podCIDR: '10.244.7.0/24',
      nodeIP: '127.0.0.1',
      events,
      volumes: true,
      relistMs: 50,
      leaseRenewMs: 500,
      statusUpdateMs: 500,
      backoff: new Backoff(100, 400),
      fencing: false,
      serviceAccountToken: async (pod) => {
        const deadline = Date.now() + 2000;
        while (Date.now() < deadline) {
          const sbs = await runtime.listPodSandboxes();
          if (sbs.some((s) => s.uid === pod.metadata.uid)) {
            tokenSawSandbox.push(pod.metadata.name ?? '');
            break;
          }
          await new Promise((r) => setTimeout(r, 10));
        }
        return `token-of-${pod.metadata.name}`;
      },
    });
  });

  after(async () => {
    await agent?.stop();
    client.close();
    await srv.stop();
    await rm(dataDir, { recursive: true, force: true });
  });

  const create = (name: string, spec: Partial<Pod['spec']> = {}): Promise<Pod> =>
    client.create<Pod>(PODS, { apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: 'default' }, spec: { nodeName: 'node-s', containers: [{ name: 'app', image: 'busybox:1.36' }], ...spec } } as Pod);

  it('makes a new pod\'s sandbox while its service-account token is requested, and syncs it once', async () => {
    const created = await create('once');
    const pod = await waitFor('the pod to be Running', async () => {
      const p = await client.get<Pod>(PODS, 'default', 'once');
      return p.status?.phase === 'Running' && p.status.containerStatuses?.[0]?.state?.running ? p : undefined;
    });
    assert.deepEqual(tokenSawSandbox, ['once'], 'the token was requested while the sandbox existed');
    const token = await readFile(join(dataDir, 'pods', created.metadata.uid!, 'volumes', 'kubernetes.io~projected', 'kube-api-access-kennel', 'token'), 'utf8');
    assert.equal(token, 'token-of-once');
    assert.ok(pod.status?.podIP);
    // The agent's informers drop managedFields (the server keeps them).
    assert.ok((pod.metadata.managedFields ?? []).length > 0);
    const found = await agent!.findContainer('default', 'once');
    assert.equal(found?.pod.metadata.name, 'once');
    assert.equal(found?.pod.metadata.managedFields, undefined);
    await agent!.quiesce();
    // Several relists later the worker has not synced again: nothing read the sandbox's status.
    const reads = runtime.statusReads;
    await new Promise((r) => setTimeout(r, 400));
    await agent!.quiesce();
    assert.equal(runtime.statusReads, reads, 'no sync after the start-up sync');
  });

  it('still wakes the worker for a container that exits right after its start', async () => {
    runtime.crashOnStart.add('crashy');
    await create('crashy');
    // Only a second sync restarts it: the relister must see the exit the first sync did not act on.
    const pod = await waitFor('a restart', async () => {
      const p = await client.get<Pod>(PODS, 'default', 'crashy');
      return (p.status?.containerStatuses?.[0]?.restartCount ?? 0) >= 1 ? p : undefined;
    }, 5000);
    assert.equal(pod.status?.containerStatuses?.[0]?.lastState?.terminated?.exitCode, 1);
    runtime.crashOnStart.delete('crashy');
  });

  it('a failed pull is followed by a sync that reports ImagePullBackOff, as the relist\'s wake always gave', async () => {
    await create('noimage', { containers: [{ name: 'app', image: 'missing/image:1' }] });
    await waitFor('the BackOff event', async () => events.events.some((e) => e.target.name === 'noimage' && e.reason === 'BackOff' && /^Back-off pulling image/.test(e.message)), 5000);
    const p = await waitFor('ImagePullBackOff', async () => {
      const got = await client.get<Pod>(PODS, 'default', 'noimage');
      return got.status?.containerStatuses?.[0]?.state?.waiting?.reason === 'ImagePullBackOff' ? got : undefined;
    }, 5000);
    assert.match(p.status?.containerStatuses?.[0]?.state?.waiting?.message ?? '', /not found/);
  });

  it('makes no sandbox for a pod whose volume cannot be set up, and reports FailedMount as before', async () => {
    const made = runtime.sandboxesMade;
    const created = await create('nocm', { volumes: [{ name: 'cfg', configMap: { name: 'missing' } }], containers: [{ name: 'app', image: 'busybox:1.36', volumeMounts: [{ name: 'cfg', mountPath: '/cfg' }] }] });
    await waitFor('FailedMount', async () => events.events.some((e) => e.target.name === 'nocm' && e.reason === 'FailedMount'));
    await agent!.quiesce();
    assert.equal(runtime.sandboxesMade, made, 'no sandbox');
    assert.equal((await runtime.listPodSandboxes()).filter((s) => s.uid === created.metadata.uid).length, 0);
    const p = await client.get<Pod>(PODS, 'default', 'nocm');
    assert.equal(p.status?.phase, 'Pending');
    assert.equal(p.status?.conditions?.find((c) => c.type === 'PodReadyToStartContainers')?.status, 'False');
  });
});
