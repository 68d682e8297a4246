// Beyond Kubernetes (issue 8): a node cut off from the network loses its StatefulSet pod to a
// healthy node — safely. Three `kennel agent`s with the process runtime, each in its own network
// namespace (test/support/netns-cluster.ts); the StatefulSet pod's container is a real process in
// its node's namespace.
//
// partition(A) takes A's link down. A's agent cannot renew its lease, so it stops its pods once
// the lease would have expired (self-fencing); the server, after the lease expiry plus the fence
// margin, force-deletes the pod (evicted at once: it tolerates unreachable for 0 s), and the
// StatefulSet recreates it on a healthy node, with a fresh volume (`kennel.dev/on-node-loss:
// recreate-volume`: its old one lives on A). Throughout, a sampler looks at the processes
// themselves — every process of every node's network namespace, every 100 ms — not at the API:
// never two containers of the pod's identity at once, and the new one starts only after the old
// one was seen gone. Then heal(A): A comes back Ready, lifts its fence after reading its pods
// afresh, and does not start the old pod again.
//
// Timings (flags): agents --node-lease-duration-seconds 10 (renewed every 2.5 s, fence 1.25 s
// before expiry), server --node-fence-margin 5s and --node-monitor-grace-period 8s. The pod is
// replaced lease + margin after the last renewal the server saw: ≤ 15 s after the cut plus the
// start-up here; with the defaults (40 s lease, 20 s margin, 50 s grace) it is 60 s after the last
// renewal, i.e. 50–60 s after the cut plus the start-up.
//
// Needs root (skipped otherwise).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { netnsAvailable, startNetnsCluster, type NetnsCluster, type NetnsNode } from '../support/netns-cluster.ts';
import { waitFor } from '../support/wait.ts';
import { KubeClient, isNotFound, type ResourceRef } from '../../src/client/rest.ts';
import type { Node, PersistentVolume, PersistentVolumeClaim, Pod } from '../../src/client/types.ts';

const PODS: ResourceRef = { group: '', version: 'v1', plural: 'pods', namespaced: true, kind: 'Pod' };
const NODES: ResourceRef = { group: '', version: 'v1', plural: 'nodes', namespaced: false, kind: 'Node' };
const CLAIMS: ResourceRef = { group: '', version: 'v1', plural: 'persistentvolumeclaims', namespaced: true, kind: 'PersistentVolumeClaim' };
const VOLUMES: ResourceRef = { group: '', version: 'v1', plural: 'persistentvolumes', namespaced: false, kind: 'PersistentVolume' };

// KENNEL_E2E_DEFAULT_TIMINGS=1 runs the test with kennel's defaults (no timing flags; ~2 min).
const DEFAULTS = process.env.KENNEL_E2E_DEFAULT_TIMINGS === '1';
const GRACE_S = DEFAULTS ? 50 : 8;
const LEASE_S = DEFAULTS ? 40 : 10;
const MARGIN_S = DEFAULTS ? 20 : 5;
const RUN = randomBytes(4).toString('hex');

function safe<T>(f: () => T): T | undefined {
  try {
    return f();
  } catch {
    return undefined;
  }
}

/** CLOCK_BOOTTIME in seconds (what /proc/<pid>/stat's start times count from). */
function uptime(): number {
  const s = readFileSync('/proc/uptime', 'latin1');
  return Number(s.slice(0, s.indexOf(' ')));
}

const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

/** A process's start time (boot clock, s) from /proc/<pid>/stat, or undefined when it is gone. */
function startTime(pid: number): number | undefined {
  const stat = safe(() => readFileSync(`/proc/${pid}/stat`, 'latin1'));
  if (!stat) return undefined;
  // pid (comm) state ppid … starttime is field 22; comm may hold spaces and parentheses.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[19]) / CLK_TCK;
}

interface Sighting {
  pid: number;
  node: string;
  /** Boot-clock seconds. */
  start: number;
  lastSeen: number;
  /** The end of the first scan that found it gone: it had ended by then. */
  goneAt?: number;
}

/**
 * Samples, every `everyMs`, the container processes of one pod identity in the nodes' network
 * namespaces: processes named `comm` whose environment carries RUN_ID=<this run> and
 * IDENTITY=<identity>. A process once found is followed by pid and start time (a zombie still
 * counts as running: the conservative side).
 */
