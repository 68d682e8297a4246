// The agent's serving certificate issued at the join: the agent's key never leaves it, the
// server signs its public key with the cluster CA (src/api/join.ts, src/agent/server-certs.ts,
// src/cli/join.ts).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate, generateKeyPairSync } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createJoinHandler, joinRequestError, type JoinRequest, type JoinResponse } from '../../src/api/join.ts';
import { ensureClusterPki, sha256Hex } from '../../src/api/pki.ts';
import { servingCertificateFor, servingCertificateUsable, servingKeyPair, servingPublicKeyError, type CertificateAuthority } from '../../src/agent/server-certs.ts';
import { joinCluster } from '../../src/cli/join.ts';
import { createLogger } from '../../src/util/log.ts';

const SECRET = 'join-secret-for-tests-0123456789';
const quiet = createLogger('test', { level: 'error' });

let dir: string;
let ca: CertificateAuthority;
let servingTls: { cert: string; key: string };

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kennel-join-serving-'));
  const pki = await ensureClusterPki(join(dir, 'server'));
  ca = { certPem: pki.ca.certPem, keyPem: pki.ca.keyPem };
  servingTls = { cert: pki.tls.cert, key: pki.tls.key };
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('servingCertificateFor (the server signs an agent key)', () => {
  it('signs the public key for the node name, localhost, its IPs and 127.0.0.1, with the cluster CA', async () => {
    const { publicKeyPem, privateKeyPem } = await servingKeyPair();
    const pem = await servingCertificateFor({ publicKeyPem, nodeName: 'Node-A', ips: ['10.1.2.3', 'not-an-ip'], ca });
    const cert = new X509Certificate(pem);
    assert.ok(cert.verify(new X509Certificate(ca.certPem).publicKey), 'signed by the cluster CA');
    assert.ok(cert.checkPrivateKey(await import('node:crypto').then((c) => c.createPrivateKey(privateKeyPem))), "the agent's key");
    assert.equal(cert.checkHost('node-a'), 'node-a');
    assert.equal(cert.checkHost('localhost'), 'localhost');
    assert.equal(cert.checkIP('10.1.2.3'), '10.1.2.3');
    assert.equal(cert.checkIP('127.0.0.1'), '127.0.0.1');
    assert.equal(cert.checkHost('other'), undefined);
    assert.equal(cert.ca, false);
    assert.ok(servingCertificateUsable(pem, privateKeyPem, ca.certPem, 300 * 24 * 3600 * 1000));
  });

  it('refuses what is not an RSA public key of 2048+ bits', async () => {
    assert.match(servingPublicKeyError('hello'), /PEM/);
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }).toString();
    assert.match(servingPublicKeyError(ec), /RSA/);
    const small = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ type: 'spki', format: 'pem' }).toString();
    assert.match(servingPublicKeyError(small), /2048/);
    await assert.rejects(servingCertificateFor({ publicKeyPem: ec, nodeName: 'n', ips: [], ca }), /RSA/);
    assert.match(joinRequestError({ nodeName: 'n', identity: 'x'.repeat(32), servingPublicKey: ec }), /RSA/);
    assert.match(joinRequestError({ nodeName: 'n', identity: 'x'.repeat(32), servingIPs: ['nope'] }), /servingIPs/);
    assert.equal(joinRequestError({ nodeName: 'n', identity: 'x'.repeat(32), servingIPs: ['10.0.0.1', '::1'] }), '');
  });

  it('a certificate for another key, or signed by another CA, is not usable', async () => {
    const a = await servingKeyPair();
    const b = await servingKeyPair();
    const pem = await servingCertificateFor({ publicKeyPem: a.publicKeyPem, nodeName: 'n', ips: [], ca });
    assert.ok(servingCertificateUsable(pem, a.privateKeyPem, ca.certPem));
    assert.equal(servingCertificateUsable(pem, b.privateKeyPem, ca.certPem), false);
    const other = await ensureClusterPki(join(dir, 'other'));
    assert.equal(servingCertificateUsable(pem, a.privateKeyPem, other.ca.certPem), false);
  });
});

