// The Deployment control algorithm as a pure function: (deployment, the ReplicaSets of its
// namespace, the pods of its ReplicaSets, now) → the writes that move the cluster one step
// towards the deployment's spec, the status to write, the Events Kubernetes records for its own
// decisions, and when to look again. No I/O, no clock.
//
// Semantics follow Kubernetes v1.32 pkg/controller/deployment (syncDeployment, sync.go,
// rolling.go, recreate.go, progress.go):
// - A deployment selecting everything gets a Warning SelectingAll and only its
//   observedGeneration written.
// - ReplicaSets: its own (controller reference with its uid) that its selector matches; orphans
//   it matches are adopted, own ones it no longer matches are released (ControllerRefManager).
//   A round that changes ownership does only that; the next one acts on the result.
// - Being deleted: status only. Paused: Progressing Unknown/DeploymentPaused (and
//   DeploymentResumed when it resumes), then only proportional scaling and history clean-up.
//   A resize (an active ReplicaSet's desired-replicas annotation differs from spec.replicas)
//   is also handled by proportional scaling alone; otherwise the strategy rolls out.
// - The new ReplicaSet: the oldest whose template equals the deployment's but for the
//   pod-template-hash label. It is created when missing (name `<deployment>-<hash>`, the hash
//   label in its template, labels and selector, annotations copied from the deployment, revision
//   max(old)+1, desired-replicas and max-replicas); a name held by another ReplicaSet raises
//   collisionCount and hashes again. An existing one gets its annotations and minReadySeconds
//   synced, and a rollback to it renumbers it (revision-history keeps its earlier numbers). The
//   deployment's revision annotation follows its new ReplicaSet's.
// - RollingUpdate: scale the new ReplicaSet up within replicas + maxSurge (rounded up); only
//   when that did nothing, scale old ones down while at least replicas − maxUnavailable (rounded
//   down) stay available — unavailable old replicas first, oldest ReplicaSets first; when the
//   deployment is complete, delete old ReplicaSets beyond revisionHistoryLimit (lowest revision
//   first, only those scaled to 0 and settled).
// - Recreate: scale every old ReplicaSet to 0, wait until none of their pods is left (but
//   Failed/Succeeded ones), then create or scale up the new one to replicas.
// - Status: observedGeneration, replicas / readyReplicas / availableReplicas (Σ over the
//   ReplicaSets' status), updatedReplicas (the new ReplicaSet's), unavailableReplicas
//   (Σ spec − available), collisionCount, and the conditions Available
//   (MinimumReplicasAvailable / MinimumReplicasUnavailable) and, with a progress deadline,
//   Progressing (NewReplicaSetCreated, FoundNewReplicaSet, ReplicaSetUpdated,
//   NewReplicaSetAvailable, ProgressDeadlineExceeded). A rollout that has not progressed is
//   looked at again when its deadline passes.
//
// Writes to one ReplicaSet in a round are merged into one (one create, or one update on top of
// the cached resourceVersion); a stale cache then shows as a 409 and the round is retried.
import type { KubeObject, OwnerReference } from '../../registry/types.ts';
import { asRecord } from '../../registry/validation.ts';
import {
  AVAILABLE,
  FOUND_NEW_RS_REASON,
  MIN_REPLICAS_AVAILABLE,
  MIN_REPLICAS_UNAVAILABLE,
  NEW_RS_AVAILABLE_REASON,
  NEW_RS_CREATED_REASON,
  FAILED_RS_CREATE_REASON,
  PAUSED_REASON,
  POD_TEMPLATE_HASH_LABEL,
  PROGRESSING,
  REPLICASET_KIND,
  REVISION_ANNOTATION,
  RESUMED_REASON,
  RS_UPDATED_REASON,
  TIMED_OUT_REASON,
  activeReplicaSets,
  availableForRollout,
  byCreation,
  byRevision,
  bySizeNewer,
  bySizeOlder,
  computeHash,
  controllerRefOf,
  deploymentControllerRef,
  desiredReplicasOf,
  equalIgnoreHash,
  findActiveOrLatest,
  findNewReplicaSet,
  findOldReplicaSets,
  generationOf,
  getCondition,
  getProportion,
  isBeingDeleted,
  isPaused,
  isRollingUpdate,
  isSaturated,
  maxRevision,
  maxSurge,
  maxUnavailable,
  minReadySeconds,
  nameOf,
  namespaceOf,
  newCondition,
  newRSNewReplicas,
  progressDeadlineSeconds,
  removeCondition,
  replicasAnnotationsNeedUpdate,
  revisionHistoryLimit,
  rsStatusCount,
  selectorMatches,
  selectorOf,
  selectsEverything,
  setCondition,
  setNewReplicaSetAnnotations,
  setReplicasAnnotations,
  specReplicas,
  statusOf,
  strategyType,
  sumAvailableForRollout,
  sumSpecReplicas,
  sumStatus,
  templateOf,
  type DeploymentCondition,
} from './util.ts';
import { clone, compactStatus, deploymentComplete, deploymentProgressing, deploymentTimedOut, readStatus, sameStatus, type DeploymentStatus } from './status.ts';


