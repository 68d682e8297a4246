// Cluster DNS end to end in one process: an API server, the Endpoints and EndpointSlice
// controllers and the DNS server on 127.0.0.1, asked with the real dig. The test plays the
// kubelet (pod IPs and readiness through the status subresource).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import dnsPacket from 'dns-packet';
import { startTestServer, type TestServer } from '../support/apiserver.ts';
import { KubeClient } from '../../src/client/rest.ts';
import { silentLogger } from '../../src/util/log.ts';
import { startEndpointsController } from '../../src/controllers/endpoints/endpoints-controller.ts';
import { startEndpointSliceController } from '../../src/controllers/endpoints/endpointslice-controller.ts';
import { ENDPOINTS, PODS, SERVICES, type ServiceController } from '../../src/controllers/endpoints/loop.ts';
import { startDnsServer, type DnsServer } from '../../src/dns/server.ts';
import { dig, requireDig } from './dig.ts';
import { waitUntil } from '../support/wait.ts';
import { setPodReady } from '../support/cluster.ts';

type Obj = Record<string, unknown>;
const NS = 'default';
const HOST = '127.0.0.1';

const waitFor = <T>(what: string, fn: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 10_000, everyMs = 10): Promise<T> =>
  waitUntil(what, fn, { timeoutMs, everyMs });

