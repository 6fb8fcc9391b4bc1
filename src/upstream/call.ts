/**
 * One request on its way upstream, whatever protocol carries it (HTTP/1.1 on a pooled socket, or a stream on an
 * HTTP/2 session): the shape the protocol-neutral relay (relay.ts) drives. HTTP/1.1 clients talking to HTTP/1.1
 * upstreams keep their own, tuned path (forward.ts).
 */
import type { Readable, Writable } from 'node:stream';

/** What the upstream is asked: the pipeline's decision, ready to send. */
export interface CallRequest {
  readonly method: string;
  /** Origin-form target (path and query), credential included. */
  readonly path: string;
  /** Stripped and injected raw headers, `Host` included. */
  readonly rawHeaders: readonly string[];
  /** The checked authority (the `Host` value): HTTP/2's `:authority`. */
  readonly authority: string;
  /** False when the request has no body: it is sent ended (HTTP/2 END_STREAM on the HEADERS frame). */
  readonly hasBody: boolean;
  /** The client sent `te: trailers` (gRPC); forwarded to an HTTP/2 upstream. */
  readonly teTrailers: boolean;
}

/** An upstream response head and its body. */
export interface CallResponse {
  readonly status: number;
  /** Raw headers, pseudo-headers excluded; not yet stripped of hop-by-hop fields. */
  readonly rawHeaders: readonly string[];
  readonly body: Readable;
  /** Trailers once the body has ended (raw list), or undefined. */
  trailers(): readonly string[] | undefined;
}

/**
 * How a call reports back. Each is called at most once; after `response` exactly one of `end` (the body arrived
 * whole: only then may the client's response be ended) or `error` (cut short) follows.
 */
export interface CallEvents {
  response(res: CallResponse): void;
  end(): void;
  error(err: Error): void;
}

export interface UpstreamCall {
  /** The request body's destination; undefined when the request was sent without one. */
  readonly sink: Writable | undefined;
  readonly viaUpstreamProxy: boolean;
  /**
   * True when `err` (before any response) proves the upstream never processed the request, so a body-less one may
   * be sent again: a kept-alive HTTP/1.1 socket found closed, or an HTTP/2 stream refused (REFUSED_STREAM, or
   * opened as a GOAWAY arrived — RFC 9113 §8.7).
   */
  retryable(err: Error): boolean;
  /** Abort the call (only this request: an HTTP/2 stream is reset, its session lives on). */
  destroy(): void;
}
