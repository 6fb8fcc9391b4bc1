/**
 * The reloadable parts of a running proxy (issue 14, SIGHUP): passthrough set, limits and upstream pool, built
 * into one immutable {@link ProxyContext} per *generation*. A connection keeps the generation it was accepted
 * under for its whole life, so a reload changes what new connections get and never touches open ones.
 */
import type { LookupFunction } from 'node:net';
import type { Limits } from './config/types.js';
import { DEFAULT_LIMITS } from './config/types.js';
import type { ProxyContext } from './context.js';
import { createForwardServer, type ForwardServer } from './http/forward-plain.js';
import { createH2Server, type H2Server } from './http/h2-server.js';
import { createInnerServer, type InnerServer } from './http/inner-server.js';
import { type HostEntry, parseHostEntry } from './net/host-pattern.js';
import { buildHostSet, type HostSet } from './net/host-set.js';
import { parseNoProxy } from './net/no-proxy.js';
import { createInterceptHandler } from './pipeline/run.js';
import { createH2StreamHandler } from './pipeline/run-h2.js';
import { createUpgradeHandler } from './pipeline/upgrade.js';
import type { DestinationGuard } from './upstream/destination-guard.js';
import { createUpstreamProtocols, type UpstreamProtocols } from './upstream/h2-sessions.js';
import { createUpstreamPool, type UpstreamPool } from './upstream/pool.js';
import { parseProxyUrl } from './upstream/proxy-url.js';

/** Chaining settings as `startProxy` takes them (SPEC §7). */
export interface UpstreamProxyOption {
  readonly url?: string;
  readonly https?: string;
  readonly http?: string;
  readonly noProxy?: string;
}

/** What SIGHUP may change; a field left out keeps its current value. */
export interface ReloadableSettings {
  readonly passthroughHosts?: readonly string[];
  /** Merged over the defaults (not over the current limits), as `startProxy` does. */
  readonly limits?: Partial<Limits>;
  /** `{}` turns chaining off. */
  readonly upstreamProxy?: UpstreamProxyOption;
}

/** One generation: its context and the HTTP servers bound to it. */
export interface Generation {
  readonly ctx: ProxyContext;
  readonly inner: InnerServer;
  readonly forward: ForwardServer;
  /** Intercepted connections whose client chose HTTP/2. */
  readonly h2: H2Server;
  /** Identifies the pool's settings: a reload that keeps them keeps the pool (and its warm sockets). */
  readonly poolKey: string;
  readonly upstreamProxy: UpstreamProxyOption | undefined;
}

/** Parse passthrough entries into their keys; throws TypeError naming a bad entry. */
export function parsePassthrough(entries: readonly string[]): HostSet {
  const parsed: HostEntry[] = [];
  for (const entry of entries) {
    const hp = parseHostEntry(entry);
    if (!hp.ok) throw new TypeError(`passthrough host "${entry}": ${hp.reason}`);
    parsed.push(hp.value);
  }
  return buildHostSet(parsed);
}

export function resolveLimits(limits: Partial<Limits> | undefined): Limits {
  return Object.freeze({ ...DEFAULT_LIMITS, ...limits });
}

/** The HTTP/2 sessions and route protocols that go with `pool` (idle sessions close as its keep-alive sockets). */
export function buildUpstreams(limits: Limits, pool: UpstreamPool): UpstreamProtocols {
  return createUpstreamProtocols({ pool, idleMs: Math.min(limits.idleTimeoutMs, 30_000) });
}

/** Build an upstream pool for `limits` and chaining settings `up`. */
export function buildPool(
  limits: Limits,
  up: UpstreamProxyOption | undefined,
  extraCa: readonly string[],
  guard: DestinationGuard,
  lookup: LookupFunction | undefined,
): { pool: UpstreamPool; key: string } {
  const httpsProxy = up?.https ?? up?.url;
  const httpProxy = up?.http ?? up?.url;
  const noProxy = parseNoProxy(up?.noProxy ?? '');
  const keepAliveIdleMs = Math.min(limits.idleTimeoutMs, 30_000);
  const pool = createUpstreamPool({
    guard,
    extraCa,
    connectTimeoutMs: limits.upstreamConnectTimeoutMs,
    keepAliveIdleMs,
    proxy:
      httpsProxy || httpProxy
        ? {
            ...(httpsProxy ? { https: parseProxyUrl(httpsProxy) } : {}),
            ...(httpProxy ? { http: parseProxyUrl(httpProxy) } : {}),
            bypass: (host: string, port: number) => noProxy.matches(host, port),
          }
        : undefined,
    ...(lookup ? { lookup } : {}),
  });
  const key = JSON.stringify([
    httpsProxy,
    httpProxy,
    up?.noProxy ?? '',
    limits.upstreamConnectTimeoutMs,
    keepAliveIdleMs,
  ]);
  return { pool, key };
}

/** Wrap a context with its own inner and forward servers. */
export function generation(
  ctx: ProxyContext,
  poolKey: string,
  upstreamProxy: UpstreamProxyOption | undefined,
): Generation {
  const intercepted = createInterceptHandler(ctx);
  return {
    ctx,
    inner: createInnerServer(ctx, intercepted, createUpgradeHandler(ctx, intercepted)),
    forward: createForwardServer(ctx),
    h2: createH2Server(ctx, createH2StreamHandler(ctx)),
    poolKey,
    upstreamProxy,
  };
}
