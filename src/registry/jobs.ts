// batch/v1 Job: defaults, the generated selector, validation (create, update, status) and
// printer columns, following Kubernetes v1.32 (pkg/apis/batch/v1/defaults.go,
// pkg/registry/batch/job/strategy.go, pkg/apis/batch/validation, the server-side printer).
//
// - Defaults: completions and parallelism 1 when both are unset (parallelism 1 when only it is
//   unset), backoffLimit 6, completionMode NonIndexed, suspend false, manualSelector false,
//   podReplacementPolicy TerminatingOrFailed (Failed with a podFailurePolicy); the job's labels
//   are the template's when it has none.
// - Unless manualSelector, the server generates the selector
//   `batch.kubernetes.io/controller-uid=<uid>` and adds `batch.kubernetes.io/controller-uid`,
//   `controller-uid`, `batch.kubernetes.io/job-name` and `job-name` to the template's labels.
// - Validation: counts non-negative; template restartPolicy OnFailure or Never; Indexed needs
//   completions (and a name whose highest pod hostname is a DNS label); the selector and
//   completionMode are immutable; completions only change for Indexed jobs, together with
//   parallelism; the template is immutable except that a suspended job that never started may
//   change its scheduling directives (node affinity, node selector, tolerations, scheduling
//   gates) and template labels and annotations.
import type { FieldCause, KubeObject, ResourceDef } from './types.ts';
import {
  asArray,
  asRecord,
  invalid,
  isRecord,
  jsonEqual,
  labelSelectorMatches,
  labelSelectorString,
  notSupported,
  required,
  requiredDetail,
  validateAnnotations,
  validateImmutable,
  validateLabels,
  validateLabelSelector,
  validateNonnegative,
  dns1123LabelErrors,
  type LabelSelector,
} from './validation.ts';
import { validatePodFailurePolicy, validateSuccessPolicy } from './jobs-policies.ts';
import { validatePodSpec } from './podspec.ts';
import { humanDuration } from './printing.ts';
import { ageColumn, containerCells, defaultPodTemplate, ensureChild } from './workloads.ts';

type Obj = Record<string, unknown>;

/** The selector key the server generates (batch.ControllerUidLabel). */
export const CONTROLLER_UID_LABEL = 'batch.kubernetes.io/controller-uid';
export const LEGACY_CONTROLLER_UID_LABEL = 'controller-uid';
export const JOB_NAME_LABEL = 'batch.kubernetes.io/job-name';
export const LEGACY_JOB_NAME_LABEL = 'job-name';
/** The pod finalizer the job controller counts finished pods by. */
export const JOB_TRACKING_FINALIZER = 'batch.kubernetes.io/job-tracking';
/** Annotation and label holding an Indexed job pod's completion index. */
export const JOB_COMPLETION_INDEX_ANNOTATION = 'batch.kubernetes.io/job-completion-index';

const MAX_INDEXED_PARALLELISM = 100_000;
const MAX_INDEXED_COMPLETIONS = 100_000;
/** maxFailedIndexesForIndexedJob: caps the length of status.failedIndexes. */
const MAX_FAILED_INDEXES = 100_000;
const COMPLETION_MODES = ['NonIndexed', 'Indexed'];
const REPLACEMENT_POLICIES = ['Failed', 'TerminatingOrFailed'];

function unset(v: unknown): boolean {
  return v === undefined || v === null;
}

/** The defaults SetDefaults_Job applies to a job spec (also used for CronJob job templates'
 *  pod templates, which get only the pod defaults, as in Kubernetes). */
function defaultJobSpec(spec: Obj): void {
  if (unset(spec.completions) && unset(spec.parallelism)) {
    spec.completions = 1;
    spec.parallelism = 1;
  }
  if (unset(spec.parallelism)) spec.parallelism = 1;
  if (unset(spec.backoffLimit)) spec.backoffLimit = unset(spec.backoffLimitPerIndex) ? 6 : 2147483647;
  if (unset(spec.completionMode)) spec.completionMode = 'NonIndexed';
  if (unset(spec.suspend)) spec.suspend = false;
  if (unset(spec.manualSelector)) spec.manualSelector = false;
  if (unset(spec.podReplacementPolicy)) spec.podReplacementPolicy = unset(spec.podFailurePolicy) ? 'TerminatingOrFailed' : 'Failed';
  const pfp = spec.podFailurePolicy;
  if (isRecord(pfp)) {
    for (const rule of asArray(pfp.rules)) {
      for (const pattern of asArray(asRecord(rule).onPodConditions)) {
        if (isRecord(pattern) && (pattern.status === undefined || pattern.status === '')) pattern.status = 'True';
      }
    }
  }
  defaultPodTemplate(spec);
}

