// The node agent's kubelet-style HTTPS endpoint, which only the API server calls:
//   GET /containerLogs/{namespace}/{pod}/{container}?follow&previous&timestamps&tailLines&
//       sinceSeconds&sinceTime&limitBytes&stream      → the container's log as text
//   /exec/{namespace}/{pod}/{container}?command=…&stdin&stdout&stderr&tty  (WebSocket upgrade)
//   /attach/{namespace}/{pod}/{container}?stdin&stdout&stderr&tty          (WebSocket upgrade)
//   GET /healthz                                                             → ok (no credentials)
//
// Who may call: by default a client certificate signed by the cluster CA (the `ca` given) with
// CN `kube-apiserver-kubelet-client`, as the kube-apiserver presents to kubelets. The choice of
// a certificate over a shared token: a joining agent already has the cluster CA (to trust the
// API server), so it can check the API server's certificate without holding any secret of its
// own, and nothing has to be distributed or rotated per node. Errors are plain text with the
// kubelet's status codes and words; the API server turns them into Status objects.
import https from 'node:https';
import { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import type { WebSocketServer } from 'ws';
import type { Logger } from '../util/log.ts';
import type { Pod } from './kube-types.ts';
import type { ContainerStatus, Runtime } from './runtime/types.ts';
import { KUBELET_CLIENT_CN } from './server-certs.ts';
import { streamLog, parseRfc3339, type LogOptions, type LogSink } from './server-logs.ts';
import { pickProtocol, serveStream, STREAM_PROTOCOLS, type StreamRequest } from './server-stream.ts';

export { agentServingCertificate, kubeletClientCertificate, issueCertificate, KUBELET_CLIENT_CN } from './server-certs.ts';

/** A container the endpoint serves. */
export interface ContainerRef {
  containerId: string;
  /** Absolute path of its CRI-format log file. */
  logPath: string;
  /** Whether it runs now (exec/attach need it; `follow` ends when it is not). */
  running: boolean;
}

/** Why a container cannot be served: HTTP status (404 unknown pod/container, 400 not there yet…) and text. */
export interface LookupFailure {
  code: number;
  message: string;
}

/** Find a pod's container on this node (previous: the one before the newest, for `--previous`). */
export type FindContainer = (namespace: string, pod: string, container: string, previous: boolean) => Promise<ContainerRef | LookupFailure>;

export interface AgentServerOptions {
  runtime: Pick<Runtime, 'exec' | 'attach' | 'containerStatus'>;
  /** 0 picks a free port. */
  port: number;
  bind: string;
  /** Serving certificate and key, and the CA that signs acceptable client certificates. */
  tls: { cert: string; key: string; ca: string };
  /** Who may call (default: a verified client certificate with CN kube-apiserver-kubelet-client). */
  authorize?: (req: IncomingMessage) => boolean;
  findContainer: FindContainer;
  logger: Logger;
  /** How often `follow` polls the file and the container state (default 250 ms). */
  followPollMs?: number;
  /** The clock for sinceSeconds (default Date.now). */
  now?: () => number;
}

export interface AgentServer {
  port: number;
  url: string;
  close(): Promise<void>;
}

/** The default rule: a client certificate the TLS layer verified against the cluster CA, with the API server's CN. */
export function apiServerCertificateAuthorizer(req: IncomingMessage): boolean {
  const sock = req.socket as TLSSocket;
  if (!sock.authorized) return false;
  const cert = sock.getPeerCertificate();
  return cert?.subject?.CN === KUBELET_CLIENT_CN;
}

class HttpFailure extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

/** Go's strconv.ParseBool. */
function parseBool(q: URLSearchParams, name: string): boolean {
  const v = q.get(name);
  if (v === null || v === '') return false;
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(v)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(v)) return false;
  throw new HttpFailure(400, `invalid value for ${name}: strconv.ParseBool: parsing ${JSON.stringify(v)}: invalid syntax`);
}

function parseInt64(q: URLSearchParams, name: string): number | undefined {
  const v = q.get(name);
  if (v === null || v === '') return undefined;
  if (!/^-?\d+$/.test(v)) throw new HttpFailure(400, `invalid value for ${name}: strconv.ParseInt: parsing ${JSON.stringify(v)}: invalid syntax`);
  return Number(v);
}

