// The Kubernetes object shapes the scheduler reads (shared with the other components: see
// src/client/types.ts), and the scheduler's own names.
export type {
  Wire,
  PodSpec,
  PodStatus,
  PodCondition,
  Container,
  NodeSpec,
  NodeStatus,
  Taint,
  Toleration,
  NodeSelector,
  NodeSelectorTerm,
  NodeSelectorRequirement,
  PreferredSchedulingTerm,
  Pod,
  Node,
  PersistentVolume,
  PersistentVolumeClaim,
  StorageClass,
} from '../client/types.ts';
export { ANN_SELECTED_NODE } from '../client/types.ts';

export const DEFAULT_SCHEDULER_NAME = 'default-scheduler';

/** Taint keys the scheduler knows by name. */
export const TAINT_NODE_UNSCHEDULABLE = 'node.kubernetes.io/unschedulable';
