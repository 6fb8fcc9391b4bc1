/**
 * An open WebSocket and the proxy's own limits (SPEC §6, §8): it counts as work in flight for a drain and is
 * closed at the drain deadline; `idle_timeout_ms` closes one on which no byte moves; and a plain `http://`
 * upgrade through the forwarder is not switched.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { basicAuth, connectTo, readAll, startTestProxy } from '../../helpers/proxy.js';
import {
  clientClosed,
  closeKept,
  keep,
  nextMessage,
  openWs,
  startWsService,
  theEvent,
} from './ws-helpers.js';

afterEach(closeKept);

describe('an open WebSocket and the proxy lifecycle', () => {
  it('a drain waits for an open WebSocket, which keeps working, then closes it at the deadline', async () => {
    const { up, px, target, ca } = await startWsService();
    const ws = await openWs(px.port, target, ca);
    const closed = clientClosed(ws);
    let drained = false;
    const draining = px.proxy.drain(1_500).then(() => {
      drained = true;
    });
    // Still in flight: frames pass while the drain waits, and no event has been written yet.
    ws.send('during drain');
    expect(String((await nextMessage(ws)).data)).toBe('during drain');
    expect(drained).toBe(false);
    expect(px.events).toHaveLength(0);
    await draining;
    expect((await closed).code).toBe(1006);
    expect((await up.closed(0)).code).toBe(1006);
    const events = await theEvent(px);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ status: 101, decision: 'inject', reason: 'client_aborted' });
  });

  it('idle_timeout_ms closes a WebSocket on which nothing moves, audited idle_timeout', async () => {
    const { up, px, target, ca } = await startWsService({ proxy: { limits: { idleTimeoutMs: 400 } } });
    const ws = await openWs(px.port, target, ca);
    ws.send('one');
    await nextMessage(ws);
    expect((await clientClosed(ws)).code).toBe(1006);
    expect((await up.closed(0)).code).toBe(1006);
    const events = await theEvent(px);
    expect(events[0]).toMatchObject({ status: 101, reason: 'idle_timeout' });
    expect(events[0]!.bytes_out).toBeGreaterThan(0);
  });
});

describe('plain http:// upgrades through the forwarder', () => {
  it('are not switched: a passthrough host gets the request without Upgrade and its answer is relayed', async () => {
    const switched: string[] = [];
    const plain = createServer((req, res) => res.end(JSON.stringify(req.headers)));
    plain.on('upgrade', (req, socket) => {
      switched.push(req.url ?? '');
      socket.destroy();
    });
    await new Promise<void>((r) => plain.listen(0, '127.0.0.1', r));
    keep({ close: () => new Promise<void>((r) => plain.close(() => r())) });
    const host = `127.0.0.1:${(plain.address() as AddressInfo).port}`;
    const px = keep(await startTestProxy({ passthroughHosts: [host] }));
    const client = await connectTo(px.port);
    client.write(
      `GET http://${host}/ws HTTP/1.1\r\nHost: ${host}\r\nProxy-Authorization: ${basicAuth()}\r\n` +
        'Connection: Upgrade, close\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n' +
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
    );
    const text = (await readAll(client)).toString('latin1');
    expect(text).toMatch(/^HTTP\/1\.1 200 /);
    const seen = JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4)) as Record<string, string>;
    expect(seen.upgrade).toBeUndefined();
    expect(seen['sec-websocket-key']).toBe('dGhlIHNhbXBsZSBub25jZQ==');
    expect(switched).toHaveLength(0);
    expect((await theEvent(px))[0]).toMatchObject({ decision: 'forward', status: 200 });
  });
});
