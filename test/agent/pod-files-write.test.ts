// How the per-pod files and atomic volume directories are written: a new pod's files are created
// outright, a sync that changes nothing touches no file, a changed file is replaced, files an
// earlier agent left are compared and brought up to date, and tear-down forgets the pod.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { podDir, tearDownPod, writeAtomic, writePodFiles, type PodNetworkFiles } from '../../src/agent/volumes.ts';
import type { Pod } from '../../src/agent/kube-types.ts';

const net: PodNetworkFiles = {
  clusterDNS: '10.96.0.10',
  clusterDomain: 'cluster.local',
  hostResolvConf: 'nameserver 1.1.1.1\n',
  hostHosts: '127.0.0.1 localhost\n',
  nodeHostname: 'node-1',
};

const pod = (uid: string): Pod => ({ metadata: { name: 'web-0', namespace: 'prod', uid }, spec: { containers: [{ name: 'c', image: 'i' }] } }) as Pod;

/** inode and mtime: a file replaced (rename) or rewritten shows it. */
async function identity(path: string): Promise<string> {
  const st = await fsp.stat(path);
  return `${st.ino}:${st.mtimeMs}`;
}

let root: string;
before(async () => {
  root = await fsp.mkdtemp(join(tmpdir(), 'kennel-podfiles-'));
});
after(async () => {
  await fsp.rm(root, { recursive: true, force: true });
});

describe('writePodFiles', () => {
  it('creates a new pod\'s files, leaves them alone when nothing changed, replaces the one that did', async () => {
    const p = pod('uid-new');
    const files = await writePodFiles(p, root, ['10.244.0.5'], net);
    assert.match(await fsp.readFile(files.hosts, 'utf8'), /10\.244\.0\.5\tweb-0\n/);
    assert.match(await fsp.readFile(files.resolvConf, 'utf8'), /nameserver 10\.96\.0\.10/);
    assert.equal(await fsp.readFile(files.hostname, 'utf8'), 'web-0\n');
    const before = await Promise.all([files.hosts, files.resolvConf, files.hostname].map(identity));
    await new Promise((r) => setTimeout(r, 20));
    await writePodFiles(p, root, ['10.244.0.5'], net);
    assert.deepEqual(await Promise.all([files.hosts, files.resolvConf, files.hostname].map(identity)), before, 'nothing rewritten');
    // A new IP: only /etc/hosts changes.
    await writePodFiles(p, root, ['10.244.0.9'], net);
    assert.match(await fsp.readFile(files.hosts, 'utf8'), /10\.244\.0\.9\tweb-0\n/);
    assert.doesNotMatch(await fsp.readFile(files.hosts, 'utf8'), /10\.244\.0\.5/);
    assert.notEqual(await identity(files.hosts), before[0]);
    assert.deepEqual(await Promise.all([files.resolvConf, files.hostname].map(identity)), before.slice(1));
    assert.deepEqual((await fsp.readdir(podDir(root, 'uid-new'))).sort(), ['etc-hosts', 'hostname', 'resolv.conf'], 'no temporary file left');
  });

  it('brings files an earlier agent left up to date, keeping the ones that match', async () => {
    const uid = 'uid-old';
    const dir = podDir(root, uid);
    await fsp.mkdir(dir, { recursive: true });
    await fsp.writeFile(join(dir, 'etc-hosts'), 'stale\n');
    await fsp.writeFile(join(dir, 'hostname'), 'web-0\n');
    const kept = await identity(join(dir, 'hostname'));
    const files = await writePodFiles(pod(uid), root, ['10.244.0.6'], net);
    assert.match(await fsp.readFile(files.hosts, 'utf8'), /10\.244\.0\.6\tweb-0\n/);
    assert.match(await fsp.readFile(files.resolvConf, 'utf8'), /nameserver 10\.96\.0\.10/);
    assert.equal(await identity(files.hostname), kept);
  });

  it('writes the files again once the pod directory was torn down', async () => {
    const p = pod('uid-gone');
    const files = await writePodFiles(p, root, ['10.244.0.7'], net);
    await tearDownPod(root, 'uid-gone');
    await assert.rejects(fsp.stat(files.hosts));
    await writePodFiles(p, root, ['10.244.0.7'], net);
    assert.match(await fsp.readFile(files.hosts, 'utf8'), /10\.244\.0\.7\tweb-0\n/);
  });
});

describe('writeAtomic', () => {
  it('lays out a new directory: the timestamped version, ..data and the user-visible links', async () => {
    const dir = join(root, 'fresh', 'vol');
    assert.equal(await writeAtomic(dir, new Map([['a', { data: Buffer.from('1'), mode: 0o644 }], ['sub/b', { data: Buffer.from('2'), mode: 0o600 }]])), true);
    const entries = (await fsp.readdir(dir)).sort();
    assert.equal(entries.length, 4);
    assert.deepEqual(entries.filter((e) => !e.startsWith('..2')), ['..data', 'a', 'sub']);
    assert.equal(await fsp.readlink(join(dir, 'a')), '..data/a');
    assert.equal(await fsp.readFile(join(dir, 'sub', 'b'), 'utf8'), '2');
    assert.equal((await fsp.stat(join(dir, 'sub', 'b'))).mode & 0o777, 0o600);
  });

  it('takes over a directory an earlier agent left: leftovers go, the payload is swapped in', async () => {
    const dir = join(root, 'left', 'vol');
    await fsp.mkdir(join(dir, '..old'), { recursive: true });
    await fsp.writeFile(join(dir, '..old', 'a'), 'old');
    await fsp.symlink('..old', join(dir, '..data'));
    await fsp.symlink('..data/a', join(dir, 'a'));
    await fsp.writeFile(join(dir, 'junk'), 'x');
    assert.equal(await writeAtomic(dir, new Map([['a', { data: Buffer.from('new'), mode: 0o644 }]])), true);
    const entries = (await fsp.readdir(dir)).sort();
    assert.deepEqual(entries.filter((e) => !e.startsWith('..2')), ['..data', 'a']);
    assert.equal(await fsp.readFile(join(dir, 'a'), 'utf8'), 'new');
    // The same content again, as an earlier agent left it: nothing changes.
    const dir2 = join(root, 'left', 'same');
    await fsp.mkdir(join(dir2, '..v1'), { recursive: true });
    await fsp.writeFile(join(dir2, '..v1', 'a'), 'same', { mode: 0o644 });
    await fsp.chmod(join(dir2, '..v1', 'a'), 0o644);
    await fsp.symlink('..v1', join(dir2, '..data'));
    await fsp.symlink('..data/a', join(dir2, 'a'));
    assert.equal(await writeAtomic(dir2, new Map([['a', { data: Buffer.from('same'), mode: 0o644 }]])), false);
    assert.equal(await fsp.readlink(join(dir2, '..data')), '..v1');
  });
});
