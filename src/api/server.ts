// The API server: HTTPS, authentication, discovery and OpenAPI, and the generic resource
// handlers over the store. Every kind comes from the registry.
import type { IncomingMessage, ServerResponse } from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Store } from '../store/types.ts';
import type { Logger } from '../util/log.ts';
import { defaultRegistry, type Registry } from '../registry/index.ts';
import { ObjectStore, serializedAnswer } from './objectstore.ts';
import { WatchCache } from './watchcache.ts';
import { ApiError, errors, toApiError } from './errors.ts';
import { parseRequest } from './requestinfo.ts';
import { handleResource, type HandlerContext } from './handlers.ts';
import { NamespaceLifecycle } from './namespaces.ts';
import type { Authenticator, UserInfo } from './auth.ts';
import { serveNonResource } from './nonresource.ts';
import { readBody, parseAnyBody } from './body.ts';
import { ServiceAllocators } from './allocators.ts';
import { admitCreate } from './admission.ts';
import { ServiceAccountTokens } from './satokens.ts';
import type { KeyObject } from 'node:crypto';
import { advertiseAddress, ensureKubernetesService } from './kubernetes-service.ts';
import type { KubeObject, ResourceDef } from '../registry/types.ts';
import { warningHeaderValue } from './fieldvalidation.ts';
import { getObject } from './resources.ts';
import { proxyPodStream, writeUpgradeError } from './podproxy.ts';
import type { Duplex } from 'node:stream';
import { Authorizer, storeNodeGraph } from './authz.ts';
import { createJoinHandler, NodeCredentials } from './join.ts';
import { LoopbackServer } from '../util/loopback.ts';

export interface ApiServerOptions {
  store: Store;
  bind: string;
  port: number;
  tls: { cert: string; key: string; ca: string };
  authenticator: Authenticator;
  logger: Logger;
  serviceCIDR?: string;
  registry?: Registry;
  /** The address pods reach this server at (for the `kubernetes` Service); default: derived from bind. */
  advertiseAddress?: string;
  /** Signs service-account tokens (TokenRequest) and verifies them; without it there are none. */
  serviceAccountKey?: KeyObject;
  /** Proxy pods/log, exec and attach to node agents with this client certificate (podproxy.ts). */
  podProxy?: { clientCert: { cert: string; key: string }; agentCA?: string };
  /** Serve /cacerts and the node join endpoint (join.ts) for this join-token secret, and accept the node credentials it issues. */
  join?: { secret: string; ca?: { certPem: string; keyPem: string } };
}

export interface ApiServer {
  url: string;
  port: number;
  registry: Registry;
  /**
   * The API for clients in this process (KubeClient's `loopback` option): the same requests,
   * authenticated the same way, handed to the request handler without a socket.
   */
  loopback: LoopbackServer;
  close(): Promise<void>;
}

const PUBLIC_PATHS = new Set(['/healthz', '/livez', '/readyz', '/version']);

