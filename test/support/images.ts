// Test harness for the container stack: a docker-registry holding the busybox-static image
// kennel builds, and a kennel containerd in a temp data dir with its own bridge and pod CIDR,
// torn down completely (sandboxes, shims, netns, veths, bridge, mounts, files) by stop().
//
//   const reg = await startBusyboxRegistry();          // reg.image = 127.0.0.1:PORT/busybox:1
//   const ctd = await startTestContainerd({ insecureRegistries: [reg.host] });
//   ... ctd.runtime (a CriRuntime), ctd.podCIDR, ctd.bridgeName ...
//   await ctd.stop(); await reg.stop();
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { purgeContainerd, type ContainerdHandle } from '../../src/agent/runtime/containerd.ts';
import { startContainerdRuntime, type CriRuntime } from '../../src/agent/runtime/cri.ts';
import { pushBusyboxImage, type BuiltImage } from '../../src/agent/runtime/images.ts';
import { startRegistry, type RegistryHandle } from './registry.ts';

/** Binaries the container-stack tests need (Debian packages in parentheses). */
const NEEDED: [string, string][] = [
  ['containerd', 'containerd'],
  ['ctr', 'containerd'],
  ['runc', 'runc'],
  ['skopeo', 'skopeo'],
  ['docker-registry', 'docker-registry'],
  ['/usr/lib/cni/bridge', 'containernetworking-plugins'],
  ['/bin/busybox', 'busybox-static'],
  ['/usr/bin/tini-static', 'tini'],
  ['iptables', 'iptables'],
  ['ip', 'iproute2'],
];

/** Why the container stack cannot be tested here, or null when it can. */
export function containerStackMissing(): string | null {
  if (process.getuid?.() !== 0) return 'the containerd tests must run as root';
  const missing: string[] = [];
  for (const [bin, pkg] of NEEDED) {
    const ok = bin.startsWith('/')
      ? spawnSync('test', ['-x', bin]).status === 0
      : spawnSync('sh', ['-c', `command -v ${bin}`], { stdio: 'ignore' }).status === 0;
    if (!ok) missing.push(`${bin} (${pkg})`);
  }
  return missing.length ? `missing: ${missing.join(', ')} — apt-get install them` : null;
}

export interface BusyboxRegistry {
  registry: RegistryHandle;
  host: string;
  /** `127.0.0.1:PORT/busybox:1` */
  image: string;
  built: BuiltImage;
  stop(): Promise<void>;
}

/** A registry on 127.0.0.1 with the busybox-static image pushed as busybox:1. */
export async function startBusyboxRegistry(): Promise<BusyboxRegistry> {
  const registry = await startRegistry();
  const layout = mkdtempSync('/tmp/kennel-oci-');
  try {
    const image = `${registry.host}/busybox:1`;
    const built = await pushBusyboxImage(layout, image);
    return {
      registry,
      host: registry.host,
      image,
      built,
      stop: () => registry.stop(),
    };
  } catch (e) {
    await registry.stop();
    throw e;
  } finally {
    rmSync(layout, { recursive: true, force: true });
  }
}

export interface TestContainerd {
  dataDir: string;
  /** The daemon (a test that restarts containerd puts the new handle here). */
  handle: ContainerdHandle;
  runtime: CriRuntime;
  bridgeName: string;
  podCIDR: string;
  /** Remove every sandbox, stop containerd, delete the bridge and the data dir. */
  stop(): Promise<void>;
}

/** A kennel containerd in a fresh temp data dir, with a bridge and pod CIDR of its own. */
export async function startTestContainerd(opts: { insecureRegistries?: string[] } = {}): Promise<TestContainerd> {
  // Short path: the socket path must fit a unix socket address.
  const dataDir = mkdtempSync('/tmp/kcri-');
  const bridgeName = `kt${randomBytes(3).toString('hex')}`;
  const podCIDR = `10.${200 + (randomBytes(1)[0]! % 50)}.${randomBytes(1)[0]!}.0/24`;
  const stop = async () => {
    await purgeContainerd(dataDir, { bridgeName });
    rmSync(dataDir, { recursive: true, force: true });
  };
  try {
    const { containerd: handle, runtime } = await startContainerdRuntime({ dataDir, bridgeName, podCIDR, insecureRegistries: opts.insecureRegistries });
    return {
      dataDir,
      handle,
      runtime,
      bridgeName,
      podCIDR,
      stop: async () => {
        await runtime.close();
        await stop();
      },
    };
  } catch (e) {
    await stop();
    throw e;
  }
}
