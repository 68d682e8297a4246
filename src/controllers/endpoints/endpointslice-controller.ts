// The EndpointSlice controller: keeps the discovery.k8s.io/v1 EndpointSlices of every Service
// with a selector (planEndpointSlices in slices.ts) — creates first, then updates, then deletes,
// so a consumer never sees a moment without the endpoints that stay. Slices it manages carry
// `endpointslice.kubernetes.io/managed-by: endpointslice-controller.k8s.io`; others (the API
// server's `kubernetes` slice, user-made ones) are never touched.
//
// Acting on a stale cache: slices are created by generateName, so a round that ran before the
// informer showed the previous round's creations would create them again. Each round remembers
// the newest resourceVersion it wrote and the slices it deleted; the next round of that service
// waits until the informer has caught up (resourceVersions are the store's global revision).
import type { KubeObject } from '../../registry/types.ts';
import { isAlreadyExists, isConflict, isNotFound, objectKey, splitKey } from '../../client/rest.ts';
import { realClock } from '../../client/clock.ts';
import type { ControllerContext, ControllerFactory } from '../manager.ts';
import { WriteExpectations } from '../common/cache-sync.ts';
import { ENDPOINT_SLICES, startServiceLoop, type LoopContext, type ServiceController, type ServiceControllerOptions } from './loop.ts';
import { MANAGED_BY_CONTROLLER, MANAGED_BY_LABEL, SERVICE_NAME_LABEL, planEndpointSlices, type PlanOptions } from './slices.ts';

export const ENDPOINTSLICE_CONTROLLER_COMPONENT = 'endpointslice-controller';
export const ENDPOINTSLICE_USER_AGENT = 'kennel-endpointslice-controller';
/** Informer index: managed slices by `<namespace>/<service name>`. */
export const MANAGED_SLICES_INDEX = 'managedByService';

export function managedSliceIndexFunc(slice: KubeObject): string[] {
  const l = slice.metadata.labels ?? {};
  const svc = l[SERVICE_NAME_LABEL];
  return l[MANAGED_BY_LABEL] === MANAGED_BY_CONTROLLER && svc ? [`${slice.metadata.namespace ?? ''}/${svc}`] : [];
}

/** How long a round waits for the cache to show its previous writes before going ahead. */
const EXPECTATION_TTL_MS = 30_000;
/** Re-check interval while waiting for the cache. */
const CACHE_WAIT_MS = 10;

export interface EndpointSliceControllerOptions extends ServiceControllerOptions, PlanOptions {}

export async function startEndpointSliceController(opts: EndpointSliceControllerOptions): Promise<ServiceController> {
  /** service key → newest resourceVersion written (the informer of slices must show it first) */
  const clock = opts.clock ?? realClock;
  const expected = new WriteExpectations(() => clock.now(), EXPECTATION_TTL_MS);
  /** slice key → when its deletion was requested (hidden from rounds until the watch shows it) */
  const deleted = new Map<string, number>();

  const expect = (ctx: LoopContext, key: string, written: KubeObject | undefined): void => {
    ctx.wrote();
    expected.expect(key, ctx.target, written);
  };

  const reconcile = async (ctx: LoopContext, key: string): Promise<void> => {
    if (!expected.caughtUp(key)) {
      ctx.queue.addAfter(key, CACHE_WAIT_MS);
      return;
    }
    const now = ctx.clock.now();
    const slices = ctx.target.byIndex(MANAGED_SLICES_INDEX, key).filter((s) => {
      const at = deleted.get(objectKey(s));
      if (at === undefined) return true;
      if (now - at > EXPECTATION_TTL_MS) {
        deleted.delete(objectKey(s));
        return true;
      }
      return false;
    });
    const svc = ctx.services.getByKey(key);
    const plan = svc ? planEndpointSlices(svc, ctx.pods.listByNamespace(splitKey(key).namespace ?? ''), slices, opts) : { create: [], update: [], delete: slices };
    if (plan.create.length + plan.update.length + plan.delete.length === 0) return;
    ctx.log.debug('endpointslices', { service: key, create: plan.create.length, update: plan.update.map((s) => s.metadata.name), delete: plan.delete.map((s) => s.metadata.name) });
    const failures: unknown[] = [];
    const run = async (items: KubeObject[], fn: (s: KubeObject) => Promise<void>): Promise<void> => {
      const rs = await Promise.allSettled(items.map(fn));
      for (const r of rs) if (r.status === 'rejected') failures.push(r.reason);
    };
    await run(plan.create, async (s) => expect(ctx, key, await ctx.client.create(ENDPOINT_SLICES, s, { signal: ctx.signal })));
    await run(plan.update, async (s) => expect(ctx, key, await ctx.client.update(ENDPOINT_SLICES, s, { signal: ctx.signal })));
    await run(plan.delete, async (s) => {
      try {
        await ctx.client.delete(ENDPOINT_SLICES, s.metadata.namespace, s.metadata.name ?? '', { signal: ctx.signal, preconditions: s.metadata.uid ? { uid: s.metadata.uid } : undefined });
        ctx.wrote();
      } catch (e) {
        if (!isNotFound(e)) throw e;
      }
      deleted.set(objectKey(s), ctx.clock.now());
    });
    if (failures.length > 0 && !ctx.signal.aborted) {
      const first = failures[0];
      const msg = first instanceof Error ? first.message : String(first);
      const conflictOnly = failures.every((f) => isConflict(f) || isAlreadyExists(f) || isNotFound(f));
      if (svc && !conflictOnly) ctx.recorder.event(svc, 'Warning', 'FailedToUpdateEndpointSlices', `Error updating Endpoint Slices for Service ${key}: ${msg}`);
      throw first;
    }
  };

  return startServiceLoop(
    {
      component: ENDPOINTSLICE_CONTROLLER_COMPONENT,
      userAgent: ENDPOINTSLICE_USER_AGENT,
      target: ENDPOINT_SLICES,
      targetIndexers: { [MANAGED_SLICES_INDEX]: managedSliceIndexFunc },
      targetKeys: (slice, ev) => {
        if (ev === 'delete') deleted.delete(objectKey(slice));
        // Our own writes come back here too: reconcile then finds nothing to do. A managed
        // slice edited or deleted by someone else is put back.
        return managedSliceIndexFunc(slice);
      },
      reconcile,
    },
    opts,
  );
}

/** The EndpointSlice controller for the controller manager. */
export const endpointSliceController: ControllerFactory = {
  name: 'endpointslice',
  start: (ctx: ControllerContext) => startEndpointSliceController({ client: ctx.client, logger: ctx.logger, informers: ctx.informers }),
};