export { deploymentComplete, deploymentProgressing, deploymentTimedOut };
export type { DeploymentStatus } from './status.ts';

export type DeploymentAction =
  /** Patch the ReplicaSet's ownerReferences (its uid as precondition). */
  | { type: 'adoptReplicaSet' | 'releaseReplicaSet'; name: string; uid: string; ownerReferences: OwnerReference[] }
  | { type: 'createReplicaSet'; name: string; object: KubeObject; replicas: number }
  /** Replace the ReplicaSet (on top of the cached resourceVersion); from/to are spec.replicas. */
  | { type: 'updateReplicaSet'; name: string; object: KubeObject; from: number; to: number }
  | { type: 'deleteReplicaSet'; name: string; uid?: string }
  /** Patch the deployment's deployment.kubernetes.io/revision annotation. */
  | { type: 'setDeploymentRevision'; revision: string };

export interface ControlEvent {
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
}

export interface DeploymentControlInput {
  deployment: KubeObject;
  /** ReplicaSets of the deployment's namespace (its own, orphans, others'). */
  replicaSets: KubeObject[];
  /** Pods controlled by the deployment's ReplicaSets (only Recreate looks at them). */
  pods?: KubeObject[];
  now: Date;
}

export interface DeploymentControlResult {
  /** In the order to carry them out; a failed one ends the round. */
  actions: DeploymentAction[];
  status: DeploymentStatus;
  /** status differs from the deployment's (write it). */
  statusChanged: boolean;
  /** Events about decisions (those about writes come from actionEvent once they succeed). */
  events: ControlEvent[];
  /** Look again after this long (progress deadline checks). */
  requeueAfterMs?: number;
}

/** The Event Kubernetes records once an action succeeded (ScalingReplicaSet), if any. */
export function actionEvent(a: DeploymentAction): ControlEvent | undefined {
  if (a.type === 'createReplicaSet' && a.replicas > 0) {
    return { type: 'Normal', reason: 'ScalingReplicaSet', message: `Scaled up replica set ${a.name} from 0 to ${a.replicas}` };
  }
  if (a.type === 'updateReplicaSet' && a.from !== a.to) {
    const dir = a.to > a.from ? 'up' : 'down';
    return { type: 'Normal', reason: 'ScalingReplicaSet', message: `Scaled ${dir} replica set ${a.name} from ${a.from} to ${a.to}` };
  }
  return undefined;
}

/** The Event and Progressing condition for a ReplicaSet create that failed (getNewReplicaSet). */
export function createFailure(
  d: KubeObject,
  status: DeploymentStatus,
  rsName: string,
  error: string,
  now: Date,
): { event: ControlEvent; status: DeploymentStatus | undefined } {
  const msg = `Failed to create new replica set "${rsName}": ${error}`;
  const event: ControlEvent = { type: 'Warning', reason: FAILED_RS_CREATE_REASON, message: msg };
  if (progressDeadlineSeconds(d) === undefined) return { event, status: undefined };
  const conditions = setCondition(status.conditions ?? [], newCondition(PROGRESSING, 'False', FAILED_RS_CREATE_REASON, msg, now.getTime()));
  return { event, status: { ...status, conditions } };
}

export function describeAction(a: DeploymentAction): string {
  switch (a.type) {
    case 'createReplicaSet':
      return `create replicaset ${a.name} (${a.replicas})`;
    case 'updateReplicaSet':
      return a.from === a.to ? `update replicaset ${a.name}` : `scale replicaset ${a.name} ${a.from}→${a.to}`;
    case 'setDeploymentRevision':
      return `set deployment revision ${a.revision}`;
    case 'deleteReplicaSet':
      return `delete replicaset ${a.name}`;
    case 'adoptReplicaSet':
      return `adopt replicaset ${a.name}`;
    case 'releaseReplicaSet':
      return `release replicaset ${a.name}`;
  }
}

// ---------------------------------------------------------------------------------------------
// One round

