/**
 * A client that never reads a large response (SPEC §6: bodies stream with back-pressure, never buffered whole):
 * the upstream streams 50 MiB, the client reads nothing. The upstream must find itself held back (`write()`
 * returned false, 'drain' pending, its byte count stuck far below 50 MiB) and the proxy's memory must stay flat —
 * RSS and ArrayBuffer memory of this process (proxy, client and upstream all live in it) grow by < 40 MiB.
 */
import type { TLSSocket } from 'node:tls';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterEach, describe, expect, it } from 'vitest';
import type { RequestEvent } from '../../src/audit/events.js';
import { startTestProxy, type TestProxy } from '../helpers/proxy.js';
import { httpsRequestThrough, tlsThrough } from '../helpers/tls-client.js';
import { startUpstream, type TestUpstream, type UpstreamHandler } from '../helpers/upstream.js';
import { eventually } from './hardening-helpers.js';

// A full GC before each reading, so garbage not yet collected does not pass for buffered bytes (or hide them).
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

let proxy: TestProxy | undefined;
let upstream: TestUpstream | undefined;
let client: TLSSocket | undefined;

afterEach(async () => {
  client?.destroy();
  await proxy?.close();
  await upstream?.close();
  proxy = upstream = client = undefined;
});

async function setup(handler: UpstreamHandler) {
  upstream = await startUpstream({ handler });
  const service = `api.upstream.test:${upstream.port}`;
  proxy = await startTestProxy({
    services: [{ name: 'svc', hosts: [service], auth: { type: 'bearer', secret: 'K' } }],
    secrets: { K: 'backpressure-secret' },
  });
  return { px: proxy, service, ca: proxy.proxy.caCertPem };
}

describe('a client that never reads a large response', () => {
  const TOTAL = 50 * 1024 * 1024;
  const CHUNK = Buffer.alloc(64 * 1024, 0x61);

  it('back-pressures the upstream; the proxy does not buffer the 50 MiB', async () => {
    const pump = { written: 0, waitingForDrain: false, closed: false };
    const { px, service, ca } = await setup((req, res) => {
      req.resume();
      if (req.url !== '/big') return void res.end('warm');
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': TOTAL });
      res.once('close', () => {
        pump.closed = true;
      });
      const more = () => {
        pump.waitingForDrain = false;
        while (pump.written < TOTAL && !res.destroyed) {
          pump.written += CHUNK.length;
          if (!res.write(CHUNK)) {
            pump.waitingForDrain = true;
            res.once('drain', more);
            return;
          }
        }
        res.end();
      };
      more();
    });
    // Warm up (leaf minted, upstream pool and TLS code paths loaded) before taking the baseline.
    expect((await httpsRequestThrough(px.port, service, { path: '/warm' }, { ca })).status).toBe(200);
    gc();
    const before = process.memoryUsage();

    const tls: TLSSocket = await tlsThrough(px.port, service, { ca });
    client = tls;
    // Not a single read: no 'data' listener, the socket is never resumed.
    tls.write(`GET /big HTTP/1.1\r\nHost: ${service}\r\n\r\n`);
    // Stalled = the upstream is waiting for 'drain' and its byte count stopped moving.
    let last = -1;
    await eventually(async () => {
      const stalled = pump.waitingForDrain && pump.written === last && pump.written > 0;
      last = pump.written;
      // All 50 MiB gone out means nothing held the upstream back: stop waiting and let the assertions fail.
      if (!stalled && pump.written < TOTAL) throw new Error(`upstream still writing (${pump.written} bytes)`);
      return true;
    }, 200);
    gc();
    const after = process.memoryUsage();
    const MiB = 1024 * 1024;
    expect(pump.written).toBeLessThan(TOTAL / 2);
    expect((after.rss - before.rss) / MiB).toBeLessThan(40);
    expect((after.arrayBuffers - before.arrayBuffers) / MiB).toBeLessThan(40);

    tls.destroy();
    await eventually(async () => {
      if (!pump.closed) throw new Error('upstream response still open');
      return true;
    });
    const events = (await px.waitForEvents(2)).filter((e): e is RequestEvent => e.event === 'request');
    expect(events[1]).toMatchObject({ path: '/big', status: 200, reason: 'client_aborted' });
    expect(events[1]!.bytes_out).toBeLessThan(TOTAL);
  });
});
