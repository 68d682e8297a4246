// The disruption controller against a real API server (memory store), with no workload
// controllers running: the test creates a StatefulSet and "its" pods itself, plays the kubelet
// (Ready or not), and watches the budgets' status follow — counts, generations, the workload's
// scale, eviction claims, controllers that cannot be followed (generic scale subresource,
// unknown kinds, kinds without scale) and a stale DisruptionTarget condition.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type TestServer } from '../support/apiserver.ts';
import { KubeClient } from '../../src/client/rest.ts';
import type { KubeObject, OwnerReference } from '../../src/registry/types.ts';
import { silentLogger } from '../../src/util/log.ts';
import { PODS, STATEFULSETS } from '../../src/controllers/common/resources.ts';
import { EVENTS } from '../../src/client/events.ts';
import { PDBS, startDisruptionController, type DisruptionController } from '../../src/controllers/disruption/controller.ts';
import { waitFor } from '../support/wait.ts';
import { getOrNull, setPodReady } from '../support/cluster.ts';

type Obj = Record<string, unknown>;
const NS = 'default';

const statusOf = (o: KubeObject | null | undefined): Obj => (o?.status ?? {}) as Obj;
const allowedCond = (o: KubeObject | null | undefined): Obj | undefined => ((statusOf(o).conditions as Obj[] | undefined) ?? []).find((c) => c.type === 'DisruptionAllowed');

