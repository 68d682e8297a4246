// The StatefulSet controller against a real API server (memory store). There is no scheduler
// or node agent: the test plays the kubelet, marking pods Running and Ready (or Failed) through
// the status subresource, and never marking pods of a "broken" image ready.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type TestServer } from '../support/apiserver.ts';
import { KubeClient, isNotFound, type ResourceRef } from '../../src/client/rest.ts';
import { Informer, InformerFactory } from '../../src/client/informer.ts';
import type { KubeObject } from '../../src/registry/types.ts';
import { silentLogger } from '../../src/util/log.ts';
import {
  CLAIMS,
  PODS,
  REVISIONS,
  SERVICE_NOT_FOUND_REASON,
  STATEFULSETS,
  mapLimit,
  serviceNotFoundMessage,
  setsForClaim,
  setsForPod,
  setsForRevision,
  startStatefulSetController,
  statefulSetController,
  type SetLookup,
  type StatefulSetController,
} from '../../src/controllers/statefulset/controller.ts';
import { EVENTS_RESOURCE, EventRecorder } from '../../src/controllers/events.ts';
import { defaultRegistry } from '../../src/registry/index.ts';
import { waitFor } from '../support/wait.ts';
import { haveKubectl, kubectlAgainst } from '../support/cluster.ts';

type Obj = Record<string, unknown>;

const SERVICES: ResourceRef = { group: '', version: 'v1', plural: 'services', namespaced: true, kind: 'Service' };
const PETSETS: ResourceRef = { group: 'apps', version: 'v1alpha1', plural: 'petsets', namespaced: true, kind: 'PetSet' };
const NS = 'default';

function statefulSet(name: string, opts: { replicas?: number; image?: string; serviceName?: string; claims?: boolean; extra?: Obj } = {}): KubeObject {
  const labels = { app: name };
  const spec: Obj = {
    serviceName: opts.serviceName ?? 'nginx',
    replicas: opts.replicas ?? 2,
    selector: { matchLabels: labels },
    template: {
      metadata: { labels },
      spec: { containers: [{ name: 'nginx', image: opts.image ?? 'nginx:1.25', ...(opts.claims === false ? {} : { volumeMounts: [{ name: 'www', mountPath: '/usr/share/nginx/html' }] }) }] },
    },
    ...opts.extra,
  };
  if (opts.claims !== false) {
    spec.volumeClaimTemplates = [{ metadata: { name: 'www' }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } } }];
  }
  return { apiVersion: 'apps/v1', kind: 'StatefulSet', metadata: { name, namespace: NS }, spec };
}

const spec = (o: KubeObject | undefined): Obj => (o?.spec ?? {}) as Obj;
const status = (o: KubeObject | undefined): Obj => (o?.status ?? {}) as Obj;
const imageOf = (pod: KubeObject): string => ((spec(pod).containers as Obj[])[0].image as string) ?? '';
const revisionOf = (pod: KubeObject): string => pod.metadata.labels?.['controller-revision-hash'] ?? '';
const rv = (o: KubeObject): bigint => BigInt(o.metadata.resourceVersion ?? '0');

type KubeletVerdict = 'ready' | 'pending' | 'failed';

/**
 * The test's kubelet: watches pods and marks them Running + Ready unless `policy` says
 * otherwise; records deletions in order.
 */
class FakeKubelet {
  readonly deleted: string[] = [];
  policy: (pod: KubeObject) => KubeletVerdict = () => 'ready';
  private readonly informer: Informer;
  private readonly handled = new Set<string>();
  private readonly inflight = new Set<Promise<unknown>>();

  constructor(private readonly client: KubeClient) {
    this.informer = new Informer(client, PODS, { namespace: NS });
    const consider = (pod: KubeObject): void => this.consider(pod);
    this.informer.addEventHandler({ onAdd: consider, onUpdate: (_o, p) => consider(p), onDelete: (p) => this.deleted.push(p.metadata.name ?? '') });
  }

  async start(): Promise<void> {
    this.informer.start();
    await this.informer.waitForSync({ timeoutMs: 5000 });
  }

  async stop(): Promise<void> {
    await this.informer.stop();
    await Promise.allSettled([...this.inflight]);
  }

  /** Look at every pod again (after a policy change). */
  rescan(): void {
    for (const p of this.informer.list()) this.consider(p);
  }

