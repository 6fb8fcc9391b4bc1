/**
 * Header syntax checks (RFC 9110 §5.1, §5.5), used before the proxy writes a value it did not receive from the
 * client — an injected credential (SPEC §6: CR, LF or NUL ⇒ `invalid_credential`, never sent). Modelled on
 * undici `core/util.js isValidHeaderValue`.
 */

// field-value characters (RFC 9110 §5.5): HTAB, SP, VCHAR (0x21–0x7E) and obs-text (0x80–0xFF). Everything else
// — NUL, CR, LF, the other controls, DEL and code points above 0xFF that cannot travel as a single octet — is
// invalid. Compiled once at module load.
const INVALID_VALUE_CHAR = /[^\t\x20-\x7e\x80-\xff]/;

// tchar (RFC 9110 §5.6.2): the characters of a header name.
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

// CR, LF and NUL: the characters that would split a header or a request line (response splitting/smuggling).
const LINE_BREAKING = /[\r\n\0]/;

/**
 * True when `v` may be sent as a header field value: only HTAB, SP, visible ASCII and obs-text. Leading or
 * trailing whitespace is allowed here (the receiver strips it as OWS); the empty string is valid.
 */
export function isValidHeaderValue(v: string): boolean {
  return !INVALID_VALUE_CHAR.test(v);
}

/** True when `name` is a non-empty RFC 9110 token, i.e. a valid header field name. */
export function isToken(name: string): boolean {
  return TOKEN.test(name);
}

/** True when `v` holds CR, LF or NUL — the characters SPEC §6 singles out in a secret. */
export function hasLineBreakingChar(v: string): boolean {
  return LINE_BREAKING.test(v);
}
