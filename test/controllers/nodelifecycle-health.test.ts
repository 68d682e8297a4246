// Node health and the controller's taints as pure decisions: heartbeats noticed by the
// controller's own clock, Ready → Unknown after the grace period (and back once the agent
// reports), the not-ready / unreachable / pressure / cordon taints, full disruption.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock } from '../../src/client/clock.ts';
import type { Node, Taint } from '../../src/scheduler/types.ts';
import {
  MESSAGE_NEVER_UPDATED,
  MESSAGE_STATUS_UNKNOWN,
  REASON_NEVER_UPDATED,
  REASON_STATUS_UNKNOWN,
  decideNodeHealth,
  isFullDisruption,
  observeNode,
  type Lease,
  type NodeHealth,
} from '../../src/controllers/nodelifecycle/health.ts';
import {
  TAINT_NOT_READY,
  TAINT_UNREACHABLE,
  TAINT_UNSCHEDULABLE,
  isManagedTaint,
  reconcileTaints,
  wantedTaints,
  type TaintKey,
} from '../../src/controllers/nodelifecycle/taints.ts';

const GRACE = { gracePeriodMs: 50_000, startupGracePeriodMs: 60_000 };
const WALL = '2030-01-01T00:00:00Z';

function node(conditions: Record<string, string> | undefined, extra: { heartbeat?: string; unschedulable?: boolean; taints?: Taint[] } = {}): Node {
  const hb = extra.heartbeat ?? '2020-01-01T00:00:00Z';
  return {
    metadata: { name: 'n1', creationTimestamp: '2019-12-31T00:00:00Z' },
    spec: { ...(extra.unschedulable ? { unschedulable: true } : {}), ...(extra.taints ? { taints: extra.taints } : {}) },
    status: conditions
      ? {
          conditions: Object.entries(conditions).map(([type, status]) => ({
            type,
            status,
            reason: `Kubelet${type}`,
            message: 'from the agent',
            lastHeartbeatTime: hb,
            lastTransitionTime: '2019-12-31T12:00:00Z',
          })),
        }
      : {},
  };
}

const healthyConds = { Ready: 'True', MemoryPressure: 'False', DiskPressure: 'False', PIDPressure: 'False', NetworkUnavailable: 'False' };

function lease(renewTime: string, leaseDurationSeconds = 40): Lease {
  return { metadata: { name: 'n1', namespace: 'kube-node-lease' }, spec: { holderIdentity: 'n1', leaseDurationSeconds, renewTime } };
}

function keys(ts: readonly (TaintKey | Taint)[]): string[] {
  return ts.map((t) => `${t.key}:${t.effect}`).sort();
}

describe('observeNode: heartbeats by the controller clock', () => {
  it('first sight counts as heard from now, lease included', () => {
    const h = observeNode(undefined, node(healthyConds), lease('2000-01-01T00:00:00.000000Z', 30), 1000);
    assert.deepEqual(h, { probeAt: 1000, heartbeat: '2020-01-01T00:00:00Z', leaseRenewTime: '2000-01-01T00:00:00.000000Z', leaseObservedAt: 1000, leaseDurationSeconds: 30 });
    assert.equal(observeNode(undefined, node(healthyConds), undefined, 5).leaseObservedAt, undefined, 'no lease: never observed');
  });

  it('the same objects seen again change nothing (the record is returned as is)', () => {
    const n = node(healthyConds);
    const l = lease('2000-01-01T00:00:00.000000Z');
    const h = observeNode(undefined, n, l, 1000);
    assert.equal(observeNode(h, n, l, 90_000), h);
  });

  it('a lease renewal moves probe and lease times; timestamps are never compared with the clock', () => {
    const h0 = observeNode(undefined, node(healthyConds), lease('2000-01-01T00:00:00.000000Z'), 1000);
    // The agent's clock is far in the past and even goes backwards: a change is a renewal.
    const h1 = observeNode(h0, node(healthyConds), lease('1999-01-01T00:00:00.000000Z'), 7000);
    assert.equal(h1.probeAt, 7000);
    assert.equal(h1.leaseObservedAt, 7000);
    assert.equal(h1.leaseRenewTime, '1999-01-01T00:00:00.000000Z');
  });

  it('a new Ready heartbeat moves the probe time but not the lease time', () => {
    const h0 = observeNode(undefined, node(healthyConds), lease('a'), 1000);
    const h1 = observeNode(h0, node(healthyConds, { heartbeat: '2020-01-01T00:00:10Z' }), lease('a'), 4000);
    assert.equal(h1.probeAt, 4000);
    assert.equal(h1.leaseObservedAt, 1000);
  });

  it("the controller's own writes are not heartbeats", () => {
    const n = node(healthyConds);
    const h0 = observeNode(undefined, n, undefined, 0);
    const d = decideNodeHealth(n, h0, 60_000, WALL, GRACE);
    const written: Node = { ...n, status: { conditions: d.conditions } };
    assert.equal(observeNode(h0, written, undefined, 61_000), h0, 'Unknown keeps lastHeartbeatTime');
    const bare = node(undefined);
    const b0 = observeNode(undefined, bare, undefined, 0);
    const never = decideNodeHealth(bare, b0, 60_001, WALL, GRACE);
    assert.equal(observeNode(b0, { ...bare, status: { conditions: never.conditions } }, undefined, 61_000), b0, 'NodeStatusNeverUpdated is not a heartbeat');
  });
});

