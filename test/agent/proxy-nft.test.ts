// Integration: two network namespaces on a test bridge, the service proxy's nftables rules in
// the host, and real TCP connections to ClusterIPs. Root only; skipped otherwise.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { EventHandler } from '../../src/client/informer.ts';
import { startServiceProxy, type ObjectSource, type ServiceProxy } from '../../src/agent/proxy/service-proxy.ts';
import type { KubeObject } from '../../src/registry/types.ts';
import { silentLogger } from '../../src/util/log.ts';

const execFileAsync = promisify(execFile);
const BR = 'kpxt0';
const NS_A = 'kpxt-a';
const NS_B = 'kpxt-b';
const SUBNET = '10.250.77';
const GW = `${SUBNET}.1`;
const IP_A = `${SUBNET}.2`;
const IP_B = `${SUBNET}.3`;
const TABLE = `kpxt-${process.pid}`;

const canRun = process.getuid?.() === 0 && spawnSync('nft', ['--version']).status === 0 && spawnSync('ip', ['-V']).status === 0;

const sh = (cmd: string, args: string[]): void => {
  execFileSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
};
const quiet = (cmd: string, args: string[]): void => {
  spawnSync(cmd, args, { stdio: 'ignore' });
};

function cleanupNet(): void {
  quiet('ip', ['netns', 'delete', NS_A]);
  quiet('ip', ['netns', 'delete', NS_B]);
  quiet('ip', ['link', 'delete', 'kpxta']);
  quiet('ip', ['link', 'delete', 'kpxtb']);
  quiet('ip', ['link', 'delete', BR]);
  quiet('nft', ['delete', 'table', 'ip', TABLE]);
}

class FakeSource implements ObjectSource {
  private objs: KubeObject[] = [];
  private readonly handlers = new Set<EventHandler<KubeObject>>();
  list(): KubeObject[] {
    return this.objs;
  }
  addEventHandler(h: EventHandler<KubeObject>): () => void {
    this.handlers.add(h);
    return () => this.handlers.delete(h);
  }
  async waitForSync(): Promise<void> {}
  set(objs: KubeObject[]): void {
    const old = this.objs;
    this.objs = objs;
    for (const h of this.handlers) {
      for (const o of old) h.onDelete?.(o, false);
      for (const o of objs) h.onAdd?.(o, false);
    }
  }
}

const svc = (name: string, clusterIP: string, ports: unknown[]): KubeObject => ({ apiVersion: 'v1', kind: 'Service', metadata: { namespace: 'kpxt', name }, spec: { clusterIP, ports } });
const slice = (name: string, service: string, ips: string[], ports: unknown[]): KubeObject => ({
  apiVersion: 'discovery.k8s.io/v1',
  kind: 'EndpointSlice',
  metadata: { namespace: 'kpxt', name, labels: { 'kubernetes.io/service-name': service } },
  addressType: 'IPv4',
  endpoints: ips.map((ip) => ({ addresses: [ip], conditions: { ready: true } })),
  ports,
});

const SERVER_JS = `
const net = require('node:net');
let n = 0;
for (const port of process.argv.slice(2)) {
  net.createServer((s) => { s.end(port + ' ' + s.remoteAddress + '\\n'); }).listen(Number(port), '0.0.0.0', () => { if (++n === process.argv.length - 2) process.stdout.write('ready\\n'); });
}
`;
const CLIENT_JS = `
const net = require('node:net');
const one = (target) => new Promise((resolve) => {
  const [host, port] = target.split(':');
  const s = net.connect({ host, port: Number(port) });
  let data = '';
  const t = setTimeout(() => { s.destroy(); resolve({ error: 'TIMEOUT' }); }, 3000);
  s.on('data', (d) => (data += d));
  s.on('end', () => { clearTimeout(t); resolve({ data: data.trim() }); });
  s.on('error', (e) => { clearTimeout(t); resolve({ error: e.code }); });
});
(async () => { const out = []; for (const t of process.argv.slice(2)) out.push(await one(t)); process.stdout.write(JSON.stringify(out)); })();
`;

