// Writing a workload's status the way Kubernetes' controllers do: through the status
// subresource, on top of the cached object's resourceVersion; on a conflict (the cache was
// behind), once more onto the live object — unless the live object is no longer the one the
// status was computed for.
import { isConflict, type KubeClient, type ResourceRef } from '../../client/rest.ts';
import type { KubeObject } from '../../registry/types.ts';
import { isRecord } from '../../registry/validation.ts';

export interface StatusWriteOptions {
  signal: AbortSignal;
  /** Whether the live object (read after a conflict) is still the one the status is for. */
  still(live: KubeObject, cached: KubeObject): boolean;
  /** Called with every object written. */
  wrote(written: KubeObject): void;
}

/** Merge `status` into obj's status and write it; see the file comment for conflicts. */
export async function writeStatus(client: KubeClient, res: ResourceRef, obj: KubeObject, status: object, opts: StatusWriteOptions): Promise<void> {
  const body = (base: KubeObject): KubeObject => ({
    apiVersion: res.group ? `${res.group}/${res.version}` : res.version,
    kind: res.kind,
    metadata: { name: base.metadata.name, namespace: base.metadata.namespace, uid: base.metadata.uid, resourceVersion: base.metadata.resourceVersion },
    spec: base.spec,
    status: { ...(isRecord(base.status) ? base.status : {}), ...status },
  });
  try {
    opts.wrote(await client.updateStatus(res, body(obj), { signal: opts.signal }));
    return;
  } catch (e) {
    if (!isConflict(e)) throw e;
  }
  const live = await client.get(res, obj.metadata.namespace ?? 'default', obj.metadata.name ?? '', { signal: opts.signal });
  if (!opts.still(live, obj)) return;
  opts.wrote(await client.updateStatus(res, body(live), { signal: opts.signal }));
}
