// computePodActions: the kubelet's pod sync decisions, table-driven with plain objects and an
// injected clock.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  ANNOTATION_CONTAINER_HASH,
  ANNOTATION_RESTART_COUNT,
  Backoff,
  LABEL_CONTAINER_NAME,
  LABEL_POD_UID,
  computePodActions,
  containerBackoffKey,
  goDuration,
  hashContainer,
  type PodRuntimeState,
} from '../../src/agent/sync.ts';
import type { Container, Pod } from '../../src/agent/kube-types.ts';
import type { ContainerStatus, SandboxStatus } from '../../src/agent/runtime/types.ts';

const T0 = 1_700_000_000_000;
const UID = 'uid-1';

function pod(spec: Partial<Pod['spec']> & { containers?: Container[] }, meta: Partial<Pod['metadata']> = {}): Pod {
  return { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'ns', uid: UID, ...meta }, spec: { containers: [{ name: 'app', image: 'img:1' }], ...spec } } as Pod;
}

let seq = 0;
function sandbox(over: Partial<SandboxStatus> = {}): SandboxStatus {
  return { id: over.id ?? `sb${++seq}`, state: 'ready', ips: ['10.0.0.5'], createdAt: T0, uid: UID, name: 'p', namespace: 'ns', attempt: 0, labels: { [LABEL_POD_UID]: UID }, annotations: {}, ...over };
}

function ctr(name: string, sandboxId: string, over: Partial<ContainerStatus> & { restartCount?: number; spec?: Container } = {}): ContainerStatus {
  const { restartCount = 0, spec, ...rest } = over;
  const annotations: Record<string, string> = { [ANNOTATION_RESTART_COUNT]: String(restartCount) };
  if (spec) annotations[ANNOTATION_CONTAINER_HASH] = hashContainer(spec);
  return {
    id: `${name}-${++seq}`,
    sandboxId,
    name,
    attempt: restartCount,
    image: 'img:1',
    imageRef: 'sha256:x',
    state: 'running',
    createdAt: T0 + seq,
    startedAt: T0 + seq,
    finishedAt: 0,
    exitCode: 0,
    reason: '',
    message: '',
    logPath: '',
    labels: { [LABEL_CONTAINER_NAME]: name, [LABEL_POD_UID]: UID },
    annotations,
    ...rest,
  };
}

function exited(name: string, sb: string, exitCode: number, finishedAt: number, restartCount = 0): ContainerStatus {
  return ctr(name, sb, { state: 'exited', exitCode, finishedAt, restartCount, reason: exitCode === 0 ? 'Completed' : 'Error' });
}

const names = (a: ReturnType<typeof computePodActions>) => a.containersToStart.map((s) => s.container.name);

describe('computePodActions: sandbox', () => {
  it('creates a sandbox and starts every app container for a new pod', () => {
    const p = pod({ containers: [{ name: 'a', image: 'x' }, { name: 'b', image: 'y' }] });
    const a = computePodActions(p, { sandboxes: [], containers: [] }, T0, new Backoff());
    assert.equal(a.createSandbox, true);
    assert.equal(a.sandboxAttempt, 0);
    assert.deepEqual(names(a), ['a', 'b']);
    assert.deepEqual(a.containersToStart.map((s) => s.restartCount), [0, 0]);
  });

  it('recreates a sandbox that is not ready (attempt + 1), killing the pod first, and runs init containers again', () => {
    const sb = sandbox({ state: 'notready', attempt: 2 });
    const p = pod({ initContainers: [{ name: 'i1', image: 'x' }, { name: 'i2', image: 'x' }] });
    const state: PodRuntimeState = { sandboxes: [sb], containers: [exited('i1', sb.id, 0, T0), exited('i2', sb.id, 0, T0), exited('app', sb.id, 137, T0)] };
    const a = computePodActions(p, state, T0 + 1000, new Backoff());
    assert.equal(a.killPod, true);
    assert.equal(a.createSandbox, true);
    assert.equal(a.sandboxAttempt, 3);
    assert.deepEqual(names(a), ['i1']);
    assert.equal(a.containersToStart[0]!.restartCount, 1, 'the restart count continues');
  });

  it('does not recreate the sandbox of a restartPolicy Never pod whose containers ran', () => {
    const sb = sandbox({ state: 'notready' });
    const a = computePodActions(pod({ restartPolicy: 'Never' }), { sandboxes: [sb], containers: [exited('app', sb.id, 1, T0)] }, T0, new Backoff());
    assert.equal(a.createSandbox, false);
    assert.deepEqual(names(a), []);
  });

  it('does not recreate the sandbox of an OnFailure pod whose containers all succeeded', () => {
    const sb = sandbox({ state: 'notready' });
    const a = computePodActions(pod({ restartPolicy: 'OnFailure' }), { sandboxes: [sb], containers: [exited('app', sb.id, 0, T0)] }, T0, new Backoff());
    assert.equal(a.createSandbox, false);
  });

  it('kills every sandbox when more than one is ready', () => {
    const a = computePodActions(pod({}), { sandboxes: [sandbox(), sandbox({ createdAt: T0 + 5 })], containers: [] }, T0, new Backoff());
    assert.equal(a.killPod, true);
    assert.equal(a.createSandbox, true);
  });
});

