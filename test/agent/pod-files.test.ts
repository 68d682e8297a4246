// What the agent hands the runtime for a container with volumes turned on: environment,
// mounts (volumes, the service-account volume, /etc/hosts, resolv.conf, hostname), labels and
// annotations for adoption; configMap updates reaching the files; FailedMount for a bad hostPath.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestServer, type TestServer } from '../support/apiserver.ts';
import { KubeClient, type ResourceRef } from '../../src/client/rest.ts';
import { silentLogger } from '../../src/util/log.ts';
import { startAgent, type Agent } from '../../src/agent/agent.ts';
import { SimulatedRuntime } from '../../src/agent/runtime/simulated.ts';
import { PODS } from '../../src/agent/podworker.ts';
import { MemoryEventRecorder } from '../../src/agent/events.ts';
import type { Pod } from '../../src/agent/kube-types.ts';
import type { ContainerConfig, PodSandboxConfig } from '../../src/agent/runtime/types.ts';
import { waitUntil } from '../support/wait.ts';

const CONFIGMAPS: ResourceRef = { group: '', version: 'v1', plural: 'configmaps', namespaced: true, kind: 'ConfigMap' };
const SERVICES: ResourceRef = { group: '', version: 'v1', plural: 'services', namespaced: true, kind: 'Service' };

const waitFor = <T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 10_000): Promise<T> => waitUntil(what, fn, { timeoutMs, everyMs: 25, truthy: true });

class CapturingRuntime extends SimulatedRuntime {
  configs = new Map<string, ContainerConfig>();
  sandboxConfigs = new Map<string, PodSandboxConfig>();
  override async runPodSandbox(c: PodSandboxConfig): Promise<string> {
    this.sandboxConfigs.set(c.name, c);
    return super.runPodSandbox(c);
  }
  override async createContainer(sb: string, c: ContainerConfig, s: PodSandboxConfig): Promise<string> {
    this.configs.set(`${s.name}/${c.name}`, c);
    return super.createContainer(sb, c, s);
  }
}

