// The scheduler's decisions as pure functions: every filter (with kube-scheduler's exact
// reasons), every score, the effective-request arithmetic, and the FailedScheduling message.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Node, Pod, PersistentVolume, Taint, Toleration, NodeSelectorTerm } from '../../src/scheduler/types.ts';
import { NodeInfo, buildNodeInfos, podInfoOf, podRequests } from '../../src/scheduler/nodeinfo.ts';
import {
  FILTERS,
  claimInfoOf,
  compileTerm,
  findUntoleratedTaint,
  newSchedulingContext,
  nodeAffinityFilter,
  nodeNameFilter,
  nodePortsFilter,
  nodeResourcesFitFilter,
  nodeUnschedulableFilter,
  runPreFilters,
  taintTolerationFilter,
  termMatches,
  toleratesTaint,
  volumeBindingFilter,
  type ClaimInfo,
  type FilterStatus,
} from '../../src/scheduler/filters.ts';
import {
  defaultNormalizeScore,
  intolerablePreferNoScheduleTaints,
  leastAllocatedScore,
  leastRequestedScore,
  preferredAffinityScore,
  scoreNodes,
  seededRandom,
  selectHost,
  spreadScores,
} from '../../src/scheduler/scores.ts';
import { fitErrorMessage, schedule, truncateMessage, NO_NODES_MESSAGE, type Diagnosis } from '../../src/scheduler/schedule.ts';

// ---------------------------------------------------------------------------------------------
// fixtures

interface NodeOpts {
  cpu?: string;
  memory?: string;
  pods?: string;
  ephemeral?: string;
  extra?: Record<string, string>;
  labels?: Record<string, string>;
  taints?: Taint[];
  unschedulable?: boolean;
}

function node(name: string, o: NodeOpts = {}): Node {
  const allocatable: Record<string, string> = { cpu: o.cpu ?? '4', memory: o.memory ?? '8Gi', pods: o.pods ?? '110', ...(o.ephemeral ? { 'ephemeral-storage': o.ephemeral } : {}), ...(o.extra ?? {}) };
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name, labels: { 'kubernetes.io/hostname': name, ...(o.labels ?? {}) } },
    spec: { taints: o.taints, unschedulable: o.unschedulable },
    status: { allocatable, capacity: allocatable, conditions: [{ type: 'Ready', status: 'True' }] },
  };
}

interface PodOpts {
  cpu?: string;
  memory?: string;
  ephemeral?: string;
  extra?: Record<string, string>;
  nodeName?: string;
  nodeSelector?: Record<string, string>;
  tolerations?: Toleration[];
  required?: NodeSelectorTerm[];
  preferred?: { weight: number; preference: NodeSelectorTerm }[];
  hostPorts?: { hostPort: number; hostIP?: string; protocol?: string }[];
  owner?: string;
  priority?: number;
  preemptionPolicy?: string;
  claims?: string[];
  phase?: string;
}

let uidSeq = 0;
function pod(name: string, o: PodOpts = {}): Pod {
  const requests: Record<string, string> = {};
  if (o.cpu) requests.cpu = o.cpu;
  if (o.memory) requests.memory = o.memory;
  if (o.ephemeral) requests['ephemeral-storage'] = o.ephemeral;
  Object.assign(requests, o.extra ?? {});
  const p: Pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace: 'default',
      uid: `uid-${name}-${uidSeq++}`,
      ...(o.owner ? { ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: o.owner, uid: `owner-${o.owner}`, controller: true }] } : {}),
    },
    spec: {
      containers: [
        {
          name: 'c',
          image: 'busybox',
          ...(Object.keys(requests).length ? { resources: { requests } } : {}),
          ...(o.hostPorts ? { ports: o.hostPorts.map((h) => ({ containerPort: h.hostPort, ...h })) } : {}),
        },
      ],
      nodeName: o.nodeName,
      nodeSelector: o.nodeSelector,
      tolerations: o.tolerations,
      priority: o.priority ?? 0,
      preemptionPolicy: o.preemptionPolicy,
      ...(o.required || o.preferred
        ? {
            affinity: {
              nodeAffinity: {
                ...(o.required ? { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: o.required } } : {}),
                ...(o.preferred ? { preferredDuringSchedulingIgnoredDuringExecution: o.preferred } : {}),
              },
            },
          }
        : {}),
      ...(o.claims ? { volumes: o.claims.map((c, i) => ({ name: `v${i}`, persistentVolumeClaim: { claimName: c } })) } : {}),
    },
    status: { phase: o.phase ?? 'Pending' },
  };
  return p;
}

function info(n: Node, pods: Pod[] = []): NodeInfo {
  const ni = new NodeInfo(n.metadata.name ?? '', n);
  for (const p of pods) ni.addPod(podInfoOf(p));
  return ni;
}

const ctxOf = (p: Pod, claims?: Map<string, ClaimInfo>) => newSchedulingContext(p, claims);

