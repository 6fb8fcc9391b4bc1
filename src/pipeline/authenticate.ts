/**
 * Workload authentication (SPEC §2, §6): `Proxy-Authorization: Basic base64(user:token)` against
 * `CLEF_PROXY_TOKEN`. Pure; a wrong or malformed credential is `false`, never an exception.
 */
import { createHash, timingSafeEqual } from 'node:crypto';

// RFC 4648 §4 alphabet with padding, as RFC 7617 §2 requires; Buffer.from(…, 'base64') alone would skip junk.
const BASE64_RE = /^[A-Za-z0-9+/]+={0,2}$/;
// `Basic` is case-insensitive (RFC 9110 §11.1), followed by one or more spaces (§11.4 credentials).
const BASIC_RE = /^basic +(\S+)$/i;
const COLON = 0x3a;

function sha256(data: Buffer | string): Buffer {
  return createHash('sha256').update(data).digest();
}

/**
 * Digest the workload token once at startup, so {@link authenticate} compares two fixed-length values and
 * neither the token's length nor its bytes shape the comparison's timing. The token itself is not kept.
 */
export function prepareToken(token: string): Buffer {
  return sha256(Buffer.from(token, 'utf8'));
}

/**
 * True when `proxyAuthorization` carries the workload token, or when auth is waived (`token` null: the Lambda
 * loopback exception, SPEC §9). The username is ignored in v1 (SPEC §2); the password is everything after the
 * FIRST colon, so a token may itself contain colons. Empty passwords never match: §1 refuses empty tokens at
 * startup (exit 4), and this keeps an empty digest from ever opening the door. Never throws.
 *
 * @param proxyAuthorization the header value as parsed by `parse-head.ts` (trimmed), or undefined when absent
 * @param token the digest from {@link prepareToken}, or null when workload auth is waived
 */
export function authenticate(proxyAuthorization: string | undefined, token: Buffer | null): boolean {
  if (token === null) return true;
  if (proxyAuthorization === undefined) return false;
  const match = BASIC_RE.exec(proxyAuthorization);
  const encoded = match?.[1];
  if (encoded === undefined || encoded.length % 4 !== 0 || !BASE64_RE.test(encoded)) return false;
  // Compare raw bytes, not a decoded string: invalid UTF-8 must not collapse onto the token's text.
  const decoded = Buffer.from(encoded, 'base64');
  const colon = decoded.indexOf(COLON);
  if (colon < 0) return false;
  const password = decoded.subarray(colon + 1);
  if (password.length === 0) return false;
  const given = sha256(password);
  // Both digests are 32 bytes, so timingSafeEqual cannot throw on a length mismatch.
  return given.length === token.length && timingSafeEqual(given, token);
}
