// peer-finder: peers from EndpointSlices, scripts on start and on change through a watch
// against a real API server, the DNS SRV fallback against kennel's DNS server, and the flags.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile, chmod } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestServer, type TestServer } from '../support/apiserver.ts';
import { KubeClient, type ResourceRef } from '../../src/client/rest.ts';
import type { KubeObject } from '../../src/registry/types.ts';
import { parseFlags, peersFromSlices, startPeerFinder, UsageError, type PeerFinder, type ScriptRun } from '../../src/tools/peer-finder.ts';
import { inClusterConfig, loadToolConfig } from '../../src/tools/incluster.ts';
import { startDnsServer } from '../../src/dns/server.ts';
import { DnsState } from '../../src/dns/state.ts';
import { silentLogger } from '../../src/util/log.ts';

const SERVICES: ResourceRef = { group: '', version: 'v1', plural: 'services', namespaced: true, kind: 'Service' };
const SLICES: ResourceRef = { group: 'discovery.k8s.io', version: 'v1', plural: 'endpointslices', namespaced: true, kind: 'EndpointSlice' };

type Ep = { host?: string; ip: string; ready?: boolean };
function slice(name: string, svc: string, eps: Ep[], ns = 'default'): KubeObject {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name, namespace: ns, labels: { 'kubernetes.io/service-name': svc } },
    addressType: 'IPv4',
    endpoints: eps.map((e) => ({ addresses: [e.ip], ...(e.host ? { hostname: e.host } : {}), conditions: { ready: e.ready ?? true } })),
    ports: [{ name: 'web', port: 80, protocol: 'TCP' }],
  } as KubeObject;
}

const silent = (): void => undefined;

describe('peersFromSlices', () => {
  it('names ready endpoints by hostname (dashed IP without one), sorted and unique', () => {
    const s1 = slice('a', 'nginx', [{ host: 'web-1', ip: '10.0.0.2' }, { host: 'web-0', ip: '10.0.0.1' }, { host: 'web-2', ip: '10.0.0.3', ready: false }]);
    const s2 = slice('b', 'nginx', [{ ip: '10.0.0.9' }, { host: 'web-0', ip: '10.0.0.1' }]);
    assert.deepEqual(peersFromSlices([s1, s2], 'nginx', 'default', 'cluster.local'), ['10-0-0-9.nginx.default.svc.cluster.local', 'web-0.nginx.default.svc.cluster.local', 'web-1.nginx.default.svc.cluster.local']);
    assert.deepEqual(peersFromSlices([s1], 'nginx', 'default', 'cluster.local', true), [
      'web-0.nginx.default.svc.cluster.local',
      'web-1.nginx.default.svc.cluster.local',
      'web-2.nginx.default.svc.cluster.local',
    ]);
    assert.deepEqual(peersFromSlices([], 'nginx', 'default', 'cluster.local'), []);
  });
});

