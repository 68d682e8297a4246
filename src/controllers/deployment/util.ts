// What Kubernetes' pkg/controller/deployment/util/deployment_util.go provides, on plain JSON
// objects: the annotations a Deployment and its ReplicaSets carry, the pod-template-hash,
// finding the new and old ReplicaSets, maxSurge/maxUnavailable resolution, replica counting,
// proportions for proportional scaling, ordering, and the Progressing/Available conditions.
// No I/O, no clock (callers pass `now`).
//
// The pod-template-hash: Kubernetes hashes the Go struct of the template with FNV-32a as
// spew prints it (then the collision count as 4 little-endian bytes, when set), prints the
// sum in decimal and maps each digit into the "safe" alphabet. The spew form of a Go struct
// cannot be reproduced from JSON, so kennel hashes the canonical JSON of the template (keys
// sorted, as Go's encoder writes a map) instead, and otherwise does the same: equal templates
// give equal hashes, a collision count gives a different one, and the label looks the same
// (e.g. `7c5ddbdf54`). Only the controller that makes the label ever reads it.
import type { KubeObject, OwnerReference } from '../../registry/types.ts';
import { asArray, asRecord, isRecord, labelSelectorMatches, type LabelSelector } from '../../registry/validation.ts';
import { canonicalJSON, safeEncodeString } from '../revisions.ts';

type Obj = Record<string, unknown>;

export const DEPLOYMENT_API_VERSION = 'apps/v1';
export const DEPLOYMENT_KIND = 'Deployment';
export const REPLICASET_KIND = 'ReplicaSet';

/** apps/v1 DefaultDeploymentUniqueLabelKey. */
export const POD_TEMPLATE_HASH_LABEL = 'pod-template-hash';
/** The revision of a ReplicaSet (and, copied from its new ReplicaSet, of the Deployment). */
export const REVISION_ANNOTATION = 'deployment.kubernetes.io/revision';
/** Earlier revisions a ReplicaSet had before a rollback renumbered it. */
export const REVISION_HISTORY_ANNOTATION = 'deployment.kubernetes.io/revision-history';
/** spec.replicas of the Deployment when it last scaled the ReplicaSet. */
export const DESIRED_REPLICAS_ANNOTATION = 'deployment.kubernetes.io/desired-replicas';
/** spec.replicas + maxSurge of the Deployment when it last scaled the ReplicaSet. */
export const MAX_REPLICAS_ANNOTATION = 'deployment.kubernetes.io/max-replicas';
export const LAST_APPLIED_ANNOTATION = 'kubectl.kubernetes.io/last-applied-configuration';
/** extensions/v1beta1's rollbackTo, kept as an annotation by older conversions. */
export const DEPRECATED_ROLLBACK_TO_ANNOTATION = 'deprecated.deployment.rollback.to';
/** The change cause `kubectl rollout history` prints. */
export const CHANGE_CAUSE_ANNOTATION = 'kubernetes.io/change-cause';

/** Deployment annotations never copied to ReplicaSets (annotationsToSkip). */
export const ANNOTATIONS_TO_SKIP: ReadonlySet<string> = new Set([
  LAST_APPLIED_ANNOTATION,
  REVISION_ANNOTATION,
  REVISION_HISTORY_ANNOTATION,
  DESIRED_REPLICAS_ANNOTATION,
  MAX_REPLICAS_ANNOTATION,
  DEPRECATED_ROLLBACK_TO_ANNOTATION,
]);

/** How long the revision-history annotation may grow (maxRevHistoryLengthInChars). */
export const MAX_REV_HISTORY_LENGTH_IN_CHARS = 2000;

// Condition types and reasons.
export const PROGRESSING = 'Progressing';
export const AVAILABLE = 'Available';
export const REPLICA_FAILURE = 'ReplicaFailure';
export const NEW_RS_CREATED_REASON = 'NewReplicaSetCreated';
export const FAILED_RS_CREATE_REASON = 'ReplicaSetCreateError';
export const FOUND_NEW_RS_REASON = 'FoundNewReplicaSet';
export const RS_UPDATED_REASON = 'ReplicaSetUpdated';
export const NEW_RS_AVAILABLE_REASON = 'NewReplicaSetAvailable';
export const TIMED_OUT_REASON = 'ProgressDeadlineExceeded';
export const PAUSED_REASON = 'DeploymentPaused';
export const RESUMED_REASON = 'DeploymentResumed';
export const MIN_REPLICAS_AVAILABLE = 'MinimumReplicasAvailable';
export const MIN_REPLICAS_UNAVAILABLE = 'MinimumReplicasUnavailable';