/** The kubelet's log options from the query, validated as the kubelet does. */
export function parseLogQuery(q: URLSearchParams, now: number): { opts: LogOptions; previous: boolean } {
  const tailLines = parseInt64(q, 'tailLines');
  const sinceSeconds = parseInt64(q, 'sinceSeconds');
  const limitBytes = parseInt64(q, 'limitBytes');
  const sinceTime = q.get('sinceTime');
  if (tailLines !== undefined && tailLines < 0) throw new HttpFailure(400, 'tailLines: Invalid value: must be greater than or equal to 0');
  if (limitBytes !== undefined && limitBytes < 1) throw new HttpFailure(400, 'limitBytes: Invalid value: must be greater than 0');
  if (sinceSeconds !== undefined && sinceTime) throw new HttpFailure(400, 'at most one of `sinceTime` or `sinceSeconds` may be specified');
  if (sinceSeconds !== undefined && sinceSeconds < 1) throw new HttpFailure(400, 'sinceSeconds: Invalid value: must be greater than 0');
  let sinceMs: number | undefined;
  if (sinceSeconds !== undefined) sinceMs = now - sinceSeconds * 1000;
  if (sinceTime) {
    const t = parseRfc3339(sinceTime);
    if (t === null) throw new HttpFailure(400, `sinceTime: Invalid value: ${JSON.stringify(sinceTime)}: must be an RFC 3339 time`);
    sinceMs = t;
  }
  const streamParam = q.get('stream') ?? 'All';
  if (!['All', 'Stdout', 'Stderr'].includes(streamParam)) throw new HttpFailure(400, `stream: Unsupported value: ${JSON.stringify(streamParam)}: supported values: "All", "Stderr", "Stdout"`);
  return {
    previous: parseBool(q, 'previous'),
    opts: {
      follow: parseBool(q, 'follow'),
      timestamps: parseBool(q, 'timestamps'),
      tailLines,
      sinceMs,
      limitBytes,
      stream: streamParam as LogOptions['stream'],
    },
  };
}

/** exec/attach options from the query (kubelet: at least one stream; no stderr with a tty). */
export function parseStreamQuery(kind: 'exec' | 'attach', q: URLSearchParams): StreamRequest {
  const r: StreamRequest = {
    kind,
    command: kind === 'exec' ? q.getAll('command') : [],
    stdin: parseBool(q, 'stdin'),
    stdout: parseBool(q, 'stdout'),
    stderr: parseBool(q, 'stderr'),
    tty: parseBool(q, 'tty'),
  };
  if (r.tty && r.stderr) r.stderr = false;
  if (!r.stdin && !r.stdout && !r.stderr) throw new HttpFailure(400, 'you must specify at least 1 of stdin, stdout, stderr');
  if (kind === 'exec' && r.command.length === 0) throw new HttpFailure(400, 'you must specify at least one command for the container');
  return r;
}

type Route = { kind: 'containerLogs' | 'exec' | 'attach'; namespace: string; pod: string; container: string } | { kind: 'healthz' } | null;

function route(rawUrl: string | undefined): { route: Route; query: URLSearchParams } {
  const url = new URL(rawUrl ?? '/', 'https://agent');
  const path = url.pathname;
  if (path === '/healthz') return { route: { kind: 'healthz' }, query: url.searchParams };
  const parts = path.split('/').filter((p) => p !== '');
  let decoded: string[];
  try {
    decoded = parts.map((p) => decodeURIComponent(p));
  } catch {
    return { route: null, query: url.searchParams };
  }
  const [kind, namespace, pod, container, ...rest] = decoded;
  if ((kind === 'containerLogs' || kind === 'exec' || kind === 'attach') && namespace && pod && container && rest.length === 0) {
    return { route: { kind, namespace, pod, container }, query: url.searchParams };
  }
  return { route: null, query: url.searchParams };
}

function isFailure(x: ContainerRef | LookupFailure): x is LookupFailure {
  return (x as LookupFailure).code !== undefined;
}

function rejectSocket(socket: Duplex, code: number, message: string): void {
  const body = Buffer.from(message);
  socket.end(
    `HTTP/1.1 ${code} ${STATUS_CODES[code] ?? 'Error'}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${message}`,
  );
}

function sendText(res: ServerResponse, code: number, text: string): void {
  res.writeHead(code, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(text), 'Cache-Control': 'no-cache, private' });
  res.end(text);
}

