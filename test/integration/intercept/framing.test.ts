/**
 * Malformed framing inside an intercepted TLS session (SPEC §6): whatever Node's parser rejects is one
 * 400 `bad_request`, the connection closed, any request already upstream aborted, and nothing smuggled behind it
 * ever reaches the upstream.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import type { RequestEvent } from '../../../src/audit/events.js';
import { startTestProxy } from '../../helpers/proxy.js';
import { countOccurrences, exchangeRaw, tlsThrough } from '../../helpers/tls-client.js';
import { type StartUpstreamOptions, startUpstream } from '../../helpers/upstream.js';
import { closeKept, keep } from './intercept-helpers.js';

afterEach(closeKept);

async function setup(opts: { upstream?: StartUpstreamOptions }) {
  const upstream = keep(await startUpstream(opts.upstream));
  const target = `api.upstream.test:${upstream.port}`;
  const proxy = keep(
    await startTestProxy({
      services: [{ name: 'svc', hosts: [target], auth: { type: 'bearer', secret: 'KEY' } }],
      secrets: { KEY: 'the-secret' },
    }),
  );
  return { target, up: upstream, px: proxy };
}

/** What the upstream saw when its exchange ended. */
interface UpstreamEnd {
  /** The request body arrived in full. */
  readonly requestComplete: boolean;
  /** The upstream's response finished (false: the proxy went away first). */
  readonly responded: boolean;
}

/** Resolves when the upstream's response closes, normally or because the proxy aborted the exchange. */
function endOf(req: IncomingMessage, res: ServerResponse): Promise<UpstreamEnd> {
  // An aborted request also emits 'error'; nothing to do with it here but not crash.
  req.on('error', () => {});
  return new Promise((resolve) =>
    res.once('close', () => resolve({ requestComplete: req.complete, responded: res.writableFinished })),
  );
}

/** Parse a raw capture holding exactly one HTTP response. */
function parseRaw(raw: Buffer): { status: number; headers: Record<string, string>; body: string } {
  const text = raw.toString('latin1');
  const end = text.indexOf('\r\n\r\n');
  const [statusLine, ...lines] = text.slice(0, end).split('\r\n');
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const c = line.indexOf(':');
    headers[line.slice(0, c).toLowerCase()] = line.slice(c + 1).trim();
  }
  return { status: Number(statusLine!.split(' ')[1]), headers, body: text.slice(end + 4) };
}

