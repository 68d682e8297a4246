// policy/v1 PodDisruptionBudget: validation (spec, status) and printer columns, as Kubernetes
// v1.32 has them (pkg/apis/policy/validation, pkg/registry/policy/poddisruptionbudget,
// pkg/printers/internalversion):
// - at most one of minAvailable and maxUnavailable; each a non-negative integer or a percentage
//   of at most 100%; the selector a valid label selector (policy/v1: an empty selector selects
//   every pod of the namespace, a missing one none); unhealthyPodEvictionPolicy IfHealthyBudget
//   or AlwaysAllow;
// - the spec may change after creation (policy/v1 allows it); a change bumps the generation,
//   and the eviction subresource then refuses evictions until the disruption controller has
//   observed it;
// - status starts at zero (the disruption controller fills it in); its counters are
//   non-negative and its conditions are metav1.Conditions;
// - the table: NAME, MIN AVAILABLE, MAX UNAVAILABLE (N/A for the one not set), ALLOWED
//   DISRUPTIONS, AGE. Kubernetes leaves budgets out of the `all` category, and so does kennel.
import type { FieldCause, KubeObject, ResourceDef } from './types.ts';
import {
  asArray,
  asRecord,
  duplicate,
  invalid,
  isRecord,
  notMoreThan100PercentCauses,
  notSupported,
  positiveIntOrPercentCauses,
  qualifiedNameErrors,
  requiredDetail,
  tooLong,
  validateLabelSelector,
} from './validation.ts';
import { ageColumn, nonNegativeFields, num } from './workloads.ts';

export const UNHEALTHY_POD_EVICTION_POLICIES = ['AlwaysAllow', 'IfHealthyBudget'];

const CONDITION_STATUSES = ['False', 'True', 'Unknown'];
const CONDITION_REASON_RE = /^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$/;
const CONDITION_REASON_MSG =
  "a condition reason must start with alphabetic character, optionally followed by a string of alphanumeric characters or '_,:', and must end with an alphanumeric character or '_' (e.g. 'my_name',  or 'MY_NAME',  or 'MyName',  or 'ReasonA,ReasonB',  or 'ReasonA:ReasonB', regex used for validation is '[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?')";
const MAX_REASON_LEN = 1024;
const MAX_MESSAGE_LEN = 32 * 1024;

/** An IntOrString as kubectl prints it (`3`, `50%`), or N/A when the field is not set. */
export function intOrStringCell(v: unknown): string {
  if (v === undefined || v === null) return 'N/A';
  return String(v);
}

function validateIntOrPercent(v: unknown, field: string): FieldCause[] {
  if (v === undefined || v === null) return [];
  const out = positiveIntOrPercentCauses(v, field);
  out.push(...notMoreThan100PercentCauses(v, field));
  return out;
}

function prepareBudgetForCreate(obj: KubeObject): void {
  // The disruption controller fills the status in; the counters are always serialized.
  obj.status = { disruptionsAllowed: 0, currentHealthy: 0, desiredHealthy: 0, expectedPods: 0 };
}

function validateBudget(obj: KubeObject): FieldCause[] {
  const spec = asRecord(obj.spec);
  const out: FieldCause[] = [];
  const min = spec.minAvailable;
  const max = spec.maxUnavailable;
  if (min !== undefined && min !== null && max !== undefined && max !== null) {
    out.push(invalid('spec', spec, 'minAvailable and maxUnavailable cannot be both set'));
  }
  out.push(...validateIntOrPercent(min, 'spec.minAvailable'));
  out.push(...validateIntOrPercent(max, 'spec.maxUnavailable'));
  out.push(...validateLabelSelector(spec.selector, 'spec.selector'));
  const policy = spec.unhealthyPodEvictionPolicy;
  if (policy !== undefined && policy !== null && !UNHEALTHY_POD_EVICTION_POLICIES.includes(policy as string)) {
    out.push(notSupported('spec.unhealthyPodEvictionPolicy', policy, UNHEALTHY_POD_EVICTION_POLICIES));
  }
  return out;
}

