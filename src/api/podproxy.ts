// The API server's side of pods/log, pods/exec and pods/attach: checks the request as the
// kube-apiserver does (PodLogOptions validation, the container, the pod's node), finds the node
// agent's endpoint from the Node (status.addresses + status.daemonEndpoints.kubeletEndpoint.Port)
// and proxies to it with the API server's client certificate:
//   logs: a plain-text stream, flushed as it comes (`kubectl logs -f`);
//   exec/attach: the client's WebSocket upgrade is forwarded to the agent with its handshake
//   headers, so the agent picks the subprotocol (v5.channel.k8s.io / v4.channel.k8s.io), and
//   once both sides switched protocols the frames are relayed byte for byte both ways.
// Errors are Kubernetes Status objects: 404 NotFound for the pod or node, 400 BadRequest for a
// container that is not valid or a pod without a node, 422 for invalid log options, 503
// ServiceUnavailable when the agent cannot be reached; the agent's own refusals (`container
// "web" in pod "web-0" is waiting to start: ContainerCreating`) keep their words.
import https from 'node:https';
import { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { KubeObject } from '../registry/types.ts';
import type { Logger } from '../util/log.ts';
import { ApiError, errors } from './errors.ts';

export { kubeletClientCertificate } from '../agent/server-certs.ts';

/** What the proxy needs from the API server: reading objects, and its credentials toward agents. */
export interface PodProxyContext {
  /** The pod, or undefined when it does not exist. */
  getPod(namespace: string, name: string): Promise<KubeObject | undefined>;
  /** The node, or undefined when it does not exist. */
  getNode(name: string): Promise<KubeObject | undefined>;
  /** The client certificate the agents accept (CN kube-apiserver-kubelet-client, signed by the cluster CA). */
  clientCert: { cert: string; key: string };
  /**
   * Verify the agents' serving certificates against this CA (and their node address). Without
   * it they are not verified, as the kube-apiserver does without --kubelet-certificate-authority.
   */
  agentCA?: string;
  logger: Logger;
  /** How long to wait for an agent's answer to the request (ms, default 10 s). */
  dialTimeoutMs?: number;
}

export interface PodName {
  namespace: string;
  name: string;
}

interface ContainerSpec {
  name: string;
}

interface PodShape {
  metadata: { name?: string; namespace?: string };
  spec?: { nodeName?: string; containers?: ContainerSpec[]; initContainers?: ContainerSpec[]; ephemeralContainers?: ContainerSpec[] };
}

interface NodeShape {
  status?: {
    addresses?: { type?: string; address?: string }[];
    daemonEndpoints?: { kubeletEndpoint?: { Port?: number } };
  };
}

/** The agent's address types in preference order (the kube-apiserver's flag, with IPs first). */
const ADDRESS_TYPES = ['InternalIP', 'ExternalIP', 'InternalDNS', 'Hostname', 'ExternalDNS'];
const DEFAULT_KUBELET_PORT = 10250;

// ---------------------------------------------------------------------------------------------
// Query parameters (the apiserver's conversion of url.Values into PodLogOptions / PodExecOptions)
// ---------------------------------------------------------------------------------------------
function queryBool(q: URLSearchParams, name: string): boolean {
  const v = q.get(name);
  if (v === null || v === '') return false;
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(v)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(v)) return false;
  throw errors.badRequest(`strconv.ParseBool: parsing ${JSON.stringify(v)}: invalid syntax`);
}

function queryInt(q: URLSearchParams, name: string): number | undefined {
  const v = q.get(name);
  if (v === null || v === '') return undefined;
  if (!/^[+-]?\d+$/.test(v) || !Number.isSafeInteger(Number(v))) throw errors.badRequest(`strconv.ParseInt: parsing ${JSON.stringify(v)}: invalid syntax`);
  return Number(v);
}

export interface PodLogOptions {
  container?: string;
  follow: boolean;
  previous: boolean;
  timestamps: boolean;
  sinceSeconds?: number;
  sinceTime?: string;
  tailLines?: number;
  limitBytes?: number;
  stream?: string;
}

