// The store contract: the small, etcd-shaped key–value log every kennel backend implements
// (as kine does for k3s). The API server builds all Kubernetes semantics on these calls alone.
//
// - One global revision, strictly increasing by one for every successful write (create,
//   update, delete). Revision 0 means "nothing written yet".
// - Keys are non-empty UTF-8 strings; values are UTF-8 text (kennel stores JSON).
// - Every stored value carries createRevision (the revision that created this incarnation of
//   the key) and modRevision (the revision of its last write).
// - Errors are StoreError with a typed code, never plain strings.

export interface KeyValue {
  key: string;
  value: string;
  createRevision: number;
  modRevision: number;
}

export interface ListOptions {
  /** At most this many items per page; 0 or undefined means all. */
  limit?: number;
  /** Opaque token from a previous page's `continue`; the page then continues that snapshot. */
  continue?: string;
  /** Read the snapshot at this revision (must not be compacted, must not be in the future). */
  revision?: number;
}

export interface ListResult {
  items: KeyValue[];
  /** The snapshot revision this page (and every following page) was read at. */
  revision: number;
  /** Present when more items remain: pass it back as ListOptions.continue. */
  continue?: string;
  /** How many items remain after this page (when more remain). */
  remaining?: number;
}

export type WatchEventType = 'PUT' | 'DELETE';

export interface WatchEvent {
  type: WatchEventType;
  /** For PUT, the new value. For DELETE, key and modRevision (= the delete's revision) with the
   *  value left empty; createRevision is that of the deleted incarnation. */
  kv: KeyValue;
  /** The value before this change: always present for DELETE, present for PUT of an existing key. */
  prevKv?: KeyValue;
}

export type WatchHandler = (events: WatchEvent[]) => void;
export type WatchErrorHandler = (err: StoreError) => void;

export interface Watcher {
  close(): void;
}

export interface Store {
  /** The revision of the last committed write. */
  currentRevision(): Promise<number>;
  /** The latest value of key, or null. */
  get(key: string): Promise<KeyValue | null>;
  /** A consistent snapshot of the keys under prefix at one revision, in key order, paged. */
  list(prefix: string, opts?: ListOptions): Promise<ListResult>;
  /** Create key; StoreError AlreadyExists if it exists. */
  create(key: string, value: string): Promise<KeyValue>;
  /** Compare-and-swap: NotFound if absent, Conflict (with `current`) if modRevision differs. */
  update(key: string, value: string, expectedModRevision: number): Promise<KeyValue>;
  /** Compare-and-swap delete (unconditional without expectedModRevision); returns the deleted
   *  value with `modRevision` of the deleted incarnation and `deleteRevision` of the delete. */
  delete(key: string, expectedModRevision?: number): Promise<KeyValue & { deleteRevision: number }>;
  /** Every change under prefix with revision > afterRevision, in revision order, then live changes.
   *  If afterRevision is compacted, onError receives Compacted (asynchronously). */
  watch(prefix: string, afterRevision: number, onEvents: WatchHandler, onError: WatchErrorHandler): Watcher;
  /** Drop history at or below revision; reads and watches older than it then fail with Compacted. */
  compact(revision: number): Promise<void>;
  /** The revision the store was last compacted to (0 if never). */
  compactedRevision(): Promise<number>;
  close(): Promise<void>;
}

export type StoreErrorCode =
  | 'NotFound'
  | 'AlreadyExists'
  | 'Conflict'
  | 'Compacted'
  | 'FutureRevision'
  | 'Unavailable'
  | 'InvalidKey'
  | 'InvalidValue'
  | 'ValueTooLarge'
  | 'InvalidContinue';

export class StoreError extends Error {
  readonly code: StoreErrorCode;
  readonly key?: string;
  /** For Conflict: the value currently stored (null if it was deleted meanwhile). */
  readonly current?: KeyValue | null;
  /** For Compacted: the revision the store is compacted to. */
  readonly compactRevision?: number;

  constructor(
    code: StoreErrorCode,
    message: string,
    extra: { key?: string; current?: KeyValue | null; compactRevision?: number } = {},
  ) {
    super(message);
    this.name = 'StoreError';
    this.code = code;
    this.key = extra.key;
    this.current = extra.current;
    this.compactRevision = extra.compactRevision;
  }
}

export function isStoreError(err: unknown, code?: StoreErrorCode): err is StoreError {
  return err instanceof StoreError && (code === undefined || err.code === code);
}

/** Largest value accepted, in UTF-8 bytes (etcd's default request limit is 1.5 MiB; kennel
 *  raises it so big ConfigMaps and Secrets fit, and the API server caps bodies at 3 MiB). */
export const MAX_VALUE_BYTES = 3 * 1024 * 1024;
/** Largest key accepted, in UTF-8 bytes. */
export const MAX_KEY_BYTES = 1024;
