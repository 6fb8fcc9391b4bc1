/**
 * The per-proxy state every connection handler reads: built once by `proxy.ts`, never global, so several proxies
 * can run in one process (SPEC §11).
 */
import type { Socket } from 'node:net';
import type { CredentialSource } from './agent/source.js';
import type { AuditSink } from './audit/sink.js';
import type { TurnBarrier } from './audit/turn-barrier.js';
import type { Limits } from './config/types.js';
import type { ConnTracker } from './lifecycle/conn-tracker.js';
import type { Logger } from './log/logger.js';
import type { HostPort } from './net/host-port.js';
import type { HostSet } from './net/host-set.js';
import type { LeafCache } from './tls/leaf-cache.js';
import type { UpstreamProtocols } from './upstream/h2-sessions.js';
import type { UpstreamPool } from './upstream/pool.js';

export interface ProxyContext {
  readonly limits: Limits;
  readonly source: CredentialSource;
  readonly audit: AuditSink;
  /** Set: forwarded requests are audited before their response's last bytes leave (`StartProxyOptions`). */
  readonly auditBarrier: TurnBarrier | undefined;
  readonly logger: Logger;
  readonly pool: UpstreamPool;
  /** Which protocol each upstream route speaks, and its HTTP/2 sessions. */
  readonly upstreams: UpstreamProtocols;
  /** Swapped on SIGHUP (`setCa`); always read through the context. */
  readonly leafCache: LeafCache;
  /** Passthrough hosts, exact and wildcard, pre-parsed once (`net/host-set.ts`). */
  readonly passthrough: HostSet;
  /** SHA-256 digest of the workload token; null when workload auth is waived (SPEC §9). */
  readonly workloadToken: Buffer | null;
  readonly tracker: ConnTracker;
  /** Allocates `c1`, `c2`, … per proxy instance. */
  nextConnId(): string;
}

/** What the proxy knows about one client connection. */
export interface ConnInfo {
  readonly id: string;
  /** `ip:port` of the client, IPv6 in brackets. */
  readonly client: string;
  readonly socket: Socket;
  /** Set once the CONNECT (or the first forwarded request) named one. */
  target: HostPort | undefined;
  /**
   * The workload identity the CONNECT authenticated as (the `Proxy-Authorization` username), null while unknown
   * or anonymous. Per connection: every request inside the tunnel runs as it (prepare.ts, audit events).
   */
  identity: string | null;
  /** Requests seen on this connection, for request ids `c7.1`, `c7.2`, … */
  requests: number;
}

/** Format a socket's remote address for the audit log. */
export function clientAddress(socket: Socket): string {
  const addr = socket.remoteAddress ?? 'unknown';
  const port = socket.remotePort ?? 0;
  return addr.includes(':') ? `[${addr}]:${port}` : `${addr}:${port}`;
}
