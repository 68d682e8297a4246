// The pod status the agent reports, built as the kubelet's generateAPIPodStatus builds it:
// container statuses from what the runtime holds (the newest container of each name gives
// `state`, the one before it `lastState`), waiting reasons from the last sync's failures,
// readiness from the probes, the phase from all of that, and the kubelet's conditions with a
// lastTransitionTime that moves only when a condition flips. Pure: time and probe results come
// in as arguments.
import type { ContainerStatus as RuntimeContainer } from './runtime/types.ts';
import type { Container, ContainerStateApi, ContainerStatusApi, Pod, PodCondition, PodStatus } from './kube-types.ts';
import { byNewest, containerNameOf, currentSandbox, isSidecar, restartCountOf, type PodRuntimeState } from './sync.ts';

export interface WaitingReason {
  reason: string;
  message: string;
}

export interface StatusInput {
  pod: Pod;
  state: PodRuntimeState;
  /** Prefix of container IDs (`containerd`, `process`, `simulated`). */
  runtimeName: string;
  /** The node's IP. */
  hostIP: string;
  now: number;
  /** Why a container that is not running waits (the last sync's failure or back-off), by name. */
  reasons?: ReadonlyMap<string, WaitingReason>;
  /** Readiness from the probe manager (undefined: not probed). */
  readiness?: (containerName: string) => boolean | undefined;
  /** Startup-probe result from the probe manager (undefined: not probed). */
  started?: (containerName: string) => boolean | undefined;
  /** The pod is done (deleted, or finished for good): its phase becomes Succeeded or Failed. */
  terminal?: boolean;
  /** The agent failed the pod (activeDeadlineSeconds): phase Failed with this reason and message. */
  evicted?: { reason: string; message: string };
}

