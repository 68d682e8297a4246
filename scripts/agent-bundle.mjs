// The bundle `kennel agent` runs: the agent's part of the CLI (what src/cli/main.ts does for
// `kennel agent`: parse the command line, runAgent of src/cli/agent.ts) bundled by esbuild into
// ES module chunks that plain node runs, without the tsx loader.
//
// Why: the node agent is a long-running daemon on every machine of the cluster, and its
// resident memory is part of what each node gives up. tsx compiles TypeScript through a loader
// hook that runs in a worker thread of its own (~30 MiB of RSS before any kennel code runs;
// node alone is ~41 MiB), and loading a package's many files one by one costs several times
// what the same code costs as one bundled chunk. `kennel up`, `kennel server` and the other
// commands keep running from the sources under tsx.
//
// Where: node_modules/.cache/kennel/agent/<build id>/ (main.js and its chunks: chunks load on
// demand, so the agent never loads the containerd runtime's code unless it runs it; the control
// plane's code is not in it), with current.json naming the build and the inputs (path, size, mtime) it was made
// from. `npm install` builds it (the package's prepare script). bin/kennel.mjs checks the
// inputs before every `kennel agent` and runs the sources under tsx (with a one-line notice)
// when the bundle is missing or older than a source; `node scripts/agent-bundle.mjs` rebuilds
// it. A build never replaces a directory in place (a running agent may still load chunks from
// its own): each build has a directory of its own; other builds are removed an hour after they
// were made.
//
// Module-relative paths keep working: every `import.meta.url` in the sources is rewritten to
// the URL of the source file itself (relative to the chunk, so the tree can move), so
// `new URL('./fence-watchdog.sh', import.meta.url)` and friends find the files they always did.
//
// Usage: node scripts/agent-bundle.mjs   (build now, print the entry)
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const CACHE = join(ROOT, 'node_modules', '.cache', 'kennel', 'agent');
const CLI_DIR = join(ROOT, 'src', 'cli');
/**
 * The bundle's entry: src/cli/main.ts for `kennel agent` only (bin/kennel.mjs sends nothing else
 * here), so that the control plane's modules are not part of the graph and the bundler leaves
 * out what only they use.
 */
const ENTRY_SOURCE = `
import { parseCli } from './args.ts';
import { runAgent } from './agent.ts';
let code;
try {
  const parsed = parseCli(process.argv.slice(2));
  if (!parsed.ok) {
    if (parsed.stdout) process.stdout.write(parsed.stdout);
    if (parsed.stderr) process.stderr.write(parsed.stderr);
    code = parsed.exitCode;
  } else if (parsed.run.command !== 'agent') {
    process.stderr.write('kennel: the agent bundle runs kennel agent only\\n');
    code = 2;
  } else {
    code = await runAgent(parsed.run.options);
  }
} catch (err) {
  process.stderr.write(\`kennel: unexpected error: \${err?.message ?? String(err)}\\n\`);
  if (process.env.KENNEL_DEBUG) process.stderr.write(\`\${err?.stack ?? ''}\\n\`);
  code = 1;
}
// Exit explicitly, as main.ts does: handles may stay open after a clean stop.
process.exit(code);
`;
/**
 * Packages left to node's resolver: native or unused by the agent (the control plane's), or
 * loaded only on some paths — grpc-js and proto-loader with the containerd runtime or a gRPC
 * probe, node-forge for a self-signed serving certificate — which bundled would still be
 * parsed with the chunks the agent loads at start.
 */
const EXTERNAL = ['better-sqlite3', 'esbuild', 'etcd3', '@grpc/grpc-js', '@grpc/proto-loader', '@kubernetes/client-node', 'node-forge', 'tsx'];
/**
 * Packages whose top-level code only defines things (no effect outside the module): where the
 * agent's code imports one but uses nothing of it, the bundler leaves the import out.
 * node-forge: src/api/pki.ts imports it for the control plane's certificates, and the agent
 * reaches pki.ts (through src/cli/args.ts) for the join token's parser only.
 */
const SIDE_EFFECT_FREE = new Set(['node-forge']);
const KEEP_BUILDS_MS = 3600 * 1000;

/**
 * Whether the current bundle is usable: 'fresh' with its entry, 'stale' (a source changed since
 * it was built, or another node version) or 'missing'.
 */
export function agentBundleState({ cacheDir = CACHE } = {}) {
  let cur;
  try {
    cur = JSON.parse(readFileSync(join(cacheDir, 'current.json'), 'utf8'));
  } catch {
    return { state: 'missing' };
  }
  if (!Array.isArray(cur.inputs) || typeof cur.id !== 'string') return { state: 'missing' };
  const entry = join(cacheDir, cur.id, 'main.js');
  if (!existsSync(entry)) return { state: 'missing' };
  if (cur.node !== process.version) return { state: 'stale', why: `built for node ${cur.node}` };
  for (const [path, size, mtimeMs] of cur.inputs) {
    try {
      const st = statSync(join(ROOT, path));
      if (st.size !== size || st.mtimeMs !== mtimeMs) return { state: 'stale', why: `${path} changed` };
    } catch {
      return { state: 'stale', why: `${path} is gone` };
    }
  }
  // (A new source file matters only once an input imports it, and that input has changed.)
  return { state: 'fresh', entry };
}

