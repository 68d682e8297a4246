// ControllerRevisions of a StatefulSet: the history of its pod template.
//
// As in Kubernetes (pkg/controller/statefulset/stateful_set_utils.go and
// pkg/controller/history/controller_history.go):
// - a revision's `data` is a strategic-merge patch that puts the template back:
//   {"spec":{"template":{...,"$patch":"replace"}}}, serialized with sorted keys;
// - its name is `<set>-<hash>`, hash = FNV-32 of that JSON followed by the decimal
//   collisionCount, printed in decimal and re-encoded with the "safe" alphabet
//   (rand.SafeEncodeString), so names look like `web-7b5d6c8f9`;
// - its revision number is one more than the highest existing one; when the template goes back
//   to an earlier revision's (kubectl rollout undo), that revision is reused and renumbered
//   instead of creating a duplicate;
// - a name already taken by different data is a collision: collisionCount goes up by one and the
//   hash is taken again;
// - history beyond revisionHistoryLimit is deleted oldest first, never a revision that the
//   current or update revision or any pod still uses.
import type { KubeObject } from '../../registry/types.ts';
import { asRecord, isRecord } from '../../registry/validation.ts';
import {
  REVISION_HASH_LABEL,
  REVISION_LABEL,
  clone,
  controllerRefOf,
  revisionHistoryLimitOf,
  setControllerRef,
  setName,
  setNamespace,
  templateOf,
} from './set.ts';

type Obj = Record<string, unknown>;

// ---------------------------------------------------------------------------------------------
// Serialization and hashing

