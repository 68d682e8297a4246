// kennel's default StorageClass `local-path`: directory-backed volumes on the node a pod runs
// on, provisioned once the scheduler has chosen that node (WaitForFirstConsumer), deleted with
// their claim (reclaimPolicy Delete), growable in place (allowVolumeExpansion).
//
// ensureDefaultStorageClass creates it through the API when it is absent — the local-path
// provisioner's start does, so it exists whenever the controllers run. It is marked the cluster
// default only when no other class is; an existing `local-path` (an administrator's edit
// included) is left as it is, and so is a deliberate choice of another default.
import { isAlreadyExists, isNotFound, type KubeClient } from '../../client/rest.ts';
import type { Logger } from '../../util/log.ts';
import { isDefaultClass } from './matching.ts';
import { ANN_DEFAULT_CLASS, LOCAL_PATH_CLASS, LOCAL_PATH_PROVISIONER, STORAGE_CLASSES, type StorageClass } from './types.ts';

/** The `local-path` StorageClass object (marked default unless isDefault is false). */
export function localPathStorageClass(isDefault = true): StorageClass {
  return {
    apiVersion: 'storage.k8s.io/v1',
    kind: 'StorageClass',
    metadata: {
      name: LOCAL_PATH_CLASS,
      labels: { 'app.kubernetes.io/managed-by': 'kennel' },
      ...(isDefault ? { annotations: { [ANN_DEFAULT_CLASS]: 'true' } } : {}),
    },
    provisioner: LOCAL_PATH_PROVISIONER,
    reclaimPolicy: 'Delete',
    volumeBindingMode: 'WaitForFirstConsumer',
    allowVolumeExpansion: true,
  };
}

export interface EnsureResult {
  /** Whether this call created the class. */
  created: boolean;
  storageClass: StorageClass;
}

/** Create the `local-path` StorageClass if it does not exist (default unless another class is). */
export async function ensureDefaultStorageClass(client: KubeClient, opts: { logger?: Logger; signal?: AbortSignal } = {}): Promise<EnsureResult> {
  try {
    const existing = await client.get<StorageClass>(STORAGE_CLASSES, undefined, LOCAL_PATH_CLASS, { signal: opts.signal });
    return { created: false, storageClass: existing };
  } catch (e) {
    if (!isNotFound(e)) throw e;
  }
  const { items } = await client.listAll<StorageClass>(STORAGE_CLASSES, undefined, { signal: opts.signal });
  const otherDefault = items.find((c) => isDefaultClass(c));
  try {
    const created = await client.create<StorageClass>(STORAGE_CLASSES, localPathStorageClass(!otherDefault), { signal: opts.signal });
    opts.logger?.info('created the local-path StorageClass', { default: !otherDefault, ...(otherDefault ? { defaultClass: otherDefault.metadata.name } : {}) });
    return { created: true, storageClass: created };
  } catch (e) {
    if (!isAlreadyExists(e)) throw e;
    return { created: false, storageClass: await client.get<StorageClass>(STORAGE_CLASSES, undefined, LOCAL_PATH_CLASS, { signal: opts.signal }) };
  }
}
