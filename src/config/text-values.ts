/**
 * The config's string-valued fields, parsed or checked one at a time (SPEC §3, §7): the listen addresses, host
 * entries, and the agent and upstream proxy URLs. Each returns a reason instead of throwing and never quotes the
 * value: a URL may hold a password. `schema.ts` wires them into the file's schema.
 */
import { type HostEntry, parseHostEntry } from '../net/host-pattern.js';
import { normalizeHost } from '../net/host-port.js';
import { isLoopbackHost } from '../net/loopback.js';
import { quoteInput } from '../net/quote.js';
import type { ListenAddress } from './types.js';

/** A parse result: the value, or why the text was refused. */
export type Parsed<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly reason: string };

const LISTEN_PORT_RE = /^(?:0|[1-9][0-9]{0,4})$/;
const LISTEN_SHAPE = 'expected "host:port" or "[v6]:port"';

/** Parse `listen`: `host:port` or `[v6]:port`, port 0–65535 (0 = any free port, SPEC §1). */
export function parseListen(text: string): Parsed<ListenAddress> {
  let host: string;
  let port: string;
  if (text.startsWith('[')) {
    const close = text.indexOf(']:');
    if (close < 0) return { ok: false, reason: LISTEN_SHAPE };
    host = text.slice(1, close);
    port = text.slice(close + 2);
    if (!host.includes(':')) return { ok: false, reason: 'brackets are only for IPv6 literals' };
  } else {
    const colon = text.lastIndexOf(':');
    if (colon < 0) return { ok: false, reason: LISTEN_SHAPE };
    if (text.indexOf(':') !== colon) return { ok: false, reason: `${LISTEN_SHAPE} (IPv6 needs brackets)` };
    host = text.slice(0, colon);
    port = text.slice(colon + 1);
  }
  if (!LISTEN_PORT_RE.test(port) || Number(port) > 65535) {
    return { ok: false, reason: `invalid port ${quoteInput(port)} (expected 0-65535)` };
  }
  const norm = safeNormalizeHost(host);
  if (!norm) return { ok: false, reason: `invalid host ${quoteInput(host)}` };
  return { ok: true, value: Object.freeze({ host: norm.host, port: Number(port) }) };
}

/** `admin.listen`: a listen address on loopback only — the admin endpoints carry no auth (issue 14). */
export function parseAdminListen(text: string): Parsed<ListenAddress> {
  const r = parseListen(text);
  if (!r.ok) return r;
  if (!isLoopbackHost(r.value.host))
    return { ok: false, reason: 'must be a loopback address (127.0.0.0/8, ::1 or localhost)' };
  return r;
}

// normalizeHost/parseHostPort throw on a bracketed IPv6 zone id (`[fe80::1%eth0]`); a config typo must give
// exit 2 with a path, not an uncaught TypeError.
function safeNormalizeHost(host: string): ReturnType<typeof normalizeHost> {
  try {
    return normalizeHost(host);
  } catch {
    return undefined;
  }
}

/** A `passthrough_hosts` entry: exact or wildcard (`*.example.com[:port]`); never throws. */
export function safeParseHostEntry(text: string): Parsed<HostEntry> {
  return parseHostEntry(text, 443);
}

/**
 * Why `text` is not an acceptable agent URL, or undefined when it is (SPEC §3): `http://` on a loopback host,
 * no credentials, query or fragment. Plain http only because the bearer token must stay on the machine.
 * Never quotes the URL.
 */
export function agentUrlProblem(text: string): string | undefined {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return 'expected an http:// URL';
  }
  if (url.protocol !== 'http:') return 'expected an http:// URL';
  if (url.username !== '' || url.password !== '') return 'must not contain credentials';
  if (url.search !== '' || url.hash !== '') return 'must not have a query or fragment';
  if (!isLoopbackHost(url.hostname)) return 'must be a loopback address (127.0.0.0/8, ::1 or localhost)';
  return undefined;
}

/** The agent base URL without trailing slashes, so clients can append `/v1/...`. */
export function normalizeAgentUrl(text: string): string {
  return text.replace(/\/+$/, '');
}

/**
 * Why `text` is not an acceptable upstream proxy URL, or undefined (SPEC §7): `http://` or `https://`, a host,
 * no path/query/fragment, userinfo (if any) valid percent-encoding. Never quotes the URL: it may hold a password.
 */
export function proxyUrlProblem(text: string): string | undefined {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return 'expected an http:// or https:// URL';
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return 'expected an http:// or https:// URL';
  if (url.hostname === '') return 'expected a host in the URL';
  if (url.pathname !== '/' || url.search !== '' || url.hash !== '')
    return 'must not have a path, query or fragment';
  try {
    decodeURIComponent(url.username);
    decodeURIComponent(url.password);
  } catch {
    return 'credentials are not valid percent-encoding';
  }
  return undefined;
}
