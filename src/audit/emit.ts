/**
 * Builders for the audit events the front door and pipeline emit; every field is chosen here from typed values,
 * never copied from headers (SPEC §10, STYLE habit 9).
 *
 * Each builder writes one object literal with its fields in one fixed order and no spreads: one event per
 * request is on the hot path, and a literal of fixed shape is one allocation V8 keeps fast (docs/performance.md).
 */
import type { ConnInfo } from '../context.js';
import type { AuditReason } from '../errors.js';
import type { HostPort } from '../net/host-port.js';
import { type DenyEvent, durationMs, type RequestEvent, type TunnelEvent } from './events.js';

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

let lastMs = Number.NaN;
let lastIso = '';

/** `new Date().toISOString()`, formatted at most once per millisecond (SPEC §10 `ts`: ISO-8601 UTC with ms). */
export function isoNow(): string {
  const ms = Date.now();
  if (ms !== lastMs) {
    lastMs = ms;
    lastIso = new Date(ms).toISOString();
  }
  return lastIso;
}

/** A refused CONNECT or connection. `status` only when a response was actually sent (and then last, as before). */
export function denyEvent(conn: ConnInfo, reason: AuditReason, status?: number): DenyEvent {
  const target = conn.target;
  const ev: Mutable<DenyEvent> = {
    schema_version: 1,
    ts: isoNow(),
    conn_id: conn.id,
    client: conn.client,
    identity: conn.identity,
    host: target ? target.host : null,
    port: target ? target.port : null,
    event: 'deny',
    decision: 'deny',
    reason,
  };
  if (status !== undefined) ev.status = status;
  return ev;
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
  const target = conn.target;
  const ev: Mutable<TunnelEvent> = {
    schema_version: 1,
    ts: isoNow(),
    conn_id: conn.id,
    client: conn.client,
    identity: conn.identity,
    host: target ? target.host : null,
    port: target ? target.port : null,
    event: 'tunnel',
    decision: 'tunnel',
    bytes_in: stats.bytesIn,
    bytes_out: stats.bytesOut,
    duration_ms: stats.durationMs,
    via_upstream_proxy: stats.viaUpstreamProxy,
  };
  if (stats.reason !== undefined) ev.reason = stats.reason;
  return ev;
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
  return build(conn, target, fields, fields.decision, fields.reason, fields.status, fields);
}

/** What identifies a request in its event, decided before the outcome is known. */
export type RequestIdentity = Pick<
  RequestFields,
  'request_id' | 'identity' | 'method' | 'path' | 'service' | 'auth_type' | 'secret_ref'
>;

/** The byte counts, duration and route of a request event. */
interface Traffic {
  readonly bytes_in: number;
  readonly bytes_out: number;
  readonly duration_ms: number;
  readonly via_upstream_proxy: boolean;
}

/**
 * The one place a request event is assembled: the base fields, then the identity, then the outcome, in the
 * order the spread-based builders produced them (`reason` between `decision` and `status`, only when set).
 */
function build(
  conn: ConnInfo,
  target: HostPort | undefined,
  id: RequestIdentity,
  decision: RequestEvent['decision'],
  reason: AuditReason | undefined,
  status: number | null,
  traffic: Traffic,
): RequestEvent {
  const ts = isoNow();
  const host = target ? target.host : null;
  const port = target ? target.port : null;
  if (reason === undefined) {
    return {
      schema_version: 1,
      ts,
      conn_id: conn.id,
      client: conn.client,
      identity: id.identity,
      host,
      port,
      event: 'request',
      request_id: id.request_id,
      method: id.method,
      path: id.path,
      service: id.service,
      auth_type: id.auth_type,
      secret_ref: id.secret_ref,
      decision,
      status,
      bytes_in: traffic.bytes_in,
      bytes_out: traffic.bytes_out,
      duration_ms: traffic.duration_ms,
      via_upstream_proxy: traffic.via_upstream_proxy,
    };
  }
  return {
    schema_version: 1,
    ts,
    conn_id: conn.id,
    client: conn.client,
    identity: id.identity,
    host,
    port,
    event: 'request',
    request_id: id.request_id,
    method: id.method,
    path: id.path,
    service: id.service,
    auth_type: id.auth_type,
    secret_ref: id.secret_ref,
    decision,
    reason,
    status,
    bytes_in: traffic.bytes_in,
    bytes_out: traffic.bytes_out,
    duration_ms: traffic.duration_ms,
    via_upstream_proxy: traffic.via_upstream_proxy,
  };
}

/** A request refused before it went upstream: `status` is what reached the client, null when nothing did. */
export function deniedRequestEvent(
  conn: ConnInfo,
  target: HostPort | undefined,
  id: RequestIdentity,
  reason: AuditReason,
  status: number | null,
  startNs: bigint,
): RequestEvent {
  return build(conn, target, id, 'deny', reason, status, {
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
  return build(conn, target, id, decision, outcome.reason || undefined, outcome.status, {
    bytes_in: outcome.bytesIn,
    bytes_out: outcome.bytesOut,
    duration_ms: durationMs(startNs),
    via_upstream_proxy: outcome.viaUpstreamProxy,
  });
}
