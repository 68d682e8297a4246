import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { mkdtemp, rm, readFile, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import YAML from 'yaml';
import { startControlPlane, describeStartupError, clientUrl, type ControlPlaneDeps } from '../../src/cli/controlplane.ts';
import type { ControlPlaneOptions } from '../../src/cli/args.ts';
import type { ApiServer, ApiServerOptions } from '../../src/api/server.ts';
import type { StoreOptions } from '../../src/store/index.ts';
import type { Store } from '../../src/store/types.ts';
import { silentLogger } from '../../src/util/log.ts';
import { LoopbackServer } from '../../src/util/loopback.ts';

/** A stand-in API server: real HTTPS with the given certificate, answering 200 to an
 *  authenticated GET /version and 401 otherwise. */
async function fakeApiServer(opts: ApiServerOptions, events: string[]): Promise<ApiServer> {
  const answer = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    const user = opts.authenticator.authenticate(req.headers.authorization);
    res.writeHead(user ? 200 : 401, { 'content-type': 'application/json' });
    res.end(JSON.stringify(user ? { user: user.username } : { kind: 'Status', code: 401 }));
  };
  const server = https.createServer({ cert: opts.tls.cert, key: opts.tls.key }, answer);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.bind, () => resolve());
  });
  // The in-process clients' way in, as the real server serves it.
  const loopback = new LoopbackServer(answer);
  events.push('apiserver started');
  const port = (server.address() as net.AddressInfo).port;
  return {
    url: `https://${opts.bind}:${port}`,
    port,
    loopback,
    close: () =>
      new Promise<void>((resolve) => {
        events.push('apiserver closed');
        loopback.close();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  } as ApiServer;
}

function fakeStore(events: string[]): Store {
  return { close: async () => void events.push('store closed') } as unknown as Store;
}

function get(url: string, ca: string, token?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = https.get(url, { ca, headers: token ? { authorization: `Bearer ${token}` } : {} }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
  });
}

describe('starting the control plane', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kennel-cp-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  function options(sub: string): ControlPlaneOptions {
    const dataDir = join(dir, sub, 'data');
    return { dataDir, bind: '127.0.0.1', port: 0, store: { backend: 'sqlite', path: join(dataDir, 'state.db') } };
  }

  it('creates the data dir and PKI, opens the store, serves, and writes a working kubeconfig', async () => {
    const events: string[] = [];
    const printed: string[] = [];
    let storeOpts: StoreOptions | undefined;
    let serverOpts: ApiServerOptions | undefined;
    const deps: Partial<ControlPlaneDeps> = {
      logger: silentLogger,
      print: (l) => printed.push(l),
      openStore: async (o) => {
        storeOpts = o;
        events.push('store opened');
        return fakeStore(events);
      },
      startApiServer: async (o) => {
        serverOpts = o;
        return fakeApiServer(o, events);
      },
    };
    const opts = options('a');
    const cp = await startControlPlane(opts, deps);
    try {
      assert.equal(((await stat(opts.dataDir)).mode & 0o777).toString(8), '700');
      assert.deepEqual(storeOpts && { backend: storeOpts.backend, path: 'path' in storeOpts ? storeOpts.path : undefined }, { backend: 'sqlite', path: join(opts.dataDir, 'state.db') });
      assert.equal(serverOpts?.bind, '127.0.0.1');
      assert.equal(cp.url, `https://127.0.0.1:${cp.port}`);
      assert.deepEqual(cp.components.map((c) => c.name), ['store', 'apiserver', 'controller-manager', 'scheduler']);

      // The two human lines: where the kubeconfig is, and the join token.
      assert.equal(printed.length, 2);
      assert.ok(printed[0]!.includes(cp.url) && printed[0]!.includes(join(opts.dataDir, 'kubeconfig')), printed[0]);
      assert.ok(printed[1]!.endsWith(cp.joinToken), printed[1]);
      assert.match(cp.joinToken, /^K10[0-9a-f]{64}::server:/);

      // The kubeconfig names the server, trusts the cluster CA and carries a token that works.
      const kc = YAML.parse(await readFile(cp.kubeconfigPath, 'utf8')) as {
        clusters: { cluster: { server: string; 'certificate-authority-data': string } }[];
        users: { user: { token: string } }[];
      };
      const server = kc.clusters[0]!.cluster.server;
      const ca = Buffer.from(kc.clusters[0]!.cluster['certificate-authority-data'], 'base64').toString();
      assert.equal(server, cp.url);
      const authed = await get(`${server}/version`, ca, kc.users[0]!.user.token);
      assert.equal(authed.status, 200);
      assert.deepEqual(JSON.parse(authed.body), { user: 'system:admin' });
      assert.equal((await get(`${server}/version`, ca)).status, 401);
      assert.equal((await get(`${server}/version`, ca, 'wrong')).status, 401);
    } finally {
      await cp.stop();
    }
    // Stopped in reverse order, once.
    assert.deepEqual(events, ['store opened', 'apiserver started', 'apiserver closed', 'store closed']);
    await cp.stop();
    assert.equal(events.length, 4);
  });

  it('a port already in use: one clear line, and the store opened so far is closed again', async () => {
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as net.AddressInfo).port;
    const events: string[] = [];
    const opts = { ...options('b'), port };
    try {
      const err = await startControlPlane(opts, {
        logger: silentLogger,
        print: () => {},
        openStore: async () => fakeStore(events),
        startApiServer: (o) => fakeApiServer(o, events),
      }).then(
        () => assert.fail('expected the start to fail'),
        (e: unknown) => e,
      );
      assert.equal((err as NodeJS.ErrnoException).code, 'EADDRINUSE');
      assert.equal(
        describeStartupError(err, opts),
        `port ${port} on 127.0.0.1 is already in use (another kennel or Kubernetes API server?); stop it or choose another with --port`,
      );
      assert.deepEqual(events, ['store closed']);
    } finally {
      await new Promise((resolve) => blocker.close(resolve));
    }
  });

  it('describes other startup failures in one line', () => {
    const opts = options('c');
    const eacces = Object.assign(new Error('listen EACCES'), { code: 'EACCES', syscall: 'listen' });
    assert.match(describeStartupError(eacces, { ...opts, port: 443 }), /not allowed to listen on 127\.0\.0\.1:443 \(ports below 1024 need root\)/);
    const notAvail = Object.assign(new Error('x'), { code: 'EADDRNOTAVAIL', syscall: 'listen' });
    assert.match(describeStartupError(notAvail, { ...opts, bind: '192.0.2.1' }), /192\.0\.2\.1 is not an address of this machine/);
    const mkdir = Object.assign(new Error('EACCES: permission denied'), { code: 'EACCES', syscall: 'mkdir', path: '/var/lib/kennel' });
    assert.match(describeStartupError(mkdir, opts), /permission denied: \/var\/lib\/kennel; choose a writable --data-dir/);
  });

  it('client URLs use loopback for wildcard binds and brackets for IPv6', () => {
    assert.equal(clientUrl('0.0.0.0', 6443), 'https://127.0.0.1:6443');
    assert.equal(clientUrl('::', 6443), 'https://127.0.0.1:6443');
    assert.equal(clientUrl('::1', 6443), 'https://[::1]:6443');
    assert.equal(clientUrl('10.1.2.3', 7443), 'https://10.1.2.3:7443');
  });
});
