// A lean HTTP/1.1 keep-alive client over one TLS connection, for load generation: requests
// go out one at a time on a connection (no pipelining, as real clients do), the response is
// parsed just enough to know its status, headers and body (Content-Length or chunked).
// Cheaper than node:https per request, so the load generator costs the server's machine less.
//
//   const c = await HttpsConnection.connect({ url, ca });
//   const r = await c.request('POST', '/api/v1/...', { authorization: 'Bearer …' }, body);
//   c.close();
//
// openStream() sends a GET and hands the body of a chunked response to a callback as it
// arrives (for watches); the connection then belongs to that stream.
import tls from 'node:tls';

export interface RawResponse {
  status: number;
  /** Header names lower-cased. */
  headers: Record<string, string>;
  body: Buffer;
}

export interface ConnectOptions {
  /** https://host:port */
  url: string;
  ca: string;
}

interface Pending {
  resolve: (r: RawResponse) => void;
  reject: (e: Error) => void;
}

const CRLFCRLF = Buffer.from('\r\n\r\n');

/** Parse a header block (after the status line) into lower-cased names. */
function parseHeaders(block: string): { status: number; headers: Record<string, string> } {
  const lines = block.split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '');
  if (!m) throw new Error(`bad status line: ${JSON.stringify(lines[0])}`);
  const headers: Record<string, string> = {};
  for (let i = 1; i < lines.length; i++) {
    const l = lines[i];
    const c = l.indexOf(':');
    if (c <= 0) continue;
    const k = l.slice(0, c).trim().toLowerCase();
    const v = l.slice(c + 1).trim();
    headers[k] = headers[k] === undefined ? v : `${headers[k]}, ${v}`;
  }
  return { status: Number(m[1]), headers };
}

/**
 * Incremental decoder of a chunked body: feed() bytes, get whole data chunks back through
 * onData; done becomes true at the terminating zero-size chunk.
 */
export class ChunkedDecoder {
  private buf: Buffer = Buffer.alloc(0);
  private need = -1; // bytes of chunk data still expected (+2 for CRLF); -1 = reading a size line
  done = false;
  constructor(private readonly onData: (b: Buffer) => void) {}

  /** Returns bytes left over after the end of the body (the next response), if any. */
  feed(chunk: Buffer): Buffer | null {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    for (;;) {
      if (this.done) {
        // Trailer section: expect a bare CRLF (no trailers are sent by the server).
        if (this.buf.length < 2) return null;
        const rest = this.buf.subarray(2);
        this.buf = Buffer.alloc(0);
        return rest;
      }
      if (this.need < 0) {
        const eol = this.buf.indexOf('\r\n');
        if (eol < 0) return null;
        const size = parseInt(this.buf.subarray(0, eol).toString('latin1').split(';')[0], 16);
        if (!Number.isFinite(size)) throw new Error('bad chunk size');
        this.buf = this.buf.subarray(eol + 2);
        if (size === 0) {
          this.done = true;
          continue;
        }
        this.need = size;
      }
      if (this.buf.length < this.need + 2) return null;
      this.onData(this.buf.subarray(0, this.need));
      this.buf = this.buf.subarray(this.need + 2);
      this.need = -1;
    }
  }
}

export class HttpsConnection {
  private socket: tls.TLSSocket;
  private pending: Pending | null = null;
  private buf: Buffer = Buffer.alloc(0);
  private head: { status: number; headers: Record<string, string> } | null = null;
  private bodyLen = -1;
  private have = 0;
  private chunked: ChunkedDecoder | null = null;
  private chunks: Buffer[] = [];
  private stream: ((b: Buffer) => void) | null = null;
  private streamEnd: ((err?: Error) => void) | null = null;
  private closedErr: Error | null = null;
  /** The request in flight is a HEAD: its answer has no body whatever its headers say. */
  private headRequest = false;
  readonly host: string;

  private constructor(socket: tls.TLSSocket, host: string) {
    this.socket = socket;
    this.host = host;
    socket.setNoDelay(true);
    socket.on('data', (d: Buffer) => this.onData(d));
    socket.on('error', (e) => this.fail(e));
    socket.on('close', () => this.fail(new Error('connection closed')));
  }

  private fail(e: Error): void {
    if (this.closedErr) return;
    this.closedErr = e;
    const p = this.pending;
    this.pending = null;
    p?.reject(e);
    const end = this.streamEnd;
    this.streamEnd = null;
    this.stream = null;
    end?.(e);
  }

  static connect(opts: ConnectOptions): Promise<HttpsConnection> {
    const u = new URL(opts.url);
    const host = u.hostname.replace(/^\[|\]$/g, '');
    return new Promise((resolve, reject) => {
      const s = tls.connect({ host, port: Number(u.port), ca: opts.ca, servername: host.includes(':') || /^\d/.test(host) ? undefined : host }, () => {
        s.off('error', reject);
        resolve(new HttpsConnection(s, u.host));
      });
      s.once('error', reject);
    });
  }

