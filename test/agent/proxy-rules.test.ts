import { test } from 'node:test';
import assert from 'node:assert/strict';
import { computeServiceRules, endpointChainName, ipv4InCIDR, renderNftDelete, renderNftRuleset, serviceChainName, type ServicePortRule } from '../../src/agent/proxy/rules.ts';
import type { KubeObject } from '../../src/registry/types.ts';

const svc = (ns: string, name: string, spec: Record<string, unknown>): KubeObject => ({ apiVersion: 'v1', kind: 'Service', metadata: { namespace: ns, name }, spec });
const slice = (ns: string, service: string, endpoints: unknown[], ports: unknown[], extra: Record<string, unknown> = {}): KubeObject => ({
  apiVersion: 'discovery.k8s.io/v1',
  kind: 'EndpointSlice',
  metadata: { namespace: ns, name: `${service}-${Math.random().toString(36).slice(2, 7)}`, labels: { 'kubernetes.io/service-name': service } },
  addressType: 'IPv4',
  endpoints,
  ports,
  ...extra,
});
const ep = (ip: string, conditions?: Record<string, boolean>) => ({ addresses: [ip], ...(conditions ? { conditions } : {}) });
const eps = (r: ServicePortRule | undefined) => r?.endpoints.map((e) => `${e.ip}:${e.port}`);

test('ipv4InCIDR', () => {
  const cases: [string, string, boolean][] = [
    ['10.244.0.5', '10.244.0.0/24', true],
    ['10.244.1.5', '10.244.0.0/24', false],
    ['10.244.1.5', '10.244.0.0/16', true],
    ['1.2.3.4', '0.0.0.0/0', true],
    ['10.0.0.1', '10.0.0.1/32', true],
    ['10.0.0.2', '10.0.0.1/32', false],
    ['::1', '10.0.0.0/8', false],
  ];
  for (const [ip, cidr, want] of cases) assert.equal(ipv4InCIDR(ip, cidr), want, `${ip} in ${cidr}`);
});

