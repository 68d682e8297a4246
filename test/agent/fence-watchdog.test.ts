// The fence watchdog (src/agent/fence-watchdog.ts + fence-watchdog.sh) against real processes:
// `sleep`s in process groups of their own play the containers. It kills its targets only once
// the deadline (boot clock) has passed, checks start times (PID reuse), freezes and kills a
// group's descendants that left it, keeps killing what appears while the deadline is past, and
// stops when the agent arms a later one; a restarted agent reuses it, a new version replaces it;
// it exits when told, when its directory goes, and after lingering. Then the process runtime's
// side: a fenceable sandbox's containers are linked for it, their shims write their pgid first.
import { after, afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitUntil } from '../support/wait.ts';
import { silentLogger } from '../../src/util/log.ts';
import {
  FenceWatchdog,
  LABEL_FENCE,
  cgroupMountPoints,
  currentBootId,
  fencedCgroupParent,
  procStartTime,
  renderWatchdogState,
  retireFenceWatchdog,
  takeWatchdogLog,
  uptimeMs,
  watchdogKillOffsetMs,
  watchdogPlanFor,
  type WatchdogTarget,
} from '../../src/agent/fence-watchdog.ts';
import { AgentFence } from '../../src/agent/fencing.ts';
import { removeFencedCgroups } from '../../src/agent/fenced-cgroups.ts';
import { ProcessRuntime } from '../../src/agent/runtime/process.ts';
import type { ContainerConfig, PodSandboxConfig } from '../../src/agent/runtime/types.ts';
import type { Pod } from '../../src/agent/kube-types.ts';

const waitFor = <T>(what: string, fn: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 5000): Promise<T> => waitUntil(what, fn, { timeoutMs, everyMs: 10, truthy: true });

const roots: string[] = [];
const children: ChildProcess[] = [];
const watchdogs: FenceWatchdog[] = [];
const strayPids: number[] = [];

function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'kennel-watchdog-'));
  roots.push(d);
  return d;
}

function state(pid: number): string | undefined {
  try {
    const t = readFileSync(`/proc/${pid}/stat`, 'latin1');
    return t.slice(t.lastIndexOf(')') + 2, t.lastIndexOf(')') + 3);
  } catch {
    return undefined;
  }
}
/** Running (not a zombie waiting for its parent). */
const alive = (pid: number): boolean => {
  const s = state(pid);
  return s !== undefined && s !== 'Z';
};

interface Target {
  pid: number;
  start: number;
}

/** A `sleep` (or a shell script) in a process group and session of its own: a container's shim. */
function target(script = 'exec sleep 1000'): Target {
  const child = spawn('/bin/sh', ['-c', script], { detached: true, stdio: 'ignore' });
  children.push(child);
  const pid = child.pid!;
  return { pid, start: procStartTime(pid)! };
}

/** A process-runtime-like container directory: <fence>/<id>/pgid. */
function pidfile(fenceDir: string, id: string, t: Target, start = t.start): void {
  mkdirSync(join(fenceDir, id), { recursive: true });
  writeFileSync(join(fenceDir, id, 'pgid'), `${t.pid} ${start}\n`);
}

function startWatchdog(dir: string, targets: WatchdogTarget[], lingerSeconds?: number): FenceWatchdog {
  const w = FenceWatchdog.start({ dir, logger: silentLogger, targets, lingerSeconds });
  watchdogs.push(w);
  return w;
}

const logOf = (dir: string): string => {
  try {
    return readFileSync(join(dir, 'watchdog.log'), 'utf8');
  } catch {
    return '';
  }
};

afterEach(async () => {
  for (const w of watchdogs.splice(0)) if (w.running()) await w.stop();
  for (const c of children.splice(0)) {
    try {
      process.kill(-c.pid!, 'SIGKILL');
    } catch {
      // gone
    }
  }
  for (const p of strayPids.splice(0)) {
    try {
      process.kill(p, 'SIGKILL');
    } catch {
      // gone
    }
  }
});

after(() => {
  for (const d of roots) rmSync(d, { recursive: true, force: true });
});

