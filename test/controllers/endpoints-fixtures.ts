// Plain Service and Pod objects for the endpoints computation tests.
import type { KubeObject } from '../../src/registry/types.ts';

type Obj = Record<string, unknown>;

export interface SvcOpts {
  ns?: string;
  uid?: string;
  selector?: Record<string, string> | null;
  ports?: Obj[];
  headless?: boolean;
  publishNotReady?: boolean;
  labels?: Record<string, string>;
  type?: string;
  clusterIP?: string;
}

export function svc(name: string, o: SvcOpts = {}): KubeObject {
  const spec: Obj = {
    type: o.type ?? 'ClusterIP',
    clusterIP: o.headless ? 'None' : (o.clusterIP ?? '10.43.0.50'),
    ports: o.ports ?? [{ name: 'web', port: 80, targetPort: 8080, protocol: 'TCP' }],
    ipFamilies: ['IPv4'],
  };
  if (o.selector !== null) spec.selector = o.selector ?? { app: name };
  if (o.publishNotReady) spec.publishNotReadyAddresses = true;
  return { apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: o.ns ?? 'default', uid: o.uid ?? `uid-svc-${name}`, labels: o.labels }, spec };
}

export interface PodOpts {
  ns?: string;
  labels?: Record<string, string>;
  ip?: string | null;
  ready?: boolean;
  hostname?: string;
  subdomain?: string;
  node?: string;
  deleting?: boolean;
  phase?: string;
  ports?: Obj[];
  rv?: string;
}

export function pod(name: string, o: PodOpts = {}): KubeObject {
  const ip = o.ip === undefined ? '10.244.0.1' : o.ip;
  const spec: Obj = { containers: [{ name: 'c', image: 'nginx', ports: o.ports ?? [{ name: 'http', containerPort: 8080, protocol: 'TCP' }] }] };
  if (o.hostname) spec.hostname = o.hostname;
  if (o.subdomain) spec.subdomain = o.subdomain;
  if (o.node !== undefined) spec.nodeName = o.node;
  else spec.nodeName = 'node-1';
  const status: Obj = { phase: o.phase ?? 'Running', conditions: [{ type: 'Ready', status: o.ready === false ? 'False' : 'True' }] };
  if (ip) {
    status.podIP = ip;
    status.podIPs = [{ ip }];
  }
  const metadata: KubeObject['metadata'] = { name, namespace: o.ns ?? 'default', uid: `uid-${name}`, resourceVersion: o.rv ?? '7', labels: o.labels ?? { app: 'web' } };
  if (o.deleting) metadata.deletionTimestamp = '2024-01-01T00:00:00Z';
  return { apiVersion: 'v1', kind: 'Pod', metadata, spec, status };
}
