// The object shapes, resources, annotations and names the volume controllers share: the
// @kubernetes/client-node model types as they travel on the wire (Date fields as RFC 3339
// strings), and the annotations Kubernetes' PV controller and external provisioners use.
import type {
  V1NodeSelectorRequirement,
  V1NodeSelectorTerm,
  V1PersistentVolumeClaimSpec,
  V1PersistentVolumeClaimStatus,
  V1PersistentVolumeSpec,
  V1PersistentVolumeStatus,
  V1StorageClass,
} from '@kubernetes/client-node';
import type { ResourceRef } from '../../client/rest.ts';
import type { KubeObject } from '../../registry/types.ts';

/** A client-node model as JSON: Date → string, recursively. */
export type Wire<T> = T extends Date
  ? string
  : T extends (infer U)[]
    ? Wire<U>[]
    : T extends object
      ? { [K in keyof T]: Wire<T[K]> }
      : T;

export type PersistentVolumeSpec = Wire<V1PersistentVolumeSpec>;
export type PersistentVolumeStatus = Wire<V1PersistentVolumeStatus>;
export type PersistentVolumeClaimSpec = Wire<V1PersistentVolumeClaimSpec>;
export type PersistentVolumeClaimStatus = Wire<V1PersistentVolumeClaimStatus>;
export type NodeSelectorTerm = Wire<V1NodeSelectorTerm>;
export type NodeSelectorRequirement = Wire<V1NodeSelectorRequirement>;

/** A core/v1 PersistentVolume as the API serves it. */
export type PersistentVolume = KubeObject & { spec?: PersistentVolumeSpec; status?: PersistentVolumeStatus };
/** A core/v1 PersistentVolumeClaim as the API serves it. */
export type PersistentVolumeClaim = KubeObject & { spec?: PersistentVolumeClaimSpec; status?: PersistentVolumeClaimStatus };
/** A storage.k8s.io/v1 StorageClass as the API serves it. */
export type StorageClass = KubeObject & Wire<Omit<V1StorageClass, 'apiVersion' | 'kind' | 'metadata'>>;
/** What the volume controllers read of a core/v1 Node: its name and labels. */
export type NodeObject = KubeObject;

export type VolumePhase = 'Pending' | 'Available' | 'Bound' | 'Released' | 'Failed';
export type ClaimPhase = 'Pending' | 'Bound' | 'Lost';

export const PVS: ResourceRef = { group: '', version: 'v1', plural: 'persistentvolumes', namespaced: false, kind: 'PersistentVolume' };
export const PVCS: ResourceRef = { group: '', version: 'v1', plural: 'persistentvolumeclaims', namespaced: true, kind: 'PersistentVolumeClaim' };
export const STORAGE_CLASSES: ResourceRef = { group: 'storage.k8s.io', version: 'v1', plural: 'storageclasses', namespaced: false, kind: 'StorageClass' };
export const NODES: ResourceRef = { group: '', version: 'v1', plural: 'nodes', namespaced: false, kind: 'Node' };

// -- annotations (Kubernetes' names)

/** On a claim: the binder finished binding it (value "yes"). */
export const ANN_BIND_COMPLETED = 'pv.kubernetes.io/bind-completed';
/** On a volume or claim: the binder (not a user) made the binding (value "yes"). */
export const ANN_BOUND_BY_CONTROLLER = 'pv.kubernetes.io/bound-by-controller';
/** On a claim: the node the scheduler chose for the first pod using it (WaitForFirstConsumer). */
export const ANN_SELECTED_NODE = 'volume.kubernetes.io/selected-node';
/** On a claim: the provisioner asked to provision it. */
export const ANN_STORAGE_PROVISIONER = 'volume.kubernetes.io/storage-provisioner';
export const ANN_BETA_STORAGE_PROVISIONER = 'volume.beta.kubernetes.io/storage-provisioner';
/** On a volume: the provisioner that created it. */
export const ANN_PROVISIONED_BY = 'pv.kubernetes.io/provisioned-by';
/** The storage class as an annotation (before spec.storageClassName existed). */
export const ANN_BETA_STORAGE_CLASS = 'volume.beta.kubernetes.io/storage-class';
export const ANN_DEFAULT_CLASS = 'storageclass.kubernetes.io/is-default-class';
export const ANN_BETA_DEFAULT_CLASS = 'storageclass.beta.kubernetes.io/is-default-class';
export const HOSTNAME_LABEL = 'kubernetes.io/hostname';

// -- kennel's local-path storage

/** The provisioner name of kennel's directory-backed volumes. */
export const LOCAL_PATH_PROVISIONER = 'kennel.dev/local-path';
/** The default StorageClass. */
export const LOCAL_PATH_CLASS = 'local-path';
/** On a local-path volume: the node agent must remove its directory before the volume goes. */
export const LOCAL_PATH_FINALIZER = 'kennel.dev/local-path-cleanup';
/** On a Node: the absolute data directory of the node's agent (local-path volumes live under
 *  `<data dir>/storage/`). */
export const ANN_NODE_DATA_DIR = 'kennel.dev/data-dir';
/** The sub-directory of a node's data dir that holds local-path volumes. */
export const LOCAL_PATH_SUBDIR = 'storage';

/** Component names (events' source, user agents). */
export const BINDER_COMPONENT = 'persistentvolume-controller';
export const PROVISIONER_COMPONENT = 'kennel.dev/local-path_provisioner';
export const CLEANER_COMPONENT = 'local-path-cleaner';
