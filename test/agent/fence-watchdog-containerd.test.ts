// The fence watchdog on the containerd runtime (as root, against kennel's own containerd in a temp
// data dir, busybox from a registry on 127.0.0.1): a fenceable pod's sandbox gets the node's
// fenced cgroup parent, so all its containers (and its pause) live under one cgroup per node; the
// watchdog, past its deadline, kills everything in it (cgroup.kill on v2, SIGKILL to each process
// listed on v1) — and nothing of a pod that is not fenceable.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { containerStackMissing, startBusyboxRegistry, startTestContainerd, type BusyboxRegistry, type TestContainerd } from '../support/images.ts';
import { waitUntil } from '../support/wait.ts';
import { silentLogger } from '../../src/util/log.ts';
import { FenceWatchdog, LABEL_FENCE, cgroupMountPoints, watchdogPlanFor } from '../../src/agent/fence-watchdog.ts';
import type { ContainerConfig, PodSandboxConfig } from '../../src/agent/runtime/types.ts';

const missing = containerStackMissing();

describe('fence watchdog: containerd pods under the fenced cgroup parent', { skip: missing ?? undefined }, () => {
  let reg: BusyboxRegistry | undefined;
  let ctd: TestContainerd | undefined;
  let watchdog: FenceWatchdog | undefined;
  let parent = '';

  before(async () => {
    reg = await startBusyboxRegistry();
    ctd = await startTestContainerd({ insecureRegistries: [reg.host] });
  });

  after(async () => {
    if (watchdog?.running()) await watchdog.stop();
    await ctd?.stop();
    await reg?.stop();
    // The node's fenced cgroup (containerd removed the containers' own): empty, removed bottom-up.
    if (parent) {
      for (const root of cgroupMountPoints()) {
        for (const dir of [join(root, parent), join(root, parent, '..')]) {
          try {
            rmdirSync(dir);
          } catch {
            // not there, or still in use by another test's node
          }
        }
      }
    }
  });

  const sandbox = (name: string, extra: Partial<PodSandboxConfig>): PodSandboxConfig => {
    const uid = randomUUID();
    return {
      uid,
      name,
      namespace: 'default',
      attempt: 0,
      hostname: name,
      logDirectory: join(ctd!.dataDir, 'pods', `default_${name}_${uid}`),
      portMappings: [],
      labels: { 'io.kubernetes.pod.name': name, 'io.kubernetes.pod.uid': uid },
      annotations: {},
      hostNetwork: false,
      ...extra,
      ...(extra.labels ? { labels: { 'io.kubernetes.pod.name': name, 'io.kubernetes.pod.uid': uid, ...extra.labels } } : {}),
    };
  };
  const container = (name: string): ContainerConfig => ({
    name,
    attempt: 0,
    image: reg!.image,
    command: ['sleep', '1000'],
    args: [],
    envs: [],
    mounts: [],
    logPath: `${name}/0.log`,
    stdin: false,
    stdinOnce: false,
    tty: false,
    labels: { 'io.kubernetes.container.name': name },
    annotations: {},
  });
  /** The pids in a container's cgroup, from whichever hierarchy has it. */
  const procsOf = (cgroupPath: string): number[] => {
    for (const root of cgroupMountPoints()) {
      const f = join(root, cgroupPath, 'cgroup.procs');
      if (!existsSync(f)) continue;
      const pids = readFileSync(f, 'utf8').split('\n').filter(Boolean).map(Number);
      if (pids.length) return pids;
    }
    return [];
  };

  it('kills every container of a fenceable pod past the deadline, none of another pod', async () => {
    const rt = ctd!.runtime;
    const plan = watchdogPlanFor(rt, 'n1', ctd!.dataDir);
    assert.ok(plan?.cgroupParent, 'containerd: a cgroup parent for fenceable pods');
    parent = plan.cgroupParent;
    const sbF = sandbox('web-0', { labels: { [LABEL_FENCE]: 'true' }, cgroupParent: parent });
    const sbN = sandbox('worker', {});
    await rt.pullImage(reg!.image);
    const fenced = await rt.runPodSandbox(sbF);
    const other = await rt.runPodSandbox(sbN);
    const ids: string[] = [];
    for (const name of ['a', 'b']) {
      const id = await rt.createContainer(fenced, container(name), sbF);
      await rt.startContainer(id);
      ids.push(id);
    }
    const otherId = await rt.createContainer(other, container('w'), sbN);
    await rt.startContainer(otherId);
    // cgroupfs: <parent>/<container id> for each container of the pod, the sandbox's too.
    for (const id of [fenced, ...ids]) assert.ok(procsOf(join(parent, id)).length > 0, `container ${id} under ${parent}`);
    const hierarchies = cgroupMountPoints().filter((r) => existsSync(join(r, parent)));
    assert.ok(hierarchies.length > 0);
    assert.ok(readdirSync(join(hierarchies[0]!, parent)).includes(ids[0]!));
    const otherPids = await waitUntil('the other pod’s process', () => {
      for (const root of cgroupMountPoints()) {
        for (const d of ['k8s.io', '']) {
          const f = join(root, d, otherId, 'cgroup.procs');
          if (existsSync(f)) {
            const p = readFileSync(f, 'utf8').split('\n').filter(Boolean).map(Number);
            if (p.length) return p;
          }
        }
      }
      return undefined;
    });

    watchdog = FenceWatchdog.start({ dir: join(ctd!.dataDir, 'fence-watchdog'), logger: silentLogger, targets: plan.targets });
    watchdog.arm(-10);
    for (const id of ids) {
      await waitUntil(`container ${id} exited`, async () => (await rt.containerStatus(id))?.state === 'exited', { timeoutMs: 10_000, truthy: true });
      assert.equal((await rt.containerStatus(id))?.exitCode, 137);
    }
    assert.deepEqual(procsOf(join(parent, ids[0]!)), []);
    assert.equal((await rt.containerStatus(otherId))?.state, 'running', 'a pod that is not fenceable keeps running');
    assert.ok(otherPids.every((p) => existsSync(`/proc/${p}`)));
    assert.match(readFileSync(join(watchdog.dir, 'watchdog.log'), 'utf8'), /killed.* (cgroup|pid):/);
    await watchdog.stop();
  });
});
