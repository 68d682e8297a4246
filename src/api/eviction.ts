// The pods/eviction subresource (POST an Eviction): a delete that honours the pod's
// PodDisruptionBudget, as Kubernetes v1.32 pkg/registry/core/pod/storage/eviction.go does.
//
// - A pod that is Pending, Succeeded or Failed, or already being deleted, disrupts nothing: it
//   is deleted without looking at budgets (Running pods with a resourceVersion precondition, so
//   that a pod that has just started running meanwhile goes through the budget check instead).
// - No budget selects the pod: it is deleted. More than one: 500, "This pod has more than one
//   PodDisruptionBudget, which the eviction subresource does not support."
// - The pod is not Ready (not healthy): with unhealthyPodEvictionPolicy AlwaysAllow, or while
//   the budget has its desired healthy pods (currentHealthy ≥ desiredHealthy > 0), it is
//   deleted without spending the budget — with a resourceVersion precondition, so that a pod
//   that became Ready meanwhile is not deleted this way (429, retry).
// - Otherwise the budget is spent: its status must be current (observedGeneration ≥
//   generation, else 429 "still being processed"), disruptionsAllowed must be positive (else
//   429 TooManyRequests, "Cannot evict pod as it would violate the pod's disruption budget.",
//   with a DisruptionBudget cause naming the budget and its counts). disruptionsAllowed is
//   decremented and the pod recorded in status.disruptedPods by a compare-and-swap of the
//   budget's status (re-checked on every conflict), and only then is the pod deleted.
// - Before the delete the pod gets the DisruptionTarget=True condition (reason
//   EvictionByEvictionAPI); the delete honours the Eviction's deleteOptions (grace period,
//   preconditions, dry run).
import type { KubeObject, ResourceDef } from '../registry/types.ts';
import { asArray, asRecord, isRecord, labelSelectorMatches, type LabelSelector } from '../registry/validation.ts';
import { poddisruptionbudgets } from '../registry/poddisruptionbudgets.ts';
import { ApiError, errors, successStatus, type StatusDetails } from './errors.ts';
import { getObject, updateObject, type ResourceContext } from './resources.ts';
import { deleteObject, parseDeleteOptions, type DeleteOptions } from './delete.ts';
import { listObjects } from './list.ts';
import { rfc3339 } from './meta.ts';

export const MULTIPLE_BUDGETS_MESSAGE = 'This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.';
export const BUDGET_VIOLATION_MESSAGE = "Cannot evict pod as it would violate the pod's disruption budget.";
/** Kubernetes refuses evictions once this many are claimed but not yet seen by the controller. */
export const MAX_DISRUPTED_POD_SIZE = 2000;
/** Conflicts retried (Kubernetes' EvictionsRetry has 20 steps). */
const EVICTION_RETRIES = 20;

export interface EvictionOptions {
  /** ?dryRun=All on the request. */
  dryRun: boolean;
  fieldManager: string;
}

/** What the handler answers: the status code and a Status body. */
export interface EvictionReply {
  code: number;
  body: unknown;
}

type Obj = Record<string, unknown>;

function isPodReady(pod: KubeObject): boolean {
  return asArray(asRecord(pod.status).conditions).some((c) => isRecord(c) && c.type === 'Ready' && c.status === 'True');
}

function phaseOf(pod: KubeObject): string {
  const p = asRecord(pod.status).phase;
  return typeof p === 'string' ? p : '';
}

/** A terminal, pending or terminating pod disrupts nothing (canIgnorePDB). */
function canIgnoreBudget(pod: KubeObject): boolean {
  const phase = phaseOf(pod);
  return phase === 'Succeeded' || phase === 'Failed' || phase === 'Pending' || Boolean(pod.metadata.deletionTimestamp);
}

/** Whether the delete must be pinned to the resourceVersion read (shouldEnforceResourceVersion). */
function pinToVersionRead(pod: KubeObject): boolean {
  const phase = phaseOf(pod);
  return !(phase === 'Succeeded' || phase === 'Failed' || pod.metadata.deletionTimestamp);
}

function withVersion(opts: DeleteOptions, rv: string | undefined): DeleteOptions {
  return { ...opts, preconditions: { ...(opts.preconditions ?? {}), resourceVersion: rv } };
}

function isConflictError(e: unknown): boolean {
  return e instanceof ApiError && e.code === 409;
}

/** 429 with a DisruptionBudget cause. */
export function tooManyRequests(causeMessage: string, retryAfterSeconds = 0): ApiError {
  const details: StatusDetails = { causes: [{ reason: 'DisruptionBudget', message: causeMessage }] };
  if (retryAfterSeconds > 0) details.retryAfterSeconds = retryAfterSeconds;
  return new ApiError(429, 'TooManyRequests', BUDGET_VIOLATION_MESSAGE, details);
}