interface Tracked {
  orig: KubeObject | undefined;
  cur: KubeObject;
}

class Round {
  readonly d: KubeObject;
  readonly nowMs: number;
  /** The deployment's status as the round changes its conditions (counts stay the cached ones). */
  readonly status: DeploymentStatus;
  readonly cached: DeploymentStatus;
  readonly events: ControlEvent[] = [];
  private readonly tracked = new Map<string, Tracked>();
  private readonly touched: string[] = [];
  private readonly deletes: DeploymentAction[] = [];
  private revision: string | undefined;
  /** The new ReplicaSet and the old ones once found (getAllReplicaSetsAndSyncRevision). */
  private found: { newRS: KubeObject | undefined; oldRSs: KubeObject[] } | undefined;
  requeueAfterMs: number | undefined;

  constructor(
    d: KubeObject,
    now: Date,
    readonly owned: KubeObject[],
    readonly others: KubeObject[],
  ) {
    this.d = d;
    this.nowMs = now.getTime();
    this.cached = readStatus(d);
    this.status = readStatus(d);
    for (const rs of owned) this.tracked.set(nameOf(rs), { orig: rs, cur: rs });
  }

  // -- ReplicaSet working copies

  /** The working copy of rs, to be changed (cloned on first touch). */
  private edit(rs: KubeObject): KubeObject {
    const t = this.tracked.get(nameOf(rs));
    if (!t) throw new Error(`replicaset ${nameOf(rs)} is not tracked`);
    if (t.cur === t.orig) t.cur = clone(t.orig as KubeObject);
    if (!this.touched.includes(nameOf(rs))) this.touched.push(nameOf(rs));
    return t.cur;
  }

  /** The current view of a ReplicaSet (the working copy once changed). */
  view(rs: KubeObject): KubeObject {
    return this.tracked.get(nameOf(rs))?.cur ?? rs;
  }

  views(rss: KubeObject[]): KubeObject[] {
    return rss.map((r) => this.view(r));
  }

  /** scaleReplicaSet: set size and the replicas annotations; true if the size changed. */
  scaleReplicaSet(rs: KubeObject, newScale: number): boolean {
    const v = this.view(rs);
    const sizeNeedsUpdate = specReplicas(v) !== newScale;
    const desired = specReplicas(this.d);
    const max = desired + maxSurge(this.d);
    if (!sizeNeedsUpdate && !replicasAnnotationsNeedUpdate(v, desired, max)) return false;
    const w = this.edit(v);
    asRecord(w.spec).replicas = newScale;
    setReplicasAnnotations(w, desired, max);
    return sizeNeedsUpdate;
  }

  /** scaleReplicaSetAndRecordEvent: nothing when the size is right already. */
  scaleReplicaSetAndRecordEvent(rs: KubeObject, newScale: number): boolean {
    if (specReplicas(this.view(rs)) === newScale) return false;
    return this.scaleReplicaSet(rs, newScale);
  }

  setCondition(c: DeploymentCondition): void {
    this.status.conditions = setCondition(this.status.conditions ?? [], c);
  }

  condition(type: string, status: DeploymentCondition['status'], reason: string, message: string): DeploymentCondition {
    return newCondition(type, status, reason, message, this.nowMs);
  }

  setDeploymentRevision(revision: string): void {
    if ((this.d.metadata.annotations ?? {})[REVISION_ANNOTATION] !== revision) this.revision = revision;
  }

  deleteReplicaSet(rs: KubeObject): void {
    const a: DeploymentAction = { type: 'deleteReplicaSet', name: nameOf(rs) };
    if (rs.metadata.uid) a.uid = rs.metadata.uid;
    this.deletes.push(a);
  }

  // -- the new ReplicaSet

