// Builders for the StatefulSet control-algorithm table tests: a set `web` (service `nginx`,
// selector app=nginx, claim template `www`), its revisions, pods in a given state, claims.
import assert from 'node:assert/strict';
import type { KubeObject, OwnerReference } from '../../src/registry/types.ts';
import { computeActions, type ControlInput, type ControlResult } from '../../src/controllers/statefulset/control.ts';
import { describeAction } from '../../src/controllers/statefulset/actions.ts';
import { newRevision } from '../../src/controllers/statefulset/revision.ts';
import { newStatefulSetPod } from '../../src/controllers/statefulset/pods.ts';
import { newClaim } from '../../src/controllers/statefulset/claims.ts';
import { claimTemplatesOf } from '../../src/controllers/statefulset/set.ts';

export const NOW = new Date('2025-01-01T12:00:00Z');

export interface SetOptions {
  name?: string;
  replicas?: number;
  policy?: 'OrderedReady' | 'Parallel';
  onDelete?: boolean;
  partition?: number;
  maxUnavailable?: number | string;
  minReadySeconds?: number;
  start?: number;
  image?: string;
  /** Storage of the `www` claim template; null for a set without claim templates. */
  storage?: string | null;
  whenDeleted?: 'Retain' | 'Delete';
  whenScaled?: 'Retain' | 'Delete';
  historyLimit?: number;
  generation?: number;
  status?: Record<string, unknown>;
  deleting?: boolean;
}

export function mkSet(o: SetOptions = {}): KubeObject {
  const name = o.name ?? 'web';
  const spec: Record<string, unknown> = {
    replicas: o.replicas ?? 3,
    serviceName: 'nginx',
    podManagementPolicy: o.policy ?? 'OrderedReady',
    selector: { matchLabels: { app: 'nginx' } },
    template: {
      metadata: { labels: { app: 'nginx' } },
      spec: { containers: [{ name: 'nginx', image: o.image ?? 'nginx:1.25' }], restartPolicy: 'Always' },
    },
    updateStrategy: o.onDelete
      ? { type: 'OnDelete' }
      : {
          type: 'RollingUpdate',
          rollingUpdate: { partition: o.partition ?? 0, ...(o.maxUnavailable !== undefined ? { maxUnavailable: o.maxUnavailable } : {}) },
        },
    revisionHistoryLimit: o.historyLimit ?? 10,
    persistentVolumeClaimRetentionPolicy: { whenDeleted: o.whenDeleted ?? 'Retain', whenScaled: o.whenScaled ?? 'Retain' },
  };
  if (o.minReadySeconds !== undefined) spec.minReadySeconds = o.minReadySeconds;
  if (o.start !== undefined) spec.ordinals = { start: o.start };
  if (o.storage !== null) {
    spec.volumeClaimTemplates = [
      {
        apiVersion: 'v1',
        kind: 'PersistentVolumeClaim',
        metadata: { name: 'www' },
        spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: o.storage ?? '1Gi' } }, volumeMode: 'Filesystem' },
        status: { phase: 'Pending' },
      },
    ];
  }
  const metadata: KubeObject['metadata'] = { name, namespace: 'default', uid: `uid-${name}`, generation: o.generation ?? 1 };
  if (o.deleting) metadata.deletionTimestamp = '2025-01-01T11:59:00Z';
  return { apiVersion: 'apps/v1', kind: 'StatefulSet', metadata, spec, status: o.status ?? {} };
}

/** The revision (number n) of the set's current template, as the controller stores it. */
export function revOf(set: KubeObject, n = 1, collisionCount = 0): KubeObject {
  const rev = newRevision(set, n, collisionCount);
  rev.metadata.uid = `uid-${rev.metadata.name}`;
  rev.metadata.creationTimestamp = new Date(NOW.getTime() - (100 - n) * 60_000).toISOString();
  return rev;
}

export type PodState = 'ready' | 'running' | 'pending' | 'failed' | 'succeeded' | 'created';

export interface PodOptions {
  /** Seconds since the Ready condition turned True (default 3600). */
  readyFor?: number;
  deleting?: boolean;
  annotations?: Record<string, string>;
}

