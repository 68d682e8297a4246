// The node lifecycle controller against a real API server (memory store), with short durations
// (grace 2 s, leases of 1 s, fence margin 1 s): the test plays two agents by renewing their
// Leases. A node whose renewals stop goes Unknown and gets the unreachable taints; a pod with
// tolerationSeconds 1 is evicted a second later; a pod tolerating for ever stays (NotReady); a
// StatefulSet pod is force-deleted only after lease + margin, its node-bound claim first
// (recreate-volume); the node recovers when renewals resume. Then kubectl cordon, uncordon and
// drain, and full disruption (no node Ready → nothing evicted).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type TestServer } from '../support/apiserver.ts';
import { KubeClient, isAlreadyExists, isNotFound, type ResourceRef } from '../../src/client/rest.ts';
import type { KubeObject } from '../../src/registry/types.ts';
import type { Node, Pod, Taint, Toleration } from '../../src/scheduler/types.ts';
import { silentLogger } from '../../src/util/log.ts';
import { LEASES, NODES, PODS, STATEFULSETS, CLAIMS, VOLUMES, startNodeLifecycleController, type NodeLifecycleController } from '../../src/controllers/nodelifecycle/controller.ts';
import { ANNOTATION_ON_NODE_LOSS } from '../../src/controllers/nodelifecycle/fencing.ts';
import { waitUntil } from '../support/wait.ts';
import { getOrNull as getObjectOrNull, haveKubectl, kubectlAgainst } from '../support/cluster.ts';

const NAMESPACES: ResourceRef = { group: '', version: 'v1', plural: 'namespaces', namespaced: false, kind: 'Namespace' };
const EVENTS: ResourceRef = { group: '', version: 'v1', plural: 'events', namespaced: true, kind: 'Event' };
const DAEMONSETS: ResourceRef = { group: 'apps', version: 'v1', plural: 'daemonsets', namespaced: true, kind: 'DaemonSet' };
const UNREACHABLE = 'node.kubernetes.io/unreachable';
const GRACE_MS = 2000;
const LEASE_S = 1;
const MARGIN_MS = 1000;

const waitFor = <T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 8000): Promise<T> => waitUntil(what, fn, { timeoutMs, everyMs: 25 });

const microTime = (ms: number): string => new Date(ms).toISOString().replace('Z', '000Z');
const taintKeys = (n: Node): string[] => (n.spec?.taints ?? []).map((t: Taint) => `${t.key}:${t.effect}`).sort();
const readyOf = (n: Node): string | undefined => n.status?.conditions?.find((c) => c.type === 'Ready')?.status;

