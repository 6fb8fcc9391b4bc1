/**
 * The client connection inside interception (SPEC §6): keep-alive with per-request ids, `Connection: close`
 * honoured, pipelined requests answered in order, an IPv4-literal target, and an upgrade the upstream declines.
 */
import { ProxyAgent, request as undiciRequest } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import type { RequestEvent } from '../../../src/audit/events.js';
import { basicAuth, startTestProxy } from '../../helpers/proxy.js';
import {
  countOccurrences,
  exchangeRaw,
  readBody,
  requestThrough,
  tlsThrough,
} from '../../helpers/tls-client.js';
import { startUpstream } from '../../helpers/upstream.js';
import { closeKept, keep } from './intercept-helpers.js';

afterEach(closeKept);

async function setup(secret: string, host = 'api.upstream.test') {
  const upstream = keep(await startUpstream());
  const target = `${host}:${upstream.port}`;
  const proxy = keep(
    await startTestProxy({
      services: [{ name: 'svc', hosts: [target], auth: { type: 'bearer', secret: 'KEY' } }],
      secrets: { KEY: secret },
    }),
  );
  return { target, up: upstream, px: proxy, ca: proxy.proxy.caCertPem };
}

describe('keep-alive', () => {
  it('injects on 20 requests over one kept-alive client connection, audited as c<n>.1 … c<n>.20', async () => {
    const { target, up, px, ca } = await setup('ka-secret');
    // One connection in the pool: undici would otherwise spread sequential requests over two tunnels.
    const agent = new ProxyAgent({
      uri: `http://127.0.0.1:${px.port}`,
      token: basicAuth(),
      connections: 1,
      requestTls: { ca },
    });
    try {
      for (let i = 1; i <= 20; i++) {
        const r = await undiciRequest(`https://${target}/n/${i}`, {
          dispatcher: agent,
          headers: { authorization: 'Bearer mine' },
        });
        expect(r.statusCode).toBe(200);
        await r.body.text();
      }
    } finally {
      await agent.close();
    }
    expect(up.received.map((r) => r.url)).toEqual(Array.from({ length: 20 }, (_v, i) => `/n/${i + 1}`));
    for (const r of up.received)
      expect(r.rawHeaders.filter((v) => v.startsWith('Bearer '))).toEqual(['Bearer ka-secret']);
    const events = (await px.waitForEvents(20)) as RequestEvent[];
    const connIds = new Set(events.map((e) => e.conn_id));
    expect(connIds.size).toBe(1);
    const [conn] = [...connIds];
    expect(events.map((e) => e.request_id)).toEqual(
      Array.from({ length: 20 }, (_v, i) => `${conn}.${i + 1}`),
    );
    expect(events.every((e) => e.decision === 'inject' && e.status === 200)).toBe(true);
  });

  it('pipelined requests are each injected and answered in order', async () => {
    const { target, up, px, ca } = await setup('pipe-secret');
    const tls = await tlsThrough(px.port, target, { ca });
    const req = (path: string, last = false) =>
      `GET ${path} HTTP/1.1\r\nHost: ${target}\r\n${last ? 'Connection: close\r\n' : ''}\r\n`;
    const raw = (await exchangeRaw(tls, req('/p1') + req('/p2') + req('/p3', true))).toString('latin1');
    expect(countOccurrences(raw, 'HTTP/1.1 200 OK')).toBe(3);
    expect([raw.indexOf('"/p1"'), raw.indexOf('"/p2"'), raw.indexOf('"/p3"')]).toEqual(
      [raw.indexOf('"/p1"'), raw.indexOf('"/p2"'), raw.indexOf('"/p3"')].sort((a, b) => a - b),
    );
    expect(up.received.map((r) => [r.url, r.headers.authorization])).toEqual([
      ['/p1', 'Bearer pipe-secret'],
      ['/p2', 'Bearer pipe-secret'],
      ['/p3', 'Bearer pipe-secret'],
    ]);
    const events = (await px.waitForEvents(3)) as RequestEvent[];
    expect(events.map((e) => e.request_id.split('.')[1])).toEqual(['1', '2', '3']);
  });

  it("a client's Connection: close is honoured and not forwarded", async () => {
    const { target, up, px, ca } = await setup('close-secret');
    const tls = await tlsThrough(px.port, target, { ca });
    const raw = await exchangeRaw(tls, `GET /c HTTP/1.1\r\nHost: ${target}\r\nConnection: close\r\n\r\n`);
    // exchangeRaw returned because the proxy closed the connection after the one response.
    expect(countOccurrences(raw, 'HTTP/1.1 ')).toBe(1);
    expect(raw.toString('latin1')).toMatch(/^HTTP\/1\.1 200 [\s\S]*\r\nConnection: close\r\n/i);
    expect(up.received[0]!.headers.connection).not.toBe('close');
    await px.waitForEvents(1);
  });

  it('Expect: 100-continue is answered by the proxy, not forwarded; the body still arrives whole', async () => {
    const { target, up, px, ca } = await setup('expect-secret');
    const tls = await tlsThrough(px.port, target, { ca });
    const head = `POST /e HTTP/1.1\r\nHost: ${target}\r\nContent-Length: 5\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n`;
    const raw = (await exchangeRaw(tls, `${head}hello`)).toString('latin1');
    expect(raw).toMatch(/^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 200 /);
    expect(up.received).toHaveLength(1);
    expect(up.received[0]!.headers.expect).toBeUndefined();
    expect(up.received[0]!.headers.authorization).toBe('Bearer expect-secret');
    expect(up.received[0]!.body.toString()).toBe('hello');
    await px.waitForEvents(1);
  });

  it('a WebSocket upgrade the upstream does not take: its plain answer is relayed, the connection then closes', async () => {
    // The upgrade goes upstream with the credential (test/integration/websocket has the switching cases); this
    // upstream has no WebSocket support and answers 200, which reaches the client as an ordinary response.
    const { target, up, px, ca } = await setup('up-secret');
    const tls = await tlsThrough(px.port, target, { ca });
    const raw = await exchangeRaw(
      tls,
      `GET /ws HTTP/1.1\r\nHost: ${target}\r\nConnection: Upgrade, close\r\nUpgrade: websocket\r\n` +
        'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
    );
    expect(raw.toString('latin1')).toMatch(/^HTTP\/1\.1 200 /);
    expect(countOccurrences(raw, 'HTTP/1.1 ')).toBe(1);
    expect(up.received).toHaveLength(1);
    expect(up.received[0]!.headers.upgrade).toBe('websocket');
    expect(up.received[0]!.headers.authorization).toBe('Bearer up-secret');
    const [ev] = (await px.waitForEvents(1)) as RequestEvent[];
    expect(ev).toMatchObject({ path: '/ws', decision: 'inject', status: 200 });
  });
});

describe('an IPv4-literal service host', () => {
  it('no SNI from the client, a leaf minted for the IP, no SNI upstream', async () => {
    const { target, up, px, ca } = await setup('ip-secret', '127.0.0.1');
    const open = await requestThrough(px.port, target, { path: '/ip' }, { ca });
    // tls.connect already verified the leaf against host 127.0.0.1; check its SAN explicitly too.
    expect(open.socket.getPeerCertificate().subjectaltname).toBe('IP Address:127.0.0.1');
    open.req.end();
    const res = await open.response;
    expect(JSON.parse((await readBody(res)).toString())).toMatchObject({ url: '/ip' });
    open.socket.destroy();
    expect(up.servernames).toEqual([false]);
    expect(up.received[0]!.headers.authorization).toBe('Bearer ip-secret');
    const [ev] = (await px.waitForEvents(1)) as RequestEvent[];
    expect(ev).toMatchObject({ host: '127.0.0.1', port: up.port, decision: 'inject', status: 200 });
  });
});
