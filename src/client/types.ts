// Kubernetes object shapes as they travel on the wire (JSON), shared by every component: the
// @kubernetes/client-node model types with their Date fields as RFC 3339 strings, and the
// objects the controllers, the scheduler and the node agent read.
import type {
  V1Container,
  V1NodeSelector,
  V1NodeSelectorRequirement,
  V1NodeSelectorTerm,
  V1NodeSpec,
  V1NodeStatus,
  V1PersistentVolumeClaimSpec,
  V1PersistentVolumeClaimStatus,
  V1PersistentVolumeSpec,
  V1PersistentVolumeStatus,
  V1PodCondition,
  V1PodSpec,
  V1PodStatus,
  V1PreferredSchedulingTerm,
  V1StorageClass,
  V1Taint,
  V1Toleration,
} from '@kubernetes/client-node';
import type { KubeObject } from '../registry/types.ts';

/** A client-node model as JSON: Date → string, recursively. */
export type Wire<T> = T extends Date
  ? string
  : T extends (infer U)[]
    ? Wire<U>[]
    : T extends object
      ? { [K in keyof T]: Wire<T[K]> }
      : T;

export type PodSpec = Wire<V1PodSpec>;
export type PodStatus = Wire<V1PodStatus>;
export type PodCondition = Wire<V1PodCondition>;
export type Container = Wire<V1Container>;
export type NodeSpec = Wire<V1NodeSpec>;
export type NodeStatus = Wire<V1NodeStatus>;
export type Taint = Wire<V1Taint>;
export type Toleration = Wire<V1Toleration>;
export type NodeSelector = Wire<V1NodeSelector>;
export type NodeSelectorTerm = Wire<V1NodeSelectorTerm>;
export type NodeSelectorRequirement = Wire<V1NodeSelectorRequirement>;
export type PreferredSchedulingTerm = Wire<V1PreferredSchedulingTerm>;
export type PersistentVolumeSpec = Wire<V1PersistentVolumeSpec>;
export type PersistentVolumeStatus = Wire<V1PersistentVolumeStatus>;
export type PersistentVolumeClaimSpec = Wire<V1PersistentVolumeClaimSpec>;
export type PersistentVolumeClaimStatus = Wire<V1PersistentVolumeClaimStatus>;

/** A core/v1 Pod as the API serves it (spec may be missing from partial objects). */
export type Pod = KubeObject & { spec?: PodSpec; status?: PodStatus };
/** A core/v1 Node as the API serves it. */
export type Node = KubeObject & { spec?: NodeSpec; status?: NodeStatus };
/** A core/v1 PersistentVolume as the API serves it. */
export type PersistentVolume = KubeObject & { spec?: PersistentVolumeSpec; status?: PersistentVolumeStatus };
/** A core/v1 PersistentVolumeClaim as the API serves it. */
export type PersistentVolumeClaim = KubeObject & { spec?: PersistentVolumeClaimSpec; status?: PersistentVolumeClaimStatus };
/** A storage.k8s.io/v1 StorageClass as the API serves it. */
export type StorageClass = KubeObject & Wire<Omit<V1StorageClass, 'apiVersion' | 'kind' | 'metadata'>>;

/** The annotation that tells a provisioner which node a WaitForFirstConsumer claim's pod went to. */
export const ANN_SELECTED_NODE = 'volume.kubernetes.io/selected-node';

/** A time as metav1.Time serializes it: RFC 3339 with whole seconds. */
export function rfc3339(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}
