/**
 * Generate a new proxy CA (SPEC §4): ECDSA P-256, 10 years, `CN=Clef Proxy CA (<hostname>)`,
 * basicConstraints CA:true pathlen 0 (critical), keyUsage keyCertSign+cRLSign (critical), subjectKeyIdentifier.
 * Pure apart from randomness: it returns PEM text and never touches the file system (that is `ca-store.ts`).
 */
import { hostname as osHostname } from 'node:os';
import {
  BasicConstraintsExtension,
  EC_P256,
  ECDSA_SHA256,
  KeyUsageFlags,
  KeyUsagesExtension,
  pkcs8ToPem,
  randomSerialHex,
  SubjectKeyIdentifierExtension,
  webcrypto,
  withNewline,
  X509CertificateGenerator,
} from './x509.js';

/** A CA as the two files hold it: certificate PEM and PKCS#8 private key PEM. */
export interface CaPems {
  readonly certPem: string;
  readonly keyPem: string;
}

/** Inputs a test or the CLI may pin; both default to the machine's own. */
export interface GenerateCaOptions {
  /** Goes into the subject CN so a user can tell CAs of different machines apart. Default `os.hostname()`. */
  readonly hostname?: string;
  /** The moment the CA is made; tests pass a past date to produce an expired CA. Default now. */
  readonly now?: Date;
  /** Validity in whole years from `now` (SPEC §4: 10). Tests shorten it to build a CA that expires soon. */
  readonly validityYears?: number;
  /** Extra validity in milliseconds, added after the years; lets a test make a CA that expires in 2 days. */
  readonly extraValidityMs?: number;
}

/** SPEC §4: the CA lives ten years. */
export const CA_VALIDITY_YEARS = 10;

/** notBefore is backdated one hour so a client whose clock runs a little behind still accepts the CA. */
export const CA_BACKDATE_MS = 60 * 60 * 1000;

/** X.520 ub-common-name: a CN longer than 64 characters is invalid and some parsers reject it. */
export const CN_MAX = 64;

const CN_PREFIX = 'Clef Proxy CA (';
const CN_SUFFIX = ')';

/** The subject CN for `hostname`, with the hostname shortened so the whole CN stays within {@link CN_MAX}. */
export function caCommonName(hostname: string): string {
  const room = CN_MAX - CN_PREFIX.length - CN_SUFFIX.length;
  return `${CN_PREFIX}${hostname.slice(0, room)}${CN_SUFFIX}`;
}

/** Add whole calendar years in UTC (a leap day rolls to 1 March, which is fine for a 10-year CA). */
function addYears(date: Date, years: number): Date {
  const out = new Date(date.getTime());
  out.setUTCFullYear(out.getUTCFullYear() + years);
  return out;
}

/**
 * Make a new CA key pair and self-signed certificate. The key is generated extractable only so it can be
 * written out as PKCS#8; the store re-imports it non-extractable when it loads the pair.
 */
export async function generateCa(opts: GenerateCaOptions = {}): Promise<CaPems> {
  const now = opts.now ?? new Date();
  const notBefore = new Date(now.getTime() - CA_BACKDATE_MS);
  const notAfter = new Date(
    addYears(now, opts.validityYears ?? CA_VALIDITY_YEARS).getTime() + (opts.extraValidityMs ?? 0),
  );
  const keys = await webcrypto.subtle.generateKey(EC_P256, true, ['sign', 'verify']);
  const cert = await X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerialHex(),
    // JSON form, not a DN string: a hostname holding `,` or `+` must not be parsed as DN syntax.
    name: [{ CN: [caCommonName(opts.hostname ?? osHostname())] }],
    notBefore,
    notAfter,
    keys,
    signingAlgorithm: ECDSA_SHA256,
    extensions: [
      new BasicConstraintsExtension(true, 0, true),
      new KeyUsagesExtension(KeyUsageFlags.keyCertSign | KeyUsageFlags.cRLSign, true),
      await SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  const pkcs8 = await webcrypto.subtle.exportKey('pkcs8', keys.privateKey);
  return { certPem: withNewline(cert.toString('pem')), keyPem: pkcs8ToPem(pkcs8) };
}