describe('node lifecycle controller against the API server', () => {
  let ts: TestServer;
  let client: KubeClient;
  let ctl: NodeLifecycleController;
  const renewing = new Set<string>();
  /** node → when the test SENT its last renewal that succeeded (real ms). */
  const lastSent = new Map<string, number>();
  let renewTimer: NodeJS.Timeout | undefined;
  let inFlight: Promise<unknown> = Promise.resolve();

  const getOrNull = <T extends KubeObject>(res: ResourceRef, ns: string | undefined, name: string): Promise<T | null> => getObjectOrNull<T>(client, res, ns, name);
  const node = async (name: string): Promise<Node> => client.get<Node>(NODES, undefined, name);

  const renew = async (name: string): Promise<void> => {
    const sent = Date.now();
    const spec = { holderIdentity: name, leaseDurationSeconds: LEASE_S, renewTime: microTime(sent) };
    try {
      await client.patch(LEASES, 'kube-node-lease', name, { spec }, 'merge');
    } catch (e) {
      if (!isNotFound(e)) throw e;
      await client.create(LEASES, { metadata: { name, namespace: 'kube-node-lease' }, spec });
    }
    lastSent.set(name, sent);
  };
  const postReady = async (name: string): Promise<void> => {
    const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
    const cond = (type: string, status: string, reason: string) => ({ type, status, reason, message: reason, lastHeartbeatTime: now, lastTransitionTime: now });
    const conditions = [
      cond('MemoryPressure', 'False', 'KubeletHasSufficientMemory'),
      cond('DiskPressure', 'False', 'KubeletHasNoDiskPressure'),
      cond('PIDPressure', 'False', 'KubeletHasSufficientPID'),
      cond('Ready', 'True', 'KubeletReady'),
    ];
    await client.patch(NODES, undefined, name, { status: { conditions } }, 'merge', { subresource: 'status' });
  };
  const stopRenewing = async (...names: string[]): Promise<void> => {
    for (const n of names) renewing.delete(n);
    await inFlight;
  };
  const events = async (reason: string): Promise<KubeObject[]> =>
    (await client.list(EVENTS)).items.filter((e) => e.reason === reason && (e.source as { component?: string } | undefined)?.component === 'node-controller');

  const mkPod = async (name: string, nodeName: string, extra: { tolerations?: Toleration[]; owner?: KubeObject; claim?: string; ready?: boolean } = {}): Promise<Pod> => {
    const owner = extra.owner;
    const p = await client.create<Pod>(PODS, {
      metadata: {
        name,
        namespace: 'default',
        labels: owner ? { app: owner.metadata.name ?? '' } : {},
        ...(owner ? { ownerReferences: [{ apiVersion: owner.apiVersion ?? '', kind: owner.kind ?? '', name: owner.metadata.name ?? '', uid: owner.metadata.uid ?? '', controller: true }] } : {}),
      },
      spec: {
        nodeName,
        containers: [{ name: 'c', image: 'busybox' }],
        ...(extra.tolerations ? { tolerations: extra.tolerations } : {}),
        ...(extra.claim ? { volumes: [{ name: 'data', persistentVolumeClaim: { claimName: extra.claim } }] } : {}),
      },
    });
    if (!extra.ready) return p;
    const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
    return client.patch<Pod>(PODS, 'default', name, { status: { phase: 'Running', conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: now }] } }, 'merge', { subresource: 'status' });
  };

  before(async () => {
    ts = await startTestServer();
    client = new KubeClient({ server: ts.url, ca: ts.ca, token: ts.token });
    await client.create(NAMESPACES, { metadata: { name: 'kube-node-lease' } }).catch((e: unknown) => {
      if (!isAlreadyExists(e)) throw e;
    });
    for (const name of ['n1', 'n2']) {
      // kennel.dev/fencing: the agents the test plays fence themselves (with a watchdog).
      await client.create(NODES, { metadata: { name, labels: { 'kubernetes.io/hostname': name }, annotations: { 'kennel.dev/fencing': 'watchdog' } }, spec: {} });
      await postReady(name);
      await renew(name);
      renewing.add(name);
    }
    renewTimer = setInterval(() => {
      inFlight = Promise.all([...renewing].map((n) => renew(n).catch(() => undefined)));
    }, 200);
    ctl = await startNodeLifecycleController({
      client,
      logger: silentLogger,
      gracePeriodMs: GRACE_MS,
      startupGracePeriodMs: GRACE_MS,
      monitorPeriodMs: 200,
      fenceMarginMs: MARGIN_MS,
      syncTimeoutMs: 10_000,
    });
  });

  after(async () => {
    if (renewTimer) clearInterval(renewTimer);
    await inFlight;
    await ctl?.stop();
    client?.close();
    await ts?.stop();
  });

  it('a silent node: Unknown, tainted, its pods evicted, NotReady or replaced; back when it renews', async () => {
    // A StatefulSet with a local volume on n1, set to recreate it when the node is lost.
    const set = await client.create(STATEFULSETS, {
      metadata: { name: 'web', namespace: 'default', annotations: { [ANNOTATION_ON_NODE_LOSS]: 'recreate-volume' } },
      spec: {
        serviceName: 'web',
        replicas: 1,
        selector: { matchLabels: { app: 'web' } },
        template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'c', image: 'busybox' }] } },
        volumeClaimTemplates: [{ metadata: { name: 'data' }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } } }],
      },
    });
    await client.create(VOLUMES, {
      metadata: { name: 'pv-web-0' },
      spec: {
        capacity: { storage: '1Gi' },
        accessModes: ['ReadWriteOnce'],
        hostPath: { path: '/tmp/kennel-pv-web-0' },
        nodeAffinity: { required: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'In', values: ['n1'] }] }] } },
      },
    });
    await client.create(CLAIMS, {
      metadata: { name: 'data-web-0', namespace: 'default' },
      spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } }, volumeName: 'pv-web-0' },
    });
    const forEver = [{ key: UNREACHABLE, operator: 'Exists', effect: 'NoExecute' }];
    const seconds = (s: number) => [{ key: UNREACHABLE, operator: 'Exists', effect: 'NoExecute', tolerationSeconds: s }];
    await mkPod('quick', 'n1', { tolerations: seconds(1) });
    await mkPod('stay', 'n1', { tolerations: forEver, ready: true });
    const web0 = await mkPod('web-0', 'n1', { tolerations: seconds(0), owner: set, claim: 'data-web-0' });
    await mkPod('elsewhere', 'n2', { tolerations: seconds(0), ready: true });

    await ctl.sync();
    assert.deepEqual(taintKeys(await node('n1')), [], 'a healthy node has no taints');
    assert.equal(readyOf(await node('n1')), 'True');

    // n1 falls silent.
    await stopRenewing('n1');
    const silentSince = lastSent.get('n1')!;
    const unknown = await waitFor('n1 to be Unknown', async () => {
      const n = await node('n1');
      return readyOf(n) === 'Unknown' ? n : undefined;
    });
    const unknownAt = Date.now();
    assert.ok(unknownAt - silentSince >= GRACE_MS, `Unknown after ${unknownAt - silentSince} ms of silence`);
    const ready = unknown.status?.conditions?.find((c) => c.type === 'Ready');
    assert.equal(ready?.reason, 'NodeStatusUnknown');
    assert.equal(ready?.message, 'Kubelet stopped posting node status.');
    assert.equal(readyOf(await node('n2')), 'True', 'the other node is untouched');

    const tainted = await waitFor('the unreachable taints', async () => {
      const n = await node('n1');
      return taintKeys(n).includes(`${UNREACHABLE}:NoExecute`) ? n : undefined;
    });
    const taintSeenAt = Date.now();
    assert.deepEqual(taintKeys(tainted), [`${UNREACHABLE}:NoExecute`, `${UNREACHABLE}:NoSchedule`]);
    assert.ok(tainted.spec?.taints?.every((t) => typeof t.timeAdded === 'string'), 'timeAdded is set');

    // tolerationSeconds 1: evicted (Terminating) a second after the taint, not before.
    const quick = await waitFor('quick to be evicted', async () => {
      const p = await client.get<Pod>(PODS, 'default', 'quick');
      return p.metadata.deletionTimestamp ? p : undefined;
    });
    const evictedAfter = Date.now() - taintSeenAt;
    assert.ok(evictedAfter >= 800, `evicted ${evictedAfter} ms after the taint was seen`);
    assert.ok(quick.status?.conditions?.some((c) => c.type === 'DisruptionTarget' && c.reason === 'DeletionByTaintManager'));

    // The StatefulSet pod: evicted at once (tolerationSeconds 0), force-deleted after lease + margin,
    // its node-bound claim deleted first.
    await waitFor('web-0 to be gone', async () => (await getOrNull(PODS, 'default', 'web-0')) === null);
    const goneAfter = Date.now() - silentSince;
    assert.ok(goneAfter >= LEASE_S * 1000 + MARGIN_MS, `force-deleted ${goneAfter} ms after the last renewal was sent`);
    assert.equal(await getOrNull(CLAIMS, 'default', 'data-web-0'), null, 'recreate-volume: the claim was deleted');

    // Tolerated for ever: stays, but NotReady.
    const stay = await waitFor('stay to be NotReady', async () => {
      const p = await client.get<Pod>(PODS, 'default', 'stay');
      return p.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'False' ? p : undefined;
    });
    assert.equal(stay.metadata.deletionTimestamp, undefined);
    const elsewhere = await client.get<Pod>(PODS, 'default', 'elsewhere');
    assert.equal(elsewhere.metadata.deletionTimestamp, undefined, 'a pod on a healthy node is not touched');
    assert.equal(elsewhere.status?.conditions?.find((c) => c.type === 'Ready')?.status, 'True');

    // What users see.
    await waitFor('the events', async () => {
      const notReady = (await events('NodeNotReady')).find((e) => (e.involvedObject as { kind: string }).kind === 'Node');
      const eviction = (await events('TaintManagerEviction')).find((e) => e.message === 'Marking for deletion Pod default/quick');
      const lost = (await events('NodeLost')).map((e) => (e.involvedObject as { kind: string }).kind).sort();
      const recreated = await events('VolumeRecreated');
      const podNotReady = (await events('NodeNotReady')).find((e) => (e.involvedObject as { name: string }).name === 'stay');
      return notReady?.message === 'Node n1 status is now: NodeNotReady' && eviction && lost.join() === 'Pod,StatefulSet' && recreated.length === 1 && podNotReady;
    });
    const lostMsg = (await events('NodeLost'))[0].message as string;
    assert.match(lostMsg, /node n1 has not renewed its lease for \d+s \(lease 1s \+ fence margin 1s\)/);
    assert.equal(web0.metadata.uid !== undefined, true);

    // n1 comes back: renewals and a Ready report; the taints go.
    renewing.add('n1');
    await renew('n1');
    await postReady('n1');
    const back = await waitFor('n1 untainted', async () => {
      const n = await node('n1');
      return taintKeys(n).length === 0 ? n : undefined;
    });
    assert.equal(readyOf(back), 'True');
    await ctl.sync();
    assert.equal(readyOf(await node('n1')), 'True', 'the controller leaves a renewing node Ready');
    for (const name of ['quick', 'stay']) await client.delete(PODS, 'default', name, { gracePeriodSeconds: 0 }).catch(() => undefined);
  });

  it('kubectl cordon, uncordon and drain', { skip: haveKubectl ? false : 'kubectl not installed' }, async () => {
    const kubectl = (args: string[]): Promise<string> => kubectlAgainst(ts, args, { withStderr: true });
    assert.match(await kubectl(['cordon', 'n2']), /node\/n2 cordoned/);
    await waitFor('the unschedulable taint', async () => taintKeys(await node('n2')).includes('node.kubernetes.io/unschedulable:NoSchedule'));
    assert.match(await kubectl(['get', 'node', 'n2']), /n2\s+Ready,SchedulingDisabled/);
    assert.match(await kubectl(['uncordon', 'n2']), /node\/n2 uncordoned/);
    await waitFor('the unschedulable taint to go', async () => taintKeys(await node('n2')).length === 0);

    // drain: a DaemonSet pod stays (--ignore-daemonsets), the others are evicted.
    const ds = await client.create(DAEMONSETS, {
      metadata: { name: 'agent', namespace: 'default' },
      spec: { selector: { matchLabels: { app: 'agent' } }, template: { metadata: { labels: { app: 'agent' } }, spec: { containers: [{ name: 'c', image: 'busybox' }] } } },
    });
    await mkPod('agent-x', 'n2', { owner: ds });
    await mkPod('plain', 'n2');
    const out = await kubectl(['drain', 'n2', '--ignore-daemonsets', '--force', '--grace-period=0', '--timeout=20s']);
    assert.match(out, /evicting pod default\/plain/);
    assert.match(out, /evicting pod default\/elsewhere/);
    assert.match(out, /node\/n2 drained/);
    assert.doesNotMatch(out, /evicting pod default\/agent-x/);
    assert.equal(await getOrNull(PODS, 'default', 'plain'), null);
    assert.equal(await getOrNull(PODS, 'default', 'elsewhere'), null);
    assert.ok(await getOrNull(PODS, 'default', 'agent-x'), 'the DaemonSet pod stays');
    const drained = await node('n2');
    assert.equal(drained.spec?.unschedulable, true);
    await waitFor('the unschedulable taint', async () => taintKeys(await node('n2')).includes('node.kubernetes.io/unschedulable:NoSchedule'));
    await kubectl(['uncordon', 'n2']);
    await waitFor('n2 schedulable', async () => taintKeys(await node('n2')).length === 0);
  });

  it('full disruption: when no node is Ready nothing is evicted, and countdowns are cancelled', async () => {
    const pod = await mkPod('patient', 'n2', { tolerations: [{ key: UNREACHABLE, operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 3 }] });
    // n2 falls silent, and n1 a little later: n2 is Unknown first, gets the NoExecute taint and
    // the pod a 3 s countdown; then n1 is Unknown too — no node is Ready: the NoExecute taints go
    // and the countdown is cancelled.
    const stoppedAt = Date.now();
    await stopRenewing('n2');
    await new Promise((r) => setTimeout(r, 300));
    await stopRenewing('n1');
    await waitFor('full disruption', async () => ctl.fullDisruption());
    await waitFor('the cancel event', async () => (await events('TaintManagerEviction')).some((e) => e.message === 'Cancelling deletion of Pod default/patient'));
    const n2 = await waitFor('n2 without NoExecute', async () => {
      const n = await node('n2');
      return taintKeys(n).includes(`${UNREACHABLE}:NoExecute`) ? undefined : n;
    });
    assert.deepEqual(taintKeys(n2), [`${UNREACHABLE}:NoSchedule`]);
    assert.deepEqual(taintKeys(await node('n1')), [`${UNREACHABLE}:NoSchedule`]);
    // Past the moment the countdown would have ended: still there.
    await new Promise((r) => setTimeout(r, Math.max(0, stoppedAt + GRACE_MS + 3500 - Date.now())));
    const after = await client.get<Pod>(PODS, 'default', 'patient');
    assert.equal(after.metadata.uid, pod.metadata.uid);
    assert.equal(after.metadata.deletionTimestamp, undefined, 'not evicted');
  });
});
