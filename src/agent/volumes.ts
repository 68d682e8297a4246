// A pod's volumes and its per-pod files, laid out as the kubelet lays them out under
// <dataDir>/pods/<uid>/:
//   volumes/kubernetes.io~empty-dir/<name>     emptyDir (a tmpfs for medium Memory when root)
//   volumes/kubernetes.io~configmap/<name>     configMap   ┐ written atomically: files live in a
//   volumes/kubernetes.io~secret/<name>        secret      │ timestamped ..<ts> directory, ..data
//   volumes/kubernetes.io~downward-api/<name>  downwardAPI │ points at it, user-visible names are
//   volumes/kubernetes.io~projected/<name>     projected   ┘ symlinks into ..data; an update swaps ..data
//   etc-hosts, resolv.conf, hostname           /etc/hosts, /etc/resolv.conf, /etc/hostname
// hostPath volumes are checked against their type (and created for *OrCreate); a
// persistentVolumeClaim resolves to its bound PV's local or hostPath path. Everything becomes
// Mount entries of the container's ContainerConfig. A volume that cannot be set up throws a
// VolumeError whose message is the FailedMount event's.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { promises as fsp, constants as fsc } from 'node:fs';
import { dirname, join, posix } from 'node:path';
import { promisify } from 'node:util';
import type { KubeObject } from '../registry/types.ts';
import type { Pod, Volume } from './kube-types.ts';
import type { EnvContext } from './env.ts';
import { downwardPayload, keyedPayload, modeOf, projectedPayload, type DownwardItem } from './volumes-sources.ts';
import { forgetPodFiles } from './volumes-files.ts';
export * from './volumes-files.ts';

const execFileP = promisify(execFile);

export const SERVICE_ACCOUNT_MOUNT_PATH = '/var/run/secrets/kubernetes.io/serviceaccount';

/** A volume cannot be set up: the pod waits, with a FailedMount event carrying `message`. */
export class VolumeError extends Error {
  readonly reason = 'FailedMount';
  constructor(
    readonly volume: string,
    detail: string,
  ) {
    super(`MountVolume.SetUp failed for volume "${volume}" : ${detail}`);
    this.name = 'VolumeError';
  }
}

export interface VolumeSources {
  getConfigMap(namespace: string, name: string): Promise<KubeObject | undefined>;
  getSecret(namespace: string, name: string): Promise<KubeObject | undefined>;
  getPersistentVolumeClaim(namespace: string, name: string): Promise<KubeObject | undefined>;
  getPersistentVolume(name: string): Promise<KubeObject | undefined>;
  /** A token for the pod's service account (projected serviceAccountToken sources). */
  serviceAccountToken(pod: Pod, audience: string | undefined, expirationSeconds: number): Promise<string>;
  /** The cluster CA (PEM), used when the kube-root-ca.crt configMap does not exist. */
  clusterCA?: string;
  /** Create the directory of a local-path volume this node owns, before it is mounted. */
  ensureLocalPath?(pv: KubeObject): Promise<void>;
}

export interface VolumeContext extends EnvContext {
  /** Mount tmpfs for emptyDir medium Memory (needs root). Default: process uid is 0. */
  canMount?: boolean;
}

export interface PodNetworkFiles {
  clusterDNS?: string;
  clusterDomain: string;
  /** The host's /etc/resolv.conf text (for dnsPolicy Default and the host's search domains). */
  hostResolvConf: string;
  /** The host's /etc/hosts text (for hostNetwork pods). */
  hostHosts: string;
  /** The node's hostname (for hostNetwork pods). */
  nodeHostname: string;
}

// ---------------------------------------------------------------------------------------------
// Paths

export function podDir(dataDir: string, uid: string): string {
  return join(dataDir, 'pods', uid);
}

const PLUGIN_DIRS: Record<string, string> = {
  emptyDir: 'kubernetes.io~empty-dir',
  configMap: 'kubernetes.io~configmap',
  secret: 'kubernetes.io~secret',
  downwardAPI: 'kubernetes.io~downward-api',
  projected: 'kubernetes.io~projected',
};

