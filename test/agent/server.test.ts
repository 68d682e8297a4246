// The agent's kubelet-style endpoint with a fake runtime (exec runs real processes): client
// certificate checks, container logs (prefix stripping, tail, since, timestamps, limits, follow
// across rotation until the container exits), exec over v5 and v4 (streams, stdin, exit codes
// on channel 3) and attach.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import https from 'node:https';
import { mkdtemp, rm, writeFile, appendFile, rename } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureClusterPki } from '../../src/api/pki.ts';
import { silentLogger } from '../../src/util/log.ts';
import {
  agentServingCertificate,
  containerFinder,
  issueCertificate,
  kubeletClientCertificate,
  startAgentServer,
  type AgentServer,
  type ContainerRef,
  type LookupFailure,
} from '../../src/agent/server.ts';
import { formatLogTimestamp, parseCriRecord } from '../../src/agent/server-logs.ts';
import { FakeContainer, FakeRuntime, streamClient } from '../support/agent-endpoint.ts';
import type { Pod } from '../../src/agent/kube-types.ts';

let dir: string;
let ca: { certPem: string; keyPem: string };
let client: { cert: string; key: string };
let server: AgentServer;
let runtime: FakeRuntime;
const refs = new Map<string, ContainerRef>();
const NOW = Date.parse('2024-05-01T10:00:00Z');

function record(ts: string, stream: string, tag: string, text: string): string {
  return `${ts} ${stream} ${tag} ${text}\n`;
}

interface Resp {
  status: number;
  text: string;
}

function get(path: string, tls: { cert?: string; key?: string } = client): Promise<Resp> {
  return new Promise((resolve, reject) => {
    const req = https.request(`${server.url}${path}`, { ca: ca.certPem, ...tls, agent: false }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on('error', reject);
    req.end();
  });
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kennel-agent-server-'));
  const pki = await ensureClusterPki(join(dir, 'data'));
  ca = { certPem: pki.ca.certPem, keyPem: pki.ca.keyPem };
  const serving = await agentServingCertificate('node1', ['127.0.0.1'], ca);
  client = await kubeletClientCertificate(ca);
  runtime = new FakeRuntime();
  server = await startAgentServer({
    runtime,
    port: 0,
    bind: '127.0.0.1',
    tls: { cert: serving.cert, key: serving.key, ca: ca.certPem },
    logger: silentLogger,
    followPollMs: 20,
    now: () => NOW,
    findContainer: async (ns, pod, container, previous): Promise<ContainerRef | LookupFailure> => {
      if (ns !== 'default' || pod !== 'web-0') return { code: 404, message: `pod "${pod}" does not exist` };
      const ref = refs.get(previous ? `${container}:previous` : container);
      if (!ref) return { code: 404, message: `container "${container}" not found in pod "${pod}"` };
      if (ref.running) ref.running = runtime.containers.get(ref.containerId)?.state !== 'exited';
      return ref;
    },
  });

  // A log with stdout and stderr records, a line split in partial records, and a line without tag.
  const log = join(dir, 'web.log');
  await writeFile(
    log,
    record('2024-05-01T09:00:00.100000000Z', 'stdout', 'F', 'one') +
      record('2024-05-01T09:30:00.120000000Z', 'stderr', 'F', 'two (stderr)') +
      record('2024-05-01T09:59:50.000000000Z', 'stdout', 'P', 'thr') +
      record('2024-05-01T09:59:50.500000000Z', 'stdout', 'F', 'ee') +
      'garbage line that is not CRI\n' +
      record('2024-05-01T09:59:55.123456789Z', 'stdout', 'F', 'four'),
  );
  refs.set('web', { containerId: 'web1', logPath: log, running: false });
  const prev = join(dir, 'web-previous.log');
  await writeFile(prev, record('2024-05-01T08:00:00Z', 'stdout', 'F', 'from the previous attempt'));
  refs.set('web:previous', { containerId: 'web0', logPath: prev, running: false });
});

