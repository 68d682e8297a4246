// The PersistentVolume binder's decisions: Kubernetes' PV controller (syncClaim, syncVolume,
// bind, unbindVolume, reclaimVolume in pkg/controller/volume/persistentvolume/pv_controller.go)
// as pure functions. Given a claim or a volume and a view of the caches, they answer the writes
// to make (in order: each write of an object builds on the previous one), the events to record
// and the claims to look at next. binder-controller.ts carries them out.
//
// Phases. A claim is Pending until bound, Bound once both sides point at each other, and Lost
// when the volume it was bound to goes away (or is bound to another claim). A volume is
// Available while free (or reserved for a claim by a claimRef without uid), Bound while its
// claim is bound to it, Released once that claim is gone, and Failed when its reclaim policy
// cannot be carried out.
//
// Binding (bind): the volume gets spec.claimRef (kind, namespace, name, uid, resourceVersion of
// the claim) and, when the binder chose it, the annotation pv.kubernetes.io/bound-by-controller;
// its phase becomes Bound. The claim gets spec.volumeName (plus bound-by-controller when the
// binder chose the volume) and pv.kubernetes.io/bind-completed; its status becomes Bound with the
// volume's access modes and (when it becomes Bound) capacity.
//
// Claims without a volume (syncUnboundClaim):
// - a volume is looked for (matching.ts findBestMatch); found → bind;
// - none, and the claim names no class at all → the default StorageClass is written into
//   spec.storageClassName (Kubernetes' retroactive default class assignment, GA in 1.28);
// - none, class WaitForFirstConsumer, no volume.kubernetes.io/selected-node yet → Pending with
//   a WaitForFirstConsumer event ("waiting for first consumer to be created before binding");
// - none, the claim names a class → provisioning is asked for: the annotations
//   volume.kubernetes.io/storage-provisioner (and the beta one) name the class's provisioner,
//   with an ExternalProvisioning event; the provisioner creates a volume pre-bound to the claim,
//   which the next sync binds. A missing class is a ProvisioningFailed warning;
// - none, no class → Pending, FailedBinding "no persistent volumes available for this claim
//   and no storage class is set".
// Claims naming a volume in spec.volumeName bind to it when it is free and fits (else a
// VolumeMismatch warning), finish a binding the volume already has, or wait while the volume
// is bound to another claim (FailedBinding).
//
// kennel differs from Kubernetes in one place: for a WaitForFirstConsumer claim that has a
// selected node, Kubernetes' scheduler has already chosen (and pre-bound) any existing volume;
// kennel's scheduler only writes the annotation, so the binder looks for a free volume usable
// on that node (node affinity) before asking for provisioning.
//
// Volumes whose claim is gone (syncVolume): Released, then the reclaim policy: Retain keeps the
// volume Released (an administrator removes the claimRef to reuse it, or deletes it); Delete
// leaves volumes that carry pv.kubernetes.io/provisioned-by to their provisioner (which deletes
// them) and fails any other (VolumeFailedDelete: no plugin can delete a static volume);
// Recycle is not supported (VolumeFailedRecycle).
import type { KubeObject } from '../../registry/types.ts';
import { compareQuantities, tryParseQuantity } from '../../registry/quantity.ts';
import {
  ANN_BETA_STORAGE_PROVISIONER,
  ANN_BIND_COMPLETED,
  ANN_BOUND_BY_CONTROLLER,
  ANN_PROVISIONED_BY,
  ANN_SELECTED_NODE,
  ANN_STORAGE_PROVISIONER,
  type ClaimPhase,
  type NodeObject,
  type PersistentVolume,
  type PersistentVolumeClaim,
  type StorageClass,
  type VolumePhase,
} from './types.ts';
import {
  claimClass,
  claimHasClass,
  defaultClassOf,
  findBestMatch,
  isVolumeBoundToClaim,
  volumeMismatch,
  volumeModeOf,
} from './matching.ts';

/** What the decisions read: the binder's caches (plus the time, for phase transitions). */
export interface BinderView {
  volume(name: string): PersistentVolume | undefined;
  volumes(): Iterable<PersistentVolume>;
  claim(namespace: string, name: string): PersistentVolumeClaim | undefined;
  storageClass(name: string): StorageClass | undefined;
  storageClasses(): Iterable<StorageClass>;
  node(name: string): NodeObject | undefined;
  /** RFC 3339, for status.lastPhaseTransitionTime. */
  now: string;
}

export type BinderResource = 'persistentvolumes' | 'persistentvolumeclaims';

