// Discovery documents, as pure functions of the resource registry:
// - /version;
// - aggregated discovery (apidiscovery.k8s.io/v2 APIGroupDiscoveryList) for /api and /apis,
//   served when the Accept header asks for it — kubectl 1.32 does, and then reads everything
//   (resources, scopes, short names, categories, subresources) from these two documents;
// - the legacy documents: /api (APIVersions), /apis (APIGroupList), /apis/<g> (APIGroup),
//   /api/v1 and /apis/<g>/<v> (APIResourceList, subresources as `pods/status` entries).
//
// Besides the registry's kinds, discovery lists three create-only review resources every
// Kubernetes server has (DISCOVERY_EXTRAS): authorization.k8s.io/v1 selfsubjectaccessreviews and
// selfsubjectrulesreviews (`kubectl auth can-i`), authentication.k8s.io/v1 selfsubjectreviews
// (`kubectl auth whoami`). They are added unless the registry already has an entry for them.
import { createHash } from 'node:crypto';
import type { ResourceDef } from '../registry/types.ts';

export const AGGREGATED_DISCOVERY_CONTENT_TYPE = 'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList';

const ALL_VERBS = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];

// ---------------------------------------------------------------------------------------------
// /version

export interface VersionInfo {
  major: string;
  minor: string;
  gitVersion: string;
  gitCommit: string;
  gitTreeState: string;
  buildDate: string;
  goVersion: string;
  compiler: string;
  platform: string;
}

