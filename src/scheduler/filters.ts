// The scheduler's filters: whether a pod may go to a node, and if not, why — in the words
// kube-scheduler v1.32 uses, since users search for them. Filters run in the default plugin
// order (NodeUnschedulable, NodeName, TaintToleration, NodeAffinity, NodePorts,
// NodeResourcesFit, VolumeBinding); a node's verdict is the first filter that rejects it.
//
// Everything a filter needs from the pod is computed once per scheduling attempt into a
// SchedulingContext (kube-scheduler's PreFilter state), so each filter is cheap per node.
import type { NodeInfo, PodInfo } from './nodeinfo.ts';
import { podInfoOf } from './nodeinfo.ts';
import type {
  NodeSelector,
  NodeSelectorRequirement,
  NodeSelectorTerm,
  PersistentVolume,
  PersistentVolumeClaim,
  Pod,
  PodSpec,
  StorageClass,
  Taint,
  Toleration,
} from './types.ts';
import { TAINT_NODE_UNSCHEDULABLE } from './types.ts';

// ---------------------------------------------------------------------------------------------
// Statuses and reasons

/** Unschedulable: preemption might help. UnschedulableAndUnresolvable: it cannot. */
export type StatusCode = 'Unschedulable' | 'UnschedulableAndUnresolvable';

export interface FilterStatus {
  code: StatusCode;
  /** The reasons, as the FailedScheduling message counts them. */
  reasons: string[];
  /** The plugin that rejected (kube-scheduler's plugin names). */
  plugin: string;
}

export const PLUGIN = {
  NodeUnschedulable: 'NodeUnschedulable',
  NodeName: 'NodeName',
  TaintToleration: 'TaintToleration',
  NodeAffinity: 'NodeAffinity',
  NodePorts: 'NodePorts',
  NodeResourcesFit: 'NodeResourcesFit',
  VolumeBinding: 'VolumeBinding',
} as const;

export const REASON = {
  nodeName: "node(s) didn't match the requested node name",
  unschedulable: 'node(s) were unschedulable',
  nodeAffinity: "node(s) didn't match Pod's node affinity/selector",
  affinityConflict: 'pod affinity terms conflict',
  ports: "node(s) didn't have free ports for the requested pod ports",
  tooManyPods: 'Too many pods',
  volumeNodeConflict: 'node(s) had volume node affinity conflict',
  pvNotExist: 'node(s) unavailable due to one or more pvc(s) bound to non-existent pv(s)',
  unboundImmediate: 'pod has unbound immediate PersistentVolumeClaims',
} as const;

export function untoleratedTaintReason(t: Taint): string {
  return `node(s) had untolerated taint {${t.key}: ${t.value ?? ''}}`;
}

export function insufficientReason(resource: string): string {
  return `Insufficient ${resource}`;
}

function reject(plugin: string, code: StatusCode, ...reasons: string[]): FilterStatus {
  return { code, reasons, plugin };
}

// ---------------------------------------------------------------------------------------------
// Taints and tolerations

/** Toleration.ToleratesTaint: effect and key match (empty = any), then Equal compares values. */
export function toleratesTaint(t: Toleration, taint: Taint): boolean {
  if (t.effect && t.effect !== taint.effect) return false;
  if (t.key && t.key !== taint.key) return false;
  const op = t.operator ?? '';
  if (op === 'Exists') return true;
  if (op === '' || op === 'Equal') return (t.value ?? '') === (taint.value ?? '');
  return false;
}

export function tolerationsTolerateTaint(tolerations: readonly Toleration[], taint: Taint): boolean {
  for (const t of tolerations) if (toleratesTaint(t, taint)) return true;
  return false;
}

