import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { EventHandler } from '../../src/client/informer.ts';
import type { NftRunner } from '../../src/agent/proxy/nft.ts';
import { startServiceProxy, type ObjectSource } from '../../src/agent/proxy/service-proxy.ts';
import type { KubeObject } from '../../src/registry/types.ts';
import { silentLogger } from '../../src/util/log.ts';

class FakeSource implements ObjectSource {
  objs: KubeObject[] = [];
  readonly handlers = new Set<EventHandler<KubeObject>>();
  list(): KubeObject[] {
    return this.objs;
  }
  addEventHandler(h: EventHandler<KubeObject>): () => void {
    this.handlers.add(h);
    return () => this.handlers.delete(h);
  }
  async waitForSync(): Promise<void> {}
  add(o: KubeObject): void {
    this.objs = [...this.objs, o];
    for (const h of this.handlers) h.onAdd?.(o, false);
  }
}

class FakeNft implements NftRunner {
  scripts: string[] = [];
  fail = false;
  async apply(script: string): Promise<void> {
    if (this.fail && !script.includes('kennel-probe')) throw new Error('nft: boom');
    this.scripts.push(script);
  }
  async run(): Promise<string> {
    return '';
  }
  get tableScripts(): string[] {
    return this.scripts.filter((s) => s.includes('table ip kp-unit'));
  }
}

const svc = (name: string, ip: string): KubeObject => ({ apiVersion: 'v1', kind: 'Service', metadata: { namespace: 'x', name }, spec: { clusterIP: ip, ports: [{ port: 80 }] } });

test('service proxy: initial apply, debounced re-apply, no-op changes skipped, delete on stop', async () => {
  const services = new FakeSource();
  const slices = new FakeSource();
  services.objs = [svc('a', '10.43.0.10')];
  const nft = new FakeNft();
  const proxy = await startServiceProxy({ client: undefined as never, logger: silentLogger, podCIDR: '10.244.0.0/24', table: 'kp-unit', services, endpointSlices: slices, nft, debounceMs: 5 });
  assert.equal(nft.tableScripts.length, 1);
  assert.match(nft.tableScripts[0]!, /10\.43\.0\.10 \. tcp \. 80 : goto reject-chain/);
  // A burst of changes: one apply.
  for (let i = 11; i < 21; i++) services.add(svc(`s${i}`, `10.43.0.${i}`));
  await proxy.settled();
  assert.equal(nft.tableScripts.length, 2);
  assert.equal(proxy.rules.length, 11);
  assert.equal(proxy.stats.servicePorts, 11);
  // An update that changes nothing in the rules: no nft run.
  for (const h of services.handlers) h.onUpdate?.(services.objs[0]!, { ...services.objs[0]! });
  await proxy.settled();
  assert.equal(nft.tableScripts.length, 2);
  // sync() forces an apply.
  await proxy.sync();
  assert.equal(nft.tableScripts.length, 3);
  // A failing apply is counted and keeps the last good rules.
  nft.fail = true;
  services.add(svc('late', '10.43.0.99'));
  await proxy.settled();
  assert.equal(proxy.stats.failures, 1);
  assert.match(proxy.stats.lastError ?? '', /boom/);
  assert.equal(proxy.rules.length, 11);
  nft.fail = false;
  await proxy.sync();
  assert.equal(proxy.rules.length, 12);
  await proxy.stop();
  assert.equal(nft.scripts.at(-1), 'table ip kp-unit {}\ndelete table ip kp-unit\n');
  assert.equal(services.handlers.size, 0);
});

test('service proxy: a first apply that fails makes start fail', async () => {
  const nft = new FakeNft();
  nft.fail = true;
  const services = new FakeSource();
  await assert.rejects(
    startServiceProxy({ client: undefined as never, logger: silentLogger, podCIDR: '10.244.0.0/24', table: 'kp-unit', services, endpointSlices: new FakeSource(), nft }),
    /boom/,
  );
  assert.equal(services.handlers.size, 0);
});
