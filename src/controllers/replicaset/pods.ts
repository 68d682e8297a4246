// The pods of a replicated set: which count (controller.FilterActivePods), their health
// (podutil.IsPodReady / IsPodAvailable), a new pod from the set's template
// (controller.GetPodFromTemplate), and which pods go first on scale-down
// (controller.ActivePodsWithRanks, Kubernetes v1.32 with its default feature gates
// PodDeletionCost and LogarithmicScaleDown on).
import type { KubeObject } from '../../registry/types.ts';
import { asArray, asRecord, isRecord } from '../../registry/validation.ts';
import { controllerRefFor, setName, setNamespace, templateOf, type ReplicaKind } from './kinds.ts';

type Obj = Record<string, unknown>;

/** The pod annotation that orders scale-down (lower cost goes first). */
export const POD_DELETION_COST_ANNOTATION = 'controller.kubernetes.io/pod-deletion-cost';

function clone<T>(v: T): T {
  return v === undefined ? v : (JSON.parse(JSON.stringify(v)) as T);
}

export function podPhase(pod: KubeObject): string {
  const p = asRecord(pod.status).phase;
  return typeof p === 'string' ? p : '';
}

export function podNodeName(pod: KubeObject): string {
  const n = asRecord(pod.spec).nodeName;
  return typeof n === 'string' ? n : '';
}

/** controller.IsPodActive: not Succeeded, not Failed, not being deleted. */
export function isPodActive(pod: KubeObject): boolean {
  const phase = podPhase(pod);
  const t = pod.metadata.deletionTimestamp;
  return phase !== 'Succeeded' && phase !== 'Failed' && !(typeof t === 'string' && t !== '');
}

function readyCondition(pod: KubeObject): Obj | undefined {
  return asArray(asRecord(pod.status).conditions).find((c): c is Obj => isRecord(c) && c.type === 'Ready');
}

/** podutil.IsPodReady: the Ready condition is True. */
export function isPodReady(pod: KubeObject): boolean {
  return readyCondition(pod)?.status === 'True';
}

function parseTime(v: unknown): number | undefined {
  if (typeof v !== 'string' || v === '') return undefined;
  const t = Date.parse(v);
  return Number.isNaN(t) ? undefined : t;
}

/** When the pod became ready (its Ready condition's lastTransitionTime); undefined when it is
 *  not ready or the time is unknown. */
export function readySince(pod: KubeObject): number | undefined {
  return isPodReady(pod) ? parseTime(readyCondition(pod)?.lastTransitionTime) : undefined;
}

/** podutil.IsPodAvailable: ready, and (minReadySeconds > 0) ready since more than that long. */
export function isPodAvailable(pod: KubeObject, minReadySeconds: number, now: Date): boolean {
  if (!isPodReady(pod)) return false;
  if (minReadySeconds <= 0) return true;
  const since = readySince(pod);
  return since !== undefined && since + minReadySeconds * 1000 < now.getTime();
}

/** Whether every label of `want` is on the pod (the template's labels: fullyLabeledReplicas). */
export function hasLabels(pod: KubeObject, want: Record<string, string>): boolean {
  const labels = pod.metadata.labels ?? {};
  return Object.entries(want).every(([k, v]) => labels[k] === v);
}

/**
 * generateName of the set's pods (getPodsPrefix): `<set>-`, or the bare name when the dash
 * would make it longer than a DNS subdomain allows. The API server appends 5 random characters.
 */
export function podNamePrefix(set: KubeObject): string {
  const prefix = `${setName(set)}-`;
  return prefix.length > 253 ? setName(set) : prefix;
}

/**
 * A new pod of the set: labels, annotations and finalizers from the template's metadata, the
 * template's spec, generateName `<set>-`, and a controller reference to the set.
 */
export function newPodFromTemplate(kind: ReplicaKind, set: KubeObject): KubeObject {
  const template = clone(templateOf(set));
  const tmeta = asRecord(template.metadata);
  const metadata: KubeObject['metadata'] = { generateName: podNamePrefix(set), namespace: setNamespace(set) };
  const labels: Record<string, string> = {};
  for (const [k, v] of Object.entries(asRecord(tmeta.labels))) if (typeof v === 'string') labels[k] = v;
  metadata.labels = labels;
  if (isRecord(tmeta.annotations) && Object.keys(tmeta.annotations).length > 0) metadata.annotations = { ...(tmeta.annotations as Record<string, string>) };
  if (Array.isArray(tmeta.finalizers) && tmeta.finalizers.length > 0) metadata.finalizers = [...(tmeta.finalizers as string[])];
  metadata.ownerReferences = [controllerRefFor(kind, set)];
  return { apiVersion: 'v1', kind: 'Pod', metadata, spec: asRecord(template.spec) };
}

// ---------------------------------------------------------------------------------------------
// Scale-down order

/** podPhaseToOrdinal: Pending < Unknown < Running (other phases count as Pending). */
function phaseOrdinal(pod: KubeObject): number {
  const p = podPhase(pod);
  return p === 'Running' ? 2 : p === 'Unknown' ? 1 : 0;
}

