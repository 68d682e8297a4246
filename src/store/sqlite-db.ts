// The SQLite backend's database: opening the file (WAL, synchronous=FULL), its schema, and
// every query the main thread runs on it (the writes are in sqlite-writer.ts).
import Database from 'better-sqlite3';
import { StoreError } from './types.ts';
import type { KeyValue, WatchEvent } from './types.ts';
import type { RevEvent } from './watch-hub.ts';

export type RowTuple = [id: number, name: string, value: string, createRevision: number, deleted: number, prevValue: string | null, prevCreate: number | null, prevRevision: number];

const SCHEMA = `
CREATE TABLE IF NOT EXISTS kv (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL,
  value TEXT NOT NULL,
  create_revision INTEGER NOT NULL,
  prev_revision INTEGER NOT NULL,
  deleted INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS kv_name_id ON kv (name, id, deleted);
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v INTEGER NOT NULL) WITHOUT ROWID;
INSERT OR IGNORE INTO meta (k, v) VALUES ('schema', 1), ('compact_revision', 0), ('compact_done', 0);
`;

export function unavailable(err: unknown): StoreError {
  if (err instanceof StoreError) return err;
  const code = (err as { code?: unknown })?.code;
  return new StoreError('Unavailable', `sqlite: ${err instanceof Error ? err.message : String(err)}${typeof code === 'string' ? ` (${code})` : ''}`);
}

export interface Statements {
  value: Database.Statement<[number], string>;
  row: Database.Statement<[number], [string, number]>;
  listFrom: Database.Statement<[string, number], [string, number, number]>;
  listFromTo: Database.Statement<[string, string, number], [string, number, number]>;
  listAfter: Database.Statement<[string, number], [string, number, number]>;
  listAfterTo: Database.Statement<[string, string, number], [string, number, number]>;
  replay: Database.Statement<[number, number, string, number], RowTuple>;
  replayTo: Database.Statement<[number, number, string, string, number], RowTuple>;
  sliceEnd: Database.Statement<[number, number, number], number>;
}

/**
 * Opens (or creates) the database file for the main thread, which only reads from it (the
 * writer thread of sqlite-writer.ts does every write after the schema exists). The caller holds
 * the file's lock (lockDatabase) first: one store owns the file, so the in-memory index sees
 * every write.
 */
export function openDatabase(path: string): Database.Database {
  let db: Database.Database;
  try {
    db = new Database(path);
  } catch (err) {
    throw unavailable(err);
  }
  try {
    db.pragma('busy_timeout = 1000');
    const mode = db.pragma('journal_mode = WAL', { simple: true });
    if (String(mode).toLowerCase() !== 'wal') throw new Error(`could not enable WAL (journal_mode=${String(mode)})`);
    db.pragma('synchronous = FULL');
    db.pragma('cache_size = -65536'); // 64 MiB
    db.pragma('temp_store = MEMORY');
    db.exec(SCHEMA);
  } catch (err) {
    db.close();
    const e = unavailable(err);
    if (/locked|busy/i.test(e.message)) {
      throw new StoreError('Unavailable', `sqlite: ${path} is in use by another process (${e.message})`);
    }
    throw e;
  }
  return db;
}

export function prepareStatements(db: Database.Database): Statements {
  const listSql = (cmp: '>=' | '>', upper: boolean) =>
    `SELECT name, MAX(id) AS mid, deleted FROM kv WHERE name ${cmp} ?${upper ? ' AND name < ?' : ''} AND id <= ? GROUP BY name ORDER BY name`;
  const replaySql = (upper: boolean) =>
    `SELECT k.id, k.name, k.value, k.create_revision, k.deleted, p.value, p.create_revision, k.prev_revision
     FROM kv k LEFT JOIN kv p ON p.id = k.prev_revision AND k.prev_revision > 0
     WHERE k.id > ? AND k.id <= ? AND k.name >= ?${upper ? ' AND k.name < ?' : ''} ORDER BY k.id LIMIT ?`;
  return {
    value: db.prepare<[number], string>('SELECT value FROM kv WHERE id = ?').pluck(),
    row: db.prepare<[number], [string, number]>('SELECT value, create_revision FROM kv WHERE id = ?').raw(),
    listFrom: db.prepare<[string, number], [string, number, number]>(listSql('>=', false)).raw(),
    listFromTo: db.prepare<[string, string, number], [string, number, number]>(listSql('>=', true)).raw(),
    listAfter: db.prepare<[string, number], [string, number, number]>(listSql('>', false)).raw(),
    listAfterTo: db.prepare<[string, string, number], [string, number, number]>(listSql('>', true)).raw(),
    replay: db.prepare<[number, number, string, number], RowTuple>(replaySql(false)).raw(),
    replayTo: db.prepare<[number, number, string, string, number], RowTuple>(replaySql(true)).raw(),
    sliceEnd: db.prepare<[number, number, number], number>('SELECT id FROM kv WHERE id > ? AND id <= ? ORDER BY id LIMIT 1 OFFSET ?').pluck(),
  };
}

