// Client configuration for tools that run inside pods: the service-account volume
// (/var/run/secrets/kubernetes.io/serviceaccount/{token,ca.crt,namespace}) and the
// KUBERNETES_SERVICE_HOST/PORT variables the agent sets, as client-go's InClusterConfig reads
// them. Outside a pod (tests, the host) a kubeconfig can stand in: --kubeconfig or KUBECONFIG.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadKubeconfig, type ClientConfig } from '../client/kubeconfig.ts';

export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

export interface ToolConfigOptions {
  /** A kubeconfig to use instead of the in-cluster config. */
  kubeconfig?: string;
  env?: NodeJS.ProcessEnv;
  /** Where the service-account files are (tests; also $KENNEL_SERVICE_ACCOUNT_DIR). */
  serviceAccountDir?: string;
}

export interface ToolConfig {
  /** undefined when neither the in-cluster config nor a kubeconfig is available. */
  client?: ClientConfig;
  /** The namespace the pod runs in (POD_NAMESPACE, the service-account namespace file, the kubeconfig's, or default). */
  namespace: string;
  /** Where the config came from, for logs. */
  source: string;
}

function readOptional(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** The in-cluster config, or undefined when not in a pod (no KUBERNETES_SERVICE_HOST or token). */
export function inClusterConfig(opts: { env?: NodeJS.ProcessEnv; serviceAccountDir?: string } = {}): ClientConfig | undefined {
  const env = opts.env ?? process.env;
  const dir = opts.serviceAccountDir ?? env.KENNEL_SERVICE_ACCOUNT_DIR ?? SERVICE_ACCOUNT_DIR;
  const host = env.KUBERNETES_SERVICE_HOST;
  const port = env.KUBERNETES_SERVICE_PORT;
  if (!host || !port) return undefined;
  const token = readOptional(join(dir, 'token'))?.trim();
  if (!token) return undefined;
  const ca = readOptional(join(dir, 'ca.crt'));
  const h = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
  const namespace = readOptional(join(dir, 'namespace'))?.trim() || undefined;
  return { server: `https://${h}:${port}`, token, ...(ca ? { ca } : {}), ...(namespace ? { namespace } : {}) };
}

/** Resolve the config a tool uses: an explicit kubeconfig first, then in-cluster, then $KUBECONFIG. */
export function loadToolConfig(opts: ToolConfigOptions = {}): ToolConfig {
  const env = opts.env ?? process.env;
  let client: ClientConfig | undefined;
  let source = 'none';
  if (opts.kubeconfig) {
    client = loadKubeconfig(opts.kubeconfig);
    source = `kubeconfig ${opts.kubeconfig}`;
  } else {
    client = inClusterConfig({ env, serviceAccountDir: opts.serviceAccountDir });
    if (client) source = 'in-cluster';
    else if (env.KUBECONFIG) {
      const path = env.KUBECONFIG.split(':')[0]!;
      client = loadKubeconfig(path);
      source = `kubeconfig ${path}`;
    }
  }
  const saNamespace = readOptional(join(opts.serviceAccountDir ?? env.KENNEL_SERVICE_ACCOUNT_DIR ?? SERVICE_ACCOUNT_DIR, 'namespace'))?.trim();
  const namespace = env.POD_NAMESPACE || saNamespace || client?.namespace || 'default';
  return { client, namespace, source };
}
