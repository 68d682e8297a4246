// Patch metadata the client-node models do not carry, taken from Kubernetes' Go types
// (k8s.io/api v1.32): the `patchStrategy`/`patchMergeKey` struct tags strategic merge patch uses,
// and the `+listType`/`+listMapKey`/`+structType`/`+mapType` markers server-side apply uses.
//
// Keys are `<client-node model name>.<JSON field name>`. Fields not listed have no patch
// strategy: strategic merge patch replaces their lists and merges their maps, and server-side
// apply treats their lists as atomic. Where a list has a merge strategy and no explicit list
// type, server-side apply derives one as Kubernetes' OpenAPI conversion does: a merge key makes
// an associative list keyed by it, no merge key (a list of scalars) makes a set.

export type PatchStrategy = 'merge' | 'retainKeys' | 'merge,retainKeys' | 'replace';

export interface FieldStrategy {
  /** Strategic merge patch strategy (`patchStrategy` tag). */
  strategy?: PatchStrategy;
  /** Strategic merge patch key of a merged list of objects (`patchMergeKey` tag). */
  mergeKey?: string;
  /** Server-side apply list type when it differs from the one derived from the strategy. */
  listType?: 'atomic' | 'set' | 'map';
  /** Server-side apply keys of an associative list (default: `[mergeKey]`). */
  listMapKeys?: string[];
  /** Defaults of key fields an item may omit (Kubernetes: protocol defaults to TCP). */
  keyDefaults?: Record<string, string | number | boolean>;
  /** `+mapType=atomic` on a map field (server-side apply owns it as one value). */
  mapType?: 'atomic';
}

const byName = (key: string): FieldStrategy => ({ strategy: 'merge', mergeKey: key });
const containerLists: Record<string, FieldStrategy> = {
  ports: {
    strategy: 'merge',
    mergeKey: 'containerPort',
    listMapKeys: ['containerPort', 'protocol'],
    keyDefaults: { protocol: 'TCP' },
  },
  env: byName('name'),
  volumeMounts: byName('mountPath'),
  volumeDevices: byName('devicePath'),
};

function model(name: string, fields: Record<string, FieldStrategy>): [string, FieldStrategy][] {
  return Object.entries(fields).map(([f, s]) => [`${name}.${f}`, s]);
}

const byType = byName('type');

export const FIELD_STRATEGIES: ReadonlyMap<string, FieldStrategy> = new Map<string, FieldStrategy>([
  // meta/v1
  ...model('V1ObjectMeta', {
    finalizers: { strategy: 'merge' },
    ownerReferences: byName('uid'),
  }),
  // core/v1 pods and pod templates
  ...model('V1PodSpec', {
    containers: byName('name'),
    initContainers: byName('name'),
    ephemeralContainers: byName('name'),
    volumes: { strategy: 'merge,retainKeys', mergeKey: 'name' },
    imagePullSecrets: byName('name'),
    hostAliases: byName('ip'),
    topologySpreadConstraints: {
      strategy: 'merge',
      mergeKey: 'topologyKey',
      listMapKeys: ['topologyKey', 'whenUnsatisfiable'],
    },
    resourceClaims: { strategy: 'merge,retainKeys', mergeKey: 'name' },
    schedulingGates: byName('name'),
    nodeSelector: { mapType: 'atomic' },
    // tolerations, readinessGates, overhead …: no strategy (lists replaced, atomic for apply).
  }),
  ...model('V1Container', containerLists),
  ...model('V1EphemeralContainer', containerLists),
  ...model('V1ResourceRequirements', { claims: { listType: 'map', listMapKeys: ['name'] } }),
  ...model('V1PodStatus', {
    conditions: byType,
    podIPs: byName('ip'),
    hostIPs: byName('ip'),
    resourceClaimStatuses: { strategy: 'merge,retainKeys', mergeKey: 'name' },
  }),
  ...model('V1ContainerStatus', { allocatedResourcesStatus: byName('name') }),
  // core/v1 other kinds
  ...model('V1ServiceSpec', {
    ports: {
      strategy: 'merge',
      mergeKey: 'port',
      listMapKeys: ['port', 'protocol'],
      keyDefaults: { protocol: 'TCP' },
    },
    selector: { mapType: 'atomic' },
  }),
  ...model('V1ServiceStatus', { conditions: byType }),
  ...model('V1NodeSpec', { podCIDRs: { strategy: 'merge' } }),
  ...model('V1NodeStatus', { addresses: byType, conditions: byType }),
  ...model('V1NamespaceStatus', { conditions: byType }),
  ...model('V1PersistentVolumeClaimStatus', { conditions: byType }),
  ...model('V1ServiceAccount', { secrets: byName('name') }),
  ...model('V1ReplicationControllerSpec', { selector: { mapType: 'atomic' } }),
  ...model('V1ReplicationControllerStatus', { conditions: byType }),
  ...model('V1ComponentStatus', { conditions: byType }),
  // apps/v1
  ...model('V1DeploymentSpec', { strategy: { strategy: 'retainKeys' } }),
  ...model('V1DeploymentStatus', { conditions: byType }),
  ...model('V1StatefulSetStatus', { conditions: byType }),
  ...model('V1DaemonSetStatus', { conditions: byType }),
  ...model('V1ReplicaSetStatus', { conditions: byType }),
  // batch/v1: Job conditions merge by type in a strategic merge patch but are atomic for apply.
  ...model('V1JobStatus', { conditions: { strategy: 'merge', mergeKey: 'type', listType: 'atomic' } }),
  // policy/v1
  ...model('V1PodDisruptionBudgetSpec', { selector: { strategy: 'replace' } }),
  ...model('V1PodDisruptionBudgetStatus', { conditions: byType }),
]);

