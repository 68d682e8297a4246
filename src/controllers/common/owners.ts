// Owners (a StatefulSet, a DaemonSet) and their dependents (pods, ControllerRevisions):
// - which owner a change of a dependent concerns, as Kubernetes' getPodStatefulSets /
//   getDaemonSetsForPod decide: the object's controller when the reference names an owner of
//   that kind whose uid still matches; an orphan concerns every owner of its namespace that may
//   adopt it;
// - the writes both workload controllers make for their history and their dependents'
//   ownership (adopting and releasing with a uid precondition).
import { isNotFound, objectKey, splitApiVersion, type KubeClient } from '../../client/rest.ts';
import type { EventHandler } from '../../client/informer.ts';
import type { KubeObject, OwnerReference } from '../../registry/types.ts';
import { PODS, REVISIONS } from './resources.ts';

/** Where owners are looked up (an informer). */
export interface OwnerLookup {
  get(namespace: string, name: string): KubeObject | undefined;
  listByNamespace(namespace: string): KubeObject[];
}

export interface OwnerKind {
  group: string;
  kind: string;
}

/** Whether an ownerReference names an object of the owner kind (any version of its group). */
export function refersTo(ref: { apiVersion: string; kind: string }, owner: OwnerKind): boolean {
  return ref.kind === owner.kind && splitApiVersion(ref.apiVersion).group === owner.group;
}

/** The owner a reference names, if it still exists with the referenced uid. */
export function referencedOwner(owners: OwnerLookup, namespace: string, ref: OwnerReference): KubeObject | undefined {
  const owner = owners.get(namespace, ref.name);
  return owner && owner.metadata.uid === ref.uid ? owner : undefined;
}

/** Keys of the owners a dependent concerns: its controller (ref), or — an orphan — every owner
 *  of its namespace that mayAdopt it. */
export function ownerKeysOf(obj: KubeObject, ref: OwnerReference | undefined, owners: OwnerLookup, kind: OwnerKind, mayAdopt: (owner: KubeObject) => boolean): string[] {
  const ns = obj.metadata.namespace ?? '';
  if (ref) {
    if (!refersTo(ref, kind)) return [];
    const owner = referencedOwner(owners, ns, ref);
    return owner ? [objectKey(owner)] : [];
  }
  return owners
    .listByNamespace(ns)
    .filter(mayAdopt)
    .map((o) => objectKey(o));
}

/** Informer handlers for a dependent kind: enqueue the owners each change concerns (an update:
 *  those of the old and of the new object, once each). */
export function enqueueOwnersOf(ownerKeys: (obj: KubeObject) => string[], enqueue: (key: string) => void): EventHandler {
  const add = (keys: string[]): void => keys.forEach((k) => enqueue(k));
  return {
    onAdd: (o) => add(ownerKeys(o)),
    onUpdate: (old, cur) => add([...new Set([...ownerKeys(old), ...ownerKeys(cur)])]),
    onDelete: (o) => add(ownerKeys(o)),
  };
}

/** The actions on history and ownership the StatefulSet and DaemonSet algorithms share. */
export type OwnershipAction =
  | { type: 'createRevision' | 'updateRevision'; object: KubeObject }
  /** Delete the revision (uid precondition when known); NotFound is success. */
  | { type: 'deleteRevision'; name: string; uid?: string }
  /** Patch the object's metadata.ownerReferences, metadata.uid as precondition. */
  | { type: 'adoptPod' | 'releasePod' | 'adoptRevision' | 'releaseRevision'; name: string; uid: string; ownerReferences: OwnerReference[] };

/** Carry out an ownership action in namespace; wrote() gets each object written. */
export async function writeOwnership(
  client: KubeClient,
  namespace: string,
  a: OwnershipAction,
  o: { signal: AbortSignal; wrote(plural: string, written: KubeObject): void },
): Promise<void> {
  const { signal } = o;
  switch (a.type) {
    case 'createRevision':
      o.wrote(REVISIONS.plural, await client.create(REVISIONS, a.object, { signal }));
      return;
    case 'updateRevision':
      o.wrote(REVISIONS.plural, await client.update(REVISIONS, a.object, { signal }));
      return;
    case 'deleteRevision':
      try {
        o.wrote(REVISIONS.plural, await client.delete(REVISIONS, namespace, a.name, { signal, preconditions: a.uid ? { uid: a.uid } : undefined }));
      } catch (e) {
        if (!isNotFound(e)) throw e;
      }
      return;
    default: {
      const res = a.type === 'adoptRevision' || a.type === 'releaseRevision' ? REVISIONS : PODS;
      const patch = { metadata: { uid: a.uid, ownerReferences: a.ownerReferences.length > 0 ? a.ownerReferences : null } };
      o.wrote(res.plural, await client.patch(res, namespace, a.name, patch, 'merge', { signal }));
    }
  }
}
