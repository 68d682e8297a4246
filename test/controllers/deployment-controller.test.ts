// The Deployment controller against a real API server (memory store). No ReplicaSet controller
// runs: the test plays it, reporting a ReplicaSet's replicas available a little after its spec
// grows and at once fewer when it shrinks, and samples the total available across the
// deployment's ReplicaSets after every change it makes.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type TestServer } from '../support/apiserver.ts';
import { KubeClient, isConflict, isNotFound } from '../../src/client/rest.ts';
import { Informer } from '../../src/client/informer.ts';
import type { KubeObject } from '../../src/registry/types.ts';
import { silentLogger } from '../../src/util/log.ts';
import { MemoryRecorder } from '../../src/controllers/events.ts';
import {
  DEPLOYMENTS,
  REPLICASETS,
  deploymentController,
  deploymentsForReplicaSet,
  recreateDeploymentForPod,
  startDeploymentController,
  type DeploymentController,
} from '../../src/controllers/deployment/controller.ts';
import { waitFor } from '../support/wait.ts';

type Obj = Record<string, unknown>;
const NS = 'default';
const spec = (o: KubeObject | undefined): Obj => (o?.spec ?? {}) as Obj;
const status = (o: KubeObject | undefined): Obj => (o?.status ?? {}) as Obj;
const imageOf = (o: KubeObject): string => (((spec(o).template as Obj).spec as Obj).containers as Obj[])[0].image as string;

function deployment(name: string, replicas: number, image: string, strategy: Obj = { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 1 } }): KubeObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: NS },
    spec: { replicas, strategy, selector: { matchLabels: { app: name } }, template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'c', image }] } } },
  };
}

/** Plays the ReplicaSet controller: status follows spec (growth after readyDelayMs). */
class FakeReplicaSets {
  readonly available = new Map<string, number>();
  minTotalAvailable = Infinity;
  app = '';
  private readonly informer: Informer;
  private readonly timers = new Set<NodeJS.Timeout>();
  private stopped = false;

  constructor(
    private readonly client: KubeClient,
    private readonly readyDelayMs = 40,
  ) {
    this.informer = new Informer(client, REPLICASETS, { namespace: NS });
    this.informer.addEventHandler({ onAdd: (r) => this.consider(r), onUpdate: (_o, r) => this.consider(r) });
  }

  async start(): Promise<void> {
    this.informer.start();
    await this.informer.waitForSync();
  }

  watch(app: string): void {
    this.app = app;
    this.minTotalAvailable = Infinity;
  }

  private consider(rs: KubeObject): void {
    const name = rs.metadata.name ?? '';
    const want = spec(rs).replicas as number;
    const have = this.available.get(name) ?? 0;
    if (want < have) void this.write(name, want);
    else if (want > have) {
      const t = setTimeout(() => {
        this.timers.delete(t);
        void this.write(name, want);
      }, this.readyDelayMs);
      this.timers.add(t);
    } else if (status(rs).observedGeneration !== rs.metadata.generation) void this.write(name, want);
  }

  private async write(name: string, n: number): Promise<void> {
    if (this.stopped) return;
    this.available.set(name, n);
    this.sample();
    for (let i = 0; i < 5; i++) {
      try {
        const cur = await this.client.get(REPLICASETS, NS, name);
        const want = Math.min(n, spec(cur).replicas as number);
        cur.status = { replicas: want, readyReplicas: want, availableReplicas: want, fullyLabeledReplicas: want, observedGeneration: cur.metadata.generation };
        await this.client.updateStatus(REPLICASETS, cur);
        return;
      } catch (e) {
        if (isNotFound(e) || this.stopped) return;
        if (!isConflict(e)) throw e;
      }
    }
  }

  private sample(): void {
    if (!this.app) return;
    let total = 0;
    for (const rs of this.informer.list()) if (rs.metadata.labels?.app === this.app) total += this.available.get(rs.metadata.name ?? '') ?? 0;
    this.minTotalAvailable = Math.min(this.minTotalAvailable, total);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers) clearTimeout(t);
    await this.informer.stop();
  }
}

