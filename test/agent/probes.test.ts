// Probe manager decisions with a fake clock and scripted probe results: timing, thresholds,
// startup gating, liveness restarts, readiness flips and the kubelet's event texts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock } from '../../src/client/clock.ts';
import { MemoryEventRecorder } from '../../src/agent/events.ts';
import { silentLogger } from '../../src/util/log.ts';
import { KubeletProbeManager, probeTiming, type ProbeKind } from '../../src/agent/probes.ts';
import type { ProbeOutcome } from '../../src/agent/probes-run.ts';
import type { Container, Pod, Probe } from '../../src/agent/kube-types.ts';
import type { Runtime } from '../../src/agent/runtime/types.ts';

const UID = 'uid-1';

function pod(containers: Container[], status?: Pod['status']): Pod {
  return { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web-0', namespace: 'default', uid: UID }, spec: { containers }, status };
}

const httpProbe = (extra: Partial<Probe> = {}): Probe => ({ httpGet: { path: '/healthz', port: 8080 }, ...extra });

interface Call {
  kind: ProbeKind;
  at: number;
}

function setup(containers: Container[], status?: Pod['status']) {
  const clock = new FakeClock(1_000_000);
  const t0 = clock.now();
  const recorder = new MemoryEventRecorder();
  const kills: { uid: string; name: string; id: string; message: string }[] = [];
  const changes: number[] = [];
  const script: Record<ProbeKind, ProbeOutcome[]> = { startup: [], liveness: [], readiness: [] };
  const calls: Call[] = [];
  const m = new KubeletProbeManager({
    runtime: {} as Runtime,
    recorder,
    logger: silentLogger,
    podIP: () => '10.244.0.5',
    onLivenessFailure: (uid, name, id, message) => kills.push({ uid, name, id, message }),
    onResultChange: () => changes.push(clock.now() - t0),
    clock,
    runner: async (_probe, _target, kind) => {
      calls.push({ kind, at: clock.now() - t0 });
      return script[kind].shift() ?? { result: 'success', output: '' };
    },
  });
  const settle = async () => {
    await m.idle();
    await new Promise((r) => setImmediate(r));
    await m.idle();
  };
  /** Move the clock forward timer by timer, letting each probe attempt finish. */
  const run = async (ms: number) => {
    const end = clock.now() + ms;
    for (;;) {
      await settle();
      const due = clock.nextDue();
      if (due === undefined || due > end) break;
      clock.set(due);
    }
    clock.set(end);
    await settle();
  };
  const p = pod(containers, status);
  const fail = (output: string): ProbeOutcome => ({ result: 'failure', output });
  const ok: ProbeOutcome = { result: 'success', output: '' };
  const at = (kind: ProbeKind) => calls.filter((c) => c.kind === kind).map((c) => c.at / 1000);
  const events = () => recorder.events.map((e) => `${e.reason}: ${e.message}`);
  return { clock, m, p, recorder, kills, changes, script, calls, run, fail, ok, at, events };
}

test('probe defaults are the Kubernetes ones', () => {
  assert.deepEqual(probeTiming({}, 'readiness'), { initialDelaySeconds: 0, periodSeconds: 10, timeoutSeconds: 1, successThreshold: 1, failureThreshold: 3 });
  assert.deepEqual(probeTiming({ initialDelaySeconds: 5, periodSeconds: 2, timeoutSeconds: 3, successThreshold: 2, failureThreshold: 1 }, 'readiness'), {
    initialDelaySeconds: 5,
    periodSeconds: 2,
    timeoutSeconds: 3,
    successThreshold: 2,
    failureThreshold: 1,
  });
  // liveness and startup succeed once
  assert.equal(probeTiming({ successThreshold: 3 }, 'liveness').successThreshold, 1);
});

test('readiness: false until the first success after initialDelaySeconds, then every periodSeconds; 3 failures flip it back', async () => {
  const s = setup([{ name: 'web', image: 'x', readinessProbe: httpProbe({ initialDelaySeconds: 5 }) }]);
  s.m.start(s.p, 'web', 'c1');
  assert.equal(s.m.readiness(UID, 'web'), false);
  assert.equal(s.m.started(UID, 'web'), true);
  await s.run(4_999);
  assert.deepEqual(s.at('readiness'), []);
  await s.run(1);
  assert.deepEqual(s.at('readiness'), [5]);
  assert.equal(s.m.readiness(UID, 'web'), true);
  assert.deepEqual(s.changes, [5000]);

  s.script.readiness.push(s.fail('HTTP probe failed with statuscode: 500'), s.fail('HTTP probe failed with statuscode: 500'), s.fail('HTTP probe failed with statuscode: 500'));
  await s.run(20_000); // t=15, 25: two failures, still ready
  assert.deepEqual(s.at('readiness'), [5, 15, 25]);
  assert.equal(s.m.readiness(UID, 'web'), true);
  await s.run(10_000); // t=35: third failure
  assert.equal(s.m.readiness(UID, 'web'), false);
  assert.deepEqual(s.changes, [5000, 35000]);
  assert.deepEqual(s.events(), Array(3).fill('Unhealthy: Readiness probe failed: HTTP probe failed with statuscode: 500'));
  assert.equal(s.recorder.events[0]!.target.fieldPath, 'spec.containers{web}');
  assert.equal(s.recorder.events[0]!.type, 'Warning');
  // one success makes it ready again (successThreshold 1)
  await s.run(10_000);
  assert.equal(s.m.readiness(UID, 'web'), true);
  assert.equal(s.kills.length, 0, 'readiness never restarts a container');
});

test('readiness with successThreshold 2 needs two successes in a row', async () => {
  const s = setup([{ name: 'web', image: 'x', readinessProbe: httpProbe({ periodSeconds: 1, successThreshold: 2, failureThreshold: 1 }) }]);
  s.script.readiness.push(s.ok, s.fail('x'), s.ok, s.ok, s.fail('y'));
  s.m.start(s.p, 'web', 'c1');
  const seen: (boolean | undefined)[] = [];
  for (let i = 0; i < 5; i++) {
    await s.run(i === 0 ? 0 : 1000);
    seen.push(s.m.readiness(UID, 'web'));
  }
  assert.deepEqual(seen, [false, false, false, true, false]);
});

// failureThreshold table: the probe results in order → the attempt (1-based) at which the container is restarted.
const livenessTable: { name: string; threshold?: number; results: ('ok' | 'fail')[]; killAt: number | null }[] = [
  { name: 'default threshold 3: three failures', results: ['fail', 'fail', 'fail'], killAt: 3 },
  { name: 'a success in between resets the count', results: ['fail', 'fail', 'ok', 'fail', 'fail', 'ok'], killAt: null },
  { name: 'threshold 1: first failure', threshold: 1, results: ['ok', 'fail'], killAt: 2 },
  { name: 'threshold 5', threshold: 5, results: ['fail', 'fail', 'fail', 'fail', 'ok', 'fail', 'fail', 'fail', 'fail', 'fail'], killAt: 10 },
];
for (const row of livenessTable) {
  test(`liveness failureThreshold: ${row.name}`, async () => {
    const s = setup([{ name: 'web', image: 'x', livenessProbe: httpProbe({ periodSeconds: 2, failureThreshold: row.threshold }) }]);
    for (const r of row.results) s.script.liveness.push(r === 'ok' ? s.ok : s.fail('dial tcp 10.244.0.5:8080: connect: connection refused'));
    s.m.start(s.p, 'web', 'c1');
    await s.run((row.results.length + 3) * 2000);
    if (row.killAt === null) {
      assert.deepEqual(s.kills, []);
      return;
    }
    assert.deepEqual(s.kills, [{ uid: UID, name: 'web', id: 'c1', message: 'Container web failed liveness probe, will be restarted' }]);
    // the probe stops at the kill: no attempt after it for this container
    assert.equal(s.at('liveness').length, row.killAt);
    assert.equal(s.at('liveness').at(-1), (row.killAt - 1) * 2);
    assert.equal(s.events().at(-1), 'Unhealthy: Liveness probe failed: dial tcp 10.244.0.5:8080: connect: connection refused');
  });
}

test('startup probe gates liveness and readiness; readiness runs at once when it succeeds', async () => {
  const s = setup([
    {
      name: 'web',
      image: 'x',
      startupProbe: httpProbe({ periodSeconds: 1, failureThreshold: 30 }),
      livenessProbe: httpProbe({ periodSeconds: 10 }),
      readinessProbe: httpProbe({ periodSeconds: 10 }),
    },
  ]);
  s.script.startup.push(s.fail('not yet'), s.fail('not yet'), s.ok);
  s.m.start(s.p, 'web', 'c1');
  assert.equal(s.m.started(UID, 'web'), false);
  assert.equal(s.m.readiness(UID, 'web'), false);
  await s.run(1500);
  assert.equal(s.m.started(UID, 'web'), false);
  assert.deepEqual(s.at('liveness'), []);
  assert.deepEqual(s.at('readiness'), []);
  await s.run(1000); // t=2: startup succeeds
  assert.equal(s.m.started(UID, 'web'), true);
  assert.deepEqual(s.at('startup'), [0, 1, 2]);
  assert.deepEqual(s.at('readiness'), [2], 'readiness is probed right after startup succeeded');
  assert.equal(s.m.readiness(UID, 'web'), true);
  await s.run(20_000);
  assert.deepEqual(s.at('startup'), [0, 1, 2], 'the startup probe stops after success');
  assert.deepEqual(s.at('liveness'), [10, 20]);
  assert.deepEqual(s.events(), ['Unhealthy: Startup probe failed: not yet', 'Unhealthy: Startup probe failed: not yet']);
});

test('a startup probe that never succeeds restarts the container after failureThreshold attempts', async () => {
  const s = setup([{ name: 'web', image: 'x', startupProbe: httpProbe({ periodSeconds: 5, failureThreshold: 2 }), livenessProbe: httpProbe() }]);
  s.script.startup.push(s.fail('HTTP probe failed with statuscode: 503'), s.fail('HTTP probe failed with statuscode: 503'));
  s.m.start(s.p, 'web', 'c1');
  await s.run(30_000);
  assert.deepEqual(s.kills.map((k) => k.message), ['Container web failed startup probe, will be restarted']);
  assert.deepEqual(s.at('startup'), [0, 5]);
  assert.deepEqual(s.at('liveness'), []);
  assert.equal(s.m.started(UID, 'web'), false);
});

test('a probe that cannot run records "errored" and does not count toward the thresholds', async () => {
  const s = setup([{ name: 'web', image: 'x', livenessProbe: httpProbe({ periodSeconds: 1, failureThreshold: 2 }) }]);
  s.script.liveness.push(s.fail('a'), { result: 'unknown', output: 'port http not found' }, s.ok, s.fail('b'), { result: 'unknown', output: 'port http not found' }, s.fail('c'));
  s.m.start(s.p, 'web', 'c1');
  await s.run(4_500);
  assert.deepEqual(s.kills, []);
  await s.run(1_000);
  assert.equal(s.kills.length, 1);
  assert.deepEqual(s.events(), [
    'Unhealthy: Liveness probe failed: a',
    'Unhealthy: Liveness probe errored and resulted in unknown state: port http not found',
    'Unhealthy: Liveness probe failed: b',
    'Unhealthy: Liveness probe errored and resulted in unknown state: port http not found',
    'Unhealthy: Liveness probe failed: c',
  ]);
});

test('a warning (redirect to another host) counts as success and records ProbeWarning', async () => {
  const s = setup([{ name: 'web', image: 'x', readinessProbe: httpProbe() }]);
  s.script.readiness.push({ result: 'warning', output: 'Probe terminated redirects, Response body: moved' });
  s.m.start(s.p, 'web', 'c1');
  await s.run(0);
  assert.equal(s.m.readiness(UID, 'web'), true);
  assert.deepEqual(s.events(), ['ProbeWarning: Readiness probe warning: Probe terminated redirects, Response body: moved']);
});

test('start is idempotent per container id; a new id replaces the probes and their results; stop drops them', async () => {
  const s = setup([{ name: 'web', image: 'x', readinessProbe: httpProbe() }]);
  s.m.start(s.p, 'web', 'c1');
  await s.run(0);
  assert.equal(s.m.readiness(UID, 'web'), true);
  s.m.start(s.p, 'web', 'c1');
  await s.run(0);
  assert.equal(s.at('readiness').length, 1, 'no second worker');
  s.m.start(s.p, 'web', 'c2');
  assert.equal(s.m.readiness(UID, 'web'), false, 'a new container starts unready');
  await s.run(0);
  assert.equal(s.m.readiness(UID, 'web'), true);
  assert.equal(s.at('readiness').length, 2);
  s.m.stop(UID, 'web');
  assert.equal(s.m.readiness(UID, 'web'), undefined);
  assert.equal(s.m.started(UID, 'web'), undefined);
  await s.run(60_000);
  assert.equal(s.at('readiness').length, 2, 'no probing after stop');
  assert.equal(s.clock.pending(), 0);
});

test('after a liveness kill only the new container is probed', async () => {
  const s = setup([{ name: 'web', image: 'x', livenessProbe: httpProbe({ periodSeconds: 1, failureThreshold: 1 }) }]);
  s.script.liveness.push(s.fail('boom'));
  s.m.start(s.p, 'web', 'c1');
  await s.run(5_000);
  assert.equal(s.kills.length, 1);
  assert.equal(s.at('liveness').length, 1);
  s.m.start(s.p, 'web', 'c2');
  await s.run(2_500);
  assert.equal(s.at('liveness').length, 4);
  assert.equal(s.kills.length, 1);
});

test('containers without probes are ready and started; unknown containers are undefined; removePod and close', async () => {
  const s = setup([{ name: 'web', image: 'x' }, { name: 'side', image: 'x', readinessProbe: httpProbe() }]);
  assert.equal(s.m.readiness(UID, 'web'), undefined);
  s.m.start(s.p, 'web', 'c1');
  s.m.start(s.p, 'side', 'c2');
  assert.equal(s.m.readiness(UID, 'web'), true);
  assert.equal(s.m.started(UID, 'web'), true);
  assert.equal(s.m.size, 2);
  s.m.removePod(UID);
  assert.equal(s.m.size, 0);
  assert.equal(s.m.readiness(UID, 'side'), undefined);
  s.m.start(s.p, 'side', 'c3');
  await s.m.close();
  assert.equal(s.m.size, 0);
  assert.equal(s.clock.pending(), 0);
  s.m.start(s.p, 'side', 'c4');
  assert.equal(s.m.size, 0, 'a closed manager starts nothing');
});

test('an adopted container (started long ago) is probed at once, not after initialDelaySeconds', async () => {
  const clockStart = 1_000_000;
  const startedAt = new Date(clockStart - 3_600_000).toISOString();
  const s = setup([{ name: 'web', image: 'x', readinessProbe: httpProbe({ initialDelaySeconds: 30 }) }], {
    containerStatuses: [{ name: 'web', image: 'x', imageID: '', ready: false, restartCount: 0, containerID: 'containerd://c1', state: { running: { startedAt } } }],
  });
  s.m.start(s.p, 'web', 'c1');
  await s.run(0);
  assert.deepEqual(s.at('readiness'), [0]);
  assert.equal(s.m.readiness(UID, 'web'), true);
});
