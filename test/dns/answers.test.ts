// The answer builder against CoreDNS's kubernetes plugin answers (its handler_test.go table:
// the same services, endpoints and expectations, written here as dig-style lines), plus the
// names kennel adds (pod A records, PTR, the zone apex) and the NXDOMAIN/NODATA cases.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Answer } from 'dns-packet';
import { buildAnswer, addressFromReverse, type AnswerConfig, type AnswerResult } from '../../src/dns/answers.ts';
import { DnsState, ipKey, dnsServiceOf, dnsEndpointsOfSlice, dnsEndpointsOfEndpoints } from '../../src/dns/state.ts';

const SERIAL = 1499347823;
/** 1234:abcd::1 as a reverse name: 32 nibbles, lowest first. */
const V6_REVERSE = `${'1234abcd000000000000000000000001'.split('').reverse().join('.')}.ip6.arpa`;
const SOA = `cluster.local. 5 IN SOA ns.dns.cluster.local. hostmaster.cluster.local. ${SERIAL} 7200 1800 86400 5`;
const http = [{ name: 'http', protocol: 'TCP', port: 80 }];

function fixture(): DnsState {
  const s = new DnsState({ now: () => SERIAL * 1000 });
  s.setNamespace('testns');
  s.setNamespace('empty-ns');
  s.setService({ namespace: 'testns', name: 'svc1', type: 'ClusterIP', headless: false, clusterIPs: ['10.0.0.1'], ports: http });
  s.setService({ namespace: 'testns', name: 'svcempty', type: 'ClusterIP', headless: false, clusterIPs: ['10.0.0.2'], ports: http });
  s.setService({ namespace: 'testns', name: 'svc6', type: 'ClusterIP', headless: false, clusterIPs: ['1234:abcd::1'], ports: http });
  s.setService({ namespace: 'testns', name: 'svc-dual-stack', type: 'ClusterIP', headless: false, clusterIPs: ['10.0.0.3', '10::3'], ports: http });
  s.setService({ namespace: 'testns', name: 'hdls1', type: 'ClusterIP', headless: true, clusterIPs: [], ports: http });
  s.setServiceEndpoints('testns', 'hdls1', [
    { ip: '172.0.0.2', hostname: '', ports: http },
    { ip: '172.0.0.3', hostname: '', ports: http },
    { ip: '172.0.0.4', hostname: 'dup-name', ports: http },
    { ip: '172.0.0.5', hostname: 'dup-name', ports: http },
    { ip: '5678:abcd::1', hostname: '', ports: http },
    { ip: '5678:abcd::2', hostname: '', ports: http },
  ]);
  s.setService({ namespace: 'testns', name: 'hdlsprtls', type: 'ClusterIP', headless: true, clusterIPs: [], ports: [] });
  s.setServiceEndpoints('testns', 'hdlsprtls', [{ ip: '172.0.0.20', hostname: '', ports: [] }]);
  s.setService({ namespace: 'testns', name: 'hdlsempty', type: 'ClusterIP', headless: true, clusterIPs: [], ports: http });
  s.setService({ namespace: 'testns', name: 'external', type: 'ExternalName', headless: false, clusterIPs: [], ports: http, externalName: 'ext.interwebs.test' });
  s.setService({ namespace: 'testns', name: 'external-to-service', type: 'ExternalName', headless: false, clusterIPs: [], ports: http, externalName: 'svc1.testns.svc.cluster.local' });
  // A StatefulSet behind a headless service with a named port and a second port.
  s.setNamespace('default');
  s.setService({ namespace: 'default', name: 'nginx', type: 'ClusterIP', headless: true, clusterIPs: [], ports: [{ name: 'web', protocol: 'TCP', port: 80 }, { name: 'metrics', protocol: 'TCP', port: 9113 }] });
  s.setServiceEndpoints(
    'default',
    'nginx',
    [0, 1, 2].map((i) => ({
      ip: `10.244.0.${10 + i}`,
      hostname: `web-${i}`,
      ports: [
        { name: 'web', protocol: 'TCP', port: 8080 },
        { name: 'metrics', protocol: 'TCP', port: 9113 },
      ],
    })),
  );
  s.setService({ namespace: 'default', name: 'dns', type: 'ClusterIP', headless: false, clusterIPs: ['10.43.0.10'], ports: [{ name: 'dns', protocol: 'UDP', port: 53 }, { name: 'dns-tcp', protocol: 'TCP', port: 53 }] });
  return s;
}

