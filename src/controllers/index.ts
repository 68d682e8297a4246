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
  start: (ctx) => startGarbageCollector({ client: ctx.client, registry: ctx.registry, logger: ctx.logger, informers: ctx.informers }),
};

// A dead node's Terminating StatefulSet pods are force-deleted after lease + margin: the agents
// fence themselves (stop their pods when their lease would expire: src/agent/fencing.ts).
const nodeLifecycleOptions = { replaceFencedPods: true };
const nodeLifecycle = nodeLifecycleControllerWith(nodeLifecycleOptions);

export function builtinControllers(): ControllerFactory[] {
  return [garbageCollector, serviceAccountsController, endpointsController, endpointSliceController, statefulSetController, daemonSetController, jobController, cronJobController, replicaSetController, replicationControllerController, deploymentController, volumeBinderController, localPathProvisioner, nodeLifecycle, disruptionController];
}

/** builtinControllers() with other node lifecycle durations (`kennel up|server
 *  --node-monitor-grace-period`, `--node-fence-margin`). */
export function builtinControllersWith(o: { nodeLifecycle?: { gracePeriodMs?: number; fenceMarginMs?: number } }): ControllerFactory[] {
  if (!o.nodeLifecycle) return builtinControllers();
  const changed = nodeLifecycleControllerWith({ ...nodeLifecycleOptions, ...o.nodeLifecycle });
  return builtinControllers().map((c) => (c === nodeLifecycle ? changed : c));
}
