import { createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { ProxyError } from '../../../src/errors.js';
import { connectViaProxy } from '../../../src/upstream/connect-via-proxy.js';
import { createUpstreamTrust, dialTls } from '../../../src/upstream/dial.js';
import { parseProxyUrl } from '../../../src/upstream/proxy-url.js';
import { startChainProxy, type TestChainProxy } from '../../helpers/chain-proxy.js';
import { FIXTURE_CA_PEM, startUpstream, type TestUpstream } from '../../helpers/upstream.js';
import { hp, rejection } from './dial-helpers.js';

const trust = createUpstreamTrust([FIXTURE_CA_PEM]);

let upstream: TestUpstream | undefined;
let chain: TestChainProxy | undefined;
const servers: Server[] = [];
const sockets: Socket[] = [];

afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await upstream?.close();
  await chain?.close();
  upstream = undefined;
  chain = undefined;
  await Promise.all(servers.splice(0).map((s) => new Promise<void>((r) => s.close(() => r()))));
});

/** A scripted proxy: records the raw CONNECT head it receives and answers with `reply` (or nothing). */
async function fakeProxy(
  reply: string | Buffer | undefined,
  opts: { end?: boolean } = {},
): Promise<{ port: number; heads: string[] }> {
  const heads: string[] = [];
  const server = createServer((s) => {
    sockets.push(s);
    s.on('error', () => {});
    let buf = '';
    s.on('data', (d: Buffer) => {
      buf += d.toString('latin1');
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      heads.push(buf.slice(0, end + 4));
      if (reply !== undefined) s.write(reply);
      if (opts.end) s.end();
    });
  });
  servers.push(server);
  const port = await new Promise<number>((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const a = server.address();
      resolve(typeof a === 'object' && a ? a.port : 0);
    });
  });
  return { port, heads };
}

function readSome(socket: Socket): Promise<string> {
  return new Promise((resolve) => socket.once('data', (d: Buffer) => resolve(d.toString('latin1'))));
}

