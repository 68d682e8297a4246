// Start-up order with `kennel.dev/depends-on`, end to end on the process runtime (real host
// processes: the fastest runtime with real containers, real readiness probes and the real
// cluster DNS), and again after a whole-cluster restart:
//   - a two-tier app: `db` (a StatefulSet behind a headless Service; it serves only 3 s after
//     its container starts) and `app` (a ReplicaSet whose pods declare
//     `kennel.dev/depends-on: db`); app's container checks at start that db answers;
//   - a Nacos-style set: 3 members (podManagementPolicy Parallel, a headless Service with
//     publishNotReadyAddresses) that need db and their peers' DNS names resolvable when they
//     start, declared as `kennel.dev/depends-on: "db, nacos-hs:3"`; each writes the
//     cluster.conf it could resolve at start;
//   - then the whole cluster goes down: `kennel up` is stopped (SIGTERM) and every container
//     process is killed, as a power cut or a reboot would (process-runtime containers outlive
//     `kennel up` by design — docs/process-runtime.md, "Agent restarts" — so stopping kennel
//     alone restarts nothing, and deleting the pods would lose the very thing under test: pods
//     that already exist and start again). `kennel up` starts again on the same data dir; the
//     agent finds every container dead (exit 137, no status left) and restarts them, and the
//     gate must hold app and the Nacos members until db is Ready again. Init containers would
//     not: the sandboxes survive, so they do not run again.
// Ordering is checked with the containers' own millisecond clocks (they are host processes:
// one clock), the pods' DependenciesReady condition and the WaitingForDependencies events.
//
// Needs root (the cluster DNS binds port 53 on 127.0.0.10 as well), busybox and dig.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';
import YAML from 'yaml';
import { startKennel, type Kennel } from '../support/kennel.ts';
import { containerStatus, deleteAllPods, getPod, podReady, processesOf, waitForPod, type PodJson } from '../support/pod-helpers.ts';
import { waitUntil } from '../support/wait.ts';

type Obj = Record<string, unknown>;

const DOMAIN = 'default.svc.cluster.local';
const NACOS = [0, 1, 2].map((i) => `nacos-${i}`);

