// kennel's own containerd: the config, CNI network and registry settings it runs with, and
// starting, adopting and stopping the daemon.
//
// Everything lives under <dataDir> so that it never meets a system containerd:
//   <dataDir>/containerd/config.toml       version-2 config written here
//   <dataDir>/containerd/containerd.sock   CRI + containerd gRPC (ttrpc: containerd.sock.ttrpc)
//   <dataDir>/containerd/containerd.pid    pid of the daemon kennel started
//   <dataDir>/containerd/containerd.log    its stdout/stderr
//   <dataDir>/containerd/root, state       containerd's root and state dirs (netns mounts and
//                                          runc's state under state/ too)
//   <dataDir>/containerd/certs.d           per-registry hosts.toml (plain-HTTP registries, mirrors)
//   <dataDir>/containerd/pause.tar         the sandbox image kennel builds (images.ts)
//   <dataDir>/cni/net.d/10-kennel.conflist bridge + host-local + portmap (masquerading: one nat
//                                          chain per bridge, cni-masquerade.ts)
//   <dataDir>/cni/ipam                     host-local's allocations
//
// The daemon is started detached (its own session), so it outlives an agent restart; a new
// agent adopts it (pid file + /proc/<pid>/cmdline naming our config + the socket answering
// Version) instead of starting a second one. Containers run under containerd's shims and keep
// running across a containerd restart too.
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { silentLogger, type Logger } from '../../util/log.ts';
import { CriClient, grpcCode, grpcDetails } from './cri-proto.ts';
import { SANDBOX_IMAGE, buildSandboxImage, importImage, ociArchive, run, type CommandResult } from './images.ts';
import { ensurePodMasquerade, removePodMasquerade } from './cni-masquerade.ts';
import { removeFencedCgroups } from '../fenced-cgroups.ts';
import { effectiveRegistries, insecureHosts, renderCniConflist, renderContainerdConfig, renderHostsFiles, type RegistriesConfig } from './containerd-config.ts';
export {
  parseRegistriesYaml,
  renderCniConflist,
  renderContainerdConfig,
  renderHostsFiles,
  type RegistriesConfig,
  type RegistryHostConfig,
} from './containerd-config.ts';

export const CONTAINERD_BIN = process.env.KENNEL_CONTAINERD || 'containerd';
export const CTR_BIN = process.env.KENNEL_CTR || 'ctr';
export const DEFAULT_POD_CIDR = '10.244.0.0/24';
export const DEFAULT_BRIDGE = 'kennel0';
export const DEFAULT_CNI_BIN_DIR = '/usr/lib/cni';
export const CNI_NETWORK_NAME = 'kennel';

export interface ContainerdOptions {
  /** kennel's data dir; containerd's files go under <dataDir>/containerd and <dataDir>/cni. */
  dataDir: string;
  /** The node's pod CIDR (host-local's range); default 10.244.0.0/24. */
  podCIDR?: string;
  /** The CNI bridge's name; default kennel0. */
  bridgeName?: string;
  /** Where the CNI plugin binaries are; default /usr/lib/cni. */
  cniBinDir?: string;
  /** Registries (`host[:port]`) spoken to over plain HTTP. */
  insecureRegistries?: string[];
  /**
   * Mirrors and registry configs as in k3s's registries.yaml. Default: <dataDir>/registries.yaml
   * when it exists.
   */
  registries?: RegistriesConfig;
  /** Maximum wait for the CRI socket to answer Version after starting; default 20 s. */
  startTimeoutMs?: number;
  logger?: Logger;
  containerdBin?: string;
  ctrBin?: string;
}

export interface ContainerdPaths {
  dir: string;
  config: string;
  socket: string;
  pidFile: string;
  logFile: string;
  root: string;
  state: string;
  certsDir: string;
  cniConfDir: string;
  cniConfFile: string;
  ipamDir: string;
  sandboxArchive: string;
}

export interface ContainerdHandle {
  /** Path of the gRPC (CRI) unix socket. */
  readonly socket: string;
  readonly pid: number;
  /** True when an already running kennel containerd was adopted rather than started. */
  readonly adopted: boolean;
  readonly paths: ContainerdPaths;
  readonly sandboxImage: string;
  readonly bridgeName: string;
  readonly podCIDR: string;
  /** The effective registries config (registries.yaml merged with insecureRegistries). */
  readonly registries: RegistriesConfig;
  /** Run `ctr -a <socket> <args…>`. */
  ctr(args: string[], opts?: { timeoutMs?: number }): Promise<CommandResult>;
  /** Stop the daemon (SIGTERM, then SIGKILL after 10 s). Containers keep running under their shims. */
  stop(): Promise<void>;
}