describe('computePodActions: init containers', () => {
  const p = pod({ initContainers: [{ name: 'i1', image: 'x' }, { name: 'i2', image: 'x' }], containers: [{ name: 'app', image: 'y' }] });

  const table: { name: string; inits: (sb: string) => ContainerStatus[]; start: string[]; initialized: boolean; killPod?: boolean; policy?: 'Never' }[] = [
    { name: 'the first init container first', inits: () => [], start: ['i1'], initialized: false },
    { name: 'nothing while an init container runs', inits: (sb) => [ctr('i1', sb)], start: [], initialized: false },
    { name: 'the next init container after one succeeds', inits: (sb) => [exited('i1', sb, 0, T0)], start: ['i2'], initialized: false },
    { name: 'the app containers once every init container succeeded', inits: (sb) => [exited('i1', sb, 0, T0), exited('i2', sb, 0, T0)], start: ['app'], initialized: true },
    { name: 'a failed init container again (Always acts as OnFailure)', inits: (sb) => [exited('i1', sb, 0, T0), exited('i2', sb, 1, T0 - 60_000)], start: ['i2'], initialized: false },
    { name: 'nothing more when an init container fails under Never: the pod is done', inits: (sb) => [exited('i1', sb, 1, T0)], start: [], initialized: false, killPod: true, policy: 'Never' },
  ];
  for (const t of table) {
    it(`starts ${t.name}`, () => {
      const sb = sandbox();
      const pp = t.policy ? { ...p, spec: { ...p.spec, restartPolicy: t.policy } } : p;
      const a = computePodActions(pp, { sandboxes: [sb], containers: t.inits(sb.id) }, T0, new Backoff());
      assert.equal(a.createSandbox, false);
      assert.deepEqual(names(a), t.start);
      assert.equal(a.initialized, t.initialized);
      assert.equal(a.killPod, t.killPod ?? false);
    });
  }

  it('does not run init containers again when an app container restarts', () => {
    const sb = sandbox();
    const state = { sandboxes: [sb], containers: [exited('i1', sb.id, 0, T0), exited('i2', sb.id, 0, T0), exited('app', sb.id, 1, T0 - 60_000)] };
    const a = computePodActions(p, state, T0, new Backoff());
    assert.deepEqual(names(a), ['app']);
  });
});

describe('computePodActions: restart policies', () => {
  const cases: { policy: 'Always' | 'OnFailure' | 'Never'; exit: number; restart: boolean }[] = [
    { policy: 'Always', exit: 0, restart: true },
    { policy: 'Always', exit: 1, restart: true },
    { policy: 'OnFailure', exit: 0, restart: false },
    { policy: 'OnFailure', exit: 1, restart: true },
    { policy: 'Never', exit: 0, restart: false },
    { policy: 'Never', exit: 1, restart: false },
  ];
  for (const c of cases) {
    it(`${c.policy}, exit ${c.exit}: ${c.restart ? 'restarts' : 'stays down'}`, () => {
      const sb = sandbox();
      const a = computePodActions(pod({ restartPolicy: c.policy }), { sandboxes: [sb], containers: [exited('app', sb.id, c.exit, T0 - 1000, 4)] }, T0, new Backoff());
      assert.deepEqual(names(a), c.restart ? ['app'] : []);
      if (c.restart) assert.equal(a.containersToStart[0]!.restartCount, 5);
      // A pod with nothing left to run is done: its sandbox goes.
      assert.equal(a.killPod, !c.restart);
    });
  }

  it('keeps a running container and starts nothing', () => {
    const sb = sandbox();
    const spec = { name: 'app', image: 'img:1' };
    const a = computePodActions(pod({ containers: [spec] }), { sandboxes: [sb], containers: [ctr('app', sb.id, { spec })] }, T0, new Backoff());
    assert.deepEqual(names(a), []);
    assert.equal(a.killPod, false);
    assert.deepEqual(a.containersToKill, []);
  });

  it('restarts a running container whose spec changed (a new image), whatever the policy', () => {
    const sb = sandbox();
    const running = ctr('app', sb.id, { spec: { name: 'app', image: 'img:1' } });
    const a = computePodActions(pod({ restartPolicy: 'Never', containers: [{ name: 'app', image: 'img:2' }] }), { sandboxes: [sb], containers: [running] }, T0, new Backoff());
    assert.deepEqual(a.containersToKill, [{ id: running.id, name: 'app', message: 'Container app definition changed, will be restarted' }]);
    assert.deepEqual(names(a), ['app']);
  });

  it('restarts a container a liveness probe gave up on', () => {
    const sb = sandbox();
    const spec = { name: 'app', image: 'img:1' };
    const running = ctr('app', sb.id, { spec });
    const a = computePodActions(pod({ containers: [spec] }), { sandboxes: [sb], containers: [running] }, T0, new Backoff(), { probeKills: new Map([[running.id, 'Container app failed liveness probe']]) });
    assert.deepEqual(a.containersToKill.map((k) => k.message), ['Container app failed liveness probe, will be restarted']);
    assert.deepEqual(names(a), ['app']);
  });
});

