// Packaging of the in-pod tools (peer-finder, wait-for): each is bundled into one JS file with
// esbuild, and an image is built around the host's node binary and the libraries it links:
//
//   /opt/kennel-tools/{node, lib/*, peer-finder.js, wait-for.js}
//   /opt/kennel-tools/{peer-finder, wait-for}   wrappers that run node through the bundled
//                                               dynamic loader, relative to their own folder
//   /usr/local/bin/{peer-finder, wait-for}      the same, for the image's own use
//   /usr/local/bin/install-tools <dir>          copies /opt/kennel-tools to <dir> (an init
//                                               container filling a shared emptyDir)
// on a busybox userland (sh, cp for the wrappers and the installer).
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildBusyboxImage, ociArchive, type BuiltImage, type ImageFile } from '../agent/runtime/images.ts';

export const TOOLS = ['peer-finder', 'wait-for'] as const;
export type ToolName = (typeof TOOLS)[number];
export const TOOLS_IMAGE = 'kennel.local/tools:1';
export const TOOLS_DIR = 'opt/kennel-tools';

const HERE = dirname(fileURLToPath(import.meta.url));

const ENTRY: Record<ToolName, string> = {
  'peer-finder': `import { peerFinderMain } from './peer-finder.ts';\npeerFinderMain(process.argv.slice(2)).then((c) => process.exit(c), (e) => { console.error(e); process.exit(1); });\n`,
  'wait-for': `import { waitForMain } from './wait-for.ts';\nwaitForMain(process.argv.slice(2)).then((c) => process.exit(c), (e) => { console.error(e); process.exit(1); });\n`,
};

/** Bundle one tool into a single CommonJS file that node runs without node_modules. */
export async function bundleTool(tool: ToolName): Promise<string> {
  const esbuild = await import('esbuild');
  const r = await esbuild.build({
    stdin: { contents: ENTRY[tool], resolveDir: HERE, sourcefile: `${tool}-main.ts`, loader: 'ts' },
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    write: false,
    minify: true,
    legalComments: 'none',
    logLevel: 'silent',
    banner: { js: '#!/usr/bin/env node' },
  });
  return r.outputFiles[0]!.text;
}

/** Write dist/<tool>.js for each tool; answers the paths. */
export async function bundleTools(outDir: string): Promise<string[]> {
  await mkdir(outDir, { recursive: true });
  const out: string[] = [];
  for (const t of TOOLS) {
    const p = join(outDir, `${t}.js`);
    await writeFile(p, await bundleTool(t), { mode: 0o755 });
    out.push(p);
  }
  return out;
}

/** The shared libraries (and the loader) a binary links, from ldd. */
export function sharedLibraries(binary: string): string[] {
  const text = execFileSync('ldd', [binary], { encoding: 'utf8' });
  const libs: string[] = [];
  for (const line of text.split('\n')) {
    const m = /=>\s*(\/\S+)/.exec(line) ?? /^\s*(\/\S+)\s+\(/.exec(line);
    if (m) libs.push(m[1]!);
  }
  return libs;
}

function wrapper(tool: ToolName, dir: string | undefined, loader: string): string {
  const d = dir ?? '$(cd "$(dirname "$0")" && pwd)';
  return `#!/bin/sh\nd=${dir ? `'${d}'` : d}\nexec "$d/lib/${loader}" --library-path "$d/lib" "$d/node" "$d/${tool}.js" "$@"\n`;
}

/** The image: busybox userland, node with its libraries, the bundles, wrappers and installer. */
export async function buildToolsImageObject(opts: { nodeBinary?: string } = {}): Promise<BuiltImage> {
  const nodeBin = opts.nodeBinary ?? process.execPath;
  const libs = sharedLibraries(nodeBin);
  const loader = libs.map((l) => basename(l)).find((n) => n.startsWith('ld-linux') || n.startsWith('ld-musl'));
  if (!loader) throw new Error(`no dynamic loader among the libraries of ${nodeBin}`);
  const files: ImageFile[] = [
    { path: 'opt', type: 'dir' },
    { path: TOOLS_DIR, type: 'dir' },
    { path: `${TOOLS_DIR}/lib`, type: 'dir' },
    { path: `${TOOLS_DIR}/node`, type: 'file', content: readFileSync(nodeBin) },
    { path: 'usr/local', type: 'dir' },
    { path: 'usr/local/bin', type: 'dir' },
  ];
  for (const l of libs) files.push({ path: `${TOOLS_DIR}/lib/${basename(l)}`, type: 'file', content: readFileSync(l) });
  for (const t of TOOLS) {
    files.push({ path: `${TOOLS_DIR}/${t}.js`, type: 'file', mode: 0o644, content: Buffer.from(await bundleTool(t)) });
    files.push({ path: `${TOOLS_DIR}/${t}`, type: 'file', content: Buffer.from(wrapper(t, undefined, loader)) });
    files.push({ path: `usr/local/bin/${t}`, type: 'file', content: Buffer.from(wrapper(t, `/${TOOLS_DIR}`, loader)) });
  }
  files.push({
    path: 'usr/local/bin/install-tools',
    type: 'file',
    content: Buffer.from(`#!/bin/sh\nset -e\n[ -n "$1" ] || { echo "usage: install-tools <dir>" >&2; exit 2; }\nmkdir -p "$1"\ncp -a /${TOOLS_DIR}/. "$1/"\necho "installed peer-finder and wait-for into $1"\n`),
  });
  return buildBusyboxImage({ extraFiles: files, config: { cmd: ['/usr/local/bin/peer-finder', '-help'], env: ['PATH=/usr/local/bin:/usr/bin:/bin'] } });
}

/** Build the tools image as an OCI archive at outTar (for `ctr images import`). */
export async function buildToolsImage(outTar: string, opts: { nodeBinary?: string; name?: string } = {}): Promise<BuiltImage> {
  const image = await buildToolsImageObject(opts);
  await writeFile(outTar, ociArchive(image, opts.name ?? TOOLS_IMAGE));
  return image;
}
