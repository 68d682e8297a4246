// The typed REST client every kennel component uses to talk to the API server: Kubernetes REST
// and watch over HTTPS with a bearer token (or client certificate), one keep-alive connection
// pool per client with the cluster CA pinned — or, for the components inside the API server's
// own process, the same requests through its in-process loopback (src/util/loopback.ts).
// Failures the server reports arrive as ApiStatusError carrying the Kubernetes Status;
// transport failures are plain Errors.
import https from 'node:https';
import tls from 'node:tls';
import type { ClientRequest, IncomingMessage } from 'node:http';
import type { LoopbackServer } from '../util/loopback.ts';
import type { KubeObject, ObjectMeta, ResourceDef } from '../registry/types.ts';
import { loadKubeconfig, type ClientConfig, type LoadKubeconfigOptions } from './kubeconfig.ts';

// ---------------------------------------------------------------------------------------------
// Resources

/** What the client needs to address a resource. A registry ResourceDef is one. */
export interface ResourceRef {
  /** '' for the core group. */
  group: string;
  version: string;
  /** Lower-case plural, the URL segment. */
  plural: string;
  namespaced: boolean;
  /** Used to fill apiVersion/kind on create when the object omits them. */
  kind?: string;
}

/** The registry entry for apiVersion (`v1`, `apps/v1`) and plural; throws if it is not served. */
export function resourceOf(registry: { lookup(group: string, version: string, plural: string): ResourceDef | undefined }, apiVersion: string, plural: string): ResourceDef {
  const { group, version } = splitApiVersion(apiVersion);
  const def = registry.lookup(group, version, plural);
  if (!def) throw new Error(`the registry has no resource ${plural} in ${apiVersion}`);
  return def;
}

/** A descriptor without a registry: `resourceRef('apps/v1', 'statefulsets', true, 'StatefulSet')`. */
export function resourceRef(apiVersion: string, plural: string, namespaced: boolean, kind?: string): ResourceRef {
  const { group, version } = splitApiVersion(apiVersion);
  return kind === undefined ? { group, version, plural, namespaced } : { group, version, plural, namespaced, kind };
}

export function splitApiVersion(apiVersion: string): { group: string; version: string } {
  const i = apiVersion.indexOf('/');
  return i < 0 ? { group: '', version: apiVersion } : { group: apiVersion.slice(0, i), version: apiVersion.slice(i + 1) };
}

function apiVersionOfRef(res: ResourceRef): string {
  return res.group ? `${res.group}/${res.version}` : res.version;
}

/** URL path of a resource collection, object or subresource. */
export function resourcePath(res: ResourceRef, namespace?: string, name?: string, subresource?: string): string {
  let p = res.group ? `/apis/${res.group}/${res.version}` : `/api/${res.version}`;
  if (res.namespaced && namespace !== undefined && namespace !== '') p += `/namespaces/${encodeURIComponent(namespace)}`;
  p += `/${res.plural}`;
  if (name !== undefined) {
    if (name === '') throw new Error(`a ${res.plural} request needs an object name`);
    p += `/${encodeURIComponent(name)}`;
    if (subresource) p += `/${subresource}`;
  }
  return p;
}

// ---------------------------------------------------------------------------------------------
// Errors

export interface StatusCause {
  reason?: string;
  message?: string;
  field?: string;
}

export interface StatusDetails {
  name?: string;
  group?: string;
  kind?: string;
  uid?: string;
  causes?: StatusCause[];
  retryAfterSeconds?: number;
}

/** A Kubernetes meta/v1 Status. */
export interface Status {
  kind: 'Status';
  apiVersion: string;
  metadata: { resourceVersion?: string; continue?: string };
  status: 'Success' | 'Failure';
  message?: string;
  reason?: string;
  details?: StatusDetails;
  code: number;
}

const REASON_BY_CODE: Record<number, string> = {
  400: 'BadRequest',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'NotFound',
  405: 'MethodNotAllowed',
  406: 'NotAcceptable',
  409: 'Conflict',
  410: 'Expired',
  413: 'RequestEntityTooLarge',
  415: 'UnsupportedMediaType',
  422: 'Invalid',
  429: 'TooManyRequests',
  500: 'InternalError',
  503: 'ServiceUnavailable',
  504: 'Timeout',
};

