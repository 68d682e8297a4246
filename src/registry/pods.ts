// core/v1 Pod: defaults (including what Kubernetes' admission plugins add on create), status on
// create (Pending + QoS class), validation and update rules, and kubectl's table cells.
import type { FieldCause, KubeObject, ResourceDef } from './types.ts';
import { age, humanDuration } from './printing.ts';
import { computeQOSClass, defaultPodOnlySpec, defaultPodSpec, validateNodeName, validatePodSpec, validatePodSpecUpdate } from './podspec.ts';
import {
  asArray,
  asRecord,
  dns1123SubdomainErrors,
  duplicate,
  forbidden,
  INVALID_IP_MSG,
  invalid,
  isIP,
  isIPv4,
  isRecord,
  validateImmutable,
  validateQualifiedNameField,
} from './validation.ts';

type Obj = Record<string, unknown>;
const str = (v: unknown): string => (typeof v === 'string' ? v : '');

const AGE_DESC = 'CreationTimestamp is a timestamp representing the server time when this object was created.';

function specOf(obj: KubeObject): Obj {
  if (!isRecord(obj.spec)) obj.spec = {};
  return obj.spec as Obj;
}

/** Keep the v1 singular/plural IP fields in step, as Kubernetes' conversion does. */
function syncIPs(status: Obj, one: string, many: string): void {
  const list = asArray(status[many]);
  const single = str(status[one]);
  if (single && list.length === 0) status[many] = [{ ip: single }];
  else if (!single && list.length > 0) {
    const first = str(asRecord(list[0]).ip);
    if (first) status[one] = first;
  }
}

const SCHEDULING_GATED_CONDITION = {
  type: 'PodScheduled',
  status: 'False',
  reason: 'SchedulingGated',
  message: 'Scheduling is blocked due to non-empty scheduling gates',
};

// ---------------------------------------------------------------------------------------------
// Table cells (kubectl's pod printer)
// ---------------------------------------------------------------------------------------------

interface PodCells {
  ready: string;
  status: string;
  restarts: string;
}

function isRestartableInit(c: unknown): boolean {
  return asRecord(c).restartPolicy === 'Always';
}

function hasCondition(pod: KubeObject, type: string): boolean {
  return asArray(asRecord(pod.status).conditions).some((c) => asRecord(c).type === type && asRecord(c).status === 'True');
}

function timeOf(ts: unknown): number {
  if (typeof ts !== 'string' || !ts) return 0;
  const t = Date.parse(ts);
  return Number.isNaN(t) ? 0 : t;
}

