// Namespace lifecycle inside the API server: the built-in namespaces exist at start, content
// may only be created in an active namespace, and a deleted namespace is emptied (every
// namespaced object deleted) before its `kubernetes` finalizer is removed and it goes.
import type { KubeObject, ResourceDef } from '../registry/types.ts';
import type { Registry } from '../registry/index.ts';
import { errors } from './errors.ts';
import { createObject, getObject, updateObject, type ResourceContext } from './resources.ts';
import { deleteCollection } from './delete.ts';
import { listObjects } from './list.ts';
import { listPrefix } from './objectstore.ts';
import type { Subscription, WatchCache } from './watchcache.ts';

export const BUILTIN_NAMESPACES = ['default', 'kube-system', 'kube-public', 'kube-node-lease'];

export class NamespaceLifecycle {
  private readonly finalizing = new Set<string>();
  private stopped = false;
  /** Namespaces seen through the watch cache: name → terminating. Misses read the store. */
  private readonly known = new Map<string, boolean>();
  private sub: Subscription | null = null;

  constructor(
    private readonly ctx: ResourceContext,
    private readonly registry: Registry,
    private readonly nsDef: ResourceDef,
  ) {}

  /** Follow namespaces through the watch cache so creates need no store read to check them. */
  async track(cache: WatchCache): Promise<void> {
    const page = await listObjects(this.ctx.objects, this.nsDef, {});
    for (const ns of page.items) this.known.set(ns.metadata.name ?? '', Boolean(ns.metadata.deletionTimestamp));
    this.sub = cache.subscribe(
      listPrefix(this.nsDef),
      Number(page.resourceVersion),
      (e) => {
        const name = e.obj.metadata.name ?? '';
        if (e.type === 'DELETED') this.known.delete(name);
        else this.known.set(name, Boolean(e.obj.metadata.deletionTimestamp));
      },
      () => {
        // The cache lost its place: forget everything and read the store until resubscribed.
        this.known.clear();
        this.sub = null;
        if (!this.stopped) void this.track(cache).catch(() => {});
      },
    );
  }

  async ensureBuiltins(): Promise<void> {
    for (const name of BUILTIN_NAMESPACES) {
      try {
        await createObject(this.ctx, this.nsDef, undefined, { apiVersion: 'v1', kind: 'Namespace', metadata: { name } }, { fieldManager: 'kennel' });
      } catch (e) {
        if ((e as { code?: number }).code !== 409) throw e;
      }
    }
  }

  /** Refuse content in a namespace that does not exist or is terminating. */
  async checkCreate(def: ResourceDef, obj: KubeObject): Promise<void> {
    if (!def.namespaced) return;
    const ns = obj.metadata.namespace ?? '';
    if (this.known.get(ns) === false) return; // known and active
    let found: KubeObject;
    try {
      found = (await getObject(this.ctx, this.nsDef, undefined, ns)).obj;
    } catch (e) {
      if ((e as { code?: number }).code === 404) throw errors.notFound('', 'namespaces', ns);
      throw e;
    }
    if (found.metadata.deletionTimestamp) {
      throw errors.forbidden(`${def.plural} "${obj.metadata.name ?? ''}" is forbidden: unable to create new content in namespace ${ns} because it is being terminated`, {
        name: obj.metadata.name,
        kind: def.plural,
        causes: [{ reason: 'NamespaceTerminating', message: `namespace ${ns} is being terminated`, field: 'metadata.namespace' }],
      });
    }
  }

  /** Resume finalizing namespaces that were terminating when the server stopped. */
  async resume(): Promise<void> {
    const page = await listObjects(this.ctx.objects, this.nsDef, {});
    for (const ns of page.items) if (ns.metadata.deletionTimestamp) this.finalize(ns.metadata.name ?? '');
  }

  /** Empty a terminating namespace, then release it. Runs in the background until done. */
  finalize(name: string): void {
    if (this.finalizing.has(name) || this.stopped) return;
    this.finalizing.add(name);
    void this.run(name).finally(() => this.finalizing.delete(name));
  }

  private async run(name: string): Promise<void> {
    for (let round = 0; !this.stopped; round++) {
      try {
        let remaining = 0;
        for (const def of this.registry.namespacedStorage()) {
          const left = await deleteCollection(this.ctx, def, name, {}, { propagationPolicy: 'Background' });
          remaining += left.length;
        }
        if (remaining === 0) {
          await updateObject(
            this.ctx,
            this.nsDef,
            undefined,
            name,
            (cur) => {
              const spec = (cur?.spec ?? {}) as { finalizers?: string[] };
              cur!.spec = { ...spec, finalizers: (spec.finalizers ?? []).filter((f) => f !== 'kubernetes') };
              return cur!;
            },
            { fieldManager: 'kennel-namespace-controller', subresource: 'finalize' },
          );
          return;
        }
      } catch (e) {
        if ((e as { code?: number }).code === 404) return;
        this.ctx.log.warn('namespace cleanup failed, retrying', { namespace: name, error: (e as Error).message });
      }
      await new Promise((r) => setTimeout(r, Math.min(200 * (round + 1), 2000)).unref());
    }
  }

  stop(): void {
    this.stopped = true;
    this.sub?.close();
  }
}
