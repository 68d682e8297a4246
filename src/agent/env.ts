// A container's environment, as the kubelet's makeEnvironmentVariables builds it: service
// link variables (and always KUBERNETES_SERVICE_HOST/PORT from the `kubernetes` service in
// default), envFrom (configMaps and secrets, with prefix), then env in order — literal values
// with $(VAR) expansion, the downward API (fieldRef, resourceFieldRef), configMapKeyRef and
// secretKeyRef. A missing required object or key is a CreateContainerConfigError with the
// kubelet's message.
import type { KubeObject } from '../registry/types.ts';
import { parseQuantity, type Quantity } from '../registry/quantity.ts';
import type { KeyValuePair } from './runtime/types.ts';
import type { Container, Pod } from './kube-types.ts';

/** A container's configuration cannot be made: the pod waits with reason CreateContainerConfigError. */
export class ContainerConfigError extends Error {
  readonly reason = 'CreateContainerConfigError';
  constructor(message: string) {
    super(message);
    this.name = 'ContainerConfigError';
  }
}

export interface EnvSources {
  /** A configMap, or undefined when it does not exist. */
  getConfigMap(namespace: string, name: string): Promise<KubeObject | undefined>;
  /** A secret, or undefined when it does not exist. */
  getSecret(namespace: string, name: string): Promise<KubeObject | undefined>;
  /** Services of the pod's namespace and of `default` (for the `kubernetes` service). */
  listServices(namespace: string): KubeObject[];
}

export interface EnvContext {
  hostIP: string;
  podIPs: string[];
  /** Node allocatable, for resourceFieldRef limits a container does not set. */
  nodeAllocatable: Record<string, string>;
}

// ---------------------------------------------------------------------------------------------
// $(VAR) expansion (k8s.io/kubernetes/third_party/forked/golang/expansion)

/**
 * Expand $(VAR) references with mapping; `$$` is an escaped `$`; an unknown reference stays as
 * written, as do a `$` not followed by `(` and an unterminated `$(`.
 */
export function expand(input: string, mapping: (name: string) => string | undefined): string {
  let out = '';
  let i = 0;
  while (i < input.length) {
    const ch = input[i]!;
    if (ch !== '$' || i + 1 >= input.length) {
      out += ch;
      i++;
      continue;
    }
    const next = input[i + 1]!;
    if (next === '$') {
      out += '$';
      i += 2;
      continue;
    }
    if (next === '(') {
      const close = input.indexOf(')', i + 2);
      if (close < 0) {
        out += input.slice(i);
        break;
      }
      const name = input.slice(i + 2, close);
      const v = mapping(name);
      out += v === undefined ? `$(${name})` : v;
      i = close + 1;
      continue;
    }
    out += ch + next;
    i += 2;
  }
  return out;
}

/** Expand $(VAR) in a container's command and args with its environment. */
export function expandCommandAndArgs(c: Container, env: KeyValuePair[]): { command: string[]; args: string[] } {
  const m = new Map(env.map((e) => [e.key, e.value]));
  const f = (n: string): string | undefined => m.get(n);
  return { command: (c.command ?? []).map((s) => expand(s, f)), args: (c.args ?? []).map((s) => expand(s, f)) };
}

// ---------------------------------------------------------------------------------------------
// Service links

interface ServicePort {
  name?: string;
  port?: number;
  protocol?: string;
}

function envName(s: string): string {
  return s.toUpperCase().replace(/-/g, '_');
}