/** READY, STATUS and RESTARTS as `kubectl get pods` shows them (printPod). */
export function podTableCells(pod: KubeObject, now: number = Date.now()): PodCells {
  const spec = asRecord(pod.spec);
  const status = asRecord(pod.status);
  const phase = str(status.phase);
  let reason = str(status.reason) || phase;
  for (const c of asArray(status.conditions)) {
    const cond = asRecord(c);
    if (cond.type === 'PodScheduled' && cond.reason === 'SchedulingGated') reason = 'SchedulingGated';
  }
  const initSpecs = new Map<string, Obj>();
  let total = asArray(spec.containers).length;
  for (const c of asArray(spec.initContainers)) {
    initSpecs.set(str(asRecord(c).name), asRecord(c));
    if (isRestartableInit(c)) total++;
  }
  let ready = 0;
  let restarts = 0;
  let sidecarRestarts = 0;
  let lastRestart = 0;
  let lastSidecarRestart = 0;
  let initializing = false;
  const initStatuses = asArray(status.initContainerStatuses);
  const nInit = asArray(spec.initContainers).length;
  for (let i = 0; i < initStatuses.length; i++) {
    const cs = asRecord(initStatuses[i]);
    const count = typeof cs.restartCount === 'number' ? cs.restartCount : 0;
    restarts += count;
    const lastTerm = asRecord(asRecord(cs.lastState).terminated);
    const finished = timeOf(lastTerm.finishedAt);
    if (isRecord(asRecord(cs.lastState).terminated) && finished > lastRestart) lastRestart = finished;
    const restartable = isRestartableInit(initSpecs.get(str(cs.name)));
    if (restartable) {
      sidecarRestarts += count;
      if (isRecord(asRecord(cs.lastState).terminated) && finished > lastSidecarRestart) lastSidecarRestart = finished;
    }
    const state = asRecord(cs.state);
    const term = isRecord(state.terminated) ? state.terminated : undefined;
    const waiting = isRecord(state.waiting) ? state.waiting : undefined;
    if (term && (term.exitCode ?? 0) === 0) continue;
    if (restartable && cs.started === true) {
      if (cs.ready === true) ready++;
      continue;
    }
    if (term) {
      if (!str(term.reason)) {
        reason = typeof term.signal === 'number' && term.signal !== 0 ? `Init:Signal:${term.signal}` : `Init:ExitCode:${term.exitCode ?? 0}`;
      } else reason = `Init:${str(term.reason)}`;
    } else if (waiting && str(waiting.reason) && waiting.reason !== 'PodInitializing') {
      reason = `Init:${str(waiting.reason)}`;
    } else {
      reason = `Init:${i}/${nInit}`;
    }
    initializing = true;
    break;
  }
  if (!initializing || hasCondition(pod, 'Initialized')) {
    restarts = sidecarRestarts;
    lastRestart = lastSidecarRestart;
    let hasRunning = false;
    const statuses = asArray(status.containerStatuses);
    for (let i = statuses.length - 1; i >= 0; i--) {
      const cs = asRecord(statuses[i]);
      restarts += typeof cs.restartCount === 'number' ? cs.restartCount : 0;
      const lastTermRaw = asRecord(cs.lastState).terminated;
      if (isRecord(lastTermRaw)) {
        const finished = timeOf(lastTermRaw.finishedAt);
        if (finished > lastRestart) lastRestart = finished;
      }
      const state = asRecord(cs.state);
      const waiting = isRecord(state.waiting) ? state.waiting : undefined;
      const term = isRecord(state.terminated) ? state.terminated : undefined;
      if (waiting && str(waiting.reason)) reason = str(waiting.reason);
      else if (term && str(term.reason)) reason = str(term.reason);
      else if (term) {
        reason = typeof term.signal === 'number' && term.signal !== 0 ? `Signal:${term.signal}` : `ExitCode:${term.exitCode ?? 0}`;
      } else if (cs.ready === true && isRecord(state.running)) {
        hasRunning = true;
        ready++;
      }
    }
    if (reason === 'Completed' && hasRunning) reason = hasCondition(pod, 'Ready') ? 'Running' : 'NotReady';
  }
  const deleting = typeof pod.metadata.deletionTimestamp === 'string' && pod.metadata.deletionTimestamp !== '';
  if (deleting && status.reason === 'NodeLost') reason = 'Unknown';
  else if (deleting && phase !== 'Succeeded' && phase !== 'Failed') reason = 'Terminating';
  let restartsStr = String(restarts);
  if (restarts !== 0 && lastRestart !== 0) restartsStr = `${restarts} (${humanDuration(now - lastRestart)} ago)`;
  return { ready: `${ready}/${total}`, status: reason, restarts: restartsStr };
}

function readinessGatesCell(pod: KubeObject): string {
  const gates = asArray(asRecord(pod.spec).readinessGates);
  if (gates.length === 0) return '<none>';
  const conds = asArray(asRecord(pod.status).conditions).map(asRecord);
  let trueCount = 0;
  for (const g of gates) {
    const c = conds.find((x) => x.type === asRecord(g).conditionType);
    if (c && c.status === 'True') trueCount++;
  }
  return `${trueCount}/${gates.length}`;
}

function podIPCell(pod: KubeObject): string {
  const status = asRecord(pod.status);
  const ips = asArray(status.podIPs);
  const ip = ips.length > 0 ? str(asRecord(ips[0]).ip) : '';
  return ip || '<none>';
}

// ---------------------------------------------------------------------------------------------
// Status validation
// ---------------------------------------------------------------------------------------------