after(async () => {
  runtime?.killAll();
  await server?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('who may call', () => {
  test('healthz needs no credentials', async () => {
    assert.deepEqual(await get('/healthz', {}), { status: 200, text: 'ok' });
  });
  test('no client certificate: 401', async () => {
    assert.deepEqual(await get('/containerLogs/default/web-0/web', {}), { status: 401, text: 'Unauthorized' });
  });
  test('a certificate of the cluster CA with another CN: 403', async () => {
    const other = await issueCertificate({ commonName: 'jane', usage: 'client', ca });
    const r = await get('/containerLogs/default/web-0/web', other);
    assert.equal(r.status, 403);
    assert.match(r.text, /^Forbidden \(user=jane, verb=get, resource=nodes, subresource=log\)$/);
  });
  test('the right CN, but self-signed: 401', async () => {
    const forged = await issueCertificate({ commonName: 'kube-apiserver-kubelet-client', usage: 'client' });
    assert.equal((await get('/containerLogs/default/web-0/web', forged)).status, 401);
  });
  test('exec without credentials is refused before the upgrade', async () => {
    await assert.rejects(streamClient(`wss://127.0.0.1:${server.port}/exec/default/web-0/web?command=true&stdout=1`, { protocols: ['v5.channel.k8s.io'], tls: { ca: ca.certPem } }), /HTTP 401/);
  });
});

describe('container logs', () => {
  test('CRI records become lines: prefix stripped, partial records joined, malformed lines skipped', async () => {
    const r = await get('/containerLogs/default/web-0/web');
    assert.equal(r.status, 200);
    assert.equal(r.text, 'one\ntwo (stderr)\nthree\nfour\n');
  });
  test('timestamps: RFC3339Nano as Go prints it (trailing zeros dropped), once per line', async () => {
    const r = await get('/containerLogs/default/web-0/web?timestamps=true');
    assert.equal(
      r.text,
      '2024-05-01T09:00:00.1Z one\n2024-05-01T09:30:00.12Z two (stderr)\n2024-05-01T09:59:50Z three\n2024-05-01T09:59:55.123456789Z four\n',
    );
  });
  test('tailLines counts lines, not partial records', async () => {
    assert.equal((await get('/containerLogs/default/web-0/web?tailLines=2')).text, 'three\nfour\n');
    assert.equal((await get('/containerLogs/default/web-0/web?tailLines=1')).text, 'four\n');
    assert.equal((await get('/containerLogs/default/web-0/web?tailLines=0')).text, '');
    assert.equal((await get('/containerLogs/default/web-0/web?tailLines=100')).text, 'one\ntwo (stderr)\nthree\nfour\n');
  });
  test('sinceSeconds, sinceTime, limitBytes, stream', async () => {
    assert.equal((await get('/containerLogs/default/web-0/web?sinceSeconds=60')).text, 'three\nfour\n');
    assert.equal((await get('/containerLogs/default/web-0/web?sinceTime=2024-05-01T09:30:00Z')).text, 'two (stderr)\nthree\nfour\n');
    assert.equal((await get('/containerLogs/default/web-0/web?limitBytes=6')).text, 'one\ntw');
    assert.equal((await get('/containerLogs/default/web-0/web?stream=Stderr')).text, 'two (stderr)\n');
  });
  test('previous: the attempt before', async () => {
    assert.equal((await get('/containerLogs/default/web-0/web?previous=true')).text, 'from the previous attempt\n');
  });
  test('bad parameters and unknown containers', async () => {
    assert.deepEqual(await get('/containerLogs/default/web-0/web?tailLines=-1'), { status: 400, text: 'tailLines: Invalid value: must be greater than or equal to 0' });
    assert.equal((await get('/containerLogs/default/web-0/web?sinceSeconds=0')).status, 400);
    assert.equal((await get('/containerLogs/default/web-0/web?follow=maybe')).status, 400);
    assert.deepEqual(await get('/containerLogs/default/web-0/nosuch'), { status: 404, text: 'container "nosuch" not found in pod "web-0"' });
    assert.deepEqual(await get('/containerLogs/default/nopod/web'), { status: 404, text: 'pod "nopod" does not exist' });
    assert.equal((await get('/nothing/here')).status, 404);
  });

  test('follow: new lines arrive as written, across rotation, and the stream ends when the container exits', async () => {
    const path = join(dir, 'follow.log');
    await writeFile(path, record('2024-05-01T09:00:00Z', 'stdout', 'F', 'before'));
    const c = runtime.add(new FakeContainer('f1', path));
    refs.set('follower', { containerId: 'f1', logPath: path, running: true });
    const seen: string[] = [];
    let text = '';
    let notify: (() => void) | undefined;
    const waitFor = (s: string) =>
      new Promise<void>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`timed out waiting for ${JSON.stringify(s)} in ${JSON.stringify(text)}`)), 5000);
        const check = () => {
          if (text.includes(s)) {
            clearTimeout(t);
            notify = undefined;
            resolve();
          }
        };
        notify = check;
        check();
      });
    const done = new Promise<number>((resolve, reject) => {
      const req = https.request(`${server.url}/containerLogs/default/web-0/follower?follow=true`, { ca: ca.certPem, ...client, agent: false }, (res) => {
        res.on('data', (b: Buffer) => {
          text += b.toString();
          seen.push(b.toString());
          notify?.();
        });
        res.on('end', () => resolve(res.statusCode ?? 0));
      });
      req.on('error', reject);
      req.end();
    });
    await waitFor('before\n');
    c.emit('stdout', 'live 1\n');
    await waitFor('live 1\n');
    // rotation: the file is renamed and a new one starts
    c.emit('stdout', 'last of the old file\n');
    await rename(path, `${path}.1`);
    await appendFile(path, record('2024-05-01T10:00:01Z', 'stdout', 'F', 'first of the new file'));
    await waitFor('first of the new file\n');
    c.emit('stderr', 'bye\n');
    c.exit(0);
    assert.equal(await done, 200);
    assert.equal(text, 'before\nlive 1\nlast of the old file\nfirst of the new file\nbye\n');
    assert.ok(seen.length >= 3, 'lines were streamed as they came');
  });

  test('follow of an exited container returns what there is', async () => {
    const r = await get('/containerLogs/default/web-0/web?follow=true&tailLines=1');
    assert.deepEqual(r, { status: 200, text: 'four\n' });
  });
});

