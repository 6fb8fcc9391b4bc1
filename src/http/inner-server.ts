/**
 * The HTTP/1.1 server inside an intercepted TLS session (SPEC §6): a never-listening `http.Server` fed with
 * decrypted sockets, so Node's own parser (llhttp) does all request framing — no hand-parsed bodies.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { ConnInfo, ProxyContext } from '../context.js';
import { answerClientError } from './client-error.js';

export type RequestHandler = (req: IncomingMessage, res: ServerResponse, conn: ConnInfo) => void;

export interface InnerServer {
  /** Start serving HTTP on a socket whose TLS handshake has finished. */
  accept(socket: Socket, conn: ConnInfo): void;
  close(): void;
}

export function createInnerServer(ctx: ProxyContext, handle: RequestHandler): InnerServer {
  const conns = new WeakMap<Socket, ConnInfo>();
  const server = createServer({
    maxHeaderSize: ctx.limits.maxHeaderBytes,
    keepAliveTimeout: ctx.limits.idleTimeoutMs,
    headersTimeout: ctx.limits.headerTimeoutMs,
    // Streams (SSE, long downloads) may run as long as they like; the upstream timeouts bound the wait for heads.
    requestTimeout: 0,
    // A missing Host is ours to refuse with 421 (SPEC §6), not Node's bare 400.
    requireHostHeader: false,
    // Pipelined requests are answered in order by Node; never merge duplicate headers silently.
    joinDuplicateHeaders: false,
  });
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const conn = conns.get(req.socket);
    if (!conn) {
      req.socket.destroy();
      return;
    }
    handle(req, res, conn);
  });
  server.on('clientError', (err: Error, socket: Socket) => {
    answerClientError(ctx, conns.get(socket), err, socket);
  });
  // CONNECT or Upgrade inside the tunnel: not supported in v1 (SPEC §12); Node destroys the socket without listeners.
  return {
    accept(socket, conn) {
      conns.set(socket, conn);
      server.emit('connection', socket);
    },
    close() {
      server.close();
    },
  };
}
