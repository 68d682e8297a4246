// Pod lifecycle through the agent with the simulated runtime: readiness and liveness through
// the ProbeManager contract, hooks, graceful termination with the grace period, crash
// back-off, image changes, and events written to the API.
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
import { PODS } from '../../src/agent/podworker.ts';
import { ApiEventRecorder, EVENTS, MemoryEventRecorder, podTarget } from '../../src/agent/events.ts';
import { Backoff } from '../../src/agent/sync.ts';
import type { ProbeManager, ProbeManagerDeps } from '../../src/agent/probe-types.ts';
import type { Pod } from '../../src/agent/kube-types.ts';
import type { ExecSyncResult } from '../../src/agent/runtime/types.ts';
import type { KubeObject } from '../../src/registry/types.ts';
import { waitUntil } from '../support/wait.ts';

const waitFor = <T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 10_000): Promise<T> => waitUntil(what, fn, { timeoutMs, everyMs: 25, truthy: true });

/** Records what the agent tells the probe manager; the test sets readiness and fires liveness failures. */
const probes = {
  deps: undefined as unknown as ProbeManagerDeps,
  started: [] as string[],
  stopped: [] as string[],
  ready: new Map<string, boolean>(),
};
const manager: ProbeManager = {
  start: (_pod, name, id) => {
    if (!probes.started.includes(`${name}:${id}`)) probes.started.push(`${name}:${id}`);
  },
  stop: (_uid, name) => {
    probes.stopped.push(name);
  },
  removePod: () => {},
  readiness: (_uid, name) => probes.ready.get(name),
  started: () => true,
  close: async () => {},
};

class RecordingRuntime extends SimulatedRuntime {
  calls: string[] = [];
  override async execSync(id: string, cmd: string[], timeout: number): Promise<ExecSyncResult> {
    this.calls.push(`exec ${cmd.join(' ')} timeout=${timeout}`);
    return super.execSync(id, cmd, timeout);
  }
  override async stopContainer(id: string, timeout: number): Promise<void> {
    const st = await this.containerStatus(id);
    if (st?.state === 'running') this.calls.push(`stop ${st.name} grace=${timeout}`);
    return super.stopContainer(id, timeout);
  }
}

