// Server-side field validation (the `fieldValidation` query parameter: Strict, Warn, Ignore):
// unknown fields (not in the kind's schema, taken from the client-node models) and duplicate
// fields (JSON.parse silently keeps the last one, so JSON text is scanned by a small tokenizer
// of its own), worded and ordered the way kube-apiserver reports them:
//
//   POST/PUT, JSON body: one pass in document order, e.g.
//     strict decoding error: duplicate field "metadata.name", unknown field "spec.foo", …
//   → Strict: 400 BadRequest `Pod in version "v1" cannot be handled as a Pod: strict decoding error: …`
//   → Warn (the default): one `Warning: 299 - "unknown field \"spec.foo\""` header per item.
//   YAML body: the duplicate keys first as one `yaml: unmarshal errors:\n  line N: key "x"
//     already set in map` item (one warning per line), then unknown fields in sorted-key order.
//   PATCH: duplicates in the patch body first, then unknown fields of the patched object in
//     sorted-key order; Strict answers 422 Invalid with the cause on field `patch`.
//
// Inside a field whose type is free-form (`any`, RawExtension, fieldsV1) unknown fields are not
// reported, duplicates still are; inside an unknown field nothing more is reported (Kubernetes
// skips its value). apiVersion, kind and metadata are always allowed at the top level; metadata
// is checked against ObjectMeta as Kubernetes does.
import { isMap, isPair, isScalar, isSeq, LineCounter, parseAllDocuments } from 'yaml';
import type { Node as YamlNode } from 'yaml';
import { modelAttributes, parseTypeRef } from './openapi.ts';
import type { TypeRef } from './openapi.ts';

/** Kubernetes keeps at most this many strict decoding errors. */
const MAX_ERRORS = 100;

export type FieldValidationDirective = 'Strict' | 'Warn' | 'Ignore';

/** The `fieldValidation` query value: absent/empty → Warn (the default); unknown → null (400). */
export function parseFieldValidation(value: string | null | undefined): FieldValidationDirective | null {
  if (value === undefined || value === null || value === '') return 'Warn';
  return value === 'Strict' || value === 'Warn' || value === 'Ignore' ? value : null;
}

// ---------------------------------------------------------------------------------------------
// Schema cursor

interface FieldIndex {
  /** JSON field name → type. */
  fields: Map<string, TypeRef>;
}

const fieldIndexCache = new Map<string, FieldIndex | null>();

function fieldIndex(model: string): FieldIndex | null {
  const hit = fieldIndexCache.get(model);
  if (hit !== undefined) return hit;
  const attrs = modelAttributes(model);
  const idx = attrs ? { fields: new Map(attrs.map((a) => [a.baseName, parseTypeRef(a.type, a.format)] as const)) } : null;
  fieldIndexCache.set(model, idx);
  return idx;
}

const TOP_LEVEL: Record<string, TypeRef> = {
  apiVersion: { t: 'string' },
  kind: { t: 'string' },
  metadata: { t: 'model', name: 'V1ObjectMeta' },
};

/** Where a value sits in the schema: how to check the keys of an object found there. */
type Cursor =
  | { c: 'model'; model: string; top: boolean }
  | { c: 'map'; of: TypeRef }
  | { c: 'array'; of: TypeRef }
  | { c: 'free' } // any JSON: duplicates reported, unknown fields not
  | { c: 'skip' }; // inside an unknown field, or a type mismatch: nothing reported

/** The cursor for an object (`{`) or array (`[`) found where `ref` is expected. */
function containerCursor(ref: TypeRef | 'skip', top: boolean, container: 'object' | 'array'): Cursor {
  if (ref === 'skip') return { c: 'skip' };
  if (ref.t === 'any') return { c: 'free' };
  if (container === 'object') {
    if (ref.t === 'model') return fieldIndex(ref.name) ? { c: 'model', model: ref.name, top } : { c: 'free' };
    if (ref.t === 'map') return { c: 'map', of: ref.of };
    return { c: 'skip' };
  }
  return ref.t === 'array' ? { c: 'array', of: ref.of } : { c: 'skip' };
}

