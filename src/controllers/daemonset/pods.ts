// Daemon pods: how one is built from the set's template for a node (util.CreatePodTemplate +
// controller.GetPodFromTemplate + ReplaceDaemonSetPodNodeNameNodeAffinity), whether it is at
// the set's current revision (util.IsPodUpdated), its health (podutil.IsPodReady /
// IsPodAvailable) and which of several pods on one node counts first.
import type { KubeObject } from '../../registry/types.ts';
import { asArray, asRecord, isRecord } from '../../registry/validation.ts';
import {
  REVISION_HASH_LABEL,
  TEMPLATE_GENERATION_LABEL,
  clone,
  dsControllerRef,
  dsName,
  dsNamespace,
  templateGenerationOf,
  templateOf,
} from './daemonset.ts';
import { pinToNode, withDaemonTolerations } from './nodes.ts';

type Obj = Record<string, unknown>;

/**
 * generateName for the set's pods (getPodsPrefix): `<set>-`, or the bare name when that would
 * not leave room for the 5-character suffix in a 63-character name.
 */
export function podNamePrefix(ds: KubeObject): string {
  const prefix = `${dsName(ds)}-`;
  return prefix.length + 5 > 63 ? dsName(ds) : prefix;
}

/**
 * A new pod of the set for a node: metadata (labels, annotations, finalizers) and spec from the
 * set's template; labels controller-revision-hash = hash and pod-template-generation (when the
 * set has a template generation); the daemon tolerations; required node affinity pinning it to
 * the node (the scheduler binds it: spec.nodeName stays unset); generateName `<set>-`; a
 * controller reference to the set.
 */
export function newDaemonPod(ds: KubeObject, nodeName: string, hash: string): KubeObject {
  const template = clone(templateOf(ds));
  const tmeta = asRecord(template.metadata);
  const labels: Record<string, string> = {};
  for (const [k, v] of Object.entries(asRecord(tmeta.labels))) if (typeof v === 'string') labels[k] = v;
  const generation = templateGenerationOf(ds);
  if (generation !== undefined) labels[TEMPLATE_GENERATION_LABEL] = String(generation);
  if (hash) labels[REVISION_HASH_LABEL] = hash;
  const metadata: KubeObject['metadata'] = {
    generateName: podNamePrefix(ds),
    namespace: dsNamespace(ds),
    labels,
  };
  if (isRecord(tmeta.annotations) && Object.keys(tmeta.annotations).length > 0) metadata.annotations = { ...(tmeta.annotations as Record<string, string>) };
  if (Array.isArray(tmeta.finalizers) && tmeta.finalizers.length > 0) metadata.finalizers = [...(tmeta.finalizers as string[])];
  metadata.ownerReferences = [dsControllerRef(ds)];
  const spec: Obj = asRecord(template.spec);
  spec.tolerations = withDaemonTolerations(spec);
  spec.affinity = pinToNode(spec.affinity, nodeName);
  return { apiVersion: 'v1', kind: 'Pod', metadata, spec };
}

/**
 * util.IsPodUpdated: the pod carries the set's current revision hash, or (older pods) the
 * set's template generation in pod-template-generation.
 */
export function isPodUpdated(pod: KubeObject, hash: string, generation: number | undefined): boolean {
  const labels = pod.metadata.labels ?? {};
  const hashMatches = hash !== '' && labels[REVISION_HASH_LABEL] === hash;
  const generationMatches = generation !== undefined && labels[TEMPLATE_GENERATION_LABEL] === String(generation);
  return hashMatches || generationMatches;
}

// ---------------------------------------------------------------------------------------------
// Health

export function podPhase(pod: KubeObject): string {
  const p = asRecord(pod.status).phase;
  return typeof p === 'string' ? p : '';
}

export function isTerminating(pod: KubeObject): boolean {
  const t = pod.metadata.deletionTimestamp;
  return typeof t === 'string' && t !== '';
}

/** Bound to a node (spec.nodeName set). */
export function isScheduled(pod: KubeObject): boolean {
  const n = asRecord(pod.spec).nodeName;
  return typeof n === 'string' && n !== '';
}

function readyCondition(pod: KubeObject): Obj | undefined {
  return asArray(asRecord(pod.status).conditions).find((c): c is Obj => isRecord(c) && c.type === 'Ready');
}

/** podutil.IsPodReady: the Ready condition is True. */
export function isPodReady(pod: KubeObject): boolean {
  return readyCondition(pod)?.status === 'True';
}

/**
 * When a ready pod becomes available (ms since the epoch): the Ready condition's
 * lastTransitionTime + minReadySeconds. Undefined when not ready; 0 when available at once.
 */
export function availableAt(pod: KubeObject, minReadySeconds: number): number | undefined {
  if (!isPodReady(pod)) return undefined;
  if (minReadySeconds <= 0) return 0;
  const since = Date.parse(String(readyCondition(pod)?.lastTransitionTime ?? ''));
  if (Number.isNaN(since)) return undefined;
  return since + minReadySeconds * 1000;
}

/** podutil.IsPodAvailable: ready, and for longer than minReadySeconds (strictly) at `now`. */
export function isPodAvailable(pod: KubeObject, minReadySeconds: number, now: Date): boolean {
  const at = availableAt(pod, minReadySeconds);
  if (at === undefined) return false;
  return minReadySeconds <= 0 || at < now.getTime();
}

function created(pod: KubeObject): number {
  const t = Date.parse(pod.metadata.creationTimestamp ?? '');
  return Number.isNaN(t) ? 0 : t;
}

/**
 * The order in which a node's pods count (podByCreationTimestampAndPhase): bound pods first,
 * then — kennel's addition, so an excess pod that is serving is the one kept — ready ones, then
 * the oldest, then by name. The first pod is the one kept and the one status reports.
 */
export function comparePods(a: KubeObject, b: KubeObject): number {
  const sa = isScheduled(a);
  const sb = isScheduled(b);
  if (sa !== sb) return sa ? -1 : 1;
  const ra = isPodReady(a);
  const rb = isPodReady(b);
  if (ra !== rb) return ra ? -1 : 1;
  const ca = created(a);
  const cb = created(b);
  if (ca !== cb) return ca - cb;
  const na = a.metadata.name ?? '';
  const nb = b.metadata.name ?? '';
  return na < nb ? -1 : na > nb ? 1 : 0;
}

export function sortPods(pods: KubeObject[]): KubeObject[] {
  return [...pods].sort(comparePods);
}
