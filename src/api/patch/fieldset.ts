// Sets of field paths, as server-side apply tracks ownership, and their FieldsV1 wire form.
//
// A path is a list of path elements spelled as in FieldsV1: `f:<field>` (a struct field or map
// key), `k:{"name":"nginx"}` (an item of an associative list, by its key fields, sorted),
// `v:"value"` (an item of a set), `i:3` (a list index). A node is a "member" when the path
// itself is in the set (FieldsV1 writes `{}` for a member without children, `".": {}` for one
// with children).
import { isObject, setKey, type JsonObject } from './json.ts';

const NO_CHILDREN: ReadonlyMap<string, FieldSet> = new Map();

export class FieldSet {
  member = false;
  /** Allocated with the first child: most nodes are leaves. */
  private kids: Map<string, FieldSet> | undefined = undefined;

  /** The children by path element (read-only; change them with child() and remove()). */
  get children(): ReadonlyMap<string, FieldSet> {
    return this.kids ?? NO_CHILDREN;
  }

  child(pe: string): FieldSet {
    let m = this.kids;
    if (m === undefined) m = this.kids = new Map();
    let c = m.get(pe);
    if (!c) {
      c = new FieldSet();
      m.set(pe, c);
    }
    return c;
  }

  get(pe: string): FieldSet | undefined {
    return this.kids?.get(pe);
  }

  /** Drops a child (and everything below it). */
  remove(pe: string): void {
    this.kids?.delete(pe);
  }

  insert(path: readonly string[]): void {
    let node: FieldSet = this;
    for (const pe of path) node = node.child(pe);
    node.member = true;
  }

  has(path: readonly string[]): boolean {
    let node: FieldSet | undefined = this;
    for (const pe of path) {
      node = node.kids?.get(pe);
      if (!node) return false;
    }
    return node.member;
  }

  /** No member at or below this node. */
  isEmpty(): boolean {
    if (this.member) return false;
    if (this.kids === undefined) return true;
    for (const c of this.kids.values()) if (!c.isEmpty()) return false;
    return true;
  }

  clone(): FieldSet {
    const out = new FieldSet();
    out.member = this.member;
    if (this.kids !== undefined) {
      const m = (out.kids = new Map());
      this.kids.forEach((c, k) => m.set(k, c.clone()));
    }
    return out;
  }

  union(other: FieldSet | undefined): FieldSet {
    const out = this.clone();
    if (other) out.addAll(other);
    return out;
  }

  addAll(other: FieldSet): void {
    if (other.member) this.member = true;
    other.kids?.forEach((c, k) => this.child(k).addAll(c));
  }

  /** The members of this set that are not members of `other`. */
  difference(other: FieldSet | undefined): FieldSet {
    const out = new FieldSet();
    out.member = this.member && !(other?.member ?? false);
    this.kids?.forEach((c, k) => {
      const d = c.difference(other?.kids?.get(k));
      if (!d.isEmpty()) (out.kids ??= new Map()).set(k, d);
    });
    return out;
  }

  intersection(other: FieldSet | undefined): FieldSet {
    const out = new FieldSet();
    if (!other) return out;
    out.member = this.member && other.member;
    this.kids?.forEach((c, k) => {
      const o = other.kids?.get(k);
      if (!o) return;
      const i = c.intersection(o);
      if (!i.isEmpty()) (out.kids ??= new Map()).set(k, i);
    });
    return out;
  }

  equals(other: FieldSet): boolean {
    return this.difference(other).isEmpty() && other.difference(this).isEmpty();
  }

  /** Every member path, in FieldsV1 order. */
  paths(prefix: string[] = []): string[][] {
    const out: string[][] = [];
    if (this.member) out.push(prefix);
    if (this.kids === undefined) return out;
    for (const k of sortedElements(this.kids.keys())) {
      out.push(...this.kids.get(k)!.paths([...prefix, k]));
    }
    return out;
  }

  toFieldsV1(): JsonObject {
    return this.encode() ?? {};
  }

  /** FieldsV1 of this node, or null when it holds no member (one pass, no emptiness re-walks). */
  private encode(): JsonObject | null {
    const m = this.kids;
    let out: JsonObject | null = null;
    if (m !== undefined) {
      const keys = sortedElements(m.keys());
      for (const k of keys) {
        const v = m.get(k)!.encode();
        if (v === null) continue;
        if (out === null) {
          out = {};
          if (this.member) out['.'] = {};
        }
        setKey(out, k, v);
      }
    }
    if (out === null) return this.member ? {} : null;
    return out;
  }

  static fromFieldsV1(v: unknown): FieldSet {
    const root = new FieldSet();
    if (isObject(v)) decodeInto(root, v);
    return root;
  }

  /** Whether fromFieldsV1(v) would hold no member (without decoding it): every non-empty
   *  FieldsV1 object has one (a `.` key, or a child that is a leaf or holds one). */
  static isEmptyFieldsV1(v: unknown): boolean {
    return !isObject(v) || Object.keys(v).length === 0;
  }

  /** Whether fromFieldsV1(v).toFieldsV1() would be the same JSON as `v` (same keys, same order):
   *  then `v` can be written back as it is. */
  static isCanonicalFieldsV1(v: unknown): boolean {
    return isObject(v) && canonicalNode(v);
  }

  /** Whether every member of fromFieldsV1(v) is one of this set (without decoding `v`). */
  containsFieldsV1(v: unknown): boolean {
    if (!isObject(v)) return true;
    return rawWithin(this, Object.hasOwn(v, '.'), v);
  }

  /** Whether every member of this set is one of fromFieldsV1(v) (without decoding `v`). */
  subsetOfFieldsV1(v: unknown): boolean {
    const raw = isObject(v) ? v : undefined;
    return subsetOfRaw(this, raw !== undefined && Object.hasOwn(raw, '.'), raw);
  }

