// Acting on a stale cache. A controller decides from its informers' caches, which lag behind
// its own writes; a round started before the watch delivered the previous round's writes would
// act on what is no longer true (create a pod twice, count a deleted pod as available). The
// remedy, as Kubernetes' expectations: remember the resourceVersion each write returned and
// wait until the caches have caught up with it. resourceVersions are the store's global
// revision, so a cache has seen a write once its resourceVersion is at least the write's.
// A write the caches never show (an object deleted meanwhile) stops being waited for after ttlMs.
import type { KubeObject } from '../../registry/types.ts';

/** How long a write is waited for in the caches before acting regardless. */
export const EXPECTATION_TTL_MS = 10_000;

/** The numeric value of a resourceVersion, or undefined when it is not a number. */
export function rvNumber(rv: string | undefined): bigint | undefined {
  return rv && /^[0-9]+$/.test(rv) ? BigInt(rv) : undefined;
}

/** What a cache says about how far it has read: an informer. */
export interface SyncedCache {
  lastSyncResourceVersion(): string;
}

/**
 * Writes of a controller per owner key (a set, a service): per cache, the newest
 * resourceVersion written; the owner's next round waits until every cache has reached it.
 */
export class WriteExpectations {
  private readonly byOwner = new Map<string, Map<SyncedCache, { rv: bigint; at: number }>>();

  constructor(
    private readonly now: () => number,
    private readonly ttlMs = EXPECTATION_TTL_MS,
  ) {}

  /** Note a write made for owner; cache is the informer that will show it (none: not waited for). */
  expect(owner: string, cache: SyncedCache | undefined, written: KubeObject | undefined): void {
    const rv = rvNumber(written?.metadata?.resourceVersion);
    if (rv === undefined || !cache) return;
    let m = this.byOwner.get(owner);
    if (!m) this.byOwner.set(owner, (m = new Map()));
    const cur = m.get(cache);
    if (!cur || cur.rv < rv) m.set(cache, { rv, at: this.now() });
  }

  /** Whether the caches have seen every write noted for owner (or given up waiting). */
  caughtUp(owner: string): boolean {
    const m = this.byOwner.get(owner);
    if (!m) return true;
    const now = this.now();
    for (const [cache, e] of m) {
      const seen = rvNumber(cache.lastSyncResourceVersion()) ?? 0n;
      if (seen >= e.rv || now - e.at > this.ttlMs) m.delete(cache);
    }
    if (m.size === 0) this.byOwner.delete(owner);
    return m.size === 0;
  }

  forget(owner: string): void {
    this.byOwner.delete(owner);
  }
}

/**
 * This controller's last write of each object (by a key of the caller's choosing): the cached
 * copy is behind while its resourceVersion is older than the write's.
 */
export class ObjectWrites {
  private readonly written = new Map<string, { rv: bigint; at: number }>();

  constructor(
    private readonly now: () => number,
    private readonly ttlMs = EXPECTATION_TTL_MS,
  ) {}

  note(key: string, written: KubeObject | undefined): void {
    const rv = rvNumber(written?.metadata.resourceVersion);
    if (rv !== undefined) this.written.set(key, { rv, at: this.now() });
  }

  /** The cached copy has not caught up with this controller's last write of the object. */
  behind(key: string, cached: KubeObject): boolean {
    const w = this.written.get(key);
    if (!w) return false;
    const seen = rvNumber(cached.metadata.resourceVersion) ?? 0n;
    if (seen >= w.rv || this.now() - w.at > this.ttlMs) {
      this.written.delete(key);
      return false;
    }
    return true;
  }

  /** Forget writes older than the TTL. */
  prune(): void {
    const now = this.now();
    for (const [k, w] of this.written) if (now - w.at > this.ttlMs) this.written.delete(k);
  }
}
