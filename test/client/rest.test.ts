// The typed REST client and the kubeconfig loader against a real API server (memory store).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startTestServer, type TestServer } from '../support/apiserver.ts';
import { defaultRegistry } from '../../src/registry/index.ts';
import type { KubeObject } from '../../src/registry/types.ts';
import { loadKubeconfig, parseKubeconfig, KubeconfigError } from '../../src/client/kubeconfig.ts';
import {
  ApiStatusError,
  KubeClient,
  isAlreadyExists,
  isConflict,
  isGone,
  isInvalid,
  isNotFound,
  resourceOf,
  resourcePath,
  resourceRef,
  retryOnConflict,
  objectKey,
  splitKey,
  type WatchEvent,
} from '../../src/client/rest.ts';

const registry = defaultRegistry();
const CM = resourceOf(registry, 'v1', 'configmaps');
const PODS = resourceOf(registry, 'v1', 'pods');
const STS = resourceOf(registry, 'apps/v1', 'statefulsets');
const NS = resourceOf(registry, 'v1', 'namespaces');

interface ConfigMap extends KubeObject {
  data?: Record<string, string>;
}

function cm(name: string, data: Record<string, string> = { a: '1' }, labels?: Record<string, string>): ConfigMap {
  return { metadata: { name, namespace: 'default', ...(labels ? { labels } : {}) }, data };
}

async function rejects(p: Promise<unknown>): Promise<ApiStatusError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof ApiStatusError, `expected ApiStatusError, got ${String(e)}`);
    return e;
  }
  assert.fail('expected the call to fail');
}

describe('kubeconfig', () => {
  let s: TestServer;
  before(async () => {
    s = await startTestServer();
  });
  after(async () => {
    await s.stop();
  });

  it('reads the server, CA data and token of the current context', () => {
    const c = loadKubeconfig(s.kubeconfig);
    assert.equal(c.server, s.url);
    assert.equal(c.ca, s.ca);
    assert.equal(c.token, s.token);
  });

  it('reads certificate-authority and tokenFile relative to the file, and a chosen context', async () => {
    await writeFile(join(s.dir, 'ca.pem'), s.ca);
    await writeFile(join(s.dir, 'tok'), `${s.token}\n`);
    const text = [
      'apiVersion: v1',
      'kind: Config',
      'current-context: other',
      'clusters:',
      '- name: c1',
      '  cluster:',
      `    server: ${s.url}/`,
      '    certificate-authority: ca.pem',
      'users:',
      '- name: u1',
      '  user:',
      '    tokenFile: tok',
      'contexts:',
      '- name: mine',
      '  context: {cluster: c1, user: u1, namespace: team}',
      '- name: other',
      '  context: {cluster: missing, user: u1}',
    ].join('\n');
    const path = join(s.dir, 'kc2');
    await writeFile(path, text);
    const c = loadKubeconfig(path, { context: 'mine' });
    assert.equal(c.server, s.url, 'trailing slash dropped');
    assert.equal(c.ca, s.ca);
    assert.equal(c.token, s.token, 'token file trimmed');
    assert.equal(c.namespace, 'team');
    assert.throws(() => loadKubeconfig(path), (e: unknown) => e instanceof KubeconfigError && /cluster "missing" is not defined/.test(e.message));
    // A client made from that file works.
    const client = KubeClient.fromKubeconfig(path, { context: 'mine' });
    try {
      const ns = await client.get(NS, undefined, 'default');
      assert.equal(ns.metadata.name, 'default');
    } finally {
      client.close();
    }
  });

  it('says clearly what is wrong with a broken kubeconfig', () => {
    assert.throws(() => parseKubeconfig('clusters: [', '/'), /not valid YAML/);
    assert.throws(() => parseKubeconfig('apiVersion: v1\n', '/'), /no current-context/);
    assert.throws(() => loadKubeconfig(join(s.dir, 'does-not-exist')), /cannot read it/);
  });
});

