// Informers: list + watch one resource into a local cache with indexes, and tell handlers what
// changed — the front half of every controller (informer → work queue → reconcile).
//
// An informer lists in pages (500 by default) and then watches from the list's
// resourceVersion with bookmarks. When the watch ends for any reason (server timeout, 410
// Expired, network error) it lists again — at once after a 410 or a long-lived watch, with
// exponential backoff after failures — and reconciles the cache with the new list, delivering
// synthetic events: new objects → onAdd, changed ones → onUpdate, vanished ones → onDelete
// (with finalStateUnknown = true, the object being its last known state). So the cache and
// the handlers converge on the server's state whatever happened while disconnected.
//
// Cache reads return the stored objects themselves: never mutate them (clone first) — with an
// InformerFactory shared by a process's controllers and scheduler, a mutation corrupts every
// other component's view. With `freeze: true`, or the debug switch KENNEL_FREEZE_CACHE=1 in
// the environment (every informer of the process), they are deep-frozen, which makes a
// mutation throw (strict-mode code, i.e. every ES module).
import { appendFileSync } from 'node:fs';
import type { KubeObject } from '../registry/types.ts';
import { isGone, objectKey, splitKey, type KubeClient, type ResourceRef, type WatchHandle } from './rest.ts';
import { realClock, sleep, type Clock, type TimerHandle } from './clock.ts';
import type { Logger } from '../util/log.ts';

export interface EventHandler<T extends KubeObject = KubeObject> {
  /** A new object (isInitialList: it came with the informer's first list). */
  onAdd?(obj: T, isInitialList: boolean): void;
  /** A changed object; also called with old === new on a periodic resync. */
  onUpdate?(oldObj: T, newObj: T): void;
  /** A deleted object. finalStateUnknown: the deletion was noticed by a relist, and obj is the
   *  last state the informer saw, not the final one. */
  onDelete?(obj: T, finalStateUnknown: boolean): void;
}

/** The index values of an object (several allowed; [] = not indexed). */
export type IndexFunc<T extends KubeObject = KubeObject> = (obj: T) => string[];

export const NAMESPACE_INDEX = 'namespace';
/** Objects by the uid of their controller owner (the ownerReference with controller: true). */
export const CONTROLLER_INDEX = 'controller';
/** Pods by spec.nodeName (only built for core/v1 pods). */
export const NODE_NAME_INDEX = 'spec.nodeName';

export function namespaceIndexFunc(obj: KubeObject): string[] {
  return [obj.metadata.namespace ?? ''];
}

export function controllerIndexFunc(obj: KubeObject): string[] {
  const ref = obj.metadata.ownerReferences?.find((r) => r.controller === true);
  return ref?.uid ? [ref.uid] : [];
}

export function nodeNameIndexFunc(obj: KubeObject): string[] {
  const spec = obj.spec;
  const node = spec && typeof spec === 'object' ? (spec as { nodeName?: unknown }).nodeName : undefined;
  return typeof node === 'string' && node !== '' ? [node] : [];
}

export interface InformerOptions<T extends KubeObject = KubeObject> {
  /** Only this namespace (default: all namespaces). */
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  /** List page size (default 500). */
  pageSize?: number;
  /** Deliver onUpdate(obj, obj) for every cached object this often (default: never). */
  resyncPeriodMs?: number;
  /** Extra indexes by name. */
  indexers?: Record<string, IndexFunc<T>>;
  /** Backoff between failed attempts: initial, doubling up to max (default 800 ms → 30 s). */
  backoff?: { initialMs?: number; maxMs?: number };
  /** Server-side timeout of each watch, seconds (default random in [300, 600)). */
  watchTimeoutSeconds?: number;
  /** Deep-freeze cached objects, so a handler or reader that mutates one throws (default:
   *  freezeCacheFromEnv(), i.e. KENNEL_FREEZE_CACHE=1). */
  freeze?: boolean;
  /**
   * Applied to every object received (list and watch events, deletions included) before it is
   * cached, indexed and handed to handlers, as client-go's SetTransform: e.g. to drop fields the
   * informer's owner never reads (dropManagedFields) and so keep its cache small. It gets the
   * freshly decoded object (nobody else holds it: it may change it in place) and returns the
   * object to keep; it must keep the name, namespace and resourceVersion.
   */
  transform?: (obj: T) => T;
  clock?: Clock;
  logger?: Logger;
  /** For logs (default: the resource plural). */
  name?: string;
}

