/**
 * Open a request to an intercepted target on whichever protocol its route speaks (h2-sessions.ts decides, dialling
 * with ALPN `h2, http/1.1` the first time): a stream on the route's HTTP/2 session, or a request on its HTTP/1.1
 * keep-alive agent.
 */
import type { ProxyContext } from '../context.js';
import type { HostPort } from '../net/host-port.js';
import type { CallRequest } from './call.js';
import { openH1Call } from './call-h1.js';
import { openH2Call } from './call-h2.js';
import type { OpenCall } from './relay.js';

export function openUpstreamCall(ctx: ProxyContext, target: HostPort, req: CallRequest): OpenCall {
  return async (events) => {
    const slot = await ctx.upstreams.open(target);
    return slot.kind === 'h2' ? openH2Call(slot, req, events) : openH1Call(ctx.pool, target, req, events);
  };
}
