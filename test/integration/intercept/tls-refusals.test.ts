/**
 * Connection-level refusals after `200 Connection Established` (SPEC §6 Interception): they cannot carry a
 * response, so the connection is closed with no bytes sent and a `deny` audit event names the reason.
 */
import { readFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { connectThrough, type TestProxyOptions } from '../../helpers/proxy.js';
import { httpsRequestThrough, openTlsThrough } from '../../helpers/tls-client.js';
import { closeKept, startBearerService } from './intercept-helpers.js';

const HELLO_WITH_SNI = readFileSync(
  fileURLToPath(new URL('../../../fixtures/client-hellos/node-sni.bin', import.meta.url)),
); // SNI api.upstream.test

afterEach(closeKept);

function setup(opts: TestProxyOptions = {}) {
  return startBearerService('v', undefined, opts);
}

/** Everything the proxy sends on `socket` until it closes the connection (no client-side timeout). */
function bytesUntilClosed(socket: Socket): Promise<Buffer> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', () => {});
    socket.once('close', () => resolve(Buffer.concat(chunks)));
  });
}

describe('refusals inside the tunnel', () => {
  it('SNI naming another host: closed with no response bytes, deny sni_mismatch', async () => {
    const { target, up, px } = await setup();
    const opened = await openTlsThrough(px.port, target, {
      ca: px.proxy.caCertPem,
      servername: 'other.upstream.test',
    });
    await expect(opened.secure).rejects.toThrow();
    await new Promise<void>((r) => (opened.raw.destroyed ? r() : opened.raw.once('close', () => r())));
    expect(opened.raw.bytesRead).toBe(opened.bytesAfterConnect);
    const [ev] = await px.waitForEvents(1);
    expect(ev).toMatchObject({
      event: 'deny',
      decision: 'deny',
      reason: 'sni_mismatch',
      host: 'api.upstream.test',
    });
    expect(ev).not.toHaveProperty('status');
    expect(up.connections).toBe(0);
  });

  it('SNI differing only in case is the same host', async () => {
    const { target, up, px } = await setup();
    const res = await httpsRequestThrough(
      px.port,
      target,
      { path: '/case' },
      { ca: px.proxy.caCertPem, servername: 'API.Upstream.TEST' },
    );
    expect(res.status).toBe(200);
    expect(up.received).toHaveLength(1);
  });

  it('bytes that are not TLS: closed with no response bytes, deny not_tls', async () => {
    const { target, up, px } = await setup();
    const { socket, status, rest } = await connectThrough(px.port, target);
    expect(status).toBe(200);
    expect(rest).toHaveLength(0);
    const closed = bytesUntilClosed(socket);
    socket.write(`GET / HTTP/1.1\r\nHost: ${target}\r\n\r\n`);
    expect(await closed).toHaveLength(0);
    const [ev] = await px.waitForEvents(1);
    expect(ev).toMatchObject({ event: 'deny', reason: 'not_tls', port: up.port });
    expect(up.connections).toBe(0);
  });

  it('a TLS record that is not a ClientHello: closed with no response bytes, deny bad_request', async () => {
    const { target, px } = await setup();
    const { socket } = await connectThrough(px.port, target);
    const closed = bytesUntilClosed(socket);
    // A handshake record holding a ServerHello (type 2): TLS-shaped, but not what a client opens with.
    socket.write(Buffer.from([0x16, 0x03, 0x01, 0x00, 0x04, 0x02, 0x00, 0x00, 0x00]));
    expect(await closed).toHaveLength(0);
    const [ev] = await px.waitForEvents(1);
    expect(ev).toMatchObject({ event: 'deny', reason: 'bad_request' });
    expect(ev).not.toHaveProperty('status');
  });

  it('a client silent after the 200: closed at handshake_timeout_ms, deny handshake_timeout', async () => {
    const { target, px } = await setup({ limits: { handshakeTimeoutMs: 300 } });
    const { socket, status } = await connectThrough(px.port, target);
    expect(status).toBe(200);
    expect(await bytesUntilClosed(socket)).toHaveLength(0);
    const [ev] = await px.waitForEvents(1);
    expect(ev).toMatchObject({ event: 'deny', reason: 'handshake_timeout' });
  });

  it('half a ClientHello, then silence: closed, deny handshake_timeout', async () => {
    const { target, px } = await setup({ limits: { handshakeTimeoutMs: 300 } });
    const { socket } = await connectThrough(px.port, target);
    const closed = bytesUntilClosed(socket);
    socket.write(HELLO_WITH_SNI.subarray(0, 40));
    expect(await closed).toHaveLength(0);
    const [ev] = await px.waitForEvents(1);
    expect(ev).toMatchObject({ event: 'deny', reason: 'handshake_timeout' });
  });

  it('a whole ClientHello and no more (handshake never finished): closed, deny handshake_timeout', async () => {
    const { target, px } = await setup({ limits: { handshakeTimeoutMs: 300 } });
    const { socket } = await connectThrough(px.port, target);
    const closed = bytesUntilClosed(socket);
    socket.write(HELLO_WITH_SNI);
    // The proxy answered with its ServerHello flight, then gave up on the client.
    expect((await closed).length).toBeGreaterThan(0);
    const events = await px.waitForEvents(1);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ event: 'deny', reason: 'handshake_timeout' });
  });
});
