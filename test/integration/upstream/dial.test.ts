import { createServer, type Server, type Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import { createSessionCache, createUpstreamTrust, dialTcp, dialTls } from '../../../src/upstream/dial.js';
import { FIXTURE_CA_PEM, loopbackGuard, startUpstream, type TestUpstream } from '../../helpers/upstream.js';
import { hp, rejection } from './dial-helpers.js';

const trusted = createUpstreamTrust([FIXTURE_CA_PEM]);
const defaultsOnly = createUpstreamTrust();

/** One GET over an open TLS socket; resolves with the raw response once the server closes. */
function roundTrip(socket: TLSSocket): Promise<string> {
  return new Promise((resolve, reject) => {
    let data = '';
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => {
      data += d;
    });
    socket.on('error', reject);
    socket.on('end', () => resolve(data));
    socket.write('GET /probe?x=1 HTTP/1.1\r\nHost: upstream.test\r\nConnection: close\r\n\r\n');
  });
}

let upstream: TestUpstream | undefined;
const servers: Server[] = [];
const sockets: Socket[] = [];

afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await upstream?.close();
  upstream = undefined;
  await Promise.all(servers.splice(0).map((s) => new Promise<void>((r) => s.close(() => r()))));
});

function keep<T extends Socket>(s: T): T {
  sockets.push(s);
  return s;
}

describe('dialTls', () => {
  it('connects and verifies with the fixture CA added to the roots, sending the host name as SNI', async () => {
    upstream = await startUpstream();
    const socket = keep(
      await dialTls(hp(`upstream.test:${upstream.port}`), {
        trust: trusted,
        connectTimeoutMs: 5000,
        guard: loopbackGuard(),
      }),
    );
    expect(socket.authorized).toBe(true);
    expect(socket.alpnProtocol).toBe('http/1.1');
    const response = await roundTrip(socket);
    expect(response.startsWith('HTTP/1.1 200 OK\r\n')).toBe(true);
    expect(upstream.received[0]?.url).toBe('/probe?x=1');
    expect(upstream.servernames).toEqual(['upstream.test']);
  });

  it('sends no SNI to an IP literal and still verifies against its IP SAN', async () => {
    upstream = await startUpstream();
    const socket = keep(
      await dialTls(hp(`127.0.0.1:${upstream.port}`), {
        trust: trusted,
        connectTimeoutMs: 5000,
        guard: loopbackGuard(),
      }),
    );
    expect(socket.authorized).toBe(true);
    await roundTrip(socket);
    expect(upstream.servernames).toEqual([false]);
    expect(upstream.received[0]?.servername).toBe(false);
  });

  it.each([
    { name: 'without the fixture CA', cert: 'trusted', trust: defaultsOnly, host: 'upstream.test' },
    { name: 'a self-signed certificate', cert: 'untrusted', trust: trusted, host: 'upstream.test' },
    { name: 'a name the certificate does not cover', cert: 'trusted', trust: trusted, host: 'wrong.example' },
  ] as const)('rejects $name with upstream_tls_error', async ({ cert, trust, host }) => {
    upstream = await startUpstream({ cert });
    const err = await rejection(
      dialTls(hp(`${host}:${upstream.port}`), {
        trust,
        connectTimeoutMs: 5000,
        guard: loopbackGuard(),
      }),
    );
    expect(err.code).toBe('upstream_tls_error');
    expect(err.cause).toBeInstanceOf(Error);
    expect(upstream.received).toHaveLength(0);
  });

  it('names the verification failure in the cause', async () => {
    upstream = await startUpstream();
    const err = await rejection(
      dialTls(hp(`wrong.example:${upstream.port}`), {
        trust: trusted,
        connectTimeoutMs: 5000,
        guard: loopbackGuard(),
      }),
    );
    expect((err.cause as { code?: string }).code).toBe('ERR_TLS_CERT_ALTNAME_INVALID');
  });

  it('rejects with upstream_error when nothing listens', async () => {
    const port = await freePort();
    const err = await rejection(
      dialTls(hp(`127.0.0.1:${port}`), { trust: trusted, connectTimeoutMs: 5000, guard: loopbackGuard() }),
    );
    expect(err.code).toBe('upstream_error');
    expect((err.cause as { code?: string }).code).toBe('ECONNREFUSED');
  });

  it('rejects with upstream_error when the handshake never completes', async () => {
    const accepted: Socket[] = [];
    const silent = createServer((s) => {
      accepted.push(s);
      s.on('error', () => {});
    });
    servers.push(silent);
    const port = await listen(silent);
    const err = await rejection(
      dialTls(hp(`127.0.0.1:${port}`), { trust: trusted, connectTimeoutMs: 150, guard: loopbackGuard() }),
    );
    expect(err.code).toBe('upstream_error');
    expect(err.message).toBe('upstream connect timed out');
    for (const s of accepted) s.destroy();
  });

  it('resumes the TLS session on the second connect when given a session cache', async () => {
    upstream = await startUpstream();
    const sessions = createSessionCache();
    const opts = { trust: trusted, connectTimeoutMs: 5000, guard: loopbackGuard(), sessions };
    const target = hp(`upstream.test:${upstream.port}`);
    const first = keep(await dialTls(target, opts));
    expect(first.isSessionReused()).toBe(false);
    // Reading a response guarantees the TLS 1.3 ticket (sent after the handshake) has been processed.
    await roundTrip(first);
    const second = keep(await dialTls(target, opts));
    expect(second.isSessionReused()).toBe(true);
    await roundTrip(second);
    expect(upstream.connections).toBe(2);
    expect(upstream.tlsSessionsResumed).toBe(1);
  });

  it('does a full handshake each time without a session cache', async () => {
    upstream = await startUpstream();
    const opts = { trust: trusted, connectTimeoutMs: 5000, guard: loopbackGuard() };
    const target = hp(`127.0.0.1:${upstream.port}`);
    await roundTrip(keep(await dialTls(target, opts)));
    const second = keep(await dialTls(target, opts));
    expect(second.isSessionReused()).toBe(false);
    await roundTrip(second);
    expect(upstream.tlsSessionsResumed).toBe(0);
  });
});

describe('dialTcp', () => {
  it('connects with Nagle off', async () => {
    const server = createServer((s) => s.end('hi'));
    servers.push(server);
    const port = await listen(server);
    const socket = keep(
      await dialTcp(hp(`127.0.0.1:${port}`), { connectTimeoutMs: 5000, guard: loopbackGuard() }),
    );
    const text = await new Promise<string>((resolve) => {
      let d = '';
      socket.on('data', (c: Buffer) => {
        d += c.toString();
      });
      socket.on('end', () => resolve(d));
    });
    expect(text).toBe('hi');
  });

  it('rejects with upstream_error when refused', async () => {
    const port = await freePort();
    const err = await rejection(
      dialTcp(hp(`127.0.0.1:${port}`), { connectTimeoutMs: 5000, guard: loopbackGuard() }),
    );
    expect(err.code).toBe('upstream_error');
  });
});

function listen(server: Server): Promise<number> {
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const addr = server.address();
      resolve(typeof addr === 'object' && addr ? addr.port : 0);
    });
  });
}

async function freePort(): Promise<number> {
  const s = createServer();
  const port = await listen(s);
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}
