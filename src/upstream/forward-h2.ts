/**
 * An HTTP/1.1 client's request whose route is not known to speak HTTP/1.1: the route's protocol is found first
 * (h2-sessions.ts dials with ALPN `h2, http/1.1` on first use). HTTP/1.1 goes on through forward.ts as before; HTTP/2
 * is relayed as one stream on the route's shared session. Routes already known to speak HTTP/1.1 never come here.
 */
import { h1ClientSide } from '../http/h1-client-side.js';
import { openH2Call } from './call-h2.js';
import { type ForwardArgs, type ForwardOutcome, forward } from './forward.js';
import type { UpstreamProtocols } from './h2-sessions.js';
import { relay } from './relay.js';

export async function forwardNegotiated(
  upstreams: UpstreamProtocols,
  args: ForwardArgs,
): Promise<ForwardOutcome> {
  const { req, res, target } = args;
  const slot = await upstreams.open(target).catch((err: Error) => err);
  if (!(slot instanceof Error) && slot.kind === 'h1') return forward(args);
  // The client left while the upstream was dialled: nothing was sent.
  if (res.destroyed || req.socket.destroyed) {
    if (!(slot instanceof Error)) slot.release();
    return {
      status: null,
      bytesIn: 0,
      bytesOut: 0,
      viaUpstreamProxy: args.pool.route(target, 'https').viaUpstreamProxy,
      reason: 'client_aborted',
    };
  }
  const client = h1ClientSide(req, res);
  return relay(
    client,
    async (events) => {
      if (slot instanceof Error) throw slot;
      return openH2Call(
        slot,
        {
          method: client.method,
          path: args.path,
          rawHeaders: args.rawHeaders,
          authority: req.headers.host ?? target.key,
          hasBody: client.hasBody,
          teTrailers: false,
        },
        events,
      );
    },
    args.responseTimeoutMs,
    args.pool.route(target, 'https').viaUpstreamProxy,
    args.early,
  );
}
