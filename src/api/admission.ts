// Defaults Kubernetes applies through admission plugins when objects are created, done here
// before validation: a PersistentVolumeClaim without a storage class gets the default one
// (the DefaultStorageClass plugin).
import type { KubeObject, ResourceDef } from '../registry/types.ts';
import type { Registry } from '../registry/index.ts';
import type { ObjectStore } from './objectstore.ts';
import { listObjects } from './list.ts';

const DEFAULT_CLASS_ANNOTATIONS = ['storageclass.kubernetes.io/is-default-class', 'storageclass.beta.kubernetes.io/is-default-class'];

export async function admitCreate(objects: ObjectStore, registry: Registry, def: ResourceDef, obj: KubeObject): Promise<void> {
  if (def.group === '' && def.kind === 'PersistentVolumeClaim') await defaultStorageClass(objects, registry, obj);
}

async function defaultStorageClass(objects: ObjectStore, registry: Registry, pvc: KubeObject): Promise<void> {
  const spec = (pvc.spec ?? {}) as { storageClassName?: string | null };
  if (spec.storageClassName !== undefined && spec.storageClassName !== null) return; // "" means: no class
  if (pvc.metadata.annotations?.['volume.beta.kubernetes.io/storage-class'] !== undefined) return;
  const scDef = registry.lookup('storage.k8s.io', 'v1', 'storageclasses');
  if (!scDef) return;
  const classes = (await listObjects(objects, scDef, {})).items.filter((sc) =>
    DEFAULT_CLASS_ANNOTATIONS.some((a) => sc.metadata.annotations?.[a] === 'true'),
  );
  if (classes.length === 0) return;
  // The newest default class wins (ties by name), as Kubernetes picks.
  classes.sort((a, b) => String(b.metadata.creationTimestamp).localeCompare(String(a.metadata.creationTimestamp)) || String(a.metadata.name).localeCompare(String(b.metadata.name)));
  pvc.spec = { ...spec, storageClassName: classes[0].metadata.name };
}
