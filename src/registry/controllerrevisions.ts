// apps/v1 ControllerRevision: an immutable snapshot of a workload's template (`data`) with a
// revision number. Validation and printer follow Kubernetes v1.32.
import type { FieldCause, KubeObject, OwnerReference, ResourceDef } from './types.ts';
import { asArray, asRecord, invalid, negative, requiredDetail, validateImmutable } from './validation.ts';
import { age } from './printing.ts';

function validateControllerRevision(obj: KubeObject): FieldCause[] {
  const out: FieldCause[] = [];
  if (obj.data === undefined || obj.data === null) out.push(requiredDetail('data', 'data is mandatory'));
  const rev = obj.revision;
  if (rev === undefined || rev === null) out.push(requiredDetail('revision', ''));
  else if (typeof rev !== 'number' || !Number.isInteger(rev)) out.push(invalid('revision', rev, 'must be an integer'));
  else if (rev < 0) out.push(negative('revision', rev));
  return out;
}

function validateControllerRevisionUpdate(obj: KubeObject, old: KubeObject): FieldCause[] {
  return validateImmutable(obj.data, old.data, 'data');
}

/** The CONTROLLER cell: `<kind>.<group>/<name>` of the controlling owner, or <none>. */
export function controllerCell(obj: KubeObject): string {
  const ref = asArray(obj.metadata.ownerReferences).find((r) => asRecord(r).controller === true) as OwnerReference | undefined;
  if (!ref) return '<none>';
  const apiVersion = typeof ref.apiVersion === 'string' ? ref.apiVersion : '';
  const slash = apiVersion.indexOf('/');
  const group = slash >= 0 ? apiVersion.slice(0, slash) : '';
  const kind = typeof ref.kind === 'string' ? ref.kind : '';
  if (!kind) return ref.name;
  const groupKind = group ? `${kind}.${group}` : kind;
  return `${groupKind.toLowerCase()}/${ref.name}`;
}

export const controllerrevisions: ResourceDef = {
  group: 'apps',
  version: 'v1',
  kind: 'ControllerRevision',
  listKind: 'ControllerRevisionList',
  plural: 'controllerrevisions',
  singular: 'controllerrevision',
  namespaced: true,
  nameRule: 'dns1123Subdomain',
  modelName: 'V1ControllerRevision',
  validate: validateControllerRevision,
  validateUpdate: validateControllerRevisionUpdate,
  // Kubernetes does not track generation for revisions (they have no spec).
  generationFields: [],
  columns: [
    { name: 'Controller', type: 'string', priority: 0, description: 'Controller of the object', cell: controllerCell },
    {
      name: 'Revision',
      type: 'string',
      priority: 0,
      description: 'Revision indicates the revision of the state represented by Data.',
      cell: (o) => (typeof o.revision === 'number' ? o.revision : 0),
    },
    { name: 'Age', type: 'string', priority: 0, description: 'Time since creation.', cell: (o) => age(o.metadata.creationTimestamp) },
  ],
};
