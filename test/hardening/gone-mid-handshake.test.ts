/**
 * A client that sends its ClientHello and then hangs up (FIN, or a full close) before the TLS handshake ends.
 * undici does this under load: after a client abort it opens a spare tunnel and drops it (seen in the soak,
 * docs/hardening.md). The proxy should let such a connection go at once; instead it holds it — a
 * `max_connections` slot, a file descriptor — until `handshake_timeout_ms`, then audits a `handshake_timeout` deny
 * for a client that did not time out but left.
 *
 * Regression (hardening-2, fixed): src/tls/intercept.ts. The listener's sockets are `allowHalfOpen` (src/connect/listener.ts),
 * and the server TLSSocket inherits that, so an EOF before 'secure' ends nothing; and nobody listens for it:
 * (a) a FIN that arrives between peekClientHello() (which removes its 'end' listener and pauses) and the
 * TLSSocket is queued behind the unshifted hello; TLSSocket's initRead() drains it with `socket.read()`, so the
 * raw net.Socket emits 'end' to no one; (b) a FIN during the handshake makes the TLSSocket emit 'end', to no one.
 * Either way only the handshake deadline closes the connection. The fix (verified against this file and
 * the intercept/front-door/security suites): in intercept(), until 'secure', handle 'end' on both sockets as the
 * client gone — `const gone = () => { clearTimeout(timer); tls.destroy(); }; socket.once('end', gone);
 * tls.once('end', gone);` and remove both listeners in the 'secure' handler — no deny, like peekClientHello's
 * `closed` outcome. After 'secure' half-close stays allowed (the inner HTTP server relies on it).
 */
import { readFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { connectThrough, startTestProxy, type TestProxy } from '../helpers/proxy.js';

// A real ClientHello from Node with SNI api.upstream.test (fixtures/client-hellos/manifest.json).
const HELLO = readFileSync(new URL('../../fixtures/client-hellos/node-sni.bin', import.meta.url));
const TARGET = 'api.upstream.test:443';

let proxy: TestProxy | undefined;
const sockets = new Set<Socket>();

afterEach(async () => {
  for (const s of sockets) s.destroy();
  sockets.clear();
  await proxy?.close();
  proxy = undefined;
});

type HangUp = 'end' | 'destroy';

/** CONNECT (200), send the ClientHello, then hang up the given way: at once, or once the proxy's flight arrived. */
async function helloThenGone(port: number, how: HangUp, when: 'at once' | 'after the reply'): Promise<void> {
  const { socket, status } = await connectThrough(port, TARGET);
  sockets.add(socket);
  expect(status).toBe(200);
  socket.on('error', () => {});
  const hangUp = () => (how === 'end' ? socket.end() : socket.destroy());
  const replied = new Promise<void>((resolve) => socket.once('data', () => resolve()));
  socket.write(HELLO);
  if (when === 'at once') return void hangUp();
  // The proxy's ServerHello … Finished flight: its TLS engine now waits for the client's Finished.
  await replied;
  hangUp();
}

describe('a client gone in the middle of the TLS handshake', () => {
  // Both causes, and both ways to hang up (the other two pairings fail and pass the same way).
  it.each([
    ['end', 'at once'],
    ['destroy', 'after the reply'],
  ] as const)(
    'after %s %s its max_connections slot is free again long before handshake_timeout_ms',
    async (how, when) => {
      proxy = await startTestProxy({
        services: [{ name: 'svc', hosts: [TARGET], auth: { type: 'bearer', secret: 'K' } }],
        secrets: { K: 'handshake-secret' },
        // The deadline is far beyond the test's timeout: a slot freed within the test was freed by the close.
        limits: { maxConnections: 1, handshakeTimeoutMs: 120_000 },
      });
      await helloThenGone(proxy.port, how, when);
      // A slot still held answers 503 overloaded; retry until the proxy has let the first client go.
      for (;;) {
        const next = await connectThrough(proxy.port, TARGET);
        sockets.add(next.socket);
        next.socket.destroy();
        if (next.status === 200) break;
        expect(next.status).toBe(503);
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(proxy.events.filter((e) => e.reason === 'handshake_timeout')).toEqual([]);
    },
    2_500,
  );
});
