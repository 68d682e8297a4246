// Read a kubeconfig file (the format kubectl uses) into what KubeClient needs: the server URL,
// the CA to pin, and a credential (bearer token, or a client certificate and key).
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import YAML from 'yaml';

export interface ClientConfig {
  /** https://host:port (no trailing slash). */
  server: string;
  /** PEM of the certificate authority that signs the server certificate. */
  ca?: string;
  /** Bearer token. */
  token?: string;
  /** Client certificate and key (PEM), when the user authenticates with one. */
  cert?: string;
  key?: string;
  /** Skip server certificate verification (kubeconfig `insecure-skip-tls-verify`). */
  insecureSkipTLSVerify?: boolean;
  /** Default namespace of the context (kubeconfig `context.namespace`), if any. */
  namespace?: string;
}

export interface LoadKubeconfigOptions {
  /** Use this context instead of current-context. */
  context?: string;
}

export class KubeconfigError extends Error {
  constructor(path: string, message: string) {
    super(`kubeconfig ${path}: ${message}`);
    this.name = 'KubeconfigError';
  }
}

function record(v: unknown): Record<string, unknown> {
  return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}

function findNamed(list: unknown, name: string, field: string): Record<string, unknown> | undefined {
  if (!Array.isArray(list)) return undefined;
  for (const entry of list) {
    const e = record(entry);
    if (e.name === name) return record(e[field]);
  }
  return undefined;
}

/** Parse kubeconfig text; relative file paths are resolved against baseDir (the file's folder). */
export function parseKubeconfig(text: string, baseDir: string, source = '<kubeconfig>', opts: LoadKubeconfigOptions = {}): ClientConfig {
  let doc: unknown;
  try {
    doc = YAML.parse(text);
  } catch (e) {
    throw new KubeconfigError(source, `not valid YAML: ${e instanceof Error ? e.message : String(e)}`);
  }
  const root = record(doc);
  const contextName = opts.context ?? str(root['current-context']);
  if (!contextName) throw new KubeconfigError(source, 'no current-context is set (and no context was chosen)');
  const context = findNamed(root.contexts, contextName, 'context');
  if (!context) throw new KubeconfigError(source, `context "${contextName}" is not defined`);
  const clusterName = str(context.cluster);
  if (!clusterName) throw new KubeconfigError(source, `context "${contextName}" names no cluster`);
  const cluster = findNamed(root.clusters, clusterName, 'cluster');
  if (!cluster) throw new KubeconfigError(source, `cluster "${clusterName}" is not defined`);
  const server = str(cluster.server);
  if (!server) throw new KubeconfigError(source, `cluster "${clusterName}" has no server`);

  const readRel = (p: string, what: string): string => {
    const full = isAbsolute(p) ? p : resolve(baseDir, p);
    try {
      return readFileSync(full, 'utf8');
    } catch (e) {
      throw new KubeconfigError(source, `cannot read ${what} ${full}: ${e instanceof Error ? e.message : String(e)}`);
    }
  };
  const b64 = (v: string, what: string): string => {
    const s = Buffer.from(v, 'base64').toString('utf8');
    if (!s) throw new KubeconfigError(source, `${what} is not valid base64`);
    return s;
  };

  const cfg: ClientConfig = { server: server.replace(/\/+$/, '') };
  const caData = str(cluster['certificate-authority-data']);
  const caFile = str(cluster['certificate-authority']);
  if (caData) cfg.ca = b64(caData, 'certificate-authority-data');
  else if (caFile) cfg.ca = readRel(caFile, 'certificate-authority');
  if (cluster['insecure-skip-tls-verify'] === true) cfg.insecureSkipTLSVerify = true;
  const ns = str(context.namespace);
  if (ns) cfg.namespace = ns;

  const userName = str(context.user);
  if (userName) {
    const user = findNamed(root.users, userName, 'user');
    if (!user) throw new KubeconfigError(source, `user "${userName}" is not defined`);
    const token = str(user.token);
    const tokenFile = str(user.tokenFile) ?? str(user['token-file']);
    if (token) cfg.token = token;
    else if (tokenFile) cfg.token = readRel(tokenFile, 'tokenFile').trim();
    const certData = str(user['client-certificate-data']);
    const certFile = str(user['client-certificate']);
    const keyData = str(user['client-key-data']);
    const keyFile = str(user['client-key']);
    if (certData) cfg.cert = b64(certData, 'client-certificate-data');
    else if (certFile) cfg.cert = readRel(certFile, 'client-certificate');
    if (keyData) cfg.key = b64(keyData, 'client-key-data');
    else if (keyFile) cfg.key = readRel(keyFile, 'client-key');
  }
  return cfg;
}

/** Load a kubeconfig file: its current-context (or opts.context) → server, CA, credential. */
export function loadKubeconfig(path: string, opts: LoadKubeconfigOptions = {}): ClientConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new KubeconfigError(path, `cannot read it: ${e instanceof Error ? e.message : String(e)}`);
  }
  return parseKubeconfig(text, dirname(resolve(path)), path, opts);
}
