// Pod benchmarks' clock: one watch on the pods of a namespace (optionally a label selector),
// remembering when each pod first reached a state (Running, Ready) and resolving waiters then.
import type { KubeClient, ResourceRef } from '../../src/client/rest.ts';
import type { KubeObject } from '../../src/registry/types.ts';
import { nowMs } from './stats.ts';

export const PODS: ResourceRef = { group: '', version: 'v1', plural: 'pods', namespaced: true, kind: 'Pod' };

interface PodLike extends KubeObject {
  spec?: { nodeName?: string };
  status?: { phase?: string; conditions?: { type: string; status: string }[] };
}

/** Scheduled: bound to a node (spec.nodeName); Running: phase; Ready: the Ready condition. */
export type PodMilestone = 'Scheduled' | 'Running' | 'Ready';

function reached(p: PodLike, m: PodMilestone): boolean {
  if (m === 'Scheduled') return !!p.spec?.nodeName;
  if (m === 'Running') return p.status?.phase === 'Running';
  return p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
}

export class PodWatch {
  /** name → when (nowMs) each milestone was first seen. */
  readonly seen = new Map<string, Partial<Record<PodMilestone, number>>>();
  private readonly waiters = new Map<string, { m: PodMilestone; resolve: (t: number) => void }[]>();
  private readonly counts: Record<PodMilestone, number> = { Scheduled: 0, Running: 0, Ready: 0 };
  private countWaiters: { m: PodMilestone; n: number; resolve: (t: number) => void }[] = [];
  /** ADDED and MODIFIED events seen (each one write to the pod). */
  events = 0;
  private handle: { abort(): void } | undefined;
  private error: Error | undefined;

  constructor(
    private readonly client: KubeClient,
    private readonly namespace: string,
    private readonly labelSelector?: string,
  ) {}

  /** Start watching from the current state (a list, then a watch from its resourceVersion). */
  async start(): Promise<void> {
    const list = await this.client.list<PodLike>(PODS, this.namespace, { labelSelector: this.labelSelector });
    for (const p of list.items) this.observe(p);
    this.handle = this.client.watch<PodLike>(
      PODS,
      this.namespace,
      { resourceVersion: list.metadata.resourceVersion, labelSelector: this.labelSelector, allowWatchBookmarks: true },
      (e) => {
        if (e.type === 'ADDED' || e.type === 'MODIFIED') {
          this.events++;
          this.observe(e.object);
        }
      },
      (err) => {
        if (err) this.error = err;
      },
    );
  }

  private observe(p: PodLike): void {
    const name = p.metadata.name ?? '';
    const now = nowMs();
    let s = this.seen.get(name);
    if (!s) this.seen.set(name, (s = {}));
    for (const m of ['Scheduled', 'Running', 'Ready'] as const) {
      if (s[m] !== undefined || !reached(p, m)) continue;
      s[m] = now;
      this.counts[m]++;
      const ws = this.waiters.get(name);
      if (ws) {
        for (const w of ws.filter((x) => x.m === m)) w.resolve(now);
        const rest = ws.filter((x) => x.m !== m);
        if (rest.length) this.waiters.set(name, rest);
        else this.waiters.delete(name);
      }
      this.countWaiters = this.countWaiters.filter((w) => {
        if (w.m === m && this.counts[m] >= w.n) {
          w.resolve(now);
          return false;
        }
        return true;
      });
    }
  }

  /** Resolves with the time the pod first reached `m`. */
  until(name: string, m: PodMilestone, timeoutMs = 120_000): Promise<number> {
    const at = this.seen.get(name)?.[m];
    if (at !== undefined) return Promise.resolve(at);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`pod ${name} did not reach ${m} within ${timeoutMs} ms${this.error ? ` (watch: ${this.error.message})` : ''}`)), timeoutMs);
      const list = this.waiters.get(name) ?? [];
      list.push({
        m,
        resolve: (x) => {
          clearTimeout(t);
          resolve(x);
        },
      });
      this.waiters.set(name, list);
    });
  }

  /** Resolves when `n` pods have reached `m`. */
  untilCount(m: PodMilestone, n: number, timeoutMs = 600_000): Promise<number> {
    if (this.counts[m] >= n) return Promise.resolve(nowMs());
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`only ${this.counts[m]} of ${n} pods reached ${m} within ${timeoutMs} ms${this.error ? ` (watch: ${this.error.message})` : ''}`)), timeoutMs);
      this.countWaiters.push({
        m,
        n,
        resolve: (x) => {
          clearTimeout(t);
          resolve(x);
        },
      });
    });
  }

  count(m: PodMilestone): number {
    return this.counts[m];
  }

  stop(): void {
    this.handle?.abort();
  }
}