  get closed(): boolean {
    return this.closedErr !== null;
  }

  private writeHead(method: string, path: string, headers: Record<string, string>, body: Buffer | null): void {
    this.headRequest = method === 'HEAD';
    let h = `${method} ${path} HTTP/1.1\r\nhost: ${this.host}\r\n`;
    for (const k in headers) h += `${k}: ${headers[k]}\r\n`;
    if (body) h += `content-length: ${body.length}\r\n`;
    h += '\r\n';
    if (body && body.length < 16 * 1024) this.socket.write(Buffer.concat([Buffer.from(h, 'latin1'), body]));
    else {
      this.socket.write(h, 'latin1');
      if (body) this.socket.write(body);
    }
  }

  /** One request/response exchange. Rejects on connection errors; any status resolves. */
  request(method: string, path: string, headers: Record<string, string>, body?: Buffer | string): Promise<RawResponse> {
    if (this.closedErr) return Promise.reject(this.closedErr);
    if (this.pending || this.stream) return Promise.reject(new Error('connection busy'));
    const b = body === undefined ? null : typeof body === 'string' ? Buffer.from(body) : body;
    return new Promise((resolve, reject) => {
      this.pending = { resolve, reject };
      this.writeHead(method, path, headers, b);
    });
  }

  /**
   * Send a request whose answer may be a stream (a watch): a 200 answer with a chunked body
   * resolves as soon as its head arrives and the body flows to onData, then onEnd runs when
   * the stream finishes or the connection fails. Any other answer resolves with its body read
   * in full, and onData/onEnd are not called.
   */
  openStream(path: string, headers: Record<string, string>, onData: (b: Buffer) => void, onEnd: (err?: Error) => void, method = 'GET', body?: Buffer | string): Promise<RawResponse> {
    if (this.closedErr) return Promise.reject(this.closedErr);
    if (this.pending || this.stream) return Promise.reject(new Error('connection busy'));
    const b = body === undefined ? null : typeof body === 'string' ? Buffer.from(body) : body;
    return new Promise((resolve, reject) => {
      this.pending = { resolve, reject };
      this.stream = onData;
      this.streamEnd = onEnd;
      this.writeHead(method, path, headers, b);
    });
  }

  private onData(d: Buffer): void {
    let data: Buffer = this.buf.length ? Buffer.concat([this.buf, d]) : d;
    this.buf = Buffer.alloc(0);
    for (;;) {
      if (!this.head) {
        if (data.length === 0) return;
        const end = data.indexOf(CRLFCRLF);
        if (end < 0) {
          this.buf = data;
          return;
        }
        try {
          this.head = parseHeaders(data.subarray(0, end).toString('latin1'));
        } catch (e) {
          this.socket.destroy(e as Error);
          return;
        }
        data = data.subarray(end + 4);
        const te = this.head.headers['transfer-encoding'];
        if (this.headRequest || this.head.status === 204 || this.head.status === 304) {
          this.bodyLen = 0;
          this.stream = null;
          this.streamEnd = null;
        } else if (te && te.toLowerCase().includes('chunked')) {
          const streaming = this.stream !== null && this.head.status === 200;
          if (streaming) {
            // Hand the head over now; the body flows to the stream callback.
            const p = this.pending!;
            this.pending = null;
            p.resolve({ status: this.head.status, headers: this.head.headers, body: Buffer.alloc(0) });
          }
          const sink = streaming ? this.stream! : (b: Buffer) => this.chunks.push(b);
          this.chunked = new ChunkedDecoder(sink);
        } else {
          this.bodyLen = Number(this.head.headers['content-length'] ?? '0');
          this.stream = null;
          this.streamEnd = null;
        }
      }
      if (this.chunked) {
        if (data.length === 0) return;
        let rest: Buffer | null;
        try {
          rest = this.chunked.feed(data);
        } catch (e) {
          this.socket.destroy(e as Error);
          return;
        }
        if (!this.chunked.done || rest === null) return;
        this.chunked = null;
        data = rest;
        this.finish();
        continue;
      }
      const want = this.bodyLen - this.have;
      if (data.length < want) {
        this.chunks.push(data);
        this.have += data.length;
        return;
      }
      this.chunks.push(data.subarray(0, want));
      data = data.subarray(want);
      this.finish();
    }
  }

  private finish(): void {
    const head = this.head!;
    const body = this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks);
    this.head = null;
    this.chunks = [];
    this.bodyLen = -1;
    this.have = 0;
    const p = this.pending;
    this.pending = null;
    if (this.stream) {
      const end = this.streamEnd;
      this.stream = null;
      this.streamEnd = null;
      end?.();
    }
    p?.resolve({ status: head.status, headers: head.headers, body });
  }

  /** Close the connection now: `closed` is true at once; a request in flight fails. */
  close(): void {
    this.fail(new Error('connection closed by the client'));
    this.socket.destroy();
  }
}