const cfg: AnswerConfig = { zone: 'cluster.local', ttl: 5, pods: 'insecure', nsAddresses: ['10.244.0.1'] };

/** A record the way dig prints it (one space between fields). */
function fmt(rr: Answer): string {
  const head = `${rr.name.replace(/\.?$/, '.')} ${'ttl' in rr ? (rr.ttl ?? 0) : 0} IN ${rr.type}`;
  switch (rr.type) {
    case 'A':
    case 'AAAA':
      return `${head} ${rr.data}`;
    case 'CNAME':
    case 'PTR':
    case 'NS':
      return `${head} ${rr.data}.`;
    case 'SRV':
      return `${head} ${rr.data.priority} ${rr.data.weight} ${rr.data.port} ${rr.data.target}.`;
    case 'SOA':
      return `${head} ${rr.data.mname}. ${rr.data.rname}. ${rr.data.serial} ${rr.data.refresh} ${rr.data.retry} ${rr.data.expire} ${rr.data.minimum}`;
    case 'TXT':
      return `${head} ${String(rr.data)}`;
    default:
      return head;
  }
}

interface Case {
  name: string;
  type: string;
  rcode?: string;
  answer?: string[];
  extra?: string[];
  ns?: string[];
}

function check(state: DnsState, c: Case, conf: AnswerConfig = cfg): void {
  const r = buildAnswer(state, { name: c.name, type: c.type as 'A', class: 'IN' }, conf);
  assert.equal(r.kind, 'answer', `${c.name} ${c.type}: answered here, not forwarded`);
  if (r.kind !== 'answer') return;
  const what = `${c.name} ${c.type}`;
  assert.equal(r.rcode, c.rcode ?? 'NOERROR', `${what}: rcode`);
  assert.equal(r.authoritative, true, `${what}: authoritative`);
  assert.deepEqual(r.answers.map(fmt).sort(), (c.answer ?? []).slice().sort(), `${what}: answer section`);
  assert.deepEqual(r.additionals.map(fmt).sort(), (c.extra ?? []).slice().sort(), `${what}: additional section`);
  assert.deepEqual(r.authorities.map(fmt), c.ns ?? [], `${what}: authority section`);
}

