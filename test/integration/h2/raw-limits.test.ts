/**
 * HTTP/2 abuse bounds proven with hand-made frames (docs/http2.md "Limits"): rapid reset (CVE-2023-44487), the
 * CONTINUATION flood, slowloris inside HTTP/2 (`header_timeout_ms`), the header list size (`max_header_bytes`), and
 * the refusal of RFC 8441 extended CONNECT. Each opens TLS with ALPN `h2` through the proxy's CONNECT and writes
 * frames itself, so nothing in a client library can soften the attack.
 */
import type { TLSSocket } from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import { h2Get, h2Request, h2Through, tlsThroughAlpn } from '../../helpers/h2-client.js';
import {
  Flag,
  FrameType,
  frame,
  getFields,
  goawayCode,
  headerBlock,
  PREFACE,
  readFrames,
  rstStream,
  socketClosed,
} from '../../helpers/h2-frames.js';
import { startH2Upstream } from '../../helpers/h2-upstream.js';
import { startTestProxy, type TestProxyOptions } from '../../helpers/proxy.js';
import { closeKept, finalEvents, keep } from '../intercept/intercept-helpers.js';

afterEach(closeKept);

const ENHANCE_YOUR_CALM = 0xb;

async function setup(proxyOpts: TestProxyOptions = {}) {
  const up = keep(await startH2Upstream());
  const target = `api.upstream.test:${up.port}`;
  const px = keep(
    await startTestProxy({
      services: [{ name: 'svc', hosts: [target], auth: { type: 'bearer', secret: 'KEY' } }],
      secrets: { KEY: 'raw-limits-secret' },
      ...proxyOpts,
    }),
  );
  return { up, px, target, ca: px.proxy.caCertPem };
}

/** TLS with ALPN h2 through the proxy, the client preface and an empty SETTINGS already written. */
async function rawSession(port: number, target: string, ca: string) {
  const tls: TLSSocket = await tlsThroughAlpn(port, target, ca, ['h2']);
  expect(tls.alpnProtocol).toBe('h2');
  tls.on('error', () => {});
  keep({ close: async () => void tls.destroy() });
  const frames = readFrames(tls);
  const closed = socketClosed(tls);
  tls.write(Buffer.concat([PREFACE, frame(FrameType.SETTINGS, 0, 0)]));
  return { tls, frames, closed };
}

/** Write `buf`, resolving once it is handed to the socket (or at once if the socket is gone). */
function write(tls: TLSSocket, buf: Buffer): Promise<void> {
  return new Promise((resolve) => {
    if (!tls.writable) return resolve();
    tls.write(buf, () => resolve());
  });
}

/** A fresh node:http2 session through the proxy still gets a normal answer: the proxy lives on. */
async function freshGetWorks(port: number, target: string, ca: string): Promise<number> {
  const session = await h2Through(port, target, ca);
  keep({ close: async () => void session.destroy() });
  return (await h2Get(session, '/after')).status;
}

