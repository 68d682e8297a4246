// Request bodies: size limit, media types (JSON, YAML, Kubernetes protobuf), and the
// fieldValidation modes (Strict / Warn / Ignore) for unknown and duplicate fields.
import type { IncomingMessage } from 'node:http';
import YAML from 'yaml';
import { errors, ApiError } from './errors.ts';
import type { KubeObject } from '../registry/types.ts';
import { decodeKubernetesProtobuf } from './protobuf.ts';
import { checkJsonBody, checkYamlBody, strictBadRequestMessage, type StrictResult } from './fieldvalidation.ts';

export const MAX_BODY_BYTES = 3 * 1024 * 1024;

export function readBody(req: IncomingMessage, limit = MAX_BODY_BYTES): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length'] ?? '0');
    if (declared > limit) {
      req.resume();
      reject(errors.tooLarge(limit));
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let failed = false;
    req.on('data', (c: Buffer) => {
      if (failed) return;
      size += c.length;
      if (size > limit) {
        failed = true;
        reject(errors.tooLarge(limit));
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => {
      if (!failed) resolve(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks));
    });
    req.on('error', (e) => {
      if (!failed) reject(errors.badRequest(`error reading request body: ${e.message}`));
    });
  });
}

export type MediaType = 'json' | 'yaml' | 'protobuf' | 'json-patch' | 'merge-patch' | 'strategic-merge-patch' | 'apply-yaml' | 'apply-cbor' | 'unknown';

export function mediaTypeOf(contentType: string | undefined): MediaType {
  const t = (contentType ?? 'application/json').split(';')[0].trim().toLowerCase();
  switch (t) {
    case '':
    case 'application/json':
      return 'json';
    case 'application/yaml':
    case 'application/x-yaml':
    case 'text/yaml':
      return 'yaml';
    case 'application/vnd.kubernetes.protobuf':
      return 'protobuf';
    case 'application/json-patch+json':
      return 'json-patch';
    case 'application/merge-patch+json':
      return 'merge-patch';
    case 'application/strategic-merge-patch+json':
      return 'strategic-merge-patch';
    case 'application/apply-patch+yaml':
      return 'apply-yaml';
    case 'application/apply-patch+cbor':
      return 'apply-cbor';
    default:
      return 'unknown';
  }
}

/** Parse JSON or YAML text into a value; malformed input is a 400 with the parser's message. */
/** Deepest nesting of objects and arrays a body may have (Kubernetes' decoder allows 10,000). */
export const MAX_NESTING = 10_000;

/** Nesting depth of JSON (or flow-style YAML) text, counted without parsing. */
export function nestingDepth(text: string): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92) i++; // backslash escape
      else if (c === 34) inString = false;
    } else if (c === 34) inString = true;
    else if (c === 123 || c === 91) {
      if (++depth > max) max = depth;
    } else if (c === 125 || c === 93) depth--;
  }
  return max;
}

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

export function parseText(buf: Buffer, type: 'json' | 'yaml'): unknown {
  return parseString(buf.toString('utf8'), type);
}

function parseString(text: string, type: 'json' | 'yaml'): unknown {
  // Every level opens with a character of its own: shorter text cannot nest too deep.
  if (text.length > MAX_NESTING && nestingDepth(text) > MAX_NESTING) throw errors.badRequest(`the request body is nested more than ${MAX_NESTING} levels deep`);
  if (type === 'json') {
    try {
      return JSON.parse(text);
    } catch (e) {
      throw errors.badRequest(`json: cannot unmarshal the request body: ${(e as Error).message}`);
    }
  }
  try {
    const docs = YAML.parseAllDocuments(text);
    if (docs.length > 1) throw errors.badRequest('yaml: the request body holds more than one document');
    const doc = docs[0];
    if (!doc) return null;
    const bad = doc.errors.find((e) => e.code !== 'DUPLICATE_KEY');
    if (bad) throw errors.badRequest(`yaml: ${bad.message}`);
    return doc.toJS({ maxAliasCount: 100 });
  } catch (e) {
    if (e instanceof ApiError) throw e;
    throw errors.badRequest(`yaml: ${(e as Error).message}`);
  }
}

export type FieldValidation = 'Strict' | 'Warn' | 'Ignore';

export function fieldValidationMode(query: URLSearchParams): FieldValidation {
  const v = query.get('fieldValidation');
  if (v === null || v === '') return 'Warn';
  if (v === 'Strict' || v === 'Warn' || v === 'Ignore') return v;
  throw errors.badRequest(`fieldValidation parameter unsupported: ${v}, must be one of Ignore, Warn, Strict`);
}

export interface DecodedObject {
  obj: KubeObject;
  /** Warning texts to send (fieldValidation=Warn). */
  warnings: string[];
}

/**
 * Decode a create/update body into an object, applying field validation against the kind's
 * model. Strict turns unknown/duplicate fields into a 400; Warn into warnings.
 */
export function decodeObjectBody(buf: Buffer, contentType: string | undefined, def: { kind: string; version: string; modelName: string }, mode: FieldValidation): DecodedObject {
  const type = mediaTypeOf(contentType);
  let value: unknown;
  let found: StrictResult = { errors: [], warnings: [] };
  let text = '';
  if (type === 'json' || type === 'yaml') {
    text = buf.toString('utf8');
    value = parseString(text, type);
  } else if (type === 'protobuf') {
    try {
      value = decodeKubernetesProtobuf(buf);
    } catch (e) {
      const code = (e as { code?: unknown }).code;
      if (code === 415) throw new ApiError(415, 'UnsupportedMediaType', (e as Error).message);
      throw errors.badRequest(`protobuf: ${(e as Error).message}`);
    }
  } else {
    throw errors.unsupportedMediaType(contentType ?? '');
  }
  if (!isPlainObject(value)) {
    throw errors.badRequest(`${def.kind} in version "${def.version}" cannot be handled as a ${def.kind}: the request body must be a JSON or YAML object`);
  }
  const obj = value as KubeObject;
  if (mode !== 'Ignore') {
    if (type === 'json') found = checkJsonBody(text, def.modelName);
    else if (type === 'yaml') found = checkYamlBody(text, obj, def.modelName);
  }
  if (obj.metadata === undefined || obj.metadata === null) obj.metadata = {};
  if (typeof obj.metadata !== 'object' || Array.isArray(obj.metadata)) throw errors.badRequest('metadata must be an object');
  if (found.errors.length > 0 && mode === 'Strict') throw errors.badRequest(strictBadRequestMessage(def.kind, def.version, found.errors));
  return { obj, warnings: mode === 'Warn' ? found.warnings : [] };
}

/** Decode any supported request body (JSON, YAML or Kubernetes protobuf) without field checks. */
export function parseAnyBody(buf: Buffer, contentType: string | undefined): unknown {
  const type = mediaTypeOf(contentType);
  if (type === 'protobuf') {
    try {
      return decodeKubernetesProtobuf(buf);
    } catch (e) {
      const code = (e as { code?: unknown }).code;
      if (code === 415) throw new ApiError(415, 'UnsupportedMediaType', (e as Error).message);
      throw errors.badRequest(`protobuf: ${(e as Error).message}`);
    }
  }
  if (buf.length === 0) return undefined;
  return parseText(buf, type === 'yaml' ? 'yaml' : 'json');
}