/** Replace import.meta.url in a source with the URL of that source, relative to the chunk directory. */
function sourceUrlPlugin(outDir) {
  return {
    name: 'kennel-source-url',
    setup(build) {
      build.onResolve({ filter: /^kennel:agent-main$/ }, () => ({ path: 'agent-main', namespace: 'kennel' }));
      build.onLoad({ filter: /.*/, namespace: 'kennel' }, () => ({ contents: ENTRY_SOURCE, loader: 'ts', resolveDir: CLI_DIR }));
      build.onLoad({ filter: /\.ts$/ }, (args) => {
        const text = readFileSync(args.path, 'utf8');
        if (!text.includes('import.meta.url')) return undefined;
        const rel = relative(outDir, args.path).split(sep).join('/');
        return { contents: text.replaceAll('import.meta.url', `new URL(${JSON.stringify(rel)}, import.meta.url).href`), loader: 'ts' };
      });
    },
  };
}

/** Marks the packages of SIDE_EFFECT_FREE as such (see there). */
function sideEffectFreePlugin() {
  return {
    name: 'kennel-side-effect-free',
    setup(build) {
      const filter = new RegExp(`^(${[...SIDE_EFFECT_FREE].map((p) => p.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')).join('|')})$`);
      build.onResolve({ filter }, async (args) => {
        if (args.pluginData?.kennelSideEffects) return undefined;
        const r = await build.resolve(args.path, { kind: args.kind, importer: args.importer, resolveDir: args.resolveDir, pluginData: { kennelSideEffects: true } });
        if (r.errors.length) return { errors: r.errors };
        return { path: r.path, external: r.external, namespace: r.namespace, sideEffects: false };
      });
    },
  };
}

/**
 * Build the bundle now; returns the path of its main.js and the bundled inputs (paths relative
 * to the project). cacheDir: where builds are kept (tests).
 */
export async function buildAgentBundle({ cacheDir = CACHE } = {}) {
  // esbuild comes with tsx (a dependency): resolve it from there.
  const esbuildPath = createRequire(createRequire(join(ROOT, 'package.json')).resolve('tsx/package.json')).resolve('esbuild');
  const mod = await import(pathToFileURL(esbuildPath).href);
  const esbuild = mod.build ? mod : mod.default;
  mkdirSync(cacheDir, { recursive: true });
  const builtAtMs = Date.now();
  const tmp = join(cacheDir, `.build-${process.pid}-${builtAtMs}`);
  rmSync(tmp, { recursive: true, force: true });
  let result;
  try {
    result = await esbuild.build({
      entryPoints: { main: 'kennel:agent-main' },
      outdir: tmp,
      bundle: true,
      splitting: true,
      format: 'esm',
      platform: 'node',
      target: 'node20',
      external: EXTERNAL,
      metafile: true,
      sourcemap: 'linked',
      minifyWhitespace: true,
      minifySyntax: true,
      keepNames: true,
      legalComments: 'none',
      logLevel: 'error',
      chunkNames: 'chunk-[hash]',
      // Bundled CommonJS packages call require(); ES modules have none.
      banner: { js: "import{createRequire as __kennelCreateRequire}from'node:module';const require=__kennelCreateRequire(import.meta.url);" },
      plugins: [sourceUrlPlugin(tmp), sideEffectFreePlugin()],
    });
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
  // Sources and the bundled packages' files (an `npm install` of other versions makes it stale too).
  const inputs = Object.keys(result.metafile.inputs)
    .filter((p) => !p.includes(':'))
    .map((p) => resolve(ROOT, p))
    .sort()
    .map((p) => {
      const st = statSync(p);
      return [relative(ROOT, p), st.size, st.mtimeMs];
    });
  const id = createHash('sha256').update(JSON.stringify([process.version, inputs])).digest('hex').slice(0, 16);
  const dir = join(cacheDir, id);
  rmSync(dir, { recursive: true, force: true });
  try {
    renameSync(tmp, dir);
  } catch {
    // Built by another process at the same time: use that one.
    rmSync(tmp, { recursive: true, force: true });
  }
  const current = join(cacheDir, 'current.json');
  const curTmp = `${current}.${process.pid}`;
  writeFileSync(curTmp, JSON.stringify({ id, node: process.version, builtAtMs, inputs }));
  renameSync(curTmp, current);
  removeOldBuilds(cacheDir, id);
  return { entry: join(dir, 'main.js'), inputs: inputs.map(([p]) => p) };
}

function removeOldBuilds(cacheDir, keep) {
  const now = Date.now();
  for (const e of readdirSync(cacheDir, { withFileTypes: true })) {
    if (!e.isDirectory() || e.name === keep) continue;
    const p = join(cacheDir, e.name);
    try {
      if (now - statSync(p).mtimeMs > KEEP_BUILDS_MS) rmSync(p, { recursive: true, force: true });
    } catch {
      // gone already
    }
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    process.stdout.write(`${(await buildAgentBundle()).entry}\n`);
  } catch (e) {
    process.stderr.write(`kennel: could not build the agent bundle: ${e?.message ?? e}\n`);
    // As npm's prepare step a failure only warns: `kennel agent` then runs from the sources.
    if (process.env.npm_lifecycle_event !== 'prepare') process.exit(1);
  }
}
