// The store factory: picks a backend by name. The etcd backend (and its client library) is
// loaded only when asked for, so an embedded kennel never pays for it.
import type { Store } from './types.ts';
import type { Logger } from '../util/log.ts';

export type StoreOptions =
  | { backend: 'memory'; logger?: Logger }
  | {
      backend: 'sqlite';
      /** The database file. */
      path: string;
      logger?: Logger;
      /** Background compaction (off unless given): keep the last keepRevisions revisions. */
      autoCompact?: { keepRevisions: number; intervalMs?: number };
    }
  | {
      backend: 'etcd';
      endpoints: string[];
      /** Key prefix inside etcd (the etcd backend's default when absent). */
      prefix?: string;
      logger?: Logger;
    };

export async function openStore(opts: StoreOptions): Promise<Store> {
  switch (opts.backend) {
    case 'memory': {
      const { openMemoryStore } = await import('./memory.ts');
      return openMemoryStore({ logger: opts.logger });
    }
    case 'sqlite': {
      const { openSqliteStore } = await import('./sqlite.ts');
      return openSqliteStore({ path: opts.path, logger: opts.logger, autoCompact: opts.autoCompact });
    }
    case 'etcd': {
      const { openEtcdStore } = await import('./etcd.ts');
      const etcdOpts: { endpoints: string[]; prefix?: string; logger?: Logger } = { endpoints: opts.endpoints };
      if (opts.prefix !== undefined) etcdOpts.prefix = opts.prefix;
      if (opts.logger !== undefined) etcdOpts.logger = opts.logger;
      return openEtcdStore(etcdOpts);
    }
    default: {
      const never: never = opts;
      throw new Error(`unknown store backend ${JSON.stringify((never as { backend?: unknown }).backend)}`);
    }
  }
}

export type { Store } from './types.ts';
export { StoreError, isStoreError, MAX_KEY_BYTES, MAX_VALUE_BYTES } from './types.ts';
