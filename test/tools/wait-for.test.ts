// wait-for: argument checking (exit 2), success once the service has N ready endpoints, and a
// clear timeout (exit 1).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type TestServer } from '../support/apiserver.ts';
import { KubeClient, type ResourceRef } from '../../src/client/rest.ts';
import type { KubeObject } from '../../src/registry/types.ts';
import { parseDuration, waitForMain } from '../../src/tools/wait-for.ts';

const SLICES: ResourceRef = { group: 'discovery.k8s.io', version: 'v1', plural: 'endpointslices', namespaced: true, kind: 'EndpointSlice' };
const NAMESPACES: ResourceRef = { group: '', version: 'v1', plural: 'namespaces', namespaced: false, kind: 'Namespace' };

function slice(ns: string, svc: string, ready: boolean[]): KubeObject {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name: `${svc}-x`, namespace: ns, labels: { 'kubernetes.io/service-name': svc } },
    addressType: 'IPv4',
    endpoints: ready.map((r, i) => ({ addresses: [`10.2.0.${i + 1}`], conditions: { ready: r } })),
    ports: [{ port: 3000, protocol: 'TCP' }],
  } as KubeObject;
}

describe('wait-for', () => {
  let srv: TestServer;
  let client: KubeClient;
  before(async () => {
    srv = await startTestServer();
    client = KubeClient.fromKubeconfig(srv.kubeconfig);
    await client.create(NAMESPACES, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'monitoring' } });
  });
  after(async () => {
    client.close();
    await srv.stop();
  });

  const run = async (args: string[]): Promise<{ code: number; out: string[]; err: string[] }> => {
    const out: string[] = [];
    const err: string[] = [];
    const code = await waitForMain(args, { env: {}, out: (l) => out.push(l), err: (l) => err.push(l) });
    return { code, out, err };
  };

  it('parses durations', () => {
    assert.equal(parseDuration('5m'), 300_000);
    assert.equal(parseDuration('1h30m'), 5_400_000);
    assert.equal(parseDuration('250ms'), 250);
    assert.equal(parseDuration('2'), 2000);
    assert.ok(Number.isNaN(parseDuration('5x')));
    assert.ok(Number.isNaN(parseDuration('')));
  });

  for (const bad of [[], ['pod', 'x'], ['service'], ['service', 'a', 'b'], ['service', 'a', '--ready', 'x'], ['service', 'a', '--timeout', 'soon'], ['service', 'a', '--bogus']]) {
    it(`exits 2 on ${JSON.stringify(bad)}`, async () => {
      const r = await run(bad);
      assert.equal(r.code, 2);
      assert.match(r.err.join('\n'), /usage: wait-for service/);
    });
  }

  it('exits 0 once the service has N ready endpoints (through the watch)', async () => {
    await client.create(SLICES, slice('monitoring', 'grafana', [true, false]));
    const p = run(['service', 'grafana', '-n', 'monitoring', '--ready', '2', '--timeout', '5s', '--kubeconfig', srv.kubeconfig]);
    await new Promise((r) => setTimeout(r, 100));
    const s = await client.get<KubeObject & { endpoints: { conditions: { ready: boolean } }[] }>(SLICES, 'monitoring', 'grafana-x');
    s.endpoints[1]!.conditions.ready = true;
    await client.update(SLICES, s);
    const r = await p;
    assert.equal(r.code, 0, r.err.join('\n'));
    assert.deepEqual(r.out, ['service monitoring/grafana: 1/2 ready', 'service monitoring/grafana: 2/2 ready']);
  });

  it('exits 1 with a clear message on timeout', async () => {
    const r = await run(['service', 'absent', '-n', 'monitoring', '--timeout', '300ms', '--kubeconfig', srv.kubeconfig]);
    assert.equal(r.code, 1);
    assert.equal(r.err.join('\n'), 'wait-for: timed out after 300ms: service monitoring/absent has 0/1 ready endpoints');
  });

  it('exits 1 when there is no API access at all', async () => {
    const r = await run(['service', 'a']);
    assert.equal(r.code, 1);
    assert.match(r.err[0]!, /no API access/);
  });
});
