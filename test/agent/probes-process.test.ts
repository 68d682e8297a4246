// The whole path with real processes: API server with its pod proxy, the node agent on the
// process runtime with the probe manager and its kubelet-style endpoint (registered in the
// Node's daemonEndpoints). Readiness drives the pod's Ready condition, a failing liveness probe
// restarts the container (Unhealthy, then Killing), and kubectl logs / logs --previous / exec
// reach the containers.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, readFile, rm, writeFile, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore } from '../../src/store/index.ts';
import type { Store } from '../../src/store/types.ts';
import { startApiServer, type ApiServer } from '../../src/api/server.ts';
import { ensureClusterPki, writeKubeconfig } from '../../src/api/pki.ts';
import { adminUser, createTokenAuthenticator } from '../../src/api/auth.ts';
import { kubeletClientCertificate } from '../../src/api/podproxy.ts';
import { KubeClient } from '../../src/client/rest.ts';
import { startAgent, type Agent } from '../../src/agent/agent.ts';
import { ProcessRuntime } from '../../src/agent/runtime/process.ts';
import { agentServingCertificate, containerFinder, startAgentServer, type AgentServer } from '../../src/agent/server.ts';
import { EVENTS } from '../../src/agent/events.ts';
import { PODS } from '../../src/agent/podworker.ts';
import { NODES } from '../../src/agent/node.ts';
import type { Pod } from '../../src/agent/kube-types.ts';
import type { KubeObject } from '../../src/registry/types.ts';
import { silentLogger } from '../../src/util/log.ts';
import { waitUntil } from '../support/wait.ts';

let dir: string;
let store: Store;
let api: ApiServer;
let endpoint: AgentServer;
let agent: Agent | undefined;
let runtime: ProcessRuntime;
let client: KubeClient;
let kubeconfig: string;
let health: http.Server;
let healthCode = 500;

const waitFor = <T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 20_000): Promise<T> => waitUntil(what, fn, { timeoutMs, everyMs: 50, truthy: true });

function kubectl(args: string[], input?: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn('kubectl', args, { env: { ...process.env, KUBECONFIG: kubeconfig }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    p.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const t = setTimeout(() => p.kill('SIGKILL'), 20_000);
    p.on('error', reject);
    p.on('close', (code) => {
      clearTimeout(t);
      resolve({ code, stdout, stderr });
    });
    p.stdin.end(input ?? '');
  });
}

const getPod = (name: string) => client.get<Pod>(PODS, 'default', name);
const condition = (p: Pod, type: string) => p.status?.conditions?.find((c) => c.type === type)?.status;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kennel-probes-process-'));
  const pki = await ensureClusterPki(join(dir, 'data'));
  const ca = { certPem: pki.ca.certPem, keyPem: pki.ca.keyPem };
  store = await openStore({ backend: 'memory' });
  api = await startApiServer({
    store,
    bind: '127.0.0.1',
    port: 0,
    tls: pki.tls,
    authenticator: createTokenAuthenticator(new Map([[pki.adminToken, adminUser()]])),
    logger: silentLogger,
    podProxy: { clientCert: await kubeletClientCertificate(ca), agentCA: pki.ca.certPem },
  });
  kubeconfig = join(dir, 'kubeconfig');
  await writeKubeconfig(kubeconfig, { server: api.url, caPem: pki.tls.ca, token: pki.adminToken });
  client = KubeClient.fromKubeconfig(kubeconfig);

  health = http.createServer((_req, res) => res.writeHead(healthCode).end());
  await new Promise<void>((r) => health.listen(0, '127.0.0.1', r));

  runtime = new ProcessRuntime({ dataDir: join(dir, 'agent'), logger: silentLogger });
  // The endpoint first (its port goes into the Node), the agent behind it.
  const serving = await agentServingCertificate('node-p', ['127.0.0.1'], ca);
  endpoint = await startAgentServer({
    runtime,
    port: 0,
    bind: '127.0.0.1',
    tls: { cert: serving.cert, key: serving.key, ca: pki.ca.certPem },
    logger: silentLogger,
    followPollMs: 50,
    findContainer: containerFinder({ findContainer: async (...a) => agent?.findContainer(...a) }),
  });
  agent = await startAgent({
    client,
    nodeName: 'node-p',
    runtime,
    dataDir: join(dir, 'agent'),
    logger: silentLogger,
    nodeIP: '127.0.0.1',
    kubeletPort: endpoint.port,
    relistMs: 200,
    statusUpdateMs: 500,
    implicitServiceAccountVolume: false,
  });
});

