/**
 * Write a service's credential into a request (SPEC §5 auth types, §6 "Injection replaces"). Pure: returns a new
 * path and header list, or `invalid_credential` — a value that cannot be sent as-is is never sent at all.
 */
import type { ServiceAuth } from '../agent/source.js';
import { hasLineBreakingChar, isToken, isValidHeaderValue } from './header-value.js';
import { ALWAYS_DROPPED } from './strip.js';
import { deny, ok, type Step } from './types.js';

/** The parts of a request injection reads: the raw target (path and query) and Node's flat `rawHeaders`. */
export interface InjectRequest {
  readonly path: string;
  readonly rawHeaders: readonly string[];
}

/** The request after injection: new values, the input untouched. */
export interface Injected {
  readonly path: string;
  readonly rawHeaders: string[];
}

// Header names a service may not inject into: the hop-by-hop and proxy-addressed names that `stripHeaders`
// removes, plus `host` and `content-length`, which route and frame the request. The service schema should refuse
// these at load; this is the last line, so a bad definition fails closed per request instead of corrupting one.
const RESERVED: ReadonlySet<string> = new Set([...ALWAYS_DROPPED, 'host', 'content-length']);

/**
 * Inject `secret` as `auth` says:
 * - `bearer` ⇒ `Authorization: Bearer <secret>`;
 * - `api_key_header` ⇒ `<header>: <prefix><secret>`;
 * - `api_key_query` ⇒ query parameter `<param>=<percent-encoded secret>`.
 *
 * The credential replaces what the client sent: every header of that name is removed (case-insensitively)
 * before ours is appended last; every query parameter whose decoded name equals `param` is removed and ours is
 * appended at the end of the query (`?a=1&key=c&b=2` ⇒ `?a=1&b=2&key=<ours>`), the other parameters kept
 * byte-for-byte and in order (empty `&&` pieces carry nothing and are dropped).
 *
 * `invalid_credential` when: the secret holds CR, LF or NUL (SPEC §6; checked for every type, the query one
 * too, since such a value is broken whatever the encoding); the header value has any other character RFC 9110
 * does not allow; the header name is not a token or is reserved; the query param is empty; or the secret is not
 * well-formed Unicode (a lone surrogate cannot be percent-encoded as UTF-8). Expects a `path` already accepted
 * by `parseRequestTarget` (origin-form, no `#`).
 */
export function inject(req: InjectRequest, auth: ServiceAuth, secret: string): Step<Injected> {
  if (hasLineBreakingChar(secret)) return deny('invalid_credential');
  switch (auth.type) {
    case 'bearer':
      return injectHeader(req, 'Authorization', `Bearer ${secret}`);
    case 'api_key_header':
      return injectHeader(req, auth.header, auth.prefix + secret);
    case 'api_key_query':
      return injectQuery(req, auth.param, secret);
  }
}

function injectHeader(req: InjectRequest, name: string, value: string): Step<Injected> {
  const lower = name.toLowerCase();
  if (!isToken(name) || RESERVED.has(lower) || !isValidHeaderValue(value)) return deny('invalid_credential');
  const raw = req.rawHeaders;
  const out: string[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const n = raw[i]!;
    if (n.length === lower.length && n.toLowerCase() === lower) continue;
    out.push(n, raw[i + 1]!);
  }
  out.push(name, value);
  return ok({ path: req.path, rawHeaders: out });
}

function injectQuery(req: InjectRequest, param: string, secret: string): Step<Injected> {
  if (param === '') return deny('invalid_credential');
  let pair: string;
  try {
    pair = `${encodeURIComponent(param)}=${encodeURIComponent(secret)}`;
  } catch {
    // URIError: a lone surrogate. Caught without binding the error, whose message could echo the input.
    return deny('invalid_credential');
  }
  const q = req.path.indexOf('?');
  let kept = '';
  if (q >= 0) {
    for (const piece of req.path.slice(q + 1).split('&')) {
      if (piece === '' || queryName(piece) === param) continue;
      kept += `${piece}&`;
    }
  }
  const base = q < 0 ? req.path : req.path.slice(0, q);
  return ok({ path: `${base}?${kept}${pair}`, rawHeaders: [...req.rawHeaders] });
}

/**
 * The decoded name of one `name=value` query piece, decoded as servers decode it (WHATWG
 * application/x-www-form-urlencoded: `+` is a space, invalid `%` sequences stay literal) so that a client's
 * `api%5Fkey=x` or `api+key` cannot survive next to our `api_key`. Pieces with nothing to decode skip the parser.
 */
function queryName(piece: string): string {
  const eq = piece.indexOf('=');
  const raw = eq < 0 ? piece : piece.slice(0, eq);
  if (!raw.includes('%') && !raw.includes('+')) return raw;
  for (const name of new URLSearchParams(raw).keys()) return name;
  return raw;
}
