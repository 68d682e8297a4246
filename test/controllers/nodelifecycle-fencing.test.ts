// kennel's safe replacement of a dead node's StatefulSet pods, as pure decisions: when the
// server may force-delete (lease last seen renewed + lease duration + margin, node Unknown, pod
// Terminating and owned by a StatefulSet), the on-node-loss modes for node-bound volumes, the
// administrator's out-of-service taint — and the timing rule that no two pods of one identity
// ever run, checked against simulated clocks that drift.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { KubeObject } from '../../src/registry/types.ts';
import type { Node, PersistentVolume, PersistentVolumeClaim, Pod, Taint } from '../../src/scheduler/types.ts';
import type { NodeHealth } from '../../src/controllers/nodelifecycle/health.ts';
import {
  ANNOTATION_FENCING,
  ANNOTATION_ON_NODE_LOSS,
  agentFenceDeadline,
  decideFencedDeletions,
  isFenceablePod,
  isNodeBoundClaim,
  onNodeLossOf,
  serverFenceTime,
  type FenceInput,
} from '../../src/controllers/nodelifecycle/fencing.ts';

const L = 40;
const MARGIN = 20_000;
const OBSERVED = 1_000_000;
const FENCE_AT = OBSERVED + L * 1000 + MARGIN;

function nodeObj(name: string, ready: string, taints: Taint[] = [], fencing: string | null = 'watchdog'): Node {
  return {
    metadata: { name, labels: { 'kubernetes.io/hostname': name, zone: 'a' }, ...(fencing !== null ? { annotations: { [ANNOTATION_FENCING]: fencing } } : {}) },
    spec: { taints },
    status: { conditions: [{ type: 'Ready', status: ready }] },
  };
}

function set(annotations?: Record<string, string>): KubeObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: { name: 'web', namespace: 'default', uid: 'set-uid', ...(annotations ? { annotations } : {}) },
    spec: { volumeClaimTemplates: [{ metadata: { name: 'data' } }] },
  };
}

function stsPod(extra: { terminating?: boolean; owner?: 'sts' | 'rs' | 'none'; node?: string } = {}): Pod {
  const owner = extra.owner ?? 'sts';
  const refs =
    owner === 'none'
      ? undefined
      : [{ apiVersion: 'apps/v1', kind: owner === 'sts' ? 'StatefulSet' : 'ReplicaSet', name: 'web', uid: 'set-uid', controller: true }];
  return {
    metadata: {
      name: 'web-0',
      namespace: 'default',
      uid: 'pod-uid',
      ...(refs ? { ownerReferences: refs } : {}),
      ...(extra.terminating === false ? {} : { deletionTimestamp: '2030-01-01T00:00:00Z' }),
    },
    spec: {
      nodeName: extra.node ?? 'n1',
      containers: [{ name: 'c' }],
      volumes: [
        { name: 'data', persistentVolumeClaim: { claimName: 'data-web-0' } },
        { name: 'shared', persistentVolumeClaim: { claimName: 'shared' } },
      ],
    },
  };
}

