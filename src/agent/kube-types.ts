// Kubernetes object shapes the node agent works with, as they travel on the wire (JSON):
// the @kubernetes/client-node model types with their Date fields as RFC 3339 strings.
import type {
  V1Container,
  V1ContainerState,
  V1ContainerStatus,
  V1EnvVar,
  V1PodCondition,
  V1PodSpec,
  V1PodStatus,
  V1Probe,
  V1Volume,
  V1LifecycleHandler,
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
export type Container = Wire<V1Container>;
export type ContainerStatusApi = Wire<V1ContainerStatus>;
export type ContainerStateApi = Wire<V1ContainerState>;
export type PodCondition = Wire<V1PodCondition>;
export type EnvVar = Wire<V1EnvVar>;
export type Volume = Wire<V1Volume>;
export type Probe = Wire<V1Probe>;
export type LifecycleHandler = Wire<V1LifecycleHandler>;

/** A core/v1 Pod as the API serves it. */
export type Pod = KubeObject & { spec: PodSpec; status?: PodStatus };

/** Every container of a pod spec, init containers first. */
export function allContainers(spec: PodSpec): Container[] {
  return [...(spec.initContainers ?? []), ...(spec.containers ?? [])];
}
