// The SQLite backend's writer thread: every write to the database file (group-commit batches,
// compaction slices, meta marks) runs on a connection of its own in a worker thread, so the
// fsync of a commit (synchronous=FULL) and the B-tree work of inserts and checkpoints never
// block the main thread. A request is answered only once its transaction has committed.
// Requests run one after another in the order they were sent.
//
// The worker body is plain JavaScript (evaluated, no TypeScript loader needed in the worker):
// it opens the file, prepares its statements and answers {id, ok, result | error, code}.
//
// The file's single owner is enforced by a lock file next to it (`<path>-lock`, a SQLite file
// held in EXCLUSIVE locking mode for the life of the store): the database itself is opened in
// NORMAL locking mode so that the main thread can read while the writer commits.
import { Worker } from 'node:worker_threads';
import { createRequire } from 'node:module';
import Database from 'better-sqlite3';
import { StoreError } from './types.ts';
import { unavailable } from './sqlite-db.ts';

export type Row = [id: number, name: string, value: string, createRevision: number, prevRevision: number, deleted: number];

type Request =
  | { op: 'commit'; rows: Row[]; epoch: number }
  | { op: 'setMeta'; k: string; v: number }
  | { op: 'compactSlice'; lo: number; hi: number; target: number }
  | { op: 'close' };

interface Reply {
  id: number;
  ok: boolean;
  result?: number;
  error?: string;
  code?: string;
}