/**
 * An informer transform (InformerOptions.transform) that drops metadata.managedFields, server-
 * side apply's record of field owners: often the largest part of a small object's metadata, and
 * read only by the server's apply. The metadata is rebuilt rather than `delete`d from, so it
 * keeps V8's compact object layout.
 */
export function dropManagedFields<T extends KubeObject>(obj: T): T {
  const meta = obj.metadata;
  if (meta && meta.managedFields !== undefined) {
    const { managedFields: _dropped, ...rest } = meta;
    obj.metadata = rest;
  }
  return obj;
}

export interface WaitOptions {
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** The debug switch KENNEL_FREEZE_CACHE=1 (or `true`): deep-freeze every informer's cache. */
export function freezeCacheFromEnv(env: NodeJS.ProcessEnv = process.env): boolean {
  const v = env.KENNEL_FREEZE_CACHE;
  return v === '1' || v === 'true';
}

const MUTATION_ERROR = /read only property|object is not extensible|Cannot delete property|Cannot freeze|Cannot redefine property/;

/**
 * With KENNEL_FREEZE_CACHE=1, print an error that looks like a write to a frozen (cached)
 * object to stderr with its stack, wherever it was caught (handlers, reconciles: their loggers
 * are often silent in tests), and append it to the file KENNEL_FREEZE_CACHE_LOG names if set
 * (for a child process whose stderr is not shown). Returns whether it reported. Cheap when the
 * switch is off.
 */
export function reportCacheMutation(where: string, err: unknown): boolean {
  if (!freezeCacheFromEnv() || !(err instanceof TypeError) || !MUTATION_ERROR.test(err.message)) return false;
  const line = `KENNEL_FREEZE_CACHE: cached object mutated in ${where}: ${err.stack ?? err.message}\n`;
  process.stderr.write(line);
  const file = process.env.KENNEL_FREEZE_CACHE_LOG;
  if (file) {
    try {
      appendFileSync(file, line);
    } catch {
      // a debug aid only
    }
  }
  return true;
}

/** A watch must have lasted this long to count as healthy (its end then relists at once). */
const HEALTHY_WATCH_MS = 1000;

export class Informer<T extends KubeObject = KubeObject> {
  readonly resource: ResourceRef;
  readonly name: string;
  private readonly client: KubeClient;
  private readonly opts: InformerOptions<T>;
  private readonly freeze: boolean;
  private readonly clock: Clock;
  private readonly log?: Logger;
  private readonly cache = new Map<string, T>();
  private readonly indexers = new Map<string, IndexFunc<T>>();
  /** index name → value → keys */
  private readonly indices = new Map<string, Map<string, Set<string>>>();
  /** key → index name → values it is indexed under */
  private readonly indexed = new Map<string, Map<string, string[]>>();
  private readonly handlers = new Set<EventHandler<T>>();
  private synced = false;
  private syncWaiters: { resolve: () => void; reject: (e: Error) => void }[] = [];
  private started = false;
  private stopped = false;
  private readonly abort = new AbortController();
  private watchHandle: WatchHandle | null = null;
  private resyncTimer: TimerHandle | null = null;
  private rv = '';
  private listCount = 0;
  private loop: Promise<void> | null = null;

