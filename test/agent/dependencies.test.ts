// Start-up dependencies: parsing and evaluation of kennel.dev/depends-on, and the agent holding
// a pod's containers (simulated runtime) until the services it names have ready endpoints.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestServer, type TestServer } from '../support/apiserver.ts';
import { KubeClient, type ResourceRef } from '../../src/client/rest.ts';
import { silentLogger } from '../../src/util/log.ts';
import { startAgent, type Agent } from '../../src/agent/agent.ts';
import { SimulatedRuntime } from '../../src/agent/runtime/simulated.ts';
import { PODS } from '../../src/agent/podworker.ts';
import { MemoryEventRecorder } from '../../src/agent/events.ts';
import type { Pod } from '../../src/agent/kube-types.ts';
import type { KubeObject } from '../../src/registry/types.ts';
import { DEPENDENCIES_CONDITION, DependencySyntaxError, evaluateDependencies, parseDependsOn, type ServiceEndpointsView } from '../../src/agent/dependencies.ts';

const SERVICES: ResourceRef = { group: '', version: 'v1', plural: 'services', namespaced: true, kind: 'Service' };
const NAMESPACES: ResourceRef = { group: '', version: 'v1', plural: 'namespaces', namespaced: false, kind: 'Namespace' };
const SLICES: ResourceRef = { group: 'discovery.k8s.io', version: 'v1', plural: 'endpointslices', namespaced: true, kind: 'EndpointSlice' };

function slice(ns: string, svc: string, eps: { ip: string; ready: boolean | undefined }[]): KubeObject {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name: `${svc}-abc`, namespace: ns, labels: { 'kubernetes.io/service-name': svc } },
    addressType: 'IPv4',
    endpoints: eps.map((e) => ({ addresses: [e.ip], ...(e.ready === undefined ? {} : { conditions: { ready: e.ready } }) })),
    ports: [{ name: 'http', port: 80, protocol: 'TCP' }],
  } as KubeObject;
}

describe('parseDependsOn', () => {
  const table: [string, string, { namespace: string; service: string; minReady: number }[]][] = [
    ['grafana', 'web', [{ namespace: 'web', service: 'grafana', minReady: 1 }]],
    [
      'grafana, monitoring/prometheus, db:2',
      'web',
      [
        { namespace: 'web', service: 'grafana', minReady: 1 },
        { namespace: 'monitoring', service: 'prometheus', minReady: 1 },
        { namespace: 'web', service: 'db', minReady: 2 },
      ],
    ],
    ['  a ,, b  ', 'd', [{ namespace: 'd', service: 'a', minReady: 1 }, { namespace: 'd', service: 'b', minReady: 1 }]],
    ['a:1,a:3,x/a:0', 'd', [{ namespace: 'd', service: 'a', minReady: 3 }, { namespace: 'x', service: 'a', minReady: 0 }]],
    ['', 'd', []],
  ];
  for (const [input, ns, want] of table) {
    it(`parses ${JSON.stringify(input)}`, () => assert.deepEqual(parseDependsOn(input, ns), want));
  }
  for (const bad of ['a:x', 'a:-1', 'Grafana', 'a/b/c', 'ns/', 'a:', 'bad_name']) {
    it(`rejects ${JSON.stringify(bad)}`, () => assert.throws(() => parseDependsOn(bad, 'd'), DependencySyntaxError));
  }
});

describe('evaluateDependencies', () => {
  const views: Record<string, ServiceEndpointsView> = {
    'web/grafana': { exists: true, slices: [slice('web', 'grafana', [{ ip: '10.0.0.1', ready: false }])] },
    'web/db': { exists: true, slices: [slice('web', 'db', [{ ip: '10.0.0.2', ready: true }, { ip: '10.0.0.3', ready: undefined }])] },
    'monitoring/prometheus': { exists: true, endpoints: { apiVersion: 'v1', kind: 'Endpoints', metadata: { name: 'prometheus' }, subsets: [{ addresses: [{ ip: '10.0.1.1' }], notReadyAddresses: [{ ip: '10.0.1.2' }] }] } as KubeObject },
    'web/empty': { exists: true },
  };
  const lookup = (ns: string, name: string): ServiceEndpointsView => views[`${ns}/${name}`] ?? { exists: false };
  it('counts ready endpoints (ready unset is ready) and names what is missing', () => {
    const e = evaluateDependencies(parseDependsOn('grafana, monitoring/prometheus, db:2, empty, monitoring/nope', 'web'), 'web', lookup);
    assert.equal(e.met, false);
    assert.deepEqual(
      e.states.map((s) => [s.service, s.ready, s.found, s.met]),
      [
        ['grafana', 0, true, false],
        ['prometheus', 1, true, true],
        ['db', 2, true, true],
        ['empty', 0, true, false],
        ['nope', 0, false, false],
      ],
    );
    assert.equal(e.message, 'Waiting for services: grafana (0/1 ready), empty (0/1 ready), monitoring/nope (not found)');
  });
  it('is met when every service has enough', () => {
    const e = evaluateDependencies(parseDependsOn('db:2, monitoring/prometheus', 'web'), 'web', lookup);
    assert.equal(e.met, true);
    assert.equal(e.message, '');
    assert.equal(evaluateDependencies(parseDependsOn('db:3', 'web'), 'web', lookup).message, 'Waiting for services: db (2/3 ready)');
  });
});