/** PodLogOptions from the query, validated as ValidatePodLogOptions does (422 Invalid). */
export function parsePodLogOptions(q: URLSearchParams, podName: string): PodLogOptions {
  const o: PodLogOptions = {
    container: q.get('container') || undefined,
    follow: queryBool(q, 'follow'),
    previous: queryBool(q, 'previous'),
    timestamps: queryBool(q, 'timestamps'),
    sinceSeconds: queryInt(q, 'sinceSeconds'),
    tailLines: queryInt(q, 'tailLines'),
    limitBytes: queryInt(q, 'limitBytes'),
    sinceTime: q.get('sinceTime') || undefined,
    stream: q.get('stream') || undefined,
  };
  queryBool(q, 'insecureSkipTLSVerifyBackend');
  if (o.sinceTime !== undefined && !/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/i.test(o.sinceTime)) {
    throw errors.badRequest(`parsing time ${JSON.stringify(o.sinceTime)} as "2006-01-02T15:04:05Z07:00": cannot parse ${JSON.stringify(o.sinceTime)} as RFC 3339`);
  }
  const causes: { reason: string; field: string; message: string }[] = [];
  if (o.tailLines !== undefined && o.tailLines < 0) causes.push({ reason: 'FieldValueInvalid', field: 'tailLines', message: `Invalid value: ${o.tailLines}: must be greater than or equal to 0` });
  if (o.limitBytes !== undefined && o.limitBytes < 1) causes.push({ reason: 'FieldValueInvalid', field: 'limitBytes', message: `Invalid value: ${o.limitBytes}: must be greater than 0` });
  if (o.sinceSeconds !== undefined && o.sinceTime !== undefined) {
    causes.push({ reason: 'FieldValueForbidden', field: '', message: 'Forbidden: at most one of `sinceTime` or `sinceSeconds` may be specified' });
  } else if (o.sinceSeconds !== undefined && o.sinceSeconds < 1) {
    causes.push({ reason: 'FieldValueInvalid', field: 'sinceSeconds', message: `Invalid value: ${o.sinceSeconds}: must be greater than 0` });
  }
  if (o.stream !== undefined && !['All', 'Stdout', 'Stderr'].includes(o.stream)) {
    causes.push({ reason: 'FieldValueNotSupported', field: 'stream', message: `Unsupported value: ${JSON.stringify(o.stream)}: supported values: "All", "Stderr", "Stdout"` });
  }
  if (causes.length > 0) {
    const msgs = causes.map((c) => (c.field ? `${c.field}: ${c.message}` : c.message));
    const summary = msgs.length === 1 ? msgs[0] : `[${msgs.join(', ')}]`;
    throw new ApiError(422, 'Invalid', `PodLogOptions "${podName}" is invalid: ${summary}`, { name: podName, kind: 'PodLogOptions', causes });
  }
  return o;
}

export interface PodStreamOptions {
  container?: string;
  command: string[];
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
  tty: boolean;
}

export function parsePodStreamOptions(kind: 'exec' | 'attach', q: URLSearchParams): PodStreamOptions {
  const o: PodStreamOptions = {
    container: q.get('container') || undefined,
    command: kind === 'exec' ? q.getAll('command') : [],
    stdin: queryBool(q, 'stdin'),
    stdout: queryBool(q, 'stdout'),
    stderr: queryBool(q, 'stderr'),
    tty: queryBool(q, 'tty'),
  };
  if (kind === 'exec' && o.command.length === 0) throw errors.badRequest('you must specify at least one command for the container');
  if (!o.stdin && !o.stdout && !o.stderr) throw errors.badRequest('you must specify at least 1 of stdin, stdout, stderr');
  return o;
}

// ---------------------------------------------------------------------------------------------
// Pod, container, node
// ---------------------------------------------------------------------------------------------
function allContainerNames(pod: PodShape): string[] {
  const s = pod.spec ?? {};
  return [...(s.initContainers ?? []), ...(s.containers ?? []), ...(s.ephemeralContainers ?? [])].map((c) => c.name);
}

