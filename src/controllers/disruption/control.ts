// The disruption controller's decision (Kubernetes v1.32 pkg/controller/disruption): from a
// PodDisruptionBudget, the pods of its namespace and the scale of those pods' controllers, the
// budget's status — expectedPods, desiredHealthy, currentHealthy, disruptionsAllowed,
// disruptedPods, observedGeneration and the DisruptionAllowed condition — plus the Events
// Kubernetes records. A pure function of plain objects; controller.ts acts on it.
//
// - The selector (policy/v1): a missing one selects no pod, an empty one every pod of the
//   namespace.
// - minAvailable as an integer: desiredHealthy is that number and expectedPods the number of
//   selected pods. maxUnavailable, or minAvailable as a percentage: expectedPods is the sum of
//   the scales (spec.replicas) of the selected pods' controllers, each counted once — a pod of a
//   ReplicaSet that a Deployment controls counts the Deployment; percentages round up.
//   Pods without a controller are skipped (an UnmanagedPods warning); a controller that is
//   gone, of a kind the API does not serve, or without a scale subresource fails the sync.
// - A failed sync is failed safe: disruptionsAllowed 0 and the DisruptionAllowed condition
//   False with reason SyncFailed and the error as its message; the rest of the status stays.
// - currentHealthy counts Ready pods that are not being deleted and that no eviction has
//   claimed in the last two minutes (status.disruptedPods, which the eviction subresource
//   fills); claims older than that, or of pods gone or being deleted, are dropped, and the
//   budget is checked again when the next claim expires.
// - disruptionsAllowed = currentHealthy − desiredHealthy, at least 0, and 0 while no pod is
//   expected; the condition is True/SufficientPods when it is positive, else
//   False/InsufficientPods.
import type { KubeObject, OwnerReference } from '../../registry/types.ts';
import { asArray, asRecord, isRecord, jsonEqual, labelSelectorMatches, labelSelectorString, type LabelSelector } from '../../registry/validation.ts';
import { rfc3339 } from '../../client/types.ts';

export const DISRUPTION_ALLOWED_CONDITION = 'DisruptionAllowed';
export const SUFFICIENT_PODS_REASON = 'SufficientPods';
export const INSUFFICIENT_PODS_REASON = 'InsufficientPods';
export const SYNC_FAILED_REASON = 'SyncFailed';
/** How long an eviction's claim on a pod (status.disruptedPods) holds before the pod is
 *  assumed not to be deleted after all (Kubernetes' DeletionTimeout). */
export const DELETION_TIMEOUT_MS = 2 * 60_000;
/** How long a pod may carry DisruptionTarget=True without being deleted before the
 *  controller resets it to False (Kubernetes' stalePodDisruptionTimeout). */
export const STALE_DISRUPTION_TIMEOUT_MS = 2 * 60_000;
export const DISRUPTION_TARGET_CONDITION = 'DisruptionTarget';

/** A metav1.Condition. */
export interface BudgetCondition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
  observedGeneration?: number;
  lastTransitionTime: string;
}

/** policy/v1 PodDisruptionBudgetStatus. */
export interface BudgetStatus {
  observedGeneration?: number;
  /** Pod name → when an eviction claimed it (RFC 3339). */
  disruptedPods?: Record<string, string>;
  disruptionsAllowed: number;
  currentHealthy: number;
  desiredHealthy: number;
  expectedPods: number;
  conditions?: BudgetCondition[];
}

/** What the controller of a pod (or of a ReplicaSet) turned out to be. */
export type ControllerLookup =
  /** It exists: its uid, its scale, and its own controller (a ReplicaSet's Deployment). */
  | { found: true; uid: string; replicas: number; controllerRef?: OwnerReference }
  /** No such object (or the lookup cannot tell it from a missing one). */
  | { found: false }
  /** The reference cannot be followed: an unknown kind, no scale subresource, an API error. */
  | { error: string };

export type ControllerFinder = (ref: OwnerReference) => ControllerLookup;

export interface BudgetEvent {
  /** The budget itself, or a pod of it. */
  about: 'budget' | KubeObject;
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
}

