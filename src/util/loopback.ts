// An in-process HTTP exchange: the API server's clients inside its own process (controllers,
// scheduler, cluster DNS, the local node's agent) send their requests straight to the server's
// request handler, without a socket. Each side sees the objects it already knows, shaped like
// Node's: the client a ClientRequest and an IncomingMessage, the server an IncomingMessage and a
// ServerResponse (only the members both ends use). What crosses is what crosses a connection —
// a method, a path, headers and body bytes one way; a status, headers and body bytes back — so
// the parts share no objects, authenticate as every client does, and could as well be on
// another machine. What goes away is HTTP framing and parsing, socket writes and reads, and a
// trip through the event loop's I/O per chunk.
//
// Delivery is asynchronous in both directions (setImmediate), as over a socket: a handler never
// runs inside the other side's call, and what one side writes in one turn of the event loop
// reaches the other as one batch.
import { EventEmitter } from 'node:events';
import type { ClientRequest, IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { StringDecoder } from 'node:string_decoder';

export type LoopbackHandler = (req: IncomingMessage, res: ServerResponse) => void;

function connReset(message: string): NodeJS.ErrnoException {
  const e: NodeJS.ErrnoException = new Error(message);
  e.code = 'ECONNRESET';
  return e;
}

/** The server's end: requests go to its handler; close() ends every open exchange. */
export class LoopbackServer {
  private readonly open = new Set<Exchange>();
  private closed = false;

  constructor(private readonly handler: LoopbackHandler) {}

  /** Exchanges in progress (watches included). */
  get openExchanges(): number {
    return this.open.size;
  }

  /**
   * A request as http.request makes one: write the body, end() sends it; onResponse gets the
   * response once the server has written its status line.
   */
  request(method: string, path: string, headers: Record<string, string>, onResponse: (resp: IncomingMessage) => void): ClientRequest {
    const x = new Exchange(this, method, path, headers, onResponse);
    return x.clientReq as unknown as ClientRequest;
  }

  /** No new requests; open exchanges fail as a closed connection does. */
  close(): void {
    this.closed = true;
    for (const x of [...this.open]) x.reset(connReset('the API server closed the connection'));
  }

  /** @internal */
  dispatch(x: Exchange): void {
    if (this.closed) {
      const e: NodeJS.ErrnoException = new Error('connect ECONNREFUSED: the API server is closed');
      e.code = 'ECONNREFUSED';
      x.fail(e);
      return;
    }
    this.open.add(x);
    this.handler(x.serverReq as unknown as IncomingMessage, x.serverRes as unknown as ServerResponse);
  }

  /** @internal */
  done(x: Exchange): void {
    this.open.delete(x);
  }
}

class Exchange {
  readonly clientReq: ClientSide;
  readonly serverReq: ServerRequest;
  readonly serverRes: ServerSideResponse;
  readonly clientRes: ClientResponse;
  private readonly body: Buffer[] = [];
  private pending: (Buffer | string)[] = [];
  private scheduled = false;
  private responded = false;
  private finished = false;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly server: LoopbackServer,
    method: string,
    path: string,
    headers: Record<string, string>,
    private readonly onResponse: (resp: IncomingMessage) => void,
  ) {
    this.clientReq = new ClientSide(this);
    this.serverReq = new ServerRequest(method, path, lowerKeys(headers));
    this.serverRes = new ServerSideResponse(this);
    this.clientRes = new ClientResponse();
  }

  // -- the client's side

  writeBody(chunk: string | Buffer): void {
    this.body.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  }

  send(): void {
    this.serverReq.body = this.body.length === 1 ? this.body[0] : Buffer.concat(this.body);
    setImmediate(() => {
      if (!this.finished) this.server.dispatch(this);
    });
  }

  setTimeout(ms: number, cb?: () => void): void {
    if (this.timer) clearTimeout(this.timer);
    if (ms <= 0 || this.finished) return;
    this.timer = setTimeout(() => {
      this.clientReq.emit('timeout');
      cb?.();
    }, ms);
  }

  /** The client gives up (ClientRequest.destroy). */
  abort(err?: Error): void {
    if (this.finished) return;
    this.end();
    this.serverReq.emit('aborted');
    this.serverReq.emit('close');
    this.serverRes.emit('close');
    if (err) this.clientReq.emit('error', err);
    if (this.responded) this.clientRes.emit('close');
    this.clientReq.emit('close');
  }

  /** The request never reached the server. */
  fail(err: Error): void {
    if (this.finished) return;
    this.end();
    this.clientReq.emit('error', err);
    this.clientReq.emit('close');
  }

  // -- the server's side

  /** Something to deliver: the response head, body bytes, or the end. */
  schedule(): void {
    if (this.scheduled || this.finished) return;
    this.scheduled = true;
    setImmediate(() => this.flush());
  }

  queue(chunk: Buffer | string): void {
    this.pending.push(chunk);
    this.schedule();
  }

  /** The connection breaks (server closed, or ServerResponse.destroy). */
  reset(err: NodeJS.ErrnoException): void {
    if (this.finished) return;
    const responded = this.responded;
    this.end();
    this.serverReq.emit('close');
    this.serverRes.emit('close');
    if (responded) {
      this.clientRes.emit('aborted');
      this.clientRes.emit('error', err);
      this.clientRes.emit('close');
    } else {
      this.clientReq.emit('error', err);
    }
    this.clientReq.emit('close');
  }

  private flush(): void {
    this.scheduled = false;
    if (this.finished) return;
    const res = this.serverRes;
    if (!this.responded) {
      if (!res.headersSent) return;
      this.responded = true;
      this.clientRes.statusCode = res.statusCode;
      this.clientRes.statusMessage = res.statusMessage;
      this.clientRes.headers = res.headersForClient();
      this.clientReq.emit('response', this.clientRes);
      this.onResponse(this.clientRes as unknown as IncomingMessage);
    }
    const chunks = this.pending;
    this.pending = [];
    res.writableLength = 0;
    for (const c of chunks) {
      if (this.finished) return;
      this.clientRes.deliver(c);
    }
    if (!res.writableEnded || this.finished) return;
    this.end();
    this.clientRes.emit('end');
    res.emit('finish');
    res.emit('close');
    this.serverReq.emit('close');
    this.clientRes.emit('close');
    this.clientReq.emit('close');
  }

  private end(): void {
    this.finished = true;
    this.pending = [];
    if (this.timer) clearTimeout(this.timer);
    this.server.done(this);
  }
}

