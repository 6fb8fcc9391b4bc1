/**
 * Bytes a client pipelines right behind its CONNECT (SPEC §6): they belong to the tunnel, so every one of them
 * reaches the passthrough target, in order, before and after the `200` — none lost to the head reader, none
 * duplicated — and the `tunnel` audit event counts them.
 */
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type Server, type Socket } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { TunnelEvent } from '../../../src/audit/events.js';
import {
  basicAuth,
  connectTo,
  readResponseHead,
  startTestProxy,
  type TestProxy,
} from '../../helpers/proxy.js';

let proxy: TestProxy;
let target: Server;
let targetPort: number;
/** Everything the target's first connection received, resolved when that connection ends. */
let received: Promise<Buffer>;
let connections: number;
const targetSockets = new Set<Socket>();

beforeEach(async () => {
  connections = 0;
  let resolveReceived: (b: Buffer) => void = () => {};
  received = new Promise((r) => {
    resolveReceived = r;
  });
  target = createServer((s) => {
    connections++;
    targetSockets.add(s);
    s.on('error', () => {});
    const chunks: Buffer[] = [];
    s.on('data', (c: Buffer) => chunks.push(c));
    s.once('end', () => {
      s.end();
      resolveReceived(Buffer.concat(chunks));
    });
  });
  await new Promise<void>((r) => target.listen(0, '127.0.0.1', r));
  targetPort = (target.address() as { port: number }).port;
  proxy = await startTestProxy({ passthroughHosts: [`127.0.0.1:${targetPort}`] });
});

afterEach(async () => {
  await proxy.close();
  for (const s of targetSockets) s.destroy();
  targetSockets.clear();
  await new Promise((r) => target.close(r));
});

function head(): Buffer {
  return Buffer.from(
    `CONNECT 127.0.0.1:${targetPort} HTTP/1.1\r\nProxy-Authorization: ${basicAuth()}\r\n\r\n`,
  );
}

async function tunnelEvent(): Promise<TunnelEvent> {
  const events = await proxy.waitForEvents(1);
  expect(events).toHaveLength(1);
  return events[0] as TunnelEvent;
}

describe('bytes pipelined after a CONNECT to a passthrough host', () => {
  it('10 000 bytes in the same write as the head all arrive, in order', async () => {
    const payload = randomBytes(10_000);
    const socket = await connectTo(proxy.port);
    socket.write(Buffer.concat([head(), payload]));
    const { head: answer, rest } = await readResponseHead(socket);
    expect(answer).toBe('HTTP/1.1 200 Connection Established\r\n\r\n');
    expect(rest.length).toBe(0);
    socket.end();
    const got = await received;
    expect(connections).toBe(1);
    expect(got.length).toBe(payload.length);
    expect(got.equals(payload)).toBe(true);
    await once(socket, 'close');
    expect(await tunnelEvent()).toMatchObject({ event: 'tunnel', bytes_in: 10_000, bytes_out: 0 });
  });

  it('10 000 bytes split over many writes before the 200, the head itself split mid-line', async () => {
    const payload = randomBytes(10_000);
    const h = head();
    const socket = await connectTo(proxy.port);
    socket.setNoDelay(true);
    socket.write(h.subarray(0, 10));
    socket.write(Buffer.concat([h.subarray(10), payload.subarray(0, 1)]));
    for (let off = 1; off < payload.length; off += 997) socket.write(payload.subarray(off, off + 997));
    const { head: answer } = await readResponseHead(socket);
    expect(answer).toBe('HTTP/1.1 200 Connection Established\r\n\r\n');
    socket.write('tail');
    socket.end();
    const got = await received;
    expect(got.equals(Buffer.concat([payload, Buffer.from('tail')]))).toBe(true);
    await once(socket, 'close');
    expect(await tunnelEvent()).toMatchObject({ bytes_in: 10_004, bytes_out: 0 });
  });
});