  /**
   * getAllReplicaSetsAndSyncRevision + getNewReplicaSet: the new ReplicaSet (its annotations
   * and minReadySeconds synced, the deployment's revision following it) and the old ones;
   * with create, a missing new ReplicaSet is made.
   */
  newAndOld(create: boolean): { newRS: KubeObject | undefined; oldRSs: KubeObject[] } {
    if (!this.found) {
      const all = this.views(this.owned);
      const existing = findNewReplicaSet(this.d, all);
      const oldRSs = findOldReplicaSets(all, existing);
      const newRevision = maxRevision(oldRSs) + 1;
      let newRS: KubeObject | undefined;
      if (existing) {
        const copy = clone(existing);
        const annotationsUpdated = setNewReplicaSetAnnotations(this.d, copy, newRevision, true);
        const mrsNeedsUpdate = minReadySeconds(copy) !== minReadySeconds(this.d);
        if (annotationsUpdated || mrsNeedsUpdate) {
          const w = this.edit(existing);
          w.metadata.annotations = copy.metadata.annotations;
          asRecord(w.spec).minReadySeconds = minReadySeconds(this.d);
        }
        newRS = this.view(existing);
        this.setDeploymentRevision(newRS.metadata.annotations?.[REVISION_ANNOTATION] ?? String(newRevision));
        if (progressDeadlineSeconds(this.d) !== undefined && !getCondition(this.status.conditions, PROGRESSING)) {
          this.setCondition(this.condition(PROGRESSING, 'True', FOUND_NEW_RS_REASON, `Found new replica set "${nameOf(newRS)}"`));
        }
      }
      this.found = { newRS, oldRSs };
    }
    if (!this.found.newRS && create) this.found.newRS = this.createNewReplicaSet(this.found.oldRSs);
    return { newRS: this.found.newRS && this.view(this.found.newRS), oldRSs: this.views(this.found.oldRSs) };
  }

  private createNewReplicaSet(oldRSs: KubeObject[]): KubeObject {
    const d = this.d;
    const template = templateOf(d);
    let collisionCount = this.status.collisionCount;
    let hash = computeHash(template, collisionCount);
    const taken = new Map<string, KubeObject>();
    for (const rs of [...this.others, ...this.owned]) taken.set(nameOf(rs), rs);
    // A name held by a ReplicaSet that is not this deployment's with this template is a hash
    // collision: count it and hash again (Kubernetes does this over two rounds).
    for (;;) {
      const holder = taken.get(`${nameOf(d)}-${hash}`);
      if (!holder) break;
      const ours = controllerRefOf(holder)?.uid === d.metadata.uid && equalIgnoreHash(templateOf(holder), template);
      if (ours) break;
      collisionCount = (collisionCount ?? 0) + 1;
      hash = computeHash(template, collisionCount);
    }
    if (collisionCount !== this.status.collisionCount) this.status.collisionCount = collisionCount;

    const newTemplate = clone(template);
    const meta = (newTemplate.metadata = asRecord(newTemplate.metadata));
    const labels = { ...(asRecord(meta.labels) as Record<string, string>), [POD_TEMPLATE_HASH_LABEL]: hash };
    meta.labels = labels;
    const selector = clone(selectorOf(d) ?? {});
    selector.matchLabels = { ...(selector.matchLabels ?? {}), [POD_TEMPLATE_HASH_LABEL]: hash };
    const name = `${nameOf(d)}-${hash}`;
    const rs: KubeObject = {
      apiVersion: 'apps/v1',
      kind: REPLICASET_KIND,
      metadata: { name, namespace: namespaceOf(d), labels: { ...labels }, ownerReferences: [deploymentControllerRef(d)] },
      spec: { replicas: 0, minReadySeconds: minReadySeconds(d), selector, template: newTemplate },
    };
    const replicas = newRSNewReplicas(d, [...oldRSs, rs], rs);
    asRecord(rs.spec).replicas = replicas;
    const newRevision = maxRevision(oldRSs) + 1;
    setNewReplicaSetAnnotations(d, rs, newRevision, false);
    this.tracked.set(name, { orig: undefined, cur: rs });
    this.touched.push(name);
    this.setDeploymentRevision(String(newRevision));
    if (progressDeadlineSeconds(d) !== undefined) {
      this.setCondition(this.condition(PROGRESSING, 'True', NEW_RS_CREATED_REASON, `Created new replica set "${name}"`));
    }
    return rs;
  }

  // -- results

  actions(): DeploymentAction[] {
    const out: DeploymentAction[] = [];
    for (const name of this.touched) {
      const t = this.tracked.get(name) as Tracked;
      if (!t.orig) {
        out.push({ type: 'createReplicaSet', name, object: t.cur, replicas: specReplicas(t.cur) });
        continue;
      }
      if (t.cur === t.orig) continue;
      out.push({ type: 'updateReplicaSet', name, object: t.cur, from: specReplicas(t.orig), to: specReplicas(t.cur) });
    }
    if (this.revision !== undefined) out.push({ type: 'setDeploymentRevision', revision: this.revision });
    out.push(...this.deletes);
    return out;
  }

