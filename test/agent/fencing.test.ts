// Self-fencing in the agent, as decisions: when the agent is fenced (deadline = the SEND time of
// its last successful renewal + the lease duration it wrote; fencing starts a lead before), the
// grace periods that make every SIGKILL land before the deadline, which pods are fenced, how a
// revalidation snapshot hides stale pod events — and that the agent's timing fits the server's
// margin. Then the fence's state machine with a fake clock and fake hooks.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestServer, type TestServer } from '../support/apiserver.ts';
import { waitUntil } from '../support/wait.ts';
import { CuttableProxy } from '../support/cuttable-proxy.ts';
import { KubeClient } from '../../src/client/rest.ts';
import { startAgent, type Agent } from '../../src/agent/agent.ts';
import { SimulatedRuntime } from '../../src/agent/runtime/simulated.ts';
import type { ContainerStatus } from '../../src/agent/runtime/types.ts';
import { PODS } from '../../src/agent/podworker.ts';
import { MemoryEventRecorder } from '../../src/agent/events.ts';
import {
  AgentFence,
  FENCE_KILL_SLACK_MS,
  bootClock,
  MAX_FENCE_CHECK_MS,
  decideFence,
  defaultFenceLeadMs,
  fenceGraceSeconds,
  shouldFencePod,
  viewThroughSnapshot,
  type FenceHooks,
  type Snapshot,
} from '../../src/agent/fencing.ts';
import { DEFAULT_FENCE_MARGIN_MS, agentFenceDeadline, maxAgentLatenessMs } from '../../src/controllers/nodelifecycle/fencing.ts';
import type { Pod } from '../../src/agent/kube-types.ts';
import { silentLogger } from '../../src/util/log.ts';

const waitFor = <T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 10_000): Promise<T> => waitUntil(what, fn, { timeoutMs, everyMs: 25, truthy: true });

function pod(uid: string, o: { rv?: string; owner?: 'StatefulSet' | 'ReplicaSet' | 'DaemonSet'; terminating?: boolean; grace?: number } = {}): Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: `p-${uid}`,
      namespace: 'default',
      uid,
      resourceVersion: o.rv ?? '10',
      ...(o.owner ? { ownerReferences: [{ apiVersion: 'apps/v1', kind: o.owner, name: 'owner', uid: 'o', controller: true }] } : {}),
      ...(o.terminating ? { deletionTimestamp: '2030-01-01T00:00:00Z' } : {}),
    },
    spec: { containers: [{ name: 'c', image: 'x' }], ...(o.grace !== undefined ? { terminationGracePeriodSeconds: o.grace } : {}) },
  };
}

describe('decideFence', () => {
  const S = 1_000_000;
  const cases: { name: string; sent: number | undefined; L: number; now: number; lead: number; fenced: boolean; fenceAt: number; deadline: number }[] = [
    { name: 'never renewed: fenced', sent: undefined, L: 40, now: 0, lead: 5000, fenced: true, fenceAt: -Infinity, deadline: -Infinity },
    { name: 'just renewed', sent: S, L: 40, now: S, lead: 5000, fenced: false, fenceAt: S + 35_000, deadline: S + 40_000 },
    { name: 'two renewals missed (20 s)', sent: S, L: 40, now: S + 20_000, lead: 5000, fenced: false, fenceAt: S + 35_000, deadline: S + 40_000 },
    { name: '1 ms before the fence time', sent: S, L: 40, now: S + 34_999, lead: 5000, fenced: false, fenceAt: S + 35_000, deadline: S + 40_000 },
    { name: 'at the fence time (deadline − lead)', sent: S, L: 40, now: S + 35_000, lead: 5000, fenced: true, fenceAt: S + 35_000, deadline: S + 40_000 },
    { name: 'past the deadline', sent: S, L: 40, now: S + 90_000, lead: 5000, fenced: true, fenceAt: S + 35_000, deadline: S + 40_000 },
    { name: 'the lease duration the renewal wrote counts (15 s)', sent: S, L: 15, now: S + 14_000, lead: 1875, fenced: true, fenceAt: S + 13_125, deadline: S + 15_000 },
    { name: 'no lead: fenced at the deadline', sent: S, L: 1, now: S + 999, lead: 0, fenced: false, fenceAt: S + 1000, deadline: S + 1000 },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const d = decideFence({ lastRenewalSentAt: c.sent, leaseDurationSeconds: c.L, now: c.now, leadMs: c.lead });
      assert.deepEqual(d, { fenced: c.fenced, fenceAt: c.fenceAt, deadline: c.deadline });
    });
  }

  it('the deadline is the one the server assumes (agentFenceDeadline)', () => {
    assert.equal(decideFence({ lastRenewalSentAt: 123, leaseDurationSeconds: 40, now: 0, leadMs: 0 }).deadline, agentFenceDeadline(123, 40));
  });

  it('the lead: L/8, at most 5 s', () => {
    assert.equal(defaultFenceLeadMs(40), 5000);
    assert.equal(defaultFenceLeadMs(8), 1000);
    assert.equal(defaultFenceLeadMs(1), 125);
    assert.equal(defaultFenceLeadMs(3600), 5000);
  });
});

