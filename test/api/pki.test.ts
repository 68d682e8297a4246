import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, readFile, stat, writeFile, unlink } from 'node:fs/promises';
import { tmpdir, hostname } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import YAML from 'yaml';
import {
  ensureClusterPki,
  writeKubeconfig,
  parseJoinToken,
  caHashMatches,
  firstServiceIP,
  sha256Hex,
  PkiError,
  type ClusterPki,
} from '../../src/api/pki.ts';

/** Connects to a TLS server presenting pki's serving certificate, trusting only pki's CA. */
async function handshake(pki: ClusterPki, servername: string): Promise<tls.PeerCertificate> {
  const server = tls.createServer({ cert: pki.tls.cert, key: pki.tls.key }, (s) => s.end());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const port = (server.address() as AddressInfo).port;
    return await new Promise<tls.PeerCertificate>((resolve, reject) => {
      const sock = tls.connect({ host: '127.0.0.1', port, ca: pki.tls.ca, servername }, () => {
        const cert = sock.getPeerCertificate();
        sock.end();
        resolve(cert);
      });
      sock.on('error', reject);
    });
  } finally {
    await new Promise((resolve) => server.close(resolve));
  }
}

async function mode(path: string): Promise<number> {
  return (await stat(path)).mode & 0o777;
}

