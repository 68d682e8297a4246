// Test support for the agent endpoint: a Runtime whose exec runs real child processes and whose
// containers are scripted streams, CRI log files, certificates, and a WebSocket client that
// speaks the channel protocols.
import { spawn } from 'node:child_process';
import { PassThrough } from 'node:stream';
import { appendFileSync } from 'node:fs';
import WebSocket from 'ws';
import type { ContainerStatus, ExecOptions, ExecSyncResult, Runtime, StreamSession } from '../../src/agent/runtime/types.ts';

/** A container of the fake runtime: its output is written by the test, it "exits" when told. */
export class FakeContainer {
  readonly stdout = new Set<PassThrough>();
  readonly stderr = new Set<PassThrough>();
  readonly stdinData: Buffer[] = [];
  state: 'running' | 'exited' = 'running';
  private readonly waiters = new Set<(code: number) => void>();
  constructor(
    readonly id: string,
    readonly logPath: string,
  ) {}
  /** Write output: to attached sessions and, as CRI records, to the log file. */
  emit(stream: 'stdout' | 'stderr', text: string): void {
    for (const s of stream === 'stdout' ? this.stdout : this.stderr) s.write(text);
    for (const line of text.split('\n').slice(0, -1)) appendFileSync(this.logPath, `${new Date().toISOString().replace('Z', '000000Z')} ${stream} F ${line}\n`);
  }
  exit(code: number): void {
    this.state = 'exited';
    for (const w of this.waiters) w(code);
    for (const s of [...this.stdout, ...this.stderr]) s.end();
  }
  waitExit(): Promise<number> {
    return new Promise((r) => this.waiters.add(r));
  }
}

export class FakeRuntime implements Pick<Runtime, 'exec' | 'attach' | 'containerStatus' | 'execSync'> {
  readonly containers = new Map<string, FakeContainer>();
  readonly children = new Set<import('node:child_process').ChildProcess>();

  add(c: FakeContainer): FakeContainer {
    this.containers.set(c.id, c);
    return c;
  }

  async containerStatus(id: string): Promise<ContainerStatus | null> {
    const c = this.containers.get(id);
    if (!c) return null;
    return {
      id,
      sandboxId: 's',
      name: id,
      attempt: 0,
      image: 'x',
      imageRef: 'x',
      state: c.state,
      createdAt: 0,
      startedAt: 0,
      finishedAt: 0,
      exitCode: 0,
      reason: '',
      message: '',
      logPath: c.logPath,
      labels: {},
      annotations: {},
    };
  }

  async execSync(_id: string, cmd: string[], timeoutSeconds: number): Promise<ExecSyncResult> {
    const s = await this.exec(_id, cmd, { stdin: false, stdout: true, stderr: true, tty: false });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    s.stdout!.on('data', (b: Buffer) => out.push(b));
    s.stderr!.on('data', (b: Buffer) => err.push(b));
    let timedOut = false;
    const t = setTimeout(() => {
      timedOut = true;
      s.close();
    }, timeoutSeconds * 1000);
    const exitCode = await s.exitCode;
    clearTimeout(t);
    return { exitCode, stdout: Buffer.concat(out), stderr: Buffer.concat(err), timedOut };
  }

  /** exec spawns the command as a host process. */
  async exec(_id: string, cmd: string[], opts: ExecOptions): Promise<StreamSession> {
    const child = spawn(cmd[0]!, cmd.slice(1), { stdio: [opts.stdin ? 'pipe' : 'ignore', opts.stdout ? 'pipe' : 'ignore', opts.stderr ? 'pipe' : 'ignore'] });
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', () => resolve());
      child.once('error', (e) => reject(new Error(`exec failed: ${e.message}`)));
    });
    this.children.add(child);
    const exitCode = new Promise<number>((resolve) =>
      child.once('close', (code, sig) => {
        this.children.delete(child);
        resolve(code ?? (sig ? 137 : 255));
      }),
    );
    return {
      stdin: child.stdin ?? undefined,
      stdout: child.stdout ?? undefined,
      stderr: child.stderr ?? undefined,
      exitCode,
      close: () => {
        child.kill('SIGKILL');
      },
    };
  }

  /** attach subscribes to a FakeContainer's output. */
  async attach(id: string, opts: ExecOptions): Promise<StreamSession> {
    const c = this.containers.get(id);
    if (!c || c.state !== 'running') throw new Error(`container ${id} is not running`);
    const out = new PassThrough();
    const err = new PassThrough();
    if (opts.stdout) c.stdout.add(out);
    if (opts.stderr) c.stderr.add(err);
    const stdin = opts.stdin ? new PassThrough() : undefined;
    stdin?.on('data', (b: Buffer) => c.stdinData.push(b));
    let detach!: (code: number) => void;
    const detached = new Promise<number>((r) => (detach = r));
    return {
      stdin,
      stdout: opts.stdout ? out : undefined,
      stderr: opts.stderr ? err : undefined,
      exitCode: Promise.race([c.waitExit(), detached]),
      close: () => {
        c.stdout.delete(out);
        c.stderr.delete(err);
        out.end();
        err.end();
        detach(0);
      },
    };
  }

  killAll(): void {
    for (const c of this.children) c.kill('SIGKILL');
  }
}

export interface StreamResult {
  protocol: string;
  stdout: string;
  stderr: string;
  /** The Status JSON received on channel 3 (parsed), if any. */
  status?: { status?: string; reason?: string; message?: string; details?: { causes?: { reason?: string; message?: string }[] } };
  closeCode?: number;
  /** Channels of the messages received, in order (the first is the empty "ready" message). */
  channels: number[];
}

export interface StreamClientOptions {
  protocols: string[];
  tls?: { ca: string; cert?: string; key?: string };
  headers?: Record<string, string>;
  /** Called once the socket is open; use send() to write stdin/resize frames. */
  onOpen?: (send: (channel: number, data: Buffer | string) => void, ws: WebSocket) => void;
  /** Called for each stdout chunk. */
  onStdout?: (text: string, send: (channel: number, data: Buffer | string) => void) => void;
}

/** Open a WebSocket and collect the channel output until the server closes it. */
export function streamClient(url: string, o: StreamClientOptions): Promise<StreamResult> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, o.protocols, { ...(o.tls ?? {}), headers: o.headers, perMessageDeflate: false });
    const r: StreamResult = { protocol: '', stdout: '', stderr: '', channels: [] };
    const send = (channel: number, data: Buffer | string) => ws.send(Buffer.concat([Buffer.from([channel]), Buffer.isBuffer(data) ? data : Buffer.from(data)]));
    let statusText = '';
    ws.on('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => reject(Object.assign(new Error(`HTTP ${res.statusCode}: ${body}`), { statusCode: res.statusCode, body })));
    });
    ws.on('error', reject);
    ws.on('open', () => {
      r.protocol = ws.protocol;
      o.onOpen?.(send, ws);
    });
    ws.on('message', (data: Buffer) => {
      const ch = data[0]!;
      r.channels.push(ch);
      const text = data.subarray(1).toString('utf8');
      if (ch === 1) {
        r.stdout += text;
        o.onStdout?.(text, send);
      } else if (ch === 2) r.stderr += text;
      else if (ch === 3) statusText += text;
    });
    ws.on('close', (code) => {
      r.closeCode = code;
      if (statusText) r.status = JSON.parse(statusText) as StreamResult['status'];
      resolve(r);
    });
  });
}