/** A free UDP+TCP port on 127.0.0.1 for the host-facing cluster DNS. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => (port ? resolve(port) : reject(new Error('no port'))));
    });
  });
}

function manifests(dnsPort: number): string {
  const env = [{ name: 'DNS_PORT', value: String(dnsPort) }];
  // A container's program: `now` is the host clock in ms; `resolve NAME` asks the cluster DNS.
  const prelude = 'now() { date +%s%3N; }; resolve() { dig +short +tries=1 +time=1 @127.0.0.1 -p "$DNS_PORT" "$1" | head -n 1; }; ';
  // db answers `db-ok` on its pod IP, 3 s after its container starts.
  const db = 'echo "db start $(now)"; echo db-ok > index.html; sleep 3; echo "db serving $(now)"; exec busybox httpd -f -p "$KENNEL_POD_IP:8080" -h .';
  // Does db answer right now (found through the cluster DNS, as a client would)?
  const dbCheck = `a=$(resolve db-0.db.${DOMAIN}); if [ -n "$a" ] && busybox wget -q -O - "http://$a:8080/" | grep -q db-ok; then echo "db answered at start"; else echo "db did not answer at start (db-0 is '$a')"; fi; `;
  const app = `echo "app start $(now)"; ${dbCheck}trap 'exit 0' TERM; while true; do sleep 1; done`;
  // A Nacos member: every peer's name must resolve when it starts (its cluster.conf).
  const nacos =
    `echo "member start $(now)"; ${dbCheck}: > cluster.conf; n=0; ` +
    `for i in 0 1 2; do h=nacos-$i.nacos-hs.${DOMAIN}; if [ -n "$(resolve $h)" ]; then n=$((n+1)); echo "$h:8848" >> cluster.conf; fi; done; ` +
    'echo "peers resolvable at start: $n/3"; cat cluster.conf; exec busybox httpd -f -p "$KENNEL_POD_IP:8848" -h .';
  const objs: Obj[] = [
    { apiVersion: 'v1', kind: 'Service', metadata: { name: 'db' }, spec: { clusterIP: 'None', selector: { app: 'db' }, ports: [{ name: 'sql', port: 8080 }] } },
    {
      apiVersion: 'apps/v1',
      kind: 'StatefulSet',
      metadata: { name: 'db' },
      spec: {
        serviceName: 'db',
        replicas: 1,
        selector: { matchLabels: { app: 'db' } },
        template: {
          metadata: { labels: { app: 'db' } },
          spec: {
            terminationGracePeriodSeconds: 2,
            containers: [{ name: 'db', image: 'busybox', command: ['sh', '-c', prelude + db], readinessProbe: { tcpSocket: { port: 8080 }, periodSeconds: 1 } }],
          },
        },
      },
    },
    {
      apiVersion: 'apps/v1',
      kind: 'ReplicaSet',
      metadata: { name: 'app' },
      spec: {
        replicas: 1,
        selector: { matchLabels: { app: 'app' } },
        template: {
          metadata: { labels: { app: 'app' }, annotations: { 'kennel.dev/depends-on': 'db' } },
          spec: { terminationGracePeriodSeconds: 2, containers: [{ name: 'app', image: 'busybox', env, command: ['sh', '-c', prelude + app] }] },
        },
      },
    },
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'nacos-hs' },
      spec: { clusterIP: 'None', publishNotReadyAddresses: true, selector: { app: 'nacos' }, ports: [{ name: 'peer', port: 8848 }] },
    },
    {
      apiVersion: 'apps/v1',
      kind: 'StatefulSet',
      metadata: { name: 'nacos' },
      spec: {
        serviceName: 'nacos-hs',
        replicas: 3,
        podManagementPolicy: 'Parallel',
        selector: { matchLabels: { app: 'nacos' } },
        template: {
          metadata: { labels: { app: 'nacos' }, annotations: { 'kennel.dev/depends-on': 'db, nacos-hs:3' } },
          spec: {
            terminationGracePeriodSeconds: 2,
            containers: [{ name: 'nacos', image: 'busybox', env, command: ['sh', '-c', prelude + nacos], readinessProbe: { tcpSocket: { port: 8848 }, periodSeconds: 1 } }],
          },
        },
      },
    },
  ];
  return objs.map((o) => YAML.stringify(o)).join('---\n');
}

/** The millisecond stamp a container logged on the line starting with `label`. */
function stamp(logs: string, label: string): number {
  const m = new RegExp(`^${label} (\\d{13})$`, 'm').exec(logs);
  assert.ok(m, `no "${label}" line in:\n${logs}`);
  return Number(m[1]);
}

interface EventItem {
  reason: string;
  message: string;
  count?: number;
  firstTimestamp?: string;
  lastTimestamp?: string;
  eventTime?: string;
  involvedObject: { name: string };
}

async function eventsOf(kn: Kennel, pod: string): Promise<EventItem[]> {
  const out = await kn.k(['get', 'events', '--field-selector', `involvedObject.name=${pod}`, '-o', 'json']);
  return (JSON.parse(out) as { items: EventItem[] }).items;
}

function dependenciesCondition(p: PodJson | undefined): { status: string; lastTransitionTime?: string; message?: string } | undefined {
  return p?.status?.conditions?.find((c) => c.type === 'kennel.dev/DependenciesReady') as { status: string; lastTransitionTime?: string; message?: string } | undefined;
}