  constructor(client: KubeClient, resource: ResourceRef, opts: InformerOptions<T> = {}) {
    this.client = client;
    this.resource = resource;
    this.opts = opts;
    this.freeze = opts.freeze ?? freezeCacheFromEnv();
    this.clock = opts.clock ?? realClock;
    this.log = opts.logger;
    this.name = opts.name ?? resource.plural;
    if (resource.namespaced) this.indexers.set(NAMESPACE_INDEX, namespaceIndexFunc);
    this.indexers.set(CONTROLLER_INDEX, controllerIndexFunc);
    if (resource.group === '' && resource.plural === 'pods') this.indexers.set(NODE_NAME_INDEX, nodeNameIndexFunc);
    for (const [n, fn] of Object.entries(opts.indexers ?? {})) this.indexers.set(n, fn);
    for (const n of this.indexers.keys()) this.indices.set(n, new Map());
  }

  // -- handlers and indexes

  /**
   * Register handlers; returns a function that unregisters them. A handler added after the
   * informer has synced first gets onAdd(obj, true) for every cached object, at once (as
   * client-go's shared informers replay their store to a late handler); one added before gets
   * the first list as it arrives.
   */
  addEventHandler(h: EventHandler<T>): () => void {
    this.handlers.add(h);
    if (this.synced && h.onAdd) {
      for (const obj of this.cache.values()) {
        try {
          h.onAdd(obj, true);
        } catch (e) {
          this.handlerFailed(e);
        }
      }
    }
    return () => {
      this.handlers.delete(h);
    };
  }

  /**
   * Add an index (before or after start: existing objects are indexed at once). Index names
   * are per informer, and a shared informer's are shared by every component using it: adding
   * the same function under the same name again is a no-op (a controller restarted on a
   * process-wide factory, two controllers with one index), another function under a taken
   * name throws. So index functions are module-level constants, and names say whose they are.
   */
  addIndexer(name: string, fn: IndexFunc<T>): void {
    const had = this.indexers.get(name);
    if (had === fn) return;
    if (had) throw new Error(`informer ${this.name} already has another index named ${name}`);
    this.indexers.set(name, fn);
    this.indices.set(name, new Map());
    for (const [key, obj] of this.cache) this.indexOne(key, obj, name, fn);
  }

  // -- lifecycle

  /** Start listing and watching (in the background). */
  start(): void {
    if (this.started) return;
    if (this.stopped) throw new Error(`informer ${this.name} was stopped; make a new one`);
    this.started = true;
    this.loop = this.run();
    if (this.opts.resyncPeriodMs && this.opts.resyncPeriodMs > 0) this.scheduleResync();
  }

  /** Stop watching; the cache stays readable. Resolves when the background loop has ended. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.abort.abort(new Error(`informer ${this.name} stopped`));
    this.watchHandle?.abort();
    if (this.resyncTimer) this.clock.clearTimeout(this.resyncTimer);
    const ws = this.syncWaiters;
    this.syncWaiters = [];
    for (const w of ws) w.reject(new Error(`informer ${this.name} stopped before it synced`));
    await this.loop;
  }

  /** Whether the first list has been delivered. */
  hasSynced(): boolean {
    return this.synced;
  }

  /** Resolves once the first list has been delivered; rejects on timeout, abort or stop. */
  waitForSync(opts: WaitOptions = {}): Promise<void> {
    if (this.synced) return Promise.resolve();
    if (this.stopped) return Promise.reject(new Error(`informer ${this.name} stopped before it synced`));
    return new Promise<void>((resolve, reject) => {
      let timer: TimerHandle | null = null;
      const cleanup = (): void => {
        if (timer) this.clock.clearTimeout(timer);
        opts.signal?.removeEventListener('abort', onAbort);
        this.syncWaiters = this.syncWaiters.filter((w) => w !== waiter);
      };
      const waiter = {
        resolve: () => {
          cleanup();
          resolve();
        },
        reject: (e: Error) => {
          cleanup();
          reject(e);
        },
      };
      const onAbort = (): void => waiter.reject(new Error(`waiting for informer ${this.name} to sync was aborted`));
      if (opts.signal?.aborted) {
        reject(new Error(`waiting for informer ${this.name} to sync was aborted`));
        return;
      }
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      if (opts.timeoutMs !== undefined) {
        timer = this.clock.setTimeout(() => waiter.reject(new Error(`informer ${this.name} did not sync within ${opts.timeoutMs} ms`)), opts.timeoutMs);
      }
      this.syncWaiters.push(waiter);
    });
  }

