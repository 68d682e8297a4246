// `kennel up` and `kennel server`: bring up the data dir, the PKI, the store and the API server,
// write the kubeconfig, and stop everything in reverse order. Components are a list so that
// later ones (controllers, scheduler, DNS, the local node agent) slot in without new plumbing.
import { promises as fs } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { ensureClusterPki, parseJoinToken, writeKubeconfig, PkiError, type ClusterPki } from '../api/pki.ts';
import { adminUser, createTokenAuthenticator } from '../api/auth.ts';
// The API server and the store are loaded when first used (not at import), so the CLI answers
// --help and bad flags without loading them, and tests can inject their own.
import type { ApiServer, ApiServerOptions } from '../api/server.ts';
import type { StoreOptions } from '../store/index.ts';
import { isStoreError, type Store } from '../store/types.ts';
import { createLogger, type Logger } from '../util/log.ts';
import type { ControlPlaneOptions } from './args.ts';

/** Something started that must be stopped on shutdown. */
export interface Component {
  name: string;
  stop(): Promise<void>;
}

export interface ControlPlaneDeps {
  openStore: (opts: StoreOptions) => Promise<Store>;
  startApiServer: (opts: ApiServerOptions) => Promise<ApiServer>;
  logger: Logger;
  /** Where the two human lines go (stdout). */
  print: (line: string) => void;
}

export interface RunningControlPlane {
  url: string;
  port: number;
  kubeconfigPath: string;
  joinToken: string;
  pki: ClusterPki;
  components: readonly Component[];
  /** Stops every component, last started first. Safe to call more than once. */
  stop(): Promise<void>;
}

/** Startup failed for a reason the user can act on; the message is one line. */
export class StartupError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StartupError';
  }
}

const UNSPECIFIED = new Set(['0.0.0.0', '::', '0:0:0:0:0:0:0:0', '']);

/** The URL clients use: the bind address, or loopback when bound to every address. */
export function clientUrl(bind: string, port: number): string {
  const host = UNSPECIFIED.has(bind) ? '127.0.0.1' : bind;
  return `https://${isIP(host) === 6 ? `[${host}]` : host}:${port}`;
}

/** One line for a startup failure (a port in use, a data dir that cannot be written …). */
export function describeStartupError(err: unknown, opts: ControlPlaneOptions): string {
  const e = err as NodeJS.ErrnoException & { address?: string; port?: number };
  const where = `${opts.bind}:${opts.port}`;
  switch (e?.code) {
    case 'EADDRINUSE':
      return `port ${opts.port} on ${opts.bind} is already in use (another kennel or Kubernetes API server?); stop it or choose another with --port`;
    case 'EADDRNOTAVAIL':
      return `cannot listen on ${where}: ${opts.bind} is not an address of this machine; choose another with --bind`;
    case 'EACCES':
    case 'EPERM':
      if (e.syscall === 'listen' || e.syscall === 'bind') {
        return `not allowed to listen on ${where} (ports below 1024 need root); choose another with --port`;
      }
      return `permission denied: ${e.path ?? e.message}; choose a writable --data-dir or run as a user who may write it`;
    case 'ENOTDIR':
    case 'EROFS':
    case 'ENOSPC':
      return `cannot write the data dir ${opts.dataDir}: ${e.message}`;
  }
  if (err instanceof StartupError || err instanceof PkiError) return err.message;
  if (isStoreError(err)) {
    const backend = opts.store.backend === 'etcd' ? `etcd at ${opts.store.endpoints.join(',')}` : `the sqlite store ${opts.store.path}`;
    return `cannot open ${backend}: ${err.message}`;
  }
  return (err as Error)?.message ?? String(err);
}

/**
 * Starts the control plane described by opts. On failure everything started so far is stopped
 * again and the error is rethrown (describeStartupError turns it into the line to print).
 */
