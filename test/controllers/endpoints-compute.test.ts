// The Endpoints computation (pure): which pods and ports a Service publishes, and whether the
// Endpoints object needs a write.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  HEADLESS_LABEL,
  OVER_CAPACITY_ANNOTATION,
  computeSubsets,
  decideEndpoints,
  findPort,
  managesEndpoints,
  servicePorts,
  type EndpointSubset,
} from '../../src/controllers/endpoints/compute.ts';
import { ServiceSelectorIndex } from '../../src/controllers/endpoints/service-index.ts';
import { pod, svc } from './endpoints-fixtures.ts';

const ref = (name: string, rv = '7') => ({ kind: 'Pod' as const, namespace: 'default', name, uid: `uid-${name}`, resourceVersion: rv });

interface Case {
  title: string;
  service: ReturnType<typeof svc>;
  pods: ReturnType<typeof pod>[];
  subsets: EndpointSubset[];
}

const cases: Case[] = [
  {
    title: 'ready and not-ready pods; hostname only for pods whose subdomain is the service',
    service: svc('nginx', { selector: { app: 'web' }, headless: true }),
    pods: [
      pod('web-0', { ip: '10.244.0.10', hostname: 'web-0', subdomain: 'nginx' }),
      pod('web-1', { ip: '10.244.0.11', hostname: 'web-1', subdomain: 'nginx', ready: false }),
      pod('other', { ip: '10.244.0.12', hostname: 'other', subdomain: 'elsewhere', node: 'node-2' }),
    ],
    subsets: [
      {
        addresses: [
          { ip: '10.244.0.10', hostname: 'web-0', nodeName: 'node-1', targetRef: ref('web-0') },
          { ip: '10.244.0.12', nodeName: 'node-2', targetRef: ref('other') },
        ],
        notReadyAddresses: [{ ip: '10.244.0.11', hostname: 'web-1', nodeName: 'node-1', targetRef: ref('web-1') }],
        ports: [{ name: 'web', port: 8080, protocol: 'TCP' }],
      },
    ],
  },
  {
    title: 'left out: terminating, terminal, IP-less, unselected and other-namespace pods',
    service: svc('nginx', { selector: { app: 'web' } }),
    pods: [
      pod('ok', { ip: '10.244.0.2' }),
      pod('deleting', { ip: '10.244.0.3', deleting: true }),
      pod('done', { ip: '10.244.0.4', phase: 'Succeeded' }),
      pod('failed', { ip: '10.244.0.5', phase: 'Failed', ready: false }),
      pod('pending', { ip: null, ready: false }),
      pod('db', { ip: '10.244.0.6', labels: { app: 'db' } }),
      pod('elsewhere', { ip: '10.244.0.7', ns: 'other' }),
    ],
    subsets: [{ addresses: [{ ip: '10.244.0.2', nodeName: 'node-1', targetRef: ref('ok') }], ports: [{ name: 'web', port: 8080, protocol: 'TCP' }] }],
  },
  {
    title: 'publishNotReadyAddresses: not-ready and terminating pods among the ready ones',
    service: svc('peers', { selector: { app: 'web' }, headless: true, publishNotReady: true }),
    pods: [pod('a', { ip: '10.244.0.2', ready: false }), pod('b', { ip: '10.244.0.3', deleting: true }), pod('c', { ip: '10.244.0.4' })],
    subsets: [
      {
        addresses: [
          { ip: '10.244.0.2', nodeName: 'node-1', targetRef: ref('a') },
          { ip: '10.244.0.3', nodeName: 'node-1', targetRef: ref('b') },
          { ip: '10.244.0.4', nodeName: 'node-1', targetRef: ref('c') },
        ],
        ports: [{ name: 'web', port: 8080, protocol: 'TCP' }],
      },
    ],
  },
  {
    title: 'named targetPort resolved per pod: one subset per resolved port set; a pod without the name is left out of that port',
    service: svc('api', {
      selector: { app: 'web' },
      ports: [
        { name: 'http', port: 80, targetPort: 'http', protocol: 'TCP' },
        { name: 'metrics', port: 9100, targetPort: 9100, protocol: 'TCP' },
      ],
    }),
    pods: [
      pod('v1', { ip: '10.244.0.9', ports: [{ name: 'http', containerPort: 8080 }] }),
      pod('v2', { ip: '10.244.0.10', ports: [{ name: 'http', containerPort: 9090, protocol: 'TCP' }] }),
      pod('v3', { ip: '10.244.0.11', ports: [{ name: 'http', containerPort: 8080, protocol: 'UDP' }] }),
    ],
    subsets: [
      {
        addresses: [{ ip: '10.244.0.9', nodeName: 'node-1', targetRef: ref('v1') }],
        ports: [
          { name: 'http', port: 8080, protocol: 'TCP' },
          { name: 'metrics', port: 9100, protocol: 'TCP' },
        ],
      },
      {
        addresses: [{ ip: '10.244.0.10', nodeName: 'node-1', targetRef: ref('v2') }],
        ports: [
          { name: 'http', port: 9090, protocol: 'TCP' },
          { name: 'metrics', port: 9100, protocol: 'TCP' },
        ],
      },
      { addresses: [{ ip: '10.244.0.11', nodeName: 'node-1', targetRef: ref('v3') }], ports: [{ name: 'metrics', port: 9100, protocol: 'TCP' }] },
    ],
  },
  {
    title: 'headless without ports: addresses only',
    service: svc('bare', { selector: { app: 'web' }, headless: true, ports: [] }),
    pods: [pod('x', { ip: '10.244.0.5' })],
    subsets: [{ addresses: [{ ip: '10.244.0.5', nodeName: 'node-1', targetRef: ref('x') }] }],
  },
  {
    title: 'ClusterIP without ports: nothing',
    service: svc('bare', { selector: { app: 'web' }, ports: [] }),
    pods: [pod('x', { ip: '10.244.0.5' })],
    subsets: [],
  },
  {
    title: 'addresses sort numerically by IP',
    service: svc('nginx', { selector: { app: 'web' } }),
    pods: [pod('p10', { ip: '10.244.0.10' }), pod('p9', { ip: '10.244.0.9' }), pod('p100', { ip: '10.244.0.100' })],
    subsets: [
      {
        addresses: [
          { ip: '10.244.0.9', nodeName: 'node-1', targetRef: ref('p9') },
          { ip: '10.244.0.10', nodeName: 'node-1', targetRef: ref('p10') },
          { ip: '10.244.0.100', nodeName: 'node-1', targetRef: ref('p100') },
        ],
        ports: [{ name: 'web', port: 8080, protocol: 'TCP' }],
      },
    ],
  },
  {
    title: 'services these controllers leave alone: selector-less, ExternalName, `kubernetes`',
    service: svc('manual', { selector: null }),
    pods: [pod('x')],
    subsets: [],
  },
];

