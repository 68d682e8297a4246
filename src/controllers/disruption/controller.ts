// The disruption controller: the acting layer around computeBudgetStatus() (control.ts).
// Informers on PodDisruptionBudgets, Pods and the workload kinds whose scale a budget may need
// (StatefulSets, and ReplicaSets, Deployments and ReplicationControllers where the API serves
// them) feed a work queue of budget keys; reconcile(key) reads the cache, resolves the
// controllers of the selected pods, computes the status and writes it through the status
// subresource on top of the cached resourceVersion (a conflict is retried with back-off).
//
// Which budgets a change concerns: a budget's own changes; a pod's → every budget of its
// namespace that selects it (before or after the change); a workload's replicas → the budgets
// of its namespace that count controllers' scale.
//
// Controllers other than the built-in workloads are looked up by their ownerReference's
// apiVersion and kind in the registry (the API's REST mapping) and read through their scale
// subresource, as Kubernetes' scale finder does; an unknown kind, or one without a scale
// subresource, fails the sync safe (DisruptionAllowed False, reason SyncFailed).
//
// The same queue carries pods whose DisruptionTarget=True condition went stale (an eviction
// that never deleted the pod): after two minutes the condition is reset to False.
import type { KubeObject, OwnerReference } from '../../registry/types.ts';
import { getPath } from '../../registry/printing.ts';
import { isConflict, isNotFound, objectKey, splitApiVersion, splitKey, type ResourceRef } from '../../client/rest.ts';
import type { Informer } from '../../client/informer.ts';
import { rfc3339 } from '../../client/types.ts';
import { defaultRegistry, type Registry } from '../../registry/index.ts';
import type { ControllerContext, ControllerFactory, RunningController } from '../manager.ts';
import { ControllerBase, type ControllerBaseOptions } from '../common/base.ts';
import { errText } from '../common/errors.ts';
import { PODS } from '../common/resources.ts';
import {
  DISRUPTION_TARGET_CONDITION,
  budgetsForPod,
  computeBudgetStatus,
  controllerKey,
  controllerOf,
  isDeploymentRef,
  isReplicaSetRef,
  needsScale,
  selectsPod,
  staleDisruptionTargetIn,
  type BudgetStatus,
  type ControllerLookup,
} from './control.ts';

export const PDBS: ResourceRef = { group: 'policy', version: 'v1', plural: 'poddisruptionbudgets', namespaced: true, kind: 'PodDisruptionBudget' };
/** Kubernetes' disruption controller records events as `controllermanager`. */
export const DISRUPTION_CONTROLLER_COMPONENT = 'controllermanager';
export const DISRUPTION_USER_AGENT = 'kennel-disruption-controller';
export const DISRUPTION_FIELD_MANAGER = 'kube-controller-manager';

/** Sync again this long after a failed (failed-safe) sync. */
const SYNC_FAILED_RETRY_MS = 5_000;
/** Queue keys of pods whose DisruptionTarget condition may go stale. */
const POD_KEY_PREFIX = 'pod:';

/** The workload kinds read from informers (Kubernetes' typed finders), by `group/Kind`. */
const TYPED_KINDS = ['apps/StatefulSet', 'apps/ReplicaSet', 'apps/Deployment', '/ReplicationController'];

export interface DisruptionControllerOptions extends ControllerBaseOptions {
  /** The kinds the API serves (for controllers' scale); default: kennel's built-in registry. */
  registry?: Registry;
  /** Budgets reconciled at once (default 2). */
  workers?: number;
}

export interface DisruptionController extends RunningController {
  /** Status writes made so far. */
  readonly writes: number;
  idle(): boolean;
}

interface TypedKind {
  res: ResourceRef;
  informer: Informer;
  replicasPath: string;
}