// CoreDNS plugin/kubernetes/handler_test.go dnsTestCases (the ones kennel's features cover).
const coredns: Case[] = [
  { name: 'svc1.testns.svc.cluster.local.', type: 'A', answer: ['svc1.testns.svc.cluster.local. 5 IN A 10.0.0.1'] },
  {
    name: 'svc1.testns.svc.cluster.local.',
    type: 'SRV',
    answer: ['svc1.testns.svc.cluster.local. 5 IN SRV 0 100 80 svc1.testns.svc.cluster.local.'],
    extra: ['svc1.testns.svc.cluster.local. 5 IN A 10.0.0.1'],
  },
  {
    name: 'svc6.testns.svc.cluster.local.',
    type: 'SRV',
    answer: ['svc6.testns.svc.cluster.local. 5 IN SRV 0 100 80 svc6.testns.svc.cluster.local.'],
    extra: ['svc6.testns.svc.cluster.local. 5 IN AAAA 1234:abcd::1'],
  },
  {
    name: '_http._tcp.svc1.testns.svc.cluster.local.',
    type: 'SRV',
    answer: ['_http._tcp.svc1.testns.svc.cluster.local. 5 IN SRV 0 100 80 svc1.testns.svc.cluster.local.'],
    extra: ['svc1.testns.svc.cluster.local. 5 IN A 10.0.0.1'],
  },
  {
    name: 'hdls1.testns.svc.cluster.local.',
    type: 'A',
    answer: ['172.0.0.2', '172.0.0.3', '172.0.0.4', '172.0.0.5'].map((ip) => `hdls1.testns.svc.cluster.local. 5 IN A ${ip}`),
  },
  { name: 'hdlsprtls.testns.svc.cluster.local.', type: 'A', answer: ['hdlsprtls.testns.svc.cluster.local. 5 IN A 172.0.0.20'] },
  { name: '172-0-0-20.hdlsprtls.testns.svc.cluster.local.', type: 'A', answer: ['172-0-0-20.hdlsprtls.testns.svc.cluster.local. 5 IN A 172.0.0.20'] },
  { name: '172-0-0-2.hdls1.testns.svc.cluster.local.', type: 'A', answer: ['172-0-0-2.hdls1.testns.svc.cluster.local. 5 IN A 172.0.0.2'] },
  { name: '172-0-0-3.hdls1.testns.svc.cluster.local.', type: 'A', answer: ['172-0-0-3.hdls1.testns.svc.cluster.local. 5 IN A 172.0.0.3'] },
  {
    name: 'dup-name.hdls1.testns.svc.cluster.local.',
    type: 'A',
    answer: ['dup-name.hdls1.testns.svc.cluster.local. 5 IN A 172.0.0.4', 'dup-name.hdls1.testns.svc.cluster.local. 5 IN A 172.0.0.5'],
  },
  {
    name: '_http._tcp.hdls1.testns.svc.cluster.local.',
    type: 'SRV',
    answer: ['172-0-0-2', '172-0-0-3', '5678-abcd--1', '5678-abcd--2', 'dup-name'].map((h) => `_http._tcp.hdls1.testns.svc.cluster.local. 5 IN SRV 0 16 80 ${h}.hdls1.testns.svc.cluster.local.`),
    extra: [
      '172-0-0-2.hdls1.testns.svc.cluster.local. 5 IN A 172.0.0.2',
      '172-0-0-3.hdls1.testns.svc.cluster.local. 5 IN A 172.0.0.3',
      '5678-abcd--1.hdls1.testns.svc.cluster.local. 5 IN AAAA 5678:abcd::1',
      '5678-abcd--2.hdls1.testns.svc.cluster.local. 5 IN AAAA 5678:abcd::2',
      'dup-name.hdls1.testns.svc.cluster.local. 5 IN A 172.0.0.4',
      'dup-name.hdls1.testns.svc.cluster.local. 5 IN A 172.0.0.5',
    ],
  },
  { name: '5678-abcd--2.hdls1.testns.svc.cluster.local', type: 'AAAA', answer: ['5678-abcd--2.hdls1.testns.svc.cluster.local. 5 IN AAAA 5678:abcd::2'] },
  { name: 'external.testns.svc.cluster.local.', type: 'CNAME', answer: ['external.testns.svc.cluster.local. 5 IN CNAME ext.interwebs.test.'] },
  {
    name: 'external-to-service.testns.svc.cluster.local',
    type: 'A',
    answer: ['external-to-service.testns.svc.cluster.local. 5 IN CNAME svc1.testns.svc.cluster.local.', 'svc1.testns.svc.cluster.local. 5 IN A 10.0.0.1'],
  },
  // AAAA of a service that has only an A record: NODATA.
  { name: 'svc1.testns.svc.cluster.local.', type: 'AAAA', ns: [SOA] },
  { name: 'svc0.testns.svc.cluster.local.', type: 'AAAA', rcode: 'NXDOMAIN', ns: [SOA] },
  { name: 'svc0.testns.svc.cluster.local.', type: 'A', rcode: 'NXDOMAIN', ns: [SOA] },
  { name: 'svc0.svc-nons.svc.cluster.local.', type: 'A', rcode: 'NXDOMAIN', ns: [SOA] },
  { name: 'dns-version.cluster.local.', type: 'TXT', answer: ['dns-version.cluster.local. 28800 IN TXT 1.1.0'] },
  { name: 'bogusendpoint.hdls1.testns.svc.cluster.local.', type: 'A', rcode: 'NXDOMAIN', ns: [SOA] },
  { name: 'bogusendpoint.svc0.testns.svc.cluster.local.', type: 'A', rcode: 'NXDOMAIN', ns: [SOA] },
  { name: 'svc6.testns.svc.cluster.local.', type: 'AAAA', answer: ['svc6.testns.svc.cluster.local. 5 IN AAAA 1234:abcd::1'] },
  {
    name: '_http._tcp.svc6.testns.svc.cluster.local.',
    type: 'SRV',
    answer: ['_http._tcp.svc6.testns.svc.cluster.local. 5 IN SRV 0 100 80 svc6.testns.svc.cluster.local.'],
    extra: ['svc6.testns.svc.cluster.local. 5 IN AAAA 1234:abcd::1'],
  },
  {
    name: 'hdls1.testns.svc.cluster.local.',
    type: 'AAAA',
    answer: ['hdls1.testns.svc.cluster.local. 5 IN AAAA 5678:abcd::1', 'hdls1.testns.svc.cluster.local. 5 IN AAAA 5678:abcd::2'],
  },
  { name: '5678-abcd--1.hdls1.testns.svc.cluster.local.', type: 'AAAA', answer: ['5678-abcd--1.hdls1.testns.svc.cluster.local. 5 IN AAAA 5678:abcd::1'] },
  { name: 'svc.cluster.local.', type: 'A', ns: [SOA] },
  { name: 'pod.cluster.local.', type: 'A', ns: [SOA] },
  { name: 'testns.svc.cluster.local.', type: 'A', ns: [SOA] },
  { name: 'svc.cluster.local.', type: 'NS', ns: [SOA] },
  { name: 'testns.svc.cluster.local.', type: 'NS', ns: [SOA] },
  { name: 'foo.cluster.local.', type: 'NS', rcode: 'NXDOMAIN', ns: [SOA] },
  { name: 'foo.svc.cluster.local.', type: 'NS', rcode: 'NXDOMAIN', ns: [SOA] },
  { name: 'svc-dual-stack.testns.svc.cluster.local.', type: 'A', answer: ['svc-dual-stack.testns.svc.cluster.local. 5 IN A 10.0.0.3'] },
  { name: 'svc-dual-stack.testns.svc.cluster.local.', type: 'AAAA', answer: ['svc-dual-stack.testns.svc.cluster.local. 5 IN AAAA 10::3'] },
  {
    name: 'svc-dual-stack.testns.svc.cluster.local.',
    type: 'SRV',
    answer: ['svc-dual-stack.testns.svc.cluster.local. 5 IN SRV 0 50 80 svc-dual-stack.testns.svc.cluster.local.'],
    extra: ['svc-dual-stack.testns.svc.cluster.local. 5 IN A 10.0.0.3', 'svc-dual-stack.testns.svc.cluster.local. 5 IN AAAA 10::3'],
  },
  { name: 'svc1.testns.svc.cluster.local.', type: 'SOA', ns: [SOA] },
  { name: 'endpoint.external.testns.svc.cluster.local.', type: 'CNAME', rcode: 'NXDOMAIN', ns: [SOA] },
];