after(async () => {
  await agent?.stop();
  await endpoint?.close();
  try {
    for (const sb of await runtime.listPodSandboxes()) await runtime.removePodSandbox(sb.id);
  } finally {
    await runtime.close();
  }
  client?.close();
  health?.closeAllConnections();
  await new Promise<void>((r) => (health ? health.close(() => r()) : r()));
  await api?.close();
  await store?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('probes and the agent endpoint on the process runtime', () => {
  const readyFile = () => join(dir, 'ready-flag');

  test('the Node advertises the endpoint in daemonEndpoints', async () => {
    const node = await client.get<KubeObject & { status: { daemonEndpoints: { kubeletEndpoint: { Port: number } } } }>(NODES, undefined, 'node-p');
    assert.equal(node.status.daemonEndpoints.kubeletEndpoint.Port, endpoint.port);
  });

  test('readiness (exec probe) drives Ready and ContainersReady', async () => {
    await client.create(PODS, {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'ready-0', namespace: 'default' },
      spec: {
        nodeName: 'node-p',
        terminationGracePeriodSeconds: 1,
        containers: [
          {
            name: 'web',
            image: 'busybox',
            command: ['sh', '-c', 'echo started; trap "exit 0" TERM; while true; do sleep 0.2; done'],
            readinessProbe: { exec: { command: ['test', '-f', readyFile()] }, periodSeconds: 1, failureThreshold: 1 },
          },
        ],
      },
    });
    await waitFor('running, not ready', async () => {
      const p = await getPod('ready-0');
      return p.status?.phase === 'Running' && condition(p, 'Ready') === 'False' && p.status.containerStatuses?.[0]?.started === true;
    });
    await writeFile(readyFile(), '');
    const ready = await waitFor('ready', async () => {
      const p = await getPod('ready-0');
      return condition(p, 'Ready') === 'True' && condition(p, 'ContainersReady') === 'True' && p;
    });
    assert.equal(ready.status?.containerStatuses?.[0]?.ready, true);
    await unlink(readyFile());
    await waitFor('not ready again', async () => condition(await getPod('ready-0'), 'Ready') === 'False');
    const events = await client.list<KubeObject & { reason?: string; message?: string }>(EVENTS, 'default');
    assert.ok(events.items.some((e) => e.reason === 'Unhealthy' && e.message === 'Readiness probe failed: '), JSON.stringify(events.items.map((e) => e.message)));
  });

  test('kubectl logs and exec reach the process', async () => {
    const logs = await kubectl(['logs', 'ready-0']);
    assert.equal(logs.code, 0, logs.stderr);
    assert.equal(logs.stdout, 'started\n');
    const ex = await kubectl(['exec', 'ready-0', '--', 'sh', '-c', 'echo $((6 * 7))']);
    assert.equal(ex.code, 0, ex.stderr);
    assert.equal(ex.stdout, '42\n');
    const cat = await kubectl(['exec', '-i', 'ready-0', '--', 'cat'], 'through stdin\n');
    assert.equal(cat.stdout, 'through stdin\n');
    const f = await kubectl(['exec', 'ready-0', '--', 'sh', '-c', 'exit 4']);
    assert.equal(f.code, 4);
    // kubectl cp is tar over exec, both ways (stdin closed with the v5 close signal)
    const local = join(dir, 'to-pod.txt');
    await writeFile(local, 'copied content\n');
    const up = await kubectl(['cp', local, 'ready-0:copied.txt']);
    assert.equal(up.code, 0, up.stderr);
    assert.equal((await kubectl(['exec', 'ready-0', '--', 'cat', 'copied.txt'])).stdout, 'copied content\n');
    const back = join(dir, 'from-pod.txt');
    const down = await kubectl(['cp', 'ready-0:copied.txt', back]);
    assert.equal(down.code, 0, down.stderr);
    assert.equal(await readFile(back, 'utf8'), 'copied content\n');
  });

  test('kubectl exec -it: a terminal of the caller\'s size (resize on channel 4)', async () => {
    // kubectl runs inside a pseudo-terminal (util-linux script) whose size is set first.
    const inner = `stty rows 33 cols 101; kubectl exec -it ready-0 -- sh -c 'sleep 0.5; stty size; test -t 0 && echo tty-ok'`;
    const r = await new Promise<{ code: number | null; out: string }>((resolve, reject) => {
      const p = spawn('script', ['-qefc', inner, '/dev/null'], { env: { ...process.env, KUBECONFIG: kubeconfig }, stdio: ['pipe', 'pipe', 'pipe'] });
      let out = '';
      p.stdout.on('data', (c: Buffer) => (out += c.toString()));
      p.stderr.on('data', (c: Buffer) => (out += c.toString()));
      const t = setTimeout(() => p.kill('SIGKILL'), 20_000);
      p.on('error', reject);
      p.on('close', (code) => {
        clearTimeout(t);
        resolve({ code, out });
      });
    });
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /33 101/);
    assert.match(r.out, /tty-ok/);
  });

  test('a failing liveness probe restarts the container: Unhealthy, Killing, restartCount, logs --previous', async () => {
    healthCode = 500;
    await client.create(PODS, {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'live-0', namespace: 'default' },
      spec: {
        nodeName: 'node-p',
        terminationGracePeriodSeconds: 1,
        containers: [
          {
            name: 'web',
            image: 'busybox',
            command: ['sh', '-c', 'echo "attempt at $(date +%s%N)"; trap "exit 0" TERM; while true; do sleep 0.2; done'],
            livenessProbe: { httpGet: { host: '127.0.0.1', port: (health.address() as AddressInfo).port, path: '/healthz' }, periodSeconds: 1, failureThreshold: 2 },
          },
        ],
      },
    });
    const restarted = await waitFor('a restart', async () => {
      const p = await getPod('live-0');
      const s = p.status?.containerStatuses?.[0];
      return (s?.restartCount ?? 0) >= 1 && s?.state?.running && p;
    });
    healthCode = 200; // stop the restarts
    assert.equal(restarted.status?.containerStatuses?.[0]?.lastState?.terminated?.exitCode, 0);
    const events = await client.list<KubeObject & { reason?: string; message?: string; involvedObject?: { name?: string; fieldPath?: string } }>(EVENTS, 'default');
    const mine = events.items.filter((e) => e.involvedObject?.name === 'live-0');
    const unhealthy = mine.find((e) => e.reason === 'Unhealthy');
    assert.equal(unhealthy?.message, 'Liveness probe failed: HTTP probe failed with statuscode: 500');
    assert.equal(unhealthy?.involvedObject?.fieldPath, 'spec.containers{web}');
    assert.ok(mine.some((e) => e.reason === 'Killing' && e.message === 'Container web failed liveness probe, will be restarted'), JSON.stringify(mine.map((e) => `${e.reason}: ${e.message}`)));
    const now = await kubectl(['logs', 'live-0']);
    const prev = await kubectl(['logs', 'live-0', '--previous']);
    assert.equal(prev.code, 0, prev.stderr);
    // (the shell may add "Terminated" for its sleep, killed with the process group)
    const first = (s: string) => s.split('\n')[0];
    assert.match(first(prev.stdout), /^attempt at \d+$/);
    assert.match(first(now.stdout), /^attempt at \d+$/);
    assert.notEqual(first(now.stdout), first(prev.stdout));
  });
});