export async function startDisruptionController(opts: DisruptionControllerOptions): Promise<DisruptionController> {
  const base = new ControllerBase(opts, {
    component: DISRUPTION_CONTROLLER_COMPONENT,
    logName: 'disruption-controller',
    userAgent: DISRUPTION_USER_AGENT,
    fieldManager: DISRUPTION_FIELD_MANAGER,
    queueName: 'disruption',
    stopMessage: 'disruption controller',
  });
  const { log, clock, client, factory, recorder, queue, signal } = base;
  const registry = opts.registry ?? defaultRegistry();

  const budgets = factory.informer(PDBS);
  const pods = factory.informer(PODS);
  const typed = new Map<string, TypedKind>();
  for (const gk of TYPED_KINDS) {
    const [group, kind] = gk.split('/');
    const def = registry.defs.find((d) => d.group === group && d.kind === kind && !d.storedAs && d.subresources?.scale);
    if (!def?.subresources?.scale) continue;
    typed.set(gk, { res: def, informer: factory.informer(def), replicasPath: def.subresources.scale.specReplicasPath });
  }
  let writes = 0;

  const enqueue = (b: KubeObject): void => queue.add(objectKey(b));
  const budgetsSelecting = (pod: KubeObject): KubeObject[] => budgetsForPod(budgets.listByNamespace(pod.metadata.namespace ?? ''), pod);
  const considerPod = (pod: KubeObject): void => {
    const d = staleDisruptionTargetIn(pod, clock.now());
    if (d !== undefined) queue.addAfter(POD_KEY_PREFIX + objectKey(pod), d);
  };
  base.handle(
    budgets.addEventHandler({ onAdd: enqueue, onUpdate: (_o, b) => enqueue(b), onDelete: enqueue }),
    pods.addEventHandler({
      onAdd: (p) => {
        budgetsSelecting(p).forEach(enqueue);
        considerPod(p);
      },
      onUpdate: (o, p) => {
        new Set([...budgetsSelecting(o), ...budgetsSelecting(p)].map((b) => objectKey(b))).forEach((k) => queue.add(k));
        considerPod(p);
      },
      onDelete: (p) => budgetsSelecting(p).forEach(enqueue),
    }),
    ...[...typed.values()].map((t) =>
      t.informer.addEventHandler({
        onAdd: () => {},
        onUpdate: (o, w) => {
          if (getPath(o, t.replicasPath) === getPath(w, t.replicasPath)) return;
          for (const b of budgets.listByNamespace(w.metadata.namespace ?? '')) if (needsScale(b)) enqueue(b);
        },
        onDelete: (w) => {
          for (const b of budgets.listByNamespace(w.metadata.namespace ?? '')) if (needsScale(b)) enqueue(b);
        },
      }),
    ),
  );

  // -- controllers and their scale

  /** One controller reference, from an informer (typed kinds) or the scale subresource. */
  const lookUp = async (ref: OwnerReference, namespace: string): Promise<ControllerLookup> => {
    const { group: g, version } = splitApiVersion(ref.apiVersion);
    const group = g === 'extensions' && (isReplicaSetRef(ref) || isDeploymentRef(ref)) ? 'apps' : g;
    const t = typed.get(`${group}/${ref.kind}`);
    if (t) {
      const o = t.informer.get(namespace, ref.name);
      if (!o) return { found: false };
      const replicas = getPath(o, t.replicasPath);
      return { found: true, uid: o.metadata.uid ?? '', replicas: typeof replicas === 'number' ? replicas : 1, controllerRef: controllerOf(o) };
    }
    const def = registry.defs.find((d) => d.group === group && d.version === version && d.kind === ref.kind);
    if (!def) return { error: `no matches for kind ${JSON.stringify(ref.kind)} in version ${JSON.stringify(ref.apiVersion)}` };
    if (!def.subresources?.scale) return { error: `${def.group ? `${def.plural}.${def.group}` : def.plural} does not implement the scale subresource` };
    try {
      const scale = await client.getSubresource(def, namespace, ref.name, 'scale', { signal });
      const replicas = (scale as { spec?: { replicas?: unknown } }).spec?.replicas;
      return { found: true, uid: scale.metadata.uid ?? '', replicas: typeof replicas === 'number' ? replicas : 0 };
    } catch (e) {
      if (isNotFound(e)) return { found: false };
      return { error: errText(e) };
    }
  };

  /** Every controller the selected pods name (and the Deployments of their ReplicaSets). */
  const resolveControllers = async (selected: KubeObject[], namespace: string): Promise<Map<string, ControllerLookup>> => {
    const out = new Map<string, ControllerLookup>();
    const follow = async (ref: OwnerReference): Promise<void> => {
      const k = controllerKey(ref);
      if (out.has(k)) return;
      const r = await lookUp(ref, namespace);
      out.set(k, r);
      if ('found' in r && r.found && isReplicaSetRef(ref) && r.controllerRef && isDeploymentRef(r.controllerRef)) await follow(r.controllerRef);
    };
    for (const pod of selected) {
      const ref = controllerOf(pod);
      if (ref) await follow(ref);
    }
    return out;
  };

  // -- reconcile

  const writeBudgetStatus = async (pdb: KubeObject, status: BudgetStatus): Promise<void> => {
    const body: KubeObject = {
      apiVersion: 'policy/v1',
      kind: 'PodDisruptionBudget',
      metadata: { name: pdb.metadata.name, namespace: pdb.metadata.namespace, uid: pdb.metadata.uid, resourceVersion: pdb.metadata.resourceVersion },
      spec: pdb.spec,
      status,
    };
    await client.updateStatus(PDBS, body, { signal });
    writes++;
  };

  const reconcileBudget = async (key: string): Promise<void> => {
    const pdb = budgets.getByKey(key);
    if (!pdb) return;
    const namespace = pdb.metadata.namespace ?? 'default';
    const inNamespace = pods.listByNamespace(namespace);
    const controllers = needsScale(pdb) ? await resolveControllers(inNamespace.filter((p) => selectsPod(pdb, p)), namespace) : new Map<string, ControllerLookup>();
    const result = computeBudgetStatus({ pdb, pods: inNamespace, controllers: (ref) => controllers.get(controllerKey(ref)) ?? { found: false }, now: clock.now() });
    const target: KubeObject = { ...pdb, apiVersion: 'policy/v1', kind: 'PodDisruptionBudget' };
    for (const ev of result.events) {
      const about = ev.about === 'budget' ? target : { ...ev.about, apiVersion: 'v1', kind: 'Pod' };
      recorder.event(about, ev.type, ev.reason, ev.message);
    }
    if (result.syncError) log.warn('failed to sync budget', { poddisruptionbudget: key, error: result.syncError });
    if (result.changed) {
      try {
        await writeBudgetStatus(pdb, result.status);
      } catch (e) {
        if (isNotFound(e)) return;
        throw e;
      }
      log.debug('budget status', { poddisruptionbudget: key, disruptionsAllowed: result.status.disruptionsAllowed, currentHealthy: result.status.currentHealthy, desiredHealthy: result.status.desiredHealthy, expectedPods: result.status.expectedPods });
    }
    if (result.syncError) queue.addAfter(key, SYNC_FAILED_RETRY_MS);
    else if (result.recheckAfterMs !== undefined) queue.addAfter(key, result.recheckAfterMs + 1);
  };

  /** Reset a stale DisruptionTarget=True condition to False. */
  const reconcilePod = async (key: string): Promise<void> => {
    const { namespace, name } = splitKey(key);
    const pod = pods.get(namespace, name);
    if (!pod) return;
    const now = clock.now();
    const wait = staleDisruptionTargetIn(pod, now);
    if (wait === undefined) return;
    if (wait > 0) {
      queue.addAfter(POD_KEY_PREFIX + key, wait);
      return;
    }
    const cond = { type: DISRUPTION_TARGET_CONDITION, status: 'False', reason: null, message: null, lastTransitionTime: rfc3339(now) };
    try {
      await client.patch(PODS, namespace, name, { metadata: { uid: pod.metadata.uid }, status: { conditions: [cond] } }, 'strategic', { subresource: 'status', signal });
      writes++;
      log.info('reset stale DisruptionTarget condition', { pod: key });
    } catch (e) {
      if (!isNotFound(e)) throw e;
    }
  };

  await base.sync();
  base.run(
    Math.max(1, opts.workers ?? 2),
    (key) => (key.startsWith(POD_KEY_PREFIX) ? reconcilePod(key.slice(POD_KEY_PREFIX.length)) : reconcileBudget(key)),
    (key, err, requeues) => {
      if (isConflict(err)) log.debug('status conflict; retrying', { key, retries: requeues });
      else log.warn('sync failed; retrying', { key, error: errText(err), retries: requeues });
    },
  );
  log.info('started', { typedKinds: [...typed.keys()] });

  return {
    get writes() {
      return writes;
    },
    idle: () => base.idle(),
    stop: () => base.stop(),
  };
}

/** The disruption controller for the controller manager. */
export const disruptionController: ControllerFactory = {
  name: 'disruption',
  start: (ctx: ControllerContext) => startDisruptionController({ client: ctx.client, registry: ctx.registry, logger: ctx.logger, informers: ctx.informers }),
};
