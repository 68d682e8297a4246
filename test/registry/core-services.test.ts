import { test } from 'node:test';
import assert from 'node:assert/strict';
import { services } from '../../src/registry/services.ts';
import { endpoints } from '../../src/registry/endpoints.ts';
import type { KubeObject } from '../../src/registry/types.ts';

type Obj = Record<string, any>;

function svc(spec: Obj, name = 'web'): KubeObject {
  const o: KubeObject = { apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: 'default' }, spec };
  services.defaults?.(o);
  return o;
}

const cell = (o: KubeObject, name: string): unknown => services.columns.find((c) => c.name === name)?.cell(o);

test('service defaults', () => {
  const s = svc({ selector: { app: 'web' }, ports: [{ port: 80 }, { name: 'dns', port: 53, protocol: 'UDP', targetPort: 'dns' }] });
  assert.deepEqual(s.spec, {
    selector: { app: 'web' },
    ports: [
      { port: 80, protocol: 'TCP', targetPort: 80 },
      { name: 'dns', port: 53, protocol: 'UDP', targetPort: 'dns' },
    ],
    type: 'ClusterIP',
    sessionAffinity: 'None',
    internalTrafficPolicy: 'Cluster',
    ipFamilyPolicy: 'SingleStack',
    ipFamilies: ['IPv4'],
  });
  const lb = svc({ type: 'LoadBalancer', ports: [{ port: 80 }], sessionAffinity: 'ClientIP' });
  assert.equal((lb.spec as Obj).externalTrafficPolicy, 'Cluster');
  assert.equal((lb.spec as Obj).allocateLoadBalancerNodePorts, true);
  assert.deepEqual((lb.spec as Obj).sessionAffinityConfig, { clientIP: { timeoutSeconds: 10800 } });
  const headless = svc({ clusterIP: 'None', ports: [{ port: 80 }] });
  assert.deepEqual((headless.spec as Obj).clusterIPs, ['None']);
  const ext = svc({ type: 'ExternalName', externalName: 'example.com' });
  assert.equal((ext.spec as Obj).ipFamilyPolicy, undefined);
  assert.equal((ext.spec as Obj).internalTrafficPolicy, undefined);
});

test('valid services pass', () => {
  for (const spec of [
    { selector: { app: 'web' }, ports: [{ port: 80 }] },
    { clusterIP: 'None', selector: { app: 'web' } },
    { type: 'ExternalName', externalName: 'db.example.com.' },
    { type: 'NodePort', ports: [{ port: 80, nodePort: 30080 }] },
    { clusterIP: '10.96.0.10', ports: [{ name: 'dns', port: 53, protocol: 'UDP' }, { name: 'dns-tcp', port: 53 }] },
  ]) {
    assert.deepEqual(services.validate?.(svc(spec)), [], JSON.stringify(spec));
  }
});

test('invalid services name the bad field', () => {
  const cases: Array<[string, Obj, string, string]> = [
    ['no ports', { selector: { a: 'b' } }, 'spec.ports', 'Required value'],
    ['port out of range', { ports: [{ port: 0 }] }, 'spec.ports[0].port', 'Invalid value: 0: must be between 1 and 65535, inclusive'],
    ['unnamed ports', { ports: [{ port: 80 }, { port: 81 }] }, 'spec.ports[0].name', 'Required value'],
    ['duplicate port names', { ports: [{ name: 'a', port: 80 }, { name: 'a', port: 81 }] }, 'spec.ports[1].name', 'Duplicate value: "a"'],
    ['bad targetPort', { ports: [{ port: 80, targetPort: 'Bad_Name' }] }, 'spec.ports[0].targetPort', ''],
    ['bad type', { type: 'Internal', ports: [{ port: 80 }] }, 'spec.type', 'Unsupported value: "Internal": supported values: "ClusterIP", "ExternalName", "LoadBalancer", "NodePort"'],
    ['headless NodePort', { type: 'NodePort', clusterIP: 'None', ports: [{ port: 80 }] }, 'spec.clusterIPs[0]', "Invalid value: \"None\": may not be set to 'None' for NodePort services"],
    ['nodePort on ClusterIP', { ports: [{ port: 80, nodePort: 30001 }] }, 'spec.ports[0].nodePort', "Forbidden: may not be used when `type` is 'ClusterIP'"],
    ['bad clusterIP', { clusterIP: '10.0.0', ports: [{ port: 80 }] }, 'spec.clusterIPs[0]', ''],
    ['external name missing', { type: 'ExternalName' }, 'spec.externalName', 'Required value'],
    ['bad selector', { selector: { 'a b': 'c' }, ports: [{ port: 80 }] }, 'spec.selector', ''],
    ['bad session affinity', { sessionAffinity: 'Sticky', ports: [{ port: 80 }] }, 'spec.sessionAffinity', ''],
    ['duplicate port/protocol', { ports: [{ name: 'a', port: 80 }, { name: 'b', port: 80 }] }, 'spec.ports[1]', ''],
    ['loopback external IP', { externalIPs: ['127.0.0.1'], ports: [{ port: 80 }] }, 'spec.externalIPs[0]', ''],
  ];
  for (const [label, spec, field, message] of cases) {
    const causes = services.validate?.(svc(spec)) ?? [];
    const hit = causes.find((c) => c.field === field);
    assert.ok(hit, `${label}: expected ${field} in ${JSON.stringify(causes)}`);
    if (message) assert.equal(hit.message, message, label);
  }
});

test('service names are DNS-1035 labels', () => {
  const causes = services.validate?.(svc({ ports: [{ port: 80 }] }, '1web')) ?? [];
  assert.deepEqual(causes.map((c) => c.field), ['metadata.name']);
  assert.match(causes[0].message, /DNS-1035 label/);
});

