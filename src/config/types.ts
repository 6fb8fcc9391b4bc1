/**
 * The resolved, frozen configuration the core runs on (camelCase). Built once at the edge by `config/resolve.ts`
 * from the wire schema, the environment and the platform defaults; the hot path never re-validates.
 */
import type { HostPort } from '../net/host-port.js';

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';

export interface Limits {
  readonly maxConnections: number;
  readonly maxHeaderBytes: number;
  readonly headerTimeoutMs: number;
  readonly handshakeTimeoutMs: number;
  readonly idleTimeoutMs: number;
  readonly upstreamConnectTimeoutMs: number;
  readonly upstreamResponseTimeoutMs: number;
  readonly leafCacheSize: number;
}

/** SPEC §3 defaults. */
export const DEFAULT_LIMITS: Limits = Object.freeze({
  maxConnections: 4096,
  maxHeaderBytes: 16384,
  headerTimeoutMs: 10_000,
  handshakeTimeoutMs: 10_000,
  idleTimeoutMs: 120_000,
  upstreamConnectTimeoutMs: 10_000,
  upstreamResponseTimeoutMs: 60_000,
  leafCacheSize: 1024,
});

export interface AgentSettings {
  readonly url: string;
  readonly readyTimeoutMs: number;
  readonly servicesRefreshMs: number;
  readonly secretTtlMs: number;
}

export const DEFAULT_AGENT: Omit<AgentSettings, 'url'> = Object.freeze({
  readyTimeoutMs: 30_000,
  servicesRefreshMs: 10_000,
  secretTtlMs: 5_000,
});

export type AuditSettings =
  | { readonly sink: 'stdout' }
  | { readonly sink: 'file'; readonly path: string; readonly maxBytes: number; readonly maxFiles: number };

/** Where chained traffic goes (SPEC §7): already chosen between config and environment. */
export interface UpstreamProxySettings {
  /** Proxy for TLS traffic and tunnels (config `upstream_proxy.url`, else `HTTPS_PROXY`). */
  readonly https: string | undefined;
  /** Proxy for forwarded `http://` requests (config `upstream_proxy.url`, else `HTTP_PROXY`). */
  readonly http: string | undefined;
  /** Raw NO_PROXY list; parsed once by `net/no-proxy.ts`. */
  readonly noProxy: string;
}

/** The listen address as given: host (IPv6 without brackets) and port (0 = any). */
export interface ListenAddress {
  readonly host: string;
  readonly port: number;
}

export interface ProxyConfig {
  readonly listen: ListenAddress;
  /** Explicit `ca_dir` from the file; undefined means "env or platform default" (see `tls/ca-dir.ts`). */
  readonly caDir: string | undefined;
  /** Agent settings; `url` may be empty until the environment fills it (`CLEF_PROXY_AGENT_URL`). */
  readonly agent: AgentSettings;
  readonly passthroughHosts: readonly HostPort[];
  readonly audit: AuditSettings;
  /** From the config file only; `resolve.ts` merges the environment. */
  readonly upstreamProxy: { readonly url: string; readonly noProxy: string } | undefined;
  readonly upstreamCaFile: string | undefined;
  /** undefined = default (10000, or 1500 under Lambda, SPEC §9). */
  readonly drainTimeoutMs: number | undefined;
  readonly limits: Limits;
  readonly logLevel: LogLevel;
  /** The admin listener (health, readiness, metrics); undefined = none. Loopback only. */
  readonly admin: { readonly listen: ListenAddress } | undefined;
}