  // -- cache reads (never mutate what they return)

  get(namespace: string | undefined, name: string): T | undefined {
    return this.cache.get(namespace ? `${namespace}/${name}` : name);
  }

  getByKey(key: string): T | undefined {
    return this.cache.get(key);
  }

  list(): T[] {
    return [...this.cache.values()];
  }

  keys(): string[] {
    return [...this.cache.keys()];
  }

  get size(): number {
    return this.cache.size;
  }

  /** Objects whose index `indexName` includes value. */
  byIndex(indexName: string, value: string): T[] {
    const idx = this.indices.get(indexName);
    if (!idx) throw new Error(`informer ${this.name} has no index ${indexName}`);
    const keys = idx.get(value);
    if (!keys) return [];
    const out: T[] = [];
    for (const k of keys) {
      const o = this.cache.get(k);
      if (o) out.push(o);
    }
    return out;
  }

  /** Keys of the objects whose index `indexName` includes value. */
  indexKeys(indexName: string, value: string): string[] {
    const idx = this.indices.get(indexName);
    if (!idx) throw new Error(`informer ${this.name} has no index ${indexName}`);
    return [...(idx.get(value) ?? [])];
  }

  listByNamespace(namespace: string): T[] {
    return this.resource.namespaced ? this.byIndex(NAMESPACE_INDEX, namespace) : [];
  }

  /** Objects whose controller ownerReference has this uid. */
  listByController(ownerUid: string): T[] {
    return this.byIndex(CONTROLLER_INDEX, ownerUid);
  }

  /** Pods bound to nodeName (pods informers only). */
  listByNodeName(nodeName: string): T[] {
    return this.byIndex(NODE_NAME_INDEX, nodeName);
  }

  /** The resourceVersion of the last list, watch event or bookmark applied. */
  lastSyncResourceVersion(): string {
    return this.rv;
  }

  /** How many lists the informer has made (the first one included). */
  get lists(): number {
    return this.listCount;
  }

  // -- the list/watch loop

  private async run(): Promise<void> {
    const initial = this.opts.backoff?.initialMs ?? 800;
    const max = this.opts.backoff?.maxMs ?? 30_000;
    let failures = 0;
    let gone = 0;
    while (!this.stopped) {
      let delay = 0;
      try {
        await this.listAndReplace();
        const started = this.clock.now();
        const err = await this.watchOnce();
        if (this.stopped) break;
        const ran = this.clock.now() - started;
        if (ran >= 30_000) failures = 0;
        if (isGone(err)) {
          // Expired: relist at once (with backoff only if it keeps happening right away).
          gone = ran >= HEALTHY_WATCH_MS ? 1 : gone + 1;
          if (gone > 1) delay = this.backoffMs(initial, max, gone - 1);
          this.log?.debug('watch expired; relisting', { informer: this.name, resourceVersion: this.rv });
        } else if (!err && ran >= HEALTHY_WATCH_MS) {
          failures = 0;
        } else {
          failures++;
          delay = this.backoffMs(initial, max, failures);
          if (err) this.log?.info('watch ended; relisting', { informer: this.name, error: err.message, retryInMs: Math.round(delay) });
        }
      } catch (e) {
        if (this.stopped) break;
        failures++;
        delay = this.backoffMs(initial, max, failures);
        this.log?.warn('list failed', { informer: this.name, error: e instanceof Error ? e.message : String(e), retryInMs: Math.round(delay) });
      }
      if (delay > 0) {
        try {
          await sleep(this.clock, delay, this.abort.signal);
        } catch {
          break;
        }
      }
    }
  }

  private backoffMs(initial: number, max: number, n: number): number {
    const d = Math.min(max, initial * Math.pow(2, Math.max(0, n - 1)));
    return d * (0.8 + Math.random() * 0.4);
  }

