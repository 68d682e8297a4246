// PodDisruptionBudgets through the real kubectl against `kennel up` (simulated runtime):
// a budget that allows no disruption blocks `kubectl drain` (each eviction is refused with
// 429, kubectl retries until its timeout); once the budget is lowered the drain proceeds one
// pod at a time onto a second node — a simulated node agent this test runs in-process —
// without ever taking more than maxUnavailable pods of the set down; `kubectl get pdb`,
// `kubectl create pdb`, `kubectl describe pdb`; bad budgets are refused with the field named.
// The drained node is uncordoned at the end.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startKennel, type Kennel } from '../support/kennel.ts';
import { waitFor } from '../support/wait.ts';
import { KubeClient } from '../../src/client/rest.ts';
import type { KubeObject } from '../../src/registry/types.ts';
import { silentLogger } from '../../src/util/log.ts';
import { startNode } from '../../src/cli/node.ts';
import { PODS } from '../../src/controllers/common/resources.ts';

type Obj = Record<string, unknown>;

const SET = `apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: web
spec:
  serviceName: web
  replicas: 3
  podManagementPolicy: Parallel
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: web
        image: nginx:1.25
`;

const BUDGET = `apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: web
spec:
  minAvailable: 3
  selector:
    matchLabels: {app: web}
`;

const BAD_BUDGET = `apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: bad
spec:
  minAvailable: 1
  maxUnavailable: 1
  selector:
    matchLabels: {app: web}
`;

const isReady = (p: KubeObject): boolean => (((p.status as Obj | undefined)?.conditions as Obj[] | undefined) ?? []).some((c) => c.type === 'Ready' && c.status === 'True');
const nodeOf = (p: KubeObject): string => ((p.spec as Obj).nodeName as string | undefined) ?? '';

