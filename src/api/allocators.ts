// Service ClusterIP and NodePort allocation. Each allocated IP or port is one key in the store
// (`/registry/ranges/serviceips/<ip>`, `/registry/ranges/servicenodeports/<port>`), taken with
// an atomic create, so several API servers on one etcd never hand out the same one.
import { randomInt } from 'node:crypto';
import type { Store } from '../store/types.ts';
import { isStoreError } from '../store/types.ts';
import type { FieldCause, KubeObject } from '../registry/types.ts';
import { errors } from './errors.ts';

export const DEFAULT_SERVICE_CIDR = '10.43.0.0/16';
export const NODE_PORT_RANGE: [number, number] = [30000, 32767];

export interface Cidr {
  base: number; // network address as an unsigned 32-bit number
  size: number; // number of addresses
  prefix: number;
}

export function parseCidr(cidr: string): Cidr {
  const m = cidr.match(/^(\d+)\.(\d+)\.(\d+)\.(\d+)\/(\d+)$/);
  if (!m) throw new Error(`invalid IPv4 CIDR ${JSON.stringify(cidr)}`);
  const octets = m.slice(1, 5).map(Number);
  const prefix = Number(m[5]);
  if (octets.some((o) => o > 255) || prefix < 8 || prefix > 30) throw new Error(`invalid IPv4 CIDR ${JSON.stringify(cidr)} (prefix must be 8–30)`);
  const ip = ((octets[0] << 24) | (octets[1] << 16) | (octets[2] << 8) | octets[3]) >>> 0;
  const size = 2 ** (32 - prefix);
  return { base: (ip - (ip % size)) >>> 0, size, prefix };
}

