// Table tests of DaemonSet node eligibility (NodeShouldRunDaemonPod), the automatic daemon
// tolerations, pinning a pod to its node, and reading a pod's node back.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { KubeObject } from '../../src/registry/types.ts';
import {
  daemonTolerations,
  liveNodes,
  nodeShouldRunDaemonPod,
  pinToNode,
  targetNodeName,
  withDaemonTolerations,
} from '../../src/controllers/daemonset/nodes.ts';
import { newDaemonPod } from '../../src/controllers/daemonset/pods.ts';
import { scaledIntOrPercent, updateBudget } from '../../src/controllers/daemonset/daemonset.ts';

type Obj = Record<string, unknown>;

function node(name: string, opts: { labels?: Record<string, string>; taints?: Obj[]; deleting?: boolean } = {}): KubeObject {
  const n: KubeObject = { apiVersion: 'v1', kind: 'Node', metadata: { name, labels: { 'kubernetes.io/hostname': name, ...opts.labels } }, spec: { taints: opts.taints ?? [] } };
  if (opts.deleting) n.metadata.deletionTimestamp = '2024-05-01T00:00:00Z';
  return n;
}

function ds(podSpec: Obj = {}, extra: Obj = {}): KubeObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'DaemonSet',
    metadata: { name: 'fluentd', namespace: 'kube-system', uid: 'ds-uid', annotations: { 'deprecated.daemonset.template.generation': '3' } },
    spec: {
      selector: { matchLabels: { app: 'fluentd' } },
      template: { metadata: { labels: { app: 'fluentd' }, annotations: { note: 'x' } }, spec: { containers: [{ name: 'c', image: 'fluentd:1' }], ...podSpec } },
      ...extra,
    },
  };
}

const verdict = (d: KubeObject, n: KubeObject): string => {
  const v = nodeShouldRunDaemonPod(d, n);
  return `${v.shouldRun ? 'run' : '-'}/${v.shouldContinueRunning ? 'keep' : '-'}`;
};