const MAX_INT32 = 2147483647;

// ---------------------------------------------------------------------------------------------
// Reading a Deployment (with Kubernetes' defaults where a field is absent)

function int(v: unknown, fallback: number): number {
  return typeof v === 'number' && Number.isFinite(v) ? Math.trunc(v) : fallback;
}

function spec(o: KubeObject): Obj {
  return asRecord(o.spec);
}

export function statusOf(o: KubeObject): Obj {
  return asRecord(o.status);
}

export function nameOf(o: KubeObject): string {
  return o.metadata.name ?? '';
}

export function namespaceOf(o: KubeObject): string {
  return o.metadata.namespace ?? 'default';
}

/** spec.replicas (default 1) of a Deployment or ReplicaSet. */
export function specReplicas(o: KubeObject): number {
  return Math.max(0, int(spec(o).replicas, 1));
}

export function templateOf(o: KubeObject): Obj {
  return asRecord(spec(o).template);
}

export function selectorOf(o: KubeObject): LabelSelector | undefined {
  const s = spec(o).selector;
  return isRecord(s) ? (s as LabelSelector) : undefined;
}

/** The selector selects every pod: `{}` (Kubernetes refuses to act on it). */
export function selectsEverything(d: KubeObject): boolean {
  const s = spec(d).selector;
  if (!isRecord(s)) return false;
  return Object.keys(asRecord(s.matchLabels)).length === 0 && asArray(s.matchExpressions).length === 0;
}

export function selectorMatches(d: KubeObject, labels: Record<string, string> | undefined): boolean {
  const s = selectorOf(d);
  if (!s || selectsEverything(d)) return false;
  return labelSelectorMatches(s, labels);
}

export type StrategyType = 'RollingUpdate' | 'Recreate';

export function strategyType(d: KubeObject): StrategyType {
  return asRecord(spec(d).strategy).type === 'Recreate' ? 'Recreate' : 'RollingUpdate';
}

export function isRollingUpdate(d: KubeObject): boolean {
  return strategyType(d) === 'RollingUpdate';
}

export function isPaused(d: KubeObject): boolean {
  return spec(d).paused === true;
}

export function minReadySeconds(o: KubeObject): number {
  return Math.max(0, int(spec(o).minReadySeconds, 0));
}

/** spec.revisionHistoryLimit, or undefined when old ReplicaSets are kept forever. */
export function revisionHistoryLimit(d: KubeObject): number | undefined {
  const v = spec(d).revisionHistoryLimit;
  return typeof v === 'number' && v !== MAX_INT32 ? Math.max(0, Math.trunc(v)) : undefined;
}

/** spec.progressDeadlineSeconds, or undefined when progress is not tracked (HasProgressDeadline). */
export function progressDeadlineSeconds(d: KubeObject): number | undefined {
  const v = spec(d).progressDeadlineSeconds;
  return typeof v === 'number' && v !== MAX_INT32 ? v : undefined;
}

export function generationOf(o: KubeObject): number {
  return int(o.metadata.generation, 0);
}

export function isBeingDeleted(o: KubeObject): boolean {
  return typeof o.metadata.deletionTimestamp === 'string' && o.metadata.deletionTimestamp !== '';
}

export function controllerRefOf(o: KubeObject): OwnerReference | undefined {
  return (o.metadata.ownerReferences ?? []).find((r) => r.controller === true);
}

export function isControlledBy(o: KubeObject, owner: KubeObject): boolean {
  const ref = controllerRefOf(o);
  return ref !== undefined && ref.uid === owner.metadata.uid;
}

/** metav1.NewControllerRef(d, Deployment). */
export function deploymentControllerRef(d: KubeObject): OwnerReference {
  return { apiVersion: DEPLOYMENT_API_VERSION, kind: DEPLOYMENT_KIND, name: nameOf(d), uid: d.metadata.uid ?? '', controller: true, blockOwnerDeletion: true };
}

// ---------------------------------------------------------------------------------------------
// maxSurge / maxUnavailable

/**
 * intstr.GetScaledValueFromIntOrPercent: an integer as it is; `N%` of total, rounded up
 * (maxSurge) or down (maxUnavailable). Anything else counts as 0 (validation refuses it).
 */
