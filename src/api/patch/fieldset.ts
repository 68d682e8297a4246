// Sets of field paths, as server-side apply tracks ownership, and their FieldsV1 wire form.
//
// A path is a list of path elements spelled as in FieldsV1: `f:<field>` (a struct field or map
// key), `k:{"name":"nginx"}` (an item of an associative list, by its key fields, sorted),
// `v:"value"` (an item of a set), `i:3` (a list index). A node is a "member" when the path
// itself is in the set (FieldsV1 writes `{}` for a member without children, `".": {}` for one
// with children).
import { isObject, setKey, type JsonObject } from './json.ts';

export class FieldSet {
  member = false;
  readonly children = new Map<string, FieldSet>();

  child(pe: string): FieldSet {
    let c = this.children.get(pe);
    if (!c) {
      c = new FieldSet();
      this.children.set(pe, c);
    }
    return c;
  }

  get(pe: string): FieldSet | undefined {
    return this.children.get(pe);
  }

  insert(path: readonly string[]): void {
    let node: FieldSet = this;
    for (const pe of path) node = node.child(pe);
    node.member = true;
  }

  has(path: readonly string[]): boolean {
    let node: FieldSet | undefined = this;
    for (const pe of path) {
      node = node.children.get(pe);
      if (!node) return false;
    }
    return node.member;
  }

  /** No member at or below this node. */
  isEmpty(): boolean {
    if (this.member) return false;
    for (const c of this.children.values()) if (!c.isEmpty()) return false;
    return true;
  }

  clone(): FieldSet {
    const out = new FieldSet();
    out.member = this.member;
    for (const [k, c] of this.children) out.children.set(k, c.clone());
    return out;
  }

  union(other: FieldSet | undefined): FieldSet {
    const out = this.clone();
    if (other) out.addAll(other);
    return out;
  }

  addAll(other: FieldSet): void {
    if (other.member) this.member = true;
    for (const [k, c] of other.children) this.child(k).addAll(c);
  }

  /** The members of this set that are not members of `other`. */
  difference(other: FieldSet | undefined): FieldSet {
    const out = new FieldSet();
    out.member = this.member && !(other?.member ?? false);
    for (const [k, c] of this.children) {
      const d = c.difference(other?.children.get(k));
      if (!d.isEmpty()) out.children.set(k, d);
    }
    return out;
  }

  intersection(other: FieldSet | undefined): FieldSet {
    const out = new FieldSet();
    if (!other) return out;
    out.member = this.member && other.member;
    for (const [k, c] of this.children) {
      const o = other.children.get(k);
      if (!o) continue;
      const i = c.intersection(o);
      if (!i.isEmpty()) out.children.set(k, i);
    }
    return out;
  }

  equals(other: FieldSet): boolean {
    return this.difference(other).isEmpty() && other.difference(this).isEmpty();
  }

  /** Every member path, in FieldsV1 order. */
  paths(prefix: string[] = []): string[][] {
    const out: string[][] = [];
    if (this.member) out.push(prefix);
    for (const k of sortedElements(this.children.keys())) {
      out.push(...this.children.get(k)!.paths([...prefix, k]));
    }
    return out;
  }

  toFieldsV1(): JsonObject {
    const out: JsonObject = {};
    let hasChildren = false;
    const entries: [string, JsonObject][] = [];
    for (const k of sortedElements(this.children.keys())) {
      const c = this.children.get(k)!;
      if (c.isEmpty()) continue;
      hasChildren = true;
      entries.push([k, c.toFieldsV1()]);
    }
    if (this.member && hasChildren) out['.'] = {};
    for (const [k, v] of entries) setKey(out, k, v);
    return out;
  }

  static fromFieldsV1(v: unknown): FieldSet {
    const root = new FieldSet();
    if (isObject(v)) decodeInto(root, v);
    return root;
  }
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

function sortedElements(keys: Iterable<string>): string[] {
  return [...keys].sort((a, b) => {
    const ra = RANK[a[0]!] ?? 4;
    const rb = RANK[b[0]!] ?? 4;
    if (ra !== rb) return ra - rb;
    if (ra === 3) return Number(a.slice(2)) - Number(b.slice(2));
    return a < b ? -1 : a > b ? 1 : 0;
  });
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
