// Authorization: what an authenticated user may do. kennel has no RBAC: every user has full
// access except nodes. A node (user `system:node:<name>` in group `system:nodes`, as a joined
// agent's credential is) is restricted the way Kubernetes' Node authorizer and NodeRestriction
// admission plugin restrict a kubelet:
//
// - it may read what a kubelet reads: nodes, pods, services, endpoints, EndpointSlices,
//   namespaces, PersistentVolumes, StorageClasses, RuntimeClasses, CSI drivers/nodes;
// - configMaps, secrets and PersistentVolumeClaims only in namespaces where a pod is bound to
//   it (Kubernetes narrows this to the very objects those pods use; kennel's agent watches a
//   namespace's configMaps/secrets once a pod there needs one, so the namespace is the unit);
// - its own Lease in kube-node-lease (read, create, update, patch, delete);
// - its own Node (create, update, patch, delete, and its status);
// - pods/status of pods bound to it, delete of pods bound to it, evictions of pods bound to it;
//   it may not create pods (kennel has no mirror pods) nor change their spec;
// - events (create, update, patch) in any namespace;
// - service-account tokens (TokenRequest) for service accounts that pods bound to it use;
// - update/patch of PersistentVolumes pinned to it by node affinity (the agent's local-path
//   cleaner removes its finalizer once the directory is gone) — a kennel addition;
// - anything else is 403 Forbidden, worded as Kubernetes words it.
//
// Creates are checked twice, as in Kubernetes: the authorizer sees only the URL, and the object
// (a Node's or Lease's name) is checked at admission time. The request's user reaches the
// admission hook through an AsyncLocalStorage entered only for node users.
import { AsyncLocalStorage } from 'node:async_hooks';
import type { KubeObject, ResourceDef } from '../registry/types.ts';
import type { Store } from '../store/types.ts';
import { volumeHostnames } from '../controllers/volumes/matching.ts';
import type { PersistentVolume } from '../controllers/volumes/types.ts';
import type { UserInfo } from './auth.ts';
import { ApiError, qualifiedResource } from './errors.ts';
import type { ResourceRequest } from './requestinfo.ts';

export const NODES_GROUP = 'system:nodes';
export const NODE_USER_PREFIX = 'system:node:';
export const MASTERS_GROUP = 'system:masters';
export const NODE_LEASE_NAMESPACE = 'kube-node-lease';

/** The node a user is, when the user is a node that is restricted (not also in system:masters). */
export function nodeNameOf(user: UserInfo | null | undefined): string | undefined {
  if (!user || !user.username.startsWith(NODE_USER_PREFIX)) return undefined;
  if (!user.groups.includes(NODES_GROUP) || user.groups.includes(MASTERS_GROUP)) return undefined;
  const name = user.username.slice(NODE_USER_PREFIX.length);
  return name || undefined;
}

/** What the authorizer needs to know about the cluster (the relationships of a node). */
export interface NodeGraph {
  getPod(namespace: string, name: string): Promise<KubeObject | undefined>;
  /** The pods bound to node in namespace. */
  podsOnNode(node: string, namespace: string): Promise<KubeObject[]>;
  getPersistentVolume(name: string): Promise<KubeObject | undefined>;
}

export type Decision = { allowed: true } | { allowed: false; reason: string };

const ALLOW: Decision = { allowed: true };
const deny = (reason: string): Decision => ({ allowed: false, reason });
const noRelationship = (node: string): Decision => deny(`no relationship found between node '${node}' and this object`);

const READ = new Set(['get', 'list', 'watch']);
const WRITE = new Set(['update', 'patch']);

/** Read-only kinds a node may get, list and watch everywhere: group → resources. */
const READABLE: Record<string, ReadonlySet<string>> = {
  '': new Set(['nodes', 'pods', 'services', 'endpoints', 'namespaces', 'persistentvolumes']),
  'discovery.k8s.io': new Set(['endpointslices']),
  'storage.k8s.io': new Set(['storageclasses', 'csidrivers', 'csinodes']),
  'node.k8s.io': new Set(['runtimeclasses']),
};
/** Readable in namespaces where a pod is bound to the node. */
const POD_SCOPED = new Set(['configmaps', 'secrets', 'persistentvolumeclaims']);

