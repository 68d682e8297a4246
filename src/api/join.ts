// Joining nodes: the server half of `kennel agent --server … --token …`.
//
// The protocol (as k3s and kubeadm do it, over the API server's own HTTPS port):
//  1. GET /cacerts (no credentials) returns the cluster CA certificate. The agent does not trust
//     it yet: it compares its SHA-256 with the hash inside the join token
//     (K10<sha256 of the CA PEM>::server:<secret>) and stops on a mismatch.
//  2. POST /kennel/v1/join over TLS verified with that CA, `Authorization: Bearer <secret>`,
//     body {nodeName, identity[, podCIDR]}. The identity is a random secret the agent keeps in
//     its data dir; it proves on a later join that it is the same agent.
//  3. The server answers 201 with a node credential: a bearer token that authenticates as user
//     `system:node:<name>` in groups `system:nodes` and `system:authenticated` (never
//     system:masters: authz.ts restricts it), and the node's pod CIDR (10.244.N.0/24, unique per
//     node, kept across re-joins).
//  4. Optionally (as a kubelet's serving-certificate CSR): the request carries the agent's
//     public key for its HTTPS endpoint (servingPublicKey, SPKI PEM; the private key never
//     leaves the agent) and its addresses (servingIPs); a server that holds the cluster CA key
//     answers with a certificate for that key, signed by the cluster CA, for the node's name,
//     localhost, those addresses, the address the request came from and 127.0.0.1
//     (servingCertificate). So the agent never builds a certificate itself.
//
// The credential is persisted as a Secret `kube-system/kennel-node-<name>` of type
// `kennel.dev/node-credential` holding SHA-256 digests only (of the token and of the identity)
// and the pod CIDR, so it survives a server restart and every server on one etcd accepts it.
// Deleting the Secret revokes the credential and frees the name. A join for a name whose Secret
// names another identity is refused with 409 Conflict; a join with the same identity (an agent
// restart) gets a fresh token that replaces the old one.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { isIP } from 'node:net';
import { servingCertificateFor, servingPublicKeyError, type CertificateAuthority } from '../agent/server-certs.ts';
import type { KubeObject, ResourceDef } from '../registry/types.ts';
import type { Store } from '../store/types.ts';
import type { Logger } from '../util/log.ts';
import { dns1123SubdomainErrors } from '../registry/validation.ts';
import { AUTHENTICATED_GROUP, bearerToken, RecentHeaders, type Authenticator, type UserInfo } from './auth.ts';
import { NODE_USER_PREFIX, NODES_GROUP } from './authz.ts';
import { readBody } from './body.ts';
import { ApiError, errors, toApiError } from './errors.ts';
import { createObject, updateObject, type ResourceContext } from './resources.ts';
import { objectKey } from './objectstore.ts';
import type { CacheEvent, Subscription, WatchCache } from './watchcache.ts';

export const CACERTS_PATH = '/cacerts';
export const JOIN_PATH = '/kennel/v1/join';
export const CREDENTIAL_NAMESPACE = 'kube-system';
export const CREDENTIAL_SECRET_TYPE = 'kennel.dev/node-credential';
export const CREDENTIAL_NAME_PREFIX = 'kennel-node-';
const MAX_NODE_NAME = 253 - CREDENTIAL_NAME_PREFIX.length;

export interface JoinRequest {
  nodeName: string;
  /** The agent's secret identity (kept in its data dir). */
  identity: string;
  /** A pod CIDR the node asks for (granted when no other node holds it). */
  podCIDR?: string;
  /** The public key (SPKI PEM, RSA) of the agent's HTTPS endpoint, to be certified. */
  servingPublicKey?: string;
  /** The node's addresses, for that certificate. */
  servingIPs?: string[];
}

export interface JoinResponse {
  apiVersion: 'kennel.dev/v1';
  kind: 'NodeCredential';
  nodeName: string;
  /** Bearer token for user system:node:<nodeName>. */
  token: string;
  podCIDR: string;
  /** Whether this node had joined before (same identity). */
  rejoined: boolean;
  /** For a request with servingPublicKey, when the server holds the CA key: the agent's serving certificate (PEM). */
  servingCertificate?: string;
}

