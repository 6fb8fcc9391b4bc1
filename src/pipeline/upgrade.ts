/**
 * The impure stage for requests that ask to switch protocols on an intercepted connection (SPEC §12 WebSocket,
 * RFC 6455 §4.2.1): a WebSocket upgrade runs the same policy stages as any request ({@link prepareRequest}: host
 * check, match, secret, inject, strip), is answered with the usual JSON error when denied, and is otherwise
 * carried by http/websocket.ts; exactly one `request` audit event is written, when it is over. Any other upgrade
 * (h2c, an HTTP/1.0 or non-GET request) is handled as the plain request it also is, its `Upgrade` stripped.
 */
import type { IncomingMessage } from 'node:http';
import { deniedRequestEvent, forwardedRequestEvent } from '../audit/emit.js';
import type { ProxyContext } from '../context.js';
import type { AuditReason } from '../errors.js';
import type { RequestHandler, UpgradeHandler } from '../http/inner-server.js';
import { sendError } from '../http/send-error.js';
import { trackedHandler } from '../http/tracked-handler.js';
import { carryWebSocket } from '../http/websocket.js';
import { clefServiceHeader, prepareRequest } from './prepare.js';
import { requestIdentity } from './run.js';

/** RFC 6455 §4.1: a GET over HTTP/1.1 whose `Upgrade` lists `websocket` (Node saw `Connection: upgrade`). */
export function isWebSocketUpgrade(req: IncomingMessage): boolean {
  if (req.method !== 'GET' || req.httpVersion !== '1.1') return false;
  const upgrade = req.headers.upgrade ?? '';
  return upgrade.split(',').some((t) => t.trim().toLowerCase() === 'websocket');
}

/**
 * Node does not parse the body of an upgrade request: its bytes arrive as the "head" of the new protocol. A
 * request that declares one can therefore be neither forwarded nor followed on the same connection safely.
 */
function declaresBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

/** Build the upgrade handler; `plain` is the intercept handler that non-WebSocket upgrades fall back to. */
export function createUpgradeHandler(ctx: ProxyContext, plain: RequestHandler): UpgradeHandler {
  return (req, res, conn, takeOver) => {
    if (!isWebSocketUpgrade(req) && !declaresBody(req)) return plain(req, res, conn);
    const work = trackedHandler(ctx, 'upgrade handler', async (_req, _res, _conn, requestId, start) => {
      const target = conn.target!;
      const prepared = await prepareRequest(ctx, conn, target, {
        rawUrl: req.url ?? '',
        rawHeaders: req.rawHeaders,
        clefService: clefServiceHeader(req.rawHeaders),
      });
      const method = req.method ?? '';
      const identity = requestIdentity(requestId, method, prepared);
      const refused = (reason: AuditReason, status: number | null) =>
        ctx.audit.write(deniedRequestEvent(conn, target, identity, reason, status, start));
      if (declaresBody(req)) {
        res.shouldKeepAlive = false;
        return refused('bad_request', sendError(res, 'bad_request'));
      }
      if (!prepared.ok) return refused(prepared.code, sendError(res, prepared.code, prepared.extras));
      if (res.destroyed || req.socket.destroyed) return refused('client_aborted', null);

      const outcome = await carryWebSocket(ctx, {
        req,
        res,
        takeOver,
        tracked: conn.socket,
        target,
        path: prepared.path,
        // Strip removed the hop-by-hop pair; this hop switches too, so it is put back (RFC 6455 §4.1 items 5–6).
        rawHeaders: [...prepared.rawHeaders, 'Connection', 'Upgrade', 'Upgrade', 'websocket'],
      });
      const decision = prepared.service ? 'inject' : 'forward';
      ctx.audit.write(forwardedRequestEvent(conn, target, identity, decision, outcome, start));
    });
    work(req, res, conn);
  };
}
