/**
 * The destination guard on real sockets (issue 13, SECURITY.md): a name the allowlist admits, resolved by a stub to
 * a private or metadata address, is refused with 403 `destination_not_allowed` on the CONNECT (tunnels) or on the
 * request (intercepted and forwarded), before any connection is attempted; the log line carries the classified
 * address. A resolver that changes its answer between calls proves each dial looks up once and dials what it checked.
 */
import type { LookupAddress } from 'node:dns';
import { createServer, type LookupFunction, type Server } from 'node:net';
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/log/logger.js';
import { h2Get, h2Through } from '../helpers/h2-client.js';
import { startH2Upstream } from '../helpers/h2-upstream.js';
import { basicAuth, connectThrough, connectTo, readAll, startTestProxy } from '../helpers/proxy.js';
import { httpsRequestThrough, tlsThrough } from '../helpers/tls-client.js';
import { startUpstream } from '../helpers/upstream.js';
import { closeKept, keep } from '../integration/intercept/intercept-helpers.js';

afterEach(closeKept);

/** A resolver stub: answers call n with `answers[min(n, last)]` and counts calls per name. */
function stubResolver(...answers: ReadonlyArray<readonly string[]>) {
  const calls: string[] = [];
  const lookup: LookupFunction = (hostname, options, callback) => {
    const list = answers[Math.min(calls.length, answers.length - 1)]!;
    calls.push(hostname);
    const all: LookupAddress[] = list.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
    if (options.all) callback(null, all);
    else callback(null, all[0]!.address, all[0]!.family);
  };
  return { lookup, calls };
}

/** A logger whose JSON lines land in `lines`. */
function captureLogger() {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString().split('\n'))
        if (l) lines.push(JSON.parse(l) as Record<string, unknown>);
      done();
    },
  });
  return { logger: createLogger('info', stream), lines };
}