/** helper.GetDeletionCostFromPodAnnotations: an int32, 0 when absent or malformed. */
export function deletionCost(pod: KubeObject): number {
  const v = pod.metadata.annotations?.[POD_DELETION_COST_ANNOTATION];
  if (typeof v !== 'string' || !/^[+-]?[0-9]+$/.test(v.trim())) return 0;
  const n = Number(v.trim());
  return n >= -2147483648 && n <= 2147483647 ? n : 0;
}

/** maxContainerRestarts: the highest restart count among regular containers, and among
 *  sidecars (init containers with restartPolicy Always). */
function maxRestarts(pod: KubeObject): { regular: number; sidecar: number } {
  const status = asRecord(pod.status);
  let regular = 0;
  for (const c of asArray(status.containerStatuses)) regular = Math.max(regular, Number(asRecord(c).restartCount) || 0);
  const sidecars = new Set<string>();
  for (const c of asArray(asRecord(pod.spec).initContainers)) {
    const r = asRecord(c);
    if (r.restartPolicy === 'Always' && typeof r.name === 'string') sidecars.add(r.name);
  }
  let sidecar = 0;
  for (const c of asArray(status.initContainerStatuses)) {
    const r = asRecord(c);
    if (typeof r.name === 'string' && sidecars.has(r.name)) sidecar = Math.max(sidecar, Number(r.restartCount) || 0);
  }
  return { regular, sidecar };
}

/** logarithmicRankDiff: compare how long ago two times were in powers of two (nanoseconds). */
function logRankDiff(t1: number, t2: number, now: number): number {
  const rank = (t: number): number => {
    const d = (now - t) * 1e6;
    return d > 0 ? Math.floor(Math.log2(d)) : -1;
  };
  return rank(t1) - rank(t2);
}

/**
 * afterOrZero with LogarithmicScaleDown: negative when the pod at time t1 goes before the one
 * at t2 — an unknown time first, then the more recent (in log2 buckets of age; within one
 * bucket the smaller uid), 0 when both are the same time.
 */
function newerFirst(t1: number | undefined, t2: number | undefined, uid1: string, uid2: string, now: number): number {
  if (t1 === t2) return 0;
  if (t1 === undefined) return -1;
  if (t2 === undefined) return 1;
  const d = logRankDiff(t1, t2, now);
  if (d !== 0) return d;
  return uid1 < uid2 ? -1 : uid1 > uid2 ? 1 : 0;
}

/**
 * ActivePodsWithRanks.Less as a comparator: negative when `a` is less valuable (deleted first).
 *  1. unassigned < assigned;
 *  2. Pending < Unknown < Running;
 *  3. not ready < ready;
 *  4. lower pod-deletion-cost < higher;
 *  5. doubled up (more related pods on the same node: higher rank) < not;
 *  6. both ready: ready for less time < longer;
 *  7. more container restarts < fewer (regular containers, then sidecars);
 *  8. created more recently < earlier (no creation time first).
 * Ties end with the uid, then the name, so the order is deterministic.
 */
export function compareForDeletion(a: KubeObject, b: KubeObject, rankA: number, rankB: number, now: Date): number {
  const na = podNodeName(a);
  const nb = podNodeName(b);
  if (na !== nb && (na === '' || nb === '')) return na === '' ? -1 : 1;
  const pa = phaseOrdinal(a);
  const pb = phaseOrdinal(b);
  if (pa !== pb) return pa - pb;
  const ra = isPodReady(a);
  const rb = isPodReady(b);
  if (ra !== rb) return ra ? 1 : -1;
  const ca = deletionCost(a);
  const cb = deletionCost(b);
  if (ca !== cb) return ca - cb;
  if (rankA !== rankB) return rankB - rankA;
  const ua = a.metadata.uid ?? '';
  const ub = b.metadata.uid ?? '';
  const t = now.getTime();
  if (ra && rb) {
    const r = newerFirst(readySince(a), readySince(b), ua, ub, t);
    if (r !== 0) return r;
  }
  const xa = maxRestarts(a);
  const xb = maxRestarts(b);
  if (xa.regular !== xb.regular) return xb.regular - xa.regular;
  if (xa.sidecar !== xb.sidecar) return xb.sidecar - xa.sidecar;
  const c = newerFirst(parseTime(a.metadata.creationTimestamp), parseTime(b.metadata.creationTimestamp), ua, ub, t);
  if (c !== 0) return c;
  if (ua !== ub) return ua < ub ? -1 : 1;
  const ma = a.metadata.name ?? '';
  const mb = b.metadata.name ?? '';
  return ma < mb ? -1 : ma > mb ? 1 : 0;
}

/**
 * getPodsToDelete: the `count` least valuable of `pods`, ranked by how many active `related`
 * pods (the pods of every set with the same controlling owner, e.g. a Deployment's ReplicaSets)
 * share each pod's node.
 */
export function podsToDelete(pods: KubeObject[], related: KubeObject[], count: number, now: Date): KubeObject[] {
  if (count <= 0) return [];
  if (count >= pods.length) return [...pods];
  const onNode = new Map<string, number>();
  for (const p of related) if (isPodActive(p)) onNode.set(podNodeName(p), (onNode.get(podNodeName(p)) ?? 0) + 1);
  const ranked = pods.map((pod) => ({ pod, rank: onNode.get(podNodeName(pod)) ?? 0 }));
  ranked.sort((x, y) => compareForDeletion(x.pod, y.pod, x.rank, y.rank, now));
  return ranked.slice(0, count).map((r) => r.pod);
}
