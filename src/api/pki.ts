// The cluster's PKI: a CA, the API server's serving certificate, the admin bearer token, the
// join token, and the kubeconfig that ties them together. Created on first start under
// <dataDir>/pki/ and reused afterwards; the serving certificate is re-issued when the names it
// must cover change or it nears expiry.
//
// Keys are RSA 2048 generated with node:crypto (fast, off the main thread); certificates are
// built and signed with node-forge. The join token follows k3s: `K10<sha256 of the CA PEM>::server:<secret>`,
// so a joining node can check the CA it is handed before trusting it.
import { createHash, generateKeyPair, randomBytes, timingSafeEqual } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { isIP } from 'node:net';
import { promisify } from 'node:util';
import forge from 'node-forge';
import YAML from 'yaml';

const generateKeyPairAsync = promisify(generateKeyPair);

const DAY_MS = 24 * 60 * 60 * 1000;
const CA_VALIDITY_DAYS = 3650;
const SERVING_VALIDITY_DAYS = 365;
/** Re-issue the serving certificate when fewer days than this remain. */
const RENEW_BEFORE_DAYS = 30;
/** Backdate notBefore a little so slightly skewed clocks accept a fresh certificate. */
const BACKDATE_MS = 60 * 60 * 1000;

export const DEFAULT_SERVICE_CIDR = '10.43.0.0/16';

export interface PkiOptions {
  /** Extra DNS names for the serving certificate. */
  hosts?: string[];
  /** Extra IP addresses for the serving certificate. */
  ips?: string[];
  /** The service CIDR; its first address (the `kubernetes` service) goes into the SANs. */
  serviceCIDR?: string;
  /** The clock (tests). */
  now?: () => Date;
}

export interface CertPair {
  certPem: string;
  keyPem: string;
  certPath: string;
  keyPath: string;
}

export interface ClusterPki {
  dir: string;
  ca: CertPair;
  serving: CertPair & { dnsNames: string[]; ips: string[]; notAfter: Date };
  /** What startApiServer takes. */
  tls: { cert: string; key: string; ca: string };
  adminToken: string;
  adminTokenPath: string;
  joinToken: string;
  joinTokenPath: string;
  /** sha256 hex of the CA certificate PEM (the hash in the join token). */
  caHash: string;
  /** What this call created: 'ca' and/or 'serving' (empty when everything was reused). */
  issued: ('ca' | 'serving')[];
}

/** A PKI directory kennel cannot use as it is (a lone CA key, an unreadable certificate …). */
export class PkiError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PkiError';
  }
}

// ---------------------------------------------------------------------------------------------
// Files
// ---------------------------------------------------------------------------------------------
async function readIfExists(path: string): Promise<string | null> {
  try {
    return await fs.readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

/** Writes atomically (temp file + rename) with the given mode. */
async function writeFileAtomic(path: string, data: string, mode: number): Promise<void> {
  await fs.mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    await fs.writeFile(tmp, data, { mode });
    await fs.chmod(tmp, mode); // the umask may have narrowed or the file may have existed
    await fs.rename(tmp, path);
  } catch (err) {
    await fs.rm(tmp, { force: true });
    throw err;
  }
}

// ---------------------------------------------------------------------------------------------
// Certificates
// ---------------------------------------------------------------------------------------------
async function newRsaKey(): Promise<{ privateKey: forge.pki.rsa.PrivateKey; publicKey: forge.pki.rsa.PublicKey; pem: string }> {
  const { privateKey } = await generateKeyPairAsync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  const key = forge.pki.privateKeyFromPem(privateKey) as forge.pki.rsa.PrivateKey;
  return { privateKey: key, publicKey: forge.pki.rsa.setPublicKey(key.n, key.e), pem: privateKey };
}

/** PEM with \n line ends (forge writes \r\n). */
function toPem(cert: forge.pki.Certificate): string {
  return forge.pki.certificateToPem(cert).replace(/\r\n/g, '\n');
}

function serialNumber(): string {
  const b = randomBytes(16);
  b[0]! &= 0x7f; // positive
  if (b[0] === 0) b[0] = 1;
  return b.toString('hex');
}

function subjectKeyId(publicKey: forge.pki.rsa.PublicKey): string {
  return forge.pki.getPublicKeyFingerprint(publicKey, { type: 'SubjectPublicKeyInfo', encoding: 'hex' }) as string;
}

function createCa(key: { privateKey: forge.pki.rsa.PrivateKey; publicKey: forge.pki.rsa.PublicKey }, now: Date): string {
  const cert = forge.pki.createCertificate();
  cert.publicKey = key.publicKey;
  cert.serialNumber = serialNumber();
  cert.validity.notBefore = new Date(now.getTime() - BACKDATE_MS);
  cert.validity.notAfter = new Date(now.getTime() + CA_VALIDITY_DAYS * DAY_MS);
  const subject = [
    // PrintableString (Go's x509 rejects '@' there)
    { name: 'commonName', value: `kennel-ca-${Math.floor(now.getTime() / 1000)}` },
    { name: 'organizationName', value: 'kennel' },
  ];
  cert.setSubject(subject);
  cert.setIssuer(subject);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', critical: true, keyCertSign: true, cRLSign: true, digitalSignature: true },
    { name: 'subjectKeyIdentifier', subjectKeyIdentifier: subjectKeyId(key.publicKey) },
  ]);
  cert.sign(key.privateKey, forge.md.sha256.create());
  return toPem(cert);
}

