// The garbage collector: ownerReferences with background, foreground and orphan propagation.
export { startGarbageCollector, gcResources, ownerDefOf, GC_FIELD_MANAGER, GC_USER_AGENT, type GarbageCollector, type GarbageCollectorOptions } from './controller.ts';
export * from './decide.ts';
export { OwnerGraph, type GraphNode } from './graph.ts';
