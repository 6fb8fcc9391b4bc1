/**
 * `idle_timeout_ms` inside interception (SPEC §6): an established connection with no request in flight and no
 * bytes for that long is closed (audited only for tunnels, so no event here); a request in flight is never cut
 * by it.
 */
import type { TLSSocket } from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import { readBody, requestThrough, tlsThrough } from '../../helpers/tls-client.js';
import type { UpstreamHandler } from '../../helpers/upstream.js';
import { closeKept, startBearerService } from './intercept-helpers.js';

const IDLE_MS = 250;

afterEach(closeKept);

function setup(handler?: UpstreamHandler) {
  // The header timeout is long, so a close seen here is the idle timeout's doing.
  return startBearerService('idle-secret', handler, {
    limits: { idleTimeoutMs: IDLE_MS, headerTimeoutMs: 60_000 },
  });
}

/** Everything received until the proxy closes the connection (the test's own timeout is the only bound). */
function untilClosed(tls: TLSSocket): Promise<string> {
  return new Promise((resolve) => {
    let text = '';
    tls.on('data', (c: Buffer) => (text += c.toString('latin1')));
    tls.on('error', () => {});
    tls.once('close', () => resolve(text));
  });
}

describe('idle connections are closed', () => {
  it('a handshaken connection that never sends a request', async () => {
    const { target, px, ca } = await setup();
    const tls = await tlsThrough(px.port, target, { ca });
    expect(await untilClosed(tls)).toBe('');
    expect(px.events).toEqual([]);
  });

  it('a request head left half-sent', async () => {
    const { target, up, px, ca } = await setup();
    const tls = await tlsThrough(px.port, target, { ca });
    const closed = untilClosed(tls);
    tls.write(`GET /half HTTP/1.1\r\nHost: ${target}\r\n`);
    expect(await closed).toBe('');
    expect(up.received).toHaveLength(0);
  });

  it('a kept-alive connection after its response', async () => {
    const { target, up, px, ca } = await setup();
    const tls = await tlsThrough(px.port, target, { ca });
    const closed = untilClosed(tls);
    tls.write(`GET /once HTTP/1.1\r\nHost: ${target}\r\n\r\n`);
    const text = await closed;
    expect(text).toMatch(/^HTTP\/1\.1 200 /);
    // Not a Connection: close answer: the proxy kept the connection and then closed it for being idle.
    expect(text).toMatch(/\r\nConnection: keep-alive\r\n/i);
    expect(up.received).toHaveLength(1);
    expect(await px.waitForEvents(1)).toHaveLength(1);
  });
});

describe('a request in flight is not idle', () => {
  it('an upstream answering after more than idle_timeout_ms still gets through', async () => {
    let answer!: () => void;
    const { target, px, ca } = await setup((req, res) => {
      req.resume();
      answer = () => res.end('late but fine');
    });
    const open = await requestThrough(px.port, target, { path: '/slow' }, { ca });
    open.req.end();
    // Wait well past the idle timeout with the request outstanding, then let the upstream answer.
    await new Promise((r) => setTimeout(r, IDLE_MS * 3));
    answer();
    const res = await open.response;
    expect(res.statusCode).toBe(200);
    expect((await readBody(res)).toString()).toBe('late but fine');
    open.socket.destroy();
    const [ev] = await px.waitForEvents(1);
    expect(ev).toMatchObject({ event: 'request', status: 200 });
  });
});
