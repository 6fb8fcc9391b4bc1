/** Audit events for the sink tests: fixed-width ids so every line of a kind has the same length. */
import type { DenyEvent, RequestEvent, TunnelEvent } from '../../../src/audit/events.js';

export const TS = '2026-11-29T07:00:00.123Z';

/** `c00042`: zero-padded so line lengths do not vary with the index. */
export const connId = (i: number) => `c${String(i).padStart(5, '0')}`;

export function requestEvent(i = 7, overrides: Partial<RequestEvent> = {}): RequestEvent {
  return {
    schema_version: 1,
    ts: TS,
    event: 'request',
    conn_id: connId(i),
    request_id: `${connId(i)}.3`,
    client: '127.0.0.1:53422',
    identity: 'ci-bot',
    method: 'GET',
    host: 'api.github.com',
    port: 443,
    path: '/repos/x',
    service: 'github',
    auth_type: 'bearer',
    secret_ref: 'GITHUB_TOKEN',
    decision: 'inject',
    status: 200,
    bytes_in: 0,
    bytes_out: 512,
    duration_ms: 12.3,
    via_upstream_proxy: false,
    ...overrides,
  };
}

export function tunnelEvent(i = 7, overrides: Partial<TunnelEvent> = {}): TunnelEvent {
  return {
    schema_version: 1,
    ts: TS,
    event: 'tunnel',
    conn_id: connId(i),
    client: '[::1]:50000',
    identity: 'agent-7',
    host: 'registry.npmjs.org',
    port: 443,
    decision: 'tunnel',
    bytes_in: 100,
    bytes_out: 2000,
    duration_ms: 5,
    via_upstream_proxy: true,
    ...overrides,
  };
}

export function denyEvent(i = 7, overrides: Partial<DenyEvent> = {}): DenyEvent {
  return {
    schema_version: 1,
    ts: TS,
    event: 'deny',
    conn_id: connId(i),
    client: '127.0.0.1:1',
    identity: null,
    host: null,
    port: null,
    decision: 'deny',
    reason: 'header_timeout',
    ...overrides,
  };
}