/** One write: `update` (metadata and spec) or `updateStatus`, of the whole new object. */
export interface Write {
  op: 'update' | 'updateStatus';
  resource: BinderResource;
  object: KubeObject;
  /** For logs and tests: what the write does. */
  what: string;
}

export interface BinderEvent {
  object: KubeObject;
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
}

export interface Decision {
  writes: Write[];
  events: BinderEvent[];
  /** Claim keys (`namespace/name`) to sync next. */
  enqueueClaims: string[];
  /** A state the binder cannot fix (logged; the key is not retried). */
  problem?: string;
}

const YES = 'yes';

export const MSG_WAIT_FOR_CONSUMER = 'waiting for first consumer to be created before binding';
export const MSG_NO_CLASS = 'no persistent volumes available for this claim and no storage class is set';
export const MSG_LOST_REFERENCE = 'Bound claim has lost reference to PersistentVolume. Data on the volume is lost!';
export const MSG_LOST_VOLUME = 'Bound claim has lost its PersistentVolume. Data on the volume is lost!';
export const MSG_MISBOUND = 'Two claims are bound to the same volume, this one is bound incorrectly';

export function externalProvisioningMessage(provisioner: string): string {
  return `Waiting for a volume to be created either by the external provisioner '${provisioner}' or manually by the system administrator. If volume creation is delayed, please verify that the provisioner is running and correctly registered.`;
}

export function failedDeleteMessage(volumeName: string): string {
  return `error getting deleter volume plugin for volume "${volumeName}": no deletable volume plugin matched`;
}

export const MSG_NO_RECYCLER = 'No recycler plugin found for the volume!';

function clone<T>(v: T): T {
  return JSON.parse(JSON.stringify(v)) as T;
}

function key(o: KubeObject): string {
  return `${o.metadata.namespace ?? ''}/${o.metadata.name ?? ''}`;
}

function empty(): Decision {
  return { writes: [], events: [], enqueueClaims: [] };
}

function hasAnn(o: KubeObject, name: string): boolean {
  return o.metadata.annotations?.[name] !== undefined;
}

function setAnn(o: KubeObject, name: string, value: string): void {
  o.metadata.annotations = { ...(o.metadata.annotations ?? {}), [name]: value };
}

// ---------------------------------------------------------------------------------------------
// Status helpers

/** updateVolumePhase: the volume with its new phase, or undefined when it already has it. */
export function withVolumePhase(volume: PersistentVolume, phase: VolumePhase, message: string, now: string): PersistentVolume | undefined {
  if (volume.status?.phase === phase) return undefined;
  const v = clone(volume);
  const status = { ...(v.status ?? {}) };
  status.phase = phase;
  if (message) status.message = message;
  else delete status.message;
  status.lastPhaseTransitionTime = now;
  v.status = status;
  return v;
}

/**
 * updateClaimStatus: the claim with its new phase, access modes and capacity, or undefined when
 * nothing changes. Without a volume (Pending, Lost) access modes and capacity are cleared; with
 * one, access modes follow the volume and capacity is copied when the claim becomes Bound (a
 * later difference may be deliberate: an expansion in progress).
 */
export function withClaimStatus(claim: PersistentVolumeClaim, phase: ClaimPhase, volume: PersistentVolume | undefined): PersistentVolumeClaim | undefined {
  const c = clone(claim);
  const status = { ...(c.status ?? {}) };
  let dirty = false;
  if (status.phase !== phase) {
    status.phase = phase;
    dirty = true;
  }
  if (!volume) {
    if (status.accessModes !== undefined) {
      delete status.accessModes;
      dirty = true;
    }
    if (status.capacity !== undefined) {
      delete status.capacity;
      dirty = true;
    }
  } else {
    const modes = volume.spec?.accessModes ?? [];
    if (JSON.stringify(status.accessModes ?? null) !== JSON.stringify(modes)) {
      status.accessModes = [...modes];
      dirty = true;
    }
    if (claim.status?.phase !== phase) {
      const volCap = tryParseQuantity(volume.spec?.capacity?.storage);
      const claimCap = tryParseQuantity(status.capacity?.storage);
      if (volCap && (!claimCap || compareQuantities(volCap, claimCap) !== 0)) {
        status.capacity = { ...(volume.spec?.capacity ?? {}) };
        dirty = true;
      }
    }
  }
  if (!dirty) return undefined;
  c.status = status;
  return c;
}

function claimStatusWrite(d: Decision, claim: PersistentVolumeClaim, phase: ClaimPhase, volume: PersistentVolume | undefined): void {
  const c = withClaimStatus(claim, phase, volume);
  if (c) d.writes.push({ op: 'updateStatus', resource: 'persistentvolumeclaims', object: c, what: `claim ${key(claim)} phase ${phase}` });
}

