/**
 * Checks for the shipping audit sinks' fields (docs/audit.md): the receiver URL, header names, and header values
 * that may reference environment variables (`$NAME`, `${NAME}`, `$$` for a literal `$`) so no secret has to sit
 * in the config file. Messages never quote a URL or a header value: either may carry a credential.
 */
import { isLoopbackHost } from '../net/loopback.js';

/** RFC 9110 §5.6.2 `token`: the characters a field name may use. */
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/**
 * Headers the sink writes itself or that frame the message (RFC 9112 §6, §7.6.1): a config value for these would
 * either be overwritten or corrupt the request, so they are refused up front.
 */
const RESERVED = new Set([
  'host',
  'content-length',
  'transfer-encoding',
  'connection',
  'keep-alive',
  'te',
  'trailer',
  'upgrade',
  'expect',
  'idempotency-key',
  'proxy-authorization',
  'proxy-connection',
]);

const NAME = /[A-Za-z_][A-Za-z0-9_]*/y;

/** Why `name` cannot be a configured header, or undefined. */
export function headerNameProblem(name: string): string | undefined {
  if (!TOKEN.test(name)) return 'not a valid header name';
  if (RESERVED.has(name.toLowerCase())) return 'set by clef-proxy itself; not configurable';
  return undefined;
}

type Piece = { readonly text: string } | { readonly variable: string };

/** Split a header value template into literal text and variable references; a string is the problem. */
function pieces(template: string): Piece[] | string {
  const out: Piece[] = [];
  let i = 0;
  let text = '';
  while (i < template.length) {
    const c = template[i]!;
    if (c !== '$') {
      text += c;
      i++;
      continue;
    }
    if (template[i + 1] === '$') {
      text += '$';
      i += 2;
      continue;
    }
    const braced = template[i + 1] === '{';
    NAME.lastIndex = braced ? i + 2 : i + 1;
    const m = NAME.exec(template);
    if (!m || (braced && template[NAME.lastIndex] !== '}')) {
      // biome-ignore lint/suspicious/noTemplateCurlyInString: the ${NAME} syntax is named, not interpolated
      return 'invalid variable reference: use $NAME, ${NAME}, or $$ for a literal $';
    }
    if (text !== '') out.push({ text });
    text = '';
    out.push({ variable: m[0] });
    i = NAME.lastIndex + (braced ? 1 : 0);
  }
  if (text !== '') out.push({ text });
  return out;
}

/** Why `template` is not a valid header value template, or undefined. Never quotes the value. */
export function headerValueProblem(template: string): string | undefined {
  const p = pieces(template);
  if (typeof p === 'string') return p;
  // RFC 9110 §5.5: CR, LF and NUL can split or truncate the header block.
  if (/[\r\n\0]/.test(template)) return 'must not contain CR, LF or NUL';
  return undefined;
}

/** A template with its variables replaced, or the first variable that is unset or empty. */
export type Expanded =
  | { readonly ok: true; readonly value: string }
  | { readonly ok: false; readonly missing: string }
  | { readonly ok: false; readonly invalid: string };

/** Replace every `$NAME` / `${NAME}` in a checked template with `lookup(NAME)`. */
export function expandHeaderValue(template: string, lookup: (name: string) => string | undefined): Expanded {
  const p = pieces(template);
  if (typeof p === 'string') return { ok: false, invalid: p };
  let value = '';
  for (const piece of p) {
    if ('text' in piece) {
      value += piece.text;
      continue;
    }
    const v = lookup(piece.variable);
    if (v === undefined || v === '') return { ok: false, missing: piece.variable };
    if (/[\r\n\0]/.test(v)) return { ok: false, invalid: `${piece.variable} contains CR, LF or NUL` };
    value += v;
  }
  return { ok: true, value };
}

/**
 * Why `text` is not an acceptable receiver URL, or undefined (docs/audit.md): `https://` anywhere, `http://` only
 * to a loopback host (a local collector or forwarder) — audit events and any configured headers must not cross
 * a network in clear text; no credentials in the URL (use a header) and no fragment. `allowQuery` is false for
 * OTLP, whose path is fixed by the protocol.
 */
export function auditUrlProblem(text: string, allowQuery: boolean): string | undefined {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return 'expected an https:// URL';
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return 'expected an https:// URL';
  if (url.hostname === '') return 'expected a host in the URL';
  if (url.protocol === 'http:' && !isLoopbackHost(url.hostname))
    return 'http:// is allowed only to a loopback address; use https://';
  if (url.username !== '' || url.password !== '')
    return 'must not contain credentials (put them in a header)';
  if (url.hash !== '') return 'must not have a fragment';
  if (!allowQuery && url.search !== '') return 'must not have a query';
  return undefined;
}
