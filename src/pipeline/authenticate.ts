/**
 * Workload authentication (SPEC §2, §6; issue 12 "Per-workload identity"): `Proxy-Authorization: Basic
 * base64(user:token)`. The username is the workload's identity. With an identity table from the agent, the token
 * must be that identity's; without one, every username shares `CLEF_PROXY_TOKEN`. Pure; a wrong or malformed
 * credential is a failed {@link AuthResult}, never an exception.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { IDENTITY_NAME_RE, type IdentityTable } from '../agent/identities.js';

// RFC 4648 §4 alphabet with padding, as RFC 7617 §2 requires; Buffer.from(…, 'base64') alone would skip junk.
const BASE64_RE = /^[A-Za-z0-9+/]+={0,2}$/;
// `Basic` is case-insensitive (RFC 9110 §11.1), followed by one or more spaces (§11.4 credentials).
const BASIC_RE = /^basic +(\S+)$/i;
const COLON = 0x3a;
const UTF8 = new TextDecoder('utf-8', { fatal: true });
// Compared against when the username is unknown, so an unknown name costs what a known one does.
const NO_DIGEST = Buffer.alloc(32);

/** The outcome: admitted, with the identity (null = anonymous), or refused (407). */
export type AuthResult = { readonly ok: true; readonly identity: string | null } | { readonly ok: false };

const REFUSED: AuthResult = Object.freeze({ ok: false });
const ANONYMOUS: AuthResult = Object.freeze({ ok: true, identity: null });

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

/** Split a Basic credential into raw user and password bytes; undefined when it is not one. */
function parseBasic(header: string | undefined): { user: Buffer; password: Buffer } | undefined {
  if (header === undefined) return undefined;
  const encoded = BASIC_RE.exec(header)?.[1];
  if (encoded === undefined || encoded.length % 4 !== 0 || !BASE64_RE.test(encoded)) return undefined;
  // Raw bytes, not a decoded string: invalid UTF-8 must not collapse onto the token's text.
  const decoded = Buffer.from(encoded, 'base64');
  const colon = decoded.indexOf(COLON);
  if (colon < 0) return undefined;
  return { user: decoded.subarray(0, colon), password: decoded.subarray(colon + 1) };
}

/** The username as an identity name, or null when it cannot be one (empty, invalid UTF-8, spaces, controls). */
function nameOf(user: Buffer): string | null {
  if (user.length === 0) return null;
  let name: string;
  try {
    name = UTF8.decode(user);
  } catch {
    return null;
  }
  return IDENTITY_NAME_RE.test(name) ? name : null;
}

/**
 * The identity whose token `password` is, or null. Constant time in what matters: the digest comparison runs
 * whether or not the name is known, and the result does not say which of the two failed.
 */
function verify(user: Buffer, password: Buffer, table: IdentityTable): string | null {
  const name = nameOf(user);
  const expected = name === null ? undefined : table.byName.get(name);
  // Both are 32-byte digests, so timingSafeEqual cannot throw on a length mismatch.
  const presented = sha256(password);
  const same = timingSafeEqual(presented, expected ?? NO_DIGEST);
  return same && expected !== undefined && password.length > 0 ? name : null;
}

/**
 * Authenticate a workload and name it.
 *
 * - `identities` set (the agent serves `/v1/identities`): the username must be a listed identity and the password
 *   its token (SHA-256 compared in constant time); `CLEF_PROXY_TOKEN` opens nothing then.
 * - no table: the password must be the workload token; the username, when it is a valid name, is the identity
 *   (a label every holder of the token can claim), else the connection is anonymous (identity null).
 * - auth waived (`token` null, SPEC §9): always admitted; the identity is what the same rules would prove — a
 *   verified table identity, or the claimed username when there is no table — and anonymous otherwise.
 *
 * The password is everything after the FIRST colon, so a token may itself contain colons. Empty passwords never
 * match: §1 refuses empty tokens at startup (exit 4), and this keeps an empty digest from ever opening the door.
 *
 * @param proxyAuthorization the header value as parsed by `parse-head.ts` (trimmed), or undefined when absent
 * @param token the digest from {@link prepareToken}, or null when workload auth is waived
 * @param identities the agent's identity table, or undefined when it serves none
 */
export function authenticate(
  proxyAuthorization: string | undefined,
  token: Buffer | null,
  identities?: IdentityTable,
): AuthResult {
  const cred = parseBasic(proxyAuthorization);
  if (identities !== undefined) {
    const identity = cred === undefined ? null : verify(cred.user, cred.password, identities);
    if (identity !== null) return { ok: true, identity };
    return token === null ? ANONYMOUS : REFUSED;
  }
  if (token === null) return cred === undefined ? ANONYMOUS : { ok: true, identity: nameOf(cred.user) };
  if (cred === undefined) return REFUSED;
  const password = cred.password;
  if (password.length === 0) return REFUSED;
  const given = sha256(password);
  // Both digests are 32 bytes, so timingSafeEqual cannot throw on a length mismatch.
  const same = given.length === token.length && timingSafeEqual(given, token);
  return same ? { ok: true, identity: nameOf(cred.user) } : REFUSED;
}