/** An error the API server answered with (HTTP status ≥ 400, or a watch ERROR event). */
export class ApiStatusError extends Error {
  readonly status: Status;
  constructor(status: Status) {
    super(status.message || status.reason || `HTTP ${status.code}`);
    this.name = 'ApiStatusError';
    this.status = status;
  }
  get code(): number {
    return this.status.code;
  }
  get reason(): string {
    return this.status.reason ?? '';
  }
  get details(): StatusDetails | undefined {
    return this.status.details;
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A Status from a response body, or one made up from the HTTP code when the body is not one. */
export function toStatus(code: number, body: string): Status {
  try {
    const v: unknown = JSON.parse(body);
    if (isRecord(v) && v.kind === 'Status') {
      return {
        kind: 'Status',
        apiVersion: typeof v.apiVersion === 'string' ? v.apiVersion : 'v1',
        metadata: isRecord(v.metadata) ? (v.metadata as Status['metadata']) : {},
        status: v.status === 'Success' ? 'Success' : 'Failure',
        message: typeof v.message === 'string' ? v.message : undefined,
        reason: typeof v.reason === 'string' ? v.reason : REASON_BY_CODE[code],
        details: isRecord(v.details) ? (v.details as StatusDetails) : undefined,
        code: typeof v.code === 'number' ? v.code : code,
      };
    }
  } catch {
    // not JSON: fall through
  }
  const text = body.trim().slice(0, 500);
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', code, reason: REASON_BY_CODE[code] ?? 'Unknown', message: text || `the server answered HTTP ${code}` };
}

export function isApiStatusError(err: unknown): err is ApiStatusError {
  return err instanceof ApiStatusError;
}
export function isNotFound(err: unknown): boolean {
  return err instanceof ApiStatusError && err.code === 404;
}
export function isConflict(err: unknown): boolean {
  return err instanceof ApiStatusError && err.code === 409 && err.reason !== 'AlreadyExists';
}
export function isAlreadyExists(err: unknown): boolean {
  return err instanceof ApiStatusError && err.code === 409 && err.reason === 'AlreadyExists';
}
/** 410 Gone / reason Expired: the resourceVersion is too old; relist. */
export function isGone(err: unknown): boolean {
  return err instanceof ApiStatusError && (err.code === 410 || err.reason === 'Expired' || err.reason === 'Gone');
}
export function isInvalid(err: unknown): boolean {
  return err instanceof ApiStatusError && err.code === 422;
}
export function isForbidden(err: unknown): boolean {
  return err instanceof ApiStatusError && err.code === 403;
}

/**
 * Run fn, retrying it when it fails with a 409 Conflict (a stale resourceVersion), as client-go's
 * retry.RetryOnConflict does: fn should re-read the object each time.
 */
export async function retryOnConflict<T>(fn: () => Promise<T>, opts: { attempts?: number; delayMs?: number } = {}): Promise<T> {
  const attempts = opts.attempts ?? 5;
  let delay = opts.delayMs ?? 10;
  for (let i = 1; ; i++) {
    try {
      return await fn();
    } catch (e) {
      if (!isConflict(e) || i >= attempts) throw e;
      await new Promise((r) => setTimeout(r, delay));
      delay *= 2;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Options and results

export interface RequestOptions {
  /** Abort the request (it then rejects with the signal's reason). */
  signal?: AbortSignal;
  /** Per-request timeout; the client's default otherwise. */
  timeoutMs?: number;
}

export interface ListOptions extends RequestOptions {
  labelSelector?: string;
  fieldSelector?: string;
  limit?: number;
  continue?: string;
  resourceVersion?: string;
  resourceVersionMatch?: 'Exact' | 'NotOlderThan';
}

export interface ListMeta {
  resourceVersion?: string;
  continue?: string;
  remainingItemCount?: number;
}

export interface KubeList<T extends KubeObject = KubeObject> {
  apiVersion?: string;
  kind?: string;
  metadata: ListMeta;
  items: T[];
}

export interface WriteOptions extends RequestOptions {
  dryRun?: boolean;
  /** Defaults to the client's fieldManager. */
  fieldManager?: string;
  fieldValidation?: 'Strict' | 'Warn' | 'Ignore';
}

export type PatchType = 'merge' | 'strategic' | 'json' | 'apply';

export interface PatchOptions extends WriteOptions {
  /** Server-side apply: take ownership of conflicting fields. */
  force?: boolean;
  /** Patch a subresource (status, scale) instead of the object. */
  subresource?: string;
}

export interface DeleteOptions extends RequestOptions {
  propagationPolicy?: 'Foreground' | 'Background' | 'Orphan';
  gracePeriodSeconds?: number;
  preconditions?: { uid?: string; resourceVersion?: string };
  dryRun?: boolean;
}

export interface DeleteCollectionOptions extends DeleteOptions {
  labelSelector?: string;
  fieldSelector?: string;
}

export interface WatchOptions {
  resourceVersion?: string;
  labelSelector?: string;
  fieldSelector?: string;
  allowWatchBookmarks?: boolean;
  /** Ask the server to end the watch after this long. */
  timeoutSeconds?: number;
  /** End the watch with an error when nothing (not even a bookmark) arrives for this long.
   *  Default: 60 s when allowWatchBookmarks (the server bookmarks every 15 s), else none. */
  idleTimeoutMs?: number;
}

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK';

export interface WatchEvent<T extends KubeObject = KubeObject> {
  type: WatchEventType;
  object: T;
}

export interface WatchHandle {
  /** Stop the watch. onClose is then called (without an error) unless it already was. */
  abort(): void;
  /** Settles after onClose has run. */
  readonly done: Promise<void>;
}

export interface ClientOptions {
  /**
   * Send requests to this in-process API server instead of HTTPS to config.server: for the
   * clients inside the server's own process (controllers, scheduler, DNS, the local node), which
   * need neither TLS nor HTTP to reach it (`loopback` of startApiServer).
   */
  loopback?: LoopbackServer;
  /** User-Agent header (the server derives the default field manager from it). */
  userAgent?: string;
  /** fieldManager for writes that name none (required by server-side apply). Default 'kennel'. */
  fieldManager?: string;
  /** Timeout of non-watch requests. Default 30 s. */
  timeoutMs?: number;
  /**
   * fieldValidation of writes that name none. Unset, the server's default (Warn) applies: the
   * server scans each body for unknown and duplicate fields. kennel's own components send
   * objects they built and read no warnings, so they ask for Ignore and spare the server the scan.
   */
  fieldValidation?: 'Strict' | 'Warn' | 'Ignore';
  /** Most sockets open at once to the server (watches each hold one). Default unlimited. */
  maxSockets?: number;
}

const PATCH_CONTENT_TYPES: Record<PatchType, string> = {
  merge: 'application/merge-patch+json',
  strategic: 'application/strategic-merge-patch+json',
  json: 'application/json-patch+json',
  apply: 'application/apply-patch+yaml',
};

interface RawRequest {
  query?: URLSearchParams;
  body?: unknown;
  contentType?: string;
  signal?: AbortSignal;
  timeoutMs?: number;
}

// ---------------------------------------------------------------------------------------------
// The client

export class KubeClient {
  readonly config: ClientConfig;
  /** The HTTPS connection pool (none over the loopback). */
  private readonly agent: https.Agent | undefined;
  private readonly loopback: LoopbackServer | undefined;
  /** Requests in progress over the loopback, which close() ends. */
  private readonly loopbackOpen = new Set<ClientRequest>();
  private readonly userAgent: string;
  private readonly fieldManager: string;
  private readonly timeoutMs: number;
  private readonly fieldValidation: ClientOptions['fieldValidation'];
  private closed = false;

  constructor(config: ClientConfig, opts: ClientOptions = {}) {
    if (!/^https:\/\//.test(config.server)) throw new Error(`the API server URL must be https:// (got ${JSON.stringify(config.server)})`);
    this.config = { ...config, server: config.server.replace(/\/+$/, '') };
    // One TLS context for every connection (given ca/cert/key instead, Node builds a context,
    // parsing the certificates, per connection), and a pool that keeps the connections of a
    // burst: a controller creating hundreds of pods, a scheduler binding them, would otherwise
    // close all but a few afterwards and pay a TLS handshake per connection on the next burst.
    this.loopback = opts.loopback;
    this.agent = opts.loopback
      ? undefined
      : new https.Agent({
          keepAlive: true,
          secureContext: tls.createSecureContext({ ca: config.ca, cert: config.cert, key: config.key }),
          rejectUnauthorized: config.insecureSkipTLSVerify !== true,
          maxSockets: opts.maxSockets ?? Infinity,
          maxFreeSockets: 256,
        });
    this.userAgent = opts.userAgent ?? 'kennel';
    this.fieldManager = opts.fieldManager ?? 'kennel';
    this.timeoutMs = opts.timeoutMs ?? 30_000;
    this.fieldValidation = opts.fieldValidation;
  }

  /**
   * Another client of the same server, through the same transport and with the same default
   * fieldValidation, with its own identity in User-Agent and field manager (and its own
   * connections).
   */
  derive(opts: Omit<ClientOptions, 'loopback'>): KubeClient {
    return new KubeClient(this.config, { loopback: this.loopback, fieldValidation: this.fieldValidation, ...opts });
  }

  static fromKubeconfig(path: string, opts: ClientOptions & LoadKubeconfigOptions = {}): KubeClient {
    return new KubeClient(loadKubeconfig(path, opts), opts);
  }

  /** The namespace a namespaced create uses when the object names none. */
  get defaultNamespace(): string {
    return this.config.namespace ?? 'default';
  }

  /** Close pooled connections. Open watches end (their onClose gets an error). */
  close(): void {
    this.closed = true;
    this.agent?.destroy();
    for (const req of [...this.loopbackOpen]) req.destroy(new Error('the client is closed'));
  }

  // -- reads

  async get<T extends KubeObject = KubeObject>(res: ResourceRef, namespace: string | undefined, name: string, opts: RequestOptions = {}): Promise<T> {
    return this.request<T>('GET', resourcePath(res, this.nsFor(res, namespace), name), opts);
  }

  /** One page (or everything, without limit). namespace undefined = all namespaces. */
  async list<T extends KubeObject = KubeObject>(res: ResourceRef, namespace?: string, opts: ListOptions = {}): Promise<KubeList<T>> {
    const q = new URLSearchParams();
    if (opts.labelSelector) q.set('labelSelector', opts.labelSelector);
    if (opts.fieldSelector) q.set('fieldSelector', opts.fieldSelector);
    if (opts.limit) q.set('limit', String(opts.limit));
    if (opts.continue) q.set('continue', opts.continue);
    if (opts.resourceVersion !== undefined) q.set('resourceVersion', opts.resourceVersion);
    if (opts.resourceVersionMatch) q.set('resourceVersionMatch', opts.resourceVersionMatch);
    const list = await this.request<KubeList<T>>('GET', resourcePath(res, namespace), { ...opts, query: q });
    if (!Array.isArray(list.items)) list.items = [];
    if (!isRecord(list.metadata)) list.metadata = {};
    return list;
  }

  /** Every item, fetched in pages of pageSize from one consistent snapshot. */
  async listAll<T extends KubeObject = KubeObject>(res: ResourceRef, namespace?: string, opts: Omit<ListOptions, 'limit' | 'continue'> & { pageSize?: number } = {}): Promise<{ items: T[]; resourceVersion: string }> {
    const items: T[] = [];
    let cont: string | undefined;
    let rv = '';
    do {
      const page = await this.list<T>(res, namespace, { ...opts, limit: opts.pageSize ?? 500, continue: cont, resourceVersion: cont ? undefined : opts.resourceVersion });
      for (const it of page.items) items.push(it);
      rv = page.metadata.resourceVersion ?? rv;
      cont = page.metadata.continue || undefined;
    } while (cont);
    return { items, resourceVersion: rv };
  }

  // -- writes

  /** Create obj (in obj.metadata.namespace, or the default namespace for a namespaced kind). */
  async create<T extends KubeObject = KubeObject>(res: ResourceRef, obj: NoInfer<T>, opts: WriteOptions = {}): Promise<T> {
    const ns = res.namespaced ? (obj.metadata?.namespace ?? this.defaultNamespace) : undefined;
    return this.request<T>('POST', resourcePath(res, ns), { ...opts, query: this.writeQuery(opts), body: this.withTypeMeta(res, obj) });
  }

  /** Replace obj (PUT). Set metadata.resourceVersion for optimistic concurrency (409 on mismatch). */
  async update<T extends KubeObject = KubeObject>(res: ResourceRef, obj: NoInfer<T>, opts: WriteOptions = {}): Promise<T> {
    return this.request<T>('PUT', this.objectPath(res, obj), { ...opts, query: this.writeQuery(opts), body: this.withTypeMeta(res, obj) });
  }

  /** Replace the status of obj (PUT …/status); the server ignores changes outside status. */
  async updateStatus<T extends KubeObject = KubeObject>(res: ResourceRef, obj: NoInfer<T>, opts: WriteOptions = {}): Promise<T> {
    return this.request<T>('PUT', this.objectPath(res, obj, 'status'), { ...opts, query: this.writeQuery(opts), body: this.withTypeMeta(res, obj) });
  }

  /**
   * PATCH with one of the four patch types. `patch` is the JSON body: a JSON Patch array for
   * 'json', a (partial) object for the others ('apply' needs apiVersion and kind, which are
   * filled from res when missing).
   */
  async patch<T extends KubeObject = KubeObject>(
    res: ResourceRef,
    namespace: string | undefined,
    name: string,
    patch: unknown,
    type: PatchType = 'merge',
    opts: PatchOptions = {},
  ): Promise<T> {
    const q = this.writeQuery(opts, type === 'apply');
    if (opts.force) q.set('force', 'true');
    let body = patch;
    if (type === 'apply' && isRecord(patch)) {
      body = { apiVersion: apiVersionOfRef(res), ...(res.kind ? { kind: res.kind } : {}), ...patch };
    }
    return this.request<T>('PATCH', resourcePath(res, this.nsFor(res, namespace), name, opts.subresource), { ...opts, query: q, body, contentType: PATCH_CONTENT_TYPES[type] });
  }

  /** DELETE; answers the object as the server left it (gone, or marked for deletion). */
  async delete<T extends KubeObject = KubeObject>(res: ResourceRef, namespace: string | undefined, name: string, opts: DeleteOptions = {}): Promise<T> {
    return this.request<T>('DELETE', resourcePath(res, this.nsFor(res, namespace), name), { ...opts, body: deleteBody(opts) });
  }

  async deleteCollection<T extends KubeObject = KubeObject>(res: ResourceRef, namespace: string | undefined, opts: DeleteCollectionOptions = {}): Promise<KubeList<T>> {
    const q = new URLSearchParams();
    if (opts.labelSelector) q.set('labelSelector', opts.labelSelector);
    if (opts.fieldSelector) q.set('fieldSelector', opts.fieldSelector);
    return this.request<KubeList<T>>('DELETE', resourcePath(res, namespace), { ...opts, query: q, body: deleteBody(opts) });
  }

  // -- subresources

  /** GET a subresource (e.g. scale). */
  async getSubresource<T extends KubeObject = KubeObject>(res: ResourceRef, namespace: string | undefined, name: string, subresource: string, opts: RequestOptions = {}): Promise<T> {
    return this.request<T>('GET', resourcePath(res, this.nsFor(res, namespace), name, subresource), opts);
  }

  /** POST to a subresource (pods/binding, pods/eviction). Answers the server's reply. */
  async createSubresource<T extends KubeObject = KubeObject>(res: ResourceRef, namespace: string | undefined, name: string, subresource: string, body: KubeObject, opts: WriteOptions = {}): Promise<T> {
    return this.request<T>('POST', resourcePath(res, this.nsFor(res, namespace), name, subresource), { ...opts, query: this.writeQuery(opts), body });
  }

  /** PUT a subresource (scale, status, namespaces/finalize). */
  async updateSubresource<T extends KubeObject = KubeObject>(res: ResourceRef, namespace: string | undefined, name: string, subresource: string, body: KubeObject, opts: WriteOptions = {}): Promise<T> {
    return this.request<T>('PUT', resourcePath(res, this.nsFor(res, namespace), name, subresource), { ...opts, query: this.writeQuery(opts), body });
  }

  /** Bind a pod to a node (POST pods/{name}/binding), as the scheduler does. */
  async bindPod(namespace: string, name: string, nodeName: string, opts: WriteOptions = {}): Promise<void> {
    const binding: KubeObject = { apiVersion: 'v1', kind: 'Binding', metadata: { name, namespace }, target: { apiVersion: 'v1', kind: 'Node', name: nodeName } };
    await this.createSubresource(PODS, namespace, name, 'binding', binding, opts);
  }

  // -- watch

  /**
   * Watch a collection (namespace undefined = all namespaces). Every event but ERROR goes to
   * onEvent; the stream ending goes to onClose exactly once: without an error when the server
   * ended it (timeout) or abort() was called; with an ApiStatusError for a non-200 answer or an
   * ERROR event (410 Expired → isGone), or the transport error. If onEvent throws, the watch
   * ends and onClose gets that error.
   */
  watch<T extends KubeObject = KubeObject>(
    res: ResourceRef,
    namespace: string | undefined,
    opts: WatchOptions,
    onEvent: (e: WatchEvent<T>) => void,
    onClose: (err?: Error) => void,
  ): WatchHandle {
    const q = new URLSearchParams({ watch: 'true' });
    if (opts.resourceVersion !== undefined) q.set('resourceVersion', opts.resourceVersion);
    if (opts.labelSelector) q.set('labelSelector', opts.labelSelector);
    if (opts.fieldSelector) q.set('fieldSelector', opts.fieldSelector);
    if (opts.allowWatchBookmarks) q.set('allowWatchBookmarks', 'true');
    if (opts.timeoutSeconds) q.set('timeoutSeconds', String(Math.ceil(opts.timeoutSeconds)));
    const idleMs = opts.idleTimeoutMs ?? (opts.allowWatchBookmarks ? 60_000 : 0);
    const url = `${this.config.server}${resourcePath(res, namespace)}?${q.toString()}`;

    let finished = false;
    let aborted = false;
    let ended = false;
    let resolveDone!: () => void;
    const done = new Promise<void>((r) => (resolveDone = r));
    let idleTimer: NodeJS.Timeout | null = null;
    const finish = (err?: Error): void => {
      if (finished) return;
      finished = true;
      if (idleTimer) clearTimeout(idleTimer);
      if (!ended) req.destroy(); // a cleanly ended stream leaves its socket to the pool
      try {
        onClose(aborted ? undefined : err);
      } finally {
        resolveDone();
      }
    };
    const touch = (): void => {
      if (!idleMs) return;
      if (idleTimer) clearTimeout(idleTimer);
      idleTimer = setTimeout(() => finish(new Error(`watch of ${res.plural}: nothing received for ${idleMs} ms`)), idleMs);
      idleTimer.unref();
    };

    const req = this.open(url, { method: 'GET', headers: this.headers({ accept: 'application/json' }) }, (resp) => {
      resp.setEncoding('utf8');
      if (resp.statusCode !== 200) {
        let text = '';
        resp.on('data', (c: string) => (text += c));
        resp.on('end', () => finish(new ApiStatusError(toStatus(resp.statusCode ?? 0, text))));
        resp.on('error', (e) => finish(e));
        return;
      }
      touch();
      let buf = '';
      resp.on('data', (chunk: string) => {
        if (finished) return;
        touch();
        buf += chunk;
        let nl: number;
        while (!finished && (nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl).trim();
          buf = buf.slice(nl + 1);
          if (line) handleLine(line);
        }
      });
      resp.on('end', () => {
        if (!finished && buf.trim()) handleLine(buf.trim());
        ended = true;
        finish();
      });
      resp.on('error', (e) => finish(e));
      resp.on('aborted', () => finish(new Error(`watch of ${res.plural}: connection aborted`)));
    });
    const handleLine = (line: string): void => {
      let ev: unknown;
      try {
        ev = JSON.parse(line);
      } catch {
        finish(new Error(`watch of ${res.plural}: undecodable event: ${line.slice(0, 200)}`));
        return;
      }
      if (!isRecord(ev) || typeof ev.type !== 'string' || !isRecord(ev.object)) {
        finish(new Error(`watch of ${res.plural}: malformed event: ${line.slice(0, 200)}`));
        return;
      }
      if (ev.type === 'ERROR') {
        const obj = ev.object;
        finish(new ApiStatusError(toStatus(typeof obj.code === 'number' ? obj.code : 500, JSON.stringify(obj))));
        return;
      }
      if (ev.type !== 'ADDED' && ev.type !== 'MODIFIED' && ev.type !== 'DELETED' && ev.type !== 'BOOKMARK') return;
      const obj = ev.object as T;
      if (!isRecord(obj.metadata)) (obj as KubeObject).metadata = {};
      try {
        onEvent({ type: ev.type, object: obj });
      } catch (e) {
        finish(e instanceof Error ? e : new Error(String(e)));
      }
    };
    req.on('error', (e) => finish(e));
    req.end();
    return {
      abort: () => {
        aborted = true;
        finish();
      },
      done,
    };
  }

  // -- raw

  /** One request; JSON in, JSON out. Throws ApiStatusError for HTTP ≥ 400. */
  request<T>(method: string, path: string, opts: RawRequest = {}): Promise<T> {
    const qs = opts.query && [...opts.query.keys()].length > 0 ? `?${opts.query.toString()}` : '';
    const url = `${this.config.server}${path}${qs}`;
    const data = opts.body === undefined ? undefined : JSON.stringify(opts.body);
    const headers = this.headers({ accept: 'application/json' });
    if (data !== undefined) {
      headers['content-type'] = opts.contentType ?? 'application/json';
      headers['content-length'] = String(Buffer.byteLength(data));
    }
    const timeoutMs = opts.timeoutMs ?? this.timeoutMs;
    return this.send<T>(method, path, url, headers, data, timeoutMs, opts.signal, true);
  }

  /** One request: HTTPS to the server, or straight to the in-process server (same path). */
  private open(url: string, o: { method: string; headers: Record<string, string> }, onResponse: (resp: IncomingMessage) => void): ClientRequest {
    if (!this.loopback) return https.request(url, { ...o, agent: this.agent }, onResponse);
    const req = this.loopback.request(o.method, url.slice(this.config.server.length) || '/', o.headers, onResponse);
    this.loopbackOpen.add(req);
    req.once('close', () => this.loopbackOpen.delete(req));
    return req;
  }

  /**
   * One HTTP exchange. A request that fails with ECONNRESET on a reused keep-alive socket (the
   * server closed it while idle, before reading the request) is sent once more on a new one.
   */
  private send<T>(method: string, path: string, url: string, headers: Record<string, string>, data: string | undefined, timeoutMs: number, signal: AbortSignal | undefined, mayRetry: boolean): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (this.closed) {
        reject(new Error('the client is closed'));
        return;
      }
      if (signal?.aborted) {
        reject(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
        return;
      }
      let settled = false;
      const settle = (fn: () => void): void => {
        if (settled) return;
        settled = true;
        signal?.removeEventListener('abort', onAbort);
        fn();
      };
      const req = this.open(url, { method, headers }, (resp: IncomingMessage) => {
        resp.setEncoding('utf8');
        let text = '';
        resp.on('data', (c: string) => (text += c));
        resp.on('end', () => {
          const code = resp.statusCode ?? 0;
          if (code >= 400 || code < 200) {
            settle(() => reject(new ApiStatusError(toStatus(code, text))));
            return;
          }
          if (text === '') {
            settle(() => resolve({ metadata: {} } as T));
            return;
          }
          try {
            const v = JSON.parse(text) as T;
            settle(() => resolve(v));
          } catch {
            settle(() => reject(new Error(`${method} ${path}: the server answered ${code} with a body that is not JSON`)));
          }
        });
        resp.on('error', (e) => settle(() => reject(e)));
      });
      const onAbort = (): void => {
        const reason: unknown = signal?.reason;
        const err = reason instanceof Error ? reason : new Error('aborted');
        settle(() => reject(err));
        req.destroy(err);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      if (timeoutMs > 0) {
        req.setTimeout(timeoutMs, () => {
          const err = new Error(`${method} ${path}: no answer within ${timeoutMs} ms`);
          settle(() => reject(err));
          req.destroy(err);
        });
      }
      let answered = false;
      req.on('response', () => (answered = true));
      req.on('error', (e: NodeJS.ErrnoException) => {
        if (mayRetry && !answered && !settled && req.reusedSocket && e.code === 'ECONNRESET') {
          settled = true;
          signal?.removeEventListener('abort', onAbort);
          this.send<T>(method, path, url, headers, data, timeoutMs, signal, false).then(resolve, reject);
          return;
        }
        settle(() => reject(e));
      });
      if (data !== undefined) req.write(data);
      req.end();
    });
  }

  // -- helpers

  private headers(extra: Record<string, string>): Record<string, string> {
    const h: Record<string, string> = { 'user-agent': this.userAgent, ...extra };
    if (this.config.token) h.authorization = `Bearer ${this.config.token}`;
    return h;
  }

  private nsFor(res: ResourceRef, namespace: string | undefined): string | undefined {
    if (!res.namespaced) return undefined;
    if (namespace === undefined || namespace === '') throw new Error(`${res.plural} are namespaced: name a namespace`);
    return namespace;
  }

  private objectPath(res: ResourceRef, obj: KubeObject, subresource?: string): string {
    const name = obj.metadata?.name;
    if (!name) throw new Error(`cannot write a ${res.plural} object without metadata.name`);
    const ns = res.namespaced ? (obj.metadata.namespace ?? this.defaultNamespace) : undefined;
    return resourcePath(res, ns, name, subresource);
  }

  private writeQuery(opts: WriteOptions, needManager = false): URLSearchParams {
    const q = new URLSearchParams();
    if (opts.dryRun) q.set('dryRun', 'All');
    const fm = opts.fieldManager ?? (needManager ? this.fieldManager : undefined);
    if (fm) q.set('fieldManager', fm);
    const fv = opts.fieldValidation ?? this.fieldValidation;
    if (fv) q.set('fieldValidation', fv);
    return q;
  }

  private withTypeMeta<T extends KubeObject>(res: ResourceRef, obj: T): T {
    if ((obj.apiVersion && obj.kind) || !res.kind) return obj;
    return { ...obj, apiVersion: obj.apiVersion ?? apiVersionOfRef(res), kind: obj.kind ?? res.kind };
  }
}

const PODS: ResourceRef = { group: '', version: 'v1', plural: 'pods', namespaced: true, kind: 'Pod' };

function deleteBody(opts: DeleteOptions): Record<string, unknown> | undefined {
  const b: Record<string, unknown> = {};
  if (opts.propagationPolicy) b.propagationPolicy = opts.propagationPolicy;
  if (opts.gracePeriodSeconds !== undefined) b.gracePeriodSeconds = opts.gracePeriodSeconds;
  if (opts.preconditions) b.preconditions = opts.preconditions;
  if (opts.dryRun) b.dryRun = ['All'];
  if (Object.keys(b).length === 0) return undefined;
  return { kind: 'DeleteOptions', apiVersion: 'v1', ...b };
}

/** `namespace/name` (or `name` for cluster-scoped objects): the key informers and queues use. */
export function objectKey(obj: { metadata: Pick<ObjectMeta, 'name' | 'namespace'> }): string {
  const ns = obj.metadata.namespace;
  return ns ? `${ns}/${obj.metadata.name ?? ''}` : (obj.metadata.name ?? '');
}

/** Split a `namespace/name` key; cluster-scoped keys have no namespace. */
export function splitKey(key: string): { namespace?: string; name: string } {
  const i = key.indexOf('/');
  return i < 0 ? { name: key } : { namespace: key.slice(0, i), name: key.slice(i + 1) };
}
