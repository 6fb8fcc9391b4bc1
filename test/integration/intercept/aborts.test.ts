/**
 * Either side failing in the middle of an exchange (SPEC §6: a failed upstream never yields a response that looks
 * complete; a client gone aborts the upstream request), and every request audited exactly once with the right
 * reason (SPEC §10).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import type { CredentialSource } from '../../../src/agent/source.js';
import { createStaticSource } from '../../../src/agent/static-source.js';
import { startTestProxy } from '../../helpers/proxy.js';
import { exchangeRaw, httpsRequestThrough, requestThrough, tlsThrough } from '../../helpers/tls-client.js';
import { startUpstream, type UpstreamHandler } from '../../helpers/upstream.js';
import { closeKept, finalEvents, keep, startBearerService } from './intercept-helpers.js';

afterEach(closeKept);

function setup(handler?: UpstreamHandler) {
  return startBearerService('stream-secret', handler);
}

/** Resolves when the upstream's response closes; `responded` false means the proxy went away first. */
function upstreamEnd(
  req: IncomingMessage,
  res: ServerResponse,
): Promise<{ responded: boolean; requestComplete: boolean }> {
  req.on('error', () => {});
  return new Promise((resolve) =>
    res.once('close', () => resolve({ responded: res.writableFinished, requestComplete: req.complete })),
  );
}

describe('either side failing mid-stream', () => {
  it('upstream reset mid-body (Content-Length): the client gets an incomplete body, audit upstream_error', async () => {
    const { target, px, ca } = await setup((req, res) => {
      req.resume();
      res.writeHead(200, { 'content-length': '100000' });
      res.write(Buffer.alloc(1000, 0x61), () => res.socket?.destroy());
    });
    await expect(httpsRequestThrough(px.port, target, { path: '/reset' }, { ca })).rejects.toThrow();
    const events = await finalEvents(px);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ decision: 'inject', reason: 'upstream_error' });
  });

  it('upstream reset mid-body (chunked): the client never sees the last chunk', async () => {
    const { target, px, ca } = await setup((req, res) => {
      req.resume();
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('partial-body', () => res.socket?.destroy());
    });
    const tls = await tlsThrough(px.port, target, { ca });
    const raw = (await exchangeRaw(tls, `GET /chunked HTTP/1.1\r\nHost: ${target}\r\n\r\n`)).toString(
      'latin1',
    );
    expect(raw).not.toContain('\r\n0\r\n\r\n');
    // What got through is the 200's head and the first chunk (or, if the reset won the race, nothing): never an
    // error response appended, never the terminating chunk.
    if (raw.length > 0) expect(raw).toMatch(/^HTTP\/1\.1 200 [\s\S]*\r\n\r\nc\r\npartial-body\r\n$/);
    const events = await finalEvents(px);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ reason: 'upstream_error' });
  });

  it('client aborts mid-response: the upstream request is aborted too, audited once as client_aborted', async () => {
    let ended: Promise<{ responded: boolean }> | undefined;
    const { target, px, ca } = await setup((req, res) => {
      ended = upstreamEnd(req, res);
      req.resume();
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('first-part');
    });
    const open = await requestThrough(px.port, target, { path: '/slow' }, { ca });
    open.req.end();
    const res = await open.response;
    await new Promise<void>((r) => res.once('data', () => r()));
    open.socket.destroy();
    expect(await ended).toMatchObject({ responded: false });
    const events = await finalEvents(px);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      decision: 'inject',
      reason: 'client_aborted',
      status: 200,
      path: '/slow',
    });
  });

  it('client aborts mid-upload: the upstream request is aborted too, audited once as client_aborted', async () => {
    let arrived!: () => void;
    const gotHead = new Promise<void>((r) => (arrived = r));
    let ended: Promise<{ responded: boolean; requestComplete: boolean }> | undefined;
    const { target, px, ca } = await setup((req, res) => {
      ended = upstreamEnd(req, res);
      req.resume();
      arrived();
    });
    const open = await requestThrough(
      px.port,
      target,
      { method: 'POST', path: '/upload', headers: { 'content-length': '1000000' } },
      { ca },
    );
    open.req.on('error', () => {});
    open.req.write(Buffer.alloc(1000));
    await gotHead;
    open.socket.destroy();
    expect(await ended).toEqual({ responded: false, requestComplete: false });
    const events = await finalEvents(px);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ reason: 'client_aborted', status: null });
  });

  it('client gone while the secret is being fetched: nothing forwarded, audited once as client_aborted', async () => {
    const upstream = keep(await startUpstream());
    const target = `api.upstream.test:${upstream.port}`;
    const base = createStaticSource({
      services: [{ name: 'svc', hosts: [target], auth: { type: 'bearer', secret: 'KEY' } }],
      secrets: { KEY: 'late-secret' },
    });
    let asked!: () => void;
    const secretAsked = new Promise<void>((r) => (asked = r));
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    const source: CredentialSource = {
      services: () => base.services(),
      secret: async (key) => {
        asked();
        await released;
        return base.secret(key);
      },
    };
    const proxy = keep(await startTestProxy({ source }));
    const ca = proxy.proxy.caCertPem;
    const open = await requestThrough(proxy.port, target, { path: '/gone' }, { ca });
    open.req.on('error', () => {});
    open.req.end();
    await secretAsked;
    open.socket.destroy();
    // A barrier: a whole CONNECT + handshake on another connection, so the proxy has seen the first one close.
    const barrier = await tlsThrough(proxy.port, target, { ca });
    barrier.destroy();
    release();
    const events = await finalEvents(proxy);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      path: '/gone',
      reason: 'client_aborted',
      status: null,
      service: 'svc',
    });
    expect(upstream.received).toHaveLength(0);
  });

  it('client gone with a pipelined request queued behind a streaming one: both upstream requests aborted, both audited', async () => {
    const ends = new Map<string, Promise<{ responded: boolean }>>();
    let bothArrived!: () => void;
    const arrived = new Promise<void>((r) => (bothArrived = r));
    const { target, px, ca } = await setup((req, res) => {
      ends.set(req.url ?? '', upstreamEnd(req, res));
      req.resume();
      // The first streams and never ends; the second (queued behind it at the proxy) is never answered.
      if (req.url === '/first') {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.write('first-part');
      }
      if (ends.size === 2) bothArrived();
    });
    const tls = await tlsThrough(px.port, target, { ca });
    tls.write(
      `GET /first HTTP/1.1\r\nHost: ${target}\r\n\r\nGET /second HTTP/1.1\r\nHost: ${target}\r\n\r\n`,
    );
    await arrived;
    tls.destroy();
    expect(await ends.get('/first')).toMatchObject({ responded: false });
    // Node never emits 'close' on a response still queued behind another; the proxy must notice the socket.
    expect(await ends.get('/second')).toMatchObject({ responded: false });
    const events = await finalEvents(px);
    const byPath = events
      .map((e) => [e.path, e.reason, e.status])
      .sort((a, b) => String(a[0]).localeCompare(String(b[0])));
    expect(byPath).toEqual([
      ['/first', 'client_aborted', 200],
      ['/second', 'client_aborted', null],
    ]);
  });
});
