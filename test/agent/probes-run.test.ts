// Probe attempts against real local servers: HTTP (status classes, redirects, headers, named
// ports, HTTPS without verification, timeouts), TCP, gRPC health, and exec through a runtime;
// the outputs are the kubelet's (Go's) texts.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { runProbe, type ProbeTarget } from '../../src/agent/probes-run.ts';
import { issueCertificate } from '../../src/agent/server-certs.ts';
import type { Container, Probe } from '../../src/agent/kube-types.ts';
import type { ExecSyncResult, Runtime } from '../../src/agent/runtime/types.ts';
import { FakeRuntime } from '../support/agent-endpoint.ts';

const HOST = '127.0.0.1';
let httpServer: http.Server;
let httpsServer: https.Server;
let httpPort: number;
let httpsPort: number;
let closedPort: number;
const seen: http.IncomingHttpHeaders[] = [];
const pending = new Set<http.ServerResponse>();

function target(container: Partial<Container> = {}): ProbeTarget {
  return { container: { name: 'web', image: 'x', ...container }, containerId: 'c1', podIP: HOST };
}

const noRuntime = {} as Pick<Runtime, 'execSync'>;
const probe = (p: Probe) => runProbe(p, target({ ports: [{ name: 'http', containerPort: httpPort }] }), noRuntime);

function handler(req: http.IncomingMessage, res: http.ServerResponse): void {
  seen.push(req.headers);
  const url = new URL(req.url ?? '/', 'http://x');
  switch (url.pathname) {
    case '/ok':
      res.end('all good');
      return;
    case '/fail':
      res.writeHead(500).end('broken');
      return;
    case '/notfound':
      res.writeHead(404).end();
      return;
    case '/moved':
      res.writeHead(302, { Location: '/ok' }).end();
      return;
    case '/elsewhere':
      res.writeHead(301, { Location: `http://localhost:${httpPort}/ok` }).end('see localhost');
      return;
    case '/loop':
      res.writeHead(302, { Location: `/loop?n=${Number(url.searchParams.get('n') ?? 0) + 1}` }).end();
      return;
    case '/hang':
      pending.add(res);
      return;
    default:
      res.writeHead(404).end();
  }
}

before(async () => {
  httpServer = http.createServer(handler);
  await new Promise<void>((r) => httpServer.listen(0, HOST, r));
  httpPort = (httpServer.address() as AddressInfo).port;
  const cert = await issueCertificate({ commonName: 'self', usage: 'server', ips: [HOST] });
  httpsServer = https.createServer({ cert: cert.cert, key: cert.key }, handler);
  await new Promise<void>((r) => httpsServer.listen(0, HOST, r));
  httpsPort = (httpsServer.address() as AddressInfo).port;
  const tmp = net.createServer();
  await new Promise<void>((r) => tmp.listen(0, HOST, r));
  closedPort = (tmp.address() as AddressInfo).port;
  await new Promise<void>((r) => tmp.close(() => r()));
});

after(async () => {
  for (const r of pending) r.destroy();
  httpServer.closeAllConnections();
  httpsServer.closeAllConnections();
  await new Promise<void>((r) => httpServer.close(() => r()));
  await new Promise<void>((r) => httpsServer.close(() => r()));
});

describe('httpGet', () => {
  test('200 succeeds with the body; 500 and 404 fail with the status code', async () => {
    assert.deepEqual(await probe({ httpGet: { path: '/ok', port: httpPort } }), { result: 'success', output: 'all good' });
    assert.deepEqual(await probe({ httpGet: { path: '/fail', port: httpPort } }), { result: 'failure', output: 'HTTP probe failed with statuscode: 500' });
    assert.deepEqual(await probe({ httpGet: { path: '/notfound', port: httpPort } }), { result: 'failure', output: 'HTTP probe failed with statuscode: 404' });
  });
  test('the kubelet headers, custom headers and the Host header', async () => {
    seen.length = 0;
    await probe({ httpGet: { path: '/ok', port: httpPort, httpHeaders: [{ name: 'X-Custom', value: 'v' }, { name: 'Host', value: 'web.example' }] } });
    assert.equal(seen[0]!['user-agent'], 'kube-probe/1.32');
    assert.equal(seen[0]!['accept'], '*/*');
    assert.equal(seen[0]!['x-custom'], 'v');
    assert.equal(seen[0]!['host'], 'web.example');
    seen.length = 0;
    await probe({ httpGet: { path: '/ok', port: httpPort, httpHeaders: [{ name: 'User-Agent', value: 'mine' }] } });
    assert.equal(seen[0]!['user-agent'], 'mine');
  });
  test('a named port is the container port of that name; an unknown name cannot run', async () => {
    assert.equal((await probe({ httpGet: { path: '/ok', port: 'http' } })).result, 'success');
    assert.deepEqual(await probe({ httpGet: { path: '/ok', port: 'metrics' } }), { result: 'unknown', output: 'port metrics not found' });
  });
  test('redirects on the same host are followed; to another host the probe stops with a warning', async () => {
    assert.deepEqual(await probe({ httpGet: { path: '/moved', port: httpPort } }), { result: 'success', output: 'all good' });
    assert.deepEqual(await probe({ httpGet: { path: '/elsewhere', port: httpPort } }), { result: 'warning', output: 'Probe terminated redirects, Response body: see localhost' });
    const loop = await probe({ httpGet: { path: '/loop', port: httpPort } });
    assert.equal(loop.result, 'failure');
    assert.equal(loop.output, `Get "http://${HOST}:${httpPort}/loop?n=10": stopped after 10 redirects`);
  });
  test('HTTPS is not verified (a self-signed certificate is fine)', async () => {
    assert.deepEqual(await probe({ httpGet: { path: '/ok', port: httpsPort, scheme: 'HTTPS' } }), { result: 'success', output: 'all good' });
  });
  test('connection refused and timeouts, in Go words', async () => {
    assert.deepEqual(await probe({ httpGet: { path: '/healthz', port: closedPort } }), {
      result: 'failure',
      output: `Get "http://${HOST}:${closedPort}/healthz": dial tcp ${HOST}:${closedPort}: connect: connection refused`,
    });
    const t0 = Date.now();
    const slow = await probe({ httpGet: { path: '/hang', port: httpPort }, timeoutSeconds: 1 });
    assert.deepEqual(slow, { result: 'failure', output: `Get "http://${HOST}:${httpPort}/hang": context deadline exceeded (Client.Timeout exceeded while awaiting headers)` });
    assert.ok(Date.now() - t0 >= 950 && Date.now() - t0 < 3000);
  });
  test('the host defaults to the pod IP; without one the probe cannot run', async () => {
    const r = await runProbe({ httpGet: { path: '/ok', port: httpPort } }, { ...target(), podIP: undefined }, noRuntime);
    assert.equal(r.result, 'unknown');
    assert.equal((await runProbe({ httpGet: { path: '/ok', port: httpPort, host: HOST } }, { ...target(), podIP: undefined }, noRuntime)).result, 'success');
  });
});