describe('connectViaProxy', () => {
  it('tunnels through an authenticating chain proxy, then TLS to the target runs inside', async () => {
    upstream = await startUpstream();
    chain = await startChainProxy({ username: 'clef', password: 'p@ss:w0rd' });
    const proxy = parseProxyUrl(chain.url);
    const target = hp(`127.0.0.1:${upstream.port}`);
    const tunnel = await connectViaProxy(proxy, target, { connectTimeoutMs: 5000, trust });
    const tls = await dialTls(target, { trust, connectTimeoutMs: 5000, socket: tunnel });
    sockets.push(tls);
    expect(tls.authorized).toBe(true);
    tls.write('GET /via-chain HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n');
    expect(await readSome(tls)).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(chain.connects).toEqual([`127.0.0.1:${upstream.port}`]);
    expect(upstream.received.map((r) => r.url)).toEqual(['/via-chain']);
  });

  it('verifies an https:// proxy against the same roots', async () => {
    upstream = await startUpstream();
    chain = await startChainProxy({ tls: true });
    const proxy = parseProxyUrl(chain.url);
    expect(proxy.protocol).toBe('https:');
    const target = hp(`127.0.0.1:${upstream.port}`);
    const tunnel = await connectViaProxy(proxy, target, { connectTimeoutMs: 5000, trust });
    const tls = await dialTls(target, { trust, connectTimeoutMs: 5000, socket: tunnel });
    sockets.push(tls);
    expect(tls.authorized).toBe(true);
    expect(chain.connects).toEqual([`127.0.0.1:${upstream.port}`]);

    const refused = await rejection(
      connectViaProxy(proxy, target, { connectTimeoutMs: 5000, trust: createUpstreamTrust() }),
    );
    expect(refused.code).toBe('upstream_proxy_error');
    expect((refused.cause as ProxyError).code).toBe('upstream_tls_error');
  });

  it('maps a 407 (wrong password) to upstream_proxy_auth_failed, never echoing the password', async () => {
    chain = await startChainProxy({ username: 'clef', password: 'right' });
    const proxy = parseProxyUrl(`http://clef:wrong-s3cret@127.0.0.1:${chain.port}`);
    const err = await rejection(connectViaProxy(proxy, hp('127.0.0.1:9'), { connectTimeoutMs: 5000 }));
    expect(err.code).toBe('upstream_proxy_auth_failed');
    expect(err.message).not.toContain('wrong-s3cret');
    expect(chain.connects).toEqual(['127.0.0.1:9']);
  });

  it('maps an unreachable proxy to upstream_proxy_error', async () => {
    const dead = await fakeProxy(undefined);
    await new Promise<void>((r) => servers.pop()?.close(() => r()));
    const proxy = parseProxyUrl(`http://u:s3cret@127.0.0.1:${dead.port}`);
    const err = await rejection(connectViaProxy(proxy, hp('example.com:443'), { connectTimeoutMs: 5000 }));
    expect(err.code).toBe('upstream_proxy_error');
    expect(err.message).toBe(`could not reach the upstream proxy http://127.0.0.1:${dead.port}`);
    expect((err.cause as ProxyError).code).toBe('upstream_error');
  });

  it.each([
    ['HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n', 'answered 502'],
    ['HTTP/1.1 403 Forbidden\r\n\r\n', 'answered 403'],
    ['HTTP/1.0 301 Moved\r\nLocation: http://x/\r\n\r\n', 'answered 301'],
    ['SSH-2.0-OpenSSH_9.6\r\n\r\n', 'malformed answer'],
    ['HTTP/1.1 2000 Weird\r\n\r\n', 'malformed answer'],
    [`HTTP/1.1 200 OK\r\nX-Pad: ${'a'.repeat(17 * 1024)}\r\n\r\n`, 'oversized answer'],
    ['HTTP/1.1 200 OK\r\n', 'closed without answering'],
  ])('maps %j to upstream_proxy_error (%s)', async (reply, what) => {
    // Every reply is followed by a FIN, so a half answer is "closed without answering".
    const fake = await fakeProxy(reply, { end: true });
    const proxy = parseProxyUrl(`http://127.0.0.1:${fake.port}`);
    const err = await rejection(connectViaProxy(proxy, hp('example.com:443'), { connectTimeoutMs: 5000 }));
    expect(err.code).toBe('upstream_proxy_error');
    expect(err.message).toContain(what);
  });

  it('maps a proxy that never answers to upstream_proxy_error after the timeout', async () => {
    const fake = await fakeProxy(undefined);
    const proxy = parseProxyUrl(`http://127.0.0.1:${fake.port}`);
    const err = await rejection(connectViaProxy(proxy, hp('example.com:443'), { connectTimeoutMs: 150 }));
    expect(err.code).toBe('upstream_proxy_error');
    expect(err.message).toContain('timed out');
    expect(fake.heads).toHaveLength(1);
  });

  it('writes the exact CONNECT head, brackets IPv6 targets and gives back bytes read past the 200', async () => {
    const fake = await fakeProxy('HTTP/1.1 200 Connection Established\r\n\r\nearly-bytes');
    const proxy = parseProxyUrl(`http://us%65r:p%40ss@127.0.0.1:${fake.port}`);
    const socket = await connectViaProxy(proxy, hp('[::1]:8443'), { connectTimeoutMs: 5000 });
    sockets.push(socket);
    const auth = Buffer.from('user:p@ss').toString('base64');
    expect(fake.heads).toEqual([
      `CONNECT [::1]:8443 HTTP/1.1\r\nHost: [::1]:8443\r\nProxy-Authorization: Basic ${auth}\r\n\r\n`,
    ]);
    expect(await readSome(socket)).toBe('early-bytes');
  });

  it('sends no Proxy-Authorization when the URL has no userinfo', async () => {
    const fake = await fakeProxy('HTTP/1.1 200 OK\r\n\r\n');
    const socket = await connectViaProxy(
      parseProxyUrl(`http://127.0.0.1:${fake.port}`),
      hp('api.example.com:443'),
      {
        connectTimeoutMs: 5000,
      },
    );
    sockets.push(socket);
    expect(fake.heads).toEqual(['CONNECT api.example.com:443 HTTP/1.1\r\nHost: api.example.com:443\r\n\r\n']);
  });
});
