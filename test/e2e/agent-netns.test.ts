// Three agents, each in its own network namespace (test/support/netns-cluster.ts), join a
// `kennel server`: every node Ready with the address and pod CIDR it was given, pods run on
// each, the API server reaches each agent over the test network (kubectl logs), nodes reach
// each other, and the cluster DNS answers in every namespace. Everything the test made is gone
// afterwards. Needs root (skipped otherwise).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { netnsAvailable, startNetnsCluster, type NetnsCluster } from '../support/netns-cluster.ts';
import { waitFor } from '../support/wait.ts';

const available = netnsAvailable();

describe('agents in network namespaces (process runtime)', { skip: available ? false : 'needs root, iproute2 netns and nsenter' }, () => {
  let c: NetnsCluster | undefined;
  before(async () => {
    c = await startNetnsCluster({ nodes: 3, runtime: 'process' });
  });
  after(async () => {
    const cluster = c;
    await cluster?.stop();
    if (cluster) assert.deepEqual(cluster.leftovers(), [], 'every namespace and link is removed');
  });

  it('every node is Ready with its own address and pod CIDR', async () => {
    const out = await c!.server.k(['get', 'nodes', '-o', 'jsonpath={range .items[*]}{.metadata.name} {.status.addresses[?(@.type=="InternalIP")].address} {.spec.podCIDR}{"\\n"}{end}']);
    const rows = out.trim().split('\n').map((l) => l.split(' '));
    assert.deepEqual(
      rows.map((r) => r[0]),
      ['node-1', 'node-2', 'node-3'],
    );
    for (const n of c!.nodes) {
      const row = rows.find((r) => r[0] === n.name)!;
      assert.equal(row[1], n.ip);
      assert.equal(row[2], n.podCIDR);
    }
    assert.deepEqual(new Set(c!.nodes.map((n) => n.podCIDR)).size, 3);
    for (const n of c!.nodes) assert.match(n.podCIDR, /^10\.244\.\d+\.0\/24$/);
  });

  it("routes each node's pod CIDR via that node, and nodes reach each other", async () => {
    const [a, b, d] = c!.nodes;
    const via = a!.exec(['ip', 'route', 'get', b!.podCIDR.replace('0/24', '7')]);
    assert.match(via.stdout, new RegExp(`via ${b!.ip.replace(/\./g, '\\.')}`));
    // node-1 → node-3 over the bridge: the agent's HTTPS endpoint answers (401/403 without a client certificate is fine).
    const port = (await c!.server.k(['get', 'node', d!.name, '-o', 'jsonpath={.status.daemonEndpoints.kubeletEndpoint.Port}'])).trim();
    const r = a!.exec(['curl', '-sk', '-o', '/dev/null', '-w', '%{http_code}', '--max-time', '5', `https://${d!.ip}:${port}/healthz`]);
    assert.match(r.stdout, /^\d{3}$/, r.stderr);
    assert.notEqual(r.stdout, '000');
  });

  it('the cluster DNS answers in every namespace (the server at the gateway, and the node-local one)', async () => {
    // dig's own retries (2 × 2 s) once ran out while the whole suite loaded the machine; a few
    // more rounds over 15 s, and every miss is reported.
    const answer = async (n: NetnsCluster['nodes'][number], server: string, what: string): Promise<void> => {
      const misses: string[] = [];
      const got = await waitFor(
        `${n.name}: ${what} answers`,
        () => {
          const r = n.exec(['dig', '+short', '+time=2', '+tries=2', `@${server}`, 'kubernetes.default.svc.cluster.local']);
          if (r.stdout.trim() === '10.43.0.1') return r.stdout.trim();
          misses.push(`${r.stdout.trim()} ${r.stderr.trim()}`.trim());
          return undefined;
        },
        15_000,
        200,
      ).catch((e: unknown) => assert.fail(`${String(e)}; answers: ${misses.join(' | ')}`));
      assert.equal(got, '10.43.0.1');
      if (misses.length) process.stderr.write(`  ${n.name}: ${what} answered after ${misses.length} miss(es): ${misses.join(' | ')}\n`);
    };
    for (const n of c!.nodes) {
      await answer(n, c!.gateway, 'the server\'s DNS');
      await answer(n, '127.0.0.10', 'the node-local DNS');
    }
  });

  it('runs a pod on every node; kubectl logs reaches each agent over the test network', async () => {
    const names = c!.nodes.map((n) => `hello-${n.name}`);
    for (const n of c!.nodes) {
      await c!.server.k([
        'run',
        `hello-${n.name}`,
        '--image=busybox',
        '--restart=Never',
        `--overrides={"spec":{"nodeName":"${n.name}"}}`,
        '--',
        'sh',
        '-c',
        // Process pods share their node's network namespace but not its files: they name the
        // DNS server (the node-local one, then the server's) instead of reading resolv.conf.
        `echo hello from ${n.name}; for d in 127.0.0.10 ${c!.gateway}; do nslookup kubernetes.default.svc.cluster.local $d 2>&1 | grep -c 10.43.0.1; done; sleep 3600`,
      ]);
    }
    for (const [i, n] of c!.nodes.entries()) {
      const name = names[i]!;
      await waitFor(`${name} Running`, async () => (await c!.server.k(['get', 'pod', name, '-o', 'jsonpath={.status.phase}'])).trim() === 'Running', 60_000, 250);
      assert.equal((await c!.server.k(['get', 'pod', name, '-o', 'jsonpath={.status.hostIP}'])).trim(), n.ip);
      const logs = await waitFor(`${name} logs`, async () => {
        const r = await c!.server.kubectl(['logs', name]);
        return r.code === 0 && r.stdout.includes('hello') && r.stdout.trim().split('\n').length >= 3 ? r.stdout : undefined;
      }, 30_000, 250);
      assert.match(logs, new RegExp(`hello from ${n.name}`));
      // The pod resolved a cluster name through both cluster DNS servers.
      assert.deepEqual(logs.trim().split('\n').slice(1, 3).map((l) => l !== '0'), [true, true], logs);
    }
  });
});