/** The container a request is about, checked as the apiserver's validateContainer does. */
export function resolveContainer(pod: PodShape, container: string | undefined): string {
  const name = pod.metadata.name ?? '';
  const containers = pod.spec?.containers ?? [];
  if (!container) {
    if (containers.length === 1) return containers[0]!.name;
    if (containers.length === 0) throw errors.badRequest(`a container name must be specified for pod ${name}`);
    throw errors.badRequest(`a container name must be specified for pod ${name}, choose one of: [${allContainerNames(pod).join(' ')}]`);
  }
  if (!allContainerNames(pod).includes(container)) throw errors.badRequest(`container ${container} is not valid for pod ${name}`);
  return container;
}

async function loadPod(ctx: PodProxyContext, p: PodName): Promise<PodShape> {
  const pod = (await ctx.getPod(p.namespace, p.name)) as PodShape | undefined;
  if (!pod) throw errors.notFound('', 'pods', p.name);
  return pod;
}

export interface AgentEndpoint {
  host: string;
  port: number;
}

/** The agent endpoint of a node: its preferred address and kubelet port. */
export async function agentEndpoint(ctx: PodProxyContext, nodeName: string): Promise<AgentEndpoint> {
  const node = (await ctx.getNode(nodeName)) as NodeShape | undefined;
  if (!node) throw errors.notFound('', 'nodes', nodeName);
  const addrs = node.status?.addresses ?? [];
  let host: string | undefined;
  for (const t of ADDRESS_TYPES) {
    host = addrs.find((a) => a.type === t && a.address)?.address;
    if (host) break;
  }
  if (!host) throw errors.unavailable(`node "${nodeName}" has no address to reach its agent at (status.addresses is empty)`);
  const p = node.status?.daemonEndpoints?.kubeletEndpoint?.Port;
  return { host, port: p && p > 0 ? p : DEFAULT_KUBELET_PORT };
}

function hostPort(e: AgentEndpoint): string {
  return e.host.includes(':') ? `[${e.host}]:${e.port}` : `${e.host}:${e.port}`;
}

function tlsOptions(ctx: PodProxyContext, e: AgentEndpoint): https.RequestOptions {
  return {
    host: e.host,
    port: e.port,
    cert: ctx.clientCert.cert,
    key: ctx.clientCert.key,
    ...(ctx.agentCA ? { ca: ctx.agentCA, rejectUnauthorized: true } : { rejectUnauthorized: false }),
    agent: false,
  };
}

const SYSCALL_TEXT: Record<string, string> = {
  ECONNREFUSED: 'connect: connection refused',
  EHOSTUNREACH: 'connect: no route to host',
  ENETUNREACH: 'connect: network is unreachable',
  ETIMEDOUT: 'i/o timeout',
  ECONNRESET: 'read: connection reset by peer',
};

function dialMessage(e: AgentEndpoint, err: NodeJS.ErrnoException): string {
  const text = err.code ? SYSCALL_TEXT[err.code] : undefined;
  if (text) return `dial tcp ${hostPort(e)}: ${text}`;
  return err.message;
}

/** An agent's refusal as a Status: its text kept, its code mapped as the apiserver's response checker does. */
export function agentError(code: number, body: string, subresource: string, name: string): ApiError {
  const text = body.trim();
  switch (code) {
    case 400:
      return errors.badRequest(text || 'the node agent rejected the request');
    case 404:
      return new ApiError(404, 'NotFound', text || `the server could not find the requested resource (get pods/${subresource} ${name})`, { name, kind: `pods/${subresource}` });
    case 401:
    case 403:
      return errors.internal(`the node agent refused the API server's credentials (${code}): ${text}`);
    default:
      return errors.internal(text || `the node agent answered ${code}`);
  }
}

function queryString(params: [string, string][]): string {
  return params.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&');
}

// ---------------------------------------------------------------------------------------------
// pods/log
// ---------------------------------------------------------------------------------------------
/**
 * GET pods/{name}/log: validate, then stream the agent's answer into res. Throws ApiError
 * before anything was written; once streaming, a broken agent connection ends the response.
 */