export async function startApiServer(opts: ApiServerOptions): Promise<ApiServer> {
  const log = opts.logger;
  const registry = opts.registry ?? defaultRegistry();
  const objects = new ObjectStore(opts.store);
  const cache = new WatchCache(opts.store, log.child('watchcache'));
  await cache.start();
  const nsDef = registry.lookup('', 'v1', 'namespaces');
  if (!nsDef) throw new Error('the registry has no namespaces entry');
  const ctx: HandlerContext = { objects, cache, log, now: () => new Date(), hooks: {} };
  const lifecycle = new NamespaceLifecycle(ctx, registry, nsDef);
  const allocators = new ServiceAllocators(opts.store, opts.serviceCIDR);
  const isService = (def: ResourceDef) => def.group === '' && def.kind === 'Service';
  ctx.hooks.beforeCreate = async (def, obj) => {
    await lifecycle.checkCreate(def, obj);
    if (isService(def)) {
      const taken = await allocators.allocateFor(obj);
      return () => allocators.releaseAll(taken);
    }
  };
  // Node restriction (authz.ts): the URL is checked before the handler, a created object here.
  const authz = new Authorizer(storeNodeGraph(opts.store));
  ctx.hooks.admit = (def, obj) => (authz.admit(def, obj), admitCreate(objects, registry, def, obj));
  ctx.hooks.afterDelete = (def, obj) => {
    if (isService(def)) void allocators.releaseAll(ServiceAllocators.heldBy(obj)).catch((e) => log.warn('release of service addresses failed', { error: String(e) }));
  };
  await lifecycle.ensureBuiltins();
  await lifecycle.track(cache);
  await lifecycle.resume();
  const podsDef = registry.lookup('', 'v1', 'pods');
  const nodesDef = registry.lookup('', 'v1', 'nodes');
  if (opts.podProxy && podsDef && nodesDef) {
    const getOrUndefined = async (def: ResourceDef, ns: string | undefined, name: string) => {
      try {
        return (await getObject(ctx, def, ns, name)).obj;
      } catch (e) {
        if (e instanceof ApiError && e.code === 404) return undefined;
        throw e;
      }
    };
    ctx.podProxy = {
      getPod: (ns, name) => getOrUndefined(podsDef, ns, name),
      getNode: (name) => getOrUndefined(nodesDef, undefined, name),
      clientCert: opts.podProxy.clientCert,
      agentCA: opts.podProxy.agentCA,
      logger: log.child('podproxy'),
    };
  }

  // Service-account tokens: issued by TokenRequest, accepted while valid and while the account
  // (and the pod it is bound to) still exist with the uids in the token.
  if (opts.serviceAccountKey) ctx.tokens = new ServiceAccountTokens(opts.serviceAccountKey);
  const verified = new Map<string, { user: UserInfo; until: number }>();
  const uidOf = async (key: string): Promise<string | undefined> => {
    const kv = await opts.store.get(key);
    if (!kv) return undefined;
    const o = JSON.parse(kv.value) as KubeObject;
    return o.metadata.deletionTimestamp ? undefined : o.metadata.uid;
  };
  const secretsDef = registry.lookup('', 'v1', 'secrets');
  const nodeCredentials = opts.join && secretsDef ? new NodeCredentials({ ctx, secrets: secretsDef, store: opts.store, cache, logger: log.child('join') }) : undefined;
  await nodeCredentials?.start();
  const joinHandler = opts.join && nodeCredentials ? createJoinHandler({ secret: opts.join.secret, caPem: opts.tls.ca, ca: opts.join.ca, credentials: nodeCredentials, logger: log.child('join') }) : undefined;
  async function authenticate(header: string | undefined): Promise<UserInfo | null> {
    const user = opts.authenticator.authenticate(header) ?? nodeCredentials?.authenticate(header) ?? null;
    if (user || !ctx.tokens || !header?.startsWith('Bearer ')) return user;
    const token = header.slice(7).trim();
    const hit = verified.get(token);
    if (hit && hit.until > Date.now()) return hit.user;
    const claims = ctx.tokens.verify(token);
    if (!claims) return null;
    const k = claims['kubernetes.io'];
    if ((await uidOf(`/registry/core/serviceaccounts/${k.namespace}/${k.serviceaccount.name}`)) !== k.serviceaccount.uid) return null;
    if (k.pod && (await uidOf(`/registry/core/pods/${k.namespace}/${k.pod.name}`)) !== k.pod.uid) return null;
    const u = ServiceAccountTokens.userOf(claims);
    if (verified.size > 10000) verified.clear();
    verified.set(token, { user: u, until: Math.min(Date.now() + 10_000, claims.exp * 1000) });
    return u;
  }

  const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    void handle(req, res).catch((e) => {
      log.error('request failed', { method: req.method, url: req.url, error: String(e) });
      if (!res.headersSent) sendError(res, errors.internal('request failed'));
      else res.destroy();
    });
  };
  const server = https.createServer({ cert: opts.tls.cert, key: opts.tls.key }, onRequest);
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  server.requestTimeout = 0;
  // The same API for the clients inside this process: they authenticate as every client does,
  // but pay neither TLS nor HTTP on either end (src/util/loopback.ts).
  const loopback = new LoopbackServer(onRequest);
  // pods/exec and pods/attach: WebSocket upgrades, authenticated here, proxied to the node agent.
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => void upgrade(req, socket, head));
  async function upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    socket.on('error', () => {});
    try {
      const target = req.url ?? '/';
      const q = target.indexOf('?');
      const url = { pathname: q < 0 ? target : target.slice(0, q), searchParams: new URLSearchParams(q < 0 ? '' : target.slice(q + 1)) };
      const user = await authenticate(req.headers.authorization);
      if (!user) throw errors.unauthorized();
      const ri = parseRequest(req.method ?? 'GET', url.pathname.replace(/\/+$/, ''), url.searchParams);
      if (ri.kind === 'resource') await authz.check(user, { ...ri, verb: 'create' });
      if (ri.kind === 'resource' && ri.group === '' && ri.resource === 'pods' && ri.namespace && ri.name && (ri.subresource === 'exec' || ri.subresource === 'attach')) {
        if (!ctx.podProxy) throw errors.unavailable(`pods/${ri.subresource} is not served yet: no node agent is connected to proxy it`);
        void proxyPodStream(ctx.podProxy, { namespace: ri.namespace, name: ri.name }, ri.subresource, req, socket, head);
        return;
      }
      throw errors.badRequest(`the server does not upgrade connections for ${url.pathname}`);
    } catch (e) {
      writeUpgradeError(socket, toApiError(e));
    }
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    // The request target is split by hand: `new URL()` would read `//x` as a host name.
    const target = req.url ?? '/';
    const q = target.indexOf('?');
    const url = { pathname: q < 0 ? target : target.slice(0, q), searchParams: new URLSearchParams(q < 0 ? '' : target.slice(q + 1)) };
    const path = url.pathname.replace(/\/+$/, '') || '/';
    let user: UserInfo | null = null;
    try {
      if (joinHandler && (await joinHandler(req, res, path))) return;
      user = await authenticate(req.headers.authorization);
      if (!user && !PUBLIC_PATHS.has(path)) throw errors.unauthorized();
      const ri = parseRequest(req.method ?? 'GET', path, url.searchParams);
      if (ri.kind === 'nonresource') {
        const reply = await serveNonResource(req, path, registry, user, url.searchParams);
        return sendReply(res, reply.code, reply.body, reply.contentType);
      }
      if (isReviewPath(ri.group, ri.resource)) {
        if (ri.verb !== 'create') throw errors.methodNotAllowed();
        const body = parseAnyBody(await readBody(req), req.headers['content-type']);
        return sendReply(res, 201, reviewResponse(ri.resource, body, user));
      }
      const def = registry.lookup(ri.group, ri.version, ri.resource);
      if (!def) {
        if (!registry.servesGroupVersion(ri.group, ri.version)) {
          throw new ApiError(404, 'NotFound', `the server could not find the requested resource`, { group: ri.group || undefined, kind: ri.resource });
        }
        throw new ApiError(404, 'NotFound', `the server could not find the requested resource (${ri.verb} ${ri.resource}${ri.group ? '.' + ri.group : ''})`, {
          group: ri.group || undefined,
          kind: ri.resource,
          name: ri.name,
        });
      }
      const verbs = def.verbs ?? ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete', 'deletecollection'];
      if (!ri.subresource && !verbs.includes(ri.verb)) throw errors.methodNotAllowed();
      const checking = authz.check(user, ri); // undefined unless the user is a restricted node
      if (checking) await checking;
      const reply = await authz.within(user, () => handleResource(ctx, def, ri, req, res, url.searchParams));
      if (def.kind === 'Namespace' && (ri.verb === 'delete' || ri.verb === 'deletecollection') && !url.searchParams.has('dryRun')) {
        if (ri.name) lifecycle.finalize(ri.name);
        else void lifecycle.resume();
      }
      if (reply) {
        if (reply.warnings?.length) res.setHeader('Warning', reply.warnings.map(warningHeaderValue));
        sendReply(res, reply.code, reply.body, reply.contentType);
      }
    } catch (e) {
      const err = toApiError(e);
      if (err.code >= 500) log.error('request failed', { method: req.method, path, code: err.code, error: err.message, stack: e instanceof Error && !(e instanceof ApiError) ? e.stack : undefined });
      if (res.headersSent) {
        res.end();
        return;
      }
      sendError(res, err);
    }
  }

  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(opts.port, opts.bind, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (e) {
    lifecycle.stop();
    cache.stop();
    throw e;
  }
  const port = (server.address() as AddressInfo).port;
  try {
    await ensureKubernetesService(ctx, registry, allocators, opts.advertiseAddress ?? advertiseAddress(opts.bind), port);
  } catch (e) {
    log.warn('could not record the kubernetes service', { error: String(e) });
  }
  const host = opts.bind.includes(':') ? `[${opts.bind}]` : opts.bind === '0.0.0.0' ? '127.0.0.1' : opts.bind;
  const url = `https://${host}:${port}`;
  log.info('API server listening', { url });

  return {
    url,
    port,
    registry,
    loopback,
    async close() {
      nodeCredentials?.stop();
      lifecycle.stop();
      cache.stop();
      loopback.close();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}

function sendReply(res: ServerResponse, code: number, body: unknown, contentType = 'application/json'): void {
  // An object a write just stored is answered from its stored JSON (objectstore.ts).
  const text = typeof body === 'string' || Buffer.isBuffer(body) ? body : ((body !== null && typeof body === 'object' && serializedAnswer(body)) || JSON.stringify(body));
  res.writeHead(code, { 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(text), 'Cache-Control': 'no-cache, private' });
  res.end(text);
}

function sendError(res: ServerResponse, err: ApiError): void {
  // As the Kubernetes API server does: a Status that names a retry period says it in Retry-After
  // too, which clients (client-go among them) wait for before retrying a 429 or a 5xx.
  const retry = err.details?.retryAfterSeconds;
  if (retry !== undefined && retry > 0) res.setHeader('Retry-After', String(retry));
  sendReply(res, err.code, err.toStatus());
}

function isReviewPath(group: string, resource: string): boolean {
  return (
    (group === 'authorization.k8s.io' && (resource === 'selfsubjectaccessreviews' || resource === 'selfsubjectrulesreviews')) ||
    (group === 'authentication.k8s.io' && resource === 'selfsubjectreviews')
  );
}

/** `kubectl auth can-i` and `kubectl auth whoami`: the admin (system:masters) may do anything. */
function reviewResponse(resource: string, body: unknown, user: UserInfo | null): unknown {
  const b = (body && typeof body === 'object' ? body : {}) as Record<string, unknown>;
  const admin = user?.groups.includes('system:masters') ?? false;
  if (resource === 'selfsubjectaccessreviews') {
    return {
      ...b,
      apiVersion: 'authorization.k8s.io/v1',
      kind: 'SelfSubjectAccessReview',
      metadata: { creationTimestamp: null },
      status: admin ? { allowed: true, reason: 'the user is in the system:masters group' } : { allowed: false, reason: 'no rule allows it' },
    };
  }
  if (resource === 'selfsubjectrulesreviews') {
    return {
      ...b,
      apiVersion: 'authorization.k8s.io/v1',
      kind: 'SelfSubjectRulesReview',
      metadata: { creationTimestamp: null },
      status: {
        resourceRules: admin ? [{ verbs: ['*'], apiGroups: ['*'], resources: ['*'] }] : [],
        nonResourceRules: admin ? [{ verbs: ['*'], nonResourceURLs: ['*'] }] : [],
        incomplete: false,
      },
    };
  }
  return {
    apiVersion: 'authentication.k8s.io/v1',
    kind: 'SelfSubjectReview',
    metadata: { creationTimestamp: null },
    status: { userInfo: { username: user?.username ?? 'system:anonymous', uid: user?.uid, groups: user?.groups ?? ['system:unauthenticated'] } },
  };
}