function issueServing(
  ca: { cert: forge.pki.Certificate; key: forge.pki.rsa.PrivateKey },
  publicKey: forge.pki.rsa.PublicKey,
  dnsNames: string[],
  ips: string[],
  now: Date,
): string {
  const cert = forge.pki.createCertificate();
  cert.publicKey = publicKey;
  cert.serialNumber = serialNumber();
  cert.validity.notBefore = new Date(now.getTime() - BACKDATE_MS);
  const notAfter = new Date(now.getTime() + SERVING_VALIDITY_DAYS * DAY_MS);
  cert.validity.notAfter = notAfter < ca.cert.validity.notAfter ? notAfter : ca.cert.validity.notAfter;
  cert.setSubject([
    { name: 'commonName', value: 'kennel-apiserver' },
    { name: 'organizationName', value: 'kennel' },
  ]);
  cert.setIssuer(ca.cert.subject.attributes);
  const caSki = (ca.cert.getExtension('subjectKeyIdentifier') as { subjectKeyIdentifier?: string } | null)?.subjectKeyIdentifier;
  cert.setExtensions([
    { name: 'basicConstraints', cA: false, critical: true },
    { name: 'keyUsage', critical: true, digitalSignature: true, keyEncipherment: true },
    { name: 'extKeyUsage', serverAuth: true },
    {
      name: 'subjectAltName',
      altNames: [...dnsNames.map((value) => ({ type: 2, value })), ...ips.map((ip) => ({ type: 7, ip }))],
    },
    { name: 'subjectKeyIdentifier', subjectKeyIdentifier: subjectKeyId(publicKey) },
    ...(caSki ? [{ name: 'authorityKeyIdentifier', keyIdentifier: forge.util.hexToBytes(caSki) }] : []),
  ]);
  cert.sign(ca.key, forge.md.sha256.create());
  return toPem(cert);
}

/** The first usable address of an IPv4 CIDR (10.43.0.0/16 → 10.43.0.1). */
export function firstServiceIP(cidr: string): string {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(cidr.trim());
  if (!m) throw new PkiError(`service CIDR "${cidr}" is not an IPv4 CIDR like 10.43.0.0/16`);
  const octets = m.slice(1, 5).map(Number);
  const bits = Number(m[5]);
  if (octets.some((o) => o > 255) || bits < 1 || bits > 30) {
    throw new PkiError(`service CIDR "${cidr}" is not an IPv4 CIDR like 10.43.0.0/16`);
  }
  const addr = octets.reduce((a, o) => a * 256 + o, 0);
  const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
  const first = ((addr & mask) >>> 0) + 1;
  return [24, 16, 8, 0].map((s) => (first >>> s) & 255).join('.');
}

/** Canonical text of an IP (lower-case IPv6, no zone) so SAN sets compare reliably. */
function canonicalIP(ip: string): string {
  const bare = ip.split('%')[0]!;
  if (isIP(bare) === 6) return new URL(`http://[${bare}]/`).hostname.slice(1, -1); // WHATWG compresses IPv6
  return bare;
}

const VIRTUAL_LINK = /^(veth|kennel|cni|docker|br-|virbr|flannel|cali|vx|tun|tap)/;

/** The names and addresses the serving certificate must cover. */
export function requiredSans(opts: PkiOptions = {}): { dnsNames: string[]; ips: string[] } {
  const dns = new Set<string>([
    'localhost',
    'kubernetes',
    'kubernetes.default',
    'kubernetes.default.svc',
    'kubernetes.default.svc.cluster.local',
  ]);
  const hostname = os.hostname().toLowerCase();
  if (hostname) dns.add(hostname);
  const ips = new Set<string>(['127.0.0.1', '::1', firstServiceIP(opts.serviceCIDR ?? DEFAULT_SERVICE_CIDR)]);
  for (const [name, list] of Object.entries(os.networkInterfaces())) {
    // Virtual links come and go with pods and test networks (veth pairs, bridges, CNI links);
    // covering them would re-issue the certificate each time one appears.
    if (VIRTUAL_LINK.test(name)) continue;
    for (const ni of list ?? []) {
      if (ni.family === 'IPv6' && ni.address.toLowerCase().startsWith('fe80')) continue;
      ips.add(canonicalIP(ni.address));
    }
  }
  for (const h of opts.hosts ?? []) {
    if (isIP(h)) ips.add(canonicalIP(h));
    else if (h) dns.add(h.toLowerCase());
  }
  for (const ip of opts.ips ?? []) {
    if (!isIP(ip.split('%')[0]!)) throw new PkiError(`"${ip}" is not an IP address`);
    ips.add(canonicalIP(ip));
  }
  return { dnsNames: [...dns].sort(), ips: [...ips].map(canonicalIP).sort() };
}