describe('fenceGraceSeconds', () => {
  const D = 100_000;
  const cases: [string, number, number, number][] = [
    // name, now, pod grace, expected
    ['5 s before the deadline, pod grace 30: 4 s (SIGKILL 1 s before)', D - 5000, 30, 4],
    ['5 s before, pod grace 2: the pod’s own', D - 5000, 2, 2],
    ['2.5 s before: 1 s', D - 2500, 30, 1],
    ['1.5 s before: at once', D - 1500, 30, 0],
    ['past the deadline: at once', D + 10, 30, 0],
    ['pod grace 0: at once', D - 5000, 0, 0],
    ['no deadline (never renewed): at once', 0, 30, 0],
  ];
  for (const [name, now, g, want] of cases) {
    it(name, () => assert.equal(fenceGraceSeconds(now, name.startsWith('no deadline') ? -Infinity : D, g), want));
  }
});

describe('the agent fits the server margin', () => {
  it('on time, every SIGKILL is sent before the deadline, whenever the first check after the fence time comes', () => {
    for (const L of [1, 2, 10, 40, 300]) {
      const lead = defaultFenceLeadMs(L);
      const checkMs = Math.min(MAX_FENCE_CHECK_MS, lead / 2);
      const deadline = L * 1000;
      // The first check after fenceAt comes at most checkMs after it.
      for (let t = deadline - lead; t <= deadline - lead + checkMs; t += 5) {
        for (const podGrace of [0, 1, 5, 30, 600]) {
          const killAt = t + fenceGraceSeconds(t, deadline, podGrace) * 1000;
          assert.ok(killAt < deadline, `L=${L}: a check at ${t} kills at ${killAt}, deadline ${deadline}`);
          if (podGrace > 0 && lead > 2 * FENCE_KILL_SLACK_MS) assert.ok(killAt <= deadline - FENCE_KILL_SLACK_MS);
        }
      }
    }
  });

  it('the server margin leaves the agent ~10 s of lateness for the default 40 s lease', () => {
    const k = maxAgentLatenessMs(40, DEFAULT_FENCE_MARGIN_MS);
    assert.ok(Math.abs(k - 9_910) < 1e-6, `K = ${k}`);
    assert.ok(maxAgentLatenessMs(40, 0) < 0, 'no margin: no lateness allowed at all');
  });
});

