// Pod volumes and per-pod files: configMap/secret content with items and modes, atomic updates
// through the ..data symlink, hostPath type checks, downwardAPI, projected, PVCs, emptyDir,
// resolv.conf, /etc/hosts and hostname, and the container's mounts.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  VolumeError,
  checkHostPath,
  containerMounts,
  hostsFileText,
  implicitServiceAccountVolume,
  podDir,
  podDnsConfig,
  resolvConfText,
  setUpPodVolumes,
  tearDownPod,
  writeAtomic,
  writePodFiles,
  type PodNetworkFiles,
  type VolumeSources,
} from '../../src/agent/volumes.ts';
import type { Pod, Volume } from '../../src/agent/kube-types.ts';
import type { KubeObject } from '../../src/registry/types.ts';

const b64 = (s: string) => Buffer.from(s).toString('base64');
const ctx = { hostIP: '192.168.0.10', podIPs: ['10.244.0.5'], nodeAllocatable: { cpu: '4', memory: '8Gi' }, canMount: false };

let root: string;
before(async () => {
  root = await fsp.mkdtemp(join(tmpdir(), 'kennel-vol-'));
});
after(async () => {
  await fsp.rm(root, { recursive: true, force: true });
});

function mkSources(objs: { cms?: KubeObject[]; secrets?: KubeObject[]; pvcs?: KubeObject[]; pvs?: KubeObject[] } = {}, token = 'tok-1'): VolumeSources & { token: string } {
  const find = (l: KubeObject[] | undefined, ns: string | undefined, n: string) => l?.find((o) => (ns === undefined || o.metadata.namespace === ns) && o.metadata.name === n);
  const s = {
    token,
    getConfigMap: async (ns: string, n: string) => find(objs.cms, ns, n),
    getSecret: async (ns: string, n: string) => find(objs.secrets, ns, n),
    getPersistentVolumeClaim: async (ns: string, n: string) => find(objs.pvcs, ns, n),
    getPersistentVolume: async (n: string) => find(objs.pvs, undefined, n),
    serviceAccountToken: async () => s.token,
    clusterCA: '-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n',
  };
  return s;
}

let uidSeq = 0;
function pod(volumes: Volume[], extra: Partial<Pod['spec']> = {}, meta: Partial<Pod['metadata']> = {}): Pod {
  return {
    metadata: { name: 'web-0', namespace: 'prod', uid: `uid-${++uidSeq}`, labels: { app: 'web' }, annotations: { b: '2', a: '1' }, ...meta },
    spec: { containers: [{ name: 'c', image: 'i', resources: { limits: { memory: '64Mi' } } }], volumes, ...extra },
  } as Pod;
}

async function read(p: string): Promise<string> {
  return fsp.readFile(p, 'utf8');
}
async function mode(p: string): Promise<number> {
  return (await fsp.stat(p)).mode & 0o777;
}

