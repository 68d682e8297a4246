// The controller manager's informers: every controller of a term gets the same factory; a
// factory the manager made is stopped with the term, one it was given is left running.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type TestServer } from '../support/apiserver.ts';
import { KubeClient, resourceRef } from '../../src/client/rest.ts';
import { InformerFactory } from '../../src/client/informer.ts';
import { defaultRegistry } from '../../src/registry/index.ts';
import { silentLogger } from '../../src/util/log.ts';
import { startControllerManager, type ControllerContext, type ControllerFactory } from '../../src/controllers/manager.ts';
import { waitFor } from '../support/wait.ts';

const CONFIGMAPS = resourceRef('v1', 'configmaps', true, 'ConfigMap');

/** A controller that takes the configmaps informer from ctx and records what it saw. */
function probe(name: string, seen: { name: string; ctx: ControllerContext; stopped: boolean }[]): ControllerFactory {
  return {
    name,
    async start(ctx) {
      const inf = ctx.informers.informer(CONFIGMAPS);
      ctx.informers.start();
      await inf.waitForSync({ timeoutMs: 5000 });
      const rec = { name, ctx, stopped: false };
      seen.push(rec);
      return {
        async stop() {
          rec.stopped = true;
        },
      };
    },
  };
}

describe('controller manager informers', () => {
  let s: TestServer;
  let client: KubeClient;
  const registry = defaultRegistry();

  before(async () => {
    s = await startTestServer();
    client = new KubeClient({ server: s.url, ca: s.ca, token: s.token });
  });
  after(async () => {
    client.close();
    await s.stop();
  });

  it('gives every controller of a term one factory, and stops it with the term', async () => {
    const seen: { name: string; ctx: ControllerContext; stopped: boolean }[] = [];
    const m = await startControllerManager({ client, registry, logger: silentLogger, identity: 'mgr-a', leaseName: 'test-manager-a', controllers: [probe('one', seen), probe('two', seen)] });
    try {
      await waitFor('both controllers to start', () => seen.length === 2);
      const f = seen[0].ctx.informers;
      assert.equal(seen[1].ctx.informers, f);
      assert.equal(f.size, 1, 'one informer for both');
      const inf = f.informer(CONFIGMAPS);
      assert.ok(inf.hasSynced());
    } finally {
      await m.stop();
    }
    assert.ok(seen.every((r) => r.stopped));
    assert.throws(() => seen[0].ctx.informers.informer(resourceRef('v1', 'secrets', true, 'Secret')), /factory stopped/);
  });

  it('with the process factory: shares it and leaves it running', async () => {
    const shared = new InformerFactory(client);
    const seen: { name: string; ctx: ControllerContext; stopped: boolean }[] = [];
    const m = await startControllerManager({ client, registry, logger: silentLogger, identity: 'mgr-b', leaseName: 'test-manager-b', informers: shared, controllers: [probe('one', seen)] });
    try {
      await waitFor('the controller to start', () => seen.length === 1);
      assert.equal(seen[0].ctx.informers, shared);
      await m.stop();
      assert.ok(seen[0].stopped);
      const inf = shared.informer(CONFIGMAPS);
      await client.create(CONFIGMAPS, { metadata: { name: 'after-manager', namespace: 'default' } });
      await waitFor('the shared informer to see a change after the manager stopped', () => inf.get('default', 'after-manager') !== undefined);
    } finally {
      await m.stop();
      await shared.stop();
    }
  });
});