describe('DaemonSet node eligibility', () => {
  const cases: { name: string; podSpec?: Obj; node: KubeObject; want: string }[] = [
    { name: 'plain node', node: node('n1'), want: 'run/keep' },
    { name: 'nodeSelector matches', podSpec: { nodeSelector: { disk: 'ssd' } }, node: node('n1', { labels: { disk: 'ssd' } }), want: 'run/keep' },
    { name: 'nodeSelector does not match', podSpec: { nodeSelector: { disk: 'ssd' } }, node: node('n1', { labels: { disk: 'hdd' } }), want: '-/-' },
    { name: 'nodeSelector label missing', podSpec: { nodeSelector: { disk: 'ssd' } }, node: node('n1'), want: '-/-' },
    {
      name: 'required affinity In matches',
      podSpec: { affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'zone', operator: 'In', values: ['a', 'b'] }] }] } } } },
      node: node('n1', { labels: { zone: 'b' } }),
      want: 'run/keep',
    },
    {
      name: 'required affinity NotIn excludes',
      podSpec: { affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'zone', operator: 'NotIn', values: ['b'] }] }] } } } },
      node: node('n1', { labels: { zone: 'b' } }),
      want: '-/-',
    },
    {
      name: 'required affinity terms are ORed',
      podSpec: {
        affinity: {
          nodeAffinity: {
            requiredDuringSchedulingIgnoredDuringExecution: {
              nodeSelectorTerms: [{ matchExpressions: [{ key: 'zone', operator: 'In', values: ['a'] }] }, { matchFields: [{ key: 'metadata.name', operator: 'In', values: ['n1'] }] }],
            },
          },
        },
      },
      node: node('n1', { labels: { zone: 'z' } }),
      want: 'run/keep',
    },
    { name: 'preferred affinity does not restrict', podSpec: { affinity: { nodeAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 1, preference: { matchExpressions: [{ key: 'zone', operator: 'In', values: ['a'] }] } }] } } }, node: node('n1'), want: 'run/keep' },
    { name: 'template nodeName names another node', podSpec: { nodeName: 'n2' }, node: node('n1'), want: '-/-' },
    { name: 'template nodeName names this node', podSpec: { nodeName: 'n1' }, node: node('n1'), want: 'run/keep' },
    { name: 'untolerated NoSchedule: no new pod, existing stays', node: node('n1', { taints: [{ key: 'dedicated', value: 'db', effect: 'NoSchedule' }] }), want: '-/keep' },
    { name: 'untolerated NoExecute: neither', node: node('n1', { taints: [{ key: 'dedicated', value: 'db', effect: 'NoExecute' }] }), want: '-/-' },
    { name: 'PreferNoSchedule is ignored', node: node('n1', { taints: [{ key: 'dedicated', effect: 'PreferNoSchedule' }] }), want: 'run/keep' },
    {
      name: 'tolerated NoSchedule (Equal)',
      podSpec: { tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'db', effect: 'NoSchedule' }] },
      node: node('n1', { taints: [{ key: 'dedicated', value: 'db', effect: 'NoSchedule' }] }),
      want: 'run/keep',
    },
    {
      name: 'toleration with another value does not tolerate',
      podSpec: { tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'web', effect: 'NoSchedule' }] },
      node: node('n1', { taints: [{ key: 'dedicated', value: 'db', effect: 'NoSchedule' }] }),
      want: '-/keep',
    },
    { name: 'control-plane toleration (Exists, no effect)', podSpec: { tolerations: [{ key: 'node-role.kubernetes.io/control-plane', operator: 'Exists' }] }, node: node('cp', { taints: [{ key: 'node-role.kubernetes.io/control-plane', effect: 'NoSchedule' }] }), want: 'run/keep' },
    { name: 'automatic: not-ready NoExecute', node: node('n1', { taints: [{ key: 'node.kubernetes.io/not-ready', effect: 'NoExecute' }] }), want: 'run/keep' },
    { name: 'automatic: unreachable NoExecute', node: node('n1', { taints: [{ key: 'node.kubernetes.io/unreachable', effect: 'NoExecute' }] }), want: 'run/keep' },
    { name: 'automatic: disk-pressure', node: node('n1', { taints: [{ key: 'node.kubernetes.io/disk-pressure', effect: 'NoSchedule' }] }), want: 'run/keep' },
    { name: 'automatic: memory-pressure', node: node('n1', { taints: [{ key: 'node.kubernetes.io/memory-pressure', effect: 'NoSchedule' }] }), want: 'run/keep' },
    { name: 'automatic: pid-pressure', node: node('n1', { taints: [{ key: 'node.kubernetes.io/pid-pressure', effect: 'NoSchedule' }] }), want: 'run/keep' },
    { name: 'automatic: unschedulable (cordoned)', node: node('n1', { taints: [{ key: 'node.kubernetes.io/unschedulable', effect: 'NoSchedule' }] }), want: 'run/keep' },
    { name: 'network-unavailable blocks a pod network pod', node: node('n1', { taints: [{ key: 'node.kubernetes.io/network-unavailable', effect: 'NoSchedule' }] }), want: '-/keep' },
    { name: 'network-unavailable tolerated with hostNetwork', podSpec: { hostNetwork: true }, node: node('n1', { taints: [{ key: 'node.kubernetes.io/network-unavailable', effect: 'NoSchedule' }] }), want: 'run/keep' },
    { name: 'not-ready NoSchedule is not automatically tolerated', node: node('n1', { taints: [{ key: 'node.kubernetes.io/not-ready', effect: 'NoSchedule' }] }), want: '-/keep' },
  ];
  for (const c of cases) {
    it(c.name, () => assert.equal(verdict(ds(c.podSpec), c.node), c.want));
  }

  it('skips nodes being deleted', () => {
    assert.deepEqual(
      liveNodes([node('a'), node('b', { deleting: true }), node('c')]).map((n) => n.metadata.name),
      ['a', 'c'],
    );
  });
});