describe('pod lifecycle (simulated runtime)', () => {
  let srv: TestServer;
  let client: KubeClient;
  let dataDir: string;
  let agent: Agent;
  const runtime = new RecordingRuntime({ podCIDR: '10.244.9.0/24' });
  const events = new MemoryEventRecorder();
  const backoff = new Backoff(300, 1200);

  before(async () => {
    srv = await startTestServer();
    client = KubeClient.fromKubeconfig(srv.kubeconfig);
    dataDir = await mkdtemp(join(tmpdir(), 'kennel-life-'));
    agent = await startAgent({
      client,
      nodeName: 'node-l',
      runtime,
      dataDir,
      logger: silentLogger,
      events,
      relistMs: 50,
      backoff,
      probes: (deps) => {
        probes.deps = deps;
        return manager;
      },
    });
  });

  after(async () => {
    await agent.stop();
    client.close();
    await srv.stop();
    await rm(dataDir, { recursive: true, force: true });
  });

  const get = (name: string) => client.get<Pod>(PODS, 'default', name);
  const ready = (p: Pod) => p.status?.conditions?.find((c) => c.type === 'Ready')?.status;

  it('readiness from the probe manager drives Ready and ContainersReady; probes start for running containers', async () => {
    probes.ready.set('web', false);
    await client.create<Pod>(PODS, {
      metadata: { name: 'probed', namespace: 'default' },
      spec: { nodeName: 'node-l', containers: [{ name: 'web', image: 'nginx:1', readinessProbe: { httpGet: { path: '/', port: 80 } } }] },
    } as Pod);
    const p1 = await waitFor('Running', async () => ((await get('probed')).status?.phase === 'Running' ? get('probed') : undefined));
    assert.equal(ready(p1), 'False');
    assert.equal(p1.status?.containerStatuses?.[0]?.ready, false);
    assert.ok(probes.started.some((s) => s.startsWith('web:')));
    assert.equal(probes.deps.podIP(p1.metadata.uid!), p1.status?.podIP);
    probes.ready.set('web', true);
    probes.deps.onResultChange(p1.metadata.uid!);
    await waitFor('Ready', async () => ready(await get('probed')) === 'True');
  });

  it('a liveness failure restarts the container with a Killing event', async () => {
    const p = await get('probed');
    const cur = (await runtime.listContainers()).find((c) => c.name === 'web' && c.state === 'running')!;
    probes.deps.onLivenessFailure(p.metadata.uid!, 'web', cur.id, 'Container web failed liveness probe, will be restarted');
    const after = await waitFor('the restart', async () => {
      const q = await get('probed');
      return q.status?.containerStatuses?.[0]?.restartCount === 1 && q.status.containerStatuses[0].state?.running ? q : undefined;
    });
    assert.equal(after.status?.containerStatuses?.[0]?.lastState?.terminated?.containerID, `simulated://${cur.id}`);
    assert.ok(events.events.some((e) => e.reason === 'Killing' && e.message === 'Container web failed liveness probe, will be restarted'));
    assert.ok(probes.stopped.includes('web'));
  });

  it('crash back-off: CrashLoopBackOff while waiting, BackOff events, restarts after the delay', async () => {
    await client.create<Pod>(PODS, { metadata: { name: 'crashy', namespace: 'default' }, spec: { nodeName: 'node-l', containers: [{ name: 'c', image: 'busybox:1' }] } } as Pod);
    const crash = async (n: number): Promise<void> => {
      const id = await waitFor(`attempt ${n}`, async () => (await runtime.listContainers()).find((c) => c.name === 'c' && c.state === 'running' && c.attempt === n)?.id);
      runtime.exitContainer(id, 1);
    };
    await crash(0);
    await crash(1); // the first restart is immediate
    const waiting = await waitFor('CrashLoopBackOff', async () => {
      const p = await get('crashy');
      return p.status?.containerStatuses?.[0]?.state?.waiting?.reason === 'CrashLoopBackOff' ? p : undefined;
    });
    const cs = waiting.status!.containerStatuses![0]!;
    assert.match(cs.state!.waiting!.message!, /^back-off \d+s restarting failed container=c pod=crashy_default\(/);
    assert.equal(cs.lastState?.terminated?.exitCode, 1);
    assert.equal(cs.restartCount, 1);
    assert.ok(events.events.some((e) => e.reason === 'BackOff' && e.message === `Back-off restarting failed container c in pod crashy_default(${waiting.metadata.uid})`));
    // after the (shortened) back-off it runs again
    await waitFor('attempt 2', async () => (await runtime.listContainers()).some((c) => c.name === 'c' && c.state === 'running' && c.attempt === 2));
  });

  it('a new image restarts the container (definition changed)', async () => {
    const before = await get('probed');
    await client.patch(PODS, 'default', 'probed', { spec: { containers: [{ name: 'web', image: 'nginx:2' }] } }, 'strategic');
    const p = await waitFor('the new image', async () => {
      const q = await get('probed');
      const s = q.status?.containerStatuses?.[0];
      return s?.image === 'nginx:2' && s.state?.running ? q : undefined;
    });
    assert.equal(p.status!.containerStatuses![0]!.restartCount, before.status!.containerStatuses![0]!.restartCount + 1);
    assert.ok(events.events.some((e) => e.reason === 'Killing' && e.message === 'Container web definition changed, will be restarted'));
  });

  it('graceful deletion: preStop exec, then stop with the remaining grace period, then the pod is gone', async () => {
    await client.create<Pod>(PODS, {
      metadata: { name: 'graceful', namespace: 'default' },
      spec: {
        nodeName: 'node-l',
        terminationGracePeriodSeconds: 45,
        containers: [{ name: 'db', image: 'db:1', lifecycle: { preStop: { exec: { command: ['/bin/flush', '--now'] } }, postStart: { exec: { command: ['/bin/warm'] } } } }],
      },
    } as Pod);
    await waitFor('Running', async () => (await get('graceful')).status?.phase === 'Running');
    assert.ok(runtime.calls.includes('exec /bin/warm timeout=30'), 'postStart ran');
    runtime.calls.length = 0;
    await client.delete(PODS, 'default', 'graceful', { gracePeriodSeconds: 20 });
    await waitFor('the pod to go', async () => {
      try {
        await get('graceful');
        return false;
      } catch {
        return true;
      }
    });
    assert.deepEqual(runtime.calls, ['exec /bin/flush --now timeout=20', 'stop db grace=20']);
  });

  it('activeDeadlineSeconds: the pod fails with DeadlineExceeded and its containers stop', async () => {
    await client.create<Pod>(PODS, { metadata: { name: 'deadline', namespace: 'default' }, spec: { nodeName: 'node-l', activeDeadlineSeconds: 1, containers: [{ name: 'c', image: 'busybox:1' }] } } as Pod);
    const p = await waitFor(
      'DeadlineExceeded',
      async () => {
        const q = await get('deadline');
        return q.status?.phase === 'Failed' ? q : undefined;
      },
      5000,
    );
    assert.equal(p.status?.reason, 'DeadlineExceeded');
    assert.equal(p.status?.message, 'Pod was active on the node longer than the specified deadline');
    const uid = p.metadata.uid;
    assert.deepEqual((await runtime.listContainers()).filter((c) => c.labels['io.kubernetes.pod.uid'] === uid && c.state === 'running'), []);
  });

  it('writes Events to the API and folds repeats into a count', async () => {
    const rec = new ApiEventRecorder({ client, host: 'node-l', now: () => 1_700_000_000_000 });
    const pod = await get('crashy');
    for (let i = 0; i < 3; i++) rec.event(podTarget(pod, 'c'), 'Warning', 'BackOff', 'Back-off restarting failed container c in pod x');
    rec.event(podTarget(pod, 'c'), 'Normal', 'Pulled', 'Container image "busybox:1" already present on machine');
    await rec.flush();
    const list = await client.list<KubeObject & Record<string, any>>(EVENTS, 'default');
    const backoffs = list.items.filter((e) => e.reason === 'BackOff');
    assert.equal(backoffs.length, 1);
    const e = backoffs[0]!;
    assert.equal(e.count, 3);
    assert.equal(e.type, 'Warning');
    assert.deepEqual(e.source, { component: 'kubelet', host: 'node-l' });
    assert.equal(e.involvedObject.kind, 'Pod');
    assert.equal(e.involvedObject.uid, pod.metadata.uid);
    assert.equal(e.involvedObject.fieldPath, 'spec.containers{c}');
    assert.ok(e.firstTimestamp && e.lastTimestamp);
    assert.equal(list.items.filter((x) => x.reason === 'Pulled').length, 1);
    await rec.close();
  });
});