export interface BudgetInput {
  pdb: KubeObject;
  /** Pods of the budget's namespace (the budget's selector picks its own). */
  pods: KubeObject[];
  /** The controllers the selected pods name (and their Deployments). */
  controllers: ControllerFinder;
  now: number;
}

export interface BudgetResult {
  /** The status the budget should have. */
  status: BudgetStatus;
  /** It differs from the current status: write it. */
  changed: boolean;
  /** The sync failed (the status is the fail-safe one): the error, to retry with back-off. */
  syncError?: string;
  events: BudgetEvent[];
  /** Sync again after this long (an eviction's claim on a pod expires). */
  recheckAfterMs?: number;
  /** The pods the budget selects. */
  selected: KubeObject[];
}

type Obj = Record<string, unknown>;

// ---------------------------------------------------------------------------------------------
// Small readers

export function isPodReady(pod: KubeObject): boolean {
  return asArray(asRecord(pod.status).conditions).some((c) => isRecord(c) && c.type === 'Ready' && c.status === 'True');
}

export function controllerOf(obj: KubeObject): OwnerReference | undefined {
  return (obj.metadata.ownerReferences ?? []).find((r) => r.controller === true);
}

function groupOf(apiVersion: string): string {
  const i = apiVersion.indexOf('/');
  return i < 0 ? '' : apiVersion.slice(0, i);
}

/** A ReplicaSet reference (apps or the old extensions group). */
export function isReplicaSetRef(ref: { apiVersion: string; kind: string }): boolean {
  return ref.kind === 'ReplicaSet' && ['apps', 'extensions'].includes(groupOf(ref.apiVersion));
}

/** A Deployment reference (apps or the old extensions group). */
export function isDeploymentRef(ref: { apiVersion: string; kind: string }): boolean {
  return ref.kind === 'Deployment' && ['apps', 'extensions'].includes(groupOf(ref.apiVersion));
}

/** The key a controller lookup is filed under. */
export function controllerKey(ref: { apiVersion: string; kind: string; name: string }): string {
  return `${ref.apiVersion}|${ref.kind}|${ref.name}`;
}

function specOf(pdb: KubeObject): Obj {
  return asRecord(pdb.spec);
}

/** The budget's status as numbers, maps and lists (missing fields read as Kubernetes' zero values). */
export function budgetStatusOf(pdb: KubeObject): BudgetStatus {
  const s = asRecord(pdb.status);
  const n = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) ? v : 0);
  const out: BudgetStatus = {
    disruptionsAllowed: n(s.disruptionsAllowed),
    currentHealthy: n(s.currentHealthy),
    desiredHealthy: n(s.desiredHealthy),
    expectedPods: n(s.expectedPods),
  };
  if (typeof s.observedGeneration === 'number') out.observedGeneration = s.observedGeneration;
  if (isRecord(s.disruptedPods)) {
    const d: Record<string, string> = {};
    for (const [k, v] of Object.entries(s.disruptedPods)) if (typeof v === 'string') d[k] = v;
    out.disruptedPods = d;
  }
  if (Array.isArray(s.conditions)) out.conditions = s.conditions.filter(isRecord) as unknown as BudgetCondition[];
  return out;
}

/** Whether the budget's selector selects the pod (policy/v1: missing → none, empty → all). */
export function selectsPod(pdb: KubeObject, pod: KubeObject): boolean {
  if (pod.metadata.namespace !== pdb.metadata.namespace) return false;
  const sel = specOf(pdb).selector;
  if (!isRecord(sel)) return false;
  return labelSelectorMatches(sel as LabelSelector, pod.metadata.labels);
}

/** The budgets (of the pod's namespace) that select a pod. */
export function budgetsForPod(pdbs: KubeObject[], pod: KubeObject): KubeObject[] {
  return pdbs.filter((b) => selectsPod(b, pod));
}

