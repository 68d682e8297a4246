// Container output of the process runtime: the agent reads a container's stdout and stderr
// from FIFOs (epoll-driven, through net.Socket, never the libuv thread pool), writes them to
// the container's log file in the CRI format the kubelet reads, and fans the raw bytes out to
// attach sessions.
//
// CRI log format, one record a line:  <RFC3339Nano time> <stdout|stderr> <F|P> <content>
// F ends a line; P is a piece of a line longer than 16 KiB (or a line cut by an agent restart),
// continued by the next record of the same stream.
import { closeSync, constants, createWriteStream, mkdirSync, openSync, type WriteStream } from 'node:fs';
import net from 'node:net';
import { dirname } from 'node:path';
import { PassThrough } from 'node:stream';

export const MAX_LOG_LINE = 16 * 1024;
export type StreamName = 'stdout' | 'stderr';

let lastNs = 0n;
/** Wall-clock time in nanoseconds, strictly increasing within this process. */
function nowNs(): bigint {
  const ms = BigInt(Date.now());
  const sub = process.hrtime.bigint() % 1_000_000n;
  let ns = ms * 1_000_000n + sub;
  if (ns <= lastNs) ns = lastNs + 1n;
  lastNs = ns;
  return ns;
}

/** An RFC 3339 timestamp with nanoseconds in UTC, e.g. 2024-05-01T10:00:00.123456789Z. */
export function criTimestamp(ns: bigint = nowNs()): string {
  const ms = Number(ns / 1_000_000n);
  const iso = new Date(ms).toISOString(); // …T10:00:00.123Z
  const frac = (ns % 1_000_000_000n).toString().padStart(9, '0');
  return `${iso.slice(0, 19)}.${frac}Z`;
}

/** One CRI log record (with its newline). */
export function criLogLine(stream: StreamName, tag: 'F' | 'P', content: Buffer, ts: string = criTimestamp()): Buffer {
  return Buffer.concat([Buffer.from(`${ts} ${stream} ${tag} `), content, Buffer.from('\n')]);
}

/** Cuts one stream's bytes into CRI records. */
export class CriLineSplitter {
  private pending: Buffer = Buffer.alloc(0);

  constructor(
    private readonly stream: StreamName,
    private readonly emit: (record: Buffer) => void,
    private readonly maxLine: number = MAX_LOG_LINE,
  ) {}

  push(chunk: Buffer): void {
    const data = this.pending.length > 0 ? Buffer.concat([this.pending, chunk]) : chunk;
    let start = 0;
    for (;;) {
      const nl = data.indexOf(10, start);
      if (nl < 0) break;
      let line = data.subarray(start, nl);
      while (line.length > this.maxLine) {
        this.emit(criLogLine(this.stream, 'P', line.subarray(0, this.maxLine)));
        line = line.subarray(this.maxLine);
      }
      this.emit(criLogLine(this.stream, 'F', line));
      start = nl + 1;
    }
    let rest = data.subarray(start);
    while (rest.length > this.maxLine) {
      this.emit(criLogLine(this.stream, 'P', rest.subarray(0, this.maxLine)));
      rest = rest.subarray(this.maxLine);
    }
    this.pending = Buffer.from(rest);
  }

  /** At the end of the stream a last unterminated line is a full line. */
  end(): void {
    if (this.pending.length > 0) this.emit(criLogLine(this.stream, 'F', this.pending));
    this.pending = Buffer.alloc(0);
  }

  /** Stop reading mid-stream (agent shutdown): the unterminated rest is a partial record. */
  cut(): void {
    if (this.pending.length > 0) this.emit(criLogLine(this.stream, 'P', this.pending));
    this.pending = Buffer.alloc(0);
  }
}

export interface OutputSubscription {
  stdout: PassThrough;
  /** Absent for tty containers (one stream). */
  stderr?: PassThrough;
  unsubscribe(): void;
}

