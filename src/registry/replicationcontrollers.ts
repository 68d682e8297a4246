// core/v1 ReplicationController: the ReplicaSet's predecessor, kept for old manifests.
//
// Follows Kubernetes v1.32: pkg/apis/core/v1/defaults.go SetDefaults_ReplicationController (an
// empty selector and empty metadata.labels default to the template's labels; replicas 1),
// pkg/apis/core/validation ValidateReplicationControllerSpec (selector required and non-empty,
// a plain label map that must match the template labels; unlike a ReplicaSet's, it may change),
// and the `kubectl get rc` columns. The controller is the ReplicaSet controller.
import type { FieldCause, KubeObject, ResourceDef } from './types.ts';
import { asRecord, isRecord, required, validateLabels } from './validation.ts';
import { containersColumns, defaultPodTemplate, ensureChild, nonNegativeFields } from './workloads.ts';
import { replicaCountColumns, validateReplicaStatus, validateReplicatedTemplate } from './replicasets.ts';

/** labels.FormatLabels: sorted `k=v` pairs, `<none>` when empty. */
export function formatLabelMap(m: unknown): string {
  const entries = Object.entries(asRecord(m)).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return entries.length === 0 ? '<none>' : entries.map(([k, v]) => `${k}=${String(v)}`).join(',');
}

function defaultReplicationController(obj: KubeObject): void {
  const spec = ensureChild(obj, 'spec');
  if (!spec) return;
  const template = spec.template;
  const labels = isRecord(template) && isRecord(template.metadata) && isRecord(template.metadata.labels) ? template.metadata.labels : undefined;
  if (labels) {
    const sel = spec.selector;
    if (sel === undefined || sel === null || (isRecord(sel) && Object.keys(sel).length === 0)) spec.selector = { ...labels };
    const own = obj.metadata.labels;
    if (own === undefined || own === null || Object.keys(own).length === 0) obj.metadata.labels = { ...(labels as Record<string, string>) };
  }
  if (spec.replicas === undefined || spec.replicas === null) spec.replicas = 1;
  defaultPodTemplate(spec);
}

function prepareReplicationControllerForCreate(obj: KubeObject): void {
  obj.status = { replicas: 0 };
}

function selectorMatches(selector: Record<string, unknown>) {
  return (labels: Record<string, string> | undefined): boolean => Object.entries(selector).every(([k, v]) => labels?.[k] === v);
}

function validateReplicationController(obj: KubeObject): FieldCause[] {
  const spec = obj.spec;
  if (!isRecord(spec)) return [required('spec')];
  const out = nonNegativeFields(spec, 'spec', ['minReadySeconds']);
  const sel = spec.selector;
  const selCauses = validateLabels(sel, 'spec.selector');
  const empty = !isRecord(sel) || Object.keys(sel).length === 0;
  if (empty && selCauses.length === 0) out.push(required('spec.selector'));
  out.push(...selCauses);
  out.push(...nonNegativeFields(spec, 'spec', ['replicas']));
  const matches = !empty && selCauses.length === 0 ? selectorMatches(sel as Record<string, unknown>) : undefined;
  out.push(...validateReplicatedTemplate(spec.template, matches, 'ReplicationController'));
  return out;
}

export const replicationcontrollers: ResourceDef = {
  group: '',
  version: 'v1',
  kind: 'ReplicationController',
  listKind: 'ReplicationControllerList',
  plural: 'replicationcontrollers',
  singular: 'replicationcontroller',
  namespaced: true,
  shortNames: ['rc'],
  categories: ['all'],
  subresources: {
    status: true,
    // spec.selector is a label map here (Kubernetes puts its `k=v,…` form in Scale status.selector).
    scale: { specReplicasPath: 'spec.replicas', statusReplicasPath: 'status.replicas', labelSelectorPath: 'spec.selector' },
  },
  nameRule: 'dns1123Subdomain',
  modelName: 'V1ReplicationController',
  generationFields: ['spec'],
  defaults: defaultReplicationController,
  prepareForCreate: prepareReplicationControllerForCreate,
  validate: validateReplicationController,
  validateStatus: validateReplicaStatus,
  columns: [
    ...replicaCountColumns(),
    ...containersColumns(),
    {
      name: 'Selector',
      type: 'string',
      priority: 1,
      description: 'Selector is a label query over pods that should match the Replicas count.',
      cell: (o) => formatLabelMap(asRecord(o.spec).selector),
    },
  ],
};