describe('shouldFencePod', () => {
  it('scope all: every pod, and sandboxes of unknown pods', () => {
    for (const owner of ['StatefulSet', 'ReplicaSet', 'DaemonSet', undefined] as const) assert.equal(shouldFencePod(pod('a', { owner }), 'all'), true);
    assert.equal(shouldFencePod(undefined, 'all'), true);
  });
  it('scope replaceable (the default): StatefulSet pods (what the server may replace), pods without a controller (a set may adopt them), unknown ones', () => {
    assert.equal(shouldFencePod(pod('a', { owner: 'StatefulSet' }), 'replaceable'), true);
    assert.equal(shouldFencePod(pod('a'), 'replaceable'), true);
    assert.equal(shouldFencePod(undefined, 'replaceable'), true);
    assert.equal(shouldFencePod(pod('a', { owner: 'ReplicaSet' }), 'replaceable'), false);
    assert.equal(shouldFencePod(pod('a', { owner: 'DaemonSet' }), 'replaceable'), false);
    const notController = pod('a');
    notController.metadata.ownerReferences = [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'x', uid: 'x' }];
    assert.equal(shouldFencePod(notController, 'replaceable'), true, 'an owner that is not the controller does not count');
    assert.equal(new AgentFence({ nodeName: 'n', logger: silentLogger }).scope, 'replaceable');
  });
});

describe('viewThroughSnapshot', () => {
  const snap: Snapshot = {
    rv: 100n,
    pods: new Map([
      ['alive', pod('alive', { rv: '90' })],
      ['evicted', pod('evicted', { rv: '95', terminating: true })],
    ]),
  };
  const cases: [string, Pod | undefined, Snapshot | undefined, string | undefined][] = [
    // name, delivered, snapshot, expected: 'same' | 'listed' | undefined
    ['no snapshot: as delivered', pod('x', { rv: '5' }), undefined, 'same'],
    ['gone at the snapshot, stale copy (rv ≤ R): gone', pod('gone', { rv: '80' }), snap, undefined],
    ['gone at the snapshot, copy at exactly R: gone', pod('gone', { rv: '100' }), snap, undefined],
    ['not in the snapshot but newer (created after it)', pod('new', { rv: '101' }), snap, 'same'],
    ['listed, delivered copy older: the listed one', pod('alive', { rv: '70' }), snap, 'listed'],
    ['listed, delivered copy newer: the delivered one', pod('alive', { rv: '120' }), snap, 'same'],
    ['listed Terminating, stale copy without deletionTimestamp: Terminating', pod('evicted', { rv: '60' }), snap, 'listed'],
    ['no pod', undefined, snap, undefined],
  ];
  for (const [name, delivered, s, want] of cases) {
    it(name, () => {
      const got = viewThroughSnapshot(delivered, s);
      if (want === undefined) assert.equal(got, undefined);
      else if (want === 'same') assert.equal(got, delivered);
      else assert.equal(got, s!.pods.get(delivered!.metadata.uid!));
    });
  }
  it('a non-numeric resourceVersion cannot be compared: the delivered copy is trusted', () => {
    const p = pod('gone', { rv: 'abc' });
    assert.equal(viewThroughSnapshot(p, snap), p);
  });
});

