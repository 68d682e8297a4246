// Pod identity and health for StatefulSets (Kubernetes' stateful_set_utils.go):
// a pod is `<set>-<ordinal>`, carries the labels statefulset.kubernetes.io/pod-name,
// apps.kubernetes.io/pod-index and controller-revision-hash, has hostname = its name and
// subdomain = the set's serviceName, a controller reference to the set, and one volume per
// volumeClaimTemplate pointing at the claim `<template>-<set>-<ordinal>`.
import type { KubeObject, OwnerReference } from '../../registry/types.ts';
import { asArray, asRecord, isRecord } from '../../registry/validation.ts';
import {
  INIT_ANNOTATION,
  POD_INDEX_LABEL,
  POD_NAME_LABEL,
  REVISION_LABEL,
  clone,
  claimTemplateName,
  claimTemplatesOf,
  partitionOf,
  serviceNameOf,
  setControllerRef,
  setName,
  setNamespace,
  startOrdinal,
  updateStrategyType,
} from './set.ts';
import { templateFromRevision } from './revision.ts';
import { claimName, ordinalOf, parseOrdinal, podName } from './names.ts';

export { claimName, isMemberOf, ordinalOf, parseOrdinal, podName } from './names.ts';
export { newClaims } from './claims.ts';

type Obj = Record<string, unknown>;

// ---------------------------------------------------------------------------------------------
// Health

export interface PodCondition {
  type?: string;
  status?: string;
  lastTransitionTime?: string;
}

function status(pod: KubeObject): Obj {
  return asRecord(pod.status);
}

export function podPhase(pod: KubeObject): string {
  const p = status(pod).phase;
  return typeof p === 'string' ? p : '';
}

/** Created and known to the API server (it has a phase). */
export function isCreated(pod: KubeObject): boolean {
  return podPhase(pod) !== '';
}

export function isPending(pod: KubeObject): boolean {
  return podPhase(pod) === 'Pending';
}

export function isFailed(pod: KubeObject): boolean {
  return podPhase(pod) === 'Failed';
}

export function isSucceeded(pod: KubeObject): boolean {
  return podPhase(pod) === 'Succeeded';
}

/** deletionTimestamp is set. */
export function isTerminating(pod: KubeObject): boolean {
  const t = pod.metadata.deletionTimestamp;
  return typeof t === 'string' && t !== '';
}

export function readyCondition(pod: KubeObject): PodCondition | undefined {
  return asArray(status(pod).conditions).find((c): c is PodCondition => isRecord(c) && c.type === 'Ready');
}

/** The Ready condition is True (podutil.IsPodReady). */
export function isPodReady(pod: KubeObject): boolean {
  return readyCondition(pod)?.status === 'True';
}

/** Go's strconv.ParseBool. */
function parseBool(s: string): boolean | undefined {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(s)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(s)) return false;
  return undefined;
}

/**
 * Whether the PetSet-era annotation `pod.alpha.kubernetes.io/initialized` holds the pod back:
 * a value that parses as false. (Unparsable values are ignored, as Kubernetes did.)
 */
export function heldByInitAnnotation(pod: KubeObject): boolean {
  const v = pod.metadata.annotations?.[INIT_ANNOTATION];
  return typeof v === 'string' && parseBool(v) === false;
}

/**
 * Running with a True Ready condition, and not held by the PetSet debugging annotation
 * `pod.alpha.kubernetes.io/initialized: "false"` (which makes the set treat the pod as not
 * ready, so ordered start-up pauses after it, as the PetSet/early StatefulSet controller did).
 */
export function isRunningAndReady(pod: KubeObject): boolean {
  return podPhase(pod) === 'Running' && isPodReady(pod) && !heldByInitAnnotation(pod);
}

/**
 * Running and ready for longer than minReadySeconds at `now` (podutil.IsPodAvailable: the Ready
 * condition's lastTransitionTime + minReadySeconds strictly before now).
 */
