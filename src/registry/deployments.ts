// apps/v1 Deployment: defaults, validation (create, update, status) and printer columns.
//
// Follows Kubernetes v1.32 (pkg/apis/apps/v1/defaults.go SetDefaults_Deployment,
// pkg/apis/apps/validation ValidateDeployment*, pkg/registry/apps/deployment/strategy.go and
// pkg/printers/internalversion printDeployment):
// - defaults: replicas 1; strategy RollingUpdate with maxSurge 25% and maxUnavailable 25%;
//   revisionHistoryLimit 10; progressDeadlineSeconds 600; pod template defaults;
// - validation: selector required, non-empty, valid and matching the template labels; the
//   template valid with restartPolicy Always and no activeDeadlineSeconds; replicas,
//   minReadySeconds, revisionHistoryLimit, progressDeadlineSeconds non-negative;
//   progressDeadlineSeconds greater than minReadySeconds; strategy Recreate without
//   rollingUpdate, RollingUpdate with maxSurge/maxUnavailable ints or percentages (not both 0,
//   maxUnavailable not over 100%); spec.selector immutable (apps/v1);
// - status: the counts non-negative and consistent, collisionCount never decremented.
//
// One difference: Kubernetes bumps metadata.generation when annotations change (they are
// copied to the ReplicaSets); kennel bumps it for spec changes only, and the deployment
// controller copies annotations on its next round regardless.
import type { FieldCause, KubeObject, ResourceDef } from './types.ts';
import {
  asRecord,
  forbidden,
  intOrPercentValue,
  invalid,
  isRecord,
  labelSelectorString,
  notMoreThan100PercentCauses,
  notSupported,
  positiveIntOrPercentCauses,
  required,
  requiredDetail,
  validateImmutable,
  type LabelSelector,
} from './validation.ts';
import { ageColumn, collisionCountCauses, containersColumns, defaultPodTemplate, ensureChild, nonNegativeFields, num } from './workloads.ts';
import { validateSelectorAndReplicaSetTemplate } from './replicasets.ts';

type Obj = Record<string, unknown>;

export const DEPLOYMENT_STRATEGIES = ['Recreate', 'RollingUpdate'];

function unset(v: unknown): boolean {
  return v === undefined || v === null;
}

function defaultDeployment(obj: KubeObject): void {
  const spec = ensureChild(obj, 'spec');
  if (!spec) return;
  if (unset(spec.replicas)) spec.replicas = 1;
  const strategy = ensureChild(spec, 'strategy');
  if (strategy) {
    if (unset(strategy.type) || strategy.type === '') strategy.type = 'RollingUpdate';
    if (strategy.type === 'RollingUpdate') {
      const ru = ensureChild(strategy, 'rollingUpdate');
      if (ru) {
        if (unset(ru.maxUnavailable)) ru.maxUnavailable = '25%';
        if (unset(ru.maxSurge)) ru.maxSurge = '25%';
      }
    }
  }
  if (unset(spec.revisionHistoryLimit)) spec.revisionHistoryLimit = 10;
  if (unset(spec.progressDeadlineSeconds)) spec.progressDeadlineSeconds = 600;
  defaultPodTemplate(spec);
}

function prepareDeploymentForCreate(obj: KubeObject): void {
  // Kubernetes resets status on create; the controller fills it in.
  obj.status = {};
}

/** ValidateRollingUpdateDeployment. */
function validateRollingUpdate(ru: Obj, prefix: string): FieldCause[] {
  const fu = `${prefix}.maxUnavailable`;
  const fs = `${prefix}.maxSurge`;
  const mu = ru.maxUnavailable;
  const ms = ru.maxSurge;
  const out: FieldCause[] = [];
  if (!unset(mu)) out.push(...positiveIntOrPercentCauses(mu, fu));
  if (!unset(ms)) out.push(...positiveIntOrPercentCauses(ms, fs));
  if (intOrPercentValue(mu) === 0 && intOrPercentValue(ms) === 0) {
    out.push(invalid(fu, mu ?? 0, 'may not be 0 when `maxSurge` is 0'));
  }
  if (!unset(mu)) out.push(...notMoreThan100PercentCauses(mu, fu));
  return out;
}

/** ValidateDeploymentStrategy. */
function validateStrategy(strategy: unknown): FieldCause[] {
  const s = asRecord(strategy);
  switch (s.type) {
    case 'Recreate':
      return unset(s.rollingUpdate) ? [] : [forbidden('spec.strategy.rollingUpdate', "may not be specified when strategy `type` is 'Recreate'")];
    case 'RollingUpdate':
      if (!isRecord(s.rollingUpdate)) return [requiredDetail('spec.strategy.rollingUpdate', 'this should be defaulted and never be nil')];
      return validateRollingUpdate(s.rollingUpdate, 'spec.strategy.rollingUpdate');
    default:
      return [notSupported('spec.strategy', strategy ?? {}, DEPLOYMENT_STRATEGIES)];
  }
}

