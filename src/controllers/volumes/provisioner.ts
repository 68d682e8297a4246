// The local-path provisioner's decisions, as pure functions: kennel's take on an external
// provisioner (sig-storage-lib-external-provisioner's rules) for directory-backed volumes in the
// model of Rancher's local-path-provisioner.
//
// Provisioning. A claim is provisioned here when the binder has handed it to
// `kennel.dev/local-path` (annotation volume.kubernetes.io/storage-provisioner), it is not
// bound, its class's provisioner is kennel.dev/local-path and it has a selected node
// (volume.kubernetes.io/selected-node, written by the scheduler for WaitForFirstConsumer). The
// volume:
//   name                 pvc-<claim uid>
//   spec.local.path      <node data dir>/storage/pvc-<uid>_<namespace>_<claim>
//                        (the node's data dir is its annotation kennel.dev/data-dir, written by
//                        its agent; the basename is cut to 255 bytes)
//   spec.nodeAffinity    required kubernetes.io/hostname In [<node name>] (kennel's agent labels
//                        its node with kubernetes.io/hostname = its name; the value names the
//                        node for the cleaner and the provisioner too)
//   spec.capacity        the claim's request; accessModes the claim's; volumeMode Filesystem
//   reclaim policy       the class's (Delete when unset); storageClassName the class
//   spec.claimRef        the claim, with its uid (pre-bound: the binder completes the binding)
//   annotation           pv.kubernetes.io/provisioned-by: kennel.dev/local-path
//   finalizer            kennel.dev/local-path-cleanup (removed by the node's local-path cleaner
//                        once the directory is gone; see node-cleaner.ts)
// The directory itself is made on the node by its agent (node-cleaner.ts): the provisioner
// runs in the control plane and never touches a node's files.
//
// What it refuses (a ProvisioningFailed warning on the claim, retried with backoff): no selected
// node under an Immediate class ("configuration error, no node was specified"), a selector,
// volumeMode Block, a data source, access modes other than ReadWriteOnce / ReadWriteOncePod
// (a directory on one node), a node that does not exist or does not report its data dir.
//
// Deleting. A volume it provisioned that is Released with reclaim policy Delete is deleted;
// the API server keeps it (Terminating) until the node's cleaner has removed the directory and
// the finalizer. If the volume's node no longer exists, nobody can: the provisioner removes
// the finalizer itself (the directory went with the node).
//
// Growing. A Bound claim whose request exceeds its volume's capacity (the StatefulSet controller
// raises claim requests when volumeClaimTemplates grow) gets a bigger volume when the class
// allows expansion: the volume's spec.capacity becomes the request, then the claim's
// status.capacity and status.allocatedResources follow. A directory has no size to change, so
// the steps Kubernetes goes through (ControllerResizeInProgress, the FileSystemResizePending
// condition, the kubelet's NodeExpandVolume) collapse into these two writes. Nothing enforces
// the capacity of a directory: it is a label, as for Rancher's local-path volumes.
import { isAbsolute, posix } from 'node:path';
import type { KubeObject } from '../../registry/types.ts';
import { compareQuantities, formatQuantity } from '../../registry/quantity.ts';
import { claimProvisioner, type BinderEvent, type BinderResource } from './binder.ts';
import { claimClass, claimRequest, claimStatusCapacity, volumeCapacity, volumeHostnames, volumeModeOf } from './matching.ts';
import {
  ANN_NODE_DATA_DIR,
  ANN_PROVISIONED_BY,
  ANN_SELECTED_NODE,
  HOSTNAME_LABEL,
  LOCAL_PATH_FINALIZER,
  LOCAL_PATH_PROVISIONER,
  LOCAL_PATH_SUBDIR,
  type NodeObject,
  type PersistentVolume,
  type PersistentVolumeClaim,
  type StorageClass,
} from './types.ts';

export interface ProvisionerView {
  volume(name: string): PersistentVolume | undefined;
  storageClass(name: string): StorageClass | undefined;
  node(name: string): NodeObject | undefined;
  /** The data dir of nodes that do not report one (default: none, such nodes fail). */
  defaultDataDir?: string;
}

export type ProvisionerWrite =
  | { op: 'create' | 'update' | 'updateStatus'; resource: BinderResource; object: KubeObject; what: string }
  | { op: 'delete'; resource: 'persistentvolumes'; name: string; uid: string; what: string }
  | { op: 'releaseFinalizer'; resource: 'persistentvolumes'; name: string; node: string; what: string };

export interface ProvisionerDecision {
  writes: ProvisionerWrite[];
  /** Recorded now (failures, with no writes). */
  events: BinderEvent[];
  /** Recorded once every write succeeded. */
  successEvents: BinderEvent[];
  /** Failed: retry with backoff. */
  failed?: string;
}

const ALLOWED_ACCESS_MODES = ['ReadWriteOnce', 'ReadWriteOncePod'];
const NAME_MAX = 255;

function empty(): ProvisionerDecision {
  return { writes: [], events: [], successEvents: [] };
}