/** Open a FIFO for reading without blocking and without seeing EOF before a writer came. */
function openFifoReader(path: string): net.Socket {
  const fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    return new net.Socket({ fd, readable: true, writable: false });
  } catch (err) {
    closeSync(fd);
    throw err;
  }
}

/**
 * Pumps a container's FIFOs into its CRI log file and to attach subscribers. `ended` resolves
 * when every writer has gone (EOF on all streams) and the log file is flushed.
 */
export class ContainerOutput {
  readonly ended: Promise<void>;
  private log: WriteStream;
  private readonly sockets: net.Socket[] = [];
  private readonly splitters: CriLineSplitter[] = [];
  private readonly subs = new Set<{ stdout: PassThrough; stderr?: PassThrough }>();
  private open: number;
  private closed = false;
  private endedFlag = false;
  private resolveEnded!: () => void;

  constructor(
    private readonly logPath: string,
    fifos: { stdout: string; stderr?: string },
  ) {
    mkdirSync(dirname(logPath), { recursive: true });
    this.ended = new Promise((r) => (this.resolveEnded = r));
    this.log = createWriteStream(logPath, { flags: 'a' });
    this.log.on('error', () => {
      // The log directory was removed under us (pod deleted): drop output.
    });
    const streams: [StreamName, string][] = [['stdout', fifos.stdout]];
    if (fifos.stderr) streams.push(['stderr', fifos.stderr]);
    this.open = streams.length;
    try {
      for (const [name, path] of streams) this.pump(name, path);
    } catch (err) {
      this.close();
      throw err;
    }
  }

  get isEnded(): boolean {
    return this.endedFlag;
  }

  private pump(name: StreamName, path: string): void {
    const splitter = new CriLineSplitter(name, (rec) => {
      if (!this.log.destroyed) this.log.write(rec);
    });
    this.splitters.push(splitter);
    const sock = openFifoReader(path);
    this.sockets.push(sock);
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      if (!this.closed) splitter.end();
      for (const s of this.subs) {
        const out = name === 'stdout' ? s.stdout : s.stderr;
        out?.end();
      }
      if (--this.open === 0) this.finishLog();
    };
    sock.on('data', (chunk: Buffer) => {
      splitter.push(chunk);
      for (const s of this.subs) {
        const out = name === 'stdout' ? s.stdout : s.stderr;
        out?.write(chunk);
      }
    });
    sock.on('end', finish);
    sock.on('close', finish);
    sock.on('error', finish);
  }

  private finishLog(): void {
    if (this.log.destroyed || this.log.writableEnded) {
      this.markEnded();
      return;
    }
    this.log.end(() => this.markEnded());
    this.log.once('error', () => this.markEnded());
  }

  private markEnded(): void {
    if (this.endedFlag) return;
    this.endedFlag = true;
    this.resolveEnded();
  }

  /** Continue in a new file at the log path (after log rotation renamed the current one). */
  reopen(): void {
    if (this.closed || this.endedFlag) return;
    const old = this.log;
    mkdirSync(dirname(this.logPath), { recursive: true });
    this.log = createWriteStream(this.logPath, { flags: 'a' });
    this.log.on('error', () => {});
    old.end();
  }

  /** Receive the raw output from now on (attach). */
  subscribe(withStderr: boolean): OutputSubscription {
    const sub: { stdout: PassThrough; stderr?: PassThrough } = { stdout: new PassThrough() };
    if (withStderr) sub.stderr = new PassThrough();
    if (this.endedFlag) {
      sub.stdout.end();
      sub.stderr?.end();
    } else {
      this.subs.add(sub);
    }
    return {
      ...sub,
      unsubscribe: () => {
        this.subs.delete(sub);
        sub.stdout.end();
        sub.stderr?.end();
      },
    };
  }

  /** Stop reading (agent shutdown or container removal); the writers keep their FIFOs. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const s of this.splitters) s.cut();
    for (const sock of this.sockets) sock.destroy();
    for (const s of this.subs) {
      s.stdout.end();
      s.stderr?.end();
    }
    this.subs.clear();
    this.finishLog();
  }
}
