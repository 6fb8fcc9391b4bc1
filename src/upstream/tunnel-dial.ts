/**
 * Raw byte connections to a target, for passthrough tunnels (SPEC §6) and plain `http://` forwarding: a direct
 * TCP connect, or a CONNECT tunnel through the upstream proxy (SPEC §7). No TLS here — a passthrough tunnel is
 * blind, and `http://` is plaintext by definition.
 */
import type { LookupFunction, Socket } from 'node:net';
import type { HostPort } from '../net/host-port.js';
import { connectViaProxy } from './connect-via-proxy.js';
import type { DestinationGuard } from './destination-guard.js';
import { dialTcp, type UpstreamTrust } from './dial.js';
import type { ParsedProxyUrl } from './proxy-url.js';

/** A connected raw socket and whether it runs through the upstream proxy (audited as `via_upstream_proxy`). */
export interface RawConnection {
  readonly socket: Socket;
  readonly viaUpstreamProxy: boolean;
}

export interface DialRawOptions {
  readonly connectTimeoutMs: number;
  /** Checks a direct dial's resolved address; the upstream proxy route is exempt (it resolves the target). */
  readonly guard: DestinationGuard | null;
  readonly lookup?: LookupFunction;
  /** Roots for an `https://` upstream proxy's certificate. */
  readonly trust?: UpstreamTrust;
}

/**
 * Connect to `target` directly (`proxy` undefined) or through `proxy` (already chosen by the caller, NO_PROXY
 * applied). Rejects with a ProxyError: `upstream_error` for a direct dial; `upstream_proxy_error` or
 * `upstream_proxy_auth_failed` through a proxy.
 *
 * Note: through a proxy this is always a CONNECT tunnel, also for `http://` targets. Proxies that only allow
 * CONNECT to port 443 (Squid's default `SSL_ports` rule) refuse `name:80`; that surfaces as
 * `upstream_proxy_error`.
 */
export async function dialRaw(
  target: HostPort,
  proxy: ParsedProxyUrl | undefined,
  opts: DialRawOptions,
): Promise<RawConnection> {
  const dial = { connectTimeoutMs: opts.connectTimeoutMs, ...(opts.lookup ? { lookup: opts.lookup } : {}) };
  if (proxy === undefined)
    return { socket: await dialTcp(target, { ...dial, guard: opts.guard }), viaUpstreamProxy: false };
  const socket = await connectViaProxy(proxy, target, {
    ...dial,
    ...(opts.trust ? { trust: opts.trust } : {}),
  });
  return { socket, viaUpstreamProxy: true };
}