  private async listAndReplace(): Promise<void> {
    const base = { labelSelector: this.opts.labelSelector, fieldSelector: this.opts.fieldSelector, signal: this.abort.signal };
    const items: T[] = [];
    let rv = '';
    let cont: string | undefined;
    try {
      do {
        const page = await this.client.list<T>(this.resource, this.opts.namespace, { ...base, limit: this.opts.pageSize ?? 500, continue: cont });
        for (const it of page.items) items.push(it);
        rv = page.metadata.resourceVersion ?? '';
        cont = page.metadata.continue || undefined;
      } while (cont);
    } catch (e) {
      // The snapshot behind a continue token was compacted: take everything in one list.
      if (!isGone(e) || items.length === 0) throw e;
      items.length = 0;
      const all = await this.client.list<T>(this.resource, this.opts.namespace, base);
      for (const it of all.items) items.push(it);
      rv = all.metadata.resourceVersion ?? '';
    }
    if (this.stopped) return;
    this.listCount++;
    this.replace(items, rv);
  }

  /** Bring the cache to exactly `items`, delivering the differences as events. */
  private replace(items: T[], rv: string): void {
    const initial = !this.synced;
    const seen = new Set<string>();
    for (const raw of items) {
      const obj = this.prepare(raw);
      const key = objectKey(obj);
      seen.add(key);
      const old = this.cache.get(key);
      if (!old) {
        this.store(key, obj);
        this.emitAdd(obj, initial);
      } else if (old.metadata.resourceVersion !== obj.metadata.resourceVersion) {
        this.store(key, obj);
        this.emitUpdate(old, obj);
      }
    }
    for (const [key, old] of [...this.cache]) {
      if (seen.has(key)) continue;
      this.remove(key);
      this.emitDelete(old, true);
    }
    this.rv = rv;
    if (!this.synced) {
      this.synced = true;
      const ws = this.syncWaiters;
      this.syncWaiters = [];
      for (const w of ws) w.resolve();
    }
  }

  /** One watch from the current resourceVersion; resolves with why it ended. */
  private watchOnce(): Promise<Error | undefined> {
    return new Promise((resolve) => {
      if (this.stopped) {
        resolve(undefined);
        return;
      }
      const timeoutSeconds = this.opts.watchTimeoutSeconds ?? 300 + Math.floor(Math.random() * 300);
      this.watchHandle = this.client.watch<T>(
        this.resource,
        this.opts.namespace,
        { resourceVersion: this.rv, labelSelector: this.opts.labelSelector, fieldSelector: this.opts.fieldSelector, allowWatchBookmarks: true, timeoutSeconds },
        (ev) => {
          if (this.stopped) return;
          const rv = ev.object.metadata.resourceVersion;
          if (ev.type === 'BOOKMARK') {
            if (rv) this.rv = rv;
            return;
          }
          const obj = this.prepare(ev.object);
          const key = objectKey(obj);
          const old = this.cache.get(key);
          if (ev.type === 'DELETED') {
            if (old) this.remove(key);
            this.emitDelete(obj, false);
          } else {
            this.store(key, obj);
            if (old) this.emitUpdate(old, obj);
            else this.emitAdd(obj, false);
          }
          if (rv) this.rv = rv;
        },
        (err) => {
          this.watchHandle = null;
          resolve(err);
        },
      );
    });
  }

  private scheduleResync(): void {
    const period = this.opts.resyncPeriodMs!;
    this.resyncTimer = this.clock.setTimeout(() => {
      if (this.stopped) return;
      if (this.synced) {
        for (const obj of [...this.cache.values()]) this.emitUpdate(obj, obj);
      }
      this.scheduleResync();
    }, period);
  }

  // -- cache internals

  private prepare(raw: T): T {
    const obj = this.opts.transform ? this.opts.transform(raw) : raw;
    if (!obj.metadata) (obj as KubeObject).metadata = {};
    return this.freeze ? deepFreeze(obj) : obj;
  }

