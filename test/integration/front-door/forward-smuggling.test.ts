/**
 * Smuggling and desync on forwarded `http://` requests (issue: hardening; SPEC §6): every smuggling-shaped request
 * is refused with 400 `bad_request` and the connection closed, and the upstream — a raw TCP server recording every
 * byte — never sees a second request smuggled in behind the first.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { basicAuth, connectTo, readAll, startTestProxy, type TestProxy } from '../../helpers/proxy.js';

let upstream: Server;
let upstreamPort: number;
let received: Buffer;
let proxy: TestProxy;

beforeEach(async () => {
  received = Buffer.alloc(0);
  upstream = createServer((s: Socket) => {
    s.on('data', (c: Buffer) => {
      received = Buffer.concat([received, c]);
      // Answer each complete head with an empty 200, so a kept-alive proxy socket stays usable.
      if (c.includes('\r\n\r\n')) s.write('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n');
    });
    s.on('error', () => {});
  });
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  upstreamPort = (upstream.address() as { port: number }).port;
  proxy = await startTestProxy({ passthroughHosts: [`127.0.0.1:${upstreamPort}`] });
});

afterEach(async () => {
  await proxy.close();
  await new Promise<void>((resolve) => upstream.close(() => resolve()));
});

const AUTH = `Proxy-Authorization: ${basicAuth()}\r\n`;
const smuggled = 'GET /smuggled HTTP/1.1\r\nHost: evil\r\n\r\n';

/** Send raw bytes as a forward-proxy client and collect the answer until the proxy closes. */
async function exchange(bytes: string): Promise<string> {
  const s = await connectTo(proxy.port);
  s.write(bytes);
  return (await readAll(s, 5_000)).toString('latin1');
}

describe('forwarded http:// requests: smuggling-shaped framing is refused', () => {
  const host = () => `127.0.0.1:${upstreamPort}`;
  it.each([
    [
      'Content-Length + Transfer-Encoding',
      () => `Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${smuggled}`,
    ],
    [
      'two Content-Lengths',
      () => `Content-Length: 0\r\nContent-Length: ${smuggled.length}\r\n\r\n${smuggled}`,
    ],
    [
      'Transfer-Encoding: chunked, identity',
      () => `Transfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n${smuggled}`,
    ],
    ['obs-fold', () => `X-A: 1\r\n Content-Length: ${smuggled.length}\r\n\r\n${smuggled}`],
    ['bare CR in a header', () => `X-A: a\rContent-Length: ${smuggled.length}\r\n\r\n${smuggled}`],
    ['invalid chunk size', () => `Transfer-Encoding: chunked\r\n\r\nzz\r\n${smuggled}`],
    ['illegal byte in a header name', () => `X-A\x01: 1\r\nContent-Length: 0\r\n\r\n${smuggled}`],
  ])('%s', async (_label, rest) => {
    const answer = await exchange(`POST http://${host()}/x HTTP/1.1\r\nHost: ${host()}\r\n${AUTH}${rest()}`);
    expect(answer).toMatch(/^HTTP\/1\.1 400 /);
    expect(answer).toContain('X-Clef-Proxy-Error: bad_request');
    expect(received.toString('latin1')).not.toContain('/smuggled');
  });

  it('a space in the request target', async () => {
    const answer = await exchange(
      `GET http://${host()}/a b HTTP/1.1\r\nHost: ${host()}\r\n${AUTH}\r\n${smuggled}`,
    );
    expect(answer).toMatch(/^HTTP\/1\.1 400 /);
    expect(received.length).toBe(0);
  });

  it('a well-formed request is forwarded (the harness can see requests)', async () => {
    const s = await connectTo(proxy.port);
    s.write(`GET http://${host()}/ok HTTP/1.1\r\nHost: ${host()}\r\n${AUTH}Connection: close\r\n\r\n`);
    const answer = (await readAll(s)).toString('latin1');
    expect(answer).toMatch(/^HTTP\/1\.1 200 /);
    expect(received.toString('latin1')).toMatch(/^GET \/ok HTTP\/1\.1\r\n/);
  });
});
