// Leader election on a coordination.k8s.io/v1 Lease, as client-go's leaderelection package does
// it, so that several kennel servers sharing one etcd run each controller exactly once.
//
// - A candidate takes the Lease when it is absent, released (empty holderIdentity) or expired.
//   Expiry is judged by the candidate's own clock: the Lease is expired when it has not changed
//   for leaseDurationSeconds since this candidate last saw it change — never by comparing the
//   holder's renewTime with the local clock, so clock skew between machines does not matter.
// - The leader renews every retryPeriod; if it cannot renew within renewDeadline it stops
//   leading (onStoppedLeading, and the signal given to onStartedLeading aborts) — before its
//   Lease can expire for the others, since renewDeadline < leaseDuration.
// - Every write carries the resourceVersion read, so two candidates cannot both win.
// - stop() releases the Lease (clears holderIdentity) so another candidate takes over at once.
import type { KubeObject } from '../registry/types.ts';
import { isAlreadyExists, isConflict, isNotFound, type KubeClient, type ResourceRef } from './rest.ts';
import { realClock, sleep, type Clock } from './clock.ts';
import type { Logger } from '../util/log.ts';

export const LEASES: ResourceRef = { group: 'coordination.k8s.io', version: 'v1', plural: 'leases', namespaced: true, kind: 'Lease' };

export interface LeaseSpec {
  holderIdentity?: string | null;
  leaseDurationSeconds?: number | null;
  acquireTime?: string | null;
  renewTime?: string | null;
  leaseTransitions?: number | null;
  [key: string]: unknown;
}

export interface Lease extends KubeObject {
  spec?: LeaseSpec;
}

/** The calls leader election makes (a KubeClient has them). */
export type LeaseClient = Pick<KubeClient, 'get' | 'create' | 'update'>;

export interface LeaderElectionOptions {
  client: LeaseClient;
  /** Lease name, one per controller group (e.g. `kennel-controller-manager`). */
  name: string;
  /** Default kube-system. */
  namespace?: string;
  /** This candidate's unique identity (e.g. hostname + random suffix). */
  identity: string;
  /** How long others wait before taking an unrenewed Lease (default 15 s; whole seconds on the Lease). */
  leaseDurationMs?: number;
  /** The leader gives up if it cannot renew for this long (default 10 s; < leaseDuration). */
  renewDeadlineMs?: number;
  /** Time between attempts to acquire or renew (default 2 s; < renewDeadline). */
  retryPeriodMs?: number;
  /** Clear the holder on stop() so another candidate takes over at once (default true). */
  releaseOnStop?: boolean;
  /** After losing the lease, try to acquire it again (default true); false: run() returns. */
  reacquire?: boolean;
  /** Became leader: start the work; `signal` aborts when leadership is lost or on stop(). */
  onStartedLeading(signal: AbortSignal): void | Promise<void>;
  /** Stopped leading (lost the lease, or stop()). */
  onStoppedLeading?(): void;
  /** The observed leader changed (called with the new holder's identity, possibly ourselves). */
  onNewLeader?(identity: string): void;
  clock?: Clock;
  logger?: Logger;
  /** Jitter source in [0,1) (default Math.random). */
  random?: () => number;
}

/** Kubernetes MicroTime: RFC 3339 with microseconds. */
export function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

function recordOf(lease: Lease | null): LeaseSpec {
  return lease?.spec ?? {};
}

function sameRecord(a: LeaseSpec, b: LeaseSpec): boolean {
  return (
    (a.holderIdentity ?? '') === (b.holderIdentity ?? '') &&
    (a.leaseDurationSeconds ?? 0) === (b.leaseDurationSeconds ?? 0) &&
    (a.acquireTime ?? '') === (b.acquireTime ?? '') &&
    (a.renewTime ?? '') === (b.renewTime ?? '') &&
    (a.leaseTransitions ?? 0) === (b.leaseTransitions ?? 0)
  );
}

export class LeaderElector {
  private readonly o: Required<Pick<LeaderElectionOptions, 'namespace' | 'leaseDurationMs' | 'renewDeadlineMs' | 'retryPeriodMs' | 'releaseOnStop' | 'reacquire'>> & LeaderElectionOptions;
  private readonly clock: Clock;
  private readonly random: () => number;
  private readonly stopCtl = new AbortController();
  private leading = false;
  private leadCtl: AbortController | null = null;
  /** The Lease as last read or written, and when (local clock) its record last changed. */
  private observed: Lease | null = null;
  private observedTime = 0;
  private lastLeader: string | undefined;
  private loop: Promise<void> | null = null;
  private lastRenew = 0;

