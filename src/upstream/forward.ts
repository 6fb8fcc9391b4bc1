/**
 * Carry one request upstream and its response back (SPEC §6 Upstream): bodies streamed both ways with
 * back-pressure, 504 when no response head arrives in time, and a response cut short — never passed off as
 * complete — when the upstream fails after the head was sent.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { PassThrough } from 'node:stream';
import { holdWrites, type TurnBarrier } from '../audit/turn-barrier.js';
import type { AuditReason } from '../errors.js';
import { ProxyError } from '../errors.js';
import { sendError } from '../http/send-error.js';
import type { HostPort } from '../net/host-port.js';
import { stripHeaders } from '../pipeline/strip.js';
import { classifyUpstreamError } from './error-codes.js';
import type { RouteHandler } from './h1-dispatcher.js';
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
  /** Audit before the response's last bytes leave ({@link EarlyAudit}); absent, the response's 'finish' settles. */
  readonly early?: EarlyAudit;
}

/**
 * Audit a request before the last bytes of its response leave (`StartProxyOptions.auditBeforeLastByte`). The
 * exchange settles as soon as the upstream response is complete and `report` is told the outcome synchronously;
 * the response's writes of that turn and its end wait for `barrier`, which releases after the sink has handed the
 * turn's events on (with `workers`, into the IPC pipe to the primary). So a process killed the moment a client has
 * a whole response has already sent its event. The forwarder's promise carries the same outcome.
 */
