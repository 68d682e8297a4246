// The taints the node lifecycle controller owns, and how a node's taint list is brought to the
// wanted set (Kubernetes' doNoScheduleTaintingPass and the NoExecute half of
// processTaintBaseEviction, v1.32):
//
//   Ready False            → node.kubernetes.io/not-ready      NoSchedule + NoExecute
//   Ready Unknown          → node.kubernetes.io/unreachable    NoSchedule + NoExecute
//   Ready True / missing   → neither
//   MemoryPressure True    → node.kubernetes.io/memory-pressure     NoSchedule
//   DiskPressure True      → node.kubernetes.io/disk-pressure       NoSchedule
//   PIDPressure True       → node.kubernetes.io/pid-pressure        NoSchedule
//   NetworkUnavailable True→ node.kubernetes.io/network-unavailable NoSchedule
//   spec.unschedulable     → node.kubernetes.io/unschedulable       NoSchedule (kubectl cordon)
//
// Taints are matched by key and effect (the value is ignored, as Kubernetes' TaintSetDiff does);
// every other taint on the node (user taints, the agent's registration taints with other keys)
// is left exactly as it is. Added taints carry timeAdded (SwapNodeControllerTaint sets it on
// every taint it adds).
import type { Node, Taint } from '../../client/types.ts';

export const TAINT_NOT_READY = 'node.kubernetes.io/not-ready';
export const TAINT_UNREACHABLE = 'node.kubernetes.io/unreachable';
export const TAINT_UNSCHEDULABLE = 'node.kubernetes.io/unschedulable';
export const TAINT_MEMORY_PRESSURE = 'node.kubernetes.io/memory-pressure';
export const TAINT_DISK_PRESSURE = 'node.kubernetes.io/disk-pressure';
export const TAINT_PID_PRESSURE = 'node.kubernetes.io/pid-pressure';
export const TAINT_NETWORK_UNAVAILABLE = 'node.kubernetes.io/network-unavailable';
/** Non-graceful node shutdown: an administrator's statement that the node is down for good. */
export const TAINT_OUT_OF_SERVICE = 'node.kubernetes.io/out-of-service';

export type TaintEffect = 'NoSchedule' | 'PreferNoSchedule' | 'NoExecute';
export type ConditionStatus = 'True' | 'False' | 'Unknown';

/** A taint identity: key and effect. */
export interface TaintKey {
  key: string;
  effect: TaintEffect;
}

/** Condition type → the NoSchedule taint its status maps to (nodeConditionToTaintKeyStatusMap). */
const CONDITION_TAINTS: Record<string, Partial<Record<ConditionStatus, string>>> = {
  Ready: { False: TAINT_NOT_READY, Unknown: TAINT_UNREACHABLE },
  MemoryPressure: { True: TAINT_MEMORY_PRESSURE },
  DiskPressure: { True: TAINT_DISK_PRESSURE },
  PIDPressure: { True: TAINT_PID_PRESSURE },
  NetworkUnavailable: { True: TAINT_NETWORK_UNAVAILABLE },
};

const NO_SCHEDULE_KEYS = new Set([
  TAINT_NOT_READY,
  TAINT_UNREACHABLE,
  TAINT_MEMORY_PRESSURE,
  TAINT_DISK_PRESSURE,
  TAINT_PID_PRESSURE,
  TAINT_NETWORK_UNAVAILABLE,
  TAINT_UNSCHEDULABLE,
]);
const NO_EXECUTE_KEYS = new Set([TAINT_NOT_READY, TAINT_UNREACHABLE]);

/** Whether this controller owns the taint (adds and removes it). */
export function isManagedTaint(t: TaintKey | Taint): boolean {
  if (t.effect === 'NoSchedule') return NO_SCHEDULE_KEYS.has(t.key);
  if (t.effect === 'NoExecute') return NO_EXECUTE_KEYS.has(t.key);
  return false;
}

export function sameTaint(a: TaintKey | Taint, b: TaintKey | Taint): boolean {
  return a.key === b.key && a.effect === b.effect;
}

export function taintsOf(node: Node): Taint[] {
  return Array.isArray(node.spec?.taints) ? node.spec.taints : [];
}

/** The Ready condition's status, or undefined when the node has none. */
export function readyStatusOf(node: Node): ConditionStatus | undefined {
  const c = (node.status?.conditions ?? []).find((x) => x.type === 'Ready');
  return c ? (c.status as ConditionStatus) : undefined;
}

/**
 * The controller-owned taints a node should carry. `noExecute: false` leaves out the NoExecute
 * pair (full-disruption mode: when no node is Ready, nothing is evicted).
 */
export function wantedTaints(node: Node, opts: { noExecute: boolean }): TaintKey[] {
  const out: TaintKey[] = [];
  for (const c of node.status?.conditions ?? []) {
    const key = CONDITION_TAINTS[c.type]?.[c.status as ConditionStatus];
    if (key) out.push({ key, effect: 'NoSchedule' });
  }
  if (node.spec?.unschedulable === true) out.push({ key: TAINT_UNSCHEDULABLE, effect: 'NoSchedule' });
  if (opts.noExecute) {
    const ready = readyStatusOf(node);
    if (ready === 'False') out.push({ key: TAINT_NOT_READY, effect: 'NoExecute' });
    if (ready === 'Unknown') out.push({ key: TAINT_UNREACHABLE, effect: 'NoExecute' });
  }
  return out;
}

export interface TaintChange {
  /** The node's complete new taint list. */
  taints: Taint[];
  added: Taint[];
  removed: Taint[];
}

/**
 * The node's taint list with the controller-owned taints made equal to `wanted`: owned taints
 * not wanted are removed, wanted ones missing are appended with timeAdded = `timeAdded`, and
 * everything else keeps its place. Undefined when nothing changes.
 */
export function reconcileTaints(current: readonly Taint[], wanted: readonly TaintKey[], timeAdded: string): TaintChange | undefined {
  const removed = current.filter((t) => isManagedTaint(t) && !wanted.some((w) => sameTaint(w, t)));
  const added: Taint[] = [];
  for (const w of wanted) {
    if (current.some((t) => sameTaint(t, w)) || added.some((t) => sameTaint(t, w))) continue;
    added.push({ key: w.key, effect: w.effect, timeAdded });
  }
  if (removed.length === 0 && added.length === 0) return undefined;
  return { taints: [...current.filter((t) => !removed.includes(t)), ...added], added, removed };
}

export function taintString(t: TaintKey | Taint): string {
  const value = 'value' in t && t.value ? `=${t.value}` : '';
  return `${t.key}${value}:${t.effect}`;
}
