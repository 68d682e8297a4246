// containerd's config files: config.toml, the CNI conflist, registries.yaml and per-registry hosts.toml.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import YAML from 'yaml';
import { CNI_NETWORK_NAME, type ContainerdOptions, type ContainerdPaths } from './containerd.ts';

/** One registry's settings, as in k3s's registries.yaml `configs:` section. */
export interface RegistryHostConfig {
  auth?: { username?: string; password?: string; auth?: string; identity_token?: string };
  tls?: { insecure_skip_verify?: boolean; ca_file?: string; cert_file?: string; key_file?: string };
}

/** k3s's registries.yaml: mirrors (endpoint lists per registry name) and per-host configs. */
export interface RegistriesConfig {
  mirrors?: Record<string, { endpoint?: string[] }>;
  configs?: Record<string, RegistryHostConfig>;
}

// ------------------------------------------------------------- config ----

/** A TOML basic string (JSON's escaping is valid TOML for these values). */
const q = (s: string): string => JSON.stringify(s);

/** Plugins a CRI-only containerd has no use for (and which could touch host paths). */
const DISABLED_PLUGINS = [
  'io.containerd.snapshotter.v1.aufs',
  'io.containerd.snapshotter.v1.btrfs',
  'io.containerd.snapshotter.v1.devmapper',
  'io.containerd.snapshotter.v1.zfs',
  'io.containerd.tracing.processor.v1.otlp',
  'io.containerd.internal.v1.tracing',
];

export function renderContainerdConfig(paths: ContainerdPaths, opts: { cniBinDir: string; sandboxImage: string }): string {
  return `# Written by kennel; rewritten on every start.
version = 2
root = ${q(paths.root)}
state = ${q(paths.state)}
disabled_plugins = [${DISABLED_PLUGINS.map(q).join(', ')}]

[grpc]
  address = ${q(paths.socket)}
  max_recv_message_size = 16777216
  max_send_message_size = 16777216

[ttrpc]
  address = ${q(paths.socket + '.ttrpc')}

[debug]
  address = ""
  level = "info"

[metrics]
  address = ""

[plugins]
  [plugins."io.containerd.internal.v1.opt"]
    path = ${q(join(paths.dir, 'opt'))}

  [plugins."io.containerd.grpc.v1.cri"]
    sandbox_image = ${q(opts.sandboxImage)}
    stream_server_address = "127.0.0.1"
    stream_server_port = "0"
    enable_tls_streaming = false
    disable_tcp_service = true
    netns_mounts_under_state_dir = true
    enable_selinux = false
    max_container_log_line_size = 16384
    # Never ask for an oom_score_adj below containerd's own: lowering it needs CAP_SYS_RESOURCE,
    # which kennel's host may not grant (runc then fails with "can't get final child's PID").
    restrict_oom_score_adj = true
    systemd_cgroup = false

    [plugins."io.containerd.grpc.v1.cri".containerd]
      snapshotter = "overlayfs"
      default_runtime_name = "runc"
      disable_snapshot_annotations = true

      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
        runtime_type = "io.containerd.runc.v2"

        [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
          BinaryName = "runc"
          Root = ${q(join(paths.state, 'runc'))}
          SystemdCgroup = false

    [plugins."io.containerd.grpc.v1.cri".cni]
      bin_dir = ${q(opts.cniBinDir)}
      conf_dir = ${q(paths.cniConfDir)}
      max_conf_num = 1

    [plugins."io.containerd.grpc.v1.cri".registry]
      config_path = ${q(paths.certsDir)}
`;
}

/**
 * The CNI network: a bridge that is the pods' gateway, host-local addresses from the pod CIDR,
 * and portmap for hostPorts (it does nothing for a pod without any). Pod traffic leaving the
 * network is masqueraded by kennel's own rules for the whole pod CIDR (cni-masquerade.ts);
 * `ipMasq: true`, the fallback where those cannot be installed, has the bridge plugin do it
 * per pod instead. (The loopback plugin is run by containerd itself for every pod's `lo`; it
 * must be in the bin dir but is not part of the list.)
 */
export function renderCniConflist(opts: { bridgeName: string; podCIDR: string; ipamDir: string; ipMasq?: boolean }): string {
  return (
    JSON.stringify(
      {
        cniVersion: '1.0.0',
        name: CNI_NETWORK_NAME,
        plugins: [
          {
            type: 'bridge',
            bridge: opts.bridgeName,
            isGateway: true,
            ipMasq: opts.ipMasq ?? false,
            hairpinMode: true,
            ipam: {
              type: 'host-local',
              ranges: [[{ subnet: opts.podCIDR }]],
              routes: [{ dst: '0.0.0.0/0' }],
              dataDir: opts.ipamDir,
            },
          },
          { type: 'portmap', capabilities: { portMappings: true }, snat: true },
        ],
      },
      null,
      2,
    ) + '\n'
  );
}

