// ControllerRevisions of a DaemonSet: the history of its pod template, as Kubernetes keeps it
// (pkg/controller/daemon/update.go: constructHistory, snapshot, dedupCurHistories,
// cleanupHistory), so `kubectl rollout history|undo daemonset/…` work.
//
// - A revision's data is the strategic-merge patch {"spec":{"template":{…,"$patch":"replace"}}}
//   that puts the template back (kubectl rollout undo sends exactly these bytes); it is stored
//   with keys in Go's order (sorted), so kubectl's byte comparison ("current template already
//   matches revision N") holds.
// - Its name is `<set>-<hash>`; its labels are the template's plus controller-revision-hash =
//   <hash>, and pods created from it carry the same label. (Kubernetes hashes the Go template
//   struct; kennel hashes the revision data with the StatefulSet's FNV-32 scheme — same shape,
//   different digits.)
// - The current revision is the one whose data equals the set's template now. None: a new one
//   is made, numbered one past the highest other revision; a name already held by a different
//   revision is a collision — status.collisionCount goes up and the hash is taken again. An
//   older one (rollout undo): it is renumbered to come last. Several (duplicates): the highest
//   numbered is kept, the pods of the others are relabelled to it and the others deleted.
//   (Kubernetes relabels every pod not at the kept hash, old ones included, which makes old
//   pods count as updated; kennel relabels only the duplicates' pods.)
// - Revisions without the hash label get it, with their name as the value (as Kubernetes does).
// - History: beyond revisionHistoryLimit old revisions, the lowest numbered are deleted, never
//   one whose hash a pod (terminating ones included) still carries.
import type { KubeObject } from '../../registry/types.ts';
import { canonicalJSON, hashRevisionData, revisionName, revisionNumber, sortRevisions } from '../revisions.ts';
import type { DaemonSetAction } from './actions.ts';
import { REVISION_HASH_LABEL, clone, dsControllerRef, dsName, dsNamespace, revisionHistoryLimitOf, templateOf } from './daemonset.ts';
import { asRecord, isRecord } from '../../registry/validation.ts';

/**
 * The template as Go's encoding/json writes the typed PodTemplateSpec: metadata.creationTimestamp
 * is always there (null), and so is every container's `resources` ({}), as the fields cannot be
 * omitted. kubectl compares the bytes of a revision with its own encoding of the set's template
 * ("skipped rollback (current template already matches revision N)"), so the revision data
 * carries them too.
 */
function goShapedTemplate(template: Record<string, unknown>): Record<string, unknown> {
  const out = clone(template);
  const meta = isRecord(out.metadata) ? out.metadata : {};
  if (!('creationTimestamp' in meta)) meta.creationTimestamp = null;
  out.metadata = meta;
  const spec = asRecord(out.spec);
  for (const list of ['initContainers', 'containers', 'ephemeralContainers']) {
    const containers = spec[list];
    if (!Array.isArray(containers)) continue;
    for (const c of containers) if (isRecord(c) && c.resources === undefined) c.resources = {};
  }
  return out;
}

/** The revision data of the set's template now: {"spec":{"template":{…,"$patch":"replace"}}},
 *  the template shaped as Go writes it, keys in canonical (sorted) order. */
export function daemonSetRevisionData(ds: KubeObject): Record<string, unknown> {
  const data = { spec: { template: { ...goShapedTemplate(templateOf(ds)), $patch: 'replace' } } };
  return JSON.parse(canonicalJSON(data)) as Record<string, unknown>;
}

/** Whether a revision holds the set's current template (Match). */
export function revisionMatches(ds: KubeObject, rev: KubeObject, data = canonicalJSON(daemonSetRevisionData(ds))): boolean {
  return canonicalJSON(rev.data) === data;
}

/** The hash label of a revision (its name when it has none, as Kubernetes labels such revisions). */
export function revisionHash(rev: KubeObject): string {
  const v = rev.metadata.labels?.[REVISION_HASH_LABEL];
  return typeof v === 'string' && v !== '' ? v : (rev.metadata.name ?? '');
}

/** A new revision of the set's template (snapshot). */
export function newDaemonSetRevision(ds: KubeObject, revision: number, collisionCount: number | undefined): KubeObject {
  const data = daemonSetRevisionData(ds);
  const hash = hashRevisionData(data, collisionCount);
  const labels: Record<string, string> = {};
  for (const [k, v] of Object.entries(asRecord(asRecord(templateOf(ds).metadata).labels))) if (typeof v === 'string') labels[k] = v;
  labels[REVISION_HASH_LABEL] = hash;
  const meta: KubeObject['metadata'] = {
    name: revisionName(dsName(ds), hash),
    namespace: dsNamespace(ds),
    labels,
    ownerReferences: [dsControllerRef(ds)],
  };
  const annotations = ds.metadata.annotations ?? {};
  if (Object.keys(annotations).length > 0) meta.annotations = { ...annotations };
  return { apiVersion: 'apps/v1', kind: 'ControllerRevision', metadata: meta, data, revision };
}

