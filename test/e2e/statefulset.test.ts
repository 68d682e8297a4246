// The StatefulSet walk-throughs through the real kubectl against `kennel up --runtime process`:
// real host processes serve each pod's volume over HTTP on the pod's own 127.x address.
// The "StatefulSet basics" flow (ordered start-up, stable names and data, scaling, rolling
// updates, canaries with a partition, OnDelete, undo, restart), the PetSet commands, kennel's
// two extensions (a stuck rollout recovers once the template is fixed; raising the storage of
// a volumeClaimTemplate resizes the claims), bad input, data across re-creating the whole set,
// and garbage collection in its three modes.
//
// The tests run in order and share one cluster. Containers of the process runtime outlive
// `kennel up` by design (a new agent adopts them), so the last test deletes every workload and
// checks that no process of this file is left; after() kills any leftover by PID.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { get as httpGet } from 'node:http';
import { randomBytes } from 'node:crypto';
import { startKennel, type Kennel, type KubectlResult } from '../support/kennel.ts';

/** Unique to this run: in every container's command line, to find leftover processes. */
const MARK = `kennel-sts-e2e-${process.pid}-${randomBytes(4).toString('hex')}`;
const HOST_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const HAVE_PYTHON = spawnSync('python3', ['--version'], { env: { PATH: HOST_PATH } }).status === 0;

/** Serves www/ on the pod's own address; index.html keeps the first start's hostname. */
const SERVE = HAVE_PYTHON
  ? 'python3 -m http.server --bind "$KENNEL_POD_IP" 8080 --directory www'
  : `node -e "require('http').createServer((q,s)=>require('fs').createReadStream('www'+(q.url==='/'?'/index.html':q.url)).on('error',()=>{s.statusCode=404;s.end()}).pipe(s)).listen(8080,process.env.KENNEL_POD_IP)"`;
const WEB_COMMAND = `[ -s www/index.html ] || echo "$HOSTNAME" > www/index.html; date +%s%N >> www/starts; ${SERVE}; : ${MARK}`;
/** A container that ignores SIGTERM, so that its pod takes the whole grace period to go. */
const SLOW_COMMAND = `trap "" TERM; while :; do sleep 1; done; : ${MARK}`;

type Labels = Record<string, string>;
interface Condition {
  type: string;
  status: string;
  lastTransitionTime?: string;
}
interface ContainerStatus {
  name: string;
  image: string;
  ready: boolean;
  restartCount: number;
  state?: { waiting?: { reason?: string; message?: string }; running?: object; terminated?: { reason?: string } };
  lastState?: { waiting?: { reason?: string }; terminated?: { reason?: string; message?: string } };
}
interface Pod {
  metadata: {
    name: string;
    uid: string;
    creationTimestamp: string;
    deletionTimestamp?: string;
    labels?: Labels;
    ownerReferences?: { kind: string; name: string; uid: string; controller?: boolean; blockOwnerDeletion?: boolean }[];
  };
  spec: { hostname?: string; subdomain?: string; containers: { image: string }[] };
  status?: { podIP?: string; phase?: string; conditions?: Condition[]; containerStatuses?: ContainerStatus[] };
}
interface StatefulSet {
  metadata: { name: string; uid: string; generation: number; deletionTimestamp?: string; finalizers?: string[] };
  spec: {
    replicas: number;
    template: { metadata?: { annotations?: Labels }; spec: { containers: { image: string; command?: string[] }[] } };
    updateStrategy: { type: string; rollingUpdate?: { partition?: number } };
  };
  status?: {
    observedGeneration?: number;
    replicas?: number;
    readyReplicas?: number;
    currentReplicas?: number;
    updatedReplicas?: number;
    currentRevision?: string;
    updateRevision?: string;
  };
}
interface Claim {
  metadata: { name: string };
  spec: { volumeName?: string; resources: { requests: { storage: string } } };
  status?: { phase?: string; capacity?: { storage?: string } };
}

function webSet(opts: { storage?: string; replicas?: number } = {}): object {
  return {
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: { name: 'web' },
    spec: {
      selector: { matchLabels: { app: 'nginx' } },
      serviceName: 'nginx',
      replicas: opts.replicas ?? 2,
      template: {
        metadata: { labels: { app: 'nginx' } },
        spec: {
          terminationGracePeriodSeconds: 1,
          containers: [
            {
              name: 'nginx',
              image: 'registry.k8s.io/nginx-slim:0.8',
              command: ['sh', '-c', WEB_COMMAND],
              ports: [{ containerPort: 8080, name: 'web' }],
              volumeMounts: [{ name: 'www', mountPath: '/www' }],
            },
          ],
        },
      },
      volumeClaimTemplates: [
        { metadata: { name: 'www' }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: opts.storage ?? '1Gi' } } } },
      ],
    },
  };
}

const HEADLESS = {
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name: 'nginx', labels: { app: 'nginx' } },
  spec: { ports: [{ port: 8080, name: 'web' }], clusterIP: 'None', selector: { app: 'nginx' } },
};

function gcSet(): object {
  return {
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: { name: 'gc' },
    spec: {
      selector: { matchLabels: { app: 'gc' } },
      serviceName: 'nginx',
      replicas: 2,
      podManagementPolicy: 'Parallel',
      template: {
        metadata: { labels: { app: 'gc' } },
        spec: { terminationGracePeriodSeconds: 2, containers: [{ name: 'c', image: 'busybox:1.36', command: ['sh', '-c', SLOW_COMMAND] }] },
      },
    },
  };
}