export function containerdPaths(dataDir: string): ContainerdPaths {
  const dir = join(resolve(dataDir), 'containerd');
  const cni = join(resolve(dataDir), 'cni');
  return {
    dir,
    config: join(dir, 'config.toml'),
    socket: join(dir, 'containerd.sock'),
    pidFile: join(dir, 'containerd.pid'),
    logFile: join(dir, 'containerd.log'),
    root: join(dir, 'root'),
    state: join(dir, 'state'),
    certsDir: join(dir, 'certs.d'),
    cniConfDir: join(cni, 'net.d'),
    cniConfFile: join(cni, 'net.d', '10-kennel.conflist'),
    ipamDir: join(cni, 'ipam'),
    sandboxArchive: join(dir, 'pause.tar'),
  };
}

// ------------------------------------------------------------ process ----

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function cmdline(pid: number): string[] | null {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
  } catch {
    return null;
  }
}

function isOurContainerd(pid: number, configPath: string): boolean {
  const argv = cmdline(pid);
  if (!argv || argv.length === 0) return false;
  if (!/containerd$/.test(argv[0])) return false;
  const i = argv.indexOf('--config');
  return i >= 0 && argv[i + 1] === configPath;
}

/** The pid of a running containerd started with our config: the pid file first, else a /proc scan. */
export function findRunningContainerd(paths: ContainerdPaths): number | null {
  try {
    const pid = Number(readFileSync(paths.pidFile, 'utf8').trim());
    if (pid > 0 && pidAlive(pid) && isOurContainerd(pid, paths.config)) return pid;
  } catch {
    // no pid file
  }
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const pid = Number(name);
    if (isOurContainerd(pid, paths.config)) return pid;
  }
  return null;
}

async function waitExit(pid: number, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (!pidAlive(pid) || cmdline(pid) === null) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return !pidAlive(pid);
}

async function stopPid(pid: number, graceMs = 10_000): Promise<void> {
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  if (await waitExit(pid, graceMs)) return;
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    return;
  }
  await waitExit(pid, 5_000);
}

/** Resolves once the socket answers CRI Version; rejects after timeoutMs or when `alive()` turns false. */
export async function waitForCri(socket: string, timeoutMs: number, alive: () => boolean = () => true): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    if (!alive()) throw new Error('containerd exited');
    if (existsSync(socket)) {
      const client = new CriClient(socket);
      try {
        await client.call('Version', { version: 'v1' }, Math.min(2_000, Math.max(100, deadline - Date.now())));
        return;
      } catch (e) {
        last = e;
        // UNIMPLEMENTED: containerd runs but its CRI plugin failed to load; waiting will not help.
        if (grpcCode(e) === 12) throw new Error(`containerd's CRI plugin is not running on ${socket}: ${grpcDetails(e)}`);
      } finally {
        client.close();
      }
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`containerd's CRI socket ${socket} did not answer within ${timeoutMs} ms${last ? `: ${(last as Error).message}` : ''}`);
}