export interface DaemonSetHistory {
  /** The revision of the set's template now (possibly one this round creates or renumbers). */
  current: KubeObject;
  /** Its controller-revision-hash: what new pods are labelled with. */
  hash: string;
  /** The other revisions of the set. */
  old: KubeObject[];
  /** status.collisionCount after any collision found while naming a new revision (undefined
   *  when the set never had one). */
  collisionCount: number | undefined;
  /** Create / renumber / label revisions, relabel pods of duplicates, delete duplicates. */
  actions: DaemonSetAction[];
}

function collisionCountOf(ds: KubeObject): number | undefined {
  const c = asRecord(ds.status).collisionCount;
  return typeof c === 'number' && Number.isFinite(c) ? Math.max(0, Math.trunc(c)) : undefined;
}

/**
 * constructHistory: find or make the revision of the set's template.
 *
 * `owned` are the set's revisions (adopted orphans included), `all` every revision of the
 * namespace (name collisions), `pods` the set's pods (relabelled when their revision is a
 * duplicate).
 */
export function constructHistory(ds: KubeObject, owned: KubeObject[], all: KubeObject[], pods: KubeObject[]): DaemonSetHistory {
  const actions: DaemonSetAction[] = [];
  const data = canonicalJSON(daemonSetRevisionData(ds));
  // Label revisions that lack the hash label (with their name, as Kubernetes does).
  const labelled = sortRevisions(owned).map((r) => {
    if (r.metadata.labels?.[REVISION_HASH_LABEL]) return r;
    const fixed = clone(r);
    fixed.metadata.labels = { ...(fixed.metadata.labels ?? {}), [REVISION_HASH_LABEL]: r.metadata.name ?? '' };
    actions.push({ type: 'updateRevision', name: r.metadata.name ?? '', object: fixed, reasons: ['label'] });
    return fixed;
  });
  const currents = labelled.filter((r) => revisionMatches(ds, r, data));
  const old = labelled.filter((r) => !revisionMatches(ds, r, data));
  const next = old.reduce((m, r) => Math.max(m, revisionNumber(r)), 0) + 1;
  let collisionCount = collisionCountOf(ds);

  if (currents.length === 0) {
    const taken = new Set<string>();
    for (const r of all) if (r.metadata.name) taken.add(r.metadata.name);
    for (const r of owned) if (r.metadata.name) taken.add(r.metadata.name);
    let rev = newDaemonSetRevision(ds, next, collisionCount);
    // Any revision holding the name is not ours-and-equal (none of ours is equal): a collision.
    // Every probe gives a new name; finitely many names are taken, so the loop ends.
    while (taken.has(rev.metadata.name ?? '')) {
      collisionCount = (collisionCount ?? 0) + 1;
      rev = newDaemonSetRevision(ds, next, collisionCount);
    }
    actions.push({ type: 'createRevision', name: rev.metadata.name ?? '', object: rev });
    return { current: rev, hash: revisionHash(rev), old, collisionCount, actions };
  }

  // The highest-numbered equal revision is kept (sorted ascending: the last one).
  let keep = currents[currents.length - 1];
  const keepHash = revisionHash(keep);
  for (const dup of currents.slice(0, -1)) {
    const dupHash = revisionHash(dup);
    if (dupHash !== keepHash) {
      for (const p of pods) {
        if (p.metadata.labels?.[REVISION_HASH_LABEL] === dupHash && p.metadata.uid) {
          actions.push({ type: 'relabelPod', name: p.metadata.name ?? '', uid: p.metadata.uid, hash: keepHash });
        }
      }
    }
    const del: DaemonSetAction = { type: 'deleteRevision', name: dup.metadata.name ?? '', reason: 'duplicate' };
    if (dup.metadata.uid) del.uid = dup.metadata.uid;
    actions.push(del);
  }
  if (revisionNumber(keep) < next) {
    const renumbered = { ...clone(keep), revision: next };
    const labelAction = actions.findIndex((a) => a.type === 'updateRevision' && a.name === keep.metadata.name);
    if (labelAction >= 0) actions.splice(labelAction, 1, { type: 'updateRevision', name: keep.metadata.name ?? '', object: renumbered, reasons: ['label', 'renumber'] });
    else actions.push({ type: 'updateRevision', name: keep.metadata.name ?? '', object: renumbered, reasons: ['renumber'] });
    keep = renumbered;
  }
  return { current: keep, hash: keepHash, old, collisionCount, actions };
}

/**
 * cleanupHistory: with more than revisionHistoryLimit old revisions, delete the lowest-numbered
 * ones that no pod's controller-revision-hash names, until the excess is gone (or only live
 * ones remain).
 */
export function cleanupHistory(ds: KubeObject, old: KubeObject[], pods: KubeObject[]): DaemonSetAction[] {
  let toKill = old.length - revisionHistoryLimitOf(ds);
  if (toKill <= 0) return [];
  const live = new Set<string>();
  for (const p of pods) {
    const h = p.metadata.labels?.[REVISION_HASH_LABEL];
    if (h) live.add(h);
  }
  const out: DaemonSetAction[] = [];
  for (const r of sortRevisions(old)) {
    if (toKill <= 0) break;
    if (live.has(revisionHash(r))) continue;
    const del: DaemonSetAction = { type: 'deleteRevision', name: r.metadata.name ?? '', reason: 'history' };
    if (r.metadata.uid) del.uid = r.metadata.uid;
    out.push(del);
    toKill--;
  }
  return out;
}
