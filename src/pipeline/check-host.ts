/**
 * The `Host` check for requests inside an intercepted tunnel (SPEC §6 "Per request"): the request must be
 * addressed to the host and port the client CONNECTed to, so a leaf minted for one host can never carry a
 * credential injected for another.
 */
import type { HostPort } from '../net/host-port.js';
import { parseHostPort } from '../net/host-port.js';
import { deny, OK_TRUE, type Step } from './types.js';

/**
 * Find the one `Host` header in Node's flat `rawHeaders` (`[name, value, name, value, …]`).
 *
 * Node's parser keeps only the first of several `Host` lines in `req.headers.host` but forwards all of them in
 * `rawHeaders` (checked on Node 20.20), so an upstream could route on a second, unchecked one. RFC 9112 §3.2
 * requires a 400 for more than one `Host` line, so two or more ⇒ `bad_request`.
 *
 * @returns the header value, or `undefined` when there is none.
 */
export function singleHostHeader(rawHeaders: readonly string[]): Step<string | undefined> {
  let found: string | undefined;
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!;
    if (name.length !== 4 || name.toLowerCase() !== 'host') continue;
    if (found !== undefined) return deny('bad_request');
    found = rawHeaders[i + 1]!;
  }
  return { ok: true, value: found };
}

/**
 * Check a `Host` header value against the CONNECT target.
 *
 * - `h:port` must equal the target after normalisation (lower-case, one trailing dot dropped, IDN → punycode,
 *   IPv6 canonical and in brackets — all by `parseHostPort`, the same code that normalised the target).
 * - bare `h` means port 443 (RFC 9110 §4.2.2 default for https), so it names the target only when the
 *   CONNECT port is 443; `h` against `CONNECT h:8443` ⇒ `misdirected_request`.
 * - a value that is not a valid host (`::1` without brackets, userinfo, a bad port, empty) ⇒ `bad_request`.
 * - a missing `Host` ⇒ `bad_request`, not 421: RFC 9112 §3.2 answers 400 to an HTTP/1.1 request without
 *   `Host`, and Node's own parser (`requireHostHeader`) already answers those with 400 before we see them, so
 *   the only requests reaching this branch are HTTP/1.0 ones — malformed for this proxy, not misdirected.
 */
export function checkHost(hostHeader: string | undefined, target: HostPort): Step<true> {
  if (hostHeader === undefined) return deny('bad_request');
  // Fast path, no parsing: clients almost always send the authority exactly as they CONNECTed to it. An IPv6
  // target's bare host is never a valid Host value (it needs brackets), so the bare shortcut skips IPv6.
  if (hostHeader === target.key) return OK_TRUE;
  if (target.port === 443 && target.kind !== 'ipv6' && hostHeader === target.host) return OK_TRUE;
  const parsed = parseHostPort(hostHeader, 443);
  if (!parsed.ok) return deny('bad_request');
  return parsed.value.key === target.key ? OK_TRUE : deny('misdirected_request');
}

/** {@link singleHostHeader} then {@link checkHost}: the whole `Host` stage on a request's raw headers. */
export function checkRequestHost(rawHeaders: readonly string[], target: HostPort): Step<true> {
  const host = singleHostHeader(rawHeaders);
  if (!host.ok) return host;
  return checkHost(host.value, target);
}
