// batch/v1 CronJob: defaults, validation (create, update, status) and printer columns, following
// Kubernetes v1.32 (pkg/apis/batch/v1/defaults.go, pkg/apis/batch/validation, the server-side
// printer).
//
// - Defaults: concurrencyPolicy Allow, suspend false, successfulJobsHistoryLimit 3,
//   failedJobsHistoryLimit 1; the job template's pod template gets the pod defaults (its job
//   spec does not: Kubernetes defaults a Job when it is created from the template).
// - Validation: spec.schedule in robfig/cron's standard syntax (the parser's own message, e.g.
//   `expected exactly 5 fields, found 1: [nonsense]`); a `TZ=`/`CRON_TZ=` prefix is refused on
//   create ("use timeZone field instead") and kept only by updates of a schedule that had one;
//   spec.timeZone must be an IANA zone Go can load; concurrencyPolicy Allow/Forbid/Replace;
//   non-negative startingDeadlineSeconds and history limits; the job template like a Job's spec,
//   without a selector or manualSelector; names at most 52 characters on create (the controller
//   appends an 11-character `-<minutes>` suffix to job names).
import type { FieldCause, KubeObject, ResourceDef } from './types.ts';
import { asRecord, invalid, isRecord, notSupported, required, validateAnnotations, validateLabels, validateNonnegative } from './validation.ts';
import { age } from './printing.ts';
import { ageColumn, containerCells, defaultPodTemplate, ensureChild } from './workloads.ts';
import { selectorCell, validateJobSpecCommon } from './jobs.ts';
import { parseStandard, timeZoneErrors } from '../util/cron.ts';

type Obj = Record<string, unknown>;

const CONCURRENCY_POLICIES = ['Allow', 'Forbid', 'Replace'];
/** 63 (a DNS-1035 label) minus the 11 characters of `-<scheduled time in minutes>`. */
const MAX_CRONJOB_NAME = 52;

function unset(v: unknown): boolean {
  return v === undefined || v === null;
}

function defaultCronJob(obj: KubeObject): void {
  const spec = ensureChild(obj, 'spec');
  if (!spec) return;
  if (unset(spec.concurrencyPolicy) || spec.concurrencyPolicy === '') spec.concurrencyPolicy = 'Allow';
  if (unset(spec.suspend)) spec.suspend = false;
  if (unset(spec.successfulJobsHistoryLimit)) spec.successfulJobsHistoryLimit = 3;
  if (unset(spec.failedJobsHistoryLimit)) spec.failedJobsHistoryLimit = 1;
  const jt = spec.jobTemplate;
  if (isRecord(jt) && isRecord(jt.spec)) defaultPodTemplate(jt.spec);
}

function prepareCronJobForCreate(obj: KubeObject): void {
  obj.status = {};
}

/** validateScheduleFormat: the parser's verdict and the TZ rules. */
function scheduleCauses(schedule: string, allowTZ: boolean, timeZone: unknown): FieldCause[] {
  const f = 'spec.schedule';
  const out: FieldCause[] = [];
  const parsed = parseStandard(schedule, 'UTC');
  if (!parsed.ok) out.push(invalid(f, schedule, parsed.error));
  if (allowTZ && schedule.includes('TZ') && !unset(timeZone)) {
    out.push(invalid(f, schedule, 'cannot use both timeZone field and TZ or CRON_TZ in schedule'));
  } else if (!allowTZ && schedule.includes('TZ')) {
    out.push(invalid(f, schedule, 'cannot use TZ or CRON_TZ in schedule, use timeZone field instead'));
  }
  return out;
}

function validateJobTemplateSpec(jt: unknown): FieldCause[] {
  const prefix = 'spec.jobTemplate';
  if (!isRecord(jt)) return [required(prefix)];
  const out: FieldCause[] = [];
  const meta = asRecord(jt.metadata);
  out.push(...validateLabels(meta.labels, `${prefix}.metadata.labels`));
  out.push(...validateAnnotations(meta.annotations, `${prefix}.metadata.annotations`));
  const spec = jt.spec;
  if (!isRecord(spec)) return [...out, required(`${prefix}.spec`)];
  out.push(...validateJobSpecCommon(spec, `${prefix}.spec`));
  if (!unset(spec.selector)) out.push(invalid(`${prefix}.spec.selector`, spec.selector, '`selector` will be auto-generated'));
  if (spec.manualSelector === true) out.push(notSupported(`${prefix}.spec.manualSelector`, true, ['nil', 'false']));
  return out;
}

