// apps/v1alpha1 PetSet: the name StatefulSets had in Kubernetes 1.3 and 1.4, kept so that the old
// guides' commands work (`kubectl get petset`, `kubectl scale petset mongo --replicas=5`,
// `kubectl patch petset mongo -p '{"spec":{"replicas":5}}'`, `kubectl apply` of a PetSet
// manifest).
//
// A PetSet is not a second object: it is a view of the apps/v1 StatefulSet of the same name
// (ResourceDef.storedAs). Both share names, uids, resourceVersions, generations and watches, and
// the StatefulSet controller runs the set whichever name it was written through.
//
// Conversion. The v1alpha1 PetSet's fields have the StatefulSet's names and meaning
// (spec.replicas, selector, template, volumeClaimTemplates, serviceName; status.replicas and
// observedGeneration), so converting changes apiVersion and kind only. The view is a superset
// of the old type: fields added since (updateStrategy, podManagementPolicy, the rest of the
// status …) show through it and survive a PUT through it, so editing a set under its old name
// never loses anything. The schema (OpenAPI, strict field validation, strategic merge patch)
// is the StatefulSet's (modelName V1StatefulSet), which is what makes that possible.
//
// Defaults and validation are the StatefulSet's, plus v1alpha1's defaulting of an absent
// spec.selector (matchLabels = the template's labels) and of empty metadata.labels (= the
// template's labels): the old guides' manifests leave the selector out. PetSet had no short
// name in Kubernetes and gets none here; it is not in the `all` category, so `kubectl get all`
// lists each set once (as a StatefulSet).
import type { KubeObject, ResourceDef } from './types.ts';
import { asRecord, isRecord } from './validation.ts';
import { statefulsets } from './statefulsets.ts';

export const PETSET_API_VERSION = 'apps/v1alpha1';

function cloneJSON<T>(v: T): T {
  return JSON.parse(JSON.stringify(v)) as T;
}

/** A PetSet (apps/v1alpha1) as the StatefulSet (apps/v1) it is stored as. */
export function petSetToStatefulSet(obj: KubeObject): KubeObject {
  const out = cloneJSON(obj);
  out.apiVersion = 'apps/v1';
  out.kind = 'StatefulSet';
  return out;
}

/** A stored StatefulSet seen as a PetSet. */
export function statefulSetToPetSet(obj: KubeObject): KubeObject {
  const out = cloneJSON(obj);
  out.apiVersion = PETSET_API_VERSION;
  out.kind = 'PetSet';
  return out;
}

/** v1alpha1 SetDefaults_PetSet: selector and labels from the template's labels when absent. */
export function defaultPetSetSelector(obj: KubeObject): void {
  const spec = obj.spec;
  if (!isRecord(spec)) return;
  const templateLabels = asRecord(asRecord(asRecord(spec.template).metadata).labels);
  const labels = Object.fromEntries(Object.entries(templateLabels).filter((e): e is [string, string] => typeof e[1] === 'string'));
  if (Object.keys(labels).length === 0) return;
  if (spec.selector === undefined || spec.selector === null) spec.selector = { matchLabels: { ...labels } };
  if (!obj.metadata.labels || Object.keys(obj.metadata.labels).length === 0) obj.metadata.labels = { ...labels };
}

export const petsets: ResourceDef = {
  group: 'apps',
  version: 'v1alpha1',
  kind: 'PetSet',
  listKind: 'PetSetList',
  plural: 'petsets',
  singular: 'petset',
  namespaced: true,
  subresources: statefulsets.subresources,
  nameRule: statefulsets.nameRule,
  // client-node has no PetSet model; the StatefulSet's has every PetSet field under the same name.
  modelName: 'V1StatefulSet',
  generationFields: statefulsets.generationFields,
  defaults(obj) {
    defaultPetSetSelector(obj);
    statefulsets.defaults?.(obj);
  },
  prepareForCreate: statefulsets.prepareForCreate,
  validate: statefulsets.validate,
  validateUpdate: statefulsets.validateUpdate,
  validateStatus: statefulsets.validateStatus,
  columns: statefulsets.columns,
  storedAs: { group: 'apps', plural: 'statefulsets', toStored: petSetToStatefulSet, fromStored: statefulSetToPetSet },
};
