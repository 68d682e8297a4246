// Server-side printing: meta.k8s.io/v1 Table responses for `kubectl get`, and the
// PartialObjectMetadata forms, chosen from the Accept header as the apiserver negotiates.
import type { KubeObject, ResourceDef } from '../registry/types.ts';
import { apiVersionOf } from '../registry/types.ts';

export type Representation = 'object' | 'table' | 'partial';

/** Accept headers seen recently → their representation (clients send the same few). */
const representationCache = new Map<string, Representation>();

/** Pick the representation from Accept (`application/json;as=Table;v=v1;g=meta.k8s.io, …`). */
export function representationOf(accept: string | undefined): Representation {
  if (!accept || accept === 'application/json') return 'object';
  let r = representationCache.get(accept);
  if (r === undefined) {
    r = parseRepresentation(accept);
    if (representationCache.size >= 256) representationCache.clear();
    representationCache.set(accept, r);
  }
  return r;
}

function parseRepresentation(accept: string): Representation {
  for (const part of accept.split(',')) {
    const params = new Map<string, string>();
    const [type, ...rest] = part.split(';').map((s) => s.trim());
    for (const r of rest) {
      const [k, v] = r.split('=');
      if (k && v !== undefined) params.set(k.trim(), v.trim());
    }
    if (type !== 'application/json' && type !== '*/*' && type !== 'application/*') {
      if (type === 'application/vnd.kubernetes.protobuf') continue;
    }
    const as = params.get('as');
    if (!as) return 'object';
    if (params.get('g') === 'meta.k8s.io' && (params.get('v') === 'v1' || params.get('v') === 'v1beta1')) {
      if (as === 'Table') return 'table';
      if (as === 'PartialObjectMetadata' || as === 'PartialObjectMetadataList') return 'partial';
    }
  }
  return 'object';
}

export type IncludeObject = 'None' | 'Metadata' | 'Object';

export function includeObjectOf(q: URLSearchParams): IncludeObject {
  const v = q.get('includeObject');
  return v === 'None' || v === 'Object' ? v : 'Metadata';
}

export function partialObject(obj: KubeObject): KubeObject {
  return { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: obj.metadata };
}

export function columnDefinitions(def: ResourceDef): Record<string, unknown>[] {
  return [
    ...(def.omitNameColumn ? [] : [{ name: 'Name', type: 'string', format: 'name', description: 'Name must be unique within a namespace.', priority: 0 }]),
    ...def.columns.map((c) => ({ name: c.name, type: c.type === 'date' ? 'string' : c.type, format: c.format ?? (c.type === 'date' ? 'date' : ''), description: c.description ?? '', priority: c.priority })),
  ];
}

export function tableRow(def: ResourceDef, obj: KubeObject, include: IncludeObject): Record<string, unknown> {
  const cells: unknown[] = def.omitNameColumn ? [] : [def.nameCell ? def.nameCell(obj) : obj.metadata.name ?? ''];
  for (const c of def.columns) {
    let v: unknown;
    try {
      v = c.cell(obj);
    } catch {
      v = '<unknown>';
    }
    cells.push(v ?? '<none>');
  }
  const row: Record<string, unknown> = { cells };
  if (include === 'Object') row.object = { ...obj, apiVersion: obj.apiVersion ?? apiVersionOf(def), kind: obj.kind ?? def.kind };
  else if (include === 'Metadata') row.object = partialObject(obj);
  return row;
}

export function toTable(
  def: ResourceDef,
  objs: KubeObject[],
  opts: { include: IncludeObject; resourceVersion?: string; continue?: string; remaining?: number; withColumns?: boolean },
): Record<string, unknown> {
  const meta: Record<string, unknown> = {};
  if (opts.resourceVersion !== undefined) meta.resourceVersion = opts.resourceVersion;
  if (opts.continue) meta.continue = opts.continue;
  if (opts.remaining !== undefined) meta.remainingItemCount = opts.remaining;
  const table: Record<string, unknown> = { kind: 'Table', apiVersion: 'meta.k8s.io/v1', metadata: meta };
  if (opts.withColumns !== false) table.columnDefinitions = columnDefinitions(def);
  table.rows = objs.map((o) => tableRow(def, o, opts.include));
  return table;
}
