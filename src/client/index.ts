// The controller framework every kennel component builds on: the typed REST client, informers,
// the work queue, leader election, and the injected clock.
export * from './kubeconfig.ts';
export * from './rest.ts';
export * from './informer.ts';
export * from './workqueue.ts';
export * from './leaderelection.ts';
export * from './clock.ts';