// The same contract over HTTPS and over the in-process loopback of the API server.
for (const transport of ['https', 'loopback'] as const) describe(`KubeClient (${transport})`, () => {
  let s: TestServer;
  let client: KubeClient;
  before(async () => {
    s = await startTestServer();
    client = new KubeClient({ server: s.url, ca: s.ca, token: s.token }, { fieldManager: 'client-test', loopback: transport === 'loopback' ? s.server.loopback : undefined });
  });
  after(async () => {
    client.close();
    await s.stop();
  });

  it('builds resource paths for core, grouped, cluster-scoped and subresources', () => {
    assert.equal(resourcePath(CM, 'default'), '/api/v1/namespaces/default/configmaps');
    assert.equal(resourcePath(STS, 'ns1', 'web', 'scale'), '/apis/apps/v1/namespaces/ns1/statefulsets/web/scale');
    assert.equal(resourcePath(NS, undefined, 'kube-system'), '/api/v1/namespaces/kube-system');
    assert.equal(resourcePath(PODS, undefined), '/api/v1/pods');
    assert.deepEqual(resourceRef('apps/v1', 'daemonsets', true, 'DaemonSet'), { group: 'apps', version: 'v1', plural: 'daemonsets', namespaced: true, kind: 'DaemonSet' });
    assert.throws(() => resourceOf(registry, 'apps/v1', 'nothings'), /no resource nothings/);
    assert.equal(objectKey({ metadata: { namespace: 'a', name: 'b' } }), 'a/b');
    assert.equal(objectKey({ metadata: { name: 'n1' } }), 'n1');
    assert.deepEqual(splitKey('a/b'), { namespace: 'a', name: 'b' });
    assert.deepEqual(splitKey('n1'), { name: 'n1' });
  });

  it('creates, gets, updates and deletes, filling apiVersion and kind', async () => {
    const created = await client.create(CM, cm('crud-1'));
    assert.equal(created.kind, 'ConfigMap');
    assert.equal(created.apiVersion, 'v1');
    assert.ok(created.metadata.uid);
    const got = await client.get<ConfigMap>(CM, 'default', 'crud-1');
    assert.deepEqual(got.data, { a: '1' });
    got.data = { a: '2' };
    const updated = await client.update(CM, got);
    assert.notEqual(updated.metadata.resourceVersion, got.metadata.resourceVersion);
    assert.deepEqual((await client.get<ConfigMap>(CM, 'default', 'crud-1')).data, { a: '2' });
    await client.delete(CM, 'default', 'crud-1');
    assert.ok(isNotFound(await rejects(client.get(CM, 'default', 'crud-1'))));
  });

  it('reports server errors as ApiStatusError with the Kubernetes Status', async () => {
    await client.create(CM, cm('err-1'));
    const dup = await rejects(client.create(CM, cm('err-1')));
    assert.equal(dup.code, 409);
    assert.equal(dup.reason, 'AlreadyExists');
    assert.equal(dup.message, 'configmaps "err-1" already exists');
    assert.ok(isAlreadyExists(dup));
    assert.ok(!isConflict(dup));

    const cur = await client.get<ConfigMap>(CM, 'default', 'err-1');
    await client.update(CM, { ...cur, data: { a: 'x' } });
    const stale = await rejects(client.update(CM, { ...cur, data: { a: 'y' } }));
    assert.ok(isConflict(stale));
    assert.ok(!isAlreadyExists(stale));
    assert.equal(stale.status.kind, 'Status');

    const missing = await rejects(client.get(CM, 'default', 'nope'));
    assert.ok(isNotFound(missing));
    assert.equal(missing.details?.name, 'nope');

    const bad = await rejects(client.create(CM, { metadata: { name: 'Not_Valid', namespace: 'default' } }));
    assert.ok(isInvalid(bad));
    assert.equal(bad.code, 422);
    assert.ok((bad.details?.causes ?? []).some((c) => c.field === 'metadata.name'));

    // A namespaced call without a namespace fails before any request.
    await assert.rejects(client.get(CM, undefined, 'x'), /namespaced: name a namespace/);
  });

  it('retries a read-modify-write on conflict', async () => {
    await client.create(CM, cm('retry-1', { n: '0' }));
    let attempts = 0;
    const bumpedBehindOurBack = await client.get<ConfigMap>(CM, 'default', 'retry-1');
    await retryOnConflict(async () => {
      attempts++;
      const c = attempts === 1 ? bumpedBehindOurBack : await client.get<ConfigMap>(CM, 'default', 'retry-1');
      if (attempts === 1) await client.update(CM, { ...bumpedBehindOurBack, data: { n: 'other' } });
      await client.update(CM, { ...c, data: { n: String(attempts) } });
    });
    assert.equal(attempts, 2);
    assert.deepEqual((await client.get<ConfigMap>(CM, 'default', 'retry-1')).data, { n: '2' });
  });

  it('lists with label and field selectors, and pages with limit/continue', async () => {
    for (let i = 0; i < 5; i++) await client.create(CM, cm(`page-${i}`, { i: String(i) }, { app: 'paging', idx: String(i % 2) }));
    const sel = await client.list<ConfigMap>(CM, 'default', { labelSelector: 'app=paging,idx=1' });
    assert.deepEqual(sel.items.map((o) => o.metadata.name).sort(), ['page-1', 'page-3']);
    const byName = await client.list(CM, 'default', { fieldSelector: 'metadata.name=page-4' });
    assert.deepEqual(byName.items.map((o) => o.metadata.name), ['page-4']);

    const p1 = await client.list(CM, 'default', { labelSelector: 'app=paging', limit: 2 });
    assert.equal(p1.items.length, 2);
    assert.ok(p1.metadata.continue);
    const p2 = await client.list(CM, 'default', { labelSelector: 'app=paging', limit: 2, continue: p1.metadata.continue });
    const p3 = await client.list(CM, 'default', { labelSelector: 'app=paging', limit: 2, continue: p2.metadata.continue });
    assert.equal(p3.metadata.continue, undefined);
    const names = [...p1.items, ...p2.items, ...p3.items].map((o) => o.metadata.name);
    assert.deepEqual(names, ['page-0', 'page-1', 'page-2', 'page-3', 'page-4']);

    const all = await client.listAll(CM, 'default', { labelSelector: 'app=paging', pageSize: 2 });
    assert.equal(all.items.length, 5);
    assert.ok(Number(all.resourceVersion) > 0);

    const everywhere = await client.list(NS);
    assert.ok(everywhere.items.some((n) => n.metadata.name === 'kube-system'));
  });

  it('patches with merge, JSON, strategic and apply patches', async () => {
    await client.create(CM, cm('patch-1', { a: '1', b: '2' }));
    const m = await client.patch<ConfigMap>(CM, 'default', 'patch-1', { data: { b: null, c: '3' } }, 'merge');
    assert.deepEqual(m.data, { a: '1', c: '3' });
    const j = await client.patch<ConfigMap>(CM, 'default', 'patch-1', [{ op: 'replace', path: '/data/a', value: 'A' }], 'json');
    assert.deepEqual(j.data, { a: 'A', c: '3' });
    const sm = await client.patch<ConfigMap>(CM, 'default', 'patch-1', { metadata: { labels: { x: 'y' } } }, 'strategic');
    assert.deepEqual(sm.metadata.labels, { x: 'y' });
    const ap = await client.patch<ConfigMap>(CM, 'default', 'patch-1', { metadata: { name: 'patch-1' }, data: { applied: 'yes' } }, 'apply', { fieldManager: 'applier', force: true });
    assert.equal(ap.data?.applied, 'yes');
    assert.ok(ap.metadata.managedFields?.some((f) => f.manager === 'applier' && f.operation === 'Apply'));
    // The test is a real patch test: a JSON patch whose test op fails is refused.
    const failed = await rejects(client.patch(CM, 'default', 'patch-1', [{ op: 'test', path: '/data/a', value: 'nope' }], 'json'));
    assert.ok(failed.code === 422 || failed.code === 409 || failed.code === 400, `code ${failed.code}`);
  });

  it('deletes with preconditions and dry run', async () => {
    const c = await client.create(CM, cm('del-1'));
    const dry = await client.delete(CM, 'default', 'del-1', { dryRun: true });
    assert.equal(dry.metadata.name, 'del-1');
    await client.get(CM, 'default', 'del-1');
    const wrongUid = await rejects(client.delete(CM, 'default', 'del-1', { preconditions: { uid: '00000000-0000-0000-0000-000000000000' } }));
    assert.ok(isConflict(wrongUid));
    await client.delete(CM, 'default', 'del-1', { preconditions: { uid: c.metadata.uid }, propagationPolicy: 'Background' });
    assert.ok(isNotFound(await rejects(client.delete(CM, 'default', 'del-1'))));

    for (let i = 0; i < 3; i++) await client.create(CM, cm(`coll-${i}`, {}, { coll: 'yes' }));
    const gone = await client.deleteCollection(CM, 'default', { labelSelector: 'coll=yes' });
    assert.equal(gone.items.length, 3);
    assert.equal((await client.list(CM, 'default', { labelSelector: 'coll=yes' })).items.length, 0);
  });

  it('creates with dryRun without storing, and honours a default fieldManager for apply', async () => {
    const d = await client.create(CM, cm('dry-1'), { dryRun: true });
    assert.equal(d.metadata.name, 'dry-1');
    assert.ok(isNotFound(await rejects(client.get(CM, 'default', 'dry-1'))));
    const ap = await client.patch(CM, 'default', 'apply-1', { metadata: { name: 'apply-1', namespace: 'default' }, data: { k: 'v' } }, 'apply');
    assert.ok(ap.metadata.managedFields?.some((f) => f.manager === 'client-test'), 'client default field manager used');
  });

  it('uses the status and scale subresources and binds a pod', async () => {
    const sts = {
      metadata: { name: 'web', namespace: 'default' },
      spec: {
        replicas: 2,
        serviceName: 'web',
        selector: { matchLabels: { app: 'web' } },
        template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'c', image: 'nginx' }] } },
      },
    };
    const created = await client.create(STS, sts);
    const scale = await client.getSubresource(STS, 'default', 'web', 'scale');
    assert.equal(scale.kind, 'Scale');
    assert.equal((scale.spec as { replicas: number }).replicas, 2);
    const put = await client.updateSubresource(STS, 'default', 'web', 'scale', { apiVersion: 'autoscaling/v1', kind: 'Scale', metadata: { name: 'web', namespace: 'default' }, spec: { replicas: 5 } });
    assert.equal((put.spec as { replicas: number }).replicas, 5);
    const patched = await client.patch(STS, 'default', 'web', { spec: { replicas: 3 } }, 'merge', { subresource: 'scale' });
    assert.equal((patched.spec as { replicas: number }).replicas, 3);
    assert.equal(((await client.get(STS, 'default', 'web')).spec as { replicas: number }).replicas, 3);

    // updateStatus changes status only.
    const cur = await client.get(STS, 'default', 'web');
    const withStatus = await client.updateStatus(STS, { ...cur, spec: { ...(cur.spec as object), replicas: 9 }, status: { replicas: 1, observedGeneration: 1 } });
    assert.equal((withStatus.status as { replicas: number }).replicas, 1);
    assert.equal((withStatus.spec as { replicas: number }).replicas, 3);
    assert.equal(created.metadata.uid, withStatus.metadata.uid);

    await client.create(PODS, { metadata: { name: 'p1', namespace: 'default' }, spec: { containers: [{ name: 'c', image: 'busybox' }] } });
    await client.bindPod('default', 'p1', 'node-a');
    const pod = await client.get(PODS, 'default', 'p1');
    assert.equal((pod.spec as { nodeName?: string }).nodeName, 'node-a');
    const again = await rejects(client.bindPod('default', 'p1', 'node-b'));
    assert.ok(isConflict(again));
  });

  it('watches: ADDED, MODIFIED, DELETED from a resourceVersion with a selector, ends on abort', async () => {
    const list = await client.list(CM, 'default');
    const events: WatchEvent<ConfigMap>[] = [];
    let closedWith: Error | undefined | 'open' = 'open';
    let notify: () => void = () => {};
    const h = client.watch<ConfigMap>(
      CM,
      'default',
      { resourceVersion: list.metadata.resourceVersion, labelSelector: 'w=1' },
      (e) => {
        events.push(e);
        notify();
      },
      (err) => (closedWith = err),
    );
    const until = (n: number) =>
      new Promise<void>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`only ${events.length} events`)), 5000);
        notify = () => {
          if (events.length >= n) {
            clearTimeout(t);
            resolve();
          }
        };
        notify();
      });
    await client.create(CM, cm('watch-1', { v: '1' }, { w: '1' }));
    await client.create(CM, cm('watch-other', { v: '1' })); // not selected
    await client.patch(CM, 'default', 'watch-1', { data: { v: '2' } });
    await client.delete(CM, 'default', 'watch-1');
    await until(3);
    assert.deepEqual(
      events.map((e) => [e.type, e.object.metadata.name, e.object.data?.v]),
      [
        ['ADDED', 'watch-1', '1'],
        ['MODIFIED', 'watch-1', '2'],
        ['DELETED', 'watch-1', '2'],
      ],
    );
    assert.equal(closedWith, 'open');
    h.abort();
    await h.done;
    assert.equal(closedWith, undefined, 'abort closes without an error');
  });

  it('a watch ends with an error the caller can test with isGone when the resourceVersion is too old', async () => {
    // A watch that the server refuses outright: an invalid resourceVersion is a 400.
    const bad = await new Promise<Error | undefined>((resolve) => {
      client.watch(CM, 'default', { resourceVersion: 'abc' }, () => {}, resolve);
    });
    assert.ok(bad instanceof ApiStatusError && bad.code === 400, String(bad));
    assert.ok(!isGone(bad));
    // The 410 form itself (a Status with reason Expired) is recognised.
    const expired = new ApiStatusError({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', reason: 'Expired', code: 410, message: 'too old resource version' });
    assert.ok(isGone(expired));
  });

  it('aborts a request through its signal and times out a request that gets no answer', async () => {
    const ctl = new AbortController();
    const p = client.list(CM, 'default', { signal: ctl.signal });
    ctl.abort(new Error('caller gave up'));
    await assert.rejects(p, /caller gave up|aborted/);
    // A request the server holds open without answering fails after timeoutMs.
    const t0 = Date.now();
    await assert.rejects(client.request('GET', '/api/v1/namespaces/default/configmaps?watch=true', { timeoutMs: 200 }), /no answer within 200 ms/);
    assert.ok(Date.now() - t0 < 2000);
    // A watch that hears nothing for idleTimeoutMs ends with an error.
    const idle = await new Promise<Error | undefined>((resolve) => client.watch(CM, 'kube-public', { idleTimeoutMs: 200 }, () => {}, resolve));
    assert.match(String(idle), /nothing received for 200 ms/);
    // The client still works afterwards.
    assert.ok((await client.list(NS)).items.length > 0);
  });

  if (transport === 'https') it('refuses a server whose certificate the pinned CA did not sign', async () => {
    const other = await startTestServer();
    try {
      const wrong = new KubeClient({ server: other.url, ca: s.ca, token: other.token });
      try {
        await assert.rejects(wrong.get(NS, undefined, 'default'), (e: unknown) => !(e instanceof ApiStatusError));
      } finally {
        wrong.close();
      }
      const noToken = new KubeClient({ server: other.url, ca: other.ca });
      try {
        const e = await rejects(noToken.get(NS, undefined, 'default'));
        assert.equal(e.code, 401);
      } finally {
        noToken.close();
      }
    } finally {
      await other.stop();
    }
  });

  if (transport === 'loopback') it('without a token: 401; a closed server ends watches with an error and refuses new requests; close() ends the client’s watches', async () => {
    const other = await startTestServer();
    let stopped = false;
    try {
      const noToken = new KubeClient({ server: other.url, ca: other.ca }, { loopback: other.server.loopback });
      try {
        const e = await rejects(noToken.get(NS, undefined, 'default'));
        assert.equal(e.code, 401);
      } finally {
        noToken.close();
      }
      const c = new KubeClient({ server: other.url, ca: other.ca, token: other.token }, { loopback: other.server.loopback });
      // close() of the client ends its own watch (with an error, as a dropped connection does).
      const own = new Promise<Error | undefined>((resolve) => c.watch(CM, 'default', {}, () => {}, resolve));
      await new Promise((r) => setTimeout(r, 50));
      const before = other.server.loopback.openExchanges;
      assert.ok(before >= 1, 'the watch is an open exchange on the server');
      c.close();
      assert.match(String(await own), /closed/);
      assert.equal(other.server.loopback.openExchanges, before - 1, 'the server side of the watch ended');
      // Closing the server ends a watch in progress with an error.
      const c2 = new KubeClient({ server: other.url, ca: other.ca, token: other.token }, { loopback: other.server.loopback });
      try {
        const seen: string[] = [];
        const ended = new Promise<Error | undefined>((resolve) => c2.watch(CM, 'default', {}, (ev) => seen.push(ev.object.metadata.name ?? ''), resolve));
        await c2.create(CM, cm('before-close', { v: '1' }));
        for (let i = 0; i < 100 && seen.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
        assert.deepEqual(seen, ['before-close']);
        await other.stop();
        stopped = true;
        assert.match(String(await ended), /closed the connection|aborted/);
        await assert.rejects(c2.list(CM, 'default'), /ECONNREFUSED|closed/);
      } finally {
        c2.close();
      }
    } finally {
      if (!stopped) await other.stop();
    }
  });
});