describe('start-up order (kennel.dev/depends-on) on the process runtime, also after a whole-cluster restart', () => {
  let root = '';
  let dataDir = '';
  let dnsPort = 0;
  let kn: Kennel | undefined;
  let appPod = '';

  /**
   * `kennel up` on the data dir. As root it also serves the pods' DNS on 127.0.0.10:53, which
   * another process-runtime kennel on this machine may hold for a while (tests run side by
   * side): then it waits its turn rather than fail.
   */
  const up = async (): Promise<Kennel> => {
    const deadline = Date.now() + 120_000;
    for (;;) {
      try {
        return await startKennel(['--runtime', 'process', '--dns-listen', `127.0.0.1:${dnsPort}`], { dataDir });
      } catch (e) {
        if (!/EADDRINUSE 127\.0\.0\.10:53/.test((e as Error).message) || Date.now() > deadline) throw e;
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
  };

  before(async () => {
    if (process.getuid?.() !== 0) throw new Error('the start-up order e2e test must run as root (the cluster DNS binds 127.0.0.10:53)');
    for (const bin of ['busybox', 'dig']) {
      if (spawnSync('sh', ['-c', `command -v ${bin}`], { stdio: 'ignore' }).status !== 0) throw new Error(`${bin} is missing: apt-get install ${bin === 'dig' ? 'dnsutils' : 'busybox-static'}`);
    }
    root = mkdtempSync('/tmp/kennel-e2e-order-');
    dataDir = join(root, 'data');
    dnsPort = await freePort();
    kn = await up();
    await kn.k(['apply', '-f', '-'], { input: manifests(dnsPort) });
  });

  after(async () => {
    const problems: string[] = [];
    try {
      if (kn) {
        await kn.kubectl(['delete', 'statefulset,replicaset', '--all', '--wait=true']);
        await deleteAllPods(kn, 60_000);
      }
    } catch (e) {
      problems.push(`deleting pods: ${(e as Error).message}`);
    }
    await kn?.stop();
    if (root) {
      const procs = processesOf(root);
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
      rmSync(root, { recursive: true, force: true });
    }
    assert.deepEqual(problems, [], 'clean-up');
  });

  it('app waits for db: a condition and an event name what it waits for; its container starts once db is Ready', async () => {
    appPod = await waitUntil('the ReplicaSet\'s pod', async () => (await kn!.k(['get', 'pods', '-l', 'app=app', '-o', 'jsonpath={.items[*].metadata.name}'])).trim() || undefined, { timeoutMs: 15_000, everyMs: 100 });
    assert.match(appPod, /^app-[a-z0-9]{5}$/);
    const app = await waitForPod(kn!, appPod, podReady, 'Ready', 30_000);
    const db = await getPod(kn!, 'db-0');
    assert.ok(podReady(db), 'db is Ready before app');
    const events = await eventsOf(kn!, appPod);
    assert.ok(
      events.some((e) => e.reason === 'WaitingForDependencies' && e.message === 'Waiting for services: db (0/1 ready)'),
      events.map((e) => `${e.reason}: ${e.message}`).join('\n'),
    );
    assert.equal(dependenciesCondition(app)?.status, 'True');
    const dbLogs = await kn!.k(['logs', 'db-0']);
    const appLogs = await kn!.k(['logs', appPod]);
    assert.match(appLogs, /^db answered at start$/m);
    const served = stamp(dbLogs, 'db serving');
    const started = stamp(appLogs, 'app start');
    assert.ok(started > served, `app started at ${started}, db served from ${served}`);
  });

  it('Nacos-style: each member starts once db is Ready and all three peers resolve (publishNotReadyAddresses)', async () => {
    const dbLogs = await kn!.k(['logs', 'db-0']);
    const served = stamp(dbLogs, 'db serving');
    for (const name of NACOS) {
      await waitForPod(kn!, name, podReady, 'Ready', 30_000);
      const logs = await kn!.k(['logs', name]);
      assert.match(logs, /^peers resolvable at start: 3\/3$/m, logs);
      assert.ok(logs.includes(NACOS.map((n) => `${n}.nacos-hs.${DOMAIN}:8848\n`).join('')), logs);
      assert.match(logs, /^db answered at start$/m);
      assert.ok(stamp(logs, 'member start') > served, `${name} started before db served`);
      const events = await eventsOf(kn!, name);
      assert.ok(
        events.some((e) => e.reason === 'WaitingForDependencies' && /^Waiting for services: (db \(0\/1 ready\)|nacos-hs \([0-2]\/3 ready\)|db \(0\/1 ready\), nacos-hs \([0-2]\/3 ready\))$/.test(e.message)),
        events.map((e) => `${e.reason}: ${e.message}`).join('\n'),
      );
    }
  });

  it('after a whole-cluster restart (kennel stopped, every container killed) the order holds again', async () => {
    const pods = ['db-0', appPod, ...NACOS];
    const before = new Map<string, string>();
    for (const name of pods) before.set(name, containerStatus(await getPod(kn!, name), name === appPod ? 'app' : name === 'db-0' ? 'db' : 'nacos')!.containerID!);

    // Down: kennel first (its agent leaves the containers running), then every container.
    await kn!.stop();
    kn = undefined;
    const procs = processesOf(root);
    assert.ok(procs.length >= pods.length, `the containers outlive kennel up: ${procs.length} processes`);
    for (const p of procs) {
      try {
        process.kill(p.pid, 'SIGKILL');
      } catch {
        // gone already
      }
    }
    const deadline = Date.now() + 5_000;
    while (processesOf(root).length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(processesOf(root), [], 'every container process is gone');

    // Up again, on the same data dir.
    const restartedAt = Date.now();
    kn = await up();
    for (const name of pods) {
      await waitForPod(kn, name, (p) => podReady(p) && (p?.status?.containerStatuses?.[0]?.restartCount ?? 0) >= 1, 'Ready in a restarted container', 60_000);
    }
    const dbPod = await getPod(kn, 'db-0');
    const dbNow = containerStatus(dbPod, 'db')!;
    assert.notEqual(dbNow.containerID, before.get('db-0'));
    assert.equal(dbNow.lastState?.terminated?.exitCode, 137, JSON.stringify(dbNow.lastState));
    const dbLogs = await kn.k(['logs', 'db-0']);
    const served = stamp(dbLogs, 'db serving');
    assert.ok(stamp(dbLogs, 'db start') >= restartedAt, 'db ran again after the restart');

    // app: held again until db was Ready, then found db answering.
    const app = await getPod(kn, appPod);
    const appNow = containerStatus(app, 'app')!;
    assert.notEqual(appNow.containerID, before.get(appPod));
    const appLogs = await kn.k(['logs', appPod]);
    const appStart = stamp(appLogs, 'app start');
    assert.ok(appStart > served, `after the restart app started at ${appStart}, ${served - appStart} ms before db served (${served})`);
    assert.match(appLogs, /^db answered at start$/m);
    // Its condition went False and back to True after the restart, with an event again.
    const cond = dependenciesCondition(app)!;
    assert.equal(cond.status, 'True');
    assert.ok(Date.parse(cond.lastTransitionTime!) >= Math.floor(restartedAt / 1000) * 1000, `DependenciesReady last changed at ${cond.lastTransitionTime}, before the restart`);
    const waited = (await eventsOf(kn, appPod)).filter((e) => e.reason === 'WaitingForDependencies' && e.message === 'Waiting for services: db (0/1 ready)');
    assert.ok(
      waited.some((e) => Date.parse(e.lastTimestamp ?? e.eventTime ?? '') >= Math.floor(restartedAt / 1000) * 1000),
      `no WaitingForDependencies event after the restart: ${JSON.stringify(waited)}`,
    );

    // The Nacos members: again after db, with every peer resolvable.
    for (const name of NACOS) {
      const logs = await kn.k(['logs', name]);
      assert.ok(stamp(logs, 'member start') > served, `${name} started again before db served`);
      assert.match(logs, /^db answered at start$/m);
      assert.match(logs, /^peers resolvable at start: 3\/3$/m);
    }
  });

  it('everything is deleted and no process of the cluster is left', async () => {
    await kn!.k(['delete', 'statefulset,replicaset', '--all', '--wait=true']);
    await deleteAllPods(kn!, 60_000);
    const deadline = Date.now() + 10_000;
    while (processesOf(root, undefined, { ignore: /kennel\.mjs up / }).length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(processesOf(root, undefined, { ignore: /kennel\.mjs up / }), []);
  });
});