describe('exec and attach', () => {
  const base = () => `wss://127.0.0.1:${server.port}`;
  const tls = () => ({ ca: ca.certPem, cert: client.cert, key: client.key });
  let running: FakeContainer;
  before(() => {
    running = runtime.add(new FakeContainer('app1', join(dir, 'app.log')));
    refs.set('app', { containerId: 'app1', logPath: join(dir, 'app.log'), running: true });
  });

  const q = (cmd: string[], extra = 'stdout=1&stderr=1') => `${cmd.map((c) => `command=${encodeURIComponent(c)}`).join('&')}&${extra}`;

  test('v5: stdout and stderr on their channels, exit code 3 on channel 3', async () => {
    const r = await streamClient(`${base()}/exec/default/web-0/app?${q(['sh', '-c', 'echo out; echo err >&2; exit 3'])}`, { protocols: ['v5.channel.k8s.io', 'v4.channel.k8s.io'], tls: tls() });
    assert.equal(r.protocol, 'v5.channel.k8s.io');
    assert.equal(r.stdout, 'out\n');
    assert.equal(r.stderr, 'err\n');
    assert.equal(r.channels[0], 1, 'an empty message on stdout announces the streams');
    assert.equal(r.status?.status, 'Failure');
    assert.equal(r.status?.reason, 'NonZeroExitCode');
    assert.deepEqual(r.status?.details?.causes, [{ reason: 'ExitCode', message: '3' }]);
    assert.equal(r.closeCode, 1000);
  });

  test('v5: success is a Success status', async () => {
    const r = await streamClient(`${base()}/exec/default/web-0/app?${q(['echo', 'hi'])}`, { protocols: ['v5.channel.k8s.io'], tls: tls() });
    assert.equal(r.stdout, 'hi\n');
    assert.deepEqual(r.status, { metadata: {}, status: 'Success' });
  });

  test('v5: stdin, and the close signal (255, 0) ends it', async () => {
    const r = await streamClient(`${base()}/exec/default/web-0/app?${q(['cat'], 'stdin=true&stdout=true&stderr=true')}`, {
      protocols: ['v5.channel.k8s.io'],
      tls: tls(),
      onOpen: (send) => {
        send(0, 'hello ');
        send(0, 'world\n');
        send(255, Buffer.from([0]));
      },
    });
    assert.equal(r.stdout, 'hello world\n');
    assert.equal(r.status?.status, 'Success');
  });

  test('v4: the same streams and status; stdin without a close signal', async () => {
    const r = await streamClient(`${base()}/exec/default/web-0/app?${q(['head', '-c', '5'], 'stdin=1&stdout=1&stderr=1')}`, {
      protocols: ['v4.channel.k8s.io'],
      tls: tls(),
      onOpen: (send) => send(0, 'abcdefgh'),
    });
    assert.equal(r.protocol, 'v4.channel.k8s.io');
    assert.equal(r.stdout, 'abcde');
    assert.equal(r.status?.status, 'Success');
    const f = await streamClient(`${base()}/exec/default/web-0/app?${q(['false'])}`, { protocols: ['v4.channel.k8s.io'], tls: tls() });
    assert.deepEqual(f.status?.details?.causes, [{ reason: 'ExitCode', message: '1' }]);
  });

  test('a command that cannot start: InternalError on channel 3', async () => {
    const r = await streamClient(`${base()}/exec/default/web-0/app?${q(['/nonexistent/cmd'])}`, { protocols: ['v5.channel.k8s.io'], tls: tls() });
    assert.equal(r.status?.reason, 'InternalError');
    assert.match(r.status?.message ?? '', /^Internal error occurred: error executing command in container: exec failed: .*ENOENT/);
  });

  test('the client going away kills the exec', async () => {
    const before = runtime.children.size;
    await streamClient(`${base()}/exec/default/web-0/app?${q(['sleep', '30'])}`, {
      protocols: ['v5.channel.k8s.io'],
      tls: tls(),
      onOpen: (_send, ws) => setTimeout(() => ws.close(), 100),
    });
    const deadline = Date.now() + 3000;
    while (runtime.children.size > before && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.equal(runtime.children.size, before);
  });

  test('requests refused before the upgrade, with the reason', async () => {
    const reject = (path: string, protocols = ['v5.channel.k8s.io']) => streamClient(`${base()}${path}`, { protocols, tls: tls() });
    await assert.rejects(reject('/exec/default/web-0/app?stdout=1'), /HTTP 400: you must specify at least one command for the container/);
    await assert.rejects(reject('/exec/default/web-0/app?command=ls'), /HTTP 400: you must specify at least 1 of stdin, stdout, stderr/);
    await assert.rejects(reject('/exec/default/web-0/web?command=ls&stdout=1'), /HTTP 400: container not found \("web"\)/);
    await assert.rejects(reject('/exec/default/web-0/nosuch?command=ls&stdout=1'), /HTTP 404: container "nosuch" not found in pod "web-0"/);
    await assert.rejects(reject('/exec/default/web-0/app?command=ls&stdout=1', ['channel.k8s.io']), /HTTP 400: none of the offered subprotocols \[channel.k8s.io\] is supported/);
    // SPDY (kubectl's fallback) is refused with a plain reason
    const spdy = await new Promise<Resp>((resolve, reject2) => {
      const req = https.request(`${server.url}/exec/default/web-0/app?command=ls&stdout=1`, {
        method: 'POST',
        ca: ca.certPem,
        ...client,
        agent: false,
        headers: { Connection: 'Upgrade', Upgrade: 'SPDY/3.1' },
      });
      req.on('response', (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      });
      req.on('error', reject2);
      req.end();
    });
    assert.equal(spdy.status, 400);
    assert.match(spdy.text, /over WebSocket only/);
    // a plain GET of exec
    assert.equal((await get('/exec/default/web-0/app?command=ls&stdout=1')).status, 400);
  });

  test('attach: the running container output, stdin to it, Success when it exits', async () => {
    const r = await streamClient(`${base()}/attach/default/web-0/app?stdin=1&stdout=1&stderr=1`, {
      protocols: ['v5.channel.k8s.io'],
      tls: tls(),
      onOpen: (send) => {
        send(0, 'typed');
        setTimeout(() => {
          running.emit('stdout', 'tick\n');
          running.emit('stderr', 'warn\n');
          setTimeout(() => running.exit(2), 50);
        }, 100);
      },
    });
    assert.equal(r.stdout, 'tick\n');
    assert.equal(r.stderr, 'warn\n');
    assert.deepEqual(r.status, { metadata: {}, status: 'Success' });
    assert.equal(Buffer.concat(running.stdinData).toString(), 'typed');
  });
});

describe('helpers', () => {
  test('parseCriRecord and formatLogTimestamp', () => {
    const r = parseCriRecord(Buffer.from('2024-05-01T10:00:00.500000000+02:00 stderr P part'));
    assert.equal(r?.stream, 'stderr');
    assert.equal(r?.partial, true);
    assert.equal(r?.content.toString(), 'part');
    assert.equal(r?.timeMs, Date.parse('2024-05-01T08:00:00.500Z'));
    assert.equal(parseCriRecord(Buffer.from('2024-05-01T10:00:00Z stdout F '))?.content.length, 0);
    assert.equal(parseCriRecord(Buffer.from('nonsense')), null);
    assert.equal(parseCriRecord(Buffer.from('2024-05-01T10:00:00Z stdin F x')), null);
    assert.equal(formatLogTimestamp('2024-05-01T10:00:00.000000000Z'), '2024-05-01T10:00:00Z');
    assert.equal(formatLogTimestamp('2024-05-01T10:00:00.010000000Z'), '2024-05-01T10:00:00.01Z');
  });

  test('containerFinder speaks the kubelet words', async () => {
    const pod: Pod = {
      metadata: { name: 'web-0', namespace: 'default' },
      spec: { containers: [{ name: 'web', image: 'x' }, { name: 'side', image: 'x' }] },
      status: { containerStatuses: [{ name: 'side', image: 'x', imageID: '', ready: false, restartCount: 0, state: { waiting: { reason: 'ImagePullBackOff' } } }] },
    };
    const status = { id: 'c1', state: 'running', logPath: '/l' } as unknown as import('../../src/agent/runtime/types.ts').ContainerStatus;
    const find = containerFinder({
      findContainer: async (_ns, name, container, previous) => {
        if (name !== 'web-0') return undefined;
        if (container === 'web' && !previous) return { pod, container: status };
        return { pod };
      },
    });
    assert.deepEqual(await find('default', 'web-0', 'web', false), { containerId: 'c1', logPath: '/l', running: true });
    assert.deepEqual(await find('default', 'web-0', 'web', true), { code: 400, message: 'previous terminated container "web" in pod "web-0" not found' });
    assert.deepEqual(await find('default', 'web-0', 'side', false), { code: 400, message: 'container "side" in pod "web-0" is waiting to start: trying and failing to pull image' });
    assert.deepEqual(await find('default', 'web-0', 'nosuch', false), { code: 404, message: 'container "nosuch" not found in pod "web-0"' });
    assert.deepEqual(await find('default', 'web-1', 'web', false), { code: 404, message: 'pod "web-1" does not exist' });
  });
});