const GO_ARCH: Record<string, string> = { x64: 'amd64', ia32: '386', arm: 'arm', arm64: 'arm64', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64', loong64: 'loong64' };

/**
 * The /version document. The minor version is what the kubectl dispatcher picks its client by,
 * so it stays "32". gitCommit/buildDate come from KENNEL_GIT_COMMIT / KENNEL_BUILD_DATE when set.
 */
export function versionInfo(): VersionInfo {
  return {
    major: '1',
    minor: '32',
    gitVersion: 'v1.32.0-kennel',
    gitCommit: process.env.KENNEL_GIT_COMMIT ?? '',
    gitTreeState: 'clean',
    buildDate: process.env.KENNEL_BUILD_DATE ?? '1970-01-01T00:00:00Z',
    goVersion: `node${process.versions.node}`,
    compiler: 'tsx',
    platform: `${process.platform}/${GO_ARCH[process.arch] ?? process.arch}`,
  };
}

// ---------------------------------------------------------------------------------------------
// Extra resources every server has

function reviewDef(group: string, kind: string, plural: string, modelName: string): ResourceDef {
  return {
    group,
    version: 'v1',
    kind,
    listKind: `${kind}List`,
    plural,
    singular: plural.replace(/s$/, ''),
    namespaced: false,
    verbs: ['create'],
    nameRule: 'dns1123Subdomain',
    modelName,
    columns: [],
  };
}

/** Create-only review resources Kubernetes always serves (answered by the API server itself). */
export const DISCOVERY_EXTRAS: readonly ResourceDef[] = Object.freeze([
  reviewDef('authorization.k8s.io', 'SelfSubjectAccessReview', 'selfsubjectaccessreviews', 'V1SelfSubjectAccessReview'),
  reviewDef('authorization.k8s.io', 'SelfSubjectRulesReview', 'selfsubjectrulesreviews', 'V1SelfSubjectRulesReview'),
  reviewDef('authentication.k8s.io', 'SelfSubjectReview', 'selfsubjectreviews', 'V1SelfSubjectReview'),
]);

/** The registry's defs plus DISCOVERY_EXTRAS the registry does not define itself. */
export function withDiscoveryExtras(defs: readonly ResourceDef[]): ResourceDef[] {
  const have = new Set(defs.map((d) => `${d.group}/${d.version}/${d.plural}`));
  return [...defs, ...DISCOVERY_EXTRAS.filter((d) => !have.has(`${d.group}/${d.version}/${d.plural}`))];
}

// ---------------------------------------------------------------------------------------------
// Group and version ordering

/** Kubernetes' order of built-in groups in /apis; other groups follow alphabetically. */
const GROUP_PRIORITY = [
  'apiregistration.k8s.io', 'apps', 'events.k8s.io', 'authentication.k8s.io', 'authorization.k8s.io', 'autoscaling',
  'batch', 'certificates.k8s.io', 'networking.k8s.io', 'policy', 'rbac.authorization.k8s.io', 'storage.k8s.io',
  'admissionregistration.k8s.io', 'apiextensions.k8s.io', 'scheduling.k8s.io', 'coordination.k8s.io', 'node.k8s.io',
  'discovery.k8s.io', 'flowcontrol.apiserver.k8s.io', 'internal.apiserver.k8s.io', 'resource.k8s.io', 'storagemigration.k8s.io',
];

function compareGroups(a: string, b: string): number {
  const ia = GROUP_PRIORITY.indexOf(a);
  const ib = GROUP_PRIORITY.indexOf(b);
  if (ia >= 0 && ib >= 0) return ia - ib;
  if (ia >= 0) return -1;
  if (ib >= 0) return 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Kubernetes' version priority: GA > beta > alpha, higher numbers first; others last, alphabetical. */
export function compareKubeVersions(a: string, b: string): number {
  const rank = (v: string): [number, number, number] | null => {
    const m = /^v(\d+)(?:(alpha|beta)(\d+))?$/.exec(v);
    if (!m) return null;
    const level = m[2] === 'alpha' ? 0 : m[2] === 'beta' ? 1 : 2;
    return [level, Number(m[1]), m[3] ? Number(m[3]) : 0];
  };
  const ra = rank(a);
  const rb = rank(b);
  if (ra && rb) {
    for (let i = 0; i < 3; i++) if (ra[i] !== rb[i]) return rb[i] - ra[i];
    return 0;
  }
  if (ra) return -1;
  if (rb) return 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

interface GroupVersions {
  group: string;
  /** Preferred first. */
  versions: string[];
}

function groupsOf(defs: readonly ResourceDef[], which: 'api' | 'apis'): GroupVersions[] {
  const byGroup = new Map<string, Set<string>>();
  for (const d of defs) {
    if ((which === 'api') !== (d.group === '')) continue;
    const s = byGroup.get(d.group) ?? new Set<string>();
    s.add(d.version);
    byGroup.set(d.group, s);
  }
  return [...byGroup.keys()].sort(compareGroups).map((group) => ({ group, versions: [...(byGroup.get(group) as Set<string>)].sort(compareKubeVersions) }));
}

function byName<T>(key: (x: T) => string): (a: T, b: T) => number {
  return (a, b) => {
    const ka = key(a);
    const kb = key(b);
    return ka < kb ? -1 : ka > kb ? 1 : 0;
  };
}

// ---------------------------------------------------------------------------------------------
// Subresources

export interface GroupVersionKind {
  group: string;
  version: string;
  kind: string;
}

interface SubresourceInfo {
  name: string;
  /** The kind this subresource returns, with the GV it lives in. */
  kind: GroupVersionKind;
  verbs: string[];
}

const PROXY_VERBS = ['create', 'delete', 'get', 'patch', 'update'];

/** What Kubernetes reports for each subresource: its response kind and verbs. */
function subresourceInfo(def: ResourceDef, name: string): SubresourceInfo {
  const same = (kind: string): GroupVersionKind => ({ group: def.group, version: def.version, kind });
  switch (name) {
    case 'status':
    case 'ephemeralcontainers':
    case 'resize':
    case 'approval':
      return { name, kind: same(def.kind), verbs: ['get', 'patch', 'update'] };
    case 'scale':
      return { name, kind: { group: 'autoscaling', version: 'v1', kind: 'Scale' }, verbs: ['get', 'patch', 'update'] };
    case 'binding':
      return { name, kind: { group: '', version: 'v1', kind: 'Binding' }, verbs: ['create'] };
    case 'eviction':
      return { name, kind: { group: 'policy', version: 'v1', kind: 'Eviction' }, verbs: ['create'] };
    case 'log':
      return { name, kind: same(def.kind), verbs: ['get'] };
    case 'exec':
      return { name, kind: same(`${def.kind}ExecOptions`), verbs: ['create', 'get'] };
    case 'attach':
      return { name, kind: same(`${def.kind}AttachOptions`), verbs: ['create', 'get'] };
    case 'portforward':
      return { name, kind: same(`${def.kind}PortForwardOptions`), verbs: ['create', 'get'] };
    case 'proxy':
      return { name, kind: same(`${def.kind}ProxyOptions`), verbs: PROXY_VERBS };
    case 'token':
      return { name, kind: { group: 'authentication.k8s.io', version: 'v1', kind: 'TokenRequest' }, verbs: ['create'] };
    case 'finalize':
      return { name, kind: same(def.kind), verbs: ['update'] };
    default:
      return { name, kind: same(def.kind), verbs: ['get', 'patch', 'update'] };
  }
}

/** The subresources a def serves, sorted by name. */
export function subresourcesOf(def: ResourceDef): SubresourceInfo[] {
  const names = new Set<string>();
  if (def.subresources?.status) names.add('status');
  if (def.subresources?.scale) names.add('scale');
  for (const o of def.subresources?.others ?? []) names.add(o);
  return [...names].sort().map((n) => subresourceInfo(def, n));
}

/** Kubernetes leaves group/version empty when a kind lives in the resource's own group-version. */
function responseKind(def: ResourceDef, k: GroupVersionKind): GroupVersionKind {
  if (k.group === def.group && k.version === def.version) return { group: '', version: '', kind: k.kind };
  return { group: k.group, version: k.version, kind: k.kind };
}

function verbsOf(def: ResourceDef): string[] {
  return [...new Set(def.verbs ?? ALL_VERBS)].sort();
}

// ---------------------------------------------------------------------------------------------
// Aggregated discovery (apidiscovery.k8s.io/v2)

export interface APISubresourceDiscovery {
  subresource: string;
  responseKind: GroupVersionKind;
  verbs: string[];
}

export interface APIResourceDiscovery {
  resource: string;
  responseKind: GroupVersionKind;
  scope: 'Namespaced' | 'Cluster';
  singularResource: string;
  verbs: string[];
  shortNames?: string[];
  categories?: string[];
  subresources?: APISubresourceDiscovery[];
}

export interface APIVersionDiscovery {
  version: string;
  resources: APIResourceDiscovery[];
  freshness: 'Current' | 'Stale';
}

export interface APIGroupDiscovery {
  metadata: { name: string };
  versions: APIVersionDiscovery[];
}

export interface APIGroupDiscoveryList {
  kind: 'APIGroupDiscoveryList';
  apiVersion: 'apidiscovery.k8s.io/v2';
  metadata: Record<string, never>;
  items: APIGroupDiscovery[];
}

function resourceDiscovery(def: ResourceDef): APIResourceDiscovery {
  const r: APIResourceDiscovery = {
    resource: def.plural,
    responseKind: { group: '', version: '', kind: def.kind },
    scope: def.namespaced ? 'Namespaced' : 'Cluster',
    singularResource: def.singular,
    verbs: verbsOf(def),
  };
  if (def.shortNames?.length) r.shortNames = [...def.shortNames];
  if (def.categories?.length) r.categories = [...def.categories];
  const subs = subresourcesOf(def);
  if (subs.length) r.subresources = subs.map((s) => ({ subresource: s.name, responseKind: responseKind(def, s.kind), verbs: [...s.verbs] }));
  return r;
}

/**
 * The aggregated discovery document for /api (`'api'`: the core group, name "") or /apis
 * (`'apis'`: every named group), groups in Kubernetes' priority order, versions preferred-first,
 * resources and subresources sorted by name. Serve it with AGGREGATED_DISCOVERY_CONTENT_TYPE.
 */
export function aggregatedDiscovery(defs: readonly ResourceDef[], which: 'api' | 'apis'): APIGroupDiscoveryList {
  const all = withDiscoveryExtras(defs);
  const items: APIGroupDiscovery[] = groupsOf(all, which).map(({ group, versions }) => ({
    metadata: { name: group },
    versions: versions.map((version) => ({
      version,
      resources: all
        .filter((d) => d.group === group && d.version === version)
        .map(resourceDiscovery)
        .sort(byName((r) => r.resource)),
      freshness: 'Current' as const,
    })),
  }));
  return { kind: 'APIGroupDiscoveryList', apiVersion: 'apidiscovery.k8s.io/v2', metadata: {}, items };
}

interface MediaRange {
  type: string;
  params: Map<string, string>;
  q: number;
  order: number;
}

function parseAccept(accept: string): MediaRange[] {
  const out: MediaRange[] = [];
  accept.split(',').forEach((part, order) => {
    const [typeRaw, ...paramParts] = part.split(';');
    const type = typeRaw.trim().toLowerCase();
    if (!type) return;
    const params = new Map<string, string>();
    let q = 1;
    for (const p of paramParts) {
      const eq = p.indexOf('=');
      if (eq < 0) continue;
      const k = p.slice(0, eq).trim().toLowerCase();
      const v = p.slice(eq + 1).trim().replace(/^"(.*)"$/, '$1');
      if (k === 'q') {
        const n = Number(v);
        q = Number.isFinite(n) ? n : 0;
      } else params.set(k, v);
    }
    out.push({ type, params, q, order });
  });
  return out.sort((a, b) => b.q - a.q || a.order - b.order);
}

/**
 * Whether the Accept header picks aggregated discovery v2 (JSON) over the legacy documents,
 * negotiating as the apiserver does: the highest-q acceptable media range wins, ties in header
 * order. A plain `application/json` (or a wildcard) before it means legacy; media types kennel
 * does not serve (protobuf, v2beta1) are skipped.
 */
export function wantsAggregatedDiscovery(accept: string | undefined): boolean {
  if (!accept) return false;
  for (const r of parseAccept(accept)) {
    if (r.q <= 0) continue;
    const g = r.params.get('g');
    const v = r.params.get('v');
    const as = r.params.get('as');
    if (r.type === 'application/json' && g === 'apidiscovery.k8s.io' && v === 'v2' && as === 'APIGroupDiscoveryList') return true;
    if (as !== undefined || g !== undefined || v !== undefined) continue;
    if (r.type === 'application/json' || r.type === '*/*' || r.type === 'application/*') return false;
  }
  return false;
}

// ---------------------------------------------------------------------------------------------
// Legacy discovery

export interface ServerAddressByClientCIDR {
  clientCIDR: string;
  serverAddress: string;
}

export interface APIVersions {
  kind: 'APIVersions';
  versions: string[];
  serverAddressByClientCIDRs: ServerAddressByClientCIDR[];
}

/** /api. `serverAddress` is host:port as clients reach this server (e.g. the request's Host). */
export function apiVersions(serverAddress = '127.0.0.1:6443'): APIVersions {
  return { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress }] };
}

export interface GroupVersionForDiscovery {
  groupVersion: string;
  version: string;
}

export interface APIGroup {
  kind: 'APIGroup';
  apiVersion: 'v1';
  name: string;
  versions: GroupVersionForDiscovery[];
  preferredVersion: GroupVersionForDiscovery;
}

export interface APIGroupList {
  kind: 'APIGroupList';
  apiVersion: 'v1';
  groups: Omit<APIGroup, 'kind' | 'apiVersion'>[];
}

function groupEntry(g: GroupVersions): Omit<APIGroup, 'kind' | 'apiVersion'> {
  const versions = g.versions.map((version) => ({ groupVersion: `${g.group}/${version}`, version }));
  return { name: g.group, versions, preferredVersion: versions[0] };
}

/** /apis: every named group with its versions, preferred first. */
export function apiGroupList(defs: readonly ResourceDef[]): APIGroupList {
  return { kind: 'APIGroupList', apiVersion: 'v1', groups: groupsOf(withDiscoveryExtras(defs), 'apis').map(groupEntry) };
}

/** /apis/<group>, or null when the group is not served. */
export function apiGroup(defs: readonly ResourceDef[], group: string): APIGroup | null {
  const g = groupsOf(withDiscoveryExtras(defs), 'apis').find((x) => x.group === group);
  return g ? { kind: 'APIGroup', apiVersion: 'v1', ...groupEntry(g) } : null;
}

export interface APIResource {
  name: string;
  singularName: string;
  namespaced: boolean;
  group?: string;
  version?: string;
  kind: string;
  verbs: string[];
  shortNames?: string[];
  categories?: string[];
  storageVersionHash?: string;
}

export interface APIResourceList {
  kind: 'APIResourceList';
  apiVersion: 'v1';
  groupVersion: string;
  resources: APIResource[];
}

/** A stable 8-byte digest of the storage GVK, like Kubernetes' storageVersionHash. */
function storageVersionHash(def: ResourceDef): string {
  return createHash('sha256').update(`${def.group}/${def.version}, Kind=${def.kind}`).digest().subarray(0, 8).toString('base64');
}

/** /api/v1 and /apis/<group>/<version>, or null when that group-version is not served. */
export function apiResourceList(defs: readonly ResourceDef[], group: string, version: string): APIResourceList | null {
  const gvDefs = withDiscoveryExtras(defs).filter((d) => d.group === group && d.version === version);
  if (!gvDefs.length) return null;
  const resources: APIResource[] = [];
  for (const def of [...gvDefs].sort(byName((d) => d.plural))) {
    const r: APIResource = { name: def.plural, singularName: def.singular, namespaced: def.namespaced, kind: def.kind, verbs: verbsOf(def) };
    if (def.shortNames?.length) r.shortNames = [...def.shortNames];
    if (def.categories?.length) r.categories = [...def.categories];
    if (verbsOf(def).includes('list')) r.storageVersionHash = storageVersionHash(def);
    resources.push(r);
    for (const s of subresourcesOf(def)) {
      const k = responseKind(def, s.kind);
      const sr: APIResource = { name: `${def.plural}/${s.name}`, singularName: '', namespaced: def.namespaced, kind: k.kind, verbs: [...s.verbs] };
      if (k.group || k.version) {
        sr.group = k.group;
        sr.version = k.version;
      }
      resources.push(sr);
    }
  }
  return { kind: 'APIResourceList', apiVersion: 'v1', groupVersion: group ? `${group}/${version}` : version, resources };
}
