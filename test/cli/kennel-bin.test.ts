// The `kennel` command as a user runs it: node bin/kennel.mjs …
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import https from 'node:https';
import { mkdtemp, rm, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import YAML from 'yaml';

const BIN = new URL('../../bin/kennel.mjs', import.meta.url).pathname;

function kennel(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 30_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('kennel command line', () => {
  it('a bad flag: one line on stderr, exit code 2, no stack trace', () => {
    const r = kennel(['up', '--port', 'notanumber']);
    assert.equal(r.status, 2);
    assert.equal(r.stdout, '');
    assert.equal(r.stderr, `kennel up: --port must be a port number from 0 to 65535, got "notanumber" (see 'kennel up --help')\n`);
  });

  it('kennel agent with an unreachable server: one plain line, exit 1', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kennel-agent-'));
    try {
      const r = kennel(['agent', '--server', 'https://127.0.0.1:1', '--token', `K10${'0'.repeat(64)}::server:abc`, '--data-dir', dir]);
      assert.equal(r.status, 1);
      assert.equal(r.stderr.trim().split('\n').length, 1);
      assert.match(r.stderr, /^kennel agent: cannot reach the API server at https:\/\/127\.0\.0\.1:1/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('kennel agent with a malformed token: usage error, exit 2', () => {
    const r = kennel(['agent', '--server', 'https://127.0.0.1:1', '--token', 'nonsense']);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /^kennel agent: --token is not a join token/);
  });

  it('kennel version', () => {
    const r = kennel(['version']);
    assert.equal(r.status, 0);
    assert.match(r.stdout, /^kennel v\d+\.\d+\.\d+ \(Kubernetes API v1\.32\)\n$/);
  });
});

describe('kennel up', () => {
  const children: ChildProcess[] = [];
  const dirs: string[] = [];
  after(async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  it('serves with the kubeconfig it writes, prints the join token, and stops cleanly on SIGTERM', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kennel-up-'));
    dirs.push(dir);
    const dataDir = join(dir, 'data');
    const child = spawn(process.execPath, [BIN, 'up', '--data-dir', dataDir, '--port', '0', '--runtime', 'simulated'], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (c: Buffer) => (stdout += c));
    child.stderr!.on('data', (c: Buffer) => (stderr += c));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));

    // Wait for the two human lines.
    const deadline = Date.now() + 30_000;
    while (!/join token.*K10[0-9a-f]{64}::server:\S+\n/.test(stdout)) {
      if (child.exitCode !== null) assert.fail(`kennel up exited ${child.exitCode}: ${stderr}`);
      if (Date.now() > deadline) assert.fail(`kennel up did not start: ${stderr}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    const lines = stdout.trim().split('\n');
    assert.equal(lines.length, 2);
    assert.ok(lines[0]!.includes(join(dataDir, 'kubeconfig')), lines[0]);
    assert.equal(lines[1]!.split(' ').pop(), (await readFile(join(dataDir, 'join-token'), 'utf8')).trim());
    // Logs are structured JSON lines on stderr.
    for (const line of stderr.trim().split('\n')) assert.doesNotThrow(() => JSON.parse(line), line);

    const kc = YAML.parse(await readFile(join(dataDir, 'kubeconfig'), 'utf8')) as {
      clusters: { cluster: { server: string; 'certificate-authority-data': string } }[];
      users: { user: { token: string } }[];
    };
    const ca = Buffer.from(kc.clusters[0]!.cluster['certificate-authority-data'], 'base64').toString();
    const status = (path: string, token?: string) =>
      new Promise<number>((resolve, reject) => {
        https
          .get(`${kc.clusters[0]!.cluster.server}${path}`, { ca, headers: token ? { authorization: `Bearer ${token}` } : {} }, (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
          })
          .on('error', reject);
      });
    assert.equal(await status('/api/v1/namespaces', kc.users[0]!.user.token), 200);
    assert.equal(await status('/api/v1/namespaces'), 401);

    child.kill('SIGTERM');
    assert.equal(await exited, 0);
    assert.match(stderr, /"msg":"shutting down"/);
  });
});
