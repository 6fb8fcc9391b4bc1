/**
 * WebSocket upgrades that do not switch (SPEC §6, §12): a denial gets the usual JSON error and audit line and the
 * upstream sees nothing — the credential never goes to a host or path the service does not name; a non-101 answer
 * is relayed as an ordinary response and the connection goes on as HTTP/1.1; an upgrade with a body is refused.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { RequestEvent } from '../../../src/audit/events.js';
import { startChainProxy } from '../../helpers/chain-proxy.js';
import { startTestProxy } from '../../helpers/proxy.js';
import { countOccurrences, exchangeRaw, tlsThrough } from '../../helpers/tls-client.js';
import { startUpstream } from '../../helpers/upstream.js';
import {
  closeKept,
  expectInjected,
  finalEvents,
  keep,
  nextMessage,
  openWs,
  startWsService,
  theEvent,
} from './ws-helpers.js';

afterEach(closeKept);

/** A hand-written upgrade request head (RFC 6455 §4.1) for `host`, plus extra header lines. */
function upgradeHead(path: string, host: string, extra = ''): string {
  return (
    `GET ${path} HTTP/1.1\r\nHost: ${host}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n` +
    `Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n${extra}\r\n`
  );
}

function jsonBody(raw: Buffer): { error: string } {
  const text = raw.toString('latin1');
  return JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4)) as { error: string };
}

