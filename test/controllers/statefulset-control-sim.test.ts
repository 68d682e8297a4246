// The control algorithm round after round against a tiny simulated cluster (actions applied,
// pods become Ready, deleted pods go, the GC removes claims of deleted owners), to check that
// the rounds add up to the documented walk-throughs; plus the execution waves and the Event
// wording of action outcomes.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { KubeObject } from '../../src/registry/types.ts';
import { computeActions, type ControlResult } from '../../src/controllers/statefulset/control.ts';
import { actionEvent, describeAction, executionWaves, type Action } from '../../src/controllers/statefulset/actions.ts';
import { mkSet, withImage, type SetOptions } from './statefulset-fixtures.ts';

const clone = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;

class Cluster {
  set: KubeObject;
  pods = new Map<string, KubeObject>();
  claims = new Map<string, KubeObject>();
  revisions = new Map<string, KubeObject>();
  now = new Date('2025-01-01T12:00:00Z');
  /** `create web-0 [ready: …]`, `delete web-2 (update)` in the order they happened. */
  log: string[] = [];
  rounds = 0;
  private seq = 0;

  constructor(o: SetOptions) {
    this.set = mkSet(o);
  }

  private readyNames(): string[] {
    return [...this.pods.values()]
      .filter((p) => (p.status as { conditions?: Array<{ status: string }> })?.conditions?.[0]?.status === 'True' && !p.metadata.deletionTimestamp)
      .map((p) => p.metadata.name!)
      .sort();
  }

  private apply(actions: Action[]): void {
    const stamp = this.now.toISOString();
    for (const a of actions) {
      switch (a.type) {
        case 'createRevision':
          this.revisions.set(a.name, { ...clone(a.object), metadata: { ...clone(a.object.metadata), uid: `u${++this.seq}`, creationTimestamp: stamp } });
          break;
        case 'updateRevision':
          this.revisions.set(a.name, clone(a.object));
          break;
        case 'deleteRevision':
          this.revisions.delete(a.name);
          break;
        case 'createClaim':
          assert.equal(this.claims.has(a.name), false, `claim ${a.name} created twice`);
          this.claims.set(a.name, { ...clone(a.object), metadata: { ...clone(a.object.metadata), uid: `u${++this.seq}` }, status: { phase: 'Bound' } });
          break;
        case 'updateClaim':
          this.claims.set(a.name, clone(a.object));
          break;
        case 'createPod': {
          assert.equal(this.pods.has(a.name), false, `pod ${a.name} created while it exists`);
          for (const v of (a.object.spec as { volumes?: Array<{ persistentVolumeClaim?: { claimName: string } }> }).volumes ?? []) {
            if (v.persistentVolumeClaim) assert.ok(this.claims.has(v.persistentVolumeClaim.claimName), `claim ${v.persistentVolumeClaim.claimName} before ${a.name}`);
          }
          this.log.push(`create ${a.name} [ready: ${this.readyNames().join(',')}]`);
          this.pods.set(a.name, { ...clone(a.object), metadata: { ...clone(a.object.metadata), uid: `u${++this.seq}` }, status: { phase: 'Pending' } });
          break;
        }
        case 'deletePod': {
          const p = this.pods.get(a.name);
          assert.ok(p && p.metadata.uid === a.uid, `delete ${a.name}: uid precondition`);
          this.log.push(`delete ${a.name} (${a.reason})`);
          p.metadata.deletionTimestamp = stamp;
          break;
        }
        case 'updatePod':
          this.pods.set(a.name, clone(a.object));
          break;
        default:
          break;
      }
    }
  }

  /** The node agent and the garbage collector: terminating pods go, new pods start. */
  private world(): void {
    for (const [name, p] of [...this.pods]) {
      if (p.metadata.deletionTimestamp) {
        this.pods.delete(name);
        for (const [cn, c] of [...this.claims]) {
          if ((c.metadata.ownerReferences ?? []).some((r) => r.uid === p.metadata.uid)) this.claims.delete(cn);
        }
        continue;
      }
      const image = (p.spec as { containers: Array<{ image: string }> }).containers[0].image;
      const phase = (p.status as { phase: string }).phase;
      if (phase === 'Pending') {
        const ready = !image.includes('broken');
        p.status = { phase: 'Running', conditions: [{ type: 'Ready', status: ready ? 'True' : 'False', lastTransitionTime: this.now.toISOString() }] };
      }
    }
    this.now = new Date(this.now.getTime() + 1000);
  }

