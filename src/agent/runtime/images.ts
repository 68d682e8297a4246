// OCI images kennel builds itself, without any network: the pod sandbox ("pause") image that
// containerd's CRI plugin starts first in every pod, and a busybox-static image for tests and
// examples.
//
// The writer here produces an OCI image layout (oci-layout, index.json, blobs/sha256/…) from a
// list of files: one gzip'd tar layer, an image config and a manifest, all content-addressed.
// Everything is deterministic (fixed mtimes, sorted entries), so building the same files twice
// gives the same digests.
//
// The sandbox image is /pause = Debian's static tini (PID 1: reaps zombies of a shared PID
// namespace and forwards SIGTERM) running /sleep = busybox-static's `sleep inf`. It is
// imported into containerd's k8s.io namespace with `ctr images import` (ctr ships with the
// containerd package), because the CRI has no image-import call, only PullImage from a
// registry, and registry.k8s.io is not reachable.
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { setPriority } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

export const TINI_STATIC = process.env.KENNEL_TINI_STATIC || '/usr/bin/tini-static';
export const BUSYBOX_STATIC = process.env.KENNEL_BUSYBOX || '/bin/busybox';
export const SKOPEO = process.env.KENNEL_SKOPEO || 'skopeo';

/** The name containerd's sandbox_image points at. */
export const SANDBOX_IMAGE = 'kennel.local/pause:1';

export interface ImageFile {
  /** Path inside the image, without a leading slash (`bin/sh`). */
  path: string;
  type: 'file' | 'dir' | 'symlink';
  /** Permission bits (default 0o755 for dirs and files, 0o777 for symlinks). */
  mode?: number;
  content?: Buffer;
  /** Symlink target. */
  target?: string;
}

export interface ImageConfigSpec {
  entrypoint?: string[];
  cmd?: string[];
  env?: string[];
  workingDir?: string;
  user?: string;
  labels?: Record<string, string>;
}

export interface BuiltImage {
  /** Digest of the manifest (`sha256:…`): what a registry reports for the image. */
  manifestDigest: string;
  /** Digest of the image config (`sha256:…`): containerd's CRI image id. */
  configDigest: string;
  /** Blobs by digest, plus the manifest descriptor's size. */
  blobs: Map<string, Buffer>;
  manifestSize: number;
}

// ---------------------------------------------------------------- tar ----

const BLOCK = 512;

function octal(value: number, width: number): string {
  // width includes the terminating NUL
  return value.toString(8).padStart(width - 1, '0') + '\0';
}

function tarHeader(name: string, opts: { size: number; mode: number; type: '0' | '2' | '5'; linkname?: string; mtime?: number }): Buffer {
  const h = Buffer.alloc(BLOCK, 0);
  let prefix = '';
  let base = name;
  if (Buffer.byteLength(name) > 100) {
    const cut = name.lastIndexOf('/', 154);
    if (cut <= 0 || Buffer.byteLength(name.slice(cut + 1)) > 100) throw new Error(`tar: path too long: ${name}`);
    prefix = name.slice(0, cut);
    base = name.slice(cut + 1);
  }
  h.write(base, 0, 100, 'utf8');
  h.write(octal(opts.mode & 0o7777, 8), 100, 'ascii');
  h.write(octal(0, 8), 108, 'ascii'); // uid
  h.write(octal(0, 8), 116, 'ascii'); // gid
  h.write(octal(opts.size, 12), 124, 'ascii');
  h.write(octal(opts.mtime ?? 0, 12), 136, 'ascii');
  h.write('        ', 148, 'ascii'); // checksum placeholder
  h.write(opts.type, 156, 'ascii');
  if (opts.linkname) h.write(opts.linkname, 157, 100, 'utf8');
  h.write('ustar\0', 257, 'ascii');
  h.write('00', 263, 'ascii');
  h.write('root', 265, 32, 'ascii');
  h.write('root', 297, 32, 'ascii');
  if (prefix) h.write(prefix, 345, 155, 'utf8');
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += h[i];
  h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'ascii');
  return h;
}

export interface TarEntry {
  name: string;
  type: 'file' | 'dir' | 'symlink';
  mode: number;
  content?: Buffer;
  target?: string;
}

/** A POSIX ustar archive of the entries, in the order given. */
export function tar(entries: TarEntry[]): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    if (e.type === 'dir') {
      parts.push(tarHeader(e.name.endsWith('/') ? e.name : e.name + '/', { size: 0, mode: e.mode, type: '5' }));
    } else if (e.type === 'symlink') {
      parts.push(tarHeader(e.name, { size: 0, mode: e.mode, type: '2', linkname: e.target ?? '' }));
    } else {
      const body = e.content ?? Buffer.alloc(0);
      parts.push(tarHeader(e.name, { size: body.length, mode: e.mode, type: '0' }));
      parts.push(body);
      const pad = (BLOCK - (body.length % BLOCK)) % BLOCK;
      if (pad) parts.push(Buffer.alloc(pad, 0));
    }
  }
  parts.push(Buffer.alloc(BLOCK * 2, 0));
  return Buffer.concat(parts);
}

