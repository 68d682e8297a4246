// The etcd v3 backend of the store contract (src/store/types.ts), through the `etcd3` client.
//
// Mapping:
// - Keys live under a prefix (default '/kennel/') that is added on the way in and stripped on
//   the way out. Revisions, createRevision and modRevision are etcd's own (revision,
//   create_revision, mod_revision). A fresh etcd starts at revision 1, not 0.
// - create/update/delete are single etcd transactions: the compare is the CAS condition, the
//   success branch writes, the failure branch reads the key, so Conflict carries the value that
//   made the compare fail, read at the same revision.
// - list reads one snapshot: the first page at the requested (or current) revision, every
//   further page at the revision carried in the continue token.
// - watch uses etcd's Watch stream directly (one gRPC stream per watcher, prev_kv on). It is
//   created at start_revision = afterRevision and events at afterRevision itself are dropped,
//   so etcd's compaction check (start < compact revision) is exactly the contract's
//   (afterRevision < compactedRevision). When the stream breaks (member down, connection
//   lost) the watcher reconnects, to any endpoint, from the last delivered revision; nothing is
//   lost or repeated. Only when that is impossible (history compacted meanwhile, or etcd
//   unreachable for longer than watchRetryTimeoutMs) does onError fire.
//   etcd3's own Watcher is not used: it advances its resume revision to the header revision of
//   every response, including the "created" response and catch-up batches whose header is the
//   store's current revision, so a reconnect during catch-up would skip events.
// - compact(rev) is etcd's compaction (physical: waits until the backend dropped the history).
//   It applies to etcd's whole keyspace, not just this prefix (etcd has no per-prefix
//   compaction): with several API servers on one etcd, one of them should compact.
// - compactedRevision(): etcd has no call that returns it cheaply (HashKV does but hashes the
//   whole database). A range at revision r fails with "compacted" exactly when r < compact
//   revision, so the store remembers the highest compaction it knows of (its own compact()
//   calls and Compacted errors it saw) and confirms it with one probe; if the probe fails
//   (another client compacted) it binary-searches between that and the current revision
//   (about log2(revisions) small ranges). compact() of an already compacted revision is a no-op.
// - Retries: reads (and compaction, which is idempotent) are retried on connection errors for up
//   to retryTimeoutMs, each attempt on a randomly chosen endpoint. Writes are retried only when
//   the request certainly did not reach etcd (no connection, no leader, endpoint circuit open);
//   an error after it may have been applied is reported as Unavailable rather than retried,
//   because a retried CAS would report a false Conflict/AlreadyExists against its own write.
//   etcd3's global retry policy is therefore replaced by a pass-through one.
// - Not handled: a member cut off from its peers but still reachable keeps a watch stream open
//   without events (etcd's Go client sets "hasleader" metadata so the member cancels it;
//   etcd3 gives no way to add metadata to a stream).
// - etcd must accept requests as large as MAX_VALUE_BYTES plus the key: run it with
//   --max-request-bytes of at least 4194304 (its default, 1.5 MiB, rejects large values: those
//   give ValueTooLarge).
//
// The watch stream is in etcd-watch.ts; fault handling and error mapping in etcd-client.ts.
import { Etcd3, type IKeyValue, type IRangeResponse, type ITxnResponse } from 'etcd3';
import {
  type KeyValue,
  type ListOptions,
  type ListResult,
  type Store,
  StoreError,
  type WatchErrorHandler,
  type WatchEvent,
  type WatchHandler,
  type Watcher,
} from './types.ts';
import { checkKey, checkPrefix, checkRevision, checkValue, decodeContinue, encodeContinue } from './validate.ts';
import { createLogger, type Logger } from '../util/log.ts';
import {
  NOT_SENT_RE,
  TRANSIENT_RE,
  errMessage,
  hostBreaker,
  num,
  passThroughPolicy,
  toStoreError,
} from './etcd-client.ts';
import { EtcdWatch } from './etcd-watch.ts';

export interface EtcdStoreOptions {
  /** Client URLs of the etcd members, e.g. ['http://127.0.0.1:2379']. */
  endpoints: string[];
  /** Key prefix for everything this store writes (default '/kennel/'). */
  prefix?: string;
  /** Deadline of each unary request, in ms (default 10 000). */
  requestTimeoutMs?: number;
  /** How long reads and safely retryable writes keep retrying on connection errors (default 5 000). */
  retryTimeoutMs?: number;
  /** How long a watch keeps reconnecting before it reports Unavailable (default 30 000). */
  watchRetryTimeoutMs?: number;
  logger?: Logger;
}