function statusOf(s: FilterStatus | null): [string, string[]] | null {
  return s ? [s.code, s.reasons] : null;
}

const CP_TAINT: Taint = { key: 'node-role.kubernetes.io/control-plane', effect: 'NoSchedule' };

// ---------------------------------------------------------------------------------------------

describe('scheduler: effective requests', () => {
  it('sums app containers, maxes with init containers, counts sidecars and overhead', () => {
    const p: Pod = {
      metadata: { name: 'p', namespace: 'd', uid: 'u' },
      spec: {
        initContainers: [
          { name: 'i1', resources: { requests: { cpu: '2', memory: '1G' } } },
          { name: 'i2', resources: { requests: { cpu: '2', memory: '3G' } } },
        ],
        containers: [
          { name: 'c1', resources: { requests: { cpu: '2', memory: '1G' } } },
          { name: 'c2', resources: { requests: { cpu: '1', memory: '1G' } } },
        ],
      },
    };
    const r = podRequests(p);
    assert.equal(r.get('cpu'), 3000);
    assert.equal(r.get('memory'), 3_000_000_000);
    // With a sidecar (restartPolicy Always) started first: it runs alongside the later init
    // containers and the app containers.
    p.spec!.initContainers!.unshift({ name: 'side', restartPolicy: 'Always', resources: { requests: { cpu: '500m' } } });
    p.spec!.overhead = { cpu: '100m' };
    const r2 = podRequests(p);
    // app 3 + sidecar 0.5 = 3.5 vs init 2 + 0.5 = 2.5 → 3.5, + overhead 0.1
    assert.equal(r2.get('cpu'), 3600);
    assert.equal(r2.get('memory'), 3_000_000_000);
  });

  it('counts 100m / 200Mi for containers without cpu/memory requests when scoring', () => {
    const pi = podInfoOf(pod('be'));
    assert.equal(pi.requests.milliCPU, 0);
    assert.equal(pi.nonZeroCPU, 100);
    assert.equal(pi.nonZeroMemory, 200 * 1024 * 1024);
    const pi2 = podInfoOf(pod('half', { cpu: '250m' }));
    assert.equal(pi2.nonZeroCPU, 250);
    assert.equal(pi2.nonZeroMemory, 200 * 1024 * 1024);
  });
});

