// The bundled tools run standalone (plain node, no tsx, no node_modules) with the in-cluster
// config: peer-finder in a "pod" (service-account files + KUBERNETES_SERVICE_HOST/PORT) waits
// for itself among the peers, runs on-start and exits with -once; wait-for succeeds.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmod, mkdtemp, readFile, rm, writeFile, copyFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestServer, type TestServer } from '../support/apiserver.ts';
import { KubeClient, type ResourceRef } from '../../src/client/rest.ts';
import type { KubeObject } from '../../src/registry/types.ts';
import { bundleTools, sharedLibraries } from '../../src/tools/bundle.ts';

const SLICES: ResourceRef = { group: 'discovery.k8s.io', version: 'v1', plural: 'endpointslices', namespaced: true, kind: 'EndpointSlice' };

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv, timeout = 10_000): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { env, timeout }, (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }));
  });
}

describe('bundled tools', () => {
  let srv: TestServer;
  let client: KubeClient;
  let dir: string;
  let env: NodeJS.ProcessEnv;
  before(async () => {
    srv = await startTestServer();
    client = KubeClient.fromKubeconfig(srv.kubeconfig);
    dir = await mkdtemp(join(tmpdir(), 'kennel-tools-'));
    await bundleTools(join(dir, 'dist'));
    // Only the bundle, away from the project's node_modules.
    const sa = join(dir, 'sa');
    await import('node:fs/promises').then((f) => f.mkdir(sa));
    await writeFile(join(sa, 'token'), srv.token);
    await writeFile(join(sa, 'ca.crt'), srv.ca);
    await writeFile(join(sa, 'namespace'), 'default');
    const u = new URL(srv.url);
    env = { PATH: process.env.PATH, KUBERNETES_SERVICE_HOST: u.hostname, KUBERNETES_SERVICE_PORT: u.port, KENNEL_SERVICE_ACCOUNT_DIR: sa, HOSTNAME: 'web-1' };
    await client.create(SLICES, {
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: { name: 'nginx-a', namespace: 'default', labels: { 'kubernetes.io/service-name': 'nginx' } },
      addressType: 'IPv4',
      endpoints: [
        { addresses: ['10.0.0.1'], hostname: 'web-0', conditions: { ready: true } },
        { addresses: ['10.0.0.2'], hostname: 'web-1', conditions: { ready: true } },
      ],
      ports: [{ name: 'web', port: 80, protocol: 'TCP' }],
    } as KubeObject);
  });
  after(async () => {
    client.close();
    await srv.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('peer-finder.js finds its peers through the in-cluster config', async () => {
    const pf = join(dir, 'pf.js');
    await copyFile(join(dir, 'dist', 'peer-finder.js'), pf);
    const out = join(dir, 'peers.txt');
    const script = join(dir, 'on-start.sh');
    await writeFile(script, `#!/bin/sh\ncat > "${out}"\n`);
    await chmod(script, 0o755);
    const r = await run(process.execPath, [pf, '-on-start=' + script, '-service=nginx', '-once'], env);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await readFile(out, 'utf8'), 'web-0.nginx.default.svc.cluster.local\nweb-1.nginx.default.svc.cluster.local\n');
    assert.match(r.stderr, /watching EndpointSlices of default\/nginx/);
  });

  it('wait-for.js exits 0 for a ready service and 2 on bad flags', async () => {
    const wf = join(dir, 'dist', 'wait-for.js');
    const ok = await run(process.execPath, [wf, 'service', 'nginx', '--ready', '2', '--timeout', '5s'], env);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /default\/nginx: 2\/2 ready/);
    const bad = await run(process.execPath, [wf, 'service'], env);
    assert.equal(bad.code, 2);
  });

  it('lists the libraries the node binary links (for the image)', () => {
    const libs = sharedLibraries(process.execPath);
    // A static node has none; a dynamic one has at least libc and the loader.
    if (libs.length > 0) assert.ok(libs.some((l) => /\/ld-(linux|musl)/.test(l)) && libs.some((l) => /libc\./.test(l)), libs.join(' '));
  });
});