const DEFAULT_PREFIX = '/kennel/';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** The smallest key greater than every key starting with p (etcd's prefix range end). */
function rangeEnd(p: Buffer): Buffer {
  for (let i = p.length - 1; i >= 0; i--) {
    if (p[i] < 0xff) {
      const end = Buffer.from(p.subarray(0, i + 1));
      end[i]++;
      return end;
    }
  }
  return Buffer.from([0]); // empty or all-0xff prefix: to the end of the keyspace
}

export class EtcdStore implements Store {
  readonly client: Etcd3;
  readonly prefix: string;
  private readonly prefixBuf: Buffer;
  private readonly retryTimeoutMs: number;
  readonly watchRetryTimeoutMs: number;
  readonly log: Logger;
  private closed = false;
  private knownCompacted = 0;
  private readonly watchers = new Set<EtcdWatch>();

  constructor(opts: EtcdStoreOptions) {
    this.prefix = opts.prefix ?? DEFAULT_PREFIX;
    this.prefixBuf = Buffer.from(this.prefix);
    this.retryTimeoutMs = opts.retryTimeoutMs ?? 5_000;
    this.watchRetryTimeoutMs = opts.watchRetryTimeoutMs ?? 30_000;
    this.log = opts.logger ?? createLogger('store/etcd');
    const requestTimeoutMs = opts.requestTimeoutMs ?? 10_000;
    this.client = new Etcd3({
      hosts: [...opts.endpoints],
      grpcOptions: {
        // Lists of large values and watch batches may exceed grpc's 4 MiB default.
        'grpc.max_receive_message_length': -1,
        'grpc.max_send_message_length': -1,
        // Notice a silently dead connection (etcd enforces >= 5 s between pings).
        'grpc.keepalive_time_ms': 10_000,
        'grpc.keepalive_timeout_ms': 5_000,
      },
      defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + requestTimeoutMs }),
      faultHandling: { global: passThroughPolicy(), host: hostBreaker },
    });
  }

  private full(key: string): Buffer {
    return Buffer.from(this.prefix + key);
  }

  private strip(key: Buffer): string {
    return key.toString('utf8').slice(this.prefix.length);
  }

  private toKV(kv: IKeyValue): KeyValue {
    return {
      key: this.strip(kv.key),
      value: kv.value.toString('utf8'),
      createRevision: num(kv.create_revision),
      modRevision: num(kv.mod_revision),
    };
  }

  toEvent(ev: { type: string; kv: IKeyValue; prev_kv: IKeyValue | null }): WatchEvent {
    const prevKv = ev.prev_kv ? this.toKV(ev.prev_kv) : undefined;
    if (ev.type === 'Delete') {
      return {
        type: 'DELETE',
        kv: {
          key: this.strip(ev.kv.key),
          value: '',
          createRevision: prevKv?.createRevision ?? 0,
          modRevision: num(ev.kv.mod_revision),
        },
        ...(prevKv ? { prevKv } : {}),
      };
    }
    return { type: 'PUT', kv: this.toKV(ev.kv), ...(prevKv ? { prevKv } : {}) };
  }

  noteCompacted(rev: number): void {
    if (rev > this.knownCompacted) this.knownCompacted = rev;
  }

  private checkOpen(): void {
    if (this.closed) throw new StoreError('Unavailable', 'the etcd store is closed');
  }

  /** Run an etcd call, retrying as described at the top of the file. */
  private async call<T>(mode: 'read' | 'write', fn: () => Promise<T>, key?: string): Promise<T> {
    const deadline = Date.now() + this.retryTimeoutMs;
    let delay = 20;
    for (;;) {
      this.checkOpen();
      try {
        return await fn();
      } catch (err) {
        if (this.closed) throw new StoreError('Unavailable', 'the etcd store is closed', key === undefined ? {} : { key });
        const msg = errMessage(err);
        const retry = mode === 'read' ? TRANSIENT_RE.test(msg) : NOT_SENT_RE.test(msg);
        if (!retry || Date.now() + delay > deadline) throw toStoreError(err, key);
        await sleep(delay * (0.5 + Math.random()));
        delay = Math.min(delay * 2, 500);
      }
    }
  }

  async currentRevision(): Promise<number> {
    const res = await this.call('read', () => this.client.kv.range({ key: this.prefixBuf, count_only: true }));
    return num(res.header.revision);
  }

  async get(key: string): Promise<KeyValue | null> {
    checkKey(key);
    this.checkOpen();
    const res = await this.call('read', () => this.client.kv.range({ key: this.full(key) }), key);
    return res.kvs.length > 0 ? this.toKV(res.kvs[0]) : null;
  }

  async list(prefix: string, opts: ListOptions = {}): Promise<ListResult> {
    // The same option rules as resolveListRevision in validate.ts (etcd itself checks the
    // revision against the current and compacted ones).
    checkPrefix(prefix);
    const limit = opts.limit ?? 0;
    if (typeof limit !== 'number' || !Number.isSafeInteger(limit) || limit < 0) {
      throw new StoreError('InvalidValue', 'limit must be a non-negative integer');
    }
    if (opts.revision !== undefined) checkRevision('revision', opts.revision);
    let rev: number;
    let start: Buffer;
    if (opts.continue !== undefined && opts.continue !== '') {
      const tok = decodeContinue(opts.continue, prefix);
      if (tok.rev < 1 || !tok.after.startsWith(prefix)) {
        throw new StoreError('InvalidContinue', 'continue token is not valid');
      }
      if (opts.revision !== undefined && opts.revision !== 0 && opts.revision !== tok.rev) {
        throw new StoreError('InvalidContinue', 'continue token was issued for another revision');
      }
      rev = tok.rev;
      start = Buffer.concat([this.full(tok.after), Buffer.from([0])]); // strictly after `after`
    } else {
      rev = opts.revision ?? 0;
      start = this.full(prefix);
    }
    this.checkOpen();
    const end = rangeEnd(this.full(prefix));
    let res: IRangeResponse;
    try {
      res = await this.call('read', () =>
        this.client.kv.range({ key: start, range_end: end, revision: rev, limit }),
      );
    } catch (err) {
      throw await this.withCompactRevision(err);
    }
    const snapshot = rev > 0 ? rev : num(res.header.revision);
    const items = res.kvs.map((kv) => this.toKV(kv));
    const out: ListResult = { items, revision: snapshot };
    if (res.more && items.length > 0) {
      out.continue = encodeContinue({ rev: snapshot, after: items[items.length - 1].key, prefix });
      out.remaining = Math.max(0, num(res.count) - items.length);
    }
    return out;
  }

  /** A Compacted error enriched with the compaction revision (best effort). */
  private async withCompactRevision(err: unknown): Promise<unknown> {
    if (!(err instanceof StoreError) || err.code !== 'Compacted' || err.compactRevision !== undefined) return err;
    let compactRevision: number | undefined;
    try {
      compactRevision = await this.compactedRevision();
    } catch {
      // keep the error without it
    }
    return new StoreError('Compacted', err.message, { key: err.key, compactRevision });
  }

  async create(key: string, value: string): Promise<KeyValue> {
    checkKey(key);
    checkValue(key, value);
    this.checkOpen();
    const k = this.full(key);
    const res: ITxnResponse = await this.call(
      'write',
      () =>
        this.client.kv.txn({
          compare: [{ key: k, target: 'Create', result: 'Equal', create_revision: 0 }],
          success: [{ request_put: { key: k, value: Buffer.from(value) } }],
          failure: [{ request_range: { key: k } }],
        }),
      key,
    );
    if (!res.succeeded) {
      const cur = res.responses[0]?.response_range?.kvs[0];
      throw new StoreError('AlreadyExists', `key ${key} already exists`, {
        key,
        current: cur ? this.toKV(cur) : null,
      });
    }
    const rev = num(res.header.revision);
    return { key, value, createRevision: rev, modRevision: rev };
  }

  /** The failure branch of a CAS: NotFound or Conflict carrying the current value. */
  private casFailure(key: string, expected: number | undefined, res: ITxnResponse): StoreError {
    const cur = res.responses[0]?.response_range?.kvs[0];
    if (!cur) return new StoreError('NotFound', `key ${key} not found`, { key });
    const current = this.toKV(cur);
    return new StoreError(
      'Conflict',
      `key ${key} was modified: modRevision is ${current.modRevision}, expected ${expected}`,
      { key, current },
    );
  }

  async update(key: string, value: string, expectedModRevision: number): Promise<KeyValue> {
    checkKey(key);
    checkValue(key, value);
    checkRevision('expectedModRevision', expectedModRevision);
    this.checkOpen();
    const k = this.full(key);
    const res = await this.call(
      'write',
      () =>
        this.client.kv.txn({
          compare: [
            { key: k, target: 'Version', result: 'Greater', version: 0 },
            { key: k, target: 'Mod', result: 'Equal', mod_revision: expectedModRevision },
          ],
          success: [{ request_put: { key: k, value: Buffer.from(value), prev_kv: true } }],
          failure: [{ request_range: { key: k } }],
        }),
      key,
    );
    if (!res.succeeded) throw this.casFailure(key, expectedModRevision, res);
    const rev = num(res.header.revision);
    const prev = res.responses[0]?.response_put?.prev_kv;
    return { key, value, createRevision: prev ? num(prev.create_revision) : rev, modRevision: rev };
  }

  async delete(key: string, expectedModRevision?: number): Promise<KeyValue & { deleteRevision: number }> {
    checkKey(key);
    if (expectedModRevision !== undefined) checkRevision('expectedModRevision', expectedModRevision);
    this.checkOpen();
    const k = this.full(key);
    const res = await this.call(
      'write',
      () =>
        this.client.kv.txn({
          compare: [
            { key: k, target: 'Version', result: 'Greater', version: 0 },
            ...(expectedModRevision === undefined
              ? []
              : [{ key: k, target: 'Mod' as const, result: 'Equal' as const, mod_revision: expectedModRevision }]),
          ],
          success: [{ request_delete_range: { key: k, prev_kv: true } }],
          failure: [{ request_range: { key: k } }],
        }),
      key,
    );
    if (!res.succeeded) throw this.casFailure(key, expectedModRevision, res);
    const prev = res.responses[0]?.response_delete_range?.prev_kvs[0];
    const deleteRevision = num(res.header.revision);
    if (!prev) {
      // Cannot happen (the compare proved the key exists), but never return garbage.
      throw new StoreError('Unavailable', `etcd returned no previous value for deleted key ${key}`, { key });
    }
    return { ...this.toKV(prev), deleteRevision };
  }

  watch(prefix: string, afterRevision: number, onEvents: WatchHandler, onError: WatchErrorHandler): Watcher {
    // Like every other failure of a watch, bad input and a closed store reach onError,
    // asynchronously; watch() itself never throws.
    let bad: StoreError | null = null;
    try {
      this.checkOpen();
      checkPrefix(prefix);
      checkRevision('afterRevision', afterRevision);
    } catch (err) {
      bad = toStoreError(err);
    }
    const key = bad ? Buffer.alloc(0) : this.full(prefix);
    const w = new EtcdWatch(this, key, rangeEnd(key), bad ? 0 : afterRevision, onEvents, onError);
    if (bad) {
      const err = bad;
      queueMicrotask(() => w.fail(err));
      return w;
    }
    this.watchers.add(w);
    w.connect();
    return w;
  }

  forget(w: EtcdWatch): void {
    this.watchers.delete(w);
  }

  async compact(revision: number): Promise<void> {
    checkRevision('revision', revision);
    this.checkOpen();
    if (revision === 0) return;
    try {
      // Compaction is idempotent, so it may be retried like a read.
      await this.call('read', () => this.client.kv.compact({ revision, physical: true }));
    } catch (err) {
      // Already compacted at or past `revision`: nothing to do.
      if (!(err instanceof StoreError && err.code === 'Compacted')) throw err;
    }
    this.noteCompacted(revision);
  }

  /** Whether the snapshot at `rev` is still readable (rev >= etcd's compact revision). */
  private async readableAt(rev: number): Promise<boolean> {
    try {
      await this.call('read', () => this.client.kv.range({ key: this.prefixBuf, count_only: true, revision: rev }));
      return true;
    } catch (err) {
      if (err instanceof StoreError && err.code === 'Compacted') return false;
      throw err;
    }
  }

  async compactedRevision(): Promise<number> {
    this.checkOpen();
    const known = this.knownCompacted;
    // Compaction only moves forward, so the true value is >= known.
    if (await this.readableAt(Math.max(known, 1))) return known;
    // Someone else compacted further: smallest readable revision in (known, current].
    let low = Math.max(known, 1); // not readable
    let high = await this.currentRevision(); // always readable
    while (high - low > 1) {
      const mid = Math.floor((low + high) / 2);
      if (await this.readableAt(mid)) high = mid;
      else low = mid;
    }
    this.noteCompacted(high);
    return this.knownCompacted;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const w of [...this.watchers]) w.close();
    this.client.close();
  }
}

/** Open a store on an etcd v3 cluster. Fails with Unavailable if no endpoint answers. */
export async function openEtcdStore(opts: EtcdStoreOptions): Promise<Store> {
  if (!Array.isArray(opts.endpoints) || opts.endpoints.length === 0 || !opts.endpoints.every((e) => typeof e === 'string' && e !== '')) {
    throw new StoreError('InvalidValue', 'endpoints must be a non-empty array of URLs');
  }
  if (opts.prefix !== undefined) checkPrefix(opts.prefix);
  const store = new EtcdStore(opts);
  try {
    await store.currentRevision();
  } catch (err) {
    await store.close();
    throw err;
  }
  return store;
}
