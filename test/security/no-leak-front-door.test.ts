/**
 * Invariant: tokens and the client's credential headers never appear in logs, audit events or proxy-made responses
 * (SPEC §2, §6, §10) — the front-door half: CONNECT and forward refusals, connection-level refusals (not_tls,
 * sni_mismatch, timeouts), a failed client handshake and a passthrough tunnel. Logger at `trace` into memory.
 * Intercepted requests are covered by no-leak-requests.test.ts.
 */
import { Writable } from 'node:stream';
import { connect as tlsConnect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/log/logger.js';
import {
  basicAuth,
  connectThrough,
  connectTo,
  readAll,
  startTestProxy,
  type TestProxy,
  WORKLOAD_TOKEN,
} from '../helpers/proxy.js';
import { exchangeRaw, openTlsThrough } from '../helpers/tls-client.js';
import { FIXTURE_CA_PEM, startUpstream, type TestUpstream } from '../helpers/upstream.js';

const SECRET = 'fd-leak-secret-6e2a91';
const WRONG_TOKEN = 'fd-leak-wrong-token-33b7';
const CLIENT_AUTH = 'Bearer fd-leak-client-auth-c01d';
const CLIENT_COOKIE = 'sid=fd-leak-cookie-9a4e';
const NEEDLES = [
  SECRET,
  WRONG_TOKEN,
  basicAuth(WRONG_TOKEN).slice(6),
  WORKLOAD_TOKEN,
  basicAuth().slice(6),
  CLIENT_AUTH,
  'fd-leak-client-auth-c01d',
  CLIENT_COOKIE,
];

let logText = '';
const proxyMade: string[] = [];
let up: TestUpstream;
let proxy: TestProxy;
let svc: string;
let pass: string;

beforeAll(async () => {
  up = await startUpstream();
  svc = `api.upstream.test:${up.port}`;
  pass = `upstream.test:${up.port}`;
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      logText += chunk.toString();
      done();
    },
  });
  proxy = await startTestProxy({
    logger: createLogger('trace', sink),
    limits: { headerTimeoutMs: 1000, handshakeTimeoutMs: 1000, maxHeaderBytes: 2048 },
    services: [{ name: 'svc', hosts: [svc], auth: { type: 'bearer', secret: 'K' } }],
    secrets: { K: SECRET },
    passthroughHosts: [pass],
  });
});
afterAll(async () => {
  await proxy?.close();
  await up?.close();
});

/** Write raw bytes on a new connection to the proxy and keep everything it answers. */
async function raw(bytes: string, endAfterMs?: number): Promise<string> {
  const socket = await connectTo(proxy.port);
  socket.write(bytes);
  if (endAfterMs !== undefined) setTimeout(() => socket.destroy(), endAfterMs);
  const answer = (await readAll(socket)).toString('latin1');
  proxyMade.push(answer);
  return answer;
}

/** A `deny` reason, a request `reason` or an event kind for each path the driver takes. */
const EXPECTED_EVENTS = [
  'proxy_auth_required',
  'host_not_allowed',
  'bad_request',
  'headers_too_large',
  'header_timeout',
  'https_required',
  'not_tls',
  'sni_mismatch',
  'handshake_timeout',
  'tunnel',
];

const creds = `Authorization: ${CLIENT_AUTH}\r\nCookie: ${CLIENT_COOKIE}\r\n`;