// ---------------------------------------------------------------- OCI ----

const sha256 = (b: Buffer): string => 'sha256:' + createHash('sha256').update(b).digest('hex');

export function goArch(arch: string = process.arch): string {
  switch (arch) {
    case 'x64':
      return 'amd64';
    case 'ia32':
      return '386';
    default:
      return arch; // arm64, arm, ppc64, s390x, riscv64 match Go's names
  }
}

/**
 * Layers larger than this are compressed at gzip level 1 rather than 6: the tools image's layer
 * (the node binary, ~100 MB) took 2.0 s of CPU at level 6 and 0.9 s at level 1 for an archive
 * 9% larger, and the build runs in the agent's process while it starts. Small images (busybox,
 * the sandbox image) keep level 6, so their digests do not change.
 */
const FAST_GZIP_ABOVE = 16 * 1024 * 1024;

/** Build an image (one layer) from files, in memory. Parent directories are added as needed. */
export function buildImage(files: ImageFile[], config: ImageConfigSpec = {}): BuiltImage {
  const entries = new Map<string, TarEntry>();
  const addDir = (p: string) => {
    const parts = p.split('/').filter(Boolean);
    for (let i = 1; i <= parts.length; i++) {
      const d = parts.slice(0, i).join('/');
      if (!entries.has(d)) entries.set(d, { name: d, type: 'dir', mode: 0o755 });
    }
  };
  for (const f of files) {
    const path = f.path.replace(/^\/+/, '').replace(/\/+$/, '');
    const parent = path.includes('/') ? path.slice(0, path.lastIndexOf('/')) : '';
    if (parent) addDir(parent);
    if (f.type === 'dir') {
      addDir(path);
      entries.set(path, { name: path, type: 'dir', mode: f.mode ?? 0o755 });
    } else if (f.type === 'symlink') {
      entries.set(path, { name: path, type: 'symlink', mode: f.mode ?? 0o777, target: f.target });
    } else {
      entries.set(path, { name: path, type: 'file', mode: f.mode ?? 0o755, content: f.content ?? Buffer.alloc(0) });
    }
  }
  const sorted = [...entries.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const layerTar = tar(sorted);
  const layer = gzipSync(layerTar, { level: layerTar.length > FAST_GZIP_ABOVE ? 1 : 6 });
  const diffId = sha256(layerTar);
  const layerDigest = sha256(layer);

  const imageConfig = {
    created: '1970-01-01T00:00:00Z',
    architecture: goArch(),
    os: 'linux',
    config: {
      ...(config.entrypoint ? { Entrypoint: config.entrypoint } : {}),
      ...(config.cmd ? { Cmd: config.cmd } : {}),
      Env: config.env ?? ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
      ...(config.workingDir ? { WorkingDir: config.workingDir } : {}),
      ...(config.user ? { User: config.user } : {}),
      ...(config.labels ? { Labels: config.labels } : {}),
    },
    rootfs: { type: 'layers', diff_ids: [diffId] },
    history: [{ created: '1970-01-01T00:00:00Z', created_by: 'kennel image writer' }],
  };
  const configBlob = Buffer.from(JSON.stringify(imageConfig));
  const configDigest = sha256(configBlob);
  const manifest = {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: configBlob.length },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: layerDigest, size: layer.length }],
  };
  const manifestBlob = Buffer.from(JSON.stringify(manifest));
  const manifestDigest = sha256(manifestBlob);
  const blobs = new Map<string, Buffer>([
    [layerDigest, layer],
    [configDigest, configBlob],
    [manifestDigest, manifestBlob],
  ]);
  return { manifestDigest, configDigest, blobs, manifestSize: manifestBlob.length };
}

function indexJson(image: BuiltImage, name: string, tag: string): Buffer {
  return Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      manifests: [
        {
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          digest: image.manifestDigest,
          size: image.manifestSize,
          platform: { architecture: goArch(), os: 'linux' },
          annotations: {
            // containerd's importer takes the full name from this one…
            'io.containerd.image.name': name,
            // …skopeo's `oci:<dir>:<tag>` looks images up by this one.
            'org.opencontainers.image.ref.name': tag,
          },
        },
      ],
    }),
  );
}

function splitName(name: string): { repo: string; tag: string } {
  const slash = name.lastIndexOf('/');
  const colon = name.lastIndexOf(':');
  if (colon > slash) return { repo: name.slice(0, colon), tag: name.slice(colon + 1) };
  return { repo: name, tag: 'latest' };
}