describe('scheduler: filters', () => {
  it('NodeUnschedulable: cordoned nodes, unless the pod tolerates the unschedulable taint', () => {
    const cordoned = info(node('n', { unschedulable: true }));
    assert.deepEqual(statusOf(nodeUnschedulableFilter(ctxOf(pod('p')), cordoned)), ['UnschedulableAndUnresolvable', ['node(s) were unschedulable']]);
    const tol = pod('p', { tolerations: [{ key: 'node.kubernetes.io/unschedulable', operator: 'Exists', effect: 'NoSchedule' }] });
    assert.equal(nodeUnschedulableFilter(ctxOf(tol), cordoned), null);
    const all = pod('p', { tolerations: [{ operator: 'Exists' }] });
    assert.equal(nodeUnschedulableFilter(ctxOf(all), cordoned), null);
    assert.equal(nodeUnschedulableFilter(ctxOf(pod('p')), info(node('n'))), null);
  });

  it('NodeName: spec.nodeName must be the node', () => {
    const p = pod('p', { nodeName: 'a' });
    assert.equal(nodeNameFilter(ctxOf(p), info(node('a'))), null);
    assert.deepEqual(statusOf(nodeNameFilter(ctxOf(p), info(node('b')))), ['UnschedulableAndUnresolvable', ["node(s) didn't match the requested node name"]]);
  });

  const tolerationCases: { name: string; t: Toleration; taint: Taint; want: boolean }[] = [
    { name: 'Equal, same value', t: { key: 'k', operator: 'Equal', value: 'v', effect: 'NoSchedule' }, taint: { key: 'k', value: 'v', effect: 'NoSchedule' }, want: true },
    { name: 'empty operator means Equal', t: { key: 'k', value: 'v' }, taint: { key: 'k', value: 'v', effect: 'NoExecute' }, want: true },
    { name: 'Equal, other value', t: { key: 'k', operator: 'Equal', value: 'w' }, taint: { key: 'k', value: 'v', effect: 'NoSchedule' }, want: false },
    { name: 'Equal, empty value vs none', t: { key: 'k', operator: 'Equal' }, taint: { key: 'k', effect: 'NoSchedule' }, want: true },
    { name: 'Exists, any value', t: { key: 'k', operator: 'Exists' }, taint: { key: 'k', value: 'x', effect: 'NoSchedule' }, want: true },
    { name: 'Exists with empty key tolerates everything', t: { operator: 'Exists' }, taint: { key: 'any', value: 'x', effect: 'NoExecute' }, want: true },
    { name: 'Exists with empty key, effect given', t: { operator: 'Exists', effect: 'NoSchedule' }, taint: { key: 'any', effect: 'NoExecute' }, want: false },
    { name: 'other key', t: { key: 'j', operator: 'Exists' }, taint: { key: 'k', effect: 'NoSchedule' }, want: false },
    { name: 'other effect', t: { key: 'k', operator: 'Exists', effect: 'NoExecute' }, taint: { key: 'k', effect: 'NoSchedule' }, want: false },
    { name: 'unknown operator', t: { key: 'k', operator: 'Gt', value: '1' }, taint: { key: 'k', value: '1', effect: 'NoSchedule' }, want: false },
  ];
  for (const c of tolerationCases) {
    it(`toleration matching: ${c.name}`, () => assert.equal(toleratesTaint(c.t, c.taint), c.want));
  }

  it('TaintToleration: NoSchedule and NoExecute block, PreferNoSchedule does not; the first untolerated taint is named', () => {
    const n = info(node('n', { taints: [{ key: 'soft', effect: 'PreferNoSchedule' }, { key: 'a', value: '1', effect: 'NoSchedule' }, { key: 'b', effect: 'NoExecute' }] }));
    assert.deepEqual(statusOf(taintTolerationFilter(ctxOf(pod('p')), n)), ['UnschedulableAndUnresolvable', ['node(s) had untolerated taint {a: 1}']]);
    const tolA = pod('p', { tolerations: [{ key: 'a', operator: 'Exists' }] });
    assert.deepEqual(statusOf(taintTolerationFilter(ctxOf(tolA), n)), ['UnschedulableAndUnresolvable', ['node(s) had untolerated taint {b: }']]);
    const tolAB = pod('p', { tolerations: [{ key: 'a', operator: 'Exists' }, { key: 'b', operator: 'Exists', effect: 'NoExecute' }] });
    assert.equal(taintTolerationFilter(ctxOf(tolAB), n), null);
    assert.equal(findUntoleratedTaint([{ key: 'soft', effect: 'PreferNoSchedule' }], []), undefined);
    // A not-ready node is only tainted: the default not-ready toleration (NoExecute) is not enough for NoSchedule.
    const notReady = info(node('nr', { taints: [{ key: 'node.kubernetes.io/not-ready', effect: 'NoSchedule' }] }));
    const dflt = pod('p', { tolerations: [{ key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 }] });
    assert.deepEqual(statusOf(taintTolerationFilter(ctxOf(dflt), notReady)), ['UnschedulableAndUnresolvable', ['node(s) had untolerated taint {node.kubernetes.io/not-ready: }']]);
  });

  const MISMATCH: [string, string[]] = ['UnschedulableAndUnresolvable', ["node(s) didn't match Pod's node affinity/selector"]];

  it('NodeAffinity: nodeSelector labels must all match', () => {
    const n = info(node('n', { labels: { disk: 'ssd', zone: 'a' } }));
    assert.equal(nodeAffinityFilter(ctxOf(pod('p', { nodeSelector: { disk: 'ssd' } })), n), null);
    assert.equal(nodeAffinityFilter(ctxOf(pod('p', { nodeSelector: { disk: 'ssd', zone: 'a' } })), n), null);
    assert.deepEqual(statusOf(nodeAffinityFilter(ctxOf(pod('p', { nodeSelector: { disk: 'hdd' } })), n)), MISMATCH);
    assert.deepEqual(statusOf(nodeAffinityFilter(ctxOf(pod('p', { nodeSelector: { gpu: 'true' } })), n)), MISMATCH);
  });

  const labels = { zone: 'a', cores: '8', name: 'x' };
  const exprCases: { name: string; term: NodeSelectorTerm; want: boolean }[] = [
    { name: 'In', term: { matchExpressions: [{ key: 'zone', operator: 'In', values: ['a', 'b'] }] }, want: true },
    { name: 'In, no match', term: { matchExpressions: [{ key: 'zone', operator: 'In', values: ['b'] }] }, want: false },
    { name: 'In, label absent', term: { matchExpressions: [{ key: 'rack', operator: 'In', values: ['1'] }] }, want: false },
    { name: 'NotIn', term: { matchExpressions: [{ key: 'zone', operator: 'NotIn', values: ['b'] }] }, want: true },
    { name: 'NotIn, label absent', term: { matchExpressions: [{ key: 'rack', operator: 'NotIn', values: ['1'] }] }, want: true },
    { name: 'NotIn, match', term: { matchExpressions: [{ key: 'zone', operator: 'NotIn', values: ['a'] }] }, want: false },
    { name: 'Exists', term: { matchExpressions: [{ key: 'zone', operator: 'Exists' }] }, want: true },
    { name: 'Exists, absent', term: { matchExpressions: [{ key: 'rack', operator: 'Exists' }] }, want: false },
    { name: 'DoesNotExist', term: { matchExpressions: [{ key: 'rack', operator: 'DoesNotExist' }] }, want: true },
    { name: 'DoesNotExist, present', term: { matchExpressions: [{ key: 'zone', operator: 'DoesNotExist' }] }, want: false },
    { name: 'Gt', term: { matchExpressions: [{ key: 'cores', operator: 'Gt', values: ['4'] }] }, want: true },
    { name: 'Gt, equal', term: { matchExpressions: [{ key: 'cores', operator: 'Gt', values: ['8'] }] }, want: false },
    { name: 'Lt', term: { matchExpressions: [{ key: 'cores', operator: 'Lt', values: ['16'] }] }, want: true },
    { name: 'Lt, label not an integer', term: { matchExpressions: [{ key: 'name', operator: 'Lt', values: ['16'] }] }, want: false },
    { name: 'Gt, bound not an integer (term invalid)', term: { matchExpressions: [{ key: 'cores', operator: 'Gt', values: ['x'] }] }, want: false },
    { name: 'expressions are ANDed', term: { matchExpressions: [{ key: 'zone', operator: 'In', values: ['a'] }, { key: 'cores', operator: 'Gt', values: ['9'] }] }, want: false },
    { name: 'matchFields metadata.name In', term: { matchFields: [{ key: 'metadata.name', operator: 'In', values: ['n1'] }] }, want: true },
    { name: 'matchFields metadata.name In, other node', term: { matchFields: [{ key: 'metadata.name', operator: 'In', values: ['n2'] }] }, want: false },
    { name: 'matchFields metadata.name NotIn', term: { matchFields: [{ key: 'metadata.name', operator: 'NotIn', values: ['n2'] }] }, want: true },
    { name: 'matchFields with two values is invalid', term: { matchFields: [{ key: 'metadata.name', operator: 'In', values: ['n1', 'n2'] }] }, want: false },
    { name: 'empty term matches nothing', term: {}, want: false },
  ];
  for (const c of exprCases) {
    it(`node selector term: ${c.name}`, () => assert.equal(termMatches(compileTerm(c.term), labels, 'n1'), c.want));
  }

  it('NodeAffinity: required terms are ORed, and ANDed with nodeSelector', () => {
    const n = info(node('n1', { labels: { zone: 'a' } }));
    const terms: NodeSelectorTerm[] = [{ matchExpressions: [{ key: 'zone', operator: 'In', values: ['b'] }] }, { matchFields: [{ key: 'metadata.name', operator: 'In', values: ['n1'] }] }];
    assert.equal(nodeAffinityFilter(ctxOf(pod('p', { required: terms })), n), null);
    assert.deepEqual(statusOf(nodeAffinityFilter(ctxOf(pod('p', { required: terms, nodeSelector: { zone: 'b' } })), n)), MISMATCH);
    assert.deepEqual(statusOf(nodeAffinityFilter(ctxOf(pod('p', { required: [terms[0]] })), n)), MISMATCH);
  });

  it('NodePorts: hostIP + protocol + port conflicts, 0.0.0.0 conflicts with every IP', () => {
    const used = info(node('n'), [pod('old', { nodeName: 'n', hostPorts: [{ hostPort: 80 }, { hostPort: 53, protocol: 'UDP', hostIP: '10.0.0.1' }] })]);
    const PORTS: [string, string[]] = ['Unschedulable', ["node(s) didn't have free ports for the requested pod ports"]];
    assert.deepEqual(statusOf(nodePortsFilter(ctxOf(pod('p', { hostPorts: [{ hostPort: 80 }] })), used)), PORTS);
    assert.deepEqual(statusOf(nodePortsFilter(ctxOf(pod('p', { hostPorts: [{ hostPort: 80, hostIP: '10.0.0.2' }] })), used)), PORTS);
    assert.equal(nodePortsFilter(ctxOf(pod('p', { hostPorts: [{ hostPort: 80, protocol: 'UDP' }] })), used), null);
    assert.equal(nodePortsFilter(ctxOf(pod('p', { hostPorts: [{ hostPort: 53, protocol: 'UDP', hostIP: '10.0.0.2' }] })), used), null);
    assert.deepEqual(statusOf(nodePortsFilter(ctxOf(pod('p', { hostPorts: [{ hostPort: 53, protocol: 'UDP' }] })), used)), PORTS);
    assert.deepEqual(statusOf(nodePortsFilter(ctxOf(pod('p', { hostPorts: [{ hostPort: 53, protocol: 'UDP', hostIP: '10.0.0.1' }] })), used)), PORTS);
    assert.equal(nodePortsFilter(ctxOf(pod('p', { hostPorts: [{ hostPort: 8080 }] })), used), null);
  });

  it('NodeResourcesFit: requests vs allocatable minus what is placed, every shortfall listed', () => {
    const n = info(node('n', { cpu: '2', memory: '4Gi', pods: '3', ephemeral: '10Gi', extra: { 'example.com/gpu': '1' } }), [
      pod('a', { nodeName: 'n', cpu: '1500m', memory: '3Gi' }),
      pod('b', { nodeName: 'n', extra: { 'example.com/gpu': '1' } }),
    ]);
    assert.equal(nodeResourcesFitFilter(ctxOf(pod('p', { cpu: '500m', memory: '1Gi' })), n), null);
    assert.deepEqual(statusOf(nodeResourcesFitFilter(ctxOf(pod('p', { cpu: '501m' })), n)), ['Unschedulable', ['Insufficient cpu']]);
    assert.deepEqual(statusOf(nodeResourcesFitFilter(ctxOf(pod('p', { cpu: '1', memory: '2Gi', ephemeral: '11Gi' })), n)), [
      'Unschedulable',
      ['Insufficient cpu', 'Insufficient memory', 'Insufficient ephemeral-storage'],
    ]);
    assert.deepEqual(statusOf(nodeResourcesFitFilter(ctxOf(pod('p', { extra: { 'example.com/gpu': '1' } })), n)), ['Unschedulable', ['Insufficient example.com/gpu']]);
    // pods count = allocatable pods
    n.addPod(podInfoOf(pod('c', { nodeName: 'n' })));
    assert.deepEqual(statusOf(nodeResourcesFitFilter(ctxOf(pod('p')), n)), ['Unschedulable', ['Too many pods']]);
    assert.deepEqual(statusOf(nodeResourcesFitFilter(ctxOf(pod('p', { cpu: '1' })), n)), ['Unschedulable', ['Too many pods', 'Insufficient cpu']]);
    // removing frees it again
    n.removePod([...n.pods.values()].find((x) => x.name === 'a')!.uid);
    assert.deepEqual(statusOf(nodeResourcesFitFilter(ctxOf(pod('p', { cpu: '1' })), n)), null);
  });

  it('NodeResourcesFit: init containers count at their max, a best-effort pod only needs a pod slot', () => {
    const n = info(node('n', { cpu: '1', pods: '1' }));
    const p = pod('p', { cpu: '200m' });
    p.spec!.initContainers = [{ name: 'init', image: 'busybox', resources: { requests: { cpu: '1200m' } } }];
    assert.deepEqual(statusOf(nodeResourcesFitFilter(ctxOf(p), n)), ['Unschedulable', ['Insufficient cpu']]);
    assert.equal(nodeResourcesFitFilter(ctxOf(pod('be')), n), null);
  });

  it('VolumeBinding: a bound PV must exist and its node affinity match the node labels', () => {
    const pv: PersistentVolume = {
      metadata: { name: 'pv-1' },
      spec: { nodeAffinity: { required: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'In', values: ['a'] }] }] } } },
    };
    const p = pod('p', { claims: ['data'] });
    const bound = new Map<string, ClaimInfo>([['data', { state: 'bound', pv }]]);
    assert.equal(volumeBindingFilter(ctxOf(p, bound), info(node('a'))), null);
    assert.deepEqual(statusOf(volumeBindingFilter(ctxOf(p, bound), info(node('b')))), ['UnschedulableAndUnresolvable', ['node(s) had volume node affinity conflict']]);
    // given as the affinity itself
    const byAffinity = new Map<string, ClaimInfo>([['data', { state: 'bound', nodeAffinity: pv.spec!.nodeAffinity!.required }]]);
    assert.deepEqual(statusOf(volumeBindingFilter(ctxOf(p, byAffinity), info(node('b')))), ['UnschedulableAndUnresolvable', ['node(s) had volume node affinity conflict']]);
    const missing = new Map<string, ClaimInfo>([['data', { state: 'bound', pv: null }]]);
    assert.deepEqual(statusOf(volumeBindingFilter(ctxOf(p, missing), info(node('a')))), [
      'UnschedulableAndUnresolvable',
      ['node(s) unavailable due to one or more pvc(s) bound to non-existent pv(s)'],
    ]);
    const noAffinity = new Map<string, ClaimInfo>([['data', { state: 'bound', pv: { metadata: { name: 'pv-2' }, spec: {} } }]]);
    assert.equal(volumeBindingFilter(ctxOf(p, noAffinity), info(node('b'))), null);
  });

  it('VolumeBinding pre-filter: missing, deleting and unbound Immediate claims', () => {
    const p = pod('p', { claims: ['data'] });
    assert.deepEqual(runPreFilters(ctxOf(p)).status?.reasons, ['persistentvolumeclaim "data" not found']);
    assert.deepEqual(runPreFilters(ctxOf(p, new Map([['data', { state: 'deleting' }]]))).status?.reasons, ['persistentvolumeclaim "data" is being deleted']);
    assert.deepEqual(runPreFilters(ctxOf(p, new Map([['data', { state: 'unbound', bindingMode: 'Immediate' }]]))).status?.reasons, ['pod has unbound immediate PersistentVolumeClaims']);
    assert.equal(runPreFilters(ctxOf(p, new Map([['data', { state: 'unbound', bindingMode: 'WaitForFirstConsumer' }]]))).status, undefined);
    // claimInfoOf from objects
    const classes = new Map([['local-path', { metadata: { name: 'local-path' }, provisioner: 'kennel.io/local-path', volumeBindingMode: 'WaitForFirstConsumer' }]]);
    const sc = (n: string) => classes.get(n);
    assert.deepEqual(claimInfoOf(undefined, () => undefined, sc), { state: 'missing' });
    assert.deepEqual(claimInfoOf({ metadata: { name: 'x' }, spec: { storageClassName: 'local-path' } }, () => undefined, sc), { state: 'unbound', bindingMode: 'WaitForFirstConsumer' });
    assert.deepEqual(claimInfoOf({ metadata: { name: 'x' }, spec: { storageClassName: 'other' } }, () => undefined, sc), { state: 'unbound', bindingMode: 'Immediate' });
    assert.deepEqual(claimInfoOf({ metadata: { name: 'x' }, spec: { volumeName: 'pv9' } }, () => undefined, sc), { state: 'bound', pv: null });
    assert.deepEqual(claimInfoOf({ metadata: { name: 'x', deletionTimestamp: '2024-01-01T00:00:00Z' }, spec: {} }, () => undefined, sc), { state: 'deleting' });
  });

  it('filters run in kube-scheduler order: the first rejection is the verdict', () => {
    assert.equal(FILTERS.length, 7);
    // cordoned + tainted + wrong labels + full: NodeUnschedulable speaks first
    const n = info(node('n', { unschedulable: true, taints: [CP_TAINT], cpu: '1' }));
    const r = schedule({ pod: pod('p', { nodeSelector: { x: 'y' }, cpu: '2' }), nodes: [n.node!] });
    assert.equal(r.ok, false);
    assert.equal(!r.ok && r.message, '0/1 nodes are available: 1 node(s) were unschedulable. preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling.');
  });
});

