// Service-account tokens through the TokenRequest API, and the default ServiceAccount controller.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type TestServer } from '../support/apiserver.ts';
import { KubeClient } from '../../src/client/rest.ts';
import { startServiceAccountsController, missingObjects } from '../../src/controllers/serviceaccounts.ts';
import { silentLogger } from '../../src/util/log.ts';

describe('service-account tokens', () => {
  let s: TestServer;
  before(async () => {
    s = await startTestServer();
  });
  after(async () => {
    await s.stop();
  });

  it('TokenRequest issues a bound token the server accepts until its account or pod goes', async () => {
    await s.request('POST', '/api/v1/namespaces/default/serviceaccounts', { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'robot' } });
    const pod = (
      await s.request('POST', '/api/v1/namespaces/default/pods', { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, spec: { serviceAccountName: 'robot', containers: [{ name: 'c', image: 'x' }] } })
    ).json<{ metadata: { uid: string } }>();
    const r = await s.request('POST', '/api/v1/namespaces/default/serviceaccounts/robot/token', {
      apiVersion: 'authentication.k8s.io/v1',
      kind: 'TokenRequest',
      spec: { expirationSeconds: 3600, boundObjectRef: { kind: 'Pod', apiVersion: 'v1', name: 'p', uid: pod.metadata.uid } },
    });
    assert.equal(r.status, 201);
    const tr = r.json<{ status: { token: string; expirationTimestamp: string } }>();
    assert.match(tr.status.token, /^[\w-]+\.[\w-]+\.[\w-]+$/);
    assert.ok(Date.parse(tr.status.expirationTimestamp) > Date.now() + 3500_000);
    const who = await s.request('POST', '/apis/authentication.k8s.io/v1/selfsubjectreviews', { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' }, { authorization: `Bearer ${tr.status.token}` });
    assert.equal(who.status, 201);
    const info = who.json<{ status: { userInfo: { username: string; groups: string[] } } }>().status.userInfo;
    assert.equal(info.username, 'system:serviceaccount:default:robot');
    assert.ok(info.groups.includes('system:serviceaccounts:default'));
    const forged = tr.status.token.slice(0, -4) + (tr.status.token.endsWith('AAAA') ? 'BBBB' : 'AAAA');
    assert.equal((await s.request('GET', '/api/v1/namespaces', undefined, { authorization: `Bearer ${forged}` })).status, 401);
    // A token bound to a pod that is gone (or to an account that is gone) is refused.
    const pod2 = (
      await s.request('POST', '/api/v1/namespaces/default/pods', { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p2' }, spec: { serviceAccountName: 'robot', containers: [{ name: 'c', image: 'x' }] } })
    ).json<{ metadata: { uid: string } }>();
    const bound = (
      await s.request('POST', '/api/v1/namespaces/default/serviceaccounts/robot/token', { spec: { boundObjectRef: { kind: 'Pod', apiVersion: 'v1', name: 'p2', uid: pod2.metadata.uid } } })
    ).json<{ status: { token: string } }>().status.token;
    const unbound = (await s.request('POST', '/api/v1/namespaces/default/serviceaccounts/robot/token', { spec: {} })).json<{ status: { token: string } }>().status.token;
    await s.request('DELETE', '/api/v1/namespaces/default/pods/p2?gracePeriodSeconds=0');
    assert.equal((await s.request('GET', '/api/v1/namespaces', undefined, { authorization: `Bearer ${bound}` })).status, 401);
    await s.request('DELETE', '/api/v1/namespaces/default/serviceaccounts/robot');
    assert.equal((await s.request('GET', '/api/v1/namespaces', undefined, { authorization: `Bearer ${unbound}` })).status, 401);
  });

  it('rejects short expirations and unknown accounts', async () => {
    await s.request('POST', '/api/v1/namespaces/default/serviceaccounts', { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'short' } });
    const bad = await s.request('POST', '/api/v1/namespaces/default/serviceaccounts/short/token', { spec: { expirationSeconds: 60 } });
    assert.equal(bad.status, 422);
    assert.match(String(bad.json().message), /may not specify a duration less than 10 minutes/);
    const none = await s.request('POST', '/api/v1/namespaces/default/serviceaccounts/nobody/token', { spec: {} });
    assert.equal(none.status, 404);
  });

  it('every namespace gets a default ServiceAccount and kube-root-ca.crt', async () => {
    assert.deepEqual(missingObjects({ metadata: { name: 'x', deletionTimestamp: 'now' } }, false, undefined, 'CA'), []);
    assert.equal(missingObjects({ metadata: { name: 'x' } }, true, { metadata: {}, data: { 'ca.crt': 'CA' } }, 'CA').length, 0);
    const client = new KubeClient({ server: s.url, ca: s.ca, token: s.token });
    const c = await startServiceAccountsController({ client, logger: silentLogger });
    try {
      await s.request('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'fresh' } });
      const deadline = Date.now() + 5000;
      let sa = 404;
      let cm = 404;
      while (Date.now() < deadline && (sa !== 200 || cm !== 200)) {
        sa = (await s.request('GET', '/api/v1/namespaces/fresh/serviceaccounts/default')).status;
        cm = (await s.request('GET', '/api/v1/namespaces/fresh/configmaps/kube-root-ca.crt')).status;
        if (sa !== 200 || cm !== 200) await new Promise((r) => setTimeout(r, 50));
      }
      assert.equal(sa, 200);
      assert.equal(cm, 200);
      const data = (await s.request('GET', '/api/v1/namespaces/fresh/configmaps/kube-root-ca.crt')).json<{ data: Record<string, string> }>().data;
      assert.equal(data['ca.crt'], s.ca);
    } finally {
      await c.stop();
      client.close();
    }
  });
});