/** The docker-link style variables of one service, as the kubelet writes them. */
export function serviceEnvVars(svc: KubeObject): KeyValuePair[] {
  const spec = (svc.spec ?? {}) as { clusterIP?: string; ports?: ServicePort[] };
  const ip = spec.clusterIP;
  if (!ip || ip === 'None') return [];
  const name = envName(svc.metadata.name ?? '');
  const ports = spec.ports ?? [];
  const out: KeyValuePair[] = [{ key: `${name}_SERVICE_HOST`, value: ip }];
  if (ports.length > 0) out.push({ key: `${name}_SERVICE_PORT`, value: String(ports[0]!.port ?? '') });
  for (const p of ports) {
    if (p.name) out.push({ key: `${name}_SERVICE_PORT_${envName(p.name)}`, value: String(p.port ?? '') });
  }
  if (ports.length > 0) {
    const p0 = ports[0]!;
    out.push({ key: `${name}_PORT`, value: `${(p0.protocol ?? 'TCP').toLowerCase()}://${ip}:${p0.port}` });
  }
  for (const p of ports) {
    const proto = (p.protocol ?? 'TCP').toUpperCase();
    const prefix = `${name}_PORT_${p.port}_${proto}`;
    out.push({ key: prefix, value: `${proto.toLowerCase()}://${ip}:${p.port}` });
    out.push({ key: `${prefix}_PROTO`, value: proto.toLowerCase() });
    out.push({ key: `${prefix}_PORT`, value: String(p.port) });
    out.push({ key: `${prefix}_ADDR`, value: ip });
  }
  return out;
}

function serviceEnv(pod: Pod, sources: EnvSources): Map<string, string> {
  const ns = pod.metadata.namespace ?? 'default';
  const links = pod.spec.enableServiceLinks !== false;
  const chosen = new Map<string, KubeObject>();
  for (const svc of sources.listServices(ns)) {
    const n = svc.metadata.name ?? '';
    const sns = svc.metadata.namespace ?? '';
    if (sns === 'default' && n === 'kubernetes') {
      if (!chosen.has(n)) chosen.set(n, svc);
    } else if (sns === ns && links) {
      chosen.set(n, svc);
    }
  }
  const out = new Map<string, string>();
  for (const svc of chosen.values()) for (const kv of serviceEnvVars(svc)) out.set(kv.key, kv.value);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Downward API

/** A fieldRef's value (`metadata.name`, `metadata.labels['k']`, `status.podIP` …). */
export function fieldRefValue(pod: Pod, fieldPath: string, ctx: EnvContext): string {
  const m = /^metadata\.(labels|annotations)\['(.*)'\]$/.exec(fieldPath);
  if (m) {
    const map = m[1] === 'labels' ? pod.metadata.labels : pod.metadata.annotations;
    return map?.[m[2]!] ?? '';
  }
  switch (fieldPath) {
    case 'metadata.name':
      return pod.metadata.name ?? '';
    case 'metadata.namespace':
      return pod.metadata.namespace ?? '';
    case 'metadata.uid':
      return pod.metadata.uid ?? '';
    case 'metadata.labels':
      return formatMap(pod.metadata.labels);
    case 'metadata.annotations':
      return formatMap(pod.metadata.annotations);
    case 'spec.nodeName':
      return pod.spec.nodeName ?? '';
    case 'spec.serviceAccountName':
      return pod.spec.serviceAccountName ?? '';
    case 'status.hostIP':
      return ctx.hostIP;
    case 'status.hostIPs':
      return ctx.hostIP;
    case 'status.podIP':
      return ctx.podIPs[0] ?? '';
    case 'status.podIPs':
      return ctx.podIPs.join(',');
    default:
      throw new ContainerConfigError(`unsupported fieldPath: ${fieldPath}`);
  }
}

/** `key="value"` lines, sorted by key, as the downward API writes labels and annotations. */
export function formatMap(m: Record<string, string> | undefined): string {
  if (!m) return '';
  return Object.keys(m)
    .sort()
    .map((k) => `${k}=${JSON.stringify(m[k])}`)
    .join('\n');
}

function q(v: unknown): Quantity | undefined {
  if (typeof v !== 'string' && typeof v !== 'number') return undefined;
  try {
    return parseQuantity(v);
  } catch {
    return undefined;
  }
}

/** A resourceFieldRef's value: ceil(quantity / divisor); a limit not set is the node's allocatable. */
export function resourceFieldValue(pod: Pod, containerName: string | undefined, resource: string, divisor: string | number | undefined, ctx: EnvContext): string {
  const c = [...(pod.spec.containers ?? []), ...(pod.spec.initContainers ?? [])].find((x) => x.name === containerName);
  if (!c) throw new ContainerConfigError(`container ${containerName ?? ''} not found in pod`);
  const dot = resource.indexOf('.');
  const kind = resource.slice(0, dot);
  const name = resource.slice(dot + 1);
  if ((kind !== 'limits' && kind !== 'requests') || !name) throw new ContainerConfigError(`unsupported container resource : ${resource}`);
  const list = (kind === 'limits' ? c.resources?.limits : c.resources?.requests) as Record<string, string> | undefined;
  let value = q(list?.[name]);
  if (!value && kind === 'limits') value = q(ctx.nodeAllocatable[name]);
  if (!value) value = { nanos: 0n, format: 'DecimalSI' };
  const div = q(divisor ?? '1') ?? { nanos: 1_000_000_000n, format: 'DecimalSI' };
  if (div.nanos === 0n) throw new ContainerConfigError(`invalid divisor for ${resource}`);
  const out = value.nanos / div.nanos + (value.nanos % div.nanos === 0n ? 0n : 1n);
  return out.toString();
}

// ---------------------------------------------------------------------------------------------
// ConfigMaps and secrets

function stringData(obj: KubeObject, secret: boolean): Record<string, string> {
  const data = (obj.data ?? {}) as Record<string, string>;
  if (!secret) return data;
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(data)) out[k] = Buffer.from(v, 'base64').toString('utf8');
  return out;
}