function volumePhaseWrite(d: Decision, volume: PersistentVolume, phase: VolumePhase, now: string, message = ''): PersistentVolume {
  const v = withVolumePhase(volume, phase, message, now);
  if (!v) return volume;
  d.writes.push({ op: 'updateStatus', resource: 'persistentvolumes', object: v, what: `volume ${volume.metadata.name} phase ${phase}` });
  return v;
}

// ---------------------------------------------------------------------------------------------
// Binding

/** GetBindVolumeToClaim: the volume pointing at the claim, or undefined when it already does. */
export function volumeBoundToClaim(volume: PersistentVolume, claim: PersistentVolumeClaim): PersistentVolume | undefined {
  const ref = volume.spec?.claimRef;
  const setByController = !isVolumeBoundToClaim(volume, claim);
  const v = clone(volume);
  let dirty = false;
  if (!ref || ref.name !== claim.metadata.name || (ref.namespace ?? '') !== (claim.metadata.namespace ?? '') || ref.uid !== claim.metadata.uid) {
    v.spec = { ...(v.spec ?? {}) };
    v.spec.claimRef = {
      kind: 'PersistentVolumeClaim',
      namespace: claim.metadata.namespace,
      name: claim.metadata.name,
      uid: claim.metadata.uid,
      apiVersion: 'v1',
      resourceVersion: claim.metadata.resourceVersion,
    };
    dirty = true;
  }
  if (setByController && !hasAnn(v, ANN_BOUND_BY_CONTROLLER)) {
    setAnn(v, ANN_BOUND_BY_CONTROLLER, YES);
    dirty = true;
  }
  return dirty ? v : undefined;
}

/** bindClaimToVolume: the claim pointing at the volume, or undefined when it already does. */
export function claimBoundToVolume(claim: PersistentVolumeClaim, volume: PersistentVolume): PersistentVolumeClaim | undefined {
  const c = clone(claim);
  let dirty = false;
  if (claim.spec?.volumeName !== volume.metadata.name) {
    c.spec = { ...(c.spec ?? {}), volumeName: volume.metadata.name };
    if (!hasAnn(c, ANN_BOUND_BY_CONTROLLER)) setAnn(c, ANN_BOUND_BY_CONTROLLER, YES);
    dirty = true;
  }
  if (!hasAnn(c, ANN_BIND_COMPLETED)) {
    setAnn(c, ANN_BIND_COMPLETED, YES);
    dirty = true;
  }
  return dirty ? c : undefined;
}

/** bind(): volume → claim, volume phase Bound, claim → volume, claim phase Bound. */
export function bindWrites(d: Decision, volume: PersistentVolume, claim: PersistentVolumeClaim, now: string): void {
  let v = volume;
  const bound = volumeBoundToClaim(volume, claim);
  if (bound) {
    d.writes.push({ op: 'update', resource: 'persistentvolumes', object: bound, what: `bind volume ${volume.metadata.name} to claim ${key(claim)}` });
    v = bound;
  }
  v = volumePhaseWrite(d, v, 'Bound', now);
  let c = claim;
  const cb = claimBoundToVolume(claim, v);
  if (cb) {
    d.writes.push({ op: 'update', resource: 'persistentvolumeclaims', object: cb, what: `bind claim ${key(claim)} to volume ${volume.metadata.name}` });
    c = cb;
  }
  claimStatusWrite(d, c, 'Bound', v);
}

// ---------------------------------------------------------------------------------------------
// Claims

/** syncClaim: what to do about a claim. */
export function syncClaim(claim: PersistentVolumeClaim, view: BinderView): Decision {
  return hasAnn(claim, ANN_BIND_COMPLETED) ? syncBoundClaim(claim, view) : syncUnboundClaim(claim, view);
}

/** The provisioner the claim has been handed to ('' = none). */
export function claimProvisioner(claim: PersistentVolumeClaim): string {
  const a = claim.metadata.annotations ?? {};
  return a[ANN_STORAGE_PROVISIONER] ?? a[ANN_BETA_STORAGE_PROVISIONER] ?? '';
}

