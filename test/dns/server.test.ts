// The DNS server over real sockets, fed a fixed state (no API server), asked with the real dig:
// UDP and TCP, truncation and the TCP retry, malformed packets, forwarding to an upstream (a
// fake resolver on 127.0.0.1), the response cache following state changes.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import net from 'node:net';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import dnsPacket, { type Answer } from 'dns-packet';
import { startDnsServer, type DnsServer } from '../../src/dns/server.ts';
import { DnsState, type DnsEndpoint } from '../../src/dns/state.ts';
import { defaultUpstreams, parseResolvConf, parseUpstream, withoutSelf } from '../../src/dns/forward.ts';
import { silentLogger } from '../../src/util/log.ts';
import { dig, requireDig } from './dig.ts';

const HOST = '127.0.0.1';
const web = [{ name: 'web', protocol: 'TCP', port: 80 }];

function endpoints(n: number, net = 10): DnsEndpoint[] {
  return Array.from({ length: n }, (_, i) => ({ ip: `${net}.244.${Math.floor(i / 200)}.${(i % 200) + 10}`, hostname: `web-${i}`, ports: web }));
}

/** A fake upstream resolver: example.test A → 192.0.2.1; big.example.test → 40 A records
 *  (truncated over UDP, whole over TCP); slow.example.test never answers. */
async function startUpstream(): Promise<{ port: number; udpQueries: string[]; tcpQueries: string[]; stop(): Promise<void> }> {
  const udpQueries: string[] = [];
  const tcpQueries: string[] = [];
  const answerFor = (msg: Buffer, tcp: boolean): Buffer | undefined => {
    const q = dnsPacket.decode(msg);
    const question = q.questions![0];
    (tcp ? tcpQueries : udpQueries).push(question.name);
    if (question.name === 'slow.example.test') return undefined;
    let answers: Answer[] = [];
    let flags = dnsPacket.RECURSION_AVAILABLE;
    if (question.name === 'example.test') answers = [{ name: 'example.test', type: 'A', ttl: 60, data: '192.0.2.1' }];
    if (question.name === 'big.example.test') {
      answers = Array.from({ length: 40 }, (_, i): Answer => ({ name: 'big.example.test', type: 'A', ttl: 60, data: `192.0.2.${i + 1}` }));
      if (!tcp) {
        answers = answers.slice(0, 5);
        flags |= dnsPacket.TRUNCATED_RESPONSE;
      }
    }
    return dnsPacket.encode({ type: 'response', id: q.id, flags, questions: q.questions, answers });
  };
  const udp = dgram.createSocket('udp4');
  udp.on('message', (msg, rinfo) => {
    const r = answerFor(msg, false);
    if (r) udp.send(r, rinfo.port, rinfo.address);
  });
  await new Promise<void>((r) => udp.bind(0, HOST, r));
  const port = udp.address().port;
  const tcp = net.createServer((c) => {
    let buf = Buffer.alloc(0);
    c.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      if (buf.length < 2 || buf.length < 2 + buf.readUInt16BE(0)) return;
      const r = answerFor(buf.subarray(2, 2 + buf.readUInt16BE(0)), true);
      if (!r) return;
      const len = Buffer.alloc(2);
      len.writeUInt16BE(r.length);
      c.end(Buffer.concat([len, r]));
    });
    c.on('error', () => undefined);
  });
  await new Promise<void>((resolve, reject) => {
    tcp.once('error', reject);
    tcp.listen(port, HOST, () => resolve());
  });
  return {
    port,
    udpQueries,
    tcpQueries,
    stop: async () => {
      await new Promise<void>((r) => udp.close(() => r()));
      await new Promise<void>((r) => tcp.close(() => r()));
    },
  };
}

/** Send raw bytes over UDP and wait briefly for a reply. */
function rawUdp(port: number, bytes: Buffer, waitMs = 300): Promise<Buffer | undefined> {
  return new Promise((resolve) => {
    const s = dgram.createSocket('udp4');
    const t = setTimeout(() => {
      s.close();
      resolve(undefined);
    }, waitMs);
    s.on('message', (m) => {
      clearTimeout(t);
      s.close();
      resolve(m);
    });
    s.send(bytes, port, HOST);
  });
}