describe('scheduler: scores', () => {
  it('least allocated: free share of cpu and memory after placing the pod, averaged', () => {
    assert.equal(leastRequestedScore(0, 4000), 100);
    assert.equal(leastRequestedScore(1000, 4000), 75);
    assert.equal(leastRequestedScore(3333, 10000), 66);
    assert.equal(leastRequestedScore(5000, 4000), 0);
    assert.equal(leastRequestedScore(10, 0), 0);
    const n = info(node('n', { cpu: '4', memory: '8Gi' }), [pod('a', { nodeName: 'n', cpu: '1', memory: '2Gi' })]);
    // cpu: (4000-1000-1000)/4000 = 50; memory: (8-2-2)/8 = 50
    assert.equal(leastAllocatedScore(ctxOf(pod('p', { cpu: '1', memory: '2Gi' })), n), 50);
    // best effort counts as 100m / 200Mi: cpu (4000-1100)/4000=72, mem (8192-2048-200)/8192 = 72
    assert.equal(leastAllocatedScore(ctxOf(pod('p')), n), 72);
  });

  it('taint toleration: fewer untolerated PreferNoSchedule taints score higher (normalized, reversed)', () => {
    const soft = (k: string): Taint => ({ key: k, effect: 'PreferNoSchedule' });
    const nodes = [info(node('a')), info(node('b', { taints: [soft('x')] })), info(node('c', { taints: [soft('x'), soft('y')] }))];
    const c = ctxOf(pod('p'));
    assert.deepEqual(nodes.map((n) => intolerablePreferNoScheduleTaints(c, n)), [0, 1, 2]);
    assert.deepEqual(defaultNormalizeScore([0, 1, 2], true), [100, 50, 0]);
    const tol = ctxOf(pod('p', { tolerations: [{ key: 'x', operator: 'Exists', effect: 'PreferNoSchedule' }, { key: 'y', operator: 'Exists', effect: 'NoSchedule' }] }));
    // the NoSchedule toleration does not count for PreferNoSchedule taints
    assert.deepEqual(nodes.map((n) => intolerablePreferNoScheduleTaints(tol, n)), [0, 0, 1]);
    assert.deepEqual(defaultNormalizeScore([0, 0, 0], true), [100, 100, 100]);
    assert.deepEqual(defaultNormalizeScore([0, 0], false), [0, 0]);
  });

  it('preferred node affinity: sum of matching weights, normalized to the best', () => {
    const p = pod('p', {
      preferred: [
        { weight: 10, preference: { matchExpressions: [{ key: 'disk', operator: 'In', values: ['ssd'] }] } },
        { weight: 30, preference: { matchExpressions: [{ key: 'zone', operator: 'In', values: ['a'] }] } },
      ],
    });
    const nodes = [info(node('a', { labels: { disk: 'ssd', zone: 'a' } })), info(node('b', { labels: { zone: 'a' } })), info(node('c', { labels: { disk: 'ssd' } })), info(node('d'))];
    const c = ctxOf(p);
    assert.deepEqual(nodes.map((n) => preferredAffinityScore(c, n)), [40, 30, 10, 0]);
    assert.deepEqual(scoreNodes(c, nodes).map((s) => s.nodeAffinity), [100, 75, 25, 0]);
  });

  it('spread: nodes with fewer pods of the same owner score higher', () => {
    const nodes = [
      info(node('a'), [pod('x1', { nodeName: 'a', owner: 'web' }), pod('x2', { nodeName: 'a', owner: 'web' })]),
      info(node('b'), [pod('x3', { nodeName: 'b', owner: 'web' }), pod('y', { nodeName: 'b', owner: 'db' })]),
      info(node('c'), [pod('z', { nodeName: 'c', owner: 'db' })]),
    ];
    assert.deepEqual(spreadScores(ctxOf(pod('p', { owner: 'web' })), nodes), [0, 50, 100]);
    assert.deepEqual(spreadScores(ctxOf(pod('p', { owner: 'new' })), nodes), [100, 100, 100]);
    assert.deepEqual(spreadScores(ctxOf(pod('p')), nodes), [0, 0, 0]);
  });

  it('weights: fit 1, taints 3, affinity 2, spread 2; ties by name or seeded random', () => {
    const nodes = [info(node('a')), info(node('b'))];
    const s = scoreNodes(ctxOf(pod('p', { owner: 'o' })), nodes);
    // fit 97 (100m of 4, 200Mi of 8Gi → 97, 97), taint 100, affinity 0, spread 100
    assert.deepEqual(
      s.map((x) => x.total),
      [97 + 300 + 200, 97 + 300 + 200],
    );
    assert.equal(selectHost(s), 'a');
    const picks = new Set<string>();
    const rnd = seededRandom(7);
    for (let i = 0; i < 20; i++) picks.add(selectHost(s, rnd));
    assert.deepEqual([...picks].sort(), ['a', 'b']);
    // reproducible for a seed
    const seq = (seed: number) => {
      const r = seededRandom(seed);
      return Array.from({ length: 10 }, () => selectHost(s, r)).join('');
    };
    assert.equal(seq(3), seq(3));
    assert.equal(selectHost([{ ...s[0], total: 1 }, { ...s[1], total: 2 }]), 'b');
  });
});

