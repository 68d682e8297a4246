import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, stat, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import https from 'node:https';
import { startTestServer, type TestServer } from '../support/apiserver.ts';
import { openStore } from '../../src/store/index.ts';
import type { Store } from '../../src/store/types.ts';
import { sha256Hex } from '../../src/api/pki.ts';
import { JoinError, joinCluster, type JoinOptions } from '../../src/cli/join.ts';
import { joinRequestError } from '../../src/api/join.ts';
import { waitFor } from '../support/wait.ts';

const SECRET = 'join-secret-for-tests-0123456789';

describe('joining nodes (in-process API server)', () => {
  let store: Store;
  let ts: TestServer;
  let dir: string;
  before(async () => {
    store = await openStore({ backend: 'memory' });
    ts = await startTestServer({ store, server: { join: { secret: SECRET } } });
    dir = await mkdtemp(join(tmpdir(), 'kennel-join-'));
  });
  after(async () => {
    await ts?.stop();
    await store?.close();
    await rm(dir, { recursive: true, force: true });
  });

  const opts = (nodeName: string, state: string, o: Partial<JoinOptions> = {}): JoinOptions => ({
    server: ts.url,
    caHash: sha256Hex(ts.ca),
    secret: SECRET,
    nodeName,
    stateDir: join(dir, state),
    retryForMs: 0,
    ...o,
  });
  const as = (token: string) => ({ authorization: `Bearer ${token}` });
  const whoami = async (token: string) => {
    const r = await ts.request('POST', '/apis/authentication.k8s.io/v1/selfsubjectreviews', { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' }, as(token));
    return r.status === 201 ? r.json<{ status: { userInfo: { username: string; groups: string[] } } }>().status.userInfo : r.status;
  };
  const credentialSecret = (node: string) => ts.request('GET', `/api/v1/namespaces/kube-system/secrets/kennel-node-${node}`);

  it('serves the CA without credentials at /cacerts', async () => {
    const r = await ts.request('GET', '/cacerts', undefined, { authorization: '' });
    assert.equal(r.status, 200);
    assert.equal(r.text, ts.ca);
  });

  let first = '';
  it('issues a node credential for system:node:<name> (not system:masters) and keeps the agent state', async () => {
    const j = await joinCluster(opts('n1', 'a'));
    first = j.token;
    assert.equal(j.nodeName, 'n1');
    assert.equal(j.podCIDR, '10.244.0.0/24');
    assert.equal(j.rejoined, false);
    assert.equal(j.caPem, ts.ca);
    assert.deepEqual(await whoami(j.token), { username: 'system:node:n1', groups: ['system:nodes', 'system:authenticated'] });
    assert.equal(((await stat(join(dir, 'a', 'identity'))).mode & 0o777).toString(8), '600');
    assert.equal(((await stat(j.kubeconfigPath)).mode & 0o777).toString(8), '600');
    assert.ok((await readFile(j.kubeconfigPath, 'utf8')).includes(j.token));
    assert.equal(await readFile(join(dir, 'a', 'ca.crt'), 'utf8'), ts.ca);
    // Persisted as a Secret holding digests only.
    const s = await credentialSecret('n1');
    assert.equal(s.status, 200);
    assert.equal(s.json<{ type: string }>().type, 'kennel.dev/node-credential');
    assert.ok(!s.text.includes(j.token) && !s.text.includes(Buffer.from(j.token).toString('base64')), 'the secret must not hold the token');
  });

  it('refuses a wrong join token with a clear error and creates nothing', async () => {
    await assert.rejects(joinCluster(opts('n9', 'wrong', { secret: 'not-the-secret' })), (e: unknown) => e instanceof JoinError && /refused the join token/.test(e.message) && !e.message.includes('\n'));
    assert.equal((await credentialSecret('n9')).status, 404);
    const raw = await ts.request('POST', '/kennel/v1/join', { nodeName: 'n9', identity: 'x'.repeat(32) }, { authorization: '' });
    assert.equal(raw.status, 401);
    assert.equal(raw.json<{ kind: string; reason: string }>().reason, 'Unauthorized');
    assert.equal((await credentialSecret('n9')).status, 404);
  });

  it('refuses a server whose CA does not match the token hash, before sending the secret', async () => {
    await assert.rejects(joinCluster(opts('n8', 'mitm', { caHash: 'ab'.repeat(32) })), (e: unknown) => e instanceof JoinError && /does not match the hash in the join token/.test(e.message));
    assert.equal((await credentialSecret('n8')).status, 404);
  });

  it('refuses a second agent claiming a joined node name (409) and keeps the first one working', async () => {
    await assert.rejects(joinCluster(opts('n1', 'b')), (e: unknown) => e instanceof JoinError && /node name "n1" is taken/.test(e.message) && /another agent/.test(e.message));
    const raw = await ts.request('POST', '/kennel/v1/join', { nodeName: 'n1', identity: 'y'.repeat(32) }, { authorization: `Bearer ${SECRET}` });
    assert.equal(raw.status, 409);
    assert.equal(raw.json<{ reason: string }>().reason, 'Conflict');
    assert.notEqual(await whoami(first), 401);
  });

  it('lets the same agent join again (restart): same pod CIDR, a fresh token that replaces the old one', async () => {
    const j = await joinCluster(opts('n1', 'a'));
    assert.equal(j.rejoined, true);
    assert.equal(j.podCIDR, '10.244.0.0/24');
    assert.notEqual(j.token, first);
    assert.equal(await whoami(first), 401);
    assert.notEqual(await whoami(j.token), 401);
    first = j.token;
  });

  it('gives every node its own pod CIDR, honouring a free requested one', async () => {
    const n2 = await joinCluster(opts('n2', 'c'));
    assert.equal(n2.podCIDR, '10.244.1.0/24');
    const n3 = await joinCluster(opts('n3', 'd', { podCIDR: '10.244.0.0/24' })); // held by n1
    assert.equal(n3.podCIDR, '10.244.2.0/24');
    const n4 = await joinCluster(opts('n4', 'e', { podCIDR: '10.244.7.0/24' }));
    assert.equal(n4.podCIDR, '10.244.7.0/24');
  });

  it('answers bad join requests with 400', async () => {
    const bad = await ts.request('POST', '/kennel/v1/join', { nodeName: 'Not_A_Name', identity: 'z'.repeat(32) }, { authorization: `Bearer ${SECRET}` });
    assert.equal(bad.status, 400);
    assert.match(bad.json<{ message: string }>().message, /node name "Not_A_Name" is not valid/);
    assert.equal((await ts.request('GET', '/kennel/v1/join', undefined, { authorization: `Bearer ${SECRET}` })).status, 405);
    assert.match(joinRequestError({ nodeName: 'ok', identity: 'short' }), /identity/);
    assert.match(joinRequestError([]), /JSON object/);
    assert.equal(joinRequestError({ nodeName: 'ok', identity: 'i'.repeat(16), podCIDR: '10.244.3.0/24' }), '');
  });

  it('restricts what the node credential may do (node authorizer + admission)', async () => {
    const n1 = as(first);
    // Its own Node: create, patch, status.
    const node = (name: string) => ({ apiVersion: 'v1', kind: 'Node', metadata: { name } });
    assert.equal((await ts.request('POST', '/api/v1/nodes', node('n1'), n1)).status, 201);
    const other = await ts.request('POST', '/api/v1/nodes', node('n2'), n1);
    assert.equal(other.status, 403);
    assert.equal(other.json<{ message: string }>().message, 'nodes "n2" is forbidden: node "n1" is not allowed to modify node "n2"');
    assert.equal((await ts.request('POST', '/api/v1/nodes', node('n2'))).status, 201); // the admin may
    const merge = { 'content-type': 'application/merge-patch+json' };
    assert.equal((await ts.request('PATCH', '/api/v1/nodes/n1', { metadata: { labels: { a: 'b' } } }, { ...n1, ...merge })).status, 200);
    assert.equal((await ts.request('PATCH', '/api/v1/nodes/n1/status', { status: { phase: 'Running' } }, { ...n1, ...merge })).status, 200);
    const patchOther = await ts.request('PATCH', '/api/v1/nodes/n2', { metadata: { labels: { a: 'b' } } }, { ...n1, ...merge });
    assert.equal(patchOther.status, 403);
    const st = patchOther.json<{ kind: string; reason: string; message: string; code: number }>();
    assert.equal(st.kind, 'Status');
    assert.equal(st.reason, 'Forbidden');
    assert.equal(st.message, 'nodes "n2" is forbidden: User "system:node:n1" cannot patch resource "nodes" in API group "" at the cluster scope: node "n1" is not allowed to modify node "n2"');
    // Reads.
    assert.equal((await ts.request('GET', '/api/v1/nodes', undefined, n1)).status, 200);
    assert.equal((await ts.request('GET', '/api/v1/pods', undefined, n1)).status, 200);
    assert.equal((await ts.request('GET', '/api/v1/namespaces/default/secrets', undefined, n1)).status, 403);
    assert.equal((await ts.request('GET', '/apis/apps/v1/statefulsets', undefined, n1)).status, 403);
    // Its own lease only.
    const lease = (name: string) => ({ apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name, namespace: 'kube-node-lease' }, spec: { holderIdentity: name } });
    assert.equal((await ts.request('POST', '/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases', lease('n1'), n1)).status, 201);
    assert.equal((await ts.request('POST', '/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases', lease('n2'), n1)).status, 403);
    // Pods: no creates; status only of its own; secrets where its pods run.
    const pod = (name: string, nodeName: string) => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: 'default' }, spec: { nodeName, containers: [{ name: 'c', image: 'busybox' }] } });
    assert.equal((await ts.request('POST', '/api/v1/namespaces/default/pods', pod('p0', 'n1'), n1)).status, 403);
    assert.equal((await ts.request('POST', '/api/v1/namespaces/default/pods', pod('p1', 'n1'))).status, 201);
    assert.equal((await ts.request('POST', '/api/v1/namespaces/default/pods', pod('p2', 'n2'))).status, 201);
    assert.equal((await ts.request('PATCH', '/api/v1/namespaces/default/pods/p1/status', { status: { phase: 'Running' } }, { ...n1, ...merge })).status, 200);
    const foreign = await ts.request('PATCH', '/api/v1/namespaces/default/pods/p2/status', { status: { phase: 'Running' } }, { ...n1, ...merge });
    assert.equal(foreign.status, 403);
    assert.match(foreign.json<{ message: string }>().message, /^pods "p2" is forbidden: User "system:node:n1" cannot patch resource "pods\/status" in API group "" in the namespace "default"/);
    assert.equal((await ts.request('GET', '/api/v1/namespaces/default/secrets', undefined, n1)).status, 200);
    assert.equal((await ts.request('DELETE', '/api/v1/namespaces/default/pods/p2', undefined, n1)).status, 403);
    assert.ok([200, 202].includes((await ts.request('DELETE', '/api/v1/namespaces/default/pods/p1', undefined, n1)).status));
    // The admin is not restricted.
    assert.equal((await ts.request('PATCH', '/api/v1/nodes/n1', { metadata: { labels: { c: 'd' } } }, merge)).status, 200);
  });

  it('keeps credentials across a server restart, and revokes one whose Secret is deleted', async () => {
    await ts.server.close();
    const again = await startTestServer({ store, server: { join: { secret: SECRET } } });
    try {
      const get = (token: string) =>
        new Promise<number>((resolve, reject) => {
          https
            .get(`${again.url}/api/v1/nodes/n1`, { ca: again.ca, headers: as(token) }, (res) => {
              res.resume();
              resolve(res.statusCode ?? 0);
            })
            .on('error', reject);
        });
      assert.equal(await get(first), 200);
      assert.equal((await again.request('DELETE', '/api/v1/namespaces/kube-system/secrets/kennel-node-n1')).status, 200);
      await waitFor('the revoked credential to be refused', async () => (await get(first)) === 401, 5000);
      // The name is free again: another agent may take it.
      const j = await joinCluster({ ...opts('n1', 'b'), server: again.url, caHash: sha256Hex(again.ca) });
      assert.equal(j.rejoined, false);
    } finally {
      await again.stop();
    }
  });
});
