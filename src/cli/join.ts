// Joining a cluster: the agent half of the protocol in src/api/join.ts. Fetch the server's CA
// without trusting it, check it against the hash in the join token, then (over TLS verified
// with that CA) trade the token's secret and this machine's node identity for a node
// credential. Everything is kept under <data-dir>/node/:
//   identity    the random secret that proves on a later join that this is the same agent (0600)
//   ca.crt      the cluster CA (checked against the join token)
//   kubeconfig  the node credential (user system:node:<name>), usable with kubectl (0600)
//   node.json   the node name, server and pod CIDR of the last join
//   serving.key the private key of the agent's HTTPS endpoint (made here with node:crypto, 0600)
//   serving.crt its certificate, signed by the cluster CA at the join (the request carries the
//               public key, as a kubelet's serving-certificate CSR does); absent when the server
//               signed none (the agent then serves a self-signed certificate)
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import https from 'node:https';
import { dirname, join } from 'node:path';
import { caHashMatches, sha256Hex, writeKubeconfig } from '../api/pki.ts';
import { publicKeyOf, servingCertificateUsable, servingKeyPair } from '../agent/server-certs.ts';
import type { Logger } from '../util/log.ts';

/** A join that cannot succeed as asked; the message is the one line to show. */
export class JoinError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'JoinError';
  }
}

export interface JoinOptions {
  /** https://HOST:PORT of the API server. */
  server: string;
  /** From the join token: the CA hash and the secret. */
  caHash: string;
  secret: string;
  nodeName: string;
  /** Where the node's identity, CA and credential are kept (<data-dir>/node). */
  stateDir: string;
  /** A pod CIDR to ask for (`kennel up` asks 10.244.0.0/24 for its local node). */
  podCIDR?: string;
  /** The node's address(es) for its serving certificate (--node-ip); the server adds the address the join came from. */
  servingIPs?: string[];
  /** Keep retrying an unreachable server this long (default 10 s; a service manager restarts the agent after that). */
  retryForMs?: number;
  signal?: AbortSignal;
  logger?: Logger;
}

export interface JoinedNode {
  server: string;
  nodeName: string;
  /** Bearer token of user system:node:<nodeName>. */
  token: string;
  caPem: string;
  podCIDR: string;
  rejoined: boolean;
  kubeconfigPath: string;
  /** The agent's serving certificate and key, signed by the cluster CA; undefined when the server signed none. */
  serving?: { cert: string; key: string };
}

interface Reply {
  status: number;
  body: string;
}

const TRANSIENT = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'EPIPE', 'ENOTFOUND', 'TIMEOUT']);

function request(url: string, opts: { method: string; ca?: string; headers?: Record<string, string>; body?: string; signal?: AbortSignal }): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      url,
      {
        method: opts.method,
        // The first request fetches the CA it cannot verify yet; its hash is checked instead.
        ...(opts.ca ? { ca: opts.ca, rejectUnauthorized: true } : { rejectUnauthorized: false }),
        headers: { ...(opts.body !== undefined ? { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(opts.body)) } : {}), ...opts.headers },
        agent: false,
        timeout: 10_000,
        signal: opts.signal,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(Object.assign(new Error('the server did not answer in 10 s'), { code: 'TIMEOUT' })));
    req.on('error', reject);
    req.end(opts.body);
  });
}

function statusMessage(body: string): string {
  try {
    const s = JSON.parse(body) as { message?: unknown };
    if (typeof s.message === 'string' && s.message) return s.message;
  } catch {
    // not a Status
  }
  return body.trim().split('\n')[0]?.slice(0, 300) || '(no message)';
}

/** Runs fn, retrying while the server is unreachable, for up to retryForMs. */
async function retrying<T>(o: JoinOptions, what: string, fn: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + (o.retryForMs ?? 10_000);
  let delay = 250;
  for (;;) {
    try {
      return await fn();
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code ?? '';
      if (o.signal?.aborted) throw new JoinError('stopped before the node joined');
      if (!TRANSIENT.has(code)) throw e;
      if (Date.now() + delay > deadline) {
        throw new JoinError(`cannot reach the API server at ${o.server} (${code}: ${(e as Error).message}); check --server and that kennel runs there`);
      }
      o.logger?.debug(`cannot reach the API server yet; retrying`, { server: o.server, step: what, error: code });
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 5_000);
    }
  }
}

/** The cluster CA, fetched without trust and accepted only when its SHA-256 is the token's hash. */
export async function fetchClusterCA(o: Pick<JoinOptions, 'server' | 'caHash' | 'signal' | 'retryForMs' | 'logger'>): Promise<string> {
  const reply = await retrying(o as JoinOptions, 'cacerts', () => request(`${o.server}/cacerts`, { method: 'GET', signal: o.signal }));
  if (reply.status !== 200 || !reply.body.includes('-----BEGIN CERTIFICATE-----')) {
    throw new JoinError(`${o.server} did not hand out a cluster CA (GET /cacerts answered ${reply.status}); is it a kennel API server?`);
  }
  if (!caHashMatches(reply.body, o.caHash)) {
    throw new JoinError(
      `the CA certificate of ${o.server} (sha256 ${sha256Hex(reply.body).slice(0, 16)}…) does not match the hash in the join token (${o.caHash.slice(0, 16)}…): this is not the cluster the token belongs to; check --server and --token`,
    );
  }
  return reply.body;
}

