// The pure parts of the containerd runtime: the files kennel writes for containerd (config,
// CNI conflist, registry hosts.toml), the OCI image writer, and the CRI message mapping.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { gunzipSync } from 'node:zlib';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  containerdPaths,
  parseRegistriesYaml,
  renderCniConflist,
  renderContainerdConfig,
  renderHostsFiles,
} from '../../src/agent/runtime/containerd.ts';
import {
  exitCodeFromStatus,
  imageRegistryHost,
  normalizeServerAddress,
  nsToMs,
  toCriContainerConfig,
  toCriSandboxConfig,
} from '../../src/agent/runtime/cri.ts';
import { CRI_PROTO } from '../../src/agent/runtime/cri-proto.ts';
import { ensurePodMasquerade, masqueradeChain, removePodMasquerade, renderMasqueradeRules, type CommandRunner } from '../../src/agent/runtime/cni-masquerade.ts';
import { buildImage, buildToolsImageInChild, ociArchive, tar } from '../../src/agent/runtime/images.ts';
import type { PodSandboxConfig } from '../../src/agent/runtime/types.ts';
import protobuf from 'protobufjs';

const sandbox: PodSandboxConfig = {
  uid: 'u-1',
  name: 'web-0',
  namespace: 'apps',
  attempt: 2,
  hostname: 'web-0',
  logDirectory: '/var/log/pods/apps_web-0_u-1',
  dnsConfig: { servers: ['10.96.0.10'], searches: ['apps.svc.cluster.local'], options: ['ndots:5'] },
  portMappings: [{ protocol: 'TCP', containerPort: 80, hostPort: 8080 }],
  labels: { app: 'web' },
  annotations: { a: 'b' },
  hostNetwork: false,
};

/** Read the entries of an uncompressed tar. */
function untar(buf: Buffer): { name: string; type: string; size: number; link: string; body: Buffer }[] {
  const out = [];
  let off = 0;
  while (off + 512 <= buf.length) {
    const h = buf.subarray(off, off + 512);
    if (h.every((b) => b === 0)) break;
    const str = (a: number, n: number) => h.subarray(a, a + n).toString('utf8').replace(/\0.*$/s, '');
    const size = parseInt(str(124, 12), 8);
    const prefix = str(345, 155);
    const name = (prefix ? prefix + '/' : '') + str(0, 100);
    // checksum: sum of header bytes with the checksum field as spaces
    let sum = 0;
    for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 32 : h[i]!;
    assert.equal(parseInt(str(148, 8), 8), sum, `checksum of ${name}`);
    out.push({ name, type: str(156, 1), size, link: str(157, 100), body: buf.subarray(off + 512, off + 512 + size) });
    off += 512 + Math.ceil(size / 512) * 512;
  }
  return out;
}

