import { generateKeyPair, type KeyObject, randomBytes, sign } from "node:crypto";
import { isIP } from "node:net";
import { promisify } from "node:util";
import forge from "node-forge";

const generateRsaKeyPair = promisify(generateKeyPair);
const DAY_MS = 86_400_000;
/** Leaves are made again after this long, well before they expire. */
const LEAF_REFRESH_MS = 30 * DAY_MS;

/** A certificate and its private key, both PEM. */
export interface CertificateAndKey {
  certificate: string;
  key: string;
}

interface KeyPair {
  privateKey: KeyObject;
  publicKey: forge.pki.PublicKey;
  privateKeyPem: string;
}

async function makeKeyPair(): Promise<KeyPair> {
  const { privateKey, publicKey } = await generateRsaKeyPair("rsa", { modulusLength: 2048 });
  return {
    privateKey,
    publicKey: forge.pki.publicKeyFromPem(publicKey.export({ type: "spki", format: "pem" }).toString()),
    privateKeyPem: privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
  };
}

/**
 * A certificate authority that lives in memory only: its key is never
 * written anywhere. node-forge builds the certificates; Node's crypto makes
 * the keys and the signatures (forge's JavaScript RSA is ~100× slower).
 */
export class CertificateAuthority {
  private readonly leaves = new Map<string, { made: number; leaf: CertificateAndKey }>();

  private constructor(
    private readonly caKeys: KeyPair,
    private readonly caCertificate: forge.pki.Certificate,
    private readonly leafKeys: KeyPair,
  ) {}

  /** Makes a new authority (two RSA-2048 keys: the CA's and one shared by its leaves). */
  static async create(commonName: string): Promise<CertificateAuthority> {
    const [caKeys, leafKeys] = await Promise.all([makeKeyPair(), makeKeyPair()]);
    const certificate = forge.pki.createCertificate();
    certificate.publicKey = caKeys.publicKey;
    fillValidity(certificate, 3650);
    const subject = [{ name: "commonName", value: commonName }];
    certificate.setSubject(subject);
    certificate.setIssuer(subject);
    certificate.setExtensions([
      { name: "basicConstraints", cA: true, pathLenConstraint: 0, critical: true },
      { name: "keyUsage", keyCertSign: true, cRLSign: true, critical: true },
      { name: "subjectKeyIdentifier" },
    ]);
    signWith(certificate, caKeys.privateKey);
    return new CertificateAuthority(caKeys, certificate, leafKeys);
  }

  /** The CA certificate (PEM), for clients to trust. */
  get certificatePem(): string {
    return forge.pki.certificateToPem(this.caCertificate);
  }

  /** A server certificate for `host` (a name or an IP address), signed by this authority; cached. */
  leafFor(host: string): CertificateAndKey {
    const cached = this.leaves.get(host);
    if (cached && Date.now() - cached.made < LEAF_REFRESH_MS) return cached.leaf;
    const certificate = forge.pki.createCertificate();
    certificate.publicKey = this.leafKeys.publicKey;
    fillValidity(certificate, 90);
    certificate.setSubject([{ name: "commonName", value: host.slice(0, 64) }]);
    certificate.setIssuer(this.caCertificate.subject.attributes);
    certificate.setExtensions([
      { name: "basicConstraints", cA: false, critical: true },
      { name: "keyUsage", digitalSignature: true, keyEncipherment: true, critical: true },
      { name: "extKeyUsage", serverAuth: true },
      { name: "subjectAltName", altNames: [isIP(host) ? { type: 7, ip: host } : { type: 2, value: host }] },
      { name: "subjectKeyIdentifier" },
      { name: "authorityKeyIdentifier", keyIdentifier: this.caCertificate.generateSubjectKeyIdentifier().getBytes() },
    ]);
    signWith(certificate, this.caKeys.privateKey);
    const leaf = { certificate: forge.pki.certificateToPem(certificate), key: this.leafKeys.privateKeyPem };
    this.leaves.set(host, { made: Date.now(), leaf });
    return leaf;
  }
}

function fillValidity(certificate: forge.pki.Certificate, days: number): void {
  // A positive serial: the first byte's top bit clear.
  const serial = randomBytes(16);
  serial[0] = (serial[0] ?? 0) & 0x7f;
  certificate.serialNumber = serial.toString("hex");
  // Back-dated an hour, for clocks that disagree a little.
  certificate.validity.notBefore = new Date(Date.now() - 3_600_000);
  certificate.validity.notAfter = new Date(Date.now() + days * DAY_MS);
}

/** Signs with Node's crypto: forge lays out the TBSCertificate, OpenSSL does the RSA. */
function signWith(certificate: forge.pki.Certificate, privateKey: KeyObject): void {
  const algorithm = forge.pki.oids.sha256WithRSAEncryption ?? "1.2.840.113549.1.1.11";
  const fields = certificate as unknown as { signatureOid: string; siginfo: { algorithmOid: string }; signature: string };
  fields.signatureOid = algorithm;
  fields.siginfo.algorithmOid = algorithm;
  // getTBSCertificate is public in node-forge but missing from its type declarations.
  const { getTBSCertificate } = forge.pki as unknown as { getTBSCertificate(certificate: forge.pki.Certificate): forge.asn1.Asn1 };
  const tbs = Buffer.from(forge.asn1.toDer(getTBSCertificate(certificate)).getBytes(), "binary");
  fields.signature = sign("sha256", tbs, privateKey).toString("binary");
}
