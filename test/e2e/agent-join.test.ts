// `kennel agent` as a user runs it: a second node joins a `kennel up` cluster on the same
// machine (its own data dir), runs a pod pinned to it, is restricted to its own objects, and
// bad joins (a wrong token, a taken node name) fail with one clear line and create nothing.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startKennel, type Kennel } from '../support/kennel.ts';
import { waitFor } from '../support/wait.ts';

const BIN = new URL('../../bin/kennel.mjs', import.meta.url).pathname;

interface AgentProc {
  child: ChildProcess;
  stderr(): string;
  /** Resolves with the exit code (or the signal name). */
  exited: Promise<number | string>;
}

describe('kennel agent joins a kennel up cluster (simulated runtime)', () => {
  let kn: Kennel | undefined;
  let root = '';
  let token = '';
  let localNode = '';
  const agents: AgentProc[] = [];

  function agent(args: string[], dataDir: string): AgentProc {
    const child = spawn(process.execPath, [BIN, 'agent', '--server', kn!.url, '--runtime', 'simulated', '--data-dir', dataDir, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
    child.stdout!.resume();
    const exited = new Promise<number | string>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown')));
    const a = { child, stderr: () => err, exited };
    agents.push(a);
    return a;
  }
  /** The lines a user reads (the structured JSON log lines aside). */
  const humanLines = (text: string) => text.split('\n').filter((l) => l.trim() && !l.startsWith('{'));

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'kennel-e2e-join-'));
    kn = await startKennel([], { dataDir: join(root, 'server') });
    token = (await readFile(join(kn.dataDir, 'join-token'), 'utf8')).trim();
    localNode = await waitFor('the local node', async () => (await kn!.k(['get', 'nodes', '-o', 'jsonpath={.items[0].metadata.name}'])).trim() || undefined, 30_000, 200);
  });

  after(async () => {
    for (const a of agents) {
      if (a.child.exitCode === null && a.child.signalCode === null) {
        a.child.kill('SIGTERM');
        const t = setTimeout(() => a.child.kill('SIGKILL'), 10_000);
        await a.exited;
        clearTimeout(t);
      }
    }
    await kn?.stop();
    if (root) await rm(root, { recursive: true, force: true });
  });

  let n2: AgentProc;
  it('joins as node n2: Ready in kubectl, with its own pod CIDR, labels and taints', async () => {
    n2 = agent(['--token', token, '--node-name', 'n2', '--labels', 'zone=b,disk=ssd', '--taints', 'dedicated=e2e:PreferNoSchedule'], join(root, 'n2'));
    await waitFor('the agent to report it joined', () => /node n2 joined/.test(n2.stderr()) || (n2.child.exitCode !== null ? Promise.reject(new Error(n2.stderr())) : undefined), 30_000, 50);
    await waitFor(
      'node n2 Ready',
      async () => (await kn!.k(['get', 'node', 'n2', '-o', 'jsonpath={.status.conditions[?(@.type=="Ready")].status}'])).trim() === 'True',
      30_000,
      200,
    );
    const node = JSON.parse(await kn!.k(['get', 'node', 'n2', '-o', 'json'])) as { metadata: { labels: Record<string, string> }; spec: { podCIDR?: string; taints?: { key: string; effect: string }[] } };
    assert.equal(node.spec.podCIDR, '10.244.1.0/24'); // the local node holds 10.244.0.0/24
    assert.equal(node.metadata.labels.zone, 'b');
    assert.ok(node.spec.taints?.some((t) => t.key === 'dedicated' && t.effect === 'PreferNoSchedule'));
    // Its credential is a Secret of digests in kube-system.
    assert.match(await kn!.k(['-n', 'kube-system', 'get', 'secret', 'kennel-node-n2', '-o', 'jsonpath={.type}']), /^kennel\.dev\/node-credential$/);
  });

  it('runs a pod pinned to n2', async () => {
    await kn!.k(['run', 'on-n2', '--image=busybox', '--restart=Never', '--overrides={"spec":{"nodeSelector":{"kubernetes.io/hostname":"n2"}}}', '--', 'sleep', '3600']);
    const ip = await waitFor(
      'pod on-n2 Running',
      async () => {
        const out = (await kn!.k(['get', 'pod', 'on-n2', '-o', 'jsonpath={.status.phase} {.spec.nodeName} {.status.podIP}'])).trim();
        return out.startsWith('Running ') ? out : undefined;
      },
      30_000,
      200,
    );
    const [, nodeName, podIP] = ip.split(' ');
    assert.equal(nodeName, 'n2');
    assert.match(podIP ?? '', /^10\.244\.1\.\d+$/);
  });

  it("the agent's node credential is restricted: 403 patching another node, allowed on its own", async () => {
    const kubeconfig = join(root, 'n2', 'node', 'kubeconfig');
    const env = { KUBECONFIG: kubeconfig };
    assert.equal((await kn!.k(['auth', 'whoami', '-o', 'jsonpath={.status.userInfo.username}'], { env })).trim(), 'system:node:n2');
    const other = await kn!.kubectl(['label', 'node', localNode, 'hijacked=yes'], { env });
    assert.notEqual(other.code, 0);
    assert.match(other.stderr, new RegExp(`nodes "${localNode}" is forbidden: User "system:node:n2" cannot patch resource "nodes" in API group "" at the cluster scope`));
    assert.equal((await kn!.k(['get', 'node', localNode, '-o', 'jsonpath={.metadata.labels.hijacked}'])).trim(), '');
    await kn!.k(['label', 'node', 'n2', 'self=ok'], { env });
    const del = await kn!.kubectl(['delete', 'pod', 'on-n2', '--wait=false'], { env }); // bound to n2: allowed
    assert.equal(del.code, 0, del.stderr);
    const secrets = await kn!.kubectl(['-n', 'kube-system', 'get', 'secrets'], { env });
    assert.notEqual(secrets.code, 0);
    assert.match(secrets.stderr, /forbidden/);
  });

  it('a wrong join token: exit non-zero with one clear line, and no Node is created', async () => {
    const wrong = token.replace(/::server:.*/, '::server:not-the-secret');
    const a = agent(['--token', wrong, '--node-name', 'n3'], join(root, 'n3'));
    const code = await a.exited;
    assert.notEqual(code, 0);
    assert.deepEqual(humanLines(a.stderr()).length, 1, a.stderr());
    assert.equal(a.stderr().trim().split('\n').length, 1, a.stderr());
    assert.match(a.stderr(), /^kennel agent: the server refused the join token/);
    const node = await kn!.kubectl(['get', 'node', 'n3']);
    assert.notEqual(node.code, 0);
    assert.match(node.stderr, /NotFound|not found/);
    assert.notEqual((await kn!.kubectl(['-n', 'kube-system', 'get', 'secret', 'kennel-node-n3'])).code, 0);
  });

  it('a token for another cluster (CA hash mismatch): refused before anything is sent', async () => {
    const other = `K10${'ab'.repeat(32)}${token.slice(token.indexOf('::server:'))}`;
    const a = agent(['--token', other, '--node-name', 'n4'], join(root, 'n4'));
    assert.notEqual(await a.exited, 0);
    assert.equal(a.stderr().trim().split('\n').length, 1, a.stderr());
    assert.match(a.stderr(), /does not match the hash in the join token/);
    assert.notEqual((await kn!.kubectl(['get', 'node', 'n4'])).code, 0);
  });

  it('a second agent claiming n2 (another data dir) is refused; n2 keeps running', async () => {
    const a = agent(['--token', token, '--node-name', 'n2'], join(root, 'n2-impostor'));
    assert.notEqual(await a.exited, 0);
    assert.equal(a.stderr().trim().split('\n').length, 1, a.stderr());
    assert.match(a.stderr(), /node name "n2" is taken/);
    assert.equal(n2.child.exitCode, null);
    assert.equal((await kn!.k(['get', 'node', 'n2', '-o', 'jsonpath={.status.conditions[?(@.type=="Ready")].status}'])).trim(), 'True');
  });

  it("refuses the server's data dir, and a data dir another running agent holds", async () => {
    const onServerDir = agent(['--token', token, '--node-name', localNode], kn!.dataDir);
    assert.notEqual(await onServerDir.exited, 0);
    assert.equal(onServerDir.stderr().trim().split('\n').length, 1, onServerDir.stderr());
    assert.match(onServerDir.stderr(), /is the data dir of a kennel server on this machine/);
    const twin = agent(['--token', token, '--node-name', 'n2'], join(root, 'n2'));
    assert.notEqual(await twin.exited, 0);
    assert.match(twin.stderr(), new RegExp(`another kennel agent \\(pid ${n2.child.pid}\\) runs with the data dir`));
  });

  it('stops cleanly on SIGTERM and joins again with its data dir', async () => {
    n2.child.kill('SIGTERM');
    assert.equal(await n2.exited, 0);
    const again = agent(['--token', token, '--node-name', 'n2'], join(root, 'n2'));
    await waitFor('the agent to join again', () => /node n2 joined/.test(again.stderr()) || (again.child.exitCode !== null ? Promise.reject(new Error(again.stderr())) : undefined), 30_000, 50);
    assert.match(again.stderr(), /"msg":"joined the cluster again"/);
    assert.equal((await kn!.k(['get', 'node', 'n2', '-o', 'jsonpath={.spec.podCIDR}'])).trim(), '10.244.1.0/24');
  });
});
