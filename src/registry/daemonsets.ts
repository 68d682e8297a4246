// apps/v1 DaemonSet: defaults, validation (create, update, status) and printer columns
// (Kubernetes v1.32: pkg/apis/apps/v1/defaults.go, pkg/apis/apps/validation).
import type { FieldCause, KubeObject, ResourceDef } from './types.ts';
import {
  asRecord,
  intOrPercentValue,
  invalid,
  isRecord,
  jsonEqual,
  labelSelectorString,
  notMoreThan100PercentCauses,
  notSupported,
  positiveIntOrPercentCauses,
  required,
  requiredDetail,
  validateImmutable,
  type LabelSelector,
} from './validation.ts';
import {
  ageColumn,
  collisionCountCauses,
  containersColumns,
  defaultPodTemplate,
  ensureChild,
  nonNegativeFields,
  num,
  validateWorkloadSelectorAndTemplate,
} from './workloads.ts';

type Obj = Record<string, unknown>;

/** The annotation apps/v1 uses to carry the (internal) spec.templateGeneration. */
export const TEMPLATE_GENERATION_ANNOTATION = 'deprecated.daemonset.template.generation';

function defaultDaemonSet(obj: KubeObject): void {
  const spec = ensureChild(obj, 'spec');
  if (!spec) return;
  const us = ensureChild(spec, 'updateStrategy');
  if (us) {
    if (!us.type) us.type = 'RollingUpdate';
    if (us.type === 'RollingUpdate') {
      const ru = ensureChild(us, 'rollingUpdate');
      if (ru) {
        if (ru.maxUnavailable === undefined || ru.maxUnavailable === null) ru.maxUnavailable = 1;
        if (ru.maxSurge === undefined || ru.maxSurge === null) ru.maxSurge = 0;
      }
    }
  }
  if (spec.revisionHistoryLimit === undefined || spec.revisionHistoryLimit === null) spec.revisionHistoryLimit = 10;
  defaultPodTemplate(spec);
}

function prepareDaemonSetForCreate(obj: KubeObject): void {
  obj.status = { currentNumberScheduled: 0, numberMisscheduled: 0, desiredNumberScheduled: 0, numberReady: 0 };
  const annotations = (obj.metadata.annotations ??= {});
  annotations[TEMPLATE_GENERATION_ANNOTATION] = '1';
}

/**
 * What Kubernetes' DaemonSet strategy does in PrepareForUpdate: a changed pod template bumps
 * the template generation (kept in the `deprecated.daemonset.template.generation` annotation,
 * which the controller copies into the `pod-template-generation` pod label). ResourceDef has no
 * update-preparation hook yet, so the API layer calls this itself on main-resource updates.
 */
export function prepareDaemonSetForUpdate(obj: KubeObject, old: KubeObject): void {
  const oldGen = Number(old.metadata.annotations?.[TEMPLATE_GENERATION_ANNOTATION] ?? '1');
  const base = Number.isFinite(oldGen) && oldGen > 0 ? oldGen : 1;
  const changed = !jsonEqual(asRecord(obj.spec).template, asRecord(old.spec).template);
  const annotations = (obj.metadata.annotations ??= {});
  annotations[TEMPLATE_GENERATION_ANNOTATION] = String(changed ? base + 1 : base);
}

function validateRollingUpdate(ru: Obj, prefix: string): FieldCause[] {
  const mu = ru.maxUnavailable;
  const ms = ru.maxSurge;
  const fu = `${prefix}.maxUnavailable`;
  const fs = `${prefix}.maxSurge`;
  const out = [...positiveIntOrPercentCauses(mu, fu), ...positiveIntOrPercentCauses(ms, fs)];
  out.push(...notMoreThan100PercentCauses(mu, fu), ...notMoreThan100PercentCauses(ms, fs));
  const hasUnavailable = intOrPercentValue(mu) !== 0;
  const hasSurge = intOrPercentValue(ms) !== 0;
  if (hasUnavailable && hasSurge) out.push(invalid(fs, ms, 'may not be set when maxUnavailable is non-zero'));
  else if (!hasUnavailable && !hasSurge) out.push(requiredDetail(fu, 'cannot be 0 when maxSurge is 0'));
  return out;
}

