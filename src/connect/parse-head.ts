/**
 * Classify a request head read by `read-head.ts` (SPEC §6): a strict `CONNECT host:port`, an absolute-form
 * `http://` request for forward proxying, or a 400. Pure and total: every byte sequence yields a value.
 */
import { type HostPort, parseHostPort } from '../net/host-port.js';

/** Header fields in arrival order: the name as sent, the value with its surrounding whitespace trimmed. */
export type HeadFields = ReadonlyArray<readonly [string, string]>;

/** The accepted versions. SPEC §6 writes HTTP/1.1; 1.0 is accepted too (curl `--proxy1.0` sends it). */
export type HttpVersion = 'HTTP/1.1' | 'HTTP/1.0';

export interface ConnectHead {
  readonly kind: 'connect';
  readonly target: HostPort;
  readonly version: HttpVersion;
  readonly headers: HeadFields;
  /** The single `Proxy-Authorization` value, if any (a duplicate is a 400). */
  readonly proxyAuthorization: string | undefined;
}

export interface ForwardHead {
  readonly kind: 'forward';
  /** The method as sent (case-sensitive, RFC 9110 §9.1); Node's parser judges it when it re-reads the request. */
  readonly method: string;
  /** The request-target exactly as sent (`http://host[:port]/path?query`). */
  readonly target: string;
  readonly url: { readonly host: HostPort; readonly pathWithQuery: string };
  readonly version: HttpVersion;
  readonly headers: HeadFields;
  readonly proxyAuthorization: string | undefined;
}

export interface HeadError {
  readonly kind: 'error';
  readonly code: 'bad_request';
  /** For the operational log; built from fixed text only, never from the request's bytes. */
  readonly why: string;
}

/** The outcome of {@link parseHead}. */
export type ParsedHead = ConnectHead | ForwardHead | HeadError;

// RFC 9110 §5.6.2: token = 1*tchar.
const TOKEN_RE = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// A request-target is visible ASCII only (RFC 9112 §3.2); non-ASCII hosts must arrive already in punycode.
const TARGET_RE = /^[\x21-\x7e]+$/;
// RFC 9110 §5.5 field-value: no CTLs but HTAB (CR, LF and NUL above all); obs-text is tolerated.
const BAD_VALUE_RE = /[\x00-\x08\x0a-\x1f\x7f]/;
// CONNECT's authority-form must name its port (RFC 9112 §3.2.3). Checked here because `parseHostPort(t, undefined)`
// falls back to its default parameter (443) when handed `undefined`.
const EXPLICIT_PORT_RE = /:[0-9]+$/;
const CONTENT_LENGTH_RE = /^[0-9]+$/;
const VERSIONS: ReadonlySet<string> = new Set(['HTTP/1.1', 'HTTP/1.0']);
const TERMINATOR = '\r\n\r\n';

function error(why: string): HeadError {
  return { kind: 'error', code: 'bad_request', why };
}

/**
 * Parse a head (request line and header fields, ending in CRLFCRLF). Never throws.
 *
 * Strictness (SPEC §6): one space between the three request-line parts; `CONNECT` upper-case only; every line
 * ends in CRLF; header names are tokens with no space before the colon (RFC 9112 §5.1); no obs-fold; no CTL but
 * HTAB in values; one `Proxy-Authorization` at most; a CONNECT carries no body framing. Absolute-form `http://`
 * requests are only classified: their headers are checked for validity here and parsed for real by Node later.
 */
