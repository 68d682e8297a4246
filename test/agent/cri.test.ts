// The containerd runtime against a real containerd (as root): kennel's own daemon in a temp data
// dir, images from a docker-registry on 127.0.0.1 over plain HTTP, pods on a bridge of their
// own. Everything the tests create (sandboxes, shims, netns, veths, bridge, mounts, files) is
// removed in after().
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { findRunningContainerd, mountsUnder, shimsOf, startContainerd } from '../../src/agent/runtime/containerd.ts';
import { SANDBOX_IMAGE, buildSandboxImage } from '../../src/agent/runtime/images.ts';
import { RuntimeError, type ContainerConfig, type PodSandboxConfig, type StreamSession } from '../../src/agent/runtime/types.ts';
import { startAuthProxy, type AuthProxyHandle } from '../support/registry.ts';
import { createCriRuntime } from '../../src/agent/runtime/cri.ts';
import { containerStackMissing, startBusyboxRegistry, startTestContainerd, type BusyboxRegistry, type TestContainerd } from '../support/images.ts';

async function waitFor<T>(what: string | (() => string), fn: () => Promise<T | undefined | null | false>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${typeof what === 'function' ? what() : what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

function collect(s: NodeJS.ReadableStream | undefined): Promise<string> {
  return new Promise((resolve) => {
    if (!s) return resolve('');
    let out = '';
    s.on('data', (b: Buffer) => (out += b.toString('utf8')));
    s.on('end', () => resolve(out));
  });
}

function ipInCidr(ip: string, cidr: string): boolean {
  const [net, bits] = cidr.split('/');
  const toN = (a: string) => a.split('.').reduce((n, o) => n * 256 + Number(o), 0);
  const size = 2 ** (32 - Number(bits));
  return Math.floor(toN(ip) / size) === Math.floor(toN(net!) / size);
}

describe('containerd runtime (CRI)', () => {
  let reg: BusyboxRegistry;
  let proxy: AuthProxyHandle;
  let ctd: TestContainerd;
  let logRoot: string;

  const sandboxConfig = (name: string, extra: Partial<PodSandboxConfig> = {}): PodSandboxConfig => {
    const uid = randomUUID();
    return {
      uid,
      name,
      namespace: 'default',
      attempt: 0,
      hostname: name,
      logDirectory: join(logRoot, `default_${name}_${uid}`),
      dnsConfig: { servers: ['10.96.0.10'], searches: ['default.svc.cluster.local', 'svc.cluster.local', 'cluster.local'], options: ['ndots:5'] },
      portMappings: [],
      labels: { 'io.kubernetes.pod.name': name, 'io.kubernetes.pod.uid': uid },
      annotations: { 'kennel.io/test': 'sandbox-annotation' },
      hostNetwork: false,
      ...extra,
    };
  };
  const containerConfig = (name: string, command: string[], extra: Partial<ContainerConfig> = {}): ContainerConfig => ({
    name,
    attempt: 0,
    image: reg.image,
    command,
    args: [],
    envs: [{ key: 'GREETING', value: 'hi there' }],
    mounts: [],
    logPath: `${name}/0.log`,
    stdin: false,
    stdinOnce: false,
    tty: false,
    labels: { 'io.kubernetes.container.name': name },
    annotations: { 'io.kubernetes.container.restartCount': '0' },
    ...extra,
  });
  /** Sandbox + one started container; returns ids. */
  const runPod = async (name: string, command: string[], extra: Partial<ContainerConfig> = {}, sbExtra: Partial<PodSandboxConfig> = {}) => {
    const sb = sandboxConfig(name, sbExtra);
    const sandboxId = await ctd.runtime.runPodSandbox(sb);
    const containerId = await ctd.runtime.createContainer(sandboxId, containerConfig('main', command, extra), sb);
    await ctd.runtime.startContainer(containerId);
    return { sb, sandboxId, containerId };
  };
  const waitExited = (id: string, timeoutMs = 10_000) =>
    waitFor(`container ${id} to exit`, async () => {
      const st = await ctd.runtime.containerStatus(id);
      return st && st.state === 'exited' ? st : null;
    }, timeoutMs);

  before(async () => {
    const missing = containerStackMissing();
    if (missing) throw new Error(missing);
    reg = await startBusyboxRegistry();
    proxy = await startAuthProxy(reg.host, { username: 'kennel', password: 's3cret' });
    ctd = await startTestContainerd({ insecureRegistries: [reg.host, proxy.host] });
    logRoot = join(ctd.dataDir, 'pods');
  });

  after(async () => {
    await ctd?.stop();
    await proxy?.stop();
    await reg?.stop();
    if (ctd) {
      assert.equal(existsSync(`/sys/class/net/${ctd.bridgeName}`), false, 'bridge removed');
      assert.deepEqual(mountsUnder(ctd.dataDir), [], 'no mounts left');
      assert.deepEqual(shimsOf(ctd.handle.socket), [], 'no shims left');
      assert.equal(existsSync(ctd.dataDir), false, 'data dir removed');
    }
  });

  it('answers Version over the CRI socket', async () => {
    const v = await ctd.runtime.version();
    assert.equal(v.runtimeName, 'containerd');
    assert.match(v.runtimeVersion, /^\d+\.\d+/);
  });

  it('imports the sandbox image it builds offline, and a second start adopts the running daemon', async () => {
    const st = await ctd.runtime.imageStatus(SANDBOX_IMAGE);
    assert.ok(st, 'sandbox image present');
    assert.equal(st.ref, buildSandboxImage().configDigest);
    const again = await startContainerd({ dataDir: ctd.dataDir, bridgeName: ctd.bridgeName, podCIDR: ctd.podCIDR, insecureRegistries: [reg.host, proxy.host] });
    assert.equal(again.adopted, true);
    assert.equal(again.pid, ctd.handle.pid);
    assert.equal(findRunningContainerd(ctd.handle.paths), ctd.handle.pid);
  });

  it('pulls an image from a plain-HTTP registry on 127.0.0.1', async () => {
    assert.equal(await ctd.runtime.imageStatus(reg.image), null);
    const ref = await ctd.runtime.pullImage(reg.image);
    assert.equal(ref.ref, reg.built.configDigest);
    const st = await ctd.runtime.imageStatus(reg.image);
    assert.equal(st?.ref, reg.built.configDigest);
    assert.ok((st?.size ?? 0) > 500_000);
  });

  it('reports ErrImagePull for an image that does not exist', async () => {
    await assert.rejects(ctd.runtime.pullImage(`${reg.host}/does-not-exist:1`), (e: unknown) => {
      assert.ok(e instanceof RuntimeError);
      assert.equal(e.reason, 'ErrImagePull');
      assert.match(e.message, /not found/);
      return true;
    });
  });

  it('pull honours credentials: AuthConfig (from imagePullSecrets) and registries.yaml auth', async () => {
    const image = `${proxy.host}/busybox:1`;
    await assert.rejects(ctd.runtime.pullImage(image), (e: unknown) => {
      assert.ok(e instanceof RuntimeError);
      assert.equal(e.reason, 'ErrImagePull');
      assert.match(e.message, /401|unauthorized/i);
      return true;
    });
    await assert.rejects(ctd.runtime.pullImage(image, { username: 'kennel', password: 'wrong' }), /ErrImagePull|401|unauthorized/i);
    const ok = await ctd.runtime.pullImage(image, { username: 'kennel', password: 's3cret', serverAddress: proxy.host });
    assert.equal(ok.ref, reg.built.configDigest);
    // The same credentials from registries.yaml's configs, for a pull that brings none.
    const withConfig = createCriRuntime({
      socket: ctd.handle.socket,
      stateDir: join(ctd.dataDir, 'containerd', 'kennel'),
      registries: { configs: { [proxy.host]: { auth: { username: 'kennel', password: 's3cret' } } } },
    });
    try {
      const tagged = `${proxy.host}/busybox:1`;
      assert.equal((await withConfig.pullImage(tagged)).ref, reg.built.configDigest);
    } finally {
      await withConfig.close();
    }
  });

  it('honours a registries.yaml mirror (read on each pull, no restart)', async () => {
    writeFileSync(join(ctd.dataDir, 'registries.yaml'), `mirrors:\n  mirror.kennel.test:\n    endpoint:\n      - "http://${reg.host}"\n`);
    const again = await startContainerd({ dataDir: ctd.dataDir, bridgeName: ctd.bridgeName, podCIDR: ctd.podCIDR, insecureRegistries: [reg.host, proxy.host] });
    assert.equal(again.adopted, true);
    const ref = await ctd.runtime.pullImage('mirror.kennel.test/busybox:1');
    assert.equal(ref.ref, reg.built.configDigest);
  });

  let web: { sb: PodSandboxConfig; sandboxId: string; containerId: string };
  let startLatencyMs = 0;

  it('runs a sandbox and a container: pod IP from the bridge, running state, CRI log file, labels round-trip', async () => {
    const t0 = performance.now();
    web = await runPod(
      'web',
      ['sh', '-c', 'echo hello; echo oops >&2; mkdir -p /var/www; echo "hi from $HOSTNAME" > /var/www/index.html; exec httpd -f -p 8080 -h /var/www'],
      {},
      { hostsFile: '127.0.0.1\tlocalhost\n10.1.2.3\tweb.sub.default.svc.cluster.local\tweb\n' },
    );
    const st = await waitFor('running', async () => {
      const s = await ctd.runtime.containerStatus(web.containerId);
      return s?.state === 'running' ? s : null;
    });
    startLatencyMs = performance.now() - t0;
    assert.equal(st.sandboxId, web.sandboxId);
    assert.equal(st.name, 'main');
    assert.ok(st.startedAt > 0 && st.finishedAt === 0);
    assert.equal(st.labels['io.kubernetes.container.name'], 'main');
    assert.equal(st.annotations['io.kubernetes.container.restartCount'], '0');
    assert.equal(st.logPath, join(web.sb.logDirectory, 'main/0.log'));

    const sb = await ctd.runtime.podSandboxStatus(web.sandboxId);
    assert.ok(sb);
    assert.equal(sb.state, 'ready');
    assert.equal(sb.uid, web.sb.uid);
    assert.equal(sb.ips.length, 1);
    assert.ok(ipInCidr(sb.ips[0]!, ctd.podCIDR), `${sb.ips[0]} in ${ctd.podCIDR}`);
    assert.equal(sb.annotations['kennel.io/test'], 'sandbox-annotation');
    assert.equal(sb.labels['io.kubernetes.pod.uid'], web.sb.uid);

    const listed = await ctd.runtime.listContainers({ sandboxId: web.sandboxId });
    assert.deepEqual(listed.map((c) => c.id), [web.containerId]);
    assert.ok((await ctd.runtime.listPodSandboxes()).some((s) => s.id === web.sandboxId && s.ips[0] === sb.ips[0]));

    const log = await waitFor('log lines', async () => {
      const text = existsSync(st.logPath) ? readFileSync(st.logPath, 'utf8') : '';
      return text.includes('hello') && text.includes('oops') ? text : null;
    });
    // CRI format: RFC 3339 nano timestamp, stream, F (full line) or P (partial), content.
    assert.match(log, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z stdout F hello$/m);
    assert.match(log, /^\S+ stderr F oops$/m);
    console.log(`# sandbox+container create→running (image cached): ${startLatencyMs.toFixed(0)} ms`);
  });

  it('execSync: hostname, DNS config and env inside the container', async () => {
    const hosts = await ctd.runtime.execSync(web.containerId, ['cat', '/etc/hosts'], 5);
    assert.match(hosts.stdout.toString(), /^10\.1\.2\.3\tweb\.sub\.default\.svc\.cluster\.local\tweb$/m, 'hostsFile mounted at /etc/hosts');
    const r = await ctd.runtime.execSync(web.containerId, ['sh', '-c', 'cat /etc/hostname; cat /etc/resolv.conf; echo "$GREETING"'], 5);
    assert.equal(r.exitCode, 0);
    assert.equal(r.timedOut, false);
    const out = r.stdout.toString();
    assert.match(out, /^web\n/);
    assert.match(out, /nameserver 10\.96\.0\.10/);
    assert.match(out, /search default\.svc\.cluster\.local svc\.cluster\.local cluster\.local/);
    assert.match(out, /options ndots:5/);
    assert.match(out, /hi there\n$/);
    const failed = await ctd.runtime.execSync(web.containerId, ['sh', '-c', 'echo bad >&2; exit 3'], 5);
    assert.equal(failed.exitCode, 3);
    assert.equal(failed.stderr.toString(), 'bad\n');
    const missing = await ctd.runtime.execSync(web.containerId, ['no-such-command'], 5);
    assert.equal(missing.exitCode, 127);
    const slow = await ctd.runtime.execSync(web.containerId, ['sleep', '10'], 1);
    assert.equal(slow.timedOut, true);
  });

  it('exec streams stdout/stderr, delivers end of stdin and reports the exit code', async () => {
    const s = await ctd.runtime.exec(web.containerId, ['sh', '-c', 'cat; echo "to err" >&2; exit 4'], { stdin: true, stdout: true, stderr: true, tty: false });
    const out = collect(s.stdout);
    const err = collect(s.stderr);
    s.stdin!.write('line one\n');
    s.stdin!.end('line two\n');
    assert.equal(await s.exitCode, 4);
    assert.equal(await out, 'line one\nline two\n');
    assert.equal(await err, 'to err\n');

    const missing = await ctd.runtime.exec(web.containerId, ['no-such-command'], { stdin: false, stdout: true, stderr: true, tty: false });
    const missingErr = collect(missing.stderr);
    assert.equal(await missing.exitCode, 127);
    assert.match(await missingErr, /not found/);
  });

  it('exec with a TTY goes through the CRI streaming server (WebSocket), with resize', async () => {
    const s: StreamSession = await ctd.runtime.exec(web.containerId, ['sh', '-c', 'sleep 0.3; stty size; tty; exit 5'], { stdin: true, stdout: true, stderr: false, tty: true });
    const out = collect(s.stdout);
    s.resize?.(100, 30);
    assert.equal(await s.exitCode, 5);
    const text = await out;
    assert.match(text, /30 100/);
    assert.match(text, /\/dev\/pts\/\d+/);
  });

  it('two pods reach each other over the bridge', async () => {
    const webIp = (await ctd.runtime.podSandboxStatus(web.sandboxId))!.ips[0]!;
    const client = await runPod('client', ['sleep', '1000']);
    try {
      let last = '';
      const r = await waitFor(() => `http answer from ${webIp} (last: ${last})`, async () => {
        const x = await ctd.runtime.execSync(client.containerId, ['wget', '-q', '-O', '-', `http://${webIp}:8080/`], 5);
        last = `${x.exitCode} ${x.stdout} ${x.stderr}`;
        return x.exitCode === 0 ? x : null;
      });
      assert.equal(r.stdout.toString(), 'hi from web\n');
      const clientIp = (await ctd.runtime.podSandboxStatus(client.sandboxId))!.ips[0]!;
      assert.notEqual(clientIp, webIp);
    } finally {
      await ctd.runtime.stopPodSandbox(client.sandboxId);
      await ctd.runtime.removePodSandbox(client.sandboxId);
    }
    assert.equal(await ctd.runtime.podSandboxStatus(client.sandboxId), null);
  });

  it('containers keep running across a containerd restart, and the runtime finds them again', async () => {
    const before = await ctd.runtime.containerStatus(web.containerId);
    assert.equal(before?.state, 'running');
    await ctd.handle.stop();
    assert.equal(findRunningContainerd(ctd.handle.paths), null);
    await assert.rejects(ctd.runtime.version(), (e: unknown) => e instanceof RuntimeError && e.reason === 'RuntimeUnavailable');
    const again = await startContainerd({ dataDir: ctd.dataDir, bridgeName: ctd.bridgeName, podCIDR: ctd.podCIDR, insecureRegistries: [reg.host, proxy.host] });
    assert.equal(again.adopted, false);
    assert.notEqual(again.pid, ctd.handle.pid);
    ctd.handle = again;
    const after = await waitFor('status after restart', () => ctd.runtime.containerStatus(web.containerId).catch(() => null), 5_000);
    assert.equal(after.state, 'running');
    assert.equal(after.startedAt, before!.startedAt, 'not restarted');
    const r = await ctd.runtime.execSync(web.containerId, ['cat', '/etc/hostname'], 5);
    assert.equal(r.stdout.toString(), 'web\n');
  });

  it('attach follows the output of a running container and reports its exit', async () => {
    const p = await runPod('ticker', ['sh', '-c', 'sleep 0.5; for i in 1 2 3; do echo tick $i; sleep 0.1; done; exit 6']);
    const s = await ctd.runtime.attach(p.containerId, { stdin: false, stdout: true, stderr: true, tty: false });
    const out = collect(s.stdout);
    assert.equal(await s.exitCode, 6);
    assert.match(await out, /tick 1\ntick 2\ntick 3\n/);
    await ctd.runtime.removePodSandbox(p.sandboxId);
  });

  it('stop: SIGTERM is honoured within the timeout, SIGKILL after it', async () => {
    const sb = sandboxConfig('stopper');
    const sandboxId = await ctd.runtime.runPodSandbox(sb);
    const polite = await ctd.runtime.createContainer(sandboxId, containerConfig('polite', ['sh', '-c', 'trap "echo got TERM; exit 3" TERM; while true; do sleep 0.1; done']), sb);
    const stubborn = await ctd.runtime.createContainer(sandboxId, containerConfig('stubborn', ['sh', '-c', 'trap "" TERM; while true; do sleep 0.1; done']), sb);
    await ctd.runtime.startContainer(polite);
    await ctd.runtime.startContainer(stubborn);
    await new Promise((r) => setTimeout(r, 200)); // let the traps be installed

    let t = performance.now();
    await ctd.runtime.stopContainer(polite, 10);
    assert.ok(performance.now() - t < 3000, 'stopped well before the 10 s timeout');
    const ps = await ctd.runtime.containerStatus(polite);
    assert.equal(ps?.state, 'exited');
    assert.equal(ps?.exitCode, 3);
    assert.equal(ps?.reason, 'Error');
    assert.match(readFileSync(ps!.logPath, 'utf8'), /stdout F got TERM/);

    t = performance.now();
    await ctd.runtime.stopContainer(stubborn, 1);
    const took = performance.now() - t;
    assert.ok(took >= 900 && took < 5000, `killed after the 1 s grace (${took.toFixed(0)} ms)`);
    const ss = await ctd.runtime.containerStatus(stubborn);
    assert.equal(ss?.exitCode, 137);
    await ctd.runtime.removeContainer(polite);
    assert.equal(await ctd.runtime.containerStatus(polite), null);
    await ctd.runtime.removeContainer(polite); // idempotent
    await ctd.runtime.stopPodSandbox(sandboxId);
    await ctd.runtime.removePodSandbox(sandboxId);
  });

  it('exit codes and reasons: false → 1 Error, true → 0 Completed; a missing command fails to start', async () => {
    const sb = sandboxConfig('exits');
    const sandboxId = await ctd.runtime.runPodSandbox(sb);
    try {
      const f = await ctd.runtime.createContainer(sandboxId, containerConfig('f', ['false']), sb);
      const t = await ctd.runtime.createContainer(sandboxId, containerConfig('t', ['true']), sb);
      await ctd.runtime.startContainer(f);
      await ctd.runtime.startContainer(t);
      const fs = await waitExited(f);
      assert.equal(fs.exitCode, 1);
      assert.equal(fs.reason, 'Error');
      assert.ok(fs.startedAt > 0, 'startedAt set');
      assert.ok(fs.finishedAt >= fs.startedAt, `finishedAt ${fs.finishedAt} >= startedAt ${fs.startedAt}`);
      const ts = await waitExited(t);
      assert.equal(ts.exitCode, 0);
      assert.equal(ts.reason, 'Completed');

      const bad = await ctd.runtime.createContainer(sandboxId, containerConfig('bad', ['/no/such/binary']), sb);
      await assert.rejects(ctd.runtime.startContainer(bad), (e: unknown) => {
        assert.ok(e instanceof RuntimeError);
        assert.equal(e.reason, 'RunContainerError');
        assert.match(e.message, /no such file or directory/);
        return true;
      });
      await assert.rejects(ctd.runtime.createContainer(sandboxId, containerConfig('img', [], { image: `${reg.host}/not-pulled:1` }), sb), (e: unknown) => {
        assert.ok(e instanceof RuntimeError);
        assert.equal(e.reason, 'CreateContainerError');
        return true;
      });
    } finally {
      await ctd.runtime.stopPodSandbox(sandboxId);
      await ctd.runtime.removePodSandbox(sandboxId);
    }
    assert.equal((await ctd.runtime.listContainers({ sandboxId })).length, 0);
  });

  it('hostNetwork: the pod shares the node network and hostname', async () => {
    const p = await runPod('hostnet', ['sleep', '1000'], {}, { hostNetwork: true });
    const r = await ctd.runtime.execSync(p.containerId, ['hostname'], 5);
    assert.equal(r.stdout.toString().trim(), hostname());
    const sb = await ctd.runtime.podSandboxStatus(p.sandboxId);
    assert.equal(sb?.state, 'ready');
    await ctd.runtime.stopPodSandbox(p.sandboxId);
    await ctd.runtime.removePodSandbox(p.sandboxId);
  });

  it('removing the sandboxes releases netns, veths, addresses and mounts', async () => {
    await ctd.runtime.stopPodSandbox(web.sandboxId);
    await ctd.runtime.removePodSandbox(web.sandboxId);
    assert.deepEqual(await ctd.runtime.listPodSandboxes(), []);
    const netnsDir = join(ctd.handle.paths.state, 'io.containerd.grpc.v1.cri', 'netns');
    assert.deepEqual(existsSync(netnsDir) ? readdirSync(netnsDir) : [], []);
    const ports = existsSync(`/sys/class/net/${ctd.bridgeName}/brif`) ? readdirSync(`/sys/class/net/${ctd.bridgeName}/brif`) : [];
    assert.deepEqual(ports, [], 'no veth left on the bridge');
    const ipam = join(ctd.handle.paths.ipamDir, 'kennel');
    const leases = existsSync(ipam) ? readdirSync(ipam).filter((f) => /^\d+\.\d+\.\d+\.\d+$/.test(f)) : [];
    assert.deepEqual(leases, [], 'no address still allocated');
    assert.deepEqual(mountsUnder(ctd.handle.paths.state), []);
    const hostsDir = join(ctd.handle.paths.dir, 'kennel', 'hosts');
    assert.deepEqual(existsSync(hostsDir) ? readdirSync(hostsDir) : [], [], 'per-pod hosts files removed');
  });
});
