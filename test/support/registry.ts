// Test harness: a real OCI registry (Debian's docker-registry, the CNCF distribution registry)
// on 127.0.0.1:<free port>, plain HTTP, with a temp storage dir that stop() removes.
//
//   const reg = await startRegistry();
//   ... push to `${reg.host}/busybox:1` ...
//   await reg.stop();
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const REGISTRY_BIN = process.env.KENNEL_REGISTRY_BIN || 'docker-registry';

export interface RegistryHandle {
  /** `127.0.0.1:PORT` */
  host: string;
  port: number;
  stop(): Promise<void>;
}

export function registryAvailable(): boolean {
  return spawnSync('sh', ['-c', `command -v ${REGISTRY_BIN}`], { stdio: 'ignore' }).status === 0;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => (port ? resolve(port) : reject(new Error('no port'))));
    });
  });
}

function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path: '/v2/', timeout: 1000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => {
      req.destroy();
      resolve(false);
    });
    req.end();
  });
}

export async function startRegistry(): Promise<RegistryHandle> {
  if (!registryAvailable()) {
    throw new Error(`${REGISTRY_BIN} not found: install the Debian package docker-registry (or set KENNEL_REGISTRY_BIN)`);
  }
  const dir = mkdtempSync(join(tmpdir(), 'kennel-registry-'));
  const port = await freePort();
  const config = join(dir, 'config.yml');
  writeFileSync(
    config,
    [
      'version: 0.1',
      'log:',
      '  level: error',
      '  accesslog:',
      '    disabled: true',
      'storage:',
      '  filesystem:',
      `    rootdirectory: ${join(dir, 'data')}`,
      '  delete:',
      '    enabled: true',
      'http:',
      `  addr: 127.0.0.1:${port}`,
      '',
    ].join('\n'),
  );
  const child = spawn(REGISTRY_BIN, ['serve', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (b: Buffer) => {
    stderr = (stderr + b.toString()).slice(-4000);
  });
  let exited = false;
  child.once('exit', () => {
    exited = true;
  });
  const stop = async () => {
    if (!exited) {
      child.kill('SIGTERM');
      await new Promise<void>((r) => {
        const t = setTimeout(() => {
          child.kill('SIGKILL');
          r();
        }, 3000);
        child.once('exit', () => {
          clearTimeout(t);
          r();
        });
      });
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 15_000;
  while (!(await ping(port))) {
    if (exited || Date.now() > deadline) {
      await stop();
      throw new Error(`docker-registry did not start on 127.0.0.1:${port}: ${stderr.trim()}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return { host: `127.0.0.1:${port}`, port, stop };
}

export interface AuthProxyHandle {
  /** `127.0.0.1:PORT` of the proxy */
  host: string;
  /** Requests that arrived without valid credentials. */
  readonly rejected: number;
  stop(): Promise<void>;
}

/**
 * An HTTP Basic-auth gate in front of a registry: requests without the right credentials get
 * 401 with a Basic challenge (as a registry with htpasswd auth answers), others are forwarded.
 */
export async function startAuthProxy(upstream: string, creds: { username: string; password: string }): Promise<AuthProxyHandle> {
  const { createServer: createHttpServer, request: httpRequest } = await import('node:http');
  const expected = 'Basic ' + Buffer.from(`${creds.username}:${creds.password}`).toString('base64');
  const [upHost, upPort] = upstream.split(':');
  let rejected = 0;
  const server = createHttpServer((req, res) => {
    if (req.headers.authorization !== expected) {
      rejected++;
      res.writeHead(401, {
        'WWW-Authenticate': 'Basic realm="kennel-test"',
        'Content-Type': 'application/json',
        'Docker-Distribution-API-Version': 'registry/2.0',
      });
      res.end('{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}');
      return;
    }
    const headers = { ...req.headers, host: upstream };
    delete headers.authorization;
    const up = httpRequest({ host: upHost, port: Number(upPort), method: req.method, path: req.url, headers }, (ures) => {
      res.writeHead(ures.statusCode ?? 502, ures.headers);
      ures.pipe(res);
    });
    up.on('error', () => {
      res.writeHead(502);
      res.end();
    });
    req.pipe(up);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  return {
    host: `127.0.0.1:${port}`,
    get rejected() {
      return rejected;
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