function nodeNameOfPod(pod: KubeObject | undefined): string | undefined {
  const spec = pod?.spec as { nodeName?: unknown } | undefined;
  return typeof spec?.nodeName === 'string' ? spec.nodeName : undefined;
}

/**
 * The node rules: whether node may do what ri asks. Pure apart from the graph look-ups (only
 * made for requests whose answer depends on another object).
 */
export async function decide(node: string, ri: ResourceRequest, graph: NodeGraph): Promise<Decision> {
  const { group, resource, subresource: sub, verb, namespace: ns, name } = ri;
  const read = READ.has(verb);

  // Reads of the kubelet's world.
  if (read && !sub && READABLE[group]?.has(resource)) return ALLOW;
  if (read && sub === 'status' && group === '' && (resource === 'nodes' || resource === 'pods')) return ALLOW;
  if (group === '' && POD_SCOPED.has(resource) && read && !sub) {
    if (!ns) return deny(`node '${node}' may read ${resource} only in namespaces of pods bound to it, not across all namespaces`);
    return (await graph.podsOnNode(node, ns)).length > 0 ? ALLOW : noRelationship(node);
  }

  // Its own Node.
  if (group === '' && resource === 'nodes') {
    if (verb === 'create' && !sub) return ALLOW; // the name is checked at admission
    if ((WRITE.has(verb) && (!sub || sub === 'status')) || (verb === 'delete' && !sub)) {
      return name === node ? ALLOW : deny(`node "${node}" is not allowed to modify node "${name ?? ''}"`);
    }
    return deny(`node "${node}" may only read nodes and change its own Node`);
  }

  // Its own Lease.
  if (group === 'coordination.k8s.io' && resource === 'leases' && !sub) {
    if (ns !== NODE_LEASE_NAMESPACE) return deny(`node "${node}" may only use its own Lease in ${NODE_LEASE_NAMESPACE}`);
    if (verb === 'create') return ALLOW; // the name is checked at admission
    if ((read || WRITE.has(verb) || verb === 'delete') && name !== undefined) {
      return name === node ? ALLOW : deny('can only access node lease with the same name as the requesting node');
    }
    return deny('can only access node lease with the same name as the requesting node');
  }

  // Pods bound to it.
  if (group === '' && resource === 'pods' && ns && name) {
    const statusWrite = sub === 'status' && WRITE.has(verb);
    const del = !sub && verb === 'delete';
    const evict = sub === 'eviction' && verb === 'create';
    if (statusWrite || del || evict) {
      const pod = await graph.getPod(ns, name);
      // A pod that is gone answers 404 from the handler (a node may read every pod anyway).
      if (!pod) return ALLOW;
      const boundTo = nodeNameOfPod(pod);
      return boundTo === node ? ALLOW : deny(`node "${node}" can only ${evict ? 'evict' : statusWrite ? 'update the status of' : 'delete'} pods bound to it (pod is bound to ${boundTo ? `node "${boundTo}"` : 'no node'})`);
    }
  }
  if (group === '' && resource === 'pods' && verb === 'create' && !sub) return deny(`node "${node}" may not create pods (kennel has no mirror pods)`);

  // Events.
  if ((group === '' || group === 'events.k8s.io') && resource === 'events' && !sub && (verb === 'create' || WRITE.has(verb))) return ALLOW;

  // Tokens for the service accounts its pods run as.
  if (group === '' && resource === 'serviceaccounts' && sub === 'token' && verb === 'create' && ns && name) {
    const pods = await graph.podsOnNode(node, ns);
    const uses = pods.some((p) => ((p.spec as { serviceAccountName?: string } | undefined)?.serviceAccountName || 'default') === name);
    return uses ? ALLOW : noRelationship(node);
  }

  // Local volumes pinned to it (finalizer removal by the agent's local-path cleaner).
  if (group === '' && resource === 'persistentvolumes' && WRITE.has(verb) && !sub && name) {
    const pv = await graph.getPersistentVolume(name);
    if (!pv) return ALLOW; // 404 from the handler
    return volumeHostnames(pv as PersistentVolume).includes(node) ? ALLOW : noRelationship(node);
  }

  return deny('');
}