describe('PodDisruptionBudgets and kubectl drain', () => {
  let kn: Kennel;
  let client: KubeClient;
  let node1 = '';
  let second: { stop(): Promise<void> } | undefined;
  let secondDir = '';

  before(async () => {
    kn = await startKennel();
    client = KubeClient.fromKubeconfig(kn.kubeconfig);
    node1 = await waitFor('the local node', async () => (await kn.k(['get', 'nodes', '-o', 'jsonpath={.items[0].metadata.name}'])).trim() || undefined, 30_000, 200);
  });

  after(async () => {
    await second?.stop().catch(() => {});
    client?.close();
    await kn?.stop();
    if (secondDir) await rm(secondDir, { recursive: true, force: true });
  });

  const webPods = async (): Promise<KubeObject[]> => (await client.list(PODS, 'default', { labelSelector: 'app=web' })).items;
  const budget = async (name: string): Promise<Obj> => JSON.parse(await kn.k(['get', 'pdb', name, '-o', 'json'])) as Obj;

  it('a budget that allows no disruption blocks the drain', async () => {
    await kn.k(['apply', '-f', '-'], { input: SET });
    await kn.k(['rollout', 'status', 'statefulset/web', '--timeout=60s'], { timeoutMs: 70_000 });
    await kn.k(['apply', '-f', '-'], { input: BUDGET });
    await waitFor('the budget synced', async () => {
      const st = (await budget('web')).status as Obj;
      return st.observedGeneration === 1 && st.currentHealthy === 3 ? st : undefined;
    }, 20_000, 200);

    const table = await kn.k(['get', 'pdb']);
    const [header, row] = table.trim().split('\n');
    assert.match(header, /^NAME\s+MIN AVAILABLE\s+MAX UNAVAILABLE\s+ALLOWED DISRUPTIONS\s+AGE$/);
    assert.match(row, /^web\s+3\s+N\/A\s+0\s+\d+s$/);
    assert.match(await kn.k(['get', 'poddisruptionbudgets.policy', 'web', '-o', 'name']), /^poddisruptionbudget\.policy\/web$/m);

    const before = (await webPods()).map((p) => p.metadata.uid).sort();
    const started = Date.now();
    const r = await kn.kubectl(['drain', node1, '--ignore-daemonsets', '--delete-emptydir-data', '--timeout=10s'], { timeoutMs: 40_000 });
    assert.notEqual(r.code, 0, `drain should fail: ${r.stdout}${r.stderr}`);
    assert.ok(Date.now() - started >= 9_000, 'kubectl kept retrying until its timeout');
    assert.match(r.stdout, new RegExp(`node/${node1} cordoned`));
    assert.match(r.stderr, /error when evicting pods\/"web-\d" -n "default" \(will retry after 5s\): Cannot evict pod as it would violate the pod's disruption budget\./);
    assert.match(r.stderr, /global timeout reached: 10s/);
    // Nothing was evicted, and the node stays cordoned.
    const after = await webPods();
    assert.deepEqual(after.map((p) => p.metadata.uid).sort(), before);
    assert.ok(after.every((p) => !p.metadata.deletionTimestamp && isReady(p)));
    assert.equal(await kn.k(['get', 'node', node1, '-o', 'jsonpath={.spec.unschedulable}']), 'true');

    const described = await kn.k(['describe', 'pdb', 'web']);
    assert.match(described, /Min available:\s+3/);
    assert.match(described, /Allowed disruptions:\s+0/);
    assert.match(described, /Current:\s+3/);
  });

  it('lowered to maxUnavailable 1, the drain proceeds one pod at a time onto another node', async () => {
    // A second (simulated) node for the set's pods to move to.
    secondDir = await mkdtemp(join(tmpdir(), 'kennel-pdb-node-'));
    second = await startNode({ client, nodeName: 'pdb-e2e-n2', runtime: 'simulated', dataDir: secondDir, podCIDR: '10.244.7.0/24', logger: silentLogger, ca: { certPem: client.config.ca ?? '' } });
    await kn.k(['wait', '--for=condition=Ready', 'node/pdb-e2e-n2', '--timeout=30s'], { timeoutMs: 40_000 });

    await kn.k(['patch', 'pdb', 'web', '--type=merge', '-p', '{"spec":{"minAvailable":null,"maxUnavailable":1}}']);
    await waitFor('the lowered budget observed', async () => {
      const st = (await budget('web')).status as Obj;
      return st.observedGeneration === 2 && st.disruptionsAllowed === 1 ? st : undefined;
    }, 20_000, 200);
    assert.match(await kn.k(['get', 'pdb', 'web']), /\nweb\s+N\/A\s+1\s+1\s+\d+s/);

    // Watch the set while the drain runs: never more than one of its pods unavailable.
    let worst = 3;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const ready = (await webPods()).filter((p) => !p.metadata.deletionTimestamp && isReady(p)).length;
        worst = Math.min(worst, ready);
        await new Promise((res) => setTimeout(res, 50));
      }
    })();
    const r = await kn.kubectl(['drain', node1, '--ignore-daemonsets', '--delete-emptydir-data', '--timeout=60s'], { timeoutMs: 80_000 });
    sampling = false;
    await sampler;
    assert.equal(r.code, 0, `${r.stdout}${r.stderr}`);
    assert.match(r.stdout, new RegExp(`node/${node1} drained`));
    for (const i of [0, 1, 2]) assert.match(r.stdout, new RegExp(`pod/web-${i} evicted`));
    assert.ok(worst >= 2, `at most one pod of the set was down at a time (fewest ready: ${worst})`);

    const pods = await waitFor('the set ready on the other node', async () => {
      const ps = await webPods();
      return ps.length === 3 && ps.every((p) => isReady(p) && nodeOf(p) === 'pdb-e2e-n2') ? ps : undefined;
    }, 30_000, 200);
    assert.equal(pods.length, 3);
  });

  it('kubectl create pdb, and the table of budgets', async () => {
    assert.match(await kn.k(['create', 'pdb', 'db', '--selector=app=db', '--min-available=50%']), /^poddisruptionbudget\.policy\/db created$/m);
    const db = await budget('db');
    assert.deepEqual((db.spec as Obj).minAvailable, '50%');
    assert.deepEqual((db.spec as Obj).selector, { matchLabels: { app: 'db' } });
    const rows = (await kn.k(['get', 'pdb', '--no-headers'])).trim().split('\n').map((l) => l.split(/\s+/).slice(0, 4));
    assert.deepEqual(rows, [['db', '50%', 'N/A', '0'], ['web', 'N/A', '1', '1']]);
    const tooMuch = await kn.kubectl(['create', 'pdb', 'pct', '--selector=app=db', '--max-unavailable=150%']);
    assert.notEqual(tooMuch.code, 0);
    assert.match(tooMuch.stderr, /spec\.maxUnavailable: Invalid value: "150%": must not be greater than 100%/);
  });

  it('bad budgets are refused with the field named', async () => {
    const both = await kn.kubectl(['apply', '-f', '-'], { input: BAD_BUDGET });
    assert.notEqual(both.code, 0);
    assert.match(both.stderr, /The PodDisruptionBudget "bad" is invalid: spec: Invalid value: .*minAvailable and maxUnavailable cannot be both set/);
    const negative = await kn.kubectl(['apply', '-f', '-'], { input: BAD_BUDGET.replace('name: bad', 'name: neg').replace('  maxUnavailable: 1\n', '').replace('minAvailable: 1', 'minAvailable: -1') });
    assert.notEqual(negative.code, 0);
    assert.match(negative.stderr, /spec\.minAvailable: Invalid value: -1: must be greater than or equal to 0/);
    const tooMuch = await kn.kubectl(['apply', '-f', '-'], { input: BAD_BUDGET.replace('name: bad', 'name: pct').replace('  minAvailable: 1\n', '').replace('maxUnavailable: 1', 'maxUnavailable: 150%') });
    assert.notEqual(tooMuch.code, 0);
    assert.match(tooMuch.stderr, /spec\.maxUnavailable: Invalid value: "150%": must not be greater than 100%/);
    assert.match((await kn.kubectl(['get', 'pdb', 'bad'])).stderr, /NotFound|not found/);
  });

  it('the drained node is uncordoned', async () => {
    assert.match(await kn.k(['uncordon', node1]), new RegExp(`node/${node1} uncordoned`));
    assert.equal(await kn.k(['get', 'node', node1, '-o', 'jsonpath={.spec.unschedulable}']), '');
  });
});
