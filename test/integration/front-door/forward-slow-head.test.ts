/**
 * Slowloris on a kept-alive forward-proxy connection: the first head is bounded by the front door, and every later
 * head on the same connection by `header_timeout_ms` from its first byte (audited `header_timeout`).
 */
import { createServer, type Server, type Socket } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  basicAuth,
  connectTo,
  readResponseHead,
  startTestProxy,
  type TestProxy,
} from '../../helpers/proxy.js';

let upstream: Server;
let upstreamPort: number;
let heads: string[];
let proxy: TestProxy;

beforeEach(async () => {
  heads = [];
  upstream = createServer((s: Socket) => {
    s.on('data', (c: Buffer) => {
      const text = c.toString('latin1');
      if (text.includes('\r\n\r\n')) {
        heads.push(text.split('\r\n', 1)[0]!);
        s.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
      }
    });
    s.on('error', () => {});
  });
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  upstreamPort = (upstream.address() as { port: number }).port;
  proxy = await startTestProxy({
    passthroughHosts: [`127.0.0.1:${upstreamPort}`],
    limits: { headerTimeoutMs: 300, idleTimeoutMs: 60_000 },
  });
});

afterEach(async () => {
  await proxy.close();
  await new Promise<void>((resolve) => upstream.close(() => resolve()));
});

describe('forwarded http:// connections', () => {
  it('a second head trickled one byte every 40 ms is cut off and audited header_timeout', async () => {
    const host = `127.0.0.1:${upstreamPort}`;
    const auth = `Proxy-Authorization: ${basicAuth()}\r\n`;
    const s = await connectTo(proxy.port);
    s.write(`GET http://${host}/one HTTP/1.1\r\nHost: ${host}\r\n${auth}\r\n`);
    const first = await readResponseHead(s);
    expect(first.head).toMatch(/^HTTP\/1\.1 200 /);
    const closed = new Promise<void>((resolve) => s.once('close', () => resolve()));
    s.on('error', () => {});
    const second = `GET http://${host}/two HTTP/1.1\r\nHost: ${host}\r\n${auth}X-Pad: ${'a'.repeat(200)}\r\n\r\n`;
    let i = 0;
    const drip = setInterval(() => {
      if (s.destroyed || i >= second.length) return clearInterval(drip);
      s.write(second[i++]!);
    }, 40);
    await closed;
    clearInterval(drip);
    expect(i).toBeLessThan(second.length);
    expect(heads).toEqual(['GET /one HTTP/1.1']);
    const events = await proxy.waitForEvents(2);
    expect(events[1]).toMatchObject({ event: 'deny', reason: 'header_timeout' });
  });
});
