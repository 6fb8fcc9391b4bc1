/**
 * WebSocket over HTTP/1.1 through an intercepted connection, with the `ws` package on both ends (SPEC §12,
 * RFC 6455): the upgrade carries the injected credential, the upstream's 101 reaches the client's handshake
 * check, frames pass both ways unchanged, and one `request` audit event is written when the WebSocket ends —
 * status 101 and the frame bytes each way.
 */
import { createHash, randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import type { RequestEvent } from '../../../src/audit/events.js';
import { tlsThrough } from '../../helpers/tls-client.js';
import {
  clientClosed,
  closeKept,
  expectInjected,
  frameBytes,
  nextMessage,
  openWs,
  startWsService,
  theEvent,
} from './ws-helpers.js';

afterEach(closeKept);

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** The one event, checked for what every WebSocket event shares. */
async function wsEvent(px: Parameters<typeof theEvent>[0]): Promise<RequestEvent> {
  const events = await theEvent(px);
  expect(events).toHaveLength(1);
  expect(events[0]).toMatchObject({
    method: 'GET',
    path: '/socket',
    service: 'svc',
    decision: 'inject',
    status: 101,
    secret_ref: 'KEY',
  });
  return events[0]!;
}

describe('WebSocket relay', () => {
  it('echo: text and binary messages round-trip, the subprotocol is negotiated, bytes are audited', async () => {
    const { up, px, target, ca } = await startWsService();
    const ws = await openWs(px.port, target, ca, '/socket?room=1', { 'X-Clef-Service': 'svc' }, ['chat']);
    expectInjected(up);
    expect(up.upgrades[0]!.url).toBe('/socket?room=1');
    // The upstream's choice came back in the relayed 101, and the client's handshake check accepted it.
    expect(up.upgrades[0]!.headers['sec-websocket-protocol']).toBe('chat');
    expect(ws.protocol).toBe('chat');
    ws.send('hello');
    expect(await nextMessage(ws)).toEqual({ data: Buffer.from('hello'), isBinary: false });
    ws.send(Buffer.from([0, 1, 2, 255]));
    expect(await nextMessage(ws)).toEqual({ data: Buffer.from([0, 1, 2, 255]), isBinary: true });
    const closed = clientClosed(ws);
    ws.close(1000);
    expect(await closed).toEqual({ code: 1000, reason: '' });

    const ev = await wsEvent(px);
    expect(ev.reason).toBeUndefined();
    expect(ev.bytes_in).toBe(frameBytes(5, true) + frameBytes(4, true) + frameBytes(2, true));
    expect(ev.bytes_out).toBe(frameBytes(5, false) + frameBytes(4, false) + frameBytes(2, false));
    expect(JSON.stringify(px.events)).not.toContain('ws-secret-value');
  });

  it('large messages: 6 MiB sent in three fragments and echoed as one frame arrive intact', async () => {
    const { up, px, target, ca } = await startWsService();
    const ws = await openWs(px.port, target, ca);
    expectInjected(up);
    const part = 2 * 1024 * 1024;
    const payload = randomBytes(3 * part);
    const echoed = nextMessage(ws);
    ws.send(payload.subarray(0, part), { binary: true, fin: false });
    ws.send(payload.subarray(part, 2 * part), { binary: true, fin: false });
    ws.send(payload.subarray(2 * part), { binary: true, fin: true });
    const got = await echoed;
    expect(got.isBinary).toBe(true);
    expect(got.data.length).toBe(payload.length);
    expect(sha(got.data)).toBe(sha(payload));
    const closed = clientClosed(ws);
    ws.close(1000);
    await closed;

    const ev = await wsEvent(px);
    expect(ev.reason).toBeUndefined();
    expect(ev.bytes_in).toBe(3 * frameBytes(part, true) + frameBytes(2, true));
    expect(ev.bytes_out).toBe(frameBytes(3 * part, false) + frameBytes(2, false));
  });

  it('ping/pong both ways: each side answers the other with the same payload', async () => {
    const { up, px, target, ca } = await startWsService();
    const ws = await openWs(px.port, target, ca);
    expectInjected(up);
    const pong = new Promise<Buffer>((r) => ws.once('pong', r));
    ws.ping(Buffer.from('p1'));
    expect(String(await pong)).toBe('p1');
    const server = up.sockets[0]!;
    const serverPong = new Promise<Buffer>((r) => server.once('pong', r));
    server.ping(Buffer.from('p2'));
    expect(String(await serverPong)).toBe('p2');
    const closed = clientClosed(ws);
    ws.close(1000);
    await closed;

    const ev = await wsEvent(px);
    expect(ev.bytes_in).toBe(frameBytes(2, true) * 2 + frameBytes(2, true));
    expect(ev.bytes_out).toBe(frameBytes(2, false) * 2 + frameBytes(2, false));
  });

  it('close codes pass both ways: the client closes with 4001 and a reason, the upstream sees them', async () => {
    const { up, px, target, ca } = await startWsService();
    const ws = await openWs(px.port, target, ca);
    expectInjected(up);
    const closed = clientClosed(ws);
    ws.close(4001, 'client-bye');
    expect(await up.closed(0)).toEqual({ code: 4001, reason: 'client-bye' });
    expect(await closed).toEqual({ code: 4001, reason: 'client-bye' });
    const ev = await wsEvent(px);
    expect(ev.reason).toBeUndefined();
    expect(ev.bytes_in).toBe(frameBytes(12, true));
    expect(ev.bytes_out).toBe(frameBytes(12, false));
  });

  it('the upstream closing first: its code and reason reach the client, a clean end', async () => {
    const { up, px, target, ca } = await startWsService({
      upstream: { onConnection: (ws) => ws.once('message', () => ws.close(4002, 'server-bye')) },
    });
    const ws = await openWs(px.port, target, ca);
    expectInjected(up);
    const closed = clientClosed(ws);
    ws.send('go');
    expect(await closed).toEqual({ code: 4002, reason: 'server-bye' });
    expect(await up.closed(0)).toEqual({ code: 4002, reason: 'server-bye' });
    const ev = await wsEvent(px);
    expect(ev.reason).toBeUndefined();
    expect(ev.bytes_in).toBe(frameBytes(2, true) + frameBytes(12, true));
    expect(ev.bytes_out).toBe(frameBytes(12, false));
  });

  it('the upstream vanishing (socket destroyed, no Close frame): the client sees 1006, audit upstream_error', async () => {
    const { up, px, target, ca } = await startWsService({
      upstream: { onConnection: (ws) => ws.once('message', () => ws.terminate()) },
    });
    const ws = await openWs(px.port, target, ca);
    expectInjected(up);
    const closed = clientClosed(ws);
    ws.send('go');
    expect((await closed).code).toBe(1006);
    const ev = await wsEvent(px);
    expect(ev.reason).toBe('upstream_error');
    expect(ev.bytes_in).toBe(frameBytes(2, true));
  });

  it('the client vanishing (socket destroyed): the upstream sees 1006, audit client_aborted', async () => {
    const { up, px, target, ca } = await startWsService();
    const ws = await openWs(px.port, target, ca);
    expectInjected(up);
    ws.send('last words');
    expect(String((await nextMessage(ws)).data)).toBe('last words');
    (ws as unknown as { _socket: { destroy(): void } })._socket.destroy();
    expect((await up.closed(0)).code).toBe(1006);
    const ev = await wsEvent(px);
    expect(ev.reason).toBe('client_aborted');
    expect(ev.bytes_in).toBe(frameBytes(10, true));
    expect(ev.bytes_out).toBe(frameBytes(10, false));
  });

  it('an upgrade pipelined behind a plain request waits for its response, then switches', async () => {
    const { up, px, target, ca } = await startWsService();
    const tls = await tlsThrough(px.port, target, { ca });
    let got = Buffer.alloc(0);
    const arrived = (test: (text: string) => boolean) =>
      new Promise<string>((resolve) => {
        const check = () => {
          const text = got.toString('latin1');
          if (!test(text)) return;
          tls.off('data', onData);
          resolve(text);
        };
        const onData = (c: Buffer) => {
          got = Buffer.concat([got, c]);
          check();
        };
        tls.on('data', onData);
        check();
      });
    tls.write(
      `GET /first HTTP/1.1\r\nHost: ${target}\r\n\r\n` +
        `GET /socket HTTP/1.1\r\nHost: ${target}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n` +
        'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
    );
    const heads = await arrived((t) => t.includes('\r\n\r\n', t.indexOf(' 101 ')) && t.includes(' 101 '));
    expect(heads).toMatch(/^HTTP\/1\.1 200 OK\r\n[\s\S]*\r\n\r\nplainHTTP\/1\.1 101 Switching Protocols\r\n/);
    // RFC 6455 §1.3's example key has this accept value; the upstream computed it, the proxy relayed it.
    expect(heads).toContain('Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n');
    expectInjected(up);
    // One masked text frame "hi"; the echo comes back unmasked.
    const mask = [1, 2, 3, 4];
    got = Buffer.alloc(0);
    tls.write(Buffer.from([0x81, 0x82, ...mask, 0x68 ^ 1, 0x69 ^ 2]));
    await arrived((t) => t.length >= 4);
    expect([...got.subarray(0, 4)]).toEqual([0x81, 0x02, 0x68, 0x69]);
    tls.destroy();
    const events = (await px.waitForEvents(2, 15_000)) as RequestEvent[];
    expect(events[0]).toMatchObject({ path: '/first', status: 200 });
    expect(events[1]).toMatchObject({ path: '/socket', status: 101, reason: 'client_aborted', bytes_in: 8 });
  });
});