describe('disruption controller', () => {
  let ts: TestServer;
  let client: KubeClient;
  let ctl: DisruptionController;
  let set: KubeObject;

  const ownerRef = (o: KubeObject): OwnerReference => ({ apiVersion: o.apiVersion ?? '', kind: o.kind ?? '', name: o.metadata.name ?? '', uid: o.metadata.uid ?? '', controller: true, blockOwnerDeletion: true });

  async function makePod(name: string, labels: Record<string, string>, owner: OwnerReference | undefined, ready = true): Promise<void> {
    await client.create(PODS, {
      metadata: { name, namespace: NS, labels, ...(owner ? { ownerReferences: [owner] } : {}) },
      spec: { nodeName: 'n1', containers: [{ name: 'c', image: 'nginx' }] },
    });
    await setPodReady(client, NS, name, ready);
  }

  /** Wait until the budget's status satisfies want (and return it). */
  const budgetWhere = (name: string, what: string, want: (s: Obj, b: KubeObject) => boolean): Promise<KubeObject> =>
    waitFor(`${name}: ${what}`, async () => {
      const b = await client.get(PDBS, NS, name);
      return want(statusOf(b), b) ? b : undefined;
    });

  const counts = (s: Obj): number[] => [s.expectedPods, s.desiredHealthy, s.currentHealthy, s.disruptionsAllowed] as number[];

  before(async () => {
    ts = await startTestServer();
    client = KubeClient.fromKubeconfig(ts.kubeconfig);
    ctl = await startDisruptionController({ client, logger: silentLogger, syncTimeoutMs: 5000 });
    set = await client.create(STATEFULSETS, {
      metadata: { name: 'web', namespace: NS },
      spec: { replicas: 3, serviceName: 'web', selector: { matchLabels: { app: 'web' } }, template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'c', image: 'nginx' }] } } },
    });
    for (let i = 0; i < 3; i++) await makePod(`web-${i}`, { app: 'web' }, ownerRef(set));
  });

  after(async () => {
    await ctl?.stop();
    client?.close();
    await ts?.stop();
  });

  it('minAvailable: counts the selected pods; follows readiness', async () => {
    await client.create(PDBS, { metadata: { name: 'web', namespace: NS }, spec: { minAvailable: 2, selector: { matchLabels: { app: 'web' } } } });
    const b = await budgetWhere('web', 'synced', (s) => s.observedGeneration === 1 && (s.disruptionsAllowed as number) === 1);
    assert.deepEqual(counts(statusOf(b)), [3, 2, 3, 1]);
    assert.deepEqual([allowedCond(b)?.status, allowedCond(b)?.reason, allowedCond(b)?.observedGeneration], ['True', 'SufficientPods', 1]);

    await setPodReady(client, NS, 'web-1', false);
    const down = await budgetWhere('web', 'one pod unready', (s) => s.currentHealthy === 2);
    assert.deepEqual(counts(statusOf(down)), [3, 2, 2, 0]);
    assert.deepEqual([allowedCond(down)?.status, allowedCond(down)?.reason], ['False', 'InsufficientPods']);
    await setPodReady(client, NS, 'web-1', true);
    await budgetWhere('web', 'ready again', (s) => s.disruptionsAllowed === 1);
  });

  it('maxUnavailable: a spec change is observed (generation 2) and expectedPods follows the set\'s scale', async () => {
    await client.patch(PDBS, NS, 'web', { spec: { minAvailable: null, maxUnavailable: 1 } }, 'merge');
    const b = await budgetWhere('web', 'generation 2 observed', (s) => s.observedGeneration === 2);
    assert.deepEqual(counts(statusOf(b)), [3, 2, 3, 1]);
    assert.equal(allowedCond(b)?.observedGeneration, 2);

    // Scaling the set up (its pods not there yet) raises the expectation: no disruption left.
    await client.patch(STATEFULSETS, NS, 'web', { spec: { replicas: 5 } }, 'merge');
    const scaled = await budgetWhere('web', 'expects 5', (s) => s.expectedPods === 5);
    assert.deepEqual(counts(statusOf(scaled)), [5, 4, 3, 0]);
    await client.patch(STATEFULSETS, NS, 'web', { spec: { replicas: 3 } }, 'merge');
    await budgetWhere('web', 'expects 3 again', (s) => s.expectedPods === 3 && s.disruptionsAllowed === 1);
  });

  it('an eviction spends the budget; its claim goes once the pod is gone', async () => {
    const r = await ts.request('POST', `/api/v1/namespaces/${NS}/pods/web-2/eviction`, { apiVersion: 'policy/v1', kind: 'Eviction', metadata: { name: 'web-2', namespace: NS } });
    assert.equal(r.status, 201, r.text);
    // Still there (being deleted gracefully, claimed): not healthy.
    const claimed = await budgetWhere('web', 'claim honoured', (s) => s.currentHealthy === 2);
    assert.deepEqual(counts(statusOf(claimed)), [3, 2, 2, 0]);
    await client.delete(PODS, NS, 'web-2', { gracePeriodSeconds: 0 });
    const gone = await budgetWhere('web', 'claim dropped', (s) => s.disruptedPods === undefined);
    assert.deepEqual(counts(statusOf(gone)), [3, 2, 2, 0]);
    // The set's replacement comes back Ready: a disruption is allowed again.
    await makePod('web-2', { app: 'web' }, ownerRef(set));
    await budgetWhere('web', 'replacement counted', (s) => s.currentHealthy === 3 && s.disruptionsAllowed === 1);
  });

  it('controllers: generic scale subresource, and the ones that cannot be followed fail safe', async () => {
    // A PetSet (apps/v1alpha1, no informer here) is read through its scale subresource.
    const pet = await client.create({ group: 'apps', version: 'v1alpha1', plural: 'petsets', namespaced: true, kind: 'PetSet' }, {
      metadata: { name: 'pets', namespace: NS },
      spec: { replicas: 4, serviceName: 'pets', selector: { matchLabels: { app: 'pets' } }, template: { metadata: { labels: { app: 'pets' } }, spec: { containers: [{ name: 'c', image: 'nginx' }] } } },
    });
    await makePod('pets-0', { app: 'pets' }, ownerRef(pet));
    await client.create(PDBS, { metadata: { name: 'pets', namespace: NS }, spec: { maxUnavailable: '50%', selector: { matchLabels: { app: 'pets' } } } });
    const b = await budgetWhere('pets', 'scale from the PetSet', (s) => s.expectedPods === 4);
    assert.deepEqual(counts(statusOf(b)), [4, 2, 1, 0]);

    // An unknown kind and a kind without a scale subresource: SyncFailed, nothing allowed.
    await makePod('odd-0', { app: 'odd' }, { apiVersion: 'example.com/v1', kind: 'Widget', name: 'w', uid: 'w-uid', controller: true });
    await client.create(PDBS, { metadata: { name: 'odd', namespace: NS }, spec: { maxUnavailable: 1, selector: { matchLabels: { app: 'odd' } } } });
    const oddNow = await budgetWhere('odd', 'SyncFailed', (s, x) => allowedCond(x)?.reason === 'SyncFailed');
    assert.equal(allowedCond(oddNow)?.message, 'no matches for kind "Widget" in version "example.com/v1"');
    assert.equal(statusOf(oddNow).disruptionsAllowed, 0);

    const cm = await client.create({ group: '', version: 'v1', plural: 'configmaps', namespaced: true, kind: 'ConfigMap' }, { metadata: { name: 'cfg', namespace: NS } });
    await makePod('cfg-0', { app: 'cfg' }, ownerRef({ ...cm, apiVersion: 'v1', kind: 'ConfigMap' }));
    await client.create(PDBS, { metadata: { name: 'cfg', namespace: NS }, spec: { minAvailable: '10%', selector: { matchLabels: { app: 'cfg' } } } });
    const cfg = await budgetWhere('cfg', 'SyncFailed', (s, x) => allowedCond(x)?.reason === 'SyncFailed');
    assert.equal(allowedCond(cfg)?.message, 'configmaps does not implement the scale subresource');

    const events = (await client.list(EVENTS, NS, { fieldSelector: 'involvedObject.name=odd' })).items;
    assert.ok(events.some((e) => e.reason === 'CalculateExpectedPodCountFailed' && (e as Obj).type === 'Warning'), JSON.stringify(events.map((e) => e.reason)));

    // A missing controller of a known kind: found no controllers.
    await makePod('orphan-0', { app: 'orphan' }, { apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'nope', uid: 'nope-uid', controller: true });
    await client.create(PDBS, { metadata: { name: 'orphan', namespace: NS }, spec: { maxUnavailable: 1, selector: { matchLabels: { app: 'orphan' } } } });
    const orphan = await budgetWhere('orphan', 'SyncFailed', (s, x) => allowedCond(x)?.reason === 'SyncFailed');
    assert.equal(allowedCond(orphan)?.message, 'found no controllers for pod "orphan-0"');
  });

  it('resets a DisruptionTarget condition left stale on a running pod', async () => {
    await makePod('stuck-0', { app: 'stuck' }, undefined);
    const old = new Date(Date.now() - 5 * 60_000).toISOString().replace(/\.\d{3}Z$/, 'Z');
    await client.patch(
      PODS,
      NS,
      'stuck-0',
      { status: { conditions: [{ type: 'Ready', status: 'True' }, { type: 'DisruptionTarget', status: 'True', reason: 'EvictionByEvictionAPI', message: 'Eviction API: evicting', lastTransitionTime: old }] } },
      'merge',
      { subresource: 'status' },
    );
    const pod = await waitFor('condition reset', async () => {
      const p = await getOrNull(client, PODS, NS, 'stuck-0');
      const c = ((statusOf(p).conditions as Obj[] | undefined) ?? []).find((x) => x.type === 'DisruptionTarget');
      return c?.status === 'False' ? c : undefined;
    });
    assert.equal(pod.reason, undefined);
    assert.notEqual(pod.lastTransitionTime, old);
  });
});
