// The scheduler's view of the cluster: one NodeInfo per node with the pods bound to it, plus
// the pods it has *assumed* onto a node — placed by a decision whose binding is in flight or
// whose watch event has not arrived yet. Counting assumed pods at once is what lets a burst of
// pods spread over the nodes without waiting for the API round trip (kube-scheduler's cache
// does the same). An assumed pod is confirmed when the informer shows it bound, and forgotten
// if its binding fails.
import { NodeInfo, podInfoOf, type PodInfo } from './nodeinfo.ts';
import type { Node, Pod } from './types.ts';

function podUid(pod: Pod): string {
  return pod.metadata.uid ?? `${pod.metadata.namespace ?? ''}/${pod.metadata.name ?? ''}`;
}

function isTerminal(pod: Pod): boolean {
  const phase = pod.status?.phase;
  return phase === 'Succeeded' || phase === 'Failed';
}

export class SchedulerCache {
  private readonly nodes = new Map<string, NodeInfo>();
  /** pod uid → the node it is accounted on. */
  private readonly podNode = new Map<string, string>();
  /** uids of assumed pods (not yet seen bound by the informer). */
  private readonly assumed = new Set<string>();
  private list: NodeInfo[] = [];
  private listDirty = true;

  // -- nodes

  /** Add or update a node. */
  setNode(node: Node): void {
    const name = node.metadata.name ?? '';
    const ni = this.nodes.get(name);
    if (ni) {
      if (!ni.node) this.listDirty = true;
      ni.setNode(node);
    } else {
      this.nodes.set(name, new NodeInfo(name, node));
      this.listDirty = true;
    }
  }

  removeNode(name: string): void {
    const ni = this.nodes.get(name);
    if (!ni) return;
    this.listDirty = true;
    // Pods still bound to a deleted node keep being accounted until they go (kube-scheduler keeps
    // a "ghost" NodeInfo); the node itself is no longer a candidate.
    if (ni.pods.size > 0) ni.node = undefined;
    else this.nodes.delete(name);
  }

  getNode(name: string): NodeInfo | undefined {
    return this.nodes.get(name);
  }

  /** The candidate nodes (with a Node object), ordered by name. Do not mutate. */
  nodeInfos(): readonly NodeInfo[] {
    if (this.listDirty) {
      this.list = [...this.nodes.values()].filter((n) => n.node !== undefined).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      this.listDirty = false;
    }
    return this.list;
  }

  // -- pods

  /** A bound pod as the informer shows it (added or updated). Terminal pods are removed. */
  setPod(pod: Pod): void {
    const nodeName = pod.spec?.nodeName;
    const uid = podUid(pod);
    if (!nodeName || isTerminal(pod)) {
      this.removePod(uid);
      return;
    }
    this.assumed.delete(uid);
    const cur = this.podNode.get(uid);
    if (cur === nodeName) {
      // The spec does not change once bound: keep the accounting, refresh the object.
      const pi = this.nodes.get(nodeName)?.pods.get(uid);
      if (pi) {
        pi.pod = pod;
        return;
      }
    }
    this.account(podInfoOf(pod), nodeName);
  }

  /** Remove a pod (deleted, terminal, or an assumption forgotten). */
  removePod(uid: string): PodInfo | undefined {
    const nodeName = this.podNode.get(uid);
    this.assumed.delete(uid);
    if (nodeName === undefined) return undefined;
    this.podNode.delete(uid);
    const ni = this.nodes.get(nodeName);
    const pi = ni?.removePod(uid);
    if (ni && !ni.node && ni.pods.size === 0) this.nodes.delete(nodeName);
    return pi;
  }

  /** Account the pod on nodeName before the API says so. */
  assume(pi: PodInfo, nodeName: string): void {
    this.account(pi, nodeName);
    this.assumed.add(pi.uid);
  }

  /** Drop an assumption (its binding failed). Returns whether it was still assumed. */
  forget(uid: string): boolean {
    if (!this.assumed.has(uid)) return false;
    this.removePod(uid);
    return true;
  }

  isAssumed(uid: string): boolean {
    return this.assumed.has(uid);
  }

  /** The node a pod is accounted on (bound or assumed). */
  nodeOf(uid: string): string | undefined {
    return this.podNode.get(uid);
  }

  get podCount(): number {
    return this.podNode.size;
  }

  get assumedCount(): number {
    return this.assumed.size;
  }

  private account(pi: PodInfo, nodeName: string): void {
    const prev = this.podNode.get(pi.uid);
    if (prev !== undefined && prev !== nodeName) this.removePod(pi.uid);
    let ni = this.nodes.get(nodeName);
    if (!ni) {
      ni = new NodeInfo(nodeName);
      this.nodes.set(nodeName, ni);
    }
    ni.addPod(pi);
    this.podNode.set(pi.uid, nodeName);
  }
}
