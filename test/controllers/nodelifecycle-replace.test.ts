// The safe replacement of a dead node's StatefulSet pod, end to end in one process: an API
// server, the scheduler, the StatefulSet and node lifecycle controllers (grace 2 s, fence margin
// 1 s), and two node agents on the simulated runtime with 2 s leases, each behind a TCP proxy
// that can cut it off. The node running web-0 is cut off: its agent fences itself (stops web-0
// before its lease would have expired), the server marks the node Unknown, evicts web-0
// (tolerationSeconds 0) and force-deletes it no earlier than lease + margin after the agent's last
// renewal; the set recreates web-0, which runs on the other node — and at no moment do two web-0
// containers run. When the node comes back, its agent cleans the old pod up and never restarts it.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestServer, type TestServer } from '../support/apiserver.ts';
import { CuttableProxy } from '../support/cuttable-proxy.ts';
import { waitUntil } from '../support/wait.ts';
import { KubeClient } from '../../src/client/rest.ts';
import { silentLogger } from '../../src/util/log.ts';
import { startAgent, type Agent } from '../../src/agent/agent.ts';
import { SimulatedRuntime } from '../../src/agent/runtime/simulated.ts';
import type { ContainerStatus } from '../../src/agent/runtime/types.ts';
import { MemoryEventRecorder } from '../../src/agent/events.ts';
import { startScheduler, type Scheduler } from '../../src/scheduler/scheduler.ts';
import { startStatefulSetController, type StatefulSetController } from '../../src/controllers/statefulset/controller.ts';
import { NODES, PODS, STATEFULSETS, startNodeLifecycleController, type NodeLifecycleController } from '../../src/controllers/nodelifecycle/controller.ts';
import type { Node, Pod } from '../../src/scheduler/types.ts';
import type { KubeObject } from '../../src/registry/types.ts';

const LEASE_S = 2;
const GRACE_MS = 2000;
const MARGIN_MS = 1000;
const UID_LABEL = 'io.kubernetes.pod.uid';

const waitFor = <T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 20_000): Promise<T> => waitUntil(what, fn, { timeoutMs, everyMs: 20, truthy: true });
const now = (): number => performance.now();

interface SimNode {
  name: string;
  proxy: CuttableProxy;
  client: KubeClient;
  runtime: SimulatedRuntime;
  agent?: Agent;
}

