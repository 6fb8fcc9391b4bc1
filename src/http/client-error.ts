/**
 * What to answer when Node's HTTP parser (llhttp) rejects bytes (SPEC §6: malformed framing ⇒ 400 `bad_request`
 * and the connection closed; an oversized head ⇒ 431).
 */
import type { Socket } from 'node:net';
import { denyEvent } from '../audit/emit.js';
import type { ConnInfo, ProxyContext } from '../context.js';
import { type ProxyErrorCode, serializeErrorResponse, toErrorResponse } from '../errors.js';

/** Map an llhttp error to a §6 code; undefined for transport errors that deserve no answer. */
export function parserErrorCode(err: NodeJS.ErrnoException): ProxyErrorCode | undefined {
  const code = err.code ?? '';
  if (code === 'HPE_HEADER_OVERFLOW') return 'headers_too_large';
  if (code.startsWith('HPE_')) return 'bad_request';
  return undefined;
}

/**
 * Answer a parser error on `socket` (if it can still be written), close it, and audit a `deny`.
 * Node guarantees nothing else is written to the socket once `clientError` fires.
 */
export function answerClientError(
  ctx: ProxyContext,
  conn: ConnInfo | undefined,
  err: Error,
  socket: Socket,
): void {
  const code = parserErrorCode(err as NodeJS.ErrnoException);
  if (code === undefined || !socket.writable) {
    socket.destroy();
    return;
  }
  const res = toErrorResponse(code);
  socket.end(serializeErrorResponse(res));
  socket.destroySoon?.();
  if (conn) ctx.audit.write(denyEvent(conn, code, res.status));
}
