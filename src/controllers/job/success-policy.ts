// An Indexed Job's successPolicy, matched as the Kubernetes job controller matches it
// (pkg/controller/job/success_policy.go): the rules are tried in order, and the first that the
// succeeded indexes satisfy declares the job succeeded (SuccessCriteriaMet, reason
// SuccessPolicy, "Matched rules at index N"); its remaining pods are then terminated and the
// job becomes Complete. A rule is satisfied
// - with succeededIndexes only: when every index it lists succeeded;
// - with succeededIndexes and succeededCount: when every listed index succeeded, or at least
//   succeededCount of them did;
// - with succeededCount only: when at least that many indexes succeeded.
import type { KubeObject } from '../../registry/types.ts';
import { asArray, asRecord, isRecord } from '../../registry/validation.ts';
import { parseIndexes, totalIndexes, type OrderedIntervals } from './indexes.ts';

export const SUCCESS_POLICY_REASON = 'SuccessPolicy';

/** How many indexes of `rule` are among `succeeded` (both ordered and disjoint). */
function overlap(rule: OrderedIntervals, succeeded: OrderedIntervals): number {
  let n = 0;
  let r = 0;
  let s = 0;
  while (r < rule.length && s < succeeded.length) {
    const o = Math.min(rule[r].last, succeeded[s].last) - Math.max(rule[r].first, succeeded[s].first) + 1;
    if (o > 0) n += o;
    if (succeeded[s].last < rule[r].last) s++;
    else r++;
  }
  return n;
}

/** The condition message when the job's successPolicy is met by these succeeded indexes. */
export function matchSuccessPolicy(job: KubeObject, completions: number, succeeded: OrderedIntervals): string | undefined {
  const policy = asRecord(job.spec).successPolicy;
  if (!isRecord(policy) || succeeded.length === 0) return undefined;
  const rules = asArray(policy.rules);
  for (let i = 0; i < rules.length; i++) {
    const rule = asRecord(rules[i]);
    const count = typeof rule.succeededCount === 'number' ? rule.succeededCount : undefined;
    if (typeof rule.succeededIndexes === 'string') {
      const required = parseIndexes(rule.succeededIndexes, completions);
      if (required.length === 0) continue;
      const have = overlap(required, succeeded);
      if (have === totalIndexes(required) || (count !== undefined && have >= count)) return `Matched rules at index ${i}`;
    } else if (count !== undefined && totalIndexes(succeeded) >= count) {
      return `Matched rules at index ${i}`;
    }
  }
  return undefined;
}
