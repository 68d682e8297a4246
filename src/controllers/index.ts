// The controllers `kennel up` and `kennel server` run under the controller-manager Lease.
import type { ControllerFactory } from './manager.ts';
import { startGarbageCollector } from './gc/index.ts';
import { statefulSetController } from './statefulset/controller.ts';
import { daemonSetController } from './daemonset/controller.ts';
import { jobController } from './job/controller.ts';
import { cronJobController } from './cronjob/controller.ts';
import { deploymentController } from './deployment/controller.ts';
import { replicaSetController, replicationControllerController } from './replicaset/controller.ts';
import { serviceAccountsController } from './serviceaccounts.ts';
import { nodeLifecycleControllerWith } from './nodelifecycle/controller.ts';
import { endpointsController, endpointSliceController } from './endpoints/index.ts';
import { localPathProvisioner, volumeBinderController } from './volumes/index.ts';
import { disruptionController } from './disruption/controller.ts';

export const garbageCollector: ControllerFactory = {
  name: 'garbage-collector',
  start: (ctx) => startGarbageCollector({ client: ctx.client, registry: ctx.registry, logger: ctx.logger }),
};

// Force-deleting a dead node's StatefulSet pods is only safe once the agents fence themselves
// (stop their pods when their lease would expire); until the agent does, it stays off and a dead
// node's pods wait, as in Kubernetes.
const nodeLifecycle = nodeLifecycleControllerWith({ replaceFencedPods: false });

export function builtinControllers(): ControllerFactory[] {
  return [garbageCollector, serviceAccountsController, endpointsController, endpointSliceController, statefulSetController, daemonSetController, jobController, cronJobController, replicaSetController, replicationControllerController, deploymentController, volumeBinderController, localPathProvisioner, nodeLifecycle, disruptionController];
}
