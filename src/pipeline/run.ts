/**
 * The one impure pipeline stage (STYLE habit 2): runs the pure stages in order — host check → match → secret →
 * inject → forward — answers denials, awaits the secret and the upstream, and writes exactly one `request` audit
 * event per request (SPEC §6 "Per request", §10).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Service } from '../agent/source.js';
import { deniedRequestEvent, forwardedRequestEvent, type RequestIdentity } from '../audit/emit.js';
import type { ConnInfo, ProxyContext } from '../context.js';
import { type AuditReason, type ErrorExtras, ProxyError, type ProxyErrorCode } from '../errors.js';
import type { RequestHandler } from '../http/inner-server.js';
import { sendError } from '../http/send-error.js';
import { trackedHandler } from '../http/tracked-handler.js';
import { forward } from '../upstream/forward.js';
import { checkRequestHost } from './check-host.js';
import { inject } from './inject.js';
import { matchService, parseRequestTarget } from './match-service.js';
import { stripHeaders } from './strip.js';

/** Build the request handler for intercepted (decrypted) requests. */
export function createInterceptHandler(ctx: ProxyContext): RequestHandler {
  return trackedHandler(ctx, 'request handler', (req, res, conn, requestId, start) =>
    pipeline(ctx, req, res, conn, requestId, start),
  );
}

async function pipeline(
  ctx: ProxyContext,
  req: IncomingMessage,
  res: ServerResponse,
  conn: ConnInfo,
  requestId: string,
  start: bigint,
): Promise<void> {
  const target = conn.target!;
  const rawUrl = req.url ?? '';
  const parsedTarget = parseRequestTarget(rawUrl);
  let service: Service | null = null;
  const id = (): RequestIdentity => ({
    request_id: requestId,
    method: req.method ?? '',
    path: parsedTarget.ok ? parsedTarget.value.path : '',
    service: service?.name ?? null,
    auth_type: service?.auth.type ?? null,
    secret_ref: service?.auth.secret ?? null,
  });
  const refused = (reason: AuditReason, status: number | null) =>
    ctx.audit.write(deniedRequestEvent(conn, target, id(), reason, status, start));
  const deny = (code: ProxyErrorCode, extras?: ErrorExtras) => refused(code, sendError(res, code, extras));

  // Raw headers, not req.headers.host: Node keeps only the first of two Host lines there (SPEC §6).
  const host = checkRequestHost(req.rawHeaders, target);
  if (!host.ok) return deny(host.code, host.extras);
  if (!parsedTarget.ok) return deny(parsedTarget.code, parsedTarget.extras);

  const clefService = req.headers['x-clef-service'];
  const match = matchService({
    index: ctx.source.services(),
    target,
    path: parsedTarget.value.path,
    clefService: Array.isArray(clefService) ? clefService.join(',') : clefService,
    isPassthrough: ctx.passthrough.has(target.key),
  });
  if (!match.ok) return deny(match.code, match.extras);

  let path = rawUrl;
  let rawHeaders = stripHeaders(req.rawHeaders);
  if (match.value.kind === 'service') {
    const svc = match.value.service;
    service = svc;
    let secret: string;
    try {
      const pending = ctx.source.secret(svc.auth.secret);
      secret = typeof pending === 'string' ? pending : await pending;
    } catch (err) {
      // Fail closed (SPEC §5): the request is never forwarded without its credential.
      ctx.logger.warn(
        { conn_id: conn.id, service: svc.name, secret_ref: svc.auth.secret, cause: causeOf(err) },
        'secret unavailable',
      );
      return deny('credential_unavailable');
    }
    const injected = inject({ path, rawHeaders }, svc.auth, secret);
    if (!injected.ok) return deny(injected.code, injected.extras);
    path = injected.value.path;
    rawHeaders = injected.value.rawHeaders;
  }
  // The client went away while the secret was awaited: nothing was sent upstream and no answer can reach it.
  // Audited as what happened (SPEC §10 `client_aborted`), not as a malformed request. The socket is checked too:
  // a response queued behind another (pipelining) is never marked destroyed when the connection closes.
  if (res.destroyed || req.socket.destroyed) return refused('client_aborted', null);

  const outcome = await forward({
    pool: ctx.pool,
    req,
    res,
    target,
    scheme: 'https',
    path,
    rawHeaders,
    responseTimeoutMs: ctx.limits.upstreamResponseTimeoutMs,
  });
  ctx.audit.write(forwardedRequestEvent(conn, target, id(), service ? 'inject' : 'forward', outcome, start));
}

function causeOf(err: unknown): string {
  if (err instanceof ProxyError && err.cause instanceof Error) return err.cause.message;
  return err instanceof Error ? err.message : String(err);
}