/** The first NoSchedule/NoExecute taint no toleration tolerates (FindMatchingUntoleratedTaint). */
export function findUntoleratedTaint(taints: readonly Taint[], tolerations: readonly Toleration[]): Taint | undefined {
  for (const taint of taints) {
    if (taint.effect !== 'NoSchedule' && taint.effect !== 'NoExecute') continue;
    if (!tolerationsTolerateTaint(tolerations, taint)) return taint;
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Node selector terms (required/preferred node affinity, PV node affinity)

interface CompiledExpr {
  key: string;
  op: string;
  values: Set<string>;
  /** The bound of Gt/Lt. */
  num?: bigint;
}

interface CompiledField {
  key: string;
  op: 'In' | 'NotIn';
  value: string;
}

export interface CompiledTerm {
  exprs: CompiledExpr[];
  fields: CompiledField[];
  /** A term with no requirements matches no node. */
  empty: boolean;
  /** A requirement did not parse (e.g. Gt with a non-integer): the term matches no node. */
  invalid: boolean;
}

const INT64_MIN = -(1n << 63n);
const INT64_MAX = (1n << 63n) - 1n;

/** strconv.ParseInt(s, 10, 64), or undefined. */
export function parseInt64(s: string): bigint | undefined {
  if (!/^[+-]?[0-9]+$/.test(s)) return undefined;
  const v = BigInt(s);
  return v < INT64_MIN || v > INT64_MAX ? undefined : v;
}

function compileExpr(r: NodeSelectorRequirement): CompiledExpr | undefined {
  const values = r.values ?? [];
  switch (r.operator) {
    case 'In':
    case 'NotIn':
      if (values.length === 0) return undefined;
      return { key: r.key, op: r.operator, values: new Set(values) };
    case 'Exists':
    case 'DoesNotExist':
      if (values.length !== 0) return undefined;
      return { key: r.key, op: r.operator, values: new Set() };
    case 'Gt':
    case 'Lt': {
      if (values.length !== 1) return undefined;
      const num = parseInt64(values[0]);
      if (num === undefined) return undefined;
      return { key: r.key, op: r.operator, values: new Set(), num };
    }
    default:
      return undefined;
  }
}

function compileField(r: NodeSelectorRequirement): CompiledField | undefined {
  const values = r.values ?? [];
  if ((r.operator !== 'In' && r.operator !== 'NotIn') || values.length !== 1) return undefined;
  return { key: r.key, op: r.operator, value: values[0] };
}

export function compileTerm(t: NodeSelectorTerm): CompiledTerm {
  const exprs: CompiledExpr[] = [];
  const fields: CompiledField[] = [];
  let invalid = false;
  for (const r of t.matchExpressions ?? []) {
    const c = compileExpr(r);
    if (c) exprs.push(c);
    else invalid = true;
  }
  for (const r of t.matchFields ?? []) {
    const c = compileField(r);
    if (c) fields.push(c);
    else invalid = true;
  }
  const empty = (t.matchExpressions ?? []).length === 0 && (t.matchFields ?? []).length === 0;
  return { exprs, fields, empty, invalid };
}

function exprMatches(e: CompiledExpr, labels: Record<string, string>): boolean {
  const has = Object.prototype.hasOwnProperty.call(labels, e.key);
  const v = has ? labels[e.key] : undefined;
  switch (e.op) {
    case 'In':
      return v !== undefined && e.values.has(v);
    case 'NotIn':
      return v === undefined || !e.values.has(v);
    case 'Exists':
      return has;
    case 'DoesNotExist':
      return !has;
    case 'Gt':
    case 'Lt': {
      if (v === undefined) return false;
      const n = parseInt64(v);
      if (n === undefined) return false;
      return e.op === 'Gt' ? n > e.num! : n < e.num!;
    }
    default:
      return false;
  }
}

/** A term against a node's labels and (for matchFields) its name; nodeName undefined = labels only. */
export function termMatches(t: CompiledTerm, labels: Record<string, string>, nodeName: string | undefined): boolean {
  if (t.empty || t.invalid) return false;
  for (const e of t.exprs) if (!exprMatches(e, labels)) return false;
  for (const f of t.fields) {
    const v = f.key === 'metadata.name' && nodeName !== undefined ? nodeName : '';
    if (f.op === 'In' ? v !== f.value : v === f.value) return false;
  }
  return true;
}

/** nodeSelectorTerms are ORed; no terms match no node. */
export function termsMatch(terms: readonly CompiledTerm[], labels: Record<string, string>, nodeName: string | undefined): boolean {
  for (const t of terms) if (termMatches(t, labels, nodeName)) return true;
  return false;
}

export function compileNodeSelector(sel: NodeSelector | undefined): CompiledTerm[] | undefined {
  if (!sel) return undefined;
  return (sel.nodeSelectorTerms ?? []).map(compileTerm);
}

// ---------------------------------------------------------------------------------------------
// Volumes

/** What the scheduler knows of one of the pod's claims. */
export type ClaimInfo =
  /** Bound to a PV: pv null when that PV does not exist. */
  | { state: 'bound'; pv: PersistentVolume | null }
  /** Bound to a PV with this node affinity (spec.nodeAffinity.required; undefined = none). */
  | { state: 'bound'; nodeAffinity: NodeSelector | undefined }
  | { state: 'unbound'; bindingMode: 'Immediate' | 'WaitForFirstConsumer' }
  | { state: 'missing' }
  | { state: 'deleting' };

/** The names of the claims a pod uses, in volume order (generic ephemeral volumes included). */
export function podClaimNames(pod: Pod): string[] {
  const out: string[] = [];
  for (const v of pod.spec?.volumes ?? []) {
    if (v.persistentVolumeClaim?.claimName) out.push(v.persistentVolumeClaim.claimName);
    else if (v.ephemeral) out.push(`${pod.metadata.name ?? ''}-${v.name}`);
  }
  return out;
}

/** ClaimInfo from the objects (a PVC is bound once spec.volumeName is set). */
export function claimInfoOf(
  pvc: PersistentVolumeClaim | undefined,
  getPV: (name: string) => PersistentVolume | undefined,
  getClass: (name: string) => StorageClass | undefined,
): ClaimInfo {
  if (!pvc) return { state: 'missing' };
  if (pvc.metadata.deletionTimestamp) return { state: 'deleting' };
  const volumeName = pvc.spec?.volumeName;
  if (volumeName) return { state: 'bound', pv: getPV(volumeName) ?? null };
  const className = pvc.spec?.storageClassName ?? pvc.metadata.annotations?.['volume.beta.kubernetes.io/storage-class'] ?? '';
  const sc = className ? getClass(className) : undefined;
  return { state: 'unbound', bindingMode: sc?.volumeBindingMode === 'WaitForFirstConsumer' ? 'WaitForFirstConsumer' : 'Immediate' };
}

interface CompiledClaim {
  name: string;
  info: ClaimInfo;
  /** Bound claims: the PV's node affinity terms (undefined = any node). */
  terms?: CompiledTerm[];
  pvMissing?: boolean;
}

function compileClaim(name: string, info: ClaimInfo): CompiledClaim {
  if (info.state !== 'bound') return { name, info };
  if ('pv' in info) {
    if (!info.pv) return { name, info, pvMissing: true };
    return { name, info, terms: compileNodeSelector(info.pv.spec?.nodeAffinity?.required) };
  }
  return { name, info, terms: compileNodeSelector(info.nodeAffinity) };
}

// ---------------------------------------------------------------------------------------------
// The per-attempt context

export interface SchedulingContext {
  pod: Pod;
  info: PodInfo;
  /** spec.nodeName ('' = none). */
  nodeName: string;
  nodeSelector: [string, string][];
  /** Required node affinity terms (undefined = none). */
  required: CompiledTerm[] | undefined;
  preferred: { weight: number; term: CompiledTerm }[];
  tolerations: Toleration[];
  /** Tolerations with effect '' or PreferNoSchedule (for the taint score). */
  preferNoScheduleTolerations: Toleration[];
  toleratesUnschedulable: boolean;
  claims: CompiledClaim[];
  preemptionPolicy: string;
}

/**
 * Everything the filters and scores need from the pod. claims: what is known of each claim the
 * pod uses, by claim name (a claim of the pod missing from the map counts as not found).
 */
export function newSchedulingContext(pod: Pod, claims?: ReadonlyMap<string, ClaimInfo>, info?: PodInfo): SchedulingContext {
  const spec: Partial<PodSpec> = pod.spec ?? {};
  const na = spec.affinity?.nodeAffinity;
  const tolerations = spec.tolerations ?? [];
  const claimNames = podClaimNames(pod);
  return {
    pod,
    info: info ?? podInfoOf(pod),
    nodeName: spec.nodeName ?? '',
    nodeSelector: Object.entries(spec.nodeSelector ?? {}),
    required: compileNodeSelector(na?.requiredDuringSchedulingIgnoredDuringExecution),
    preferred: (na?.preferredDuringSchedulingIgnoredDuringExecution ?? []).map((p) => ({ weight: p.weight, term: compileTerm(p.preference) })),
    tolerations,
    preferNoScheduleTolerations: tolerations.filter((t) => !t.effect || t.effect === 'PreferNoSchedule'),
    toleratesUnschedulable: tolerationsTolerateTaint(tolerations, { key: TAINT_NODE_UNSCHEDULABLE, effect: 'NoSchedule' }),
    claims: claimNames.map((n) => compileClaim(n, claims?.get(n) ?? { state: 'missing' })),
    preemptionPolicy: spec.preemptionPolicy ?? 'PreemptLowerPriority',
  };
}

// ---------------------------------------------------------------------------------------------
// PreFilter

export interface PreFilterResult {
  /** Only these nodes can fit (required affinity on metadata.name); undefined = all nodes. */
  nodeNames?: Set<string>;
  /** Plugins that narrowed the node set (for the "didn't satisfy plugin(s)" reason). */
  narrowedBy: string[];
  /** The pod cannot be scheduled anywhere. */
  status?: FilterStatus;
}

/** NodeAffinity PreFilter: the node names required by matchFields metadata.name In. */
export function nodeAffinityPreFilter(ctx: SchedulingContext): { nodeNames?: Set<string>; status?: FilterStatus } {
  const terms = ctx.pod.spec?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms;
  if (!terms || terms.length === 0) return {};
  let names: Set<string> | undefined;
  for (const t of terms) {
    let termNames: Set<string> | undefined;
    for (const r of t.matchFields ?? []) {
      if (r.key !== 'metadata.name' || r.operator !== 'In') continue;
      const s = new Set(r.values ?? []);
      termNames = termNames ? new Set([...termNames].filter((n) => s.has(n))) : s;
    }
    // A term without a metadata.name requirement may match any node: no narrowing.
    if (!termNames) return {};
    names = names ? new Set([...names, ...termNames]) : termNames;
  }
  if (names && names.size === 0) return { status: reject(PLUGIN.NodeAffinity, 'UnschedulableAndUnresolvable', REASON.affinityConflict) };
  return { nodeNames: names };
}

/** VolumeBinding PreFilter: every claim exists and is not being deleted; none is unbound Immediate. */
export function volumePreFilter(ctx: SchedulingContext): FilterStatus | undefined {
  if (ctx.claims.length === 0) return undefined;
  for (const c of ctx.claims) {
    if (c.info.state === 'missing') return reject(PLUGIN.VolumeBinding, 'UnschedulableAndUnresolvable', `persistentvolumeclaim "${c.name}" not found`);
    if (c.info.state === 'deleting') return reject(PLUGIN.VolumeBinding, 'UnschedulableAndUnresolvable', `persistentvolumeclaim "${c.name}" is being deleted`);
  }
  if (ctx.claims.some((c) => c.info.state === 'unbound' && c.info.bindingMode === 'Immediate')) {
    return reject(PLUGIN.VolumeBinding, 'UnschedulableAndUnresolvable', REASON.unboundImmediate);
  }
  return undefined;
}

export function runPreFilters(ctx: SchedulingContext): PreFilterResult {
  const na = nodeAffinityPreFilter(ctx);
  if (na.status) return { status: na.status, narrowedBy: [] };
  const vol = volumePreFilter(ctx);
  if (vol) return { status: vol, narrowedBy: [] };
  return na.nodeNames ? { nodeNames: na.nodeNames, narrowedBy: [PLUGIN.NodeAffinity] } : { narrowedBy: [] };
}

// ---------------------------------------------------------------------------------------------
// Filters

export type Filter = (ctx: SchedulingContext, ni: NodeInfo) => FilterStatus | null;

export const nodeUnschedulableFilter: Filter = (ctx, ni) => {
  if (!ni.unschedulable || ctx.toleratesUnschedulable) return null;
  return reject(PLUGIN.NodeUnschedulable, 'UnschedulableAndUnresolvable', REASON.unschedulable);
};

export const nodeNameFilter: Filter = (ctx, ni) => {
  if (!ctx.nodeName || ctx.nodeName === ni.name) return null;
  return reject(PLUGIN.NodeName, 'UnschedulableAndUnresolvable', REASON.nodeName);
};

export const taintTolerationFilter: Filter = (ctx, ni) => {
  const taint = findUntoleratedTaint(ni.taints, ctx.tolerations);
  return taint ? reject(PLUGIN.TaintToleration, 'UnschedulableAndUnresolvable', untoleratedTaintReason(taint)) : null;
};

export const nodeAffinityFilter: Filter = (ctx, ni) => {
  let ok = true;
  for (const [k, v] of ctx.nodeSelector) {
    if (ni.labels[k] !== v || !Object.prototype.hasOwnProperty.call(ni.labels, k)) {
      ok = false;
      break;
    }
  }
  if (ok && ctx.required) ok = termsMatch(ctx.required, ni.labels, ni.name);
  return ok ? null : reject(PLUGIN.NodeAffinity, 'UnschedulableAndUnresolvable', REASON.nodeAffinity);
};

export const nodePortsFilter: Filter = (ctx, ni) => {
  for (const p of ctx.info.hostPorts) {
    if (ni.usedPorts.conflicts(p)) return reject(PLUGIN.NodePorts, 'Unschedulable', REASON.ports);
  }
  return null;
};

/** NodeResourcesFit: pods count first, then cpu, memory, ephemeral-storage, scalar resources. */
export function insufficientResources(ctx: SchedulingContext, ni: NodeInfo): string[] {
  const out: string[] = [];
  if (ni.pods.size + 1 > ni.allowedPodNumber) out.push(REASON.tooManyPods);
  const r = ctx.info.requests;
  if (r.milliCPU === 0 && r.memory === 0 && r.ephemeralStorage === 0 && r.scalar.size === 0) return out;
  const a = ni.allocatable;
  const u = ni.requested;
  if (r.milliCPU > 0 && r.milliCPU > a.milliCPU - u.milliCPU) out.push(insufficientReason('cpu'));
  if (r.memory > 0 && r.memory > a.memory - u.memory) out.push(insufficientReason('memory'));
  if (r.ephemeralStorage > 0 && r.ephemeralStorage > a.ephemeralStorage - u.ephemeralStorage) out.push(insufficientReason('ephemeral-storage'));
  for (const [name, q] of r.scalar) {
    if (q === 0) continue;
    if (q > (a.scalar.get(name) ?? 0) - (u.scalar.get(name) ?? 0)) out.push(insufficientReason(name));
  }
  return out;
}

export const nodeResourcesFitFilter: Filter = (ctx, ni) => {
  const reasons = insufficientResources(ctx, ni);
  return reasons.length ? reject(PLUGIN.NodeResourcesFit, 'Unschedulable', ...reasons) : null;
};

/** VolumeBinding Filter: a bound claim's PV must exist and its node affinity match the node's labels. */
export const volumeBindingFilter: Filter = (ctx, ni) => {
  for (const c of ctx.claims) {
    if (c.info.state !== 'bound') continue;
    if (c.pvMissing) return reject(PLUGIN.VolumeBinding, 'UnschedulableAndUnresolvable', REASON.pvNotExist);
    // Kubernetes checks a PV's node affinity against the node's labels only (CheckNodeAffinity).
    if (c.terms && !termsMatch(c.terms, ni.labels, undefined)) {
      return reject(PLUGIN.VolumeBinding, 'UnschedulableAndUnresolvable', REASON.volumeNodeConflict);
    }
  }
  return null;
};

/** The filters in kube-scheduler's default order. */
export const FILTERS: readonly Filter[] = [
  nodeUnschedulableFilter,
  nodeNameFilter,
  taintTolerationFilter,
  nodeAffinityFilter,
  nodePortsFilter,
  nodeResourcesFitFilter,
  volumeBindingFilter,
];

/** The first filter that rejects the node, or null when the pod fits. */
export function runFilters(ctx: SchedulingContext, ni: NodeInfo): FilterStatus | null {
  for (const f of FILTERS) {
    const s = f(ctx, ni);
    if (s) return s;
  }
  return null;
}
