// The `kubernetes` Service in `default` (ClusterIP = the first address of the service range),
// with Endpoints and an EndpointSlice pointing at the API server, as kube-apiserver keeps them.
import os from 'node:os';
import type { Registry } from '../registry/index.ts';
import type { KubeObject } from '../registry/types.ts';
import { createObject, updateObject, type ResourceContext } from './resources.ts';
import { nthIP, type ServiceAllocators } from './allocators.ts';

/** The address pods should use to reach this API server. */
export function advertiseAddress(bind: string): string {
  // A server on loopback is reached through loopback: the service proxy DNATs pods' traffic for
  // the `kubernetes` Service there (route_localnet on the pod bridge only).
  if (bind === 'localhost') return '127.0.0.1';
  if (bind !== '0.0.0.0' && bind !== '::') return bind;
  for (const addrs of Object.values(os.networkInterfaces())) {
    for (const a of addrs ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return '127.0.0.1';
}

export async function ensureKubernetesService(ctx: ResourceContext, registry: Registry, allocators: ServiceAllocators, address: string, port: number): Promise<void> {
  const svcDef = registry.lookup('', 'v1', 'services');
  const epDef = registry.lookup('', 'v1', 'endpoints');
  const sliceDef = registry.lookup('discovery.k8s.io', 'v1', 'endpointslices');
  if (!svcDef || !epDef) return;
  const clusterIP = nthIP(allocators.cidr, 1);
  const labels = { component: 'apiserver', provider: 'kubernetes' };
  const mgr = { fieldManager: 'kube-apiserver' };
  try {
    await createObject(ctx, svcDef, 'default', {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'kubernetes', namespace: 'default', labels },
      spec: { type: 'ClusterIP', clusterIP, clusterIPs: [clusterIP], sessionAffinity: 'None', ports: [{ name: 'https', port: 443, protocol: 'TCP', targetPort: port }] },
    }, mgr);
  } catch (e) {
    if ((e as { code?: number }).code !== 409) throw e;
  }
  const epSubsetsWith = (cur: KubeObject | null) => {
    const old = ((cur?.subsets as { addresses?: { ip: string }[] }[] | undefined) ?? [])[0]?.addresses ?? [];
    const ips = [...new Set([...old.map((a) => a.ip), address])].sort();
    return [{ addresses: ips.map((ip) => ({ ip })), ports: [{ name: 'https', port, protocol: 'TCP' }] }];
  };
  await updateObject(
    ctx,
    epDef,
    'default',
    'kubernetes',
    (cur) => ({ apiVersion: 'v1', kind: 'Endpoints', metadata: { ...(cur?.metadata ?? {}), name: 'kubernetes', namespace: 'default', labels: { 'endpointslice.kubernetes.io/skip-mirror': 'true' } }, subsets: epSubsetsWith(cur) }),
    { ...mgr, createIfMissing: true },
  );
  if (!sliceDef) return;
  await updateObject(
    ctx,
    sliceDef,
    'default',
    'kubernetes',
    (cur) => {
      const old = ((cur?.endpoints as { addresses: string[] }[] | undefined) ?? []).flatMap((e) => e.addresses);
      const ips = [...new Set([...old, address])].sort();
      return {
        apiVersion: 'discovery.k8s.io/v1',
        kind: 'EndpointSlice',
        metadata: { ...(cur?.metadata ?? {}), name: 'kubernetes', namespace: 'default', labels: { 'kubernetes.io/service-name': 'kubernetes' } },
        addressType: 'IPv4',
        endpoints: ips.map((ip) => ({ addresses: [ip], conditions: { ready: true } })),
        ports: [{ name: 'https', port, protocol: 'TCP' }],
      };
    },
    { ...mgr, createIfMissing: true },
  );
}