function copyTemplateLabels(obj: KubeObject): void {
  const labels = asRecord(asRecord(asRecord(obj.spec).template).metadata).labels;
  if (isRecord(labels) && Object.keys(labels).length > 0 && Object.keys(obj.metadata.labels ?? {}).length === 0) {
    obj.metadata.labels = { ...(labels as Record<string, string>) };
  }
}

function defaultJob(obj: KubeObject): void {
  const spec = ensureChild(obj, 'spec');
  if (!spec) return;
  defaultJobSpec(spec);
  copyTemplateLabels(obj);
}

/** generateSelector: the controller-uid selector and the four labels on the template. */
function generateSelector(obj: KubeObject): void {
  const spec = asRecord(obj.spec);
  const template = ensureChild(spec, 'template');
  if (!template) return;
  const meta = ensureChild(template, 'metadata');
  if (!meta) return;
  const labels = ensureChild(meta, 'labels');
  if (!labels) return;
  const uid = obj.metadata.uid ?? '';
  const name = obj.metadata.name ?? '';
  for (const k of [LEGACY_JOB_NAME_LABEL, JOB_NAME_LABEL]) if (!(k in labels)) labels[k] = name;
  for (const k of [LEGACY_CONTROLLER_UID_LABEL, CONTROLLER_UID_LABEL]) if (!(k in labels)) labels[k] = uid;
  const selector = ensureChild(spec, 'selector');
  if (!selector) return;
  const matchLabels = ensureChild(selector, 'matchLabels');
  if (matchLabels && !(CONTROLLER_UID_LABEL in matchLabels)) matchLabels[CONTROLLER_UID_LABEL] = uid;
}

function prepareJobForCreate(obj: KubeObject): void {
  const spec = asRecord(obj.spec);
  if (spec.manualSelector !== true) generateSelector(obj);
  copyTemplateLabels(obj);
  obj.status = {};
}

// ---- validation

/** The pod template checks of a job spec: the template's metadata and pod spec, restartPolicy
 *  OnFailure or Never. */
function validateJobTemplate(spec: Obj, prefix: string): FieldCause[] {
  const template = spec.template;
  const tf = `${prefix}.template`;
  if (!isRecord(template)) return [required(tf)];
  const out: FieldCause[] = [];
  const meta = template.metadata === undefined ? {} : template.metadata;
  if (!isRecord(meta)) out.push(invalid(`${tf}.metadata`, meta, 'must be an object'));
  else {
    out.push(...validateLabels(meta.labels, `${tf}.metadata.labels`));
    out.push(...validateAnnotations(meta.annotations, `${tf}.metadata.annotations`));
  }
  const podSpec = template.spec;
  if (!isRecord(podSpec)) {
    out.push(required(`${tf}.spec`));
    return out;
  }
  const rpField = `${tf}.spec.restartPolicy`;
  for (const c of validatePodSpec(podSpec, `${tf}.spec`)) if (c.field !== rpField) out.push(c);
  const rp = podSpec.restartPolicy;
  if (rp === 'Always' || rp === undefined || rp === null || rp === '') {
    out.push(requiredDetail(rpField, 'valid values: "OnFailure", "Never"'));
  } else if (rp !== 'OnFailure' && rp !== 'Never') {
    out.push(notSupported(rpField, rp, ['OnFailure', 'Never']));
  } else if (isRecord(spec.podFailurePolicy) && rp !== 'Never') {
    out.push(invalid(rpField, rp, 'only "Never" is supported when podFailurePolicy is specified'));
  }
  return out;
}

/**
 * validateJobSpec: the checks a Job's spec and a CronJob's job template share (everything but
 * the selector). `prefix` is `spec` or `spec.jobTemplate.spec`.
 */
