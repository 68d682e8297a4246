// pods/binding and pod status writes against a real API server (memory store): what a binding
// sets and every refusal it can answer with, and the managed fields and no-op handling of the
// write paths the node agents and the scheduler use most (merge patches to status, bindings).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type TestServer } from '../support/apiserver.ts';

const NS = 'default';
type Obj = Record<string, any>;

interface StatusBody {
  kind: string;
  code: number;
  reason?: string;
  message?: string;
  details?: { causes?: { reason?: string; message?: string; field?: string }[] };
}

describe('pods/binding and pod status writes', () => {
  let ts: TestServer;
  let n = 0;

  before(async () => {
    ts = await startTestServer();
  });
  after(async () => {
    await ts?.stop();
  });

  const podPath = (name = '') => `/api/v1/namespaces/${NS}/pods${name ? '/' + name : ''}`;

  async function makePod(spec: Obj = {}): Promise<Obj> {
    const name = `bp-${++n}`;
    const r = await ts.request('POST', `${podPath()}?fieldManager=creator`, {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name, labels: { app: 'x' } },
      spec: { containers: [{ name: 'c', image: 'nginx', ports: [{ containerPort: 80 }] }], ...spec },
    });
    assert.equal(r.status, 201, r.text);
    return r.json<Obj>();
  }

  const bind = (name: string, body: unknown, manager = 'sched') =>
    ts.request('POST', `${podPath(name)}/binding?fieldManager=${manager}`, body);
  const binding = (name: string, node: unknown) => ({ apiVersion: 'v1', kind: 'Binding', metadata: { name }, target: { apiVersion: 'v1', kind: 'Node', name: node } });

  it('binds: sets spec.nodeName and the PodScheduled condition, and leaves managed fields alone', async () => {
    const pod = await makePod();
    const name = pod.metadata.name as string;
    const r = await bind(name, binding(name, 'node-1'));
    assert.equal(r.status, 201, r.text);
    assert.equal(r.json<StatusBody>().kind, 'Status');
    const got = (await ts.request('GET', podPath(name))).json<Obj>();
    assert.equal(got.spec.nodeName, 'node-1');
    const cond = (got.status.conditions as Obj[]).find((c) => c.type === 'PodScheduled');
    assert.equal(cond?.status, 'True');
    assert.notEqual(got.metadata.resourceVersion, pod.metadata.resourceVersion);
    // Everything else of the spec is as created.
    assert.deepEqual({ ...got.spec, nodeName: undefined }, { ...pod.spec, nodeName: undefined });
    // As Kubernetes' binding storage: the pod is written straight through, its managed fields
    // as they were (real clusters show no scheduler entry for spec.nodeName).
    assert.deepEqual(got.metadata.managedFields, pod.metadata.managedFields, 'managed fields untouched by the binding');
    assert.equal((got.metadata.managedFields as Obj[]).some((e) => e.manager === 'sched'), false);
  });

  it('refuses a pod already bound with 409, even to an invalid node name', async () => {
    const pod = await makePod({ nodeName: 'node-1' });
    const name = pod.metadata.name as string;
    for (const node of ['node-2', 'Not_A_Node']) {
      const r = await bind(name, binding(name, node));
      assert.equal(r.status, 409, r.text);
      assert.equal(r.json<StatusBody>().reason, 'Conflict');
      assert.match(r.json<StatusBody>().message ?? '', /already assigned to node "node-1"/);
    }
    assert.equal((await ts.request('GET', podPath(name))).json<Obj>().spec.nodeName, 'node-1');
  });

  it('refuses an invalid node name with 422 naming spec.nodeName, and binds nothing', async () => {
    const pod = await makePod();
    const name = pod.metadata.name as string;
    const r = await bind(name, binding(name, 'Not_A_Node'));
    assert.equal(r.status, 422, r.text);
    const body = r.json<StatusBody>();
    assert.equal(body.reason, 'Invalid');
    assert.deepEqual(
      body.details?.causes?.map((c) => c.field),
      ['spec.nodeName'],
    );
    assert.match(body.details?.causes?.[0]?.message ?? '', /Invalid value: "Not_A_Node"/);
    const got = (await ts.request('GET', podPath(name))).json<Obj>();
    assert.equal(got.spec.nodeName, undefined);
    assert.equal(got.metadata.resourceVersion, pod.metadata.resourceVersion);
  });

  it('refuses a binding without a target name (422), of a missing pod (404), of a pod being deleted (409)', async () => {
    const pod = await makePod();
    const name = pod.metadata.name as string;
    const noTarget = await bind(name, { apiVersion: 'v1', kind: 'Binding', metadata: { name } });
    assert.equal(noTarget.status, 422, noTarget.text);
    assert.equal(noTarget.json<StatusBody>().details?.causes?.[0]?.field, 'target.name');

    const missing = await bind('no-such-pod', binding('no-such-pod', 'node-1'));
    assert.equal(missing.status, 404, missing.text);

    // A finalizer keeps the pod around once deleted (grace 0: no kubelet to wait for).
    const fin = await ts.request('PATCH', podPath(name), { metadata: { finalizers: ['example.com/hold'] } }, { 'content-type': 'application/merge-patch+json' });
    assert.equal(fin.status, 200, fin.text);
    const del = await ts.request('DELETE', `${podPath(name)}?gracePeriodSeconds=0`);
    assert.ok(del.status === 200 || del.status === 202, del.text);
    const deleting = await bind(name, binding(name, 'node-1'));
    assert.equal(deleting.status, 409, deleting.text);
    assert.match(deleting.json<StatusBody>().message ?? '', /being deleted/);
    const clear = await ts.request('PATCH', podPath(name), { metadata: { finalizers: null } }, { 'content-type': 'application/merge-patch+json' });
    assert.equal(clear.status, 200, clear.text);
  });

  it('a dry-run binding changes nothing', async () => {
    const pod = await makePod();
    const name = pod.metadata.name as string;
    const r = await ts.request('POST', `${podPath(name)}/binding?dryRun=All`, binding(name, 'node-1'));
    assert.equal(r.status, 201, r.text);
    const got = (await ts.request('GET', podPath(name))).json<Obj>();
    assert.equal(got.spec.nodeName, undefined);
    assert.equal(got.metadata.resourceVersion, pod.metadata.resourceVersion);
  });

  it('field selectors on what bindings and status writes set: spec.nodeName, status.phase, metadata.*', async () => {
    const a = (await makePod()).metadata.name as string;
    const b = (await makePod()).metadata.name as string;
    assert.equal((await bind(a, binding(a, 'node-a'))).status, 201);
    assert.equal((await bind(b, binding(b, 'node-b'))).status, 201);
    const st = await ts.request('PATCH', `${podPath(b)}/status`, { status: { phase: 'Running' } }, { 'content-type': 'application/merge-patch+json' });
    assert.equal(st.status, 200, st.text);
    const names = async (selector: string) => {
      const r = await ts.request('GET', `${podPath()}?fieldSelector=${encodeURIComponent(selector)}`);
      assert.equal(r.status, 200, r.text);
      return (r.json<Obj>().items as Obj[]).map((p) => p.metadata.name as string).filter((n) => n === a || n === b).sort();
    };
    assert.deepEqual(await names('spec.nodeName=node-a'), [a]);
    assert.deepEqual(await names('spec.nodeName!=node-a'), [b]);
    assert.deepEqual(await names(`spec.nodeName=node-b,status.phase=Running,metadata.namespace=${NS}`), [b]);
    assert.deepEqual(await names('status.phase=Running,spec.nodeName=node-a'), []);
    assert.deepEqual(await names(`metadata.name=${a}`), [a]);
    assert.deepEqual(await names('metadata.namespace=elsewhere'), []);
  });

  it('status merge patches: the writer owns what it set, other entries stay as they were, the spec is untouched', async () => {
    const pod = await makePod();
    const name = pod.metadata.name as string;
    assert.equal((await bind(name, binding(name, 'node-1'))).status, 201);
    const bound = (await ts.request('GET', podPath(name))).json<Obj>();
    const patch = (body: unknown, manager = 'agent') =>
      ts.request('PATCH', `${podPath(name)}/status?fieldManager=${manager}`, body, { 'content-type': 'application/merge-patch+json' });

    const r1 = await patch({ metadata: { uid: bound.metadata.uid }, status: { phase: 'Running', podIP: '10.0.0.5', hostIP: '192.168.0.1' } });
    assert.equal(r1.status, 200, r1.text);
    const p1 = r1.json<Obj>();
    assert.equal(p1.status.phase, 'Running');
    assert.deepEqual(p1.spec, bound.spec);
    // A status write may not move the pod.
    const moved = await patch({ spec: { nodeName: 'node-2' } });
    assert.equal(moved.status, 200, moved.text);
    assert.equal(moved.json<Obj>().spec.nodeName, 'node-1');

    const mf = p1.metadata.managedFields as Obj[];
    for (const e of bound.metadata.managedFields as Obj[]) {
      assert.deepEqual(mf.find((x) => x.manager === e.manager), e, `${e.manager}'s entry is left alone`);
    }
    const agent = mf.find((e) => e.manager === 'agent');
    assert.equal(agent?.subresource, 'status');
    assert.deepEqual(Object.keys(agent?.fieldsV1['f:status'] ?? {}).sort(), ['f:hostIP', 'f:phase', 'f:podIP']);

    // The same status again is a no-op: no new resourceVersion.
    const r2 = await patch({ status: { phase: 'Running' } });
    assert.equal(r2.status, 200, r2.text);
    assert.equal(r2.json<Obj>().metadata.resourceVersion, p1.metadata.resourceVersion);

    // Another manager taking a field over: it leaves the agent's entry, which keeps the rest.
    const r3 = await patch({ status: { phase: 'Succeeded' } }, 'other');
    assert.equal(r3.status, 200, r3.text);
    const mf3 = r3.json<Obj>().metadata.managedFields as Obj[];
    assert.deepEqual(mf3.find((e) => e.manager === 'other')?.fieldsV1, { 'f:status': { 'f:phase': {} } });
    assert.equal(mf3.find((e) => e.manager === 'agent')?.fieldsV1['f:status']['f:phase'], undefined);
    assert.deepEqual(mf3.find((e) => e.manager === 'creator'), mf.find((e) => e.manager === 'creator'));

    // The stored object reads back as answered.
    const got = (await ts.request('GET', podPath(name))).json<Obj>();
    assert.deepEqual(got, r3.json<Obj>());
  });
});
