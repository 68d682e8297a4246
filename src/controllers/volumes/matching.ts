// Which volume fits which claim, as Kubernetes' PV controller decides it
// (pkg/controller/volume/persistentvolume/index.go and component-helpers/storage/volume):
// classes, sizes, access modes, volume modes, selectors, node affinity, pre-binding, and the
// default StorageClass. Pure functions of plain objects.
import { compareQuantities, tryParseQuantity, type Quantity } from '../../registry/quantity.ts';
import { labelSelectorMatches, type LabelSelector } from '../../registry/validation.ts';
import type { KubeObject } from '../../registry/types.ts';
import {
  ANN_BETA_DEFAULT_CLASS,
  ANN_BETA_STORAGE_CLASS,
  ANN_DEFAULT_CLASS,
  HOSTNAME_LABEL,
  type NodeObject,
  type NodeSelectorRequirement,
  type NodeSelectorTerm,
  type PersistentVolume,
  type PersistentVolumeClaim,
  type StorageClass,
} from './types.ts';

const ZERO: Quantity = { nanos: 0n, format: 'DecimalSI' };

/** The class a claim asks for ('' = none): the beta annotation wins over spec.storageClassName. */
export function claimClass(claim: PersistentVolumeClaim): string {
  const ann = claim.metadata.annotations?.[ANN_BETA_STORAGE_CLASS];
  if (ann !== undefined) return ann;
  return claim.spec?.storageClassName ?? '';
}

/** Whether the claim names a class at all (`storageClassName: ""` counts: it asks for none). */
export function claimHasClass(claim: PersistentVolumeClaim): boolean {
  if (claim.metadata.annotations?.[ANN_BETA_STORAGE_CLASS] !== undefined) return true;
  const sc = claim.spec?.storageClassName;
  return sc !== undefined && sc !== null;
}

/** The class of a volume ('' = none). */
export function volumeClass(volume: PersistentVolume): string {
  const ann = volume.metadata.annotations?.[ANN_BETA_STORAGE_CLASS];
  if (ann !== undefined) return ann;
  return volume.spec?.storageClassName ?? '';
}

/** The storage a claim requests (0 when absent or unparsable). */
export function claimRequest(claim: PersistentVolumeClaim): Quantity {
  return tryParseQuantity(claim.spec?.resources?.requests?.storage) ?? ZERO;
}

/** The storage capacity of a volume (0 when absent or unparsable). */
export function volumeCapacity(volume: PersistentVolume): Quantity {
  return tryParseQuantity(volume.spec?.capacity?.storage) ?? ZERO;
}

/** The capacity a claim's status reports (undefined when none). */
export function claimStatusCapacity(claim: PersistentVolumeClaim): Quantity | undefined {
  return tryParseQuantity(claim.status?.capacity?.storage);
}

export function volumeModeOf(o: { spec?: { volumeMode?: string } }): string {
  return o.spec?.volumeMode || 'Filesystem';
}

/** Whether the volume offers every access mode the claim asks for. */
export function accessModesContain(offered: readonly string[] | undefined, wanted: readonly string[] | undefined): boolean {
  const have = new Set(offered ?? []);
  return (wanted ?? []).every((m) => have.has(m));
}

/** Whether the claim's selector (absent = any) selects the volume's labels. */
export function claimSelectorMatches(claim: PersistentVolumeClaim, volume: PersistentVolume): boolean {
  const sel = claim.spec?.selector as LabelSelector | undefined;
  if (!sel) return true;
  return labelSelectorMatches(sel, volume.metadata.labels);
}

/**
 * IsVolumeBoundToClaim: the volume's claimRef names the claim, and its uid (when the ref has
 * one) is the claim's.
 */
export function isVolumeBoundToClaim(volume: PersistentVolume, claim: PersistentVolumeClaim): boolean {
  const ref = volume.spec?.claimRef;
  if (!ref) return false;
  if (ref.name !== claim.metadata.name || (ref.namespace ?? '') !== (claim.metadata.namespace ?? '')) return false;
  return !ref.uid || ref.uid === claim.metadata.uid;
}

function requirementMatches(req: NodeSelectorRequirement, value: string | undefined): boolean {
  const vals = req.values ?? [];
  switch (req.operator) {
    case 'In':
      return value !== undefined && vals.includes(value);
    case 'NotIn':
      return value === undefined || !vals.includes(value);
    case 'Exists':
      return value !== undefined;
    case 'DoesNotExist':
      return value === undefined;
    case 'Gt':
    case 'Lt': {
      if (value === undefined || vals.length !== 1 || !/^-?[0-9]+$/.test(value) || !/^-?[0-9]+$/.test(vals[0])) return false;
      const a = BigInt(value);
      const b = BigInt(vals[0]);
      return req.operator === 'Gt' ? a > b : a < b;
    }
    default:
      return false;
  }
}

/** Whether a node (its labels and name) satisfies one NodeSelectorTerm. An empty term matches nothing. */
export function nodeSelectorTermMatches(term: NodeSelectorTerm, labels: Record<string, string>, nodeName: string): boolean {
  const exprs = term.matchExpressions ?? [];
  const fields = term.matchFields ?? [];
  if (exprs.length === 0 && fields.length === 0) return false;
  for (const e of exprs) {
    const has = Object.prototype.hasOwnProperty.call(labels, e.key);
    if (!requirementMatches(e, has ? labels[e.key] : undefined)) return false;
  }
  for (const f of fields) {
    if (f.key !== 'metadata.name' || !requirementMatches(f, nodeName)) return false;
  }
  return true;
}