/** Parse k3s-style registries.yaml text. */
export function parseRegistriesYaml(text: string): RegistriesConfig {
  const doc: unknown = YAML.parse(text) ?? {};
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new Error('registries.yaml: expected a mapping');
  const d = doc as Record<string, unknown>;
  const out: RegistriesConfig = {};
  if (d.mirrors !== undefined) {
    if (typeof d.mirrors !== 'object' || d.mirrors === null) throw new Error('registries.yaml: mirrors must be a mapping');
    out.mirrors = {};
    for (const [name, m] of Object.entries(d.mirrors as Record<string, unknown>)) {
      const endpoint = (m as { endpoint?: unknown } | null)?.endpoint;
      if (endpoint !== undefined && (!Array.isArray(endpoint) || endpoint.some((e) => typeof e !== 'string'))) {
        throw new Error(`registries.yaml: mirrors.${name}.endpoint must be a list of URLs`);
      }
      out.mirrors[name] = { endpoint: (endpoint as string[] | undefined) ?? [] };
    }
  }
  if (d.configs !== undefined) {
    if (typeof d.configs !== 'object' || d.configs === null) throw new Error('registries.yaml: configs must be a mapping');
    out.configs = d.configs as Record<string, RegistryHostConfig>;
  }
  return out;
}

const DOCKER_HUB_HOSTS = new Set(['docker.io', 'registry-1.docker.io', 'index.docker.io']);

function endpointUrl(endpoint: string): URL {
  return new URL(/^[a-z]+:\/\//i.test(endpoint) ? endpoint : `https://${endpoint}`);
}

/**
 * containerd's per-registry hosts.toml files (registry.config_path), keyed by the registry
 * name's directory. A plain-HTTP registry gets `server = "http://…"`; mirrors become `[host]`
 * entries tried before the upstream; TLS and Basic-auth settings of a host are attached to it.
 */
export function renderHostsFiles(reg: RegistriesConfig, insecure: string[]): Map<string, string> {
  const files = new Map<string, string>();
  const configs = reg.configs ?? {};
  const hostBlock = (url: URL, capabilities: string[]): string => {
    const origin = `${url.protocol}//${url.host}`;
    const cfg = configs[url.host] ?? {};
    let s = `\n[host.${q(origin + (url.pathname !== '/' ? url.pathname : ''))}]\n  capabilities = [${capabilities.map(q).join(', ')}]\n`;
    if (cfg.tls?.insecure_skip_verify) s += '  skip_verify = true\n';
    if (cfg.tls?.ca_file) s += `  ca = ${q(cfg.tls.ca_file)}\n`;
    if (cfg.tls?.cert_file && cfg.tls?.key_file) s += `  client = [[${q(cfg.tls.cert_file)}, ${q(cfg.tls.key_file)}]]\n`;
    const a = cfg.auth;
    const basic = a?.auth ?? (a?.username !== undefined ? Buffer.from(`${a.username}:${a.password ?? ''}`).toString('base64') : undefined);
    if (basic) s += `  [host.${q(origin + (url.pathname !== '/' ? url.pathname : ''))}.header]\n    Authorization = [${q('Basic ' + basic)}]\n`;
    return s;
  };
  const insecureSet = new Set(insecure);
  const names = new Set<string>([...Object.keys(reg.mirrors ?? {}), ...insecure, ...Object.keys(configs)]);
  for (const name of names) {
    const upstreamScheme = insecureSet.has(name) ? 'http' : 'https';
    const upstream = name === '*' ? '' : DOCKER_HUB_HOSTS.has(name) ? 'https://registry-1.docker.io' : `${upstreamScheme}://${name}`;
    let text = '# Written by kennel.\n';
    if (upstream) text += `server = ${q(upstream)}\n`;
    for (const ep of reg.mirrors?.[name]?.endpoint ?? []) {
      const url = endpointUrl(insecureSet.has(ep) ? `http://${ep}` : ep);
      text += hostBlock(url, ['pull', 'resolve']);
    }
    if (upstream && (insecureSet.has(name) || configs[name])) {
      // The upstream itself, with its TLS/auth settings (hosts.toml applies them to [host] entries).
      text += hostBlock(new URL(upstream), ['pull', 'resolve', 'push']);
    }
    const dir = name === '*' ? '_default' : name;
    files.set(dir, text);
  }
  return files;
}

/** Merge registries.yaml from the data dir (if any), the option and insecureRegistries. */
export function effectiveRegistries(opts: ContainerdOptions): RegistriesConfig {
  if (opts.registries) return opts.registries;
  const file = join(opts.dataDir, 'registries.yaml');
  if (existsSync(file)) return parseRegistriesYaml(readFileSync(file, 'utf8'));
  return {};
}

/** Registries reached over plain HTTP (a registries.yaml mirror endpoint says so with http://). */
export function insecureHosts(opts: ContainerdOptions): string[] {
  return [...new Set(opts.insecureRegistries ?? [])];
}