/** Several objects as one YAML stream (each document in JSON, which is YAML). Not a v1 List:
 *  kubectl validates a List against /openapi/v2, which kennel does not serve. */
const list = (...objs: object[]): string => objs.map((o) => `---\n${JSON.stringify(o)}\n`).join('');

function isReady(p: Pod): boolean {
  return !p.metadata.deletionTimestamp && (p.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');
}

async function until<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, 150));
  }
}

/** GET http://ip:port/path; only loopback addresses (the process runtime's pod IPs). */
function fetchText(ip: string, port: number, path = '/'): Promise<{ status: number; body: string }> {
  assert.match(ip, /^127\.\d+\.\d+\.\d+$/, `pod IP ${ip} is not a loopback address`);
  return new Promise((resolve, reject) => {
    const req = httpGet({ host: ip, port, path, timeout: 2000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

/** One line per watch event: name, controller-revision-hash, Ready status, deletionTimestamp. */
const WATCH_FORMAT = 'jsonpath={.metadata.name} {.metadata.labels.controller-revision-hash} {.status.conditions[?(@.type=="Ready")].status} {.metadata.deletionTimestamp}{"\\n"}';
interface WatchLine {
  name: string;
  hash: string;
  ready: string;
  deleting: boolean;
}

/** Pids of processes started by this file's containers (by marker or working directory). */
function strayProcesses(dataDir: string): number[] {
  const out: number[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    const pid = Number(e);
    if (pid === process.pid) continue;
    try {
      const cmd = readFileSync(`/proc/${e}/cmdline`, 'utf8');
      let cwd = '';
      try {
        cwd = readlinkSync(`/proc/${e}/cwd`);
      } catch {
        // another user's process, or gone
      }
      if (cmd.includes(MARK) || (dataDir && cwd.startsWith(dataDir))) out.push(pid);
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

describe('StatefulSets through kubectl against kennel up --runtime process', () => {
  let kn: Kennel;
  const watchers = new Set<ChildProcess>();

  /** `kubectl get ... -w` in the background; lines() is what it printed so far. */
  function watch(args: string[]): { lines(): WatchLine[]; stop(): Promise<void> } {
    const p = spawn('kubectl', ['get', ...args, '-w', '-o', WATCH_FORMAT], { env: { ...process.env, KUBECONFIG: kn.kubeconfig }, stdio: ['ignore', 'pipe', 'pipe'] });
    watchers.add(p);
    let out = '';
    p.stdout!.on('data', (c: Buffer) => (out += c.toString()));
    const closed = new Promise<void>((r) => p.once('close', () => r()));
    return {
      lines: () =>
        out
          .split('\n')
          .filter((l) => l.trim() !== '')
          .map((l) => {
            const [name = '', hash = '', ready = '', del = ''] = l.split(' ');
            return { name, hash, ready, deleting: del !== '' };
          }),
      async stop() {
        if (p.exitCode === null && p.signalCode === null) p.kill('SIGTERM');
        await closed;
        watchers.delete(p);
      },
    };
  }

  const getJSON = async <T>(args: string[]): Promise<T> => JSON.parse(await kn.k(['get', ...args, '-o', 'json'])) as T;
  const pods = async (selector = 'app=nginx'): Promise<Pod[]> =>
    (await getJSON<{ items: Pod[] }>(selector ? ['pods', '-l', selector] : ['pods'])).items.sort((a, b) => a.metadata.name.localeCompare(b.metadata.name, 'en', { numeric: true }));
  const sts = (name = 'web'): Promise<StatefulSet> => getJSON<StatefulSet>(['statefulset', name]);
  const podNames = (ps: Pod[]): string[] => ps.map((p) => p.metadata.name);
  const hashOf = (p: Pod): string => p.metadata.labels?.['controller-revision-hash'] ?? '';

  /** Waits for exactly web-0..web-(n-1), all Ready and not terminating. */
  const waitPodsReady = (n: number, selector = 'app=nginx', prefix = 'web', timeoutMs = 40_000): Promise<Pod[]> =>
    until(
      `${n} Ready pods ${prefix}-0..${n - 1}`,
      async () => {
        const ps = await pods(selector);
        const want = Array.from({ length: n }, (_, i) => `${prefix}-${i}`);
        return ps.length === n && podNames(ps).join() === want.join() && ps.every(isReady) ? ps : undefined;
      },
      timeoutMs,
    );

  /** Waits until the controller has observed the latest spec and all n pods are Ready. */
  const waitSetSettled = (n: number, name = 'web'): Promise<StatefulSet> =>
    until(`statefulset ${name} to settle at ${n} Ready replicas`, async () => {
      const s = await sts(name);
      const st = s.status ?? {};
      return st.observedGeneration === s.metadata.generation && st.replicas === n && st.readyReplicas === n ? s : undefined;
    });

  /** A kubectl call that must be refused with HTTP 422; returns stderr. */
  async function refused422(args: string[], input?: string): Promise<string> {
    const r: KubectlResult = await kn.kubectl([...args, '-v=6'], input === undefined ? {} : { input });
    assert.equal(r.code, 1, `expected failure: ${r.stdout}`);
    assert.match(r.stderr, / 422 Unprocessable Entity /, r.stderr.slice(-2000));
    assert.match(r.stderr, /is invalid/);
    return r.stderr;
  }

  const rolloutStatus = async (): Promise<string> => kn.k(['rollout', 'status', 'statefulset/web', '--timeout=60s'], { timeoutMs: 70_000 });

  before(async () => {
    kn = await startKennel(['--runtime', 'process']);
  });

  after(async () => {
    for (const w of watchers) w.kill('SIGKILL');
    if (!kn) return;
    // Best effort, when a test failed before the last one cleaned up.
    await kn.kubectl(['delete', 'statefulsets', '--all', '--wait=false']);
    await kn.kubectl(['delete', 'pod', 'sentinel', '--grace-period=0', '--force']);
    await kn.kubectl(['delete', 'pods', '--all', '--grace-period=1', '--wait=false']);
    await until('pods to go', async () => (await pods('')).length === 0, 15_000).catch(() => undefined);
    const dataDir = kn.dataDir;
    await kn.stop();
    for (const pid of strayProcesses(dataDir)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  });

  // --- The "StatefulSet basics" flow ---------------------------------------------------------

  it('creates web-0, and web-1 only once web-0 is Ready; each serves its hostname from its volume', async () => {
    // A pod outside the set in the watch's selection: once the watch prints it, the watch has
    // listed and every later event reaches it. nodeName names no node, so it never runs.
    await kn.k(['apply', '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'sentinel', labels: { app: 'sentinel' } }, spec: { nodeName: 'nowhere', containers: [{ name: 'c', image: 'busybox', command: ['true'] }] } }) });
    const w = watch(['pods', '-l', 'app in (nginx,sentinel)']);
    let ps: Pod[];
    try {
      await until('the watch to list', async () => w.lines().some((l) => l.name === 'sentinel'));
      const created = await kn.k(['apply', '-f', '-'], { input: list(HEADLESS, webSet()) });
      assert.match(created, /service\/nginx created/);
      assert.match(created, /statefulset.apps\/web created/);
      ps = await waitPodsReady(2);
    } finally {
      await w.stop();
      // No node runs it, so nothing would ever confirm a graceful deletion.
      await kn.k(['delete', 'pod', 'sentinel', '--grace-period=0', '--force']);
    }

    const lines = w.lines();
    const web0Ready = lines.findIndex((l) => l.name === 'web-0' && l.ready === 'True');
    const web1First = lines.findIndex((l) => l.name === 'web-1');
    assert.ok(web0Ready >= 0, 'web-0 became Ready');
    assert.ok(web1First > web0Ready, `web-1 appeared (event ${web1First}) only after web-0 was Ready (event ${web0Ready}):\n${lines.map((l) => `${l.name} ${l.ready}`).join('\n')}`);
    const [web0, web1] = ps as [Pod, Pod];
    const readyAt = Date.parse(web0.status!.conditions!.find((c) => c.type === 'Ready')!.lastTransitionTime!);
    assert.ok(Date.parse(web1.metadata.creationTimestamp) >= readyAt, 'web-1 created no earlier than web-0 became Ready');

    for (const p of ps) {
      assert.equal(p.spec.hostname, p.metadata.name);
      assert.equal(p.spec.subdomain, 'nginx');
      assert.equal(p.metadata.labels?.['statefulset.kubernetes.io/pod-name'], p.metadata.name);
      assert.equal(p.metadata.labels?.['apps.kubernetes.io/pod-index'], p.metadata.name.slice(4));
      const ip = p.status!.podIP!;
      const res = await until(`HTTP from ${p.metadata.name} at ${ip}`, () => fetchText(ip, 8080), 15_000);
      assert.equal(res.status, 200);
      assert.equal(res.body.trim(), p.metadata.name);
    }
    assert.notEqual(web0.status!.podIP, web1.status!.podIP);
    assert.equal(await kn.k(['exec', 'web-0', '--', 'cat', 'www/index.html']), 'web-0\n');
    assert.equal(await kn.k(['exec', 'web-1', '--', 'cat', 'www/index.html']), 'web-1\n');
    const claims = (await getJSON<{ items: Claim[] }>(['pvc'])).items;
    assert.deepEqual(claims.map((c) => [c.metadata.name, c.status?.phase]).sort(), [
      ['www-web-0', 'Bound'],
      ['www-web-1', 'Bound'],
    ]);
    assert.match(await kn.k(['get', 'sts', 'web']), /^web\s+2\/2\s+\S+$/m);
  });

  it('pods deleted with kubectl come back with the same names and the same data', async () => {
    await kn.k(['exec', 'web-0', '--', 'sh', '-c', 'echo kept-0 > www/extra.txt']);
    await kn.k(['exec', 'web-1', '--', 'sh', '-c', 'echo kept-1 > www/extra.txt']);
    const before = await pods();
    const deleted = await kn.k(['delete', 'pod', '-l', 'app=nginx']);
    assert.match(deleted, /pod "web-0" deleted/);
    assert.match(deleted, /pod "web-1" deleted/);
    const after = await waitPodsReady(2);
    for (const [i, p] of after.entries()) {
      assert.notEqual(p.metadata.uid, before[i]!.metadata.uid, `${p.metadata.name} is a new pod`);
      const res = await until(`HTTP from the new ${p.metadata.name}`, () => fetchText(p.status!.podIP!, 8080), 15_000);
      assert.equal(res.body.trim(), p.metadata.name);
      assert.equal((await fetchText(p.status!.podIP!, 8080, '/extra.txt')).body, `kept-${i}\n`);
      const starts = await kn.k(['exec', p.metadata.name, '--', 'cat', 'www/starts']);
      assert.equal(starts.trim().split('\n').length, 2, `${p.metadata.name}'s volume saw both starts`);
    }
  });

  it('scales 2→5→3 in order (down from the highest ordinal) and keeps the claims of 3 and 4', async () => {
    assert.match(await kn.k(['scale', 'statefulset', 'web', '--replicas=5']), /statefulset.apps\/web scaled/);
    const up = await waitPodsReady(5);
    for (let i = 1; i < 5; i++) {
      const readyAt = Date.parse(up[i - 1]!.status!.conditions!.find((c) => c.type === 'Ready')!.lastTransitionTime!);
      assert.ok(Date.parse(up[i]!.metadata.creationTimestamp) >= readyAt, `web-${i} created after web-${i - 1} was Ready`);
    }
    const w = watch(['pods', '-l', 'app=nginx']);
    await until('the watch to list', async () => w.lines().length >= 5);
    assert.match(await kn.k(['scale', 'statefulset', 'web', '--replicas=3']), /statefulset.apps\/web scaled/);
    await until('web-3 and web-4 to go', async () => (await pods()).length === 3);
    await w.stop();
    const firstDeleting = (name: string): number => w.lines().findIndex((l) => l.name === name && l.deleting);
    assert.ok(firstDeleting('web-4') >= 0 && firstDeleting('web-3') > firstDeleting('web-4'), 'web-4 terminated before web-3');
    assert.equal(firstDeleting('web-2'), -1);
    await waitSetSettled(3);
    const claims = (await kn.k(['get', 'pvc', '-o', 'name'])).trim().split('\n').sort();
    assert.deepEqual(claims, [0, 1, 2, 3, 4].map((i) => `persistentvolumeclaim/www-web-${i}`));
  });

  it('a json-patch image update rolls from the highest ordinal down; rollout status and history follow it', async () => {
    const old = await waitSetSettled(3);
    const w = watch(['pods', '-l', 'app=nginx']);
    await until('the watch to list', async () => w.lines().length >= 3);
    await kn.k(['patch', 'statefulset', 'web', '--type=json', '-p', '[{"op":"replace","path":"/spec/template/spec/containers/0/image","value":"registry.k8s.io/nginx-slim:0.24"}]']);
    assert.match(await rolloutStatus(), /complete/);
    const s = await waitSetSettled(3);
    await w.stop();
    assert.notEqual(s.status!.updateRevision, old.status!.updateRevision);
    assert.equal(s.status!.currentRevision, s.status!.updateRevision);
    assert.equal(s.status!.updatedReplicas, 3);
    const ps = await waitPodsReady(3);
    for (const p of ps) {
      assert.equal(hashOf(p), s.status!.updateRevision);
      assert.equal(p.spec.containers[0]!.image, 'registry.k8s.io/nginx-slim:0.24');
    }
    const order: string[] = [];
    for (const l of w.lines()) if (l.deleting && !order.includes(l.name)) order.push(l.name);
    assert.deepEqual(order, ['web-2', 'web-1', 'web-0']);
    // web-1 was replaced only after the new web-2 was Ready.
    const lines = w.lines();
    const newWeb2Ready = lines.findIndex((l) => l.name === 'web-2' && l.hash === s.status!.updateRevision && l.ready === 'True');
    const web1Deleting = lines.findIndex((l) => l.name === 'web-1' && l.deleting);
    assert.ok(newWeb2Ready >= 0 && web1Deleting > newWeb2Ready, 'web-1 replaced after the new web-2 was Ready');
    const history = await kn.k(['rollout', 'history', 'statefulset/web']);
    assert.match(history, /^REVISION\s+CHANGE-CAUSE$/m);
    assert.match(history, /^1\s+<none>$/m);
    assert.match(history, /^2\s+<none>$/m);
    const revs = (await kn.k(['get', 'controllerrevisions', '-o', 'name'])).trim().split('\n').sort();
    assert.deepEqual(revs, [`controllerrevision.apps/${old.status!.updateRevision}`, `controllerrevision.apps/${s.status!.updateRevision}`].sort());
  });

  it('canary: with partition=2 only ordinals ≥ 2 move; lowering the partition to 0 rolls the rest', async () => {
    const before = await waitSetSettled(3);
    const oldRev = before.status!.updateRevision!;
    await kn.k(['patch', 'statefulset', 'web', '-p', '{"spec":{"updateStrategy":{"type":"RollingUpdate","rollingUpdate":{"partition":2}}}}']);
    await kn.k(['patch', 'statefulset', 'web', '--type=json', '-p', '[{"op":"replace","path":"/spec/template/spec/containers/0/image","value":"registry.k8s.io/nginx-slim:0.7"}]']);
    const canary = await until('the canary web-2 at the new revision', async () => {
      const s = await sts();
      const st = s.status ?? {};
      return st.observedGeneration === s.metadata.generation && st.updateRevision !== oldRev && st.updatedReplicas === 1 && st.readyReplicas === 3 ? s : undefined;
    });
    assert.match(await rolloutStatus(), /partitioned roll out complete: 1 new pods have been updated/);
    const newRev = canary.status!.updateRevision!;
    assert.equal(canary.status!.currentRevision, oldRev);
    assert.equal(canary.status!.currentReplicas, 2);
    const ps = await waitPodsReady(3);
    assert.deepEqual(ps.map(hashOf), [oldRev, oldRev, newRev]);
    assert.deepEqual(
      ps.map((p) => p.spec.containers[0]!.image),
      ['registry.k8s.io/nginx-slim:0.24', 'registry.k8s.io/nginx-slim:0.24', 'registry.k8s.io/nginx-slim:0.7'],
    );

    await kn.k(['patch', 'statefulset', 'web', '-p', '{"spec":{"updateStrategy":{"type":"RollingUpdate","rollingUpdate":{"partition":0}}}}']);
    await rolloutStatus();
    const done = await until('every pod at the new revision', async () => {
      const s = await sts();
      return s.status?.observedGeneration === s.metadata.generation && s.status.updatedReplicas === 3 && s.status.readyReplicas === 3 && s.status.currentRevision === newRev ? s : undefined;
    });
    assert.equal(done.status!.updateRevision, newRev);
    assert.deepEqual((await waitPodsReady(3)).map(hashOf), [newRev, newRev, newRev]);
  });

  it('OnDelete: a template change moves only the pods that are deleted', async () => {
    const before = await waitPodsReady(3);
    const oldRev = hashOf(before[0]!);
    await kn.k(['patch', 'statefulset', 'web', '-p', '{"spec":{"updateStrategy":{"type":"OnDelete","rollingUpdate":null}}}']);
    await kn.k(['patch', 'statefulset', 'web', '--type=json', '-p', '[{"op":"replace","path":"/spec/template/spec/containers/0/image","value":"registry.k8s.io/nginx-slim:0.9"}]']);
    const s = await until('the new revision to be observed', async () => {
      const x = await sts();
      return x.status?.observedGeneration === x.metadata.generation && x.status.updateRevision !== oldRev ? x : undefined;
    });
    assert.equal(s.spec.updateStrategy.type, 'OnDelete');
    const newRev = s.status!.updateRevision!;
    // Nothing moves on its own: give the controller a moment to (wrongly) act.
    await new Promise((r) => setTimeout(r, 1000));
    const still = await pods();
    assert.deepEqual(still.map((p) => p.metadata.uid), before.map((p) => p.metadata.uid));
    assert.deepEqual(still.map(hashOf), [oldRev, oldRev, oldRev]);

    await kn.k(['delete', 'pod', 'web-1']);
    const after = await until('web-1 back at the new revision', async () => {
      const ps = await pods();
      const w1 = ps.find((p) => p.metadata.name === 'web-1');
      return ps.length === 3 && w1 && w1.metadata.uid !== before[1]!.metadata.uid && isReady(w1) ? ps : undefined;
    });
    assert.deepEqual(after.map(hashOf), [oldRev, newRev, oldRev]);
    assert.equal(after[1]!.spec.containers[0]!.image, 'registry.k8s.io/nginx-slim:0.9');
    assert.equal(after[0]!.metadata.uid, before[0]!.metadata.uid);
    assert.equal(after[2]!.metadata.uid, before[2]!.metadata.uid);
    const r = await kn.kubectl(['rollout', 'status', 'statefulset/web']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /rollout status is only available for RollingUpdate strategy type/);

    // Back to RollingUpdate: the rest follow.
    await kn.k(['patch', 'statefulset', 'web', '-p', '{"spec":{"updateStrategy":{"type":"RollingUpdate","rollingUpdate":{"partition":0}}}}']);
    await rolloutStatus();
    await until('every pod at the new revision', async () => {
      const ps = await pods();
      return ps.length === 3 && ps.every((p) => hashOf(p) === newRev && isReady(p));
    });
  });

  it('rollout undo returns to the previous template; rollout restart replaces every pod', async () => {
    const before = await waitSetSettled(3);
    assert.match(await kn.k(['rollout', 'undo', 'statefulset/web']), /statefulset.apps\/web rolled back/);
    await rolloutStatus();
    const undone = await until('the undo to roll out', async () => {
      const s = await sts();
      const st = s.status ?? {};
      return st.observedGeneration === s.metadata.generation && st.updatedReplicas === 3 && st.readyReplicas === 3 && st.currentRevision === st.updateRevision ? s : undefined;
    });
    assert.equal(undone.spec.template.spec.containers[0]!.image, 'registry.k8s.io/nginx-slim:0.7');
    assert.notEqual(undone.status!.updateRevision, before.status!.updateRevision);
    let ps = await waitPodsReady(3);
    assert.ok(ps.every((p) => hashOf(p) === undone.status!.updateRevision && p.spec.containers[0]!.image === 'registry.k8s.io/nginx-slim:0.7'));

    assert.match(await kn.k(['rollout', 'restart', 'statefulset/web']), /statefulset.apps\/web restarted/);
    await rolloutStatus();
    const restarted = await until('the restart to roll out', async () => {
      const s = await sts();
      const st = s.status ?? {};
      return st.observedGeneration === s.metadata.generation && st.updatedReplicas === 3 && st.readyReplicas === 3 && st.currentRevision === st.updateRevision ? s : undefined;
    });
    assert.ok(restarted.spec.template.metadata?.annotations?.['kubectl.kubernetes.io/restartedAt']);
    assert.notEqual(restarted.status!.updateRevision, undone.status!.updateRevision);
    const uids = new Set(ps.map((p) => p.metadata.uid));
    ps = await waitPodsReady(3);
    assert.ok(ps.every((p) => !uids.has(p.metadata.uid) && hashOf(p) === restarted.status!.updateRevision), 'every pod replaced');
  });

  it('PetSet commands act on the set: get, scale and patch petset', async () => {
    await waitSetSettled(3);
    assert.match(await kn.k(['get', 'petset']), /^web\s+3\/3\s+\S+$/m);
    const asPet = JSON.parse(await kn.k(['get', 'petset', 'web', '-o', 'json'])) as { apiVersion: string; kind: string; metadata: { uid: string } };
    assert.equal(asPet.apiVersion, 'apps/v1alpha1');
    assert.equal(asPet.kind, 'PetSet');
    assert.equal(asPet.metadata.uid, (await sts()).metadata.uid);
    assert.match(await kn.k(['scale', 'petset', 'web', '--replicas=2']), /petset.apps\/web scaled/);
    assert.equal((await sts()).spec.replicas, 2);
    await until('web-2 to go', async () => (await pods()).length === 2);
    await waitSetSettled(2);
    assert.match(await kn.k(['patch', 'petset', 'web', '-p', '{"spec":{"replicas":3}}']), /petset.apps\/web patched/);
    assert.equal((await sts()).spec.replicas, 3);
    await waitPodsReady(3);
    await waitSetSettled(3);
  });

  // --- Beyond Kubernetes -------------------------------------------------------------------

  it('a rollout stuck on a broken template recovers once the template is fixed, without deleting pods by hand', async () => {
    const good = await waitSetSettled(3);
    const goodRev = good.status!.updateRevision!;
    await kn.k(['patch', 'statefulset', 'web', '--type=json', '-p', '[{"op":"replace","path":"/spec/template/spec/containers/0/command","value":["nosuchcommand"]}]']);
    const broken = await until('web-2 to fail at the broken revision', async () => {
      const s = await sts();
      const w2 = (await pods()).find((p) => p.metadata.name === 'web-2');
      const cs = w2?.status?.containerStatuses?.[0];
      const reasons = [cs?.state?.waiting?.reason, cs?.lastState?.terminated?.reason, cs?.state?.terminated?.reason];
      return s.status?.updateRevision !== goodRev && w2 && hashOf(w2) === s.status?.updateRevision && reasons.some((r) => r === 'RunContainerError' || r === 'CrashLoopBackOff' || r === 'StartError') ? { s, w2 } : undefined;
    });
    assert.equal(isReady(broken.w2), false);
    assert.match(await kn.k(['describe', 'pod', 'web-2']), /executable file not found in \$PATH/);
    // Stuck: OrderedReady does not go on to web-1 while web-2 is not Ready.
    await new Promise((r) => setTimeout(r, 1000));
    let ps = await pods();
    assert.equal(hashOf(ps[1]!), goodRev);
    assert.equal(hashOf(ps[0]!), goodRev);
    assert.equal(isReady(ps.find((p) => p.metadata.name === 'web-2')!), false);
    const st = (await sts()).status!;
    assert.equal(st.readyReplicas, 2);

    // The fix: a working command (and a new image) — the broken web-2 is replaced by itself.
    await kn.k(['patch', 'statefulset', 'web', '--type=json', '-p', JSON.stringify([
      { op: 'replace', path: '/spec/template/spec/containers/0/command', value: ['sh', '-c', WEB_COMMAND] },
      { op: 'replace', path: '/spec/template/spec/containers/0/image', value: 'registry.k8s.io/nginx-slim:0.10' },
    ])]);
    await rolloutStatus();
    const fixed = await until('the set Ready again at the fixed revision', async () => {
      const s = await sts();
      const x = s.status ?? {};
      return x.observedGeneration === s.metadata.generation && x.readyReplicas === 3 && x.updatedReplicas === 3 && x.currentRevision === x.updateRevision ? s : undefined;
    });
    const fixedRev = fixed.status!.updateRevision!;
    assert.notEqual(fixedRev, broken.s.status!.updateRevision);
    assert.notEqual(fixedRev, goodRev);
    ps = await waitPodsReady(3);
    assert.ok(ps.every((p) => hashOf(p) === fixedRev && p.spec.containers[0]!.image === 'registry.k8s.io/nginx-slim:0.10'));
    assert.notEqual(ps[2]!.metadata.uid, broken.w2.metadata.uid);
    const res = await until('HTTP from the fixed web-2', () => fetchText(ps[2]!.status!.podIP!, 8080), 15_000);
    assert.equal(res.body.trim(), 'web-2');
  });

  it('raising the storage of a volumeClaimTemplate resizes the claims; shrinking it is a 422 naming the field', async () => {
    assert.match(
      await kn.k(['patch', 'statefulset', 'web', '--type=json', '-p', '[{"op":"replace","path":"/spec/volumeClaimTemplates/0/spec/resources/requests/storage","value":"2Gi"}]']),
      /statefulset.apps\/web patched/,
    );
    const claims = await until('the claims of web-0..2 to grow to 2Gi', async () => {
      const cs = (await getJSON<{ items: Claim[] }>(['pvc'])).items.filter((c) => ['www-web-0', 'www-web-1', 'www-web-2'].includes(c.metadata.name));
      return cs.length === 3 && cs.every((c) => c.spec.resources.requests.storage === '2Gi' && c.status?.capacity?.storage === '2Gi') ? cs : undefined;
    });
    for (const c of claims) {
      const pv = await getJSON<{ spec: { capacity: { storage: string }; storageClassName: string } }>(['pv', c.spec.volumeName!]);
      assert.equal(pv.spec.capacity.storage, '2Gi', `PV of ${c.metadata.name}`);
      assert.equal(pv.spec.storageClassName, 'local-path');
    }
    const shrink = await refused422(['patch', 'statefulset', 'web', '--type=json', '-p', '[{"op":"replace","path":"/spec/volumeClaimTemplates/0/spec/resources/requests/storage","value":"1Gi"}]']);
    assert.match(shrink, /spec\.volumeClaimTemplates\[0\]\.spec\.resources\.requests\.storage/);
    const other = await refused422(['patch', 'statefulset', 'web', '--type=json', '-p', '[{"op":"replace","path":"/spec/volumeClaimTemplates/0/spec/accessModes","value":["ReadWriteMany"]}]']);
    assert.match(other, /spec\.volumeClaimTemplates\[0\]\.spec\.accessModes/);
    const s = await getJSON<{ spec: { volumeClaimTemplates: Claim[] } }>(['sts', 'web']);
    assert.equal(s.spec.volumeClaimTemplates[0]!.spec.resources.requests.storage, '2Gi');
  });

  // --- Bad input -----------------------------------------------------------------------------

  it('refuses a selector that does not match the template, negative replicas and immutable-field changes with 422', async () => {
    const bad = webSet() as { metadata: { name: string }; spec: { selector: { matchLabels: Labels } } };
    bad.metadata.name = 'mismatch';
    bad.spec.selector.matchLabels = { app: 'other' };
    const e1 = await refused422(['apply', '-f', '-'], JSON.stringify(bad));
    assert.match(e1, /spec\.template\.metadata\.labels: Invalid value: .*`selector` does not match template `labels`/);
    assert.match((await kn.kubectl(['get', 'sts', 'mismatch'])).stderr, /NotFound/);

    const e2 = await refused422(['patch', 'statefulset', 'web', '--type=merge', '-p', '{"spec":{"replicas":-1}}']);
    assert.match(e2, /spec\.replicas: Invalid value: -1: must be greater than or equal to 0/);
    // kubectl itself refuses a negative --replicas before sending anything.
    const e3 = await kn.kubectl(['scale', 'statefulset', 'web', '--replicas=-1']);
    assert.equal(e3.code, 1);
    const e4 = await refused422(['patch', 'statefulset', 'web', '-p', '{"spec":{"serviceName":"other"}}']);
    assert.match(e4, /spec: Forbidden: updates to statefulset spec for fields other than/);
    const e5 = await refused422(['patch', 'statefulset', 'web', '-p', '{"spec":{"podManagementPolicy":"Parallel"}}']);
    assert.match(e5, /spec: Forbidden: updates to statefulset spec for fields other than/);
    const e6 = await refused422(['patch', 'statefulset', 'web', '-p', '{"spec":{"updateStrategy":{"rollingUpdate":{"partition":-1}}}}']);
    assert.match(e6, /spec\.updateStrategy\.rollingUpdate\.partition: Invalid value: -1/);
    const s = await sts();
    assert.equal(s.spec.replicas, 3);
    assert.equal((s.spec as { serviceName?: string }).serviceName, 'nginx');
  });

  it('a serviceName that does not exist is accepted with a Warning ServiceNotFound event', async () => {
    const lonely = {
      apiVersion: 'apps/v1',
      kind: 'StatefulSet',
      metadata: { name: 'lonely' },
      spec: {
        replicas: 0,
        selector: { matchLabels: { app: 'lonely' } },
        serviceName: 'nosuchservice',
        template: { metadata: { labels: { app: 'lonely' } }, spec: { containers: [{ name: 'c', image: 'busybox', command: ['sh', '-c', `sleep 1000; : ${MARK}`] }] } },
      },
    };
    assert.match(await kn.k(['apply', '-f', '-'], { input: JSON.stringify(lonely) }), /statefulset.apps\/lonely created/);
    const d = await until('the ServiceNotFound event', async () => {
      const out = await kn.k(['describe', 'statefulset', 'lonely']);
      return /Warning\s+ServiceNotFound\s+\S+\s+statefulset-controller\s+.*nosuchservice/.test(out) ? out : undefined;
    });
    assert.match(d, /^Name:\s+lonely$/m);
    assert.match(await kn.k(['delete', 'statefulset', 'lonely']), /statefulset.apps "lonely" deleted/);
  });

  // --- Data across re-creating the whole set -----------------------------------------------

  it('data survives deleting and re-creating the whole set', async () => {
    await waitSetSettled(3);
    const startsBefore = (await kn.k(['exec', 'web-0', '--', 'cat', 'www/starts'])).trim().split('\n').length;
    assert.match(await kn.k(['delete', 'sts', 'web']), /statefulset.apps "web" deleted/);
    await until('the pods of web to go', async () => (await pods()).length === 0);
    const claims = (await kn.k(['get', 'pvc', '-o', 'name'])).trim().split('\n');
    assert.equal(claims.length, 5, 'claims outlive the set');
    assert.match(await kn.k(['apply', '-f', '-'], { input: list(HEADLESS, webSet({ storage: '2Gi', replicas: 3 })) }), /statefulset.apps\/web created/);
    const ps = await waitPodsReady(3);
    assert.equal(await kn.k(['exec', 'web-0', '--', 'cat', 'www/index.html']), 'web-0\n');
    assert.equal(await kn.k(['exec', 'web-0', '--', 'cat', 'www/extra.txt']), 'kept-0\n');
    const starts = (await kn.k(['exec', 'web-0', '--', 'cat', 'www/starts'])).trim().split('\n').length;
    assert.equal(starts, startsBefore + 1);
    const res = await until('HTTP from the re-created web-0', () => fetchText(ps[0]!.status!.podIP!, 8080), 15_000);
    assert.equal(res.body.trim(), 'web-0');
    const names = (await getJSON<{ items: Claim[] }>(['pvc'])).items.filter((c) => c.metadata.name.startsWith('www-web-')).length;
    assert.equal(names, 5, 'the old claims were reused, none added');
  });

  // --- Garbage collection ------------------------------------------------------------------

  it('garbage collection, background: deleting the set deletes its pods', async () => {
    await kn.k(['apply', '-f', '-'], { input: JSON.stringify(gcSet()) });
    const ps = await waitPodsReady(2, 'app=gc', 'gc');
    for (const p of ps) assert.equal(p.metadata.ownerReferences?.[0]?.kind, 'StatefulSet');
    assert.match(await kn.k(['delete', 'sts', 'gc', '--cascade=background']), /statefulset.apps "gc" deleted/);
    assert.equal((await kn.kubectl(['get', 'sts', 'gc'])).code, 1);
    await until('the pods of gc to go', async () => (await pods('app=gc')).length === 0, 20_000);
  });

  it('garbage collection, orphan: the pods stay, without their ownerReference', async () => {
    await kn.k(['apply', '-f', '-'], { input: JSON.stringify(gcSet()) });
    const ps = await waitPodsReady(2, 'app=gc', 'gc');
    assert.match(await kn.k(['delete', 'sts', 'gc', '--cascade=orphan']), /statefulset.apps "gc" deleted/);
    assert.equal((await kn.kubectl(['get', 'sts', 'gc'])).code, 1);
    const left = await pods('app=gc');
    assert.deepEqual(left.map((p) => p.metadata.uid), ps.map((p) => p.metadata.uid));
    for (const p of left) {
      assert.deepEqual(p.metadata.ownerReferences ?? [], [], `${p.metadata.name} has no owner`);
      assert.ok(isReady(p));
    }
    // Still there a moment later: nothing collects orphans.
    await new Promise((r) => setTimeout(r, 500));
    assert.equal((await pods('app=gc')).filter(isReady).length, 2);
    await kn.k(['delete', 'pods', '-l', 'app=gc', '--wait=false']);
    await until('the orphans to go', async () => (await pods('app=gc')).length === 0, 20_000);
  });

  it('garbage collection, foreground: the set is gone only after its pods', async () => {
    await kn.k(['apply', '-f', '-'], { input: JSON.stringify(gcSet()) });
    const ps = await waitPodsReady(2, 'app=gc', 'gc');
    for (const p of ps) assert.equal(p.metadata.ownerReferences?.[0]?.blockOwnerDeletion, true);
    await kn.k(['delete', 'sts', 'gc', '--cascade=foreground', '--wait=false']);
    // Not until(): an assertion failing inside the loop must fail the test, not be retried.
    let sawWaiting = false;
    const deadline = Date.now() + 20_000;
    for (;;) {
      assert.ok(Date.now() < deadline, 'timed out waiting for the set to go');
      const r = await kn.kubectl(['get', 'sts', 'gc', '-o', 'json']);
      const left = await pods('app=gc');
      if (r.code !== 0) {
        assert.match(r.stderr, /NotFound/);
        assert.deepEqual(podNames(left), [], 'the set went before its pods');
        break;
      }
      const s = JSON.parse(r.stdout) as StatefulSet;
      assert.ok(s.metadata.deletionTimestamp);
      assert.ok(s.metadata.finalizers?.includes('foregroundDeletion'), 'foregroundDeletion finalizer');
      if (left.length > 0) {
        sawWaiting = true;
        assert.ok(left.every((p) => p.metadata.deletionTimestamp), 'dependents are being deleted');
      }
      await new Promise((res) => setTimeout(res, 100));
    }
    assert.ok(sawWaiting, 'saw the set waiting for its pods');
  });

  // --- Clean-up ----------------------------------------------------------------------------

  it('deleting every workload leaves no process of this file on the host', async () => {
    await kn.k(['delete', 'statefulsets', '--all']);
    await kn.kubectl(['delete', 'pods', '--all', '--wait=false']);
    await until('every pod to go', async () => (await pods('')).length === 0, 20_000);
    const stray = await until('the containers\' processes to end', async () => (strayProcesses(kn.dataDir).length === 0 ? [] : undefined), 10_000).catch(() => strayProcesses(kn.dataDir));
    assert.deepEqual(stray, [], `processes left: ${stray.map((p) => { try { return readFileSync(`/proc/${p}/cmdline`, 'utf8').replace(/\0/g, ' '); } catch { return String(p); } }).join('\n')}`);
  });
});