export function parseHead(head: Buffer): ParsedHead {
  if (head[0] === 0x16) return error('TLS handshake without CONNECT');
  // latin1 maps each byte to one code unit, so the checks below see the bytes exactly as sent.
  const text = head.toString('latin1');
  if (!text.endsWith(TERMINATOR)) return error('head does not end in CRLFCRLF');
  const lines = text.slice(0, -TERMINATOR.length).split('\r\n');
  const requestLine = lines[0] ?? '';
  const parts = requestLine.split(' ');
  if (parts.length !== 3) return error('request line must be three parts separated by single spaces');
  const [method = '', target = '', version = ''] = parts;
  if (!TOKEN_RE.test(method)) return error('method is not a token');
  if (!TARGET_RE.test(target)) return error('request-target holds non-visible or non-ASCII bytes');
  if (!VERSIONS.has(version)) return error('unsupported HTTP version');
  const fields = parseFields(lines);
  if (typeof fields === 'string') return error(fields);
  const { headers, proxyAuthorization } = fields;
  const httpVersion = version as HttpVersion;

  if (method === 'CONNECT') {
    const framing = connectFraming(headers);
    if (framing) return error(framing);
    if (!EXPLICIT_PORT_RE.test(target)) return error('CONNECT target has no port');
    const parsed = parseHostPort(target, null);
    if (!parsed.ok) return error('CONNECT target is not host:port');
    return { kind: 'connect', target: parsed.value, version: httpVersion, headers, proxyAuthorization };
  }
  if (method.toUpperCase() === 'CONNECT') return error('method CONNECT must be upper-case');
  const url = parseAbsoluteHttp(target);
  if (typeof url === 'string') return error(url);
  return { kind: 'forward', method, target, url, version: httpVersion, headers, proxyAuthorization };
}

interface Fields {
  readonly headers: HeadFields;
  readonly proxyAuthorization: string | undefined;
}

/** Header lines after the request line, or the reason they are malformed. */
function parseFields(lines: readonly string[]): Fields | string {
  const headers: Array<readonly [string, string]> = [];
  let proxyAuthorization: string | undefined;
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i] ?? '';
    if (line.length === 0) return 'empty line inside the head';
    // A CR left after splitting on CRLF is a bare CR; a bare LF is caught here too (SPEC §6).
    if (line.includes('\r') || line.includes('\n')) return 'line not terminated by CRLF';
    if (line[0] === ' ' || line[0] === '\t') return 'obsolete line folding';
    const colon = line.indexOf(':');
    if (colon < 0) return 'header line without a colon';
    const name = line.slice(0, colon);
    if (!TOKEN_RE.test(name)) return 'header name is not a token';
    const value = line.slice(colon + 1).replace(/^[ \t]+|[ \t]+$/g, '');
    if (BAD_VALUE_RE.test(value)) return 'control character in a header value';
    if (name.toLowerCase() === 'proxy-authorization') {
      // Two credentials leave the decision to whichever one a later hop reads: refuse the ambiguity.
      if (proxyAuthorization !== undefined) return 'duplicate Proxy-Authorization';
      proxyAuthorization = value;
    }
    headers.push([name, value]);
  }
  return { headers, proxyAuthorization };
}

/**
 * A CONNECT has no content (RFC 9110 §9.3.6). Framing headers on one are smuggling-shaped: the bytes after the
 * head would mean one thing to us (tunnel data) and another to a hop that honours the framing.
 */
function connectFraming(headers: HeadFields): string | undefined {
  let lengths = 0;
  for (const [name, value] of headers) {
    const lower = name.toLowerCase();
    if (lower === 'transfer-encoding') return 'Transfer-Encoding on CONNECT';
    if (lower === 'content-length') {
      lengths++;
      if (!CONTENT_LENGTH_RE.test(value) || Number(value) !== 0 || lengths > 1) {
        return 'Content-Length on CONNECT';
      }
    }
  }
  return undefined;
}

/** Split an absolute-form `http://authority[/path][?query]` target (RFC 9112 §3.2.2); port 80 by default. */
function parseAbsoluteHttp(target: string): ForwardHead['url'] | string {
  const sep = target.indexOf('://');
  if (sep < 0) return 'request-target is not absolute-form';
  // The scheme is case-insensitive (RFC 3986 §3.1).
  const scheme = target.slice(0, sep).toLowerCase();
  if (scheme === 'https') return 'https:// absolute-form: use CONNECT';
  if (scheme !== 'http') return 'request-target scheme is not http';
  const afterScheme = target.slice(sep + 3);
  if (afterScheme.includes('#')) return 'fragment in request-target';
  const end = afterScheme.search(/[/?]/);
  const authority = end < 0 ? afterScheme : afterScheme.slice(0, end);
  const tail = end < 0 ? '' : afterScheme.slice(end);
  const host = parseHostPort(authority, 80);
  if (!host.ok) return 'request-target authority is not host[:port]';
  const pathWithQuery = tail === '' ? '/' : tail.startsWith('?') ? `/${tail}` : tail;
  return { host: host.value, pathWithQuery };
}
