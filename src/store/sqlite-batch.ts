// Group commit's decisions: how many queued writes a batch takes, and what each one does, its
// compare-and-swap checked against the state including earlier writes of the batch.
import { StoreError } from './types.ts';
import type { KeyValue } from './types.ts';
import type { RevEvent } from './watch-hub.ts';

export type Settle = { resolve: (v: never) => void; reject: (e: StoreError) => void };
export type Op =
  | ({ kind: 'create'; key: string; value: string } & Settle)
  | ({ kind: 'update'; key: string; value: string; expected: number } & Settle)
  | ({ kind: 'delete'; key: string; expected: number | undefined } & Settle);

/** The latest live row of a key. */
export interface Latest {
  id: number;
  createRevision: number;
}
/** A key's state written by a batch (the value known): null in an overlay = deleted. */
export interface Pending extends Latest {
  value: string;
}

/** How many queued requests the next batch takes: at most maxWrites, and values of about maxBytes
 *  (always at least one request). */
export function batchSize(queue: Op[], maxWrites: number, maxBytes: number): number {
  let n = 0;
  let bytes = 0;
  while (n < queue.length && n < maxWrites) {
    const op = queue[n];
    bytes += op.kind === 'delete' ? 0 : op.value.length;
    if (n > 0 && bytes > maxBytes) break;
    n++;
  }
  return n;
}

/** What a batch would write (rows), answer (outcomes, one per request) and publish (events). */
export interface BatchPlan {
  /** Each written key's state after the batch: null = deleted. */
  overlay: Map<string, Pending | null>;
  rows: [number, string, string, number, number, number][];
  outcomes: ({ ok: true; value: unknown } | { ok: false; err: StoreError })[];
  events: RevEvent[];
  /** The revision of the batch's last write (the store's revision when it wrote nothing). */
  rev: number;
}

/**
 * Decides every request of `batch` in order, from the store at `currentRev` (`lookup`: a key's
 * latest live row, or null; a row the lookup knows the value of may carry it; `readValue`: a
 * committed row's value, which may throw). Events are built only when `watching`.
 */
export function planBatch(
  batch: Op[],
  currentRev: number,
  lookup: (key: string) => Latest | Pending | null,
  readValue: (id: number) => string,
  watching: boolean,
): BatchPlan {
  const overlay = new Map<string, Pending | null>();
  const rows: [number, string, string, number, number, number][] = [];
  const outcomes: ({ ok: true; value: unknown } | { ok: false; err: StoreError })[] = [];
  const events: RevEvent[] = [];
  let rev = currentRev;
  const currentOf = (key: string): Pending | Latest | null => {
    const p = overlay.get(key);
    return p !== undefined ? p : lookup(key);
  };
  const valueOf = (l: Pending | Latest): string => ('value' in l ? l.value : readValue(l.id));
  const kvOf = (key: string, l: Pending | Latest): KeyValue => ({
    key,
    value: valueOf(l),
    createRevision: l.createRevision,
    modRevision: l.id,
  });

  for (const op of batch) {
    const cur = currentOf(op.key);
    if (op.kind === 'create') {
      if (cur) {
        outcomes.push({ ok: false, err: new StoreError('AlreadyExists', `key ${op.key} already exists`, { key: op.key }) });
        continue;
      }
      rev++;
      rows.push([rev, op.key, op.value, rev, 0, 0]);
      overlay.set(op.key, { id: rev, createRevision: rev, value: op.value });
      const kv: KeyValue = { key: op.key, value: op.value, createRevision: rev, modRevision: rev };
      outcomes.push({ ok: true, value: kv });
      if (watching) events.push({ rev, event: { type: 'PUT', kv } });
      continue;
    }
    if (!cur) {
      outcomes.push({ ok: false, err: new StoreError('NotFound', `key ${op.key} not found`, { key: op.key }) });
      continue;
    }
    if (op.expected !== undefined && op.expected !== cur.id) {
      outcomes.push({
        ok: false,
        err: new StoreError('Conflict', `key ${op.key} is at revision ${cur.id}, not ${op.expected}`, {
          key: op.key,
          current: kvOf(op.key, cur),
        }),
      });
      continue;
    }
    rev++;
    if (op.kind === 'update') {
      rows.push([rev, op.key, op.value, cur.createRevision, cur.id, 0]);
      overlay.set(op.key, { id: rev, createRevision: cur.createRevision, value: op.value });
      const kv: KeyValue = { key: op.key, value: op.value, createRevision: cur.createRevision, modRevision: rev };
      outcomes.push({ ok: true, value: kv });
      if (watching) events.push({ rev, event: { type: 'PUT', kv, prevKv: kvOf(op.key, cur) } });
    } else {
      rows.push([rev, op.key, '', cur.createRevision, cur.id, 1]);
      overlay.set(op.key, null);
      const prev = kvOf(op.key, cur);
      outcomes.push({ ok: true, value: { ...prev, deleteRevision: rev } });
      if (watching) {
        events.push({
          rev,
          event: { type: 'DELETE', kv: { key: op.key, value: '', createRevision: cur.createRevision, modRevision: rev }, prevKv: prev },
        });
      }
    }
  }
  return { overlay, rows, outcomes, events, rev };
}