/** Most addresses a join may ask its serving certificate to cover. */
const MAX_SERVING_IPS = 16;

export function credentialSecretName(nodeName: string): string {
  return CREDENTIAL_NAME_PREFIX + nodeName;
}

const sha256 = (text: string): Buffer => createHash('sha256').update(text, 'utf8').digest();
const b64 = (text: string): string => Buffer.from(text, 'utf8').toString('base64');
const unb64 = (v: unknown): string => (typeof v === 'string' ? Buffer.from(v, 'base64').toString('utf8') : '');

interface Held {
  node: string;
  identityHash: Buffer;
  tokenHash: Buffer;
  podCIDR: string;
  rev: number;
}

function heldOf(obj: KubeObject, rev: number): Held | undefined {
  if (obj.type !== CREDENTIAL_SECRET_TYPE) return undefined;
  const data = (obj.data ?? {}) as Record<string, unknown>;
  const node = unb64(data.node);
  const identityHash = Buffer.from(unb64(data['identity-sha256']), 'hex');
  const tokenHash = Buffer.from(unb64(data['token-sha256']), 'hex');
  if (!node || identityHash.length !== 32 || tokenHash.length !== 32) return undefined;
  return { node, identityHash, tokenHash, podCIDR: unb64(data['pod-cidr']), rev };
}

/** 10.244.N.0/24 for N = 0…255: the pod CIDRs the server hands out. */
export function podCIDRFor(index: number): string {
  return `10.244.${index}.0/24`;
}

const CIDR_V4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/;
function validCIDR(c: string): boolean {
  const m = CIDR_V4.exec(c);
  return !!m && m.slice(1, 5).every((o) => Number(o) <= 255) && Number(m[5]) >= 8 && Number(m[5]) <= 30;
}

export interface NodeCredentialsOptions {
  ctx: ResourceContext;
  /** The registry's core/v1 secrets entry. */
  secrets: ResourceDef;
  store: Store;
  cache: WatchCache;
  logger: Logger;
}

/**
 * The node credentials the cluster has issued: an authenticator for their tokens (kept in step
 * with the Secrets through the watch cache) and the join operation that issues them.
 */
export class NodeCredentials implements Authenticator {
  private readonly byToken = new Map<string, Held>();
  /** Recently accepted headers (auth.ts); cleared whenever byToken changes. */
  private readonly recent = new RecentHeaders<UserInfo | null>();
  private readonly byNode = new Map<string, Held>();
  private sub: Subscription | undefined;
  private stopped = false;
  private queue: Promise<unknown> = Promise.resolve();
  private readonly prefix: string;

  constructor(private readonly o: NodeCredentialsOptions) {
    this.prefix = objectKey(o.secrets, CREDENTIAL_NAMESPACE, CREDENTIAL_NAME_PREFIX);
  }

  /** Loads the issued credentials and follows their changes. */
  async start(): Promise<void> {
    const items: { key: string; value: string; rev: number }[] = [];
    let revision = 0;
    let cont: string | undefined;
    do {
      const page = await this.o.store.list(this.prefix, { limit: 500, ...(cont ? { continue: cont, revision } : {}) });
      revision = page.revision;
      for (const kv of page.items) items.push({ key: kv.key, value: kv.value, rev: kv.modRevision });
      cont = page.continue;
    } while (cont);
    this.byToken.clear();
    this.recent.clear();
    this.byNode.clear();
    for (const it of items) {
      try {
        this.apply(JSON.parse(it.value) as KubeObject, it.rev);
      } catch {
        // an unreadable Secret grants nothing
      }
    }
    if (this.stopped) return;
    this.sub = this.o.cache.subscribe(
      this.prefix,
      revision,
      (e) => this.onEvent(e),
      (err) => {
        this.o.logger.warn('node credential watch restarting', { error: err.message });
        this.sub?.close();
        if (!this.stopped) void this.start().catch((e: unknown) => this.o.logger.error('node credentials cannot be reloaded', { error: String(e) }));
      },
    );
  }

