// PersistentVolumeClaims of a StatefulSet: one per volumeClaimTemplate per ordinal, created
// before the pod and kept for that ordinal for ever; their owner references follow
// persistentVolumeClaimRetentionPolicy as in Kubernetes 1.32 (stateful_set_utils.go:
// isClaimOwnerUpToDate / updateClaimOwnerRefForSetAndPod):
//
//   whenScaled  whenDeleted   owner of the claim of a pod in range | of a condemned pod
//   Retain      Retain        none                                 | none
//   Retain      Delete        the set                              | the set
//   Delete      Retain        none                                 | the pod
//   Delete      Delete        the set                              | the pod
//
// Owners are controller references, so the garbage collector deletes the claim after its owner.
// Claims whose references point at an older set or pod with the same name (a different uid), or
// that another controller manages, are left alone.
//
// Beyond Kubernetes (kubernetes issue 68737): when a template's storage request was raised,
// bound claims with a smaller request are raised to it (the volume layer expands the volume).
import type { KubeObject, OwnerReference } from '../../registry/types.ts';
import { asArray, asRecord, isRecord } from '../../registry/validation.ts';
import { compareQuantities, tryParseQuantity } from '../../registry/quantity.ts';
import {
  SET_API_VERSION,
  SET_KIND,
  claimTemplateName,
  claimTemplatesOf,
  clone,
  inOrdinalRange,
  retentionPolicyOf,
  selectorOf,
  setControllerRef,
  setName,
  setNamespace,
} from './set.ts';
import { claimName, ordinalOf } from './names.ts';

type Obj = Record<string, unknown>;

/** The claim of one template for one ordinal, without owner references. */
export function newClaim(set: KubeObject, template: Obj, ordinal: number): KubeObject {
  const t = clone(template);
  const tmeta = asRecord(t.metadata);
  const labels: Record<string, string> = {
    ...(asRecord(tmeta.labels) as Record<string, string>),
    ...((selectorOf(set)?.matchLabels ?? {}) as Record<string, string>),
  };
  const metadata: KubeObject['metadata'] = {
    name: claimName(set, claimTemplateName(t), ordinal),
    namespace: setNamespace(set),
  };
  if (Object.keys(labels).length > 0) metadata.labels = labels;
  if (isRecord(tmeta.annotations) && Object.keys(tmeta.annotations).length > 0) {
    metadata.annotations = { ...(tmeta.annotations as Record<string, string>) };
  }
  if (Array.isArray(tmeta.finalizers) && tmeta.finalizers.length > 0) metadata.finalizers = [...(tmeta.finalizers as string[])];
  return { apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata, spec: asRecord(t.spec) };
}

/** The controller reference a claim gets to its pod (whenScaled: Delete, pod condemned). */
export function podControllerRef(pod: KubeObject): OwnerReference {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    name: pod.metadata.name ?? '',
    uid: pod.metadata.uid ?? '',
    controller: true,
    blockOwnerDeletion: true,
  };
}

/** Which owners the claims of an ordinal should have under the set's retention policy. */
export function wantedClaimOwners(set: KubeObject, ordinal: number): { set: boolean; pod: boolean } {
  const policy = retentionPolicyOf(set);
  const scaledDown = !inOrdinalRange(set, ordinal);
  return {
    set: policy.whenDeleted === 'Delete' && !(policy.whenScaled === 'Delete' && scaledDown),
    pod: policy.whenScaled === 'Delete' && scaledDown,
  };
}

/**
 * The claims of an ordinal as they should be created: one per template, labels from the
 * template and the selector's matchLabels, owner references per the retention policy (a
 * reference to the pod only when the pod is given and exists, i.e. has a uid).
 */
export function newClaims(set: KubeObject, ordinal: number, pod?: KubeObject): KubeObject[] {
  const templates = claimTemplatesOf(set);
  if (templates.length === 0) return [];
  const owners = wantedClaimOwners(set, ordinal);
  return templates.map((t) => {
    const claim = newClaim(set, t, ordinal);
    const refs: OwnerReference[] = [];
    if (owners.pod && pod?.metadata.uid) refs.push(podControllerRef(pod));
    if (owners.set) refs.push(setControllerRef(set));
    if (refs.length > 0) claim.metadata.ownerReferences = refs;
    return claim;
  });
}

// ---------------------------------------------------------------------------------------------
// Owner references and the retention policy

function refsOf(obj: KubeObject): OwnerReference[] {
  return asArray(obj.metadata.ownerReferences).filter(isRecord) as unknown as OwnerReference[];
}

function matchesSetRef(ref: OwnerReference, set: KubeObject): boolean {
  return ref.apiVersion === SET_API_VERSION && ref.kind === SET_KIND && ref.name === setName(set);
}

function matchesPodRef(ref: OwnerReference, pod: KubeObject): boolean {
  return ref.apiVersion === 'v1' && ref.kind === 'Pod' && ref.name === pod.metadata.name;
}