/** The Status a refused request gets, worded as Kubernetes' authorizer words it. */
export function forbiddenError(user: UserInfo, ri: ResourceRequest, reason: string): ApiError {
  const res = ri.subresource ? `${ri.resource}/${ri.subresource}` : ri.resource;
  const scope = ri.namespace ? `in the namespace "${ri.namespace}"` : 'at the cluster scope';
  const what = `User "${user.username}" cannot ${ri.verb} resource "${res}" in API group "${ri.group}" ${scope}`;
  const qualified = qualifiedResource(ri.group, ri.resource);
  const subject = ri.name !== undefined ? `${qualified} "${ri.name}"` : qualified;
  return new ApiError(403, 'Forbidden', `${subject} is forbidden: ${what}${reason ? `: ${reason}` : ''}`, {
    ...(ri.name !== undefined ? { name: ri.name } : {}),
    ...(ri.group ? { group: ri.group } : {}),
    kind: ri.resource,
  });
}

/**
 * NodeRestriction at admission, for creates (the object is known only then): a node creates
 * only its own Node and its own Lease. Returns the error to refuse with, or undefined.
 */
export function admitNodeCreate(node: string, def: ResourceDef, obj: KubeObject): ApiError | undefined {
  const name = obj.metadata?.name ?? '';
  const forbidden = (message: string) =>
    new ApiError(403, 'Forbidden', `${qualifiedResource(def.group, def.plural)} "${name}" is forbidden: ${message}`, {
      name,
      ...(def.group ? { group: def.group } : {}),
      kind: def.plural,
    });
  if (def.group === '' && def.kind === 'Node' && name !== node) return forbidden(`node "${node}" is not allowed to modify node "${name}"`);
  if (def.group === 'coordination.k8s.io' && def.kind === 'Lease' && (name !== node || obj.metadata?.namespace !== NODE_LEASE_NAMESPACE)) {
    return forbidden('can only access node lease with the same name as the requesting node');
  }
  if (def.group === '' && def.kind === 'Pod') return forbidden(`node "${node}" may not create pods (kennel has no mirror pods)`);
  return undefined;
}

export class Authorizer {
  private readonly requests = new AsyncLocalStorage<string>();
  constructor(private readonly graph: NodeGraph) {}

  /**
   * Checks a resource request. Returns undefined when the user is not restricted (no await
   * needed), else a promise that rejects with 403 when the request is refused.
   */
  check(user: UserInfo | null, ri: ResourceRequest): Promise<void> | undefined {
    const node = nodeNameOf(user);
    if (node === undefined) return undefined;
    return decide(node, ri, this.graph).then((d) => {
      if (!d.allowed) throw forbiddenError(user!, ri, d.reason);
    });
  }

  /** Runs a request's handler so that admission (admit) knows a node user sent it. */
  within<T>(user: UserInfo | null, fn: () => Promise<T>): Promise<T> {
    const node = nodeNameOf(user);
    return node === undefined ? fn() : this.requests.run(node, fn);
  }

  /** The admission half: throws 403 when a node creates what it may not. */
  admit(def: ResourceDef, obj: KubeObject): void {
    const node = this.requests.getStore();
    if (node === undefined) return;
    const err = admitNodeCreate(node, def, obj);
    if (err) throw err;
  }
}

/** The graph read straight from the store (point reads; a namespace scan for pod-scoped reads). */
export function storeNodeGraph(store: Store): NodeGraph {
  const parse = (value: string | undefined): KubeObject | undefined => (value === undefined ? undefined : (JSON.parse(value) as KubeObject));
  return {
    async getPod(namespace, name) {
      return parse((await store.get(`/registry/core/pods/${namespace}/${name}`))?.value);
    },
    async getPersistentVolume(name) {
      return parse((await store.get(`/registry/core/persistentvolumes/${name}`))?.value);
    },
    async podsOnNode(node, namespace) {
      const out: KubeObject[] = [];
      // Stored objects are compact JSON: the text test skips parsing the pods of other nodes.
      const needle = `"nodeName":${JSON.stringify(node)}`;
      let cont: string | undefined;
      do {
        const page = await store.list(`/registry/core/pods/${namespace}/`, { limit: 500, ...(cont ? { continue: cont } : {}) });
        for (const kv of page.items) {
          if (!kv.value.includes(needle)) continue;
          const pod = parse(kv.value);
          if (nodeNameOfPod(pod) === node) out.push(pod!);
        }
        cont = page.continue;
      } while (cont);
      return out;
    },
  };
}
