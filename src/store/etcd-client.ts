// How the etcd backend uses the etcd3 client: the fault-handling policies it gives it, the mapping
// of its errors to StoreError (and which of them are retried), and etcd's number format.
import { isRecoverableError, type IOptions } from 'etcd3';
import { StoreError } from './types.ts';

type GlobalPolicy = NonNullable<NonNullable<IOptions['faultHandling']>['global']>;
type HostPolicy = ReturnType<NonNullable<NonNullable<IOptions['faultHandling']>['host']>>;
type PolicyFn<T> = (context: { signal: AbortSignal }) => PromiseLike<T> | T;

const noopDisposable = () => ({ dispose() {} });

/** etcd3's global policy replaced by a pass-through: retries are decided per operation (EtcdStore.call). */
export function passThroughPolicy(): GlobalPolicy {
  const policy = {
    execute<T>(fn: PolicyFn<T>, signal?: AbortSignal): Promise<T> {
      return Promise.resolve().then(() => fn({ signal: signal ?? new AbortController().signal }));
    },
    onSuccess: noopDisposable,
    onFailure: noopDisposable,
  };
  return policy as unknown as GlobalPolicy;
}

class CircuitOpenError extends Error {
  constructor(host: string) {
    super(`etcd endpoint ${host} is failing; circuit open`);
    this.name = 'CircuitOpenError';
  }
}

/** Per-endpoint circuit breaker: after 3 consecutive connection failures the endpoint is skipped
 *  for 1 s (etcd3's default waits 5 s, too long to notice a restarted single member). */
export function hostBreaker(host: string): HostPolicy {
  let failures = 0;
  let openUntil = 0;
  const policy = {
    execute<T>(fn: PolicyFn<T>, signal?: AbortSignal): Promise<T> {
      if (Date.now() < openUntil) return Promise.reject(new CircuitOpenError(host));
      return Promise.resolve()
        .then(() => fn({ signal: signal ?? new AbortController().signal }))
        .then(
          (v) => {
            failures = 0;
            return v;
          },
          (err: unknown) => {
            if (err instanceof Error && isRecoverableError(err) && ++failures >= 3) openUntil = Date.now() + 1000;
            throw err;
          },
        );
    },
    onSuccess: noopDisposable,
    onFailure: noopDisposable,
  };
  return policy as unknown as HostPolicy;
}

export function errMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

const COMPACTED_RE = /required revision has been compacted/;
const FUTURE_RE = /required revision is a future revision/;
const TOO_LARGE_RE = /request is too large|grpc: received message larger than max/i;
/** Errors after which the request certainly did not reach etcd's raft log. */
export const NOT_SENT_RE = /No connection established|ECONNREFUSED|etcdserver: no leader|etcdserver: too many requests|circuit open/;
/** Connection-level errors a read can be retried on. */
export const TRANSIENT_RE =
  /UNAVAILABLE|No connection established|ECONNREFUSED|ECONNRESET|Connection dropped|circuit open|etcdserver: no leader|etcdserver: leader changed|etcdserver: request timed out|etcdserver: too many requests|DEADLINE_EXCEEDED|RST_STREAM/;

export function toStoreError(err: unknown, key?: string): StoreError {
  if (err instanceof StoreError) return err;
  const msg = errMessage(err);
  const extra = key === undefined ? {} : { key };
  if (COMPACTED_RE.test(msg)) return new StoreError('Compacted', 'the requested revision has been compacted', extra);
  if (FUTURE_RE.test(msg)) return new StoreError('FutureRevision', 'the requested revision is in the future', extra);
  if (TOO_LARGE_RE.test(msg)) return new StoreError('ValueTooLarge', `etcd rejected the request as too large: ${msg}`, extra);
  return new StoreError('Unavailable', `etcd: ${msg}`, extra);
}

export const num = (s: string | number | undefined | null): number => (s === undefined || s === null ? 0 : Number(s));
