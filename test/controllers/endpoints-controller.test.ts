// The Endpoints and EndpointSlice controllers against a real API server (memory store). There
// is no node agent: the test sets pod IPs and readiness through the status subresource, as a
// kubelet would.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type TestServer } from '../support/apiserver.ts';
import { KubeClient, isNotFound } from '../../src/client/rest.ts';
import type { KubeObject } from '../../src/registry/types.ts';
import { silentLogger } from '../../src/util/log.ts';
import { startEndpointsController } from '../../src/controllers/endpoints/endpoints-controller.ts';
import { startEndpointSliceController } from '../../src/controllers/endpoints/endpointslice-controller.ts';
import { ENDPOINTS, ENDPOINT_SLICES, PODS, SERVICES, type ServiceController } from '../../src/controllers/endpoints/loop.ts';
import { MANAGED_BY_CONTROLLER, MANAGED_BY_LABEL, SERVICE_NAME_LABEL } from '../../src/controllers/endpoints/slices.ts';
import { waitUntil } from '../support/wait.ts';
import { setPodReady } from '../support/cluster.ts';

type Obj = Record<string, unknown>;
const NS = 'default';

const waitFor = <T>(what: string, fn: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 10_000, everyMs = 5): Promise<T> =>
  waitUntil(what, fn, { timeoutMs, everyMs });

