// Input checks and the continue-token format shared by every backend.
import { MAX_KEY_BYTES, MAX_VALUE_BYTES, StoreError } from './types.ts';

export function checkKey(key: unknown): asserts key is string {
  if (typeof key !== 'string' || key.length === 0) {
    throw new StoreError('InvalidKey', 'key must be a non-empty string');
  }
  if (!key.isWellFormed()) throw new StoreError('InvalidKey', 'key is not valid UTF-8 (lone surrogate)', { key });
  if (key.includes('\0')) throw new StoreError('InvalidKey', 'key must not contain NUL', { key });
  if (Buffer.byteLength(key) > MAX_KEY_BYTES) {
    throw new StoreError('InvalidKey', `key is longer than ${MAX_KEY_BYTES} bytes`, { key });
  }
}

export function checkPrefix(prefix: unknown): asserts prefix is string {
  if (typeof prefix !== 'string') throw new StoreError('InvalidKey', 'prefix must be a string');
  if (!prefix.isWellFormed()) throw new StoreError('InvalidKey', 'prefix is not valid UTF-8');
}

export function checkValue(key: string, value: unknown): asserts value is string {
  if (typeof value !== 'string') throw new StoreError('InvalidValue', 'value must be a string', { key });
  if (!value.isWellFormed()) throw new StoreError('InvalidValue', 'value is not valid UTF-8 (lone surrogate)', { key });
  // A UTF-16 code unit is at most 3 UTF-8 bytes: only a long string can be too large.
  if (value.length * 3 <= MAX_VALUE_BYTES) return;
  const n = Buffer.byteLength(value);
  if (n > MAX_VALUE_BYTES) {
    throw new StoreError('ValueTooLarge', `value is ${n} bytes, more than the limit of ${MAX_VALUE_BYTES}`, { key });
  }
}

export function checkRevision(name: string, rev: unknown): asserts rev is number {
  if (typeof rev !== 'number' || !Number.isSafeInteger(rev) || rev < 0) {
    throw new StoreError('InvalidValue', `${name} must be a non-negative integer`);
  }
}

export interface ContinueToken {
  /** Snapshot revision. */
  rev: number;
  /** Return keys strictly greater than this one. */
  after: string;
  /** The prefix the list was started with (a token is only valid for it). */
  prefix: string;
  /** Optional: how many items remain after the page that issued the token (the snapshot is
   *  fixed, so a backend can carry the count forward instead of recounting every page). */
  remaining?: number;
}

export function encodeContinue(t: ContinueToken): string {
  const o: { r: number; a: string; p: string; n?: number } = { r: t.rev, a: t.after, p: t.prefix };
  if (t.remaining !== undefined) o.n = t.remaining;
  return Buffer.from(JSON.stringify(o)).toString('base64url');
}

export function decodeContinue(token: string, prefix: string): ContinueToken {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
  } catch {
    throw new StoreError('InvalidContinue', 'continue token is not valid');
  }
  const o = parsed as { r?: unknown; a?: unknown; p?: unknown; n?: unknown };
  if (typeof o?.r !== 'number' || typeof o.a !== 'string' || typeof o.p !== 'string') {
    throw new StoreError('InvalidContinue', 'continue token is not valid');
  }
  if (!Number.isSafeInteger(o.r) || o.r < 0) throw new StoreError('InvalidContinue', 'continue token is not valid');
  if (o.p !== prefix) throw new StoreError('InvalidContinue', 'continue token was issued for another list');
  const t: ContinueToken = { rev: o.r, after: o.a, prefix: o.p };
  if (typeof o.n === 'number' && Number.isSafeInteger(o.n) && o.n >= 0) t.remaining = o.n;
  return t;
}

// ---------------------------------------------------------------------------------------------
// Additions shared by the memory and SQLite backends.

/** Orders keys by Unicode code point, which is the order of their UTF-8 bytes (SQLite's BINARY
 *  collation and etcd compare bytes). Plain `<` on JS strings compares UTF-16 code units, which
 *  disagrees for characters above U+FFFF versus U+E000–U+FFFF. */
export function compareKeys(a: string, b: string): number {
  if (a === b) return 0;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x === y) continue;
    if (x >= 0xd800 && y >= 0xd800) {
      // Surrogates (0xD800–0xDFFF) encode code points above 0xFFFF: move them above 0xE000–0xFFFF.
      x = x < 0xe000 ? x + 0x2000 : x - 0x800;
      y = y < 0xe000 ? y + 0x2000 : y - 0x800;
    }
    return x - y;
  }
  return a.length - b.length;
}

/** The smallest string greater (by code point / UTF-8 byte order) than every string that starts
 *  with prefix, or null when there is no such bound ('' or a prefix of U+10FFFF only). Unlike
 *  prefixEnd it never yields a lone surrogate, so it can be bound as UTF-8 text. */
export function prefixRangeEnd(prefix: string): string | null {
  const cps = Array.from(prefix, (c) => c.codePointAt(0) as number);
  while (cps.length > 0) {
    const last = cps.pop() as number;
    if (last < 0x10ffff) {
      const next = last + 1 === 0xd800 ? 0xe000 : last + 1;
      return String.fromCodePoint(...cps, next);
    }
  }
  return null;
}

/** Resolves the snapshot revision of a list call and validates its options. */
export function resolveListRevision(
  prefix: string,
  opts: { limit?: number; continue?: string; revision?: number },
  current: number,
  compacted: number,
): { rev: number; after: string | null; remaining?: number; limit: number } {
  checkPrefix(prefix);
  const limit = opts.limit ?? 0;
  if (typeof limit !== 'number' || !Number.isSafeInteger(limit) || limit < 0) {
    throw new StoreError('InvalidValue', 'limit must be a non-negative integer');
  }
  if (opts.revision !== undefined) checkRevision('revision', opts.revision);
  let rev: number;
  let after: string | null = null;
  let remaining: number | undefined;
  if (opts.continue !== undefined && opts.continue !== '') {
    const t = decodeContinue(opts.continue, prefix);
    if (opts.revision !== undefined && opts.revision !== 0 && opts.revision !== t.rev) {
      throw new StoreError('InvalidContinue', 'continue token was issued for another revision');
    }
    rev = t.rev;
    after = t.after;
    remaining = t.remaining;
  } else {
    rev = opts.revision === undefined || opts.revision === 0 ? current : opts.revision;
  }
  if (rev > current) {
    throw new StoreError('FutureRevision', `revision ${rev} is newer than the current revision ${current}`);
  }
  if (rev < compacted) {
    throw new StoreError('Compacted', `revision ${rev} has been compacted (compacted to ${compacted})`, {
      compactRevision: compacted,
    });
  }
  return { rev, after, remaining, limit };
}