  stop(): void {
    this.stopped = true;
    this.sub?.close();
  }

  /** How many nodes hold a credential. */
  get size(): number {
    return this.byNode.size;
  }

  private onEvent(e: CacheEvent): void {
    if (e.type === 'DELETED') {
      const held = this.byNode.get(nodeOfKey(e.key, this.prefix));
      if (held && held.rev <= e.rev) this.forget(held);
      return;
    }
    this.apply(e.obj, e.rev);
  }

  private forget(held: Held): void {
    this.byNode.delete(held.node);
    this.byToken.delete(held.tokenHash.toString('hex'));
    this.recent.clear();
  }

  private apply(obj: KubeObject, rev: number): void {
    const held = heldOf(obj, rev);
    const name = obj.metadata?.name ?? '';
    if (!held || name !== credentialSecretName(held.node)) return;
    const old = this.byNode.get(held.node);
    if (old && old.rev >= rev) return; // already newer (the join applied its own write)
    if (old) this.forget(old);
    this.byNode.set(held.node, held);
    this.byToken.set(held.tokenHash.toString('hex'), held);
    this.recent.clear();
  }

  authenticate(header: string | undefined): UserInfo | null {
    if (header === undefined) return null;
    const hit = this.recent.get(header);
    if (hit !== undefined) return hit && { username: hit.username, groups: [...hit.groups] };
    const token = bearerToken(header);
    if (token === null) return null;
    const d = sha256(token);
    const held = this.byToken.get(d.toString('hex'));
    const user = held && timingSafeEqual(held.tokenHash, d) ? { username: NODE_USER_PREFIX + held.node, groups: [NODES_GROUP, AUTHENTICATED_GROUP] } : null;
    this.recent.set(header, user);
    return user && { username: user.username, groups: [...user.groups] };
  }