  step(): ControlResult {
    this.rounds++;
    const r = computeActions({
      set: this.set,
      pods: [...this.pods.values()],
      claims: [...this.claims.values()],
      revisions: [...this.revisions.values()],
      now: this.now,
    });
    this.apply(r.actions);
    if (r.statusChanged) this.set = { ...this.set, status: clone(r.status) };
    this.world();
    return r;
  }

  /** Rounds until nothing changes any more (or the limit, for stuck rollouts). */
  settle(limit = 60): ControlResult {
    let last: ControlResult | undefined;
    for (let i = 0; i < limit; i++) {
      last = this.step();
      if (last.actions.length === 0 && !last.statusChanged) return last;
    }
    assert.ok(last);
    return last;
  }

  spec(change: (spec: Record<string, unknown>) => void): void {
    const set = clone(this.set);
    change(set.spec as Record<string, unknown>);
    set.metadata.generation = (set.metadata.generation ?? 1) + 1;
    this.set = set;
  }

  image(image: string): void {
    this.set = withImage(this.set, image);
  }

  revisionOf(name: string): string | undefined {
    return this.pods.get(name)?.metadata.labels?.['controller-revision-hash'];
  }

  takeLog(): string[] {
    const l = this.log;
    this.log = [];
    return l;
  }
}

