// pods/log, pods/exec and pods/attach end to end: the API server (with its pod proxy and a client
// certificate of the cluster CA), a Node whose daemonEndpoints point at a real agent endpoint
// (fake runtime, real processes for exec), pods bound to it, and the real kubectl.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import https from 'node:https';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore } from '../../src/store/index.ts';
import type { Store } from '../../src/store/types.ts';
import { startApiServer, type ApiServer } from '../../src/api/server.ts';
import { ensureClusterPki, writeKubeconfig } from '../../src/api/pki.ts';
import { adminUser, createTokenAuthenticator } from '../../src/api/auth.ts';
import { kubeletClientCertificate } from '../../src/api/podproxy.ts';
import { agentServingCertificate, startAgentServer, type AgentServer, type ContainerRef, type LookupFailure } from '../../src/agent/server.ts';
import { silentLogger } from '../../src/util/log.ts';
import { FakeContainer, FakeRuntime, streamClient } from '../support/agent-endpoint.ts';

let dir: string;
let store: Store;
let api: ApiServer;
let agent: AgentServer;
let token: string;
let caPem: string;
let kubeconfig: string;
const runtime = new FakeRuntime();
/** `<pod>/<container>` → what the agent serves (or its refusal). */
const containers = new Map<string, ContainerRef | LookupFailure>();

interface Resp {
  status: number;
  text: string;
  json<T = Record<string, unknown>>(): T;
}

function request(method: string, path: string, body?: unknown): Promise<Resp> {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : JSON.stringify(body);
    const req = https.request(
      `${api.url}${path}`,
      { method, ca: caPem, agent: false, headers: { authorization: `Bearer ${token}`, ...(data ? { 'content-type': 'application/json' } : {}) } },
      (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text, json: <T>() => JSON.parse(text) as T }));
      },
    );
    req.on('error', reject);
    if (data) req.write(data);
    req.end();
  });
}

async function create(path: string, obj: unknown): Promise<void> {
  const r = await request('POST', path, obj);
  assert.equal(r.status, 201, r.text);
}

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Run the real kubectl; onStdout lets a test react to streamed output. */
function kubectl(args: string[], o: { input?: string; onStdout?: (all: string) => void; timeoutMs?: number } = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const p = spawn('kubectl', args, { env: { ...process.env, KUBECONFIG: kubeconfig }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (c: Buffer) => {
      stdout += c.toString();
      o.onStdout?.(stdout);
    });
    p.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const t = setTimeout(() => p.kill('SIGKILL'), o.timeoutMs ?? 20_000);
    p.on('error', reject);
    p.on('close', (code) => {
      clearTimeout(t);
      resolve({ code, stdout, stderr });
    });
    if (o.input !== undefined) p.stdin.end(o.input);
    else p.stdin.end();
  });
}

function pod(name: string, nodeName: string | undefined, names: string[] = ['web']) {
  return { apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: 'default' }, spec: { ...(nodeName ? { nodeName } : {}), containers: names.map((n) => ({ name: n, image: 'busybox' })) } };
}

