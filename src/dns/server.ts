// The cluster DNS server: authoritative for the cluster domain from informer caches (Services,
// EndpointSlices and Endpoints, Namespaces, and Pods for `pods verified`), forwarding every
// other name to the upstream resolvers. UDP and TCP on each listen address.
//
// Serving never calls the API: informer events update a DnsState (indexes: one map access per
// lookup), and answers come from buildAnswer (answers.ts). Encoded answers of the cluster zone
// are kept in a response cache keyed by the query bytes after the ID; every state change
// empties it, so a cached answer is never older than the caches it came from (a pod's Ready flip
// shows in DNS as soon as the EndpointSlice's watch event arrives). A hit costs a map lookup and
// a copy with the query's ID — which is what lets one Node process answer at dnsmasq's pace.
//
// Bad input: a datagram that is not a parseable query gets FORMERR when its header can be read,
// and is dropped otherwise; responses (QR set) are never answered; the server keeps serving.
import dgram from 'node:dgram';
import net from 'node:net';
import { KubeClient, type ResourceRef } from '../client/rest.ts';
import { InformerFactory, type Informer } from '../client/informer.ts';
import type { KubeObject } from '../registry/types.ts';
import { createLogger, type Logger } from '../util/log.ts';
import { buildAnswer, type AnswerConfig, type BuiltAnswer } from './answers.ts';
import { badEdnsVersion, badVersReply, decodeMessage, encodeQuery, encodeResponse, errorResponse, parseQuery, type ParsedQuery } from './message.ts';
import { DnsState } from './state.ts';
import { Forwarder, defaultUpstreams, parseUpstream, withoutSelf, type Upstream } from './forward.ts';

export const DNS_USER_AGENT = 'kennel-dns';

const SERVICES: ResourceRef = { group: '', version: 'v1', plural: 'services', namespaced: true, kind: 'Service' };
const SLICES: ResourceRef = { group: 'discovery.k8s.io', version: 'v1', plural: 'endpointslices', namespaced: true, kind: 'EndpointSlice' };
const ENDPOINTS: ResourceRef = { group: '', version: 'v1', plural: 'endpoints', namespaced: true, kind: 'Endpoints' };
const NAMESPACES: ResourceRef = { group: '', version: 'v1', plural: 'namespaces', namespaced: false, kind: 'Namespace' };
const PODS: ResourceRef = { group: '', version: 'v1', plural: 'pods', namespaced: true, kind: 'Pod' };

/** Response cache entries kept at most (emptied when full). */
const RESPONSE_CACHE_MAX = 10_000;
/** A TCP connection idle this long is closed. */
const TCP_IDLE_MS = 10_000;
const TCP_MAX_CONNECTIONS = 1000;

export interface DnsListen {
  host: string;
  /** 0 picks a free port (the same one for UDP and TCP). */
  port: number;
}

export interface DnsServerOptions {
  /** Watch the cluster through this client (the server makes its own from its config). */
  client?: KubeClient;
  /** Or serve a state the caller fills (tests, benchmarks); ignored when client is given. */
  state?: DnsState;
  listen: DnsListen[];
  /** Default `cluster.local`. */
  clusterDomain?: string;
  /** TTL of the cluster's records, seconds (default 5). */
  ttl?: number;
  /** Upstream resolvers (`ip` or `ip:port`); default: the host's /etc/resolv.conf nameservers,
   *  minus this server. An empty list answers SERVFAIL for other names. */
  upstream?: string[];
  /** Where endpoints come from: EndpointSlices, Endpoints, or both (slices first; Endpoints for
   *  services without slices, e.g. selector-less ones with hand-written Endpoints). Default both. */
  endpoints?: 'endpointslices' | 'endpoints' | 'both';
  /** `<a-b-c-d>.<ns>.pod.<zone>`: insecure (default, as kubeadm's Corefile), verified, disabled. */
  pods?: 'insecure' | 'verified' | 'disabled';
  /** Addresses announced for the zone's NS record (default: the non-loopback listen hosts). */
  nsAddresses?: string[];
  logger?: Logger;
  /** Wait this long for the informers' first list before serving anyway (default 5000 ms). */
  syncTimeoutMs?: number;
  upstreamTimeoutMs?: number;
  resolvConf?: string;
  /** Keep encoded answers until the state changes (default true; false for measurements). */
  responseCache?: boolean;
}

