// Crash-safety harness for the SQLite store, used by test/store/sqlite-crash.test.ts and
// bench/store-crash.ts.
//
// Run as a program (`node --import tsx test/store/crash-child.ts child DBPATH`), it opens the
// store and runs 50 concurrent writers, each creating and then updating its own keys with
// values derived from (writer, sequence number); every acknowledged write is printed at once as
// one JSON line {"k","v","r","s"} on stdout. It never stops by itself (except after a safety
// deadline): the parent kills it with SIGKILL.
//
// Imported, it exports runCrashTrial(): start the child, kill it at a random moment after some
// acknowledgements, reopen the file and check that nothing acknowledged was lost or damaged.
import { spawn } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { openSqliteStore } from '../../src/store/sqlite.ts';
import type { KeyValue } from '../../src/store/types.ts';

const WRITERS = 50;
const KEYS_PER_WRITER = 8;
const CHILD_DEADLINE_MS = 60_000;

/** The value writer w writes at its sequence number seq (deterministic, 40–400 bytes). */
export function crashValue(w: number, seq: number): string {
  const pad = (seq * 7919 + w * 104729) % 360;
  return `w${w}:s${seq}:` + 'abcdefghijklmnopqrstuvwxyz0123456789'.repeat(11).slice(0, pad) + ':end';
}

function parseValue(v: string): { w: number; seq: number } | null {
  const m = /^w(\d+):s(\d+):/.exec(v);
  if (!m) return null;
  const w = Number(m[1]);
  const seq = Number(m[2]);
  return crashValue(w, seq) === v ? { w, seq } : null;
}

function keyOf(w: number, j: number): string {
  return `crash/w${String(w).padStart(2, '0')}/k${j}`;
}

async function childMain(path: string): Promise<void> {
  const store = await openSqliteStore({ path });
  setTimeout(() => process.exit(3), CHILD_DEADLINE_MS).unref();
  process.stderr.write(`crash-child: ready at revision ${await store.currentRevision()}\n`);
  const writer = async (w: number) => {
    // Resume where an earlier run of the same file left off.
    const known: (KeyValue | null)[] = [];
    let seq = 0;
    for (let j = 0; j < KEYS_PER_WRITER; j++) {
      const cur = await store.get(keyOf(w, j));
      known.push(cur);
      const p = cur ? parseValue(cur.value) : null;
      if (p && p.seq >= seq) seq = p.seq + 1;
    }
    for (;;) {
      const j = seq % KEYS_PER_WRITER;
      const key = keyOf(w, j);
      const value = crashValue(w, seq);
      const prev = known[j];
      const kv = prev ? await store.update(key, value, prev.modRevision) : await store.create(key, value);
      known[j] = kv;
      process.stdout.write(JSON.stringify({ k: key, v: value, r: kv.modRevision, s: seq }) + '\n');
      seq++;
    }
  };
  await Promise.all(Array.from({ length: WRITERS }, (_, w) => writer(w)));
}

export interface CrashTrialResult {
  /** Acknowledged writes seen before the kill. */
  acknowledged: number;
  /** Keys whose last acknowledged write is missing, plus a revision that went backwards. */
  lost: number;
  /** Values or metadata that are wrong, and failed integrity checks. */
  corrupt: number;
  /** The revision a new write got after the restart, and the highest acknowledged one. */
  newRevision: number;
  maxAckedRevision: number;
  problems: string[];
}

interface Ack {
  k: string;
  v: string;
  r: number;
  s: number;
}

const CHILD_PATH = fileURLToPath(import.meta.url);

/** One trial: run the child on dir/store.db, SIGKILL it once it acknowledged at least
 *  killAfterAcks writes (plus a random delay), then verify the file. The same file can be used
 *  for several trials in a row. */
