// One watcher of the etcd backend: an etcd Watch stream, reconnected (to any endpoint) from the
// last delivered revision when it breaks.
import type { IDuplexStream, IWatchRequest, IWatchResponse } from 'etcd3';
import { StoreError, type WatchErrorHandler, type WatchEvent, type WatchHandler, type Watcher } from './types.ts';
import { errMessage, num } from './etcd-client.ts';
import type { EtcdStore } from './etcd.ts';

type WatchStream = IDuplexStream<IWatchRequest, IWatchResponse>;

/** One etcd watch stream, reconnected from the last delivered revision when it breaks. */
export class EtcdWatch implements Watcher {
  private stream: WatchStream | null = null;
  private closed = false;
  /** Revision of the last delivered event (initially afterRevision). */
  private lastRev: number;
  /** When the current outage began (0 while connected). */
  private outageSince = 0;
  private backoffMs = 25;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly store: EtcdStore,
    private readonly key: Buffer,
    private readonly end: Buffer,
    afterRevision: number,
    private readonly onEvents: WatchHandler,
    private readonly onError: WatchErrorHandler,
  ) {
    this.lastRev = afterRevision;
  }

  connect(): void {
    if (this.closed) return;
    this.store.client.watchClient.watch().then(
      (stream) => {
        if (this.closed) {
          endStream(stream);
          return;
        }
        this.stream = stream;
        stream.on('data', (res: IWatchResponse) => this.onResponse(stream, res));
        stream.on('error', (err: Error) => this.onBroken(stream, err));
        stream.on('end', () => this.onBroken(stream, new Error('watch stream ended')));
        stream.write({
          create_request: {
            key: this.key,
            range_end: this.end,
            // Start at lastRev (not +1): etcd then reports Compacted exactly when lastRev is
            // below the compaction revision; events at lastRev itself are dropped below.
            start_revision: Math.max(this.lastRev, 1),
            prev_kv: true,
          },
        });
      },
      (err: unknown) => this.retry(err),
    );
  }

  private onResponse(stream: WatchStream, res: IWatchResponse): void {
    if (this.closed || stream !== this.stream) return;
    if (res.canceled) {
      const compactRevision = num(res.compact_revision);
      if (compactRevision > 0) {
        this.store.noteCompacted(compactRevision);
        this.fail(
          new StoreError('Compacted', `watch from revision ${this.lastRev} is older than the compaction at ${compactRevision}`, {
            compactRevision,
          }),
        );
      } else {
        this.onBroken(stream, new Error(`watch canceled by etcd: ${res.cancel_reason || 'no reason given'}`));
      }
      return;
    }
    if (res.created) {
      this.outageSince = 0;
      this.backoffMs = 25;
    }
    const batch: WatchEvent[] = [];
    for (const ev of res.events ?? []) {
      const rev = num(ev.kv.mod_revision);
      if (rev <= this.lastRev) continue;
      batch.push(this.store.toEvent(ev));
    }
    if (batch.length === 0) return;
    this.lastRev = batch[batch.length - 1].kv.modRevision;
    try {
      this.onEvents(batch);
    } catch (err) {
      // A throwing handler is the caller's bug: log it (as the other backends do), keep going.
      this.store.log.error('watch handler threw', { err: String(err) });
    }
  }

  private onBroken(stream: WatchStream, err: unknown): void {
    if (this.closed || stream !== this.stream) return;
    this.stream = null;
    endStream(stream);
    this.retry(err);
  }

  private retry(err: unknown): void {
    if (this.closed) return;
    const now = Date.now();
    if (this.outageSince === 0) this.outageSince = now;
    if (now - this.outageSince > this.store.watchRetryTimeoutMs) {
      this.fail(new StoreError('Unavailable', `etcd watch could not reconnect: ${errMessage(err)}`));
      return;
    }
    const delay = this.backoffMs * (0.5 + Math.random());
    this.backoffMs = Math.min(this.backoffMs * 2, 1000);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.connect();
    }, delay);
  }

  fail(err: StoreError): void {
    if (this.closed) return;
    this.close();
    try {
      this.onError(err);
    } catch (e) {
      this.store.log.error('watch error handler threw', { err: String(e) });
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const s = this.stream;
    this.stream = null;
    if (s) endStream(s);
    this.store.forget(this);
  }
}

/** Close a watch stream from our side. end() first: etcd3 marks an endpoint as failed when a
 *  still-writable stream errors, and cancel() alone makes it error with CANCELLED. */
function endStream(stream: WatchStream): void {
  try {
    stream.end();
    stream.cancel();
  } catch {
    // already closed
  }
}
