// ReplicaSets and ReplicationControllers through the real kubectl against `kennel up`
// (simulated runtime: pods are scheduled, "run" and become Ready without real containers).
// The tests run in order and share one cluster.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startKennel, type Kennel } from '../support/kennel.ts';
import { waitFor } from '../support/wait.ts';

const RS = `apiVersion: apps/v1
kind: ReplicaSet
metadata:
  name: frontend
  labels: {app: guestbook, tier: frontend}
spec:
  replicas: 3
  selector:
    matchLabels: {tier: frontend}
  template:
    metadata:
      labels: {tier: frontend}
    spec:
      containers:
      - name: php-redis
        image: us-docker.pkg.dev/google-samples/containers/gke/gb-frontend:v5
`;

// An old-style manifest: no selector (it defaults to the template's labels).
const RC = `apiVersion: v1
kind: ReplicationController
metadata:
  name: nginx
spec:
  replicas: 2
  template:
    metadata:
      name: nginx
      labels: {app: nginx}
    spec:
      containers:
      - name: nginx
        image: nginx
        ports:
        - containerPort: 80
`;

interface Pod {
  metadata: { name: string; uid: string; deletionTimestamp?: string; ownerReferences?: { kind: string; name: string; controller?: boolean }[] };
  status?: { conditions?: { type: string; status: string }[] };
}

