// The contract between the node agent's pod workers and the probe engineer's ProbeManager
// (src/agent/probes.ts): the agent tells the manager when containers start and stop, asks it
// for readiness/startup results when it builds a pod status, and gets called back when a
// liveness (or startup) probe gives up on a container, or when a result changes.
import type { Clock } from '../client/clock.ts';
import type { Logger } from '../util/log.ts';
import type { EventRecorder } from './events.ts';
import type { Pod } from './kube-types.ts';
import type { Runtime } from './runtime/types.ts';

export interface ProbeManager {
  /**
   * A container is running (just started, or adopted after an agent restart): start its
   * startup, liveness and readiness probes as the pod spec defines them. Calling it again for
   * the same containerId does nothing; a new containerId for the same container name replaces
   * the earlier probes (and their results).
   */
  start(pod: Pod, containerName: string, containerId: string): void;
  /** Stop probing one container (it exited, or the agent is killing it). Its results are dropped. */
  stop(podUid: string, containerName: string): void;
  /** Stop every probe of a pod (it is being deleted). */
  removePod(podUid: string): void;
  /**
   * The readiness of a running container: the readiness probe's last result (false before
   * the first success and while the startup probe has not succeeded); true when the container
   * has no readiness probe. undefined when the container is not being probed (not started).
   */
  readiness(podUid: string, containerName: string): boolean | undefined;
  /**
   * Whether the startup probe has succeeded (true at once when there is none); undefined when
   * the container is not being probed.
   */
  started(podUid: string, containerName: string): boolean | undefined;
  /** Stop every probe. */
  close(): Promise<void>;
}

export interface ProbeManagerDeps {
  /** For exec probes (execSync with the probe's timeoutSeconds). */
  runtime: Runtime;
  /** For Unhealthy and ProbeWarning events (source kubelet). */
  recorder: EventRecorder;
  logger: Logger;
  /** The pod's IP: the default host of httpGet and tcpSocket probes (undefined until known). */
  podIP(podUid: string): string | undefined;
  /**
   * A liveness or startup probe failed failureThreshold times in a row. The agent records
   * Killing with `message` (Kubernetes words it `Container web failed liveness probe, will be
   * restarted`), stops the container with the pod's grace period, and restarts it per the
   * restartPolicy (with back-off). The manager should stop probing that containerId itself.
   */
  onLivenessFailure(podUid: string, containerName: string, containerId: string, message: string): void;
  /** A readiness or startup result flipped: the agent rewrites the pod's status soon. */
  onResultChange(podUid: string): void;
  clock?: Clock;
}

/** How the agent makes its ProbeManager (probes.ts exports one of these). */
export type ProbeManagerFactory = (deps: ProbeManagerDeps) => ProbeManager;