/** Whether expectedPods comes from the controllers' scale (maxUnavailable, or a percentage). */
export function needsScale(pdb: KubeObject): boolean {
  const spec = specOf(pdb);
  if (spec.maxUnavailable !== undefined && spec.maxUnavailable !== null) return true;
  return typeof spec.minAvailable === 'string';
}

/** intstr.GetScaledValueFromIntOrPercent: an integer as it is; `N%` of total, rounded up or down. */
export function scaledValue(v: unknown, total: number, roundUp: boolean): number {
  if (typeof v === 'number' && Number.isInteger(v)) return v;
  if (typeof v === 'string') {
    const m = /^(-?[0-9]+)%$/.exec(v);
    if (!m) throw new Error(`invalid value for IntOrString: invalid type: string is not a percentage`);
    const scaled = (Number(m[1]) * total) / 100;
    return roundUp ? Math.ceil(scaled) : Math.floor(scaled);
  }
  throw new Error(`invalid value for IntOrString: invalid type: neither int nor percentage`);
}

// ---------------------------------------------------------------------------------------------
// Controllers and their scale

/** The controller a pod's controllerRef stands for and its scale (Kubernetes' finders, in
 *  order: a ReplicaSet under a Deployment counts as the Deployment; otherwise the object
 *  itself). null: not found; throws when the reference cannot be followed. */
export function scaleOfController(ref: OwnerReference, find: ControllerFinder): { uid: string; replicas: number } | null {
  if (isReplicaSetRef(ref)) {
    const rs = find(ref);
    if ('found' in rs && rs.found && rs.uid === ref.uid) {
      const owner = rs.controllerRef;
      if (owner && isDeploymentRef(owner)) {
        const dep = find(owner);
        if ('found' in dep && dep.found && dep.uid === owner.uid) return { uid: dep.uid, replicas: dep.replicas };
      }
      // Otherwise (no Deployment, or one that is gone) the ReplicaSet counts itself, as below.
    }
  }
  const c = find(ref);
  if ('error' in c) throw new Error(c.error);
  if (c.found && c.uid === ref.uid) return { uid: c.uid, replicas: c.replicas };
  return null;
}

/** Sum of the scales of the pods' controllers, each once; pods without a controller are
 *  listed as unmanaged. Throws `found no controllers for pod "x"` for a controller not found. */
export function expectedScale(pods: KubeObject[], find: ControllerFinder): { expected: number; unmanaged: string[] } {
  const scales = new Map<string, number>();
  const seenRefs = new Set<string>();
  const unmanaged: string[] = [];
  for (const pod of pods) {
    const ref = controllerOf(pod);
    if (!ref) {
      unmanaged.push(pod.metadata.name ?? '');
      continue;
    }
    if (seenRefs.has(ref.uid) || scales.has(ref.uid)) continue;
    const found = scaleOfController(ref, find);
    if (!found) throw new Error(`found no controllers for pod ${JSON.stringify(pod.metadata.name ?? '')}`);
    seenRefs.add(ref.uid);
    scales.set(found.uid, found.replicas);
  }
  let expected = 0;
  for (const n of scales.values()) expected += n;
  return { expected, unmanaged };
}

/** expectedPods and desiredHealthy of a budget over its pods (getExpectedPodCount). */
export function expectedPodCount(pdb: KubeObject, pods: KubeObject[], find: ControllerFinder): { expected: number; desired: number; unmanaged: string[] } {
  const spec = specOf(pdb);
  const max = spec.maxUnavailable;
  const min = spec.minAvailable;
  if (max !== undefined && max !== null) {
    const { expected, unmanaged } = expectedScale(pods, find);
    const desired = Math.max(0, expected - scaledValue(max, expected, true));
    return { expected, desired, unmanaged };
  }
  if (min !== undefined && min !== null) {
    if (typeof min === 'number') return { expected: pods.length, desired: min, unmanaged: [] };
    const { expected, unmanaged } = expectedScale(pods, find);
    return { expected, desired: scaledValue(min, expected, true), unmanaged };
  }
  return { expected: 0, desired: 0, unmanaged: [] };
}

// ---------------------------------------------------------------------------------------------
// Conditions