  /** Issues a credential for a node (one join at a time, so pod CIDRs stay unique). */
  join(req: JoinRequest): Promise<JoinResponse> {
    const run = this.queue.then(() => this.joinNow(req));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private allocatePodCIDR(wanted: string | undefined): string {
    const used = new Set([...this.byNode.values()].map((h) => h.podCIDR));
    if (wanted && validCIDR(wanted) && !used.has(wanted)) return wanted;
    for (let i = 0; i < 256; i++) if (!used.has(podCIDRFor(i))) return podCIDRFor(i);
    throw errors.unavailable('no free pod CIDR is left in 10.244.0.0/16 (256 nodes hold one); delete the credentials of nodes that are gone (kubectl -n kube-system delete secret kennel-node-<name>)');
  }

  private async joinNow(req: JoinRequest): Promise<JoinResponse> {
    const { nodeName } = req;
    const name = credentialSecretName(nodeName);
    const identityHash = sha256(req.identity);
    const token = randomBytes(32).toString('base64url');
    const tokenHex = sha256(token).toString('hex');
    const refusals = new WeakSet<object>();
    const refused = (): ApiError => {
      const err = new ApiError(
        409,
        'Conflict',
        `node "${nodeName}" has already joined the cluster from another agent (a different node identity); choose another --node-name, or if that machine is gone for good, free the name with: kubectl -n ${CREDENTIAL_NAMESPACE} delete secret ${name}`,
        { name: nodeName, kind: 'nodes' },
      );
      refusals.add(err);
      return err;
    };
    const fieldManager = 'kennel-join';
    for (let attempt = 0; attempt < 5; attempt++) {
      const found = await this.o.ctx.objects.get(this.o.secrets, CREDENTIAL_NAMESPACE, name);
      if (found) {
        const held = heldOf(found.obj, found.rev);
        if (held && !timingSafeEqual(held.identityHash, identityHash)) throw refused();
        const podCIDR = held?.podCIDR && validCIDR(held.podCIDR) ? held.podCIDR : this.allocatePodCIDR(req.podCIDR);
        const res = await updateObject(
          this.o.ctx,
          this.o.secrets,
          CREDENTIAL_NAMESPACE,
          name,
          (cur) => {
            if (!cur) throw errors.notFound('', 'secrets', name);
            const now = heldOf(cur, 0);
            if (now && !timingSafeEqual(now.identityHash, identityHash)) throw refused();
            return { ...this.secretBody(nodeName, identityHash, tokenHex, podCIDR), metadata: { ...cur.metadata, resourceVersion: String(found.rev) } };
          },
          { fieldManager },
        ).catch((e: unknown) => {
          if (e instanceof ApiError && refusals.has(e)) throw e;
          const err = toApiError(e);
          if (err.code === 409 || err.code === 404) return undefined; // raced with another write: read again
          throw err;
        });
        if (!res) continue;
        this.apply(res.obj, Number(res.obj.metadata.resourceVersion ?? 0));
        this.o.logger.info('node joined again', { node: nodeName, podCIDR });
        return { apiVersion: 'kennel.dev/v1', kind: 'NodeCredential', nodeName, token, podCIDR, rejoined: true };
      }
      const podCIDR = this.allocatePodCIDR(req.podCIDR);
      let created: KubeObject;
      try {
        created = await createObject(this.o.ctx, this.o.secrets, CREDENTIAL_NAMESPACE, this.secretBody(nodeName, identityHash, tokenHex, podCIDR), { fieldManager });
      } catch (e) {
        const err = toApiError(e);
        if (err.code === 409) continue; // another join for this name won: check its identity
        throw err;
      }
      this.apply(created, Number(created.metadata.resourceVersion ?? 0));
      this.o.logger.info('node joined', { node: nodeName, podCIDR });
      return { apiVersion: 'kennel.dev/v1', kind: 'NodeCredential', nodeName, token, podCIDR, rejoined: false };
    }
    throw errors.conflict('', 'secrets', name, 'the node credential kept changing while joining; try again');
  }

  private secretBody(node: string, identityHash: Buffer, tokenHex: string, podCIDR: string): KubeObject {
    return {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: {
        name: credentialSecretName(node),
        namespace: CREDENTIAL_NAMESPACE,
        labels: { 'kennel.dev/node-credential': 'true' },
        annotations: { 'kennel.dev/node': node },
      },
      type: CREDENTIAL_SECRET_TYPE,
      data: { node: b64(node), 'identity-sha256': b64(identityHash.toString('hex')), 'token-sha256': b64(tokenHex), 'pod-cidr': b64(podCIDR) },
    };
  }
}

function nodeOfKey(key: string, prefix: string): string {
  return key.startsWith(prefix) ? key.slice(prefix.length) : '';
}

/** Why a join request body is unusable ('' = it is fine). */
export function joinRequestError(body: unknown): string {
  if (!body || typeof body !== 'object' || Array.isArray(body)) return 'the join request must be a JSON object {nodeName, identity}';
  const b = body as Record<string, unknown>;
  if (typeof b.nodeName !== 'string' || !b.nodeName) return 'nodeName is required';
  const nameErrs = dns1123SubdomainErrors(b.nodeName);
  if (nameErrs.length) return `node name "${b.nodeName}" is not valid: ${nameErrs.join('; ')}`;
  if (b.nodeName.length > MAX_NODE_NAME) return `node name "${b.nodeName}" is too long to join: at most ${MAX_NODE_NAME} characters`;
  if (typeof b.identity !== 'string' || b.identity.length < 16 || b.identity.length > 512) return 'identity must be a string of 16 to 512 characters';
  if (b.podCIDR !== undefined && (typeof b.podCIDR !== 'string' || !validCIDR(b.podCIDR))) return `podCIDR must be an IPv4 CIDR such as 10.244.0.0/24`;
  if (b.servingPublicKey !== undefined) {
    const keyProblem = servingPublicKeyError(b.servingPublicKey);
    if (keyProblem) return keyProblem;
  }
  if (b.servingIPs !== undefined) {
    if (!Array.isArray(b.servingIPs) || b.servingIPs.length > MAX_SERVING_IPS || !b.servingIPs.every((ip) => typeof ip === 'string' && isIP(ip) !== 0)) {
      return `servingIPs must be a list of at most ${MAX_SERVING_IPS} IP addresses`;
    }
  }
  return '';
}

export interface JoinHandlerOptions {
  /** The secret part of the join token. */
  secret: string;
  caPem: string;
  /**
   * The cluster CA with its key: signs the serving certificates of agents that send a public
   * key. Without it, joins get no certificate (the agent then makes a self-signed one).
   */
  ca?: CertificateAuthority;
  credentials: Pick<NodeCredentials, 'join'>;
  logger: Logger;
}

/** The address a request came from, as an IP ('' when unknown); IPv4 for IPv4-mapped IPv6. */
function remoteIP(req: IncomingMessage): string {
  const a = req.socket.remoteAddress ?? '';
  const v4 = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(a);
  if (v4) return v4[1]!;
  return isIP(a) ? a : '';
}

function sendJson(res: ServerResponse, code: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(code, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text), 'Cache-Control': 'no-cache, private' });
  res.end(text);
}

