// The process runtime's state: paths, persistence, loading and adoption of records, and how containers end.
import { openSync, constants, existsSync, mkdirSync, readFileSync, readdirSync, statSync } from 'node:fs';
import net from 'node:net';
import { join, resolve } from 'node:path';
import { silentLogger, type Logger } from '../../util/log.ts';
import { ContainerOutput } from './process-log.ts';
import { PodIpRegistry } from './process-ips.ts';
import { exitCodeOf, type ExecContext } from './process-exec.ts';
import { DEFAULT_PATH, bootId, descendants, isProcessAlive, lookPath, readJson, readProcStat, signal, writeJsonAtomic } from './process-util.ts';
import {
  agentProcessGroup,
  delay,
  errnoMessage,
  exitReason,
  type ContainerRecord,
  type Live,
  type SandboxRecord,
} from './process-containers.ts';
import { RuntimeError, type ImageRef } from './types.ts';

export interface ProcessRuntimeOptions {
  /** kennel's data dir; the runtime keeps its state in <dataDir>/process-runtime. */
  dataDir: string;
  /**
   * The pod IP registry directory. Agents on one host that must not hand out the same
   * 127.x.y.z address share one (e.g. /run/kennel/ips); default <stateDir>/ips.
   */
  ipRegistryDir?: string;
  logger?: Logger;
  now?: () => number;
  /** How often running containers are checked for an exit the agent did not see (ms); default 1000. */
  pollIntervalMs?: number;
}

/** The state half of ProcessRuntime (process.ts): everything but the Runtime methods. */
export class ProcessRuntimeBase {
  /** <dataDir>/process-runtime */
  readonly stateDir: string;
  protected readonly log: Logger;
  protected readonly now: () => number;
  protected readonly ips: PodIpRegistry;
  protected readonly sandboxes = new Map<string, SandboxRecord>();
  protected readonly containers = new Map<string, Live>();
  protected images: Record<string, ImageRef> = {};
  protected readonly timer: NodeJS.Timeout;
  protected readonly isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  protected closed = false;

  constructor(opts: ProcessRuntimeOptions) {
    this.stateDir = resolve(opts.dataDir, 'process-runtime');
    this.log = opts.logger ?? silentLogger;
    this.now = opts.now ?? Date.now;
    for (const d of ['sandboxes', 'pods', 'containers']) mkdirSync(join(this.stateDir, d), { recursive: true });
    this.takeLock();
    this.ips = new PodIpRegistry(opts.ipRegistryDir ?? join(this.stateDir, 'ips'), this.stateDir);
    this.images = readJson<Record<string, ImageRef>>(join(this.stateDir, 'images.json')) ?? {};
    this.load();
    // Referenced: a runtime with containers to watch keeps the event loop alive until close().
    this.timer = setInterval(() => this.poll(), opts.pollIntervalMs ?? 1000);
  }

  // -- paths and persistence

  protected sandboxFile(id: string): string {
    return join(this.stateDir, 'sandboxes', `${id}.json`);
  }
  protected podDir(id: string): string {
    return join(this.stateDir, 'pods', id);
  }
  protected containerDir(id: string): string {
    return join(this.stateDir, 'containers', id);
  }

  protected saveSandbox(sb: SandboxRecord): void {
    if (!this.closed) writeJsonAtomic(this.sandboxFile(sb.id), sb);
  }
  protected saveContainer(rec: ContainerRecord): void {
    if (this.closed || !existsSync(this.containerDir(rec.id))) return;
    writeJsonAtomic(join(this.containerDir(rec.id), 'container.json'), rec);
  }

  protected takeLock(): void {
    const lock = join(this.stateDir, 'runtime.lock');
    const held = readJson<{ pid: number; start: number }>(lock);
    if (held && held.pid !== process.pid && isProcessAlive(held.pid, held.start)) {
      throw new Error(`another kennel agent (pid ${held.pid}) uses the process runtime state in ${this.stateDir}`);
    }
    writeJsonAtomic(lock, { pid: process.pid, start: readProcStat(process.pid)?.startTime ?? 0 });
  }

  /** Read every record back and adopt the containers that still run. */
  protected load(): void {
    for (const f of readdirSync(join(this.stateDir, 'sandboxes'))) {
      if (!f.endsWith('.json')) continue;
      const sb = readJson<SandboxRecord>(join(this.stateDir, 'sandboxes', f));
      if (sb?.id) this.sandboxes.set(sb.id, sb);
    }
    for (const id of readdirSync(join(this.stateDir, 'containers'))) {
      const rec = readJson<ContainerRecord>(join(this.containerDir(id), 'container.json'));
      if (!rec?.id) continue;
      const c: Live = { rec, exitWaiters: new Set() };
      this.containers.set(rec.id, c);
      if (rec.state !== 'running') continue;
      if (this.alive(c)) this.adopt(c);
      else void this.finalize(c);
    }
  }

  protected adopt(c: Live): void {
    const { rec } = c;
    const dir = this.containerDir(rec.id);
    try {
      c.output = new ContainerOutput(rec.logPath, { stdout: join(dir, 'out'), stderr: rec.config.tty ? undefined : join(dir, 'err') });
      c.output.ended.then(() => this.check(c));
    } catch (err) {
      this.log.warn('cannot read the output of an adopted container', { container: rec.id, err: errnoMessage(err) });
    }
    if (rec.config.stdin) {
      if (rec.config.stdinOnce) {
        // The agent that held the container's stdin is gone: the program has seen EOF.
        rec.stdinClosed = true;
        this.saveContainer(rec);
      } else {
        c.stdin = this.openStdin(rec);
      }
    }
    this.log.info('adopted running container', { container: rec.id, name: rec.config.name, pid: rec.pid });
  }