function certSans(cert: forge.pki.Certificate): { dnsNames: string[]; ips: string[] } {
  const ext = cert.getExtension('subjectAltName') as { altNames?: { type: number; value?: string; ip?: string }[] } | null;
  const dnsNames: string[] = [];
  const ips: string[] = [];
  for (const an of ext?.altNames ?? []) {
    if (an.type === 2 && an.value) dnsNames.push(an.value.toLowerCase());
    if (an.type === 7 && an.ip) ips.push(canonicalIP(an.ip));
  }
  return { dnsNames, ips };
}

function parseCert(pem: string, path: string): forge.pki.Certificate {
  try {
    return forge.pki.certificateFromPem(pem);
  } catch (err) {
    throw new PkiError(`${path} is not a readable certificate (${(err as Error).message}); remove it to have kennel issue a new one`);
  }
}

function parseKey(pem: string, path: string): forge.pki.rsa.PrivateKey {
  try {
    return forge.pki.privateKeyFromPem(pem) as forge.pki.rsa.PrivateKey;
  } catch (err) {
    throw new PkiError(`${path} is not a readable RSA private key (${(err as Error).message})`);
  }
}

function sameKey(cert: forge.pki.Certificate, key: forge.pki.rsa.PrivateKey): boolean {
  const pub = cert.publicKey as forge.pki.rsa.PublicKey;
  return pub.n.equals(key.n) && pub.e.equals(key.e);
}