describe('tcpSocket', () => {
  test('connects, or fails as Go says', async () => {
    assert.equal((await probe({ tcpSocket: { port: httpPort } })).result, 'success');
    assert.equal((await probe({ tcpSocket: { port: 'http' } })).result, 'success');
    assert.deepEqual(await probe({ tcpSocket: { port: closedPort } }), { result: 'failure', output: `dial tcp ${HOST}:${closedPort}: connect: connection refused` });
  });
});

describe('exec', () => {
  const rt = new FakeRuntime();
  after(() => rt.killAll());
  test('exit 0 succeeds, non-zero fails with the output, a timeout fails with kubelet words', async () => {
    const run = (cmd: string[], timeoutSeconds?: number) => runProbe({ exec: { command: cmd }, timeoutSeconds }, target(), rt);
    assert.deepEqual(await run(['sh', '-c', 'echo fine']), { result: 'success', output: 'fine\n' });
    assert.deepEqual(await run(['sh', '-c', 'echo not ready; exit 1']), { result: 'failure', output: 'not ready\n' });
    assert.deepEqual(await run(['sleep', '5'], 1), { result: 'failure', output: 'command "sleep 5" timed out' });
  });
  test('a runtime error fails the probe with its message', async () => {
    const broken: Pick<Runtime, 'execSync'> = {
      execSync: async (): Promise<ExecSyncResult> => {
        throw new Error('exec failed: unable to start container process: exec: "nosuch": executable file not found in $PATH');
      },
    };
    const r = await runProbe({ exec: { command: ['nosuch'] } }, target(), broken);
    assert.equal(r.result, 'failure');
    assert.match(r.output, /executable file not found/);
  });
});

describe('grpc', () => {
  let server: grpc.Server;
  let port: number;
  let status = 1;
  before(async () => {
    server = new grpc.Server();
    server.register<Buffer, Buffer>(
      '/grpc.health.v1.Health/Check',
      (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
        // service name in field 1; answer { status = <status> }
        const service = call.request.length > 2 ? call.request.subarray(2).toString() : '';
        if (service === 'unknown') cb({ code: grpc.status.NOT_FOUND, details: 'unknown service' });
        else cb(null, Buffer.from([0x08, status]));
      },
      (b: Buffer) => b,
      (b: Buffer) => b,
      'unary',
    );
    port = await new Promise<number>((resolve, reject) => server.bindAsync(`${HOST}:0`, grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
  });
  after(() => server.forceShutdown());
  test('SERVING succeeds; NOT_SERVING and errors fail', async () => {
    assert.deepEqual(await probe({ grpc: { port } }), { result: 'success', output: 'service is healthy' });
    status = 2;
    assert.deepEqual(await probe({ grpc: { port, service: 'web' } }), { result: 'failure', output: 'service unhealthy (responded with "NOT_SERVING")' });
    assert.deepEqual(await probe({ grpc: { port, service: 'unknown' } }), { result: 'failure', output: 'error: health rpc probe failed: rpc error: code = NotFound desc = unknown service' });
    const down = await probe({ grpc: { port: closedPort } });
    assert.equal(down.result, 'failure');
    assert.match(down.output, new RegExp(`^timeout: failed to connect service "${HOST}:${closedPort}" within 1s`));
  });
  test('a server without the health service', async () => {
    const r = await probe({ grpc: { port: httpPort } });
    assert.equal(r.result, 'failure');
  });
});