  private store(key: string, obj: T): void {
    const per = this.indexed.get(key);
    this.cache.set(key, obj);
    if (!per) {
      for (const [name, fn] of this.indexers) this.indexOne(key, obj, name, fn);
      return;
    }
    // An update: most leave every index value as it was (a status change), so touch only the
    // indexes whose values changed.
    for (const [name, fn] of this.indexers) {
      const prev = per.get(name);
      const values = this.indexValues(key, obj, name, fn);
      if (prev && sameValues(prev, values)) continue;
      const idx = this.indices.get(name)!;
      if (prev) for (const v of prev) this.dropKey(idx, v, key);
      if (values.length === 0) {
        per.delete(name);
        continue;
      }
      for (const v of values) {
        let set = idx.get(v);
        if (!set) idx.set(v, (set = new Set()));
        set.add(key);
      }
      per.set(name, values);
    }
    if (per.size === 0) this.indexed.delete(key);
  }

  private indexValues(key: string, obj: T, name: string, fn: IndexFunc<T>): string[] {
    try {
      return fn(obj);
    } catch (e) {
      this.log?.error('index function failed', { informer: this.name, index: name, object: key, error: String(e) });
      return [];
    }
  }

  private dropKey(idx: Map<string, Set<string>>, value: string, key: string): void {
    const set = idx.get(value);
    if (!set) return;
    set.delete(key);
    if (set.size === 0) idx.delete(value);
  }

  private remove(key: string): void {
    this.unindex(key);
    this.cache.delete(key);
  }

  private indexOne(key: string, obj: T, name: string, fn: IndexFunc<T>): void {
    const values = this.indexValues(key, obj, name, fn);
    if (values.length === 0) return;
    const idx = this.indices.get(name)!;
    for (const v of values) {
      let set = idx.get(v);
      if (!set) idx.set(v, (set = new Set()));
      set.add(key);
    }
    let per = this.indexed.get(key);
    if (!per) this.indexed.set(key, (per = new Map()));
    per.set(name, values);
  }

  private unindex(key: string): void {
    const per = this.indexed.get(key);
    if (!per) return;
    for (const [name, values] of per) {
      const idx = this.indices.get(name);
      if (!idx) continue;
      for (const v of values) this.dropKey(idx, v, key);
    }
    this.indexed.delete(key);
  }

  // Every event goes to every handler (a process-wide informer has one per component): plain
  // loops, no closure per event and handler.
  private emitAdd(obj: T, initial: boolean): void {
    for (const h of this.handlers) {
      if (!h.onAdd) continue;
      try {
        h.onAdd(obj, initial);
      } catch (e) {
        this.handlerFailed(e);
      }
    }
  }

  private emitUpdate(old: T, obj: T): void {
    for (const h of this.handlers) {
      if (!h.onUpdate) continue;
      try {
        h.onUpdate(old, obj);
      } catch (e) {
        this.handlerFailed(e);
      }
    }
  }

  private emitDelete(obj: T, finalStateUnknown: boolean): void {
    for (const h of this.handlers) {
      if (!h.onDelete) continue;
      try {
        h.onDelete(obj, finalStateUnknown);
      } catch (e) {
        this.handlerFailed(e);
      }
    }
  }

