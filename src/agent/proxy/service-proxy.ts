// The node's service proxy: watches Services and EndpointSlices and, a few milliseconds after
// any change, replaces the whole nftables table with the rules rules.ts computes (one atomic
// `nft -f`). It deletes the table on stop.
import { Informer, type EventHandler } from '../../client/informer.ts';
import type { KubeClient, ResourceRef } from '../../client/rest.ts';
import type { KubeObject } from '../../registry/types.ts';
import type { Logger } from '../../util/log.ts';
import { bridgeNetfilterEnabled, deleteNftTable, enableRouteLocalnet, nftRunner, probeNftables, setRouteLocalnet, type NftRunner } from './nft.ts';
import { computeServiceRules, DEFAULT_TABLE, renderNftRuleset, type ServicePortRule } from './rules.ts';

export const SERVICES_RESOURCE: ResourceRef = { group: '', version: 'v1', plural: 'services', namespaced: true, kind: 'Service' };
export const ENDPOINTSLICES_RESOURCE: ResourceRef = { group: 'discovery.k8s.io', version: 'v1', plural: 'endpointslices', namespaced: true, kind: 'EndpointSlice' };

export interface ServiceProxyOptions {
  client: KubeClient;
  logger: Logger;
  /** The pod network, e.g. 10.244.0.0/24. */
  podCIDR: string;
  /**
   * Where loopback endpoints (127.0.0.0/8, e.g. the `kubernetes` service of an API server bound
   * to 127.0.0.1) are sent instead. Default: keep them, and set route_localnet on bridgeName.
   */
  hostEndpointAddress?: string;
  /** The pod bridge (default kennel0): gets route_localnet=1 while a loopback endpoint exists. */
  bridgeName?: string;
  /** nft table in family ip (default kennel-proxy). */
  table?: string;
  /** Masquerade all service traffic (default: only when bridge-nf-call-iptables is off). */
  masqueradeAll?: boolean;
  /** Wait this long after a change before applying, to batch bursts (default 5 ms). */
  debounceMs?: number;
  /** Re-check route_localnet (the bridge may appear later) and retry failed applies this often (default 10 s). */
  resyncMs?: number;
  /** Share the agent's informers (or any source of objects) instead of starting new ones; the caller starts and stops them. */
  services?: ObjectSource;
  endpointSlices?: ObjectSource;
  nft?: NftRunner;
  /** Delete the table on stop (default true; false leaves the last rules in place, as kube-proxy does on exit). */
  deleteOnStop?: boolean;
}

/** What the proxy needs of an informer. */
export interface ObjectSource {
  list(): KubeObject[];
  addEventHandler(h: EventHandler<KubeObject>): () => void;
  waitForSync(opts?: { timeoutMs?: number }): Promise<void>;
}

export interface ServiceProxyStats {
  applies: number;
  failures: number;
  /** Duration of the last apply (compute + render + nft), ms. */
  lastApplyMs: number;
  maxApplyMs: number;
  /** ClusterIP ports in the last applied ruleset. */
  servicePorts: number;
  lastError?: string;
}

export interface ServiceProxy {
  readonly backend: 'nftables';
  readonly table: string;
  readonly stats: ServiceProxyStats;
  /** The rules of the last successful apply. */
  readonly rules: readonly ServicePortRule[];
  /** Apply now (waits for a running apply first). */
  sync(): Promise<void>;
  /** Resolves once the rules reflect the informers' caches (no pending or running apply). */
  settled(): Promise<void>;
  stop(): Promise<void>;
}

