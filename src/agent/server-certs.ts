// Certificates for the API server ↔ agent channel, as Kubernetes sets it up: the agent serves
// HTTPS with a certificate for the node's names and addresses (signed by the cluster CA when the
// CA key is at hand, as on the `kennel up` machine; self-signed otherwise, as a kubelet does by
// default), and the API server presents a client certificate signed by the cluster CA with
// CN `kube-apiserver-kubelet-client` (O=system:masters), which the agent checks.
import { generateKeyPair, randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import forge from 'node-forge';

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

function serialNumber(): string {
  const b = randomBytes(16);
  b[0]! &= 0x7f;
  if (b[0] === 0) b[0] = 1;
  return b.toString('hex');
}

/** Issue a leaf certificate with a fresh RSA 2048 key. */
export async function issueCertificate(o: IssueOptions): Promise<IssuedCertificate> {
  const { privateKey } = await generateKeyPairAsync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  const key = forge.pki.privateKeyFromPem(privateKey) as forge.pki.rsa.PrivateKey;
  const publicKey = forge.pki.rsa.setPublicKey(key.n, key.e);
  const now = o.now ?? new Date();
  const cert = forge.pki.createCertificate();
  cert.publicKey = publicKey;
  cert.serialNumber = serialNumber();
  cert.validity.notBefore = new Date(now.getTime() - 60 * 60 * 1000);
  cert.validity.notAfter = new Date(now.getTime() + (o.validityDays ?? 365) * DAY_MS);
  const subject = [{ name: 'commonName', value: o.commonName }, ...(o.organizations ?? []).map((value) => ({ name: 'organizationName', value }))];
  cert.setSubject(subject);
  let signer = key;
  if (o.ca) {
    const caCert = forge.pki.certificateFromPem(o.ca.certPem);
    signer = forge.pki.privateKeyFromPem(o.ca.keyPem) as forge.pki.rsa.PrivateKey;
    cert.setIssuer(caCert.subject.attributes);
    if (cert.validity.notAfter > caCert.validity.notAfter) cert.validity.notAfter = caCert.validity.notAfter;
  } else {
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
  return { cert: forge.pki.certificateToPem(cert).replace(/\r\n/g, '\n'), key: privateKey };
}

/** The agent's serving certificate: the node's name, localhost, its IPs and 127.0.0.1. */
export function agentServingCertificate(nodeName: string, ips: string[], ca?: CertificateAuthority): Promise<IssuedCertificate> {
  const dns = [...new Set([nodeName.toLowerCase(), 'localhost'])];
  const addrs = [...new Set([...ips, '127.0.0.1'])];
  return issueCertificate({ commonName: nodeName, dnsNames: dns, ips: addrs, usage: 'server', ca });
}

/** The API server's client certificate for calls to agents. */
export function kubeletClientCertificate(ca: CertificateAuthority): Promise<IssuedCertificate> {
  return issueCertificate({ commonName: KUBELET_CLIENT_CN, organizations: ['system:masters'], usage: 'client', ca });
}
