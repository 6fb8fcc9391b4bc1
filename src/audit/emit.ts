/**
 * Builders for the audit events the front door and pipeline emit; every field is chosen here from typed values,
 * never copied from headers (SPEC §10, STYLE habit 9).
 */
import type { ConnInfo } from '../context.js';
import type { AuditReason } from '../errors.js';
import type { HostPort } from '../net/host-port.js';
import { type DenyEvent, durationMs, type RequestEvent, type TunnelEvent } from './events.js';

function base(conn: ConnInfo, target: HostPort | undefined) {
  return {
    schema_version: 1 as const,
    ts: new Date().toISOString(),
    conn_id: conn.id,
    client: conn.client,
    host: target ? target.host : null,
    port: target ? target.port : null,
  };
}

/** A refused CONNECT or connection. `status` only when a response was actually sent. */
export function denyEvent(conn: ConnInfo, reason: AuditReason, status?: number): DenyEvent {
  const ev: DenyEvent = { ...base(conn, conn.target), event: 'deny', decision: 'deny', reason };
  return status === undefined ? ev : { ...ev, status };
}

export interface TunnelStats {
  readonly bytesIn: number;
  readonly bytesOut: number;
  readonly durationMs: number;
  readonly viaUpstreamProxy: boolean;
  readonly reason?: AuditReason;
}

/** A passthrough tunnel, written when it closes. */
export function tunnelEvent(conn: ConnInfo, stats: TunnelStats): TunnelEvent {
  const ev: TunnelEvent = {
    ...base(conn, conn.target),
    event: 'tunnel',
    decision: 'tunnel',
    bytes_in: stats.bytesIn,
    bytes_out: stats.bytesOut,
    duration_ms: stats.durationMs,
    via_upstream_proxy: stats.viaUpstreamProxy,
  };
  return stats.reason === undefined ? ev : { ...ev, reason: stats.reason };
}

export type RequestFields = Omit<
  RequestEvent,
  'schema_version' | 'ts' | 'conn_id' | 'client' | 'host' | 'port' | 'event'
>;

/** One HTTP request (intercepted or forwarded). */
export function requestEvent(
  conn: ConnInfo,
  target: HostPort | undefined,
  fields: RequestFields,
): RequestEvent {
  return { ...base(conn, target), event: 'request', ...fields };
}

/** What identifies a request in its event, decided before the outcome is known. */
export type RequestIdentity = Pick<
  RequestFields,
  'request_id' | 'method' | 'path' | 'service' | 'auth_type' | 'secret_ref'
>;

/** A request refused before it went upstream: `status` is what reached the client, null when nothing did. */
export function deniedRequestEvent(
  conn: ConnInfo,
  target: HostPort | undefined,
  id: RequestIdentity,
  reason: AuditReason,
  status: number | null,
  startNs: bigint,
): RequestEvent {
  return requestEvent(conn, target, {
    ...id,
    decision: 'deny',
    reason,
    status,
    bytes_in: 0,
    bytes_out: 0,
    duration_ms: durationMs(startNs),
    via_upstream_proxy: false,
  });
}

/** How a request that went upstream ended (see `upstream/forward.ts`). */
export interface UpstreamOutcome {
  readonly status: number | null;
  readonly bytesIn: number;
  readonly bytesOut: number;
  readonly viaUpstreamProxy: boolean;
  readonly reason?: AuditReason;
}

/** A request carried upstream, with or without an injected credential. */
export function forwardedRequestEvent(
  conn: ConnInfo,
  target: HostPort,
  id: RequestIdentity,
  decision: 'inject' | 'forward',
  outcome: UpstreamOutcome,
  startNs: bigint,
): RequestEvent {
  return requestEvent(conn, target, {
    ...id,
    decision,
    ...(outcome.reason ? { reason: outcome.reason } : {}),
    status: outcome.status,
    bytes_in: outcome.bytesIn,
    bytes_out: outcome.bytesOut,
    duration_ms: durationMs(startNs),
    via_upstream_proxy: outcome.viaUpstreamProxy,
  });
}