/** apimeta.SetStatusCondition: add or update the condition of its type; the transition time
 *  changes only when the status does. Returns a new list. */
export function setCondition(conditions: BudgetCondition[] | undefined, c: Omit<BudgetCondition, 'lastTransitionTime'>, now: number): BudgetCondition[] {
  const list = (conditions ?? []).map((x) => ({ ...x }));
  const i = list.findIndex((x) => x.type === c.type);
  if (i < 0) {
    list.push({ ...c, lastTransitionTime: rfc3339(now) });
    return list;
  }
  const cur = list[i];
  const lastTransitionTime = cur.status !== c.status || !cur.lastTransitionTime ? rfc3339(now) : cur.lastTransitionTime;
  const next: BudgetCondition = { ...cur, status: c.status, reason: c.reason, message: c.message, lastTransitionTime };
  if (c.observedGeneration !== undefined) next.observedGeneration = c.observedGeneration;
  else delete next.observedGeneration;
  list[i] = next;
  return list;
}

/** pdbhelper.UpdateDisruptionAllowedCondition on a status. */
export function withDisruptionAllowedCondition(status: BudgetStatus, now: number): BudgetStatus {
  const allowed = status.disruptionsAllowed > 0;
  const cond = {
    type: DISRUPTION_ALLOWED_CONDITION,
    status: allowed ? ('True' as const) : ('False' as const),
    reason: allowed ? SUFFICIENT_PODS_REASON : INSUFFICIENT_PODS_REASON,
    message: '',
    ...(status.observedGeneration !== undefined ? { observedGeneration: status.observedGeneration } : {}),
  };
  return { ...status, conditions: setCondition(status.conditions, cond, now) };
}

/** The fail-safe status after a failed sync: no disruptions, condition SyncFailed. */
export function failSafeStatus(pdb: KubeObject, message: string, now: number): BudgetStatus {
  const cur = budgetStatusOf(pdb);
  const cond = {
    type: DISRUPTION_ALLOWED_CONDITION,
    status: 'False' as const,
    reason: SYNC_FAILED_REASON,
    message,
    ...(cur.observedGeneration !== undefined ? { observedGeneration: cur.observedGeneration } : {}),
  };
  return { ...cur, disruptionsAllowed: 0, conditions: setCondition(cur.conditions, cond, now) };
}

// ---------------------------------------------------------------------------------------------
// The status

function sameStatus(a: BudgetStatus, b: BudgetStatus): boolean {
  // A missing map or list equals an empty one (Kubernetes' semantic equality).
  const norm = (s: BudgetStatus): unknown => ({ ...s, disruptedPods: s.disruptedPods ?? {}, conditions: s.conditions ?? [] });
  return jsonEqual(norm(a), norm(b));
}

/** The claims of evictions that still hold (buildDisruptedPodMap), expired ones as events. */
function disruptedPodsStill(pdb: KubeObject, pods: KubeObject[], now: number, events: BudgetEvent[]): { kept: Record<string, string>; recheckAt?: number } {
  const claims = budgetStatusOf(pdb).disruptedPods ?? {};
  const kept: Record<string, string> = {};
  let recheckAt: number | undefined;
  for (const pod of pods) {
    if (pod.metadata.deletionTimestamp) continue;
    const name = pod.metadata.name ?? '';
    const at = claims[name];
    if (at === undefined) continue;
    const expires = Date.parse(at) + DELETION_TIMEOUT_MS;
    if (!Number.isFinite(expires) || expires < now) {
      events.push({
        about: pod,
        type: 'Warning',
        reason: 'NotDeleted',
        message: `Pod was expected by PDB ${pdb.metadata.namespace ?? ''}/${pdb.metadata.name ?? ''} to be deleted but it wasn't`,
      });
    } else {
      kept[name] = at;
      if (recheckAt === undefined || expires < recheckAt) recheckAt = expires;
    }
  }
  return { kept, recheckAt };
}

