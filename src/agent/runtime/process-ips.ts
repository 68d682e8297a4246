// Pod IPs of the process runtime: addresses from 127.0.0.0/8, which Linux answers on without
// configuration (127.0.0.1/8 on lo). An address is taken by creating the file <dir>/<ip>
// exclusively (O_EXCL), so several runtimes sharing one registry directory (several agents on
// one host) never hand out the same address, without a lock to go stale. An entry names its
// owner (the runtime's state dir) and sandbox; an entry whose sandbox record is gone (a
// crashed agent, a deleted data dir) is reclaimed after a grace period.
//
// Addresses are 127.a.b.c with a in 1..254, c in 1..254 (never 127.0.x.x, which other software
// uses, and never .0/.255 in the last octet). Each state dir starts in its own /16 (from a
// hash of its path) and then walks forward, so released addresses are not reused at once, and
// addresses that have sockets bound on the host (/proc/net/tcp, udp) are skipped.
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, linkSync, mkdirSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const PER_A = 256 * 254;
const SPACE = 254 * PER_A;
/** Entries younger than this are never reclaimed (their sandbox record may be being written). */
const GRACE_MS = 60_000;

interface IpEntry {
  sandboxId: string;
  owner: string;
  createdAt: number;
}

export function ipOfIndex(i: number): string {
  const a = 1 + Math.floor(i / PER_A);
  const b = Math.floor(i / 254) % 256;
  const c = 1 + (i % 254);
  return `127.${a}.${b}.${c}`;
}

/** IPv4 addresses with a socket bound to them on this host (listening or connected). */
export function boundIpv4Addresses(): Set<string> {
  const out = new Set<string>();
  for (const file of ['/proc/net/tcp', '/proc/net/udp']) {
    let text: string;
    try {
      text = readFileSync(file, 'latin1');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const local = line.trim().split(/\s+/)[1];
      if (!local) continue;
      const hex = local.split(':')[0]!;
      if (hex.length !== 8) continue;
      const n = parseInt(hex, 16);
      // /proc/net shows the address in host (little-endian) byte order.
      out.add(`${n & 255}.${(n >>> 8) & 255}.${(n >>> 16) & 255}.${(n >>> 24) & 255}`);
    }
  }
  return out;
}

export class PodIpRegistry {
  private cursor: number;

  constructor(
    readonly dir: string,
    /** The owning runtime's state dir; entries record it. */
    private readonly owner: string,
    private readonly now: () => number = Date.now,
  ) {
    mkdirSync(dir, { recursive: true });
    const h = createHash('sha256').update(owner).digest().readUInt32BE(0);
    this.cursor = (h % 254) * PER_A;
  }

  /** Take a free address for a sandbox. */
  allocate(sandboxId: string): string {
    let bound: Set<string> | null = null;
    for (let tries = 0; tries < SPACE; tries++) {
      const ip = ipOfIndex(this.cursor);
      this.cursor = (this.cursor + 1) % SPACE;
      bound ??= boundIpv4Addresses();
      if (bound.has(ip)) continue;
      const entry: IpEntry = { sandboxId, owner: this.owner, createdAt: this.now() };
      if (this.tryCreate(ip, entry)) return ip;
      if (this.reclaimIfStale(ip) && this.tryCreate(ip, entry)) return ip;
    }
    throw new Error('no free 127.x.y.z address left for a pod');
  }

  /** Give an address back (only if this sandbox holds it). */
  release(ip: string, sandboxId: string): void {
    const p = join(this.dir, ip);
    const e = this.read(p);
    if (e && e.sandboxId === sandboxId && e.owner === this.owner) {
      try {
        unlinkSync(p);
      } catch {
        // already gone
      }
    }
  }

  /** The sandbox holding an address, if any. */
  holder(ip: string): { sandboxId: string; owner: string } | null {
    const e = this.read(join(this.dir, ip));
    return e ? { sandboxId: e.sandboxId, owner: e.owner } : null;
  }

  private tryCreate(ip: string, entry: IpEntry): boolean {
    try {
      writeFileSync(join(this.dir, ip), JSON.stringify(entry), { flag: 'wx' });
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw err;
    }
  }

  private read(p: string): IpEntry | null {
    try {
      const e = JSON.parse(readFileSync(p, 'utf8')) as IpEntry;
      return typeof e.sandboxId === 'string' && typeof e.owner === 'string' ? e : null;
    } catch {
      return null;
    }
  }

  /** Remove an entry whose sandbox no longer exists; true when the address is free now. */
  private reclaimIfStale(ip: string): boolean {
    const p = join(this.dir, ip);
    let raw: string;
    let mtime: number;
    try {
      raw = readFileSync(p, 'utf8');
      mtime = statSync(p).mtimeMs;
    } catch {
      return true; // vanished meanwhile
    }
    if (this.now() - mtime < GRACE_MS) return false;
    let e: IpEntry | null = null;
    try {
      e = JSON.parse(raw) as IpEntry;
    } catch {
      e = null;
    }
    const live = e !== null && typeof e.owner === 'string' && existsSync(join(e.owner, 'sandboxes', `${e.sandboxId}.json`));
    if (live) return false;
    // Move it aside atomically, then make sure what we moved is what we judged stale.
    const tomb = `${p}.stale-${randomBytes(4).toString('hex')}`;
    try {
      renameSync(p, tomb);
    } catch {
      return false;
    }
    let moved = '';
    try {
      moved = readFileSync(tomb, 'utf8');
    } catch {
      // ignore
    }
    if (moved !== raw) {
      try {
        linkSync(tomb, p);
      } catch {
        // someone took the address meanwhile: theirs stays
      }
      try {
        unlinkSync(tomb);
      } catch {
        // ignore
      }
      return false;
    }
    unlinkSync(tomb);
    return true;
  }
}