describe('containerd config files', () => {
  const paths = containerdPaths('/var/lib/kennel');

  it('keeps every path of containerd under the data dir, with its own sockets', () => {
    const toml = renderContainerdConfig(paths, { cniBinDir: '/usr/lib/cni', sandboxImage: 'kennel.local/pause:1' });
    assert.match(toml, /^version = 2$/m);
    assert.match(toml, /^root = "\/var\/lib\/kennel\/containerd\/root"$/m);
    assert.match(toml, /^state = "\/var\/lib\/kennel\/containerd\/state"$/m);
    assert.match(toml, /\[grpc\]\n\s+address = "\/var\/lib\/kennel\/containerd\/containerd.sock"/);
    assert.match(toml, /\[ttrpc\]\n\s+address = "\/var\/lib\/kennel\/containerd\/containerd.sock.ttrpc"/);
    assert.match(toml, /sandbox_image = "kennel.local\/pause:1"/);
    assert.match(toml, /bin_dir = "\/usr\/lib\/cni"/);
    assert.match(toml, /conf_dir = "\/var\/lib\/kennel\/cni\/net.d"/);
    assert.match(toml, /config_path = "\/var\/lib\/kennel\/containerd\/certs.d"/);
    assert.match(toml, /SystemdCgroup = false/);
    assert.match(toml, /snapshotter = "overlayfs"/);
    assert.match(toml, /netns_mounts_under_state_dir = true/);
    assert.match(toml, /restrict_oom_score_adj = true/);
    assert.doesNotMatch(toml, /\/run\/containerd|\/var\/lib\/containerd|\/etc\/cni|\/opt\/cni/);
  });

  it('writes a bridge + host-local + portmap conflist for the pod CIDR', () => {
    const conf = JSON.parse(renderCniConflist({ bridgeName: 'kennel0', podCIDR: '10.244.3.0/24', ipamDir: '/d/cni/ipam' }));
    assert.equal(conf.name, 'kennel');
    const [bridge, portmap] = conf.plugins;
    assert.equal(bridge.type, 'bridge');
    assert.equal(bridge.bridge, 'kennel0');
    assert.equal(bridge.isGateway, true);
    // kennel masquerades for the whole pod CIDR (cni-masquerade.ts); the plugin only as a fallback.
    assert.equal(bridge.ipMasq, false);
    assert.equal(JSON.parse(renderCniConflist({ bridgeName: 'kennel0', podCIDR: '10.244.3.0/24', ipamDir: '/d', ipMasq: true })).plugins[0].ipMasq, true);
    assert.equal(bridge.ipam.type, 'host-local');
    assert.deepEqual(bridge.ipam.ranges, [[{ subnet: '10.244.3.0/24' }]]);
    assert.equal(bridge.ipam.dataDir, '/d/cni/ipam');
    assert.equal(portmap.type, 'portmap');
    assert.deepEqual(portmap.capabilities, { portMappings: true });
  });

  it('parses registries.yaml and renders hosts.toml for plain-HTTP registries, mirrors, TLS and auth', () => {
    const reg = parseRegistriesYaml(`
mirrors:
  docker.io:
    endpoint:
      - "http://10.0.0.5:5000"
  "*":
    endpoint: ["https://mirror.example.com"]
configs:
  "10.0.0.5:5000":
    auth: {username: u, password: p}
  "secure.example.com":
    tls: {insecure_skip_verify: true, ca_file: /ca.pem}
`);
    const files = renderHostsFiles(reg, ['127.0.0.1:5000']);
    assert.deepEqual([...files.keys()].sort(), ['10.0.0.5:5000', '127.0.0.1:5000', '_default', 'docker.io', 'secure.example.com']);
    assert.match(files.get('127.0.0.1:5000')!, /^server = "http:\/\/127.0.0.1:5000"$/m);
    const hub = files.get('docker.io')!;
    assert.match(hub, /^server = "https:\/\/registry-1.docker.io"$/m);
    assert.match(hub, /\[host\."http:\/\/10.0.0.5:5000"\]\n\s+capabilities = \["pull", "resolve"\]/);
    assert.match(hub, /Authorization = \["Basic dTpw"\]/);
    assert.doesNotMatch(files.get('_default')!, /^server/m);
    assert.match(files.get('_default')!, /\[host\."https:\/\/mirror.example.com"\]/);
    const secure = files.get('secure.example.com')!;
    assert.match(secure, /^server = "https:\/\/secure.example.com"$/m);
    assert.match(secure, /skip_verify = true/);
    assert.match(secure, /ca = "\/ca.pem"/);
    assert.throws(() => parseRegistriesYaml('mirrors:\n  x:\n    endpoint: 5\n'), /endpoint must be a list/);
    assert.throws(() => parseRegistriesYaml('- a\n'), /expected a mapping/);
  });
});