describe('fence watchdog: the state file and the plan', () => {
  it('renders the deadline, the boot, the linger time and the targets; disarmed and stop', () => {
    const text = renderWatchdogState({
      mode: 'armed',
      deadlineCs: 12345.9,
      bootId: 'b00t',
      lingerSeconds: 60,
      targets: [
        { kind: 'pidfiles', dir: '/d/fence' },
        { kind: 'pg', pgid: 42, start: 777 },
        { kind: 'cgroup', dir: '/sys/fs/cgroup/kennel-fenced/n1-x' },
      ],
    });
    assert.equal(text, 'kennel-fence-watchdog 1\narmed 12345 b00t\nlinger 60\npidfiles /d/fence\npg 42 777\ncgroup /sys/fs/cgroup/kennel-fenced/n1-x\n');
    assert.equal(renderWatchdogState({ mode: 'disarmed' }), 'kennel-fence-watchdog 1\ndisarmed\n');
    assert.equal(renderWatchdogState({ mode: 'stop' }), 'kennel-fence-watchdog 1\nstop\n');
    assert.throws(() => renderWatchdogState({ mode: 'armed', deadlineCs: 1, bootId: 'b', lingerSeconds: 0, targets: [{ kind: 'pidfiles', dir: '/a\nb' }] }), /line break/);
  });

  it('kills with the agent’s last SIGKILLs (1 s before the deadline; the lead when shorter)', () => {
    assert.equal(watchdogKillOffsetMs(5000), 1000); // the default 40 s lease
    assert.equal(watchdogKillOffsetMs(250), 250); // a 2 s lease: lead 250 ms
    assert.equal(watchdogKillOffsetMs(-1), 0);
  });

  it('finds the cgroup hierarchies (v1 and v2) in mountinfo', () => {
    const mi = [
      '30 25 0:26 / /sys/fs/cgroup ro,nosuid - tmpfs tmpfs ro,mode=755',
      '31 30 0:27 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw',
      '32 30 0:28 / /sys/fs/cgroup/pids rw - cgroup cgroup rw,pids',
      '33 30 0:29 / /sys/fs/cgroup/cpu,cpuacct rw shared:9 - cgroup cgroup rw,cpu,cpuacct',
      '40 25 0:40 / /mnt/with\\040space rw - cgroup2 cgroup2 rw',
      '50 25 8:1 / / rw - ext4 /dev/sda1 rw',
    ].join('\n');
    assert.deepEqual(cgroupMountPoints(mi), ['/sys/fs/cgroup/unified', '/sys/fs/cgroup/pids', '/sys/fs/cgroup/cpu,cpuacct', '/mnt/with space']);
    assert.deepEqual(cgroupMountPoints('31 30 0:27 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw'), ['/sys/fs/cgroup']);
  });

  it('plans targets per runtime: the process runtime’s fence dir; containerd’s cgroup parent in every hierarchy; none for simulated', () => {
    assert.deepEqual(watchdogPlanFor({ name: 'process', stateDir: '/data/process-runtime' }, 'n1', '/data'), { targets: [{ kind: 'pidfiles', dir: '/data/process-runtime/fence' }] });
    assert.equal(watchdogPlanFor({ name: 'simulated' }, 'n1', '/data'), undefined);
    const parent = fencedCgroupParent('n1', '/data');
    assert.match(parent, /^\/kennel-fenced\/n1-[0-9a-f]{8}$/);
    assert.notEqual(fencedCgroupParent('n1', '/other'), parent, 'two agents on one machine never share one');
    const plan = watchdogPlanFor({ name: 'containerd' }, 'n1', '/data');
    if (cgroupMountPoints().length > 0) {
      assert.equal(plan?.cgroupParent, parent);
      assert.ok(plan!.targets.every((t) => t.kind === 'cgroup' && t.dir.endsWith(parent)));
    }
  });

  it('a purge removes the fenced cgroup parents of its data dir’s nodes, with what is below, and no other node’s', () => {
    const roots = [mkdtempSync(join(tmpdir(), 'kennel-cg-a-')), mkdtempSync(join(tmpdir(), 'kennel-cg-b-'))];
    try {
      const ours = fencedCgroupParent('n1', '/data');
      const alsoOurs = fencedCgroupParent('other-name', '/data'); // the node was renamed: same data dir
      const theirs = fencedCgroupParent('n1', '/elsewhere');
      for (const r of roots) {
        mkdirSync(join(r, ours, 'ctr-left-behind'), { recursive: true });
        mkdirSync(join(r, alsoOurs), { recursive: true });
      }
      mkdirSync(join(roots[0]!, theirs), { recursive: true });
      const removed = removeFencedCgroups('/data', roots);
      for (const r of roots) {
        assert.equal(existsSync(join(r, ours)), false);
        assert.equal(existsSync(join(r, alsoOurs)), false);
      }
      assert.equal(existsSync(join(roots[0]!, theirs)), true, 'another data dir’s node keeps its cgroup');
      assert.equal(existsSync(join(roots[0]!, 'kennel-fenced')), true, 'kept while another node uses it');
      assert.equal(existsSync(join(roots[1]!, 'kennel-fenced')), false, 'removed once no node uses it');
      assert.equal(removed.length, 3 + 3 + 1, removed.join(", "));
      // A cgroup that cannot be removed (here: a file in it, as a populated cgroup refuses rmdir) stays, without an error.
      mkdirSync(join(roots[1]!, ours), { recursive: true });
      writeFileSync(join(roots[1]!, ours, 'cgroup.procs'), '42\n');
      assert.deepEqual(removeFencedCgroups('/data', roots), []);
      assert.equal(existsSync(join(roots[1]!, ours)), true);
      assert.deepEqual(removeFencedCgroups('/data', [join(roots[0]!, 'no-such-root')]), []);
    } finally {
      for (const r of roots) rmSync(r, { recursive: true, force: true });
    }
  });

  it('the agent’s fence marks fenceable pods’ sandboxes and arms the watchdog at deadline − offset on every renewal', () => {
    const armed: number[] = [];
    let t = 10_000;
    const fence = new AgentFence({ nodeName: 'n1', logger: silentLogger, clock: () => t, watchdog: { arm: (ms) => armed.push(ms), cgroupParent: '/kennel-fenced/n1-x' } });
    fence.renewed(9_000, 2); // deadline 11 000; lead 250 → offset 250
    assert.deepEqual(armed, [11_000 - 250 - 10_000]);
    t = 10_500;
    fence.renewed(8_000, 2); // an older send completing late: the latest send still counts
    assert.deepEqual(armed, [750, 11_000 - 250 - 10_500]);
    const pod = (owner?: string): Pod =>
      ({ metadata: { name: 'p', uid: 'u', ...(owner ? { ownerReferences: [{ apiVersion: 'apps/v1', kind: owner, name: 'o', uid: 'o', controller: true }] } : {}) }, spec: { containers: [] } }) as unknown as Pod;
    const cfg = (): PodSandboxConfig => ({ uid: 'u', name: 'p', namespace: 'd', attempt: 0, hostname: 'p', logDirectory: '/l', portMappings: [], labels: {}, annotations: {}, hostNetwork: false });
    for (const [owner, fenced] of [['StatefulSet', true], [undefined, true], ['ReplicaSet', false], ['DaemonSet', false]] as const) {
      const c = cfg();
      fence.markSandbox(pod(owner), c);
      assert.equal(c.labels[LABEL_FENCE], fenced ? 'true' : undefined, `${owner ?? 'no controller'}`);
      assert.equal(c.cgroupParent, fenced ? '/kennel-fenced/n1-x' : undefined);
    }
    fence.stop();
    const plain = new AgentFence({ nodeName: 'n1', logger: silentLogger, clock: () => t });
    const c = cfg();
    plain.markSandbox(pod('StatefulSet'), c);
    assert.deepEqual(c.labels, {}, 'no watchdog: nothing to mark');
    plain.stop();
  });
});