function hasOwnerRef(claim: KubeObject, uid: string | undefined): boolean {
  return !!uid && refsOf(claim).some((r) => r.uid === uid);
}

/** The first reference naming this set/pod carries another uid: a previous incarnation's. */
function hasStaleRef(claim: KubeObject, matches: (r: OwnerReference) => boolean, uid: string | undefined): boolean {
  const ref = refsOf(claim).find(matches);
  return ref !== undefined && ref.uid !== (uid ?? '');
}

/** Another controller manages the claim (only matters when some policy is Delete). */
export function hasUnexpectedController(claim: KubeObject, set: KubeObject, pod: KubeObject): boolean {
  const policy = retentionPolicyOf(set);
  if (policy.whenScaled === 'Retain' && policy.whenDeleted === 'Retain') return false;
  for (const ref of refsOf(claim)) {
    if (matchesSetRef(ref, set)) {
      if (ref.uid !== set.metadata.uid) return true;
      continue;
    }
    if (matchesPodRef(ref, pod)) {
      if (ref.uid !== pod.metadata.uid) return true;
      continue;
    }
    if (ref.controller === true) return true;
  }
  return false;
}

function hasNonControllerOwner(claim: KubeObject, set: KubeObject, pod: KubeObject): boolean {
  return refsOf(claim).some(
    (r) => (r.uid === set.metadata.uid || (!!pod.metadata.uid && r.uid === pod.metadata.uid)) && r.controller !== true,
  );
}

/** Whether a claim's owner references agree with the retention policy for this pod. */
export function isClaimOwnerUpToDate(claim: KubeObject, set: KubeObject, pod: KubeObject): boolean {
  if (hasStaleRef(claim, (r) => matchesSetRef(r, set), set.metadata.uid) || hasStaleRef(claim, (r) => matchesPodRef(r, pod), pod.metadata.uid)) {
    return true; // managed by an earlier set or pod of the same name: leave it to the GC
  }
  const hasSet = hasOwnerRef(claim, set.metadata.uid);
  const hasPod = hasOwnerRef(claim, pod.metadata.uid);
  if (hasUnexpectedController(claim, set, pod)) return !(hasSet || hasPod);
  if (hasNonControllerOwner(claim, set, pod)) return false;
  const want = wantedClaimOwners(set, ordinalOf(pod));
  return hasSet === want.set && hasPod === want.pod;
}

/** The owner references a claim should have for this pod under the retention policy. */
export function claimOwnerRefsFor(claim: KubeObject, set: KubeObject, pod: KubeObject): OwnerReference[] {
  const unexpected = hasUnexpectedController(claim, set, pod);
  const refs = refsOf(claim).filter((r) => !matchesSetRef(r, set) && !matchesPodRef(r, pod));
  if (unexpected) return refs;
  const want = wantedClaimOwners(set, ordinalOf(pod));
  if (want.pod && pod.metadata.uid) refs.push(podControllerRef(pod));
  if (want.set) refs.push(setControllerRef(set));
  return refs;
}

/**
 * Whether an existing claim must block creating the pod of its ordinal (PodClaimIsStale): with
 * whenScaled: Delete, a claim still owned by an earlier pod of that name is about to be
 * garbage-collected, and the new pod must not start on it.
 */
export function claimIsStale(set: KubeObject, claim: KubeObject, pod: KubeObject): boolean {
  if (retentionPolicyOf(set).whenScaled === 'Retain') return false;
  return hasStaleRef(claim, (r) => matchesPodRef(r, pod), pod.metadata.uid);
}

// ---------------------------------------------------------------------------------------------
// Storage resize (beyond Kubernetes)

export function claimStorage(claim: KubeObject): unknown {
  return asRecord(asRecord(asRecord(claim.spec).resources).requests).storage;
}

export function claimPhase(claim: KubeObject): string {
  const p = asRecord(claim.status).phase;
  return typeof p === 'string' ? p : '';
}

/**
 * The claim with its storage request raised to the template's, when the template asks for more
 * than the claim and the claim is Bound (Kubernetes only lets bound claims grow) and not being
 * deleted; undefined otherwise. Never shrinks a claim.
 */
export function resizedClaim(claim: KubeObject, template: Obj): KubeObject | undefined {
  if (claim.metadata.deletionTimestamp || claimPhase(claim) !== 'Bound') return undefined;
  const want = asRecord(asRecord(asRecord(template.spec).resources).requests).storage;
  const qWant = tryParseQuantity(want);
  const qHave = tryParseQuantity(claimStorage(claim));
  if (!qWant || !qHave || compareQuantities(qWant, qHave) <= 0) return undefined;
  const copy = clone(claim);
  const spec = asRecord(copy.spec);
  const resources = asRecord(spec.resources);
  copy.spec = { ...spec, resources: { ...resources, requests: { ...asRecord(resources.requests), storage: want } } };
  return copy;
}

