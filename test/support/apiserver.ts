// Test harness: an API server over a chosen store with a fresh PKI and kubeconfig, plus a
// small HTTPS client for raw requests.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import https from 'node:https';
import { openStore } from '../../src/store/index.ts';
import type { Store } from '../../src/store/types.ts';
import { startApiServer, type ApiServer, type ApiServerOptions } from '../../src/api/server.ts';
import { ensureClusterPki, writeKubeconfig } from '../../src/api/pki.ts';
import { createTokenAuthenticator } from '../../src/api/auth.ts';
import { ensureServiceAccountKey } from '../../src/api/satokens.ts';
import { silentLogger } from '../../src/util/log.ts';

export interface TestServer {
  server: ApiServer;
  store: Store;
  url: string;
  token: string;
  ca: string;
  dir: string;
  kubeconfig: string;
  request(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<TestResponse>;
  stop(): Promise<void>;
}

export interface TestResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json<T = Record<string, unknown>>(): T;
}

export async function startTestServer(opts: { store?: Store; backend?: 'memory' | 'sqlite'; server?: Partial<ApiServerOptions> } = {}): Promise<TestServer> {
  const dir = await mkdtemp(join(tmpdir(), 'kennel-api-'));
  const pki = await ensureClusterPki(dir, {});
  const store = opts.store ?? (await openStore(opts.backend === 'sqlite' ? { backend: 'sqlite', path: join(dir, 'state.db') } : { backend: 'memory' }));
  const authenticator = createTokenAuthenticator(new Map([[pki.adminToken, { username: 'system:admin', groups: ['system:masters', 'system:authenticated'] }]]));
  const server = await startApiServer({ store, bind: '127.0.0.1', port: 0, tls: pki.tls, authenticator, logger: silentLogger, serviceAccountKey: await ensureServiceAccountKey(dir), ...opts.server });
  const kubeconfig = join(dir, 'kubeconfig');
  await writeKubeconfig(kubeconfig, { server: server.url, caPem: pki.tls.ca, token: pki.adminToken });
  const agent = new https.Agent({ ca: pki.tls.ca, keepAlive: true });

  const request = (method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<TestResponse> =>
    new Promise((resolve, reject) => {
      const data = body === undefined ? undefined : typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body);
      const req = https.request(
        `${server.url}${path}`,
        {
          method,
          agent,
          headers: {
            authorization: `Bearer ${pki.adminToken}`,
            ...(data !== undefined ? { 'content-type': 'application/json' } : {}),
            ...headers,
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json: <T>() => JSON.parse(text) as T });
          });
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      if (data !== undefined) req.write(data);
      req.end();
    });

  return {
    server,
    store,
    url: server.url,
    token: pki.adminToken,
    ca: pki.tls.ca,
    dir,
    kubeconfig,
    request,
    async stop() {
      agent.destroy();
      await server.close();
      if (!opts.store) await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
