/**
 * The HTTP/1.1 server the proxy feeds sockets to (SPEC §6): decrypted sockets inside an intercepted TLS session,
 * and plain connections whose first head was an absolute-form `http://` request. A never-listening `http.Server`,
 * so Node's own parser (llhttp) does all request framing — no hand-parsed bodies.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { denyEvent } from '../audit/emit.js';
import type { ConnInfo, ProxyContext } from '../context.js';
import { answerClientError } from './client-error.js';
import { type HeadWatch, watchHeads } from './head-watch.js';
import { runUpgrade } from './upgrade-socket.js';

export type RequestHandler = (req: IncomingMessage, res: ServerResponse, conn: ConnInfo) => void;

/**
 * A request that asks to switch protocols (`Connection: upgrade` + `Upgrade`). `res` answers it like any request
 * (a denial, a relayed non-101): once that response is finished the connection goes on serving HTTP/1.1 unless it
 * was not keep-alive. `takeOver()` instead hands over the raw socket for the new protocol, with the bytes the
 * client sent past the request head; the inner server then forgets the connection.
 */
export type UpgradeHandler = (
  req: IncomingMessage,
  res: ServerResponse,
  conn: ConnInfo,
  takeOver: () => { socket: Socket; head: Buffer },
) => void;

export interface InnerServer {
  /** Start serving HTTP on a socket (a finished TLS session, or a plain one with its first head put back). */
  accept(socket: Socket, conn: ConnInfo): void;
  close(): void;
}

/**
 * Build the server. Without `upgrade`, a request carrying `Upgrade` is handled as a plain request (and strip drops
 * the header); with it, such requests go to `upgrade` instead (SPEC §12 WebSocket, intercepted connections only).
 */
export function createInnerServer(
  ctx: ProxyContext,
  handle: RequestHandler,
  upgrade?: UpgradeHandler,
): InnerServer {
  const conns = new WeakMap<Socket, ConnInfo>();
  // The unfinished responses on each socket (more than one when requests are pipelined). A parser error that
  // arrives once one of them has its head out — a bad chunk in a body the upstream already answered, or in a
  // pipelined request behind a streaming response — must not splice an error response into that body.
  const inflight = new WeakMap<Socket, Set<ServerResponse>>();
  const heads = new WeakMap<Socket, HeadWatch>();
  // An upgrade request waiting for the responses pipelined ahead of it to finish.
  const afterInflight = new WeakMap<Socket, () => void>();
  const server = createServer({
    maxHeaderSize: ctx.limits.maxHeaderBytes,
    keepAliveTimeout: ctx.limits.idleTimeoutMs,
    // Streams (SSE, long downloads) may run as long as they like; the upstream timeouts bound the wait for heads.
    requestTimeout: 0,
    // A missing Host is ours to refuse with our own JSON 400 (check-host.ts), not Node's bare one.
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
    const socket = req.socket;
    // A request is in flight: the idle timer set in accept() stops here; the upstream timeouts bound the wait
    // from now on, and Node arms keepAliveTimeout again once the response is done.
    socket.setTimeout(0);
    const watch = heads.get(socket);
    watch?.busy();
    const open = inflight.get(socket) ?? new Set<ServerResponse>();
    inflight.set(socket, open);
    open.add(res);
    // 'finish': every byte of it is in the socket, so an error response written after it lands after it.
    const done = () => {
      if (!open.delete(res) || open.size > 0) return;
      const next = afterInflight.get(socket);
      if (next === undefined) return watch?.idle();
      afterInflight.delete(socket);
      next();
    };
    res.once('finish', done);
    res.once('close', done);
    handle(req, res, conn);
  });
  server.on('clientError', (err: Error, socket: Socket) => {
    let responseStarted = false;
    for (const res of inflight.get(socket) ?? []) responseStarted ||= res.headersSent;
    answerClientError(ctx, conns.get(socket), err, socket, responseStarted);
  });
  // CONNECT inside the tunnel: not supported; without a 'connect' listener Node destroys the socket. An Upgrade
  // request, with no 'upgrade' listener, reaches 'request' like any other (Node 20), and strip drops its Upgrade
  // header. With one, Node detaches its parser from the socket and hands the socket over (see upgrade-socket.ts).
  if (upgrade !== undefined) {
    server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
      const conn = conns.get(socket);
      if (!conn) {
        socket.destroy();
        return;
      }
      // Idle and head deadlines are the handler's from here: Node removed its own timeout listener.
      socket.setTimeout(0);
      heads.get(socket)?.busy();
      const start = () =>
        runUpgrade(req, socket, head, (res, takeOver) => upgrade(req, res, conn, takeOver), resume);
      // A pipelined upgrade behind unfinished responses waits for them: the socket is theirs until then.
      const open = inflight.get(socket);
      if (open === undefined || open.size === 0) start();
      else afterInflight.set(socket, start);
    });
  }
  // The connection goes back to plain HTTP after an upgrade answered with a normal response.
  const resume = (socket: Socket, head: Buffer) => {
    if (head.length > 0) socket.unshift(head);
    server.emit('connection', socket);
    socket.setTimeout(ctx.limits.idleTimeoutMs);
    heads.get(socket)?.idle();
  };
  return {
    accept(socket, conn) {
      conns.set(socket, conn);
      server.emit('connection', socket);
      // Node's idle handling covers only the gaps between requests (keepAliveTimeout), and its headers deadline is
      // enforced only by a server that listens — this one never does. Without this a client could hold a
      // handshaken connection, or a half-sent request head, open forever. SPEC §6 idle_timeout_ms: no bytes for
      // that long and no request in flight ⇒ Node's 'timeout' handler destroys the socket.
      socket.setTimeout(ctx.limits.idleTimeoutMs);
      // A head started but never finished (slowloris inside TLS) is closed at header_timeout_ms from its first byte.
      const watch = watchHeads(socket, ctx.limits.headerTimeoutMs, () => {
        socket.destroy();
        ctx.audit.write(denyEvent(conn, 'header_timeout'));
      });
      heads.set(socket, watch);
      watch.idle();
    },
    close() {
      server.close();
    },
  };
}
