/**
 * Every descriptor the proxy opens for a request must be let go once the events that end it have happened, not
 * whenever a long idle timer fires: a 10-minute soak (docs/hardening.md) ended holding twice its baseline. Each
 * case drives one ending — the upstream closing a pooled connection, a client aborting mid-response, a client
 * half-closing, a tunnel's peer going away — with every idle timeout set far beyond the test's own, and then
 * counts the proxy's TCP sockets of each kind, by port, in /proc (the proxy runs in this process).
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import { connect as netConnect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { startTestProxy, type TestProxy } from '../helpers/proxy.js';
import { readBody, requestThrough } from '../helpers/tls-client.js';
import { fixturePath } from '../helpers/upstream.js';

/** TCP sockets of this process that are not listening: [local port, remote port] each. */
function openTcp(): Array<[number, number]> {
  const inodes = new Set<string>();
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/self/fd/${fd}`));
      if (m) inodes.add(m[1]!);
    } catch {}
  }
  const out: Array<[number, number]> = [];
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    for (const line of readFileSync(file, 'utf8').split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10 || f[3] === '0A' || !inodes.has(f[9]!)) continue;
      const port = (a: string) => Number.parseInt(a.split(':')[1]!, 16);
      out.push([port(f[1]!), port(f[2]!)]);
    }
  }
  return out;
}

/** Wait until `count()` is `want` (the test's timeout bounds the wait: a socket that is never closed fails it). */
async function until(count: () => number, want: number): Promise<number> {
  while (count() !== want) await new Promise((r) => setTimeout(r, 25));
  return count();
}

interface Upstream {
  readonly port: number;
  readonly server: Server;
  /** The upstream's own ends of its TLS connections, open now. */
  readonly accepted: Set<Socket>;
  /** Its TCP connections, TLS or not. */
  readonly tcp: Set<Socket>;
  close(): Promise<void>;
}

/** An HTTPS upstream that never times connections out by itself: only the test closes them. */
async function startUpstream(handler: Parameters<typeof createServer>[1]): Promise<Upstream> {
  const server = createServer(
    {
      key: readFileSync(fixturePath('upstream.key')),
      cert: readFileSync(fixturePath('upstream.crt')),
      keepAliveTimeout: 0,
    },
    handler,
  );
  const accepted = new Set<Socket>();
  const tcp = new Set<Socket>();
  server.on('connection', (s: Socket) => {
    tcp.add(s);
    s.once('close', () => tcp.delete(s));
  });
  server.on('secureConnection', (s: Socket) => {
    accepted.add(s);
    s.once('close', () => accepted.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return {
    port,
    server,
    accepted,
    tcp,
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
}

const FAR = 600_000;
let proxy: TestProxy | undefined;
let upstream: Upstream | undefined;

afterEach(async () => {
  await proxy?.close();
  await upstream?.close();
  proxy = upstream = undefined;
});

async function setUp(handler: Parameters<typeof createServer>[1]) {
  upstream = await startUpstream(handler);
  const target = `api.upstream.test:${upstream.port}`;
  proxy = await startTestProxy({
    services: [{ name: 'svc', hosts: [target], auth: { type: 'bearer', secret: 'K' } }],
    secrets: { K: 'descriptor-secret' },
    passthroughHosts: [`localhost:${upstream.port}`],
    limits: { idleTimeoutMs: FAR, handshakeTimeoutMs: FAR, headerTimeoutMs: FAR },
  });
  const up = upstream.port;
  const pp = proxy.port;
  return {
    target,
    ca: proxy.proxy.caCertPem,
    /** The proxy's own connections to the upstream (remote port = upstream's, local port not the proxy's). */
    toUpstream: () => openTcp().filter(([, remote]) => remote === up).length,
    /** Client connections the proxy accepted. */
    fromClients: () => openTcp().filter(([local]) => local === pp).length,
  };
}

describe.skipIf(process.platform !== 'linux')('descriptors after the events that end a request', () => {
  it('a pooled upstream connection the upstream closes is let go at once', async () => {
    const t = await setUp((_req, res) => res.end('ok'));
    const open = await requestThrough(proxy!.port, t.target, { path: '/a' }, { ca: t.ca });
    open.req.end();
    expect((await readBody(await open.response)).toString()).toBe('ok');
    open.socket.destroy();
    await until(t.fromClients, 0);
    expect(t.toUpstream()).toBe(1);
    // The upstream ends its idle keep-alive connection (close_notify and FIN, as nginx and Node do).
    for (const s of upstream!.accepted) s.end();
    expect(await until(t.toUpstream, 0)).toBe(0);
  });

  it('a client aborting mid-response takes its upstream connection with it', async () => {
    const t = await setUp((_req, res) => {
      res.writeHead(200);
      const tick = setInterval(() => res.write('x'.repeat(1000)), 10);
      res.once('close', () => clearInterval(tick));
    });
    const open = await requestThrough(proxy!.port, t.target, { path: '/stream' }, { ca: t.ca });
    open.req.end();
    const res = await open.response;
    await new Promise((r) => res.once('data', r));
    open.socket.destroy();
    await proxy!.waitForEvents(1);
    expect(await until(t.fromClients, 0)).toBe(0);
    expect(await until(t.toUpstream, 0)).toBe(0);
  });

  it('a client that half-closes after its response is let go', async () => {
    const t = await setUp((_req, res) => res.end('ok'));
    const open = await requestThrough(proxy!.port, t.target, { path: '/h' }, { ca: t.ca });
    open.req.end();
    await readBody(await open.response);
    // FIN, still reading: the proxy must end its side too, not wait for the (far) idle timeout.
    open.socket.end();
    expect(await until(t.fromClients, 0)).toBe(0);
  });

  it('a passthrough tunnel whose upstream goes away is closed on both sides', async () => {
    const t = await setUp((_req, res) => res.end('ok'));
    const raw: Socket = netConnect({ host: '127.0.0.1', port: proxy!.port });
    await new Promise((r) => raw.once('connect', r));
    const authority = `localhost:${upstream!.port}`;
    const auth = `Basic ${Buffer.from('w:test-workload-token').toString('base64')}`;
    raw.write(`CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\nProxy-Authorization: ${auth}\r\n\r\n`);
    await new Promise((r) => raw.once('data', r));
    raw.on('data', () => {});
    await until(t.toUpstream, 1);
    // No TLS handshake ever starts; the upstream hangs up on the tunnel.
    for (const s of upstream!.tcp) s.destroy();
    await until(t.toUpstream, 0);
    expect(await until(t.fromClients, 0)).toBe(0);
    raw.destroy();
  });
});
