// Container logs for the agent endpoint: reads CRI-format log files
// (`<RFC3339Nano> <stdout|stderr> <F|P> <content>` a record) the way the kubelet's ReadLogs does:
// the CRI prefix is stripped (or the timestamp kept with `timestamps`), partial records are
// joined into lines, tailLines / sinceSeconds / sinceTime / limitBytes / stream select, and
// `follow` keeps reading as the file grows: across rotation (the file renamed and a new one
// created, or truncated) and until the container has exited and the file is drained.
import { promises as fsp, watch, type FSWatcher } from 'node:fs';

export interface CriRecord {
  /** The timestamp as written. */
  timestamp: string;
  /** Milliseconds since the epoch (fractional). */
  timeMs: number;
  stream: 'stdout' | 'stderr';
  partial: boolean;
  content: Buffer;
}

const SPACE = 0x20;

/** Parse one CRI record (without its newline); null when the line is not one. */
export function parseCriRecord(line: Buffer): CriRecord | null {
  const s1 = line.indexOf(SPACE);
  if (s1 <= 0) return null;
  const s2 = line.indexOf(SPACE, s1 + 1);
  if (s2 < 0) return null;
  const timestamp = line.subarray(0, s1).toString('latin1');
  const streamText = line.subarray(s1 + 1, s2).toString('latin1');
  if (streamText !== 'stdout' && streamText !== 'stderr') return null;
  const timeMs = parseRfc3339(timestamp);
  if (timeMs === null) return null;
  // The tag is optional in old CRI logs; with it, `F` or `P` (possibly with more ':'-separated tags).
  let partial = false;
  let contentStart = s2 + 1;
  const s3 = line.indexOf(SPACE, s2 + 1);
  const tagEnd = s3 < 0 ? line.length : s3;
  const tag = line.subarray(s2 + 1, tagEnd).toString('latin1');
  const first = tag.split(':')[0];
  if (first === 'P' || first === 'F') {
    partial = first === 'P';
    contentStart = s3 < 0 ? line.length : s3 + 1;
  }
  return { timestamp, timeMs, stream: streamText, partial, content: line.subarray(contentStart) };
}

const RFC3339 = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(\.\d+)?(Z|[+-]\d{2}:\d{2})$/i;

/** Milliseconds (fractional) of an RFC 3339 time with any number of fraction digits; null if malformed. */
export function parseRfc3339(ts: string): number | null {
  const m = RFC3339.exec(ts);
  if (!m) return null;
  const base = Date.parse(`${m[1]}${m[3]!.toUpperCase()}`);
  if (!Number.isFinite(base)) return null;
  const frac = m[2] ? Number(`0${m[2]}`) * 1000 : 0;
  return base + frac;
}

/** The timestamp as Go's RFC3339Nano prints it: trailing zeros of the fraction dropped. */
export function formatLogTimestamp(ts: string): string {
  const m = RFC3339.exec(ts);
  if (!m) return ts;
  let frac = (m[2] ?? '').replace(/0+$/, '');
  if (frac === '.') frac = '';
  return `${m[1]}${frac}${m[3]}`;
}

export interface LogOptions {
  follow: boolean;
  timestamps: boolean;
  tailLines?: number;
  /** Only records at or after this time (ms since the epoch). */
  sinceMs?: number;
  limitBytes?: number;
  stream: 'All' | 'Stdout' | 'Stderr';
}

export interface LogSink {
  /** Returns false when the sink wants the reader to wait (backpressure). */
  write(chunk: Buffer): boolean;
  /** Resolves when the sink can take more. */
  drained(): Promise<void>;
  /** The reader of the sink went away. */
  readonly closed: boolean;
}

export interface FollowControl {
  /** Whether the container still runs (the stream ends when it does not and the file is drained). */
  running(): Promise<boolean>;
  /** Poll interval while following (ms). */
  pollMs: number;
  /** Resolves when the caller gives up (client disconnected). */
  aborted: Promise<void>;
}

/** Turns CRI records into the output kubectl prints. */
class LogWriter {
  private written = 0;
  /** The previous record was partial: the next one continues its line (no timestamp prefix). */
  private continuing = { stdout: false, stderr: false };
  done = false;

  constructor(
    private readonly o: LogOptions,
    private readonly sink: LogSink,
  ) {}

  /** Returns false when the sink asks to wait. */
  write(r: CriRecord): boolean {
    if (this.done) return true;
    const wanted = this.o.stream === 'All' || (this.o.stream === 'Stdout') === (r.stream === 'stdout');
    const cont = this.continuing[r.stream];
    this.continuing[r.stream] = r.partial;
    if (!wanted) return true;
    if (this.o.sinceMs !== undefined && r.timeMs < this.o.sinceMs) return true;
    const parts: Buffer[] = [];
    if (this.o.timestamps && !cont) parts.push(Buffer.from(`${formatLogTimestamp(r.timestamp)} `));
    parts.push(r.content);
    if (!r.partial) parts.push(Buffer.from('\n'));
    let out = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
    if (this.o.limitBytes !== undefined) {
      const room = this.o.limitBytes - this.written;
      if (out.length >= room) {
        out = out.subarray(0, room);
        this.done = true;
      }
    }
    this.written += out.length;
    if (out.length === 0) return true;
    return this.sink.write(out);
  }
}

