// Pods on the process runtime, end to end: `kennel up --runtime process` and the real kubectl.
// The lifecycle checks of pods-containerd.test.ts that make sense without images or network
// namespaces (docs/process-runtime.md): pods Running, init containers in order sharing an
// emptyDir (a relative symlink in each container's working directory), logs, exec with exit
// codes, a liveness restart, graceful termination timing, two pods' HTTP servers on the same
// port of their own 127.x pod IPs reached from this test, and the Kubernetes reason for a
// command that is not found. Every pod is deleted and no process of the test is left.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import YAML from 'yaml';
import { startKennel, type Kennel } from '../support/kennel.ts';
import { containerStatus, deleteAllPods, getPod, podEvents, podReady, processesOf, waitForEvent, waitForPod } from '../support/pod-helpers.ts';

// Named in every long-running command, so that leftovers can be found on the host.
const MARKER = `kennel-e2e-proc-${randomBytes(4).toString('hex')}`;

type Obj = Record<string, unknown>;

function pod(name: string, spec: Obj): Obj {
  return { apiVersion: 'v1', kind: 'Pod', metadata: { name }, spec };
}

function manifests(): string {
  const loop = (onTerm: string) => `trap '${onTerm}' TERM; while true; do sleep 0.2; done; : ${MARKER}`;
  const work = [{ name: 'work', mountPath: '/work' }];
  // Listens on the pod's own address (the port is free on every other 127.x address).
  const web = (name: string): Obj =>
    pod(name, {
      terminationGracePeriodSeconds: 2,
      containers: [
        {
          name: 'httpd',
          image: 'busybox',
          command: ['sh', '-c', `mkdir www && echo "hello from $HOSTNAME at $KENNEL_POD_IP" > www/index.html && exec busybox httpd -f -p "$KENNEL_POD_IP:8080" -h www`],
          readinessProbe: { httpGet: { path: '/', port: 8080 }, periodSeconds: 1 },
        },
      ],
    });
  const objs: Obj[] = [
    pod('seq', {
      initContainers: [
        // Relative paths: the volume is the symlink `work` in each container's directory.
        { name: 'first', image: 'busybox', command: ['sh', '-c', 'echo first >> work/order; sleep 0.3'], volumeMounts: work },
        { name: 'second', image: 'busybox', command: ['sh', '-c', 'echo second >> work/order'], volumeMounts: work },
      ],
      containers: [{ name: 'app', image: 'busybox', command: ['sh', '-c', `cat work/order; echo app-started; ${loop('echo got-TERM; exit 0')}`], volumeMounts: work }],
      volumes: [{ name: 'work', emptyDir: {} }],
    }),
    web('web1'),
    web('web2'),
    pod('live', {
      terminationGracePeriodSeconds: 2,
      containers: [
        {
          name: 'app',
          image: 'busybox',
          command: ['sh', '-c', `touch healthy; sleep 2; rm healthy; ${loop('exit 0')}`],
          livenessProbe: { exec: { command: ['test', '-f', 'healthy'] }, initialDelaySeconds: 1, periodSeconds: 1, failureThreshold: 1 },
        },
      ],
    }),
    pod('stubborn', {
      terminationGracePeriodSeconds: 2,
      containers: [{ name: 'app', image: 'busybox', command: ['sh', '-c', `echo ignoring TERM; ${loop('echo TERM ignored')}`] }],
    }),
    pod('nocmd', { terminationGracePeriodSeconds: 1, containers: [{ name: 'app', image: 'busybox', command: [`no-such-command-${MARKER}`] }] }),
  ];
  return objs.map((o) => YAML.stringify(o)).join('---\n');
}

