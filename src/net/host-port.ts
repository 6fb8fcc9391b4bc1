/**
 * Host entries and CONNECT targets (SPEC §3, §6): `name`, `name:port`, `[v6]:port`, or an IPv4 literal with or
 * without `:port`. Names are lower-cased, lose one trailing dot and are turned into punycode, so that every
 * comparison in the proxy is a plain string comparison on {@link HostPort.key}.
 */
import { isIP } from 'node:net';
import { domainToASCII } from 'node:url';
import { quoteInput } from './quote.js';

export type HostKind = 'name' | 'ipv4' | 'ipv6';

/** A normalised host and port. `key` is `host:port` (IPv6 in brackets): the one form used for lookups. */
export interface HostPort {
  readonly host: string;
  readonly port: number;
  readonly kind: HostKind;
  readonly key: string;
}

export type HostPortResult =
  | { readonly ok: true; readonly value: HostPort }
  | { readonly ok: false; readonly reason: string };

const PORT_RE = /^[0-9]{1,5}$/;
// RFC 1123 labels after punycode conversion: letters, digits, hyphen; underscores are tolerated because real
// service hosts use them (e.g. `_acme` records are not hosts, but some internal names carry them).
const LABEL_RE = /^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$/;

/** Build the lookup key for a host and port. */
export function hostKey(host: string, port: number, kind: HostKind): string {
  return kind === 'ipv6' ? `[${host}]:${port}` : `${host}:${port}`;
}

function fail(reason: string): HostPortResult {
  return { ok: false, reason };
}

/** Parse a port: decimal 1–65535, no sign, no leading `+`. */
export function parsePort(text: string): number | undefined {
  if (!PORT_RE.test(text)) return undefined;
  const port = Number(text);
  return port >= 1 && port <= 65535 ? port : undefined;
}

/**
 * Normalise a bare host (no port): lower-case, strip one trailing dot, IDN → punycode, validate.
 * IPv6 literals are given without brackets. Returns undefined for anything that is not a valid host.
 */
export function normalizeHost(raw: string): { host: string; kind: HostKind } | undefined {
  if (raw.length === 0 || raw.length > 255) return undefined;
  if (raw.includes(':')) {
    // Zone ids (`fe80::1%eth0`) name an interface of this host only; they mean nothing as a target. Refused.
    if (raw.includes('%') || isIP(raw) !== 6) return undefined;
    const host = canonicalIpv6(raw);
    return host === undefined ? undefined : { host, kind: 'ipv6' };
  }
  let name = raw.endsWith('.') ? raw.slice(0, -1) : raw;
  if (name.length === 0) return undefined;
  if (isIP(name) === 4) return { host: name, kind: 'ipv4' };
  // Only run the IDN conversion when there is something non-ASCII or upper-case to convert.
  if (!/^[\x00-\x7f]*$/.test(name) || /[A-Z]/.test(name)) {
    name = domainToASCII(name.toLowerCase());
    if (name === '') return undefined;
  }
  if (name.length > 253) return undefined;
  const labels = name.split('.');
  for (const label of labels) if (!LABEL_RE.test(label)) return undefined;
  // A name whose last label is all digits is a malformed IPv4 literal (`1.2.3`, `256.1.1.1`), not a name.
  if (/^[0-9]+$/.test(labels[labels.length - 1] ?? '')) return undefined;
  return { host: name, kind: 'name' };
}

/** Canonical text of an IPv6 address (RFC 5952 lower-case, compressed), via the WHATWG URL parser. */
export function canonicalIpv6(addr: string): string | undefined {
  try {
    return new URL(`http://[${addr}]/`).hostname.slice(1, -1);
  } catch {
    return undefined;
  }
}

/**
 * Parse a host entry or CONNECT authority. `defaultPort` applies when no port is given (443 for host entries,
 * SPEC §3); CONNECT targets require a port, so callers pass `null` there.
 */
export function parseHostPort(text: string, defaultPort: number | null = 443): HostPortResult {
  if (text.length === 0) return fail('empty host');
  if (text.includes('@')) return fail('userinfo is not allowed in a host');
  let hostPart: string;
  let portPart: string | undefined;
  if (text.startsWith('[')) {
    const close = text.indexOf(']');
    if (close < 0) return fail('unclosed [ in IPv6 literal');
    hostPart = text.slice(1, close);
    const rest = text.slice(close + 1);
    if (rest !== '') {
      if (!rest.startsWith(':')) return fail('unexpected text after ]');
      portPart = rest.slice(1);
    }
    if (!hostPart.includes(':')) return fail('brackets are only for IPv6 literals');
  } else {
    const colon = text.lastIndexOf(':');
    if (colon >= 0) {
      if (text.indexOf(':') !== colon) return fail('IPv6 literals must be written in brackets: [v6]:port');
      hostPart = text.slice(0, colon);
      portPart = text.slice(colon + 1);
    } else {
      hostPart = text;
    }
  }
  let port: number | undefined;
  if (portPart === undefined) {
    if (defaultPort === null) return fail('a port is required');
    port = defaultPort;
  } else {
    port = parsePort(portPart);
    if (port === undefined) return fail(`invalid port ${quoteInput(portPart)} (expected 1-65535)`);
  }
  const norm = normalizeHost(hostPart);
  if (!norm) return fail(`invalid host ${quoteInput(hostPart)}`);
  return { ok: true, value: Object.freeze({ ...norm, port, key: hostKey(norm.host, port, norm.kind) }) };
}