/** A plain TCP server that counts accepted connections and greets each one. */
async function countingServer(): Promise<{ port: number; accepted: () => number; close(): Promise<void> }> {
  let accepted = 0;
  const server: Server = createServer((s) => {
    accepted++;
    s.end('hello');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return {
    port,
    accepted: () => accepted,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

const NO_PRIVATE = { allowPrivate: [] as string[] };

describe('destination guard: tunnels (refused on the CONNECT, before dialling)', () => {
  it('a passthrough name resolving to loopback is refused by default: 403, no connection, audit + log line', async () => {
    const srv = keep(await countingServer());
    const { lookup, calls } = stubResolver(['127.0.0.1']);
    const { logger, lines } = captureLogger();
    const target = `pass.example:${srv.port}`;
    const px = keep(await startTestProxy({ passthroughHosts: [target], lookup, egress: NO_PRIVATE, logger }));
    const res = await connectThrough(px.port, target);
    expect(res.status).toBe(403);
    expect(res.head).toContain('X-Clef-Proxy-Error: destination_not_allowed');
    const [ev] = await px.waitForEvents(1);
    expect(ev).toMatchObject({
      event: 'deny',
      reason: 'destination_not_allowed',
      status: 403,
      host: 'pass.example',
    });
    expect(srv.accepted()).toBe(0);
    expect(calls).toEqual(['pass.example']);
    expect(lines.find((l) => l.msg === 'destination not allowed')).toMatchObject({
      level: 40,
      host: 'pass.example',
      port: srv.port,
      address: '127.0.0.1',
      class: 'loopback',
    });
    res.socket.destroy();
  });

  it.each([
    ['169.254.169.254', 'link_local', undefined],
    ['::ffff:a9fe:a9fe', 'link_local', '169.254.169.254'],
    ['64:ff9b::a9fe:a9fe', 'link_local', '169.254.169.254'],
    ['2002:a9fe:a9fe::1', 'link_local', '169.254.169.254'],
    ['fd00:ec2::254', 'metadata', undefined],
    ['10.1.2.3', 'private', undefined],
    ['100.100.100.200', 'cgnat', undefined],
  ])(
    '%s is refused even with every private range allowed unless it is private (%s)',
    async (address, cls, embedded) => {
      const { lookup } = stubResolver([address]);
      const { logger, lines } = captureLogger();
      const target = 'meta.example:443';
      // Loopback allowed (as tests need); link-local and metadata stay refused whatever is listed.
      const px = keep(await startTestProxy({ passthroughHosts: [target], lookup, logger }));
      const res = await connectThrough(px.port, target);
      expect(res.status).toBe(403);
      const line = lines.find((l) => l.msg === 'destination not allowed');
      expect(line).toMatchObject({ address, class: cls });
      expect(line?.embedded).toBe(embedded);
      res.socket.destroy();
    },
  );

  it('a name with several addresses is refused when ANY of them is not allowed', async () => {
    const srv = keep(await countingServer());
    const { lookup } = stubResolver(['127.0.0.1', '169.254.169.254']);
    const target = `mixed.example:${srv.port}`;
    const px = keep(await startTestProxy({ passthroughHosts: [target], lookup }));
    const res = await connectThrough(px.port, target);
    expect(res.status).toBe(403);
    expect(srv.accepted()).toBe(0);
    res.socket.destroy();
  });

  it('an IP-literal host entry may name a private address (the operator named it), loopback included', async () => {
    const srv = keep(await countingServer());
    const { lookup, calls } = stubResolver(['169.254.169.254']);
    const target = `127.0.0.1:${srv.port}`;
    const px = keep(await startTestProxy({ passthroughHosts: [target], lookup, egress: NO_PRIVATE }));
    const res = await connectThrough(px.port, target);
    expect(res.status).toBe(200);
    expect(Buffer.concat([res.rest, await readAll(res.socket)]).toString()).toBe('hello');
    expect(srv.accepted()).toBe(1);
    expect(calls).toEqual([]);
  });

  it('an IP literal in a forbidden range is refused even when it is the host entry', async () => {
    const target = '[::ffff:169.254.169.254]:80';
    const px = keep(await startTestProxy({ passthroughHosts: [target] }));
    const res = await connectThrough(px.port, target);
    expect(res.status).toBe(403);
    res.socket.destroy();
  });

  it('rebinding: each dial looks up once and dials the address it checked; a later answer is checked again', async () => {
    const srv = keep(await countingServer());
    // First answer: loopback (allowed). Every later answer: the metadata address.
    const { lookup, calls } = stubResolver(['127.0.0.1'], ['169.254.169.254']);
    const target = `rebind.example:${srv.port}`;
    const px = keep(await startTestProxy({ passthroughHosts: [target], lookup }));
    const first = await connectThrough(px.port, target);
    expect(first.status).toBe(200);
    expect(Buffer.concat([first.rest, await readAll(first.socket)]).toString()).toBe('hello');
    // One lookup for the first dial: had the connect looked the name up again it would have got 169.254.169.254.
    expect(calls).toEqual(['rebind.example']);
    const second = await connectThrough(px.port, target);
    expect(second.status).toBe(403);
    expect(calls).toEqual(['rebind.example', 'rebind.example']);
    expect(srv.accepted()).toBe(1);
    second.socket.destroy();
  });
});

describe('destination guard: intercepted requests (refused on the request)', () => {
  it('a service name resolving to a private address gets 403 destination_not_allowed; nothing reaches the upstream', async () => {
    const up = keep(await startUpstream());
    const { lookup, calls } = stubResolver(['127.0.0.1']);
    const target = `api.upstream.test:${up.port}`;
    const px = keep(
      await startTestProxy({
        services: [{ name: 'svc', hosts: [target], auth: { type: 'bearer', secret: 'K' } }],
        secrets: { K: 'guard-secret' },
        lookup,
        egress: NO_PRIVATE,
      }),
    );
    const res = await httpsRequestThrough(px.port, target, { path: '/x' }, { ca: px.proxy.caCertPem });
    expect(res.status).toBe(403);
    expect(res.json()).toMatchObject({ error: 'destination_not_allowed' });
    const [ev] = await px.waitForEvents(1);
    expect(ev).toMatchObject({
      event: 'request',
      decision: 'inject',
      reason: 'destination_not_allowed',
      status: 403,
    });
    expect(up.connections).toBe(0);
    expect(calls).toEqual(['api.upstream.test']);
  });

  it('rebinding: the TLS dial goes to the checked address, with SNI still the name, after one lookup', async () => {
    const up = keep(await startUpstream());
    // Nothing listens on 127.0.0.2: a second lookup would send the dial there and the request would fail.
    const { lookup, calls } = stubResolver(['127.0.0.1'], ['127.0.0.2']);
    const target = `api.upstream.test:${up.port}`;
    const px = keep(
      await startTestProxy({
        services: [{ name: 'svc', hosts: [target], auth: { type: 'bearer', secret: 'K' } }],
        secrets: { K: 'guard-secret' },
        lookup,
      }),
    );
    const res = await httpsRequestThrough(px.port, target, { path: '/x' }, { ca: px.proxy.caCertPem });
    expect(res.status).toBe(200);
    expect(calls).toEqual(['api.upstream.test']);
    expect(up.servernames).toEqual(['api.upstream.test']);
  });

  it('several checked addresses: the dial falls back between them without a second lookup', async () => {
    const up = keep(await startUpstream());
    const { lookup, calls } = stubResolver(['127.0.0.2', '127.0.0.1']);
    const target = `api.upstream.test:${up.port}`;
    const px = keep(
      await startTestProxy({
        services: [{ name: 'svc', hosts: [target], auth: { type: 'bearer', secret: 'K' } }],
        secrets: { K: 'guard-secret' },
        lookup,
      }),
    );
    const res = await httpsRequestThrough(px.port, target, { path: '/x' }, { ca: px.proxy.caCertPem });
    expect(res.status).toBe(200);
    expect(calls).toEqual(['api.upstream.test']);
  });
});

describe('destination guard: HTTP/2', () => {
  it('an h2 stream to a service name resolving to a private address gets 403; the h2 upstream sees no session', async () => {
    const up = keep(await startH2Upstream());
    const { lookup, calls } = stubResolver(['127.0.0.1']);
    const target = `api.upstream.test:${up.port}`;
    const px = keep(
      await startTestProxy({
        services: [{ name: 'svc', hosts: [target], auth: { type: 'bearer', secret: 'K' } }],
        secrets: { K: 'guard-secret' },
        lookup,
        egress: NO_PRIVATE,
      }),
    );
    const session = await h2Through(px.port, target, px.proxy.caCertPem);
    try {
      const reply = await h2Get(session, '/x');
      expect(reply.status).toBe(403);
      expect(JSON.parse(reply.body.toString())).toMatchObject({ error: 'destination_not_allowed' });
    } finally {
      session.close();
    }
    expect(calls).toEqual(['api.upstream.test']);
    expect(up.sessions).toHaveLength(0);
  });
});

describe('destination guard: WebSocket upgrades', () => {
  it('an upgrade to a service name resolving to link-local gets 403 destination_not_allowed, nothing dialled', async () => {
    const up = keep(await startUpstream());
    const { lookup, calls } = stubResolver(['169.254.169.254']);
    const target = `api.upstream.test:${up.port}`;
    const px = keep(
      await startTestProxy({
        services: [{ name: 'svc', hosts: [target], auth: { type: 'bearer', secret: 'K' } }],
        secrets: { K: 'guard-secret' },
        lookup,
      }),
    );
    const tls = await tlsThrough(px.port, target, { ca: px.proxy.caCertPem });
    const answer = new Promise<string>((resolve) => {
      let got = '';
      tls.on('data', (c: Buffer) => {
        got += c.toString();
        if (got.includes('\r\n\r\n')) resolve(got);
      });
      tls.on('close', () => resolve(got));
    });
    tls.write(
      `GET /ws HTTP/1.1\r\nHost: ${target}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
    );
    const head = await answer;
    expect(head).toMatch(/^HTTP\/1\.1 403 /);
    expect(head.toLowerCase()).toContain('x-clef-proxy-error: destination_not_allowed');
    expect(calls).toEqual(['api.upstream.test']);
    expect(up.connections).toBe(0);
    tls.destroy();
  });
});

describe('destination guard: forwarded http:// requests', () => {
  it('a passthrough name resolving to link-local gets 403 on the request', async () => {
    const srv = keep(await countingServer());
    const { lookup } = stubResolver(['::ffff:169.254.169.254']);
    const target = `plain.example:${srv.port}`;
    const px = keep(await startTestProxy({ passthroughHosts: [target], lookup }));
    const socket = await connectTo(px.port);
    socket.write(
      `GET http://${target}/ HTTP/1.1\r\nHost: ${target}\r\nProxy-Authorization: ${basicAuth()}\r\nConnection: close\r\n\r\n`,
    );
    const text = (await readAll(socket)).toString();
    expect(text).toMatch(/^HTTP\/1\.1 403 /);
    expect(text).toContain('"error":"destination_not_allowed"');
    const [ev] = await px.waitForEvents(1);
    expect(ev).toMatchObject({ reason: 'destination_not_allowed', status: 403 });
    expect(srv.accepted()).toBe(0);
  });
});
