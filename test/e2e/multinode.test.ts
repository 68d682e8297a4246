// Many nodes (issue 8), end to end: a `kennel server` and three `kennel agent`s, each in its own
// network namespace (test/support/netns-cluster.ts), driven with the real kubectl.
//
//   1. a DaemonSet runs one pod on every node; `kubectl rollout status` succeeds; a rolling
//      update (new image) never leaves more than maxUnavailable nodes without an available pod
//      (a watcher follows every pod event); `kubectl rollout undo` rolls it back;
//   2. bad input: a taint with an unknown effect, a DaemonSet whose selector does not match;
//   3. taints: NoSchedule keeps new pods off a node (its DaemonSet pod stays); NoExecute evicts
//      the pods that do not tolerate it — the DaemonSet pod too, as in Kubernetes — and its
//      removal brings the DaemonSet pod back;
//   4. a fourth node joins and gets its DaemonSet pod;
//   5. cordon, drain (--ignore-daemonsets --delete-emptydir-data) and uncordon;
//   6. a node's agent is SIGKILLed: the node goes Ready=Unknown after the grace period and is
//      tainted unreachable:NoExecute; a pod is evicted when its toleration runs out and comes back
//      elsewhere; the node's StatefulSet pod is force-deleted after lease + fence margin and
//      recreated on a healthy node; a pod with the default 300 s toleration and the DaemonSet pod
//      stay, as in Kubernetes.
//
// The simulated runtime: every point here is about the control plane's decisions, and with it a
// SIGKILLed agent takes its pods with it, as a machine that dies does. (A process-runtime agent's
// pod processes outlive a SIGKILL — see multinode-failure.test.ts for the partition test with
// real processes.) Timings are shortened with flags: the server's --node-monitor-grace-period 8s
// and --node-fence-margin 5s, the agents' --node-lease-duration-seconds 10 (renewed every 2.5 s).
//
// The tests run in order and share one cluster. Needs root (skipped otherwise).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { netnsAvailable, startNetnsCluster, type NetnsCluster } from '../support/netns-cluster.ts';
import { waitFor } from '../support/wait.ts';
import { KubeClient, isApiStatusError, isNotFound, type ResourceRef } from '../../src/client/rest.ts';
import type { Node, Pod, Taint } from '../../src/client/types.ts';
import type { KubeObject } from '../../src/registry/types.ts';

const PODS: ResourceRef = { group: '', version: 'v1', plural: 'pods', namespaced: true, kind: 'Pod' };
const NODES: ResourceRef = { group: '', version: 'v1', plural: 'nodes', namespaced: false, kind: 'Node' };
const DAEMONSETS: ResourceRef = { group: 'apps', version: 'v1', plural: 'daemonsets', namespaced: true, kind: 'DaemonSet' };

const GRACE_S = 8;
const LEASE_S = 10;
const MARGIN_S = 5;

interface DaemonSet extends KubeObject {
  spec?: { minReadySeconds?: number; template?: { spec?: { containers?: { image?: string }[] } } };
  status?: {
    desiredNumberScheduled?: number;
    currentNumberScheduled?: number;
    numberReady?: number;
    numberAvailable?: number;
    updatedNumberScheduled?: number;
    numberMisscheduled?: number;
    observedGeneration?: number;
  };
}

const available = (p: Pod, minReadySeconds: number, now: number): boolean => {
  if (p.metadata.deletionTimestamp) return false;
  const ready = (p.status?.conditions ?? []).find((c) => c.type === 'Ready');
  if (ready?.status !== 'True') return false;
  const since = Date.parse(String(ready.lastTransitionTime ?? ''));
  return minReadySeconds === 0 || (!Number.isNaN(since) && now - since >= minReadySeconds * 1000);
};

/**
 * Follows every event of the pods of a DaemonSet and, after each, counts the nodes that have no
 * available pod of it (Ready for minReadySeconds, not being deleted). The count only grows at an
 * event (a pod deleted or not ready), so its maximum over the events is its maximum over time.
 */
class DaemonSetWatcher {
  readonly pods = new Map<string, Pod>();
  readonly seen = new Set<string>();
  maxUnavailable = 0;
  private handle: { abort(): void } | undefined;
  private error: Error | undefined;