describe('AgentFence', () => {
  function setup(o: { scope?: 'all' | 'replaceable' } = {}) {
    let now = 1_000_000;
    const stops: { grace: number; selected: boolean[] }[] = [];
    let resyncs = 0;
    let listResult: { items: Pod[]; resourceVersion: string } = { items: [], resourceVersion: '1' };
    let listGate: Promise<void> = Promise.resolve();
    const probe = [pod('sts', { owner: 'StatefulSet', grace: 30 }), pod('rs', { owner: 'ReplicaSet', grace: 30 })];
    const hooks: FenceHooks = {
      stop: async (select, grace) => {
        stops.push({ grace: grace(probe[0]), selected: probe.map((p) => select(p)) });
        return { pods: 1, containers: 1 };
      },
      listPods: async () => {
        await listGate;
        return listResult;
      },
      resyncAll: () => resyncs++,
    };
    const fence = new AgentFence({ nodeName: 'n', logger: silentLogger, clock: () => now, scope: o.scope ?? 'all', checkMs: 1_000_000 });
    return {
      fence,
      hooks,
      stops,
      resyncs: () => resyncs,
      advance: (ms: number) => (now += ms),
      now: () => now,
      setList: (l: typeof listResult) => (listResult = l),
      holdList: () => {
        let release!: () => void;
        listGate = new Promise((r) => (release = r));
        return release;
      },
    };
  }

  it('open after a renewal; fenced at deadline − lead: stops pods with a grace that ends before the deadline', async () => {
    const t = setup();
    t.fence.renewed(t.now(), 40);
    t.fence.attach(t.hooks);
    assert.equal(t.fence.poll().state, 'open');
    assert.equal(t.fence.holds(pod('a')), false);
    t.advance(34_999);
    assert.equal(t.fence.poll().state, 'open');
    assert.equal(t.stops.length, 0);
    t.advance(1);
    const { state, stopping } = t.fence.poll();
    assert.equal(state, 'fenced');
    await stopping;
    assert.deepEqual(t.stops, [{ grace: 4, selected: [true, true] }]);
    assert.equal(t.fence.holds(pod('a')), true);
    const st = t.fence.status();
    assert.equal(st.fences, 1);
    assert.equal(st.deadline, st.lastRenewalSentAt! + 40_000);
    assert.ok(st.lastStopDoneAt! <= st.lastStopDeadline!);
    // While fenced, every check stops again what an in-flight sync may have started.
    t.advance(1000);
    await t.fence.poll().stopping;
    assert.equal(t.stops.length, 2);
    assert.equal(t.stops[1].grace, 3);
    t.fence.stop();
  });

  it('a renewal lifts the fence only after a fresh LIST; stale events of pods gone from it are ignored', async () => {
    const t = setup();
    const sent = t.now();
    t.fence.renewed(sent, 40);
    t.fence.attach(t.hooks);
    t.advance(41_000);
    await t.fence.poll().stopping;
    const release = t.holdList();
    t.setList({ items: [pod('kept', { rv: '50' })], resourceVersion: '60' });
    t.fence.renewed(t.now(), 40);
    assert.equal(t.fence.status().state, 'revalidating');
    assert.equal(t.fence.holds(pod('kept')), true, 'nothing starts before the pods were read again');
    assert.equal(t.resyncs(), 0);
    release();
    await t.fence.revalidation();
    assert.equal(t.fence.status().state, 'open');
    assert.equal(t.fence.holds(pod('kept')), false);
    assert.equal(t.resyncs(), 1);
    assert.equal(t.fence.view('gone', pod('gone', { rv: '40' })), undefined, 'force-deleted while fenced: gone');
    const kept = pod('kept', { rv: '50' });
    assert.equal(t.fence.view('kept', kept), kept);
    // An older renewal completing late does not move S back.
    t.fence.renewed(sent, 40);
    assert.equal(t.fence.status().lastRenewalSentAt, t.now());
    t.fence.stop();
  });

  it('fenced again while revalidating: the LIST result does not lift the fence', async () => {
    const t = setup();
    t.fence.renewed(t.now(), 1);
    t.fence.attach(t.hooks);
    t.advance(2000);
    assert.equal(t.fence.poll().state, 'fenced');
    const release = t.holdList();
    t.fence.renewed(t.now(), 1);
    t.advance(5000); // that renewal was the last: past its fence time too
    assert.equal(t.fence.poll().state, 'fenced');
    release();
    await t.fence.revalidation();
    assert.equal(t.fence.status().state, 'fenced');
    assert.equal(t.resyncs(), 0);
    assert.equal(t.fence.status().fences, 2);
    t.fence.stop();
  });

  it('a failed LIST keeps the fence and is tried again', async () => {
    const t = setup();
    let fail = true;
    const listPods = t.hooks.listPods;
    const hooks: FenceHooks = {
      ...t.hooks,
      listPods: async () => {
        if (fail) throw new Error('connection refused');
        return listPods();
      },
    };
    const fence = new AgentFence({ nodeName: 'n', logger: silentLogger, clock: () => t.now(), checkMs: 5 });
    fence.renewed(t.now(), 40);
    fence.attach(hooks);
    t.advance(40_000);
    assert.equal(fence.poll().state, 'fenced');
    fence.renewed(t.now(), 40);
    await fence.revalidation();
    assert.equal(fence.status().state, 'revalidating');
    assert.equal(fence.holds(pod('a')), true);
    fail = false;
    for (let i = 0; i < 200 && fence.status().state !== 'open'; i++) await new Promise((r) => setTimeout(r, 5));
    assert.equal(fence.status().state, 'open');
    assert.equal(t.resyncs(), 1);
    fence.stop();
  });

  it('scope replaceable: only StatefulSet pods are held and stopped', async () => {
    const t = setup({ scope: 'replaceable' });
    t.fence.renewed(t.now(), 40);
    t.fence.attach(t.hooks);
    t.advance(36_000);
    await t.fence.poll().stopping;
    assert.deepEqual(t.stops[0].selected, [true, false]);
    assert.equal(t.fence.holds(pod('s', { owner: 'StatefulSet' })), true);
    assert.equal(t.fence.holds(pod('r', { owner: 'ReplicaSet' })), false);
    t.fence.stop();
  });
});

