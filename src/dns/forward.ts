// Forwarding names outside the cluster zone to the upstream resolvers (by default the host's
// /etc/resolv.conf nameservers, never this server itself). The query goes as it came (same ID,
// same EDNS options) over UDP to each upstream in turn until one answers within the timeout;
// when the client asked over TCP and the UDP answer is truncated, the same upstream is asked
// again over TCP. Nothing is cached. At most `maxInFlight` forwards run at once; beyond that
// the client gets SERVFAIL at once rather than piling up sockets.
import dgram from 'node:dgram';
import net from 'node:net';
import { readFileSync } from 'node:fs';
import type { Logger } from '../util/log.ts';

export interface Upstream {
  host: string;
  port: number;
}

/** `1.2.3.4`, `1.2.3.4:5353`, `::1`, `[::1]:5353`. */
export function parseUpstream(s: string): Upstream {
  const t = s.trim();
  const v6 = /^\[([^\]]+)\](?::(\d+))?$/.exec(t);
  if (v6) return { host: v6[1], port: v6[2] ? Number(v6[2]) : 53 };
  if (net.isIPv6(t)) return { host: t, port: 53 };
  const m = /^([^:]+)(?::(\d+))?$/.exec(t);
  if (!m || !net.isIP(m[1])) throw new Error(`upstream resolver ${JSON.stringify(s)} is not an IP address (with an optional :port)`);
  return { host: m[1], port: m[2] ? Number(m[2]) : 53 };
}

/** The nameserver lines of a resolv.conf. */
export function parseResolvConf(text: string): string[] {
  const out: string[] = [];
  for (const line of text.split('\n')) {
    const m = /^\s*nameserver\s+(\S+)/.exec(line);
    if (!m) continue;
    const host = m[1].replace(/%.*$/, '');
    if (net.isIP(host)) out.push(host);
  }
  return out;
}

function isWildcard(host: string): boolean {
  return host === '0.0.0.0' || host === '::' || host === '';
}

function isLoopback(host: string): boolean {
  return host.startsWith('127.') || host === '::1';
}

/**
 * Drop upstreams that are this server: the same address and port as a listen address, or any
 * loopback address on a port a wildcard listener holds.
 */
export function withoutSelf(upstreams: Upstream[], listen: Upstream[]): Upstream[] {
  return upstreams.filter((u) => !listen.some((l) => l.port === u.port && (l.host === u.host || (isWildcard(l.host) && isLoopback(u.host)))));
}

/** The host's resolvers from /etc/resolv.conf (or another file), minus this server. */
export function defaultUpstreams(listen: Upstream[], path = '/etc/resolv.conf'): Upstream[] {
  let text = '';
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return [];
  }
  return withoutSelf(
    parseResolvConf(text).map((h) => ({ host: h, port: 53 })),
    listen,
  );
}

export interface ForwarderOptions {
  upstreams: Upstream[];
  /** Per upstream and attempt (default 2000 ms). */
  timeoutMs?: number;
  maxInFlight?: number;
  logger?: Logger;
}

export class Forwarder {
  readonly upstreams: Upstream[];
  private readonly timeoutMs: number;
  private readonly maxInFlight: number;
  private readonly log?: Logger;
  private inFlight = 0;
  private closed = false;
  private readonly open = new Set<{ close(): void }>();

  constructor(opts: ForwarderOptions) {
    this.upstreams = opts.upstreams;
    this.timeoutMs = opts.timeoutMs ?? 2000;
    this.maxInFlight = opts.maxInFlight ?? 1000;
    this.log = opts.logger;
  }

  get pending(): number {
    return this.inFlight;
  }

  /** The upstream's response to query (raw bytes), or undefined when none answered. */
  async forward(query: Buffer, tcp: boolean): Promise<Buffer | undefined> {
    if (this.closed || this.upstreams.length === 0 || this.inFlight >= this.maxInFlight) return undefined;
    this.inFlight++;
    try {
      for (const u of this.upstreams) {
        try {
          let r = await this.udp(u, query);
          if (r && tcp && r.length >= 3 && r[2] & 0x02) r = await this.tcp(u, query);
          if (r) return r;
        } catch (e) {
          this.log?.debug('upstream failed', { upstream: `${u.host}:${u.port}`, error: e instanceof Error ? e.message : String(e) });
        }
        if (this.closed) return undefined;
      }
      return undefined;
    } finally {
      this.inFlight--;
    }
  }

  close(): void {
    this.closed = true;
    for (const s of this.open) s.close();
    this.open.clear();
  }

  private udp(u: Upstream, query: Buffer): Promise<Buffer | undefined> {
    return new Promise((resolve) => {
      const sock = dgram.createSocket(net.isIPv6(u.host) ? 'udp6' : 'udp4');
      const handle = { close: () => finish(undefined) };
      this.open.add(handle);
      let done = false;
      const finish = (r: Buffer | undefined): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        this.open.delete(handle);
        try {
          sock.close();
        } catch {
          // already closed
        }
        resolve(r);
      };
      const timer = setTimeout(() => finish(undefined), this.timeoutMs);
      sock.on('error', () => finish(undefined));
      sock.on('message', (msg, rinfo) => {
        // Only the upstream's answer to this ID counts.
        if (rinfo.port !== u.port || msg.length < 12 || msg[0] !== query[0] || msg[1] !== query[1]) return;
        finish(msg);
      });
      sock.send(query, u.port, u.host, (err) => {
        if (err) finish(undefined);
      });
    });
  }

  private tcp(u: Upstream, query: Buffer): Promise<Buffer | undefined> {
    return new Promise((resolve) => {
      const sock = net.connect({ host: u.host, port: u.port });
      const handle = { close: () => finish(undefined) };
      this.open.add(handle);
      let done = false;
      let buf = Buffer.alloc(0);
      const finish = (r: Buffer | undefined): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        this.open.delete(handle);
        sock.destroy();
        resolve(r);
      };
      const timer = setTimeout(() => finish(undefined), this.timeoutMs);
      sock.on('error', () => finish(undefined));
      sock.on('close', () => finish(undefined));
      sock.on('connect', () => {
        const len = Buffer.alloc(2);
        len.writeUInt16BE(query.length);
        sock.write(Buffer.concat([len, query]));
      });
      sock.on('data', (d: Buffer) => {
        buf = Buffer.concat([buf, d]);
        if (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) finish(buf.subarray(2, 2 + buf.readUInt16BE(0)));
      });
    });
  }
}
