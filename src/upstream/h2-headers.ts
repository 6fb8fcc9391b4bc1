/**
 * Between Node's flat raw header lists (`[name, value, …]`, what the pipeline works on) and the header objects
 * node:http2 takes (it accepts no raw list on Node 20). HTTP/2 field names are lower case (RFC 9113 §8.2.1) and
 * connection-specific fields must never be sent (§8.2.2): those are dropped here whatever else removed them.
 */
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';

/** RFC 9113 §8.2.2: fields that make an HTTP/2 message malformed (`te` is allowed only as `trailers`). */
export const CONNECTION_SPECIFIC: ReadonlySet<string> = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'upgrade',
  'http2-settings',
]);

/** Append `value` under `name`, turning a repeated name into an array (Node sends one field line per element). */
function add(out: OutgoingHttpHeaders, name: string, value: string): void {
  const prev = out[name];
  if (prev === undefined) out[name] = value;
  else if (Array.isArray(prev)) prev.push(value);
  else out[name] = [String(prev), value];
}

/** Copy a raw list into `out`, lower-cased, without pseudo-headers, `host`, connection-specific fields or `te`. */
function copyFields(out: OutgoingHttpHeaders, rawHeaders: readonly string[]): OutgoingHttpHeaders {
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!.toLowerCase();
    if (name.startsWith(':') || name === 'host' || name === 'te' || CONNECTION_SPECIFIC.has(name)) continue;
    add(out, name, rawHeaders[i + 1]!);
  }
  return out;
}

/** The first value of `name` (lower case) in a raw list. */
export function rawHeader(rawHeaders: readonly string[], name: string): string | undefined {
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    if (rawHeaders[i]!.toLowerCase() === name) return rawHeaders[i + 1];
  }
  return undefined;
}

export interface H2RequestHead {
  readonly method: string;
  /** Origin-form target (path and query). */
  readonly path: string;
  /** The checked `Host` value, sent as `:authority` (RFC 9113 §8.3.1). */
  readonly authority: string;
  /** Stripped, injected raw headers. */
  readonly rawHeaders: readonly string[];
  /** The client asked for trailers (`te: trailers`, gRPC): say so upstream as well. */
  readonly teTrailers: boolean;
}

/** The header object for an upstream HTTP/2 request. */
export function toH2RequestHeaders(head: H2RequestHead): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {
    ':method': head.method,
    ':scheme': 'https',
    ':authority': head.authority,
    ':path': head.path,
  };
  copyFields(out, head.rawHeaders);
  if (head.teTrailers) out.te = 'trailers';
  return out;
}

/** The header object for a response (or, without status, trailers) to an HTTP/2 client. */
export function toH2ResponseHeaders(
  status: number | undefined,
  rawHeaders: readonly string[],
): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = status === undefined ? {} : { ':status': status };
  return copyFields(out, rawHeaders);
}

/** Node's raw list of a received HTTP/2 head, without its pseudo-headers. */
export function withoutPseudo(rawHeaders: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    if (rawHeaders[i]!.charCodeAt(0) !== 0x3a) out.push(rawHeaders[i]!, rawHeaders[i + 1]!);
  }
  return out;
}

/** A received HTTP/2 header object as a raw list, pseudo-headers left out (repeated fields stay repeated). */
export function flattenH2Headers(headers: IncomingHttpHeaders): string[] {
  const out: string[] = [];
  for (const name of Object.keys(headers)) {
    if (name.charCodeAt(0) === 0x3a) continue;
    const value = headers[name];
    if (Array.isArray(value)) for (const v of value) out.push(name, v);
    else if (value !== undefined) out.push(name, String(value));
  }
  return out;
}