function foreverTolerant(pod: Pod, t: NonNullable<NonNullable<Pod['spec']>['tolerations']>[number] = { key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute' }): Pod {
  pod.spec!.tolerations = [t];
  return pod;
}

function claim(name: string, volumeName?: string, selectedNode?: string): PersistentVolumeClaim {
  return {
    metadata: { name, namespace: 'default', uid: `${name}-uid`, ...(selectedNode ? { annotations: { 'volume.kubernetes.io/selected-node': selectedNode } } : {}) },
    spec: volumeName ? { volumeName } : {},
  };
}

function localPV(name: string, key: string, values: string[]): PersistentVolume {
  return {
    metadata: { name },
    spec: { nodeAffinity: { required: { nodeSelectorTerms: [{ matchExpressions: [{ key, operator: 'In', values }] }] } } },
  };
}

const health: NodeHealth = { probeAt: OBSERVED, heartbeat: '', leaseRenewTime: 'r', leaseObservedAt: OBSERVED, leaseDurationSeconds: L };

function input(over: Partial<FenceInput> & { setObj?: KubeObject | null; claimObjs?: PersistentVolumeClaim[]; pvObjs?: PersistentVolume[] } = {}): FenceInput {
  const setObj = over.setObj === undefined ? set() : over.setObj;
  const claims = over.claimObjs ?? [claim('data-web-0', 'pv-local'), claim('shared', 'pv-local')];
  const pvs = over.pvObjs ?? [localPV('pv-local', 'kubernetes.io/hostname', ['n1'])];
  const n1 = nodeObj('n1', 'Unknown');
  return {
    node: n1,
    ready: 'Unknown',
    health,
    pods: [stsPod()],
    now: FENCE_AT,
    marginMs: MARGIN,
    defaultLeaseDurationSeconds: 40,
    sets: { get: (_ns, n) => (setObj && n === setObj.metadata.name ? setObj : undefined) },
    claims: { get: (_ns, n) => claims.find((c) => c.metadata.name === n) },
    pvs: { get: (_ns, n) => pvs.find((p) => p.metadata.name === n) },
    readyNodes: [nodeObj('n2', 'True')],
    ...over,
  };
}

describe('when the server force-deletes', () => {
  it('the fence time is the last observed renewal + the lease duration written in the Lease + the margin', () => {
    assert.equal(serverFenceTime(health, MARGIN, 99), FENCE_AT);
    assert.equal(serverFenceTime({ ...health, leaseDurationSeconds: undefined }, MARGIN, 15), OBSERVED + 15_000 + MARGIN);
    assert.equal(serverFenceTime({ ...health, leaseObservedAt: undefined }, MARGIN, 40), undefined, 'no lease ever seen: no fencing agent');
  });

  it('not a millisecond before the fence time; the decision says when to look again', () => {
    const before = decideFencedDeletions(input({ now: FENCE_AT - 1 }));
    assert.deepEqual(before.deletions, []);
    assert.equal(before.fenceAt, FENCE_AT);
    const at = decideFencedDeletions(input());
    assert.equal(at.deletions.length, 1);
    assert.equal(at.deletions[0].why, 'lease');
    assert.equal(at.deletions[0].pod.metadata.name, 'web-0');
  });

  const none: { name: string; in: Partial<FenceInput> }[] = [
    { name: 'node Ready', in: { ready: 'True', node: nodeObj('n1', 'True') } },
    { name: 'node NotReady but reporting (its agent is alive)', in: { ready: 'False', node: nodeObj('n1', 'False') } },
    { name: 'pod not Terminating that tolerates the unreachable taint for ever', in: { pods: [foreverTolerant(stsPod({ terminating: false }))] } },
    { name: 'pod not Terminating that tolerates every taint for ever', in: { pods: [foreverTolerant(stsPod({ terminating: false }), { operator: 'Exists' })] } },
    { name: 'pod not owned by a StatefulSet', in: { pods: [stsPod({ owner: 'rs' })] } },
    { name: 'orphan pod', in: { pods: [stsPod({ owner: 'none' })] } },
    { name: 'pod of another node', in: { pods: [stsPod({ node: 'n2' })] } },
    { name: 'no lease ever seen', in: { health: { ...health, leaseObservedAt: undefined } } },
    // Only a node whose agent fences also when it is dead (its watchdog) may lose its pods.
    { name: 'node without the kennel.dev/fencing annotation (its agent may be dead and its containers running)', in: { node: nodeObj('n1', 'Unknown', [], null) } },
    { name: 'node with an unknown kennel.dev/fencing value', in: { node: nodeObj('n1', 'Unknown', [], 'maybe') } },
  ];
  for (const c of none) {
    it(`nothing when: ${c.name}`, () => assert.deepEqual(decideFencedDeletions(input({ ...c.in, now: FENCE_AT + 3_600_000 })).deletions, []));
  }

  it('a node fenced by its agent alone (simulated runtime: no container outlives the agent) counts; without the annotation nothing waits for a fence time', () => {
    assert.equal(decideFencedDeletions(input({ node: nodeObj('n1', 'Unknown', [], 'agent') })).deletions.length, 1);
    assert.equal(decideFencedDeletions(input({ node: nodeObj('n1', 'Unknown', [], null), now: FENCE_AT - 1 })).fenceAt, undefined);
  });

  it('a StatefulSet pod that is not Terminating is replaced too: its default 300 s toleration does not hold it', () => {
    const pod = stsPod({ terminating: false });
    pod.spec!.tolerations = [{ key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 }];
    assert.deepEqual(decideFencedDeletions(input({ pods: [pod], now: FENCE_AT })).deletions.map((x) => x.why), ['lease']);
    assert.deepEqual(decideFencedDeletions(input({ pods: [pod], now: FENCE_AT - 1 })).deletions, []);
    // Not a StatefulSet pod: it waits for its eviction, as in Kubernetes.
    assert.deepEqual(decideFencedDeletions(input({ pods: [stsPod({ terminating: false, owner: 'rs' })], now: FENCE_AT })).deletions, []);
  });

  it('the out-of-service taint on a node that is not Ready: every Terminating pod, at once', () => {
    const oos = nodeObj('n1', 'False', [{ key: 'node.kubernetes.io/out-of-service', effect: 'NoExecute' }]);
    const d = decideFencedDeletions(input({ node: oos, ready: 'False', now: 0, pods: [stsPod({ owner: 'rs' }), stsPod({ terminating: false })] }));
    assert.deepEqual(
      d.deletions.map((x) => x.why),
      ['out-of-service'],
    );
    // The administrator's word needs no fencing agent.
    const plainOos = nodeObj('n1', 'False', [{ key: 'node.kubernetes.io/out-of-service', effect: 'NoExecute' }], null);
    assert.deepEqual(decideFencedDeletions(input({ node: plainOos, ready: 'False', now: 0 })).deletions.map((x) => x.why), ['out-of-service']);
    const readyOos = nodeObj('n1', 'True', [{ key: 'node.kubernetes.io/out-of-service', effect: 'NoExecute' }]);
    assert.deepEqual(decideFencedDeletions(input({ node: readyOos, ready: 'True', now: 0 })).deletions, []);
  });

  it('isFenceablePod: a pod controlled by an apps StatefulSet', () => {
    assert.equal(isFenceablePod(stsPod()), true);
    assert.equal(isFenceablePod(stsPod({ owner: 'rs' })), false);
    assert.equal(isFenceablePod(stsPod({ owner: 'none' })), false);
  });
});

describe('kennel.dev/on-node-loss', () => {
  it('wait (default): the node-bound claim stays, to be reported', () => {
    const [d] = decideFencedDeletions(input()).deletions;
    assert.equal(d.mode, 'wait');
    assert.deepEqual(d.deleteClaims, []);
    assert.deepEqual(d.keptClaims, ['data-web-0'], 'only the per-ordinal claim, not a shared one');
  });

  it('recreate-volume: the node-bound per-ordinal claim is deleted (with its uid)', () => {
    const [d] = decideFencedDeletions(input({ setObj: set({ [ANNOTATION_ON_NODE_LOSS]: 'recreate-volume' }) })).deletions;
    assert.equal(d.mode, 'recreate-volume');
    assert.deepEqual(d.deleteClaims, [{ name: 'data-web-0', uid: 'data-web-0-uid' }]);
    assert.deepEqual(d.keptClaims, []);
  });

  it('recreate-volume leaves network volumes and volumes other Ready nodes can use', () => {
    const s = set({ [ANNOTATION_ON_NODE_LOSS]: 'recreate-volume' });
    const network = decideFencedDeletions(input({ setObj: s, pvObjs: [{ metadata: { name: 'pv-local' }, spec: {} }] })).deletions[0];
    assert.deepEqual(network.deleteClaims, []);
    const zonal = decideFencedDeletions(input({ setObj: s, pvObjs: [localPV('pv-local', 'zone', ['a'])] })).deletions[0];
    assert.deepEqual(zonal.deleteClaims, [], 'n2 is in the same zone and Ready');
    const zonalAlone = decideFencedDeletions(input({ setObj: s, pvObjs: [localPV('pv-local', 'zone', ['a'])], readyNodes: [] })).deletions[0];
    assert.deepEqual(zonalAlone.deleteClaims, [{ name: 'data-web-0', uid: 'data-web-0-uid' }], 'no Ready node can use it');
  });

  it('an unbound claim provisioned for the lost node counts as node-bound', () => {
    const n1 = nodeObj('n1', 'Unknown');
    const none = { get: () => undefined };
    assert.equal(isNodeBoundClaim(claim('c', undefined, 'n1'), none, n1, []), true);
    assert.equal(isNodeBoundClaim(claim('c', undefined, 'n2'), none, n1, []), false);
    assert.equal(isNodeBoundClaim(claim('c'), none, n1, []), false);
  });

  it('a claim already being deleted is left alone; a missing set means wait', () => {
    const deleting = { ...claim('data-web-0', 'pv-local'), metadata: { ...claim('data-web-0', 'pv-local').metadata, deletionTimestamp: '2030-01-01T00:00:00Z' } };
    const [d] = decideFencedDeletions(input({ setObj: set({ [ANNOTATION_ON_NODE_LOSS]: 'recreate-volume' }), claimObjs: [deleting] })).deletions;
    assert.deepEqual(d.deleteClaims, []);
    const [orphaned] = decideFencedDeletions(input({ setObj: null })).deletions;
    assert.equal(orphaned.set, undefined);
    assert.equal(orphaned.mode, 'wait');
    const [otherUid] = decideFencedDeletions(input({ setObj: { ...set(), metadata: { ...set().metadata, uid: 'another' } } })).deletions;
    assert.equal(otherUid.set, undefined, 'a set of the same name but another uid is not the owner');
  });

  it('an unknown value counts as wait and is reported', () => {
    assert.deepEqual(onNodeLossOf(set({ [ANNOTATION_ON_NODE_LOSS]: 'Recreate' })), { mode: 'wait', invalid: 'Recreate' });
    assert.deepEqual(onNodeLossOf(set({ [ANNOTATION_ON_NODE_LOSS]: '' })), { mode: 'wait' });
    assert.deepEqual(onNodeLossOf(undefined), { mode: 'wait' });
    const [d] = decideFencedDeletions(input({ setObj: set({ [ANNOTATION_ON_NODE_LOSS]: 'yes' }) })).deletions;
    assert.equal(d.invalidMode, 'yes');
    assert.deepEqual(d.deleteClaims, []);
  });
});

// ---------------------------------------------------------------------------------------------
// The timing rule, against simulated machines whose clocks have arbitrary offsets and rates
// within ±ρ of real time.

interface Clockish {
  /** local reading at real time t (seconds → ms) */
  at(t: number): number;
  /** real time at which the local clock reads v */
  when(v: number): number;
}

function driftingClock(offset: number, rate: number): Clockish {
  return { at: (t) => offset + t * rate, when: (v) => (v - offset) / rate };
}

/** A small deterministic PRNG (mulberry32). */
function rng(seed: number): () => number {
  let a = seed;
  return () => {
    a |= 0;
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Scenario {
  /** real ms: when the agent sent its last renewal that it saw succeed */
  sent: number;
  /** real ms the response took to come back (the agent counts from the send, or the response) */
  responseDelay: number;
  /** real ms: commit of that renewal, and of a later renewal whose response was lost (if any) */
  commits: number[];
  /** real ms from commit to the controller seeing it */
  observeDelay: number;
  agent: Clockish;
  server: Clockish;
  /** ms the agent may take past its deadline to have every container dead */
  killLate: number;
}

function scenario(r: () => number, rho: number, killLate: number): Scenario {
  const sent = 1e6 + r() * 1e6;
  const commit = sent + r() * 2000;
  const ghost = r() < 0.5 ? [commit + 10_000 + r() * 2000] : [];
  const rate = (): number => 1 + (2 * r() - 1) * rho;
  return {
    sent,
    responseDelay: r() * 2000,
    commits: [commit, ...ghost],
    observeDelay: r() * 3000,
    agent: driftingClock(r() * 1e12, rate()),
    server: driftingClock(r() * 1e12, rate()),
    killLate,
  };
}

/** Real times: when the last container is dead, and when the server force-deletes. */
function simulate(s: Scenario, marginMs: number, countFrom: 'send' | 'response'): { dead: number; deleted: number } {
  const start = countFrom === 'send' ? s.sent : s.sent + s.responseDelay;
  const deadline = agentFenceDeadline(s.agent.at(start), L);
  const dead = s.agent.when(deadline + s.killLate);
  const lastObserved = Math.max(...s.commits) + s.observeDelay;
  const h: NodeHealth = { probeAt: 0, heartbeat: '', leaseRenewTime: 'x', leaseObservedAt: s.server.at(lastObserved), leaseDurationSeconds: L };
  const fenceAt = serverFenceTime(h, marginMs, L)!;
  return { dead, deleted: s.server.when(fenceAt) };
}

describe('the timing rule: at no moment do two pods of one identity run', () => {
  const RHO = 0.001;
  const K = MARGIN - RHO * (2 * L * 1000 + MARGIN); // 19.9 s

  it('holds for 20,000 random runs with clocks off by up to 0.1 % in rate and any offset', () => {
    const r = rng(42);
    let closest = Infinity;
    for (let i = 0; i < 20_000; i++) {
      const s = scenario(r, RHO, K);
      const { dead, deleted } = simulate(s, MARGIN, 'send');
      assert.ok(deleted >= dead, `run ${i}: force-deleted at ${deleted}, last container dead at ${dead}`);
      closest = Math.min(closest, deleted - dead);
    }
    assert.ok(closest >= 0 && closest < 1000, `the bound is tight (closest ${closest} ms)`);
  });

  it('fails for an agent that counts from the response instead of the send', () => {
    const r = rng(7);
    let violations = 0;
    for (let i = 0; i < 2000; i++) {
      const s = { ...scenario(r, RHO, K), responseDelay: 25_000, commits: [] as number[] };
      s.commits = [s.sent + 10];
      const { dead, deleted } = simulate(s, MARGIN, 'response');
      if (deleted < dead) violations++;
    }
    assert.ok(violations > 0, 'a slow response makes a late fence');
  });

  it('fails without a margin once killing takes time', () => {
    const r = rng(9);
    let violations = 0;
    for (let i = 0; i < 2000; i++) {
      const { dead, deleted } = simulate(scenario(r, RHO, 1000), 0, 'send');
      if (deleted < dead) violations++;
    }
    assert.ok(violations > 0);
  });
});
