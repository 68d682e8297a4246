// The Deployment's status as the controller reads and writes it, and Kubernetes' progress
// predicates over it (DeploymentComplete, DeploymentProgressing, DeploymentTimedOut).
import type { KubeObject } from '../../registry/types.ts';
import {
  NEW_RS_AVAILABLE_REASON,
  PROGRESSING,
  TIMED_OUT_REASON,
  conditionsOf,
  generationOf,
  getCondition,
  progressDeadlineSeconds,
  specReplicas,
  statusOf,
  type DeploymentCondition,
} from './util.ts';

type Obj = Record<string, unknown>;

/** apps/v1 DeploymentStatus as the controller writes it (zero counts omitted, as Go's omitempty). */
export interface DeploymentStatus {
  observedGeneration?: number;
  replicas?: number;
  updatedReplicas?: number;
  readyReplicas?: number;
  availableReplicas?: number;
  unavailableReplicas?: number;
  conditions?: DeploymentCondition[];
  collisionCount?: number;
}

export function clone<T>(v: T): T {
  return structuredClone(v);
}

/** The status as written: zero counts and empty lists left out. */
export function compactStatus(s: DeploymentStatus): DeploymentStatus {
  const out: DeploymentStatus = {};
  for (const k of ['observedGeneration', 'replicas', 'updatedReplicas', 'readyReplicas', 'availableReplicas', 'unavailableReplicas'] as const) {
    const v = s[k];
    if (typeof v === 'number' && v !== 0) out[k] = v;
  }
  if (s.conditions && s.conditions.length > 0) out.conditions = s.conditions;
  if (s.collisionCount !== undefined) out.collisionCount = s.collisionCount;
  return out;
}

export function sameStatus(a: DeploymentStatus, b: DeploymentStatus): boolean {
  return JSON.stringify(sortedKeys(compactStatus(a))) === JSON.stringify(sortedKeys(compactStatus(b)));
}

function sortedKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortedKeys);
  if (v && typeof v === 'object') {
    const o = v as Obj;
    return Object.fromEntries(
      Object.keys(o)
        .filter((k) => o[k] !== undefined)
        .sort()
        .map((k) => [k, sortedKeys(o[k])]),
    );
  }
  return v;
}

export function readStatus(d: KubeObject): DeploymentStatus {
  const s = statusOf(d);
  const n = (k: string): number | undefined => (typeof s[k] === 'number' ? (s[k] as number) : undefined);
  const out: DeploymentStatus = {
    observedGeneration: n('observedGeneration'),
    replicas: n('replicas'),
    updatedReplicas: n('updatedReplicas'),
    readyReplicas: n('readyReplicas'),
    availableReplicas: n('availableReplicas'),
    unavailableReplicas: n('unavailableReplicas'),
    conditions: clone(conditionsOf(d)),
  };
  if (typeof s.collisionCount === 'number') out.collisionCount = s.collisionCount;
  return out;
}

/** DeploymentComplete. */
export function deploymentComplete(d: KubeObject, s: DeploymentStatus): boolean {
  const n = specReplicas(d);
  return (s.updatedReplicas ?? 0) === n && (s.replicas ?? 0) === n && (s.availableReplicas ?? 0) === n && (s.observedGeneration ?? 0) >= generationOf(d);
}

/** DeploymentProgressing: more updated, ready or available replicas, or fewer old ones. */
export function deploymentProgressing(old: DeploymentStatus, s: DeploymentStatus): boolean {
  const oldOld = (old.replicas ?? 0) - (old.updatedReplicas ?? 0);
  const newOld = (s.replicas ?? 0) - (s.updatedReplicas ?? 0);
  return (s.updatedReplicas ?? 0) > (old.updatedReplicas ?? 0) || newOld < oldOld || (s.readyReplicas ?? 0) > (old.readyReplicas ?? 0) || (s.availableReplicas ?? 0) > (old.availableReplicas ?? 0);
}

/** DeploymentTimedOut: Progressing last updated more than progressDeadlineSeconds ago. */
export function deploymentTimedOut(d: KubeObject, s: DeploymentStatus, nowMs: number): boolean {
  const pds = progressDeadlineSeconds(d);
  if (pds === undefined) return false;
  const c = getCondition(s.conditions, PROGRESSING);
  if (!c) return false;
  if (c.reason === NEW_RS_AVAILABLE_REASON) return false;
  if (c.reason === TIMED_OUT_REASON) return true;
  const from = Date.parse(c.lastUpdateTime ?? '');
  if (Number.isNaN(from)) return false;
  return from + pds * 1000 < nowMs;
}