export function isRunningAndAvailable(pod: KubeObject, minReadySeconds: number, now: Date): boolean {
  if (!isRunningAndReady(pod)) return false;
  if (minReadySeconds <= 0) return true;
  const since = Date.parse(readyCondition(pod)?.lastTransitionTime ?? '');
  if (Number.isNaN(since)) return false;
  return since + minReadySeconds * 1000 < now.getTime();
}

/** When a ready pod becomes available (ms since the epoch), or undefined if it is not ready. */
export function availableAt(pod: KubeObject, minReadySeconds: number): number | undefined {
  if (!isRunningAndReady(pod)) return undefined;
  const since = Date.parse(readyCondition(pod)?.lastTransitionTime ?? '');
  if (Number.isNaN(since)) return undefined;
  return since + minReadySeconds * 1000;
}

/** Running and ready and not terminating. */
export function isHealthy(pod: KubeObject): boolean {
  return isRunningAndReady(pod) && !isTerminating(pod);
}

/** Not available (minReadySeconds included) or terminating: what a rolling update counts
 *  against maxUnavailable. */
export function isUnavailable(pod: KubeObject, minReadySeconds: number, now: Date): boolean {
  return !isRunningAndAvailable(pod, minReadySeconds, now) || isTerminating(pod);
}

// ---------------------------------------------------------------------------------------------
// Building and repairing pods

/** The pod volumes for the set's claim templates, then the template's other volumes
 *  (a template volume named like a claim template is replaced; updateStorage). */
export function storageVolumes(set: KubeObject, ordinal: number, volumes: unknown[]): unknown[] {
  const templates = claimTemplatesOf(set);
  if (templates.length === 0) return [...volumes];
  const names = new Set(templates.map(claimTemplateName));
  const out: unknown[] = templates.map((t) => ({
    name: claimTemplateName(t),
    persistentVolumeClaim: { claimName: claimName(set, claimTemplateName(t), ordinal) },
  }));
  for (const v of volumes) {
    if (isRecord(v) && typeof v.name === 'string' && names.has(v.name)) continue;
    out.push(v);
  }
  return out;
}

/**
 * A new pod for an ordinal at a revision (newStatefulSetPod + setPodRevision): metadata
 * (labels, annotations, finalizers) and spec from the revision's template (the set's own
 * template when the revision holds none), the identity labels, hostname/subdomain, a controller
 * reference to the set and the claim volumes.
 */
export function newStatefulSetPod(set: KubeObject, revision: KubeObject, ordinal: number): KubeObject {
  // A fresh copy either way: its spec becomes the pod's without another copy.
  const template = templateFromRevision(revision) ?? clone(asRecord(asRecord(set.spec).template));
  const tmeta = asRecord(template.metadata);
  const name = podName(set, ordinal);
  const labels: Record<string, string> = { ...(asRecord(tmeta.labels) as Record<string, string>) };
  labels[POD_NAME_LABEL] = name;
  labels[POD_INDEX_LABEL] = String(ordinal);
  labels[REVISION_LABEL] = revision.metadata.name ?? '';
  const metadata: KubeObject['metadata'] = {
    name,
    generateName: `${setName(set)}-`,
    namespace: setNamespace(set),
    labels,
  };
  if (isRecord(tmeta.annotations) && Object.keys(tmeta.annotations).length > 0) {
    metadata.annotations = { ...(tmeta.annotations as Record<string, string>) };
  }
  if (Array.isArray(tmeta.finalizers) && tmeta.finalizers.length > 0) metadata.finalizers = [...(tmeta.finalizers as string[])];
  metadata.ownerReferences = [setControllerRef(set)];
  const spec: Obj = isRecord(template.spec) ? template.spec : {};
  spec.hostname = name;
  const service = serviceNameOf(set);
  if (service) spec.subdomain = service;
  const volumes = storageVolumes(set, ordinal, asArray(spec.volumes));
  if (volumes.length > 0) spec.volumes = volumes;
  else delete spec.volumes;
  return { apiVersion: 'v1', kind: 'Pod', metadata, spec };
}