/** metav1 ValidateConditions: unique types, each a valid metav1.Condition. */
export function validateConditions(conditions: unknown, field: string): FieldCause[] {
  const out: FieldCause[] = [];
  const seen = new Set<string>();
  asArray(conditions).forEach((c, i) => {
    const f = `${field}[${i}]`;
    const cond = asRecord(c);
    const type = typeof cond.type === 'string' ? cond.type : '';
    if (seen.has(type)) out.push(duplicate(`${f}.type`, type));
    seen.add(type);
    for (const e of qualifiedNameErrors(type)) out.push(invalid(`${f}.type`, type, e));
    if (!CONDITION_STATUSES.includes(cond.status as string)) out.push(notSupported(`${f}.status`, cond.status ?? '', CONDITION_STATUSES));
    if (typeof cond.observedGeneration === 'number' && cond.observedGeneration < 0) {
      out.push(invalid(`${f}.observedGeneration`, cond.observedGeneration, 'must be greater than or equal to zero'));
    }
    if (typeof cond.lastTransitionTime !== 'string' || cond.lastTransitionTime === '') out.push(requiredDetail(`${f}.lastTransitionTime`, 'must be set'));
    const reason = typeof cond.reason === 'string' ? cond.reason : '';
    if (reason === '') out.push(requiredDetail(`${f}.reason`, 'must be set'));
    else {
      if (!CONDITION_REASON_RE.test(reason)) out.push(invalid(`${f}.reason`, reason, CONDITION_REASON_MSG));
      if (reason.length > MAX_REASON_LEN) out.push(tooLong(`${f}.reason`, MAX_REASON_LEN));
    }
    if (typeof cond.message === 'string' && cond.message.length > MAX_MESSAGE_LEN) out.push(tooLong(`${f}.message`, MAX_MESSAGE_LEN));
  });
  return out;
}

function validateBudgetStatus(obj: KubeObject): FieldCause[] {
  const status = asRecord(obj.status);
  const out = validateConditions(status.conditions, 'status.conditions');
  out.push(...nonNegativeFields(status, 'status', ['disruptionsAllowed', 'currentHealthy', 'desiredHealthy', 'expectedPods']));
  const disrupted = status.disruptedPods;
  if (disrupted !== undefined && disrupted !== null && !isRecord(disrupted)) {
    out.push(invalid('status.disruptedPods', disrupted, 'must be a map of pod names to times'));
  }
  return out;
}

export const poddisruptionbudgets: ResourceDef = {
  group: 'policy',
  version: 'v1',
  kind: 'PodDisruptionBudget',
  listKind: 'PodDisruptionBudgetList',
  plural: 'poddisruptionbudgets',
  singular: 'poddisruptionbudget',
  namespaced: true,
  shortNames: ['pdb'],
  subresources: { status: true },
  nameRule: 'dns1123Subdomain',
  modelName: 'V1PodDisruptionBudget',
  generationFields: ['spec'],
  prepareForCreate: prepareBudgetForCreate,
  validate: validateBudget,
  validateStatus: validateBudgetStatus,
  columns: [
    {
      name: 'Min Available',
      type: 'string',
      priority: 0,
      description: 'The minimum number of pods that must be available.',
      cell: (o) => intOrStringCell(asRecord(o.spec).minAvailable),
    },
    {
      name: 'Max Unavailable',
      type: 'string',
      priority: 0,
      description: 'The maximum number of pods that may be unavailable.',
      cell: (o) => intOrStringCell(asRecord(o.spec).maxUnavailable),
    },
    {
      name: 'Allowed Disruptions',
      type: 'integer',
      priority: 0,
      description: 'Calculated number of pods that may be disrupted at this time.',
      cell: (o) => num(asRecord(o.status).disruptionsAllowed),
    },
    ageColumn(),
  ],
};
