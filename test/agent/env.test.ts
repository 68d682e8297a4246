// Container environment: every source, expansion, service links, and the kubelet's errors.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ContainerConfigError, expand, expandCommandAndArgs, makeEnvironment, serviceEnvVars, type EnvSources } from '../../src/agent/env.ts';
import type { Container, Pod } from '../../src/agent/kube-types.ts';
import type { KubeObject } from '../../src/registry/types.ts';

const b64 = (s: string) => Buffer.from(s).toString('base64');

function sources(objs: { cms?: KubeObject[]; secrets?: KubeObject[]; services?: KubeObject[] } = {}): EnvSources {
  const find = (list: KubeObject[] | undefined, ns: string, name: string) => list?.find((o) => o.metadata.namespace === ns && o.metadata.name === name);
  return {
    getConfigMap: async (ns, name) => find(objs.cms, ns, name),
    getSecret: async (ns, name) => find(objs.secrets, ns, name),
    listServices: (ns) => (objs.services ?? []).filter((s) => s.metadata.namespace === ns || s.metadata.namespace === 'default'),
  };
}

const ctx = { hostIP: '192.168.0.10', podIPs: ['10.244.0.5'], nodeAllocatable: { cpu: '4', memory: '8Gi' } };

function pod(c: Container, extra: Partial<Pod['spec']> = {}): Pod {
  return {
    metadata: { name: 'web-0', namespace: 'prod', uid: 'uid-7', labels: { app: 'web', tier: 'fe' }, annotations: { note: 'hi' } },
    spec: { nodeName: 'n1', serviceAccountName: 'sa1', containers: [c], enableServiceLinks: false, ...extra },
  } as Pod;
}

async function env(c: Container, srcs = sources(), extra: Partial<Pod['spec']> = {}): Promise<Record<string, string>> {
  const list = await makeEnvironment(pod(c, extra), c, srcs, ctx);
  return Object.fromEntries(list.map((e) => [e.key, e.value]));
}

const svc = (ns: string, name: string, ip: string, ports: { name?: string; port: number; protocol?: string }[]): KubeObject => ({ metadata: { name, namespace: ns }, spec: { clusterIP: ip, ports } });

