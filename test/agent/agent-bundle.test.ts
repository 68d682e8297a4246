// The bundle `kennel agent` runs (scripts/agent-bundle.mjs): what it loads at start, that it
// runs, and when bin/kennel.mjs must not use it.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
// @ts-expect-error: a plain ES module without types
import { agentBundleState, buildAgentBundle, ROOT } from '../../scripts/agent-bundle.mjs';

const run = promisify(execFile);

interface Built {
  entry: string;
  inputs: string[];
}

/** The files node loads with the entry: the chunks reached by static imports (not import()). */
function staticClosure(entry: string): string[] {
  const seen = new Set<string>();
  const queue = [entry];
  while (queue.length) {
    const f = queue.pop()!;
    if (seen.has(f)) continue;
    seen.add(f);
    const text = readFileSync(f, 'utf8');
    for (const m of text.matchAll(/(?:^|[;}\s])(?:import|export)\s*(?:[\w*{}\s,$]*?from\s*)?"(\.\/[^"]+)"/g)) queue.push(join(dirname(f), m[1]!));
  }
  return [...seen];
}

describe('the agent bundle', () => {
  // Under node_modules so that the bundle finds kennel's packages, as the real one does.
  const cacheDir = join(ROOT, 'node_modules', '.cache', 'kennel', `agent-test-${process.pid}`);
  let built: Built;
  before(async () => {
    built = (await buildAgentBundle({ cacheDir })) as Built;
  });
  after(() => rmSync(cacheDir, { recursive: true, force: true }));

  it("holds the agent's code and not the control plane's", () => {
    assert.ok(built.inputs.includes('src/cli/agent.ts'));
    assert.ok(built.inputs.includes('src/agent/agent.ts'));
    assert.ok(!built.inputs.includes('src/cli/controlplane.ts'), 'no control plane');
    assert.ok(!built.inputs.some((p) => p.startsWith('src/controllers/manager')), 'no controller manager');
  });

  it('loads neither node-forge, grpc-js nor the containerd runtime at start', () => {
    const files = staticClosure(built.entry);
    assert.ok(files.length > 1);
    const text = files.map((f) => readFileSync(f, 'utf8')).join('\n');
    assert.ok(text.includes('KUBELET_CLIENT_CN') || text.includes('kube-apiserver-kubelet-client'), 'the agent code is there');
    assert.doesNotMatch(text, /from\s*"node-forge"|node_modules\/node-forge/, 'node-forge');
    assert.doesNotMatch(text, /from\s*"@grpc\/grpc-js"|node_modules\/@grpc/, 'grpc-js');
    assert.doesNotMatch(text, /startContainerdRuntime\s*=|function startContainerdRuntime/, 'the containerd runtime');
    // …but there to load when needed (import()).
    const chunks = readdirSync(dirname(built.entry)).filter((f) => f.endsWith('.js'));
    const everything = chunks.map((f) => readFileSync(join(dirname(built.entry), f), 'utf8')).join('\n');
    assert.match(everything, /function startContainerdRuntime/);
    assert.match(everything, /import\("node-forge"\)/);
    assert.match(everything, /import\("@grpc\/grpc-js"\)/);
  });

  it('runs `kennel agent` with plain node (usage and bad flags as the CLI answers them)', async () => {
    const help = await run(process.execPath, [built.entry, 'agent', '--help'], { cwd: ROOT });
    assert.match(help.stdout, /--server/);
    assert.match(help.stdout, /--token/);
    await assert.rejects(run(process.execPath, [built.entry, 'agent', '--no-such-flag'], { cwd: ROOT }), (e: { code?: number; stderr?: string }) => e.code === 2 && /no-such-flag/.test(e.stderr ?? ''));
  });

  it('is fresh as built, stale once an input differs, missing without a build', () => {
    const st = agentBundleState({ cacheDir }) as { state: string; entry?: string; why?: string };
    assert.equal(st.state, 'fresh');
    assert.equal(st.entry, built.entry);
    const currentPath = join(cacheDir, 'current.json');
    const current = JSON.parse(readFileSync(currentPath, 'utf8')) as { inputs: [string, number, number][] };
    const i = current.inputs.findIndex(([p]) => p === 'src/cli/agent.ts');
    current.inputs[i]![1] += 1;
    writeFileSync(currentPath, JSON.stringify(current));
    const stale = agentBundleState({ cacheDir }) as { state: string; why?: string };
    assert.equal(stale.state, 'stale');
    assert.match(stale.why ?? '', /src\/cli\/agent\.ts/);
    rmSync(currentPath);
    assert.equal((agentBundleState({ cacheDir }) as { state: string }).state, 'missing');
  });
});