export async function startAgentServer(opts: AgentServerOptions): Promise<AgentServer> {
  const log = opts.logger;
  const authorize = opts.authorize ?? apiServerCertificateAuthorizer;
  const now = opts.now ?? Date.now;
  const pollMs = opts.followPollMs ?? 250;
  // The WebSocket server (and the ws module) is loaded with the first exec or attach: most
  // agents serve none, and the module would otherwise stay in every agent's memory for nothing.
  let wss: WebSocketServer | undefined;
  let wssLoading: Promise<WebSocketServer> | undefined;
  const webSockets = (): Promise<WebSocketServer> =>
    (wssLoading ??= import('ws').then((ws) => {
      wss = new ws.WebSocketServer({
        noServer: true,
        perMessageDeflate: false,
        handleProtocols: (protocols) => pickProtocol(protocols) ?? false,
        maxPayload: 16 * 1024 * 1024,
      });
      return wss;
    }));

  /** 401 without a verified certificate, 403 with one the rule refuses; null when allowed. */
  const denied = (req: IncomingMessage, sub: string): { code: number; message: string } | null => {
    if (authorize(req)) return null;
    const sock = req.socket as TLSSocket;
    if (!sock.authorized) return { code: 401, message: 'Unauthorized' };
    const cn = sock.getPeerCertificate()?.subject?.CN ?? 'system:anonymous';
    return { code: 403, message: `Forbidden (user=${cn}, verb=get, resource=nodes, subresource=${sub})` };
  };

  const server = https.createServer(
    { cert: opts.tls.cert, key: opts.tls.key, ca: opts.tls.ca, requestCert: true, rejectUnauthorized: false },
    (req, res) => {
      void handle(req, res).catch((e) => {
        const code = e instanceof HttpFailure ? e.code : 500;
        if (code >= 500) log.error('agent endpoint request failed', { method: req.method, url: req.url, error: e instanceof Error ? e.message : String(e) });
        if (!res.headersSent) sendText(res, code, e instanceof Error ? e.message : String(e));
        else res.destroy();
      });
    },
  );
  server.keepAliveTimeout = 65_000;
  server.requestTimeout = 0;

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const { route: r, query } = route(req.url);
    if (r?.kind === 'healthz') return sendText(res, 200, 'ok');
    const no = denied(req, r?.kind === 'containerLogs' ? 'log' : 'proxy');
    if (no) return sendText(res, no.code, no.message);
    if (!r) return sendText(res, 404, '404 page not found');
    if (r.kind === 'exec' || r.kind === 'attach') throw new HttpFailure(400, `${r.kind} needs a WebSocket upgrade (${STREAM_PROTOCOLS.join(', ')})`);
    if (req.method !== 'GET' && req.method !== 'HEAD') throw new HttpFailure(405, `method ${req.method} is not allowed`);
    const { opts: logOpts, previous } = parseLogQuery(query, now());
    const found = await opts.findContainer(r.namespace, r.pod, r.container, previous);
    if (isFailure(found)) throw new HttpFailure(found.code, found.message);
    res.writeHead(200, { 'Content-Type': 'text/plain', 'Cache-Control': 'no-cache, private', 'X-Content-Type-Options': 'nosniff' });
    if (req.method === 'HEAD') return void res.end();
    if (logOpts.follow) {
      res.flushHeaders();
      req.socket.setNoDelay(true);
    }
    let clientClosed = false;
    const aborted = new Promise<void>((resolve) =>
      res.once('close', () => {
        clientClosed = true;
        resolve();
      }),
    );
    const sink: LogSink = {
      write: (b) => res.write(b),
      drained: () => new Promise<void>((resolve) => {
        res.once('drain', resolve);
        void aborted.then(resolve);
      }),
      get closed() {
        return clientClosed || res.destroyed;
      },
    };
    await streamLog(found.logPath, logOpts, sink, {
      pollMs,
      aborted,
      running: async () => {
        if (!found.running) return false;
        const st = await opts.runtime.containerStatus(found.containerId).catch(() => null);
        return st?.state === 'running';
      },
    });
    if (!res.destroyed) res.end();
  }

  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => {});
    void upgrade(req, socket, head).catch((e) => {
      const code = e instanceof HttpFailure ? e.code : 500;
      if (code >= 500) log.error('agent stream request failed', { url: req.url, error: e instanceof Error ? e.message : String(e) });
      if (socket.writable) rejectSocket(socket, code, e instanceof Error ? e.message : String(e));
      else socket.destroy();
    });
  });

  async function upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const { route: r, query } = route(req.url);
    const no = denied(req, 'proxy');
    if (no) return rejectSocket(socket, no.code, no.message);
    if (!r || (r.kind !== 'exec' && r.kind !== 'attach')) return rejectSocket(socket, 404, '404 page not found');
    const sreq = parseStreamQuery(r.kind, query);
    const found = await opts.findContainer(r.namespace, r.pod, r.container, false);
    if (isFailure(found)) throw new HttpFailure(found.code, found.message);
    if (!found.running) throw new HttpFailure(400, `container not found (${JSON.stringify(r.container)})`);
    if (String(req.headers.upgrade ?? '').toLowerCase() !== 'websocket') {
      throw new HttpFailure(400, `kennel streams ${r.kind} over WebSocket only (${STREAM_PROTOCOLS.join(', ')}); ${String(req.headers.upgrade ?? 'this upgrade')} is not supported`);
    }
    const offered = String(req.headers['sec-websocket-protocol'] ?? '')
      .split(',')
      .map((p) => p.trim())
      .filter((p) => p !== '');
    if (!pickProtocol(offered)) {
      throw new HttpFailure(400, `none of the offered subprotocols [${offered.join(' ')}] is supported; use one of: ${STREAM_PROTOCOLS.join(', ')}`);
    }
    (await webSockets()).handleUpgrade(req, socket, head, (ws) => {
      const what = `${r.namespace}/${r.pod}/${r.container}`;
      log.debug('stream opened', { kind: r.kind, container: what, protocol: ws.protocol });
      const execOpts = { stdin: sreq.stdin, stdout: sreq.stdout, stderr: sreq.stderr, tty: sreq.tty };
      const open = () => (r.kind === 'exec' ? opts.runtime.exec(found.containerId, sreq.command, execOpts) : opts.runtime.attach(found.containerId, execOpts));
      void serveStream(ws, sreq, open, log).catch((e) => {
        log.warn('stream failed', { kind: r.kind, container: what, error: e instanceof Error ? e.message : String(e) });
        ws.terminate();
      });
    });
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.bind, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const host = opts.bind.includes(':') ? `[${opts.bind}]` : opts.bind === '0.0.0.0' ? '127.0.0.1' : opts.bind;
  log.info('agent endpoint listening', { url: `https://${host}:${port}` });
  return {
    port,
    url: `https://${host}:${port}`,
    async close() {
      const w = wss ?? (await wssLoading?.catch(() => undefined));
      if (w) {
        for (const ws of w.clients) ws.terminate();
        w.close();
      }
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}

// ---------------------------------------------------------------------------------------------
// The agent's side: FindContainer from the node agent's own lookup
// ---------------------------------------------------------------------------------------------

/** What the node agent offers (src/agent/agent.ts `Agent.findContainer`). */
export interface ContainerSource {
  findContainer(namespace: string, pod: string, container?: string, previous?: boolean): Promise<{ pod: Pod; container?: ContainerStatus } | undefined>;
}

/**
 * FindContainer over the agent's lookup, with the kubelet's messages: `pod "web-0" does not
 * exist` (404), `container "x" not found in pod "web-0"` (404), `previous terminated container
 * "web" in pod "web-0" not found` (400), `container "web" in pod "web-0" is waiting to start: …` (400).
 */
export function containerFinder(source: ContainerSource): FindContainer {
  return async (namespace, podName, name, previous) => {
    const hit = await source.findContainer(namespace, podName, name, previous);
    if (hit?.container) {
      const c = hit.container;
      return { containerId: c.id, logPath: c.logPath, running: c.state === 'running' };
    }
    const cur = previous ? await source.findContainer(namespace, podName, name, false) : hit;
    const pod = cur?.pod ?? hit?.pod;
    if (!pod) {
      // The lookup knows no such pod, or it knows the pod but no runtime container yet; a
      // lookup that cannot say which reports the pod as waiting when asked for its container.
      return { code: 404, message: `pod ${JSON.stringify(podName)} does not exist` };
    }
    const spec = [...(pod.spec.initContainers ?? []), ...(pod.spec.containers ?? [])];
    if (!spec.some((c) => c.name === name)) return { code: 404, message: `container ${JSON.stringify(name)} not found in pod ${JSON.stringify(podName)}` };
    if (previous) return { code: 400, message: `previous terminated container ${JSON.stringify(name)} in pod ${JSON.stringify(podName)} not found` };
    return { code: 400, message: waitingMessage(pod, name) };
  };
}

/** `container "web" in pod "web-0" is waiting to start: <reason>`, as the kubelet words it. */
export function waitingMessage(pod: Pod, name: string): string {
  const statuses = [...(pod.status?.initContainerStatuses ?? []), ...(pod.status?.containerStatuses ?? [])];
  const st = statuses.find((s) => s.name === name);
  const head = `container ${JSON.stringify(name)} in pod ${JSON.stringify(pod.metadata.name ?? '')}`;
  const reason = st?.state?.waiting?.reason;
  if (st?.state?.terminated) return `${head} is terminated`;
  if (reason === 'ErrImagePull') return `${head} is waiting to start: image can't be pulled`;
  if (reason === 'ImagePullBackOff') return `${head} is waiting to start: trying and failing to pull image`;
  if (reason) return `${head} is waiting to start: ${reason}`;
  return `${head} is waiting to start - no logs yet`;
}
