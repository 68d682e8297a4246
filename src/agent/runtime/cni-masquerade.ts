// Masquerading of pod traffic that leaves the pod network: one rule set per bridge, installed
// once when kennel starts its containerd, instead of the CNI bridge plugin's per-pod work.
//
// With `ipMasq: true` the bridge plugin makes a nat chain per pod on every ADD (create the
// chain, two rules, a jump from POSTROUTING: eight iptables runs, each an nftables transaction
// that serialises with the others) and removes it on every DEL. Starting pods ten at a time on
// a small machine, that was the largest part of the plugin's time (measured: a bridge ADD+DEL
// took 44 ms of CPU with ipMasq and 19 ms without). kennel installs the same policy once for
// the whole pod CIDR:
//
//   -A POSTROUTING -m comment --comment "kennel: masquerade pod traffic" -j KENNEL-MASQ-<bridge>
//   -A KENNEL-MASQ-<bridge> ! -s <podCIDR> -j RETURN      not from a pod of this node
//   -A KENNEL-MASQ-<bridge> -d <podCIDR> -j RETURN        pod to pod on the bridge keeps its source
//   -A KENNEL-MASQ-<bridge> -d 224.0.0.0/4 -j RETURN      multicast (the plugin leaves it too)
//   -A KENNEL-MASQ-<bridge> -j MASQUERADE                 everything else leaves as the node
//
// which is what the plugin's per-pod chains amount to (`-d <subnet> -j ACCEPT`,
// `! -d 224.0.0.0/4 -j MASQUERADE` for traffic from the pod's address). The chain is rewritten
// on every start (iptables-restore --noflush flushes a chain it declares), so a changed pod CIDR
// takes effect; the jump is added once. Where iptables is missing or refuses, the caller keeps
// the plugin's own ipMasq instead.
import { run, type CommandResult } from './images.ts';

const COMMENT = 'kennel: masquerade pod traffic';

export type CommandRunner = (cmd: string, args: string[], input?: string) => Promise<CommandResult>;

const defaultRunner: CommandRunner = (cmd, args, input) =>
  run(cmd, args, { input: input === undefined ? undefined : Buffer.from(input), timeoutMs: 30_000 });

/** The nat chain of one bridge's pods (iptables chain names are at most 28 characters). */
export function masqueradeChain(bridgeName: string): string {
  return `KENNEL-MASQ-${bridgeName}`.slice(0, 28);
}

/** The iptables-restore input (for --noflush) that (re)writes the chain for the pod CIDR. */
export function renderMasqueradeRules(bridgeName: string, podCIDR: string): string {
  if (!/^\d{1,3}(\.\d{1,3}){3}\/\d{1,2}$/.test(podCIDR)) throw new Error(`not an IPv4 CIDR: ${podCIDR}`);
  const chain = masqueradeChain(bridgeName);
  return [
    '*nat',
    `:${chain} - [0:0]`,
    `-A ${chain} ! -s ${podCIDR} -j RETURN`,
    `-A ${chain} -d ${podCIDR} -j RETURN`,
    `-A ${chain} -d 224.0.0.0/4 -j RETURN`,
    `-A ${chain} -j MASQUERADE`,
    'COMMIT',
    '',
  ].join('\n');
}

function jumpArgs(op: '-C' | '-A' | '-D', bridgeName: string): string[] {
  return ['-w', '5', '-t', 'nat', op, 'POSTROUTING', '-m', 'comment', '--comment', COMMENT, '-j', masqueradeChain(bridgeName)];
}

/**
 * Install (or refresh) the masquerade rules of `bridgeName`'s pods. Resolves with undefined when
 * they are in place, or with the reason they could not be (the caller then has the bridge
 * plugin masquerade per pod).
 */
export async function ensurePodMasquerade(bridgeName: string, podCIDR: string, runner: CommandRunner = defaultRunner): Promise<string | undefined> {
  try {
    const restore = await runner('iptables-restore', ['-w', '5', '--noflush'], renderMasqueradeRules(bridgeName, podCIDR));
    if (restore.code !== 0) return `iptables-restore failed (exit ${restore.code}): ${restore.stderr.trim()}`;
    const check = await runner('iptables', jumpArgs('-C', bridgeName));
    if (check.code === 0) return undefined;
    const add = await runner('iptables', jumpArgs('-A', bridgeName));
    if (add.code !== 0) return `iptables -A POSTROUTING failed (exit ${add.code}): ${add.stderr.trim()}`;
    return undefined;
  } catch (e) {
    return (e as Error).message;
  }
}

/** Remove the masquerade rules of `bridgeName`'s pods (purge); rules already gone are fine. */
export async function removePodMasquerade(bridgeName: string, runner: CommandRunner = defaultRunner): Promise<void> {
  const chain = masqueradeChain(bridgeName);
  try {
    // Every copy of the jump (two starts racing between -C and -A could have added two).
    for (let i = 0; i < 10; i++) {
      const r = await runner('iptables', jumpArgs('-D', bridgeName));
      if (r.code !== 0) break;
    }
    await runner('iptables', ['-w', '5', '-t', 'nat', '-F', chain]);
    await runner('iptables', ['-w', '5', '-t', 'nat', '-X', chain]);
  } catch {
    // no iptables: nothing was installed
  }
}