describe('flags and config', () => {
  it('parses Go-style and GNU-style flags', () => {
    const spec = { 'on-start': 'string', service: 'string', ns: 'string', once: 'boolean' } as const;
    assert.deepEqual(parseFlags(['-on-start=/s.sh', '--service', 'nginx', '-ns=x', '-once', 'pos'], spec), { flags: { 'on-start': '/s.sh', service: 'nginx', ns: 'x', once: true }, positional: ['pos'] });
    assert.throws(() => parseFlags(['-nope=1'], spec), UsageError);
    assert.throws(() => parseFlags(['-service'], spec), UsageError);
  });
  it('reads the in-cluster config from the service-account files and env', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kennel-sa-'));
    try {
      await writeFile(join(dir, 'token'), 'tok\n');
      await writeFile(join(dir, 'ca.crt'), 'PEM');
      await writeFile(join(dir, 'namespace'), 'team-a');
      const env = { KUBERNETES_SERVICE_HOST: '10.43.0.1', KUBERNETES_SERVICE_PORT: '443' };
      assert.deepEqual(inClusterConfig({ env, serviceAccountDir: dir }), { server: 'https://10.43.0.1:443', token: 'tok', ca: 'PEM', namespace: 'team-a' });
      assert.equal(inClusterConfig({ env: {}, serviceAccountDir: dir }), undefined);
      const c = loadToolConfig({ env: { ...env, POD_NAMESPACE: 'pns' }, serviceAccountDir: dir });
      assert.equal(c.source, 'in-cluster');
      assert.equal(c.namespace, 'pns');
      assert.equal(loadToolConfig({ env, serviceAccountDir: dir }).namespace, 'team-a');
      assert.equal(loadToolConfig({ env: {}, serviceAccountDir: join(dir, 'none') }).client, undefined);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

/** A script that appends its stdin, framed, to out. */
async function recorder(dir: string, name: string): Promise<{ script: string; out: string }> {
  const out = join(dir, `${name}.out`);
  const script = join(dir, `${name}.sh`);
  await writeFile(script, `#!/bin/sh\n{ echo "--- ${name}"; cat; } >> "${out}"\n`);
  await chmod(script, 0o755);
  return { script, out };
}

function nextRun(f: PeerFinder, pred: (r: ScriptRun) => boolean = () => true, timeoutMs = 5000): Promise<ScriptRun> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('no script run')), timeoutMs);
    const prev = f.onRun;
    f.onRun = (r) => {
      prev?.(r);
      if (!pred(r)) return;
      clearTimeout(t);
      f.onRun = prev;
      resolve(r);
    };
  });
}