describe('Endpoints computation', () => {
  for (const c of cases) {
    it(c.title, () => {
      assert.deepEqual(computeSubsets(c.service, c.pods), c.subsets);
    });
  }

  it('which services are managed', () => {
    assert.equal(managesEndpoints(svc('a')), true);
    assert.equal(managesEndpoints(svc('a', { selector: null })), false);
    assert.equal(managesEndpoints(svc('a', { selector: {} })), false, 'an empty selector selects nothing');
    assert.equal(managesEndpoints(svc('a', { type: 'ExternalName' })), false);
    assert.equal(managesEndpoints(svc('kubernetes', { selector: { x: 'y' } })), false);
    assert.equal(managesEndpoints(svc('kubernetes', { ns: 'other' })), true);
  });

  it('targetPort: number, numeric string, name (with protocol), or the port itself', () => {
    const p = pod('x', { ports: [{ name: 'dns', containerPort: 5353, protocol: 'UDP' }, { name: 'dns', containerPort: 5354 }] });
    const ports = servicePorts(
      svc('s', {
        ports: [
          { name: 'a', port: 53, targetPort: 'dns', protocol: 'UDP' },
          { name: 'b', port: 53, targetPort: 'dns', protocol: 'TCP' },
          { name: 'c', port: 80, targetPort: '8080' },
          { name: 'd', port: 81 },
          { name: 'e', port: 82, targetPort: 'nope' },
        ],
      }),
    );
    assert.deepEqual(
      ports.map((sp) => findPort(p, sp)),
      [5353, 5354, 8080, 81, undefined],
    );
  });

  it('decide: create with the service labels and the headless marker', () => {
    const s = svc('nginx', { headless: true, selector: { app: 'web' }, labels: { tier: 'front' } });
    const d = decideEndpoints(s, [pod('a', { ip: '10.244.0.2' })], undefined);
    assert.equal(d.op, 'create');
    assert.equal(d.ready, 1);
    assert.equal(d.write?.metadata.name, 'nginx');
    assert.deepEqual(d.write?.metadata.labels, { tier: 'front', [HEADLESS_LABEL]: '' });
  });

  it('decide: a pod change that only moves its resourceVersion writes nothing; a Ready flip writes', () => {
    const s = svc('nginx', { selector: { app: 'web' } });
    const first = decideEndpoints(s, [pod('a', { ip: '10.244.0.2', rv: '5' })], undefined).write!;
    const current = { ...first, metadata: { ...first.metadata, resourceVersion: '100', uid: 'ep-uid', annotations: { keep: 'me' } } };
    assert.equal(decideEndpoints(s, [pod('a', { ip: '10.244.0.2', rv: '6' })], current).write, undefined);
    const flip = decideEndpoints(s, [pod('a', { ip: '10.244.0.2', rv: '8', ready: false })], current);
    assert.equal(flip.op, 'update');
    assert.equal(flip.write?.metadata.resourceVersion, '100', 'an update is conditional on what was read');
    assert.deepEqual(flip.write?.metadata.annotations, { keep: 'me' });
    assert.deepEqual(flip.write?.subsets, [{ notReadyAddresses: [{ ip: '10.244.0.2', nodeName: 'node-1', targetRef: ref('a', '8') }], ports: [{ name: 'web', port: 8080, protocol: 'TCP' }] }]);
    // Labels follow the service.
    const relabelled = decideEndpoints(svc('nginx', { selector: { app: 'web' }, labels: { v: '2' } }), [pod('a', { ip: '10.244.0.2' })], current);
    assert.equal(relabelled.op, 'update');
    assert.deepEqual(relabelled.write?.metadata.labels, { v: '2' });
  });

  it('decide: an unmanaged service gets nothing; a selector matching nothing gets empty subsets', () => {
    assert.equal(decideEndpoints(svc('m', { selector: null }), [pod('a')], undefined).write, undefined);
    const empty = decideEndpoints(svc('lonely', { selector: { app: 'none' } }), [pod('a')], undefined);
    assert.equal(empty.op, 'create');
    assert.deepEqual(empty.write?.subsets, []);
  });

  it('decide: over 1000 addresses keeps the ready ones first and marks the object', () => {
    const pods = Array.from({ length: 1100 }, (_, i) => pod(`p${i}`, { ip: `10.244.${Math.floor(i / 250)}.${(i % 250) + 1}`, ready: i % 2 === 0 }));
    const d = decideEndpoints(svc('big', { selector: { app: 'web' } }), pods, undefined);
    const ss = d.write!.subsets as EndpointSubset[];
    const ready = ss.reduce((n, s) => n + (s.addresses?.length ?? 0), 0);
    const notReady = ss.reduce((n, s) => n + (s.notReadyAddresses?.length ?? 0), 0);
    assert.equal(ready, 550);
    assert.equal(notReady, 450);
    assert.equal(d.write!.metadata.annotations?.[OVER_CAPACITY_ANNOTATION], 'truncated');
  });
});

