// The node lifecycle controller's writes (see controller.ts for when each is made):
// - node conditions through nodes/{name}/status (PUT with the cached resourceVersion, so an
//   agent's newer report is never overwritten: a conflict just means the next pass decides
//   again on the newer object);
// - the node's taints with a merge patch of spec.taints carrying the resourceVersion it was
//   computed from (the same optimistic concurrency);
// - pod Ready → False through pods/{name}/status; evictions as DELETE with a uid precondition,
//   after the DisruptionTarget condition;
// - force-deletes of fenced pods as DELETE grace 0 with a uid precondition, after a live read of
//   the node's Lease (the agent may be back), the pod's node-bound claims first.
// Each records the Events Kubernetes' node controller records (and kennel's fencing events).
import type { KubeObject } from '../../registry/types.ts';
import { isConflict, isNotFound, type KubeClient } from '../../client/rest.ts';
import { rfc3339, type Node, type Pod, type Taint } from '../../client/types.ts';
import type { Recorder } from '../../client/events.ts';
import type { Logger } from '../../util/log.ts';
import type { ObjectWrites } from '../common/cache-sync.ts';
import { errText } from '../common/errors.ts';
import { NODE_LEASE_NAMESPACE, observeNode, type Lease, type NodeCondition, type NodeHealth } from './health.ts';
import { POD_NODE_NOT_READY_MESSAGE, POD_NODE_NOT_READY_REASON, TAINT_EVICTION_REASON, disruptionCondition, evictionMessage, notReadyConditions, podKey } from './eviction.ts';
import { REASON_NODE_LOST, REASON_VOLUME_RECREATED, REASON_WAITING_FOR_NODE, nodeLostMessage, volumeRecreatedMessage, waitingForNodeMessage, type FencedDeletion } from './fencing.ts';
import { CLAIMS, LEASES, NODES, PODS } from '../common/resources.ts';

/** What the controller's node events are about: the node, with its name as uid, as Kubernetes'
 *  are (kubectl describe node looks for both). */
export function nodeRef(name: string): KubeObject {
  return { apiVersion: 'v1', kind: 'Node', metadata: { name, uid: name } };
}

export function podRef(pod: Pod): KubeObject {
  return { ...pod, apiVersion: 'v1', kind: 'Pod' };
}

export function setRef(set: KubeObject): KubeObject {
  return { ...set, apiVersion: 'apps/v1', kind: 'StatefulSet' };
}

export interface NodeWriterDeps {
  client: KubeClient;
  signal: AbortSignal;
  log: Logger;
  recorder: Recorder;
  /** This controller's writes of nodes (`node/<name>`) and pods (`pod/<uid>`). */
  writes: ObjectWrites;
  /** What the controller remembers of each node (a live Lease read refreshes it). */
  health: Map<string, NodeHealth>;
  /** The monotonic clock durations are measured on. */
  mono: () => number;
  defaultLeaseSeconds: number;
  marginMs: number;
  /** Decide again soon: a write met a newer object. */
  requeue(): void;
}

export class NodeWriter {
  constructor(private readonly d: NodeWriterDeps) {}

  /** Write the node's conditions; undefined when the node changed meanwhile (decided again). */
  async nodeStatus(node: Node, conditions: NodeCondition[]): Promise<Node | undefined> {
    const { client, signal } = this.d;
    const body: Node = {
      apiVersion: 'v1',
      kind: 'Node',
      metadata: { name: node.metadata.name, uid: node.metadata.uid, resourceVersion: node.metadata.resourceVersion },
      spec: node.spec,
      status: { ...(node.status ?? {}), conditions },
    };
    try {
      const out = await client.updateStatus<Node>(NODES, body, { signal });
      this.d.writes.note(`node/${node.metadata.name}`, out);
      return out;
    } catch (e) {
      if (isConflict(e) || isNotFound(e)) {
        this.d.log.debug('node changed meanwhile; deciding again', { node: node.metadata.name });
        this.d.requeue();
        return undefined;
      }
      throw e;
    }
  }

  async taints(name: string, resourceVersion: string | undefined, taints: Taint[]): Promise<void> {
    const patch = { metadata: { resourceVersion }, spec: { taints: taints.length > 0 ? taints : null } };
    try {
      this.d.writes.note(`node/${name}`, await this.d.client.patch(NODES, undefined, name, patch, 'merge', { signal: this.d.signal }));
    } catch (e) {
      if (isConflict(e) || isNotFound(e)) {
        this.d.requeue();
        return;
      }
      throw e;
    }
  }