function volumeKind(v: Volume): string | undefined {
  for (const k of ['emptyDir', 'configMap', 'secret', 'downwardAPI', 'projected', 'hostPath', 'persistentVolumeClaim'] as const) {
    if (v[k] !== undefined && v[k] !== null) return k;
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Atomic writer (the kubelet's AtomicWriter): payload → ..<ts>/…, ..data → ..<ts>, name → ..data/name

export interface FileToWrite {
  data: Buffer;
  mode: number;
}

const DATA_DIR = '..data';

function payloadHash(payload: Map<string, FileToWrite>): string {
  const h = createHash('sha256');
  for (const k of [...payload.keys()].sort()) {
    const f = payload.get(k)!;
    h.update(k).update('\0').update(String(f.mode)).update('\0').update(f.data).update('\0');
  }
  return h.digest('hex');
}

const written = new Map<string, string>();

async function readTree(dir: string, base = ''): Promise<Map<string, FileToWrite>> {
  const out = new Map<string, FileToWrite>();
  let entries;
  try {
    entries = await fsp.readdir(join(dir, base), { withFileTypes: true });
  } catch {
    return out;
  }
  for (const e of entries) {
    const rel = base ? `${base}/${e.name}` : e.name;
    if (e.isDirectory()) for (const [k, v] of await readTree(dir, rel)) out.set(k, v);
    else if (e.isFile()) {
      const p = join(dir, rel);
      const st = await fsp.stat(p);
      out.set(rel, { data: await fsp.readFile(p), mode: st.mode & 0o7777 });
    }
  }
  return out;
}

/** Validate a payload path: relative, no `..` element, not starting with `..`. */
function checkPayloadPath(p: string): void {
  if (!p || p.startsWith('/') || p.split('/').some((s) => s === '..') || p.startsWith('..')) throw new Error(`invalid path ${JSON.stringify(p)}`);
}

/**
 * Write payload into dir atomically: readers see the old set of files or the new one, never a
 * mix. Returns whether anything changed.
 */
export async function writeAtomic(dir: string, payload: Map<string, FileToWrite>, now: number = Date.now()): Promise<boolean> {
  for (const p of payload.keys()) checkPayloadPath(p);
  const hash = payloadHash(payload);
  if (written.get(dir) === hash) return false;
  // A directory made just now (a new pod's volume) holds nothing to compare, replace or remove.
  const fresh = (await fsp.mkdir(dir, { recursive: true, mode: 0o755 })) !== undefined;
  const dataLink = join(dir, DATA_DIR);
  let oldTs: string | undefined;
  if (!fresh) {
    try {
      oldTs = await fsp.readlink(dataLink);
    } catch {
      oldTs = undefined;
    }
  }
  if (oldTs !== undefined && payloadHash(await readTree(join(dir, oldTs))) === hash) {
    written.set(dir, hash);
    return false;
  }
  // 1. the new version in a fresh timestamped directory
  const d = new Date(now);
  const stamp = `..${d.getUTCFullYear()}_${pad(d.getUTCMonth() + 1)}_${pad(d.getUTCDate())}_${pad(d.getUTCHours())}_${pad(d.getUTCMinutes())}_${pad(d.getUTCSeconds())}.${Math.floor(Math.random() * 1e9)}`;
  const tsDir = join(dir, stamp);
  await fsp.mkdir(tsDir, { mode: 0o755 });
  for (const [rel, f] of payload) {
    const p = join(tsDir, rel);
    await fsp.mkdir(dirname(p), { recursive: true, mode: 0o755 });
    await fsp.writeFile(p, f.data, { mode: f.mode });
    await fsp.chmod(p, f.mode);
  }
  // 2. swap ..data by renaming a new symlink over it
  const tmpLink = join(dir, '..data_tmp');
  await fsp.rm(tmpLink, { force: true });
  await fsp.symlink(stamp, tmpLink);
  await fsp.rename(tmpLink, dataLink);
  // 3. user-visible top-level names → ..data/<name>; drop the ones that went
  const tops = new Set([...payload.keys()].map((k) => k.split('/')[0]!));
  for (const t of tops) {
    const link = join(dir, t);
    let ok = false;
    if (!fresh) {
      try {
        ok = (await fsp.readlink(link)) === posix.join(DATA_DIR, t);
      } catch {
        ok = false;
      }
      if (!ok) await fsp.rm(link, { force: true, recursive: true });
    }
    if (!ok) await fsp.symlink(posix.join(DATA_DIR, t), link);
  }
  if (!fresh) {
    for (const e of await fsp.readdir(dir)) {
      if (e.startsWith('..') || tops.has(e)) continue;
      await fsp.rm(join(dir, e), { force: true, recursive: true });
    }
  }
  // 4. the old version goes
  if (oldTs !== undefined && oldTs !== stamp) await fsp.rm(join(dir, oldTs), { recursive: true, force: true });
  written.set(dir, hash);
  return true;
}

function pad(n: number): string {
  return String(n).padStart(2, '0');
}

// ---------------------------------------------------------------------------------------------
// hostPath

export type HostPathType = '' | 'DirectoryOrCreate' | 'Directory' | 'FileOrCreate' | 'File' | 'Socket' | 'CharDevice' | 'BlockDevice';

/** Check (and for *OrCreate make) a hostPath; throws the kubelet's message on a mismatch. */
export async function checkHostPath(path: string, type: string | undefined): Promise<void> {
  const t = (type ?? '') as HostPathType;
  if (t === '') return;
  const stat = async () => {
    try {
      return await fsp.stat(path);
    } catch {
      return undefined;
    }
  };
  let st = await stat();
  switch (t) {
    case 'DirectoryOrCreate':
      if (!st) {
        await fsp.mkdir(path, { recursive: true, mode: 0o755 });
        st = await stat();
      }
      if (!st?.isDirectory()) throw new Error(`hostPath type check failed: ${path} is not a directory`);
      return;
    case 'Directory':
      if (!st?.isDirectory()) throw new Error(`hostPath type check failed: ${path} is not a directory`);
      return;
    case 'FileOrCreate':
      if (!st) {
        await fsp.mkdir(dirname(path), { recursive: true, mode: 0o755 });
        const fh = await fsp.open(path, fsc.O_CREAT | fsc.O_WRONLY, 0o644);
        await fh.close();
        st = await stat();
      }
      if (!st?.isFile()) throw new Error(`hostPath type check failed: ${path} is not a file`);
      return;
    case 'File':
      if (!st?.isFile()) throw new Error(`hostPath type check failed: ${path} is not a file`);
      return;
    case 'Socket':
      if (!st?.isSocket()) throw new Error(`hostPath type check failed: ${path} is not a socket file`);
      return;
    case 'CharDevice':
      if (!st?.isCharacterDevice()) throw new Error(`hostPath type check failed: ${path} is not a character device`);
      return;
    case 'BlockDevice':
      if (!st?.isBlockDevice()) throw new Error(`hostPath type check failed: ${path} is not a block device`);
      return;
    default:
      throw new Error(`hostPath type check failed: unknown type ${JSON.stringify(type)}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Set up and tear down

export interface PodVolumes {
  /** Volume name → host path to bind-mount. */
  paths: Map<string, string>;
  /** Volumes that must be mounted read-only whatever the volumeMount says. */
  readOnly: Set<string>;
  /** Volumes whose content changed in this call (configMap/secret/… updates). */
  changed: string[];
}


/** The implicit service-account volume's name, and whether the pod needs one (no explicit one, automount not off). */
export function implicitServiceAccountVolume(pod: Pod): Volume | undefined {
  if (pod.spec.automountServiceAccountToken === false) return undefined;
  if ((pod.spec.volumes ?? []).some((v) => v.name.startsWith('kube-api-access-'))) return undefined;
  const all = [...(pod.spec.initContainers ?? []), ...(pod.spec.containers ?? [])];
  if (all.some((c) => (c.volumeMounts ?? []).some((m) => m.mountPath.replace(/\/+$/, '') === SERVICE_ACCOUNT_MOUNT_PATH))) return undefined;
  return {
    name: 'kube-api-access-kennel',
    projected: {
      defaultMode: 0o644,
      sources: [
        { serviceAccountToken: { path: 'token', expirationSeconds: 3607 } },
        { configMap: { name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'ca.crt' }] } },
        { downwardAPI: { items: [{ path: 'namespace', fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' } }] } },
      ],
    },
  };
}

/**
 * Whether the pod's own volumes cannot fail to set up for want of something (an object from the
 * API, a bound claim, a host path, a mount): it has none but emptyDirs on disk and downwardAPI
 * files. The implicit service-account volume (implicitServiceAccountVolume) is not among its
 * volumes, and its failure never holds a pod (it is then set up without a token). The pod
 * workers make such a pod's sandbox while its volumes are set up: no FailedMount can come
 * where the kubelet would have waited before making the sandbox.
 */
export function volumesCannotFail(pod: Pod): boolean {
  for (const v of pod.spec.volumes ?? []) {
    const kind = volumeKind(v);
    if (kind === undefined || kind === 'downwardAPI') continue;
    if (kind === 'emptyDir' && v.emptyDir?.medium !== 'Memory') continue;
    return false;
  }
  return true;
}

/**
 * Set up every volume of the pod (idempotent: a second call only rewrites configMap, secret,
 * downwardAPI and projected content that changed). `extra` adds volumes the pod spec does not
 * list (the implicit service-account volume).
 */
export async function setUpPodVolumes(pod: Pod, dataDir: string, sources: VolumeSources, ctx: VolumeContext, extra: Volume[] = []): Promise<PodVolumes> {
  const uid = pod.metadata.uid ?? '';
  const ns = pod.metadata.namespace ?? 'default';
  const base = join(podDir(dataDir, uid), 'volumes');
  const out: PodVolumes = { paths: new Map(), readOnly: new Set(), changed: [] };
  for (const v of [...(pod.spec.volumes ?? []), ...extra]) {
    const kind = volumeKind(v);
    if (!kind) continue; // unsupported sources are not mounted
    try {
      if (kind === 'hostPath') {
        const hp = v.hostPath!;
        await checkHostPath(hp.path, hp.type);
        out.paths.set(v.name, hp.path);
        continue;
      }
      if (kind === 'persistentVolumeClaim') {
        const src = v.persistentVolumeClaim!;
        out.paths.set(v.name, await claimPath(ns, src.claimName, sources));
        if (src.readOnly) out.readOnly.add(v.name);
        continue;
      }
      const dir = join(base, PLUGIN_DIRS[kind]!, v.name);
      if (kind === 'emptyDir') {
        await setUpEmptyDir(dir, v.emptyDir!.medium, v.emptyDir!.sizeLimit, ctx);
        out.paths.set(v.name, dir);
        continue;
      }
      const payload = new Map<string, FileToWrite>();
      if (kind === 'configMap') {
        const s = v.configMap!;
        const name = s.name ?? '';
        keyedPayload('configmap', v.name, name, await sources.getConfigMap(ns, name), s.items, s.optional === true, modeOf(s.defaultMode, 0o644), payload);
      } else if (kind === 'secret') {
        const s = v.secret!;
        const name = s.secretName ?? '';
        keyedPayload('secret', v.name, name, await sources.getSecret(ns, name), s.items, s.optional === true, modeOf(s.defaultMode, 0o644), payload);
      } else if (kind === 'downwardAPI') {
        const s = v.downwardAPI!;
        downwardPayload(pod, v.name, (s.items ?? []) as DownwardItem[], modeOf(s.defaultMode, 0o644), ctx, payload);
      } else if (kind === 'projected') {
        await projectedPayload(pod, v, sources, ctx, payload);
      }
      if (await writeAtomic(dir, payload)) out.changed.push(v.name);
      out.paths.set(v.name, dir);
      out.readOnly.add(v.name);
    } catch (e) {
      if (e instanceof VolumeError) throw e;
      throw new VolumeError(v.name, e instanceof Error ? e.message : String(e));
    }
  }
  return out;
}

async function claimPath(ns: string, claimName: string, sources: VolumeSources): Promise<string> {
  const pvc = await sources.getPersistentVolumeClaim(ns, claimName);
  if (!pvc) throw new Error(`persistentvolumeclaim "${claimName}" not found`);
  const spec = (pvc.spec ?? {}) as { volumeName?: string };
  const phase = ((pvc.status ?? {}) as { phase?: string }).phase ?? '';
  if (phase !== 'Bound' || !spec.volumeName) {
    throw new Error(`PVC ${ns}/${claimName} has non-bound phase ("${phase}") or empty pvc.Spec.VolumeName ("${spec.volumeName ?? ''}")`);
  }
  const pv = await sources.getPersistentVolume(spec.volumeName);
  if (!pv) throw new Error(`persistentvolume "${spec.volumeName}" not found`);
  const pvSpec = (pv.spec ?? {}) as { local?: { path?: string }; hostPath?: { path?: string; type?: string } };
  if (pvSpec.local?.path) {
    await sources.ensureLocalPath?.(pv);
    await checkHostPath(pvSpec.local.path, 'Directory');
    return pvSpec.local.path;
  }
  if (pvSpec.hostPath?.path) {
    await checkHostPath(pvSpec.hostPath.path, pvSpec.hostPath.type);
    return pvSpec.hostPath.path;
  }
  throw new Error(`unsupported volume source of PersistentVolume "${spec.volumeName}": only local and hostPath volumes can be mounted`);
}

async function isMountPoint(dir: string): Promise<boolean> {
  try {
    const mounts = await fsp.readFile('/proc/self/mountinfo', 'utf8');
    return mounts.split('\n').some((l) => l.split(' ')[4] === dir);
  } catch {
    return false;
  }
}

function sizeBytes(v: unknown): number | undefined {
  if (typeof v !== 'string' && typeof v !== 'number') return undefined;
  const m = /^(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|k|M|G|T)?$/.exec(String(v));
  if (!m) return undefined;
  const mult: Record<string, number> = { Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3, Ti: 1024 ** 4, k: 1e3, M: 1e6, G: 1e9, T: 1e12 };
  return Math.ceil(Number(m[1]) * (m[2] ? mult[m[2]]! : 1));
}

async function setUpEmptyDir(dir: string, medium: string | undefined, sizeLimit: unknown, ctx: VolumeContext): Promise<void> {
  await fsp.mkdir(dir, { recursive: true, mode: 0o777 });
  await fsp.chmod(dir, 0o777);
  const canMount = ctx.canMount ?? process.getuid?.() === 0;
  if (medium !== 'Memory' || !canMount) return;
  if (await isMountPoint(dir)) return;
  const size = sizeBytes(sizeLimit);
  const opts = ['-t', 'tmpfs', '-o', size ? `size=${size},mode=0777` : 'mode=0777', 'tmpfs', dir];
  await execFileP('mount', opts);
}

/** Unmount what the agent mounted under the pod's directory, then remove it. */
export async function tearDownPod(dataDir: string, uid: string): Promise<void> {
  const dir = podDir(dataDir, uid);
  try {
    const info = await fsp.readFile('/proc/self/mountinfo', 'utf8');
    const mounts = info
      .split('\n')
      .map((l) => l.split(' ')[4])
      .filter((m): m is string => !!m && (m === dir || m.startsWith(dir + '/')))
      .sort((a, b) => b.length - a.length);
    for (const m of mounts) await execFileP('umount', ['-l', m]).catch(() => undefined);
  } catch {
    // no /proc: nothing was mounted
  }
  for (const k of [...written.keys()]) if (k.startsWith(dir + '/')) written.delete(k);
  forgetPodFiles(dir);
  await fsp.rm(dir, { recursive: true, force: true });
}