export async function proxyPodLog(ctx: PodProxyContext, p: PodName, query: URLSearchParams, res: ServerResponse): Promise<void> {
  const o = parsePodLogOptions(query, p.name);
  const pod = await loadPod(ctx, p);
  const container = resolveContainer(pod, o.container);
  const nodeName = pod.spec?.nodeName;
  if (!nodeName) {
    // As the apiserver does: a pod without a node has no logs yet, an empty stream.
    res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': 0, 'Cache-Control': 'no-cache, private' });
    res.end();
    return;
  }
  const ep = await agentEndpoint(ctx, nodeName);
  const params: [string, string][] = [];
  if (o.follow) params.push(['follow', 'true']);
  if (o.previous) params.push(['previous', 'true']);
  if (o.timestamps) params.push(['timestamps', 'true']);
  if (o.sinceSeconds !== undefined) params.push(['sinceSeconds', String(o.sinceSeconds)]);
  if (o.sinceTime !== undefined) params.push(['sinceTime', o.sinceTime]);
  if (o.tailLines !== undefined) params.push(['tailLines', String(o.tailLines)]);
  if (o.limitBytes !== undefined) params.push(['limitBytes', String(o.limitBytes)]);
  if (o.stream !== undefined) params.push(['stream', o.stream]);
  const path = `/containerLogs/${encodeURIComponent(p.namespace)}/${encodeURIComponent(p.name)}/${encodeURIComponent(container)}${params.length ? '?' + queryString(params) : ''}`;
  const url = `https://${hostPort(ep)}${path}`;

  const upstream = await new Promise<IncomingMessage>((resolve, reject) => {
    const req = https.request({ ...tlsOptions(ctx, ep), method: 'GET', path }, resolve);
    const t = setTimeout(() => req.destroy(Object.assign(new Error('timeout'), { code: 'ETIMEDOUT' })), ctx.dialTimeoutMs ?? 10_000);
    req.once('response', () => clearTimeout(t));
    req.on('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(t);
      reject(errors.unavailable(`Get ${JSON.stringify(url)}: ${dialMessage(ep, err)}`));
    });
    req.end();
  });
  if (upstream.statusCode !== 200) {
    const body = await readLimited(upstream, 64 * 1024);
    throw agentError(upstream.statusCode ?? 500, body, 'log', p.name);
  }
  res.writeHead(200, { 'Content-Type': 'text/plain', 'Cache-Control': 'no-cache, private', 'Transfer-Encoding': 'chunked' });
  if (o.follow) {
    res.flushHeaders();
    res.socket?.setNoDelay(true);
  }
  await new Promise<void>((resolve) => {
    const done = () => {
      upstream.destroy();
      resolve();
    };
    res.once('close', done);
    upstream.on('error', () => {
      res.end();
      done();
    });
    upstream.on('end', () => {
      res.end();
      resolve();
    });
    upstream.pipe(res, { end: false });
  });
}

function readLimited(r: IncomingMessage, limit: number): Promise<string> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let n = 0;
    r.on('data', (c: Buffer) => {
      if (n < limit) chunks.push(c.subarray(0, limit - n));
      n += c.length;
    });
    r.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    r.on('error', () => resolve(Buffer.concat(chunks).toString('utf8')));
  });
}

// ---------------------------------------------------------------------------------------------
// pods/exec, pods/attach
// ---------------------------------------------------------------------------------------------
/** Answer an upgrade request on its raw socket with a Status. */
export function writeUpgradeError(socket: Duplex, err: ApiError): void {
  const body = JSON.stringify(err.toStatus());
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  socket.end(
    `HTTP/1.1 ${err.code} ${STATUS_CODES[err.code] ?? 'Error'}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nCache-Control: no-cache, private\r\nConnection: close\r\n\r\n${body}`,
  );
}

/** Handshake headers forwarded to the agent (and, in its answer, back to the client). */
const FORWARDED_REQUEST_HEADERS = ['upgrade', 'sec-websocket-key', 'sec-websocket-version', 'sec-websocket-protocol', 'sec-websocket-extensions', 'x-stream-protocol-version'];