describe('daemon tolerations', () => {
  it('adds the six automatic tolerations, seven for hostNetwork', () => {
    const keys = (spec: Obj) => withDaemonTolerations(spec).map((t) => `${t.key}:${t.operator}:${t.effect}:${t.tolerationSeconds ?? '-'}`);
    assert.deepEqual(keys({}), [
      'node.kubernetes.io/not-ready:Exists:NoExecute:-',
      'node.kubernetes.io/unreachable:Exists:NoExecute:-',
      'node.kubernetes.io/disk-pressure:Exists:NoSchedule:-',
      'node.kubernetes.io/memory-pressure:Exists:NoSchedule:-',
      'node.kubernetes.io/pid-pressure:Exists:NoSchedule:-',
      'node.kubernetes.io/unschedulable:Exists:NoSchedule:-',
    ]);
    assert.equal(keys({ hostNetwork: true }).length, 7);
    assert.equal(keys({ hostNetwork: true })[6], 'node.kubernetes.io/network-unavailable:Exists:NoSchedule:-');
    assert.equal(daemonTolerations(false).length, 6);
  });

  it('keeps the template tolerations first and replaces an equal one without its seconds', () => {
    const got = withDaemonTolerations({
      tolerations: [
        { key: 'dedicated', operator: 'Exists' },
        { key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 },
      ],
    });
    assert.equal(got.length, 7);
    assert.deepEqual(got[0], { key: 'dedicated', operator: 'Exists' });
    assert.deepEqual(got[1], { key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute' });
    assert.equal(got.filter((t) => t.key === 'node.kubernetes.io/not-ready').length, 1);
  });
});

describe('pinning pods to nodes', () => {
  it('sets required node affinity to one matchFields term, keeping preferred affinity', () => {
    const affinity = {
      nodeAffinity: {
        requiredDuringSchedulingIgnoredDuringExecution: {
          nodeSelectorTerms: [{ matchExpressions: [{ key: 'zone', operator: 'In', values: ['a'] }] }, { matchFields: [{ key: 'metadata.name', operator: 'In', values: ['old'] }] }],
        },
        preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 5, preference: { matchExpressions: [{ key: 'ssd', operator: 'Exists' }] } }],
      },
      podAntiAffinity: { x: 1 },
    };
    const pinned = pinToNode(affinity, 'n7');
    assert.deepEqual(pinned, {
      nodeAffinity: {
        requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchFields: [{ key: 'metadata.name', operator: 'In', values: ['n7'] }] }] },
        preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 5, preference: { matchExpressions: [{ key: 'ssd', operator: 'Exists' }] } }],
      },
      podAntiAffinity: { x: 1 },
    });
    // The input is not modified.
    assert.equal(affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms.length, 2);
    assert.deepEqual(pinToNode(undefined, 'n1'), { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchFields: [{ key: 'metadata.name', operator: 'In', values: ['n1'] }] }] } } });
  });

  it('builds a pod: labels, owner, tolerations, affinity, no nodeName', () => {
    const pod = newDaemonPod(ds({ hostNetwork: true }), 'n2', 'abc123');
    assert.equal(pod.metadata.generateName, 'fluentd-');
    assert.equal(pod.metadata.name, undefined);
    assert.equal(pod.metadata.namespace, 'kube-system');
    assert.deepEqual(pod.metadata.labels, { app: 'fluentd', 'pod-template-generation': '3', 'controller-revision-hash': 'abc123' });
    assert.deepEqual(pod.metadata.annotations, { note: 'x' });
    assert.deepEqual(pod.metadata.ownerReferences, [{ apiVersion: 'apps/v1', kind: 'DaemonSet', name: 'fluentd', uid: 'ds-uid', controller: true, blockOwnerDeletion: true }]);
    const spec = pod.spec as Obj;
    assert.equal(spec.nodeName, undefined);
    assert.equal((spec.tolerations as Obj[]).length, 7);
    assert.equal(targetNodeName(pod), 'n2');
  });

  it('reads the node back: nodeName first, then the pinning term', () => {
    assert.equal(targetNodeName({ metadata: {}, spec: { nodeName: 'bound', affinity: pinToNode(undefined, 'pinned') } }), 'bound');
    assert.equal(targetNodeName({ metadata: {}, spec: { affinity: pinToNode(undefined, 'pinned') } }), 'pinned');
    assert.equal(targetNodeName({ metadata: {}, spec: {} }), undefined);
    const two = { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchFields: [{ key: 'metadata.name', operator: 'In', values: ['a', 'b'] }] }] } } };
    assert.equal(targetNodeName({ metadata: {}, spec: { affinity: two } }), undefined);
  });
});

describe('rolling update budget', () => {
  it('scales integers and percentages, rounding up', () => {
    assert.equal(scaledIntOrPercent(2, 10), 2);
    assert.equal(scaledIntOrPercent('10%', 15), 2);
    assert.equal(scaledIntOrPercent('100%', 3), 3);
    assert.equal(scaledIntOrPercent('33%', 1), 1);
    assert.equal(scaledIntOrPercent('x', 3), undefined);
  });
  it('maxUnavailable and maxSurge from the strategy; 1 unavailable when both are 0', () => {
    const strategy = (ru: Obj) => ds({}, { updateStrategy: { type: 'RollingUpdate', rollingUpdate: ru } });
    assert.deepEqual(updateBudget(strategy({ maxUnavailable: '25%', maxSurge: 0 }), 10), { maxSurge: 0, maxUnavailable: 3 });
    assert.deepEqual(updateBudget(strategy({ maxUnavailable: 0, maxSurge: '50%' }), 5), { maxSurge: 3, maxUnavailable: 0 });
    assert.deepEqual(updateBudget(strategy({ maxUnavailable: 0, maxSurge: 0 }), 4), { maxSurge: 0, maxUnavailable: 1 });
    assert.deepEqual(updateBudget(ds({}, { updateStrategy: { type: 'OnDelete' } }), 4), { maxSurge: 0, maxUnavailable: 1 });
  });
});