describe('decideNodeHealth', () => {
  const h: NodeHealth = { probeAt: 10_000, heartbeat: 'x', leaseRenewTime: 'r', leaseObservedAt: 10_000, leaseDurationSeconds: 40 };

  it('Ready stays as reported until the grace period has passed (strictly after)', () => {
    const d = decideNodeHealth(node(healthyConds), h, 60_000, WALL, GRACE);
    assert.equal(d.expired, false);
    assert.equal(d.ready, 'True');
    assert.equal(d.conditions, undefined);
    assert.equal(d.expiresAt, 60_000);
  });

  it('after the grace period Ready and the pressure conditions become Unknown; NetworkUnavailable stays', () => {
    const d = decideNodeHealth(node(healthyConds), h, 60_001, WALL, GRACE);
    assert.equal(d.expired, true);
    assert.equal(d.observedReady, 'True');
    assert.equal(d.ready, 'Unknown');
    const byType = new Map((d.conditions ?? []).map((c) => [c.type, c]));
    for (const t of ['Ready', 'MemoryPressure', 'DiskPressure', 'PIDPressure']) {
      const c = byType.get(t)!;
      assert.equal(c.status, 'Unknown', t);
      assert.equal(c.reason, REASON_STATUS_UNKNOWN);
      assert.equal(c.message, MESSAGE_STATUS_UNKNOWN);
      assert.equal(c.lastTransitionTime, WALL);
      assert.equal(c.lastHeartbeatTime, '2020-01-01T00:00:00Z', 'the heartbeat is the agent’s last one');
    }
    assert.equal(byType.get('NetworkUnavailable')?.status, 'False');
    assert.equal(byType.get('NetworkUnavailable')?.reason, 'KubeletNetworkUnavailable');
  });

  it('a node already Unknown is not written again', () => {
    const unknown = node({ Ready: 'Unknown', MemoryPressure: 'Unknown', DiskPressure: 'Unknown', PIDPressure: 'Unknown' });
    const d = decideNodeHealth(unknown, h, 100_000, WALL, GRACE);
    assert.equal(d.ready, 'Unknown');
    assert.equal(d.conditions, undefined);
  });

  it('a node that never posted Ready gets the startup grace period, then NodeStatusNeverUpdated', () => {
    const bare = node(undefined);
    assert.equal(decideNodeHealth(bare, h, 70_000, WALL, GRACE).expired, false);
    const d = decideNodeHealth(bare, h, 70_001, WALL, GRACE);
    assert.equal(d.observedReady, undefined);
    assert.equal(d.ready, 'Unknown');
    assert.equal(d.conditions?.length, 4);
    for (const c of d.conditions ?? []) {
      assert.equal(c.reason, REASON_NEVER_UPDATED);
      assert.equal(c.message, MESSAGE_NEVER_UPDATED);
      assert.equal(c.lastHeartbeatTime, '2019-12-31T00:00:00Z', 'creationTimestamp');
    }
  });

  it('a run with a fake clock: Ready → Unknown after 50 s of silence, back to Ready when the agent reports', () => {
    const clock = new FakeClock(0);
    let n = node(healthyConds);
    let l = lease('r0');
    let rec = observeNode(undefined, n, l, clock.now());
    const step = (ms: number): ReturnType<typeof decideNodeHealth> => {
      clock.advance(ms);
      rec = observeNode(rec, n, l, clock.now());
      const d = decideNodeHealth(n, rec, clock.now(), WALL, GRACE);
      if (d.conditions) n = { ...n, status: { conditions: d.conditions } };
      return d;
    };
    // Renewals every 10 s keep it Ready for minutes.
    for (let i = 1; i <= 30; i++) {
      l = lease(`r${i}`);
      assert.equal(step(10_000).ready, 'True');
    }
    // Silence: still Ready at +50 s, Unknown just after.
    assert.equal(step(50_000).ready, 'True');
    const down = step(1);
    assert.equal(down.ready, 'Unknown');
    assert.ok(down.conditions, 'written once');
    assert.equal(step(5_000).conditions, undefined, 'not written again');
    // The agent returns: a renewal alone does not make the node Ready (only the agent says so)…
    l = lease('back');
    const renewed = step(1_000);
    assert.equal(renewed.expired, false);
    assert.equal(renewed.ready, 'Unknown');
    // …its status report does, and the controller leaves it so.
    n = node(healthyConds, { heartbeat: '2020-01-01T01:00:00Z' });
    const up = step(1_000);
    assert.equal(up.ready, 'True');
    assert.equal(up.conditions, undefined);
  });
});

