/**
 * Shared by the WebSocket suites: a `ws` upstream behind one bearer service `svc`, and a `ws` client that reaches
 * it through the proxy (CONNECT, TLS to the proxy's leaf, then the library's own handshake over that socket).
 */
import { expect } from 'vitest';
import { WebSocket } from 'ws';
import type { RequestEvent } from '../../../src/audit/events.js';
import type { TestProxyOptions } from '../../helpers/proxy.js';
import { startTestProxy } from '../../helpers/proxy.js';
import { tlsThrough } from '../../helpers/tls-client.js';
import { startWsUpstream, type WsUpstream, type WsUpstreamOptions } from '../../helpers/ws-upstream.js';
import { keep } from '../intercept/intercept-helpers.js';

export { closeKept, finalEvents, keep } from '../intercept/intercept-helpers.js';

export const SECRET = 'ws-secret-value';

/** A `ws` upstream and a proxy whose service `svc` injects `Bearer ws-secret-value` for it; both kept. */
export interface WsServiceOptions {
  readonly upstream?: WsUpstreamOptions;
  readonly proxy?: TestProxyOptions;
  /** The service's `path_prefix`; default `/`. */
  readonly pathPrefix?: string;
  /** The service host; default `api.upstream.test` (resolved to 127.0.0.1 by the test proxy). */
  readonly host?: string;
}

export async function startWsService(opts: WsServiceOptions = {}) {
  const up = keep(await startWsUpstream(opts.upstream));
  const target = `${opts.host ?? 'api.upstream.test'}:${up.port}`;
  const pathPrefix = opts.pathPrefix ?? '/';
  const extra = opts.proxy ?? {};
  const px = keep(
    await startTestProxy({
      services: [
        { name: 'svc', hosts: [target], path_prefix: pathPrefix, auth: { type: 'bearer', secret: 'KEY' } },
      ],
      secrets: { KEY: SECRET },
      ...extra,
    }),
  );
  return { up, px, target, ca: px.proxy.caCertPem };
}

/** Open a `ws` client to `wss://<target><path>` through the proxy; resolves once it is open. */
export async function openWs(
  proxyPort: number,
  target: string,
  ca: string,
  path = '/socket',
  headers: Record<string, string> = {},
  protocols: string[] = [],
): Promise<WebSocket> {
  const tls = await tlsThrough(proxyPort, target, { ca });
  // No permessage-deflate: frames then have sizes a test can compute (frameBytes).
  const ws = new WebSocket(`wss://${target}${path}`, protocols, {
    createConnection: () => tls,
    headers,
    perMessageDeflate: false,
  });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
    ws.once('unexpected-response', (_req, res) => reject(new Error(`handshake answered ${res.statusCode}`)));
  });
  return ws;
}

/** The next message on `ws`, with whether it was binary. */
export function nextMessage(ws: WebSocket): Promise<{ data: Buffer; isBinary: boolean }> {
  return new Promise((resolve) =>
    ws.once('message', (data, isBinary) => resolve({ data: data as Buffer, isBinary })),
  );
}

/** Resolves with the close code and reason the client saw. */
export function clientClosed(ws: WebSocket): Promise<{ code: number; reason: string }> {
  return new Promise((resolve) =>
    ws.once('close', (code, reason) => resolve({ code, reason: String(reason) })),
  );
}

/** The single request event, once the proxy has written it. */
export async function theEvent(px: { waitForEvents(n: number, t?: number): Promise<unknown[]> }) {
  const events = (await px.waitForEvents(1, 15_000)) as RequestEvent[];
  return events.filter((e) => e.event === 'request');
}

/** Bytes of one frame with a `len`-byte payload (RFC 6455 §5.2): client frames are masked (4 more bytes). */
export function frameBytes(len: number, masked: boolean): number {
  const ext = len < 126 ? 0 : len < 65_536 ? 2 : 8;
  return 2 + ext + (masked ? 4 : 0) + len;
}

/** What the upstream must have seen at the upgrade: the injected bearer, no proxy-only header. */
export function expectInjected(up: WsUpstream, n = 0): void {
  const seen = up.upgrades[n]!;
  expect(seen.headers.authorization).toBe(`Bearer ${SECRET}`);
  expect(seen.headers['proxy-authorization']).toBeUndefined();
  expect(seen.headers['x-clef-service']).toBeUndefined();
  expect(seen.headers.upgrade).toBe('websocket');
  expect(seen.headers.connection).toBe('Upgrade');
  expect(seen.headers['sec-websocket-key']).toMatch(/^[A-Za-z0-9+/]{22}==$/);
}