function syncUnboundClaim(claim: PersistentVolumeClaim, view: BinderView): Decision {
  const d = empty();
  const volumeName = claim.spec?.volumeName ?? '';
  if (!volumeName) {
    const clsName = claimClass(claim);
    const cls = clsName ? view.storageClass(clsName) : undefined;
    const delayBinding = cls?.volumeBindingMode === 'WaitForFirstConsumer';
    const selectedNode = claim.metadata.annotations?.[ANN_SELECTED_NODE] ?? '';
    const node = delayBinding && selectedNode ? (view.node(selectedNode) ?? { metadata: { name: selectedNode } }) : undefined;
    const volume = findBestMatch(claim, view.volumes(), { delayBinding, node });
    if (volume) {
      bindWrites(d, volume, claim, view.now);
      return d;
    }
    if (!claimHasClass(claim)) {
      const def = defaultClassOf(view.storageClasses());
      if (def?.metadata.name) {
        const c = clone(claim);
        c.spec = { ...(c.spec ?? {}), storageClassName: def.metadata.name };
        d.writes.push({ op: 'update', resource: 'persistentvolumeclaims', object: c, what: `claim ${key(claim)} gets the default class ${def.metadata.name}` });
        return d;
      }
    }
    if (delayBinding && !selectedNode) {
      d.events.push({ object: claim, type: 'Normal', reason: 'WaitForFirstConsumer', message: MSG_WAIT_FOR_CONSUMER });
    } else if (clsName) {
      provisionClaim(d, claim, clsName, cls);
    } else {
      d.events.push({ object: claim, type: 'Normal', reason: 'FailedBinding', message: MSG_NO_CLASS });
    }
    claimStatusWrite(d, claim, 'Pending', undefined);
    return d;
  }

  // The user asked for a specific volume.
  const volume = view.volume(volumeName);
  if (!volume) {
    claimStatusWrite(d, claim, 'Pending', undefined);
    return d;
  }
  if (!volume.spec?.claimRef) {
    const why = volumeMismatch(volume, claim);
    if (why) {
      d.events.push({ object: claim, type: 'Warning', reason: 'VolumeMismatch', message: `Cannot bind to requested volume "${volumeName}": ${why}` });
      claimStatusWrite(d, claim, 'Pending', undefined);
      return d;
    }
    bindWrites(d, volume, claim, view.now);
    return d;
  }
  if (isVolumeBoundToClaim(volume, claim)) {
    bindWrites(d, volume, claim, view.now);
    return d;
  }
  if (!hasAnn(claim, ANN_BOUND_BY_CONTROLLER)) {
    d.events.push({ object: claim, type: 'Warning', reason: 'FailedBinding', message: `volume "${volumeName}" already bound to a different claim.` });
    claimStatusWrite(d, claim, 'Pending', undefined);
    return d;
  }
  d.problem = `invalid binding of claim ${key(claim)} to volume "${volumeName}": volume already claimed by ${volume.spec.claimRef.namespace ?? ''}/${volume.spec.claimRef.name ?? ''}`;
  return d;
}

/** provisionClaim: hand the claim to its class's provisioner (by annotation). */
function provisionClaim(d: Decision, claim: PersistentVolumeClaim, clsName: string, cls: StorageClass | undefined): void {
  if (!cls) {
    d.events.push({ object: claim, type: 'Warning', reason: 'ProvisioningFailed', message: `storageclass.storage.k8s.io "${clsName}" not found` });
    return;
  }
  const provisioner = cls.provisioner ?? '';
  const a = claim.metadata.annotations ?? {};
  if (a[ANN_STORAGE_PROVISIONER] !== provisioner || a[ANN_BETA_STORAGE_PROVISIONER] !== provisioner) {
    const c = clone(claim);
    setAnn(c, ANN_STORAGE_PROVISIONER, provisioner);
    setAnn(c, ANN_BETA_STORAGE_PROVISIONER, provisioner);
    d.writes.push({ op: 'update', resource: 'persistentvolumeclaims', object: c, what: `claim ${key(claim)} handed to provisioner ${provisioner}` });
  }
  d.events.push({ object: claim, type: 'Normal', reason: 'ExternalProvisioning', message: externalProvisioningMessage(provisioner) });
}

function syncBoundClaim(claim: PersistentVolumeClaim, view: BinderView): Decision {
  const d = empty();
  const volumeName = claim.spec?.volumeName ?? '';
  if (!volumeName) {
    d.events.push({ object: claim, type: 'Warning', reason: 'ClaimLost', message: MSG_LOST_REFERENCE });
    claimStatusWrite(d, claim, 'Lost', undefined);
    return d;
  }
  const volume = view.volume(volumeName);
  if (!volume) {
    d.events.push({ object: claim, type: 'Warning', reason: 'ClaimLost', message: MSG_LOST_VOLUME });
    claimStatusWrite(d, claim, 'Lost', undefined);
    return d;
  }
  const ref = volume.spec?.claimRef;
  if (!ref || ref.uid === claim.metadata.uid) {
    // Unbound volume (or a cache that has not seen the binding yet): bind again. Bound: bind()
    // only fills in what is missing.
    bindWrites(d, volume, claim, view.now);
    return d;
  }
  d.events.push({ object: claim, type: 'Warning', reason: 'ClaimMisbound', message: MSG_MISBOUND });
  claimStatusWrite(d, claim, 'Lost', undefined);
  return d;
}