async function waitUntil<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 10_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('agent: kennel.dev/depends-on holds containers', () => {
  let srv: TestServer;
  let client: KubeClient;
  let dataDir: string;
  let runtime: SimulatedRuntime;
  let agent: Agent | undefined;
  const events = new MemoryEventRecorder();

  before(async () => {
    srv = await startTestServer();
    client = KubeClient.fromKubeconfig(srv.kubeconfig);
    dataDir = await mkdtemp(join(tmpdir(), 'kennel-deps-'));
    runtime = new SimulatedRuntime({ podCIDR: '10.244.7.0/24' });
    await client.create(NAMESPACES, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'monitoring' } });
    await client.create(SERVICES, { apiVersion: 'v1', kind: 'Service', metadata: { name: 'back', namespace: 'default' }, spec: { selector: { app: 'back' }, ports: [{ port: 80 }] } } as KubeObject);
    agent = await startAgent({ client, nodeName: 'node-d', runtime, dataDir, logger: silentLogger, podCIDR: '10.244.7.0/24', nodeIP: '127.0.0.1', events, relistMs: 100, leaseRenewMs: 500, statusUpdateMs: 500 });
  });

  after(async () => {
    await agent?.stop();
    client.close();
    await srv.stop();
    await rm(dataDir, { recursive: true, force: true });
  });

  const startedContainers = async (podName: string): Promise<number> => {
    const sbs = (await runtime.listPodSandboxes()).filter((s) => s.name === podName);
    let n = 0;
    for (const sb of sbs) n += (await runtime.listContainers({ sandboxId: sb.id })).length;
    return n;
  };

  it('waits with a condition and an event naming the services, then starts when they are ready', async () => {
    await client.create(PODS, {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'front', namespace: 'default', annotations: { 'kennel.dev/depends-on': 'back, monitoring/prom' } },
      spec: { nodeName: 'node-d', containers: [{ name: 'c', image: 'busybox:1.36' }] },
    } as KubeObject);
    const want = 'Waiting for services: back (0/1 ready), monitoring/prom (not found)';
    const held = await waitUntil('the dependency condition', async () => {
      const p = await client.get<Pod>(PODS, 'default', 'front');
      const c = p.status?.conditions?.find((x) => x.type === DEPENDENCIES_CONDITION);
      return c?.message === want ? p : undefined;
    });
    const c = held.status!.conditions!.find((x) => x.type === DEPENDENCIES_CONDITION)!;
    assert.equal(c.status, 'False');
    assert.equal(c.reason, 'WaitingForDependencies');
    assert.notEqual(held.status?.phase, 'Running');
    assert.ok(!(held.status?.containerStatuses ?? []).some((s) => s.state?.running), 'no container runs');
    const ev = events.events.filter((e) => e.reason === 'WaitingForDependencies');
    assert.equal(ev.length, 1);
    assert.equal(ev[0]!.type, 'Normal');
    assert.equal(ev[0]!.message, want);
    await agent!.quiesce();
    assert.equal(await startedContainers('front'), 0);

    // back gets a ready endpoint; prom appears with a not-ready one: still waiting, on prom only.
    await client.create(SLICES, slice('default', 'back', [{ ip: '10.1.0.1', ready: true }]));
    await client.create(SERVICES, { apiVersion: 'v1', kind: 'Service', metadata: { name: 'prom', namespace: 'monitoring' }, spec: { selector: { app: 'prom' }, ports: [{ port: 9090 }] } } as KubeObject);
    await client.create(SLICES, slice('monitoring', 'prom', [{ ip: '10.1.0.2', ready: false }]));
    await waitUntil('waiting for prom only', async () => {
      const p = await client.get<Pod>(PODS, 'default', 'front');
      return p.status?.conditions?.find((x) => x.type === DEPENDENCIES_CONDITION)?.message === 'Waiting for services: monitoring/prom (0/1 ready)';
    });
    assert.equal(await startedContainers('front'), 0);

    // prom's endpoint turns ready: the containers start.
    const s = await client.get<KubeObject & { endpoints: { conditions: { ready: boolean } }[] }>(SLICES, 'monitoring', 'prom-abc');
    s.endpoints[0]!.conditions.ready = true;
    const flipped = Date.now();
    await client.update(SLICES, s);
    const running = await waitUntil('front running', async () => {
      const p = await client.get<Pod>(PODS, 'default', 'front');
      return p.status?.phase === 'Running' ? p : undefined;
    });
    assert.ok(Date.now() - flipped < 3000);
    const done = running.status!.conditions!.find((x) => x.type === DEPENDENCIES_CONDITION)!;
    assert.equal(done.status, 'True');
    assert.equal(await startedContainers('front'), 1);
  });

  it('a pod without the annotation is not held', async () => {
    await client.create(PODS, { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'free', namespace: 'default' }, spec: { nodeName: 'node-d', containers: [{ name: 'c', image: 'busybox:1.36' }] } } as KubeObject);
    const p = await waitUntil('free running', async () => {
      const x = await client.get<Pod>(PODS, 'default', 'free');
      return x.status?.phase === 'Running' ? x : undefined;
    });
    assert.equal(p.status?.conditions?.find((x) => x.type === DEPENDENCIES_CONDITION), undefined);
  });
});