function childPath(path: string, key: string): string {
  return path ? `${path}.${key}` : key;
}

// ---------------------------------------------------------------------------------------------
// Errors as Kubernetes words them

export type StrictErrorKind = 'unknown' | 'duplicate';

export interface StrictError {
  kind: StrictErrorKind;
  path: string;
}

/** `unknown field "spec.foo"` / `duplicate field "metadata.name"`. */
export function strictErrorText(e: StrictError): string {
  return `${e.kind} field ${goQuote(e.path)}`;
}

/** Go's %q for the strings that appear here (JSON escaping is the same for printable text). */
function goQuote(s: string): string {
  return JSON.stringify(s);
}

class ErrorSink {
  readonly texts: string[] = [];
  private readonly seen = new Set<string>();
  add(kind: StrictErrorKind, path: string): void {
    if (this.texts.length >= MAX_ERRORS) return;
    const t = strictErrorText({ kind, path });
    if (this.seen.has(t)) return;
    this.seen.add(t);
    this.texts.push(t);
  }
}

// ---------------------------------------------------------------------------------------------
// Unknown fields of a decoded object

export interface UnknownFieldsOptions {
  /**
   * Visit object keys in sorted order (how Kubernetes reports a patched object or a YAML body,
   * which it sees as a Go map) instead of insertion order (a JSON body's document order).
   */
  sortKeys?: boolean;
}

/**
 * Paths of fields not in the schema of `modelName` (a client-node model such as `V1Pod`), as
 * Kubernetes prints them: `spec.containers[0].imagePullPolcy`. Values of unknown fields are not
 * descended into. An unknown model name reports nothing.
 */
export function unknownFields(obj: unknown, modelName: string, opts: UnknownFieldsOptions = {}): string[] {
  const out: string[] = [];
  if (!fieldIndex(modelName)) return out;
  // Iterative pre-order walk (deeply nested input must not overflow the stack). An unknown key
  // is reported when its turn comes, so reports interleave with descents as in a decoder.
  type Item = { value: unknown; ref: TypeRef; path: string; top: boolean } | { report: string };
  const stack: Item[] = [{ value: obj, ref: { t: 'model', name: modelName }, path: '', top: true }];
  while (stack.length && out.length < MAX_ERRORS) {
    const item = stack.pop() as Item;
    if ('report' in item) {
      out.push(item.report);
      continue;
    }
    const { value, ref, path, top } = item;
    if (value === null || typeof value !== 'object') continue;
    const children: Item[] = [];
    if (Array.isArray(value)) {
      const cur = containerCursor(ref, false, 'array');
      if (cur.c !== 'array') continue;
      value.forEach((v, i) => children.push({ value: v, ref: cur.of, path: `${path}[${i}]`, top: false }));
    } else {
      const cur = containerCursor(ref, top, 'object');
      if (cur.c !== 'model' && cur.c !== 'map') continue;
      const keys = Object.keys(value);
      if (opts.sortKeys) keys.sort(compareGoStrings);
      for (const k of keys) {
        const t = keyType(cur, k);
        if (t === null) children.push({ report: childPath(path, k) });
        else if (t !== 'skip') children.push({ value: (value as Record<string, unknown>)[k], ref: t, path: childPath(path, k), top: false });
      }
    }
    for (let i = children.length - 1; i >= 0; i--) stack.push(children[i]);
  }
  return out;
}

/** Go sorts map keys by bytes; for the ASCII keys of API objects that is code-unit order. */
function compareGoStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

// ---------------------------------------------------------------------------------------------
// JSON text scanner

export class JsonScanError extends SyntaxError {}

interface Frame {
  kind: 'obj' | 'arr';
  cursor: Cursor;
  path: string;
  first: boolean;
  index: number;
  seen: Set<string> | null;
}

const ANY: TypeRef = { t: 'any' };

