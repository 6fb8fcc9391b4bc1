/**
 * A request on the route's keep-alive HTTP/1.1 agent (pool.ts), for clients that are not HTTP/1.1 themselves
 * (an HTTP/2 stream whose upstream speaks HTTP/1.1). HTTP/1.1-to-HTTP/1.1 stays on forward.ts.
 */
import { request } from 'node:http';
import { ProxyError } from '../errors.js';
import type { HostPort } from '../net/host-port.js';
import type { CallEvents, CallRequest, UpstreamCall } from './call.js';
import { rawHeader } from './h2-headers.js';
import type { UpstreamPool } from './pool.js';

/** Errors that mean "the pooled socket was already closed by the upstream", not "the upstream refused". */
const STALE_SOCKET_ERRORS: ReadonlySet<string> = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED']);

export function openH1Call(
  pool: UpstreamPool,
  target: HostPort,
  req: CallRequest,
  events: CallEvents,
): UpstreamCall {
  const { agent, viaUpstreamProxy } = pool.agentFor(target, 'https');
  // A body without a declared length (every HTTP/2 body may be one) is framed chunked, on any method.
  const headers =
    req.hasBody && rawHeader(req.rawHeaders, 'content-length') === undefined
      ? [...req.rawHeaders, 'Transfer-Encoding', 'chunked']
      : req.rawHeaders;
  let failed = false;
  const fail = (err: Error) => {
    if (failed) return;
    failed = true;
    events.error(err);
  };
  const up = request({
    agent,
    host: target.host,
    port: target.port,
    method: req.method,
    path: req.path,
    headers: headers as string[],
    setHost: false,
  });
  up.on('error', fail);
  up.once('response', (ures) => {
    ures.once('aborted', () => fail(new ProxyError('upstream_error', 'upstream response cut short')));
    ures.on('error', fail);
    ures.once('end', () => {
      if (!failed) events.end();
    });
    events.response({
      status: ures.statusCode ?? 502,
      rawHeaders: ures.rawHeaders,
      body: ures,
      trailers: () => (ures.rawTrailers.length > 0 ? ures.rawTrailers : undefined),
    });
  });
  if (!req.hasBody) up.end();
  return {
    sink: req.hasBody ? up : undefined,
    viaUpstreamProxy,
    retryable: (err) => up.reusedSocket && STALE_SOCKET_ERRORS.has((err as NodeJS.ErrnoException).code ?? ''),
    destroy() {
      failed = true;
      up.destroy();
    },
  };
}
