// bench/peer-latency: time from a pod's Ready flip (the ack of its status write) to peer-finder
// spawning its on-change script, through the real chain: the EndpointSlice controller turns the
// pod's readiness into its slice, then either
//   - watch mode: peer-finder's EndpointSlice watch, or
//   - dns mode:   kennel's DNS server (informer-fed) and peer-finder's SRV polling (1 s, as the
//                 classic tool).
// The API server, controller, DNS server and peer-finder all run in this process; the script is
// a real process (`cat > /dev/null`). In DNS mode each flip waits a random part of the poll
// interval first, so flips are not in phase with the polls. Ready flips alternate (ready / not ready) on one of three
// pods of a headless service. Prints one JSON line: p50/p99/max per mode (ms), and the same to
// the script's exit.
//
// Environment: BENCH_FLIPS (watch mode, default 40), BENCH_DNS_FLIPS (default 10),
// BENCH_DNS_POLL_MS (default 1000).
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestServer } from '../test/support/apiserver.ts';
import { KubeClient, type ResourceRef } from '../src/client/rest.ts';
import type { KubeObject } from '../src/registry/types.ts';
import { silentLogger } from '../src/util/log.ts';
import { startEndpointSliceController } from '../src/controllers/endpoints/index.ts';
import { startDnsServer } from '../src/dns/server.ts';
import { startPeerFinder, type PeerFinder, type ScriptRun } from '../src/tools/peer-finder.ts';
import { round, summarize } from './lib/stats.ts';

const FLIPS = Number(process.env.BENCH_FLIPS ?? 40);
const DNS_FLIPS = Number(process.env.BENCH_DNS_FLIPS ?? 10);
const DNS_POLL_MS = Number(process.env.BENCH_DNS_POLL_MS ?? 1000);
const SERVICES: ResourceRef = { group: '', version: 'v1', plural: 'services', namespaced: true, kind: 'Service' };
const PODS: ResourceRef = { group: '', version: 'v1', plural: 'pods', namespaced: true, kind: 'Pod' };

const srv = await startTestServer();
const client = KubeClient.fromKubeconfig(srv.kubeconfig);
const dir = await mkdtemp(join(tmpdir(), 'kennel-peer-bench-'));
const script = join(dir, 'on-change.sh');
await writeFile(script, '#!/bin/sh\ncat > /dev/null\n');
await chmod(script, 0o755);

await client.create(SERVICES, { apiVersion: 'v1', kind: 'Service', metadata: { name: 'nginx', namespace: 'default' }, spec: { clusterIP: 'None', selector: { app: 'web' }, ports: [{ name: 'web', port: 80 }] } } as KubeObject);
const setReady = async (i: number, ready: boolean): Promise<void> => {
  const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  await client.patch(
    PODS,
    'default',
    `web-${i}`,
    {
      status: {
        phase: 'Running',
        podIP: `10.244.0.${10 + i}`,
        podIPs: [{ ip: `10.244.0.${10 + i}` }],
        conditions: [
          { type: 'Ready', status: ready ? 'True' : 'False', lastTransitionTime: now },
          { type: 'ContainersReady', status: ready ? 'True' : 'False', lastTransitionTime: now },
        ],
      },
    },
    'merge',
    { subresource: 'status' },
  );
};
for (let i = 0; i < 3; i++) {
  await client.create(PODS, {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: `web-${i}`, namespace: 'default', labels: { app: 'web' } },
    spec: { hostname: `web-${i}`, subdomain: 'nginx', nodeName: 'node-a', containers: [{ name: 'c', image: 'nginx' }] },
  } as KubeObject);
  await setReady(i, true);
}

const controller = await startEndpointSliceController({ client: KubeClient.fromKubeconfig(srv.kubeconfig), logger: silentLogger });
const dns = await startDnsServer({ client: KubeClient.fromKubeconfig(srv.kubeconfig), listen: [{ host: '127.0.0.1', port: 0 }], upstream: [], logger: silentLogger });

async function measure(finder: PeerFinder, flips: number, jitterMs = 0): Promise<{ spawn: number[]; exit: number[] }> {
  const spawn: number[] = [];
  const exit: number[] = [];
  // Settle: the initial set (3 peers) has been handed to the script.
  const want = (n: number): Promise<ScriptRun> =>
    new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no run with ${n} peers`)), 10_000);
      finder.onRun = (r) => {
        if (r.peers.length !== n) return;
        clearTimeout(t);
        resolve(r);
      };
    });
  if (finder.peers().length !== 3 || finder.runs.length === 0) await want(3);
  for (let k = 0; k < flips; k++) {
    const ready = k % 2 === 1;
    // Flips uncorrelated with the DNS poll phase (a flip right after a run would always wait a full poll).
    if (jitterMs) await new Promise((r) => setTimeout(r, Math.random() * jitterMs));
    const wait = want(ready ? 3 : 2);
    await setReady(0, ready);
    const ack = performance.now();
    const r = await wait;
    spawn.push(r.spawnedAt - ack);
    exit.push(r.endedAt - ack);
  }
  if (flips % 2 === 1) {
    const wait = want(3);
    await setReady(0, true);
    await wait;
  }
  return { spawn, exit };
}

const report = (m: { spawn: number[]; exit: number[] }) => ({ toScriptSpawn: summarize(m.spawn), toScriptExit: summarize(m.exit) });

const watchFinder = await startPeerFinder({ service: 'nginx', namespace: 'default', domain: 'cluster.local', onChange: script, client: client.config, log: () => undefined });
const watch = await measure(watchFinder, FLIPS);
await watchFinder.stop();

const { port } = dns.addresses[0]!;
const dnsFinder = await startPeerFinder({ service: 'nginx', namespace: 'default', domain: 'cluster.local', onChange: script, mode: 'dns', dnsServers: [`127.0.0.1:${port}`], pollMs: DNS_POLL_MS, log: () => undefined });
const viaDns = await measure(dnsFinder, DNS_FLIPS, DNS_POLL_MS);
await dnsFinder.stop();

const w = report(watch);
const d = report(viaDns);
console.log(
  JSON.stringify({
    bench: 'peer-latency',
    what: 'pod Ready flip (status write ack) → on-change script spawned / exited, via EndpointSlice controller',
    watch: { flips: FLIPS, ...w },
    dns: { flips: DNS_FLIPS, pollMs: DNS_POLL_MS, ...d },
    targetWatchP99Ms: 100,
    watchP99Met: w.toScriptSpawn.p99Ms < 100,
    dnsOverWatchP50: round(d.toScriptSpawn.p50Ms / Math.max(0.001, w.toScriptSpawn.p50Ms)),
  }),
);

await controller.stop();
await dns.stop();
client.close();
await srv.stop();
await rm(dir, { recursive: true, force: true });
process.exit(0);
