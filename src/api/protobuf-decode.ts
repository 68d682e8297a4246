// Decoding (protobuf → JSON shape): walks a message by its definition, mapping Kubernetes' special
// types (Time, Quantity, IntOrString, FieldsV1) and refusing unknown fields.
import protobuf from 'protobufjs/minimal.js';
import { WIRE_LEN, WIRE_VARINT, malformed } from './protobuf-wire.ts';
import { type FieldDef, type MessageDef, type ScalarType, type SpecialType, message } from './protobuf-schema.ts';

const { Reader } = protobuf;
type PbReader = protobuf.Reader;

function toNumber(v: unknown, path: string): number {
  if (typeof v === 'number') return v;
  const long = v as { toNumber?: () => number };
  if (long && typeof long.toNumber === 'function') {
    const n = long.toNumber();
    if (!Number.isSafeInteger(n)) throw malformed(`${path}: integer out of range`);
    return n;
  }
  throw malformed(`${path}: not an integer`);
}

export function expectWire(actual: number, expected: number, path: string): void {
  if (actual !== expected) throw malformed(`${path}: wire type ${actual}, expected ${expected}`);
}

export function readScalar(r: PbReader, s: ScalarType, wire: number, path: string): string | number | boolean {
  switch (s) {
    case 'string':
      expectWire(wire, WIRE_LEN, path);
      return r.string();
    case 'bytes':
      expectWire(wire, WIRE_LEN, path);
      return Buffer.from(r.bytes()).toString('base64');
    case 'bool':
      expectWire(wire, WIRE_VARINT, path);
      return r.bool();
    case 'int32':
      expectWire(wire, WIRE_VARINT, path);
      return r.int32();
    case 'int64':
      expectWire(wire, WIRE_VARINT, path);
      return toNumber(r.int64(), path);
  }
}

function isZero(v: unknown): boolean {
  return v === '' || v === 0 || v === false;
}

function pad(n: number, width: number): string {
  return String(n).padStart(width, '0');
}

function formatTime(seconds: number, nanos: number, micro: boolean, path: string): string {
  const ms = seconds * 1000;
  const d = new Date(ms);
  if (Number.isNaN(d.getTime())) throw malformed(`${path}: time out of range`);
  const base =
    `${pad(d.getUTCFullYear(), 4)}-${pad(d.getUTCMonth() + 1, 2)}-${pad(d.getUTCDate(), 2)}` +
    `T${pad(d.getUTCHours(), 2)}:${pad(d.getUTCMinutes(), 2)}:${pad(d.getUTCSeconds(), 2)}`;
  // metav1.Time prints whole seconds; MicroTime prints microseconds.
  return micro ? `${base}.${pad(Math.floor(nanos / 1000), 6)}Z` : `${base}Z`;
}

/** Decodes a special type's message; undefined means "zero value": leave the field out. */
function readSpecial(buf: Uint8Array, s: SpecialType, path: string): unknown {
  const r = Reader.create(buf);
  const fields = new Map<number, unknown>();
  const list: string[] = [];
  while (r.pos < r.len) {
    const tag = r.uint32();
    const no = tag >>> 3;
    const wire = tag & 7;
    switch (s) {
      case 'Time':
      case 'MicroTime':
        if (no === 1) fields.set(1, readScalar(r, 'int64', wire, `${path}.seconds`));
        else if (no === 2) fields.set(2, readScalar(r, 'int32', wire, `${path}.nanos`));
        else throw malformed(`${path}: unknown field ${no} in ${s}`);
        break;
      case 'Quantity':
        if (no !== 1) throw malformed(`${path}: unknown field ${no} in Quantity`);
        fields.set(1, readScalar(r, 'string', wire, path));
        break;
      case 'IntOrString':
        if (no === 1) fields.set(1, readScalar(r, 'int64', wire, `${path}.type`));
        else if (no === 2) fields.set(2, readScalar(r, 'int32', wire, `${path}.intVal`));
        else if (no === 3) fields.set(3, readScalar(r, 'string', wire, `${path}.strVal`));
        else throw malformed(`${path}: unknown field ${no} in IntOrString`);
        break;
      case 'FieldsV1':
        if (no !== 1) throw malformed(`${path}: unknown field ${no} in FieldsV1`);
        expectWire(wire, WIRE_LEN, path);
        fields.set(1, Buffer.from(r.bytes()).toString('utf8'));
        break;
      case 'StringList':
        if (no !== 1) throw malformed(`${path}: unknown field ${no} in string list`);
        list.push(readScalar(r, 'string', wire, path) as string);
        break;
    }
  }
  switch (s) {
    case 'Time':
    case 'MicroTime':
      if (fields.size === 0) return undefined; // the zero time: null in JSON
      return formatTime((fields.get(1) as number) ?? 0, (fields.get(2) as number) ?? 0, s === 'MicroTime', path);
    case 'Quantity':
      return fields.get(1) ?? '0';
    case 'IntOrString':
      return (fields.get(1) ?? 0) === 1 ? ((fields.get(3) as string) ?? '') : ((fields.get(2) as number) ?? 0);
    case 'FieldsV1': {
      const raw = fields.get(1) as string | undefined;
      if (raw === undefined || raw === '') return {};
      try {
        return JSON.parse(raw) as unknown;
      } catch {
        throw malformed(`${path}: fieldsV1 is not JSON`);
      }
    }
    case 'StringList':
      return list;
  }
}