/**
 * Whether an ordinal gets the current revision when its pod is (re)created
 * (newVersionedStatefulSetPod): with RollingUpdate, ordinals below start + partition stay at the
 * current revision; everything else — and every pod under OnDelete — gets the update revision.
 */
export function usesCurrentRevision(set: KubeObject, ordinal: number): boolean {
  return updateStrategyType(set) === 'RollingUpdate' && ordinal < startOrdinal(set) + partitionOf(set);
}

export function newVersionedPod(set: KubeObject, current: KubeObject, update: KubeObject, ordinal: number): KubeObject {
  return newStatefulSetPod(set, usesCurrentRevision(set, ordinal) ? current : update, ordinal);
}

/** The pod has the name, namespace and identity labels of its ordinal in the set. */
export function identityMatches(set: KubeObject, pod: KubeObject): boolean {
  const { parent, ordinal } = parseOrdinal(pod.metadata.name ?? '');
  const labels = pod.metadata.labels ?? {};
  return (
    ordinal >= 0 &&
    parent === setName(set) &&
    pod.metadata.name === podName(set, ordinal) &&
    (pod.metadata.namespace ?? setNamespace(set)) === setNamespace(set) &&
    labels[POD_NAME_LABEL] === pod.metadata.name &&
    labels[POD_INDEX_LABEL] === String(ordinal)
  );
}

/** Every claim template is mounted from the ordinal's claim (storageMatches). */
export function storageMatches(set: KubeObject, pod: KubeObject): boolean {
  const ordinal = ordinalOf(pod);
  if (ordinal < 0) return false;
  const templates = claimTemplatesOf(set);
  if (templates.length === 0) return true;
  const volumes = new Map<string, Obj>();
  for (const v of asArray(asRecord(pod.spec).volumes)) if (isRecord(v) && typeof v.name === 'string') volumes.set(v.name, v);
  for (const t of templates) {
    const v = volumes.get(claimTemplateName(t));
    if (!v || asRecord(v.persistentVolumeClaim).claimName !== claimName(set, claimTemplateName(t), ordinal)) return false;
  }
  return true;
}

export type PodRepair = 'identity' | 'storage';

/**
 * The pod with its identity labels and claim volumes put right (updateIdentity +
 * updateStorage), and what was wrong; undefined when nothing is.
 */
export function repairPod(set: KubeObject, pod: KubeObject): { pod: KubeObject; repairs: PodRepair[] } | undefined {
  const identity = identityMatches(set, pod);
  const storage = storageMatches(set, pod);
  if (identity && storage) return undefined;
  const repairs: PodRepair[] = [];
  const fixed = clone(pod);
  const ordinal = ordinalOf(pod);
  if (!identity) {
    repairs.push('identity');
    fixed.metadata.labels = { ...(fixed.metadata.labels ?? {}), [POD_NAME_LABEL]: podName(set, ordinal), [POD_INDEX_LABEL]: String(ordinal) };
  }
  if (!storage) {
    repairs.push('storage');
    const spec = asRecord(fixed.spec);
    fixed.spec = { ...spec, volumes: storageVolumes(set, ordinal, asArray(spec.volumes)) };
  }
  return { pod: fixed, repairs };
}

/** An object's owner references with the set's controller reference added (adoption). */
export function withControllerRef(obj: KubeObject, set: KubeObject): OwnerReference[] {
  const refs = asArray(obj.metadata.ownerReferences).filter(isRecord) as unknown as OwnerReference[];
  return [...refs.filter((r) => r.uid !== set.metadata.uid), setControllerRef(set)];
}

/** An object's owner references without the one to `uid` (release). */
export function withoutRefTo(obj: KubeObject, uid: string | undefined): OwnerReference[] {
  const refs = asArray(obj.metadata.ownerReferences).filter(isRecord) as unknown as OwnerReference[];
  return refs.filter((r) => r.uid !== uid);
}
