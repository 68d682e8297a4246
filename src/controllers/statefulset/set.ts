// Read-only views of a StatefulSet's spec and status with Kubernetes' defaults applied, so the
// control algorithm never has to guess about absent fields (the API server defaults them, but
// the algorithm must not depend on that: table tests and older stored objects omit them).
import type { KubeObject, OwnerReference } from '../../registry/types.ts';
import { asArray, asRecord, isRecord, labelSelectorMatches, type LabelSelector } from '../../registry/validation.ts';

type Obj = Record<string, unknown>;

export type PodManagementPolicy = 'OrderedReady' | 'Parallel';
export type UpdateStrategyType = 'RollingUpdate' | 'OnDelete';
export type RetentionPolicyType = 'Retain' | 'Delete';

export interface RetentionPolicy {
  whenDeleted: RetentionPolicyType;
  whenScaled: RetentionPolicyType;
}

/** The labels that tie a pod to its set (Kubernetes apps/v1 constants). */
export const POD_NAME_LABEL = 'statefulset.kubernetes.io/pod-name';
export const POD_INDEX_LABEL = 'apps.kubernetes.io/pod-index';
export const REVISION_LABEL = 'controller-revision-hash';
/** The hash label NewControllerRevision puts on every revision. */
export const REVISION_HASH_LABEL = 'controller.kubernetes.io/hash';
/** PetSet-era debugging annotation: "false" holds ordered start-up at this pod. */
export const INIT_ANNOTATION = 'pod.alpha.kubernetes.io/initialized';

export const SET_API_VERSION = 'apps/v1';
export const SET_KIND = 'StatefulSet';

function spec(set: KubeObject): Obj {
  return asRecord(set.spec);
}

function int(v: unknown, fallback: number): number {
  return typeof v === 'number' && Number.isFinite(v) ? Math.trunc(v) : fallback;
}

export function setName(set: KubeObject): string {
  return set.metadata.name ?? '';
}

export function setNamespace(set: KubeObject): string {
  return set.metadata.namespace ?? 'default';
}

/** spec.replicas (default 1, never negative). */
export function replicasOf(set: KubeObject): number {
  return Math.max(0, int(spec(set).replicas, 1));
}

/** spec.ordinals.start (default 0). */
export function startOrdinal(set: KubeObject): number {
  return Math.max(0, int(asRecord(spec(set).ordinals).start, 0));
}

/** The last ordinal of the set's range (inclusive); start - 1 when replicas is 0. */
export function endOrdinal(set: KubeObject): number {
  return startOrdinal(set) + replicasOf(set) - 1;
}

export function inOrdinalRange(set: KubeObject, ordinal: number): boolean {
  return ordinal >= startOrdinal(set) && ordinal <= endOrdinal(set);
}

export function podManagementPolicy(set: KubeObject): PodManagementPolicy {
  return spec(set).podManagementPolicy === 'Parallel' ? 'Parallel' : 'OrderedReady';
}

export function updateStrategyType(set: KubeObject): UpdateStrategyType {
  return asRecord(spec(set).updateStrategy).type === 'OnDelete' ? 'OnDelete' : 'RollingUpdate';
}

/** spec.updateStrategy.rollingUpdate.partition (default 0; 0 for OnDelete). */
export function partitionOf(set: KubeObject): number {
  if (updateStrategyType(set) !== 'RollingUpdate') return 0;
  return Math.max(0, int(asRecord(asRecord(spec(set).updateStrategy).rollingUpdate).partition, 0));
}

/**
 * The number of pods a rolling update may take down at once: rollingUpdate.maxUnavailable
 * (an integer or a percentage of spec.replicas, rounded down), default 1, never below 1
 * (Kubernetes' getStatefulSetMaxUnavailable).
 */
export function maxUnavailableOf(set: KubeObject): number {
  const raw = asRecord(asRecord(spec(set).updateStrategy).rollingUpdate).maxUnavailable;
  let n = 1;
  if (typeof raw === 'number' && Number.isFinite(raw)) n = Math.trunc(raw);
  else if (typeof raw === 'string') {
    const pct = /^([0-9]+)%$/.exec(raw);
    if (pct) n = Math.floor((Number(pct[1]) * replicasOf(set)) / 100);
    else if (/^[0-9]+$/.test(raw)) n = Number(raw);
  }
  return Math.max(1, n);
}

/** spec.minReadySeconds (default 0). */
export function minReadySecondsOf(set: KubeObject): number {
  return Math.max(0, int(spec(set).minReadySeconds, 0));
}

/** spec.revisionHistoryLimit (default 10). A negative value keeps all history. */
export function revisionHistoryLimitOf(set: KubeObject): number {
  return int(spec(set).revisionHistoryLimit, 10);
}

export function serviceNameOf(set: KubeObject): string {
  const s = spec(set).serviceName;
  return typeof s === 'string' ? s : '';
}

/** persistentVolumeClaimRetentionPolicy with Retain for anything absent or unknown. */
export function retentionPolicyOf(set: KubeObject): RetentionPolicy {
  const p = asRecord(spec(set).persistentVolumeClaimRetentionPolicy);
  const pick = (v: unknown): RetentionPolicyType => (v === 'Delete' ? 'Delete' : 'Retain');
  return { whenDeleted: pick(p.whenDeleted), whenScaled: pick(p.whenScaled) };
}

export function selectorOf(set: KubeObject): LabelSelector | undefined {
  const s = spec(set).selector;
  return isRecord(s) ? (s as LabelSelector) : undefined;
}

/** Whether labels match the set's selector (an absent selector matches nothing). */
export function selectorMatches(set: KubeObject, labels: Record<string, string> | undefined): boolean {
  return labelSelectorMatches(selectorOf(set), labels);
}

/** spec.template as an object (empty when absent). */
export function templateOf(set: KubeObject): Obj {
  return asRecord(spec(set).template);
}

/** spec.volumeClaimTemplates that carry a name. */
export function claimTemplatesOf(set: KubeObject): Obj[] {
  return asArray(spec(set).volumeClaimTemplates).filter(
    (t): t is Obj => isRecord(t) && typeof asRecord(t.metadata).name === 'string' && asRecord(t.metadata).name !== '',
  );
}

export function claimTemplateName(t: Obj): string {
  return asRecord(t.metadata).name as string;
}

export function isBeingDeleted(obj: KubeObject): boolean {
  return typeof obj.metadata.deletionTimestamp === 'string' && obj.metadata.deletionTimestamp !== '';
}

/** The controller ownerReference a set puts on the pods, revisions and claims it owns. */
export function setControllerRef(set: KubeObject): OwnerReference {
  return {
    apiVersion: SET_API_VERSION,
    kind: SET_KIND,
    name: setName(set),
    uid: set.metadata.uid ?? '',
    controller: true,
    blockOwnerDeletion: true,
  };
}

/** The controller ownerReference of an object, if it has one. */
export function controllerRefOf(obj: KubeObject): OwnerReference | undefined {
  return asArray(obj.metadata.ownerReferences).find((r): r is OwnerReference => isRecord(r) && r.controller === true);
}

/** A deep copy of plain JSON data. */
export function clone<T>(v: T): T {
  return v === undefined ? v : (JSON.parse(JSON.stringify(v)) as T);
}