export interface DnsStats {
  queries: number;
  cacheHits: number;
  forwarded: number;
  formErrors: number;
  dropped: number;
  servFail: number;
  truncated: number;
}

export interface DnsServer {
  /** The bound addresses (UDP and TCP share each). */
  readonly addresses: { host: string; port: number }[];
  readonly state: DnsState;
  readonly stats: DnsStats;
  readonly upstreams: Upstream[];
  stop(): Promise<void>;
}

function isIPv6Host(h: string): boolean {
  return net.isIPv6(h);
}

interface Bound {
  udp: dgram.Socket;
  tcp: net.Server;
  host: string;
  port: number;
}

async function bindPair(host: string, port: number, onUdp: (sock: dgram.Socket) => void, onTcp: (c: net.Socket) => void): Promise<Bound> {
  const v6 = isIPv6Host(host);
  for (let attempt = 0; ; attempt++) {
    const udp = dgram.createSocket({
      type: v6 ? 'udp6' : 'udp4',
      ipv6Only: v6,
      recvBufferSize: 4 * 1024 * 1024,
      sendBufferSize: 4 * 1024 * 1024,
      // Replies go to literal addresses: skip the resolver round trip send() makes otherwise.
      lookup: (h: string, _o: unknown, cb: (err: NodeJS.ErrnoException | null, address: string, family: number) => void) => cb(null, h, v6 ? 6 : 4),
    });
    await new Promise<void>((resolve, reject) => {
      udp.once('error', reject);
      udp.bind(port, host, () => {
        udp.off('error', reject);
        resolve();
      });
    });
    const bound = udp.address().port;
    const tcp = net.createServer({ noDelay: true }, onTcp);
    try {
      await new Promise<void>((resolve, reject) => {
        tcp.once('error', reject);
        tcp.listen({ host, port: bound, ipv6Only: v6, exclusive: true }, () => {
          tcp.off('error', reject);
          resolve();
        });
      });
    } catch (e) {
      udp.close();
      if (port === 0 && (e as NodeJS.ErrnoException).code === 'EADDRINUSE' && attempt < 10) continue;
      throw e;
    }
    onUdp(udp);
    return { udp, tcp, host, port: bound };
  }
}