// What kennel adds or pins down beyond that table.
const kennel: Case[] = [
  // The StatefulSet pattern: pod A, SRV on the bare name (every endpoint × port) and per port.
  { name: 'web-0.nginx.default.svc.cluster.local', type: 'A', answer: ['web-0.nginx.default.svc.cluster.local. 5 IN A 10.244.0.10'] },
  { name: 'WEB-1.Nginx.Default.svc.cluster.local', type: 'A', answer: ['WEB-1.Nginx.Default.svc.cluster.local. 5 IN A 10.244.0.11'] },
  { name: 'web-0.nginx.default.svc.cluster.local', type: 'AAAA', ns: [SOA] },
  { name: 'web-9.nginx.default.svc.cluster.local', type: 'A', rcode: 'NXDOMAIN', ns: [SOA] },
  {
    name: 'nginx.default.svc.cluster.local',
    type: 'SRV',
    answer: [0, 1, 2].flatMap((i) => [
      `nginx.default.svc.cluster.local. 5 IN SRV 0 16 8080 web-${i}.nginx.default.svc.cluster.local.`,
      `nginx.default.svc.cluster.local. 5 IN SRV 0 16 9113 web-${i}.nginx.default.svc.cluster.local.`,
    ]),
    extra: [0, 1, 2].map((i) => `web-${i}.nginx.default.svc.cluster.local. 5 IN A 10.244.0.${10 + i}`),
  },
  {
    name: '_web._tcp.nginx.default.svc.cluster.local',
    type: 'SRV',
    answer: [0, 1, 2].map((i) => `_web._tcp.nginx.default.svc.cluster.local. 5 IN SRV 0 33 8080 web-${i}.nginx.default.svc.cluster.local.`),
    extra: [0, 1, 2].map((i) => `web-${i}.nginx.default.svc.cluster.local. 5 IN A 10.244.0.${10 + i}`),
  },
  { name: '_web._udp.nginx.default.svc.cluster.local', type: 'SRV', rcode: 'NXDOMAIN', ns: [SOA] },
  { name: '_nope._tcp.nginx.default.svc.cluster.local', type: 'SRV', rcode: 'NXDOMAIN', ns: [SOA] },
  {
    name: '_web._tcp.web-2.nginx.default.svc.cluster.local',
    type: 'SRV',
    rcode: 'NXDOMAIN',
    ns: [SOA],
  },
  {
    name: 'web-2.nginx.default.svc.cluster.local',
    type: 'SRV',
    answer: [
      'web-2.nginx.default.svc.cluster.local. 5 IN SRV 0 50 8080 web-2.nginx.default.svc.cluster.local.',
      'web-2.nginx.default.svc.cluster.local. 5 IN SRV 0 50 9113 web-2.nginx.default.svc.cluster.local.',
    ],
    extra: ['web-2.nginx.default.svc.cluster.local. 5 IN A 10.244.0.12'],
  },
  { name: 'nginx.default.svc.cluster.local', type: 'TXT', ns: [SOA] },
  { name: 'nginx.default.svc.cluster.local', type: 'MX', ns: [SOA] },
  // A ClusterIP service: named ports with their protocols.
  {
    name: '_dns._udp.dns.default.svc.cluster.local',
    type: 'SRV',
    answer: ['_dns._udp.dns.default.svc.cluster.local. 5 IN SRV 0 100 53 dns.default.svc.cluster.local.'],
    extra: ['dns.default.svc.cluster.local. 5 IN A 10.43.0.10'],
  },
  { name: '_dns._tcp.dns.default.svc.cluster.local', type: 'SRV', rcode: 'NXDOMAIN', ns: [SOA] },
  // A headless service whose selector matches nothing: NXDOMAIN, even for SRV.
  { name: 'hdlsempty.testns.svc.cluster.local', type: 'A', rcode: 'NXDOMAIN', ns: [SOA] },
  { name: 'hdlsempty.testns.svc.cluster.local', type: 'SRV', rcode: 'NXDOMAIN', ns: [SOA] },
  // A ClusterIP service without endpoints still has its cluster IP.
  { name: 'svcempty.testns.svc.cluster.local.', type: 'A', answer: ['svcempty.testns.svc.cluster.local. 5 IN A 10.0.0.2'] },
  // A portless headless service has addresses but no SRV.
  { name: 'hdlsprtls.testns.svc.cluster.local.', type: 'SRV', ns: [SOA] },
  // Namespaces: an existing one without services is NODATA, an unknown one NXDOMAIN.
  { name: 'empty-ns.svc.cluster.local', type: 'A', ns: [SOA] },
  { name: 'nope.svc.cluster.local', type: 'A', rcode: 'NXDOMAIN', ns: [SOA] },
  { name: 'a.b.c.nginx.default.svc.cluster.local', type: 'A', rcode: 'NXDOMAIN', ns: [SOA] },
  // Pods (insecure): any IP in an existing namespace.
  { name: '10-244-0-99.default.pod.cluster.local', type: 'A', answer: ['10-244-0-99.default.pod.cluster.local. 5 IN A 10.244.0.99'] },
  { name: '10-244-0-99.default.pod.cluster.local', type: 'AAAA', ns: [SOA] },
  { name: 'fd00--1.default.pod.cluster.local', type: 'AAAA', answer: ['fd00--1.default.pod.cluster.local. 5 IN AAAA fd00::1'] },
  { name: 'not-an-ip.default.pod.cluster.local', type: 'A', rcode: 'NXDOMAIN', ns: [SOA] },
  { name: '10-244-0-99.nope.pod.cluster.local', type: 'A', rcode: 'NXDOMAIN', ns: [SOA] },
  { name: 'default.pod.cluster.local', type: 'A', ns: [SOA] },
  // The apex.
  { name: 'cluster.local', type: 'SOA', answer: [SOA] },
  { name: 'cluster.local', type: 'NS', answer: ['cluster.local. 5 IN NS ns.dns.cluster.local.'], extra: ['ns.dns.cluster.local. 5 IN A 10.244.0.1'] },
  { name: 'cluster.local', type: 'A', ns: [SOA] },
  { name: 'ns.dns.cluster.local', type: 'A', answer: ['ns.dns.cluster.local. 5 IN A 10.244.0.1'] },
  // Reverse: cluster IPs and endpoints with hostnames.
  { name: '1.0.0.10.in-addr.arpa', type: 'PTR', answer: ['1.0.0.10.in-addr.arpa. 5 IN PTR svc1.testns.svc.cluster.local.'] },
  { name: '11.0.244.10.in-addr.arpa', type: 'PTR', answer: ['11.0.244.10.in-addr.arpa. 5 IN PTR web-1.nginx.default.svc.cluster.local.'] },
  { name: V6_REVERSE, type: 'PTR', answer: [`${V6_REVERSE}. 5 IN PTR svc6.testns.svc.cluster.local.`] },
];