/** The image as an OCI layout archive (a tar), as `ctr images import` takes it. */
export function ociArchive(image: BuiltImage, name: string): Buffer {
  const { tag } = splitName(name);
  const entries: TarEntry[] = [
    { name: 'oci-layout', type: 'file', mode: 0o644, content: Buffer.from('{"imageLayoutVersion":"1.0.0"}') },
    { name: 'index.json', type: 'file', mode: 0o644, content: indexJson(image, name, tag) },
    { name: 'blobs', type: 'dir', mode: 0o755 },
    { name: 'blobs/sha256', type: 'dir', mode: 0o755 },
  ];
  for (const [digest, blob] of image.blobs) {
    entries.push({ name: `blobs/sha256/${digest.slice('sha256:'.length)}`, type: 'file', mode: 0o644, content: blob });
  }
  return tar(entries);
}

/** Write the image as an OCI layout directory (for skopeo's `oci:<dir>:<tag>`). */
export function writeOciLayout(dir: string, image: BuiltImage, name: string): void {
  const { tag } = splitName(name);
  mkdirSync(join(dir, 'blobs', 'sha256'), { recursive: true });
  writeFileSync(join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  for (const [digest, blob] of image.blobs) {
    writeFileSync(join(dir, 'blobs', 'sha256', digest.slice('sha256:'.length)), blob);
  }
  writeFileSync(join(dir, 'index.json'), indexJson(image, name, tag));
}

function readBinary(path: string, what: string): Buffer {
  if (!existsSync(path)) throw new Error(`${what} not found at ${path}: install the Debian package ${what === 'tini-static' ? 'tini' : 'busybox-static'}`);
  return readFileSync(path);
}

/** The pod sandbox image: tini (PID 1, reaps, forwards signals) running busybox `sleep inf`. */
export function buildSandboxImage(): BuiltImage {
  return buildImage(
    [
      { path: 'pause', type: 'file', content: readBinary(TINI_STATIC, 'tini-static') },
      { path: 'sleep', type: 'file', content: readBinary(BUSYBOX_STATIC, 'busybox') },
      { path: 'dev', type: 'dir' },
      { path: 'proc', type: 'dir' },
      { path: 'sys', type: 'dir' },
      { path: 'etc', type: 'dir' },
    ],
    { entrypoint: ['/pause', '--', '/sleep', 'inf'], env: [], labels: { 'io.kennel.image': 'pause' } },
  );
}

let appletCache: string[] | undefined;

function busyboxApplets(): string[] {
  if (!appletCache) {
    const out = execFileSync(BUSYBOX_STATIC, ['--list'], { encoding: 'utf8' });
    appletCache = out
      .split('\n')
      .map((s) => s.trim())
      .filter((s) => s && s !== 'busybox' && /^[A-Za-z0-9._[\]-]+$/.test(s));
  }
  return appletCache;
}

/** A busybox-static userland image: /bin/busybox plus a symlink per applet (sh, nc, wget, httpd, …). */
export function buildBusyboxImage(opts: { extraFiles?: ImageFile[]; config?: ImageConfigSpec } = {}): BuiltImage {
  const files: ImageFile[] = [
    { path: 'bin/busybox', type: 'file', content: readBinary(BUSYBOX_STATIC, 'busybox') },
    { path: 'etc/passwd', type: 'file', mode: 0o644, content: Buffer.from('root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n') },
    { path: 'etc/group', type: 'file', mode: 0o644, content: Buffer.from('root:x:0:\nnogroup:x:65534:\n') },
    { path: 'tmp', type: 'dir', mode: 0o1777 },
    { path: 'root', type: 'dir', mode: 0o700 },
    { path: 'var/www', type: 'dir' },
    { path: 'dev', type: 'dir' },
    { path: 'proc', type: 'dir' },
    { path: 'sys', type: 'dir' },
    { path: 'usr/bin', type: 'dir' },
  ];
  for (const applet of busyboxApplets()) files.push({ path: `bin/${applet}`, type: 'symlink', target: 'busybox' });
  files.push(...(opts.extraFiles ?? []));
  return buildImage(files, { cmd: ['sh'], ...opts.config });
}

// ------------------------------------------------------------ helpers ----

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function run(cmd: string, args: string[], opts: { input?: Buffer; timeoutMs?: number } = {}): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    const timer = opts.timeoutMs ? setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs) : undefined;
    child.on('error', (e) => {
      if (timer) clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      resolve({
        code: code ?? (signal ? 128 : 1),
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
      });
    });
    child.stdin.on('error', () => {});
    child.stdin.end(opts.input);
  });
}

