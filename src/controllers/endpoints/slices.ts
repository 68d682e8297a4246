// The pure half of the EndpointSlice controller: the endpoints a Service should publish, and the
// creates, updates and deletes that bring its managed slices there with little churn
// (Kubernetes' endpointslice reconciler, simplified):
//
// - one endpoint per selected pod that has an IP of the slice's address type and is not
//   terminal; terminating pods stay, with conditions ready = publishNotReadyAddresses ||
//   (ready && !terminating), serving = ready, terminating = deletionTimestamp set;
// - endpoints are grouped by the exact ports they resolved (named targetPorts may resolve
//   differently per pod), one address type per group (the service's ipFamilies);
// - at most maxEndpointsPerSlice (100) endpoints a slice; existing slices keep the endpoints
//   that are unchanged, changed endpoints are replaced in place, new ones fill slices that are
//   being written anyway, then a slice with room, then new slices;
// - a slice that ends up empty is deleted; a service without any endpoint keeps one empty
//   placeholder slice (as Kubernetes does, so consumers can tell "no endpoints" from "not yet
//   processed");
// - slices carry the service's labels plus kubernetes.io/service-name,
//   endpointslice.kubernetes.io/managed-by and (headless) service.kubernetes.io/headless, and a
//   controller owner reference to the service; new ones are named by generateName `<svc>-`.
import type { KubeObject, OwnerReference } from '../../registry/types.ts';
import { asArray, asRecord } from '../../registry/validation.ts';
import {
  HEADLESS_LABEL,
  compareIPs,
  findPort,
  isHeadless,
  isPodReady,
  isPodTerminating,
  managesEndpoints,
  podIPOfFamily,
  selectorMatchesLabels,
  serviceIPFamilies,
  servicePorts,
  serviceSelector,
  serviceSpec,
  shouldPodBeInEndpoints,
  shouldSetHostname,
} from './compute.ts';

export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';
export const MANAGED_BY_LABEL = 'endpointslice.kubernetes.io/managed-by';
export const MANAGED_BY_CONTROLLER = 'endpointslice-controller.k8s.io';
export const MAX_ENDPOINTS_PER_SLICE = 100;

export interface SliceEndpoint {
  addresses: string[];
  conditions: { ready: boolean; serving: boolean; terminating: boolean };
  hostname?: string;
  nodeName?: string;
  targetRef?: { kind: 'Pod'; namespace: string; name: string; uid: string };
}

export interface SlicePort {
  name: string;
  port: number;
  protocol: string;
  appProtocol?: string;
}

/** The endpoints of one address type that share one set of ports. */
export interface EndpointGroup {
  addressType: 'IPv4' | 'IPv6';
  ports: SlicePort[];
  endpoints: SliceEndpoint[];
}

export interface SlicePlan {
  create: KubeObject[];
  /** Full objects to PUT (with the resourceVersion they were read at). */
  update: KubeObject[];
  delete: KubeObject[];
}

const str = (v: unknown): string => (typeof v === 'string' ? v : '');

function comparePorts(a: SlicePort, b: SlicePort): number {
  if (a.name !== b.name) return a.name < b.name ? -1 : 1;
  if (a.port !== b.port) return a.port - b.port;
  return a.protocol < b.protocol ? -1 : a.protocol > b.protocol ? 1 : 0;
}

/** The identity of a group: address type and the exact port set. */
export function groupKey(addressType: string, ports: unknown): string {
  const ps = asArray(ports)
    .map((p0) => {
      const p = asRecord(p0);
      return { name: str(p.name), port: typeof p.port === 'number' ? p.port : 0, protocol: str(p.protocol) || 'TCP', appProtocol: str(p.appProtocol) };
    })
    .sort(comparePorts);
  return `${addressType}|${ps.map((p) => `${p.name}/${p.port}/${p.protocol}/${p.appProtocol}`).join(',')}`;
}

function podEndpoint(pod: KubeObject, svc: KubeObject, ip: string): SliceEndpoint {
  const serving = isPodReady(pod);
  const terminating = isPodTerminating(pod);
  const ready = serviceSpec(svc).publishNotReadyAddresses === true || (serving && !terminating);
  const ep: SliceEndpoint = { addresses: [ip], conditions: { ready, serving, terminating } };
  if (shouldSetHostname(pod, svc)) ep.hostname = str(asRecord(pod.spec).hostname);
  const node = str(asRecord(pod.spec).nodeName);
  if (node) ep.nodeName = node;
  ep.targetRef = { kind: 'Pod', namespace: pod.metadata.namespace ?? '', name: pod.metadata.name ?? '', uid: pod.metadata.uid ?? '' };
  return ep;
}