describe('fence watchdog: killing', () => {
  it('kills its targets only once the deadline has passed — and by then', async () => {
    const dir = tmp();
    const fenceDir = join(dir, 'fence');
    const a = target();
    const b = target();
    pidfile(fenceDir, 'c1', a);
    const w = startWatchdog(join(dir, 'wd'), [
      { kind: 'pidfiles', dir: fenceDir },
      { kind: 'pg', pgid: b.pid, start: b.start },
    ]);
    const armedAt = uptimeMs()!;
    w.arm(800);
    const deadline = w.status().killAtMs!;
    // arm() reads /proc/uptime (10 ms steps) itself, after armedAt: it may be one step later.
    assert.ok(deadline <= armedAt + 810 && deadline > armedAt + 780, `deadline ${deadline - armedAt} ms after arming`);
    await waitFor('both dead', () => !alive(a.pid) && !alive(b.pid));
    const deadAt = uptimeMs()!;
    assert.ok(deadAt >= deadline, `killed ${deadline - deadAt} ms before the deadline`);
    assert.ok(deadAt <= deadline + 600, `killed ${deadAt - deadline} ms after the deadline`);
    const log = await waitFor('the kill logged', () => /killed/.test(logOf(w.dir)) && logOf(w.dir));
    assert.match(log, /fence deadline passed .*killing/);
    assert.match(log, new RegExp(`killed.* pg:${a.pid}\\b`));
    assert.match(log, new RegExp(`killed.* pg:${b.pid}\\b`));
  });

  it('a group whose leader’s start time differs is not killed (PID reuse); the group of a right one is, with descendants that left it', async () => {
    const dir = tmp();
    const fenceDir = join(dir, 'fence');
    const reused = target();
    pidfile(fenceDir, 'old', reused, reused.start + 1); // a record of an earlier process with this pid
    // A shim whose program made a session of its own (setsid; a tty program under script): not
    // in the group any more, found as a descendant.
    const shim = target('setsid sleep 1001 & sleep 1002 & wait');
    pidfile(fenceDir, 'c2', shim);
    const escaped = await waitFor('the setsid child', () => {
      for (const p of readdirSync('/proc')) {
        if (!/^\d+$/.test(p)) continue;
        try {
          const t = readFileSync(`/proc/${p}/stat`, 'latin1');
          const f = t.slice(t.lastIndexOf(')') + 2).split(' ');
          if (Number(f[1]) === shim.pid && Number(f[2]) !== shim.pid) return Number(p);
        } catch {
          // gone
        }
      }
      return undefined;
    });
    strayPids.push(escaped);
    const w = startWatchdog(join(dir, 'wd'), [{ kind: 'pidfiles', dir: fenceDir }]);
    w.arm(-1000);
    await waitFor('the right group and its escaped descendant dead', () => !alive(shim.pid) && !alive(escaped));
    await new Promise((r) => setTimeout(r, 700)); // another pass or two
    assert.ok(alive(reused.pid), 'a process with a reused pid is left alone');
    await waitFor('the escaped descendant’s kill logged', () => new RegExp(`pid:${escaped}\\b`).test(logOf(w.dir)));
  });

  it('is pushed back by every renewal, kills when they stop, keeps killing what appears, and stops at a later deadline', async () => {
    const dir = tmp();
    const fenceDir = join(dir, 'fence');
    const a = target();
    pidfile(fenceDir, 'c1', a);
    const w = startWatchdog(join(dir, 'wd'), [{ kind: 'pidfiles', dir: fenceDir }]);
    // Renewals every 150 ms, each 400 ms ahead: never due.
    const until = Date.now() + 1500;
    while (Date.now() < until) {
      w.arm(400);
      await new Promise((r) => setTimeout(r, 150));
      assert.ok(alive(a.pid), 'killed although re-armed');
    }
    w.arm(300);
    const deadline = w.status().killAtMs!;
    await waitFor('killed once the renewals stop', () => !alive(a.pid));
    assert.ok(uptimeMs()! >= deadline);
    // A container that appears while the deadline is past is killed too.
    const late = target();
    pidfile(fenceDir, 'c2', late);
    await waitFor('the late one killed', () => !alive(late.pid));
    // The agent is back: a later deadline; a new container is left to run.
    w.arm(60_000);
    await new Promise((r) => setTimeout(r, 100));
    const fresh = target();
    pidfile(fenceDir, 'c3', fresh);
    await new Promise((r) => setTimeout(r, 1200));
    assert.ok(alive(fresh.pid), 'killed although the deadline is ahead');
  });

  it('disarmed, it kills nothing; a deadline from another boot counts as passed', async () => {
    const dir = tmp();
    const fenceDir = join(dir, 'fence');
    const a = target();
    pidfile(fenceDir, 'c1', a);
    const w = startWatchdog(join(dir, 'wd'), [{ kind: 'pidfiles', dir: fenceDir }]);
    w.arm(-5000);
    w.disarm();
    await new Promise((r) => setTimeout(r, 1200));
    assert.ok(alive(a.pid), 'disarmed but killed');
    const text = renderWatchdogState({ mode: 'armed', deadlineCs: uptimeMs()! / 10 + 360_000, bootId: 'another-boot', lingerSeconds: 0, targets: [{ kind: 'pidfiles', dir: fenceDir }] });
    assert.notEqual(currentBootId(), 'another-boot');
    writeFileSync(join(w.dir, 'state.tmp'), text);
    const { renameSync } = await import('node:fs');
    renameSync(join(w.dir, 'state.tmp'), join(w.dir, 'state'));
    await waitFor('killed: the deadline is from another boot', () => !alive(a.pid));
  });
});