function goString(s: string): string {
  // JSON.stringify escapes what JSON requires; Go's encoder also escapes <, >, & and the two
  // JavaScript line terminators, which changes the bytes that get hashed.
  return JSON.stringify(s).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/**
 * JSON as Go's encoding/json writes a map[string]interface{}: object keys sorted, no spaces,
 * HTML-safe escaping. Used for revision data so that equal templates give equal bytes.
 */
export function canonicalJSON(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  if (typeof value === 'string') return goString(value);
  if (typeof value === 'number') return Number.isFinite(value) ? JSON.stringify(value) : 'null';
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (Array.isArray(value)) return `[${value.map((v) => canonicalJSON(v)).join(',')}]`;
  if (typeof value === 'object') {
    const rec = value as Obj;
    const keys = Object.keys(rec)
      .filter((k) => rec[k] !== undefined)
      .sort();
    return `{${keys.map((k) => `${goString(k)}:${canonicalJSON(rec[k])}`).join(',')}}`;
  }
  return 'null';
}

/** FNV-1 32-bit (Go's hash/fnv New32) over bytes. */
export function fnv32(bytes: Uint8Array, seed = 0x811c9dc5): number {
  let h = seed >>> 0;
  for (const b of bytes) {
    h = Math.imul(h, 0x01000193) >>> 0;
    h = (h ^ b) >>> 0;
  }
  return h >>> 0;
}

const SAFE_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';

/** apimachinery's rand.SafeEncodeString: each byte mapped into a vowel-free alphabet. */
export function safeEncodeString(s: string): string {
  let out = '';
  for (let i = 0; i < s.length; i++) out += SAFE_ALPHABET[s.charCodeAt(i) % SAFE_ALPHABET.length];
  return out;
}

const encoder = new TextEncoder();

/** The hash Kubernetes' HashControllerRevision gives for revision data and a collision count. */
export function hashRevisionData(data: unknown, collisionCount?: number): string {
  let bytes = encoder.encode(canonicalJSON(data));
  if (collisionCount !== undefined) {
    const probe = encoder.encode(String(Math.trunc(collisionCount)));
    const joined = new Uint8Array(bytes.length + probe.length);
    joined.set(bytes, 0);
    joined.set(probe, bytes.length);
    bytes = joined;
  }
  return safeEncodeString(String(fnv32(bytes)));
}

/** `<prefix>-<hash>`, the prefix cut to 223 characters (ControllerRevisionName). */
export function revisionName(prefix: string, hash: string): string {
  return `${prefix.length > 223 ? prefix.slice(0, 223) : prefix}-${hash}`;
}

// ---------------------------------------------------------------------------------------------
// Revision objects

/** The data of a revision of the set's current template (Kubernetes' getPatch). */
export function revisionData(set: KubeObject): Obj {
  const template = clone(templateOf(set));
  return { spec: { template: { ...template, $patch: 'replace' } } };
}

export function revisionNumber(rev: KubeObject): number {
  return typeof rev.revision === 'number' && Number.isFinite(rev.revision) ? rev.revision : 0;
}

/**
 * A new ControllerRevision for the set's template (NewControllerRevision): labels are the
 * template's plus the hash label, annotations copied from the set, a controller reference to
 * the set. The name depends on the data and collisionCount only.
 */
export function newRevision(set: KubeObject, revision: number, collisionCount: number): KubeObject {
  const data = revisionData(set);
  const hash = hashRevisionData(data, collisionCount);
  const templateLabels = asRecord(asRecord(templateOf(set).metadata).labels) as Record<string, string>;
  const annotations = { ...((set.metadata.annotations ?? {}) as Record<string, string>) };
  const meta: KubeObject['metadata'] = {
    name: revisionName(setName(set), hash),
    namespace: setNamespace(set),
    labels: { ...templateLabels, [REVISION_HASH_LABEL]: hash },
    ownerReferences: [setControllerRef(set)],
  };
  if (Object.keys(annotations).length > 0) meta.annotations = annotations;
  return { apiVersion: 'apps/v1', kind: 'ControllerRevision', metadata: meta, data, revision };
}

/** Whether two revisions hold the same data (history.EqualRevision). */
export function equalRevisions(a: KubeObject, b: KubeObject): boolean {
  return canonicalJSON(a.data) === canonicalJSON(b.data);
}

/** Revisions ordered by revision number, then creation time, then name (SortControllerRevisions). */
export function sortRevisions(revisions: KubeObject[]): KubeObject[] {
  const ts = (r: KubeObject) => {
    const t = Date.parse(r.metadata.creationTimestamp ?? '');
    return Number.isNaN(t) ? 0 : t;
  };
  return [...revisions].sort(
    (a, b) =>
      revisionNumber(a) - revisionNumber(b) ||
      ts(a) - ts(b) ||
      (a.metadata.name ?? '').localeCompare(b.metadata.name ?? ''),
  );
}

/** One more than the highest revision number (1 for an empty history). */
export function nextRevisionNumber(revisions: KubeObject[]): number {
  let max = 0;
  for (const r of revisions) max = Math.max(max, revisionNumber(r));
  return max + 1;
}

/** The pod template stored in a revision (without the `$patch` directive), if it holds one. */
export function templateFromRevision(rev: KubeObject): Obj | undefined {
  const template = asRecord(asRecord(rev.data).spec).template;
  if (!isRecord(template)) return undefined;
  const copy = clone(template);
  delete copy.$patch;
  return copy;
}

/**
 * The set as it was at a revision (ApplyRevision): a copy whose spec.template is the
 * revision's. Everything else (replicas, claim templates, strategy) stays the live set's, as
 * revisions only record the template.
 */
export function applyRevision(set: KubeObject, rev: KubeObject): KubeObject {
  const copy = clone(set);
  const template = templateFromRevision(rev);
  if (template) copy.spec = { ...asRecord(copy.spec), template };
  return copy;
}

/** The revision a pod was created from (its controller-revision-hash label), or ''. */
export function podRevision(pod: KubeObject): string {
  const v = pod.metadata.labels?.[REVISION_LABEL];
  return typeof v === 'string' ? v : '';
}

// ---------------------------------------------------------------------------------------------
// Choosing the current and update revisions

export type RevisionAction =
  | { type: 'createRevision'; name: string; object: KubeObject }
  | { type: 'updateRevision'; name: string; revision: number; object: KubeObject }
  | { type: 'deleteRevision'; name: string; uid?: string };

export interface RevisionSelection {
  /** The revision pods below the partition are kept at (status.currentRevision, or the update
   *  revision when the set has none yet or it no longer exists). */
  current: KubeObject;
  /** The revision of the set's template as it is now. */
  update: KubeObject;
  /** status.collisionCount after any collision found while naming a new revision. */
  collisionCount: number;
  /** Create a new revision, or renumber the equal older one (rollback). */
  actions: RevisionAction[];
}

/**
 * getStatefulSetRevisions: find or make the revision of the set's template.
 *
 * `owned` are the set's revisions; `all` every revision visible in the namespace (to see
 * name collisions with revisions of other owners). When the template equals the latest
 * revision, that revision is the update revision; when it equals an older one, that one is
 * renumbered to come last; otherwise a new revision is created, its name probed with
 * collisionCount, collisionCount+1, … until no other revision holds the name.
 */
export function selectRevisions(set: KubeObject, owned: KubeObject[], all: KubeObject[] = owned): RevisionSelection {
  const sorted = sortRevisions(owned);
  let collisionCount = Math.max(0, Math.trunc(Number(asRecord(set.status).collisionCount ?? 0)) || 0);
  const next = nextRevisionNumber(sorted);
  const candidate = newRevision(set, next, collisionCount);
  const actions: RevisionAction[] = [];

  const equal = sorted.filter((r) => equalRevisions(r, candidate));
  let update: KubeObject;
  if (equal.length > 0 && sorted[sorted.length - 1] === equal[equal.length - 1]) {
    update = equal[equal.length - 1];
  } else if (equal.length > 0) {
    const found = equal[equal.length - 1];
    update = { ...clone(found), revision: next };
    actions.push({ type: 'updateRevision', name: found.metadata.name ?? '', revision: next, object: update });
  } else {
    const taken = new Map<string, KubeObject>();
    for (const r of all) if (r.metadata.name) taken.set(r.metadata.name, r);
    for (const r of owned) if (r.metadata.name) taken.set(r.metadata.name, r);
    let rev = candidate;
    let reused: KubeObject | undefined;
    // Every probe gives a new name; the loop ends because only finitely many names are taken.
    while (rev.metadata.name && taken.has(rev.metadata.name)) {
      const holder = taken.get(rev.metadata.name) as KubeObject;
      if (isOwnedBy(holder, set) && equalRevisions(holder, rev)) {
        reused = holder; // ours already (CreateControllerRevision returns an equal existing one)
        break;
      }
      collisionCount++;
      rev = newRevision(set, next, collisionCount);
    }
    update = reused ?? rev;
    if (!reused) actions.push({ type: 'createRevision', name: rev.metadata.name ?? '', object: rev });
  }

  const currentName = asRecord(set.status).currentRevision;
  const current = (typeof currentName === 'string' && sorted.find((r) => r.metadata.name === currentName)) || update;
  return { current, update, collisionCount, actions };
}

/**
 * truncateHistory: delete the oldest revisions that nothing uses until at most
 * revisionHistoryLimit unused ones remain. `owned` is the set's history as it was read (before
 * this round created or renumbered anything).
 */
export function truncateHistory(
  set: KubeObject,
  owned: KubeObject[],
  pods: KubeObject[],
  current: KubeObject | undefined,
  update: KubeObject | undefined,
): RevisionAction[] {
  const live = new Set<string>();
  if (current?.metadata.name) live.add(current.metadata.name);
  if (update?.metadata.name) live.add(update.metadata.name);
  for (const p of pods) live.add(podRevision(p));
  const history = sortRevisions(owned).filter((r) => !live.has(r.metadata.name ?? ''));
  const limit = revisionHistoryLimitOf(set);
  if (limit < 0 || history.length <= limit) return [];
  return history.slice(0, history.length - limit).map((r) => {
    const a: RevisionAction = { type: 'deleteRevision', name: r.metadata.name ?? '' };
    if (r.metadata.uid) a.uid = r.metadata.uid;
    return a;
  });
}

/** Whether a revision belongs to the set: controlled by it (same uid). */
export function isOwnedBy(obj: KubeObject, set: KubeObject): boolean {
  const ref = controllerRefOf(obj);
  return ref !== undefined && ref.uid === set.metadata.uid;
}
