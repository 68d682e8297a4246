// Start-up dependencies (kennel's own, beyond Kubernetes): the pod annotation
// `kennel.dev/depends-on: "grafana, monitoring/prometheus, db:2"` names services that must have
// at least N ready endpoints (default 1) before the agent starts the pod's containers. The
// agent checks them every time it would start a container, so the order holds after a
// whole-cluster restart too (init containers only run once per sandbox).
//
// parseDependsOn and evaluateDependencies are pure; DependencyTracker is the glue the agent
// uses: an EndpointSlice informer started the first time a pod has the annotation, and the
// agent's service cache.
import type { KubeObject } from '../registry/types.ts';

export const DEPENDS_ON_ANNOTATION = 'kennel.dev/depends-on';
export const DEPENDENCIES_CONDITION = 'kennel.dev/DependenciesReady';
export const WAITING_FOR_DEPENDENCIES = 'WaitingForDependencies';
export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';

export interface Dependency {
  namespace: string;
  service: string;
  minReady: number;
}

export class DependencySyntaxError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DependencySyntaxError';
  }
}

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/**
 * Parse the annotation value: comma- (or whitespace-) separated `[namespace/]service[:N]`.
 * Namespace defaults to the pod's; N to 1. Duplicates are merged (the largest N wins).
 * Throws DependencySyntaxError naming the bad entry.
 */
export function parseDependsOn(value: string, defaultNamespace: string): Dependency[] {
  const out = new Map<string, Dependency>();
  for (const raw of value.split(/[,\s]+/)) {
    const entry = raw.trim();
    if (!entry) continue;
    let rest = entry;
    let minReady = 1;
    const colon = rest.lastIndexOf(':');
    if (colon >= 0) {
      const n = rest.slice(colon + 1);
      if (!/^\d+$/.test(n)) throw new DependencySyntaxError(`"${entry}": the count after ":" must be a whole number`);
      minReady = Number(n);
      rest = rest.slice(0, colon);
    }
    const parts = rest.split('/');
    if (parts.length > 2) throw new DependencySyntaxError(`"${entry}": expected [namespace/]service[:N]`);
    const namespace = parts.length === 2 ? parts[0]! : defaultNamespace;
    const service = parts[parts.length - 1]!;
    if (!DNS1123_LABEL.test(namespace)) throw new DependencySyntaxError(`"${entry}": "${namespace}" is not a valid namespace name`);
    if (!DNS1123_LABEL.test(service) || service.length > 63) throw new DependencySyntaxError(`"${entry}": "${service}" is not a valid service name`);
    const key = `${namespace}/${service}`;
    const prev = out.get(key);
    if (!prev || prev.minReady < minReady) out.set(key, { namespace, service, minReady });
  }
  return [...out.values()];
}

/** What a tracker (or a test) knows about one service. */
export interface ServiceEndpointsView {
  /** The Service object exists. */
  exists: boolean;
  /** EndpointSlices labelled kubernetes.io/service-name=<service> in its namespace. */
  slices?: readonly KubeObject[];
  /** The core/v1 Endpoints of the service, used when there are no slices. */
  endpoints?: KubeObject;
}

export interface DependencyState extends Dependency {
  ready: number;
  found: boolean;
  met: boolean;
}

export interface DependencyEvaluation {
  met: boolean;
  states: DependencyState[];
  /** The unmet ones, as the pod's event and condition show them. */
  waiting: DependencyState[];
  /** `Waiting for services: grafana (0/1 ready), monitoring/prometheus (not found)`; '' when met. */
  message: string;
}

function rec(v: unknown): Record<string, unknown> {
  return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
}

/** Ready endpoints of EndpointSlices (ready unset counts as ready, as the API documents), by address. */
export function readyAddressesOfSlices(slices: readonly KubeObject[]): Set<string> {
  const out = new Set<string>();
  for (const s of slices) {
    const eps = (s as KubeObject & { endpoints?: unknown }).endpoints;
    if (!Array.isArray(eps)) continue;
    for (const e of eps) {
      const ep = rec(e);
      const cond = rec(ep.conditions);
      if (cond.ready === false) continue;
      if (cond.terminating === true && cond.ready !== true) continue;
      const addrs = Array.isArray(ep.addresses) ? ep.addresses.filter((a): a is string => typeof a === 'string') : [];
      const ref = rec(ep.targetRef);
      const id = addrs[0] ?? (typeof ref.uid === 'string' ? ref.uid : JSON.stringify(ep));
      out.add(id);
    }
  }
  return out;
}

/** Ready addresses of a core/v1 Endpoints object. */
export function readyAddressesOfEndpoints(endpoints: KubeObject | undefined): Set<string> {
  const out = new Set<string>();
  const subsets = (endpoints as (KubeObject & { subsets?: unknown }) | undefined)?.subsets;
  if (!Array.isArray(subsets)) return out;
  for (const s of subsets) {
    const addrs = rec(s).addresses;
    if (!Array.isArray(addrs)) continue;
    for (const a of addrs) {
      const ip = rec(a).ip;
      if (typeof ip === 'string') out.add(ip);
    }
  }
  return out;
}

