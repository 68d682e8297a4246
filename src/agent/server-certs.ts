// Certificates for the API server ↔ agent channel, as Kubernetes sets it up: the agent serves
// HTTPS with a certificate for the node's names and addresses, and the API server presents a
// client certificate signed by the cluster CA with CN `kube-apiserver-kubelet-client`
// (O=system:masters), which the agent checks.
//
// The agent's serving certificate, like a kubelet's serving-certificate CSR: a joining agent
// makes its key pair with node:crypto (servingKeyPair) and sends the public key with its join
// request; the API server signs a certificate for the node's names and addresses with the
// cluster CA (servingCertificateFor, src/api/join.ts) and returns it. `kennel up` signs its
// local node's certificate itself (it holds the CA key); without either the agent falls back to
// a self-signed one, as a kubelet does by default.
//
// Certificates are built and signed with node-forge, loaded on first use: a joined agent never
// loads it (it is a large module for a daemon on every node to keep resident).
import { X509Certificate, createPrivateKey, createPublicKey, generateKeyPair, randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import { promisify } from 'node:util';
import type * as Forge from 'node-forge';

const generateKeyPairAsync = promisify(generateKeyPair);
const DAY_MS = 24 * 60 * 60 * 1000;

/** The CN the agent accepts from the API server's client certificate. */
export const KUBELET_CLIENT_CN = 'kube-apiserver-kubelet-client';

export interface CertificateAuthority {
  certPem: string;
  keyPem: string;
}

export interface IssuedCertificate {
  cert: string;
  key: string;
}

export interface IssueOptions {
  commonName: string;
  organizations?: string[];
  dnsNames?: string[];
  ips?: string[];
  usage: 'server' | 'client';
  /** Signed by this CA; self-signed without. */
  ca?: CertificateAuthority;
  validityDays?: number;
  now?: Date;
}

let forgeModule: Promise<typeof Forge> | undefined;
/** node-forge, loaded once, on first use. */
function loadForge(): Promise<typeof Forge> {
  forgeModule ??= import('node-forge').then((m) => ((m as { default?: typeof Forge }).default ?? m) as typeof Forge);
  return forgeModule;
}

function serialNumber(): string {
  const b = randomBytes(16);
  b[0]! &= 0x7f;
  if (b[0] === 0) b[0] = 1;
  return b.toString('hex');
}

function rsaKeyPair(): Promise<{ publicKey: string; privateKey: string }> {
  return generateKeyPairAsync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
}

/** Signs a leaf certificate for publicKeyPem (SPKI PEM, RSA): by o.ca, else by selfKeyPem (self-signed). */
async function signLeaf(publicKeyPem: string, o: IssueOptions, selfKeyPem?: string): Promise<string> {
  const forge = await loadForge();
  const now = o.now ?? new Date();
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(publicKeyPem);
  cert.serialNumber = serialNumber();
  cert.validity.notBefore = new Date(now.getTime() - 60 * 60 * 1000);
  cert.validity.notAfter = new Date(now.getTime() + (o.validityDays ?? 365) * DAY_MS);
  const subject = [{ name: 'commonName', value: o.commonName }, ...(o.organizations ?? []).map((value) => ({ name: 'organizationName', value }))];
  cert.setSubject(subject);
  let signer: Forge.pki.rsa.PrivateKey;
  if (o.ca) {
    const caCert = forge.pki.certificateFromPem(o.ca.certPem);
    signer = forge.pki.privateKeyFromPem(o.ca.keyPem) as Forge.pki.rsa.PrivateKey;
    cert.setIssuer(caCert.subject.attributes);
    if (cert.validity.notAfter > caCert.validity.notAfter) cert.validity.notAfter = caCert.validity.notAfter;
  } else {
    if (!selfKeyPem) throw new Error('a self-signed certificate needs its private key');
    signer = forge.pki.privateKeyFromPem(selfKeyPem) as Forge.pki.rsa.PrivateKey;
    cert.setIssuer(subject);
  }
  const altNames = [...(o.dnsNames ?? []).map((value) => ({ type: 2, value })), ...(o.ips ?? []).map((ip) => ({ type: 7, ip }))];
  cert.setExtensions([
    { name: 'basicConstraints', cA: false, critical: true },
    { name: 'keyUsage', critical: true, digitalSignature: true, keyEncipherment: true },
    o.usage === 'server' ? { name: 'extKeyUsage', serverAuth: true } : { name: 'extKeyUsage', clientAuth: true },
    ...(altNames.length ? [{ name: 'subjectAltName', altNames }] : []),
  ]);
  cert.sign(signer, forge.md.sha256.create());
  return forge.pki.certificateToPem(cert).replace(/\r\n/g, '\n');
}

/** Issue a leaf certificate with a fresh RSA 2048 key. */
export async function issueCertificate(o: IssueOptions): Promise<IssuedCertificate> {
  const { publicKey, privateKey } = await rsaKeyPair();
  return { cert: await signLeaf(publicKey, o, privateKey), key: privateKey };
}

/** The names a node's serving certificate covers: the node's name and localhost; its IPs and 127.0.0.1. */
export function servingNames(nodeName: string, ips: readonly string[]): { dnsNames: string[]; ips: string[] } {
  return { dnsNames: [...new Set([nodeName.toLowerCase(), 'localhost'])], ips: [...new Set([...ips.filter((ip) => isIP(ip) !== 0), '127.0.0.1'])] };
}

/** The agent's serving certificate with a fresh key: signed by ca (`kennel up`), else self-signed. */
export function agentServingCertificate(nodeName: string, ips: string[], ca?: CertificateAuthority): Promise<IssuedCertificate> {
  return issueCertificate({ commonName: nodeName, ...servingNames(nodeName, ips), usage: 'server', ca });
}

/** The API server's client certificate for calls to agents. */
export function kubeletClientCertificate(ca: CertificateAuthority): Promise<IssuedCertificate> {
  return issueCertificate({ commonName: KUBELET_CLIENT_CN, organizations: ['system:masters'], usage: 'client', ca });
}

// ---------------------------------------------------------------------------------------------
// Serving certificates issued at join

/** The kinds of public key the API server signs for an agent (node-forge signs RSA keys only). */
const MIN_RSA_BITS = 2048;
const MAX_RSA_BITS = 8192;

/** Why publicKeyPem cannot be signed as an agent's serving key ('' = it can). */
export function servingPublicKeyError(publicKeyPem: unknown): string {
  if (typeof publicKeyPem !== 'string' || !publicKeyPem.includes('-----BEGIN PUBLIC KEY-----') || publicKeyPem.length > 16 * 1024) {
    return 'servingPublicKey must be a public key in PEM (SPKI) form';
  }
  try {
    const key = createPublicKey(publicKeyPem);
    const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
    if (key.asymmetricKeyType !== 'rsa') return `servingPublicKey must be an RSA key (it is ${key.asymmetricKeyType})`;
    if (bits < MIN_RSA_BITS || bits > MAX_RSA_BITS) return `servingPublicKey must be an RSA key of ${MIN_RSA_BITS} to ${MAX_RSA_BITS} bits (it has ${bits})`;
  } catch (e) {
    return `servingPublicKey is not a readable public key: ${(e as Error).message}`;
  }
  return '';
}

export interface ServingCertificateRequest {
  /** The agent's public key (SPKI PEM, RSA). */
  publicKeyPem: string;
  nodeName: string;
  /** The node's addresses (besides 127.0.0.1, always covered). */
  ips: string[];
  ca: CertificateAuthority;
  validityDays?: number;
  now?: Date;
}

/** The API server's half: a serving certificate for an agent's own key, signed by the cluster CA. */
export function servingCertificateFor(r: ServingCertificateRequest): Promise<string> {
  const problem = servingPublicKeyError(r.publicKeyPem);
  if (problem) return Promise.reject(new Error(problem));
  return signLeaf(r.publicKeyPem, { commonName: r.nodeName, ...servingNames(r.nodeName, r.ips), usage: 'server', ca: r.ca, validityDays: r.validityDays, now: r.now });
}

/** The agent's half: an RSA 2048 key pair made with node:crypto (PEM: PKCS#8 private, SPKI public). */
export async function servingKeyPair(): Promise<{ privateKeyPem: string; publicKeyPem: string }> {
  const { publicKey, privateKey } = await rsaKeyPair();
  return { privateKeyPem: privateKey, publicKeyPem: publicKey };
}

/** The SPKI PEM public key of a private key (PEM). */
export function publicKeyOf(privateKeyPem: string): string {
  return createPublicKey(createPrivateKey(privateKeyPem)).export({ type: 'spki', format: 'pem' }).toString();
}

/**
 * Whether certPem is a usable serving certificate for keyPem: its key, issued by caPem, and
 * valid for at least minValidMs more.
 */
export function servingCertificateUsable(certPem: string, keyPem: string, caPem: string, minValidMs = 0, now = Date.now()): boolean {
  try {
    const cert = new X509Certificate(certPem);
    if (!cert.checkPrivateKey(createPrivateKey(keyPem))) return false;
    if (!cert.verify(new X509Certificate(caPem).publicKey)) return false;
    return Date.parse(cert.validFrom) <= now && Date.parse(cert.validTo) - now >= minValidMs;
  } catch {
    return false;
  }
}