/** kennel's command (bin/kennel.mjs), found upwards from this module (sources or a bundle). */
function kennelBin(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    const bin = join(dir, 'bin', 'kennel.mjs');
    if (existsSync(bin)) return bin;
    dir = dirname(dir);
  }
  throw new Error(`kennel's bin/kennel.mjs not found above ${fileURLToPath(import.meta.url)}`);
}

/**
 * Build the tools image archive (kennel.local/tools:1: peer-finder, wait-for; src/tools/bundle.ts)
 * at `outTar` in a child process, `kennel tools-image`, at low CPU priority, instead of in the
 * calling process: the build bundles the tools and compresses a layer holding the node binary,
 * about a second of CPU in one synchronous gzip and a few hundred MB of buffers, which in the
 * agent's process stall its event loop (pod starts, status writes) and stay in its resident
 * memory. The archive is written under a temporary name and renamed, so an interrupted build
 * never leaves a truncated archive that a later start would take for a built one.
 * `command` replaces `node bin/kennel.mjs tools-image` (tests); the output path is appended.
 */
export async function buildToolsImageInChild(outTar: string, opts: { timeoutMs?: number; command?: string[] } = {}): Promise<void> {
  const tmp = `${outTar}.${process.pid}.tmp`;
  const [cmd, ...args] = opts.command ?? [process.execPath, kennelBin(), 'tools-image'];
  try {
    await new Promise<void>((resolve, reject) => {
      const child = spawn(cmd!, [...args, tmp], { stdio: ['ignore', 'ignore', 'pipe'] });
      let err = '';
      child.stderr.on('data', (b: Buffer) => {
        if (err.length < 4096) err += b.toString('utf8');
      });
      child.once('spawn', () => {
        try {
          if (child.pid) setPriority(child.pid, 10);
        } catch {
          // not permitted: it runs at the normal priority
        }
      });
      const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 300_000);
      child.once('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
      child.once('close', (code, signal) => {
        clearTimeout(timer);
        if (code === 0 && existsSync(tmp)) resolve();
        else reject(new Error(`kennel tools-image exited ${code ?? signal}${code === 0 ? ' without writing the archive' : ''}: ${err.trim()}`));
      });
    });
    renameSync(tmp, outTar);
  } finally {
    rmSync(tmp, { force: true });
  }
}

/**
 * Import an OCI archive into containerd's k8s.io namespace (the CRI plugin's), through `ctr`.
 * By default the layers are only stored: the CRI unpacks an image for the overlayfs snapshotter
 * when a container first uses it, so a large image that no pod uses (the tools image every
 * node imports at start) costs containerd no decompression and no snapshot at start, when it
 * would compete with the node's first pods. `unpack: true` unpacks at once (the sandbox image,
 * which every pod needs).
 */
export async function importImage(socket: string, archivePath: string, ctrBin = process.env.KENNEL_CTR || 'ctr', opts: { unpack?: boolean } = {}): Promise<void> {
  const how = opts.unpack ? ['--snapshotter', 'overlayfs'] : ['--no-unpack'];
  const r = await run(ctrBin, ['-a', socket, '-n', 'k8s.io', 'images', 'import', ...how, archivePath], {
    timeoutMs: 60_000,
  });
  if (r.code !== 0) throw new Error(`ctr images import ${archivePath} failed (exit ${r.code}): ${r.stderr.trim() || r.stdout.trim()}`);
}

/**
 * Push an OCI layout directory's image to a registry with skopeo.
 * `dest` is `host:port/repo:tag`; plain HTTP unless `tls` is set.
 */
export async function pushImage(
  layoutDir: string,
  tag: string,
  dest: string,
  opts: { tls?: boolean; username?: string; password?: string } = {},
): Promise<void> {
  const args = ['--insecure-policy', 'copy', '--quiet'];
  if (!opts.tls) args.push('--dest-tls-verify=false');
  if (opts.username !== undefined) args.push('--dest-creds', `${opts.username}:${opts.password ?? ''}`);
  args.push(`oci:${layoutDir}:${tag}`, `docker://${dest}`);
  const r = await run(SKOPEO, args, { timeoutMs: 60_000 });
  if (r.code !== 0) throw new Error(`skopeo copy to ${dest} failed (exit ${r.code}): ${r.stderr.trim()}`);
}

/** Build the busybox image into `layoutDir` and push it to `dest` (`127.0.0.1:PORT/busybox:1`). */
export async function pushBusyboxImage(layoutDir: string, dest: string, opts: { tls?: boolean; username?: string; password?: string } = {}): Promise<BuiltImage> {
  const image = buildBusyboxImage();
  const { tag } = splitName(dest);
  writeOciLayout(layoutDir, image, dest);
  await pushImage(layoutDir, tag, dest, opts);
  return image;
}