  private consider(pod: KubeObject): void {
    const uid = pod.metadata.uid ?? '';
    if (pod.metadata.deletionTimestamp || this.handled.has(uid)) return;
    const verdict = this.policy(pod);
    if (verdict === 'pending') return;
    this.handled.add(uid);
    const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
    const body =
      verdict === 'ready'
        ? { status: { phase: 'Running', conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: now }] } }
        : { status: { phase: 'Failed', reason: 'Error', conditions: [{ type: 'Ready', status: 'False', lastTransitionTime: now }] } };
    this.run(this.client.patch(PODS, NS, pod.metadata.name ?? '', { metadata: { uid }, ...body }, 'merge', { subresource: 'status' }));
  }

  /** Mark one pod (by name) with a verdict now, whatever the policy. */
  async mark(name: string, verdict: 'ready' | 'failed'): Promise<void> {
    const pod = await this.client.get(PODS, NS, name);
    this.handled.delete(pod.metadata.uid ?? '');
    const saved = this.policy;
    this.policy = () => verdict;
    try {
      this.consider(pod);
    } finally {
      this.policy = saved;
    }
    await Promise.allSettled([...this.inflight]);
  }

  private run(p: Promise<unknown>): void {
    const q = p.catch((e: unknown) => {
      if (!isNotFound(e)) throw e;
    });
    this.inflight.add(q);
    void q.finally(() => this.inflight.delete(q)).catch(() => undefined);
  }
}

