// Exec and attach over a CRI streaming URL: the remotecommand v4.channel.k8s.io WebSocket as a StreamSession.
import { PassThrough, Writable } from 'node:stream';
import WebSocket from 'ws';
import { RuntimeError, type ExecOptions, type StreamSession } from './types.ts';

// ---------------------------------------------------- remotecommand ----

export interface RemoteStatus {
  status?: string;
  message?: string;
  reason?: string;
  details?: { causes?: { reason?: string; message?: string }[] };
}

/** The exit code a remotecommand status reports (Success → 0, NonZeroExitCode → its code). */
export function exitCodeFromStatus(st: RemoteStatus): number {
  if (st.status === 'Success') return 0;
  const cause = st.details?.causes?.find((c) => c.reason === 'ExitCode');
  if (cause?.message !== undefined && /^\d+$/.test(cause.message)) return Number(cause.message);
  return 126;
}

/**
 * Connect to a CRI streaming URL over WebSocket (v4.channel.k8s.io) and present it as a
 * StreamSession. `onEnd` turns the final status (or its absence) into the exit code.
 */
export function streamSession(
  url: string,
  opts: ExecOptions,
  onEnd: (status: RemoteStatus | null, closedByUs: boolean) => Promise<number> | number,
): Promise<StreamSession> {
  const wsUrl = url.replace(/^http/, 'ws');
  const ws = new WebSocket(wsUrl, ['v4.channel.k8s.io']);
  const stdout = opts.stdout ? new PassThrough() : undefined;
  const stderr = opts.stderr && !opts.tty ? new PassThrough() : undefined;
  let status: RemoteStatus | null = null;
  let statusText = '';
  let closedByUs = false;
  const exitCode = new Promise<number>((resolve) => {
    ws.on('close', () => {
      if (statusText) {
        try {
          status = JSON.parse(statusText) as RemoteStatus;
        } catch {
          status = { status: 'Failure', message: statusText };
        }
      }
      if (status && status.status !== 'Success' && !status.details?.causes?.some((c) => c.reason === 'ExitCode') && status.message) {
        (stderr ?? stdout)?.write(status.message + '\n');
      }
      stdout?.end();
      stderr?.end();
      Promise.resolve(onEnd(status, closedByUs)).then(resolve, () => resolve(status ? exitCodeFromStatus(status) : 1));
    });
  });
  ws.on('message', (data: Buffer, isBinary: boolean) => {
    const buf = isBinary ? data : Buffer.from(data.toString(), 'utf8');
    if (buf.length === 0) return;
    const channel = buf[0];
    const payload = buf.subarray(1);
    if (payload.length === 0) return;
    if (channel === 1) stdout?.write(payload);
    else if (channel === 2) (stderr ?? stdout)?.write(payload);
    else if (channel === 3) statusText += payload.toString('utf8');
  });
  const send = (channel: number, payload: Buffer) => {
    if (ws.readyState === WebSocket.OPEN) ws.send(Buffer.concat([Buffer.from([channel]), payload]));
  };
  const stdin = opts.stdin
    ? new Writable({
        write(chunk: Buffer, _enc, cb) {
          send(0, chunk);
          cb();
        },
        final(cb) {
          // v4 cannot half-close stdin: without a TTY the end of input is the end of the stream.
          if (!opts.tty) {
            closedByUs = true;
            ws.close(1000);
          }
          cb();
        },
      })
    : undefined;
  const session: StreamSession = {
    stdin,
    stdout,
    stderr,
    resize: opts.tty
      ? (width: number, height: number) => send(4, Buffer.from(JSON.stringify({ Width: width, Height: height })))
      : undefined,
    exitCode,
    close: () => {
      closedByUs = true;
      if (ws.readyState === WebSocket.CONNECTING || ws.readyState === WebSocket.OPEN) ws.close(1000);
    },
  };
  ws.on('error', () => {
    // reported through the promise below (before open) or as the end of the streams (after)
  });
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(session));
    ws.once('error', (e) => reject(new RuntimeError('StreamError', `streaming connection to ${url} failed: ${e.message}`)));
    ws.once('unexpected-response', (_req, res) => {
      reject(new RuntimeError('StreamError', `streaming server answered ${res.statusCode} for ${url}`));
      ws.terminate();
    });
  });
}
