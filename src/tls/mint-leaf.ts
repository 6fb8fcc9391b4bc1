/**
 * Mint a leaf certificate for one intercepted host (SPEC §4): signed by the proxy CA, 128-bit random serial,
 * valid from 1 h ago to 7 days on but never past the CA, SAN = the DNS name or IP address, extKeyUsage
 * serverAuth, keyUsage digitalSignature (critical), basicConstraints CA:false, authorityKeyIdentifier.
 *
 * Chain choice: the TLS server sends the leaf alone. Clients are told to trust the CA itself (docs/ca.md), so
 * they already hold the only other certificate in the path; sending it again would cost bytes on every
 * handshake and prove nothing.
 */
import type { HostKind } from '../net/host-port.js';
import type { CaMaterial } from './ca-validate.js';
import {
  AuthorityKeyIdentifierExtension,
  BasicConstraintsExtension,
  type CryptoKey,
  EC_P256,
  ECDSA_SHA256,
  ExtendedKeyUsage,
  ExtendedKeyUsageExtension,
  type JsonGeneralName,
  KeyUsageFlags,
  KeyUsagesExtension,
  type Name,
  X509Certificate as PeculiarCertificate,
  PublicKey,
  pkcs8ToPem,
  randomSerialHex,
  SubjectAlternativeNameExtension,
  SubjectKeyIdentifierExtension,
  webcrypto,
  withNewline,
  X509CertificateGenerator,
} from './x509.js';

/** The key every leaf of one minter shares (SPEC §4): generating a P-256 key per host would be wasted work. */
export interface LeafKey {
  readonly privateKey: CryptoKey;
  /** The public half as SubjectPublicKeyInfo, exported once so minting does not re-export it per leaf. */
  readonly publicKey: PublicKey;
  /** PKCS#8 PEM for `tls.createSecureContext`. Never logged. */
  readonly keyPem: string;
}

/** A minted leaf: PEM plus the instant it stops being valid, so the cache can re-mint before then. */
export interface MintedLeaf {
  readonly certPem: string;
  readonly notAfter: Date;
}

/** Leaves are backdated an hour for clients whose clocks run slightly behind. */
export const LEAF_BACKDATE_MS = 60 * 60 * 1000;
/** SPEC §4: seven days; short enough that a leaked leaf key is worth little, long enough to cache well. */
export const LEAF_VALIDITY_MS = 7 * 24 * 60 * 60 * 1000;
/** X.520 ub-common-name. The SAN is what clients match on; the CN is a label and may be cut short. */
const CN_MAX = 64;

/** Create the leaf key of one minter instance. Extractable only so the PKCS#8 PEM can be handed to node:tls. */
export async function createLeafKey(): Promise<LeafKey> {
  const pair = await webcrypto.subtle.generateKey(EC_P256, true, ['sign', 'verify']);
  const [pkcs8, spki] = await Promise.all([
    webcrypto.subtle.exportKey('pkcs8', pair.privateKey),
    webcrypto.subtle.exportKey('spki', pair.publicKey),
  ]);
  return { privateKey: pair.privateKey, publicKey: new PublicKey(spki), keyPem: pkcs8ToPem(pkcs8) };
}

/** What every leaf of one CA shares: the issuer name (byte for byte) and the AKI built from the CA's key. */
interface IssuerParts {
  readonly name: Name;
  readonly aki: AuthorityKeyIdentifierExtension;
}

// Keyed by the CaMaterial object, so each CA is parsed once and dropped with it; no state outlives a CA, and
// separate proxies in one process never share anything but what they pass in.
const issuerMemo = new WeakMap<CaMaterial, Promise<IssuerParts>>();

async function buildIssuerParts(ca: CaMaterial): Promise<IssuerParts> {
  const cert = new PeculiarCertificate(ca.cert.raw);
  // RFC 5280 §4.2.1.1: the AKI carries the issuer's SKI. Our CAs always have one; an operator-placed CA
  // without it gets the SHA-1 key id of its public key (§4.2.1.2 method 1), what most tools would have written.
  const ski = cert.getExtension(SubjectKeyIdentifierExtension)?.keyId;
  const aki = ski
    ? new AuthorityKeyIdentifierExtension(ski)
    : await AuthorityKeyIdentifierExtension.create(cert.publicKey);
  // The parsed subject is reused as is, so the leaf's issuer field is byte-identical to the CA's subject.
  return { name: cert.subjectName, aki };
}

function issuerParts(ca: CaMaterial): Promise<IssuerParts> {
  let parts = issuerMemo.get(ca);
  if (!parts) {
    parts = buildIssuerParts(ca);
    issuerMemo.set(ca, parts);
    // A failed parse is not remembered: the next mint tries again rather than failing forever.
    parts.catch(() => issuerMemo.delete(ca));
  }
  return parts;
}

/**
 * Mint a leaf for `host` (already normalised by net/host-port.ts) signed by `ca`. `kind` decides whether the
 * SAN is a dNSName or an iPAddress. Throws when the CA has expired: a leaf must never outlive its issuer.
 */
export async function mintLeaf(
  ca: CaMaterial,
  leafKey: LeafKey,
  host: string,
  kind: HostKind,
  now: Date = new Date(),
): Promise<MintedLeaf> {
  const notBefore = new Date(now.getTime() - LEAF_BACKDATE_MS);
  const notAfter = new Date(Math.min(now.getTime() + LEAF_VALIDITY_MS, ca.notAfter.getTime()));
  if (notAfter.getTime() <= now.getTime()) throw new Error('cannot mint a leaf: the CA has expired');
  const issuer = await issuerParts(ca);
  const san: JsonGeneralName = { type: kind === 'name' ? 'dns' : 'ip', value: host };
  const cert = await X509CertificateGenerator.create({
    serialNumber: randomSerialHex(),
    subject: [{ CN: [host.slice(0, CN_MAX)] }],
    issuer: issuer.name,
    notBefore,
    notAfter,
    publicKey: leafKey.publicKey,
    signingKey: ca.key,
    signingAlgorithm: ECDSA_SHA256,
    extensions: [
      new BasicConstraintsExtension(false, undefined, true),
      new KeyUsagesExtension(KeyUsageFlags.digitalSignature, true),
      new ExtendedKeyUsageExtension([ExtendedKeyUsage.serverAuth], false),
      new SubjectAlternativeNameExtension([san], false),
      issuer.aki,
    ],
  });
  return { certPem: withNewline(cert.toString('pem')), notAfter };
}
