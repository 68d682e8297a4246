// `kennel peer-finder …`, `kennel wait-for …` and `kennel tools-image <out.tar>`: the in-pod tools
// run from the kennel command (the same code the tools image bundles).
export const TOOL_COMMANDS = ['peer-finder', 'wait-for', 'tools-image'] as const;

/** Run a tool sub-command; undefined when argv[0] is not one (main goes on with its own parser). */
export async function runToolCommand(argv: readonly string[]): Promise<number | undefined> {
  const [cmd, ...rest] = argv;
  switch (cmd) {
    case 'peer-finder': {
      const { peerFinderMain } = await import('../tools/peer-finder.ts');
      return peerFinderMain(rest);
    }
    case 'wait-for': {
      const { waitForMain } = await import('../tools/wait-for.ts');
      return waitForMain(rest);
    }
    case 'tools-image': {
      if (rest.length !== 1 || rest[0]!.startsWith('-')) {
        process.stderr.write('usage: kennel tools-image <out.tar>   (an OCI archive of kennel.local/tools:1, for ctr images import)\n');
        return 2;
      }
      const { buildToolsImage, TOOLS_IMAGE } = await import('../tools/bundle.ts');
      const img = await buildToolsImage(rest[0]!);
      process.stdout.write(`${TOOLS_IMAGE} ${img.manifestDigest} → ${rest[0]}\n`);
      return 0;
    }
    default:
      return undefined;
  }
}