let dir = '';
let server: ChildProcess | undefined;
let hostServer: net.Server | undefined;
let hostPort = 0;
let proxy: ServiceProxy | undefined;
const services = new FakeSource();
const slices = new FakeSource();

type Result = { data?: string; error?: string };
// Async: the loopback endpoint's server runs in this process.
async function connectFrom(ns: string, targets: string[]): Promise<Result[]> {
  const { stdout } = await execFileAsync('ip', ['netns', 'exec', ns, process.execPath, join(dir, 'client.cjs'), ...targets], { encoding: 'utf8', timeout: 15_000 });
  return JSON.parse(stdout) as Result[];
}

before(async () => {
  if (!canRun) return;
  cleanupNet();
  dir = mkdtempSync(join(tmpdir(), 'kpxt-'));
  writeFileSync(join(dir, 'server.cjs'), SERVER_JS);
  writeFileSync(join(dir, 'client.cjs'), CLIENT_JS);
  sh('ip', ['link', 'add', BR, 'type', 'bridge']);
  sh('ip', ['addr', 'add', `${GW}/24`, 'dev', BR]);
  sh('ip', ['link', 'set', BR, 'up']);
  for (const [ns, veth, ip] of [
    [NS_A, 'kpxta', IP_A],
    [NS_B, 'kpxtb', IP_B],
  ] as const) {
    sh('ip', ['netns', 'add', ns]);
    sh('ip', ['link', 'add', veth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
    sh('ip', ['link', 'set', veth, 'master', BR, 'up']);
    // As the CNI bridge plugin's hairpinMode: with br_netfilter, a pod's packet DNATed back to
    // itself is bridged out of the port it came in.
    sh('ip', ['link', 'set', veth, 'type', 'bridge_slave', 'hairpin', 'on']);
    sh('ip', ['-n', ns, 'addr', 'add', `${ip}/24`, 'dev', 'eth0']);
    sh('ip', ['-n', ns, 'link', 'set', 'eth0', 'up']);
    sh('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    sh('ip', ['-n', ns, 'route', 'add', 'default', 'via', GW]);
  }
  server = spawn('ip', ['netns', 'exec', NS_A, process.execPath, join(dir, 'server.cjs'), '8080', '8081'], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    server!.stdout!.on('data', (d: Buffer) => d.toString().includes('ready') && resolve());
    server!.on('exit', (c) => reject(new Error(`server exited ${c}`)));
  });
  hostServer = net.createServer((s) => s.end(`host ${s.remoteAddress}\n`));
  await new Promise<void>((r) => hostServer!.listen(0, '127.0.0.1', r));
  hostPort = (hostServer.address() as net.AddressInfo).port;
});

after(async () => {
  if (!canRun) return;
  await proxy?.stop();
  server?.kill('SIGKILL');
  await new Promise<void>((r) => (hostServer ? hostServer.close(() => r()) : r()));
  cleanupNet();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('ClusterIPs reach endpoints from pods: load-balancing, hairpin, loopback endpoint, reject, updates', { skip: !canRun && 'needs root, nft and ip', timeout: 30_000 }, async () => {
  services.set([
    svc('web', '10.43.250.10', [{ name: 'http', port: 80 }]),
    svc('api', '10.43.250.1', [{ name: 'https', port: 443, targetPort: 6443 }]),
    svc('empty', '10.43.250.20', [{ port: 80 }]),
  ]);
  slices.set([
    slice('web-1', 'web', [IP_A], [{ name: 'http', port: 8080, protocol: 'TCP' }]),
    slice('web-2', 'web', [IP_A], [{ name: 'http', port: 8081, protocol: 'TCP' }]),
    slice('api-1', 'api', ['127.0.0.1'], [{ name: 'https', port: hostPort, protocol: 'TCP' }]),
  ]);
  const localnetBefore = readFileSync(`/proc/sys/net/ipv4/conf/${BR}/route_localnet`, 'utf8').trim();
  proxy = await startServiceProxy({ client: undefined as never, logger: silentLogger, podCIDR: `${SUBNET}.0/24`, bridgeName: BR, table: TABLE, services, endpointSlices: slices });
  assert.equal(proxy.backend, 'nftables');
  assert.equal(proxy.rules.length, 3);
  const listed = execFileSync('nft', ['list', 'table', 'ip', TABLE], { encoding: 'utf8' });
  assert.match(listed, /10\.43\.250\.10 \. tcp \. 80 : goto svc-/);
  assert.equal(readFileSync(`/proc/sys/net/ipv4/conf/${BR}/route_localnet`, 'utf8').trim(), '1');

  // Pod B → web: spread over both endpoints; the server sees B's own address (no masquerade
  // needed on a bridge whose traffic passes netfilter) or the gateway (masqueradeAll).
  const res = await connectFrom(NS_B, Array.from({ length: 16 }, () => '10.43.250.10:80'));
  assert.ok(res.every((r) => r.data), JSON.stringify(res));
  const ports = new Set(res.map((r) => r.data!.split(' ')[0]));
  assert.deepEqual([...ports].sort(), ['8080', '8081']);
  for (const r of res) assert.ok([IP_B, GW].includes(r.data!.split(' ')[1]!), r.data);

  // Hairpin: pod A → its own service is masqueraded to the gateway; the loopback endpoint
  // (an API server bound to 127.0.0.1) is reached through route_localnet; no endpoints → refused.
  const [hair] = await connectFrom(NS_A, ['10.43.250.10:80']);
  assert.match(hair?.data ?? '', new RegExp(`^808[01] ${GW.replace(/\./g, '\\.')}$`));
  const [api, empty] = await connectFrom(NS_B, ['10.43.250.1:443', '10.43.250.20:80']);
  assert.match(api?.data ?? JSON.stringify(api), /^host /);
  assert.equal(empty?.error, 'ECONNREFUSED');

  // Endpoints go away → the service rejects; they come back → reachable. Re-apply latency.
  const t0 = performance.now();
  slices.set([slice('api-1', 'api', ['127.0.0.1'], [{ name: 'https', port: hostPort, protocol: 'TCP' }])]);
  await proxy.settled();
  const latency = performance.now() - t0;
  assert.ok(latency < 1000, `re-applied in ${latency} ms`);
  assert.equal((await connectFrom(NS_B, ['10.43.250.10:80']))[0]?.error, 'ECONNREFUSED');
  slices.set([slice('web-2', 'web', [IP_A], [{ name: 'http', port: 8081, protocol: 'TCP' }]), slice('api-1', 'api', ['127.0.0.1'], [{ name: 'https', port: hostPort, protocol: 'TCP' }])]);
  await proxy.settled();
  assert.match((await connectFrom(NS_B, ['10.43.250.10:80']))[0]?.data ?? '', /^8081 /);
  assert.ok(proxy.stats.applies >= 3 && proxy.stats.failures === 0, JSON.stringify(proxy.stats));
  console.log(`service proxy: first apply ${proxy.stats.maxApplyMs.toFixed(1)} ms max, last ${proxy.stats.lastApplyMs.toFixed(1)} ms, change→settled ${latency.toFixed(1)} ms`);

  // Stop: the table is gone, route_localnet restored.
  await proxy.stop();
  proxy = undefined;
  assert.notEqual(spawnSync('nft', ['list', 'table', 'ip', TABLE], { stdio: 'ignore' }).status, 0);
  assert.equal(readFileSync(`/proc/sys/net/ipv4/conf/${BR}/route_localnet`, 'utf8').trim(), localnetBefore);
});
