// The process runtime with real host processes: pod IPs from 127.0.0.0/8, CRI-format logs,
// exit codes, stop with SIGTERM then SIGKILL, exec/attach (pipes and a terminal), adoption by a
// new runtime on the same state dir, env/working dir/mounts, and two pods serving the same
// port on their own addresses.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { ProcessRuntime } from '../../src/agent/runtime/process.ts';
import { CriLineSplitter, criTimestamp } from '../../src/agent/runtime/process-log.ts';
import { PodIpRegistry } from '../../src/agent/runtime/process-ips.ts';
import { descendants, invalidImageName, isProcessAlive, readProcStat } from '../../src/agent/runtime/process-util.ts';
import { RuntimeError, type ContainerConfig, type PodSandboxConfig } from '../../src/agent/runtime/types.ts';

const tmpRoots: string[] = [];
const runtimes: ProcessRuntime[] = [];
const pids: number[] = [];

function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'kennel-proc-'));
  tmpRoots.push(d);
  return d;
}

function runtime(dataDir: string): ProcessRuntime {
  const rt = new ProcessRuntime({ dataDir, pollIntervalMs: 100 });
  runtimes.push(rt);
  return rt;
}

after(async () => {
  for (const rt of runtimes) {
    try {
      for (const sb of await rt.listPodSandboxes()) await rt.removePodSandbox(sb.id);
    } catch {
      // a closed runtime: its successor cleans up
    }
    await rt.close();
  }
  for (const pid of pids) {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
  for (const d of tmpRoots) rmSync(d, { recursive: true, force: true });
});

function sandboxConfig(dataDir: string, name: string, extra: Partial<PodSandboxConfig> = {}): PodSandboxConfig {
  const uid = `uid-${name}`;
  return {
    uid,
    name,
    namespace: 'default',
    attempt: 0,
    hostname: name,
    logDirectory: join(dataDir, 'pods', `default_${name}_${uid}`),
    portMappings: [],
    labels: { app: name },
    annotations: {},
    hostNetwork: false,
    ...extra,
  };
}

function containerConfig(name: string, command: string[], extra: Partial<ContainerConfig> = {}): ContainerConfig {
  return {
    name,
    attempt: 0,
    image: 'busybox:1.36',
    command,
    args: [],
    envs: [],
    mounts: [],
    logPath: `${name}/0.log`,
    stdin: false,
    stdinOnce: false,
    tty: false,
    labels: {},
    annotations: {},
    ...extra,
  };
}

async function waitFor<T>(what: string, fn: () => Promise<T | undefined | null | false> | T | undefined | null | false, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function readLog(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

function collect(r: Readable | undefined): { text: () => string } {
  const chunks: Buffer[] = [];
  r?.on('data', (b: Buffer) => chunks.push(b));
  return { text: () => Buffer.concat(chunks).toString() };
}

/** Create, start, and return the container id (and record the pid for the safety net). */
async function run(rt: ProcessRuntime, sb: string, sbc: PodSandboxConfig, cc: ContainerConfig): Promise<string> {
  const id = await rt.createContainer(sb, cc, sbc);
  await rt.startContainer(id);
  pids.push(rt.containerPid(id));
  return id;
}

const LOG_LINE = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z (stdout|stderr) (F|P) (.*)$/;

describe('process runtime', () => {
  it('reports its version and records images, refusing invalid image names', async () => {
    const rt = runtime(tmp());
    assert.deepEqual(await rt.version(), { runtimeName: 'kennel-process', runtimeVersion: '0.1.0' });
    // No image is needed, so every well-formed one is present (imagePullPolicy: Never works).
    assert.equal((await rt.imageStatus('busybox:1.36'))?.ref, 'busybox:1.36');
    assert.equal(await rt.imageStatus('Not Valid'), null);
    assert.equal((await rt.pullImage('busybox:1.36')).ref, 'busybox:1.36');
    assert.equal((await rt.imageStatus('busybox:1.36'))?.ref, 'busybox:1.36');
    for (const good of ['nginx', 'registry.local:5000/team/app:v1.2', 'localhost/x@sha256:' + 'a'.repeat(64), 'ghcr.io/a/b-c_d.e']) {
      assert.equal(invalidImageName(good), null, good);
    }
    for (const bad of ['Busybox', 'a b', 'nginx:', 'x/:y', ':latest', 'ubuntu:bad tag']) {
      await assert.rejects(rt.pullImage(bad), (e: unknown) => e instanceof RuntimeError && e.reason === 'InvalidImageName' && e.message.includes('invalid reference format'));
    }
  });

  it('gives each sandbox its own 127.x.y.z address and releases it on removal', async () => {
    const dir = tmp();
    const rt = runtime(dir);
    const ids: string[] = [];
    const ips: string[] = [];
    for (const n of ['a', 'b', 'c']) {
      const id = await rt.runPodSandbox(sandboxConfig(dir, n));
      ids.push(id);
      const st = await rt.podSandboxStatus(id);
      assert.equal(st?.state, 'ready');
      assert.equal(st?.name, n);
      assert.equal(st?.ips.length, 1);
      ips.push(st!.ips[0]!);
    }
    assert.equal(new Set(ips).size, 3);
    for (const ip of ips) {
      assert.match(ip, /^127\.(\d+)\.(\d+)\.(\d+)$/);
      assert.notEqual(ip, '127.0.0.1');
      assert.ok(!ip.startsWith('127.0.'), ip);
    }
    const hostNet = await rt.runPodSandbox(sandboxConfig(dir, 'h', { hostNetwork: true }));
    assert.deepEqual((await rt.podSandboxStatus(hostNet))?.ips, []);

    const registry = join(dir, 'process-runtime', 'ips');
    assert.deepEqual(readdirSync(registry).sort(), [...ips].sort());
    await rt.removePodSandbox(ids[0]!);
    assert.equal(await rt.podSandboxStatus(ids[0]!), null);
    assert.deepEqual(readdirSync(registry).sort(), [ips[1]!, ips[2]!].sort());

    // A restarted runtime lists the same sandboxes and reuses the released address first.
    await rt.close();
    const rt2 = runtime(dir);
    const listed = (await rt2.listPodSandboxes()).map((s) => s.id).sort();
    assert.deepEqual(listed, [ids[1]!, ids[2]!, hostNet].sort());
    const again = await rt2.runPodSandbox(sandboxConfig(dir, 'd'));
    assert.deepEqual((await rt2.podSandboxStatus(again))?.ips, [ips[0]]);
  });

  it('never hands out one address twice from a shared registry', () => {
    const shared = join(tmp(), 'ips');
    const owners = [tmp(), tmp()];
    for (const o of owners) mkdirSync(join(o, 'sandboxes'), { recursive: true });
    const regs = owners.map((o) => new PodIpRegistry(shared, o));
    const seen = new Set<string>();
    for (let i = 0; i < 50; i++) {
      for (const [k, r] of regs.entries()) {
        const id = `sb-${k}-${i}`;
        writeFileSync(join(owners[k]!, 'sandboxes', `${id}.json`), '{}');
        const ip = r.allocate(id);
        assert.ok(!seen.has(ip), `duplicate ${ip}`);
        seen.add(ip);
        assert.equal(r.holder(ip)?.sandboxId, id);
      }
    }
    // Releasing with the wrong sandbox id does nothing.
    const [first] = [...seen];
    regs[0]!.release(first!, 'someone-else');
    assert.ok(regs[0]!.holder(first!));
  });

  it('runs a container, writes CRI-format logs for stdout and stderr, and stops it with SIGTERM', async () => {
    const dir = tmp();
    const rt = runtime(dir);
    const sbc = sandboxConfig(dir, 'web');
    const sb = await rt.runPodSandbox(sbc);
    const t0 = performance.now();
    const id = await rt.createContainer(sb, containerConfig('main', ['sh', '-c', 'echo hi; echo err >&2; sleep 30']), sbc);
    await rt.startContainer(id);
    const st = await rt.containerStatus(id);
    const ms = performance.now() - t0;
    pids.push(rt.containerPid(id));
    console.log(`# process runtime: createContainer+startContainer → running in ${ms.toFixed(1)} ms`);
    assert.equal(st?.state, 'running');
    assert.ok(st!.startedAt > 0);
    assert.equal(st?.image, 'busybox:1.36');
    assert.equal(st?.logPath, join(sbc.logDirectory, 'main/0.log'));
    assert.deepEqual((await rt.listContainers({ sandboxId: sb })).map((c) => c.id), [id]);

    const text = await waitFor('both log lines', () => {
      const t = readLog(st!.logPath);
      return t.includes(' stdout F hi') && t.includes(' stderr F err') ? t : null;
    });
    const lines = text.trim().split('\n');
    assert.equal(lines.length, 2);
    const parsed = lines.map((l) => LOG_LINE.exec(l));
    assert.ok(parsed.every(Boolean), text);
    assert.deepEqual(parsed.map((m) => [m![1], m![2], m![3]]).sort(), [
      ['stderr', 'F', 'err'],
      ['stdout', 'F', 'hi'],
    ]);
    const ts = Date.parse(lines[0]!.split(' ')[0]!);
    assert.ok(Math.abs(ts - Date.now()) < 10_000);

    // Log rotation: the file is renamed, the runtime continues in a new one.
    renameSync(st!.logPath, `${st!.logPath}.1`);
    await rt.reopenContainerLog(id);
    await rt.execSync(id, ['true'], 5);
    assert.equal(existsSync(st!.logPath), true);

    const t1 = Date.now();
    await rt.stopContainer(id, 10);
    assert.ok(Date.now() - t1 < 2000, 'SIGTERM ends sleep at once');
    const stopped = await rt.containerStatus(id);
    assert.equal(stopped?.state, 'exited');
    assert.equal(stopped?.exitCode, 143);
    assert.equal(stopped?.reason, 'Error');
    assert.ok(stopped!.finishedAt >= stopped!.startedAt);
    assert.equal(isProcessAlive(rt.containerPid(id), readProcStat(rt.containerPid(id))?.startTime ?? -1), false);
  });

  it('cuts lines longer than 16 KiB into partial records', async () => {
    const records: string[] = [];
    const s = new CriLineSplitter('stdout', (b) => records.push(b.toString()), 16 * 1024);
    s.push(Buffer.from('a'.repeat(20000)));
    s.push(Buffer.from('b\nshort\nlast'));
    s.end();
    const parts = records.map((r) => LOG_LINE.exec(r.replace(/\n$/, ''))!);
    assert.deepEqual(
      parts.map((m) => [m[2], m[3]!.length]),
      [
        ['P', 16384],
        ['F', 20000 - 16384 + 1],
        ['F', 5],
        ['F', 4],
      ],
    );
    assert.match(criTimestamp(), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/);

    const dir = tmp();
    const rt = runtime(dir);
    const sbc = sandboxConfig(dir, 'long');
    const sb = await rt.runPodSandbox(sbc);
    const id = await run(rt, sb, sbc, containerConfig('long', ['sh', '-c', 'head -c 40000 /dev/zero | tr "\\0" x; echo; echo end']));
    await waitFor('exit', async () => (await rt.containerStatus(id))?.state === 'exited');
    const log = readLog((await rt.containerStatus(id))!.logPath).trim().split('\n').map((l) => LOG_LINE.exec(l)!);
    assert.deepEqual(
      log.map((m) => [m[1], m[2], m[3]!.length]),
      [
        ['stdout', 'P', 16384],
        ['stdout', 'P', 16384],
        ['stdout', 'F', 40000 - 2 * 16384],
        ['stdout', 'F', 3],
      ],
    );
  });

  it('reports exit codes and reasons, and a command that is not found', async () => {
    const dir = tmp();
    const rt = runtime(dir);
    const sbc = sandboxConfig(dir, 'codes');
    const sb = await rt.runPodSandbox(sbc);
    const cases: [string[], number, string][] = [
      [['sh', '-c', 'exit 3'], 3, 'Error'],
      [['false'], 1, 'Error'],
      [['true'], 0, 'Completed'],
      [['sh', '-c', 'kill -KILL $$'], 137, 'Error'],
    ];
    const ids = await Promise.all(cases.map(([cmd], i) => run(rt, sb, sbc, containerConfig(`c${i}`, cmd))));
    for (const [i, [cmd, code, reason]] of cases.entries()) {
      const st = await waitFor(`${cmd.join(' ')} to exit`, async () => {
        const s = await rt.containerStatus(ids[i]!);
        return s?.state === 'exited' ? s : null;
      });
      assert.equal(st.exitCode, code, cmd.join(' '));
      assert.equal(st.reason, reason, cmd.join(' '));
    }

    const nf = await rt.createContainer(sb, containerConfig('nf', ['nosuchcmd', '--flag']), sbc);
    await assert.rejects(
      rt.startContainer(nf),
      (e: unknown) =>
        e instanceof RuntimeError && e.reason === 'RunContainerError' && e.message.includes('exec: "nosuchcmd": executable file not found in $PATH'),
    );
    const st = await rt.containerStatus(nf);
    assert.equal(st?.state, 'exited');
    assert.equal(st?.reason, 'StartError');
    assert.equal(st?.exitCode, 128);
    await assert.rejects(rt.startContainer(nf), (e: unknown) => e instanceof RuntimeError && e.reason === 'RunContainerError');
    await assert.rejects(
      rt.createContainer(sb, containerConfig('empty', []), sbc),
      (e: unknown) => e instanceof RuntimeError && e.reason === 'CreateContainerError' && /no command/.test(e.message),
    );
    await assert.rejects(rt.createContainer('nope', containerConfig('x', ['true']), sbc), (e: unknown) => e instanceof RuntimeError && e.reason === 'CreateContainerError');
  });

  it('escalates to SIGKILL when the process ignores SIGTERM', async () => {
    const dir = tmp();
    const rt = runtime(dir);
    const sbc = sandboxConfig(dir, 'stubborn');
    const sb = await rt.runPodSandbox(sbc);
    const id = await run(rt, sb, sbc, containerConfig('s', ['sh', '-c', 'trap "" TERM; echo ready; sleep 30 & wait; sleep 30']));
    const logPath = (await rt.containerStatus(id))!.logPath;
    await waitFor('trap installed', () => readLog(logPath).includes('ready'));
    const pid = rt.containerPid(id);
    const tree = [pid, ...descendants(pid).map((p) => p.pid)];
    assert.ok(tree.length >= 3, 'shim, sh and sleep');
    const t0 = Date.now();
    await rt.stopContainer(id, 1);
    const took = Date.now() - t0;
    assert.ok(took >= 950 && took < 3000, `stop took ${took} ms`);
    const st = await rt.containerStatus(id);
    assert.equal(st?.state, 'exited');
    assert.equal(st?.exitCode, 137);
    assert.equal(st?.reason, 'Error');
    for (const p of tree) {
      const left = readProcStat(p);
      assert.ok(left === null || left.state === 'Z', `process ${p} is gone (${left?.state})`);
    }
  });

  it('execs with exit codes, output, timeouts and streams (pipes and a terminal)', async () => {
    const dir = tmp();
    const rt = runtime(dir);
    const sbc = sandboxConfig(dir, 'exec');
    const sb = await rt.runPodSandbox(sbc);
    const id = await run(rt, sb, sbc, containerConfig('app', ['sleep', '30'], { envs: [{ key: 'GREETING', value: 'hello' }] }));

    const r = await rt.execSync(id, ['sh', '-c', 'echo "$GREETING out"; echo err >&2; exit 4'], 5);
    assert.equal(r.exitCode, 4);
    assert.equal(r.stdout.toString(), 'hello out\n');
    assert.equal(r.stderr.toString(), 'err\n');
    assert.equal(r.timedOut, false);
    assert.equal((await rt.execSync(id, ['false'], 5)).exitCode, 1);

    const t0 = Date.now();
    const slow = await rt.execSync(id, ['sh', '-c', 'echo started; sleep 10'], 1);
    assert.equal(slow.timedOut, true);
    assert.equal(slow.stdout.toString(), 'started\n');
    assert.ok(Date.now() - t0 < 3000);
    await assert.rejects(rt.execSync(id, ['nosuchcmd'], 5), (e: unknown) => e instanceof RuntimeError && e.message.includes('executable file not found in $PATH'));

    // A background child holding stdout does not hold the exec past its exit.
    const t1 = Date.now();
    const bg = await rt.execSync(id, ['sh', '-c', 'sleep 3 & echo $!'], 0);
    assert.ok(Date.now() - t1 < 2000);
    assert.equal(bg.exitCode, 0);
    pids.push(Number(bg.stdout.toString().trim()));
    process.kill(Number(bg.stdout.toString().trim()), 'SIGKILL');

    // Streaming with pipes: stdin in, stdout and stderr out, the exit code at the end.
    const s = await rt.exec(id, ['sh', '-c', 'while read l; do echo "got $l"; echo "e $l" >&2; done; exit 6'], { stdin: true, stdout: true, stderr: true, tty: false });
    const out = collect(s.stdout);
    const err = collect(s.stderr);
    s.stdin!.write('one\n');
    s.stdin!.end('two\n');
    assert.equal(await s.exitCode, 6);
    assert.equal(out.text(), 'got one\ngot two\n');
    assert.equal(err.text(), 'e one\ne two\n');

    // A terminal: the size set with resize is what the program sees.
    const t = await rt.exec(id, ['sh'], { stdin: true, stdout: true, stderr: true, tty: true });
    assert.equal(t.stderr, undefined);
    const tout = collect(t.stdout);
    t.resize?.(101, 33);
    await new Promise((res) => setTimeout(res, 150));
    t.stdin!.write('stty size; [ -t 0 ] && echo is-a-tty; exit 5\n');
    assert.equal(await t.exitCode, 5);
    assert.match(tout.text(), /33 101/);
    assert.match(tout.text(), /is-a-tty/);

    // A session closed early kills what it started.
    const long = await rt.exec(id, ['sleep', '30'], { stdin: false, stdout: true, stderr: true, tty: false });
    long.close();
    assert.equal(await long.exitCode, 137);

    await rt.stopContainer(id, 0);
    await assert.rejects(rt.execSync(id, ['true'], 1), (e: unknown) => e instanceof RuntimeError && e.reason === 'NotRunning');
  });

  it('attaches to a running container (stdin once, stdout, exit code)', async () => {
    const dir = tmp();
    const rt = runtime(dir);
    const sbc = sandboxConfig(dir, 'att');
    const sb = await rt.runPodSandbox(sbc);
    const id = await run(
      rt,
      sb,
      sbc,
      containerConfig('cat', ['sh', '-c', 'while read l; do echo "got $l"; done; echo bye; exit 9'], { stdin: true, stdinOnce: true }),
    );
    const a = await rt.attach(id, { stdin: true, stdout: true, stderr: true, tty: false });
    const out = collect(a.stdout);
    a.stdin!.write('x\n');
    await waitFor('echo through attach', () => out.text().includes('got x'));
    a.stdin!.end();
    assert.equal(await a.exitCode, 9);
    await waitFor('end of output', () => out.text().includes('bye'));
    const st = await rt.containerStatus(id);
    assert.equal(st?.exitCode, 9);
    assert.match(readLog(st!.logPath), /stdout F got x\n.*stdout F bye\n/s);
  });

  it('runs a tty container on a pseudo-terminal: attach, resize, stop', async () => {
    const dir = tmp();
    const rt = runtime(dir);
    const sbc = sandboxConfig(dir, 'tty');
    const sb = await rt.runPodSandbox(sbc);
    const id = await run(
      rt,
      sb,
      sbc,
      containerConfig('t', ['sh', '-c', 'read line; stty size; [ -t 1 ] && echo "line=$line on a tty"; exit 3'], { stdin: true, tty: true }),
    );
    const a = await rt.attach(id, { stdin: true, stdout: true, stderr: true, tty: true });
    assert.equal(a.stderr, undefined);
    const out = collect(a.stdout);
    a.resize?.(120, 40);
    await new Promise((r) => setTimeout(r, 200));
    a.stdin!.write('hello\n');
    assert.equal(await a.exitCode, 3);
    await waitFor('output', () => out.text().includes('on a tty'));
    assert.match(out.text(), /40 120/);
    const st = await rt.containerStatus(id);
    assert.equal(st?.exitCode, 3);
    assert.match(readLog(st!.logPath), /stdout F line=hello on a tty\r?\n/);

    // The stop signal reaches the program on the terminal (not only `script`), and its status is kept.
    const id2 = await run(rt, sb, sbc, containerConfig('t2', ['sh', '-c', 'trap "echo bye; exit 42" TERM; echo ready; while :; do sleep 0.05; done'], { tty: true }));
    const log2 = (await rt.containerStatus(id2))!.logPath;
    await waitFor('ready', () => readLog(log2).includes('ready'));
    await rt.stopContainer(id2, 5);
    const st2 = await rt.containerStatus(id2);
    assert.equal(st2?.exitCode, 42);
    assert.match(readLog(log2), /stdout F bye/);
  });

  it('survives the death of the agent process that started it', async () => {
    const dir = tmp();
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        '-e',
        `import('${join(import.meta.dirname, '../../src/agent/runtime/process.ts')}').then(async ({ ProcessRuntime }) => {
          const rt = new ProcessRuntime({ dataDir: ${JSON.stringify(dir)} });
          const sbc = ${JSON.stringify(sandboxConfig(dir, 'orphan'))};
          const sb = await rt.runPodSandbox(sbc);
          const id = await rt.createContainer(sb, ${JSON.stringify(containerConfig('o', ['sh', '-c', 'echo started; sleep 0.5; echo later; exec sleep 30']))}, sbc);
          await rt.startContainer(id);
          const id2 = await rt.createContainer(sb, ${JSON.stringify(containerConfig('q', ['sh', '-c', 'sleep 0.3; exit 5']))}, sbc);
          await rt.startContainer(id2);
          console.log(JSON.stringify({ id, pid: rt.containerPid(id) }));
        })`,
      ],
      { cwd: join(import.meta.dirname, '../..'), stdio: ['ignore', 'pipe', 'inherit'] },
    );
    const line = await new Promise<string>((res, rej) => {
      let buf = '';
      child.stdout!.on('data', (b: Buffer) => {
        buf += b.toString();
        if (buf.includes('\n')) res(buf.trim());
      });
      child.on('exit', () => rej(new Error('agent child exited early')));
    });
    const { id, pid } = JSON.parse(line) as { id: string; pid: number };
    pids.push(pid);
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    await new Promise((r) => setTimeout(r, 600));
    const rt = runtime(dir);
    const byName = new Map((await rt.listContainers()).map((c) => [c.name, c]));
    assert.equal(byName.get('o')?.state, 'running');
    assert.equal(byName.get('q')?.state, 'exited');
    assert.equal(byName.get('q')?.exitCode, 5);
    const log = byName.get('o')!.logPath;
    await waitFor('output written after the agent died', () => readLog(log).includes('stdout F later'));
    await rt.stopContainer(id, 5);
    assert.equal((await rt.containerStatus(id))?.exitCode, 143);
  });

  it('is adopted by a new runtime on the same state dir: running stays running, an exit while away is recorded', async () => {
    const dir = tmp();
    const rt = runtime(dir);
    const sbc = sandboxConfig(dir, 'adopt');
    const sb = await rt.runPodSandbox(sbc);
    const keep = await run(rt, sb, sbc, containerConfig('keep', ['sh', '-c', 'echo one; sleep 0.4; echo two; exec sleep 30']));
    const ends = await run(rt, sb, sbc, containerConfig('ends', ['sh', '-c', 'sleep 0.3; exit 7']));
    const keepPid = rt.containerPid(keep);
    const keepLog = (await rt.containerStatus(keep))!.logPath;
    await waitFor('first line', () => readLog(keepLog).includes('stdout F one'));
    await rt.close(); // the agent goes away

    await new Promise((r) => setTimeout(r, 600));
    assert.ok(readProcStat(keepPid), 'the container outlives its runtime');
    const rt2 = runtime(dir);
    assert.deepEqual((await rt2.listPodSandboxes()).map((s) => s.id), [sb]);
    const byName = new Map((await rt2.listContainers()).map((c) => [c.name, c]));
    assert.equal(byName.get('keep')?.state, 'running');
    assert.equal(byName.get('ends')?.state, 'exited');
    assert.equal(byName.get('ends')?.exitCode, 7);
    assert.equal(byName.get('ends')?.reason, 'Error');
    assert.equal(rt2.containerPid(keep), keepPid);
    // Output written while no agent read it is in the log once the new runtime reads again.
    await waitFor('line written while away', () => readLog(keepLog).includes('stdout F two'));
    assert.equal((await rt2.execSync(keep, ['echo', 'still here'], 5)).stdout.toString(), 'still here\n');
    await rt2.stopContainer(keep, 5);
    const st = await rt2.containerStatus(keep);
    assert.equal(st?.state, 'exited');
    assert.equal(st?.exitCode, 143);
    void ends;
  });

  it('gives the process its env, working dir and mounts (as links under its root)', async () => {
    const dir = tmp();
    const rt = runtime(dir);
    const sbc = sandboxConfig(dir, 'envpod', { dnsConfig: { servers: ['10.96.0.10'], searches: ['default.svc.cluster.local'], options: ['ndots:5'] } });
    const sb = await rt.runPodSandbox(sbc);
    const vol = join(dir, 'volume');
    mkdirSync(vol);
    writeFileSync(join(vol, 'hello.txt'), 'from the volume\n');
    const hostWd = tmp();
    const script =
      'echo "FOO=$FOO HOSTNAME=$HOSTNAME PWD=$PWD"; cat data/hello.txt 2>/dev/null || cat "$KENNEL_ROOT/data/hello.txt"; ' +
      'cat "$KENNEL_ROOT/etc/resolv.conf"; echo "HOME=$HOME POD_IP=$KENNEL_POD_IP"; echo "PATH=$PATH"';
    const a = await run(
      rt,
      sb,
      sbc,
      containerConfig('a', ['sh', '-c', script], {
        envs: [{ key: 'FOO', value: 'bar baz' }],
        workingDir: '/app/work',
        mounts: [{ containerPath: '/data', hostPath: vol, readonly: true }],
      }),
    );
    const b = await run(rt, sb, sbc, containerConfig('b', ['sh', '-c', 'pwd'], { workingDir: hostWd }));
    const c = await run(rt, sb, sbc, containerConfig('c', ['sh', '-c', 'pwd; cat hello.txt'], { workingDir: '/data', mounts: [{ containerPath: '/data', hostPath: vol, readonly: false }] }));
    for (const id of [a, b, c]) await waitFor('exit', async () => (await rt.containerStatus(id))?.state === 'exited');
    const dirsA = rt.containerDirs(a)!;
    assert.equal(dirsA.cwd, join(dirsA.root, 'app/work'));
    const ip = (await rt.podSandboxStatus(sb))!.ips[0]!;
    const contents = (id: string) =>
      readLog(join(sbc.logDirectory, `${id}/0.log`))
        .trim()
        .split('\n')
        .map((l) => LOG_LINE.exec(l)![3]);
    assert.deepEqual(contents('a'), [
      `FOO=bar baz HOSTNAME=envpod PWD=${dirsA.cwd}`,
      'from the volume',
      'nameserver 10.96.0.10',
      'search default.svc.cluster.local',
      'options ndots:5',
      `HOME=${dirsA.root} POD_IP=${ip}`,
      'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    ]);
    assert.deepEqual(contents('b'), [hostWd]);
    const dirsC = rt.containerDirs(c)!;
    assert.deepEqual(contents('c'), [join(dirsC.root, 'data'), 'from the volume']);
    // Nothing was created at the container paths on the host.
    assert.equal(existsSync('/app/work'), false);

    // Removing the sandbox removes the containers' state and logs, and the pod log directory.
    await rt.removePodSandbox(sb);
    assert.equal(existsSync(sbc.logDirectory), false);
    assert.equal(existsSync(dirsA.root), false);
    assert.equal(readFileSync(join(vol, 'hello.txt'), 'utf8'), 'from the volume\n', 'volumes survive');
    assert.deepEqual(await rt.listContainers(), []);
  });

  it('runs as runAsUser/runAsGroup when the agent is root', { skip: process.getuid?.() !== 0 && 'needs root' }, async () => {
    const dir = tmp();
    chmodSync(dir, 0o755); // mkdtemp makes 0700: the user must reach its working directory
    const rt = runtime(dir);
    const sbc = sandboxConfig(dir, 'user');
    const sb = await rt.runPodSandbox(sbc);
    const id = await run(rt, sb, sbc, containerConfig('u', ['sh', '-c', 'id -u; id -g; echo ok > "$HOME/file"; cat "$HOME/file"; sleep 30'], { runAsUser: 65534, runAsGroup: 65534 }));
    const log = (await rt.containerStatus(id))!.logPath;
    await waitFor('output', () => readLog(log).includes('stdout F ok'));
    assert.deepEqual(
      readLog(log)
        .trim()
        .split('\n')
        .map((l) => LOG_LINE.exec(l)![3]),
      ['65534', '65534', 'ok'],
    );
    assert.equal((await rt.execSync(id, ['id', '-u'], 5)).stdout.toString(), '65534\n');
    await rt.stopContainer(id, 5);
    assert.equal((await rt.containerStatus(id))?.exitCode, 143);
  });

  it('lets two pods serve the same port on their own addresses', async () => {
    const dir = tmp();
    const rt = runtime(dir);
    const port = 20000 + Math.floor(Math.random() * 20000);
    const server = `require('http').createServer((q,s)=>s.end(process.env.WHO)).listen(${port}, process.env.KENNEL_POD_IP, () => console.log('listening'))`;
    const pods: { ip: string; name: string; id: string; sb: string }[] = [];
    for (const name of ['left', 'right']) {
      const sbc = sandboxConfig(dir, name);
      const sb = await rt.runPodSandbox(sbc);
      const ip = (await rt.podSandboxStatus(sb))!.ips[0]!;
      const id = await run(rt, sb, sbc, containerConfig('srv', [process.execPath, '-e', server], { envs: [{ key: 'WHO', value: name }] }));
      pods.push({ ip, name, id, sb });
    }
    for (const p of pods) {
      const body = await waitFor(`${p.name} answers`, async () => {
        try {
          const res = await fetch(`http://${p.ip}:${port}/`);
          return await res.text();
        } catch {
          return null;
        }
      }, 10_000);
      assert.equal(body, p.name);
    }
    for (const p of pods) {
      const pid = rt.containerPid(p.id);
      await rt.removePodSandbox(p.sb);
      assert.ok(!isProcessAlive(pid, readProcStat(pid)?.startTime ?? -1));
    }
  });
});
