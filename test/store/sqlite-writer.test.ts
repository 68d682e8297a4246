// The SQLite store's writer thread and file lock (src/store/sqlite-writer.ts): the file is open
// in NORMAL locking mode (the main thread reads while the writer thread commits), so an
// acknowledged write is in the file for any other connection to read; the lock file keeps a
// second store, in another process too, away.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { openSqliteStore } from '../../src/store/sqlite.ts';

const dirs: string[] = [];
function freshPath(): string {
  const d = mkdtempSync(join(tmpdir(), 'kennel-sqlite-writer-'));
  dirs.push(d);
  return join(d, 'store.db');
}
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** Runs a child process that tries to open the store; resolves with what it printed. */
function openFromAnotherProcess(path: string): Promise<string> {
  const src = new URL('../../src/store/sqlite.ts', import.meta.url).href;
  const code = `import(${JSON.stringify(src)}).then((m) => m.openSqliteStore({ path: ${JSON.stringify(path)} })).then(async (s) => { console.log('opened'); await s.close(); }, (e) => console.log('refused: ' + e.code));`;
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (c: Buffer) => (out += c.toString()));
    p.stderr.on('data', (c: Buffer) => (err += c.toString()));
    const t = setTimeout(() => p.kill('SIGKILL'), 20_000);
    p.on('error', reject);
    p.on('close', () => {
      clearTimeout(t);
      resolve(out.trim() || err.trim());
    });
  });
}

describe('sqlite writer thread', () => {
  it('an acknowledged write is in the file for another connection', async () => {
    const path = freshPath();
    const store = await openSqliteStore({ path });
    try {
      const results = await Promise.all(Array.from({ length: 50 }, (_, i) => store.create(`w/${i}`, `v${i}`)));
      const reader = new Database(path, { readonly: true });
      try {
        for (const kv of results) {
          const row = reader.prepare('SELECT name, value FROM kv WHERE id = ?').get(kv.modRevision) as { name: string; value: string } | undefined;
          assert.deepEqual(row, { name: kv.key, value: kv.value });
        }
      } finally {
        reader.close();
      }
      const u = await store.update('w/0', 'changed', results[0].modRevision);
      assert.equal((await store.get('w/0'))?.value, 'changed');
      assert.equal(u.modRevision, (await store.currentRevision()));
    } finally {
      await store.close();
    }
  });

  it('a failed commit fails the batches decided on top of it, then writes go on from the file', async () => {
    const path = freshPath();
    // Batches of 5: ten writes in one turn become two batches, both at the writer at once.
    const store = await openSqliteStore({ path, maxBatchWrites: 5 });
    try {
      await store.create('before', 'x');
      const rev = await store.currentRevision();
      // A row the store does not know about takes the next revision: the first batch's insert
      // fails on it.
      const other = new Database(path);
      try {
        other.pragma('busy_timeout = 5000');
        other.prepare('INSERT INTO kv (id, name, value, create_revision, prev_revision, deleted) VALUES (?, ?, ?, ?, 0, 0)').run(rev + 1, 'intruder', 'y', rev + 1);
      } finally {
        other.close();
      }
      const results = await Promise.allSettled(Array.from({ length: 10 }, (_, i) => store.create(`f/${i}`, `v${i}`)));
      assert.deepEqual(
        results.map((r) => r.status),
        Array(10).fill('rejected'),
        'the second batch was decided on the first: it fails too',
      );
      for (const r of results) assert.equal((r as PromiseRejectedResult).reason.code, 'Unavailable');
      // The index was re-read from the file: the row written behind the store's back is there,
      // nothing of the failed batches is, and revisions go on after it.
      assert.equal((await store.get('intruder'))?.value, 'y');
      assert.equal(await store.get('f/0'), null);
      assert.equal(await store.get('f/9'), null);
      assert.equal(await store.currentRevision(), rev + 1);
      const next = await Promise.all(Array.from({ length: 10 }, (_, i) => store.create(`g/${i}`, `v${i}`)));
      assert.deepEqual(
        next.map((kv) => kv.modRevision),
        Array.from({ length: 10 }, (_, i) => rev + 2 + i),
      );
      const reader = new Database(path, { readonly: true });
      try {
        assert.equal((reader.prepare("SELECT COUNT(*) FROM kv WHERE name LIKE 'f/%'").pluck().get() as number), 0);
      } finally {
        reader.close();
      }
    } finally {
      await store.close();
    }
  });

  it('another process cannot open the file while the store is open', async () => {
    const path = freshPath();
    const store = await openSqliteStore({ path });
    try {
      await store.create('held', 'yes');
      assert.match(await openFromAnotherProcess(path), /^refused: Unavailable/);
      assert.equal((await store.create('still', 'writable')).value, 'writable');
    } finally {
      await store.close();
    }
    assert.equal(await openFromAnotherProcess(path), 'opened');
    const again = await openSqliteStore({ path });
    try {
      assert.equal((await again.get('held'))?.value, 'yes');
      assert.equal((await again.get('still'))?.value, 'writable');
    } finally {
      await again.close();
    }
  });
});