class IdentitySampler {
  readonly tracked = new Map<number, Sighting>();
  samples = 0;
  maxAtOnce = 0;
  readonly overlaps: string[] = [];
  private readonly netns = new Map<string, string>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    nodes: readonly NetnsNode[],
    private readonly identity: string,
    private readonly comm = 'sleep',
  ) {
    for (const n of nodes) this.netns.set(`net:[${statSync(`/run/netns/${n.netns}`).ino}]`, n.name);
  }

  start(everyMs = 100): void {
    this.sample();
    this.timer = setInterval(() => this.sample(), everyMs);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** The processes running at the last sample. */
  running(): Sighting[] {
    return [...this.tracked.values()].filter((s) => s.goneAt === undefined);
  }

  sample(): void {
    const t0 = uptime();
    const present = new Set<number>();
    for (const [pid, s] of this.tracked) {
      if (s.goneAt === undefined && startTime(pid) === s.start) present.add(pid);
    }
    const marker = [`RUN_ID=${RUN}`, `IDENTITY=${this.identity}`];
    for (const name of readdirSync('/proc')) {
      if (!/^\d+$/.test(name)) continue;
      const pid = Number(name);
      if (this.tracked.has(pid)) continue;
      const node = this.netns.get(safe(() => readlinkSync(`/proc/${pid}/ns/net`)) ?? '');
      if (!node) continue;
      if (safe(() => readFileSync(`/proc/${pid}/comm`, 'latin1').trim()) !== this.comm) continue;
      const env = safe(() => readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0')) ?? [];
      if (!marker.every((m) => env.includes(m))) continue;
      const start = startTime(pid);
      if (start === undefined) continue;
      this.tracked.set(pid, { pid, node, start, lastSeen: t0 });
      present.add(pid);
    }
    const t1 = uptime();
    for (const s of this.tracked.values()) {
      if (present.has(s.pid)) s.lastSeen = t0;
      else s.goneAt ??= t1;
    }
    this.samples++;
    this.maxAtOnce = Math.max(this.maxAtOnce, present.size);
    if (present.size > 1) {
      this.overlaps.push(`at ${t0.toFixed(2)}: ${[...present].map((p) => `${this.tracked.get(p)!.node}:${p}`).join(', ')}`);
    }
  }

  /** Pairs of processes whose lives may have overlapped: the later one started before the
   *  earlier one was seen gone. */
  mayOverlap(): string[] {
    const all = [...this.tracked.values()].sort((a, b) => a.start - b.start);
    const out: string[] = [];
    for (let i = 1; i < all.length; i++) {
      const prev = all[i - 1]!;
      const next = all[i]!;
      if (prev.goneAt === undefined || next.start < prev.goneAt) {
        out.push(`${prev.node}:${prev.pid} (started ${prev.start}, gone by ${prev.goneAt ?? 'never'}) and ${next.node}:${next.pid} (started ${next.start})`);
      }
    }
    return out;
  }
}

const available = netnsAvailable();

describe('a partitioned node loses its StatefulSet pod to a healthy node, never running two (3 agents, process runtime)', { skip: available ? false : 'needs root, iproute2 netns and nsenter', timeout: DEFAULTS ? 300_000 : 180_000 }, () => {
  let c: NetnsCluster | undefined;
  let client: KubeClient;
  let sampler: IdentitySampler | undefined;
  let partitioned: NetnsNode | undefined;
  const k = (args: string[], input?: string): Promise<string> => c!.server.k(args, input === undefined ? undefined : { input });
  const getPod = async (name: string): Promise<Pod | undefined> => client.get<Pod>(PODS, 'default', name).catch((e: unknown) => (isNotFound(e) ? undefined : Promise.reject(e)));
  const readyOf = (n: Node): string | undefined => (n.status?.conditions ?? []).find((x) => x.type === 'Ready')?.status;
  const isRunningReady = (p: Pod | undefined): boolean => !!p && !p.metadata.deletionTimestamp && p.status?.phase === 'Running' && (p.status?.conditions ?? []).some((x) => x.type === 'Ready' && x.status === 'True');
  const eventsFor = async (kind: string, name: string): Promise<{ reason?: string; message?: string; type?: string }[]> =>
    (JSON.parse(await k(['get', 'events', '-A', '--field-selector', `involvedObject.kind=${kind},involvedObject.name=${name}`, '-o', 'json'])) as { items: { reason?: string; message?: string; type?: string }[] }).items;

  before(async () => {
    c = await startNetnsCluster({
      nodes: 3,
      runtime: 'process',
      serverArgs: DEFAULTS ? [] : ['--node-monitor-grace-period', `${GRACE_S}s`, '--node-fence-margin', `${MARGIN_S}s`],
      agentArgs: DEFAULTS ? [] : ['--node-lease-duration-seconds', String(LEASE_S)],
    });
    client = KubeClient.fromKubeconfig(c.server.kubeconfig, { userAgent: 'multinode-failure-e2e' });
  });

  after(async () => {
    sampler?.stop();
    client?.close();
    const cluster = c;
    if (cluster && partitioned) cluster.heal(partitioned);
    await cluster?.stop();
    if (cluster) {
      assert.deepEqual(cluster.leftovers(), [], 'every namespace and link is removed');
      const stray = readdirSync('/proc').filter((p) => /^\d+$/.test(p) && (safe(() => readFileSync(`/proc/${p}/environ`, 'latin1')) ?? '').includes(`RUN_ID=${RUN}\0`));
      assert.deepEqual(stray, [], 'no pod process is left');
    }
  });

  it('the sampler sees container processes in every namespace, and would catch two at once', async () => {
    // Two processes of a made-up identity, one in each of two namespaces, overlapping.
    const probe = new IdentitySampler(c!.nodes, 'probe-0');
    const env = ['env', `RUN_ID=${RUN}`, 'IDENTITY=probe-0', 'sleep', '2'];
    const spawnIn = (n: NetnsNode) => spawn('nsenter', [`--net=/run/netns/${n.netns}`, ...env], { stdio: 'ignore' });
    const procs = [spawnIn(c!.nodes[0]!), spawnIn(c!.nodes[1]!)];
    try {
      await waitFor('both probes seen', () => (probe.sample(), probe.running().length === 2 ? true : undefined), 5_000, 50);
      assert.deepEqual(probe.running().map((s) => s.node).sort(), [c!.nodes[0]!.name, c!.nodes[1]!.name]);
      assert.equal(probe.maxAtOnce, 2);
      assert.equal(probe.overlaps.length, 1);
      assert.equal(probe.mayOverlap().length, 1);
    } finally {
      for (const p of procs) p.kill('SIGKILL');
    }
    await waitFor('probes gone', () => (probe.sample(), probe.running().length === 0 ? true : undefined), 5_000, 50);
  });

  it('partition(A): A fences its pod, the pod runs elsewhere in under 60 s with a fresh volume, never twice at once; heal(A) does not restart it', async (t) => {
    await k(
      ['apply', '-f', '-'],
      JSON.stringify({
        apiVersion: 'apps/v1',
        kind: 'StatefulSet',
        metadata: { name: 'db', namespace: 'default', annotations: { 'kennel.dev/on-node-loss': 'recreate-volume' } },
        spec: {
          serviceName: 'db',
          replicas: 1,
          selector: { matchLabels: { app: 'db' } },
          template: {
            metadata: { labels: { app: 'db' } },
            spec: {
              terminationGracePeriodSeconds: 2,
              tolerations: [{ key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 0 }],
              containers: [
                {
                  name: 'main',
                  image: 'busybox',
                  command: ['sh', '-c', 'echo "$IDENTITY" >> data/members; exec sleep 100000'],
                  env: [
                    { name: 'RUN_ID', value: RUN },
                    { name: 'IDENTITY', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
                  ],
                  volumeMounts: [{ name: 'data', mountPath: '/data' }],
                },
              ],
            },
          },
          volumeClaimTemplates: [{ metadata: { name: 'data' }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Mi' } } } }],
        },
      }),
    );
    const old = await waitFor('db-0 Running', async () => {
      const p = await getPod('db-0');
      return isRunningReady(p) ? p : undefined;
    }, 60_000, 100);
    const a = c!.nodes.find((n) => n.name === old!.spec?.nodeName)!;
    assert.ok(a, `db-0 runs on a node of the cluster: ${old!.spec?.nodeName}`);
    const oldClaim = await client.get<PersistentVolumeClaim>(CLAIMS, 'default', 'data-db-0');
    const oldVolume = oldClaim.spec?.volumeName ?? '';
    const pvNode = (pv: PersistentVolume): string | undefined => pv.spec?.nodeAffinity?.required?.nodeSelectorTerms?.[0]?.matchExpressions?.[0]?.values?.[0];
    assert.equal(pvNode(await client.get<PersistentVolume>(VOLUMES, undefined, oldVolume)), a.name, 'the volume lives on A');

    sampler = new IdentitySampler(c!.nodes, 'db-0');
    sampler.start(100);
    await waitFor('the container process of db-0 in A', () => (sampler!.running().length === 1 && sampler!.running()[0]!.node === a.name ? true : undefined), 10_000, 50);
    const first = sampler.running()[0]!;

    // Cut A off.
    const cutAt = uptime();
    c!.partition(a);
    partitioned = a;

    // A's own agent stops the container before its lease expires (the server cannot reach A to
    // tell it anything): at most LEASE_S after the cut, since the last renewal came before it.
    await waitFor('the container in A stopped by its own agent', () => (first.goneAt !== undefined ? true : undefined), (LEASE_S + 5) * 1000, 100);
    const fencedAfter = first.goneAt! - cutAt;
    t.diagnostic(`A (${a.name}) stopped db-0 ${fencedAfter.toFixed(2)} s after the cut`);
    assert.ok(fencedAfter <= LEASE_S + 0.5, `A fenced db-0 ${fencedAfter.toFixed(2)} s after the cut (lease ${LEASE_S} s)`);

    // The pod runs elsewhere: a new process on another node, and the API agrees.
    const second = await waitFor('db-0 running on another node', () => sampler!.running().find((s) => s.node !== a.name), (LEASE_S + MARGIN_S + 15) * 1000, 100);
    const elsewhereAfter = uptime() - cutAt;
    t.diagnostic(`db-0 started on ${second.node} ${(second.start - cutAt).toFixed(2)} s after the cut (seen ${elsewhereAfter.toFixed(2)} s after it)`);
    assert.ok(elsewhereAfter < 60, `db-0 ran elsewhere ${elsewhereAfter.toFixed(1)} s after the cut`);
    assert.ok(elsewhereAfter <= LEASE_S + MARGIN_S + 10, `db-0 ran elsewhere ${elsewhereAfter.toFixed(1)} s after the cut (lease ${LEASE_S} s + margin ${MARGIN_S} s)`);
    // … never before the server could know A's pods were dead: lease + margin after A's last
    // renewal, which came at most LEASE_S / 4 before the cut.
    assert.ok(second.start - cutAt >= LEASE_S + MARGIN_S - LEASE_S / 4 - 0.5, `the new db-0 started ${(second.start - cutAt).toFixed(2)} s after the cut`);
    const moved = await waitFor('db-0 Running elsewhere (API)', async () => {
      const p = await getPod('db-0');
      return isRunningReady(p) && p!.metadata.uid !== old!.metadata.uid ? p : undefined;
    }, 30_000, 100);
    assert.equal(moved!.spec?.nodeName, second.node);
    assert.equal(readyOf(await client.get<Node>(NODES, undefined, a.name)), 'Unknown');

    // recreate-volume: a fresh claim, provisioned on the new node.
    const newClaim = await client.get<PersistentVolumeClaim>(CLAIMS, 'default', 'data-db-0');
    assert.notEqual(newClaim.metadata.uid, oldClaim.metadata.uid, 'a fresh claim');
    assert.equal(newClaim.status?.phase, 'Bound');
    assert.equal(pvNode(await client.get<PersistentVolume>(VOLUMES, undefined, newClaim.spec?.volumeName ?? '')), second.node);
    const setEvents = await eventsFor('StatefulSet', 'db');
    assert.ok(setEvents.some((e) => e.reason === 'VolumeRecreated' && /claim data-db-0 of pod db-0 is a volume on lost node/.test(e.message ?? '')), JSON.stringify(setEvents.map((e) => [e.reason, e.message])));
    const podEvents = await eventsFor('Pod', 'db-0');
    assert.ok(podEvents.some((e) => e.reason === 'NodeLost' && e.type === 'Warning'), JSON.stringify(podEvents.map((e) => e.reason)));

    // Heal A: it comes back Ready, lifts its fence after reading its pods afresh, and does not
    // start the old pod again.
    c!.heal(a);
    partitioned = undefined;
    const healedAt = uptime();
    await waitFor(`${a.name} Ready again`, async () => readyOf(await client.get<Node>(NODES, undefined, a.name)) === 'True', 30_000, 200);
    await waitFor(`${a.name} lifts its fence`, async () => (await eventsFor('Node', a.name)).some((e) => e.reason === 'NodeFenceLifted'), 30_000, 250);
    // (Its NodeFenced event, recorded while it was cut off, is best effort as every Event: a long
    // partition outlasts the recorder's retries.)
    // The old volume goes too: A's agent removes its directory once A is back.
    await waitFor('the old volume deleted', async () => client.get(VOLUMES, undefined, oldVolume).then(() => undefined, (e: unknown) => (isNotFound(e) ? true : undefined)), 30_000, 250);
    // Keep looking for a while after the fence was lifted.
    const until = uptime() + 3;
    await waitFor('3 s more of samples', () => (uptime() >= until ? true : undefined), 5_000, 100);
    sampler.stop();

    const inA = [...sampler.tracked.values()].filter((s) => s.node === a.name);
    assert.deepEqual(inA.map((s) => s.pid), [first.pid], `no container of db-0 started in ${a.name} after the cut (healed ${(healedAt - cutAt).toFixed(1)} s after it)`);
    assert.deepEqual(sampler.running().map((s) => s.node), [second.node], 'exactly one db-0 runs, on the new node');
    assert.ok(isRunningReady(await getPod('db-0')));
    assert.equal((await getPod('db-0'))!.spec?.nodeName, second.node);
    // At no sample two containers of db-0, and each started only after the one before was gone.
    assert.ok(sampler.samples > 100, `${sampler.samples} samples`);
    t.diagnostic(`${sampler.samples} samples; db-0 containers seen: ${[...sampler.tracked.values()].map((s) => `${s.node}:${s.pid}`).join(', ')}`);
    assert.deepEqual(sampler.overlaps, [], 'never two db-0 containers in one sample');
    assert.equal(sampler.maxAtOnce, 1);
    assert.deepEqual(sampler.mayOverlap(), [], 'every db-0 container started after the previous one was gone');
  });

  // A node whose agent dies (SIGKILL, the OOM killer, a crash) cannot fence by itself: its
  // containers outlive it (process pods are detached, for adoption by the next agent). Its fence
  // watchdog (src/agent/fence-watchdog.sh), a separate process, kills them by the lease deadline,
  // before the server force-deletes the pod lease + margin after the last renewal.
  it('a SIGKILLed agent: its StatefulSet pod is not run twice', async (t) => {
    const pod = await getPod('db-0');
    assert.ok(isRunningReady(pod));
    const b = c!.nodes.find((n) => n.name === pod!.spec?.nodeName)!;
    const watch = new IdentitySampler(c!.nodes, 'db-0');
    watch.start(100);
    try {
      await waitFor('the container of db-0 seen', () => (watch.running().length === 1 ? true : undefined), 10_000, 50);
      await c!.stopAgent(b, 'SIGKILL');
      const moved = await waitFor('db-0 recreated', async () => {
        const p = await getPod('db-0');
        return p && p.metadata.uid !== pod!.metadata.uid && isRunningReady(p) ? p : undefined;
      }, (LEASE_S + MARGIN_S + 20) * 1000, 200);
      const until = uptime() + 2;
      await waitFor('2 s more of samples', () => (uptime() >= until ? true : undefined), 5_000, 100);
      t.diagnostic(`db-0 moved from ${b.name} to ${moved.spec?.nodeName}; containers running: ${watch.running().map((s) => `${s.node}:${s.pid}`).join(', ')}`);
    } finally {
      watch.stop();
    }
    assert.deepEqual(watch.overlaps, [], 'never two db-0 containers in one sample');
  });
});