test('cluster IPs may not change once set', () => {
  const old = svc({ clusterIP: '10.96.0.5', ports: [{ port: 80 }] });
  const same = svc({ clusterIP: '10.96.0.5', ports: [{ port: 81 }] });
  assert.deepEqual(services.validateUpdate?.(same, old), []);
  const moved = svc({ clusterIP: '10.96.0.6', ports: [{ port: 80 }] });
  const causes = services.validateUpdate?.(moved, old) ?? [];
  assert.deepEqual(causes.map((c) => [c.field, c.message]), [['spec.clusterIPs[0]', 'Invalid value: ["10.96.0.6"]: may not change once set']]);
  assert.equal(services.allowCreateOnUpdate, true);
});

test('an update that omits allocated values keeps them', () => {
  const old = svc({ type: 'NodePort', clusterIP: '10.96.0.5', ports: [{ name: 'web', port: 80, nodePort: 30080 }] });
  const replaced = svc({ type: 'NodePort', ports: [{ name: 'web', port: 80 }] });
  services.prepareForUpdate?.(replaced, old);
  assert.equal((replaced.spec as Obj).clusterIP, '10.96.0.5');
  assert.deepEqual((replaced.spec as Obj).clusterIPs, ['10.96.0.5']);
  assert.equal((replaced.spec as Obj).ports[0].nodePort, 30080);
  assert.deepEqual(services.validateUpdate?.(replaced, old), []);
});

test('service table cells', () => {
  const s = svc({ clusterIP: '10.96.0.5', selector: { b: '2', a: '1' }, ports: [{ port: 80 }, { port: 443, nodePort: 30443, name: 'https' }] });
  (s.spec as Obj).type = 'NodePort';
  assert.equal(cell(s, 'Type'), 'NodePort');
  assert.equal(cell(s, 'Cluster-IP'), '10.96.0.5');
  assert.equal(cell(s, 'External-IP'), '<none>');
  assert.equal(cell(s, 'Port(s)'), '80/TCP,443:30443/TCP');
  assert.equal(cell(s, 'Selector'), 'a=1,b=2');
  const lb = svc({ type: 'LoadBalancer', ports: [{ port: 80 }] });
  assert.equal(cell(lb, 'External-IP'), '<pending>');
  assert.equal(cell(lb, 'Cluster-IP'), '<none>');
  lb.status = { loadBalancer: { ingress: [{ ip: '192.0.2.10' }] } };
  assert.equal(cell(lb, 'External-IP'), '192.0.2.10');
  const ext = svc({ type: 'ExternalName', externalName: 'db.example.com' });
  assert.equal(cell(ext, 'External-IP'), 'db.example.com');
  assert.equal(cell(ext, 'Port(s)'), '<none>');
  assert.equal(cell(ext, 'Selector'), '<none>');
});

function ep(subsets: Obj[]): KubeObject {
  const o: KubeObject = { apiVersion: 'v1', kind: 'Endpoints', metadata: { name: 'web', namespace: 'default' }, subsets };
  endpoints.defaults?.(o);
  return o;
}

test('endpoints: defaults, validation and the ENDPOINTS cell', () => {
  const good = ep([{ addresses: [{ ip: '10.0.0.1', hostname: 'web-0' }, { ip: '10.0.0.2' }], ports: [{ port: 80 }] }]);
  assert.equal(((good.subsets as Obj[])[0].ports as Obj[])[0].protocol, 'TCP');
  assert.deepEqual(endpoints.validate?.(good), []);
  // Loopback addresses are allowed (the process runtime's pod IPs), unlike Kubernetes.
  assert.deepEqual(endpoints.validate?.(ep([{ addresses: [{ ip: '127.85.0.1' }] }])), []);
  const cases: Array<[Obj[], string]> = [
    [[{ ports: [{ port: 80 }] }], 'subsets[0]'],
    [[{ addresses: [{ ip: 'x' }] }], 'subsets[0].addresses[0].ip'],
    [[{ addresses: [{ ip: '169.254.1.1' }] }], 'subsets[0].addresses[0].ip'],
    [[{ addresses: [{ ip: '10.0.0.1', hostname: 'Web_0' }] }], 'subsets[0].addresses[0].hostname'],
    [[{ addresses: [{ ip: '10.0.0.1' }], ports: [{ port: 80 }, { name: 'b', port: 81 }] }], 'subsets[0].ports[0].name'],
    [[{ addresses: [{ ip: '10.0.0.1' }], ports: [{ port: 99999 }] }], 'subsets[0].ports[0].port'],
  ];
  for (const [subsets, field] of cases) {
    assert.deepEqual(endpoints.validate?.(ep(subsets)).map((c) => c.field), [field], JSON.stringify(subsets));
  }
  const cellOf = (o: KubeObject): unknown => endpoints.columns[0].cell(o);
  assert.equal(cellOf(ep([])), '<none>');
  assert.equal(cellOf(good), '10.0.0.1:80,10.0.0.2:80');
  const many = ep([{ addresses: [1, 2, 3, 4, 5].map((i) => ({ ip: `10.0.0.${i}` })), ports: [{ port: 80 }] }]);
  assert.equal(cellOf(many), '10.0.0.1:80,10.0.0.2:80,10.0.0.3:80 + 2 more...');
  assert.equal(cellOf(ep([{ addresses: [{ ip: '10.0.0.9' }] }])), '10.0.0.9');
  assert.equal(cellOf(ep([{ addresses: [{ ip: 'fd00::1' }], ports: [{ port: 53 }] }])), '[fd00::1]:53');
});