describe('pod masquerade rules', () => {
  it('renders one nat chain for the pod CIDR that masquerades only traffic leaving it', () => {
    assert.equal(masqueradeChain('kennel0'), 'KENNEL-MASQ-kennel0');
    assert.ok(masqueradeChain('a-very-long-bridge-name').length <= 28);
    assert.equal(
      renderMasqueradeRules('kennel0', '10.244.3.0/24'),
      [
        '*nat',
        ':KENNEL-MASQ-kennel0 - [0:0]',
        '-A KENNEL-MASQ-kennel0 ! -s 10.244.3.0/24 -j RETURN',
        '-A KENNEL-MASQ-kennel0 -d 10.244.3.0/24 -j RETURN',
        '-A KENNEL-MASQ-kennel0 -d 224.0.0.0/4 -j RETURN',
        '-A KENNEL-MASQ-kennel0 -j MASQUERADE',
        'COMMIT',
        '',
      ].join('\n'),
    );
    assert.throws(() => renderMasqueradeRules('kennel0', '10.244.3.0/24; -j ACCEPT'), /not an IPv4 CIDR/);
  });

  it('installs the chain and adds the POSTROUTING jump only when missing; reports a failure for the fallback', async () => {
    const calls: string[] = [];
    let jumpPresent = false;
    const runner: CommandRunner = async (cmd, args, input) => {
      calls.push(`${cmd} ${args.join(' ')}${input ? ` <<${input.split('\n')[1]}` : ''}`);
      if (cmd === 'iptables' && args.includes('-C')) return { code: jumpPresent ? 0 : 1, stdout: '', stderr: '' };
      return { code: 0, stdout: '', stderr: '' };
    };
    assert.equal(await ensurePodMasquerade('kennel0', '10.244.3.0/24', runner), undefined);
    assert.equal(calls.length, 3);
    assert.match(calls[0], /^iptables-restore -w 5 --noflush <<:KENNEL-MASQ-kennel0/);
    assert.match(calls[1], /-t nat -C POSTROUTING .* -j KENNEL-MASQ-kennel0$/);
    assert.match(calls[2], /-t nat -A POSTROUTING -m comment --comment kennel: masquerade pod traffic -j KENNEL-MASQ-kennel0$/);
    calls.length = 0;
    jumpPresent = true;
    assert.equal(await ensurePodMasquerade('kennel0', '10.244.3.0/24', runner), undefined);
    assert.equal(calls.length, 2, 'the jump is not added twice');

    const failing: CommandRunner = async (cmd) => ({ code: cmd === 'iptables-restore' ? 2 : 0, stdout: '', stderr: 'no nat table' });
    assert.match((await ensurePodMasquerade('kennel0', '10.244.3.0/24', failing)) ?? '', /iptables-restore failed \(exit 2\): no nat table/);
    const missing: CommandRunner = async () => {
      throw new Error('spawn iptables-restore ENOENT');
    };
    assert.match((await ensurePodMasquerade('kennel0', '10.244.3.0/24', missing)) ?? '', /ENOENT/);
  });

  it('removes every jump, then the chain', async () => {
    const calls: string[] = [];
    let jumps = 2;
    const runner: CommandRunner = async (cmd, args) => {
      calls.push(`${cmd} ${args.join(' ')}`);
      if (args.includes('-D')) return { code: jumps-- > 0 ? 0 : 1, stdout: '', stderr: '' };
      return { code: 0, stdout: '', stderr: '' };
    };
    await removePodMasquerade('kennel0', runner);
    assert.equal(calls.filter((c) => c.includes(' -D POSTROUTING ')).length, 3);
    assert.deepEqual(calls.slice(-2), ['iptables -w 5 -t nat -F KENNEL-MASQ-kennel0', 'iptables -w 5 -t nat -X KENNEL-MASQ-kennel0']);
  });
});

