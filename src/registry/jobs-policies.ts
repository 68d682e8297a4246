// Validation of a Job's podFailurePolicy and successPolicy, with Kubernetes' field paths and
// messages (pkg/apis/batch/validation: validatePodFailurePolicy, validateSuccessPolicy and
// validateIndexesFormat). `prefix` is `spec` or `spec.jobTemplate.spec`.
import type { FieldCause } from './types.ts';
import { asArray, asRecord, duplicate, invalid, isRecord, notSupported, requiredDetail, tooLong, tooMany, validateNonnegative, validateQualifiedNameField } from './validation.ts';

type Obj = Record<string, unknown>;

const MAX_POD_FAILURE_POLICY_RULES = 20;
const MAX_EXIT_CODE_VALUES = 255;
const MAX_ON_POD_CONDITIONS = 20;
const MAX_SUCCESS_POLICY_RULES = 20;
const MAX_SUCCEEDED_INDEXES_LENGTH = 64 * 1024;
const ACTIONS = ['Count', 'FailIndex', 'FailJob', 'Ignore'];
const OPERATORS = ['In', 'NotIn'];
const CONDITION_STATUSES = ['False', 'True', 'Unknown'];

const validValues = (vs: string[]): string => `valid values: [${vs.map((v) => JSON.stringify(v)).join(' ')}]`;

function containerNames(spec: Obj): Set<string> {
  const pod = asRecord(asRecord(spec.template).spec);
  return new Set([...asArray(pod.containers), ...asArray(pod.initContainers)].map((c) => asRecord(c).name).filter((n): n is string => typeof n === 'string'));
}

function validateOnExitCodes(req: Obj, path: string, names: Set<string>): FieldCause[] {
  const out: FieldCause[] = [];
  const op = req.operator;
  if (op === undefined || op === null || op === '') out.push(requiredDetail(`${path}.operator`, validValues(OPERATORS)));
  else if (!OPERATORS.includes(op as string)) out.push(notSupported(`${path}.operator`, op, OPERATORS));
  if (req.containerName !== undefined && req.containerName !== null && !names.has(req.containerName as string)) {
    out.push(invalid(`${path}.containerName`, req.containerName, 'must be one of the container or initContainer names in the pod template'));
  }
  const values = asArray(req.values);
  if (values.length === 0) out.push(invalid(`${path}.values`, values, 'at least one value is required'));
  else if (values.length > MAX_EXIT_CODE_VALUES) out.push(tooMany(`${path}.values`, values.length, MAX_EXIT_CODE_VALUES));
  else {
    const seen = new Set<unknown>();
    let ordered = true;
    values.forEach((v, j) => {
      if (op === 'In' && v === 0) out.push(invalid(`${path}.values[${j}]`, v, 'must not be 0 for the In operator'));
      if (seen.has(v)) out.push(duplicate(`${path}.values[${j}]`, v));
      else seen.add(v);
      if (j > 0 && (values[j - 1] as number) > (v as number)) ordered = false;
    });
    if (!ordered) out.push(invalid(`${path}.values`, values, 'must be ordered'));
  }
  return out;
}

function validateOnPodConditions(patterns: unknown[], path: string): FieldCause[] {
  const out: FieldCause[] = [];
  if (patterns.length > MAX_ON_POD_CONDITIONS) out.push(tooMany(path, patterns.length, MAX_ON_POD_CONDITIONS));
  patterns.forEach((p, j) => {
    const pattern = asRecord(p);
    out.push(...validateQualifiedNameField(typeof pattern.type === 'string' ? pattern.type : '', `${path}[${j}].type`));
    const status = pattern.status;
    if (status === undefined || status === null || status === '') out.push(requiredDetail(`${path}[${j}].status`, validValues(CONDITION_STATUSES)));
    else if (!CONDITION_STATUSES.includes(status as string)) out.push(notSupported(`${path}[${j}].status`, status, CONDITION_STATUSES));
  });
  return out;
}

