/**
 * Clients that hang up in the middle of an intercepted response must leave nothing behind once their connections
 * are closed. Found by the soak (docs/hardening.md): the proxy's live heap grew by ~0.7 MB/s, every aborted
 * request keeping its TLS sockets, IncomingMessage, ServerResponse and upstream ClientRequest alive, retained by a
 * timer that never stops.
 *
 * Regression (hardening-3, fixed): src/http/head-watch.ts with src/http/inner-server.ts — when the client goes away mid-response,
 * the socket's 'close' runs the watch's `stop()` first, then the response's 'close' runs inner-server's `done()`,
 * which calls `watch.idle()` and re-arms the polling timer on the dead socket. `check()` then re-arms itself every
 * `header_timeout_ms / 4` forever (a closed socket's `bytesRead` never moves), and its closure holds the socket and
 * everything hanging off it. The fix: in watchHeads, `idle()` returns without arming when `socket.destroyed`,
 * and `check()` stops when `socket.destroyed` (either alone ends the leak; both make it impossible to re-create).
 * The observable here: refed `Timeout` handles (`process.getActiveResourcesInfo()`) outlive the closed proxy.
 */
import type { IncomingMessage } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import type { RequestEvent } from '../../src/audit/events.js';
import { startTestProxy, type TestProxy } from '../helpers/proxy.js';
import { requestThrough } from '../helpers/tls-client.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';

const ABORTS = 10;

let proxy: TestProxy | undefined;
let upstream: TestUpstream | undefined;

afterEach(async () => {
  await proxy?.close();
  await upstream?.close();
  proxy = upstream = undefined;
});

const activeTimeouts = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;

describe('clients aborting mid-response', () => {
  it('leave no timer (and nothing it holds) behind once the proxy is closed', async () => {
    const baseline = activeTimeouts();
    // An endless stream: the only way a response ends is the client hanging up.
    upstream = await startUpstream({
      handler: (req, res) => {
        req.resume();
        res.writeHead(200, { 'content-type': 'text/plain' });
        const tick = setInterval(() => res.write('tick\n'), 20);
        res.once('close', () => clearInterval(tick));
      },
    });
    const target = `api.upstream.test:${upstream.port}`;
    proxy = await startTestProxy({
      services: [{ name: 'svc', hosts: [target], auth: { type: 'bearer', secret: 'K' } }],
      secrets: { K: 'abort-leak-secret' },
      // A short header timeout makes the leaked watch poll every 100 ms; the leak does not depend on it.
      limits: { headerTimeoutMs: 400 },
    });
    const ca = proxy.proxy.caCertPem;
    for (let i = 0; i < ABORTS; i++) {
      const open = await requestThrough(proxy.port, target, { path: `/stream-${i}` }, { ca });
      open.req.end();
      const res: IncomingMessage = await open.response;
      await new Promise((r) => res.once('data', r));
      open.socket.destroy();
    }
    const events = (await proxy.waitForEvents(ABORTS)) as RequestEvent[];
    expect(events.map((e) => e.reason)).toEqual(Array(ABORTS).fill('client_aborted'));

    await proxy.close();
    await upstream.close();
    proxy = upstream = undefined;
    // Every socket is closed now; wait for the timers that belonged to them to go (the test timeout bounds it).
    while (activeTimeouts() > baseline) await new Promise((r) => setTimeout(r, 50));
    expect(activeTimeouts()).toBeLessThanOrEqual(baseline);
  });
});