export function validateJobSpecCommon(spec: Obj, prefix: string): FieldCause[] {
  const out: FieldCause[] = [];
  for (const k of ['parallelism', 'completions', 'activeDeadlineSeconds', 'backoffLimit', 'ttlSecondsAfterFinished', 'backoffLimitPerIndex', 'maxFailedIndexes']) {
    out.push(...validateNonnegative(spec[k], `${prefix}.${k}`));
  }
  if (!unset(spec.maxFailedIndexes) && unset(spec.backoffLimitPerIndex)) out.push(requiredDetail(`${prefix}.backoffLimitPerIndex`, 'when maxFailedIndexes is specified'));
  const mode = spec.completionMode;
  if (!unset(mode)) {
    if (!COMPLETION_MODES.includes(mode as string)) out.push(notSupported(`${prefix}.completionMode`, mode, COMPLETION_MODES));
    if (mode === 'Indexed') {
      if (unset(spec.completions)) out.push(requiredDetail(`${prefix}.completions`, 'when completion mode is Indexed'));
      if (typeof spec.parallelism === 'number' && spec.parallelism > MAX_INDEXED_PARALLELISM) {
        out.push(invalid(`${prefix}.parallelism`, spec.parallelism, `must be less than or equal to ${MAX_INDEXED_PARALLELISM} when completion mode is Indexed`));
      }
      if (typeof spec.completions === 'number' && spec.completions > MAX_INDEXED_COMPLETIONS) {
        out.push(invalid(`${prefix}.completions`, spec.completions, `must be less than or equal to ${MAX_INDEXED_COMPLETIONS} when completion mode is Indexed`));
      }
      if (typeof spec.maxFailedIndexes === 'number') {
        if (typeof spec.completions === 'number' && spec.maxFailedIndexes > spec.completions) out.push(invalid(`${prefix}.maxFailedIndexes`, spec.maxFailedIndexes, 'must be less than or equal to completions'));
        if (spec.maxFailedIndexes > MAX_FAILED_INDEXES) out.push(invalid(`${prefix}.maxFailedIndexes`, spec.maxFailedIndexes, `must be less than or equal to ${MAX_FAILED_INDEXES}`));
      }
    }
  }
  if (mode === undefined || mode === null || mode === 'NonIndexed') {
    if (!unset(spec.backoffLimitPerIndex)) out.push(invalid(`${prefix}.backoffLimitPerIndex`, spec.backoffLimitPerIndex, 'requires indexed completion mode'));
    if (!unset(spec.maxFailedIndexes)) out.push(invalid(`${prefix}.maxFailedIndexes`, spec.maxFailedIndexes, 'requires indexed completion mode'));
  }
  out.push(...validatePodFailurePolicy(spec, prefix), ...validateSuccessPolicy(spec, prefix));
  const prp = spec.podReplacementPolicy;
  if (!unset(prp)) {
    if (isRecord(spec.podFailurePolicy)) {
      if (prp !== 'Failed') out.push(notSupported(`${prefix}.podReplacementPolicy`, prp, ['Failed']));
    } else if (!REPLACEMENT_POLICIES.includes(prp as string)) {
      out.push(notSupported(`${prefix}.podReplacementPolicy`, prp, REPLACEMENT_POLICIES));
    }
  }
  out.push(...validateJobTemplate(spec, prefix));
  return out;
}

/** validateGeneratedSelector: a generated selector must be exactly the controller-uid one, and
 *  the template must carry the generated labels. */
function validateGeneratedSelector(obj: KubeObject): FieldCause[] {
  const spec = asRecord(obj.spec);
  if (spec.manualSelector === true) return [];
  const meta = asRecord(asRecord(spec.template).metadata);
  if (!isRecord(meta.labels)) return [];
  const uid = obj.metadata.uid;
  if (!uid) return [];
  const labels = meta.labels;
  const out: FieldCause[] = [];
  const hasLabel = (key: string, want: string): void => {
    const f = `spec.template.metadata.labels[${key}]`;
    if (!(key in labels)) out.push(required(f));
    else if (labels[key] !== want) out.push(invalid(f, labels[key], `must be '${want}'`));
  };
  hasLabel(LEGACY_CONTROLLER_UID_LABEL, uid);
  hasLabel(LEGACY_JOB_NAME_LABEL, obj.metadata.name ?? '');
  hasLabel(CONTROLLER_UID_LABEL, uid);
  hasLabel(JOB_NAME_LABEL, obj.metadata.name ?? '');
  if (!jsonEqual(spec.selector, { matchLabels: { [CONTROLLER_UID_LABEL]: uid } })) {
    out.push(invalid('spec.selector', spec.selector ?? null, '`selector` not auto-generated'));
  }
  return out;
}

