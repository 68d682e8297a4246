// Helpers shared by the workload kinds with a pod template (StatefulSet, DaemonSet): template
// defaulting and validation, printer columns, and status checks.
import type { FieldCause, KubeObject, PrinterColumn } from './types.ts';
import {
  asArray,
  asRecord,
  forbidden,
  invalid,
  isRecord,
  labelSelectorMatches,
  notSupported,
  required,
  validateAnnotations,
  validateLabels,
  validateLabelSelector,
  validateNonnegative,
  type LabelSelector,
} from './validation.ts';
import { age } from './printing.ts';
import { defaultPodSpec, validatePodSpec } from './podspec.ts';

type Obj = Record<string, unknown>;

/** parent[key] as an object, created when absent; undefined when it holds a non-object
 *  (validation reports that, defaulting must not clobber it). */
export function ensureChild(parent: Obj, key: string): Obj | undefined {
  const v = parent[key];
  if (v === undefined || v === null) {
    const fresh: Obj = {};
    parent[key] = fresh;
    return fresh;
  }
  return isRecord(v) ? v : undefined;
}

/** Apply pod-spec defaults to spec.template.spec of a workload. */
export function defaultPodTemplate(spec: Obj): void {
  const template = spec.template;
  if (!isRecord(template)) return;
  const podSpec = template.spec;
  if (isRecord(podSpec)) defaultPodSpec(podSpec);
}

/** Kubernetes' layoutContainerCells: container names and images, comma-separated. */
export function containerCells(obj: KubeObject): { names: string; images: string } {
  const containers = asArray(asRecord(asRecord(asRecord(obj.spec).template).spec).containers);
  const names: string[] = [];
  const images: string[] = [];
  for (const c of containers) {
    const r = asRecord(c);
    names.push(typeof r.name === 'string' ? r.name : '');
    images.push(typeof r.image === 'string' ? r.image : '');
  }
  return { names: names.join(','), images: images.join(',') };
}

export function ageColumn(): PrinterColumn {
  return {
    name: 'Age',
    type: 'string',
    priority: 0,
    description: 'Time since the object was created (metadata.creationTimestamp).',
    cell: (o) => age(o.metadata.creationTimestamp),
  };
}

export function containersColumns(): PrinterColumn[] {
  return [
    {
      name: 'Containers',
      type: 'string',
      priority: 1,
      description: 'Names of each container in the template.',
      cell: (o) => containerCells(o).names,
    },
    {
      name: 'Images',
      type: 'string',
      priority: 1,
      description: 'Images referenced by each container in the template.',
      cell: (o) => containerCells(o).images,
    },
  ];
}

/** A number field or a fallback (for printer cells). */
export function num(v: unknown, fallback = 0): number {
  return typeof v === 'number' && Number.isFinite(v) ? v : fallback;
}

/**
 * The selector + template checks shared by StatefulSets and DaemonSets: selector required,
 * non-empty and valid; template labels matched by it; template metadata valid; the pod spec
 * valid; restartPolicy Always; no activeDeadlineSeconds.
 *
 * `extraVolumes` are volumes the controller adds to every pod (a StatefulSet's claim
 * templates), so mounts of them validate; causes about those synthetic entries are dropped.
 */
export function validateWorkloadSelectorAndTemplate(
  spec: Obj,
  kindWord: 'statefulset' | 'daemonset',
  kindName: 'StatefulSet' | 'DaemonSet',
  extraVolumes: Obj[] = [],
): FieldCause[] {
  const out: FieldCause[] = [];
  const sel = spec.selector;
  let selectorUsable = false;
  if (sel === undefined || sel === null) {
    out.push(required('spec.selector'));
  } else {
    const selCauses = validateLabelSelector(sel, 'spec.selector');
    out.push(...selCauses);
    if (isRecord(sel)) {
      const n = Object.keys(asRecord(sel.matchLabels)).length + asArray(sel.matchExpressions).length;
      if (n === 0) out.push(invalid('spec.selector', sel, `empty selector is invalid for ${kindWord}`));
      else selectorUsable = selCauses.length === 0;
    }
  }

  const template = spec.template;
  if (!isRecord(template)) {
    out.push(required('spec.template'));
    return out;
  }
  const meta = template.metadata === undefined ? {} : template.metadata;
  if (!isRecord(meta)) {
    out.push(invalid('spec.template.metadata', meta, 'must be an object'));
  } else {
    if (selectorUsable) {
      const labels = isRecord(meta.labels) ? (meta.labels as Record<string, string>) : undefined;
      if (!labelSelectorMatches(sel as LabelSelector, labels)) {
        out.push(invalid('spec.template.metadata.labels', meta.labels ?? {}, '`selector` does not match template `labels`'));
      }
    }
    out.push(...validateLabels(meta.labels, 'spec.template.metadata.labels'));
    out.push(...validateAnnotations(meta.annotations, 'spec.template.metadata.annotations'));
  }

  const podSpec = template.spec;
  if (!isRecord(podSpec)) {
    out.push(required('spec.template.spec'));
    return out;
  }
  const rp = podSpec.restartPolicy;
  const restartField = 'spec.template.spec.restartPolicy';
  let toValidate: Obj = podSpec;
  let firstSynthetic = -1;
  if (extraVolumes.length > 0) {
    const volumes = Array.isArray(podSpec.volumes) ? podSpec.volumes : [];
    const have = new Set(volumes.map((v) => asRecord(v).name));
    const add = extraVolumes.filter((v) => !have.has(v.name));
    if (add.length > 0) {
      firstSynthetic = volumes.length;
      toValidate = { ...podSpec, volumes: [...volumes, ...add] };
    }
  }
  for (const c of validatePodSpec(toValidate, 'spec.template.spec')) {
    if (c.field === restartField || c.field.startsWith(`${restartField}.`)) continue;
    if (firstSynthetic >= 0 && isSyntheticVolumeCause(c.field, firstSynthetic)) continue;
    out.push(c);
  }
  if (rp !== 'Always') out.push(notSupported(restartField, rp ?? '', ['Always']));
  if (podSpec.activeDeadlineSeconds !== undefined && podSpec.activeDeadlineSeconds !== null) {
    out.push(forbidden('spec.template.spec.activeDeadlineSeconds', `activeDeadlineSeconds in ${kindName} is not Supported`));
  }
  return out;
}

function isSyntheticVolumeCause(field: string, firstSynthetic: number): boolean {
  const m = /^spec\.template\.spec\.volumes\[(\d+)\]/.exec(field);
  return m !== null && Number(m[1]) >= firstSynthetic;
}

/** Nonnegative checks for a list of optional integer fields under a prefix. */
export function nonNegativeFields(rec: Obj, prefix: string, names: string[]): FieldCause[] {
  return names.flatMap((n) => validateNonnegative(rec[n], `${prefix}.${n}`));
}

/** status.collisionCount may not go down. */
export function collisionCountCauses(status: Obj, oldStatus: Obj): FieldCause[] {
  const oldCC = oldStatus.collisionCount;
  if (typeof oldCC !== 'number') return [];
  const cc = status.collisionCount;
  if (typeof cc === 'number' && cc >= oldCC) return [];
  return [invalid('status.collisionCount', typeof cc === 'number' ? cc : 0, 'cannot be decremented')];
}
