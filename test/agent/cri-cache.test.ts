// The containerd runtime's status caches, against a fake CRI server (grpc-js on a unix socket)
// that counts the calls: a listing reuses the status of a sandbox or container whose state has
// not changed, podSandboxStatus reuses a ready sandbox's fresh answer, and a stop, a state
// change or a recent exit always asks containerd again.
import { describe, it, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { criPackage, grpc, type CriContainerState, type CriPodSandboxState } from '../../src/agent/runtime/cri-proto.ts';
import { CriRuntime } from '../../src/agent/runtime/cri.ts';

interface FakeSandbox {
  id: string;
  state: CriPodSandboxState;
  ip: string;
}
interface FakeContainer {
  id: string;
  sandbox: string;
  state: CriContainerState;
  startedAt: number;
  finishedAt: number;
  exitCode: number;
  reason: string;
}

const ns = (ms: number): string => String(BigInt(ms) * 1_000_000n);

describe('CRI runtime status caches', () => {
  let dir: string;
  let server: grpc.Server;
  let rt: CriRuntime;
  const sandboxes = new Map<string, FakeSandbox>();
  const containers = new Map<string, FakeContainer>();
  const calls = new Map<string, number>();
  const count = (m: string) => calls.set(m, (calls.get(m) ?? 0) + 1);

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'kennel-cri-cache-'));
    const v1 = (criPackage().runtime as grpc.GrpcObject).v1 as grpc.GrpcObject;
    const svc = (v1.RuntimeService as grpc.ServiceClientConstructor).service;
    type Cb = (err: grpc.ServiceError | null, res?: unknown) => void;
    type Call = { request: Record<string, unknown> };
    const meta = (id: string) => ({ name: id, uid: `uid-${id}`, namespace: 'default', attempt: 0 });
    const notFound = (cb: Cb) => cb(Object.assign(new Error('not found'), { code: grpc.status.NOT_FOUND, details: 'not found', metadata: new grpc.Metadata() }));
    server = new grpc.Server();
    server.addService(svc, {
      ListPodSandbox: (_c: Call, cb: Cb) => {
        count('ListPodSandbox');
        cb(null, { items: [...sandboxes.values()].map((s) => ({ id: s.id, state: s.state, metadata: meta(s.id), createdAt: ns(1000) })) });
      },
      PodSandboxStatus: (c: Call, cb: Cb) => {
        count('PodSandboxStatus');
        const s = sandboxes.get(String(c.request.podSandboxId));
        if (!s) return notFound(cb);
        cb(null, { status: { id: s.id, state: s.state, metadata: meta(s.id), createdAt: ns(1000), network: { ip: s.ip } } });
      },
      StopPodSandbox: (c: Call, cb: Cb) => {
        count('StopPodSandbox');
        const s = sandboxes.get(String(c.request.podSandboxId));
        if (s) s.state = 'SANDBOX_NOTREADY';
        cb(null, {});
      },
      ListContainers: (c: Call, cb: Cb) => {
        count('ListContainers');
        const f = (c.request.filter ?? {}) as { podSandboxId?: string };
        const list = [...containers.values()].filter((x) => !f.podSandboxId || x.sandbox === f.podSandboxId);
        cb(null, { containers: list.map((x) => ({ id: x.id, podSandboxId: x.sandbox, state: x.state, metadata: { name: x.id, attempt: 0 }, createdAt: ns(1000) })) });
      },
      ContainerStatus: (c: Call, cb: Cb) => {
        count('ContainerStatus');
        const x = containers.get(String(c.request.containerId));
        if (!x) return notFound(cb);
        cb(null, {
          status: { id: x.id, state: x.state, metadata: { name: x.id, attempt: 0 }, createdAt: ns(1000), startedAt: ns(x.startedAt), finishedAt: ns(x.finishedAt), exitCode: x.exitCode, reason: x.reason },
        });
      },
    });
    const socket = join(dir, 'cri.sock');
    await new Promise<void>((resolve, reject) => server.bindAsync(`unix://${socket}`, grpc.ServerCredentials.createInsecure(), (e) => (e ? reject(e) : resolve())));
    rt = new CriRuntime({ socket, stateDir: join(dir, 'state') });
  });

  after(async () => {
    await rt?.close();
    await new Promise<void>((r) => server.tryShutdown(() => r()));
    rmSync(dir, { recursive: true, force: true });
  });

  beforeEach(() => {
    sandboxes.clear();
    containers.clear();
    calls.clear();
  });

  it('a listing asks for the status of a sandbox only when it is new or its state changed', async () => {
    sandboxes.set('a', { id: 'a', state: 'SANDBOX_READY', ip: '10.244.0.2' });
    sandboxes.set('b', { id: 'b', state: 'SANDBOX_READY', ip: '10.244.0.3' });
    const first = await rt.listPodSandboxes();
    assert.deepEqual(first.map((s) => [s.id, s.state, s.ips[0]]).sort(), [['a', 'ready', '10.244.0.2'], ['b', 'ready', '10.244.0.3']]);
    assert.equal(calls.get('PodSandboxStatus'), 2);
    first[0].ips.push('mutated by a caller');
    const second = await rt.listPodSandboxes();
    assert.equal(calls.get('PodSandboxStatus'), 2, 'unchanged sandboxes are not asked again');
    assert.deepEqual(second.map((s) => s.ips.length), [1, 1], 'a caller cannot change what the cache holds');
    sandboxes.get('b')!.state = 'SANDBOX_NOTREADY';
    const third = await rt.listPodSandboxes();
    assert.equal(calls.get('PodSandboxStatus'), 3);
    assert.equal(third.find((s) => s.id === 'b')?.state, 'notready');
  });

  it('podSandboxStatus reuses a fresh ready answer, never one of a sandbox it stopped', async () => {
    sandboxes.set('p', { id: 'p', state: 'SANDBOX_READY', ip: '10.244.0.2' });
    assert.equal((await rt.podSandboxStatus('p'))?.ips[0], '10.244.0.2');
    assert.equal((await rt.podSandboxStatus('p'))?.state, 'ready');
    assert.equal(calls.get('PodSandboxStatus'), 1);
    await rt.stopPodSandbox('p');
    assert.equal((await rt.podSandboxStatus('p'))?.state, 'notready');
    assert.equal((await rt.podSandboxStatus('p'))?.state, 'notready');
    assert.equal(calls.get('PodSandboxStatus'), 3, 'a sandbox that is not ready is always asked');
    sandboxes.delete('p');
    assert.equal(await rt.podSandboxStatus('p'), null);
  });

  it('a listing reuses the status of created and running containers, not of a fresh exit', async () => {
    const now = Date.now();
    sandboxes.set('s', { id: 's', state: 'SANDBOX_READY', ip: '10.244.0.2' });
    containers.set('run', { id: 'run', sandbox: 's', state: 'CONTAINER_RUNNING', startedAt: now - 5_000, finishedAt: 0, exitCode: 0, reason: '' });
    containers.set('old', { id: 'old', sandbox: 's', state: 'CONTAINER_EXITED', startedAt: now - 9_000, finishedAt: now - 8_000, exitCode: 1, reason: 'Error' });
    containers.set('new', { id: 'new', sandbox: 's', state: 'CONTAINER_EXITED', startedAt: now - 2_000, finishedAt: now - 100, exitCode: 137, reason: 'Error' });
    await rt.listContainers({ sandboxId: 's' });
    assert.equal(calls.get('ContainerStatus'), 3);
    // The fresh exit is asked again: containerd may report OOMKilled a moment after the exit.
    containers.get('new')!.reason = 'OOMKilled';
    const again = await rt.listContainers();
    assert.equal(calls.get('ContainerStatus'), 4);
    assert.equal(again.find((c) => c.id === 'new')?.reason, 'OOMKilled');
    assert.equal(again.find((c) => c.id === 'run')?.sandboxId, 's');
    // A state change is seen at once.
    Object.assign(containers.get('run')!, { state: 'CONTAINER_EXITED', finishedAt: Date.now(), exitCode: 0, reason: 'Completed' });
    const third = await rt.listContainers();
    assert.equal(calls.get('ContainerStatus'), 6);
    assert.deepEqual(
      third.map((c) => [c.id, c.state, c.exitCode]).sort(),
      [['new', 'exited', 137], ['old', 'exited', 1], ['run', 'exited', 0]],
    );
    // containerStatus always asks.
    await rt.containerStatus('old');
    assert.equal(calls.get('ContainerStatus'), 7);
  });
});
