// The JSON text scanner of field validation: one pass over the text reporting duplicate keys
// (JSON.parse silently keeps the last) and, given a schema, unknown fields, in document order.
import type { TypeRef } from './openapi-models.ts';
import { ErrorSink } from './fieldvalidation-errors.ts';
import { ANY, type Cursor, childPath, containerCursor, fieldIndex, keyType } from './fieldvalidation-schema.ts';

export class JsonScanError extends SyntaxError {}

interface Frame {
  kind: 'obj' | 'arr';
  cursor: Cursor;
  path: string;
  first: boolean;
  index: number;
  seen: Set<string> | null;
}

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

/**
 * Walks JSON text once, tracking the schema, reporting unknown and duplicate fields in document
 * order. `modelName` undefined: every object is free-form (duplicates only). Iterative, so any
 * nesting depth is fine. Throws JsonScanError on malformed JSON.
 */
export function scanJson(text: string, modelName: string | undefined, sink: ErrorSink): void {
  let pos = 0;
  const n = text.length;
  const stack: Frame[] = [];

  const ws = (): void => {
    while (pos < n) {
      const c = text.charCodeAt(pos);
      if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) pos++;
      else break;
    }
  };
  const fail = (what: string): never => {
    throw new JsonScanError(`invalid JSON at offset ${pos}: ${what}`);
  };
  /** Reads a string token; returns its value only when `want` (else ''). */
  const readString = (want: boolean): string => {
    if (text.charCodeAt(pos) !== 0x22) fail('expected string');
    const start = pos;
    pos++;
    let simple = true;
    while (pos < n) {
      const c = text.charCodeAt(pos);
      if (c === 0x22) {
        pos++;
        if (!want) return '';
        if (simple) return text.slice(start + 1, pos - 1);
        try {
          return JSON.parse(text.slice(start, pos)) as string;
        } catch {
          return fail('bad string escape');
        }
      }
      if (c === 0x5c) {
        simple = false;
        const e = text.charCodeAt(pos + 1);
        if (e === 0x75) {
          if (!/^[0-9a-fA-F]{4}$/.test(text.slice(pos + 2, pos + 6))) fail('bad unicode escape');
          pos += 6;
        } else if (e === 0x22 || e === 0x5c || e === 0x2f || e === 0x62 || e === 0x66 || e === 0x6e || e === 0x72 || e === 0x74) pos += 2;
        else fail('bad escape');
        continue;
      }
      if (c < 0x20) fail('control character in string');
      pos++;
    }
    return fail('unterminated string');
  };
  const readWord = (w: string): void => {
    if (text.startsWith(w, pos)) pos += w.length;
    else fail('unexpected character');
  };
  const readNumber = (): void => {
    if (text.charCodeAt(pos) === 0x2d) pos++;
    const c0 = text.charCodeAt(pos);
    if (c0 === 0x30) pos++;
    else if (isDigit(c0)) while (isDigit(text.charCodeAt(pos))) pos++;
    else fail('bad number');
    if (text.charCodeAt(pos) === 0x2e) {
      pos++;
      if (!isDigit(text.charCodeAt(pos))) fail('bad number');
      while (isDigit(text.charCodeAt(pos))) pos++;
    }
    const e = text.charCodeAt(pos);
    if (e === 0x65 || e === 0x45) {
      pos++;
      const sgn = text.charCodeAt(pos);
      if (sgn === 0x2b || sgn === 0x2d) pos++;
      if (!isDigit(text.charCodeAt(pos))) fail('bad number');
      while (isDigit(text.charCodeAt(pos))) pos++;
    }
  };
  /** Starts the value at pos: containers push a frame (their path built only then). */
  const valueStart = (ref: TypeRef | 'skip', parent: Frame | null, key: string | null, top: boolean): void => {
    ws();
    const c = text.charCodeAt(pos);
    if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
      pos++;
      const path = parent === null ? '' : key === null ? `${parent.path}[${parent.index - 1}]` : childPath(parent.path, key);
      if (c === 0x7b) {
        const cursor = containerCursor(ref, top, 'object');
        stack.push({ kind: 'obj', cursor, path, first: true, index: 0, seen: cursor.c === 'skip' ? null : new Set() });
      } else {
        stack.push({ kind: 'arr', cursor: containerCursor(ref, false, 'array'), path, first: true, index: 0, seen: null });
      }
    } else if (c === 0x22) readString(false);
    else if (c === 0x74) readWord('true');
    else if (c === 0x66) readWord('false');
    else if (c === 0x6e) readWord('null');
    else if (c === 0x2d || isDigit(c)) readNumber();
    else if (pos >= n) fail('unexpected end of input');
    else fail('unexpected character');
  };

  valueStart(modelName ? { t: 'model', name: modelName } : ANY, null, null, true);
  while (stack.length) {
    const f = stack[stack.length - 1];
    ws();
    const c = text.charCodeAt(pos);
    if (c === (f.kind === 'obj' ? 0x7d : 0x5d)) {
      pos++;
      stack.pop();
      continue;
    }
    if (!f.first) {
      if (c !== 0x2c) fail(`expected , or ${f.kind === 'obj' ? '}' : ']'}`);
      pos++;
      ws();
    }
    f.first = false;
    if (f.kind === 'arr') {
      f.index++;
      const cur = f.cursor;
      valueStart(cur.c === 'array' ? cur.of : cur.c === 'free' ? ANY : 'skip', f, null, false);
      continue;
    }
    const checking = f.seen !== null;
    const key = readString(checking);
    ws();
    if (text.charCodeAt(pos) !== 0x3a) fail('expected :');
    pos++;
    if (!checking) {
      valueStart('skip', f, key, false);
      continue;
    }
    const t = keyType(f.cursor, key);
    if (t === null) {
      sink.add('unknown', childPath(f.path, key));
      valueStart('skip', f, key, false);
      continue;
    }
    const seen = f.seen as Set<string>;
    if (seen.has(key)) sink.add('duplicate', childPath(f.path, key));
    else seen.add(key);
    valueStart(t, f, key, false);
  }
  ws();
  if (pos < n) fail('trailing characters');
}

/**
 * Paths of duplicated keys in JSON text (every object, no schema), in document order, deduped:
 * `metadata.labels.app`, `spec.containers[0].image`. Throws JsonScanError on malformed JSON.
 */
export function duplicateFields(jsonText: string): string[] {
  const sink = new ErrorSink();
  scanJson(jsonText, undefined, sink);
  return sink.texts.map((t) => t.slice('duplicate field '.length)).map((q) => JSON.parse(q) as string);
}

/**
 * The strict decoding errors of a JSON request body for POST/PUT, worded and ordered as
 * Kubernetes does (`duplicate field "metadata.name"`, `unknown field "spec.foo"`, in document
 * order, deduped, at most 100). Throws JsonScanError on malformed JSON.
 */
export function strictFieldErrors(jsonText: string, modelName: string): string[] {
  const sink = new ErrorSink();
  scanJson(jsonText, fieldIndex(modelName) ? modelName : undefined, sink);
  return sink.texts;
}
