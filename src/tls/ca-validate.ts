/**
 * Turn a CA's two PEM texts into a usable {@link CaMaterial}, or say exactly why they cannot be used (SPEC §4:
 * corrupt, mismatched, expired or not a CA → exit 5 in the caller). Returns a decision value; never throws.
 */
import { createPrivateKey, type KeyObject, X509Certificate } from 'node:crypto';
import { type CryptoKey, EC_P256, X509Certificate as PeculiarCertificate, webcrypto } from './x509.js';

/** A loaded, validated CA: what the leaf minter and `ca export` need. */
export interface CaMaterial {
  /** `ca.crt` exactly as stored (PEM). */
  readonly certPem: string;
  /** `ca.key` exactly as stored (PKCS#8 PEM). Never printed or logged. */
  readonly keyPem: string;
  /** The parsed certificate (node:crypto), e.g. for `raw` DER and `checkIssued`. */
  readonly cert: X509Certificate;
  /** The CA private key as a non-extractable WebCrypto ECDSA P-256 key, used only to sign leaves. */
  readonly key: CryptoKey;
  /** `AB:CD:…` upper-case colon-separated SHA-256 of the DER, as `openssl x509 -fingerprint -sha256` prints. */
  readonly fingerprint256: string;
  readonly notAfter: Date;
}

/** Why a pair was refused; `mismatch` is the one state an interrupted regenerate can leave (see ca-store.ts). */
export type CaProblem = 'corrupt_cert' | 'corrupt_key' | 'wrong_key_type' | 'mismatch' | 'not_ca' | 'expired';

/** The outcome of {@link validateCaPair}: the material, or a plain-English reason without any key bytes. */
export type CaCheck =
  | { readonly ok: true; readonly ca: CaMaterial }
  | { readonly ok: false; readonly problem: CaProblem; readonly why: string };

function fail(problem: CaProblem, why: string): CaCheck {
  return { ok: false, problem, why };
}

function parseCert(certPem: string): X509Certificate | undefined {
  // node:crypto also accepts DER bytes, but ca.crt is specified as PEM, so anything else is corrupt.
  if (!certPem.includes('-----BEGIN CERTIFICATE-----')) return undefined;
  try {
    return new X509Certificate(certPem);
  } catch {
    return undefined;
  }
}

function parseKey(keyPem: string): KeyObject | undefined {
  try {
    const key = createPrivateKey({ key: keyPem, format: 'pem' });
    return key.type === 'private' ? key : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Validate a certificate/key pair as a usable proxy CA at time `now`. Checks, in order: the certificate parses,
 * the key parses and is ECDSA P-256 (SPEC §4 fixes the algorithm, and the minter signs with ECDSA), the key
 * belongs to the certificate, the certificate is a CA, and it has not expired.
 */
export async function validateCaPair(
  certPem: string,
  keyPem: string,
  now: Date = new Date(),
): Promise<CaCheck> {
  const cert = parseCert(certPem);
  if (!cert) return fail('corrupt_cert', 'ca.crt is not a valid PEM certificate');
  const keyObject = parseKey(keyPem);
  if (!keyObject) return fail('corrupt_key', 'ca.key is not a valid PEM private key');
  const details = keyObject.asymmetricKeyDetails;
  if (keyObject.asymmetricKeyType !== 'ec' || details?.namedCurve !== 'prime256v1') {
    return fail('wrong_key_type', 'ca.key is not an ECDSA P-256 key');
  }
  if (!cert.checkPrivateKey(keyObject)) return fail('mismatch', 'ca.key does not match ca.crt');
  if (!cert.ca) return fail('not_ca', 'ca.crt is not a CA certificate (basicConstraints CA:false)');
  // node:crypto's validTo is a display string; the ASN.1 parse gives the exact instant.
  const notAfter = new PeculiarCertificate(cert.raw).notAfter;
  if (notAfter.getTime() <= now.getTime())
    return fail('expired', `ca.crt expired on ${notAfter.toISOString()}`);
  let key: CryptoKey;
  try {
    // Re-export as PKCS#8 DER so a SEC1 (`BEGIN EC PRIVATE KEY`) file hand-placed by an operator also works.
    const der = keyObject.export({ type: 'pkcs8', format: 'der' });
    key = await webcrypto.subtle.importKey('pkcs8', der, EC_P256, false, ['sign']);
  } catch {
    return fail('corrupt_key', 'ca.key could not be imported for signing');
  }
  const ca: CaMaterial = Object.freeze({
    certPem,
    keyPem,
    cert,
    key,
    fingerprint256: cert.fingerprint256,
    notAfter,
  });
  return { ok: true, ca };
}
