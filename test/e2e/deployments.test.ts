// Deployments through the real kubectl against `kennel up --runtime simulated`: create, rollout
// status, a rolling update watched pod by pod (never more than maxUnavailable pods unavailable,
// never more than replicas + maxSurge pods), rollout history / undo / --to-revision,
// pause / resume, restart, scale, the tables and `kubectl describe`, Recreate, bad input, and
// deletion (the garbage collector removes the ReplicaSets and their pods).
//
// The tests run in order and share one cluster.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startKennel, type Kennel } from '../support/kennel.ts';
import { waitFor } from '../support/wait.ts';
import { KubeClient, type ResourceRef } from '../../src/client/rest.ts';
import type { KubeObject } from '../../src/registry/types.ts';

const PODS: ResourceRef = { group: '', version: 'v1', plural: 'pods', namespaced: true, kind: 'Pod' };

interface Condition {
  type: string;
  status: string;
  reason?: string;
}
interface Pod extends KubeObject {
  spec?: { containers: { image: string }[] };
  status?: { phase?: string; conditions?: Condition[] };
}
interface ReplicaSet {
  metadata: { name: string; annotations?: Record<string, string>; labels?: Record<string, string>; ownerReferences?: { kind: string; name: string }[] };
  spec: { replicas: number; template: { metadata?: { annotations?: Record<string, string> }; spec: { containers: { image: string }[] } } };
  status?: { replicas?: number; availableReplicas?: number };
}
interface Deployment {
  metadata: { name: string; generation: number; annotations?: Record<string, string> };
  spec: { replicas: number; paused?: boolean; template: { spec: { containers: { image: string }[] } } };
  status?: { observedGeneration?: number; replicas?: number; updatedReplicas?: number; availableReplicas?: number; conditions?: Condition[] };
}

