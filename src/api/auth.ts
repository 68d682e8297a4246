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
  const add = (token: string, user: UserInfo) => {
    if (!token || /\s/.test(token)) throw new Error('a bearer token must be non-empty and contain no whitespace');
    const d = digest(token);
    byDigest.set(d.toString('hex'), { digest: d, user: copyUser(user) });
  };
  for (const [token, user] of tokens) add(token, user);
  return {
    authenticate(header) {
      const token = bearerToken(header);
      if (token === null) return null;
      const d = digest(token);
      const entry = byDigest.get(d.toString('hex'));
      if (!entry || !timingSafeEqual(entry.digest, d)) return null;
      return copyUser(entry.user);
    },
    addToken: add,
    removeToken(token) {
      return byDigest.delete(digest(token).toString('hex'));
    },
    get size() {
      return byDigest.size;
    },
  };
}
