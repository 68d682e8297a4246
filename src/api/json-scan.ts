// The JSON text scanner of field validation: one pass over the text reporting duplicate keys
// (JSON.parse silently keeps the last) and, given a schema, unknown fields, in document order.
import type { TypeRef } from './openapi-models.ts';
import { ErrorSink } from './fieldvalidation-errors.ts';
import { ANY, type Cursor, childPath, containerCursor, fieldIndex, keyType } from './fieldvalidation-schema.ts';

export class JsonScanError extends SyntaxError {}

interface Frame {
  kind: 'obj' | 'arr';
  cursor: Cursor;
  /** The key of this container in its parent object (null in an array, or at the top). */
  key: string | null;
  first: boolean;
  index: number;
  /** Keys seen so far when checking (a Set once the object grows large). */
  seen: string[] | Set<string> | null;
}

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

/** Cursors of objects of a model below the top level, shared (they are never modified). */
const modelCursors = new Map<string, Cursor>();

function objectCursor(ref: TypeRef | 'skip', top: boolean): Cursor {
  if (!top && ref !== 'skip' && ref.t === 'model') {
    let c = modelCursors.get(ref.name);
    if (c === undefined) {
      c = containerCursor(ref, false, 'object');
      modelCursors.set(ref.name, c);
    }
    return c;
  }
  return containerCursor(ref, top, 'object');
}

const SKIP: Cursor = { c: 'skip' };
/** Keys an object collects in an array (linear search) before switching to a Set. */
const SMALL_OBJECT = 16;

/**
 * One pass over JSON text: a small state machine with the schema cursor of every open
 * container on a stack. Paths are built only when an error is reported.
 */
class Scanner {
  private pos = 0;
  private readonly n: number;
  private readonly stack: Frame[] = [];

  constructor(
    private readonly text: string,
    private readonly sink: ErrorSink,
  ) {
    this.n = text.length;
  }

  run(modelName: string | undefined): void {
    const stack = this.stack;
    const text = this.text;
    this.valueStart(modelName ? { t: 'model', name: modelName } : ANY, null, true);
    while (stack.length) {
      const f = stack[stack.length - 1];
      this.ws();
      const c = text.charCodeAt(this.pos);
      if (c === (f.kind === 'obj' ? 0x7d : 0x5d)) {
        this.pos++;
        stack.pop();
        continue;
      }
      if (!f.first) {
        if (c !== 0x2c) this.fail(`expected , or ${f.kind === 'obj' ? '}' : ']'}`);
        this.pos++;
        this.ws();
      }
      f.first = false;
      if (f.kind === 'arr') {
        f.index++;
        const cur = f.cursor;
        this.valueStart(cur.c === 'array' ? cur.of : cur.c === 'free' ? ANY : 'skip', null, false);
        continue;
      }
      const checking = f.seen !== null;
      const key = this.readString(checking);
      this.ws();
      if (text.charCodeAt(this.pos) !== 0x3a) this.fail('expected :');
      this.pos++;
      if (!checking) {
        this.valueStart('skip', key, false);
        continue;
      }
      const t = keyType(f.cursor, key);
      if (t === null) {
        this.sink.add('unknown', childPath(this.path(), key));
        this.valueStart('skip', key, false);
        continue;
      }
      if (this.seenBefore(f, key)) this.sink.add('duplicate', childPath(this.path(), key));
      this.valueStart(t, key, false);
    }
    this.ws();
    if (this.pos < this.n) this.fail('trailing characters');
  }

  /** Records `key` in the object's seen keys; true when it was there already. */
  private seenBefore(f: Frame, key: string): boolean {
    const seen = f.seen!;
    if (Array.isArray(seen)) {
      if (seen.includes(key)) return true;
      seen.push(key);
      if (seen.length > SMALL_OBJECT) f.seen = new Set(seen);
      return false;
    }
    if (seen.has(key)) return true;
    seen.add(key);
    return false;
  }

  /** The path of the innermost open container, as Kubernetes prints it. */
  private path(): string {
    let p = '';
    const stack = this.stack;
    for (let i = 1; i < stack.length; i++) {
      const parent = stack[i - 1];
      p = parent.kind === 'arr' ? `${p}[${parent.index - 1}]` : childPath(p, stack[i].key ?? '');
    }
    return p;
  }