  constructor(opts: LeaderElectionOptions) {
    this.o = {
      namespace: 'kube-system',
      leaseDurationMs: 15_000,
      renewDeadlineMs: 10_000,
      retryPeriodMs: 2_000,
      releaseOnStop: true,
      reacquire: true,
      ...opts,
    };
    const { leaseDurationMs, renewDeadlineMs, retryPeriodMs } = this.o;
    if (!(leaseDurationMs > renewDeadlineMs)) throw new Error('leaseDuration must be greater than renewDeadline');
    if (!(renewDeadlineMs > retryPeriodMs)) throw new Error('renewDeadline must be greater than retryPeriod');
    if (retryPeriodMs <= 0) throw new Error('retryPeriod must be positive');
    if (!opts.identity) throw new Error('leader election needs an identity');
    this.clock = opts.clock ?? realClock;
    this.random = opts.random ?? Math.random;
  }

  /** Whether this candidate currently leads. */
  isLeader(): boolean {
    return this.leading;
  }

  /** The holder of the Lease as last observed ('' or undefined when none). */
  getLeader(): string | undefined {
    return this.observed?.spec?.holderIdentity ?? undefined;
  }

  /** Start campaigning in the background. */
  start(): void {
    if (!this.loop) this.loop = this.run();
  }

  /**
   * Campaign until stop() (or, with reacquire false, until leadership is lost). Resolves when
   * done; the same promise start() keeps.
   */
  run(): Promise<void> {
    if (this.loop) return this.loop;
    this.loop = (async () => {
      const stop = this.stopCtl.signal;
      while (!stop.aborted) {
        const acquired = await this.acquire();
        if (!acquired) break;
        this.becomeLeader();
        await this.renewLoop();
        const released = stop.aborted && this.o.releaseOnStop ? await this.release() : false;
        this.loseLeadership(released ? 'released' : 'lost');
        if (!this.o.reacquire) break;
      }
    })();
    return this.loop;
  }

  /** Stop campaigning; a leader stops leading and (by default) releases the Lease. */
  async stop(): Promise<void> {
    this.stopCtl.abort(new Error('leader election stopped'));
    await this.loop;
  }

  // -- the campaign

  private async acquire(): Promise<boolean> {
    const stop = this.stopCtl.signal;
    while (!stop.aborted) {
      if (await this.tryAcquireOrRenew()) return true;
      try {
        await sleep(this.clock, this.o.retryPeriodMs * (1 + 0.2 * this.random()), stop);
      } catch {
        return false;
      }
    }
    return false;
  }

  /** Renew every retryPeriod until stop() or until renewDeadline passes without a renewal. */
  private async renewLoop(): Promise<void> {
    const stop = this.stopCtl.signal;
    this.lastRenew = this.clock.now();
    while (!stop.aborted) {
      try {
        await sleep(this.clock, this.o.retryPeriodMs, stop);
      } catch {
        return;
      }
      for (;;) {
        const remaining = this.lastRenew + this.o.renewDeadlineMs - this.clock.now();
        if (remaining <= 0) {
          this.o.logger?.warn('failed to renew the lease in time; giving up leadership', { lease: this.o.name, identity: this.o.identity });
          return;
        }
        const ok = await this.withTimeout(this.tryAcquireOrRenew(), remaining);
        if (stop.aborted) return;
        if (ok) {
          this.lastRenew = this.clock.now();
          break;
        }
        if (this.heldByOther()) {
          // Someone else holds it now (we must have been out for longer than the lease): stop.
          this.o.logger?.warn('the lease was taken by another candidate', { lease: this.o.name, holder: this.getLeader() });
          return;
        }
        try {
          await sleep(this.clock, Math.min(this.o.retryPeriodMs, Math.max(1, this.lastRenew + this.o.renewDeadlineMs - this.clock.now())), stop);
        } catch {
          return;
        }
      }
    }
  }

  private heldByOther(): boolean {
    const h = this.observed?.spec?.holderIdentity ?? '';
    return h !== '' && h !== this.o.identity;
  }

  private async withTimeout(p: Promise<boolean>, ms: number): Promise<boolean> {
    let handle: ReturnType<Clock['setTimeout']> | null = null;
    const timeout = new Promise<boolean>((resolve) => {
      handle = this.clock.setTimeout(() => resolve(false), ms);
    });
    try {
      return await Promise.race([p, timeout]);
    } finally {
      if (handle) this.clock.clearTimeout(handle);
    }
  }

