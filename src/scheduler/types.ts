// The Kubernetes object shapes the scheduler reads, as they travel on the wire (JSON): the
// @kubernetes/client-node model types with their Date fields as RFC 3339 strings.
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
  V1PodCondition,
  V1PodSpec,
  V1PodStatus,
  V1PreferredSchedulingTerm,
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

/** A core/v1 Pod as the API serves it. */
export type Pod = KubeObject & { spec?: PodSpec; status?: PodStatus };
/** A core/v1 Node as the API serves it. */
export type Node = KubeObject & { spec?: NodeSpec; status?: NodeStatus };
export type PersistentVolume = KubeObject & { spec?: Wire<V1PersistentVolumeSpec> };
export type PersistentVolumeClaim = KubeObject & { spec?: Wire<V1PersistentVolumeClaimSpec>; status?: Wire<V1PersistentVolumeClaimStatus> };
export type StorageClass = KubeObject & { provisioner?: string; volumeBindingMode?: string };

export const DEFAULT_SCHEDULER_NAME = 'default-scheduler';

/** Taint keys the scheduler knows by name. */
export const TAINT_NODE_UNSCHEDULABLE = 'node.kubernetes.io/unschedulable';

/** The annotation that tells a provisioner which node a WaitForFirstConsumer claim's pod went to. */
export const ANN_SELECTED_NODE = 'volume.kubernetes.io/selected-node';