describe('StatefulSet controller against the API server', () => {
  let ts: TestServer;
  let client: KubeClient;
  let ctl: StatefulSetController;
  let kubelet: FakeKubelet;

  const getSet = (name: string) => client.get(STATEFULSETS, NS, name);
  const kubectl = (args: string[]): Promise<string> => kubectlAgainst(ts, args);
  const podsOf = async (name: string): Promise<KubeObject[]> => {
    const list = await client.list(PODS, NS, { labelSelector: `app=${name}` });
    return list.items.sort((a, b) => (a.metadata.name ?? '').localeCompare(b.metadata.name ?? '', 'en', { numeric: true }));
  };
  const claimNames = async (name: string): Promise<string[]> =>
    (await client.list(CLAIMS, NS, { labelSelector: `app=${name}` })).items.map((c) => c.metadata.name ?? '').sort();
  const eventsAbout = async (name: string): Promise<KubeObject[]> =>
    (await client.list(EVENTS_RESOURCE, NS, { fieldSelector: `involvedObject.name=${name}` })).items;
  /** All of the set's pods Ready at its update revision and the status says the rollout is done. */
  const settled = async (name: string, replicas: number, image?: string): Promise<KubeObject> => {
    return waitFor(`${name} settled at ${replicas} replicas${image ? ` on ${image}` : ''}`, async () => {
      const set = await getSet(name);
      const st = status(set);
      const pods = await podsOf(name);
      const ok =
        st.observedGeneration === set.metadata.generation &&
        st.readyReplicas === replicas &&
        st.replicas === replicas &&
        st.updatedReplicas === replicas &&
        st.currentRevision === st.updateRevision &&
        pods.length === replicas &&
        pods.every((p) => revisionOf(p) === st.updateRevision && !p.metadata.deletionTimestamp && (!image || imageOf(p) === image));
      return ok ? set : undefined;
    });
  };
  /** The controller has had nothing to do for a few polls in a row. */
  const quiet = async (): Promise<void> => {
    let streak = 0;
    await waitFor('the controller to be idle', async () => {
      streak = ctl.idle() ? streak + 1 : 0;
      return streak >= 5;
    });
  };

  before(async () => {
    ts = await startTestServer();
    client = KubeClient.fromKubeconfig(ts.kubeconfig);
    await client.create(SERVICES, { apiVersion: 'v1', kind: 'Service', metadata: { name: 'nginx', namespace: NS }, spec: { clusterIP: 'None', selector: { app: 'web' }, ports: [{ port: 80, name: 'web' }] } });
    kubelet = new FakeKubelet(client);
    await kubelet.start();
    ctl = await startStatefulSetController({ client, logger: silentLogger, syncTimeoutMs: 5000 });
  });

  after(async () => {
    await ctl?.stop();
    await kubelet?.stop();
    client?.close();
    await ts?.stop();
  });

  it('OrderedReady: claims before their pod, web-1 only after web-0 is Ready, every status field', async () => {
    kubelet.policy = () => 'pending';
    await client.create(STATEFULSETS, statefulSet('web'));
    const web0 = await waitFor('web-0', async () => (await podsOf('web')).find((p) => p.metadata.name === 'web-0'));
    const claim0 = await client.get(CLAIMS, NS, 'www-web-0');
    assert.ok(rv(claim0) < rv(web0), 'claim www-web-0 was created before pod web-0');
    assert.equal(web0.metadata.labels?.['statefulset.kubernetes.io/pod-name'], 'web-0');
    assert.equal(spec(web0).hostname, 'web-0');
    assert.equal(spec(web0).subdomain, 'nginx');
    assert.deepEqual(spec(web0).volumes, [{ name: 'www', persistentVolumeClaim: { claimName: 'www-web-0' } }]);
    const set0 = await getSet('web');
    assert.deepEqual(web0.metadata.ownerReferences?.map((r) => [r.kind, r.name, r.uid, r.controller]), [['StatefulSet', 'web', set0.metadata.uid, true]]);

    await quiet();
    assert.deepEqual((await podsOf('web')).map((p) => p.metadata.name), ['web-0'], 'web-1 waits for web-0 to be Ready');

    kubelet.policy = () => 'ready';
    await kubelet.mark('web-0', 'ready');
    const web1 = await waitFor('web-1', async () => (await podsOf('web')).find((p) => p.metadata.name === 'web-1'));
    assert.ok(rv(await client.get(CLAIMS, NS, 'www-web-1')) < rv(web1), 'claim www-web-1 was created before pod web-1');
    kubelet.rescan();

    const set = await settled('web', 2);
    const st = status(set);
    assert.equal(st.observedGeneration, 1);
    assert.equal(st.replicas, 2);
    assert.equal(st.readyReplicas, 2);
    assert.equal(st.currentReplicas, 2);
    assert.equal(st.updatedReplicas, 2);
    assert.equal(st.availableReplicas, 2);
    assert.match(String(st.currentRevision), /^web-[bcdfghjklmnpqrstvwxz2456789]+$/);
    assert.equal(st.collisionCount, 0);
    assert.deepEqual(await claimNames('web'), ['www-web-0', 'www-web-1']);

    const events = await waitFor('creation events', async () => {
      const evs = await eventsAbout('web');
      return evs.filter((e) => e.reason === 'SuccessfulCreate').length >= 4 ? evs : undefined;
    });
    const messages = events.map((e) => `${String(e.type)} ${String(e.reason)} ${String(e.message)}`);
    assert.ok(messages.includes('Normal SuccessfulCreate create Pod web-0 in StatefulSet web successful'), messages.join('\n'));
    assert.ok(messages.includes('Normal SuccessfulCreate create Claim www-web-0 Pod web-0 in StatefulSet web success'), messages.join('\n'));
    const ev = events.find((e) => e.message === 'create Pod web-1 in StatefulSet web successful') as KubeObject;
    assert.deepEqual(ev.source, { component: 'statefulset-controller' });
    assert.equal(ev.reportingComponent, 'statefulset-controller');
    assert.equal(ev.count, 1);
    const involved = ev.involvedObject as Obj;
    assert.deepEqual([involved.kind, involved.apiVersion, involved.namespace, involved.name, involved.uid], ['StatefulSet', 'apps/v1', NS, 'web', set.metadata.uid]);
    assert.match(String(ev.metadata.name), /^web\.[0-9a-f]+$/);
    assert.ok(typeof ev.firstTimestamp === 'string' && ev.firstTimestamp === ev.lastTimestamp);
    assert.equal(messages.filter((m) => m.includes(SERVICE_NOT_FOUND_REASON)).length, 0, 'the Service exists: no warning');
  });

  it('scales 2 → 5 → 3 through /scale: up in order, down from the highest ordinal, claims kept', async () => {
    await client.patch(STATEFULSETS, NS, 'web', { spec: { replicas: 5 } }, 'merge', { subresource: 'scale' });
    await settled('web', 5);
    assert.deepEqual((await podsOf('web')).map((p) => p.metadata.name), ['web-0', 'web-1', 'web-2', 'web-3', 'web-4']);
    assert.deepEqual(await claimNames('web'), ['www-web-0', 'www-web-1', 'www-web-2', 'www-web-3', 'www-web-4']);

    const before = kubelet.deleted.length;
    await client.patch(STATEFULSETS, NS, 'web', { spec: { replicas: 3 } }, 'merge', { subresource: 'scale' });
    await settled('web', 3);
    assert.deepEqual(kubelet.deleted.slice(before), ['web-4', 'web-3'], 'scale-down deletes the highest ordinal first');
    assert.deepEqual((await podsOf('web')).map((p) => p.metadata.name), ['web-0', 'web-1', 'web-2']);
    assert.deepEqual(await claimNames('web'), ['www-web-0', 'www-web-1', 'www-web-2', 'www-web-3', 'www-web-4'], 'claims of 3 and 4 are kept');
  });

  it('an image update by JSON patch rolls from the highest ordinal; revisions are numbered', async () => {
    const old = status(await getSet('web')).currentRevision as string;
    const before = kubelet.deleted.length;
    await client.patch(STATEFULSETS, NS, 'web', [{ op: 'replace', path: '/spec/template/spec/containers/0/image', value: 'nginx:1.26' }], 'json');
    const set = await settled('web', 3, 'nginx:1.26');
    assert.deepEqual(kubelet.deleted.slice(before), ['web-2', 'web-1', 'web-0']);
    const st = status(set);
    assert.notEqual(st.updateRevision, old);
    assert.equal(st.observedGeneration, set.metadata.generation);

    // What `kubectl rollout history statefulset/web` reads: the set's revisions by number.
    const revs = (await client.list(REVISIONS, NS, { labelSelector: 'app=web' })).items.sort((a, b) => Number(a.revision) - Number(b.revision));
    assert.deepEqual(revs.map((r) => [r.metadata.name, r.revision]), [[old, 1], [st.updateRevision, 2]]);
    for (const r of revs) assert.equal(r.metadata.ownerReferences?.[0]?.uid, set.metadata.uid);
    const image = (r: KubeObject) => ((((r.data as Obj).spec as Obj).template as Obj).spec as { containers: Obj[] }).containers[0].image;
    assert.deepEqual(revs.map(image), ['nginx:1.25', 'nginx:1.26']);

    if (haveKubectl) {
      const history = await kubectl(['rollout', 'history', 'statefulset/web']);
      assert.match(history, /^REVISION\s+CHANGE-CAUSE\n1\s+<none>\n2\s+<none>\n/m);
      assert.match(await kubectl(['rollout', 'history', 'statefulset/web', '--revision=1']), /Image:\s+nginx:1\.25/);
      // kubectl's wording whenever a partition is set (apps/v1 defaults it to 0).
      assert.equal(await kubectl(['rollout', 'status', 'statefulset/web', '--timeout=5s']), 'partitioned roll out complete: 3 new pods have been updated...\n');
    }
  });

  it('partition=2 updates only ordinals ≥ 2; lowering it rolls the rest', async () => {
    await client.patch(STATEFULSETS, NS, 'web', { spec: { updateStrategy: { type: 'RollingUpdate', rollingUpdate: { partition: 2 } } } }, 'strategic');
    await client.patch(STATEFULSETS, NS, 'web', [{ op: 'replace', path: '/spec/template/spec/containers/0/image', value: 'nginx:1.27' }], 'json');
    const set = await waitFor('web-2 on nginx:1.27', async () => {
      const s = await getSet('web');
      const pods = await podsOf('web');
      const st = status(s);
      const done =
        st.observedGeneration === s.metadata.generation &&
        st.updatedReplicas === 1 &&
        st.readyReplicas === 3 &&
        pods.length === 3 &&
        pods.every((p) => !p.metadata.deletionTimestamp) &&
        imageOf(pods[2]) === 'nginx:1.27';
      return done ? s : undefined;
    });
    await quiet();
    const pods = await podsOf('web');
    assert.deepEqual(pods.map(imageOf), ['nginx:1.26', 'nginx:1.26', 'nginx:1.27']);
    const st = status(set);
    assert.notEqual(st.currentRevision, st.updateRevision);
    assert.equal(revisionOf(pods[0]), st.currentRevision);
    assert.equal(revisionOf(pods[2]), st.updateRevision);
    assert.equal(st.currentReplicas, 2);

    await client.patch(STATEFULSETS, NS, 'web', { spec: { updateStrategy: { rollingUpdate: { partition: 0 } } } }, 'strategic');
    await settled('web', 3, 'nginx:1.27');
  });

  it('OnDelete: a new template changes only pods the user deletes', async () => {
    await client.patch(STATEFULSETS, NS, 'web', { spec: { updateStrategy: { type: 'OnDelete', rollingUpdate: null } } }, 'merge');
    await client.patch(STATEFULSETS, NS, 'web', [{ op: 'replace', path: '/spec/template/spec/containers/0/image', value: 'nginx:1.28' }], 'json');
    const set = await waitFor('the new update revision', async () => {
      const s = await getSet('web');
      return status(s).observedGeneration === s.metadata.generation && status(s).updateRevision !== status(s).currentRevision ? s : undefined;
    });
    await quiet();
    assert.deepEqual((await podsOf('web')).map(imageOf), ['nginx:1.27', 'nginx:1.27', 'nginx:1.27']);

    const old1 = await client.get(PODS, NS, 'web-1');
    await client.delete(PODS, NS, 'web-1');
    const new1 = await waitFor('web-1 recreated', async () => {
      const p = await client.get(PODS, NS, 'web-1').catch(() => undefined);
      return p && p.metadata.uid !== old1.metadata.uid ? p : undefined;
    });
    assert.equal(imageOf(new1), 'nginx:1.28');
    assert.equal(revisionOf(new1), status(set).updateRevision);
    await waitFor('web ready again', async () => status(await getSet('web')).readyReplicas === 3);
    await quiet();
    assert.deepEqual((await podsOf('web')).map(imageOf), ['nginx:1.27', 'nginx:1.28', 'nginx:1.27']);

    // Back to RollingUpdate: the rest follow.
    await client.patch(STATEFULSETS, NS, 'web', { spec: { updateStrategy: { type: 'RollingUpdate', rollingUpdate: { partition: 0 } } } }, 'merge');
    await settled('web', 3, 'nginx:1.28');
  });

  it('a failed pod is deleted and recreated with the same name', async () => {
    // A set of its own: `web` has had more than the 25 events the per-object spam filter lets
    // through at once (as in Kubernetes), so a new event about it would not show.
    await client.create(STATEFULSETS, statefulSet('phoenix', { replicas: 2 }));
    await settled('phoenix', 2);
    const old = await client.get(PODS, NS, 'phoenix-0');
    await kubelet.mark('phoenix-0', 'failed');
    const fresh = await waitFor('phoenix-0 recreated', async () => {
      const p = await client.get(PODS, NS, 'phoenix-0').catch(() => undefined);
      return p && p.metadata.uid !== old.metadata.uid ? p : undefined;
    });
    assert.equal(fresh.metadata.name, 'phoenix-0');
    assert.deepEqual(spec(fresh).volumes, [{ name: 'www', persistentVolumeClaim: { claimName: 'www-phoenix-0' } }]);
    await waitFor('phoenix ready again', async () => status(await getSet('phoenix')).readyReplicas === 2);
    const events = await eventsAbout('phoenix');
    assert.ok(
      events.some((e) => e.type === 'Warning' && e.reason === 'RecreatingFailedPod' && e.message === 'StatefulSet default/phoenix is recreating failed Pod phoenix-0'),
      events.map((e) => `${String(e.reason)}: ${String(e.message)}`).join('\n'),
    );
  });

  it('a rollout stuck on a broken template recovers once the template is fixed (kubernetes issue 67250)', async () => {
    kubelet.policy = (pod) => (imageOf(pod) === 'broken:nope' ? 'pending' : 'ready');
    await client.create(STATEFULSETS, statefulSet('db', { replicas: 2, claims: false, serviceName: 'nginx' }));
    await settled('db', 2, 'nginx:1.25');

    await client.patch(STATEFULSETS, NS, 'db', [{ op: 'replace', path: '/spec/template/spec/containers/0/image', value: 'broken:nope' }], 'json');
    await waitFor('db-1 on the broken image', async () => (await podsOf('db')).find((p) => p.metadata.name === 'db-1' && imageOf(p) === 'broken:nope'));
    await quiet();
    const stuck = await podsOf('db');
    assert.deepEqual(stuck.map(imageOf), ['nginx:1.25', 'broken:nope'], 'the rollout is stuck at db-1');

    await client.patch(STATEFULSETS, NS, 'db', [{ op: 'replace', path: '/spec/template/spec/containers/0/image', value: 'nginx:1.26' }], 'json');
    await settled('db', 2, 'nginx:1.26');
    const events = await eventsAbout('db');
    assert.ok(
      events.some((e) => e.type === 'Warning' && e.reason === 'RecreatingUnreadyPod' && String(e.message).startsWith('StatefulSet default/db is recreating Pod db-1, which is not ready')),
      events.map((e) => `${String(e.reason)}: ${String(e.message)}`).join('\n'),
    );
  });

  it('the PetSet alias: get, scale and patch through /apis/apps/v1alpha1 act on the set', async () => {
    const sts = await getSet('web');
    const pet = await client.get(PETSETS, NS, 'web');
    assert.equal(pet.kind, 'PetSet');
    assert.equal(pet.apiVersion, 'apps/v1alpha1');
    assert.equal(pet.metadata.uid, sts.metadata.uid);
    assert.equal(pet.metadata.resourceVersion, sts.metadata.resourceVersion);
    assert.deepEqual(status(pet), status(sts));

    await client.updateSubresource(PETSETS, NS, 'web', 'scale', { apiVersion: 'autoscaling/v1', kind: 'Scale', metadata: { name: 'web', namespace: NS }, spec: { replicas: 4 } });
    await settled('web', 4);
    assert.deepEqual((await podsOf('web')).map((p) => p.metadata.name), ['web-0', 'web-1', 'web-2', 'web-3']);
    assert.equal(spec(await getSet('web')).replicas, 4);

    const ts0 = await ts.request('PATCH', `/apis/apps/v1alpha1/namespaces/${NS}/petsets/web`, { spec: { replicas: 3 } }, { 'content-type': 'application/strategic-merge-patch+json' });
    assert.equal(ts0.status, 200, ts0.text);
    assert.equal(ts0.json<{ kind: string }>().kind, 'PetSet');
    await settled('web', 3);
    const scale = await client.getSubresource(PETSETS, NS, 'web', 'scale');
    assert.deepEqual([spec(scale).replicas, status(scale).replicas, status(scale).selector], [3, 3, 'app=web']);
  });

  it('a set whose Service does not exist gets one warning per generation', async () => {
    await client.create(STATEFULSETS, statefulSet('lonely', { replicas: 1, claims: false, serviceName: 'nothere' }));
    const warning = async (count: number) =>
      waitFor(`warning #${count}`, async () => (await eventsAbout('lonely')).find((e) => e.reason === SERVICE_NOT_FOUND_REASON && e.count === count));
    const w = await warning(1);
    assert.equal(w.type, 'Warning');
    assert.equal(w.message, 'service "nothere" not found: pod DNS names (lonely-0.nothere.default.svc.cluster.local) will not resolve until it exists');
    await settled('lonely', 1);
    await quiet();
    const again = (await eventsAbout('lonely')).filter((e) => e.reason === SERVICE_NOT_FOUND_REASON);
    assert.deepEqual(again.map((e) => e.count), [1], 'status updates of the same generation do not repeat it');

    // A new generation repeats it: the same event, its count bumped (aggregation).
    await client.patch(STATEFULSETS, NS, 'lonely', { spec: { template: { metadata: { annotations: { touch: '1' } } } } }, 'merge');
    const w2 = await warning(2);
    assert.equal(w2.metadata.name, w.metadata.name);
    assert.ok(String(w2.lastTimestamp) >= String(w.lastTimestamp));
  });

  it('the PetSet annotation pod.alpha.kubernetes.io/initialized: "false" pauses ordered start-up', async () => {
    await client.create(STATEFULSETS, statefulSet('pets', { replicas: 2, claims: false, extra: { template: { metadata: { labels: { app: 'pets' }, annotations: { 'pod.alpha.kubernetes.io/initialized': 'false' } }, spec: { containers: [{ name: 'c', image: 'nginx:1.25' }] } } } }));
    await waitFor('pets-0 ready', async () => status(await getSet('pets')).replicas === 1 && (await podsOf('pets'))[0]?.status !== undefined && ((await podsOf('pets'))[0].status as Obj).phase === 'Running');
    await quiet();
    assert.deepEqual((await podsOf('pets')).map((p) => p.metadata.name), ['pets-0'], 'held at pets-0');
    await client.patch(PODS, NS, 'pets-0', { metadata: { annotations: { 'pod.alpha.kubernetes.io/initialized': 'true' } } }, 'merge');
    await waitFor('pets-1', async () => (await podsOf('pets')).some((p) => p.metadata.name === 'pets-1'));
  });
});