describe('deployment controller (API server, simulated ReplicaSet controller)', () => {
  let ts: TestServer;
  let client: KubeClient;
  let ctl: DeploymentController;
  let fake: FakeReplicaSets;
  const recorder = new MemoryRecorder();

  const replicaSetsOf = async (app: string): Promise<KubeObject[]> => (await client.list(REPLICASETS, NS, { labelSelector: `app=${app}` })).items;
  const rolledOut = (name: string, replicas: number, image: string) =>
    waitFor(`${name} rolled out to ${image}`, async () => {
      const d = await client.get(DEPLOYMENTS, NS, name);
      const s = status(d);
      if (imageOf(d) !== image || (s.observedGeneration as number) < (d.metadata.generation ?? 0)) return undefined;
      return s.updatedReplicas === replicas && s.replicas === replicas && s.availableReplicas === replicas ? d : undefined;
    }, 15_000, 20);

  before(async () => {
    ts = await startTestServer();
    client = KubeClient.fromKubeconfig(ts.kubeconfig);
    fake = new FakeReplicaSets(client);
    await fake.start();
    ctl = await startDeploymentController({ client, logger: silentLogger, recorder, syncTimeoutMs: 5000 });
  });

  after(async () => {
    await ctl?.stop();
    await fake?.stop();
    client?.close();
    await ts?.stop();
  });

  it('creates the ReplicaSet, follows its status, and records the revision and events', async () => {
    await client.create(DEPLOYMENTS, deployment('web', 4, 'nginx:1'));
    const d = await rolledOut('web', 4, 'nginx:1');
    assert.equal(d.metadata.annotations?.['deployment.kubernetes.io/revision'], '1');
    const conds = (status(d).conditions as Obj[]).map((c) => `${c.type}=${c.status}/${c.reason}`);
    assert.deepEqual(conds, ['Available=True/MinimumReplicasAvailable', 'Progressing=True/NewReplicaSetAvailable']);
    const [rs] = await replicaSetsOf('web');
    assert.equal(spec(rs).replicas, 4);
    assert.equal(rs.metadata.ownerReferences?.[0]?.uid, d.metadata.uid);
    assert.ok(recorder.events.some((e) => e.reason === 'ScalingReplicaSet' && e.message === `Scaled up replica set ${rs.metadata.name} from 0 to 4` && e.target.kind === 'Deployment'));
    assert.ok(ctl.rounds > 0 && ctl.writes > 0);
  });

  it('rolls to a new image keeping replicas − maxUnavailable available', async () => {
    fake.watch('web');
    await client.patch(DEPLOYMENTS, NS, 'web', [{ op: 'replace', path: '/spec/template/spec/containers/0/image', value: 'nginx:2' }], 'json');
    const d = await rolledOut('web', 4, 'nginx:2');
    assert.equal(d.metadata.annotations?.['deployment.kubernetes.io/revision'], '2');
    assert.ok(fake.minTotalAvailable >= 3, `only ${fake.minTotalAvailable} available at one point`);
    const rss = await replicaSetsOf('web');
    assert.deepEqual(rss.map((r) => [imageOf(r), spec(r).replicas]).sort(), [
      ['nginx:1', 0],
      ['nginx:2', 4],
    ]);
  });

  it('adopts an orphan ReplicaSet with its template instead of creating one', async () => {
    const d = deployment('api', 2, 'nginx:1');
    const orphan: KubeObject = {
      apiVersion: 'apps/v1',
      kind: 'ReplicaSet',
      metadata: { name: 'api-orphan', namespace: NS, labels: { app: 'api', 'pod-template-hash': 'orphan' } },
      spec: {
        replicas: 2,
        selector: { matchLabels: { app: 'api', 'pod-template-hash': 'orphan' } },
        template: { metadata: { labels: { app: 'api', 'pod-template-hash': 'orphan' } }, spec: { containers: [{ name: 'c', image: 'nginx:1' }] } },
      },
    };
    await client.create(REPLICASETS, orphan);
    const created = await client.create(DEPLOYMENTS, d);
    await rolledOut('api', 2, 'nginx:1');
    const rss = await replicaSetsOf('api');
    assert.deepEqual(rss.map((r) => r.metadata.name), ['api-orphan']);
    assert.equal(rss[0].metadata.ownerReferences?.[0]?.uid, created.metadata.uid);
    assert.equal(rss[0].metadata.annotations?.['deployment.kubernetes.io/revision'], '1');
  });

  it('maps ReplicaSets and deleted pods to their deployments', () => {
    const d: KubeObject = { ...deployment('m', 1, 'x', { type: 'Recreate' }), metadata: { name: 'm', namespace: NS, uid: 'd1' } };
    const deployments = { get: (_ns: string, n: string) => (n === 'm' ? d : undefined), listByNamespace: () => [d] };
    const owned: KubeObject = { metadata: { name: 'm-1', namespace: NS, uid: 'r1', labels: { app: 'm' }, ownerReferences: [{ apiVersion: 'apps/v1', kind: 'Deployment', name: 'm', uid: 'd1', controller: true }] } };
    const orphan: KubeObject = { metadata: { name: 'o', namespace: NS, uid: 'r2', labels: { app: 'm' } } };
    const stranger: KubeObject = { metadata: { name: 's', namespace: NS, uid: 'r3', labels: { app: 'n' } } };
    assert.deepEqual(deploymentsForReplicaSet(deployments, owned), ['default/m']);
    assert.deepEqual(deploymentsForReplicaSet(deployments, orphan), ['default/m']);
    assert.deepEqual(deploymentsForReplicaSet(deployments, stranger), []);
    const rsLookup = { get: (_ns: string, n: string) => (n === 'm-1' ? owned : undefined), listByNamespace: () => [owned] };
    const pod: KubeObject = { metadata: { name: 'p', namespace: NS, ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'm-1', uid: 'r1', controller: true }] } };
    assert.equal(recreateDeploymentForPod(deployments, rsLookup, pod), 'default/m');
    d.spec = { ...spec(d), strategy: { type: 'RollingUpdate' } };
    assert.equal(recreateDeploymentForPod(deployments, rsLookup, pod), undefined);
    assert.equal(deploymentController.name, 'deployment');
  });
});
