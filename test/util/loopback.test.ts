// The in-process exchange (src/util/loopback.ts) on its own: what each end sees of the other,
// in order, and every way an exchange can end. The KubeClient contract over it is tested in
// test/client/rest.test.ts against a real API server.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { LoopbackServer } from '../../src/util/loopback.ts';

interface Seen {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  chunks: string[];
  events: string[];
}

/** Sends one request; resolves when the response ends or fails, with what the client saw. */
function exchange(server: LoopbackServer, method: string, path: string, body?: string, headers: Record<string, string> = {}, timeoutMs = 0): { done: Promise<Seen>; req: ReturnType<LoopbackServer['request']> } {
  const seen: Seen = { status: 0, headers: {}, chunks: [], events: [] };
  let settle!: (s: Seen) => void;
  const done = new Promise<Seen>((r) => (settle = r));
  const req = server.request(method, path, headers, (resp) => {
    seen.status = resp.statusCode ?? 0;
    seen.headers = resp.headers;
    resp.setEncoding('utf8');
    resp.on('data', (c: string) => seen.chunks.push(c));
    resp.on('end', () => {
      seen.events.push('end');
      settle(seen);
    });
    resp.on('error', (e: Error) => {
      seen.events.push(`resp error: ${e.message}`);
      settle(seen);
    });
  });
  req.on('error', (e: Error) => {
    seen.events.push(`req error: ${e.message}`);
    settle(seen);
  });
  if (timeoutMs) {
    req.setTimeout(timeoutMs, () => {
      seen.events.push('timeout');
      req.destroy(new Error('timed out'));
    });
  }
  if (body !== undefined) req.write(body);
  req.end();
  return { done, req };
}

describe('loopback exchange', () => {
  it('carries method, path, lower-cased headers and the body; answers status, headers and body', async () => {
    let got: { method?: string; url?: string; headers?: Record<string, unknown>; body?: string } = {};
    const server = new LoopbackServer((req: IncomingMessage, res: ServerResponse) => {
      const parts: Buffer[] = [];
      req.on('data', (c: Buffer) => parts.push(c));
      req.on('end', () => {
        got = { method: req.method, url: req.url, headers: req.headers, body: Buffer.concat(parts).toString() };
        res.setHeader('Warning', ['299 - "one"', '299 - "two"']);
        res.writeHead(201, { 'Content-Type': 'application/json', 'Content-Length': 11 });
        res.end('{"ok":true}');
      });
    });
    const { done } = exchange(server, 'POST', '/api/v1/namespaces/default/configmaps?fieldManager=x', '{"a":"ü"}', { Authorization: 'Bearer t', 'Content-Type': 'application/json' });
    const seen = await done;
    assert.deepEqual(got, { method: 'POST', url: '/api/v1/namespaces/default/configmaps?fieldManager=x', headers: { authorization: 'Bearer t', 'content-type': 'application/json' }, body: '{"a":"ü"}' });
    assert.equal(seen.status, 201);
    assert.equal(seen.headers['content-type'], 'application/json');
    assert.equal(seen.headers['content-length'], '11');
    assert.deepEqual(seen.headers.warning, ['299 - "one"', '299 - "two"']);
    assert.equal(seen.chunks.join(''), '{"ok":true}');
    assert.equal(server.openExchanges, 0);
  });

  it('streams: the head first, then each turn’s writes as they come, in order, until end', async () => {
    let write!: (s: string | Buffer) => void;
    let finish!: () => void;
    const server = new LoopbackServer((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.flushHeaders();
      write = (s) => res.write(typeof s === 'string' ? Buffer.from(s) : s);
      finish = () => res.end();
    });
    const seen: string[] = [];
    let status = 0;
    const ended = new Promise<void>((resolve) => {
      const req = server.request('GET', '/watch', {}, (resp) => {
        status = resp.statusCode ?? 0;
        resp.setEncoding('utf8');
        resp.on('data', (c: string) => seen.push(c));
        resp.on('end', () => resolve());
      });
      req.end();
    });
    await new Promise((r) => setTimeout(r, 10));
    assert.equal(status, 200, 'the head arrives before any body');
    assert.equal(server.openExchanges, 1);
    write('{"type":"ADDED"}\n');
    write('{"type":"MODIFIED"}\n');
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(seen, ['{"type":"ADDED"}\n', '{"type":"MODIFIED"}\n']);
    // A character split across two writes comes out whole.
    const euro = Buffer.from('€\n');
    write(euro.subarray(0, 1));
    write(euro.subarray(1));
    finish();
    await ended;
    assert.deepEqual(seen.slice(2).join(''), '€\n');
    assert.equal(server.openExchanges, 0);
  });

  it('a client that gives up: the server sees close on request and response; a timeout fires once', async () => {
    const closed: string[] = [];
    const server = new LoopbackServer((req, res) => {
      req.on('close', () => closed.push('req'));
      res.on('close', () => closed.push('res'));
      res.writeHead(200);
      res.flushHeaders();
    });
    const { done } = exchange(server, 'GET', '/hang', undefined, {}, 30);
    const seen = await done;
    assert.deepEqual(seen.events, ['timeout', 'req error: timed out']);
    await new Promise((r) => setTimeout(r, 5));
    assert.deepEqual(closed.sort(), ['req', 'res']);
    assert.equal(server.openExchanges, 0);
  });

  it('a server that drops the exchange, or closes: the client gets ECONNRESET; a closed server refuses', async () => {
    const server = new LoopbackServer((req, res) => {
      if (req.url === '/drop-now') {
        res.destroy();
        return;
      }
      res.writeHead(200);
      res.write('partial');
    });
    const before = await exchange(server, 'GET', '/drop-now').done;
    assert.deepEqual(before.events, ['req error: the API server closed the connection']);

    const mid = exchange(server, 'GET', '/stream');
    await new Promise((r) => setTimeout(r, 10));
    assert.equal(server.openExchanges, 1);
    server.close();
    const seen = await mid.done;
    assert.deepEqual(seen.chunks, ['partial']);
    assert.deepEqual(seen.events, ['resp error: the API server closed the connection']);
    assert.equal(server.openExchanges, 0);

    const refused = await exchange(server, 'GET', '/after').done;
    assert.match(refused.events[0] ?? '', /^req error: connect ECONNREFUSED/);
  });

  it('a request body is read once, by whoever reads it, after the listeners of that turn', async () => {
    const server = new LoopbackServer((req, res) => {
      // Reads the body only after an await, as the API server does after authenticating.
      void (async () => {
        await Promise.resolve();
        const parts: Buffer[] = [];
        req.on('data', (c: Buffer) => parts.push(c));
        req.on('end', () => res.end(String(Buffer.concat(parts).length)));
      })();
    });
    const seen = await exchange(server, 'PUT', '/x', 'x'.repeat(100_000)).done;
    assert.equal(seen.chunks.join(''), '100000');
  });
});
