// A dead agent's StatefulSet pod is replaced, safely: an API server and the node lifecycle
// controller (grace 2 s, fence margin 1 s) in this process; a node agent on the process runtime
// (2 s leases) in a CHILD process (this file, run with KENNEL_WATCHDOG_AGENT_CHILD set), running a
// StatefulSet pod and a ReplicaSet pod as real host processes. The agent is SIGKILLed: it fences
// nothing, but its fence watchdog kills the StatefulSet pod's container by the lease deadline —
// and the server force-deletes that pod only after it died; the ReplicaSet pod keeps running.
// Beside it, a node whose agent does not say it fences (no kennel.dev/fencing annotation; the
// test plays its agent): its evicted StatefulSet pod is never force-deleted.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KubeClient, isAlreadyExists, isNotFound, type ResourceRef } from '../../src/client/rest.ts';
import { silentLogger } from '../../src/util/log.ts';
import type { KubeObject } from '../../src/registry/types.ts';

const CHILD_ENV = 'KENNEL_WATCHDOG_AGENT_CHILD';
const LEASE_S = 2;
const GRACE_MS = 2000;
const MARGIN_MS = 1000;
const AGENT_NODE = 'wd-agent';
const PLAIN_NODE = 'plain-node';
const HEALTHY_NODE = 'healthy-node';

interface ChildConfig {
  server: string;
  ca: string;
  token: string;
  dataDir: string;
}

/** The child: a process-runtime agent, until it is killed. */
async function runAgentChild(c: ChildConfig): Promise<void> {
  const { startAgent } = await import('../../src/agent/agent.ts');
  const { ProcessRuntime } = await import('../../src/agent/runtime/process.ts');
  const client = new KubeClient({ server: c.server, ca: c.ca, token: c.token });
  const runtime = new ProcessRuntime({ dataDir: c.dataDir, pollIntervalMs: 100 });
  await startAgent({
    client,
    nodeName: AGENT_NODE,
    runtime,
    dataDir: c.dataDir,
    logger: silentLogger,
    podCIDR: '10.244.7.0/24',
    nodeIP: '127.0.0.1',
    events: false,
    implicitServiceAccountVolume: false,
    relistMs: 100,
    leaseDurationSeconds: LEASE_S,
    leaseRenewMs: 200,
    statusUpdateMs: 200,
    fenceWatchdog: { lingerSeconds: 60 },
  });
  process.stdout.write('agent ready\n');
  setInterval(() => undefined, 60_000);
}

