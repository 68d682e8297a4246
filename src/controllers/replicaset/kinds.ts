// The two kinds the ReplicaSet controller runs — apps/v1 ReplicaSet and core/v1
// ReplicationController, which Kubernetes also runs with the ReplicaSet algorithm — and
// read-only views of either with defaults applied, so the algorithm never guesses about absent
// fields. An RC's selector is a plain label map; it is seen here as a LabelSelector with those
// matchLabels, which makes every other part of the algorithm the same for both kinds.
import type { ResourceRef } from '../../client/rest.ts';
import type { KubeObject, OwnerReference } from '../../registry/types.ts';
import { asArray, asRecord, isRecord, labelSelectorMatches, type LabelSelector } from '../../registry/validation.ts';

type Obj = Record<string, unknown>;

export const REPLICASETS: ResourceRef = { group: 'apps', version: 'v1', plural: 'replicasets', namespaced: true, kind: 'ReplicaSet' };
export const REPLICATIONCONTROLLERS: ResourceRef = { group: '', version: 'v1', plural: 'replicationcontrollers', namespaced: true, kind: 'ReplicationController' };

export type ReplicaKindName = 'ReplicaSet' | 'ReplicationController';

export interface ReplicaKind {
  name: ReplicaKindName;
  resource: ResourceRef;
  /** `apps/v1` or `v1`: the apiVersion of owner references and events. */
  apiVersion: string;
  /** Events' source component, as Kubernetes names the controller. */
  component: string;
  /** The name of the controller in the controller manager (and of its work queue). */
  controllerName: string;
  /** The set's selector as a LabelSelector; undefined when absent or malformed. */
  selectorOf(set: KubeObject): LabelSelector | undefined;
}

export const REPLICA_SET: ReplicaKind = {
  name: 'ReplicaSet',
  resource: REPLICASETS,
  apiVersion: 'apps/v1',
  component: 'replicaset-controller',
  controllerName: 'replicaset',
  selectorOf: (set) => {
    const s = asRecord(set.spec).selector;
    return isRecord(s) ? (s as LabelSelector) : undefined;
  },
};

export const REPLICATION_CONTROLLER: ReplicaKind = {
  name: 'ReplicationController',
  resource: REPLICATIONCONTROLLERS,
  apiVersion: 'v1',
  component: 'replication-controller',
  controllerName: 'replicationcontroller',
  selectorOf: (set) => {
    const s = asRecord(set.spec).selector;
    if (!isRecord(s)) return undefined;
    const matchLabels: Record<string, string> = {};
    for (const [k, v] of Object.entries(s)) if (typeof v === 'string') matchLabels[k] = v;
    return { matchLabels };
  },
};

/** The kind descriptor by name. */
export function replicaKind(name: ReplicaKindName): ReplicaKind {
  return name === 'ReplicationController' ? REPLICATION_CONTROLLER : REPLICA_SET;
}

/** The kind of a set as written (kind field); ReplicaSet when the object does not say. */
export function kindOfSet(set: KubeObject): ReplicaKind {
  return set.kind === 'ReplicationController' ? REPLICATION_CONTROLLER : REPLICA_SET;
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
  return Math.max(0, int(asRecord(set.spec).replicas, 1));
}

/** spec.minReadySeconds (default 0). */
export function minReadySecondsOf(set: KubeObject): number {
  return Math.max(0, int(asRecord(set.spec).minReadySeconds, 0));
}

export function generationOf(obj: KubeObject): number {
  return int(obj.metadata.generation, 0);
}

/** spec.template as an object (empty when absent). */
export function templateOf(set: KubeObject): Obj {
  return asRecord(asRecord(set.spec).template);
}

/** spec.template.metadata.labels (strings only). */
export function templateLabelsOf(set: KubeObject): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(asRecord(asRecord(templateOf(set).metadata).labels))) if (typeof v === 'string') out[k] = v;
  return out;
}

/** Whether the selector is usable: present and not empty (an empty one would select every pod
 *  of the namespace; validation refuses it, and the controller never acts on one). */
export function hasUsableSelector(kind: ReplicaKind, set: KubeObject): boolean {
  const s = kind.selectorOf(set);
  if (!s) return false;
  return Object.keys(asRecord(s.matchLabels)).length + asArray(s.matchExpressions).length > 0;
}

/** Whether labels match the set's selector (an unusable selector matches nothing). */
export function selectorMatches(kind: ReplicaKind, set: KubeObject, labels: Record<string, string> | undefined): boolean {
  return hasUsableSelector(kind, set) && labelSelectorMatches(kind.selectorOf(set), labels);
}

export function isBeingDeleted(obj: KubeObject): boolean {
  return typeof obj.metadata.deletionTimestamp === 'string' && obj.metadata.deletionTimestamp !== '';
}

/** The controller ownerReference the set puts on its pods. */
export function controllerRefFor(kind: ReplicaKind, set: KubeObject): OwnerReference {
  return { apiVersion: kind.apiVersion, kind: kind.name, name: setName(set), uid: set.metadata.uid ?? '', controller: true, blockOwnerDeletion: true };
}

/** The controller ownerReference of an object, if it has one. */
export function controllerRefOf(obj: KubeObject): OwnerReference | undefined {
  return asArray(obj.metadata.ownerReferences).find((r): r is OwnerReference => isRecord(r) && r.controller === true);
}

function ownerRefs(obj: KubeObject): OwnerReference[] {
  return asArray(obj.metadata.ownerReferences).filter(isRecord) as unknown as OwnerReference[];
}

/** An object's owner references with the set's controller reference added (adoption). */
export function withControllerRef(kind: ReplicaKind, obj: KubeObject, set: KubeObject): OwnerReference[] {
  return [...ownerRefs(obj).filter((r) => r.uid !== set.metadata.uid), controllerRefFor(kind, set)];
}

/** An object's owner references without the one to the set (release). */
export function withoutRefTo(obj: KubeObject, set: KubeObject): OwnerReference[] {
  return ownerRefs(obj).filter((r) => r.uid !== set.metadata.uid);
}
