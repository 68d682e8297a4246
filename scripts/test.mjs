// `npm test`: the type check, the agent bundle if stale, then every *.test.ts under test/ with node's test runner.
// Node 20 does not expand globs given to --test, so the files are collected here.
// KENNEL_TEST_FILTER=substring limits the run to matching files (for development).
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

function collect(dir, out) {
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) collect(p, out);
    else if (name.endsWith('.test.ts')) out.push(p);
  }
  return out;
}

const filter = process.env.KENNEL_TEST_FILTER;
let files = collect('test', []);
if (filter) files = files.filter((f) => f.includes(filter));

if (!filter) {
  const tc = spawnSync('npx', ['tsc', '--noEmit', '-p', '.'], { stdio: 'inherit' });
  if (tc.status !== 0) {
    console.error('type check failed');
    process.exit(tc.status ?? 1);
  }
}
// The e2e tests run `kennel agent` as users do, from its bundle: rebuild it when a source
// changed since `npm ci` built it, so the tests run the current sources.
const { agentBundleState, buildAgentBundle } = await import('./agent-bundle.mjs');
if (agentBundleState().state !== 'fresh') await buildAgentBundle();
const args = ['--import', 'tsx', '--test', '--test-concurrency=1', '--test-reporter=spec', ...files];
const r = spawnSync(process.execPath, args, { stdio: 'inherit' });
process.exit(r.status ?? 1);
