// A pod's own files: resolv.conf, hosts and hostname, and the container's mounts of them and its volumes.
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import type { DnsConfig, Mount } from './runtime/types.ts';
import type { Container, Pod } from './kube-types.ts';
import { ContainerConfigError, expand } from './env.ts';
import { SERVICE_ACCOUNT_MOUNT_PATH, podDir, type PodNetworkFiles, type PodVolumes } from './volumes.ts';

// ---------------------------------------------------------------------------------------------
// resolv.conf, hosts, hostname

/** The pod's hostname and (with a subdomain) FQDN, as the kubelet derives them. */
export function podHostname(pod: Pod, clusterDomain: string, nodeHostname: string): { hostname: string; fqdn?: string } {
  if (pod.spec.hostNetwork) return { hostname: nodeHostname };
  let hostname = pod.spec.hostname || pod.metadata.name || '';
  if (hostname.length > 63) hostname = hostname.slice(0, 63).replace(/[-.]+$/, '');
  const sub = pod.spec.subdomain;
  if (!sub) return { hostname };
  return { hostname, fqdn: `${hostname}.${sub}.${pod.metadata.namespace ?? 'default'}.svc.${clusterDomain}` };
}

export function parseResolvConf(text: string): DnsConfig {
  const cfg: DnsConfig = { servers: [], searches: [], options: [] };
  for (const raw of text.split('\n')) {
    const line = raw.replace(/[#;].*$/, '').trim();
    if (!line) continue;
    const [kw, ...rest] = line.split(/\s+/);
    if (kw === 'nameserver' && rest[0]) cfg.servers.push(rest[0]);
    else if (kw === 'search' || kw === 'domain') cfg.searches = rest;
    else if (kw === 'options') cfg.options.push(...rest);
  }
  return cfg;
}

/** The pod's DNS configuration per dnsPolicy (and dnsConfig), or null for the host's unchanged. */
export function podDnsConfig(pod: Pod, net: PodNetworkFiles): DnsConfig {
  const ns = pod.metadata.namespace ?? 'default';
  let policy = pod.spec.dnsPolicy ?? 'ClusterFirst';
  if (policy === 'ClusterFirst' && pod.spec.hostNetwork) policy = 'Default';
  if ((policy === 'ClusterFirst' || policy === 'ClusterFirstWithHostNet') && !net.clusterDNS) policy = 'Default';
  const host = parseResolvConf(net.hostResolvConf);
  let cfg: DnsConfig;
  if (policy === 'None') cfg = { servers: [], searches: [], options: [] };
  else if (policy === 'Default') cfg = { servers: [...host.servers], searches: [...host.searches], options: [...host.options] };
  else {
    const d = net.clusterDomain;
    cfg = { servers: [net.clusterDNS!], searches: [`${ns}.svc.${d}`, `svc.${d}`, d, ...host.searches.filter((s) => s !== '.')], options: ['ndots:5'] };
  }
  const extra = pod.spec.dnsConfig;
  if (extra) {
    cfg.servers.push(...(extra.nameservers ?? []));
    for (const s of extra.searches ?? []) if (!cfg.searches.includes(s)) cfg.searches.push(s);
    for (const o of extra.options ?? []) {
      const name = o.name ?? '';
      cfg.options = cfg.options.filter((x) => x.split(':')[0] !== name);
      cfg.options.push(o.value !== undefined && o.value !== null ? `${name}:${o.value}` : name);
    }
  }
  // glibc reads at most 3 nameservers and 32 search domains
  cfg.servers = [...new Set(cfg.servers)].slice(0, 3);
  cfg.searches = [...new Set(cfg.searches)].slice(0, 32);
  return cfg;
}

export function resolvConfText(cfg: DnsConfig): string {
  const lines: string[] = [];
  if (cfg.searches.length) lines.push(`search ${cfg.searches.join(' ')}`);
  for (const s of cfg.servers) lines.push(`nameserver ${s}`);
  if (cfg.options.length) lines.push(`options ${cfg.options.join(' ')}`);
  return lines.join('\n') + '\n';
}

/** The kubelet's managed /etc/hosts. */
export function hostsFileText(pod: Pod, podIPs: string[], net: PodNetworkFiles): string {
  const aliases = pod.spec.hostAliases ?? [];
  let text: string;
  if (pod.spec.hostNetwork) {
    text = `# Kubernetes-managed hosts file (host network).\n${net.hostHosts.replace(/\n*$/, '\n')}`;
  } else {
    const { hostname, fqdn } = podHostname(pod, net.clusterDomain, net.nodeHostname);
    text =
      '# Kubernetes-managed hosts file.\n' +
      '127.0.0.1\tlocalhost\n' +
      '::1\tlocalhost ip6-localhost ip6-loopback\n' +
      'fe00::0\tip6-localnet\n' +
      'fe00::0\tip6-mcastprefix\n' +
      'fe00::1\tip6-allnodes\n' +
      'fe00::2\tip6-allrouters\n';
    for (const ip of podIPs) text += fqdn ? `${ip}\t${fqdn}\t${hostname}\n` : `${ip}\t${hostname}\n`;
  }
  if (aliases.length > 0) {
    text += '\n# Entries added by HostAliases.\n';
    for (const a of aliases) if (a.ip && a.hostnames?.length) text += `${a.ip}\t${a.hostnames.join('\t')}\n`;
  }
  return text;
}

export interface PodFiles {
  hosts: string;
  resolvConf: string;
  hostname: string;
  dns: DnsConfig;
}

/**
 * What writePodFiles wrote (or found written) in each pod directory, as a digest per file: a sync
 * that changes nothing then reads and writes no file, and a new pod's files are created without
 * first failing to read them.
 */
const podFilesWritten = new Map<string, string[]>();

const digest = (text: string): string => createHash('sha1').update(text).digest('base64');

/** Write the pod's etc-hosts, resolv.conf and hostname files; returns their paths. */
export async function writePodFiles(pod: Pod, dataDir: string, podIPs: string[], net: PodNetworkFiles): Promise<PodFiles> {
  const dir = podDir(dataDir, pod.metadata.uid ?? '');
  const dns = podDnsConfig(pod, net);
  const files: PodFiles = { hosts: join(dir, 'etc-hosts'), resolvConf: join(dir, 'resolv.conf'), hostname: join(dir, 'hostname'), dns };
  const paths = [files.hosts, files.resolvConf, files.hostname];
  const texts = [hostsFileText(pod, podIPs, net), resolvConfText(dns), `${podHostname(pod, net.clusterDomain, net.nodeHostname).hostname}\n`];
  const sums = texts.map(digest);
  const last = podFilesWritten.get(dir);
  if (!last) await fsp.mkdir(dir, { recursive: true, mode: 0o755 });
  for (let i = 0; i < paths.length; i++) {
    if (last?.[i] === sums[i]) continue;
    await writeIfChanged(paths[i]!, texts[i]!, last !== undefined);
  }
  podFilesWritten.set(dir, sums);
  return files;
}

/** Forget what writePodFiles wrote in a pod directory (it is being removed). */
export function forgetPodFiles(dir: string): void {
  podFilesWritten.delete(dir);
}

/**
 * Write a file atomically (a temporary file renamed over it) unless it holds text already.
 * changed: the caller knows its content differs (written by this process before).
 */
async function writeIfChanged(path: string, text: string, changed: boolean): Promise<void> {
  if (!changed) {
    // Not written by this process yet: most often a new pod's, which does not exist.
    try {
      await fsp.writeFile(path, text, { mode: 0o644, flag: 'wx' });
      return;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    if ((await fsp.readFile(path, 'utf8')) === text) return;
  }
  const tmp = `${path}.tmp`;
  await fsp.writeFile(tmp, text, { mode: 0o644 });
  await fsp.rename(tmp, path);
}

/**
 * The container's mounts: its volumeMounts (with subPath / subPathExpr), then /etc/hosts,
 * /etc/resolv.conf and /etc/hostname unless the container mounts those paths itself.
 */
export async function containerMounts(pod: Pod, c: Container, vols: PodVolumes, files: PodFiles | undefined, env: { key: string; value: string }[]): Promise<Mount[]> {
  const mounts: Mount[] = [];
  for (const m of c.volumeMounts ?? []) {
    const base = vols.paths.get(m.name);
    if (base === undefined) throw new ContainerConfigError(`cannot find volume "${m.name}" to mount into container "${c.name}"`);
    let sub = m.subPath ?? '';
    if (m.subPathExpr) {
      const envMap = new Map(env.map((e) => [e.key, e.value]));
      sub = expand(m.subPathExpr, (n) => envMap.get(n));
    }
    let hostPath = base;
    if (sub) {
      if (sub.startsWith('/') || sub.split('/').includes('..')) throw new ContainerConfigError(`invalid subpath ${JSON.stringify(sub)} in container "${c.name}"`);
      hostPath = join(base, sub);
      try {
        await fsp.lstat(hostPath);
      } catch {
        await fsp.mkdir(hostPath, { recursive: true, mode: 0o755 });
      }
      // configMap/secret files are symlinks into ..data: mount what they point at
      hostPath = await fsp.realpath(hostPath);
    }
    const prop = m.mountPropagation === 'HostToContainer' || m.mountPropagation === 'Bidirectional' ? m.mountPropagation : 'None';
    mounts.push({ containerPath: m.mountPath, hostPath, readonly: m.readOnly === true || vols.readOnly.has(m.name), propagation: prop });
  }
  if (files && !pod.spec.hostNetwork) {
    const taken = new Set(mounts.map((m) => m.containerPath.replace(/\/+$/, '')));
    if (!taken.has('/etc/hosts')) mounts.push({ containerPath: '/etc/hosts', hostPath: files.hosts, readonly: false });
    if (!taken.has('/etc/resolv.conf')) mounts.push({ containerPath: '/etc/resolv.conf', hostPath: files.resolvConf, readonly: false });
    if (!taken.has('/etc/hostname')) mounts.push({ containerPath: '/etc/hostname', hostPath: files.hostname, readonly: false });
  } else if (files) {
    const taken = new Set(mounts.map((m) => m.containerPath.replace(/\/+$/, '')));
    if (!taken.has('/etc/hosts')) mounts.push({ containerPath: '/etc/hosts', hostPath: files.hosts, readonly: false });
    if (!taken.has('/etc/resolv.conf')) mounts.push({ containerPath: '/etc/resolv.conf', hostPath: files.resolvConf, readonly: false });
  }
  return mounts;
}

/** The implicit service-account mount for a container (when the agent adds the volume). */
export function serviceAccountVolumeMount(volumeName: string): { name: string; mountPath: string; readOnly: boolean } {
  return { name: volumeName, mountPath: SERVICE_ACCOUNT_MOUNT_PATH, readOnly: true };
}
