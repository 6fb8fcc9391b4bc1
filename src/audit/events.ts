/**
 * Audit events, schema_version 1 (SPEC §10). Each type is an allow-list of fields: none of them can hold a secret,
 * a token, a credential header or a query string, so redaction is structural (STYLE habit 9).
 */
import type { AuditReason } from '../errors.js';

interface EventBase {
  readonly schema_version: 1;
  /** ISO-8601 UTC with milliseconds. */
  readonly ts: string;
  readonly conn_id: string;
  /** `ip:port` of the client (IPv6 in brackets). */
  readonly client: string;
  /**
   * The workload identity (the `Proxy-Authorization` username, issue 12): null when unknown (before or without
   * authentication) or anonymous. Added within schema_version 1: a new field, no field changed.
   */
  readonly identity: string | null;
  /** null when the refusal came before a target was parsed. */
  readonly host: string | null;
  readonly port: number | null;
}

export interface RequestEvent extends EventBase {
  readonly event: 'request';
  readonly request_id: string;
  readonly method: string;
  /** The path without its query string. */
  readonly path: string;
  readonly service: string | null;
  readonly auth_type: 'bearer' | 'api_key_header' | 'api_key_query' | 'basic' | 'template' | null;
  /**
   * The secret's key (name), never its value: a string for `bearer`, `api_key_header` and `api_key_query`, the
   * list of names for `basic` and `template` (docs/audit.md).
   */
  readonly secret_ref: string | readonly string[] | null;
  readonly decision: 'inject' | 'forward' | 'deny';
  readonly reason?: AuditReason;
  /** What reached the client, or null when nothing did. */
  readonly status: number | null;
  readonly bytes_in: number;
  readonly bytes_out: number;
  readonly duration_ms: number;
  readonly via_upstream_proxy: boolean;
}

export interface TunnelEvent extends EventBase {
  readonly event: 'tunnel';
  readonly decision: 'tunnel';
  readonly reason?: AuditReason;
  readonly bytes_in: number;
  readonly bytes_out: number;
  readonly duration_ms: number;
  readonly via_upstream_proxy: boolean;
}

export interface DenyEvent extends EventBase {
  readonly event: 'deny';
  readonly decision: 'deny';
  readonly reason: AuditReason;
  /** The status sent, when a response was sent at all. */
  readonly status?: number;
}

export type AuditEvent = RequestEvent | TunnelEvent | DenyEvent;

/** Round to 0.1 ms, as in the SPEC's example. */
export function durationMs(startNs: bigint, endNs: bigint = process.hrtime.bigint()): number {
  return Math.round(Number(endNs - startNs) / 100_000) / 10;
}