describe('Endpoints and EndpointSlice controllers against the API server', () => {
  let ts: TestServer;
  let client: KubeClient;
  let eps: ServiceController;
  let slices: ServiceController;

  const makePod = async (name: string, ip: string, o: { labels?: Record<string, string>; ready?: boolean; hostname?: string; subdomain?: string; ports?: Obj[] } = {}): Promise<void> => {
    const spec: Obj = { containers: [{ name: 'c', image: 'nginx:1.25', ports: o.ports ?? [{ name: 'web', containerPort: 8080 }] }], nodeName: 'node-1' };
    if (o.hostname) spec.hostname = o.hostname;
    if (o.subdomain) spec.subdomain = o.subdomain;
    await client.create(PODS, { apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: NS, labels: o.labels ?? { app: 'web' } }, spec });
    await setReady(name, o.ready ?? true, ip);
  };
  const setReady = (name: string, ready: boolean, ip?: string): Promise<void> => setPodReady(client, NS, name, ready, ip);
  const endpointsOf = (name: string): Promise<KubeObject | undefined> =>
    client.get(ENDPOINTS, NS, name).catch((e: unknown) => {
      if (isNotFound(e)) return undefined;
      throw e;
    });
  const slicesOf = async (name: string): Promise<KubeObject[]> => (await client.list(ENDPOINT_SLICES, NS, { labelSelector: `${SERVICE_NAME_LABEL}=${name}` })).items;
  const readyIPs = (ep: KubeObject | undefined): string[] =>
    ((ep?.subsets as Obj[] | undefined) ?? []).flatMap((s) => ((s.addresses as Obj[] | undefined) ?? []).map((a) => a.ip as string)).sort();
  const notReadyIPs = (ep: KubeObject | undefined): string[] =>
    ((ep?.subsets as Obj[] | undefined) ?? []).flatMap((s) => ((s.notReadyAddresses as Obj[] | undefined) ?? []).map((a) => a.ip as string)).sort();
  const sliceReady = (ss: KubeObject[]): string[] =>
    ss
      .flatMap((s) => ((s.endpoints as Obj[] | undefined) ?? []).filter((e) => (e.conditions as Obj).ready === true).map((e) => (e.addresses as string[])[0]))
      .sort();

  before(async () => {
    ts = await startTestServer();
    client = KubeClient.fromKubeconfig(ts.kubeconfig);
    eps = await startEndpointsController({ client, logger: silentLogger, syncTimeoutMs: 5000 });
    slices = await startEndpointSliceController({ client, logger: silentLogger, syncTimeoutMs: 5000, maxEndpointsPerSlice: 2 });
  });

  after(async () => {
    await eps?.stop();
    await slices?.stop();
    client?.close();
    await ts?.stop();
  });

  it('publishes a headless service: hostnames, targetRef, nodeName, ports; slices of at most the limit', async () => {
    await client.create(SERVICES, { apiVersion: 'v1', kind: 'Service', metadata: { name: 'nginx', namespace: NS }, spec: { clusterIP: 'None', selector: { app: 'web' }, ports: [{ name: 'web', port: 80, targetPort: 'web' }] } });
    for (let i = 0; i < 3; i++) await makePod(`web-${i}`, `10.244.0.${10 + i}`, { hostname: `web-${i}`, subdomain: 'nginx' });
    const ep = await waitFor('Endpoints nginx with 3 ready addresses', async () => {
      const e = await endpointsOf('nginx');
      return readyIPs(e).length === 3 ? e : undefined;
    });
    const subset = (ep.subsets as Obj[])[0];
    const a0 = (subset.addresses as Obj[])[0];
    assert.equal(a0.ip, '10.244.0.10');
    assert.equal(a0.hostname, 'web-0');
    assert.equal(a0.nodeName, 'node-1');
    const pod0 = await client.get(PODS, NS, 'web-0');
    assert.deepEqual(a0.targetRef, { kind: 'Pod', namespace: NS, name: 'web-0', uid: pod0.metadata.uid, resourceVersion: (a0.targetRef as Obj).resourceVersion });
    assert.deepEqual(subset.ports, [{ name: 'web', port: 8080, protocol: 'TCP' }]);
    assert.equal(ep.metadata.labels?.['service.kubernetes.io/headless'], '');

    const ss = await waitFor('slices of nginx with 3 ready endpoints', async () => {
      const l = await slicesOf('nginx');
      return sliceReady(l).length === 3 ? l : undefined;
    });
    assert.equal(ss.length, 2, '3 endpoints at 2 a slice');
    for (const s of ss) {
      assert.match(s.metadata.name ?? '', /^nginx-[a-z0-9]{5}$/);
      assert.equal(s.metadata.labels?.[MANAGED_BY_LABEL], MANAGED_BY_CONTROLLER);
      assert.equal(s.metadata.ownerReferences?.[0].kind, 'Service');
      assert.equal(s.addressType, 'IPv4');
    }
    const e0 = ss.flatMap((s) => s.endpoints as Obj[]).find((e) => (e.addresses as string[])[0] === '10.244.0.10');
    assert.deepEqual(e0, { addresses: ['10.244.0.10'], conditions: { ready: true, serving: true, terminating: false }, hostname: 'web-0', nodeName: 'node-1', targetRef: { kind: 'Pod', namespace: NS, name: 'web-0', uid: pod0.metadata.uid } });
  });

  it('follows a Ready flip within milliseconds, with one write each', async () => {
    const w0 = eps.writes;
    const s0 = slices.writes;
    const t0 = Date.now();
    await setReady('web-1', false);
    const [tEp, tSl] = await Promise.all([
      waitFor('web-1 not ready in Endpoints', async () => (notReadyIPs(await endpointsOf('nginx'))[0] === '10.244.0.11' ? Date.now() - t0 : undefined)),
      waitFor('web-1 not ready in slices', async () => (!sliceReady(await slicesOf('nginx')).includes('10.244.0.11') ? Date.now() - t0 : undefined)),
    ]);
    assert.ok(tEp < 1000 && tSl < 1000, `Endpoints after ${tEp} ms, slices after ${tSl} ms`);
    await waitFor('controllers idle', () => eps.idle() && slices.idle());
    assert.equal(eps.writes - w0, 1, 'one Endpoints write');
    assert.equal(slices.writes - s0, 1, 'one slice write');
    await setReady('web-1', true);
    await waitFor('web-1 ready again', async () => readyIPs(await endpointsOf('nginx')).length === 3);
  });

  it('a pod update that changes nothing it publishes writes nothing', async () => {
    await waitFor('controllers idle', () => eps.idle() && slices.idle());
    const w0 = eps.writes + slices.writes;
    await client.patch(PODS, NS, 'web-2', { metadata: { annotations: { touched: 'yes' } } }, 'merge');
    await new Promise((r) => setTimeout(r, 150));
    await waitFor('controllers idle', () => eps.idle() && slices.idle());
    assert.equal(eps.writes + slices.writes, w0);
  });

  it('puts back a deleted Endpoints object and a deleted managed slice', async () => {
    await client.delete(ENDPOINTS, NS, 'nginx');
    await waitFor('Endpoints nginx recreated', async () => readyIPs(await endpointsOf('nginx')).length === 3);
    const [victim] = await slicesOf('nginx');
    await client.delete(ENDPOINT_SLICES, NS, victim.metadata.name ?? '');
    await waitFor('slices of nginx complete again', async () => sliceReady(await slicesOf('nginx')).length === 3);
  });

  it('selector change, selector matching nothing, and service deletion', async () => {
    await client.create(SERVICES, { apiVersion: 'v1', kind: 'Service', metadata: { name: 'api', namespace: NS }, spec: { selector: { app: 'web' }, ports: [{ port: 80, targetPort: 8080 }] } });
    await waitFor('api endpoints', async () => readyIPs(await endpointsOf('api')).length === 3);
    await client.patch(SERVICES, NS, 'api', { spec: { selector: { app: 'nothing' } } }, 'merge');
    const ep = await waitFor('api endpoints empty', async () => {
      const e = await endpointsOf('api');
      return e && readyIPs(e).length === 0 ? e : undefined;
    });
    assert.deepEqual(ep.subsets ?? [], []);
    const placeholder = await waitFor('one empty placeholder slice', async () => {
      const l = await slicesOf('api');
      return l.length === 1 && ((l[0].endpoints as unknown[] | undefined) ?? []).length === 0 ? l[0] : undefined;
    });
    assert.deepEqual(placeholder.ports ?? [], []);
    await client.delete(SERVICES, NS, 'api');
    await waitFor('api Endpoints deleted', async () => (await endpointsOf('api')) === undefined);
    await waitFor('api slices deleted', async () => (await slicesOf('api')).length === 0);
  });

  it('leaves selector-less services and the `kubernetes` service alone', async () => {
    await client.create(SERVICES, { apiVersion: 'v1', kind: 'Service', metadata: { name: 'manual', namespace: NS }, spec: { ports: [{ port: 5432 }] } });
    await client.create(ENDPOINTS, { apiVersion: 'v1', kind: 'Endpoints', metadata: { name: 'manual', namespace: NS }, subsets: [{ addresses: [{ ip: '192.168.7.7' }], ports: [{ port: 5432 }] }] });
    const k8s = await client.get(ENDPOINTS, NS, 'kubernetes');
    await new Promise((r) => setTimeout(r, 200));
    await waitFor('controllers idle', () => eps.idle() && slices.idle());
    assert.deepEqual(readyIPs(await endpointsOf('manual')), ['192.168.7.7']);
    assert.equal((await slicesOf('manual')).length, 0);
    assert.equal((await client.get(ENDPOINTS, NS, 'kubernetes')).metadata.resourceVersion, k8s.metadata.resourceVersion);
    const k8sSlices = await slicesOf('kubernetes');
    assert.equal(k8sSlices.length, 1);
    assert.equal(k8sSlices[0].metadata.name, 'kubernetes', "the API server's own slice");
  });

  it('publishNotReadyAddresses lists not-ready pods among the ready ones', async () => {
    await client.create(SERVICES, { apiVersion: 'v1', kind: 'Service', metadata: { name: 'peers', namespace: NS }, spec: { clusterIP: 'None', publishNotReadyAddresses: true, selector: { app: 'peer' }, ports: [{ port: 7000 }] } });
    await makePod('peer-0', '10.244.1.1', { labels: { app: 'peer' }, ready: false });
    await makePod('peer-1', '10.244.1.2', { labels: { app: 'peer' } });
    const ep = await waitFor('peers endpoints', async () => {
      const e = await endpointsOf('peers');
      return readyIPs(e).length === 2 ? e : undefined;
    });
    assert.deepEqual(notReadyIPs(ep), []);
    const ss = await waitFor('peers slices', async () => {
      const l = await slicesOf('peers');
      return sliceReady(l).length === 2 ? l : undefined;
    });
    const p0 = ss.flatMap((s) => s.endpoints as Obj[]).find((e) => (e.addresses as string[])[0] === '10.244.1.1');
    assert.deepEqual(p0?.conditions, { ready: true, serving: false, terminating: false });
  });
});
