/**
 * Write a service's credential into a request (SPEC §5 auth types, §6 "Injection replaces"). Pure: returns a new
 * path and header list, or `invalid_credential` — a value that cannot be sent as-is is never sent at all.
 */
import type { ServiceAuth } from '../agent/source.js';
import { hasLineBreakingChar, isToken, isValidHeaderValue } from './header-value.js';
import { ALWAYS_DROPPED } from './strip.js';
import { renderTemplate } from './template.js';
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
 * The secret values a request's credential is rendered from: the one value of a single-secret type, or every name
 * of {@link secretNames} mapped to its value.
 */
export type SecretValues = string | ReadonlyMap<string, string>;

/**
 * Inject the credential as `auth` says:
 * - `bearer` ⇒ `Authorization: Bearer <secret>`;
 * - `api_key_header` ⇒ `<header>: <prefix><secret>`;
 * - `api_key_query` ⇒ query parameter `<param>=<percent-encoded secret>`;
 * - `basic` ⇒ `Authorization: Basic base64(<user>:<secret>)` (RFC 7617, UTF-8), the user a literal or a secret;
 * - `template` ⇒ the rendered template as `<header>: <value>` or query parameter `<query>=<percent-encoded value>`.
 *
 * The credential replaces what the client sent: every header of that name is removed (case-insensitively)
 * before ours is appended last; every query parameter whose decoded name equals `param` is removed and ours is
 * appended at the end of the query (`?a=1&key=c&b=2` ⇒ `?a=1&b=2&key=<ours>`), the other parameters kept
 * byte-for-byte and in order (empty `&&` pieces carry nothing and are dropped).
 *
 * `invalid_credential` when: a secret value — for a template, the rendered value — holds CR, LF or NUL (SPEC §6;
 * checked for every type, the query ones too, since such a value is broken whatever the encoding); a basic user
 * holds a colon (RFC 7617 §2); the header value has any other character RFC 9110 does not allow; the header name is
 * not a token or is reserved; the query param is empty; a value is missing; or a value is not well-formed Unicode (a
 * lone surrogate cannot be percent-encoded as UTF-8). Expects a `path` already accepted by `parseRequestTarget`
 * (origin-form, no `#`).
 */
export function inject(req: InjectRequest, auth: ServiceAuth, values: SecretValues): Step<Injected> {
  const get = (name: string): string | undefined => (typeof values === 'string' ? values : values.get(name));
  switch (auth.type) {
    case 'bearer':
    case 'api_key_header':
    case 'api_key_query': {
      const secret = get(auth.secret);
      if (secret === undefined || hasLineBreakingChar(secret)) return deny('invalid_credential');
      if (auth.type === 'bearer') return injectHeader(req, 'Authorization', `Bearer ${secret}`);
      if (auth.type === 'api_key_header') return injectHeader(req, auth.header, auth.prefix + secret);
      return injectQuery(req, auth.param, secret);
    }
    case 'basic': {
      const secret = get(auth.secret);
      const user = auth.usernameSecret === undefined ? auth.username : get(auth.usernameSecret);
      if (secret === undefined || user === undefined) return deny('invalid_credential');
      if (hasLineBreakingChar(user) || hasLineBreakingChar(secret) || user.includes(':')) {
        return deny('invalid_credential');
      }
      if (!isWellFormed(user) || !isWellFormed(secret)) return deny('invalid_credential');
      return injectHeader(
        req,
        'Authorization',
        `Basic ${Buffer.from(`${user}:${secret}`, 'utf8').toString('base64')}`,
      );
    }
    case 'template': {
      const value = typeof values === 'string' ? undefined : renderTemplate(auth.parts, values);
      // The guard applies to the rendered value: a secret may not smuggle a line break in through a template.
      if (value === undefined || hasLineBreakingChar(value)) return deny('invalid_credential');
      if (auth.header !== undefined) return injectHeader(req, auth.header, value);
      return injectQuery(req, auth.query ?? '', value);
    }
  }
}

// A lone surrogate would be encoded as U+FFFD by Buffer.from: the upstream would get a credential nobody wrote.
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
function isWellFormed(s: string): boolean {
  return !LONE_SURROGATE.test(s);
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
