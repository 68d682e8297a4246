// The resource registry: one entry per kind. The API server's generic handlers read everything
// kind-specific from here (identity, scope, discovery names, defaults, validation, the
// status/spec split, printer columns, field selectors), so adding a kind is adding an entry.

/** Object metadata as it travels on the wire (JSON: timestamps are RFC 3339 strings). */
export interface ObjectMeta {
  name?: string;
  generateName?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  deletionGracePeriodSeconds?: number;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: OwnerReference[];
  finalizers?: string[];
  managedFields?: ManagedFieldsEntry[];
  [key: string]: unknown;
}

export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}

export interface ManagedFieldsEntry {
  manager?: string;
  operation?: 'Apply' | 'Update';
  apiVersion?: string;
  time?: string;
  fieldsType?: 'FieldsV1';
  fieldsV1?: Record<string, unknown>;
  subresource?: string;
}

/** Any Kubernetes object as JSON. Kind-specific code narrows `spec`/`status` itself. */
export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
  [key: string]: unknown;
}

/** One reason a field is invalid, as Kubernetes reports it in Status.details.causes. */
export interface FieldCause {
  /** Kubernetes cause types: FieldValueRequired, FieldValueInvalid, FieldValueNotSupported,
   *  FieldValueDuplicate, FieldValueForbidden, FieldValueTooLong, FieldValueTypeInvalid … */
  reason: string;
  /** JSON-path-like field name as Kubernetes prints it, e.g. `spec.containers[0].image`. */
  field: string;
  /** Human message, e.g. `Required value` or `Invalid value: "x": must be …`. */
  message: string;
}

export interface PrinterColumn {
  name: string;
  type: 'string' | 'integer' | 'number' | 'boolean' | 'date';
  format?: string;
  description?: string;
  /** 0 = always shown; 1 = only with `-o wide`. */
  priority: number;
  /** The cell for one object. Dates are RFC 3339 strings (kubectl prints their age). */
  cell(obj: KubeObject): string | number | boolean | null;
}

export interface ScaleSubresource {
  /** JSON path (dot-separated) of the desired replicas in the object, e.g. `spec.replicas`. */
  specReplicasPath: string;
  statusReplicasPath: string;
  /** Path of a label selector whose string form goes into Scale status.selector. */
  labelSelectorPath?: string;
}

export type NameRule = 'dns1123Subdomain' | 'dns1123Label' | 'pathSegment';

export interface ResourceDef {
  /** '' for the core group. */
  group: string;
  version: string;
  kind: string;
  listKind: string;
  /** Lower-case plural: the URL segment. */
  plural: string;
  singular: string;
  namespaced: boolean;
  shortNames?: string[];
  categories?: string[];
  /** Verbs discovery advertises; the server answers 405 for others. Default: all eight. */
  verbs?: string[];
  /** Subresources besides the main resource. `status` enables the status/spec split. */
  subresources?: {
    status?: boolean;
    scale?: ScaleSubresource;
    /** Other subresources the API serves (binding, eviction, log, exec, attach, …). */
    others?: string[];
  };
  /** Name validation rule for metadata.name (Kubernetes' rule for that kind). */
  nameRule: NameRule;
  /** The model class in @kubernetes/client-node describing this kind (e.g. `V1Pod`), used
   *  for the OpenAPI documents and for strict field validation. */
  modelName: string;
  /** Fill Kubernetes defaults in place (on create and on every update of the main resource). */
  defaults?(obj: KubeObject): void;
  /** Set server-owned fields on create (e.g. pod status.phase = Pending). */
  prepareForCreate?(obj: KubeObject): void;
  /** Kind-specific validation of a whole object (metadata basics are checked generically). */
  validate?(obj: KubeObject): FieldCause[];
  /** Extra checks only on create; validate() runs as well. */
  validateCreate?(obj: KubeObject): FieldCause[];
  /** Adjust an update of the main resource before validation (e.g. bump an annotation). */
  prepareForUpdate?(obj: KubeObject, old: KubeObject): void;
  /** Extra checks on update (immutable fields …); validate() runs as well. */
  validateUpdate?(obj: KubeObject, old: KubeObject): FieldCause[];
  /** Checks on a status-subresource write. */
  validateStatus?(obj: KubeObject, old: KubeObject): FieldCause[];
  /** Checks on a pods/binding write, instead of validate(): a binding sets spec.nodeName (and
   *  a status condition) of an object validated when it was written, so only what it sets needs
   *  checking. Absent: validate() runs. */
  validateBinding?(obj: KubeObject, old: KubeObject): FieldCause[];
  /** The fields whose change bumps metadata.generation. Kinds that leave it out (or give [])
   *  have no generation, as in Kubernetes (ConfigMaps, Pods, Services …). */
  generationFields?: string[];
  /** Printer columns for Tables (NAME is added first automatically unless omitNameColumn;
   *  AGE is listed explicitly where Kubernetes prints it). */
  columns: PrinterColumn[];
  /** The NAME cell, when Kubernetes prints more than the name (e.g. `standard (default)`). */
  nameCell?(obj: KubeObject): string;
  /** The kind's columns place Name themselves (events print it last, wide only). */
  omitNameColumn?: boolean;
  /** Field-selector attributes beyond metadata.name and metadata.namespace. */
  fieldSelectors?: Record<string, (obj: KubeObject) => string>;
  /** Default propagationPolicy when a DELETE names none (Kubernetes: Background for most). */
  defaultPropagation?: 'Background' | 'Orphan' | 'Foreground';
  /** Whether a PUT may create the object (Kubernetes: true for only a few kinds). */
  allowCreateOnUpdate?: boolean;
  /** This kind is another view of objects stored under another resource (events.k8s.io/v1
   *  Events are core/v1 Events; a PetSet is a StatefulSet): reads convert from the stored
   *  form, writes convert to it, and both views share names, resourceVersions and watches. */
  storedAs?: {
    group: string;
    plural: string;
    toStored(obj: KubeObject): KubeObject;
    fromStored(obj: KubeObject): KubeObject;
  };
}

/** apiVersion string of a def: `v1` or `apps/v1`. */
export function apiVersionOf(def: Pick<ResourceDef, 'group' | 'version'>): string {
  return def.group ? `${def.group}/${def.version}` : def.version;
}