function node(name: string, port: number) {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name },
    status: { addresses: [{ type: 'InternalIP', address: '127.0.0.1' }, { type: 'Hostname', address: name }], daemonEndpoints: { kubeletEndpoint: { Port: port } } },
  };
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kennel-podproxy-'));
  const pki = await ensureClusterPki(join(dir, 'data'));
  const ca = { certPem: pki.ca.certPem, keyPem: pki.ca.keyPem };
  caPem = pki.ca.certPem;
  token = pki.adminToken;
  store = await openStore({ backend: 'memory' });
  const clientCert = await kubeletClientCertificate(ca);
  api = await startApiServer({
    store,
    bind: '127.0.0.1',
    port: 0,
    tls: pki.tls,
    authenticator: createTokenAuthenticator(new Map([[pki.adminToken, adminUser()]])),
    logger: silentLogger,
    podProxy: { clientCert, agentCA: pki.ca.certPem },
  });
  kubeconfig = join(dir, 'kubeconfig');
  await writeKubeconfig(kubeconfig, { server: api.url, caPem: pki.tls.ca, token: pki.adminToken });

  const serving = await agentServingCertificate('node1', ['127.0.0.1'], ca);
  agent = await startAgentServer({
    runtime,
    port: 0,
    bind: '127.0.0.1',
    tls: { cert: serving.cert, key: serving.key, ca: pki.ca.certPem },
    logger: silentLogger,
    followPollMs: 20,
    findContainer: async (ns, podName, container) => {
      const c = containers.get(`${podName}/${container}`);
      if (ns !== 'default' || !c) return { code: 404, message: `pod "${podName}" does not exist` };
      if ('containerId' in c && c.running) c.running = runtime.containers.get(c.containerId)?.state === 'running';
      return c;
    },
  });

  const log = join(dir, 'web.log');
  await writeFile(log, '2024-05-01T10:00:00.5Z stdout F hello from web\n2024-05-01T10:00:01Z stderr F a warning\n');
  runtime.add(new FakeContainer('web1', log));
  containers.set('web-0/web', { containerId: 'web1', logPath: log, running: true });
  containers.set('two/a', { containerId: 'web1', logPath: log, running: true });
  containers.set('two/b', { code: 400, message: 'container "b" in pod "two" is waiting to start: ContainerCreating' });

  const freePort = net.createServer();
  await new Promise<void>((r) => freePort.listen(0, '127.0.0.1', r));
  const closedPort = (freePort.address() as AddressInfo).port;
  await new Promise<void>((r) => freePort.close(() => r()));

  await create('/api/v1/nodes', node('node1', agent.port));
  await create('/api/v1/nodes', node('node-down', closedPort));
  await create('/api/v1/namespaces/default/pods', pod('web-0', 'node1'));
  await create('/api/v1/namespaces/default/pods', pod('two', 'node1', ['a', 'b']));
  await create('/api/v1/namespaces/default/pods', pod('pending', undefined));
  await create('/api/v1/namespaces/default/pods', pod('lost', 'node-down'));
  await create('/api/v1/namespaces/default/pods', pod('tail-0', 'node1'));
});

