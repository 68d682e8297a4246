// A seeded, deterministic fuzzer for the API server: thousands of mutated requests (methods,
// paths, query parameters, headers, bodies of many kinds and encodings), each answer checked:
// a success (2xx with a JSON object body, a watch stream of JSON event lines, or the health
// endpoints' text), or a well-formed Status (kind Status, apiVersion v1, status Failure, code
// equal to the HTTP status, a reason and a message). A 500, any unexpected 5xx, a malformed
// answer, no answer, or a server-side log of an unexpected exception fails the test and prints
// the exact requests. Afterwards the server must still serve (/readyz, a create, a get).
//
// Replay: KENNEL_FUZZ_SEED=<seed> (printed on failure) KENNEL_FUZZ_COUNT=<n>
//   KENNEL_TEST_FILTER=test/api/fuzz npm test
// Requests are sent one at a time against a fresh server, so a seed replays the same run.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import YAML from 'yaml';
import { openStore } from '../../src/store/index.ts';
import type { Store } from '../../src/store/types.ts';
import { startApiServer, type ApiServer } from '../../src/api/server.ts';
import { ensureClusterPki } from '../../src/api/pki.ts';
import { createTokenAuthenticator } from '../../src/api/auth.ts';
import type { Logger } from '../../src/util/log.ts';
import type { ResourceDef } from '../../src/registry/types.ts';
import { HttpsConnection, type RawResponse } from '../../bench/lib/https-client.ts';

const SEED = Number(process.env.KENNEL_FUZZ_SEED ?? 0x6b656e6e) >>> 0;
const COUNT = Number(process.env.KENNEL_FUZZ_COUNT ?? 3000);
const REQUEST_TIMEOUT_MS = 10_000;
/** How long a watch stream is read before the fuzzer hangs up. */
const WATCH_READ_MS = 15;
const NS = 'fuzz';
/** KENNEL_FUZZ_VERBOSE=1 prints every request with its answer and duration (for replays). */
const VERBOSE = process.env.KENNEL_FUZZ_VERBOSE === '1';

