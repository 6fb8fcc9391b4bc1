/**
 * The one impure pipeline stage for HTTP/1.1 requests (STYLE habit 2): runs the policy stages ({@link prepareRequest}),
 * answers denials, awaits the upstream, and writes exactly one `request` audit event per request (SPEC §6
 * "Per request", §10).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { deniedRequestEvent, type RequestIdentity } from '../audit/emit.js';
import type { ConnInfo, ProxyContext } from '../context.js';
import type { AuditReason } from '../errors.js';
import type { RequestHandler } from '../http/inner-server.js';
import { sendError } from '../http/send-error.js';
import { trackedHandler } from '../http/tracked-handler.js';
import { type ForwardArgs, forward } from '../upstream/forward.js';
import { forwardNegotiated } from '../upstream/forward-h2.js';
import { forwardedAudit } from './audit-forwarded.js';
import { secretRef } from './credential.js';
import { clefServiceHeader, type Prepared, prepareRequest } from './prepare.js';

/** Build the request handler for intercepted (decrypted) requests. */
export function createInterceptHandler(ctx: ProxyContext): RequestHandler {
  return trackedHandler(ctx, 'request handler', (req, res, conn, requestId, start) =>
    pipeline(ctx, req, res, conn, requestId, start),
  );
}

/** The audit identity of a request from what the policy stages found. */
export function requestIdentity(requestId: string, method: string, prepared: Prepared): RequestIdentity {
  const service = prepared.service;
  return {
    request_id: requestId,
    identity: prepared.identity,
    method,
    path: prepared.auditPath,
    service: service?.name ?? null,
    auth_type: service?.auth.type ?? null,
    secret_ref: service ? secretRef(service.auth) : null,
  };
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
  const prepared = await prepareRequest(ctx, conn, target, {
    rawUrl: req.url ?? '',
    rawHeaders: req.rawHeaders,
    clefService: clefServiceHeader(req.rawHeaders),
  });
  const method = req.method ?? '';
  const refused = (reason: AuditReason, status: number | null) =>
    ctx.audit.write(
      deniedRequestEvent(conn, target, requestIdentity(requestId, method, prepared), reason, status, start),
    );
  if (!prepared.ok) return refused(prepared.code, sendError(res, prepared.code, prepared.extras));

  // The client went away while the secret was awaited: nothing was sent upstream and no answer can reach it.
  // Audited as what happened (SPEC §10 `client_aborted`), not as a malformed request. The socket is checked too:
  // a response queued behind another (pipelining) is never marked destroyed when the connection closes.
  if (res.destroyed || req.socket.destroyed) return refused('client_aborted', null);

  const decision = prepared.service ? 'inject' : 'forward';
  const id = requestIdentity(requestId, method, prepared);
  const { audit, early } = forwardedAudit(ctx, conn, target, id, decision, start);
  const args: ForwardArgs = {
    pool: ctx.pool,
    req,
    res,
    target,
    scheme: 'https',
    path: prepared.path,
    rawHeaders: prepared.rawHeaders,
    responseTimeoutMs: ctx.limits.upstreamResponseTimeoutMs,
    early,
  };
  // A route known to speak HTTP/1.1 goes straight on; a new one, or an HTTP/2 one, finds its protocol first.
  audit(
    ctx.upstreams.known(target) === 'h1' ? await forward(args) : await forwardNegotiated(ctx.upstreams, args),
  );
}
