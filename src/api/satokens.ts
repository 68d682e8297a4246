// Service-account tokens: bound, expiring JWTs (RS256) issued through the TokenRequest API
// (`POST serviceaccounts/<name>/token`, `kubectl create token`) and accepted by the API server
// as `system:serviceaccount:<ns>:<name>` while they are valid and what they are bound to exists.
import { createPrivateKey, createPublicKey, generateKeyPairSync, randomUUID, sign, verify, type KeyObject } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import type { UserInfo } from './auth.ts';

export const DEFAULT_AUDIENCE = 'https://kubernetes.default.svc.cluster.local';
export const ISSUER = 'https://kubernetes.default.svc.cluster.local';
const MIN_EXPIRATION = 600;
const MAX_EXPIRATION = 2 ** 32;

export interface BoundObject {
  kind: 'Pod' | 'Secret' | 'Node';
  name: string;
  uid: string;
}

export interface TokenClaims {
  iss: string;
  aud: string[];
  sub: string;
  exp: number;
  iat: number;
  nbf: number;
  jti: string;
  'kubernetes.io': {
    namespace: string;
    serviceaccount: { name: string; uid: string };
    pod?: { name: string; uid: string };
    secret?: { name: string; uid: string };
    node?: { name: string; uid: string };
  };
}

const b64url = (b: Buffer | string) => Buffer.from(b).toString('base64url');

/** Load the token signing key from `<dataDir>/pki/service-account.key`, creating it once. */
export async function ensureServiceAccountKey(dataDir: string): Promise<KeyObject> {
  const path = join(dataDir, 'pki', 'service-account.key');
  try {
    return createPrivateKey(await fs.readFile(path, 'utf8'));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  await fs.mkdir(join(dataDir, 'pki'), { recursive: true, mode: 0o700 });
  await fs.writeFile(path, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  return privateKey;
}

export class ServiceAccountTokens {
  private readonly publicKey: KeyObject;
  constructor(
    private readonly key: KeyObject,
    private readonly now: () => number = Date.now,
  ) {
    this.publicKey = createPublicKey(key);
  }

  /** A clamped expiration, as the TokenRequest API does (at least 10 minutes). */
  static expiration(requested: number | undefined): number {
    const e = requested ?? 3600;
    return Math.min(Math.max(e, MIN_EXPIRATION), MAX_EXPIRATION);
  }

  issue(o: { namespace: string; name: string; uid: string; audiences?: string[]; expirationSeconds: number; bound?: BoundObject }): { token: string; expiresAt: number } {
    const iat = Math.floor(this.now() / 1000);
    const exp = iat + o.expirationSeconds;
    const claims: TokenClaims = {
      iss: ISSUER,
      aud: o.audiences?.length ? o.audiences : [DEFAULT_AUDIENCE],
      sub: `system:serviceaccount:${o.namespace}:${o.name}`,
      exp,
      iat,
      nbf: iat,
      jti: randomUUID(),
      'kubernetes.io': { namespace: o.namespace, serviceaccount: { name: o.name, uid: o.uid } },
    };
    if (o.bound) {
      const ref = { name: o.bound.name, uid: o.bound.uid };
      if (o.bound.kind === 'Pod') claims['kubernetes.io'].pod = ref;
      else if (o.bound.kind === 'Secret') claims['kubernetes.io'].secret = ref;
      else claims['kubernetes.io'].node = ref;
    }
    const head = b64url(JSON.stringify({ alg: 'RS256', typ: 'JWT' }));
    const body = b64url(JSON.stringify(claims));
    const sig = sign('sha256', Buffer.from(`${head}.${body}`), this.key).toString('base64url');
    return { token: `${head}.${body}.${sig}`, expiresAt: exp * 1000 };
  }

  /** The claims of a token with a valid signature that has not expired, else null. */
  verify(token: string): TokenClaims | null {
    const parts = token.split('.');
    if (parts.length !== 3) return null;
    const [head, body, sig] = parts;
    let ok = false;
    try {
      ok = verify('sha256', Buffer.from(`${head}.${body}`), this.publicKey, Buffer.from(sig, 'base64url'));
    } catch {
      return null;
    }
    if (!ok) return null;
    let claims: TokenClaims;
    try {
      claims = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as TokenClaims;
    } catch {
      return null;
    }
    const now = this.now() / 1000;
    if (claims.iss !== ISSUER || typeof claims.exp !== 'number' || claims.exp < now || claims.nbf > now + 60) return null;
    return claims;
  }

  static userOf(claims: TokenClaims): UserInfo {
    const k = claims['kubernetes.io'];
    return {
      username: `system:serviceaccount:${k.namespace}:${k.serviceaccount.name}`,
      uid: k.serviceaccount.uid,
      groups: ['system:serviceaccounts', `system:serviceaccounts:${k.namespace}`, 'system:authenticated'],
    };
  }
}