function clone<T>(v: T): T {
  return JSON.parse(JSON.stringify(v)) as T;
}

function fail(d: ProvisionerDecision, claim: PersistentVolumeClaim, message: string): ProvisionerDecision {
  d.events.push({ object: claim, type: 'Warning', reason: 'ProvisioningFailed', message });
  d.failed = message;
  return d;
}

/** The volume name of a provisioned claim. */
export function provisionedVolumeName(claim: PersistentVolumeClaim): string {
  return `pvc-${claim.metadata.uid ?? ''}`;
}

/** `<dataDir>/storage/pvc-<uid>_<ns>_<claim>`, the basename cut to 255 bytes. */
export function localPathFor(dataDir: string, claim: PersistentVolumeClaim): string {
  let base = `${provisionedVolumeName(claim)}_${claim.metadata.namespace ?? ''}_${claim.metadata.name ?? ''}`;
  while (Buffer.byteLength(base) > NAME_MAX) base = base.slice(0, -1);
  return posix.join(posix.normalize(dataDir), LOCAL_PATH_SUBDIR, base);
}

/** The data dir a node reports (annotation kennel.dev/data-dir), else the fallback. */
export function nodeDataDir(node: NodeObject | undefined, fallback?: string): string | undefined {
  const dir = node?.metadata.annotations?.[ANN_NODE_DATA_DIR];
  return dir || fallback || undefined;
}

/** The PersistentVolume for a claim on a node (see the header for its fields). */
export function localPathVolume(claim: PersistentVolumeClaim, cls: StorageClass, nodeName: string, dataDir: string): PersistentVolume {
  const spec: NonNullable<PersistentVolume['spec']> = {
    capacity: { storage: formatQuantity(claimRequest(claim)) },
    accessModes: [...(claim.spec?.accessModes ?? [])],
    persistentVolumeReclaimPolicy: cls.reclaimPolicy || 'Delete',
    storageClassName: cls.metadata.name,
    volumeMode: 'Filesystem',
    local: { path: localPathFor(dataDir, claim) },
    nodeAffinity: { required: { nodeSelectorTerms: [{ matchExpressions: [{ key: HOSTNAME_LABEL, operator: 'In', values: [nodeName] }] }] } },
    claimRef: {
      apiVersion: 'v1',
      kind: 'PersistentVolumeClaim',
      namespace: claim.metadata.namespace,
      name: claim.metadata.name,
      uid: claim.metadata.uid,
      resourceVersion: claim.metadata.resourceVersion,
    },
  };
  if (cls.mountOptions && cls.mountOptions.length > 0) spec.mountOptions = [...cls.mountOptions];
  return {
    apiVersion: 'v1',
    kind: 'PersistentVolume',
    metadata: {
      name: provisionedVolumeName(claim),
      annotations: { [ANN_PROVISIONED_BY]: LOCAL_PATH_PROVISIONER },
      finalizers: [LOCAL_PATH_FINALIZER],
    },
    spec,
  };
}

export function isLocalPathVolume(volume: PersistentVolume): boolean {
  return volume.metadata.annotations?.[ANN_PROVISIONED_BY] === LOCAL_PATH_PROVISIONER;
}

/** What to do about a claim: provision a volume for it, or grow its volume. */
export function decideClaim(claim: PersistentVolumeClaim, view: ProvisionerView): ProvisionerDecision {
  const d = empty();
  if (claim.metadata.deletionTimestamp) return d;
  const volumeName = claim.spec?.volumeName ?? '';
  if (volumeName) return decideResize(d, claim, volumeName, view);

  if (claimProvisioner(claim) !== LOCAL_PATH_PROVISIONER) return d;
  const clsName = claimClass(claim);
  const cls = clsName ? view.storageClass(clsName) : undefined;
  if (!cls || cls.provisioner !== LOCAL_PATH_PROVISIONER) return d;
  if (view.volume(provisionedVolumeName(claim))) return d; // provisioned; the binder binds it
  const nodeName = claim.metadata.annotations?.[ANN_SELECTED_NODE] ?? '';
  if (!nodeName) {
    if (cls.volumeBindingMode === 'WaitForFirstConsumer') return d;
    return fail(
      d,
      claim,
      `configuration error, no node was specified: ${LOCAL_PATH_PROVISIONER} makes a volume on the node of the claim's first pod; use a StorageClass with volumeBindingMode WaitForFirstConsumer`,
    );
  }
  if (claim.spec?.selector) return fail(d, claim, 'claim Selector is not supported');
  if (volumeModeOf(claim) !== 'Filesystem') return fail(d, claim, `volumeMode ${volumeModeOf(claim)} is not supported: ${LOCAL_PATH_PROVISIONER} volumes are directories (volumeMode Filesystem)`);
  if (claim.spec?.dataSource || claim.spec?.dataSourceRef) return fail(d, claim, `data sources are not supported by ${LOCAL_PATH_PROVISIONER}`);
  const modes = claim.spec?.accessModes ?? [];
  const bad = modes.filter((m) => !ALLOWED_ACCESS_MODES.includes(m));
  if (bad.length > 0) return fail(d, claim, `access mode ${bad.join(', ')} is not supported: ${LOCAL_PATH_PROVISIONER} volumes are directories on one node (ReadWriteOnce, ReadWriteOncePod)`);
  const node = view.node(nodeName);
  if (!node && !view.defaultDataDir) return fail(d, claim, `node "${nodeName}" not found`);
  const dataDir = nodeDataDir(node, view.defaultDataDir);
  if (!dataDir || !isAbsolute(dataDir)) {
    return fail(d, claim, `node "${nodeName}" does not report its data directory (annotation ${ANN_NODE_DATA_DIR} with an absolute path): is its kennel agent running?`);
  }
  const volume = localPathVolume(claim, cls, nodeName, dataDir);
  d.writes.push({ op: 'create', resource: 'persistentvolumes', object: volume, what: `provision volume ${volume.metadata.name} on node ${nodeName}` });
  d.successEvents.push({ object: claim, type: 'Normal', reason: 'ProvisioningSucceeded', message: `Successfully provisioned volume ${volume.metadata.name}` });
  return d;
}