describe('Service selector index', () => {
  it('finds the services selecting a pod by its labels, in its namespace only', () => {
    const idx = new ServiceSelectorIndex();
    idx.set(svc('web', { selector: { app: 'web' } }));
    idx.set(svc('web-canary', { selector: { app: 'web', track: 'canary' } }));
    idx.set(svc('db', { selector: { app: 'db' } }));
    idx.set(svc('other-ns', { selector: { app: 'web' }, ns: 'other' }));
    idx.set(svc('manual', { selector: null }));
    assert.deepEqual(idx.servicesFor(pod('p', { labels: { app: 'web' } })).sort(), ['default/web']);
    assert.deepEqual(idx.servicesFor(pod('p', { labels: { app: 'web', track: 'canary' } })).sort(), ['default/web', 'default/web-canary']);
    assert.deepEqual(idx.servicesFor(pod('p', { labels: { app: 'web' }, ns: 'other' })), ['other/other-ns']);
    idx.set(svc('web', { selector: { app: 'v2' } }));
    assert.deepEqual(idx.servicesFor(pod('p', { labels: { app: 'web' } })), [], 're-indexed on selector change');
    idx.delete('default/db');
    assert.deepEqual(idx.servicesFor(pod('p', { labels: { app: 'db' } })), []);
    assert.equal(idx.size, 3);
  });
});