describe('fence watchdog: its process', () => {
  it('outlives its starter, is reused by the next agent, and replaced by a new version', async () => {
    const dir = join(tmp(), 'wd');
    const first = startWatchdog(dir, []);
    assert.equal(first.status().reused, false);
    const second = startWatchdog(dir, []);
    assert.equal(second.processId, first.processId);
    assert.equal(second.status().reused, true);
    assert.equal(readFileSync(join(dir, 'watchdog.pid'), 'utf8').split(' ')[0], String(first.processId));
    // Its own session: a signal to the starter's process group does not reach it.
    const stat = readFileSync(`/proc/${first.processId}/stat`, 'latin1');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    assert.equal(Number(f[3]), first.processId, 'session leader');
    // An older version running: a new one starts, the old one is told to go.
    await first.stop();
    assert.equal(first.running(), false);
    const script = readdirSync(dir).find((n) => /^watchdog-[0-9a-f]+\.sh$/.test(n))!;
    const oldScript = join(dir, 'watchdog-000000000000.sh');
    copyFileSync(join(dir, script), oldScript);
    writeFileSync(join(dir, 'state'), 'kennel-fence-watchdog 1\ndisarmed\n');
    const old = spawn('/bin/sh', [oldScript, dir], { detached: true, stdio: 'ignore' });
    children.push(old);
    writeFileSync(join(dir, 'watchdog.pid'), `${old.pid} ${procStartTime(old.pid!)}\n`);
    const third = startWatchdog(dir, []);
    assert.notEqual(third.processId, old.pid);
    assert.equal(third.status().reused, false);
    await waitFor('the old version gone', () => !alive(old.pid!));
    assert.ok(!existsSync(oldScript), 'the old script removed');
  });

  it('starts again when it died; exits when told, when its directory goes, and after lingering', async () => {
    const dir = join(tmp(), 'wd');
    const w = startWatchdog(dir, []);
    const pid = w.processId;
    process.kill(pid, 'SIGKILL');
    await waitFor('dead', () => !alive(pid));
    w.arm(10_000);
    assert.ok(w.running());
    assert.notEqual(w.processId, pid);
    // Told to stop (an agent without fencing retires it).
    assert.equal(await retireFenceWatchdog(dir), true);
    assert.equal(w.running(), false);
    assert.equal(await retireFenceWatchdog(dir), false, 'nothing left to retire');
    // Its directory removed (a test's temp dir, a wiped node).
    const gone = startWatchdog(join(tmp(), 'wd'), []);
    rmSync(gone.dir, { recursive: true, force: true });
    await waitFor('exited after its directory went', () => !gone.running(), 4000);
    // Lingering: past the deadline for `linger` seconds with no renewal.
    const lingerDir = join(tmp(), 'wd');
    const l = startWatchdog(lingerDir, [], 1);
    l.arm(-100);
    await waitFor('exited after lingering', () => !l.running(), 5000);
    assert.match(logOf(lingerDir), /exiting: the deadline passed 1s ago/);
    const lines = takeWatchdogLog(lingerDir);
    assert.ok(lines.some((x) => /started/.test(x)));
    assert.ok(existsSync(join(lingerDir, 'watchdog.log.1')) && !existsSync(join(lingerDir, 'watchdog.log')), 'rotated when taken');
  });
});