const childConfig = process.env[CHILD_ENV];
if (childConfig) {
  await runAgentChild(JSON.parse(childConfig) as ChildConfig);
} else {
  const { startTestServer } = await import('../support/apiserver.ts');
  const { waitUntil } = await import('../support/wait.ts');
  const { startNodeLifecycleController, NODES, LEASES, PODS } = await import('../../src/controllers/nodelifecycle/controller.ts');
  const { ANNOTATION_FENCING } = await import('../../src/controllers/nodelifecycle/fencing.ts');
  const { retireFenceWatchdog, uptimeMs } = await import('../../src/agent/fence-watchdog.ts');
  type TestServer = Awaited<ReturnType<typeof startTestServer>>;
  type NodeLifecycleController = Awaited<ReturnType<typeof startNodeLifecycleController>>;

  const NAMESPACES: ResourceRef = { group: '', version: 'v1', plural: 'namespaces', namespaced: false, kind: 'Namespace' };
  const waitFor = <T>(what: string, fn: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 20_000): Promise<T> => waitUntil(what, fn, { timeoutMs, everyMs: 20, truthy: true });
  const microTime = (ms: number): string => new Date(ms).toISOString().replace('Z', '000Z');

  const procState = (pid: number): string | undefined => {
    try {
      const t = readFileSync(`/proc/${pid}/stat`, 'latin1');
      return t.slice(t.lastIndexOf(')') + 2, t.lastIndexOf(')') + 3);
    } catch {
      return undefined;
    }
  };
  /** The live (not zombie) members of a process group. */
  const groupMembers = (pgid: number): number[] => {
    const out: number[] = [];
    for (const p of readdirSync('/proc')) {
      if (!/^\d+$/.test(p)) continue;
      try {
        const t = readFileSync(`/proc/${p}/stat`, 'latin1');
        const f = t.slice(t.lastIndexOf(')') + 2).split(' ');
        if (Number(f[2]) === pgid && f[0] !== 'Z') out.push(Number(p));
      } catch {
        // gone
      }
    }
    return out;
  };

  describe('a SIGKILLed agent’s StatefulSet pod dies by its lease deadline (fence watchdog); only then is it replaced', () => {
    let ts: TestServer;
    let admin: KubeClient;
    let lifecycle: NodeLifecycleController | undefined;
    let dataDir = '';
    let child: ChildProcess | undefined;
    let childExited: Promise<unknown> = Promise.resolve();
    let renewTimer: NodeJS.Timeout | undefined;
    let inFlight: Promise<unknown> = Promise.resolve();
    const renewing = new Set<string>();
    /** pod name → performance.now() of its DELETED event. */
    const deletedAt = new Map<string, number>();
    let watch: { abort(): void } | undefined;

    const renew = async (name: string): Promise<void> => {
      const spec = { holderIdentity: name, leaseDurationSeconds: LEASE_S, renewTime: microTime(Date.now()) };
      try {
        await admin.patch(LEASES, 'kube-node-lease', name, { spec }, 'merge');
      } catch (e) {
        if (!isNotFound(e)) throw e;
        await admin.create(LEASES, { metadata: { name, namespace: 'kube-node-lease' }, spec });
      }
    };
    const postReady = async (name: string): Promise<void> => {
      const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
      const conditions = [{ type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'ready', lastHeartbeatTime: now, lastTransitionTime: now }];
      await admin.patch(NODES, undefined, name, { status: { conditions } }, 'merge', { subresource: 'status' });
    };
    const mkPod = (name: string, nodeName: string, owner: 'StatefulSet' | 'ReplicaSet', tolerationSeconds?: number): Promise<KubeObject> =>
      admin.create(PODS, {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: {
          name,
          namespace: 'default',
          ownerReferences: [{ apiVersion: 'apps/v1', kind: owner, name: `${name}-owner`, uid: `00000000-0000-0000-0000-0000000000${owner === 'StatefulSet' ? '01' : '02'}`, controller: true }],
        },
        spec: {
          nodeName,
          terminationGracePeriodSeconds: 30,
          containers: [{ name: 'main', image: 'busybox:1.36', command: ['sleep', '1000'] }],
          tolerations: [{ key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute', ...(tolerationSeconds !== undefined ? { tolerationSeconds } : {}) }],
        },
      });
    /** The shim pid (= process group) of a pod's running container, from the runtime's records. */
    const containerGroup = (podUid: string): number | undefined => {
      const dir = join(dataDir, 'process-runtime', 'containers');
      for (const id of readdirSync(dir)) {
        try {
          const rec = JSON.parse(readFileSync(join(dir, id, 'container.json'), 'utf8')) as { state: string; pid: number; config: { labels: Record<string, string> } };
          if (rec.state === 'running' && rec.config.labels['io.kubernetes.pod.uid'] === podUid && rec.pid > 0) return rec.pid;
        } catch {
          // being written
        }
      }
      return undefined;
    };
    const allContainerGroups = (): number[] => {
      const dir = join(dataDir, 'process-runtime', 'containers');
      const out: number[] = [];
      try {
        for (const id of readdirSync(dir)) {
          try {
            const rec = JSON.parse(readFileSync(join(dir, id, 'container.json'), 'utf8')) as { pid: number };
            if (rec.pid > 0) out.push(rec.pid);
          } catch {
            // none
          }
        }
      } catch {
        // no runtime state
      }
      return out;
    };

    before(async () => {
      ts = await startTestServer();
      admin = KubeClient.fromKubeconfig(ts.kubeconfig);
      await admin.create(NAMESPACES, { metadata: { name: 'kube-node-lease' } }).catch((e: unknown) => {
        if (!isAlreadyExists(e)) throw e;
      });
      // Two nodes the test plays: one stays healthy throughout (so that losing the others is no
      // full disruption), one that does not say it fences.
      for (const name of [HEALTHY_NODE, PLAIN_NODE]) {
        await admin.create(NODES, { metadata: { name, labels: { 'kubernetes.io/hostname': name } }, spec: {} });
        await postReady(name);
        await renew(name);
        renewing.add(name);
      }
      renewTimer = setInterval(() => {
        inFlight = Promise.all([...renewing].map((n) => renew(n).catch(() => undefined)));
      }, 200);
      lifecycle = await startNodeLifecycleController({
        client: admin,
        logger: silentLogger,
        gracePeriodMs: GRACE_MS,
        startupGracePeriodMs: GRACE_MS,
        monitorPeriodMs: 200,
        fenceMarginMs: MARGIN_MS,
      });
      dataDir = mkdtempSync(join(tmpdir(), 'kennel-watchdog-agent-'));
      const cfg: ChildConfig = { server: ts.url, ca: ts.ca, token: ts.token, dataDir };
      const env: NodeJS.ProcessEnv = { ...process.env, [CHILD_ENV]: JSON.stringify(cfg) };
      delete env.NODE_TEST_CONTEXT;
      child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url)], { env, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      child.stdout!.on('data', (b: Buffer) => (out += b.toString()));
      child.stderr!.on('data', (b: Buffer) => (err += b.toString()));
      const c = child;
      childExited = new Promise((r) => c.once('exit', r));
      await waitFor('the agent child ready', () => {
        if (c.exitCode !== null) throw new Error(`the agent child exited: ${err}`);
        return out.includes('agent ready');
      }, 60_000);
      const list = await admin.list(PODS, 'default');
      watch = admin.watch(
        PODS,
        'default',
        { resourceVersion: list.metadata.resourceVersion },
        (e) => {
          if (e.type === 'DELETED' && e.object.metadata.name) deletedAt.set(e.object.metadata.name, performance.now());
        },
        () => undefined,
      );
    });

    after(async () => {
      watch?.abort();
      if (renewTimer) clearInterval(renewTimer);
      await inFlight;
      if (child && child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        await childExited;
      }
      await lifecycle?.stop();
      if (dataDir) {
        await retireFenceWatchdog(join(dataDir, 'fence-watchdog'));
        for (const g of allContainerGroups()) {
          try {
            process.kill(-g, 'SIGKILL');
          } catch {
            // gone
          }
        }
        rmSync(dataDir, { recursive: true, force: true });
      }
      admin?.close();
      await ts?.stop();
    });

    it('kills the StatefulSet pod’s container by the deadline, keeps the ReplicaSet pod’s, and the server force-deletes only after', async () => {
      const node = await waitFor('the agent’s Node', async () => {
        try {
          return await admin.get<KubeObject>(NODES, undefined, AGENT_NODE);
        } catch {
          return undefined;
        }
      });
      assert.equal(node.metadata.annotations?.[ANNOTATION_FENCING], 'watchdog', 'the Node says its agent fences with a watchdog');

      const db = await mkPod('db-0', AGENT_NODE, 'StatefulSet', 0);
      const worker = await mkPod('worker-5xk2p', AGENT_NODE, 'ReplicaSet');
      const cache = await mkPod('cache-0', PLAIN_NODE, 'StatefulSet', 0);
      const dbGroup = await waitFor('db-0’s container running', () => containerGroup(db.metadata.uid!));
      const workerGroup = await waitFor('worker’s container running', () => containerGroup(worker.metadata.uid!));
      await waitFor('both pods Running', async () => {
        const ps = await Promise.all(['db-0', 'worker-5xk2p'].map((n) => admin.get<KubeObject>(PODS, 'default', n)));
        return ps.every((p) => (p.status as { phase?: string } | undefined)?.phase === 'Running');
      });
      // The shim and its program (sleep).
      const dbMembers = await waitFor('db-0’s shim and program', () => {
        const m = groupMembers(dbGroup);
        return m.length >= 2 && m;
      });
      await waitFor('worker’s shim and program', () => groupMembers(workerGroup).length >= 2);

      // The agent dies without a word; the plain node's agent goes silent at the same moment.
      child!.kill('SIGKILL');
      await childExited;
      const killedAtBoot = uptimeMs()!;
      renewing.delete(PLAIN_NODE);

      let deadAtBoot: number | undefined;
      let deadAt = 0;
      const dead = (p: number): boolean => {
        const st = procState(p);
        return st === undefined || st === 'Z';
      };
      while (uptimeMs()! < killedAtBoot + LEASE_S * 1000 + 2000) {
        if (dbMembers.every(dead)) {
          deadAtBoot = uptimeMs()!;
          deadAt = performance.now();
          assert.deepEqual(groupMembers(dbGroup), [], 'nothing left in db-0’s process group');
          break;
        }
        assert.equal(deletedAt.has('db-0'), false, 'db-0 force-deleted while its container still ran');
        await new Promise((r) => setTimeout(r, 10));
      }
      assert.ok(deadAtBoot !== undefined, 'db-0’s container still runs after the lease deadline');
      // By the deadline: the last renewal was sent before the kill, so S + L ≤ kill + L.
      assert.ok(deadAtBoot <= killedAtBoot + LEASE_S * 1000, `db-0’s container died ${deadAtBoot - killedAtBoot - LEASE_S * 1000} ms after the lease deadline`);
      // And by the watchdog, at the time the agent armed it with (not before).
      // The watchdog writes its "killed" line after the kill, so the processes may be gone
      // a moment before the line is in the log.
      const killedLine = new RegExp(`killed.* pg:${dbGroup}\\b`);
      const readLog = (): string => readFileSync(join(dataDir, 'fence-watchdog', 'watchdog.log'), 'utf8');
      const log = await waitFor('the watchdog’s "killed" line', () => {
        const text = readLog();
        return killedLine.test(text) && text;
      }, 5_000);
      const armed = /fence deadline passed \(deadline=(\d+) /.exec(log);
      assert.ok(armed, log);
      const killAtBoot = Number(armed[1]) * 10;
      assert.ok(killAtBoot > killedAtBoot - 1000 && killAtBoot <= killedAtBoot + LEASE_S * 1000, `the watchdog was armed for ${killAtBoot - killedAtBoot} ms after the kill`);
      assert.ok(deadAtBoot >= killAtBoot - 20, `killed ${killAtBoot - deadAtBoot} ms before the watchdog’s time`);

      // The server: Unknown, evicted (tolerationSeconds 0), force-deleted after lease + margin.
      await waitFor('db-0 force-deleted', () => deletedAt.has('db-0'), 20_000);
      assert.ok(deletedAt.get('db-0')! > deadAt, 'force-deleted before its container died');
      assert.ok(groupMembers(workerGroup).length >= 2, 'the ReplicaSet pod’s container keeps running');

      // The node that does not say it fences: its StatefulSet pod is evicted but never
      // force-deleted (its agent might still run it), well past its lease + margin.
      await waitFor('cache-0 evicted (Terminating)', async () => !!(await admin.get<KubeObject>(PODS, 'default', 'cache-0')).metadata.deletionTimestamp, 20_000);
      await new Promise((r) => setTimeout(r, LEASE_S * 1000 + MARGIN_MS + 1000));
      const still = await admin.get<KubeObject>(PODS, 'default', 'cache-0');
      assert.equal(still.metadata.uid, cache.metadata.uid);
      assert.equal(deletedAt.has('cache-0'), false);
    });
  });
}
