// Encoding (JSON shape → protobuf), the inverse of protobuf-decode.ts: for tests and protobuf clients.
import protobuf from 'protobufjs/minimal.js';
import { KubernetesProtobufError, WIRE_LEN, WIRE_VARINT, malformed } from './protobuf-wire.ts';
import { type FieldDef, type MessageDef, type ScalarType, type SpecialType, message } from './protobuf-schema.ts';

type PbWriter = protobuf.Writer;

function invalid(path: string, what: string): KubernetesProtobufError {
  return malformed(`${path}: ${what}`);
}

export function tag(no: number, wire: number): number {
  return ((no << 3) | wire) >>> 0;
}

function parseTime(v: unknown, path: string): { seconds: number; nanos: number } {
  if (typeof v !== 'string') throw invalid(path, 'expected an RFC 3339 time string');
  const m = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/.exec(v);
  const ms = m ? Date.parse(`${m[1]}${m[3]}`) : NaN;
  if (!m || Number.isNaN(ms)) throw invalid(path, `"${v}" is not an RFC 3339 time`);
  return { seconds: Math.floor(ms / 1000), nanos: m[2] ? Number(m[2].padEnd(9, '0')) : 0 };
}

function writeScalar(w: PbWriter, no: number, s: ScalarType, v: unknown, path: string): void {
  switch (s) {
    case 'string':
      if (typeof v !== 'string') throw invalid(path, 'expected a string');
      w.uint32(tag(no, WIRE_LEN)).string(v);
      return;
    case 'bytes':
      if (typeof v !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(v) || v.length % 4 !== 0) {
        throw invalid(path, 'expected a base64 string');
      }
      w.uint32(tag(no, WIRE_LEN)).bytes(Buffer.from(v, 'base64'));
      return;
    case 'bool':
      if (typeof v !== 'boolean') throw invalid(path, 'expected a boolean');
      w.uint32(tag(no, WIRE_VARINT)).bool(v);
      return;
    case 'int32':
    case 'int64':
      if (typeof v !== 'number' || !Number.isInteger(v)) throw invalid(path, 'expected an integer');
      if (s === 'int32') w.uint32(tag(no, WIRE_VARINT)).int32(v);
      else w.uint32(tag(no, WIRE_VARINT)).int64(v);
      return;
  }
}

function writeSpecial(w: PbWriter, no: number, s: SpecialType, v: unknown, path: string): void {
  w.uint32(tag(no, WIRE_LEN)).fork();
  switch (s) {
    case 'Time':
    case 'MicroTime': {
      const t = parseTime(v, path);
      w.uint32(tag(1, WIRE_VARINT)).int64(t.seconds);
      if (t.nanos) w.uint32(tag(2, WIRE_VARINT)).int32(t.nanos);
      break;
    }
    case 'Quantity':
      if (typeof v !== 'string' && typeof v !== 'number') throw invalid(path, 'expected a quantity');
      w.uint32(tag(1, WIRE_LEN)).string(String(v));
      break;
    case 'IntOrString':
      if (typeof v === 'number' && Number.isInteger(v)) {
        w.uint32(tag(1, WIRE_VARINT)).int64(0).uint32(tag(2, WIRE_VARINT)).int32(v);
      } else if (typeof v === 'string') {
        w.uint32(tag(1, WIRE_VARINT)).int64(1).uint32(tag(3, WIRE_LEN)).string(v);
      } else throw invalid(path, 'expected an integer or a string');
      break;
    case 'FieldsV1':
      if (!v || typeof v !== 'object') throw invalid(path, 'expected an object');
      w.uint32(tag(1, WIRE_LEN)).bytes(Buffer.from(JSON.stringify(v)));
      break;
    case 'StringList':
      if (!Array.isArray(v)) throw invalid(path, 'expected a list of strings');
      v.forEach((item, i) => writeScalar(w, 1, 'string', item, `${path}[${i}]`));
      break;
  }
  w.ldelim();
}

function writeValue(w: PbWriter, f: FieldDef, no: number, v: unknown, path: string): void {
  const vt = f.value;
  if (vt.t === 'scalar') writeScalar(w, no, vt.s, v, path);
  else if (vt.t === 'special') writeSpecial(w, no, vt.s, v, path);
  else {
    if (!v || typeof v !== 'object' || Array.isArray(v)) throw invalid(path, 'expected an object');
    w.uint32(tag(no, WIRE_LEN)).fork();
    encodeMessage(w, message(vt.name), v as Record<string, unknown>, path);
    w.ldelim();
  }
}

/** The JSON keys a message takes directly, including those of its inline members. */
function jsonKeys(def: MessageDef): Set<string> {
  const keys = new Set<string>();
  for (const f of def.fields) {
    if (f.inline && f.value.t === 'message') for (const k of jsonKeys(message(f.value.name))) keys.add(k);
    else keys.add(f.json);
  }
  return keys;
}

export function encodeMessage(w: PbWriter, def: MessageDef, obj: Record<string, unknown>, path: string): void {
  const known = jsonKeys(def);
  for (const k of Object.keys(obj)) {
    if (!known.has(k) && !(path === '' && (k === 'apiVersion' || k === 'kind'))) {
      throw invalid(path ? `${path}.${k}` : k, `unknown field for ${def.name}`);
    }
  }
  for (const f of def.fields) {
    const fpath = path ? `${path}.${f.json}` : f.json;
    if (f.inline && f.value.t === 'message') {
      const sub = message(f.value.name);
      const part: Record<string, unknown> = {};
      for (const k of jsonKeys(sub)) if (obj[k] !== undefined) part[k] = obj[k];
      w.uint32(tag(f.no, WIRE_LEN)).fork();
      encodeMessage(w, sub, part, path);
      w.ldelim();
      continue;
    }
    const v = obj[f.json];
    if (v === undefined || v === null) continue;
    if (f.map) {
      if (typeof v !== 'object' || Array.isArray(v)) throw invalid(fpath, 'expected an object');
      for (const [k, item] of Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
        w.uint32(tag(f.no, WIRE_LEN)).fork();
        w.uint32(tag(1, WIRE_LEN)).string(k);
        writeValue(w, f, 2, item, `${fpath}[${k}]`);
        w.ldelim();
      }
    } else if (f.repeated) {
      if (!Array.isArray(v)) throw invalid(fpath, 'expected a list');
      v.forEach((item, i) => writeValue(w, f, f.no, item, `${fpath}[${i}]`));
    } else {
      writeValue(w, f, f.no, v, fpath);
    }
  }
}