describe('bad_request: malformed framing inside TLS', () => {
  const smuggled = (t: string) => `GET /smuggled HTTP/1.1\r\nHost: ${t}\r\n\r\n`;
  it.each([
    [
      'Content-Length with Transfer-Encoding',
      (t: string) =>
        `POST /a HTTP/1.1\r\nHost: ${t}\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${smuggled(t)}`,
    ],
    [
      'two Content-Lengths',
      (t: string) =>
        `POST /a HTTP/1.1\r\nHost: ${t}\r\nContent-Length: 0\r\nContent-Length: ${smuggled(t).length}\r\n\r\n${smuggled(t)}`,
    ],
    ['obs-fold', (t: string) => `GET /a HTTP/1.1\r\nHost: ${t}\r\nX-Folded: a\r\n b\r\n\r\n${smuggled(t)}`],
    [
      'a bad header name',
      (t: string) => `GET /a HTTP/1.1\r\nHost: ${t}\r\nBad Name: x\r\n\r\n${smuggled(t)}`,
    ],
  ])('%s: one 400 bad_request, connection closed, nothing upstream', async (_n, build) => {
    const { target, up, px } = await setup({});
    const tls = await tlsThrough(px.port, target, { ca: px.proxy.caCertPem });
    const raw = await exchangeRaw(tls, build(target));
    expect(countOccurrences(raw, 'HTTP/1.1 ')).toBe(1);
    const res = parseRaw(raw);
    expect(res.status).toBe(400);
    expect(res.headers['x-clef-proxy-error']).toBe('bad_request');
    expect(JSON.parse(res.body)).toMatchObject({ error: 'bad_request' });
    expect(up.received).toHaveLength(0);
    const [ev] = await px.waitForEvents(1);
    expect(ev).toMatchObject({ event: 'deny', decision: 'deny', reason: 'bad_request', status: 400 });
  });

  it('a bad chunk size after the head: 400, the request already upstream aborted, no smuggled request', async () => {
    let arrived!: () => void;
    const upstreamGotHead = new Promise<void>((r) => (arrived = r));
    let ended: Promise<UpstreamEnd> | undefined;
    const { target, up, px } = await setup({
      upstream: {
        handler: (req, res) => {
          ended = endOf(req, res);
          arrived();
        },
      },
    });
    const tls = await tlsThrough(px.port, target, { ca: px.proxy.caCertPem });
    tls.write(`POST /a HTTP/1.1\r\nHost: ${target}\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n`);
    await upstreamGotHead;
    const raw = await exchangeRaw(tls, `zz\r\nhello\r\n0\r\n\r\n${smuggled(target)}`);
    expect(countOccurrences(raw, 'HTTP/1.1 ')).toBe(1);
    const res = parseRaw(raw);
    expect(res.status).toBe(400);
    expect(res.headers['x-clef-proxy-error']).toBe('bad_request');
    // The upstream saw the first request's head but never its end, and never a second request.
    expect(await ended).toEqual({ requestComplete: false, responded: false });
    expect(up.received.map((r) => r.url)).toEqual(['/a']);
    expect(up.received[0]!.complete).toBe(false);
    const events = await px.waitForEvents(2);
    expect(events.find((e) => e.event === 'deny')).toMatchObject({ reason: 'bad_request', status: 400 });
    const forwarded = events.filter((e): e is RequestEvent => e.event === 'request');
    expect(forwarded).toHaveLength(1);
    expect(forwarded[0]).toMatchObject({ decision: 'inject', path: '/a' });
    // The client's own framing broke the exchange: the forwarded request is audited once, as a client abort.
    expect(forwarded[0]!.reason).toBe('client_aborted');
  });

  it('a bad chunk after the response head went out: no error response spliced into the body, the body cut short', async () => {
    let ended: Promise<UpstreamEnd> | undefined;
    const { target, up, px } = await setup({
      upstream: {
        handler: (req, res) => {
          ended = endOf(req, res);
          // Answer at once, before the request body is in: a head and 10 of 1000 promised bytes.
          res.writeHead(200, { 'content-length': '1000' });
          res.write('0123456789');
        },
      },
    });
    const tls = await tlsThrough(px.port, target, { ca: px.proxy.caCertPem });
    const chunks: Buffer[] = [];
    const closed = new Promise<void>((resolve) => tls.once('close', () => resolve()));
    const gotBodyStart = new Promise<void>((resolve) => {
      tls.on('data', (c: Buffer) => {
        chunks.push(c);
        if (Buffer.concat(chunks).includes('0123456789')) resolve();
      });
    });
    tls.on('error', () => {});
    tls.write(`POST /a HTTP/1.1\r\nHost: ${target}\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n`);
    await gotBodyStart;
    tls.write('zz\r\n');
    await closed;
    const raw = Buffer.concat(chunks).toString('latin1');
    expect(countOccurrences(raw, 'HTTP/1.1 ')).toBe(1);
    expect(raw.startsWith('HTTP/1.1 200 ')).toBe(true);
    expect(raw.slice(raw.indexOf('\r\n\r\n') + 4)).toBe('0123456789');
    expect(await ended).toEqual({ requestComplete: false, responded: false });
    expect(up.received).toHaveLength(1);
    const events = await px.waitForEvents(2);
    const forwarded = events.filter((e): e is RequestEvent => e.event === 'request');
    expect(forwarded).toHaveLength(1);
    expect(forwarded[0]).toMatchObject({ reason: 'client_aborted', status: 200 });
    const deny = events.find((e) => e.event === 'deny');
    expect(deny).toMatchObject({ reason: 'bad_request' });
    // No error response could be sent, so the deny carries no status.
    expect(deny).not.toHaveProperty('status');
  });

  it('a pipelined request with a bad chunk while the first response streams: that response cut short, no 400 in it', async () => {
    const { target, px } = await setup({
      upstream: {
        handler: (req, res) => {
          req.resume();
          if (req.url !== '/stream') return; // the pipelined POST never gets an answer
          res.writeHead(200, { 'content-length': '1000' });
          res.write('0123456789');
        },
      },
    });
    const tls = await tlsThrough(px.port, target, { ca: px.proxy.caCertPem });
    let received = '';
    const gotBodyStart = new Promise<void>((resolve) => {
      tls.on('data', (c: Buffer) => {
        received += c.toString('latin1');
        if (received.includes('0123456789')) resolve();
      });
    });
    const closed = new Promise<void>((resolve) => tls.once('close', () => resolve()));
    tls.write(`GET /stream HTTP/1.1\r\nHost: ${target}\r\n\r\n`);
    await gotBodyStart;
    // A second, pipelined request: a valid head Node hands to the pipeline, then a body that breaks the framing.
    tls.write(`POST /b HTTP/1.1\r\nHost: ${target}\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n`);
    tls.write('zz\r\n');
    await closed;
    expect(countOccurrences(received, 'HTTP/1.1 ')).toBe(1);
    expect(received.slice(received.indexOf('\r\n\r\n') + 4)).toBe('0123456789');
    const deny = (await px.waitForEvents(1)).find((e) => e.event === 'deny');
    expect(deny).toMatchObject({ reason: 'bad_request' });
    expect(deny).not.toHaveProperty('status');
  });
});