describe('scheduler: decisions and FailedScheduling messages', () => {
  it('formats the histogram sorted as Go sorts strings, then the preemption verdict', () => {
    const d: Diagnosis = {
      numAllNodes: 3,
      statuses: new Map([
        ['a', { code: 'UnschedulableAndUnresolvable', reasons: ["node(s) didn't match Pod's node affinity/selector"], plugin: 'NodeAffinity' }],
        ['b', { code: 'UnschedulableAndUnresolvable', reasons: ['node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }'], plugin: 'TaintToleration' }],
        ['c', { code: 'Unschedulable', reasons: ['Insufficient cpu'], plugin: 'NodeResourcesFit' }],
      ]),
      postFilterMsg: 'preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.',
    };
    assert.equal(
      fitErrorMessage(d),
      "0/3 nodes are available: 1 Insufficient cpu, 1 node(s) didn't match Pod's node affinity/selector, 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.",
    );
    // counts sort as strings: "10 …" before "2 …"
    const many: Diagnosis = { numAllNodes: 12, statuses: new Map() };
    for (let i = 0; i < 10; i++) many.statuses.set(`x${i}`, { code: 'Unschedulable', reasons: ['Too many pods'], plugin: 'NodeResourcesFit' });
    many.statuses.set('y0', { code: 'Unschedulable', reasons: ['Insufficient cpu', 'Insufficient memory'], plugin: 'NodeResourcesFit' });
    many.statuses.set('y1', { code: 'Unschedulable', reasons: ['Insufficient cpu'], plugin: 'NodeResourcesFit' });
    assert.equal(fitErrorMessage(many), '0/12 nodes are available: 1 Insufficient memory, 10 Too many pods, 2 Insufficient cpu.');
  });

  it('end to end over plain objects: three nodes, three different reasons', () => {
    const nodes = [node('cp', { taints: [CP_TAINT] }), node('gpu', { labels: { accel: 'gpu' }, cpu: '1' }), node('small', { cpu: '1' })];
    const pods = [pod('busy', { nodeName: 'small', cpu: '800m' })];
    const r = schedule({ pod: pod('p', { cpu: '500m', nodeSelector: { accel: 'gpu' } }), nodes, pods });
    assert.equal(r.ok, true);
    assert.equal(r.ok && r.node, 'gpu');
    const r2 = schedule({ pod: pod('p', { cpu: '1500m', required: [{ matchExpressions: [{ key: 'accel', operator: 'DoesNotExist' }] }] }), nodes, pods });
    assert.equal(r2.ok, false);
    assert.equal(
      !r2.ok && r2.message,
      "0/3 nodes are available: 1 Insufficient cpu, 1 node(s) didn't match Pod's node affinity/selector, 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }. preemption: 0/3 nodes are available: 1 No preemption victims found for incoming pod, 2 Preemption is not helpful for scheduling.",
    );
    assert.deepEqual(!r2.ok && [...r2.plugins].sort(), ['NodeAffinity', 'NodeResourcesFit', 'TaintToleration']);
  });

  it('preemption verdicts: lower-priority victims that would not free enough, Never policy, victims that would', () => {
    const nodes = [node('a', { cpu: '1' })];
    const low = pod('low', { nodeName: 'a', cpu: '300m', priority: -5 });
    const mid = pod('mid', { nodeName: 'a', cpu: '600m', priority: 10 });
    const r = schedule({ pod: pod('p', { cpu: '500m', priority: 5 }), nodes, pods: [low, mid] });
    assert.equal(!r.ok && r.message, '0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are available: 1 Insufficient cpu.');
    const never = schedule({ pod: pod('p', { cpu: '500m', priority: 5, preemptionPolicy: 'Never' }), nodes, pods: [low, mid] });
    assert.equal(!never.ok && never.message, '0/1 nodes are available: 1 Insufficient cpu. preemption: not eligible due to preemptionPolicy=Never.');
    // evicting `low` would make room: Kubernetes would preempt; kennel reports only the filter part
    const could = schedule({ pod: pod('p', { cpu: '300m', priority: 5 }), nodes, pods: [low, mid] });
    assert.equal(!could.ok && could.message, '0/1 nodes are available: 1 Insufficient cpu.');
  });

  it('pre-filter failures: one message for all nodes', () => {
    const nodes = [node('a'), node('b')];
    const r = schedule({ pod: pod('p', { claims: ['data'] }), nodes, claims: new Map([['data', { state: 'unbound', bindingMode: 'Immediate' }]]) });
    assert.equal(
      !r.ok && r.message,
      '0/2 nodes are available: pod has unbound immediate PersistentVolumeClaims. preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling.',
    );
    const r2 = schedule({ pod: pod('p', { claims: ['data'] }), nodes });
    assert.equal(!r2.ok && r2.message, '0/2 nodes are available: persistentvolumeclaim "data" not found. preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling.');
    const conflict = schedule({
      pod: pod('p', { required: [{ matchFields: [{ key: 'metadata.name', operator: 'In', values: ['a'] }, { key: 'metadata.name', operator: 'In', values: ['b'] }] }] }),
      nodes,
    });
    assert.equal(!conflict.ok && conflict.message, '0/2 nodes are available: pod affinity terms conflict. preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling.');
  });

  it('node-name affinity narrows the nodes; the others "didn\'t satisfy plugin(s) [NodeAffinity]"', () => {
    const nodes = [node('a', { cpu: '1' }), node('b'), node('c')];
    const pinned = (n: string) => [{ matchFields: [{ key: 'metadata.name', operator: 'In', values: [n] }] }];
    const ok = schedule({ pod: pod('ds', { required: pinned('b') }), nodes });
    assert.equal(ok.ok && ok.node, 'b');
    const r = schedule({ pod: pod('ds', { required: pinned('a'), cpu: '2' }), nodes, pods: [pod('x', { nodeName: 'a' })] });
    assert.equal(
      !r.ok && r.message,
      "0/3 nodes are available: 1 Insufficient cpu, 2 node(s) didn't satisfy plugin(s) [NodeAffinity]. preemption: 0/3 nodes are available: 1 No preemption victims found for incoming pod, 2 Preemption is not helpful for scheduling.",
    );
  });

  it('no nodes at all, terminal pods free their resources, and messages are truncated at 1024 bytes', () => {
    const r = schedule({ pod: pod('p'), nodes: [] });
    assert.equal(!r.ok && r.message, NO_NODES_MESSAGE);
    const nodes = [node('a', { cpu: '1' })];
    const done = pod('done', { nodeName: 'a', cpu: '1', phase: 'Succeeded' });
    assert.equal(schedule({ pod: pod('p', { cpu: '1' }), nodes, pods: [done] }).ok, true);
    assert.equal(buildNodeInfos(nodes, [done])[0].pods.size, 0);
    const long = 'x'.repeat(2000);
    const t = truncateMessage(long);
    assert.equal(t.length, 1024);
    assert.ok(t.endsWith(' ...'));
    assert.equal(truncateMessage('short'), 'short');
  });

  it('spreads a burst of one owner over equal nodes, and prefers the emptiest node', () => {
    const nodes = [node('a'), node('b'), node('c')];
    const placed: Pod[] = [];
    const counts: Record<string, number> = { a: 0, b: 0, c: 0 };
    for (let i = 0; i < 9; i++) {
      const p = pod(`web-${i}`, { owner: 'web', cpu: '100m' });
      const r = schedule({ pod: p, nodes, pods: placed });
      assert.ok(r.ok);
      p.spec!.nodeName = r.node;
      placed.push(p);
      counts[r.node]++;
    }
    assert.deepEqual(counts, { a: 3, b: 3, c: 3 });
    const busy = [pod('big', { nodeName: 'a', cpu: '3' })];
    const r = schedule({ pod: pod('p', { cpu: '100m' }), nodes: [node('a'), node('b')], pods: busy });
    assert.equal(r.ok && r.node, 'b');
  });
});