describe('joinCluster with a server that signs serving certificates', () => {
  let server: https.Server;
  let url = '';
  const requests: JoinRequest[] = [];
  let signing = true;

  before(async () => {
    let joins = 0;
    // The join endpoints as the API server serves them, with a stand-in for the credential store.
    const credentials = {
      join: async (r: JoinRequest): Promise<JoinResponse> => {
        requests.push(r);
        return { apiVersion: 'kennel.dev/v1', kind: 'NodeCredential', nodeName: r.nodeName, token: `token-${++joins}`, podCIDR: '10.244.3.0/24', rejoined: joins > 1 };
      },
    };
    const signingHandler = createJoinHandler({ secret: SECRET, caPem: ca.certPem, ca, credentials, logger: quiet });
    const plainHandler = createJoinHandler({ secret: SECRET, caPem: ca.certPem, credentials, logger: quiet });
    server = https.createServer(servingTls, (req, res) => {
      const path = new URL(req.url ?? '/', 'https://x').pathname;
      void (signing ? signingHandler : plainHandler)(req, res, path).then((handled) => {
        if (!handled) res.writeHead(404).end();
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    server?.closeAllConnections();
    await new Promise((r) => server?.close(r));
  });

  const opts = (state: string) => ({ server: url, caHash: sha256Hex(ca.certPem), secret: SECRET, nodeName: 'agent-1', stateDir: join(dir, state), retryForMs: 0, servingIPs: ['10.9.8.7'], logger: quiet });

  it("sends only the public key and gets a CA-signed certificate for the agent's own key, kept in the state dir", async () => {
    const j = await joinCluster(opts('s1'));
    assert.ok(j.serving, 'a serving certificate');
    const req = requests.at(-1)!;
    assert.match(req.servingPublicKey ?? '', /BEGIN PUBLIC KEY/);
    assert.doesNotMatch(JSON.stringify(req), /PRIVATE KEY/);
    assert.deepEqual(req.servingIPs, ['10.9.8.7']);
    const key = await readFile(join(dir, 's1', 'serving.key'), 'utf8');
    assert.equal(j.serving.key, key);
    assert.equal(((await stat(join(dir, 's1', 'serving.key'))).mode & 0o777).toString(8), '600');
    assert.equal(await readFile(join(dir, 's1', 'serving.crt'), 'utf8'), j.serving.cert);
    const cert = new X509Certificate(j.serving.cert);
    assert.equal(cert.checkIP('10.9.8.7'), '10.9.8.7');
    assert.equal(cert.checkIP('127.0.0.1'), '127.0.0.1');
    assert.equal(cert.checkHost('agent-1'), 'agent-1');

    // It serves TLS that a client trusting the cluster CA accepts.
    const tls = https.createServer({ cert: j.serving.cert, key: j.serving.key }, (_q, s) => s.end('ok'));
    await new Promise<void>((r) => tls.listen(0, '127.0.0.1', r));
    try {
      const body = await new Promise<string>((resolve, reject) => {
        https
          .get({ host: '127.0.0.1', port: (tls.address() as AddressInfo).port, ca: ca.certPem, agent: false }, (res) => {
            let t = '';
            res.on('data', (c: Buffer) => (t += c.toString()));
            res.on('end', () => resolve(t));
          })
          .on('error', reject);
      });
      assert.equal(body, 'ok');
    } finally {
      await new Promise((r) => tls.close(r));
    }
  });

  it('keeps its key across joins (a new certificate for the same key)', async () => {
    const first = await readFile(join(dir, 's1', 'serving.key'), 'utf8');
    const before = await readFile(join(dir, 's1', 'serving.crt'), 'utf8');
    const j = await joinCluster(opts('s1'));
    assert.equal(j.serving?.key, first);
    assert.notEqual(j.serving?.cert, before, 'a fresh certificate');
    assert.ok(servingCertificateUsable(j.serving!.cert, first, ca.certPem));
  });

  it('a server that signs nothing: the certificate of an earlier join while it is valid, else none', async () => {
    signing = false;
    try {
      const j = await joinCluster(opts('s1'));
      assert.equal(j.serving?.cert, await readFile(join(dir, 's1', 'serving.crt'), 'utf8'));
      const fresh = await joinCluster(opts('s2'));
      assert.equal(fresh.serving, undefined);
      // A stored certificate for another key is not used.
      await writeFile(join(dir, 's2', 'serving.crt'), await readFile(join(dir, 's1', 'serving.crt'), 'utf8'));
      assert.equal((await joinCluster(opts('s2'))).serving, undefined);
    } finally {
      signing = true;
    }
  });
});
