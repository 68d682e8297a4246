// Volume sources' payloads: configMap, secret, downwardAPI and projected volume content.
import type { KubeObject } from '../registry/types.ts';
import type { Pod, Volume } from './kube-types.ts';
import { fieldRefValue, resourceFieldValue, type EnvContext } from './env.ts';
import { VolumeError, type FileToWrite, type VolumeSources } from './volumes.ts';

// ---------------------------------------------------------------------------------------------
// Payloads

interface KeyToPath {
  key: string;
  path: string;
  mode?: number;
}

function dataOf(obj: KubeObject, secret: boolean): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  for (const [k, v] of Object.entries((obj.data ?? {}) as Record<string, string>)) out.set(k, secret ? Buffer.from(v, 'base64') : Buffer.from(v, 'utf8'));
  if (!secret) for (const [k, v] of Object.entries((obj.binaryData ?? {}) as Record<string, string>)) out.set(k, Buffer.from(v, 'base64'));
  return out;
}

export function keyedPayload(
  kind: 'configmap' | 'secret',
  volume: string,
  name: string,
  obj: KubeObject | undefined,
  items: KeyToPath[] | undefined,
  optional: boolean,
  defaultMode: number,
  into: Map<string, FileToWrite>,
): void {
  if (!obj) {
    if (optional) return;
    throw new VolumeError(volume, `${kind} "${name}" not found`);
  }
  const data = dataOf(obj, kind === 'secret');
  if (!items || items.length === 0) {
    for (const [k, v] of data) into.set(k, { data: v, mode: defaultMode });
    return;
  }
  for (const it of items) {
    const v = data.get(it.key);
    if (v === undefined) {
      if (optional) continue;
      throw new VolumeError(volume, kind === 'configmap' ? `configmap references non-existent config key: ${it.key}` : `references non-existent secret key: ${it.key}`);
    }
    into.set(it.path, { data: v, mode: it.mode ?? defaultMode });
  }
}

export interface DownwardItem {
  path: string;
  mode?: number;
  fieldRef?: { fieldPath: string };
  resourceFieldRef?: { containerName?: string; resource: string; divisor?: string | number };
}

export function downwardPayload(pod: Pod, volume: string, items: DownwardItem[], defaultMode: number, ctx: EnvContext, into: Map<string, FileToWrite>): void {
  for (const it of items) {
    let value: string;
    try {
      if (it.fieldRef) value = fieldRefValue(pod, it.fieldRef.fieldPath, ctx);
      else if (it.resourceFieldRef) value = resourceFieldValue(pod, it.resourceFieldRef.containerName, it.resourceFieldRef.resource, it.resourceFieldRef.divisor, ctx);
      else continue;
    } catch (e) {
      throw new VolumeError(volume, e instanceof Error ? e.message : String(e));
    }
    into.set(it.path, { data: Buffer.from(value), mode: it.mode ?? defaultMode });
  }
}


export function modeOf(v: unknown, dflt: number): number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 0o777 ? v : dflt;
}
export async function projectedPayload(pod: Pod, v: Volume, sources: VolumeSources, ctx: EnvContext, payload: Map<string, FileToWrite>): Promise<void> {
  const ns = pod.metadata.namespace ?? 'default';
  const p = v.projected!;
  const mode = modeOf(p.defaultMode, 0o644);
  for (const src of p.sources ?? []) {
    if (src.configMap) {
      const name = src.configMap.name ?? '';
      let cm = await sources.getConfigMap(ns, name);
      if (!cm && name === 'kube-root-ca.crt' && sources.clusterCA) cm = { metadata: { name }, data: { 'ca.crt': sources.clusterCA } };
      keyedPayload('configmap', v.name, name, cm, src.configMap.items, src.configMap.optional === true, mode, payload);
    } else if (src.secret) {
      const name = src.secret.name ?? '';
      keyedPayload('secret', v.name, name, await sources.getSecret(ns, name), src.secret.items, src.secret.optional === true, mode, payload);
    } else if (src.downwardAPI) {
      downwardPayload(pod, v.name, (src.downwardAPI.items ?? []) as DownwardItem[], mode, ctx, payload);
    } else if (src.serviceAccountToken) {
      const t = src.serviceAccountToken;
      let token: string;
      try {
        token = await sources.serviceAccountToken(pod, t.audience, t.expirationSeconds ?? 3600);
      } catch (e) {
        throw new VolumeError(v.name, `failed to fetch token: ${e instanceof Error ? e.message : String(e)}`);
      }
      payload.set(t.path, { data: Buffer.from(token), mode });
    }
  }
}