function validateIPList(list: unknown[], field: string): FieldCause[] {
  const out: FieldCause[] = [];
  list.forEach((e, i) => {
    const ip = str(asRecord(e).ip);
    if (!isIP(ip)) out.push(invalid(`${field}[${i}]`, ip, INVALID_IP_MSG));
  });
  if (list.length > 1) {
    const ips = list.map((e) => str(asRecord(e).ip));
    const v4 = ips.filter((ip) => isIPv4(ip)).length;
    if (list.length > 2 || v4 !== 1) out.push(invalid(field, list, 'may specify no more than one IP for each IP family'));
    const seen = new Set<string>();
    ips.forEach((ip, i) => {
      if (seen.has(ip)) out.push(duplicate(`${field}[${i}]`, list[i]));
      seen.add(ip);
    });
  }
  return out;
}

function terminated(cs: Obj): boolean {
  return isRecord(asRecord(cs.state).terminated);
}

function validateStateTransitions(newList: unknown, oldList: unknown, field: string, restartPolicy: string, inits?: unknown[]): FieldCause[] {
  if (restartPolicy === 'Always') return [];
  const out: FieldCause[] = [];
  const news = asArray(newList).map(asRecord);
  asArray(oldList).forEach((o0, i) => {
    const o = asRecord(o0);
    if (!terminated(o)) return;
    const exit = asRecord(asRecord(o.state).terminated).exitCode ?? 0;
    if (exit !== 0 && restartPolicy === 'OnFailure') return;
    if (inits && inits.some((c) => asRecord(c).name === o.name && isRestartableInit(c))) return;
    for (const n of news) {
      if (n.name === o.name && !terminated(n)) out.push(forbidden(`${field}[${i}].state`, 'may not be transitioned to non-terminated state'));
    }
  });
  return out;
}