describe('wantedTaints and reconcileTaints', () => {
  const cases: { name: string; node: Node; noExecute?: boolean; want: string[] }[] = [
    { name: 'Ready True: none', node: node(healthyConds), want: [] },
    { name: 'Ready False: not-ready', node: node({ ...healthyConds, Ready: 'False' }), want: [`${TAINT_NOT_READY}:NoExecute`, `${TAINT_NOT_READY}:NoSchedule`] },
    { name: 'Ready Unknown: unreachable', node: node({ Ready: 'Unknown' }), want: [`${TAINT_UNREACHABLE}:NoExecute`, `${TAINT_UNREACHABLE}:NoSchedule`] },
    { name: 'Ready missing: none', node: node(undefined), want: [] },
    { name: 'full disruption: NoSchedule only', node: node({ Ready: 'Unknown' }), noExecute: false, want: [`${TAINT_UNREACHABLE}:NoSchedule`] },
    { name: 'cordoned', node: node(healthyConds, { unschedulable: true }), want: [`${TAINT_UNSCHEDULABLE}:NoSchedule`] },
    {
      name: 'pressure and network',
      node: node({ Ready: 'True', MemoryPressure: 'True', DiskPressure: 'True', PIDPressure: 'True', NetworkUnavailable: 'True' }),
      want: ['node.kubernetes.io/disk-pressure:NoSchedule', 'node.kubernetes.io/memory-pressure:NoSchedule', 'node.kubernetes.io/network-unavailable:NoSchedule', 'node.kubernetes.io/pid-pressure:NoSchedule'],
    },
  ];
  for (const c of cases) {
    it(c.name, () => assert.deepEqual(keys(wantedTaints(c.node, { noExecute: c.noExecute ?? true })), c.want.sort()));
  }

  it('adds with timeAdded, removes stale ones, keeps user taints and old timeAdded, ignores values', () => {
    const user: Taint = { key: 'dedicated', value: 'db', effect: 'NoExecute' };
    const kept: Taint = { key: TAINT_UNREACHABLE, effect: 'NoSchedule', timeAdded: '2000-01-01T00:00:00Z' };
    const stale: Taint = { key: TAINT_NOT_READY, value: 'x', effect: 'NoExecute', timeAdded: '2000-01-01T00:00:00Z' };
    const foreign: Taint = { key: TAINT_NOT_READY, effect: 'PreferNoSchedule' };
    const current = [user, stale, kept, foreign];
    const change = reconcileTaints(current, wantedTaints(node({ Ready: 'Unknown' }), { noExecute: true }), WALL);
    assert.ok(change);
    assert.deepEqual(change.removed, [stale]);
    assert.deepEqual(change.added, [{ key: TAINT_UNREACHABLE, effect: 'NoExecute', timeAdded: WALL }]);
    assert.deepEqual(change.taints, [user, kept, foreign, { key: TAINT_UNREACHABLE, effect: 'NoExecute', timeAdded: WALL }]);
    assert.equal(isManagedTaint(foreign), false);
    assert.equal(reconcileTaints(change.taints, wantedTaints(node({ Ready: 'Unknown' }), { noExecute: true }), WALL), undefined, 'nothing left to do');
  });

  it('Ready again: the not-ready and unreachable taints go, others stay', () => {
    const user: Taint = { key: 'example.com/x', effect: 'NoSchedule' };
    const current: Taint[] = [{ key: TAINT_UNREACHABLE, effect: 'NoExecute' }, { key: TAINT_UNREACHABLE, effect: 'NoSchedule' }, user];
    assert.deepEqual(reconcileTaints(current, wantedTaints(node(healthyConds), { noExecute: true }), WALL)?.taints, [user]);
  });

  it('a switch from unreachable to not-ready swaps the pair', () => {
    const current: Taint[] = [{ key: TAINT_UNREACHABLE, effect: 'NoExecute' }, { key: TAINT_UNREACHABLE, effect: 'NoSchedule' }];
    const change = reconcileTaints(current, wantedTaints(node({ ...healthyConds, Ready: 'False' }), { noExecute: true }), WALL);
    assert.deepEqual(keys(change?.taints ?? []), [`${TAINT_NOT_READY}:NoExecute`, `${TAINT_NOT_READY}:NoSchedule`]);
  });
});

describe('isFullDisruption', () => {
  it('holds only when there are nodes and none is Ready', () => {
    assert.equal(isFullDisruption([]), false);
    assert.equal(isFullDisruption(['Unknown']), true);
    assert.equal(isFullDisruption(['Unknown', 'False', undefined]), true);
    assert.equal(isFullDisruption(['Unknown', 'True']), false);
  });
});