/**
 * An exec/attach upgrade request the API server authenticated: check it, connect to the agent,
 * and relay. Never throws: errors are answered on the socket as Status objects.
 */
export async function proxyPodStream(ctx: PodProxyContext, p: PodName, kind: 'exec' | 'attach', req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
  socket.on('error', () => {});
  try {
    const url = new URL(req.url ?? '/', 'https://kennel');
    const o = parsePodStreamOptions(kind, url.searchParams);
    const pod = await loadPod(ctx, p);
    const container = resolveContainer(pod, o.container);
    const nodeName = pod.spec?.nodeName;
    if (!nodeName) throw errors.badRequest(`pod ${p.name} does not have a host assigned`);
    const ep = await agentEndpoint(ctx, nodeName);
    const params: [string, string][] = [];
    if (o.stdin) params.push(['stdin', '1']);
    if (o.stdout) params.push(['stdout', '1']);
    if (o.stderr) params.push(['stderr', '1']);
    if (o.tty) params.push(['tty', '1']);
    for (const c of o.command) params.push(['command', c]);
    const path = `/${kind}/${encodeURIComponent(p.namespace)}/${encodeURIComponent(p.name)}/${encodeURIComponent(container)}?${queryString(params)}`;
    const headers: Record<string, string> = { Connection: 'Upgrade' };
    for (const h of FORWARDED_REQUEST_HEADERS) {
      const v = req.headers[h];
      if (typeof v === 'string') headers[h] = v;
      else if (Array.isArray(v)) headers[h] = v.join(', ');
    }
    await relay(ctx, ep, req.method ?? 'GET', path, headers, socket, head, p.name, kind);
  } catch (e) {
    const err = e instanceof ApiError ? e : errors.internal(e instanceof Error ? e.message : String(e));
    if (err.code >= 500) ctx.logger.warn('pod stream proxy failed', { pod: `${p.namespace}/${p.name}`, kind, code: err.code, error: err.message });
    writeUpgradeError(socket, err);
  }
}

function relay(
  ctx: PodProxyContext,
  ep: AgentEndpoint,
  method: string,
  path: string,
  headers: Record<string, string>,
  client: Duplex,
  head: Buffer,
  name: string,
  kind: string,
): Promise<void> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const fail = (err: ApiError) => {
      if (settled) return;
      settled = true;
      clearTimeout(t);
      reject(err);
    };
    const up = https.request({ ...tlsOptions(ctx, ep), method, path, headers });
    const t = setTimeout(() => up.destroy(Object.assign(new Error('timeout'), { code: 'ETIMEDOUT' })), ctx.dialTimeoutMs ?? 10_000);
    client.once('close', () => {
      if (!settled) up.destroy();
    });
    up.on('error', (err: NodeJS.ErrnoException) => fail(errors.unavailable(`error dialing backend: ${dialMessage(ep, err)}`)));
    up.on('response', (res) => {
      clearTimeout(t);
      void readLimited(res, 64 * 1024).then((body) => fail(agentError(res.statusCode ?? 500, body, kind, name)));
    });
    up.on('upgrade', (res, agent, agentHead) => {
      clearTimeout(t);
      if (settled) {
        agent.destroy();
        return;
      }
      settled = true;
      // Relay the agent's 101 (its protocol choice and accept key) and then the bytes.
      const lines = [`HTTP/1.1 101 ${res.statusMessage || 'Switching Protocols'}`];
      for (let i = 0; i < res.rawHeaders.length; i += 2) lines.push(`${res.rawHeaders[i]}: ${res.rawHeaders[i + 1]}`);
      client.write(lines.join('\r\n') + '\r\n\r\n');
      if (agentHead.length) client.write(agentHead);
      if (head.length) agent.write(head);
      agent.on('error', () => client.destroy());
      client.on('error', () => agent.destroy());
      agent.once('close', () => client.destroy());
      client.once('close', () => agent.destroy());
      agent.pipe(client);
      client.pipe(agent);
      resolve();
    });
    up.end();
  });
}
