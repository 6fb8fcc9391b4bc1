/**
 * Malformed heads at the front door (SPEC §6 CONNECT): each is answered 400 `bad_request` (or 431) with the §6
 * JSON response, the connection is closed, a `deny` audit event carries the code, nothing reaches the target —
 * and the proxy goes on serving the next client.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DenyEvent } from '../../../src/audit/events.js';
import { basicAuth, connectThrough, connectTo, readAll, type TestProxy } from '../../helpers/proxy.js';
import { type EchoBehindProxy, startEchoBehindProxy } from './front-door-helpers.js';

const MAX_HEADER_BYTES = 1024;
const CLIENT_HELLO = readFileSync(new URL('../../../fixtures/client-hellos/curl.bin', import.meta.url));

let setup: EchoBehindProxy | undefined;
let proxy: TestProxy;
let targetPort: number;
let targetConnections = 0;

beforeAll(async () => {
  setup = await startEchoBehindProxy({ maxHeaderBytes: MAX_HEADER_BYTES }, () => targetConnections++);
  ({ proxy, targetPort } = setup);
});

afterAll(() => setup?.close());

/** Send `bytes` on a fresh connection; resolve with everything received until the proxy closed it. */
async function send(bytes: string | Buffer): Promise<{ text: string; client: string }> {
  const socket = await connectTo(proxy.port);
  const client = `127.0.0.1:${socket.localPort}`;
  socket.write(bytes);
  return { text: (await readAll(socket)).toString('latin1'), client };
}

async function denyFor(client: string): Promise<DenyEvent> {
  for (let n = proxy.events.length + 1; ; n = proxy.events.length + 1) {
    const ev = proxy.events.find((e) => e.client === client);
    if (ev) return ev as DenyEvent;
    await proxy.waitForEvents(n);
  }
}

/** A whole §6 error response, closed by the proxy (readAll only resolves on close). */
function expectErrorResponse(text: string, status: number, code: string): void {
  const [head = '', body = ''] = text.split('\r\n\r\n');
  expect(head).toMatch(new RegExp(`^HTTP/1\\.1 ${status} `));
  expect(head).toContain('\r\nContent-Type: application/json');
  expect(head).toContain(`\r\nX-Clef-Proxy-Error: ${code}`);
  expect(head).toContain('\r\nConnection: close');
  expect(JSON.parse(body)).toEqual({ error: code, message: expect.any(String) });
}

/** The proxy still tunnels a well-formed CONNECT to the echo target. */
async function expectStillServing(): Promise<void> {
  const { socket, status } = await connectThrough(proxy.port, `127.0.0.1:${targetPort}`);
  expect(status).toBe(200);
  socket.write('still-serving');
  socket.end();
  expect((await readAll(socket)).toString()).toBe('still-serving');
}

const auth = `Proxy-Authorization: ${basicAuth()}\r\n`;
const port = () => targetPort;

describe('400 bad_request for a malformed CONNECT', () => {
  it.each([
    ['a bare LF line ending', () => `CONNECT 127.0.0.1:${port()} HTTP/1.1\nHost: x\n${auth}\r\n`],
    ['a bare LF after a CRLF line', () => `CONNECT 127.0.0.1:${port()} HTTP/1.1\r\nHost: x\n\r\n`],
    ['a lower-case method', () => `connect 127.0.0.1:${port()} HTTP/1.1\r\n${auth}\r\n`],
    ['a missing port', () => `CONNECT 127.0.0.1 HTTP/1.1\r\n${auth}\r\n`],
    ['port 0', () => `CONNECT 127.0.0.1:0 HTTP/1.1\r\n${auth}\r\n`],
    ['port 65536', () => `CONNECT 127.0.0.1:65536 HTTP/1.1\r\n${auth}\r\n`],
    ['userinfo in the target', () => `CONNECT user:pw@127.0.0.1:${port()} HTTP/1.1\r\n${auth}\r\n`],
    ['a TLS ClientHello without CONNECT', () => CLIENT_HELLO],
  ])('%s', async (_name, make) => {
    const before = targetConnections;
    const { text, client } = await send(make());
    expectErrorResponse(text, 400, 'bad_request');
    expect(await denyFor(client)).toMatchObject({
      event: 'deny',
      decision: 'deny',
      reason: 'bad_request',
      status: 400,
      host: null,
      port: null,
    });
    expect(targetConnections).toBe(before);
    await expectStillServing();
  });
});

describe('max_header_bytes (SPEC §6: the whole head within the limit, else 431)', () => {
  /** A CONNECT head padded with an X-Pad header to exactly `size` bytes. */
  function headOf(size: number): string {
    const start = `CONNECT 127.0.0.1:${targetPort} HTTP/1.1\r\n${auth}X-Pad: `;
    const head = `${start}${'a'.repeat(size - start.length - 4)}\r\n\r\n`;
    expect(head).toHaveLength(size);
    return head;
  }

  it('a head of exactly max_header_bytes is accepted', async () => {
    const socket = await connectTo(proxy.port);
    socket.write(headOf(MAX_HEADER_BYTES));
    socket.write('fits');
    socket.end();
    const text = (await readAll(socket)).toString();
    expect(text).toBe('HTTP/1.1 200 Connection Established\r\n\r\nfits');
  });

  it.each([
    ['one byte over', MAX_HEADER_BYTES + 1],
    ['far over, in one write', MAX_HEADER_BYTES * 8],
  ])('431 headers_too_large: %s', async (_name, size) => {
    const { text, client } = await send(headOf(size));
    expectErrorResponse(text, 431, 'headers_too_large');
    expect(await denyFor(client)).toMatchObject({ reason: 'headers_too_large', status: 431 });
    await expectStillServing();
  });

  it('431 for an endless header block that never sends CRLFCRLF', async () => {
    const socket = await connectTo(proxy.port);
    const client = `127.0.0.1:${socket.localPort}`;
    const received = readAll(socket);
    socket.write(`CONNECT 127.0.0.1:${targetPort} HTTP/1.1\r\n`);
    for (let i = 0; i < 40; i++) socket.write(`X-Header-${i}: ${'b'.repeat(40)}\r\n`);
    expectErrorResponse((await received).toString('latin1'), 431, 'headers_too_large');
    expect(await denyFor(client)).toMatchObject({ reason: 'headers_too_large', status: 431 });
    await expectStillServing();
  });
});
