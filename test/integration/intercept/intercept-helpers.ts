/**
 * Shared by the interception tests: the usual pair — the fixture upstream behind one bearer service `svc` — and the
 * afterEach that closes whatever a test started.
 */
import type { RequestEvent } from '../../../src/audit/events.js';
import { startTestProxy, type TestProxy, type TestProxyOptions } from '../../helpers/proxy.js';
import { startUpstream, type UpstreamHandler } from '../../helpers/upstream.js';

const kept: { close(): Promise<void> }[] = [];

/** Have closeKept() close `c` after this test; returns `c`. */
export function keep<T extends { close(): Promise<void> }>(c: T): T {
  kept.push(c);
  return c;
}

/** For afterEach: close, newest first, everything kept (so a proxy closes before the upstream behind it). */
export async function closeKept(): Promise<void> {
  for (const c of kept.splice(0).reverse()) await c.close();
}

/**
 * Start the fixture upstream (answering with `handler`, else its default echo) and a proxy whose one service `svc`
 * injects `Bearer <secret>` for `api.upstream.test:<port>`; `extra` adds proxy options (e.g. limits). Both are kept.
 */
export async function startBearerService(
  secret: string,
  handler?: UpstreamHandler,
  extra: TestProxyOptions = {},
) {
  const upstream = keep(await startUpstream(handler ? { handler } : {}));
  const target = `api.upstream.test:${upstream.port}`;
  const proxy = keep(
    await startTestProxy({
      services: [{ name: 'svc', hosts: [target], auth: { type: 'bearer', secret: 'KEY' } }],
      secrets: { KEY: secret },
      ...extra,
    }),
  );
  return { target, up: upstream, px: proxy, ca: proxy.proxy.caCertPem };
}

/** Close the proxy (flushing the audit sink) and return the request events: then none can still be on the way. */
export async function finalEvents(px: TestProxy): Promise<RequestEvent[]> {
  await px.proxy.close();
  return px.events.filter((e): e is RequestEvent => e.event === 'request');
}