describe('DNS server (fixed state, real sockets, dig)', () => {
  let server: DnsServer;
  let upstream: Awaited<ReturnType<typeof startUpstream>>;
  let state: DnsState;
  let port: number;
  const ask = (...args: string[]) => dig(HOST, port, args);

  before(async () => {
    requireDig();
    upstream = await startUpstream();
    state = new DnsState();
    state.setNamespace('default');
    state.setService({ namespace: 'default', name: 'nginx', type: 'ClusterIP', headless: true, clusterIPs: [], ports: web });
    state.setServiceEndpoints('default', 'nginx', endpoints(3));
    state.setService({ namespace: 'default', name: 'many', type: 'ClusterIP', headless: true, clusterIPs: [], ports: web });
    state.setServiceEndpoints('default', 'many', endpoints(60, 11));
    state.setService({ namespace: 'default', name: 'api', type: 'ClusterIP', headless: false, clusterIPs: ['10.43.0.20'], ports: [{ name: 'http', protocol: 'TCP', port: 8080 }] });
    state.setService({ namespace: 'default', name: 'ext', type: 'ExternalName', headless: false, clusterIPs: [], ports: [], externalName: 'example.test' });
    server = await startDnsServer({ state, listen: [{ host: HOST, port: 0 }], upstream: [`${HOST}:${upstream.port}`], upstreamTimeoutMs: 300, logger: silentLogger });
    port = server.addresses[0].port;
  });

  after(async () => {
    await server?.stop();
    await upstream?.stop();
  });

  it('answers A over UDP and TCP, authoritative, TTL 5', async () => {
    for (const transport of ['+notcp', '+tcp']) {
      const r = await ask('web-1.nginx.default.svc.cluster.local', 'A', transport);
      assert.equal(r.status, 'NOERROR', transport);
      assert.ok(r.flags.includes('aa'), `${transport}: AA set (${r.flags.join(' ')})`);
      assert.deepEqual(r.answer, ['web-1.nginx.default.svc.cluster.local. 5 IN A 10.244.0.11'], transport);
    }
  });

  it('SRV with the A records in the additional section; PTR; NXDOMAIN and NODATA with the SOA', async () => {
    const srv = await ask('SRV', '_web._tcp.nginx.default.svc.cluster.local');
    assert.deepEqual(srv.answer.sort(), [0, 1, 2].map((i) => `_web._tcp.nginx.default.svc.cluster.local. 5 IN SRV 0 33 80 web-${i}.nginx.default.svc.cluster.local.`));
    assert.deepEqual(srv.additional.sort(), [0, 1, 2].map((i) => `web-${i}.nginx.default.svc.cluster.local. 5 IN A 10.244.0.${10 + i}`));
    const ptr = await ask('-x', '10.244.0.12');
    assert.deepEqual(ptr.answer, ['12.0.244.10.in-addr.arpa. 5 IN PTR web-2.nginx.default.svc.cluster.local.']);
    const ptrSvc = await ask('-x', '10.43.0.20');
    assert.deepEqual(ptrSvc.answer, ['20.0.43.10.in-addr.arpa. 5 IN PTR api.default.svc.cluster.local.']);
    const nx = await ask('nope.default.svc.cluster.local', 'A');
    assert.equal(nx.status, 'NXDOMAIN');
    assert.equal(nx.authority.length, 1);
    assert.match(nx.authority[0], /^cluster\.local\. 5 IN SOA ns\.dns\.cluster\.local\. hostmaster\.cluster\.local\. \d+ 7200 1800 86400 5$/);
    const nodata = await ask('api.default.svc.cluster.local', 'AAAA');
    assert.equal(nodata.status, 'NOERROR');
    assert.deepEqual(nodata.answer, []);
    assert.equal(nodata.authority.length, 1, 'NODATA carries the SOA');
  });

  it('truncates over UDP (TC) and dig retries over TCP for the whole answer', async () => {
    const udpOnly = await ask('many.default.svc.cluster.local', 'A', '+ignore', '+noedns');
    assert.ok(udpOnly.flags.includes('tc'), `TC set: ${udpOnly.flags.join(' ')}`);
    assert.ok(udpOnly.answer.length > 0 && udpOnly.answer.length < 60, `${udpOnly.answer.length} answers fit in 512 bytes`);
    const edns = await ask('many.default.svc.cluster.local', 'A', '+ignore', '+bufsize=4096');
    assert.ok(!edns.flags.includes('tc'), 'fits in the advertised 4096 bytes');
    assert.equal(edns.answer.length, 60);
    const retried = await ask('many.default.svc.cluster.local', 'A', '+noedns');
    assert.ok(!retried.flags.includes('tc'));
    assert.equal(retried.answer.length, 60, 'the TCP retry has every address');
    assert.ok(server.stats.truncated >= 1);
  });

  it('ignores malformed packets (FORMERR when it can) and keeps serving', async () => {
    const before = server.stats.formErrors;
    assert.equal(await rawUdp(port, Buffer.from([1, 2, 3])), undefined, 'no reply to 3 bytes');
    const garbage = Buffer.concat([Buffer.from([0x12, 0x34, 0x01, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0]), Buffer.from([0x3f, 0x41, 0x41])]);
    const r = await rawUdp(port, garbage);
    assert.ok(r, 'a reply to a readable header');
    assert.equal(r.readUInt16BE(0), 0x1234);
    assert.equal(r[3] & 0x0f, 1, 'FORMERR');
    assert.equal(server.stats.formErrors, before + 1);
    // Garbage over TCP: the connection is dropped, the server lives on.
    await new Promise<void>((resolve) => {
      const c = net.connect(port, HOST, () => c.write(Buffer.from([0, 3, 9, 9, 9])));
      c.on('close', () => resolve());
      c.on('error', () => resolve());
    });
    const ok = await ask('web-0.nginx.default.svc.cluster.local', 'A');
    assert.deepEqual(ok.answer, ['web-0.nginx.default.svc.cluster.local. 5 IN A 10.244.0.10']);
  });

  it('forwards other names upstream; TCP clients get the TCP retry on TC; a silent upstream is SERVFAIL', async () => {
    const r = await ask('example.test', 'A');
    assert.equal(r.status, 'NOERROR');
    assert.deepEqual(r.answer, ['example.test. 60 IN A 192.0.2.1']);
    assert.ok(!r.flags.includes('aa'), 'not authoritative for forwarded names');
    const big = await ask('big.example.test', 'A', '+tcp');
    assert.equal(big.answer.length, 40, 'the server retried upstream over TCP');
    assert.ok(upstream.tcpQueries.includes('big.example.test'));
    const slow = await ask('slow.example.test', 'A');
    assert.equal(slow.status, 'SERVFAIL');
    // Reverse names without a cluster record go upstream too.
    const n = upstream.udpQueries.length;
    await ask('-x', '192.0.2.200');
    assert.equal(upstream.udpQueries.length, n + 1);
    assert.equal(upstream.udpQueries.at(-1), '200.2.0.192.in-addr.arpa');
  });

  it('chases an ExternalName target upstream', async () => {
    const r = await ask('ext.default.svc.cluster.local', 'A');
    assert.deepEqual(r.answer, ['ext.default.svc.cluster.local. 5 IN CNAME example.test.', 'example.test. 60 IN A 192.0.2.1']);
  });

  it('the response cache follows state changes at once', async () => {
    const q = ['nginx.default.svc.cluster.local', 'A', '+noedns', '+nocookie'];
    const a1 = await ask(...q);
    assert.equal(a1.answer.length, 3);
    const hits = server.stats.cacheHits;
    const a2 = await ask(...q);
    assert.deepEqual(a2.answer, a1.answer);
    assert.equal(server.stats.cacheHits, hits + 1, 'the same query is a cache hit');
    state.setServiceEndpoints('default', 'nginx', endpoints(2));
    const a3 = await ask(...q);
    assert.equal(a3.answer.length, 2, 'the change shows in the next answer');
    state.setServiceEndpoints('default', 'nginx', []);
    const a4 = await ask(...q);
    assert.equal(a4.status, 'NXDOMAIN', 'a headless service with no ready endpoint');
    state.setServiceEndpoints('default', 'nginx', endpoints(3));
  });
});

