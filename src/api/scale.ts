// The scale subresource (autoscaling/v1 Scale), generic over the registry's replica paths.
import type { KubeObject, ResourceDef, ScaleSubresource } from '../registry/types.ts';
import type { LabelSelector } from '../registry/validation.ts';
import { getPath } from '../registry/printing.ts';
import { errors } from './errors.ts';

function setPath(obj: Record<string, unknown>, path: string, value: unknown): void {
  const parts = path.split('.');
  let cur = obj;
  for (const p of parts.slice(0, -1)) {
    if (!cur[p] || typeof cur[p] !== 'object') cur[p] = {};
    cur = cur[p] as Record<string, unknown>;
  }
  cur[parts[parts.length - 1]] = value;
}

export function scaleOf(def: ResourceDef, spec: ScaleSubresource, obj: KubeObject, selectorString: (s: LabelSelector | undefined) => string): Record<string, unknown> {
  const m = obj.metadata;
  const status: Record<string, unknown> = { replicas: Number(getPath(obj, spec.statusReplicasPath) ?? 0) };
  if (spec.labelSelectorPath) {
    const raw = getPath(obj, spec.labelSelectorPath);
    // A LabelSelector (apps/v1 kinds) or a plain label map (ReplicationController's selector).
    const isSelector = !!raw && typeof raw === 'object' && ('matchLabels' in raw || 'matchExpressions' in raw);
    const sel = (isSelector ? raw : raw && typeof raw === 'object' ? { matchLabels: raw } : undefined) as LabelSelector | undefined;
    const s = selectorString(sel);
    if (s) status.selector = s;
  }
  return {
    kind: 'Scale',
    apiVersion: 'autoscaling/v1',
    metadata: { name: m.name, namespace: m.namespace, uid: m.uid, resourceVersion: m.resourceVersion, creationTimestamp: m.creationTimestamp },
    spec: { replicas: Number(getPath(obj, spec.specReplicasPath) ?? 0) },
    status,
  };
}

/** Write a Scale's spec.replicas (and resourceVersion precondition) into the object. */
export function applyScale(def: ResourceDef, spec: ScaleSubresource, cur: KubeObject, scale: KubeObject): KubeObject {
  if (!scale || typeof scale !== 'object') throw errors.badRequest('the body must be an autoscaling/v1 Scale');
  if (scale.kind !== undefined && scale.kind !== 'Scale') throw errors.badRequest(`expected kind Scale, got ${String(scale.kind)}`);
  const replicas = (scale.spec as { replicas?: unknown } | undefined)?.replicas;
  if (replicas !== undefined && (typeof replicas !== 'number' || !Number.isInteger(replicas))) {
    throw errors.invalid('autoscaling', 'Scale', cur.metadata.name ?? '', [{ reason: 'FieldValueInvalid', field: 'spec.replicas', message: `Invalid value: ${JSON.stringify(replicas)}: must be an integer` }]);
  }
  if (typeof replicas === 'number' && replicas < 0) {
    throw errors.invalid('autoscaling', 'Scale', cur.metadata.name ?? '', [{ reason: 'FieldValueInvalid', field: 'spec.replicas', message: `Invalid value: ${replicas}: must be greater than or equal to 0` }]);
  }
  const rv = scale.metadata?.resourceVersion;
  if (rv) cur.metadata.resourceVersion = rv;
  setPath(cur as unknown as Record<string, unknown>, spec.specReplicasPath, replicas ?? 0);
  void def;
  return cur;
}