// ---------------------------------------------------------------------------------------------
// Randomness
// ---------------------------------------------------------------------------------------------
class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0 || 1;
  }
  /** mulberry32 */
  next(): number {
    let t = (this.s = (this.s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(a: readonly T[]): T {
    return a[this.int(a.length)];
  }
  bytes(n: number): Buffer {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = this.int(256);
    return b;
  }
}

// ---------------------------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------------------------
interface FuzzRequest {
  index: number;
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: Buffer;
  /** What the generator meant to exercise (for reports). */
  note: string;
}

interface Failure {
  request: FuzzRequest;
  problem: string;
  status?: number;
  answer?: string;
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

const METHODS = ['GET', 'GET', 'GET', 'POST', 'POST', 'PUT', 'PATCH', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS'];

const BAD_SEGMENTS = [
  '', '.', '..', '%2e%2e', 'UPPER', 'a_b', '-x', 'x-', 'a'.repeat(254), 'a'.repeat(300), '%00', '%ZZ', '%C3%28', '%E2%82', '%FF',
  '%2F', 'x%20y', '*', '~', "'", '%22', pct('ünïcödé'), '$(id)', '..%2f..%2fetc', '%25', '123', 'default', 'kube-system',
  'watch', 'namespaces', 'status', 'scale', 'log', 'exec', 'proxy', 'binding', 'eviction', 'finalize', 'ephemeralcontainers', 'x.y.z',
  '%', 'a%2', '@', ':', ';', '=', '+', '!', ',',
];
const GOOD_NAMES = ['f-0', 'f-1', 'f-2', 'f-3', 'web-0', 'a', 'node-1', 'pvc-x', 'svc'];
const NAMESPACES = [NS, NS, NS, 'default', 'kube-system', 'missing-ns', 'kube-public'];
const UNKNOWN_GROUPS = ['example.com', 'apps', 'extensions', 'batch', 'policy', 'foo.bar.baz', 'k8s.io', ''];
const VERSIONS = ['v1', 'v1', 'v2', 'v1beta1', 'v0', 'V1', ''];
const CONTENT_TYPES = [
  'application/json', 'application/json', 'application/json; charset=utf-8', 'application/yaml', 'application/x-yaml', 'text/yaml',
  'application/vnd.kubernetes.protobuf', 'application/json-patch+json', 'application/merge-patch+json',
  'application/strategic-merge-patch+json', 'application/apply-patch+yaml', 'application/apply-patch+cbor', 'text/plain',
  'application/xml', 'a/b/c', '', ';;;', 'application/json; charset=latin1', 'multipart/form-data; boundary=x', '*/*',
];
const ACCEPTS = [
  'application/json', 'application/json', '*/*', '',
  'application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json',
  'application/json;as=Table;v=v1;g=meta.k8s.io', 'application/json;as=Table;v=v9;g=meta.k8s.io',
  'application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io,application/json',
  'application/json;as=PartialObjectMetadata;v=v1;g=meta.k8s.io', 'application/vnd.kubernetes.protobuf',
  'application/vnd.kubernetes.protobuf,application/json', 'application/yaml', 'text/html', 'image/png', ';;', 'application/json;as=',
  'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json',
  'application/json;as=Table;g=meta.k8s.io', 'application/json;=;=,=',
];

/** Percent-encode the UTF-8 bytes of s (a lone surrogate becomes U+FFFD, as on the wire). */
function pct(s: string): string {
  let out = '';
  for (const b of Buffer.from(s, 'utf8')) {
    const c = String.fromCharCode(b);
    out += /[A-Za-z0-9._~-]/.test(c) ? c : `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

function randomString(r: Rng): string {
  switch (r.int(10)) {
    case 0:
      return '';
    case 1:
      return 'x'.repeat(r.pick([63, 64, 253, 254, 1000, 70_000]));
    case 2:
      return 'ünïcödé ✓ 日本';
    case 3:
      return '\u0000\u0001\u001f';
    case 4:
      return r.pick(['../../etc/passwd', "' OR 1=1 --", '<script>', '${jndi:ldap://x}', '%s%n', '\\', '"', '{}', 'null', 'true']);
    case 5:
      return '\ud800'; // a lone surrogate
    case 6:
      return r.pick(['2024-01-01T00:00:00Z', 'not-a-date', '1Gi', '100m', '-1', '0x10', '1e400', 'NaN']);
    default:
      return r.pick(['a', 'app', 'fuzz', 'Always', 'TCP', 'ClusterIP', 'IPv4', 'Opaque', 'busybox']);
  }
}

function deepValue(depth: number): Json {
  let v: Json = {};
  for (let i = 0; i < depth; i++) v = i % 2 ? [v] : { a: v };
  return v;
}

function randomValue(r: Rng, depth = 0): Json {
  switch (r.int(depth > 2 ? 8 : 13)) {
    case 0:
      return null;
    case 1:
      return r.chance(0.5);
    case 2:
      return r.pick([0, -1, 1, 1.5, -0.0, 1e308, -1e308, 2 ** 53 + 1, 2 ** 31, -(2 ** 31) - 1, 65536, 1e-300]);
    case 3:
    case 4:
    case 5:
      return randomString(r);
    case 6:
      return [];
    case 7:
      return {};
    case 8:
      return Array.from({ length: r.int(4) }, () => randomValue(r, depth + 1));
    case 9: {
      const o: Record<string, Json> = {};
      for (let i = r.int(4); i > 0; i--) o[randomString(r).slice(0, 40) || 'k'] = randomValue(r, depth + 1);
      return o;
    }
    case 10:
      return deepValue(r.pick([50, 200, 2000]));
    case 11:
      return Array.from({ length: r.pick([100, 5000]) }, (_, i) => i);
    default:
      return { name: randomString(r), value: randomValue(r, depth + 1) };
  }
}

function apiVersionOfDef(def: ResourceDef): string {
  return def.group ? `${def.group}/${def.version}` : def.version;
}

/** A valid object of the def's kind (as far as the fuzzer knows the kind). */
function validObject(def: ResourceDef, name: string, ns: string | undefined): Record<string, Json> {
  const meta: Record<string, Json> = { name, labels: { app: 'fuzz' } };
  if (def.namespaced && ns) meta.namespace = ns;
  const base: Record<string, Json> = { apiVersion: apiVersionOfDef(def), kind: def.kind, metadata: meta };
  const podSpec = { containers: [{ name: 'c', image: 'busybox:1.36', command: ['sh', '-c', 'sleep 1'], ports: [{ containerPort: 80, protocol: 'TCP' }], env: [{ name: 'A', value: '1' }], resources: { limits: { cpu: '100m', memory: '64Mi' } } }], restartPolicy: 'Always' };
  const template = { metadata: { labels: { app: 'fuzz' } }, spec: podSpec };
  switch (def.kind) {
    case 'ConfigMap':
      return { ...base, data: { a: '1', 'b.txt': 'hello\nworld' } };
    case 'Secret':
      return { ...base, type: 'Opaque', data: { password: 'cGFzcw==' }, stringData: { user: 'admin' } };
    case 'Pod':
      return { ...base, spec: podSpec };
    case 'Service':
      return { ...base, spec: { selector: { app: 'fuzz' }, ports: [{ name: 'http', port: 80, targetPort: 8080, protocol: 'TCP' }], type: 'ClusterIP' } };
    case 'Node':
      return { ...base, spec: {}, status: { capacity: { cpu: '2', memory: '4Gi', pods: '110' } } };
    case 'Event':
      return def.group
        ? { ...base, eventTime: '2024-01-01T00:00:00.000000Z', reportingController: 'fuzz.io/x', reportingInstance: 'fuzz-1', action: 'Test', reason: 'Test', regarding: { kind: 'Pod', name: 'p', namespace: NS }, note: 'n', type: 'Normal' }
        : { ...base, involvedObject: { kind: 'Pod', name: 'p', namespace: NS }, reason: 'Test', message: 'm', type: 'Normal', count: 1, firstTimestamp: '2024-01-01T00:00:00Z' };
    case 'StatefulSet':
      return { ...base, spec: { serviceName: 'svc', replicas: 1, selector: { matchLabels: { app: 'fuzz' } }, template, volumeClaimTemplates: [{ metadata: { name: 'data' }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } } }] } };
    case 'DaemonSet':
      return { ...base, spec: { selector: { matchLabels: { app: 'fuzz' } }, template } };
    case 'ControllerRevision':
      return { ...base, data: { spec: { template } }, revision: 1 };
    case 'Lease':
      return { ...base, spec: { holderIdentity: 'me', leaseDurationSeconds: 15 } };
    case 'PersistentVolumeClaim':
      return { ...base, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } } };
    case 'PersistentVolume':
      return { ...base, spec: { capacity: { storage: '1Gi' }, accessModes: ['ReadWriteOnce'], hostPath: { path: '/tmp/x' }, persistentVolumeReclaimPolicy: 'Retain' } };
    case 'StorageClass':
      return { ...base, provisioner: 'kennel.io/local', reclaimPolicy: 'Delete', volumeBindingMode: 'WaitForFirstConsumer' };
    case 'EndpointSlice':
      return { ...base, addressType: 'IPv4', endpoints: [{ addresses: ['10.0.0.1'], conditions: { ready: true } }], ports: [{ name: 'http', port: 80, protocol: 'TCP' }] };
    case 'Endpoints':
      return { ...base, subsets: [{ addresses: [{ ip: '10.0.0.1' }], ports: [{ port: 80, protocol: 'TCP' }] }] };
    case 'Namespace':
      return base;
    default:
      return base;
  }
}

/** Walk to a random container (object or array) inside v; returns [container, key]. */
function randomSlot(r: Rng, v: Json): [Record<string, Json> | Json[], string | number] | null {
  let cur: Json = v;
  let slot: [Record<string, Json> | Json[], string | number] | null = null;
  for (let depth = 0; depth < 8; depth++) {
    if (Array.isArray(cur)) {
      if (cur.length === 0) break;
      const i = r.int(cur.length);
      slot = [cur, i];
      cur = cur[i];
    } else if (cur && typeof cur === 'object') {
      const keys = Object.keys(cur);
      if (keys.length === 0) break;
      const k = r.pick(keys);
      slot = [cur, k];
      cur = cur[k];
    } else break;
    if (r.chance(0.3)) break;
  }
  return slot;
}

const META_MUTATIONS: [string, () => Json][] = [
  ['name', () => 'Bad_Name'],
  ['name', () => 'a'.repeat(300)],
  ['name', () => ''],
  ['name', () => 'x/y'],
  ['name', () => '..'],
  ['name', () => 7],
  ['namespace', () => 'other-ns'],
  ['namespace', () => 'Bad_NS'],
  ['generateName', () => 'gen-'],
  ['generateName', () => 'Bad_'],
  ['resourceVersion', () => 'abc'],
  ['resourceVersion', () => '999999999'],
  ['uid', () => 'not-a-uid'],
  ['creationTimestamp', () => 'yesterday'],
  ['deletionTimestamp', () => '2024-01-01T00:00:00Z'],
  ['generation', () => -5],
  ['labels', () => ({ 'bad key!': 'v', ok: 'x'.repeat(64) })],
  ['labels', () => ({ a: 1 })],
  ['labels', () => 'not-a-map'],
  ['annotations', () => ({ a: 'x'.repeat(300_000) })],
  ['finalizers', () => ['Bad Finalizer', 7]],
  ['finalizers', () => 'x'],
  ['managedFields', () => [{ manager: 7, operation: 'Bogus', fieldsV1: 'x' }]],
  ['managedFields', () => [{}]],
  ['managedFields', () => ({ a: 1 })],
  ['ownerReferences', () => [{ apiVersion: 'v1', kind: 'Pod' }]],
  ['ownerReferences', () => [{ apiVersion: 'v1', kind: 'Pod', name: 'p', uid: 'u', controller: true }, { apiVersion: 'v1', kind: 'Pod', name: 'q', uid: 'v', controller: true }]],
];

function mutateObject(r: Rng, obj: Record<string, Json>): string {
  const notes: string[] = [];
  for (let n = r.int(4); n > 0; n--) {
    const what = r.int(9);
    if (what === 0) {
      const [k, v] = r.pick(META_MUTATIONS);
      const meta = obj.metadata && typeof obj.metadata === 'object' && !Array.isArray(obj.metadata) ? obj.metadata : (obj.metadata = {});
      (meta as Record<string, Json>)[k] = v();
      notes.push(`metadata.${k}`);
    } else if (what === 1) {
      obj[r.pick(['apiVersion', 'kind'])] = r.pick<Json>(['v2', 'apps/v1', 'Widget', '', 7, null, 'v1', 'Pod', 'ConfigMap']);
      notes.push('typemeta');
    } else if (what === 2) {
      obj[r.pick(['metadata', 'spec', 'status', 'data'])] = randomValue(r);
      notes.push('top-level field');
    } else {
      const slot = randomSlot(r, obj);
      if (!slot) continue;
      const [c, k] = slot;
      const op = r.int(4);
      if (op === 0) {
        if (Array.isArray(c)) c.splice(k as number, 1);
        else delete c[k as string];
        notes.push(`delete ${String(k)}`);
      } else if (op === 1 && Array.isArray(c)) {
        c.push(c[k as number] ?? null);
        notes.push('duplicate element');
      } else if (op === 2 && !Array.isArray(c)) {
        c[`${String(k)}Extra`] = randomValue(r);
        notes.push('unknown field');
      } else {
        (c as Record<string | number, Json>)[k] = randomValue(r);
        notes.push(`replace ${String(k)}`);
      }
    }
  }
  return notes.join(',');
}

/** JSON text with one key of one object duplicated (a strict-validation case). */
function jsonWithDuplicate(r: Rng, v: Json): string {
  let done = false;
  const ser = (x: Json): string => {
    if (Array.isArray(x)) return `[${x.map(ser).join(',')}]`;
    if (x && typeof x === 'object') {
      const entries = Object.entries(x).map(([k, val]) => `${JSON.stringify(k)}:${ser(val)}`);
      if (!done && entries.length > 0 && r.chance(0.4)) {
        done = true;
        entries.push(entries[r.int(entries.length)]);
      }
      return `{${entries.join(',')}}`;
    }
    return JSON.stringify(x);
  };
  const out = ser(v);
  return done ? out : out.replace(/^\{/, '{"metadata":{},');
}

function yamlBomb(levels: number): string {
  let s = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n';
  for (let i = 1; i < levels; i++) {
    const prev = String.fromCharCode(96 + i);
    const cur = String.fromCharCode(97 + i);
    s += `${cur}: &${cur} [${Array(9).fill(`*${prev}`).join(',')}]\n`;
  }
  return s;
}

function encodeBody(r: Rng, value: Json, contentType: string): { body: Buffer; note: string } {
  const kind = r.int(100);
  const yamlish = /yaml/.test(contentType);
  if (kind < 50) {
    let text = JSON.stringify(value); // JSON is YAML too: the fallback for values too deep for the YAML library
    if (yamlish) {
      try {
        text = YAML.stringify(value, { aliasDuplicateObjects: false });
      } catch {
        // keep the JSON text
      }
    }
    return { body: Buffer.from(text), note: yamlish ? 'yaml' : 'json' };
  }
  if (kind < 56) return { body: Buffer.from(jsonWithDuplicate(r, value)), note: 'duplicate key' };
  if (kind < 62) {
    const text = JSON.stringify(value);
    return { body: Buffer.from(text.slice(0, r.int(text.length))), note: 'truncated' };
  }
  if (kind < 67) {
    const text = Buffer.from(JSON.stringify(value));
    const at = r.int(text.length + 1);
    return { body: Buffer.concat([text.subarray(0, at), Buffer.from(r.pick([[0xff], [0xc3, 0x28], [0xe2, 0x82], [0xed, 0xa0, 0x80], [0xf8, 0x88, 0x80, 0x80, 0x80]])), text.subarray(at)]), note: 'invalid utf-8' };
  }
  if (kind < 71) return { body: r.bytes(r.int(2000)), note: 'random bytes' };
  if (kind < 74) return { body: Buffer.concat([Buffer.from([0x6b, 0x38, 0x73, 0x00]), r.bytes(r.int(300))]), note: 'protobuf magic + garbage' };
  if (kind < 77) {
    const depth = r.pick([1000, 10_000, 100_000]);
    const text = r.chance(0.5) ? '['.repeat(depth) + ']'.repeat(depth) : '{"a":'.repeat(depth) + '1' + '}'.repeat(depth);
    return { body: Buffer.from(text), note: `nesting ${depth}` };
  }
  if (kind < 79) return { body: Buffer.from(yamlBomb(r.pick([3, 6, 9]))), note: 'yaml bomb' };
  if (kind < 81) return { body: Buffer.from(r.pick(['', 'null', '[]', '"str"', '123', 'true', '{}', ' ', '\n\n'])), note: 'degenerate body' };
  if (kind < 83) return { body: Buffer.from(r.pick(['a: 1\n---\nb: 2\n', '!!binary aGVsbG8=', 'a: !!python/object:os.system x\n', 'x: !foo bar\n', '<<: {a: 1}\nb: *nope\n', 'a: b: c\n', '\t- x\n'])), note: 'odd yaml' };
  if (kind < 84) {
    // Over the 3 MiB body limit.
    const big = JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'big' }, data: { a: 'x'.repeat(3 * 1024 * 1024 + 100) } });
    return { body: Buffer.from(big), note: 'over 3 MiB' };
  }
  if (kind < 85 && !yamlish) {
    // Just under the body limit (JSON only: YAML that size takes seconds to parse): the stored
    // object, with its managed fields, goes over the store's limit.
    const big = JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'nearly-big' }, data: { a: 'x'.repeat(3 * 1024 * 1024 - 300) } });
    return { body: Buffer.from(big), note: 'just under 3 MiB' };
  }
  const text = JSON.stringify(value);
  return { body: Buffer.from(r.chance(0.5) ? text.replace(/"/g, "'") : text + r.pick(['}', ',', ']', 'garbage', '\u0000'])), note: 'broken json' };
}

function jsonPatch(r: Rng): Json {
  const ops: Json[] = [];
  for (let n = 1 + r.int(3); n > 0; n--) {
    const op: Record<string, Json> = {
      op: r.pick(['add', 'remove', 'replace', 'move', 'copy', 'test', 'bogus', '']),
      path: r.pick(['/metadata/labels/x', '/metadata/labels', '/data/a', '/spec/containers/0/image', '/spec/containers/-', '/spec/containers/99', '/metadata/name', '/metadata/resourceVersion', '', '/', '/a~2b', '/metadata/annotations/a~1b', 'no-slash', '/status', '/spec/replicas']),
    };
    if (r.chance(0.7)) op.value = randomValue(r);
    if (r.chance(0.3)) op.from = r.pick(['/metadata/labels', '/data', '/nope', '']);
    ops.push(op);
  }
  return r.chance(0.1) ? ops[0] : ops;
}

function mergePatch(r: Rng, def: ResourceDef | undefined): Json {
  const p = r.pick<Json>([
    { metadata: { labels: { x: 'y' } } },
    { metadata: { labels: null } },
    { data: { a: '2', b: null } },
    { spec: { containers: [{ name: 'c', image: 'busybox:2' }] } },
    { spec: { containers: [{ name: 'c', $patch: 'delete' }] } },
    { spec: { $setElementOrder: {}, '$setElementOrder/containers': [{ name: 'c' }, { name: 'zz' }] } },
    { spec: { $retainKeys: ['replicas'], replicas: 2 } },
    { metadata: { '$deleteFromPrimitiveList/finalizers': ['x'], finalizers: ['a/b'] } },
    { $patch: 'replace' },
    { $patch: 'bogus' },
    { spec: { replicas: 'three' } },
    { spec: { ports: [{ port: 81, $patch: 'merge' }] } },
    { status: { phase: 'Running' } },
  ]);
  if (def && r.chance(0.3)) return validObject(def, 'f-0', NS);
  if (r.chance(0.4)) mutateObject(r, p as Record<string, Json>);
  return p;
}

function randomQuery(r: Rng, watchy: boolean, tokens: string[], rvs: string[]): string {
  const q: string[] = [];
  const add = (k: string, v: string) => q.push(`${k}=${r.chance(0.9) ? pct(v) : pct(v).replace(/%[0-9A-F]{2}/g, '%ZZ')}`);
  if (watchy) {
    q.push(r.pick(['watch=true', 'watch=1', 'watch=true', 'watch=false', 'watch=yes']));
    q.push(`timeoutSeconds=${r.pick(['1', '1', '0', '-5', 'abc', '1.5'])}`);
  }
  for (let n = r.int(watchy ? 3 : 4); n > 0; n--) {
    switch (r.int(19)) {
      case 0:
        // A future resourceVersion makes a watch wait (3 s) before its 504: lists only.
        add('resourceVersion', r.pick(['0', '', '1', ...rvs.slice(-3), ...(watchy ? [] : ['99999999999']), '-1', 'abc', '1.5', '00001']));
        break;
      case 1:
        add('resourceVersionMatch', r.pick(['Exact', 'NotOlderThan', 'junk', '']));
        break;
      case 2:
        add('limit', r.pick(['500', '1', '0', '-1', 'abc', '1e20', '9007199254740993', '']));
        break;
      case 3:
        add('continue', tokens.length && r.chance(0.5) ? r.pick(tokens) : r.pick(['', 'abc', Buffer.from('{"s":1,"rv":2}').toString('base64url'), Buffer.from('{"s":"x","rv":-1}').toString('base64url'), Buffer.from('{"s":"/registry/../","rv":1}').toString('base64url'), '%%%', 'eyJ']));
        break;
      case 4:
        add('labelSelector', r.pick(['app=fuzz', 'app in (a,b)', '!app', 'a!=b', 'app', 'a=b,c=d', '===', '(', 'app notin ()', 'x in (a', 'a'.repeat(400) + '=b', 'app>1', 'app gt 5', 'a==b', ',', 'ünï=x']));
        break;
      case 5:
        add('fieldSelector', r.pick(['metadata.name=f-0', 'metadata.namespace=fuzz', 'spec.nodeName=n1', 'status.phase=Running', 'bogus.field=1', '=', 'metadata.name', 'metadata.name!=x', 'metadata.name==x', 'metadata.name in (a)', 'spec.nodeName=', 'type=Normal', 'involvedObject.name=p']));
        break;
      case 6:
        add('allowWatchBookmarks', r.pick(['true', 'false', 'x']));
        break;
      case 7:
        add('sendInitialEvents', r.pick(['true', 'false', 'x']));
        break;
      case 8:
        add('dryRun', r.pick(['All', 'All', 'None', 'junk', '']));
        break;
      case 9:
        add('fieldManager', r.pick(['fuzzer', 'kubectl', '', 'x'.repeat(200), 'ünï']));
        break;
      case 10:
        add('fieldValidation', r.pick(['Strict', 'Warn', 'Ignore', 'junk', '', 'strict']));
        break;
      case 11:
        add('force', r.pick(['true', 'false', 'x']));
        break;
      case 12:
        add('gracePeriodSeconds', r.pick(['0', '30', '-1', 'abc', '1e10']));
        break;
      case 13:
        add('propagationPolicy', r.pick(['Foreground', 'Background', 'Orphan', 'Junk', '']));
        break;
      case 14:
        add('includeObject', r.pick(['None', 'Metadata', 'Object', 'junk']));
        break;
      case 15:
        add('pretty', 'true');
        break;
      case 16:
        add(r.pick(['orphanDependents', 'timeout', 'container', 'follow', 'tailLines']), r.pick(['true', '1', 'abc', '-1']));
        break;
      case 17:
        add(pct(randomString(r).slice(0, 30)) || 'k', randomString(r).slice(0, 30));
        break;
      default:
        q.push(r.pick(['&&', '=', 'a', '%ZZ=1', 'limit=1&limit=2', 'watch', 'resourceVersion']));
    }
  }
  return q.length ? `?${q.join('&')}` : '';
}

interface Ctx {
  defs: ResourceDef[];
  token: string;
  /** continue tokens and resourceVersions seen in answers (fed back into requests). */
  tokens: string[];
  rvs: string[];
}

function generate(r: Rng, index: number, ctx: Ctx): FuzzRequest {
  const notes: string[] = [];
  let method = r.pick(METHODS);
  const def = r.pick(ctx.defs);
  const ns = r.pick(NAMESPACES);
  let name = r.chance(0.8) ? r.pick(GOOD_NAMES) : r.pick(BAD_SEGMENTS);
  const prefix = def.group ? `/apis/${def.group}/${def.version}` : `/api/${def.version}`;
  let segs: string[];
  const shape = r.int(100);
  const watchy = method === 'GET' && r.chance(0.12);
  if (shape < 70) {
    segs = prefix.split('/').slice(1);
    if (r.chance(0.05)) segs.push('watch');
    if (def.namespaced && r.chance(0.85)) segs.push('namespaces', ns);
    segs.push(def.plural);
    const withName = method === 'PUT' || method === 'PATCH' ? r.chance(0.95) : method === 'POST' ? r.chance(0.1) : r.chance(0.5);
    if (withName) {
      segs.push(name);
      const subs = [...(def.subresources?.status ? ['status'] : []), ...(def.subresources?.scale ? ['scale'] : []), ...(def.subresources?.others ?? [])];
      if (r.chance(0.15)) segs.push(subs.length && r.chance(0.7) ? r.pick(subs) : r.pick(BAD_SEGMENTS));
    }
    notes.push(`${def.plural}`);
  } else if (shape < 85) {
    // A valid path with one segment mutated, dropped or added.
    segs = [...prefix.split('/').slice(1), ...(def.namespaced ? ['namespaces', ns] : []), def.plural, name];
    const i = r.int(segs.length);
    const op = r.int(3);
    if (op === 0) segs[i] = r.pick(BAD_SEGMENTS);
    else if (op === 1) segs.splice(i, 1);
    else segs.splice(i, 0, r.pick(BAD_SEGMENTS));
    notes.push('mutated path');
  } else if (shape < 93) {
    const g = r.pick(UNKNOWN_GROUPS);
    segs = g ? ['apis', g, r.pick(VERSIONS), r.pick(['widgets', 'deployments', 'jobs', def.plural, 'namespaces'])] : ['api', r.pick(VERSIONS), r.pick(['widgets', 'pods', 'deployments'])];
    if (r.chance(0.5)) segs.push(name);
    notes.push('unknown group/resource');
  } else {
    segs = r.pick([
      [''], ['api'], ['apis'], ['version'], ['healthz'], ['livez'], ['readyz'], ['openapi', 'v3'], ['openapi', 'v2'], ['openapi', 'v3', 'api', 'v1'],
      ['openapi', 'v3', 'apis', 'apps', 'v1'], ['openapi', 'v3', 'apis', 'nope', 'v1'], ['metrics'], ['logs'], ['apis', 'apps'], ['apis', 'apps', 'v1'],
      ['apis', 'nope'], ['api', 'v1'], ['api', 'v2'], ['.well-known', 'openid-configuration'], ['apis', 'authorization.k8s.io', 'v1', 'selfsubjectaccessreviews'],
      ['apis', 'authentication.k8s.io', 'v1', 'selfsubjectreviews'], ['apis', 'authorization.k8s.io', 'v1', 'selfsubjectrulesreviews'],
      [r.pick(BAD_SEGMENTS)],
    ]);
    notes.push('non-resource');
  }
  let path = '/' + segs.join('/');
  if (r.chance(0.03)) path += '/';
  if (r.chance(0.02)) path = path.replace('/', '//');
  path += randomQuery(r, watchy, ctx.tokens, ctx.rvs);
  if (watchy) notes.push('watch');

  const headers: Record<string, string> = {};
  const auth = r.int(100);
  if (auth < 94) headers.authorization = `Bearer ${ctx.token}`;
  else if (auth < 96) headers.authorization = 'Bearer wrong-token';
  else if (auth < 98) headers.authorization = r.pick(['Basic YWRtaW46YWRtaW4=', 'Bearer', 'bearer ' + ctx.token, 'Bearer  ' + ctx.token + ' x', 'Token x']);
  const accept = r.pick(ACCEPTS);
  if (accept) headers.accept = accept;
  if (r.chance(0.3)) headers['user-agent'] = r.pick(['kubectl/v1.32.0 (linux/amd64) kubernetes/abc', 'fuzz/1', '', '/', 'a'.repeat(500)]);

  let body: Buffer | undefined;
  if (method === 'POST' || method === 'PUT' || method === 'PATCH' || (method === 'DELETE' && r.chance(0.4)) || r.chance(0.03)) {
    let contentType: string;
    let value: Json;
    if (method === 'PATCH') {
      contentType = r.pick(['application/json-patch+json', 'application/merge-patch+json', 'application/strategic-merge-patch+json', 'application/apply-patch+yaml', r.pick(CONTENT_TYPES)]);
      if (contentType === 'application/json-patch+json') value = jsonPatch(r);
      else if (contentType === 'application/apply-patch+yaml') {
        value = validObject(r.chance(0.8) ? def : r.pick(ctx.defs), name, ns);
        if (r.chance(0.5)) notes.push(mutateObject(r, value));
        if (r.chance(0.7) && !path.includes('fieldManager=')) path += (path.includes('?') ? '&' : '?') + 'fieldManager=fuzzer';
      } else value = mergePatch(r, def);
      notes.push(`patch ${contentType}`);
    } else if (method === 'DELETE') {
      contentType = r.pick(['application/json', 'application/json', 'application/yaml', r.pick(CONTENT_TYPES)]);
      value = r.pick<Json>([
        { kind: 'DeleteOptions', apiVersion: 'v1', propagationPolicy: 'Foreground' },
        { kind: 'DeleteOptions', apiVersion: 'v1', propagationPolicy: 'Junk' },
        { preconditions: { uid: 123 } },
        { preconditions: { resourceVersion: '1' } },
        { gracePeriodSeconds: 'x' },
        { gracePeriodSeconds: -3 },
        { dryRun: ['All'] },
        { dryRun: 'All' },
        { orphanDependents: true, propagationPolicy: 'Background' },
        { kind: 'Pod' },
        randomValue(r),
      ]);
    } else {
      contentType = r.chance(0.8) ? r.pick(['application/json', 'application/json', 'application/json', 'application/yaml']) : r.pick(CONTENT_TYPES);
      const kindDef = r.chance(0.85) ? def : r.pick(ctx.defs);
      const obj = validObject(kindDef, method === 'PUT' || r.chance(0.5) ? name : `f-${r.int(4)}`, r.chance(0.9) ? undefined : ns);
      if (r.chance(0.6)) notes.push(mutateObject(r, obj));
      value = obj;
    }
    const enc = encodeBody(r, value, contentType);
    body = enc.body;
    notes.push(enc.note);
    if (contentType || r.chance(0.5)) headers['content-type'] = contentType;
  }
  if (r.chance(0.01)) method = r.pick(['TRACE', 'PROPFIND', 'MKCOL', 'LOCK']);
  return { index, method, path, headers, body, note: notes.filter(Boolean).join('; ') };
}

// ---------------------------------------------------------------------------------------------
// Checking answers
// ---------------------------------------------------------------------------------------------
const EVENT_TYPES = new Set(['ADDED', 'MODIFIED', 'DELETED', 'BOOKMARK', 'ERROR']);

function statusProblem(status: number, text: string): string | null {
  let s: Record<string, unknown>;
  try {
    s = JSON.parse(text) as Record<string, unknown>;
  } catch {
    return 'the error body is not JSON';
  }
  if (!s || typeof s !== 'object' || Array.isArray(s)) return 'the error body is not a JSON object';
  if (s.kind !== 'Status') return `kind is ${JSON.stringify(s.kind)}, not Status`;
  if (s.apiVersion !== 'v1') return `apiVersion is ${JSON.stringify(s.apiVersion)}`;
  if (s.status !== 'Failure') return `status is ${JSON.stringify(s.status)}`;
  if (s.code !== status) return `code ${JSON.stringify(s.code)} differs from the HTTP status ${status}`;
  if (typeof s.reason !== 'string' || s.reason === '') return 'no reason';
  if (typeof s.message !== 'string' || s.message === '') return 'no message';
  return null;
}

/** Designed 5xx answers Kubernetes gives too (not bugs): nothing else passes. */
function designed5xx(status: number, text: string): boolean {
  try {
    const s = JSON.parse(text) as { reason?: string; message?: string };
    if (status === 503 && s.reason === 'ServiceUnavailable' && /not served yet|no node agent/.test(s.message ?? '')) return true;
    if (status === 504 && s.reason === 'Timeout' && /resource version/i.test(s.message ?? '')) return true;
  } catch {
    return false;
  }
  return false;
}

function checkStreamLines(text: string): string | null {
  const lines = text.split('\n');
  lines.pop(); // the last, possibly partial, line
  for (const line of lines) {
    if (line === '') continue;
    let ev: { type?: unknown; object?: unknown };
    try {
      ev = JSON.parse(line) as { type?: unknown; object?: unknown };
    } catch {
      return `a watch line is not JSON: ${line.slice(0, 200)}`;
    }
    if (typeof ev.type !== 'string' || !EVENT_TYPES.has(ev.type)) return `a watch event has type ${JSON.stringify(ev.type)}`;
    if (!ev.object || typeof ev.object !== 'object' || Array.isArray(ev.object)) return 'a watch event has no object';
    if (ev.type === 'ERROR') {
      const st = ev.object as { kind?: unknown; code?: unknown };
      if (st.kind !== 'Status' || typeof st.code !== 'number') return 'an ERROR event does not carry a Status';
    }
  }
  return null;
}

function describeRequest(req: FuzzRequest, token: string): string {
  const utf8 = req.body !== undefined && Buffer.from(req.body.toString('utf8')).equals(req.body);
  const body =
    req.body === undefined
      ? ''
      : utf8
        ? `\n  body (utf-8, ${req.body.length} bytes): ${req.body.toString('utf8').slice(0, 600)}`
        : `\n  body (base64, ${req.body.length} bytes): ${req.body.toString('base64').slice(0, 800)}`;
  const headers = Object.entries(req.headers)
    .map(([k, v]) => `${k}: ${v.split(token).join('<admin token>').slice(0, 200)}`)
    .join(' | ');
  return `#${req.index} ${req.method} ${req.path.slice(0, 600)}\n  headers: ${headers}${body}\n  (${req.note})`;
}

/**
 * Requests that once broke the server (found by this fuzzer), sent before the random ones so
 * they stay fixed. `expect` pins the status where Kubernetes' answer is known.
 */
function corpus(token: string): (Omit<FuzzRequest, 'index'> & { expect?: number })[] {
  const auth = { authorization: `Bearer ${token}` };
  const json = { ...auth, 'content-type': 'application/json' };
  const cm = (name: string) => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name }, data: { a: '1' } });
  return [
    // A malformed percent-escape in the path (decodeURIComponent threw: 500).
    { method: 'GET', path: '/api/v1/namespaces/default/configmaps/%', headers: auth, note: 'corpus: bad escape', expect: 400 },
    { method: 'GET', path: '/apis/discovery.k8s.io/v1/endpointslices/web-0/%C3%28', headers: auth, note: 'corpus: bad utf-8 escape' },
    { method: 'PUT', path: `/api/v1/namespaces/${NS}/persistentvolumeclaims/%ZZ`, headers: json, body: Buffer.from('{}'), note: 'corpus: bad escape' },
    // A request target starting with // (new URL() read it as a host: 500).
    { method: 'GET', path: '//', headers: auth, note: 'corpus: //' },
    { method: 'POST', path: `//%ZZ/apps/v1/namespaces/${NS}/statefulsets/f-3`, headers: json, body: Buffer.from('{}'), note: 'corpus: //host' },
    { method: 'PATCH', path: '//@?resourceVersion=16', headers: { ...auth, 'content-type': 'application/json-patch+json' }, body: Buffer.from('[]'), note: 'corpus: //@' },
    // Unknown fields whose names are not Latin-1 go into a Warning header (setHeader threw: 500).
    { method: 'POST', path: `/api/v1/namespaces/${NS}/configmaps`, headers: json, body: Buffer.from(JSON.stringify({ ...cm('warn-utf8'), 名前: 'x' })), note: 'corpus: non-latin-1 warning' },
    {
      method: 'PUT',
      path: '/api/v1/nodes/f-0',
      headers: json,
      body: Buffer.concat([Buffer.from('{"apiVersion":"v1","kind":"Node","m'), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from('etadata":{"name":"f-0"},"spec":{}}')]),
      note: 'corpus: invalid utf-8 field name',
    },
    // 100,000 levels of nesting (structuredClone overflowed the stack: 500).
    { method: 'PUT', path: `/api/v1/namespaces/${NS}/events/deep`, headers: json, body: Buffer.from('{"a":'.repeat(100_000) + '1' + '}'.repeat(100_000)), note: 'corpus: deep nesting' },
    // YAML that decodes to a non-plain object (a Uint8Array lost its metadata when cloned: 500).
    { method: 'PUT', path: `/api/v1/namespaces/${NS}/events/e1`, headers: { ...auth, 'content-type': 'application/yaml' }, body: Buffer.from('!!binary aGVsbG8='), note: 'corpus: !!binary' },
    { method: 'POST', path: `/api/v1/namespaces/${NS}/configmaps`, headers: { ...auth, 'content-type': 'application/yaml' }, body: Buffer.from('!!set {a, b}'), note: 'corpus: !!set' },
    // PUT and PATCH on a collection are 405 in Kubernetes (kennel treated them as the object "undefined").
    { method: 'PUT', path: `/api/v1/namespaces/${NS}/configmaps`, headers: json, body: Buffer.from(JSON.stringify(cm('x'))), note: 'corpus: PUT collection', expect: 405 },
    { method: 'PATCH', path: `/api/v1/namespaces/${NS}/configmaps`, headers: { ...auth, 'content-type': 'application/merge-patch+json' }, body: Buffer.from('{}'), note: 'corpus: PATCH collection', expect: 405 },
  ];
}

// ---------------------------------------------------------------------------------------------
// The test
// ---------------------------------------------------------------------------------------------
interface LogEntry {
  level: string;
  msg: string;
  fields?: Record<string, unknown>;
}

function recordingLogger(out: LogEntry[], component = 'fuzz'): Logger {
  const emit = (level: string) => (msg: string, fields?: Record<string, unknown>) => {
    if (level === 'error' || level === 'warn') out.push({ level, msg: `${component}: ${msg}`, fields });
  };
  return { debug: () => {}, info: () => {}, warn: emit('warn'), error: emit('error'), child: (c) => recordingLogger(out, `${component}/${c}`) };
}

describe('API fuzz', () => {
  let dir: string;
  let store: Store;
  let server: ApiServer;
  let token: string;
  let ca: string;
  const logs: LogEntry[] = [];
  let conn: HttpsConnection | null = null;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kennel-fuzz-'));
    const pki = await ensureClusterPki(dir, {});
    token = pki.adminToken;
    ca = pki.tls.ca;
    store = await openStore({ backend: 'sqlite', path: join(dir, 'state.db') });
    const authenticator = createTokenAuthenticator(new Map([[pki.adminToken, { username: 'system:admin', groups: ['system:masters', 'system:authenticated'] }]]));
    server = await startApiServer({ store, bind: '127.0.0.1', port: 0, tls: pki.tls, authenticator, logger: recordingLogger(logs) });
  });

  after(async () => {
    conn?.close();
    await server?.close();
    await store?.close();
    await rm(dir, { recursive: true, force: true });
  });

  async function connection(): Promise<HttpsConnection> {
    if (!conn || conn.closed) conn = await HttpsConnection.connect({ url: server.url, ca });
    return conn;
  }

  /**
   * Send one request; a 200 chunked answer (a watch) is read for WATCH_READ_MS, then cut. A
   * connection that fails before any answer is retried once on a fresh one (the server may
   * have closed the previous one after its answer); a second failure is the request's.
   */
  async function send(req: FuzzRequest): Promise<{ res: RawResponse; streamText?: string } | { error: string }> {
    const first = await sendOnce(req);
    if ('error' in first && first.error.startsWith('connection failed')) return sendOnce(req);
    return first;
  }

  async function sendOnce(req: FuzzRequest): Promise<{ res: RawResponse; streamText?: string } | { error: string }> {
    const c = await connection();
    let streamText = '';
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<{ error: string }>((resolve) => {
      timer = setTimeout(() => resolve({ error: `no answer within ${REQUEST_TIMEOUT_MS} ms` }), REQUEST_TIMEOUT_MS);
    });
    try {
      const exchange = c
        .openStream(req.path, req.headers, (b) => (streamText += b.toString('utf8')), () => {}, req.method, req.body)
        .then(async (res) => {
          const chunked = /chunked/i.test(res.headers['transfer-encoding'] ?? '');
          // The server closes after this answer, or keeps answering a HEAD watch (which has no
          // body to read): either way this connection is done.
          if (/close/i.test(res.headers.connection ?? '') || (chunked && req.method === 'HEAD')) c.close();
          if (!(res.status === 200 && chunked && req.method !== 'HEAD')) return { res };
          await new Promise((r) => setTimeout(r, WATCH_READ_MS));
          c.close();
          return { res, streamText };
        })
        .catch((e: unknown) => ({ error: `connection failed before an answer: ${String(e)}` }));
      const out = await Promise.race([exchange, timeout]);
      if ('error' in out) c.close();
      return out;
    } finally {
      clearTimeout(timer);
    }
  }

  it(`answers ${COUNT} mutated requests with a success or a well-formed Status, never a 500 (seed ${SEED})`, async (t) => {
    const r = new Rng(SEED);
    const ns = await send({ index: -1, method: 'POST', path: '/api/v1/namespaces', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: Buffer.from(JSON.stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } })), note: 'setup' });
    assert.ok('res' in ns && ns.res.status === 201, 'the fuzz namespace is created');
    const ctx: Ctx = { defs: server.registry.defs, token, tokens: [], rvs: [] };
    const failures: Failure[] = [];
    const byStatus = new Map<number, number>();
    const designed: string[] = [];
    const t0 = performance.now();
    const known = corpus(token);
    for (let i = -known.length; i < COUNT; i++) {
      const fixed = i < 0 ? known[known.length + i] : undefined;
      const req: FuzzRequest = fixed ? { ...fixed, index: i } : generate(r, i, ctx);
      const ts = performance.now();
      const out = await send(req);
      if (VERBOSE) process.stderr.write(`#${i} ${req.method} ${req.path.slice(0, 160)} [${req.note}] → ${'error' in out ? out.error : out.res.status} ${Math.round(performance.now() - ts)} ms\n`);
      if ('error' in out) {
        failures.push({ request: req, problem: out.error });
        continue;
      }
      const { res } = out;
      byStatus.set(res.status, (byStatus.get(res.status) ?? 0) + 1);
      const text = res.body.toString('utf8');
      const fail = (problem: string) => failures.push({ request: req, problem, status: res.status, answer: (out.streamText ?? text).slice(0, 600) });
      if (fixed?.expect !== undefined && res.status !== fixed.expect) fail(`want HTTP ${fixed.expect}`);
      if (res.status >= 500) {
        let answer = text;
        if (req.method === 'HEAD') {
          // A HEAD answer has no body: ask the same as GET to see which 5xx it was.
          const again = await send({ ...req, method: 'GET' });
          answer = 'res' in again && again.res.status === res.status ? again.res.body.toString('utf8') : '';
        }
        if (designed5xx(res.status, answer)) designed.push(`${res.status} ${req.method} ${req.path.slice(0, 120)}`);
        else failures.push({ request: req, problem: `a ${res.status} answer`, status: res.status, answer: answer.slice(0, 600) });
        continue;
      }
      if (res.status >= 200 && res.status < 300) {
        if (out.streamText !== undefined) {
          const p = checkStreamLines(out.streamText);
          if (p) fail(p);
          continue;
        }
        if (req.method === 'HEAD') continue;
        if (/^text\/plain/.test(res.headers['content-type'] ?? '') && /^\/(healthz|livez|readyz)\b/.test(req.path)) continue;
        let body: unknown;
        try {
          body = JSON.parse(text);
        } catch {
          fail('a success whose body is not JSON');
          continue;
        }
        if (!body || typeof body !== 'object' || Array.isArray(body)) {
          fail('a success whose body is not a JSON object');
          continue;
        }
        const meta = (body as { metadata?: { continue?: unknown; resourceVersion?: unknown } }).metadata;
        if (typeof meta?.continue === 'string' && meta.continue && ctx.tokens.length < 50) ctx.tokens.push(meta.continue);
        if (typeof meta?.resourceVersion === 'string' && meta.resourceVersion) {
          ctx.rvs.push(meta.resourceVersion);
          if (ctx.rvs.length > 20) ctx.rvs.shift();
        }
        continue;
      }
      if (res.status >= 400) {
        if (req.method === 'HEAD') continue; // no body to check
        const p = statusProblem(res.status, text);
        if (p) fail(p);
        continue;
      }
      fail(`an unexpected ${res.status} answer`);
    }
    const elapsed = performance.now() - t0;
    const unexpectedLogs = logs.filter((l) => l.fields && 'stack' in l.fields && l.fields.stack !== undefined);
    t.diagnostic(`seed ${SEED}: ${COUNT} requests in ${Math.round(elapsed)} ms; answers ${JSON.stringify(Object.fromEntries([...byStatus].sort((a, b) => a[0] - b[0])))}`);
    if (designed.length) t.diagnostic(`designed 5xx (Kubernetes answers these too): ${designed.length}, e.g. ${designed[0]}`);
    if (failures.length || unexpectedLogs.length) {
      const seen = new Set<string>();
      const report = failures
        .filter((f) => {
          const k = `${f.problem}|${f.status}|${f.answer?.slice(0, 120)}`;
          if (seen.has(k)) return false;
          seen.add(k);
          return true;
        })
        .slice(0, 15)
        .map((f) => `- ${f.problem}${f.status ? ` (HTTP ${f.status})` : ''}\n  ${describeRequest(f.request, token)}\n  answer: ${f.answer ?? ''}`)
        .join('\n');
      const logReport = unexpectedLogs
        .slice(0, 5)
        .map((l) => `- ${l.msg} ${JSON.stringify(l.fields).slice(0, 500)}`)
        .join('\n');
      assert.fail(
        `fuzz seed ${SEED} (replay: KENNEL_FUZZ_SEED=${SEED} KENNEL_FUZZ_COUNT=${COUNT}): ${failures.length} bad answers (${seen.size} distinct), ` +
          `${unexpectedLogs.length} server logs with a stack\n${report}${logReport ? `\nserver logs:\n${logReport}` : ''}`,
      );
    }
  });

  it('still serves afterwards: /readyz, a create and a get', async () => {
    const auth = { authorization: `Bearer ${token}` };
    const ready = await send({ index: -2, method: 'GET', path: '/readyz', headers: auth, note: 'after' });
    assert.ok('res' in ready, `readyz answers: ${'error' in ready ? ready.error : ''}`);
    assert.equal(ready.res.status, 200);
    assert.equal(ready.res.body.toString('utf8'), 'ok');
    const nsName = 'after-fuzz';
    const ns = await send({ index: -3, method: 'POST', path: '/api/v1/namespaces', headers: { ...auth, 'content-type': 'application/json' }, body: Buffer.from(JSON.stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: nsName } })), note: 'after' });
    assert.ok('res' in ns);
    assert.equal(ns.res.status, 201, ns.res.body.toString('utf8'));
    const cm = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'still-alive' }, data: { ok: 'yes' } };
    const created = await send({ index: -4, method: 'POST', path: `/api/v1/namespaces/${nsName}/configmaps`, headers: { ...auth, 'content-type': 'application/json' }, body: Buffer.from(JSON.stringify(cm)), note: 'after' });
    assert.ok('res' in created);
    assert.equal(created.res.status, 201, created.res.body.toString('utf8'));
    const got = await send({ index: -5, method: 'GET', path: `/api/v1/namespaces/${nsName}/configmaps/still-alive`, headers: auth, note: 'after' });
    assert.ok('res' in got);
    assert.equal(got.res.status, 200);
    const obj = JSON.parse(got.res.body.toString('utf8')) as { data?: Record<string, string>; metadata?: { name?: string } };
    assert.equal(obj.metadata?.name, 'still-alive');
    assert.deepEqual(obj.data, { ok: 'yes' });
  });
});
