// Table tests of the disruption controller's decision (computeBudgetStatus) on plain objects:
// budgets with integer and percentage minAvailable/maxUnavailable over pods of StatefulSets,
// ReplicaSets (with and without a Deployment), ReplicationControllers and unknown kinds;
// eviction claims (disruptedPods) that hold or expire; the condition and its transitions; the
// fail-safe status; selectors; and the stale DisruptionTarget condition.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { KubeObject, OwnerReference } from '../../src/registry/types.ts';
import {
  DELETION_TIMEOUT_MS,
  STALE_DISRUPTION_TIMEOUT_MS,
  budgetsForPod,
  computeBudgetStatus,
  controllerKey,
  needsScale,
  scaledValue,
  selectsPod,
  setCondition,
  staleDisruptionTargetIn,
  type BudgetCondition,
  type ControllerLookup,
} from '../../src/controllers/disruption/control.ts';

type Obj = Record<string, unknown>;
const T0 = Date.parse('2025-03-01T10:00:00Z');
const iso = (ms: number): string => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
const NS = 'default';

function budget(spec: Obj, status: Obj = {}, generation = 1, name = 'web'): KubeObject {
  return {
    apiVersion: 'policy/v1',
    kind: 'PodDisruptionBudget',
    metadata: { name, namespace: NS, uid: `pdb-${name}`, generation },
    spec: { selector: { matchLabels: { app: 'web' } }, ...spec },
    status: { disruptionsAllowed: 0, currentHealthy: 0, desiredHealthy: 0, expectedPods: 0, ...status },
  };
}

const stsRef = (name = 'web', uid = 'sts-uid'): OwnerReference => ({ apiVersion: 'apps/v1', kind: 'StatefulSet', name, uid, controller: true });

interface PodOpts {
  ready?: boolean;
  owner?: OwnerReference | null;
  labels?: Record<string, string>;
  deleting?: boolean;
  phase?: string;
  conditions?: Obj[];
}

function pod(name: string, o: PodOpts = {}): KubeObject {
  const owner = o.owner === undefined ? stsRef() : o.owner;
  const meta: KubeObject['metadata'] = { name, namespace: NS, uid: `pod-${name}`, labels: o.labels ?? { app: 'web' } };
  if (owner) meta.ownerReferences = [owner];
  if (o.deleting) meta.deletionTimestamp = iso(T0);
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: meta,
    spec: { containers: [{ name: 'c', image: 'nginx' }] },
    status: { phase: o.phase ?? 'Running', conditions: o.conditions ?? [{ type: 'Ready', status: o.ready === false ? 'False' : 'True' }] },
  };
}

/** A finder over a table of controllers (key → lookup). */
function finder(table: Record<string, ControllerLookup> = {}): (ref: OwnerReference) => ControllerLookup {
  return (ref) => table[controllerKey(ref)] ?? { found: false };
}

const sts = (replicas: number, uid = 'sts-uid', name = 'web'): Record<string, ControllerLookup> => ({ [controllerKey(stsRef(name, uid))]: { found: true, uid, replicas } });

const cond = (status: Obj): BudgetCondition | undefined => (status.conditions as BudgetCondition[] | undefined)?.find((c) => c.type === 'DisruptionAllowed');

