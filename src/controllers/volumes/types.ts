// The object shapes, resources, annotations and names the volume controllers share: the wire
// shapes of volumes, claims and classes (src/client/types.ts), and the annotations Kubernetes'
// PV controller and external provisioners use.
import type { KubeObject } from '../../registry/types.ts';
import { ANN_SELECTED_NODE } from '../../client/types.ts';

export type {
  Wire,
  PersistentVolumeSpec,
  PersistentVolumeStatus,
  PersistentVolumeClaimSpec,
  PersistentVolumeClaimStatus,
  NodeSelectorTerm,
  NodeSelectorRequirement,
  PersistentVolume,
  PersistentVolumeClaim,
  StorageClass,
} from '../../client/types.ts';

/** What the volume controllers read of a core/v1 Node: its name and labels. */
export type NodeObject = KubeObject;

export type VolumePhase = 'Pending' | 'Available' | 'Bound' | 'Released' | 'Failed';
export type ClaimPhase = 'Pending' | 'Bound' | 'Lost';

export { VOLUMES as PVS, CLAIMS as PVCS, STORAGE_CLASSES, NODES } from '../common/resources.ts';

// -- annotations (Kubernetes' names)

/** On a claim: the binder finished binding it (value "yes"). */
export const ANN_BIND_COMPLETED = 'pv.kubernetes.io/bind-completed';
/** On a volume or claim: the binder (not a user) made the binding (value "yes"). */
export const ANN_BOUND_BY_CONTROLLER = 'pv.kubernetes.io/bound-by-controller';
/** On a claim: the node the scheduler chose for the first pod using it (WaitForFirstConsumer). */
export { ANN_SELECTED_NODE };
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
