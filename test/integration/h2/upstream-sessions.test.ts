/**
 * The upstream HTTP/2 sessions (issue 11): one session per route shared by every client, the peer's
 * SETTINGS_MAX_CONCURRENT_STREAMS respected (a second session when the first is full), a GOAWAY drains its session
 * and new streams go to a fresh one, h2 inside a chained CONNECT tunnel, and the upstream's failures answered as over
 * HTTP/1.1 (504 upstream_timeout, a reset mid-body never passed off as complete).
 */
import type { ServerHttp2Stream } from 'node:http2';
import { afterEach, describe, expect, it } from 'vitest';
import { startChainProxy } from '../../helpers/chain-proxy.js';
import { h2Get, h2Through } from '../../helpers/h2-client.js';
import { type H2Handler, type StartH2UpstreamOptions, startH2Upstream } from '../../helpers/h2-upstream.js';
import { startTestProxy, type TestProxyOptions } from '../../helpers/proxy.js';
import { closeKept, finalEvents, keep } from '../intercept/intercept-helpers.js';

const SECRET = 'sk-sessions';
afterEach(closeKept);

async function setup(upstreamOpts: StartH2UpstreamOptions = {}, proxyOpts: TestProxyOptions = {}) {
  const up = keep(await startH2Upstream(upstreamOpts));
  const target = `api.upstream.test:${up.port}`;
  const px = keep(
    await startTestProxy({
      services: [{ name: 'svc', hosts: [target], auth: { type: 'bearer', secret: 'KEY' } }],
      secrets: { KEY: SECRET },
      ...proxyOpts,
    }),
  );
  return { up, target, px, ca: px.proxy.caCertPem };
}

/** Answer only once `release` resolves, so streams pile up open. */
function held(release: Promise<void>): H2Handler {
  return (stream) => {
    stream.resume();
    void release.then(() => {
      if (stream.closed) return;
      stream.respond({ ':status': 200 });
      stream.end('held');
    });
  };
}

describe('upstream HTTP/2 sessions', () => {
  it('two client connections share one upstream session', async () => {
    const { up, target, px, ca } = await setup();
    const a = await h2Through(px.port, target, ca);
    const b = await h2Through(px.port, target, ca);
    expect((await h2Get(a, '/a')).status).toBe(200);
    expect((await h2Get(b, '/b')).status).toBe(200);
    a.close();
    b.close();
    expect(up.sessions).toHaveLength(1);
  });

  it("respects the peer's SETTINGS_MAX_CONCURRENT_STREAMS by opening a second session", async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const { up, target, px, ca } = await setup({
      settings: { maxConcurrentStreams: 2 },
      handler: held(gate),
    });
    const session = await h2Through(px.port, target, ca);
    // Warm the route so the upstream's SETTINGS are known before the burst.
    const first = h2Get(session, '/warm');
    await expect.poll(() => up.received.length, { timeout: 10_000 }).toBe(1);
    const burst = [1, 2, 3, 4].map((i) => h2Get(session, `/b/${i}`));
    await expect.poll(() => up.received.length, { timeout: 10_000 }).toBe(5);
    release();
    const replies = await Promise.all([first, ...burst]);
    session.close();
    for (const r of replies) expect(r.status).toBe(200);
    expect(up.maxConcurrent).toBeLessThanOrEqual(2);
    expect(up.sessions.length).toBeGreaterThanOrEqual(3);
  });

  it('after a GOAWAY new streams go to a fresh session', async () => {
    const { up, target, px, ca } = await setup({
      handler: (stream) => {
        stream.respond({ ':status': 200 });
        stream.end('once');
        // Graceful shutdown of this session after its first stream (RFC 9113 §6.8).
        stream.session?.goaway();
      },
    });
    const session = await h2Through(px.port, target, ca);
    expect((await h2Get(session, '/1')).status).toBe(200);
    expect((await h2Get(session, '/2')).status).toBe(200);
    session.close();
    expect(up.sessions).toHaveLength(2);
  });

  it('carries h2 inside a CONNECT tunnel through an upstream proxy', async () => {
    const chain = keep(await startChainProxy());
    // The chain proxy resolves names itself: use one it can resolve.
    const up = keep(await startH2Upstream());
    const target = `localhost:${up.port}`;
    const px = keep(
      await startTestProxy({
        services: [{ name: 'svc', hosts: [target], auth: { type: 'bearer', secret: 'KEY' } }],
        secrets: { KEY: SECRET },
        upstreamProxy: { url: chain.url },
      }),
    );
    const ca = px.proxy.caCertPem;
    const session = await h2Through(px.port, target, ca);
    const reply = await h2Get(session, '/chained');
    session.close();
    expect(reply.status).toBe(200);
    expect(chain.connects).toEqual([target]);
    expect(up.received[0]!.headers.authorization).toBe(`Bearer ${SECRET}`);
    const [event] = await finalEvents(px);
    expect(event).toMatchObject({ status: 200, via_upstream_proxy: true });
  });

  it('no response head in time is 504 upstream_timeout and resets only that upstream stream', async () => {
    const { up, target, px, ca } = await setup(
      { handler: (stream) => stream.resume() },
      { limits: { upstreamResponseTimeoutMs: 300 } },
    );
    const session = await h2Through(px.port, target, ca);
    const reply = await h2Get(session, '/slow');
    session.close();
    expect(reply.status).toBe(504);
    expect(reply.headers['x-clef-proxy-error']).toBe('upstream_timeout');
    await expect.poll(() => up.received[0]?.aborted, { timeout: 10_000 }).toBe(true);
    expect(up.sessions[0]!.destroyed).toBe(false);
    const [event] = await finalEvents(px);
    expect(event).toMatchObject({ reason: 'upstream_timeout', status: 504 });
  });

  for (const [how, cut] of [
    ['a stream reset', (stream: ServerHttp2Stream) => stream.destroy(new Error('cut'))],
    ['its connection closed', (stream: ServerHttp2Stream) => stream.session?.destroy()],
  ] as const) {
    it(`an upstream body cut short by ${how} reaches the client as a reset, never complete`, async () => {
      const { target, px, ca } = await setup({
        handler: (stream) => {
          stream.on('error', () => {});
          stream.respond({ ':status': 200 });
          stream.write('partial');
          setTimeout(() => cut(stream), 50);
        },
      });
      const session = await h2Through(px.port, target, ca);
      const reply = await h2Get(session, '/cut');
      session.close();
      expect(reply.status).toBe(200);
      expect(reply.complete).toBe(false);
      expect(reply.rstCode).not.toBe(0);
      const [event] = await finalEvents(px);
      expect(event).toMatchObject({ reason: 'upstream_error', status: 200 });
    });
  }
});
