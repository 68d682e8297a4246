// The garbage collector's decisions, as a pure function of plain metadata: what to do with one
// object given the state of its owners and the list of its dependents. The acting layer
// (controller.ts) gathers the inputs from its graph and live GETs and carries the actions out.
//
// The semantics are Kubernetes' (pkg/controller/garbagecollector):
// - An object whose deletion is being held by the `orphan` finalizer first removes its reference
//   from every dependent, then drops the finalizer (the API then removes it).
// - An object in foreground deletion (deletionTimestamp + `foregroundDeletion`) has its dependents
//   processed (each decides for itself, below) and drops the finalizer once no dependent whose
//   reference to it has blockOwnerDeletion=true remains.
// - Any other object being deleted is left alone.
// - An object with owner references classifies each one: dangling (the owner is absent, or a
//   different object — other uid — now has its name), waiting (the owner is in foreground
//   deletion) or solid (present). Then:
//     · some solid owner → remove the dangling and waiting references (if any) and keep it;
//     · no solid owner, some owner waiting, and the object has dependents of its own → delete it
//       in the foreground (so its own dependents go first and the waiting owner keeps waiting);
//       if one of those dependents is itself in foreground deletion, first make the object's
//       references non-blocking, to break a potential cycle;
//     · otherwise → delete it, honouring a propagation finalizer it already carries (orphan →
//       Orphan, foregroundDeletion → Foreground), Background by default.
import type { OwnerReference } from '../../registry/types.ts';

export const FOREGROUND_FINALIZER = 'foregroundDeletion';
export const ORPHAN_FINALIZER = 'orphan';

export type PropagationPolicy = 'Background' | 'Foreground' | 'Orphan';

/** The metadata the decision reads of one object. */
export interface GcObjectMeta {
  uid: string;
  ownerReferences?: readonly OwnerReference[];
  finalizers?: readonly string[];
  deletionTimestamp?: string;
}

/**
 * What is known of the owner one ownerReference names (looked up by the reference's
 * apiVersion/kind/name, in the dependent's namespace for a namespaced owner).
 * - absent: no such object (verified with a live GET; a namespaced owner is looked for only in
 *   the dependent's namespace, so a cross-namespace reference is absent);
 * - present: an object with that name exists; `uid` may differ from the reference's (the owner
 *   was deleted and recreated), which makes the reference dangling;
 * - unknown: the reference cannot be resolved (a kind the server does not serve, or a
 *   cluster-scoped dependent naming a namespaced owner); it is kept and treated as solid, so
 *   nothing is deleted on a guess (Kubernetes does not collect such objects either).
 */
export type OwnerState =
  | { state: 'absent' }
  | { state: 'present'; uid: string; deletingDependents?: boolean }
  | { state: 'unknown' };

/** One dependent of the object, seen from the object. */
export interface DependentInfo {
  uid: string;
  /** blockOwnerDeletion of the dependent's reference to this object. */
  blockOwnerDeletion: boolean;
  /** The dependent has a deletionTimestamp. */
  beingDeleted: boolean;
  /** The dependent is itself in foreground deletion (deletionTimestamp + foregroundDeletion). */
  deletingDependents: boolean;
}

export interface GcInput {
  object: GcObjectMeta;
  /** Owner state by ownerReference uid; a reference missing here counts as unknown. */
  owners: ReadonlyMap<string, OwnerState> | Readonly<Record<string, OwnerState>>;
  /** Objects whose ownerReferences name this object's uid. */
  dependents: readonly DependentInfo[];
}

export type GcAction =
  /** Delete the object (with preconditions on its uid). */
  | { type: 'delete'; propagationPolicy: PropagationPolicy }
  /** Remove these references (by owner uid) from the object's ownerReferences. */
  | { type: 'removeOwnerReferences'; uids: string[] }
  /** Set blockOwnerDeletion=false on every ownerReference of the object that blocks. */
  | { type: 'unblockOwnerReferences' }
  /** Remove the reference to this object from a dependent's ownerReferences. */
  | { type: 'orphanDependent'; dependentUid: string }
  /** Have a dependent decide for itself (its owner is in foreground deletion). */
  | { type: 'processDependent'; dependentUid: string }
  /** Remove a finalizer from the object (the API removes an object whose last finalizer goes). */
  | { type: 'removeFinalizer'; finalizer: typeof ORPHAN_FINALIZER | typeof FOREGROUND_FINALIZER };

export type ReferenceClass = 'solid' | 'dangling' | 'waiting';

export function hasFinalizer(meta: Pick<GcObjectMeta, 'finalizers'>, f: string): boolean {
  return (meta.finalizers ?? []).includes(f);
}

export function isBeingDeleted(meta: Pick<GcObjectMeta, 'deletionTimestamp'>): boolean {
  return typeof meta.deletionTimestamp === 'string' && meta.deletionTimestamp !== '';
}

/** In foreground deletion: marked for deletion and held by the foregroundDeletion finalizer. */
export function isDeletingDependents(meta: Pick<GcObjectMeta, 'deletionTimestamp' | 'finalizers'>): boolean {
  return isBeingDeleted(meta) && hasFinalizer(meta, FOREGROUND_FINALIZER);
}