  /** calculateStatus: counts from the ReplicaSets, conditions from the round. */
  calculateStatus(allRSs: KubeObject[], newRS: KubeObject | undefined): DeploymentStatus {
    const available = sumStatus(allRSs, 'availableReplicas');
    const total = sumSpecReplicas(allRSs);
    const s: DeploymentStatus = {
      observedGeneration: generationOf(this.d),
      replicas: sumStatus(allRSs, 'replicas'),
      updatedReplicas: newRS ? rsStatusCount(newRS, 'replicas') : 0,
      readyReplicas: sumStatus(allRSs, 'readyReplicas'),
      availableReplicas: available,
      unavailableReplicas: Math.max(0, total - available),
      conditions: clone(this.status.conditions ?? []),
    };
    if (this.status.collisionCount !== undefined) s.collisionCount = this.status.collisionCount;
    const c =
      available >= specReplicas(this.d) - maxUnavailable(this.d)
        ? this.condition(AVAILABLE, 'True', MIN_REPLICAS_AVAILABLE, 'Deployment has minimum availability.')
        : this.condition(AVAILABLE, 'False', MIN_REPLICAS_UNAVAILABLE, 'Deployment does not have minimum availability.');
    s.conditions = setCondition(s.conditions ?? [], c);
    return s;
  }
}

// ---------------------------------------------------------------------------------------------
// The algorithm

/** ClaimReplicaSets: the deployment's ReplicaSets, and the ownership changes to make. */
export function claimReplicaSets(d: KubeObject, replicaSets: KubeObject[]): { owned: KubeObject[]; others: KubeObject[]; actions: DeploymentAction[] } {
  const owned: KubeObject[] = [];
  const others: KubeObject[] = [];
  const actions: DeploymentAction[] = [];
  const deleting = isBeingDeleted(d);
  for (const rs of replicaSets) {
    if (namespaceOf(rs) !== namespaceOf(d)) continue;
    const ref = controllerRefOf(rs);
    const matches = selectorMatches(d, rs.metadata.labels);
    if (ref) {
      if (ref.uid !== d.metadata.uid) {
        others.push(rs);
        continue;
      }
      if (matches) owned.push(rs);
      else {
        others.push(rs);
        if (!deleting) {
          const refs = (rs.metadata.ownerReferences ?? []).filter((r) => r.uid !== d.metadata.uid);
          actions.push({ type: 'releaseReplicaSet', name: nameOf(rs), uid: rs.metadata.uid ?? '', ownerReferences: refs });
        }
      }
      continue;
    }
    others.push(rs);
    if (deleting || !matches || isBeingDeleted(rs)) continue;
    actions.push({ type: 'adoptReplicaSet', name: nameOf(rs), uid: rs.metadata.uid ?? '', ownerReferences: [...(rs.metadata.ownerReferences ?? []), deploymentControllerRef(d)] });
  }
  return { owned, others, actions };
}

export function computeDeploymentActions(input: DeploymentControlInput): DeploymentControlResult {
  const d = input.deployment;

  if (selectsEverything(d)) {
    const status = readStatus(d);
    const events: ControlEvent[] = [{ type: 'Warning', reason: 'SelectingAll', message: 'This deployment is selecting all pods. A non-empty selector is required.' }];
    if ((status.observedGeneration ?? 0) < generationOf(d)) {
      return { actions: [], status: compactStatus({ ...status, observedGeneration: generationOf(d) }), statusChanged: true, events };
    }
    return { actions: [], status: compactStatus(status), statusChanged: false, events };
  }

  const claim = claimReplicaSets(d, input.replicaSets);
  if (claim.actions.length > 0) {
    return { actions: claim.actions, status: compactStatus(readStatus(d)), statusChanged: false, events: [] };
  }

  const r = new Round(d, input.now, claim.owned, claim.others);
  let status: DeploymentStatus;
  if (isBeingDeleted(d)) {
    status = syncStatusOnly(r);
  } else {
    checkPausedConditions(r);
    if (isPaused(d) || isScalingEvent(r)) status = sync(r);
    else if (strategyType(d) === 'Recreate') status = rolloutRecreate(r, input.pods ?? []);
    else status = rolloutRolling(r);
  }
  const out = compactStatus(status);
  return {
    actions: r.actions(),
    status: out,
    statusChanged: !sameStatus(out, r.cached),
    events: r.events,
    ...(r.requeueAfterMs !== undefined ? { requeueAfterMs: r.requeueAfterMs } : {}),
  };
}

function syncStatusOnly(r: Round): DeploymentStatus {
  const { newRS, oldRSs } = r.newAndOld(false);
  return r.calculateStatus(all(oldRSs, newRS), newRS);
}

