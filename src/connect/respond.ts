/**
 * Responses the front door writes itself, before any TLS or HTTP parser owns the socket (SPEC §6).
 */
import type { Socket } from 'node:net';
import { type ErrorExtras, type ProxyErrorCode, serializeErrorResponse, toErrorResponse } from '../errors.js';

/** How long a refused client gets to read its error before the socket is destroyed. */
const LINGER_MS = 2_000;

/**
 * Write the §6 error response for `code` and close the connection. Returns the status sent.
 * The socket is ended (FIN after the bytes) and destroyed if the client does not close in time.
 */
export function refuse(socket: Socket, code: ProxyErrorCode, extras?: ErrorExtras): number {
  const res = toErrorResponse(code, extras);
  if (!socket.destroyed && socket.writable) {
    socket.end(serializeErrorResponse(res));
    // Without reading, a client that keeps sending would hold the socket half-open; drop what it sends.
    socket.resume();
    socket.setTimeout(LINGER_MS, () => socket.destroy());
  } else {
    socket.destroy();
  }
  return res.status;
}

/** The CONNECT success line (RFC 9110 §9.3.6: a 2xx with no body). */
export const CONNECT_ESTABLISHED = 'HTTP/1.1 200 Connection Established\r\n\r\n';