// ---------------------------------------------------------------------------------------------
// Volumes

/** The claim a volume's claimRef names, if it is that very claim (same uid). */
export function claimOfVolume(volume: PersistentVolume, view: Pick<BinderView, 'claim'>): PersistentVolumeClaim | undefined {
  const ref = volume.spec?.claimRef;
  if (!ref?.name) return undefined;
  const claim = view.claim(ref.namespace ?? '', ref.name);
  if (!claim) return undefined;
  return ref.uid && claim.metadata.uid !== ref.uid ? undefined : claim;
}

/** syncVolume: what to do about a volume. */
export function syncVolume(volume: PersistentVolume, view: BinderView): Decision {
  const d = empty();
  const ref = volume.spec?.claimRef;
  if (!ref || !ref.uid) {
    // Free, or reserved for a claim that has not bound to it yet (the claim's sync will).
    volumePhaseWrite(d, volume, 'Available', view.now);
    return d;
  }
  const claim = claimOfVolume(volume, view);
  if (!claim) {
    // The claim is gone (or was recreated under the same name: a new uid).
    releaseAndReclaim(d, volume, view.now);
    return d;
  }
  const claimVolume = claim.spec?.volumeName ?? '';
  if (!claimVolume) {
    if (volumeModeOf(claim) !== volumeModeOf(volume)) {
      d.events.push({ object: volume, type: 'Warning', reason: 'VolumeMismatch', message: 'Cannot bind PersistentVolume to requested PersistentVolumeClaim due to incompatible volumeMode.' });
      return d;
    }
    // The volume points at the claim, which does not point back yet: its sync binds it.
    d.enqueueClaims.push(key(claim));
    return d;
  }
  if (claimVolume === volume.metadata.name) {
    volumePhaseWrite(d, volume, 'Bound', view.now);
    return d;
  }
  // The claim is bound to another volume.
  if (hasAnn(volume, ANN_PROVISIONED_BY) && volume.spec?.persistentVolumeReclaimPolicy === 'Delete') {
    // Provisioned for this claim, which got another one: not needed any more.
    releaseAndReclaim(d, volume, view.now);
    return d;
  }
  const v = clone(volume);
  v.spec = { ...(v.spec ?? {}) };
  if (hasAnn(volume, ANN_BOUND_BY_CONTROLLER)) {
    // The binder picked this volume but the claim took another: free it.
    delete v.spec.claimRef;
    const anns = { ...(v.metadata.annotations ?? {}) };
    delete anns[ANN_BOUND_BY_CONTROLLER];
    v.metadata.annotations = Object.keys(anns).length > 0 ? anns : undefined;
  } else {
    // Pre-bound by a user: keep the reservation, forget the uid.
    const { uid: _uid, ...reservation } = ref;
    v.spec.claimRef = reservation;
  }
  d.writes.push({ op: 'update', resource: 'persistentvolumes', object: v, what: `unbind volume ${volume.metadata.name}` });
  volumePhaseWrite(d, v, 'Available', view.now);
  return d;
}

/** Released (unless Released or Failed already), then the reclaim policy. */
function releaseAndReclaim(d: Decision, volume: PersistentVolume, now: string): void {
  const phase = volume.status?.phase;
  const policy = volume.spec?.persistentVolumeReclaimPolicy || 'Retain';
  const name = volume.metadata.name ?? '';
  let failure: { reason: string; message: string } | undefined;
  if (policy === 'Delete' && !hasAnn(volume, ANN_PROVISIONED_BY)) failure = { reason: 'VolumeFailedDelete', message: failedDeleteMessage(name) };
  else if (policy === 'Recycle') failure = { reason: 'VolumeFailedRecycle', message: MSG_NO_RECYCLER };
  if (failure) {
    if (phase !== 'Failed') {
      volumePhaseWrite(d, volume, 'Failed', now, failure.message);
      d.events.push({ object: volume, type: 'Warning', reason: failure.reason, message: failure.message });
    }
    return;
  }
  if (phase !== 'Released' && phase !== 'Failed') volumePhaseWrite(d, volume, 'Released', now);
  // Retain: nothing more. Delete of a provisioned volume: its provisioner deletes it.
}