  private handlerFailed(e: unknown): void {
    reportCacheMutation(`an event handler of informer ${this.name}`, e);
    this.log?.error('informer event handler failed', { informer: this.name, error: e instanceof Error ? (e.stack ?? e.message) : String(e) });
  }
}

function sameValues(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function deepFreeze<T>(v: T): T {
  if (v && typeof v === 'object' && !Object.isFrozen(v)) {
    Object.freeze(v);
    for (const x of Object.values(v as Record<string, unknown>)) deepFreeze(x);
  }
  return v;
}

/** Resolve when every informer has synced; reject on the first failure, timeout or abort. */
export async function waitForCacheSync(informers: Iterable<{ waitForSync(opts?: WaitOptions): Promise<void> }>, opts: WaitOptions = {}): Promise<void> {
  await Promise.all([...informers].map((i) => i.waitForSync(opts)));
}

export interface InformerFactoryOptions {
  resyncPeriodMs?: number;
  backoff?: { initialMs?: number; maxMs?: number };
  clock?: Clock;
  logger?: Logger;
  /** Default: freezeCacheFromEnv(). */
  freeze?: boolean;
}

/** Which informer of a resource: all of it, or a namespace / selection of it. */
export interface InformerSelection {
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
}

/** What a component needs of a factory: InformerFactory itself, or a scoped() view of one. */
export interface InformerSource {
  informer<T extends KubeObject = KubeObject>(resource: ResourceRef, opts?: InformerSelection): Informer<T>;
  start(): void;
  waitForSync(opts?: WaitOptions): Promise<void>;
  stop(): Promise<void>;
}

/**
 * One informer per (resource, namespace, selectors) for all the controllers of one process,
 * so they share one list+watch and one cache each — as kube-controller-manager's controllers
 * share a SharedInformerFactory. Whoever made the factory owns its lifetime (stop()); the
 * components using it start it (idempotent) and wait for their own informers (scoped()).
 */
export class InformerFactory implements InformerSource {
  private readonly informers = new Map<string, Informer<KubeObject>>();
  private started = false;
  private stopped = false;

  constructor(
    private readonly client: KubeClient,
    private readonly opts: InformerFactoryOptions = {},
  ) {}

  informer<T extends KubeObject = KubeObject>(resource: ResourceRef, opts: InformerSelection = {}): Informer<T> {
    const key = [resource.group, resource.version, resource.plural, opts.namespace ?? '', opts.labelSelector ?? '', opts.fieldSelector ?? ''].join('|');
    let inf = this.informers.get(key);
    if (!inf) {
      if (this.stopped) throw new Error(`informer factory stopped: no new informer for ${resource.plural}`);
      inf = new Informer<KubeObject>(this.client, resource, {
        ...opts,
        resyncPeriodMs: this.opts.resyncPeriodMs,
        backoff: this.opts.backoff,
        clock: this.opts.clock,
        logger: this.opts.logger?.child(`informer/${resource.plural}`),
        freeze: this.opts.freeze,
      });
      this.informers.set(key, inf);
      if (this.started) inf.start();
    }
    // The cache holds whatever the server sends for this resource; T is the caller's view of it.
    return inf as unknown as Informer<T>;
  }

  /** Start every informer made so far (and any made later). */
  start(): void {
    this.started = true;
    for (const i of this.informers.values()) i.start();
  }

  /** Wait for every informer made so far (a component should wait for its own: scoped()). */
  waitForSync(opts: WaitOptions = {}): Promise<void> {
    return waitForCacheSync(this.informers.values(), opts);
  }

  /** Stop every informer (the owner's call: the components sharing the factory must have
   *  stopped or be stopping). Idempotent. */
  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all([...this.informers.values()].map((i) => i.stop()));
  }

  /** How many informers the factory holds (tests, logs). */
  get size(): number {
    return this.informers.size;
  }

  /**
   * A view for one component: informer() shares this factory's informers and remembers which
   * the component asked for, start() starts the factory, waitForSync() waits for the
   * component's informers only (not for another component's that cannot list), and stop()
   * leaves everything running (the factory's owner stops it).
   */
  scoped(): InformerSource {
    const parent = this;
    const mine = new Set<Informer<KubeObject>>();
    return {
      informer<T extends KubeObject = KubeObject>(resource: ResourceRef, opts: InformerSelection = {}): Informer<T> {
        const inf = parent.informer<T>(resource, opts);
        mine.add(inf as unknown as Informer<KubeObject>);
        return inf;
      },
      start: () => parent.start(),
      waitForSync: (opts: WaitOptions = {}) => waitForCacheSync(mine, opts),
      stop: async () => {},
    };
  }
}

export { objectKey, splitKey };
