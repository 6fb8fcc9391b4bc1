import { createServer as createHttpServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { parseProxyUrl } from '../../../src/upstream/proxy-url.js';
import { startChainProxy, type TestChainProxy } from '../../helpers/chain-proxy.js';
import { startUpstream, type TestUpstream } from '../../helpers/upstream.js';
import { hp } from './dial-helpers.js';
import { closePool, get, makePool, requestError } from './pool-helpers.js';

let upstream: TestUpstream | undefined;
let chain: TestChainProxy | undefined;
let plain: Server | undefined;

afterEach(async () => {
  closePool();
  await upstream?.close();
  await chain?.close();
  upstream = undefined;
  chain = undefined;
  if (plain) {
    plain.closeAllConnections();
    await new Promise<void>((r) => plain?.close(() => r()));
    plain = undefined;
  }
});

describe('createUpstreamPool routes', () => {
  it('chains through an authenticating proxy and runs verified TLS inside', async () => {
    upstream = await startUpstream();
    chain = await startChainProxy({ username: 'clef', password: 'p@ss' });
    const p = makePool({ proxy: { https: parseProxyUrl(chain.url), bypass: () => false } });
    const target = hp(`127.0.0.1:${upstream.port}`);
    const { agent, viaUpstreamProxy } = p.agentFor(target, 'https');
    expect(viaUpstreamProxy).toBe(true);
    const a = await get(agent, target, '/a');
    const b = await get(agent, target, '/b');
    expect([a.status, b.status]).toEqual([200, 200]);
    expect(chain.connects).toEqual([`127.0.0.1:${upstream.port}`]);
    expect(upstream.connections).toBe(1);
    expect(upstream.servernames).toEqual([false]);
  });

  it.each([
    { name: 'a wrong proxy password', password: 'wrong', code: 'upstream_proxy_auth_failed' },
    { name: 'a proxy that is down', password: 'down', code: 'upstream_proxy_error' },
  ])('fails the request with $code on $name', async ({ password, code }) => {
    chain = await startChainProxy({ username: 'clef', password: 'right' });
    const url = `http://clef:${password}@127.0.0.1:${chain.port}`;
    if (password === 'down') await chain.close();
    const p = makePool({ proxy: { https: parseProxyUrl(url), bypass: () => false } });
    const target = hp('127.0.0.1:9');
    const err = await requestError(p.agentFor(target, 'https').agent, target);
    expect(err.code).toBe(code);
  });

  it('goes direct when bypass says so; the chain proxy sees nothing', async () => {
    upstream = await startUpstream();
    chain = await startChainProxy();
    const seen: string[] = [];
    const bypass = (host: string, port: number) => {
      seen.push(`${host}:${port}`);
      return true;
    };
    const p = makePool({ proxy: { https: parseProxyUrl(chain.url), bypass } });
    const target = hp(`127.0.0.1:${upstream.port}`);
    const { agent, viaUpstreamProxy } = p.agentFor(target, 'https');
    expect(viaUpstreamProxy).toBe(false);
    expect((await get(agent, target, '/')).status).toBe(200);
    expect(chain.connects).toEqual([]);
    expect(seen).toEqual([`127.0.0.1:${upstream.port}`]);
  });

  it('keys routes by scheme, target and proxy identity, without credentials', () => {
    const proxy = parseProxyUrl('http://u:s3cret@proxy.corp:3128');
    const p = makePool({ proxy: { https: proxy, bypass: (host) => host === 'internal.corp' } });
    expect(p.route(hp('api.example.com:443'), 'https')).toEqual({
      key: 'https://api.example.com:443 via http://proxy.corp:3128',
      viaUpstreamProxy: true,
    });
    expect(p.route(hp('internal.corp:443'), 'https')).toEqual({
      key: 'https://internal.corp:443 direct',
      viaUpstreamProxy: false,
    });
    // No HTTP_PROXY configured: plain http goes direct.
    expect(p.route(hp('api.example.com:80'), 'http')).toEqual({
      key: 'http://api.example.com:80 direct',
      viaUpstreamProxy: false,
    });
    expect(p.agentFor(hp('a.example:443'), 'https').agent).not.toBe(
      p.agentFor(hp('a.example:443'), 'http').agent,
    );
  });

  it('forwards plain http over TCP, through the HTTP proxy when one is set', async () => {
    let conns = 0;
    plain = createHttpServer((req, res) => res.end(`plain ${req.url}`));
    plain.on('connection', () => conns++);
    await new Promise<void>((r) => plain?.listen(0, '127.0.0.1', () => r()));
    const port = (plain.address() as AddressInfo).port;
    chain = await startChainProxy();
    const p = makePool({ proxy: { http: parseProxyUrl(chain.url), bypass: () => false } });
    const target = hp(`127.0.0.1:${port}`);
    const { agent, viaUpstreamProxy } = p.agentFor(target, 'http');
    expect(viaUpstreamProxy).toBe(true);
    expect((await get(agent, target, '/x')).body).toBe('plain /x');
    expect((await get(agent, target, '/y')).body).toBe('plain /y');
    expect(chain.connects).toEqual([`127.0.0.1:${port}`]);
    expect(conns).toBe(1);
  });

  it('dialRaw opens a one-off tunnel, through HTTPS_PROXY by default', async () => {
    upstream = await startUpstream();
    chain = await startChainProxy();
    const p = makePool({ proxy: { https: parseProxyUrl(chain.url), bypass: () => false } });
    const { socket, viaUpstreamProxy } = await p.dialRaw(hp(`127.0.0.1:${upstream.port}`));
    socket.destroy();
    expect(viaUpstreamProxy).toBe(true);
    expect(chain.connects).toEqual([`127.0.0.1:${upstream.port}`]);
  });
});