describe('containers with volumes and per-pod files', () => {
  let srv: TestServer;
  let client: KubeClient;
  let dataDir: string;
  let agent: Agent;
  let kubernetesIP = '';
  const runtime = new CapturingRuntime({ podCIDR: '10.244.7.0/24' });
  const events = new MemoryEventRecorder();

  before(async () => {
    srv = await startTestServer();
    client = KubeClient.fromKubeconfig(srv.kubeconfig);
    dataDir = await fsp.mkdtemp(join(tmpdir(), 'kennel-files-'));
    // The API server keeps the `kubernetes` service in default; make one if it does not.
    await client.create(SERVICES, { metadata: { name: 'kubernetes', namespace: 'default' }, spec: { clusterIP: '10.96.0.1', ports: [{ name: 'https', port: 443, targetPort: 6443 }] } }).catch(() => undefined);
    kubernetesIP = ((await client.get(SERVICES, 'default', 'kubernetes')).spec as { clusterIP: string }).clusterIP;
    agent = await startAgent({
      client,
      nodeName: 'node-f',
      runtime,
      dataDir,
      logger: silentLogger,
      events,
      volumes: true,
      clusterDNS: '10.96.0.10',
      nodeIP: '127.0.0.1',
      relistMs: 50,
      serviceAccountToken: async (pod) => `token-for-${pod.metadata.name}`,
    });
  });

  after(async () => {
    await agent.stop();
    client.close();
    await srv.stop();
    await fsp.rm(dataDir, { recursive: true, force: true });
  });

  it('gives the container its env, volume mounts, the service-account volume and the pod files', async () => {
    await client.create(CONFIGMAPS, { metadata: { name: 'app-config', namespace: 'default' }, data: { 'app.properties': 'color=blue' } });
    await client.create<Pod>(PODS, {
      metadata: { name: 'files', namespace: 'default' },
      spec: {
        nodeName: 'node-f',
        hostname: 'files-0',
        subdomain: 'svc',
        volumes: [{ name: 'cfg', configMap: { name: 'app-config' } }],
        containers: [
          {
            name: 'c',
            image: 'busybox:1',
            command: ['sh', '-c', 'echo $(GREETING)'],
            env: [
              { name: 'GREETING', value: 'hi-$(MY_NAME)' },
              { name: 'MY_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
            ],
            volumeMounts: [{ name: 'cfg', mountPath: '/etc/app' }],
          },
        ],
      },
    } as Pod);
    const pod = await waitFor('Running', async () => {
      const p = await client.get<Pod>(PODS, 'default', 'files');
      return p.status?.phase === 'Running' ? p : undefined;
    });
    const cfg = runtime.configs.get('files/c')!;
    const env = Object.fromEntries(cfg.envs.map((e) => [e.key, e.value]));
    assert.equal(env.MY_NAME, 'files');
    assert.equal(env.GREETING, 'hi-$(MY_NAME)', 'a variable defined later is not expanded');
    assert.equal(env.KUBERNETES_SERVICE_HOST, kubernetesIP);
    assert.equal(env.KUBERNETES_SERVICE_PORT, '443');
    assert.deepEqual(cfg.command, ['sh', '-c', 'echo hi-$(MY_NAME)']);
    assert.equal(cfg.logPath, 'c/0.log');
    assert.equal(cfg.labels['io.kubernetes.pod.uid'], pod.metadata.uid);
    assert.equal(cfg.labels['io.kubernetes.container.name'], 'c');
    assert.equal(cfg.annotations['io.kubernetes.container.restartCount'], '0');
    assert.match(cfg.annotations['io.kubernetes.container.hash']!, /^[0-9a-f]{16}$/);
    const mounts = Object.fromEntries(cfg.mounts.map((m) => [m.containerPath, m]));
    assert.equal(await fsp.readFile(join(mounts['/etc/app']!.hostPath, 'app.properties'), 'utf8'), 'color=blue');
    assert.equal(mounts['/etc/app']!.readonly, true);
    const sa = mounts['/var/run/secrets/kubernetes.io/serviceaccount']!;
    assert.equal(sa.readonly, true);
    assert.equal(await fsp.readFile(join(sa.hostPath, 'token'), 'utf8'), 'token-for-files');
    assert.equal(await fsp.readFile(join(sa.hostPath, 'namespace'), 'utf8'), 'default');
    assert.equal(await fsp.readFile(join(sa.hostPath, 'ca.crt'), 'utf8'), srv.ca);
    assert.equal(await fsp.readFile(mounts['/etc/hostname']!.hostPath, 'utf8'), 'files-0\n');
    assert.match(await fsp.readFile(mounts['/etc/hosts']!.hostPath, 'utf8'), new RegExp(`\\n${pod.status!.podIP!.replace(/\./g, '\\.')}\\tfiles-0\\.svc\\.default\\.svc\\.cluster\\.local\\tfiles-0\\n`));
    assert.equal(await fsp.readFile(mounts['/etc/resolv.conf']!.hostPath, 'utf8').then((t) => t.split('\n').slice(0, 3).join('\n')), `search default.svc.cluster.local svc.cluster.local cluster.local${(await hostSearch()) ? ' ' + (await hostSearch()) : ''}\nnameserver 10.96.0.10\noptions ndots:5`);
    const sb = runtime.sandboxConfigs.get('files')!;
    assert.equal(sb.hostname, 'files-0');
    assert.deepEqual(sb.dnsConfig?.servers, ['10.96.0.10']);
    assert.equal(sb.labels['io.kubernetes.pod.uid'], pod.metadata.uid);
  });

  it('a configMap change reaches the mounted files through the ..data swap', async () => {
    const cfg = runtime.configs.get('files/c')!;
    const dir = cfg.mounts.find((m) => m.containerPath === '/etc/app')!.hostPath;
    await client.patch(CONFIGMAPS, 'default', 'app-config', { data: { 'app.properties': 'color=green' } }, 'merge');
    await waitFor('the new content', async () => (await fsp.readFile(join(dir, 'app.properties'), 'utf8')) === 'color=green');
  });

  it('a hostPath of the wrong type: the pod waits with a FailedMount event', async () => {
    const file = join(dataDir, 'not-a-dir');
    await fsp.writeFile(file, 'x');
    await client.create<Pod>(PODS, {
      metadata: { name: 'badmount', namespace: 'default' },
      spec: { nodeName: 'node-f', volumes: [{ name: 'data', hostPath: { path: file, type: 'Directory' } }], containers: [{ name: 'c', image: 'busybox:1', volumeMounts: [{ name: 'data', mountPath: '/data' }] }] },
    } as Pod);
    const e = await waitFor('FailedMount', async () => events.events.find((x) => x.reason === 'FailedMount' && x.target.name === 'badmount'));
    assert.equal(e.type, 'Warning');
    assert.equal(e.message, `MountVolume.SetUp failed for volume "data" : hostPath type check failed: ${file} is not a directory`);
    const p = await client.get<Pod>(PODS, 'default', 'badmount');
    assert.equal(p.status?.phase, 'Pending');
    assert.deepEqual(p.status?.containerStatuses?.[0]?.state, { waiting: { reason: 'ContainerCreating' } });
    assert.equal(runtime.sandboxConfigs.has('badmount'), false, 'nothing is started');
  });

  it('deleting the pod removes its directory', async () => {
    const pod = await client.get<Pod>(PODS, 'default', 'files');
    const dir = join(dataDir, 'pods', pod.metadata.uid!);
    await fsp.stat(dir);
    await client.delete(PODS, 'default', 'files');
    await waitFor('the pod directory to go', async () => fsp.stat(dir).then(() => false, () => true));
  });
});

async function hostSearch(): Promise<string> {
  const text = await fsp.readFile('/etc/resolv.conf', 'utf8').catch(() => '');
  let search = '';
  for (const line of text.split('\n')) {
    const m = /^\s*(search|domain)\s+(.*)$/.exec(line.replace(/[#;].*$/, ''));
    if (m) search = m[2]!.trim().split(/\s+/).filter((s) => s !== '.').join(' ');
  }
  return search;
}