describe('nothing secret in logs, audit events or responses: the front door', () => {
  it('drives every front-door refusal it can (each answers as expected)', async () => {
    const wrong = `Proxy-Authorization: ${basicAuth(WRONG_TOKEN)}\r\n`;
    const right = `Proxy-Authorization: ${basicAuth()}\r\n`;
    expect(await raw(`CONNECT ${svc} HTTP/1.1\r\n${wrong}${creds}\r\n`)).toMatch(/^HTTP\/1\.1 407 /);
    expect(await raw(`CONNECT ${svc} HTTP/1.1\r\n${creds}\r\n`)).toMatch(/^HTTP\/1\.1 407 /);
    expect(await raw(`CONNECT nowhere.test:443 HTTP/1.1\r\n${right}${creds}\r\n`)).toMatch(
      /^HTTP\/1\.1 403 /,
    );
    expect(await raw(`CONNECT ${svc} HTTP/1.1\n${right}${creds}\r\n`)).toMatch(/^HTTP\/1\.1 400 /);
    expect(await raw(`connect ${svc} HTTP/1.1\r\n${right}\r\n`)).toMatch(/^HTTP\/1\.1 400 /);
    expect(
      await raw(`CONNECT ${svc} HTTP/1.1\r\n${right}${creds}X-Pad: ${'p'.repeat(3000)}\r\n\r\n`),
    ).toMatch(/^HTTP\/1\.1 431 /);
    // Header deadline: the head never ends.
    expect(await raw(`CONNECT ${svc} HTTP/1.1\r\n${right}${creds}`)).toBe('');
    const fwd = (url: string, auth: string) =>
      `GET ${url} HTTP/1.1\r\nHost: x\r\n${auth}${creds}Connection: close\r\n\r\n`;
    expect(await raw(fwd(`http://${svc}/x?token=${WRONG_TOKEN}`, right))).toMatch(/^HTTP\/1\.1 403 /);
    expect(await raw(fwd(`http://${pass}/x`, wrong))).toMatch(/^HTTP\/1\.1 407 /);
    expect(await raw(fwd('http://nowhere.test/x', right))).toMatch(/^HTTP\/1\.1 403 /);

    // Connection-level refusals after a 200.
    const plain = await connectThrough(proxy.port, svc);
    expect((await exchangeRaw(plain.socket, `GET / HTTP/1.1\r\nHost: ${svc}\r\n${creds}\r\n`)).length).toBe(
      0,
    );
    const sni = await openTlsThrough(proxy.port, svc, {
      ca: proxy.proxy.caCertPem,
      servername: 'other.upstream.test',
    });
    await expect(sni.secure).rejects.toThrow();
    const idle = await connectThrough(proxy.port, svc);
    expect((await readAll(idle.socket)).length).toBe(0); // handshake deadline
    // A client that does not trust our CA gives up on the handshake.
    const distrust = await openTlsThrough(proxy.port, svc, { ca: FIXTURE_CA_PEM });
    await expect(distrust.secure).rejects.toThrow();
    distrust.tls.destroy();
    distrust.raw.destroy();
    // A client offering only a protocol the proxy does not speak (it offers h2 and http/1.1): the proxy's side of
    // the handshake fails (logged as a client TLS error).
    const spdy = await connectThrough(proxy.port, svc);
    const spdyTls = tlsConnect({
      socket: spdy.socket,
      servername: 'api.upstream.test',
      ALPNProtocols: ['spdy/3.1'],
      ca: proxy.proxy.caCertPem,
    });
    await new Promise((resolve) => {
      spdyTls.once('error', resolve);
      spdyTls.once('close', resolve);
    });

    // A passthrough tunnel carrying the client's credentials end to end.
    const tunnel = await connectThrough(proxy.port, pass);
    const tls = tlsConnect({ socket: tunnel.socket, servername: 'upstream.test', ca: FIXTURE_CA_PEM });
    const answer = await exchangeRaw(
      tls,
      `GET /t HTTP/1.1\r\nHost: ${pass}\r\n${creds}Connection: close\r\n\r\n`,
    );
    expect(answer.toString('latin1')).toMatch(/^HTTP\/1\.1 200 /);
    expect(up.received.at(-1)!.headers.authorization).toBe(CLIENT_AUTH);
  });

  it('the captures are live: denies and the tunnel were audited, the client TLS error was logged', async () => {
    const reasons = (): string[] => proxy.events.map((e) => String('reason' in e ? e.reason : e.event));
    // Events are written when each connection ends; under load the last may trail the client. Wait, do not time.
    for (let i = 0; i < 250 && !EXPECTED_EVENTS.every((r) => reasons().includes(r)); i++) {
      await new Promise((r) => setTimeout(r, 20));
    }
    for (const r of EXPECTED_EVENTS) expect(reasons()).toContain(r);
    // The proxy sees the client's alert a moment after the client gave up; wait for the line, do not time it.
    for (let i = 0; i < 100 && !logText.includes('client TLS handshake failed'); i++)
      await new Promise((r) => setTimeout(r, 20));
    expect(logText).toContain('client TLS handshake failed');
  });

  it.each(NEEDLES.map((n) => [n]))(
    '%j appears in no log line, audit event or proxy-made response',
    (needle) => {
      expect(logText).not.toContain(needle);
      expect(JSON.stringify(proxy.events)).not.toContain(needle);
      expect(proxyMade.join('\n')).not.toContain(needle);
    },
  );
});
