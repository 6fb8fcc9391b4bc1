/**
 * Slowloris inside interception (SPEC §6, issue: hardening): a request head trickled in byte by byte — so the
 * connection is never idle — is closed at `header_timeout_ms` from its first byte and audited `header_timeout`;
 * a kept-alive connection that is merely quiet is not.
 */
import type { TLSSocket } from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import { tlsThrough } from '../../helpers/tls-client.js';
import { closeKept, startBearerService } from './intercept-helpers.js';

const HEADER_MS = 300;

afterEach(closeKept);

function setup() {
  // The idle timeout is long, so a close seen here is the head deadline's doing.
  return startBearerService('slow-secret', undefined, {
    limits: { headerTimeoutMs: HEADER_MS, idleTimeoutMs: 60_000 },
  });
}

function closed(tls: TLSSocket): Promise<void> {
  return new Promise((resolve) => {
    tls.on('error', () => {});
    if (tls.destroyed) resolve();
    else tls.once('close', () => resolve());
  });
}

describe('request-head deadline inside TLS', () => {
  it('a head sent one byte every 40 ms is cut off and audited header_timeout', async () => {
    const { target, up, px, ca } = await setup();
    const tls = await tlsThrough(px.port, target, { ca });
    const gone = closed(tls);
    const head = `GET /slow HTTP/1.1\r\nHost: ${target}\r\nX-Padding: ${'a'.repeat(200)}\r\n\r\n`;
    let i = 0;
    let sent = 0;
    const drip = setInterval(() => {
      if (tls.destroyed || i >= head.length) return clearInterval(drip);
      tls.write(head[i++]!);
      sent++;
    }, 40);
    await gone;
    clearInterval(drip);
    // The whole head would have taken ~10 s; the proxy closed long before it was complete.
    expect(sent).toBeLessThan(head.length);
    expect(up.received).toHaveLength(0);
    const events = await px.waitForEvents(1);
    expect(events[0]).toMatchObject({ event: 'deny', reason: 'header_timeout', host: 'api.upstream.test' });
    expect(events[0]).not.toHaveProperty('status');
  });

  it('a quiet kept-alive connection outlives the head deadline and still serves requests', async () => {
    const { target, up, px, ca } = await setup();
    const tls = await tlsThrough(px.port, target, { ca });
    // One request, then silence for three head deadlines, then another on the same connection.
    const ask = (path: string) =>
      new Promise<string>((resolve, reject) => {
        let text = '';
        const onData = (c: Buffer) => {
          text += c.toString('latin1');
          const end = text.indexOf('\r\n\r\n');
          if (end < 0) return;
          const len = Number(/content-length: (\d+)/i.exec(text)?.[1] ?? -1);
          if (len >= 0 && text.length >= end + 4 + len) {
            tls.off('data', onData);
            resolve(text.slice(0, 12));
          }
        };
        tls.on('data', onData);
        tls.once('close', () => reject(new Error('closed')));
        tls.write(`GET ${path} HTTP/1.1\r\nHost: ${target}\r\n\r\n`);
      });
    expect(await ask('/one')).toBe('HTTP/1.1 200');
    await new Promise((r) => setTimeout(r, HEADER_MS * 3));
    expect(tls.destroyed).toBe(false);
    expect(await ask('/two')).toBe('HTTP/1.1 200');
    tls.destroy();
    expect(up.received.map((r) => r.url)).toEqual(['/one', '/two']);
    expect(px.events.filter((e) => e.event === 'deny')).toEqual([]);
  });
});