/** validateCronJobSpec; `oldSpec` on updates. */
function validateCronJobSpec(spec: Obj, oldSpec: Obj | undefined): FieldCause[] {
  const out: FieldCause[] = [];
  const schedule = spec.schedule;
  if (unset(schedule) || schedule === '') out.push(required('spec.schedule'));
  else if (typeof schedule !== 'string') out.push(invalid('spec.schedule', schedule, 'must be a string'));
  else {
    const allowTZ = typeof oldSpec?.schedule === 'string' && oldSpec.schedule.includes('TZ');
    out.push(...scheduleCauses(schedule, allowTZ, spec.timeZone));
  }
  out.push(...validateNonnegative(spec.startingDeadlineSeconds, 'spec.startingDeadlineSeconds'));
  if (!oldSpec || oldSpec.timeZone !== spec.timeZone) {
    const tz = spec.timeZone;
    if (!unset(tz)) {
      if (typeof tz !== 'string') out.push(invalid('spec.timeZone', tz, 'must be a string'));
      else for (const m of timeZoneErrors(tz)) out.push(invalid('spec.timeZone', tz, m));
    }
  }
  const cp = spec.concurrencyPolicy;
  if (unset(cp) || cp === '') out.push(required('spec.concurrencyPolicy'));
  else if (!CONCURRENCY_POLICIES.includes(cp as string)) out.push(notSupported('spec.concurrencyPolicy', cp, CONCURRENCY_POLICIES));
  out.push(...validateNonnegative(spec.successfulJobsHistoryLimit, 'spec.successfulJobsHistoryLimit'));
  out.push(...validateNonnegative(spec.failedJobsHistoryLimit, 'spec.failedJobsHistoryLimit'));
  out.push(...validateJobTemplateSpec(spec.jobTemplate));
  return out;
}

function validateCronJobCreate(obj: KubeObject): FieldCause[] {
  const spec = obj.spec;
  if (!isRecord(spec)) return [required('spec')];
  const out = validateCronJobSpec(spec, undefined);
  const name = obj.metadata.name ?? '';
  if (name.length > MAX_CRONJOB_NAME) out.push(invalid('metadata.name', name, `must be no more than ${MAX_CRONJOB_NAME} characters`));
  return out;
}

function validateCronJobUpdate(obj: KubeObject, old: KubeObject): FieldCause[] {
  const spec = obj.spec;
  if (!isRecord(spec)) return [required('spec')];
  return validateCronJobSpec(spec, asRecord(old.spec));
}

function validateCronJobStatus(obj: KubeObject): FieldCause[] {
  const status = asRecord(obj.status);
  if (!unset(status.active) && !Array.isArray(status.active)) return [invalid('status.active', status.active, 'must be a list')];
  return [];
}

function jobTemplateView(o: KubeObject): KubeObject {
  return { metadata: {}, spec: asRecord(asRecord(asRecord(o.spec).jobTemplate).spec) };
}

export const cronjobs: ResourceDef = {
  group: 'batch',
  version: 'v1',
  kind: 'CronJob',
  listKind: 'CronJobList',
  plural: 'cronjobs',
  singular: 'cronjob',
  namespaced: true,
  shortNames: ['cj'],
  categories: ['all'],
  subresources: { status: true },
  nameRule: 'dns1123Subdomain',
  modelName: 'V1CronJob',
  generationFields: ['spec'],
  defaults: defaultCronJob,
  prepareForCreate: prepareCronJobForCreate,
  validateCreate: validateCronJobCreate,
  validateUpdate: validateCronJobUpdate,
  validateStatus: validateCronJobStatus,
  columns: [
    { name: 'Schedule', type: 'string', priority: 0, description: 'The schedule in Cron format.', cell: (o) => String(asRecord(o.spec).schedule ?? '') },
    {
      name: 'Timezone',
      type: 'string',
      priority: 0,
      description: 'The time zone name for the given schedule.',
      cell: (o) => (typeof asRecord(o.spec).timeZone === 'string' ? (asRecord(o.spec).timeZone as string) : '<none>'),
    },
    {
      name: 'Suspend',
      type: 'boolean',
      priority: 0,
      description: 'This flag tells the controller to suspend subsequent executions.',
      cell: (o) => {
        const s = asRecord(o.spec).suspend;
        return typeof s === 'boolean' ? (s ? 'True' : 'False') : '<unset>';
      },
    },
    {
      name: 'Active',
      type: 'integer',
      priority: 0,
      description: 'A list of pointers to currently running jobs.',
      cell: (o) => (Array.isArray(asRecord(o.status).active) ? (asRecord(o.status).active as unknown[]).length : 0),
    },
    {
      name: 'Last Schedule',
      type: 'string',
      priority: 0,
      description: 'Information when was the last time the job was successfully scheduled.',
      cell: (o) => {
        const t = asRecord(o.status).lastScheduleTime;
        return typeof t === 'string' ? age(t) : '<none>';
      },
    },
    ageColumn(),
    { name: 'Containers', type: 'string', priority: 1, description: 'Names of each container in the template.', cell: (o) => containerCells(jobTemplateView(o)).names },
    { name: 'Images', type: 'string', priority: 1, description: 'Images referenced by each container in the template.', cell: (o) => containerCells(jobTemplateView(o)).images },
    {
      name: 'Selector',
      type: 'string',
      priority: 1,
      description: 'A label query over pods that should match the pod count.',
      cell: (o) => selectorCell(asRecord(asRecord(asRecord(o.spec).jobTemplate).spec).selector),
    },
  ],
};