describe('configMap and secret volumes', () => {
  it('writes every key, or the listed items with their paths and modes', async () => {
    const srcs = mkSources({ cms: [{ metadata: { name: 'cfg', namespace: 'prod' }, data: { 'a.conf': 'A', 'b.conf': 'B' }, binaryData: { bin: b64('\x00\x01') } }] });
    const p = pod([
      { name: 'all', configMap: { name: 'cfg' } },
      { name: 'some', configMap: { name: 'cfg', defaultMode: 0o600, items: [{ key: 'a.conf', path: 'dir/a.txt' }, { key: 'b.conf', path: 'b.txt', mode: 0o400 }] } },
    ]);
    const v = await setUpPodVolumes(p, root, srcs, ctx);
    const all = v.paths.get('all')!;
    assert.equal(all, join(podDir(root, p.metadata.uid!), 'volumes', 'kubernetes.io~configmap', 'all'));
    assert.equal(await read(join(all, 'a.conf')), 'A');
    assert.deepEqual([...(await fsp.readFile(join(all, 'bin')))], [0, 1]);
    assert.equal(await mode(join(all, 'a.conf')), 0o644);
    assert.equal(await fsp.readlink(join(all, 'a.conf')), '..data/a.conf');
    const some = v.paths.get('some')!;
    assert.equal(await read(join(some, 'dir', 'a.txt')), 'A');
    assert.equal(await mode(join(some, 'dir', 'a.txt')), 0o600);
    assert.equal(await mode(join(some, 'b.txt')), 0o400);
    assert.deepEqual((await fsp.readdir(some)).filter((e) => !e.startsWith('..')).sort(), ['b.txt', 'dir']);
    assert.ok(v.readOnly.has('all'), 'API data volumes are mounted read-only');
  });

  it('decodes secrets; defaultMode applies', async () => {
    const srcs = mkSources({ secrets: [{ metadata: { name: 's', namespace: 'prod' }, data: { password: b64('pw') } }] });
    const p = pod([{ name: 'sec', secret: { secretName: 's', defaultMode: 0o400 } }]);
    const v = await setUpPodVolumes(p, root, srcs, ctx);
    const f = join(v.paths.get('sec')!, 'password');
    assert.equal(await read(f), 'pw');
    assert.equal(await mode(f), 0o400);
    assert.match(v.paths.get('sec')!, /kubernetes\.io~secret\/sec$/);
  });

  it('updates atomically: a new ..data directory, swapped in; the old one goes; a removed key disappears', async () => {
    const cm: KubeObject = { metadata: { name: 'cfg', namespace: 'prod' }, data: { one: '1', two: '2' } };
    const srcs = mkSources({ cms: [cm] });
    const p = pod([{ name: 'v', configMap: { name: 'cfg' } }]);
    const v1 = await setUpPodVolumes(p, root, srcs, ctx);
    const dir = v1.paths.get('v')!;
    const firstTarget = await fsp.readlink(join(dir, '..data'));
    assert.match(firstTarget, /^\.\.\d{4}_\d{2}_\d{2}_\d{2}_\d{2}_\d{2}\.\d+$/);
    // unchanged content: nothing is rewritten
    const again = await setUpPodVolumes(p, root, srcs, ctx);
    assert.deepEqual(again.changed, []);
    assert.equal(await fsp.readlink(join(dir, '..data')), firstTarget);
    cm.data = { one: 'uno' };
    const v2 = await setUpPodVolumes(p, root, srcs, ctx);
    assert.deepEqual(v2.changed, ['v']);
    const secondTarget = await fsp.readlink(join(dir, '..data'));
    assert.notEqual(secondTarget, firstTarget);
    assert.equal(await read(join(dir, 'one')), 'uno');
    await assert.rejects(fsp.lstat(join(dir, 'two')));
    await assert.rejects(fsp.stat(join(dir, firstTarget)), 'the old version is removed');
    const entries = (await fsp.readdir(dir)).sort();
    assert.deepEqual(entries, [secondTarget, '..data', 'one'].sort());
  });

  it('a reader holding a file of the old version still reads it whole across an update', async () => {
    const dir = join(root, 'atomic');
    await writeAtomic(dir, new Map([['f', { data: Buffer.from('old'), mode: 0o644 }]]));
    const fh = await fsp.open(join(dir, 'f'), 'r');
    await writeAtomic(dir, new Map([['f', { data: Buffer.from('new'), mode: 0o644 }]]));
    assert.equal((await fh.readFile()).toString(), 'old');
    await fh.close();
    assert.equal(await read(join(dir, 'f')), 'new');
  });

  it('missing objects and keys: FailedMount messages; optional ones are empty', async () => {
    const srcs = mkSources({ cms: [{ metadata: { name: 'cfg', namespace: 'prod' }, data: { a: '1' } }], secrets: [{ metadata: { name: 's', namespace: 'prod' }, data: {} }] });
    const cases: [Volume, string][] = [
      [{ name: 'x', configMap: { name: 'gone' } }, 'MountVolume.SetUp failed for volume "x" : configmap "gone" not found'],
      [{ name: 'x', configMap: { name: 'cfg', items: [{ key: 'nokey', path: 'p' }] } }, 'MountVolume.SetUp failed for volume "x" : configmap references non-existent config key: nokey'],
      [{ name: 'x', secret: { secretName: 'gone' } }, 'MountVolume.SetUp failed for volume "x" : secret "gone" not found'],
      [{ name: 'x', secret: { secretName: 's', items: [{ key: 'k', path: 'p' }] } }, 'MountVolume.SetUp failed for volume "x" : references non-existent secret key: k'],
    ];
    for (const [vol, msg] of cases) {
      await assert.rejects(setUpPodVolumes(pod([vol]), root, srcs, ctx), (e: unknown) => e instanceof VolumeError && e.reason === 'FailedMount' && e.message === msg);
    }
    const ok = await setUpPodVolumes(pod([{ name: 'o', configMap: { name: 'gone', optional: true } }]), root, srcs, ctx);
    assert.deepEqual((await fsp.readdir(ok.paths.get('o')!)).filter((e) => !e.startsWith('..')), []);
  });
});

