/**
 * Remove what must not reach the upstream (SPEC §6): the proxy's own request headers and every hop-by-hop header
 * (RFC 9110 §7.6.1), including those the client nominates in `Connection`.
 */

// Why each is removed:
// - `proxy-authorization`, `x-clef-service`: addressed to this proxy; they never reach the upstream (SPEC §6).
// - `connection`, `keep-alive`, `proxy-connection`, `te`, `trailer`, `upgrade`: hop-by-hop (RFC 9110 §7.6.1;
//   `proxy-connection` is the pre-standard spelling some clients still send). Without `Upgrade` no protocol
//   switch can be smuggled past the pipeline: only pipeline/upgrade.ts puts the pair back, for a WebSocket
//   upgrade that has passed the policy stages.
// - `transfer-encoding`: hop-by-hop too; Node's parser has already de-chunked the body, and the forwarder
//   re-frames it for the upstream itself (chunked or Content-Length), so the client's framing must not leak.
/** Lower-case names {@link stripHeaders} always removes, whatever `Connection` says. */
export const ALWAYS_DROPPED: ReadonlySet<string> = new Set([
  'proxy-authorization',
  'x-clef-service',
  'connection',
  'keep-alive',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

// Names a `Connection` header cannot remove: `host` was checked against the CONNECT target and routes the
// request, and `content-length` describes the body the forwarder streams; dropping either on a client's say-so
// would make the upstream see a different request than the one the pipeline judged. RFC 9110 §7.6.1 says a
// sender must not list end-to-end fields as connection options, so honouring such a list is not required.
const NOT_NOMINABLE: ReadonlySet<string> = new Set(['host', 'content-length']);

/**
 * Parse the connection options of every `Connection` header in `rawHeaders` (comma-separated, OWS-trimmed,
 * case-insensitive). Returns undefined when there are none, so the common request allocates no set.
 */
export function connectionOptions(rawHeaders: readonly string[]): Set<string> | undefined {
  let options: Set<string> | undefined;
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    if (rawHeaders[i]!.toLowerCase() !== 'connection') continue;
    for (const part of rawHeaders[i + 1]!.split(',')) {
      const name = part.trim().toLowerCase();
      if (name === '' || NOT_NOMINABLE.has(name)) continue;
      options ??= new Set();
      options.add(name);
    }
  }
  return options;
}

/**
 * Drop `Proxy-Authorization`, `X-Clef-Service`, the hop-by-hop headers and every header named in `Connection`
 * from Node's flat `rawHeaders` (`[name, value, name, value, …]`). Everything else is kept in order with the
 * client's name case. Returns a new array; the input is not modified. A trailing unpaired element is dropped.
 */
export function stripHeaders(rawHeaders: readonly string[]): string[] {
  const nominated = connectionOptions(rawHeaders);
  const out: string[] = [];
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!;
    const lower = name.toLowerCase();
    if (ALWAYS_DROPPED.has(lower) || nominated?.has(lower)) continue;
    out.push(name, rawHeaders[i + 1]!);
  }
  return out;
}