function stillProcessing(budgetName: string): ApiError {
  return tooManyRequests(`The disruption budget ${budgetName} is still being processed by the server.`, 10);
}

/** The budgets of the pod's namespace whose selector selects it (policy/v1: a missing selector
 *  selects nothing, an empty one everything). */
export async function budgetsForPod(ctx: ResourceContext, pod: KubeObject): Promise<KubeObject[]> {
  const page = await listObjects(ctx.objects, poddisruptionbudgets, { namespace: pod.metadata.namespace });
  return page.items.filter((b) => {
    if (b.metadata.namespace !== pod.metadata.namespace) return false;
    const sel = asRecord(b.spec).selector;
    return isRecord(sel) && labelSelectorMatches(sel as LabelSelector, pod.metadata.labels);
  });
}

/** Spend one disruption of the budget (checkAndDecrement), as a compare-and-swap of its status
 *  that is re-checked against the latest budget on every conflict. */
async function spendDisruption(ctx: ResourceContext, budget: KubeObject, podName: string, o: EvictionOptions): Promise<void> {
  const name = budget.metadata.name ?? '';
  await updateObject(
    ctx,
    poddisruptionbudgets,
    budget.metadata.namespace,
    name,
    (cur) => {
      const pdb = cur!;
      const status = { ...asRecord(pdb.status) } as Obj;
      const observed = typeof status.observedGeneration === 'number' ? status.observedGeneration : 0;
      if (observed < (pdb.metadata.generation ?? 0)) throw stillProcessing(name);
      const allowed = typeof status.disruptionsAllowed === 'number' ? status.disruptionsAllowed : 0;
      if (allowed < 0) throw errors.forbidden(`poddisruptionbudget.policy ${JSON.stringify(name)} is forbidden: pdb disruptions allowed is negative`);
      const disrupted = { ...asRecord(status.disruptedPods) };
      if (Object.keys(disrupted).length > MAX_DISRUPTED_POD_SIZE) {
        throw errors.forbidden(`poddisruptionbudget.policy ${JSON.stringify(name)} is forbidden: DisruptedPods map too big - too many evictions not confirmed by PDB controller`);
      }
      if (allowed === 0) {
        const desired = typeof status.desiredHealthy === 'number' ? status.desiredHealthy : 0;
        const healthy = typeof status.currentHealthy === 'number' ? status.currentHealthy : 0;
        throw tooManyRequests(`The disruption budget ${name} needs ${desired} healthy pods and has ${healthy} currently`);
      }
      status.disruptionsAllowed = allowed - 1;
      if (allowed - 1 === 0) status.conditions = insufficientPods(status.conditions, observed, ctx.now());
      disrupted[podName] = rfc3339(ctx.now());
      status.disruptedPods = disrupted;
      pdb.status = status;
      return pdb;
    },
    // The API server writes the budget itself (Kubernetes: through its loopback client).
    { subresource: 'status', fieldManager: 'kube-apiserver', dryRun: o.dryRun },
  );
}

/** The DisruptionAllowed condition turned False/InsufficientPods (its time kept when it was False). */
function insufficientPods(conditions: unknown, observedGeneration: number, now: Date): unknown[] {
  const list = asArray(conditions).map((c) => ({ ...asRecord(c) }));
  const i = list.findIndex((c) => c.type === 'DisruptionAllowed');
  const cond: Obj = { type: 'DisruptionAllowed', status: 'False', reason: 'InsufficientPods', message: '', observedGeneration };
  if (i < 0) list.push({ ...cond, lastTransitionTime: rfc3339(now) });
  else list[i] = { ...list[i], ...cond, lastTransitionTime: list[i].status === 'False' && list[i].lastTransitionTime ? list[i].lastTransitionTime : rfc3339(now) };
  return list;
}

/** Mark the pod DisruptionTarget=True, then delete it (addConditionAndDeletePod). The
 *  condition write checks the delete's preconditions and carries a resourceVersion
 *  precondition over to the version it wrote. */