/** The container's environment (keys unique, later definitions win, in first-definition order). */
export async function makeEnvironment(pod: Pod, container: Container, sources: EnvSources, ctx: EnvContext): Promise<KeyValuePair[]> {
  const ns = pod.metadata.namespace ?? 'default';
  const env = new Map<string, string>();
  const svcEnv = serviceEnv(pod, sources);

  for (const from of container.envFrom ?? []) {
    const prefix = from.prefix ?? '';
    if (from.configMapRef) {
      const name = from.configMapRef.name ?? '';
      const cm = await sources.getConfigMap(ns, name);
      if (!cm) {
        if (from.configMapRef.optional) continue;
        throw new ContainerConfigError(`configmap "${name}" not found`);
      }
      for (const [k, v] of Object.entries(stringData(cm, false))) env.set(prefix + k, v);
    } else if (from.secretRef) {
      const name = from.secretRef.name ?? '';
      const s = await sources.getSecret(ns, name);
      if (!s) {
        if (from.secretRef.optional) continue;
        throw new ContainerConfigError(`secret "${name}" not found`);
      }
      for (const [k, v] of Object.entries(stringData(s, true))) env.set(prefix + k, v);
    }
  }

  const mapping = (name: string): string | undefined => env.get(name) ?? svcEnv.get(name);
  for (const e of container.env ?? []) {
    let value: string | undefined;
    const src = e.valueFrom;
    if (!src) {
      value = expand(e.value ?? '', mapping);
    } else if (src.fieldRef) {
      value = fieldRefValue(pod, src.fieldRef.fieldPath, ctx);
    } else if (src.resourceFieldRef) {
      const r = src.resourceFieldRef;
      value = resourceFieldValue(pod, r.containerName || container.name, r.resource, r.divisor, ctx);
    } else if (src.configMapKeyRef) {
      const r = src.configMapKeyRef;
      const name = r.name ?? '';
      const cm = await sources.getConfigMap(ns, name);
      if (!cm) {
        if (r.optional) continue;
        throw new ContainerConfigError(`configmap "${name}" not found`);
      }
      const data = stringData(cm, false);
      if (!(r.key in data)) {
        if (r.optional) continue;
        throw new ContainerConfigError(`couldn't find key ${r.key} in ConfigMap ${ns}/${name}`);
      }
      value = data[r.key];
    } else if (src.secretKeyRef) {
      const r = src.secretKeyRef;
      const name = r.name ?? '';
      const s = await sources.getSecret(ns, name);
      if (!s) {
        if (r.optional) continue;
        throw new ContainerConfigError(`secret "${name}" not found`);
      }
      const data = stringData(s, true);
      if (!(r.key in data)) {
        if (r.optional) continue;
        throw new ContainerConfigError(`couldn't find key ${r.key} in Secret ${ns}/${name}`);
      }
      value = data[r.key];
    }
    if (value !== undefined) env.set(e.name, value);
  }
  for (const [k, v] of svcEnv) if (!env.has(k)) env.set(k, v);
  return [...env].map(([key, value]) => ({ key, value }));
}
