// The garbage collector's owner → dependents graph, keyed by uid, built from informer events.
// A node keeps only the metadata the decisions need (name, namespace, resource, owner
// references, finalizers, deletion timestamp; the arrays are shared with the informer's object,
// never copied or mutated). A uid that dependents reference but no informer has reported (yet)
// is a virtual node: only its set of dependents. Applying an event answers the uids whose
// decision may have changed, for the controller to queue.
import type { KubeObject, OwnerReference, ResourceDef } from '../../registry/types.ts';
import { isBeingDeleted, isDeletingDependents, isOrphaning, type DependentInfo } from './decide.ts';

export interface GraphNode {
  uid: string;
  /** False for a virtual node: referenced by dependents, not (or no longer) seen by an informer. */
  observed: boolean;
  /** The resource the object was seen under (observed nodes). */
  def?: ResourceDef;
  name?: string;
  namespace?: string;
  resourceVersion?: string;
  ownerReferences?: readonly OwnerReference[];
  finalizers?: readonly string[];
  deletionTimestamp?: string;
  /** uids of the objects whose ownerReferences name this uid. */
  dependents?: Set<string>;
}

function refsEqual(a: readonly OwnerReference[] | undefined, b: readonly OwnerReference[] | undefined): boolean {
  const x = a ?? [];
  const y = b ?? [];
  if (x.length !== y.length) return false;
  for (let i = 0; i < x.length; i++) {
    const p = x[i];
    const q = y[i];
    if (p.uid !== q.uid || p.name !== q.name || p.kind !== q.kind || p.apiVersion !== q.apiVersion || (p.blockOwnerDeletion === true) !== (q.blockOwnerDeletion === true) || (p.controller === true) !== (q.controller === true)) return false;
  }
  return true;
}

function blocksByOwner(refs: readonly OwnerReference[] | undefined): Map<string, boolean> {
  const m = new Map<string, boolean>();
  for (const r of refs ?? []) {
    if (!r.uid) continue;
    m.set(r.uid, (m.get(r.uid) ?? false) || r.blockOwnerDeletion === true);
  }
  return m;
}

export class OwnerGraph {
  private readonly nodes = new Map<string, GraphNode>();

  get size(): number {
    return this.nodes.size;
  }

  get(uid: string): GraphNode | undefined {
    return this.nodes.get(uid);
  }

  /** Observed dependents of uid. */
  dependentsOf(uid: string): GraphNode[] {
    const n = this.nodes.get(uid);
    const out: GraphNode[] = [];
    for (const d of n?.dependents ?? []) {
      const dn = this.nodes.get(d);
      if (dn?.observed) out.push(dn);
    }
    return out;
  }

  /** The dependents of uid as the decision sees them. */
  dependentInfos(uid: string): DependentInfo[] {
    return this.dependentsOf(uid).map((d) => ({
      uid: d.uid,
      blockOwnerDeletion: (d.ownerReferences ?? []).some((r) => r.uid === uid && r.blockOwnerDeletion === true),
      beingDeleted: isBeingDeleted(d),
      deletingDependents: isDeletingDependents(d),
    }));
  }

  /** An object was added or changed. Answers the uids to (re)process. */
  observe(def: ResourceDef, obj: KubeObject): string[] {
    const m = obj.metadata;
    const uid = m.uid;
    if (!uid) return [];
    let n = this.nodes.get(uid);
    const wasObserved = n?.observed === true;
    const before = wasObserved
      ? { refs: n!.ownerReferences, deletingDependents: isDeletingDependents(n!), orphaning: isOrphaning(n!) }
      : { refs: undefined, deletingDependents: false, orphaning: false };
    if (!n) {
      n = { uid, observed: true };
      this.nodes.set(uid, n);
    }
    n.observed = true;
    n.def = def;
    n.name = m.name;
    n.namespace = m.namespace || undefined;
    n.resourceVersion = m.resourceVersion;
    n.ownerReferences = m.ownerReferences && m.ownerReferences.length > 0 ? m.ownerReferences : undefined;
    n.finalizers = m.finalizers && m.finalizers.length > 0 ? m.finalizers : undefined;
    n.deletionTimestamp = m.deletionTimestamp || undefined;

    const out: string[] = [];
    const oldBlocks = blocksByOwner(before.refs);
    const newBlocks = blocksByOwner(n.ownerReferences);
    for (const [ownerUid, blocked] of oldBlocks) {
      const owner = this.nodes.get(ownerUid);
      if (!owner) continue;
      if (!newBlocks.has(ownerUid)) {
        // No longer a dependent: an owner waiting for it may go now.
        owner.dependents?.delete(uid);
        if (owner.observed && isDeletingDependents(owner)) out.push(ownerUid);
        this.prune(owner);
      } else if (blocked && !newBlocks.get(ownerUid) && owner.observed && isDeletingDependents(owner)) {
        out.push(ownerUid);
      }
    }
    for (const [ownerUid] of newBlocks) {
      if (oldBlocks.has(ownerUid)) continue;
      let owner = this.nodes.get(ownerUid);
      if (!owner) {
        owner = { uid: ownerUid, observed: false };
        this.nodes.set(ownerUid, owner);
      }
      (owner.dependents ??= new Set()).add(uid);
      // An owner that is orphaning its dependents must orphan this one too.
      if (owner.observed && isOrphaning(owner)) out.push(ownerUid);
    }
    // As a dependent: new references (or new to us) may be dangling or name an owner being deleted.
    if (n.ownerReferences && (!wasObserved || !refsEqual(before.refs, n.ownerReferences))) out.push(uid);
    // As an owner: it has just started orphaning or foreground deletion.
    if ((isOrphaning(n) && !before.orphaning) || (isDeletingDependents(n) && !before.deletingDependents)) out.push(uid);
    return out;
  }

  /** An object was deleted. Answers the uids to (re)process: its dependents, and owners waiting for it. */
  forget(obj: KubeObject): string[] {
    const uid = obj.metadata.uid;
    if (!uid) return [];
    const n = this.nodes.get(uid);
    if (!n || !n.observed) return [];
    const out: string[] = [...(n.dependents ?? [])];
    for (const ownerUid of blocksByOwner(n.ownerReferences).keys()) {
      const owner = this.nodes.get(ownerUid);
      if (!owner) continue;
      owner.dependents?.delete(uid);
      if (owner.observed && isDeletingDependents(owner)) out.push(ownerUid);
      this.prune(owner);
    }
    n.observed = false;
    delete n.def;
    delete n.name;
    delete n.namespace;
    delete n.resourceVersion;
    delete n.ownerReferences;
    delete n.finalizers;
    delete n.deletionTimestamp;
    this.prune(n);
    return out;
  }

  /** Drop a virtual node nobody references any more. */
  private prune(n: GraphNode): void {
    if (n.observed) return;
    if (n.dependents && n.dependents.size > 0) return;
    this.nodes.delete(n.uid);
  }
}
