/**
 * Interception (SPEC §6): answer `200`, peek the ClientHello without consuming it, check SNI against the CONNECT
 * host, then terminate TLS with the host's leaf and hand the decrypted stream to the inner HTTP server.
 * Refusals here cannot carry a response: the connection is closed and a `deny` event written.
 */

import type { SecureContext } from 'node:tls';
import { TLSSocket } from 'node:tls';
import { denyEvent } from '../audit/emit.js';
import { CONNECT_ESTABLISHED } from '../connect/respond.js';
import type { ConnInfo, ProxyContext } from '../context.js';
import type { ConnectionRefusalCode } from '../errors.js';
import type { H2Server } from '../http/h2-server.js';
import type { InnerServer } from '../http/inner-server.js';
import { normalizeHost } from '../net/host-port.js';
import { peekClientHello } from './peek-client-hello.js';

/** TLS alerts a client sends when it does not accept our certificate (unknown CA, bad or unknown certificate). */
const CLIENT_REJECTED_CERT = /alert (unknown ca|bad certificate|certificate unknown)/i;

/**
 * Stream buffer of the decrypted client socket. The default 16 KiB is one TLS record: a streamed body then moves
 * in lockstep, one record per event-loop turn and one write each; 64 KiB lets a few records queue and leave
 * together (docs/performance.md, downloads). It bounds buffered bytes, so an idle connection costs nothing more.
 */
const STREAM_HWM = 64 * 1024;

/** HTTP/2 preferred, HTTP/1.1 for everyone else (RFC 7301: the server picks from the client's list in our order). */
const ALPN = ['h2', 'http/1.1'];
const ALPN_H1_ONLY = ['http/1.1'];

function drop(ctx: ProxyContext, conn: ConnInfo, reason: ConnectionRefusalCode | 'bad_request'): void {
  conn.socket.destroy();
  ctx.audit.write(denyEvent(conn, reason));
}

export async function intercept(
  ctx: ProxyContext,
  conn: ConnInfo,
  initial: Buffer,
  inner: InnerServer,
  h2?: H2Server,
): Promise<void> {
  const { socket } = conn;
  const target = conn.target!;
  // SPEC §6: the handshake deadline runs from the 200, the wait for the ClientHello included.
  const deadline = Date.now() + ctx.limits.handshakeTimeoutMs;
  socket.write(CONNECT_ESTABLISHED);

  const hello = await peekClientHello(socket, { initial, deadline });
  switch (hello.status) {
    case 'ok':
      break;
    case 'not_tls':
      return drop(ctx, conn, 'not_tls');
    case 'invalid':
      // Starts like TLS but is not a well-formed ClientHello: refused as malformed input.
      return drop(ctx, conn, 'bad_request');
    case 'timeout':
      return drop(ctx, conn, 'handshake_timeout');
    default:
      socket.destroy();
      return;
  }
  if (hello.sni !== undefined && normalizeHost(hello.sni)?.host !== target.host) {
    return drop(ctx, conn, 'sni_mismatch');
  }

  let secureContext: SecureContext;
  try {
    const pending = ctx.leafCache.get(target.host, target.kind);
    secureContext = pending instanceof Promise ? await pending : pending;
  } catch (err) {
    ctx.logger.error({ conn_id: conn.id, host: target.host, err: String(err) }, 'leaf mint failed');
    socket.destroy();
    return;
  }
  if (socket.destroyed) return;

  // `highWaterMark` is passed to the underlying net.Socket (Node 20 reads it; @types/node omits it): see STREAM_HWM.
  const alpn = h2 === undefined ? ALPN_H1_ONLY : ALPN;
  const tlsOptions = { isServer: true, secureContext, ALPNProtocols: alpn, highWaterMark: STREAM_HWM };
  const tls = new TLSSocket(socket, tlsOptions);
  ctx.tracker.layer(socket, tls);
  const remaining = Math.max(0, deadline - Date.now());
  const timer = setTimeout(() => {
    tls.destroy();
    drop(ctx, conn, 'handshake_timeout');
  }, remaining);
  // A client that hangs up before the handshake ends has left: let the connection go at once, without a deny (as
  // the peek's `closed` outcome). The sockets are allowHalfOpen, so nothing else would end it before the deadline.
  // After 'secure' half-close stays allowed: the inner HTTP server relies on it.
  const gone = () => {
    clearTimeout(timer);
    tls.destroy();
  };
  socket.once('end', gone);
  tls.once('end', gone);
  let secured = false;
  tls.once('secure', () => {
    secured = true;
    clearTimeout(timer);
    socket.off('end', gone);
    tls.off('end', gone);
    if (h2 !== undefined && tls.alpnProtocol === 'h2') h2.accept(tls, conn);
    else inner.accept(tls, conn);
  });
  tls.on('error', (err: NodeJS.ErrnoException) => {
    clearTimeout(timer);
    // A failed handshake is most often a workload that does not trust the clef-proxy CA — the first thing an
    // operator needs to see, so it is logged at info with the host (SPEC §6 has no audit code for it). Errors on
    // an established session are routine (resets) and stay at debug.
    if (secured) {
      ctx.logger.debug({ conn_id: conn.id, code: err.code, message: err.message }, 'client TLS error');
    } else {
      const untrusted = CLIENT_REJECTED_CERT.test(err.message);
      const hint = untrusted
        ? { hint: 'the client rejected our leaf: does it trust the clef-proxy CA?' }
        : {};
      ctx.logger.info(
        {
          conn_id: conn.id,
          host: target.host,
          port: target.port,
          code: err.code,
          message: err.message,
          ...hint,
        },
        'client TLS handshake failed',
      );
    }
    tls.destroy();
  });
  tls.once('close', () => clearTimeout(timer));
}