async function writePrivate(path: string, data: string, mode: number): Promise<void> {
  await fs.mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  await fs.writeFile(tmp, data, { mode });
  await fs.chmod(tmp, mode);
  await fs.rename(tmp, path);
}

/** This agent's node identity: made once, kept in the state dir. */
export async function nodeIdentity(stateDir: string): Promise<string> {
  const path = join(stateDir, 'identity');
  try {
    const id = (await fs.readFile(path, 'utf8')).trim();
    if (id.length >= 16) return id;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw new JoinError(`cannot read the node identity ${path}: ${(e as Error).message}`);
  }
  const id = randomBytes(32).toString('base64url');
  await writePrivate(path, id + '\n', 0o600);
  return id;
}

/** The private key of this agent's HTTPS endpoint: made once, kept in the state dir. */
export async function servingKey(stateDir: string): Promise<string> {
  const path = join(stateDir, 'serving.key');
  try {
    const pem = await fs.readFile(path, 'utf8');
    publicKeyOf(pem); // readable
    return pem;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code && code !== 'ENOENT') throw new JoinError(`cannot read the serving key ${path}: ${(e as Error).message}`);
    // missing or unreadable: a new one
  }
  const { privateKeyPem } = await servingKeyPair();
  await writePrivate(path, privateKeyPem, 0o600);
  return privateKeyPem;
}

/** Joins the cluster (or joins it again, with the same identity) and keeps the result in stateDir. */
export async function joinCluster(o: JoinOptions): Promise<JoinedNode> {
  const caPem = await fetchClusterCA(o);
  const identity = await nodeIdentity(o.stateDir);
  const servingKeyPem = await servingKey(o.stateDir);
  const body = JSON.stringify({
    nodeName: o.nodeName,
    identity,
    ...(o.podCIDR ? { podCIDR: o.podCIDR } : {}),
    servingPublicKey: publicKeyOf(servingKeyPem),
    ...(o.servingIPs?.length ? { servingIPs: o.servingIPs } : {}),
  });
  let reply: Reply;
  try {
    reply = await retrying(o, 'join', () => request(`${o.server}/kennel/v1/join`, { method: 'POST', ca: caPem, headers: { authorization: `Bearer ${o.secret}` }, body, signal: o.signal }));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? '';
    if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
      throw new JoinError(`the API server's certificate does not cover ${new URL(o.server).hostname}; use an address it covers in --server, or start the server with --bind ${new URL(o.server).hostname}`);
    }
    if (e instanceof JoinError) throw e;
    throw new JoinError(`the join request to ${o.server} failed: ${(e as Error).message}`);
  }
  if (reply.status === 401) throw new JoinError(`the server refused the join token: ${statusMessage(reply.body)}`);
  if (reply.status === 409) throw new JoinError(`node name "${o.nodeName}" is taken: ${statusMessage(reply.body)}`);
  if (reply.status === 404) throw new JoinError(`${o.server} does not accept joins (POST /kennel/v1/join answered 404); is it a kennel server of this version?`);
  if (reply.status !== 201) throw new JoinError(`the server refused the join (${reply.status}): ${statusMessage(reply.body)}`);
  let cred: { token?: unknown; podCIDR?: unknown; rejoined?: unknown; servingCertificate?: unknown };
  try {
    cred = JSON.parse(reply.body) as typeof cred;
  } catch {
    throw new JoinError('the server answered the join with something that is not JSON');
  }
  if (typeof cred.token !== 'string' || typeof cred.podCIDR !== 'string') throw new JoinError('the server answered the join without a credential');

  const kubeconfigPath = join(o.stateDir, 'kubeconfig');
  await writePrivate(join(o.stateDir, 'ca.crt'), caPem, 0o644);
  await writeKubeconfig(kubeconfigPath, { server: o.server, caPem, token: cred.token, user: `system:node:${o.nodeName}` });
  await writePrivate(join(o.stateDir, 'node.json'), JSON.stringify({ nodeName: o.nodeName, server: o.server, podCIDR: cred.podCIDR }, null, 2) + '\n', 0o644);
  const certPath = join(o.stateDir, 'serving.crt');
  let serving: JoinedNode['serving'];
  if (typeof cred.servingCertificate === 'string' && servingCertificateUsable(cred.servingCertificate, servingKeyPem, caPem)) {
    serving = { cert: cred.servingCertificate, key: servingKeyPem };
    await writePrivate(certPath, cred.servingCertificate, 0o644);
  } else {
    if (cred.servingCertificate !== undefined) o.logger?.warn('the server answered the join with a serving certificate that is not for this agent’s key or not signed by the cluster CA; ignoring it');
    // A certificate from an earlier join still serves while valid for a day more (the server may not sign any now).
    const earlier = await fs.readFile(certPath, 'utf8').catch(() => '');
    if (earlier && servingCertificateUsable(earlier, servingKeyPem, caPem, 24 * 3600 * 1000)) serving = { cert: earlier, key: servingKeyPem };
  }
  return { server: o.server, nodeName: o.nodeName, token: cred.token, caPem, podCIDR: cred.podCIDR, rejoined: cred.rejoined === true, kubeconfigPath, serving };
}
