/**
 * An HTTP/2 client stream as the relay's client half (upstream/relay.ts): the stream's readable side is the request
 * body, `respond()` sends the head and waits for the upstream's trailers (gRPC status travels in them), and a cut or
 * a proxy-side abort resets only this stream. Proxy-made errors carry the same JSON body as over HTTP/1.1.
 */
import { constants, type ServerHttp2Stream } from 'node:http2';
import { type ErrorExtras, type ProxyErrorCode, toErrorResponse } from '../errors.js';
import { toH2ResponseHeaders } from '../upstream/h2-headers.js';
import type { ClientSide } from '../upstream/relay.js';

/** Answer `code` on an HTTP/2 stream if nothing was sent yet; otherwise reset it. Returns the status sent or null. */
export function sendH2Error(
  stream: ServerHttp2Stream,
  code: ProxyErrorCode,
  extras?: ErrorExtras,
): number | null {
  if (stream.headersSent || stream.destroyed || stream.closed) {
    if (!stream.closed) stream.close(constants.NGHTTP2_INTERNAL_ERROR);
    return null;
  }
  const er = toErrorResponse(code, extras);
  const headers: Record<string, string | number> = { ':status': er.status };
  for (const [name, value] of er.headers) headers[name.toLowerCase()] = value;
  stream.respond(headers);
  stream.end(er.body);
  return er.status;
}

export function h2ClientSide(stream: ServerHttp2Stream, method: string): ClientSide {
  return {
    method,
    hasBody: !stream.endAfterHeaders,
    body: stream,
    bodyComplete: () => stream.readableEnded || stream.endAfterHeaders,
    respond(status, rawHeaders, trailers) {
      stream.respond(toH2ResponseHeaders(status, rawHeaders), { waitForTrailers: true });
      // With no trailers this sends an empty DATA frame with END_STREAM (Node's SubmitTrailers), not a HEADERS frame.
      stream.once('wantTrailers', () => {
        const t = trailers();
        stream.sendTrailers(t === undefined ? {} : toH2ResponseHeaders(undefined, t));
      });
      return stream;
    },
    sendError: (code) => sendH2Error(stream, code),
    cut() {
      if (!stream.closed) stream.close(constants.NGHTTP2_INTERNAL_ERROR);
    },
    onSettled(cb) {
      let aborted = false;
      stream.once('aborted', () => {
        aborted = true;
      });
      stream.once('close', () => {
        cb(aborted || stream.rstCode !== constants.NGHTTP2_NO_ERROR ? 'gone' : 'done');
      });
    },
  };
}
