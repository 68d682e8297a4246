// The thin layer that hands rulesets to the kernel: `nft -f -` (one atomic transaction), the
// check that nftables works, and the per-interface route_localnet sysctl.
import { spawn } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import { renderNftDelete } from './rules.ts';

export interface NftRunner {
  /** Apply an nft script read from stdin (`nft -f -`); rejects with nft's stderr on failure. */
  apply(script: string): Promise<void>;
  /** Run `nft <args>` and return its stdout. */
  run(args: string[]): Promise<string>;
}

function exec(cmd: string, args: string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === 0) resolve(out);
      else reject(new Error(`${cmd} ${args.join(' ')} exited ${code}: ${err.trim()}`));
    });
    child.stdin.on('error', () => {});
    child.stdin.end(input ?? '');
  });
}

/** The nft binary (path default: `nft` from PATH). */
export function nftRunner(nftPath = 'nft'): NftRunner {
  return {
    apply: async (script) => {
      await exec(nftPath, ['-f', '-'], script);
    },
    run: (args) => exec(nftPath, args),
  };
}

/**
 * Whether the kernel takes nftables NAT rules: applies and deletes a throw-away table with a
 * nat chain and a verdict map (the features the proxy uses). Returns undefined if it works, or
 * the reason it does not.
 */
export async function probeNftables(runner: NftRunner = nftRunner()): Promise<string | undefined> {
  const t = `kennel-probe-${process.pid}`;
  try {
    await runner.apply(
      `table ip ${t} {\n  map m { type ipv4_addr . inet_proto . inet_service : verdict; }\n  chain c { type nat hook prerouting priority dstnat; policy accept; ip daddr . meta l4proto . th dport vmap @m; }\n}\n`,
    );
    await runner.apply(renderNftDelete(t));
    return undefined;
  } catch (e) {
    return (e as Error).message;
  }
}

export async function deleteNftTable(table: string, runner: NftRunner = nftRunner()): Promise<void> {
  await runner.apply(renderNftDelete(table));
}

/** Whether bridged IPv4 traffic passes netfilter (br_netfilter loaded and bridge-nf-call-iptables=1). */
export async function bridgeNetfilterEnabled(): Promise<boolean> {
  try {
    return (await fsp.readFile('/proc/sys/net/bridge/bridge-nf-call-iptables', 'utf8')).trim() === '1';
  } catch {
    return false;
  }
}

/**
 * Set net.ipv4.conf.<iface>.route_localnet=1 (packets from iface may be routed to 127/8, which
 * DNAT to a loopback endpoint needs). Returns the previous value, or undefined when the
 * interface does not exist (yet).
 */
export async function enableRouteLocalnet(iface: string): Promise<string | undefined> {
  if (!/^[A-Za-z0-9_.-]{1,15}$/.test(iface)) throw new Error(`invalid interface name ${iface}`);
  const file = `/proc/sys/net/ipv4/conf/${iface}/route_localnet`;
  let prev: string;
  try {
    prev = (await fsp.readFile(file, 'utf8')).trim();
  } catch {
    return undefined;
  }
  if (prev !== '1') await fsp.writeFile(file, '1\n');
  return prev;
}

export async function setRouteLocalnet(iface: string, value: string): Promise<void> {
  if (!/^[A-Za-z0-9_.-]{1,15}$/.test(iface)) throw new Error(`invalid interface name ${iface}`);
  await fsp.writeFile(`/proc/sys/net/ipv4/conf/${iface}/route_localnet`, `${value}\n`).catch(() => {});
}
