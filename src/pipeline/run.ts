/**
 * The one impure pipeline stage (STYLE habit 2): runs the pure stages in order — host check → match → secret →
 * inject → forward — answers denials, awaits the secret and the upstream, and writes exactly one `request` audit
 * event per request (SPEC §6 "Per request", §10).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Service } from '../agent/source.js';
import { type RequestFields, requestEvent } from '../audit/emit.js';
import { durationMs } from '../audit/events.js';
import type { ConnInfo, ProxyContext } from '../context.js';
import { type AuditReason, type ErrorExtras, ProxyError, type ProxyErrorCode } from '../errors.js';
import type { RequestHandler } from '../http/inner-server.js';
import { sendError } from '../http/send-error.js';
import { forward } from '../upstream/forward.js';
import { checkRequestHost } from './check-host.js';
import { inject } from './inject.js';
import { matchService, parseRequestTarget } from './match-service.js';
import { stripHeaders } from './strip.js';

type Partial = Pick<RequestFields, 'method' | 'path' | 'request_id'> & {
  service: Service | null;
};

/** Build the request handler for intercepted (decrypted) requests. */
export function createInterceptHandler(ctx: ProxyContext): RequestHandler {
  return (req, res, conn) => {
    handle(ctx, req, res, conn).catch((err: unknown) => {
      // A fault in one request closes its connection only (SPEC §8).
      ctx.logger.error({ conn_id: conn.id, err: String(err) }, 'request handler failed');
      res.destroy();
    });
  };
}

async function handle(
  ctx: ProxyContext,
  req: IncomingMessage,
  res: ServerResponse,
  conn: ConnInfo,
): Promise<void> {
  // Ended only after the audit event is written, so a drain that resolves has every event (SPEC §8, §10).
  const endBusy = ctx.tracker.begin(conn.socket);
  try {
    await pipeline(ctx, req, res, conn);
  } finally {
    endBusy();
  }
}

async function pipeline(
  ctx: ProxyContext,
  req: IncomingMessage,
  res: ServerResponse,
  conn: ConnInfo,
): Promise<void> {
  const start = process.hrtime.bigint();
  if (ctx.tracker.draining) res.shouldKeepAlive = false;
  conn.requests++;
  const target = conn.target!;
  const rawUrl = req.url ?? '';
  const parsedTarget = parseRequestTarget(rawUrl);
  const info: Partial = {
    request_id: `${conn.id}.${conn.requests}`,
    method: req.method ?? '',
    path: parsedTarget.ok ? parsedTarget.value.path : '',
    service: null,
  };

  // A request refused before it went upstream: `status` is what reached the client, null when nothing did.
  const refused = (reason: AuditReason, status: number | null) => {
    ctx.audit.write(
      requestEvent(conn, target, {
        ...fields(info),
        decision: 'deny',
        reason,
        status,
        bytes_in: 0,
        bytes_out: 0,
        duration_ms: durationMs(start),
        via_upstream_proxy: false,
      }),
    );
  };
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
    const service = match.value.service;
    info.service = service;
    let secret: string;
    try {
      const pending = ctx.source.secret(service.auth.secret);
      secret = typeof pending === 'string' ? pending : await pending;
    } catch (err) {
      // Fail closed (SPEC §5): the request is never forwarded without its credential.
      ctx.logger.warn(
        { conn_id: conn.id, service: service.name, secret_ref: service.auth.secret, cause: causeOf(err) },
        'secret unavailable',
      );
      return deny('credential_unavailable');
    }
    const injected = inject({ path, rawHeaders }, service.auth, secret);
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
  ctx.audit.write(
    requestEvent(conn, target, {
      ...fields(info),
      decision: info.service ? 'inject' : 'forward',
      ...(outcome.reason ? { reason: outcome.reason } : {}),
      status: outcome.status,
      bytes_in: outcome.bytesIn,
      bytes_out: outcome.bytesOut,
      duration_ms: durationMs(start),
      via_upstream_proxy: outcome.viaUpstreamProxy,
    }),
  );
}

function fields(
  info: Partial,
): Pick<RequestFields, 'request_id' | 'method' | 'path' | 'service' | 'auth_type' | 'secret_ref'> {
  return {
    request_id: info.request_id,
    method: info.method,
    path: info.path,
    service: info.service?.name ?? null,
    auth_type: info.service?.auth.type ?? null,
    secret_ref: info.service?.auth.secret ?? null,
  };
}

function causeOf(err: unknown): string {
  if (err instanceof ProxyError && err.cause instanceof Error) return err.cause.message;
  return err instanceof Error ? err.message : String(err);
}