// ---------------------------------------------------------------------------------------------
// An agent cut off from the API server (simulated runtime; a TCP proxy between the agent and the
// server plays the network: cut = every connection dropped, new ones accepted and never answered).

describe('an agent that loses the API server fences itself, and resumes when it is back', () => {
  const NODE = 'fence-a';
  const LEASE_S = 2;
  let ts: TestServer;
  let proxy: CuttableProxy;
  let admin: KubeClient;
  let agentClient: KubeClient;
  let dataDir: string;
  let runtime: SimulatedRuntime;
  let agent: Agent | undefined;
  const clock = bootClock();

  before(async () => {
    ts = await startTestServer();
    admin = KubeClient.fromKubeconfig(ts.kubeconfig);
    proxy = new CuttableProxy(Number(new URL(ts.url).port));
    const port = await proxy.listen();
    agentClient = new KubeClient({ server: `https://127.0.0.1:${port}`, ca: ts.ca, token: ts.token });
    dataDir = await mkdtemp(join(tmpdir(), 'kennel-fence-'));
    runtime = new SimulatedRuntime({ podCIDR: '10.244.9.0/24' });
    agent = await startAgent({
      client: agentClient,
      nodeName: NODE,
      runtime,
      dataDir,
      logger: silentLogger,
      podCIDR: '10.244.9.0/24',
      nodeIP: '127.0.0.1',
      events: new MemoryEventRecorder(),
      relistMs: 100,
      leaseDurationSeconds: LEASE_S,
      leaseRenewMs: 200,
      statusUpdateMs: 200,
      fencing: { clock },
    });
  });

  after(async () => {
    await proxy?.close(); // first: an agent still cut off would wait for its hung requests
    await agent?.stop();
    agentClient?.close();
    admin?.close();
    await ts?.stop();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  const running = async (): Promise<ContainerStatus[]> => (await runtime.listContainers()).filter((c) => c.state === 'running');
  const runningOf = async (uid: string): Promise<ContainerStatus[]> => (await running()).filter((c) => c.labels['io.kubernetes.pod.uid'] === uid);

  it('stops the fenced pods by the deadline, starts none while cut off, then cleans up deleted pods and restarts the others', async () => {
    const mk = (name: string, owner?: 'StatefulSet' | 'ReplicaSet'): Promise<Pod> =>
      admin.create<Pod>(PODS, {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: {
          name,
          namespace: 'default',
          ...(owner ? { ownerReferences: [{ apiVersion: 'apps/v1', kind: owner, name: 'owner', uid: '00000000-0000-0000-0000-00000000d00b', controller: true }] } : {}),
        },
        spec: { nodeName: NODE, terminationGracePeriodSeconds: 30, containers: [{ name: 'c', image: 'busybox:1.36' }] },
      } as Pod);
    const db0 = await mk('db-0', 'StatefulSet');
    const web = await mk('web'); // no controller: fenced too (a set could adopt it)
    const worker = await mk('worker-x7k2p', 'ReplicaSet'); // never replaced on a lease: keeps running
    await waitFor('the pods Running', async () => {
      const ps = await Promise.all(['db-0', 'web', 'worker-x7k2p'].map((n) => admin.get<Pod>(PODS, 'default', n)));
      return ps.every((p) => p.status?.phase === 'Running');
    });
    const webBefore = (await runningOf(web.metadata.uid!)).map((c) => c.id);
    assert.equal(webBefore.length, 1);
    assert.equal((await runningOf(db0.metadata.uid!)).length, 1);
    const workerC = (await runningOf(worker.metadata.uid!)).map((c) => c.id);
    assert.equal(workerC.length, 1);
    assert.equal(agent!.fence()?.state, 'open');
    const fenced = async (): Promise<ContainerStatus[]> => (await running()).filter((c) => c.labels['io.kubernetes.pod.uid'] !== worker.metadata.uid);

    // Cut. The fence starts at deadline − lead (250 ms for a 2 s lease), and all is dead by the deadline.
    proxy.cut();
    const cutAt = clock();
    const st0 = agent!.fence()!;
    assert.ok(st0.lastRenewalSentAt! <= cutAt);
    let allDeadAt: number | undefined;
    let lastAliveAt = cutAt;
    while (clock() < cutAt + LEASE_S * 1000 + 1000) {
      const n = (await fenced()).length;
      const t = clock();
      if (n > 0) {
        lastAliveAt = t;
        allDeadAt = undefined;
      } else allDeadAt ??= t;
      await new Promise((r) => setTimeout(r, 10));
    }
    const st = agent!.fence()!;
    assert.equal(st.state, 'fenced');
    assert.equal(st.fences, 1);
    assert.ok(allDeadAt !== undefined, 'every container stopped');
    // Renewals may have succeeded between reading st0 and the cut: the deadline is the fence's own.
    assert.ok(lastAliveAt <= st.deadline!, `a container ran ${Math.round(lastAliveAt - st.deadline!)} ms past the deadline`);
    assert.ok(st.lastStopDoneAt! <= st.lastStopDeadline!, 'the agent finished its stop pass before the deadline');
    assert.ok(lastAliveAt >= st.fenceAt! - 150, `stopped ${Math.round(st.fenceAt! - lastAliveAt)} ms before the fence time`);

    // While cut off nothing fenced starts again (restartPolicy Always would restart them); the
    // ReplicaSet's pod ran all along, in its first container.
    await new Promise((r) => setTimeout(r, 500));
    assert.equal((await fenced()).length, 0);
    assert.deepEqual((await runningOf(worker.metadata.uid!)).map((c) => c.id), workerC);

    // Meanwhile the server replaces db-0 (force-deletes it); web stays bound.
    await admin.delete(PODS, 'default', 'db-0', { gracePeriodSeconds: 0 });

    // Back: the fence lifts after a renewal and a fresh read; db-0 is cleaned up, web restarts.
    proxy.restore();
    const restoredAt = clock();
    await waitFor('the fence to lift', async () => agent!.fence()?.state === 'open', 15_000);
    const webAfter = await waitFor('web to run again', async () => {
      const cs = await runningOf(web.metadata.uid!);
      return cs.length > 0 ? cs : undefined;
    }, 15_000);
    assert.ok(!webBefore.includes(webAfter[0].id), 'a new container');
    await waitFor('db-0 cleaned up', async () => (await runtime.listPodSandboxes()).every((s) => s.labels['io.kubernetes.pod.uid'] !== db0.metadata.uid), 15_000);
    const all = await runtime.listContainers();
    assert.ok(
      all.filter((c) => c.labels['io.kubernetes.pod.uid'] === db0.metadata.uid).every((c) => c.state !== 'running'),
      'the deleted pod never ran again',
    );
    await waitFor('web Running in the API', async () => {
      const p = await admin.get<Pod>(PODS, 'default', 'web');
      return p.status?.containerStatuses?.[0]?.state?.running !== undefined && p.status.phase === 'Running';
    }, 15_000);
    assert.ok(clock() - restoredAt < 15_000);
    assert.deepEqual((await runningOf(worker.metadata.uid!)).map((c) => c.id), workerC, 'the ReplicaSet pod was never stopped');
  });
});