async function markAndDelete(ctx: ResourceContext, podDef: ResourceDef, ns: string, name: string, opts: DeleteOptions, o: EvictionOptions): Promise<void> {
  let del = opts;
  if (!opts.dryRun) {
    const written = await updateObject(
      ctx,
      podDef,
      ns,
      name,
      (cur) => {
        const pod = cur!;
        const pre = opts.preconditions;
        if (pre?.uid && pre.uid !== pod.metadata.uid) {
          throw errors.conflict('', 'pods', name, `the UID in the precondition (${pre.uid}) does not match the UID in record (${pod.metadata.uid ?? ''}). The object might have been deleted and then recreated`);
        }
        if (pre?.resourceVersion && pre.resourceVersion !== pod.metadata.resourceVersion) {
          throw errors.conflict('', 'pods', name, `the ResourceVersion in the precondition (${pre.resourceVersion}) does not match the ResourceVersion in record (${pod.metadata.resourceVersion ?? ''}). The object might have been modified`);
        }
        const status = { ...asRecord(pod.status) };
        const conditions = asArray(status.conditions).map((c) => ({ ...asRecord(c) }));
        const cond: Obj = { type: 'DisruptionTarget', status: 'True', reason: 'EvictionByEvictionAPI', message: 'Eviction API: evicting' };
        const i = conditions.findIndex((c) => c.type === 'DisruptionTarget');
        if (i < 0) conditions.push({ ...cond, lastProbeTime: null, lastTransitionTime: rfc3339(ctx.now()) });
        else conditions[i] = { ...conditions[i], ...cond, lastTransitionTime: conditions[i].status === 'True' && conditions[i].lastTransitionTime ? conditions[i].lastTransitionTime : rfc3339(ctx.now()) };
        status.conditions = conditions;
        pod.status = status;
        // The store compares; the preconditions were checked against this very version.
        return pod;
      },
      { subresource: 'status', fieldManager: o.fieldManager },
    );
    if (opts.preconditions?.resourceVersion) del = withVersion(opts, written.obj.metadata.resourceVersion);
  }
  await deleteObject(ctx, podDef, ns, name, del);
}

/** The eviction body: an Eviction for this pod, and its deleteOptions. */
function parseEviction(body: unknown, name: string, o: EvictionOptions): DeleteOptions {
  const ev = (isRecord(body) ? body : {}) as { kind?: unknown; metadata?: { name?: unknown }; deleteOptions?: unknown };
  if (ev.kind !== undefined && ev.kind !== 'Eviction') throw errors.badRequest(`expected an Eviction, got a ${String(ev.kind)}`);
  if (ev.metadata?.name !== undefined && ev.metadata.name !== name) throw errors.badRequest('name in URL does not match name in Eviction object');
  const opts = parseDeleteOptions(ev.deleteOptions, new URLSearchParams());
  if (o.dryRun) opts.dryRun = true;
  return opts;
}

const success = (): EvictionReply => ({ code: 201, body: { ...successStatus(), code: 201 } });

/** POST pods/{name}/eviction. */
export async function evictPod(ctx: ResourceContext, podDef: ResourceDef, ns: string, name: string, body: unknown, o: EvictionOptions): Promise<EvictionReply> {
  const original = parseEviction(body, name, o);
  const pinnedByClient = Boolean(original.preconditions?.resourceVersion);

  // Pods that disrupt nothing go at once; a conflict (the pod changed) is looked at again.
  let pod: KubeObject | undefined;
  for (let attempt = 1; ; attempt++) {
    pod = (await getObject(ctx, podDef, ns, name)).obj;
    if (!canIgnoreBudget(pod)) break;
    const opts = pinToVersionRead(pod) && !pinnedByClient ? withVersion(original, pod.metadata.resourceVersion) : original;
    try {
      await markAndDelete(ctx, podDef, ns, name, opts, o);
      return success();
    } catch (e) {
      if (isConflictError(e) && !pinnedByClient && attempt < EVICTION_RETRIES) continue;
      throw e;
    }
  }

  const budgets = await budgetsForPod(ctx, pod);
  if (budgets.length > 1) {
    return { code: 500, body: { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: MULTIPLE_BUDGETS_MESSAGE, code: 500 } };
  }
  let pinToRead = false;
  const budget = budgets[0];
  if (budget) {
    const st = asRecord(budget.status);
    const policy = asRecord(budget.spec).unhealthyPodEvictionPolicy;
    const healthy = typeof st.currentHealthy === 'number' ? st.currentHealthy : 0;
    const desired = typeof st.desiredHealthy === 'number' ? st.desiredHealthy : 0;
    // An unhealthy pod does not count towards the budget: it may go without spending it.
    if (!isPodReady(pod) && (policy === 'AlwaysAllow' || (healthy >= desired && desired > 0))) pinToRead = true;
    else await spendDisruption(ctx, budget, name, o);
  }

  const opts = pinToRead ? withVersion(original, pod.metadata.resourceVersion) : original;
  try {
    await markAndDelete(ctx, podDef, ns, name, opts, o);
  } catch (e) {
    // The pod changed since it was judged unhealthy (it may be Ready now): let the client retry.
    if (isConflictError(e) && pinToRead && !pinnedByClient) throw stillProcessing(budget?.metadata.name ?? '');
    throw e;
  }
  return success();
}
