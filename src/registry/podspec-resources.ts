// Validation of resource names, quantities and container resource requirements (PodSpec;
// also used by nodes, persistent volumes and claims).
import type { FieldCause } from './types.ts';
import {
  asRecord,
  forbidden,
  invalid,
  qualifiedNameErrors,
  requiredDetail,
  validateQualifiedNameField,
} from './validation.ts';
import {
  compareQuantities,
  formatQuantity,
  parseQuantity,
  QUANTITY_FORMAT_ERROR,
  QuantityError,
  type Quantity,
} from './quantity.ts';
import { present } from './podspec-common.ts';

const STANDARD_CONTAINER_RESOURCES = ['cpu', 'memory', 'ephemeral-storage'];
const STANDARD_RESOURCES = [
  'cpu', 'memory', 'ephemeral-storage', 'storage', 'pods', 'services', 'replicationcontrollers', 'resourcequotas',
  'secrets', 'configmaps', 'persistentvolumeclaims', 'services.nodeports', 'services.loadbalancers',
  'requests.cpu', 'requests.memory', 'requests.storage', 'requests.ephemeral-storage',
  'limits.cpu', 'limits.memory', 'limits.ephemeral-storage',
];
const isHugePages = (n: string): boolean => n.startsWith('hugepages-');
const isStandardResourceName = (n: string): boolean =>
  STANDARD_RESOURCES.includes(n) || isHugePages(n) || n.startsWith('requests.hugepages-') || n.startsWith('limits.hugepages-');

/** Resources in the kubernetes.io namespace (or without a prefix) are native. */
export function isNativeResource(name: string): boolean {
  return !name.includes('/') || name.includes('kubernetes.io/');
}

/** Extended resources: fully qualified, outside kubernetes.io, not prefixed `requests.`. */
export function isExtendedResourceName(name: string): boolean {
  if (isNativeResource(name) || name.startsWith('requests.')) return false;
  return qualifiedNameErrors(`requests.${name}`).length === 0;
}

/** validateResourceName: a qualified name, standard when unprefixed. */
export function validateResourceName(name: string, field: string): FieldCause[] {
  const out = validateQualifiedNameField(name, field);
  if (out.length) return out;
  if (!name.includes('/') && !isStandardResourceName(name)) {
    out.push(invalid(field, name, 'must be a standard resource type or fully qualified'));
  }
  return out;
}

function validateContainerResourceName(name: string, field: string): FieldCause[] {
  const out = validateResourceName(name, field);
  if (!name.includes('/')) {
    if (!STANDARD_CONTAINER_RESOURCES.includes(name) && !isHugePages(name)) {
      out.push(invalid(field, name, 'must be a standard resource for containers'));
    }
  } else if (!isNativeResource(name) && !isExtendedResourceName(name)) {
    out.push(invalid(field, name, "doesn't follow extended resource name standard"));
  }
  return out;
}

/** Requests may be below limits for native resources other than hugepages. */
function isOvercommitAllowed(name: string): boolean {
  return isNativeResource(name) && !isHugePages(name);
}

/**
 * Parse a quantity field. Pushes an Invalid cause for a malformed value (Kubernetes fails the
 * decode with 400 there; we report it as a field cause) and, unless `allowNegative`, for a
 * negative one. `integer` adds the "must be an integer" rule of integer resources.
 */
export function validateQuantityField(v: unknown, field: string, out: FieldCause[], integer = false): Quantity | undefined {
  if (typeof v !== 'string' && typeof v !== 'number') {
    out.push(invalid(field, v ?? null, QUANTITY_FORMAT_ERROR));
    return undefined;
  }
  let q: Quantity;
  try {
    q = parseQuantity(v);
  } catch (e) {
    out.push(invalid(field, v, e instanceof QuantityError ? e.message : String(e)));
    return undefined;
  }
  if (q.nanos < 0n) out.push(invalid(field, formatQuantity(q), 'must be greater than or equal to 0'));
  if (integer && q.nanos % 1_000_000_000n !== 0n) out.push(invalid(field, formatQuantity(q), 'must be an integer'));
  return q;
}

/** ValidateContainerResourceRequirements (limits/requests of a container, or pod overhead). */
export function validateResourceRequirements(res: unknown, field: string): FieldCause[] {
  const out: FieldCause[] = [];
  if (!present(res)) return out;
  const r = asRecord(res);
  const limPath = `${field}.limits`;
  const reqPath = `${field}.requests`;
  const limits = new Map<string, Quantity>();
  const limitsRaw = asRecord(r.limits);
  let cpuMem = false;
  let huge = false;
  for (const [name, v] of Object.entries(limitsRaw)) {
    const f = `${limPath}[${name}]`;
    out.push(...validateContainerResourceName(name, f));
    const q = validateQuantityField(v, f, out, isExtendedResourceName(name));
    if (q) limits.set(name, q);
    if (isHugePages(name)) huge = true;
    if (name === 'cpu' || name === 'memory') cpuMem = true;
  }
  for (const [name, v] of Object.entries(asRecord(r.requests))) {
    const f = `${reqPath}[${name}]`;
    out.push(...validateContainerResourceName(name, f));
    const q = validateQuantityField(v, f, out, isExtendedResourceName(name));
    if (isHugePages(name)) huge = true;
    if (name === 'cpu' || name === 'memory') cpuMem = true;
    if (!q) continue;
    const lim = limits.get(name);
    if (lim) {
      if (compareQuantities(q, lim) !== 0 && !isOvercommitAllowed(name)) {
        out.push(invalid(reqPath, formatQuantity(q), `must be equal to ${name} limit of ${formatQuantity(lim)}`));
      } else if (compareQuantities(q, lim) > 0) {
        out.push(invalid(reqPath, formatQuantity(q), `must be less than or equal to ${name} limit of ${formatQuantity(lim)}`));
      }
    } else if (!isOvercommitAllowed(name) && !(name in limitsRaw)) {
      out.push(requiredDetail(limPath, 'Limit must be set for non overcommitable resources'));
    }
  }
  if (huge && !cpuMem) out.push(forbidden(field, 'HugePages require cpu or memory'));
  return out;
}