describe('hostPath volumes', () => {
  it('checks the type and creates *OrCreate paths', async () => {
    const dir = join(root, 'hp');
    await fsp.mkdir(dir);
    await fsp.writeFile(join(dir, 'file'), 'x');
    await checkHostPath(join(dir, 'new-dir', 'deep'), 'DirectoryOrCreate');
    assert.ok((await fsp.stat(join(dir, 'new-dir', 'deep'))).isDirectory());
    await checkHostPath(join(dir, 'sub', 'new-file'), 'FileOrCreate');
    assert.ok((await fsp.stat(join(dir, 'sub', 'new-file'))).isFile());
    assert.equal(await mode(join(dir, 'sub', 'new-file')), 0o644);
    await checkHostPath(dir, 'Directory');
    await checkHostPath(join(dir, 'file'), 'File');
    await checkHostPath('/dev/null', 'CharDevice');
    await checkHostPath(join(dir, 'whatever'), undefined);
    const bad: [string, string, string][] = [
      [join(dir, 'file'), 'Directory', 'is not a directory'],
      [join(dir, 'missing'), 'Directory', 'is not a directory'],
      [join(dir, 'file'), 'DirectoryOrCreate', 'is not a directory'],
      [dir, 'File', 'is not a file'],
      [dir, 'FileOrCreate', 'is not a file'],
      [dir, 'Socket', 'is not a socket file'],
      [dir, 'CharDevice', 'is not a character device'],
      [dir, 'BlockDevice', 'is not a block device'],
    ];
    for (const [p, t, what] of bad) {
      await assert.rejects(checkHostPath(p, t), { message: `hostPath type check failed: ${p} ${what}` });
    }
  });

  it('accepts a socket as Socket', async () => {
    const sock = join(root, 's.sock');
    const server = createServer();
    await new Promise<void>((r) => server.listen(sock, r));
    try {
      await checkHostPath(sock, 'Socket');
    } finally {
      await new Promise((r) => server.close(r));
    }
  });

  it('a mismatch makes the FailedMount message the kubelet writes', async () => {
    const f = join(root, 'afile');
    await fsp.writeFile(f, 'x');
    await assert.rejects(setUpPodVolumes(pod([{ name: 'data', hostPath: { path: f, type: 'Directory' } }]), root, mkSources(), ctx), {
      message: `MountVolume.SetUp failed for volume "data" : hostPath type check failed: ${f} is not a directory`,
    });
  });
});

describe('downwardAPI, projected and the service-account volume', () => {
  it('downwardAPI files: labels and annotations as sorted key="value" lines, fields, resources', async () => {
    const p = pod([
      {
        name: 'info',
        downwardAPI: {
          items: [
            { path: 'labels', fieldRef: { fieldPath: 'metadata.labels' } },
            { path: 'annotations', fieldRef: { fieldPath: 'metadata.annotations' } },
            { path: 'name', fieldRef: { fieldPath: 'metadata.name' } },
            { path: 'mem', resourceFieldRef: { containerName: 'c', resource: 'limits.memory', divisor: '1Mi' } },
          ],
        },
      },
    ]);
    const v = await setUpPodVolumes(p, root, mkSources(), ctx);
    const d = v.paths.get('info')!;
    assert.equal(await read(join(d, 'labels')), 'app="web"');
    assert.equal(await read(join(d, 'annotations')), 'a="1"\nb="2"');
    assert.equal(await read(join(d, 'name')), 'web-0');
    assert.equal(await read(join(d, 'mem')), '64');
  });

  it('the kube-api-access volume: token, ca.crt (cluster CA when kube-root-ca.crt is missing), namespace; the token is refreshed', async () => {
    const p = pod([]);
    const vol = implicitServiceAccountVolume(p)!;
    assert.ok(vol);
    const srcs = mkSources();
    const v = await setUpPodVolumes(p, root, srcs, ctx, [vol]);
    const d = v.paths.get(vol.name)!;
    assert.equal(await read(join(d, 'token')), 'tok-1');
    assert.equal(await read(join(d, 'ca.crt')), srcs.clusterCA);
    assert.equal(await read(join(d, 'namespace')), 'prod');
    srcs.token = 'tok-2';
    await setUpPodVolumes(p, root, srcs, ctx, [vol]);
    assert.equal(await read(join(d, 'token')), 'tok-2');
  });

  it('no implicit service-account volume when automount is off or the pod brings its own', () => {
    assert.equal(implicitServiceAccountVolume(pod([], { automountServiceAccountToken: false })), undefined);
    assert.equal(implicitServiceAccountVolume(pod([{ name: 'kube-api-access-abcde', projected: { sources: [] } }])), undefined);
  });

  it('a token that cannot be had is a FailedMount', async () => {
    const srcs = mkSources();
    srcs.serviceAccountToken = async () => {
      throw new Error('serviceaccounts "default" not found');
    };
    const p = pod([{ name: 'kube-api-access-x', projected: { sources: [{ serviceAccountToken: { path: 'token' } }] } }]);
    await assert.rejects(setUpPodVolumes(p, root, srcs, ctx), { message: 'MountVolume.SetUp failed for volume "kube-api-access-x" : failed to fetch token: serviceaccounts "default" not found' });
  });
});

