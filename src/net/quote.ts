/**
 * Quote a piece of untrusted input for an error message: JSON string syntax (so CR, LF, ANSI escapes and other
 * control characters cannot break the one-line-per-issue contract of SPEC §1), at most 80 characters, and with
 * anything that looks like URL userinfo (`user:pass@`) replaced — a proxy URL pasted into the wrong field must
 * not print its password.
 */
const MAX = 80;

export function quoteInput(text: string): string {
  let safe = text;
  const at = safe.lastIndexOf('@');
  if (at >= 0) {
    const scheme = safe.indexOf('://');
    const start = scheme >= 0 && scheme < at ? scheme + 3 : 0;
    safe = `${safe.slice(0, start)}[redacted]${safe.slice(at)}`;
  }
  if (safe.length > MAX) safe = `${safe.slice(0, MAX)}…`;
  return JSON.stringify(safe);
}