describe('event recorder', () => {
  let ts: TestServer;
  let client: KubeClient;
  before(async () => {
    ts = await startTestServer();
    client = KubeClient.fromKubeconfig(ts.kubeconfig);
  });
  after(async () => {
    client?.close();
    await ts?.stop();
  });

  const target: KubeObject = { apiVersion: 'apps/v1', kind: 'StatefulSet', metadata: { name: 'web', namespace: 'default', uid: 'u-1', resourceVersion: '5' } };

  it('folds repeats into one Event with a count, keeps different messages apart', async () => {
    const rec = new EventRecorder({ client, component: 'statefulset-controller' });
    rec.event(target, 'Normal', 'SuccessfulCreate', 'create Pod web-0 in StatefulSet web successful');
    rec.event(target, 'Normal', 'SuccessfulCreate', 'create Pod web-0 in StatefulSet web successful');
    rec.event(target, 'Normal', 'SuccessfulCreate', 'create Pod web-0 in StatefulSet web successful');
    rec.event(target, 'Normal', 'SuccessfulCreate', 'create Pod web-1 in StatefulSet web successful');
    await rec.flush();
    const evs = (await client.list(EVENTS_RESOURCE, 'default', { fieldSelector: 'involvedObject.uid=u-1' })).items;
    const byMessage = new Map(evs.map((e) => [e.message, e]));
    assert.equal(evs.length, 2);
    assert.equal(byMessage.get('create Pod web-0 in StatefulSet web successful')?.count, 3);
    assert.equal(byMessage.get('create Pod web-1 in StatefulSet web successful')?.count, 1);
    const e = byMessage.get('create Pod web-0 in StatefulSet web successful') as KubeObject;
    assert.deepEqual(e.involvedObject, { kind: 'StatefulSet', namespace: 'default', name: 'web', uid: 'u-1', apiVersion: 'apps/v1', resourceVersion: '5' });
    assert.equal(e.reportingInstance, '');
    await rec.stop();
  });

  it('recreates an Event that was deleted, and never throws on API errors', async () => {
    const rec = new EventRecorder({ client, component: 'statefulset-controller', host: 'server-1' });
    rec.event(target, 'Warning', 'FailedCreate', 'boom');
    await rec.flush();
    const [first] = (await client.list(EVENTS_RESOURCE, 'default', { fieldSelector: 'reason=FailedCreate' })).items;
    assert.deepEqual(first.source, { component: 'statefulset-controller', host: 'server-1' });
    await client.delete(EVENTS_RESOURCE, 'default', first.metadata.name ?? '');
    rec.event(target, 'Warning', 'FailedCreate', 'boom');
    await rec.flush();
    const after = (await client.list(EVENTS_RESOURCE, 'default', { fieldSelector: 'reason=FailedCreate' })).items;
    assert.equal(after.length, 1);
    assert.notEqual(after[0].metadata.name, first.metadata.name);
    assert.equal(after[0].count, 1);

    // A namespace that does not exist: the write fails, the caller never sees it.
    const ghost: KubeObject = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'no-such-ns', uid: 'u-2' } };
    assert.doesNotThrow(() => rec.event(ghost, 'Normal', 'Pulled', 'x'));
    await rec.flush();
    assert.equal(rec.pending, 0);
    await rec.stop();
  });

  it('the controller factory starts under a controller manager context and stops', async () => {
    const informers = new InformerFactory(client, { freeze: true });
    try {
      const running = await statefulSetController.start({ client, registry: defaultRegistry(), logger: silentLogger, informers });
      await client.create(STATEFULSETS, statefulSet('solo', { replicas: 1, claims: false }));
      await waitFor('solo-0', async () => (await client.get(PODS, NS, 'solo-0').catch(() => undefined)) !== undefined);
      // It took its informers from the manager's factory, and leaves them running.
      assert.ok(informers.size >= 4);
      const pods = informers.informer(PODS);
      await running.stop();
      assert.ok(pods.hasSynced());
      await client.delete(PODS, NS, 'solo-0', { gracePeriodSeconds: 0 }).catch(() => undefined);
      await waitFor('the shared pod informer to follow changes after the stop', async () => pods.get(NS, 'solo-0') === undefined);
    } finally {
      await informers.stop();
    }
  });

  it('drops events beyond maxPending instead of queueing without bound', async () => {
    const rec = new EventRecorder({ client, component: 'c', maxPending: 3, concurrency: 1 });
    for (let i = 0; i < 10; i++) rec.event(target, 'Normal', 'R', `m${i}`);
    assert.equal(rec.dropped, 7);
    await rec.stop();
  });
});

