// exec and attach over WebSocket, as the kubelet's streaming server speaks them to the API server
// (and kubectl): subprotocols v5.channel.k8s.io and v4.channel.k8s.io. Every binary message
// starts with a channel byte: 0 stdin, 1 stdout, 2 stderr, 3 error (a Status JSON when the
// session ends; the exit code in details.causes[reason=ExitCode]), 4 resize ({"Width","Height"}),
// and in v5, 255 + channel closes that channel (stdin end).
import type { WebSocket } from 'ws';
import type { Readable } from 'node:stream';
import type { Logger } from '../util/log.ts';
import type { StreamSession } from './runtime/types.ts';

export const V5_PROTOCOL = 'v5.channel.k8s.io';
export const V4_PROTOCOL = 'v4.channel.k8s.io';
/** In preference order. */
export const STREAM_PROTOCOLS = [V5_PROTOCOL, V4_PROTOCOL];

export const CH_STDIN = 0;
export const CH_STDOUT = 1;
export const CH_STDERR = 2;
export const CH_ERROR = 3;
export const CH_RESIZE = 4;
export const CH_CLOSE = 255;

/** The subprotocol the server picks from what the client offers (null: none it speaks). */
export function pickProtocol(offered: Iterable<string>): string | null {
  const set = new Set([...offered].map((p) => p.trim()));
  for (const p of STREAM_PROTOCOLS) if (set.has(p)) return p;
  return null;
}

/** The Status a finished exec reports on the error channel, as the kubelet words it. */
export function exitStatus(exitCode: number, command?: string[]): Record<string, unknown> {
  if (exitCode === 0) return { metadata: {}, status: 'Success' };
  const what = command ? `command '${command.join(' ')}' exited with ${exitCode}` : `exit code ${exitCode}`;
  return {
    metadata: {},
    status: 'Failure',
    message: `command terminated with non-zero exit code: ${what}`,
    reason: 'NonZeroExitCode',
    details: { causes: [{ reason: 'ExitCode', message: String(exitCode) }] },
  };
}

/** The Status for a session that could not run (InternalError, as the kubelet reports it). */
export function internalErrorStatus(message: string): Record<string, unknown> {
  return {
    metadata: {},
    status: 'Failure',
    message: `Internal error occurred: ${message}`,
    reason: 'InternalError',
    details: { causes: [{ message }] },
    code: 500,
  };
}

export interface StreamRequest {
  kind: 'exec' | 'attach';
  command: string[];
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
  tty: boolean;
}

/** How many sends may wait in the socket before output streams are paused. */
const MAX_PENDING_SENDS = 64;
/** After the process exited, how long its output may still drain before the status is sent. */
const DRAIN_MS = 2000;
/**
 * The first output frame waits until this long after the upgrade. kubectl (client-go's
 * WebSocket executor) starts reading frames before it has registered its streams and drops
 * frames for streams it does not know yet ("Unknown stream id 1, discarding message"); a
 * command that prints at once could lose its output on a busy machine. Output produced
 * meanwhile stays buffered in the session's streams.
 */
const FIRST_OUTPUT_DELAY_MS = 50;

/**
 * Relay one upgraded WebSocket to a runtime session. `open` starts the session (exec or attach);
 * a failure to start is reported on the error channel. Resolves when the socket is closed.
 */