test('endpoint selection per service port (table)', () => {
  type Case = { name: string; services: KubeObject[]; slices: KubeObject[]; want: Record<string, string[]>; opts?: { hostEndpointAddress?: string } };
  const web = svc('a', 'web', { clusterIP: '10.43.0.10', ports: [{ name: 'http', port: 80, targetPort: 'web' }] });
  const cases: Case[] = [
    {
      name: 'ready endpoints only; nil ready counts as ready',
      services: [web],
      slices: [slice('a', 'web', [ep('10.244.0.6', { ready: true }), ep('10.244.0.5'), ep('10.244.0.7', { ready: false, serving: false })], [{ name: 'http', port: 8080, protocol: 'TCP' }])],
      want: { 'a/web:http': ['10.244.0.5:8080', '10.244.0.6:8080'] },
    },
    {
      name: 'no ready endpoints: serving+terminating fallback',
      services: [web],
      slices: [
        slice(
          'a',
          'web',
          [ep('10.244.0.5', { ready: false, serving: true, terminating: true }), ep('10.244.0.6', { ready: false, serving: false, terminating: true }), ep('10.244.0.7', { ready: false, serving: false })],
          [{ name: 'http', port: 8080, protocol: 'TCP' }],
        ),
      ],
      want: { 'a/web:http': ['10.244.0.5:8080'] },
    },
    {
      name: 'ready ones win over terminating ones',
      services: [web],
      slices: [slice('a', 'web', [ep('10.244.0.5', { ready: false, serving: true, terminating: true }), ep('10.244.0.9', { ready: true })], [{ name: 'http', port: 8080 }])],
      want: { 'a/web:http': ['10.244.0.9:8080'] },
    },
    {
      name: 'no slices: a port without endpoints',
      services: [web],
      slices: [],
      want: { 'a/web:http': [] },
    },
    {
      name: 'slices of another namespace or service, IPv6 slices, and unmatched port names are ignored',
      services: [web],
      slices: [
        slice('b', 'web', [ep('10.244.0.5')], [{ name: 'http', port: 8080 }]),
        slice('a', 'other', [ep('10.244.0.6')], [{ name: 'http', port: 8080 }]),
        slice('a', 'web', [ep('fd00::1')], [{ name: 'http', port: 8080 }], { addressType: 'IPv6' }),
        slice('a', 'web', [ep('10.244.0.8')], [{ name: 'metrics', port: 9090 }]),
        slice('a', 'web', [ep('10.244.0.9')], [{ name: 'http', port: 8080, protocol: 'UDP' }]),
      ],
      want: { 'a/web:http': [] },
    },
    {
      name: 'several slices, several ports, unnamed port, per-port target ports, duplicates merged',
      services: [svc('a', 'db', { clusterIP: '10.43.0.11', ports: [{ name: 'sql', port: 5432 }, { name: 'dns', port: 53, protocol: 'UDP' }] }), svc('a', 'one', { clusterIP: '10.43.0.12', ports: [{ port: 80 }] })],
      slices: [
        slice('a', 'db', [ep('10.244.0.2'), ep('10.244.0.3')], [{ name: 'sql', port: 5433 }, { name: 'dns', port: 1053, protocol: 'UDP' }]),
        slice('a', 'db', [ep('10.244.0.4'), ep('10.244.0.3')], [{ name: 'sql', port: 5433 }]),
        slice('a', 'one', [ep('10.244.0.20')], [{ port: 8000 }]),
      ],
      want: { 'a/db:dns': ['10.244.0.2:1053', '10.244.0.3:1053'], 'a/db:sql': ['10.244.0.2:5433', '10.244.0.3:5433', '10.244.0.4:5433'], 'a/one:': ['10.244.0.20:8000'] },
    },
    {
      name: 'headless, ExternalName and unallocated services get no rules',
      services: [svc('a', 'h', { clusterIP: 'None', ports: [{ port: 80 }] }), svc('a', 'x', { type: 'ExternalName', externalName: 'example.com' }), svc('a', 'n', { ports: [{ port: 80 }] })],
      slices: [slice('a', 'h', [ep('10.244.0.2')], [{ port: 80 }])],
      want: {},
    },
    {
      name: 'dual-stack service: the IPv4 cluster IP',
      services: [svc('a', 'ds', { clusterIP: 'fd00::10', clusterIPs: ['fd00::10', '10.43.0.13'], ports: [{ port: 80 }] })],
      slices: [slice('a', 'ds', [ep('10.244.0.2')], [{ port: 80 }])],
      want: { 'a/ds:': ['10.244.0.2:80'] },
    },
    {
      name: 'loopback endpoints replaced by hostEndpointAddress',
      services: [svc('default', 'kubernetes', { clusterIP: '10.43.0.1', ports: [{ name: 'https', port: 443, targetPort: 6443 }] })],
      slices: [slice('default', 'kubernetes', [ep('127.0.0.1', { ready: true })], [{ name: 'https', port: 6443, protocol: 'TCP' }])],
      opts: { hostEndpointAddress: '10.244.0.1' },
      want: { 'default/kubernetes:https': ['10.244.0.1:6443'] },
    },
  ];
  for (const c of cases) {
    const rules = computeServiceRules(c.services, c.slices, c.opts);
    assert.deepEqual(Object.fromEntries(rules.map((r) => [r.key, eps(r)])), c.want, c.name);
  }
  const [dns] = computeServiceRules([svc('a', 'db', { clusterIP: '10.43.0.11', ports: [{ name: 'dns', port: 53, protocol: 'UDP' }] })], []);
  assert.deepEqual({ ip: dns?.clusterIP, port: dns?.port, protocol: dns?.protocol }, { ip: '10.43.0.11', port: 53, protocol: 'udp' });
});