/** Ready pods not being deleted and not claimed by an eviction (countHealthyPods). */
export function countHealthy(pods: KubeObject[], claimed: Record<string, string>, now: number): number {
  let n = 0;
  for (const pod of pods) {
    if (pod.metadata.deletionTimestamp) continue;
    const at = claimed[pod.metadata.name ?? ''];
    if (at !== undefined && Date.parse(at) + DELETION_TIMEOUT_MS > now) continue;
    if (isPodReady(pod)) n++;
  }
  return n;
}

/** The status a budget should have (the disruption controller's trySync + updatePdbStatus,
 *  or failSafe when the expected count cannot be computed). */
export function computeBudgetStatus(input: BudgetInput): BudgetResult {
  const { pdb, now } = input;
  const events: BudgetEvent[] = [];
  const selected = input.pods.filter((p) => selectsPod(pdb, p));
  if (selected.length === 0) events.push({ about: 'budget', type: 'Normal', reason: 'NoPods', message: 'No matching pods found' });
  const current = budgetStatusOf(pdb);

  let counts: { expected: number; desired: number; unmanaged: string[] };
  try {
    counts = expectedPodCount(pdb, selected, input.controllers);
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    events.push({ about: 'budget', type: 'Warning', reason: 'CalculateExpectedPodCountFailed', message: `Failed to calculate the number of expected pods: ${message}` });
    const status = failSafeStatus(pdb, message, now);
    return { status, changed: !sameStatus(status, current), syncError: message, events, selected };
  }
  if (counts.unmanaged.length > 0) {
    const sel = specOf(pdb).selector;
    events.push({
      about: 'budget',
      type: 'Warning',
      reason: 'UnmanagedPods',
      message:
        `Pods selected by this PodDisruptionBudget (selector: ${isRecord(sel) ? labelSelectorString(sel as LabelSelector) || '<all>' : '<none>'}) were found ` +
        'to be unmanaged. As a result, the status of the PDB cannot be calculated correctly, which may result in undefined behavior. ' +
        'To account for these pods please set ".spec.minAvailable" field of the PDB to an integer value.',
    });
  }

  const { kept, recheckAt } = disruptedPodsStill(pdb, selected, now, events);
  const currentHealthy = countHealthy(selected, kept, now);
  let disruptionsAllowed = currentHealthy - counts.desired;
  if (counts.expected <= 0 || disruptionsAllowed <= 0) disruptionsAllowed = 0;

  const next: BudgetStatus = {
    observedGeneration: pdb.metadata.generation ?? current.observedGeneration,
    disruptionsAllowed,
    currentHealthy,
    desiredHealthy: counts.desired,
    expectedPods: counts.expected,
    conditions: current.conditions,
  };
  if (Object.keys(kept).length > 0) next.disruptedPods = kept;
  if (next.observedGeneration === undefined) delete next.observedGeneration;
  const status = withDisruptionAllowedCondition(next, now);
  const result: BudgetResult = { status, changed: !sameStatus(status, current), events, selected };
  if (recheckAt !== undefined) result.recheckAfterMs = Math.max(0, recheckAt - now);
  return result;
}

/** How long until a pod's DisruptionTarget=True condition is stale (0: it is), or undefined
 *  when it has none that can go stale (no condition, set by the kubelet, pod terminal or
 *  being deleted). */
export function staleDisruptionTargetIn(pod: KubeObject, now: number): number | undefined {
  if (pod.metadata.deletionTimestamp) return undefined;
  const st = asRecord(pod.status);
  if (st.phase === 'Succeeded' || st.phase === 'Failed') return undefined;
  const cond = asArray(st.conditions).find((c) => isRecord(c) && c.type === DISRUPTION_TARGET_CONDITION) as Obj | undefined;
  if (!cond || cond.status !== 'True' || cond.reason === 'TerminationByKubelet') return undefined;
  const since = typeof cond.lastTransitionTime === 'string' ? Date.parse(cond.lastTransitionTime) : NaN;
  const elapsed = Number.isFinite(since) ? now - since : STALE_DISRUPTION_TIMEOUT_MS;
  return Math.max(0, STALE_DISRUPTION_TIMEOUT_MS - elapsed);
}
