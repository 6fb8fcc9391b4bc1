/**
 * The HTTP/2 server for intercepted connections whose client chose `h2` by ALPN (RFC 9113 §3.2): a never-listening
 * `http2.Server` fed the finished TLS socket, so nghttp2 does all framing, HPACK and flow control. Each stream goes
 * to the same pipeline as an HTTP/1.1 request (pipeline/run-h2.ts). The session is bounded (docs/hardening.md):
 * `max_concurrent_streams`, `max_header_bytes` as the header list size, idle sessions closed after
 * `idle_timeout_ms`, unfinished header blocks after `header_timeout_ms`, and rapid-reset, PING and SETTINGS floods
 * closed with GOAWAY ENHANCE_YOUR_CALM. Extended CONNECT (RFC 8441) is not offered.
 */
import {
  constants,
  createServer,
  type IncomingHttpHeaders,
  type ServerHttp2Session,
  type ServerHttp2Stream,
} from 'node:http2';
import type { TLSSocket } from 'node:tls';
import { denyEvent } from '../audit/emit.js';
import type { ConnInfo, ProxyContext } from '../context.js';
import { CONTROL_FRAMES_PER_SECOND, RateWindow, RESETS_PER_SECOND, watchH2Heads } from './h2-guards.js';

export type H2StreamHandler = (stream: ServerHttp2Stream, rawHeaders: string[], conn: ConnInfo) => void;

export interface H2Server {
  /** Start HTTP/2 on a TLS socket whose handshake chose `h2`. */
  accept(socket: TLSSocket, conn: ConnInfo): void;
  close(): void;
}

export function createH2Server(ctx: ProxyContext, handle: H2StreamHandler): H2Server {
  const { limits } = ctx;
  const server = createServer({
    settings: {
      maxConcurrentStreams: limits.maxConcurrentStreams,
      maxHeaderListSize: limits.maxHeaderBytes,
      // RFC 8441 WebSocket-over-h2 is not carried: without this setting a client must not send `:protocol`.
      enableConnectProtocol: false,
    },
    maxSessionInvalidFrames: 100,
    maxSessionRejectedStreams: 100,
  });
  let accepting: ConnInfo | undefined;
  server.on('session', (session: ServerHttp2Session) => {
    const conn = accepting;
    if (conn === undefined) {
      session.destroy();
      return;
    }
    guard(ctx, session, conn, handle);
  });
  return {
    accept(socket, conn) {
      // A server TLSSocket made by hand keeps `secureConnecting` true after its handshake (only tls.Server clears
      // it, in onServerSocketSecure); node:http2 would then wait for a 'secureConnect' that never comes.
      (socket as TLSSocket & { secureConnecting: boolean }).secureConnecting = false;
      accepting = conn;
      try {
        server.emit('connection', socket);
      } finally {
        accepting = undefined;
      }
    },
    close() {
      server.close();
    },
  };
}

/** Wire one client session: its streams to the handler, and every bound above. */
function guard(
  ctx: ProxyContext,
  session: ServerHttp2Session,
  conn: ConnInfo,
  handle: H2StreamHandler,
): void {
  const { limits, logger } = ctx;
  let open = 0;
  let idle: NodeJS.Timeout | undefined;
  const calm = (what: string) => {
    logger.warn({ conn_id: conn.id, what }, 'HTTP/2 client closed: abuse limit');
    session.goaway(constants.NGHTTP2_ENHANCE_YOUR_CALM);
    session.destroy();
  };
  const armIdle = () => {
    clearTimeout(idle);
    // SPEC §6 idle_timeout_ms: no stream open for that long ⇒ GOAWAY, the connection closes (PINGs do not count).
    idle = setTimeout(() => session.close(), limits.idleTimeoutMs);
  };
  const heads = watchH2Heads(session, limits.headerTimeoutMs, () => {
    session.destroy();
    ctx.audit.write(denyEvent(conn, 'header_timeout'));
  });
  const resets = new RateWindow(RESETS_PER_SECOND);
  const control = new RateWindow(CONTROL_FRAMES_PER_SECOND);
  session.on('ping', () => {
    if (control.hit()) calm('PING flood');
  });
  session.on('remoteSettings', () => {
    if (control.hit()) calm('SETTINGS flood');
  });
  session.on('error', (err: NodeJS.ErrnoException) => {
    logger.debug({ conn_id: conn.id, code: err.code, message: err.message }, 'HTTP/2 session error');
  });
  session.once('close', () => {
    clearTimeout(idle);
    heads.stop();
  });
  armIdle();

  session.on(
    'stream',
    (stream: ServerHttp2Stream, _headers: IncomingHttpHeaders, _flags: number, raw: string[]) => {
      heads.seen(stream.id ?? 0);
      open++;
      clearTimeout(idle);
      stream.on('error', () => {});
      stream.once('close', () => {
        // A stream reset before its response head went out: counted, so a rapid-reset flood closes the session.
        if (stream.rstCode !== constants.NGHTTP2_NO_ERROR && !stream.headersSent && resets.hit()) {
          calm('rapid reset');
        }
        if (--open === 0 && !session.closed) armIdle();
      });
      // Draining (SPEC §8): finish the streams already open, refuse new ones with GOAWAY.
      if (ctx.tracker.draining) session.close();
      handle(stream, raw, conn);
    },
  );
}