function decideResize(d: ProvisionerDecision, claim: PersistentVolumeClaim, volumeName: string, view: ProvisionerView): ProvisionerDecision {
  const volume = view.volume(volumeName);
  if (!volume || !isLocalPathVolume(volume) || volume.metadata.deletionTimestamp) return d;
  if (claim.status?.phase !== 'Bound' || volume.spec?.claimRef?.uid !== claim.metadata.uid) return d;
  const request = claimRequest(claim);
  const capacity = volumeCapacity(volume);
  let grown = volume;
  if (compareQuantities(request, capacity) > 0) {
    const clsName = claimClass(claim);
    const cls = clsName ? view.storageClass(clsName) : undefined;
    if (cls?.allowVolumeExpansion !== true) {
      d.events.push({
        object: claim,
        type: 'Warning',
        reason: 'VolumeResizeFailed',
        message: `cannot grow volume ${volumeName} to ${formatQuantity(request)}: storageclass "${clsName}" does not allow volume expansion`,
      });
      return d;
    }
    grown = clone(volume);
    grown.spec = { ...(grown.spec ?? {}), capacity: { ...(grown.spec?.capacity ?? {}), storage: formatQuantity(request) } };
    d.writes.push({ op: 'update', resource: 'persistentvolumes', object: grown, what: `grow volume ${volumeName} to ${formatQuantity(request)}` });
    d.successEvents.push({ object: claim, type: 'Normal', reason: 'VolumeResizeSuccessful', message: `Resized volume ${volumeName} to ${formatQuantity(request)}` });
  }
  // The claim's status follows the volume (also after an interrupted resize).
  const newCap = volumeCapacity(grown);
  const statusCap = claimStatusCapacity(claim);
  if (statusCap && compareQuantities(statusCap, newCap) < 0) {
    const c = clone(claim);
    const size = formatQuantity(newCap);
    const status = { ...(c.status ?? {}) };
    status.capacity = { ...(status.capacity ?? {}), storage: size };
    status.allocatedResources = { ...(status.allocatedResources ?? {}), storage: size };
    if (status.allocatedResourceStatuses) {
      const rest = { ...status.allocatedResourceStatuses };
      delete rest.storage;
      if (Object.keys(rest).length > 0) status.allocatedResourceStatuses = rest;
      else delete status.allocatedResourceStatuses;
    }
    if (status.conditions) {
      const conds = status.conditions.filter((x) => x.type !== 'Resizing' && x.type !== 'FileSystemResizePending');
      if (conds.length > 0) status.conditions = conds;
      else delete status.conditions;
    }
    c.status = status;
    d.writes.push({ op: 'updateStatus', resource: 'persistentvolumeclaims', object: c, what: `claim ${claim.metadata.namespace}/${claim.metadata.name} capacity ${size}` });
  }
  return d;
}

/** What to do about a volume: delete it once Released (Delete policy); free it of a gone node. */
export function decideVolume(volume: PersistentVolume, view: Pick<ProvisionerView, 'node'>): ProvisionerDecision {
  const d = empty();
  if (!isLocalPathVolume(volume)) return d;
  const name = volume.metadata.name ?? '';
  if (volume.metadata.deletionTimestamp) {
    if (!(volume.metadata.finalizers ?? []).includes(LOCAL_PATH_FINALIZER)) return d;
    const nodes = volumeHostnames(volume);
    if (nodes.length > 0 && nodes.every((n) => !view.node(n))) {
      d.writes.push({ op: 'releaseFinalizer', resource: 'persistentvolumes', name, node: nodes[0], what: `volume ${name}: node ${nodes.join(', ')} is gone` });
    }
    return d;
  }
  if (volume.status?.phase === 'Released' && volume.spec?.persistentVolumeReclaimPolicy === 'Delete') {
    d.writes.push({ op: 'delete', resource: 'persistentvolumes', name, uid: volume.metadata.uid ?? '', what: `delete released volume ${name}` });
  }
  return d;
}
