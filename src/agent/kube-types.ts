// Kubernetes object shapes the node agent works with, as they travel on the wire (JSON): the
// shared shapes of src/client/types.ts, and the container parts only the agent reads.
import type { V1ContainerState, V1ContainerStatus, V1EnvVar, V1LifecycleHandler, V1Probe, V1Volume } from '@kubernetes/client-node';
import type { KubeObject } from '../registry/types.ts';
import type { Container, PodSpec, PodStatus, Wire } from '../client/types.ts';

export type { Wire, PodSpec, PodStatus, PodCondition, Container } from '../client/types.ts';
export type ContainerStatusApi = Wire<V1ContainerStatus>;
export type ContainerStateApi = Wire<V1ContainerState>;
export type EnvVar = Wire<V1EnvVar>;
export type Volume = Wire<V1Volume>;
export type Probe = Wire<V1Probe>;
export type LifecycleHandler = Wire<V1LifecycleHandler>;

/** A core/v1 Pod as the agent gets it from the API: always with a spec. */
export type Pod = KubeObject & { spec: PodSpec; status?: PodStatus };

/** Every container of a pod spec, init containers first. */
export function allContainers(spec: PodSpec): Container[] {
  return [...(spec.initContainers ?? []), ...(spec.containers ?? [])];
}
