import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { endpointslices } from '../../src/registry/endpointslices.ts';
import type { KubeObject } from '../../src/registry/types.ts';

type Obj = Record<string, unknown>;

function slice(extra: Obj = {}): KubeObject {
  const o: KubeObject = {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name: 'nginx-abc12', namespace: 'default', labels: { 'kubernetes.io/service-name': 'nginx' } },
    addressType: 'IPv4',
    endpoints: [
      { addresses: ['10.0.0.5'], conditions: { ready: true }, hostname: 'web-0', nodeName: 'node-1' },
      { addresses: ['10.0.0.6'], conditions: { ready: false }, hostname: 'web-1' },
    ],
    ports: [{ name: 'web', port: 80 }],
    ...extra,
  };
  endpointslices.defaults!(o);
  return o;
}

const brief = (o: KubeObject) => endpointslices.validate!(o).map((c) => `${c.field} ${c.reason}`);

describe('endpointslices', () => {
  it('is discovery.k8s.io/v1 with generation on content changes', () => {
    assert.equal(endpointslices.group, 'discovery.k8s.io');
    assert.equal(endpointslices.modelName, 'V1EndpointSlice');
    assert.deepEqual(endpointslices.generationFields, ['addressType', 'endpoints', 'ports']);
  });

  it('defaults port name and protocol', () => {
    const o = slice({ ports: [{ port: 53, protocol: 'UDP' }, { port: 80 }] });
    assert.deepEqual(o.ports, [{ port: 53, protocol: 'UDP', name: '' }, { port: 80, name: '', protocol: 'TCP' }]);
  });

  it('accepts valid IPv4, IPv6 and FQDN slices (loopback allowed for the process runtime)', () => {
    assert.deepEqual(endpointslices.validate!(slice()), []);
    assert.deepEqual(endpointslices.validate!(slice({ addressType: 'IPv6', endpoints: [{ addresses: ['fd00::5'] }] })), []);
    assert.deepEqual(endpointslices.validate!(slice({ addressType: 'FQDN', endpoints: [{ addresses: ['db.example.com'] }] })), []);
    assert.deepEqual(endpointslices.validate!(slice({ endpoints: [{ addresses: ['127.0.0.2'] }] })), []);
    assert.deepEqual(endpointslices.validate!(slice({ endpoints: [], ports: [] })), []);
  });

  const cases: Array<[string, Obj, string]> = [
    ['a missing addressType', { addressType: undefined }, 'addressType FieldValueRequired'],
    ['an unknown addressType', { addressType: 'IPX' }, 'addressType FieldValueNotSupported'],
    ['an endpoint without addresses', { endpoints: [{ addresses: [] }] }, 'endpoints[0].addresses FieldValueRequired'],
    ['an endpoint with 101 addresses', { endpoints: [{ addresses: Array.from({ length: 101 }, (_, i) => `10.0.${i >> 8}.${i & 255}`) }] }, 'endpoints[0].addresses FieldValueTooMany'],
    ['an IPv6 address in an IPv4 slice', { endpoints: [{ addresses: ['fd00::1'] }] }, 'endpoints[0].addresses[0] FieldValueInvalid'],
    ['an IPv4 address in an IPv6 slice', { addressType: 'IPv6', endpoints: [{ addresses: ['10.0.0.1'] }] }, 'endpoints[0].addresses[0] FieldValueInvalid'],
    ['a single-label FQDN', { addressType: 'FQDN', endpoints: [{ addresses: ['db'] }] }, 'endpoints[0].addresses[0] FieldValueInvalid'],
    ['an invalid hostname', { endpoints: [{ addresses: ['10.0.0.1'], hostname: 'Web_0' }] }, 'endpoints[0].hostname FieldValueInvalid'],
    ['an invalid nodeName', { endpoints: [{ addresses: ['10.0.0.1'], nodeName: 'Node!' }] }, 'endpoints[0].nodeName FieldValueInvalid'],
    ['duplicate port names', { ports: [{ name: 'a', port: 1 }, { name: 'a', port: 2 }] }, 'ports[1].name FieldValueDuplicate'],
    ['two unnamed ports', { ports: [{ port: 1 }, { port: 2 }] }, 'ports[1].name FieldValueDuplicate'],
    ['an unknown protocol', { ports: [{ name: 'a', port: 1, protocol: 'ICMP' }] }, 'ports[0].protocol FieldValueNotSupported'],
    ['an invalid port name', { ports: [{ name: 'Web', port: 1 }] }, 'ports[0].name FieldValueInvalid'],
    ['an out-of-range port', { ports: [{ name: 'a', port: 70000 }] }, 'ports[0].port FieldValueInvalid'],
  ];
  for (const [name, extra, want] of cases) {
    it(`rejects ${name}`, () => assert.deepEqual(brief(slice(extra)), [want]));
  }

  it('reports too many endpoints once', () => {
    const eps = Array.from({ length: 1001 }, () => ({ addresses: ['10.0.0.1'] }));
    assert.deepEqual(brief(slice({ endpoints: eps })), ['endpoints FieldValueTooMany']);
    assert.equal(endpointslices.validate!(slice({ endpoints: eps }))[0].message, 'Too many: 1001: must have at most 1000 items');
  });

  it('keeps addressType immutable', () => {
    const causes = endpointslices.validateUpdate!(slice({ addressType: 'IPv6' }), slice());
    assert.deepEqual(causes, [{ reason: 'FieldValueInvalid', field: 'addressType', message: 'Invalid value: "IPv6": field is immutable' }]);
    assert.deepEqual(endpointslices.validateUpdate!(slice({ endpoints: [] }), slice()), []);
  });

  it('prints ADDRESSTYPE PORTS ENDPOINTS AGE as Kubernetes does', () => {
    assert.deepEqual(endpointslices.columns.map((c) => c.name.toUpperCase()), ['ADDRESSTYPE', 'PORTS', 'ENDPOINTS', 'AGE']);
    const cells = (o: KubeObject) => endpointslices.columns.slice(0, 3).map((c) => c.cell(o));
    assert.deepEqual(cells(slice()), ['IPv4', '80', '10.0.0.5,10.0.0.6']);
    const many = slice({
      ports: [{ port: 1 }, { name: 'dns' }, {}, { port: 4 }, { port: 5 }],
      endpoints: [{ addresses: ['10.0.0.1', '10.0.0.2'] }, { addresses: ['10.0.0.3', '10.0.0.4'] }],
    });
    assert.deepEqual(cells(many), ['IPv4', '1,dns,* + 2 more...', '10.0.0.1,10.0.0.2,10.0.0.3 + 1 more...']);
    assert.deepEqual(cells(slice({ ports: undefined, endpoints: undefined })), ['IPv4', '<unset>', '<unset>']);
  });
});