describe('persistentVolumeClaim and emptyDir', () => {
  it('mounts the bound PV local path; unbound claims wait', async () => {
    const local = join(root, 'pv1');
    await fsp.mkdir(local);
    const srcs = mkSources({
      pvcs: [
        { metadata: { name: 'data', namespace: 'prod' }, spec: { volumeName: 'pv1' }, status: { phase: 'Bound' } },
        { metadata: { name: 'pending', namespace: 'prod' }, spec: {}, status: { phase: 'Pending' } },
      ],
      pvs: [{ metadata: { name: 'pv1' }, spec: { local: { path: local } } }],
    });
    const v = await setUpPodVolumes(pod([{ name: 'd', persistentVolumeClaim: { claimName: 'data' } }]), root, srcs, ctx);
    assert.equal(v.paths.get('d'), local);
    await assert.rejects(setUpPodVolumes(pod([{ name: 'd', persistentVolumeClaim: { claimName: 'pending' } }]), root, srcs, ctx), {
      message: 'MountVolume.SetUp failed for volume "d" : PVC prod/pending has non-bound phase ("Pending") or empty pvc.Spec.VolumeName ("")',
    });
    await assert.rejects(setUpPodVolumes(pod([{ name: 'd', persistentVolumeClaim: { claimName: 'nope' } }]), root, srcs, ctx), { message: /persistentvolumeclaim "nope" not found/ });
  });

  it('emptyDir is a world-writable directory under the pod', async () => {
    const p = pod([{ name: 'scratch', emptyDir: {} }]);
    const v = await setUpPodVolumes(p, root, mkSources(), ctx);
    const d = v.paths.get('scratch')!;
    assert.match(d, /kubernetes\.io~empty-dir\/scratch$/);
    assert.equal(await mode(d), 0o777);
    await tearDownPod(root, p.metadata.uid!);
    await assert.rejects(fsp.stat(podDir(root, p.metadata.uid!)));
  });

  it('emptyDir medium Memory is a tmpfs when root, unmounted on tear-down', { skip: process.getuid?.() !== 0 }, async () => {
    const p = pod([{ name: 'mem', emptyDir: { medium: 'Memory', sizeLimit: '8Mi' } }]);
    try {
      const v = await setUpPodVolumes(p, root, mkSources(), { ...ctx, canMount: true });
      const d = v.paths.get('mem')!;
      const mounts = await fsp.readFile('/proc/self/mountinfo', 'utf8');
      const line = mounts.split('\n').find((l) => l.split(' ')[4] === d);
      assert.ok(line && / - tmpfs /.test(line), 'a tmpfs is mounted');
    } finally {
      await tearDownPod(root, p.metadata.uid!);
    }
    const mounts = await fsp.readFile('/proc/self/mountinfo', 'utf8');
    assert.ok(!mounts.includes(podDir(root, p.metadata.uid!)));
  });
});

