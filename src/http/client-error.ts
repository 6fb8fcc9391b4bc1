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
 *
 * `responseStarted`: a response's head already went out on this socket (the parser failed in the body of a request
 * whose upstream answered early). Then no error response can be written — it would land inside that response's
 * body, and with `Content-Length` even pass for part of it — so the connection is only closed, which cuts the
 * response short (SPEC §6: never a response that looks complete). Node's own default handler makes the same
 * check (`socketOnError`, `_httpMessage._headerSent`).
 */
export function answerClientError(
  ctx: ProxyContext,
  conn: ConnInfo | undefined,
  err: Error,
  socket: Socket,
  responseStarted = false,
): void {
  const code = parserErrorCode(err as NodeJS.ErrnoException);
  if (code === undefined || !socket.writable) {
    socket.destroy();
    return;
  }
  if (responseStarted) {
    socket.destroy();
    if (conn) ctx.audit.write(denyEvent(conn, code));
    return;
  }
  const res = toErrorResponse(code);
  socket.end(serializeErrorResponse(res));
  socket.destroySoon?.();
  if (conn) ctx.audit.write(denyEvent(conn, code, res.status));
}