describe('DNS upstreams', () => {
  it('parses resolv.conf and upstream addresses, and never forwards to itself', async () => {
    assert.deepEqual(parseResolvConf('# c\nsearch x\nnameserver 10.0.0.2\nnameserver fe80::1%eth0\nnameserver bogus\n options ndots:5'), ['10.0.0.2', 'fe80::1']);
    assert.deepEqual(parseUpstream('1.2.3.4'), { host: '1.2.3.4', port: 53 });
    assert.deepEqual(parseUpstream('1.2.3.4:5353'), { host: '1.2.3.4', port: 5353 });
    assert.deepEqual(parseUpstream('[::1]:5353'), { host: '::1', port: 5353 });
    assert.deepEqual(parseUpstream('::1'), { host: '::1', port: 53 });
    assert.throws(() => parseUpstream('dns.google'), /not an IP address/);
    const listen = [{ host: '10.244.0.1', port: 53 }, { host: '0.0.0.0', port: 1053 }];
    assert.deepEqual(
      withoutSelf([{ host: '10.244.0.1', port: 53 }, { host: '127.0.0.1', port: 1053 }, { host: '127.0.0.1', port: 53 }, { host: '8.8.8.8', port: 53 }], listen),
      [{ host: '127.0.0.1', port: 53 }, { host: '8.8.8.8', port: 53 }],
    );
    const dir = await mkdtemp(join(tmpdir(), 'kennel-dns-'));
    try {
      const f = join(dir, 'resolv.conf');
      await writeFile(f, 'nameserver 10.244.0.1\nnameserver 192.0.2.53\n');
      assert.deepEqual(defaultUpstreams([{ host: '10.244.0.1', port: 53 }], f), [{ host: '192.0.2.53', port: 53 }]);
      assert.deepEqual(defaultUpstreams([], join(dir, 'missing')), []);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
