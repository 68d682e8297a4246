// The API server's generic semantics through raw HTTPS requests.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import https from 'node:https';
import { startTestServer, type TestServer } from '../support/apiserver.ts';

type Obj = { metadata: Record<string, unknown> & { resourceVersion?: string; name?: string; uid?: string; generation?: number }; [k: string]: unknown };

describe('API server', () => {
  let s: TestServer;
  before(async () => {
    s = await startTestServer();
  });
  after(async () => {
    await s.stop();
  });

  const cm = (name: string, data: Record<string, string> = { a: '1' }, labels?: Record<string, string>) => ({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name, ...(labels ? { labels } : {}) },
    data,
  });

  it('answers 401 with a Status without a valid token, but serves /version and /healthz', async () => {
    const r = await s.request('GET', '/api/v1/namespaces', undefined, { authorization: 'Bearer wrong' });
    assert.equal(r.status, 401);
    assert.equal(r.json().kind, 'Status');
    assert.equal(r.json().reason, 'Unauthorized');
    const v = await s.request('GET', '/version', undefined, { authorization: '' });
    assert.equal(v.status, 200);
    assert.equal(v.json().minor, '32');
    const h = await s.request('GET', '/healthz', undefined, { authorization: '' });
    assert.equal(h.text, 'ok');
  });

  it('has the built-in namespaces', async () => {
    const r = await s.request('GET', '/api/v1/namespaces');
    const names = r.json<{ items: Obj[] }>().items.map((n) => n.metadata.name);
    for (const n of ['default', 'kube-system', 'kube-public', 'kube-node-lease']) assert.ok(names.includes(n), n);
  });

  it('creates with server-set metadata and refuses duplicates with 409 AlreadyExists', async () => {
    const r = await s.request('POST', '/api/v1/namespaces/default/configmaps', cm('c1'));
    assert.equal(r.status, 201);
    const o = r.json<Obj>();
    assert.match(String(o.metadata.uid), /^[0-9a-f-]{36}$/);
    assert.match(String(o.metadata.creationTimestamp), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    assert.ok(Number(o.metadata.resourceVersion) > 0);
    assert.equal(o.metadata.namespace, 'default');
    const dup = await s.request('POST', '/api/v1/namespaces/default/configmaps', cm('c1'));
    assert.equal(dup.status, 409);
    assert.equal(dup.json().reason, 'AlreadyExists');
    assert.equal(dup.json().message, 'configmaps "c1" already exists');
  });

  it('gives generateName a 5-character suffix', async () => {
    const r = await s.request('POST', '/api/v1/namespaces/default/configmaps', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { generateName: 'gen-' } });
    assert.equal(r.status, 201);
    assert.match(String(r.json<Obj>().metadata.name), /^gen-[a-z0-9]{5}$/);
  });

  it('404 names the object; an unknown resource is 404 too', async () => {
    const r = await s.request('GET', '/api/v1/namespaces/default/configmaps/nope');
    assert.equal(r.status, 404);
    assert.equal(r.json().message, 'configmaps "nope" not found');
    const u = await s.request('GET', '/api/v1/namespaces/default/widgets');
    assert.equal(u.status, 404);
    assert.equal(u.json().kind, 'Status');
    assert.match(String(u.json().message), /widgets/);
  });

  it('optimistic concurrency: a stale resourceVersion is 409 Conflict; a no-op keeps the resourceVersion', async () => {
    const c = (await s.request('POST', '/api/v1/namespaces/default/configmaps', cm('occ'))).json<Obj>();
    const upd = await s.request('PUT', '/api/v1/namespaces/default/configmaps/occ', { ...cm('occ', { a: '2' }), metadata: { name: 'occ', resourceVersion: c.metadata.resourceVersion } });
    assert.equal(upd.status, 200);
    const stale = await s.request('PUT', '/api/v1/namespaces/default/configmaps/occ', { ...cm('occ', { a: '3' }), metadata: { name: 'occ', resourceVersion: c.metadata.resourceVersion } });
    assert.equal(stale.status, 409);
    assert.equal(stale.json().reason, 'Conflict');
    const cur = upd.json<Obj>();
    const noop = await s.request('PUT', '/api/v1/namespaces/default/configmaps/occ', cur);
    assert.equal(noop.status, 200);
    assert.equal(noop.json<Obj>().metadata.resourceVersion, cur.metadata.resourceVersion);
  });

  it('lists with label and field selectors and pages with limit/continue', async () => {
    await s.request('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'paging' } });
    for (let i = 0; i < 7; i++) {
      const r = await s.request('POST', '/api/v1/namespaces/paging/configmaps', cm(`p${i}`, {}, { tier: i % 2 ? 'odd' : 'even' }));
      assert.equal(r.status, 201);
    }
    const odd = await s.request('GET', '/api/v1/namespaces/paging/configmaps?labelSelector=tier%3Dodd');
    assert.deepEqual(odd.json<{ items: Obj[] }>().items.map((o) => o.metadata.name), ['p1', 'p3', 'p5']);
    const notIn = await s.request('GET', '/api/v1/namespaces/paging/configmaps?labelSelector=' + encodeURIComponent('tier notin (odd)'));
    assert.equal(notIn.json<{ items: Obj[] }>().items.length, 4);
    const byName = await s.request('GET', '/api/v1/configmaps?fieldSelector=metadata.name%3Dp2');
    assert.deepEqual(byName.json<{ items: Obj[] }>().items.map((o) => o.metadata.namespace), ['paging']);
    const names: string[] = [];
    let cont = '';
    let pages = 0;
    do {
      const r = await s.request('GET', `/api/v1/namespaces/paging/configmaps?limit=3${cont ? `&continue=${encodeURIComponent(cont)}` : ''}`);
      const body = r.json<{ items: Obj[]; metadata: { continue?: string } }>();
      names.push(...body.items.map((o) => String(o.metadata.name)));
      cont = body.metadata.continue ?? '';
      pages++;
      // A write between pages must not show up in this snapshot.
      if (pages === 1) await s.request('POST', '/api/v1/namespaces/paging/configmaps', cm('p9'));
    } while (cont);
    assert.equal(pages, 3);
    assert.deepEqual(names, ['p0', 'p1', 'p2', 'p3', 'p4', 'p5', 'p6']);
    const bad = await s.request('GET', '/api/v1/namespaces/paging/configmaps?labelSelector=' + encodeURIComponent('a in ('));
    assert.equal(bad.status, 400);
  });

  it('patches: merge, JSON and strategic', async () => {
    await s.request('POST', '/api/v1/namespaces/default/configmaps', cm('pt', { a: '1', b: '2' }));
    const merge = await s.request('PATCH', '/api/v1/namespaces/default/configmaps/pt', { data: { a: null, c: '3' } }, { 'content-type': 'application/merge-patch+json' });
    assert.equal(merge.status, 200);
    assert.deepEqual(merge.json<Obj>().data, { b: '2', c: '3' });
    const json = await s.request('PATCH', '/api/v1/namespaces/default/configmaps/pt', [{ op: 'replace', path: '/data/b', value: 'x' }], { 'content-type': 'application/json-patch+json' });
    assert.equal(json.status, 200);
    assert.equal((json.json<Obj>().data as Record<string, string>).b, 'x');
    const smp = await s.request('PATCH', '/api/v1/namespaces/default/configmaps/pt', { metadata: { labels: { l: 'v' } } }, { 'content-type': 'application/strategic-merge-patch+json' });
    assert.equal(smp.status, 200);
    assert.deepEqual((smp.json<Obj>().metadata.labels as Record<string, string>), { l: 'v' });
    const missing = await s.request('PATCH', '/api/v1/namespaces/default/configmaps/none', { data: {} }, { 'content-type': 'application/merge-patch+json' });
    assert.equal(missing.status, 404);
  });

  it('dryRun=All validates without storing', async () => {
    const r = await s.request('POST', '/api/v1/namespaces/default/configmaps?dryRun=All', cm('dry'));
    assert.equal(r.status, 201);
    const g = await s.request('GET', '/api/v1/namespaces/default/configmaps/dry');
    assert.equal(g.status, 404);
  });

  it('watches from a resourceVersion and sends initial events without one', async () => {
    const c = (await s.request('POST', '/api/v1/namespaces/default/configmaps', cm('w1'))).json<Obj>();
    const events: { type: string; object: Obj }[] = [];
    const done = watchLines(s, `/api/v1/namespaces/default/configmaps?watch=true&resourceVersion=${c.metadata.resourceVersion}`, events, 3);
    await s.request('PATCH', '/api/v1/namespaces/default/configmaps/w1', { data: { a: '9' } }, { 'content-type': 'application/merge-patch+json' });
    await s.request('POST', '/api/v1/namespaces/default/configmaps', cm('w2'));
    await s.request('DELETE', '/api/v1/namespaces/default/configmaps/w1');
    await done;
    assert.deepEqual(events.map((e) => `${e.type} ${e.object.metadata.name}`), ['MODIFIED w1', 'ADDED w2', 'DELETED w1']);
    const initial: { type: string; object: Obj }[] = [];
    await watchLines(s, `/api/v1/namespaces/default/configmaps?watch=true&fieldSelector=metadata.name%3Dw2`, initial, 1);
    assert.deepEqual(initial.map((e) => `${e.type} ${e.object.metadata.name}`), ['ADDED w2']);
  });

  it('410 Expired for a compacted resourceVersion', async () => {
    const a = (await s.request('POST', '/api/v1/namespaces/default/configmaps', cm('old1'))).json<Obj>();
    await s.request('POST', '/api/v1/namespaces/default/configmaps', cm('old2'));
    const b = (await s.request('POST', '/api/v1/namespaces/default/configmaps', cm('old3'))).json<Obj>();
    await s.store.compact(Number(b.metadata.resourceVersion));
    const events: { type: string; object: Obj }[] = [];
    // Older than the watch cache window on a fresh subscription, or compacted: either way 410.
    const list = await s.request('GET', `/api/v1/namespaces/default/configmaps?resourceVersion=${a.metadata.resourceVersion}&resourceVersionMatch=Exact&limit=1`);
    assert.equal(list.status, 410);
    assert.equal(list.json().reason, 'Expired');
    void events;
  });

  it('a watch from a resourceVersion in the future answers 504 Too large resource version', async () => {
    const r = await s.request('GET', '/api/v1/namespaces/default/configmaps?watch=true&resourceVersion=999999999');
    assert.equal(r.status, 504);
    assert.equal(r.json().reason, 'Timeout');
    assert.match(String(r.json().message), /Too large resource version: 999999999/);
  });

  it('finalizers hold a deleted object until removed; deletion is 202 then 200', async () => {
    const o = { ...cm('fin'), metadata: { name: 'fin', finalizers: ['example.com/hold'] } };
    await s.request('POST', '/api/v1/namespaces/default/configmaps', o);
    const d = await s.request('DELETE', '/api/v1/namespaces/default/configmaps/fin');
    assert.equal(d.status, 202);
    const held = (await s.request('GET', '/api/v1/namespaces/default/configmaps/fin')).json<Obj>();
    assert.ok(held.metadata.deletionTimestamp);
    const rel = await s.request('PATCH', '/api/v1/namespaces/default/configmaps/fin', { metadata: { finalizers: null } }, { 'content-type': 'application/merge-patch+json' });
    assert.equal(rel.status, 200);
    const gone = await s.request('GET', '/api/v1/namespaces/default/configmaps/fin');
    assert.equal(gone.status, 404);
  });

  it('deleting a namespace deletes its content; creating in a missing namespace is 404', async () => {
    await s.request('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'doomed' } });
    await s.request('POST', '/api/v1/namespaces/doomed/configmaps', cm('x'));
    const d = await s.request('DELETE', '/api/v1/namespaces/doomed');
    assert.ok(d.status === 200 || d.status === 202);
    const deadline = Date.now() + 5000;
    let st = 200;
    while (Date.now() < deadline && st !== 404) {
      st = (await s.request('GET', '/api/v1/namespaces/doomed')).status;
      if (st !== 404) await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(st, 404);
    const cmGone = await s.request('GET', '/api/v1/namespaces/doomed/configmaps/x');
    assert.equal(cmGone.status, 404);
    const r = await s.request('POST', '/api/v1/namespaces/nowhere/configmaps', cm('y'));
    assert.equal(r.status, 404);
    assert.equal(r.json().message, 'namespaces "nowhere" not found');
  });

  it('rejects bad input with a Status of the right code', async () => {
    const malformed = await s.request('POST', '/api/v1/namespaces/default/configmaps', '{"metadata": {');
    assert.equal(malformed.status, 400);
    assert.equal(malformed.json().kind, 'Status');
    const wrongKind = await s.request('POST', '/api/v1/namespaces/default/configmaps', { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'k' } });
    assert.equal(wrongKind.status, 400);
    const mismatch = await s.request('POST', '/api/v1/namespaces/default/configmaps', { ...cm('m'), metadata: { name: 'm', namespace: 'kube-system' } });
    assert.equal(mismatch.status, 400);
    assert.match(String(mismatch.json().message), /does not match the namespace/);
    const badName = await s.request('POST', '/api/v1/namespaces/default/configmaps', cm('Bad_Name'));
    assert.equal(badName.status, 422);
    assert.equal(badName.json().reason, 'Invalid');
    const causes = (badName.json().details as { causes: { field: string }[] }).causes;
    assert.equal(causes[0].field, 'metadata.name');
    const big = await s.request('POST', '/api/v1/namespaces/default/configmaps', cm('big', { a: 'x'.repeat(3 * 1024 * 1024 + 10) }));
    assert.equal(big.status, 413);
    const strict = await s.request('POST', '/api/v1/namespaces/default/configmaps?fieldValidation=Strict', { ...cm('strict'), bogus: 1 });
    assert.equal(strict.status, 400);
    assert.match(String(strict.json().message), /unknown field "bogus"/);
    const warn = await s.request('POST', '/api/v1/namespaces/default/configmaps?fieldValidation=Warn', { ...cm('warned'), bogus: 1 });
    assert.equal(warn.status, 201);
    assert.match(String(warn.headers.warning), /unknown field/);
    const dupText = '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"dupf"},"data":{"a":"1"},"data":{"b":"2"}}';
    const dup = await s.request('POST', '/api/v1/namespaces/default/configmaps?fieldValidation=Strict', dupText);
    assert.equal(dup.status, 400);
    assert.match(String(dup.json().message), /duplicate field/);
  });

  it('serves a Table when kubectl asks for one', async () => {
    await s.request('POST', '/api/v1/namespaces/default/configmaps', cm('tbl', { a: '1', b: '2' }));
    const r = await s.request('GET', '/api/v1/namespaces/default/configmaps/tbl', undefined, { accept: 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json' });
    const t = r.json<{ kind: string; columnDefinitions: { name: string }[]; rows: { cells: unknown[] }[] }>();
    assert.equal(t.kind, 'Table');
    assert.deepEqual(t.columnDefinitions.map((c) => c.name).slice(0, 2), ['Name', 'Data']);
    assert.equal(t.rows[0].cells[0], 'tbl');
    assert.equal(t.rows[0].cells[1], 2);
  });
});

function watchLines(s: TestServer, path: string, out: { type: string; object: Obj }[], count: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = https.request(`${s.url}${path}`, { ca: s.ca, headers: { authorization: `Bearer ${s.token}` } }, (res) => {
      let buf = '';
      res.on('data', (c: Buffer) => {
        buf += c.toString('utf8');
        let i;
        while ((i = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, i);
          buf = buf.slice(i + 1);
          if (line.trim()) out.push(JSON.parse(line));
          if (out.length >= count) {
            req.destroy();
            resolve();
            return;
          }
        }
      });
      res.on('error', () => {});
    });
    req.on('error', (e) => {
      if (out.length < count) reject(e);
    });
    setTimeout(() => {
      req.destroy();
      reject(new Error(`watch timed out with ${out.length}/${count} events`));
    }, 5000).unref();
    req.end();
  });
}

describe('Services', () => {
  let s: TestServer;
  before(async () => {
    s = await startTestServer();
  });
  after(async () => {
    await s.stop();
  });
  const svc = (name: string, spec: Record<string, unknown>) => ({ apiVersion: 'v1', kind: 'Service', metadata: { name }, spec: { ports: [{ port: 80 }], ...spec } });

  it('the kubernetes service points at the API server', async () => {
    const k = (await s.request('GET', '/api/v1/namespaces/default/services/kubernetes')).json<{ spec: { clusterIP: string; ports: { port: number; targetPort: number }[] } }>();
    assert.equal(k.spec.clusterIP, '10.43.0.1');
    assert.equal(k.spec.ports[0].port, 443);
    assert.equal(k.spec.ports[0].targetPort, Number(new URL(s.url).port));
    const ep = (await s.request('GET', '/api/v1/namespaces/default/endpoints/kubernetes')).json<{ subsets: { ports: { port: number }[] }[] }>();
    assert.equal(ep.subsets[0].ports[0].port, Number(new URL(s.url).port));
  });

  it('allocates distinct cluster IPs, honours a requested one, refuses a taken one, frees on delete', async () => {
    const a = (await s.request('POST', '/api/v1/namespaces/default/services', svc('a', {}))).json<{ spec: { clusterIP: string; clusterIPs: string[] } }>();
    const b = (await s.request('POST', '/api/v1/namespaces/default/services', svc('b', {}))).json<{ spec: { clusterIP: string } }>();
    assert.match(a.spec.clusterIP, /^10\.43\.\d+\.\d+$/);
    assert.deepEqual(a.spec.clusterIPs, [a.spec.clusterIP]);
    assert.notEqual(a.spec.clusterIP, b.spec.clusterIP);
    const fixed = await s.request('POST', '/api/v1/namespaces/default/services', svc('fixed', { clusterIP: '10.43.7.7' }));
    assert.equal(fixed.status, 201);
    const taken = await s.request('POST', '/api/v1/namespaces/default/services', svc('again', { clusterIP: '10.43.7.7' }));
    assert.equal(taken.status, 422);
    assert.match(String(taken.json().message), /provided IP is already allocated/);
    const out = await s.request('POST', '/api/v1/namespaces/default/services', svc('out', { clusterIP: '192.168.1.1' }));
    assert.equal(out.status, 422);
    const headless = (await s.request('POST', '/api/v1/namespaces/default/services', svc('h', { clusterIP: 'None' }))).json<{ spec: { clusterIP: string } }>();
    assert.equal(headless.spec.clusterIP, 'None');
    assert.equal((await s.request('DELETE', '/api/v1/namespaces/default/services/fixed')).status, 200);
    const reuse = await s.request('POST', '/api/v1/namespaces/default/services', svc('again', { clusterIP: '10.43.7.7' }));
    assert.equal(reuse.status, 201);
    const np = (await s.request('POST', '/api/v1/namespaces/default/services', svc('np', { type: 'NodePort' }))).json<{ spec: { ports: { nodePort: number }[] } }>();
    assert.ok(np.spec.ports[0].nodePort >= 30000 && np.spec.ports[0].nodePort <= 32767);
    const dry = await s.request('POST', '/api/v1/namespaces/default/services?dryRun=All', svc('dry', { clusterIP: '10.43.8.8' }));
    assert.equal(dry.status, 201);
    const after = await s.request('POST', '/api/v1/namespaces/default/services', svc('real', { clusterIP: '10.43.8.8' }));
    assert.equal(after.status, 201);
  });
});
