// Sandbox creation admitted in order: the agent has a runtime that declares a sandboxStartLimit
// (containerd: one per CPU) create at most that many pod sandboxes at once, the others waiting in
// the order they came; a creation that hangs gives its place up after a while. The Semaphore
// that does it, and an agent on a slow simulated runtime with a burst of pods.
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
import { Semaphore } from '../../src/agent/podworker-types.ts';
import { MemoryEventRecorder } from '../../src/agent/events.ts';
import { Backoff } from '../../src/agent/sync.ts';
import type { Pod } from '../../src/agent/kube-types.ts';
import { waitUntil } from '../support/wait.ts';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('Semaphore', () => {
  it('runs at most n tasks at once, the others in the order they came', async () => {
    const s = new Semaphore(2);
    const started: number[] = [];
    let live = 0;
    let peak = 0;
    await Promise.all(
      [0, 1, 2, 3, 4].map((i) =>
        s.run(async () => {
          started.push(i);
          live++;
          peak = Math.max(peak, live);
          await sleep(15);
          live--;
        }),
      ),
    );
    assert.equal(peak, 2);
    assert.deepEqual(started, [0, 1, 2, 3, 4]);
    assert.equal(s.running, 0);
  });

  it('a task holding its place longer than maxHoldMs lets the next one start, and still finishes', async () => {
    const s = new Semaphore(1);
    let release!: () => void;
    const stuck = s.run(() => new Promise<string>((r) => (release = () => r('late'))), 30);
    const t0 = Date.now();
    const next = await s.run(async () => 'next', 30);
    const waited = Date.now() - t0;
    assert.equal(next, 'next');
    assert.ok(waited >= 25 && waited < 1000, `the next task waited ${waited} ms`);
    release();
    assert.equal(await stuck, 'late');
    assert.equal(s.running, 0, 'the stuck task does not give its place back twice');
    // A failing task gives its place back too.
    await assert.rejects(s.run(async () => Promise.reject(new Error('boom'))), /boom/);
    assert.equal(s.running, 0);
  });
});

/** Makes sandboxes slowly and records how many it was making at once, and in which order. */
class SlowRuntime extends SimulatedRuntime {
  readonly sandboxStartLimit = 2;
  live = 0;
  peak = 0;
  order: string[] = [];
  override async runPodSandbox(...args: Parameters<SimulatedRuntime['runPodSandbox']>): Promise<string> {
    this.order.push(args[0].name);
    this.live++;
    this.peak = Math.max(this.peak, this.live);
    try {
      await sleep(60);
      return await super.runPodSandbox(...args);
    } finally {
      this.live--;
    }
  }
}

describe('agent: sandbox creations admitted as the runtime allows', () => {
  let srv: TestServer;
  let client: KubeClient;
  let dataDir: string;
  let agent: Agent | undefined;
  const runtime = new SlowRuntime({ podCIDR: '10.244.9.0/24' });

  before(async () => {
    srv = await startTestServer();
    client = KubeClient.fromKubeconfig(srv.kubeconfig);
    dataDir = await mkdtemp(join(tmpdir(), 'kennel-sandbox-starts-'));
    agent = await startAgent({
      client,
      nodeName: 'node-b',
      runtime,
      dataDir,
      logger: silentLogger,
      podCIDR: '10.244.9.0/24',
      nodeIP: '127.0.0.1',
      events: new MemoryEventRecorder(),
      relistMs: 50,
      leaseRenewMs: 500,
      statusUpdateMs: 500,
      backoff: new Backoff(100, 400),
      fencing: false,
    });
  });

  after(async () => {
    await agent?.stop();
    client.close();
    await srv.stop();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('a burst of 6 pods: never more than 2 sandboxes in the making, every pod Running', async () => {
    const names = ['b-0', 'b-1', 'b-2', 'b-3', 'b-4', 'b-5'];
    for (const name of names) {
      await client.create<Pod>(PODS, { apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: 'default' }, spec: { nodeName: 'node-b', containers: [{ name: 'app', image: 'busybox:1.36' }] } } as Pod);
    }
    await waitUntil(
      'every pod Running',
      async () => {
        const list = await client.list<Pod>(PODS, 'default');
        return list.items.filter((p) => names.includes(p.metadata.name ?? '') && p.status?.phase === 'Running').length === names.length;
      },
      { timeoutMs: 15_000, everyMs: 50, truthy: true },
    );
    assert.equal(runtime.peak, 2, 'sandboxes in the making at once');
    assert.deepEqual([...runtime.order].sort(), names);
  });
});