describe('computePodActions: liveness restarts back off', () => {
  it('the first liveness restart is at once; a second one soon after waits 10 s', () => {
    const b = new Backoff();
    const sb = sandbox();
    const spec = { name: 'app', image: 'img:1' };
    const first = ctr('app', sb.id, { spec });
    const kill = (c: typeof first) => ({ probeKills: new Map([[c.id, 'Container app failed liveness probe']]) });
    let a = computePodActions(pod({ containers: [spec] }), { sandboxes: [sb], containers: [first] }, T0, b, kill(first));
    assert.deepEqual(names(a), ['app']);
    b.next(a.containersToStart[0]!.backoff!.key, a.containersToStart[0]!.backoff!.eventTime, T0);
    const second = ctr('app', sb.id, { spec, restartCount: 1 });
    a = computePodActions(pod({ containers: [spec] }), { sandboxes: [sb], containers: [second] }, T0 + 3000, b, kill(second));
    assert.equal(a.containersToKill.length, 1, 'the failing container is still killed');
    assert.equal(a.containersToStart.length, 0, 'but not restarted during the back-off');
    assert.equal(a.backOff[0]?.name, 'app');
    assert.equal(a.requeueAt, T0 + 3000 + 10_000);
  });
});

describe('computePodActions: crash back-off', () => {
  it('restarts at once the first time, then waits 10 s, 20 s, 40 s … up to 5 min', () => {
    const b = new Backoff();
    const key = containerBackoffKey(UID, 'app');
    const sb = sandbox();
    let now = T0;
    const waits: number[] = [];
    for (let i = 0; i < 8; i++) {
      const finished = now;
      const state = { sandboxes: [sb], containers: [exited('app', sb.id, 1, finished, i)] };
      let a = computePodActions(pod({}), state, now, b);
      if (a.containersToStart.length === 0) {
        assert.equal(a.backOff.length, 1);
        assert.equal(a.backOff[0]!.name, 'app');
        assert.equal(a.requeueAt, finished + b.get(key));
        waits.push(a.requeueAt! - finished);
        now = a.requeueAt!;
        a = computePodActions(pod({}), state, now - 1, b);
        assert.equal(a.containersToStart.length, 0, 'still in back-off 1 ms before it ends');
        a = computePodActions(pod({}), state, now, b);
      } else waits.push(0);
      assert.deepEqual(names(a), ['app']);
      b.next(a.containersToStart[0]!.backoff!.key, a.containersToStart[0]!.backoff!.eventTime, now);
      now += 1000; // it runs 1 s and crashes again
    }
    assert.deepEqual(waits, [0, 10_000, 20_000, 40_000, 80_000, 160_000, 300_000, 300_000]);
  });

  it('says CrashLoopBackOff with the kubelet message', () => {
    const b = new Backoff();
    const key = containerBackoffKey(UID, 'app');
    b.next(key, T0, T0);
    b.next(key, T0 + 1000, T0 + 1000); // now 20 s
    const sb = sandbox();
    const a = computePodActions(pod({}), { sandboxes: [sb], containers: [exited('app', sb.id, 1, T0 + 2000, 2)] }, T0 + 3000, b);
    assert.equal(a.backOff[0]!.message, 'back-off 20s restarting failed container=app pod=p_ns(uid-1)');
  });

  it('resets after 10 minutes of running', () => {
    const b = new Backoff();
    const key = containerBackoffKey(UID, 'app');
    for (let i = 0; i < 5; i++) b.next(key, T0, T0); // deep in back-off (160 s)
    const sb = sandbox();
    const finished = T0 + 11 * 60_000; // ran 11 minutes since the last restart
    const a = computePodActions(pod({}), { sandboxes: [sb], containers: [exited('app', sb.id, 1, finished, 5)] }, finished + 1, b);
    assert.deepEqual(names(a), ['app']);
    b.next(key, finished, finished + 1);
    assert.equal(b.get(key), 10_000, 'the delay starts over');
  });

  it('formats durations like Go', () => {
    assert.equal(goDuration(10_000), '10s');
    assert.equal(goDuration(80_000), '1m20s');
    assert.equal(goDuration(300_000), '5m0s');
  });
});

describe('computePodActions: deletion', () => {
  it('kills the pod and starts nothing once it has a deletionTimestamp', () => {
    const sb = sandbox();
    const a = computePodActions(pod({}, { deletionTimestamp: '2024-01-01T00:00:00Z', deletionGracePeriodSeconds: 30 }), { sandboxes: [sb], containers: [exited('app', sb.id, 1, T0)] }, T0 + 60_000, new Backoff());
    assert.equal(a.killPod, true);
    assert.equal(a.createSandbox, false);
    assert.deepEqual(names(a), []);
  });
});