/**
 * The offset where the last `lines` lines of the file start: a line is a run of records ending
 * with a full (F) record. Reads backwards in blocks; a trailing unterminated record is not counted.
 */
export async function tailStart(fh: fsp.FileHandle, size: number, lines: number): Promise<number> {
  if (lines <= 0) return size;
  const BLOCK = 64 * 1024;
  let pos = size;
  let acc = Buffer.alloc(0);
  while (pos > 0) {
    const start = Math.max(0, pos - BLOCK);
    const block = Buffer.alloc(pos - start);
    await fh.read(block, 0, block.length, start);
    acc = acc.length ? Buffer.concat([block, acc]) : block;
    pos = start;
    const found = lineStartFromEnd(acc, lines, pos === 0);
    if (found !== undefined) return pos + found;
  }
  return 0;
}

/** Within buf, the offset after the (lines+1)-th full record from the end; undefined if buf has too few. */
function lineStartFromEnd(buf: Buffer, lines: number, atFileStart: boolean): number | undefined {
  let end = buf.lastIndexOf(0x0a); // the newline of the last complete record
  let seen = 0;
  while (end >= 0) {
    const prev = end === 0 ? -1 : buf.lastIndexOf(0x0a, end - 1);
    if (prev < 0 && !atFileStart) return undefined; // this record may begin in an earlier block
    const rec = parseCriRecord(buf.subarray(prev + 1, end));
    if (rec && !rec.partial) {
      seen++;
      if (seen > lines) return end + 1;
    }
    if (prev < 0) break;
    end = prev;
  }
  return atFileStart ? 0 : undefined;
}

interface Source {
  fh: fsp.FileHandle;
  ino: number;
  pos: number;
  pending: Buffer;
}

async function openSource(path: string): Promise<Source | null> {
  try {
    const fh = await fsp.open(path, 'r');
    const st = await fh.stat();
    return { fh, ino: st.ino, pos: 0, pending: Buffer.alloc(0) };
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
}

/** Read records from pos to the current end; returns false when the writer is done or the sink closed. */
async function drain(src: Source, w: LogWriter, sink: LogSink): Promise<boolean> {
  const buf = Buffer.alloc(64 * 1024);
  for (;;) {
    const { bytesRead } = await src.fh.read(buf, 0, buf.length, src.pos);
    if (bytesRead === 0) return !w.done && !sink.closed;
    src.pos += bytesRead;
    let data = src.pending.length ? Buffer.concat([src.pending, buf.subarray(0, bytesRead)]) : buf.subarray(0, bytesRead);
    let start = 0;
    for (;;) {
      const nl = data.indexOf(0x0a, start);
      if (nl < 0) break;
      const rec = parseCriRecord(data.subarray(start, nl));
      start = nl + 1;
      if (!rec) continue;
      if (!w.write(rec)) await sink.drained();
      if (w.done || sink.closed) return false;
    }
    data = data.subarray(start);
    src.pending = Buffer.from(data);
  }
}

/**
 * Write a container's log to the sink. Without follow it returns at the end of the file; with
 * follow it returns when the container is no longer running and everything was read, when the
 * limit is reached, or when aborted.
 */
export async function streamLog(path: string, o: LogOptions, sink: LogSink, follow?: FollowControl): Promise<void> {
  const w = new LogWriter(o, sink);
  let src = await openSource(path);
  let watcher: FSWatcher | undefined;
  try {
    if (src && o.tailLines !== undefined) {
      const st = await src.fh.stat();
      src.pos = await tailStart(src.fh, st.size, o.tailLines);
    }
    if (src && !(await drain(src, w, sink))) return;
    if (!o.follow || !follow) return;
    let aborted = false;
    void follow.aborted.then(() => (aborted = true));
    let wake: (() => void) | undefined;
    const nudge = () => wake?.();
    const rewatch = () => {
      watcher?.close();
      watcher = undefined;
      try {
        watcher = watch(path, { persistent: false }, nudge);
        watcher.on('error', () => {});
      } catch {
        // not there yet: polling finds it
      }
    };
    rewatch();
    let lastCheck = 0;
    let exited = false;
    for (;;) {
      if (aborted || sink.closed) return;
      // Has the file been rotated (a new inode at the path) or truncated?
      let st: { ino: number; size: number } | null = null;
      try {
        st = await fsp.stat(path);
      } catch {
        st = null;
      }
      if (src && st && (st.ino !== src.ino || st.size < src.pos)) {
        // Finish the old file, then continue in the new one from its start.
        if (!(await drain(src, w, sink))) return;
        await src.fh.close();
        src = await openSource(path);
        rewatch();
      } else if (!src && st) {
        src = await openSource(path);
        rewatch();
      }
      if (src && !(await drain(src, w, sink))) return;
      if (exited) return; // drained once more after the container exited
      const now = Date.now();
      if (now - lastCheck >= follow.pollMs) {
        lastCheck = now;
        if (!(await follow.running())) {
          exited = true;
          continue; // a last read picks up what the container wrote before it exited
        }
      }
      await new Promise<void>((resolve) => {
        const t = setTimeout(done, follow.pollMs);
        function done(): void {
          clearTimeout(t);
          wake = undefined;
          resolve();
        }
        wake = done;
        void follow.aborted.then(done);
      });
    }
  } finally {
    watcher?.close();
    await src?.fh.close().catch(() => {});
  }
}