/** The labels of a node, with kubernetes.io/hostname defaulting to its name. */
export function nodeLabels(node: NodeObject): Record<string, string> {
  const labels = { ...(node.metadata.labels ?? {}) };
  if (labels[HOSTNAME_LABEL] === undefined && node.metadata.name) labels[HOSTNAME_LABEL] = node.metadata.name;
  return labels;
}

/** CheckNodeAffinity: whether the volume may be used on the node (no affinity = anywhere). */
export function volumeNodeAffinityMatches(volume: PersistentVolume, node: NodeObject): boolean {
  const required = volume.spec?.nodeAffinity?.required;
  if (!required) return true;
  const labels = nodeLabels(node);
  const name = node.metadata.name ?? '';
  return (required.nodeSelectorTerms ?? []).some((t) => nodeSelectorTermMatches(t, labels, name));
}

/**
 * The node names a volume's required node affinity pins it to through
 * `kubernetes.io/hostname In [...]` (or `metadata.name In [...]`) — the nodes of a local volume.
 */
export function volumeHostnames(volume: PersistentVolume): string[] {
  const out = new Set<string>();
  for (const t of volume.spec?.nodeAffinity?.required?.nodeSelectorTerms ?? []) {
    for (const e of t.matchExpressions ?? []) if (e.key === HOSTNAME_LABEL && e.operator === 'In') for (const v of e.values ?? []) out.add(v);
    for (const f of t.matchFields ?? []) if (f.key === 'metadata.name' && f.operator === 'In') for (const v of f.values ?? []) out.add(v);
  }
  return [...out];
}

/**
 * Why a volume the claim names in spec.volumeName cannot serve it ('' = it can):
 * checkVolumeSatisfyClaim's reasons.
 */
export function volumeMismatch(volume: PersistentVolume, claim: PersistentVolumeClaim): string {
  if (compareQuantities(volumeCapacity(volume), claimRequest(claim)) < 0) return 'requested PV is too small';
  if (volumeClass(volume) !== claimClass(claim)) return 'storageClassName does not match';
  if (volumeModeOf(volume) !== volumeModeOf(claim)) return 'incompatible volumeMode';
  if (!accessModesContain(volume.spec?.accessModes, claim.spec?.accessModes)) return 'incompatible accessMode';
  return '';
}

export interface MatchOptions {
  /** The claim's class binds WaitForFirstConsumer. */
  delayBinding: boolean;
  /** WaitForFirstConsumer with a selected node: volumes must be usable on it. */
  node?: NodeObject;
}

/**
 * findBestMatchForClaim: a volume pre-bound to the claim (claimRef names it) if it is big
 * enough; else, unless binding waits for a consumer that has no node yet, the best free volume:
 * same class and volume mode, selector matched, every requested access mode offered, usable on
 * the selected node, capacity ≥ request — preferring the fewest access modes, then the smallest
 * capacity (Kubernetes walks its access-mode index smallest set first, then picks the smallest
 * volume). Volumes being deleted are never chosen.
 */
export function findBestMatch(claim: PersistentVolumeClaim, volumes: Iterable<PersistentVolume>, opts: MatchOptions): PersistentVolume | undefined {
  const requested = claimRequest(claim);
  const cls = claimClass(claim);
  const mode = volumeModeOf(claim);
  let best: PersistentVolume | undefined;
  let bestModes = 0;
  let bestQty: Quantity = ZERO;
  for (const v of volumes) {
    if (v.metadata.deletionTimestamp) continue;
    if (volumeModeOf(v) !== mode) continue;
    const qty = volumeCapacity(v);
    const nodeOk = opts.node ? volumeNodeAffinityMatches(v, opts.node) : true;
    if (isVolumeBoundToClaim(v, claim)) {
      if (compareQuantities(qty, requested) < 0) continue;
      return nodeOk ? v : undefined;
    }
    if (opts.delayBinding && !opts.node) continue;
    if (v.spec?.claimRef) continue;
    if (!claimSelectorMatches(claim, v)) continue;
    if (volumeClass(v) !== cls) continue;
    if (!nodeOk) continue;
    if (!accessModesContain(v.spec?.accessModes, claim.spec?.accessModes)) continue;
    if (compareQuantities(qty, requested) < 0) continue;
    const modes = new Set(v.spec?.accessModes ?? []).size;
    const better =
      !best ||
      modes < bestModes ||
      (modes === bestModes && compareQuantities(qty, bestQty) < 0) ||
      (modes === bestModes && compareQuantities(qty, bestQty) === 0 && (v.metadata.name ?? '') < (best.metadata.name ?? ''));
    if (better) {
      best = v;
      bestModes = modes;
      bestQty = qty;
    }
  }
  return best;
}

/** Whether the class is marked default (either annotation, value "true"). */
export function isDefaultClass(cls: KubeObject): boolean {
  const a = cls.metadata.annotations ?? {};
  return a[ANN_DEFAULT_CLASS] === 'true' || a[ANN_BETA_DEFAULT_CLASS] === 'true';
}

/** GetDefaultClass: the newest class marked default (ties: the name first in order). */
export function defaultClassOf(classes: Iterable<StorageClass>): StorageClass | undefined {
  let best: StorageClass | undefined;
  for (const c of classes) {
    if (!isDefaultClass(c)) continue;
    if (!best) {
      best = c;
      continue;
    }
    const a = c.metadata.creationTimestamp ?? '';
    const b = best.metadata.creationTimestamp ?? '';
    if (a > b || (a === b && (c.metadata.name ?? '') < (best.metadata.name ?? ''))) best = c;
  }
  return best;
}