describe('fence watchdog: the process runtime’s targets', () => {
  const sandbox = (dataDir: string, name: string, fenced: boolean): PodSandboxConfig => ({
    uid: `uid-${name}`,
    name,
    namespace: 'default',
    attempt: 0,
    hostname: name,
    logDirectory: join(dataDir, 'logs', name),
    portMappings: [],
    labels: fenced ? { [LABEL_FENCE]: 'true' } : {},
    annotations: {},
    hostNetwork: false,
  });
  const container = (name: string): ContainerConfig => ({
    name,
    attempt: 0,
    image: 'busybox',
    command: ['sleep', '1000'],
    args: [],
    envs: [],
    mounts: [],
    logPath: `${name}/0.log`,
    stdin: false,
    stdinOnce: false,
    tty: false,
    labels: {},
    annotations: {},
  });

  it('links a fenceable sandbox’s containers before they start; the shim writes its pgid; the watchdog kills only those', async () => {
    const dataDir = tmp();
    const rt = new ProcessRuntime({ dataDir, pollIntervalMs: 100 });
    try {
      const plan = watchdogPlanFor(rt, 'n1', dataDir)!;
      const fenceDir = join(rt.stateDir, 'fence');
      assert.deepEqual(plan.targets, [{ kind: 'pidfiles', dir: fenceDir }]);
      const sbF = sandbox(dataDir, 'web-0', true);
      const sbN = sandbox(dataDir, 'worker', false);
      const fenced = await rt.runPodSandbox(sbF);
      const other = await rt.runPodSandbox(sbN);
      const cF = await rt.createContainer(fenced, container('db'), sbF);
      const cN = await rt.createContainer(other, container('w'), sbN);
      assert.equal(readlinkSync(join(fenceDir, cF)), join(rt.stateDir, 'containers', cF), 'linked at create, before the start');
      assert.ok(!existsSync(join(fenceDir, cN)));
      await rt.startContainer(cF);
      await rt.startContainer(cN);
      const pidF = rt.containerPid(cF);
      const pidN = rt.containerPid(cN);
      children.push({ pid: pidF } as ChildProcess, { pid: pidN } as ChildProcess);
      const written = await waitFor('the shim’s pgid file', () => {
        try {
          return readFileSync(join(fenceDir, cF, 'pgid'), 'utf8').trim() || undefined;
        } catch {
          return undefined;
        }
      });
      assert.equal(written, `${pidF} ${procStartTime(pidF)}`);
      const w = startWatchdog(join(dataDir, 'fence-watchdog'), plan.targets);
      w.arm(-10);
      await waitFor('the fenceable container killed', () => !alive(pidF));
      assert.ok(alive(pidN), 'a container of a pod that is not fenceable keeps running');
      await waitFor('the runtime sees it exited', async () => (await rt.containerStatus(cF))?.state === 'exited');
      assert.equal((await rt.containerStatus(cN))?.state, 'running');
      await w.stop();
      await rt.removePodSandbox(fenced);
      assert.ok(!existsSync(join(fenceDir, cF)), 'the link goes with the container');
      await rt.removePodSandbox(other);
    } finally {
      await rt.close();
    }
  });
});
