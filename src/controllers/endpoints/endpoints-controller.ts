// The Endpoints controller: keeps one core/v1 Endpoints object per Service with a selector,
// named like the service, listing the ready and not-ready addresses of the pods it selects
// (decideEndpoints in compute.ts). Selector-less services, ExternalName services and the
// `kubernetes` service are left alone. When a service goes, its Endpoints go too.
//
// Acting on a stale cache: the last object this controller wrote for a service is kept until
// the informer shows one at least as new, and the decision is made against whichever is newer —
// so a Ready flip right after a write neither rewrites the same content nor fails with a 409.
import type { KubeObject } from '../../registry/types.ts';
import { isAlreadyExists, isConflict, isNotFound, objectKey, splitKey } from '../../client/rest.ts';
import type { ControllerContext, ControllerFactory } from '../manager.ts';
import { decideEndpoints, isKubernetesService, managesEndpoints } from './compute.ts';
import { ENDPOINTS, startServiceLoop, type LoopContext, type ServiceController, type ServiceControllerOptions } from './loop.ts';

export const ENDPOINTS_CONTROLLER_COMPONENT = 'endpoint-controller';
export const ENDPOINTS_USER_AGENT = 'kennel-endpoint-controller';

function rvNumber(o: KubeObject | undefined): bigint {
  const rv = o?.metadata.resourceVersion;
  return rv && /^[0-9]+$/.test(rv) ? BigInt(rv) : -1n;
}

export async function startEndpointsController(opts: ServiceControllerOptions): Promise<ServiceController> {
  /** service key → the Endpoints object this controller last wrote */
  const written = new Map<string, KubeObject>();

  const reconcile = async (ctx: LoopContext, key: string): Promise<void> => {
    const { namespace, name } = splitKey(key);
    const ns = namespace ?? '';
    const svc = ctx.services.getByKey(key);
    const cached = ctx.target.getByKey(key);
    let mine = written.get(key);
    if (mine && rvNumber(cached) >= rvNumber(mine)) {
      written.delete(key);
      mine = undefined;
    }
    const current = mine ?? cached;
    if (!svc) {
      written.delete(key);
      if (!current || (ns === 'default' && name === 'kubernetes')) return;
      try {
        await ctx.client.delete(ENDPOINTS, ns, name, { signal: ctx.signal, preconditions: current.metadata.uid ? { uid: current.metadata.uid } : undefined });
        ctx.wrote();
      } catch (e) {
        if (!isNotFound(e)) throw e;
      }
      return;
    }
    if (isKubernetesService(svc)) return;
    const d = decideEndpoints(svc, ctx.pods.listByNamespace(ns), current);
    if (!d.write) return;
    try {
      const out = d.op === 'create' ? await ctx.client.create(ENDPOINTS, d.write, { signal: ctx.signal }) : await ctx.client.update(ENDPOINTS, d.write, { signal: ctx.signal });
      ctx.wrote();
      written.set(key, out);
      ctx.log.debug('endpoints written', { service: key, op: d.op, ready: d.ready, notReady: d.notReady });
    } catch (e) {
      written.delete(key);
      if (ctx.signal.aborted) return;
      if (isNotFound(e) && d.op === 'update') {
        // Deleted meanwhile: create it on the retry.
        throw e;
      }
      if (!isAlreadyExists(e) && !isConflict(e)) {
        ctx.recorder.event(
          svc,
          'Warning',
          d.op === 'create' ? 'FailedToCreateEndpoint' : 'FailedToUpdateEndpoint',
          `Failed to ${d.op} endpoint ${key}: ${e instanceof Error ? e.message : String(e)}`,
        );
      }
      throw e;
    }
  };

  return startServiceLoop(
    {
      component: ENDPOINTS_CONTROLLER_COMPONENT,
      userAgent: ENDPOINTS_USER_AGENT,
      target: ENDPOINTS,
      // A deleted Endpoints of a managed service is recreated; an edited one is put back.
      // Endpoints without a service (user-made) are never touched.
      targetKeys: (ep, ev, services) => {
        if (ev === 'add') return [];
        const svc = services.getByKey(objectKey(ep));
        return svc && managesEndpoints(svc) ? [objectKey(ep)] : [];
      },
      reconcile,
    },
    opts,
  );
}

/** The Endpoints controller for the controller manager. */
export const endpointsController: ControllerFactory = {
  name: 'endpoints',
  start: (ctx: ControllerContext) => startEndpointsController({ client: ctx.client, logger: ctx.logger, informers: ctx.informers }),
};
