/**
 * A request as one stream on a shared upstream HTTP/2 session (h2-sessions.ts). The stream slot is given back when
 * the stream closes; aborting resets this stream only (RST_STREAM CANCEL), never the session.
 */
import { constants } from 'node:http2';
import { ProxyError } from '../errors.js';
import type { CallEvents, CallRequest, UpstreamCall } from './call.js';
import { flattenH2Headers, toH2RequestHeaders } from './h2-headers.js';
import type { H2Lease } from './h2-sessions.js';

/** node:http2's refusals of a header list it will not send: the request is at fault, not the upstream. */
const BAD_HEADERS: ReadonlySet<string> = new Set([
  'ERR_HTTP2_HEADER_SINGLE_VALUE',
  'ERR_HTTP2_INVALID_HEADER_VALUE',
  'ERR_HTTP2_INVALID_CONNECTION_HEADERS',
  'ERR_HTTP2_INVALID_PSEUDOHEADER',
  'ERR_INVALID_HTTP_TOKEN',
  'ERR_INVALID_CHAR',
]);

export function openH2Call(lease: H2Lease, req: CallRequest, events: CallEvents): UpstreamCall {
  let failed = false;
  const fail = (err: Error) => {
    if (failed) return;
    failed = true;
    events.error(err);
  };
  let stream: ReturnType<H2Lease['session']['request']>;
  try {
    stream = lease.session.request(toH2RequestHeaders(req), { endStream: !req.hasBody });
  } catch (err) {
    // Headers node:http2 refuses to send (a repeated single-value field from an HTTP/1.1 client, say).
    lease.release();
    const bad = BAD_HEADERS.has((err as NodeJS.ErrnoException).code ?? '');
    queueMicrotask(() => fail(bad ? new ProxyError('bad_request') : (err as Error)));
    // Otherwise the session went away (GOAWAY, closed) between lease and request: another session may take it.
    return { sink: undefined, viaUpstreamProxy: lease.viaUpstreamProxy, retryable: () => !bad, destroy() {} };
  }
  let trailers: string[] | undefined;
  stream.once('response', (headers) => {
    events.response({
      status: Number(headers[':status'] ?? 502),
      rawHeaders: flattenH2Headers(headers),
      body: stream,
      trailers: () => trailers,
    });
  });
  stream.once('trailers', (headers) => {
    trailers = flattenH2Headers(headers);
  });
  stream.on('error', fail);
  stream.once('close', () => {
    lease.release();
    // Complete only with END_STREAM and no reset: node:http2 also ends the readable side of a stream whose session
    // was destroyed (rstCode CANCEL), which must never pass for a whole body.
    if (stream.readableEnded && stream.rstCode === constants.NGHTTP2_NO_ERROR) {
      if (!failed) events.end();
    } else {
      fail(new ProxyError('upstream_error', 'upstream stream closed early'));
    }
  });
  return {
    sink: req.hasBody ? stream : undefined,
    viaUpstreamProxy: lease.viaUpstreamProxy,
    retryable: () =>
      stream.rstCode === constants.NGHTTP2_REFUSED_STREAM ||
      (stream.id === undefined && (lease.session.closed || lease.session.destroyed)),
    destroy() {
      failed = true;
      if (!stream.closed) stream.close(constants.NGHTTP2_CANCEL);
    },
  };
}
