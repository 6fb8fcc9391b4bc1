/**
 * The frame every proxied HTTP request runs in, intercepted or plain-forwarded: numbered on its connection, counted
 * busy until its audit event is written (so a drain that resolves has every event, SPEC §8/§10), no keep-alive once
 * the proxy drains, and a fault that escapes closing this request's connection only (SPEC §8).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ConnInfo, ProxyContext } from '../context.js';
import type { RequestHandler } from './inner-server.js';

/** One request's work: `requestId` is `<conn>.<n>`, `startNs` when the head was parsed. */
export type RequestWork = (
  req: IncomingMessage,
  res: ServerResponse,
  conn: ConnInfo,
  requestId: string,
  startNs: bigint,
) => Promise<void>;

export function trackedHandler(ctx: ProxyContext, what: string, work: RequestWork): RequestHandler {
  return (req, res, conn) => {
    const startNs = process.hrtime.bigint();
    const endBusy = ctx.tracker.begin(conn.socket);
    if (ctx.tracker.draining) res.shouldKeepAlive = false;
    conn.requests++;
    work(req, res, conn, `${conn.id}.${conn.requests}`, startNs)
      .catch((err: unknown) => {
        ctx.logger.error({ conn_id: conn.id, err: String(err) }, `${what} failed`);
        res.destroy();
      })
      .finally(endBusy);
  };
}