  private ws(): void {
    const text = this.text;
    let pos = this.pos;
    while (pos < this.n) {
      const c = text.charCodeAt(pos);
      if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) pos++;
      else break;
    }
    this.pos = pos;
  }

  private fail(what: string): never {
    throw new JsonScanError(`invalid JSON at offset ${this.pos}: ${what}`);
  }

  /** Reads a string token; returns its value only when `want` (else ''). */
  private readString(want: boolean): string {
    const text = this.text;
    const n = this.n;
    let pos = this.pos;
    if (text.charCodeAt(pos) !== 0x22) this.fail('expected string');
    const start = pos;
    pos++;
    let simple = true;
    while (pos < n) {
      const c = text.charCodeAt(pos);
      if (c === 0x22) {
        pos++;
        this.pos = pos;
        if (!want) return '';
        if (simple) return text.slice(start + 1, pos - 1);
        try {
          return JSON.parse(text.slice(start, pos)) as string;
        } catch {
          return this.fail('bad string escape');
        }
      }
      if (c === 0x5c) {
        simple = false;
        const e = text.charCodeAt(pos + 1);
        if (e === 0x75) {
          if (!/^[0-9a-fA-F]{4}$/.test(text.slice(pos + 2, pos + 6))) {
            this.pos = pos;
            this.fail('bad unicode escape');
          }
          pos += 6;
        } else if (e === 0x22 || e === 0x5c || e === 0x2f || e === 0x62 || e === 0x66 || e === 0x6e || e === 0x72 || e === 0x74) pos += 2;
        else {
          this.pos = pos;
          this.fail('bad escape');
        }
        continue;
      }
      if (c < 0x20) {
        this.pos = pos;
        this.fail('control character in string');
      }
      pos++;
    }
    this.pos = pos;
    return this.fail('unterminated string');
  }

  private readWord(w: string): void {
    if (this.text.startsWith(w, this.pos)) this.pos += w.length;
    else this.fail('unexpected character');
  }

  private readNumber(): void {
    const text = this.text;
    if (text.charCodeAt(this.pos) === 0x2d) this.pos++;
    const c0 = text.charCodeAt(this.pos);
    if (c0 === 0x30) this.pos++;
    else if (isDigit(c0)) while (isDigit(text.charCodeAt(this.pos))) this.pos++;
    else this.fail('bad number');
    if (text.charCodeAt(this.pos) === 0x2e) {
      this.pos++;
      if (!isDigit(text.charCodeAt(this.pos))) this.fail('bad number');
      while (isDigit(text.charCodeAt(this.pos))) this.pos++;
    }
    const e = text.charCodeAt(this.pos);
    if (e === 0x65 || e === 0x45) {
      this.pos++;
      const sgn = text.charCodeAt(this.pos);
      if (sgn === 0x2b || sgn === 0x2d) this.pos++;
      if (!isDigit(text.charCodeAt(this.pos))) this.fail('bad number');
      while (isDigit(text.charCodeAt(this.pos))) this.pos++;
    }
  }

  /** Starts the value at pos: containers push a frame. */
  private valueStart(ref: TypeRef | 'skip', key: string | null, top: boolean): void {
    this.ws();
    const c = this.text.charCodeAt(this.pos);
    if (c === 0x7b /* { */) {
      this.pos++;
      const cursor = ref === 'skip' ? SKIP : objectCursor(ref, top);
      this.stack.push({ kind: 'obj', cursor, key, first: true, index: 0, seen: cursor.c === 'skip' ? null : [] });
    } else if (c === 0x5b /* [ */) {
      this.pos++;
      this.stack.push({ kind: 'arr', cursor: containerCursor(ref, false, 'array'), key, first: true, index: 0, seen: null });
    } else if (c === 0x22) this.readString(false);
    else if (c === 0x74) this.readWord('true');
    else if (c === 0x66) this.readWord('false');
    else if (c === 0x6e) this.readWord('null');
    else if (c === 0x2d || isDigit(c)) this.readNumber();
    else if (this.pos >= this.n) this.fail('unexpected end of input');
    else this.fail('unexpected character');
  }
}

/**
 * Walks JSON text once, tracking the schema, reporting unknown and duplicate fields in document
 * order. `modelName` undefined: every object is free-form (duplicates only). Iterative, so any
 * nesting depth is fine. Throws JsonScanError on malformed JSON.
 */
export function scanJson(text: string, modelName: string | undefined, sink: ErrorSink): void {
  new Scanner(text, sink).run(modelName);
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