function signedBy(cert: forge.pki.Certificate, ca: forge.pki.Certificate): boolean {
  try {
    return ca.verify(cert);
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------------
// Tokens
// ---------------------------------------------------------------------------------------------
export function sha256Hex(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

function newSecret(): string {
  return randomBytes(32).toString('base64url');
}

const JOIN_TOKEN = /^K10([0-9a-f]{64})::server:([A-Za-z0-9_\-.~+/=]+)$/;

/** Parses `K10<caHash>::server:<secret>`; null when the text is not such a token. */
export function parseJoinToken(token: string): { caHash: string; secret: string } | null {
  const m = JOIN_TOKEN.exec(token.trim());
  return m ? { caHash: m[1]!, secret: m[2]! } : null;
}

export function formatJoinToken(caPem: string, secret: string): string {
  return `K10${sha256Hex(caPem)}::server:${secret}`;
}

/** Whether caPem is the CA the join token's hash names (constant-time comparison). */
export function caHashMatches(caPem: string, hash: string): boolean {
  const want = Buffer.from(sha256Hex(caPem), 'hex');
  if (!/^[0-9a-fA-F]{64}$/.test(hash)) return false;
  return timingSafeEqual(want, Buffer.from(hash.toLowerCase(), 'hex'));
}

// ---------------------------------------------------------------------------------------------
// ensureClusterPki
// ---------------------------------------------------------------------------------------------
/**
 * Creates the cluster PKI under <dataDir>/pki/ on first start, reuses it afterwards, and
 * re-issues the serving certificate when the names it needs changed, it expires within 30 days,
 * or it no longer matches the CA or its key.
 */
export async function ensureClusterPki(dataDir: string, opts: PkiOptions = {}): Promise<ClusterPki> {
  const now = (opts.now ?? (() => new Date()))();
  const dir = join(dataDir, 'pki');
  await fs.mkdir(dir, { recursive: true, mode: 0o700 });
  const issued: ('ca' | 'serving')[] = [];

  // The CA.
  const caCertPath = join(dir, 'ca.crt');
  const caKeyPath = join(dir, 'ca.key');
  let caCertPem = await readIfExists(caCertPath);
  let caKeyPem = await readIfExists(caKeyPath);
  if ((caCertPem === null) !== (caKeyPem === null)) {
    const missing = caCertPem === null ? caCertPath : caKeyPath;
    throw new PkiError(
      `${missing} is missing but its partner exists; restore it, or remove ${dir} to create a new cluster CA (joined nodes must then join again)`,
    );
  }
  let caCert: forge.pki.Certificate;
  let caKey: forge.pki.rsa.PrivateKey;
  if (caCertPem !== null && caKeyPem !== null) {
    caCert = parseCert(caCertPem, caCertPath);
    caKey = parseKey(caKeyPem, caKeyPath);
    if (!sameKey(caCert, caKey)) throw new PkiError(`${caKeyPath} is not the key of ${caCertPath}`);
    if (caCert.validity.notAfter.getTime() <= now.getTime()) {
      throw new PkiError(`the cluster CA ${caCertPath} expired on ${caCert.validity.notAfter.toISOString()}; remove ${dir} to create a new one`);
    }
  } else {
    const key = await newRsaKey();
    caCertPem = createCa(key, now);
    caKeyPem = key.pem;
    await writeFileAtomic(caKeyPath, caKeyPem, 0o600);
    await writeFileAtomic(caCertPath, caCertPem, 0o644);
    caCert = forge.pki.certificateFromPem(caCertPem);
    caKey = key.privateKey;
    issued.push('ca');
  }

  // The serving certificate.
  const want = requiredSans(opts);
  const certPath = join(dir, 'server.crt');
  const keyPath = join(dir, 'server.key');
  let certPem = await readIfExists(certPath);
  let keyPem = await readIfExists(keyPath);
  let reissue = certPem === null || keyPem === null;
  let cert: forge.pki.Certificate | null = null;
  if (!reissue) {
    try {
      cert = forge.pki.certificateFromPem(certPem!);
      const key = forge.pki.privateKeyFromPem(keyPem!) as forge.pki.rsa.PrivateKey;
      const have = certSans(cert);
      const covers = want.dnsNames.every((n) => have.dnsNames.includes(n)) && want.ips.every((ip) => have.ips.includes(ip));
      const fresh = cert.validity.notAfter.getTime() - now.getTime() > RENEW_BEFORE_DAYS * DAY_MS;
      reissue = !covers || !fresh || !sameKey(cert, key) || !signedBy(cert, caCert);
    } catch {
      reissue = true; // an unreadable serving certificate is simply replaced
    }
  }
  if (reissue) {
    const key = await newRsaKey();
    certPem = issueServing({ cert: caCert, key: caKey }, key.publicKey, want.dnsNames, want.ips, now);
    keyPem = key.pem;
    await writeFileAtomic(keyPath, keyPem, 0o600);
    await writeFileAtomic(certPath, certPem, 0o644);
    cert = forge.pki.certificateFromPem(certPem);
    issued.push('serving');
  }
  const sans = certSans(cert!);

  // The admin token.
  const adminTokenPath = join(dir, 'admin.token');
  let adminToken = (await readIfExists(adminTokenPath))?.trim() ?? '';
  if (!adminToken) {
    adminToken = newSecret();
    await writeFileAtomic(adminTokenPath, adminToken + '\n', 0o600);
  }

  // The join token: keep its secret; refresh the CA hash if the CA changed.
  const caHash = sha256Hex(caCertPem);
  const joinTokenPath = join(dataDir, 'join-token');
  const existing = parseJoinToken((await readIfExists(joinTokenPath)) ?? '');
  const joinToken = formatJoinToken(caCertPem, existing?.secret ?? newSecret());
  if (!existing || existing.caHash !== caHash) await writeFileAtomic(joinTokenPath, joinToken + '\n', 0o600);

  return {
    dir,
    ca: { certPem: caCertPem, keyPem: caKeyPem, certPath: caCertPath, keyPath: caKeyPath },
    serving: { certPem: certPem!, keyPem: keyPem!, certPath, keyPath, dnsNames: sans.dnsNames, ips: sans.ips, notAfter: cert!.validity.notAfter },
    tls: { cert: certPem!, key: keyPem!, ca: caCertPem },
    adminToken,
    adminTokenPath,
    joinToken,
    joinTokenPath,
    caHash,
    issued,
  };
}

// ---------------------------------------------------------------------------------------------
// kubeconfig
// ---------------------------------------------------------------------------------------------
export interface KubeconfigOptions {
  server: string;
  caPem: string;
  token: string;
  clusterName?: string;
  user?: string;
}

/** The kubeconfig document (YAML text) for a cluster, a token user and one current context. */
export function renderKubeconfig(opts: KubeconfigOptions): string {
  const cluster = opts.clusterName ?? 'kennel';
  const user = opts.user ?? 'admin';
  const doc = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: cluster, cluster: { server: opts.server, 'certificate-authority-data': Buffer.from(opts.caPem).toString('base64') } }],
    users: [{ name: user, user: { token: opts.token } }],
    contexts: [{ name: cluster, context: { cluster, user } }],
    'current-context': cluster,
    preferences: {},
  };
  return YAML.stringify(doc);
}

/** Writes the kubeconfig with mode 0600 (it holds a credential). */
export async function writeKubeconfig(path: string, opts: KubeconfigOptions): Promise<void> {
  await writeFileAtomic(path, renderKubeconfig(opts), 0o600);
}