describe('container environment', () => {
  it('literal values with $(VAR) expansion of earlier variables; $$ escapes; unknown stays', async () => {
    const e = await env({
      name: 'c',
      image: 'i',
      env: [
        { name: 'A', value: 'x' },
        { name: 'B', value: '$(A)-y' },
        { name: 'C', value: '$$(A) $(NOPE) $(B)' },
      ],
    });
    assert.deepEqual(e, { A: 'x', B: 'x-y', C: '$(A) $(NOPE) x-y' });
  });

  it('expand: edge cases', () => {
    const m = (n: string) => ({ X: '1' })[n];
    assert.equal(expand('$(X)$(X)', m), '11');
    assert.equal(expand('$X $', m), '$X $');
    assert.equal(expand('$(X', m), '$(X');
  });

  it('command and args are expanded with the environment', () => {
    const r = expandCommandAndArgs({ name: 'c', command: ['echo', '$(A)'], args: ['$(B)', '$$(A)'] }, [{ key: 'A', value: 'a' }, { key: 'B', value: 'b' }]);
    assert.deepEqual(r, { command: ['echo', 'a'], args: ['b', '$(A)'] });
  });

  it('the downward API: fieldRef', async () => {
    const f = (name: string, fieldPath: string) => ({ name, valueFrom: { fieldRef: { fieldPath } } });
    const e = await env({
      name: 'c',
      image: 'i',
      env: [
        f('NAME', 'metadata.name'),
        f('NS', 'metadata.namespace'),
        f('UID', 'metadata.uid'),
        f('APP', "metadata.labels['app']"),
        f('NOTE', "metadata.annotations['note']"),
        f('NODE', 'spec.nodeName'),
        f('SA', 'spec.serviceAccountName'),
        f('HOST_IP', 'status.hostIP'),
        f('POD_IP', 'status.podIP'),
        f('POD_IPS', 'status.podIPs'),
      ],
    });
    assert.deepEqual(e, { NAME: 'web-0', NS: 'prod', UID: 'uid-7', APP: 'web', NOTE: 'hi', NODE: 'n1', SA: 'sa1', HOST_IP: '192.168.0.10', POD_IP: '10.244.0.5', POD_IPS: '10.244.0.5' });
  });

  it('resourceFieldRef: rounded up by the divisor; an unset limit is the node allocatable', async () => {
    const r = (name: string, resource: string, divisor?: string) => ({ name, valueFrom: { resourceFieldRef: { resource, ...(divisor ? { divisor } : {}) } } });
    const e = await env({
      name: 'c',
      image: 'i',
      resources: { requests: { cpu: '250m', memory: '64Mi' }, limits: { memory: '128Mi' } },
      env: [r('CPU_REQ', 'requests.cpu'), r('CPU_REQ_M', 'requests.cpu', '1m'), r('MEM_LIM_MI', 'limits.memory', '1Mi'), r('MEM_REQ', 'requests.memory'), r('CPU_LIM', 'limits.cpu')],
    });
    assert.deepEqual(e, { CPU_REQ: '1', CPU_REQ_M: '250', MEM_LIM_MI: '128', MEM_REQ: String(64 * 1024 * 1024), CPU_LIM: '4' });
  });

  it('configMapKeyRef and secretKeyRef', async () => {
    const srcs = sources({
      cms: [{ metadata: { name: 'cfg', namespace: 'prod' }, data: { mode: 'fast' } }],
      secrets: [{ metadata: { name: 'creds', namespace: 'prod' }, data: { password: b64('s3cret') } }],
    });
    const e = await env(
      {
        name: 'c',
        image: 'i',
        env: [
          { name: 'MODE', valueFrom: { configMapKeyRef: { name: 'cfg', key: 'mode' } } },
          { name: 'PW', valueFrom: { secretKeyRef: { name: 'creds', key: 'password' } } },
          { name: 'OPT', valueFrom: { configMapKeyRef: { name: 'cfg', key: 'absent', optional: true } } },
          { name: 'OPT2', valueFrom: { secretKeyRef: { name: 'nope', key: 'x', optional: true } } },
        ],
      },
      srcs,
    );
    assert.deepEqual(e, { MODE: 'fast', PW: 's3cret' });
  });

  const errors: { name: string; c: Container; message: string }[] = [
    { name: 'a missing configMap', c: { name: 'c', env: [{ name: 'X', valueFrom: { configMapKeyRef: { name: 'gone', key: 'k' } } }] }, message: 'configmap "gone" not found' },
    { name: 'a missing configMap key', c: { name: 'c', env: [{ name: 'X', valueFrom: { configMapKeyRef: { name: 'cfg', key: 'k' } } }] }, message: "couldn't find key k in ConfigMap prod/cfg" },
    { name: 'a missing secret', c: { name: 'c', env: [{ name: 'X', valueFrom: { secretKeyRef: { name: 'gone', key: 'k' } } }] }, message: 'secret "gone" not found' },
    { name: 'a missing secret key', c: { name: 'c', env: [{ name: 'X', valueFrom: { secretKeyRef: { name: 'creds', key: 'k' } } }] }, message: "couldn't find key k in Secret prod/creds" },
    { name: 'a missing envFrom configMap', c: { name: 'c', envFrom: [{ configMapRef: { name: 'gone' } }] }, message: 'configmap "gone" not found' },
    { name: 'a missing envFrom secret', c: { name: 'c', envFrom: [{ secretRef: { name: 'gone' } }] }, message: 'secret "gone" not found' },
  ];
  for (const t of errors) {
    it(`${t.name} is a CreateContainerConfigError: ${t.message}`, async () => {
      const srcs = sources({ cms: [{ metadata: { name: 'cfg', namespace: 'prod' }, data: {} }], secrets: [{ metadata: { name: 'creds', namespace: 'prod' }, data: {} }] });
      await assert.rejects(env(t.c, srcs), (e: unknown) => e instanceof ContainerConfigError && e.reason === 'CreateContainerConfigError' && e.message === t.message);
    });
  }

  it('envFrom with prefixes; env wins over envFrom; optional sources may be missing', async () => {
    const srcs = sources({
      cms: [{ metadata: { name: 'cfg', namespace: 'prod' }, data: { A: '1', B: '2' } }],
      secrets: [{ metadata: { name: 's', namespace: 'prod' }, data: { TOKEN: b64('t') } }],
    });
    const e = await env(
      {
        name: 'c',
        envFrom: [{ configMapRef: { name: 'cfg' } }, { prefix: 'S_', secretRef: { name: 's' } }, { configMapRef: { name: 'gone', optional: true } }],
        env: [{ name: 'B', value: 'override-$(A)' }],
      },
      srcs,
    );
    assert.deepEqual(e, { A: '1', B: 'override-1', S_TOKEN: 't' });
  });

  it('KUBERNETES_SERVICE_HOST/PORT always; other service links only with enableServiceLinks', async () => {
    const srcs = sources({
      services: [
        svc('default', 'kubernetes', '10.96.0.1', [{ name: 'https', port: 443 }]),
        svc('prod', 'redis-master', '10.96.0.20', [{ port: 6379 }]),
        { metadata: { name: 'headless', namespace: 'prod' }, spec: { clusterIP: 'None', ports: [{ port: 80 }] } },
        svc('other', 'elsewhere', '10.96.0.30', [{ port: 80 }]),
      ],
    });
    const off = await env({ name: 'c' }, srcs);
    assert.equal(off.KUBERNETES_SERVICE_HOST, '10.96.0.1');
    assert.equal(off.KUBERNETES_SERVICE_PORT, '443');
    assert.equal(off.KUBERNETES_SERVICE_PORT_HTTPS, '443');
    assert.equal(off.KUBERNETES_PORT_443_TCP_ADDR, '10.96.0.1');
    assert.equal(off.REDIS_MASTER_SERVICE_HOST, undefined);
    const on = await env({ name: 'c' }, srcs, { enableServiceLinks: true });
    assert.equal(on.REDIS_MASTER_SERVICE_HOST, '10.96.0.20');
    assert.equal(on.REDIS_MASTER_SERVICE_PORT, '6379');
    assert.equal(on.REDIS_MASTER_PORT, 'tcp://10.96.0.20:6379');
    assert.equal(on.REDIS_MASTER_PORT_6379_TCP, 'tcp://10.96.0.20:6379');
    assert.equal(on.REDIS_MASTER_PORT_6379_TCP_PROTO, 'tcp');
    assert.equal(on.REDIS_MASTER_PORT_6379_TCP_PORT, '6379');
    assert.equal(on.REDIS_MASTER_PORT_6379_TCP_ADDR, '10.96.0.20');
    assert.equal(on.HEADLESS_SERVICE_HOST, undefined, 'headless services have no variables');
    assert.equal(on.ELSEWHERE_SERVICE_HOST, undefined, 'other namespaces do not count');
  });

  it('a container variable wins over a service variable of the same name, and can refer to it', async () => {
    const srcs = sources({ services: [svc('default', 'kubernetes', '10.96.0.1', [{ name: 'https', port: 443 }])] });
    const e = await env({ name: 'c', env: [{ name: 'URL', value: 'https://$(KUBERNETES_SERVICE_HOST)' }, { name: 'KUBERNETES_SERVICE_PORT', value: '6443' }] }, srcs);
    assert.equal(e.URL, 'https://10.96.0.1');
    assert.equal(e.KUBERNETES_SERVICE_PORT, '6443');
  });

  it('serviceEnvVars: UDP ports and named ports', () => {
    const vars = Object.fromEntries(serviceEnvVars(svc('ns', 'dns-svc', '10.0.0.10', [{ name: 'dns', port: 53, protocol: 'UDP' }, { name: 'dns-tcp', port: 53, protocol: 'TCP' }])).map((v) => [v.key, v.value]));
    assert.equal(vars.DNS_SVC_PORT, 'udp://10.0.0.10:53');
    assert.equal(vars.DNS_SVC_SERVICE_PORT_DNS_TCP, '53');
    assert.equal(vars.DNS_SVC_PORT_53_UDP_PROTO, 'udp');
  });
});
