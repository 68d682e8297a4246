// Authentication: who sent a request. kennel authenticates bearer tokens (the admin token in
// the kubeconfig `kennel up` writes; node and service-account tokens later). A token is looked
// up by its SHA-256 digest and then confirmed with a constant-time comparison, so neither the
// lookup nor the comparison reveals how much of a guessed token was right.
import { createHash, timingSafeEqual } from 'node:crypto';

export interface UserInfo {
  username: string;
  uid?: string;
  groups: string[];
}

export interface Authenticator {
  /** The user a request's Authorization header proves, or null (missing, malformed, unknown). */
  authenticate(authorizationHeader: string | undefined): UserInfo | null;
}

export interface TokenAuthenticator extends Authenticator {
  /** Accept another token (e.g. a node's credential); replaces the user of an existing token. */
  addToken(token: string, user: UserInfo): void;
  /** Stop accepting a token. Returns whether it was known. */
  removeToken(token: string): boolean;
  /** How many tokens are accepted. */
  readonly size: number;
}

export const AUTHENTICATED_GROUP = 'system:authenticated';

/** The cluster administrator the admin token authenticates as. */
export function adminUser(): UserInfo {
  return { username: 'system:admin', groups: ['system:masters', AUTHENTICATED_GROUP] };
}

function digest(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

/** The token of a well-formed `Bearer <token>` header, else null. */
export function bearerToken(header: string | undefined): string | null {
  if (typeof header !== 'string') return null;
  const m = /^Bearer +([^\s]+) *$/i.exec(header);
  return m ? m[1]! : null;
}

/**
 * What recent Authorization headers proved: a user, or null for a header this authenticator
 * does not accept (the API server asks several in turn). Every request of a client carries the
 * same header, and hashing it again each time was a few per cent of the API server's CPU under
 * load. Lookup is by the whole header, so a hit tells a caller only what it already sent; an
 * unknown header goes the digest way. The owner clears it whenever its set of tokens changes,
 * so adding and revoking a token take effect at once.
 */
export class RecentHeaders<T> {
  private readonly map = new Map<string, T>();

  constructor(private readonly max = 512) {}

  get(header: string): T | undefined {
    return this.map.get(header);
  }

  set(header: string, value: T): void {
    if (this.map.size >= this.max) this.map.clear();
    this.map.set(header, value);
  }

  clear(): void {
    this.map.clear();
  }
}

function copyUser(u: UserInfo): UserInfo {
  const groups = u.groups.includes(AUTHENTICATED_GROUP) ? [...u.groups] : [...u.groups, AUTHENTICATED_GROUP];
  return u.uid === undefined ? { username: u.username, groups } : { username: u.username, uid: u.uid, groups };
}

/**
 * Authenticates `Authorization: Bearer <token>` against a set of tokens. Every authenticated
 * user is in `system:authenticated`, as in Kubernetes.
 */
export function createTokenAuthenticator(tokens: Map<string, UserInfo>): TokenAuthenticator {
  const byDigest = new Map<string, { digest: Buffer; user: UserInfo }>();
  const recent = new RecentHeaders<UserInfo | null>();
  const add = (token: string, user: UserInfo) => {
    if (!token || /\s/.test(token)) throw new Error('a bearer token must be non-empty and contain no whitespace');
    const d = digest(token);
    byDigest.set(d.toString('hex'), { digest: d, user: copyUser(user) });
    recent.clear();
  };
  for (const [token, user] of tokens) add(token, user);
  return {
    authenticate(header) {
      if (header === undefined) return null;
      const hit = recent.get(header);
      if (hit !== undefined) return hit && copyUser(hit);
      const token = bearerToken(header);
      if (token === null) return null;
      const d = digest(token);
      const entry = byDigest.get(d.toString('hex'));
      const user = entry && timingSafeEqual(entry.digest, d) ? entry.user : null;
      recent.set(header, user);
      return user && copyUser(user);
    },
    addToken: add,
    removeToken(token) {
      recent.clear();
      return byDigest.delete(digest(token).toString('hex'));
    },
    get size() {
      return byDigest.size;
    },
  };
}
