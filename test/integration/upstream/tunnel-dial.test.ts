import { createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { parseProxyUrl } from '../../../src/upstream/proxy-url.js';
import { dialRaw } from '../../../src/upstream/tunnel-dial.js';
import { startChainProxy, type TestChainProxy } from '../../helpers/chain-proxy.js';
import { loopbackGuard } from '../../helpers/upstream.js';
import { hp, rejection } from './dial-helpers.js';

let chain: TestChainProxy | undefined;
let server: Server | undefined;
const sockets: Socket[] = [];

afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await chain?.close();
  chain = undefined;
  if (server) await new Promise<void>((r) => server?.close(() => r()));
  server = undefined;
});

/** A TCP echo server with a greeting, so a test sees bytes in both directions. */
async function startEcho(): Promise<number> {
  server = createServer((s) => {
    sockets.push(s);
    s.on('error', () => {});
    s.write('hello:');
    s.pipe(s);
  });
  return new Promise((resolve) => {
    server?.listen(0, '127.0.0.1', () => {
      const a = server?.address();
      resolve(typeof a === 'object' && a ? a.port : 0);
    });
  });
}

function exchange(socket: Socket, text: string): Promise<string> {
  return new Promise((resolve) => {
    let got = '';
    socket.on('data', (d: Buffer) => {
      got += d.toString();
      if (got.endsWith(text)) resolve(got);
    });
    socket.write(text);
  });
}

describe('dialRaw', () => {
  it('connects directly when no proxy is given', async () => {
    const port = await startEcho();
    const conn = await dialRaw(hp(`127.0.0.1:${port}`), undefined, {
      connectTimeoutMs: 5000,
      guard: loopbackGuard(),
    });
    sockets.push(conn.socket);
    expect(conn.viaUpstreamProxy).toBe(false);
    expect(await exchange(conn.socket, 'ping')).toBe('hello:ping');
  });

  it('tunnels through the proxy and keeps every byte, including the greeting', async () => {
    const port = await startEcho();
    chain = await startChainProxy({ username: 'a', password: 'b' });
    const conn = await dialRaw(hp(`127.0.0.1:${port}`), parseProxyUrl(chain.url), {
      connectTimeoutMs: 5000,
      guard: loopbackGuard(),
    });
    sockets.push(conn.socket);
    expect(conn.viaUpstreamProxy).toBe(true);
    expect(await exchange(conn.socket, 'ping')).toBe('hello:ping');
    expect(chain.connects).toEqual([`127.0.0.1:${port}`]);
  });

  it('rejects a refused direct connect with upstream_error', async () => {
    const port = await startEcho();
    await new Promise<void>((r) => server?.close(() => r()));
    server = undefined;
    const err = await rejection(
      dialRaw(hp(`127.0.0.1:${port}`), undefined, { connectTimeoutMs: 5000, guard: loopbackGuard() }),
    );
    expect(err.code).toBe('upstream_error');
  });

  it('rejects a 407 from the proxy with upstream_proxy_auth_failed', async () => {
    chain = await startChainProxy({ username: 'a', password: 'b' });
    const proxy = parseProxyUrl(`http://a:nope@127.0.0.1:${chain.port}`);
    const err = await rejection(
      dialRaw(hp('127.0.0.1:9'), proxy, { connectTimeoutMs: 5000, guard: loopbackGuard() }),
    );
    expect(err.code).toBe('upstream_proxy_auth_failed');
  });
});
