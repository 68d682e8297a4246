// Read-only views of a DaemonSet's spec and status with apps/v1 defaults applied, so the control
// algorithm never guesses about absent fields (table tests and old stored objects omit them),
// and the names Kubernetes gives the labels, annotations and references involved.
import type { KubeObject, OwnerReference } from '../../registry/types.ts';
import { asArray, asRecord, isRecord, labelSelectorMatches, type LabelSelector } from '../../registry/validation.ts';
import { TEMPLATE_GENERATION_ANNOTATION } from '../../registry/daemonsets.ts';

type Obj = Record<string, unknown>;

export { TEMPLATE_GENERATION_ANNOTATION };
/** The pod (and revision) label holding the hash of the template revision (DefaultDaemonSetUniqueLabelKey). */
export const REVISION_HASH_LABEL = 'controller-revision-hash';
/** The pod label holding the template generation (DaemonSetTemplateGenerationKey). */
export const TEMPLATE_GENERATION_LABEL = 'pod-template-generation';

export const DAEMONSET_API_VERSION = 'apps/v1';
export const DAEMONSET_KIND = 'DaemonSet';

export type DaemonSetUpdateStrategy = 'RollingUpdate' | 'OnDelete';

function spec(ds: KubeObject): Obj {
  return asRecord(ds.spec);
}

function int(v: unknown, fallback: number): number {
  return typeof v === 'number' && Number.isFinite(v) ? Math.trunc(v) : fallback;
}

export function dsName(ds: KubeObject): string {
  return ds.metadata.name ?? '';
}

export function dsNamespace(ds: KubeObject): string {
  return ds.metadata.namespace ?? 'default';
}

/** `<namespace>/<name>`. */
export function dsKey(ds: KubeObject): string {
  return `${dsNamespace(ds)}/${dsName(ds)}`;
}

export function updateStrategyOf(ds: KubeObject): DaemonSetUpdateStrategy {
  return asRecord(spec(ds).updateStrategy).type === 'OnDelete' ? 'OnDelete' : 'RollingUpdate';
}

/** spec.minReadySeconds (default 0). */
export function minReadySecondsOf(ds: KubeObject): number {
  return Math.max(0, int(spec(ds).minReadySeconds, 0));
}

/** spec.revisionHistoryLimit (default 10, never negative). */
export function revisionHistoryLimitOf(ds: KubeObject): number {
  return Math.max(0, int(spec(ds).revisionHistoryLimit, 10));
}

export function selectorOf(ds: KubeObject): LabelSelector | undefined {
  const s = spec(ds).selector;
  return isRecord(s) ? (s as LabelSelector) : undefined;
}

/** The selector selects everything ({} or absent): Kubernetes refuses to act on such a set. */
export function selectsEverything(ds: KubeObject): boolean {
  const s = selectorOf(ds);
  if (!s) return true;
  return Object.keys(asRecord(s.matchLabels)).length === 0 && asArray(s.matchExpressions).length === 0;
}

/** Whether labels match the set's selector (an empty or absent selector matches nothing here). */
export function selectorMatches(ds: KubeObject, labels: Record<string, string> | undefined): boolean {
  if (selectsEverything(ds)) return false;
  return labelSelectorMatches(selectorOf(ds), labels);
}

/** spec.template as an object (empty when absent). */
export function templateOf(ds: KubeObject): Obj {
  return asRecord(spec(ds).template);
}

/** spec.template.spec as an object (empty when absent). */
export function templateSpecOf(ds: KubeObject): Obj {
  return asRecord(templateOf(ds).spec);
}

/**
 * The template generation from the `deprecated.daemonset.template.generation` annotation
 * (util.GetTemplateGeneration); undefined when absent or not an integer.
 */
export function templateGenerationOf(ds: KubeObject): number | undefined {
  const v = ds.metadata.annotations?.[TEMPLATE_GENERATION_ANNOTATION];
  if (typeof v !== 'string' || !/^-?[0-9]+$/.test(v)) return undefined;
  const n = Number(v);
  return Number.isSafeInteger(n) ? n : undefined;
}

export function generationOf(obj: KubeObject): number {
  return int(obj.metadata.generation, 0);
}

export function isBeingDeleted(obj: KubeObject): boolean {
  return typeof obj.metadata.deletionTimestamp === 'string' && obj.metadata.deletionTimestamp !== '';
}