  async evict(pod: Pod, wallMs: number): Promise<void> {
    const { client, signal, log } = this.d;
    this.d.recorder.event(podRef(pod), 'Normal', TAINT_EVICTION_REASON, evictionMessage(pod));
    log.info('evicting pod from tainted node', { pod: podKey(pod), node: pod.spec?.nodeName });
    const conditions = [...(pod.status?.conditions ?? []).filter((c) => c.type !== 'DisruptionTarget'), disruptionCondition(rfc3339(wallMs))];
    try {
      await client.updateStatus(PODS, { ...pod, apiVersion: 'v1', kind: 'Pod', status: { ...(pod.status ?? {}), conditions } }, { signal });
    } catch (e) {
      if (isNotFound(e)) return;
      log.debug('could not add the DisruptionTarget condition', { pod: podKey(pod), error: errText(e) });
    }
    try {
      await client.delete(PODS, pod.metadata.namespace, pod.metadata.name ?? '', { preconditions: { uid: pod.metadata.uid }, signal });
    } catch (e) {
      if (!isNotFound(e) && !isConflict(e)) throw e;
    }
  }

  async markNotReady(pod: Pod, wallMs: number): Promise<void> {
    const body = { ...pod, apiVersion: 'v1', kind: 'Pod', status: { ...(pod.status ?? {}), conditions: notReadyConditions(pod, rfc3339(wallMs)) } };
    try {
      this.d.writes.note(`pod/${pod.metadata.uid}`, await this.d.client.updateStatus(PODS, body, { signal: this.d.signal }));
    } catch (e) {
      if (isConflict(e)) {
        this.d.requeue();
        return;
      }
      if (isNotFound(e)) return;
      throw e;
    }
    this.d.recorder.event(podRef(pod), 'Warning', POD_NODE_NOT_READY_REASON, POD_NODE_NOT_READY_MESSAGE);
  }

  async forceDelete(node: Node, d: FencedDeletion, decidedFrom: NodeHealth): Promise<void> {
    const { client, signal, log, recorder, health, mono } = this.d;
    const nodeName = node.metadata.name ?? '';
    const pod = d.pod;
    if (d.why === 'lease') {
      // The agent may be back: a live read of its Lease, not the cache, decides.
      let live: Lease | undefined;
      try {
        live = await client.get<Lease>(LEASES, NODE_LEASE_NAMESPACE, nodeName, { signal });
      } catch (e) {
        if (!isNotFound(e)) throw e;
      }
      const current = health.get(nodeName) ?? decidedFrom;
      const after = live ? observeNode(current, node, live, mono()) : current;
      if (after !== decidedFrom) {
        health.set(nodeName, after);
        log.info('node renewed its lease; not deleting its pods', { node: nodeName, pod: podKey(pod) });
        return;
      }
    }
    const set = d.set ? setRef(d.set) : undefined;
    for (const c of d.deleteClaims) {
      try {
        await client.delete(CLAIMS, pod.metadata.namespace, c.name, { preconditions: { uid: c.uid }, signal });
      } catch (e) {
        if (!isNotFound(e) && !isConflict(e)) throw e;
      }
      log.info('deleted the claim of a pod on a lost node', { claim: `${pod.metadata.namespace}/${c.name}`, node: nodeName });
      if (set) recorder.event(set, 'Normal', REASON_VOLUME_RECREATED, volumeRecreatedMessage(c.name, pod.metadata.name ?? '', nodeName));
    }
    try {
      await client.delete(PODS, pod.metadata.namespace, pod.metadata.name ?? '', { gracePeriodSeconds: 0, preconditions: { uid: pod.metadata.uid }, signal });
    } catch (e) {
      if (!isNotFound(e) && !isConflict(e)) throw e;
      return;
    }
    const h = health.get(nodeName) ?? decidedFrom;
    const leaseMs = (h.leaseDurationSeconds ?? this.d.defaultLeaseSeconds) * 1000;
    const message = nodeLostMessage(d, nodeName, mono() - (h.leaseObservedAt ?? mono()), leaseMs, this.d.marginMs);
    log.warn('force-deleted a pod of a lost node', { pod: podKey(pod), node: nodeName, why: d.why });
    recorder.event(podRef(pod), 'Warning', REASON_NODE_LOST, message);
    if (set) {
      recorder.event(set, 'Warning', REASON_NODE_LOST, message);
      if (d.keptClaims.length > 0) recorder.event(set, 'Warning', REASON_WAITING_FOR_NODE, waitingForNodeMessage(d.keptClaims, pod.metadata.name ?? '', nodeName));
    }
  }
}
