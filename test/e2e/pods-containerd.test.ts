// Pods on real containerd, end to end: `kennel up --runtime containerd` (kennel's own containerd,
// CNI bridge kennel0, cluster DNS on 10.244.0.1:53) pulling a busybox-static image that this
// test builds offline and pushes to a docker-registry on 127.0.0.1 (plain HTTP, marked so in
// <dataDir>/agent/registries.yaml), then the real kubectl: pods Running, init containers in
// order, logs and exec, a liveness restart, graceful termination, pod-to-pod traffic over the
// bridge, resolv.conf, hostname and the subdomain FQDN, the cluster DNS, and the Kubernetes
// reasons for a missing image and a missing command. Everything is torn down and checked gone.
//
// Needs root and the container stack (containerd, runc, CNI plugins, skopeo, docker-registry,
// busybox-static, tini): it fails, loudly, where they are missing.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import YAML from 'yaml';
import { startKennel, type Kennel } from '../support/kennel.ts';
import { containerStackMissing, startBusyboxRegistry, type BusyboxRegistry } from '../support/images.ts';
import { containerStatus, deleteAllPods, getPod, podEvents, podReady, processesOf, waitForEvent, waitForPod } from '../support/pod-helpers.ts';
import { mountsUnder, purgeContainerd } from '../../src/agent/runtime/containerd.ts';
import { cgroupMountPoints, fencedCgroupParent } from '../../src/agent/fence-watchdog.ts';

const BRIDGE = 'kennel0';
const GATEWAY = '10.244.0.1';
const MARKER = `kennel-e2e-ctd-${randomBytes(4).toString('hex')}`;

/** veth interfaces enslaved to the bridge right now. */
function bridgeVeths(): string[] {
  const dir = `/sys/class/net/${BRIDGE}/brif`;
  return existsSync(dir) ? readdirSync(dir) : [];
}

function allLinks(): string[] {
  return readdirSync('/sys/class/net');
}

type Obj = Record<string, unknown>;

function pod(name: string, spec: Obj, labels?: Record<string, string>): Obj {
  return { apiVersion: 'v1', kind: 'Pod', metadata: { name, ...(labels ? { labels } : {}) }, spec };
}

function manifests(image: string, missingImage: string): string {
  // Every long-running command traps TERM (a shell as PID 1 ignores signals it does not trap)
  // and names MARKER, so that leftovers can be found on the host.
  const loop = (onTerm: string) => `trap '${onTerm}' TERM; while true; do sleep 0.2; done; : ${MARKER}`;
  const work = [{ name: 'work', mountPath: '/work' }];
  const objs: Obj[] = [
    { apiVersion: 'v1', kind: 'Service', metadata: { name: 'sub' }, spec: { clusterIP: 'None', selector: { app: 'web' }, ports: [{ port: 80, name: 'http' }] } },
    pod('seq', {
      initContainers: [
        { name: 'first', image, command: ['sh', '-c', 'echo first >> /work/order; sleep 0.3'], volumeMounts: work },
        { name: 'second', image, command: ['sh', '-c', 'echo second >> /work/order'], volumeMounts: work },
      ],
      containers: [{ name: 'app', image, command: ['sh', '-c', `cat /work/order; echo app-started; ${loop('echo got-TERM; exit 0')}`], volumeMounts: work }],
      volumes: [{ name: 'work', emptyDir: {} }],
    }),
    pod(
      'web',
      {
        hostname: 'web',
        subdomain: 'sub',
        terminationGracePeriodSeconds: 2,
        containers: [
          {
            name: 'httpd',
            image,
            command: ['sh', '-c', 'echo "hello from $(hostname)" > /tmp/index.html; exec httpd -f -p 80 -h /tmp'],
            readinessProbe: { tcpSocket: { port: 80 }, periodSeconds: 1 },
          },
        ],
      },
      { app: 'web' },
    ),
    pod('live', {
      terminationGracePeriodSeconds: 2,
      containers: [
        {
          name: 'app',
          image,
          command: ['sh', '-c', `touch /tmp/healthy; sleep 2; rm /tmp/healthy; ${loop('exit 0')}`],
          livenessProbe: { exec: { command: ['test', '-f', '/tmp/healthy'] }, initialDelaySeconds: 1, periodSeconds: 1, failureThreshold: 1 },
        },
      ],
    }),
    pod('stubborn', {
      terminationGracePeriodSeconds: 2,
      containers: [{ name: 'app', image, command: ['sh', '-c', `echo ignoring TERM; ${loop('echo TERM ignored')}`] }],
    }),
    pod('noimage', { terminationGracePeriodSeconds: 1, containers: [{ name: 'app', image: missingImage }] }),
    pod('nocmd', { terminationGracePeriodSeconds: 1, containers: [{ name: 'app', image, command: [`no-such-command-${MARKER}`] }] }),
  ];
  // A YAML stream (kubectl validates a `kind: List` against /openapi/v2, which kennel lacks).
  return objs.map((o) => YAML.stringify(o)).join('---\n');
}