  constructor(
    private readonly client: KubeClient,
    private readonly app: string,
    private readonly nodes: string[],
    private readonly minReadySeconds: number,
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
    const now = Date.now();
    for (const p of this.pods.values()) this.seen.add(p.metadata.name ?? '');
    const covered = new Set([...this.pods.values()].filter((p) => available(p, this.minReadySeconds, now)).map((p) => p.spec?.nodeName));
    this.maxUnavailable = Math.max(this.maxUnavailable, this.nodes.filter((n) => !covered.has(n)).length);
  }

  stop(): void {
    this.handle?.abort();
    if (this.error) throw this.error;
  }
}

const available_ = netnsAvailable();

describe('many nodes: DaemonSets, taints, drain and a dead node (3 agents in network namespaces, simulated runtime)', { skip: available_ ? false : 'needs root, iproute2 netns and nsenter', timeout: 240_000 }, () => {
  let c: NetnsCluster | undefined;
  let client: KubeClient;
  const k = (args: string[], input?: string): Promise<string> => c!.server.k(args, input === undefined ? undefined : { input });
  const apply = (obj: object): Promise<string> => k(['apply', '-f', '-'], JSON.stringify(obj));
  const podsOf = async (selector: string): Promise<Pod[]> => (await client.list<Pod>(PODS, 'default', { labelSelector: selector })).items;
  const livePods = async (selector: string): Promise<Pod[]> => (await podsOf(selector)).filter((p) => !p.metadata.deletionTimestamp);
  const getPod = async (name: string): Promise<Pod | undefined> => client.get<Pod>(PODS, 'default', name).catch((e: unknown) => (isNotFound(e) ? undefined : Promise.reject(e)));
  const getNode = (name: string): Promise<Node> => client.get<Node>(NODES, undefined, name);
  const readyOf = (n: Node): string | undefined => (n.status?.conditions ?? []).find((x) => x.type === 'Ready')?.status;
  const isRunningReady = (p: Pod | undefined): boolean => !!p && !p.metadata.deletionTimestamp && p.status?.phase === 'Running' && (p.status?.conditions ?? []).some((x) => x.type === 'Ready' && x.status === 'True');
  const dsPodOn = async (node: string): Promise<Pod | undefined> => (await livePods('app=node-agent')).find((p) => p.spec?.nodeName === node);
  const eventsFor = async (name: string): Promise<{ reason?: string; message?: string; type?: string }[]> =>
    (JSON.parse(await k(['get', 'events', '--field-selector', `involvedObject.name=${name}`, '-o', 'json'])) as { items: { reason?: string; message?: string; type?: string }[] }).items;

  before(async () => {
    c = await startNetnsCluster({
      nodes: 3,
      runtime: 'simulated',
      serverArgs: ['--node-monitor-grace-period', `${GRACE_S}s`, '--node-fence-margin', `${MARGIN_S}s`],
      agentArgs: ['--node-lease-duration-seconds', String(LEASE_S)],
    });
    client = KubeClient.fromKubeconfig(c.server.kubeconfig, { userAgent: 'multinode-e2e' });
  });

  after(async () => {
    client?.close();
    const cluster = c;
    await cluster?.stop();
    if (cluster) assert.deepEqual(cluster.leftovers(), [], 'every namespace and link is removed');
  });

  const daemonSet = (image: string) => ({
    apiVersion: 'apps/v1',
    kind: 'DaemonSet',
    metadata: { name: 'node-agent', namespace: 'default' },
    spec: {
      selector: { matchLabels: { app: 'node-agent' } },
      minReadySeconds: 1,
      updateStrategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1 } },
      template: {
        metadata: { labels: { app: 'node-agent' } },
        spec: { terminationGracePeriodSeconds: 1, containers: [{ name: 'main', image, command: ['sleep', '3600'] }] },
      },
    },
  });

  it('a DaemonSet runs one pod on every node, rolls an update within maxUnavailable, and rolls back', async () => {
    const nodes = c!.nodes.map((n) => n.name);
    await apply(daemonSet('busybox:1.36'));
    const status = await k(['rollout', 'status', 'daemonset/node-agent', '--timeout=60s']);
    assert.match(status, /daemon set "node-agent" successfully rolled out/);

    const pods = await livePods('app=node-agent');
    assert.deepEqual(pods.map((p) => p.spec?.nodeName).sort(), nodes, 'one pod on every node');
    for (const p of pods) {
      // Pinned to its node with required node affinity on metadata.name, bound by the scheduler.
      const terms = p.spec?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms ?? [];
      assert.deepEqual(terms[0]?.matchFields, [{ key: 'metadata.name', operator: 'In', values: [p.spec?.nodeName] }]);
      assert.ok(isRunningReady(p), `${p.metadata.name} Running and Ready`);
    }
    const ds = await client.get<DaemonSet>(DAEMONSETS, 'default', 'node-agent');
    assert.equal(ds.status?.observedGeneration, ds.metadata.generation);
    assert.deepEqual(
      [ds.status?.desiredNumberScheduled, ds.status?.currentNumberScheduled, ds.status?.numberReady, ds.status?.updatedNumberScheduled, ds.status?.numberAvailable, ds.status?.numberMisscheduled ?? 0],
      [3, 3, 3, 3, 3, 0],
    );
    const table = await k(['get', 'ds', 'node-agent']);
    assert.match(table, /\nnode-agent\s+3\s+3\s+3\s+3\s+3\s+<none>\s+\S+\n/);

    // The rolling update, watched pod by pod.
    const before = new Set(pods.map((p) => p.metadata.uid));
    const watcher = new DaemonSetWatcher(client, 'node-agent', nodes, 1);
    await watcher.start();
    try {
      await k(['set', 'image', 'daemonset/node-agent', 'main=busybox:1.37']);
      assert.match(await k(['rollout', 'status', 'daemonset/node-agent', '--timeout=60s']), /successfully rolled out/);
    } finally {
      watcher.stop();
    }
    const updated = await livePods('app=node-agent');
    assert.deepEqual(updated.map((p) => p.spec?.nodeName).sort(), nodes);
    for (const p of updated) {
      assert.equal(p.spec?.containers[0]?.image, 'busybox:1.37');
      assert.ok(!before.has(p.metadata.uid), `${p.metadata.name} is a new pod`);
    }
    // Old pods go first (maxSurge 0): at some moment one node lacked an available pod, never two.
    assert.equal(watcher.maxUnavailable, 1, `at most maxUnavailable (1) nodes without an available pod; saw ${watcher.maxUnavailable}`);
    assert.equal(watcher.seen.size, 6, 'three old pods and three new ones');

    // Roll back, also within maxUnavailable.
    const history = await k(['rollout', 'history', 'daemonset/node-agent']);
    assert.match(history, /\n1\s+<none>\n2\s+<none>\n/);
    const undoWatcher = new DaemonSetWatcher(client, 'node-agent', nodes, 1);
    await undoWatcher.start();
    try {
      assert.match(await k(['rollout', 'undo', 'daemonset/node-agent']), /daemonset.apps\/node-agent rolled back/);
      assert.match(await k(['rollout', 'status', 'daemonset/node-agent', '--timeout=60s']), /successfully rolled out/);
    } finally {
      undoWatcher.stop();
    }
    const rolledBack = await livePods('app=node-agent');
    assert.deepEqual(rolledBack.map((p) => p.spec?.nodeName).sort(), nodes);
    for (const p of rolledBack) assert.equal(p.spec?.containers[0]?.image, 'busybox:1.36');
    assert.ok(undoWatcher.maxUnavailable <= 1, `undo: ${undoWatcher.maxUnavailable} nodes without an available pod at once`);
    assert.match(await k(['rollout', 'history', 'daemonset/node-agent']), /\n2\s+<none>\n3\s+<none>\n/);
  });

  it('refuses a taint with an unknown effect and a DaemonSet whose selector does not match its template', async () => {
    const node = c!.nodes[1]!.name;
    const taintsBefore = (await getNode(node)).spec?.taints ?? [];

    // kubectl checks the effect itself …
    const r = await c!.server.kubectl(['taint', 'nodes', node, 'k=v:Bogus']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /invalid taint effect: Bogus/);
    // … and the API server refuses it from any client, naming the field (Kubernetes' path quirk:
    // node taints are reported under metadata.taints).
    const patch = await c!.server.kubectl(['patch', 'node', node, '--type', 'merge', '-p', '{"spec":{"taints":[{"key":"k","value":"v","effect":"Bogus"}]}}']);
    assert.notEqual(patch.code, 0);
    assert.match(patch.stderr, /The Node "node-2" is invalid: metadata\.taints\[0\]\.effect: Unsupported value: "Bogus": supported values: "NoSchedule", "PreferNoSchedule", "NoExecute"/);
    await assert.rejects(
      client.patch(NODES, undefined, node, { spec: { taints: [{ key: 'k', effect: 'Bogus' }] } }, 'merge'),
      (e: unknown) => isApiStatusError(e) && e.code === 422 && e.reason === 'Invalid' && (e.details?.causes ?? []).some((x) => x.field === 'metadata.taints[0].effect'),
    );
    assert.deepEqual((await getNode(node)).spec?.taints ?? [], taintsBefore, 'the node is unchanged');

    // A DaemonSet whose selector does not select its own pods: 422 naming the field, nothing created.
    const bad = daemonSet('busybox');
    const mismatched = { ...bad, metadata: { name: 'mismatched', namespace: 'default' }, spec: { ...bad.spec, selector: { matchLabels: { app: 'other' } } } };
    const out = await c!.server.kubectl(['apply', '-f', '-'], { input: JSON.stringify(mismatched) });
    assert.notEqual(out.code, 0);
    assert.match(out.stderr, /The DaemonSet "mismatched" is invalid: spec\.template\.metadata\.labels: Invalid value: .*`selector` does not match template `labels`/);
    await assert.rejects(
      client.create(DAEMONSETS, mismatched as KubeObject),
      (e: unknown) => isApiStatusError(e) && e.code === 422 && (e.details?.causes ?? []).some((x) => x.field === 'spec.template.metadata.labels'),
    );
    await assert.rejects(client.get(DAEMONSETS, 'default', 'mismatched'), (e: unknown) => isNotFound(e));
  });

  it('NoSchedule keeps new pods off a node; NoExecute evicts what does not tolerate it, the DaemonSet pod too; untainting brings it back', async () => {
    const tainted = c!.nodes[1]!.name;
    const dsPod = await dsPodOn(tainted);
    assert.ok(dsPod);

    await k(['taint', 'nodes', tainted, 'dedicated=db:NoSchedule']);
    // A Deployment (its pods carry an emptyDir, for the drain below) avoids the node …
    await apply({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'web', namespace: 'default' },
      spec: {
        replicas: 4,
        selector: { matchLabels: { app: 'web' } },
        template: {
          metadata: { labels: { app: 'web' } },
          spec: {
            terminationGracePeriodSeconds: 1,
            containers: [{ name: 'main', image: 'busybox', command: ['sleep', '3600'], volumeMounts: [{ name: 'scratch', mountPath: '/scratch' }] }],
            volumes: [{ name: 'scratch', emptyDir: {} }],
          },
        },
      },
    });
    await k(['rollout', 'status', 'deployment/web', '--timeout=60s']);
    const web = await livePods('app=web');
    assert.equal(web.length, 4);
    assert.ok(web.every((p) => p.spec?.nodeName && p.spec.nodeName !== tainted), `no web pod on ${tainted}: ${web.map((p) => p.spec?.nodeName).join(',')}`);
    // … and the DaemonSet pod stays (NoSchedule does not evict; the DaemonSet ignores it for a
    // pod already there).
    const still = await dsPodOn(tainted);
    assert.equal(still?.metadata.uid, dsPod.metadata.uid);

    // Two pods on the node: one tolerates only NoSchedule, one tolerates the key for every effect.
    const pinned = (name: string, tolerations: object[]) => ({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name, namespace: 'default', labels: { role: 'pinned' } },
      spec: { nodeSelector: { 'kubernetes.io/hostname': tainted }, tolerations, terminationGracePeriodSeconds: 1, containers: [{ name: 'main', image: 'busybox', command: ['sleep', '3600'] }] },
    });
    await apply(pinned('guest', [{ key: 'dedicated', operator: 'Equal', value: 'db', effect: 'NoSchedule' }]));
    await apply(pinned('resident', [{ key: 'dedicated', operator: 'Exists' }]));
    for (const name of ['guest', 'resident']) await waitFor(`${name} Running on ${tainted}`, async () => isRunningReady(await getPod(name)), 30_000, 100);

    await k(['taint', 'nodes', tainted, 'dedicated=db:NoExecute']);
    await waitFor('guest evicted', async () => (await getPod('guest')) === undefined, 30_000, 100);
    await waitFor(`the DaemonSet pod removed from ${tainted}`, async () => (await podsOf('app=node-agent')).every((p) => p.spec?.nodeName !== tainted), 30_000, 100);
    const guestEvents = await eventsFor('guest');
    assert.ok(
      guestEvents.some((e) => e.reason === 'TaintManagerEviction' && e.message === 'Marking for deletion Pod default/guest'),
      JSON.stringify(guestEvents.map((e) => e.reason)),
    );
    assert.ok(isRunningReady(await getPod('resident')), 'the pod that tolerates the taint stays');
    await waitFor('the DaemonSet wants 2 pods', async () => (await client.get<DaemonSet>(DAEMONSETS, 'default', 'node-agent')).status?.desiredNumberScheduled === 2, 20_000, 100);
    assert.ok((await livePods('app=web')).every((p) => p.spec?.nodeName !== tainted));

    // Untaint (both effects): the DaemonSet pod comes back.
    await k(['taint', 'nodes', tainted, 'dedicated-']);
    assert.deepEqual((await getNode(tainted)).spec?.taints ?? [], []);
    await waitFor(`a DaemonSet pod Running on ${tainted} again`, async () => isRunningReady(await dsPodOn(tainted)), 30_000, 100);
    assert.notEqual((await dsPodOn(tainted))?.metadata.uid, dsPod.metadata.uid);
    assert.match(await k(['rollout', 'status', 'daemonset/node-agent', '--timeout=30s']), /successfully rolled out/);
    await k(['delete', 'pod', 'resident', '--wait=true']);
  });

  it('a fourth node joins and gets its DaemonSet pod', async () => {
    const n4 = await c!.addNode();
    assert.equal(n4.name, 'node-4');
    await waitFor('a DaemonSet pod Running on node-4', async () => isRunningReady(await dsPodOn('node-4')), 30_000, 100);
    const ds = await client.get<DaemonSet>(DAEMONSETS, 'default', 'node-agent');
    assert.equal(ds.status?.desiredNumberScheduled, 4);
    assert.match(await k(['rollout', 'status', 'daemonset/node-agent', '--timeout=30s']), /successfully rolled out/);
    assert.deepEqual((await livePods('app=node-agent')).map((p) => p.spec?.nodeName).sort(), ['node-1', 'node-2', 'node-3', 'node-4']);
  });

  it('kubectl cordon, drain --ignore-daemonsets --delete-emptydir-data and uncordon', async () => {
    // Drain the node with the most web pods (not node-1: the next test kills it).
    const web = await livePods('app=web');
    const counts = new Map<string, number>();
    for (const p of web) if (p.spec?.nodeName !== 'node-1') counts.set(p.spec!.nodeName!, (counts.get(p.spec!.nodeName!) ?? 0) + 1);
    const target = [...counts].sort((a, b) => b[1] - a[1])[0]?.[0];
    assert.ok(target, `a node other than node-1 runs web pods: ${web.map((p) => p.spec?.nodeName).join(',')}`);
    const dsPod = await dsPodOn(target);

    assert.match(await k(['cordon', target]), new RegExp(`node/${target} cordoned`));
    assert.equal((await getNode(target)).spec?.unschedulable, true);
    assert.match(await k(['get', 'node', target]), /Ready,SchedulingDisabled/);

    // Without --delete-emptydir-data, kubectl refuses (the web pods have an emptyDir).
    const refused = await c!.server.kubectl(['drain', target, '--ignore-daemonsets', '--timeout=30s']);
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /cannot delete Pods with local storage/);

    const drained = await c!.server.kubectl(['drain', target, '--ignore-daemonsets', '--delete-emptydir-data', '--timeout=60s'], { timeoutMs: 70_000 });
    assert.equal(drained.code, 0, drained.stderr);
    assert.match(drained.stdout, new RegExp(`node/${target} drained`));
    assert.match(drained.stdout, /evicting pod default\/web-/);
    assert.match(drained.stderr, /ignoring DaemonSet-managed Pods: default\/node-agent-/);

    await k(['rollout', 'status', 'deployment/web', '--timeout=60s']);
    const moved = await livePods('app=web');
    assert.equal(moved.filter(isRunningReady).length, 4);
    assert.ok(moved.every((p) => p.spec?.nodeName !== target), `no web pod left on ${target}`);
    assert.equal((await dsPodOn(target))?.metadata.uid, dsPod?.metadata.uid, 'the DaemonSet pod stays');

    assert.match(await k(['uncordon', target]), new RegExp(`node/${target} uncordoned`));
    assert.notEqual((await getNode(target)).spec?.unschedulable, true);
    // Schedulable again: a pod that can only go there runs.
    await apply({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'after-uncordon', namespace: 'default' },
      spec: { nodeSelector: { 'kubernetes.io/hostname': target }, terminationGracePeriodSeconds: 1, containers: [{ name: 'main', image: 'busybox', command: ['sleep', '3600'] }] },
    });
    await waitFor('after-uncordon Running', async () => isRunningReady(await getPod('after-uncordon')), 30_000, 100);
    await k(['delete', 'pod', 'after-uncordon', '--wait=true']);
  });

  it('a SIGKILLed agent: Unknown after the grace period, unreachable taint, evictions as tolerated, its StatefulSet pod recreated elsewhere', async () => {
    const victim = c!.nodes[0]!;
    assert.equal(victim.name, 'node-1');
    const preferVictim = { nodeAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 100, preference: { matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'In', values: [victim.name] }] } }] } };
    const unreachableFor = (seconds: number) => [{ key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: seconds }];
    const container = { name: 'main', image: 'busybox', command: ['sleep', '3600'] };
    // A StatefulSet pod that leaves an unreachable node after 1 s, a Deployment pod after 5 s, and
    // a bare pod with the default tolerations (300 s): all on the victim.
    await apply({
      apiVersion: 'apps/v1',
      kind: 'StatefulSet',
      metadata: { name: 'db', namespace: 'default' },
      spec: {
        serviceName: 'db',
        replicas: 1,
        selector: { matchLabels: { app: 'db' } },
        template: { metadata: { labels: { app: 'db' } }, spec: { affinity: preferVictim, tolerations: unreachableFor(1), terminationGracePeriodSeconds: 1, containers: [container] } },
      },
    });
    await apply({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'edge', namespace: 'default' },
      spec: {
        replicas: 1,
        selector: { matchLabels: { app: 'edge' } },
        template: { metadata: { labels: { app: 'edge' } }, spec: { affinity: preferVictim, tolerations: unreachableFor(5), terminationGracePeriodSeconds: 1, containers: [container] } },
      },
    });
    await apply({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'patient', namespace: 'default' },
      spec: { nodeSelector: { 'kubernetes.io/hostname': victim.name }, terminationGracePeriodSeconds: 1, containers: [container] },
    });
    await waitFor('db-0, edge and patient Running on node-1', async () => {
      const pods = [await getPod('db-0'), ...(await livePods('app=edge')), await getPod('patient')];
      return pods.length === 3 && pods.every((p) => isRunningReady(p) && p!.spec?.nodeName === victim.name);
    }, 30_000, 100);
    const db0 = (await getPod('db-0'))!;
    const edge = (await livePods('app=edge'))[0]!;
    const dsPod = (await dsPodOn(victim.name))!;
    assert.deepEqual(
      (await getPod('patient'))!.spec?.tolerations?.filter((t) => t.effect === 'NoExecute').map((t) => [t.key, t.tolerationSeconds]),
      [
        ['node.kubernetes.io/not-ready', 300],
        ['node.kubernetes.io/unreachable', 300],
      ],
    );

    const killedAt = Date.now();
    assert.equal(await c!.stopAgent(victim, 'SIGKILL'), 'SIGKILL');

    // Ready=Unknown once the grace period has run out since the last renewal (renewals come every
    // LEASE_S/4 = 2.5 s), not before; then the unreachable taints.
    const unknownAt = await waitFor('node-1 Ready=Unknown', async () => (readyOf(await getNode(victim.name)) === 'Unknown' ? Date.now() : undefined), (GRACE_S + 10) * 1000, 100);
    const toUnknown = (unknownAt - killedAt) / 1000;
    assert.ok(toUnknown >= GRACE_S - LEASE_S / 4 - 0.5 && toUnknown <= GRACE_S + 3, `Unknown ${toUnknown.toFixed(1)} s after the kill (grace ${GRACE_S} s)`);
    const node = await waitFor('the unreachable taints', async () => {
      const n = await getNode(victim.name);
      const keys = (n.spec?.taints ?? []).map((t) => `${t.key}:${t.effect}`);
      return keys.includes('node.kubernetes.io/unreachable:NoExecute') && keys.includes('node.kubernetes.io/unreachable:NoSchedule') ? n : undefined;
    }, 10_000, 100);
    const ready = (node.status?.conditions ?? []).find((x) => x.type === 'Ready');
    assert.equal(ready?.reason, 'NodeStatusUnknown');
    const taint = (node.spec?.taints ?? []).find((t: Taint) => t.key === 'node.kubernetes.io/unreachable' && t.effect === 'NoExecute')!;

    // The Deployment pod: evicted when its 5 s run out (the eviction is stamped on the pod as
    // the DisruptionTarget condition), then replaced on a healthy node.
    const evicted = await waitFor('edge evicted', async () => {
      const p = await getPod(edge.metadata.name!);
      return p && p.metadata.uid === edge.metadata.uid && p.metadata.deletionTimestamp ? p : undefined;
    }, 20_000, 100);
    const disruption = (evicted.status?.conditions ?? []).find((x) => x.type === 'DisruptionTarget');
    assert.equal(disruption?.reason, 'DeletionByTaintManager');
    // Both times are whole seconds: the eviction came 5 s (± the rounding) after the taint.
    const waited = (Date.parse(String(disruption?.lastTransitionTime)) - Date.parse(String(taint.timeAdded))) / 1000;
    assert.ok(waited >= 4 && waited <= 8, `edge evicted ${waited} s after the taint (tolerationSeconds 5)`);
    await waitFor('edge replaced on a healthy node', async () => (await livePods('app=edge')).some((p) => isRunningReady(p) && p.spec?.nodeName !== victim.name), 30_000, 100);

    // The StatefulSet pod: evicted after 1 s (Terminating, as Kubernetes leaves it), then, once the
    // node's lease has expired plus the fence margin, force-deleted and recreated elsewhere.
    const replaced = await waitFor('db-0 recreated', async () => {
      const p = await getPod('db-0');
      return p && p.metadata.uid !== db0.metadata.uid ? Date.now() : undefined;
    }, (LEASE_S + MARGIN_S + 15) * 1000, 100);
    const toReplaced = (replaced - killedAt) / 1000;
    // Never before lease + margin after the last renewal seen (at most 2.5 s before the kill).
    assert.ok(toReplaced >= LEASE_S + MARGIN_S - LEASE_S / 4 - 0.5, `db-0 force-deleted ${toReplaced.toFixed(1)} s after the kill: before lease ${LEASE_S} s + margin ${MARGIN_S} s`);
    assert.ok(toReplaced <= LEASE_S + MARGIN_S + 5, `db-0 replaced ${toReplaced.toFixed(1)} s after the kill`);
    const newDb = await waitFor('db-0 Running on a healthy node', async () => {
      const p = await getPod('db-0');
      return isRunningReady(p) ? p : undefined;
    }, 30_000, 100);
    assert.notEqual(newDb!.spec?.nodeName, victim.name);
    const dbEvents = await eventsFor('db-0');
    assert.ok(dbEvents.some((e) => e.reason === 'TaintManagerEviction'), JSON.stringify(dbEvents.map((e) => e.reason)));
    assert.ok(
      dbEvents.some((e) => e.reason === 'NodeLost' && e.type === 'Warning' && /node node-1 has not renewed its lease .* force-deleting it so that StatefulSet db can recreate it on another node/.test(e.message ?? '')),
      JSON.stringify(dbEvents.map((e) => [e.reason, e.message])),
    );

    // As in Kubernetes: the pod with the default 300 s toleration and the DaemonSet pod (which
    // tolerates unreachable for ever) are still bound to the node and not being deleted.
    const patient = await getPod('patient');
    assert.equal(patient?.spec?.nodeName, victim.name);
    assert.equal(patient?.metadata.deletionTimestamp, undefined);
    const ds = await dsPodOn(victim.name);
    assert.equal(ds?.metadata.uid, dsPod.metadata.uid);
    assert.ok((ds?.spec?.tolerations ?? []).some((t) => t.key === 'node.kubernetes.io/unreachable' && t.effect === 'NoExecute' && t.tolerationSeconds === undefined));
    // The node is kept (no node deletion in kennel's lifecycle controller), Unknown.
    assert.equal(readyOf(await getNode(victim.name)), 'Unknown');
  });
});

