// Several `kennel server` processes on one etcd serve the same data: a write through one is
// seen by a watch on the other.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startEtcd } from '../support/etcd.ts';
import { startKennel, type Kennel } from '../support/kennel.ts';

describe('kennel server × 2 on one etcd', () => {
  let etcd: Awaited<ReturnType<typeof startEtcd>>;
  let a: Kennel;
  let b: Kennel;
  before(async () => {
    etcd = await startEtcd();
    const args = ['--store', 'etcd', '--etcd-endpoints', etcd.endpoints.join(','), '--etcd-prefix', '/kennel-e2e/'];
    a = await startKennel(args, { command: 'server' });
    b = await startKennel(args, { command: 'server' });
  });
  after(async () => {
    await a?.stop();
    await b?.stop();
    await etcd?.stop();
  });

  it('a write on one server reaches a watch on the other', async () => {
    const watching = b.kubectl(['get', 'configmaps', '-n', 'default', '-w', '--field-selector=metadata.name=shared', '-o', 'jsonpath={.data.v}{"\\n"}'], { timeoutMs: 6000 });
    await new Promise((r) => setTimeout(r, 1500));
    await a.k(['create', 'configmap', 'shared', '--from-literal=v=from-a']);
    await a.k(['patch', 'configmap', 'shared', '--type=merge', '-p', '{"data":{"v":"again"}}']);
    const r = await watching;
    assert.deepEqual(r.stdout.trim().split('\n'), ['from-a', 'again']);
    assert.equal(await b.k(['get', 'configmap', 'shared', '-o', 'jsonpath={.data.v}']), 'again');
    // Optimistic concurrency holds across servers.
    const rv = await a.k(['get', 'configmap', 'shared', '-o', 'jsonpath={.metadata.resourceVersion}']);
    await b.k(['annotate', 'configmap', 'shared', 'touched=yes']);
    const stale = await a.kubectl(['annotate', 'configmap', 'shared', 'again=yes', `--resource-version=${rv}`]);
    assert.equal(stale.code, 1);
    assert.match(stale.stderr, /Conflict/);
  });
});
