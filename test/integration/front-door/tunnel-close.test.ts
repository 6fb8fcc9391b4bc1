/**
 * Tunnel teardown (SPEC §6 passthrough, §10 `tunnel` event): when the target closes first, the proxy keeps reading
 * the client until its FIN, so what the client sends in between is counted and the tunnel is audited when the
 * client closes — not when a grace timer destroys it (regression: the client was left paused by the unpipe).
 */
import { once } from 'node:events';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { TunnelEvent } from '../../../src/audit/events.js';
import { basicAuth, readResponseHead, startTestProxy, type TestProxy } from '../../helpers/proxy.js';

let proxy: TestProxy;
let target: Server;
let targetPort: number;
const sockets = new Set<Socket>();

beforeEach(async () => {
  // The target says goodbye and closes at once.
  target = createServer((s) => {
    sockets.add(s);
    s.on('error', () => {});
    s.end('bye');
  });
  await new Promise<void>((r) => target.listen(0, '127.0.0.1', r));
  targetPort = (target.address() as { port: number }).port;
  proxy = await startTestProxy({ passthroughHosts: [`127.0.0.1:${targetPort}`] });
});

afterEach(async () => {
  await proxy.close();
  for (const s of sockets) s.destroy();
  sockets.clear();
  await new Promise((r) => target.close(r));
});

describe('the target closes first', () => {
  it("the client's last bytes are read and counted, and the tunnel is audited when the client closes", async () => {
    // allowHalfOpen: after the target's FIN reaches us we still send, as a client finishing an upload would.
    const client = connect({ host: '127.0.0.1', port: proxy.port, allowHalfOpen: true });
    sockets.add(client);
    client.on('error', () => {});
    await once(client, 'connect');
    client.write(`CONNECT 127.0.0.1:${targetPort} HTTP/1.1\r\nProxy-Authorization: ${basicAuth()}\r\n\r\n`);
    const { head, rest } = await readResponseHead(client);
    expect(head).toBe('HTTP/1.1 200 Connection Established\r\n\r\n');
    const chunks: Buffer[] = [rest];
    client.on('data', (c: Buffer) => chunks.push(c));
    await once(client, 'end');
    expect(Buffer.concat(chunks).toString()).toBe('bye');

    client.end('late bytes');
    await once(client, 'close');
    const [ev] = (await proxy.waitForEvents(1)) as TunnelEvent[];
    expect(ev).toMatchObject({ event: 'tunnel', bytes_in: 'late bytes'.length, bytes_out: 3 });
    expect(proxy.events).toHaveLength(1);
  });
});