export function dependencyLabel(d: Dependency, podNamespace: string): string {
  return d.namespace === podNamespace ? d.service : `${d.namespace}/${d.service}`;
}

/** Evaluate dependencies with a lookup of each service's state. */
export function evaluateDependencies(deps: readonly Dependency[], podNamespace: string, lookup: (namespace: string, service: string) => ServiceEndpointsView): DependencyEvaluation {
  const states: DependencyState[] = [];
  for (const d of deps) {
    const view = lookup(d.namespace, d.service);
    let ready = 0;
    if (view.exists) {
      const slices = view.slices ?? [];
      ready = slices.length > 0 ? readyAddressesOfSlices(slices).size : readyAddressesOfEndpoints(view.endpoints).size;
    }
    states.push({ ...d, ready, found: view.exists, met: view.exists && ready >= d.minReady });
  }
  const waiting = states.filter((s) => !s.met);
  const message = waiting.length === 0 ? '' : `Waiting for services: ${waiting.map((s) => `${dependencyLabel(s, podNamespace)} (${s.found ? `${s.ready}/${s.minReady} ready` : 'not found'})`).join(', ')}`;
  return { met: waiting.length === 0, states, waiting, message };
}

// ---------------------------------------------------------------------------------------------
// The agent's view: a service cache it already has, and EndpointSlices.

/** The read side of an informer (so tests can hand in plain maps). */
export interface ObjectCache {
  get(namespace: string | undefined, name: string): KubeObject | undefined;
  listByNamespace(namespace: string): KubeObject[];
}

export interface DependencyCheck {
  /** false while the caches have not synced yet (treated as unmet). */
  synced: boolean;
  evaluation: DependencyEvaluation;
}

/**
 * Evaluates a pod's dependencies from caches. `slices` is started through `ensureStarted` the
 * first time a pod asks (agents whose pods declare no dependencies never watch EndpointSlices).
 */
export class DependencyTracker {
  constructor(
    private readonly caches: {
      services: ObjectCache & { hasSynced(): boolean };
      slices: () => ObjectCache & { hasSynced(): boolean };
      /**
       * Readiness of a pod this agent runs, as it last computed it (false until it has synced
       * the pod since it started); undefined for pods it does not run. After an agent restart
       * the slices still say Ready for local pods whose containers died meanwhile: this agent
       * knows better, before the API does.
       */
      localReady?: (podUid: string) => boolean | undefined;
    },
  ) {}

  check(deps: readonly Dependency[], podNamespace: string): DependencyCheck {
    const slices = this.caches.slices();
    const synced = this.caches.services.hasSynced() && slices.hasSynced();
    const evaluation = evaluateDependencies(deps, podNamespace, (ns, name) => {
      const svc = this.caches.services.get(ns, name) as (KubeObject & { spec?: { publishNotReadyAddresses?: boolean } }) | undefined;
      let own = slices.listByNamespace(ns).filter((s) => s.metadata.labels?.[SERVICE_NAME_LABEL] === name);
      const localReady = this.caches.localReady;
      // A service that publishes not-ready addresses counts them on purpose.
      if (localReady && svc && svc.spec?.publishNotReadyAddresses !== true) own = own.map((s) => withLocalReadiness(s, localReady));
      return { exists: svc !== undefined, slices: own };
    });
    if (!synced) return { synced, evaluation: { ...evaluation, met: false, message: evaluation.message || 'Waiting for services: (caches syncing)' } };
    return { synced, evaluation };
  }
}

/** The slice with endpoints of local pods that this agent does not see Ready marked not ready. */
function withLocalReadiness(slice: KubeObject, localReady: (podUid: string) => boolean | undefined): KubeObject {
  const eps = (slice as KubeObject & { endpoints?: unknown }).endpoints;
  if (!Array.isArray(eps)) return slice;
  let changed = false;
  const out = eps.map((e) => {
    const ep = rec(e);
    const ref = rec(ep.targetRef);
    if (ref.kind !== 'Pod' || typeof ref.uid !== 'string' || localReady(ref.uid) !== false) return e;
    changed = true;
    return { ...ep, conditions: { ...rec(ep.conditions), ready: false } };
  });
  return changed ? ({ ...slice, endpoints: out } as KubeObject) : slice;
}

/** The annotation of a pod, parsed; undefined when it has none. Bad syntax → the error. */
export function podDependencies(pod: KubeObject): Dependency[] | DependencySyntaxError | undefined {
  const v = pod.metadata.annotations?.[DEPENDS_ON_ANNOTATION];
  if (v === undefined) return undefined;
  try {
    return parseDependsOn(v, pod.metadata.namespace ?? 'default');
  } catch (e) {
    if (e instanceof DependencySyntaxError) return e;
    throw e;
  }
}