describe('WebSocket upgrades that do not switch', () => {
  it('a non-101 answer is relayed, and a request pipelined behind it is served on the same connection', async () => {
    const { up, px, target, ca } = await startWsService({
      upstream: {
        refuse: 'HTTP/1.1 401 Unauthorized\r\nContent-Type: text/plain\r\nContent-Length: 6\r\n\r\nno way',
      },
    });
    const tls = await tlsThrough(px.port, target, { ca });
    const raw = await exchangeRaw(
      tls,
      `${upgradeHead('/socket', target)}GET /after HTTP/1.1\r\nHost: ${target}\r\nConnection: close\r\n\r\n`,
    );
    const text = raw.toString('latin1');
    expect(text).toMatch(/^HTTP\/1\.1 401 Unauthorized\r\n[\s\S]*\r\n\r\nno wayHTTP\/1\.1 200 OK\r\n/);
    expect(text.endsWith('plain')).toBe(true);
    expect(countOccurrences(raw, 'HTTP/1.1 ')).toBe(2);
    expectInjected(up);
    const events = (await px.waitForEvents(2)) as RequestEvent[];
    expect(events[0]).toMatchObject({ path: '/socket', decision: 'inject', status: 401, bytes_out: 6 });
    expect(events[0]!.reason).toBeUndefined();
    expect(events[1]).toMatchObject({ path: '/after', decision: 'inject', status: 200 });
  });

  it('a ws client sees the non-101 status as a failed handshake', async () => {
    const { px, target, ca } = await startWsService({
      upstream: { refuse: 'HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n' },
    });
    await expect(openWs(px.port, target, ca)).rejects.toThrow(/handshake answered 403/);
    expect((await theEvent(px))[0]).toMatchObject({ status: 403, decision: 'inject' });
  });

  it('a 101 without Connection: upgrade is not a switch: 502 upstream_error, never relayed as one', async () => {
    const { up, px, target, ca } = await startWsService({
      upstream: { refuse: 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n' },
    });
    const tls = await tlsThrough(px.port, target, { ca });
    const raw = await exchangeRaw(tls, upgradeHead('/socket', target, 'Connection: close\r\n'));
    expect(raw.toString('latin1')).toMatch(/^HTTP\/1\.1 502 /);
    expect(countOccurrences(raw, ' 101 ')).toBe(0);
    expectInjected(up);
    expect((await theEvent(px))[0]).toMatchObject({
      decision: 'inject',
      reason: 'upstream_error',
      status: 502,
    });
  });

  it('no service matches the path: 403 JSON no_matching_service, nothing sent upstream', async () => {
    const { up, px, target, ca } = await startWsService({ pathPrefix: '/api' });
    const tls = await tlsThrough(px.port, target, { ca });
    const raw = await exchangeRaw(tls, upgradeHead('/socket', target, 'Connection: close\r\n'));
    expect(raw.toString('latin1')).toMatch(/^HTTP\/1\.1 403 /);
    expect(jsonBody(raw).error).toBe('no_matching_service');
    expect(up.upgrades).toHaveLength(0);
    expect((await theEvent(px))[0]).toMatchObject({
      decision: 'deny',
      reason: 'no_matching_service',
      status: 403,
      path: '/socket',
      bytes_in: 0,
      bytes_out: 0,
    });
  });

  it('a Host naming another host than the CONNECT target: 421, the credential never leaves', async () => {
    const { up, px, target, ca } = await startWsService();
    const other = target.replace('api.', 'other.');
    const tls = await tlsThrough(px.port, target, { ca });
    const raw = await exchangeRaw(tls, upgradeHead('/socket', other, 'Connection: close\r\n'));
    expect(raw.toString('latin1')).toMatch(/^HTTP\/1\.1 421 /);
    expect(jsonBody(raw).error).toBe('misdirected_request');
    expect(up.upgrades).toHaveLength(0);
    expect((await theEvent(px))[0]).toMatchObject({ decision: 'deny', reason: 'misdirected_request' });
  });

  it('an upgrade request with a body: 400 and the connection closed (its framing cannot be trusted)', async () => {
    const { up, px, target, ca } = await startWsService();
    const tls = await tlsThrough(px.port, target, { ca });
    const smuggled = `GET /smuggled HTTP/1.1\r\nHost: ${target}\r\n\r\n`;
    const raw = await exchangeRaw(
      tls,
      upgradeHead('/socket', target, `Content-Length: ${smuggled.length}\r\n`) + smuggled,
    );
    expect(raw.toString('latin1')).toMatch(/^HTTP\/1\.1 400 [\s\S]*Connection: close\r\n/);
    expect(countOccurrences(raw, 'HTTP/1.1 ')).toBe(1);
    expect(up.upgrades).toHaveLength(0);
    const events = await finalEvents(px);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ decision: 'deny', reason: 'bad_request', status: 400 });
  });

  it('an upstream whose certificate does not verify: 502 upstream_tls_error, nothing relayed', async () => {
    const up = keep(await startUpstream({ cert: 'untrusted' }));
    const target = `api.upstream.test:${up.port}`;
    const px = keep(
      await startTestProxy({
        services: [{ name: 'svc', hosts: [target], auth: { type: 'bearer', secret: 'KEY' } }],
        secrets: { KEY: 'never-sent' },
      }),
    );
    await expect(openWs(px.port, target, px.proxy.caCertPem)).rejects.toThrow(/handshake answered 502/);
    expect(up.received).toHaveLength(0);
    expect((await theEvent(px))[0]).toMatchObject({
      decision: 'inject',
      reason: 'upstream_tls_error',
      status: 502,
    });
  });

  it('chained through an upstream proxy: the upgrade runs inside its CONNECT tunnel', async () => {
    const chain = keep(await startChainProxy());
    const { up, px, target, ca } = await startWsService({
      host: '127.0.0.1',
      proxy: { upstreamProxy: { https: chain.url } },
    });
    const ws = await openWs(px.port, target, ca);
    expectInjected(up);
    ws.send('via chain');
    expect(String((await nextMessage(ws)).data)).toBe('via chain');
    ws.close(1000);
    expect(chain.connects).toEqual([target]);
    expect((await theEvent(px))[0]).toMatchObject({ status: 101, via_upstream_proxy: true });
  });

  it('a non-WebSocket upgrade (h2c) is not switched: forwarded as a plain request, Upgrade dropped', async () => {
    const { up, px, target, ca } = await startWsService();
    const tls = await tlsThrough(px.port, target, { ca });
    const raw = await exchangeRaw(
      tls,
      `GET /plain HTTP/1.1\r\nHost: ${target}\r\nConnection: Upgrade, HTTP2-Settings, close\r\n` +
        'Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n\r\n',
    );
    expect(raw.toString('latin1')).toMatch(/^HTTP\/1\.1 200 OK\r\n[\s\S]*\r\n\r\nplain$/);
    expect(up.upgrades).toHaveLength(0);
    expect((await theEvent(px))[0]).toMatchObject({ path: '/plain', decision: 'inject', status: 200 });
  });
});
