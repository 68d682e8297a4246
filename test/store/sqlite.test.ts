import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runStoreContract } from './contract.ts';
import { openSqliteStore, SqliteStore } from '../../src/store/sqlite.ts';
import { openStore } from '../../src/store/index.ts';
import { isStoreError, MAX_VALUE_BYTES } from '../../src/store/types.ts';
import type { Store } from '../../src/store/types.ts';

const dirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'kennel-sqlite-'));
  dirs.push(d);
  return d;
}
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

runStoreContract('sqlite', async () => {
  const dir = tempDir();
  const path = join(dir, 'store.db');
  const opened: Store[] = [];
  const store = await openSqliteStore({ path });
  opened.push(store);
  return {
    store,
    reopen: async () => {
      const s = await openSqliteStore({ path });
      opened.push(s);
      return s;
    },
    cleanup: async () => {
      for (const s of opened) await s.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});
