// Every built-in controller on one shared InformerFactory, as `kennel server` runs them: a
// controller started on warm caches gets the existing objects replayed to its handlers at
// once (before its start function has returned), none of its handlers may fail on that, none
// may mutate a cached object (the factory deep-freezes them here), and a second term on the
// same factory (controllers stopped and started again) works as the first.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type TestServer } from '../support/apiserver.ts';
import { KubeClient, resourceRef } from '../../src/client/rest.ts';
import { InformerFactory } from '../../src/client/informer.ts';
import { defaultRegistry } from '../../src/registry/index.ts';
import type { Logger } from '../../src/util/log.ts';
import type { RunningController } from '../../src/controllers/manager.ts';
import { builtinControllers } from '../../src/controllers/index.ts';
import { waitFor } from '../support/wait.ts';

const NAMESPACES = resourceRef('v1', 'namespaces', false, 'Namespace');
const SERVICEACCOUNTS = resourceRef('v1', 'serviceaccounts', true, 'ServiceAccount');
const SERVICES = resourceRef('v1', 'services', true, 'Service');
const PODS = resourceRef('v1', 'pods', true, 'Pod');
const ENDPOINTS = resourceRef('v1', 'endpoints', true, 'Endpoints');
const REPLICASETS = resourceRef('apps/v1', 'replicasets', true, 'ReplicaSet');

/** A logger that keeps error lines (and handler failures, logged as errors). */
function capturingLogger(errors: string[], component = 'test'): Logger {
  const keep = (level: string) => (msg: string, fields?: Record<string, unknown>) => {
    if (level === 'error') errors.push(`${component}: ${msg} ${JSON.stringify(fields ?? {})}`);
  };
  return { debug: keep('debug'), info: keep('info'), warn: keep('warn'), error: keep('error'), child: (c) => capturingLogger(errors, `${component}/${c}`) };
}

describe('built-in controllers on one shared informer factory', () => {
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

  it('start on warm, frozen caches, twice, without a handler failing', async () => {
    const errors: string[] = [];
    const logger = capturingLogger(errors);
    const informers = new InformerFactory(client, { freeze: true, logger: logger.child('informers') });
    // Objects every kind of controller looks at, there before any controller starts.
    await client.create(NAMESPACES, { metadata: { name: 'warm' } });
    await client.create(SERVICES, { metadata: { name: 'web', namespace: 'warm' }, spec: { selector: { app: 'web' }, ports: [{ port: 80, targetPort: 8080 }] } });
    await client.create(PODS, { metadata: { name: 'web-1', namespace: 'warm', labels: { app: 'web' } }, spec: { containers: [{ name: 'c', image: 'i' }] } });
    await client.create(REPLICASETS, {
      metadata: { name: 'rs', namespace: 'warm' },
      spec: { replicas: 1, selector: { matchLabels: { app: 'rs' } }, template: { metadata: { labels: { app: 'rs' } }, spec: { containers: [{ name: 'c', image: 'i' }] } } },
    });
    // Warm the pod and service caches first (as the scheduler does in `kennel server`).
    const pods = informers.informer(PODS);
    informers.informer(SERVICES);
    informers.start();
    await informers.waitForSync({ timeoutMs: 10_000 });
    assert.ok(pods.get('warm', 'web-1'));

    const startAll = async (): Promise<RunningController[]> => {
      const running: RunningController[] = [];
      for (const f of builtinControllers()) running.push(await f.start({ client, registry, logger: logger.child(f.name), informers }));
      return running;
    };
    const stopAll = async (running: RunningController[]): Promise<void> => {
      for (const r of running.reverse()) await r.stop();
    };
    try {
      for (const term of [1, 2]) {
        const running = await startAll();
        try {
          // The objects that were there before work out as live ones would.
          await waitFor(`term ${term}: the default ServiceAccount`, async () => (await client.get(SERVICEACCOUNTS, 'warm', 'default').catch(() => undefined)) !== undefined);
          await waitFor(`term ${term}: the Endpoints of web`, async () => (await client.get(ENDPOINTS, 'warm', 'web').catch(() => undefined)) !== undefined);
          await waitFor(`term ${term}: the ReplicaSet's pod`, () => pods.list().some((p) => p.metadata.labels?.app === 'rs'));
          const ns = `term-${term}`;
          await client.create(NAMESPACES, { metadata: { name: ns } });
          await waitFor(`term ${term}: the default ServiceAccount of a new namespace`, async () => (await client.get(SERVICEACCOUNTS, ns, 'default').catch(() => undefined)) !== undefined);
        } finally {
          await stopAll(running);
        }
        assert.deepEqual(errors, [], `term ${term}: no errors`);
        // The controllers are gone, their informers not.
        assert.ok(pods.hasSynced());
      }
    } finally {
      await informers.stop();
    }
  });
});
