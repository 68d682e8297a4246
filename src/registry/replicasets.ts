// apps/v1 ReplicaSet: defaults, validation (create, update, status) and printer columns.
//
// Follows Kubernetes v1.32: pkg/apis/apps/v1/defaults.go (replicas 1, pod template defaults),
// pkg/apis/apps/validation (ValidateReplicaSetSpec, ValidatePodTemplateSpecForReplicaSet,
// ValidateReplicaSetStatus) and pkg/registry/apps/replicaset/strategy.go (the selector is
// immutable in apps/v1; status is reset on create), and the `kubectl get rs` columns of
// pkg/printers/internalversion/printers.go.
//
// The selector/template checks are exported for the Deployment entry, which Kubernetes
// validates with the same function (hence its "ReplicaSet" and "deployment" wording).
import type { FieldCause, KubeObject, PrinterColumn, ResourceDef } from './types.ts';
import {
  asArray,
  asRecord,
  forbidden,
  invalid,
  isRecord,
  labelSelectorMatches,
  labelSelectorString,
  notSupported,
  required,
  validateAnnotations,
  validateImmutable,
  validateLabels,
  validateLabelSelector,
  type LabelSelector,
} from './validation.ts';
import { validatePodSpec } from './podspec.ts';
import { ageColumn, containersColumns, defaultPodTemplate, ensureChild, nonNegativeFields, num } from './workloads.ts';

type Obj = Record<string, unknown>;

function defaultReplicaSet(obj: KubeObject): void {
  const spec = ensureChild(obj, 'spec');
  if (!spec) return;
  if (spec.replicas === undefined || spec.replicas === null) spec.replicas = 1;
  defaultPodTemplate(spec);
}

/** Kubernetes resets status on create; status.replicas is always serialized. */
function prepareReplicaSetForCreate(obj: KubeObject): void {
  obj.status = { replicas: 0 };
}

/**
 * The pod template checks of a replicated workload (ValidatePodTemplateSpecForReplicaSet and
 * ValidatePodTemplateSpecForRC): template present, its labels matched by the selector (when
 * `matches` is given, i.e. the selector is usable and non-empty), metadata valid, pod spec
 * valid, restartPolicy Always, no activeDeadlineSeconds. `kindName` goes into the
 * activeDeadlineSeconds message (`ReplicaSet` for ReplicaSets and Deployments).
 */
export function validateReplicatedTemplate(
  template: unknown,
  matches: ((labels: Record<string, string> | undefined) => boolean) | undefined,
  kindName: string,
  prefix = 'spec.template',
): FieldCause[] {
  if (!isRecord(template)) return [required(prefix)];
  const out: FieldCause[] = [];
  const meta = template.metadata === undefined || template.metadata === null ? {} : template.metadata;
  if (!isRecord(meta)) {
    out.push(invalid(`${prefix}.metadata`, meta, 'must be an object'));
  } else {
    const labels = isRecord(meta.labels) ? (meta.labels as Record<string, string>) : undefined;
    if (matches && !matches(labels)) {
      out.push(invalid(`${prefix}.metadata.labels`, meta.labels ?? {}, '`selector` does not match template `labels`'));
    }
    out.push(...validateLabels(meta.labels, `${prefix}.metadata.labels`));
    out.push(...validateAnnotations(meta.annotations, `${prefix}.metadata.annotations`));
  }
  const podSpec = template.spec;
  if (!isRecord(podSpec)) {
    out.push(required(`${prefix}.spec`));
    return out;
  }
  const restartField = `${prefix}.spec.restartPolicy`;
  for (const c of validatePodSpec(podSpec, `${prefix}.spec`)) {
    if (c.field === restartField || c.field.startsWith(`${restartField}.`)) continue;
    out.push(c);
  }
  if (podSpec.restartPolicy !== 'Always') out.push(notSupported(restartField, podSpec.restartPolicy ?? '', ['Always']));
  if (podSpec.activeDeadlineSeconds !== undefined && podSpec.activeDeadlineSeconds !== null) {
    out.push(forbidden(`${prefix}.spec.activeDeadlineSeconds`, `activeDeadlineSeconds in ${kindName} is not Supported`));
  }
  return out;
}

/**
 * ValidateReplicaSetSpec's selector and template part (also Deployments'): selector required,
 * valid and non-empty (Kubernetes words the empty case "empty selector is invalid for
 * deployment" for both kinds), and the template checks above.
 */