/**
 * The /cacerts and /kennel/v1/join endpoints. Resolves to whether the path was one of them (and
 * answered); both are served before authentication (the join authenticates with the join
 * token's secret itself).
 */
export function createJoinHandler(o: JoinHandlerOptions): (req: IncomingMessage, res: ServerResponse, path: string) => Promise<boolean> {
  const want = sha256(o.secret);
  return async (req, res, path) => {
    if (path === CACERTS_PATH) {
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        sendJson(res, 405, errors.methodNotAllowed().toStatus());
        return true;
      }
      res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': Buffer.byteLength(o.caPem), 'Cache-Control': 'no-cache, private' });
      res.end(req.method === 'HEAD' ? undefined : o.caPem);
      return true;
    }
    if (path !== JOIN_PATH) return false;
    try {
      if (req.method !== 'POST') throw errors.methodNotAllowed('a join is a POST');
      const secret = bearerToken(req.headers.authorization);
      if (secret === null || !timingSafeEqual(sha256(secret), want)) {
        o.logger.warn('join refused: wrong join token', { remote: req.socket.remoteAddress });
        throw new ApiError(401, 'Unauthorized', 'the join token is not valid for this cluster: copy it again from the server (`kennel up` prints it; it is also in <data-dir>/join-token there)');
      }
      let body: unknown;
      try {
        body = JSON.parse((await readBody(req, 64 * 1024)).toString('utf8'));
      } catch (e) {
        if (e instanceof ApiError) throw e;
        throw errors.badRequest('the join request is not JSON');
      }
      const problem = joinRequestError(body);
      if (problem) throw errors.badRequest(problem);
      const jr = body as JoinRequest;
      const reply = await o.credentials.join(jr);
      if (jr.servingPublicKey && o.ca) {
        // The credential stands even if this fails: the agent falls back to a self-signed certificate.
        try {
          const ips = [...(jr.servingIPs ?? []), remoteIP(req)].filter(Boolean);
          reply.servingCertificate = await servingCertificateFor({ publicKeyPem: jr.servingPublicKey, nodeName: jr.nodeName, ips, ca: o.ca });
        } catch (e) {
          o.logger.error('cannot sign the serving certificate of a joining node', { node: jr.nodeName, error: (e as Error).message });
        }
      }
      sendJson(res, 201, reply);
    } catch (e) {
      const err = toApiError(e);
      if (err.code >= 500) o.logger.error('join failed', { error: err.message });
      if (!res.headersSent) sendJson(res, err.code, err.toStatus());
      else res.end();
    }
    return true;
  };
}