/** ValidatePodStatusUpdate. */
export function validatePodStatus(obj: KubeObject, old: KubeObject): FieldCause[] {
  const out: FieldCause[] = [];
  const status = asRecord(obj.status);
  const oldStatus = asRecord(old.status);
  const oldSpec = asRecord(old.spec);
  const system = ['PodScheduled', 'Ready', 'Initialized'];
  asArray(status.conditions).forEach((c, i) => {
    const t = str(asRecord(c).type);
    // Kubernetes reports this under metadata (its field path starts there).
    if (!system.includes(t)) out.push(...validateQualifiedNameField(t, `metadata.conditions[${i}].Type`));
  });
  if (str(asRecord(obj.spec).nodeName) !== str(oldSpec.nodeName)) out.push(forbidden('status.nodeName', 'may not be changed directly'));
  const nnn = str(status.nominatedNodeName);
  if (nnn && nnn !== str(oldStatus.nominatedNodeName)) {
    for (const m of dns1123SubdomainErrors(nnn)) out.push(invalid('status.nominatedNodeName', nnn, m));
  }
  out.push(...validateImmutable(status.qosClass ?? '', oldStatus.qosClass ?? '', 'status.qosClass'));
  const rp = str(oldSpec.restartPolicy);
  out.push(...validateStateTransitions(status.containerStatuses, oldStatus.containerStatuses, 'status.containerStatuses', rp));
  out.push(...validateStateTransitions(status.initContainerStatuses, oldStatus.initContainerStatuses, 'status.initContainerStatuses', rp, asArray(oldSpec.initContainers)));
  out.push(...validateStateTransitions(status.ephemeralContainerStatuses, oldStatus.ephemeralContainerStatuses, 'status.ephemeralContainerStatuses', 'Never'));
  out.push(...validateIPList(asArray(status.podIPs), 'status.podIPs'));
  const hostIPs = asArray(status.hostIPs);
  if (hostIPs.length > 0) {
    const first = str(asRecord(hostIPs[0]).ip);
    if (str(status.hostIP) !== first) out.push(invalid('status.hostIPs[0].ip', first, 'must be equal to `hostIP`'));
    out.push(...validateIPList(hostIPs, 'status.hostIPs'));
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// The entry
// ---------------------------------------------------------------------------------------------

export const pods: ResourceDef = {
  group: '',
  version: 'v1',
  kind: 'Pod',
  listKind: 'PodList',
  plural: 'pods',
  singular: 'pod',
  namespaced: true,
  shortNames: ['po'],
  categories: ['all'],
  subresources: { status: true, others: ['binding', 'eviction', 'log', 'exec', 'attach', 'portforward', 'proxy'] },
  nameRule: 'dns1123Subdomain',
  modelName: 'V1Pod',
  // Pods carry no metadata.generation in v1.32.
  generationFields: [],
  defaults(obj) {
    const spec = specOf(obj);
    defaultPodSpec(spec);
    defaultPodOnlySpec(spec);
    if (isRecord(obj.status)) {
      syncIPs(obj.status, 'podIP', 'podIPs');
      syncIPs(obj.status, 'hostIP', 'hostIPs');
    }
  },
  prepareForCreate(obj) {
    const spec = specOf(obj);
    const status: Obj = { phase: 'Pending', qosClass: computeQOSClass(spec) };
    if (asArray(spec.schedulingGates).length > 0) status.conditions = [{ ...SCHEDULING_GATED_CONDITION }];
    obj.status = status;
  },
  validate: (obj) => validatePodSpec(obj.spec, 'spec', { isPod: true }),
  validateCreate(obj) {
    const spec = asRecord(obj.spec);
    const out: FieldCause[] = [];
    // Ephemeral containers are only added through their own subresource.
    if (asArray(spec.ephemeralContainers).length > 0) out.push(forbidden('spec.ephemeralContainers', 'cannot be set on create'));
    if (str(spec.nodeName) && asArray(spec.schedulingGates).length > 0) {
      out.push(forbidden('spec.nodeName', 'cannot be set until all schedulingGates have been cleared'));
    }
    return out;
  },
  validateUpdate(obj, old) {
    return validatePodSpecUpdate(obj.spec, old.spec, 'spec');
  },
  validateStatus: validatePodStatus,
  // The rest of the spec was validated when it was written; a binding only sets the node.
  validateBinding: (obj) => validateNodeName(obj.spec, 'spec'),
  columns: [
    { name: 'Ready', type: 'string', priority: 0, description: 'The aggregate readiness state of this pod for accepting traffic.', cell: (o) => podTableCells(o).ready },
    { name: 'Status', type: 'string', priority: 0, description: 'The aggregate status of the containers in this pod.', cell: (o) => podTableCells(o).status },
    {
      name: 'Restarts',
      type: 'string',
      priority: 0,
      description: 'The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.',
      cell: (o) => podTableCells(o).restarts,
    },
    { name: 'Age', type: 'string', priority: 0, description: AGE_DESC, cell: (o) => age(o.metadata.creationTimestamp) },
    { name: 'IP', type: 'string', priority: 1, description: 'podIP address allocated to the pod. Routable at least within the cluster. Empty if not yet allocated.', cell: podIPCell },
    {
      name: 'Node',
      type: 'string',
      priority: 1,
      description: 'NodeName indicates in which node this pod is scheduled. If empty, this pod is a candidate for scheduling by the scheduler defined in schedulerName.',
      cell: (o) => str(asRecord(o.spec).nodeName) || '<none>',
    },
    {
      name: 'Nominated Node',
      type: 'string',
      priority: 1,
      description: 'nominatedNodeName is set only when this pod preempts other pods on the node, but it cannot be scheduled right away as preemption victims receive their graceful termination periods.',
      cell: (o) => str(asRecord(o.status).nominatedNodeName) || '<none>',
    },
    {
      name: 'Readiness Gates',
      type: 'string',
      priority: 1,
      description: 'If specified, all readiness gates will be evaluated for pod readiness.',
      cell: readinessGatesCell,
    },
  ],
  fieldSelectors: {
    'spec.nodeName': (o) => str(asRecord(o.spec).nodeName),
    'spec.restartPolicy': (o) => str(asRecord(o.spec).restartPolicy),
    'spec.schedulerName': (o) => str(asRecord(o.spec).schedulerName),
    'spec.serviceAccountName': (o) => str(asRecord(o.spec).serviceAccountName),
    'spec.hostNetwork': (o) => String(asRecord(o.spec).hostNetwork === true),
    'status.phase': (o) => str(asRecord(o.status).phase),
    'status.podIP': (o) => {
      const ips = asArray(asRecord(o.status).podIPs);
      return ips.length > 0 ? str(asRecord(ips[0]).ip) : str(asRecord(o.status).podIP);
    },
    'status.nominatedNodeName': (o) => str(asRecord(o.status).nominatedNodeName),
  },
};