  /** Whether this set and fromFieldsV1(v) have a member in common (without decoding `v`). */
  overlapsFieldsV1(v: unknown): boolean {
    if (!isObject(v)) return false;
    return overlapsRaw(this, Object.hasOwn(v, '.'), v);
  }
}

/** A FieldsV1 node as encode() writes it: children sorted, each `{}` (a leaf member) or a
 *  canonical node with at least one child; `".": {}` first when the node is also a member and
 *  has children. */
function canonicalNode(o: JsonObject): boolean {
  const keys = Object.keys(o);
  let first = 0;
  if (keys.length > 0 && keys[0] === '.') {
    const dot = o['.'];
    if (keys.length === 1 || !isObject(dot) || Object.keys(dot).length > 0) return false;
    first = 1;
  }
  for (let i = first; i < keys.length; i++) {
    const k = keys[i]!;
    if (k === '.') return false;
    if (i > first && compareElements(keys[i - 1]!, k) >= 0) return false;
    const v = o[k];
    if (!isObject(v)) return false;
    if (Object.keys(v).length > 0 && !canonicalNode(v)) return false;
  }
  return true;
}

/** A FieldsV1 node (a member when `rawMember`; children from `raw`) within `set`. */
function rawWithin(set: FieldSet | undefined, rawMember: boolean, raw: JsonObject | undefined): boolean {
  if (rawMember && !(set?.member ?? false)) return false;
  if (raw === undefined) return true;
  for (const k of Object.keys(raw)) {
    if (k === '.') continue;
    const v = raw[k];
    const inner = isObject(v) && Object.keys(v).length > 0 ? v : undefined;
    if (!rawWithin(set?.get(k), inner === undefined || Object.hasOwn(inner, '.'), inner)) return false;
  }
  return true;
}

/** `set` within a FieldsV1 node (decoded: a member when `rawMember`; children from `raw`). */
function subsetOfRaw(set: FieldSet, rawMember: boolean, raw: JsonObject | undefined): boolean {
  if (set.member && !rawMember) return false;
  for (const [k, c] of set.children) {
    // `.` marks membership in FieldsV1; it is never a child.
    const v = k !== '.' && raw !== undefined && Object.hasOwn(raw, k) ? raw[k] : undefined;
    if (v === undefined) {
      if (!c.isEmpty()) return false;
      continue;
    }
    const inner = isObject(v) && Object.keys(v).length > 0 ? v : undefined;
    if (!subsetOfRaw(c, inner === undefined || Object.hasOwn(inner, '.'), inner)) return false;
  }
  return true;
}

/** `set` against a FieldsV1 node (decoded: a member when `rawMember`; children from `raw`). */
function overlapsRaw(set: FieldSet, rawMember: boolean, raw: JsonObject | undefined): boolean {
  if (set.member && rawMember) return true;
  if (raw === undefined) return false;
  for (const [k, c] of set.children) {
    // `.` marks membership in FieldsV1; it is never a child.
    if (k === '.' || !Object.hasOwn(raw, k)) continue;
    const v = raw[k];
    const inner = isObject(v) && Object.keys(v).length > 0 ? v : undefined;
    if (overlapsRaw(c, inner === undefined || Object.hasOwn(inner, '.'), inner)) return true;
  }
  return false;
}

function decodeInto(node: FieldSet, obj: JsonObject): void {
  for (const [k, v] of Object.entries(obj)) {
    if (k === '.') {
      node.member = true;
      continue;
    }
    const c = node.child(k);
    if (isObject(v) && Object.keys(v).length > 0) decodeInto(c, v);
    else c.member = true;
  }
}

const RANK: Record<string, number> = { f: 0, k: 1, v: 2, i: 3 };

function compareElements(a: string, b: string): number {
  const ra = RANK[a[0]!] ?? 4;
  const rb = RANK[b[0]!] ?? 4;
  if (ra !== rb) return ra - rb;
  if (ra === 3) return Number(a.slice(2)) - Number(b.slice(2));
  return a < b ? -1 : a > b ? 1 : 0;
}

function sortedElements(keys: Iterable<string>): string[] {
  const a = [...keys];
  if (a.length > 16) return a.sort(compareElements);
  // Insertion sort: the few children of a node, without the allocations of Array#sort.
  for (let i = 1; i < a.length; i++) {
    const x = a[i]!;
    let j = i - 1;
    while (j >= 0 && compareElements(a[j]!, x) > 0) {
      a[j + 1] = a[j]!;
      j--;
    }
    a[j + 1] = x;
  }
  return a;
}

/** JSON with object keys sorted, as FieldsV1 spells key and value path elements. */
export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (isObject(v)) {
    const keys = Object.keys(v).filter((k) => v[k] !== undefined).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(v[k])}`).join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}

/** A path as Kubernetes prints it in conflicts: `.spec.containers[name="nginx"].image`. */
export function pathString(path: readonly string[]): string {
  let out = '';
  for (const pe of path) {
    const kind = pe.slice(0, 2);
    const rest = pe.slice(2);
    if (kind === 'f:') out += `.${rest}`;
    else if (kind === 'k:') {
      let fields: JsonObject = {};
      try {
        const parsed: unknown = JSON.parse(rest);
        if (isObject(parsed)) fields = parsed;
      } catch {
        // leave empty
      }
      const parts = Object.keys(fields)
        .sort()
        .map((k) => `${k}=${canonicalJson(fields[k])}`);
      out += `[${parts.join(',')}]`;
    } else if (kind === 'v:') out += `[=${rest}]`;
    else if (kind === 'i:') out += `[${rest}]`;
    else out += `.${pe}`;
  }
  return out;
}