/** The controller ownerReference a set puts on the pods and revisions it owns. */
export function dsControllerRef(ds: KubeObject): OwnerReference {
  return {
    apiVersion: DAEMONSET_API_VERSION,
    kind: DAEMONSET_KIND,
    name: dsName(ds),
    uid: ds.metadata.uid ?? '',
    controller: true,
    blockOwnerDeletion: true,
  };
}

/** The controller ownerReference of an object, if it has one. */
export function controllerRefOf(obj: KubeObject): OwnerReference | undefined {
  return asArray(obj.metadata.ownerReferences).find((r): r is OwnerReference => isRecord(r) && r.controller === true);
}

/** Whether obj is controlled by the set (a controller reference with its uid). */
export function isControlledBy(obj: KubeObject, ds: KubeObject): boolean {
  const ref = controllerRefOf(obj);
  return ref !== undefined && ref.uid !== '' && ref.uid === ds.metadata.uid;
}

/** An object's owner references with the set's controller reference added (adoption). */
export function withControllerRef(obj: KubeObject, ds: KubeObject): OwnerReference[] {
  const refs = asArray(obj.metadata.ownerReferences).filter(isRecord) as unknown as OwnerReference[];
  return [...refs.filter((r) => r.uid !== ds.metadata.uid), dsControllerRef(ds)];
}

/** An object's owner references without the one to the set (release). */
export function withoutRefTo(obj: KubeObject, ds: KubeObject): OwnerReference[] {
  const refs = asArray(obj.metadata.ownerReferences).filter(isRecord) as unknown as OwnerReference[];
  return refs.filter((r) => r.uid !== ds.metadata.uid);
}

/** A deep copy of plain JSON data. */
export function clone<T>(v: T): T {
  return v === undefined ? v : (JSON.parse(JSON.stringify(v)) as T);
}

// ---------------------------------------------------------------------------------------------
// Rolling update budget

/**
 * intstr.GetScaledValueFromIntOrPercent(v, total, roundUp=true): an integer as it is, `N%` as
 * ceil(N * total / 100); undefined when the value is absent or malformed.
 */
export function scaledIntOrPercent(v: unknown, total: number): number | undefined {
  if (typeof v === 'number' && Number.isFinite(v)) return Math.trunc(v);
  if (typeof v !== 'string') return undefined;
  const pct = /^(-?[0-9]+)%$/.exec(v);
  if (pct) return Math.ceil((Number(pct[1]) * total) / 100);
  if (/^-?[0-9]+$/.test(v)) return Number(v);
  return undefined;
}

function rollingUpdateOf(ds: KubeObject): Obj | undefined {
  if (updateStrategyOf(ds) !== 'RollingUpdate') return undefined;
  const ru = asRecord(spec(ds).updateStrategy).rollingUpdate;
  return isRecord(ru) ? ru : undefined;
}

/** util.SurgeCount: maxSurge scaled to `desired` (0 for OnDelete, absent or malformed values). */
export function surgeCount(ds: KubeObject, desired: number): number {
  const ru = rollingUpdateOf(ds);
  return Math.max(0, (ru && scaledIntOrPercent(ru.maxSurge, desired)) || 0);
}

/** util.UnavailableCount: maxUnavailable scaled to `desired` (0 for OnDelete or malformed). */
export function unavailableCount(ds: KubeObject, desired: number): number {
  const ru = rollingUpdateOf(ds);
  return Math.max(0, (ru && scaledIntOrPercent(ru.maxUnavailable, desired)) || 0);
}

/** util.AllowsSurge: the rolling update may run two pods on a node. */
export function allowsSurge(ds: KubeObject): boolean {
  return surgeCount(ds, 1) !== 0;
}

/**
 * The rolling update budget for `desired` scheduled nodes (updatedDesiredNodeCounts): maxSurge
 * and maxUnavailable, with maxUnavailable 1 when a set would otherwise allow neither.
 */
export function updateBudget(ds: KubeObject, desired: number): { maxSurge: number; maxUnavailable: number } {
  const maxSurge = surgeCount(ds, desired);
  let maxUnavailable = unavailableCount(ds, desired);
  if (desired > 0 && maxSurge === 0 && maxUnavailable === 0) maxUnavailable = 1;
  return { maxSurge, maxUnavailable };
}
