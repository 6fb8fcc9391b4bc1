/**
 * The upstream (corporate) proxy URL, parsed once at the edge (SPEC §7): where to connect, the
 * `Proxy-Authorization` value built from the percent-decoded userinfo, and a redacted form that is safe to log.
 * The password never appears in an error message or in `redacted` (STYLE habit 9; proxy-chain `redact_url.ts`).
 */
import { type HostPort, hostKey, normalizeHost } from '../net/host-port.js';

/** A parsed upstream proxy. */
export interface ParsedProxyUrl {
  readonly protocol: 'http:' | 'https:';
  readonly host: HostPort;
  /** `Basic base64(user:pass)`, or undefined when the URL has no userinfo. */
  readonly authorization: string | undefined;
  /** `protocol//host:port` with no userinfo: the proxy's identity in logs and pool keys. */
  readonly redacted: string;
}

const DEFAULT_PORTS = { 'http:': 80, 'https:': 443 } as const;

function isSupported(protocol: string): protocol is 'http:' | 'https:' {
  return protocol === 'http:' || protocol === 'https:';
}

function decodeUserinfo(part: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    // The message names the problem, never the text: it may be the password.
    throw new TypeError('upstream proxy URL: malformed percent-encoding in its userinfo');
  }
}

/**
 * Parse an upstream proxy URL (`http://user:pass@proxy.corp:3128`). Throws a TypeError whose message never
 * contains the URL's password; the WHATWG parser's own error is dropped rather than kept as `cause`, because
 * Node puts the whole input on it (`err.input`).
 */
export function parseProxyUrl(url: string): ParsedProxyUrl {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new TypeError('upstream proxy URL is not a valid URL');
  }
  const protocol = parsed.protocol;
  // The scheme comes before any userinfo, so naming it cannot leak the password.
  if (!isSupported(protocol)) {
    throw new TypeError(`upstream proxy URL: unsupported protocol "${protocol}" (expected http: or https:)`);
  }
  const rawHost = parsed.hostname.startsWith('[') ? parsed.hostname.slice(1, -1) : parsed.hostname;
  const norm = normalizeHost(rawHost);
  if (norm === undefined) throw new TypeError('upstream proxy URL has no valid host');
  const port = parsed.port === '' ? DEFAULT_PORTS[protocol] : Number(parsed.port);
  const host: HostPort = Object.freeze({ ...norm, port, key: hostKey(norm.host, port, norm.kind) });

  let authorization: string | undefined;
  if (parsed.username !== '' || parsed.password !== '') {
    const user = decodeUserinfo(parsed.username);
    const pass = decodeUserinfo(parsed.password);
    authorization = `Basic ${Buffer.from(`${user}:${pass}`, 'utf8').toString('base64')}`;
  }
  return Object.freeze({ protocol, host, authorization, redacted: `${protocol}//${host.key}` });
}
