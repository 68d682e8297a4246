// Leader election on a Lease through a real API server, with short durations (lease 1 s,
// renew deadline 0.6 s, retry 0.15 s).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type TestServer } from '../support/apiserver.ts';
import { KubeClient } from '../../src/client/rest.ts';
import { LeaderElector, LEASES, microTime, type Lease, type LeaseClient, type LeaderElectionOptions } from '../../src/client/leaderelection.ts';

const TIMING = { leaseDurationMs: 1000, renewDeadlineMs: 600, retryPeriodMs: 150 };

async function eventually(what: string, fn: () => boolean, timeoutMs = 5000): Promise<number> {
  const start = Date.now();
  while (!fn()) {
    if (Date.now() - start > timeoutMs) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
  return Date.now() - start;
}

interface Candidate {
  elector: LeaderElector;
  started: number;
  stopped: number;
  signals: AbortSignal[];
  leaders: string[];
}

describe('LeaderElector', () => {
  let s: TestServer;
  let client: KubeClient;
  const electors: LeaderElector[] = [];

  function candidate(lease: string, identity: string, extra: Partial<LeaderElectionOptions> = {}): Candidate {
    const c: Candidate = { elector: null as unknown as LeaderElector, started: 0, stopped: 0, signals: [], leaders: [] };
    c.elector = new LeaderElector({
      client,
      name: lease,
      identity,
      ...TIMING,
      onStartedLeading: (signal) => {
        c.started++;
        c.signals.push(signal);
      },
      onStoppedLeading: () => c.stopped++,
      onNewLeader: (id) => c.leaders.push(id),
      ...extra,
    });
    electors.push(c.elector);
    return c;
  }

  const getLease = (name: string) => client.get<Lease>(LEASES, 'kube-system', name);

  before(async () => {
    s = await startTestServer();
    client = new KubeClient({ server: s.url, ca: s.ca, token: s.token });
  });
  after(async () => {
    await Promise.all(electors.map((e) => e.stop()));
    client.close();
    await s.stop();
  });

  it('checks its timing options', () => {
    const base = { client, name: 'x', identity: 'a', onStartedLeading: () => {} };
    assert.throws(() => new LeaderElector({ ...base, leaseDurationMs: 1000, renewDeadlineMs: 1000, retryPeriodMs: 100 }), /leaseDuration must be greater than renewDeadline/);
    assert.throws(() => new LeaderElector({ ...base, leaseDurationMs: 1000, renewDeadlineMs: 500, retryPeriodMs: 500 }), /renewDeadline must be greater than retryPeriod/);
    assert.equal(microTime(Date.UTC(2024, 0, 2, 3, 4, 5, 678)), '2024-01-02T03:04:05.678000Z');
  });

  it('two candidates on one Lease: exactly one leads, and the Lease says who', async () => {
    const a = candidate('pair', 'cand-a');
    const b = candidate('pair', 'cand-b');
    a.elector.start();
    b.elector.start();
    await eventually('a leader', () => a.elector.isLeader() || b.elector.isLeader());
    // Several renewals later there is still exactly one leader, and it has not changed.
    const first = a.elector.isLeader() ? a : b;
    const other = first === a ? b : a;
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(first.elector.isLeader(), true);
    assert.equal(other.elector.isLeader(), false);
    assert.equal(first.started, 1);
    assert.equal(other.started, 0);
    const lease = await getLease('pair');
    const id = first === a ? 'cand-a' : 'cand-b';
    assert.equal(lease.spec?.holderIdentity, id);
    assert.equal(lease.spec?.leaseDurationSeconds, 1);
    assert.equal(lease.spec?.leaseTransitions, 0);
    assert.match(String(lease.spec?.renewTime), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    assert.ok(Date.parse(String(lease.spec?.renewTime)) > Date.parse(String(lease.spec?.acquireTime)), 'the leader renews');
    assert.equal(other.elector.getLeader(), id);
    assert.deepEqual(other.leaders, [id]);
  });

  it('a leader that stops releases the Lease; the other takes over at once', async () => {
    const a = candidate('handover', 'first');
    a.elector.start();
    await eventually('first leads', () => a.elector.isLeader());
    const b = candidate('handover', 'second');
    b.elector.start();
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(b.elector.isLeader(), false);
    await a.elector.stop();
    assert.equal(a.stopped, 1);
    assert.equal(a.signals[0].aborted, true, 'the leading work is told to stop');
    const took = await eventually('second leads', () => b.elector.isLeader());
    assert.ok(took < 800, `took ${took} ms, expected about one retry period`);
    const lease = await getLease('handover');
    assert.equal(lease.spec?.holderIdentity, 'second');
    assert.equal(lease.spec?.leaseTransitions, 1);
  });

  it('a leader that dies without releasing is replaced once the Lease expires', async () => {
    const a = candidate('crash', 'crashes', { releaseOnStop: false });
    a.elector.start();
    await eventually('crashes leads', () => a.elector.isLeader());
    const b = candidate('crash', 'survivor');
    b.elector.start();
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(b.elector.isLeader(), false);
    const t0 = Date.now();
    await a.elector.stop(); // stops renewing, leaves holderIdentity as it is
    assert.equal((await getLease('crash')).spec?.holderIdentity, 'crashes');
    await eventually('survivor leads', () => b.elector.isLeader(), 4000);
    const took = Date.now() - t0;
    // The survivor waits a lease duration from the last renewal it saw (≤ one retry period before the stop).
    assert.ok(took >= TIMING.leaseDurationMs - TIMING.retryPeriodMs - 100, `took over after only ${took} ms`);
    assert.ok(took <= TIMING.leaseDurationMs + 3 * TIMING.retryPeriodMs + 600, `took ${took} ms`);
    assert.equal((await getLease('crash')).spec?.holderIdentity, 'survivor');
  });

  it('a leader that cannot renew within the renew deadline stops leading', async () => {
    let down = false;
    const flaky: LeaseClient = {
      get: (...args) => (down ? Promise.reject(new Error('connection refused')) : client.get(...args)),
      create: (...args) => (down ? Promise.reject(new Error('connection refused')) : client.create(...args)),
      update: (...args) => (down ? Promise.reject(new Error('connection refused')) : client.update(...args)),
    } as LeaseClient;
    const a = candidate('deadline', 'cut-off', { client: flaky, reacquire: false });
    const done = a.elector.run();
    await eventually('cut-off leads', () => a.elector.isLeader());
    const t0 = Date.now();
    down = true;
    await eventually('cut-off gives up', () => !a.elector.isLeader(), 3000);
    const took = Date.now() - t0;
    assert.ok(took <= TIMING.retryPeriodMs + TIMING.renewDeadlineMs + 200, `gave up after ${took} ms`);
    assert.ok(took < TIMING.leaseDurationMs, 'before anyone else could take the lease');
    assert.equal(a.stopped, 1);
    assert.equal(a.signals[0].aborted, true);
    await done; // reacquire: false → run() returns after losing
  });

  it('a leader whose Lease is taken over steps down, and takes it back when the other lapses', async () => {
    const a = candidate('stolen', 'owner');
    a.elector.start();
    await eventually('owner leads', () => a.elector.isLeader());
    const lease = await getLease('stolen');
    const now = Date.now();
    await client.update(LEASES, { ...lease, spec: { ...lease.spec, holderIdentity: 'intruder', renewTime: microTime(now), acquireTime: microTime(now), leaseTransitions: 1 } });
    await eventually('owner steps down', () => !a.elector.isLeader(), 2000);
    assert.equal(a.stopped, 1);
    assert.equal(a.elector.getLeader(), 'intruder');
    // The intruder never renews: after a lease duration the owner leads again.
    await eventually('owner leads again', () => a.elector.isLeader(), 3000);
    assert.equal(a.started, 2);
    assert.equal(a.signals[1].aborted, false);
    assert.deepEqual(a.leaders, ['owner', 'intruder', 'owner']);
    const after = await getLease('stolen');
    assert.equal(after.spec?.holderIdentity, 'owner');
    assert.equal(after.spec?.leaseTransitions, 2);
  });
});