describe('cluster DNS with the endpoints controllers and an API server', () => {
  let ts: TestServer;
  let client: KubeClient;
  let ctls: ServiceController[] = [];
  let dns: DnsServer;
  let port: number;
  let sock: dgram.Socket;
  const ask = (...args: string[]) => dig(HOST, port, args);

  /** A fast in-process A query (for latency measurements): the IPs answered. */
  let nextId = 1;
  const quickA = (name: string): Promise<string[]> =>
    new Promise((resolve, reject) => {
      const id = nextId++ & 0xffff;
      const t = setTimeout(() => {
        sock.off('message', on);
        reject(new Error(`no answer for ${name}`));
      }, 1000);
      const on = (m: Buffer): void => {
        const r = dnsPacket.decode(m);
        if (r.id !== id) return;
        clearTimeout(t);
        sock.off('message', on);
        resolve((r.answers ?? []).flatMap((a) => (a.type === 'A' ? [a.data] : [])));
      };
      sock.on('message', on);
      sock.send(dnsPacket.encode({ type: 'query', id, flags: dnsPacket.RECURSION_DESIRED, questions: [{ name, type: 'A' }] }), port, HOST);
    });

  const makePod = async (name: string, ip: string, o: { labels?: Record<string, string>; ready?: boolean; hostname?: string; subdomain?: string } = {}): Promise<void> => {
    const spec: Obj = { containers: [{ name: 'c', image: 'nginx:1.25', ports: [{ name: 'web', containerPort: 80 }] }], nodeName: 'node-1' };
    if (o.hostname) spec.hostname = o.hostname;
    if (o.subdomain) spec.subdomain = o.subdomain;
    await client.create(PODS, { apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: NS, labels: o.labels ?? { app: 'nginx' } }, spec });
    await setReady(name, o.ready ?? true, ip);
  };
  const setReady = (name: string, ready: boolean, ip?: string): Promise<void> => setPodReady(client, NS, name, ready, ip);

  before(async () => {
    requireDig();
    ts = await startTestServer();
    client = KubeClient.fromKubeconfig(ts.kubeconfig);
    ctls = [
      await startEndpointsController({ client, logger: silentLogger, syncTimeoutMs: 5000 }),
      await startEndpointSliceController({ client, logger: silentLogger, syncTimeoutMs: 5000 }),
    ];
    dns = await startDnsServer({ client, listen: [{ host: HOST, port: 0 }], upstream: [], logger: silentLogger });
    port = dns.addresses[0].port;
    sock = dgram.createSocket('udp4');
    await new Promise<void>((r) => sock.bind(0, HOST, () => r()));
    await client.create(SERVICES, { apiVersion: 'v1', kind: 'Service', metadata: { name: 'nginx', namespace: NS }, spec: { clusterIP: 'None', selector: { app: 'nginx' }, ports: [{ name: 'web', port: 80, targetPort: 'web' }] } });
    for (let i = 0; i < 3; i++) await makePod(`web-${i}`, `10.244.0.${10 + i}`, { hostname: `web-${i}`, subdomain: 'nginx' });
  });

  after(async () => {
    sock?.close();
    await dns?.stop();
    for (const c of ctls) await c.stop();
    client?.close();
    await ts?.stop();
  });

  it('web-0.nginx.default.svc.cluster.local resolves to the pod (UDP and TCP)', async () => {
    await waitFor('DNS for web-0', async () => (await quickA('web-0.nginx.default.svc.cluster.local')).length === 1);
    for (const t of ['+notcp', '+tcp']) {
      const r = await ask('web-0.nginx.default.svc.cluster.local', t);
      assert.equal(r.status, 'NOERROR');
      assert.ok(r.flags.includes('aa'));
      assert.deepEqual(r.answer, ['web-0.nginx.default.svc.cluster.local. 5 IN A 10.244.0.10'], t);
    }
    const all = await waitFor('all three pods', async () => {
      const r = await ask('nginx.default.svc.cluster.local');
      return r.answer.length === 3 ? r : undefined;
    });
    assert.deepEqual(all.answer.sort(), [10, 11, 12].map((n) => `nginx.default.svc.cluster.local. 5 IN A 10.244.0.${n}`));
  });

  it('SRV on the bare service name and on the named port, with A records in additional', async () => {
    for (const name of ['nginx.default.svc.cluster.local', '_web._tcp.nginx.default.svc.cluster.local']) {
      const r = await ask('SRV', name);
      assert.deepEqual(r.answer.sort(), [0, 1, 2].map((i) => `${name}. 5 IN SRV 0 33 80 web-${i}.nginx.default.svc.cluster.local.`));
      assert.deepEqual(r.additional.sort(), [0, 1, 2].map((i) => `web-${i}.nginx.default.svc.cluster.local. 5 IN A 10.244.0.${10 + i}`));
    }
  });

  it('a pod that stops being Ready leaves A and SRV within 100 ms', async (t) => {
    const t0 = performance.now();
    await setReady('web-1', false);
    const patched = performance.now() - t0;
    await waitFor(
      'web-1 gone from DNS',
      async () => !(await quickA('nginx.default.svc.cluster.local')).includes('10.244.0.11'),
      2000,
      1,
    );
    const gone = performance.now() - t0;
    t.diagnostic(`Ready=False → out of DNS: ${gone.toFixed(1)} ms after the status write started (the write itself took ${patched.toFixed(1)} ms)`);
    assert.ok(gone - patched < 100, `out of DNS ${(gone - patched).toFixed(1)} ms after the status write returned`);
    const a = await ask('nginx.default.svc.cluster.local');
    assert.deepEqual(a.answer.sort(), [10, 12].map((n) => `nginx.default.svc.cluster.local. 5 IN A 10.244.0.${n}`));
    const srv = await ask('SRV', 'nginx.default.svc.cluster.local');
    assert.deepEqual(srv.answer.sort(), [0, 2].map((i) => `nginx.default.svc.cluster.local. 5 IN SRV 0 50 80 web-${i}.nginx.default.svc.cluster.local.`));
    const one = await ask('web-1.nginx.default.svc.cluster.local');
    assert.equal(one.status, 'NXDOMAIN', 'a not-ready endpoint has no name');
    const t1 = performance.now();
    await setReady('web-1', true);
    await waitFor('web-1 back', async () => (await quickA('nginx.default.svc.cluster.local')).includes('10.244.0.11'), 2000, 1);
    t.diagnostic(`Ready=True → in DNS: ${(performance.now() - t1).toFixed(1)} ms`);
  });

  it('PTR for endpoints with hostnames and for cluster IPs', async () => {
    const r = await ask('-x', '10.244.0.11');
    assert.deepEqual(r.answer, ['11.0.244.10.in-addr.arpa. 5 IN PTR web-1.nginx.default.svc.cluster.local.']);
    const k = await ask('-x', '10.43.0.1');
    assert.deepEqual(k.answer, ['1.0.43.10.in-addr.arpa. 5 IN PTR kubernetes.default.svc.cluster.local.']);
    const kA = await ask('kubernetes.default.svc.cluster.local');
    assert.deepEqual(kA.answer, ['kubernetes.default.svc.cluster.local. 5 IN A 10.43.0.1']);
  });

  it('NXDOMAIN and NODATA as CoreDNS answers them', async () => {
    await client.create(SERVICES, { apiVersion: 'v1', kind: 'Service', metadata: { name: 'nobody', namespace: NS }, spec: { clusterIP: 'None', selector: { app: 'nobody' }, ports: [{ port: 80 }] } });
    await client.create(SERVICES, { apiVersion: 'v1', kind: 'Service', metadata: { name: 'lonely', namespace: NS }, spec: { selector: { app: 'nobody' }, ports: [{ name: 'http', port: 80 }] } });
    await waitFor('the services in DNS', () => dns.state.service(NS, 'nobody') && dns.state.service(NS, 'lonely'));
    const expect = async (args: string[], status: string, answers: number): Promise<void> => {
      const r = await ask(...args);
      assert.equal(r.status, status, args.join(' '));
      assert.equal(r.answer.length, answers, args.join(' '));
      if (answers === 0) assert.match(r.authority[0] ?? '', / IN SOA ns\.dns\.cluster\.local\. /, `${args.join(' ')}: SOA in authority`);
    };
    await expect(['nobody.default.svc.cluster.local'], 'NXDOMAIN', 0); // headless, selector matches nothing
    await expect(['SRV', 'nobody.default.svc.cluster.local'], 'NXDOMAIN', 0);
    await expect(['lonely.default.svc.cluster.local'], 'NOERROR', 1); // ClusterIP: its IP even without endpoints
    await expect(['AAAA', 'lonely.default.svc.cluster.local'], 'NOERROR', 0);
    await expect(['AAAA', 'web-0.nginx.default.svc.cluster.local'], 'NOERROR', 0);
    await expect(['TXT', 'nginx.default.svc.cluster.local'], 'NOERROR', 0);
    await expect(['default.svc.cluster.local'], 'NOERROR', 0);
    await expect(['missing.default.svc.cluster.local'], 'NXDOMAIN', 0);
    await expect(['nginx.missing-ns.svc.cluster.local'], 'NXDOMAIN', 0);
    await expect(['SRV', '_nope._tcp.nginx.default.svc.cluster.local'], 'NXDOMAIN', 0);
    await expect(['10-244-0-77.default.pod.cluster.local'], 'NOERROR', 1);
  });

  it('many endpoints: truncated over UDP, whole over TCP', async () => {
    // A selector-less service with hand-written Endpoints (the DNS server reads Endpoints for
    // services without slices).
    await client.create(SERVICES, { apiVersion: 'v1', kind: 'Service', metadata: { name: 'farm', namespace: NS }, spec: { clusterIP: 'None', ports: [{ port: 80 }] } });
    const addresses = Array.from({ length: 60 }, (_, i) => ({ ip: `10.245.0.${i + 1}` }));
    await client.create(ENDPOINTS, { apiVersion: 'v1', kind: 'Endpoints', metadata: { name: 'farm', namespace: NS }, subsets: [{ addresses, ports: [{ port: 80 }] }] });
    await waitFor('farm in DNS', () => dns.state.endpoints(NS, 'farm').length === 60);
    const udp = await ask('farm.default.svc.cluster.local', '+ignore', '+noedns');
    assert.ok(udp.flags.includes('tc'), `TC: ${udp.flags.join(' ')}`);
    assert.ok(udp.answer.length < 60);
    const tcp = await ask('farm.default.svc.cluster.local', '+tcp');
    assert.equal(tcp.answer.length, 60);
    const retried = await ask('farm.default.svc.cluster.local', '+noedns');
    assert.equal(retried.answer.length, 60, 'dig retries over TCP on TC');
  });

  it('a malformed packet is answered FORMERR or ignored, and the server keeps serving', async () => {
    const send = (bytes: Buffer): Promise<Buffer | undefined> =>
      new Promise((resolve) => {
        const t = setTimeout(() => {
          sock.off('message', on);
          resolve(undefined);
        }, 300);
        const on = (m: Buffer): void => {
          if (m.readUInt16BE(0) !== bytes.readUInt16BE(0)) return;
          clearTimeout(t);
          sock.off('message', on);
          resolve(m);
        };
        sock.on('message', on);
        sock.send(bytes, port, HOST);
      });
    const junk = await send(Buffer.from('this is not a DNS message at all, not even close'));
    if (junk) assert.ok([1, 4].includes(junk[3] & 0x0f), 'an error rcode (FORMERR or NOTIMP), never an answer');
    const cut = await send(Buffer.from([0x77, 0x77, 0x01, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0, 5, 0x61, 0x62]));
    assert.ok(cut, 'a reply to a query cut short');
    assert.equal(cut[3] & 0x0f, 1, 'FORMERR');
    const r = await ask('web-2.nginx.default.svc.cluster.local');
    assert.deepEqual(r.answer, ['web-2.nginx.default.svc.cluster.local. 5 IN A 10.244.0.12']);
  });
});