export function validateSelectorAndReplicaSetTemplate(spec: Obj): FieldCause[] {
  const out: FieldCause[] = [];
  const sel = spec.selector;
  let usable = false;
  if (sel === undefined || sel === null) {
    out.push(required('spec.selector'));
  } else {
    const causes = validateLabelSelector(sel, 'spec.selector');
    out.push(...causes);
    if (isRecord(sel)) {
      const n = Object.keys(asRecord(sel.matchLabels)).length + asArray(sel.matchExpressions).length;
      if (n === 0) out.push(invalid('spec.selector', sel, 'empty selector is invalid for deployment'));
      else usable = causes.length === 0;
    }
  }
  const matches = usable ? (labels: Record<string, string> | undefined) => labelSelectorMatches(sel as LabelSelector, labels) : undefined;
  out.push(...validateReplicatedTemplate(spec.template, matches, 'ReplicaSet'));
  return out;
}

function validateReplicaSet(obj: KubeObject): FieldCause[] {
  const spec = obj.spec;
  if (!isRecord(spec)) return [required('spec')];
  const out = nonNegativeFields(spec, 'spec', ['replicas', 'minReadySeconds']);
  out.push(...validateSelectorAndReplicaSetTemplate(spec));
  return out;
}

/** apps/v1 forbids changing the selector (extensions/v1beta1 allowed it). */
function validateReplicaSetUpdate(obj: KubeObject, old: KubeObject): FieldCause[] {
  return validateImmutable(asRecord(obj.spec).selector, asRecord(old.spec).selector, 'spec.selector');
}

/** ValidateReplicaSetStatus / ValidateReplicationControllerStatus (the same rules). */
export function validateReplicaStatus(obj: KubeObject): FieldCause[] {
  const status = asRecord(obj.status);
  const out = nonNegativeFields(status, 'status', ['replicas', 'fullyLabeledReplicas', 'readyReplicas', 'availableReplicas', 'observedGeneration']);
  const replicas = num(status.replicas);
  const msg = 'cannot be greater than status.replicas';
  for (const k of ['fullyLabeledReplicas', 'readyReplicas', 'availableReplicas']) {
    if (num(status[k]) > replicas) out.push(invalid(`status.${k}`, num(status[k]), msg));
  }
  if (num(status.availableReplicas) > num(status.readyReplicas)) {
    out.push(invalid('status.availableReplicas', num(status.availableReplicas), 'cannot be greater than readyReplicas'));
  }
  return out;
}

/** DESIRED CURRENT READY (and AGE), the columns ReplicaSets and ReplicationControllers share. */
export function replicaCountColumns(): PrinterColumn[] {
  return [
    {
      name: 'Desired',
      type: 'integer',
      priority: 0,
      description: 'Replicas is the number of desired replicas. This is a pointer to distinguish between explicit zero and unspecified. Defaults to 1.',
      cell: (o) => num(asRecord(o.spec).replicas, 1),
    },
    {
      name: 'Current',
      type: 'integer',
      priority: 0,
      description: 'Replicas is the most recently observed number of replicas.',
      cell: (o) => num(asRecord(o.status).replicas),
    },
    {
      name: 'Ready',
      type: 'integer',
      priority: 0,
      description: 'readyReplicas is the number of pods targeted by this ReplicaSet with a Ready Condition.',
      cell: (o) => num(asRecord(o.status).readyReplicas),
    },
    ageColumn(),
  ];
}

export const replicasets: ResourceDef = {
  group: 'apps',
  version: 'v1',
  kind: 'ReplicaSet',
  listKind: 'ReplicaSetList',
  plural: 'replicasets',
  singular: 'replicaset',
  namespaced: true,
  shortNames: ['rs'],
  categories: ['all'],
  subresources: {
    status: true,
    scale: { specReplicasPath: 'spec.replicas', statusReplicasPath: 'status.replicas', labelSelectorPath: 'spec.selector' },
  },
  nameRule: 'dns1123Subdomain',
  modelName: 'V1ReplicaSet',
  generationFields: ['spec'],
  defaults: defaultReplicaSet,
  prepareForCreate: prepareReplicaSetForCreate,
  validate: validateReplicaSet,
  validateUpdate: validateReplicaSetUpdate,
  validateStatus: validateReplicaStatus,
  columns: [
    ...replicaCountColumns(),
    ...containersColumns(),
    {
      name: 'Selector',
      type: 'string',
      priority: 1,
      description: 'Selector is a label query over pods that should match the replica count.',
      // metav1.FormatLabelSelector: `<none>` for an absent or empty selector.
      cell: (o) => {
        const sel = asRecord(o.spec).selector;
        return (isRecord(sel) && labelSelectorString(sel as LabelSelector)) || '<none>';
      },
    },
  ],
};