function tailFile(path: string, lines = 15): string {
  try {
    return readFileSync(path, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

function writeIfChanged(path: string, content: string | Buffer): boolean {
  try {
    const old = readFileSync(path);
    if (old.equals(Buffer.isBuffer(content) ? content : Buffer.from(content))) return false;
  } catch {
    // missing
  }
  writeFileSync(path, content);
  return true;
}

/** Start containerd with the config in `paths` (detached, its own session) and wait for the CRI. */
async function spawnContainerd(containerdBin: string, paths: ContainerdPaths, timeoutMs: number): Promise<number> {
  // A socket left by a containerd that died: nothing answers on it.
  rmSync(paths.socket, { force: true });
  rmSync(paths.socket + '.ttrpc', { force: true });
  const logFd = openSync(paths.logFile, 'a');
  const child = spawn(containerdBin, ['--config', paths.config], {
    detached: true,
    stdio: ['ignore', logFd, logFd],
    cwd: paths.dir,
  });
  closeSync(logFd);
  const pid = await new Promise<number>((res, rej) => {
    child.once('error', (e) => rej(new Error(`cannot start ${containerdBin}: ${e.message} (install the Debian package containerd)`)));
    child.once('spawn', () => res(child.pid ?? 0));
  });
  let exited = false;
  child.once('exit', () => {
    exited = true;
  });
  child.unref();
  writeFileSync(paths.pidFile, `${pid}\n`);
  try {
    await waitForCri(paths.socket, timeoutMs, () => !exited);
  } catch (e) {
    if (!exited) await stopPid(pid, 2_000);
    throw new Error(`${(e as Error).message}\n${tailFile(paths.logFile)}`);
  }
  return pid;
}

/**
 * Start kennel's containerd (or adopt the one already running on our socket), make sure the
 * sandbox image is imported, and resolve once the CRI answers.
 */
export async function startContainerd(opts: ContainerdOptions): Promise<ContainerdHandle> {
  const log = (opts.logger ?? silentLogger).child('containerd');
  const paths = containerdPaths(opts.dataDir);
  if (Buffer.byteLength(paths.socket + '.ttrpc') > 107) {
    throw new Error(`data dir path too long for a unix socket: ${paths.socket} (keep it under ~80 characters)`);
  }
  const podCIDR = opts.podCIDR ?? DEFAULT_POD_CIDR;
  const bridgeName = opts.bridgeName ?? DEFAULT_BRIDGE;
  if (bridgeName.length > 15) throw new Error(`bridge name ${bridgeName} is longer than 15 characters`);
  const cniBinDir = opts.cniBinDir ?? DEFAULT_CNI_BIN_DIR;
  const containerdBin = opts.containerdBin ?? CONTAINERD_BIN;
  const ctrBin = opts.ctrBin ?? CTR_BIN;
  for (const plugin of ['bridge', 'host-local', 'portmap', 'loopback']) {
    if (!existsSync(join(cniBinDir, plugin))) {
      throw new Error(`CNI plugin ${plugin} not found in ${cniBinDir}: install the Debian package containernetworking-plugins`);
    }
  }

  for (const d of [paths.dir, paths.root, paths.state, paths.certsDir, paths.cniConfDir, paths.ipamDir]) {
    mkdirSync(d, { recursive: true, mode: 0o700 });
  }

  // Pod traffic leaving the node is masqueraded by one rule set for the pod CIDR rather than by
  // the bridge plugin per pod (cni-masquerade.ts); the plugin's ipMasq is the fallback.
  const masqProblem = await ensurePodMasquerade(bridgeName, podCIDR);
  if (masqProblem) log.warn('could not install the pod masquerade rules; the CNI bridge plugin masquerades per pod instead', { error: masqProblem });

  // Files containerd reads: CNI (watched), registries (read per pull), config (read at start).
  writeIfChanged(paths.cniConfFile, renderCniConflist({ bridgeName, podCIDR, ipamDir: paths.ipamDir, ipMasq: masqProblem !== undefined }));
  const registries = effectiveRegistries(opts);
  const insecure = insecureHosts(opts);
  const hostFiles = renderHostsFiles(registries, insecure);
  for (const entry of readdirSync(paths.certsDir)) {
    if (!hostFiles.has(entry)) rmSync(join(paths.certsDir, entry), { recursive: true, force: true });
  }
  for (const [dir, text] of hostFiles) {
    mkdirSync(join(paths.certsDir, dir), { recursive: true });
    writeIfChanged(join(paths.certsDir, dir, 'hosts.toml'), text);
  }
  const sandbox = buildSandboxImage();
  writeIfChanged(paths.sandboxArchive, ociArchive(sandbox, SANDBOX_IMAGE));
  const configChanged = writeIfChanged(paths.config, renderContainerdConfig(paths, { cniBinDir, sandboxImage: SANDBOX_IMAGE }));

  const timeout = opts.startTimeoutMs ?? 20_000;
  let pid = findRunningContainerd(paths);
  let adopted = false;
  if (pid !== null && configChanged) {
    log.info('restarting kennel containerd: its config changed', { pid });
    await stopPid(pid);
    pid = null;
  }
  if (pid !== null) {
    const p = pid;
    await waitForCri(paths.socket, timeout, () => pidAlive(p));
    writeFileSync(paths.pidFile, `${pid}\n`);
    adopted = true;
    log.info('adopted running containerd', { pid, socket: paths.socket });
  } else {
    pid = await spawnContainerd(containerdBin, paths, timeout);
    log.info('started containerd', { pid, socket: paths.socket });
  }

  // The sandbox image: import it unless containerd already has this exact build.
  const client = new CriClient(paths.socket);
  try {
    let present = false;
    try {
      const st = await client.call('ImageStatus', { image: { image: SANDBOX_IMAGE } }, 10_000);
      present = st.image?.id === sandbox.configDigest;
    } catch {
      present = false;
    }
    if (!present) {
      await importImage(paths.socket, paths.sandboxArchive, ctrBin, { unpack: true });
      log.info('imported sandbox image', { image: SANDBOX_IMAGE, id: sandbox.configDigest });
    }
  } finally {
    client.close();
  }

  const finalPid = pid;
  return {
    socket: paths.socket,
    pid: finalPid,
    adopted,
    paths,
    sandboxImage: SANDBOX_IMAGE,
    bridgeName,
    podCIDR,
    registries: {
      mirrors: registries.mirrors,
      configs: registries.configs,
    },
    ctr: (args, o) => run(ctrBin, ['-a', paths.socket, ...args], { timeoutMs: o?.timeoutMs ?? 60_000 }),
    stop: async () => {
      if (isOurContainerd(finalPid, paths.config)) await stopPid(finalPid);
      rmSync(paths.pidFile, { force: true });
      log.info('stopped containerd', { pid: finalPid });
    },
  };
}

// -------------------------------------------------------------- purge ----

/** Mount points at or under `dir`, deepest first. */
export function mountsUnder(dir: string): string[] {
  const prefix = resolve(dir);
  const out: string[] = [];
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const mp = line.split(' ')[4];
    if (!mp) continue;
    const path = mp.replace(/\\(\d{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8)));
    if (path === prefix || path.startsWith(prefix + '/')) out.push(path);
  }
  return out.sort((a, b) => b.length - a.length);
}

/** Pids of containerd shims serving the containerd on `socket`. */
export function shimsOf(socket: string): number[] {
  const pids: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const argv = cmdline(Number(name));
    if (!argv || !/containerd-shim/.test(argv[0] ?? '')) continue;
    const i = argv.indexOf('-address');
    if (i >= 0 && argv[i + 1] === socket) pids.push(Number(name));
  }
  return pids;
}

/**
 * Remove everything kennel's containerd made under `dataDir`: every pod sandbox (through the
 * CRI, so CNI releases addresses, veths and iptables rules), the daemon, leftover shims, the
 * bridge, mounts, the containerd and cni directories, and the node's fenced cgroup parent. For tests
 * and benchmarks.
 */
export async function purgeContainerd(
  dataDir: string,
  opts: { bridgeName?: string; logger?: Logger } = {},
): Promise<void> {
  const log = (opts.logger ?? silentLogger).child('containerd');
  const paths = containerdPaths(dataDir);
  let pid = findRunningContainerd(paths);
  if (pid === null && existsSync(paths.config) && existsSync(join(paths.state, 'io.containerd.grpc.v1.cri'))) {
    // Pods may outlive a containerd that died: bring it back with its own config so that the
    // CRI tears them down properly (CNI releases addresses and iptables rules).
    try {
      pid = await spawnContainerd(CONTAINERD_BIN, paths, 20_000);
    } catch (e) {
      log.warn('purge: could not restart containerd', { error: (e as Error).message });
    }
  }
  if (pid !== null && existsSync(paths.socket)) {
    const client = new CriClient(paths.socket);
    try {
      const { items } = await client.call('ListPodSandbox', {}, 10_000);
      for (const sb of items) {
        try {
          await client.call('StopPodSandbox', { podSandboxId: sb.id }, 60_000);
          await client.call('RemovePodSandbox', { podSandboxId: sb.id }, 60_000);
        } catch (e) {
          log.warn('purge: could not remove sandbox', { sandbox: sb.id, error: grpcDetails(e) });
        }
      }
    } catch (e) {
      log.warn('purge: could not list sandboxes', { error: grpcDetails(e) });
    } finally {
      client.close();
    }
  }
  if (pid !== null) await stopPid(pid);
  // Whatever is left (containerd could not remove it): runc kills and deletes it.
  const runcRoot = join(paths.state, 'runc', 'k8s.io');
  if (existsSync(runcRoot)) {
    for (const id of readdirSync(runcRoot)) {
      await run('runc', ['--root', runcRoot, 'delete', '--force', id], { timeoutMs: 10_000 }).catch(() => undefined);
    }
  }
  for (const shim of shimsOf(paths.socket)) {
    try {
      process.kill(shim, 'SIGKILL');
    } catch {
      // gone
    }
  }
  const bridge = opts.bridgeName ?? DEFAULT_BRIDGE;
  if (existsSync(`/sys/class/net/${bridge}`)) await run('ip', ['link', 'delete', bridge, 'type', 'bridge']);
  await removePodMasquerade(bridge);
  for (const dir of [paths.dir, join(resolve(dataDir), 'cni')]) {
    for (const mp of mountsUnder(dir)) await run('umount', ['-l', mp]);
    rmSync(dir, { recursive: true, force: true });
  }
  // The cgroup parent runc made for the node's fenceable pods (fence-watchdog.ts).
  removeFencedCgroups(dataDir);
}