describe('which sets a change concerns', () => {
  const set = (name: string, uid: string, claimTemplate?: string): KubeObject => ({
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: { name, namespace: 'ns', uid },
    spec: {
      selector: { matchLabels: { app: name } },
      ...(claimTemplate ? { volumeClaimTemplates: [{ metadata: { name: claimTemplate }, spec: {} }] } : {}),
    },
  });
  const sets = [set('web', 'u-web', 'www'), set('db', 'u-db', 'data')];
  const lookup: SetLookup = {
    get: (ns, name) => sets.find((s) => s.metadata.namespace === ns && s.metadata.name === name),
    listByNamespace: (ns) => sets.filter((s) => s.metadata.namespace === ns),
  };
  const ref = (name: string, uid: string, kind = 'StatefulSet') => ({ apiVersion: 'apps/v1', kind, name, uid, controller: true });

  it('pods: the controller, or an orphan\'s adopters', () => {
    assert.deepEqual(setsForPod(lookup, { metadata: { name: 'web-0', namespace: 'ns', ownerReferences: [ref('web', 'u-web')] } }), ['ns/web']);
    assert.deepEqual(setsForPod(lookup, { metadata: { name: 'web-0', namespace: 'ns', ownerReferences: [ref('web', 'stale-uid')] } }), []);
    assert.deepEqual(setsForPod(lookup, { metadata: { name: 'web-0', namespace: 'ns', ownerReferences: [ref('web', 'u-web', 'ReplicaSet')] } }), []);
    assert.deepEqual(setsForPod(lookup, { metadata: { name: 'web-3', namespace: 'ns', labels: { app: 'web' } } }), ['ns/web']);
    assert.deepEqual(setsForPod(lookup, { metadata: { name: 'other-3', namespace: 'ns', labels: { app: 'web' } } }), [], 'not named like a member');
    assert.deepEqual(setsForPod(lookup, { metadata: { name: 'web-3', namespace: 'other', labels: { app: 'web' } } }), []);
  });

  it('revisions and claims', () => {
    assert.deepEqual(setsForRevision(lookup, { metadata: { name: 'db-abc', namespace: 'ns', labels: { app: 'db' } } }), ['ns/db']);
    assert.deepEqual(setsForRevision(lookup, { metadata: { name: 'x', namespace: 'ns', ownerReferences: [ref('db', 'u-db')] } }), ['ns/db']);
    assert.deepEqual(setsForClaim(lookup, { metadata: { name: 'www-web-12', namespace: 'ns' } }), ['ns/web']);
    assert.deepEqual(setsForClaim(lookup, { metadata: { name: 'www-web-x', namespace: 'ns' } }), []);
    assert.deepEqual(setsForClaim(lookup, { metadata: { name: 'anything', namespace: 'ns', ownerReferences: [{ ...ref('db', 'u-db'), controller: false }] } }), ['ns/db']);
  });

  it('mapLimit keeps order and bounds concurrency; the factory is named statefulset', async () => {
    let live = 0;
    let peak = 0;
    const out = await mapLimit([5, 1, 3, 2, 4], 2, async (n) => {
      live++;
      peak = Math.max(peak, live);
      await new Promise((r) => setTimeout(r, n));
      live--;
      return n * 10;
    });
    assert.deepEqual(out, [50, 10, 30, 20, 40]);
    assert.equal(peak, 2);
    assert.equal(statefulSetController.name, 'statefulset');
    assert.equal(serviceNotFoundMessage({ metadata: { name: 'web', namespace: 'prod' }, spec: { serviceName: 'nginx', ordinals: { start: 3 } } }), 'service "nginx" not found: pod DNS names (web-3.nginx.prod.svc.cluster.local) will not resolve until it exists');
  });
});
