/**
 * The resolved, frozen configuration the core runs on (camelCase). Built once at the edge by `config/resolve.ts`
 * from the wire schema, the environment and the platform defaults; the hot path never re-validates.
 */
import type { HostEntry } from '../net/host-pattern.js';

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
  /** Streams one HTTP/2 client session may have open at once (SETTINGS_MAX_CONCURRENT_STREAMS). */
  readonly maxConcurrentStreams: number;
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
  maxConcurrentStreams: 100,
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

/** How a shipping sink (webhook, OTLP) batches and bounds its queue (docs/audit.md). */
export interface AuditBatching {
  /** Most events in one POST. */
  readonly batchMax: number;
  /** Longest an event waits before a partial batch is sent. */
  readonly flushMs: number;
  /** Events that may wait for the receiver; beyond that the oldest are dropped and counted. */
  readonly queueMax: number;
}

/** NDJSON batches POSTed to an HTTPS receiver (a SIEM's HTTP collector). */
export interface WebhookAuditSettings extends AuditBatching {
  readonly sink: 'webhook';
  readonly url: string;
  /**
   * Extra request headers. In `ProxyConfig` the values are templates (`$NAME`, `${NAME}`); `resolveServe` replaces
   * them with the environment's values. Never logged.
   */
  readonly headers: Readonly<Record<string, string>>;
}

/** OpenTelemetry log records over OTLP/HTTP (JSON), POSTed to `{endpoint}/v1/logs`. */
export interface OtlpAuditSettings extends AuditBatching {
  readonly sink: 'otlp';
  /** The collector's base URL, without a trailing slash. */
  readonly endpoint: string;
  /** As for the webhook: templates in `ProxyConfig`, values once resolved. Never logged. */
  readonly headers: Readonly<Record<string, string>>;
}

/** One audit destination (SPEC §3 `audit`, extended by docs/audit.md). */
export type AuditSettings =
  | { readonly sink: 'stdout' }
  | { readonly sink: 'file'; readonly path: string; readonly maxBytes: number; readonly maxFiles: number }
  | WebhookAuditSettings
  | OtlpAuditSettings;

/** Defaults of the shipping sinks' batching keys. */
export const DEFAULT_AUDIT_BATCHING: AuditBatching = Object.freeze({
  batchMax: 500,
  flushMs: 1000,
  queueMax: 10_000,
});

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

/** The destination guard (issue 13): private ranges upstream addresses may be in, as written (validated CIDRs). */
export interface EgressSettings {
  readonly allowPrivate: readonly string[];
}

export interface ProxyConfig {
  readonly listen: ListenAddress;
  /** Explicit `ca_dir` from the file; undefined means "env or platform default" (see `tls/ca-dir.ts`). */
  readonly caDir: string | undefined;
  /** Agent settings; `url` may be empty until the environment fills it (`CLEF_PROXY_AGENT_URL`). */
  readonly agent: AgentSettings;
  readonly passthroughHosts: readonly HostEntry[];
  /** Every configured audit sink, in config order (a single object in the file is a list of one). */
  readonly audit: readonly AuditSettings[];
  /** From the config file only; `resolve.ts` merges the environment. */
  readonly upstreamProxy: { readonly url: string; readonly noProxy: string } | undefined;
  readonly upstreamCaFile: string | undefined;
  /** undefined = default (10000, or 1500 under Lambda, SPEC §9). */
  readonly drainTimeoutMs: number | undefined;
  /** Worker processes as written (`resolve.ts` turns "auto" into a count and forces 1 under Lambda). */
  readonly workers: number | 'auto';
  readonly limits: Limits;
  readonly egress: EgressSettings;
  readonly logLevel: LogLevel;
  /** The admin listener (health, readiness, metrics); undefined = none. Loopback only. */
  readonly admin: { readonly listen: ListenAddress } | undefined;
}