  protected alive(c: Live): boolean {
    return c.rec.bootId === bootId() && isProcessAlive(c.rec.pid, c.rec.pidStart);
  }

  /** Notice exits of running containers (the agent's own children report at once; adopted ones here). */
  protected poll(): void {
    for (const c of this.containers.values()) this.check(c);
  }

  protected check(c: Live): void {
    if (c.rec.state === 'running' && !this.alive(c)) void this.finalize(c);
  }

  /** Record how a container ended: the shim's exit file, else what we know. */
  protected finalize(c: Live): Promise<void> {
    if (c.finalizing) return c.finalizing;
    c.finalizing = (async () => {
      if (c.output && !c.output.isEnded) await Promise.race([c.output.ended, delay(500)]);
      const { rec } = c;
      if (rec.state !== 'running') return;
      const dir = this.containerDir(rec.id);
      let code: number | null = null;
      let finishedAt = this.now();
      try {
        const text = readFileSync(join(dir, 'exit'), 'utf8').trim();
        if (/^\d+$/.test(text)) {
          code = Number(text);
          if (!c.child) finishedAt = Math.min(finishedAt, Math.floor(statSync(join(dir, 'exit')).mtimeMs));
        }
      } catch {
        // no exit file
      }
      let message = '';
      if (code === null) {
        if (c.killedByUs) code = 137;
        else if (c.childExit) code = exitCodeOf(c.childExit.code, c.childExit.signal);
        else {
          code = 137;
          message = 'the process group ended while no agent watched it and left no exit status';
        }
        if (code === 125) message = this.shimLog(rec.id) || 'the container shim could not open its streams';
      }
      rec.state = 'exited';
      rec.exitCode = code;
      rec.reason = exitReason(code);
      rec.message = message;
      rec.finishedAt = finishedAt;
      if (!rec.startedAt) rec.startedAt = finishedAt;
      this.saveContainer(rec);
      c.stdin?.destroy();
      c.stdin = undefined;
      for (const w of c.exitWaiters) w(code);
      c.exitWaiters.clear();
      this.log.info('container exited', { container: rec.id, name: rec.config.name, exitCode: code });
    })();
    return c.finalizing;
  }

  protected shimLog(id: string): string {
    try {
      return readFileSync(join(this.containerDir(id), 'shim.log'), 'utf8').trim().slice(-1024);
    } catch {
      return '';
    }
  }

  /** Bring a container's state up to date before reporting it. */
  protected async refresh(c: Live): Promise<void> {
    if (c.rec.state === 'running' && (c.finalizing || !this.alive(c))) await this.finalize(c);
  }

  protected openStdin(rec: ContainerRecord): net.Socket | undefined {
    try {
      // Read+write: never blocks, and the program's open of the FIFO finds a writer.
      const fd = openSync(join(this.containerDir(rec.id), 'in'), constants.O_RDWR | constants.O_NONBLOCK);
      const s = new net.Socket({ fd, readable: false, writable: true });
      s.on('error', () => {});
      return s;
    } catch (err) {
      this.log.warn('cannot open the stdin of a container', { container: rec.id, err: errnoMessage(err) });
      return undefined;
    }
  }

  /** Record a start failure as containerd does (exited, 128, StartError) and throw. */
  protected failStart(c: Live, message: string): never {
    const { rec } = c;
    const t = this.now();
    rec.state = 'exited';
    rec.exitCode = 128;
    rec.reason = 'StartError';
    rec.message = message;
    rec.startedAt = t;
    rec.finishedAt = t;
    this.saveContainer(rec);
    throw new RuntimeError('RunContainerError', message);
  }

  /** SIGKILL the container's process group and everything below its shim, wherever it went. */
  protected killAll(c: Live): void {
    const { rec } = c;
    if (!this.alive(c) && rec.state !== 'running') return;
    c.killedByUs = true;
    const mine = agentProcessGroup();
    const groups = new Set<number>([rec.pid]);
    const pids: number[] = [];
    if (this.alive(c)) {
      for (const p of descendants(rec.pid)) {
        pids.push(p.pid);
        if (p.pgrp > 1 && p.pgrp !== mine) groups.add(p.pgrp);
      }
    }
    for (const g of groups) signal(-g, 'SIGKILL');
    for (const p of pids) signal(p, 'SIGKILL');
    if (this.alive(c)) signal(rec.pid, 'SIGKILL');
  }

  protected async waitExit(c: Live, ms: number): Promise<boolean> {
    const deadline = Date.now() + ms;
    for (;;) {
      if (!this.alive(c)) return true;
      const left = deadline - Date.now();
      if (left <= 0) return false;
      await delay(Math.min(20, left));
    }
  }

  protected running(id: string): Live {
    const c = this.containers.get(id);
    if (!c) throw new RuntimeError('NotFound', `container ${id} not found`);
    if (c.rec.state !== 'running' || !this.alive(c)) {
      if (c.rec.state === 'running') void this.finalize(c);
      throw new RuntimeError('NotRunning', `container ${id} is not running`);
    }
    return c;
  }

  protected execContext(c: Live, cmd: string[]): ExecContext {
    if (cmd.length === 0) throw new RuntimeError('ExecError', 'no command given to exec');
    const { rec } = c;
    const found = lookPath(cmd[0]!, rec.env.PATH ?? DEFAULT_PATH, rec.cwd);
    if ('error' in found) throw new RuntimeError('ExecError', `exec failed: unable to start container process: ${found.error}`);
    return { cwd: rec.cwd, env: rec.env, uid: rec.uid, gid: rec.gid };
  }
}