describe('resolv.conf, hosts and hostname', () => {
  const net: PodNetworkFiles = {
    clusterDNS: '10.96.0.10',
    clusterDomain: 'cluster.local',
    hostResolvConf: '# host\nnameserver 1.1.1.1\nnameserver 8.8.8.8\nsearch corp.example\noptions timeout:2\n',
    hostHosts: '127.0.0.1 localhost\n10.0.0.1 gateway\n',
    nodeHostname: 'node-1',
  };

  it('ClusterFirst: cluster DNS, the namespace search path, ndots:5', () => {
    const text = resolvConfText(podDnsConfig(pod([]), net));
    assert.equal(text, 'search prod.svc.cluster.local svc.cluster.local cluster.local corp.example\nnameserver 10.96.0.10\noptions ndots:5\n');
  });

  it('Default: the host resolv.conf; hostNetwork ClusterFirst acts as Default', () => {
    const expect = 'search corp.example\nnameserver 1.1.1.1\nnameserver 8.8.8.8\noptions timeout:2\n';
    assert.equal(resolvConfText(podDnsConfig(pod([], { dnsPolicy: 'Default' }), net)), expect);
    assert.equal(resolvConfText(podDnsConfig(pod([], { hostNetwork: true }), net)), expect);
    assert.equal(resolvConfText(podDnsConfig(pod([]), { ...net, clusterDNS: undefined })), expect, 'no cluster DNS: falls back to Default');
  });

  it('None: only dnsConfig; dnsConfig options override by name', () => {
    const p = pod([], { dnsPolicy: 'None', dnsConfig: { nameservers: ['9.9.9.9'], searches: ['a.example'], options: [{ name: 'ndots', value: '2' }, { name: 'edns0' }] } });
    assert.equal(resolvConfText(podDnsConfig(p, net)), 'search a.example\nnameserver 9.9.9.9\noptions ndots:2 edns0\n');
    const merged = pod([], { dnsConfig: { options: [{ name: 'ndots', value: '1' }] } });
    assert.deepEqual(podDnsConfig(merged, net).options, ['ndots:1']);
  });

  it('/etc/hosts: localhost lines, the pod IP with hostname (and FQDN with a subdomain), hostAliases', () => {
    const p = pod([], { hostname: 'db-0', subdomain: 'db', hostAliases: [{ ip: '10.1.2.3', hostnames: ['foo.local', 'bar.local'] }] });
    const text = hostsFileText(p, ['10.244.0.5'], net);
    assert.equal(
      text,
      '# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n' +
        '10.244.0.5\tdb-0.db.prod.svc.cluster.local\tdb-0\n\n# Entries added by HostAliases.\n10.1.2.3\tfoo.local\tbar.local\n',
    );
    assert.match(hostsFileText(pod([]), ['10.244.0.5'], net), /\n10\.244\.0\.5\tweb-0\n$/);
    assert.equal(hostsFileText(pod([], { hostNetwork: true }), [], net), '# Kubernetes-managed hosts file (host network).\n127.0.0.1 localhost\n10.0.0.1 gateway\n');
  });

  it('writes the files and mounts them, with the volumes (subPath included), into each container', async () => {
    const p = pod([{ name: 'cfg', configMap: { name: 'cfg' } }, { name: 'scratch', emptyDir: {} }], { hostname: 'h1' });
    const c = { name: 'c', image: 'i', volumeMounts: [{ name: 'cfg', mountPath: '/etc/app' }, { name: 'cfg', mountPath: '/etc/app.conf', subPath: 'app.conf' }, { name: 'scratch', mountPath: '/work', subPathExpr: '$(POD)' }] };
    const srcs = mkSources({ cms: [{ metadata: { name: 'cfg', namespace: 'prod' }, data: { 'app.conf': 'x=1' } }] });
    const vols = await setUpPodVolumes(p, root, srcs, ctx);
    const files = await writePodFiles(p, root, ['10.244.0.5'], net);
    assert.equal(await read(files.hostname), 'h1\n');
    assert.match(await read(files.hosts), /10\.244\.0\.5\th1\n/);
    assert.match(await read(files.resolvConf), /nameserver 10\.96\.0\.10/);
    const mounts = await containerMounts(p, c, vols, files, [{ key: 'POD', value: 'web-0' }]);
    const by = Object.fromEntries(mounts.map((m) => [m.containerPath, m]));
    assert.equal(by['/etc/app']!.hostPath, vols.paths.get('cfg'));
    assert.equal(by['/etc/app']!.readonly, true);
    assert.equal(await read(by['/etc/app.conf']!.hostPath), 'x=1');
    assert.equal(by['/work']!.hostPath, join(vols.paths.get('scratch')!, 'web-0'));
    assert.ok((await fsp.stat(by['/work']!.hostPath)).isDirectory(), 'a subPath directory is created');
    assert.equal(by['/etc/hosts']!.hostPath, files.hosts);
    assert.equal(by['/etc/resolv.conf']!.hostPath, files.resolvConf);
    assert.equal(by['/etc/hostname']!.hostPath, files.hostname);
    await assert.rejects(containerMounts(p, { name: 'c', image: 'i', volumeMounts: [{ name: 'nope', mountPath: '/x' }] }, vols, files, []), { message: 'cannot find volume "nope" to mount into container "c"' });
  });
});