/** Held for orphaning: marked for deletion and held by the orphan finalizer. */
export function isOrphaning(meta: Pick<GcObjectMeta, 'deletionTimestamp' | 'finalizers'>): boolean {
  return isBeingDeleted(meta) && hasFinalizer(meta, ORPHAN_FINALIZER);
}

function ownerStateOf(owners: GcInput['owners'], uid: string): OwnerState {
  const s = owners instanceof Map ? owners.get(uid) : (owners as Readonly<Record<string, OwnerState>>)[uid];
  return s ?? { state: 'unknown' };
}

/** The class of one reference given its owner's state. */
export function classifyReference(ref: Pick<OwnerReference, 'uid'>, owner: OwnerState): ReferenceClass {
  switch (owner.state) {
    case 'absent':
      return 'dangling';
    case 'unknown':
      return 'solid';
    case 'present':
      if (owner.uid !== ref.uid) return 'dangling';
      return owner.deletingDependents ? 'waiting' : 'solid';
  }
}

/** The object's references split by class (each owner uid once, in reference order). */
export function classifyReferences(object: GcObjectMeta, owners: GcInput['owners']): Record<ReferenceClass, string[]> {
  const out: Record<ReferenceClass, string[]> = { solid: [], dangling: [], waiting: [] };
  const seen = new Set<string>();
  for (const ref of object.ownerReferences ?? []) {
    if (seen.has(ref.uid)) continue;
    seen.add(ref.uid);
    out[classifyReference(ref, ownerStateOf(owners, ref.uid))].push(ref.uid);
  }
  return out;
}

/** Dependents that keep an owner in foreground deletion from going. */
export function blockingDependents(dependents: readonly DependentInfo[]): DependentInfo[] {
  return dependents.filter((d) => d.blockOwnerDeletion);
}

/** What the garbage collector should do with this object now ([] = nothing). */
export function decide(input: GcInput): GcAction[] {
  const { object, dependents } = input;
  const actions: GcAction[] = [];

  if (isBeingDeleted(object)) {
    const orphaning = hasFinalizer(object, ORPHAN_FINALIZER);
    const foreground = hasFinalizer(object, FOREGROUND_FINALIZER);
    if (orphaning) {
      for (const d of dependents) actions.push({ type: 'orphanDependent', dependentUid: d.uid });
      actions.push({ type: 'removeFinalizer', finalizer: ORPHAN_FINALIZER });
      // The dependents no longer belong to it: nothing is left for foreground deletion to wait for.
      if (foreground) actions.push({ type: 'removeFinalizer', finalizer: FOREGROUND_FINALIZER });
      return actions;
    }
    if (foreground) {
      for (const d of dependents) {
        if (!d.beingDeleted) actions.push({ type: 'processDependent', dependentUid: d.uid });
      }
      if (blockingDependents(dependents).length === 0) actions.push({ type: 'removeFinalizer', finalizer: FOREGROUND_FINALIZER });
      return actions;
    }
    // Being deleted for other reasons (its own finalizers, a pod's grace period): not ours.
    return actions;
  }

  if ((object.ownerReferences ?? []).length === 0) return actions;
  const { solid, dangling, waiting } = classifyReferences(object, input.owners);

  if (solid.length > 0) {
    // A waiting reference must go too, or its owner would wait for this object forever.
    const remove = [...dangling, ...waiting];
    if (remove.length > 0) actions.push({ type: 'removeOwnerReferences', uids: remove });
    return actions;
  }

  if (waiting.length > 0 && dependents.length > 0) {
    if (dependents.some((d) => d.deletingDependents)) actions.push({ type: 'unblockOwnerReferences' });
    actions.push({ type: 'delete', propagationPolicy: 'Foreground' });
    return actions;
  }

  const policy: PropagationPolicy = hasFinalizer(object, ORPHAN_FINALIZER) ? 'Orphan' : hasFinalizer(object, FOREGROUND_FINALIZER) ? 'Foreground' : 'Background';
  actions.push({ type: 'delete', propagationPolicy: policy });
  return actions;
}

/** The ownerReferences left once the references to these owner uids are removed. */
export function withoutOwnerReferences(refs: readonly OwnerReference[] | undefined, uids: Iterable<string>): OwnerReference[] {
  const drop = new Set(uids);
  return (refs ?? []).filter((r) => !drop.has(r.uid));
}

/** The ownerReferences with blockOwnerDeletion cleared wherever it was true. */
export function unblockedOwnerReferences(refs: readonly OwnerReference[] | undefined): OwnerReference[] {
  return (refs ?? []).map((r) => (r.blockOwnerDeletion === true ? { ...r, blockOwnerDeletion: false } : { ...r }));
}

/** The finalizers left once `finalizer` is removed. */
export function withoutFinalizer(finalizers: readonly string[] | undefined, finalizer: string): string[] {
  return (finalizers ?? []).filter((f) => f !== finalizer);
}