describe('tools image build in a child process', () => {
  it('renames the archive into place only when the build succeeds', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kennel-tools-child-'));
    try {
      const out = join(dir, 'tools.tar');
      const ok = [process.execPath, '-e', "require('fs').writeFileSync(process.argv.at(-1), 'archive')"];
      await buildToolsImageInChild(out, { command: ok });
      assert.equal(readFileSync(out, 'utf8'), 'archive');
      const failing = [process.execPath, '-e', "require('fs').writeFileSync(process.argv.at(-1), 'half'); console.error('esbuild failed'); process.exit(3)"];
      const out2 = join(dir, 'other.tar');
      await assert.rejects(buildToolsImageInChild(out2, { command: failing }), /exited 3: esbuild failed/);
      await assert.rejects(buildToolsImageInChild(out2, { command: [process.execPath, '-e', ''] }), /without writing the archive/);
      assert.deepEqual(readdirSync(dir), ['tools.tar'], 'no partial archive or temporary file is left');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('OCI image writer', () => {
  it('writes valid, deterministic ustar layers and content-addressed blobs', () => {
    const files = [
      { path: 'bin/tool', type: 'file' as const, content: Buffer.from('#!/bin/sh\necho hi\n') },
      { path: 'bin/alias', type: 'symlink' as const, target: 'tool' },
      { path: 'tmp', type: 'dir' as const, mode: 0o1777 },
      { path: 'a/' + 'x'.repeat(120) + '/file', type: 'file' as const, content: Buffer.alloc(700, 1), mode: 0o644 },
    ];
    const a = buildImage(files, { cmd: ['/bin/tool'] });
    const b = buildImage(files, { cmd: ['/bin/tool'] });
    assert.equal(a.manifestDigest, b.manifestDigest, 'deterministic');
    for (const [digest, blob] of a.blobs) {
      assert.equal('sha256:' + createHash('sha256').update(blob).digest('hex'), digest);
    }
    const manifest = JSON.parse(a.blobs.get(a.manifestDigest)!.toString());
    const config = JSON.parse(a.blobs.get(a.configDigest)!.toString());
    assert.equal(manifest.config.digest, a.configDigest);
    assert.deepEqual(config.config.Cmd, ['/bin/tool']);
    assert.equal(config.os, 'linux');
    const layer = gunzipSync(a.blobs.get(manifest.layers[0].digest)!);
    assert.equal(config.rootfs.diff_ids[0], 'sha256:' + createHash('sha256').update(layer).digest('hex'));
    const entries = untar(layer);
    const byName = new Map(entries.map((e) => [e.name, e]));
    assert.equal(byName.get('bin/')?.type, '5', 'parent dirs added');
    assert.equal(byName.get('bin/tool')?.body.toString(), '#!/bin/sh\necho hi\n');
    assert.equal(byName.get('bin/alias')?.type, '2');
    assert.equal(byName.get('bin/alias')?.link, 'tool');
    assert.equal(byName.get('a/' + 'x'.repeat(120) + '/file')?.size, 700, 'long names use the ustar prefix');
  });

  it('packs an OCI layout archive with the image name for ctr and the tag for skopeo', () => {
    const img = buildImage([{ path: 'f', type: 'file', content: Buffer.from('x') }]);
    const entries = untar(ociArchive(img, 'kennel.local/pause:1'));
    const index = JSON.parse(entries.find((e) => e.name === 'index.json')!.body.toString());
    assert.equal(index.manifests[0].digest, img.manifestDigest);
    assert.equal(index.manifests[0].annotations['io.containerd.image.name'], 'kennel.local/pause:1');
    assert.equal(index.manifests[0].annotations['org.opencontainers.image.ref.name'], '1');
    assert.ok(entries.some((e) => e.name === 'oci-layout'));
    assert.equal(entries.filter((e) => e.name.startsWith('blobs/sha256/') && e.type === '0').length, 3);
    assert.equal(tar([]).length, 1024);
  });
});

describe('CRI mapping', () => {
  it('declares the CRI messages with the CRI field numbers', () => {
    const root = protobuf.parse(CRI_PROTO, { keepCase: true }).root;
    const field = (msg: string, name: string) => root.lookupType(`runtime.v1.${msg}`).fields[name]!.id;
    assert.equal(field('PodSandboxConfig', 'linux'), 8);
    assert.equal(field('ContainerConfig', 'log_path'), 11);
    assert.equal(field('ContainerConfig', 'linux'), 15);
    assert.equal(field('ContainerStatus', 'log_path'), 15);
    assert.equal(field('LinuxContainerSecurityContext', 'run_as_group'), 12);
    assert.equal(field('LinuxSandboxSecurityContext', 'run_as_group'), 8);
    assert.equal(field('PodSandboxStatus', 'annotations'), 8);
    assert.equal(field('AuthConfig', 'registry_token'), 6);
    assert.ok(root.lookupService('runtime.v1.RuntimeService').methods['ExecSync']);
    assert.ok(root.lookupService('runtime.v1.ImageService').methods['PullImage']);
  });

  it('maps sandbox and container configs', () => {
    const sb = toCriSandboxConfig(sandbox);
    assert.deepEqual(sb.metadata, { name: 'web-0', uid: 'u-1', namespace: 'apps', attempt: 2 });
    assert.equal(sb.hostname, 'web-0');
    assert.deepEqual(sb.portMappings, [{ protocol: 'TCP', containerPort: 80, hostPort: 8080, hostIp: '' }]);
    assert.equal(sb.linux?.securityContext?.namespaceOptions?.network, 'POD');
    const host = toCriSandboxConfig({ ...sandbox, hostNetwork: true });
    assert.equal(host.hostname, '', 'no hostname with the node network (runc refuses it)');
    assert.equal(host.linux?.securityContext?.namespaceOptions?.network, 'NODE');

    const c = toCriContainerConfig(
      {
        name: 'app',
        attempt: 1,
        image: 'busybox:1',
        command: ['sh'],
        args: ['-c', 'true'],
        envs: [{ key: 'A', value: '1' }],
        mounts: [{ containerPath: '/data', hostPath: '/x', readonly: true, propagation: 'HostToContainer' }],
        logPath: 'app/1.log',
        stdin: false,
        stdinOnce: false,
        tty: false,
        labels: {},
        annotations: {},
        resources: { cpuShares: 512, memoryLimitBytes: 64 * 1024 * 1024 },
        runAsUser: 1000,
      },
      sandbox,
      '/var/lib/kennel/pods/u-1/etc-hosts',
    );
    assert.deepEqual(c.mounts, [
      { containerPath: '/data', hostPath: '/x', readonly: true, propagation: 'PROPAGATION_HOST_TO_CONTAINER' },
      { containerPath: '/etc/hosts', hostPath: '/var/lib/kennel/pods/u-1/etc-hosts', readonly: false, propagation: 'PROPAGATION_PRIVATE' },
    ]);
    assert.deepEqual(c.linux?.resources, { cpuShares: 512, memoryLimitInBytes: 67108864 });
    assert.deepEqual(c.linux?.securityContext?.runAsUser, { value: 1000 });
    assert.equal(c.linux?.securityContext?.namespaceOptions?.pid, 'CONTAINER');
  });

  it('converts times, registry hosts, server addresses and stream statuses', () => {
    assert.equal(nsToMs('1700000000123456789'), 1700000000123);
    assert.equal(nsToMs('0'), 0);
    assert.equal(imageRegistryHost('busybox'), 'docker.io');
    assert.equal(imageRegistryHost('library/busybox:1'), 'docker.io');
    assert.equal(imageRegistryHost('127.0.0.1:5000/busybox:1'), '127.0.0.1:5000');
    assert.equal(imageRegistryHost('localhost/x'), 'localhost');
    assert.equal(imageRegistryHost('ghcr.io/a/b'), 'ghcr.io');
    assert.equal(normalizeServerAddress('127.0.0.1:5000'), 'https://127.0.0.1:5000');
    assert.equal(normalizeServerAddress('https://index.docker.io/v1/'), 'https://registry-1.docker.io');
    assert.equal(normalizeServerAddress(''), '');
    assert.equal(exitCodeFromStatus({ status: 'Success' }), 0);
    assert.equal(exitCodeFromStatus({ status: 'Failure', reason: 'NonZeroExitCode', details: { causes: [{ reason: 'ExitCode', message: '42' }] } }), 42);
    assert.equal(exitCodeFromStatus({ status: 'Failure', message: 'boom' }), 126);
  });
});