describe('HTTP/2 limits against hand-made frames', () => {
  it('rapid reset: 1,000 HEADERS+RST_STREAM pairs close the session, and the upstream sees next to none', async () => {
    const { up, px, target, ca } = await setup();
    const { tls, frames, closed } = await rawSession(px.port, target, ca);
    const block = headerBlock(getFields(target, '/rr'));
    let pairs = 0;
    for (let id = 1; pairs < 1_000 && tls.writable; id += 2, pairs++) {
      // Each pair in one write, so a pair is never split across reads by the proxy.
      await write(
        tls,
        Buffer.concat([
          frame(FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, id, block),
          rstStream(id),
        ]),
      );
    }
    await closed;
    const goaway = frames.find((f) => f.type === FrameType.GOAWAY);
    expect(goaway).toBeDefined();
    expect(goawayCode(goaway!)).toBe(ENHANCE_YOUR_CALM);
    // The session was closed long before all the pairs were read, and no reset stream went upstream.
    expect(up.received.length).toBe(0);
    expect(await freshGetWorks(px.port, target, ca)).toBe(200);
    expect(up.received.length).toBe(1);
  });

  it('CONTINUATION flood: GOAWAY long before 1 MiB of header block, then the connection is closed', async () => {
    const { up, px, target, ca } = await setup({
      limits: { headerTimeoutMs: 1_000, idleTimeoutMs: 120_000 },
    });
    const { tls, frames, closed } = await rawSession(px.port, target, ca);
    let gone = false;
    void closed.then(() => {
      gone = true;
    });
    const goaway = () => frames.some((f) => f.type === FrameType.GOAWAY);
    await write(tls, frame(FrameType.HEADERS, 0, 1, headerBlock(getFields(target, '/cont'))));
    let sent = 0;
    // Endless CONTINUATION frames of distinct small fields, none END_HEADERS, until the proxy says GOAWAY.
    for (let i = 0; !goaway() && !gone && sent < 16 * 1024 * 1024; i++) {
      const fields: [string, string][] = [];
      for (let j = 0; j < 16; j++) fields.push([`x-flood-${i}-${j}`, 'v'.repeat(48)]);
      const f = frame(FrameType.CONTINUATION, 0, 1, headerBlock(fields));
      await write(tls, f);
      sent += f.length;
      // Paced on the event loop the proxy shares, so its answer can arrive between frames.
      await new Promise<void>((r) => setTimeout(r, 1));
    }
    expect(goaway()).toBe(true);
    expect(sent).toBeLessThan(1024 * 1024);
    // nghttp2 stops reading after its GOAWAY; the still-unfinished head then closes the connection at
    // header_timeout_ms, audited like any stalled head.
    await closed;
    const events = await px.waitForEvents(1, 10_000);
    expect(events).toContainEqual(expect.objectContaining({ event: 'deny', reason: 'header_timeout' }));
    expect(up.received.length).toBe(0);
    expect(await freshGetWorks(px.port, target, ca)).toBe(200);
  });

  it('slowloris: HEADERS without END_HEADERS, then silence, is closed after header_timeout_ms and audited', async () => {
    const { up, px, target, ca } = await setup({ limits: { headerTimeoutMs: 300, idleTimeoutMs: 120_000 } });
    const { tls, closed } = await rawSession(px.port, target, ca);
    await write(tls, frame(FrameType.HEADERS, Flag.END_STREAM, 1, headerBlock(getFields(target, '/slow'))));
    await closed;
    const deny = await px.waitForEvents(1, 10_000);
    expect(deny).toContainEqual(expect.objectContaining({ event: 'deny', reason: 'header_timeout' }));
    expect(up.received.length).toBe(0);
  });

  it('a header list over max_header_bytes is refused with 431 and never reaches the upstream', async () => {
    const { up, px, target, ca } = await setup({ limits: { maxHeaderBytes: 4096 } });
    const session = await h2Through(px.port, target, ca);
    keep({ close: async () => void session.destroy() });
    // Sent at once, before the client has acknowledged the proxy's SETTINGS_MAX_HEADER_LIST_SIZE.
    const early = await h2Request(session, { ':method': 'GET', ':path': '/big', 'x-big': 'b'.repeat(8192) });
    // And again once the settings are in force on both sides.
    await expect.poll(() => session.remoteSettings.maxHeaderListSize, { timeout: 10_000 }).toBe(4096);
    const late = await h2Request(session, { ':method': 'GET', ':path': '/big2', 'x-big': 'b'.repeat(8192) });
    for (const big of [early, late]) {
      // 431 headers_too_large, or the stream reset by node:http2 itself: never a forwarded 200.
      if (big.status !== 0) expect(big.status).toBe(431);
      else expect(big.rstCode).not.toBe(0);
    }
    expect(early.status).toBe(431);
    expect(up.received.length).toBe(0);
    // The session is not poisoned: a normal request still goes through.
    expect((await h2Get(session, '/ok')).status).toBe(200);
    expect(up.received.length).toBe(1);
    const audited = await finalEvents(px);
    expect(audited).toContainEqual(
      expect.objectContaining({ decision: 'deny', reason: 'headers_too_large', status: 431 }),
    );
  });

  it('extended CONNECT (:protocol websocket) is refused per stream; the session still serves a GET', async () => {
    const { up, px, target, ca } = await setup();
    const session = await h2Through(px.port, target, ca);
    keep({ close: async () => void session.destroy() });
    await new Promise<void>((r) => session.once('remoteSettings', () => r()));
    expect(session.remoteSettings.enableConnectProtocol).toBe(false);
    const ws = await h2Request(session, {
      ':method': 'CONNECT',
      ':protocol': 'websocket',
      ':path': '/chat',
      ':scheme': 'https',
      ':authority': target,
    });
    // nghttp2 resets the stream PROTOCOL_ERROR: a refusal the client can fall back from (to HTTP/1.1).
    expect(ws.status).toBe(0);
    expect(ws.complete).toBe(false);
    expect(ws.rstCode).toBe(1);
    // A plain CONNECT (RFC 9113 §8.5) is not tunnelled either: 400, still per stream.
    const plain = await h2Request(session, { ':method': 'CONNECT', ':authority': target });
    expect(plain.status).toBe(400);
    const ok = await h2Get(session, '/after');
    expect(ok.status).toBe(200);
    expect(up.received.length).toBe(1);
  });
});