describe('ReplicaSets and ReplicationControllers through kubectl', () => {
  let kn: Kennel;
  before(async () => {
    kn = await startKennel();
  });
  after(async () => {
    await kn?.stop();
  });

  const pods = async (selector: string): Promise<Pod[]> =>
    (JSON.parse(await kn.k(['get', 'pods', '-l', selector, '-o', 'json'])) as { items: Pod[] }).items.filter((p) => !p.metadata.deletionTimestamp);
  const ready = (p: Pod): boolean => (p.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');
  /** `kubectl get <what> -o jsonpath` of desired/current/ready equals want. */
  const counts = (what: string, want: string): Promise<string> =>
    waitFor(
      `${what} at ${want}`,
      async () => {
        const out = await kn.k(['get', what, '-o', 'jsonpath={.spec.replicas}/{.status.replicas}/{.status.readyReplicas}']);
        return out === want ? out : undefined;
      },
      30_000,
      100,
    );

  it('creates a ReplicaSet from YAML and prints it as kubectl get rs does', async () => {
    assert.match(await kn.k(['apply', '-f', '-'], { input: RS }), /^replicaset.apps\/frontend created$/m);
    await counts('rs/frontend', '3/3/3');
    const table = await kn.k(['get', 'rs']);
    assert.match(table, /^NAME\s+DESIRED\s+CURRENT\s+READY\s+AGE\n/);
    assert.match(table, /^frontend\s+3\s+3\s+3\s+\d+s\n/m);
    const wide = await kn.k(['get', 'rs', 'frontend', '-o', 'wide']);
    assert.match(wide, /^NAME\s+DESIRED\s+CURRENT\s+READY\s+AGE\s+CONTAINERS\s+IMAGES\s+SELECTOR\n/);
    assert.match(wide, /\sphp-redis\s+us-docker\.pkg\.dev\/google-samples\/containers\/gke\/gb-frontend:v5\s+tier=frontend\n$/);
    const list = await pods('tier=frontend');
    assert.equal(list.length, 3);
    for (const p of list) {
      assert.match(p.metadata.name, /^frontend-[a-z0-9]{5}$/);
      assert.deepEqual(p.metadata.ownerReferences?.map((r) => [r.kind, r.name, r.controller]), [['ReplicaSet', 'frontend', true]]);
    }
    // Short name and the `all` category.
    assert.match(await kn.k(['get', 'all']), /^replicaset\.apps\/frontend\s+3\s+3\s+3\s/m);
    const describe = await kn.k(['describe', 'rs', 'frontend']);
    assert.match(describe, /^Replicas:\s+3 current \/ 3 desired$/m);
    assert.match(describe, /^Pods Status:\s+3 Running \/ 0 Waiting \/ 0 Succeeded \/ 0 Failed$/m);
    assert.match(describe, /SuccessfulCreate\s+.*Created pod: frontend-[a-z0-9]{5}/);
  });

  it('kubectl scale changes the pod count both ways', async () => {
    assert.match(await kn.k(['scale', 'rs', 'frontend', '--replicas=5']), /^replicaset.apps\/frontend scaled$/m);
    await counts('rs/frontend', '5/5/5');
    await kn.k(['scale', 'rs/frontend', '--replicas=2']);
    await counts('rs/frontend', '2/2/2');
    await waitFor('2 pods left', async () => ((await pods('tier=frontend')).length === 2 ? true : undefined), 30_000, 100);
  });

  it('delete --cascade=orphan keeps the pods; a new ReplicaSet adopts them instead of creating any', async () => {
    const before = (await pods('tier=frontend')).map((p) => p.metadata.uid).sort();
    await kn.k(['delete', 'rs', 'frontend', '--cascade=orphan']);
    await waitFor(
      'orphaned pods',
      async () => {
        const now = await pods('tier=frontend');
        return now.length === 2 && now.every((p) => !p.metadata.ownerReferences?.length) ? now : undefined;
      },
      30_000,
      100,
    );
    await kn.k(['apply', '-f', '-'], { input: RS.replace('replicas: 3', 'replicas: 2') });
    const adopted = await waitFor(
      'adopted pods',
      async () => {
        const now = await pods('tier=frontend');
        return now.length === 2 && now.every((p) => p.metadata.ownerReferences?.[0]?.kind === 'ReplicaSet') ? now : undefined;
      },
      30_000,
      100,
    );
    assert.deepEqual(adopted.map((p) => p.metadata.uid).sort(), before);
    await counts('rs/frontend', '2/2/2');
  });

  it('replaces a pod that is deleted', async () => {
    const before = await pods('tier=frontend');
    await kn.k(['delete', 'pod', before[0].metadata.name, '--wait=false']);
    const after = await waitFor(
      'a replacement pod',
      async () => {
        const now = await pods('tier=frontend');
        return now.length === 2 && !now.some((p) => p.metadata.uid === before[0].metadata.uid) && now.every(ready) ? now : undefined;
      },
      30_000,
      100,
    );
    assert.ok(after.some((p) => p.metadata.uid === before[1].metadata.uid), 'the other pod was kept');
  });

  it('kubectl delete rs removes its pods', async () => {
    assert.match(await kn.k(['delete', 'rs', 'frontend']), /^replicaset.apps "frontend" deleted$/m);
    await waitFor('frontend pods gone', async () => ((await pods('tier=frontend')).length === 0 ? true : undefined), 30_000, 100);
    const r = await kn.kubectl(['get', 'rs', 'frontend']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /replicasets.apps "frontend" not found/);
  });

  it('runs an old-style ReplicationController manifest', async () => {
    assert.match(await kn.k(['create', '-f', '-'], { input: RC }), /^replicationcontroller\/nginx created$/m);
    await counts('rc/nginx', '2/2/2');
    assert.equal(await kn.k(['get', 'rc', 'nginx', '-o', 'jsonpath={.spec.selector.app}']), 'nginx');
    const table = await kn.k(['get', 'rc', '-o', 'wide']);
    assert.match(table, /^NAME\s+DESIRED\s+CURRENT\s+READY\s+AGE\s+CONTAINERS\s+IMAGES\s+SELECTOR\n/);
    assert.match(table, /^nginx\s+2\s+2\s+2\s+\d+s\s+nginx\s+nginx\s+app=nginx\n/m);
    await kn.k(['scale', 'rc', 'nginx', '--replicas=1']);
    await counts('rc/nginx', '1/1/1');
    const [p] = await pods('app=nginx');
    assert.deepEqual(p.metadata.ownerReferences?.map((r) => [r.kind, r.name]), [['ReplicationController', 'nginx']]);
    await kn.k(['delete', 'rc', 'nginx']);
    await waitFor('nginx pods gone', async () => ((await pods('app=nginx')).length === 0 ? true : undefined), 30_000, 100);
  });

  it('refuses a selector that does not match the template labels, and negative replicas', async () => {
    const mismatch = RS.replace('matchLabels: {tier: frontend}', 'matchLabels: {tier: backend}');
    const r1 = await kn.kubectl(['apply', '-f', '-'], { input: mismatch });
    assert.notEqual(r1.code, 0);
    assert.match(r1.stderr, /The ReplicaSet "frontend" is invalid: spec.template.metadata.labels: Invalid value: .*`selector` does not match template `labels`/);

    const negative = RS.replace('replicas: 3', 'replicas: -1');
    const r2 = await kn.kubectl(['create', '-f', '-'], { input: negative });
    assert.notEqual(r2.code, 0);
    assert.match(r2.stderr, /spec.replicas: Invalid value: -1: must be greater than or equal to 0/);

    const r3 = await kn.kubectl(['create', '-f', '-'], { input: RC.replace('  replicas: 2\n', '  replicas: 2\n  selector: {app: other}\n') });
    assert.notEqual(r3.code, 0);
    assert.match(r3.stderr, /The ReplicationController "nginx" is invalid: spec.template.metadata.labels: Invalid value: .*`selector` does not match template `labels`/);
    const none = await kn.kubectl(['get', 'rs,rc']);
    assert.equal(none.stdout, '');
    assert.match(none.stderr, /^No resources found in default namespace\.$/m);
  });
});
