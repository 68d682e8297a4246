// buildPodStatus: phase, conditions, container states and reasons, lastTransitionTime stability.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { buildPodStatus, podPhase, rfc3339, type StatusInput } from '../../src/agent/status.ts';
import { ANNOTATION_RESTART_COUNT, LABEL_CONTAINER_NAME, type PodRuntimeState } from '../../src/agent/sync.ts';
import type { Pod, PodStatus } from '../../src/agent/kube-types.ts';
import type { ContainerStatus, SandboxStatus } from '../../src/agent/runtime/types.ts';

const T0 = Date.parse('2024-05-01T10:00:00Z');

function pod(spec: Partial<Pod['spec']> = {}, status?: PodStatus, meta: Partial<Pod['metadata']> = {}): Pod {
  return { metadata: { name: 'p', namespace: 'ns', uid: 'u1', ...meta }, spec: { containers: [{ name: 'app', image: 'img:1' }], ...spec }, status: status ?? { phase: 'Pending', qosClass: 'BestEffort' } } as Pod;
}

const sb: SandboxStatus = { id: 'sb1', state: 'ready', ips: ['10.1.0.7'], createdAt: T0, uid: 'u1', name: 'p', namespace: 'ns', attempt: 0, labels: {}, annotations: {} };

let n = 0;
function c(name: string, state: ContainerStatus['state'], over: Partial<ContainerStatus> & { restartCount?: number } = {}): ContainerStatus {
  const { restartCount = 0, ...rest } = over;
  n++;
  return {
    id: `${name}${n}`,
    sandboxId: 'sb1',
    name,
    attempt: restartCount,
    image: 'img:1',
    imageRef: 'sha256:abc',
    state,
    createdAt: T0 + n,
    startedAt: state === 'created' ? 0 : T0 + n,
    finishedAt: state === 'exited' ? T0 + n + 500 : 0,
    exitCode: 0,
    reason: '',
    message: '',
    logPath: '',
    labels: { [LABEL_CONTAINER_NAME]: name },
    annotations: { [ANNOTATION_RESTART_COUNT]: String(restartCount) },
    ...rest,
  };
}

function build(p: Pod, state: PodRuntimeState, extra: Partial<StatusInput> = {}): PodStatus {
  return buildPodStatus({ pod: p, state, runtimeName: 'containerd', hostIP: '192.168.1.5', now: T0 + 10_000, ...extra });
}

const cond = (s: PodStatus, t: string) => s.conditions?.find((x) => x.type === t);

