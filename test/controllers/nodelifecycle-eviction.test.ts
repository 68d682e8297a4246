// Taint-based eviction and markPodsNotReady as pure decisions: untolerated taints, the
// default 300 s, tolerated for ever, several taints, a countdown that survives a taint swap,
// and when a taint took effect.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Pod, Taint, Toleration } from '../../src/scheduler/types.ts';
import {
  DEFAULT_TOLERATION_SECONDS,
  decideEviction,
  evictionMessage,
  matchTolerations,
  needsNotReadyMark,
  notReadyConditions,
  taintStart,
  tolerationMs,
  type EvictionVerdict,
} from '../../src/controllers/nodelifecycle/eviction.ts';
import { TAINT_NOT_READY, TAINT_UNREACHABLE } from '../../src/controllers/nodelifecycle/taints.ts';

const unreachable: Taint = { key: TAINT_UNREACHABLE, effect: 'NoExecute' };
const notReady: Taint = { key: TAINT_NOT_READY, effect: 'NoExecute' };
const unreachableNS: Taint = { key: TAINT_UNREACHABLE, effect: 'NoSchedule' };
const dedicated: Taint = { key: 'dedicated', value: 'db', effect: 'NoExecute' };

/** The tolerations the API server's defaulting gives every pod. */
const DEFAULTS: Toleration[] = [
  { key: TAINT_NOT_READY, operator: 'Exists', effect: 'NoExecute', tolerationSeconds: DEFAULT_TOLERATION_SECONDS },
  { key: TAINT_UNREACHABLE, operator: 'Exists', effect: 'NoExecute', tolerationSeconds: DEFAULT_TOLERATION_SECONDS },
];

function pod(tolerations: Toleration[], extra: Partial<Pod['metadata']> = {}): Pod {
  return { metadata: { name: 'p', namespace: 'ns', uid: 'u1', ...extra }, spec: { nodeName: 'n1', containers: [{ name: 'c' }], tolerations } };
}

const T0 = 1_000_000;

function decide(p: Pod, taints: Taint[], now: number, scheduledSince?: number, since: (t: Taint) => number = () => T0): EvictionVerdict {
  return decideEviction({ pod: p, taints, now, scheduledSince, taintSince: since });
}

describe('matchTolerations', () => {
  it('uses the first toleration that tolerates each taint', () => {
    const all: Toleration = { operator: 'Exists' };
    const timed: Toleration = { key: TAINT_UNREACHABLE, operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 5 };
    assert.deepEqual(matchTolerations([unreachable], [all, timed]).used.map((u) => u.toleration), [all]);
    assert.deepEqual(matchTolerations([unreachable], [timed, all]).used.map((u) => u.toleration), [timed]);
    const m = matchTolerations([unreachable, dedicated], [timed]);
    assert.equal(m.allTolerated, false);
    assert.deepEqual(m.untolerated, dedicated);
  });

  it('tolerationMs: none = for ever, ≤ 0 = now', () => {
    assert.equal(tolerationMs({ operator: 'Exists' }), Infinity);
    assert.equal(tolerationMs({ operator: 'Exists', tolerationSeconds: 0 }), 0);
    assert.equal(tolerationMs({ operator: 'Exists', tolerationSeconds: -5 }), 0);
    assert.equal(tolerationMs({ operator: 'Exists', tolerationSeconds: 7 }), 7000);
  });
});

