// The policy/v1 PodDisruptionBudget API (validation, status, table) and the pods/eviction
// subresource honouring budgets, against a real API server (memory store). There is no
// disruption controller here: the tests write each budget's status themselves, as the
// controller would, and check what evictions do with it.
import { describe, it, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type TestServer } from '../support/apiserver.ts';
import { KubeClient } from '../../src/client/rest.ts';
import type { KubeObject } from '../../src/registry/types.ts';
import { PODS } from '../../src/controllers/common/resources.ts';
import { PDBS } from '../../src/controllers/disruption/controller.ts';
import { getOrNull, setPodReady } from '../support/cluster.ts';

type Obj = Record<string, unknown>;
const NS = 'default';

interface StatusBody {
  kind: string;
  status: string;
  code: number;
  reason?: string;
  message?: string;
  details?: { causes?: { reason?: string; message?: string; field?: string }[]; retryAfterSeconds?: number };
}

describe('PodDisruptionBudgets and pods/eviction', () => {
  let ts: TestServer;
  let client: KubeClient;
  let n = 0;
  /** A fresh label per test, so that budgets of earlier tests select nothing here. */
  let app = '';

  before(async () => {
    ts = await startTestServer();
    client = KubeClient.fromKubeconfig(ts.kubeconfig);
  });
  after(async () => {
    client?.close();
    await ts?.stop();
  });
  beforeEach(() => {
    app = `app${++n}`;
  });

  const pdbPath = (name = '') => `/apis/policy/v1/namespaces/${NS}/poddisruptionbudgets${name ? '/' + name : ''}`;

  async function makePod(name: string, o: { ready?: boolean; running?: boolean; labels?: Record<string, string>; grace?: number } = {}): Promise<KubeObject> {
    await client.create(PODS, {
      metadata: { name, namespace: NS, labels: o.labels ?? { app } },
      spec: { nodeName: 'n1', terminationGracePeriodSeconds: o.grace ?? 30, containers: [{ name: 'c', image: 'nginx' }] },
    });
    if (o.running !== false) await setPodReady(client, NS, name, o.ready !== false);
    return client.get(PODS, NS, name);
  }

  /** A budget with a status as the disruption controller would have written it. */
  async function makeBudget(name: string, spec: Obj, status: Obj | null): Promise<KubeObject> {
    const pdb = await client.create(PDBS, { metadata: { name, namespace: NS }, spec: { selector: { matchLabels: { app } }, ...spec } });
    if (!status) return pdb;
    return client.updateStatus(PDBS, { ...pdb, status: { observedGeneration: pdb.metadata.generation, disruptionsAllowed: 0, currentHealthy: 0, desiredHealthy: 0, expectedPods: 0, ...status } });
  }

  const evict = (name: string, body: Obj = {}, query = '') =>
    ts.request('POST', `/api/v1/namespaces/${NS}/pods/${name}/eviction${query}`, { apiVersion: 'policy/v1', kind: 'Eviction', metadata: { name, namespace: NS }, ...body });

  const conditionOf = (o: KubeObject | null, type: string): Obj | undefined => ((o?.status as Obj | undefined)?.conditions as Obj[] | undefined)?.find((c) => c.type === type);

  // -- the kind

  it('creates a budget with zero status and generation 1; shortName pdb; not in category all', async () => {
    const r = await ts.request('POST', pdbPath(), { apiVersion: 'policy/v1', kind: 'PodDisruptionBudget', metadata: { name: 'zero' }, spec: { minAvailable: 1, selector: { matchLabels: { app } } } });
    assert.equal(r.status, 201, r.text);
    const pdb = r.json<KubeObject>();
    assert.equal(pdb.metadata.generation, 1);
    assert.deepEqual(pdb.status, { disruptionsAllowed: 0, currentHealthy: 0, desiredHealthy: 0, expectedPods: 0 });
    const disc = (await ts.request('GET', '/apis/policy/v1')).json<{ resources: { name: string; shortNames?: string[]; categories?: string[]; verbs: string[] }[] }>();
    const res = disc.resources.find((x) => x.name === 'poddisruptionbudgets');
    assert.deepEqual(res?.shortNames, ['pdb']);
    assert.equal(res?.categories, undefined);
    assert.ok(disc.resources.some((x) => x.name === 'poddisruptionbudgets/status'));
  });

  it('refuses bad budgets with 422 naming the field', async () => {
    const bad: [Obj, string, RegExp][] = [
      [{ minAvailable: 1, maxUnavailable: 1 }, 'spec', /minAvailable and maxUnavailable cannot be both set/],
      [{ minAvailable: -1 }, 'spec.minAvailable', /must be greater than or equal to 0/],
      [{ maxUnavailable: '101%' }, 'spec.maxUnavailable', /must not be greater than 100%/],
      [{ maxUnavailable: 'half' }, 'spec.maxUnavailable', /a valid percent string/],
      [{ minAvailable: 1, unhealthyPodEvictionPolicy: 'Sometimes' }, 'spec.unhealthyPodEvictionPolicy', /supported values: "AlwaysAllow", "IfHealthyBudget"/],
      [{ minAvailable: 1, selector: { matchExpressions: [{ key: 'a', operator: 'Near' }] } }, 'spec.selector.matchExpressions[0].operator', /not a valid selector operator/],
    ];
    for (const [spec, field, msg] of bad) {
      const r = await ts.request('POST', pdbPath(), { apiVersion: 'policy/v1', kind: 'PodDisruptionBudget', metadata: { name: 'bad' }, spec: { selector: { matchLabels: { app } }, ...spec } });
      assert.equal(r.status, 422, `${JSON.stringify(spec)}: ${r.text}`);
      const st = r.json<StatusBody>();
      assert.equal(st.reason, 'Invalid');
      assert.ok(st.details?.causes?.some((c) => c.field === field && msg.test(c.message ?? '')), `${JSON.stringify(spec)}: ${r.text}`);
    }
  });

  it('lets the spec change (bumping the generation) and validates status writes', async () => {
    const pdb = await makeBudget('mutable', { minAvailable: 3 }, null);
    const patched = (await ts.request('PATCH', pdbPath('mutable'), { spec: { minAvailable: null, maxUnavailable: 1 } }, { 'content-type': 'application/merge-patch+json' })).json<KubeObject>();
    assert.equal(patched.metadata.generation, 2);
    assert.deepEqual([(patched.spec as Obj).minAvailable, (patched.spec as Obj).maxUnavailable], [undefined, 1]);
    const neg = await ts.request('PUT', `${pdbPath('mutable')}/status`, { ...patched, status: { disruptionsAllowed: -1, currentHealthy: 0, desiredHealthy: 0, expectedPods: 0 } });
    assert.equal(neg.status, 422);
    assert.ok(neg.json<StatusBody>().details?.causes?.some((c) => c.field === 'status.disruptionsAllowed'));
    const badCond = await ts.request('PUT', `${pdbPath('mutable')}/status`, { ...patched, status: { disruptionsAllowed: 0, currentHealthy: 0, desiredHealthy: 0, expectedPods: 0, conditions: [{ type: 'DisruptionAllowed', status: 'Maybe', reason: '' }] } });
    assert.equal(badCond.status, 422);
    const fields = badCond.json<StatusBody>().details?.causes?.map((c) => c.field);
    assert.deepEqual(fields?.sort(), ['status.conditions[0].lastTransitionTime', 'status.conditions[0].reason', 'status.conditions[0].status']);
    void pdb;
  });

  it('prints the kubectl table: Min Available, Max Unavailable (N/A when unset), Allowed Disruptions, Age', async () => {
    await makeBudget('tab-min', { minAvailable: '50%' }, { disruptionsAllowed: 2 });
    await makeBudget('tab-max', { maxUnavailable: 1 }, null);
    const r = await ts.request('GET', pdbPath(), undefined, { accept: 'application/json;as=Table;v=v1;g=meta.k8s.io' });
    const table = r.json<{ columnDefinitions: { name: string; type: string }[]; rows: { cells: unknown[] }[] }>();
    assert.deepEqual(table.columnDefinitions.map((c) => [c.name, c.type]), [['Name', 'string'], ['Min Available', 'string'], ['Max Unavailable', 'string'], ['Allowed Disruptions', 'integer'], ['Age', 'string']]);
    const rows = new Map(table.rows.map((x) => [x.cells[0], x.cells.slice(1, 4)]));
    assert.deepEqual(rows.get('tab-min'), ['50%', 'N/A', 2]);
    assert.deepEqual(rows.get('tab-max'), ['N/A', '1', 0]);
  });

  // -- evictions

  it('no budget: the pod is deleted as the Eviction asks (grace period 0: gone)', async () => {
    await makePod('free-0');
    const r = await evict('free-0', { deleteOptions: { gracePeriodSeconds: 0 } });
    assert.equal(r.status, 201, r.text);
    assert.deepEqual(r.json<StatusBody>().status, 'Success');
    assert.equal(await getOrNull(client, PODS, NS, 'free-0'), null);
  });

  it('a budget with no disruption left: 429 with the DisruptionBudget cause; the pod stays untouched', async () => {
    await makePod('full-0');
    await makeBudget('full', { minAvailable: 3 }, { disruptionsAllowed: 0, currentHealthy: 3, desiredHealthy: 3, expectedPods: 3 });
    const r = await evict('full-0');
    assert.equal(r.status, 429, r.text);
    const st = r.json<StatusBody>();
    assert.equal(st.reason, 'TooManyRequests');
    assert.equal(st.message, "Cannot evict pod as it would violate the pod's disruption budget.");
    assert.deepEqual(st.details?.causes, [{ reason: 'DisruptionBudget', message: 'The disruption budget full needs 3 healthy pods and has 3 currently' }]);
    const pod = await client.get(PODS, NS, 'full-0');
    assert.equal(pod.metadata.deletionTimestamp, undefined);
    assert.equal(conditionOf(pod, 'DisruptionTarget'), undefined);
  });

  it('a budget with a disruption left: spent (claim recorded), the pod marked DisruptionTarget and deleted gracefully; the next eviction is refused', async () => {
    const before = await makePod('spend-0');
    await makePod('spend-1');
    await makeBudget('spend', { maxUnavailable: 1 }, {
      disruptionsAllowed: 1,
      currentHealthy: 2,
      desiredHealthy: 1,
      expectedPods: 2,
      conditions: [{ type: 'DisruptionAllowed', status: 'True', reason: 'SufficientPods', message: '', observedGeneration: 1, lastTransitionTime: '2025-01-01T00:00:00Z' }],
    });
    const r = await evict('spend-0');
    assert.equal(r.status, 201, r.text);
    const pdb = await client.get(PDBS, NS, 'spend');
    const st = pdb.status as Obj;
    assert.equal(st.disruptionsAllowed, 0);
    assert.deepEqual(Object.keys(st.disruptedPods as Obj), ['spend-0']);
    assert.ok(Math.abs(Date.parse((st.disruptedPods as Record<string, string>)['spend-0']) - Date.now()) < 5000);
    const c = conditionOf(pdb, 'DisruptionAllowed')!;
    assert.deepEqual([c.status, c.reason], ['False', 'InsufficientPods']);
    assert.notEqual(c.lastTransitionTime, '2025-01-01T00:00:00Z');

    const pod = await client.get(PODS, NS, 'spend-0');
    assert.ok(pod.metadata.deletionTimestamp, 'pod marked for deletion');
    assert.equal(pod.metadata.deletionGracePeriodSeconds, 30);
    assert.equal(pod.metadata.uid, before.metadata.uid);
    const dt = conditionOf(pod, 'DisruptionTarget')!;
    assert.deepEqual([dt.status, dt.reason, dt.message], ['True', 'EvictionByEvictionAPI', 'Eviction API: evicting']);

    const again = await evict('spend-1');
    assert.equal(again.status, 429);
    assert.equal(again.headers['retry-after'], undefined, 'no retry period, no Retry-After');
    assert.equal(again.json<StatusBody>().details?.causes?.[0].message, 'The disruption budget spend needs 1 healthy pods and has 2 currently');
  });

  it('concurrent evictions spend a budget of one exactly once', async () => {
    const names = ['race-0', 'race-1', 'race-2', 'race-3'];
    for (const p of names) await makePod(p);
    await makeBudget('race', { maxUnavailable: 1 }, { disruptionsAllowed: 1, currentHealthy: 4, desiredHealthy: 3, expectedPods: 4 });
    const codes = (await Promise.all(names.map((p) => evict(p)))).map((r) => r.status).sort();
    assert.deepEqual(codes, [201, 429, 429, 429]);
    const st = (await client.get(PDBS, NS, 'race')).status as Obj;
    assert.equal(st.disruptionsAllowed, 0);
    assert.equal(Object.keys(st.disruptedPods as Obj).length, 1);
  });

  it('a budget the controller has not observed yet: 429, still being processed', async () => {
    await makePod('stale-0');
    const pdb = await makeBudget('stale', { minAvailable: 0 }, { disruptionsAllowed: 5, currentHealthy: 5 });
    await ts.request('PATCH', pdbPath('stale'), { spec: { minAvailable: 1 } }, { 'content-type': 'application/merge-patch+json' });
    const r = await evict('stale-0');
    assert.equal(r.status, 429, r.text);
    const st = r.json<StatusBody>();
    assert.deepEqual(st.details?.causes, [{ reason: 'DisruptionBudget', message: 'The disruption budget stale is still being processed by the server.' }]);
    assert.equal(st.details?.retryAfterSeconds, 10);
    assert.equal(r.headers['retry-after'], '10', 'the retry period is in Retry-After too');
    assert.equal((await client.get(PODS, NS, 'stale-0')).metadata.deletionTimestamp, undefined);
    void pdb;
  });

  it('two budgets selecting the pod: 500, not supported', async () => {
    await makePod('two-0');
    await makeBudget('two-a', { minAvailable: 0 }, { disruptionsAllowed: 1 });
    await makeBudget('two-b', { maxUnavailable: 1, selector: {} }, { disruptionsAllowed: 1 });
    const r = await evict('two-0');
    assert.equal(r.status, 500, r.text);
    const st = r.json<StatusBody>();
    assert.deepEqual([st.status, st.message], ['Failure', 'This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.']);
    assert.equal((await client.get(PODS, NS, 'two-0')).metadata.deletionTimestamp, undefined);
    // The match-all budget would trouble every later test: remove it.
    await client.delete(PDBS, NS, 'two-b');
  });

  it('a budget without a selector selects nothing', async () => {
    await makePod('nosel-0');
    const pdb = await client.create(PDBS, { metadata: { name: 'nosel', namespace: NS }, spec: { minAvailable: 5 } });
    await client.updateStatus(PDBS, { ...pdb, status: { observedGeneration: 1, disruptionsAllowed: 0, currentHealthy: 0, desiredHealthy: 5, expectedPods: 0 } });
    assert.equal((await evict('nosel-0')).status, 201);
  });

  it('pending pods, and pods already being deleted, go without spending the budget', async () => {
    await makePod('pend-0', { running: false });
    await makePod('term-0');
    await makeBudget('pend', { minAvailable: 5 }, { disruptionsAllowed: 0, currentHealthy: 1, desiredHealthy: 5 });
    await client.delete(PODS, NS, 'term-0');
    assert.equal((await evict('pend-0')).status, 201);
    assert.ok((await client.get(PODS, NS, 'pend-0')).metadata.deletionTimestamp, 'the pending pod is being deleted');
    assert.equal((await evict('term-0')).status, 201);
    assert.equal(((await client.get(PDBS, NS, 'pend')).status as Obj).disruptionsAllowed, 0);
  });

  it('an unready pod: IfHealthyBudget lets it go only while the budget is healthy; AlwaysAllow always', async () => {
    await makePod('sick-0', { ready: false });
    await makePod('sick-1', { ready: false });
    const pdb = await makeBudget('sick', { minAvailable: 2 }, { disruptionsAllowed: 0, currentHealthy: 1, desiredHealthy: 2, expectedPods: 3 });
    // Not enough healthy pods: the unready pod is guarded like any other.
    assert.equal((await evict('sick-0')).status, 429);
    // Healthy enough (2 of 2): the unready pod goes, the budget is not spent.
    await client.updateStatus(PDBS, { ...(await client.get(PDBS, NS, 'sick')), status: { observedGeneration: 1, disruptionsAllowed: 0, currentHealthy: 2, desiredHealthy: 2, expectedPods: 3 } });
    assert.equal((await evict('sick-0')).status, 201);
    assert.ok((await client.get(PODS, NS, 'sick-0')).metadata.deletionTimestamp);
    assert.equal(((await client.get(PDBS, NS, 'sick')).status as Obj).disruptedPods, undefined);
    // AlwaysAllow: an unready pod goes even when the budget is short.
    await ts.request('PATCH', pdbPath('sick'), { spec: { unhealthyPodEvictionPolicy: 'AlwaysAllow' } }, { 'content-type': 'application/merge-patch+json' });
    await client.updateStatus(PDBS, { ...(await client.get(PDBS, NS, 'sick')), status: { observedGeneration: 2, disruptionsAllowed: 0, currentHealthy: 0, desiredHealthy: 2, expectedPods: 3 } });
    assert.equal((await evict('sick-1')).status, 201);
    assert.ok((await client.get(PODS, NS, 'sick-1')).metadata.deletionTimestamp);
    void pdb;
  });

  it('dry run: allowed, and nothing changes', async () => {
    await makePod('dry-0');
    await makeBudget('dry', { maxUnavailable: 1 }, { disruptionsAllowed: 1, currentHealthy: 1, desiredHealthy: 0, expectedPods: 1 });
    const r = await evict('dry-0', {}, '?dryRun=All');
    assert.equal(r.status, 201, r.text);
    const pod = await client.get(PODS, NS, 'dry-0');
    assert.equal(pod.metadata.deletionTimestamp, undefined);
    assert.equal(conditionOf(pod, 'DisruptionTarget'), undefined);
    const st = (await client.get(PDBS, NS, 'dry')).status as Obj;
    assert.deepEqual([st.disruptionsAllowed, st.disruptedPods], [1, undefined]);
  });

  it('deleteOptions preconditions and the Eviction body are honoured', async () => {
    await makePod('pre-0');
    await makeBudget('pre', { maxUnavailable: 1 }, { disruptionsAllowed: 2, currentHealthy: 2, desiredHealthy: 0, expectedPods: 2 });
    const wrongUid = await evict('pre-0', { deleteOptions: { preconditions: { uid: 'not-this-one' } } });
    assert.equal(wrongUid.status, 409, wrongUid.text);
    const mismatch = await ts.request('POST', `/api/v1/namespaces/${NS}/pods/pre-0/eviction`, { apiVersion: 'policy/v1', kind: 'Eviction', metadata: { name: 'other' } });
    assert.equal(mismatch.status, 400);
    assert.equal(mismatch.json<StatusBody>().message, 'name in URL does not match name in Eviction object');
    assert.equal((await evict('missing-pod')).status, 404);
    const ok = await evict('pre-0', { deleteOptions: { gracePeriodSeconds: 0 } });
    assert.equal(ok.status, 201);
    assert.equal(await getOrNull(client, PODS, NS, 'pre-0'), null);
  });
});