describe('buildPodStatus', () => {
  it('a pod with nothing yet: Pending, ContainerCreating, not ready', () => {
    const s = build(pod(), { sandboxes: [], containers: [] });
    assert.equal(s.phase, 'Pending');
    assert.deepEqual(s.containerStatuses?.[0]?.state, { waiting: { reason: 'ContainerCreating' } });
    assert.equal(cond(s, 'PodReadyToStartContainers')?.status, 'False');
    assert.equal(cond(s, 'Initialized')?.status, 'True');
    assert.deepEqual(
      { status: cond(s, 'Ready')?.status, reason: cond(s, 'Ready')?.reason, message: cond(s, 'Ready')?.message },
      { status: 'False', reason: 'ContainersNotReady', message: 'containers with unready status: [app]' },
    );
    assert.equal(cond(s, 'PodScheduled')?.status, 'True');
    assert.equal(s.hostIP, '192.168.1.5');
    assert.deepEqual(s.hostIPs, [{ ip: '192.168.1.5' }]);
    assert.equal(s.startTime, rfc3339(T0 + 10_000));
    assert.equal(s.qosClass, 'BestEffort');
  });

  it('a running pod: Running, Ready, podIP, containerID with the runtime prefix', () => {
    const app = c('app', 'running');
    const s = build(pod(), { sandboxes: [sb], containers: [app] });
    assert.equal(s.phase, 'Running');
    assert.equal(s.podIP, '10.1.0.7');
    assert.deepEqual(s.podIPs, [{ ip: '10.1.0.7' }]);
    const cs = s.containerStatuses![0]!;
    assert.deepEqual(cs.state, { running: { startedAt: rfc3339(app.startedAt) } });
    assert.equal(cs.containerID, `containerd://${app.id}`);
    assert.equal(cs.imageID, 'sha256:abc');
    assert.equal(cs.ready, true);
    assert.equal(cs.started, true);
    for (const t of ['PodReadyToStartContainers', 'Initialized', 'ContainersReady', 'Ready']) assert.equal(cond(s, t)?.status, 'True', t);
  });

  it('readiness comes from the probe manager; a readiness probe without a result is not ready', () => {
    const p = pod({ containers: [{ name: 'app', image: 'i', readinessProbe: { exec: { command: ['true'] } } }] });
    const state = { sandboxes: [sb], containers: [c('app', 'running')] };
    assert.equal(build(p, state).containerStatuses![0]!.ready, false);
    assert.equal(build(p, state, { readiness: () => true }).containerStatuses![0]!.ready, true);
    const s = build(p, state, { readiness: () => false });
    assert.equal(cond(s, 'ContainersReady')?.status, 'False');
    assert.equal(s.phase, 'Running');
  });

  it('a startup probe that has not succeeded: started false, not ready', () => {
    const p = pod({ containers: [{ name: 'app', image: 'i', startupProbe: { exec: { command: ['true'] } } }] });
    const s = build(p, { sandboxes: [sb], containers: [c('app', 'running')] }, { started: () => false, readiness: () => true });
    assert.equal(s.containerStatuses![0]!.started, false);
    assert.equal(s.containerStatuses![0]!.ready, false);
  });

  it('a restarted container: restartCount, lastState from the previous one, CrashLoopBackOff while waiting', () => {
    const first = c('app', 'exited', { exitCode: 137, reason: 'OOMKilled', restartCount: 0 });
    const second = c('app', 'exited', { exitCode: 1, reason: 'Error', restartCount: 1 });
    const reasons = new Map([['app', { reason: 'CrashLoopBackOff', message: 'back-off 10s restarting failed container=app pod=p_ns(u1)' }]]);
    const s = build(pod({}, { phase: 'Running' }), { sandboxes: [sb], containers: [first, second] }, { reasons });
    const cs = s.containerStatuses![0]!;
    assert.equal(cs.restartCount, 1);
    assert.deepEqual(cs.state, { waiting: { reason: 'CrashLoopBackOff', message: 'back-off 10s restarting failed container=app pod=p_ns(u1)' } });
    assert.equal(cs.lastState?.terminated?.exitCode, 1);
    assert.equal(cs.lastState?.terminated?.reason, 'Error');
    assert.equal(cs.lastState?.terminated?.containerID, `containerd://${second.id}`);
    assert.equal(s.phase, 'Running', 'restarting under Always stays Running');
  });

  it('keeps lastState of the previous container while the new one runs', () => {
    const first = c('app', 'exited', { exitCode: 137, reason: 'OOMKilled' });
    const second = c('app', 'running', { restartCount: 1 });
    const cs = build(pod(), { sandboxes: [sb], containers: [second, first] }).containerStatuses![0]!;
    assert.ok(cs.state?.running);
    assert.equal(cs.lastState?.terminated?.reason, 'OOMKilled');
    assert.equal(cs.restartCount, 1);
  });

  for (const reason of ['ErrImagePull', 'ImagePullBackOff', 'CreateContainerError', 'CreateContainerConfigError']) {
    it(`a container that cannot start waits with ${reason} and the pod stays Pending`, () => {
      const s = build(pod(), { sandboxes: [sb], containers: [] }, { reasons: new Map([['app', { reason, message: 'why' }]]) });
      assert.deepEqual(s.containerStatuses![0]!.state, { waiting: { reason, message: 'why' } });
      assert.equal(s.phase, 'Pending');
    });
  }

  it('init containers: PodInitializing for app containers, Initialized False with the waiting ones', () => {
    const p = pod({ initContainers: [{ name: 'i1', image: 'x' }, { name: 'i2', image: 'x' }] });
    const s = build(p, { sandboxes: [sb], containers: [c('i1', 'exited', { exitCode: 0, reason: 'Completed' }), c('i2', 'running')] });
    assert.equal(s.phase, 'Pending');
    assert.deepEqual(s.containerStatuses![0]!.state, { waiting: { reason: 'PodInitializing' } });
    assert.equal(s.initContainerStatuses![0]!.ready, true);
    assert.equal(s.initContainerStatuses![1]!.ready, false);
    assert.deepEqual({ s: cond(s, 'Initialized')?.status, r: cond(s, 'Initialized')?.reason, m: cond(s, 'Initialized')?.message }, { s: 'False', r: 'ContainersNotInitialized', m: 'containers with incomplete status: [i2]' });
  });

  it('a failed init container under Never fails the pod', () => {
    const p = pod({ restartPolicy: 'Never', initContainers: [{ name: 'i1', image: 'x' }] });
    const s = build(p, { sandboxes: [sb], containers: [c('i1', 'exited', { exitCode: 1, reason: 'Error' })] });
    assert.equal(s.phase, 'Failed');
    assert.equal(cond(s, 'Ready')?.reason, 'PodFailed');
  });

  it('phases of finished pods: Succeeded (OnFailure, exit 0), Failed (Never, exit 1), Running (Always)', () => {
    const ok = { sandboxes: [sb], containers: [c('app', 'exited', { exitCode: 0, reason: 'Completed' })] };
    const bad = { sandboxes: [sb], containers: [c('app', 'exited', { exitCode: 1, reason: 'Error' })] };
    assert.equal(build(pod({ restartPolicy: 'OnFailure' }), ok).phase, 'Succeeded');
    assert.equal(build(pod({ restartPolicy: 'Never' }), bad).phase, 'Failed');
    assert.equal(build(pod({ restartPolicy: 'Always' }), ok).phase, 'Running');
    const done = build(pod({ restartPolicy: 'OnFailure' }), ok);
    assert.equal(cond(done, 'Ready')?.reason, 'PodCompleted');
    assert.equal(done.containerStatuses![0]!.state?.terminated?.reason, 'Completed');
  });

  it('a terminal (deleted) pod whose containers stopped is Succeeded or Failed, and a terminal phase never changes', () => {
    const stopped = { sandboxes: [{ ...sb, state: 'notready' as const }], containers: [c('app', 'exited', { exitCode: 0 })] };
    assert.equal(build(pod(), stopped, { terminal: true }).phase, 'Succeeded');
    const killed = { sandboxes: [sb], containers: [c('app', 'exited', { exitCode: 137 })] };
    assert.equal(build(pod(), killed, { terminal: true }).phase, 'Failed');
    assert.equal(build(pod({}, { phase: 'Succeeded' }), { sandboxes: [sb], containers: [c('app', 'running')] }).phase, 'Succeeded');
  });

  it('lastTransitionTime changes only when a condition flips', () => {
    const running = { sandboxes: [sb], containers: [c('app', 'running')] };
    const s1 = build(pod(), running, { now: T0 });
    const s2 = build(pod({}, s1), running, { now: T0 + 60_000 });
    assert.equal(cond(s2, 'Ready')?.lastTransitionTime, rfc3339(T0));
    const notReady = build(pod({ containers: [{ name: 'app', image: 'i', readinessProbe: { exec: { command: ['x'] } } }] }, s2), running, { now: T0 + 120_000, readiness: () => false });
    assert.equal(cond(notReady, 'Ready')?.status, 'False');
    assert.equal(cond(notReady, 'Ready')?.lastTransitionTime, rfc3339(T0 + 120_000));
    assert.equal(cond(notReady, 'PodScheduled')?.lastTransitionTime, rfc3339(T0), 'unchanged conditions keep their time');
  });

  it('keeps conditions other components own and evaluates readiness gates', () => {
    const p = pod({ readinessGates: [{ conditionType: 'example.com/lb' }] }, { phase: 'Running', conditions: [{ type: 'example.com/lb', status: 'False' }] });
    const s = build(p, { sandboxes: [sb], containers: [c('app', 'running')] });
    assert.equal(cond(s, 'example.com/lb')?.status, 'False');
    assert.equal(cond(s, 'ContainersReady')?.status, 'True');
    assert.deepEqual({ s: cond(s, 'Ready')?.status, r: cond(s, 'Ready')?.reason }, { s: 'False', r: 'ReadinessGatesNotReady' });
  });

  it('a container the runtime lost after it ran: lastState ContainerStatusUnknown, restartCount + 1', () => {
    const old: PodStatus = { phase: 'Running', containerStatuses: [{ name: 'app', image: 'img:1', imageID: '', ready: true, restartCount: 2, state: { running: { startedAt: rfc3339(T0) } } }] };
    const s = build(pod({}, old), { sandboxes: [sb], containers: [] });
    const cs = s.containerStatuses![0]!;
    assert.equal(cs.lastState?.terminated?.reason, 'ContainerStatusUnknown');
    assert.equal(cs.lastState?.terminated?.exitCode, 137);
    assert.equal(cs.restartCount, 3);
    assert.equal(s.phase, 'Running');
  });

  it('keeps the pod IP of a stopped sandbox', () => {
    const s = build(pod({}, { phase: 'Running', podIP: '10.1.0.9', podIPs: [{ ip: '10.1.0.9' }] }), { sandboxes: [{ ...sb, state: 'notready', ips: [] }], containers: [] });
    assert.equal(s.podIP, '10.1.0.9');
  });

  it('podPhase: all containers of a pod with an unknown container stay Pending', () => {
    const p = pod({ containers: [{ name: 'a', image: 'x' }, { name: 'b', image: 'x' }] });
    assert.equal(podPhase(p, [], [{ name: 'a', image: 'x', imageID: '', ready: true, restartCount: 0, state: { running: {} } }], false), 'Pending');
  });
});