export function validatePodFailurePolicy(spec: Obj, prefix: string): FieldCause[] {
  const policy = spec.podFailurePolicy;
  if (!isRecord(policy)) return [];
  const out: FieldCause[] = [];
  const path = `${prefix}.podFailurePolicy.rules`;
  const rules = asArray(policy.rules);
  if (rules.length > MAX_POD_FAILURE_POLICY_RULES) out.push(tooMany(path, rules.length, MAX_POD_FAILURE_POLICY_RULES));
  const names = containerNames(spec);
  rules.forEach((r, i) => {
    const rule = asRecord(r);
    const rulePath = `${path}[${i}]`;
    const action = rule.action;
    if (action === undefined || action === null || action === '') out.push(requiredDetail(`${rulePath}.action`, validValues(ACTIONS)));
    else if (action === 'FailIndex') {
      if (spec.backoffLimitPerIndex === undefined || spec.backoffLimitPerIndex === null) out.push(invalid(`${rulePath}.action`, action, 'requires the backoffLimitPerIndex to be set'));
    } else if (!ACTIONS.includes(action as string)) out.push(notSupported(`${rulePath}.action`, action, ACTIONS));
    const onExit = isRecord(rule.onExitCodes) ? rule.onExitCodes : undefined;
    const onConditions = asArray(rule.onPodConditions);
    if (onExit) out.push(...validateOnExitCodes(onExit, `${rulePath}.onExitCodes`, names));
    if (onConditions.length > 0) out.push(...validateOnPodConditions(onConditions, `${rulePath}.onPodConditions`));
    if (onExit && onConditions.length > 0) out.push(invalid(rulePath, undefined, 'specifying both OnExitCodes and OnPodConditions is not supported'));
    if (!onExit && onConditions.length === 0) out.push(invalid(rulePath, undefined, 'specifying one of OnExitCodes and OnPodConditions is required'));
  });
  return out;
}

/** validateIndexesFormat: the number of indexes of "1,3-5", or what is wrong with the text. */
export function indexesFormat(text: string, completions: number): { total: number } | { error: string } {
  if (text === '') return { total: 0 };
  let last: number | undefined;
  let total = 0;
  for (const part of text.split(',')) {
    const limits = part.split('-');
    if (limits.length > 2) return { error: `the fragment ${JSON.stringify(part)} violates the requirement that an index interval can have at most two parts separated by '-'` };
    const bounds: number[] = [];
    for (const l of limits) {
      if (!/^[+-]?\d+$/.test(l)) return { error: `cannot convert string to integer for index: ${JSON.stringify(l)}` };
      const n = Number(l);
      if (n >= completions) return { error: `too large index: ${JSON.stringify(l)}` };
      bounds.push(n);
    }
    const [x, y = x] = bounds;
    if (bounds.length === 2 && x >= y) return { error: `non-increasing order, previous: ${x}, current: ${y}` };
    if (last !== undefined && last >= x) return { error: `non-increasing order, previous: ${last}, current: ${x}` };
    total += y - x + 1;
    last = y;
  }
  return { total };
}

export function validateSuccessPolicy(spec: Obj, prefix: string): FieldCause[] {
  const policy = spec.successPolicy;
  if (policy === undefined || policy === null) return [];
  const path = `${prefix}.successPolicy`;
  if (spec.completionMode !== 'Indexed') return [invalid(path, policy, 'requires indexed completion mode')];
  const out: FieldCause[] = [];
  const rules = asArray(asRecord(policy).rules);
  if (rules.length === 0) out.push(requiredDetail(`${path}.rules`, 'at least one rules must be specified when the successPolicy is specified'));
  if (rules.length > MAX_SUCCESS_POLICY_RULES) out.push(tooMany(`${path}.rules`, rules.length, MAX_SUCCESS_POLICY_RULES));
  const completions = typeof spec.completions === 'number' ? spec.completions : 0;
  rules.forEach((r, i) => {
    const rule = asRecord(r);
    const rulePath = `${path}.rules[${i}]`;
    const hasIndexes = typeof rule.succeededIndexes === 'string';
    const count = rule.succeededCount;
    const hasCount = count !== undefined && count !== null;
    if (!hasIndexes && !hasCount) out.push(requiredDetail(rulePath, 'at least one of succeededCount or succeededIndexes must be specified'));
    let total = 0;
    if (hasIndexes) {
      const text = rule.succeededIndexes as string;
      if (text.length > MAX_SUCCEEDED_INDEXES_LENGTH) out.push(tooLong(`${rulePath}.succeededIndexes`, MAX_SUCCEEDED_INDEXES_LENGTH));
      const parsed = indexesFormat(text, completions);
      if ('error' in parsed) out.push(invalid(`${rulePath}.succeededIndexes`, text, `error parsing succeededIndexes: ${parsed.error}`));
      else total = parsed.total;
    }
    if (hasCount) {
      out.push(...validateNonnegative(count, `${rulePath}.succeededCount`));
      if (typeof count === 'number' && count > completions) {
        out.push(invalid(`${rulePath}.succeededCount`, count, `must be less than or equal to ${completions} (the number of specified completions)`));
      }
      if (hasIndexes && typeof count === 'number' && count > total) {
        out.push(invalid(`${rulePath}.succeededCount`, count, `must be less than or equal to ${total} (the number of indexes in the specified succeededIndexes field)`));
      }
    }
  });
  return out;
}
