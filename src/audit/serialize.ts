/**
 * One audit event → one JSON line (SPEC §10). The line is built by hand from the allow-listed fields of each event
 * kind, in the order of the SPEC's example, so an object that carries more than its type admits (an
 * `authorization`, a `token`, a `query`) cannot leak it: nothing is copied that is not named here (STYLE habit 9).
 * Values are type-checked as they are written, so a stray object in a string field becomes `null`, never its
 * contents.
 */
import type { AuditEvent, DenyEvent, RequestEvent, TunnelEvent } from './events.js';

/** A JSON string, or `null` for anything that is not a string. JSON.stringify escapes CR/LF, so a line stays one line. */
function str(value: unknown): string {
  return typeof value === 'string' ? JSON.stringify(value) : 'null';
}

/** A string, or a JSON array of strings (`secret_ref` of basic and template services), else `null`. */
function strOrList(value: unknown): string {
  if (!Array.isArray(value)) return str(value);
  return `[${value.map(str).join(',')}]`;
}

/** A finite number, or `null` (NaN and Infinity are not JSON). */
function num(value: unknown): string {
  return typeof value === 'number' && Number.isFinite(value) ? String(value) : 'null';
}

function bool(value: unknown): string {
  return value === true ? 'true' : 'false';
}

/**
 * SPEC §10 forbids query strings in the log. Callers already pass the path without its query; cutting at `?` (and
 * `#`) here as well costs one scan and keeps a careless caller from writing a query-borne credential to disk.
 */
function pathOnly(value: unknown): string {
  if (typeof value !== 'string') return 'null';
  let end = value.indexOf('?');
  const hash = value.indexOf('#');
  if (hash !== -1 && (end === -1 || hash < end)) end = hash;
  return JSON.stringify(end === -1 ? value : value.slice(0, end));
}

/** The fields every event starts with, in order: `schema_version`, `ts`, `event`, `conn_id`. */
function head(e: AuditEvent, kind: string): string {
  return `{"schema_version":1,"ts":${str(e.ts)},"event":"${kind}","conn_id":${str(e.conn_id)}`;
}

/** `client`, `identity`, `host`, `port`: on every event, `null` identity/host/port when not known yet. */
function target(e: AuditEvent): string {
  return `,"client":${str(e.client)},"identity":${str(e.identity)},"host":${str(e.host)},"port":${num(e.port)}`;
}

/** `reason` is optional on request and tunnel events and written only when set. */
function reason(value: unknown): string {
  return typeof value === 'string' ? `,"reason":${JSON.stringify(value)}` : '';
}

function traffic(e: RequestEvent | TunnelEvent): string {
  return (
    `,"bytes_in":${num(e.bytes_in)},"bytes_out":${num(e.bytes_out)}` +
    `,"duration_ms":${num(e.duration_ms)},"via_upstream_proxy":${bool(e.via_upstream_proxy)}}\n`
  );
}

function requestLine(e: RequestEvent): string {
  return (
    `${head(e, 'request')},"request_id":${str(e.request_id)}` +
    `,"client":${str(e.client)},"identity":${str(e.identity)},"method":${str(e.method)},"host":${str(e.host)},"port":${num(e.port)}` +
    `,"path":${pathOnly(e.path)},"service":${str(e.service)},"auth_type":${str(e.auth_type)}` +
    `,"secret_ref":${strOrList(e.secret_ref)},"decision":${str(e.decision)}${reason(e.reason)}` +
    `,"status":${num(e.status)}${traffic(e)}`
  );
}

function tunnelLine(e: TunnelEvent): string {
  return `${head(e, 'tunnel')}${target(e)},"decision":"tunnel"${reason(e.reason)}${traffic(e)}`;
}

function denyLine(e: DenyEvent): string {
  // `status` only where a response was actually sent (SPEC §10); connection-level refusals have none.
  const status = typeof e.status === 'number' ? `,"status":${num(e.status)}` : '';
  return `${head(e, 'deny')}${target(e)},"decision":"deny","reason":${str(e.reason)}${status}}\n`;
}

/**
 * Serialize one event as a JSON line, newline included. Returns `undefined` for anything that is not one of the
 * three event kinds, so the caller can count it as dropped instead of writing a guess.
 */
export function serializeEvent(event: AuditEvent): string | undefined {
  if (event === null || typeof event !== 'object') return undefined;
  switch (event.event) {
    case 'request':
      return requestLine(event);
    case 'tunnel':
      return tunnelLine(event);
    case 'deny':
      return denyLine(event);
    default:
      return undefined;
  }
}