describe('computeBudgetStatus: the counts', () => {
  const three = [pod('web-0'), pod('web-1'), pod('web-2')];
  const cases: { name: string; spec: Obj; pods: KubeObject[]; controllers?: Record<string, ControllerLookup>; want: [number, number, number, number] }[] = [
    // want: expectedPods, desiredHealthy, currentHealthy, disruptionsAllowed
    { name: 'minAvailable 3 of 3 ready: no disruption', spec: { minAvailable: 3 }, pods: three, want: [3, 3, 3, 0] },
    { name: 'minAvailable 2 of 3 ready: one', spec: { minAvailable: 2 }, pods: three, want: [3, 2, 3, 1] },
    { name: 'minAvailable 0: all three', spec: { minAvailable: 0 }, pods: three, want: [3, 0, 3, 3] },
    { name: 'minAvailable 2, one not ready', spec: { minAvailable: 2 }, pods: [pod('web-0'), pod('web-1', { ready: false }), pod('web-2')], want: [3, 2, 2, 0] },
    { name: 'minAvailable int counts the selected pods, not the scale', spec: { minAvailable: 1 }, pods: three, controllers: sts(10), want: [3, 1, 3, 2] },
    { name: 'minAvailable int counts unmanaged pods too', spec: { minAvailable: 1 }, pods: [pod('a', { owner: null }), pod('b', { owner: null })], want: [2, 1, 2, 1] },
    { name: 'maxUnavailable 1 of a set of 3', spec: { maxUnavailable: 1 }, pods: three, controllers: sts(3), want: [3, 2, 3, 1] },
    { name: 'maxUnavailable uses the scale: 5 replicas, 3 pods', spec: { maxUnavailable: 1 }, pods: three, controllers: sts(5), want: [5, 4, 3, 0] },
    { name: 'maxUnavailable 0 allows nothing', spec: { maxUnavailable: 0 }, pods: three, controllers: sts(3), want: [3, 3, 3, 0] },
    { name: 'maxUnavailable larger than the scale', spec: { maxUnavailable: 7 }, pods: three, controllers: sts(3), want: [3, 0, 3, 3] },
    { name: 'maxUnavailable 50% of 3 rounds up to 2', spec: { maxUnavailable: '50%' }, pods: three, controllers: sts(3), want: [3, 1, 3, 2] },
    { name: 'minAvailable 50% of 3 rounds up to 2', spec: { minAvailable: '50%' }, pods: three, controllers: sts(3), want: [3, 2, 3, 1] },
    { name: 'minAvailable 100%', spec: { minAvailable: '100%' }, pods: three, controllers: sts(3), want: [3, 3, 3, 0] },
    { name: 'minAvailable 0%', spec: { minAvailable: '0%' }, pods: three, controllers: sts(3), want: [3, 0, 3, 3] },
    { name: 'no pods: nothing expected, nothing allowed', spec: { minAvailable: 0 }, pods: [], want: [0, 0, 0, 0] },
    { name: 'a set scaled to 0 allows nothing', spec: { maxUnavailable: 1 }, pods: three, controllers: sts(0), want: [0, 0, 3, 0] },
    {
      name: 'pods being deleted are not healthy',
      spec: { minAvailable: 1 },
      pods: [pod('web-0', { deleting: true }), pod('web-1'), pod('web-2')],
      want: [3, 1, 2, 1],
    },
    { name: 'pods of other labels are not selected', spec: { minAvailable: 1 }, pods: [...three, pod('db-0', { labels: { app: 'db' } })], want: [3, 1, 3, 2] },
    {
      name: 'two sets under one budget: their scales add up',
      spec: { maxUnavailable: 1, selector: { matchLabels: { tier: 'x' } } },
      pods: [pod('a-0', { owner: stsRef('a', 'a-uid'), labels: { tier: 'x' } }), pod('a-1', { owner: stsRef('a', 'a-uid'), labels: { tier: 'x' } }), pod('b-0', { owner: stsRef('b', 'b-uid'), labels: { tier: 'x' } })],
      controllers: { ...sts(2, 'a-uid', 'a'), ...sts(4, 'b-uid', 'b') },
      want: [6, 5, 3, 0],
    },
    {
      name: 'maxUnavailable skips unmanaged pods (counted healthy, not expected)',
      spec: { maxUnavailable: 1 },
      pods: [pod('web-0'), pod('stray', { owner: null })],
      controllers: sts(1),
      want: [1, 0, 2, 2],
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const r = computeBudgetStatus({ pdb: budget(c.spec), pods: c.pods, controllers: finder(c.controllers), now: T0 });
      assert.equal(r.syncError, undefined);
      const s = r.status;
      assert.deepEqual([s.expectedPods, s.desiredHealthy, s.currentHealthy, s.disruptionsAllowed], c.want);
      assert.equal(s.observedGeneration, 1);
      const dc = cond(s as unknown as Obj)!;
      assert.equal(dc.status, c.want[3] > 0 ? 'True' : 'False');
      assert.equal(dc.reason, c.want[3] > 0 ? 'SufficientPods' : 'InsufficientPods');
      assert.equal(dc.observedGeneration, 1);
      assert.equal(dc.message, '');
      assert.equal(dc.lastTransitionTime, iso(T0));
    });
  }
});