describe('pods on the process runtime (kennel up --runtime process)', () => {
  let kn: Kennel | undefined;
  let root = '';

  before(async () => {
    root = mkdtempSync(join(tmpdir(), 'kennel-e2e-proc-'));
    kn = await startKennel(['--runtime', 'process'], { dataDir: join(root, 'data') });
    await kn.k(['apply', '-f', '-'], { input: manifests() });
  });

  after(async () => {
    const problems: string[] = [];
    try {
      if (kn) await deleteAllPods(kn, 30_000);
    } catch (e) {
      problems.push(`deleting pods: ${(e as Error).message}`);
    }
    await kn?.stop();
    if (root) {
      const left = processesOf(root, MARKER);
      if (left.length) {
        problems.push(`processes left: ${left.map((p) => `${p.pid} (${p.why}) ${p.cmdline}`).join('; ')}`);
        for (const p of left) {
          try {
            process.kill(p.pid, 'SIGKILL');
          } catch {
            // gone
          }
        }
      }
      rmSync(root, { recursive: true, force: true });
    }
    assert.deepEqual(problems, [], 'clean-up');
  });

  it('runs a pod: Running, Ready, a 127.x pod IP', async () => {
    const p = await waitForPod(kn!, 'seq', podReady, 'Ready', 30_000);
    assert.equal(p!.status!.phase, 'Running');
    assert.match(p!.status!.podIP ?? '', /^127\.\d+\.\d+\.\d+$/);
    assert.match(containerStatus(p, 'app')!.containerID ?? '', /^kennel-process:\/\/[0-9a-f]+$/);
    assert.match(await kn!.k(['get', 'pods', 'seq', '-o', 'wide']), /^seq\s+1\/1\s+Running\s+0\s+\S+\s+127\.\d+\.\d+\.\d+\s+\S+/m);
  });

  it('runs init containers one at a time, in order, sharing an emptyDir', async () => {
    assert.equal(await kn!.k(['logs', 'seq', '-c', 'app']), 'first\nsecond\napp-started\n');
    const p = await getPod(kn!, 'seq');
    const first = containerStatus(p, 'first')!.state!.terminated!;
    const second = containerStatus(p, 'second')!.state!.terminated!;
    assert.equal(first.reason, 'Completed');
    assert.equal(second.reason, 'Completed');
    assert.ok(Date.parse(second.startedAt!) >= Date.parse(first.finishedAt!), `${second.startedAt} >= ${first.finishedAt}`);
    // The volume is a relative symlink in the container's directory.
    const ls = await kn!.k(['exec', 'seq', '-c', 'app', '--', 'sh', '-c', 'readlink work; cat work/order']);
    assert.match(ls, /kubernetes\.io~empty-dir\/work\nfirst\nsecond\n$/);
  });

  it('kubectl exec: stdout, stdin and exit codes', async () => {
    assert.equal(await kn!.k(['exec', 'seq', '-c', 'app', '--', 'sh', '-c', 'echo "$HOSTNAME"']), 'seq\n');
    const f = await kn!.kubectl(['exec', 'seq', '-c', 'app', '--', 'false']);
    assert.equal(f.code, 1, f.stderr);
    const three = await kn!.kubectl(['exec', 'seq', '-c', 'app', '--', 'sh', '-c', 'echo err >&2; exit 3']);
    assert.equal(three.code, 3);
    assert.match(three.stderr, /^err$/m);
    assert.equal(await kn!.k(['exec', '-i', 'seq', '-c', 'app', '--', 'cat'], { input: 'via stdin\n' }), 'via stdin\n');
  });

  it("two pods' HTTP servers on the same port of their own 127.x IPs, reached from the host", async () => {
    const [a, b] = await Promise.all(['web1', 'web2'].map((n) => waitForPod(kn!, n, podReady, 'Ready', 30_000)));
    const ipA = a!.status!.podIP!;
    const ipB = b!.status!.podIP!;
    assert.notEqual(ipA, ipB);
    for (const [name, ip] of [['web1', ipA], ['web2', ipB]]) {
      assert.match(ip!, /^127\./);
      const res = await fetch(`http://${ip}:8080/`);
      assert.equal(res.status, 200);
      assert.equal(await res.text(), `hello from ${name} at ${ip}\n`);
    }
    // And from one pod to the other.
    assert.equal(await kn!.k(['exec', 'web1', '--', 'busybox', 'wget', '-q', '-O', '-', `http://${ipB}:8080/`]), `hello from web2 at ${ipB}\n`);
  });

  it('a liveness probe failure restarts the container (Unhealthy, Killing)', async () => {
    const p = await waitForPod(kn!, 'live', (x) => (containerStatus(x, 'app')?.restartCount ?? 0) >= 1, 'a restart', 30_000);
    const s = containerStatus(p, 'app')!;
    assert.equal(s.lastState?.terminated?.exitCode, 0, JSON.stringify(s.lastState));
    // It was healthy for its first 2 s: the probe did not kill it at once.
    const t = s.lastState!.terminated!;
    assert.ok(Date.parse(t.finishedAt!) - Date.parse(t.startedAt!) >= 1_000, JSON.stringify(t));
    await waitForEvent(kn!, 'live', 'Unhealthy', /^Liveness probe failed/);
    await waitForEvent(kn!, 'live', 'Killing', /^Container app failed liveness probe, will be restarted$/);
  });

  it('a command that is not found: StartError, exit 128, then the Kubernetes reason', async () => {
    const p = await waitForPod(kn!, 'nocmd', (x) => containerStatus(x, 'app')?.lastState?.terminated !== undefined, 'a failed start', 30_000);
    const s = containerStatus(p, 'app')!;
    assert.equal(s.lastState!.terminated!.reason, 'StartError');
    assert.equal(s.lastState!.terminated!.exitCode, 128);
    assert.match(s.lastState!.terminated!.message ?? '', /exec: "no-such-command-[^"]+": executable file not found in \$PATH/);
    assert.match(s.state?.waiting?.reason ?? '', /^(RunContainerError|CrashLoopBackOff)$/);
    assert.match(await kn!.k(['get', 'pod', 'nocmd']), /^nocmd\s+0\/1\s+(RunContainerError|CrashLoopBackOff)\s/m);
    await waitForEvent(kn!, 'nocmd', 'Failed', /executable file not found in \$PATH/);
    assert.equal(podReady(await getPod(kn!, 'seq')), true, 'the other pods keep running');
  });

  it('graceful termination: TERM ends a trapping container at once; one ignoring TERM is killed after the grace period', async () => {
    await waitForPod(kn!, 'stubborn', podReady, 'Ready', 30_000);
    let t0 = Date.now();
    await kn!.k(['delete', 'pod', 'seq', '--wait=true']);
    const graceful = Date.now() - t0;
    assert.ok(graceful < 10_000, `seq (exits on TERM, grace 30 s) took ${graceful} ms to delete`);
    t0 = Date.now();
    await kn!.k(['delete', 'pod', 'stubborn', '--wait=true']);
    const killed = Date.now() - t0;
    assert.ok(killed >= 1_900 && killed < 8_000, `stubborn (ignores TERM, grace 2 s) took ${killed} ms to delete`);
    const events = await podEvents(kn!, 'stubborn');
    assert.ok(events.some((e) => e.reason === 'Killing' && e.message === 'Stopping container app'), events.map((e) => e.message).join('\n'));
  });

  it('every pod is deleted and its processes are gone', async () => {
    await deleteAllPods(kn!, 30_000);
    // kennel itself (and tsx's esbuild under it) aside, nothing of the test runs.
    const left = processesOf(root, MARKER, { ignore: /kennel\.mjs up / });
    assert.deepEqual(left, []);
  });
});