/** The endpoints the service should publish, grouped by address type and port set. */
export function desiredEndpointGroups(svc: KubeObject, pods: Iterable<KubeObject>): EndpointGroup[] {
  const selector = serviceSelector(svc);
  if (!selector || !managesEndpoints(svc)) return [];
  const ports = servicePorts(svc);
  const headless = isHeadless(svc);
  if (ports.length === 0 && !headless) return [];
  const families = serviceIPFamilies(svc);
  const ns = svc.metadata.namespace ?? '';
  const groups = new Map<string, EndpointGroup>();
  for (const pod of pods) {
    if ((pod.metadata.namespace ?? '') !== ns) continue;
    if (!selectorMatchesLabels(selector, pod.metadata.labels)) continue;
    if (!shouldPodBeInEndpoints(pod, true)) continue;
    const epPorts: SlicePort[] = [];
    for (const sp of ports) {
      const num = findPort(pod, sp);
      if (num === undefined) continue;
      const p: SlicePort = { name: sp.name, port: num, protocol: sp.protocol };
      if (sp.appProtocol) p.appProtocol = sp.appProtocol;
      epPorts.push(p);
    }
    // Kubernetes: a pod that resolves none of several ports is still listed (with no ports)
    // only for headless services without ports; otherwise it is listed with what resolved.
    epPorts.sort(comparePorts);
    for (const fam of families) {
      const ip = podIPOfFamily(pod, fam);
      if (!ip) continue;
      const key = groupKey(fam, epPorts);
      let g = groups.get(key);
      if (!g) groups.set(key, (g = { addressType: fam, ports: epPorts, endpoints: [] }));
      g.endpoints.push(podEndpoint(pod, svc, ip));
    }
  }
  for (const g of groups.values()) g.endpoints.sort((a, b) => compareIPs(a.addresses[0], b.addresses[0]));
  return [...groups.values()].sort((a, b) => (groupKey(a.addressType, a.ports) < groupKey(b.addressType, b.ports) ? -1 : 1));
}

/** The labels a managed slice of the service carries. */
export function sliceLabels(svc: KubeObject): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(svc.metadata.labels ?? {})) {
    if (k === SERVICE_NAME_LABEL || k === MANAGED_BY_LABEL || k === HEADLESS_LABEL) continue;
    out[k] = v;
  }
  out[SERVICE_NAME_LABEL] = svc.metadata.name ?? '';
  out[MANAGED_BY_LABEL] = MANAGED_BY_CONTROLLER;
  if (isHeadless(svc)) out[HEADLESS_LABEL] = '';
  return out;
}

export function serviceOwnerRef(svc: KubeObject): OwnerReference {
  return { apiVersion: 'v1', kind: 'Service', name: svc.metadata.name ?? '', uid: svc.metadata.uid ?? '', controller: true, blockOwnerDeletion: true };
}

/** Whether a slice is one this controller manages for the service. */
export function isManagedSliceOf(slice: KubeObject, svc: KubeObject): boolean {
  const l = slice.metadata.labels ?? {};
  return l[MANAGED_BY_LABEL] === MANAGED_BY_CONTROLLER && l[SERVICE_NAME_LABEL] === svc.metadata.name && (slice.metadata.namespace ?? '') === (svc.metadata.namespace ?? '');
}

function endpointKey(ep: unknown): string {
  const e = asRecord(ep);
  const uid = str(asRecord(e.targetRef).uid);
  return `${asArray(e.addresses).map(str).join(',')}|${uid}`;
}

function endpointJSON(ep: unknown): string {
  const e = asRecord(ep);
  const c = asRecord(e.conditions);
  const t = asRecord(e.targetRef);
  return JSON.stringify([
    asArray(e.addresses),
    c.ready === true,
    c.serving === true,
    c.terminating === true,
    str(e.hostname),
    str(e.nodeName),
    str(t.kind),
    str(t.namespace),
    str(t.name),
    str(t.uid),
  ]);
}

function sameLabels(a: Record<string, string> | undefined, b: Record<string, string>): boolean {
  const ak = Object.keys(a ?? {});
  if (ak.length !== Object.keys(b).length) return false;
  for (const k of ak) if ((a ?? {})[k] !== b[k]) return false;
  return true;
}

function ownedBy(slice: KubeObject, svc: KubeObject): boolean {
  const refs = slice.metadata.ownerReferences ?? [];
  return refs.some((r) => r.kind === 'Service' && r.uid === svc.metadata.uid && r.controller === true);
}

interface Working {
  slice: KubeObject;
  endpoints: unknown[];
  changed: boolean;
}

export interface PlanOptions {
  maxEndpointsPerSlice?: number;
}

/**
 * The writes that bring the service's managed slices (`existing`: every slice labelled as
 * managed for it; others are ignored) to the desired endpoints of `pods`.
 */