export function scaledValue(v: unknown, total: number, roundUp: boolean): number {
  if (typeof v === 'number' && Number.isFinite(v)) return Math.trunc(v);
  if (typeof v === 'string') {
    const m = /^([0-9]+)%$/.exec(v);
    if (m) {
      const x = (Number(m[1]) * total) / 100;
      return roundUp ? Math.ceil(x) : Math.floor(x);
    }
    if (/^-?[0-9]+$/.test(v)) return Number(v);
  }
  return 0;
}

/**
 * ResolveFenceposts: maxSurge rounded up and maxUnavailable rounded down, against the desired
 * count; when both come to 0 (a small percentage of few replicas), maxUnavailable is 1.
 */
export function resolveFenceposts(maxSurge: unknown, maxUnavailable: unknown, desired: number): { surge: number; unavailable: number } {
  const surge = scaledValue(maxSurge ?? 0, desired, true);
  let unavailable = scaledValue(maxUnavailable ?? 0, desired, false);
  if (surge === 0 && unavailable === 0) unavailable = 1;
  return { surge, unavailable };
}

function rollingParams(d: KubeObject): Obj {
  return asRecord(asRecord(spec(d).strategy).rollingUpdate);
}

/** MaxSurge: 0 unless RollingUpdate. */
export function maxSurge(d: KubeObject): number {
  if (!isRollingUpdate(d)) return 0;
  const ru = rollingParams(d);
  return resolveFenceposts(ru.maxSurge ?? '25%', ru.maxUnavailable ?? '25%', specReplicas(d)).surge;
}

/** MaxUnavailable: 0 unless RollingUpdate with replicas; never more than replicas. */
export function maxUnavailable(d: KubeObject): number {
  const replicas = specReplicas(d);
  if (!isRollingUpdate(d) || replicas === 0) return 0;
  const ru = rollingParams(d);
  const { unavailable } = resolveFenceposts(ru.maxSurge ?? '25%', ru.maxUnavailable ?? '25%', replicas);
  return Math.min(unavailable, replicas);
}

// ---------------------------------------------------------------------------------------------
// ReplicaSet counts

export function rsStatusCount(rs: KubeObject, key: 'replicas' | 'readyReplicas' | 'availableReplicas'): number {
  return Math.max(0, int(statusOf(rs)[key], 0));
}

/**
 * The available replicas the rollout may count on: status.availableReplicas, but never more
 * than spec.replicas. (Right after the deployment lowered a ReplicaSet's spec, its status still
 * counts the pods its controller is about to delete; Kubernetes' min() guards in the rollout
 * absorb that, kennel caps it here so that no decision builds on them.)
 */
export function availableForRollout(rs: KubeObject): number {
  return Math.min(rsStatusCount(rs, 'availableReplicas'), specReplicas(rs));
}

/** GetReplicaCountForReplicaSets: Σ spec.replicas. */
export function sumSpecReplicas(rss: (KubeObject | undefined)[]): number {
  let n = 0;
  for (const rs of rss) if (rs) n += specReplicas(rs);
  return n;
}

/** GetActualReplicaCountForReplicaSets / GetReadyReplicaCount… / GetAvailableReplicaCount…: Σ status. */
export function sumStatus(rss: (KubeObject | undefined)[], key: 'replicas' | 'readyReplicas' | 'availableReplicas'): number {
  let n = 0;
  for (const rs of rss) if (rs) n += rsStatusCount(rs, key);
  return n;
}

/** Σ availableForRollout. */
export function sumAvailableForRollout(rss: (KubeObject | undefined)[]): number {
  let n = 0;
  for (const rs of rss) if (rs) n += availableForRollout(rs);
  return n;
}

/** FilterActiveReplicaSets: those with spec.replicas > 0. */
export function activeReplicaSets(rss: (KubeObject | undefined)[]): KubeObject[] {
  return rss.filter((rs): rs is KubeObject => rs !== undefined && specReplicas(rs) > 0);
}

// ---------------------------------------------------------------------------------------------
// Ordering

function createdMs(o: KubeObject): number {
  const t = Date.parse(o.metadata.creationTimestamp ?? '');
  return Number.isNaN(t) ? 0 : t;
}

/** ReplicaSetsByCreationTimestamp: oldest first, then by name. */
export function byCreation(a: KubeObject, b: KubeObject): number {
  const d = createdMs(a) - createdMs(b);
  if (d !== 0) return d;
  const an = nameOf(a);
  const bn = nameOf(b);
  return an < bn ? -1 : an > bn ? 1 : 0;
}

