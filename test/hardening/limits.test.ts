/**
 * Resource limits under hostile load (SPEC §6): `max_connections` holds with a mix of idle tunnels and handshaken
 * intercepted connections while 20 more clients arrive at once; idle tunnels close at `idle_timeout_ms` with a
 * `tunnel` event. The never-reading client is in backpressure.test.ts, the leaf-cache storm in leaf-storm.test.ts.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { TunnelEvent } from '../../src/audit/events.js';
import {
  basicAuth,
  connectThrough,
  connectTo,
  readAll,
  startTestProxy,
  type TestProxy,
  type TestProxyOptions,
} from '../helpers/proxy.js';
import { httpsRequestThrough, tlsThrough } from '../helpers/tls-client.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';
import { eventually } from './hardening-helpers.js';

let proxy: TestProxy | undefined;
let upstream: TestUpstream | undefined;
let target: Server | undefined;
const sockets = new Set<Socket>();

afterEach(async () => {
  for (const s of sockets) s.destroy();
  sockets.clear();
  await proxy?.close();
  await upstream?.close();
  if (target) await new Promise((r) => target?.close(r));
  proxy = upstream = target = undefined;
});

/** A TCP echo target behind a passthrough entry; `peak` is the exact high-water mark of open tunnels. */
async function echoTarget() {
  const stats = { open: 0, peak: 0 };
  target = createServer((s) => {
    stats.peak = Math.max(stats.peak, ++stats.open);
    sockets.add(s);
    s.on('error', () => {});
    s.once('close', () => stats.open--);
    s.pipe(s);
  });
  await new Promise<void>((r) => target?.listen(0, '127.0.0.1', r));
  return { stats, passthrough: `127.0.0.1:${(target.address() as { port: number }).port}` };
}

/** What a client sent a full CONNECT while the proxy is full receives, read until the proxy closes. */
interface ExtraClient {
  readonly client: string;
  readonly head: string;
  readonly body: string;
}

async function extraClient(port: number, connectTarget: string): Promise<ExtraClient> {
  const socket = await connectTo(port);
  sockets.add(socket);
  const client = `127.0.0.1:${socket.localPort}`;
  socket.on('error', () => {});
  socket.write(
    `CONNECT ${connectTarget} HTTP/1.1\r\nHost: ${connectTarget}\r\nProxy-Authorization: ${basicAuth()}\r\n\r\n`,
  );
  const [head = '', body = ''] = (await readAll(socket)).toString('latin1').split('\r\n\r\n');
  return { client, head, body };
}

async function setup(limits: TestProxyOptions) {
  upstream = await startUpstream();
  const echo = await echoTarget();
  const service = `api.upstream.test:${upstream.port}`;
  proxy = await startTestProxy({
    services: [{ name: 'svc', hosts: [service], auth: { type: 'bearer', secret: 'K' } }],
    secrets: { K: 'limits-secret' },
    passthroughHosts: [echo.passthrough],
    ...limits,
  });
  return { px: proxy, up: upstream, service, ...echo, ca: proxy.proxy.caCertPem };
}

describe('max_connections = 5', () => {
  it('holds with 3 idle tunnels + 2 handshaken connections; 20 at once all get 503; freed slots work again', async () => {
    const { px, up, service, stats, passthrough, ca } = await setup({ limits: { maxConnections: 5 } });
    const tunnel = async () => {
      const t = await connectThrough(px.port, passthrough);
      sockets.add(t.socket);
      expect(t.status).toBe(200);
      return t.socket;
    };
    const handshaken = async () => {
      const tls = await tlsThrough(px.port, service, { ca });
      sockets.add(tls);
      return tls;
    };
    const held: Socket[] = [
      await tunnel(),
      await tunnel(),
      await tunnel(),
      await handshaken(),
      await handshaken(),
    ];
    expect(stats.open).toBe(3);

    // Every extra sends a full CONNECT at once: one let in would show as a 200, or as a 4th socket on the target.
    const extras: ExtraClient[] = await Promise.all(
      Array.from({ length: 20 }, (_, i) => extraClient(px.port, i % 2 ? passthrough : service)),
    );
    for (const extra of extras) {
      expect(extra.head).toMatch(/^HTTP\/1\.1 503 /);
      expect(extra.head).toContain('\r\nX-Clef-Proxy-Error: overloaded');
      expect(extra.head).toContain('\r\nContent-Type: application/json');
      expect(JSON.parse(extra.body)).toEqual({ error: 'overloaded', message: expect.any(String) });
    }
    expect(stats.peak).toBe(3);
    expect(up.connections).toBe(0);
    const denies = px.events.filter((e) => e.event === 'deny');
    expect(denies).toHaveLength(20);
    expect(denies.every((e) => e.reason === 'overloaded' && e.status === 503 && e.host === null)).toBe(true);
    expect(new Set(denies.map((e) => e.client))).toEqual(new Set(extras.map((e) => e.client)));

    // The held connections still work: the cap refused the newcomers, not the ones already in.
    held[0]!.write('still-here');
    expect((await new Promise<Buffer>((r) => held[0]!.once('data', r))).toString()).toBe('still-here');

    for (const s of held) s.destroy();
    await px.waitForEvents(23);
    expect(px.events.filter((e): e is TunnelEvent => e.event === 'tunnel')).toHaveLength(3);
    // The proxy notices the closed TLS connections a moment later; from then on the slots are usable again.
    await eventually(async () => {
      const probe = await connectTo(px.port);
      sockets.add(probe);
      probe.destroy();
      return true;
    });
    const res = await eventually(() => httpsRequestThrough(px.port, service, { path: '/again' }, { ca }));
    expect(res.status).toBe(200);
    expect(up.received.at(-1)?.headers.authorization).toBe('Bearer limits-secret');
    const again = await Promise.all([tunnel(), tunnel(), tunnel(), handshaken(), handshaken()]);
    expect(again).toHaveLength(5);
    const sixth = await extraClient(px.port, passthrough);
    expect(sixth.head).toMatch(/^HTTP\/1\.1 503 /);
    expect(stats.peak).toBe(3);
  });
});

describe('idle tunnels', () => {
  it('a tunnel with no bytes for idle_timeout_ms is closed and audited with reason idle_timeout', async () => {
    const { px, passthrough } = await setup({ limits: { idleTimeoutMs: 300 } });
    const t = await connectThrough(px.port, passthrough);
    sockets.add(t.socket);
    t.socket.write('ping');
    expect((await new Promise<Buffer>((r) => t.socket.once('data', r))).toString()).toBe('ping');
    // Nothing more is sent: the proxy must close the tunnel on its own (the test timeout is the only bound).
    expect((await readAll(t.socket, 15_000)).length).toBe(0);
    expect(t.socket.destroyed).toBe(true);
    const [ev] = (await px.waitForEvents(1)) as TunnelEvent[];
    expect(ev).toMatchObject({
      event: 'tunnel',
      decision: 'tunnel',
      reason: 'idle_timeout',
      host: '127.0.0.1',
      bytes_in: 4,
      bytes_out: 4,
    });
  });
});