function all(oldRSs: KubeObject[], newRS: KubeObject | undefined): KubeObject[] {
  return newRS ? [...oldRSs, newRS] : [...oldRSs];
}

/** checkPausedConditions: Progressing Unknown when pausing or resuming (not over a timeout). */
function checkPausedConditions(r: Round): void {
  if (progressDeadlineSeconds(r.d) === undefined) return;
  const cond = getCondition(r.status.conditions, PROGRESSING);
  if (cond && cond.reason === TIMED_OUT_REASON) return;
  const pausedCondExists = cond !== undefined && cond.reason === PAUSED_REASON;
  if (isPaused(r.d) && !pausedCondExists) r.setCondition(r.condition(PROGRESSING, 'Unknown', PAUSED_REASON, 'Deployment is paused'));
  else if (!isPaused(r.d) && pausedCondExists) r.setCondition(r.condition(PROGRESSING, 'Unknown', RESUMED_REASON, 'Deployment is resumed'));
}

/** isScalingEvent: an active ReplicaSet was last scaled for another spec.replicas. */
function isScalingEvent(r: Round): boolean {
  const { newRS, oldRSs } = r.newAndOld(false);
  for (const rs of activeReplicaSets(all(oldRSs, newRS))) {
    const desired = desiredReplicasOf(rs);
    if (desired !== undefined && desired !== specReplicas(r.d)) return true;
  }
  return false;
}

/** sync: proportional scaling (a resize, or a paused deployment) and, paused, history clean-up. */
function sync(r: Round): DeploymentStatus {
  const found = r.newAndOld(false);
  scale(r, found.newRS, found.oldRSs);
  const { newRS, oldRSs } = r.newAndOld(false);
  if (isPaused(r.d)) cleanupDeployment(r, oldRSs);
  return r.calculateStatus(all(oldRSs, newRS), newRS);
}

/** scale: bring the ReplicaSets' total to replicas (+ maxSurge while rolling), in proportion. */
function scale(r: Round, newRS: KubeObject | undefined, oldRSs: KubeObject[]): void {
  const d = r.d;
  const replicas = specReplicas(d);
  const activeOrLatest = findActiveOrLatest(newRS, oldRSs);
  if (activeOrLatest) {
    if (specReplicas(activeOrLatest) !== replicas) r.scaleReplicaSetAndRecordEvent(activeOrLatest, replicas);
    return;
  }
  if (isSaturated(d, newRS)) {
    for (const old of activeReplicaSets(oldRSs)) r.scaleReplicaSetAndRecordEvent(old, 0);
    return;
  }
  if (!isRollingUpdate(d)) return;
  const allRSs = activeReplicaSets(all(oldRSs, newRS));
  const allowedSize = replicas > 0 ? replicas + maxSurge(d) : 0;
  const toAdd = allowedSize - sumSpecReplicas(allRSs);
  if (toAdd > 0) allRSs.sort(bySizeNewer);
  else if (toAdd < 0) allRSs.sort(bySizeOlder);
  let added = 0;
  const sizes = new Map<string, number>();
  for (const rs of allRSs) {
    if (toAdd !== 0) {
      const p = getProportion(rs, d, toAdd, added);
      sizes.set(nameOf(rs), specReplicas(rs) + p);
      added += p;
    } else sizes.set(nameOf(rs), specReplicas(rs));
  }
  allRSs.forEach((rs, i) => {
    let size = sizes.get(nameOf(rs)) as number;
    if (i === 0 && toAdd !== 0) size = Math.max(0, size + toAdd - added);
    r.scaleReplicaSet(rs, size);
  });
}

/** cleanupDeployment: delete old ReplicaSets beyond revisionHistoryLimit, lowest revision first. */
function cleanupDeployment(r: Round, oldRSs: KubeObject[]): void {
  const limit = revisionHistoryLimit(r.d);
  if (limit === undefined) return;
  const cleanable = oldRSs.filter((rs) => !isBeingDeleted(rs));
  const diff = cleanable.length - limit;
  if (diff <= 0) return;
  cleanable.sort(byRevision);
  for (let i = 0; i < diff; i++) {
    const rs = cleanable[i];
    const observed = typeof statusOf(rs).observedGeneration === 'number' ? (statusOf(rs).observedGeneration as number) : 0;
    if (rsStatusCount(rs, 'replicas') !== 0 || specReplicas(rs) !== 0 || generationOf(rs) > observed) continue;
    r.deleteReplicaSet(rs);
  }
}

// -- RollingUpdate