/** ReplicaSetsBySizeOlder: larger first; equal sizes oldest first. */
export function bySizeOlder(a: KubeObject, b: KubeObject): number {
  return specReplicas(b) - specReplicas(a) || byCreation(a, b);
}

/** ReplicaSetsBySizeNewer: larger first; equal sizes newest first. */
export function bySizeNewer(a: KubeObject, b: KubeObject): number {
  return specReplicas(b) - specReplicas(a) || byCreation(b, a);
}

/** ReplicaSetsByRevision: lowest revision first, then oldest. */
export function byRevision(a: KubeObject, b: KubeObject): number {
  return revisionOf(a) - revisionOf(b) || byCreation(a, b);
}

// ---------------------------------------------------------------------------------------------
// Revisions and annotations

/** deploymentutil.Revision: the revision annotation as a number (absent or malformed: 0). */
export function revisionOf(o: KubeObject): number {
  const v = o.metadata.annotations?.[REVISION_ANNOTATION];
  if (v === undefined || !/^[0-9]+$/.test(v)) return 0;
  return Number(v);
}

/** MaxRevision: the highest revision among ReplicaSets (0 for none). */
export function maxRevision(rss: (KubeObject | undefined)[]): number {
  let m = 0;
  for (const rs of rss) if (rs) m = Math.max(m, revisionOf(rs));
  return m;
}

function annotationsOf(o: KubeObject): Record<string, string> {
  return (o.metadata.annotations ??= {});
}

/** Copy the Deployment's annotations (but annotationsToSkip) to the ReplicaSet; true if any changed. */
export function copyDeploymentAnnotationsToReplicaSet(d: KubeObject, rs: KubeObject): boolean {
  const out = annotationsOf(rs);
  let changed = false;
  for (const [k, v] of Object.entries(d.metadata.annotations ?? {})) {
    if (ANNOTATIONS_TO_SKIP.has(k) || out[k] === v) continue;
    out[k] = v;
    changed = true;
  }
  return changed;
}

/** SetReplicasAnnotations: desired-replicas and max-replicas; true if either changed. */
export function setReplicasAnnotations(rs: KubeObject, desired: number, max: number): boolean {
  const a = annotationsOf(rs);
  let changed = false;
  if (a[DESIRED_REPLICAS_ANNOTATION] !== String(desired)) {
    a[DESIRED_REPLICAS_ANNOTATION] = String(desired);
    changed = true;
  }
  if (a[MAX_REPLICAS_ANNOTATION] !== String(max)) {
    a[MAX_REPLICAS_ANNOTATION] = String(max);
    changed = true;
  }
  return changed;
}

/** ReplicasAnnotationsNeedUpdate. */
export function replicasAnnotationsNeedUpdate(rs: KubeObject, desired: number, max: number): boolean {
  const a = rs.metadata.annotations ?? {};
  return a[DESIRED_REPLICAS_ANNOTATION] !== String(desired) || a[MAX_REPLICAS_ANNOTATION] !== String(max);
}

/**
 * SetNewReplicaSetAnnotations: copy the Deployment's annotations; raise the revision to
 * newRevision when it is lower (a rollback to this ReplicaSet keeps its earlier numbers in
 * revision-history, at most MAX_REV_HISTORY_LENGTH_IN_CHARS long); a ReplicaSet about to be
 * created (exists false) also gets desired-replicas and max-replicas. True if anything changed.
 */
export function setNewReplicaSetAnnotations(d: KubeObject, rs: KubeObject, newRevision: number, exists: boolean): boolean {
  let changed = copyDeploymentAnnotationsToReplicaSet(d, rs);
  const a = annotationsOf(rs);
  const oldRevision = a[REVISION_ANNOTATION];
  let oldInt = 0;
  if (oldRevision !== undefined && oldRevision !== '') {
    if (!/^[0-9]+$/.test(oldRevision)) return changed;
    oldInt = Number(oldRevision);
  }
  if (oldInt < newRevision) {
    a[REVISION_ANNOTATION] = String(newRevision);
    changed = true;
    if (oldRevision !== undefined) {
      const history = a[REVISION_HISTORY_ANNOTATION] ?? '';
      if (history === '') a[REVISION_HISTORY_ANNOTATION] = oldRevision;
      else {
        let parts = history.split(',');
        let total = history.length + oldRevision.length + 1;
        let start = 0;
        while (total > MAX_REV_HISTORY_LENGTH_IN_CHARS && start < parts.length) {
          total -= parts[start].length + 1;
          start++;
        }
        if (total <= MAX_REV_HISTORY_LENGTH_IN_CHARS) {
          parts = [...parts.slice(start), oldRevision];
          a[REVISION_HISTORY_ANNOTATION] = parts.join(',');
        }
      }
    }
  }
  if (!exists && setReplicasAnnotations(rs, specReplicas(d), specReplicas(d) + maxSurge(d))) changed = true;
  return changed;
}