export async function serveStream(ws: WebSocket, req: StreamRequest, open: () => Promise<StreamSession>, log: Logger): Promise<void> {
  const v5 = ws.protocol === V5_PROTOCOL;
  const upgradedAt = Date.now();
  let session: StreamSession | undefined;
  let clientGone = false;
  let stdinEnded = false;
  const early: Buffer[] = [];
  let pending = 0;
  const paused = new Set<Readable>();

  const send = (channel: number, data: Buffer | string): void => {
    if (ws.readyState !== ws.OPEN) return;
    const body = typeof data === 'string' ? Buffer.from(data) : data;
    const frame = Buffer.allocUnsafe(body.length + 1);
    frame[0] = channel;
    body.copy(frame, 1);
    pending++;
    ws.send(frame, { binary: true }, () => {
      pending--;
      if (pending < MAX_PENDING_SENDS / 2 && paused.size > 0) {
        for (const r of paused) r.resume();
        paused.clear();
      }
    });
  };

  const onMessage = (msg: Buffer): void => {
    if (msg.length === 0) return;
    const ch = msg[0]!;
    const payload = msg.subarray(1);
    switch (ch) {
      case CH_STDIN:
        if (!stdinEnded && payload.length > 0) session?.stdin?.write(payload);
        return;
      case CH_RESIZE: {
        try {
          const size = JSON.parse(payload.toString('utf8')) as { Width?: number; Height?: number };
          if (typeof size.Width === 'number' && typeof size.Height === 'number') session?.resize?.(size.Width, size.Height);
        } catch {
          log.debug('malformed resize message', { data: payload.toString('utf8').slice(0, 100) });
        }
        return;
      }
      case CH_CLOSE:
        if (v5 && payload[0] === CH_STDIN && !stdinEnded) {
          stdinEnded = true;
          session?.stdin?.end();
        }
        return;
      default:
        return;
    }
  };

  const closed = new Promise<void>((resolve) => {
    ws.on('close', () => {
      clientGone = true;
      resolve();
    });
  });
  ws.on('error', (e) => log.debug('stream socket error', { error: e.message }));
  ws.on('message', (data: Buffer | ArrayBuffer | Buffer[]) => {
    const buf = Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
    if (!session) early.push(buf);
    else onMessage(buf);
  });

  // Tell the client the streams are ready: an empty message on the lowest channel it reads.
  send(req.stdout ? CH_STDOUT : req.stderr ? CH_STDERR : CH_ERROR, Buffer.alloc(0));

  try {
    session = await open();
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    send(CH_ERROR, JSON.stringify(internalErrorStatus(`error executing command in container: ${message}`)));
    ws.close(1000);
    await closed;
    return;
  }
  if (clientGone) {
    session.close();
    return;
  }
  session.stdin?.on('error', () => {
    // the program closed its stdin
  });
  for (const m of early.splice(0)) onMessage(m);

  // Output before FIRST_OUTPUT_DELAY_MS is held, in order, and sent when that time has come.
  const held: [number, Buffer][] = [];
  let release: Promise<void> | undefined;
  const settled = (): Promise<void> => {
    release ??= new Promise<void>((resolve) => {
      setTimeout(() => {
        for (const [channel, b] of held.splice(0)) send(channel, b);
        resolve();
      }, Math.max(0, FIRST_OUTPUT_DELAY_MS - (Date.now() - upgradedAt)));
    });
    return release;
  };
  const sendOutput = (channel: number, b: Buffer): void => {
    if (held.length > 0 || Date.now() - upgradedAt < FIRST_OUTPUT_DELAY_MS) {
      held.push([channel, b]);
      void settled();
    } else send(channel, b);
  };

  const pump = (r: Readable | undefined, channel: number): Promise<void> => {
    if (!r) return Promise.resolve();
    return new Promise((resolve) => {
      r.on('data', (b: Buffer) => {
        sendOutput(channel, b);
        if (pending >= MAX_PENDING_SENDS) {
          r.pause();
          paused.add(r);
        }
      });
      r.once('end', () => resolve());
      r.once('close', () => resolve());
      r.once('error', () => resolve());
    });
  };
  const outputs = Promise.all([pump(session.stdout, CH_STDOUT), pump(session.stderr, CH_STDERR)]);
  let finished = false;
  void closed.then(() => {
    if (!finished) session!.close();
  });
  const code = await Promise.race([session.exitCode, closed.then(() => null)]);
  if (code === null) {
    // The client went away: the session was closed above.
    return;
  }
  await Promise.race([outputs, new Promise((r) => setTimeout(r, DRAIN_MS).unref())]);
  finished = true;
  await settled();
  const status = req.kind === 'exec' ? exitStatus(code, req.command) : { metadata: {}, status: 'Success' };
  send(CH_ERROR, JSON.stringify(status));
  if (!stdinEnded) session.stdin?.end();
  ws.close(1000);
  await closed;
}