/** A pod of the set at an ordinal, made from a revision, in a state. */
export function mkPod(set: KubeObject, ordinal: number, rev: KubeObject, state: PodState = 'ready', o: PodOptions = {}): KubeObject {
  const pod = newStatefulSetPod(set, rev, ordinal);
  pod.metadata.uid = `uid-${pod.metadata.name}`;
  if (o.deleting) pod.metadata.deletionTimestamp = '2025-01-01T11:59:30Z';
  if (o.annotations) pod.metadata.annotations = { ...(pod.metadata.annotations ?? {}), ...o.annotations };
  const since = new Date(NOW.getTime() - (o.readyFor ?? 3600) * 1000).toISOString();
  switch (state) {
    case 'ready':
      pod.status = { phase: 'Running', conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: since }] };
      break;
    case 'running':
      pod.status = { phase: 'Running', conditions: [{ type: 'Ready', status: 'False', lastTransitionTime: since }] };
      break;
    case 'pending':
      pod.status = { phase: 'Pending' };
      break;
    case 'failed':
      pod.status = { phase: 'Failed' };
      break;
    case 'succeeded':
      pod.status = { phase: 'Succeeded' };
      break;
    case 'created':
      pod.status = { phase: 'Pending', conditions: [{ type: 'Ready', status: 'False' }] };
      break;
  }
  return pod;
}

export interface ClaimOptions {
  phase?: 'Bound' | 'Pending';
  storage?: string;
  owners?: OwnerReference[];
  deleting?: boolean;
}

/** The `www` claim of an ordinal, bound by default. */
export function mkClaim(set: KubeObject, ordinal: number, o: ClaimOptions = {}): KubeObject {
  const t = claimTemplatesOf(set)[0];
  const claim = newClaim(set, t, ordinal);
  claim.metadata.uid = `uid-${claim.metadata.name}`;
  claim.metadata.resourceVersion = '42';
  if (o.owners) claim.metadata.ownerReferences = o.owners;
  if (o.deleting) claim.metadata.deletionTimestamp = '2025-01-01T11:59:30Z';
  if (o.storage) {
    const spec = claim.spec as Record<string, Record<string, Record<string, unknown>>>;
    spec.resources.requests.storage = o.storage;
  }
  claim.status = { phase: o.phase ?? 'Bound' };
  return claim;
}

export const setRef = (set: KubeObject): OwnerReference => ({
  apiVersion: 'apps/v1',
  kind: 'StatefulSet',
  name: set.metadata.name ?? '',
  uid: set.metadata.uid ?? '',
  controller: true,
  blockOwnerDeletion: true,
});

export const podRef = (name: string, uid = `uid-${name}`): OwnerReference => ({
  apiVersion: 'v1',
  kind: 'Pod',
  name,
  uid,
  controller: true,
  blockOwnerDeletion: true,
});

/** Run the algorithm with defaults for what the row leaves out. */
export function run(input: Partial<ControlInput> & { set: KubeObject }): ControlResult & { described: string[] } {
  const result = computeActions({ pods: [], claims: [], revisions: [], now: NOW, ...input });
  return { ...result, described: result.actions.map(describeAction) };
}

/** A copy of the set with a new image (a template change) and the next generation. */
export function withImage(set: KubeObject, image: string): KubeObject {
  const copy = JSON.parse(JSON.stringify(set)) as KubeObject;
  const spec = copy.spec as { template: { spec: { containers: Array<{ image: string }> } } };
  spec.template.spec.containers[0].image = image;
  copy.metadata.generation = (copy.metadata.generation ?? 1) + 1;
  return copy;
}

/** Bound `www` claims of these ordinals. */
export function claimsFor(set: KubeObject, ordinals: number[], o: ClaimOptions = {}): KubeObject[] {
  return ordinals.map((i) => mkClaim(set, i, o));
}

export interface Row {
  name: string;
  set: KubeObject;
  pods?: KubeObject[];
  claims?: KubeObject[];
  revisions?: KubeObject[];
  /** The exact actions, as describeAction prints them. */
  want: string[];
  /** What the round says it waits for (absent: it waits for nothing). */
  waiting?: RegExp;
  /** `<reason>: <message>` of the events the round records (absent: none). */
  events?: string[];
  /** Extra checks on the result. */
  check?: (r: ReturnType<typeof run>) => void;
}

/** One node:test case per row. */
export function table(it: (name: string, fn: () => void) => unknown, rows: Row[]): void {
  for (const row of rows) {
    it(row.name, () => {
      const r = run({ set: row.set, pods: row.pods ?? [], claims: row.claims ?? [], revisions: row.revisions ?? [] });
      assert.deepEqual(r.described, row.want);
      if (row.waiting) assert.match(r.waiting ?? '(nothing)', row.waiting);
      else assert.equal(r.waiting, undefined, `unexpected wait: ${r.waiting}`);
      assert.deepEqual(
        r.events.map((e) => `${e.reason}: ${e.message}`),
        row.events ?? [],
      );
      row.check?.(r);
    });
  }
}