  /** One attempt to take or keep the Lease. */
  private async tryAcquireOrRenew(): Promise<boolean> {
    const { client, namespace, name, identity } = this.o;
    const durationSeconds = Math.max(1, Math.round(this.o.leaseDurationMs / 1000));
    const now = this.clock.now();
    let current: Lease | null;
    try {
      current = await client.get<Lease>(LEASES, namespace, name, { timeoutMs: this.o.renewDeadlineMs });
    } catch (e) {
      if (!isNotFound(e)) {
        this.o.logger?.info('cannot read the lease', { lease: name, error: e instanceof Error ? e.message : String(e) });
        return false;
      }
      current = null;
    }

    if (!current) {
      const lease: Lease = {
        apiVersion: 'coordination.k8s.io/v1',
        kind: 'Lease',
        metadata: { name, namespace },
        spec: { holderIdentity: identity, leaseDurationSeconds: durationSeconds, acquireTime: microTime(now), renewTime: microTime(now), leaseTransitions: 0 },
      };
      try {
        const created = await client.create<Lease>(LEASES, lease, { timeoutMs: this.o.renewDeadlineMs });
        this.observe(created, this.clock.now());
        return true;
      } catch (e) {
        if (!isAlreadyExists(e)) this.o.logger?.info('cannot create the lease', { lease: name, error: e instanceof Error ? e.message : String(e) });
        return false;
      }
    }

    const rec = recordOf(current);
    if (!this.observed || !sameRecord(recordOf(this.observed), rec)) this.observe(current, now);
    else this.observed = current;
    const holder = rec.holderIdentity ?? '';
    const leaseMs = (rec.leaseDurationSeconds ?? durationSeconds) * 1000;
    if (holder !== '' && holder !== identity && this.observedTime + leaseMs > now) return false;

    const mine = holder === identity;
    const spec: LeaseSpec = {
      ...rec,
      holderIdentity: identity,
      leaseDurationSeconds: durationSeconds,
      acquireTime: mine && rec.acquireTime ? rec.acquireTime : microTime(now),
      renewTime: microTime(now),
      leaseTransitions: mine ? (rec.leaseTransitions ?? 0) : (rec.leaseTransitions ?? 0) + 1,
    };
    const next: Lease = { ...current, metadata: { ...current.metadata }, spec };
    try {
      const updated = await client.update<Lease>(LEASES, next, { timeoutMs: this.o.renewDeadlineMs });
      this.observe(updated, this.clock.now());
      return true;
    } catch (e) {
      if (!isConflict(e)) this.o.logger?.info('cannot update the lease', { lease: name, error: e instanceof Error ? e.message : String(e) });
      return false;
    }
  }

  /** Give the Lease up: empty holder, so the others need not wait for it to expire. */
  private async release(): Promise<boolean> {
    const cur = this.observed;
    if (!cur || (cur.spec?.holderIdentity ?? '') !== this.o.identity) return false;
    const now = this.clock.now();
    const spec: LeaseSpec = { ...cur.spec, holderIdentity: '', leaseDurationSeconds: 1, acquireTime: microTime(now), renewTime: microTime(now) };
    // An empty holder fails some validators; Kubernetes accepts it (it is optional).
    try {
      const updated = await this.o.client.update<Lease>(LEASES, { ...cur, metadata: { ...cur.metadata }, spec }, { timeoutMs: this.o.renewDeadlineMs });
      this.observe(updated, this.clock.now());
      return true;
    } catch (e) {
      this.o.logger?.info('cannot release the lease', { lease: this.o.name, error: e instanceof Error ? e.message : String(e) });
      return false;
    }
  }

  private observe(lease: Lease, at: number): void {
    this.observed = lease;
    this.observedTime = at;
    const holder = lease.spec?.holderIdentity ?? '';
    if (holder && holder !== this.lastLeader) {
      this.lastLeader = holder;
      try {
        this.o.onNewLeader?.(holder);
      } catch (e) {
        this.o.logger?.error('onNewLeader failed', { error: String(e) });
      }
    }
  }

  private becomeLeader(): void {
    this.leading = true;
    this.leadCtl = new AbortController();
    this.o.logger?.info('became leader', { lease: this.o.name, identity: this.o.identity });
    const signal = this.leadCtl.signal;
    void Promise.resolve()
      .then(() => this.o.onStartedLeading(signal))
      .catch((e) => this.o.logger?.error('onStartedLeading failed', { lease: this.o.name, error: e instanceof Error ? (e.stack ?? e.message) : String(e) }));
  }

  private loseLeadership(why: 'released' | 'lost'): void {
    if (!this.leading) return;
    this.leading = false;
    this.leadCtl?.abort(new Error(`leadership of ${this.o.name} ${why}`));
    this.leadCtl = null;
    this.o.logger?.info('stopped leading', { lease: this.o.name, identity: this.o.identity, why });
    try {
      this.o.onStoppedLeading?.();
    } catch (e) {
      this.o.logger?.error('onStoppedLeading failed', { error: String(e) });
    }
  }
}
