/**
 * `max_connections` (SPEC §6): client connections are counted from accept — idle ones, tunnels and refused heads
 * alike — and once the limit is reached every further client gets 503 `overloaded` with the §6 JSON body and a
 * `deny` event; a slot freed by a closing connection is usable again. The target never sees more than the limit.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { TunnelEvent } from '../../../src/audit/events.js';
import { connectThrough, connectTo, readAll, startTestProxy, type TestProxy } from '../../helpers/proxy.js';

const LIMIT = 2;

let proxy: TestProxy;
let target: Server;
let targetPort: number;
let open = 0;
let peak = 0;
const targetSockets = new Set<Socket>();
const clients = new Set<Socket>();

beforeEach(async () => {
  open = 0;
  peak = 0;
  target = createServer((s) => {
    peak = Math.max(peak, ++open);
    targetSockets.add(s);
    s.on('error', () => {});
    s.once('close', () => open--);
    s.pipe(s);
  });
  await new Promise<void>((r) => target.listen(0, '127.0.0.1', r));
  targetPort = (target.address() as { port: number }).port;
  proxy = await startTestProxy({
    passthroughHosts: [`127.0.0.1:${targetPort}`],
    limits: { maxConnections: LIMIT },
  });
});

afterEach(async () => {
  for (const c of clients) c.destroy();
  clients.clear();
  await proxy.close();
  for (const s of targetSockets) s.destroy();
  targetSockets.clear();
  await new Promise((r) => target.close(r));
});

async function tunnel(): Promise<Socket> {
  const t = await connectThrough(proxy.port, `127.0.0.1:${targetPort}`);
  clients.add(t.socket);
  expect(t.status).toBe(200);
  return t.socket;
}

/** A connection made while the proxy is full: answered 503 overloaded and closed, audited as a deny. */
async function expectOverloaded(): Promise<void> {
  const socket = await connectTo(proxy.port);
  clients.add(socket);
  const client = `127.0.0.1:${socket.localPort}`;
  const text = (await readAll(socket)).toString();
  const [head = '', body = ''] = text.split('\r\n\r\n');
  expect(head).toMatch(/^HTTP\/1\.1 503 /);
  expect(head).toContain('\r\nContent-Type: application/json');
  expect(head).toContain('\r\nX-Clef-Proxy-Error: overloaded');
  expect(JSON.parse(body)).toEqual({ error: 'overloaded', message: expect.any(String) });
  const ev = proxy.events.find((e) => e.client === client);
  expect(ev).toMatchObject({ event: 'deny', reason: 'overloaded', status: 503, host: null, port: null });
}

describe('max_connections = 2', () => {
  it('counts idle connections: with two silent clients open the third is refused at once', async () => {
    const a = await connectTo(proxy.port);
    const b = await connectTo(proxy.port);
    clients.add(a);
    clients.add(b);
    await expectOverloaded();
  });

  it('with two tunnels open, five more clients (at once) all get 503 and the target sees two', async () => {
    const first = await tunnel();
    const second = await tunnel();
    await Promise.all(Array.from({ length: 5 }, () => expectOverloaded()));
    expect(peak).toBe(LIMIT);
    expect(proxy.events.filter((e) => e.reason === 'overloaded')).toHaveLength(5);

    // Free one slot; once its tunnel is audited (written when both sides closed) a new client fits again.
    first.end();
    await readAll(first);
    await proxy.waitForEvents(6);
    expect(proxy.events.filter((e): e is TunnelEvent => e.event === 'tunnel')).toHaveLength(1);
    const third = await tunnel();
    third.write('third');
    expect((await new Promise<Buffer>((r) => third.once('data', r))).toString()).toBe('third');
    await expectOverloaded();
    expect(peak).toBe(LIMIT);
    second.destroy();
  });
});