function validateJob(obj: KubeObject): FieldCause[] {
  const spec = obj.spec;
  if (!isRecord(spec)) return [required('spec')];
  const out = validateGeneratedSelector(obj);
  out.push(...validateJobSpecCommon(spec, 'spec'));
  const sel = spec.selector;
  if (unset(sel)) out.push(required('spec.selector'));
  else {
    const selCauses = validateLabelSelector(sel, 'spec.selector');
    out.push(...selCauses);
    const tmeta = asRecord(asRecord(spec.template).metadata);
    const labels = isRecord(tmeta.labels) ? (tmeta.labels as Record<string, string>) : undefined;
    if (selCauses.length === 0 && isRecord(sel) && !labelSelectorMatches(sel as LabelSelector, labels)) {
      out.push(invalid('spec.template.metadata.labels', tmeta.labels ?? {}, '`selector` does not match template `labels`'));
    }
  }
  if (spec.completionMode === 'Indexed' && typeof spec.completions === 'number' && spec.completions > 0) {
    const highest = `${obj.metadata.name ?? ''}-${spec.completions - 1}`;
    if (dns1123LabelErrors(highest).length > 0) {
      out.push(invalid('metadata.name', obj.metadata.name ?? '', `will not able to create pod with invalid DNS label: ${highest}`));
    }
  }
  return out;
}

/** Field `k` of `to` set from `from` (removed when `from` lacks it). */
function take(to: Obj, from: Obj, k: string): void {
  if (from[k] === undefined) delete to[k];
  else to[k] = from[k];
}

/**
 * The old template with the new one's scheduling directives and template metadata, as
 * validatePodTemplateUpdate builds it for a suspended job that never started: comparing the new
 * template with it lets exactly those fields change.
 */
function withSchedulingDirectivesOf(oldTemplate: unknown, newTemplate: unknown): unknown {
  if (!isRecord(oldTemplate)) return oldTemplate;
  const next = asRecord(newTemplate);
  const meta: Obj = { ...asRecord(oldTemplate.metadata) };
  const nextMeta = asRecord(next.metadata);
  take(meta, nextMeta, 'labels');
  take(meta, nextMeta, 'annotations');
  const copy: Obj = { ...oldTemplate, metadata: meta };
  if (!isRecord(oldTemplate.spec)) return copy;
  const spec: Obj = { ...oldTemplate.spec };
  const nextSpec = asRecord(next.spec);
  for (const k of ['nodeSelector', 'tolerations', 'schedulingGates']) take(spec, nextSpec, k);
  const oldAff = spec.affinity;
  const newAff = nextSpec.affinity;
  if (!isRecord(newAff) && isRecord(oldAff)) {
    const rest: Obj = { ...oldAff };
    delete rest.nodeAffinity;
    if (Object.keys(rest).length === 0) delete spec.affinity;
    else spec.affinity = rest;
  } else if (isRecord(newAff) && !isRecord(oldAff)) {
    spec.affinity = newAff.nodeAffinity === undefined ? {} : { nodeAffinity: newAff.nodeAffinity };
  } else if (isRecord(newAff) && isRecord(oldAff)) {
    const merged: Obj = { ...oldAff };
    take(merged, newAff, 'nodeAffinity');
    spec.affinity = merged;
  }
  copy.spec = spec;
  return copy;
}

function validateJobUpdate(obj: KubeObject, old: KubeObject): FieldCause[] {
  const spec = asRecord(obj.spec);
  const oldSpec = asRecord(old.spec);
  const out: FieldCause[] = [];
  // completions: immutable, except for Indexed jobs where it changes together with parallelism.
  if (!jsonEqual(spec.completions, oldSpec.completions)) {
    if (spec.completionMode !== 'Indexed') out.push(...validateImmutable(spec.completions, oldSpec.completions, 'spec.completions'));
    else if (typeof spec.completions === 'number' && spec.completions !== spec.parallelism) {
      out.push(invalid('spec.completions', spec.completions, 'can only be modified in tandem with spec.parallelism'));
    }
  }
  out.push(...validateImmutable(spec.selector, oldSpec.selector, 'spec.selector'));
  const suspendedNeverStarted = oldSpec.suspend === true && unset(asRecord(old.status).startTime);
  const oldTemplate = suspendedNeverStarted ? withSchedulingDirectivesOf(oldSpec.template, spec.template) : oldSpec.template;
  out.push(...validateImmutable(spec.template, oldTemplate, 'spec.template'));
  for (const k of ['completionMode', 'podFailurePolicy', 'backoffLimitPerIndex', 'managedBy', 'successPolicy']) {
    out.push(...validateImmutable(spec[k], oldSpec[k], `spec.${k}`));
  }
  return out;
}

