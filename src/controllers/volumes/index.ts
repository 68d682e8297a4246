// kennel's volumes: the default StorageClass `local-path`, the PersistentVolume binder (Kubernetes'
// PV controller), the local-path provisioner (control plane) and the local-path cleaner (run by
// each node's agent).
export * from './types.ts';
export * from './matching.ts';
export * from './binder.ts';
export * from './binder-controller.ts';
export * from './provisioner.ts';
export * from './provisioner-controller.ts';
export * from './storageclass.ts';
export * from './node-cleaner.ts';