function readValue(r: PbReader, f: FieldDef, wire: number, path: string): unknown {
  const v = f.value;
  if (v.t === 'scalar') return readScalar(r, v.s, wire, path);
  expectWire(wire, WIRE_LEN, path);
  const buf = r.bytes();
  if (v.t === 'special') return readSpecial(buf, v.s, path);
  return decodeMessage(buf, message(v.name), path);
}

function readMapEntry(r: PbReader, f: FieldDef, wire: number, path: string): [string, unknown] {
  expectWire(wire, WIRE_LEN, path);
  const entry = Reader.create(r.bytes());
  let key = '';
  let value: unknown;
  while (entry.pos < entry.len) {
    const tag = entry.uint32();
    const no = tag >>> 3;
    if (no === 1) key = readScalar(entry, 'string', tag & 7, `${path} key`) as string;
    else if (no === 2) value = readValue(entry, f, tag & 7, `${path}[${key}]`);
    else throw malformed(`${path}: unknown field ${no} in a map entry`);
  }
  if (value === undefined) {
    // A missing value is the zero value of the map's value type.
    const vt = f.value;
    value = vt.t === 'scalar' ? (vt.s === 'string' || vt.s === 'bytes' ? '' : 0) : vt.t === 'message' ? {} : vt.s === 'StringList' ? [] : '0';
  }
  return [key, value];
}

export function decodeMessage(buf: Uint8Array, def: MessageDef, path: string): Record<string, unknown> {
  const r = Reader.create(buf);
  const got = new Map<FieldDef, unknown>();
  while (r.pos < r.len) {
    const tag = r.uint32();
    const no = tag >>> 3;
    const wire = tag & 7;
    const f = def.byNumber.get(no);
    const fpath = path ? `${path}.${f?.json ?? no}` : (f?.json ?? String(no));
    if (!f) throw malformed(`${path || def.name}: field number ${no} is not a field of ${def.name} kennel knows`);
    if (f.map) {
      const [k, v] = readMapEntry(r, f, wire, fpath);
      const obj = (got.get(f) as Record<string, unknown> | undefined) ?? {};
      obj[k] = v;
      got.set(f, obj);
    } else if (f.repeated) {
      const arr = (got.get(f) as unknown[] | undefined) ?? [];
      const v = f.value;
      if (v.t === 'scalar' && v.s !== 'string' && v.s !== 'bytes' && wire === WIRE_LEN) {
        // packed repeated numbers
        const end = r.uint32() + r.pos;
        if (end > r.len) throw malformed(`${fpath}: truncated`);
        while (r.pos < end) arr.push(readScalar(r, v.s, WIRE_VARINT, fpath));
      } else {
        const item = readValue(r, f, wire, `${fpath}[${arr.length}]`);
        arr.push(item === undefined ? null : item);
      }
      got.set(f, arr);
    } else {
      const item = readValue(r, f, wire, fpath);
      if (item === undefined || (!f.keepZero && isZero(item))) got.delete(f);
      else got.set(f, item);
    }
  }
  // Emit in the definition's (Go struct) order; inline messages merge into this object.
  const out: Record<string, unknown> = {};
  for (const f of def.fields) {
    if (!got.has(f)) continue;
    const v = got.get(f);
    if (f.inline && v && typeof v === 'object' && !Array.isArray(v)) Object.assign(out, v);
    else out[f.json] = v;
  }
  return out;
}
