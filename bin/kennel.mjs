#!/bin/sh
":" //; [ "$1" = agent ] && exec node --max-semi-space-size=1 --optimize-for-size --jitless --no-expose-wasm --expose-gc "$0" "$@"; exec node "$0" "$@"
// The `kennel` command. The line above is read by /bin/sh only (to node it is a string and a
// comment): it runs this file with node, adding V8 flags for `kennel agent`, the daemon every
// node of the cluster runs (`node bin/kennel.mjs agent …` runs without them). Measured with
// bench/agent-rss.ts (100 process pods; RSS settled with the pods, MiB; the agent's CPU time
// for starting them did not change beyond the noise):
//   --max-semi-space-size=1  young-generation semi-spaces of 1 MiB instead of growing to 16:
//                            a burst of pod starts no longer leaves them resident (−10)
//   --optimize-for-size      V8's heuristics favour memory over speed: slower heap growth,
//                            earlier collections (−8 with pods, −1 idle)
//   --jitless                no optimizing compilers, bytecode only: their code and compiled
//                            code stay out of memory (−6 idle); the agent waits on the network
//                            and its child processes, not on JavaScript
//   --no-expose-wasm         no WebAssembly (--jitless has none; this keeps V8 from warning)
//   --expose-gc              for the agent's heap trimmer (startHeapTrimmer in src/cli/agent.ts:
//                            a full collection after a burst grew the heap, −5 five seconds
//                            after the burst; V8 alone gets there after ~30 s)
//
// `kennel agent` runs the CLI from a bundle that plain node loads (scripts/agent-bundle.mjs,
// built by `npm install`'s prepare step), which keeps the tsx loader and per-file module
// loading out of the agent's memory. When the bundle is missing or older than a source it
// runs from the sources under tsx, with a one-line notice (KENNEL_AGENT_BUNDLE=0: always).
// Every other command runs the TypeScript CLI through tsx's loader.
const entry = process.argv[2] === 'agent' && process.env.KENNEL_AGENT_BUNDLE !== '0' ? await agentEntry() : undefined;
if (entry) {
  await import(entry);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('../src/cli/main.ts');
}

async function agentEntry() {
  const { agentBundleState } = await import('../scripts/agent-bundle.mjs');
  const b = agentBundleState();
  if (b.state === 'fresh') {
    const { pathToFileURL } = await import('node:url');
    return pathToFileURL(b.entry).href;
  }
  const why = b.state === 'missing' ? 'is not built' : `is older than the sources (${b.why})`;
  process.stderr.write(`kennel: the agent bundle ${why}: running from the sources under tsx (more memory); \`npm run prepare\` builds it\n`);
  return undefined;
}