/** Structs Kubernetes marks `+structType=atomic`: server-side apply owns them as one value. */
export const ATOMIC_STRUCTS: ReadonlySet<string> = new Set([
  'V1LabelSelector',
  'V1ObjectReference',
  'V1LocalObjectReference',
  'V1TypedLocalObjectReference',
  'V1ConfigMapKeySelector',
  'V1SecretKeySelector',
  'V1ObjectFieldSelector',
  'V1ResourceFieldSelector',
  'V1NodeSelector',
  'V1NodeSelectorTerm',
  'V1TopologySelectorTerm',
  'V1SecretReference',
]);

/**
 * Struct fields that are values (not pointers) in the Go types, so that a freshly created
 * object's "before" state already has them as empty objects. Managed-fields tracking of a create
 * then does not mark them as added (Kubernetes' entries show `f:spec` without `.`), while
 * pointer structs and maps that appear are (`f:labels: {".": {}, …}`). `metadata`, `spec` and
 * `status` of a kind are always values.
 */
export const VALUE_STRUCT_FIELDS: ReadonlyMap<string, readonly string[]> = new Map([
  ['V1DeploymentSpec', ['template', 'strategy']],
  ['V1StatefulSetSpec', ['template', 'updateStrategy']],
  ['V1DaemonSetSpec', ['template', 'updateStrategy']],
  ['V1ReplicaSetSpec', ['template']],
  ['V1ReplicationControllerSpec', []],
  ['V1JobSpec', ['template']],
  ['V1CronJobSpec', ['jobTemplate']],
  ['V1JobTemplateSpec', ['metadata', 'spec']],
  ['V1PodTemplateSpec', ['metadata', 'spec']],
  ['V1PodTemplate', ['template']],
  ['V1ServiceStatus', ['loadBalancer']],
  ['V1NodeStatus', ['daemonEndpoints', 'nodeInfo']],
  ['V1NodeDaemonEndpoints', ['kubeletEndpoint']],
  ['V1PersistentVolumeClaimSpec', ['resources']],
  ['CoreV1Event', ['involvedObject', 'source']],
]);

/**
 * Fields Go marshals as `null` in a zero value (no `omitempty`): present, so a create does not
 * mark them added either (Kubernetes' entries show `f:containers` without `.`).
 */
export const NULL_ZERO_FIELDS: ReadonlyMap<string, readonly string[]> = new Map([['V1PodSpec', ['containers']]]);
