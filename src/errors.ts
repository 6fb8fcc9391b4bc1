/**
 * The closed table of proxy error codes (SPEC §6) and the one function that renders a code as a response.
 * Connection-level codes that cannot carry a response (§6, §10) live in {@link ConnectionRefusalCode}.
 */

/** Every code a proxy-made HTTP response can carry. */
export type ProxyErrorCode =
  | 'bad_request'
  | 'ambiguous_service'
  | 'host_not_allowed'
  | 'no_matching_service'
  | 'service_not_allowed'
  | 'identity_not_allowed'
  | 'https_required'
  | 'destination_not_allowed'
  | 'proxy_auth_required'
  | 'misdirected_request'
  | 'headers_too_large'
  | 'upstream_error'
  | 'upstream_tls_error'
  | 'upstream_proxy_error'
  | 'upstream_proxy_auth_failed'
  | 'invalid_credential'
  | 'credential_unavailable'
  | 'overloaded'
  | 'upstream_timeout';

/** Refusals that close the connection without a response; they appear only in `deny` audit events. */
export type ConnectionRefusalCode =
  | 'sni_mismatch'
  | 'not_tls'
  | 'header_timeout'
  | 'handshake_timeout'
  | 'idle_timeout';

/** Reasons recorded on a forwarded request that did not complete normally (§10). */
export type AbortReason = 'client_aborted' | 'upstream_error';

/** Any `reason` an audit event may carry. */
export type AuditReason = ProxyErrorCode | ConnectionRefusalCode | AbortReason;

interface ErrorEntry {
  readonly status: number;
  readonly message: string;
}

/** SPEC §6: status and a fixed, secret-free message for each code. */
export const ERROR_TABLE: Readonly<Record<ProxyErrorCode, ErrorEntry>> = Object.freeze({
  bad_request: { status: 400, message: 'The request was malformed.' },
  ambiguous_service: {
    status: 400,
    message: 'More than one service matches this request; name one with the X-Clef-Service header.',
  },
  host_not_allowed: { status: 403, message: 'The target host is not allowed through this proxy.' },
  no_matching_service: { status: 403, message: 'No service matches this host and path.' },
  service_not_allowed: {
    status: 403,
    message: 'The service named in X-Clef-Service does not match this request.',
  },
  identity_not_allowed: {
    status: 403,
    message: 'This workload identity may not use the service that matches this request.',
  },
  https_required: { status: 403, message: 'Requests to a service host must use HTTPS (CONNECT).' },
  // Issue 13 (SPEC §12 wave 2): the target's resolved address is link-local, metadata, private, … (egress guard).
  destination_not_allowed: {
    status: 403,
    message: 'The target resolves to an address this proxy does not connect to.',
  },
  proxy_auth_required: { status: 407, message: 'Proxy authentication is required.' },
  misdirected_request: { status: 421, message: 'The Host header does not name the CONNECT target.' },
  headers_too_large: { status: 431, message: 'The request header block is too large.' },
  upstream_error: { status: 502, message: 'The upstream connection failed.' },
  upstream_tls_error: { status: 502, message: "The upstream server's certificate could not be verified." },
  upstream_proxy_error: { status: 502, message: 'The upstream proxy refused or failed the connection.' },
  upstream_proxy_auth_failed: { status: 502, message: 'The upstream proxy rejected our credentials.' },
  invalid_credential: {
    status: 502,
    message: 'The credential for this service is not a valid header value.',
  },
  credential_unavailable: { status: 503, message: 'The credential for this service could not be fetched.' },
  overloaded: { status: 503, message: 'The proxy is at its connection limit.' },
  upstream_timeout: { status: 504, message: 'The upstream server did not answer in time.' },
});

/** True when `code` is one of the closed set of §6 codes. */
export function isProxyErrorCode(code: string): code is ProxyErrorCode {
  return Object.hasOwn(ERROR_TABLE, code);
}

/** A rendered proxy-made response: status, headers (flat name/value pairs) and the JSON body. */
export interface ErrorResponse {
  readonly status: number;
  readonly code: ProxyErrorCode;
  readonly headers: ReadonlyArray<readonly [string, string]>;
  readonly body: string;
}

/** Extra fields some codes add to the body (§6: `ambiguous_service` lists its candidates). */
export interface ErrorExtras {
  readonly candidates?: readonly string[];
}

/**
 * Render `code` as a response. The message comes from the table only, so no caller can put a secret in it.
 */
export function toErrorResponse(code: ProxyErrorCode, extras: ErrorExtras = {}): ErrorResponse {
  const { status, message } = ERROR_TABLE[code];
  const payload: Record<string, unknown> = { error: code, message };
  if (extras.candidates) payload.candidates = [...extras.candidates];
  const body = JSON.stringify(payload);
  const headers: Array<readonly [string, string]> = [
    ['Content-Type', 'application/json'],
    ['Content-Length', String(Buffer.byteLength(body))],
    ['X-Clef-Proxy-Error', code],
  ];
  if (code === 'proxy_auth_required') headers.push(['Proxy-Authenticate', 'Basic realm="clef-proxy"']);
  return { status, code, headers, body };
}

/** Standard reason phrases for the statuses the proxy makes. */
export const REASON_PHRASES: Readonly<Record<number, string>> = Object.freeze({
  200: 'OK',
  400: 'Bad Request',
  403: 'Forbidden',
  407: 'Proxy Authentication Required',
  421: 'Misdirected Request',
  431: 'Request Header Fields Too Large',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
});

/**
 * Serialise an error response as raw HTTP/1.1 bytes, for the front door where no `http.ServerResponse`
 * exists yet. Always `Connection: close`: a refused connection is not reused.
 */
export function serializeErrorResponse(res: ErrorResponse): string {
  let head = `HTTP/1.1 ${res.status} ${REASON_PHRASES[res.status] ?? 'Error'}\r\n`;
  for (const [name, value] of res.headers) head += `${name}: ${value}\r\n`;
  return `${head}Connection: close\r\n\r\n${res.body}`;
}

/** An error that carries a §6 code; thrown only across async boundaries (agent, upstream), never for policy. */
export class ProxyError extends Error {
  readonly code: ProxyErrorCode;
  constructor(code: ProxyErrorCode, message?: string, options?: { cause?: unknown }) {
    super(message ?? ERROR_TABLE[code].message, options);
    this.name = 'ProxyError';
    this.code = code;
  }
}
