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

/** The smallest string greater than every string that starts with prefix ('' = no bound). */
export function prefixEnd(prefix: string): string {
  if (prefix === '') return '';
  // Keys are compared by UTF-16 code units in memory and by bytes in SQLite/etcd; for the
  // characters kennel keys use (ASCII) both orders agree.
  const last = prefix.charCodeAt(prefix.length - 1);
  return prefix.slice(0, -1) + String.fromCharCode(last + 1);
}

export interface ContinueToken {
  /** Snapshot revision. */
  rev: number;
  /** Return keys strictly greater than this one. */
  after: string;
  /** The prefix the list was started with (a token is only valid for it). */
  prefix: string;
}

export function encodeContinue(t: ContinueToken): string {
  return Buffer.from(JSON.stringify({ r: t.rev, a: t.after, p: t.prefix })).toString('base64url');
}

export function decodeContinue(token: string, prefix: string): ContinueToken {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
  } catch {
    throw new StoreError('InvalidContinue', 'continue token is not valid');
  }
  const o = parsed as { r?: unknown; a?: unknown; p?: unknown };
  if (typeof o?.r !== 'number' || typeof o.a !== 'string' || typeof o.p !== 'string') {
    throw new StoreError('InvalidContinue', 'continue token is not valid');
  }
  if (o.p !== prefix) throw new StoreError('InvalidContinue', 'continue token was issued for another list');
  return { rev: o.r, after: o.a, prefix: o.p };
}