function validateDeployment(obj: KubeObject): FieldCause[] {
  const spec = obj.spec;
  if (!isRecord(spec)) return [required('spec')];
  const out = nonNegativeFields(spec, 'spec', ['replicas']);
  out.push(...validateSelectorAndReplicaSetTemplate(spec));
  out.push(...validateStrategy(spec.strategy));
  out.push(...nonNegativeFields(spec, 'spec', ['minReadySeconds', 'revisionHistoryLimit']));
  const pds = spec.progressDeadlineSeconds;
  if (!unset(pds)) {
    const c = nonNegativeFields(spec, 'spec', ['progressDeadlineSeconds']);
    out.push(...c);
    if (c.length === 0 && typeof pds === 'number' && pds <= num(spec.minReadySeconds)) {
      out.push(invalid('spec.progressDeadlineSeconds', pds, 'must be greater than minReadySeconds'));
    }
  }
  return out;
}

function validateDeploymentUpdate(obj: KubeObject, old: KubeObject): FieldCause[] {
  // apps/v1: the selector may not change (extensions/v1beta1 and apps/v1beta* allowed it).
  return validateImmutable(asRecord(obj.spec).selector, asRecord(old.spec).selector, 'spec.selector');
}

function validateDeploymentStatus(obj: KubeObject, old: KubeObject): FieldCause[] {
  const status = asRecord(obj.status);
  const out = nonNegativeFields(status, 'status', [
    'observedGeneration',
    'replicas',
    'updatedReplicas',
    'readyReplicas',
    'availableReplicas',
    'unavailableReplicas',
    'collisionCount',
  ]);
  const replicas = num(status.replicas);
  const msg = 'cannot be greater than status.replicas';
  for (const k of ['updatedReplicas', 'readyReplicas', 'availableReplicas']) {
    if (num(status[k]) > replicas) out.push(invalid(`status.${k}`, num(status[k]), msg));
  }
  if (num(status.availableReplicas) > num(status.readyReplicas)) {
    out.push(invalid('status.availableReplicas', num(status.availableReplicas), 'cannot be greater than readyReplicas'));
  }
  out.push(...collisionCountCauses(status, asRecord(old.status)));
  return out;
}

function statusInt(key: string) {
  return (o: KubeObject) => num(asRecord(o.status)[key]);
}

export const deployments: ResourceDef = {
  group: 'apps',
  version: 'v1',
  kind: 'Deployment',
  listKind: 'DeploymentList',
  plural: 'deployments',
  singular: 'deployment',
  namespaced: true,
  shortNames: ['deploy'],
  categories: ['all'],
  subresources: {
    status: true,
    scale: { specReplicasPath: 'spec.replicas', statusReplicasPath: 'status.replicas', labelSelectorPath: 'spec.selector' },
  },
  nameRule: 'dns1123Subdomain',
  modelName: 'V1Deployment',
  generationFields: ['spec'],
  defaults: defaultDeployment,
  prepareForCreate: prepareDeploymentForCreate,
  validate: validateDeployment,
  validateUpdate: validateDeploymentUpdate,
  validateStatus: validateDeploymentStatus,
  // printDeployment (kubectl 1.32): NAME READY UP-TO-DATE AVAILABLE AGE, wide CONTAINERS IMAGES
  // SELECTOR. Kubernetes declares UP-TO-DATE and AVAILABLE as strings holding integers.
  columns: [
    {
      name: 'Ready',
      type: 'string',
      priority: 0,
      description: 'Number of the pod with ready state',
      cell: (o) => `${num(asRecord(o.status).readyReplicas)}/${num(asRecord(o.spec).replicas, 1)}`,
    },
    { name: 'Up-to-date', type: 'string', priority: 0, description: 'Total number of non-terminating pods targeted by this deployment that have the desired template spec.', cell: statusInt('updatedReplicas') },
    { name: 'Available', type: 'string', priority: 0, description: 'Total number of available non-terminating pods (ready for at least minReadySeconds) targeted by this deployment.', cell: statusInt('availableReplicas') },
    ageColumn(),
    ...containersColumns(),
    {
      name: 'Selector',
      type: 'string',
      priority: 1,
      description: 'Label selector for pods. Existing ReplicaSets whose pods are selected by this will be the ones affected by this deployment.',
      cell: (o) => {
        const sel = asRecord(o.spec).selector;
        return isRecord(sel) ? labelSelectorString(sel as LabelSelector) : '';
      },
    },
  ],
};