/** The meta table: schema version and compaction marks. */
export function readMeta(db: Database.Database): Map<string, number> {
  return new Map(
    (db.prepare('SELECT k, v FROM meta').raw().all() as [string, number][]).map(([k, v]) => [k, v] as const),
  );
}

/** The highest revision in the log (0 when it is empty). */
export function maxRowId(db: Database.Database): number {
  return (db.prepare('SELECT MAX(id) FROM kv').pluck().get() as number | null) ?? 0;
}

/** Every live key with its latest row id and createRevision. */
export function liveRows(db: Database.Database): IterableIterator<[string, number, number]> {
  return db
    .prepare(
      `SELECT k.name, k.id, k.create_revision
       FROM (SELECT MAX(id) AS mid, deleted AS d FROM kv GROUP BY name) g CROSS JOIN kv k ON k.id = g.mid
       WHERE g.d = 0`,
    )
    .raw()
    .iterate() as IterableIterator<[string, number, number]>;
}

/**
 * One page of a list at `rev`: the live keys from `prefix` (or strictly after `after`) up to
 * `end`, at most `limit` of them (0: all); `more` when keys were left for another page.
 */
export function readListPage(
  st: Statements,
  prefix: string,
  end: string | null,
  after: string | null,
  rev: number,
  limit: number,
): { items: KeyValue[]; more: boolean } {
  const rows =
    after === null
      ? end === null
        ? st.listFrom.iterate(prefix, rev)
        : st.listFromTo.iterate(prefix, end, rev)
      : end === null
        ? st.listAfter.iterate(after, rev)
        : st.listAfterTo.iterate(after, end, rev);
  // Pass 1 walks the covering index only (name, latest id ≤ rev, deleted flag).
  const hits: [string, number][] = [];
  let more = false;
  for (const [name, mid, deleted] of rows) {
    if (deleted) continue;
    if (limit > 0 && hits.length === limit) {
      more = true;
      break;
    }
    hits.push([name, mid]);
  }
  if (more) (rows as IterableIterator<unknown>).return?.();
  // Pass 2 reads the values.
  const items: KeyValue[] = hits.map(([name, mid]) => {
    const r = st.row.get(mid);
    if (!r) throw new StoreError('Unavailable', `sqlite: row ${mid} vanished during list`);
    return { key: name, value: r[0], createRevision: r[1], modRevision: mid };
  });
  return { items, more };
}

/** The watch events of replayed log rows (the previous value comes from the joined row). */
export function replayEvents(rows: RowTuple[]): RevEvent[] {
  return rows.map(([id, name, value, createRevision, deleted, pv, pc, pid]) => {
    const prevKv: KeyValue | undefined =
      pid > 0 && pv !== null && pc !== null ? { key: name, value: pv, createRevision: pc, modRevision: pid } : undefined;
    const event: WatchEvent = deleted
      ? { type: 'DELETE', kv: { key: name, value: '', createRevision, modRevision: id }, prevKv }
      : prevKv
        ? { type: 'PUT', kv: { key: name, value, createRevision, modRevision: id }, prevKv }
        : { type: 'PUT', kv: { key: name, value, createRevision, modRevision: id } };
    return { rev: id, event };
  });
}
