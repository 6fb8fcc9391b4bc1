/**
 * Carry one request between a client and an {@link UpstreamCall}, whatever protocol either side speaks (the
 * HTTP/1.1-to-HTTP/1.1 case has its own path, forward.ts, with the same rules): bodies streamed both ways with
 * back-pressure and no buffering, trailers passed on, 504 when no response head arrives within
 * upstream_response_timeout_ms, a response cut short — never passed off as complete — when the upstream fails
 * after its head, and the upstream call aborted when the client goes away (SPEC §6 Upstream, §10).
 */
import type { Readable, Writable } from 'node:stream';
import { type HeldWrites, holdWrites } from '../audit/turn-barrier.js';
import type { AuditReason, ProxyErrorCode } from '../errors.js';
import { ProxyError } from '../errors.js';
import { stripHeaders } from '../pipeline/strip.js';
import type { CallEvents, CallResponse, UpstreamCall } from './call.js';
import { classifyUpstreamError } from './error-codes.js';
import type { EarlyAudit, ForwardOutcome } from './forward.js';

/** The client half of an exchange: an HTTP/1.1 request/response pair or an HTTP/2 stream. */
export interface ClientSide {
  readonly method: string;
  readonly hasBody: boolean;
  /** The request body. */
  readonly body: Readable;
  /** True once the whole request body has arrived. */
  bodyComplete(): boolean;
  /** Send the response head; returns the body's destination. `trailers` is read when the body ends. */
  respond(
    status: number,
    rawHeaders: readonly string[],
    trailers: () => readonly string[] | undefined,
  ): Writable;
  /** Answer with a proxy error if nothing was sent yet, else cut. Returns the status sent or null. */
  sendError(code: ProxyErrorCode): number | null;
  /** End the response so it can never look complete (RST_STREAM, or a destroyed HTTP/1.1 socket). */
  cut(): void;
  /** Calls back once: `done` when the response was delivered, `gone` when the client left before. */
  onSettled(cb: (how: 'done' | 'gone') => void): void;
}

export type OpenCall = (events: CallEvents) => Promise<UpstreamCall>;

/** Methods that may be sent again (RFC 9110 §9.2.2) when a kept-alive upstream socket turns out to be dead. */
const IDEMPOTENT: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);

/**
 * `viaUpstreamProxy`: the route's, audited also when the call never opens. `early`: audit before the response's
 * last bytes leave (forward.ts {@link EarlyAudit}); absent, the client side's settle callback settles.
 */
export function relay(
  client: ClientSide,
  open: OpenCall,
  responseTimeoutMs: number,
  viaUpstreamProxy: boolean,
  early?: EarlyAudit,
): Promise<ForwardOutcome> {
  return new Promise<ForwardOutcome>((resolve) => {
    let bytesIn = 0;
    let bytesOut = 0;
    let status: number | null = null;
    let reason: AuditReason | undefined;
    let via = viaUpstreamProxy;
    let settled = false;
    let retried = false;
    let call: UpstreamCall | undefined;
    /** `abort`: the upstream call is still running and must stop (a completed one is left to its pool). */
    const settle = (abort = true) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (abort) call?.destroy();
      const outcome: ForwardOutcome = {
        status,
        bytesIn,
        bytesOut,
        viaUpstreamProxy: via,
        ...(reason ? { reason } : {}),
      };
      early?.report(outcome);
      resolve(outcome);
    };
    const timer = setTimeout(() => {
      reason ??= 'upstream_timeout';
      status = client.sendError('upstream_timeout');
      settle();
    }, responseTimeoutMs);

    const onResponse = (res: CallResponse) => {
      if (settled) return;
      clearTimeout(timer);
      let sink: Writable;
      try {
        sink = client.respond(res.status, stripHeaders(res.rawHeaders), () => {
          const t = res.trailers();
          return t && stripHeaders(t);
        });
      } catch {
        // A head the client's protocol cannot carry (a field value HTTP/2 refuses): a bad upstream answer.
        reason = 'upstream_error';
        status = client.sendError('upstream_error');
        return settle();
      }
      status = res.status;
      res.body.on('data', (chunk: Buffer) => {
        bytesOut += chunk.length;
      });
      // With `early`, a turn's body chunks are held (corked) until the barrier releases, which is past the body's
      // 'end' (a tick after its last chunk): so the outcome is reported before the last chunk leaves (onEnd).
      if (early !== undefined) {
        const held = holdWrites(sink, early.barrier);
        res.body.on('data', () => held.beforeWrite());
        heldSink = held;
      }
      res.body.once('end', () => {
        // The upstream answered before the whole request body arrived (an early 401/413): stop sending it and
        // drain the rest, so an HTTP/1.1 client connection can carry its next request.
        if (client.bodyComplete() || call?.sink === undefined) return;
        client.body.unpipe(call.sink);
        client.body.resume();
      });
      // Not ended by the pipe: only the call's `end` (a whole body) ends the client's response.
      res.body.pipe(sink, { end: false });
      responseSink = sink;
    };
    let responseSink: Writable | undefined;
    let heldSink: HeldWrites | undefined;
    const onEnd = () => {
      if (settled || responseSink === undefined) return;
      // With `early`, settled now and the end waits for the barrier; the call is complete, so it is left to its
      // pool. Without it, the client side's settle callback ('finish', or the stream closing) settles.
      if (heldSink === undefined) return void responseSink.end();
      settle(false);
      heldSink.end();
    };

    const onError = (err: Error) => {
      if (settled) return;
      // Never processed upstream (a stale pooled socket, a refused stream): send again on a fresh connection, but
      // only a body-less request safe to repeat (as forward.ts).
      if (
        status === null &&
        !retried &&
        call?.retryable(err) === true &&
        IDEMPOTENT.has(client.method) &&
        !client.hasBody
      ) {
        retried = true;
        start();
        return;
      }
      if (status === null) {
        const proxyCode = err instanceof ProxyError ? err.code : classifyUpstreamError(err);
        reason ??= proxyCode;
        status = client.sendError(proxyCode);
      } else {
        reason ??= 'upstream_error';
        client.cut();
      }
      settle();
    };

    const start = () => {
      open({ response: onResponse, end: onEnd, error: onError }).then(
        (c) => {
          call = c;
          via = c.viaUpstreamProxy;
          if (settled) return c.destroy();
          if (c.sink === undefined) return;
          client.body.on('data', (chunk: Buffer) => {
            bytesIn += chunk.length;
            if (status === null) timer.refresh();
          });
          client.body.pipe(c.sink);
        },
        (err: Error) => onError(err),
      );
    };
    start();

    client.onSettled((how) => {
      if (how === 'done') return settle(false);
      // The client left (an HTTP/2 RST_STREAM, a closed connection): abort only this request upstream.
      reason ??= 'client_aborted';
      settle();
    });
  });
}
