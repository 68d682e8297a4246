// Introspection of @kubernetes/client-node models for the OpenAPI documents and field validation:
// attribute types (attributeTypeMap), JSDoc descriptions and required fields, reachable models.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as clientModels from '@kubernetes/client-node/dist/gen/models/all.js';

/** One entry of a client-node model's `attributeTypeMap`. */
export interface ModelAttribute {
  /** TypeScript property name. */
  name: string;
  /** JSON field name. */
  baseName: string;
  /** e.g. `string`, `V1PodSpec`, `Array<V1Container>`, `{ [key: string]: string; }`. */
  type: string;
  format: string;
}

/** A parsed attribute type. */
export type TypeRef =
  | { t: 'string'; format?: string }
  | { t: 'boolean' }
  | { t: 'integer'; format?: string }
  | { t: 'number'; format?: string }
  | { t: 'date' }
  | { t: 'intOrString' }
  | { t: 'any' }
  | { t: 'model'; name: string }
  | { t: 'array'; of: TypeRef }
  | { t: 'map'; of: TypeRef };

const MODELS = clientModels as unknown as Record<string, unknown>;
const attributeCache = new Map<string, ModelAttribute[] | null>();

function isAttribute(v: unknown): v is ModelAttribute {
  if (!v || typeof v !== 'object') return false;
  const o = v as Record<string, unknown>;
  return typeof o.name === 'string' && typeof o.baseName === 'string' && typeof o.type === 'string';
}

/** The attributes of a client-node model (`V1Pod`), or undefined when there is no such model. */
export function modelAttributes(model: string): ModelAttribute[] | undefined {
  const cached = attributeCache.get(model);
  if (cached !== undefined) return cached ?? undefined;
  const cls = Object.prototype.hasOwnProperty.call(MODELS, model) ? MODELS[model] : undefined;
  const map = typeof cls === 'function' ? (cls as { attributeTypeMap?: unknown }).attributeTypeMap : undefined;
  let attrs: ModelAttribute[] | null = null;
  if (Array.isArray(map) && map.every(isAttribute)) {
    attrs = map.map((a) => ({ name: a.name, baseName: a.baseName, type: a.type, format: typeof a.format === 'string' ? a.format : '' }));
  }
  attributeCache.set(model, attrs);
  return attrs ?? undefined;
}

/** Whether a client-node model of this name exists. */
export function modelExists(model: string): boolean {
  return modelAttributes(model) !== undefined;
}

const typeRefCache = new Map<string, TypeRef>();

/** Parses an attributeTypeMap type (and format) into a TypeRef. */
export function parseTypeRef(type: string, format = ''): TypeRef {
  const key = `${type}|${format}`;
  const hit = typeRefCache.get(key);
  if (hit) return hit;
  const ref = parseTypeUncached(type.trim(), format);
  typeRefCache.set(key, ref);
  return ref;
}

function parseTypeUncached(type: string, format: string): TypeRef {
  const arr = /^Array<(.+)>$/.exec(type);
  if (arr) return { t: 'array', of: parseTypeRef(arr[1], format) };
  const map = /^\{\s*\[key: string\]:\s*(.+?);\s*\}$/.exec(type);
  if (map) return { t: 'map', of: parseTypeRef(map[1], format) };
  switch (type) {
    case 'string':
      return format ? { t: 'string', format } : { t: 'string' };
    case 'boolean':
      return { t: 'boolean' };
    case 'number':
      if (format === 'int32' || format === 'int64') return { t: 'integer', format };
      return format ? { t: 'number', format } : { t: 'number' };
    case 'Date':
      return { t: 'date' };
    case 'IntOrString':
      return { t: 'intOrString' };
    case 'any':
    case 'object':
      return { t: 'any' };
    default:
      return modelExists(type) ? { t: 'model', name: type } : { t: 'any' };
  }
}

interface FieldDoc {
  description?: string;
  required: boolean;
}

interface ModelDoc {
  description?: string;
  /** Keyed by TypeScript property name. */
  fields: Map<string, FieldDoc>;
}

let modelsDir: string | null | undefined;

function clientModelsDir(): string | null {
  if (modelsDir !== undefined) return modelsDir;
  try {
    const req = createRequire(import.meta.url);
    modelsDir = dirname(req.resolve('@kubernetes/client-node/dist/gen/models/all.js'));
  } catch {
    modelsDir = null;
  }
  return modelsDir;
}

const docCache = new Map<string, ModelDoc>();

function unescapeDoc(s: string): string {
  return s.replace(/\\(["'\\])/g, '$1');
}

/** JSDoc of a model and its fields, read from the model's .d.ts (empty when unavailable). */
export function modelDoc(model: string): ModelDoc {
  const hit = docCache.get(model);
  if (hit) return hit;
  const doc: ModelDoc = { fields: new Map() };
  docCache.set(model, doc);
  const dir = clientModelsDir();
  if (!dir || !/^[A-Za-z0-9]+$/.test(model)) return doc;
  let text: string;
  try {
    text = readFileSync(join(dir, `${model}.d.ts`), 'utf8');
  } catch {
    return doc;
  }
  const lines = text.split('\n');
  let comment: string[] | null = null;
  let pending: string | undefined;
  let inClass = false;
  for (const raw of lines) {
    const line = raw.trim();
    if (line.startsWith('/**')) {
      comment = [];
      continue;
    }
    if (comment) {
      if (line.startsWith('*/')) {
        pending = comment.join('\n').trim() || undefined;
        comment = null;
      } else {
        comment.push(line.replace(/^\*\s?/, ''));
      }
      continue;
    }
    if (!inClass) {
      if (line.startsWith('export declare class ')) {
        inClass = true;
        if (pending) doc.description = unescapeDoc(pending);
      }
      pending = line === '' ? pending : undefined;
      continue;
    }
    const prop = /^'([^']+)'(\??):/.exec(line);
    if (prop) {
      doc.fields.set(prop[1], { description: pending ? unescapeDoc(pending) : undefined, required: prop[2] !== '?' });
      pending = undefined;
    } else if (line !== '') {
      pending = undefined;
    }
  }
  return doc;
}

/** Description of a model (from its JSDoc), if any. */
export function modelDescription(model: string): string | undefined {
  return modelDoc(model).description;
}

/** Every model reachable from `roots` (the roots included), in a stable order. */
export function modelClosure(roots: string[]): string[] {
  const seen = new Set<string>();
  const out: string[] = [];
  const stack = [...roots].reverse();
  while (stack.length) {
    const m = stack.pop() as string;
    if (seen.has(m) || !modelExists(m)) continue;
    seen.add(m);
    out.push(m);
    const children: string[] = [];
    for (const a of modelAttributes(m) ?? []) collectModels(parseTypeRef(a.type, a.format), children);
    for (let i = children.length - 1; i >= 0; i--) if (!seen.has(children[i])) stack.push(children[i]);
  }
  return out;
}

function collectModels(ref: TypeRef, out: string[]): void {
  if (ref.t === 'model') out.push(ref.name);
  else if (ref.t === 'array' || ref.t === 'map') collectModels(ref.of, out);
}
