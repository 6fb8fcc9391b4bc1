/**
 * Limits on HTTP/2 client sessions (issue 11, docs/hardening.md): `max_concurrent_streams` advertised and enforced,
 * PING and SETTINGS floods closed with GOAWAY, and idle sessions closed after `idle_timeout_ms`.
 */
import { type ClientHttp2Session, connect as h2connect } from 'node:http2';
import { afterEach, describe, expect, it } from 'vitest';
import { tlsThroughAlpn } from '../../helpers/h2-client.js';
import { type H2Handler, startH2Upstream } from '../../helpers/h2-upstream.js';
import { startTestProxy, type TestProxyOptions } from '../../helpers/proxy.js';
import { closeKept, keep } from '../intercept/intercept-helpers.js';

afterEach(closeKept);

async function setup(proxyOpts: TestProxyOptions = {}, handler?: H2Handler) {
  const up = keep(await startH2Upstream(handler ? { handler } : {}));
  const target = `api.upstream.test:${up.port}`;
  const px = keep(
    await startTestProxy({
      services: [{ name: 'svc', hosts: [target], auth: { type: 'bearer', secret: 'KEY' } }],
      secrets: { KEY: 'limits-secret' },
      ...proxyOpts,
    }),
  );
  const tls = await tlsThroughAlpn(px.port, target, px.proxy.caCertPem, ['h2']);
  // Generous client-side limits, so only the proxy's bounds are under test.
  const session = h2connect(`https://${target}`, {
    createConnection: () => tls,
    maxOutstandingPings: 10_000,
    maxOutstandingSettings: 10_000,
  } as never);
  session.on('error', () => {});
  keep({ close: async () => session.destroy() });
  await new Promise<void>((resolve) => session.once('remoteSettings', () => resolve()));
  return { up, px, session };
}

function closed(session: ClientHttp2Session): Promise<number | undefined> {
  return new Promise((resolve) => {
    let code: number | undefined;
    session.once('goaway', (c: number) => {
      code = c;
    });
    if (session.destroyed) resolve(code);
    session.once('close', () => resolve(code));
  });
}

describe('HTTP/2 limits', () => {
  it('limits.max_concurrent_streams is advertised, and the upstream never sees more from one client', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const { up, session } = await setup({ limits: { maxConcurrentStreams: 2 } }, (stream) => {
      stream.resume();
      void gate.then(() => {
        stream.respond({ ':status': 200 });
        stream.end('ok');
      });
    });
    expect(session.remoteSettings.maxConcurrentStreams).toBe(2);
    const replies = [1, 2, 3, 4].map(
      (i) =>
        new Promise<number>((resolve) => {
          const s = session.request({ ':path': `/c/${i}` }, { endStream: true });
          s.on('response', (h) => resolve(Number(h[':status'])));
          s.on('error', () => resolve(0));
          s.resume();
        }),
    );
    await expect.poll(() => up.received.length, { timeout: 10_000 }).toBe(2);
    release();
    expect(await Promise.all(replies)).toEqual([200, 200, 200, 200]);
    expect(up.maxConcurrent).toBe(2);
  });

  it('a PING flood closes the session', async () => {
    const { session } = await setup();
    const done = closed(session);
    for (let i = 0; i < 1_000 && !session.destroyed; i++) session.ping(() => {});
    await done;
    expect(session.destroyed).toBe(true);
  });

  it('a SETTINGS flood closes the session', async () => {
    const { session } = await setup();
    const done = closed(session);
    for (let i = 0; i < 1_000 && !session.destroyed; i++) {
      try {
        session.settings({ enablePush: false });
      } catch {
        break;
      }
    }
    await done;
    expect(session.destroyed).toBe(true);
  });

  it('an idle session is closed after idle_timeout_ms', async () => {
    const { session } = await setup({ limits: { idleTimeoutMs: 300 } });
    const code = await closed(session);
    expect(code).toBe(0); // GOAWAY NO_ERROR: a graceful close
  });
});
