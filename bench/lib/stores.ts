// The two stores the comparison benchmarks run against: a SQLite file in a temporary directory,
// and a single etcd member started for the run. Each is torn down after `fn`, whatever happens.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore } from '../../src/store/index.ts';
import type { Store } from '../../src/store/types.ts';
import { startEtcd } from '../../test/support/etcd.ts';

export async function withSqliteStore<T>(fn: (store: Store) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), 'kennel-bench-sqlite-'));
  try {
    const store = await openStore({ backend: 'sqlite', path: join(dir, 'state.db') });
    try {
      return await fn(store);
    } finally {
      await store.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function withEtcdStore<T>(fn: (store: Store) => Promise<T>): Promise<T> {
  const cluster = await startEtcd({ members: 1 });
  try {
    const store = await openStore({ backend: 'etcd', endpoints: cluster.endpoints, prefix: '/bench/' });
    try {
      return await fn(store);
    } finally {
      await store.close();
    }
  } finally {
    await cluster.stop();
  }
}