describe('peer-finder watch mode', () => {
  let srv: TestServer;
  let client: KubeClient;
  let dir: string;
  before(async () => {
    srv = await startTestServer();
    client = KubeClient.fromKubeconfig(srv.kubeconfig);
    dir = await mkdtemp(join(tmpdir(), 'kennel-pf-'));
    await client.create(SERVICES, { apiVersion: 'v1', kind: 'Service', metadata: { name: 'nginx', namespace: 'default' }, spec: { clusterIP: 'None', selector: { app: 'web' }, ports: [{ name: 'web', port: 80 }] } } as KubeObject);
    await client.create(SLICES, slice('nginx-a', 'nginx', [{ host: 'web-1', ip: '10.0.0.2' }, { host: 'web-0', ip: '10.0.0.1' }]));
  });
  after(async () => {
    client.close();
    await srv.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('runs on-start with the sorted FQDNs, then on-change within 100 ms of each change', async () => {
    const start = await recorder(dir, 'start');
    const change = await recorder(dir, 'change');
    const f = await startPeerFinder({ service: 'nginx', namespace: 'default', domain: 'cluster.local', onStart: start.script, onChange: change.script, client: client.config, log: silent });
    try {
      assert.equal(f.mode, 'watch');
      const first = f.runs[0] ?? (await nextRun(f));
      assert.equal(first.script, start.script);
      assert.equal(first.code, 0);
      assert.equal(await readFile(start.out, 'utf8'), '--- start\nweb-0.nginx.default.svc.cluster.local\nweb-1.nginx.default.svc.cluster.local\n');

      // Scale up: a new ready endpoint.
      const s = await client.get<KubeObject & { endpoints: unknown[] }>(SLICES, 'default', 'nginx-a');
      s.endpoints.push({ addresses: ['10.0.0.3'], hostname: 'web-2', conditions: { ready: true } });
      let wait = nextRun(f);
      let t0 = performance.now();
      const s2 = (await client.update<KubeObject>(SLICES, s)) as KubeObject & { endpoints: { conditions: { ready: boolean } }[] };
      let ack = performance.now();
      let r = await wait;
      assert.equal(r.script, change.script);
      assert.deepEqual(r.peers, ['web-0.nginx.default.svc.cluster.local', 'web-1.nginx.default.svc.cluster.local', 'web-2.nginx.default.svc.cluster.local']);
      assert.ok(r.spawnedAt - ack < 100, `on-change spawned ${(r.spawnedAt - ack).toFixed(1)} ms after the write ack (${(r.spawnedAt - t0).toFixed(1)} ms after the write)`);

      // web-0 goes not ready: gone from the list.
      s2.endpoints[1]!.conditions.ready = false;
      wait = nextRun(f);
      t0 = performance.now();
      await client.update(SLICES, s2);
      ack = performance.now();
      r = await wait;
      assert.deepEqual(r.peers, ['web-1.nginx.default.svc.cluster.local', 'web-2.nginx.default.svc.cluster.local']);
      assert.ok(r.spawnedAt - ack < 100, `on-change spawned ${(r.spawnedAt - ack).toFixed(1)} ms after the ack`);

      // The slice is deleted: no peers.
      wait = nextRun(f);
      await client.delete(SLICES, 'default', 'nginx-a');
      r = await wait;
      assert.deepEqual(r.peers, []);
      const text = await readFile(change.out, 'utf8');
      assert.equal(text.split('--- change').length - 1, 3);
      assert.ok(f.runs.every((x) => x.code === 0));
    } finally {
      await f.stop();
    }
  });

  it('does not overlap scripts: changes during a run queue the latest set', async () => {
    const slow = join(dir, 'slow.sh');
    const log = join(dir, 'slow.log');
    await writeFile(slow, `#!/bin/sh\necho "begin $(cat | tr '\\n' ' ')" >> "${log}"\nsleep 0.3\necho end >> "${log}"\n`);
    await chmod(slow, 0o755);
    await client.create(SLICES, slice('q-a', 'q', [{ host: 'a', ip: '10.0.1.1' }]));
    const f = await startPeerFinder({ service: 'q', namespace: 'default', domain: 'cluster.local', onChange: slow, client: client.config, log: silent });
    try {
      await new Promise((r) => setTimeout(r, 50)); // the first run is going
      for (const host of ['b', 'c', 'd']) {
        const s = await client.get<KubeObject & { endpoints: unknown[] }>(SLICES, 'default', 'q-a');
        s.endpoints.push({ addresses: [`10.0.1.${host.charCodeAt(0)}`], hostname: host, conditions: { ready: true } });
        await client.update(SLICES, s);
      }
      await nextRun(f, (r) => r.peers.length === 4);
      const lines = (await readFile(log, 'utf8')).trim().split('\n');
      // begin/end strictly alternate, and the intermediate sets (2 and 3 peers) were skipped.
      assert.deepEqual(lines.map((l) => l.split(' ')[0]), ['begin', 'end', 'begin', 'end']);
      assert.equal(f.runs.length, 2);
    } finally {
      await f.stop();
    }
  });
});

describe('peer-finder DNS fallback', () => {
  it('polls SRV records of the service from the DNS server when the API is unreachable', async () => {
    const state = new DnsState();
    state.setNamespace('default');
    state.setService({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'nginx', namespace: 'default' }, spec: { clusterIP: 'None', ports: [{ name: 'web', port: 80, protocol: 'TCP' }] } } as KubeObject);
    state.setEndpointSlice(slice('nginx-a', 'nginx', [{ host: 'web-1', ip: '10.0.0.2' }, { host: 'web-0', ip: '10.0.0.1' }]));
    const dns = await startDnsServer({ state, listen: [{ host: '127.0.0.1', port: 0 }], upstream: [], logger: silentLogger });
    const dir = await mkdtemp(join(tmpdir(), 'kennel-pfd-'));
    let f: PeerFinder | undefined;
    try {
      const start = await recorder(dir, 'start');
      const { port } = dns.addresses[0]!;
      // An API address nothing listens on.
      f = await startPeerFinder({
        service: 'nginx',
        namespace: 'default',
        domain: 'cluster.local',
        onStart: start.script,
        onChange: start.script,
        client: { server: 'https://127.0.0.1:1', token: 'x' },
        apiTimeoutMs: 500,
        dnsServers: [`127.0.0.1:${port}`],
        pollMs: 50,
        log: silent,
      });
      assert.equal(f.mode, 'dns');
      const r = f.runs[0] ?? (await nextRun(f));
      assert.deepEqual(r.peers, ['web-0.nginx.default.svc.cluster.local', 'web-1.nginx.default.svc.cluster.local']);
      state.setEndpointSlice(slice('nginx-a', 'nginx', [{ host: 'web-1', ip: '10.0.0.2' }]));
      const r2 = await nextRun(f);
      assert.deepEqual(r2.peers, ['web-1.nginx.default.svc.cluster.local']);
    } finally {
      await f?.stop();
      await dns.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