const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
let db;
let st;
let minEpoch = 0;
try {
  db = new Database(workerData.path);
  db.pragma('busy_timeout = 5000');
  const mode = db.pragma('journal_mode = WAL', { simple: true });
  if (String(mode).toLowerCase() !== 'wal') throw new Error('could not enable WAL (journal_mode=' + mode + ')');
  db.pragma('synchronous = FULL');
  db.pragma('cache_size = -16384');
  const insert = db.prepare('INSERT INTO kv (id, name, value, create_revision, prev_revision, deleted) VALUES (?, ?, ?, ?, ?, ?)');
  const setMeta = db.prepare('INSERT OR REPLACE INTO meta (k, v) VALUES (?, ?)');
  const compactSlice = db.prepare(
    'DELETE FROM kv WHERE id > ? AND id <= ? AND (deleted = 1 OR EXISTS (SELECT 1 FROM kv n WHERE n.name = kv.name AND n.id > kv.id AND n.id <= ?))',
  );
  st = {
    commit: db.transaction((rows) => {
      for (let i = 0; i < rows.length; i++) {
        const r = rows[i];
        insert.run(r[0], r[1], r[2], r[3], r[4], r[5]);
      }
    }),
    compact: db.transaction((lo, hi, target) => {
      const n = compactSlice.run(lo, hi, target).changes;
      setMeta.run('compact_done', hi);
      return n;
    }),
    setMeta,
  };
  parentPort.postMessage({ id: 0, ok: true });
} catch (err) {
  try { if (db) db.close(); } catch {}
  parentPort.postMessage({ id: 0, ok: false, error: err && err.message ? err.message : String(err), code: err && typeof err.code === 'string' ? err.code : undefined });
  db = undefined;
}
parentPort.on('message', (m) => {
  let result;
  try {
    if (!db) throw new Error('the database is not open');
    switch (m.op) {
      case 'commit':
        if (m.epoch < minEpoch) throw new Error('an earlier write batch failed');
        try { st.commit(m.rows); } catch (err) { minEpoch = m.epoch + 1; throw err; }
        break;
      case 'setMeta': st.setMeta.run(m.k, m.v); break;
      case 'compactSlice': result = st.compact(m.lo, m.hi, m.target); break;
      case 'close': db.close(); db = undefined; parentPort.postMessage({ id: m.id, ok: true }); parentPort.close(); return;
    }
    parentPort.postMessage({ id: m.id, ok: true, result });
  } catch (err) {
    parentPort.postMessage({ id: m.id, ok: false, error: err && err.message ? err.message : String(err), code: err && typeof err.code === 'string' ? err.code : undefined });
  }
});
`;

const driverPath = createRequire(import.meta.url).resolve('better-sqlite3');

function replyError(r: Reply): StoreError {
  const e = Object.assign(new Error(r.error ?? 'the writer failed'), { code: r.code });
  return unavailable(e);
}

/** The database's writer thread. */
export class SqliteWriter {
  private readonly worker: Worker;
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (n: number) => void; reject: (e: StoreError) => void }>();
  private failed: StoreError | null = null;
  private exited = false;

  private constructor(path: string) {
    // execArgv: [] — the body is a plain CommonJS script; the parent's flags (a loader, an
    // --input-type) are not for it.
    this.worker = new Worker(WORKER_SOURCE, { eval: true, execArgv: [], workerData: { path, driver: driverPath } });
    this.worker.on('message', (r: Reply) => this.onReply(r));
    this.worker.on('error', (err) => this.fail(unavailable(err)));
    this.worker.on('exit', (code) => {
      this.exited = true;
      this.fail(new StoreError('Unavailable', `sqlite: the writer thread exited (code ${code})`));
    });
  }

  /** Starts the writer on a database whose schema already exists. */
  static async start(path: string): Promise<SqliteWriter> {
    const w = new SqliteWriter(path);
    try {
      await new Promise<number>((resolve, reject) => w.pending.set(0, { resolve, reject }));
    } catch (err) {
      await w.worker.terminate();
      throw err;
    }
    // An idle writer does not keep the process alive; one with requests in flight does.
    w.worker.unref();
    return w;
  }

  /**
   * Commits log rows in one transaction (resolves once durable). Once a commit fails, the
   * writer refuses every later commit of the same (or an older) epoch: those were decided on
   * top of the failed one.
   */
  commit(rows: Row[], epoch: number): Promise<number> {
    return this.send({ op: 'commit', rows, epoch });
  }

  setMeta(k: string, v: number): Promise<number> {
    return this.send({ op: 'setMeta', k, v });
  }

  /** Deletes the compacted rows of (lo, hi] and records hi as done; resolves with the row count. */
  compactSlice(lo: number, hi: number, target: number): Promise<number> {
    return this.send({ op: 'compactSlice', lo, hi, target });
  }

  /** Closes the writer's connection and ends the thread (after every request sent before). */
  async close(): Promise<void> {
    if (!this.exited && !this.failed) {
      try {
        await this.send({ op: 'close' });
      } catch {
        // ended anyway below
      }
    }
    if (!this.exited) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(() => void this.worker.terminate().then(() => resolve(), () => resolve()), 2000);
        this.worker.once('exit', () => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  private send(req: Request): Promise<number> {
    if (this.failed) return Promise.reject(this.failed);
    const id = this.nextId++;
    if (this.pending.size === 0) this.worker.ref();
    return new Promise<number>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ id, ...req });
    });
  }

  private onReply(r: Reply): void {
    const p = this.pending.get(r.id);
    if (!p) return;
    this.pending.delete(r.id);
    if (this.pending.size === 0 && !this.exited) this.worker.unref();
    if (r.ok) p.resolve(r.result ?? 0);
    else p.reject(replyError(r));
  }

  private fail(err: StoreError): void {
    if (!this.failed) this.failed = err;
    const all = [...this.pending.values()];
    this.pending.clear();
    for (const p of all) p.reject(err);
  }
}

/**
 * Takes the lock file of a database (`<path>-lock`) for the life of the returned connection;
 * Unavailable when another store (in this or another process) holds it.
 */
export function lockDatabase(path: string): Database.Database {
  let lock: Database.Database;
  try {
    lock = new Database(`${path}-lock`);
  } catch (err) {
    throw unavailable(err);
  }
  try {
    lock.pragma('locking_mode = EXCLUSIVE');
    lock.pragma('busy_timeout = 0');
    lock.pragma('journal_mode = OFF');
    lock.exec('BEGIN EXCLUSIVE; COMMIT');
  } catch (err) {
    lock.close();
    const e = unavailable(err);
    if (/locked|busy/i.test(e.message)) throw new StoreError('Unavailable', `sqlite: ${path} is in use by another store (${e.message})`);
    throw e;
  }
  return lock;
}
