// E2e harness: `kennel up` as a real process with its own data dir, and the real kubectl
// pointed at the kubeconfig it writes. stop() ends the process and removes the data dir.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const BIN = new URL('../../bin/kennel.mjs', import.meta.url).pathname;

export interface KubectlResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface Kennel {
  dataDir: string;
  kubeconfig: string;
  url: string;
  logs(): string;
  kubectl(args: string[], opts?: { input?: string; env?: Record<string, string>; timeoutMs?: number }): Promise<KubectlResult>;
  /** kubectl that must succeed; returns stdout. */
  k(args: string[], opts?: { input?: string; env?: Record<string, string>; timeoutMs?: number }): Promise<string>;
  stop(): Promise<void>;
}

export async function startKennel(extraArgs: string[] = [], opts: { dataDir?: string; command?: 'up' | 'server'; /** node flags for the child, e.g. --cpu-prof */ nodeArgs?: string[] } = {}): Promise<Kennel> {
  const root = opts.dataDir ? undefined : await mkdtemp(join(tmpdir(), 'kennel-e2e-'));
  const dataDir = opts.dataDir ?? join(root!, 'data');
  const child: ChildProcess = spawn(process.execPath, [...(opts.nodeArgs ?? []), BIN, opts.command ?? 'up', '--data-dir', dataDir, '--port', '0', ...((opts.command ?? 'up') === 'up' && !extraArgs.includes('--runtime') ? ['--runtime', 'simulated'] : []), ...extraArgs], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  const deadline = Date.now() + 60_000;
  let url = '';
  while (!url) {
    const m = stdout.match(/is up at (https:\/\/\S+?);/);
    if (m) url = m[1];
    else {
      if (child.exitCode !== null) throw new Error(`kennel up exited ${child.exitCode}: ${stderr.slice(-2000)}`);
      if (Date.now() > deadline) {
        child.kill('SIGKILL');
        throw new Error(`kennel up did not start in time: ${stderr.slice(-2000)}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  const kubeconfig = join(dataDir, 'kubeconfig');
  if (!existsSync(kubeconfig)) throw new Error('kennel up wrote no kubeconfig');

  const kubectl = (args: string[], o: { input?: string; env?: Record<string, string>; timeoutMs?: number } = {}): Promise<KubectlResult> =>
    new Promise((resolve, reject) => {
      const p = spawn('kubectl', args, { env: { ...process.env, KUBECONFIG: kubeconfig, ...o.env }, stdio: ['pipe', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      p.stdout.on('data', (c: Buffer) => (out += c.toString()));
      p.stderr.on('data', (c: Buffer) => (err += c.toString()));
      const t = setTimeout(() => p.kill('SIGKILL'), o.timeoutMs ?? 30_000);
      p.on('error', reject);
      p.on('close', (code) => {
        clearTimeout(t);
        resolve({ code, stdout: out, stderr: err });
      });
      p.stdin.end(o.input ?? '');
    });

  return {
    dataDir,
    kubeconfig,
    url,
    logs: () => stderr,
    kubectl,
    async k(args, o) {
      const r = await kubectl(args, o);
      if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed (${r.code}): ${r.stderr}${r.stdout}`);
      return r.stdout;
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(t);
      }
      if (root) await rm(root, { recursive: true, force: true });
    },
  };
}
