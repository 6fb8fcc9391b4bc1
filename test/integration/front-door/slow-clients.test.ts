/**
 * Slow and vanishing clients at the front door (SPEC §6): `header_timeout_ms` is a deadline from the first byte,
 * not an idle timer, so a client trickling one byte every 50 ms is cut off (closed, `deny` `header_timeout`, no
 * response); a client that disconnects mid-header costs nothing and the proxy serves the next one.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { basicAuth, connectThrough, connectTo, readAll, type TestProxy } from '../../helpers/proxy.js';
import { type EchoBehindProxy, startEchoBehindProxy } from './front-door-helpers.js';

const HEADER_TIMEOUT_MS = 300;

let setup: EchoBehindProxy | undefined;
let proxy: TestProxy;
let targetPort: number;

beforeAll(async () => {
  setup = await startEchoBehindProxy({ headerTimeoutMs: HEADER_TIMEOUT_MS });
  ({ proxy, targetPort } = setup);
});

afterAll(() => setup?.close());

function connectHead(): string {
  return `CONNECT 127.0.0.1:${targetPort} HTTP/1.1\r\nHost: 127.0.0.1:${targetPort}\r\nProxy-Authorization: ${basicAuth()}\r\n\r\n`;
}

async function expectStillServing(): Promise<void> {
  const { socket, status } = await connectThrough(proxy.port, `127.0.0.1:${targetPort}`);
  expect(status).toBe(200);
  socket.end('ok');
  expect((await readAll(socket)).toString()).toBe('ok');
}

describe('header_timeout_ms', () => {
  it('closes a client that sends one byte every 50 ms, without a response, and audits header_timeout', async () => {
    const head = Buffer.from(connectHead());
    const socket = await connectTo(proxy.port);
    const client = `127.0.0.1:${socket.localPort}`;
    const received = readAll(socket, 15_000);
    let sent = 0;
    const trickle = setInterval(() => {
      if (socket.destroyed || sent >= head.length) return clearInterval(trickle);
      socket.write(head.subarray(sent, sent + 1));
      sent++;
    }, 50);
    const bytes = await received;
    clearInterval(trickle);
    // Closed by the proxy part-way: the whole head (over 100 bytes, so over 5 s at this pace) never went out.
    expect(sent).toBeLessThan(head.length);
    expect(bytes.length).toBe(0);
    const events = await proxy.waitForEvents(1);
    expect(events.filter((e) => e.client === client)).toEqual([
      expect.objectContaining({ event: 'deny', reason: 'header_timeout', host: null, port: null }),
    ]);
    expect(events.find((e) => e.client === client)).not.toHaveProperty('status');
    await expectStillServing();
  });

  it('also closes a client that connects and never sends a byte', async () => {
    const socket = await connectTo(proxy.port);
    const client = `127.0.0.1:${socket.localPort}`;
    expect((await readAll(socket, 15_000)).length).toBe(0);
    await expectStillServing();
    // Nothing was parsed and nothing refused with a response: no status on whatever was audited.
    for (const e of proxy.events.filter((ev) => ev.client === client)) expect(e).not.toHaveProperty('status');
  });
});

describe('a client that disconnects mid-header', () => {
  it.each([1, 9, 30, -2])(
    'after %i bytes of the head: no crash, no audit, later requests fine',
    async (cut) => {
      const head = connectHead();
      const partial = head.slice(0, cut > 0 ? cut : head.length + cut);
      const socket = await connectTo(proxy.port);
      const client = `127.0.0.1:${socket.localPort}`;
      socket.write(partial);
      const closed = new Promise((r) => socket.once('close', r));
      // A reset rather than a FIN: the rudest way to leave.
      socket.resetAndDestroy();
      await closed;
      await expectStillServing();
      await expectStillServing();
      expect(proxy.events.filter((e) => e.client === client)).toEqual([]);
    },
  );

  it('a FIN half-way through the head is a disconnect too', async () => {
    const socket = await connectTo(proxy.port);
    const client = `127.0.0.1:${socket.localPort}`;
    socket.end(connectHead().slice(0, 20));
    expect((await readAll(socket)).length).toBe(0);
    await expectStillServing();
    expect(proxy.events.filter((e) => e.client === client)).toEqual([]);
  });
});