export async function runCrashTrial(opts: {
  dir: string;
  killAfterAcks: number;
  maxExtraDelayMs?: number;
  timeoutMs?: number;
}): Promise<CrashTrialResult> {
  const path = join(opts.dir, 'store.db');
  const acks: Ack[] = [];
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD_PATH, 'child', path], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d: string) => {
    stderr = (stderr + d).slice(-4000);
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  let killTimer: NodeJS.Timeout | null = null;
  let killScheduled = false;
  const scheduleKill = () => {
    if (killScheduled) return;
    killScheduled = true;
    killTimer = setTimeout(() => child.kill('SIGKILL'), Math.floor(Math.random() * (opts.maxExtraDelayMs ?? 30)));
  };
  const guard = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 30_000);
  let buf = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (d: string) => {
    buf += d;
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      acks.push(JSON.parse(line) as Ack);
    }
    if (acks.length >= opts.killAfterAcks) scheduleKill();
  });
  let exit: { code: number | null; signal: NodeJS.Signals | null };
  try {
    exit = await exited;
  } finally {
    clearTimeout(guard);
    if (killTimer) clearTimeout(killTimer);
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
  // A line cut short cannot be an acknowledgement that was fully reported; ignore it.
  if (exit.signal !== 'SIGKILL' || !killScheduled) {
    throw new Error(`crash child ended on its own (code ${exit.code}, signal ${exit.signal}) after ${acks.length} acks: ${stderr}`);
  }

  const problems: string[] = [];
  let lost = 0;
  let corrupt = 0;
  const last = new Map<string, Ack>();
  let maxAcked = 0;
  for (const a of acks) {
    const prev = last.get(a.k);
    if (!prev || a.r > prev.r) last.set(a.k, a);
    if (a.r > maxAcked) maxAcked = a.r;
  }

  const store = await openSqliteStore({ path });
  let newRevision = 0;
  try {
    const current = await store.currentRevision();
    if (current < maxAcked) {
      lost++;
      problems.push(`current revision ${current} is below the acknowledged revision ${maxAcked}`);
    }
    for (const [key, a] of last) {
      const kv = await store.get(key);
      if (!kv || kv.modRevision < a.r) {
        lost++;
        problems.push(`${key}: acknowledged ${a.r} (seq ${a.s}) but found ${kv ? kv.modRevision : 'nothing'}`);
        continue;
      }
      if (kv.modRevision === a.r) {
        if (kv.value !== a.v) {
          corrupt++;
          problems.push(`${key}: value at ${a.r} differs from the acknowledged one`);
        }
      } else {
        // A later write that committed but whose acknowledgement was not printed before the kill.
        const p = parseValue(kv.value);
        if (!p || p.seq <= a.s) {
          corrupt++;
          problems.push(`${key}: newer revision ${kv.modRevision} holds an unexpected value`);
        }
      }
    }
    // Every key the child ever wrote exists once with a valid value; the list agrees with get.
    const listed = await store.list('crash/');
    for (const item of listed.items) {
      if (!parseValue(item.value)) {
        corrupt++;
        problems.push(`${item.key}: invalid value`);
      }
      if (item.modRevision > current || item.createRevision > item.modRevision) {
        corrupt++;
        problems.push(`${item.key}: bad revisions ${item.createRevision}/${item.modRevision}`);
      }
    }
    const fresh = await store.create(`crash-after/${Date.now()}-${Math.random()}`, 'after restart');
    newRevision = fresh.modRevision;
    if (newRevision !== current + 1 || newRevision <= maxAcked) {
      lost++;
      problems.push(`a new write got revision ${newRevision}; current was ${current}, highest acknowledged ${maxAcked}`);
    }
  } finally {
    await store.close();
  }
  const db = new Database(path, { readonly: true });
  try {
    const check = db.pragma('integrity_check', { simple: true });
    if (check !== 'ok') {
      corrupt++;
      problems.push(`integrity_check: ${String(check)}`);
    }
  } finally {
    db.close();
  }
  return { acknowledged: acks.length, lost, corrupt, newRevision, maxAckedRevision: maxAcked, problems };
}

if (process.argv[2] === 'child' && process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const path = process.argv[3];
  if (!path) {
    process.stderr.write('usage: crash-child.ts child DBPATH\n');
    process.exit(2);
  }
  childMain(path).catch((err) => {
    process.stderr.write(`crash-child: ${String(err)}\n`);
    process.exit(1);
  });
}