describe('cluster PKI', () => {
  let dir: string;
  let first: ClusterPki;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kennel-pki-'));
    first = await ensureClusterPki(dir, { hosts: ['kennel.example.test'], ips: ['192.0.2.10'] });
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('creates a CA and a serving certificate that verifies against it over TLS', async () => {
    assert.deepEqual(first.issued, ['ca', 'serving']);
    const peer = await handshake(first, 'localhost');
    assert.equal(peer.subject.CN, 'kennel-apiserver');
    // The handshake succeeded with only the cluster CA trusted and the hostname checked; the
    // same chain must also be rejected by a client that trusts a different CA.
    const other = await mkdtemp(join(tmpdir(), 'kennel-pki-other-'));
    try {
      const stranger = await ensureClusterPki(other, {});
      await assert.rejects(handshake({ ...first, tls: { ...first.tls, ca: stranger.tls.ca } }, 'localhost'), { code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' });
    } finally {
      await rm(other, { recursive: true, force: true });
    }
  });

  it('covers the names and addresses clients use', async () => {
    const peer = await handshake(first, 'kubernetes.default.svc');
    const sans = (peer.subjectaltname ?? '').split(', ');
    for (const name of ['localhost', 'kubernetes', 'kubernetes.default', 'kubernetes.default.svc', 'kubernetes.default.svc.cluster.local', hostname().toLowerCase(), 'kennel.example.test']) {
      assert.ok(sans.includes(`DNS:${name}`), `missing DNS:${name} in ${peer.subjectaltname}`);
    }
    for (const ip of ['127.0.0.1', '10.43.0.1', '192.0.2.10']) {
      assert.ok(sans.includes(`IP Address:${ip}`), `missing IP ${ip} in ${peer.subjectaltname}`);
    }
    assert.ok(sans.some((s) => /^IP Address:(0:0:0:0:0:0:0:1|::1)$/i.test(s)), `missing ::1 in ${peer.subjectaltname}`);
    // Hostname verification really happens: a name not in the certificate is refused.
    await assert.rejects(handshake(first, 'not-in-the-cert.example'), { code: 'ERR_TLS_CERT_ALTNAME_INVALID' });
  });

  it('writes keys and tokens readable by the owner only', async () => {
    assert.equal(await mode(first.ca.keyPath), 0o600);
    assert.equal(await mode(first.serving.keyPath), 0o600);
    assert.equal(await mode(first.adminTokenPath), 0o600);
    assert.equal(await mode(first.joinTokenPath), 0o600);
    assert.equal(first.joinTokenPath, join(dir, 'join-token'));
    assert.ok(first.ca.keyPath.startsWith(join(dir, 'pki')));
    assert.equal((await readFile(first.joinTokenPath, 'utf8')).trim(), first.joinToken);
  });

  it('makes an admin token of 32 random bytes', () => {
    assert.match(first.adminToken, /^[A-Za-z0-9_-]{43}$/);
  });

  it('makes a k3s-style join token that carries the CA hash', () => {
    assert.match(first.joinToken, /^K10[0-9a-f]{64}::server:[A-Za-z0-9_-]{43}$/);
    const parsed = parseJoinToken(first.joinToken);
    assert.ok(parsed);
    assert.equal(parsed.caHash, sha256Hex(first.ca.certPem));
    assert.equal(parsed.caHash, first.caHash);
    assert.ok(caHashMatches(first.ca.certPem, parsed.caHash));
    assert.ok(!caHashMatches(first.ca.certPem + '\n', parsed.caHash));
    assert.ok(!caHashMatches(first.ca.certPem, 'not-a-hash'));
  });

  it('reuses everything on the next start', async () => {
    const again = await ensureClusterPki(dir, { hosts: ['kennel.example.test'], ips: ['192.0.2.10'] });
    assert.deepEqual(again.issued, []);
    assert.equal(again.ca.certPem, first.ca.certPem);
    assert.equal(again.serving.certPem, first.serving.certPem);
    assert.equal(again.adminToken, first.adminToken);
    assert.equal(again.joinToken, first.joinToken);
  });

  it('re-issues the serving certificate when a new address is needed, keeping the CA and tokens', async () => {
    const more = await ensureClusterPki(dir, { hosts: ['kennel.example.test'], ips: ['192.0.2.10', '198.51.100.7'] });
    assert.deepEqual(more.issued, ['serving']);
    assert.equal(more.ca.certPem, first.ca.certPem);
    assert.notEqual(more.serving.certPem, first.serving.certPem);
    assert.equal(more.joinToken, first.joinToken);
    assert.ok(more.serving.ips.includes('198.51.100.7'));
    const peer = await handshake(more, 'localhost');
    assert.match(peer.subjectaltname ?? '', /IP Address:198\.51\.100\.7/);
  });

  it('re-issues the serving certificate when it expires within 30 days', async () => {
    const current = await ensureClusterPki(dir, { hosts: ['kennel.example.test'], ips: ['192.0.2.10', '198.51.100.7'] });
    assert.deepEqual(current.issued, []);
    const in340Days = new Date(Date.now() + 340 * 24 * 3600 * 1000);
    const later = await ensureClusterPki(dir, { hosts: ['kennel.example.test'], ips: ['192.0.2.10', '198.51.100.7'], now: () => in340Days });
    assert.deepEqual(later.issued, ['serving']);
    assert.ok(later.serving.notAfter.getTime() > in340Days.getTime() + 300 * 24 * 3600 * 1000);
  });

  it('refuses a CA certificate without its key instead of silently replacing it', async () => {
    const d = await mkdtemp(join(tmpdir(), 'kennel-pki-half-'));
    try {
      const p = await ensureClusterPki(d, {});
      await unlink(p.ca.keyPath);
      await assert.rejects(ensureClusterPki(d, {}), (err: unknown) => err instanceof PkiError && /ca\.key is missing/.test((err as Error).message));
    } finally {
      await rm(d, { recursive: true, force: true });
    }
  });

  it('after a new CA, re-issues the serving certificate and rewrites the join token hash, keeping its secret', async () => {
    const d = await mkdtemp(join(tmpdir(), 'kennel-pki-newca-'));
    try {
      const p = await ensureClusterPki(d, {});
      await unlink(p.ca.keyPath);
      await unlink(p.ca.certPath);
      const q = await ensureClusterPki(d, {});
      assert.deepEqual(q.issued, ['ca', 'serving']);
      assert.notEqual(q.caHash, p.caHash);
      assert.equal(parseJoinToken(q.joinToken)?.secret, parseJoinToken(p.joinToken)?.secret);
      assert.equal((await readFile(join(d, 'join-token'), 'utf8')).trim(), q.joinToken);
      await handshake(q, 'localhost'); // the new serving cert chains to the new CA
    } finally {
      await rm(d, { recursive: true, force: true });
    }
  });

  it('writes a kubeconfig kubectl can use: CA data, server, token, current context', async () => {
    const path = join(dir, 'kubeconfig');
    await writeFile(path, 'old', { mode: 0o644 });
    await writeKubeconfig(path, { server: 'https://127.0.0.1:6443', caPem: first.ca.certPem, token: first.adminToken });
    assert.equal(await mode(path), 0o600);
    const doc = YAML.parse(await readFile(path, 'utf8')) as {
      apiVersion: string;
      kind: string;
      clusters: { name: string; cluster: { server: string; 'certificate-authority-data': string } }[];
      users: { name: string; user: { token: string } }[];
      contexts: { name: string; context: { cluster: string; user: string } }[];
      'current-context': string;
    };
    assert.equal(doc.kind, 'Config');
    assert.equal(doc.apiVersion, 'v1');
    assert.equal(doc.clusters[0]!.name, 'kennel');
    assert.equal(doc.clusters[0]!.cluster.server, 'https://127.0.0.1:6443');
    assert.equal(Buffer.from(doc.clusters[0]!.cluster['certificate-authority-data'], 'base64').toString(), first.ca.certPem);
    assert.deepEqual(doc.users, [{ name: 'admin', user: { token: first.adminToken } }]);
    assert.deepEqual(doc.contexts, [{ name: 'kennel', context: { cluster: 'kennel', user: 'admin' } }]);
    assert.equal(doc['current-context'], 'kennel');
  });
});

describe('join tokens and service addresses', () => {
  it('parses only well-formed join tokens', () => {
    const hash = 'a'.repeat(64);
    assert.deepEqual(parseJoinToken(`K10${hash}::server:s3cret`), { caHash: hash, secret: 's3cret' });
    assert.deepEqual(parseJoinToken(` K10${hash}::server:s3cret\n`), { caHash: hash, secret: 's3cret' });
    assert.equal(parseJoinToken(''), null);
    assert.equal(parseJoinToken('s3cret'), null);
    assert.equal(parseJoinToken(`K10${'a'.repeat(63)}::server:s3cret`), null);
    assert.equal(parseJoinToken(`K10${'A'.repeat(64)}::server:s3cret`), null);
    assert.equal(parseJoinToken(`K10${hash}::node:s3cret`), null);
    assert.equal(parseJoinToken(`K10${hash}::server:`), null);
    assert.equal(parseJoinToken(`K10${hash}::server:two words`), null);
  });

  it('takes the first address of the service CIDR', () => {
    assert.equal(firstServiceIP('10.43.0.0/16'), '10.43.0.1');
    assert.equal(firstServiceIP('10.96.5.9/12'), '10.96.0.1');
    assert.equal(firstServiceIP('192.168.7.0/24'), '192.168.7.1');
    assert.throws(() => firstServiceIP('10.43.0.0'), PkiError);
    assert.throws(() => firstServiceIP('300.1.1.1/16'), PkiError);
  });
});
