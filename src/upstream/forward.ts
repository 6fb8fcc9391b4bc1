/**
 * Carry one request upstream and its response back (SPEC §6 Upstream): bodies streamed both ways with
 * back-pressure, 504 when no response head arrives in time, and a response cut short — never passed off as
 * complete — when the upstream fails after the head was sent.
 */
import { type IncomingMessage, request, type ServerResponse } from 'node:http';
import type { AuditReason } from '../errors.js';
import { ProxyError } from '../errors.js';
import { sendError } from '../http/send-error.js';
import type { HostPort } from '../net/host-port.js';
import { stripHeaders } from '../pipeline/strip.js';
import { classifyUpstreamError } from './error-codes.js';
import type { UpstreamPool } from './pool.js';

export interface ForwardArgs {
  readonly pool: UpstreamPool;
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly target: HostPort;
  readonly scheme: 'https' | 'http';
  /** Origin-form request target to send (path and query), already injected. */
  readonly path: string;
  /** Flat raw header list to send, already stripped and injected. */
  readonly rawHeaders: readonly string[];
  readonly responseTimeoutMs: number;
}

export interface ForwardOutcome {
  /** The status that reached the client, or null when none did. */
  readonly status: number | null;
  readonly bytesIn: number;
  readonly bytesOut: number;
  readonly viaUpstreamProxy: boolean;
  readonly reason?: AuditReason;
}

/** Methods that may be sent again (RFC 9110 §9.2.2) when a kept-alive upstream socket turns out to be dead. */
const IDEMPOTENT: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);
/** Errors that mean "the pooled socket was already closed by the upstream", not "the upstream refused". */
const STALE_SOCKET_ERRORS: ReadonlySet<string> = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED']);

export function forward(args: ForwardArgs): Promise<ForwardOutcome> {
  const { req, res, target } = args;
  const { agent, viaUpstreamProxy } = args.pool.agentFor(target, args.scheme);
  // The client's Transfer-Encoding was hop-by-hop and is stripped; re-frame a chunked body explicitly so a body
  // on any method (even GET) keeps its framing. Otherwise the caller's (fresh) list is sent as it is, uncopied.
  const headers =
    req.headers['transfer-encoding'] === undefined
      ? args.rawHeaders
      : [...args.rawHeaders, 'Transfer-Encoding', 'chunked'];
  const method = req.method ?? 'GET';

  return new Promise<ForwardOutcome>((resolve) => {
    let bytesIn = 0;
    let bytesOut = 0;
    let status: number | null = null;
    let reason: AuditReason | undefined;
    let settled = false;
    let retried = false;
    const clientSocket = req.socket;
    const onClientClose = () => {
      if (!res.writableFinished) {
        // The client went away before the response was complete: abort the upstream request too.
        reason ??= 'client_aborted';
        up.destroy();
      }
      settle();
    };
    const settle = () => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      clientSocket.off('close', onClientClose);
      resolve({ status, bytesIn, bytesOut, viaUpstreamProxy, ...(reason ? { reason } : {}) });
    };

    // SPEC §6: no response head within upstream_response_timeout_ms ⇒ 504. The clock restarts with every body
    // chunk the client sends, so a long but moving upload is not cut off while a stalled one still is.
    const timer = setTimeout(() => {
      reason = 'upstream_timeout';
      status = sendError(res, 'upstream_timeout');
      up.destroy();
      settle();
    }, args.responseTimeoutMs);

    const onResponse = (ures: IncomingMessage) => {
      clearTimeout(timer);
      status = ures.statusCode ?? 502;
      res.writeHead(status, ures.statusMessage, stripHeaders(ures.rawHeaders));
      ures.on('data', (chunk: Buffer) => {
        bytesOut += chunk.length;
      });
      const cut = () => {
        // Upstream reset mid-body: cut the client's response short (no last chunk), never complete it.
        reason ??= 'upstream_error';
        res.destroy();
      };
      ures.on('error', cut);
      ures.on('aborted', cut);
      ures.once('end', () => {
        // The upstream answered before reading the whole request body (an early 401/413, nginx `return`). That
        // upstream socket is mid-request and cannot be reused; and the client's remaining body must still be read
        // (and dropped, as Node does for a response sent before its body) or the client connection stalls and its
        // next request never starts.
        if (req.complete) return;
        req.unpipe(up);
        up.destroy();
        req.resume();
      });
      ures.pipe(res);
    };

    const onError = (err: Error) => {
      if (settled) return;
      // A pooled socket the upstream had already closed: send again on a fresh one, but only a request that is
      // safe to repeat and whose (empty) body was never read — nothing of it can have reached the upstream twice.
      const code = (err as NodeJS.ErrnoException).code ?? '';
      if (
        !retried &&
        up.reusedSocket &&
        STALE_SOCKET_ERRORS.has(code) &&
        IDEMPOTENT.has(method) &&
        bytesIn === 0 &&
        req.readableEnded
      ) {
        retried = true;
        up = send();
        up.end();
        return;
      }
      if (!res.headersSent) {
        const proxyCode = err instanceof ProxyError ? err.code : classifyUpstreamError(err);
        reason ??= proxyCode;
        status = sendError(res, proxyCode);
        // A request whose body is still arriving cannot be answered cleanly on a kept-alive connection.
        if (!req.complete) res.once('finish', () => req.socket.destroy());
      } else {
        reason ??= 'upstream_error';
        res.destroy();
      }
      settle();
    };

    const send = () => {
      const r = request({
        agent,
        host: target.host,
        port: target.port,
        method,
        path: args.path,
        headers,
        setHost: false,
      });
      r.on('error', onError);
      r.on('response', onResponse);
      return r;
    };
    let up = send();

    req.on('data', (chunk: Buffer) => {
      bytesIn += chunk.length;
      if (status === null) timer.refresh();
    });
    req.pipe(up);

    res.once('finish', settle);
    res.once('close', onClientClose);
    // Node emits 'close' only on the response that holds the socket: one queued behind it on a pipelined
    // connection never gets one when the client goes away (Node 20.20), so watch the socket as well.
    clientSocket.once('close', onClientClose);
  });
}