describe('decideEviction', () => {
  const cases: { name: string; pod: Pod; taints: Taint[]; now: number; want: EvictionVerdict }[] = [
    { name: 'no taints', pod: pod(DEFAULTS), taints: [], now: T0, want: { action: 'none' } },
    { name: 'only NoSchedule taints', pod: pod([]), taints: [unreachableNS], now: T0, want: { action: 'none' } },
    { name: 'untolerated NoExecute: evict now', pod: pod(DEFAULTS), taints: [dedicated], now: T0, want: { action: 'evict', untolerated: dedicated } },
    { name: 'no tolerations at all', pod: pod([]), taints: [unreachable], now: T0, want: { action: 'evict', untolerated: unreachable } },
    { name: 'default 300 s: wait', pod: pod(DEFAULTS), taints: [unreachable], now: T0 + 299_999, want: { action: 'wait', since: T0, at: T0 + 300_000 } },
    { name: 'default 300 s: due', pod: pod(DEFAULTS), taints: [unreachable], now: T0 + 300_000, want: { action: 'evict', since: T0 } },
    { name: 'tolerated for ever', pod: pod([{ operator: 'Exists' }]), taints: [unreachable, dedicated], now: T0 + 1e9, want: { action: 'none' } },
    {
      name: 'for ever wins over a later timed toleration (first match)',
      pod: pod([{ key: TAINT_UNREACHABLE, operator: 'Exists' }, ...DEFAULTS]),
      taints: [unreachable],
      now: T0 + 1e9,
      want: { action: 'none' },
    },
    { name: 'tolerationSeconds 0', pod: pod([{ key: TAINT_UNREACHABLE, operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 0 }]), taints: [unreachable], now: T0, want: { action: 'evict', since: T0 } },
    {
      name: 'the smallest tolerationSeconds of the taints counts',
      pod: pod([{ key: 'dedicated', operator: 'Equal', value: 'db', effect: 'NoExecute', tolerationSeconds: 30 }, ...DEFAULTS]),
      taints: [unreachable, dedicated],
      now: T0 + 10_000,
      want: { action: 'wait', since: T0, at: T0 + 30_000 },
    },
    {
      name: 'a value mismatch is not tolerated',
      pod: pod([{ key: 'dedicated', operator: 'Equal', value: 'web', effect: 'NoExecute' }]),
      taints: [dedicated],
      now: T0,
      want: { action: 'evict', untolerated: dedicated },
    },
    { name: 'a terminating pod', pod: pod([], { deletionTimestamp: '2020-01-01T00:00:00Z' }), taints: [unreachable], now: T0, want: { action: 'none' } },
  ];
  for (const c of cases) it(c.name, () => assert.deepEqual(decide(c.pod, c.taints, c.now), c.want));

  it('an unbound pod is not evicted', () => {
    assert.deepEqual(decide({ metadata: { name: 'p' }, spec: { containers: [] } }, [unreachable], T0), { action: 'none' });
  });

  it('the countdown survives a swap of unreachable for not-ready', () => {
    // unreachable appeared at T0; 200 s later the agent is back but NotReady: not-ready replaces it.
    const first = decide(pod(DEFAULTS), [unreachable], T0 + 200_000);
    assert.equal(first.action, 'wait');
    const since = first.action === 'wait' ? first.since : NaN;
    const swapped = decide(pod(DEFAULTS), [notReady], T0 + 250_000, since, () => T0 + 200_000);
    assert.deepEqual(swapped, { action: 'wait', since: T0, at: T0 + 300_000 });
    assert.deepEqual(decide(pod(DEFAULTS), [notReady], T0 + 300_000, since, () => T0 + 200_000), { action: 'evict', since: T0 });
  });

  it('the countdown starts at the earliest timed taint, ignoring one tolerated for ever', () => {
    const p = pod([{ key: 'dedicated', operator: 'Exists' }, ...DEFAULTS]);
    const since = (t: Taint): number => (t.key === 'dedicated' ? T0 - 1e6 : T0);
    assert.deepEqual(decide(p, [dedicated, unreachable], T0 + 1000, undefined, since), { action: 'wait', since: T0, at: T0 + 300_000 });
  });

  it('the event message names the pod', () => {
    assert.equal(evictionMessage(pod([])), 'Marking for deletion Pod ns/p');
  });
});

describe('taintStart', () => {
  const wall = Date.parse('2030-01-01T00:10:00Z');
  const now = 50_000_000;
  it("the controller's own taints count from their timeAdded age (after a restart)", () => {
    const t: Taint = { key: TAINT_UNREACHABLE, effect: 'NoExecute', timeAdded: '2030-01-01T00:05:00Z' };
    // First seen just now by a restarted controller; the taint was added within the second
    // after 00:05:00 (whole seconds): it counts as 4 min 59 s old, never older than it is.
    assert.equal(taintStart(t, now, now, wall), now - 299_000);
    const precise: Taint = { ...t, timeAdded: '2030-01-01T00:05:00.250Z' };
    assert.equal(taintStart(precise, now, now, wall), now - 299_750);
  });
  it('seen earlier than timeAdded says: first sight counts', () => {
    const t: Taint = { key: TAINT_UNREACHABLE, effect: 'NoExecute', timeAdded: '2030-01-01T00:09:59Z' };
    assert.equal(taintStart(t, now - 10_000, now, wall), now - 10_000);
  });
  it('a timeAdded in the future counts as now', () => {
    const t: Taint = { key: TAINT_UNREACHABLE, effect: 'NoExecute', timeAdded: '2031-01-01T00:00:00Z' };
    assert.equal(taintStart(t, now, now, wall), now);
  });
  it("other taints' timeAdded (another machine's clock) is not trusted", () => {
    const t: Taint = { key: 'dedicated', effect: 'NoExecute', timeAdded: '2000-01-01T00:00:00Z' };
    assert.equal(taintStart(t, now, now, wall), now);
  });
});

describe('markPodsNotReady', () => {
  const readyPod: Pod = {
    metadata: { name: 'p' },
    spec: { nodeName: 'n1', containers: [] },
    status: {
      phase: 'Running',
      conditions: [
        { type: 'Ready', status: 'True', lastTransitionTime: '2020-01-01T00:00:00Z' },
        { type: 'ContainersReady', status: 'True' },
      ],
    },
  };
  it('only pods that are Ready on an Unknown node', () => {
    assert.equal(needsNotReadyMark(readyPod, 'Unknown'), true);
    assert.equal(needsNotReadyMark(readyPod, 'False'), false, 'a NotReady agent reports its pods itself');
    assert.equal(needsNotReadyMark(readyPod, 'True'), false);
    assert.equal(needsNotReadyMark({ ...readyPod, status: { conditions: [{ type: 'Ready', status: 'False' }] } }, 'Unknown'), false);
  });
  it('Ready → False with a new transition time; the rest untouched', () => {
    assert.deepEqual(notReadyConditions(readyPod, '2030-01-01T00:00:00Z'), [
      { type: 'Ready', status: 'False', lastTransitionTime: '2030-01-01T00:00:00Z' },
      { type: 'ContainersReady', status: 'True' },
    ]);
  });
});