export function ipToString(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

export function ipToNumber(ip: string): number | null {
  const m = ip.match(/^(\d+)\.(\d+)\.(\d+)\.(\d+)$/);
  if (!m) return null;
  const o = m.slice(1).map(Number);
  if (o.some((x) => x > 255)) return null;
  return ((o[0] << 24) | (o[1] << 16) | (o[2] << 8) | o[3]) >>> 0;
}

/** The n-th address of the range (1 = the first usable one, e.g. 10.43.0.1). */
export function nthIP(cidr: Cidr, n: number): string {
  return ipToString((cidr.base + n) >>> 0);
}

export class ServiceAllocators {
  readonly cidr: Cidr;
  constructor(
    private readonly store: Store,
    serviceCIDR: string = DEFAULT_SERVICE_CIDR,
  ) {
    this.cidr = parseCidr(serviceCIDR);
  }

  private ipKey(ip: string): string {
    return `/registry/ranges/serviceips/${ip}`;
  }

  private portKey(port: number): string {
    return `/registry/ranges/servicenodeports/${port}`;
  }

  /** Take a specific IP, or any free one. Returns the IP, or throws a 422 naming the field. */
  async allocateIP(owner: string, requested?: string): Promise<string> {
    if (requested) {
      const n = ipToNumber(requested);
      if (n === null || n <= this.cidr.base || n >= this.cidr.base + this.cidr.size - 1) {
        throw fieldError(owner, 'spec.clusterIPs', [requested], `failed to allocate IP ${requested}: the provided IP (${requested}) is not in the valid range. The range of valid IPs is ${ipToString(this.cidr.base)}/${this.cidr.prefix}`);
      }
      if (!(await this.take(this.ipKey(requested), owner))) {
        throw fieldError(owner, 'spec.clusterIPs', [requested], `failed to allocate IP ${requested}: provided IP is already allocated`);
      }
      return requested;
    }
    // Random probing, as Kubernetes' allocator does; the first 16 addresses are kept for
    // well-known services (10.43.0.1 the API, 10.43.0.10 the DNS) unless asked for by name.
    const usable = this.cidr.size - 2;
    const reserved = Math.min(16, Math.floor(usable / 4));
    for (let attempt = 0; attempt < 64; attempt++) {
      const off = 1 + reserved + randomInt(usable - reserved);
      const ip = nthIP(this.cidr, off);
      if (await this.take(this.ipKey(ip), owner)) return ip;
    }
    for (let off = 1; off <= usable; off++) {
      const ip = nthIP(this.cidr, off);
      if (await this.take(this.ipKey(ip), owner)) return ip;
    }
    throw fieldError(owner, 'spec.clusterIPs', [], 'failed to allocate a serviceIP: range is full');
  }

  async allocateNodePort(owner: string, requested?: number): Promise<number> {
    const [lo, hi] = NODE_PORT_RANGE;
    if (requested !== undefined) {
      if (requested < lo || requested > hi) {
        throw fieldError(owner, 'spec.ports[0].nodePort', requested, `provided port is not in the valid range. The range of valid ports is ${lo}-${hi}`);
      }
      if (!(await this.take(this.portKey(requested), owner))) throw fieldError(owner, 'spec.ports[0].nodePort', requested, 'provided port is already allocated');
      return requested;
    }
    for (let attempt = 0; attempt < 64; attempt++) {
      const p = lo + randomInt(hi - lo + 1);
      if (await this.take(this.portKey(p), owner)) return p;
    }
    for (let p = lo; p <= hi; p++) if (await this.take(this.portKey(p), owner)) return p;
    throw fieldError(owner, 'spec.ports[0].nodePort', 0, 'range is full');
  }

  async releaseIP(ip: string): Promise<void> {
    await this.release(this.ipKey(ip));
  }

  async releaseNodePort(port: number): Promise<void> {
    await this.release(this.portKey(port));
  }

  private async take(key: string, owner: string): Promise<boolean> {
    try {
      await this.store.create(key, JSON.stringify({ owner }));
      return true;
    } catch (e) {
      if (isStoreError(e, 'AlreadyExists')) return false;
      throw e;
    }
  }

  private async release(key: string): Promise<void> {
    try {
      await this.store.delete(key);
    } catch (e) {
      if (!isStoreError(e, 'NotFound')) throw e;
    }
  }

  /** Fill spec.clusterIP(s) and node ports of a new Service; returns what to release on failure. */
  async allocateFor(svc: KubeObject): Promise<{ ips: string[]; ports: number[] }> {
    const spec = (svc.spec ?? {}) as {
      type?: string;
      clusterIP?: string;
      clusterIPs?: string[];
      ports?: { nodePort?: number }[];
    };
    const owner = `${svc.metadata.namespace}/${svc.metadata.name}`;
    const taken = { ips: [] as string[], ports: [] as number[] };
    try {
      if (spec.type !== 'ExternalName') {
        const wanted = spec.clusterIP ?? spec.clusterIPs?.[0];
        if (wanted === 'None') {
          spec.clusterIP = 'None';
          spec.clusterIPs = ['None'];
        } else {
          const ip = await this.allocateIP(owner, wanted || undefined);
          taken.ips.push(ip);
          spec.clusterIP = ip;
          spec.clusterIPs = [ip];
        }
      }
      if (spec.type === 'NodePort' || spec.type === 'LoadBalancer') {
        for (const p of spec.ports ?? []) {
          const port = await this.allocateNodePort(owner, p.nodePort || undefined);
          taken.ports.push(port);
          p.nodePort = port;
        }
      }
      svc.spec = spec;
      return taken;
    } catch (e) {
      await this.releaseAll(taken);
      throw e;
    }
  }

  async releaseAll(taken: { ips: string[]; ports: number[] }): Promise<void> {
    for (const ip of taken.ips) await this.releaseIP(ip);
    for (const p of taken.ports) await this.releaseNodePort(p);
  }

  /** What a stored Service holds (to release when it goes). */
  static heldBy(svc: KubeObject): { ips: string[]; ports: number[] } {
    const spec = (svc.spec ?? {}) as { clusterIPs?: string[]; clusterIP?: string; ports?: { nodePort?: number }[] };
    const ips = (spec.clusterIPs ?? (spec.clusterIP ? [spec.clusterIP] : [])).filter((ip) => ip && ip !== 'None');
    const ports = (spec.ports ?? []).map((p) => p.nodePort).filter((p): p is number => typeof p === 'number' && p > 0);
    return { ips, ports };
  }
}

function fieldError(owner: string, field: string, value: unknown, detail: string) {
  const cause: FieldCause = { reason: 'FieldValueInvalid', field, message: `Invalid value: ${JSON.stringify(value)}: ${detail}` };
  return errors.invalid('', 'Service', owner.split('/')[1] ?? owner, [cause]);
}
