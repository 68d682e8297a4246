// Helpers for tests that drive a test API server (support/apiserver.ts) with a client: reading an
// object that may be gone, playing the kubelet's status writes, and running kubectl against it.
import { execFile, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { isNotFound, type KubeClient, type ResourceRef } from '../../src/client/rest.ts';
import type { KubeObject } from '../../src/registry/types.ts';
import type { TestServer } from './apiserver.ts';

/** The object, or null when the API server says NotFound. */
export async function getOrNull<T extends KubeObject>(client: KubeClient, res: ResourceRef, ns: string | undefined, name: string): Promise<T | null> {
  try {
    return await client.get<T>(res, ns, name);
  } catch (e) {
    if (isNotFound(e)) return null;
    throw e;
  }
}

const PODS: ResourceRef = { group: '', version: 'v1', plural: 'pods', namespaced: true, kind: 'Pod' };

/** As a kubelet would: the pod Running, Ready or not, with ip as its pod IP when given. */
export async function setPodReady(client: KubeClient, ns: string, name: string, ready: boolean, ip?: string): Promise<void> {
  const status: Record<string, unknown> = { phase: 'Running', conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }] };
  if (ip) {
    status.podIP = ip;
    status.podIPs = [{ ip }];
  }
  await client.patch(PODS, ns, name, { status }, 'merge', { subresource: 'status' });
}

/** Whether kubectl is installed (tests that need it are skipped otherwise). */
export const haveKubectl = spawnSync('sh', ['-c', 'command -v kubectl'], { stdio: 'ignore' }).status === 0;

/** Run kubectl against the test server (with its own cache dir); resolves with its output
 *  (stdout, and stderr after it when withStderr), rejects with both when it fails. */
export function kubectlAgainst(ts: TestServer, args: string[], o: { timeoutMs?: number; withStderr?: boolean } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('kubectl', ['--kubeconfig', ts.kubeconfig, '--cache-dir', join(ts.dir, 'kubectl-cache'), ...args], { timeout: o.timeoutMs ?? 20_000 }, (e, out, err) => {
      if (e) reject(new Error(`kubectl ${args.join(' ')}: ${err}${out}`));
      else resolve(o.withStderr ? out + err : out);
    });
  });
}