function rolloutRolling(r: Round): DeploymentStatus {
  let { newRS, oldRSs } = r.newAndOld(true);
  const newOne = newRS as KubeObject;
  if (reconcileNewReplicaSet(r, all(oldRSs, newOne), newOne)) {
    ({ newRS, oldRSs } = r.newAndOld(false));
    return syncRolloutStatus(r, all(oldRSs, newRS), newRS);
  }
  if (reconcileOldReplicaSets(r, all(oldRSs, newOne), activeReplicaSets(oldRSs), newOne)) {
    ({ newRS, oldRSs } = r.newAndOld(false));
    return syncRolloutStatus(r, all(oldRSs, newRS), newRS);
  }
  if (deploymentComplete(r.d, r.cached)) cleanupDeployment(r, oldRSs);
  return syncRolloutStatus(r, all(oldRSs, newRS), newRS);
}

/** reconcileNewReplicaSet: scale the new ReplicaSet towards replicas within maxSurge. */
function reconcileNewReplicaSet(r: Round, allRSs: KubeObject[], newRS: KubeObject): boolean {
  const replicas = specReplicas(r.d);
  if (specReplicas(newRS) === replicas) return false;
  if (specReplicas(newRS) > replicas) return r.scaleReplicaSetAndRecordEvent(newRS, replicas);
  return r.scaleReplicaSetAndRecordEvent(newRS, newRSNewReplicas(r.d, allRSs, newRS));
}

/** reconcileOldReplicaSets: scale old ReplicaSets down as far as maxUnavailable allows. */
function reconcileOldReplicaSets(r: Round, allRSs: KubeObject[], oldRSs: KubeObject[], newRS: KubeObject): boolean {
  if (sumSpecReplicas(oldRSs) === 0) return false;
  const allPodsCount = sumSpecReplicas(allRSs);
  const minAvailable = specReplicas(r.d) - maxUnavailable(r.d);
  const newRSUnavailable = specReplicas(newRS) - availableForRollout(newRS);
  const maxScaledDown = allPodsCount - minAvailable - newRSUnavailable;
  if (maxScaledDown <= 0) return false;
  const cleaned = cleanupUnhealthyReplicas(r, oldRSs, maxScaledDown);
  const scaledDown = scaleDownOldReplicaSetsForRollingUpdate(r, [...r.views(oldRSs), r.view(newRS)], r.views(oldRSs));
  return cleaned + scaledDown > 0;
}

/** cleanupUnhealthyReplicas: drop old replicas that are not available, oldest ReplicaSets first. */
function cleanupUnhealthyReplicas(r: Round, oldRSs: KubeObject[], maxCleanupCount: number): number {
  let total = 0;
  for (const rs of [...oldRSs].sort(byCreation)) {
    if (total >= maxCleanupCount) break;
    const v = r.view(rs);
    const replicas = specReplicas(v);
    if (replicas === 0) continue;
    const unhealthy = replicas - availableForRollout(v);
    if (unhealthy === 0) continue;
    const count = Math.min(maxCleanupCount - total, unhealthy);
    r.scaleReplicaSetAndRecordEvent(v, replicas - count);
    total += count;
  }
  return total;
}

/** scaleDownOldReplicaSetsForRollingUpdate: scale down while replicas − maxUnavailable stay available. */
function scaleDownOldReplicaSetsForRollingUpdate(r: Round, allRSs: KubeObject[], oldRSs: KubeObject[]): number {
  const minAvailable = specReplicas(r.d) - maxUnavailable(r.d);
  const available = sumAvailableForRollout(allRSs);
  if (available <= minAvailable) return 0;
  const totalScaleDown = available - minAvailable;
  let total = 0;
  for (const rs of [...oldRSs].sort(byCreation)) {
    if (total >= totalScaleDown) break;
    const v = r.view(rs);
    if (specReplicas(v) === 0) continue;
    const count = Math.min(specReplicas(v), totalScaleDown - total);
    r.scaleReplicaSetAndRecordEvent(v, specReplicas(v) - count);
    total += count;
  }
  return total;
}

// -- Recreate