/** The type expected for a key of an object at `cur`, 'skip', or null when the key is unknown. */
function keyType(cur: Cursor, key: string): TypeRef | 'skip' | null {
  switch (cur.c) {
    case 'model':
      return fieldIndex(cur.model)?.fields.get(key) ?? (cur.top ? TOP_LEVEL[key] : undefined) ?? null;
    case 'map':
      return cur.of;
    case 'free':
      return ANY;
    default:
      return 'skip';
  }
}

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

/**
 * Walks JSON text once, tracking the schema, reporting unknown and duplicate fields in document
 * order. `modelName` undefined: every object is free-form (duplicates only). Iterative, so any
 * nesting depth is fine. Throws JsonScanError on malformed JSON.
 */
function scanJson(text: string, modelName: string | undefined, sink: ErrorSink): void {
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

// ---------------------------------------------------------------------------------------------
// YAML

/**
 * Duplicate mapping keys in YAML text as go-yaml reports them, in document order:
 * `line 5: key "name" already set in map` (the line of the repeated key).
 */
export function duplicateFieldsYaml(yamlText: string): string[] {
  const lc = new LineCounter();
  const docs = parseAllDocuments(yamlText, { lineCounter: lc, uniqueKeys: false });
  const found: { offset: number; text: string }[] = [];
  const visit = (root: unknown): void => {
    const stack: unknown[] = [root];
    while (stack.length) {
      const node = stack.pop();
      if (isMap(node)) {
        const seen = new Set<string>();
        for (const item of node.items) {
          if (!isPair(item)) continue;
          const k = item.key as YamlNode | null;
          if (isScalar(k)) {
            const key = String(k.value);
            if (seen.has(key)) {
              const offset = k.range?.[0] ?? 0;
              // go-yaml prints the key with %#v: strings quoted, numbers and booleans bare.
              const shown = typeof k.value === 'string' ? goQuote(key) : key;
              found.push({ offset, text: `line ${lc.linePos(offset).line}: key ${shown} already set in map` });
            } else seen.add(key);
          }
          stack.push(item.value);
          stack.push(k);
        }
      } else if (isSeq(node)) {
        for (const it of node.items) stack.push(it);
      }
    }
  };
  for (const d of Array.isArray(docs) ? docs : [docs]) visit(d.contents);
  return found.sort((a, b) => a.offset - b.offset).map((f) => f.text);
}

// ---------------------------------------------------------------------------------------------
// Results the handlers use

export interface StrictResult {
  /** Items of the Strict message, in order (`strict decoding error: ` + errors.join(', ')). */
  errors: string[];
  /** Texts for Warning headers under Warn, one header each. */
  warnings: string[];
}

/** POST/PUT with a JSON body. Throws JsonScanError on malformed JSON. */
export function checkJsonBody(jsonText: string, modelName: string): StrictResult {
  const errors = strictFieldErrors(jsonText, modelName);
  return { errors, warnings: [...errors] };
}

/** POST/PUT with a YAML body (`obj` is the decoded object). */
export function checkYamlBody(yamlText: string, obj: unknown, modelName: string): StrictResult {
  const dups = duplicateFieldsYaml(yamlText);
  const unknown = unknownFields(obj, modelName, { sortKeys: true }).map((p) => strictErrorText({ kind: 'unknown', path: p }));
  const errors = dups.length ? [`yaml: unmarshal errors:\n  ${dups.join('\n  ')}`, ...unknown] : unknown;
  return { errors, warnings: [...dups, ...unknown] };
}

/**
 * Merge and strategic merge PATCH: duplicates in the patch body (JSON text), then unknown fields
 * of the patched object. Throws JsonScanError on a malformed patch.
 */
export function checkMergePatch(patchText: string, patched: unknown, modelName: string): StrictResult {
  const dups = duplicateFields(patchText).map((p) => strictErrorText({ kind: 'duplicate', path: p }));
  const unknown = unknownFields(patched, modelName, { sortKeys: true }).map((p) => strictErrorText({ kind: 'unknown', path: p }));
  const errors = [...dups, ...unknown].slice(0, MAX_ERRORS);
  return { errors, warnings: [...errors] };
}

const JSON_PATCH_OP_FIELDS = new Set(['op', 'path', 'value', 'from']);

/**
 * JSON PATCH (RFC 6902): unknown or duplicate fields in the operations
 * (`json patch unknown field "[0].foo"`, `json patch duplicate field "[1].path"`), then unknown
 * fields of the patched object. Throws JsonScanError on malformed JSON.
 */
export function checkJsonPatch(patchText: string, patched: unknown, modelName: string): StrictResult {
  const sink = new ErrorSink();
  scanJson(patchText, undefined, sink);
  const opErrors: string[] = [];
  // Duplicates inside op objects are at paths `[i].key`; deeper ones (inside values) are dropped
  // by Kubernetes' JSON patch decoder, as they are here.
  for (const t of sink.texts) {
    const p = JSON.parse(t.slice('duplicate field '.length)) as string;
    if (/^\[\d+\]\.[^.[]+$/.test(p)) opErrors.push(`json patch duplicate field ${goQuote(p)}`);
  }
  let ops: unknown;
  try {
    ops = JSON.parse(patchText);
  } catch {
    ops = null;
  }
  const unknownOps: string[] = [];
  if (Array.isArray(ops)) {
    ops.forEach((o, i) => {
      if (o && typeof o === 'object' && !Array.isArray(o)) {
        for (const k of Object.keys(o)) if (!JSON_PATCH_OP_FIELDS.has(k)) unknownOps.push(`json patch unknown field ${goQuote(`[${i}].${k}`)}`);
      }
    });
  }
  // Kubernetes reports op-level problems in document order; unknown op keys of op i come with it.
  const ordered = [...unknownOps, ...opErrors].sort((a, b) => opIndex(a) - opIndex(b));
  const unknown = unknownFields(patched, modelName, { sortKeys: true }).map((p) => strictErrorText({ kind: 'unknown', path: p }));
  const errors = [...ordered, ...unknown].slice(0, MAX_ERRORS);
  return { errors, warnings: [...errors] };
}

function opIndex(text: string): number {
  const m = /"\[(\d+)\]/.exec(text);
  return m ? Number(m[1]) : 0;
}

/** `strict decoding error: a, b, c`. */
export function strictDecodingMessage(errors: string[]): string {
  return `strict decoding error: ${errors.join(', ')}`;
}

/**
 * The 400 BadRequest message for a POST/PUT under Strict:
 * `Pod in version "v1" cannot be handled as a Pod: strict decoding error: unknown field "spec.foo"`.
 */
export function strictBadRequestMessage(kind: string, version: string, errors: string[]): string {
  return `${kind} in version ${goQuote(version)} cannot be handled as a ${kind}: ${strictDecodingMessage(errors)}`;
}

/**
 * The 422 Invalid answer for a PATCH under Strict: Kubernetes reports it as an invalid `patch`
 * field whose value is the patched object's JSON, with no kind and no name.
 */
export function strictPatchInvalid(patchedJson: string, errors: string[]): { message: string; causes: { reason: string; message: string; field: string }[] } {
  const causeMessage = `Invalid value: ${goQuote(patchedJson)}: ${strictDecodingMessage(errors)}`;
  return { message: ` "" is invalid: patch: ${causeMessage}`, causes: [{ reason: 'FieldValueInvalid', message: causeMessage, field: 'patch' }] };
}

/** The value of one `Warning` response header: `299 - "unknown field \"spec.foo\""`. */
export function warningHeaderValue(text: string): string {
  // RFC 7234 warn-text is a quoted-string: escape backslash and double quote; drop control chars.
  const clean = text.replace(/[\u0000-\u001f\u007f]/g, ' ');
  return `299 - "${clean.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}

/**
 * For one kind of problem over some paths: the Strict message (`strict decoding error: …`) and
 * the Warn texts (kubectl prints each as `Warning: unknown field "spec.foo"`).
 */
export function fieldValidationMessage(kind: StrictErrorKind, paths: string[]): { strict: string; warnings: string[] } {
  const items = paths.map((path) => strictErrorText({ kind, path }));
  return { strict: strictDecodingMessage(items), warnings: items };
}
