/**
 * The impure pipeline stage for HTTP/2 streams: the twin of run.ts. `:authority` is checked as `Host` (421 on a
 * mismatch), then the same {@link prepareRequest} stages, the same JSON error bodies, one `request` audit event per
 * stream, and the stream relayed to the upstream over HTTP/2 or HTTP/1.1, whichever the upstream speaks.
 */
import { constants, type ServerHttp2Stream } from 'node:http2';
import { deniedRequestEvent } from '../audit/emit.js';
import type { ConnInfo, ProxyContext } from '../context.js';
import type { AuditReason } from '../errors.js';
import { h2ClientSide, sendH2Error } from '../http/h2-client-side.js';
import type { H2StreamHandler } from '../http/h2-server.js';
import { CONNECTION_SPECIFIC, rawHeader, withoutPseudo } from '../upstream/h2-headers.js';
import { openUpstreamCall } from '../upstream/open-call.js';
import { relay } from '../upstream/relay.js';
import { forwardedAudit } from './audit-forwarded.js';
import { clefServiceHeader, type PreparedRequest, prepareRequest } from './prepare.js';
import { requestIdentity } from './run.js';

/** Build the handler for streams on intercepted HTTP/2 connections. */
export function createH2StreamHandler(ctx: ProxyContext): H2StreamHandler {
  return (stream, raw, conn) => {
    const start = process.hrtime.bigint();
    const endBusy = ctx.tracker.begin(conn.socket);
    conn.requests++;
    pipeline(ctx, stream, raw, conn, `${conn.id}.${conn.requests}`, start)
      .catch((err: unknown) => {
        ctx.logger.error({ conn_id: conn.id, err: String(err) }, 'HTTP/2 stream handler failed');
        if (!stream.closed) stream.close(constants.NGHTTP2_INTERNAL_ERROR);
      })
      .finally(endBusy);
  };
}

/**
 * The request's header list as HTTP/1.1 would carry it: `:authority` becomes `Host` (RFC 9113 §8.3.1). A `Host`
 * field that repeats it is dropped; one that differs stays beside it, so the host stage refuses the pair.
 */
function asHttp1Headers(raw: readonly string[], authority: string | undefined): string[] {
  const fields = withoutPseudo(raw);
  if (authority === undefined) return fields;
  const out = ['host', authority];
  for (let i = 0; i < fields.length; i += 2) {
    if (fields[i] === 'host' && fields[i + 1] === authority) continue;
    out.push(fields[i]!, fields[i + 1]!);
  }
  return out;
}

/** RFC 9113 §8.2.2: a connection-specific field (or `te` other than `trailers`) makes the request malformed. */
function hasConnectionHeaders(fields: readonly string[]): boolean {
  for (let i = 0; i < fields.length; i += 2) {
    const name = fields[i]!;
    if (CONNECTION_SPECIFIC.has(name)) return true;
    if (name === 'te' && fields[i + 1]!.trim().toLowerCase() !== 'trailers') return true;
  }
  return false;
}

/**
 * RFC 9113 §6.5.2 header list size: every field's name and value octets plus 32. nghttp2 applies the advertised
 * `SETTINGS_MAX_HEADER_LIST_SIZE` only once the client has acknowledged it, so a header block sent before that ACK
 * would otherwise pass unbounded; checked here against `max_header_bytes` for every stream.
 */
function headerListSize(raw: readonly string[]): number {
  let size = 0;
  for (let i = 0; i < raw.length; i += 2) size += raw[i]!.length + raw[i + 1]!.length + 32;
  return size;
}

async function pipeline(
  ctx: ProxyContext,
  stream: ServerHttp2Stream,
  raw: string[],
  conn: ConnInfo,
  requestId: string,
  start: bigint,
): Promise<void> {
  const target = conn.target!;
  const method = rawHeader(raw, ':method') ?? '';
  const rawUrl = rawHeader(raw, ':path') ?? '';
  const rawHeaders = asHttp1Headers(raw, rawHeader(raw, ':authority'));
  const clefService = clefServiceHeader(rawHeaders);
  const malformed = method === 'CONNECT' || hasConnectionHeaders(rawHeaders);
  const tooLarge = headerListSize(raw) > ctx.limits.maxHeaderBytes;
  const prepared: PreparedRequest = tooLarge
    ? { ok: false, code: 'headers_too_large', auditPath: '', service: null, identity: conn.identity }
    : malformed
      ? { ok: false, code: 'bad_request', auditPath: '', service: null, identity: conn.identity }
      : await prepareRequest(ctx, conn, target, { rawUrl, rawHeaders, clefService });
  const refused = (reason: AuditReason, status: number | null) =>
    ctx.audit.write(
      deniedRequestEvent(conn, target, requestIdentity(requestId, method, prepared), reason, status, start),
    );
  if (!prepared.ok) return refused(prepared.code, sendH2Error(stream, prepared.code, prepared.extras));

  // A reset that arrived with (or just after) its HEADERS frame is seen by now, so a rapid-reset flood never opens
  // one upstream stream per reset stream: yield to the frames already read before anything goes upstream.
  await new Promise<void>((resolve) => setImmediate(resolve));
  if (stream.closed || stream.destroyed) return refused('client_aborted', null);

  const decision = prepared.service ? 'inject' : 'forward';
  const id = requestIdentity(requestId, method, prepared);
  const { audit, early } = forwardedAudit(ctx, conn, target, id, decision, start);
  audit(
    await relay(
      h2ClientSide(stream, method),
      openUpstreamCall(ctx, target, {
        method,
        path: prepared.path,
        rawHeaders: prepared.rawHeaders,
        authority: rawHeader(prepared.rawHeaders, 'host') ?? target.key,
        hasBody: !stream.endAfterHeaders,
        teTrailers: rawHeader(raw, 'te') !== undefined,
      }),
      ctx.limits.upstreamResponseTimeoutMs,
      ctx.pool.route(target, 'https').viaUpstreamProxy,
      early,
    ),
  );
}
