// Small JSON helpers shared by the patch engines.

export type JsonObject = Record<string, unknown>;

export function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function clone<T>(v: T): T {
  return v === undefined ? v : jsonClone(v);
}

/**
 * A deep copy of a JSON-shaped value, what structuredClone makes of it but several times
 * faster: arrays and plain objects are copied member by member (keys with undefined values
 * kept, `__proto__` kept as an ordinary key); anything else that is an object (a Date, a Map,
 * a Buffer …) goes through structuredClone, and so does what lies deeper than COPY_DEPTH
 * (YAML aliases can make a cycle, which structuredClone copies as one).
 */
export function jsonClone<T>(v: T): T {
  if (typeof v !== 'object' || v === null) return v;
  return copyValue(v, 0) as T;
}

const COPY_DEPTH = 512;

function copyValue(v: object, depth: number): unknown {
  if (depth > COPY_DEPTH) return structuredClone(v);
  if (Array.isArray(v)) {
    const n = v.length;
    const out: unknown[] = new Array(n);
    for (let i = 0; i < n; i++) {
      const x: unknown = v[i];
      out[i] = typeof x === 'object' && x !== null ? copyValue(x, depth + 1) : x;
    }
    return out;
  }
  const proto: unknown = Object.getPrototypeOf(v);
  if (proto !== Object.prototype && proto !== null) return structuredClone(v);
  const src = v as JsonObject;
  const out: JsonObject = {};
  const keys = Object.keys(src);
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i]!;
    const x = src[k];
    const c = typeof x === 'object' && x !== null ? copyValue(x, depth + 1) : x;
    if (k === '__proto__') setKey(out, k, c);
    else out[k] = c;
  }
  return out;
}

export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== typeof b || a === null || b === null || typeof a !== 'object') return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!deepEqual(a[i], b[i])) return false;
    return true;
  }
  if (Array.isArray(b)) return false;
  const ao = a as JsonObject;
  const bo = b as JsonObject;
  const ak = Object.keys(ao).filter((k) => ao[k] !== undefined);
  const bk = Object.keys(bo).filter((k) => bo[k] !== undefined);
  if (ak.length !== bk.length) return false;
  for (const k of ak) if (!Object.hasOwn(bo, k) || !deepEqual(ao[k], bo[k])) return false;
  return true;
}

/** Go's `%v` of a decoded JSON value, as Kubernetes' patch error messages print values. */
export function goString(v: unknown): string {
  if (v === null || v === undefined) return '<nil>';
  if (Array.isArray(v)) return `[${v.map(goString).join(' ')}]`;
  if (isObject(v)) {
    const keys = Object.keys(v).sort();
    return `map[${keys.map((k) => `${k}:${goString(v[k])}`).join(' ')}]`;
  }
  return String(v);
}

/** `obj[key] = value` that stores `__proto__` as an ordinary key instead of a prototype. */
export function setKey(obj: JsonObject, key: string, value: unknown): void {
  if (key === '__proto__') {
    Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
  } else {
    obj[key] = value;
  }
}

/** `obj[key]` for own properties only (never `Object.prototype` through `__proto__`). */
export function getOwn(obj: JsonObject, key: string): unknown {
  return Object.hasOwn(obj, key) ? obj[key] : undefined;
}