function lowerKeys(h: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of Object.keys(h)) out[k.toLowerCase()] = h[k];
  return out;
}

/** What the client holds: the members of ClientRequest that KubeClient uses. */
class ClientSide extends EventEmitter {
  readonly reusedSocket = false;
  destroyed = false;

  constructor(private readonly x: Exchange) {
    super();
  }

  write(chunk: string | Buffer): boolean {
    this.x.writeBody(chunk);
    return true;
  }

  end(chunk?: string | Buffer): this {
    if (chunk !== undefined) this.x.writeBody(chunk);
    this.x.send();
    return this;
  }

  setTimeout(ms: number, cb?: () => void): this {
    this.x.setTimeout(ms, cb);
    return this;
  }

  destroy(err?: Error): this {
    if (this.destroyed) return this;
    this.destroyed = true;
    this.x.abort(err);
    return this;
  }
}

/** What the client reads: the members of IncomingMessage that KubeClient uses. */
class ClientResponse extends EventEmitter {
  statusCode = 0;
  statusMessage = '';
  headers: Record<string, string | string[]> = {};
  private decoder: StringDecoder | undefined;

  setEncoding(enc: BufferEncoding): this {
    this.decoder = new StringDecoder(enc);
    return this;
  }

  deliver(chunk: Buffer | string): void {
    if (this.decoder) this.emit('data', typeof chunk === 'string' ? chunk : this.decoder.write(chunk));
    else this.emit('data', typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  }
}

/** What the server reads: an IncomingMessage whose body is already here. */
class ServerRequest extends EventEmitter {
  body: Buffer = Buffer.alloc(0);
  readonly httpVersion = '1.1';
  /** No peer address: the client is in this process. */
  readonly socket = { remoteAddress: undefined as string | undefined };
  private flowing = false;

  constructor(
    readonly method: string,
    readonly url: string,
    readonly headers: Record<string, string>,
  ) {
    super();
  }

  override on(event: string | symbol, fn: (...args: any[]) => void): this {
    super.on(event, fn);
    if (event === 'data') this.flow();
    return this;
  }

  resume(): this {
    this.flow();
    return this;
  }

  /** The body, once someone reads it: after the listeners attached in the same turn. */
  private flow(): void {
    if (this.flowing) return;
    this.flowing = true;
    queueMicrotask(() => {
      if (this.body.length > 0) this.emit('data', this.body);
      this.emit('end');
    });
  }
}

/** What the server writes: the members of ServerResponse that the API server uses. */
class ServerSideResponse extends EventEmitter {
  statusCode = 200;
  statusMessage = '';
  headersSent = false;
  writableEnded = false;
  /** Bytes written and not yet delivered. */
  writableLength = 0;
  /** No socket: watch output goes through write(). */
  readonly socket = null;
  readonly chunkedEncoding = false;
  private readonly head = new Map<string, number | string | string[]>();

  constructor(private readonly x: Exchange) {
    super();
  }

  setHeader(name: string, value: number | string | readonly string[]): this {
    this.head.set(name.toLowerCase(), typeof value === 'object' ? [...value] : value);
    return this;
  }

  getHeader(name: string): number | string | string[] | undefined {
    return this.head.get(name.toLowerCase());
  }

  hasHeader(name: string): boolean {
    return this.head.has(name.toLowerCase());
  }

  removeHeader(name: string): void {
    this.head.delete(name.toLowerCase());
  }

  writeHead(code: number, a?: string | OutgoingHttpHeaders, b?: OutgoingHttpHeaders): this {
    this.statusCode = code;
    const headers = typeof a === 'string' ? b : a;
    if (typeof a === 'string') this.statusMessage = a;
    if (headers) for (const [k, v] of Object.entries(headers)) if (v !== undefined) this.setHeader(k, v);
    this.headersSent = true;
    return this;
  }

  flushHeaders(): void {
    this.headersSent = true;
    this.x.schedule();
  }

  write(chunk: Buffer | string, encOrCb?: BufferEncoding | (() => void), cb?: () => void): boolean {
    if (this.writableEnded) return false;
    this.headersSent = true;
    if (chunk.length > 0) {
      this.writableLength += typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.length;
      this.x.queue(chunk);
    } else this.x.schedule();
    const done = typeof encOrCb === 'function' ? encOrCb : cb;
    if (done) queueMicrotask(done);
    return true;
  }

  end(chunk?: Buffer | string | (() => void)): this {
    if (this.writableEnded) return this;
    if (chunk !== undefined && typeof chunk !== 'function') this.write(chunk);
    this.headersSent = true;
    this.writableEnded = true;
    this.x.schedule();
    return this;
  }

  destroy(err?: Error): this {
    this.x.reset(connReset(err?.message ?? 'the API server closed the connection'));
    return this;
  }

  headersForClient(): Record<string, string | string[]> {
    const out: Record<string, string | string[]> = {};
    for (const [k, v] of this.head) out[k] = typeof v === 'number' ? String(v) : v;
    return out;
  }
}