export interface EarlyAudit {
  readonly report: (outcome: ForwardOutcome) => void;
  readonly barrier: TurnBarrier;
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
const STALE_SOCKET_ERRORS: ReadonlySet<string> = new Set([
  'UND_ERR_SOCKET',
  'ECONNRESET',
  'EPIPE',
  'ECONNABORTED',
]);

/** Node's flat raw header list from undici's Buffer pairs (latin1, as Node's own parser decodes them). */
function toRawHeaders(raw: readonly Buffer[]): string[] {
  const out = new Array<string>(raw.length);
  for (let i = 0; i < raw.length; i++) out[i] = raw[i]!.toString('latin1');
  return out;
}

/**
 * The header list to send. `Expect` was answered by this proxy's own server (it sent the client its 100 Continue)
 * and undici refuses to carry it, so it goes; everything else is the caller's list, uncopied when there is no Expect.
 */
function upstreamHeaders(raw: readonly string[]): readonly string[] {
  let i = 0;
  for (; i < raw.length; i += 2) if (raw[i]!.length === 6 && raw[i]!.toLowerCase() === 'expect') break;
  if (i >= raw.length) return raw;
  const out: string[] = [];
  for (let j = 0; j + 1 < raw.length; j += 2) {
    if (raw[j]!.toLowerCase() !== 'expect') out.push(raw[j]!, raw[j + 1]!);
  }
  return out;
}

export function forward(args: ForwardArgs): Promise<ForwardOutcome> {
  const { req, res } = args;
  const { dispatcher, viaUpstreamProxy } = args.pool.dispatcherFor(args.target, args.scheme);
  const method = req.method ?? 'GET';
  // A body is streamed when the client declared one (Content-Length > 0 or chunked); undici frames it itself:
  // Content-Length when the list carries one, chunked otherwise. The client's Transfer-Encoding was stripped.
  const hasBody =
    req.headers['transfer-encoding'] !== undefined ||
    (req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0');
  const headers = upstreamHeaders(args.rawHeaders);
  const early = args.early;

  return new Promise<ForwardOutcome>((resolve) => {
    let bytesIn = 0;
    let bytesOut = 0;
    let status: number | null = null;
    let reason: AuditReason | undefined;
    let settled = false;
    let retried = false;
    let abortUp: ((err?: Error) => void) | undefined;
    // Set once the proxy itself gives up on the upstream exchange: the error undici then reports is ours.
    let aborted = false;
    const clientSocket = req.socket;
    const abort = () => {
      if (aborted) return;
      aborted = true;
      abortUp?.(new Error('request aborted'));
    };
    const onClientClose = () => {
      if (!res.writableFinished) {
        // The client went away before the response was complete: abort the upstream request too.
        reason ??= 'client_aborted';
        abort();
      }
      settle();
    };
    const settle = () => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      clientSocket.off('close', onClientClose);
      const outcome: ForwardOutcome = {
        status,
        bytesIn,
        bytesOut,
        viaUpstreamProxy,
        ...(reason ? { reason } : {}),
      };
      early?.report(outcome);
      resolve(outcome);
    };

    // SPEC §6: no response head within upstream_response_timeout_ms ⇒ 504. The clock restarts with every body
    // chunk the client sends, so a long but moving upload is not cut off while a stalled one still is.
    const timer = setTimeout(() => {
      reason = 'upstream_timeout';
      status = sendError(res, 'upstream_timeout');
      abort();
      settle();
    }, args.responseTimeoutMs);

    const onError = (err: Error) => {
      if (settled || aborted) return;
      // A pooled socket the upstream had already closed (undici: "other side closed"): send again on a fresh
      // one, but only a request that is safe to repeat and that had no body — nothing of it can have reached the
      // upstream twice.
      const code = (err as NodeJS.ErrnoException).code ?? '';
      if (
        !retried &&
        handler.reused &&
        status === null &&
        !hasBody &&
        STALE_SOCKET_ERRORS.has(code) &&
        IDEMPOTENT.has(method)
      ) {
        retried = true;
        send();
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

    // With `early`, the response's writes of a turn are corked until the barrier releases (after the sink has
    // handed on the turn's events), and so is its end.
    const held = early === undefined ? undefined : holdWrites(res, early.barrier);
    let resumeUp: (() => void) | undefined;
    const onDrain = () => resumeUp?.();
    const handler: RouteHandler & { reused: boolean } = {
      reused: false,
      onConnect(abortFn: (err?: Error) => void) {
        // Called as the request is about to be written on a socket: did that socket already carry a response?
        handler.reused = (handler.route?.served ?? 0) > 0;
        abortUp = abortFn;
        if (aborted) abortFn(new Error('request aborted'));
      },
      onHeaders(statusCode: number, raw: Buffer[], resume: () => void, statusText: string) {
        // 1xx interim answers (other than 101, which undici refuses here) are not passed on: Node's server
        // already answered the client's Expect itself.
        if (statusCode < 200) return true;
        clearTimeout(timer);
        status = statusCode;
        resumeUp = resume;
        res.writeHead(status, statusText, stripHeaders(toRawHeaders(raw)));
        return true;
      },
      onData(chunk: Buffer) {
        bytesOut += chunk.length;
        held?.beforeWrite();
        if (res.write(chunk)) return true;
        res.once('drain', onDrain);
        return false;
      },
      onComplete() {
        if (handler.route !== undefined) handler.route.served++;
        // With `early`, settled (and so audited) now, and the end — which flushes everything corked — waits for the
        // barrier: no byte that completes the response reaches the client before the event has been handed on. A
        // client that goes away while the response's tail is still being flushed is then audited as served, not
        // `client_aborted`. Without it, the response's 'finish' settles.
        if (held === undefined) res.end();
        else {
          settle();
          held.end();
        }
        // The upstream answered before reading the whole request body (an early 401/413, nginx `return`). The
        // client's remaining body must still be read (and dropped, as Node does for a response sent before its
        // body) or the client connection stalls and its next request never starts.
        if (!req.complete && body !== undefined) {
          req.unpipe(body);
          req.resume();
        }
      },
      onError,
    };

    // The body travels through a PassThrough, not `req` itself: undici destroys a failed request's body, and
    // destroying the IncomingMessage would take the client connection with it before the error answer is sent.
    const body = hasBody ? new PassThrough() : undefined;
    const send = () => {
      try {
        dispatcher.dispatch(
          { method, path: args.path, headers: headers as string[], body: body ?? null, idempotent: false },
          handler,
        );
      } catch (err) {
        onError(err as Error);
      }
    };
    send();

    req.on('data', (chunk: Buffer) => {
      bytesIn += chunk.length;
      if (status === null) timer.refresh();
    });
    if (body !== undefined) req.pipe(body);
    else req.resume();

    res.once('finish', settle);
    res.once('close', onClientClose);
    // Node emits 'close' only on the response that holds the socket: one queued behind it on a pipelined
    // connection never gets one when the client goes away (Node 20.20), so watch the socket as well.
    clientSocket.once('close', onClientClose);
  });
}