/** Kubernetes' JSON time: RFC 3339, whole seconds. */
export function rfc3339(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

const KUBELET_CONDITIONS = new Set(['PodScheduled', 'PodReadyToStartContainers', 'Initialized', 'ContainersReady', 'Ready']);

export function buildPodStatus(input: StatusInput): PodStatus {
  const { pod, state, now } = input;
  const spec = pod.spec;
  const old: PodStatus = pod.status ?? {};
  const hasInits = (spec.initContainers ?? []).length > 0;
  const oldInit = new Map((old.initContainerStatuses ?? []).map((s) => [s.name, s]));
  const oldApp = new Map((old.containerStatuses ?? []).map((s) => [s.name, s]));
  const byName = new Map<string, RuntimeContainer[]>();
  for (const c of state.containers) {
    const n = containerNameOf(c);
    let list = byName.get(n);
    if (!list) byName.set(n, (list = []));
    list.push(c);
  }
  for (const list of byName.values()) list.sort(byNewest);

  const build = (c: Container, isInit: boolean, oldStatus: ContainerStatusApi | undefined): ContainerStatusApi =>
    containerStatus(input, c, isInit, hasInits, oldStatus, byName.get(c.name) ?? []);
  const initStatuses = (spec.initContainers ?? []).map((c) => build(c, true, oldInit.get(c.name)));
  const appStatuses = (spec.containers ?? []).map((c) => build(c, false, oldApp.get(c.name)));

  let phase = podPhase(pod, initStatuses, appStatuses, input.terminal === true);
  if (old.phase === 'Succeeded' || old.phase === 'Failed') phase = old.phase; // terminal phases are final

  if (input.evicted && old.phase !== 'Succeeded') phase = 'Failed';
  const status: PodStatus = { phase };
  if (input.evicted && phase === 'Failed') {
    status.reason = input.evicted.reason;
    status.message = input.evicted.message;
  } else if (phase === old.phase) {
    if (old.reason) status.reason = old.reason;
    if (old.message) status.message = old.message;
  }
  // Conditions: keep the ones others own, then the kubelet's.
  const conditions: PodCondition[] = (old.conditions ?? []).filter((c) => !KUBELET_CONDITIONS.has(c.type));
  const sandbox = currentSandbox(state);
  const sandboxReady = sandbox !== undefined && sandbox.state === 'ready' && !input.terminal;
  const generated: PodCondition[] = [
    { type: 'PodReadyToStartContainers', status: sandboxReady ? 'True' : 'False' },
    initializedCondition(pod, initStatuses, appStatuses, phase),
    readyCondition(pod, appStatuses, phase, conditions),
    containersReadyCondition(pod, appStatuses, phase),
    { type: 'PodScheduled', status: 'True' },
  ];
  const oldByType = new Map((old.conditions ?? []).map((c) => [c.type, c]));
  for (const c of generated) {
    const prev = oldByType.get(c.type);
    const out: PodCondition = { type: c.type, status: c.status };
    out.lastTransitionTime = prev && prev.status === c.status && prev.lastTransitionTime ? prev.lastTransitionTime : rfc3339(now);
    if (c.reason) out.reason = c.reason;
    if (c.message) out.message = c.message;
    conditions.push(out);
  }
  status.conditions = conditions;

  status.hostIP = input.hostIP;
  status.hostIPs = [{ ip: input.hostIP }];
  const ips = spec.hostNetwork ? [input.hostIP] : sandbox && sandbox.ips.length > 0 ? sandbox.ips : (old.podIPs ?? []).map((p) => p.ip).filter((ip): ip is string => !!ip);
  if (ips.length === 0 && old.podIP) ips.push(old.podIP);
  if (ips.length > 0) {
    status.podIP = ips[0];
    status.podIPs = ips.map((ip) => ({ ip }));
  }
  status.startTime = old.startTime ?? rfc3339(now);
  if (old.qosClass) status.qosClass = old.qosClass;
  if (initStatuses.length > 0) status.initContainerStatuses = initStatuses;
  status.containerStatuses = appStatuses;
  return status;
}

function ts(ms: number): string | undefined {
  return ms > 0 ? rfc3339(ms) : undefined;
}

function runtimeState(c: RuntimeContainer, containerID: string): ContainerStateApi {
  switch (c.state) {
    case 'running':
      return { running: { startedAt: ts(c.startedAt) ?? rfc3339(c.createdAt) } };
    case 'exited': {
      const t: NonNullable<ContainerStateApi['terminated']> = {
        exitCode: c.exitCode,
        reason: c.reason || (c.exitCode === 0 ? 'Completed' : 'Error'),
        containerID,
      };
      if (c.message) t.message = c.message;
      const s = ts(c.startedAt);
      if (s) t.startedAt = s;
      const f = ts(c.finishedAt);
      if (f) t.finishedAt = f;
      return { terminated: t };
    }
    default:
      return { waiting: { reason: 'ContainerCreating' } };
  }
}

function containerStatus(
  input: StatusInput,
  c: Container,
  isInit: boolean,
  hasInits: boolean,
  old: ContainerStatusApi | undefined,
  runtime: RuntimeContainer[],
): ContainerStatusApi {
  const defaultWaiting = hasInits && !isInit ? 'PodInitializing' : 'ContainerCreating';
  let s: ContainerStatusApi = {
    name: c.name,
    image: c.image ?? '',
    imageID: '',
    ready: false,
    restartCount: 0,
    started: false,
    state: { waiting: { reason: defaultWaiting } },
    lastState: {},
  };
  if (old) {
    if (old.state?.terminated) {
      s = { ...old, lastState: old.lastState ?? {} };
    } else {
      s.restartCount = old.restartCount ?? 0;
      s.lastState = old.lastState ?? {};
    }
  }
  const newest = runtime[0];
  if (newest) {
    const cid = `${input.runtimeName}://${newest.id}`;
    s = {
      name: c.name,
      image: newest.image || c.image || '',
      imageID: newest.imageRef || '',
      containerID: cid,
      ready: false,
      restartCount: restartCountOf(newest),
      started: false,
      state: runtimeState(newest, cid),
      lastState: s.lastState ?? {},
    };
    const previous = runtime[1];
    if (previous && previous.state === 'exited') s.lastState = runtimeState(previous, `${input.runtimeName}://${previous.id}`);
  } else if (old?.state?.running) {
    // It ran and the runtime no longer knows it: it terminated, we cannot tell how.
    s.lastState = { terminated: { exitCode: 137, reason: 'ContainerStatusUnknown', message: 'The container could not be located when the pod was deleted.  The container used to be Running' } };
    s.state = { waiting: { reason: defaultWaiting } };
    if (!input.pod.metadata.deletionTimestamp) s.restartCount = (old.restartCount ?? 0) + 1;
  }
  // A container that waits to be (re)started shows why.
  const why = input.reasons?.get(c.name);
  const doneInit = isInit && !isSidecar(c) && newest?.state === 'exited' && newest.exitCode === 0;
  if (why && newest?.state !== 'running' && !doneInit) {
    if (s.state?.terminated) s.lastState = s.state;
    s.state = { waiting: { reason: why.reason, ...(why.message ? { message: why.message } : {}) } };
  }
  // ready / started
  if (s.state?.running) {
    const startedProbe = input.started?.(c.name);
    const started = startedProbe ?? !c.startupProbe;
    s.started = started;
    if (isInit && !isSidecar(c)) {
      s.ready = false;
    } else {
      const r = input.readiness?.(c.name);
      s.ready = started && (r ?? !c.readinessProbe);
    }
  } else {
    s.started = false;
    s.ready = isInit && !isSidecar(c) ? s.state?.terminated?.exitCode === 0 : false;
  }
  return s;
}

/** The kubelet's getPhase. */
export function podPhase(pod: Pod, inits: ContainerStatusApi[], apps: ContainerStatusApi[], terminal: boolean): 'Pending' | 'Running' | 'Succeeded' | 'Failed' {
  const spec = pod.spec;
  const policy = spec.restartPolicy ?? 'Always';
  let pendingInit = 0;
  let failedInit = 0;
  let unknown = 0;
  let running = 0;
  let waiting = 0;
  let stopped = 0;
  let succeeded = 0;
  const initByName = new Map(inits.map((s) => [s.name, s]));
  for (const c of spec.initContainers ?? []) {
    const s = initByName.get(c.name);
    if (isSidecar(c)) {
      if (!s) {
        unknown++;
        continue;
      }
      if (s.state?.running) {
        if (!s.started) pendingInit++;
        running++;
      } else if (s.state?.waiting && !s.lastState?.terminated) {
        pendingInit++;
        waiting++;
      }
      continue;
    }
    if (!s) {
      pendingInit++;
      continue;
    }
    if (s.state?.running) pendingInit++;
    else if (s.state?.terminated) {
      if (s.state.terminated.exitCode !== 0) failedInit++;
    } else if (s.state?.waiting && s.lastState?.terminated) {
      if (s.lastState.terminated.exitCode !== 0) failedInit++;
    } else pendingInit++;
  }
  const appByName = new Map(apps.map((s) => [s.name, s]));
  let anyAppStarted = false;
  for (const c of spec.containers ?? []) {
    const s = appByName.get(c.name);
    if (!s) {
      unknown++;
      continue;
    }
    if (s.state?.running) {
      running++;
      anyAppStarted = true;
    } else if (s.state?.terminated) {
      stopped++;
      anyAppStarted = true;
      if (s.state.terminated.exitCode === 0) succeeded++;
    } else if (s.state?.waiting) {
      if (s.lastState?.terminated) {
        stopped++;
        anyAppStarted = true;
      } else waiting++;
    } else unknown++;
  }
  // A pod that is done for good (deleted, or finished): nothing runs any more.
  if (terminal && running === 0) return stopped > 0 && stopped === succeeded && waiting === 0 && unknown === 0 ? 'Succeeded' : 'Failed';
  if (failedInit > 0 && policy === 'Never') return 'Failed';
  if ((pendingInit > 0 && !anyAppStarted) || waiting > 0) return 'Pending';
  if (running > 0 && unknown === 0) return 'Running';
  if (running === 0 && stopped > 0 && unknown === 0) {
    if (policy === 'Always') return 'Running';
    if (stopped === succeeded) return 'Succeeded';
    if (policy === 'Never') return 'Failed';
    return 'Running';
  }
  return 'Pending';
}

function names(list: string[]): string {
  return `[${list.join(' ')}]`;
}

function containersReadyCondition(pod: Pod, apps: ContainerStatusApi[], phase: string): PodCondition {
  if (phase === 'Succeeded') return { type: 'ContainersReady', status: 'False', reason: 'PodCompleted' };
  if (phase === 'Failed') return { type: 'ContainersReady', status: 'False', reason: 'PodFailed' };
  const byName = new Map(apps.map((s) => [s.name, s]));
  const unknown: string[] = [];
  const unready: string[] = [];
  for (const c of pod.spec.containers ?? []) {
    const s = byName.get(c.name);
    if (!s) unknown.push(c.name);
    else if (!s.ready) unready.push(c.name);
  }
  const msgs: string[] = [];
  if (unknown.length) msgs.push(`containers with unknown status: ${names(unknown)}`);
  if (unready.length) msgs.push(`containers with unready status: ${names(unready)}`);
  if (msgs.length) return { type: 'ContainersReady', status: 'False', reason: 'ContainersNotReady', message: msgs.join(', ') };
  return { type: 'ContainersReady', status: 'True' };
}

function readyCondition(pod: Pod, apps: ContainerStatusApi[], phase: string, otherConditions: PodCondition[]): PodCondition {
  const cr = containersReadyCondition(pod, apps, phase);
  if (cr.status !== 'True') return { type: 'Ready', status: cr.status, reason: cr.reason, message: cr.message };
  const msgs: string[] = [];
  for (const g of pod.spec.readinessGates ?? []) {
    const c = otherConditions.find((x) => x.type === g.conditionType);
    if (!c) msgs.push(`corresponding condition of pod readiness gate "${g.conditionType}" does not exist.`);
    else if (c.status !== 'True') msgs.push(`the status of pod readiness gate "${g.conditionType}" is not "True", but ${c.status}`);
  }
  if (msgs.length) return { type: 'Ready', status: 'False', reason: 'ReadinessGatesNotReady', message: msgs.join(', ') };
  return { type: 'Ready', status: 'True' };
}

function initializedCondition(pod: Pod, inits: ContainerStatusApi[], apps: ContainerStatusApi[], phase: string): PodCondition {
  const specInits = pod.spec.initContainers ?? [];
  if (specInits.length === 0) return { type: 'Initialized', status: 'True' };
  // Once an app container has run, the pod was initialized.
  if (apps.some((s) => s.state?.running || s.state?.terminated || s.lastState?.terminated)) return { type: 'Initialized', status: 'True' };
  const byName = new Map(inits.map((s) => [s.name, s]));
  const unknown: string[] = [];
  const unready: string[] = [];
  for (const c of specInits) {
    const s = byName.get(c.name);
    if (!s) unknown.push(c.name);
    else if (isSidecar(c) ? !s.started : !s.ready) unready.push(c.name);
  }
  if (phase === 'Succeeded' && unknown.length === 0) return { type: 'Initialized', status: 'True', reason: 'PodCompleted' };
  const msgs: string[] = [];
  if (unknown.length) msgs.push(`containers with unknown status: ${names(unknown)}`);
  if (unready.length) msgs.push(`containers with incomplete status: ${names(unready)}`);
  if (msgs.length) return { type: 'Initialized', status: 'False', reason: 'ContainersNotInitialized', message: msgs.join(', ') };
  return { type: 'Initialized', status: 'True' };
}