export async function startControlPlane(opts: ControlPlaneOptions, deps: Partial<ControlPlaneDeps> = {}): Promise<RunningControlPlane> {
  const log = deps.logger ?? createLogger('kennel');
  const openStore = deps.openStore ?? (async (o: StoreOptions) => (await import('../store/index.ts')).openStore(o));
  const startApiServer = deps.startApiServer ?? (async (o: ApiServerOptions) => (await import('../api/server.ts')).startApiServer(o));
  const print = deps.print ?? ((line: string) => process.stdout.write(line + '\n'));

  const components: Component[] = [];
  let stopping: Promise<void> | null = null;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      for (const c of [...components].reverse()) {
        try {
          await c.stop();
          log.child(c.name).info('stopped');
        } catch (err) {
          log.child(c.name).error('stop failed', { error: (err as Error).message });
        }
      }
    })();
    return stopping;
  };

  try {
    await fs.mkdir(opts.dataDir, { recursive: true, mode: 0o700 });
    const bindHost = UNSPECIFIED.has(opts.bind) ? [] : [opts.bind];
    const pki = await ensureClusterPki(opts.dataDir, {
      hosts: bindHost.filter((h) => !isIP(h)),
      ips: bindHost.filter((h) => isIP(h)),
    });
    if (pki.issued.length) log.info('issued certificates', { issued: pki.issued, dir: pki.dir });

    // 1. The store.
    const storeLog = log.child('store');
    const store = await openStore(
      opts.store.backend === 'sqlite'
        ? { backend: 'sqlite', path: opts.store.path, logger: storeLog }
        : { backend: 'etcd', endpoints: opts.store.endpoints, ...(opts.store.prefix ? { prefix: opts.store.prefix } : {}), logger: storeLog },
    );
    components.push({ name: 'store', stop: () => store.close() });

    // 2. The API server.
    const authenticator = createTokenAuthenticator(new Map([[pki.adminToken, adminUser()]]));
    const { kubeletClientCertificate } = await import('../agent/server-certs.ts');
    const { ensureServiceAccountKey } = await import('../api/satokens.ts');
    const server = await startApiServer({
      store,
      bind: opts.bind,
      port: opts.port,
      tls: pki.tls,
      authenticator,
      logger: log.child('apiserver'),
      serviceAccountKey: await ensureServiceAccountKey(opts.dataDir),
      // The API server's client certificate for the agents' endpoints (logs, exec, attach).
      podProxy: { clientCert: await kubeletClientCertificate({ certPem: pki.ca.certPem, keyPem: pki.ca.keyPem }) },
      // Nodes join with the join token (src/api/join.ts) and get restricted node credentials.
      join: { secret: parseJoinToken(pki.joinToken)!.secret, ca: { certPem: pki.ca.certPem, keyPem: pki.ca.keyPem } },
    });
    components.push({ name: 'apiserver', stop: () => server.close() });

    const url = clientUrl(opts.bind, server.port);
    // The clients of this process (controllers, scheduler, DNS, the local node) reach the API
    // through the server's loopback: the same requests and credentials, no TLS, no sockets.
    // Their writes ask for fieldValidation=Ignore: they send objects they built and read no
    // warnings, so the server need not scan the bodies for unknown fields.
    const inProcess = { loopback: server.loopback, fieldValidation: 'Ignore' as const };

    // 3. Controllers (API clients of `server`, with their own identity), run under a Lease so
    //    that several servers on one etcd run each exactly once.
    const controllerToken = randomBytes(32).toString('base64url');
    authenticator.addToken(controllerToken, { username: 'system:kube-controller-manager', groups: ['system:masters', 'system:authenticated'] });
    const { KubeClient } = await import('../client/rest.ts');
    const { startControllerManager } = await import('../controllers/manager.ts');
    const { builtinControllersWith } = await import('../controllers/index.ts');
    const controllerClient = new KubeClient({ server: url, ca: pki.tls.ca, token: controllerToken }, { userAgent: 'kennel-controller-manager', fieldManager: 'kennel-controller-manager', ...inProcess });
    // One informer factory for the process: the controllers and the scheduler share one
    // list+watch and one cache per resource (instead of one per component, each through HTTPS
    // and JSON). Its lifetime is the process's, not a controller-manager term's: the scheduler
    // runs under its own Lease, independently of the controllers' (so a per-term factory would
    // stop under it). Caches thus stay warm across terms (a new term's controllers get them
    // replayed as adds; the informers they asked for keep running while this process does not
    // lead), and the factory stops with the controller manager, i.e. after the scheduler
    // (components stop in reverse order). Never mutate
    // what its caches return (KENNEL_FREEZE_CACHE=1 deep-freezes them to find such bugs).
    const { InformerFactory } = await import('../client/informer.ts');
    const informers = new InformerFactory(controllerClient, { logger: log.child('informers') });
    const manager = await startControllerManager({
      client: controllerClient,
      registry: server.registry,
      logger: log.child('controller-manager'),
      identity: `${hostname()}_${randomBytes(4).toString('hex')}`,
      controllers: builtinControllersWith({ nodeLifecycle: opts.nodeLifecycle }),
      informers,
    });
    components.push({
      name: 'controller-manager',
      stop: async () => {
        await manager.stop();
        await informers.stop();
        controllerClient.close();
      },
    });

    // 4. The scheduler, with its own identity, under its own Lease.
    const schedulerToken = randomBytes(32).toString('base64url');
    authenticator.addToken(schedulerToken, { username: 'system:kube-scheduler', groups: ['system:masters', 'system:authenticated'] });
    const { startScheduler } = await import('../scheduler/scheduler.ts');
    const schedulerClient = new KubeClient({ server: url, ca: pki.tls.ca, token: schedulerToken }, { userAgent: 'kennel-scheduler', fieldManager: 'kennel-scheduler', ...inProcess });
    const scheduler = await startScheduler({
      client: schedulerClient,
      logger: log.child('scheduler'),
      leaderElection: { identity: `${hostname()}_${randomBytes(4).toString('hex')}` },
      // The process's factory (its informers list and watch as the controller manager).
      informers,
    });
    components.push({
      name: 'scheduler',
      stop: async () => {
        await scheduler.stop();
        schedulerClient.close();
      },
    });

    // 5. For `kennel up`: this machine as a node. It joins as any agent does (join.ts), so it
    //    holds a restricted node credential (system:node:<name>, not system:masters), its name
    //    is claimed (an agent elsewhere cannot take it), and it keeps the pod CIDR 10.244.0.0/24.
    let localPodCIDR = '10.244.0.0/24';
    if (opts.runtime) {
      const { startNode } = await import('./node.ts');
      const { joinCluster, JoinError } = await import('./join.ts');
      const nodeName = hostname().toLowerCase();
      const token = parseJoinToken(pki.joinToken)!;
      const joined = await joinCluster({ server: url, caHash: token.caHash, secret: token.secret, nodeName, stateDir: join(opts.dataDir, 'node'), podCIDR: '10.244.0.0/24', retryForMs: 0, logger: log.child('join') }).catch((e: unknown) => {
        throw e instanceof JoinError ? new StartupError(`the local node cannot join: ${e.message}`) : e;
      });
      localPodCIDR = joined.podCIDR;
      const nodeClient = new KubeClient({ server: url, ca: pki.tls.ca, token: joined.token }, { userAgent: `kennel-agent/${nodeName}`, fieldManager: 'kennel-agent', ...inProcess });
      const node = await startNode({ client: nodeClient, nodeName, runtime: opts.runtime, dataDir: opts.dataDir, podCIDR: joined.podCIDR, logger: log.child('agent'), ca: { certPem: pki.ca.certPem, keyPem: pki.ca.keyPem } });
      log.info('local node started', { node: node.nodeName, runtime: node.runtime });
      components.push({
        name: 'agent',
        stop: async () => {
          await node.stop();
          nodeClient.close();
        },
      });
    }

    // 6. The cluster DNS: for pods (the bridge gateway for containerd pods, 127.0.0.10 for
    //    process pods, port 53 — as root) and for the host (--dns-listen).
    const dnsListen: { host: string; port: number }[] = [];
    if (opts.dnsListen) dnsListen.push(opts.dnsListen);
    const root = typeof process.getuid === 'function' && process.getuid() === 0;
    if (opts.runtime && root) {
      const { chooseRuntime, clusterDnsAddress } = await import('./node.ts');
      const kind = chooseRuntime(opts.runtime);
      if (kind !== 'simulated') dnsListen.push({ host: clusterDnsAddress(kind, localPodCIDR), port: 53 });
    }
    if (dnsListen.length) {
      const dnsToken = randomBytes(32).toString('base64url');
      authenticator.addToken(dnsToken, { username: 'system:serviceaccount:kube-system:kennel-dns', groups: ['system:masters', 'system:authenticated'] });
      const dnsClient = new KubeClient({ server: url, ca: pki.tls.ca, token: dnsToken }, { userAgent: 'kennel-dns', ...inProcess });
      const { startDnsServer } = await import('../dns/server.ts');
      const addresses = (l: { host: string; port: number }[]) => l.map((a) => `${a.host}:${a.port}`).join(', ');
      let dns: Awaited<ReturnType<typeof startDnsServer>> | undefined;
      let failure = '';
      try {
        dns = await startDnsServer({ client: dnsClient, listen: dnsListen, logger: log.child('dns') });
      } catch (e) {
        failure = (e as Error).message;
        log.warn('cluster DNS not started', { addresses: addresses(dnsListen), error: (e as Error).message });
      }
      // The pods' address may be taken (another kennel on this machine serves it); the host-facing
      // address was asked for explicitly, so try it alone: not being able to serve it is fatal.
      if (!dns && opts.dnsListen && dnsListen.length > 1) {
        dns = await startDnsServer({ client: dnsClient, listen: [opts.dnsListen], logger: log.child('dns') }).catch((e: Error) => {
          failure = e.message;
          return undefined;
        });
      }
      if (!dns && opts.dnsListen) {
        dnsClient.close();
        throw new StartupError(`cannot serve DNS on ${addresses([opts.dnsListen])}: ${failure}`);
      }
      if (dns) {
        const started = dns;
        log.info('cluster DNS listening', { addresses: started.addresses });
        components.push({
          name: 'dns',
          stop: async () => {
            await started.stop();
            dnsClient.close();
          },
        });
      } else dnsClient.close();
    }

    const kubeconfigPath = join(opts.dataDir, 'kubeconfig');
    await writeKubeconfig(kubeconfigPath, { server: url, caPem: pki.ca.certPem, token: pki.adminToken });
    log.info('kennel is up', { url, dataDir: opts.dataDir, store: opts.store.backend, kubeconfig: kubeconfigPath });
    print(`kennel API server is up at ${url}; kubeconfig: ${kubeconfigPath} (export KUBECONFIG=${kubeconfigPath})`);
    print(`join token (for kennel agent --token): ${pki.joinToken}`);
    return { url, port: server.port, kubeconfigPath, joinToken: pki.joinToken, pki, components, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