function validateUpdateStrategy(strategy: unknown): FieldCause[] {
  const s = asRecord(strategy);
  switch (s.type) {
    case 'OnDelete':
      return [];
    case 'RollingUpdate':
      if (!isRecord(s.rollingUpdate)) return [required('spec.updateStrategy.rollingUpdate')];
      return validateRollingUpdate(s.rollingUpdate, 'spec.updateStrategy.rollingUpdate');
    default:
      return [notSupported('spec.updateStrategy', strategy ?? {}, ['RollingUpdate', 'OnDelete'])];
  }
}

function validateDaemonSet(obj: KubeObject): FieldCause[] {
  const spec = obj.spec;
  if (!isRecord(spec)) return [required('spec')];
  const out = validateWorkloadSelectorAndTemplate(spec, 'daemonset', 'DaemonSet');
  out.push(...nonNegativeFields(spec, 'spec', ['minReadySeconds', 'revisionHistoryLimit']));
  out.push(...validateUpdateStrategy(spec.updateStrategy));
  return out;
}

function validateDaemonSetUpdate(obj: KubeObject, old: KubeObject): FieldCause[] {
  return validateImmutable(asRecord(obj.spec).selector, asRecord(old.spec).selector, 'spec.selector');
}

function validateDaemonSetStatus(obj: KubeObject, old: KubeObject): FieldCause[] {
  const status = asRecord(obj.status);
  const out = nonNegativeFields(status, 'status', [
    'currentNumberScheduled',
    'numberMisscheduled',
    'desiredNumberScheduled',
    'numberReady',
    'observedGeneration',
    'updatedNumberScheduled',
    'numberAvailable',
    'numberUnavailable',
    'collisionCount',
  ]);
  out.push(...collisionCountCauses(status, asRecord(old.status)));
  return out;
}

/** labels.FormatLabels: sorted `k=v` pairs, `<none>` when empty. */
function formatLabels(m: unknown): string {
  const entries = Object.entries(asRecord(m)).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return entries.length === 0 ? '<none>' : entries.map(([k, v]) => `${k}=${String(v)}`).join(',');
}

function statusInt(key: string) {
  return (o: KubeObject) => num(asRecord(o.status)[key]);
}

export const daemonsets: ResourceDef = {
  group: 'apps',
  version: 'v1',
  kind: 'DaemonSet',
  listKind: 'DaemonSetList',
  plural: 'daemonsets',
  singular: 'daemonset',
  namespaced: true,
  shortNames: ['ds'],
  categories: ['all'],
  subresources: { status: true },
  nameRule: 'dns1123Subdomain',
  modelName: 'V1DaemonSet',
  generationFields: ['spec'],
  defaults: defaultDaemonSet,
  prepareForCreate: prepareDaemonSetForCreate,
  prepareForUpdate: prepareDaemonSetForUpdate,
  validate: validateDaemonSet,
  validateUpdate: validateDaemonSetUpdate,
  validateStatus: validateDaemonSetStatus,
  columns: [
    { name: 'Desired', type: 'integer', priority: 0, description: 'The total number of nodes that should be running the daemon pod.', cell: statusInt('desiredNumberScheduled') },
    { name: 'Current', type: 'integer', priority: 0, description: 'The number of nodes running at least one daemon pod that are supposed to.', cell: statusInt('currentNumberScheduled') },
    { name: 'Ready', type: 'integer', priority: 0, description: 'The number of nodes that should be running the daemon pod and have one or more of it running and ready.', cell: statusInt('numberReady') },
    { name: 'Up-to-date', type: 'integer', priority: 0, description: 'The total number of nodes that are running the updated daemon pod.', cell: statusInt('updatedNumberScheduled') },
    { name: 'Available', type: 'integer', priority: 0, description: 'The number of nodes that should be running the daemon pod and have one or more of it running and available.', cell: statusInt('numberAvailable') },
    {
      name: 'Node Selector',
      type: 'string',
      priority: 0,
      description: "The pod template's nodeSelector.",
      cell: (o) => formatLabels(asRecord(asRecord(asRecord(o.spec).template).spec).nodeSelector),
    },
    ageColumn(),
    ...containersColumns(),
    {
      name: 'Selector',
      type: 'string',
      priority: 1,
      description: 'The label selector of the pods the set manages.',
      cell: (o) => {
        const sel = asRecord(o.spec).selector;
        return (isRecord(sel) && labelSelectorString(sel as LabelSelector)) || '<none>';
      },
    },
  ],
};