describe('pods on containerd (kennel up --runtime containerd)', () => {
  let reg: BusyboxRegistry | undefined;
  let kn: Kennel | undefined;
  let root = '';
  let dataDir = '';
  const seenVeths = new Set<string>();

  before(async () => {
    const missing = containerStackMissing();
    if (missing) throw new Error(`the containerd e2e test cannot run: ${missing}`);
    if (existsSync(`/sys/class/net/${BRIDGE}`)) {
      throw new Error(`the bridge ${BRIDGE} exists already: another kennel with the containerd runtime runs on this machine; stop it first`);
    }
    reg = await startBusyboxRegistry();
    root = mkdtempSync('/tmp/kennel-e2e-ctd-');
    dataDir = join(root, 'data');
    // The registry speaks plain HTTP: say so as k3s's registries.yaml does (a mirror endpoint
    // with http://), in the file kennel's containerd reads: <dataDir>/agent/registries.yaml.
    mkdirSync(join(dataDir, 'agent'), { recursive: true });
    writeFileSync(join(dataDir, 'agent', 'registries.yaml'), `mirrors:\n  "${reg.host}":\n    endpoint: ["http://${reg.host}"]\n`);
    kn = await startKennel(['--runtime', 'containerd'], { dataDir });
    await kn.k(['apply', '-f', '-'], { input: manifests(reg.image, `${reg.host}/does-not-exist:1`) });
  });

  after(async () => {
    const problems: string[] = [];
    try {
      if (kn) await deleteAllPods(kn, 60_000);
    } catch (e) {
      problems.push(`deleting pods: ${(e as Error).message}`);
    }
    await kn?.stop();
    if (dataDir) {
      await purgeContainerd(join(dataDir, 'agent'), { bridgeName: BRIDGE });
      const mounts = mountsUnder(root);
      if (mounts.length) problems.push(`mounts left: ${mounts.join(', ')}`);
      const procs = processesOf(root, MARKER);
      if (procs.length) {
        problems.push(`processes left: ${procs.map((p) => `${p.pid} (${p.why}) ${p.cmdline}`).join('; ')}`);
        for (const p of procs) {
          try {
            process.kill(p.pid, 'SIGKILL');
          } catch {
            // gone
          }
        }
      }
      if (existsSync(`/sys/class/net/${BRIDGE}`)) problems.push(`bridge ${BRIDGE} left`);
      // The cgroup parent runc made for the node's fenceable pods, in every hierarchy.
      const fenced = fencedCgroupParent('node', join(dataDir, 'agent'));
      const suffix = fenced.slice(fenced.lastIndexOf('-'));
      for (const r of cgroupMountPoints()) {
        const base = join(r, 'kennel-fenced');
        const left = existsSync(base) ? readdirSync(base).filter((n) => n.endsWith(suffix)) : [];
        if (left.length) problems.push(`fenced cgroups left in ${base}: ${left.join(', ')}`);
      }
      // The agent's service proxy deletes its nftables table when it stops.
      const tables = spawnSync('nft', ['list', 'tables'], { encoding: 'utf8' });
      if (tables.status === 0 && /kennel-proxy/.test(tables.stdout)) problems.push(`nftables table left: ${tables.stdout.trim()}`);
      const links = allLinks();
      const vethsLeft = [...seenVeths].filter((v) => links.includes(v));
      if (vethsLeft.length) problems.push(`veths left: ${vethsLeft.join(', ')}`);
      rmSync(root, { recursive: true, force: true });
    }
    await reg?.stop();
    assert.deepEqual(problems, [], 'clean-up');
  });

  it('runs a pod with an image pulled by containerd from the local registry', async () => {
    const pod = await waitForPod(kn!, 'seq', podReady, 'Ready', 60_000);
    assert.equal(pod!.status!.phase, 'Running');
    assert.match(pod!.status!.podIP ?? '', /^10\.244\.0\.\d+$/);
    const app = containerStatus(pod, 'app')!;
    assert.match(app.containerID ?? '', /^containerd:\/\/[0-9a-f]{64}$/);
    assert.match(app.imageID ?? '', new RegExp(`^${reg!.host.replace(/\./g, '\\.')}/busybox@sha256:[0-9a-f]{64}$`));
    // The first pod to need the image pulled it (the others found it present).
    const pulled = (await Promise.all(['seq', 'web', 'live', 'stubborn', 'nocmd'].map((p) => podEvents(kn!, p)))).flat();
    assert.ok(pulled.some((e) => e.reason === 'Pulled' && e.message.startsWith(`Successfully pulled image "${reg!.image}"`)), pulled.map((e) => e.message).join('\n'));
    const table = await kn!.k(['get', 'pods', '-o', 'wide']);
    assert.match(table, /^seq\s+1\/1\s+Running\s+0\s+\S+\s+10\.244\.0\.\d+\s+\S+/m);
    for (const v of bridgeVeths()) seenVeths.add(v);
    assert.ok(seenVeths.size >= 1, 'pod veths on the bridge');
  });

  it('runs init containers one at a time, in order, sharing an emptyDir', async () => {
    const logs = await kn!.k(['logs', 'seq', '-c', 'app']);
    assert.equal(logs, 'first\nsecond\napp-started\n');
    const pod = await getPod(kn!, 'seq');
    for (const name of ['first', 'second']) {
      const s = containerStatus(pod, name)!;
      assert.equal(s.state?.terminated?.reason, 'Completed', name);
      assert.equal(s.state?.terminated?.exitCode, 0, name);
    }
    // `second` started only after `first` finished (first sleeps 0.3 s before exiting).
    const first = containerStatus(pod, 'first')!.state!.terminated!;
    const second = containerStatus(pod, 'second')!.state!.terminated!;
    assert.ok(Date.parse(second.startedAt!) >= Date.parse(first.finishedAt!), `${second.startedAt} >= ${first.finishedAt}`);
    assert.equal(await kn!.k(['logs', 'seq', '-c', 'first']), '');
  });

  it('kubectl exec: stdout, stdin-free commands and exit codes', async () => {
    assert.equal(await kn!.k(['exec', 'seq', '-c', 'app', '--', 'sh', '-c', 'echo out; cat /work/order']), 'out\nfirst\nsecond\n');
    const f = await kn!.kubectl(['exec', 'seq', '-c', 'app', '--', 'false']);
    assert.equal(f.code, 1, f.stderr);
    const three = await kn!.kubectl(['exec', 'seq', '-c', 'app', '--', 'sh', '-c', 'echo err >&2; exit 3']);
    assert.equal(three.code, 3);
    assert.match(three.stderr, /^err$/m);
    const input = await kn!.k(['exec', '-i', 'seq', '-c', 'app', '--', 'cat'], { input: 'via stdin\n' });
    assert.equal(input, 'via stdin\n');
  });

  it('resolv.conf, hostname and the subdomain FQDN inside pods', async () => {
    await waitForPod(kn!, 'web', podReady, 'Ready', 30_000);
    const resolv = await kn!.k(['exec', 'seq', '-c', 'app', '--', 'cat', '/etc/resolv.conf']);
    assert.match(resolv, new RegExp(`^nameserver ${GATEWAY.replace(/\./g, '\\.')}$`, 'm'));
    assert.match(resolv, /^search default\.svc\.cluster\.local svc\.cluster\.local cluster\.local$/m);
    assert.match(resolv, /^options ndots:5$/m);
    assert.equal((await kn!.k(['exec', 'seq', '--', 'hostname'])).trim(), 'seq');
    assert.equal((await kn!.k(['exec', 'web', '--', 'hostname'])).trim(), 'web');
    assert.equal((await kn!.k(['exec', 'web', '--', 'hostname', '-f'])).trim(), 'web.sub.default.svc.cluster.local');
    const web = await getPod(kn!, 'web');
    const hosts = await kn!.k(['exec', 'web', '--', 'cat', '/etc/hosts']);
    assert.match(hosts, new RegExp(`^${web!.status!.podIP!.replace(/\./g, '\\.')}\\s+web\\.sub\\.default\\.svc\\.cluster\\.local\\s+web$`, 'm'));
  });

  it('the cluster DNS answers pods: kubernetes.default, the headless subdomain', async () => {
    // busybox nslookup applies the search list only to names without a dot: `kubernetes`.
    // (It exits 1: the other search domains answer NXDOMAIN.)
    const short = (await kn!.kubectl(['exec', 'seq', '--', 'nslookup', 'kubernetes'])).stdout;
    assert.match(short, new RegExp(`^Server:\\s+${GATEWAY.replace(/\./g, '\\.')}$`, 'm'));
    assert.match(short, /Name:\s+kubernetes\.default\.svc\.cluster\.local\nAddress: 10\.43\.0\.1\n/);
    const fqdn = await kn!.k(['exec', 'seq', '--', 'nslookup', 'kubernetes.default.svc.cluster.local']);
    assert.match(fqdn, /Address: 10\.43\.0\.1\n/);
    // The C library's resolver (ndots:5 + search list) resolves `kubernetes.default` itself.
    const ping = await kn!.kubectl(['exec', 'seq', '--', 'ping', '-c', '1', '-W', '1', 'kubernetes.default']);
    assert.match(ping.stdout, /^PING kubernetes\.default \(10\.43\.0\.1\)/m, ping.stderr);
    const web = await getPod(kn!, 'web');
    const sub = await kn!.k(['exec', 'seq', '--', 'nslookup', 'web.sub.default.svc.cluster.local']);
    assert.match(sub, new RegExp(`Address: ${web!.status!.podIP!.replace(/\./g, '\\.')}\\n`));
  });

  it('one pod reaches another over the bridge', async () => {
    const web = await waitForPod(kn!, 'web', podReady, 'Ready', 30_000);
    const seq = await getPod(kn!, 'seq');
    assert.notEqual(web!.status!.podIP, seq!.status!.podIP);
    const body = await kn!.k(['exec', 'seq', '--', 'wget', '-q', '-O', '-', `http://${web!.status!.podIP}/`]);
    assert.equal(body, 'hello from web\n');
    const viaName = await kn!.k(['exec', 'seq', '--', 'wget', '-q', '-O', '-', 'http://web.sub/']);
    assert.equal(viaName, 'hello from web\n');
  });

  it('a liveness probe failure restarts the container (Unhealthy, Killing)', async () => {
    const pod = await waitForPod(kn!, 'live', (p) => (containerStatus(p, 'app')?.restartCount ?? 0) >= 1, 'a restart', 30_000);
    const s = containerStatus(pod, 'app')!;
    assert.equal(s.lastState?.terminated?.exitCode, 0, JSON.stringify(s.lastState));
    await waitForEvent(kn!, 'live', 'Unhealthy', /^Liveness probe failed/);
    await waitForEvent(kn!, 'live', 'Killing', /^Container app failed liveness probe, will be restarted$/);
    assert.match(await kn!.k(['get', 'pod', 'live']), /^live\s+\d\/1\s+\S+\s+[1-9]/m);
  });

  it('a missing image: ErrImagePull / ImagePullBackOff, with an event', async () => {
    await waitForPod(kn!, 'noimage', (p) => /^(ErrImagePull|ImagePullBackOff)$/.test(containerStatus(p, 'app')?.state?.waiting?.reason ?? ''), 'ErrImagePull', 30_000);
    assert.match(await kn!.k(['get', 'pod', 'noimage']), /^noimage\s+0\/1\s+(ErrImagePull|ImagePullBackOff)\s+0\s/m);
    const failed = await waitForEvent(kn!, 'noimage', 'Failed', new RegExp(`^Failed to pull image "${reg!.host.replace(/\./g, '\\.')}/does-not-exist:1": `));
    assert.doesNotMatch(failed.message, /Failed to pull image.*Failed to pull image/, 'the reason is said once');
    assert.match(failed.message, /does-not-exist/);
    await waitForEvent(kn!, 'noimage', 'Failed', /^Error: ErrImagePull$/);
    await waitForEvent(kn!, 'noimage', 'BackOff', /^Back-off pulling image/, 30_000);
    // The agent keeps serving the others.
    assert.equal(podReady(await getPod(kn!, 'seq')), true);
  });

  it('a command that is not found: StartError, exit 128, then CrashLoopBackOff', async () => {
    const pod = await waitForPod(kn!, 'nocmd', (p) => containerStatus(p, 'app')?.lastState?.terminated !== undefined, 'a failed start', 30_000);
    const s = containerStatus(pod, 'app')!;
    assert.equal(s.lastState!.terminated!.reason, 'StartError');
    assert.equal(s.lastState!.terminated!.exitCode, 128);
    assert.match(s.lastState!.terminated!.message ?? '', /exec: "no-such-command-[^"]+": executable file not found in \$PATH/);
    assert.match(s.state?.waiting?.reason ?? '', /^(RunContainerError|CrashLoopBackOff)$/);
    assert.match(await kn!.k(['get', 'pod', 'nocmd']), /^nocmd\s+0\/1\s+(RunContainerError|CrashLoopBackOff)\s/m);
    await waitForEvent(kn!, 'nocmd', 'Failed', /executable file not found in \$PATH/);
  });

  it('graceful termination: a container that exits on TERM goes at once; one ignoring TERM is killed after the grace period', async () => {
    await waitForPod(kn!, 'stubborn', podReady, 'Ready', 30_000);
    let t0 = Date.now();
    await kn!.k(['delete', 'pod', 'seq', '--wait=true']);
    const graceful = Date.now() - t0;
    assert.ok(graceful < 10_000, `seq (exits on TERM, grace 30 s) took ${graceful} ms to delete`);
    t0 = Date.now();
    await kn!.k(['delete', 'pod', 'stubborn', '--wait=true']);
    const killed = Date.now() - t0;
    assert.ok(killed >= 1_900 && killed < 8_000, `stubborn (ignores TERM, grace 2 s) took ${killed} ms to delete`);
    assert.equal(await getPod(kn!, 'stubborn'), undefined);
    const events = await podEvents(kn!, 'stubborn');
    assert.ok(events.some((e) => e.reason === 'Killing' && e.message === 'Stopping container app'), events.map((e) => e.message).join('\n'));
  });

  it('every pod is deleted and its sandbox, veth and processes are gone', async () => {
    for (const v of bridgeVeths()) seenVeths.add(v);
    await deleteAllPods(kn!, 60_000);
    // The sandboxes went with the pods: no veth left on the bridge, no container process.
    const deadline = Date.now() + 10_000;
    while (bridgeVeths().length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    assert.deepEqual(bridgeVeths(), []);
    // Everything but kennel itself and its containerd: shims, sandboxes, containers.
    const containers = processesOf(root, MARKER, { ignore: /kennel\.mjs up |^containerd --config / });
    assert.deepEqual(containers, []);
  });
});
