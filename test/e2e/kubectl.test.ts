// The real kubectl (1.32) against `kennel up`: the commands users type, as they type them.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, writeFile, rm, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startKennel, type Kennel } from '../support/kennel.ts';

const STS = `apiVersion: v1
kind: Service
metadata:
  name: nginx
  labels: {app: nginx}
spec:
  ports:
  - port: 80
    name: web
  clusterIP: None
  selector: {app: nginx}
---
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: web
spec:
  selector:
    matchLabels: {app: nginx}
  serviceName: nginx
  replicas: 2
  template:
    metadata:
      labels: {app: nginx}
    spec:
      containers:
      - name: nginx
        image: nginx:1.25
        ports:
        - containerPort: 80
          name: web
        volumeMounts:
        - name: www
          mountPath: /usr/share/nginx/html
  volumeClaimTemplates:
  - metadata:
      name: www
    spec:
      accessModes: ["ReadWriteOnce"]
      resources:
        requests:
          storage: 1Gi
`;

describe('kubectl against kennel up', () => {
  let kn: Kennel;
  let dir: string;
  before(async () => {
    kn = await startKennel();
    dir = await mkdtemp(join(tmpdir(), 'kennel-kubectl-'));
  });
  after(async () => {
    await kn?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('version, api-resources with short names and categories', async () => {
    const v = await kn.k(['version', '-o', 'json']);
    assert.equal(JSON.parse(v).serverVersion.minor, '32');
    const ar = await kn.k(['api-resources']);
    assert.match(ar, /^statefulsets\s+sts\s+apps\/v1\s+true\s+StatefulSet$/m);
    assert.match(ar, /^pods\s+po\s+v1\s+true\s+Pod$/m);
    const all = await kn.k(['api-resources', '--categories=all', '-o', 'name']);
    for (const r of ['pods', 'services', 'statefulsets.apps', 'daemonsets.apps']) assert.ok(all.split('\n').includes(r), r);
  });

  it('create namespace|configmap|secret (protobuf bodies) and auth can-i', async () => {
    assert.match(await kn.k(['create', 'namespace', 'e2e']), /namespace\/e2e created/);
    assert.match(await kn.k(['create', 'configmap', 'cfg', '-n', 'e2e', '--from-literal=a=1', '--from-literal=b=2']), /configmap\/cfg created/);
    assert.match(await kn.k(['create', 'secret', 'generic', 'sec', '-n', 'e2e', '--from-literal=password=s3cr3t']), /secret\/sec created/);
    assert.equal(await kn.k(['get', 'secret', 'sec', '-n', 'e2e', '-o', 'jsonpath={.data.password}']), Buffer.from('s3cr3t').toString('base64'));
    assert.equal((await kn.k(['auth', 'can-i', 'create', 'statefulsets'])).trim(), 'yes');
    const dup = await kn.kubectl(['create', 'namespace', 'e2e']);
    assert.equal(dup.code, 1);
    assert.match(dup.stderr, /Error from server \(AlreadyExists\): namespaces "e2e" already exists/);
  });

  it('apply (client-side, a directory, kustomize), get in every output, scale, patch', async () => {
    const d = join(dir, 'manifests');
    await mkdir(d, { recursive: true });
    await writeFile(join(d, 'web.yaml'), STS);
    await writeFile(join(d, 'kustomization.yaml'), 'resources:\n- web.yaml\nnamespace: default\n');
    const applied = await kn.k(['apply', '-f', join(d, 'web.yaml')]);
    assert.match(applied, /service\/nginx created/);
    assert.match(applied, /statefulset.apps\/web created/);
    const k = await kn.k(['apply', '-k', d]);
    assert.match(k, /statefulset.apps\/web (unchanged|configured)/);
    const table = await kn.k(['get', 'sts']);
    assert.match(table, /^NAME\s+READY\s+AGE$/m);
    assert.match(table, /^web\s+\d\/2\s+\d+s$/m);
    const wide = await kn.k(['get', 'sts', '-o', 'wide']);
    assert.match(wide, /^NAME\s+READY\s+AGE\s+CONTAINERS\s+IMAGES$/m);
    assert.match(wide, /^web\s+\d\/2\s+\S+\s+nginx\s+nginx:1\.25$/m);
    assert.equal(await kn.k(['get', 'sts', 'web', '-o', 'name']), 'statefulset.apps/web\n');
    assert.equal(JSON.parse(await kn.k(['get', 'sts', 'web', '-o', 'json'])).spec.podManagementPolicy, 'OrderedReady');
    assert.match(await kn.k(['get', 'sts', 'web', '-o', 'yaml']), /revisionHistoryLimit: 10/);
    assert.match(await kn.k(['scale', 'statefulset', 'web', '--replicas=5']), /statefulset.apps\/web scaled/);
    assert.equal(await kn.k(['get', 'sts', 'web', '-o', 'jsonpath={.spec.replicas}']), '5');
    await kn.k(['patch', 'statefulset', 'web', '--type=json', '-p', '[{"op":"replace","path":"/spec/template/spec/containers/0/image","value":"nginx:1.26"}]']);
    await kn.k(['patch', 'statefulset', 'web', '-p', '{"spec":{"updateStrategy":{"type":"RollingUpdate","rollingUpdate":{"partition":2}}}}']);
    await kn.k(['patch', 'statefulset', 'web', '--type=merge', '-p', '{"metadata":{"labels":{"tier":"db"}}}']);
    const sts = JSON.parse(await kn.k(['get', 'sts', 'web', '-o', 'json']));
    assert.equal(sts.spec.template.spec.containers[0].image, 'nginx:1.26');
    assert.equal(sts.spec.updateStrategy.rollingUpdate.partition, 2);
    assert.equal(sts.metadata.labels.tier, 'db');
    assert.equal(sts.metadata.generation, 4);
    const bad = await kn.kubectl(['patch', 'statefulset', 'web', '--type=merge', '-p', '{"spec":{"replicas":-1}}']);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /spec.replicas: Invalid value: -1: must be greater than or equal to 0/);
  });

  it('server-side apply records managed fields and reports conflicts', async () => {
    const f = join(dir, 'ssa.yaml');
    await writeFile(f, 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ssa\ndata:\n  a: "1"\n');
    assert.match(await kn.k(['apply', '--server-side', '-f', f]), /configmap\/ssa serverside-applied/);
    const cm = JSON.parse(await kn.k(['get', 'cm', 'ssa', '-o', 'json', '--show-managed-fields']));
    const entry = cm.metadata.managedFields.find((m: { manager: string }) => m.manager === 'kubectl');
    assert.equal(entry.operation, 'Apply');
    assert.ok(entry.fieldsV1['f:data']['f:a']);
    await writeFile(f, 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ssa\ndata:\n  a: "2"\n');
    const conflict = await kn.kubectl(['apply', '--server-side', '--field-manager=other', '-f', f]);
    assert.equal(conflict.code, 1);
    assert.match(conflict.stderr, /conflict/i);
    await kn.k(['apply', '--server-side', '--field-manager=other', '--force-conflicts', '-f', f]);
    assert.equal(await kn.k(['get', 'cm', 'ssa', '-o', 'jsonpath={.data.a}']), '2');
  });

  it('replace, edit with an EDITOR script, label, annotate, -l and --sort-by', async () => {
    await kn.k(['create', 'configmap', 'ed', '--from-literal=k=before']);
    const y = await kn.k(['get', 'cm', 'ed', '-o', 'yaml']);
    const f = join(dir, 'ed.yaml');
    await writeFile(f, y.replace('k: before', 'k: replaced'));
    assert.match(await kn.k(['replace', '-f', f]), /configmap\/ed replaced/);
    const editor = join(dir, 'editor.sh');
    await writeFile(editor, '#!/bin/sh\nsed -i "s/k: replaced/k: edited/" "$1"\n', { mode: 0o755 });
    assert.match(await kn.k(['edit', 'cm', 'ed'], { env: { EDITOR: editor } }), /configmap\/ed edited/);
    assert.equal(await kn.k(['get', 'cm', 'ed', '-o', 'jsonpath={.data.k}']), 'edited');
    await kn.k(['label', 'cm', 'ed', 'team=blue']);
    await kn.k(['annotate', 'cm', 'ed', 'note=hello']);
    await kn.k(['create', 'configmap', 'aa']);
    await kn.k(['label', 'cm', 'aa', 'team=blue']);
    assert.equal(await kn.k(['get', 'cm', '-l', 'team=blue', '-o', 'name', '--sort-by=.metadata.name']), 'configmap/aa\nconfigmap/ed\n');
    const cols = await kn.k(['get', 'cm', '-l', 'team=blue', '--sort-by=.metadata.name', '-o', 'custom-columns=NAME:.metadata.name,NOTE:.metadata.annotations.note']);
    assert.match(cols, /^aa\s+<none>$/m);
    assert.match(cols, /^ed\s+hello$/m);
    const allNs = await kn.k(['get', 'ns', '-A']);
    assert.match(allNs, /^kube-system\s+Active/m);
  });

  it('get -w streams changes', async () => {
    const watcher = kn.kubectl(['get', 'cm', '-w', '--field-selector=metadata.name=watched'], { timeoutMs: 4000 });
    await new Promise((r) => setTimeout(r, 1200));
    await kn.k(['create', 'configmap', 'watched', '--from-literal=x=1']);
    const r = await watcher;
    assert.match(r.stdout, /^watched\s+1\s+\S+$/m);
  });

  it('describe shows a pod, a node and a statefulset with their events', async () => {
    const node = join(dir, 'node.yaml');
    await writeFile(node, 'apiVersion: v1\nkind: Node\nmetadata:\n  name: n1\n  labels:\n    kubernetes.io/hostname: n1\nspec:\n  taints:\n  - key: example.com/test-only\n    effect: NoSchedule\n');
    await kn.k(['create', '-f', node]);
    const ev = join(dir, 'event.yaml');
    const uid = await kn.k(['get', 'sts', 'web', '-o', 'jsonpath={.metadata.uid}']);
    await writeFile(
      ev,
      `apiVersion: v1\nkind: Event\nmetadata:\n  name: web.1\ninvolvedObject:\n  apiVersion: apps/v1\n  kind: StatefulSet\n  name: web\n  namespace: default\n  uid: ${uid}\n` + 'reason: SuccessfulCreate\nmessage: create Pod web-0 in StatefulSet web successful\ntype: Normal\nsource:\n  component: statefulset-controller\ncount: 1\n',
    );
    await kn.k(['create', '-f', ev]);
    const d = await kn.k(['describe', 'statefulset', 'web']);
    assert.match(d, /^Name:\s+web$/m);
    assert.match(d, /Normal\s+SuccessfulCreate\s+.*statefulset-controller\s+create Pod web-0 in StatefulSet web successful/);
    assert.match(await kn.k(['describe', 'node', 'n1']), /^Name:\s+n1$/m);
    await kn.k(['run', 'solo', '--image=busybox', '--', 'sleep', '1000']);
    await kn.k(['wait', '--for=condition=Ready', 'pod/solo', '--timeout=20s']);
    const p = await kn.k(['describe', 'pod', 'solo']);
    assert.match(p, /^Status:\s+Running$/m);
    assert.match(p, /node.kubernetes.io\/not-ready:NoExecute op=Exists for 300s/);
    assert.match(p, /Normal\s+Scheduled\s+.*default-scheduler\s+Successfully assigned default\/solo to /);
    assert.match(p, /Normal\s+Started\s+.*kubelet\s+Started container solo/);
  });

  it('wait --for=condition and --for=delete, delete --wait', async () => {
    await kn.k(['run', 'waiter', '--image=busybox', '--', 'sleep', '1000']);
    const waiting = kn.kubectl(['wait', '--for=condition=Ready', 'pod/waiter', '--timeout=10s']);
    await new Promise((r) => setTimeout(r, 500));
    await kn.k(['patch', 'pod', 'waiter', '--subresource=status', '--type=merge', '-p', '{"status":{"conditions":[{"type":"Ready","status":"True"}]}}']);
    const w = await waiting;
    assert.equal(w.code, 0, w.stderr);
    assert.match(w.stdout, /pod\/waiter condition met/);
    const gone = kn.kubectl(['wait', '--for=delete', 'pod/waiter', '--timeout=10s']);
    await new Promise((r) => setTimeout(r, 300));
    assert.match(await kn.k(['delete', 'pod', 'waiter', '--wait']), /pod "waiter" deleted/);
    assert.equal((await gone).code, 0);
  });

  it('delete --cascade=orphan|foreground|background through the garbage collector', async () => {
    const owner = async (name: string) => {
      await kn.k(['create', 'configmap', name]);
      return kn.k(['get', 'cm', name, '-o', 'jsonpath={.metadata.uid}']);
    };
    const dependent = async (name: string, ownerName: string, uid: string) => {
      const f = join(dir, `${name}.yaml`);
      await writeFile(f, `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\n  ownerReferences:\n  - apiVersion: v1\n    kind: ConfigMap\n    name: ${ownerName}\n    uid: ${uid}\n    blockOwnerDeletion: true\n`);
      await kn.k(['create', '-f', f]);
    };
    const exists = async (name: string) => (await kn.kubectl(['get', 'cm', name])).code === 0;
    const until = async (cond: () => Promise<boolean>, what: string) => {
      const deadline = Date.now() + 15000;
      while (!(await cond())) {
        if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    };
    await dependent('orphan-dep', 'orphan-owner', await owner('orphan-owner'));
    assert.match(await kn.k(['delete', 'cm', 'orphan-owner', '--cascade=orphan', '--wait']), /deleted/);
    assert.equal(await exists('orphan-owner'), false);
    assert.equal(await exists('orphan-dep'), true);
    assert.equal(await kn.k(['get', 'cm', 'orphan-dep', '-o', 'jsonpath={.metadata.ownerReferences}']), '');
    await dependent('fg-dep', 'fg-owner', await owner('fg-owner'));
    assert.match(await kn.k(['delete', 'cm', 'fg-owner', '--cascade=foreground', '--wait']), /deleted/);
    assert.equal(await exists('fg-dep'), false);
    await dependent('bg-dep', 'bg-owner', await owner('bg-owner'));
    await kn.k(['delete', 'cm', 'bg-owner']);
    await until(async () => !(await exists('bg-dep')), 'the background dependent to go');
  });

  it('errors read as Kubernetes errors', async () => {
    const nf = await kn.kubectl(['get', 'sts', 'nope']);
    assert.equal(nf.code, 1);
    assert.equal(nf.stderr.trim(), 'Error from server (NotFound): statefulsets.apps "nope" not found');
    const unknown = await kn.kubectl(['get', 'widgets']);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /the server doesn't have a resource type "widgets"/);
    const f = join(dir, 'bad.yaml');
    await writeFile(f, 'apiVersion: apps/v1\nkind: StatefulSet\nmetadata:\n  name: bad\nspec:\n  selector:\n    matchLabels: {app: a}\n  template:\n    metadata:\n      labels: {app: b}\n    spec:\n      containers:\n      - name: c\n        image: x\n');
    const inv = await kn.kubectl(['apply', '-f', f]);
    assert.equal(inv.code, 1);
    assert.match(inv.stderr, /The StatefulSet "bad" is invalid: spec.template.metadata.labels: Invalid value: .*`selector` does not match template `labels`/);
    await writeFile(f, 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: typo\ndata: {a: "1"}\nbogus: true\n');
    const strict = await kn.kubectl(['apply', '-f', f]);
    assert.equal(strict.code, 1);
    assert.match(strict.stderr, /strict decoding error: unknown field "bogus"/);
  });
});