function validateJobStatus(obj: KubeObject): FieldCause[] {
  const status = asRecord(obj.status);
  const out: FieldCause[] = [];
  for (const k of ['active', 'succeeded', 'failed', 'ready', 'terminating']) out.push(...validateNonnegative(status[k], `status.${k}`));
  const ci = status.completedIndexes;
  if (!unset(ci) && (typeof ci !== 'string' || !/^(\d+(-\d+)?(,\d+(-\d+)?)*)?$/.test(ci))) {
    out.push(invalid('status.completedIndexes', ci, 'error parsing completedIndexes'));
  }
  return out;
}

// ---- printing

function hasTrueCondition(obj: KubeObject, type: string): boolean {
  return asArray(asRecord(obj.status).conditions).some((c) => asRecord(c).type === type && asRecord(c).status === 'True');
}

/** The STATUS cell as kubectl 1.32 prints it. */
export function jobStatusCell(obj: KubeObject): string {
  if (hasTrueCondition(obj, 'Complete')) return 'Complete';
  if (hasTrueCondition(obj, 'Failed')) return 'Failed';
  if (obj.metadata.deletionTimestamp) return 'Terminating';
  if (hasTrueCondition(obj, 'Suspended')) return 'Suspended';
  if (hasTrueCondition(obj, 'FailureTarget')) return 'FailureTarget';
  if (hasTrueCondition(obj, 'SuccessCriteriaMet')) return 'SuccessCriteriaMet';
  return 'Running';
}

/** The COMPLETIONS cell: `succeeded/completions`, or `n/1 (of parallelism)` without completions. */
export function jobCompletionsCell(obj: KubeObject): string {
  const spec = asRecord(obj.spec);
  const succeeded = typeof asRecord(obj.status).succeeded === 'number' ? (asRecord(obj.status).succeeded as number) : 0;
  if (typeof spec.completions === 'number') return `${succeeded}/${spec.completions}`;
  const parallelism = typeof spec.parallelism === 'number' ? spec.parallelism : 0;
  return parallelism > 1 ? `${succeeded}/1 of ${parallelism}` : `${succeeded}/1`;
}

/** The DURATION cell: running time so far, or start to completion; empty before the start. */
export function jobDurationCell(obj: KubeObject, now: number = Date.now()): string {
  const status = asRecord(obj.status);
  const start = typeof status.startTime === 'string' ? Date.parse(status.startTime) : NaN;
  if (Number.isNaN(start)) return '';
  const end = typeof status.completionTime === 'string' ? Date.parse(status.completionTime) : NaN;
  return humanDuration((Number.isNaN(end) ? now : end) - start);
}

export function selectorCell(sel: unknown): string {
  return (isRecord(sel) && labelSelectorString(sel as LabelSelector)) || '<none>';
}

export const jobs: ResourceDef = {
  group: 'batch',
  version: 'v1',
  kind: 'Job',
  listKind: 'JobList',
  plural: 'jobs',
  singular: 'job',
  namespaced: true,
  categories: ['all'],
  subresources: { status: true },
  nameRule: 'dns1123Subdomain',
  modelName: 'V1Job',
  generationFields: ['spec'],
  defaults: defaultJob,
  prepareForCreate: prepareJobForCreate,
  validate: validateJob,
  validateUpdate: validateJobUpdate,
  validateStatus: validateJobStatus,
  columns: [
    { name: 'Status', type: 'string', priority: 0, description: 'Status of the job.', cell: jobStatusCell },
    { name: 'Completions', type: 'string', priority: 0, description: 'The number of pods which reached phase Succeeded.', cell: jobCompletionsCell },
    { name: 'Duration', type: 'string', priority: 0, description: 'Time required to complete the job.', cell: (o) => jobDurationCell(o) },
    ageColumn(),
    { name: 'Containers', type: 'string', priority: 1, description: 'Names of each container in the template.', cell: (o) => containerCells(o).names },
    { name: 'Images', type: 'string', priority: 1, description: 'Images referenced by each container in the template.', cell: (o) => containerCells(o).images },
    { name: 'Selector', type: 'string', priority: 1, description: 'A label query over pods that should match the pod count.', cell: (o) => selectorCell(asRecord(o.spec).selector) },
  ],
};
