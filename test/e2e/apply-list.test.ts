// The real kubectl (1.32) applying `kind: List` documents against `kennel up`. kubectl validates
// the items of a List on the client with the definitions of /openapi/v2, which it asks for as
// protobuf: without that document the apply fails before sending anything.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, writeFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startKennel, type Kennel } from '../support/kennel.ts';

const LIST = `apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: ConfigMap
  metadata: {name: list-one, labels: {app: web}}
  data: {a: "1"}
- apiVersion: v1
  kind: Service
  metadata: {name: web}
  spec:
    selector: {app: web}
    ports:
    - {name: http, port: 80, targetPort: http}
    - {name: alt, port: 81, targetPort: 8081}
- apiVersion: apps/v1
  kind: StatefulSet
  metadata: {name: web}
  spec:
    serviceName: web
    replicas: 1
    selector: {matchLabels: {app: web}}
    template:
      metadata: {labels: {app: web}}
      spec:
        containers:
        - name: c
          image: busybox
          ports: [{name: http, containerPort: 8080}]
          resources: {requests: {cpu: 100m, memory: 64Mi}, limits: {cpu: 1}}
          readinessProbe: {httpGet: {path: /, port: http}}
    volumeClaimTemplates:
    - metadata: {name: data}
      spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}}
`;

const BAD_LIST = `apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: ConfigMap
  metadata: {name: list-good}
  data: {a: "1"}
- apiVersion: v1
  kind: ConfigMap
  metadata: {name: list-bad}
  data: {a: "1"}
  bogus: true
`;

describe('kubectl apply of a List', () => {
  let kn: Kennel;
  let dir: string;
  before(async () => {
    kn = await startKennel();
    dir = await mkdtemp(join(tmpdir(), 'kennel-apply-list-'));
  });
  after(async () => {
    await kn?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('creates every item, then finds them unchanged', async () => {
    const file = join(dir, 'list.yaml');
    await writeFile(file, LIST);
    const out = await kn.k(['apply', '-f', file]);
    assert.match(out, /configmap\/list-one created/);
    assert.match(out, /service\/web created/);
    assert.match(out, /statefulset\.apps\/web created/);
    const cm = JSON.parse(await kn.k(['get', 'configmap', 'list-one', '-o', 'json'])) as { data: Record<string, string> };
    assert.deepEqual(cm.data, { a: '1' });
    const svc = JSON.parse(await kn.k(['get', 'service', 'web', '-o', 'json'])) as { spec: { ports: { targetPort: string | number }[] } };
    assert.deepEqual(
      svc.spec.ports.map((p) => p.targetPort),
      ['http', 8081],
    );
    // A second apply of the same List goes through validation again and finds the items.
    const again = await kn.k(['apply', '-f', file]);
    assert.match(again, /configmap\/list-one unchanged/);
    assert.match(again, /service\/web unchanged/);
    assert.match(again, /statefulset\.apps\/web (unchanged|configured)/);
  });

  it('refuses a List with an unknown field on the client, as against Kubernetes', async () => {
    const file = join(dir, 'bad.yaml');
    await writeFile(file, BAD_LIST);
    const r = await kn.kubectl(['apply', '-f', file]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /unknown field "bogus" in io\.k8s\.api\.core\.v1\.ConfigMap/);
    // Validation runs before anything is sent: not even the valid item was created.
    const get = await kn.kubectl(['get', 'configmap', 'list-good']);
    assert.notEqual(get.code, 0);
    assert.match(get.stderr, /NotFound|not found/);
    // Turning validation off sends the items; the server then drops the unknown field.
    const off = await kn.k(['apply', '--validate=false', '-f', file]);
    assert.match(off, /configmap\/list-bad created/);
  });

  it('kubectl create -f takes a List too', async () => {
    const file = join(dir, 'create.yaml');
    await writeFile(file, 'apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: ConfigMap, metadata: {name: list-created}, data: {x: "y"}}\n');
    const out = await kn.k(['create', '-f', file]);
    assert.match(out, /configmap\/list-created created/);
  });
});