function desiredAnnotation(rs: KubeObject, key: string): number | undefined {
  const v = rs.metadata.annotations?.[key];
  return v !== undefined && /^[0-9]+$/.test(v) ? Number(v) : undefined;
}

/** getDesiredReplicasAnnotation. */
export function desiredReplicasOf(rs: KubeObject): number | undefined {
  return desiredAnnotation(rs, DESIRED_REPLICAS_ANNOTATION);
}

/** getMaxReplicasAnnotation. */
export function maxReplicasOf(rs: KubeObject): number | undefined {
  return desiredAnnotation(rs, MAX_REPLICAS_ANNOTATION);
}

/** IsSaturated: the new ReplicaSet runs the Deployment's full count, all available. */
export function isSaturated(d: KubeObject, rs: KubeObject | undefined): boolean {
  if (!rs) return false;
  const desired = desiredReplicasOf(rs);
  if (desired === undefined) return false;
  const n = specReplicas(d);
  return specReplicas(rs) === n && desired === n && availableForRollout(rs) === n;
}

// ---------------------------------------------------------------------------------------------
// Templates, hashes, new and old ReplicaSets

const encoder = new TextEncoder();

/** FNV-1a 32-bit (Go's hash/fnv New32a). */
export function fnv32a(bytes: Uint8Array, seed = 0x811c9dc5): number {
  let h = seed >>> 0;
  for (const b of bytes) {
    h = (h ^ b) >>> 0;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/**
 * controller.ComputeHash, over the template's canonical JSON (see the file comment): FNV-32a of
 * the template, then of collisionCount as 4 little-endian bytes when it is set; the sum in
 * decimal mapped into the safe alphabet.
 */
export function computeHash(template: unknown, collisionCount?: number): string {
  let h = fnv32a(encoder.encode(canonicalJSON(template)));
  if (collisionCount !== undefined) {
    const c = collisionCount >>> 0;
    h = fnv32a(Uint8Array.of(c & 255, (c >>> 8) & 255, (c >>> 16) & 255, (c >>> 24) & 255), h);
  }
  return safeEncodeString(String(h));
}

/** JSON with nulls, empty objects and empty lists dropped: Go's semantic equality treats a nil
 *  and an empty map or slice alike, and omitempty fields vanish on the wire. */
function normalized(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(normalized);
  if (isRecord(v)) {
    const out: Obj = {};
    for (const k of Object.keys(v).sort()) {
      const x = normalized(v[k]);
      if (x === undefined || x === null) continue;
      if (isRecord(x) && Object.keys(x).length === 0) continue;
      if (Array.isArray(x) && x.length === 0) continue;
      out[k] = x;
    }
    return out;
  }
  return v;
}

function withoutHashLabel(template: unknown): unknown {
  const t = asRecord(template);
  const meta = asRecord(t.metadata);
  const labels = { ...asRecord(meta.labels) };
  delete labels[POD_TEMPLATE_HASH_LABEL];
  return { ...t, metadata: { ...meta, labels } };
}

/** EqualIgnoreHash: two pod templates equal but for the pod-template-hash label. */
export function equalIgnoreHash(a: unknown, b: unknown): boolean {
  return canonicalJSON(normalized(withoutHashLabel(a))) === canonicalJSON(normalized(withoutHashLabel(b)));
}

/** FindNewReplicaSet: the oldest ReplicaSet whose template equals the Deployment's. */
export function findNewReplicaSet(d: KubeObject, rss: KubeObject[]): KubeObject | undefined {
  const template = templateOf(d);
  return [...rss].sort(byCreation).find((rs) => equalIgnoreHash(templateOf(rs), template));
}

/** FindOldReplicaSets' allOldRSs: every ReplicaSet but the new one. */
export function findOldReplicaSets(rss: KubeObject[], newRS: KubeObject | undefined): KubeObject[] {
  return newRS ? rss.filter((rs) => rs !== newRS && nameOf(rs) !== nameOf(newRS)) : [...rss];
}

/** FindActiveOrLatest: the only active ReplicaSet; with none active the new one (or the newest
 *  old one); undefined when several are active. */
export function findActiveOrLatest(newRS: KubeObject | undefined, oldRSs: KubeObject[]): KubeObject | undefined {
  if (!newRS && oldRSs.length === 0) return undefined;
  const newestFirst = [...oldRSs].sort((a, b) => byCreation(b, a));
  const active = activeReplicaSets([...newestFirst, newRS]);
  if (active.length === 0) return newRS ?? newestFirst[0];
  if (active.length === 1) return active[0];
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Replica arithmetic of a rollout

/** NewRSNewReplicas: how many replicas the new ReplicaSet may have now. */
export function newRSNewReplicas(d: KubeObject, allRSs: KubeObject[], newRS: KubeObject): number {
  const replicas = specReplicas(d);
  if (!isRollingUpdate(d)) return replicas;
  const surge = scaledValue(rollingParams(d).maxSurge ?? '25%', replicas, true);
  const current = sumSpecReplicas(allRSs);
  const maxTotal = replicas + surge;
  if (current >= maxTotal) return specReplicas(newRS);
  const scaleUp = Math.min(maxTotal - current, replicas - specReplicas(newRS));
  return specReplicas(newRS) + scaleUp;
}

/** Go's integer.RoundToInt32: round half away from zero. */
function roundToInt(x: number): number {
  return x < 0 ? -Math.round(-x) : Math.round(x);
}

/**
 * getReplicaSetFraction: the share of a resize that falls on rs, from its size relative to the
 * Deployment's size (max-replicas annotation) when it last scaled it.
 */
export function replicaSetFraction(rs: KubeObject, d: KubeObject): number {
  if (specReplicas(d) === 0) return -specReplicas(rs);
  const deploymentMax = specReplicas(d) + maxSurge(d);
  let annotated = maxReplicasOf(rs);
  if (annotated === undefined || annotated === 0) annotated = int(statusOf(d).replicas, 0);
  if (annotated === 0) return 0;
  return roundToInt((specReplicas(rs) * deploymentMax) / annotated) - specReplicas(rs);
}

/** GetProportion: rs's share of toAdd, given what has been added so far. */
export function getProportion(rs: KubeObject | undefined, d: KubeObject, toAdd: number, added: number): number {
  if (!rs || specReplicas(rs) === 0 || toAdd === 0 || toAdd === added) return 0;
  const fraction = replicaSetFraction(rs, d);
  const allowed = toAdd - added;
  return toAdd > 0 ? Math.min(fraction, allowed) : Math.max(fraction, allowed);
}

// ---------------------------------------------------------------------------------------------
// Conditions

export interface DeploymentCondition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  lastUpdateTime?: string;
  lastTransitionTime?: string;
  reason?: string;
  message?: string;
}

export function rfc3339(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export function newCondition(type: string, status: DeploymentCondition['status'], reason: string, message: string, nowMs: number): DeploymentCondition {
  const t = rfc3339(nowMs);
  return { type, status, lastUpdateTime: t, lastTransitionTime: t, reason, message };
}

export function getCondition(conditions: DeploymentCondition[] | undefined, type: string): DeploymentCondition | undefined {
  return (conditions ?? []).find((c) => c.type === type);
}

/**
 * SetDeploymentCondition: nothing when a condition of the type with the same status and reason
 * is there; otherwise replace it (moving it last), keeping lastTransitionTime when only the
 * reason changed.
 */
export function setCondition(conditions: DeploymentCondition[], c: DeploymentCondition): DeploymentCondition[] {
  const cur = getCondition(conditions, c.type);
  if (cur && cur.status === c.status && cur.reason === c.reason) return conditions;
  const next = { ...c };
  if (cur && cur.status === c.status) next.lastTransitionTime = cur.lastTransitionTime;
  return [...conditions.filter((x) => x.type !== c.type), next];
}

export function removeCondition(conditions: DeploymentCondition[], type: string): DeploymentCondition[] {
  return conditions.filter((c) => c.type !== type);
}

export function conditionsOf(o: KubeObject): DeploymentCondition[] {
  return asArray(statusOf(o).conditions).filter(isRecord) as unknown as DeploymentCondition[];
}
