// A Job's podFailurePolicy, matched against a failed pod as the Kubernetes job controller
// matches it (pkg/controller/job/pod_failure_policy.go). The rules are tried in order; the first
// that matches decides:
// - onExitCodes: a container (app containers first, then init containers; one named by
//   containerName if given) that terminated with a non-zero exit code that is In / NotIn the
//   rule's values;
// - onPodConditions: a condition of the pod with the pattern's type and status (status defaults
//   to True in the registry), e.g. DisruptionTarget for an evicted or preempted pod.
// Actions: FailJob fails the whole job at once (a FailureTarget condition with reason
// PodFailurePolicy and the message below); Ignore does not count the failure against
// backoffLimit; Count counts it as any failure does; FailIndex (only valid with
// backoffLimitPerIndex) counts it and fails the pod's index at once (per-index.ts). No rule
// matching counts the failure.
import type { KubeObject } from '../../registry/types.ts';
import { asArray, asRecord, isRecord } from '../../registry/validation.ts';

type Obj = Record<string, unknown>;

export type PodFailurePolicyAction = 'FailJob' | 'Ignore' | 'Count' | 'FailIndex';

export interface PodFailurePolicyMatch {
  /** The job's failure message, when a FailJob rule matched. */
  failJobMessage?: string;
  /** Whether the failure counts against backoffLimit (false only for Ignore). */
  countFailed: boolean;
  /** The action of the rule that matched, if one did. */
  action?: PodFailurePolicyAction;
}

/** The job's podFailurePolicy rules, or undefined when it has no policy. */
function rulesOf(job: KubeObject): Obj[] | undefined {
  const pfp = asRecord(job.spec).podFailurePolicy;
  if (!isRecord(pfp)) return undefined;
  return asArray(pfp.rules).filter(isRecord);
}

export function hasPodFailurePolicy(job: KubeObject): boolean {
  return rulesOf(job) !== undefined;
}

/** The first terminated container with a non-zero exit code matching the requirement. */
function matchingContainer(statuses: unknown, req: Obj): { name: string; exitCode: number } | undefined {
  const name = typeof req.containerName === 'string' && req.containerName !== '' ? req.containerName : undefined;
  const values = asArray(req.values).filter((v): v is number => typeof v === 'number');
  for (const cs of asArray(statuses).filter(isRecord)) {
    const terminated = asRecord(cs.state).terminated;
    if (!isRecord(terminated)) continue;
    if (name !== undefined && cs.name !== name) continue;
    const exitCode = typeof terminated.exitCode === 'number' ? terminated.exitCode : 0;
    if (exitCode === 0) continue;
    const listed = values.includes(exitCode);
    if ((req.operator === 'In' && listed) || (req.operator === 'NotIn' && !listed)) return { name: String(cs.name ?? ''), exitCode };
  }
  return undefined;
}

function matchOnExitCodes(pod: KubeObject, req: Obj): { name: string; exitCode: number } | undefined {
  const st = asRecord(pod.status);
  return matchingContainer(st.containerStatuses, req) ?? matchingContainer(st.initContainerStatuses, req);
}

function matchOnPodConditions(pod: KubeObject, patterns: Obj[]): string | undefined {
  for (const c of asArray(asRecord(pod.status).conditions).filter(isRecord)) {
    for (const p of patterns) if (c.type === p.type && c.status === (p.status ?? 'True')) return String(c.type);
  }
  return undefined;
}

/** What the job's podFailurePolicy says of a failed pod (matchPodFailurePolicy). */
export function matchPodFailurePolicy(job: KubeObject, pod: KubeObject): PodFailurePolicyMatch {
  const rules = rulesOf(job);
  if (!rules) return { countFailed: true };
  const ns = pod.metadata.namespace ?? '';
  const podName = pod.metadata.name ?? '';
  for (let i = 0; i < rules.length; i++) {
    const rule = rules[i];
    const action = rule.action;
    if (action !== 'FailJob' && action !== 'Ignore' && action !== 'Count' && action !== 'FailIndex') continue;
    let failJobMessage: string | undefined;
    if (isRecord(rule.onExitCodes)) {
      const c = matchOnExitCodes(pod, rule.onExitCodes);
      if (!c) continue;
      failJobMessage = `Container ${c.name} for pod ${ns}/${podName} failed with exit code ${c.exitCode} matching FailJob rule at index ${i}`;
    } else if (Array.isArray(rule.onPodConditions)) {
      const type = matchOnPodConditions(pod, rule.onPodConditions.filter(isRecord));
      if (type === undefined) continue;
      failJobMessage = `Pod ${ns}/${podName} has condition ${type} matching FailJob rule at index ${i}`;
    } else continue;
    if (action === 'Ignore') return { countFailed: false, action };
    if (action === 'Count' || action === 'FailIndex') return { countFailed: true, action };
    return { failJobMessage, countFailed: true, action };
  }
  return { countFailed: true };
}

/** The failure message of the first failed pod a FailJob rule matches (getFailJobMessage). */
export function failJobMessage(job: KubeObject, failedPods: KubeObject[]): string | undefined {
  if (!hasPodFailurePolicy(job)) return undefined;
  for (const pod of failedPods) {
    const m = matchPodFailurePolicy(job, pod).failJobMessage;
    if (m !== undefined) return m;
  }
  return undefined;
}
