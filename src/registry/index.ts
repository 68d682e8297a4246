// The resource registry: every kind kennel serves, one entry each.
import type { ResourceDef } from './types.ts';
import { namespaces } from './namespaces.ts';
import { configmaps } from './configmaps.ts';
import { secrets } from './secrets.ts';
import { serviceaccounts } from './serviceaccounts.ts';
import { events } from './events.ts';
import { nodes } from './nodes.ts';
import { pods } from './pods.ts';
import { services } from './services.ts';
import { endpoints } from './endpoints.ts';
import { persistentvolumes } from './persistentvolumes.ts';
import { persistentvolumeclaims } from './persistentvolumeclaims.ts';
import { statefulsets } from './statefulsets.ts';
import { daemonsets } from './daemonsets.ts';
import { controllerrevisions } from './controllerrevisions.ts';
import { leases } from './leases.ts';
import { endpointslices } from './endpointslices.ts';
import { storageclasses } from './storageclasses.ts';
import { eventsV1 } from './events-v1.ts';
import { petsets } from './petsets.ts';
import { jobs } from './jobs.ts';
import { cronjobs } from './cronjobs.ts';
import { replicasets } from './replicasets.ts';
import { deployments } from './deployments.ts';
import { replicationcontrollers } from './replicationcontrollers.ts';
import { poddisruptionbudgets } from './poddisruptionbudgets.ts';

export class Registry {
  private readonly byResource = new Map<string, ResourceDef>();

  constructor(readonly defs: ResourceDef[]) {
    for (const d of defs) {
      const k = `${d.group}/${d.version}/${d.plural}`;
      if (this.byResource.has(k)) throw new Error(`duplicate registry entry ${k}`);
      this.byResource.set(k, d);
    }
  }

  lookup(group: string, version: string, plural: string): ResourceDef | undefined {
    return this.byResource.get(`${group}/${version}/${plural}`);
  }

  /** Whether any entry serves this group/version (to tell 404 for a version from one for a resource). */
  servesGroupVersion(group: string, version: string): boolean {
    return this.defs.some((d) => d.group === group && d.version === version);
  }

  byKind(apiVersion: string, kind: string): ResourceDef | undefined {
    return this.defs.find((d) => (d.group ? `${d.group}/${d.version}` : d.version) === apiVersion && d.kind === kind);
  }

  /** Namespaced kinds stored in their own right (not views of another resource). */
  namespacedStorage(): ResourceDef[] {
    return this.defs.filter((d) => d.namespaced && !d.storedAs);
  }
}

export const builtinResources: ResourceDef[] = [
  namespaces,
  configmaps,
  secrets,
  serviceaccounts,
  events,
  nodes,
  pods,
  services,
  endpoints,
  persistentvolumes,
  persistentvolumeclaims,
  statefulsets,
  daemonsets,
  controllerrevisions,
  leases,
  endpointslices,
  storageclasses,
  eventsV1,
  petsets,
  jobs,
  cronjobs,
  replicasets,
  deployments,
  replicationcontrollers,
  poddisruptionbudgets,
];

export function defaultRegistry(): Registry {
  return new Registry(builtinResources);
}