describe('a dead node’s StatefulSet pod is replaced, safely', () => {
  let ts: TestServer;
  let admin: KubeClient;
  let dataDir: string;
  let scheduler: Scheduler;
  let sets: StatefulSetController;
  let lifecycle: NodeLifecycleController;
  const nodes: SimNode[] = [];
  /** web-0 deletions seen by a watch: uid → performance.now() of the DELETED event. */
  const deletedAt = new Map<string, number>();
  let watch: { abort(): void } | undefined;

  before(async () => {
    ts = await startTestServer();
    admin = KubeClient.fromKubeconfig(ts.kubeconfig);
    dataDir = await mkdtemp(join(tmpdir(), 'kennel-replace-'));
    for (const [i, name] of ['node-a', 'node-b'].entries()) {
      const proxy = new CuttableProxy(Number(new URL(ts.url).port));
      const port = await proxy.listen();
      const client = new KubeClient({ server: `https://127.0.0.1:${port}`, ca: ts.ca, token: ts.token });
      const cidr = `10.244.${20 + i}.0/24`;
      const runtime = new SimulatedRuntime({ podCIDR: cidr });
      const n: SimNode = { name, proxy, client, runtime };
      nodes.push(n);
      n.agent = await startAgent({
        client,
        nodeName: name,
        runtime,
        dataDir: join(dataDir, name),
        logger: silentLogger,
        podCIDR: cidr,
        nodeIP: '127.0.0.1',
        events: new MemoryEventRecorder(),
        relistMs: 100,
        leaseDurationSeconds: LEASE_S,
        leaseRenewMs: 200,
        statusUpdateMs: 200,
        // One clock for the whole test (the agents' fencing reads performance.now too).
        fencing: { clock: now },
      });
    }
    scheduler = await startScheduler({ client: admin, logger: silentLogger });
    sets = await startStatefulSetController({ client: admin, logger: silentLogger });
    lifecycle = await startNodeLifecycleController({
      client: admin,
      logger: silentLogger,
      gracePeriodMs: GRACE_MS,
      startupGracePeriodMs: GRACE_MS,
      monitorPeriodMs: 200,
      fenceMarginMs: MARGIN_MS,
    });
    const list = await admin.list<Pod>(PODS, 'default');
    watch = admin.watch<Pod>(
      PODS,
      'default',
      { resourceVersion: list.metadata.resourceVersion },
      (e) => {
        if (e.type === 'DELETED' && e.object.metadata.uid) deletedAt.set(e.object.metadata.uid, now());
      },
      () => undefined,
    );
  });

  after(async () => {
    watch?.abort();
    await lifecycle?.stop();
    await sets?.stop();
    await scheduler?.stop();
    // Proxies first: an agent still cut off would wait for its hung requests to time out.
    for (const n of nodes) await n.proxy.close();
    for (const n of nodes) {
      await n.agent?.stop();
      n.client.close();
    }
    admin?.close();
    await ts?.stop();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  const containersOf = async (n: SimNode, uid: string): Promise<ContainerStatus[]> => (await n.runtime.listContainers()).filter((c) => c.labels[UID_LABEL] === uid);
  const runningOf = async (n: SimNode, uid: string): Promise<ContainerStatus[]> => (await containersOf(n, uid)).filter((c) => c.state === 'running');

  it('fences the cut-off node, force-deletes after lease + margin, recreates on the healthy node; never two at once', async () => {
    await admin.create(STATEFULSETS, {
      apiVersion: 'apps/v1',
      kind: 'StatefulSet',
      metadata: { name: 'web', namespace: 'default' },
      spec: {
        serviceName: 'web',
        replicas: 1,
        selector: { matchLabels: { app: 'web' } },
        template: {
          metadata: { labels: { app: 'web' } },
          spec: {
            terminationGracePeriodSeconds: 30,
            tolerations: [{ key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 0 }],
            containers: [{ name: 'app', image: 'registry.example/db:1' }],
          },
        },
      },
    } as KubeObject);
    const first = await waitFor('web-0 Running', async () => {
      const p = await admin.get<Pod>(PODS, 'default', 'web-0').catch(() => undefined);
      return p?.status?.phase === 'Running' ? p : undefined;
    });
    const oldUid = first.metadata.uid!;
    const lost = nodes.find((n) => n.name === first.spec?.nodeName)!;
    const healthy = nodes.find((n) => n !== lost)!;
    assert.equal((await runningOf(lost, oldUid)).length, 1);

    // Cut the node off. Sample both runtimes all along: never two web-0 containers running.
    lost.proxy.cut();
    const cutAt = now();
    let overlap = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const [a, b] = await Promise.all([lost.runtime.listContainers(), healthy.runtime.listContainers()]);
        const isWeb = (c: ContainerStatus): boolean => c.state === 'running' && c.labels['io.kubernetes.pod.name'] === 'web-0';
        if (a.filter(isWeb).length + b.filter(isWeb).length > 1) overlap++;
        await new Promise((r) => setTimeout(r, 5));
      }
    })();

    const replacement = await waitFor('web-0 recreated and Running elsewhere', async () => {
      const p = await admin.get<Pod>(PODS, 'default', 'web-0').catch(() => undefined);
      return p && p.metadata.uid !== oldUid && p.status?.phase === 'Running' ? p : undefined;
    });
    sampling = false;
    await sampler;
    assert.equal(replacement.spec?.nodeName, healthy.name, 'recreated on the healthy node');
    assert.equal(overlap, 0, 'two web-0 containers ran at once');

    // The agent fenced itself once, before its deadline.
    const fence = lost.agent!.fence()!;
    assert.equal(fence.state, 'fenced');
    assert.equal(fence.fences, 1);
    assert.ok(fence.lastStopDoneAt! <= fence.lastStopDeadline!);
    // The server deleted the old pod no earlier than lease + margin after the agent's last
    // successful renewal was sent, and after the agent had stopped it.
    const deleted = deletedAt.get(oldUid);
    assert.ok(deleted !== undefined, 'the old pod was deleted');
    assert.ok(deleted >= fence.lastRenewalSentAt! + LEASE_S * 1000 + MARGIN_MS, `deleted ${Math.round(deleted - fence.lastRenewalSentAt!)} ms after the last renewal`);
    const [oldC] = await containersOf(lost, oldUid);
    const [newC] = await runningOf(healthy, replacement.metadata.uid!);
    assert.ok(oldC && oldC.state === 'exited', 'the old container was stopped');
    assert.ok(oldC.finishedAt < newC!.startedAt, 'the old container ended before the new one started');
    assert.ok(now() - cutAt < 20_000);
    const lostNode = await admin.get<Node>(NODES, undefined, lost.name);
    assert.equal(lostNode.status?.conditions?.find((c) => c.type === 'Ready')?.status, 'Unknown');

    // The node comes back: it lifts its fence, removes the old pod's sandbox, never restarts it.
    lost.proxy.restore();
    await waitFor('the fence to lift', async () => lost.agent!.fence()?.state === 'open');
    await waitFor('the old sandbox removed', async () => (await lost.runtime.listPodSandboxes()).every((s) => s.labels[UID_LABEL] !== oldUid));
    assert.equal((await runningOf(lost, oldUid)).length, 0);
    await waitFor('the node Ready again', async () => {
      const n = await admin.get<Node>(NODES, undefined, lost.name);
      return n.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True';
    });
    assert.equal((await runningOf(healthy, replacement.metadata.uid!)).length, 1, 'the replacement keeps running');
  });
});