test('nft ruleset: maps, load-balancing, masquerade marks, reject', () => {
  const rules = computeServiceRules(
    [
      svc('a', 'web', { clusterIP: '10.43.0.10', ports: [{ name: 'http', port: 80 }] }),
      svc('a', 'ext', { clusterIP: '10.43.0.14', ports: [{ port: 80 }] }),
      svc('a', 'none', { clusterIP: '10.43.0.15', ports: [{ port: 80 }, { name: 'd', port: 53, protocol: 'UDP' }] }),
      svc('default', 'kubernetes', { clusterIP: '10.43.0.1', ports: [{ name: 'https', port: 443 }] }),
    ],
    [
      slice('a', 'web', [ep('10.244.0.5'), ep('10.244.0.6'), ep('10.244.0.7')], [{ name: 'http', port: 8080 }]),
      slice('a', 'ext', [ep('192.168.1.9')], [{ port: 9000 }]),
      slice('default', 'kubernetes', [ep('127.0.0.1')], [{ name: 'https', port: 6443 }]),
    ],
  );
  const text = renderNftRuleset(rules, { podCIDR: '10.244.0.0/24', table: 'kp-test' });
  const lines = text.split('\n').map((l) => l.trim());
  // Atomic replace: create-if-missing, delete, define.
  assert.deepEqual(lines.slice(0, 3), ['table ip kp-test {}', 'delete table ip kp-test', 'table ip kp-test {']);
  const web = rules.find((r) => r.key === 'a/web:http')!;
  const ext = rules.find((r) => r.key === 'a/ext:')!;
  const api = rules.find((r) => r.key === 'default/kubernetes:https')!;
  assert.ok(text.includes(`10.43.0.10 . tcp . 80 : goto ${serviceChainName(web)}`));
  assert.ok(text.includes(`10.43.0.15 . tcp . 80 : goto reject-chain`));
  assert.ok(text.includes(`10.43.0.15 . udp . 53 : goto reject-chain`));
  assert.ok(!text.includes('10.43.0.15 . tcp . 80 : goto svc-'));
  const chain = (name: string): string[] => {
    const i = lines.indexOf(`chain ${name} {`);
    assert.ok(i > 0, `chain ${name}`);
    return lines.slice(i + 1, lines.indexOf('}', i));
  };
  assert.deepEqual(chain(serviceChainName(web)).slice(1), [
    `numgen random mod 3 vmap { ${web.endpoints.map((e, i) => `${i} : goto ${endpointChainName(web, e)}`).join(', ')} }`,
  ]);
  // In-pod-network endpoint: only hairpin masquerade.
  assert.deepEqual(chain(endpointChainName(web, web.endpoints[0]!)).slice(1), ['ip saddr 10.244.0.5 jump mark-for-masquerade', 'meta l4proto tcp dnat to 10.244.0.5:8080']);
  // Endpoint outside the pod network: pods' traffic masqueraded too.
  assert.deepEqual(chain(endpointChainName(ext, ext.endpoints[0]!)).slice(1), [
    'ip saddr 192.168.1.9 jump mark-for-masquerade',
    'ip saddr 10.244.0.0/24 jump mark-for-masquerade',
    'meta l4proto tcp dnat to 192.168.1.9:9000',
  ]);
  // Loopback endpoint: plain DNAT (delivered locally, never masqueraded).
  assert.deepEqual(chain(serviceChainName(api)).slice(1), [`goto ${endpointChainName(api, api.endpoints[0]!)}`]);
  assert.deepEqual(chain(endpointChainName(api, api.endpoints[0]!)).slice(1), ['meta l4proto tcp dnat to 127.0.0.1:6443']);
  assert.deepEqual(chain('reject-chain'), ['meta l4proto tcp reject with tcp reset', 'reject']);
  assert.ok(chain('filter-input').includes('iifname != "lo" ip daddr 127.0.0.0/8 ct status & dnat == 0 drop'));
  assert.ok(chain('nat-postrouting').includes('masquerade fully-random'));
  assert.ok(!text.includes('jump mark-for-masquerade\n    numgen'));

  // masqueradeAll marks in every service chain.
  const all = renderNftRuleset(rules, { podCIDR: '10.244.0.0/24', table: 'kp-test', masqueradeAll: true });
  assert.equal(all.split('\n').filter((l) => l.trim() === 'jump mark-for-masquerade').length, 3);
  // Chain names are stable and distinct.
  assert.equal(serviceChainName(web), serviceChainName({ ...web }));
  assert.equal(new Set(web.endpoints.map((e) => endpointChainName(web, e))).size, 3);

  // Empty: the maps exist without elements.
  const empty = renderNftRuleset([], { podCIDR: '10.244.0.0/24' });
  assert.ok(empty.includes('table ip kennel-proxy {') && !empty.includes('elements'));
  assert.throws(() => renderNftRuleset([], { podCIDR: '10.244.0.0/24', table: 'bad name' }));
  assert.throws(() => renderNftRuleset([], { podCIDR: 'nope' }));
  assert.equal(renderNftDelete('kp-test'), 'table ip kp-test {}\ndelete table ip kp-test\n');
});
