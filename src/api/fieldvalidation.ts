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
//
// This file keeps the entry points the handlers use; the parts are fieldvalidation-schema.ts
// (unknown fields against the schema), json-scan.ts (the JSON text scanner) and
// fieldvalidation-errors.ts (the error texts).
import { isMap, isPair, isScalar, isSeq, LineCounter, parseAllDocuments, type Node as YamlNode } from 'yaml';
import { ErrorSink, MAX_ERRORS, type StrictErrorKind, goQuote, strictErrorText } from './fieldvalidation-errors.ts';
import { unknownFields } from './fieldvalidation-schema.ts';
import { duplicateFields, scanJson, strictFieldErrors } from './json-scan.ts';

export { strictErrorText } from './fieldvalidation-errors.ts';
export type { StrictError, StrictErrorKind } from './fieldvalidation-errors.ts';
export { unknownFields } from './fieldvalidation-schema.ts';
export type { UnknownFieldsOptions } from './fieldvalidation-schema.ts';
export { duplicateFields, JsonScanError, strictFieldErrors } from './json-scan.ts';

export type FieldValidationDirective = 'Strict' | 'Warn' | 'Ignore';

/** The `fieldValidation` query value: absent/empty → Warn (the default); unknown → null (400). */
export function parseFieldValidation(value: string | null | undefined): FieldValidationDirective | null {
  if (value === undefined || value === null || value === '') return 'Warn';
  return value === 'Strict' || value === 'Warn' || value === 'Ignore' ? value : null;
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
  // HTTP header values carry Latin-1 only: anything beyond ASCII is written as a \uXXXX escape.
  const clean = text.replace(/[\u0000-\u001f\u007f]/g, ' ').replace(/[\\"]/g, (c) => `\\${c}`);
  return `299 - "${clean.replace(/[^\u0020-\u007e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)}"`;
}

/**
 * For one kind of problem over some paths: the Strict message (`strict decoding error: …`) and
 * the Warn texts (kubectl prints each as `Warning: unknown field "spec.foo"`).
 */
export function fieldValidationMessage(kind: StrictErrorKind, paths: string[]): { strict: string; warnings: string[] } {
  const items = paths.map((path) => strictErrorText({ kind, path }));
  return { strict: strictDecodingMessage(items), warnings: items };
}