export async function startDnsServer(opts: DnsServerOptions): Promise<DnsServer> {
  const log = opts.logger ?? createLogger('dns');
  const zone = (opts.clusterDomain ?? 'cluster.local').replace(/\.$/, '').toLowerCase();
  const ttl = opts.ttl ?? 5;
  const state = opts.client ? new DnsState() : (opts.state ?? new DnsState());
  const nsAddresses = opts.nsAddresses ?? opts.listen.map((l) => l.host).filter((h) => net.isIP(h) && !h.startsWith('127.') && h !== '::1' && h !== '0.0.0.0' && h !== '::');
  const cfg: AnswerConfig = { zone, ttl, pods: opts.pods ?? 'insecure', nsAddresses };
  const stats: DnsStats = { queries: 0, cacheHits: 0, forwarded: 0, formErrors: 0, dropped: 0, servFail: 0, truncated: 0 };

  // -- informers
  let client: KubeClient | undefined;
  let factory: InformerFactory | undefined;
  const unregister: (() => void)[] = [];
  if (opts.client) {
    client = opts.client.derive({ userAgent: DNS_USER_AGENT });
    factory = new InformerFactory(client, { logger: log });
    const watch = (inf: Informer, set: (o: KubeObject) => void, del: (o: KubeObject) => void): void => {
      unregister.push(inf.addEventHandler({ onAdd: set, onUpdate: (_o, n) => set(n), onDelete: del }));
    };
    const mode = opts.endpoints ?? 'both';
    watch(
      factory.informer(SERVICES),
      (o) => state.setService(o),
      (o) => state.deleteService(o.metadata.namespace ?? '', o.metadata.name ?? ''),
    );
    watch(
      factory.informer(NAMESPACES),
      (o) => state.setNamespace(o.metadata.name ?? ''),
      (o) => state.deleteNamespace(o.metadata.name ?? ''),
    );
    if (mode !== 'endpoints') {
      watch(
        factory.informer(SLICES),
        (o) => state.setEndpointSlice(o),
        (o) => state.deleteEndpointSlice(o),
      );
    }
    if (mode !== 'endpointslices') {
      watch(
        factory.informer(ENDPOINTS),
        (o) => state.setEndpoints(o),
        (o) => state.deleteEndpoints(o),
      );
    }
    if (cfg.pods === 'verified') {
      watch(
        factory.informer(PODS),
        (o) => state.setPod(o),
        (o) => state.deletePod(o),
      );
    }
    factory.start();
    const timeoutMs = opts.syncTimeoutMs ?? 5000;
    try {
      await factory.waitForSync({ timeoutMs });
    } catch (e) {
      log.warn('serving before the caches synced', { error: e instanceof Error ? e.message : String(e), timeoutMs });
    }
  }

  // -- upstreams
  const listenAsUpstreams = opts.listen.map((l) => ({ host: l.host, port: l.port }));
  const upstreams = opts.upstream
    ? withoutSelf(opts.upstream.map(parseUpstream), listenAsUpstreams)
    : defaultUpstreams(listenAsUpstreams, opts.resolvConf);
  const forwarder = new Forwarder({ upstreams, timeoutMs: opts.upstreamTimeoutMs, logger: log });

  // -- answering
  const cache = new Map<string, Buffer>();
  const useCache = opts.responseCache !== false;
  let cacheGeneration = state.generation;

  const chaseAndEncode = async (q: ParsedQuery, a: BuiltAnswer, tcp: boolean): Promise<Buffer> => {
    const chase = a.chase!;
    const id = Math.floor(Math.random() * 0xffff);
    const r = await forwarder.forward(encodeQuery(id, chase.name, chase.type, { edns: 1232 }), true);
    let extra: BuiltAnswer['answers'] = [];
    if (r) {
      try {
        extra = decodeMessage(r).answers ?? [];
      } catch {
        extra = [];
      }
    }
    return encodeResponse(q, { ...a, answers: [...a.answers, ...extra] }, tcp).buf;
  };

  /** Answer one message; send is called at most once. */
  const handle = (msg: Buffer, tcp: boolean, send: (b: Buffer) => void): void => {
    stats.queries++;
    if (cacheGeneration !== state.generation) {
      cache.clear();
      cacheGeneration = state.generation;
    }
    const key = useCache && msg.length >= 12 ? (tcp ? 't' : 'u') + msg.toString('latin1', 2) : '';
    const hit = key ? cache.get(key) : undefined;
    if (hit) {
      stats.cacheHits++;
      const out = Buffer.allocUnsafe(hit.length);
      hit.copy(out);
      out[0] = msg[0];
      out[1] = msg[1];
      send(out);
      return;
    }
    const parsed = parseQuery(msg);
    if (!parsed.ok) {
      if (parsed.reply) {
        stats.formErrors++;
        send(parsed.reply);
      } else {
        stats.dropped++;
      }
      return;
    }
    const q = parsed.query;
    if (badEdnsVersion(q)) {
      send(badVersReply(q));
      return;
    }
    let res;
    try {
      res = buildAnswer(state, q.question, cfg);
    } catch (e) {
      stats.servFail++;
      log.error('answer failed', { name: q.question.name, type: q.question.type, error: e instanceof Error ? (e.stack ?? e.message) : String(e) });
      send(errorResponse(q, 'SERVFAIL'));
      return;
    }
    if (res.kind === 'forward') {
      stats.forwarded++;
      void forwarder.forward(msg, tcp).then(
        (r) => {
          if (r) send(r);
          else {
            stats.servFail++;
            send(errorResponse(q, 'SERVFAIL'));
          }
        },
        () => send(errorResponse(q, 'SERVFAIL')),
      );
      return;
    }
    if (res.chase) {
      const a = res;
      void chaseAndEncode(q, a, tcp).then(send, () => send(errorResponse(q, 'SERVFAIL')));
      return;
    }
    const { buf, truncated } = encodeResponse(q, res, tcp);
    if (truncated) stats.truncated++;
    if (key) {
      if (cache.size >= RESPONSE_CACHE_MAX) cache.clear();
      cache.set(key, buf);
    }
    send(buf);
  };

  // -- sockets
  const connections = new Set<net.Socket>();
  const onUdp = (sock: dgram.Socket): void => {
    sock.on('message', (msg, rinfo) => {
      handle(msg, false, (b) => sock.send(b, rinfo.port, rinfo.address));
    });
    sock.on('error', (e) => log.warn('udp socket error', { error: e.message }));
  };
  const onTcp = (c: net.Socket): void => {
    if (connections.size >= TCP_MAX_CONNECTIONS) {
      c.destroy();
      return;
    }
    connections.add(c);
    c.setTimeout(TCP_IDLE_MS, () => c.destroy());
    let buf: Buffer = Buffer.alloc(0);
    c.on('data', (d: Buffer) => {
      buf = buf.length === 0 ? d : Buffer.concat([buf, d]);
      while (buf.length >= 2) {
        const len = buf.readUInt16BE(0);
        if (buf.length < 2 + len) break;
        const msg = buf.subarray(2, 2 + len);
        buf = buf.subarray(2 + len);
        if (len < 12) {
          // Not even a header: nothing sensible to answer on this stream.
          stats.dropped++;
          c.destroy();
          return;
        }
        handle(Buffer.from(msg), true, (b) => {
          if (c.destroyed) return;
          const head = Buffer.allocUnsafe(2);
          head.writeUInt16BE(b.length);
          c.write(Buffer.concat([head, b]));
        });
      }
    });
    c.on('error', () => c.destroy());
    c.on('close', () => connections.delete(c));
  };

  const bound: Bound[] = [];
  try {
    for (const l of opts.listen) bound.push(await bindPair(l.host, l.port, onUdp, onTcp));
  } catch (e) {
    for (const b of bound) {
      b.udp.close();
      b.tcp.close();
    }
    forwarder.close();
    for (const u of unregister) u();
    await factory?.stop();
    client?.close();
    throw e;
  }
  const addresses = bound.map((b) => ({ host: b.host, port: b.port }));
  log.info('listening', { addresses: addresses.map((a) => `${a.host}:${a.port}`), zone, upstreams: upstreams.map((u) => `${u.host}:${u.port}`) });

  let stopped: Promise<void> | undefined;
  return {
    addresses,
    state,
    stats,
    upstreams,
    stop(): Promise<void> {
      stopped ??= (async () => {
        for (const u of unregister) u();
        forwarder.close();
        for (const c of connections) c.destroy();
        await Promise.all(
          bound.map(
            (b) =>
              new Promise<void>((resolve) => {
                b.udp.close(() => resolve());
              }),
          ),
        );
        await Promise.all(bound.map((b) => new Promise<void>((resolve) => b.tcp.close(() => resolve()))));
        await factory?.stop();
        client?.close();
        log.info('stopped');
      })();
      return stopped;
    },
  };
}