export function planEndpointSlices(svc: KubeObject, pods: Iterable<KubeObject>, existing: KubeObject[], opts: PlanOptions = {}): SlicePlan {
  const max = Math.max(1, opts.maxEndpointsPerSlice ?? MAX_ENDPOINTS_PER_SLICE);
  const plan: SlicePlan = { create: [], update: [], delete: [] };
  const mine = existing.filter((s) => isManagedSliceOf(s, svc));
  if (!managesEndpoints(svc)) {
    // Selector removed or service turned ExternalName: the managed slices go.
    plan.delete.push(...mine);
    return plan;
  }
  const labels = sliceLabels(svc);
  const owner = serviceOwnerRef(svc);
  const groups = desiredEndpointGroups(svc, pods);
  const ns = svc.metadata.namespace ?? '';
  const newSlice = (g: { addressType: string; ports: SlicePort[] }, endpoints: unknown[]): KubeObject => ({
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { generateName: `${svc.metadata.name}-`, namespace: ns, labels: { ...labels }, ownerReferences: [owner] },
    addressType: g.addressType,
    endpoints,
    ports: g.ports.map((p) => ({ ...p })),
  });

  // Slices of a service recreated under the same name (another uid) are stale.
  const current: KubeObject[] = [];
  for (const s of mine) {
    if (svc.metadata.uid && !ownedBy(s, svc)) plan.delete.push(s);
    else current.push(s);
  }
  const byGroup = new Map<string, KubeObject[]>();
  for (const s of current) {
    const k = groupKey(str(s.addressType), s.ports);
    let l = byGroup.get(k);
    if (!l) byGroup.set(k, (l = []));
    l.push(s);
  }

  const totalDesired = groups.reduce((n, g) => n + g.endpoints.length, 0);
  if (totalDesired === 0) {
    // Keep (or make) one empty placeholder; everything else goes.
    const placeholder = current.find((s) => asArray(s.endpoints).length === 0 && asArray(s.ports).length === 0 && str(s.addressType) === serviceIPFamilies(svc)[0]);
    for (const s of current) if (s !== placeholder) plan.delete.push(s);
    if (!placeholder) plan.create.push(newSlice({ addressType: serviceIPFamilies(svc)[0], ports: [] }, []));
    else if (!sameLabels(placeholder.metadata.labels, labels)) plan.update.push(withEndpoints(placeholder, [], labels, owner));
    return plan;
  }

  const desiredKeys = new Set(groups.map((g) => groupKey(g.addressType, g.ports)));
  for (const [k, slices] of byGroup) if (!desiredKeys.has(k)) plan.delete.push(...slices);

  for (const g of groups) {
    const k = groupKey(g.addressType, g.ports);
    const want = new Map<string, SliceEndpoint>();
    for (const ep of g.endpoints) want.set(endpointKey(ep), ep);
    const placed = new Set<string>();
    const work: Working[] = (byGroup.get(k) ?? []).map((slice) => ({ slice, endpoints: [], changed: !sameLabels(slice.metadata.labels, labels) }));
    // Keep what is still wanted, replace what changed, drop the rest.
    for (const w of work) {
      for (const ep of asArray(w.slice.endpoints)) {
        const key = endpointKey(ep);
        const desired = want.get(key);
        if (!desired || placed.has(key)) {
          w.changed = true;
          continue;
        }
        placed.add(key);
        if (endpointJSON(ep) === endpointJSON(desired)) {
          w.endpoints.push(ep);
        } else {
          w.endpoints.push(desired);
          w.changed = true;
        }
      }
      if (w.endpoints.length > max) {
        // Over the limit (a smaller limit than the slice was written with): move the rest.
        for (const ep of w.endpoints.splice(max)) placed.delete(endpointKey(ep));
        w.changed = true;
      }
    }
    let rest = g.endpoints.filter((ep) => !placed.has(endpointKey(ep)));
    // Fill slices that are being written anyway, fullest first.
    const fill = (w: Working): void => {
      const room = max - w.endpoints.length;
      if (room <= 0 || rest.length === 0) return;
      w.endpoints.push(...rest.slice(0, room));
      rest = rest.slice(room);
      w.changed = true;
    };
    for (const w of work.filter((x) => x.changed && x.endpoints.length > 0).sort((a, b) => b.endpoints.length - a.endpoints.length)) fill(w);
    // Then reuse emptied slices rather than create new ones.
    for (const w of work.filter((x) => x.changed && x.endpoints.length === 0)) fill(w);
    // The remainder fits in an unchanged slice with room: one write instead of a new slice.
    if (rest.length > 0 && rest.length < max) {
      const roomy = work.filter((x) => !x.changed && max - x.endpoints.length >= rest.length).sort((a, b) => b.endpoints.length - a.endpoints.length)[0];
      if (roomy) fill(roomy);
    }
    while (rest.length > 0) {
      plan.create.push(newSlice(g, rest.slice(0, max)));
      rest = rest.slice(max);
    }
    for (const w of work) {
      if (!w.changed) continue;
      if (w.endpoints.length === 0) plan.delete.push(w.slice);
      else plan.update.push(withEndpoints(w.slice, w.endpoints, labels, owner));
    }
  }
  return plan;
}

function withEndpoints(slice: KubeObject, endpoints: unknown[], labels: Record<string, string>, owner: OwnerReference): KubeObject {
  const meta: KubeObject['metadata'] = { ...slice.metadata, labels: { ...labels } };
  delete meta.managedFields;
  const refs = (meta.ownerReferences ?? []).filter((r) => !(r.kind === 'Service' && r.controller === true));
  meta.ownerReferences = [...refs, owner];
  const out: KubeObject = { ...slice, apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata: meta, endpoints };
  return out;
}