describe('statefulset control: walk-throughs against a simulated cluster', () => {
  it('StatefulSet basics: web-0, then web-1 once web-0 is Ready; scale 2 → 5 → 3 keeps the claims', () => {
    const c = new Cluster({ replicas: 2 });
    const done = c.settle();
    assert.deepEqual(c.takeLog(), ['create web-0 [ready: ]', 'create web-1 [ready: web-0]']);
    assert.deepEqual(
      { replicas: done.status.replicas, ready: done.status.readyReplicas, current: done.status.currentReplicas, updated: done.status.updatedReplicas },
      { replicas: 2, ready: 2, current: 2, updated: 2 },
    );
    assert.equal(done.status.currentRevision, done.status.updateRevision);
    assert.equal(c.revisions.size, 1);

    c.spec((s) => (s.replicas = 5));
    c.settle();
    assert.deepEqual(c.takeLog(), ['create web-2 [ready: web-0,web-1]', 'create web-3 [ready: web-0,web-1,web-2]', 'create web-4 [ready: web-0,web-1,web-2,web-3]']);

    c.spec((s) => (s.replicas = 3));
    const after = c.settle();
    assert.deepEqual(c.takeLog(), ['delete web-4 (condemned)', 'delete web-3 (condemned)']);
    assert.deepEqual([...c.claims.keys()].sort(), ['www-web-0', 'www-web-1', 'www-web-2', 'www-web-3', 'www-web-4']);
    assert.equal(after.status.replicas, 3);

    // Deleting web-0 by hand: it comes back with the same name and claim.
    c.pods.get('web-0')!.metadata.deletionTimestamp = c.now.toISOString();
    c.settle();
    assert.deepEqual(c.takeLog(), ['create web-0 [ready: web-1,web-2]']);
  });

  it('Parallel: all pods in the first round', () => {
    const c = new Cluster({ replicas: 5, policy: 'Parallel' });
    const first = c.step();
    assert.equal(first.actions.filter((a) => a.type === 'createPod').length, 5);
    c.settle();
    assert.equal(c.pods.size, 5);
  });

  it('rolling update from the highest ordinal, then rollout undo renumbers revision 1', () => {
    const c = new Cluster({ replicas: 3 });
    c.settle();
    c.takeLog();
    const r1 = c.revisionOf('web-0')!;
    c.image('nginx:1.26');
    const done = c.settle();
    assert.deepEqual(c.takeLog(), [
      'delete web-2 (update)',
      'create web-2 [ready: web-0,web-1]',
      'delete web-1 (update)',
      'create web-1 [ready: web-0,web-2]',
      'delete web-0 (update)',
      'create web-0 [ready: web-1,web-2]',
    ]);
    const r2 = done.status.updateRevision;
    assert.notEqual(r2, r1);
    assert.equal(done.status.currentRevision, r2);
    assert.equal(done.status.currentReplicas, 3);

    // kubectl rollout undo: the template goes back to revision 1's.
    c.image('nginx:1.25');
    const undone = c.settle();
    assert.equal(undone.status.updateRevision, r1, 'the old revision is reused');
    assert.equal(c.revisions.get(r1)?.revision, 3, 'and renumbered after revision 2');
    assert.equal(c.revisions.size, 2);
    for (const p of ['web-0', 'web-1', 'web-2']) assert.equal(c.revisionOf(p), r1);
  });

  it('canary with partition 2, then partition 0 rolls the rest', () => {
    const c = new Cluster({ replicas: 3 });
    c.settle();
    const r1 = c.revisionOf('web-0');
    c.spec((s) => ((s.updateStrategy as { rollingUpdate: { partition: number } }).rollingUpdate.partition = 2));
    c.image('nginx:1.26');
    c.takeLog();
    const canary = c.settle();
    assert.deepEqual(c.takeLog(), ['delete web-2 (update)', 'create web-2 [ready: web-0,web-1]']);
    assert.deepEqual(['web-0', 'web-1', 'web-2'].map((p) => c.revisionOf(p) === r1), [true, true, false]);
    assert.equal(canary.status.currentRevision, r1);
    assert.equal(canary.status.updatedReplicas, 1);

    c.spec((s) => ((s.updateStrategy as { rollingUpdate: { partition: number } }).rollingUpdate.partition = 0));
    const done = c.settle();
    assert.deepEqual(c.takeLog(), ['delete web-1 (update)', 'create web-1 [ready: web-0,web-2]', 'delete web-0 (update)', 'create web-0 [ready: web-1,web-2]']);
    assert.equal(done.status.currentRevision, done.status.updateRevision);
  });

  it('beyond Kubernetes: a rollout stuck on a broken image recovers once the template is fixed', () => {
    const c = new Cluster({ replicas: 3 });
    c.settle();
    c.takeLog();
    c.image('nginx:broken');
    const stuck = c.settle(20);
    assert.match(stuck.waiting ?? '', /web-2 to be Running and Ready/);
    assert.deepEqual(c.takeLog(), ['delete web-2 (update)', 'create web-2 [ready: web-0,web-1]']);

    c.image('nginx:1.27');
    const done = c.settle();
    assert.deepEqual(c.takeLog(), [
      'delete web-2 (outdated-unready)',
      'create web-2 [ready: web-0,web-1]',
      'delete web-1 (update)',
      'create web-1 [ready: web-0,web-2]',
      'delete web-0 (update)',
      'create web-0 [ready: web-1,web-2]',
    ]);
    assert.equal(done.status.readyReplicas, 3);
    assert.equal(done.status.currentRevision, done.status.updateRevision);
  });

  it('whenScaled: Delete — scaled-down claims are removed with their pods, and fresh ones come back', () => {
    const c = new Cluster({ replicas: 3, whenScaled: 'Delete' });
    c.settle();
    const firstUid = c.claims.get('www-web-2')!.metadata.uid;
    c.spec((s) => (s.replicas = 1));
    c.settle();
    assert.deepEqual([...c.claims.keys()].sort(), ['www-web-0']);
    c.spec((s) => (s.replicas = 3));
    c.settle();
    assert.deepEqual([...c.claims.keys()].sort(), ['www-web-0', 'www-web-1', 'www-web-2']);
    assert.notEqual(c.claims.get('www-web-2')!.metadata.uid, firstUid);
  });

  it('history is trimmed to revisionHistoryLimit, keeping the live revisions', () => {
    const c = new Cluster({ replicas: 2, historyLimit: 2 });
    c.settle();
    for (let i = 0; i < 6; i++) {
      c.image(`nginx:1.${30 + i}`);
      c.settle();
    }
    // 7 templates: the live one plus at most 2 of history.
    assert.equal(c.revisions.size, 3);
    const numbers = [...c.revisions.values()].map((r) => r.revision).sort();
    assert.deepEqual(numbers, [5, 6, 7]);
  });
});