describe('DNS answers: CoreDNS kubernetes plugin table', () => {
  const state = fixture();
  for (const c of coredns) it(`${c.name} ${c.type} → ${c.rcode ?? 'NOERROR'}${c.answer ? '' : c.rcode ? '' : ' (NODATA)'}`, () => check(state, c));
});

describe('DNS answers: kennel cases', () => {
  const state = fixture();
  for (const c of kennel) it(`${c.name} ${c.type} → ${c.rcode ?? 'NOERROR'}`, () => check(state, c));

  it('forwards names outside the zone, and reverse names it has no record for', () => {
    const state2 = fixture();
    const fwd = (name: string, type = 'A'): AnswerResult['kind'] => buildAnswer(state2, { name, type: type as 'A' }, cfg).kind;
    assert.equal(fwd('example.com'), 'forward');
    assert.equal(fwd('cluster.local.example.com'), 'forward');
    assert.equal(fwd('10.0.0.172.in-addr.arpa', 'PTR'), 'forward', 'endpoint IP without hostname: no PTR here');
    assert.equal(fwd('8.8.8.8.in-addr.arpa', 'PTR'), 'forward');
    assert.equal(fwd('1.0.0.10.in-addr.arpa', 'A'), 'forward');
    assert.equal(fwd('0.10.in-addr.arpa', 'PTR'), 'forward');
  });

  it('an ExternalName outside the zone: CNAME, and the server chases the target', () => {
    const r = buildAnswer(fixture(), { name: 'external.testns.svc.cluster.local', type: 'A' }, cfg);
    assert.equal(r.kind, 'answer');
    if (r.kind !== 'answer') return;
    assert.deepEqual(r.answers.map(fmt), ['external.testns.svc.cluster.local. 5 IN CNAME ext.interwebs.test.']);
    assert.deepEqual(r.chase, { name: 'ext.interwebs.test', type: 'A' });
    const srv = buildAnswer(fixture(), { name: 'external.testns.svc.cluster.local', type: 'SRV' }, cfg);
    assert.ok(srv.kind === 'answer' && srv.rcode === 'NOERROR' && srv.answers.length === 0, 'SRV of an ExternalName is NODATA');
  });

  it('pods verified: only IPs of pods in that namespace', () => {
    const state2 = fixture();
    state2.setPod({ metadata: { name: 'p', namespace: 'default' }, status: { podIP: '10.244.0.7', podIPs: [{ ip: '10.244.0.7' }] } });
    const v: AnswerConfig = { ...cfg, pods: 'verified' };
    check(state2, { name: '10-244-0-7.default.pod.cluster.local', type: 'A', answer: ['10-244-0-7.default.pod.cluster.local. 5 IN A 10.244.0.7'] }, v);
    check(state2, { name: '10-244-0-8.default.pod.cluster.local', type: 'A', rcode: 'NXDOMAIN', ns: [SOA] }, v);
    check(state2, { name: '10-244-0-7.testns.pod.cluster.local', type: 'A', rcode: 'NXDOMAIN', ns: [SOA] }, v);
    state2.deletePod({ metadata: { name: 'p', namespace: 'default' } });
    check(state2, { name: '10-244-0-7.default.pod.cluster.local', type: 'A', rcode: 'NXDOMAIN', ns: [SOA] }, v);
    check(state2, { name: '10-244-0-7.default.pod.cluster.local', type: 'A', rcode: 'NXDOMAIN', ns: [SOA] }, { ...cfg, pods: 'disabled' });
  });

  it('a different cluster domain and TTL', () => {
    const c: AnswerConfig = { zone: 'kennel.test', ttl: 30, pods: 'insecure' };
    const r = buildAnswer(fixture(), { name: 'svc1.testns.svc.kennel.test', type: 'A' }, c);
    assert.ok(r.kind === 'answer');
    assert.deepEqual(r.answers.map(fmt), ['svc1.testns.svc.kennel.test. 30 IN A 10.0.0.1']);
    assert.equal(buildAnswer(fixture(), { name: 'svc1.testns.svc.cluster.local', type: 'A' }, c).kind, 'forward');
    const neg = buildAnswer(fixture(), { name: 'x.testns.svc.kennel.test', type: 'A' }, c);
    assert.ok(neg.kind === 'answer');
    assert.deepEqual(neg.authorities.map(fmt), [`kennel.test. 30 IN SOA ns.dns.kennel.test. hostmaster.kennel.test. ${SERIAL} 7200 1800 86400 30`]);
  });
});