after(async () => {
  runtime.killAll();
  await agent?.close();
  await api?.close();
  await store?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('kubectl logs', () => {
  test('kubectl logs prints the container log', async () => {
    const r = await kubectl(['logs', 'web-0']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'hello from web\na warning\n');
    const t = await kubectl(['logs', 'web-0', '--tail=1', '--timestamps']);
    assert.equal(t.stdout, '2024-05-01T10:00:01Z a warning\n');
  });

  test('kubectl logs -f streams lines as they are written and ends when the container exits', async () => {
    const log = join(dir, 'tail.log');
    await writeFile(log, '2024-05-01T10:00:00Z stdout F started\n');
    const c = runtime.add(new FakeContainer('tail1', log));
    containers.set('tail-0/web', { containerId: 'tail1', logPath: log, running: true });
    let step = 0;
    const r = await kubectl(['logs', '-f', 'tail-0'], {
      onStdout: (all) => {
        if (step === 0 && all.includes('started\n')) {
          step = 1;
          c.emit('stdout', 'line 2\n');
        } else if (step === 1 && all.includes('line 2\n')) {
          step = 2;
          c.emit('stdout', 'last line\n');
          c.exit(0);
        }
      },
    });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'started\nline 2\nlast line\n');
  });

  test('a pod with several containers needs one named (raw API), the agent words pass through', async () => {
    const r = await request('GET', '/api/v1/namespaces/default/pods/two/log');
    assert.equal(r.status, 400);
    assert.equal(r.json().message, 'a container name must be specified for pod two, choose one of: [a b]');
    assert.equal(r.json().kind, 'Status');
    const b = await kubectl(['logs', 'two', '-c', 'b']);
    assert.equal(b.code, 1);
    assert.match(b.stderr, /Error from server \(BadRequest\): container "b" in pod "two" is waiting to start: ContainerCreating/);
    const bad = await request('GET', '/api/v1/namespaces/default/pods/two/log?container=nosuch');
    assert.equal(bad.status, 400);
    assert.equal(bad.json().message, 'container nosuch is not valid for pod two');
  });

  test('log options are validated as Kubernetes does', async () => {
    const r = await request('GET', '/api/v1/namespaces/default/pods/web-0/log?tailLines=-1');
    assert.equal(r.status, 422);
    assert.equal(r.json().message, 'PodLogOptions "web-0" is invalid: tailLines: Invalid value: -1: must be greater than or equal to 0');
    assert.equal((await request('GET', '/api/v1/namespaces/default/pods/web-0/log?sinceSeconds=0')).status, 422);
    assert.equal((await request('GET', '/api/v1/namespaces/default/pods/web-0/log?sinceSeconds=5&sinceTime=2024-05-01T10:00:00Z')).status, 422);
    assert.equal((await request('GET', '/api/v1/namespaces/default/pods/web-0/log?tailLines=abc')).status, 400);
    assert.equal((await request('GET', '/api/v1/namespaces/default/pods/web-0/log?limitBytes=5')).text, 'hello');
  });

  test('a pod without a node has empty logs; a missing pod is 404; an unreachable agent is 503', async () => {
    const p = await request('GET', '/api/v1/namespaces/default/pods/pending/log');
    assert.deepEqual([p.status, p.text], [200, '']);
    const n = await request('GET', '/api/v1/namespaces/default/pods/nopod/log');
    assert.equal(n.status, 404);
    assert.equal(n.json().message, 'pods "nopod" not found');
    const d = await request('GET', '/api/v1/namespaces/default/pods/lost/log');
    assert.equal(d.status, 503);
    assert.equal(d.json().reason, 'ServiceUnavailable');
    assert.match(String(d.json().message), /connect: connection refused/);
  });
});

describe('kubectl exec and attach', () => {
  test('kubectl exec pod -- echo hi', async () => {
    const r = await kubectl(['exec', 'web-0', '--', 'echo', 'hi']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'hi\n');
  });

  test('kubectl exec pod -- false exits 1', async () => {
    const r = await kubectl(['exec', 'web-0', '--', 'false']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /command terminated with exit code 1/);
    const r7 = await kubectl(['exec', 'web-0', '--', 'sh', '-c', 'echo to-stderr >&2; exit 7']);
    assert.equal(r7.code, 7);
    assert.match(r7.stderr, /to-stderr/);
  });

  test('kubectl exec -i pod -- cat passes stdin through', async () => {
    const r = await kubectl(['exec', '-i', 'web-0', '--', 'cat'], { input: 'hello from stdin\nsecond line\n' });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'hello from stdin\nsecond line\n');
  });

  test('kubectl exec errors: unknown container, unscheduled pod, unreachable agent, missing pod', async () => {
    const c = await kubectl(['exec', 'web-0', '-c', 'nosuch', '--', 'true']);
    assert.equal(c.code, 1);
    assert.match(c.stderr, /container nosuch is not valid for pod web-0/);
    const p = await kubectl(['exec', 'pending', '--', 'true']);
    assert.equal(p.code, 1);
    assert.match(p.stderr, /pod pending does not have a host assigned/);
    const d = await kubectl(['exec', 'lost', '--', 'true']);
    assert.equal(d.code, 1);
    assert.match(d.stderr, /error dialing backend: dial tcp 127\.0\.0\.1:\d+: connect: connection refused/);
    const n = await kubectl(['exec', 'nopod', '--', 'true']);
    assert.equal(n.code, 1);
    assert.match(n.stderr, /pods "nopod" not found/);
  });

  test('kubectl attach streams the running container until it exits', async () => {
    const log = join(dir, 'att.log');
    const c = runtime.add(new FakeContainer('att1', log));
    containers.set('tail-0/web', { containerId: 'att1', logPath: log, running: true });
    const timer = setInterval(() => c.emit('stdout', 'tick\n'), 100);
    let exited = false;
    const r = await kubectl(['attach', 'tail-0'], {
      onStdout: (all) => {
        if (!exited && all.includes('tick\ntick\n')) {
          exited = true;
          clearInterval(timer);
          setTimeout(() => c.exit(0), 50);
        }
      },
    });
    clearInterval(timer);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^(tick\n){2,}$/);
  });

  test('the API proxies v4.channel.k8s.io too, and refuses unauthenticated upgrades', async () => {
    const base = api.url.replace('https://', 'wss://');
    const r = await streamClient(`${base}/api/v1/namespaces/default/pods/web-0/exec?command=sh&command=-c&command=echo%20v4;%20exit%203&stdout=true&stderr=true`, {
      protocols: ['v4.channel.k8s.io'],
      tls: { ca: caPem },
      headers: { Authorization: `Bearer ${token}` },
    });
    assert.equal(r.protocol, 'v4.channel.k8s.io');
    assert.equal(r.stdout, 'v4\n');
    assert.deepEqual(r.status?.details?.causes, [{ reason: 'ExitCode', message: '3' }]);
    await assert.rejects(
      streamClient(`${base}/api/v1/namespaces/default/pods/web-0/exec?command=true&stdout=true`, { protocols: ['v5.channel.k8s.io'], tls: { ca: caPem } }),
      /HTTP 401/,
    );
    const plain = await request('GET', '/api/v1/namespaces/default/pods/web-0/exec?command=true&stdout=true');
    assert.equal(plain.status, 400);
    assert.equal(plain.json().message, 'Upgrade request required');
  });
});