function rolloutRecreate(r: Round, pods: KubeObject[]): DeploymentStatus {
  let { newRS, oldRSs } = r.newAndOld(false);
  let scaledDown = false;
  for (const rs of activeReplicaSets(oldRSs)) if (r.scaleReplicaSetAndRecordEvent(rs, 0)) scaledDown = true;
  if (scaledDown) {
    ({ newRS, oldRSs } = r.newAndOld(false));
    return syncRolloutStatus(r, all(oldRSs, newRS), newRS);
  }
  if (oldPodsRunning(newRS, oldRSs, pods)) return syncRolloutStatus(r, all(oldRSs, newRS), newRS);
  if (!newRS) ({ newRS, oldRSs } = r.newAndOld(true));
  r.scaleReplicaSetAndRecordEvent(newRS as KubeObject, specReplicas(r.d));
  ({ newRS, oldRSs } = r.newAndOld(false));
  if (deploymentComplete(r.d, r.cached)) cleanupDeployment(r, oldRSs);
  return syncRolloutStatus(r, all(oldRSs, newRS), newRS);
}

/** oldPodsRunning: an old ReplicaSet still has replicas, or a pod of one is not finished. */
export function oldPodsRunning(newRS: KubeObject | undefined, oldRSs: KubeObject[], pods: KubeObject[]): boolean {
  if (sumStatus(oldRSs, 'replicas') > 0) return true;
  const oldUids = new Set(oldRSs.map((rs) => rs.metadata.uid));
  for (const p of pods) {
    const ref = controllerRefOf(p);
    if (!ref || !oldUids.has(ref.uid) || (newRS && ref.uid === newRS.metadata.uid)) continue;
    const phase = asRecord(p.status).phase;
    if (phase === 'Failed' || phase === 'Succeeded') continue;
    return true;
  }
  return false;
}

// -- progress

/** syncRolloutStatus: the status with the Progressing condition estimated, and when to look again. */
function syncRolloutStatus(r: Round, allRSs: KubeObject[], newRS: KubeObject | undefined): DeploymentStatus {
  const d = r.d;
  const s = r.calculateStatus(allRSs, newRS);
  const pds = progressDeadlineSeconds(d);
  if (pds === undefined) s.conditions = removeCondition(s.conditions ?? [], PROGRESSING);
  const currentCond = getCondition(r.status.conditions, PROGRESSING);
  const isComplete = (s.replicas ?? 0) === (s.updatedReplicas ?? 0) && currentCond?.reason === NEW_RS_AVAILABLE_REASON;
  if (pds !== undefined && !isComplete) {
    if (deploymentComplete(d, s)) {
      const msg = newRS ? `ReplicaSet "${nameOf(newRS)}" has successfully progressed.` : `Deployment "${nameOf(d)}" has successfully progressed.`;
      s.conditions = setCondition(s.conditions ?? [], r.condition(PROGRESSING, 'True', NEW_RS_AVAILABLE_REASON, msg));
    } else if (deploymentProgressing(r.cached, s)) {
      const msg = newRS ? `ReplicaSet "${nameOf(newRS)}" is progressing.` : `Deployment "${nameOf(d)}" is progressing.`;
      const c = r.condition(PROGRESSING, 'True', RS_UPDATED_REASON, msg);
      // Progress refreshes lastUpdateTime even with the same reason (hence not setCondition's
      // "same status and reason: nothing" rule); lastTransitionTime stays while it is True.
      if (currentCond) {
        if (currentCond.status === 'True') c.lastTransitionTime = currentCond.lastTransitionTime;
        s.conditions = removeCondition(s.conditions ?? [], PROGRESSING);
      }
      s.conditions = setCondition(s.conditions ?? [], c);
    } else if (deploymentTimedOut(d, s, r.nowMs)) {
      const msg = newRS ? `ReplicaSet "${nameOf(newRS)}" has timed out progressing.` : `Deployment "${nameOf(d)}" has timed out progressing.`;
      s.conditions = setCondition(s.conditions ?? [], r.condition(PROGRESSING, 'False', TIMED_OUT_REASON, msg));
    }
  }
  r.requeueAfterMs = requeueStuckDeployment(r, s);
  return s;
}

/** requeueStuckDeployment: when a rollout without progress would pass its deadline. */
function requeueStuckDeployment(r: Round, s: DeploymentStatus): number | undefined {
  const pds = progressDeadlineSeconds(r.d);
  const cond = getCondition(r.status.conditions, PROGRESSING);
  if (pds === undefined || !cond) return undefined;
  if (deploymentComplete(r.d, s) || cond.reason === TIMED_OUT_REASON) return undefined;
  // The condition as written this round (a fresh lastUpdateTime when it progressed).
  const written = getCondition(s.conditions, PROGRESSING) ?? cond;
  const last = Date.parse(written.lastUpdateTime ?? '');
  if (Number.isNaN(last)) return undefined;
  const after = last + pds * 1000 - r.nowMs;
  if (after < 1000) return 1000;
  return after + 1000;
}