describe('statefulset actions: execution waves', () => {
  it('Parallel creation: revisions first, then all claims, then all pods', () => {
    const set = mkSet({ policy: 'Parallel' });
    const r = computeActions({ set, pods: [], claims: [], revisions: [], now: new Date(0) });
    const waves = executionWaves(r.actions).map((w) => w.map(describeAction));
    assert.equal(waves.length, 3);
    assert.match(waves[0][0], /^createRevision web-/);
    assert.deepEqual(waves[1], ['createClaim www-web-0', 'createClaim www-web-1', 'createClaim www-web-2']);
    assert.equal(waves[2].length, 3);
    assert.ok(waves[2].every((d) => d.startsWith('createPod')));
  });

  it('actions without an ordinal at the end (history trimming) form the last wave', () => {
    const a = (type: 'deleteRevision', name: string): Action => ({ type, name });
    const p = (name: string, ordinal: number): Action => ({ type: 'deletePod', name, ordinal, uid: 'u', reason: 'condemned' });
    const waves = executionWaves([p('web-4', 4), p('web-3', 3), a('deleteRevision', 'web-1'), a('deleteRevision', 'web-2')]);
    assert.deepEqual(
      waves.map((w) => w.map((x) => x.name)),
      [['web-4', 'web-3'], ['web-1', 'web-2']],
    );
    assert.deepEqual(executionWaves([]), []);
  });
});

describe('statefulset actions: Events as Kubernetes words them', () => {
  const set = mkSet();
  const obj: KubeObject = { metadata: { name: 'x' } };
  const rows: Array<{ action: Action; error?: { message: string; reason?: string }; want?: string }> = [
    { action: { type: 'createPod', name: 'web-0', ordinal: 0, revision: 'r', object: obj }, want: 'Normal SuccessfulCreate create Pod web-0 in StatefulSet web successful' },
    {
      action: { type: 'createPod', name: 'web-0', ordinal: 0, revision: 'r', object: obj },
      error: { message: 'pods "web-0" is forbidden: exceeded quota' },
      want: 'Warning FailedCreate create Pod web-0 in StatefulSet web failed error: pods "web-0" is forbidden: exceeded quota',
    },
    { action: { type: 'createPod', name: 'web-0', ordinal: 0, revision: 'r', object: obj }, error: { message: 'exists', reason: 'AlreadyExists' } },
    { action: { type: 'deletePod', name: 'web-4', ordinal: 4, uid: 'u', reason: 'condemned' }, want: 'Normal SuccessfulDelete delete Pod web-4 in StatefulSet web successful' },
    { action: { type: 'deletePod', name: 'web-4', ordinal: 4, uid: 'u', reason: 'condemned' }, error: { message: 'gone', reason: 'NotFound' } },
    { action: { type: 'updatePod', name: 'web-1', ordinal: 1, repairs: ['identity'], object: obj }, want: 'Normal SuccessfulUpdate update Pod web-1 in StatefulSet web successful' },
    {
      action: { type: 'createClaim', name: 'www-web-0', ordinal: 0, podName: 'web-0', object: obj },
      want: 'Normal SuccessfulCreate create Claim www-web-0 Pod web-0 in StatefulSet web success',
    },
    {
      action: { type: 'createClaim', name: 'www-web-0', ordinal: 0, podName: 'web-0', object: obj },
      error: { message: 'storageclass "fast" not found' },
      want: 'Warning FailedCreate create Claim www-web-0 for Pod web-0 in StatefulSet web failed error: storageclass "fast" not found',
    },
    {
      action: { type: 'updateClaim', name: 'www-web-0', ordinal: 0, podName: 'web-0', reasons: ['resize'], object: obj },
      want: 'Normal SuccessfulUpdate update Claim www-web-0 Pod web-0 in StatefulSet web success',
    },
    { action: { type: 'updateClaim', name: 'www-web-0', ordinal: 0, podName: 'web-0', reasons: ['retention'], object: obj } },
    {
      action: { type: 'updateClaim', name: 'www-web-0', ordinal: 0, podName: 'web-0', reasons: ['retention'], object: obj },
      error: { message: 'conflict' },
      want: 'Warning FailedUpdate update Pod web-0 in StatefulSet web failed error: could not update claim www-web-0 for delete policy ownerRefs: conflict',
    },
    { action: { type: 'deleteRevision', name: 'web-abc' } },
  ];
  for (const row of rows) {
    it(`${describeAction(row.action)}${row.error ? ` — ${row.error.reason ?? 'error'}` : ''}`, () => {
      const e = actionEvent(set, row.action, row.error);
      assert.equal(e && `${e.type} ${e.reason} ${e.message}`, row.want);
    });
  }
});