const ready = (p: Pod): boolean => !p.metadata.deletionTimestamp && (p.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');

/**
 * Watches the pods of app=<app> through the API and, after every event, counts how many of
 * `replicas` are unavailable (not Ready, or being deleted) and how many pods exist (not being
 * deleted). Events arrive in resourceVersion order, so every state the API went through is seen.
 */
class PodWatcher {
  readonly pods = new Map<string, Pod>();
  readonly seen = new Set<string>();
  maxUnavailable = 0;
  maxPods = 0;
  private handle: { abort(): void } | undefined;
  private error: Error | undefined;

  constructor(
    private readonly client: KubeClient,
    private readonly app: string,
    private readonly replicas: number,
  ) {}

  async start(): Promise<void> {
    const list = await this.client.list<Pod>(PODS, 'default', { labelSelector: `app=${this.app}` });
    for (const p of list.items) this.pods.set(p.metadata.name ?? '', p);
    this.sample();
    this.handle = this.client.watch<Pod>(
      PODS,
      'default',
      { resourceVersion: list.metadata.resourceVersion, labelSelector: `app=${this.app}` },
      (e) => {
        const name = e.object.metadata.name ?? '';
        if (e.type === 'DELETED') this.pods.delete(name);
        else if (e.type !== 'BOOKMARK') this.pods.set(name, e.object);
        this.sample();
      },
      (err) => {
        if (err) this.error = err;
      },
    );
  }

  private sample(): void {
    const live = [...this.pods.values()].filter((p) => !p.metadata.deletionTimestamp);
    for (const p of live) this.seen.add(p.metadata.name ?? '');
    const available = live.filter(ready).length;
    this.maxUnavailable = Math.max(this.maxUnavailable, this.replicas - available);
    this.maxPods = Math.max(this.maxPods, live.length);
  }

  stop(): void {
    this.handle?.abort();
    if (this.error) throw this.error;
  }
}

describe('Deployments through kubectl (simulated runtime)', { timeout: 90_000 }, () => {
  let kn: Kennel;
  let client: KubeClient;

  const getJson = async <T>(args: string[]): Promise<T> => JSON.parse(await kn.k([...args, '-o', 'json'])) as T;
  const deploymentOf = (name: string): Promise<Deployment> => getJson<Deployment>(['get', 'deployment', name]);
  const replicaSetsOf = async (app: string): Promise<ReplicaSet[]> => (await getJson<{ items: ReplicaSet[] }>(['get', 'rs', '-l', `app=${app}`])).items;
  const rolloutStatus = async (name: string): Promise<string> => kn.k(['rollout', 'status', `deployment/${name}`, '--timeout=40s'], { timeoutMs: 45_000 });
  const podsOf = async (app: string): Promise<Pod[]> => (await getJson<{ items: Pod[] }>(['get', 'pods', '-l', `app=${app}`])).items.filter((p) => !p.metadata.deletionTimestamp);

  before(async () => {
    kn = await startKennel();
    client = KubeClient.fromKubeconfig(kn.kubeconfig, { userAgent: 'deployments-e2e' });
  });

  after(async () => {
    client?.close();
    await kn?.stop();
  });

  it('kubectl create deployment, rollout status, and the tables', async () => {
    // kubectl sends this object as protobuf.
    await kn.k(['create', 'deployment', 'web', '--image=busybox', '--replicas=4']);
    const out = await rolloutStatus('web');
    assert.match(out, /deployment "web" successfully rolled out/);

    const table = await kn.k(['get', 'deploy', 'web']);
    assert.match(table, /^NAME\s+READY\s+UP-TO-DATE\s+AVAILABLE\s+AGE\n/);
    assert.match(table, /\nweb\s+4\/4\s+4\s+4\s+\d+s\n/);
    const wide = await kn.k(['get', 'deployments.apps', '-o', 'wide']);
    assert.match(wide, /^NAME\s+READY\s+UP-TO-DATE\s+AVAILABLE\s+AGE\s+CONTAINERS\s+IMAGES\s+SELECTOR\n/);
    assert.match(wide, /\nweb\s+4\/4\s+4\s+4\s+\S+\s+busybox\s+busybox\s+app=web\n/);
    const all = await kn.k(['get', 'all']);
    assert.match(all, /deployment\.apps\/web\s+4\/4/);

    const [rs] = await replicaSetsOf('web');
    const hash = rs.metadata.labels?.['pod-template-hash'] ?? '';
    assert.match(rs.metadata.name, new RegExp(`^web-${hash}$`));
    assert.equal(rs.metadata.annotations?.['deployment.kubernetes.io/revision'], '1');
    assert.equal(rs.metadata.ownerReferences?.[0]?.kind, 'Deployment');
    const d = await deploymentOf('web');
    assert.equal(d.metadata.annotations?.['deployment.kubernetes.io/revision'], '1');
    assert.deepEqual(
      (d.status?.conditions ?? []).map((c) => [c.type, c.status, c.reason]),
      [
        ['Available', 'True', 'MinimumReplicasAvailable'],
        ['Progressing', 'True', 'NewReplicaSetAvailable'],
      ],
    );
    assert.equal((await podsOf('web')).length, 4);
  });

  it('kubectl set image rolls pod by pod within maxUnavailable and maxSurge', async (t) => {
    const watcher = new PodWatcher(client, 'web', 4);
    await watcher.start();
    try {
      await kn.k(['set', 'image', 'deployment/web', 'busybox=busybox:1.36']);
      assert.match(await rolloutStatus('web'), /successfully rolled out/);
      await waitFor('the old pods to go', async () => (await podsOf('web')).every((p) => p.spec?.containers[0].image === 'busybox:1.36') || undefined, 20_000, 200);
    } finally {
      watcher.stop();
    }
    // 4 replicas, maxSurge 25% → 1 (rounded up), maxUnavailable 25% → 1 (rounded down).
    t.diagnostic(`pods seen ${watcher.seen.size}, most unavailable at once ${watcher.maxUnavailable}, most pods at once ${watcher.maxPods}`);
    assert.ok(watcher.seen.size >= 8, `the watcher saw ${watcher.seen.size} pods`);
    assert.ok(watcher.maxUnavailable <= 1, `${watcher.maxUnavailable} pods were unavailable at once`);
    assert.ok(watcher.maxPods <= 5, `${watcher.maxPods} pods existed at once`);

    const rss = await replicaSetsOf('web');
    assert.deepEqual(
      rss.map((r) => [r.spec.template.spec.containers[0].image, r.spec.replicas, r.metadata.annotations?.['deployment.kubernetes.io/revision']]).sort(),
      [
        ['busybox', 0, '1'],
        ['busybox:1.36', 4, '2'],
      ],
    );
    const events = await kn.k(['get', 'events', '--field-selector', 'involvedObject.kind=Deployment,involvedObject.name=web', '-o', 'jsonpath={range .items[*]}{.reason}: {.message}{"\\n"}{end}']);
    const newName = rss.find((r) => r.spec.replicas === 4)?.metadata.name ?? '';
    const oldName = rss.find((r) => r.spec.replicas === 0)?.metadata.name ?? '';
    assert.match(events, new RegExp(`ScalingReplicaSet: Scaled up replica set ${newName} from 0 to 1`));
    assert.match(events, new RegExp(`ScalingReplicaSet: Scaled down replica set ${oldName} from 4 to 3`));
  });

  it('rollout history, undo and undo --to-revision', async () => {
    const history = await kn.k(['rollout', 'history', 'deployment/web']);
    assert.match(history, /REVISION\s+CHANGE-CAUSE\n1\s+<none>\n2\s+<none>\n/);
    assert.match(await kn.k(['rollout', 'history', 'deployment/web', '--revision=2']), /Image:\s+busybox:1\.36/);

    const watcher = new PodWatcher(client, 'web', 4);
    await watcher.start();
    try {
      assert.match(await kn.k(['rollout', 'undo', 'deployment/web']), /deployment\.apps\/web rolled back/);
      await rolloutStatus('web');
    } finally {
      watcher.stop();
    }
    assert.ok(watcher.maxUnavailable <= 1, `${watcher.maxUnavailable} pods were unavailable at once during the undo`);
    let d = await deploymentOf('web');
    assert.equal(d.spec.template.spec.containers[0].image, 'busybox');
    assert.equal(d.metadata.annotations?.['deployment.kubernetes.io/revision'], '3');
    // The first ReplicaSet came back as revision 3; no third ReplicaSet.
    const rss = await replicaSetsOf('web');
    assert.equal(rss.length, 2);
    const back = rss.find((r) => r.spec.template.spec.containers[0].image === 'busybox');
    assert.equal(back?.metadata.annotations?.['deployment.kubernetes.io/revision'], '3');
    assert.equal(back?.metadata.annotations?.['deployment.kubernetes.io/revision-history'], '1');
    assert.match(await kn.k(['rollout', 'history', 'deployment/web']), /REVISION\s+CHANGE-CAUSE\n2\s+<none>\n3\s+<none>\n/);

    await kn.k(['rollout', 'undo', 'deployment/web', '--to-revision=2']);
    await rolloutStatus('web');
    d = await deploymentOf('web');
    assert.equal(d.spec.template.spec.containers[0].image, 'busybox:1.36');
    assert.equal(d.metadata.annotations?.['deployment.kubernetes.io/revision'], '4');
    const missing = await kn.kubectl(['rollout', 'undo', 'deployment/web', '--to-revision=9']);
    assert.notEqual(missing.code, 0);
    assert.match(missing.stderr, /unable to find specified revision 9 in history/);
  });

  it('a paused deployment does not roll out, still scales, and rolls out once resumed', async () => {
    await kn.k(['rollout', 'pause', 'deployment/web']);
    await kn.k(['set', 'image', 'deployment/web', 'busybox=busybox:1.37']);
    let d = await waitFor('the paused template change to be observed', async () => {
      const x = await deploymentOf('web');
      return (x.status?.observedGeneration ?? 0) >= x.metadata.generation ? x : undefined;
    }, 10_000, 100);
    const progressing = (d.status?.conditions ?? []).find((c) => c.type === 'Progressing');
    assert.deepEqual([progressing?.status, progressing?.reason], ['Unknown', 'DeploymentPaused']);
    const undo = await kn.kubectl(['rollout', 'undo', 'deployment/web']);
    assert.match(undo.stderr, /you cannot rollback a paused deployment/);

    await kn.k(['scale', 'deploy', 'web', '--replicas=6']);
    await waitFor('6 pods while paused', async () => ((await podsOf('web')).filter(ready).length === 6 ? true : undefined), 20_000, 200);
    assert.equal((await replicaSetsOf('web')).filter((r) => r.spec.template.spec.containers[0].image === 'busybox:1.37').length, 0, 'no new ReplicaSet while paused');

    await kn.k(['rollout', 'resume', 'deployment/web']);
    await rolloutStatus('web');
    d = await deploymentOf('web');
    assert.equal(d.status?.updatedReplicas, 6);
    const pods = await waitFor('every pod at busybox:1.37', async () => {
      const ps = await podsOf('web');
      return ps.length === 6 && ps.every((p) => p.spec?.containers[0].image === 'busybox:1.37') ? ps : undefined;
    }, 20_000, 200);
    assert.equal(pods.length, 6);
  });

  it('rollout restart replaces every pod; kubectl scale; kubectl describe', async () => {
    const before = new Set((await podsOf('web')).map((p) => p.metadata.name));
    await kn.k(['rollout', 'restart', 'deployment/web']);
    await rolloutStatus('web');
    const restarted = await waitFor('only restarted pods', async () => {
      const ps = await podsOf('web');
      return ps.length === 6 && ps.every((p) => !before.has(p.metadata.name)) ? ps : undefined;
    }, 20_000, 200);
    assert.equal(restarted.length, 6);
    const rss = await replicaSetsOf('web');
    assert.ok(rss.some((r) => r.spec.replicas === 6 && r.spec.template.metadata?.annotations?.['kubectl.kubernetes.io/restartedAt']));

    await kn.k(['scale', 'deploy', 'web', '--replicas=2']);
    await waitFor('2 pods', async () => ((await podsOf('web')).length === 2 ? true : undefined), 20_000, 200);
    await rolloutStatus('web');

    const describe = await kn.k(['describe', 'deployment', 'web']);
    assert.match(describe, /Replicas:\s+2 desired \| 2 updated \| 2 total \| 2 available \| 0 unavailable/);
    assert.match(describe, /StrategyType:\s+RollingUpdate/);
    assert.match(describe, /RollingUpdateStrategy:\s+25% max unavailable, 25% max surge/);
    assert.match(describe, /Available\s+True\s+MinimumReplicasAvailable/);
    assert.match(describe, /Progressing\s+True\s+NewReplicaSetAvailable/);
    assert.match(describe, /NewReplicaSet:\s+web-\w+ \(2\/2 replicas created\)/);
    assert.match(describe, /Events:\n.*\n.*\n\s+Normal\s+ScalingReplicaSet\s+.*deployment-controller\s+Scaled (up|down) replica set web-\w+ from \d+ to \d+/);
    // One object gets at most 25 events from one component at once (client-go's spam filter,
    // as in Kubernetes); `web` has scaled about that often by now, so the last scale-down is
    // listed only if the allowance was not used up.
    const counts = (await kn.k(['get', 'events', '--field-selector', 'involvedObject.kind=Deployment,involvedObject.name=web,source=deployment-controller', '-o', 'jsonpath={range .items[*]}{.count}{"\\n"}{end}']))
      .split('\n')
      .filter(Boolean)
      .map(Number);
    const total = counts.reduce((a, b) => a + b, 0);
    assert.ok(total <= 25, `events about web, with their counts: ${counts.join(' ')}`);
    if (total < 25) assert.match(describe, /ScalingReplicaSet\s+.*deployment-controller\s+Scaled down replica set web-\w+ from 6 to 2/);
  });

  it('Recreate stops every old pod before starting new ones', async () => {
    const manifest = (image: string) =>
      JSON.stringify({
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: 'batch' },
        spec: {
          replicas: 3,
          strategy: { type: 'Recreate' },
          selector: { matchLabels: { app: 'batch' } },
          template: { metadata: { labels: { app: 'batch' } }, spec: { terminationGracePeriodSeconds: 0, containers: [{ name: 'main', image }] } },
        },
      });
    await kn.k(['apply', '-f', '-'], { input: manifest('busybox:1') });
    await rolloutStatus('batch');
    const watcher = new PodWatcher(client, 'batch', 3);
    const images = new Set<string>();
    await watcher.start();
    let mixed = false;
    const check = setInterval(() => {
      const live = [...watcher.pods.values()].filter((p) => !p.metadata.deletionTimestamp);
      const imgs = new Set(live.map((p) => p.spec?.containers[0].image ?? ''));
      for (const i of imgs) images.add(i);
      if (imgs.size > 1) mixed = true;
    }, 5);
    try {
      await kn.k(['apply', '-f', '-'], { input: manifest('busybox:2') });
      await rolloutStatus('batch');
    } finally {
      clearInterval(check);
      watcher.stop();
    }
    assert.equal(mixed, false, 'old and new pods ran side by side');
    assert.equal(watcher.maxUnavailable, 3, 'Recreate takes every pod down');
    assert.ok(watcher.maxPods <= 3);
    assert.equal((await podsOf('batch')).filter(ready).length, 3);
  });

  it('bad input is refused with the field named', async () => {
    const bad = (strategy: object, extra: object = {}) =>
      JSON.stringify({
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: 'bad' },
        spec: { replicas: 2, strategy, selector: { matchLabels: { app: 'bad' } }, template: { metadata: { labels: { app: 'bad' } }, spec: { containers: [{ name: 'c', image: 'busybox' }] } }, ...extra },
      });
    let r = await kn.kubectl(['apply', '-f', '-'], { input: bad({ type: 'RollingUpdate', rollingUpdate: { maxSurge: 0, maxUnavailable: 0 } }) });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /spec\.strategy\.rollingUpdate\.maxUnavailable: Invalid value: 0: may not be 0 when `maxSurge` is 0/);
    r = await kn.kubectl(['apply', '-f', '-'], { input: bad({ type: 'RollingUpdate', rollingUpdate: { maxSurge: '0%', maxUnavailable: '0%' } }) });
    assert.match(r.stderr, /spec\.strategy\.rollingUpdate\.maxUnavailable: Invalid value: "0%": may not be 0 when `maxSurge` is 0/);
    r = await kn.kubectl(['apply', '-f', '-'], { input: bad({ type: 'Recreate', rollingUpdate: { maxSurge: 1 } }) });
    assert.match(r.stderr, /spec\.strategy\.rollingUpdate: Forbidden: may not be specified when strategy `type` is 'Recreate'/);
    r = await kn.kubectl(['apply', '-f', '-'], { input: bad({}, { replicas: -1 }) });
    assert.match(r.stderr, /spec\.replicas: Invalid value: -1: must be greater than or equal to 0/);
    r = await kn.kubectl(['apply', '-f', '-'], { input: bad({}, { selector: { matchLabels: { app: 'other' } } }) });
    assert.match(r.stderr, /spec\.template\.metadata\.labels: Invalid value: .*`selector` does not match template `labels`/);
    r = await kn.kubectl(['apply', '-f', '-'], { input: bad({}, { minReadySeconds: 30, progressDeadlineSeconds: 10 }) });
    assert.match(r.stderr, /spec\.progressDeadlineSeconds: Invalid value: 10: must be greater than minReadySeconds/);
    r = await kn.kubectl(['patch', 'deployment', 'web', '--type=merge', '-p', '{"spec":{"selector":{"matchLabels":{"app":"web","x":"y"}}}}']);
    assert.match(r.stderr, /spec\.selector: Invalid value: .*field is immutable/);
    const gone = await kn.kubectl(['get', 'deployment', 'bad']);
    assert.notEqual(gone.code, 0);
  });

  it('deleting a deployment removes its ReplicaSets and pods', async () => {
    await kn.k(['delete', 'deployment', 'web', 'batch']);
    await waitFor('the ReplicaSets and pods to go', async () => {
      const rs = await kn.k(['get', 'rs', '-o', 'name']);
      const pods = await kn.k(['get', 'pods', '-l', 'app in (web,batch)', '-o', 'name']);
      return rs.trim() === '' && pods.trim() === '' ? true : undefined;
    }, 30_000, 300);
  });
});