describe('DNS state', () => {
  it('merges a service endpoints from its EndpointSlices; not-ready ones are left out', () => {
    const s = new DnsState();
    s.setService(dnsServiceOf({ metadata: { name: 'db', namespace: 'x' }, spec: { clusterIP: 'None', ports: [{ name: 'pg', port: 5432, protocol: 'TCP' }] } }));
    const slice = (name: string, eps: { ip: string; host?: string; ready?: boolean }[]) => ({
      metadata: { name, namespace: 'x', labels: { 'kubernetes.io/service-name': 'db' } },
      addressType: 'IPv4',
      ports: [{ name: 'pg', port: 5432, protocol: 'TCP' }],
      endpoints: eps.map((e) => ({ addresses: [e.ip], hostname: e.host, conditions: e.ready === undefined ? {} : { ready: e.ready } })),
    });
    s.setEndpointSlice(slice('db-abcde', [{ ip: '10.0.0.1', host: 'db-0' }, { ip: '10.0.0.2', host: 'db-1', ready: false }]));
    s.setEndpointSlice(slice('db-fghij', [{ ip: '10.0.0.3', host: 'db-2', ready: true }]));
    assert.deepEqual(s.endpoints('x', 'db').map((e) => e.ip).sort(), ['10.0.0.1', '10.0.0.3']);
    assert.deepEqual(s.endpointsByHostname('x', 'db', 'DB-2').map((e) => e.ip), ['10.0.0.3']);
    assert.deepEqual(s.reverse('10.0.0.3'), ['db-2.db.x.svc']);
    assert.deepEqual(s.reverse('10.0.0.2'), [], 'not ready: no PTR');
    const g = s.generation;
    s.deleteEndpointSlice(slice('db-fghij', []));
    assert.ok(s.generation > g, 'a change bumps the generation');
    assert.deepEqual(s.endpoints('x', 'db').map((e) => e.ip), ['10.0.0.1']);
    assert.deepEqual(s.reverse('10.0.0.3'), []);
    // A slice that loses its service label leaves the service.
    s.setEndpointSlice({ ...slice('db-abcde', []), metadata: { name: 'db-abcde', namespace: 'x', labels: {} } });
    assert.deepEqual(s.endpoints('x', 'db'), []);
  });

  it('falls back to the Endpoints object for a service without slices (hand-written endpoints)', () => {
    const s = new DnsState();
    s.setService(dnsServiceOf({ metadata: { name: 'ext', namespace: 'x' }, spec: { clusterIP: 'None', ports: [{ port: 80 }] } }));
    const ep = { metadata: { name: 'ext', namespace: 'x' }, subsets: [{ addresses: [{ ip: '192.168.1.5', hostname: 'box' }], notReadyAddresses: [{ ip: '192.168.1.6' }], ports: [{ port: 80 }] }] };
    s.setEndpoints(ep);
    assert.deepEqual(dnsEndpointsOfEndpoints(ep), [{ ip: '192.168.1.5', hostname: 'box', ports: [{ name: '', protocol: 'TCP', port: 80 }] }]);
    assert.deepEqual(s.endpoints('x', 'ext').map((e) => e.ip), ['192.168.1.5']);
    // Once a slice exists, slices win.
    s.setEndpointSlice({ metadata: { name: 'ext-1', namespace: 'x', labels: { 'kubernetes.io/service-name': 'ext' } }, endpoints: [{ addresses: ['192.168.1.7'] }], ports: [] });
    assert.deepEqual(s.endpoints('x', 'ext').map((e) => e.ip), ['192.168.1.7']);
    assert.deepEqual(dnsEndpointsOfSlice({ metadata: {}, endpoints: [{ addresses: ['1.2.3.4'], conditions: { ready: false } }] }), []);
  });

  it('cluster IPs move with their service; IP keys are canonical', () => {
    const s = new DnsState();
    s.setService(dnsServiceOf({ metadata: { name: 'a', namespace: 'x' }, spec: { clusterIP: '10.43.0.5', clusterIPs: ['10.43.0.5'], ports: [{ port: 80 }] } }));
    assert.deepEqual(s.reverse('10.43.0.5'), ['a.x.svc']);
    s.deleteService('x', 'a');
    assert.deepEqual(s.reverse('10.43.0.5'), []);
    assert.equal(ipKey('fd00::1'), 'fd000000000000000000000000000001');
    assert.equal(ipKey('::ffff:10.0.0.1'), '00000000000000000000ffff0a000001');
    assert.equal(ipKey('nope'), undefined);
    assert.equal(addressFromReverse('4.3.2.1.in-addr.arpa'), '1.2.3.4');
    assert.equal(addressFromReverse('256.3.2.1.in-addr.arpa'), undefined);
    assert.equal(s.namespaceExists('x'), false, 'no namespace and no service left');
  });
});