export async function startServiceProxy(opts: ServiceProxyOptions): Promise<ServiceProxy> {
  const log = opts.logger.child ? opts.logger.child('service-proxy') : opts.logger;
  const nft = opts.nft ?? nftRunner();
  const table = opts.table ?? DEFAULT_TABLE;
  const bridge = opts.bridgeName ?? 'kennel0';
  const debounceMs = opts.debounceMs ?? 5;
  const problem = await probeNftables(nft);
  if (problem) throw new Error(`nftables NAT is not usable here (${problem}); the service proxy needs nf_tables`);
  const masqueradeAll = opts.masqueradeAll ?? !(await bridgeNetfilterEnabled());

  const ownedServices = opts.services ? undefined : new Informer<KubeObject>(opts.client, SERVICES_RESOURCE, { logger: log, name: 'proxy-services' });
  const ownedSlices = opts.endpointSlices ? undefined : new Informer<KubeObject>(opts.client, ENDPOINTSLICES_RESOURCE, { logger: log, name: 'proxy-endpointslices' });
  const services: ObjectSource = opts.services ?? ownedServices!;
  const slices: ObjectSource = opts.endpointSlices ?? ownedSlices!;

  const stats: ServiceProxyStats = { applies: 0, failures: 0, lastApplyMs: 0, maxApplyMs: 0, servicePorts: 0 };
  let rules: ServicePortRule[] = [];
  let lastScript = '';
  let dirty = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let stopped = false;
  let routeLocalnetPrev: string | undefined;
  const waiters: (() => void)[] = [];

  const ensureRouteLocalnet = async (): Promise<void> => {
    if (opts.hostEndpointAddress || !rules.some((r) => r.endpoints.some((e) => e.ip.startsWith('127.')))) return;
    const prev = await enableRouteLocalnet(bridge).catch((e: Error) => {
      log.warn('cannot set route_localnet', { bridge, error: e.message });
      return undefined;
    });
    if (prev !== undefined && routeLocalnetPrev === undefined) {
      routeLocalnetPrev = prev;
      if (prev !== '1') log.info('route_localnet enabled for loopback endpoints', { bridge });
    }
  };

  const applyOnce = async (force: boolean): Promise<void> => {
    dirty = false;
    const t0 = performance.now();
    const next = computeServiceRules(services.list(), slices.list(), { hostEndpointAddress: opts.hostEndpointAddress });
    const script = renderNftRuleset(next, { podCIDR: opts.podCIDR, table, masqueradeAll });
    if (!force && script === lastScript) return;
    try {
      await nft.apply(script);
    } catch (e) {
      stats.failures++;
      stats.lastError = (e as Error).message;
      log.error('applying service rules failed', { error: stats.lastError });
      return;
    }
    lastScript = script;
    rules = next;
    const ms = performance.now() - t0;
    stats.applies++;
    stats.lastApplyMs = ms;
    stats.maxApplyMs = Math.max(stats.maxApplyMs, ms);
    stats.servicePorts = next.length;
    log.debug('service rules applied', { ports: next.length, ms: Math.round(ms * 10) / 10 });
    await ensureRouteLocalnet();
  };

  const drain = (force: boolean): Promise<void> => {
    if (running) return running.then(() => drain(force));
    running = (async () => {
      try {
        await applyOnce(force);
        while (dirty && !stopped) await applyOnce(false);
      } finally {
        running = undefined;
        if (!timer && !dirty) for (const w of waiters.splice(0)) w();
      }
    })();
    return running;
  };

  const schedule = (): void => {
    if (stopped) return;
    dirty = true;
    if (timer || running) return;
    timer = setTimeout(() => {
      timer = undefined;
      if (!stopped) void drain(false);
    }, debounceMs);
  };

  const handler = { onAdd: schedule, onUpdate: (o: KubeObject, n: KubeObject) => o !== n && schedule(), onDelete: schedule };
  const offServices = services.addEventHandler(handler);
  const offSlices = slices.addEventHandler(handler);
  ownedServices?.start();
  ownedSlices?.start();
  try {
    await Promise.all([services.waitForSync({ timeoutMs: 60_000 }), slices.waitForSync({ timeoutMs: 60_000 })]);
    if (timer) clearTimeout(timer);
    timer = undefined;
    await drain(true);
    if (stats.lastError) throw new Error(`applying the service rules failed: ${stats.lastError}`);
  } catch (e) {
    stopped = true;
    if (timer) clearTimeout(timer);
    offServices();
    offSlices();
    await ownedServices?.stop();
    await ownedSlices?.stop();
    throw e;
  }
  log.info('service proxy running', { backend: 'nftables', table, ports: rules.length, applyMs: Math.round(stats.lastApplyMs * 10) / 10, masqueradeAll });

  const resync = setInterval(() => {
    if (stopped) return;
    if (stats.lastError && !running && !timer) {
      stats.lastError = undefined;
      void drain(true);
    } else void ensureRouteLocalnet();
  }, opts.resyncMs ?? 10_000);
  resync.unref();

  return {
    backend: 'nftables',
    table,
    stats,
    get rules() {
      return rules;
    },
    sync: () => drain(true),
    settled: () => (!timer && !running && !dirty ? Promise.resolve() : new Promise<void>((r) => waiters.push(r))),
    async stop() {
      if (stopped) return;
      stopped = true;
      clearInterval(resync);
      if (timer) clearTimeout(timer);
      timer = undefined;
      offServices();
      offSlices();
      await running;
      for (const w of waiters.splice(0)) w();
      await ownedServices?.stop();
      await ownedSlices?.stop();
      if (opts.deleteOnStop !== false) await deleteNftTable(table, nft).catch((e: Error) => log.warn('deleting the service table failed', { table, error: e.message }));
      if (routeLocalnetPrev !== undefined && routeLocalnetPrev !== '1') await setRouteLocalnet(bridge, routeLocalnetPrev);
    },
  };
}
