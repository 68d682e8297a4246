// `kennel agent`: joins this machine to a cluster as a node. The flags are parsed and checked
// now (args.ts); the node agent itself arrives with a later issue and replaces this stub.
import type { AgentOptions } from './args.ts';

/** Runs the agent until it stops; resolves to the process exit code. */
export async function runAgent(_opts: AgentOptions, print: (line: string) => void = (l) => process.stderr.write(l + '\n')): Promise<number> {
  print('kennel agent: the node agent is not available in this version of kennel yet; use `kennel up` for a single-machine cluster');
  return 2;
}