describe('computeBudgetStatus: controllers', () => {
  const rsRef = (uid = 'rs-uid'): OwnerReference => ({ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web-abc', uid, controller: true });
  const depRef: OwnerReference = { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web', uid: 'dep-uid', controller: true };
  const rsPods = (ref = rsRef()) => [pod('web-abc-1', { owner: ref }), pod('web-abc-2', { owner: ref })];

  it('a ReplicaSet under a Deployment counts the Deployment once, for all its ReplicaSets', () => {
    const old: OwnerReference = { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web-old', uid: 'rs-old', controller: true };
    const table = {
      [controllerKey(rsRef())]: { found: true, uid: 'rs-uid', replicas: 2, controllerRef: depRef } as ControllerLookup,
      [controllerKey(old)]: { found: true, uid: 'rs-old', replicas: 1, controllerRef: depRef } as ControllerLookup,
      [controllerKey(depRef)]: { found: true, uid: 'dep-uid', replicas: 4 } as ControllerLookup,
    };
    const r = computeBudgetStatus({ pdb: budget({ maxUnavailable: 1 }), pods: [...rsPods(), pod('web-old-1', { owner: old })], controllers: finder(table), now: T0 });
    assert.deepEqual([r.status.expectedPods, r.status.desiredHealthy, r.status.disruptionsAllowed], [4, 3, 0]);
  });

  it('a ReplicaSet without a Deployment (or whose Deployment is gone) counts itself', () => {
    const alone = { [controllerKey(rsRef())]: { found: true, uid: 'rs-uid', replicas: 2 } as ControllerLookup };
    assert.equal(computeBudgetStatus({ pdb: budget({ maxUnavailable: 1 }), pods: rsPods(), controllers: finder(alone), now: T0 }).status.expectedPods, 2);
    const orphaned = { [controllerKey(rsRef())]: { found: true, uid: 'rs-uid', replicas: 2, controllerRef: depRef } as ControllerLookup };
    assert.equal(computeBudgetStatus({ pdb: budget({ maxUnavailable: 1 }), pods: rsPods(), controllers: finder(orphaned), now: T0 }).status.expectedPods, 2);
  });

  it('a ReplicationController counts its replicas', () => {
    const rc: OwnerReference = { apiVersion: 'v1', kind: 'ReplicationController', name: 'web', uid: 'rc-uid', controller: true };
    const r = computeBudgetStatus({ pdb: budget({ minAvailable: '50%' }), pods: [pod('web-x', { owner: rc })], controllers: finder({ [controllerKey(rc)]: { found: true, uid: 'rc-uid', replicas: 4 } }), now: T0 });
    assert.deepEqual([r.status.expectedPods, r.status.desiredHealthy], [4, 2]);
  });

  it('a controller that is gone (or replaced: another uid) fails the sync safe', () => {
    const prior = budget({ maxUnavailable: 1 }, { disruptionsAllowed: 2, currentHealthy: 3, desiredHealthy: 1, expectedPods: 3, observedGeneration: 1 }, 2);
    for (const controllers of [finder({}), finder(sts(3, 'another-uid'))]) {
      const r = computeBudgetStatus({ pdb: prior, pods: [pod('web-0')], controllers, now: T0 });
      assert.equal(r.syncError, 'found no controllers for pod "web-0"');
      assert.equal(r.changed, true);
      // Only disruptionsAllowed and the condition change; observedGeneration stays (1 < generation 2).
      assert.deepEqual([r.status.disruptionsAllowed, r.status.currentHealthy, r.status.desiredHealthy, r.status.expectedPods, r.status.observedGeneration], [0, 3, 1, 3, 1]);
      assert.deepEqual(cond(r.status as unknown as Obj), { type: 'DisruptionAllowed', status: 'False', reason: 'SyncFailed', message: 'found no controllers for pod "web-0"', observedGeneration: 1, lastTransitionTime: iso(T0) });
      assert.deepEqual(
        r.events.map((e) => [e.type, e.reason, e.message]),
        [['Warning', 'CalculateExpectedPodCountFailed', 'Failed to calculate the number of expected pods: found no controllers for pod "web-0"']],
      );
    }
  });

  it('an unknown kind fails the sync with the lookup error', () => {
    const ref: OwnerReference = { apiVersion: 'example.com/v1', kind: 'Widget', name: 'w', uid: 'w-uid', controller: true };
    const table = { [controllerKey(ref)]: { error: 'no matches for kind "Widget" in version "example.com/v1"' } as ControllerLookup };
    const r = computeBudgetStatus({ pdb: budget({ maxUnavailable: 1 }), pods: [pod('w-1', { owner: ref })], controllers: finder(table), now: T0 });
    assert.equal(r.syncError, 'no matches for kind "Widget" in version "example.com/v1"');
    assert.equal(cond(r.status as unknown as Obj)?.reason, 'SyncFailed');
    assert.equal(r.status.disruptionsAllowed, 0);
  });

  it('an unknown controller does not matter for an integer minAvailable', () => {
    const r = computeBudgetStatus({ pdb: budget({ minAvailable: 1 }), pods: [pod('web-0'), pod('web-1')], controllers: finder({}), now: T0 });
    assert.equal(r.syncError, undefined);
    assert.equal(r.status.disruptionsAllowed, 1);
  });

  it('unmanaged pods under a scale-based budget: a warning event', () => {
    const r = computeBudgetStatus({ pdb: budget({ maxUnavailable: 1 }), pods: [pod('web-0'), pod('stray', { owner: null })], controllers: finder(sts(1)), now: T0 });
    assert.deepEqual(r.events.map((e) => [e.type, e.reason]), [['Warning', 'UnmanagedPods']]);
    assert.match(r.events[0].message, /selector: app=web/);
  });
});

describe('computeBudgetStatus: eviction claims and writes', () => {
  const pods = [pod('web-0'), pod('web-1'), pod('web-2')];

  it('a fresh claim keeps its pod out of currentHealthy and schedules a recheck at its expiry', () => {
    const claimedAt = T0 - 30_000;
    const pdb = budget({ maxUnavailable: 1 }, { disruptionsAllowed: 0, currentHealthy: 3, desiredHealthy: 2, expectedPods: 3, observedGeneration: 1, disruptedPods: { 'web-1': iso(claimedAt) } });
    const r = computeBudgetStatus({ pdb, pods, controllers: finder(sts(3)), now: T0 });
    assert.deepEqual([r.status.currentHealthy, r.status.disruptionsAllowed], [2, 0]);
    assert.deepEqual(r.status.disruptedPods, { 'web-1': iso(claimedAt) });
    assert.equal(r.recheckAfterMs, claimedAt + DELETION_TIMEOUT_MS - T0);
  });

  it('an expired claim is dropped with a NotDeleted event on the pod; claims of deleted pods go quietly', () => {
    const pdb = budget(
      { maxUnavailable: 1 },
      { disruptedPods: { 'web-1': iso(T0 - DELETION_TIMEOUT_MS - 1000), 'web-9': iso(T0), 'web-2': iso(T0) }, observedGeneration: 1 },
    );
    const withDeleting = [pod('web-0'), pod('web-1'), pod('web-2', { deleting: true })];
    const r = computeBudgetStatus({ pdb, pods: withDeleting, controllers: finder(sts(3)), now: T0 });
    assert.equal(r.status.disruptedPods, undefined);
    assert.deepEqual([r.status.currentHealthy, r.status.disruptionsAllowed], [2, 0]);
    assert.equal(r.recheckAfterMs, undefined);
    const notDeleted = r.events.filter((e) => e.reason === 'NotDeleted');
    assert.equal(notDeleted.length, 1);
    assert.equal((notDeleted[0].about as KubeObject).metadata.name, 'web-1');
    assert.equal(notDeleted[0].message, "Pod was expected by PDB default/web to be deleted but it wasn't");
  });

  it('an up-to-date status is not written again; a new generation is', () => {
    const first = computeBudgetStatus({ pdb: budget({ minAvailable: 2 }), pods, controllers: finder(), now: T0 });
    assert.equal(first.changed, true);
    const written = budget({ minAvailable: 2 }, first.status as unknown as Obj);
    const again = computeBudgetStatus({ pdb: written, pods, controllers: finder(), now: T0 + 60_000 });
    assert.equal(again.changed, false);
    const bumped = { ...written, metadata: { ...written.metadata, generation: 2 } };
    const next = computeBudgetStatus({ pdb: bumped, pods, controllers: finder(), now: T0 + 60_000 });
    assert.equal(next.changed, true);
    assert.equal(next.status.observedGeneration, 2);
    // Same condition status: its transition time stays.
    assert.equal(cond(next.status as unknown as Obj)?.lastTransitionTime, iso(T0));
  });

  it('the condition moves with disruptionsAllowed, and a SyncFailed condition recovers', () => {
    const failed = budget({ minAvailable: 2 }, { observedGeneration: 1, conditions: [{ type: 'DisruptionAllowed', status: 'False', reason: 'SyncFailed', message: 'boom', observedGeneration: 1, lastTransitionTime: iso(T0 - 5000) }] });
    const r = computeBudgetStatus({ pdb: failed, pods, controllers: finder(), now: T0 });
    assert.deepEqual(cond(r.status as unknown as Obj), { type: 'DisruptionAllowed', status: 'True', reason: 'SufficientPods', message: '', observedGeneration: 1, lastTransitionTime: iso(T0) });
    const stillFalse = computeBudgetStatus({ pdb: failed, pods: [pod('web-0'), pod('web-1')], controllers: finder(), now: T0 });
    assert.deepEqual(cond(stillFalse.status as unknown as Obj), { type: 'DisruptionAllowed', status: 'False', reason: 'InsufficientPods', message: '', observedGeneration: 1, lastTransitionTime: iso(T0 - 5000) });
  });

  it('no pods: a NoPods event', () => {
    const r = computeBudgetStatus({ pdb: budget({ minAvailable: 1 }), pods: [], controllers: finder(), now: T0 });
    assert.deepEqual(r.events.map((e) => [e.type, e.reason, e.message]), [['Normal', 'NoPods', 'No matching pods found']]);
  });
});

describe('selectors and helpers', () => {
  it('policy/v1 selectors: missing selects nothing, empty selects the whole namespace', () => {
    const p = pod('x', { labels: { any: 'thing' } });
    const none: KubeObject = { ...budget({ minAvailable: 1 }), spec: { minAvailable: 1 } };
    const all = budget({ minAvailable: 1, selector: {} });
    const expr = budget({ minAvailable: 1, selector: { matchExpressions: [{ key: 'any', operator: 'In', values: ['thing'] }] } });
    assert.equal(selectsPod(none, p), false);
    assert.equal(selectsPod(all, p), true);
    assert.equal(selectsPod(expr, p), true);
    assert.equal(selectsPod(all, { ...p, metadata: { ...p.metadata, namespace: 'other' } }), false);
    assert.deepEqual(budgetsForPod([none, all, expr], p).length, 2);
  });

  it('needsScale: maxUnavailable or a percentage minAvailable', () => {
    assert.equal(needsScale(budget({ minAvailable: 2 })), false);
    assert.equal(needsScale(budget({ minAvailable: '20%' })), true);
    assert.equal(needsScale(budget({ maxUnavailable: 0 })), true);
  });

  it('scaledValue rounds percentages up or down', () => {
    assert.equal(scaledValue('50%', 3, true), 2);
    assert.equal(scaledValue('50%', 3, false), 1);
    assert.equal(scaledValue(4, 3, true), 4);
    assert.throws(() => scaledValue('x', 3, true), /not a percentage/);
  });

  it('setCondition keeps the transition time while the status holds', () => {
    const one = setCondition(undefined, { type: 'A', status: 'True', reason: 'R', message: '' }, T0);
    const two = setCondition(one, { type: 'A', status: 'True', reason: 'S', message: 'm' }, T0 + 1000);
    assert.deepEqual(two, [{ type: 'A', status: 'True', reason: 'S', message: 'm', lastTransitionTime: iso(T0) }]);
    const three = setCondition(two, { type: 'A', status: 'False', reason: 'S', message: 'm' }, T0 + 2000);
    assert.equal(three[0].lastTransitionTime, iso(T0 + 2000));
  });

  it('a DisruptionTarget condition left on a running pod goes stale after two minutes', () => {
    const target = (status: string, reason: string, at: number): Obj => ({ type: 'DisruptionTarget', status, reason, lastTransitionTime: iso(at) });
    assert.equal(staleDisruptionTargetIn(pod('a', { conditions: [target('True', 'EvictionByEvictionAPI', T0)] }), T0 + 30_000), STALE_DISRUPTION_TIMEOUT_MS - 30_000);
    assert.equal(staleDisruptionTargetIn(pod('a', { conditions: [target('True', 'EvictionByEvictionAPI', T0)] }), T0 + 10 * 60_000), 0);
    assert.equal(staleDisruptionTargetIn(pod('a', { conditions: [target('False', 'EvictionByEvictionAPI', T0)] }), T0), undefined);
    assert.equal(staleDisruptionTargetIn(pod('a', { conditions: [target('True', 'TerminationByKubelet', T0)] }), T0), undefined);
    assert.equal(staleDisruptionTargetIn(pod('a', { deleting: true, conditions: [target('True', 'EvictionByEvictionAPI', T0)] }), T0), undefined);
    assert.equal(staleDisruptionTargetIn(pod('a', { phase: 'Failed', conditions: [target('True', 'EvictionByEvictionAPI', T0)] }), T0), undefined);
  });
});
