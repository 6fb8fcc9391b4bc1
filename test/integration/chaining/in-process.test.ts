/**
 * Upstream proxy chaining (SPEC §7) on real sockets: clef-proxy in-process → proxy-chain (a real forward proxy with
 * Basic auth) → TLS/plain upstreams. Targets are `localhost`/`127.0.0.1` because the chain proxy resolves names
 * itself, with the system resolver.
 */
import { createServer, type Server } from 'node:http';
import { type AddressInfo, createServer as createTcpServer, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import type { AuditEvent, DenyEvent, RequestEvent, TunnelEvent } from '../../../src/audit/events.js';
import { startChainProxy, type TestChainProxy } from '../../helpers/chain-proxy.js';
import {
  basicAuth,
  connectThrough,
  connectTo,
  readAll,
  startTestProxy,
  type TestProxy,
  type TestProxyOptions,
} from '../../helpers/proxy.js';
import { FIXTURE_CA_PEM, startUpstream, type TestUpstream } from '../../helpers/upstream.js';

const SECRET = 'chain-test-secret-value';
const CHAIN_USER = 'corp user';
const CHAIN_PASS = 'p@ss:word/1';

let proxy: TestProxy | undefined;
let upstream: TestUpstream | undefined;
let plain: Server | undefined;
const chains: TestChainProxy[] = [];

afterEach(async () => {
  await proxy?.close();
  await upstream?.close();
  if (plain) await new Promise<void>((r) => plain!.close(() => r()));
  for (const c of chains.splice(0)) await c.close();
  proxy = upstream = plain = undefined;
});

async function chain(opts: Parameters<typeof startChainProxy>[0] = {}): Promise<TestChainProxy> {
  const c = await startChainProxy(opts);
  chains.push(c);
  return c;
}

/** A plain HTTP upstream (forwarded `http://` requests) echoing the request line as JSON. */
async function startPlain(): Promise<number> {
  plain = createServer((req, res) => {
    const body = JSON.stringify({ url: req.url, host: req.headers.host });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
  await new Promise<void>((r) => plain!.listen(0, '127.0.0.1', () => r()));
  return (plain.address() as AddressInfo).port;
}

/** A port nothing listens on: bind one, then close it. */
async function deadPort(): Promise<number> {
  const s = createTcpServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

interface Reply {
  readonly status: number;
  readonly head: string;
  readonly body: string;
}

function parseReply(raw: Buffer): Reply {
  const text = raw.toString('latin1');
  const end = text.indexOf('\r\n\r\n');
  return { status: Number(text.split(' ', 3)[1]), head: text.slice(0, end), body: text.slice(end + 4) };
}

/** Read one response framed by Content-Length (or by the close), without waiting for the connection to end. */
function readReply(socket: Socket, timeoutMs = 5_000): Promise<Reply> {
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0);
    const timer = setTimeout(() => reject(new Error(`no full reply: ${buf.toString('latin1')}`)), timeoutMs);
    const done = () => {
      clearTimeout(timer);
      socket.off('data', onData);
      resolve(parseReply(buf));
    };
    const onData = (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      const end = buf.indexOf('\r\n\r\n');
      const len = /\r\ncontent-length: *(\d+)/i.exec(buf.subarray(0, end).toString('latin1'))?.[1];
      if (end >= 0 && len !== undefined && buf.length >= end + 4 + Number(len)) done();
    };
    socket.on('data', onData);
    socket.on('error', () => {});
    socket.once('close', done);
  });
}

/**
 * CONNECT through the proxy, TLS with `ca`, one kept-alive `GET path`; the reply. The client then closes first,
 * so a tunnel's end never hangs on the half-close grace.
 */
async function httpsGet(port: number, target: string, path: string, ca: string): Promise<Reply> {
  const { socket, status } = await connectThrough(port, target);
  expect(status).toBe(200);
  const host = target.slice(0, target.lastIndexOf(':'));
  const servername = /^[0-9.]+$/.test(host) ? undefined : host;
  const tls = tlsConnect({ socket, ca, ...(servername ? { servername } : {}) });
  tls.write(`GET ${path} HTTP/1.1\r\nHost: ${target}\r\n\r\n`);
  const reply = await readReply(tls as unknown as Socket);
  tls.end();
  return reply;
}

async function plainGet(port: number, url: string): Promise<Reply> {
  const socket = await connectTo(port);
  const host = new URL(url).host;
  socket.write(
    `GET ${url} HTTP/1.1\r\nHost: ${host}\r\nProxy-Authorization: ${basicAuth()}\r\nConnection: close\r\n\r\n`,
  );
  return parseReply(await readAll(socket));
}

async function startWith(opts: TestProxyOptions & { servicePort: number }): Promise<TestProxy> {
  const { servicePort, ...rest } = opts;
  proxy = await startTestProxy({
    services: [
      { name: 'svc', hosts: [`localhost:${servicePort}`], auth: { type: 'bearer', secret: 'SVC_KEY' } },
    ],
    secrets: { SVC_KEY: SECRET },
    ...rest,
  });
  return proxy;
}

const only = <T extends AuditEvent>(events: AuditEvent[]): T => {
  expect(events).toHaveLength(1);
  return events[0] as T;
};

describe('chaining through a real forward proxy (in-process)', () => {
  it('intercepted requests go through the chain: CONNECT host:port with Basic auth, credential injected', async () => {
    upstream = await startUpstream();
    const c = await chain({ username: CHAIN_USER, password: CHAIN_PASS });
    const p = await startWith({ servicePort: upstream.port, upstreamProxy: { url: c.url } });
    const target = `localhost:${upstream.port}`;

    const reply = await httpsGet(p.port, target, '/v1/items?page=2', p.proxy.caCertPem);
    expect(reply.status).toBe(200);
    expect(c.connects).toEqual([target]);
    expect(upstream.received).toHaveLength(1);
    expect(upstream.received[0]!.headers.authorization).toBe(`Bearer ${SECRET}`);
    expect(upstream.received[0]!.url).toBe('/v1/items?page=2');
    const ev = only<RequestEvent>(await p.waitForEvents(1));
    expect(ev).toMatchObject({ event: 'request', decision: 'inject', status: 200, via_upstream_proxy: true });
    expect(ev.path).toBe('/v1/items');
  });

  it('passthrough tunnels go through the chain, audited via_upstream_proxy', async () => {
    upstream = await startUpstream();
    const c = await chain({ username: CHAIN_USER, password: CHAIN_PASS });
    const target = `127.0.0.1:${upstream.port}`;
    const p = await startWith({
      servicePort: 1,
      passthroughHosts: [target],
      upstreamProxy: { url: c.url },
    });

    // The client speaks TLS end to end with the upstream: it trusts the fixture CA, not the proxy's.
    const reply = await httpsGet(p.port, target, '/blind', FIXTURE_CA_PEM);
    expect(reply.status).toBe(200);
    expect(JSON.parse(reply.body)).toMatchObject({ url: '/blind' });
    expect(c.connects).toEqual([target]);
    const ev = only<TunnelEvent>(await p.waitForEvents(1));
    expect(ev).toMatchObject({
      event: 'tunnel',
      decision: 'tunnel',
      host: '127.0.0.1',
      via_upstream_proxy: true,
    });
    expect(ev.bytes_in).toBeGreaterThan(0);
    expect(ev.bytes_out).toBeGreaterThan(0);
  });

  it('forwarded http:// requests use the http proxy (HTTP_PROXY role), TLS the https one', async () => {
    upstream = await startUpstream();
    const httpPort = await startPlain();
    const forHttps = await chain();
    const forHttp = await chain();
    const p = await startWith({
      servicePort: upstream.port,
      passthroughHosts: [`127.0.0.1:${httpPort}`],
      upstreamProxy: { https: forHttps.url, http: forHttp.url },
    });

    const reply = await plainGet(p.port, `http://127.0.0.1:${httpPort}/plain?x=1`);
    expect(reply.status).toBe(200);
    expect(JSON.parse(reply.body)).toEqual({ url: '/plain?x=1', host: `127.0.0.1:${httpPort}` });
    expect(forHttp.connects).toEqual([`127.0.0.1:${httpPort}`]);
    expect(forHttps.connects).toEqual([]);
    const ev = only<RequestEvent>(await p.waitForEvents(1));
    expect(ev).toMatchObject({ decision: 'forward', path: '/plain', status: 200, via_upstream_proxy: true });

    expect((await httpsGet(p.port, `localhost:${upstream.port}`, '/', p.proxy.caCertPem)).status).toBe(200);
    expect(forHttps.connects).toEqual([`localhost:${upstream.port}`]);
    expect(forHttp.connects).toHaveLength(1);
  });

  it('an https:// chain proxy is verified with the upstream roots and works the same', async () => {
    upstream = await startUpstream();
    const c = await chain({ tls: true, username: CHAIN_USER, password: CHAIN_PASS });
    const p = await startWith({ servicePort: upstream.port, upstreamProxy: { url: c.url } });
    const reply = await httpsGet(p.port, `localhost:${upstream.port}`, '/', p.proxy.caCertPem);
    expect(reply.status).toBe(200);
    expect(c.connects).toEqual([`localhost:${upstream.port}`]);
    expect(upstream.received[0]!.headers.authorization).toBe(`Bearer ${SECRET}`);
  });

  it('a wrong chain password is 502 upstream_proxy_auth_failed, and the upstream sees nothing', async () => {
    upstream = await startUpstream();
    const c = await chain({ username: CHAIN_USER, password: CHAIN_PASS });
    const wrong = c.url.replace(encodeURIComponent(CHAIN_PASS), 'nope');
    const tunnelTarget = `127.0.0.1:${upstream.port}`;
    const p = await startWith({
      servicePort: upstream.port,
      passthroughHosts: [tunnelTarget],
      upstreamProxy: { url: wrong },
    });

    const reply = await httpsGet(p.port, `localhost:${upstream.port}`, '/x', p.proxy.caCertPem);
    expect(reply.status).toBe(502);
    expect(reply.head).toMatch(/\r\nX-Clef-Proxy-Error: upstream_proxy_auth_failed\r\n/i);
    expect(JSON.parse(reply.body)).toMatchObject({ error: 'upstream_proxy_auth_failed' });
    expect(reply.body).not.toContain('nope');
    const req = only<RequestEvent>(await p.waitForEvents(1));
    expect(req).toMatchObject({
      reason: 'upstream_proxy_auth_failed',
      status: 502,
      via_upstream_proxy: true,
    });

    // A passthrough CONNECT through the same chain is refused before the 200: a deny event.
    const { status, head, socket } = await connectThrough(p.port, tunnelTarget);
    socket.destroy();
    expect(status).toBe(502);
    expect(head).toMatch(/X-Clef-Proxy-Error: upstream_proxy_auth_failed/i);
    const deny = (await p.waitForEvents(2))[1] as DenyEvent;
    expect(deny).toMatchObject({ event: 'deny', reason: 'upstream_proxy_auth_failed', status: 502 });
    expect(upstream.received).toHaveLength(0);
  });

  it('a chain proxy that is down is 502 upstream_proxy_error', async () => {
    upstream = await startUpstream();
    const p = await startWith({
      servicePort: upstream.port,
      upstreamProxy: { url: `http://u:secretpw@127.0.0.1:${await deadPort()}` },
    });
    const reply = await httpsGet(p.port, `localhost:${upstream.port}`, '/', p.proxy.caCertPem);
    expect(reply.status).toBe(502);
    expect(reply.head).toMatch(/\r\nX-Clef-Proxy-Error: upstream_proxy_error\r\n/i);
    expect(reply.body).not.toContain('secretpw');
    expect(only<RequestEvent>(await p.waitForEvents(1))).toMatchObject({
      reason: 'upstream_proxy_error',
      status: 502,
    });
    expect(upstream.received).toHaveLength(0);
  });

  it('NO_PROXY bypasses the chain: nothing reaches it, via_upstream_proxy false', async () => {
    upstream = await startUpstream();
    const c = await chain({ username: CHAIN_USER, password: CHAIN_PASS });
    const tunnelTarget = `127.0.0.1:${upstream.port}`;
    const p = await startWith({
      servicePort: upstream.port,
      passthroughHosts: [tunnelTarget],
      upstreamProxy: { url: c.url, noProxy: `localhost, 127.0.0.1:${upstream.port}` },
    });
    expect((await httpsGet(p.port, `localhost:${upstream.port}`, '/', p.proxy.caCertPem)).status).toBe(200);
    expect((await httpsGet(p.port, tunnelTarget, '/', FIXTURE_CA_PEM)).status).toBe(200);
    const events = await p.waitForEvents(2);
    expect(c.connects).toEqual([]);
    expect(events.map((e) => [e.event, (e as RequestEvent | TunnelEvent).via_upstream_proxy])).toEqual([
      ['request', false],
      ['tunnel', false],
    ]);
  });
});
